import { describe, expect, it } from "@effect/vitest"
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
import * as ApplianceApi from "../src/ApplianceApi.js"
import * as ApplianceError from "../src/ApplianceError.js"
import * as CoreHandlers from "../src/CoreHandlers.js"
import * as CoreSteps from "../src/CoreSteps.js"
import * as Executor from "../src/Executor.js"
import * as Journal from "../src/Journal.js"
import * as Operator from "../src/Operator.js"
import * as Plan from "../src/Plan.js"
import * as Rehearsal from "../src/Rehearsal.js"
import * as RunEvent from "../src/RunEvent.js"
import * as RunHistory from "../src/RunHistory.js"
import * as Site from "../src/Site.js"
import * as SingleUpgrade from "../src/SingleUpgrade.js"
import * as StepHandler from "../src/StepHandler.js"
import { FakeAppliance } from "../src/test.js"

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

const users = [
  new ApplianceApi.LoggedInUser({ id: "1", displayName: "Alice Martin", type: "normal", sessionCount: 2 }),
  new ApplianceApi.LoggedInUser({ id: "2", displayName: "Bob Durand", type: "normal", sessionCount: 0 })
]

/** The core registry over the one fake appliance `A` (its state reachable through `FakeAppliances`). */
const wired = (config: CoreHandlers.Config = {}, seed: Partial<FakeAppliance.State> = {}) =>
  Layer.provideMerge(
    CoreHandlers.layer(config),
    FakeAppliance.layer({ A: { version: "24.1.3", build: "40516-5f3e", loggedInUsers: users, ...seed } })
  )

const fakeA = Effect.map(FakeAppliance.FakeAppliances, (f) => f.get("A"))

/** The handler registered under `name`. */
const handler = (name: string) =>
  Effect.map(StepHandler.StepHandlers, (r) => Option.getOrThrowWith(r.get(name), () => new Error(`no handler ${name}`)))

const ctx = (step: Plan.Step, plan: Plan.Plan, runId = "run-1"): StepHandler.StepContext => ({
  runId,
  plan,
  step,
  attempt: 1,
  history: RunHistory.make([])
})

/** A Jump Client as the configuration API lists it. */
const jc = (id: number, connectionType: "active" | "passive", needsUpdate: boolean, isLost = false) =>
  new ApplianceApi.JumpClient({ id, name: `jc${id}`, jumpGroupId: 1, connectionType, needsUpdate, isLost })

const stepOf = (plan: Plan.Plan, id: string) => plan.steps.find((s) => s.id === id)!

const reasonOf = (e: StepHandler.HandlerError) => (e instanceof StepHandler.StepError ? e.reason._tag : e.reason._tag)

/** An executor over the core handlers, a fake appliance `A`, a memory journal and an operator that may touch `A`. */
const executor = (
  answer: (a: FakeAppliance.FakeAppliance, request: Operator.GateRequest) => Operator.Answer,
  config: CoreHandlers.Config = { backupPassword: Redacted.make("pw") },
  seed: Partial<FakeAppliance.State> = {}
) =>
  Executor.layer.pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        Layer.effect(
          Operator.Operator,
          Effect.map(FakeAppliance.FakeAppliances, (fakes) => ({
            answer: (request: Operator.GateRequest) => Effect.sync(() => answer(fakes.get("A"), request))
          }))
        ),
        Journal.layerMemory
      )
    ),
    Layer.provideMerge(wired(config, seed))
  )

const approveAll = (_: FakeAppliance.FakeAppliance, request: Operator.GateRequest) =>
  new Operator.Approved({ by: "t", evidence: validEvidence(request) })

describe("CoreHandlers", () => {
  it.effect("implements every definition of CoreSteps, and the planner uses only those", () =>
    Effect.gen(function* () {
      const registry = yield* StepHandler.StepHandlers
      expect([...registry.names]).toEqual(CoreSteps.all.map((d) => d.name).sort())
      const plan = planFor(tmp(), "24.3.2", { method: "manual" })
      for (const s of plan.steps)
        if (s._tag !== "Window")
          expect(
            CoreSteps.all.some((d) => d.is(s)),
            s.handler
          ).toBe(true)
    }).pipe(Effect.provide(wired()))
  )

  it.effect("PREP-8: a clock off by more than the bound fails with the NTP hint; within it passes", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2", { maxClockSkewSeconds: 60 })
      const a = yield* fakeA
      const h = yield* handler(CoreSteps.CheckClockSkew.name)
      const step = stepOf(plan, "A/check-clock")
      a.state.clockOffsetMillis = 30_000
      const ok = yield* h.run!(ctx(step, plan))
      expect(ok["skewSeconds"]).toBe(30)
      a.state.clockOffsetMillis = -301_000
      const bad = yield* Effect.flip(h.run!(ctx(step, plan)))
      expect(bad.message).toMatch(/off by -301 s.*NTP.*PREP-8/)
    }).pipe(Effect.provide(wired()))
  )

  it.effect("checks the API account's permissions, naming what is missing", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const a = yield* fakeA
      const h = yield* handler(CoreSteps.CheckApiAccess.name)
      const step = stepOf(plan, "A/check-api")
      expect((yield* h.run!(ctx(step, plan)))["version"]).toBe("24.1.3")
      a.state.permissions = { perm_command: "read_only", perm_backup: false, perm_configuration: true }
      const bad = yield* Effect.flip(h.run!(ctx(step, plan)))
      expect(bad.message).toMatch(/lacks perm_backup/)
    }).pipe(Effect.provide(wired()))
  )

  it.effect("SINGLE-2: the version-path check fails when the appliance no longer runs the planned version", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const a = yield* fakeA
      const h = yield* handler(CoreSteps.CheckVersionPath.name)
      const step = stepOf(plan, "A/check-version-path")
      expect((yield* h.run!(ctx(step, plan)))["order"]).toEqual(["base-6.2.1", "site-24.3.2"])
      a.state.version = "24.2.0"
      const bad = yield* Effect.flip(h.run!(ctx(step, plan)))
      expect(bad.message).toMatch(/runs 24.2.0.*plan again/)
    }).pipe(Effect.provide(wired()))
  )

  it.effect("PREP-1: the backup evidence is its size and SHA-256; the password is required and passed", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const step = stepOf(plan, "A/backup")
      const refused = yield* Effect.gen(function* () {
        const h = yield* handler(CoreSteps.DownloadBackup.name)
        const e = yield* Effect.flip(h.run!(ctx(step, plan)))
        expect((yield* fakeA).count("downloadBackup")).toBe(0)
        return e
      }).pipe(Effect.provide(wired({}, { backupPassword: "pw" })))
      expect(refused.message).toMatch(/protects its backups with a password.*backupPassword/)
      const ev = yield* Effect.gen(function* () {
        const h = yield* handler(CoreSteps.DownloadBackup.name)
        return yield* h.run!(ctx(step, plan))
      }).pipe(Effect.provide(wired({ backupPassword: Redacted.make("pw") }, { backupPassword: "pw" })))
      expect(ev["bytes"]).toBeGreaterThan(0)
      expect(ev["sha256"]).toMatch(/^[0-9a-f]{64}$/)
      expect(ev["passwordProtected"]).toBe(true)
      // a wrong password is the appliance's refusal, not a backup
      const wrong = yield* Effect.gen(function* () {
        const h = yield* handler(CoreSteps.DownloadBackup.name)
        return yield* Effect.flip(h.run!(ctx(step, plan)))
      }).pipe(Effect.provide(wired({ backupPassword: Redacted.make("nope") }, { backupPassword: "pw" })))
      expect(reasonOf(wrong)).toBe("ApplianceRefused")
    })
  )

  it.effect("PREP-1: a long backup publishes its bytes so far about once a second while it downloads", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const h = yield* handler(CoreSteps.DownloadBackup.name)
      const updates: Array<StepHandler.Progress> = []
      const step = stepOf(plan, "A/backup")
      const fiber = yield* Effect.fork(
        h.run!({ ...ctx(step, plan), progress: (u) => Effect.sync(() => void updates.push(u)) })
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
    }).pipe(
      Effect.provide(
        wired(
          { backupPassword: Redacted.make("pw") },
          { backupPassword: "pw", backupProgress: [0, 300, 300, 700, 1000] }
        )
      )
    )
  )

  it.effect("PREP-4 LICENSE-1: the disconnect report names the users and counts sessions against the seats", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const h = yield* handler(CoreSteps.ReportDisconnects.name)
      const ev = yield* h.run!(ctx(stepOf(plan, "A/report-disconnects"), plan))
      expect(ev["users"]).toEqual(["Alice Martin", "Bob Durand"])
      expect(ev["sessionCount"]).toBe(2)
      expect(String(ev["summary"])).toMatch(/LICENSE-1: 2 of 1 .*over the licence count/)
    }).pipe(Effect.provide(wired()))
  )

  it.effect("SINGLE-1: the install wait holds only when healthy on the target version (and build)", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const a = yield* fakeA
      const poll = (yield* handler(CoreSteps.AwaitInstall.name)).poll!
      const c = ctx(stepOf(plan, "A/await-site-24.3.2"), plan)
      expect((yield* poll(c)).holds).toBe(false)
      a.state.up = false
      const down = yield* Effect.flip(poll(c))
      expect(reasonOf(down)).toBe("Transport") // the executor treats it as "not yet"
      a.state.up = true
      a.state.version = "24.3.2"
      a.state.healthy = false
      a.state.errorMessage = "Starting services"
      expect((yield* poll(c)).holds).toBe(false)
      a.state.healthy = true
      a.state.errorMessage = undefined
      const done = yield* poll(c)
      expect(done.holds).toBe(true)
      expect(done.evidence?.["version"]).toBe("24.3.2")
    }).pipe(Effect.provide(wired()))
  )

  it.effect(
    "PREP-6: a base install whose health reports a failure halts with BaseUpdateFailed; progress does not",
    () =>
      Effect.gen(function* () {
        const plan = planFor(tmp(), "24.3.2")
        const a = yield* fakeA
        const poll = (yield* handler(CoreSteps.AwaitInstall.name)).poll!
        const c = ctx(stepOf(plan, "A/await-base-6.2.1"), plan)
        a.state.healthy = false
        a.state.errorMessage = "Installing update base-6.2.1; the site is unavailable."
        expect((yield* poll(c)).holds).toBe(false)
        a.state.errorMessage =
          "The base software update base-6.2.1 failed. Do not reboot the appliance: contact BeyondTrust Technical Support."
        const e = yield* Effect.flip(poll(c))
        expect(reasonOf(e)).toBe("BaseUpdateFailed")
        expect(e.message).toMatch(/Do NOT reboot/)
        // the call log holds reads only
        expect(new Set(a.calls.map((x) => x.operation))).toEqual(new Set(["health"]))
      }).pipe(Effect.provide(wired()))
  )

  it.effect("PREP-6: an unhealthy answer in any other wording than an install in progress halts too", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const a = yield* fakeA
      const poll = (yield* handler(CoreSteps.AwaitInstall.name)).poll!
      const c = ctx(stepOf(plan, "A/await-base-6.2.1"), plan)
      a.state.healthy = false
      for (const progress of ["Rebooting", "Applying update base-6.2.1", "Starting services"]) {
        a.state.errorMessage = progress
        expect((yield* poll(c)).holds, progress).toBe(false)
      }
      for (const problem of ["Disk /dev/sda2 is corrupt", "Kernel panic", "Error 0x80070005"]) {
        a.state.errorMessage = problem
        expect(reasonOf(yield* Effect.flip(poll(c))), problem).toBe("BaseUpdateFailed")
      }
    }).pipe(Effect.provide(wired()))
  )

  it.effect(
    "PREP-6: a base install that never comes back ends halted-needs-support (do NOT reboot), not in a timeout",
    () =>
      Effect.gen(function* () {
        const plan = planFor(tmp(), "24.3.2", { pollIntervalSeconds: 300 })
        const step = stepOf(plan, "A/await-base-6.2.1") as Plan.WaitFor
        const only = Plan.make({ ...plan, id: "base-only", steps: [step] })
        const a = yield* fakeA
        a.state.up = false
        const fiber = yield* Effect.fork(Executor.run(only, { runId: "never-back" }))
        yield* TestClock.adjust(`${step.deadlineSeconds + 60} seconds`)
        const report = yield* Fiber.join(fiber)
        expect(report.status).toBe("halted-needs-support")
        expect(report.error).toMatch(/did not come back.*Do NOT reboot/)
      }).pipe(Effect.provide(executor(approveAll)))
  )

  it.effect(
    "PREP-6: a base install whose health reads hang until they time out still ends halted-needs-support, not in a timeout",
    () => {
      const plan = planFor(tmp(), "24.3.2", { pollIntervalSeconds: 300 })
      const step = stepOf(plan, "A/await-base-6.2.1") as Plan.WaitFor
      const interval = step.intervalSeconds
      const deadline = step.deadlineSeconds
      // a health read that takes `slow` seconds to fail, chosen so that the last poll starts early enough to be
      // allowed (start + interval <= deadline) but ends too late for another one (end + interval > deadline)
      const slow = [...Array(interval - 1).keys()]
        .map((d) => d + 1)
        .find((d) => {
          for (let start = 0; ; start += interval + d)
            if (start + d + interval > deadline) return start + interval <= deadline
        })!
      const fake = FakeAppliance.layer({ A: { version: "24.1.3", build: "40516-5f3e", loggedInUsers: users } })
      const slowHealth = Layer.effect(
        ApplianceApi.ApplianceApi,
        Effect.map(ApplianceApi.ApplianceApi, (api) => ({
          ...api,
          appliance: (id: string) =>
            Effect.map(api.appliance(id), (c) => ({
              ...c,
              health: Effect.zipRight(Effect.sleep(`${slow} seconds`), c.health)
            }))
        }))
      )
      const layer = Executor.layer.pipe(
        Layer.provideMerge(
          Layer.mergeAll(
            Layer.succeed(Operator.Operator, { answer: (r) => Effect.succeed(approveAll(undefined as never, r)) }),
            Journal.layerMemory
          )
        ),
        Layer.provideMerge(Layer.provideMerge(CoreHandlers.layer({}), Layer.provideMerge(slowHealth, fake)))
      )
      return Effect.gen(function* () {
        expect(slow).toBeDefined()
        const only = Plan.make({ ...plan, id: "base-only-slow", steps: [step] })
        const a = yield* fakeA
        a.state.up = false
        const fiber = yield* Effect.fork(Executor.run(only, { runId: "never-back-slow" }))
        yield* TestClock.adjust(`${deadline + 3600} seconds`)
        const report = yield* Fiber.join(fiber)
        expect(report.status).toBe("halted-needs-support")
        expect(report.error).toMatch(/did not come back.*Do NOT reboot/)
      }).pipe(Effect.provide(layer))
    }
  )

  it.live("PREP-6: a failed base update halts the executor in halted-needs-support; nothing runs after it", () =>
    Effect.gen(function* () {
      const dir = tmp()
      const plan = planFor(dir, "24.3.2")
      const report = yield* Executor.run(plan)
      expect(report.status).toBe("halted-needs-support")
      expect(report.currentStep).toBe("A/await-base-6.2.1")
      expect(report.steps.find((s) => s.id === "A/await-base-6.2.1")!.polls).toBeGreaterThanOrEqual(1)
      const after = report.steps.slice(report.steps.findIndex((s) => s.id === "A/await-base-6.2.1") + 1)
      expect(after.every((s) => s.status === "pending")).toBe(true)
    }).pipe(
      Effect.provide(
        executor((a, request) => {
          if (request.step.id === "A/install-base-6.2.1") {
            // installing first, then the failure while the run waits
            a.state.healthy = false
            a.state.errorMessage = "Installing update base-6.2.1; the site is unavailable."
            setTimeout(() => {
              a.state.errorMessage = "The base software update base-6.2.1 failed. Contact support."
            }, 20)
          }
          return new Operator.Approved({ by: "test", evidence: validEvidence(request) })
        })
      )
    )
  )

  it.effect(
    "PREP-6 VERIFY-1: a base install never seen going down holds after the grace period, marked as resting on the operator's word",
    () =>
      Effect.gen(function* () {
        const plan = planFor(tmp(), "24.3.2")
        const step = stepOf(plan, "A/await-base-6.2.1") as Plan.WaitFor
        const only = Plan.make({ ...plan, id: "base-only", steps: [step] })
        const fiber = yield* Effect.fork(Executor.run(only, { runId: "no-disruption" }))
        yield* TestClock.adjust("119 seconds")
        expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
        yield* TestClock.adjust("10 seconds")
        const report = yield* Fiber.join(fiber)
        expect(report.status).toBe("succeeded")
        const s = report.steps[0]!
        expect(s.evidence).toMatchObject({ disruptionSeen: false, restsOnOperatorWord: true })
        expect(s.warnings.join(" ")).toMatch(/Not observed.*operator's word/)
      }).pipe(Effect.provide(executor(approveAll, { baseGraceSeconds: 120 })))
  )

  it.effect(
    "PREP-3 PREP-6: a base install wait resumed after its deadline, the appliance healthy, holds on the operator's word (not a timeout)",
    () =>
      Effect.gen(function* () {
        // the process was killed right after the wait started (no poll journaled); the install ran and the
        // appliance came back while no orchestrator was alive; the resume comes after the wait's deadline
        const plan = planFor(tmp(), "24.3.2")
        const step = stepOf(plan, "A/await-base-6.2.1") as Plan.WaitFor
        const only = Plan.make({ ...plan, id: "base-only", steps: [step] })
        const journal = yield* Journal.Journal
        yield* journal.create("gap")
        const events = [
          new RunEvent.RunStarted({ runId: "gap", plan: only, at: new Date(0) }),
          new RunEvent.StepStarted({
            stepId: step.id,
            attempt: 1,
            at: new Date(0),
            deadline: new Date(step.deadlineSeconds * 1000)
          })
        ]
        for (const [i, event] of events.entries())
          yield* journal.append(new RunEvent.Envelope({ runId: "gap", seq: i + 1, event }))
        yield* TestClock.adjust(`${step.deadlineSeconds + 60} seconds`)
        const report = yield* Executor.resume("gap")
        expect(report.status).toBe("succeeded")
        expect(report.steps[0]!.evidence).toMatchObject({ disruptionSeen: false, restsOnOperatorWord: true })
        expect(report.steps[0]!.warnings.join(" ")).toMatch(/before the wait's deadline.*operator's word/)
      }).pipe(Effect.provide(executor(approveAll, { baseGraceSeconds: 120 })))
  )

  it.effect("PREP-6 VERIFY-1: a base install seen going down and coming back holds at its first healthy answer", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const step = stepOf(plan, "A/await-base-6.2.1") as Plan.WaitFor
      const only = Plan.make({ ...plan, id: "base-only", steps: [step] })
      const a = yield* fakeA
      a.state.up = false
      const fiber = yield* Effect.fork(Executor.run(only, { runId: "disruption" }))
      yield* TestClock.adjust("3 seconds")
      a.state.up = true
      yield* TestClock.adjust("2 seconds")
      const report = yield* Fiber.join(fiber)
      expect(report.status).toBe("succeeded")
      expect(report.steps[0]!.evidence).toMatchObject({ disruptionSeen: true })
      expect(report.steps[0]!.warnings).toEqual([])
    }).pipe(Effect.provide(executor(approveAll, { baseGraceSeconds: 120 })))
  )

  it.effect(
    "PREP-6 VERIFY-1: a base install that had already taken the appliance down when its gate was answered counts as seen going down",
    () =>
      Effect.gen(function* () {
        const plan = planFor(tmp(), "24.3.2")
        const install = stepOf(plan, "A/install-base-6.2.1")
        const wait = stepOf(plan, "A/await-base-6.2.1")
        const only = Plan.make({ ...plan, id: "base-install", steps: [install, wait] })
        const fiber = yield* Effect.fork(Executor.run(only, { runId: "down-at-start" }))
        yield* TestClock.adjust("5 seconds")
        const report = yield* Fiber.join(fiber)
        expect(report.status).toBe("succeeded")
        expect(report.steps[0]!.evidence).toMatchObject({ applianceAnswering: false })
        expect(report.steps[1]!.evidence).toMatchObject({ disruptionSeen: true })
        expect(report.steps[1]!.warnings).toEqual([])
      }).pipe(
        Effect.provide(
          executor(
            (a, request) => {
              // the install starts at once: the gate's read-back finds the appliance rebooting
              if (request.step.id === "A/install-base-6.2.1")
                a.failNext("health", new ApplianceError.Transport({ code: "ECONNREFUSED" }))
              return new Operator.Approved({ by: "t", evidence: validEvidence(request) })
            },
            { baseGraceSeconds: 120 }
          )
        )
      )
  )

  it.effect("VERIFY-1: the verification fails on an unhealthy appliance or another version", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const a = yield* fakeA
      const h = yield* handler(CoreSteps.VerifyVersion.name)
      const c = ctx(stepOf(plan, "A/verify"), plan)
      expect((yield* Effect.flip(h.run!(c))).message).toMatch(/reports 24.1.3.*not 24.3.2/)
      a.state.version = "24.3.2"
      a.state.healthy = false
      expect((yield* Effect.flip(h.run!(c))).message).toMatch(/unhealthy/)
      a.state.healthy = true
      expect((yield* h.run!(c))["version"]).toBe("24.3.2")
    }).pipe(Effect.provide(wired()))
  )

  it.effect("VERIFY-2: the console check gate verifies the appliance serves the new version", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const a = yield* fakeA
      const h = yield* handler(CoreSteps.ConfirmConsoleCheck.name)
      const c = ctx(stepOf(plan, "A/verify-console"), plan)
      expect(Either.isLeft(yield* Effect.either(h.run!(c)))).toBe(true)
      a.state.version = "24.3.2"
      expect((yield* h.run!(c))["version"]).toBe("24.3.2")
    }).pipe(Effect.provide(wired()))
  )

  it.effect("CLIENT-10: the Jump Client wait counts needs_update against the threshold", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const a = yield* fakeA
      const poll = (yield* handler(CoreSteps.AwaitJumpClients.name)).poll!
      const c = ctx(stepOf(plan, "A/jump-clients"), plan)
      a.state.jumpClients = [
        jc(1, "active", true),
        jc(2, "active", true),
        jc(3, "active", false),
        jc(4, "passive", true),
        jc(5, "passive", true)
      ]
      const before = yield* poll(c)
      expect(before.holds).toBe(false)
      expect(before.observed).toMatchObject({ total: 5, pending: 4, activePending: 2, maxPending: 2 })
      a.state.jumpClients = a.state.jumpClients.map((j) =>
        j.connectionType === "active" ? new ApplianceApi.JumpClient({ ...j, needsUpdate: false }) : j
      )
      const after = yield* poll(c)
      expect(after.holds).toBe(true)
      expect(after.evidence).toMatchObject({ pending: 2, passivePending: 2 })
    }).pipe(Effect.provide(wired()))
  )

  it.effect(
    "CLIENT-10: the wait holds only when no active client still needs the update, even if passive ones updated first",
    () =>
      Effect.gen(function* () {
        const plan = planFor(tmp(), "24.3.2")
        const a = yield* fakeA
        const step = stepOf(plan, "A/jump-clients")
        expect(step.params).toMatchObject({ maxPending: 2, maxActivePending: 0 })
        const poll = (yield* handler(CoreSteps.AwaitJumpClients.name)).poll!
        const c = ctx(step, plan)
        // two passive clients checked in early and updated; one active client still waits: 1 pending ≤ 2, not done
        a.state.jumpClients = [
          jc(1, "active", true),
          jc(2, "active", false),
          jc(4, "passive", false),
          jc(5, "passive", false)
        ]
        const early = yield* poll(c)
        expect(early.holds).toBe(false)
        expect(early.observed).toMatchObject({ pending: 1, activePending: 1, maxPending: 2, maxActivePending: 0 })
        // an active client the appliance reports lost cannot check in: it does not hold the wait
        a.state.jumpClients = [jc(1, "active", true, true), jc(2, "active", false), jc(4, "passive", true)]
        const lost = yield* poll(c)
        expect(lost.holds).toBe(true)
        expect(lost.evidence).toMatchObject({ activePending: 1, activeLostPending: 1, pending: 2 })
        // a plan made before the bound existed: only maxPending counts
        const old = ctx({ ...step, params: { appliance: "A", maxPending: 2 } } as Plan.Step, plan)
        a.state.jumpClients = [jc(1, "active", true), jc(4, "passive", false)]
        expect((yield* poll(old)).holds).toBe(true)
      }).pipe(Effect.provide(wired()))
  )

  it.effect("CLIENT-9: the Jumpoint report names those not reconnected", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const a = yield* fakeA
      const jp = (id: number, name: string, connected: boolean) =>
        new ApplianceApi.Jumpoint({ id, name, platform: "linux-x86", enabled: true, connected, clustered: false })
      a.state.jumpoints = [jp(1, "jp-paris", true), jp(2, "jp-lyon", false)]
      const h = yield* handler(CoreSteps.ReportJumpoints.name)
      const e = yield* Effect.flip(h.run!(ctx(stepOf(plan, "A/jumpoints"), plan)))
      expect(e.message).toMatch(/1 Jumpoint.*jp-lyon/)
    }).pipe(Effect.provide(wired()))
  )

  it.effect("a step whose params do not decode fails with BadParams naming the field, not a crash", () =>
    Effect.gen(function* () {
      const plan = planFor(tmp(), "24.3.2")
      const h = yield* handler(CoreSteps.VerifyVersion.name)
      const step = stepOf(plan, "A/verify") as Plan.Check
      const broken = new Plan.Check({ ...step, params: { appliance: "A", version: 24 } })
      const e = yield* Effect.flip(h.run!(ctx(broken, plan)))
      expect(reasonOf(e)).toBe("BadParams")
      expect(e.message).toMatch(/Step parameter "version" of core\/verify-version: Expected string.*malformed/)
      expect(e instanceof StepHandler.StepError && e.reason._tag === "BadParams" && e.reason.field).toBe("version")
    }).pipe(Effect.provide(wired()))
  )

  it.live("PREP-5: a recorded successful run is found by the plan's rehearsal check", () =>
    Effect.gen(function* () {
      const dir = tmp()
      const plan = planFor(dir, "24.3.2")
      const first = yield* Executor.run(plan).pipe(Effect.provide(installingExecutor()))
      expect(first.status, first.error).toBe("succeeded")
      const rehearsal = first.steps.find((s) => s.id === "A/check-rehearsal")!
      expect(rehearsal.warnings.join(" ")).toMatch(/No successful rehearsal.*PREP-5/)
      const rehearsals = join(dir, "backups", "rehearsals")
      yield* Rehearsal.record(rehearsals, plan, first, "test double")
      // a fresh appliance, the same plan: the check now finds the rehearsal
      const ev = yield* Effect.gen(function* () {
        const h = yield* handler(CoreSteps.CheckRehearsal.name)
        return yield* h.run!(ctx(stepOf(plan, "A/check-rehearsal"), plan))
      }).pipe(Effect.provide(wired()))
      expect(ev).toMatchObject({ rehearsals: 1, lastRunId: first.runId, environment: "test double" })
      // a failed run is not a rehearsal
      const failed = new (first.constructor as typeof first.constructor & (new (a: unknown) => typeof first))({
        ...first,
        status: "failed"
      })
      const refused = yield* Effect.flip(Rehearsal.record(rehearsals, plan, failed))
      expect(refused.reason._tag).toBe("NotSucceeded")
      expect(refused.message).toMatch(/Only a successful run is a rehearsal: run .* is failed/)
      expect(Option.isSome(Option.fromNullable(ev["fingerprint"]))).toBe(true)
    })
  )
})

/** Evidence that fits every field of a gate (what a careful person would type). */
const validEvidence = (request: Operator.GateRequest): Record<string, string> =>
  Object.fromEntries(
    request.evidence.map((f) => [
      f.name,
      f.expected ??
        (f.format === "sha256"
          ? "ab".repeat(32)
          : f.format === "version"
            ? "1.0.0"
            : f.format === "integer" || f.format === "number"
              ? String(f.maximum ?? f.minimum ?? 1)
              : f.format === "path"
                ? tmpdir()
                : "checked")
    ])
  )

/**
 * An executor whose operator plays a careful person: it "installs" by moving
 * the fake appliance (a base install takes it down for a moment) and answers
 * every gate with evidence that fits.
 */
const installingExecutor = () =>
  executor(
    (a, request) => {
      const install = CoreSteps.ConfirmInstallStarted.paramsOf(request.step)
      if (Option.isSome(install) && install.value.kind === "site") a.state.version = install.value.version
      if (Option.isSome(install) && install.value.kind === "base") {
        // the base install makes the appliance unreachable once, then it comes back
        a.state.up = false
        setTimeout(() => (a.state.up = true), 50)
      }
      return new Operator.Approved({ by: "test", evidence: validEvidence(request) })
    },
    { backupPassword: Redacted.make("pw") },
    {
      backupPassword: "pw",
      jumpoints: [
        new ApplianceApi.Jumpoint({
          id: 1,
          name: "jp",
          platform: "linux-x86",
          enabled: true,
          connected: true,
          clustered: false
        })
      ]
    }
  )
