/**
 * `sra-upgrade plan`: print the upgrade plan as a runbook, a table or JSON.
 *
 * @since 0.3.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Plan } from "@sra-upgrade/core"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { CliError, ExitCode } from "../CliError.js"
import { currentOpt, runMethodOpt, siteOpt, toOpt, updateMethodOpt } from "../internal/options.js"
import { prepare } from "../internal/prepare.js"

/**
 * The `plan` command.
 *
 * @since 0.3.0
 * @category commands
 */
export const command = Command.make(
  "plan",
  {
    site: siteOpt,
    to: toOpt,
    method: runMethodOpt,
    updateMethod: updateMethodOpt,
    format: Options.choice("format", ["md", "table", "json"] as const).pipe(
      Options.withDefault("md" as const),
      Options.withDescription("md: a Markdown runbook; table: one line per step; json: the plan value.")
    ),
    current: currentOpt
  },
  ({ current, format, method, site, to, updateMethod }) =>
    Effect.gen(function* () {
      const { plan } = yield* prepare(site, to, method, current, undefined, updateMethod).pipe(
        Effect.mapError((e) =>
          e.exitCode === ExitCode.unreachable
            ? new CliError({
                ...e,
                message: `${e.message} To plan without contacting the appliances, give the version they run: --current <version>.`
              })
            : e
        )
      )
      yield* Console.log(
        format === "json" ? Plan.toJson(plan) : format === "table" ? Plan.toTable(plan) : Plan.toMarkdown(plan)
      )
    })
).pipe(Command.withDescription("Print the upgrade plan: a runbook a person can follow, or JSON for tools."))
