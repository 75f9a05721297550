import { describe, expect, it } from "@effect/vitest"
import { Executor, Journal, Operator, StepHandler } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Admission from "../src/Admission.js"
import * as Engine from "../src/Engine.js"
import * as EngineLayer from "../src/EngineLayer.js"
import { FleetStore } from "../src/FleetStore.js"
import type * as Rollout from "../src/Rollout.js"
import * as SiteWindow from "../src/SiteWindow.js"
import { SiteWorker } from "../src/SiteWorker.js"
import { installPlan, rolloutOf, sitePlan } from "./fixtures.js"

const ALWAYS = [
  new SiteWindow.WeeklyWindow({ timeZone: "UTC", days: ["mon"], start: "00:00", durationMinutes: 7 * 24 * 60 })
]

/** A fake fleet: each site's plan is one install action; counts effects, order and concurrency. */
class Fleet {
  readonly effects = new Map<string, number>()
  readonly events: Array<string> = []
  inFlight = 0
  maxInFlight = 0
  constructor(readonly failing: ReadonlySet<string>) {}

  worker = Layer.succeed(
    SiteWorker,
    SiteWorker.of({
      prepare: (site) =>
        Effect.succeed({
          plan: Effect.succeed(installPlan(site)),
          executor: Executor.layer.pipe(
            Layer.provide(
              Layer.mergeAll(
                StepHandler.layerRaw({ install: this.install(site.id) }),
                Operator.layerAutoApprove("tester")
              )
            )
          )
        })
    })
  )

  install(site: string): StepHandler.Handler {
    return {
      run: () =>
        Effect.gen(this, function* () {
          this.inFlight++
          this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
          this.events.push(`start ${site}`)
          yield* Effect.sleep("100 millis")
          this.inFlight--
          this.events.push(`end ${site}`)
          if (this.failing.has(site)) return yield* Effect.fail(StepHandler.fail(`injected fault on ${site}`))
          this.effects.set(site, (this.effects.get(site) ?? 0) + 1)
          return {}
        }),
      verify: () => Effect.sync(() => ({ effective: (this.effects.get(site) ?? 0) > 0, evidence: {} }))
    }
  }
}

const dbFile = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), "sra-fleet-engine-")), "fleet.db")

const sites = (perWave: ReadonlyArray<number>): ReadonlyArray<Rollout.SitePlan> =>
  perWave.flatMap((n, wave) =>
    Array.from({ length: n }, (_, i) => sitePlan({ id: `w${wave}s${i}`, wave, windows: ALWAYS, firstSeconds: 60 }))
  )

const engine = (fleet: Fleet, file = dbFile(), now?: Effect.Effect<Date>) =>
  EngineLayer.embedded({
    file,
    pollInterval: "100 millis",
    idleInterval: "200 millis",
    ...(now !== undefined ? { now } : {})
  }).pipe(Layer.provide(fleet.worker), Layer.orDie)

/** Poll the ledger until `until` holds (no timing asserted; the test's own timeout bounds it). */
const waitFor = (rolloutId: string, until: (s: Admission.Summary) => boolean) =>
  Effect.gen(function* () {
    const store = yield* FleetStore
    for (;;) {
      const s = yield* store.get(rolloutId)
      const summary = Admission.summarize(s.plan, s.ledger, s.controls, new Date(), { horizonDays: 0 })
      if (until(summary)) return summary
      yield* Effect.sleep("50 millis")
    }
  })

describe("Engine (embedded, SQLite)", () => {
  it.live(
    "FLEET-RUN-1 every site runs once through the executor, waves in order, the cap honoured, a failure within the budget recorded",
    () => {
      const fleet = new Fleet(new Set(["w1s0"]))
      const plan = rolloutOf({ sites: sites([1, 2, 3]), waves: 3, concurrency: 2, allowedFailures: 1 })
      return Effect.gen(function* () {
        yield* Engine.start(plan)
        const result = yield* Engine.awaitEnd(plan.rolloutId)
        expect(result.status).toBe("failed")
        expect(result.counts).toMatchObject({ succeeded: 5, failed: 1, notStarted: 0, skipped: 0 })
        for (const s of plan.sites) expect(fleet.effects.get(s.id) ?? 0, s.id).toBe(s.id === "w1s0" ? 0 : 1)
        expect(fleet.maxInFlight).toBeLessThanOrEqual(2)
        // wave n+1 starts only once every site of wave n ended
        const idx = (e: string) => fleet.events.indexOf(e)
        for (const later of plan.sites.filter((s) => s.wave > 0))
          for (const earlier of plan.sites.filter((s) => s.wave === later.wave - 1))
            expect(idx(`start ${later.id}`)).toBeGreaterThan(idx(`end ${earlier.id}`))
        const stored = yield* (yield* FleetStore).get(plan.rolloutId)
        expect(stored.ledger["w1s0"]).toMatchObject({ _tag: "Failed", reason: expect.stringMatching(/injected fault/) })
        // every site's journal replays to its outcome
        const journal = yield* Journal.Journal
        for (const s of plan.sites) {
          const c = yield* journal.read(Engine.runIdOf(plan.rolloutId, s.id))
          expect(c.records.at(-1)?.event._tag, s.id).toBe("RunFinished")
        }
        // starting it again changes nothing
        yield* Engine.start(plan)
        expect((yield* Engine.awaitEnd(plan.rolloutId)).counts.succeeded).toBe(5)
        expect([...fleet.effects.values()].every((n) => n === 1)).toBe(true)
      }).pipe(Effect.provide(engine(fleet)))
    },
    60_000
  )

  it.live(
    "FLEET-BUDGET-1 a failure beyond the budget halts admission; the rollout ends halted with the rest not started",
    () => {
      const fleet = new Fleet(new Set(["w0s0"]))
      const plan = rolloutOf({ sites: sites([1, 3]), waves: 2, concurrency: 2, allowedFailures: 0 })
      return Effect.gen(function* () {
        yield* Engine.start(plan)
        const result = yield* Engine.awaitEnd(plan.rolloutId)
        expect(result.status).toBe("halted-budget")
        expect(result.counts).toMatchObject({ failed: 1, notStarted: 3, succeeded: 0 })
        expect(fleet.events).toEqual(["start w0s0", "end w0s0"])
      }).pipe(Effect.provide(engine(fleet)))
    },
    60_000
  )

  it.live(
    "FLEET-APPROVE-1 a wave that needs an approval waits for it; approved, it runs; FLEET-ABORT-1 an abort ends the rollout with nothing more started",
    () => {
      const fleet = new Fleet(new Set())
      const plan = rolloutOf({
        sites: sites([1, 1, 1]),
        waves: 3,
        concurrency: 2,
        allowedFailures: 0,
        approvals: [1, 2]
      })
      return Effect.gen(function* () {
        const store = yield* FleetStore
        yield* Engine.start(plan)
        const waiting = yield* waitFor(plan.rolloutId, (s) => s.status === "waiting-approval")
        expect(waiting.currentWave).toBe(1)
        expect(fleet.events).toEqual(["start w0s0", "end w0s0"])
        yield* store.updateControls(
          plan.rolloutId,
          (c) => new Admission.Controls({ ...c, approvedWaves: [...c.approvedWaves, 1] })
        )
        yield* waitFor(plan.rolloutId, (s) => s.status === "waiting-approval" && s.currentWave === 2)
        expect(fleet.effects.get("w1s0")).toBe(1)
        yield* store.updateControls(plan.rolloutId, (c) => new Admission.Controls({ ...c, aborted: true }))
        const result = yield* Engine.awaitEnd(plan.rolloutId)
        expect(result.status).toBe("aborted")
        expect(result.counts).toMatchObject({ succeeded: 2, notStarted: 1 })
        expect(fleet.effects.has("w2s0")).toBe(false)
      }).pipe(Effect.provide(engine(fleet)))
    },
    60_000
  )

  it.live(
    "FLEET-PAUSE-1 a paused rollout admits nothing until resumed, then completes",
    () => {
      const fleet = new Fleet(new Set())
      const plan = rolloutOf({ sites: sites([2]), waves: 1, concurrency: 2, allowedFailures: 0 })
      let decisions = 0
      const now = Effect.sync(() => {
        decisions++
        return new Date()
      })
      return Effect.gen(function* () {
        const store = yield* FleetStore
        yield* store.create(plan)
        yield* store.updateControls(plan.rolloutId, (c) => new Admission.Controls({ ...c, paused: true }))
        yield* Engine.start(plan)
        // the engine decides three times while paused: nothing admitted
        const seen = decisions
        const paused = yield* waitFor(plan.rolloutId, (s) => s.status === "paused" && decisions >= seen + 3)
        expect(paused.counts.notStarted).toBe(2)
        expect(fleet.events).toEqual([])
        yield* store.updateControls(plan.rolloutId, (c) => new Admission.Controls({ ...c, paused: false }))
        const result = yield* Engine.awaitEnd(plan.rolloutId)
        expect(result.status).toBe("succeeded")
        expect(result.counts.succeeded).toBe(2)
      }).pipe(Effect.provide(engine(fleet, dbFile(), now)))
    },
    60_000
  )

  it.effect(
    "FLEET-WINDOW-1 a site starts only inside its window in its time zone: decided at instants before it opens (TestClock), nothing starts; TestClock.adjust past the opening, the site runs",
    () => {
      const fleet = new Fleet(new Set())
      // Saturday 02:00-04:00 Paris time; 2026-06-06 is a Saturday (CEST, UTC+2): opens 00:00Z
      const sat = [
        new SiteWindow.WeeklyWindow({ timeZone: "Europe/Paris", days: ["sat"], start: "02:00", durationMinutes: 120 })
      ]
      const plan = rolloutOf({
        sites: [sitePlan({ id: "paris", wave: 0, windows: sat, firstSeconds: 600 })],
        waves: 1,
        concurrency: 1,
        allowedFailures: 0
      })
      return Effect.gen(function* () {
        // admission decides at the TestClock's instant; the engine itself (heartbeats, polls) runs on live time
        const clock = yield* TestClock.testClock()
        yield* clock.setTime(Date.parse("2026-06-05T23:30:00Z")) // Friday 01:30 in Paris: closed
        let decisions = 0
        const now = Effect.map(clock.currentTimeMillis, (ms) => {
          decisions++
          return new Date(ms)
        })
        yield* TestServices.provideLive(
          Effect.gen(function* () {
            yield* Engine.start(plan)
            const seen = decisions
            yield* waitFor(plan.rolloutId, () => decisions >= seen + 3)
            expect(fleet.events).toEqual([])
            const stored = yield* (yield* FleetStore).get(plan.rolloutId)
            expect(Admission.stateOf(stored.ledger, "paris")._tag).toBe("NotStarted")
            yield* clock.adjust("35 minutes") // Saturday 02:05 in Paris: open
            const result = yield* Engine.awaitEnd(plan.rolloutId)
            expect(result.status).toBe("succeeded")
            expect(fleet.events).toEqual(["start paris", "end paris"])
          }).pipe(Effect.provide(engine(fleet, dbFile(), now)))
        )
      })
    },
    60_000
  )
})
