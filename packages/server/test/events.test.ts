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
      const late = text(yield* Stream.runCollect(events.sse("r1", 3)))
      expect(ids(late)).toEqual([4, 5])
      expect((yield* events.stats).subscribers).toBe(0)
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
})
