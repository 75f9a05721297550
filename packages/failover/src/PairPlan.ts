/**
 * The two failover-pair planners (PAIR-*):
 *
 * - {@link planSynchronous} (PAIR-2, PAIR-5): A is upgraded first and stays
 *   primary; the site is down while A installs.
 * - {@link planAsynchronous} (PAIR-3, PAIR-6, SWITCH-*, VERIFY-3, VERIFY-4):
 *   B is upgraded first, verified *as the site* through its unique address,
 *   then the site moves to B; A is upgraded in the second window and the
 *   relationship is restored from B.
 *
 * Both: backup of A, "Sync now" and a wait until the sync succeeded, then the
 * break (PAIR-4); two maintenance windows with a bounded interval (PAIR-1);
 * restore on the appliance that is now primary with the exact form values
 * (PAIR-7); a wait for the first successful sync (PAIR-8); a roles check; the
 * time spent without failover protection and the measured site availability
 * in the report. Per-appliance install and verify steps are those of core's
 * single-appliance planner, reused as they are.
 *
 * Pure: no I/O, no clock.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { MaintenanceWindow, Plan, type Site, SingleUpgrade } from "@sra-upgrade/core"
import * as Pair from "./Pair.js"
import * as Relationship from "./Relationship.js"
import * as TrafficSwitch from "./TrafficSwitch.js"

/**
 * Handler names of the failover steps (all in `FailoverHandlers.layer`).
 *
 * @since 0.1.0
 * @category models
 */
export const handlers = {
  roles: "failover/roles",
  awaitRoles: "failover/await-roles",
  syncRequested: "failover/sync-requested",
  awaitSync: "failover/await-sync",
  broken: "failover/broken",
  confirmed: "failover/confirmed",
  established: "failover/established",
  verifyAsSite: "failover/verify-as-site",
  switched: "failover/switched",
  servedBy: "failover/served-by",
  setRole: "failover/set-role",
  protection: "failover/protection-report",
  availability: "failover/site-availability"
} as const

/**
 * Every handler name the failover plans use besides core's.
 *
 * @since 0.1.0
 * @category models
 */
export const handlerNames: ReadonlyArray<string> = Object.values(handlers)

/**
 * Options of both planners.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Versions observed on each appliance, by id (the planner does no I/O). */
  readonly current: Readonly<Record<string, SingleUpgrade.Current>>
  /** Window 1 (first appliance) and window 2 (second appliance) — PAIR-1. */
  readonly windows: readonly [MaintenanceWindow.MaintenanceWindow, MaintenanceWindow.MaintenanceWindow]
  /** Longest interval allowed between the end of window 1 and the start of window 2 (PAIR-1; default 72 h). */
  readonly maxIntervalHours?: number | undefined
  /** Where the site address is probed and which registry id reads health there. */
  readonly siteUrl?: string | undefined
  readonly siteClientId?: string | undefined
  /** Poll interval of the failover waits, seconds (default 30). */
  readonly pollIntervalSeconds?: number | undefined
  /** Deadline of a data sync (a sync takes seconds to hours, PAIR-8; default 6 h). */
  readonly syncDeadlineSeconds?: number | undefined
  /** Async only: swap roles back so that A ends primary (set_failover_role with a data sync first). */
  readonly swapBack?: boolean | undefined
  /** Passed to the single-appliance planner of each appliance. */
  readonly method?: SingleUpgrade.Method | undefined
  readonly updates?: SingleUpgrade.Options["updates"]
  readonly planId?: string | undefined
}

/**
 * Why a pair plan cannot be built.
 *
 * @since 0.1.0
 * @category errors
 */
export class PairPlanError extends Schema.TaggedError<PairPlanError>("@sra-upgrade/failover/PairPlanError")(
  "PairPlanError",
  {
    reason: Schema.Literal("NotAPair", "Windows", "Appliance"),
    message: Schema.String
  }
) {}

const ev = (name: string, description: string) => new Plan.EvidenceField({ name, description })
const R = (...ids: ReadonlyArray<string>) => ids.map((id) => Plan.RuleId.make(id))
const fail = (reason: PairPlanError["reason"], message: string) => Either.left(new PairPlanError({ reason, message }))

type Role = "first" | "second"

interface Parts {
  readonly pre: ReadonlyArray<Plan.Step>
  readonly install: ReadonlyArray<Plan.Step>
  readonly clients: ReadonlyArray<Plan.Step>
  readonly console: ReadonlyArray<Plan.Step>
  readonly targetVersion: string
  readonly build?: string | undefined
}

const isClientStep = (id: string, stepId: string) =>
  stepId === `${id}/jump-clients` || stepId === `${id}/jumpoints` || stepId.startsWith(`${id}/client-`)

/** Split the single-appliance plan of one appliance into the parts a pair plan places. */
const singleParts = (
  site: Site.Site,
  target: SingleUpgrade.TargetInput,
  options: Options,
  id: string,
  window: MaintenanceWindow.MaintenanceWindow
): Either.Either<Parts, PairPlanError> => {
  const current = options.current[id]
  if (current === undefined)
    return fail("Appliance", `Give the version observed on ${id} (options.current.${id}): read it from its health.`)
  const single = SingleUpgrade.planSingleUpgrade(site, target, {
    appliance: id,
    current,
    window,
    ...(options.method !== undefined ? { method: options.method } : {}),
    ...(options.updates !== undefined ? { updates: options.updates } : {}),
    ...(options.pollIntervalSeconds !== undefined ? { pollIntervalSeconds: options.pollIntervalSeconds } : {})
  })
  if (Either.isLeft(single)) return fail("Appliance", `${id}: ${single.left.message}`)
  const steps = single.right.steps
  const w = steps.findIndex((s) => s._tag === "Window")
  const pre = steps.slice(0, w)
  const after = steps.slice(w + 1)
  const verify = steps.find((s) => s.id === `${id}/verify`)
  const build = verify?.params["build"]
  return Either.right({
    pre,
    install: after.filter((s) => !isClientStep(id, s.id) && s.id !== `${id}/verify-console`),
    clients: after.filter((s) => isClientStep(id, s.id)),
    console: after.filter((s) => s.id === `${id}/verify-console`),
    targetVersion: single.right.targetVersion,
    ...(typeof build === "string" ? { build } : {})
  })
}

/** The steps of one appliance, as the pair plan uses them. */
const appliancePart = (parts: Parts, id: string, order: Role, serving: boolean) => ({
  // the second appliance repeats only the automated checks of the first
  pre: order === "first" ? parts.pre : parts.pre.filter((s) => s._tag === "Check"),
  // an appliance that does not serve the site disconnects nobody: no downtime gate
  install: parts.install.filter((s) => serving || (s.id !== `${id}/downtime` && s.id !== `${id}/report-disconnects`)),
  clients: serving ? parts.clients : [],
  console: parts.console
})

const encodePair = (pair: Pair.Pair) => Schema.encodeSync(Pair.Pair)(pair) as unknown as Record<string, unknown>

const rolesCheck = (id: string, title: string, rules: ReadonlyArray<string>, expect: Record<string, string>) =>
  new Plan.Check({
    id,
    title,
    rules: R(...rules),
    estimatedSeconds: 5,
    handler: handlers.roles,
    params: { expect },
    idempotent: true,
    severity: "blocking"
  })

const windowStep = (id: string, w: MaintenanceWindow.MaintenanceWindow, title: string, notes: Array<string>) =>
  new Plan.Window({
    id,
    title,
    rules: R("PAIR-1", "PREP-4"),
    estimatedSeconds: 0,
    handler: "failover/window",
    idempotent: true,
    window: w,
    notes
  })

/** VERIFY-4: a person confirms the new version works in production on `serving` before the other appliance is touched. */
const verifyInProduction = (
  pair: Pair.Pair,
  serving: Pair.Member,
  version: string,
  methodRule: string,
  title: string,
  instructions: Array<string>
) =>
  new Plan.ManualGate({
    id: "pair/verify-4",
    title,
    rules: R("VERIFY-4", methodRule),
    target: serving.id,
    estimatedSeconds: 300,
    handler: handlers.servedBy,
    params: { pair: encodePair(pair), appliance: serving.id, version },
    idempotent: true,
    instructions,
    evidence: [ev("observations", "what was checked in production")]
  })

/** Backup, Sync now, wait for the sync, break (PAIR-4). */
const backupSyncBreak = (site: Site.Site, pair: Pair.Pair, interval: number, syncDeadline: number) => {
  const a = pair.primary
  const b = pair.backup
  return [
    new Plan.Action({
      id: "pair/backup-A",
      title: `Download and verify a settings backup of ${a.id}`,
      rules: R("PAIR-4", "PREP-1"),
      target: a.id,
      estimatedSeconds: 120,
      handler: SingleUpgrade.handlers.downloadBackup,
      params: {
        appliance: a.id,
        directory: site.backup.directory,
        passwordProtected: site.backup.password !== undefined,
        label: "before-pair-upgrade"
      },
      idempotent: true,
      notes: ["Keep the backup password: without it the backup cannot be restored (PREP-1)."]
    }),
    new Plan.ManualGate({
      id: "pair/sync-now",
      title: `Sync now on ${a.id}`,
      rules: R("PAIR-4"),
      target: a.id,
      estimatedSeconds: 60,
      handler: handlers.syncRequested,
      params: { appliance: a.id, peer: b.id },
      idempotent: true,
      instructions: [
        `Open https://${a.uniqueIp}/login > Management > Failover on ${a.id} (the primary).`,
        'Press "Sync now". If a sync is already running ("A data sync is already running"), wait for it to finish; then press "Sync now" again unless that sync started after this step opened.',
        "Approve right away: the run then waits until the failover page (and health) reports a successful sync later than this request. A sync that was running when you approved counts once it has finished."
      ]
    }),
    new Plan.WaitFor({
      id: "pair/sync-wait",
      title: `Wait for the data sync ${a.id} → ${b.id} to succeed`,
      rules: R("PAIR-4"),
      target: a.id,
      estimatedSeconds: 300,
      handler: handlers.awaitSync,
      params: { appliance: a.id, since: "pair/sync-now" },
      idempotent: true,
      intervalSeconds: interval,
      deadlineSeconds: syncDeadline,
      notes: [
        "Holds when last_data_sync is later than the Sync now request, or newer than when the Sync now gate was answered (a sync already running then, finished since), and its status is success; a failed sync stops the run before anything is broken."
      ]
    }),
    new Plan.ManualGate({
      id: "pair/break",
      title: "Break the failover relationship",
      rules: R("PAIR-4", "PAIR-10"),
      target: a.id,
      estimatedSeconds: 60,
      handler: handlers.broken,
      params: { appliances: [a.id, b.id] },
      idempotent: true,
      instructions: [
        `On ${a.id}: /login > Management > Failover, press "Break failover relationship" and confirm.`,
        `Do not use "Become primary" on ${b.id}: it is only for when the primary has stopped responding (PAIR-10).`,
        "From now on the pair has no failover protection until the relationship is restored."
      ],
      notes: [
        "Verified by failover_role = none on both appliances.",
        "PAIR-10: breaking discards the backup's configuration other than the relationship itself; it is restored by the first sync after re-establishing."
      ]
    })
  ]
}

/** Inter-appliance key, establish with the exact form values, first sync, roles (PAIR-7, PAIR-8). */
const restore = (
  pair: Pair.Pair,
  primary: Pair.Member,
  backup: Pair.Member,
  interval: number,
  syncDeadline: number
) => [
  new Plan.ManualGate({
    id: "pair/keys",
    title: "Check that both appliances hold the same inter-appliance key",
    rules: R("PAIR-7"),
    estimatedSeconds: 120,
    handler: handlers.confirmed,
    params: { appliances: [primary.id, backup.id] },
    idempotent: true,
    instructions: [
      `On ${primary.id} and on ${backup.id}: /login > Management > Security, compare the inter-appliance key.`,
      "If they differ, copy the key of the primary to the other appliance and save: the relationship cannot be established otherwise."
    ],
    evidence: [ev("keysMatch", "yes, once both show the same key")]
  }),
  new Plan.ManualGate({
    id: "pair/establish",
    title: `Establish the relationship on ${primary.id} (primary) with ${backup.id} (backup)`,
    rules: R("PAIR-7"),
    target: primary.id,
    estimatedSeconds: 300,
    handler: handlers.established,
    params: { primary: primary.id, backup: backup.id },
    idempotent: false,
    instructions: [
      `On ${primary.id}, the appliance that will be primary: https://${primary.uniqueIp}/login > Management > Failover.`,
      `New backup site connection details: host ${backup.connectHost}, TLS port ${backup.tlsPort} (${backup.id}'s own unique IP).`,
      `Reverse connection details (how ${backup.id} reaches the primary): host ${primary.connectHost}, TLS port ${primary.tlsPort} (${primary.id}'s own unique IP).`,
      ...(pair.traffic.method === "shared-ip" ? [`Select the failover shared IP ${pair.traffic.sharedIp}.`] : []),
      'Press "Establish relationship".'
    ],
    notes: [
      "Unique IPs are preferred to host names (PAIR-7). Verified by failover_role: primary and backup as planned."
    ]
  }),
  new Plan.WaitFor({
    id: "pair/first-sync",
    title: `Wait for the first successful sync ${primary.id} → ${backup.id}`,
    rules: R("PAIR-8", "PAIR-9"),
    target: primary.id,
    estimatedSeconds: 300,
    handler: handlers.awaitSync,
    params: { appliance: primary.id, since: "pair/establish" },
    idempotent: true,
    intervalSeconds: interval,
    deadlineSeconds: syncDeadline,
    notes: [
      'The first data sync starts about 60 s after establishing ("Sync now" forces it); it takes seconds to hours. The restore is complete only when a sync succeeded (PAIR-8).',
      "PAIR-9: session data created on either appliance while the relationship was broken is synchronised by this sync."
    ]
  })
]

const trailer = (maxIntervalSeconds: number, extra: ReadonlyArray<Plan.Step> = []): ReadonlyArray<Plan.Step> => [
  ...extra,
  new Plan.Check({
    id: "pair/protection",
    title: "Time spent without failover protection",
    rules: R("PAIR-1"),
    estimatedSeconds: 1,
    handler: handlers.protection,
    params: { from: "pair/break", to: "pair/first-sync", maxSeconds: maxIntervalSeconds },
    idempotent: true,
    severity: "advisory"
  }),
  new Plan.Check({
    id: "pair/availability",
    title: "Measured site availability during the run",
    rules: R("PAIR-1"),
    estimatedSeconds: 1,
    handler: handlers.availability,
    idempotent: true,
    severity: "advisory",
    notes: ["Figures of the site prober (probes sent, failed, longest outage, total unavailable time)."]
  })
]

const validate = (
  site: Site.Site,
  options: Options
): Either.Either<{ pair: Pair.Pair; maxIntervalSeconds: number }, PairPlanError> => {
  const pair = Pair.fromSite(site, { siteUrl: options.siteUrl, siteClientId: options.siteClientId })
  if (Either.isLeft(pair)) return fail("NotAPair", pair.left.message)
  const [w1, w2] = options.windows
  const maxHours = options.maxIntervalHours ?? 72
  if (w2.start.getTime() < w1.end.getTime())
    return fail(
      "Windows",
      `Window 2 (${w2.label}) starts before window 1 (${w1.label}) ends: give two separate windows, one per appliance (PAIR-1).`
    )
  const gapHours = (w2.start.getTime() - w1.end.getTime()) / 3_600_000
  if (gapHours > maxHours)
    return fail(
      "Windows",
      `${gapHours.toFixed(1)} h between the windows is more than the ${maxHours} h allowed: the pair has no failover protection meanwhile. Move window 2 earlier or raise maxIntervalHours (PAIR-1).`
    )
  return Either.right({
    pair: pair.right,
    maxIntervalSeconds: maxHours * 3600 + w1.durationMinutes * 60 + w2.durationMinutes * 60
  })
}

/** What both methods start from: the validated pair, its members (`a` primary), the two windows, the polling figures. */
const prepare = (site: Site.Site, options: Options) =>
  Either.map(validate(site, options), ({ maxIntervalSeconds, pair }) => ({
    maxIntervalSeconds,
    pair,
    w1: options.windows[0],
    w2: options.windows[1],
    a: pair.primary,
    b: pair.backup,
    interval: options.pollIntervalSeconds ?? 30,
    syncDeadline: options.syncDeadlineSeconds ?? 6 * 3600
  }))

const finish = (
  pair: Pair.Pair,
  site: Site.Site,
  kind: "sync-pair" | "async-pair",
  title: string,
  targetVersion: string,
  steps: ReadonlyArray<Plan.Step>,
  notes: ReadonlyArray<string>,
  planId: string | undefined
): Either.Either<Plan.Plan, PairPlanError> =>
  Either.flatMap(
    Either.mapLeft(
      Schema.decodeUnknownEither(Plan.Plan)(
        Schema.encodeSync(Plan.Plan)(
          new Plan.Plan({
            id: planId ?? `${kind}-${site.hostname}-${targetVersion}`.replace(/[^A-Za-z0-9._-]+/g, "-"),
            kind,
            title,
            site: site.hostname,
            targetVersion,
            steps,
            notes
          })
        )
      ),
      (e) => new PairPlanError({ reason: "Appliance", message: e.message })
    ),
    (plan) => {
      // the order must be valid in the relationship machine and end restored
      const end = simulateRelationship(plan, pair.primary.id, pair.backup.id)
      if (Either.isLeft(end)) return fail("Appliance", `Internal planning error: ${end.left.message}`)
      if (!Relationship.isRestored(end.right))
        return fail("Appliance", "Internal planning error: the plan does not end with the relationship restored.")
      return Either.right(plan)
    }
  )

/**
 * The failover-relationship events a pair plan brings about, in order (the
 * steps that sync, break, move the site, establish and swap roles).
 *
 * @since 0.1.0
 * @category combinators
 */
export const relationshipEvents = (plan: Plan.Plan): ReadonlyArray<Relationship.Event> => {
  const E = Relationship.Event
  const events: Array<Relationship.Event> = []
  // in a relationship the machine moves the site with the roles (SwapRoles): a later DNS/NAT gate only follows it
  let inRelationship = true
  for (const s of plan.steps) {
    const p = s.params
    if (s.handler === handlers.awaitSync) events.push(E.SyncRequested(), E.SyncFinished({ ok: true }))
    else if (s.handler === handlers.broken) {
      events.push(E.Break())
      inRelationship = false
    } else if (s.handler === handlers.switched && !inRelationship)
      events.push(E.ReleaseSite({ appliance: String(p["from"]) }), E.TakeSite({ appliance: String(p["to"]) }))
    else if (s.handler === handlers.established) {
      events.push(E.Establish({ primary: String(p["primary"]), backup: String(p["backup"]) }))
      inRelationship = true
    } else if (s.handler === handlers.setRole)
      events.push(E.SyncRequested(), E.SyncFinished({ ok: true }), E.SwapRoles())
  }
  return events
}

/**
 * Replay a pair plan through the relationship machine from a healthy pair
 * (`primary` serving): the state it leaves the pair in, or the first event
 * the machine refuses (e.g. a break without a sync, two appliances serving,
 * a relationship defined on the appliance that does not serve the site).
 *
 * @since 0.1.0
 * @category combinators
 */
export const simulateRelationship = (
  plan: Plan.Plan,
  primary: string,
  backup: string
): Either.Either<Relationship.PairState, Relationship.InvalidTransition> =>
  Relationship.replay(Relationship.initial(primary, backup), relationshipEvents(plan))

const commonNotes = (
  pair: Pair.Pair,
  w1: MaintenanceWindow.MaintenanceWindow,
  w2: MaintenanceWindow.MaintenanceWindow
) => [
  `PAIR-1: two maintenance windows, ${w1.label} (${w1.start.toISOString()}) and ${w2.label} (${w2.start.toISOString()}); between them the pair has no failover protection: keep the interval short, long enough only to validate the new version in production.`,
  "PAIR-9: session data created on either appliance while the relationship is broken is synchronised automatically once it is restored.",
  "PAIR-10: never use Become Primary for a planned change; it is only for when the primary has stopped responding.",
  "PREP-5: test the update in a controlled environment first; strongly advised for failover pairs.",
  `Traffic switch: ${pair.traffic.method}.`
]

/**
 * Synchronous method (PAIR-2, PAIR-5): A first (stays primary), verify, B,
 * verify, restore from A. Longest downtime: the site is down while A installs.
 *
 * @since 0.1.0
 * @category constructors
 */
export const planSynchronous = (
  site: Site.Site,
  target: SingleUpgrade.TargetInput,
  options: Options
): Either.Either<Plan.Plan, PairPlanError> =>
  Either.gen(function* () {
    const { maxIntervalSeconds, pair, w1, w2, a, b, interval, syncDeadline } = yield* prepare(site, options)
    const pa = appliancePart(yield* singleParts(site, target, options, a.id, w1), a.id, "first", true)
    const pbParts = yield* singleParts(site, target, options, b.id, w2)
    const pb = appliancePart(pbParts, b.id, "second", false)
    const steps: Array<Plan.Step> = [
      ...pa.pre,
      ...pb.pre,
      rolesCheck("pair/roles-before", `${a.id} is primary and ${b.id} backup`, ["PREP-7", "PAIR-2"], {
        [a.id]: "primary",
        [b.id]: "backup"
      }),
      windowStep("pair/window-1", w1, `Maintenance window 1 (${w1.label}): ${a.id}`, [
        `The site is unavailable while ${a.id} installs (synchronous method, PAIR-2).`
      ]),
      ...backupSyncBreak(site, pair, interval, syncDeadline),
      // SINGLE-* on A (its own backup was just taken, PAIR-4)
      ...pa.install.filter((s) => s.id !== `${a.id}/backup`),
      ...pa.console,
      new Plan.Check({
        id: "pair/site-on-A",
        title: `The site answers from ${a.id} on the new version`,
        rules: R("PAIR-2", "PAIR-5", "VERIFY-1"),
        target: "site",
        estimatedSeconds: 5,
        handler: handlers.servedBy,
        params: { pair: encodePair(pair), appliance: a.id, version: pbParts.targetVersion },
        idempotent: true,
        severity: "blocking"
      }),
      ...pa.clients,
      windowStep("pair/window-2", w2, `Maintenance window 2 (${w2.label}): ${b.id}`, [
        `PAIR-1: the run pauses here durably; ${b.id} is upgraded only in this window.`
      ]),
      verifyInProduction(
        pair,
        a,
        pbParts.targetVersion,
        "PAIR-5",
        `Confirm ${pbParts.targetVersion} works in production before upgrading ${b.id}`,
        [
          `Review how ${a.id} behaved on ${pbParts.targetVersion} since window 1: sessions, consoles, integrations.`,
          `Reject to stop here (${b.id} still runs the old version and the pair stays broken; restore it from ${a.id} only once both run the same version).`
        ]
      ),
      ...pb.install,
      ...restore(pair, a, b, interval, syncDeadline),
      rolesCheck(
        "pair/roles-after",
        `${a.id} primary and ${b.id} backup, as the synchronous method promises`,
        ["PAIR-2", "PAIR-5"],
        {
          [a.id]: "primary",
          [b.id]: "backup"
        }
      ),
      ...trailer(maxIntervalSeconds)
    ]
    return yield* finish(
      pair,
      site,
      "sync-pair",
      `Synchronous upgrade of ${site.hostname} (${a.id} then ${b.id}) to ${pbParts.targetVersion}`,
      pbParts.targetVersion,
      steps,
      [
        `Synchronous method (PAIR-2): ${a.id} is upgraded first and stays primary; no failover event, longer downtime (the whole install of ${a.id}).`,
        `At the end ${a.id} is primary and ${b.id} backup.`,
        ...commonNotes(pair, w1, w2)
      ],
      options.planId
    )
  })

/**
 * Asynchronous method (PAIR-3, PAIR-6): B first, verified as the site
 * (VERIFY-3), the site moves to B (SWITCH-*), verify in production
 * (VERIFY-4), then A; the relationship is restored from B. Downtime: the
 * switch itself.
 *
 * @since 0.1.0
 * @category constructors
 */
export const planAsynchronous = (
  site: Site.Site,
  target: SingleUpgrade.TargetInput,
  options: Options
): Either.Either<Plan.Plan, PairPlanError> =>
  Either.gen(function* () {
    const { maxIntervalSeconds, pair, w1, w2, a, b, interval, syncDeadline } = yield* prepare(site, options)
    const pbParts = yield* singleParts(site, target, options, b.id, w1)
    const pb = appliancePart(pbParts, b.id, "first", false)
    const pa = appliancePart(yield* singleParts(site, target, options, a.id, w2), a.id, "second", false)
    const version = pbParts.targetVersion
    const encoded = encodePair(pair)
    const gate = TrafficSwitch.manualGate(pair, a, b)
    const gateBack = TrafficSwitch.manualGate(pair, b, a)
    const ic = TrafficSwitch.integrationClientGate(pair, a, b)
    const settle = gate.settleSeconds
    const asSiteParams = {
      appliance: b.id,
      servingNow: a.id,
      url: b.apiUrl,
      hostname: pair.siteHostname,
      version,
      ...(pbParts.build !== undefined ? { build: pbParts.build } : {})
    }
    /** The site address answers from `to` after a switch. */
    const switchSettled = (id: string, to: Pair.Member) =>
      new Plan.WaitFor({
        id,
        title: `Wait until the site address answers from ${to.id}`,
        rules: R(...gate.rules),
        target: "site",
        estimatedSeconds: settle,
        handler: handlers.servedBy,
        params: { pair: encoded, appliance: to.id, version },
        idempotent: true,
        intervalSeconds: Math.max(1, Math.min(interval, 30)),
        deadlineSeconds: settle * 2 + 600
      })
    const steps: Array<Plan.Step> = [
      ...pb.pre,
      ...pa.pre,
      rolesCheck("pair/roles-before", `${a.id} is primary and ${b.id} backup`, ["PREP-7", "PAIR-3"], {
        [a.id]: "primary",
        [b.id]: "backup"
      }),
      windowStep("pair/window-1", w1, `Maintenance window 1 (${w1.label}): ${b.id}, then the switch`, [
        `${a.id} keeps serving the site while ${b.id} installs (asynchronous method, PAIR-3).`
      ]),
      ...backupSyncBreak(site, pair, interval, syncDeadline),
      ...pb.install,
      new Plan.Check({
        id: "pair/verify-as-site",
        title: `${b.id} answers as the site on its unique address`,
        rules: R("VERIFY-3", "PAIR-6"),
        target: b.id,
        estimatedSeconds: 5,
        handler: handlers.verifyAsSite,
        params: asSiteParams,
        idempotent: true,
        severity: "blocking",
        notes: [
          `Sends the load-balancer probe and the health call to ${b.id}'s unique address with ${pair.siteHostname} as Host/SNI: what the hosts-file override of VERIFY-3 achieves.`
        ]
      }),
      new Plan.ManualGate({
        id: "pair/hosts-override",
        title: `Verify ${b.id} as the site from two machines (hosts-file override)`,
        rules: R("VERIFY-3", "VERIFY-2"),
        target: b.id,
        estimatedSeconds: 900,
        handler: handlers.verifyAsSite,
        params: asSiteParams,
        idempotent: true,
        instructions: [
          `On at least two local machines that reach ${b.id}, add to the hosts file: ${b.uniqueIp} ${pair.siteHostname}`,
          `On each, launch the access console against ${pair.siteHostname} (it upgrades itself), check Help > About shows ${version}, and open a session to a remote computer.`,
          "Remove the hosts-file lines afterwards.",
          `Reject if anything fails: production traffic is still on ${a.id}; see the rollback note of this plan.`
        ],
        evidence: [
          ev("machine1", "first machine used"),
          ev("machine2", "second machine used"),
          ev("consoleVersion", "version shown in Help > About"),
          ev("session", "endpoint a session was opened to")
        ],
        notes: [
          `Rollback if ${b.id} fails verification: traffic never left ${a.id}. Keep ${a.id} serving on the old version; reinstall ${b.id} or restore it from the backup, bring it to ${a.id}'s version, then re-establish the relationship from ${a.id} (PAIR-7).`
        ]
      }),
      new Plan.ManualGate({
        id: "pair/switch",
        title: gate.title,
        rules: R(...gate.rules, "PAIR-6", "PAIR-3"),
        target: "site",
        estimatedSeconds: 120,
        handler: handlers.switched,
        params: { pair: encoded, from: a.id, to: b.id },
        idempotent: true,
        instructions: [`PREP-4: users logged in to ${a.id} are disconnected by the switch.`, ...gate.instructions],
        evidence: gate.evidence.map((e) => ev(e.name, e.description)),
        notes: [
          "Verified through the API: enabled_shared_ips on both appliances and which appliance answers on the site address."
        ]
      }),
      switchSettled("pair/switch-settled", b),
      new Plan.ManualGate({
        id: "pair/integration-clients",
        title: ic.title,
        rules: R(...ic.rules),
        target: "site",
        estimatedSeconds: 600,
        handler: handlers.servedBy,
        params: { pair: encoded, appliance: b.id, version },
        idempotent: true,
        instructions: ic.instructions,
        evidence: ic.evidence.map((e) => ev(e.name, e.description))
      }),
      // PAIR-6: verify B again once it serves the site (VERIFY-2 through the site name)
      ...pb.console,
      ...pbParts.clients,
      windowStep("pair/window-2", w2, `Maintenance window 2 (${w2.label}): ${a.id}`, [
        `PAIR-1: the run pauses here durably; ${b.id} serves the site meanwhile, without failover protection.`
      ]),
      verifyInProduction(
        pair,
        b,
        version,
        "PAIR-6",
        `Confirm ${version} works in this environment before upgrading ${a.id}`,
        [
          `Review how ${b.id} served production on ${version} since the switch: sessions, consoles, integrations.`,
          `Reject to stop before ${a.id} is touched: ${a.id} still runs the old version and can take the site back (reverse the switch).`
        ]
      ),
      ...pa.install,
      ...restore(pair, b, a, interval, syncDeadline),
      rolesCheck(
        "pair/roles-after",
        `${b.id} primary and ${a.id} backup, as the asynchronous method promises`,
        ["PAIR-3", "PAIR-6"],
        {
          [b.id]: "primary",
          [a.id]: "backup"
        }
      )
    ]
    const swapBack: Array<Plan.Step> = options.swapBack
      ? [
          new Plan.Action({
            id: "pair/swap-back",
            title: `Make ${a.id} primary again (data sync first)`,
            rules: R("PAIR-3", "PAIR-10"),
            target: a.id,
            estimatedSeconds: 300,
            handler: handlers.setRole,
            params: { appliance: a.id, peer: b.id, role: "primary", dataSyncFirst: true },
            idempotent: false,
            notes: [
              "set_failover_role with data_sync_first: a planned swap after a sync, never Become Primary (PAIR-10). Everyone is disconnected."
            ]
          }),
          new Plan.WaitFor({
            id: "pair/swap-back-roles",
            title: `Wait until ${a.id} is primary and ${b.id} backup`,
            rules: R("PAIR-3"),
            estimatedSeconds: 120,
            handler: handlers.awaitRoles,
            params: { expect: { [a.id]: "primary", [b.id]: "backup" } },
            idempotent: true,
            intervalSeconds: Math.max(1, Math.min(interval, 30)),
            deadlineSeconds: syncDeadline
          }),
          ...(pair.traffic.method === "shared-ip"
            ? []
            : [
                new Plan.ManualGate({
                  id: "pair/switch-back",
                  title: gateBack.title,
                  rules: R(...gateBack.rules),
                  target: "site",
                  estimatedSeconds: 120,
                  handler: handlers.switched,
                  params: { pair: encoded, from: b.id, to: a.id },
                  idempotent: true,
                  instructions: gateBack.instructions,
                  evidence: gateBack.evidence.map((e) => ev(e.name, e.description))
                })
              ]),
          switchSettled("pair/switch-back-settled", a)
        ]
      : []
    steps.push(...trailer(maxIntervalSeconds, swapBack))
    return yield* finish(
      pair,
      site,
      "async-pair",
      `Asynchronous upgrade of ${site.hostname} (${b.id} then ${a.id}) to ${version}`,
      version,
      steps,
      [
        `Asynchronous method (PAIR-3): ${b.id} is upgraded first and becomes primary; the downtime is the switch itself.`,
        options.swapBack
          ? `At the end ${a.id} is primary again (swap back with set_failover_role and a data sync first).`
          : `At the end ${b.id} is primary and ${a.id} backup. To make ${a.id} primary again, plan with swapBack (set_failover_role with a data sync first).`,
        `Rollback before the switch: traffic stays on ${a.id}; bring ${b.id} back to ${a.id}'s version and re-establish the relationship from ${a.id}.`,
        ...commonNotes(pair, w1, w2)
      ],
      options.planId
    )
  })
