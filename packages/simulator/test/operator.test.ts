/**
 * The simulator operator (`SimOperator`, its failover part `PairOperator`)
 * against a real simulator: each gate is recognised by its step definition
 * (raw steps here, some with deliberately partial params), performed through
 * the control API, and read back from /__sim/state.
 */
import { describe, expect, it } from "@effect/vitest"
import { type Operator, Plan } from "@sra-upgrade/core"
import { FailoverSteps } from "@sra-upgrade/failover"
import * as Effect from "effect/Effect"
import { SimOperator, Simulator } from "../src/index.js"

interface State {
  readonly appliances: ReadonlyArray<{
    readonly id: string
    readonly failoverRole: string
    readonly sharedIps: ReadonlyArray<{ readonly ip: string; readonly enabled: boolean }>
  }>
  readonly relationship: { readonly primary: string; readonly backup: string } | null
}

const SHARED_IP = "10.0.0.10"

const gate = (
  handler: string,
  params: Readonly<Record<string, unknown>>,
  purpose: Operator.GatePurpose = "gate",
  evidence: ReadonlyArray<string> = []
): Operator.GateRequest => {
  const fields = evidence.map((name) => new Plan.EvidenceField({ name, description: name }))
  return {
    runId: "operator-test",
    purpose,
    step: new Plan.ManualGate({
      id: `pair/${handler.replace(/\W/g, "-")}`,
      title: handler,
      rules: [],
      target: "site",
      estimatedSeconds: 1,
      handler,
      params,
      idempotent: true,
      instructions: [],
      evidence: fields
    }),
    instructions: [],
    evidence: fields
  }
}

const holders = (state: State) =>
  state.appliances.filter((a) => a.sharedIps.some((s) => s.ip === SHARED_IP && s.enabled)).map((a) => a.id)

const pairParams = { method: "shared-ip", sharedIp: SHARED_IP }
const member = (id: string, ip: string) => ({ id, uniqueIp: ip, tlsPort: 443, apiUrl: `https://${ip}` })
const pair = {
  siteHostname: "site.example",
  siteUrl: "https://site.example",
  primary: member("A", "10.0.0.1"),
  backup: member("B", "10.0.0.2"),
  traffic: pairParams
}

describe("SimOperator: failover gates (PairOperator)", () => {
  it.scoped("PAIR-4 SWITCH-1: break, then the switch gate moves the shared IP from A to B", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0, traffic: "shared-ip", siteSharedIp: SHARED_IP })
      const state = () => Effect.orDie(sim.control("GET", "/state")) as Effect.Effect<State>
      const operator = SimOperator.make({ controlUrl: sim.controlUrl })
      expect(holders(yield* state())).toEqual(["A"])

      const broken = yield* operator.answer(gate(FailoverSteps.Broken.name, { appliances: ["A", "B"] }))
      expect(broken._tag).toBe("Approved")
      expect((yield* state()).relationship).toBeNull()

      const switched = yield* operator.answer(gate(FailoverSteps.Switched.name, { pair, from: "A", to: "B" }))
      expect(switched._tag).toBe("Approved")
      expect(holders(yield* state())).toEqual(["B"])

      const established = yield* operator.answer(gate(FailoverSteps.Established.name, { primary: "B", backup: "A" }))
      expect(established._tag).toBe("Approved")
      expect((yield* state()).relationship).toMatchObject({ primary: "B", backup: "A" })
    })
  )

  it.scoped(
    "PAIR-4 PAIR-7: break and establish gates asked again after a crash find their work done: approved, one action each",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start({ timeScale: 0, traffic: "shared-ip", siteSharedIp: SHARED_IP })
        const operator = SimOperator.make({ controlUrl: sim.controlUrl })
        const brk = gate(FailoverSteps.Broken.name, { appliances: ["A", "B"] })
        expect((yield* operator.answer(brk))._tag).toBe("Approved")
        // the command was killed before it journaled the answer: the resume asks the same gate again
        const again = yield* operator.answer(brk)
        expect(again).toMatchObject({
          _tag: "Approved",
          evidence: { pressed: "nothing: the relationship was already broken" }
        })
        const est = gate(FailoverSteps.Established.name, { primary: "B", backup: "A" })
        expect((yield* operator.answer(est))._tag).toBe("Approved")
        expect(yield* operator.answer(est)).toMatchObject({
          _tag: "Approved",
          evidence: { pressed: expect.stringMatching(/^nothing: B primary, A backup was already established/) }
        })
        const actions = (yield* Effect.orDie(sim.control("GET", "/actions"))) as ReadonlyArray<{ action: string }>
        expect(actions.filter((a) => a.action.startsWith("relationship-")).map((a) => a.action)).toEqual([
          "relationship-broken",
          "relationship-established"
        ])
      })
  )

  it.scoped("a switch gate that names no appliance is rejected with the reason, and nothing moves", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0, traffic: "shared-ip", siteSharedIp: SHARED_IP })
      const operator = SimOperator.make({ controlUrl: sim.controlUrl, by: "tester" })
      const answer = yield* operator.answer(gate(FailoverSteps.Switched.name, { pair: { traffic: pairParams } }))
      expect(answer).toMatchObject({ _tag: "Rejected", by: "tester" })
      expect(answer._tag === "Rejected" && answer.reason).toMatch(/^simulator: .*no appliance/)
      const state = (yield* Effect.orDie(sim.control("GET", "/state"))) as State
      expect(holders(state)).toEqual(["A"])
    })
  )

  it.scoped("a refusal of the simulator rejects the gate with its message", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0, traffic: "shared-ip", siteSharedIp: SHARED_IP })
      const operator = SimOperator.make({ controlUrl: sim.controlUrl })
      // establishing while the relationship exists is refused by the simulator
      const answer = yield* operator.answer(gate(FailoverSteps.Established.name, { primary: "A", backup: "Z" }))
      expect(answer._tag === "Rejected" && answer.reason).toMatch(/^simulator: \S/)
    })
  )

  it.scoped("other failover gates and confirm-effect questions are approved without a control call", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0, traffic: "shared-ip", siteSharedIp: SHARED_IP })
      const operator = SimOperator.make({ controlUrl: sim.controlUrl })
      const keys = yield* operator.answer(gate(FailoverSteps.ConfirmKeys.name, {}, "gate", ["keysMatch"]))
      expect(keys).toMatchObject({ _tag: "Approved", evidence: { keysMatch: "simulated" } })
      const effect = yield* operator.answer(
        gate(FailoverSteps.Switched.name, { pair, from: "A", to: "B" }, "confirm-effect")
      )
      expect(effect._tag).toBe("Approved")
      const state = (yield* Effect.orDie(sim.control("GET", "/state"))) as State
      expect(holders(state)).toEqual(["A"])
    })
  )
  it.scoped("VERIFY-3: the hosts-override gate is answered with the version the appliance runs", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0, traffic: "shared-ip", siteSharedIp: SHARED_IP })
      const operator = SimOperator.make({ controlUrl: sim.controlUrl })
      const b = (yield* Effect.orDie(sim.control("GET", "/appliances/B"))) as { readonly version: string }
      const answer = yield* operator.answer(
        gate(
          FailoverSteps.VerifyAsSite.name,
          { appliance: "B", url: "https://site.example", hostname: "site.example", version: "24.1.3" },
          "gate",
          ["machine1", "consoleVersion"]
        )
      )
      expect(answer).toMatchObject({
        _tag: "Approved",
        evidence: { machine1: "simulated", consoleVersion: b.version }
      })
    })
  )
})
