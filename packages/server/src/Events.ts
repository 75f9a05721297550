/**
 * Live events of runs, from the journal: the server-sent event stream of a
 * run and the notices other parts of the service (webhooks) listen to.
 *
 * The journal is the source of truth. A stream starts by replaying the
 * journal after `Last-Event-ID`, then follows the run's feed: an in-memory
 * ring of the last frames, each encoded once and shared by every subscriber,
 * and a signal replaced at each new event. A subscriber holds only its
 * cursor (the last sequence sent), so 200 streams on one run cost 200
 * cursors; a subscriber that fell behind the ring reads the journal again. A
 * slow reader never blocks the run: the run only appends to the ring and
 * completes a signal; the reader's socket applies back-pressure to its own
 * stream. The cursor is checked against the sequence, so an event is sent
 * once, whether it came from the journal or the feed.
 *
 * Frames: `id: <seq>`, `event: <tag>`, `data: <journal record as JSON>`;
 * `event: gates` (no id) with the open gates when they change; `event: end`
 * when the run finished; a comment every `keepAliveMillis` (15 s) and
 * `retry: 3000` first.
 *
 * @since 0.3.0
 */
import { Journal, RunEvent } from "@sra-upgrade/core"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { GateView } from "./Api.js"

/**
 * What the service tells its listeners: a journal record of a run, or a
 * change of a gate (opened, updated by a decision, reminder, escalated,
 * closed).
 *
 * @since 0.3.0
 * @category models
 */
export type Notice =
  | { readonly _tag: "Journal"; readonly envelope: RunEvent.Envelope }
  | {
      readonly _tag: "Gate"
      readonly kind: "opened" | "updated" | "reminder" | "escalated" | "closed"
      readonly gate: GateView
      /** Sequence of the journal's `GateOpened` record of this opening. */
      readonly openedSeq: number
      /** Reminder number (1, 2, …). */
      readonly reminder?: number | undefined
    }

/**
 * Options of the event streams.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /** Time between keep-alive comments (default 15 s). */
  readonly keepAliveMillis?: number | undefined
  /** Frames kept in memory per run (default 2048). */
  readonly ringSize?: number | undefined
  /** The `retry:` sent to browsers, ms (default 3000). */
  readonly retryMillis?: number | undefined
}

/**
 * What the event streams hold in memory: the runs with a feed, the frames
 * kept (at most `ringSize` per run, shared by all subscribers) and their
 * bytes, the open streams.
 *
 * @since 0.3.0
 * @category models
 */
export interface Stats {
  readonly feeds: number
  readonly frames: number
  readonly bytes: number
  readonly subscribers: number
}

/**
 * @since 0.3.0
 * @category services
 */
export class Events extends Context.Tag("@sra-upgrade/server/Events")<
  Events,
  {
    /** A record was journaled: feed it to the run's streams and the listeners. */
    readonly publish: (envelope: RunEvent.Envelope) => Effect.Effect<void>
    /** Publish what the journal holds beyond what was published (after a cancel or a crash). */
    readonly catchUp: (runId: string) => Effect.Effect<void>
    /** The open gates of a run changed. */
    readonly gates: (runId: string, gates: ReadonlyArray<GateView>) => Effect.Effect<void>
    /** Tell the listeners about a gate. */
    readonly notice: (notice: Notice) => Effect.Effect<void>
    /** Listen to every notice from now on. */
    readonly listen: Effect.Effect<Stream.Stream<Notice>, never, Scope.Scope>
    /** The server-sent event stream of a run, after `lastEventId`. */
    readonly sse: (runId: string, lastEventId: number) => Stream.Stream<Uint8Array>
    /** What the streams hold in memory now. */
    readonly stats: Effect.Effect<Stats>
  }
>() {}

const encoder = new TextEncoder()
const encodeEnvelope = Schema.encodeSync(RunEvent.Envelope)
const encodeGates = Schema.encodeSync(Schema.Array(GateView))

/**
 * One SSE frame of a journal record.
 *
 * @since 0.3.0
 * @category combinators
 */
export const frameOf = (envelope: RunEvent.Envelope): string =>
  `id: ${envelope.seq}\nevent: ${envelope.event._tag}\ndata: ${JSON.stringify(encodeEnvelope(envelope))}\n\n`

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (parts.length === 1) return parts[0]!
  let size = 0
  for (const p of parts) size += p.byteLength
  const out = new Uint8Array(size)
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.byteLength
  }
  return out
}

interface Feed {
  readonly frames: Array<{ readonly seq: number; readonly bytes: Uint8Array }>
  latest: number
  finished: boolean
  gates: Uint8Array | undefined
  gatesVersion: number
  signal: Deferred.Deferred<void>
}

/**
 * The event streams over the journal.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (options: Options = {}) =>
  Effect.gen(function* () {
    const journal = yield* Journal.Journal
    const hub = yield* PubSub.unbounded<Notice>()
    const keepAlive = Duration.millis(options.keepAliveMillis ?? 15_000)
    const ringSize = options.ringSize ?? 2048
    const retry = encoder.encode(`retry: ${options.retryMillis ?? 3000}\n\n`)
    const ping = encoder.encode(": keep-alive\n\n")
    const end = encoder.encode("event: end\ndata: {}\n\n")
    const feeds = new Map<string, Feed>()
    let subscribers = 0
    let ticks = 0

    const feedOf = (runId: string): Feed => {
      let feed = feeds.get(runId)
      if (feed === undefined) {
        feed = {
          frames: [],
          latest: 0,
          finished: false,
          gates: undefined,
          gatesVersion: 0,
          signal: Deferred.unsafeMake<void>(FiberId.none)
        }
        feeds.set(runId, feed)
      }
      return feed
    }

    const wake = (feed: Feed) => {
      const old = feed.signal
      feed.signal = Deferred.unsafeMake<void>(FiberId.none)
      return Deferred.succeed(old, undefined)
    }

    const publish = (envelope: RunEvent.Envelope) =>
      Effect.suspend(() => {
        const feed = feedOf(envelope.runId)
        if (envelope.seq <= feed.latest) return Effect.void
        feed.frames.push({ seq: envelope.seq, bytes: encoder.encode(frameOf(envelope)) })
        if (feed.frames.length > ringSize) feed.frames.splice(0, feed.frames.length - ringSize)
        feed.latest = envelope.seq
        if (envelope.event._tag === "RunFinished") feed.finished = true
        return Effect.zipRight(wake(feed), PubSub.publish(hub, { _tag: "Journal", envelope }))
      })

    const catchUp = (runId: string) =>
      journal.read(runId).pipe(
        Effect.flatMap((contents) =>
          Effect.forEach(
            contents.records.filter((r) => r.seq > feedOf(runId).latest),
            publish,
            { discard: true }
          )
        ),
        Effect.ignore
      )

    const gates = (runId: string, list: ReadonlyArray<GateView>) =>
      Effect.suspend(() => {
        const feed = feedOf(runId)
        feed.gates = encoder.encode(`event: gates\ndata: ${JSON.stringify(encodeGates(list))}\n\n`)
        feed.gatesVersion++
        return wake(feed)
      })

    interface Cursor {
      readonly seq: number
      readonly gatesVersion: number
      readonly started: boolean
      readonly done: boolean
    }

    /**
     * Frames after `seq` from the journal (a new subscriber, or one that fell
     * behind the ring). Subscribers asking at the same time share one read.
     */
    type Frames = {
      readonly frames: ReadonlyArray<{ readonly seq: number; readonly bytes: Uint8Array }>
      readonly finished: boolean
    }
    const reads = new Map<string, Promise<Frames>>()
    const readFrames = (runId: string): Effect.Effect<Frames> =>
      journal.read(runId).pipe(
        Effect.map((c) => ({
          frames: c.records.map((r) => ({ seq: r.seq, bytes: encoder.encode(frameOf(r)) })),
          finished: c.records[c.records.length - 1]?.event._tag === "RunFinished"
        })),
        Effect.orElseSucceed(() => ({ frames: [], finished: false }))
      )
    const fromJournal = (runId: string, seq: number) =>
      Effect.flatMap(Effect.runtime<never>(), (runtime) =>
        Effect.promise(() => {
          let read = reads.get(runId)
          if (read === undefined) {
            read = Runtime.runPromise(runtime)(readFrames(runId)).finally(() => reads.delete(runId))
            reads.set(runId, read)
          }
          return read
        })
      ).pipe(Effect.map((r) => ({ frames: r.frames.filter((f) => f.seq > seq), finished: r.finished })))

    const step = (runId: string) => (cursor: Cursor) =>
      Effect.gen(function* () {
        if (cursor.done) return Option.none()
        const feed = feedOf(runId)
        const signal = feed.signal // taken before looking: a publish after this wakes us
        const out: Array<Uint8Array> = []
        let seq = cursor.seq
        let finished = false
        if (!cursor.started) {
          out.push(retry)
          const read = yield* fromJournal(runId, seq)
          for (const f of read.frames) {
            out.push(f.bytes)
            seq = f.seq
          }
          if (read.finished) finished = true
        } else if (feed.latest > seq) {
          const first = feed.frames[0]
          if (first !== undefined && first.seq <= seq + 1) {
            for (const f of feed.frames) if (f.seq > seq) out.push(f.bytes)
            seq = feed.latest
          } else {
            for (const f of (yield* fromJournal(runId, seq)).frames) {
              out.push(f.bytes)
              seq = f.seq
            }
          }
        }
        let gatesVersion = cursor.gatesVersion
        if (feed.gatesVersion !== gatesVersion && feed.gates !== undefined) {
          out.push(feed.gates)
          gatesVersion = feed.gatesVersion
        }
        if ((finished || feed.finished) && seq >= feed.latest) {
          out.push(end)
          return Option.some([Chunk.of(concat(out)), { seq, gatesVersion, started: true, done: true }] as const)
        }
        if (out.length === 0) {
          // nothing new: wait for the next event or gate change, or the keep-alive tick (then send a comment)
          const tick = ticks
          yield* Deferred.await(signal)
          if (ticks !== tick && feed.latest <= seq && feed.gatesVersion === gatesVersion) out.push(ping)
        }
        // one buffer per wake-up: one write to the socket however many frames it holds
        return Option.some([Chunk.of(concat(out)), { seq, gatesVersion, started: true, done: false }] as const)
      })

    // one timer for every stream: each tick wakes the feeds, and streams with nothing to send send a comment
    yield* Effect.forkScoped(
      Effect.repeat(
        Effect.sleep(keepAlive).pipe(
          Effect.zipRight(
            Effect.suspend(() => {
              ticks++
              return Effect.forEach([...feeds.values()], wake, { discard: true })
            })
          )
        ),
        Schedule.forever
      )
    )

    return Events.of({
      publish,
      catchUp,
      gates,
      notice: (n) => PubSub.publish(hub, n),
      listen: Effect.map(PubSub.subscribe(hub), (q) => Stream.fromQueue(q)),
      sse: (runId, lastEventId) =>
        Stream.acquireRelease(
          Effect.sync(() => subscribers++),
          () => Effect.sync(() => subscribers--)
        ).pipe(
          Stream.flatMap(() =>
            Stream.unfoldChunkEffect<Cursor, Uint8Array, never, never>(
              { seq: Math.max(0, lastEventId), gatesVersion: 0, started: false, done: false },
              step(runId)
            )
          )
        ),
      stats: Effect.sync(() => {
        let frames = 0
        let bytes = 0
        for (const f of feeds.values()) {
          frames += f.frames.length
          for (const x of f.frames) bytes += x.bytes.byteLength
        }
        return { feeds: feeds.size, frames, bytes, subscribers }
      })
    })
  })

/**
 * The event streams over the journal in context.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Events, never, Journal.Journal> =>
  Layer.scoped(Events, make(options))
