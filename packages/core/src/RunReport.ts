/**
 * The report of a run, built from its journal: per step status, timings and
 * evidence (versions read back, checksums...), every gate answer with who
 * answered and what they gave, the journal repairs, and the final state.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Availability from "./Availability.js"
import { Answer, GatePurpose } from "./Operator.js"
import type { Envelope } from "./RunEvent.js"
import { TornRecord } from "./RunEvent.js"
import * as RunState from "./RunState.js"
import { Evidence } from "./StepHandler.js"

/**
 * @since 0.1.0
 * @category models
 */
export const StepStatus = Schema.Literal(
  "pending",
  "running",
  "waiting-for-operator",
  "paused-until-window",
  "succeeded",
  "failed",
  "halted-needs-support"
)

/**
 * @since 0.1.0
 * @category models
 */
export type StepStatus = typeof StepStatus.Type

/**
 * @since 0.1.0
 * @category models
 */
export class StepReport extends Schema.Class<StepReport>("StepReport")({
  id: Schema.String,
  title: Schema.String,
  kind: Schema.String,
  rules: Schema.Array(Schema.String),
  target: Schema.optional(Schema.String),
  idempotent: Schema.Boolean,
  status: StepStatus,
  /** How many times the step was started (re-runs after a crash count). */
  attempts: Schema.Number,
  startedAt: Schema.optional(Schema.Date),
  finishedAt: Schema.optional(Schema.Date),
  durationMillis: Schema.optional(Schema.Number),
  evidence: Evidence,
  warnings: Schema.Array(Schema.String),
  /** On resume, the step was found already effective (`true`) or not (`false`). */
  verifiedOnResume: Schema.optional(Schema.Boolean),
  /** Number of `WaitFor` polls. */
  polls: Schema.Number,
  error: Schema.optional(Schema.String)
}) {}

/**
 * A gate (or confirmation) answer: who answered, what they said, when.
 *
 * @since 0.1.0
 * @category models
 */
export class GateRecord extends Schema.Class<GateRecord>("GateRecord")({
  stepId: Schema.String,
  purpose: GatePurpose,
  answer: Answer,
  at: Schema.Date
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export const Status = Schema.Literal(
  "pending",
  "running",
  "waiting-for-operator",
  "paused-until-window",
  "succeeded",
  "failed",
  "halted-needs-support",
  "cancelled"
)

/**
 * @since 0.1.0
 * @category models
 */
export class RunReport extends Schema.Class<RunReport>("RunReport")({
  runId: Schema.String,
  planId: Schema.String,
  planTitle: Schema.String,
  site: Schema.String,
  targetVersion: Schema.String,
  status: Status,
  /** The step the run is at (or stopped at). */
  currentStep: Schema.optional(Schema.String),
  startedAt: Schema.optional(Schema.Date),
  endedAt: Schema.optional(Schema.Date),
  steps: Schema.Array(StepReport),
  gates: Schema.Array(GateRecord),
  resumes: Schema.Number,
  cancellations: Schema.Number,
  tornRecords: Schema.Array(TornRecord),
  /** What went wrong and what to do next (failed / halted). */
  error: Schema.optional(Schema.String),
  /**
   * The site's availability over the run, folded from the journal's `SiteSample` records (see
   * `Availability`); absent when no observer ran (availability not measured).
   */
  availability: Schema.optional(Availability.Availability)
}) {}

/** Reports are built here from typed, already journaled values: skip the constructors' re-validation (hot path). */
const trusted = true

interface MutableStep {
  status: StepStatus
  attempts: number
  startedAt?: Date
  finishedAt?: Date
  evidence: Record<string, unknown>
  warnings: Array<string>
  verifiedOnResume?: boolean
  polls: number
  error?: string
}

/**
 * Build the report from a run's journal records and its replayed state.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromJournal = (records: ReadonlyArray<Envelope>, state: RunState.RunState): RunReport => {
  const first = records[0]?.event
  const plan = first?._tag === "RunStarted" ? first.plan : undefined
  const steps = new Map<string, MutableStep>()
  for (const s of plan?.steps ?? []) {
    steps.set(s.id, { status: "pending", attempts: 0, evidence: {}, warnings: [], polls: 0 })
  }
  const gates: Array<GateRecord> = []
  const torn: Array<TornRecord> = []
  let resumes = 0
  let cancellations = 0
  let endedAt: Date | undefined
  for (const { event: e } of records) {
    const step = "stepId" in e ? steps.get(e.stepId) : undefined
    switch (e._tag) {
      case "StepStarted":
        if (step) {
          step.attempts = e.attempt
          step.startedAt ??= e.at
          step.status = "running"
        }
        break
      case "StepSucceeded":
        if (step) {
          step.status = "succeeded"
          step.finishedAt = e.at
          Object.assign(step.evidence, e.evidence)
          step.warnings.push(...e.warnings)
        }
        break
      case "StepFailed":
        if (step) {
          step.status = "failed"
          step.finishedAt = e.at
          step.error = e.error.message
          if (e.error.reason._tag === "Failed" && e.error.reason.evidence) {
            Object.assign(step.evidence, e.error.reason.evidence)
          }
        }
        break
      case "SupportNeeded":
        if (step) {
          step.status = "halted-needs-support"
          step.finishedAt = e.at
          step.error = e.detail
        }
        break
      case "StepVerified":
        if (step) {
          step.verifiedOnResume = e.effective
          Object.assign(step.evidence, e.evidence)
          if (e.effective) {
            step.status = "succeeded"
            step.finishedAt = e.at
          }
        }
        break
      case "GateOpened":
        if (step) {
          step.status = "waiting-for-operator"
          step.startedAt ??= e.at
        }
        break
      case "GateAnswered":
        gates.push(new GateRecord({ stepId: e.stepId, purpose: e.purpose, answer: e.answer, at: e.at }, trusted))
        if (step && e.answer._tag === "Approved") {
          for (const [k, v] of Object.entries(e.answer.evidence)) step.evidence[`operator.${k}`] = v
          if (e.purpose === "confirm-effect") {
            step.status = "succeeded"
            step.finishedAt = e.at
            step.verifiedOnResume = true
          } else {
            step.status = "running"
          }
        }
        if (step && e.answer._tag === "Rejected" && e.purpose === "gate") {
          step.status = "failed"
          step.finishedAt = e.at
          step.error = `rejected by ${e.answer.by}: ${e.answer.reason}`
        }
        break
      case "WaitProgress":
        if (step) step.polls++
        break
      case "Paused":
        if (step) {
          step.status = "paused-until-window"
          step.startedAt ??= e.at
        }
        break
      case "WindowOpened":
        if (step) step.status = "running"
        break
      case "Resumed":
        resumes++
        if (e.tornRecord) torn.push(e.tornRecord)
        break
      case "Cancelled":
        cancellations++
        break
      case "RunFinished":
        endedAt = e.at
        break
      default:
        break
    }
  }
  const status = state.status
  const error =
    status._tag === "Failed"
      ? status.error.message
      : status._tag === "HaltedNeedsSupport"
        ? `${status.detail}. Do NOT reboot the appliance; contact vendor support (PREP-6).`
        : undefined
  const startedAt = first?.at
  const currentStep = RunState.currentStepId(status)
  const availability = Availability.fromRecords(records)
  return new RunReport(
    {
      runId: state.runId || (records[0]?.runId ?? ""),
      planId: plan?.id ?? "",
      planTitle: plan?.title ?? "",
      site: plan?.site ?? "",
      targetVersion: plan?.targetVersion ?? "",
      status: RunState.statusName(status) as typeof Status.Type,
      ...(currentStep !== undefined ? { currentStep } : {}),
      ...(startedAt !== undefined ? { startedAt } : {}),
      ...(endedAt !== undefined ? { endedAt } : {}),
      steps: (plan?.steps ?? []).map((s) => {
        const m = steps.get(s.id)!
        return new StepReport(
          {
            id: s.id,
            title: s.title,
            kind: s._tag,
            rules: [...s.rules],
            ...(s.target !== undefined ? { target: s.target } : {}),
            idempotent: s.idempotent,
            status: m.status,
            attempts: m.attempts,
            ...(m.startedAt !== undefined ? { startedAt: m.startedAt } : {}),
            ...(m.finishedAt !== undefined ? { finishedAt: m.finishedAt } : {}),
            ...(m.startedAt !== undefined && m.finishedAt !== undefined
              ? { durationMillis: m.finishedAt.getTime() - m.startedAt.getTime() }
              : {}),
            evidence: m.evidence,
            warnings: m.warnings,
            ...(m.verifiedOnResume !== undefined ? { verifiedOnResume: m.verifiedOnResume } : {}),
            polls: m.polls,
            ...(m.error !== undefined ? { error: m.error } : {})
          },
          trusted
        )
      }),
      gates,
      resumes,
      cancellations,
      tornRecords: torn,
      ...(error !== undefined ? { error } : {}),
      ...(availability !== undefined ? { availability } : {})
    },
    trusted
  )
}
