/**
 * An in-memory `ApplianceApi`, beside the port it fakes, for unit tests of
 * plans and handlers: no sockets, state you can read and change between
 * steps, failures you can inject, a record of every call, and the site
 * address routed to whichever appliance serves it. Time comes from Effect's
 * Clock, so `TestClock` drives `takenAt`, `serverTime` and `localTime`.
 *
 * @example
 * ```ts
 * import { FakeAppliance } from "@sra-upgrade/core/test"
 *
 * const Test = FakeAppliance.layer({ A: { failoverRole: "primary" }, B: { failoverRole: "backup" } })
 * // in a test:
 * const fakes = yield* FakeAppliance.FakeAppliances
 * fakes.get("A").state.healthy = false
 * fakes.get("B").failNext("health", new ApplianceError.Timeout({ afterMillis: 30_000 }))
 * fakes.site.target = "B" // the site address now reaches B
 * fakes.site.sharedIp = "10.0.0.10" // or: it reaches whoever has this shared IP enabled
 * ```
 *
 * @since 0.3.0
 */
import * as ApplianceApi from "./ApplianceApi.js"
import * as ApplianceError from "./ApplianceError.js"
import * as BackupArtifact from "./BackupArtifact.js"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { createHash, randomBytes } from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"

/**
 * The operations of an appliance, as recorded in `calls` and targeted by `failNext`.
 *
 * @since 0.3.0
 * @category models
 */
export type Operation =
  | "health"
  | "apiInfo"
  | "setFailoverRole"
  | "loggedInUsers"
  | "connectedClients"
  | "downloadBackup"
  | "jumpClients"
  | "jumpoints"

/**
 * The mutable state of one fake appliance. Change it freely in tests.
 *
 * @since 0.3.0
 * @category models
 */
export interface State {
  guid: string
  hostname: string
  version: string
  build: string
  healthy: boolean
  errorMessage: string | undefined
  clusterRole: ApplianceApi.ClusterRole
  failoverRole: ApplianceApi.FailoverRole
  /** The shared IPs this appliance has enabled; the site follows them when `SiteRouting.sharedIp` is set. */
  enabledSharedIps: Array<string>
  /**
   * When the last data sync happened, on the local (test) clock. `health` reports it in the appliance's clock
   * (plus `clockOffsetMillis`), and only while this appliance is primary: the v2 API's `last_data_sync` is
   * "primary only".
   */
  lastDataSync: Date | undefined
  /** How the last data sync ended ("success" or the appliance's words); reported only while primary, like `lastDataSync`. */
  lastDataSyncStatus: string | undefined
  product: "pra" | "rs" | "unknown"
  /** API account permissions (perm_command: full_access | read_only | deny; others booleans). */
  permissions: Record<string, string | boolean>
  /** Appliance clock minus the local clock (PREP-8). */
  clockOffsetMillis: number
  loggedInUsers: Array<ApplianceApi.LoggedInUser>
  connectedClients: Record<string, number>
  jumpClients: Array<ApplianceApi.JumpClient>
  jumpoints: Array<ApplianceApi.Jumpoint>
  /** Bytes served as the settings backup. */
  backupContent: Uint8Array
  /** When set, a backup needs this password. */
  backupPassword: string | undefined
  /** A slow backup: these byte counts are reported one second apart (Effect's Clock) before the file is written. */
  backupProgress: ReadonlyArray<number>
  /**
   * What `GET /check_health` answers when this appliance is probed; `undefined` (the default): as its health says,
   * 200 "OK" when healthy, else 500 "FAIL: <errorMessage>" (the vendor's load-balancer probe).
   */
  probe: { status: number; body: string } | undefined
  /**
   * Base URLs this appliance answers on (its own address, e.g. `https://10.0.0.12`): a probe of a URL with the
   * same origin reaches it, whatever host name it presents (VERIFY-3: an appliance probed as the site on its
   * unique address). `fake://<id>` always reaches it.
   */
  urls: Array<string>
  /** False: the appliance answers nothing (installing, rebooting, powered off): every call fails as unreachable. */
  up: boolean
}

/**
 * A recorded call.
 *
 * @since 0.3.0
 * @category models
 */
export interface Call {
  readonly operation: Operation
  readonly at: number
  /** The role change asked for, for `setFailoverRole`. */
  readonly request?: ApplianceApi.RoleChangeRequest | undefined
}

/**
 * One fake appliance: its state, its call log and failure injection.
 *
 * @since 0.3.0
 * @category models
 */
export interface FakeAppliance {
  readonly id: string
  readonly state: State
  readonly calls: Array<Call>
  /** The next `times` calls of `operation` fail with `reason` (before touching state). */
  readonly failNext: (operation: Operation, reason: ApplianceError.ApplianceErrorReason, times?: number) => void
  /** How many times `operation` was called. */
  readonly count: (operation: Operation) => number
}

/**
 * Access to the fake appliances of the layer.
 *
 * @since 0.3.0
 * @category services
 */
export class FakeAppliances extends Context.Tag("@sra-upgrade/core/FakeAppliances")<
  FakeAppliances,
  {
    /** Throws for an id that the layer was not built with (a test wiring mistake). */
    readonly get: (id: string) => FakeAppliance
    readonly all: ReadonlyArray<FakeAppliance>
    /** Fixed probe answers by exact URL, ahead of any routing (see `layer` for the others). */
    readonly probes: Map<string, { status: number; body: string }>
    /** Probes sent, with the host name presented. */
    readonly probeCalls: Array<ApplianceApi.ProbeTarget>
    /** Where the site address leads; change `target` (or `sharedIp`) to move the site. */
    readonly site: SiteRouting
  }
>() {}

/**
 * A healthy single appliance with full API permissions.
 *
 * @since 0.3.0
 * @category constructors
 */
export const defaultState = (id: string): State => ({
  guid: createHash("md5").update(`fake-${id}`).digest("hex"),
  hostname: `${id.toLowerCase()}.example.test`,
  version: "24.1.3",
  build: "40516-fake",
  healthy: true,
  errorMessage: undefined,
  clusterRole: "single",
  failoverRole: "none",
  enabledSharedIps: [],
  lastDataSync: undefined,
  lastDataSyncStatus: undefined,
  product: "pra",
  permissions: { perm_command: "full_access", perm_backup: true, perm_configuration: true },
  clockOffsetMillis: 0,
  loggedInUsers: [],
  connectedClients: {},
  jumpClients: [],
  jumpoints: [],
  backupContent: new TextEncoder().encode(`fake settings backup of ${id}\n`),
  backupPassword: undefined,
  backupProgress: [],
  probe: undefined,
  urls: [],
  up: true
})

/**
 * Builds one fake appliance (used by `layer`; handy on its own too).
 *
 * @since 0.3.0
 * @category constructors
 */
export const makeAppliance = (id: string, seed?: Partial<State>): FakeAppliance => {
  const state: State = { ...defaultState(id), ...seed }
  const calls: Array<Call> = []
  const failures: Array<Failure> = []
  const fake: FakeAppliance = {
    id,
    state,
    calls,
    failNext: (operation, reason, times = 1) => {
      failures.push({ operation, reason, left: times })
    },
    count: (operation) => calls.filter((c) => c.operation === operation).length
  }
  pendingFailures.set(fake, failures)
  return fake
}

interface Failure {
  readonly operation: Operation
  readonly reason: ApplianceError.ApplianceErrorReason
  left: number
}

const pendingFailures = new WeakMap<FakeAppliance, Array<Failure>>()

const failuresOf = (fake: FakeAppliance): Array<Failure> => pendingFailures.get(fake) ?? []

/** The API permission each operation needs (what a `Forbidden` names). */
const permissionOf: Record<Operation, string> = {
  health: "perm_command (read_only)",
  apiInfo: "perm_command (read_only)",
  loggedInUsers: "perm_command (read_only)",
  connectedClients: "perm_command (read_only)",
  setFailoverRole: "perm_command (full_access)",
  downloadBackup: "perm_backup",
  jumpClients: "perm_configuration",
  jumpoints: "perm_configuration"
}

const errorOf = (id: string, operation: string, reason: ApplianceError.ApplianceErrorReason) =>
  new ApplianceError.ApplianceError({
    appliance: id,
    operation,
    reason,
    hint: "In-memory fake: change its state or its failNext to change this answer."
  })

const clientOf = (fake: FakeAppliance, registry: () => ReadonlyArray<FakeAppliance>): ApplianceApi.ApplianceClient => {
  const fail = (operation: Operation, reason: ApplianceError.ApplianceErrorReason) =>
    Effect.fail(errorOf(fake.id, operation, reason))
  const s = fake.state
  const enter = (operation: Operation, request?: ApplianceApi.RoleChangeRequest) =>
    Effect.gen(function* () {
      const at = yield* Clock.currentTimeMillis
      fake.calls.push({ operation, at, ...(request ? { request } : {}) })
      const failures = failuresOf(fake)
      const i = failures.findIndex((f) => f.operation === operation && f.left > 0)
      if (i >= 0) {
        const f = failures[i]!
        f.left--
        if (f.left === 0) failures.splice(i, 1)
        return yield* fail(operation, f.reason)
      }
      if (!s.up) return yield* fail(operation, new ApplianceError.Transport({ code: "ECONNREFUSED" }))
      const command = s.permissions.perm_command
      const needs = permissionOf[operation]
      const allowed =
        operation === "setFailoverRole"
          ? command === "full_access"
          : operation === "downloadBackup"
            ? s.permissions.perm_backup === true
            : operation === "jumpClients" || operation === "jumpoints"
              ? s.permissions.perm_configuration === true
              : command === "full_access" || command === "read_only"
      if (!allowed) return yield* fail(operation, new ApplianceError.Forbidden({ permission: needs }))
    })

  const health = Effect.zipRight(
    enter("health"),
    Effect.sync(
      () =>
        new ApplianceApi.Health({
          applianceGuid: s.guid,
          hostname: s.hostname,
          version: s.version,
          build: s.build,
          healthy: s.healthy,
          ...(s.errorMessage !== undefined ? { errorMessage: s.errorMessage } : {}),
          clusterRole: s.clusterRole,
          failoverRole: s.failoverRole,
          enabledSharedIps: [...s.enabledSharedIps],
          ...(s.lastDataSync !== undefined && s.failoverRole === "primary"
            ? { lastDataSync: new Date(s.lastDataSync.getTime() + s.clockOffsetMillis) }
            : {}),
          ...(s.lastDataSyncStatus !== undefined && s.failoverRole === "primary"
            ? { lastDataSyncStatus: s.lastDataSyncStatus }
            : {}),
          source: "v2"
        })
    )
  )

  const apiInfo = Effect.zipRight(
    enter("apiInfo"),
    Effect.map(
      Clock.currentTimeMillis,
      (now) =>
        new ApplianceApi.ApiInfo({
          product: s.product,
          permissions: { ...s.permissions },
          serverTime: new Date(now + s.clockOffsetMillis),
          localTime: new Date(now),
          commandApiVersion: "2.0.0",
          backupApiVersion: "1.0.0",
          configApiVersion: "1.10.0"
        })
    )
  )

  const setFailoverRole = (request: ApplianceApi.RoleChangeRequest) =>
    Effect.zipRight(
      enter("setFailoverRole", request),
      Effect.suspend(() => {
        const peers = registry().filter((f) => f !== fake && f.state.failoverRole !== "none")
        if (s.failoverRole === "none" && peers.length === 0) {
          return fail(
            "setFailoverRole",
            new ApplianceError.ApplianceRefused({
              applianceMessage: "This appliance is not in a failover relationship."
            })
          )
        }
        s.failoverRole = request.role
        for (const peer of peers) peer.state.failoverRole = request.role === "primary" ? "backup" : "primary"
        return Effect.succeed(
          new ApplianceApi.RoleChangeResult(
            request.dataSyncFirst
              ? {
                  message: "Successfully started data sync. Role change will occur upon successful completion.",
                  syncStarted: true
                }
              : { message: "Successfully changed role.", syncStarted: false }
          )
        )
      })
    )

  const loggedInUsers = Effect.zipRight(
    enter("loggedInUsers"),
    Effect.sync(() => [...s.loggedInUsers])
  )
  const connectedClients = Effect.zipRight(
    enter("connectedClients"),
    Effect.sync(() => new ApplianceApi.ConnectedClientSummary({ counts: { ...s.connectedClients } }))
  )

  const downloadBackup = (request: ApplianceApi.BackupRequest) =>
    Effect.zipRight(
      enter("downloadBackup"),
      Effect.gen(function* () {
        if (
          s.backupPassword !== undefined &&
          (request.password === undefined || Redacted.value(request.password) !== s.backupPassword)
        ) {
          return yield* fail(
            "downloadBackup",
            new ApplianceError.ApplianceRefused({ applianceMessage: "The backup password is wrong.", status: 403 })
          )
        }
        if (s.backupContent.length === 0) {
          return yield* fail(
            "downloadBackup",
            new ApplianceError.Decode({ path: "(body)", excerpt: "the backup is empty" })
          )
        }
        for (const bytes of s.backupProgress) {
          request.onProgress?.(bytes, s.backupProgress.at(-1))
          yield* Effect.sleep("1 second")
        }
        const takenAt = new Date(yield* Clock.currentTimeMillis)
        const directory = Path.resolve(request.directory)
        const content = s.backupContent
        const path = yield* Effect.tryPromise({
          try: async () => {
            await Fs.mkdir(directory, { recursive: true })
            const temp = Path.join(directory, `.${randomBytes(6).toString("hex")}.partial`)
            await Fs.writeFile(temp, content)
            const name = `${s.hostname}-${takenAt.toISOString().replace(/[:.]/g, "-")}`
            for (let i = 0; ; i++) {
              const candidate = Path.join(directory, `${name}${i === 0 ? "" : `-${i}`}.nsb`)
              try {
                await Fs.link(temp, candidate)
                await Fs.rm(temp)
                return candidate
              } catch (e) {
                if ((e as { code?: string }).code !== "EEXIST") throw e
              }
            }
          },
          catch: (e) =>
            errorOf(
              fake.id,
              "downloadBackup",
              new ApplianceError.LocalIo({
                path: directory,
                code: (e as { code?: string }).code ?? String(e).slice(0, 200)
              })
            )
        })
        request.onProgress?.(content.length, content.length)
        return new BackupArtifact.BackupArtifact({
          path,
          bytes: content.length,
          sha256: createHash("sha256").update(content).digest("hex"),
          takenAt,
          applianceId: s.guid,
          version: s.version,
          passwordProtected: request.password !== undefined
        })
      })
    )

  const matches = (filter: object | undefined, value: (key: string) => string | number | undefined) =>
    Object.entries(filter ?? {}).every(
      ([k, v]) => v === undefined || String(value(k) ?? "").toLowerCase() === String(v).toLowerCase()
    )

  const jumpClients = (filter?: ApplianceApi.JumpClientFilter) =>
    Stream.unwrap(
      Effect.zipRight(
        enter("jumpClients"),
        Effect.sync(() =>
          Stream.fromIterable(
            s.jumpClients.filter((j) =>
              matches(filter, (k) =>
                k === "name"
                  ? j.name
                  : k === "hostname"
                    ? j.hostname
                    : k === "jump_group_id"
                      ? j.jumpGroupId
                      : k === "connection_type"
                        ? j.connectionType
                        : undefined
              )
            )
          )
        )
      )
    )

  const jumpoints = (filter?: ApplianceApi.JumpointFilter) =>
    Stream.unwrap(
      Effect.zipRight(
        enter("jumpoints"),
        Effect.sync(() =>
          Stream.fromIterable(s.jumpoints.filter((j) => matches(filter, (k) => (k === "name" ? j.name : undefined))))
        )
      )
    )

  return {
    id: fake.id,
    health,
    apiInfo,
    setFailoverRole,
    loggedInUsers,
    connectedClients,
    downloadBackup,
    jumpClients,
    jumpoints
  }
}

/**
 * Where the site address leads: the appliance that serves it now (the
 * primary, or whoever holds the shared IP / DNS record), or none.
 *
 * @since 0.3.0
 * @category models
 */
export interface SiteRouting {
  /** Appliance id the site reaches; `undefined`: nothing answers on the site address. Not used while `sharedIp` is set. */
  target: string | undefined
  /** The site's host name: probes presenting it (Host/SNI) are answered by the appliance the site reaches. */
  hostname: string | undefined
  /**
   * The site address is this shared IP: it reaches the appliance that has it in `enabledSharedIps` (the first
   * one up, in seed order, if several claim it), or nothing when none does. `undefined`: `target` decides.
   */
  sharedIp: string | undefined
  /** The appliance id the site address reaches now (`sharedIp` or `target`), `undefined` for none. */
  readonly reaches: () => string | undefined
}

/**
 * Options of `layer`.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /** The site's host name (`SiteRouting.hostname`). */
  readonly siteHostname?: string | undefined
  /** The site's shared IP (`SiteRouting.sharedIp`): the site follows whichever appliance has it enabled. */
  readonly siteSharedIp?: string | undefined
}

const originOf = (url: string): string | undefined => {
  try {
    const origin = new URL(url).origin
    return origin === "null" ? undefined : origin
  } catch {
    return undefined
  }
}

/** What `GET /check_health` answers from this appliance (its `probe`, else as its health says). */
const probeAnswerOf = (state: State): { status: number; body: string } =>
  state.probe ??
  (state.healthy ? { status: 200, body: "OK" } : { status: 500, body: `FAIL: ${state.errorMessage ?? "unhealthy"}` })

/**
 * An `ApplianceApi` over fake appliances keyed by id, plus `FakeAppliances`
 * to reach their state. Each build of the layer starts from the seeds.
 *
 * Site routing: `appliance("site")` (when no appliance is seeded as "site")
 * reads whichever appliance the site reaches: `FakeAppliances.site.target`
 * (by default the one seeded as primary, else the first), or, when
 * `site.sharedIp` is set (option `siteSharedIp`), the one that has that
 * shared IP enabled.
 *
 * Probes, in this order: a URL listed in `probes` gets that answer;
 * `fake://site` reaches the site; `fake://<id>`, or a URL with the origin of
 * one of an appliance's `state.urls`, reaches that appliance whatever host
 * name it presents; another URL presenting the site's host name reaches the
 * site; anything else answers 200 "OK". An appliance answers its
 * `state.probe`, by default 200 "OK" when healthy and 500 when not. An
 * appliance whose `state.up` is false answers nothing.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (
  seeds: Readonly<Record<string, Partial<State>>>,
  options: Options = {}
): Layer.Layer<ApplianceApi.ApplianceApi | FakeAppliances> =>
  Layer.effectContext(
    Effect.sync(() => {
      const fakes = Object.entries(seeds).map(([id, seed]) => makeAppliance(id, seed))
      const byId = new Map(fakes.map((f) => [f.id, f]))
      const clients = new Map(fakes.map((f) => [f.id, clientOf(f, () => fakes)]))
      const probes = new Map<string, { status: number; body: string }>()
      const probeCalls: Array<ApplianceApi.ProbeTarget> = []
      const site: SiteRouting = {
        target: (fakes.find((f) => f.state.failoverRole === "primary") ?? fakes[0])?.id,
        hostname: options.siteHostname,
        sharedIp: options.siteSharedIp,
        reaches: () => {
          const ip = site.sharedIp
          if (ip === undefined) return site.target
          const holders = fakes.filter((f) => f.state.enabledSharedIps.includes(ip))
          return (holders.find((f) => f.state.up) ?? holders[0])?.id
        }
      }
      const unreachable = (id: string, operation: string) =>
        Effect.fail(errorOf(id, operation, new ApplianceError.Transport({ code: "ECONNREFUSED" })))
      /** The client of the appliance the site reaches now. */
      const reached = (): ApplianceApi.ApplianceClient | undefined => {
        const id = site.reaches()
        return id === undefined ? undefined : clients.get(id)
      }
      /** The site address: every call goes to the appliance it reaches at that moment. */
      const siteClient: ApplianceApi.ApplianceClient = {
        id: "site",
        health: Effect.suspend(() => reached()?.health ?? unreachable("site", "health")),
        apiInfo: Effect.suspend(() => reached()?.apiInfo ?? unreachable("site", "apiInfo")),
        setFailoverRole: (request) =>
          Effect.suspend(() => reached()?.setFailoverRole(request) ?? unreachable("site", "setFailoverRole")),
        loggedInUsers: Effect.suspend(() => reached()?.loggedInUsers ?? unreachable("site", "loggedInUsers")),
        connectedClients: Effect.suspend(() => reached()?.connectedClients ?? unreachable("site", "connectedClients")),
        downloadBackup: (request) =>
          Effect.suspend(() => reached()?.downloadBackup(request) ?? unreachable("site", "downloadBackup")),
        jumpClients: (filter) =>
          Stream.suspend(() => reached()?.jumpClients(filter) ?? Stream.fromEffect(unreachable("site", "jumpClients"))),
        jumpoints: (filter) =>
          Stream.suspend(() => reached()?.jumpoints(filter) ?? Stream.fromEffect(unreachable("site", "jumpoints")))
      }
      /** Which appliance a probe reaches: "site", an appliance, or `undefined` for any other address. */
      const probed = (target: ApplianceApi.ProbeTarget): "site" | FakeAppliance | undefined => {
        const m = /^fake:\/\/([^/]+)/.exec(target.url)
        if (m !== null) return m[1] === "site" ? "site" : byId.get(m[1]!)
        const origin = originOf(target.url)
        const owner =
          origin === undefined ? undefined : fakes.find((f) => f.state.urls.some((u) => originOf(u) === origin))
        if (owner !== undefined) return owner
        return site.hostname !== undefined && target.hostname === site.hostname ? "site" : undefined
      }
      const api = ApplianceApi.ApplianceApi.of({
        appliance: (id) => {
          if (id === "site" && !clients.has("site")) return Effect.succeed(siteClient)
          const client = clients.get(id)
          return client !== undefined
            ? Effect.succeed(client)
            : Effect.fail(errorOf(id, "appliance", new ApplianceError.NotConfigured()))
        },
        probe: (target) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            probeCalls.push(target)
            const listed = probes.get(target.url)
            const to = probed(target)
            const fake = to === "site" ? byId.get(site.reaches() ?? "") : to
            if (listed === undefined && to === "site" && (fake === undefined || !fake.state.up))
              return unreachable("site", "probe")
            if (listed === undefined && fake !== undefined && !fake.state.up) return unreachable(fake.id, "probe")
            const answer = listed ?? (fake === undefined ? { status: 200, body: "OK" } : probeAnswerOf(fake.state))
            return Effect.succeed(
              new ApplianceApi.ProbeResult({
                ok: answer.status === 200,
                status: answer.status,
                body: answer.body,
                // the HTTP Date header, on the appliance's clock
                ...(fake === undefined ? {} : { date: new Date(now + fake.state.clockOffsetMillis).toUTCString() })
              })
            )
          })
      })
      return Context.make(ApplianceApi.ApplianceApi, api).pipe(
        Context.add(FakeAppliances, {
          get: (id) => {
            const f = byId.get(id)
            if (f === undefined)
              throw new Error(`FakeAppliance: no appliance "${id}" (have ${[...byId.keys()].join(", ")})`)
            return f
          },
          all: fakes,
          probes,
          probeCalls,
          site
        })
      )
    })
  )
