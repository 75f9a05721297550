/**
 * `sra-upgrade status`: list the runs of a runs folder, or show one's report.
 *
 * @since 0.3.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import { Executor } from "@sra-upgrade/core"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { readdir } from "node:fs/promises"
import { failed } from "../CliError.js"
import { jsonOpt, runsOpt } from "../internal/options.js"
import * as Runner from "../internal/runner.js"
import * as Report from "../Report.js"

const listRuns = (runs: string) =>
  Effect.tryPromise({
    try: async () => {
      const names = await readdir(runs).catch(() => [] as Array<string>)
      return names
        .filter((n) => n.endsWith(".jsonl"))
        .map((n) => n.slice(0, -".jsonl".length))
        .sort()
    },
    catch: (e) => failed(`cannot list ${runs}: ${String(e)}`)
  })

/**
 * The `status` command.
 *
 * @since 0.3.0
 * @category commands
 */
export const command = Command.make(
  "status",
  {
    runId: Args.text({ name: "run-id" }).pipe(Args.optional),
    runs: runsOpt,
    json: jsonOpt
  },
  (o) =>
    Effect.gen(function* () {
      const journal = yield* listRuns(o.runs)
      if (Option.isNone(o.runId)) {
        if (journal.length === 0) return yield* Console.log(`No runs in ${o.runs}.`)
        const reports = yield* Effect.forEach(journal, (id) =>
          Executor.report(id).pipe(Effect.mapError(Runner.fromExecutorError))
        )
        if (o.json)
          return yield* Console.log(
            JSON.stringify(
              reports.map((r) => ({
                runId: r.runId,
                status: r.status,
                currentStep: r.currentStep,
                site: r.site,
                target: r.targetVersion
              }))
            )
          )
        for (const r of reports)
          yield* Console.log(
            `${r.runId}  ${r.status.padEnd(20)} ${r.site} → ${r.targetVersion}  ${r.currentStep ?? ""}`
          )
        return
      }
      const report = yield* Executor.report(o.runId.value).pipe(Effect.mapError(Runner.fromExecutorError))
      yield* Console.log(o.json ? Report.toJson(report) : Report.toMarkdown(report))
    }).pipe(Effect.provide(Runner.readOnlyExecutor(o.runs)))
).pipe(Command.withDescription("List the runs of the runs folder, or show the report of one."))
