/**
 * `sra-upgrade check`: run only the readiness checks of the plan.
 *
 * @since 0.3.0
 */
import * as Command from "@effect/cli/Command"
import { Journal, type Plan, RunHistory, StepHandler } from "@sra-upgrade/core"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { failed } from "../CliError.js"
import { jsonOpt, runMethodOpt, siteOpt, toOpt, updateMethodOpt } from "../internal/options.js"
import { handlersFor, prepare } from "../internal/prepare.js"

interface CheckRow {
  readonly id: string
  readonly title: string
  readonly target: string
  readonly rules: ReadonlyArray<string>
  readonly result: "ok" | "FAIL" | "warn"
  readonly detail: string
}

const runChecks = (plan: Plan.Plan) =>
  Effect.gen(function* () {
    const handlers = yield* StepHandler.StepHandlers
    const rows: Array<CheckRow> = []
    // readiness: the checks before the first step that changes or waits for something
    const firstWork = plan.steps.findIndex((s) => s._tag === "Action" || s._tag === "WaitFor" || s._tag === "Window")
    for (const step of firstWork < 0 ? plan.steps : plan.steps.slice(0, firstWork)) {
      if (step._tag !== "Check") continue
      const base = { id: step.id, title: step.title, target: step.target ?? "-", rules: step.rules }
      const run = Option.getOrUndefined(handlers.get(step.handler))?.run
      if (run === undefined) {
        rows.push({ ...base, result: "FAIL", detail: `no handler ${step.handler}` })
        continue
      }
      const r = yield* Effect.either(run({ runId: "check", plan, step, attempt: 1, history: RunHistory.make([]) }))
      if (Either.isRight(r)) {
        const ev = Object.entries(r.right)
          .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
          .join(", ")
        rows.push({ ...base, result: "ok", detail: ev.length > 120 ? ev.slice(0, 119) + "…" : ev })
      } else {
        rows.push({ ...base, result: step.severity === "advisory" ? "warn" : "FAIL", detail: r.left.message })
      }
    }
    return rows
  })

/**
 * The `check` command.
 *
 * @since 0.3.0
 * @category commands
 */
export const command = Command.make(
  "check",
  { site: siteOpt, to: toOpt, method: runMethodOpt, updateMethod: updateMethodOpt, json: jsonOpt },
  (o) =>
    Effect.gen(function* () {
      const { appliances, plan, site } = yield* prepare(
        o.site,
        o.to,
        o.method,
        Option.none(),
        undefined,
        o.updateMethod
      )
      const handlers = yield* handlersFor(site, o.site)
      const rows = yield* runChecks(plan).pipe(
        Effect.provide(handlers.pipe(Layer.provide(Layer.merge(appliances, Journal.layerMemory))))
      )
      if (o.json) yield* Console.log(JSON.stringify(rows, null, 2))
      else {
        const w = Math.max(5, ...rows.map((r) => r.title.length))
        yield* Console.log(`${"check".padEnd(w)}  result   detail`)
        yield* Console.log(`${"-".repeat(w)}  -------  ------`)
        for (const r of rows) yield* Console.log(`${r.title.padEnd(w)}  ${r.result.padEnd(7)}  ${r.detail}`)
      }
      const blocking = rows.filter((r) => r.result === "FAIL")
      if (blocking.length > 0)
        return yield* failed(`${blocking.length} blocking check(s) failed: ${blocking.map((r) => r.id).join(", ")}`)
      if (!o.json) yield* Console.log(`\nReady: ${rows.length} check(s) passed or advisory.`)
    })
).pipe(Command.withDescription("Run only the readiness checks of the plan; exit code 0 when none blocks, 1 otherwise."))
