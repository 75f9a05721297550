import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as FleetFile from "../src/FleetFile.js"
import * as Rollout from "../src/Rollout.js"
import * as SiteWindow from "../src/SiteWindow.js"
import { fleetOf, pairYaml, singleYaml } from "./fixtures.js"

const exampleFleet = new URL("../../../examples/fleet.yaml", import.meta.url).pathname
const NOW = new Date("2026-09-28T08:00:00Z") // a Monday

const oneSite = (entry: string, file = "a.yaml", site = singleYaml("a")) =>
  fleetOf(
    `
id: t
target: "24.3.2"
waves: [{ rest: true }]
sites:
  - file: ${file}
${entry}`,
    { [file]: site }
  )

describe("Rollout.plan on the example fleet", () => {
  const planned = Effect.map(FleetFile.decodeFleetFile(exampleFleet), (fleet) => Rollout.plan(fleet, { now: NOW }))

  it.effect("waves are sequential, every site starts inside a window with room for its work, the cap holds", () =>
    Effect.gen(function* () {
      const plan = yield* planned
      expect(plan.sites).toHaveLength(12)
      expect(plan.waves.map((w) => w.sites.length)).toEqual([1, 3, 8])
      // the canary opens the first Saturday 02:00 in Paris after now
      expect(plan.site("paris-hq")?.earliestStart?.toISOString()).toBe("2026-10-03T00:00:00.000Z")
      for (const s of plan.sites) {
        expect(s.earliestStart).toBeDefined()
        expect(s.estimatedEnd).toBeDefined()
        // inside a window with enough left (the admission rule)
        expect(SiteWindow.canStartAt(s.windows, s.earliestStart!, s.estimate.firstWindowSeconds)).toBe(true)
        // never before the previous wave has finished
        if (s.wave > 0)
          expect(s.earliestStart!.getTime()).toBeGreaterThanOrEqual(plan.waves[s.wave - 1]!.estimatedEnd!.getTime())
        // a pair's second window follows its first within 72 h (PAIR-1)
        if (s.kind !== "single") {
          const gap = s.secondWindow!.start.getTime() - s.firstWindow!.end.getTime()
          expect(gap).toBeGreaterThanOrEqual(0)
          expect(gap).toBeLessThanOrEqual(72 * 3_600_000)
        }
      }
      // at most 3 in flight at any start instant
      for (const s of plan.sites) {
        const t = s.earliestStart!.getTime()
        const flying = plan.sites.filter((o) => o.earliestStart!.getTime() <= t && t < o.estimatedEnd!.getTime())
        expect(flying.length).toBeLessThanOrEqual(3)
      }
      expect(plan.estimatedEnd?.getTime()).toBe(Math.max(...plan.sites.map((s) => s.estimatedEnd!.getTime())))
    })
  )

  it.effect("estimates say where they come from: the site's own plan with current versions, else install times", () =>
    Effect.gen(function* () {
      const plan = yield* planned
      const source = (id: string) => plan.site(id)?.estimate.source
      expect(source("paris-hq")).toBe("single-plan")
      expect(source("marseille")).toBe("async-pair-plan")
      expect(source("parramatta")).toBe("sync-pair-plan")
      expect(source("toulouse")).toBe("install-estimate")
      expect(source("newark")).toBe("install-estimate")
      expect(plan.site("marseille")?.estimate.secondWindowSeconds).toBeGreaterThan(0)
      expect(plan.site("paris-hq")?.estimate.explanation).toMatch(/^the site's single plan from 24\.1\.3 \(\d+ steps\)/)
      expect(plan.site("toulouse")?.estimate.explanation).toMatch(
        /install time only, no current version given \(PREP-3\)/
      )
    })
  )

  it.effect("PREP-3: the site storing 900 GB does not fit its windows and the plan says so", () =>
    Effect.gen(function* () {
      const plan = yield* planned
      const sydney = plan.site("sydney")!
      expect(sydney.fitsWindow).toBe(false)
      expect(sydney.estimate.firstWindowSeconds).toBe((255 + 250) * 60)
      expect(sydney.warnings).toContainEqual(
        expect.stringMatching(/^8h 25m of work in one window but its longest window lasts 6h/)
      )
      expect(plan.warnings).toContain("estimated work exceeds every window of: sydney")
      // started at a window opening anyway (waiting cannot help)
      expect(Option.map(SiteWindow.openAt(sydney.windows, sydney.earliestStart!), (o) => o.start.getTime())).toEqual(
        Option.some(sydney.earliestStart!.getTime())
      )
    })
  )

  it.effect("the plan survives JSON and renders as Markdown and a table", () =>
    Effect.gen(function* () {
      const plan = yield* planned
      const json = Rollout.toJson(plan)
      const back = yield* Rollout.fromJson(json)
      expect(Rollout.toJson(back)).toBe(json)
      expect(back.site("marseille")?.secondWindow?.start).toEqual(plan.site("marseille")?.secondWindow?.start)
      const md = Rollout.toMarkdown(plan)
      expect(md).toContain("# Rollout global-24-3: All sites to 24.3")
      expect(md).toContain("- Failure budget: 1 failed site(s) tolerated; failure number 2 halts admission")
      expect(md).toContain("- Approvals: before wave 2, 3")
      expect(md).toContain("## Wave 1: canary")
      expect(md).toContain("| paris-hq | single | Europe/Paris | sat 2026-10-03 02:00 +02:00 |")
      expect(md).toContain("## Assumptions")
      const table = Rollout.toTable(plan).split("\n")
      expect(table.filter((l) => /^\d\*?\s/.test(l))).toHaveLength(12)
      expect(table.find((l) => l.includes("sydney"))).toMatch(/\sNO$/)
    })
  )
})

describe("Rollout.plan: windows and estimates", () => {
  it("a start in the skipped hour of spring forward opens at the first valid instant after it", () => {
    const fleet = oneSite(`    timeZone: Europe/Paris
    windows: [{ days: [sun], start: "02:30", durationMinutes: 120 }]`)
    const plan = Rollout.plan(fleet, { now: new Date("2026-03-28T12:00:00Z") })
    expect(plan.site("a")?.earliestStart?.toISOString()).toBe("2026-03-29T01:00:00.000Z")
    expect(SiteWindow.formatLocal("Europe/Paris", plan.site("a")!.earliestStart!)).toBe("sun 2026-03-29 03:00 +02:00")
  })

  it("a start in the repeated hour of fall back means its first occurrence", () => {
    const fleet = oneSite(`    timeZone: America/New_York
    windows: [{ days: [sun], start: "01:30", durationMinutes: 120 }]`)
    const plan = Rollout.plan(fleet, { now: new Date("2026-10-31T12:00:00Z") })
    expect(plan.site("a")?.earliestStart?.toISOString()).toBe("2026-11-01T05:30:00.000Z")
    // 120 real minutes, across the change
    expect(plan.site("a")?.firstWindow?.end.toISOString()).toBe("2026-11-01T07:30:00.000Z")
  })

  it("an open window with too little left is skipped for the next one", () => {
    const fleet = oneSite(`    timeZone: Asia/Kolkata
    windows: [{ days: [mon, thu], start: "22:00", durationMinutes: 120 }]`)
    const big = oneSite(
      `    timeZone: Asia/Kolkata
    windows: [{ days: [mon, thu], start: "22:00", durationMinutes: 120 }]`,
      "a.yaml",
      singleYaml("a", { storedDataGb: 200 })
    )
    const now = new Date("2026-06-01T18:00:00Z") // mon 23:30 IST: 30 minutes left
    // 25 + 5 = 30 minutes fit exactly
    expect(Rollout.plan(fleet, { now }).site("a")?.earliestStart?.toISOString()).toBe(now.toISOString())
    // 25 + 50 = 75 minutes do not fit the 30 left: thursday 22:00 IST
    expect(Rollout.plan(big, { now }).site("a")?.estimate.firstWindowSeconds).toBe(75 * 60)
    expect(Rollout.plan(big, { now }).site("a")?.earliestStart?.toISOString()).toBe("2026-06-04T16:30:00.000Z")
  })

  it("PAIR-1: a pair starts in a window whose successor is within 72 h, and warns when none is", () => {
    const near = oneSite(
      `    timeZone: Europe/Paris
    method: sync
    windows: [{ days: [sat, sun], start: "02:00", durationMinutes: 240 }]`,
      "p.yaml",
      pairYaml("p")
    )
    // sunday morning: starting now would put the second window a week later; the next saturday is chosen
    const plan = Rollout.plan(near, { now: new Date("2026-06-07T00:30:00Z") })
    const p = plan.site("p")!
    expect(p.kind).toBe("sync-pair")
    expect(p.earliestStart?.toISOString()).toBe("2026-06-13T00:00:00.000Z")
    expect(p.secondWindow?.start.toISOString()).toBe("2026-06-14T00:00:00.000Z")
    expect(p.estimatedEnd!.getTime()).toBe(p.secondWindow!.start.getTime() + p.estimate.secondWindowSeconds! * 1000)
    expect(p.warnings).toEqual([])
    const weekly = oneSite(
      `    timeZone: Europe/Paris
    method: async
    windows: [{ days: [sat], start: "02:00", durationMinutes: 240 }]`,
      "p.yaml",
      pairYaml("p")
    )
    const w = Rollout.plan(weekly, { now: new Date("2026-06-07T00:30:00Z") }).site("p")!
    expect(w.earliestStart?.toISOString()).toBe("2026-06-13T00:00:00.000Z")
    expect(w.warnings).toContainEqual(expect.stringMatching(/^PAIR-1: 164 h between its two windows/))
  })

  it("current versions: already at the target, or a plan that cannot be built (the estimate falls back and says why)", () => {
    const done = oneSite(`    timeZone: UTC
    current: "24.3.2"
    windows: [{ days: [sat], start: "02:00", durationMinutes: 240 }]`)
    const a = Rollout.plan(done, { now: NOW }).site("a")!
    expect(a.estimate.source).toBe("already-at-target")
    expect(a.estimate.seconds).toBe(0)
    expect(a.warnings).toEqual(["already runs 24.3.2: nothing to install"])
    const newer = oneSite(`    timeZone: UTC
    current: "24.4.0"
    windows: [{ days: [sat], start: "02:00", durationMinutes: 240 }]`)
    const b = Rollout.plan(newer, { now: NOW }).site("a")!
    expect(b.estimate.source).toBe("install-estimate")
    expect(b.warnings).toContainEqual(
      expect.stringMatching(/^its plan cannot be built yet \(.*24\.4\.0.*\); the estimate counts install times only$/)
    )
  })

  it("RolloutPlan is a Schema class: a decoded plan equals the encoded one field by field", () => {
    const plan = Rollout.plan(
      oneSite(`    timeZone: UTC
    windows: [{ days: [sat], start: "02:00", durationMinutes: 240 }]`),
      { now: NOW }
    )
    const encoded = Schema.encodeSync(Rollout.RolloutPlan)(plan)
    expect(Schema.encodeSync(Rollout.RolloutPlan)(Schema.decodeUnknownSync(Rollout.RolloutPlan)(encoded))).toEqual(
      encoded
    )
    expect(encoded.sites[0]!.earliestStart).toBe("2026-10-03T02:00:00.000Z")
  })
})
