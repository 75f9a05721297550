/**
 * Admission, pure: given the rollout plan, the ledger (what happened to
 * each site), the rollout's controls and `now`, which sites start now and
 * why the others wait. The durable engine asks it at every event (a site
 * finished, a window opened, an approval, pause/resume/abort) and records
 * the answer; it decides nothing else about admission.
 *
 * The rules, in order:
 * 1. aborted: nothing starts;
 * 2. more failed sites than the failure budget tolerates: admission halts
 *    (a budget of 1 tolerates one failure and halts at the second); sites
 *    in flight go on;
 * 3. paused: nothing starts;
 * 4. waves are sequential: only the first wave with an unfinished site
 *    admits, and only once its approval (if it needs one) is given;
 * 5. a site starts only inside one of its windows with enough of it left
 *    for its first-window work (`SiteWindow.canStartAt`);
 * 6. at most `concurrency` sites in flight (admitted or running).
 *
 * {@link summarize} gives counts per wave and status, the rollout status and
 * an ETA from the plan's estimates.
 *
 * @since 0.3.0
 */
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Schedule from "./internal/schedule.js"
import type * as Rollout from "./Rollout.js"
import * as SiteWindow from "./SiteWindow.js"

// ---------------------------------------------------------------------------
// the ledger
// ---------------------------------------------------------------------------

/**
 * Not started yet.
 *
 * @since 0.3.0
 * @category models
 */
export class NotStarted extends Schema.TaggedClass<NotStarted>()("NotStarted", {}) {}

/**
 * Admitted: the engine is starting it.
 *
 * @since 0.3.0
 * @category models
 */
export class Admitted extends Schema.TaggedClass<Admitted>()("Admitted", { at: Schema.Date }) {}

/**
 * Its plan is running (including a pair waiting for its second window).
 *
 * @since 0.3.0
 * @category models
 */
export class Running extends Schema.TaggedClass<Running>()("Running", { since: Schema.Date }) {}

/**
 * Upgraded and verified.
 *
 * @since 0.3.0
 * @category models
 */
export class Succeeded extends Schema.TaggedClass<Succeeded>()("Succeeded", { at: Schema.Date }) {}

/**
 * Its run failed (counts toward the failure budget).
 *
 * @since 0.3.0
 * @category models
 */
export class Failed extends Schema.TaggedClass<Failed>()("Failed", { at: Schema.Date, reason: Schema.String }) {}

/**
 * Left out on purpose (nothing to do, excluded by an operator); not a failure.
 *
 * @since 0.3.0
 * @category models
 */
export class Skipped extends Schema.TaggedClass<Skipped>()("Skipped", { reason: Schema.String }) {}

/**
 * Where a site stands in the rollout.
 *
 * @since 0.3.0
 * @category models
 */
export const SiteState = Schema.Union(NotStarted, Admitted, Running, Succeeded, Failed, Skipped)

/**
 * @since 0.3.0
 * @category models
 */
export type SiteState = typeof SiteState.Type

/**
 * Site id → state; a site missing from the ledger has not started.
 *
 * @since 0.3.0
 * @category models
 */
export const Ledger = Schema.Record({ key: Schema.String, value: SiteState })

/**
 * @since 0.3.0
 * @category models
 */
export type Ledger = typeof Ledger.Type

/**
 * An empty ledger: nothing started.
 *
 * @since 0.3.0
 * @category constructors
 */
export const emptyLedger: Ledger = {}

/**
 * The state of a site in the ledger.
 *
 * @since 0.3.0
 * @category combinators
 */
export const stateOf = (ledger: Ledger, site: string): SiteState => ledger[site] ?? new NotStarted()

const inFlight = (s: SiteState) => s._tag === "Admitted" || s._tag === "Running"
const finished = (s: SiteState) => s._tag === "Succeeded" || s._tag === "Failed" || s._tag === "Skipped"

/**
 * The approval of a wave by an authenticated principal (the portal), with
 * its mandatory comment.
 *
 * @since 0.3.0
 * @category models
 */
export class WaveApproval extends Schema.Class<WaveApproval>("WaveApproval")({
  /** Index of the wave (0 = the first). */
  wave: Schema.Number,
  /** The principal's id (from its token, never from a request body). */
  by: Schema.String,
  role: Schema.String,
  comment: Schema.NonEmptyTrimmedString,
  at: Schema.Date
}) {}

/**
 * The operator's controls of the whole rollout.
 *
 * @since 0.3.0
 * @category models
 */
export class Controls extends Schema.Class<Controls>("RolloutControls")({
  paused: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  aborted: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** Indexes of the waves whose approval was given. */
  approvedWaves: Schema.optionalWith(Schema.Array(Schema.Number), { default: () => [] }),
  /** Who approved which wave, when, and why (the audit trail of `approveWave` with an approver). */
  waveApprovals: Schema.optionalWith(Schema.Array(WaveApproval), { default: () => [] })
}) {}

/**
 * The controls with wave `wave` (0 = the first) approved, and who approved
 * it when given. A wave already approved is left as it is (its first
 * approval stands).
 *
 * @since 0.3.0
 * @category combinators
 */
export const withWaveApproved = (controls: Controls, wave: number, approval?: WaveApproval): Controls =>
  controls.approvedWaves.includes(wave)
    ? controls
    : new Controls({
        ...controls,
        approvedWaves: [...controls.approvedWaves, wave].sort((a, b) => a - b),
        waveApprovals: approval === undefined ? controls.waveApprovals : [...controls.waveApprovals, approval]
      })

// ---------------------------------------------------------------------------
// decisions
// ---------------------------------------------------------------------------

/**
 * The rollout was aborted.
 *
 * @since 0.3.0
 * @category models
 */
export class Aborted extends Schema.TaggedClass<Aborted>()("Aborted", {}) {}

/**
 * The rollout is paused.
 *
 * @since 0.3.0
 * @category models
 */
export class Paused extends Schema.TaggedClass<Paused>()("Paused", {}) {}

/**
 * More sites failed than the budget tolerates: admission is halted.
 *
 * @since 0.3.0
 * @category models
 */
export class BudgetExceeded extends Schema.TaggedClass<BudgetExceeded>()("BudgetExceeded", {
  failed: Schema.Number,
  allowed: Schema.Number
}) {}

/**
 * The site's wave needs an approval that was not given.
 *
 * @since 0.3.0
 * @category models
 */
export class WaveNotApproved extends Schema.TaggedClass<WaveNotApproved>()("WaveNotApproved", {
  wave: Schema.Number
}) {}

/**
 * An earlier wave still has unfinished sites.
 *
 * @since 0.3.0
 * @category models
 */
export class PreviousWaveNotFinished extends Schema.TaggedClass<PreviousWaveNotFinished>()("PreviousWaveNotFinished", {
  wave: Schema.Number,
  unfinished: Schema.Number
}) {}

/**
 * The concurrency cap is reached.
 *
 * @since 0.3.0
 * @category models
 */
export class CapReached extends Schema.TaggedClass<CapReached>()("CapReached", {
  cap: Schema.Number,
  inFlight: Schema.Number
}) {}

/**
 * No window admits the site now: none is open, or the open one closes
 * before its work would end. `nextStart` is when one will.
 *
 * @since 0.3.0
 * @category models
 */
export class OutsideWindow extends Schema.TaggedClass<OutsideWindow>()("OutsideWindow", {
  nextStart: Schema.optional(Schema.Date),
  /** Set when a window is open but closes too soon for the work. */
  closesAt: Schema.optional(Schema.Date)
}) {}

/**
 * Why a site that has not started waits.
 *
 * @since 0.3.0
 * @category models
 */
export const WaitReason = Schema.Union(
  Aborted,
  Paused,
  BudgetExceeded,
  WaveNotApproved,
  PreviousWaveNotFinished,
  CapReached,
  OutsideWindow
)

/**
 * @since 0.3.0
 * @category models
 */
export type WaitReason = typeof WaitReason.Type

/**
 * The status of the whole rollout: `running` (sites in flight or waiting for
 * their windows), `waiting-approval`, `paused`, `halted-budget`, `aborted`,
 * `succeeded` (every site succeeded or was skipped) or `failed` (every site
 * finished, some failed within the budget).
 *
 * @since 0.3.0
 * @category models
 */
export const RolloutStatus = Schema.Literal(
  "running",
  "waiting-approval",
  "paused",
  "halted-budget",
  "aborted",
  "succeeded",
  "failed"
)

/**
 * @since 0.3.0
 * @category models
 */
export type RolloutStatus = typeof RolloutStatus.Type

/**
 * A site that waits, and why.
 *
 * @since 0.3.0
 * @category models
 */
export class Waiting extends Schema.Class<Waiting>("Waiting")({ site: Schema.String, reason: WaitReason }) {}

/**
 * What to do now.
 *
 * @since 0.3.0
 * @category models
 */
export class Decision extends Schema.Class<Decision>("AdmissionDecision")({
  at: Schema.Date,
  status: RolloutStatus,
  /** The first wave with an unfinished site. */
  currentWave: Schema.optional(Schema.Number),
  /** Start these now, in this order. */
  admit: Schema.Array(Schema.String),
  /** Every site not started and not admitted now, with its reason. */
  waiting: Schema.Array(Waiting)
}) {
  /**
   * The next instant a window admits a waiting site, if any waits for one
   * (the engine sleeps until then unless another event comes first).
   *
   * @since 0.3.0
   */
  get nextWindowStart(): Date | undefined {
    const times = this.waiting.flatMap((w) =>
      w.reason._tag === "OutsideWindow" && w.reason.nextStart !== undefined ? [w.reason.nextStart.getTime()] : []
    )
    return times.length === 0 ? undefined : new Date(Math.min(...times))
  }
}

interface Tally {
  readonly failed: number
  readonly inFlight: number
  readonly currentWave: number | undefined
}

const tally = (plan: Rollout.RolloutPlan, ledger: Ledger): Tally => {
  let failed = 0
  let flying = 0
  let currentWave: number | undefined
  for (const s of plan.sites) {
    const st = stateOf(ledger, s.id)
    if (st._tag === "Failed") failed++
    if (inFlight(st)) flying++
    if (!finished(st) && (currentWave === undefined || s.wave < currentWave)) currentWave = s.wave
  }
  return { failed, inFlight: flying, currentWave }
}

const statusOf = (plan: Rollout.RolloutPlan, controls: Controls, t: Tally): RolloutStatus => {
  if (controls.aborted) return "aborted"
  if (t.currentWave === undefined) return t.failed > 0 ? "failed" : "succeeded"
  if (t.failed > plan.allowedFailures) return "halted-budget"
  if (controls.paused) return "paused"
  const wave = plan.waves[t.currentWave]
  if (wave?.approval === true && !controls.approvedWaves.includes(wave.index) && t.inFlight === 0)
    return "waiting-approval"
  return "running"
}

/**
 * Decide which sites start now and why the others wait.
 *
 * @since 0.3.0
 * @category combinators
 */
export const decide = (plan: Rollout.RolloutPlan, ledger: Ledger, controls: Controls, now: Date): Decision => {
  const t = tally(plan, ledger)
  const status = statusOf(plan, controls, t)
  const admit: Array<string> = []
  const waiting: Array<Waiting> = []
  const schedule = new Map(Schedule.sitesOf(plan.sites).map((s) => [s.id, s]))
  const at = now.getTime()
  let slots = plan.concurrency - t.inFlight
  for (const s of plan.sites) {
    if (stateOf(ledger, s.id)._tag !== "NotStarted") continue
    const wait = (reason: WaitReason) => waiting.push(new Waiting({ site: s.id, reason }, true))
    if (controls.aborted) wait(new Aborted())
    else if (t.failed > plan.allowedFailures)
      wait(new BudgetExceeded({ failed: t.failed, allowed: plan.allowedFailures }))
    else if (controls.paused) wait(new Paused())
    else if (t.currentWave !== undefined && s.wave > t.currentWave)
      wait(
        new PreviousWaveNotFinished({
          wave: t.currentWave,
          unfinished: plan.sites.filter((o) => o.wave === t.currentWave && !finished(stateOf(ledger, o.id))).length
        })
      )
    else if (plan.waves[s.wave]?.approval === true && !controls.approvedWaves.includes(s.wave))
      wait(new WaveNotApproved({ wave: s.wave }))
    else {
      const site = schedule.get(s.id)!
      if (!Schedule.admissible(site, at)) {
        const next = Schedule.nextAdmissible(site, at)
        const open = SiteWindow.openAt(site.windows, at)
        wait(
          new OutsideWindow({
            ...(Number.isFinite(next) ? { nextStart: new Date(next) } : {}),
            ...(Option.isSome(open) ? { closesAt: open.value.end } : {})
          })
        )
      } else if (slots <= 0) wait(new CapReached({ cap: plan.concurrency, inFlight: plan.concurrency - slots }))
      else {
        admit.push(s.id)
        slots--
      }
    }
  }
  return new Decision(
    {
      at: now,
      status,
      ...(t.currentWave !== undefined ? { currentWave: t.currentWave } : {}),
      admit,
      waiting
    },
    true
  )
}

/**
 * Record in the ledger that these sites were admitted at `at`.
 *
 * @since 0.3.0
 * @category combinators
 */
export const recordAdmitted = (ledger: Ledger, sites: ReadonlyArray<string>, at: Date): Ledger => {
  const next: Record<string, SiteState> = { ...ledger }
  for (const id of sites) next[id] = new Admitted({ at })
  return next
}

// ---------------------------------------------------------------------------
// summary
// ---------------------------------------------------------------------------

/**
 * How many sites are in each state.
 *
 * @since 0.3.0
 * @category models
 */
export class Counts extends Schema.Class<Counts>("RolloutCounts")({
  notStarted: Schema.Number,
  admitted: Schema.Number,
  running: Schema.Number,
  succeeded: Schema.Number,
  failed: Schema.Number,
  skipped: Schema.Number
}) {
  /**
   * Sites in the count.
   *
   * @since 0.3.0
   */
  get total(): number {
    return this.notStarted + this.admitted + this.running + this.succeeded + this.failed + this.skipped
  }
}

const count = (states: ReadonlyArray<SiteState>) =>
  new Counts({
    notStarted: states.filter((s) => s._tag === "NotStarted").length,
    admitted: states.filter((s) => s._tag === "Admitted").length,
    running: states.filter((s) => s._tag === "Running").length,
    succeeded: states.filter((s) => s._tag === "Succeeded").length,
    failed: states.filter((s) => s._tag === "Failed").length,
    skipped: states.filter((s) => s._tag === "Skipped").length
  })

/**
 * One wave in the summary.
 *
 * @since 0.3.0
 * @category models
 */
export class WaveSummary extends Schema.Class<WaveSummary>("RolloutWaveSummary")({
  index: Schema.Number,
  name: Schema.String,
  approval: Schema.Boolean,
  approved: Schema.Boolean,
  counts: Counts
}) {}

/**
 * Where the rollout stands.
 *
 * @since 0.3.0
 * @category models
 */
export class Summary extends Schema.Class<Summary>("RolloutSummary")({
  rolloutId: Schema.String,
  at: Schema.Date,
  status: RolloutStatus,
  currentWave: Schema.optional(Schema.Number),
  waves: Schema.Array(WaveSummary),
  counts: Counts,
  failures: Schema.Struct({ failed: Schema.Number, allowed: Schema.Number }),
  /**
   * When the last site is expected to end, from the estimates: sites in
   * flight end at their start plus their estimate, the others as the plan
   * simulates them (approvals given at once). None when the rollout is
   * finished, paused, halted, aborted, or a site cannot be placed.
   */
  eta: Schema.optional(Schema.Date)
}) {}

/**
 * Counts per wave and status, the rollout status and the ETA.
 *
 * @since 0.3.0
 * @category combinators
 */
export const summarize = (
  plan: Rollout.RolloutPlan,
  ledger: Ledger,
  controls: Controls,
  now: Date,
  options: { readonly horizonDays?: number | undefined } = {}
): Summary => {
  const t = tally(plan, ledger)
  const status = statusOf(plan, controls, t)
  let eta: Date | undefined
  if (status === "running" || status === "waiting-approval") {
    const flying = new Map<string, number>()
    const done = new Set<string>()
    for (const s of plan.sites) {
      const st = stateOf(ledger, s.id)
      if (st._tag === "Admitted") flying.set(s.id, st.at.getTime())
      else if (st._tag === "Running") flying.set(s.id, st.since.getTime())
      else if (finished(st)) done.add(s.id)
    }
    const sim = Schedule.simulate({
      sites: Schedule.sitesOf(plan.sites),
      cap: plan.concurrency,
      now: now.getTime(),
      inFlight: flying,
      done,
      horizonMs: (options.horizonDays ?? 400) * 86_400_000
    })
    if (sim.end !== undefined) eta = new Date(sim.end)
  }
  return new Summary(
    {
      rolloutId: plan.rolloutId,
      at: now,
      status,
      ...(t.currentWave !== undefined ? { currentWave: t.currentWave } : {}),
      waves: plan.waves.map(
        (w) =>
          new WaveSummary({
            index: w.index,
            name: w.name,
            approval: w.approval,
            approved: controls.approvedWaves.includes(w.index),
            counts: count(plan.sitesOf(w.index).map((s) => stateOf(ledger, s.id)))
          })
      ),
      counts: count(plan.sites.map((s) => stateOf(ledger, s.id))),
      failures: { failed: t.failed, allowed: plan.allowedFailures },
      ...(eta !== undefined ? { eta } : {})
    },
    true
  )
}

/**
 * A sentence for a wait reason (CLI, portal).
 *
 * @since 0.3.0
 * @category combinators
 */
export const describe = (reason: WaitReason): string => {
  switch (reason._tag) {
    case "Aborted":
      return "the rollout was aborted"
    case "Paused":
      return "the rollout is paused; resume it to go on"
    case "BudgetExceeded":
      return `admission halted: ${reason.failed} site(s) failed, the failure budget tolerates ${reason.allowed}`
    case "WaveNotApproved":
      return `wave ${reason.wave + 1} waits for its approval`
    case "PreviousWaveNotFinished":
      return `wave ${reason.wave + 1} has ${reason.unfinished} unfinished site(s)`
    case "CapReached":
      return `${reason.inFlight} site(s) in flight, the cap is ${reason.cap}`
    case "OutsideWindow":
      return reason.closesAt !== undefined
        ? `its open window closes at ${reason.closesAt.toISOString()}, too soon for its work; next start ${reason.nextStart?.toISOString() ?? "none"}`
        : `outside its windows; next start ${reason.nextStart?.toISOString() ?? "none"}`
  }
}
