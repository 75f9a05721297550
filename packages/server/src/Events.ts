/**
 * Live events of runs, from the journal: the server-sent event stream of a
 * run and the notices other parts of the service (webhooks) listen to.
 *
 * The journal is the source of truth. Each run has one feed, shared by all
 * its subscribers: an in-memory ring of the last frames, each encoded once,
 * and a signal. A subscriber holds only its cursor (the last sequence sent),
 * so 200 streams on one run cost 200 cursors, not 200 queues.
 *
 * - The run never waits for a reader: publishing appends to the ring and
 *   marks the feed; the feed's subscribers are woken at most once per
 *   `flushMillis` (50 ms), each taking every frame after its cursor in one
 *   write. Readers that keep up share that write's bytes (one buffer per
 *   batch per run, not per subscriber), so the fan-out costs one wake-up per
 *   subscriber per flush however fast the run appends.
 * - A write holds at most `maxChunkBytes` (64 KiB) of frames, and the next
 *   write waits for the socket to drain: what a reader that does not read
 *   costs is its cursor and at most one such write.
 * - A new subscriber, or one that fell behind the ring, reads the journal:
 *   one read per run shared by all subscribers catching up (kept while any
 *   is), sent in writes of at most `maxChunkBytes`, until its cursor is back
 *   in the ring. Nothing is lost and nothing is dropped.
 *
 * - A finished run's ring is let go when its last stream closes (a stream
 *   opened later reads the journal): memory does not grow with the runs.
 *
 * The cursor is checked against the sequence, so an event is sent once,
 * whether it came from the journal or the feed.
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
  /**
   * Subscribers are woken at most once per this many ms per run, each sending
   * every frame since its cursor in one write (default 50; 0: at each event).
   */
  readonly flushMillis?: number | undefined
  /** The most bytes in one write to one subscriber (default 64 KiB; a larger frame goes alone). */
  readonly maxChunkBytes?: number | undefined
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
  /** Subscribers reading the journal (new, or fallen behind the ring). */
  readonly catchingUp: number
  /** Frames held by the journal reads shared by those subscribers. */
  readonly backlogFrames: number
  /** The largest write handed to one subscriber so far, bytes. */
  readonly largestWrite: number
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

interface Frame {
  readonly seq: number
  readonly bytes: Uint8Array
}

/** Index of the first frame after `seq` (frames sorted by sequence). */
const after = (frames: ReadonlyArray<Frame>, seq: number): number => {
  let lo = 0
  let hi = frames.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (frames[mid]!.seq <= seq) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** The journal's frames, read once for every subscriber catching up. */
interface Backlog {
  readonly frames: ReadonlyArray<Frame>
  readonly finished: boolean
}

interface Feed {
  readonly frames: Array<Frame>
  latest: number
  finished: boolean
  gates: Uint8Array | undefined
  gatesVersion: number
  signal: Deferred.Deferred<void>
  /** The last batch of frames written, shared by the subscribers at the same cursor. */
  batch: { readonly from: number; readonly to: number; readonly bytes: Uint8Array } | undefined
  backlog: Backlog | undefined
  reading: Promise<Backlog> | undefined
  /** Subscribers reading the backlog: it is let go when none is. */
  catchingUp: number
  /** Open streams of this run: the ring of a finished run is let go when none is. */
  subscribers: number
}

/** One open stream: where it is and whether it reads the journal. */
interface Subscriber {
  catchingUp: boolean
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
    const ringSize = Math.max(1, options.ringSize ?? 2048)
    const flushMillis = Math.max(0, options.flushMillis ?? 50)
    const maxChunkBytes = Math.max(1, options.maxChunkBytes ?? 64 * 1024)
    const retry = encoder.encode(`retry: ${options.retryMillis ?? 3000}\n\n`)
    const ping = encoder.encode(": keep-alive\n\n")
    const end = encoder.encode("event: end\ndata: {}\n\n")
    const feeds = new Map<string, Feed>()
    let subscribers = 0
    let ticks = 0
    let largestWrite = 0

    const feedOf = (runId: string): Feed => {
      let feed = feeds.get(runId)
      if (feed === undefined) {
        feed = {
          frames: [],
          latest: 0,
          finished: false,
          gates: undefined,
          gatesVersion: 0,
          signal: Deferred.unsafeMake<void>(FiberId.none),
          batch: undefined,
          backlog: undefined,
          reading: undefined,
          catchingUp: 0,
          subscribers: 0
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

    // the flusher: feeds with new frames are woken once per flush interval, whatever the number of events
    const dirty = new Set<Feed>()
    let kick = Deferred.unsafeMake<void>(FiberId.none)
    if (flushMillis > 0)
      yield* Effect.forkScoped(
        Effect.forever(
          Effect.gen(function* () {
            yield* Deferred.await(kick)
            yield* Effect.sleep(Duration.millis(flushMillis))
            kick = Deferred.unsafeMake<void>(FiberId.none)
            const woken = [...dirty]
            dirty.clear()
            for (const feed of woken) yield* wake(feed)
          })
        )
      )
    const changed = (feed: Feed) => {
      if (flushMillis === 0) return wake(feed)
      dirty.add(feed)
      return Deferred.succeed(kick, undefined)
    }

    /**
     * A finished run's frames are let go once nobody follows it: a stream
     * opened later reads the journal (only the last sequence is kept).
     */
    const letGo = (feed: Feed) => {
      if (feed.finished && feed.subscribers === 0) {
        feed.frames.length = 0
        feed.batch = undefined
        feed.backlog = undefined
      }
    }

    const publish = (envelope: RunEvent.Envelope) =>
      Effect.suspend(() => {
        const feed = feedOf(envelope.runId)
        if (envelope.seq <= feed.latest) return Effect.void
        feed.frames.push({ seq: envelope.seq, bytes: encoder.encode(frameOf(envelope)) })
        if (feed.frames.length > ringSize) feed.frames.splice(0, feed.frames.length - ringSize)
        feed.latest = envelope.seq
        if (envelope.event._tag === "RunFinished") {
          feed.finished = true
          letGo(feed)
        }
        return Effect.zipRight(changed(feed), PubSub.publish(hub, { _tag: "Journal", envelope }))
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

    const readBacklog = (runId: string): Effect.Effect<Backlog> =>
      journal.read(runId).pipe(
        Effect.map((c) => ({
          frames: c.records.map((r) => ({ seq: r.seq, bytes: encoder.encode(frameOf(r)) })),
          finished: c.records[c.records.length - 1]?.event._tag === "RunFinished"
        })),
        Effect.orElseSucceed(() => ({ frames: [], finished: false }))
      )

    /**
     * The journal's frames for a subscriber after `seq`: the feed's backlog
     * if it holds frames after `seq`, else a new read (subscribers asking at
     * the same time share it).
     */
    const backlogOf = (runId: string, feed: Feed, seq: number) =>
      Effect.suspend(() => {
        const held = feed.backlog
        if (held !== undefined && (held.frames[held.frames.length - 1]?.seq ?? 0) > seq) return Effect.succeed(held)
        return Effect.flatMap(Effect.runtime<never>(), (runtime) =>
          Effect.promise(() => {
            if (feed.reading === undefined)
              feed.reading = Runtime.runPromise(runtime)(readBacklog(runId)).finally(() => (feed.reading = undefined))
            return feed.reading
          })
        ).pipe(
          Effect.map((read) => {
            if (feed.catchingUp > 0) feed.backlog = read
            return read
          })
        )
      })

    const enterCatchUp = (feed: Feed, sub: Subscriber) => {
      if (!sub.catchingUp) {
        sub.catchingUp = true
        feed.catchingUp++
      }
    }
    const leaveCatchUp = (feed: Feed, sub: Subscriber) => {
      if (sub.catchingUp) {
        sub.catchingUp = false
        if (--feed.catchingUp === 0) feed.backlog = undefined
      }
    }

    const step = (runId: string, sub: Subscriber) => (cursor: Cursor) =>
      Effect.gen(function* () {
        if (cursor.done) return Option.none()
        const feed = feedOf(runId)
        const signal = feed.signal // taken before looking: a wake after this wakes us
        const out: Array<Uint8Array> = []
        let seq = cursor.seq
        let more = false // the write is full: come back at once for the rest
        let finished = false
        if (!cursor.started) out.push(retry)
        const gatesSeen = feed.gatesVersion // the version of the gates frame taken now (a read below may yield)
        const gatesPart = gatesSeen !== cursor.gatesVersion && feed.gates !== undefined ? feed.gates : undefined
        // the write's budget for frames: what goes with them (`retry:`, gates, end) counts
        const budget =
          maxChunkBytes - (cursor.started ? 0 : retry.byteLength) - (gatesPart?.byteLength ?? 0) - end.byteLength
        const first = feed.frames[0]
        if (first !== undefined && first.seq <= seq + 1) {
          // in the ring
          leaveCatchUp(feed, sub)
          if (feed.latest > seq) {
            const from = after(feed.frames, seq)
            let to = from
            let size = 0
            while (to < feed.frames.length && (to === from || size + feed.frames[to]!.bytes.byteLength <= budget))
              size += feed.frames[to++]!.bytes.byteLength
            more = to < feed.frames.length
            const last = feed.frames[to - 1]!.seq
            const batch = feed.batch
            if (batch !== undefined && batch.from === seq && batch.to === last) out.push(batch.bytes)
            else {
              const bytes = concat(feed.frames.slice(from, to).map((f) => f.bytes))
              feed.batch = { from: seq, to: last, bytes }
              out.push(bytes)
            }
            seq = last
          }
        } else if (!cursor.started || sub.catchingUp || feed.latest > seq) {
          // before the ring (or nothing in memory yet, or more of the journal to send): the journal
          enterCatchUp(feed, sub)
          const backlog = yield* backlogOf(runId, feed, seq)
          const from = after(backlog.frames, seq)
          let to = from
          let size = 0
          while (to < backlog.frames.length && (to === from || size + backlog.frames[to]!.bytes.byteLength <= budget))
            size += backlog.frames[to++]!.bytes.byteLength
          for (let i = from; i < to; i++) out.push(backlog.frames[i]!.bytes)
          if (to > from) seq = backlog.frames[to - 1]!.seq
          // nothing newer in the journal (a read that failed): wait for the next wake rather than read again at once
          more = to > from && (to < backlog.frames.length || feed.latest > seq)
          if (!more && backlog.finished) finished = true
          if (!more) leaveCatchUp(feed, sub)
        }
        let gatesVersion = cursor.gatesVersion
        if (gatesPart !== undefined) {
          out.push(gatesPart)
          gatesVersion = gatesSeen
        }
        if (!more && (finished || feed.finished) && seq >= feed.latest) {
          out.push(end)
          leaveCatchUp(feed, sub)
          return Option.some([
            Chunk.of(written(concat(out))),
            { seq, gatesVersion, started: true, done: true }
          ] as const)
        }
        if (out.length === 0) {
          // nothing new: wait for the next wake (new frames, gate change) or the keep-alive tick (then a comment)
          const tick = ticks
          yield* Deferred.await(signal)
          if (ticks !== tick && feed.latest <= seq && feed.gatesVersion === gatesVersion) out.push(ping)
        }
        const next = { seq, gatesVersion, started: true, done: false }
        // one buffer per wake-up: one write to the socket however many frames it holds
        return Option.some([out.length === 0 ? Chunk.empty() : Chunk.of(written(concat(out))), next] as const)
      })

    const written = (bytes: Uint8Array) => {
      if (bytes.byteLength > largestWrite) largestWrite = bytes.byteLength
      return bytes
    }

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
          Effect.sync(() => {
            subscribers++
            feedOf(runId).subscribers++
            return { catchingUp: false } as Subscriber
          }),
          (sub) =>
            Effect.sync(() => {
              subscribers--
              const feed = feedOf(runId)
              feed.subscribers--
              leaveCatchUp(feed, sub)
              letGo(feed)
            })
        ).pipe(
          Stream.flatMap((sub) =>
            Stream.unfoldChunkEffect<Cursor, Uint8Array, never, never>(
              { seq: Math.max(0, lastEventId), gatesVersion: 0, started: false, done: false },
              step(runId, sub)
            )
          )
        ),
      stats: Effect.sync(() => {
        let frames = 0
        let bytes = 0
        let catchingUp = 0
        let backlogFrames = 0
        for (const f of feeds.values()) {
          frames += f.frames.length
          for (const x of f.frames) bytes += x.bytes.byteLength
          catchingUp += f.catchingUp
          backlogFrames += f.backlog?.frames.length ?? 0
        }
        return { feeds: feeds.size, frames, bytes, subscribers, catchingUp, backlogFrames, largestWrite }
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
