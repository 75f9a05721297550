import { describe, expect, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import { Operator, RunEvent } from "../src/index.js"

const decodeLine = Schema.decodeUnknownSync(Schema.parseJson(RunEvent.Envelope))
const encodeLine = (e: RunEvent.Envelope) => JSON.stringify(Schema.encodeSync(RunEvent.Envelope)(e))

describe("Operator answers carry the approval trail", () => {
  it("a GateAnswered line written before 0.3.0 (no comment, no approvals) still decodes", () => {
    const old =
      '{"runId":"r1","seq":7,"event":{"_tag":"GateAnswered","stepId":"pair/break","purpose":"gate","answer":{"_tag":"Approved","by":"jane","evidence":{"pressed":"yes"}},"at":"2026-01-02T03:04:05.000Z"}}'
    const e = decodeLine(old)
    expect(e.event._tag).toBe("GateAnswered")
    if (e.event._tag !== "GateAnswered" || e.event.answer._tag !== "Approved") throw new Error("wrong event")
    expect(e.event.answer.by).toBe("jane")
    expect(e.event.answer.approvals).toBeUndefined()
    expect(e.event.answer.comment).toBeUndefined()
    const rejected = decodeLine(
      '{"runId":"r1","seq":8,"event":{"_tag":"GateAnswered","stepId":"x","purpose":"gate","answer":{"_tag":"Rejected","by":"bob","reason":"no"},"at":"2026-01-02T03:04:05.000Z"}}'
    )
    expect(rejected.event._tag).toBe("GateAnswered")
  })

  it("the approvals of a four-eyes gate round-trip through the journal's line format", () => {
    const at = new Date("2026-01-02T03:04:05.000Z")
    const approvals = [
      new Operator.Approval({
        principal: "ann",
        role: "approver",
        decision: "approve",
        comment: "done",
        evidence: { ip: "10.0.0.10" },
        at
      }),
      new Operator.Approval({
        principal: "bob",
        role: "approver",
        decision: "approve",
        comment: "checked",
        evidence: {},
        at
      })
    ]
    const envelope = new RunEvent.Envelope({
      runId: "r1",
      seq: 9,
      event: new RunEvent.GateAnswered({
        stepId: "pair/switch",
        purpose: "gate",
        answer: new Operator.Approved({ by: "ann, bob", evidence: { ip: "10.0.0.10" }, comment: "checked", approvals }),
        at
      })
    })
    const back = decodeLine(encodeLine(envelope))
    if (back.event._tag !== "GateAnswered" || back.event.answer._tag !== "Approved") throw new Error("wrong event")
    expect(back.event.answer.approvals?.map((a) => [a.principal, a.decision, a.comment])).toEqual([
      ["ann", "approve", "done"],
      ["bob", "approve", "checked"]
    ])
    expect(back.event.answer.approvals?.[0]?.at.toISOString()).toBe(at.toISOString())
    expect(() =>
      Schema.decodeUnknownSync(Operator.Approval)({
        principal: "x",
        role: "r",
        decision: "maybe",
        comment: "",
        evidence: {},
        at: at.toISOString()
      })
    ).toThrow()
  })
})
