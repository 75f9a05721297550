/**
 * The one admission rule for windows and the forward simulation of a
 * rollout that the planner (earliest starts) and the summary (ETA) share.
 * Assumes every site succeeds in its estimated time and approvals come as
 * soon as a wave has finished.
 */
import * as Option from "effect/Option"
import * as SiteWindow from "../SiteWindow.js"

/** A site as the schedule sees it. */
export interface Site {
  readonly id: string
  readonly wave: number
  readonly windows: ReadonlyArray<SiteWindow.WeeklyWindow>
  /** Work in the first (or only) window, seconds. */
  readonly first: number
  /** Failover pairs: work in the second window, seconds. */
  readonly second?: number | undefined
}

/** The schedule view of planned sites: a pair's second window work is counted apart. */
export const sitesOf = (
  sites: ReadonlyArray<{
    readonly id: string
    readonly wave: number
    readonly windows: ReadonlyArray<SiteWindow.WeeklyWindow>
    readonly kind: "single" | "sync-pair" | "async-pair"
    readonly estimate: {
      readonly source: string
      readonly firstWindowSeconds: number
      readonly secondWindowSeconds?: number | undefined
    }
  }>
): ReadonlyArray<Site> =>
  sites.map((s) => ({
    id: s.id,
    wave: s.wave,
    windows: s.windows,
    first: s.estimate.firstWindowSeconds,
    second:
      s.kind !== "single" && s.estimate.source !== "already-at-target"
        ? (s.estimate.secondWindowSeconds ?? 0)
        : undefined
  }))

/** PAIR-1: the longest interval between a pair's two windows the pair planner accepts by default. */
export const PAIR_MAX_INTERVAL_MS = 72 * 3_600_000

const DAY_MS = 86_400_000

/** Instants at or after `t` (within two weeks) at which the site's windows admit its first-window work. */
const candidateStarts = (site: Site, t: number): ReadonlyArray<number> => {
  const out: Array<number> = []
  if (SiteWindow.canStartAt(site.windows, t, site.first)) out.push(t)
  for (const o of SiteWindow.openings(site.windows, t, t + 15 * DAY_MS))
    if (o.start.getTime() > t && SiteWindow.canStartAt(site.windows, o.start, site.first)) out.push(o.start.getTime())
  return out
}

/** A pair started at `s` finds its second window within the PAIR-1 interval. */
const pairInterval = (site: Site, s: number): boolean => {
  const p = place(site, s)
  if (Option.isNone(p.firstWindow) || Option.isNone(p.secondWindow)) return true
  return p.secondWindow.value.start.getTime() - p.firstWindow.value.end.getTime() <= PAIR_MAX_INTERVAL_MS
}

/**
 * The first instant at or after `t` the site may start; Infinity for a site
 * without windows. A failover pair also needs its second window within the
 * PAIR-1 interval of the first, unless none of its windows ever allows it
 * (then the plan warns and the first window is taken).
 */
export const nextAdmissible = (site: Site, t: number): number => {
  if (site.second === undefined)
    return Option.match(SiteWindow.firstStart(site.windows, t, site.first), {
      onNone: () => Number.POSITIVE_INFINITY,
      onSome: (d) => d.getTime()
    })
  const starts = candidateStarts(site, t)
  return starts.find((s) => pairInterval(site, s)) ?? starts[0] ?? Number.POSITIVE_INFINITY
}

/** Whether the site may start at `t` (the rule of {@link nextAdmissible}). */
export const admissible = (site: Site, t: number): boolean => {
  if (!SiteWindow.canStartAt(site.windows, t, site.first)) return false
  return site.second === undefined || pairInterval(site, t) || nextAdmissible(site, t) === t
}

/** Where a site started at `start` runs: its window(s) and its expected end. */
export interface Placement {
  readonly start: number
  readonly end: number
  readonly firstWindow: Option.Option<SiteWindow.Opening>
  readonly secondWindow: Option.Option<SiteWindow.Opening>
}

/**
 * A single appliance ends `first` seconds after it starts. A pair works
 * `first` seconds in its first window, then waits for the next opening after
 * that window (long enough for `second`, PAIR-1) and works `second` seconds.
 */
export const place = (site: Site, start: number): Placement => {
  const firstWindow = SiteWindow.openAt(site.windows, start)
  const firstDone = start + site.first * 1000
  if (site.second === undefined) return { start, end: firstDone, firstWindow, secondWindow: Option.none() }
  const after = Math.max(firstDone, Option.match(firstWindow, { onNone: () => start, onSome: (o) => o.end.getTime() }))
  const secondStart = Option.match(SiteWindow.firstStart(site.windows, after, site.second), {
    onNone: () => after,
    onSome: (d) => d.getTime()
  })
  return {
    start,
    end: secondStart + site.second * 1000,
    firstWindow,
    secondWindow: SiteWindow.openAt(site.windows, secondStart)
  }
}

/** What the simulation starts from. */
export interface Input {
  /** In plan order (wave by wave, file order within a wave). */
  readonly sites: ReadonlyArray<Site>
  readonly cap: number
  readonly now: number
  /** Sites in flight and when they started. */
  readonly inFlight: ReadonlyMap<string, number>
  /** Sites already finished (succeeded, failed, skipped). */
  readonly done: ReadonlySet<string>
  /** Give up on sites that cannot start within this many milliseconds. */
  readonly horizonMs: number
}

/** Where each site runs, when the last one ends, and which could not be placed. */
export interface Output {
  readonly placements: ReadonlyMap<string, Placement>
  /** End of the last site; undefined when some could not be placed. */
  readonly end: number | undefined
  readonly unplaced: ReadonlyArray<string>
}

/**
 * Discrete-event simulation of admission: at every event (a site ends, a
 * window opens) the sites of the current wave are admitted in plan order
 * while a slot of the cap is free and their window admits them.
 */
export const simulate = (input: Input): Output => {
  const placements = new Map<string, Placement>()
  const running = new Map<string, number>()
  const finished = new Set(input.done)
  for (const [id, since] of input.inFlight) {
    const site = input.sites.find((s) => s.id === id)
    if (site === undefined) continue
    const p = place(site, since)
    const end = Math.max(p.end, input.now)
    placements.set(id, { ...p, end })
    running.set(id, end)
  }
  const pending = input.sites.filter((s) => !finished.has(s.id) && !running.has(s.id))
  const waveOf = new Map(input.sites.map((s) => [s.id, s.wave]))
  const nextAt = new Map<string, number>()
  const limit = input.now + input.horizonMs
  let t = input.now
  let lastEnd = input.now
  for (;;) {
    for (const [id, end] of running)
      if (end <= t) {
        running.delete(id)
        finished.add(id)
        lastEnd = Math.max(lastEnd, end)
      }
    let wave = Number.POSITIVE_INFINITY
    for (const id of running.keys()) wave = Math.min(wave, waveOf.get(id) ?? 0)
    for (const s of pending) wave = Math.min(wave, s.wave)
    if (wave === Number.POSITIVE_INFINITY) break
    let slots = input.cap - running.size
    let next = Number.POSITIVE_INFINITY
    for (let i = 0; i < pending.length && slots > 0; i++) {
      const site = pending[i]!
      if (site.wave !== wave) continue
      let at = nextAt.get(site.id)
      if (at === undefined || at < t) {
        at = nextAdmissible(site, t)
        nextAt.set(site.id, at)
      }
      if (at === t) {
        const p = place(site, t)
        placements.set(site.id, p)
        running.set(site.id, p.end)
        pending.splice(i, 1)
        i--
        slots--
      } else next = Math.min(next, at)
    }
    for (const end of running.values()) next = Math.min(next, end)
    // a site with no work ends when it starts: complete it without moving the clock
    if (next <= t) continue
    if (next === Number.POSITIVE_INFINITY || next > limit) break
    t = next
  }
  const unplaced = pending.map((s) => s.id)
  return { placements, end: unplaced.length === 0 ? lastEnd : undefined, unplaced }
}
