/**
 * What the gates of the service's runs (`Gates`) and the site gates of fleet
 * rollouts (`Fleet`) share around a ballot (`Approvals`): the durable record
 * of one decision, the request's fingerprint behind `Idempotency-Key`, the
 * refusals as typed API errors, and the gate's status.
 */
import { Operator } from "@sra-upgrade/core"
import * as Schema from "effect/Schema"
import { Conflict, Forbidden, type GateStatus, Invalid } from "../Api.js"
import type * as Approvals from "../Approvals.js"

/** The fields of a decision as the approvals files keep it (with where it belongs). */
export const decidedFields = {
  kind: Schema.Literal("decision"),
  stepId: Schema.String,
  round: Schema.Number,
  approval: Operator.Approval,
  key: Schema.optional(Schema.String),
  fingerprint: Schema.String
}

/** What makes two requests the same request (an `Idempotency-Key` seen again). */
export const fingerprintOf = (principal: string, d: Approvals.Decision): string =>
  JSON.stringify([principal, d.decision, d.comment, Object.entries(d.evidence).sort()])

/** An `Idempotency-Key` used before for another request. */
export const keyConflict = (key: string): Conflict =>
  new Conflict({
    reason: "idempotency-key",
    message: `Idempotency-Key ${key} was used for another request; use a new key for a new request.`
  })

/** The errors of answering a gate. */
export type AnswerError = Forbidden | Conflict | Invalid

/** A refused decision as the API's error (`where` names the gate in an evidence message). */
export const refusalToError = (where: string, r: Approvals.Refusal): AnswerError => {
  switch (r.reason) {
    case "closed":
      return new Conflict({ reason: "gate-closed", message: r.message })
    case "already-decided":
      return new Conflict({ reason: "already-decided", message: r.message })
    case "role":
      return new Forbidden({ reason: "role", message: r.message })
    case "initiator":
      return new Forbidden({ reason: "initiator", message: r.message })
    case "evidence":
      return new Invalid({ reason: "evidence", message: `${where}: ${r.message}` })
  }
}

/** The status of a gate from its ballot. */
export const statusOf = (ballot: Approvals.Ballot): typeof GateStatus.Type => {
  const a = ballot.answer
  if (a === undefined) return ballot.escalated ? "escalated" : "open"
  return a._tag === "Approved" ? "approved" : a._tag === "Rejected" ? "rejected" : "deferred"
}
