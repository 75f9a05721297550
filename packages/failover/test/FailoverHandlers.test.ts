import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { Executor, Operator, Plan, StepHandler } from "@sra-upgrade/core"
import * as FailoverSteps from "../src/FailoverSteps.js"
import * as Pair from "../src/Pair.js"
import * as SiteProber from "../src/SiteProber.js"
import * as TrafficSwitch from "../src/TrafficSwitch.js"
import * as Fake from "./fake.js"

const syncNow = FailoverSteps.SyncRequested.gate(
  { id: "pair/sync-now", title: "Sync now", rules: ["PAIR-4"], estimatedSeconds: 1, instructions: ["Sync now"] },
  { appliance: "A" }
)
const syncWait = (deadlineSeconds = 0.2, since = "pair/sync-now", appliance = "A") =>
  FailoverSteps.AwaitSync.wait(
    {
      id: since === "pair/sync-now" ? "pair/sync-wait" : "pair/first-sync",
      title: "wait",
      rules: ["PAIR-4"],
      estimatedSeconds: 1,
      intervalSeconds: 0.01,
      deadlineSeconds
    },
    { appliance, since }
  )
const breakGate = FailoverSteps.Broken.gate(
  { id: "pair/break", title: "Break", rules: ["PAIR-4"], estimatedSeconds: 1, instructions: ["Break"] },
  { appliances: ["A", "B"] }
)
const establish = (primary: string, backup: string) =>
  FailoverSteps.Established.gate(
    { id: "pair/establish", title: "Establish", rules: ["PAIR-7"], estimatedSeconds: 1, instructions: ["Establish"] },
    { primary, backup }
  )
const pairOf = (traffic?: string) => {
  const pair = Pair.fromSite(Fake.site(traffic), { siteUrl: "https://site", siteClientId: "site" })
  if (Either.isLeft(pair)) throw new Error(pair.left.message)
  return pair.right
}
const switchGate = (pair: Pair.Pair, title: string) =>
  FailoverSteps.Switched.gate(
    { id: "pair/switch", title, rules: ["SWITCH-1"], estimatedSeconds: 1, instructions: [title] },
    { pair, from: "A", to: "B" }
  )

const run = (world: Fake.FakeWorld, steps: ReadonlyArray<Plan.Step>, script: Parameters<typeof Fake.executor>[1]) =>
  Executor.run(Fake.plan(steps)).pipe(Effect.provide(Fake.executor(world, script)))

const syncAt =
  (world: Fake.FakeWorld, status: string, delayMs = 5) =>
  () => {
    const a = world.get("A")
    a.lastSync = new Date(Date.now() + delayMs)
    a.lastSyncStatus = status
  }

describe("FailoverHandlers", () => {
  it.effect("the registry provides every handler the pair plans name", () =>
    Effect.gen(function* () {
      const registry = yield* StepHandler.StepHandlers
      expect([...registry.names]).toEqual(FailoverSteps.all.map((d) => d.name).sort())
    }).pipe(Effect.provide(Fake.executorDeps(new Fake.FakeWorld())))
  )

  it.live("PAIR-4: waits for a sync later than the Sync now request, then the break is verified on both", () =>
    Effect.gen(function* () {
      const world = new Fake.FakeWorld()
      const report = yield* run(world, [syncNow, syncWait(), breakGate], {
        "pair/sync-now": Fake.approve(syncAt(world, "success")),
        "pair/break": Fake.approve(() => {
          world.get("A").role = "none"
          world.get("B").role = "none"
        })
      })
      expect(report.status).toBe("succeeded")
      const wait = report.steps.find((s) => s.id === "pair/sync-wait")!
      expect(wait.evidence["status"]).toBe("success")
      expect(report.steps.find((s) => s.id === "pair/break")!.evidence["roles"]).toEqual({ A: "none", B: "none" })
    })
  )

  it.live("PAIR-4: a sync that finished before the request does not count", () =>
    Effect.gen(function* () {
      const world = new Fake.FakeWorld()
      world.get("A").lastSync = new Date(Date.now() - 60_000)
      const report = yield* run(world, [syncNow, syncWait(0.1), breakGate], { "pair/sync-now": Fake.approve() })
      expect(report.status).toBe("failed")
      expect(report.currentStep).toBe("pair/sync-wait")
      expect(report.gates.map((g) => g.stepId)).not.toContain("pair/break")
    })
  )

  it.live("PAIR-4: the request time is compared in the appliance's clock (PREP-8 skew)", () =>
    Effect.gen(function* () {
      const world = new Fake.FakeWorld()
      world.get("A").clockSkewMs = -120_000 // appliance two minutes behind: its timestamps look old
      const report = yield* run(world, [syncNow, syncWait()], {
        "pair/sync-now": Fake.approve(syncAt(world, "success"))
      })
      expect(report.status).toBe("succeeded")
      expect(report.steps[1]!.evidence["applianceClockSkewSeconds"]).toBe(-120)
    })
  )

  it.live("PAIR-4: a failed sync stops the run before the break, nothing destructive done", () =>
    Effect.gen(function* () {
      const world = new Fake.FakeWorld()
      const report = yield* run(world, [syncNow, syncWait(5), breakGate], {
        "pair/sync-now": Fake.approve(syncAt(world, "failed: peer unreachable")),
        "pair/break": Fake.approve()
      })
      expect(report.status).toBe("failed")
      expect(report.error).toMatch(/do NOT break/)
      expect(report.gates.map((g) => g.stepId)).toEqual(["pair/sync-now"])
      expect(world.get("A").role).toBe("primary")
    })
  )

  it.live("PAIR-4: approving the break gate without breaking fails the step", () =>
    Effect.gen(function* () {
      const world = new Fake.FakeWorld()
      const report = yield* run(world, [breakGate], { "pair/break": Fake.approve() })
      expect(report.status).toBe("failed")
      expect(report.error).toMatch(/not broken: A is primary/)
    })
  )

  it.live("PAIR-8: restored only after the first successful sync after establishing", () =>
    Effect.gen(function* () {
      const world = new Fake.FakeWorld()
      world.get("A").role = "none"
      world.get("B").role = "none"
      const establishB = () => {
        world.get("B").role = "primary"
        world.get("A").role = "backup"
        world.get("B").lastSync = new Date(0) // an old sync from another life does not count
        world.get("B").lastSyncStatus = "success"
      }
      const noSync = yield* run(world, [establish("B", "A"), syncWait(0.1, "pair/establish", "B")], {
        "pair/establish": Fake.approve(establishB)
      })
      expect(noSync.status).toBe("failed")
      expect(noSync.currentStep).toBe("pair/first-sync")
      const world2 = new Fake.FakeWorld()
      world2.get("A").role = "none"
      world2.get("B").role = "none"
      const ok = yield* run(world2, [establish("B", "A"), syncWait(2, "pair/establish", "B")], {
        "pair/establish": Fake.approve(() => {
          world2.get("B").role = "primary"
          world2.get("A").role = "backup"
          world2.get("B").lastSync = new Date(Date.now() + 5)
          world2.get("B").lastSyncStatus = "success"
        })
      })
      expect(ok.status).toBe("succeeded")
      expect(ok.steps[0]!.evidence["roles"]).toEqual({ B: "primary", A: "backup" })
    })
  )

  it.live("PAIR-7: the establish gate is verified by the roles, and re-verified on resume", () =>
    Effect.gen(function* () {
      const world = new Fake.FakeWorld()
      world.get("A").role = "none"
      world.get("B").role = "none"
      const wrong = yield* run(world, [establish("A", "B")], { "pair/establish": Fake.approve() })
      expect(wrong.status).toBe("failed")
      expect(wrong.error).toMatch(/PAIR-7/)
    })
  )

  it.live("PAIR-1: the time without failover protection is reported from the run history", () =>
    Effect.gen(function* () {
      const world = new Fake.FakeWorld()
      const protection = FailoverSteps.Protection.check(
        { id: "pair/protection", title: "unprotected", rules: ["PAIR-1"], estimatedSeconds: 1 },
        { from: "pair/break", to: "pair/first-sync", maxSeconds: 3600 }
      )
      const tooShort = FailoverSteps.Protection.check(
        { id: "pair/protection-2", title: "unprotected", rules: ["PAIR-1"], estimatedSeconds: 1 },
        { from: "pair/break", to: "pair/first-sync", maxSeconds: -1 }
      )
      const report = yield* run(
        world,
        [syncNow, syncWait(), breakGate, establish("A", "B"), syncWait(2, "pair/establish"), protection, tooShort],
        {
          "pair/sync-now": Fake.approve(syncAt(world, "success")),
          "pair/break": Fake.approve(() => {
            world.get("A").role = "none"
            world.get("B").role = "none"
          }),
          "pair/establish": Fake.approve(() => {
            world.get("A").role = "primary"
            world.get("B").role = "backup"
            syncAt(world, "success", 20)()
          })
        }
      )
      expect(report.status).toBe("succeeded")
      const p = report.steps.find((s) => s.id === "pair/protection")!
      expect(typeof p.evidence["unprotectedSeconds"]).toBe("number")
      expect(p.evidence["restoredAt"]).not.toBeNull()
      // an advisory check over the bound becomes a warning
      expect(report.steps.find((s) => s.id === "pair/protection-2")!.warnings[0]).toMatch(/no failover protection/)
    })
  )

  it.live("VERIFY-3: B is probed on its unique address with the site host name", () =>
    Effect.gen(function* () {
      const world = new Fake.FakeWorld()
      world.get("B").version = "25.1.1"
      const check = FailoverSteps.VerifyAsSite.check(
        { id: "pair/verify-as-site", title: "as site", rules: ["VERIFY-3"], estimatedSeconds: 1 },
        { appliance: "B", url: "https://10.0.0.12", hostname: "support.example.test", version: "25.1.1" }
      )
      const ok = yield* run(world, [check], {})
      expect(ok.status).toBe("succeeded")
      expect(world.probes).toContainEqual({ url: "https://10.0.0.12", hostname: "support.example.test" })
      world.get("B").version = "24.1.3"
      const bad = yield* run(world, [check], {})
      expect(bad.status).toBe("failed")
      expect(bad.error).toMatch(/do not switch\. Rollback: production stays/)
    })
  )

  it.live("SWITCH-1: the shared-IP gate fails while A still holds the IP; passes when only B does", () =>
    Effect.gen(function* () {
      const gate = switchGate(pairOf(), "move")
      const world = new Fake.FakeWorld()
      world.get("A").role = "none"
      world.get("B").role = "none"
      const half = yield* run(world, [gate], {
        "pair/switch": Fake.approve(() => world.get("B").sharedIps.push("10.0.0.10"))
      })
      expect(half.status).toBe("failed")
      expect(half.error).toMatch(/A still has shared IP 10.0.0.10 enabled/)
      world.get("A").sharedIps = []
      world.siteTarget = "B"
      const done = yield* run(world, [gate], { "pair/switch": Fake.approve() })
      expect(done.status).toBe("succeeded")
      expect(done.steps[0]!.evidence["servedBy"]).toBe("B")
      expect(done.steps[0]!.evidence["sharedIpHolders"]).toEqual(["B"])
    })
  )

  it.live("SWITCH-2: after the DNS gate the run waits until the site answers from B", () =>
    Effect.gen(function* () {
      const pair = pairOf("{ method: dns, ttlSeconds: 60 }")
      const world = new Fake.FakeWorld()
      const gate = switchGate(pair, "dns")
      expect(gate.evidence.map((e) => e.name)).toEqual(["dnsChange"])
      let probes = 0
      world.onProbe = () => {
        probes++
        if (probes > 3) world.siteTarget = "B" // the record propagates after a few polls
      }
      const wait = FailoverSteps.ServedBy.wait(
        {
          id: "pair/switch-settled",
          title: "settle",
          rules: ["SWITCH-2"],
          estimatedSeconds: 1,
          intervalSeconds: 0.01,
          deadlineSeconds: 5
        },
        { pair, appliance: "B" }
      )
      const report = yield* run(world, [gate, wait], { "pair/switch": Fake.approve() })
      // the gate does not fail while the record propagates; the wait holds once B answers
      expect(report.status).toBe("succeeded")
      expect(report.steps[0]!.evidence["servedBy"]).toBe("A")
      expect(report.steps[1]!.polls).toBeGreaterThan(1)
      expect(report.steps[1]!.evidence["servedBy"]).toBe("B")
    })
  )

  it.live("SWITCH-2: an automated DNS adapter plugs in through the TrafficSwitch port", () =>
    Effect.gen(function* () {
      const world = new Fake.FakeWorld()
      const gate = switchGate(pairOf("{ method: dns, ttlSeconds: 0 }"), "dns")
      const automated = Layer.effect(
        TrafficSwitch.TrafficSwitch,
        Effect.map(TrafficSwitch.TrafficSwitch, (manual) =>
          TrafficSwitch.TrafficSwitch.of({
            ...manual,
            apply: (_pair, _from, to) =>
              Effect.sync(() => {
                world.siteTarget = to.id // the DNS API call
                return { automated: true }
              })
          })
        )
      ).pipe(Layer.provide(TrafficSwitch.layer), Layer.provide(Fake.layer(world)))
      const report = yield* Executor.run(Fake.plan([gate])).pipe(
        Effect.provide(Fake.executor(world, { "pair/switch": Fake.approve() }, undefined, automated))
      )
      expect(report.status).toBe("succeeded")
      expect(report.steps[0]!.evidence).toMatchObject({ automated: true, servedBy: "B" })
    })
  )
  it.live("SWITCH-1: a switch naming an appliance outside the pair fails with BadParams on that field", () =>
    Effect.gen(function* () {
      const good = switchGate(pairOf(), "move")
      const bad = new Plan.ManualGate({ ...good, params: { ...good.params, to: "Z" } })
      const decoded = FailoverSteps.Switched.decodeParams(bad)
      expect(Either.isLeft(decoded) && decoded.left.reason).toMatchObject({
        _tag: "BadParams",
        handler: FailoverSteps.Switched.name,
        field: "to"
      })
      const report = yield* run(new Fake.FakeWorld(), [bad], { "pair/switch": Fake.approve() })
      expect(report.status).toBe("failed")
      expect(report.error).toMatch(/Step parameter "to" of failover\/switched: Z is not an appliance of the pair/)
    })
  )

  it.live("VERIFY-3: the hosts-override approval must give the planned console version, else the gate stays open", () =>
    Effect.gen(function* () {
      const world = new Fake.FakeWorld()
      world.get("B").version = "25.1.1"
      const gate = FailoverSteps.VerifyAsSite.gate(
        {
          id: "pair/hosts-override",
          title: "hosts override",
          rules: ["VERIFY-3"],
          estimatedSeconds: 1,
          instructions: ["check"]
        },
        { appliance: "B", url: "https://10.0.0.12", hostname: "support.example.test", version: "25.1.1" }
      )
      expect(gate.evidence.find((f) => f.name === "consoleVersion")).toMatchObject({
        format: "version",
        expected: "25.1.1"
      })
      const answer = (consoleVersion: string) => () =>
        new Operator.Approved({
          by: "test",
          evidence: { machine1: "pc-1", machine2: "pc-2", consoleVersion, session: "jump-test" }
        })
      const wrong = yield* run(world, [gate], { "pair/hosts-override": answer("24.1.3") })
      expect(wrong.status).toBe("waiting-for-operator")
      expect(wrong.steps[0]!.status).not.toBe("succeeded")
      const right = yield* run(world, [gate], { "pair/hosts-override": answer("25.1.1") })
      expect(right.status).toBe("succeeded")
      expect(right.steps[0]!.evidence).toMatchObject({ probeStatus: 200, version: "25.1.1" })
    })
  )

  it.live("PAIR-1: the availability check reports the prober's figures; without a prober it warns", () =>
    Effect.gen(function* () {
      const check = FailoverSteps.Availability.check(
        { id: "pair/availability", title: "availability", rules: ["PAIR-1"], estimatedSeconds: 1 },
        {}
      )
      const options = { url: "https://site", intervalMillis: 1000 }
      const stats = SiteProber.fromProbes(options, [
        { at: 0, ok: true, detail: "HTTP 200" },
        { at: 1000, ok: false, detail: "HTTP 503" },
        { at: 2000, ok: false, detail: "HTTP 503" },
        { at: 3000, ok: true, detail: "HTTP 200" }
      ])
      const prober = Layer.succeed(SiteProber.SiteProber, { options, snapshot: Effect.succeed(stats), probes: Stream.empty })
      const world = new Fake.FakeWorld()
      const measured = yield* Executor.run(Fake.plan([check])).pipe(Effect.provide(Fake.executor(world, {}, prober)))
      expect(measured.status).toBe("succeeded")
      expect(measured.steps[0]!.evidence["siteProbe"]).toEqual(SiteProber.figures(stats))
      expect(measured.steps[0]!.evidence["siteProbe"]).toMatchObject({
        sent: 4,
        failed: 2,
        unavailableMillis: 2000,
        outages: [{ start: new Date(1000).toISOString(), end: new Date(3000).toISOString(), failedProbes: 2 }]
      })
      const unmeasured = yield* run(world, [check], {})
      expect(unmeasured.status).toBe("succeeded")
      expect(unmeasured.steps[0]!.warnings.join(" ")).toMatch(/No site prober ran/)
    })
  )
})
