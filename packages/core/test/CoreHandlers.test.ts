import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as CoreHandlers from "../src/CoreHandlers.js"
import * as Executor from "../src/Executor.js"
import * as Journal from "../src/Journal.js"
import * as Operator from "../src/Operator.js"
import type * as Plan from "../src/Plan.js"
import * as Rehearsal from "../src/Rehearsal.js"
import * as Site from "../src/Site.js"
import * as SingleUpgrade from "../src/SingleUpgrade.js"
import * as StepHandler from "../src/StepHandler.js"
import { FakeAppliance } from "./fixtures/fakeAppliance.js"

const tmp = () => mkdtempSync(join(tmpdir(), "sra-core-handlers-"))

const site = (dir: string, jumpClients = true) =>
  Schema.decodeUnknownSync(Site.Site)({
    hostname: "support.example.com",
    product: "pra",
    appliances: [
      {
        id: "A",
        role: "none",
        apiUrl: "https://10.0.0.11",
        uniqueIp: "10.0.0.11",
        clientId: "abc",
        clientSecret: { env: "X" },
        baseVersion: "6.1.0"
      }
    ],
    backup: { directory: join(dir, "backups"), password: { env: "PW" } },
    licences: { technicians: 1 },
    clients: {
      ...(jumpClients ? { jumpClients: { active: 3, passive: 2, bandwidthMiBps: 10, maxConcurrent: 5 } } : {}),
      jumpoints: 1,
      certificateStores: [{ name: "GPO", managed: true, current: true }]
    },
    updates: [
      { id: "base-6.2.1", kind: "base", version: "6.2.1" },
      { id: "site-24.3.2", kind: "site", version: "24.3.2", requires: ["base-6.2.1"] }
    ]
  })

const planFor = (dir: string, target: string, options: Partial<SingleUpgrade.Options> = {}) => {
  const r = SingleUpgrade.planSingleUpgrade(site(dir), target, {
    current: { product: "24.1.3" },
    pollIntervalSeconds: 1,
    ...options
  })
  if (Either.isLeft(r)) throw new Error(r.left.message)
  return r.right
}

/** The handler registry over a fake appliance. */
const handlersOf = (fake: FakeAppliance, config: CoreHandlers.Config = {}) =>
  Effect.provide(CoreHandlers.make(config), fake.layer())

const ctx = (step: Plan.Step, plan: Plan.Plan, runId = "run-1"): StepHandler.StepContext => ({
  runId,
  plan,
  step,
  attempt: 1
})

const stepOf = (plan: Plan.Plan, id: string) => plan.steps.find((s) => s.id === id)!

const reasonOf = (e: StepHandler.HandlerError) => (e instanceof StepHandler.StepError ? e.reason._tag : e.reason._tag)

describe("CoreHandlers", () => {
  it.effect("registers a handler for every core/ name the planner uses", () =>
    Effect.gen(function* () {
      const hs = yield* handlersOf(new FakeAppliance())
      expect(Object.keys(hs).sort()).toEqual([...SingleUpgrade.handlerNames].sort())
    })
  )

  it.effect("PREP-8: a clock off by more than the bound fails with the NTP hint; within it passes", () =>
    Effect.gen(function* () {
      const dir = tmp()
      const plan = planFor(dir, "24.3.2", { maxClockSkewSeconds: 60 })
      const fake = new FakeAppliance()
      const hs = yield* handlersOf(fake)
      const step = stepOf(plan, "A/check-clock")
      fake.skewMillis = 30_000
      const ok = yield* hs["core/check-clock-skew"]!.run!(ctx(step, plan))
      expect(ok["skewSeconds"]).toBe(30)
      fake.skewMillis = -301_000
      const bad = yield* Effect.flip(hs["core/check-clock-skew"]!.run!(ctx(step, plan)))
      expect(bad.message).toMatch(/off by -301 s.*NTP.*PREP-8/)
    })
  )

  it.effect("checks the API account's permissions, naming what is missing", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const fake = new FakeAppliance()
      const hs = yield* handlersOf(fake)
      const step = stepOf(plan, "A/check-api")
      const ok = yield* hs["core/check-api-access"]!.run!(ctx(step, plan))
      expect(ok["version"]).toBe("24.1.3")
      fake.permissions = { perm_command: "read_only", perm_backup: false, perm_configuration: true }
      const bad = yield* Effect.flip(hs["core/check-api-access"]!.run!(ctx(step, plan)))
      expect(bad.message).toMatch(/lacks perm_backup/)
    })
  )

  it.effect("SINGLE-2: the version-path check fails when the appliance no longer runs the planned version", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const fake = new FakeAppliance()
      const hs = yield* handlersOf(fake)
      const step = stepOf(plan, "A/check-version-path")
      expect((yield* hs["core/check-version-path"]!.run!(ctx(step, plan)))["order"]).toEqual([
        "base-6.2.1",
        "site-24.3.2"
      ])
      fake.version = "24.2.0"
      const bad = yield* Effect.flip(hs["core/check-version-path"]!.run!(ctx(step, plan)))
      expect(bad.message).toMatch(/runs 24.2.0.*plan again/)
    })
  )

  it.effect("PREP-1: the backup evidence is its size and SHA-256; the password is passed, and required", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const fake = new FakeAppliance()
      const step = stepOf(plan, "A/backup")
      const without = yield* handlersOf(fake)
      const refused = yield* Effect.flip(without["core/download-backup"]!.run!(ctx(step, plan)))
      expect(refused.message).toMatch(/protects its backups with a password.*backupPassword/)
      expect(fake.calls).not.toContain("downloadBackup")
      const hs = yield* handlersOf(fake, { backupPassword: Redacted.make("pw") })
      const ev = yield* hs["core/download-backup"]!.run!(ctx(step, plan))
      expect(ev["bytes"]).toBeGreaterThan(0)
      expect(ev["sha256"]).toMatch(/^[0-9a-f]{64}$/)
      expect(ev["passwordProtected"]).toBe(true)
      expect(fake.backupPasswords).toEqual(["pw"])
    })
  )

  it.effect("PREP-1: a long backup publishes its bytes so far about once a second while it downloads", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const fake = new FakeAppliance()
      fake.backupTicks = [0, 300, 300, 700, 1000]
      const hs = yield* handlersOf(fake, { backupPassword: Redacted.make("pw") })
      const updates: Array<StepHandler.Progress> = []
      const step = stepOf(plan, "A/backup")
      const fiber = yield* Effect.fork(
        hs["core/download-backup"]!.run!({
          ...ctx(step, plan),
          progress: (u) => Effect.sync(() => void updates.push(u))
        })
      )
      yield* TestClock.adjust("10 seconds")
      const ev = yield* Fiber.join(fiber)
      expect(ev["bytes"]).toBeGreaterThan(0)
      // at most one report per second of a 5-second download, only when the count moved, always with the total
      expect(updates.length).toBeGreaterThanOrEqual(2)
      expect(updates.length).toBeLessThanOrEqual(6)
      expect(updates.every((u, i) => i === 0 || u.done > updates[i - 1]!.done)).toBe(true)
      expect(updates.every((u) => [300, 700, 1000].includes(u.done) && u.total === 1000 && u.unit === "bytes")).toBe(
        true
      )
    })
  )

  it.effect("PREP-4 LICENSE-1: the disconnect report names the users and counts sessions against the seats", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const fake = new FakeAppliance()
      const hs = yield* handlersOf(fake)
      const ev = yield* hs["core/report-disconnects"]!.run!(ctx(stepOf(plan, "A/report-disconnects"), plan))
      expect(ev["users"]).toEqual(["Alice Martin", "Bob Durand"])
      expect(ev["sessionCount"]).toBe(2)
      expect(String(ev["summary"])).toMatch(/LICENSE-1: 2 of 1 .*over the licence count/)
    })
  )

  it.effect("SINGLE-1: the install wait holds only when healthy on the target version (and build)", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const fake = new FakeAppliance()
      const hs = yield* handlersOf(fake)
      const c = ctx(stepOf(plan, "A/await-site-24.3.2"), plan)
      const poll = hs["core/await-install"]!.poll!
      expect((yield* poll(c)).holds).toBe(false)
      fake.down = true
      const down = yield* Effect.flip(poll(c))
      expect(reasonOf(down)).toBe("Transport") // the executor treats it as "not yet"
      fake.down = false
      fake.version = "24.3.2"
      fake.healthy = false
      fake.errorMessage = "Starting services"
      expect((yield* poll(c)).holds).toBe(false)
      fake.healthy = true
      fake.errorMessage = undefined
      const done = yield* poll(c)
      expect(done.holds).toBe(true)
      expect(done.evidence?.["version"]).toBe("24.3.2")
    })
  )

  it.effect(
    "PREP-6: a base install whose health reports a failure halts with BaseUpdateFailed; progress does not",
    () =>
      Effect.gen(function* () {
        const plan = planFor(tmp(), "24.3.2")
        const fake = new FakeAppliance()
        const hs = yield* handlersOf(fake)
        const c = ctx(stepOf(plan, "A/await-base-6.2.1"), plan)
        const poll = hs["core/await-install"]!.poll!
        fake.healthy = false
        fake.errorMessage = "Installing update base-6.2.1; the site is unavailable."
        expect((yield* poll(c)).holds).toBe(false)
        fake.errorMessage =
          "The base software update base-6.2.1 failed. Do not reboot the appliance: contact BeyondTrust Technical Support."
        const e = yield* Effect.flip(poll(c))
        expect(reasonOf(e)).toBe("BaseUpdateFailed")
        expect(e.message).toMatch(/Do NOT reboot/)
        // the call log holds reads only
        expect(new Set(fake.calls)).toEqual(new Set(["health"]))
      })
  )

  it.live("PREP-6: a failed base update halts the executor in halted-needs-support; nothing runs after it", () =>
    Effect.gen(function* () {
      const dir = tmp()
      const plan = planFor(dir, "24.3.2")
      const fake = new FakeAppliance()
      const operator = Operator.layerPrompt((request) =>
        Effect.sync(() => {
          if (request.step.id === "A/install-base-6.2.1") {
            // installing first, then the failure while the run waits
            fake.healthy = false
            fake.errorMessage = "Installing update base-6.2.1; the site is unavailable."
            setTimeout(() => {
              fake.errorMessage = "The base software update base-6.2.1 failed. Contact support."
            }, 20)
          }
          return new Operator.Approved({
            by: "test",
            evidence: Object.fromEntries(request.evidence.map((e) => [e.name, "x"]))
          })
        })
      )
      const exec = Executor.layer.pipe(
        Layer.provide(
          Layer.mergeAll(
            CoreHandlers.layer({ backupPassword: Redacted.make("pw") }).pipe(Layer.provide(fake.layer())),
            operator,
            Journal.layerMemory
          )
        )
      )
      const report = yield* Executor.run(plan).pipe(Effect.provide(exec))
      expect(report.status).toBe("halted-needs-support")
      expect(report.currentStep).toBe("A/await-base-6.2.1")
      expect(report.steps.find((s) => s.id === "A/await-base-6.2.1")!.polls).toBeGreaterThanOrEqual(1)
      const after = report.steps.slice(report.steps.findIndex((s) => s.id === "A/await-base-6.2.1") + 1)
      expect(after.every((s) => s.status === "pending")).toBe(true)
    })
  )

  it.effect("a base install without an observed disruption holds only after the grace period", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const fake = new FakeAppliance()
      const hs = yield* handlersOf(fake, { baseGraceSeconds: 120 })
      const c = ctx(stepOf(plan, "A/await-base-6.2.1"), plan)
      const poll = hs["core/await-install"]!.poll!
      expect((yield* poll(c)).holds).toBe(false)
      yield* TestClock.adjust(Duration.seconds(60))
      expect((yield* poll(c)).holds).toBe(false)
      yield* TestClock.adjust(Duration.seconds(61))
      const done = yield* poll(c)
      expect(done.holds).toBe(true)
      expect(done.evidence?.["disruptionSeen"]).toBe(false)
      // with a disruption (the appliance went away), the first healthy answer holds
      const c2 = ctx(stepOf(plan, "A/await-base-6.2.1"), plan, "run-2")
      fake.down = true
      yield* Effect.flip(poll(c2))
      fake.down = false
      expect((yield* poll(c2)).holds).toBe(true)
    })
  )

  it.effect("VERIFY-1: the verification fails on an unhealthy appliance or another version", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const fake = new FakeAppliance()
      const hs = yield* handlersOf(fake)
      const c = ctx(stepOf(plan, "A/verify"), plan)
      const wrong = yield* Effect.flip(hs["core/verify-version"]!.run!(c))
      expect(wrong.message).toMatch(/reports 24.1.3.*not 24.3.2/)
      fake.version = "24.3.2"
      fake.healthy = false
      expect((yield* Effect.flip(hs["core/verify-version"]!.run!(c))).message).toMatch(/unhealthy/)
      fake.healthy = true
      expect((yield* hs["core/verify-version"]!.run!(c))["version"]).toBe("24.3.2")
    })
  )

  it.effect("VERIFY-2: the console check gate verifies the appliance serves the new version", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const fake = new FakeAppliance()
      const hs = yield* handlersOf(fake)
      const c = ctx(stepOf(plan, "A/verify-console"), plan)
      expect(Either.isLeft(yield* Effect.either(hs["core/confirm-console-check"]!.run!(c)))).toBe(true)
      fake.version = "24.3.2"
      expect((yield* hs["core/confirm-console-check"]!.run!(c))["version"]).toBe("24.3.2")
    })
  )

  it.effect("CLIENT-10: the Jump Client wait counts needs_update against the threshold", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const fake = new FakeAppliance()
      const hs = yield* handlersOf(fake)
      const c = ctx(stepOf(plan, "A/jump-clients"), plan)
      fake.jumpClients = [
        { connectionType: "active", needsUpdate: true },
        { connectionType: "active", needsUpdate: true },
        { connectionType: "active", needsUpdate: false },
        { connectionType: "passive", needsUpdate: true },
        { connectionType: "passive", needsUpdate: true }
      ]
      const before = yield* hs["core/await-jump-clients"]!.poll!(c)
      expect(before.holds).toBe(false)
      expect(before.observed).toMatchObject({ total: 5, pending: 4, activePending: 2, maxPending: 2 })
      fake.jumpClients = fake.jumpClients.map((j) => (j.connectionType === "active" ? { ...j, needsUpdate: false } : j))
      const after = yield* hs["core/await-jump-clients"]!.poll!(c)
      expect(after.holds).toBe(true)
      expect(after.evidence).toMatchObject({ pending: 2, passivePending: 2 })
    })
  )

  it.effect("CLIENT-9: the Jumpoint report names those not reconnected", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const fake = new FakeAppliance()
      const hs = yield* handlersOf(fake)
      fake.jumpoints = [
        { name: "jp-paris", connected: true },
        { name: "jp-lyon", connected: false }
      ]
      const e = yield* Effect.flip(hs["core/report-jumpoints"]!.run!(ctx(stepOf(plan, "A/jumpoints"), plan)))
      expect(e.message).toMatch(/1 Jumpoint.*jp-lyon/)
    })
  )

  it.effect("a malformed step parameter is a step failure, not a crash", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const hs = yield* handlersOf(new FakeAppliance())
      const step = stepOf(plan, "A/verify")
      const broken = { ...step, params: { appliance: "A" } } as Plan.Step
      const e = yield* Effect.flip(hs["core/verify-version"]!.run!(ctx(broken, plan)))
      expect(e.message).toMatch(/"version" must be a string.*malformed/)
    })
  )

  it.live("PREP-5: a recorded successful run is found by the plan's rehearsal check", () =>
    Effect.gen(function* () {
      const dir = tmp()
      const plan = planFor(dir, "24.3.2")
      const fake = new FakeAppliance()
      fake.jumpoints = [{ name: "jp", connected: true }]
      // the operator "installs" by moving the fake to the package's version
      const operator = Operator.layerPrompt((request) =>
        Effect.sync(() => {
          if (request.step.handler === "core/confirm-install-started" && request.step.params["kind"] === "site")
            fake.version = String(request.step.params["version"])
          if (request.step.handler === "core/confirm-install-started" && request.step.params["kind"] === "base") {
            // the base install makes the appliance unreachable once, then it comes back
            fake.down = true
            setTimeout(() => (fake.down = false), 50)
          }
          return new Operator.Approved({
            by: "test",
            evidence: Object.fromEntries(request.evidence.map((e) => [e.name, "x"]))
          })
        })
      )
      const exec = Executor.layer.pipe(
        Layer.provide(
          Layer.mergeAll(
            CoreHandlers.layer({ backupPassword: Redacted.make("pw") }).pipe(Layer.provide(fake.layer())),
            operator,
            Journal.layerMemory
          )
        )
      )
      const first = yield* Executor.run(plan).pipe(Effect.provide(exec))
      expect(first.status, first.error).toBe("succeeded")
      const rehearsal = first.steps.find((s) => s.id === "A/check-rehearsal")!
      expect(rehearsal.warnings.join(" ")).toMatch(/No successful rehearsal.*PREP-5/)
      const rehearsals = join(dir, "backups", "rehearsals")
      yield* Rehearsal.record(rehearsals, plan, first, "test double")
      // a fresh appliance, the same plan: the check now finds the rehearsal
      const fake2 = new FakeAppliance()
      const hs = yield* handlersOf(fake2)
      const ev = yield* hs["core/check-rehearsal"]!.run!(ctx(stepOf(plan, "A/check-rehearsal"), plan))
      expect(ev).toMatchObject({ rehearsals: 1, lastRunId: first.runId, environment: "test double" })
      // a failed run is not a rehearsal
      const failed = new (first.constructor as typeof first.constructor & (new (a: unknown) => typeof first))({
        ...first,
        status: "failed"
      })
      const refused = yield* Effect.flip(Rehearsal.record(rehearsals, plan, failed))
      expect(refused.reason).toBe("NotSucceeded")
      expect(Option.isSome(Option.fromNullable(ev["fingerprint"]))).toBe(true)
    })
  )
})
