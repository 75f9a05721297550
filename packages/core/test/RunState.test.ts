import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Operator from "../src/Operator.js"
import * as RunEvent from "../src/RunEvent.js"
import * as RunState from "../src/RunState.js"
import * as StepHandler from "../src/StepHandler.js"
import { action, gate, plan, waitFor, window } from "./fixtures/steps.js"

const at = new Date("2026-01-01T00:00:00Z")
const thePlan = plan([
  action("act"),
  gate("gate"),
  waitFor("wait"),
  window("win", new Date("2026-01-02T00:00:00Z")),
  action("last", "last", true)
])
const started = Either.getOrThrow(
  RunState.transition(RunState.initial, new RunEvent.RunStarted({ runId: "r", plan: thePlan, at }))
).state
const S = RunState.RunStatus
const at_ = (completed: number, status: RunState.RunStatus): RunState.RunState => ({ ...started, completed, status })
const stepError = StepHandler.fail("boom")

const states: Record<string, RunState.RunState> = {
  pending: RunState.initial,
  ready: at_(0, S.Running({ stepId: "act", inFlight: false })),
  inflight: at_(0, S.Running({ stepId: "act", inFlight: true })),
  inflightWait: at_(2, S.Running({ stepId: "wait", inFlight: true })),
  inflightWin: at_(3, S.Running({ stepId: "win", inFlight: true })),
  inflightLast: at_(4, S.Running({ stepId: "last", inFlight: true })),
  gate: at_(1, S.WaitingForOperator({ stepId: "gate", purpose: "gate" })),
  confirm: at_(0, S.WaitingForOperator({ stepId: "act", purpose: "confirm-effect" })),
  paused: at_(3, S.PausedUntilWindow({ stepId: "win", until: new Date("2026-01-02T00:00:00Z") })),
  cancelled: at_(0, S.Cancelled({ from: S.Running({ stepId: "act", inFlight: true }) })),
  succeeded: at_(5, S.Succeeded()),
  failed: at_(0, S.Failed({ stepId: "act", error: stepError })),
  halted: at_(0, S.HaltedNeedsSupport({ stepId: "act", detail: "update failed" }))
}

const purposeOf = (s: RunState.RunState): Operator.GatePurpose =>
  s.status._tag === "WaitingForOperator" ? s.status.purpose : "gate"

/** Built once per (purpose, terminal status, step): constructing events validates them, the plan included. */
const eventCache = new Map<string, Record<string, RunEvent.RunEvent>>()

const events = (s: RunState.RunState, stepId: string): Record<string, RunEvent.RunEvent> => {
  const purpose = purposeOf(s)
  const name = RunState.statusName(s.status)
  const key = `${purpose}/${RunState.isTerminal(s.status) ? name : "-"}/${stepId}`
  const cached = eventCache.get(key)
  if (cached !== undefined) return cached
  const built = buildEvents(s, stepId, purpose, name)
  eventCache.set(key, built)
  return built
}

const buildEvents = (
  s: RunState.RunState,
  stepId: string,
  purpose: ReturnType<typeof purposeOf>,
  name: string
): Record<string, RunEvent.RunEvent> => {
  return {
    RunStarted: new RunEvent.RunStarted({ runId: "r", plan: thePlan, at }),
    StepStarted: new RunEvent.StepStarted({ stepId, attempt: 1, at }),
    StepSucceeded: new RunEvent.StepSucceeded({ stepId, evidence: {}, warnings: [], at }),
    StepFailed: new RunEvent.StepFailed({ stepId, error: stepError, at }),
    SupportNeeded: new RunEvent.SupportNeeded({ stepId, detail: "update failed", at }),
    "StepVerified+": new RunEvent.StepVerified({ stepId, effective: true, evidence: {}, at }),
    "StepVerified-": new RunEvent.StepVerified({ stepId, effective: false, evidence: {}, at }),
    ConfirmationNeeded: new RunEvent.ConfirmationNeeded({ stepId, reason: "no verify", at }),
    GateOpened: new RunEvent.GateOpened({ stepId, purpose, at }),
    Approved: new RunEvent.GateAnswered({
      stepId,
      purpose,
      answer: new Operator.Approved({ by: "ann", evidence: {} }),
      at
    }),
    Rejected: new RunEvent.GateAnswered({
      stepId,
      purpose,
      answer: new Operator.Rejected({ by: "ann", reason: "no" }),
      at
    }),
    Deferred: new RunEvent.GateAnswered({ stepId, purpose, answer: new Operator.Deferred({ by: "ann" }), at }),
    WaitProgress: new RunEvent.WaitProgress({ stepId, poll: 1, holds: false, observed: 1, at }),
    StepProgress: new RunEvent.StepProgress({ stepId, done: 1, total: 2, unit: "bytes", at }),
    Paused: new RunEvent.Paused({ stepId, until: at, at }),
    WindowOpened: new RunEvent.WindowOpened({ stepId, at }),
    Resumed: new RunEvent.Resumed({ at }),
    Cancelled: new RunEvent.Cancelled({ at }),
    RunFinished: new RunEvent.RunFinished({
      status: (RunState.isTerminal(s.status) ? name : "succeeded") as typeof RunEvent.FinalStatus.Type,
      at
    })
  }
}

const describeResult = (t: RunState.Transition): string => {
  const st = t.state.status
  const step = RunState.currentStepId(st)
  const flight = st._tag === "Running" && st.inFlight ? "*" : ""
  const where = step !== undefined && st._tag !== "Cancelled" ? `(${step}${flight})` : ""
  return `${RunState.statusName(st)}${where} [${t.intents.map((i) => i._tag).join(",")}]`
}

/** Every valid (state, event) pair and its outcome; every pair not listed must be rejected. */
const expected: Record<string, Record<string, string>> = {
  pending: { RunStarted: "running(act) [Begin]" },
  ready: {
    StepStarted: "running(act*) [Perform]",
    Resumed: "running(act) [Begin]",
    Cancelled: "cancelled []"
  },
  inflight: {
    StepSucceeded: "running(gate) [Begin]",
    StepFailed: "failed(act) [Finish]",
    SupportNeeded: "halted-needs-support(act) [Finish]",
    "StepVerified+": "running(gate) [Begin]",
    "StepVerified-": "running(act) [Begin]",
    ConfirmationNeeded: "waiting-for-operator(act) [AskOperator]",
    StepProgress: "running(act*) []",
    Resumed: "running(act*) [Recover]",
    Cancelled: "cancelled []"
  },
  inflightWait: {
    StepSucceeded: "running(win) [Begin]",
    StepFailed: "failed(wait) [Finish]",
    SupportNeeded: "halted-needs-support(wait) [Finish]",
    WaitProgress: "running(wait*) []",
    StepProgress: "running(wait*) []",
    Resumed: "running(wait*) [Perform]",
    Cancelled: "cancelled []"
  },
  inflightWin: {
    StepSucceeded: "running(last) [Begin]",
    StepFailed: "failed(win) [Finish]",
    SupportNeeded: "halted-needs-support(win) [Finish]",
    Paused: "paused-until-window(win) [SleepUntil]",
    StepProgress: "running(win*) []",
    Resumed: "running(win*) [Perform]",
    Cancelled: "cancelled []"
  },
  inflightLast: {
    StepSucceeded: "succeeded [Finish]",
    StepFailed: "failed(last) [Finish]",
    SupportNeeded: "halted-needs-support(last) [Finish]",
    StepProgress: "running(last*) []",
    Resumed: "running(last*) [Perform]",
    Cancelled: "cancelled []"
  },
  gate: {
    GateOpened: "waiting-for-operator(gate) []",
    Approved: "running(gate*) [Perform]",
    Rejected: "failed(gate) [Finish]",
    Deferred: "waiting-for-operator(gate) [Suspend]",
    Resumed: "waiting-for-operator(gate) [AskOperator]",
    Cancelled: "cancelled []"
  },
  confirm: {
    GateOpened: "waiting-for-operator(act) []",
    Approved: "running(gate) [Begin]",
    Rejected: "running(act) [Begin]",
    Deferred: "waiting-for-operator(act) [Suspend]",
    Resumed: "waiting-for-operator(act) [AskOperator]",
    Cancelled: "cancelled []"
  },
  paused: {
    WindowOpened: "running(win*) [Perform]",
    Resumed: "paused-until-window(win) [SleepUntil]",
    Cancelled: "cancelled []"
  },
  cancelled: { Resumed: "running(act*) [Recover]" },
  succeeded: { RunFinished: "succeeded []" },
  failed: { RunFinished: "failed(act) []" },
  halted: { RunFinished: "halted-needs-support(act) []" }
}

describe("RunState.transition", () => {
  for (const [stateName, state] of Object.entries(states)) {
    const stepId = RunState.currentStepId(state.status) ?? "act"
    for (const [eventName, event] of Object.entries(events(state, stepId))) {
      const want = expected[stateName]![eventName]
      it(`${stateName} + ${eventName} -> ${want ?? "InvalidTransition"}`, () => {
        const r = RunState.transition(state, event)
        if (want === undefined) {
          expect(Either.isLeft(r)).toBe(true)
          if (Either.isLeft(r)) {
            expect(r.left._tag).toBe("InvalidTransition")
            expect(r.left.event).toBe(event._tag)
          }
        } else {
          expect(Either.isRight(r) ? describeResult(r.right) : r.left.message).toBe(want)
        }
      })
    }
  }

  it("rejects step events about another step than the current one", () => {
    for (const [stateName, state] of Object.entries(states)) {
      for (const [eventName, event] of Object.entries(events(state, "not-the-current-step"))) {
        if (!("stepId" in event)) continue
        expect(Either.isLeft(RunState.transition(state, event)), `${stateName} + ${eventName}`).toBe(true)
      }
    }
  })

  it("a plan without steps succeeds at once", () => {
    const r = RunState.transition(RunState.initial, new RunEvent.RunStarted({ runId: "r", plan: plan([]), at }))
    expect(Either.isRight(r) && describeResult(r.right)).toBe("succeeded [Finish]")
  })

  it("the gate rejection carries who rejected", () => {
    const r = RunState.transition(states.gate!, events(states.gate!, "gate").Rejected!)
    const st = Either.getOrThrow(r).state.status
    expect(st._tag === "Failed" && st.error.reason._tag === "GateRejected" && st.error.reason.by).toBe("ann")
  })

  const eventNames = Object.keys(events(RunState.initial, "act"))
  let terminalRuns = 0
  const stepIds = ["act", "gate", "wait", "win", "last", "other"]

  it.prop(
    "random event sequences: a step never completes twice, terminal states are final",
    [
      FastCheck.array(
        FastCheck.record({
          guided: FastCheck.boolean(),
          event: FastCheck.integer({ min: 0, max: 1000 }),
          step: FastCheck.integer({ min: 0, max: 9 })
        }),
        { minLength: 30, maxLength: 90 }
      )
    ],
    ([sequence]) => {
      let state = RunState.initial
      const completed = new Set<string>()
      let accepted = 0
      for (const { event: e, guided, step } of sequence) {
        // Half the time pick among the events valid now (so runs get far), else any event about any step.
        const current = RunState.currentStepId(state.status) ?? "act"
        const candidates = events(state, guided || step < 4 ? current : stepIds[step - 4]!)
        const valid = Object.values(candidates).filter((ev) => Either.isRight(RunState.transition(state, ev)))
        const event =
          guided && valid.length > 0 ? valid[e % valid.length]! : candidates[eventNames[e % eventNames.length]!]!
        const before = state
        const r = RunState.transition(state, event)
        if (RunState.isTerminal(before.status)) {
          if (Either.isRight(r)) {
            expect(event._tag).toBe("RunFinished")
            expect(r.right.state).toBe(before)
          }
        }
        if (Either.isLeft(r)) continue
        accepted++
        state = r.right.state
        expect(state.completed).toBeGreaterThanOrEqual(before.completed)
        expect(state.completed - before.completed).toBeLessThanOrEqual(1)
        if (state.completed > before.completed && before.status._tag !== "Pending") {
          const done = before.steps[before.completed]!.id
          expect(completed.has(done)).toBe(false)
          completed.add(done)
        }
        expect(state.completed <= state.steps.length).toBe(true)
        expect(state.status._tag === "Succeeded").toBe(state.steps.length > 0 && state.completed === state.steps.length)
      }
      if (RunState.isTerminal(state.status)) terminalRuns++
      expect(completed.size).toBe(Math.max(0, state.completed))
      expect(accepted).toBeGreaterThanOrEqual(state.status._tag === "Pending" ? 0 : 1)
    },
    { fastCheck: { numRuns: 200 } }
  )

  it("the random sequences above do reach terminal states", () => {
    // Guards the property test against generating only rejected events.
    expect(terminalRuns).toBeGreaterThan(50)
  })

  it("replay reproduces the state of a journal and reports the first invalid event", () => {
    const evs = [
      new RunEvent.RunStarted({ runId: "r", plan: thePlan, at }),
      new RunEvent.StepStarted({ stepId: "act", attempt: 1, at }),
      new RunEvent.StepSucceeded({ stepId: "act", evidence: {}, warnings: [], at })
    ]
    const ok = RunState.replay(evs)
    expect(Either.isRight(ok) && describeResult({ state: ok.right, intents: [] })).toBe("running(gate) []")
    const bad = RunState.replay([...evs, evs[2]!])
    expect(Either.isLeft(bad) && bad.left.index).toBe(3)
  })
})
