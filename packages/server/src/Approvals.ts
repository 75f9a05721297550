/**
 * The ballot of one gate, as pure functions: who may decide, how decisions
 * accumulate into the gate's answer, what a deadline does. No I/O: the
 * `Gates` service keeps ballots durable and answers the executor.
 *
 * Rules, in order, for a decision by a principal:
 * 1. a closed gate accepts only the same decision again from the same
 *    principal (a retry), anything else is `closed` (HTTP 409);
 * 2. the run's initiator may not decide when the policy excludes them —
 *    `initiator` (403);
 * 3. the principal's role must be one the policy allows (`admin` only, once
 *    escalated) — `role` (403);
 * 4. a principal decides once per gate opening — `already-decided` (409),
 *    unless it is the same decision again (a retry);
 * 5. approving needs a non-empty value for every evidence field that is not
 *    optional, and no unknown field — `evidence` (400);
 * 6. one reject (or defer) closes the gate; approvals close it when
 *    `policy.approvals` distinct principals approved.
 *
 * @since 0.3.0
 */
import { Operator, type Plan } from "@sra-upgrade/core"
import * as Data from "effect/Data"
import * as Either from "effect/Either"
import type { Principal, Role } from "./Auth.js"
import type { GatePolicy } from "./Policy.js"

/**
 * A decision as a person sends it.
 *
 * @since 0.3.0
 * @category models
 */
export interface Decision {
  readonly decision: "approve" | "reject" | "defer"
  readonly comment: string
  readonly evidence: Readonly<Record<string, string>>
}

/**
 * The ballot of one opening of a gate.
 *
 * @since 0.3.0
 * @category models
 */
export interface Ballot {
  readonly policy: GatePolicy
  readonly evidence: ReadonlyArray<Plan.EvidenceField>
  readonly initiator: string | undefined
  readonly approvals: ReadonlyArray<Operator.Approval>
  /** The deadline passed and the policy escalates: only admins may decide. */
  readonly escalated: boolean
  /** The answer once the gate is closed. */
  readonly answer: Operator.Answer | undefined
}

/**
 * Why a decision is refused.
 *
 * @since 0.3.0
 * @category errors
 */
export class Refusal extends Data.TaggedError("Refusal")<{
  readonly reason: "closed" | "role" | "initiator" | "already-decided" | "evidence"
  readonly message: string
}> {}

/**
 * A new ballot.
 *
 * @since 0.3.0
 * @category constructors
 */
export const open = (
  policy: GatePolicy,
  evidence: ReadonlyArray<Plan.EvidenceField>,
  initiator: string | undefined,
  approvals: ReadonlyArray<Operator.Approval> = [],
  escalated = false
): Ballot => {
  const ballot: Ballot = { policy, evidence, initiator, approvals: [], escalated, answer: undefined }
  // decisions recorded before a restart are replayed through the same rules
  return approvals.reduce<Ballot>((b, a) => replay(b, a), ballot)
}

const replay = (ballot: Ballot, a: Operator.Approval): Ballot => {
  if (ballot.answer !== undefined) return ballot
  const approvals = [...ballot.approvals, a]
  return { ...ballot, approvals, answer: outcome(ballot.policy, approvals) }
}

/**
 * The roles that may decide now.
 *
 * @since 0.3.0
 * @category combinators
 */
export const allowedRoles = (ballot: Ballot): ReadonlyArray<Role> =>
  ballot.escalated ? ["admin"] : ballot.policy.roles

/**
 * Distinct approvals still needed.
 *
 * @since 0.3.0
 * @category combinators
 */
export const remaining = (ballot: Ballot): number =>
  Math.max(0, ballot.policy.approvals - new Set(approvers(ballot.approvals)).size)

const approvers = (approvals: ReadonlyArray<Operator.Approval>) =>
  approvals.filter((a) => a.decision === "approve").map((a) => a.principal)

const sameDecision = (a: Operator.Approval, d: Decision) =>
  a.decision === d.decision &&
  a.comment === d.comment &&
  JSON.stringify(Object.entries(a.evidence).sort()) === JSON.stringify(Object.entries(d.evidence).sort())

const mergedEvidence = (approvals: ReadonlyArray<Operator.Approval>): Record<string, string> =>
  Object.assign({}, ...approvals.filter((a) => a.decision === "approve").map((a) => a.evidence))

const outcome = (policy: GatePolicy, approvals: ReadonlyArray<Operator.Approval>): Operator.Answer | undefined => {
  const last = approvals[approvals.length - 1]
  if (last === undefined) return undefined
  switch (last.decision) {
    case "reject":
      return new Operator.Rejected({ by: last.principal, reason: last.comment, comment: last.comment, approvals })
    case "defer":
      return new Operator.Deferred({ by: last.principal, reason: last.comment })
    case "approve": {
      const who = [...new Set(approvers(approvals))]
      if (who.length < policy.approvals) return undefined
      return new Operator.Approved({
        by: who.join(", "),
        evidence: mergedEvidence(approvals),
        comment: last.comment,
        approvals
      })
    }
  }
}

/**
 * What a decision did: the new ballot, and whether it was a retry of a
 * decision already recorded (nothing changed).
 *
 * @since 0.3.0
 * @category models
 */
export interface Cast {
  readonly ballot: Ballot
  readonly replayed: boolean
}

/**
 * Apply one decision of `principal` at `at`.
 *
 * @since 0.3.0
 * @category combinators
 */
export const cast = (ballot: Ballot, principal: Principal, d: Decision, at: Date): Either.Either<Cast, Refusal> => {
  const mine = ballot.approvals.filter((a) => a.principal === principal.id)
  const retry = mine.find((a) => sameDecision(a, d))
  if (ballot.answer !== undefined) {
    if (retry !== undefined) return Either.right({ ballot, replayed: true })
    return Either.left(
      new Refusal({
        reason: "closed",
        message: `This gate is already closed (${ballot.answer._tag.toLowerCase()} by ${ballot.answer.by}); a different answer is not accepted. Reload the run to see its state.`
      })
    )
  }
  if (ballot.policy.excludeInitiator && ballot.initiator === principal.id)
    return Either.left(
      new Refusal({
        reason: "initiator",
        message: `${principal.id} started this run and may not answer its gates (no self-approval): another person must decide.`
      })
    )
  const roles = allowedRoles(ballot)
  if (!roles.includes(principal.role))
    return Either.left(
      new Refusal({
        reason: "role",
        message: `${principal.id} is ${principal.role}; this gate (${ballot.policy.basis}${ballot.escalated ? ", escalated after its deadline" : ""}) may be answered by ${roles.join(" or ")}. Ask one of them.`
      })
    )
  if (mine.length > 0) {
    if (retry !== undefined) return Either.right({ ballot, replayed: true })
    return Either.left(
      new Refusal({
        reason: "already-decided",
        message: `${principal.id} already decided on this gate (${mine[0]!.decision}); ${remaining(ballot)} more approval(s) by other people are needed.`
      })
    )
  }
  if (d.decision === "approve") {
    const missing = ballot.evidence.filter((f) => f.optional !== true && !d.evidence[f.name]?.trim()).map((f) => f.name)
    const known = new Set(ballot.evidence.map((f) => f.name))
    const unknown = Object.keys(d.evidence).filter((k) => !known.has(k))
    if (missing.length > 0 || unknown.length > 0)
      return Either.left(
        new Refusal({
          reason: "evidence",
          message: [
            missing.length > 0 ? `approving needs evidence: ${missing.join(", ")}` : "",
            unknown.length > 0 ? `unknown evidence field(s): ${unknown.join(", ")}` : ""
          ]
            .filter((s) => s !== "")
            .join("; ")
            .concat(`. The gate asks for: ${ballot.evidence.map((f) => f.name).join(", ") || "nothing"}.`)
        })
      )
  }
  const approval = new Operator.Approval({
    principal: principal.id,
    role: principal.role,
    decision: d.decision,
    comment: d.comment,
    evidence: d.decision === "approve" ? { ...d.evidence } : {},
    at
  })
  return Either.right({ ballot: replay(ballot, approval), replayed: false })
}

/**
 * The deadline passed: `reject` closes the gate with a rejection naming the
 * deadline; `escalate` hands it to admins (the gate stays open).
 *
 * @since 0.3.0
 * @category combinators
 */
export const expire = (ballot: Ballot, by: string): Ballot => {
  if (ballot.answer !== undefined) return ballot
  if (ballot.policy.onTimeout === "escalate") return { ...ballot, escalated: true }
  const reason = `no decision before the gate's deadline (${ballot.policy.deadlineSeconds ?? 0} s, policy: reject); ${ballot.approvals.length} decision(s) had been given`
  return {
    ...ballot,
    answer: new Operator.Rejected({ by, reason, comment: reason, approvals: ballot.approvals })
  }
}
