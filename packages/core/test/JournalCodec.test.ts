/**
 * The journal's hand-written fast path writes exactly what the schema
 * encoder writes, and fails exactly where it fails (issue 16).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Data from "effect/Data"
import { encodeLine, encodeLineWithSchema } from "../src/internal/executor/journalCodec.js"
import { MaintenanceWindow } from "../src/MaintenanceWindow.js"
import * as Operator from "../src/Operator.js"
import * as Plan from "../src/Plan.js"
import * as RunEvent from "../src/RunEvent.js"

const trusted = true
const at = new Date(Date.UTC(2026, 11, 5, 22, 0, 0, 123))

/** Both encoders' outcome: the line, or the error message. */
const outcome = (f: (e: RunEvent.Envelope) => string, e: RunEvent.Envelope) => {
  try {
    return { line: f(e) }
  } catch (error) {
    return { error: String(error) }
  }
}

const envelope = (event: unknown, seq: unknown = 7, runId: unknown = "run-1") =>
  new RunEvent.Envelope({ runId, seq, event } as unknown as RunEvent.Envelope, trusted)

class WithToJSON {
  toJSON() {
    return "custom"
  }
}
class Point extends Data.Class<{ x: number }> {}

const nullProto = Object.assign(Object.create(null) as Record<string, unknown>, { b: 1, a: 2 })
const withProtoKey = JSON.parse('{"__proto__": {"x": 1}, "y": 2}') as Record<string, unknown>
const holes = ["a", , "b"] // eslint-disable-line no-sparse-arrays

const stepBase = (id: string) => ({
  id,
  title: `Step ${id} "quoted" é`,
  rules: ["PREP-1", "SINGLE-12"] as unknown as ReadonlyArray<Plan.RuleId>,
  target: "A",
  estimatedSeconds: 12.5,
  handler: `h/${id}`,
  params: { appliance: "A", nested: { list: [1, null, "x"] }, at: new Date(0) },
  idempotent: false,
  notes: ["note 1", "note 2"]
})
const steps = {
  action: new Plan.Action(stepBase("a"), trusted),
  actionNoTarget: new Plan.Action({ ...stepBase("a2"), target: undefined } as never, trusted),
  check: new Plan.Check({ ...stepBase("c"), severity: "advisory" }, trusted),
  wait: new Plan.WaitFor({ ...stepBase("w"), intervalSeconds: 10, deadlineSeconds: 0.5 }, trusted),
  gate: new Plan.ManualGate(
    {
      ...stepBase("g"),
      instructions: ["Do it"],
      evidence: [new Plan.EvidenceField({ name: "ticket", description: "the ticket", format: "text" })]
    },
    trusted
  ),
  window: new Plan.Window(
    { ...stepBase("win"), window: new MaintenanceWindow({ label: "Saturday", start: at, durationMinutes: 240 }) },
    trusted
  )
}
const planWith = (s: ReadonlyArray<unknown>, over: Record<string, unknown> = {}) =>
  new Plan.Plan(
    {
      id: "p",
      kind: "single",
      title: "Plan",
      site: "s.example",
      targetVersion: "24.3.2",
      steps: s as ReadonlyArray<Plan.Step>,
      notes: ["n"],
      ...over
    } as never,
    trusted
  )
const started = (plan: unknown) => new RunEvent.RunStarted({ runId: "run-1", plan: plan as Plan.Plan, at }, trusted)
const allKinds = Object.values(steps)

const cases: ReadonlyArray<readonly [string, unknown]> = [
  ["run started, every step kind", started(planWith(allKinds))],
  ["run started, empty plan", started(planWith([]))],
  ["run started, duplicate step ids", started(planWith([steps.action, steps.action]))],
  ["run started, a hole in the steps", started(planWith([steps.action, , steps.check]))], // eslint-disable-line no-sparse-arrays
  ["run started, bad plan kind", started(planWith(allKinds, { kind: "other" }))],
  ["run started, plan notes missing", started(planWith(allKinds, { notes: undefined }))],
  ["run started, not a Plan instance", started({ ...planWith(allKinds) })],
  [
    "run started, bad rule id",
    started(planWith([new Plan.Action({ ...stepBase("x"), rules: ["prep-1"] } as never, trusted)]))
  ],
  ["run started, empty step id", started(planWith([new Plan.Action(stepBase(""), trusted)]))],
  [
    "run started, negative estimate",
    started(planWith([new Plan.Action({ ...stepBase("x"), estimatedSeconds: -1 }, trusted)]))
  ],
  [
    "run started, NaN estimate",
    started(planWith([new Plan.Action({ ...stepBase("x"), estimatedSeconds: NaN }, trusted)]))
  ],
  [
    "run started, params an array",
    started(planWith([new Plan.Action({ ...stepBase("x"), params: [1] } as never, trusted)]))
  ],
  [
    "run started, bad severity",
    started(planWith([new Plan.Check({ ...stepBase("x"), severity: "x" } as never, trusted)]))
  ],
  [
    "run started, zero interval",
    started(planWith([new Plan.WaitFor({ ...stepBase("x"), intervalSeconds: 0, deadlineSeconds: 1 }, trusted)]))
  ],
  [
    "run started, gate with a bad evidence format",
    started(
      planWith([
        new Plan.ManualGate(
          {
            ...stepBase("g"),
            instructions: [],
            evidence: [new Plan.EvidenceField({ name: "t", description: "d", format: "bad" } as never, trusted)]
          },
          trusted
        )
      ])
    )
  ],
  [
    "run started, window of a non-integer duration",
    started(
      planWith([
        new Plan.Window(
          { ...stepBase("w"), window: new MaintenanceWindow({ label: "l", start: at, durationMinutes: 1.5 }, trusted) },
          trusted
        )
      ])
    )
  ],
  [
    "run started, invalid date",
    new RunEvent.RunStarted({ runId: "r", plan: planWith([]), at: new Date(NaN) }, trusted)
  ],
  ["started", new RunEvent.StepStarted({ stepId: "s", attempt: 2, at }, trusted)],
  ["started with deadline", new RunEvent.StepStarted({ stepId: "s", attempt: 1, at, deadline: at }, trusted)],
  [
    "started, deadline undefined",
    new RunEvent.StepStarted({ stepId: "s", attempt: 1, at, deadline: undefined } as never, trusted)
  ],
  ["started, invalid date", new RunEvent.StepStarted({ stepId: "s", attempt: 1, at: new Date(NaN) }, trusted)],
  [
    "started, invalid deadline",
    new RunEvent.StepStarted({ stepId: "s", attempt: 1, at, deadline: new Date(NaN) }, trusted)
  ],
  ["started, NaN attempt", new RunEvent.StepStarted({ stepId: "s", attempt: NaN, at }, trusted)],
  ["started, attempt as string", new RunEvent.StepStarted({ stepId: "s", attempt: "1" as never, at }, trusted)],
  ["started, date as string", new RunEvent.StepStarted({ stepId: "s", attempt: 1, at: "2026" as never }, trusted)],
  [
    "succeeded, nested evidence",
    new RunEvent.StepSucceeded(
      {
        stepId: "s",
        evidence: {
          b: 1,
          a: [1, "x", null, { d: new Date(0) }],
          2: "two",
          1: "one",
          u: undefined,
          w: new WithToJSON()
        },
        warnings: ["w1", 'é \u2028 "q"'],
        at
      },
      trusted
    )
  ],
  [
    "succeeded, null-prototype evidence",
    new RunEvent.StepSucceeded({ stepId: "s", evidence: nullProto, warnings: [], at }, trusted)
  ],
  [
    "succeeded, __proto__ key",
    new RunEvent.StepSucceeded({ stepId: "s", evidence: withProtoKey, warnings: [], at }, trusted)
  ],
  [
    "succeeded, evidence a Date",
    new RunEvent.StepSucceeded({ stepId: "s", evidence: new Date(0) as never, warnings: [], at }, trusted)
  ],
  [
    "succeeded, evidence with toJSON",
    new RunEvent.StepSucceeded({ stepId: "s", evidence: new WithToJSON() as never, warnings: [], at }, trusted)
  ],
  [
    "succeeded, evidence a Data class",
    new RunEvent.StepSucceeded({ stepId: "s", evidence: new Point({ x: 1 }) as never, warnings: [], at }, trusted)
  ],
  [
    "succeeded, evidence an array",
    new RunEvent.StepSucceeded({ stepId: "s", evidence: [1, 2] as never, warnings: [], at }, trusted)
  ],
  [
    "succeeded, evidence null",
    new RunEvent.StepSucceeded({ stepId: "s", evidence: null as never, warnings: [], at }, trusted)
  ],
  [
    "succeeded, warning not a string",
    new RunEvent.StepSucceeded({ stepId: "s", evidence: {}, warnings: [1] as never, at }, trusted)
  ],
  [
    "succeeded, sparse warnings",
    new RunEvent.StepSucceeded({ stepId: "s", evidence: {}, warnings: holes as never, at }, trusted)
  ],
  ["progress", new RunEvent.StepProgress({ stepId: "s", done: 1, total: 2, unit: "bytes", at }, trusted)],
  ["progress without total", new RunEvent.StepProgress({ stepId: "s", done: 1, unit: "items", at }, trusted)],
  ["progress, bad unit", new RunEvent.StepProgress({ stepId: "s", done: 1, unit: "files" as never, at }, trusted)],
  ["progress, Infinity", new RunEvent.StepProgress({ stepId: "s", done: Infinity, unit: "items", at }, trusted)],
  [
    "wait progress",
    new RunEvent.WaitProgress({ stepId: "s", poll: 3, holds: false, observed: { v: "1" }, at }, trusted)
  ],
  [
    "wait progress, observed undefined",
    new RunEvent.WaitProgress({ stepId: "s", poll: 3, holds: true, observed: undefined, at }, trusted)
  ],
  [
    "wait progress, observed a Date",
    new RunEvent.WaitProgress({ stepId: "s", poll: 3, holds: true, observed: at, at }, trusted)
  ],
  [
    "wait progress, holds not boolean",
    new RunEvent.WaitProgress({ stepId: "s", poll: 3, holds: 1 as never, observed: 1, at }, trusted)
  ],
  [
    "sample",
    new RunEvent.SiteSample(
      {
        from: at,
        at,
        probes: 3,
        failed: 1,
        up: false,
        lastError: "HTTP 503",
        intervalMillis: 500,
        url: "https://x",
        first: true
      },
      trusted
    )
  ],
  [
    "sample, minimal",
    new RunEvent.SiteSample({ from: at, at, probes: 1, failed: 0, up: true, intervalMillis: 500, url: "u" }, trusted)
  ],
  [
    "sample, bad first",
    new RunEvent.SiteSample(
      { from: at, at, probes: 1, failed: 0, up: true, intervalMillis: 5, url: "u", first: "yes" as never },
      trusted
    )
  ],
  ["finished", new RunEvent.RunFinished({ status: "halted-needs-support", at }, trusted)],
  ["finished, bad status", new RunEvent.RunFinished({ status: "cancelled" as never, at }, trusted)],
  ["cancelled", new RunEvent.Cancelled({ at }, trusted)],
  ["cancelled, invalid date", new RunEvent.Cancelled({ at: new Date(NaN) }, trusted)],
  ["resumed (schema path)", new RunEvent.Resumed({ at }, trusted)],
  [
    "gate answered (schema path)",
    new RunEvent.GateAnswered(
      { stepId: "g", purpose: "gate", answer: new Operator.Approved({ by: "a", evidence: {} }), at },
      trusted
    )
  ],
  ["a plain object, not an event instance", { _tag: "Cancelled", at }],
  ["not an event", 42]
]

describe("journal codec fast path", () => {
  for (const [name, event] of cases) {
    it(`writes what the schema writes, or fails as it fails: ${name}`, () => {
      const e = envelope(event)
      expect(outcome(encodeLine, e)).toEqual(outcome(encodeLineWithSchema, e))
    })
  }

  it("the envelope's own fields are checked as the schema checks them", () => {
    const event = new RunEvent.Cancelled({ at }, trusted)
    for (const e of [envelope(event, "7"), envelope(event, 7, 1), envelope(event, NaN)]) {
      expect(outcome(encodeLine, e)).toEqual(outcome(encodeLineWithSchema, e))
    }
    const plain = { runId: "r", seq: 1, event } as unknown as RunEvent.Envelope
    expect(outcome(encodeLine, plain)).toEqual(outcome(encodeLineWithSchema, plain))
  })
})
