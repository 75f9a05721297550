// The event stream's frames, unit-level over the memory journal: `retry:`
// first, the journal after Last-Event-ID, live records once each, the open
// gates as `event: gates`, a keep-alive comment per tick (TestClock), and
// `event: end` once the run finished.
import { describe, expect, it } from "@effect/vitest"
import { Journal, RunEvent } from "@sra-upgrade/core"
import { Events } from "@sra-upgrade/server"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"

const at = new Date(0)
const envelope = (seq: number, event: RunEvent.RunEvent) => new RunEvent.Envelope({ runId: "r1", seq, event })
const started = (seq: number) => envelope(seq, new RunEvent.StepStarted({ stepId: `s${seq}`, attempt: 1, at }))

const layer = Events.layer({ keepAliveMillis: 15_000, flushMillis: 0 }).pipe(Layer.provideMerge(Journal.layerMemory))

/** Append to the journal, then publish (the order the service keeps). */
const record = (e: RunEvent.Envelope) =>
  Effect.gen(function* () {
    yield* Effect.flatMap(Journal.Journal, (j) => j.append(e))
    yield* Effect.flatMap(Events.Events, (ev) => ev.publish(e))
  })

const text = (chunks: Chunk.Chunk<Uint8Array>) =>
  Chunk.toArray(chunks)
    .map((b) => new TextDecoder().decode(b))
    .join("")
const ids = (s: string) => [...s.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))

describe("event streams", () => {
  it.scoped("retry first, the journal after Last-Event-ID, live records once each, gates, keep-alive, end", () =>
    Effect.gen(function* () {
      const journal = yield* Journal.Journal
      const events = yield* Events.Events
      yield* journal.create("r1")
      for (let i = 1; i <= 3; i++) yield* journal.append(started(i)) // journaled before anyone subscribed
      const fiber = yield* Effect.fork(Stream.runCollect(events.sse("r1", 1)))
      yield* Effect.yieldNow()
      yield* record(started(4))
      yield* events.publish(started(4)) // published twice (a catch-up race): sent once
      yield* events.gates("r1", [])
      yield* TestClock.adjust("15 seconds")
      yield* record(envelope(5, new RunEvent.RunFinished({ status: "succeeded", at })))
      const out = text(yield* Fiber.join(fiber))
      expect(out.startsWith("retry: 3000\n\n")).toBe(true)
      expect(ids(out)).toEqual([2, 3, 4, 5])
      expect(out).toContain("event: gates\ndata: []\n\n")
      expect(out).toContain(": keep-alive\n\n")
      expect(out).toContain("event: RunFinished\n")
      expect(out.endsWith("event: end\ndata: {}\n\n")).toBe(true)
      const frame = out.split("\n\n").find((f) => f.startsWith("id: 4\n"))!
      expect(frame.split("\n")).toEqual([
        "id: 4",
        "event: StepStarted",
        expect.stringMatching(/^data: \{"runId":"r1","seq":4,"event":\{.*"_tag":"StepStarted"\}\}$/)
      ])
      // a stream opened after the end replays and ends at once; subscribers are counted and released
      // the finished run's ring was let go with its last stream: a stream opened later reads the journal
      expect((yield* events.stats).frames).toBe(0)
      const late = text(yield* Stream.runCollect(events.sse("r1", 3)))
      expect(ids(late)).toEqual([4, 5])
      expect((yield* events.stats).subscribers).toBe(0)
      expect((yield* events.stats).frames).toBe(0)
    }).pipe(Effect.provide(layer))
  )

  it.scoped("a subscriber that fell behind the in-memory ring reads the journal and loses nothing", () =>
    Effect.gen(function* () {
      const journal = yield* Journal.Journal
      const events = yield* Events.Events
      yield* journal.create("r1")
      yield* journal.append(started(1))
      // a subscriber after record 1, waiting for more
      const fiber = yield* Effect.fork(Stream.runCollect(events.sse("r1", 1)))
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow()
      expect((yield* events.stats).subscribers).toBe(1)
      // 20 more records while it does not run, with a ring of 4 frames: when it wakes, 2..17 are gone from memory
      for (let i = 2; i <= 20; i++) yield* record(started(i))
      yield* record(envelope(21, new RunEvent.RunFinished({ status: "succeeded", at })))
      expect((yield* events.stats).frames).toBeLessThanOrEqual(4)
      const out = text(yield* Fiber.join(fiber))
      expect(ids(out)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2))
    }).pipe(Effect.provide(Events.layer({ ringSize: 4, flushMillis: 0 }).pipe(Layer.provideMerge(Journal.layerMemory))))
  )

  it.scoped(
    "fan-out: the events of a flush interval reach each subscriber in one write, the same bytes for subscribers at the same cursor, while the run never waits",
    () =>
      Effect.gen(function* () {
        const journal = yield* Journal.Journal
        const events = yield* Events.Events
        yield* journal.create("r1")
        const writes: Array<Array<Uint8Array>> = [[], [], []]
        const fibers = yield* Effect.forEach(writes, (w) =>
          Effect.fork(Stream.runForEach(events.sse("r1", 0), (b) => Effect.sync(() => w.push(b))))
        )
        for (let i = 0; i < 10; i++) yield* Effect.yieldNow()
        expect(writes.map((w) => w.length)).toEqual([1, 1, 1]) // `retry:`
        // ten records: the run publishes them all, nobody is woken before the flush
        for (let i = 1; i <= 10; i++) yield* record(started(i))
        for (let i = 0; i < 10; i++) yield* Effect.yieldNow()
        expect(writes.map((w) => w.length)).toEqual([1, 1, 1])
        yield* TestClock.adjust("50 millis")
        for (let i = 0; i < 10; i++) yield* Effect.yieldNow()
        expect(writes.map((w) => w.length)).toEqual([2, 2, 2])
        for (const w of writes) expect(ids(new TextDecoder().decode(w[1]))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
        // one buffer for the three: the batch is encoded and joined once per run
        expect(writes[1]![1]).toBe(writes[0]![1])
        expect(writes[2]![1]).toBe(writes[0]![1])
        yield* record(envelope(11, new RunEvent.RunFinished({ status: "succeeded", at })))
        yield* TestClock.adjust("50 millis")
        for (const f of fibers) yield* Fiber.join(f)
        for (const w of writes)
          expect(new TextDecoder().decode(w[w.length - 1]).endsWith("event: end\ndata: {}\n\n")).toBe(true)
        expect((yield* events.stats).subscribers).toBe(0)
      }).pipe(Effect.provide(Events.layer({ flushMillis: 50 }).pipe(Layer.provideMerge(Journal.layerMemory))))
  )

  it.scoped(
    "subscribers catching up from the journal share one read, get it in writes of at most maxChunkBytes, and let it go at the end",
    () =>
      Effect.gen(function* () {
        const journal = yield* Journal.Journal
        const events = yield* Events.Events
        yield* journal.create("r1")
        for (let i = 1; i <= 99; i++) yield* journal.append(started(i))
        yield* journal.append(envelope(100, new RunEvent.RunFinished({ status: "succeeded", at })))
        // two subscribers that read one write each, then stop reading
        const a = yield* Stream.toPull(events.sse("r1", 0))
        const b = yield* Stream.toPull(events.sse("r1", 40))
        const firstA = text(yield* a)
        const firstB = text(yield* b)
        expect(ids(firstA)[0]).toBe(1)
        expect(ids(firstB)[0]).toBe(41)
        const held = yield* events.stats
        expect(held.catchingUp).toBe(2)
        expect(held.backlogFrames).toBe(100) // one copy of the journal's frames for both, not one each
        expect(held.largestWrite).toBeLessThanOrEqual(1024)
        // a third reads to the end: every record once, in order, no write over the bound
        const chunks = yield* Stream.runCollect(events.sse("r1", 0))
        for (const c of chunks) expect(c.byteLength).toBeLessThanOrEqual(1024)
        expect(chunks.length).toBeGreaterThan(10)
        expect(ids(text(chunks))).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
        // the first two read on: they too get the rest once each, then the read is let go
        let restA = firstA
        for (;;) {
          const next = yield* Effect.option(a)
          if (next._tag === "None") break
          restA += text(next.value)
        }
        let restB = firstB
        for (;;) {
          const next = yield* Effect.option(b)
          if (next._tag === "None") break
          restB += text(next.value)
        }
        expect(ids(restA)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
        expect(ids(restB)).toEqual(Array.from({ length: 60 }, (_, i) => i + 41))
        const after = yield* events.stats
        expect(after.catchingUp).toBe(0)
        expect(after.backlogFrames).toBe(0)
        expect(after.largestWrite).toBeLessThanOrEqual(1024)
      }).pipe(
        Effect.provide(
          Events.layer({ flushMillis: 0, maxChunkBytes: 1024, ringSize: 4 }).pipe(
            Layer.provideMerge(Journal.layerMemory)
          )
        )
      )
  )
})
