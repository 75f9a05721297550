/**
 * `sra-upgrade resume`: continue a stopped run from its journal.
 *
 * @since 0.3.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import { Executor } from "@sra-upgrade/core"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { answersOpt, jsonOpt, probeIntervalOpt, runsOpt, simulatorOpt, siteOpt, yesOpt } from "../internal/options.js"
import { appliancesFor, driving, finish, runLayer } from "../internal/prepare.js"
import * as Runner from "../internal/runner.js"
import * as SiteConnections from "../SiteConnections.js"

/**
 * The `resume` command.
 *
 * @since 0.3.0
 * @category commands
 */
export const command = Command.make(
  "resume",
  {
    runId: Args.text({ name: "run-id" }).pipe(Args.withDescription("The run to continue (see `sra-upgrade status`).")),
    site: siteOpt,
    runs: runsOpt,
    answers: answersOpt,
    yes: yesOpt,
    simulator: simulatorOpt,
    json: jsonOpt,
    probeInterval: probeIntervalOpt
  },
  (o) =>
    Effect.gen(function* () {
      const site = yield* SiteConnections.load(o.site)
      const drive = yield* driving(o)
      const { timeScale } = drive
      const appliances = yield* appliancesFor(site, o.site, drive.simulator)
      const layer = yield* runLayer({
        site,
        file: o.site,
        appliances,
        driving: drive,
        runs: o.runs,
        probeIntervalSeconds: o.probeInterval
      })
      yield* Effect.gen(function* () {
        const before = yield* Executor.report(o.runId).pipe(Effect.mapError(Runner.fromExecutorError))
        if (!o.json) yield* Console.log(`resuming ${o.runId} (${before.status}, at ${before.currentStep ?? "-"})`)
        const runId = yield* Runner.follow(Executor.resumeStream(o.runId), {
          json: o.json,
          plan: undefined,
          timeScale,
          order: drive.order
        })
        yield* finish(o.runs, o.json, runId ?? o.runId)
      }).pipe(Effect.provide(layer))
    })
).pipe(Command.withDescription("Continue a stopped run from its journal (crash, Ctrl-C, deferred gate, window)."))
