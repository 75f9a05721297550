/**
 * Recurring weekly maintenance windows in a site's IANA time zone
 * (`{ timeZone: Europe/Paris, days: [sat, sun], start: "02:00",
 * durationMinutes: 240 }`) and the instants they open and close.
 *
 * Rules across daylight-saving transitions:
 * - spring forward: a local start inside the skipped hour opens at the first
 *   valid instant after it (02:30 on the night Paris jumps from 02:00 to
 *   03:00 opens at 03:00 local);
 * - fall back: an ambiguous local start means its first occurrence (01:30 on
 *   the night New York repeats 01:00–02:00 opens at 01:30 EDT);
 * - durations are real elapsed minutes: a 240-minute window that spans the
 *   change closes 240 minutes after it opened, whatever the wall clock says.
 *
 * Computed with `Intl.DateTimeFormat` (the ICU time-zone data of Node): no
 * dependency, pure functions of their inputs (no clock is read).
 *
 * @since 0.3.0
 */
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

// ---------------------------------------------------------------------------
// time zones
// ---------------------------------------------------------------------------

const formatters = new Map<string, Intl.DateTimeFormat>()

const formatter = (timeZone: string): Intl.DateTimeFormat => {
  let f = formatters.get(timeZone)
  if (f === undefined) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric"
    })
    formatters.set(timeZone, f)
  }
  return f
}

/**
 * The name ICU resolves a time zone to (`Europe/Paris` for `europe/paris`,
 * `Asia/Calcutta` for `Asia/Kolkata`: ICU keeps the older names), or
 * undefined when it is not a time zone.
 *
 * @since 0.3.0
 * @category combinators
 */
export const canonicalTimeZone = (timeZone: string): string | undefined => {
  if (timeZone.trim() === "" || /^[+-]/.test(timeZone)) return undefined
  const known = canonical.get(timeZone)
  if (known !== undefined) return known === "" ? undefined : known
  let name = ""
  try {
    name = new Intl.DateTimeFormat("en-US", { timeZone }).resolvedOptions().timeZone
  } catch {
    // not a time zone
  }
  if (canonical.size > 10_000) canonical.clear()
  canonical.set(timeZone, name)
  return name === "" ? undefined : name
}

const canonical = new Map<string, string>()

const distance = (a: string, b: string): number => {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!
    prev[0] = i
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1))
      diag = up
    }
  }
  return prev[b.length]!
}

/**
 * Up to three known zone names close to a misspelt one (`Europe/Pari` →
 * `Europe/Paris`), for error messages.
 *
 * @since 0.3.0
 * @category combinators
 */
export const suggestTimeZones = (timeZone: string): ReadonlyArray<string> => {
  const wanted = timeZone.toLowerCase()
  const city = wanted.split("/").pop() ?? wanted
  return Intl.supportedValuesOf("timeZone")
    .map((z) => {
      const lower = z.toLowerCase()
      return { z, d: Math.min(distance(wanted, lower), distance(city, lower.split("/").pop() ?? lower) + 1) }
    })
    .filter((c) => c.d <= 3)
    .sort((a, b) => a.d - b.d || a.z.localeCompare(b.z))
    .slice(0, 3)
    .map((c) => c.z)
}

/**
 * An IANA time zone name (`Europe/Paris`, `Asia/Kolkata`, `UTC`) that the
 * ICU data of Node knows; a misspelt name is refused with suggestions, a
 * name in lower case with its spelling.
 *
 * @since 0.3.0
 * @category models
 */
export const TimeZone = Schema.String.pipe(
  Schema.filter(
    (tz) => {
      const canonical = canonicalTimeZone(tz)
      // ICU accepts any case and links (Asia/Kolkata, US/Eastern); IANA names start each part with a capital
      if (canonical !== undefined)
        return (
          tz.split("/").every((part) => /^[A-Z]/.test(part)) ||
          `write the time zone with its capitals, e.g. ${canonical}`
        )
      const near = suggestTimeZones(tz)
      return `unknown IANA time zone ${JSON.stringify(tz)}${near.length > 0 ? ` (did you mean ${near.join(", ")}?)` : ""}; use a name like Europe/Paris or America/New_York (\`timedatectl list-timezones\`)`
    },
    { identifier: "TimeZone" }
  )
)

/**
 * A wall-clock date and time in some time zone.
 *
 * @since 0.3.0
 * @category models
 */
export interface LocalDateTime {
  readonly year: number
  /** 1–12. */
  readonly month: number
  /** 1–31. */
  readonly day: number
  /** 0–23. */
  readonly hour: number
  readonly minute: number
  readonly second: number
  /** 0 = Sunday … 6 = Saturday. */
  readonly weekday: number
}

const localRe = /^(\d{1,2})\/(\d{1,2})\/(\d{4}), (\d{1,2}):(\d{2}):(\d{2})$/

/** The offset read from ICU, milliseconds (slow: formats the instant). */
const readOffset = (timeZone: string, t: number): number => {
  const f = formatter(timeZone)
  const whole = Math.floor(t / 1000) * 1000
  // `format` is several times faster than `formatToParts`; parts are the fallback
  const m = localRe.exec(f.format(whole))
  const [month, day, year, hour, minute, second] =
    m !== null
      ? [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number)
      : (["month", "day", "year", "hour", "minute", "second"] as const).map((type) =>
          Number(f.formatToParts(whole).find((p) => p.type === type)?.value ?? "0")
        )
  return Date.UTC(year!, month! - 1, day!, hour! % 24, minute!, second!) - whole
}

/**
 * Offsets by quarter hour of UTC: since 1972 every zone's offset is a whole
 * number of quarter hours and changes on a quarter hour of UTC (checked over
 * 2025-2028 for the 418 zones of Node's ICU: 1040 changes, none off the
 * grid), so one read per quarter hour is exact.
 */
const QUARTER_MS = 15 * 60_000
const offsets = new Map<string, number>()

const offsetMsAt = (timeZone: string, t: number): number => {
  const quarter = Math.floor(t / QUARTER_MS)
  const key = `${timeZone} ${quarter}`
  let o = offsets.get(key)
  if (o === undefined) {
    o = readOffset(timeZone, quarter * QUARTER_MS)
    if (offsets.size > 200_000) offsets.clear()
    offsets.set(key, o)
  }
  return o
}

/**
 * The wall-clock time of an instant in a time zone.
 *
 * @since 0.3.0
 * @category combinators
 */
export const toLocal = (timeZone: string, at: Date | number): LocalDateTime => {
  const t = typeof at === "number" ? at : at.getTime()
  const d = new Date(t + offsetMsAt(timeZone, t))
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    weekday: d.getUTCDay()
  }
}

/**
 * The offset of a time zone from UTC at an instant, minutes (Paris in
 * summer: 120; New York in winter: -300; Kolkata: 330).
 *
 * @since 0.3.0
 * @category combinators
 */
export const offsetMinutes = (timeZone: string, at: Date | number): number =>
  Math.round(offsetMsAt(timeZone, typeof at === "number" ? at : at.getTime()) / 60_000)

const offsetMs = offsetMsAt

/**
 * The instant a wall-clock time designates in a time zone. A time skipped by
 * a spring-forward change resolves to the first valid instant after the gap
 * (the change itself); a time repeated by a fall-back change resolves to its
 * first occurrence.
 *
 * @since 0.3.0
 * @category combinators
 */
export const fromLocal = (
  timeZone: string,
  local: {
    readonly year: number
    readonly month: number
    readonly day: number
    readonly hour: number
    readonly minute: number
  }
): Date => {
  const wall = Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute)
  const key = `${timeZone} ${wall}`
  const known = resolved.get(key)
  if (known !== undefined) return new Date(known)
  if (resolved.size > 100_000) resolved.clear()
  const t = resolveWall(timeZone, wall)
  resolved.set(key, t)
  return new Date(t)
}

const resolved = new Map<string, number>()

const resolveWall = (timeZone: string, wall: number): number => {
  const before = offsetMs(timeZone, wall - 86_400_000)
  const after = offsetMs(timeZone, wall + 86_400_000)
  const valid = [...new Set([before, after])].map((o) => wall - o).filter((t) => offsetMs(timeZone, t) === wall - t)
  if (valid.length > 0) return Math.min(...valid)
  // in the gap of a spring-forward change: the change happens in (wall - after, wall - before]
  let lo = wall - Math.max(before, after)
  let hi = wall - Math.min(before, after)
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000
    if (offsetMs(timeZone, mid) === Math.max(before, after)) hi = mid
    else lo = mid
  }
  return hi
}

// ---------------------------------------------------------------------------
// weekly windows
// ---------------------------------------------------------------------------

/**
 * A day of the week as written in files.
 *
 * @since 0.3.0
 * @category models
 */
export const Day = Schema.Literal("mon", "tue", "wed", "thu", "fri", "sat", "sun")

/**
 * @since 0.3.0
 * @category models
 */
export type Day = typeof Day.Type

/**
 * The days of the week in order, Monday first.
 *
 * @since 0.3.0
 * @category models
 */
export const days: ReadonlyArray<Day> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

const dayNumber: Record<Day, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 }

/**
 * A local time of day, `HH:MM` on 24 hours (`02:00`, `22:30`).
 *
 * @since 0.3.0
 * @category models
 */
export const LocalTime = Schema.String.pipe(
  Schema.pattern(/^([01]\d|2[0-3]):[0-5]\d$/, {
    message: (issue) => `expected a local time HH:MM on 24 hours like "02:00", got ${JSON.stringify(issue.actual)}`
  })
)

/** Minutes in a week: a weekly window lasts at most this long. */
const WEEK_MINUTES = 7 * 24 * 60

/**
 * A window that opens every week on the given days at a local time of its
 * time zone and stays open `durationMinutes` of real elapsed time.
 *
 * @since 0.3.0
 * @category models
 */
export class WeeklyWindow extends Schema.Class<WeeklyWindow>("WeeklyWindow")({
  timeZone: TimeZone,
  days: Schema.Array(Day).pipe(
    Schema.minItems(1, { message: () => "expected at least one day, e.g. [sat, sun]" }),
    Schema.filter((ds) => new Set(ds).size === ds.length || "a day is listed twice")
  ),
  start: LocalTime,
  durationMinutes: Schema.Number.pipe(
    Schema.int({ message: () => "expected whole minutes" }),
    Schema.between(1, WEEK_MINUTES, { message: () => `expected between 1 and ${WEEK_MINUTES} minutes (one week)` })
  ),
  label: Schema.optional(Schema.String)
}) {
  /**
   * `sat, sun 02:00 +240 min (Europe/Paris)`.
   *
   * @since 0.3.0
   */
  get description(): string {
    return `${this.days.join(", ")} ${this.start} +${this.durationMinutes} min (${this.timeZone})`
  }
}

/**
 * One opening of a window: the real instants it opens and closes.
 *
 * @since 0.3.0
 * @category models
 */
export class Opening extends Schema.Class<Opening>("Opening")({
  start: Schema.Date,
  end: Schema.Date,
  timeZone: Schema.String,
  /** The local day and time it was scheduled for, e.g. `sat 02:00`. */
  scheduled: Schema.String
}) {
  /**
   * Whether `at` lies inside the opening (start included, end excluded).
   *
   * @since 0.3.0
   */
  contains(at: Date | number): boolean {
    const t = typeof at === "number" ? at : at.getTime()
    return t >= this.start.getTime() && t < this.end.getTime()
  }

  /**
   * Length, seconds.
   *
   * @since 0.3.0
   */
  get seconds(): number {
    return (this.end.getTime() - this.start.getTime()) / 1000
  }
}

const startMinutes = (w: Pick<WeeklyWindow, "start">) => Number(w.start.slice(0, 2)) * 60 + Number(w.start.slice(3, 5))

const addDays = (year: number, month: number, day: number, n: number) => {
  const d = new Date(Date.UTC(year, month - 1, day + n))
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), weekday: d.getUTCDay() }
}

const dayName = (weekday: number): Day => days[(weekday + 6) % 7]!

/**
 * The openings of `windows` that overlap `[from, to)`, ordered by start.
 *
 * @since 0.3.0
 * @category combinators
 */
export const openings = (
  windows: ReadonlyArray<WeeklyWindow>,
  from: Date | number,
  to: Date | number
): ReadonlyArray<Opening> => {
  const f = typeof from === "number" ? from : from.getTime()
  const t = typeof to === "number" ? to : to.getTime()
  const out: Array<Opening> = []
  for (const w of windows) {
    const local = toLocal(w.timeZone, f)
    const back = Math.ceil(w.durationMinutes / 1440) + 1
    const ahead = Math.ceil((t - f) / 86_400_000) + 2
    const wanted = new Set(w.days.map((d) => dayNumber[d]))
    const minutes = startMinutes(w)
    for (let n = -back; n <= ahead; n++) {
      const date = addDays(local.year, local.month, local.day, n)
      if (!wanted.has(date.weekday)) continue
      const start = fromLocal(w.timeZone, { ...date, hour: Math.floor(minutes / 60), minute: minutes % 60 })
      const end = start.getTime() + w.durationMinutes * 60_000
      if (end > f && start.getTime() < t)
        out.push(
          new Opening(
            { start, end: new Date(end), timeZone: w.timeZone, scheduled: `${dayName(date.weekday)} ${w.start}` },
            true // built from checked values: skip validation (hot path)
          )
        )
    }
  }
  return out.sort((a, b) => a.start.getTime() - b.start.getTime() || b.end.getTime() - a.end.getTime())
}

const WEEK_MS = WEEK_MINUTES * 60_000

/**
 * The opening that contains `at` (the one that closes last when several
 * do), if any.
 *
 * @since 0.3.0
 * @category combinators
 */
export const openAt = (windows: ReadonlyArray<WeeklyWindow>, at: Date | number): Option.Option<Opening> => {
  const t = typeof at === "number" ? at : at.getTime()
  const open = openings(windows, t, t + 1).filter((o) => o.contains(t))
  return Option.fromNullable(open.sort((a, b) => b.end.getTime() - a.end.getTime())[0])
}

/**
 * The first opening that starts at or after `at` (a window already open at
 * `at` is not returned; see {@link currentOrNext}). None only for no windows.
 *
 * @since 0.3.0
 * @category combinators
 */
export const nextOpening = (windows: ReadonlyArray<WeeklyWindow>, at: Date | number): Option.Option<Opening> => {
  const t = typeof at === "number" ? at : at.getTime()
  return Option.fromNullable(openings(windows, t, t + WEEK_MS + 2 * 86_400_000).find((o) => o.start.getTime() >= t))
}

/**
 * The opening that contains `at`, or else the next one.
 *
 * @since 0.3.0
 * @category combinators
 */
export const currentOrNext = (windows: ReadonlyArray<WeeklyWindow>, at: Date | number): Option.Option<Opening> =>
  Option.orElse(openAt(windows, at), () => nextOpening(windows, at))

/**
 * The longest of the windows, seconds (0 for none).
 *
 * @since 0.3.0
 * @category combinators
 */
export const longestSeconds = (windows: ReadonlyArray<WeeklyWindow>): number =>
  windows.reduce((m, w) => Math.max(m, w.durationMinutes * 60), 0)

/**
 * Whether work of `seconds` may start at `at`: a window is open and enough
 * of it is left. When no window is long enough for the work at all (the
 * rollout plan warns about it), any instant inside one of the longest
 * windows is accepted, since waiting cannot help.
 *
 * @since 0.3.0
 * @category combinators
 */
export const canStartAt = (windows: ReadonlyArray<WeeklyWindow>, at: Date | number, seconds: number): boolean => {
  const t = typeof at === "number" ? at : at.getTime()
  const longest = longestSeconds(windows)
  if (longest < seconds) return Option.isSome(openAt(longestOf(windows), t))
  const open = openAt(windows, t)
  return Option.isSome(open) && open.value.end.getTime() - t >= seconds * 1000
}

const longestOf = (windows: ReadonlyArray<WeeklyWindow>) => {
  const longest = longestSeconds(windows)
  return windows.filter((w) => w.durationMinutes * 60 === longest)
}

/**
 * The first instant at or after `at` at which work of `seconds` may start
 * ({@link canStartAt}). None only for no windows.
 *
 * @since 0.3.0
 * @category combinators
 */
export const firstStart = (
  windows: ReadonlyArray<WeeklyWindow>,
  at: Date | number,
  seconds: number
): Option.Option<Date> => {
  const t = typeof at === "number" ? at : at.getTime()
  if (windows.length === 0) return Option.none()
  if (canStartAt(windows, t, seconds)) return Option.some(new Date(t))
  // the windows that can take the work (or the longest ones), each opening at least once a week
  const usable =
    longestSeconds(windows) >= seconds ? windows.filter((w) => w.durationMinutes * 60 >= seconds) : longestOf(windows)
  const next = openings(usable, t, t + WEEK_MS + 2 * 86_400_000).find((o) => o.start.getTime() >= t)
  return Option.fromNullable(next?.start)
}

/**
 * Two windows of one site overlap in local time (a weekly window may also
 * overlap its own next opening when it lasts longer than the gap between its
 * days). Returns the index pairs that overlap.
 *
 * @since 0.3.0
 * @category combinators
 */
export const overlaps = (
  windows: ReadonlyArray<Pick<WeeklyWindow, "days" | "start" | "durationMinutes">>
): ReadonlyArray<readonly [number, number]> => {
  const spans = windows.flatMap((w, i) =>
    w.days.map((d) => ({
      i,
      at: ((dayNumber[d] + 6) % 7) * 1440 + startMinutes(w),
      length: w.durationMinutes
    }))
  )
  const found = new Map<string, readonly [number, number]>()
  for (let x = 0; x < spans.length; x++)
    for (let y = x + 1; y < spans.length; y++) {
      const a = spans[x]!
      const b = spans[y]!
      const ab = (((b.at - a.at) % WEEK_MINUTES) + WEEK_MINUTES) % WEEK_MINUTES
      const ba = (((a.at - b.at) % WEEK_MINUTES) + WEEK_MINUTES) % WEEK_MINUTES
      if (ab < a.length || ba < b.length) {
        const key = `${Math.min(a.i, b.i)}/${Math.max(a.i, b.i)}`
        found.set(key, [Math.min(a.i, b.i), Math.max(a.i, b.i)])
      }
    }
  return [...found.values()]
}

// ---------------------------------------------------------------------------
// display
// ---------------------------------------------------------------------------

const pad = (n: number) => String(n).padStart(2, "0")

/**
 * `+02:00`, `-05:00`, `+05:30`.
 *
 * @since 0.3.0
 * @category combinators
 */
export const formatOffset = (minutes: number): string =>
  `${minutes < 0 ? "-" : "+"}${pad(Math.floor(Math.abs(minutes) / 60))}:${pad(Math.abs(minutes) % 60)}`

/**
 * An instant as local time with its offset: `sat 2026-03-28 02:00 +01:00`.
 *
 * @since 0.3.0
 * @category combinators
 */
export const formatLocal = (timeZone: string, at: Date | number): string => {
  const l = toLocal(timeZone, at)
  return `${dayName(l.weekday)} ${l.year}-${pad(l.month)}-${pad(l.day)} ${pad(l.hour)}:${pad(l.minute)} ${formatOffset(offsetMinutes(timeZone, at))}`
}
