/**
 * Run a plan on a simulator and observe it: the site address probed during
 * the run (failover's `SiteProber`, journaled by the executor exactly as in
 * `run` and `resume`), the simulator playing the manual gates, waits and
 * windows compressed by the time scale, then the versions and roles read
 * back. Used by `demo` and `rehearse`.
 */
import type { ApplianceApi, ApplianceError, Plan, RunReport, Site } from "@sra-upgrade/core"
import { ApplianceApi as Api, Executor } from "@sra-upgrade/core"
import { SimOperator, type Simulator } from "@sra-upgrade/simulator"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { join } from "node:path"
import { CliError, ExitCode } from "../CliError.js"
import * as Planners from "../Planners.js"
import type * as Report from "../Report.js"
import * as Runner from "./runner.js"

export interface Options {
  readonly sim: Simulator.SimulatorHandle
  readonly site: Site.Site
  readonly plan: Plan.Plan
  readonly appliances: Layer.Layer<ApplianceApi.ApplianceApi>
  readonly timeScale: number
  readonly json: boolean
  /** Certificate exports and (unless `runsDirectory`) the journal go here. */
  readonly workDirectory: string
  readonly runsDirectory?: string | undefined
  readonly runId?: string | undefined
  readonly backupPassword?: Redacted.Redacted<string> | undefined
}

/** Appliances as their health reports them now. */
export const observe = (
  site: Site.Site,
  appliances: Layer.Layer<ApplianceApi.ApplianceApi>
): Effect.Effect<ReadonlyArray<Report.ApplianceState>, ApplianceError.ApplianceError> =>
  Effect.provide(
    Effect.gen(function* () {
      const api = yield* Api.ApplianceApi
      return yield* Effect.forEach(site.appliances, (a) =>
        Effect.flatMap(api.appliance(a.id), (c) => c.health).pipe(
          Effect.map((h): Report.ApplianceState => ({
            id: a.id,
            version: h.version,
            build: h.build,
            role: h.failoverRole,
            healthy: h.healthy
          }))
        )
      )
    }),
    appliances
  )

export const run = (
  options: Options
): Effect.Effect<{ readonly report: RunReport.RunReport; readonly extras: Report.Extras }, CliError, Scope.Scope> =>
  Effect.gen(function* () {
    const { sim, timeScale: scale } = options
    const layer = Runner.executorLayer({
      handlers: Planners.handlers({
        baseGraceSeconds: Math.max(1, 300 / scale),
        backupPassword: options.backupPassword
      }),
      // the site address, probed every 50 ms (30 simulated seconds at x600) while the run is driven
      prober: { url: sim.site.httpUrl, hostname: sim.site.hostname, intervalMillis: 50, summaryEveryMillis: 1_000 },
      appliances: options.appliances,
      operator: SimOperator.layer({
        controlUrl: sim.controlUrl,
        exportDirectory: join(options.workDirectory, "certificates")
      }),
      journal: Runner.journalLayer(options.runsDirectory ?? join(options.workDirectory, "runs"))
    })
    const runId = yield* Runner.follow(
      Executor.runStream(
        Planners.compress(options.plan, scale),
        options.runId === undefined ? {} : { runId: options.runId }
      ),
      { json: options.json, plan: options.plan, timeScale: scale, instructions: 2 }
    ).pipe(Effect.provide(layer))
    if (runId === undefined)
      return yield* new CliError({ exitCode: ExitCode.failed, message: "the run produced no event" })
    const report = yield* Executor.report(runId).pipe(Effect.mapError(Runner.fromExecutorError), Effect.provide(layer))
    const after = yield* observe(options.site, options.appliances).pipe(
      Effect.orElseSucceed(() => [] as ReadonlyArray<Report.ApplianceState>)
    )
    return { report, extras: { appliances: after, timeScale: scale } }
  })
