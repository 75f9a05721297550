import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as GateEvidence from "../src/GateEvidence.js"
import * as Operator from "../src/Operator.js"
import * as Plan from "../src/Plan.js"
import * as RunEvent from "../src/RunEvent.js"
import * as RunHistory from "../src/RunHistory.js"
import * as StepDef from "../src/StepDef.js"
import * as StepHandler from "../src/StepHandler.js"

class Greeting extends Context.Tag("test/Greeting")<Greeting, string>() {}

const Served = StepDef.make("test/served-by", {
  kinds: ["Check", "WaitFor", "ManualGate"],
  params: Schema.Struct({ appliance: Schema.String, version: Schema.optional(Schema.String) }),
  evidence: (p) => ({
    shown: GateEvidence.version("version shown", p.version === undefined ? {} : { expected: p.version })
  })
})

const meta = { id: "s", title: "Served", rules: ["VERIFY-1"], estimatedSeconds: 5 }
const at = new Date(0)
const plan = (steps: ReadonlyArray<Plan.Step>) =>
  Plan.make({ id: "p", kind: "custom", title: "p", site: "s", targetVersion: "1", steps })

const ctx = (step: Plan.Step, records: ReadonlyArray<RunEvent.Envelope> = []): StepHandler.StepContext => ({
  runId: "r",
  plan: plan([step]),
  step,
  attempt: 1,
  history: RunHistory.make(records)
})

describe("StepDef", () => {
  it("builds the step kinds it declares with the same handler name and encoded params", () => {
    const check = Served.check(meta, { appliance: "A" })
    const wait = Served.wait({ ...meta, id: "w", intervalSeconds: 5, deadlineSeconds: 60 }, { appliance: "A" })
    const gate = Served.gate({ ...meta, id: "g", instructions: ["look"] }, { appliance: "A", version: "24.3.2" })
    expect([check._tag, wait._tag, gate._tag]).toEqual(["Check", "WaitFor", "ManualGate"])
    expect(new Set([check.handler, wait.handler, gate.handler])).toEqual(new Set(["test/served-by"]))
    expect(check.severity).toBe("blocking")
    expect(gate.evidence).toEqual([
      new Plan.EvidenceField({ name: "shown", description: "version shown", format: "version", expected: "24.3.2" })
    ])
    expect([check, wait, gate].every((s) => Served.is(s))).toBe(true)
    expect(Option.getOrThrow(Served.paramsOf(gate))).toEqual({ appliance: "A", version: "24.3.2" })
    const other = StepDef.check("test/other", { params: Schema.Struct({}) }).check(meta, {})
    expect(Served.is(other)).toBe(false)
    expect(Option.isNone(Served.paramsOf(other))).toBe(true)
  })

  it("an invalid plan is a planner bug: it throws", () => {
    const step = Served.check(meta, { appliance: "A" })
    expect(() => plan([step, step])).toThrow(/duplicate step id s/)
    expect(() => Served.check({ ...meta, rules: ["not a rule"] }, { appliance: "A" })).toThrow()
  })

  it.effect("implementations get decoded params, the services they captured, and typed gate evidence", () =>
    Effect.gen(function* () {
      const registry = yield* StepHandler.StepHandlers
      const handler = Option.getOrThrow(registry.get("test/served-by"))
      const check = Served.check(meta, { appliance: "A" })
      expect(yield* handler.run!(ctx(check))).toEqual({ greeting: "hello A", shown: null })
      const gate = Served.gate({ ...meta, id: "g", instructions: ["look"] }, { appliance: "B", version: "24.3.2" })
      const answered = new RunEvent.Envelope({
        runId: "r",
        seq: 1,
        event: new RunEvent.GateAnswered({
          stepId: "g",
          purpose: "gate",
          answer: new Operator.Approved({ by: "ann", evidence: { shown: "v24.3.2" } }),
          at
        })
      })
      expect(yield* handler.run!(ctx(gate, [answered]))).toEqual({ greeting: "hello B", shown: "24.3.2" })
      const polled = yield* handler.poll!(
        ctx(Served.wait({ ...meta, intervalSeconds: 1, deadlineSeconds: 2 }, { appliance: "C" }))
      )
      expect(polled.holds).toBe(true)
      // params that do not decode: a typed BadParams naming the field
      const bad = new Plan.Check({ ...check, params: { appliance: 42 } })
      const e = yield* Effect.flip(handler.run!(ctx(bad)))
      expect(e instanceof StepHandler.StepError && e.reason._tag === "BadParams" && e.reason.field).toBe("appliance")
    }).pipe(
      Effect.provide(
        StepHandler.layer(
          Served.implement({
            run: (params, c) =>
              Effect.map(Greeting, (g) => ({ greeting: `${g} ${params.appliance}`, shown: c.evidence?.shown ?? null })),
            poll: () => Effect.succeed({ holds: true, observed: "ok" })
          })
        ).pipe(Layer.provide(Layer.succeed(Greeting, "hello")))
      )
    )
  )

  it.effect("two implementations of one name are a wiring bug: the layer dies naming it", () =>
    Effect.gen(function* () {
      const A = StepDef.action("test/twice", { params: Schema.Struct({}) })
      const exit = yield* Effect.exit(
        Layer.build(
          StepHandler.layer(
            A.implement({ run: () => Effect.succeed({}) }),
            A.implement({ run: () => Effect.succeed({}) })
          )
        ).pipe(Effect.scoped)
      )
      expect(Exit.isFailure(exit) && String(exit.cause)).toMatch(/Two implementations of step "test\/twice"/)
    })
  )
})

describe("RunHistory", () => {
  it("answers when a step started, was asked, succeeded, with what, and what a wait observed", () => {
    const e = (seq: number, event: RunEvent.RunEvent) => new RunEvent.Envelope({ runId: "r", seq, event })
    const t = (s: number) => new Date(s * 1000)
    const h = RunHistory.make([
      e(1, new RunEvent.StepStarted({ stepId: "w", attempt: 1, at: t(1) })),
      e(2, new RunEvent.WaitProgress({ stepId: "w", poll: 1, holds: false, observed: { error: "down" }, at: t(2) })),
      e(3, new RunEvent.StepStarted({ stepId: "w", attempt: 2, at: t(3) })),
      e(4, new RunEvent.WaitProgress({ stepId: "w", poll: 1, holds: true, observed: { healthy: true }, at: t(4) })),
      e(5, new RunEvent.StepSucceeded({ stepId: "w", evidence: { ok: 1 }, warnings: [], at: t(5) })),
      e(6, new RunEvent.StepStarted({ stepId: "g", attempt: 1, at: t(6) })),
      e(7, new RunEvent.GateOpened({ stepId: "g", purpose: "gate", at: t(7) }))
    ])
    expect(Option.getOrThrow(h.startedAt("w"))).toEqual(t(3))
    expect(Option.getOrThrow(h.succeededAt("w"))).toEqual(t(5))
    expect(Option.getOrThrow(h.evidenceOf("w"))).toEqual({ ok: 1 })
    expect(h.observations("w").map((o) => o.at)).toEqual([t(2), t(4)])
    expect(Option.getOrThrow(h.askedAt("g"))).toEqual(t(7))
    expect(Option.isNone(h.answerOf("g"))).toBe(true)
    expect(Option.isNone(h.succeededAt("g"))).toBe(true)
  })
})
