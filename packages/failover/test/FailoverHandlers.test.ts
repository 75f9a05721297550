import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Executor, Plan, StepHandler } from "@sra-upgrade/core"
import * as Pair from "../src/Pair.js"
import * as PairPlan from "../src/PairPlan.js"
import { handlers } from "../src/PairPlan.js"
import * as TrafficSwitch from "../src/TrafficSwitch.js"
import * as Fake from "./fake.js"

const R = (...ids: Array<string>) => ids.map((i) => Plan.RuleId.make(i))

const syncNow = new Plan.ManualGate({
  id: "pair/sync-now",
  title: "Sync now",
  rules: R("PAIR-4"),
  estimatedSeconds: 1,
  handler: handlers.syncRequested,
  params: { appliance: "A" },
  idempotent: true,
  instructions: ["Sync now"]
})
const syncWait = (deadlineSeconds = 0.2, since = "pair/sync-now", appliance = "A") =>
  new Plan.WaitFor({
    id: since === "pair/sync-now" ? "pair/sync-wait" : "pair/first-sync",
    title: "wait",
    rules: R("PAIR-4"),
    estimatedSeconds: 1,
    handler: handlers.awaitSync,
    params: { appliance, since },
    idempotent: true,
    intervalSeconds: 0.01,
    deadlineSeconds
  })
const breakGate = new Plan.ManualGate({
  id: "pair/break",
  title: "Break",
  rules: R("PAIR-4"),
  estimatedSeconds: 1,
  handler: handlers.broken,
  params: { appliances: ["A", "B"] },
  idempotent: true,
  instructions: ["Break"]
})
const establish = (primary: string, backup: string) =>
  new Plan.ManualGate({
    id: "pair/establish",
    title: "Establish",
    rules: R("PAIR-7"),
    estimatedSeconds: 1,
    handler: handlers.established,
    params: { primary, backup },
    idempotent: false,
    instructions: ["Establish"]
  })

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
      expect([...registry.names]).toEqual([...PairPlan.handlerNames].sort())
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

  it.live(
    "PAIR-4: a periodic sync already running when Sync now was answered counts once it has finished, even dated by its start",
    () =>
      Effect.gen(function* () {
        const world = new Fake.FakeWorld()
        const a = world.get("A")
        const previous = new Date(Date.now() - 3600_000) // the previous sync, an hour ago
        a.lastSync = previous
        const startedAt = new Date(Date.now() - 30_000) // the running periodic sync started before the request
        const report = yield* run(world, [syncNow, syncWait(5), breakGate], {
          // "A data sync is already running": the person approves; the appliance shows the new sync when it ends
          "pair/sync-now": Fake.approve(() => {
            setTimeout(() => {
              a.lastSync = startedAt
              a.lastSyncStatus = "success"
            }, 30)
          }),
          "pair/break": Fake.approve(() => {
            world.get("A").role = "none"
            world.get("B").role = "none"
          })
        })
        expect(report.status, report.error).toBe("succeeded")
        const wait = report.steps.find((s) => s.id === "pair/sync-wait")!
        expect(wait.evidence["lastDataSync"]).toBe(startedAt.toISOString())
        expect(wait.evidence["lastDataSyncWhenAnswered"]).toBe(previous.toISOString())
      })
  )

  it.live("PAIR-4: a sync that ended before the answer and is dated before the request still does not count", () =>
    Effect.gen(function* () {
      const world = new Fake.FakeWorld()
      world.get("A").lastSync = new Date(Date.now() - 30_000)
      const report = yield* run(world, [syncNow, syncWait(0.2), breakGate], { "pair/sync-now": Fake.approve() })
      expect(report.status).toBe("failed")
      expect(report.currentStep).toBe("pair/sync-wait")
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

  it.live("PAIR-1: the time without failover protection is reported from the journal", () =>
    Effect.gen(function* () {
      const world = new Fake.FakeWorld()
      const protection = new Plan.Check({
        id: "pair/protection",
        title: "unprotected",
        rules: R("PAIR-1"),
        estimatedSeconds: 1,
        handler: handlers.protection,
        params: { from: "pair/break", to: "pair/first-sync", maxSeconds: 3600 },
        idempotent: true,
        severity: "advisory"
      })
      const tooShort = new Plan.Check({
        ...protection,
        id: "pair/protection-2",
        params: { from: "pair/break", to: "pair/first-sync", maxSeconds: -1 }
      })
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
      const check = new Plan.Check({
        id: "pair/verify-as-site",
        title: "as site",
        rules: R("VERIFY-3"),
        estimatedSeconds: 1,
        handler: handlers.verifyAsSite,
        params: { appliance: "B", url: "https://10.0.0.12", hostname: "support.example.test", version: "25.1.1" },
        idempotent: true,
        severity: "blocking"
      })
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
      const site = Fake.site()
      const pair = Schema.encodeSync(Pair.Pair)(
        Pair.fromSite(site, { siteUrl: "https://site", siteClientId: "site" }).pipe((e) => {
          if (e._tag === "Left") throw e.left
          return e.right
        })
      )
      const gate = new Plan.ManualGate({
        id: "pair/switch",
        title: "switch",
        rules: R("SWITCH-1"),
        estimatedSeconds: 1,
        handler: handlers.switched,
        params: { pair, from: "A", to: "B" },
        idempotent: true,
        instructions: ["move"]
      })
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
      const pair = Schema.encodeSync(Pair.Pair)(
        Pair.fromSite(Fake.site("{ method: dns, ttlSeconds: 60 }"), {
          siteUrl: "https://site",
          siteClientId: "site"
        }).pipe((e) => {
          if (e._tag === "Left") throw e.left
          return e.right
        })
      )
      const world = new Fake.FakeWorld()
      const gate = new Plan.ManualGate({
        id: "pair/switch",
        title: "dns",
        rules: R("SWITCH-2"),
        estimatedSeconds: 1,
        handler: handlers.switched,
        params: { pair, from: "A", to: "B" },
        idempotent: true,
        instructions: ["dns"],
        evidence: [new Plan.EvidenceField({ name: "dnsChange", description: "ticket" })]
      })
      let probes = 0
      world.onProbe = () => {
        probes++
        if (probes > 3) world.siteTarget = "B" // the record propagates after a few polls
      }
      const wait = new Plan.WaitFor({
        id: "pair/switch-settled",
        title: "settle",
        rules: R("SWITCH-2"),
        estimatedSeconds: 1,
        handler: handlers.servedBy,
        params: { pair, appliance: "B" },
        idempotent: true,
        intervalSeconds: 0.01,
        deadlineSeconds: 5
      })
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
      const pair = Schema.encodeSync(Pair.Pair)(
        Pair.fromSite(Fake.site("{ method: dns, ttlSeconds: 0 }"), {
          siteUrl: "https://site",
          siteClientId: "site"
        }).pipe((e) => {
          if (e._tag === "Left") throw e.left
          return e.right
        })
      )
      const gate = new Plan.ManualGate({
        id: "pair/switch",
        title: "dns",
        rules: R("SWITCH-2"),
        estimatedSeconds: 1,
        handler: handlers.switched,
        params: { pair, from: "A", to: "B" },
        idempotent: true,
        instructions: ["dns"]
      })
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
})
