/**
 * The person (or portal, or adapter) who answers manual gates. The executor
 * asks the `Operator` when a run reaches a `ManualGate`, and when it must
 * confirm whether an interrupted non-idempotent step took effect and its
 * handler cannot read that back. Answers are journaled with who answered.
 *
 * Layers: `layerAutoApprove` (tests, simulator demos), `layerScripted`
 * (answers per gate id), `layerPrompt` (a hook for the CLI's terminal
 * prompt or a portal's approval queue).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as GateEvidence from "./GateEvidence.js"
import type * as Plan from "./Plan.js"

/**
 * One person's decision on a gate, as an approval queue (a portal) records
 * it: the authenticated principal, their role, the decision, the mandatory
 * comment and the evidence they gave. A gate that needs several distinct
 * approvers collects several of these before it is answered.
 *
 * @since 0.3.0
 * @category models
 */
export class Approval extends Schema.Class<Approval>("Approval")({
  /** The authenticated principal (never a name taken from a request body). */
  principal: Schema.String,
  role: Schema.String,
  decision: Schema.Literal("approve", "reject", "defer"),
  comment: Schema.String,
  evidence: Schema.Record({ key: Schema.String, value: Schema.String }),
  at: Schema.Date
}) {}

/**
 * Approve: the work is done; `evidence` holds a value for each evidence
 * field the gate asks for. `comment` and `approvals` (optional, since 0.3.0)
 * carry the audit trail of an approval queue: every decision that led to
 * this answer.
 *
 * @since 0.1.0
 * @category models
 */
export class Approved extends Schema.TaggedClass<Approved>()("Approved", {
  by: Schema.String,
  evidence: Schema.Record({ key: Schema.String, value: Schema.String }),
  note: Schema.optional(Schema.String),
  comment: Schema.optional(Schema.String),
  approvals: Schema.optional(Schema.Array(Approval))
}) {}

/**
 * Reject: the run must not go on (for a gate), or the interrupted step did
 * not take effect (for a confirmation; the step runs again). `comment` and
 * `approvals`: as for `Approved` (since 0.3.0).
 *
 * @since 0.1.0
 * @category models
 */
export class Rejected extends Schema.TaggedClass<Rejected>()("Rejected", {
  by: Schema.String,
  reason: Schema.String,
  comment: Schema.optional(Schema.String),
  approvals: Schema.optional(Schema.Array(Approval))
}) {}

/**
 * Defer: not now. The run stops (journal intact); `resume` asks again.
 *
 * @since 0.1.0
 * @category models
 */
export class Deferred extends Schema.TaggedClass<Deferred>()("Deferred", {
  by: Schema.String,
  reason: Schema.optional(Schema.String)
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export const Answer = Schema.Union(Approved, Rejected, Deferred)

/**
 * @since 0.1.0
 * @category models
 */
export type Answer = typeof Answer.Type

/**
 * `gate`: a `ManualGate` step. `confirm-effect`: a non-idempotent step was
 * in flight when the run stopped and has no `verify`; approve = it took
 * effect, reject = it did not (it runs again).
 *
 * @since 0.1.0
 * @category models
 */
export const GatePurpose = Schema.Literal("gate", "confirm-effect")

/**
 * @since 0.1.0
 * @category models
 */
export type GatePurpose = typeof GatePurpose.Type

/**
 * What the operator is asked.
 *
 * @since 0.1.0
 * @category models
 */
export interface GateRequest {
  readonly runId: string
  readonly purpose: GatePurpose
  readonly step: Plan.Step
  /** What to do, one instruction per line. */
  readonly instructions: ReadonlyArray<string>
  /** Evidence an approval must carry (names). */
  readonly evidence: ReadonlyArray<Plan.EvidenceField>
}

/**
 * @since 0.1.0
 * @category services
 */
export class Operator extends Context.Tag("@sra-upgrade/core/Operator")<
  Operator,
  {
    readonly answer: (request: GateRequest) => Effect.Effect<Answer>
  }
>() {}

/**
 * Approve everything, filling each evidence field with a value that fits it
 * (`GateEvidence.example`: the expected value, else `"auto"` or a plausible
 * value of its format). For tests and simulator demos only: it also confirms
 * interrupted steps took effect.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerAutoApprove = (by = "auto-approve"): Layer.Layer<Operator> =>
  Layer.succeed(Operator, {
    answer: (request) =>
      Effect.succeed(
        new Approved({
          by,
          evidence: Object.fromEntries(request.evidence.map((e) => [e.name, GateEvidence.example(e)]))
        })
      )
  })

/**
 * A scripted answer: a fixed answer, a sequence consumed one per question
 * (the last one repeats), or a function of the request.
 *
 * @since 0.1.0
 * @category models
 */
export type Script = Answer | ReadonlyArray<Answer> | ((request: GateRequest) => Answer)

/**
 * Answers per gate (step) id; a gate without a script is deferred.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerScripted = (script: Readonly<Record<string, Script>>): Layer.Layer<Operator> =>
  Layer.sync(Operator, () => {
    const asked = new Map<string, number>()
    return {
      answer: (request) =>
        Effect.sync(() => {
          const entry = script[request.step.id]
          if (entry === undefined) {
            return new Deferred({ by: "script", reason: `no scripted answer for ${request.step.id}` })
          }
          if (typeof entry === "function") return entry(request)
          if (Array.isArray(entry)) {
            const n = asked.get(request.step.id) ?? 0
            asked.set(request.step.id, n + 1)
            return (entry as ReadonlyArray<Answer>)[Math.min(n, entry.length - 1)]!
          }
          return entry as Answer
        })
    }
  })

/**
 * Delegate to a prompt (the CLI's terminal prompt, a portal's queue).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerPrompt = (prompt: (request: GateRequest) => Effect.Effect<Answer>): Layer.Layer<Operator> =>
  Layer.succeed(Operator, { answer: prompt })

/**
 * Ask the operator in the current context.
 *
 * @since 0.1.0
 * @category combinators
 */
export const ask = (request: GateRequest): Effect.Effect<Answer, never, Operator> =>
  Effect.flatMap(Operator, (op) => op.answer(request))
