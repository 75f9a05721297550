import { describe, expect, it } from "@effect/vitest"
import { Executor, Journal, Operator, StepHandler } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
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

const engine = (fleet: Fleet, file = dbFile()) =>
  EngineLayer.embedded({ file, pollInterval: "100 millis", idleInterval: "200 millis" }).pipe(
    Layer.provide(fleet.worker),
    Layer.orDie
  )

// The budget, pause, abort, approval and window behaviour over time: EngineClock.test.ts (TestClock, in-memory engine).
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
})
