/**
 * `sra-upgrade run`: plan and execute the upgrade, journaled in `--runs`.
 *
 * @since 0.3.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Executor } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import {
  answersOpt,
  jsonOpt,
  runMethodOpt,
  probeIntervalOpt,
  runsOpt,
  simulatorOpt,
  siteOpt,
  toOpt,
  updateMethodOpt,
  yesOpt
} from "../internal/options.js"
import { driving, finish, prepare, runLayer } from "../internal/prepare.js"
import * as Runner from "../internal/runner.js"
import * as Planners from "../Planners.js"

/**
 * The `run` command.
 *
 * @since 0.3.0
 * @category commands
 */
export const command = Command.make(
  "run",
  {
    site: siteOpt,
    to: toOpt,
    method: runMethodOpt,
    updateMethod: updateMethodOpt,
    runs: runsOpt,
    answers: answersOpt,
    yes: yesOpt,
    simulator: simulatorOpt,
    json: jsonOpt,
    probeInterval: probeIntervalOpt,
    runId: Options.text("run-id").pipe(Options.optional, Options.withDescription("Journal name (default: generated)."))
  },
  (o) =>
    Effect.gen(function* () {
      const drive = yield* driving(o)
      const { timeScale } = drive
      const { appliances, plan, site } = yield* prepare(
        o.site,
        o.to,
        o.method,
        Option.none(),
        drive.simulator,
        o.updateMethod
      )
      const layer = yield* runLayer({
        site,
        file: o.site,
        appliances,
        driving: drive,
        runs: o.runs,
        probeIntervalSeconds: o.probeInterval
      })
      yield* Effect.gen(function* () {
        const runId = yield* Runner.follow(
          Executor.runStream(
            Planners.compress(plan, timeScale),
            Option.match(o.runId, { onNone: () => ({}), onSome: (runId) => ({ runId }) })
          ),
          { json: o.json, plan, timeScale, order: drive.order }
        )
        yield* finish(o.runs, o.json, runId)
      }).pipe(Effect.provide(layer))
    })
).pipe(
  Command.withDescription(
    "Plan and execute the upgrade, journaled in --runs; manual gates are asked at the terminal (or read from --answers)."
  )
)
