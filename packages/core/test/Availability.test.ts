/**
 * Site availability journaled beside a run: the compaction of probes into
 * `SiteSample` records, the fold of a journal into the report's
 * `availability` (series, gaps "not observed", outages), the executor's
 * observer hook (ordered journal, flushed before the run's end, a resume
 * starts a new series) and the absolute deadline of a `WaitFor`.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Clock from "effect/Clock"
import * as Availability from "../src/Availability.js"
import * as Executor from "../src/Executor.js"
import * as Journal from "../src/Journal.js"
import * as Operator from "../src/Operator.js"
import * as RunEvent from "../src/RunEvent.js"
import { RunObserver } from "../src/RunObserver.js"
import * as RunState from "../src/RunState.js"
import * as StepHandler from "../src/StepHandler.js"
import { wire, World } from "./fixtures/harness.js"
import { action, gate, plan, waitFor } from "./fixtures/steps.js"

const URL = "https://support.example.com"
const options: Availability.CompactOptions = { url: URL, intervalMillis: 1_000, summaryEveryMillis: 10_000 }

/** Compact the probes of each series as an observer would, into a journal from t=0 to `end`. */
const journalOf = (series: ReadonlyArray<ReadonlyArray<Availability.Probe>>, end: number): Array<RunEvent.Envelope> => {
  const events: Array<RunEvent.RunEvent> = [
    new RunEvent.RunStarted({ runId: "r", plan: plan([action("a")]), at: new Date(0) })
  ]
  for (const probes of series) {
    let state = Availability.initial
    for (const p of probes) {
      const [next, sample] = Availability.compact(options, state, p)
      state = next
      if (sample) events.push(sample)
    }
    const [, rest] = Availability.flush(options, state)
    if (rest) events.push(rest)
  }
  events.push(new RunEvent.RunFinished({ status: "succeeded", at: new Date(end) }))
  return events.map((event, i) => new RunEvent.Envelope({ runId: "r", seq: i + 1, event }))
}

/** What `SiteProber` measures, probe by probe, for each series (the reference the fold must match). */
const reference = (series: ReadonlyArray<ReadonlyArray<Availability.Probe>>, end: number) => {
  const outages: Array<{ from: number; to: number; lastError: string; open: boolean }> = []
  let observed = 0
  for (const probes of series) {
    let open: { from: number; lastError: string } | undefined
    for (const p of probes) {
      if (!p.ok) open = open === undefined ? { from: p.at, lastError: p.detail } : { ...open, lastError: p.detail }
      else if (open !== undefined) {
        outages.push({ ...open, to: p.at, open: false })
        open = undefined
      }
    }
    if (open !== undefined) outages.push({ ...open, to: probes.at(-1)!.at, open: true })
    observed += probes.at(-1)!.at - probes[0]!.at
  }
  return {
    probes: series.reduce((n, s) => n + s.length, 0),
    failed: series.reduce((n, s) => n + s.filter((p) => !p.ok).length, 0),
    outages: outages.map((o) => ({ from: o.from, to: o.to, lastError: o.lastError, open: o.open })),
    notObservedSeconds: (end - observed) / 1000
  }
}

/** Random series of probes one interval apart, with gaps (no orchestrator) between them. */
const seriesArb = FastCheck.array(
  FastCheck.record({
    gap: FastCheck.integer({ min: 0, max: 60_000 }),
    results: FastCheck.array(FastCheck.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 60 })
  }),
  { minLength: 1, maxLength: 4 }
).map((raw) => {
  let t = 0
  const series = raw.map(({ gap, results }) => {
    t += gap
    return results.map((r) => {
      const probe = { at: t, ok: r >= 3, detail: r >= 3 ? "HTTP 200" : `HTTP 50${r}` }
      t += 1_000
      return probe
    })
  })
  return { series, end: t + 500 }
})

describe("Availability", () => {
  it("journals the first probe, every change of state and periodic summaries; nothing else", () => {
    const probes = [true, true, true, false, false, true, ...Array<boolean>(25).fill(true)].map((ok, i) => ({
      at: i * 1_000,
      ok,
      detail: ok ? "HTTP 200" : "HTTP 503"
    }))
    const records = journalOf([probes], 40_000)
      .map((e) => e.event)
      .filter((e): e is RunEvent.SiteSample => e._tag === "SiteSample")
    expect(records.map((r) => [r.from.getTime(), r.at.getTime(), r.probes, r.failed, r.up, r.first === true])).toEqual([
      [0, 0, 1, 0, true, true], // first probe of the series
      [1_000, 3_000, 3, 1, false, false], // two good probes, then the change to down
      [4_000, 5_000, 2, 1, true, false], // one more failure, then the change to up
      [6_000, 15_000, 10, 0, true, false], // summary: 10 s since the last record
      [16_000, 25_000, 10, 0, true, false],
      [26_000, 30_000, 5, 0, true, false] // flushed when the series ends
    ])
    expect(records[2]!.lastError).toBe("HTTP 503")
  })

  it.prop(
    "the fold of the compacted journal equals the probe-by-probe measurement, series by series",
    [seriesArb],
    ([{ end, series }]) => {
      const a = Availability.fromRecords(journalOf(series, end))!
      const expected = reference(series, end)
      expect(a.probes).toBe(expected.probes)
      expect(a.failed).toBe(expected.failed)
      expect(a.series).toBe(series.length)
      expect(
        a.outages.map((o) => ({
          from: o.from.getTime(),
          to: o.to.getTime(),
          lastError: o.lastError,
          open: o.open === true
        }))
      ).toEqual(expected.outages)
      expect(a.notObservedSeconds).toBeCloseTo(expected.notObservedSeconds, 6)
      expect(a.observedSeconds + a.notObservedSeconds).toBeCloseTo(end / 1000, 6)
      expect(a.totalUnavailableSeconds).toBeCloseTo(
        expected.outages.reduce((n, o) => n + (o.to - o.from) / 1000, 0),
        6
      )
      expect(a.firstProbeAt.getTime()).toBe(series[0]![0]!.at)
    }
  )

  it("time between two series is not observed, never available; an outage open at a crash stops there", () => {
    const first = [0, 1, 2, 3].map((i) => ({ at: i * 1_000, ok: i < 2, detail: i < 2 ? "HTTP 200" : "refused" }))
    const second = [0, 1].map((i) => ({ at: 100_000 + i * 1_000, ok: true, detail: "HTTP 200" }))
    const a = Availability.fromRecords(journalOf([first, second], 102_000))!
    expect(a.series).toBe(2)
    expect(a.notObservedSeconds).toBe(102 - 3 - 1)
    expect(a.outages).toHaveLength(1)
    expect(a.outages[0]).toMatchObject({ seconds: 1, lastError: "refused", open: true })
    expect(a.totalUnavailableSeconds).toBe(1)
  })

  it("a journal without samples (no observer, or written before 0.3.0) has no availability", () => {
    const records = [
      new RunEvent.Envelope({
        runId: "r",
        seq: 1,
        event: new RunEvent.RunStarted({ runId: "r", plan: plan([action("a")]), at: new Date(0) })
      })
    ]
    expect(Availability.fromRecords(records)).toBeUndefined()
  })
})

/** A scripted site: down from `downFrom` to `downTo` (ms), probed every `every` ms of the test clock. */
const scriptedObserver = (every: number, downFrom: number, downTo: number): Layer.Layer<RunObserver> =>
  Layer.succeed(RunObserver, {
    observe: (observation) =>
      Availability.observeProbes(
        Stream.repeatEffectWithSchedule(
          Effect.map(Clock.currentTimeMillis, (at) => {
            const ok = at < downFrom || at >= downTo
            return { at, ok, detail: ok ? "HTTP 200" : "HTTP 503" }
          }),
          Schedule.spaced(Duration.millis(every))
        ),
        { url: URL, intervalMillis: every, summaryEveryMillis: 20_000 },
        observation
      )
  })

const samplesOf = (runId: string) =>
  Effect.map(
    Effect.flatMap(Journal.Journal, (j) => j.read(runId)),
    (c) => c.records
  )

describe("Executor with a RunObserver", () => {
  it.effect("PAIR-3: samples go through the executor's ordered journal, and the last ones before RunFinished", () => {
    let polls = 0
    const handlers: Record<string, StepHandler.Handler> = {
      a: { run: () => Effect.succeed({}) },
      switched: {
        poll: () => Effect.sync(() => ({ holds: ++polls >= 9, observed: { polls } }))
      }
    }
    return Effect.gen(function* () {
      const fiber = yield* Effect.fork(Executor.run(plan([action("a"), waitFor("switched", 10, 600)]), { runId: "o1" }))
      for (let i = 0; i < 12; i++) yield* TestClock.adjust("10 seconds")
      const report = yield* Fiber.join(fiber)
      expect(report.status).toBe("succeeded")
      const records = yield* samplesOf("o1")
      expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => i + 1))
      expect(records.at(-1)!.event._tag).toBe("RunFinished")
      // the journal still replays: samples change no state
      expect(RunState.replay(records.map((r) => r.event))._tag).toBe("Right")
      const a = report.availability!
      expect(a.series).toBe(1)
      expect(a.firstProbeAt.getTime()).toBe(0)
      // the wait polled at 0, 10, …, 80 s; the observer probed every 5 s until the run ended at 80 s
      // (whether the probe due at 80 s ran before the end is up to the scheduler)
      expect([75_000, 80_000]).toContain(a.lastProbeAt.getTime())
      expect([16, 17]).toContain(a.probes)
      expect(a.outages.map((o) => [o.from.getTime(), o.to.getTime(), o.lastError])).toEqual([
        [30_000, 50_000, "HTTP 503"]
      ])
      expect(a.totalUnavailableSeconds).toBe(20)
      expect(a.notObservedSeconds).toBe(0)
      // compact: the first probe, two changes, a summary every 20 s and the rest at the end — not one per probe
      expect(records.filter((r) => r.event._tag === "SiteSample").length).toBeLessThanOrEqual(7)
    }).pipe(Effect.provide(wire(handlers).pipe(Layer.provide(scriptedObserver(5_000, 30_000, 50_000)))))
  })

  it.effect("a resume starts a new series; the time nobody drove the run is not observed", () => {
    const world = new World()
    let polls = 0
    let mode: "defer" | "approve" = "defer"
    const operator = Operator.layerPrompt(() =>
      Effect.succeed(
        mode === "defer" ? new Operator.Deferred({ by: "ann" }) : new Operator.Approved({ by: "ann", evidence: {} })
      )
    )
    return Effect.gen(function* () {
      const p = plan([action("a"), waitFor("w", 10, 600), gate("g"), waitFor("w2", 10, 600, "w"), action("b")])
      const first = yield* Effect.fork(Executor.run(p, { runId: "o2" }))
      yield* TestClock.adjust("10 seconds")
      expect((yield* Fiber.join(first)).status).toBe("waiting-for-operator")
      // nobody runs it for 5 minutes
      yield* TestClock.adjust("5 minutes")
      mode = "approve"
      const resumed = yield* Effect.fork(Executor.resume("o2"))
      yield* TestClock.adjust("10 seconds")
      const report = yield* Fiber.join(resumed)
      expect(report.status).toBe("succeeded")
      const a = report.availability!
      expect(a.series).toBe(2)
      expect(a.notObservedSeconds).toBeGreaterThanOrEqual(300)
      expect(a.outages).toEqual([])
      expect([world.count("a"), world.count("b")]).toEqual([1, 1])
    }).pipe(
      Effect.provide(
        wire(
          {
            a: world.effect("a"),
            // holds at the second poll of each wait
            w: { poll: () => Effect.sync(() => ({ holds: ++polls % 2 === 0, observed: { polls } })) },
            g: { run: () => Effect.succeed({}) },
            b: world.effect("b")
          },
          operator
        ).pipe(Layer.provide(scriptedObserver(1_000, 1e12, 1e12)))
      )
    )
  })

  it.effect(
    "MIGRATE-9: a resume with only a gate left (it ends at once) waits for its first probe: the process that ends the run observed it",
    () => {
      let mode: "defer" | "approve" = "defer"
      const operator = Operator.layerPrompt(() =>
        Effect.succeed(
          mode === "defer" ? new Operator.Deferred({ by: "ann" }) : new Operator.Approved({ by: "ann", evidence: {} })
        )
      )
      // probes every second, the first one a second after the session starts (as a prober's next tick)
      const delayed = Layer.succeed(RunObserver, {
        observe: (observation) =>
          Availability.observeProbes(
            Stream.mapEffect(Stream.fromSchedule(Schedule.spaced(Duration.seconds(1))), () =>
              Effect.map(Clock.currentTimeMillis, (at) => ({ at, ok: true, detail: "HTTP 200" }))
            ),
            { url: URL, intervalMillis: 1_000, summaryEveryMillis: 20_000 },
            observation
          )
      })
      return Effect.gen(function* () {
        const first = yield* Effect.fork(Executor.run(plan([action("a"), gate("g")]), { runId: "o4" }))
        yield* TestClock.adjust("3 seconds")
        expect((yield* Fiber.join(first)).status).toBe("waiting-for-operator")
        yield* TestClock.adjust("1 minute")
        mode = "approve"
        const resumed = yield* Effect.fork(Executor.resume("o4"))
        yield* TestClock.adjust("1 second")
        const report = yield* Fiber.join(resumed)
        expect(report.status).toBe("succeeded")
        const records = yield* samplesOf("o4")
        const resumedAt = records.findLast((r) => r.event._tag === "Resumed")!.seq
        expect(records.some((r) => r.seq > resumedAt && r.event._tag === "SiteSample")).toBe(true)
        expect(report.availability!.series).toBe(2)
      }).pipe(
        Effect.provide(
          wire({ a: { run: () => Effect.succeed({}) }, g: { run: () => Effect.succeed({}) } }, operator).pipe(
            Layer.provide(delayed)
          )
        )
      )
    }
  )

  it.effect("without an observer nothing is probed and the report has no availability", () =>
    Effect.gen(function* () {
      const report = yield* Executor.run(plan([action("a")]), { runId: "o3" })
      expect(report.availability).toBeUndefined()
      expect((yield* samplesOf("o3")).some((r) => r.event._tag === "SiteSample")).toBe(false)
    }).pipe(Effect.provide(wire({ a: { run: () => Effect.succeed({}) } })))
  )
})

describe("WaitFor deadline", () => {
  const never: StepHandler.Handler = { poll: () => Effect.succeed({ holds: false, observed: { version: "24.1.3" } }) }

  it.effect("PREP-3: the install wait's absolute deadline is journaled and a resume keeps it", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(Executor.run(plan([waitFor("install", 10, 60)]), { runId: "d1" }))
      yield* TestClock.adjust("30 seconds")
      yield* Fiber.interrupt(fiber)
      const records = yield* samplesOf("d1")
      const s = records.find((r) => r.event._tag === "StepStarted")!.event as RunEvent.StepStarted
      expect(s.deadline?.getTime()).toBe(60_000)
      // the process was gone 20 s; the resume polls at 50 s and 60 s, then the original deadline has passed
      yield* TestClock.adjust("20 seconds")
      const resumed = yield* Effect.fork(Executor.resume("d1"))
      yield* TestClock.adjust("10 seconds")
      const report = yield* Fiber.join(resumed)
      expect(report.status).toBe("failed")
      const failed = (yield* samplesOf("d1")).find((r) => r.event._tag === "StepFailed")!.event as RunEvent.StepFailed
      expect(failed.at.getTime()).toBe(60_000)
      expect(failed.error.reason).toMatchObject({ _tag: "WaitTimeout", afterSeconds: 60 })
    }).pipe(Effect.provide(wire({ install: never })))
  )

  it.effect(
    "PREP-3: a journal written before 0.3.0 (no deadline on StepStarted) still resumes; its wait starts over",
    () =>
      Effect.gen(function* () {
        const journal = yield* Journal.Journal
        yield* journal.create("d2")
        const p = plan([waitFor("install", 10, 60)])
        const events = [
          new RunEvent.RunStarted({ runId: "d2", plan: p, at: new Date(0) }),
          new RunEvent.StepStarted({ stepId: "install", attempt: 1, at: new Date(0) })
        ]
        for (const [i, event] of events.entries())
          yield* journal.append(new RunEvent.Envelope({ runId: "d2", seq: i + 1, event }))
        yield* TestClock.adjust("50 seconds")
        const resumed = yield* Effect.fork(Executor.resume("d2"))
        yield* TestClock.adjust("50 seconds")
        expect(yield* Fiber.poll(resumed)).toMatchObject({ _tag: "None" })
        yield* TestClock.adjust("10 seconds")
        const report = yield* Fiber.join(resumed)
        expect(report.status).toBe("failed")
        const failed = (yield* samplesOf("d2")).find((r) => r.event._tag === "StepFailed")!.event as RunEvent.StepFailed
        expect(failed.at.getTime()).toBe(110_000)
      }).pipe(Effect.provide(wire({ install: never })))
  )
})
