/**
 * The sync race of PAIR-4: the appliance's periodic data sync starts at the
 * very instant "Sync now" is pressed (or at a chosen simulated instant); the
 * simulator's operator waits for it as a person would, and goes on.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Operator } from "@sra-upgrade/core"
import { FailoverSteps } from "@sra-upgrade/failover"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { SimControl, SimOperator, Simulator } from "../src/index.js"

interface Rel {
  readonly syncing: boolean
  readonly sync: { readonly trigger: string; readonly startedAt: string } | null
  readonly lastSync: { readonly status: string; readonly startedAt: string } | null
  readonly secondsToNextAutoSync: number | null
  readonly periodicSyncAtNextSyncNow: boolean
}

const syncGate = (): Operator.GateRequest => {
  const step = FailoverSteps.SyncRequested.gate(
    {
      id: "pair/sync-now",
      title: "Sync now on A",
      rules: ["PAIR-4"],
      target: "A",
      estimatedSeconds: 60,
      instructions: []
    },
    { appliance: "A", peer: "B" }
  )
  return { runId: "sync-race", purpose: "gate", step, instructions: [], evidence: [] }
}

const rel = (sim: Simulator.SimulatorHandle) => Effect.orDie(sim.control("GET", "/failover")) as Effect.Effect<Rel>

/** Waits (real time, polling) until the relationship satisfies `p`: sequencing, not timing. */
const until = (sim: Simulator.SimulatorHandle, p: (r: Rel) => boolean) =>
  Effect.gen(function* () {
    for (;;) {
      const r = yield* rel(sim)
      if (p(r)) return r
      yield* Effect.sleep("5 millis")
    }
  })

describe("PAIR-4 sync race", () => {
  it.scoped(
    "PAIR-4: forced at the next Sync now, the periodic sync starts at that instant and Sync now is refused",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start({ timeScale: 0 })
        const control = SimControl.make(sim.controlUrl)
        yield* control.forcePeriodicSync({ atNextSyncNow: true })
        expect((yield* rel(sim)).periodicSyncAtNextSyncNow).toBe(true)
        const refused = yield* Effect.flip(sim.control("POST", "/failover/sync"))
        expect(refused).toMatchObject({
          status: 409,
          message: "A data sync is already running; wait for it to finish."
        })
        const r = yield* rel(sim)
        expect(r.sync?.trigger).toBe("automatic")
        expect(r.periodicSyncAtNextSyncNow).toBe(false)
        // the refused press is not an action; the forcing is
        const log = yield* control.actions()
        expect(log.map((a) => a.action)).toEqual(["periodic-sync-forced"])
        // once it has finished, Sync now works again
        yield* sim.control("POST", "/clock/advance", { seconds: 3600 })
        expect((yield* rel(sim)).lastSync?.status).toBe("success")
        yield* sim.control("POST", "/failover/sync")
        expect((yield* control.actions()).map((a) => a.action).slice(-1)).toEqual(["sync-started"])
      })
  )

  it.scoped("PAIR-4: forced at a simulated instant, the periodic sync starts then and not before", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0 })
      const control = SimControl.make(sim.controlUrl)
      yield* control.forcePeriodicSync({ inSeconds: 30 })
      expect((yield* rel(sim)).secondsToNextAutoSync).toBe(30)
      yield* sim.control("POST", "/clock/advance", { seconds: 29 })
      expect((yield* rel(sim)).syncing).toBe(false)
      yield* sim.control("POST", "/clock/advance", { seconds: 1 })
      expect((yield* rel(sim)).sync?.trigger).toBe("automatic")
      const bad = yield* Effect.flip(control.forcePeriodicSync({ inSeconds: -1 }))
      expect(bad.status).toBe(422)
      const both = yield* Effect.flip(sim.control("POST", "/failover/periodic-sync", { inSeconds: 1, atSeconds: 2 }))
      expect(both.message).toMatch(/exactly one of/)
      yield* sim.control("POST", "/failover/break")
      const none = yield* Effect.flip(control.forcePeriodicSync({ atNextSyncNow: true }))
      expect(none).toMatchObject({ status: 409 })
      expect(none.message).toMatch(/no failover relationship/)
    })
  )

  it.scopedLive("PAIR-4: the operator waits for the running periodic sync, then approves without pressing again", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0, autoSyncSeconds: 10 * 86400 })
      const control = SimControl.make(sim.controlUrl)
      yield* control.forcePeriodicSync({ atNextSyncNow: true })
      const operator = SimOperator.make({ controlUrl: sim.controlUrl, syncPollMillis: 5 })
      const answering = yield* Effect.fork(operator.answer(syncGate()))
      // the operator pressed Sync now and found the periodic sync running; it waits (the clock is stopped)
      yield* until(sim, (r) => r.sync?.trigger === "automatic")
      expect(answering.unsafePoll()).toBeNull()
      yield* sim.control("POST", "/clock/advance", { seconds: 60 })
      const answer = yield* Fiber.join(answering)
      expect(answer._tag, JSON.stringify(answer)).toBe("Approved")
      expect(answer._tag === "Approved" && answer.evidence["waitedFor"]).toMatch(
        /a data sync \(automatic\) started at .* was already running; it ended success/
      )
      // a sync that started after the gate opened is the one asked for: no second press
      expect((yield* control.actions()).filter((a) => a.action === "sync-started")).toEqual([])
    })
  )

  it.scopedLive(
    "PAIR-4: a sync that started before the gate opened is waited for, then Sync now is pressed again",
    () =>
      Effect.gen(function* () {
        // no other periodic sync for days: the forced one is the only sync besides the operator's
        const sim = yield* Simulator.start({ timeScale: 0, autoSyncSeconds: 10 * 86400 })
        const control = SimControl.make(sim.controlUrl)
        yield* control.forcePeriodicSync({ inSeconds: 0 })
        const forced = yield* rel(sim)
        expect(forced.sync?.trigger).toBe("automatic")
        // the gate opens in a later millisecond than the sync started (sequencing on the clock's resolution)
        while (Date.now() <= Date.parse(forced.sync!.startedAt)) yield* Effect.sleep("1 millis")
        const operator = SimOperator.make({ controlUrl: sim.controlUrl, syncPollMillis: 5 })
        const answering = yield* Effect.fork(operator.answer(syncGate()))
        // whether the operator presses before or after the periodic sync ends, it must press once more
        yield* sim.control("POST", "/clock/advance", { seconds: 60 })
        const answer = yield* Fiber.join(answering)
        expect(answer, JSON.stringify(answer)).toMatchObject({ _tag: "Approved", evidence: { pressed: "Sync now" } })
        const started = (yield* control.actions()).filter((a) => a.action === "sync-started")
        expect(started.map((a) => a.detail)).toEqual([{ trigger: "sync-now" }])
      })
  )

  it.scopedLive("a sync still running after the operator's limit rejects the gate, saying to answer again", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0 })
      yield* SimControl.make(sim.controlUrl).forcePeriodicSync({ atNextSyncNow: true })
      const operator = SimOperator.make({ controlUrl: sim.controlUrl, syncPollMillis: 1, syncWaitMillis: 5 })
      const answer = yield* operator.answer(syncGate())
      expect(answer._tag === "Rejected" && answer.reason).toMatch(
        /^simulator: a data sync is still running after .*answer this gate again/
      )
    })
  )
})
