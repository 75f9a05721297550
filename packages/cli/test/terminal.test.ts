/**
 * What the terminal shows, in order: a scripted run (action, manual gate, action) through the real renderer
 * (`Runner.follow`) and the real terminal operator (`Gates.layerTerminal`) writing to one captured output.
 * The gate box comes after the previous step's done line and the gate's own lines, and before the next step's
 * header.
 */
import { Executor, Journal, Plan, StepHandler } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { PassThrough, Writable } from "node:stream"
import { afterEach, describe, expect, it, vi } from "vitest"
import * as Gates from "../src/Gates.js"
import * as OutputOrder from "../src/internal/outputOrder.js"
import * as Runner from "../src/internal/runner.js"

const rules = [Schema.decodeSync(Plan.RuleId)("PREP-1")]
const base = (id: string, title: string) => ({
  id,
  title,
  rules,
  target: "A",
  estimatedSeconds: 1,
  handler: id,
  params: {},
  idempotent: true,
  notes: []
})
const plan = new Plan.Plan({
  id: "terminal",
  kind: "custom",
  title: "Terminal order",
  site: "support.example.com",
  targetVersion: "24.3.2",
  steps: [
    new Plan.Action(base("before", "Step before the gate")),
    new Plan.ManualGate({
      ...base("gate", "Do it by hand"),
      instructions: ["Open the web UI and do it"],
      evidence: []
    }),
    new Plan.Action(base("after", "Step after the gate"))
  ],
  notes: []
})

/** One output for the renderer (console.log) and the terminal operator (its stream), in the order written. */
const capture = () => {
  const out: Array<string> = []
  const log = vi.spyOn(console, "log").mockImplementation((...a: Array<unknown>) => void out.push(a.join(" ")))
  const output = new Writable({
    write(chunk: Buffer, _enc, done) {
      out.push(
        ...chunk
          .toString()
          .split("\n")
          .filter((l) => l !== "")
      )
      done()
    }
  })
  return { out, output, restore: () => log.mockRestore() }
}

afterEach(() => vi.restoreAllMocks())

describe("terminal", () => {
  it("the gate box comes after the previous step's done line and before the next step's header", async () => {
    const { out, output, restore } = capture()
    const input = new PassThrough()
    const order = OutputOrder.make()
    const operator = Gates.layerTerminal({ input, output, isTty: true }, { order })
    const handlers = StepHandler.layerRaw({
      before: { run: () => Effect.succeed({}) },
      after: { run: () => Effect.succeed({}) },
      gate: { run: () => Effect.succeed({}) }
    })
    const layer = Executor.layer.pipe(Layer.provide(Layer.mergeAll(handlers, operator, Journal.layerMemory)))
    // the operator types "done" once it is asked
    const typed = setInterval(() => {
      if (out.some((l) => l.includes("Open the web UI"))) {
        clearInterval(typed)
        input.write("done\n")
      }
    }, 5)
    try {
      // the renderer lags behind the executor (as under load): it holds the first step's done line until the
      // terminal operator was asked (it drew its box, or it waits for the renderer)
      const until = (cond: () => boolean) =>
        Effect.promise(
          () =>
            new Promise<void>((resolve) => {
              const t = setInterval(() => cond() && (clearInterval(t), resolve()), 2)
            })
        )
      const lagging = Executor.runStream(plan, { runId: "t1" }).pipe(
        Stream.tap(({ event }) =>
          event._tag === "StepSucceeded" && event.stepId === "before"
            ? until(() => order.pending() || out.some((l) => l.includes("Open the web UI")))
            : Effect.void
        )
      )
      await Effect.runPromise(Runner.follow(lagging, { json: false, plan, order }).pipe(Effect.provide(layer)))
    } finally {
      clearInterval(typed)
      restore()
    }
    const at = (p: (l: string) => boolean, what: string) => {
      const i = out.findIndex(p)
      expect(i, `${what} in:\n${out.join("\n")}`).toBeGreaterThanOrEqual(0)
      return i
    }
    const beforeDone = at((l) => l.includes("✔ done"), "the first step's done line")
    const gateHeader = at((l) => l.includes("[2/3] Do it by hand"), "the gate's header")
    const gateWaiting = at((l) => l.includes("waiting for the operator"), "the gate's waiting line")
    const box = at((l) => l.includes("Open the web UI and do it"), "the gate box")
    const answered = at((l) => l.includes("approved by"), "the answer")
    const afterHeader = at((l) => l.includes("[3/3] Step after the gate"), "the next step's header")
    expect([beforeDone, gateHeader, gateWaiting, box, answered, afterHeader]).toEqual(
      [beforeDone, gateHeader, gateWaiting, box, answered, afterHeader].slice().sort((a, b) => a - b)
    )
    expect(out.at(-1)).toBe("run succeeded")
  })
})
