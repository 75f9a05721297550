/**
 * Site availability over a whole run, from its journal.
 *
 * A `RunObserver` that probes the site address (failover's `SiteProber.layer`
 * is one) journals its probes compactly as `SiteSample` events through the
 * executor: the first probe of a series, every change of state (up → down,
 * down → up) at once, and a summary of the probes in between every
 * `summaryEveryMillis`. `compact` / `flush` are that compaction (pure);
 * `observeProbes` turns a stream of probe results into a `RunObserver`
 * session; `fromRecords` folds the samples of a journal into the
 * `Availability` of the run report.
 *
 * A series is what one orchestrator process observed: `run` starts one, each
 * `resume` another. The time outside every series — before the first probe,
 * between a crash and the resume, after the last record — is counted as
 * `notObservedSeconds`: never as available, never as an outage. An outage
 * runs from the first failed probe to the next successful one (as
 * `SiteProber` measures it); one still open when a series ends stops at the
 * series' last probe and is marked `open`. The resolution is one probe
 * interval, plus, at a crash, the probes since the last journaled record.
 *
 * @since 0.3.0
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { RunObservation } from "./RunObserver.js"
import { type Envelope, SiteSample } from "./RunEvent.js"

/**
 * One outage of the site as observed.
 *
 * @since 0.3.0
 * @category models
 */
export class Outage extends Schema.Class<Outage>("Outage")({
  /** First failed probe. */
  from: Schema.Date,
  /** First successful probe after it, or the last probe of the series when `open`. */
  to: Schema.Date,
  seconds: Schema.Number,
  /** The last failure seen during the outage (HTTP status or error). */
  lastError: Schema.String,
  /** The site was still down when the series' observation stopped (crash, end of the run). */
  open: Schema.optional(Schema.Boolean)
}) {}

/**
 * What the probes of the site address saw during the run.
 *
 * @since 0.3.0
 * @category models
 */
export class Availability extends Schema.Class<Availability>("Availability")({
  /** The address probed (the last series'). */
  url: Schema.String,
  probes: Schema.Number,
  failed: Schema.Number,
  intervalSeconds: Schema.Number,
  firstProbeAt: Schema.Date,
  lastProbeAt: Schema.Date,
  longestOutageSeconds: Schema.Number,
  totalUnavailableSeconds: Schema.Number,
  /** Time of the run covered by no series (no orchestrator alive, or its last probes lost in a crash). */
  notObservedSeconds: Schema.Number,
  /** Time covered by the series. */
  observedSeconds: Schema.Number,
  /** Observation series: one per process that ran or resumed the run. */
  series: Schema.Number,
  outages: Schema.Array(Outage)
}) {}

const seconds = (ms: number) => Math.max(0, ms) / 1000

/**
 * Fold the `SiteSample` records of a run's journal into its availability;
 * `undefined` when the journal holds none (a run without an observer, or
 * one journaled before 0.3.0). The run spans from its first record to
 * `until` (default: its `RunFinished`, else its last record).
 *
 * @since 0.3.0
 * @category constructors
 */
export const fromRecords = (
  records: ReadonlyArray<Envelope>,
  options: { readonly until?: Date | undefined } = {}
): Availability | undefined => {
  const first = records[0]?.event
  if (first === undefined) return undefined
  interface Series {
    start: number
    end: number
  }
  const series: Array<Series> = []
  const outages: Array<{ from: number; to: number; lastError: string; open: boolean }> = []
  let open: { from: number; lastError: string } | undefined
  let previous: boolean | undefined
  let probes = 0
  let failed = 0
  let intervalMillis = 0
  let url = ""
  let finishedAt: number | undefined
  let lastAt = first.at.getTime()
  const closeSeries = () => {
    const s = series.at(-1)
    if (s !== undefined && open !== undefined) {
      outages.push({ from: open.from, to: s.end, lastError: open.lastError, open: true })
    }
    open = undefined
    previous = undefined
  }
  for (const { event: e } of records) {
    lastAt = Math.max(lastAt, e.at.getTime())
    if (e._tag === "RunFinished") finishedAt = e.at.getTime()
    if (e._tag !== "SiteSample") continue
    const from = e.from.getTime()
    const at = e.at.getTime()
    if (e.first === true || series.length === 0) {
      closeSeries()
      series.push({ start: from, end: at })
    } else {
      series.at(-1)!.end = at
    }
    probes += e.probes
    failed += e.failed
    intervalMillis = e.intervalMillis
    url = e.url
    // every probe but the last had the previous record's state; the last one had `up`
    const before = previous ?? e.up
    if (before && !e.up) open = { from: at, lastError: e.lastError ?? "failed" }
    else if (!before && open === undefined) open = { from, lastError: e.lastError ?? "failed" }
    else if (!before && e.lastError !== undefined) open = { ...open!, lastError: e.lastError }
    if (!before && e.up && open !== undefined) {
      outages.push({ from: open.from, to: at, lastError: open.lastError, open: false })
      open = undefined
    }
    previous = e.up
  }
  if (series.length === 0) return undefined
  closeSeries()
  const start = first.at.getTime()
  const end = Math.max(options.until?.getTime() ?? finishedAt ?? lastAt, series.at(-1)!.end)
  const observed = series.reduce((n, s) => n + (s.end - s.start), 0)
  const list = outages.map(
    (o) =>
      new Outage({
        from: new Date(o.from),
        to: new Date(o.to),
        seconds: seconds(o.to - o.from),
        lastError: o.lastError,
        ...(o.open ? { open: true } : {})
      })
  )
  return new Availability({
    url,
    probes,
    failed,
    intervalSeconds: seconds(intervalMillis),
    firstProbeAt: new Date(series[0]!.start),
    lastProbeAt: new Date(series.at(-1)!.end),
    longestOutageSeconds: list.reduce((m, o) => Math.max(m, o.seconds), 0),
    totalUnavailableSeconds: list.reduce((n, o) => n + o.seconds, 0),
    notObservedSeconds: seconds(end - start - observed),
    observedSeconds: seconds(observed),
    series: series.length,
    outages: list
  })
}

/**
 * One probe of the site address.
 *
 * @since 0.3.0
 * @category models
 */
export interface Probe {
  /** Epoch milliseconds. */
  readonly at: number
  readonly ok: boolean
  /** `HTTP 200`, `HTTP 503`, or the error. */
  readonly detail: string
}

/**
 * How probes are journaled.
 *
 * @since 0.3.0
 * @category models
 */
export interface CompactOptions {
  readonly url: string
  readonly intervalMillis: number
  /** A summary of unchanged probes at least this often (default: 12 intervals, at least 1 s). */
  readonly summaryEveryMillis?: number | undefined
}

/**
 * The compaction state of one series (start with {@link initial}).
 *
 * @since 0.3.0
 * @category models
 */
export interface Compaction {
  readonly pending:
    | {
        readonly from: number
        readonly at: number
        readonly probes: number
        readonly failed: number
        readonly up: boolean
        readonly lastError: string | undefined
      }
    | undefined
  readonly lastUp: boolean | undefined
  readonly lastFlushAt: number | undefined
}

/**
 * A series that has not journaled anything yet.
 *
 * @since 0.3.0
 * @category constructors
 */
export const initial: Compaction = { pending: undefined, lastUp: undefined, lastFlushAt: undefined }

const summaryEvery = (options: CompactOptions) =>
  options.summaryEveryMillis ?? Math.max(1_000, options.intervalMillis * 12)

const toSample = (options: CompactOptions, state: Compaction): SiteSample | undefined => {
  const p = state.pending
  if (p === undefined) return undefined
  return new SiteSample({
    from: new Date(p.from),
    at: new Date(p.at),
    probes: p.probes,
    failed: p.failed,
    up: p.up,
    ...(p.lastError === undefined ? {} : { lastError: p.lastError }),
    intervalMillis: options.intervalMillis,
    url: options.url,
    ...(state.lastFlushAt === undefined ? { first: true } : {})
  })
}

/**
 * Add one probe; returns the new state and the record to journal now, if
 * any (the first probe of the series, a change of state, or a summary due).
 * Pure.
 *
 * @since 0.3.0
 * @category combinators
 */
export const compact = (
  options: CompactOptions,
  state: Compaction,
  probe: Probe
): readonly [Compaction, SiteSample | undefined] => {
  const p = state.pending
  const pending = {
    from: p?.from ?? probe.at,
    at: probe.at,
    probes: (p?.probes ?? 0) + 1,
    failed: (p?.failed ?? 0) + (probe.ok ? 0 : 1),
    up: probe.ok,
    lastError: probe.ok ? p?.lastError : probe.detail
  }
  const next: Compaction = { ...state, pending }
  const due =
    state.lastFlushAt === undefined ||
    probe.ok !== state.lastUp ||
    probe.at - state.lastFlushAt >= summaryEvery(options)
  if (!due) return [next, undefined]
  return [{ pending: undefined, lastUp: probe.ok, lastFlushAt: probe.at }, toSample(options, next)]
}

/**
 * The record of the probes not journaled yet (when the series ends).
 *
 * @since 0.3.0
 * @category combinators
 */
export const flush = (options: CompactOptions, state: Compaction): readonly [Compaction, SiteSample | undefined] => {
  const sample = toSample(options, state)
  if (sample === undefined) return [state, undefined]
  return [{ pending: undefined, lastUp: state.pending!.up, lastFlushAt: state.pending!.at }, sample]
}

/**
 * A `RunObserver` session over a stream of probes: journals them compactly
 * through `observation.record` while the scope is open, and what is left
 * when it closes (the executor closes it before it journals the run's end).
 * A session starts by waiting for its first probe sent since it started
 * (at most twice the interval plus 2 s, 15 s at most; the run's steps wait
 * with it), and waits again when it closes if none came: a process killed
 * right after it started has journaled a probe, and the process that ends a
 * run has observed it, even a resume that had only its last step left.
 *
 * @since 0.3.0
 * @category constructors
 */
export const observeProbes = (
  probes: Stream.Stream<Probe>,
  options: CompactOptions,
  observation: RunObservation
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    const state = yield* Ref.make(initial)
    const journal = (f: (s: Compaction) => readonly [Compaction, SiteSample | undefined]) =>
      Effect.uninterruptible(
        Effect.flatMap(
          Ref.modify(state, (s) => {
            const [next, sample] = f(s)
            return [sample, next] as const
          }),
          (sample) => (sample === undefined ? Effect.void : observation.record(sample))
        )
      )
    const seen = yield* Deferred.make<void>()
    // a probe sent before the session started (the prober runs beside the process) does not count as its first
    const since = yield* Clock.currentTimeMillis
    // finalizers run in reverse: the first probe is awaited, then the consumer stops, then the rest is journaled
    yield* Effect.addFinalizer(() => journal((s) => flush(options, s)))
    yield* Effect.forkScoped(
      Stream.runForEach(probes, (probe) =>
        Effect.zipRight(
          journal((s) => compact(options, s, probe)),
          probe.at >= since ? Deferred.succeed(seen, undefined) : Effect.void
        )
      )
    )
    const bound = Math.min(options.intervalMillis * 2 + 2_000, 15_000)
    const first = Deferred.await(seen).pipe(Effect.timeout(Duration.millis(bound)), Effect.ignore)
    yield* Effect.addFinalizer(() => first)
    // the session starts with a probe in the journal: a process killed right after it started observed its start
    yield* first
  })
