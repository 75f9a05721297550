/**
 * Golden journals: fixed runs (TestClock, fixed run ids) must write exactly
 * the bytes in `fixtures/golden/*.jsonl`, written by the executor before its
 * fast path (issue 16). Any change to how the executor builds, orders or
 * encodes records shows here. `UPDATE_GOLDEN=1` rewrites the files: only for
 * a deliberate format change (and then old journals need a compatibility test).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as ApplianceErrorM from "../src/ApplianceError.js"
import * as Executor from "../src/Executor.js"
import * as Journal from "../src/Journal.js"
import * as Operator from "../src/Operator.js"
import * as RunEvent from "../src/RunEvent.js"
import { RunObserver } from "../src/RunObserver.js"
import * as SingleUpgrade from "../src/SingleUpgrade.js"
import * as Site from "../src/Site.js"
import * as StepHandler from "../src/StepHandler.js"
import { World } from "./fixtures/harness.js"
import { action, check, gate, plan, waitFor, window } from "./fixtures/steps.js"

const goldenDir = path.join(import.meta.dirname, "fixtures", "golden")
const update = process.env["UPDATE_GOLDEN"] === "1"

/** Compare (or, with UPDATE_GOLDEN=1, write) the journal file of `runId` in `dir`. */
const golden = (dir: string, runId: string) => {
  const actual = fs.readFileSync(path.join(dir, `${runId}.jsonl`), "utf8")
  const file = path.join(goldenDir, `${runId}.jsonl`)
  if (update) {
    fs.mkdirSync(goldenDir, { recursive: true })
    fs.writeFileSync(file, actual)
  }
  expect(actual).toBe(fs.readFileSync(file, "utf8"))
}

const unreachable = new ApplianceErrorM.ApplianceError({
  appliance: "A",
  operation: "health",
  reason: new ApplianceErrorM.Transport({ code: "ECONNREFUSED" }),
  hint: "wait for the reboot"
})

/** An observer that journals one sample when it starts and one when it stops. */
const observer = Layer.succeed(RunObserver, {
  observe: (o) =>
    Effect.gen(function* () {
      const sample = (first: boolean) =>
        new RunEvent.SiteSample({
          from: new Date(0),
          at: new Date(1000),
          probes: 3,
          failed: first ? 0 : 1,
          up: first,
          ...(first ? { first: true } : { lastError: "HTTP 503" }),
          intervalMillis: 500,
          url: `https://site.example/${o.runId}`
        })
      yield* o.record(sample(true))
      yield* Effect.addFinalizer(() => o.record(sample(false)))
    })
})

const wire = (
  dir: string,
  handlers: Readonly<Record<string, StepHandler.Handler>>,
  operator: Layer.Layer<Operator.Operator>
) =>
  Executor.layer.pipe(
    Layer.provideMerge(
      Layer.mergeAll(StepHandler.layerRaw(handlers), operator, Journal.layer({ directory: dir }), observer)
    )
  )

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "sra-golden-"))

describe("golden journals (executor fast path keeps the bytes)", () => {
  it.effect("every step kind, progress, polls, a window, a gate with evidence, samples, a failure", () => {
    const dir = tmp()
    let polls = 0
    const p = plan(
      [
        check("pre"),
        check("skew", "advisory"),
        action("copy", "copy", true),
        waitFor("healthy", 10, 120),
        window("win", new Date(3_600_000), 120),
        gate("install", "install", ["ticket"]),
        action("last")
      ],
      "golden-plan-a"
    )
    const handlers: Record<string, StepHandler.Handler> = {
      pre: { run: () => Effect.succeed({ version: "24.1.1", nested: { list: [1, "two", null], ok: true } }) },
      skew: { run: () => Effect.fail(StepHandler.fail("clock skew 9 min: fix NTP", { skewSeconds: 540 })) },
      copy: {
        run: (ctx) =>
          Effect.gen(function* () {
            yield* ctx.progress!({ done: 10, total: 20, unit: "bytes" })
            yield* ctx.progress!({ done: 20, unit: "items" })
            return { copied: 20 }
          })
      },
      healthy: {
        poll: () =>
          Effect.suspend(() => {
            polls++
            if (polls === 1) return Effect.fail(unreachable)
            return Effect.succeed(
              polls < 3
                ? { holds: false, observed: { version: "24.1.1" } }
                : { holds: true, observed: { version: "24.3.2" }, evidence: { build: "37380" }, warnings: ["slow"] }
            )
          })
      },
      install: { run: () => Effect.succeed({ versionReadBack: "24.3.2" }) },
      last: { run: () => Effect.fail(StepHandler.fail("the appliance refused: license expired")) }
    }
    const operator = Operator.layerScripted({
      install: new Operator.Approved({ by: "ann@example.com", evidence: { ticket: "CHG-1" } })
    })
    return Effect.gen(function* () {
      const fiber = yield* Effect.fork(Executor.run(p, { runId: "golden-a" }))
      yield* TestClock.adjust("2 hours")
      const report = yield* Fiber.join(fiber)
      expect(report.status).toBe("failed")
      golden(dir, "golden-a")
    }).pipe(Effect.provide(wire(dir, handlers, operator)))
  })

  it.effect("cancel, resume with verify, confirmation by the operator, a deferred gate, PREP-6 halt", () => {
    const dir = tmp()
    const world = new World()
    let hang: "before" | "after" | undefined = "after"
    const p = plan(
      [action("x"), action("y"), gate("g", "g", ["ticket"]), action("z", "z", true), action("install")],
      "golden-plan-b"
    )
    const answers: Array<Operator.Answer> = [
      new Operator.Approved({ by: "bob", evidence: {} }),
      new Operator.Deferred({ by: "ann", reason: "tonight" }),
      new Operator.Approved({ by: "ann", evidence: { ticket: "CHG-9" } })
    ]
    const handlers: Record<string, StepHandler.Handler> = {
      x: world.effect("x", { hang: () => hang }),
      y: world.effect("y", { verify: false, hang: () => hang }),
      g: { run: () => Effect.succeed({ checked: true }) },
      z: { run: (ctx) => Effect.succeed({ attempt: ctx.attempt }) },
      install: {
        run: () => Effect.fail(StepHandler.baseUpdateFailed("update 24.3.2 reported 'install failed'"))
      }
    }
    const operator = Operator.layerPrompt(() => Effect.sync(() => answers.shift()!))
    return Effect.gen(function* () {
      const f1 = yield* Effect.fork(Executor.run(p, { runId: "golden-b" }))
      while (world.count("x") === 0) yield* Effect.yieldNow()
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(f1)
      const f2 = yield* Effect.fork(Executor.resume("golden-b"))
      while (world.count("y") === 0) yield* Effect.yieldNow()
      yield* Fiber.interrupt(f2)
      hang = undefined
      yield* TestClock.adjust("1 minute")
      const second = yield* Executor.resume("golden-b")
      expect(second.status).toBe("waiting-for-operator")
      // the stream carries the same records as the journal
      const events = yield* Stream.runCollect(Executor.resumeStream("golden-b"))
      expect(Chunk.last(events).pipe((e) => e._tag === "Some" && e.value.event._tag)).toBe("RunFinished")
      expect((yield* Executor.report("golden-b")).status).toBe("halted-needs-support")
      golden(dir, "golden-b")
    }).pipe(Effect.provide(wire(dir, handlers, operator)))
  })

  it.effect("a record the schema refuses (a progress unit from untyped code) is not journaled; the step fails", () => {
    const dir = tmp()
    const p = plan([action("copy", "copy", true)], "golden-plan-c")
    const handlers: Record<string, StepHandler.Handler> = {
      copy: {
        run: (ctx) =>
          Effect.gen(function* () {
            yield* ctx.progress!({ done: 20, unit: "files" as "items" })
            return { copied: 20 }
          })
      }
    }
    return Effect.gen(function* () {
      const report = yield* Executor.run(p, { runId: "golden-c" })
      expect(report.status).toBe("failed")
      golden(dir, "golden-c")
    }).pipe(Effect.provide(wire(dir, handlers, Operator.layerAutoApprove("tester"))))
  })

  it.effect(
    "a single-appliance upgrade plan from the planner (typed params, windows, gates) with no-op handlers",
    () => {
      const dir = tmp()
      const site = Schema.decodeUnknownSync(Site.Site)(
        JSON.parse(fs.readFileSync(path.join(goldenDir, "site.json"), "utf8")) as unknown
      )
      const planned = SingleUpgrade.planSingleUpgrade(site, "24.3.2", {
        current: { product: "24.1.3", build: "40516-5f3e2d1c0b9a88776655443322110ffeeddccbba" },
        now: new Date("2026-12-01T00:00:00Z")
      })
      if (Either.isLeft(planned)) throw new Error(planned.left.message)
      const p = planned.right
      const noop: StepHandler.Handler = {
        run: () => Effect.succeed({ ok: true }),
        poll: () => Effect.succeed({ holds: true, observed: "ready" })
      }
      const handlers = Object.fromEntries(p.steps.map((s) => [s.handler, noop]))
      return Effect.gen(function* () {
        yield* TestClock.setTime(new Date("2026-12-05T22:00:00Z").getTime())
        const report = yield* Executor.run(p, { runId: "golden-d" })
        expect(report.status).toBe("succeeded")
        golden(dir, "golden-d")
      }).pipe(Effect.provide(wire(dir, handlers, Operator.layerAutoApprove("tester"))))
    }
  )
})
