/**
 * Start a simulated site: one HTTP + one HTTPS server per appliance speaking
 * the vendor wire protocol, a control API under `/__sim/`, and a site front
 * that follows the shared IP / DNS / NAT record. Everything listens on
 * 127.0.0.1 with port 0 by default and closes with the scope.
 *
 * @example
 * ```ts
 * import { Simulator } from "@sra-upgrade/simulator"
 * const program = Effect.gen(function* () {
 *   const sim = yield* Simulator.Simulator
 *   const a = sim.appliance("A")
 *   // point your client at a.httpsUrl with sim.accounts[0]
 * }).pipe(Effect.provide(Simulator.layer({ timeScale: 600 })))
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { defaultCertPem, defaultKeyPem } from "./internal/cert.js"
import { SimServer } from "./internal/server.js"
import * as SimConfig from "./SimConfig.js"

/**
 * Why the simulator could not start or a control call failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class SimulatorError extends Schema.TaggedError<SimulatorError>()("SimulatorError", {
  reason: Schema.Literal("ListenFailed", "ControlRefused", "ControlUnreachable"),
  message: Schema.String,
  status: Schema.optional(Schema.Number)
}) {}

/**
 * Where one simulated appliance listens.
 *
 * @since 0.1.0
 * @category models
 */
export interface ApplianceEndpoint {
  readonly id: string
  readonly hostname: string
  /** The 32-hex appliance GUID reported by check_health. */
  readonly guid: string
  readonly httpUrl: string
  readonly httpsUrl: string
}

/**
 * Credentials of an API account, as a client needs them.
 *
 * @since 0.1.0
 * @category models
 */
export interface AccountCredentials {
  readonly name: string
  readonly clientId: string
  readonly clientSecret: Redacted.Redacted<string>
  readonly permCommand: SimConfig.CommandPermission
  readonly permBackup: boolean
  readonly permConfiguration: boolean
}

/**
 * A running simulator.
 *
 * @since 0.1.0
 * @category models
 */
export interface SimulatorHandle {
  readonly config: SimConfig.SimConfig
  readonly appliances: ReadonlyArray<ApplianceEndpoint>
  /** Fails with a defect for an unknown id (a test wiring mistake). */
  readonly appliance: (id: string) => ApplianceEndpoint
  /** The site front: reaches whichever appliance holds the site address. */
  readonly site: { readonly hostname: string; readonly httpUrl: string; readonly httpsUrl: string }
  /** Base URL of the control API, e.g. `http://127.0.0.1:40123/__sim`. */
  readonly controlUrl: string
  readonly accounts: ReadonlyArray<AccountCredentials>
  /** PEM of the certificate the HTTPS listeners serve (trust it in clients). */
  readonly certificatePem: string
  /**
   * Calls the control API in process: `control("POST", "/failover/sync")`.
   * Fails with `ControlRefused` (carrying the simulator's message) on a 4xx/5xx.
   */
  readonly control: (method: string, path: string, body?: unknown) => Effect.Effect<unknown, SimulatorError>
}

/**
 * The running simulator as a service.
 *
 * @since 0.1.0
 * @category services
 */
export class Simulator extends Context.Tag("@sra-upgrade/simulator/Simulator")<Simulator, SimulatorHandle>() {}

/**
 * Starts a simulator for the lifetime of the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (
  input: SimConfig.SimConfigInput = {}
): Effect.Effect<SimulatorHandle, SimulatorError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const server = new SimServer(SimConfig.make(input))
        try {
          await server.start()
        } catch (e) {
          await server.stop()
          throw e
        }
        return server
      },
      catch: (e) =>
        new SimulatorError({
          reason: "ListenFailed",
          message: `The simulator could not listen: ${e instanceof Error ? e.message : String(e)}. Check that the host address exists on this machine.`
        })
    }),
    (server) => Effect.promise(() => server.stop())
  ).pipe(Effect.map(toHandle))

/**
 * Starts the simulator outside Effect (scripts, other test runners).
 * Call `close()` when done.
 *
 * @since 0.1.0
 * @category constructors
 */
export const startPromise = async (
  input: SimConfig.SimConfigInput = {}
): Promise<SimulatorHandle & { readonly close: () => Promise<void> }> => {
  const server = new SimServer(SimConfig.make(input))
  try {
    await server.start()
  } catch (e) {
    await server.stop()
    throw e
  }
  return { ...toHandle(server), close: () => server.stop() }
}

/**
 * A layer that starts the simulator and stops it when the layer is released.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (input: SimConfig.SimConfigInput = {}): Layer.Layer<Simulator, SimulatorError> =>
  Layer.scoped(Simulator, start(input))

const toHandle = (server: SimServer): SimulatorHandle => {
  const endpoints = server.endpoints()
  const control = (method: string, path: string, body?: unknown): Effect.Effect<unknown, SimulatorError> =>
    Effect.tryPromise({
      try: async (signal) => {
        const res = await fetch(`${server.controlUrl()}${path.startsWith("/") ? path : `/${path}`}`, {
          method,
          signal,
          headers: body === undefined ? {} : { "Content-Type": "application/json" },
          ...(body === undefined ? {} : { body: JSON.stringify(body) })
        })
        const value: unknown = await res.json()
        return { status: res.status, value }
      },
      catch: (e) =>
        new SimulatorError({
          reason: "ControlUnreachable",
          message: `The control API did not answer: ${e instanceof Error ? e.message : String(e)}. Is the simulator still running?`
        })
    }).pipe(
      Effect.flatMap(({ status, value }) =>
        status >= 400
          ? Effect.fail(
              new SimulatorError({
                reason: "ControlRefused",
                status,
                message:
                  typeof value === "object" && value !== null && "message" in value
                    ? String(value.message)
                    : `HTTP ${status}`
              })
            )
          : Effect.succeed(value)
      )
    )
  return {
    config: server.config,
    appliances: endpoints,
    appliance: (id) => {
      const e = endpoints.find((x) => x.id === id)
      if (!e) throw new Error(`No simulated appliance "${id}"; known: ${endpoints.map((x) => x.id).join(", ")}`)
      return e
    },
    site: { hostname: server.config.siteHostname, ...server.siteUrls() },
    controlUrl: server.controlUrl(),
    accounts: server.config.accounts.map((a) => ({
      name: a.name,
      clientId: a.clientId,
      clientSecret: Redacted.make(a.clientSecret),
      permCommand: a.permCommand,
      permBackup: a.permBackup,
      permConfiguration: a.permConfiguration
    })),
    certificatePem: server.config.tls?.cert ?? defaultCertificate.cert,
    control
  }
}

/**
 * The bundled self-signed certificate and key of the HTTPS listeners
 * (CN=sra-simulator.local, SAN localhost and 127.0.0.1). Its key is public:
 * for tests and demos only.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultCertificate: { readonly cert: string; readonly key: string } = {
  cert: defaultCertPem,
  key: defaultKeyPem
}
