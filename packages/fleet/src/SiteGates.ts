/**
 * Durable gates of sites in a rollout: a manual gate (or a confirmation of
 * an interrupted step) reached by a site's plan during a rollout does not
 * fail the site: the gate is recorded open in the rollout's ledger, the
 * site's workflow suspends, and an answer given later from any process that
 * reaches the database (`sra-upgrade fleet answer`, the portal service)
 * resumes it. The executor journals the answer as the single-site CLI does:
 * who answered, the comment, the evidence.
 *
 * An answer is checked against the gate's evidence fields
 * (`GateEvidence.validate`) before it is recorded: evidence that does not
 * fit is a typed error saying what was expected, and the gate stays open.
 *
 * @since 0.3.0
 */
import { GateEvidence, Operator, Plan } from "@sra-upgrade/core"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"

/**
 * A gate a site of a rollout waits on: what the person must do and the
 * evidence an approval must carry.
 *
 * @since 0.3.0
 * @category models
 */
export class OpenGate extends Schema.Class<OpenGate>("FleetOpenGate")({
  rolloutId: Schema.String,
  site: Schema.String,
  /** The step id of the gate in the site's plan (`fleet answer --gate`). */
  stepId: Schema.String,
  runId: Schema.String,
  purpose: Operator.GatePurpose,
  title: Schema.String,
  target: Schema.optional(Schema.String),
  instructions: Schema.Array(Schema.String),
  evidence: Schema.Array(Plan.EvidenceField),
  openedAt: Schema.Date
}) {}

/**
 * A gate as the ledger holds it: the gate and its answer, if one was given
 * and not yet taken by the site's run (a deferral is taken once; an
 * approval or a rejection stays).
 *
 * @since 0.3.0
 * @category models
 */
export class GateRecord extends Schema.Class<GateRecord>("FleetGateRecord")({
  gate: OpenGate,
  answer: Schema.optional(Operator.Answer),
  /** The last deferral the site's run took (who, why): the gate is still open. */
  lastDeferral: Schema.optional(Operator.Deferred)
}) {
  /**
   * Open: no approval or rejection given yet.
   *
   * @since 0.3.0
   */
  get isOpen(): boolean {
    return this.answer === undefined || this.answer._tag === "Deferred"
  }
}

/**
 * One person's answer to a site's gate.
 *
 * @since 0.3.0
 * @category models
 */
export class AnswerInput extends Schema.Class<AnswerInput>("FleetGateAnswer")({
  rolloutId: Schema.String,
  site: Schema.String,
  stepId: Schema.String,
  /** The authenticated principal (the CLI: the operating-system user, or `--by`). */
  principal: Schema.String,
  /** The principal's role, as an approval queue records it (default `operator`). */
  role: Schema.optionalWith(Schema.String, { default: () => "operator" }),
  decision: Schema.Literal("approve", "reject", "defer"),
  comment: Schema.String,
  evidence: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), {
    default: () => ({})
  }),
  /**
   * Decisions given before this one on the same opening of the gate, by other people (an approval queue's
   * earlier approvals, e.g. the first of two distinct approvers of the portal): they join the answer's audit
   * trail, and an approval is by every distinct approver. Checked where they were given; default none.
   *
   * @since 0.3.0
   */
  prior: Schema.optionalWith(Schema.Array(Operator.Approval), { default: () => [] })
}) {}

/**
 * No such gate is open on the site.
 *
 * @since 0.3.0
 * @category models
 */
export class NoOpenGate extends Schema.TaggedClass<NoOpenGate>()("NoOpenGate", {
  /** The gates open on the site now (step ids). */
  open: Schema.Array(Schema.String)
}) {}

/**
 * The gate was already approved or rejected.
 *
 * @since 0.3.0
 * @category models
 */
export class AlreadyAnswered extends Schema.TaggedClass<AlreadyAnswered>()("AlreadyAnswered", {
  by: Schema.String,
  decision: Schema.String
}) {}

/**
 * The approval's evidence does not fit the gate's evidence fields.
 *
 * @since 0.3.0
 * @category models
 */
export class BadEvidence extends Schema.TaggedClass<BadEvidence>()("BadEvidence", {
  problems: Schema.Array(GateEvidence.Problem),
  /** The fields the gate asks for, to say what is expected. */
  fields: Schema.Array(Plan.EvidenceField)
}) {}

/**
 * The comment is empty.
 *
 * @since 0.3.0
 * @category models
 */
export class MissingComment extends Schema.TaggedClass<MissingComment>()("MissingComment", {}) {}

/**
 * @since 0.3.0
 * @category models
 */
export const GateAnswerErrorReason = Schema.Union(NoOpenGate, AlreadyAnswered, BadEvidence, MissingComment)

/**
 * An answer to a site's gate was refused; nothing was recorded and the gate
 * stays as it was.
 *
 * @since 0.3.0
 * @category errors
 */
export class GateAnswerError extends Schema.TaggedError<GateAnswerError>("@sra-upgrade/fleet/GateAnswerError")(
  "GateAnswerError",
  { rolloutId: Schema.String, site: Schema.String, stepId: Schema.String, reason: GateAnswerErrorReason }
) {
  /**
   * @since 0.3.0
   */
  override get message(): string {
    const r = this.reason
    const where = `Gate ${this.stepId} of site ${this.site} (rollout ${this.rolloutId})`
    switch (r._tag) {
      case "NoOpenGate":
        return `${where} is not open: ${
          r.open.length === 0
            ? "the site waits on no gate now (fleet status shows which sites wait)."
            : `the site waits on ${r.open.join(", ")}; answer that gate.`
        }`
      case "AlreadyAnswered":
        return `${where} was already answered (${r.decision} by ${r.by}); nothing to do.`
      case "BadEvidence":
        return `${where}: evidence refused: ${r.problems
          .map((p) => `${p.field} must be ${p.expected}${p.got === "" ? " (nothing was given)" : `, got "${p.got}"`}`)
          .join("; ")}. The gate asks for ${r.fields
          .map((f) => `${f.name}=<${f.description}${f.optional === true ? ", optional" : ""}>`)
          .join(", ")}; check the work and answer again (the gate stays open).`
      case "MissingComment":
        return `${where}: a comment is required (what was done or why); answer again with --comment.`
    }
  }
}

/**
 * Check an answer against a gate (comment given; for an approval, evidence
 * fitting the gate's fields) and turn it into the executor's answer, with
 * the audit trail of the approval.
 *
 * @since 0.3.0
 * @category combinators
 */
export const toAnswer = (
  gate: OpenGate,
  input: AnswerInput,
  at: Date
): Either.Either<Operator.Answer, GateAnswerError> => {
  const refuse = (reason: typeof GateAnswerErrorReason.Type) =>
    Either.left(new GateAnswerError({ rolloutId: input.rolloutId, site: input.site, stepId: input.stepId, reason }))
  const comment = input.comment.trim()
  if (comment === "") return refuse(new MissingComment())
  const approvals = [
    ...input.prior,
    new Operator.Approval({
      principal: input.principal,
      role: input.role,
      decision: input.decision,
      comment,
      evidence: input.evidence,
      at
    })
  ]
  switch (input.decision) {
    case "approve": {
      const checked = GateEvidence.validate(gate.stepId, gate.evidence, input.evidence)
      if (Either.isLeft(checked))
        return refuse(new BadEvidence({ problems: checked.left.problems, fields: gate.evidence }))
      const approving = approvals.filter((a) => a.decision === "approve")
      return Either.right(
        new Operator.Approved({
          by: [...new Set(approving.map((a) => a.principal))].join(", "),
          evidence: Object.assign({}, ...approving.map((a) => a.evidence)),
          comment,
          approvals
        })
      )
    }
    case "reject":
      return Either.right(new Operator.Rejected({ by: input.principal, reason: comment, comment, approvals }))
    case "defer":
      return Either.right(new Operator.Deferred({ by: input.principal, reason: comment }))
  }
}

/**
 * The deferral the site's run journals while no answer was given.
 *
 * @since 0.3.0
 * @category constructors
 */
export const waiting = (gate: { readonly stepId: string }): Operator.Deferred =>
  new Operator.Deferred({
    by: "sra-upgrade fleet",
    reason: `waiting for an answer to ${gate.stepId} (sra-upgrade fleet answer, or the portal)`
  })

/**
 * A line per field for the person answering: `name (description)`.
 *
 * @since 0.3.0
 * @category combinators
 */
export const describeEvidence = (gate: OpenGate): ReadonlyArray<string> =>
  gate.evidence.map(
    (f) =>
      `${f.name}: ${f.description}${f.format !== undefined && f.format !== "text" ? ` (${f.format})` : ""}${
        f.expected !== undefined ? `, expected ${f.expected}` : ""
      }${f.optional === true ? ", optional" : ""}`
  )
