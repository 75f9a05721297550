import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { Operator, Plan, StepHandler } from "@sra-upgrade/core"
import { FakeAppliance } from "@sra-upgrade/core/test"
import * as FailoverSteps from "../src/FailoverSteps.js"
import * as Pair from "../src/Pair.js"
import * as SiteProber from "../src/SiteProber.js"
import * as TrafficSwitch from "../src/TrafficSwitch.js"
import * as Support from "./support.js"

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
  const pair = Pair.fromSite(Support.site(traffic), { siteUrl: "https://site", siteClientId: "site" })
  if (Either.isLeft(pair)) throw new Error(pair.left.message)
  return pair.right
}
const switchGate = (pair: Pair.Pair, title: string) =>
  FailoverSteps.Switched.gate(
    { id: "pair/switch", title, rules: ["SWITCH-1"], estimatedSeconds: 1, instructions: [title] },
    { pair, from: "A", to: "B" }
  )

/** `a` (the primary) reports a sync with `status`, dated `delayMs` after the answer that calls this. */
const syncAt =
  (a: FakeAppliance.State, status: string, delayMs = 5) =>
  (now: Date) => {
    a.lastDataSync = new Date(now.getTime() + delayMs)
    a.lastDataSyncStatus = status
  }

/** What breaking the relationship does: both appliances report failover_role none. */
const breakPair = (a: FakeAppliance.State, b: FakeAppliance.State) => () => {
  a.failoverRole = "none"
  b.failoverRole = "none"
}

/** Sync now answered while A's last sync ended `agoMs` before the request, and nothing newer comes. */
const staleSync = (agoMs: number, deadlineSeconds: number) =>
  Effect.gen(function* () {
    const a = yield* Support.state("A")
    a.lastDataSync = new Date((yield* Clock.currentTimeMillis) - agoMs)
    return yield* Support.run([syncNow, syncWait(deadlineSeconds), breakGate], { "pair/sync-now": Support.approve() })
  })

describe("FailoverHandlers", () => {
  it.effect("the registry provides every handler the pair plans name", () =>
    Effect.gen(function* () {
      const registry = yield* StepHandler.StepHandlers
      expect([...registry.names]).toEqual(FailoverSteps.all.map((d) => d.name).sort())
    }).pipe(Effect.provide(Support.handlers()), Effect.provide(Support.fakes()))
  )

  it.effect("PAIR-4: waits for a sync later than the Sync now request, then the break is verified on both", () =>
    Support.withPair(
      Effect.gen(function* () {
        const a = yield* Support.state("A")
        const b = yield* Support.state("B")
        const report = yield* Support.run([syncNow, syncWait(), breakGate], {
          "pair/sync-now": Support.approve(syncAt(a, "success")),
          "pair/break": Support.approve(breakPair(a, b))
        })
        expect(report.status).toBe("succeeded")
        const wait = report.steps.find((s) => s.id === "pair/sync-wait")!
        expect(wait.evidence["status"]).toBe("success")
        expect(report.steps.find((s) => s.id === "pair/break")!.evidence["roles"]).toEqual({ A: "none", B: "none" })
      })
    )
  )

  it.effect("PAIR-4: a sync that finished before the request does not count", () =>
    Support.withPair(
      Effect.gen(function* () {
        const report = yield* staleSync(60_000, 0.1)
        expect(report.status).toBe("failed")
        expect(report.currentStep).toBe("pair/sync-wait")
        expect(report.gates.map((g) => g.stepId)).not.toContain("pair/break")
      })
    )
  )

  it.effect(
    "PAIR-4: a periodic sync already running when Sync now was answered counts once it has finished, even dated by its start",
    () =>
      Support.withPair(
        Effect.gen(function* () {
          const a = yield* Support.state("A")
          const b = yield* Support.state("B")
          const now = yield* Clock.currentTimeMillis
          const previous = new Date(now - 3600_000) // the previous sync, an hour ago
          a.lastDataSync = previous
          const startedAt = new Date(now - 30_000) // the running periodic sync started before the request
          // "A data sync is already running": the person approves; the appliance shows the new sync when it ends
          const fiber = yield* Support.start([syncNow, syncWait(5), breakGate], {
            "pair/sync-now": Support.approve(),
            "pair/break": Support.approve(breakPair(a, b))
          })
          yield* TestClock.adjust("1 second")
          expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true) // still waiting: the running sync has not ended
          a.lastDataSync = startedAt
          a.lastDataSyncStatus = "success"
          yield* TestClock.adjust("1 second")
          const report = yield* Fiber.join(fiber)
          expect(report.status, report.error).toBe("succeeded")
          const wait = report.steps.find((s) => s.id === "pair/sync-wait")!
          expect(wait.evidence["lastDataSync"]).toBe(startedAt.toISOString())
          expect(wait.evidence["lastDataSyncWhenAnswered"]).toBe(previous.toISOString())
        })
      )
  )

  it.effect("PAIR-4: a sync that ended before the answer and is dated before the request still does not count", () =>
    Support.withPair(
      Effect.gen(function* () {
        const report = yield* staleSync(30_000, 0.2)
        expect(report.status).toBe("failed")
        expect(report.currentStep).toBe("pair/sync-wait")
      })
    )
  )

  it.effect("PAIR-4: the request time is compared in the appliance's clock (PREP-8 skew)", () =>
    Support.withPair(
      Effect.gen(function* () {
        const a = yield* Support.state("A")
        a.clockOffsetMillis = -120_000 // appliance two minutes behind: its timestamps look old
        const report = yield* Support.run([syncNow, syncWait()], {
          "pair/sync-now": Support.approve(syncAt(a, "success"))
        })
        expect(report.status).toBe("succeeded")
        expect(report.steps[1]!.evidence["applianceClockSkewSeconds"]).toBe(-120)
      })
    )
  )

  it.effect("PAIR-4: a failed sync stops the run before the break, nothing destructive done", () =>
    Support.withPair(
      Effect.gen(function* () {
        const a = yield* Support.state("A")
        const report = yield* Support.run([syncNow, syncWait(5), breakGate], {
          "pair/sync-now": Support.approve(syncAt(a, "failed: peer unreachable")),
          "pair/break": Support.approve()
        })
        expect(report.status).toBe("failed")
        expect(report.error).toMatch(/do NOT break/)
        expect(report.gates.map((g) => g.stepId)).toEqual(["pair/sync-now"])
        expect(a.failoverRole).toBe("primary")
      })
    )
  )

  it.effect("PAIR-4: approving the break gate without breaking fails the step", () =>
    Support.withPair(
      Effect.gen(function* () {
        const report = yield* Support.run([breakGate], { "pair/break": Support.approve() })
        expect(report.status).toBe("failed")
        expect(report.error).toMatch(/not broken: A is primary/)
      })
    )
  )

  it.effect("PAIR-8: restored only after the first successful sync after establishing", () =>
    Effect.gen(function* () {
      /** A broken pair re-established with B as primary by `establishB`, then the first sync awaited. */
      const attempt = (establishB: (a: FakeAppliance.State, b: FakeAppliance.State, now: Date) => void) =>
        Support.withPair(
          Effect.gen(function* () {
            const a = yield* Support.state("A")
            const b = yield* Support.state("B")
            breakPair(a, b)()
            return yield* Support.run([establish("B", "A"), syncWait(0.1, "pair/establish", "B")], {
              "pair/establish": Support.approve((now) => {
                b.failoverRole = "primary"
                a.failoverRole = "backup"
                establishB(a, b, now)
              })
            })
          })
        )
      const noSync = yield* attempt((_a, b) => {
        b.lastDataSync = new Date(0) // an old sync from another life does not count
        b.lastDataSyncStatus = "success"
      })
      expect(noSync.status).toBe("failed")
      expect(noSync.currentStep).toBe("pair/first-sync")
      const ok = yield* attempt((_a, b, now) => syncAt(b, "success")(now))
      expect(ok.status).toBe("succeeded")
      expect(ok.steps[0]!.evidence["roles"]).toEqual({ B: "primary", A: "backup" })
    })
  )

  it.effect("PAIR-7: the establish gate is verified by the roles, and re-verified on resume", () =>
    Support.withPair(
      Effect.gen(function* () {
        breakPair(yield* Support.state("A"), yield* Support.state("B"))()
        const wrong = yield* Support.run([establish("A", "B")], { "pair/establish": Support.approve() })
        expect(wrong.status).toBe("failed")
        expect(wrong.error).toMatch(/PAIR-7/)
      })
    )
  )

  it.effect("PAIR-1: the time without failover protection is reported from the run history", () =>
    Support.withPair(
      Effect.gen(function* () {
        const a = yield* Support.state("A")
        const b = yield* Support.state("B")
        const protection = FailoverSteps.Protection.check(
          { id: "pair/protection", title: "unprotected", rules: ["PAIR-1"], estimatedSeconds: 1 },
          { from: "pair/break", to: "pair/first-sync", maxSeconds: 3600 }
        )
        const tooShort = FailoverSteps.Protection.check(
          { id: "pair/protection-2", title: "unprotected", rules: ["PAIR-1"], estimatedSeconds: 1 },
          { from: "pair/break", to: "pair/first-sync", maxSeconds: -1 }
        )
        const report = yield* Support.run(
          [syncNow, syncWait(), breakGate, establish("A", "B"), syncWait(2, "pair/establish"), protection, tooShort],
          {
            "pair/sync-now": Support.approve(syncAt(a, "success")),
            "pair/break": Support.approve(breakPair(a, b)),
            "pair/establish": Support.approve((now) => {
              a.failoverRole = "primary"
              b.failoverRole = "backup"
              syncAt(a, "success", 20)(now)
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
  )

  it.effect("VERIFY-3: B is probed on its unique address with the site host name", () =>
    Support.withPair(
      Effect.gen(function* () {
        const fakes = yield* FakeAppliance.FakeAppliances
        const b = yield* Support.state("B")
        b.version = "25.1.1"
        const check = FailoverSteps.VerifyAsSite.check(
          { id: "pair/verify-as-site", title: "as site", rules: ["VERIFY-3"], estimatedSeconds: 1 },
          { appliance: "B", url: "https://10.0.0.12", hostname: "support.example.test", version: "25.1.1" }
        )
        const ok = yield* Support.run([check], {})
        expect(ok.status).toBe("succeeded")
        expect(fakes.probeCalls).toContainEqual({ url: "https://10.0.0.12", hostname: "support.example.test" })
        // the probe reaches B, not the site (A): B failing it fails the check
        b.probe = { status: 503, body: "" }
        const refused = yield* Support.run([check], {})
        expect(refused.status).toBe("failed")
        expect(refused.error).toMatch(/B does not pass the health probe as support.example.test .*HTTP 503/)
        b.probe = undefined
        b.version = "24.1.3"
        const bad = yield* Support.run([check], {})
        expect(bad.status).toBe("failed")
        expect(bad.error).toMatch(/do not switch\. Rollback: production stays/)
      })
    )
  )

  it.effect("SWITCH-1: the shared-IP gate fails while A still holds the IP; passes when only B does", () =>
    Support.withPair(
      Effect.gen(function* () {
        const fakes = yield* FakeAppliance.FakeAppliances
        const a = yield* Support.state("A")
        const b = yield* Support.state("B")
        fakes.site.sharedIp = Support.SHARED_IP // the site address follows the shared IP
        const gate = switchGate(pairOf(), "move")
        breakPair(a, b)()
        const half = yield* Support.run([gate], {
          "pair/switch": Support.approve(() => b.enabledSharedIps.push(Support.SHARED_IP))
        })
        expect(half.status).toBe("failed")
        expect(half.error).toMatch(/A still has shared IP 10.0.0.10 enabled/)
        a.enabledSharedIps = []
        const done = yield* Support.run([gate], { "pair/switch": Support.approve() })
        expect(done.status).toBe("succeeded")
        expect(done.steps[0]!.evidence["servedBy"]).toBe("B")
        expect(done.steps[0]!.evidence["sharedIpHolders"]).toEqual(["B"])
      })
    )
  )

  it.effect("SWITCH-2: after the DNS gate the run waits until the site answers from B", () =>
    Support.withPair(
      Effect.gen(function* () {
        const fakes = yield* FakeAppliance.FakeAppliances
        const pair = pairOf("{ method: dns, ttlSeconds: 60 }")
        const gate = switchGate(pair, "dns")
        expect(gate.evidence.map((e) => e.name)).toEqual(["dnsChange"])
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
        const fiber = yield* Support.start([gate, wait], { "pair/switch": Support.approve() })
        yield* TestClock.adjust("50 millis") // a few polls: the record still points at A
        expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
        fakes.site.target = "B" // the record propagates
        yield* TestClock.adjust("1 second")
        const report = yield* Fiber.join(fiber)
        // the gate does not fail while the record propagates; the wait holds once B answers
        expect(report.status).toBe("succeeded")
        expect(report.steps[0]!.evidence["servedBy"]).toBe("A")
        expect(report.steps[1]!.polls).toBeGreaterThan(1)
        expect(report.steps[1]!.evidence["servedBy"]).toBe("B")
      })
    )
  )

  it.effect("SWITCH-2: an automated DNS adapter plugs in through the TrafficSwitch port", () =>
    Support.withPair(
      Effect.gen(function* () {
        const fakes = yield* FakeAppliance.FakeAppliances
        const gate = switchGate(pairOf("{ method: dns, ttlSeconds: 0 }"), "dns")
        const automated = Layer.effect(
          TrafficSwitch.TrafficSwitch,
          Effect.map(TrafficSwitch.TrafficSwitch, (manual) =>
            TrafficSwitch.TrafficSwitch.of({
              ...manual,
              apply: (_pair, _from, to) =>
                Effect.sync(() => {
                  fakes.site.target = to.id // the DNS API call
                  return { automated: true }
                })
            })
          )
        ).pipe(Layer.provide(TrafficSwitch.layer))
        const report = yield* Support.run([gate], { "pair/switch": Support.approve() }, { trafficSwitch: automated })
        expect(report.status).toBe("succeeded")
        expect(report.steps[0]!.evidence).toMatchObject({ automated: true, servedBy: "B" })
      })
    )
  )

  it.effect("SWITCH-1: a switch naming an appliance outside the pair fails with BadParams on that field", () =>
    Support.withPair(
      Effect.gen(function* () {
        const good = switchGate(pairOf(), "move")
        const bad = new Plan.ManualGate({ ...good, params: { ...good.params, to: "Z" } })
        const decoded = FailoverSteps.Switched.decodeParams(bad)
        expect(Either.isLeft(decoded) && decoded.left.reason).toMatchObject({
          _tag: "BadParams",
          handler: FailoverSteps.Switched.name,
          field: "to"
        })
        const report = yield* Support.run([bad], { "pair/switch": Support.approve() })
        expect(report.status).toBe("failed")
        expect(report.error).toMatch(/Step parameter "to" of failover\/switched: Z is not an appliance of the pair/)
      })
    )
  )

  it.effect(
    "VERIFY-3: the hosts-override approval must give the planned console version, else the gate stays open",
    () =>
      Support.withPair(
        Effect.gen(function* () {
          const b = yield* Support.state("B")
          b.version = "25.1.1"
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
          const wrong = yield* Support.run([gate], { "pair/hosts-override": answer("24.1.3") })
          expect(wrong.status).toBe("waiting-for-operator")
          expect(wrong.steps[0]!.status).not.toBe("succeeded")
          const right = yield* Support.run([gate], { "pair/hosts-override": answer("25.1.1") })
          expect(right.status).toBe("succeeded")
          expect(right.steps[0]!.evidence).toMatchObject({ probeStatus: 200, version: "25.1.1" })
        })
      )
  )

  it.effect("PAIR-1: the availability check reports the prober's figures; without a prober it warns", () =>
    Support.withPair(
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
        const prober = Layer.succeed(SiteProber.SiteProber, {
          options,
          snapshot: Effect.succeed(stats),
          probes: Stream.empty
        })
        const measured = yield* Support.run([check], {}, { prober })
        expect(measured.status).toBe("succeeded")
        expect(measured.steps[0]!.evidence["siteProbe"]).toEqual(SiteProber.figures(stats))
        expect(measured.steps[0]!.evidence["siteProbe"]).toMatchObject({
          sent: 4,
          failed: 2,
          unavailableMillis: 2000,
          outages: [{ start: new Date(1000).toISOString(), end: new Date(3000).toISOString(), failedProbes: 2 }]
        })
        const unmeasured = yield* Support.run([check], {})
        expect(unmeasured.status).toBe("succeeded")
        expect(unmeasured.steps[0]!.warnings.join(" ")).toMatch(/No site prober ran/)
      })
    )
  )
})
