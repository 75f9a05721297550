import { describe, expect, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Admission from "../src/Admission.js"
import type * as Rollout from "../src/Rollout.js"
import * as SiteWindow from "../src/SiteWindow.js"
import { rolloutOf, sitePlan, zones } from "./fixtures.js"

const win = (timeZone: string, days: ReadonlyArray<SiteWindow.Day>, start: string, durationMinutes: number) =>
  new SiteWindow.WeeklyWindow({ timeZone, days, start, durationMinutes })
/** Open all week (from monday 00:00 UTC to the next). */
const ALWAYS = [win("UTC", ["mon"], "00:00", 7 * 24 * 60)]
const WED = new Date("2026-06-03T12:00:00Z")
const HOUR = 3600
const controls = (c: { paused?: boolean; aborted?: boolean; approvedWaves?: ReadonlyArray<number> } = {}) =>
  new Admission.Controls(c)
const running = (since = WED) => new Admission.Running({ since })
const failed = () => new Admission.Failed({ at: WED, reason: "install failed" })
const succeeded = () => new Admission.Succeeded({ at: WED })
const reasons = (d: Admission.Decision) => Object.fromEntries(d.waiting.map((w) => [w.site, w.reason]))

const sites = (n: number, wave = 0, windows = ALWAYS, firstSeconds = HOUR) =>
  Array.from({ length: n }, (_, i) => sitePlan({ id: `w${wave}s${i + 1}`, wave, windows, firstSeconds }))

describe("Admission.decide", () => {
  it("admits in plan order up to the concurrency cap; the others wait with CapReached", () => {
    const plan = rolloutOf({ sites: sites(5), waves: 1, concurrency: 2, allowedFailures: 0 })
    const d = Admission.decide(plan, {}, controls(), WED)
    expect(d.admit).toEqual(["w0s1", "w0s2"])
    expect(d.status).toBe("running")
    expect(reasons(d)["w0s3"]).toEqual(new Admission.CapReached({ cap: 2, inFlight: 2 }))
    const later = Admission.decide(plan, { w0s1: running(), w0s2: succeeded() }, controls(), WED)
    expect(later.admit).toEqual(["w0s3"])
    expect(reasons(later)["w0s4"]).toEqual(new Admission.CapReached({ cap: 2, inFlight: 2 }))
    expect(Admission.recordAdmitted({}, later.admit, WED)).toEqual({ w0s3: new Admission.Admitted({ at: WED }) })
  })

  it("outside its window a site waits for the next start; a window closing too soon counts as closed", () => {
    const sat = [win("Europe/Paris", ["sat"], "02:00", 240)] // sat 02:00-06:00 CEST = 00:00-04:00Z in June
    const plan = rolloutOf({ sites: sites(1, 0, sat), waves: 1, concurrency: 1, allowedFailures: 0 })
    const d = Admission.decide(plan, {}, controls(), WED)
    expect(d.admit).toEqual([])
    expect(reasons(d)["w0s1"]).toEqual(new Admission.OutsideWindow({ nextStart: new Date("2026-06-06T00:00:00Z") }))
    expect(d.nextWindowStart).toEqual(new Date("2026-06-06T00:00:00Z"))
    expect(Admission.decide(plan, {}, controls(), new Date("2026-06-06T00:00:00Z")).admit).toEqual(["w0s1"])
    // 03:30Z: half an hour left for an hour of work
    const late = Admission.decide(plan, {}, controls(), new Date("2026-06-06T03:30:00Z"))
    expect(reasons(late)["w0s1"]).toEqual(
      new Admission.OutsideWindow({
        nextStart: new Date("2026-06-13T00:00:00Z"),
        closesAt: new Date("2026-06-06T04:00:00Z")
      })
    )
    expect(Admission.describe(reasons(late)["w0s1"]!)).toMatch(
      /closes at 2026-06-06T04:00:00.000Z, too soon for its work/
    )
  })

  it("waves are sequential: a later wave waits until every site of the current one has finished", () => {
    const plan = rolloutOf({ sites: [...sites(2, 0), ...sites(2, 1)], waves: 2, concurrency: 4, allowedFailures: 1 })
    const d = Admission.decide(plan, { w0s1: succeeded(), w0s2: running() }, controls(), WED)
    expect(d.admit).toEqual([])
    expect(d.currentWave).toBe(0)
    expect(reasons(d)["w1s1"]).toEqual(new Admission.PreviousWaveNotFinished({ wave: 0, unfinished: 1 }))
    // a failure within the budget and a skip both finish a site
    const next = Admission.decide(
      plan,
      { w0s1: failed(), w0s2: new Admission.Skipped({ reason: "excluded" }) },
      controls(),
      WED
    )
    expect(next.admit).toEqual(["w1s1", "w1s2"])
    expect(next.currentWave).toBe(1)
  })

  it("a wave that needs an approval waits for it; the rollout is then waiting-approval", () => {
    const plan = rolloutOf({
      sites: [...sites(1, 0), ...sites(2, 1)],
      waves: 2,
      concurrency: 4,
      allowedFailures: 0,
      approvals: [1]
    })
    const ledger = { w0s1: succeeded() }
    const d = Admission.decide(plan, ledger, controls(), WED)
    expect(d.status).toBe("waiting-approval")
    expect(d.admit).toEqual([])
    expect(reasons(d)["w1s2"]).toEqual(new Admission.WaveNotApproved({ wave: 1 }))
    const approved = Admission.decide(plan, ledger, controls({ approvedWaves: [1] }), WED)
    expect(approved.status).toBe("running")
    expect(approved.admit).toEqual(["w1s1", "w1s2"])
  })

  it("budget 1 tolerates one failed site and halts admission at the second; sites in flight go on", () => {
    const plan = rolloutOf({ sites: sites(5), waves: 1, concurrency: 2, allowedFailures: 1 })
    const one = Admission.decide(plan, { w0s1: failed(), w0s2: running() }, controls(), WED)
    expect(one.admit).toEqual(["w0s3"])
    expect(one.status).toBe("running")
    const two = Admission.decide(plan, { w0s1: failed(), w0s2: failed(), w0s3: running() }, controls(), WED)
    expect(two.admit).toEqual([])
    expect(two.status).toBe("halted-budget")
    expect(reasons(two)["w0s4"]).toEqual(new Admission.BudgetExceeded({ failed: 2, allowed: 1 }))
    expect(Admission.describe(reasons(two)["w0s4"]!)).toBe(
      "admission halted: 2 site(s) failed, the failure budget tolerates 1"
    )
    // budget 0: the first failure halts
    const strict = rolloutOf({ sites: sites(3), waves: 1, concurrency: 1, allowedFailures: 0 })
    expect(Admission.decide(strict, { w0s1: failed() }, controls(), WED).status).toBe("halted-budget")
  })

  it("paused and aborted rollouts admit nothing", () => {
    const plan = rolloutOf({ sites: sites(2), waves: 1, concurrency: 2, allowedFailures: 0 })
    const paused = Admission.decide(plan, {}, controls({ paused: true }), WED)
    expect([paused.status, paused.admit, reasons(paused)["w0s1"]]).toEqual(["paused", [], new Admission.Paused()])
    const aborted = Admission.decide(plan, { w0s1: running() }, controls({ aborted: true, paused: true }), WED)
    expect([aborted.status, aborted.admit, reasons(aborted)["w0s2"]]).toEqual(["aborted", [], new Admission.Aborted()])
  })

  it("a finished rollout: succeeded when no site failed, failed when some did within the budget", () => {
    const plan = rolloutOf({ sites: sites(3), waves: 1, concurrency: 2, allowedFailures: 1 })
    const skip = new Admission.Skipped({ reason: "already at target" })
    expect(Admission.decide(plan, { w0s1: succeeded(), w0s2: succeeded(), w0s3: skip }, controls(), WED).status).toBe(
      "succeeded"
    )
    expect(Admission.decide(plan, { w0s1: succeeded(), w0s2: failed(), w0s3: skip }, controls(), WED).status).toBe(
      "failed"
    )
  })
})

describe("Admission.summarize", () => {
  it("counts per wave and status, and an ETA from the estimates", () => {
    const plan = rolloutOf({
      sites: [...sites(2, 0), ...sites(1, 1, ALWAYS, 2 * HOUR)],
      waves: 2,
      concurrency: 1,
      allowedFailures: 1
    })
    // w0s1 has run for 30 of its 60 minutes; then w0s2 (1 h), then wave 2 (2 h)
    const ledger = { w0s1: running(new Date(WED.getTime() - 30 * 60_000)) }
    const s = Admission.summarize(plan, ledger, controls(), WED)
    expect(s.status).toBe("running")
    expect(s.currentWave).toBe(0)
    expect(s.counts).toMatchObject({ notStarted: 2, running: 1, succeeded: 0 })
    expect(s.waves.map((w) => [w.counts.running, w.counts.notStarted])).toEqual([
      [1, 1],
      [0, 1]
    ])
    expect(s.eta?.toISOString()).toBe(new Date(WED.getTime() + 3.5 * 3600_000).toISOString())
    expect(Admission.summarize(plan, ledger, controls({ paused: true }), WED).eta).toBeUndefined()
    // an overrunning site is expected to end any moment, not in the past
    const late = Admission.summarize(plan, { w0s1: running(new Date(WED.getTime() - 5 * 3600_000)) }, controls(), WED)
    expect(late.eta?.toISOString()).toBe(new Date(WED.getTime() + 3 * 3600_000).toISOString())
  })

  it("the ledger, decisions and summaries are Schema values (the engine persists them)", () => {
    const ledger: Admission.Ledger = { a: running(), b: failed(), c: new Admission.Skipped({ reason: "x" }) }
    const encoded = Schema.encodeSync(Admission.Ledger)(ledger)
    expect(encoded["a"]).toEqual({ _tag: "Running", since: WED.toISOString() })
    expect(Schema.decodeUnknownSync(Admission.Ledger)(JSON.parse(JSON.stringify(encoded)))).toEqual(ledger)
    const plan = rolloutOf({ sites: sites(2), waves: 1, concurrency: 1, allowedFailures: 0 })
    const d = Admission.decide(plan, {}, controls(), WED)
    expect(Schema.decodeUnknownSync(Admission.Decision)(Schema.encodeSync(Admission.Decision)(d))).toEqual(d)
    const s = Admission.summarize(plan, {}, controls(), WED)
    expect(Schema.decodeUnknownSync(Admission.Summary)(Schema.encodeSync(Admission.Summary)(s))).toEqual(s)
  })
})

// ---------------------------------------------------------------------------
// properties: random rollouts driven through random events
// ---------------------------------------------------------------------------

const windowArb = FastCheck.record({
  timeZone: FastCheck.constantFrom(...zones),
  days: FastCheck.uniqueArray(FastCheck.constantFrom(...SiteWindow.days), { minLength: 1, maxLength: 4 }),
  start: FastCheck.tuple(
    FastCheck.oneof(FastCheck.integer({ min: 0, max: 3 }), FastCheck.integer({ min: 0, max: 23 })),
    FastCheck.constantFrom(0, 15, 30, 45)
  ).map(([h, m]) => `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}`),
  durationMinutes: FastCheck.integer({ min: 60, max: 480 })
}).map((w) => new SiteWindow.WeeklyWindow(w))

const scenario = FastCheck.record({
  sites: FastCheck.array(
    FastCheck.record({
      wave: FastCheck.integer({ min: 0, max: 2 }),
      window: windowArb,
      firstMinutes: FastCheck.integer({ min: 10, max: 540 }),
      pairMinutes: FastCheck.option(FastCheck.integer({ min: 10, max: 300 }), { nil: undefined })
    }),
    { minLength: 1, maxLength: 8 }
  ),
  concurrency: FastCheck.integer({ min: 1, max: 3 }),
  allowedFailures: FastCheck.integer({ min: 0, max: 2 }),
  approvals: FastCheck.subarray([0, 1, 2]),
  // around the daylight-saving changes of 2026 and 2027 half of the time
  start: FastCheck.oneof(
    FastCheck.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2027, 11, 1) }),
    FastCheck.constantFrom(
      Date.UTC(2026, 2, 27),
      Date.UTC(2026, 9, 23),
      Date.UTC(2026, 2, 6),
      Date.UTC(2026, 9, 30),
      Date.UTC(2026, 3, 3),
      Date.UTC(2026, 9, 2),
      Date.UTC(2027, 2, 26),
      Date.UTC(2027, 9, 29)
    )
  ),
  events: FastCheck.array(
    FastCheck.record({
      // jump to the next window start, or let minutes pass
      jump: FastCheck.boolean(),
      minutes: FastCheck.integer({ min: 1, max: 3 * 24 * 60 }),
      // per site in flight: 0 keeps running, 1 succeeds, 2 fails
      outcomes: FastCheck.array(FastCheck.integer({ min: 0, max: 2 }), { minLength: 8, maxLength: 8 }),
      approve: FastCheck.boolean(),
      pause: FastCheck.integer({ min: 0, max: 9 })
    }),
    { minLength: 10, maxLength: 35 }
  )
})

type Scenario = typeof scenario extends FastCheck.Arbitrary<infer A> ? A : never

interface Step {
  readonly at: Date
  readonly ledger: Admission.Ledger
  readonly controls: Admission.Controls
  readonly decision: Admission.Decision
}

/** Drive a random rollout: decide, admit, finish sites at random, let time pass. */
const drive = (sc: Scenario): { readonly plan: Rollout.RolloutPlan; readonly trace: ReadonlyArray<Step> } => {
  const plan = rolloutOf({
    sites: sc.sites.map((s, i) =>
      sitePlan({
        id: `s${i}`,
        wave: s.wave,
        windows: [s.window],
        firstSeconds: s.firstMinutes * 60,
        secondSeconds: s.pairMinutes === undefined ? undefined : s.pairMinutes * 60
      })
    ),
    waves: 3,
    concurrency: sc.concurrency,
    allowedFailures: sc.allowedFailures,
    approvals: sc.approvals
  })
  let ledger: Admission.Ledger = {}
  let approved: Array<number> = []
  let paused = false
  let t = sc.start
  const trace: Array<Step> = []
  for (const ev of sc.events) {
    const c = controls({ paused, approvedWaves: approved })
    const decision = Admission.decide(plan, ledger, c, new Date(t))
    trace.push({ at: new Date(t), ledger, controls: c, decision })
    // the engine records the admissions, then things happen
    ledger = Admission.recordAdmitted(ledger, decision.admit, new Date(t))
    const next: Record<string, Admission.SiteState> = { ...ledger }
    let k = 0
    for (const [id, st] of Object.entries(ledger)) {
      if (st._tag !== "Admitted" && st._tag !== "Running") continue
      const o = ev.outcomes[k++ % ev.outcomes.length]!
      next[id] =
        o === 1
          ? new Admission.Succeeded({ at: new Date(t) })
          : o === 2
            ? new Admission.Failed({ at: new Date(t), reason: "random" })
            : st._tag === "Admitted"
              ? new Admission.Running({ since: st.at })
              : st
    }
    ledger = next
    if (ev.approve && decision.currentWave !== undefined) approved = [...approved, decision.currentWave]
    if (ev.pause === 0) paused = !paused
    const jumpTo = decision.nextWindowStart
    t = ev.jump && jumpTo !== undefined && jumpTo.getTime() > t ? jumpTo.getTime() : t + ev.minutes * 60_000
  }
  return { plan, trace }
}

const flying = (ledger: Admission.Ledger) =>
  Object.values(ledger).filter((s) => s._tag === "Admitted" || s._tag === "Running").length
const failures = (ledger: Admission.Ledger) => Object.values(ledger).filter((s) => s._tag === "Failed").length
const finished = (ledger: Admission.Ledger, id: string) => {
  const s = ledger[id]
  return s !== undefined && (s._tag === "Succeeded" || s._tag === "Failed" || s._tag === "Skipped")
}
const props = { fastCheck: { numRuns: 40 } }

describe("Admission properties (random rollouts, random instants, DST included)", () => {
  it.prop(
    "the concurrency cap is never exceeded",
    [scenario],
    ([sc]) => {
      const { plan, trace } = drive(sc)
      for (const s of trace) expect(flying(s.ledger) + s.decision.admit.length).toBeLessThanOrEqual(plan.concurrency)
    },
    props
  )

  it.prop(
    "the failure budget halts admission exactly when the failures exceed it, never before",
    [scenario],
    ([sc]) => {
      const { plan, trace } = drive(sc)
      for (const s of trace) {
        const over = failures(s.ledger) > plan.allowedFailures
        const halted = s.decision.waiting.some((w) => w.reason._tag === "BudgetExceeded")
        if (over) expect(s.decision.admit).toEqual([])
        expect(halted).toBe(over && s.decision.waiting.length > 0)
        expect(s.decision.status === "halted-budget").toBe(over && s.decision.currentWave !== undefined)
      }
    },
    props
  )

  it.prop(
    "no site is admitted outside its window, nor with too little of it left",
    [scenario],
    ([sc]) => {
      const { plan, trace } = drive(sc)
      for (const s of trace)
        for (const id of s.decision.admit) {
          const site = plan.site(id)!
          expect(Option.isSome(SiteWindow.openAt(site.windows, s.at))).toBe(true)
          expect(SiteWindow.canStartAt(site.windows, s.at, site.estimate.firstWindowSeconds)).toBe(true)
        }
    },
    props
  )

  it.prop(
    "waves never overlap: a site is admitted only when every earlier wave has finished and its own is approved",
    [scenario],
    ([sc]) => {
      const { plan, trace } = drive(sc)
      for (const s of trace)
        for (const id of s.decision.admit) {
          const wave = plan.site(id)!.wave
          for (const other of plan.sites)
            if (other.wave < wave) expect(finished(s.ledger, other.id), `${other.id} before ${id}`).toBe(true)
          if (plan.waves[wave]!.approval) expect(s.controls.approvedWaves).toContain(wave)
          expect(s.controls.paused).toBe(false)
        }
    },
    props
  )
})
