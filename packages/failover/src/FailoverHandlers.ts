/**
 * The handlers of the `failover/…` step definitions (`FailoverSteps`) used by
 * the pair plans. They read everything back through the `ApplianceApi` port
 * (roles, sync time and status, shared IPs, which appliance answers on the
 * site address), the run's history (`StepContext.history`: when a gate was
 * opened — the "Sync now" request time —, when the relationship was broken
 * and restored), the `TrafficSwitch` port and, when one runs, the
 * `SiteProber`.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { ApplianceApi, type ApplianceError, CoreHandlers, StepHandler } from "@sra-upgrade/core"
import * as FailoverSteps from "./FailoverSteps.js"
import type * as Pair from "./Pair.js"
import * as SiteProber from "./SiteProber.js"
import { TrafficSwitch, type SiteObservation } from "./TrafficSwitch.js"

/** Tolerance of the "later than the request" comparison (clock resolution of the vendor's timestamps). */
const TOLERANCE_MS = 1000

const client = (
  id: string
): Effect.Effect<ApplianceApi.ApplianceClient, ApplianceError.ApplianceError, ApplianceApi.ApplianceApi> =>
  Effect.flatMap(ApplianceApi.ApplianceApi, (api) => api.appliance(id))

const health = (id: string) => Effect.flatMap(client(id), (c) => c.health)

type Expected = Readonly<Record<string, string>>

/** The roles each appliance reports, and those that differ from `expect`. */
const readRoles = Effect.fn("FailoverHandlers.readRoles")(function* (expect: Expected) {
  const seen: Record<string, string> = {}
  for (const id of Object.keys(expect)) seen[id] = (yield* health(id)).failoverRole
  const wrong = Object.keys(expect).filter((id) => seen[id] !== expect[id])
  return { seen, wrong }
})

const rolesMessage = (seen: Expected, expect: Expected) =>
  Object.keys(expect)
    .map((id) => `${id} is ${seen[id]} (expected ${expect[id]})`)
    .join(", ")

/** Each appliance of a broken relationship reports `failover_role` none. */
const noneOf = (appliances: ReadonlyArray<string>): Expected => Object.fromEntries(appliances.map((id) => [id, "none"]))

const establishedRoles = (p: typeof FailoverSteps.Established.params.Type): Expected => ({
  [p.primary]: "primary",
  [p.backup]: "backup"
})

/** The member of the pair with this id (the params' filter guarantees it). */
const memberOf = (pair: Pair.Pair, id: string): Pair.Member => pair.member(id)!

/** What a traffic observation shows, as step evidence. */
const observationEvidence = (o: SiteObservation) => ({
  servedBy: o.servedBy ?? null,
  siteProbeOk: o.siteProbe.ok,
  sharedIpHolders: [...o.sharedIpHolders],
  appliances: o.members.map((m) => ({
    id: m.id,
    reachable: m.reachable,
    role: m.failoverRole ?? null,
    version: m.version ?? null,
    enabledSharedIps: [...m.enabledSharedIps]
  }))
})

/**
 * PREP-7: the roles are as planned.
 *
 * @since 0.3.0
 * @category handlers
 */
export const roles = Effect.fn(FailoverSteps.Roles.name)(function* (params: typeof FailoverSteps.Roles.params.Type) {
  const { seen, wrong } = yield* readRoles(params.expect)
  if (wrong.length > 0)
    return yield* StepHandler.fail(
      `Failover roles are not as planned: ${rolesMessage(seen, params.expect)}. Check /login > Management > Failover on both appliances; plan again from the roles they hold now.`,
      { roles: seen }
    )
  return { roles: seen }
})

/**
 * PAIR-3: poll the roles until they are as planned.
 *
 * @since 0.3.0
 * @category handlers
 */
export const awaitRoles = Effect.fn(FailoverSteps.AwaitRoles.name)(function* (
  params: typeof FailoverSteps.AwaitRoles.params.Type
) {
  const { seen, wrong } = yield* readRoles(params.expect)
  return { holds: wrong.length === 0, observed: seen, evidence: { roles: seen } } satisfies StepHandler.Observation
})

/**
 * PAIR-4: "Sync now" was pressed on the primary of an established relationship.
 *
 * @since 0.3.0
 * @category handlers
 */
export const syncRequested = Effect.fn(FailoverSteps.SyncRequested.name)(function* (
  params: typeof FailoverSteps.SyncRequested.params.Type
) {
  const h = yield* health(params.appliance)
  if (h.failoverRole !== "primary")
    return yield* StepHandler.fail(
      `${params.appliance} reports failover_role ${h.failoverRole}, not primary: Sync now must be pressed on the primary of an established relationship (PAIR-4).`
    )
  return {
    role: h.failoverRole,
    lastDataSyncBefore: h.lastDataSync?.toISOString() ?? null,
    lastDataSyncStatusBefore: h.lastDataSyncStatus ?? null
  }
})

/**
 * PAIR-4, PAIR-8: poll until the appliance reports a successful sync later
 * than the request (the opening of step `since`), compared in the
 * appliance's clock (PREP-8 skew); a failed sync stops the run.
 *
 * @since 0.3.0
 * @category handlers
 */
export const awaitSync = Effect.fn(FailoverSteps.AwaitSync.name)(function* (
  params: typeof FailoverSteps.AwaitSync.params.Type,
  ctx: StepHandler.StepContext
) {
  const id = params.appliance
  const requested = yield* Option.match(ctx.history.askedAt(params.since), {
    onNone: () => Effect.map(Clock.currentTimeMillis, (t) => new Date(t)),
    onSome: Effect.succeed
  })
  const c = yield* client(id)
  const info = yield* c.apiInfo
  const skewMs = info.serverTime.getTime() - info.localTime.getTime()
  const h = yield* c.health
  const last = h.lastDataSync
  const observed = {
    role: h.failoverRole,
    lastDataSync: last?.toISOString() ?? null,
    status: h.lastDataSyncStatus ?? null,
    requestedAt: requested.toISOString(),
    applianceClockSkewSeconds: Math.round(skewMs / 1000)
  }
  if (h.failoverRole !== "primary")
    return yield* StepHandler.fail(
      `${id} reports failover_role ${h.failoverRole}: the relationship is not established with ${id} as primary. Check /login > Management > Failover.`,
      observed
    )
  const after = last !== undefined && last.getTime() - skewMs >= requested.getTime() - TOLERANCE_MS
  if (after && h.lastDataSyncStatus !== "success")
    return yield* StepHandler.fail(
      `The data sync on ${id} finished with "${h.lastDataSyncStatus ?? "no status"}": do NOT break the relationship (nothing was changed). Check the failover page and the network between the appliances, then run again.`,
      observed
    )
  return { holds: after, observed, evidence: observed } satisfies StepHandler.Observation
})

/**
 * PAIR-4: the relationship is broken (`failover_role` none on both).
 *
 * @since 0.3.0
 * @category handlers
 */
export const broken = Effect.fn(FailoverSteps.Broken.name)(function* (params: typeof FailoverSteps.Broken.params.Type) {
  const expect = noneOf(params.appliances)
  const { seen, wrong } = yield* readRoles(expect)
  if (wrong.length > 0)
    return yield* StepHandler.fail(
      `The relationship is not broken: ${rolesMessage(seen, expect)}. Press "Break failover relationship" on the primary, then approve again.`,
      { roles: seen }
    )
  return { roles: seen }
})

/**
 * PAIR-4, on resume: whether the break took effect.
 *
 * @since 0.3.0
 * @category handlers
 */
export const verifyBroken = Effect.fn(`${FailoverSteps.Broken.name}.verify`)(function* (
  params: typeof FailoverSteps.Broken.params.Type
) {
  const { seen, wrong } = yield* readRoles(noneOf(params.appliances))
  return { effective: wrong.length === 0, evidence: { roles: seen } } satisfies StepHandler.Verification
})

/**
 * PAIR-7: the inter-appliance keys, confirmed by a person (no API reads them).
 *
 * @since 0.3.0
 * @category handlers
 */
export const confirmKeys = Effect.fn(FailoverSteps.ConfirmKeys.name)(function* () {
  return {}
})

/**
 * PAIR-7: the relationship is established as planned.
 *
 * @since 0.3.0
 * @category handlers
 */
export const established = Effect.fn(FailoverSteps.Established.name)(function* (
  params: typeof FailoverSteps.Established.params.Type
) {
  const expect = establishedRoles(params)
  const { seen, wrong } = yield* readRoles(expect)
  if (wrong.length > 0)
    return yield* StepHandler.fail(
      `The relationship is not established as planned: ${rolesMessage(seen, expect)}. Establish it on the appliance that must be primary, with the form values of this step (PAIR-7).`,
      { roles: seen }
    )
  return { roles: seen }
})

/**
 * PAIR-7, on resume: whether the relationship was established.
 *
 * @since 0.3.0
 * @category handlers
 */
export const verifyEstablished = Effect.fn(`${FailoverSteps.Established.name}.verify`)(function* (
  params: typeof FailoverSteps.Established.params.Type
) {
  const { seen, wrong } = yield* readRoles(establishedRoles(params))
  return { effective: wrong.length === 0, evidence: { roles: seen } } satisfies StepHandler.Verification
})

/**
 * VERIFY-3: the appliance passes the load-balancer probe as the site on its
 * unique address and runs the planned version; otherwise do not switch.
 *
 * @since 0.3.0
 * @category handlers
 */
export const verifyAsSite = Effect.fn(FailoverSteps.VerifyAsSite.name)(function* (
  params: typeof FailoverSteps.VerifyAsSite.params.Type
) {
  const api = yield* ApplianceApi.ApplianceApi
  const { appliance: id, hostname, url, version } = params
  const serving = params.servingNow ?? "the appliance that serves it now"
  const rollback = `Rollback: production stays on ${serving}, nothing was switched. Fix ${id}, or bring it back to ${serving}'s version (reinstall, or restore the settings backup), then re-establish the relationship from ${serving} (PAIR-7) before planning again.`
  const probe = yield* api.probe({ url, hostname }).pipe(
    Effect.map((r) => ({ ok: r.ok, status: r.status, detail: `HTTP ${r.status}` })),
    Effect.catchAll((e) => Effect.succeed({ ok: false, status: 0, detail: e.message }))
  )
  const h = yield* health(id)
  const evidence = {
    probeUrl: url,
    presentedHost: hostname,
    probeStatus: probe.status,
    version: h.version,
    build: h.build,
    healthy: h.healthy
  }
  if (!probe.ok)
    return yield* StepHandler.fail(
      `${id} does not pass the health probe as ${hostname} at ${url} (${probe.detail}): do not switch. ${rollback}`,
      evidence
    )
  if (!h.healthy || !CoreHandlers.versionMatches(h, version, params.build))
    return yield* StepHandler.fail(
      `${id} answers ${h.version} (${h.build})${h.healthy ? "" : `, unhealthy: ${h.errorMessage ?? ""}`}, not ${version}: do not switch. ${rollback}`,
      evidence
    )
  return evidence
})

/**
 * SWITCH-1/2/3: move the site (an adapter may automate it), then read where
 * it points; a shared IP must be right at once, a DNS record may still be
 * propagating (the next wait checks who answers).
 *
 * @since 0.3.0
 * @category handlers
 */
export const switched = Effect.fn(FailoverSteps.Switched.name)(function* (
  params: typeof FailoverSteps.Switched.params.Type
) {
  const traffic = yield* TrafficSwitch
  const { pair } = params
  const from = memberOf(pair, params.from)
  const to = memberOf(pair, params.to)
  const applied = yield* traffic.apply(pair, from, to)
  const check = yield* traffic.verify(pair, from, to)
  const evidence = {
    method: pair.traffic.method,
    automated: applied.automated,
    ...observationEvidence(check.observation)
  }
  if (pair.traffic.method === "shared-ip" && !check.holds)
    return yield* StepHandler.fail(`The switch is not complete: ${check.problems.join(" ")}`, evidence)
  return evidence
})

/**
 * SWITCH-*, on resume: whether the site is served by `to` only.
 *
 * @since 0.3.0
 * @category handlers
 */
export const verifySwitched = Effect.fn(`${FailoverSteps.Switched.name}.verify`)(function* (
  params: typeof FailoverSteps.Switched.params.Type
) {
  const traffic = yield* TrafficSwitch
  const check = yield* traffic.verify(params.pair, memberOf(params.pair, params.from), memberOf(params.pair, params.to))
  return { effective: check.holds, evidence: observationEvidence(check.observation) } satisfies StepHandler.Verification
})

/** Whether the site is served by the step's appliance (on its version), and what is wrong otherwise. */
const servedByCheck = Effect.fn(`${FailoverSteps.ServedBy.name}.check`)(function* (
  params: typeof FailoverSteps.ServedBy.params.Type
) {
  const traffic = yield* TrafficSwitch
  const to = memberOf(params.pair, params.appliance)
  const check = yield* traffic.verify(params.pair, params.pair.peerOf(to.id), to)
  const problems = [...check.problems]
  const view = check.observation.members.find((m) => m.id === to.id)
  if (params.version !== undefined && view?.version !== undefined && view.version !== params.version)
    problems.push(`${to.id} runs ${view.version}, not ${params.version}.`)
  return { holds: problems.length === 0, problems, evidence: observationEvidence(check.observation) }
})

/**
 * The site is served by the step's appliance, as planned.
 *
 * @since 0.3.0
 * @category handlers
 */
export const servedBy = Effect.fn(FailoverSteps.ServedBy.name)(function* (
  params: typeof FailoverSteps.ServedBy.params.Type
) {
  const r = yield* servedByCheck(params)
  if (!r.holds)
    return yield* StepHandler.fail(
      `The site is not served as planned: ${r.problems.join(" ")} Fix the traffic switch (or roll back to the appliance that served before), then run again.`,
      r.evidence
    )
  return r.evidence
})

/**
 * SWITCH-2: poll until the site is served by the step's appliance.
 *
 * @since 0.3.0
 * @category handlers
 */
export const awaitServedBy = Effect.fn(`${FailoverSteps.ServedBy.name}.poll`)(function* (
  params: typeof FailoverSteps.ServedBy.params.Type
) {
  const r = yield* servedByCheck(params)
  return {
    holds: r.holds,
    observed: r.holds ? r.evidence : { problems: r.problems },
    evidence: r.evidence
  } satisfies StepHandler.Observation
})

/**
 * PAIR-3: a planned role change (`set_failover_role`, never forced).
 *
 * @since 0.3.0
 * @category handlers
 */
export const setRole = Effect.fn(FailoverSteps.SetRole.name)(function* (
  params: typeof FailoverSteps.SetRole.params.Type
) {
  const c = yield* client(params.appliance)
  const r = yield* c.setFailoverRole({ role: params.role, dataSyncFirst: params.dataSyncFirst === true, force: false })
  return { message: r.message, syncStarted: r.syncStarted }
})

/**
 * PAIR-3, on resume: the role is held, or a planned swap is under way (both
 * appliances briefly report backup).
 *
 * @since 0.3.0
 * @category handlers
 */
export const verifySetRole = Effect.fn(`${FailoverSteps.SetRole.name}.verify`)(function* (
  params: typeof FailoverSteps.SetRole.params.Type
) {
  const h = yield* health(params.appliance)
  const peerRole = params.peer === undefined ? undefined : (yield* health(params.peer)).failoverRole
  const effective = h.failoverRole === params.role || (h.failoverRole === "backup" && peerRole === "backup")
  return {
    effective,
    evidence: { role: h.failoverRole, peerRole: peerRole ?? null }
  } satisfies StepHandler.Verification
})

/**
 * PAIR-1: the time without failover protection, from the run's history
 * (when step `from` and step `to` succeeded).
 *
 * @since 0.3.0
 * @category handlers
 */
export const protection = Effect.fn(FailoverSteps.Protection.name)(function* (
  params: typeof FailoverSteps.Protection.params.Type,
  ctx: StepHandler.StepContext
) {
  const from = Option.getOrUndefined(ctx.history.succeededAt(params.from))
  const to = Option.getOrUndefined(ctx.history.succeededAt(params.to))
  if (from === undefined) return { unprotectedSeconds: 0, note: "the relationship was never broken" }
  const end = to ?? new Date(yield* Clock.currentTimeMillis)
  const seconds = Math.round((end.getTime() - from.getTime()) / 1000)
  const evidence = { brokenAt: from.toISOString(), restoredAt: to?.toISOString() ?? null, unprotectedSeconds: seconds }
  if (params.maxSeconds !== undefined && seconds > params.maxSeconds)
    return yield* StepHandler.fail(
      `The pair had no failover protection for ${seconds} s, more than the ${params.maxSeconds} s planned (PAIR-1).`,
      evidence
    )
  return evidence
})

/**
 * PAIR-1: the site availability the prober measured during the run.
 *
 * @since 0.3.0
 * @category handlers
 */
export const availability = Effect.fn(FailoverSteps.Availability.name)(function* () {
  const measured = yield* SiteProber.measured
  if (Option.isNone(measured))
    return yield* StepHandler.fail(
      "No site prober ran during this run: provide SiteProber.layer to measure the site's downtime."
    )
  return { siteProbe: measured.value }
})

/**
 * The implementations of every `FailoverSteps` definition.
 *
 * @since 0.3.0
 * @category handlers
 */
export const implementations = [
  FailoverSteps.Roles.implement({ run: roles }),
  FailoverSteps.AwaitRoles.implement({ poll: awaitRoles }),
  FailoverSteps.SyncRequested.implement({ run: syncRequested }),
  FailoverSteps.AwaitSync.implement({ poll: awaitSync }),
  FailoverSteps.Broken.implement({ run: broken, verify: verifyBroken }),
  FailoverSteps.ConfirmKeys.implement({ run: confirmKeys }),
  FailoverSteps.Established.implement({ run: established, verify: verifyEstablished }),
  FailoverSteps.VerifyAsSite.implement({ run: verifyAsSite }),
  FailoverSteps.Switched.implement({ run: switched, verify: verifySwitched }),
  FailoverSteps.ServedBy.implement({ run: servedBy, poll: awaitServedBy }),
  FailoverSteps.SetRole.implement({ run: setRole, verify: verifySetRole }),
  FailoverSteps.Protection.implement({ run: protection }),
  FailoverSteps.Availability.implement({ run: availability })
] as const

/**
 * The `failover/…` handlers as a registry layer (merge it with core's).
 * Provide `SiteProber.layer` to it (or to the run) to report the measured
 * site availability.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<StepHandler.StepHandlers, never, ApplianceApi.ApplianceApi | TrafficSwitch> =
  StepHandler.layer(...implementations)
