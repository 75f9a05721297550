/**
 * The handlers of the `core/…` step definitions (`CoreSteps`), used by the
 * single-appliance plans and reused by the failover and migration planners.
 * Written against the `ApplianceApi` port only: whoever runs the plan
 * provides the live adapter (`@sra-upgrade/appliance-client`) or a fake
 * (`@sra-upgrade/core/test`).
 *
 * Evidence is what was read back: versions and builds, backup size and
 * SHA-256, counts of users and Jump Clients.
 *
 * How an install is observed (no vendor API installs updates or reports
 * the base software version):
 * - a product (site) update is done when health answers healthy with the
 *   target version (and build, when the plan knows it);
 * - a base software update leaves the product version unchanged and reboots
 *   the appliance: it is done when the wait has seen the appliance go down
 *   (no answer, or unhealthy) and come back healthy. When no disruption was
 *   seen (the runner was not polling then, or the reboot was shorter than the
 *   poll interval), `baseGraceSeconds` of healthy answers are accepted, but
 *   the step is marked as resting on the operator's word (a warning in the
 *   report and the terminal); a person then confirms the base version on
 *   `/appliance > Status` (next gate);
 * - PREP-6, a failed base update: health answers unhealthy with a message
 *   that does not describe an install in progress, or the appliance does not
 *   come back before the wait's deadline. The handler fails with
 *   `StepHandler.baseUpdateFailed`: the run halts in `halted-needs-support`
 *   and nothing calls the appliance again.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { ApplianceApi, type Health } from "./ApplianceApi.js"
import * as CoreSteps from "./CoreSteps.js"
import * as Rehearsal from "./Rehearsal.js"
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
   * counts as done (default 300 s), resting on the operator's word; the next
   * gate has a person confirm.
   */
  readonly baseGraceSeconds?: number | undefined
}

/**
 * The handlers' configuration, as a service.
 *
 * @since 0.3.0
 * @category services
 */
export class HandlerConfig extends Context.Tag("@sra-upgrade/core/CoreHandlers/HandlerConfig")<
  HandlerConfig,
  Config
>() {}

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

const failureRe = /fail|support|error|corrupt|abort|could not|cannot|unable/i
const progressRe = /install|in progress|reboot|restart|updat|apply|applying|starting|upgrad|wait/i

/**
 * PREP-6 classification of an unhealthy health answer during a base
 * software install: the product version is unchanged and the message
 * reports a problem — it names a failure, or it does not describe an
 * install in progress (any wording: the guide's « problème » covers all).
 *
 * @since 0.1.0
 * @category combinators
 */
export const isBaseUpdateFailure = (health: Health, fromVersion: string): boolean => {
  if (health.healthy || health.version !== fromVersion) return false
  const m = health.errorMessage
  if (m === undefined || m.trim() === "") return false
  if (/failed/i.test(m)) return true
  return failureRe.test(m) ? !progressRe.test(m) || /fail/i.test(m) : !progressRe.test(m)
}

const client = (appliance: string) => Effect.flatMap(ApplianceApi, (api) => api.appliance(appliance))

const health = (appliance: string) => Effect.flatMap(client(appliance), (c) => c.health)

/** Read health, tolerating an appliance that does not answer (installing, rebooting). */
const healthOrDown = (appliance: string) =>
  Effect.either(health(appliance)).pipe(
    Effect.map((r) =>
      Either.isRight(r) ? { up: true as const, health: r.right } : { up: false as const, error: r.left.message }
    )
  )

/** A gate whose outcome no API reads back: record what health says, and that a person confirmed it. */
const confirmedByOperator = (what: string) => (params: { readonly appliance: string }) =>
  Effect.map(healthOrDown(params.appliance), (h) => ({
    confirmedByOperator: true,
    verifiableByApi: false,
    note: what,
    ...(h.up ? { healthy: h.health.healthy, version: h.health.version } : { applianceAnswering: false })
  }))

const truthy = (v: unknown) => v === true || v === "1" || v === "true"

/**
 * The API account answers and holds the permissions the plan needs.
 *
 * @since 0.3.0
 * @category handlers
 */
export const checkApiAccess = Effect.fn(CoreSteps.CheckApiAccess.name)(function* (
  params: typeof CoreSteps.CheckApiAccess.params.Type
) {
  const c = yield* client(params.appliance)
  const info = yield* c.apiInfo
  const h = yield* c.health
  const req = params.require ?? {}
  const perms = info.permissions
  const missing: Array<string> = []
  if (req.perm_backup === true && !truthy(perms["perm_backup"])) missing.push("perm_backup")
  if (req.perm_configuration === true && !truthy(perms["perm_configuration"])) missing.push("perm_configuration")
  const cmd = perms["perm_command"]
  if (
    req.perm_command === "full_access"
      ? cmd !== "full_access"
      : req.perm_command !== undefined && cmd !== "full_access" && cmd !== "read_only"
  )
    missing.push(`perm_command ${req.perm_command}`)
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

/**
 * PREP-8: the appliance clock is within the bound.
 *
 * @since 0.3.0
 * @category handlers
 */
export const checkClockSkew = Effect.fn(CoreSteps.CheckClockSkew.name)(function* (
  params: typeof CoreSteps.CheckClockSkew.params.Type
) {
  const info = yield* Effect.flatMap(client(params.appliance), (c) => c.apiInfo)
  const skewSeconds = (info.serverTime.getTime() - info.localTime.getTime()) / 1000
  const max = params.maxSkewSeconds ?? 120
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

/**
 * SINGLE-2: the appliance runs the version the plan starts from.
 *
 * @since 0.3.0
 * @category handlers
 */
export const checkVersionPath = Effect.fn(CoreSteps.CheckVersionPath.name)(function* (
  params: typeof CoreSteps.CheckVersionPath.params.Type
) {
  const h = yield* health(params.appliance)
  const evidence = { ...healthEvidence(h), expectedVersion: params.expectedVersion, order: params.order ?? [] }
  if (!versionMatches(h, params.expectedVersion, params.expectedBuild))
    return yield* StepHandler.fail(
      `The appliance runs ${h.version} (${h.build}), not ${params.expectedVersion} as planned: plan again from its current version.`,
      evidence
    )
  return evidence
})

/**
 * PREP-5 (our extra): a successful rehearsal of this very plan is recorded.
 *
 * @since 0.3.0
 * @category handlers
 */
export const checkRehearsal = Effect.fn(CoreSteps.CheckRehearsal.name)(function* (
  params: typeof CoreSteps.CheckRehearsal.params.Type,
  ctx: StepHandler.StepContext
) {
  const fingerprint = Rehearsal.fingerprint(ctx.plan)
  const found = yield* Rehearsal.find(params.directory, fingerprint).pipe(
    Effect.mapError((e) => StepHandler.fail(e.message))
  )
  if (found.length === 0)
    return yield* StepHandler.fail(
      `No successful rehearsal of this plan (fingerprint ${fingerprint.slice(0, 12)}…) in ${params.directory}: test it first against a simulator seeded from the site (PREP-5); strongly advised.`,
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

/**
 * PREP-4, LICENSE-1: who is logged in and will be disconnected.
 *
 * @since 0.3.0
 * @category handlers
 */
export const reportDisconnects = Effect.fn(CoreSteps.ReportDisconnects.name)(function* (
  params: typeof CoreSteps.ReportDisconnects.params.Type
) {
  const c = yield* client(params.appliance)
  const users = yield* c.loggedInUsers
  const clients = yield* Effect.either(c.connectedClients)
  const sessions = users.reduce((n, u) => n + u.sessionCount, 0)
  const licensed = params.licensedTechnicians
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

/**
 * PREP-1: download the settings backup, reporting its bytes once a second,
 * and check what was written.
 *
 * @since 0.3.0
 * @category handlers
 */
export const downloadBackup = Effect.fn(CoreSteps.DownloadBackup.name)(function* (
  params: typeof CoreSteps.DownloadBackup.params.Type,
  ctx: StepHandler.StepContext
) {
  const config = yield* HandlerConfig
  const protectedWanted = params.passwordProtected === true
  if (protectedWanted && config.backupPassword === undefined)
    return yield* StepHandler.fail(
      "The site protects its backups with a password, but none was given to the step handlers: resolve the site's backup.password and pass it to CoreHandlers.layer({ backupPassword })."
    )
  const c = yield* client(params.appliance)
  // bytes so far, published once a second as StepProgress while the download runs
  let done = 0
  let total: number | undefined
  let reported = 0
  const report = ctx.progress
  const download = c.downloadBackup({
    directory: params.directory,
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
    label: params.label ?? "backup"
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

/**
 * SINGLE-1/3: after a person started an install, read health: a failed base
 * update halts the run (PREP-6).
 *
 * @since 0.3.0
 * @category handlers
 */
export const confirmInstallStarted = Effect.fn(CoreSteps.ConfirmInstallStarted.name)(function* (
  params: typeof CoreSteps.ConfirmInstallStarted.params.Type
) {
  const h = yield* healthOrDown(params.appliance)
  if (!h.up) return { package: params.package, applianceAnswering: false, observed: h.error }
  if (params.kind === "base" && isBaseUpdateFailure(h.health, h.health.version))
    return yield* StepHandler.baseUpdateFailed(`${params.package}: the appliance reports "${h.health.errorMessage}"`)
  return { package: params.package, method: params.method ?? "automatic", ...healthEvidence(h.health) }
})

/** Whether a recorded poll of an install wait saw the appliance down or unhealthy. */
const sawDisruption = (observed: unknown): boolean => {
  if (typeof observed !== "object" || observed === null) return false
  const o = observed as { readonly error?: unknown; readonly healthy?: unknown }
  return o.error !== undefined || o.healthy === false
}

/**
 * Whether the install gate right before this wait (same appliance) found the
 * appliance down or unhealthy when it read health after the approval: the
 * install had already taken it down before the first poll.
 */
const installStartSawDisruption = (appliance: string, ctx: StepHandler.StepContext): boolean => {
  const at = ctx.plan.steps.findIndex((s) => s.id === ctx.step.id)
  for (let i = at - 1; i >= 0; i--) {
    const s = ctx.plan.steps[i]!
    const p = CoreSteps.ConfirmInstallStarted.paramsOf(s)
    if (Option.isNone(p) || p.value.appliance !== appliance) continue
    return Option.exists(
      ctx.history.evidenceOf(s.id),
      (e) => e["applianceAnswering"] === false || e["healthy"] === false
    )
  }
  return false
}

const sawHealthy = (observed: unknown): boolean =>
  typeof observed === "object" && observed !== null && (observed as { healthy?: unknown }).healthy === true

/**
 * Poll an install: product updates by version read-back; base software by
 * a disruption seen then health again (see the module doc); PREP-6 on a
 * failure or on a base install that does not come back by the deadline.
 *
 * @since 0.3.0
 * @category handlers
 */
export const awaitInstall = Effect.fn(CoreSteps.AwaitInstall.name)(function* (
  params: typeof CoreSteps.AwaitInstall.params.Type,
  ctx: StepHandler.StepContext
) {
  const config = yield* HandlerConfig
  const now = yield* Clock.currentTimeMillis
  const step = ctx.step
  // the wait's first start in this run: its deadline does not restart with a resume
  const firstStart = ctx.history.records.find((r) => r.event._tag === "StepStarted" && r.event.stepId === step.id)
    ?.event.at
  const deadline =
    firstStart === undefined || step._tag !== "WaitFor" ? undefined : firstStart.getTime() + step.deadlineSeconds * 1000
  const r = yield* Effect.either(health(params.appliance))
  // measured after the read (a read that hangs until it times out must not let the executor's deadline pass
  // first), with a second of margin for the time between this and the executor's own reading of the clock
  const afterRead = yield* Clock.currentTimeMillis
  const lastChance =
    deadline !== undefined && step._tag === "WaitFor" && afterRead + step.intervalSeconds * 1000 + 1000 > deadline
  if (params.kind === "base") {
    if (Either.isRight(r) && isBaseUpdateFailure(r.right, params.fromVersion))
      return yield* StepHandler.baseUpdateFailed(
        `${params.package}: the appliance answers unhealthy on ${r.right.version} with "${r.right.errorMessage}"`
      )
    const back = Either.isRight(r) && r.right.healthy
    if (!back && lastChance)
      return yield* StepHandler.baseUpdateFailed(
        `${params.package}: the appliance did not come back healthy within ${step._tag === "WaitFor" ? Math.round(step.deadlineSeconds / 60) : "?"} min (last: ${Either.isLeft(r) ? r.left.message : (r.right.errorMessage ?? "unhealthy")})`
      )
  }
  // not answering is normal while installing / rebooting: the executor records it and polls again
  if (Either.isLeft(r)) return yield* Effect.fail(r.left)
  const h = r.right
  if (params.kind === "base") {
    if (!h.healthy)
      return { holds: false, observed: { healthy: false, message: h.errorMessage ?? null, version: h.version } }
    const polls = ctx.history.observations(step.id)
    const disrupted = installStartSawDisruption(params.appliance, ctx) || polls.some((o) => sawDisruption(o.observed))
    let healthySince = now
    for (let i = polls.length - 1; i >= 0 && sawHealthy(polls[i]!.observed); i--) healthySince = polls[i]!.at.getTime()
    const grace = (config.baseGraceSeconds ?? 300) * 1000
    // healthy at the wait's last chance (e.g. resumed after its deadline: the install ran while no
    // orchestrator was alive to see it): done on the operator's word, like after the grace period
    const holds = disrupted || now - healthySince >= grace || lastChance
    const observed = { healthy: true, version: h.version, build: h.build, disruptionSeen: disrupted }
    return {
      holds,
      observed,
      evidence: {
        ...healthEvidence(h),
        package: params.package,
        disruptionSeen: disrupted,
        ...(disrupted ? {} : { restsOnOperatorWord: true }),
        note: "No API reports the base software version: confirm it on /appliance > Status (next gate)."
      },
      ...(holds && !disrupted
        ? {
            warnings: [
              now - healthySince >= grace
                ? `Not observed: ${params.package} never showed the appliance going down (a base install reboots it); done on the operator's word after ${Math.round(grace / 1000)} s of healthy answers. Confirm the base version on /appliance > Status.`
                : `Not observed: ${params.package} never showed the appliance going down (a base install reboots it) before the wait's deadline; it answers healthy now, so the wait is done on the operator's word. Confirm the base version on /appliance > Status.`
            ]
          }
        : {})
    } satisfies StepHandler.Observation
  }
  const matches = versionMatches(h, params.version, params.build)
  if (
    !h.healthy &&
    !matches &&
    h.version === params.fromVersion &&
    h.errorMessage !== undefined &&
    /failed/i.test(h.errorMessage)
  )
    return yield* StepHandler.fail(
      `${params.package}: the appliance reports "${h.errorMessage}" and still runs ${h.version}. SINGLE-6: fall back to the manual method (download key + upload), or contact vendor support.`,
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
    ...(holds ? { evidence: { ...healthEvidence(h), package: params.package } } : {})
  } satisfies StepHandler.Observation
})

/**
 * VERIFY-1, PREP-6: the appliance is healthy after a base update; the
 * version a person read is the one planned (checked with the answer).
 *
 * @since 0.3.0
 * @category handlers
 */
export const confirmBaseVersion = Effect.fn(CoreSteps.ConfirmBaseVersion.name)(function* (
  params: typeof CoreSteps.ConfirmBaseVersion.params.Type,
  ctx: { readonly evidence: { readonly baseVersion: string } | undefined }
) {
  const h = yield* health(params.appliance)
  if (isBaseUpdateFailure(h, h.version))
    return yield* StepHandler.baseUpdateFailed(`${params.package}: the appliance reports "${h.errorMessage}"`)
  if (!h.healthy)
    return yield* StepHandler.fail(
      `The appliance is not healthy after ${params.package}: ${h.errorMessage ?? "no detail"}. Check /appliance > Status; do not reboot if the base update failed (PREP-6).`,
      healthEvidence(h)
    )
  return {
    ...healthEvidence(h),
    expectedBaseVersion: params.baseVersion,
    ...(ctx.evidence === undefined ? {} : { confirmedBaseVersion: ctx.evidence.baseVersion }),
    verifiableByApi: false
  }
})

/**
 * VERIFY-1: healthy on the expected version (and build).
 *
 * @since 0.3.0
 * @category handlers
 */
export const verifyVersion = Effect.fn(CoreSteps.VerifyVersion.name)(function* (
  params: typeof CoreSteps.VerifyVersion.params.Type
) {
  const h = yield* health(params.appliance)
  const evidence = {
    ...healthEvidence(h),
    expectedVersion: params.version,
    ...(params.build === undefined ? {} : { expectedBuild: params.build })
  }
  if (!h.healthy)
    return yield* StepHandler.fail(
      `The appliance answers unhealthy: ${h.errorMessage ?? "no detail"}. Check /appliance > Status before going on.`,
      evidence
    )
  if (!versionMatches(h, params.version, params.build))
    return yield* StepHandler.fail(
      `The appliance reports ${h.version} (${h.build}), not ${params.version}${params.build === undefined ? "" : ` (${params.build})`}: the update did not take effect; check /appliance > Updates.`,
      evidence
    )
  return evidence
})

/**
 * VERIFY-2: the appliance serves the version the console was checked against.
 *
 * @since 0.3.0
 * @category handlers
 */
export const confirmConsoleCheck = Effect.fn(CoreSteps.ConfirmConsoleCheck.name)(function* (
  params: typeof CoreSteps.ConfirmConsoleCheck.params.Type
) {
  const h = yield* health(params.appliance)
  const evidence = { ...healthEvidence(h), expectedVersion: params.version }
  if (!h.healthy || !versionMatches(h, params.version))
    return yield* StepHandler.fail(
      `The appliance reports ${h.version}${h.healthy ? "" : " and is unhealthy"}: the console check cannot pass.`,
      evidence
    )
  return evidence
})

/**
 * CLIENT-10: count the Jump Clients that still need the update; holds when at
 * most `maxPending` do and, if set, at most `maxActivePending` active ones
 * (lost clients aside).
 *
 * @since 0.3.0
 * @category handlers
 */
export const awaitJumpClients = Effect.fn(CoreSteps.AwaitJumpClients.name)(function* (
  params: typeof CoreSteps.AwaitJumpClients.params.Type
) {
  const c = yield* client(params.appliance)
  const counts = yield* Stream.runFold(
    c.jumpClients(),
    { total: 0, pending: 0, activePending: 0, activeLostPending: 0, passivePending: 0, lost: 0 },
    (n, jc) => ({
      total: n.total + 1,
      pending: n.pending + (jc.needsUpdate ? 1 : 0),
      activePending: n.activePending + (jc.needsUpdate && jc.connectionType === "active" ? 1 : 0),
      activeLostPending: n.activeLostPending + (jc.needsUpdate && jc.connectionType === "active" && jc.isLost ? 1 : 0),
      passivePending: n.passivePending + (jc.needsUpdate && jc.connectionType === "passive" ? 1 : 0),
      lost: n.lost + (jc.isLost ? 1 : 0)
    })
  )
  const { maxActivePending, maxPending } = params
  // passive clients that checked in early lower `pending` while active ones still wait: both bounds must hold
  const activeHolds =
    maxActivePending === undefined || counts.activePending - counts.activeLostPending <= maxActivePending
  const observed = { ...counts, maxPending, ...(maxActivePending === undefined ? {} : { maxActivePending }) }
  return {
    holds: counts.pending <= maxPending && activeHolds,
    observed,
    evidence: observed
  } satisfies StepHandler.Observation
})

/**
 * CLIENT-9: the Jumpoints connected again.
 *
 * @since 0.3.0
 * @category handlers
 */
export const reportJumpoints = Effect.fn(CoreSteps.ReportJumpoints.name)(function* (
  params: typeof CoreSteps.ReportJumpoints.params.Type
) {
  const c = yield* client(params.appliance)
  const list = [...(yield* Stream.runCollect(c.jumpoints()))]
  const connected = list.filter((j) => j.connected).length
  const evidence = { jumpoints: list.length, connected, expected: params.expected ?? list.length }
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

/**
 * The implementations of every `CoreSteps` definition.
 *
 * @since 0.3.0
 * @category handlers
 */
export const implementations = [
  CoreSteps.CheckApiAccess.implement({ run: checkApiAccess }),
  CoreSteps.CheckClockSkew.implement({ run: checkClockSkew }),
  CoreSteps.CheckVersionPath.implement({ run: checkVersionPath }),
  CoreSteps.CheckRehearsal.implement({ run: checkRehearsal }),
  CoreSteps.ConfirmCertificateStores.implement({
    run: confirmedByOperator("certificate stores confirmed by a person (CLIENT-3)")
  }),
  CoreSteps.ReportDisconnects.implement({ run: reportDisconnects }),
  CoreSteps.DownloadBackup.implement({ run: downloadBackup }),
  CoreSteps.ConfirmCertificateExport.implement({
    run: (params, ctx) =>
      Effect.map(confirmedByOperator("certificate export recorded by a person (PREP-2)")(params), (e) => ({
        ...e,
        ...(ctx.evidence === undefined ? {} : { path: ctx.evidence.path, fingerprint: ctx.evidence.fingerprint })
      }))
  }),
  CoreSteps.ConfirmDowntime.implement({ run: confirmedByOperator("downtime agreed by a person (PREP-4)") }),
  CoreSteps.ConfirmTask.implement({ run: confirmedByOperator("client task done by a person") }),
  CoreSteps.RecordOfferedUpdates.implement({ run: confirmedByOperator("updates on offer recorded by a person") }),
  CoreSteps.ConfirmDownloadKey.implement({
    run: confirmedByOperator("packages fetched with the download key (SINGLE-3)")
  }),
  CoreSteps.ConfirmInstallStarted.implement({ run: confirmInstallStarted }),
  CoreSteps.AwaitInstall.implement({ poll: awaitInstall }),
  CoreSteps.ConfirmBaseVersion.implement({ run: confirmBaseVersion }),
  CoreSteps.VerifyVersion.implement({ run: verifyVersion }),
  CoreSteps.ConfirmConsoleCheck.implement({ run: confirmConsoleCheck }),
  CoreSteps.AwaitJumpClients.implement({ poll: awaitJumpClients }),
  CoreSteps.ReportJumpoints.implement({ run: reportJumpoints })
] as const

/**
 * The registry layer of the `core/…` handlers.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: Config = {}): Layer.Layer<StepHandler.StepHandlers, never, ApplianceApi> =>
  StepHandler.layer(...implementations).pipe(Layer.provide(Layer.succeed(HandlerConfig, config)))
