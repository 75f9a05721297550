/**
 * The typed events of a run. They are both what a CLI, a portal or a log
 * shipper consumes (`Executor.runStream`, `Executor.subscribe`) and what the
 * journal stores: the run state is the fold of its events through
 * `RunState.transition`, so a journal replays to exactly the state the run
 * was in when it stopped.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { Answer, GatePurpose } from "./Operator.js"
import { Plan } from "./Plan.js"
import { Evidence, StepError } from "./StepHandler.js"

/**
 * The run began; carries the plan so `resume` needs only the journal.
 *
 * @since 0.1.0
 * @category models
 */
export class RunStarted extends Schema.TaggedClass<RunStarted>()("RunStarted", {
  runId: Schema.String,
  plan: Plan,
  at: Schema.Date
}) {}

/**
 * A step is about to perform its side effect (journaled before it).
 *
 * @since 0.1.0
 * @category models
 */
export class StepStarted extends Schema.TaggedClass<StepStarted>()("StepStarted", {
  stepId: Schema.String,
  attempt: Schema.Number,
  at: Schema.Date,
  /**
   * A `WaitFor` step's absolute deadline (start + `deadlineSeconds`): a resume keeps it instead of starting
   * the wait over. Absent in journals written before 0.3.0 (their waits restart on resume).
   */
  deadline: Schema.optional(Schema.Date)
}) {}

/**
 * A step achieved its purpose (`warnings`: an advisory check that failed).
 *
 * @since 0.1.0
 * @category models
 */
export class StepSucceeded extends Schema.TaggedClass<StepSucceeded>()("StepSucceeded", {
  stepId: Schema.String,
  evidence: Evidence,
  warnings: Schema.Array(Schema.String),
  at: Schema.Date
}) {}

/**
 * A step failed; the run ends `failed`.
 *
 * @since 0.1.0
 * @category models
 */
export class StepFailed extends Schema.TaggedClass<StepFailed>()("StepFailed", {
  stepId: Schema.String,
  error: StepError,
  at: Schema.Date
}) {}

/**
 * PREP-6: the base software update failed; the run ends
 * `halted-needs-support` and is never retried or resumed.
 *
 * @since 0.1.0
 * @category models
 */
export class SupportNeeded extends Schema.TaggedClass<SupportNeeded>()("SupportNeeded", {
  stepId: Schema.String,
  detail: Schema.String,
  at: Schema.Date
}) {}

/**
 * On resume, the postcondition of an interrupted non-idempotent step was
 * read back: `effective` means it had taken effect (no re-run).
 *
 * @since 0.1.0
 * @category models
 */
export class StepVerified extends Schema.TaggedClass<StepVerified>()("StepVerified", {
  stepId: Schema.String,
  effective: Schema.Boolean,
  evidence: Evidence,
  at: Schema.Date
}) {}

/**
 * On resume, an interrupted non-idempotent step cannot be verified by its
 * handler: the operator must confirm whether it took effect.
 *
 * @since 0.1.0
 * @category models
 */
export class ConfirmationNeeded extends Schema.TaggedClass<ConfirmationNeeded>()("ConfirmationNeeded", {
  stepId: Schema.String,
  reason: Schema.String,
  at: Schema.Date
}) {}

/**
 * The operator was asked (a gate, or a confirmation).
 *
 * @since 0.1.0
 * @category models
 */
export class GateOpened extends Schema.TaggedClass<GateOpened>()("GateOpened", {
  stepId: Schema.String,
  purpose: GatePurpose,
  at: Schema.Date
}) {}

/**
 * The operator answered, with who answered and the evidence given.
 *
 * @since 0.1.0
 * @category models
 */
export class GateAnswered extends Schema.TaggedClass<GateAnswered>()("GateAnswered", {
  stepId: Schema.String,
  purpose: GatePurpose,
  answer: Answer,
  at: Schema.Date
}) {}

/**
 * One poll of a `WaitFor` step.
 *
 * @since 0.1.0
 * @category models
 */
export class WaitProgress extends Schema.TaggedClass<WaitProgress>()("WaitProgress", {
  stepId: Schema.String,
  poll: Schema.Number,
  holds: Schema.Boolean,
  observed: Schema.Unknown,
  at: Schema.Date
}) {}

/**
 * How far a long step has come, while it runs: bytes of a backup so far and
 * of the whole when known. Handlers report it through
 * `StepContext.progress`; it changes no state (replay skips it).
 *
 * @since 0.2.0
 * @category models
 */
export class StepProgress extends Schema.TaggedClass<StepProgress>()("StepProgress", {
  stepId: Schema.String,
  done: Schema.Number,
  total: Schema.optional(Schema.Number),
  unit: Schema.Literal("bytes", "items"),
  at: Schema.Date
}) {}

/**
 * The run pauses until a maintenance window opens.
 *
 * @since 0.1.0
 * @category models
 */
export class Paused extends Schema.TaggedClass<Paused>()("Paused", {
  stepId: Schema.String,
  until: Schema.Date,
  at: Schema.Date
}) {}

/**
 * The awaited maintenance window opened.
 *
 * @since 0.1.0
 * @category models
 */
export class WindowOpened extends Schema.TaggedClass<WindowOpened>()("WindowOpened", {
  stepId: Schema.String,
  at: Schema.Date
}) {}

/**
 * A torn last journal line (crash mid-write) that was dropped on resume.
 *
 * @since 0.1.0
 * @category models
 */
export class TornRecord extends Schema.Class<TornRecord>("TornRecord")({
  /** Byte offset where the torn line started. */
  offset: Schema.Number,
  bytes: Schema.Number
}) {}

/**
 * `resume` picked the run up from its journal.
 *
 * @since 0.1.0
 * @category models
 */
export class Resumed extends Schema.TaggedClass<Resumed>()("Resumed", {
  tornRecord: Schema.optional(TornRecord),
  at: Schema.Date
}) {}

/**
 * The run was interrupted; `resume` continues it.
 *
 * @since 0.1.0
 * @category models
 */
export class Cancelled extends Schema.TaggedClass<Cancelled>()("Cancelled", {
  at: Schema.Date
}) {}

/**
 * Site availability observed beside the run (see `RunObserver` and
 * `Availability`): the probes of the site address from `from` to `at`,
 * journaled compactly — the first probe of a series, every change of state,
 * and periodic summaries. Every probe of the record but the last had the
 * state of the series' previous record; the last one had `up`. It changes
 * no run state (replay skips it).
 *
 * @since 0.3.0
 * @category models
 */
export class SiteSample extends Schema.TaggedClass<SiteSample>()("SiteSample", {
  /** Time of the first probe the record covers. */
  from: Schema.Date,
  /** Time of its last probe. */
  at: Schema.Date,
  /** Probes the record covers. */
  probes: Schema.Number,
  /** How many of them failed. */
  failed: Schema.Number,
  /** Whether the last probe succeeded. */
  up: Schema.Boolean,
  /** The last failure of the record (HTTP status or error). */
  lastError: Schema.optional(Schema.String),
  /** Probe interval, milliseconds. */
  intervalMillis: Schema.Number,
  /** The address probed. */
  url: Schema.String,
  /**
   * The first record of a series: an orchestrator (run or resume) started observing. Between the end of the
   * previous series and this one nothing observed the site.
   */
  first: Schema.optional(Schema.Boolean)
}) {}

/**
 * Final state names, as in the run report.
 *
 * @since 0.1.0
 * @category models
 */
export const FinalStatus = Schema.Literal("succeeded", "failed", "halted-needs-support")

/**
 * The run reached a terminal state.
 *
 * @since 0.1.0
 * @category models
 */
export class RunFinished extends Schema.TaggedClass<RunFinished>()("RunFinished", {
  status: FinalStatus,
  at: Schema.Date
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export const RunEvent = Schema.Union(
  RunStarted,
  StepStarted,
  StepSucceeded,
  StepFailed,
  SupportNeeded,
  StepVerified,
  ConfirmationNeeded,
  GateOpened,
  GateAnswered,
  WaitProgress,
  StepProgress,
  Paused,
  WindowOpened,
  Resumed,
  Cancelled,
  RunFinished,
  SiteSample
)

/**
 * @since 0.1.0
 * @category models
 */
export type RunEvent = typeof RunEvent.Type

/**
 * An event as published on the stream and stored in the journal: `seq`
 * counts from 1 within a run.
 *
 * @since 0.1.0
 * @category models
 */
export class Envelope extends Schema.Class<Envelope>("Envelope")({
  runId: Schema.String,
  seq: Schema.Number,
  event: RunEvent
}) {}
