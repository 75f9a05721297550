/**
 * Measured site downtime: probe the site address (the vendor's load-balancer
 * probe `GET /check_health`, with the site host name as Host/SNI) at a fixed
 * interval for as long as a scope is open, and report probes sent, failed,
 * the longest outage and the total unavailable time. Time comes from Effect's
 * `Clock`, so unit tests drive it with `TestClock`.
 *
 * An outage starts at the first failed probe and ends at the next successful
 * one; one that is still open counts up to the latest probe. A single failed
 * probe between two good ones therefore counts one interval: the resolution
 * of the measurement is the probe interval.
 *
 * `layer` also provides core's `RunObserver`: an executor given it journals
 * the probes made while a run is driven (compactly, see core's
 * `Availability`), so the run report carries the site's availability over
 * the whole run — across crashes and resumes — as `availability`. Leave the
 * layer out to turn probing off (the report then says "not measured").
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { ApplianceApi, Availability, RunObserver } from "@sra-upgrade/core"

/**
 * One outage.
 *
 * @since 0.1.0
 * @category models
 */
export class Outage extends Schema.Class<Outage>("Outage")({
  start: Schema.Date,
  /** First successful probe after it; absent while it lasts. */
  end: Schema.optional(Schema.Date),
  failedProbes: Schema.Number,
  durationMillis: Schema.Number,
  /** Last failure seen (status or error). */
  lastError: Schema.String
}) {}

/**
 * What the prober measured.
 *
 * @since 0.1.0
 * @category models
 */
export class Stats extends Schema.Class<Stats>("Stats")({
  url: Schema.String,
  intervalMillis: Schema.Number,
  startedAt: Schema.optional(Schema.Date),
  lastProbeAt: Schema.optional(Schema.Date),
  sent: Schema.Number,
  failed: Schema.Number,
  longestOutageMillis: Schema.Number,
  unavailableMillis: Schema.Number,
  outages: Schema.Array(Outage)
}) {}

/**
 * Where and how often to probe.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly url: string
  /** Host header and SNI (the site FQDN) when `url` uses an address. */
  readonly hostname?: string | undefined
  readonly intervalMillis: number
  /**
   * Per-probe time limit (default: the interval, at least 1 s and at most 10 s: a shorter limit counts a
   * slow answer on a loaded machine as an outage).
   */
  readonly timeoutMillis?: number | undefined
}

interface Probe {
  readonly at: number
  readonly ok: boolean
  readonly detail: string
}

interface MutableOutage {
  start: number
  end?: number
  failed: number
  lastError: string
}

interface Acc {
  readonly startedAt?: number
  readonly last?: number
  readonly sent: number
  readonly failed: number
  readonly outages: ReadonlyArray<MutableOutage>
}

const empty: Acc = { sent: 0, failed: 0, outages: [] }

/**
 * Fold one probe result into the running figures (pure).
 *
 * @since 0.1.0
 * @category combinators
 */
const record = (acc: Acc, p: Probe): Acc => {
  const outages = acc.outages.slice()
  const open = outages.at(-1)
  const isOpen = open !== undefined && open.end === undefined
  if (!p.ok) {
    if (isOpen) outages[outages.length - 1] = { ...open, failed: open.failed + 1, lastError: p.detail }
    else outages.push({ start: p.at, failed: 1, lastError: p.detail })
  } else if (isOpen) {
    outages[outages.length - 1] = { ...open, end: p.at }
  }
  return {
    startedAt: acc.startedAt ?? p.at,
    last: p.at,
    sent: acc.sent + 1,
    failed: acc.failed + (p.ok ? 0 : 1),
    outages
  }
}

const summarize = (options: Options, acc: Acc): Stats => {
  const outages = acc.outages.map((o) => {
    const end = o.end ?? acc.last ?? o.start
    return new Outage({
      start: new Date(o.start),
      ...(o.end !== undefined ? { end: new Date(o.end) } : {}),
      failedProbes: o.failed,
      durationMillis: Math.max(end - o.start, 0),
      lastError: o.lastError
    })
  })
  return new Stats({
    url: options.url,
    intervalMillis: options.intervalMillis,
    ...(acc.startedAt !== undefined ? { startedAt: new Date(acc.startedAt) } : {}),
    ...(acc.last !== undefined ? { lastProbeAt: new Date(acc.last) } : {}),
    sent: acc.sent,
    failed: acc.failed,
    longestOutageMillis: outages.reduce((m, o) => Math.max(m, o.durationMillis), 0),
    unavailableMillis: outages.reduce((n, o) => n + o.durationMillis, 0),
    outages
  })
}

/**
 * Fold a list of probe results into figures (pure; used by tests and replays).
 *
 * @since 0.1.0
 * @category combinators
 */
export const fromProbes = (options: Options, probes: ReadonlyArray<Probe>): Stats =>
  summarize(options, probes.reduce(record, empty))

/**
 * A running prober.
 *
 * @since 0.1.0
 * @category services
 */
export class SiteProber extends Context.Tag("@sra-upgrade/failover/SiteProber")<
  SiteProber,
  {
    readonly options: Options
    /** Figures so far. */
    readonly snapshot: Effect.Effect<Stats>
    /** Every probe result from now on, as it comes (for observers such as the run journal). */
    readonly probes: Stream.Stream<Availability.Probe>
  }
>() {}

/**
 * Start probing; probing stops when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (
  options: Options
): Effect.Effect<SiteProber["Type"], never, ApplianceApi.ApplianceApi | Scope.Scope> =>
  Effect.gen(function* () {
    const api = yield* ApplianceApi.ApplianceApi
    const ref = yield* Ref.make(empty)
    const results = yield* PubSub.sliding<Availability.Probe>(1_024)
    const timeoutMillis = options.timeoutMillis ?? Math.min(Math.max(options.intervalMillis, 1_000), 10_000)
    const once = Effect.gen(function* () {
      const at = yield* Clock.currentTimeMillis
      const result = yield* api.probe({ url: options.url, hostname: options.hostname, timeoutMillis }).pipe(
        Effect.map((r) => ({ ok: r.ok, detail: `HTTP ${r.status}` })),
        Effect.catchAll((e) => Effect.succeed({ ok: false, detail: e.message }))
      )
      yield* Ref.update(ref, (acc) => record(acc, { at, ...result }))
      yield* PubSub.publish(results, { at, ...result })
    })
    yield* Effect.forkScoped(Effect.repeat(once, Schedule.fixed(Duration.millis(options.intervalMillis))))
    return {
      options,
      snapshot: Effect.map(Ref.get(ref), (acc) => summarize(options, acc)),
      probes: Stream.fromPubSub(results)
    }
  })

/**
 * The run observer of a prober: while a run is driven, its probes are
 * journaled (first probe, changes of state at once, a summary every
 * `summaryEveryMillis`) through the executor.
 *
 * @since 0.3.0
 * @category constructors
 */
export const observer = (
  prober: SiteProber["Type"],
  options: { readonly summaryEveryMillis?: number | undefined } = {}
): RunObserver.RunObserver["Type"] => ({
  observe: (observation) =>
    Availability.observeProbes(
      prober.probes,
      {
        url: prober.options.url,
        intervalMillis: prober.options.intervalMillis,
        summaryEveryMillis: options.summaryEveryMillis
      },
      observation
    )
})

/**
 * The prober as a layer: probing runs while the layer is alive. It also
 * provides the `RunObserver` an executor uses to journal the probes of its
 * runs (see {@link observer}); `summaryEveryMillis` sets how often unchanged
 * probes are summed up in the journal.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options & { readonly summaryEveryMillis?: number | undefined }
): Layer.Layer<SiteProber | RunObserver.RunObserver, never, ApplianceApi.ApplianceApi> =>
  Layer.scopedContext(
    Effect.map(start(options), (prober) =>
      Context.make(SiteProber, prober).pipe(
        Context.add(RunObserver.RunObserver, observer(prober, { summaryEveryMillis: options.summaryEveryMillis }))
      )
    )
  )

/**
 * The figures of a run's site probing as step evidence (JSON): probes sent
 * and failed, the longest outage, the total unavailable time and each outage.
 *
 * @since 0.3.0
 * @category models
 */
export interface Figures {
  readonly url: string
  readonly intervalMillis: number
  readonly sent: number
  readonly failed: number
  readonly longestOutageMillis: number
  readonly unavailableMillis: number
  readonly outages: ReadonlyArray<{
    readonly start: string
    readonly end: string | null
    readonly failedProbes: number
    readonly durationMillis: number
    readonly lastError: string
  }>
}

/**
 * What the prober measured, as step evidence.
 *
 * @since 0.3.0
 * @category combinators
 */
export const figures = (s: Stats): Figures => ({
  url: s.url,
  intervalMillis: s.intervalMillis,
  sent: s.sent,
  failed: s.failed,
  longestOutageMillis: s.longestOutageMillis,
  unavailableMillis: s.unavailableMillis,
  outages: s.outages.map((o) => ({
    start: o.start.toISOString(),
    end: o.end?.toISOString() ?? null,
    failedProbes: o.failedProbes,
    durationMillis: o.durationMillis,
    lastError: o.lastError
  }))
})

/**
 * The figures so far of the prober running with this run, or none when no
 * prober was provided (a step handler reports them as its evidence).
 *
 * @since 0.3.0
 * @category combinators
 */
export const measured: Effect.Effect<Option.Option<Figures>> = Effect.flatMap(
  Effect.serviceOption(SiteProber),
  Option.match({
    onNone: () => Effect.succeedNone,
    onSome: (p) => Effect.map(p.snapshot, (s) => Option.some(figures(s)))
  })
)
