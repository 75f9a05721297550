/**
 * The step handlers of the `core/…` names used by the single-appliance plans
 * (and reused by the failover and migration planners). Written against the
 * `ApplianceApi` port only: whoever runs the plan provides the live adapter
 * (`@sra-upgrade/appliance-client`) or a fake.
 *
 * Evidence is what was read back: versions and builds, backup size and
 * SHA-256, counts of users and Jump Clients.
 *
 * How an install is observed (no vendor API installs updates or reports
 * the base software version):
 * - a product (site) update is done when health answers healthy with the
 *   target version (and build, when the plan knows it);
 * - a base software update leaves the product version unchanged: it is done
 *   when the appliance answers healthy again after a disruption (no answer,
 *   or unhealthy) seen during the wait, or — when no disruption was seen,
 *   e.g. after a crash of the runner — after `graceSeconds` of healthy
 *   answers; a person then confirms the base version on
 *   `/appliance > Status` (next gate);
 * - PREP-6, a failed base update: health answers unhealthy, the product
 *   version unchanged, with an `error_message` that reports a failure (it
 *   mentions "fail" or "support") rather than an install in progress. The
 *   handler then fails with `StepHandler.baseUpdateFailed`: the run halts in
 *   `halted-needs-support` and nothing calls the appliance again.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { ApplianceApi, type Health } from "./ApplianceApi.js"
import * as Rehearsal from "./Rehearsal.js"
import { handlers as names } from "./SingleUpgrade.js"
import * as StepHandler from "./StepHandler.js"
import * as Version from "./Version.js"

/**
 * Configuration of the handlers (secrets never travel in plan params).
 *
 * @since 0.1.0
 * @category models
 */
export interface Config {
  /** Backup password, when the site protects its backups (PREP-1). */
  readonly backupPassword?: Redacted.Redacted<string> | undefined
  /**
   * Base update without an observed disruption: healthy for this long
   * counts as done (default 300 s); the next gate has a person confirm.
   */
  readonly baseGraceSeconds?: number | undefined
}

type Params = Readonly<Record<string, unknown>>

const str = StepHandler.stringParam
const optStr = StepHandler.optionalStringParam
const num = (p: Params, k: string, def: number): number => (typeof p[k] === "number" ? (p[k] as number) : def)

const paramsOf = (ctx: StepHandler.StepContext): Params => ctx.step.params

const healthEvidence = (h: Health) => ({
  version: h.version,
  build: h.build,
  healthy: h.healthy,
  ...(h.errorMessage === undefined ? {} : { errorMessage: h.errorMessage }),
  failoverRole: h.failoverRole,
  applianceGuid: h.applianceGuid,
  source: h.source
})

/**
 * Whether the product version/build read from health satisfies the expected
 * release (and build, when given).
 *
 * @since 0.1.0
 * @category combinators
 */
export const versionMatches = (health: Pick<Health, "version" | "build">, version: string, build?: string): boolean => {
  const actual = Version.fromParts(health.version, health.build)
  const expected = Version.fromParts(version, build)
  if (Either.isLeft(actual) || Either.isLeft(expected)) return health.version === version
  return Version.matches(actual.right, expected.right)
}

const failureRe = /fail|support/i
const progressRe = /install(ing)?\b.*(progress|update)|in progress|installing/i

/**
 * PREP-6 classification of an unhealthy health answer during a base
 * software install: a failure (not progress) reported while the product
 * version is unchanged.
 *
 * @since 0.1.0
 * @category combinators
 */
export const isBaseUpdateFailure = (health: Health, fromVersion: string): boolean =>
  !health.healthy &&
  health.version === fromVersion &&
  health.errorMessage !== undefined &&
  failureRe.test(health.errorMessage) &&
  !(progressRe.test(health.errorMessage) && !/failed/i.test(health.errorMessage))

/**
 * The handlers, keyed by name, capturing `ApplianceApi`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  config: Config = {}
): Effect.Effect<Readonly<Record<string, StepHandler.Handler>>, never, ApplianceApi> =>
  Effect.gen(function* () {
    const api = yield* ApplianceApi
    const client = (p: Params) => api.appliance(str(p, "appliance"))
    /** In-memory wait state of base installs, per run and step (lost with the process; see module doc). */
    const baseWaits = new Map<string, { firstAt: number; disrupted: boolean; healthySince: number | undefined }>()

    const health = (p: Params) => Effect.flatMap(client(p), (c) => c.health)

    /** Read health, tolerating an appliance that does not answer (installing, rebooting). */
    const healthOrDown = (p: Params) =>
      Effect.either(health(p)).pipe(
        Effect.map((r) =>
          Either.isRight(r) ? { up: true as const, health: r.right } : { up: false as const, error: r.left.message }
        )
      )

    const noApi = (what: string) => (ctx: StepHandler.StepContext) =>
      Effect.map(healthOrDown(paramsOf(ctx)), (h) => ({
        confirmedByOperator: true,
        verifiableByApi: false,
        note: what,
        ...(h.up ? { healthy: h.health.healthy, version: h.health.version } : { applianceAnswering: false })
      }))

    const checkApiAccess: StepHandler.Handler = {
      run: (ctx) =>
        Effect.gen(function* () {
          const p = paramsOf(ctx)
          const c = yield* client(p)
          const info = yield* c.apiInfo
          const h = yield* c.health
          const req = (p["require"] ?? {}) as Params
          const perms = info.permissions
          const missing: Array<string> = []
          const truthy = (v: unknown) => v === true || v === "1" || v === "true"
          if (req["perm_backup"] === true && !truthy(perms["perm_backup"])) missing.push("perm_backup")
          if (req["perm_configuration"] === true && !truthy(perms["perm_configuration"]))
            missing.push("perm_configuration")
          const cmd = perms["perm_command"]
          const needCmd = req["perm_command"]
          if (
            needCmd === "full_access"
              ? cmd !== "full_access"
              : needCmd !== undefined && cmd !== "full_access" && cmd !== "read_only"
          )
            missing.push(`perm_command ${String(needCmd)}`)
          const evidence = {
            product: info.product,
            permissions: perms,
            ...(info.commandApiVersion === undefined ? {} : { commandApiVersion: info.commandApiVersion }),
            ...healthEvidence(h)
          }
          if (missing.length > 0)
            return yield* StepHandler.fail(
              `The API account lacks ${missing.join(", ")}: grant them in /login > Management > API Configuration, then run again.`,
              evidence
            )
          return evidence
        })
    }

    const checkClockSkew: StepHandler.Handler = {
      run: (ctx) =>
        Effect.gen(function* () {
          const p = paramsOf(ctx)
          const info = yield* Effect.flatMap(client(p), (c) => c.apiInfo)
          const skewSeconds = (info.serverTime.getTime() - info.localTime.getTime()) / 1000
          const max = num(p, "maxSkewSeconds", 120)
          const evidence = {
            serverTime: info.serverTime.toISOString(),
            localTime: info.localTime.toISOString(),
            skewSeconds: Math.round(skewSeconds),
            maxSkewSeconds: max
          }
          if (Math.abs(skewSeconds) > max)
            return yield* StepHandler.fail(
              `The appliance clock is off by ${Math.round(skewSeconds)} s (bound ${max} s): the download key and other features need a correct clock. Fix the time and NTP under /appliance > Network > IP Configuration (PREP-8), then run again.`,
              evidence
            )
          return evidence
        })
    }

    const checkVersionPath: StepHandler.Handler = {
      run: (ctx) =>
        Effect.gen(function* () {
          const p = paramsOf(ctx)
          const h = yield* health(p)
          const expected = str(p, "expectedVersion")
          const expectedBuild = optStr(p, "expectedBuild")
          const evidence = { ...healthEvidence(h), expectedVersion: expected, order: p["order"] ?? [] }
          if (!versionMatches(h, expected, expectedBuild))
            return yield* StepHandler.fail(
              `The appliance runs ${h.version} (${h.build}), not ${expected} as planned: plan again from its current version.`,
              evidence
            )
          return evidence
        })
    }

    const checkRehearsal: StepHandler.Handler = {
      run: (ctx) =>
        Effect.gen(function* () {
          const dir = str(paramsOf(ctx), "directory")
          const fingerprint = Rehearsal.fingerprint(ctx.plan)
          const found = yield* Rehearsal.find(dir, fingerprint).pipe(
            Effect.mapError((e) => StepHandler.fail(e.message))
          )
          if (found.length === 0)
            return yield* StepHandler.fail(
              `No successful rehearsal of this plan (fingerprint ${fingerprint.slice(0, 12)}…) in ${dir}: test it first against a simulator seeded from the site (PREP-5); strongly advised.`,
              { fingerprint, rehearsals: 0 }
            )
          const last = found[found.length - 1]!
          return {
            fingerprint,
            rehearsals: found.length,
            lastRunId: last.runId,
            lastAt: last.at.toISOString(),
            environment: last.environment
          }
        })
    }

    const checkCertificateStores: StepHandler.Handler = {
      run: (ctx) => {
        const p = paramsOf(ctx)
        return p["status"] === "fail"
          ? Effect.fail(StepHandler.fail(String(p["detail"] ?? "certificate stores not ready (CLIENT-3)")))
          : Effect.succeed({ status: p["status"] ?? "unverified" })
      }
    }

    const reportDisconnects: StepHandler.Handler = {
      run: (ctx) =>
        Effect.gen(function* () {
          const p = paramsOf(ctx)
          const c = yield* client(p)
          const users = yield* c.loggedInUsers
          const clients = yield* Effect.either(c.connectedClients)
          const sessions = users.reduce((n, u) => n + u.sessionCount, 0)
          const licensed =
            typeof p["licensedTechnicians"] === "number" ? (p["licensedTechnicians"] as number) : undefined
          const lines = [
            users.length === 0
              ? "Nobody is logged in."
              : `${users.length} logged-in user(s) will be logged out: ${users.map((u) => `${u.displayName} (${u.sessionCount} session(s))`).join(", ")}; ${sessions} active session(s) will end.`
          ]
          if (licensed !== undefined)
            lines.push(
              `LICENSE-1: ${users.length} of ${licensed} licensed concurrent technician seat(s) in use${users.length > licensed ? " (over the licence count)" : ""}.`
            )
          return {
            users: users.map((u) => u.displayName),
            userCount: users.length,
            sessionCount: sessions,
            ...(Either.isRight(clients) ? { connectedClients: clients.right.counts } : {}),
            ...(licensed === undefined ? {} : { licensedTechnicians: licensed }),
            summary: lines.join(" ")
          }
        })
    }

    const downloadBackup: StepHandler.Handler = {
      run: (ctx) =>
        Effect.gen(function* () {
          const p = paramsOf(ctx)
          const protectedWanted = p["passwordProtected"] === true
          if (protectedWanted && config.backupPassword === undefined)
            return yield* StepHandler.fail(
              "The site protects its backups with a password, but none was given to the step handlers: resolve the site's backup.password and pass it to CoreHandlers.layer({ backupPassword })."
            )
          const c = yield* client(p)
          // bytes so far, published once a second as StepProgress while the download runs
          let done = 0
          let total: number | undefined
          let reported = 0
          const report = ctx.progress
          const download = c.downloadBackup({
            directory: str(p, "directory"),
            password: protectedWanted ? config.backupPassword : undefined,
            onProgress: (bytes, announced) => {
              done = bytes
              total = announced
            }
          })
          const artifact = yield* report === undefined
            ? download
            : download.pipe(
                Effect.raceFirst(
                  Effect.suspend(() => {
                    if (done === reported) return Effect.void
                    reported = done
                    return report({ done, total, unit: "bytes" })
                  }).pipe(Effect.repeat(Schedule.spaced("1 second")), Effect.zipRight(Effect.never))
                )
              )
          const evidence = {
            path: artifact.path,
            bytes: artifact.bytes,
            sha256: artifact.sha256,
            passwordProtected: artifact.passwordProtected,
            version: artifact.version,
            takenAt: artifact.takenAt.toISOString(),
            label: optStr(p, "label") ?? "backup"
          }
          if (artifact.bytes <= 0 || !/^[0-9a-f]{64}$/.test(artifact.sha256))
            return yield* StepHandler.fail("The backup is empty or was not hashed: download it again.", evidence)
          if (protectedWanted && !artifact.passwordProtected)
            return yield* StepHandler.fail(
              "The backup is not password-protected although the site's settings say it should be: check the backup password under /login > Management > Software.",
              evidence
            )
          return evidence
        })
    }

    const confirmInstallStarted: StepHandler.Handler = {
      run: (ctx) =>
        Effect.gen(function* () {
          const p = paramsOf(ctx)
          const h = yield* healthOrDown(p)
          if (!h.up) return { package: str(p, "package"), applianceAnswering: false, observed: h.error }
          if (str(p, "kind") === "base" && isBaseUpdateFailure(h.health, h.health.version) && !h.health.healthy)
            return yield* StepHandler.baseUpdateFailed(
              `${str(p, "package")}: the appliance reports "${h.health.errorMessage}"`
            )
          return { package: str(p, "package"), method: optStr(p, "method") ?? "automatic", ...healthEvidence(h.health) }
        })
    }

    const awaitInstall: StepHandler.Handler = {
      poll: (ctx) =>
        Effect.gen(function* () {
          const p = paramsOf(ctx)
          const kind = str(p, "kind")
          const version = str(p, "version")
          const fromVersion = str(p, "fromVersion")
          const key = `${ctx.runId}/${ctx.step.id}`
          const now = yield* Clock.currentTimeMillis
          const state = baseWaits.get(key) ?? { firstAt: now, disrupted: false, healthySince: undefined }
          baseWaits.set(key, state)
          const r = yield* Effect.either(health(p))
          if (Either.isLeft(r)) {
            state.disrupted = true
            state.healthySince = undefined
            // not answering is normal while installing / rebooting: the executor records it and polls again
            return yield* Effect.fail(r.left)
          }
          const h = r.right
          if (kind === "base") {
            if (isBaseUpdateFailure(h, fromVersion)) {
              baseWaits.delete(key)
              return yield* StepHandler.baseUpdateFailed(
                `${str(p, "package")}: the appliance answers unhealthy on ${h.version} with "${h.errorMessage}"`
              )
            }
            if (!h.healthy) {
              state.disrupted = true
              state.healthySince = undefined
              return { holds: false, observed: { healthy: false, message: h.errorMessage ?? null, version: h.version } }
            }
            state.healthySince ??= now
            const grace = (config.baseGraceSeconds ?? 300) * 1000
            const holds = state.disrupted || now - state.healthySince >= grace
            if (holds) baseWaits.delete(key)
            return {
              holds,
              observed: { healthy: true, version: h.version, build: h.build, disruptionSeen: state.disrupted },
              evidence: {
                ...healthEvidence(h),
                package: str(p, "package"),
                disruptionSeen: state.disrupted,
                note: "No API reports the base software version: confirm it on /appliance > Status (next gate)."
              }
            }
          }
          const build = optStr(p, "build")
          const matches = versionMatches(h, version, build)
          if (
            !h.healthy &&
            matches === false &&
            h.version === fromVersion &&
            h.errorMessage !== undefined &&
            /failed/i.test(h.errorMessage)
          )
            return yield* StepHandler.fail(
              `${str(p, "package")}: the appliance reports "${h.errorMessage}" and still runs ${h.version}. SINGLE-6: fall back to the manual method (download key + upload), or contact vendor support.`,
              healthEvidence(h)
            )
          const holds = h.healthy && matches
          return {
            holds,
            observed: {
              healthy: h.healthy,
              version: h.version,
              build: h.build,
              ...(h.errorMessage === undefined ? {} : { message: h.errorMessage })
            },
            ...(holds ? { evidence: { ...healthEvidence(h), package: str(p, "package") } } : {})
          }
        })
    }

    const confirmBaseVersion: StepHandler.Handler = {
      run: (ctx) =>
        Effect.gen(function* () {
          const p = paramsOf(ctx)
          const h = yield* health(p)
          if (isBaseUpdateFailure(h, h.version))
            return yield* StepHandler.baseUpdateFailed(
              `${str(p, "package")}: the appliance reports "${h.errorMessage}"`
            )
          if (!h.healthy)
            return yield* StepHandler.fail(
              `The appliance is not healthy after ${str(p, "package")}: ${h.errorMessage ?? "no detail"}. Check /appliance > Status; do not reboot if the base update failed (PREP-6).`,
              healthEvidence(h)
            )
          return { ...healthEvidence(h), expectedBaseVersion: str(p, "baseVersion"), verifiableByApi: false }
        })
    }

    const verifyVersion: StepHandler.Handler = {
      run: (ctx) =>
        Effect.gen(function* () {
          const p = paramsOf(ctx)
          const h = yield* health(p)
          const version = str(p, "version")
          const build = optStr(p, "build")
          const evidence = {
            ...healthEvidence(h),
            expectedVersion: version,
            ...(build === undefined ? {} : { expectedBuild: build })
          }
          if (!h.healthy)
            return yield* StepHandler.fail(
              `The appliance answers unhealthy: ${h.errorMessage ?? "no detail"}. Check /appliance > Status before going on.`,
              evidence
            )
          if (!versionMatches(h, version, build))
            return yield* StepHandler.fail(
              `The appliance reports ${h.version} (${h.build}), not ${version}${build === undefined ? "" : ` (${build})`}: the update did not take effect; check /appliance > Updates.`,
              evidence
            )
          return evidence
        })
    }

    const confirmConsoleCheck: StepHandler.Handler = {
      run: (ctx) =>
        Effect.gen(function* () {
          const p = paramsOf(ctx)
          const h = yield* health(p)
          const evidence = { ...healthEvidence(h), expectedVersion: str(p, "version") }
          if (!h.healthy || !versionMatches(h, str(p, "version")))
            return yield* StepHandler.fail(
              `The appliance reports ${h.version}${h.healthy ? "" : " and is unhealthy"}: the console check cannot pass.`,
              evidence
            )
          return evidence
        })
    }

    const awaitJumpClients: StepHandler.Handler = {
      poll: (ctx) =>
        Effect.gen(function* () {
          const p = paramsOf(ctx)
          const c = yield* client(p)
          const counts = yield* Stream.runFold(
            c.jumpClients(),
            { total: 0, pending: 0, activePending: 0, passivePending: 0, lost: 0 },
            (n, jc) => ({
              total: n.total + 1,
              pending: n.pending + (jc.needsUpdate ? 1 : 0),
              activePending: n.activePending + (jc.needsUpdate && jc.connectionType === "active" ? 1 : 0),
              passivePending: n.passivePending + (jc.needsUpdate && jc.connectionType === "passive" ? 1 : 0),
              lost: n.lost + (jc.isLost ? 1 : 0)
            })
          )
          const maxPending = num(p, "maxPending", 0)
          const holds = counts.pending <= maxPending
          return { holds, observed: { ...counts, maxPending }, evidence: { ...counts, maxPending } }
        })
    }

    const reportJumpoints: StepHandler.Handler = {
      run: (ctx) =>
        Effect.gen(function* () {
          const p = paramsOf(ctx)
          const c = yield* client(p)
          const all = yield* Stream.runCollect(c.jumpoints())
          const list = [...all]
          const connected = list.filter((j) => j.connected).length
          const evidence = { jumpoints: list.length, connected, expected: num(p, "expected", list.length) }
          if (connected < list.length)
            return yield* StepHandler.fail(
              `${list.length - connected} Jumpoint(s) not connected yet (${list
                .filter((j) => !j.connected)
                .map((j) => j.name)
                .join(", ")}); they update themselves, check them if they stay offline.`,
              evidence
            )
          return evidence
        })
    }

    const handlers: Record<string, StepHandler.Handler> = {
      [names.checkApiAccess]: checkApiAccess,
      [names.checkClockSkew]: checkClockSkew,
      [names.checkVersionPath]: checkVersionPath,
      [names.checkRehearsal]: checkRehearsal,
      [names.checkCertificateStores]: checkCertificateStores,
      [names.confirmCertificateStores]: { run: noApi("certificate stores confirmed by a person (CLIENT-3)") },
      [names.reportDisconnects]: reportDisconnects,
      [names.downloadBackup]: downloadBackup,
      [names.confirmCertificateExport]: { run: noApi("certificate export recorded by a person (PREP-2)") },
      [names.confirmDowntime]: { run: noApi("downtime agreed by a person (PREP-4)") },
      [names.confirmTask]: { run: noApi("client task done by a person") },
      [names.recordOfferedUpdates]: { run: noApi("updates on offer recorded by a person") },
      [names.confirmDownloadKey]: { run: noApi("packages fetched with the download key (SINGLE-3)") },
      [names.confirmInstallStarted]: confirmInstallStarted,
      [names.awaitInstall]: awaitInstall,
      [names.confirmBaseVersion]: confirmBaseVersion,
      [names.verifyVersion]: verifyVersion,
      [names.confirmConsoleCheck]: confirmConsoleCheck,
      [names.awaitJumpClients]: awaitJumpClients,
      [names.reportJumpoints]: reportJumpoints
    }
    // a bad parameter is a plan bug: report it as a step failure, not a crash
    return Object.fromEntries(
      Object.entries(handlers).map(([name, h]) => [name, StepHandler.guardParams(h)])
    ) as Record<string, StepHandler.Handler>
  })

/**
 * The registry layer of the `core/…` handlers.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: Config = {}): Layer.Layer<StepHandler.StepHandlers, never, ApplianceApi> =>
  StepHandler.layerEffect(make(config))
