import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SiteWindow from "../src/SiteWindow.js"
import { localDay, oracleOpenings, oracleStart, zones } from "./fixtures.js"

const at = (iso: string) => new Date(iso).getTime()
const iso = (d: Date | number) => new Date(d).toISOString()
const local = (year: number, month: number, day: number, hour: number, minute: number) => ({
  year,
  month,
  day,
  hour,
  minute
})
const win = (timeZone: string, days: ReadonlyArray<SiteWindow.Day>, start: string, durationMinutes: number) =>
  new SiteWindow.WeeklyWindow({ timeZone, days, start, durationMinutes })

describe("SiteWindow: wall clock to instant", () => {
  it("spring forward: a start inside the skipped hour opens at the first valid instant after it (2026 and 2027)", () => {
    // Paris: 2026-03-29 02:00 CET -> 03:00 CEST (01:00Z)
    expect(iso(SiteWindow.fromLocal("Europe/Paris", local(2026, 3, 29, 2, 30)))).toBe("2026-03-29T01:00:00.000Z")
    expect(iso(SiteWindow.fromLocal("Europe/Paris", local(2026, 3, 29, 2, 0)))).toBe("2026-03-29T01:00:00.000Z")
    expect(iso(SiteWindow.fromLocal("Europe/Paris", local(2027, 3, 28, 2, 45)))).toBe("2027-03-28T01:00:00.000Z")
    // New York: 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z)
    expect(iso(SiteWindow.fromLocal("America/New_York", local(2026, 3, 8, 2, 30)))).toBe("2026-03-08T07:00:00.000Z")
    expect(iso(SiteWindow.fromLocal("America/New_York", local(2027, 3, 14, 2, 15)))).toBe("2027-03-14T07:00:00.000Z")
    // Sydney (southern hemisphere): 2026-10-04 02:00 AEST -> 03:00 AEDT (16:00Z the day before)
    expect(iso(SiteWindow.fromLocal("Australia/Sydney", local(2026, 10, 4, 2, 30)))).toBe("2026-10-03T16:00:00.000Z")
    expect(iso(SiteWindow.fromLocal("Australia/Sydney", local(2027, 10, 3, 2, 0)))).toBe("2027-10-02T16:00:00.000Z")
    // the hour after the gap is ordinary
    expect(iso(SiteWindow.fromLocal("Europe/Paris", local(2026, 3, 29, 3, 30)))).toBe("2026-03-29T01:30:00.000Z")
  })

  it("fall back: an ambiguous local time means its first occurrence (2026 and 2027)", () => {
    // Paris: 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 happens at 00:30Z and 01:30Z
    expect(iso(SiteWindow.fromLocal("Europe/Paris", local(2026, 10, 25, 2, 30)))).toBe("2026-10-25T00:30:00.000Z")
    expect(iso(SiteWindow.fromLocal("Europe/Paris", local(2027, 10, 31, 2, 0)))).toBe("2027-10-31T00:00:00.000Z")
    // New York: 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 happens at 05:30Z and 06:30Z
    expect(iso(SiteWindow.fromLocal("America/New_York", local(2026, 11, 1, 1, 30)))).toBe("2026-11-01T05:30:00.000Z")
    expect(iso(SiteWindow.fromLocal("America/New_York", local(2027, 11, 7, 1, 0)))).toBe("2027-11-07T05:00:00.000Z")
    // Sydney: 2026-04-05 03:00 AEDT -> 02:00 AEST: 02:30 happens at 15:30Z and 16:30Z the day before
    expect(iso(SiteWindow.fromLocal("Australia/Sydney", local(2026, 4, 5, 2, 30)))).toBe("2026-04-04T15:30:00.000Z")
    expect(iso(SiteWindow.fromLocal("Australia/Sydney", local(2027, 4, 4, 2, 0)))).toBe("2027-04-03T15:00:00.000Z")
  })

  it("Asia/Kolkata has no change: +05:30 all year", () => {
    expect(iso(SiteWindow.fromLocal("Asia/Kolkata", local(2026, 3, 29, 2, 30)))).toBe("2026-03-28T21:00:00.000Z")
    expect(iso(SiteWindow.fromLocal("Asia/Kolkata", local(2026, 10, 25, 2, 30)))).toBe("2026-10-24T21:00:00.000Z")
    expect(SiteWindow.offsetMinutes("Asia/Kolkata", at("2026-07-01T00:00:00Z"))).toBe(330)
    expect(SiteWindow.offsetMinutes("Europe/Paris", at("2026-07-01T00:00:00Z"))).toBe(120)
    expect(SiteWindow.offsetMinutes("America/New_York", at("2026-01-01T00:00:00Z"))).toBe(-300)
    expect(SiteWindow.formatLocal("Asia/Kolkata", at("2026-03-28T21:00:00Z"))).toBe("sun 2026-03-29 02:30 +05:30")
  })
})

describe("SiteWindow: openings", () => {
  it("durations are real elapsed minutes: a window spanning a change closes 240 minutes after it opened", () => {
    // fall back: Paris sun 01:00 + 240 min on 2026-10-25 closes at 04:00 CET (5 hours of wall clock)
    const fall = SiteWindow.openings(
      [win("Europe/Paris", ["sun"], "01:00", 240)],
      at("2026-10-24T12:00:00Z"),
      at("2026-10-25T12:00:00Z")
    )
    expect(fall.map((o) => [iso(o.start), iso(o.end)])).toEqual([
      ["2026-10-24T23:00:00.000Z", "2026-10-25T03:00:00.000Z"]
    ])
    expect(SiteWindow.formatLocal("Europe/Paris", fall[0]!.end)).toBe("sun 2026-10-25 04:00 +01:00")
    // spring forward: Paris sun 01:00 + 240 min on 2026-03-29 closes at 06:00 CEST (3 hours of wall clock)
    const spring = SiteWindow.openings(
      [win("Europe/Paris", ["sun"], "01:00", 240)],
      at("2026-03-28T12:00:00Z"),
      at("2026-03-29T12:00:00Z")
    )
    expect(spring.map((o) => [iso(o.start), iso(o.end)])).toEqual([
      ["2026-03-29T00:00:00.000Z", "2026-03-29T04:00:00.000Z"]
    ])
    expect(SiteWindow.formatLocal("Europe/Paris", spring[0]!.end)).toBe("sun 2026-03-29 06:00 +02:00")
    expect(spring[0]!.seconds).toBe(240 * 60)
    // New York fall back, 01:30 + 60 min: closes at 01:30 EST (the repeated hour)
    const ny = SiteWindow.openings(
      [win("America/New_York", ["sun"], "01:30", 60)],
      at("2026-10-31T12:00:00Z"),
      at("2026-11-01T12:00:00Z")
    )
    expect(ny.map((o) => [iso(o.start), iso(o.end)])).toEqual([
      ["2026-11-01T05:30:00.000Z", "2026-11-01T06:30:00.000Z"]
    ])
  })

  it("a weekly window skipped-hour start opens at the change; the week after it opens at its local time again", () => {
    const w = win("America/New_York", ["sun"], "02:30", 120)
    const os = SiteWindow.openings([w], at("2026-03-01T00:00:00Z"), at("2026-03-16T00:00:00Z"))
    expect(os.map((o) => SiteWindow.formatLocal(w.timeZone, o.start))).toEqual([
      "sun 2026-03-01 02:30 -05:00",
      "sun 2026-03-08 03:00 -04:00",
      "sun 2026-03-15 02:30 -04:00"
    ])
    expect(os.map((o) => o.scheduled)).toEqual(["sun 02:30", "sun 02:30", "sun 02:30"])
  })

  it("openAt, nextOpening and currentOrNext around one opening", () => {
    const w = [win("Europe/Paris", ["sat", "sun"], "02:00", 240)]
    // sat 2026-06-06 02:00 CEST = 00:00Z, until 04:00Z
    const start = at("2026-06-06T00:00:00Z")
    expect(Option.map(SiteWindow.openAt(w, start), (o) => iso(o.start))).toEqual(
      Option.some("2026-06-06T00:00:00.000Z")
    )
    expect(Option.isSome(SiteWindow.openAt(w, start + 3_599_999 * 4))).toBe(true)
    expect(Option.isNone(SiteWindow.openAt(w, at("2026-06-06T04:00:00Z")))).toBe(true) // end excluded
    expect(Option.isNone(SiteWindow.openAt(w, start - 1))).toBe(true)
    // at the start: the opening itself; inside: the next one (sunday)
    expect(Option.map(SiteWindow.nextOpening(w, start), (o) => iso(o.start))).toEqual(
      Option.some("2026-06-06T00:00:00.000Z")
    )
    expect(Option.map(SiteWindow.nextOpening(w, start + 1), (o) => iso(o.start))).toEqual(
      Option.some("2026-06-07T00:00:00.000Z")
    )
    expect(Option.map(SiteWindow.currentOrNext(w, start + 1), (o) => iso(o.start))).toEqual(
      Option.some("2026-06-06T00:00:00.000Z")
    )
    // monday: next saturday
    expect(Option.map(SiteWindow.nextOpening(w, at("2026-06-08T09:00:00Z")), (o) => iso(o.start))).toEqual(
      Option.some("2026-06-13T00:00:00.000Z")
    )
    expect(Option.isNone(SiteWindow.nextOpening([], start))).toBe(true)
  })

  it("canStartAt needs enough of the open window left; firstStart finds the next fit", () => {
    const w = [win("Asia/Kolkata", ["mon"], "22:00", 120)] // mon 22:00 IST = 16:30Z
    const open = at("2026-06-01T16:30:00Z")
    expect(SiteWindow.canStartAt(w, open, 7200)).toBe(true)
    expect(SiteWindow.canStartAt(w, open + 60_000, 7200)).toBe(false) // 119 min left for 120 min of work
    expect(SiteWindow.canStartAt(w, open + 60_000, 3600)).toBe(true)
    expect(SiteWindow.firstStart(w, open + 60_000, 7200).pipe(Option.map(iso))).toEqual(
      Option.some("2026-06-08T16:30:00.000Z")
    )
    // work longer than every window: any open instant (waiting cannot help; the plan warns)
    expect(SiteWindow.canStartAt(w, open + 60_000, 3 * 3600)).toBe(true)
    expect(SiteWindow.firstStart(w, open - 1, 3 * 3600).pipe(Option.map(iso))).toEqual(
      Option.some("2026-06-01T16:30:00.000Z")
    )
    // ... inside the longest window only
    const two = [...w, win("Asia/Kolkata", ["wed"], "01:00", 60)] // wed 01:00 IST = tue 19:30Z
    expect(SiteWindow.canStartAt(two, at("2026-06-02T19:45:00Z"), 3 * 3600)).toBe(false)
    expect(SiteWindow.firstStart(two, at("2026-06-02T00:00:00Z"), 3 * 3600).pipe(Option.map(iso))).toEqual(
      Option.some("2026-06-08T16:30:00.000Z")
    )
    expect(SiteWindow.firstStart(two, at("2026-06-02T00:00:00Z"), 1800).pipe(Option.map(iso))).toEqual(
      Option.some("2026-06-02T19:30:00.000Z")
    )
  })

  it("overlaps finds windows that share local time, including one longer than the gap to its own next day", () => {
    expect(SiteWindow.overlaps([win("UTC", ["sat"], "02:00", 240), win("UTC", ["sat"], "05:00", 60)])).toEqual([[0, 1]])
    expect(SiteWindow.overlaps([win("UTC", ["sat"], "02:00", 180), win("UTC", ["sat"], "05:00", 60)])).toEqual([])
    expect(SiteWindow.overlaps([win("UTC", ["sat", "sun"], "20:00", 25 * 60)])).toEqual([[0, 0]])
    // sunday night into monday morning wraps the week
    expect(SiteWindow.overlaps([win("UTC", ["sun"], "22:00", 240), win("UTC", ["mon"], "01:00", 60)])).toEqual([[0, 1]])
  })

  it("time zones are checked: unknown names get suggestions, wrong case is refused", () => {
    const decode = Schema.decodeUnknownEither(SiteWindow.TimeZone)
    expect(Either.isRight(decode("Europe/Paris"))).toBe(true)
    const typo = decode("Europe/Pari")
    expect(Either.isLeft(typo) && typo.left.message).toMatch(
      /unknown IANA time zone "Europe\/Pari" \(did you mean Europe\/Paris/
    )
    const cased = decode("europe/paris")
    expect(Either.isLeft(cased) && cased.left.message).toMatch(
      /write the time zone with its capitals, e.g. Europe\/Paris/
    )
    // links and the newer names ICU resolves to older ones are accepted
    expect(Either.isRight(decode("Asia/Kolkata"))).toBe(true)
    expect(Either.isRight(decode("US/Eastern"))).toBe(true)
    expect(Either.isLeft(decode("+05:30"))).toBe(true)
  })
})

// quarter hours keep every instant on the grid the oracle scans; night hours hit the changes
const wallTime = FastCheck.record({
  hour: FastCheck.oneof(FastCheck.integer({ min: 0, max: 4 }), FastCheck.integer({ min: 0, max: 23 })),
  minute: FastCheck.constantFrom(0, 15, 30, 45)
})
// dates of 2026-2027, half of them on a daylight-saving change of one of the zones
const changeDays = [
  [2026, 3, 29],
  [2026, 10, 25],
  [2027, 3, 28],
  [2027, 10, 31],
  [2026, 3, 8],
  [2026, 11, 1],
  [2027, 3, 14],
  [2027, 11, 7],
  [2026, 4, 5],
  [2026, 10, 4],
  [2027, 4, 4],
  [2027, 10, 3]
] as const
const date = FastCheck.oneof(
  FastCheck.constantFrom(...changeDays),
  FastCheck.tuple(
    FastCheck.integer({ min: 2026, max: 2027 }),
    FastCheck.integer({ min: 1, max: 12 }),
    FastCheck.integer({ min: 1, max: 28 })
  )
)
const zone = FastCheck.constantFrom(...zones)
const instant = FastCheck.oneof(
  FastCheck.integer({ min: at("2026-01-01T00:00:00Z"), max: at("2027-12-31T00:00:00Z") }),
  FastCheck.tuple(FastCheck.constantFrom(...changeDays), FastCheck.integer({ min: -36 * 60, max: 36 * 60 })).map(
    ([[y, m, d], minutes]) => Date.UTC(y, m - 1, d) + minutes * 60_000
  )
)
const weekly = FastCheck.record({
  timeZone: zone,
  days: FastCheck.uniqueArray(FastCheck.constantFrom(...SiteWindow.days), { minLength: 1, maxLength: 3 }),
  start: wallTime.map(({ hour, minute }) => `${String(hour).padStart(2, "0")}:${String(minute).padStart(2, "0")}`),
  durationMinutes: FastCheck.integer({ min: 15, max: 600 })
}).map((w) => new SiteWindow.WeeklyWindow(w))

describe("SiteWindow: properties against an independent oracle", () => {
  it.prop(
    "fromLocal is the first instant whose wall clock reaches the local time (DST changes included)",
    [zone, date, wallTime],
    ([tz, [year, month, day], { hour, minute }]) => {
      const l = local(year, month, day, hour, minute)
      expect(SiteWindow.fromLocal(tz, l).getTime()).toBe(oracleStart(tz, l))
    },
    { fastCheck: { numRuns: 150 } }
  )

  it.prop(
    "openAt and nextOpening agree with the oracle's openings at random instants",
    [weekly, instant],
    ([w, t]) => {
      const day = localDay(w.timeZone, t)
      const near = oracleOpenings(w, day - 12 * 86_400_000, day + 9 * 86_400_000)
      const open = near.filter((o) => o.start <= t && t < o.end)
      const got = SiteWindow.openAt([w], t)
      expect(Option.isSome(got)).toBe(open.length > 0)
      if (Option.isSome(got)) {
        expect(open.map((o) => o.start)).toContain(got.value.start.getTime())
        expect(got.value.end.getTime() - got.value.start.getTime()).toBe(w.durationMinutes * 60_000)
      }
      const next = SiteWindow.nextOpening([w], t)
      const expected = Math.min(...near.filter((o) => o.start >= t).map((o) => o.start))
      expect(Option.map(next, (o) => o.start.getTime())).toEqual(Option.some(expected))
      // and no window can start earlier than firstStart says
      const first = SiteWindow.firstStart([w], t, 60)
      expect(Option.isSome(first)).toBe(true)
      if (Option.isSome(first)) expect(SiteWindow.canStartAt([w], first.value, 60)).toBe(true)
    },
    { fastCheck: { numRuns: 120 } }
  )
})
