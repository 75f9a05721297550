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
 * in the report. What the single plans say at plan level is kept: each
 * window checked against the PREP-3 estimate of its appliance, the CLIENT-*
 * notes; window 2 starts with a check of all Jump Clients (CLIENT-10), and
 * the asynchronous plan reports who is logged in to A before the switch
 * (PREP-4). Per-appliance checks, installs and verifications are the
 * sections of core's single-appliance planner (`SingleUpgrade.sections`);
 * the failover steps are built with the definitions of `FailoverSteps`.
 *
 * Pure: no I/O, no clock. A plan that the relationship machine refuses is a
 * bug of this planner (a defect), never a user error.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import {
  CoreSteps,
  GateEvidence,
  JumpClientRollout,
  type MaintenanceWindow,
  Plan,
  type Site,
  SingleUpgrade
} from "@sra-upgrade/core"
import * as FailoverSteps from "./FailoverSteps.js"
import * as Pair from "./Pair.js"
import * as Relationship from "./Relationship.js"
import * as TrafficSwitch from "./TrafficSwitch.js"

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

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

/**
 * The site is not a pair that can be planned (see the nested `PairError`).
 *
 * @since 0.3.0
 * @category models
 */
export class NotAPair extends Schema.TaggedClass<NotAPair>()("NotAPair", { error: Pair.PairError }) {}

/**
 * Window 2 starts before window 1 ends (PAIR-1).
 *
 * @since 0.3.0
 * @category models
 */
export class WindowsOverlap extends Schema.TaggedClass<WindowsOverlap>()("WindowsOverlap", {
  first: Schema.String,
  second: Schema.String
}) {}

/**
 * The windows are further apart than the pair may stay without failover protection (PAIR-1).
 *
 * @since 0.3.0
 * @category models
 */
export class WindowsTooFarApart extends Schema.TaggedClass<WindowsTooFarApart>()("WindowsTooFarApart", {
  gapHours: Schema.Number,
  maxHours: Schema.Number
}) {}

/**
 * No observed version was given for an appliance of the pair.
 *
 * @since 0.3.0
 * @category models
 */
export class MissingCurrent extends Schema.TaggedClass<MissingCurrent>()("MissingCurrent", {
  appliance: Schema.String
}) {}

/**
 * The upgrade of one appliance cannot be planned (see the nested `SingleUpgradeError`).
 *
 * @since 0.3.0
 * @category models
 */
export class SingleAppliance extends Schema.TaggedClass<SingleAppliance>()("SingleAppliance", {
  appliance: Schema.String,
  error: SingleUpgrade.SingleUpgradeError
}) {}

/**
 * @since 0.3.0
 * @category models
 */
export const PairPlanErrorReason = Schema.Union(
  NotAPair,
  WindowsOverlap,
  WindowsTooFarApart,
  MissingCurrent,
  SingleAppliance
)

/**
 * @since 0.3.0
 * @category models
 */
export type PairPlanErrorReason = typeof PairPlanErrorReason.Type

/**
 * Why a pair plan cannot be built; the message says what to change.
 *
 * @since 0.1.0
 * @category errors
 */
export class PairPlanError extends Schema.TaggedError<PairPlanError>("@sra-upgrade/failover/PairPlanError")(
  "PairPlanError",
  { reason: PairPlanErrorReason }
) {
  /**
   * @since 0.3.0
   */
  override get message(): string {
    const r = this.reason
    switch (r._tag) {
      case "NotAPair":
        return r.error.message
      case "WindowsOverlap":
        return `Window 2 (${r.second}) starts before window 1 (${r.first}) ends: give two separate windows, one per appliance (PAIR-1).`
      case "WindowsTooFarApart":
        return `${r.gapHours.toFixed(1)} h between the windows is more than the ${r.maxHours} h allowed: the pair has no failover protection meanwhile. Move window 2 earlier or raise maxIntervalHours (PAIR-1).`
      case "MissingCurrent":
        return `Give the version observed on ${r.appliance} (options.current.${r.appliance}): read it from its health.`
      case "SingleAppliance":
        return `${r.appliance}: ${r.error.message}`
    }
  }
}

const fail = (reason: PairPlanErrorReason) => Either.left(new PairPlanError({ reason }))

// ---------------------------------------------------------------------------
// inputs
// ---------------------------------------------------------------------------

/** What both methods start from, decided once. */
interface Context {
  readonly site: Site.Site
  readonly options: Options
  readonly pair: Pair.Pair
  /** Primary now. */
  readonly a: Pair.Member
  /** Backup now. */
  readonly b: Pair.Member
  readonly w1: MaintenanceWindow.MaintenanceWindow
  readonly w2: MaintenanceWindow.MaintenanceWindow
  /** PAIR-1 bound of the time without failover protection, seconds. */
  readonly maxIntervalSeconds: number
  readonly interval: number
  readonly syncDeadline: number
}

/** The validated pair, its members (`a` primary), the two windows (PAIR-1), the polling figures. */
const prepare = (site: Site.Site, options: Options): Either.Either<Context, PairPlanError> => {
  const pair = Pair.fromSite(site, { siteUrl: options.siteUrl, siteClientId: options.siteClientId })
  if (Either.isLeft(pair)) return fail(new NotAPair({ error: pair.left }))
  const [w1, w2] = options.windows
  const maxHours = options.maxIntervalHours ?? 72
  if (w2.start.getTime() < w1.end.getTime()) return fail(new WindowsOverlap({ first: w1.label, second: w2.label }))
  const gapHours = (w2.start.getTime() - w1.end.getTime()) / 3_600_000
  if (gapHours > maxHours) return fail(new WindowsTooFarApart({ gapHours, maxHours }))
  return Either.right({
    site,
    options,
    pair: pair.right,
    a: pair.right.primary,
    b: pair.right.backup,
    w1,
    w2,
    maxIntervalSeconds: maxHours * 3600 + w1.durationMinutes * 60 + w2.durationMinutes * 60,
    interval: options.pollIntervalSeconds ?? 30,
    syncDeadline: options.syncDeadlineSeconds ?? 6 * 3600
  })
}

/** The single-appliance sections of one member, installed in `window`. */
const sectionsOf = (
  c: Context,
  target: SingleUpgrade.TargetInput,
  id: string,
  window: MaintenanceWindow.MaintenanceWindow
): Either.Either<SingleUpgrade.Sections, PairPlanError> => {
  const current = c.options.current[id]
  if (current === undefined) return fail(new MissingCurrent({ appliance: id }))
  const o = c.options
  return Either.mapLeft(
    SingleUpgrade.sections(c.site, target, {
      appliance: id,
      current,
      window,
      failoverPair: true,
      ...(o.method !== undefined ? { method: o.method } : {}),
      ...(o.updates !== undefined ? { updates: o.updates } : {}),
      ...(o.pollIntervalSeconds !== undefined ? { pollIntervalSeconds: o.pollIntervalSeconds } : {})
    }),
    (error) => new PairPlanError({ reason: new SingleAppliance({ appliance: id, error }) })
  )
}

/** The steps of one appliance, as a pair plan places them. */
interface Part {
  /** Before window 1: all its checks and gates (first appliance) or its automated checks only (second). */
  readonly pre: ReadonlyArray<Plan.Step>
  /** Inside its window: backup, certificate export, installs, VERIFY-1. */
  readonly install: ReadonlyArray<Plan.Step>
  /** VERIFY-2: the console check. */
  readonly console: ReadonlyArray<Plan.Step>
}

const part = (
  s: SingleUpgrade.Sections,
  options: {
    readonly order: "first" | "second"
    /** An appliance that serves the site while it installs disconnects its users (PREP-4 report). */
    readonly serving: boolean
    /** Its own settings backup (the pair's backup of A replaces it in the synchronous method). */
    readonly backup: boolean
  }
): Part => ({
  pre: options.order === "first" ? s.checks : s.checks.filter((step) => step._tag === "Check"),
  install: [
    ...(options.serving ? s.disconnects : []),
    ...(options.backup ? s.backup : []),
    ...s.certificateExport,
    ...s.installs,
    ...s.verify
  ],
  console: s.console
})

// ---------------------------------------------------------------------------
// the failover steps, one function per part
// ---------------------------------------------------------------------------

type Roles = Readonly<Record<string, "primary" | "backup" | "none">>

/** PREP-7 / the method's promise: the roles read back. */
const rolesCheck = (id: string, title: string, rules: ReadonlyArray<string>, expect: Roles) =>
  FailoverSteps.Roles.check({ id, title, rules, estimatedSeconds: 5 }, { expect })

const lowTraffic = SingleUpgrade.lowTrafficNote

/** One of the pair's two windows (PAIR-1, PREP-4), with the PREP-3 estimate of the appliance installed in it. */
const windowStep = (
  id: string,
  w: MaintenanceWindow.MaintenanceWindow,
  title: string,
  installed: SingleUpgrade.Sections,
  notes: ReadonlyArray<string>
) =>
  FailoverSteps.window(
    {
      id,
      title,
      rules: ["PAIR-1", "PREP-4", "PREP-3"],
      estimatedSeconds: 0,
      notes: [...notes, `${installed.appliance}: ${installed.estimateNote}`, lowTraffic]
    },
    w
  )

/**
 * What the single-appliance plans of both members say at plan level, kept in
 * the pair plan: each window checked against the install of its appliance
 * (PREP-3), the two estimates compared (the guide: « durée identique sur les
 * deux serveurs », l.151, PAIR-1), and the client and method notes once.
 */
const memberNotes = (
  first: SingleUpgrade.Sections,
  second: SingleUpgrade.Sections
): { readonly warnings: ReadonlyArray<string>; readonly notes: ReadonlyArray<string> } => {
  const warnings = [first, second].flatMap((s) => s.warnings.map((w) => `${s.appliance}: ${w}`))
  const [low, high] = [first.installMinutes, second.installMinutes].sort((x, y) => x - y) as [number, number]
  if (high > low * 1.25 && high - low >= 10)
    warnings.push(
      `Warning (PAIR-1, PREP-3): the installs are estimated at ${first.installMinutes} min on ${first.appliance} and ${second.installMinutes} min on ${second.appliance}, but the guide expects the same duration on both servers: check storedDataGb of both appliances, and size both windows for ${high} min.`
    )
  const notes = [...new Set([...first.notes, ...second.notes])]
  return { warnings, notes }
}

/** VERIFY-4: a person confirms the new version works in production on `serving` before the other appliance is touched. */
const verifyInProduction = (
  c: Context,
  serving: Pair.Member,
  version: string,
  methodRule: string,
  title: string,
  instructions: ReadonlyArray<string>
) =>
  FailoverSteps.servedByGate(
    {
      id: "pair/verify-4",
      title,
      rules: ["VERIFY-4", methodRule],
      target: serving.id,
      estimatedSeconds: 300,
      instructions
    },
    { pair: c.pair, appliance: serving.id, version },
    { observations: GateEvidence.text("what was checked in production") }
  )

/** Backup of A, Sync now, wait for the sync, break (PAIR-4). */
const backupSyncBreak = (c: Context): ReadonlyArray<Plan.Step> => {
  const { a, b } = c
  return [
    CoreSteps.backupStep({
      id: "pair/backup-A",
      title: `Download and verify a settings backup of ${a.id}`,
      rules: ["PAIR-4", "PREP-1"],
      appliance: a.id,
      directory: c.site.backup.directory,
      passwordProtected: c.site.backup.password !== undefined,
      label: "before-pair-upgrade"
    }),
    FailoverSteps.SyncRequested.gate(
      {
        id: "pair/sync-now",
        title: `Sync now on ${a.id}`,
        rules: ["PAIR-4"],
        target: a.id,
        estimatedSeconds: 60,
        instructions: [
          `Open https://${a.uniqueIp}/login > Management > Failover on ${a.id} (the primary).`,
          'Press "Sync now". If a sync is already running ("A data sync is already running"), wait for it to finish; then press "Sync now" again unless that sync started after this step opened.',
          "Approve right away: the run then waits until the failover page (and health) reports a successful sync later than this request. A sync that was running when you approved counts once it has finished."
        ]
      },
      { appliance: a.id, peer: b.id }
    ),
    FailoverSteps.AwaitSync.wait(
      {
        id: "pair/sync-wait",
        title: `Wait for the data sync ${a.id} → ${b.id} to succeed`,
        rules: ["PAIR-4"],
        target: a.id,
        estimatedSeconds: 300,
        intervalSeconds: c.interval,
        deadlineSeconds: c.syncDeadline,
        notes: [
          "Holds when last_data_sync is later than the Sync now request, or newer than when the Sync now gate was answered (a sync already running then, finished since), and its status is success; a failed sync stops the run before anything is broken."
        ]
      },
      { appliance: a.id, since: "pair/sync-now" }
    ),
    FailoverSteps.Broken.gate(
      {
        id: "pair/break",
        title: "Break the failover relationship",
        rules: ["PAIR-4", "PAIR-10"],
        target: a.id,
        estimatedSeconds: 60,
        instructions: [
          `On ${a.id}: /login > Management > Failover, press "Break failover relationship" and confirm.`,
          `Do not use "Become primary" on ${b.id}: it is only for when the primary has stopped responding (PAIR-10).`,
          "From now on the pair has no failover protection until the relationship is restored."
        ],
        notes: [
          "Verified by failover_role = none on both appliances.",
          "PAIR-10: breaking discards the backup's configuration other than the relationship itself; it is restored by the first sync after re-establishing."
        ]
      },
      { appliances: [a.id, b.id] }
    )
  ]
}

/** Inter-appliance key, establish with the exact form values, first sync (PAIR-7, PAIR-8). */
const restore = (c: Context, primary: Pair.Member, backup: Pair.Member): ReadonlyArray<Plan.Step> => [
  FailoverSteps.ConfirmKeys.gate(
    {
      id: "pair/keys",
      title: "Check that both appliances hold the same inter-appliance key",
      rules: ["PAIR-7"],
      estimatedSeconds: 120,
      instructions: [
        `On ${primary.id} and on ${backup.id}: /login > Management > Security, compare the inter-appliance key.`,
        "If they differ, copy the key of the primary to the other appliance and save: the relationship cannot be established otherwise."
      ]
    },
    { appliances: [primary.id, backup.id] }
  ),
  FailoverSteps.Established.gate(
    {
      id: "pair/establish",
      title: `Establish the relationship on ${primary.id} (primary) with ${backup.id} (backup)`,
      rules: ["PAIR-7"],
      target: primary.id,
      estimatedSeconds: 300,
      instructions: [
        `On ${primary.id}, the appliance that will be primary: https://${primary.uniqueIp}/login > Management > Failover.`,
        `New backup site connection details: host ${backup.connectHost}, TLS port ${backup.tlsPort} (${backup.id}'s own unique IP).`,
        `Reverse connection details (how ${backup.id} reaches the primary): host ${primary.connectHost}, TLS port ${primary.tlsPort} (${primary.id}'s own unique IP).`,
        ...(c.pair.traffic.method === "shared-ip" ? [`Select the failover shared IP ${c.pair.traffic.sharedIp}.`] : []),
        'Press "Establish relationship".'
      ],
      notes: [
        "Unique IPs are preferred to host names (PAIR-7). Verified by failover_role: primary and backup as planned."
      ]
    },
    { primary: primary.id, backup: backup.id }
  ),
  FailoverSteps.AwaitSync.wait(
    {
      id: "pair/first-sync",
      title: `Wait for the first successful sync ${primary.id} → ${backup.id}`,
      rules: ["PAIR-8", "PAIR-9"],
      target: primary.id,
      estimatedSeconds: 300,
      intervalSeconds: c.interval,
      deadlineSeconds: c.syncDeadline,
      notes: [
        'The first data sync starts about 60 s after establishing ("Sync now" forces it); it takes seconds to hours. The restore is complete only when a sync succeeded (PAIR-8).',
        "PAIR-9: session data created on either appliance while the relationship was broken is synchronised by this sync."
      ]
    },
    { appliance: primary.id, since: "pair/establish" }
  )
]

/** PAIR-1: the time without failover protection and the measured availability (advisory). */
const trailer = (c: Context): ReadonlyArray<Plan.Step> => [
  FailoverSteps.Protection.check(
    { id: "pair/protection", title: "Time spent without failover protection", rules: ["PAIR-1"], estimatedSeconds: 1 },
    { from: "pair/break", to: "pair/first-sync", maxSeconds: c.maxIntervalSeconds }
  ),
  FailoverSteps.Availability.check(
    {
      id: "pair/availability",
      title: "Measured site availability during the run",
      rules: ["PAIR-1"],
      estimatedSeconds: 1,
      notes: ["Figures of the site prober (probes sent, failed, longest outage, total unavailable time)."]
    },
    {}
  )
]

/** The site address answers from `to` after a switch (a DNS record may take its TTL). */
const switchSettled = (c: Context, id: string, to: Pair.Member, version: string) => {
  const settle = TrafficSwitch.manualGate(c.pair, c.a, c.b).settleSeconds
  return FailoverSteps.ServedBy.wait(
    {
      id,
      title: `Wait until the site address answers from ${to.id}`,
      rules: TrafficSwitch.manualGate(c.pair, c.a, c.b).rules,
      target: "site",
      estimatedSeconds: settle,
      intervalSeconds: Math.max(1, Math.min(c.interval, 30)),
      deadlineSeconds: settle * 2 + 600
    },
    { pair: c.pair, appliance: to.id, version }
  )
}

/**
 * PREP-4 in the asynchronous method: A serves the site until the switch,
 * which disconnects everyone logged in to it; A's disconnect report (which
 * the single plan places before its install) comes right before the switch.
 */
const disconnectsBeforeSwitch = (c: Context, sa: SingleUpgrade.Sections): ReadonlyArray<Plan.Step> =>
  sa.disconnects.map((s) =>
    s._tag === "Check"
      ? new Plan.Check({
          ...s,
          title: `Report who is logged in to ${c.a.id}: the switch to ${c.b.id} disconnects them`,
          notes: [
            `Lists the users logged in to ${c.a.id} (names) and counts their sessions and connected clients: moving the site to ${c.b.id} logs them out and ends the sessions (PREP-4). Warn them, or wait for a quieter moment.`,
            ...s.notes.slice(1)
          ]
        })
      : s
  )

/** VERIFY-3 (B as the site, then two people through a hosts-file override), the switch (SWITCH-*), SWITCH-4. */
const switchToB = (c: Context, sb: SingleUpgrade.Sections, sa: SingleUpgrade.Sections): ReadonlyArray<Plan.Step> => {
  const { a, b, pair } = c
  const version = sb.targetVersion
  const gate = TrafficSwitch.manualGate(pair, a, b)
  const ic = TrafficSwitch.integrationClientGate(pair, a, b)
  const asSite = {
    appliance: b.id,
    servingNow: a.id,
    url: b.apiUrl,
    hostname: pair.siteHostname,
    version,
    ...(sb.targetBuild !== undefined ? { build: sb.targetBuild } : {})
  }
  return [
    FailoverSteps.VerifyAsSite.check(
      {
        id: "pair/verify-as-site",
        title: `${b.id} answers as the site on its unique address`,
        rules: ["VERIFY-3", "PAIR-6"],
        target: b.id,
        estimatedSeconds: 5,
        notes: [
          `Sends the load-balancer probe and the health call to ${b.id}'s unique address with ${pair.siteHostname} as Host/SNI: what the hosts-file override of VERIFY-3 achieves.`
        ]
      },
      asSite
    ),
    FailoverSteps.VerifyAsSite.gate(
      {
        id: "pair/hosts-override",
        title: `Verify ${b.id} as the site from two machines (hosts-file override)`,
        rules: ["VERIFY-3", "VERIFY-2"],
        target: b.id,
        estimatedSeconds: 900,
        instructions: [
          `On at least two local machines that reach ${b.id}, add to the hosts file: ${b.uniqueIp} ${pair.siteHostname}`,
          `On each, launch the access console against ${pair.siteHostname} (it upgrades itself), check Help > About shows ${version}, and open a session to a remote computer.`,
          "Remove the hosts-file lines afterwards.",
          `Reject if anything fails: production traffic is still on ${a.id}; see the rollback note of this plan.`
        ],
        notes: [
          `Rollback if ${b.id} fails verification: traffic never left ${a.id}. Keep ${a.id} serving on the old version; reinstall ${b.id} or restore it from the backup, bring it to ${a.id}'s version, then re-establish the relationship from ${a.id} (PAIR-7).`
        ]
      },
      asSite
    ),
    ...disconnectsBeforeSwitch(c, sa),
    FailoverSteps.Switched.gate(
      {
        id: "pair/switch",
        title: gate.title,
        rules: [...gate.rules, "PAIR-6", "PAIR-3"],
        target: "site",
        estimatedSeconds: 120,
        instructions: [`PREP-4: users logged in to ${a.id} are disconnected by the switch.`, ...gate.instructions],
        notes: [
          "Verified through the API: enabled_shared_ips on both appliances and which appliance answers on the site address."
        ]
      },
      { pair, from: a.id, to: b.id }
    ),
    switchSettled(c, "pair/switch-settled", b, version),
    FailoverSteps.servedByGate(
      {
        id: "pair/integration-clients",
        title: ic.title,
        rules: ic.rules,
        target: "site",
        estimatedSeconds: 600,
        instructions: ic.instructions
      },
      { pair, appliance: b.id, version },
      Object.fromEntries(ic.evidence.map((e) => [e.name, GateEvidence.text(e.description)]))
    )
  ]
}

/** Async `swapBack`: A primary again with a data sync first (PAIR-3, PAIR-10), the site following it. */
const swapBack = (c: Context, version: string): ReadonlyArray<Plan.Step> => {
  const { a, b, pair } = c
  const gateBack = TrafficSwitch.manualGate(pair, b, a)
  return [
    FailoverSteps.SetRole.action(
      {
        id: "pair/swap-back",
        title: `Make ${a.id} primary again (data sync first)`,
        rules: ["PAIR-3", "PAIR-10"],
        target: a.id,
        estimatedSeconds: 300,
        notes: [
          "set_failover_role with data_sync_first: a planned swap after a sync, never Become Primary (PAIR-10). Everyone is disconnected."
        ]
      },
      { appliance: a.id, peer: b.id, role: "primary", dataSyncFirst: true }
    ),
    FailoverSteps.AwaitRoles.wait(
      {
        id: "pair/swap-back-roles",
        title: `Wait until ${a.id} is primary and ${b.id} backup`,
        rules: ["PAIR-3"],
        estimatedSeconds: 120,
        intervalSeconds: Math.max(1, Math.min(c.interval, 30)),
        deadlineSeconds: c.syncDeadline
      },
      { expect: { [a.id]: "primary", [b.id]: "backup" } }
    ),
    // a shared IP follows the primary; a DNS record or a NAT entry is moved by a person
    ...(pair.traffic.method === "shared-ip"
      ? []
      : [
          FailoverSteps.Switched.gate(
            {
              id: "pair/switch-back",
              title: gateBack.title,
              rules: gateBack.rules,
              target: "site",
              estimatedSeconds: 120,
              instructions: gateBack.instructions
            },
            { pair, from: b.id, to: a.id }
          )
        ]),
    switchSettled(c, "pair/switch-back-settled", a, version)
  ]
}

/**
 * CLIENT-10 across the two windows: all Jump Clients, passive ones included,
 * should have updated before the second appliance is upgraded. Passive
 * clients check in at least every 24 h (CLIENT-7), so a second window that
 * opens before that horizon is flagged, and the second window starts with a
 * person checking the "Upgrade pending" list on the appliance that serves.
 */
const passiveJumpClients = (
  c: Context,
  serving: Pair.Member,
  second: Pair.Member
): { readonly steps: ReadonlyArray<Plan.Step>; readonly warnings: ReadonlyArray<string> } => {
  const fleet = c.site.clients.jumpClients
  if (fleet === undefined || fleet.passive === 0) return { steps: [], warnings: [] }
  const horizonSeconds = JumpClientRollout.estimate(fleet).passiveSeconds
  const horizonHours = horizonSeconds / 3600
  const gapHours = (c.w2.start.getTime() - c.w1.end.getTime()) / 3_600_000
  const early = gapHours < horizonHours
  const warnings = early
    ? [
        `Warning (CLIENT-10): window 2 opens ${gapHours.toFixed(1)} h after window 1 ends, before the ${fleet.passive} passive Jump Client(s) have all checked in (at least every ${fleet.passiveCheckInHours} h: up to ${horizonHours.toFixed(1)} h after the upgrade). Some may still show "Upgrade pending" when ${second.id} is upgraded: move window 2 to ${new Date(c.w1.end.getTime() + horizonSeconds * 1000).toISOString()} or later, or accept them at the Jump Client check of window 2.`
      ]
    : []
  const steps = [
    CoreSteps.ConfirmTask.gate(
      {
        id: "pair/jump-clients-all",
        title: `All Jump Clients updated (passive ones included) before ${second.id} is upgraded`,
        rules: ["CLIENT-10", "CLIENT-7", "CLIENT-8"],
        target: serving.id,
        estimatedSeconds: 300,
        instructions: [
          `Open https://${c.site.hostname}/login > Jump > Jump Clients (served by ${serving.id}) and look for clients still labelled "Upgrade pending".`,
          `Passive Jump Clients update at their next check-in: start-up, a console connecting to them, their tray icon, and at least every ${fleet.passiveCheckInHours} h (up to ${horizonHours.toFixed(1)} h after window 1 for all ${fleet.passive}).`,
          `CLIENT-10: leave time for all Jump Clients to reconnect before this further upgrade step. Defer this gate while some are pending${early ? " (window 2 opens before the passive horizon)" : ""}; approve when none is, or name the ones you accept to leave pending.`
        ]
      },
      { appliance: serving.id, task: "passive-jump-clients", required: true, items: [] }
    )
  ]
  return { steps, warnings }
}

const commonNotes = (c: Context) => [
  `PAIR-1: two maintenance windows, ${c.w1.label} (${c.w1.start.toISOString()}) and ${c.w2.label} (${c.w2.start.toISOString()}); between them the pair has no failover protection: keep the interval short, long enough only to validate the new version in production.`,
  "PAIR-9: session data created on either appliance while the relationship is broken is synchronised automatically once it is restored.",
  "PAIR-10: never use Become Primary for a planned change; it is only for when the primary has stopped responding.",
  "SINGLE-6: if automatic updates fail during the pair's upgrade, fall back to the manual method and consult the vendor's support portal (guide l.197, l.289).",
  "PREP-5: test the update itself in a controlled environment (a lab appliance) first; strongly advised for failover pairs and the asynchronous method (gate before window 1).",
  `Traffic switch: ${c.pair.traffic.method}.`
]

/**
 * The plan, checked against the relationship machine: a plan it refuses, or
 * one that does not end restored, is a bug of this planner (a defect).
 */
const finish = (
  c: Context,
  kind: "sync-pair" | "async-pair",
  title: string,
  targetVersion: string,
  steps: ReadonlyArray<Plan.Step>,
  notes: ReadonlyArray<string>
): Plan.Plan => {
  const plan = Plan.make({
    id: c.options.planId ?? `${kind}-${c.site.hostname}-${targetVersion}`.replace(/[^A-Za-z0-9._-]+/g, "-"),
    kind,
    title,
    site: c.site.hostname,
    targetVersion,
    steps,
    notes
  })
  const end = simulateRelationship(plan, c.a.id, c.b.id)
  if (Either.isLeft(end))
    throw new Error(`PairPlan: the ${kind} plan breaks the relationship machine: ${end.left.message}`)
  if (!Relationship.isRestored(end.right))
    throw new Error(`PairPlan: the ${kind} plan does not end with the relationship restored.`)
  return plan
}

// ---------------------------------------------------------------------------
// the relationship events of a plan
// ---------------------------------------------------------------------------

/**
 * The failover-relationship events a pair plan brings about, in order (the
 * steps that sync, break, move the site, establish and swap roles),
 * recognised by their definitions (`FailoverSteps`).
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
    if (FailoverSteps.AwaitSync.is(s)) events.push(E.SyncRequested(), E.SyncFinished({ ok: true }))
    else if (FailoverSteps.Broken.is(s)) {
      events.push(E.Break())
      inRelationship = false
    } else if (FailoverSteps.SetRole.is(s)) events.push(E.SyncRequested(), E.SyncFinished({ ok: true }), E.SwapRoles())
    else {
      const moved = FailoverSteps.Switched.paramsOf(s)
      if (Option.isSome(moved) && !inRelationship)
        events.push(E.ReleaseSite({ appliance: moved.value.from }), E.TakeSite({ appliance: moved.value.to }))
      const established = FailoverSteps.Established.paramsOf(s)
      if (Option.isSome(established)) {
        events.push(E.Establish(established.value))
        inRelationship = true
      }
    }
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
): Either.Either<Relationship.PairState, Relationship.RelationshipTransitionError> =>
  Relationship.replay(Relationship.initial(primary, backup), relationshipEvents(plan))

// ---------------------------------------------------------------------------
// planners
// ---------------------------------------------------------------------------

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
    const c = yield* prepare(site, options)
    const { a, b, pair, w1, w2 } = c
    const sa = yield* sectionsOf(c, target, a.id, w1)
    const sb = yield* sectionsOf(c, target, b.id, w2)
    // A serves the site while it installs; its own backup is the pair's (PAIR-4)
    const pa = part(sa, { order: "first", serving: true, backup: false })
    const pb = part(sb, { order: "second", serving: false, backup: true })
    const jc = passiveJumpClients(c, a, b)
    const version = sb.targetVersion
    const steps: Array<Plan.Step> = [
      ...pa.pre,
      ...pb.pre,
      rolesCheck("pair/roles-before", `${a.id} is primary and ${b.id} backup`, ["PREP-7", "PAIR-2"], {
        [a.id]: "primary",
        [b.id]: "backup"
      }),
      windowStep("pair/window-1", w1, `Maintenance window 1 (${w1.label}): ${a.id}`, sa, [
        `The site is unavailable while ${a.id} installs (synchronous method, PAIR-2).`
      ]),
      ...backupSyncBreak(c),
      ...pa.install,
      ...pa.console,
      FailoverSteps.ServedBy.check(
        {
          id: "pair/site-on-A",
          title: `The site answers from ${a.id} on the new version`,
          rules: ["PAIR-2", "PAIR-5", "VERIFY-1"],
          target: "site",
          estimatedSeconds: 5
        },
        { pair, appliance: a.id, version }
      ),
      ...sa.clients,
      windowStep("pair/window-2", w2, `Maintenance window 2 (${w2.label}): ${b.id}`, sb, [
        `PAIR-1: the run pauses here durably; ${b.id} is upgraded only in this window.`
      ]),
      ...jc.steps,
      verifyInProduction(c, a, version, "PAIR-5", `Confirm ${version} works in production before upgrading ${b.id}`, [
        `Review how ${a.id} behaved on ${version} since window 1: sessions, consoles, integrations.`,
        `Reject to stop here (${b.id} still runs the old version and the pair stays broken; restore it from ${a.id} only once both run the same version).`
      ]),
      ...pb.install,
      ...restore(c, a, b),
      rolesCheck(
        "pair/roles-after",
        `${a.id} primary and ${b.id} backup, as the synchronous method promises`,
        ["PAIR-2", "PAIR-5"],
        { [a.id]: "primary", [b.id]: "backup" }
      ),
      ...trailer(c)
    ]
    const member = memberNotes(sa, sb)
    return finish(
      c,
      "sync-pair",
      `Synchronous upgrade of ${site.hostname} (${a.id} then ${b.id}) to ${version}`,
      version,
      steps,
      [
        ...member.warnings,
        ...jc.warnings,
        `Synchronous method (PAIR-2): ${a.id} is upgraded first and stays primary; no failover event, longer downtime (the whole install of ${a.id}).`,
        `At the end ${a.id} is primary and ${b.id} backup.`,
        ...commonNotes(c),
        ...member.notes
      ]
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
    const c = yield* prepare(site, options)
    const { a, b, w1, w2 } = c
    const sb = yield* sectionsOf(c, target, b.id, w1)
    const sa = yield* sectionsOf(c, target, a.id, w2)
    // neither serves the site while it installs: B before the switch, A after it
    const pb = part(sb, { order: "first", serving: false, backup: true })
    const pa = part(sa, { order: "second", serving: false, backup: true })
    const jc = passiveJumpClients(c, b, a)
    const version = sb.targetVersion
    const steps: ReadonlyArray<Plan.Step> = [
      ...pb.pre,
      ...pa.pre,
      rolesCheck("pair/roles-before", `${a.id} is primary and ${b.id} backup`, ["PREP-7", "PAIR-3"], {
        [a.id]: "primary",
        [b.id]: "backup"
      }),
      windowStep("pair/window-1", w1, `Maintenance window 1 (${w1.label}): ${b.id}, then the switch`, sb, [
        `${a.id} keeps serving the site while ${b.id} installs (asynchronous method, PAIR-3).`
      ]),
      ...backupSyncBreak(c),
      ...pb.install,
      ...switchToB(c, sb, sa),
      // PAIR-6: verify B again once it serves the site (VERIFY-2 through the site name)
      ...pb.console,
      ...sb.clients,
      windowStep("pair/window-2", w2, `Maintenance window 2 (${w2.label}): ${a.id}`, sa, [
        `PAIR-1: the run pauses here durably; ${b.id} serves the site meanwhile, without failover protection.`
      ]),
      ...jc.steps,
      verifyInProduction(
        c,
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
      ...restore(c, b, a),
      rolesCheck(
        "pair/roles-after",
        `${b.id} primary and ${a.id} backup, as the asynchronous method promises`,
        ["PAIR-3", "PAIR-6"],
        { [b.id]: "primary", [a.id]: "backup" }
      ),
      ...(options.swapBack ? swapBack(c, version) : []),
      ...trailer(c)
    ]
    const member = memberNotes(sb, sa)
    return finish(
      c,
      "async-pair",
      `Asynchronous upgrade of ${site.hostname} (${b.id} then ${a.id}) to ${version}`,
      version,
      steps,
      [
        ...member.warnings,
        ...jc.warnings,
        `Asynchronous method (PAIR-3): ${b.id} is upgraded first and becomes primary; the downtime is the switch itself.`,
        options.swapBack
          ? `At the end ${a.id} is primary again (swap back with set_failover_role and a data sync first).`
          : `At the end ${b.id} is primary and ${a.id} backup. To make ${a.id} primary again, plan with swapBack (set_failover_role with a data sync first).`,
        `Rollback before the switch: traffic stays on ${a.id}; bring ${b.id} back to ${a.id}'s version and re-establish the relationship from ${a.id}.`,
        ...commonNotes(c),
        ...member.notes
      ]
    )
  })
