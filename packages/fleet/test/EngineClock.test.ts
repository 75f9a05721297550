/**
 * The engine's behaviour over time, entirely on the TestClock: the fleet's workflows on the in-process engine
 * (`EngineLayer.memory`: `@effect/workflow`'s in-memory engine, the ledger and journals in a throwaway SQLite file),
 * fake sites whose install is an `Effect.sleep`. Every wait of the engine (polls, windows, approvals, gates) and of
 * the sites is a sleep on the TestClock: the tests move it (`TestClock.adjust`) and read the instants the sites
 * started at. No real time passes and nothing is timed. `TestEngine.deterministic` keeps everything the engine waits
 * on in microtasks (see why in src/TestEngine.ts), so the engine has settled at each instant the TestClock wakes.
 */
import { describe, expect, it } from "@effect/vitest"
import type { WorkflowEngine } from "@effect/workflow/WorkflowEngine"
import { Executor, Operator, StepHandler } from "@sra-upgrade/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as Admission from "../src/Admission.js"
import * as Engine from "../src/Engine.js"
import * as EngineLayer from "../src/EngineLayer.js"
import * as FleetFile from "../src/FleetFile.js"
import * as FleetStore from "../src/FleetStore.js"
import * as Rollout from "../src/Rollout.js"
import * as SiteWindow from "../src/SiteWindow.js"
import { SiteWorker } from "../src/SiteWorker.js"
import * as TestEngine from "../src/TestEngine.js"
import * as TestRollout from "../src/TestRollout.js"
import { installPlan, oracleOpenings, rolloutOf, sitePlan } from "./fixtures.js"

const ALWAYS = [
  new SiteWindow.WeeklyWindow({ timeZone: "UTC", days: ["mon"], start: "00:00", durationMinutes: 7 * 24 * 60 })
]
const MINUTE = 60_000

/** The gate of gated sites: a manual confirmation before the install (answered through the ledger, or never). */
const gate = TestRollout.consoleGate()

/**
 * Fake sites: each plan is one non-idempotent install that takes `installMinutes` of (test) time; the sites in
 * `failing` fail it, those in `gated` wait on a manual gate first. Records when each install started (the Clock).
 */
class Fleet {
  readonly starts = new Map<string, number>()
  readonly events: Array<string> = []
  readonly installs = new Map<string, number>()
  constructor(
    readonly options: {
      readonly failing?: ReadonlySet<string>
      readonly gated?: ReadonlySet<string>
      readonly installMinutes?: number
    } = {}
  ) {}

  worker = Layer.succeed(
    SiteWorker,
    SiteWorker.of({
      prepare: (site) => {
        const gated = this.options.gated?.has(site.id) === true
        const handlers = StepHandler.layerRaw({
          gate: { run: () => Effect.succeed({}) },
          install: {
            run: () =>
              Effect.gen(this, function* () {
                this.starts.set(site.id, yield* Clock.currentTimeMillis)
                this.events.push(`start ${site.id}`)
                yield* Effect.sleep(Duration.minutes(this.options.installMinutes ?? 10))
                this.events.push(`end ${site.id}`)
                if (this.options.failing?.has(site.id) === true)
                  return yield* Effect.fail(StepHandler.fail(`injected fault on ${site.id}`))
                this.installs.set(site.id, (this.installs.get(site.id) ?? 0) + 1)
                return {}
              }),
            verify: () => Effect.sync(() => ({ effective: (this.installs.get(site.id) ?? 0) > 0, evidence: {} }))
          }
        })
        return Effect.succeed({
          plan: Effect.succeed(installPlan(site, gated ? [gate] : [])),
          // gated sites get no operator here: the engine's (the rollout's durable gates) answers
          executor: Executor.layer.pipe(
            Layer.provide(gated ? handlers : Layer.mergeAll(handlers, Operator.layerAutoApprove("tester")))
          )
        })
      }
    })
  )
}

const sites = (perWave: ReadonlyArray<number>): ReadonlyArray<Rollout.SitePlan> =>
  perWave.flatMap((n, wave) =>
    Array.from({ length: n }, (_, i) => sitePlan({ id: `w${wave}s${i}`, wave, windows: ALWAYS, firstSeconds: 3600 }))
  )

const POLL = 5 * MINUTE
const engine = (fleet: Fleet) =>
  EngineLayer.memory({ pollInterval: Duration.millis(POLL), idleInterval: "1 hour" }).pipe(
    Layer.provide(fleet.worker),
    Layer.orDie
  )

/** Move the TestClock forward, unless `until` holds first (checked at each step). */
const advance = (
  duration: Duration.DurationInput,
  options: {
    readonly until?: Effect.Effect<boolean, never, WorkflowEngine>
    readonly step?: Duration.DurationInput
  } = {}
) =>
  Effect.gen(function* () {
    if (options.until === undefined) return yield* TestClock.adjust(duration)
    const step = Duration.toMillis(options.step ?? "1 hour")
    for (let left = Duration.toMillis(duration); left > 0 && !(yield* options.until); left -= step)
      yield* TestClock.adjust(Math.min(step, left))
  })

const summary = (rolloutId: string) =>
  Effect.gen(function* () {
    const s = yield* (yield* FleetStore.FleetStore).get(rolloutId)
    const now = new Date(yield* Clock.currentTimeMillis)
    return { ...s, summary: Admission.summarize(s.plan, s.ledger, s.controls, now, { horizonDays: 0 }) }
  })

/** Whether the rollout's workflow has ended (the engine's own view). */
const hasEnded = (rolloutId: string) =>
  Effect.gen(function* () {
    const id = yield* Engine.FleetRollout.executionId({ rolloutId })
    const result = yield* Engine.FleetRollout.poll(id)
    return result !== undefined && result._tag === "Complete"
  })

/** How the rollout ended: it must have ended by now (awaiting it then returns at once). */
const ended = (rolloutId: string) =>
  Effect.gen(function* () {
    if (!(yield* hasEnded(rolloutId))) return yield* Effect.dieMessage(`the rollout ${rolloutId} has not ended`)
    return yield* Engine.awaitEnd(rolloutId)
  })

const iso = (ms: number | undefined) => (ms === undefined ? "never" : new Date(ms).toISOString())

const T0 = Date.parse("2026-06-01T08:00:00Z") // a Monday

const control = (rolloutId: string, f: (c: Admission.Controls) => Partial<Admission.Controls>) =>
  Effect.flatMap(FleetStore.FleetStore, (store) =>
    store.updateControls(rolloutId, (c) => new Admission.Controls({ ...c, ...f(c) }))
  )

describe("Engine on the TestClock (EngineLayer.memory)", () => {
  it.effect(
    "FLEET-BUDGET-1 a count budget: a failure within it lets the rollout go on; the failure beyond it halts admission at that count, the rest never started (a simulated day later)",
    () => {
      const fleet = new Fleet({ failing: new Set(["w1s0", "w1s2"]) })
      const plan = rolloutOf({ sites: sites([1, 5]), waves: 2, concurrency: 1, allowedFailures: 1 })
      return Effect.gen(function* () {
        yield* TestClock.setTime(T0)
        yield* Engine.start(plan)
        yield* advance("1 day")
        console.log(
          "DBG",
          yield* Engine.FleetRollout.poll(yield* Engine.FleetRollout.executionId({ rolloutId: plan.rolloutId })),
          fleet.events,
          (yield* summary(plan.rolloutId)).summary.status,
          yield* Clock.currentTimeMillis,
          yield* TestClock.sleeps()
        )
        const result = yield* ended(plan.rolloutId)
        expect(result.status).toBe("halted-budget")
        expect(result.counts).toMatchObject({ succeeded: 2, failed: 2, notStarted: 2, running: 0, admitted: 0 })
        // the first failure (within the budget) is followed by the next site; the second halts everything
        expect(fleet.events).toEqual([
          "start w0s0",
          "end w0s0",
          "start w1s0",
          "end w1s0",
          "start w1s1",
          "end w1s1",
          "start w1s2",
          "end w1s2"
        ])
        const { ledger, summary: s } = yield* summary(plan.rolloutId)
        expect(Admission.stateOf(ledger, "w1s3")._tag).toBe("NotStarted")
        expect(Admission.stateOf(ledger, "w1s4")._tag).toBe("NotStarted")
        expect(s.failures).toEqual({ failed: 2, allowed: 1 })
        // one site at a time (cap 1), each as soon as the one before ended, within a poll
        expect(fleet.starts.get("w1s1")! - fleet.starts.get("w1s0")!).toBeLessThanOrEqual(10 * MINUTE + POLL)
      }).pipe(Effect.provide(engine(fleet)), TestEngine.deterministic)
    },
    120_000
  )

  it.effect(
    "FLEET-BUDGET-2 a percentage budget (25% of 10 sites: 2 tolerated) halts admission at the third failure, the rest never started",
    () => {
      const fleet = new Fleet({ failing: new Set(["w1s1", "w1s3", "w1s5"]) })
      const budget = new FleetFile.FailureBudget({ percent: 25 })
      const base = rolloutOf({ sites: sites([1, 9]), waves: 2, concurrency: 1, allowedFailures: budget.allowed(10) })
      const plan = new Rollout.RolloutPlan({ ...base, failureBudget: budget })
      return Effect.gen(function* () {
        expect(plan.allowedFailures).toBe(2)
        yield* TestClock.setTime(T0)
        yield* Engine.start(plan)
        yield* advance("1 day")
        const result = yield* ended(plan.rolloutId)
        expect(result.status).toBe("halted-budget")
        expect(result.counts).toMatchObject({ succeeded: 4, failed: 3, notStarted: 3 })
        expect([...fleet.starts.keys()]).toEqual(["w0s0", "w1s0", "w1s1", "w1s2", "w1s3", "w1s4", "w1s5"])
        for (const id of ["w1s6", "w1s7", "w1s8"]) expect(fleet.starts.has(id), id).toBe(false)
      }).pipe(Effect.provide(engine(fleet)), TestEngine.deterministic)
    },
    120_000
  )

  it.effect(
    "FLEET-PAUSE-1 paused, the rollout admits nothing while 6 hours pass (the site in flight ends); resumed, the next site starts within a poll and the rollout completes",
    () => {
      const fleet = new Fleet()
      const plan = rolloutOf({ sites: sites([3]), waves: 1, concurrency: 1, allowedFailures: 0 })
      return Effect.gen(function* () {
        yield* TestClock.setTime(T0)
        yield* Engine.start(plan)
        yield* advance("5 minutes")
        expect(fleet.events).toEqual(["start w0s0"])
        yield* control(plan.rolloutId, () => ({ paused: true }))
        yield* advance("6 hours")
        expect(fleet.events).toEqual(["start w0s0", "end w0s0"])
        const paused = yield* summary(plan.rolloutId)
        expect(paused.summary.status).toBe("paused")
        expect(paused.summary.counts).toMatchObject({ succeeded: 1, notStarted: 2 })
        expect(yield* hasEnded(plan.rolloutId)).toBe(false)
        const resumedAt = yield* Clock.currentTimeMillis
        yield* control(plan.rolloutId, () => ({ paused: false }))
        yield* advance("2 hours")
        const result = yield* ended(plan.rolloutId)
        expect(result.status).toBe("succeeded")
        expect(result.counts.succeeded).toBe(3)
        const next = fleet.starts.get("w0s1")!
        expect(next).toBeGreaterThanOrEqual(resumedAt)
        expect(next).toBeLessThanOrEqual(resumedAt + POLL)
      }).pipe(Effect.provide(engine(fleet)), TestEngine.deterministic)
    },
    120_000
  )

  it.effect(
    "FLEET-ABORT-1 an abort ends the rollout: the site in flight ends, nothing more starts in the day that follows",
    () => {
      const fleet = new Fleet()
      const plan = rolloutOf({ sites: sites([2, 2]), waves: 2, concurrency: 1, allowedFailures: 0 })
      return Effect.gen(function* () {
        yield* TestClock.setTime(T0)
        yield* Engine.start(plan)
        yield* advance("5 minutes")
        yield* control(plan.rolloutId, () => ({ aborted: true }))
        yield* advance("1 day")
        const result = yield* ended(plan.rolloutId)
        expect(result.status).toBe("aborted")
        expect(result.counts).toMatchObject({ succeeded: 1, notStarted: 3, running: 0, admitted: 0 })
        expect(fleet.events).toEqual(["start w0s0", "end w0s0"])
      }).pipe(Effect.provide(engine(fleet)), TestEngine.deterministic)
    },
    120_000
  )

  it.effect(
    "FLEET-ABORT-2 a site waiting on its gate when the rollout is aborted fails with the reason (the gate named, its install never run)",
    () => {
      const fleet = new Fleet({ gated: new Set(["w0s0"]) })
      const plan = rolloutOf({ sites: sites([2, 1]), waves: 2, concurrency: 2, allowedFailures: 1 })
      return Effect.gen(function* () {
        yield* TestClock.setTime(T0)
        yield* Engine.start(plan)
        yield* advance("3 hours")
        const gates = yield* (yield* FleetStore.FleetStore).gates(plan.rolloutId)
        expect(gates.map((g) => [g.gate.site, g.gate.stepId, g.isOpen])).toEqual([["w0s0", "confirm-console", true]])
        expect(fleet.events).toEqual(["start w0s1", "end w0s1"])
        const waiting = yield* summary(plan.rolloutId)
        expect(Admission.stateOf(waiting.ledger, "w0s0")._tag).toBe("Running")
        yield* control(plan.rolloutId, () => ({ aborted: true }))
        yield* advance("1 day")
        const result = yield* ended(plan.rolloutId)
        expect(result.status).toBe("aborted")
        expect(result.counts).toMatchObject({ succeeded: 1, failed: 1, notStarted: 1 })
        const { ledger } = yield* summary(plan.rolloutId)
        expect(Admission.stateOf(ledger, "w0s0")).toMatchObject({
          _tag: "Failed",
          reason: expect.stringMatching(/aborted while the site waited on gate confirm-console/)
        })
        expect(fleet.starts.has("w0s0")).toBe(false)
        expect(fleet.starts.has("w1s0")).toBe(false)
      }).pipe(Effect.provide(engine(fleet)), TestEngine.deterministic)
    },
    120_000
  )

  it.effect(
    "FLEET-APPROVE-1 a wave that needs an approval waits for it (a day later: still waiting, nothing of it started); approved, it starts within a poll and the rollout completes",
    () => {
      const fleet = new Fleet()
      const plan = rolloutOf({ sites: sites([1, 2]), waves: 2, concurrency: 2, allowedFailures: 0, approvals: [1] })
      return Effect.gen(function* () {
        yield* TestClock.setTime(T0)
        yield* Engine.start(plan)
        yield* advance("1 hour")
        expect((yield* summary(plan.rolloutId)).summary.status).toBe("waiting-approval")
        yield* advance("1 day")
        const waiting = yield* summary(plan.rolloutId)
        expect([waiting.summary.status, waiting.summary.currentWave]).toEqual(["waiting-approval", 1])
        expect(waiting.summary.counts).toMatchObject({ succeeded: 1, notStarted: 2 })
        expect(fleet.events).toEqual(["start w0s0", "end w0s0"])
        const approvedAt = yield* Clock.currentTimeMillis
        yield* FleetStore.approveWave(
          plan.rolloutId,
          1,
          new Admission.WaveApproval({
            wave: 1,
            by: "alice",
            role: "approver",
            comment: "canary fine",
            at: new Date(approvedAt)
          })
        )
        yield* advance("1 hour")
        const result = yield* ended(plan.rolloutId)
        expect(result.status).toBe("succeeded")
        expect(result.counts.succeeded).toBe(3)
        for (const id of ["w1s0", "w1s1"]) {
          expect(fleet.starts.get(id), id).toBeGreaterThanOrEqual(approvedAt)
          expect(fleet.starts.get(id), id).toBeLessThanOrEqual(approvedAt + POLL)
        }
      }).pipe(Effect.provide(engine(fleet)), TestEngine.deterministic)
    },
    120_000
  )

  /** Sites with their windows; each must start at the first instant a window of its admits its work. */
  const windowCase = (options: {
    readonly rolloutId: string
    readonly from: string
    readonly sites: ReadonlyArray<{
      readonly id: string
      readonly window: SiteWindow.WeeklyWindow
      readonly minutes: number
      readonly expected: string
    }>
  }) => {
    const fleet = new Fleet()
    const base = rolloutOf({
      sites: options.sites.map((s) =>
        sitePlan({ id: s.id, wave: 0, windows: [s.window], firstSeconds: s.minutes * 60 })
      ),
      waves: 1,
      concurrency: options.sites.length,
      allowedFailures: 0
    })
    const plan = new Rollout.RolloutPlan({ ...base, rolloutId: options.rolloutId })
    const from = Date.parse(options.from)
    return Effect.gen(function* () {
      yield* TestClock.setTime(from)
      yield* Engine.start(plan)
      yield* advance("9 days", { until: hasEnded(plan.rolloutId) })
      const result = yield* ended(plan.rolloutId)
      expect(result.status).toBe("succeeded")
      const day = 86_400_000
      for (const s of options.sites) {
        const start = fleet.starts.get(s.id)
        expect(iso(start), s.id).toBe(s.expected)
        // independent oracle: the first opening (from the test's start) whose remainder holds the work starts there
        const first = oracleOpenings(s.window, Date.UTC(2026, 0, 1), Date.UTC(2026, 11, 31)).find(
          (o) => Math.max(o.start, from) + s.minutes * MINUTE <= o.end
        )
        expect(iso(first && Math.max(first.start, from)), s.id).toBe(s.expected)
        expect(start! - from).toBeLessThan(9 * day)
      }
    }).pipe(Effect.provide(engine(fleet)), TestEngine.deterministic)
  }

  it.effect(
    "FLEET-WINDOW-1 windows in their time zones on the day Paris springs forward (2026-03-29): each site starts exactly when a window of its opens long enough for its work, never before (a 02:00 window starts at the end of the skipped hour)",
    () =>
      windowCase({
        rolloutId: "spring",
        from: "2026-03-28T12:00:00Z", // Saturday 13:00 in Paris (CET, UTC+1)
        sites: [
          {
            // 02:00 does not exist that night: the window opens at 03:00 CEST = 01:00Z
            id: "paris-gap",
            window: new SiteWindow.WeeklyWindow({
              timeZone: "Europe/Paris",
              days: ["sun"],
              start: "02:00",
              durationMinutes: 120
            }),
            minutes: 30,
            expected: "2026-03-29T01:00:00.000Z"
          },
          {
            // 03:30 CEST (UTC+2, after the change)
            id: "paris-after",
            window: new SiteWindow.WeeklyWindow({
              timeZone: "Europe/Paris",
              days: ["sun"],
              start: "03:30",
              durationMinutes: 60
            }),
            minutes: 30,
            expected: "2026-03-29T01:30:00.000Z"
          },
          {
            // open when the rollout starts (12:40 CET Saturday, until 13:40) but 40 minutes left for 45 of work:
            // Sunday's opening, 12:40 CEST = 10:40Z (an hour earlier in UTC than Saturday's)
            id: "paris-too-short",
            window: new SiteWindow.WeeklyWindow({
              timeZone: "Europe/Paris",
              days: ["sat", "sun"],
              start: "12:40",
              durationMinutes: 60
            }),
            minutes: 45,
            expected: "2026-03-29T10:40:00.000Z"
          },
          {
            // New York changed on 2026-03-08 (EDT, UTC-4): Saturday 23:00 EDT = Sunday 03:00Z
            id: "new-york",
            window: new SiteWindow.WeeklyWindow({
              timeZone: "America/New_York",
              days: ["sat"],
              start: "23:00",
              durationMinutes: 60
            }),
            minutes: 30,
            expected: "2026-03-29T03:00:00.000Z"
          },
          {
            // open when the rollout starts, with room for the work: starts at once
            id: "open-now",
            window: new SiteWindow.WeeklyWindow({
              timeZone: "Europe/Paris",
              days: ["sat"],
              start: "12:00",
              durationMinutes: 240
            }),
            minutes: 30,
            expected: "2026-03-28T12:00:00.000Z"
          }
        ]
      }),
    180_000
  )

  it.effect(
    "FLEET-WINDOW-2 windows on the day Paris falls back (2026-10-25): a window at a repeated local time opens at its first occurrence; each site starts exactly then",
    () =>
      windowCase({
        rolloutId: "autumn-paris",
        from: "2026-10-24T12:00:00Z", // Saturday 14:00 in Paris (CEST)
        sites: [
          {
            // 02:30 happens twice in Paris that night: first at 02:30 CEST = 00:30Z
            id: "paris-repeated",
            window: new SiteWindow.WeeklyWindow({
              timeZone: "Europe/Paris",
              days: ["sun"],
              start: "02:30",
              durationMinutes: 60
            }),
            minutes: 30,
            expected: "2026-10-25T00:30:00.000Z"
          },
          {
            // 04:00 CET (UTC+1, after the change) = 03:00Z
            id: "paris-after",
            window: new SiteWindow.WeeklyWindow({
              timeZone: "Europe/Paris",
              days: ["sun"],
              start: "04:00",
              durationMinutes: 60
            }),
            minutes: 30,
            expected: "2026-10-25T03:00:00.000Z"
          }
        ]
      }),
    180_000
  )

  it.effect(
    "FLEET-WINDOW-3 windows on the day New York falls back (2026-11-01): 01:30 opens at its first occurrence (EDT), 03:00 in EST; each site starts exactly then",
    () =>
      windowCase({
        rolloutId: "autumn-new-york",
        from: "2026-10-31T12:00:00Z", // Saturday 08:00 in New York (EDT)
        sites: [
          {
            // 01:30 happens twice in New York that night: first at 01:30 EDT = 05:30Z
            id: "new-york-repeated",
            window: new SiteWindow.WeeklyWindow({
              timeZone: "America/New_York",
              days: ["sun"],
              start: "01:30",
              durationMinutes: 60
            }),
            minutes: 30,
            expected: "2026-11-01T05:30:00.000Z"
          },
          {
            // 03:00 EST (UTC-5, after the change) = 08:00Z
            id: "new-york-after",
            window: new SiteWindow.WeeklyWindow({
              timeZone: "America/New_York",
              days: ["sun"],
              start: "03:00",
              durationMinutes: 60
            }),
            minutes: 30,
            expected: "2026-11-01T08:00:00.000Z"
          }
        ]
      }),
    180_000
  )
})
