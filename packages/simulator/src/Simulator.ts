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
import * as ControlClient from "./internal/controlClient.js"
import { SimServer } from "./internal/server.js"
import { kindOf, SimSites } from "./internal/sites.js"
import * as SimConfig from "./SimConfig.js"

/**
 * The simulator could not listen (address, port, file descriptors).
 *
 * @since 0.3.0
 * @category models
 */
export class ListenFailed extends Schema.TaggedClass<ListenFailed>()("ListenFailed", { detail: Schema.String }) {}

/**
 * The control API answered with an error (the simulator's own message).
 *
 * @since 0.3.0
 * @category models
 */
export class ControlRefused extends Schema.TaggedClass<ControlRefused>()("ControlRefused", {
  status: Schema.Number,
  simulatorMessage: Schema.String
}) {}

/**
 * The control API did not answer.
 *
 * @since 0.3.0
 * @category models
 */
export class ControlUnreachable extends Schema.TaggedClass<ControlUnreachable>()("ControlUnreachable", {
  controlUrl: Schema.String,
  detail: Schema.String
}) {}

/**
 * The control API answered something this version cannot read.
 *
 * @since 0.3.0
 * @category models
 */
export class ControlAnswerInvalid extends Schema.TaggedClass<ControlAnswerInvalid>()("ControlAnswerInvalid", {
  url: Schema.String,
  detail: Schema.String
}) {}

/**
 * The simulator's configuration is invalid.
 *
 * @since 0.3.0
 * @category models
 */
export class InvalidInput extends Schema.TaggedClass<InvalidInput>()("InvalidInput", { detail: Schema.String }) {}

/**
 * @since 0.3.0
 * @category models
 */
export const SimulatorErrorReason = Schema.Union(
  ListenFailed,
  ControlRefused,
  ControlUnreachable,
  ControlAnswerInvalid,
  InvalidInput
)

/**
 * Why the simulator could not start or a control call failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class SimulatorError extends Schema.TaggedError<SimulatorError>("@sra-upgrade/simulator/SimulatorError")(
  "SimulatorError",
  { reason: SimulatorErrorReason }
) {
  /**
   * The HTTP status of a refused control call (`ControlRefused`), else undefined.
   *
   * @since 0.1.0
   */
  get status(): number | undefined {
    return this.reason._tag === "ControlRefused" ? this.reason.status : undefined
  }

  /**
   * @since 0.3.0
   */
  override get message(): string {
    const r = this.reason
    switch (r._tag) {
      case "ListenFailed":
        return `The simulator could not listen: ${r.detail}. Check that the host address exists on this machine and that enough file descriptors are allowed (ulimit -n).`
      case "ControlRefused":
        return r.simulatorMessage
      case "ControlUnreachable":
        return `The control API at ${r.controlUrl} did not answer: ${r.detail}. Is the simulator still running?`
      case "ControlAnswerInvalid":
        return `${r.url} did not answer what this version expects: ${r.detail}. Is this a simulator of the same version?`
      case "InvalidInput":
        return r.detail
    }
  }
}

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
  /**
   * Lower-case hex SHA-256 of the DER leaf the appliance's HTTPS listener serves now (follows
   * `PUT /__sim/appliances/{id}/certificates/{cid}/default`): pin it in clients.
   */
  readonly certificateSha256: string
}

/**
 * A certificate and its private key, as a person would hold them.
 *
 * @since 0.1.0
 * @category models
 */
export interface CertificateWithKey {
  /** Leaf then intermediate (PEM). */
  readonly certificatePem: string
  readonly privateKeyPem: Redacted.Redacted<string>
  /** Lower-case hex SHA-256 of the DER leaf. */
  readonly sha256: string
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
  /**
   * PEM of the certificate the HTTPS listeners of the site's appliances serve at start, first,
   * followed by its intermediate and the root CA: pass it as a CA bundle, or pin its first
   * certificate. With an explicit `tls` option: that certificate.
   */
  readonly certificatePem: string
  /** PEM of the root CA that issued every generated certificate (with an explicit `tls`: that certificate). */
  readonly caPem: string
  /**
   * A certificate for the site host name issued by the same CA, installed on no appliance at start:
   * import it (`POST /__sim/appliances/{id}/certificates`) to play the site's real certificate.
   * Undefined with an explicit `tls`.
   */
  readonly siteCertificate: CertificateWithKey | undefined
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
        const server = await SimServer.create(SimConfig.make(input))
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
          reason: new ListenFailed({ detail: e instanceof Error ? e.message : String(e) })
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
  const server = await SimServer.create(SimConfig.make(input))
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
    controlCall(server.controlUrl(), method, path, body)
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
    certificatePem: server.certificatePem,
    caPem: server.caPem,
    siteCertificate: server.pki?.site
      ? {
          certificatePem: server.pki.site.cert,
          privateKeyPem: Redacted.make(server.pki.site.key),
          sha256: server.pki.site.sha256
        }
      : undefined,
    control
  }
}

/**
 * A running many-site simulator: every site with its own appliances,
 * listeners, site front, clock, faults and control API; one CA, one action
 * log and one control listener shared.
 *
 * @since 0.3.0
 * @category models
 */
export interface SitesHandle {
  /** The control API of the whole simulator: `GET /sites`, `GET /actions` (every site), `PUT /clock`, `POST /clock/advance` (every site). */
  readonly controlUrl: string
  /** Every site, in order; each `controlUrl` is that site's own control API (`…/sites/{name}/__sim`). */
  readonly sites: ReadonlyArray<SimulatorHandle & { readonly name: string; readonly kind: "pair" | "single" }>
  /** Fails with a defect for an unknown name (a test wiring mistake). */
  readonly site: (name: string) => SimulatorHandle & { readonly name: string; readonly kind: "pair" | "single" }
  /** PEM of the root CA that issued every site's certificates: trust it once for all sites. */
  readonly caPem: string
  /** Calls the whole simulator's control API, e.g. `control("GET", "/actions")`. */
  readonly control: (method: string, path: string, body?: unknown) => Effect.Effect<unknown, SimulatorError>
}

/**
 * A running many-site simulator as a service.
 *
 * @since 0.3.0
 * @category services
 */
export class SimulatorSites extends Context.Tag("@sra-upgrade/simulator/SimulatorSites")<
  SimulatorSites,
  SitesHandle
>() {}

const openSites = async (input: SimConfig.SitesInput): Promise<SimSites> => {
  const sites = await SimSites.create(SimConfig.makeSites(input))
  try {
    await sites.start()
  } catch (e) {
    await sites.stop()
    throw e
  }
  return sites
}

const toSitesHandle = (sites: SimSites): SitesHandle => {
  const handles = [...sites.servers.values()].map((server) => ({
    ...toHandle(server),
    name: server.config.siteName,
    kind: kindOf(server.config)
  }))
  return {
    controlUrl: sites.controlUrl(),
    sites: handles,
    site: (name) => {
      const h = handles.find((x) => x.name === name)
      if (!h) throw new Error(`No simulated site "${name}"; known: ${handles.map((x) => x.name).join(", ")}`)
      return h
    },
    caPem: sites.caPem,
    control: (method, path, body) => controlCall(sites.controlUrl(), method, path, body)
  }
}

const sitesError = (e: unknown) =>
  new SimulatorError({
    reason:
      e instanceof Error && !("code" in e)
        ? new InvalidInput({ detail: e.message })
        : new ListenFailed({ detail: e instanceof Error ? e.message : String(e) })
  })

/**
 * Starts many simulated sites in one process for the lifetime of the scope:
 * `startSites({ sites: 200, pairs: 50, common: { timeScale: 600 } })`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const startSites = (input: SimConfig.SitesInput): Effect.Effect<SitesHandle, SimulatorError, Scope.Scope> =>
  Effect.acquireRelease(Effect.tryPromise({ try: () => openSites(input), catch: sitesError }), (sites) =>
    Effect.promise(() => sites.stop())
  ).pipe(Effect.map(toSitesHandle))

/**
 * Starts many simulated sites outside Effect. Call `close()` when done.
 *
 * @since 0.3.0
 * @category constructors
 */
export const startSitesPromise = async (
  input: SimConfig.SitesInput
): Promise<SitesHandle & { readonly close: () => Promise<void> }> => {
  const sites = await openSites(input)
  return { ...toSitesHandle(sites), close: () => sites.stop() }
}

/**
 * A layer that starts many simulated sites and stops them when released.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerSites = (input: SimConfig.SitesInput): Layer.Layer<SimulatorSites, SimulatorError> =>
  Layer.scoped(SimulatorSites, startSites(input))

/**
 * One call of the control API at `controlUrl` (JSON in and out); a 4xx/5xx
 * fails with `ControlRefused` carrying the simulator's message.
 *
 * @since 0.3.0
 * @category combinators
 */
export const controlCall = (
  controlUrl: string,
  method: string,
  path: string,
  body?: unknown
): Effect.Effect<unknown, SimulatorError> =>
  Effect.tryPromise({
    try: (signal) => ControlClient.request(controlUrl, method, path, body, signal),
    catch: (e) =>
      new SimulatorError({
        reason: new ControlUnreachable({ controlUrl, detail: e instanceof Error ? e.message : String(e) })
      })
  }).pipe(
    Effect.flatMap(({ status, value }) =>
      status >= 400
        ? Effect.fail(
            new SimulatorError({
              reason: new ControlRefused({ status, simulatorMessage: ControlClient.refusalMessage(status, value) })
            })
          )
        : Effect.succeed(value)
    )
  )

/**
 * A bundled self-signed certificate and key (CN=sra-simulator.local, SAN
 * localhost and 127.0.0.1). The listeners no longer serve it (a CA is
 * generated at each start); it stays as a ready-made certificate to import
 * or to pass as `tls`. Its key is public: for tests and demos only.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultCertificate: { readonly cert: string; readonly key: string } = {
  cert: defaultCertPem,
  key: defaultKeyPem
}
