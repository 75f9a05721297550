/**
 * The step handlers of the `failover/…` names used by the pair plans. They
 * read everything back through the `ApplianceApi` port (roles, sync time and
 * status, shared IPs, which appliance answers on the site address), the run
 * journal (when a gate was opened: the "Sync now" request time; when the
 * relationship was broken and restored), the `TrafficSwitch` port and, when
 * one runs, the `SiteProber`.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { ApplianceApi, CoreHandlers, Journal, StepHandler } from "@sra-upgrade/core"
import * as Pair from "./Pair.js"
import { handlers as names } from "./PairPlan.js"
import { SiteProber } from "./SiteProber.js"
import { TrafficSwitch } from "./TrafficSwitch.js"

type Params = Readonly<Record<string, unknown>>

const str = StepHandler.stringParam
const optStr = StepHandler.optionalStringParam
const roleMap = (p: Params): Record<string, string> => {
  const v = p["expect"]
  if (typeof v !== "object" || v === null) throw new Error(`step parameter "expect" must be an object`)
  return v as Record<string, string>
}
const decodePair = Schema.decodeUnknownSync(Pair.Pair)

/** Tolerance of the "later than the request" comparison (clock resolution of the vendor's timestamps). */
const TOLERANCE_MS = 1000

/**
 * Where, in the journal, a step was asked (its gate opened) or started — the
 * time a person was told to act.
 */
const askedAt = (records: ReadonlyArray<{ readonly event: { readonly _tag: string } }>, stepId: string) => {
  let opened: Date | undefined
  let started: Date | undefined
  for (const { event } of records) {
    const e = event as { _tag: string; stepId?: string; at?: Date }
    if (e.stepId !== stepId) continue
    if (e._tag === "GateOpened") opened = e.at
    if (e._tag === "StepStarted") started = e.at
  }
  return opened ?? started
}

/**
 * `last_data_sync` as the "Sync now" step read it when its gate was answered
 * (its evidence `lastDataSyncBefore`): `undefined` when that step recorded
 * none (e.g. the establish step of the first sync), `null` when no sync was
 * reported then.
 */
const syncAtAnswer = (records: ReadonlyArray<{ readonly event: { readonly _tag: string } }>, stepId: string) => {
  let seen: string | null | undefined
  for (const { event } of records) {
    const e = event as { _tag: string; stepId?: string; evidence?: Readonly<Record<string, unknown>> }
    if (e.stepId !== stepId || e._tag !== "StepSucceeded" || e.evidence === undefined) continue
    const v = e.evidence["lastDataSyncBefore"]
    if (v === null || typeof v === "string") seen = v
  }
  return seen
}

const lastSucceeded = (records: ReadonlyArray<{ readonly event: { readonly _tag: string } }>, stepId: string) => {
  let at: Date | undefined
  for (const { event } of records) {
    const e = event as { _tag: string; stepId?: string; at?: Date; effective?: boolean }
    if (e.stepId === stepId && (e._tag === "StepSucceeded" || (e._tag === "StepVerified" && e.effective))) at = e.at
  }
  return at
}

/**
 * The handlers, capturing their services.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.gen(function* () {
  const api = yield* ApplianceApi.ApplianceApi
  const journal = yield* Journal.Journal
  const traffic = yield* TrafficSwitch
  const prober = yield* Effect.serviceOption(SiteProber)

  const health = (id: string) => Effect.flatMap(api.appliance(id), (c) => c.health)

  const readRoles = (expect: Record<string, string>) =>
    Effect.gen(function* () {
      const seen: Record<string, string> = {}
      for (const id of Object.keys(expect)) seen[id] = (yield* health(id)).failoverRole
      const wrong = Object.keys(expect).filter((id) => seen[id] !== expect[id])
      return { seen, wrong }
    })

  const rolesMessage = (seen: Record<string, string>, expect: Record<string, string>) =>
    Object.keys(expect)
      .map((id) => `${id} is ${seen[id]} (expected ${expect[id]})`)
      .join(", ")

  const journalRecords = (runId: string) =>
    journal.read(runId).pipe(
      Effect.map((c) => c.records),
      Effect.mapError((e) => StepHandler.fail(`Cannot read the run journal: ${e.message}`))
    )

  const roles: StepHandler.Handler = {
    run: ({ step }) =>
      Effect.gen(function* () {
        const expect = roleMap(step.params)
        const { seen, wrong } = yield* readRoles(expect)
        if (wrong.length > 0)
          return yield* StepHandler.fail(
            `Failover roles are not as planned: ${rolesMessage(seen, expect)}. Check /login > Management > Failover on both appliances; plan again from the roles they hold now.`,
            { roles: seen }
          )
        return { roles: seen }
      })
  }

  const awaitRoles: StepHandler.Handler = {
    poll: ({ step }) =>
      Effect.map(readRoles(roleMap(step.params)), ({ seen, wrong }) => ({
        holds: wrong.length === 0,
        observed: seen,
        evidence: { roles: seen }
      }))
  }

  const syncRequested: StepHandler.Handler = {
    run: ({ step }) =>
      Effect.gen(function* () {
        const id = str(step.params, "appliance")
        const h = yield* health(id)
        if (h.failoverRole !== "primary")
          return yield* StepHandler.fail(
            `${id} reports failover_role ${h.failoverRole}, not primary: Sync now must be pressed on the primary of an established relationship (PAIR-4).`
          )
        return {
          role: h.failoverRole,
          lastDataSyncBefore: h.lastDataSync?.toISOString() ?? null,
          lastDataSyncStatusBefore: h.lastDataSyncStatus ?? null
        }
      })
  }

  const awaitSync: StepHandler.Handler = {
    poll: ({ runId, step }) =>
      Effect.gen(function* () {
        const id = str(step.params, "appliance")
        const since = str(step.params, "since")
        const records = yield* journalRecords(runId)
        const requested = askedAt(records, since) ?? new Date(yield* Clock.currentTimeMillis)
        const atAnswer = syncAtAnswer(records, since)
        const client = yield* api.appliance(id)
        const info = yield* client.apiInfo
        const skewMs = info.serverTime.getTime() - info.localTime.getTime()
        const h = yield* client.health
        const last = h.lastDataSync
        const observed = {
          role: h.failoverRole,
          lastDataSync: last?.toISOString() ?? null,
          status: h.lastDataSyncStatus ?? null,
          requestedAt: requested.toISOString(),
          ...(atAnswer !== undefined ? { lastDataSyncWhenAnswered: atAnswer } : {}),
          applianceClockSkewSeconds: Math.round(skewMs / 1000)
        }
        if (h.failoverRole !== "primary")
          return yield* StepHandler.fail(
            `${id} reports failover_role ${h.failoverRole}: the relationship is not established with ${id} as primary. Check /login > Management > Failover.`,
            observed
          )
        // A sync counts when it is reported later than the request, or when it is a newer record than the one
        // shown when the gate was answered: a sync already running then (a periodic one, PAIR-4) that has since
        // completed, whether the appliance dates it by its start or its end.
        const after =
          last !== undefined &&
          (last.getTime() - skewMs >= requested.getTime() - TOLERANCE_MS ||
            (atAnswer !== undefined && (atAnswer === null || last.getTime() > Date.parse(atAnswer))))
        if (after && h.lastDataSyncStatus !== "success")
          return yield* StepHandler.fail(
            `The data sync on ${id} finished with "${h.lastDataSyncStatus ?? "no status"}": do NOT break the relationship (nothing was changed). Check the failover page and the network between the appliances, then run again.`,
            observed
          )
        return { holds: after, observed, evidence: observed }
      })
  }

  const broken: StepHandler.Handler = {
    run: ({ step }) =>
      Effect.gen(function* () {
        const ids = step.params["appliances"] as ReadonlyArray<string>
        const expect = Object.fromEntries(ids.map((id) => [id, "none"]))
        const { seen, wrong } = yield* readRoles(expect)
        if (wrong.length > 0)
          return yield* StepHandler.fail(
            `The relationship is not broken: ${rolesMessage(seen, expect)}. Press "Break failover relationship" on the primary, then approve again.`,
            { roles: seen }
          )
        return { roles: seen }
      }),
    verify: ({ step }) =>
      Effect.map(
        readRoles(Object.fromEntries((step.params["appliances"] as ReadonlyArray<string>).map((id) => [id, "none"]))),
        ({ seen, wrong }) => ({ effective: wrong.length === 0, evidence: { roles: seen } })
      )
  }

  const confirmed: StepHandler.Handler = { run: () => Effect.succeed({}) }

  const establishedCheck = (p: Params) => {
    const primary = str(p, "primary")
    const backup = str(p, "backup")
    return readRoles({ [primary]: "primary", [backup]: "backup" })
  }
  const established: StepHandler.Handler = {
    run: ({ step }) =>
      Effect.gen(function* () {
        const expect = { [str(step.params, "primary")]: "primary", [str(step.params, "backup")]: "backup" }
        const { seen, wrong } = yield* establishedCheck(step.params)
        if (wrong.length > 0)
          return yield* StepHandler.fail(
            `The relationship is not established as planned: ${rolesMessage(seen, expect)}. Establish it on the appliance that must be primary, with the form values of this step (PAIR-7).`,
            { roles: seen }
          )
        return { roles: seen }
      }),
    verify: ({ step }) =>
      Effect.map(establishedCheck(step.params), ({ seen, wrong }) => ({
        effective: wrong.length === 0,
        evidence: { roles: seen }
      }))
  }

  const verifyAsSite: StepHandler.Handler = {
    run: ({ step }) =>
      Effect.gen(function* () {
        const id = str(step.params, "appliance")
        const url = str(step.params, "url")
        const hostname = str(step.params, "hostname")
        const version = str(step.params, "version")
        const build = optStr(step.params, "build")
        const serving = optStr(step.params, "servingNow") ?? "the appliance that serves it now"
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
        if (!h.healthy || !CoreHandlers.versionMatches(h, version, build))
          return yield* StepHandler.fail(
            `${id} answers ${h.version} (${h.build})${h.healthy ? "" : `, unhealthy: ${h.errorMessage ?? ""}`}, not ${version}: do not switch. ${rollback}`,
            evidence
          )
        return evidence
      })
  }

  const pairOf = (p: Params) => decodePair(p["pair"])

  const switchCheck = (p: Params) =>
    Effect.gen(function* () {
      const pair = pairOf(p)
      const from = pair.member(str(p, "from"))!
      const to = pair.member(str(p, "to"))!
      return { pair, from, to, check: yield* traffic.verify(pair, from, to) }
    })

  const switched: StepHandler.Handler = {
    run: ({ step }) =>
      Effect.gen(function* () {
        const pair = pairOf(step.params)
        const from = pair.member(str(step.params, "from"))!
        const to = pair.member(str(step.params, "to"))!
        const applied = yield* traffic.apply(pair, from, to)
        const check = yield* traffic.verify(pair, from, to)
        const evidence = {
          method: pair.traffic.method,
          automated: applied.automated,
          ...observationEvidence(check.observation)
        }
        // DNS needs time to propagate: the next wait checks who answers; a shared IP must be right at once
        if (pair.traffic.method === "shared-ip" && !check.holds)
          return yield* StepHandler.fail(`The switch is not complete: ${check.problems.join(" ")}`, evidence)
        return evidence
      }),
    verify: ({ step }) =>
      Effect.map(switchCheck(step.params), ({ check }) => ({
        effective: check.holds,
        evidence: observationEvidence(check.observation)
      }))
  }

  const servedByCheck = (p: Params) =>
    Effect.gen(function* () {
      const pair = pairOf(p)
      const to = pair.member(str(p, "appliance"))!
      const from = pair.peerOf(to.id)
      const check = yield* traffic.verify(pair, from, to)
      const version = optStr(p, "version")
      const problems = [...check.problems]
      const view = check.observation.members.find((m) => m.id === to.id)
      if (version !== undefined && view?.version !== undefined && view.version !== version)
        problems.push(`${to.id} runs ${view.version}, not ${version}.`)
      return { holds: problems.length === 0, problems, evidence: observationEvidence(check.observation) }
    })

  const servedBy: StepHandler.Handler = {
    run: ({ step }) =>
      Effect.gen(function* () {
        const r = yield* servedByCheck(step.params)
        if (!r.holds)
          return yield* StepHandler.fail(
            `The site is not served as planned: ${r.problems.join(" ")} Fix the traffic switch (or roll back to the appliance that served before), then run again.`,
            r.evidence
          )
        return r.evidence
      }),
    poll: ({ step }) =>
      Effect.map(servedByCheck(step.params), (r) => ({
        holds: r.holds,
        observed: r.holds ? r.evidence : { problems: r.problems },
        evidence: r.evidence
      }))
  }

  const setRole: StepHandler.Handler = {
    run: ({ step }) =>
      Effect.gen(function* () {
        const id = str(step.params, "appliance")
        const role = str(step.params, "role") as "primary" | "backup"
        const client = yield* api.appliance(id)
        const r = yield* client.setFailoverRole({
          role,
          dataSyncFirst: step.params["dataSyncFirst"] === true,
          force: false
        })
        return { message: r.message, syncStarted: r.syncStarted }
      }),
    verify: ({ step }) =>
      Effect.gen(function* () {
        const id = str(step.params, "appliance")
        const role = str(step.params, "role")
        const peer = optStr(step.params, "peer")
        const h = yield* health(id)
        const peerRole = peer === undefined ? undefined : (yield* health(peer)).failoverRole
        // done, or a planned swap under way (both appliances briefly show backup)
        const effective = h.failoverRole === role || (h.failoverRole === "backup" && peerRole === "backup")
        return { effective, evidence: { role: h.failoverRole, peerRole: peerRole ?? null } }
      })
  }

  const protection: StepHandler.Handler = {
    run: ({ runId, step }) =>
      Effect.gen(function* () {
        const records = yield* journalRecords(runId)
        const from = lastSucceeded(records, str(step.params, "from"))
        const to = lastSucceeded(records, str(step.params, "to"))
        if (from === undefined) return { unprotectedSeconds: 0, note: "the relationship was never broken" }
        const end = to ?? new Date(yield* Clock.currentTimeMillis)
        const seconds = Math.round((end.getTime() - from.getTime()) / 1000)
        const evidence = {
          brokenAt: from.toISOString(),
          restoredAt: to?.toISOString() ?? null,
          unprotectedSeconds: seconds
        }
        const max = step.params["maxSeconds"]
        if (typeof max === "number" && seconds > max)
          return yield* StepHandler.fail(
            `The pair had no failover protection for ${seconds} s, more than the ${max} s planned (PAIR-1).`,
            evidence
          )
        return evidence
      })
  }

  const availability: StepHandler.Handler = {
    run: () =>
      Option.match(prober, {
        onNone: () =>
          Effect.fail(
            StepHandler.fail(
              "No site prober ran during this run: provide SiteProber.layer to measure the site's downtime."
            )
          ),
        onSome: (p) =>
          Effect.map(p.snapshot, (s) => ({
            siteProbe: {
              url: s.url,
              intervalMillis: s.intervalMillis,
              sent: s.sent,
              failed: s.failed,
              longestOutageMillis: s.longestOutageMillis,
              unavailableMillis: s.unavailableMillis,
              outages: s.outages.map((o) => ({
                start: o.start.toISOString(),
                end: o.end?.toISOString() ?? null,
                failedProbes: o.failedProbes,
                durationMillis: o.durationMillis,
                lastError: o.lastError
              }))
            }
          }))
      })
  }

  return {
    [names.roles]: roles,
    [names.awaitRoles]: awaitRoles,
    [names.syncRequested]: syncRequested,
    [names.awaitSync]: awaitSync,
    [names.broken]: broken,
    [names.confirmed]: confirmed,
    [names.established]: established,
    [names.verifyAsSite]: verifyAsSite,
    [names.switched]: switched,
    [names.servedBy]: servedBy,
    [names.setRole]: setRole,
    [names.protection]: protection,
    [names.availability]: availability
  } satisfies Record<string, StepHandler.Handler>
})

const observationEvidence = (o: {
  readonly members: ReadonlyArray<{
    readonly id: string
    readonly reachable: boolean
    readonly failoverRole?: string | undefined
    readonly version?: string | undefined
    readonly enabledSharedIps: ReadonlyArray<string>
  }>
  readonly siteProbe: {
    readonly ok: boolean
    readonly status?: number | undefined
    readonly error?: string | undefined
  }
  readonly servedBy?: string | undefined
  readonly sharedIpHolders: ReadonlyArray<string>
}) => ({
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
 * The `failover/…` handlers as a registry layer (merge it with core's).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<
  StepHandler.StepHandlers,
  never,
  ApplianceApi.ApplianceApi | Journal.Journal | TrafficSwitch
> = StepHandler.layerEffect(make)
