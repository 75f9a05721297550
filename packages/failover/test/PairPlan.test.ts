import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { CoreSteps, MaintenanceWindow, Plan, Site, SingleUpgrade } from "@sra-upgrade/core"
import { readFileSync } from "node:fs"
import * as FailoverSteps from "../src/FailoverSteps.js"
import * as PairPlan from "../src/PairPlan.js"
import * as Relationship from "../src/Relationship.js"
import * as Support from "./support.js"

const window = (label: string, startHour: number) =>
  new MaintenanceWindow.MaintenanceWindow({
    label,
    start: new Date(Date.UTC(2026, 11, 1, startHour)),
    durationMinutes: 180
  })
const options = (extra: Partial<PairPlan.Options> = {}): PairPlan.Options => ({
  current: { A: { product: "24.1.3" }, B: { product: "24.1.3" } },
  windows: [window("w1", 20), window("w2", 44)],
  ...extra
})
const SHARED = "{ method: shared-ip, sharedIp: 10.0.0.10 }"
const DNS = "{ method: dns, ttlSeconds: 300 }"
const NAT = "{ method: nat, rule: fw01 rule 42 }"

const plan = (f: typeof PairPlan.planSynchronous, traffic = SHARED, extra: Partial<PairPlan.Options> = {}) => {
  const r = f(Support.site(traffic), "25.1.1", options(extra))
  if (Either.isLeft(r)) throw new Error(r.left.message)
  return r.right
}
const ids = (p: Plan.Plan) => p.steps.map((s) => s.id)
const idx = (p: Plan.Plan, id: string) => {
  const i = ids(p).indexOf(id)
  if (i < 0) throw new Error(`no step ${id} in ${ids(p).join(", ")}`)
  return i
}
const step = (p: Plan.Plan, id: string) => p.steps[idx(p, id)]!
const firstOf = (p: Plan.Plan, prefix: string) => ids(p).findIndex((s) => s.startsWith(prefix))

/** examples/pair.yaml, its text edited by `edit` (e.g. more stored data). */
const examplePair = (edit: (yaml: string) => string = (y) => y) =>
  Effect.runSync(
    Site.decodeSite(
      edit(readFileSync(new URL("../../../examples/pair.yaml", import.meta.url), "utf8")),
      "yaml",
      "examples/pair.yaml"
    )
  )
const exampleWindows = (minutes: number, gapHours = 21) => {
  const start = Date.parse("2026-12-12T21:00:00Z")
  return [
    new MaintenanceWindow.MaintenanceWindow({ label: "w1", start: new Date(start), durationMinutes: minutes }),
    new MaintenanceWindow.MaintenanceWindow({
      label: "w2",
      start: new Date(start + minutes * 60_000 + gapHours * 3_600_000),
      durationMinutes: minutes
    })
  ] as const
}
const exampleOptions = (extra: Partial<PairPlan.Options> = {}): PairPlan.Options => ({
  current: { A: { product: "24.1.3" }, B: { product: "24.1.3" } },
  windows: exampleWindows(180),
  ...extra
})
const right = <A, E extends { readonly message: string }>(e: Either.Either<A, E>): A => {
  if (Either.isLeft(e)) throw new Error(e.left.message)
  return e.right
}

describe("PairPlan", () => {
  it("PREP-3 PAIR-1: a pair plan keeps what the single plans say: each window checked against its appliance's install, client notes", () => {
    // 800 GB of recordings: about 3h50m per install, in 20-minute windows
    const heavy = examplePair((y) => y.replaceAll("storedDataGb: 40", "storedDataGb: 800"))
    const single = right(
      SingleUpgrade.sections(heavy, "24.3.2", {
        appliance: "A",
        current: { product: "24.1.3" },
        window: exampleWindows(20)[0]
      })
    )
    expect(single.installMinutes).toBeGreaterThan(200)
    for (const f of [PairPlan.planSynchronous, PairPlan.planAsynchronous]) {
      const p = right(f(heavy, "24.3.2", exampleOptions({ windows: exampleWindows(20) })))
      const warnings = p.notes.filter((n) => n.includes("Warning (PREP-3)"))
      expect(warnings.map((w) => w.slice(0, 2)).sort(), p.kind).toEqual(["A:", "B:"])
      expect(warnings.join("\n")).toContain(`estimated at ${single.installMinutes} min`)
      // the window steps carry the estimate of the appliance installed in them
      for (const id of ["pair/window-1", "pair/window-2"]) {
        const w = step(p, id)
        expect(w.rules).toContain("PREP-3")
        expect(w.notes.join(" ")).toMatch(/PREP-3: installs estimated at \d+ min in total, from 800 GB/)
      }
      // the CLIENT-* self-update notes of the single plans, once each
      const client = p.notes.filter((n) => /^CLIENT-\d/.test(n))
      expect(client.length).toBeGreaterThan(0)
      expect(new Set(client).size).toBe(client.length)
      expect(p.notes.join("\n")).toMatch(/CLIENT-6, CLIENT-7: jump-client/)
    }
    // windows long enough: no warning
    const fits = right(PairPlan.planSynchronous(examplePair(), "24.3.2", exampleOptions()))
    expect(fits.notes.filter((n) => n.includes("Warning (PREP-3)"))).toEqual([])
  })

  it("CLIENT-10: all Jump Clients, passive ones included, before the second appliance; a window 2 before the passive horizon is flagged", () => {
    // examples/pair.yaml: 900 passive clients, 21 h between the windows
    for (const [f, serving, second] of [
      [PairPlan.planSynchronous, "A", "B"],
      [PairPlan.planAsynchronous, "B", "A"]
    ] as const) {
      const p = right(f(examplePair(), "24.3.2", exampleOptions()))
      const gate = step(p, "pair/jump-clients-all")
      expect(gate.rules).toContain("CLIENT-10")
      expect(gate.target).toBe(serving)
      expect(idx(p, "pair/window-2")).toBeLessThan(idx(p, "pair/jump-clients-all"))
      expect(idx(p, "pair/jump-clients-all")).toBeLessThan(firstOf(p, `${second}/install-`))
      expect(gate._tag === "ManualGate" && gate.instructions.join(" ")).toMatch(/Upgrade pending.*every 24 h/)
      const warning = p.notes.find((n) => n.startsWith("Warning (CLIENT-10)"))
      expect(warning).toMatch(/window 2 opens 21\.0 h after window 1 ends.*900 passive/)
      // a gap past the passive horizon: no warning, the check stays
      const later = right(f(examplePair(), "24.3.2", exampleOptions({ windows: exampleWindows(180, 26) })))
      expect(later.notes.some((n) => n.startsWith("Warning (CLIENT-10)"))).toBe(false)
      expect(ids(later)).toContain("pair/jump-clients-all")
    }
    // no passive clients: nothing to wait for
    const none = examplePair((y) => y.replace("passive: 900", "passive: 0"))
    const p = right(PairPlan.planSynchronous(none, "24.3.2", exampleOptions()))
    expect(ids(p)).not.toContain("pair/jump-clients-all")
  })

  it("PREP-4: the asynchronous plan reports who is logged in to A right before the switch disconnects them; the windows advise low traffic", () => {
    const p = right(PairPlan.planAsynchronous(examplePair(), "24.3.2", exampleOptions()))
    const report = step(p, "A/report-disconnects")
    expect(CoreSteps.ReportDisconnects.is(report)).toBe(true)
    expect(report.rules).toContain("PREP-4")
    expect(report.target).toBe("A")
    expect(report.title).toMatch(/logged in to A: the switch to B disconnects them/)
    expect(idx(p, "pair/hosts-override")).toBeLessThan(idx(p, "A/report-disconnects"))
    expect(idx(p, "A/report-disconnects")).toBe(idx(p, "pair/switch") - 1)
    // B never serves while it installs: no report for it
    expect(ids(p)).not.toContain("B/report-disconnects")
    for (const f of [PairPlan.planSynchronous, PairPlan.planAsynchronous]) {
      const q = right(f(examplePair(), "24.3.2", exampleOptions()))
      for (const id of ["pair/window-1", "pair/window-2"]) expect(step(q, id).notes.join(" ")).toMatch(/low traffic/)
    }
  })

  it("PREP-5: a pair plan asks once, before window 1, whether the update was tested in a controlled environment", () => {
    for (const [f, first] of [
      [PairPlan.planSynchronous, "A"],
      [PairPlan.planAsynchronous, "B"]
    ] as const) {
      const p = right(f(examplePair(), "24.3.2", exampleOptions()))
      const tested = p.steps.filter((s) => s.id.endsWith("/update-tested"))
      expect(tested.map((s) => s.id)).toEqual([`${first}/update-tested`])
      expect(idx(p, `${first}/update-tested`)).toBeLessThan(idx(p, "pair/window-1"))
      expect(p.notes.join(" ")).toMatch(/PREP-5: test the update itself.*strongly advised for failover pairs/)
    }
  })

  it("SINGLE-6: in a pair's upgrade, a failed automatic update also sends the operator to the support portal", () => {
    for (const f of [PairPlan.planSynchronous, PairPlan.planAsynchronous]) {
      const p = right(f(examplePair(), "24.3.2", exampleOptions()))
      for (const id of ["A/install-site-24.3.2", "B/install-site-24.3.2"]) {
        const g = step(p, id)
        expect(g.rules).toContain("SINGLE-6")
        expect(g._tag === "ManualGate" && g.instructions.join(" ")).toMatch(
          /fall back to the manual method.*In a failover pair, also consult the vendor's support portal/
        )
      }
      expect(p.notes.join(" ")).toMatch(/SINGLE-6: .*support portal \(guide l\.197, l\.289\)/)
    }
    // a single appliance: no portal sentence
    const single = right(
      SingleUpgrade.sections(examplePair(), "24.3.2", {
        appliance: "A",
        current: { product: "24.1.3" },
        window: exampleWindows(180)[0]
      })
    )
    const g = single.installs.find((s) => s.id === "A/install-site-24.3.2")!
    expect(g._tag === "ManualGate" && g.instructions.join(" ")).not.toContain("support portal")
  })

  it("PREP-9 PREP-10: a pair plan asks once for the release notes and the rollout notice, before window 1", () => {
    const p = right(PairPlan.planAsynchronous(examplePair(), "24.3.2", exampleOptions()))
    expect(ids(p).filter((i) => i.endsWith("/release-notes") || i.endsWith("/release-rollout"))).toEqual([
      "B/release-notes",
      "B/release-rollout"
    ])
    expect(idx(p, "B/release-rollout")).toBeLessThan(idx(p, "pair/window-1"))
  })

  it("PAIR-1 PREP-3: installs estimated very differently on the two appliances are flagged (the guide: same duration on both)", () => {
    const uneven = examplePair((y) => y.replace("storedDataGb: 40", "storedDataGb: 600"))
    const p = right(PairPlan.planAsynchronous(uneven, "24.3.2", exampleOptions({ windows: exampleWindows(300) })))
    expect(p.notes.join("\n")).toMatch(/Warning \(PAIR-1, PREP-3\).*same duration on both servers/)
    const even = right(PairPlan.planAsynchronous(examplePair(), "24.3.2", exampleOptions()))
    expect(even.notes.join("\n")).not.toContain("Warning (PAIR-1, PREP-3)")
  })

  it("PAIR-1: two windows, the run pauses between them; overlapping or too distant windows are refused", () => {
    for (const f of [PairPlan.planSynchronous, PairPlan.planAsynchronous]) {
      const p = plan(f)
      const windows = p.steps.filter((s) => s._tag === "Window")
      expect(windows.map((w) => w.id)).toEqual(["pair/window-1", "pair/window-2"])
      expect(windows.every((w) => w.rules.includes(Plan.RuleId.make("PAIR-1")))).toBe(true)
      expect(step(p, "pair/protection").params).toMatchObject({ from: "pair/break", to: "pair/first-sync" })
      const overlap = f(Support.site(), "25.1.1", options({ windows: [window("w1", 20), window("w2", 21)] }))
      expect(Either.isLeft(overlap) && overlap.left.message).toMatch(/starts before window 1/)
      const far = f(Support.site(), "25.1.1", options({ windows: [window("w1", 20), window("w2", 20 + 24 * 10)] }))
      expect(Either.isLeft(far) && far.left.message).toMatch(/no failover protection/)
      const allowed = f(
        Support.site(),
        "25.1.1",
        options({ windows: [window("w1", 20), window("w2", 20 + 24 * 10)], maxIntervalHours: 24 * 11 })
      )
      expect(Either.isRight(allowed)).toBe(true)
    }
  })

  it("PAIR-2: synchronous: A first and stays primary", () => {
    const p = plan(PairPlan.planSynchronous)
    expect(p.kind).toBe("sync-pair")
    expect(firstOf(p, "A/install-")).toBeLessThan(firstOf(p, "B/install-"))
    expect(step(p, "pair/roles-after").params["expect"]).toEqual({ A: "primary", B: "backup" })
    expect(p.notes.join(" ")).toMatch(/A is primary and B backup/)
  })

  it("PAIR-3: asynchronous: B first and becomes primary; swapBack makes A primary again with a data sync first", () => {
    const p = plan(PairPlan.planAsynchronous)
    expect(p.kind).toBe("async-pair")
    expect(firstOf(p, "B/install-")).toBeLessThan(firstOf(p, "A/install-"))
    expect(step(p, "pair/roles-after").params["expect"]).toEqual({ B: "primary", A: "backup" })
    expect(ids(p)).not.toContain("pair/swap-back")
    const back = plan(PairPlan.planAsynchronous, SHARED, { swapBack: true })
    expect(step(back, "pair/swap-back").params).toEqual({
      appliance: "A",
      peer: "B",
      role: "primary",
      dataSyncFirst: true
    })
    expect(step(back, "pair/swap-back").idempotent).toBe(false)
    expect(idx(back, "pair/swap-back")).toBeGreaterThan(idx(back, "pair/roles-after"))
  })

  it("PAIR-4: backup of A, Sync now, wait for the sync, break — before anything is installed", () => {
    for (const f of [PairPlan.planSynchronous, PairPlan.planAsynchronous]) {
      const p = plan(f)
      const order = ["pair/backup-A", "pair/sync-now", "pair/sync-wait", "pair/break"].map((id) => idx(p, id))
      expect([...order].sort((a, b) => a - b)).toEqual(order)
      expect(step(p, "pair/backup-A").params["appliance"]).toBe("A")
      expect(step(p, "pair/sync-wait").params).toEqual({ appliance: "A", since: "pair/sync-now" })
      const firstInstall = ids(p).findIndex((s) => /\/install-/.test(s))
      expect(order[3]!).toBeLessThan(firstInstall)
      expect(idx(p, "pair/window-1")).toBeLessThan(order[0]!)
    }
  })

  it("PAIR-4: the Sync now gate says to wait for a sync already running, and when to press again", () => {
    for (const f of [PairPlan.planSynchronous, PairPlan.planAsynchronous]) {
      const gate = step(plan(f), "pair/sync-now") as Plan.ManualGate
      const text = gate.instructions.join("\n")
      expect(text).toMatch(/If a sync is already running .*wait for it to finish/)
      expect(text).toMatch(/press "Sync now" again unless that sync started after this step opened/)
    }
  })

  it("PAIR-5: sync order: A, verify, window 2, B, verify, restore from A", () => {
    const p = plan(PairPlan.planSynchronous)
    const seq = [
      firstOf(p, "A/install-"),
      idx(p, "A/verify"),
      idx(p, "pair/site-on-A"),
      idx(p, "pair/window-2"),
      firstOf(p, "B/install-"),
      idx(p, "B/verify"),
      idx(p, "pair/establish")
    ]
    expect([...seq].sort((a, b) => a - b)).toEqual(seq)
    expect(step(p, "pair/establish").params).toEqual({ primary: "A", backup: "B" })
  })

  it("PAIR-6: async order: B, verify as site, switch, verify, window 2, A, restore from B", () => {
    const p = plan(PairPlan.planAsynchronous)
    const seq = [
      firstOf(p, "B/install-"),
      idx(p, "B/verify"),
      idx(p, "pair/verify-as-site"),
      idx(p, "pair/hosts-override"),
      idx(p, "pair/switch"),
      idx(p, "pair/switch-settled"),
      idx(p, "B/verify-console"),
      idx(p, "pair/window-2"),
      idx(p, "pair/verify-4"),
      firstOf(p, "A/install-"),
      idx(p, "A/verify"),
      idx(p, "pair/establish")
    ]
    expect([...seq].sort((a, b) => a - b)).toEqual(seq)
    expect(step(p, "pair/establish").params).toEqual({ primary: "B", backup: "A" })
  })

  it("PAIR-7: restore gate with the exact form values, unique IPs, after the inter-appliance key check", () => {
    const p = plan(PairPlan.planAsynchronous)
    const gate = step(p, "pair/establish")
    expect(gate._tag).toBe("ManualGate")
    const text = gate._tag === "ManualGate" ? gate.instructions.join("\n") : ""
    expect(text).toMatch(/On B, the appliance that will be primary/)
    expect(text).toContain("New backup site connection details: host 10.0.0.11, TLS port 443")
    expect(text).toContain("Reverse connection details (how A reaches the primary): host 10.0.0.12, TLS port 8443")
    expect(text).toContain("Select the failover shared IP 10.0.0.10")
    expect(idx(p, "pair/keys")).toBeLessThan(idx(p, "pair/establish"))
    const keys = step(p, "pair/keys")
    expect(keys._tag === "ManualGate" && keys.instructions.join(" ")).toMatch(/inter-appliance key/)
  })

  it("PAIR-8: wait for the first successful sync after establishing, then check the roles", () => {
    for (const f of [PairPlan.planSynchronous, PairPlan.planAsynchronous]) {
      const p = plan(f)
      const wait = step(p, "pair/first-sync")
      expect(wait._tag).toBe("WaitFor")
      expect(wait.params["since"]).toBe("pair/establish")
      expect(idx(p, "pair/establish")).toBeLessThan(idx(p, "pair/first-sync"))
      expect(idx(p, "pair/first-sync")).toBeLessThan(idx(p, "pair/roles-after"))
      expect(wait.notes.join(" ")).toMatch(/60 s/)
    }
  })

  it("PAIR-9: the plan says broken-time session data is synchronised by the first sync", () => {
    const p = plan(PairPlan.planSynchronous)
    expect(step(p, "pair/first-sync").rules).toContain("PAIR-9")
    expect(p.notes.some((n) => n.startsWith("PAIR-9"))).toBe(true)
  })

  it("PAIR-10: the break gate warns against Become Primary; swap back uses set_failover_role", () => {
    const p = plan(PairPlan.planAsynchronous, SHARED, { swapBack: true })
    const brk = step(p, "pair/break")
    expect(brk._tag === "ManualGate" && brk.instructions.join(" ")).toMatch(/Do not use "Become primary"/)
    expect(FailoverSteps.SetRole.is(step(p, "pair/swap-back"))).toBe(true)
    expect(p.notes.some((n) => n.startsWith("PAIR-10"))).toBe(true)
  })

  it("SWITCH-1: shared IP moved off A then onto B, verified by the API", () => {
    const p = plan(PairPlan.planAsynchronous)
    const gate = step(p, "pair/switch")
    const text = gate._tag === "ManualGate" ? gate.instructions.join("\n") : ""
    expect(text.indexOf("disable shared IP 10.0.0.10")).toBeLessThan(text.indexOf("enable shared IP 10.0.0.10"))
    expect(text).toMatch(/not in use/)
    expect(gate.rules).toContain("SWITCH-1")
    expect(FailoverSteps.Switched.is(gate)).toBe(true)
  })

  it("SWITCH-2: DNS: the record change is a gate, then a wait sized by the TTL", () => {
    const p = plan(PairPlan.planAsynchronous, DNS)
    expect(step(p, "pair/switch").rules).toContain("SWITCH-2")
    const wait = step(p, "pair/switch-settled")
    expect(wait._tag === "WaitFor" && wait.deadlineSeconds).toBeGreaterThanOrEqual(600)
    const gate = step(p, "pair/switch")
    expect(gate._tag === "ManualGate" && gate.instructions.join(" ")).toMatch(/TTL, 300 s/)
  })

  it("SWITCH-3: NAT: the entry is pointed at B's unique IP", () => {
    const p = plan(PairPlan.planAsynchronous, NAT)
    const gate = step(p, "pair/switch")
    expect(gate.rules).toContain("SWITCH-3")
    expect(gate._tag === "ManualGate" && gate.instructions.join(" ")).toMatch(
      /fw01 rule 42.*10\.0\.0\.11.*10\.0\.0\.12/
    )
  })

  it("SWITCH-4: integration clients configured by IP are named and checked after the switch", () => {
    const p = plan(PairPlan.planAsynchronous)
    const gate = step(p, "pair/integration-clients")
    expect(gate.rules).toContain("SWITCH-4")
    expect(gate._tag === "ManualGate" && gate.instructions.join(" ")).toMatch(/archiver \(10\.0\.0\.11\)/)
    expect(idx(p, "pair/switch")).toBeLessThan(idx(p, "pair/integration-clients"))
  })

  it("VERIFY-3: B is verified as the site on its unique address before the switch", () => {
    const p = plan(PairPlan.planAsynchronous)
    const check = step(p, "pair/verify-as-site")
    expect(check.params).toMatchObject({ appliance: "B", url: "https://10.0.0.12", hostname: "support.example.test" })
    const gate = step(p, "pair/hosts-override")
    expect(gate._tag === "ManualGate" && gate.evidence.map((e) => e.name)).toEqual([
      "machine1",
      "machine2",
      "consoleVersion",
      "session"
    ])
    expect(gate._tag === "ManualGate" && gate.instructions[0]).toContain("10.0.0.12 support.example.test")
    expect(idx(p, "pair/hosts-override")).toBeLessThan(idx(p, "pair/switch"))
  })

  it("VERIFY-4: the new version is confirmed in production before the second appliance is touched", () => {
    const sync = plan(PairPlan.planSynchronous)
    expect(idx(sync, "pair/verify-4")).toBeLessThan(firstOf(sync, "B/backup"))
    expect(idx(sync, "pair/verify-4")).toBeLessThan(firstOf(sync, "B/install-"))
    const asyncP = plan(PairPlan.planAsynchronous)
    expect(idx(asyncP, "pair/verify-4")).toBeLessThan(firstOf(asyncP, "A/backup"))
    expect(step(asyncP, "pair/verify-4").rules).toContain("VERIFY-4")
  })

  it.effect(
    "plans round-trip through JSON; every step is built by a core or failover definition whose params decode",
    () =>
      Effect.gen(function* () {
        const definitions = [...CoreSteps.all, ...FailoverSteps.all]
        for (const f of [PairPlan.planSynchronous, PairPlan.planAsynchronous]) {
          const p = plan(f, DNS, { swapBack: true })
          const back = yield* Plan.fromJson(Plan.toJson(p))
          expect(Plan.toJson(back)).toBe(Plan.toJson(p))
          for (const s of p.steps) {
            if (s._tag === "Window") {
              expect(s.handler).toBe(FailoverSteps.windowHandler)
              continue
            }
            const def = definitions.find((d) => d.is(s))
            expect(def, s.id).toBeDefined()
            expect(Either.isRight(def!.decodeParams(s)), s.id).toBe(true)
          }
        }
      })
  )

  it.effect("a pair plan written before the step definitions still decodes, is recognised and replays restored", () =>
    Effect.gen(function* () {
      // written by planAsynchronous (DNS, swapBack, site client) before FailoverSteps existed
      const old = yield* Plan.fromJson(
        readFileSync(new URL("./fixtures/async-pair-dns-swap-back.plan.json", import.meta.url), "utf8")
      )
      const failover = old.steps.filter((s) => s._tag !== "Window" && !CoreSteps.all.some((d) => d.is(s)))
      expect(failover.length).toBeGreaterThan(15)
      for (const s of failover) {
        const def = FailoverSteps.all.find((d) => d.is(s))
        expect(def, `${s.id} (${s.handler})`).toBeDefined()
        expect(Either.isRight(def!.decodeParams(s)), s.id).toBe(true)
      }
      const windows = old.steps.filter((s) => s._tag === "Window")
      expect(windows.map((w) => w.handler)).toEqual([FailoverSteps.windowHandler, FailoverSteps.windowHandler])
      expect(Option.isSome(FailoverSteps.SetRole.paramsOf(old.steps.find((s) => s.id === "pair/swap-back")!))).toBe(
        true
      )
      const end = PairPlan.simulateRelationship(old, "A", "B")
      expect(Either.isRight(end) && Relationship.isRestored(end.right)).toBe(true)
      expect(Either.isRight(end) && Relationship.roles(end.right)).toEqual({ A: "primary", B: "backup" })
    })
  )

  it("errors are tagged reasons (windows, missing version), and a single-appliance error is nested, not flattened", () => {
    const overlap = PairPlan.planSynchronous(
      Support.site(),
      "25.1.1",
      options({ windows: [window("w1", 20), window("w2", 21)] })
    )
    expect(Either.isLeft(overlap) && overlap.left.reason).toMatchObject({ _tag: "WindowsOverlap", first: "w1" })
    const missing = PairPlan.planAsynchronous(
      Support.site(),
      "25.1.1",
      options({ current: { A: { product: "24.1.3" } } })
    )
    expect(Either.isLeft(missing) && missing.left.reason).toMatchObject({ _tag: "MissingCurrent", appliance: "B" })
    const done = PairPlan.planSynchronous(
      Support.site(),
      "25.1.1",
      options({ current: { A: { product: "25.1.1" }, B: { product: "24.1.3" } } })
    )
    if (Either.isRight(done)) throw new Error("planned an appliance already at the target")
    const reason = done.left.reason
    expect(reason._tag).toBe("SingleAppliance")
    if (reason._tag === "SingleAppliance") {
      expect(reason.appliance).toBe("A")
      expect(reason.error.reason._tag).toBe("AlreadyAtTarget")
    }
    expect(done.left.message).toBe("A: The appliance already runs 25.1.1: nothing to install.")
  })

  it("a site with one appliance is refused with the single-appliance advice", () => {
    const single = Support.site()
    const one = Object.assign(Object.create(Object.getPrototypeOf(single)), single, {
      appliances: single.appliances.slice(0, 1)
    })
    const r = PairPlan.planSynchronous(one, "25.1.1", options())
    expect(Either.isLeft(r) && r.left.message).toMatch(/single-appliance/)
    const reason = Either.isLeft(r) ? r.left.reason : undefined
    expect(reason?._tag === "NotAPair" && reason.error.reason).toMatchObject({
      _tag: "NotTwoAppliances",
      appliances: ["A"]
    })
  })

  it("the plans are valid runs of the relationship machine and end restored with the promised roles", () => {
    const expectations = [
      [PairPlan.planSynchronous, {}, { A: "primary", B: "backup" }, ["A"]],
      [PairPlan.planAsynchronous, {}, { B: "primary", A: "backup" }, ["B"]],
      [PairPlan.planAsynchronous, { swapBack: true }, { A: "primary", B: "backup" }, ["A"]]
    ] as const
    for (const [f, extra, roles, serving] of expectations) {
      const end = PairPlan.simulateRelationship(plan(f, SHARED, extra), "A", "B")
      if (Either.isLeft(end)) throw new Error(end.left.message)
      expect(Relationship.isRestored(end.right)).toBe(true)
      expect(Relationship.roles(end.right)).toEqual(roles)
      expect(end.right.serving).toEqual(serving)
    }
  })

  it("PAIR-7: a plan that would establish on the appliance not serving the site is refused by the machine", () => {
    const p = plan(PairPlan.planAsynchronous)
    const steps = [...p.steps]
    const [establish] = steps.splice(idx(p, "pair/establish"), 1)
    steps.splice(idx(p, "pair/switch"), 0, establish!) // establish from B before the site moved to B
    const bad = new Plan.Plan({ ...p, steps })
    const end = PairPlan.simulateRelationship(bad, "A", "B")
    expect(Either.isLeft(end) && end.left.message).toMatch(/PAIR-7/)
  })

  it("PAIR-4: a plan without the sync wait before the break is refused by the machine", () => {
    const p = plan(PairPlan.planSynchronous)
    const bad = new Plan.Plan({ ...p, steps: p.steps.filter((s) => s.id !== "pair/sync-wait") })
    const end = PairPlan.simulateRelationship(bad, "A", "B")
    expect(Either.isLeft(end) && end.left.message).toMatch(/PAIR-4/)
  })
})
