import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as ApplianceErrorM from "../src/ApplianceError.js"
import * as Executor from "../src/Executor.js"
import * as Journal from "../src/Journal.js"
import * as Operator from "../src/Operator.js"
import * as StepDef from "../src/StepDef.js"
import * as StepHandler from "../src/StepHandler.js"
import { wire, World } from "./fixtures/harness.js"
import { action, check, gate, plan, waitFor, window } from "./fixtures/steps.js"

const epoch = new Date(0)
const openWindow = () => window("win", epoch, 24 * 60)

const journalTags = (runId: string) =>
  Effect.flatMap(Journal.Journal, (j) => j.read(runId)).pipe(Effect.map((c) => c.records.map((r) => r.event._tag)))

const unreachable = new ApplianceErrorM.ApplianceError({
  appliance: "A",
  operation: "health",
  reason: new ApplianceErrorM.Transport({ code: "ECONNREFUSED" }),
  hint: "wait for the reboot"
})

describe("Executor", () => {
  it.effect("runs every step kind in order and reports evidence, gates and polls", () => {
    const world = new World()
    let polls = 0
    const p = plan([
      check("pre"),
      action("backup"),
      gate("install", "install", ["ticket"]),
      waitFor("healthy", 10, 120),
      openWindow(),
      action("after", "after", true)
    ])
    const handlers: Record<string, StepHandler.Handler> = {
      pre: { run: () => Effect.succeed({ version: "24.1.1" }) },
      backup: world.effect("backup"),
      install: { run: () => Effect.succeed({ versionReadBack: "24.3.2" }) },
      healthy: {
        poll: () =>
          Effect.sync(() => {
            polls++
            return polls < 3
              ? { holds: false, observed: { version: "24.1.1" } }
              : { holds: true, observed: { version: "24.3.2" }, evidence: { build: "37380" } }
          })
      },
      after: world.effect("after")
    }
    const operator = Operator.layerScripted({
      install: new Operator.Approved({ by: "ann@example.com", evidence: { ticket: "CHG-1" } })
    })
    return Effect.gen(function* () {
      const fiber = yield* Effect.fork(Executor.run(p, { runId: "r1" }))
      yield* TestClock.adjust("30 seconds")
      const report = yield* Fiber.join(fiber)
      expect(report.status).toBe("succeeded")
      expect(report.steps.map((s) => s.status)).toEqual(Array(6).fill("succeeded"))
      expect(report.steps[0]!.evidence).toEqual({ version: "24.1.1" })
      expect(report.steps[2]!.evidence).toEqual({ versionReadBack: "24.3.2", "operator.ticket": "CHG-1" })
      expect(report.steps[3]!.evidence).toEqual({ build: "37380" })
      expect(report.steps[3]!.polls).toBe(3)
      expect(report.steps[3]!.durationMillis).toBe(20_000)
      expect(report.gates.map((g) => [g.stepId, g.answer._tag, g.answer.by])).toEqual([
        ["install", "Approved", "ann@example.com"]
      ])
      expect(world.count("backup")).toBe(1)
      expect(world.count("after")).toBe(1)
      const tags = yield* journalTags("r1")
      expect(tags[0]).toBe("RunStarted")
      expect(tags.at(-1)).toBe("RunFinished")
      expect(tags.filter((t) => t === "StepSucceeded")).toHaveLength(6)
    }).pipe(Effect.provide(wire(handlers, operator)))
  })

  it.effect("publishes every journaled event on the stream, in order", () => {
    const world = new World()
    const p = plan([check("pre"), action("a"), gate("g")])
    const handlers = {
      pre: { run: () => Effect.succeed({}) },
      a: world.effect("a"),
      g: { run: () => Effect.succeed({}) }
    }
    return Effect.gen(function* () {
      const events = yield* Stream.runCollect(Executor.runStream(p, { runId: "s1" }))
      const journal = yield* Effect.flatMap(Journal.Journal, (j) => j.read("s1"))
      expect(Chunk.toReadonlyArray(events).map((e) => e.seq)).toEqual(journal.records.map((r) => r.seq))
      expect(Chunk.toReadonlyArray(events).map((e) => e.event._tag)).toEqual([
        "RunStarted",
        "StepStarted",
        "StepSucceeded",
        "StepStarted",
        "StepSucceeded",
        "StepStarted",
        "GateOpened",
        "GateAnswered",
        "StepSucceeded",
        "RunFinished"
      ])
    }).pipe(Effect.provide(wire(handlers)))
  })

  it.scoped("subscribe sees the events of every run of the executor", () => {
    const p = plan([check("pre")])
    return Effect.gen(function* () {
      const executor = yield* Executor.Executor
      const stream = yield* executor.subscribe
      const collected = yield* Effect.fork(Stream.runCollect(Stream.take(stream, 4)))
      yield* executor.run(p, { runId: "sub-1" })
      const events = Chunk.toReadonlyArray(yield* Fiber.join(collected))
      expect(events.map((e) => `${e.runId}:${e.event._tag}`)).toEqual([
        "sub-1:RunStarted",
        "sub-1:StepStarted",
        "sub-1:StepSucceeded",
        "sub-1:RunFinished"
      ])
    }).pipe(Effect.provide(wire({ pre: { run: () => Effect.succeed({}) } })))
  })

  it.effect("WaitFor: typed timeout carrying the last observed value; unreachable appliance counts as not yet", () => {
    let n = 0
    const p = plan([waitFor("sync", 10, 35), action("never", "never", true)])
    const world = new World()
    const handlers: Record<string, StepHandler.Handler> = {
      sync: {
        poll: () =>
          Effect.suspend(() => {
            n++
            return n === 2 ? Effect.fail(unreachable) : Effect.succeed({ holds: false, observed: { lag: 100 - n } })
          })
      },
      never: world.effect("never")
    }
    return Effect.gen(function* () {
      const fiber = yield* Effect.fork(Executor.run(p, { runId: "t1" }))
      yield* TestClock.adjust("1 minute")
      const report = yield* Fiber.join(fiber)
      expect(report.status).toBe("failed")
      expect(report.currentStep).toBe("sync")
      expect(report.steps[0]!.polls).toBe(4)
      expect(world.called("never.run")).toBe(0)
      const journal = yield* Effect.flatMap(Journal.Journal, (j) => j.read("t1"))
      const failed = journal.records.find((r) => r.event._tag === "StepFailed")!.event
      if (failed._tag !== "StepFailed" || failed.error.reason._tag !== "WaitTimeout") throw new Error("not a timeout")
      expect(failed.error.reason.lastObserved).toEqual({ lag: 96 })
      expect(failed.error.reason.polls).toBe(4)
      expect(failed.error.reason.afterSeconds).toBe(30)
      const progress = journal.records.flatMap((r) => (r.event._tag === "WaitProgress" ? [r.event.observed] : []))
      expect(progress[1]).toEqual({ error: unreachable.message })
    }).pipe(Effect.provide(wire(handlers)))
  })

  it.effect(
    "progress reported by a handler, even from concurrent fibers, is journaled in order between start and end",
    () => {
      const p = plan([action("copy"), action("after")])
      const handlers: Record<string, StepHandler.Handler> = {
        copy: {
          run: (ctx) =>
            Effect.gen(function* () {
              // 20 reports at once from 20 fibers: each must get its own sequence number
              yield* Effect.forEach(
                Array.from({ length: 20 }, (_, i) => i + 1),
                (i) => ctx.progress!({ done: i * 10, total: 200, unit: "bytes" }),
                { concurrency: "unbounded", discard: true }
              )
              return { copied: 200 }
            })
        },
        after: { run: () => Effect.succeed({}) }
      }
      return Effect.gen(function* () {
        const report = yield* Executor.run(p, { runId: "p1" })
        expect(report.status).toBe("succeeded")
        const journal = yield* Effect.flatMap(Journal.Journal, (j) => j.read("p1"))
        const seqs = journal.records.map((r) => r.seq)
        expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1))
        const tags = journal.records.map((r) => r.event._tag)
        const progress = journal.records.flatMap((r) => (r.event._tag === "StepProgress" ? [r.event] : []))
        expect(progress).toHaveLength(20)
        expect(new Set(progress.map((e) => e.done)).size).toBe(20)
        expect(progress.every((e) => e.stepId === "copy" && e.total === 200 && e.unit === "bytes")).toBe(true)
        expect(tags.indexOf("StepProgress")).toBeGreaterThan(tags.indexOf("StepStarted"))
        expect(tags.lastIndexOf("StepProgress")).toBeLessThan(tags.indexOf("StepSucceeded"))
        // the journal with progress in it replays to the same report
        const again = yield* Executor.report("p1")
        expect(again.status).toBe("succeeded")
        expect(again.steps.map((s) => s.status)).toEqual(["succeeded", "succeeded"])
      }).pipe(
        // a journal whose appends take time (as a remote or database journal's would): concurrent reports
        // would interleave there without the executor's lock
        Effect.provide(
          wire(
            handlers,
            Operator.layerAutoApprove("tester"),
            Layer.effect(
              Journal.Journal,
              Effect.map(Journal.Journal, (j) => ({
                ...j,
                append: (record: Parameters<typeof j.append>[0]) => Effect.zipRight(Effect.yieldNow(), j.append(record))
              }))
            ).pipe(Layer.provide(Journal.layerMemory))
          )
        )
      )
    }
  )

  it.effect(
    "PREP-4: Window pauses the run until the window opens (TestClock), and a cancel while paused resumes the wait",
    () => {
      const world = new World()
      const twoHours = 2 * 3600_000
      const p = plan([action("before", "before", true), window("win", new Date(twoHours), 60), action("after")])
      const handlers = { before: world.effect("before"), after: world.effect("after") }
      return Effect.gen(function* () {
        const executor = yield* Executor.Executor
        const fiber = yield* Effect.fork(executor.run(p, { runId: "w1" }))
        yield* TestClock.adjust("1 hour")
        const paused = yield* executor.report("w1")
        expect(paused.status).toBe("paused-until-window")
        expect(paused.steps[1]!.status).toBe("paused-until-window")
        expect(world.count("after")).toBe(0)
        // cancel while paused; the journal says cancelled; resume waits for the same window
        yield* Fiber.interrupt(fiber)
        expect((yield* executor.report("w1")).status).toBe("cancelled")
        const resumed = yield* Effect.fork(executor.resume("w1"))
        yield* TestClock.adjust("59 minutes")
        expect((yield* executor.report("w1")).status).toBe("paused-until-window")
        expect(world.count("after")).toBe(0)
        yield* TestClock.adjust("1 minute")
        const report = yield* Fiber.join(resumed)
        expect(report.status).toBe("succeeded")
        expect(world.count("before")).toBe(1)
        expect(world.count("after")).toBe(1)
        expect(report.steps[1]!.evidence).toMatchObject({ window: "window win" })
        const tags = yield* journalTags("w1")
        expect(tags.filter((t) => t === "Paused")).toHaveLength(1)
        expect(tags).toContain("WindowOpened")
        expect(tags).toContain("Cancelled")
        expect(tags).toContain("Resumed")
      }).pipe(Effect.provide(wire(handlers)))
    }
  )

  it.effect("PREP-4: a window that already closed fails the run with what to do", () => {
    const p = plan([window("win", epoch, 60)])
    return Effect.gen(function* () {
      yield* TestClock.adjust("2 hours")
      const report = yield* Executor.run(p, { runId: "late" })
      expect(report.status).toBe("failed")
      expect(report.error).toMatch(/Plan again with a new window/)
    }).pipe(Effect.provide(wire({})))
  })

  it.effect("PREP-6: a base-software update failure halts the run: no retry, no further step, resume refused", () => {
    const world = new World()
    const p = plan([action("backup"), action("install"), waitFor("rebooted"), action("after", "after", true)])
    const handlers: Record<string, StepHandler.Handler> = {
      backup: world.effect("backup"),
      install: {
        run: () =>
          Effect.suspend(() => {
            world.bump(world.calls, "install.run")
            return Effect.fail(StepHandler.baseUpdateFailed("update 24.3.2 reported 'install failed'"))
          }),
        verify: () => Effect.sync(() => (world.bump(world.calls, "install.verify"), { effective: false, evidence: {} }))
      },
      rebooted: {
        poll: () => Effect.sync(() => (world.bump(world.calls, "rebooted.poll"), { holds: true, observed: 1 }))
      },
      after: world.effect("after")
    }
    return Effect.gen(function* () {
      const report = yield* Executor.run(p, { runId: "p6" })
      expect(report.status).toBe("halted-needs-support")
      expect(report.currentStep).toBe("install")
      expect(report.error).toMatch(/contact vendor support/)
      expect(report.steps[1]!.status).toBe("halted-needs-support")
      expect(world.called("install.run")).toBe(1)
      expect(world.called("rebooted.poll")).toBe(0)
      expect(world.called("after.run")).toBe(0)
      const before = yield* journalTags("p6")
      expect(before.slice(-2)).toEqual(["SupportNeeded", "RunFinished"])
      const error = yield* Effect.flip(Executor.resume("p6"))
      expect(error.reason._tag).toBe("NeedsSupport")
      expect(error.message).toMatch(/do NOT reboot the appliance/)
      expect(error.message).toMatch(/contact vendor support/)
      expect(yield* journalTags("p6")).toEqual(before)
      expect(world.called("install.run")).toBe(1)
      expect(world.called("install.verify")).toBe(0)
    }).pipe(Effect.provide(wire(handlers)))
  })

  it.effect("PREP-6: an update failure seen while polling the install halts the run too", () => {
    const p = plan([waitFor("installed"), action("reboot")])
    const world = new World()
    const handlers: Record<string, StepHandler.Handler> = {
      installed: { poll: () => Effect.fail(StepHandler.baseUpdateFailed("health reports update failure")) },
      reboot: world.effect("reboot")
    }
    return Effect.gen(function* () {
      const report = yield* Executor.run(p, { runId: "p6b" })
      expect(report.status).toBe("halted-needs-support")
      expect(world.called("reboot.run")).toBe(0)
      expect((yield* Effect.flip(Executor.resume("p6b"))).reason._tag).toBe("NeedsSupport")
    }).pipe(Effect.provide(wire(handlers)))
  })

  it.effect("cancellation mid-step leaves a resumable journal; the in-flight step is verified, not re-run", () => {
    const world = new World()
    let hang: "before" | "after" | undefined = "after"
    const p = plan([action("a"), action("b"), action("c", "c", true)])
    const handlers = {
      a: world.effect("a"),
      b: world.effect("b", { hang: () => hang }),
      c: world.effect("c")
    }
    return Effect.gen(function* () {
      const fiber = yield* Effect.fork(Executor.run(p, { runId: "c1" }))
      while (world.count("b") === 0) yield* Effect.yieldNow()
      yield* Fiber.interrupt(fiber)
      expect((yield* Executor.report("c1")).status).toBe("cancelled")
      expect((yield* journalTags("c1")).at(-1)).toBe("Cancelled")
      hang = undefined
      const report = yield* Executor.resume("c1")
      expect(report.status).toBe("succeeded")
      expect([world.count("a"), world.count("b"), world.count("c")]).toEqual([1, 1, 1])
      expect(world.called("b.run")).toBe(1)
      expect(world.called("b.verify")).toBe(1)
      expect(report.steps[1]!.verifiedOnResume).toBe(true)
      expect(report.cancellations).toBe(1)
      expect(report.resumes).toBe(1)
    }).pipe(Effect.provide(wire(handlers)))
  })

  it.effect("cancellation before the effect: verify finds it not effective, the step runs again (attempt 2)", () => {
    const world = new World()
    let hang: "before" | undefined = "before"
    const p = plan([action("b")])
    const handlers = { b: world.effect("b", { hang: () => hang }) }
    return Effect.gen(function* () {
      const fiber = yield* Effect.fork(Executor.run(p, { runId: "c2" }))
      while (world.called("b.run") === 0) yield* Effect.yieldNow()
      yield* Fiber.interrupt(fiber)
      hang = undefined
      const report = yield* Executor.resume("c2")
      expect(report.status).toBe("succeeded")
      expect(world.count("b")).toBe(1)
      expect(world.called("b.run")).toBe(2)
      expect(report.steps[0]!.attempts).toBe(2)
      expect(report.steps[0]!.verifiedOnResume).toBe(false)
      expect(report.steps[0]!.evidence).toMatchObject({ attempt: 2 })
    }).pipe(Effect.provide(wire(handlers)))
  })

  it.effect(
    "an in-flight step without verify is handed to the operator: approve = took effect, reject = run again",
    () => {
      const world = new World()
      let hang: "before" | "after" | undefined = "after"
      const p = plan([action("x"), action("y")])
      const handlers = {
        x: world.effect("x", { verify: false, hang: () => hang }),
        y: world.effect("y", { verify: false, hang: () => hang })
      }
      const operator = Operator.layerScripted({
        // the "person" looks at the world and answers honestly
        x: (req) =>
          req.purpose === "confirm-effect" && world.count("x") > 0
            ? new Operator.Approved({ by: "ann", evidence: {} })
            : new Operator.Rejected({ by: "ann", reason: "not applied" }),
        y: (req) =>
          req.purpose === "confirm-effect" && world.count("y") > 0
            ? new Operator.Approved({ by: "bob", evidence: {} })
            : new Operator.Rejected({ by: "bob", reason: "not applied" })
      })
      return Effect.gen(function* () {
        const f1 = yield* Effect.fork(Executor.run(p, { runId: "o1" }))
        while (world.count("x") === 0) yield* Effect.yieldNow()
        yield* Fiber.interrupt(f1)
        hang = "before"
        const f2 = yield* Effect.fork(Executor.resume("o1"))
        while (world.called("y.run") === 0) yield* Effect.yieldNow()
        yield* Fiber.interrupt(f2)
        hang = undefined
        const report = yield* Executor.resume("o1")
        expect(report.status).toBe("succeeded")
        expect([world.count("x"), world.count("y")]).toEqual([1, 1])
        expect(world.called("x.run")).toBe(1)
        expect(world.called("y.run")).toBe(2)
        expect(report.gates.map((g) => `${g.stepId}:${g.purpose}:${g.answer._tag}:${g.answer.by}`)).toEqual([
          "x:confirm-effect:Approved:ann",
          "y:confirm-effect:Rejected:bob"
        ])
      }).pipe(Effect.provide(wire(handlers, operator)))
    }
  )

  it.effect(
    "gates: reject fails the run naming who; defer suspends and resume asks again; approval needs its evidence",
    () => {
      const world = new World()
      const answers: Array<Operator.Answer> = [
        new Operator.Approved({ by: "ann", evidence: {} }),
        new Operator.Deferred({ by: "ann", reason: "tonight" }),
        new Operator.Approved({ by: "ann", evidence: { ticket: "CHG-9" } })
      ]
      const asked: Array<string> = []
      const operator = Operator.layerPrompt((req) =>
        Effect.sync(() => {
          asked.push(req.instructions[0]!)
          return answers.shift()!
        })
      )
      const p = plan([gate("g", "g", ["ticket"]), action("after")])
      const handlers = { g: { run: () => Effect.succeed({ checked: true }) }, after: world.effect("after") }
      return Effect.gen(function* () {
        const first = yield* Executor.run(p, { runId: "g1" })
        expect(first.status).toBe("waiting-for-operator")
        expect(first.gates.map((g) => g.answer._tag)).toEqual(["Deferred"])
        const lacking = first.gates[0]!.answer
        expect(lacking._tag === "Deferred" && lacking.reason).toMatch(
          /Evidence refused for .*ticket must be filled in \(nothing was given\)/
        )
        const second = yield* Executor.resume("g1")
        expect(second.status).toBe("waiting-for-operator")
        const third = yield* Executor.resume("g1")
        expect(third.status).toBe("succeeded")
        expect(asked).toEqual(["Do g in the web UI", "Do g in the web UI", "Do g in the web UI"])
        expect(world.count("after")).toBe(1)
        const rejected = yield* Executor.run(plan([gate("g"), action("after")], "plan-2"), { runId: "g2" }).pipe(
          Effect.provide(
            wire(
              handlers,
              Operator.layerScripted({ g: new Operator.Rejected({ by: "carol", reason: "no change window" }) })
            )
          )
        )
        expect(rejected.status).toBe("failed")
        expect(rejected.error).toBe("Gate rejected by carol: no change window")
        expect(world.count("after")).toBe(1)
      }).pipe(Effect.provide(wire(handlers, operator)))
    }
  )

  it.effect("checks: a blocking failure stops the run, an advisory one is a warning", () => {
    const world = new World()
    const fails = { run: () => Effect.fail(StepHandler.fail("clock skew 9 min: fix NTP on the appliance")) }
    return Effect.gen(function* () {
      const advisory = yield* Executor.run(plan([check("skew", "advisory"), action("a")]), { runId: "k1" })
      expect(advisory.status).toBe("succeeded")
      expect(advisory.steps[0]!.warnings).toEqual(["clock skew 9 min: fix NTP on the appliance"])
      const blocking = yield* Executor.run(plan([check("skew"), action("a")]), { runId: "k2" })
      expect(blocking.status).toBe("failed")
      expect(blocking.error).toBe("clock skew 9 min: fix NTP on the appliance")
      expect(world.count("a")).toBe(1)
      expect((yield* Effect.flip(Executor.resume("k2"))).reason._tag).toBe("AlreadyFinished")
    }).pipe(Effect.provide(wire({ skew: fails, a: world.effect("a") })))
  })

  it.effect("an appliance error becomes a step failure with the adapter's hint", () =>
    Effect.gen(function* () {
      const report = yield* Executor.run(plan([action("a")]), { runId: "ae" })
      expect(report.status).toBe("failed")
      expect(report.error).toContain("wait for the reboot")
    }).pipe(Effect.provide(wire({ a: { run: () => Effect.fail(unreachable) } })))
  )

  it.effect("refuses a plan whose handlers are missing, before journaling anything", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Executor.run(plan([action("a"), openWindow(), check("b")]), { runId: "m1" }))
      expect(error.reason).toMatchObject({ _tag: "MissingHandlers", handlers: ["a", "b"] })
      expect(yield* Effect.flatMap(Journal.Journal, (j) => j.list)).toEqual([])
    }).pipe(Effect.provide(wire({})))
  )

  it.effect("a run id is used once; resuming a succeeded run returns its report", () =>
    Effect.gen(function* () {
      const p = plan([check("a")])
      yield* Executor.run(p, { runId: "once" })
      const again = yield* Effect.flip(Executor.run(p, { runId: "once" }))
      expect(again.message).toMatch(/already exists: resume it/)
      expect((yield* Executor.resume("once")).status).toBe("succeeded")
      const generated = yield* Executor.run(p)
      expect(generated.runId).toMatch(/^plan-1-\d{8}T\d{6}Z-[0-9a-f]{6}$/)
    }).pipe(Effect.provide(wire({ a: { run: () => Effect.succeed({}) } })))
  )

  it.effect("StepHandler.merge combines the registries of several packages, with their own dependencies", () => {
    class Versions extends Effect.Tag("test/Versions")<Versions, { readonly current: string }>() {}
    const Role = StepDef.action("failover/role", { params: Schema.Struct({}) })
    const failover = StepHandler.layer(
      Role.implement({ run: () => Effect.map(Versions, (v) => ({ version: v.current })) })
    ).pipe(Layer.provide(Layer.succeed(Versions, { current: "24.3.2" })))
    const core = StepHandler.layerRaw({ "core/health": { run: () => Effect.succeed({ healthy: true }) } })
    const p = plan([check("h", "blocking", "core/health"), action("r", "failover/role")])
    const layer = Executor.layer.pipe(
      Layer.provideMerge(
        Layer.mergeAll(StepHandler.merge(core, failover), Operator.layerAutoApprove(), Journal.layerMemory)
      )
    )
    return Effect.gen(function* () {
      const report = yield* Executor.run(p, { runId: "mg" })
      expect(report.steps.map((s) => s.evidence)).toEqual([{ healthy: true }, { version: "24.3.2" }])
      const dup = yield* Effect.exit(Layer.build(StepHandler.merge(core, core)).pipe(Effect.scoped))
      expect(Exit.isFailure(dup) && String(dup.cause)).toMatch(/Two step-handler registries define "core\/health"/)
    }).pipe(Effect.provide(layer))
  })

  it.effect("cancelling a run waiting for the operator; resume asks again", () => {
    const world = new World()
    let mode: "hang" | "approve" = "hang"
    return Effect.gen(function* () {
      const asked = yield* Deferred.make<void>()
      const operator = Operator.layerPrompt(() =>
        mode === "hang"
          ? Effect.zipRight(Deferred.succeed(asked, undefined), Effect.never)
          : Effect.succeed(new Operator.Approved({ by: "ann", evidence: {} }))
      )
      const program = Effect.gen(function* () {
        const fiber = yield* Effect.fork(Executor.run(plan([action("a"), gate("g"), action("b")]), { runId: "cg" }))
        yield* Deferred.await(asked)
        yield* Fiber.interrupt(fiber)
        const cancelled = yield* Executor.report("cg")
        expect(cancelled.status).toBe("cancelled")
        expect(cancelled.currentStep).toBe("g")
        mode = "approve"
        const report = yield* Executor.resume("cg")
        expect(report.status).toBe("succeeded")
        expect([world.count("a"), world.count("b")]).toEqual([1, 1])
      })
      yield* program.pipe(
        Effect.provide(
          wire({ a: world.effect("a"), g: { run: () => Effect.succeed({}) }, b: world.effect("b") }, operator)
        )
      )
    })
  })
})
