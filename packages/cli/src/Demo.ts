/**
 * `sra-upgrade demo`: an embedded simulator, a site file written for it, the
 * plan printed, the upgrade run with the simulator operator playing the
 * manual gates, and the report with the versions, roles and the site
 * downtime measured by a prober. Time is scaled so it takes well under a
 * minute; everything (servers, temporary files) is gone when it returns.
 *
 * @since 0.1.0
 */
import { ApplianceClient } from "@sra-upgrade/appliance-client"
import { Plan } from "@sra-upgrade/core"
import { SimConfig, Simulator, SiteFile } from "@sra-upgrade/simulator"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as YAML from "yaml"
import { CliError, ExitCode, usage } from "./CliError.js"
import * as Runner from "./internal/runner.js"
import * as SimRun from "./internal/simRun.js"
import * as Planners from "./Planners.js"
import * as Report from "./Report.js"
import * as SiteConnections from "./SiteConnections.js"

/**
 * The method the demo runs by default: the asynchronous upgrade of a
 * failover pair (B first, verified as the site, traffic switched, then A;
 * the least downtime). `single` upgrades one appliance, `sync` the pair
 * with the synchronous method.
 *
 * @since 0.1.0
 * @category models
 */
export const method: Planners.Method = "async"

/**
 * Simulated seconds per real second.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultTimeScale = 600

/**
 * The version the demo upgrades to (the simulator starts at 24.1.3).
 *
 * @since 0.1.0
 * @category models
 */
export const targetVersion = "24.3.2"

/**
 * Options of {@link run}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly timeScale: number
  /** Print run events as JSON lines instead of progress lines. */
  readonly json?: boolean | undefined
  /** Override {@link method}. */
  readonly method?: Planners.Method | undefined
}

/**
 * Id of the extra connection to a simulator's site front (the pair checks ask it who answers on the site).
 *
 * @since 0.2.0
 * @category constants
 */
export const siteClientId = "site"

/**
 * The connections of a run against a simulator: the given ones and, given the simulator's site front,
 * one more connection `siteClientId` to it (it tells which appliance answers on the site; the failover
 * checks use it).
 *
 * @since 0.2.0
 * @category constructors
 */
export const simulatorConnections = (
  connections: ReadonlyArray<ApplianceClient.Connection>,
  siteFrontHttpsUrl: string | undefined
): ReadonlyArray<ApplianceClient.Connection> => [
  ...connections,
  ...(siteFrontHttpsUrl === undefined || connections.length === 0
    ? []
    : [{ ...connections[0]!, id: siteClientId, baseUrl: siteFrontHttpsUrl }])
]

/** The simulator seed for a method: a pair, or one appliance with no failover role. */
const simInput = (m: Planners.Method, timeScale: number): SimConfig.SimConfigInput => {
  const defaults = SimConfig.make()
  const pair = m !== "single"
  return {
    timeScale,
    appliances: pair ? defaults.appliances : [{ ...defaults.appliances[0]!, failoverRole: "none" }],
    updates: defaults.updates.filter((u) => u.kind !== "license"),
    fleet: { jumpClients: 40 }
  }
}

/**
 * A site file describing a running simulator, as a person would write it:
 * the client secret and the simulator's CA certificate are files beside it
 * (`secretFile`, `caFile`), the maintenance window(s) open now.
 *
 * @since 0.1.0
 * @category constructors
 */
export const siteFileFor = (
  sim: Simulator.SimulatorHandle,
  m: Planners.Method,
  backupDirectory: string,
  secretFile = "client-secret",
  caFile = "simulator-ca.pem"
): { readonly yaml: string; readonly secret: string; readonly caPem: string } => {
  const { caPem, secret, site } = SiteFile.describe(sim, { pair: m !== "single", backupDirectory, secretFile, caFile })
  return {
    yaml: "# Written by `sra-upgrade demo` for the embedded simulator.\n" + YAML.stringify(site, { lineWidth: 0 }),
    secret,
    caPem
  }
}

/**
 * Run the demo. Prints as it goes; fails with a `CliError` carrying the
 * exit code when the run does not succeed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (options: Options): Effect.Effect<void, CliError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const m = options.method ?? method
      const scale = options.timeScale
      if (!(scale >= 1)) return yield* usage(`--time-scale must be at least 1, got ${scale}`)
      const wallStart = Date.now()
      const say = (line: string) => (options.json ? Effect.void : Console.log(line))

      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => mkdtemp(join(tmpdir(), "sra-upgrade-demo-"))),
        (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
      )
      const sim = yield* Simulator.start(simInput(m, scale)).pipe(Effect.mapError((e) => usage(e.message)))
      yield* say(
        `Simulator: ${sim.appliances.map((a) => `${a.id} ${a.httpsUrl}`).join(", ")}; site ${sim.site.hostname}; time x${scale}`
      )

      const { caPem, secret, yaml } = siteFileFor(sim, m, join(dir, "backups"))
      const siteFile = join(dir, "site.yaml")
      yield* Effect.promise(async () => {
        await writeFile(join(dir, "client-secret"), secret + "\n", { mode: 0o600 })
        await writeFile(join(dir, "simulator-ca.pem"), caPem)
        await writeFile(siteFile, yaml)
      })
      const site = yield* SiteConnections.load(siteFile)
      const connections = yield* SiteConnections.connections(site, { siteFile })
      const appliances = Layer.succeedContext(
        yield* Layer.build(ApplianceClient.layer(simulatorConnections(connections, sim.site.httpsUrl)))
      )

      const current = yield* SiteConnections.currentVersions(site, appliances).pipe(
        Effect.mapError(SiteConnections.fromApplianceError)
      )

      const plan = yield* Planners.plan(site, targetVersion, m, {
        current,
        now: new Date(),
        siteUrl: sim.site.httpUrl,
        ...(site.isPair ? { siteClientId } : {})
      })
      yield* say("")
      yield* say(Plan.toTable(plan))
      yield* say("")

      const { extras: observed, report } = yield* SimRun.run({
        sim,
        site,
        plan,
        appliances,
        timeScale: scale,
        json: options.json === true,
        workDirectory: dir
      })
      const extras: Report.Extras = { ...observed, wallSeconds: (Date.now() - wallStart) / 1000 }
      if (options.json) yield* Console.log(Report.toJson(report, extras))
      else {
        // durations of the report are real ones: show them at simulated scale
        yield* Console.log("")
        yield* Console.log(Report.toMarkdown(report, extras))
        yield* Console.log(
          report.status === "succeeded"
            ? `Demo finished: ${plan.title}, ${report.steps.length} steps, in ${extras.wallSeconds!.toFixed(1)} s. The simulator is stopped and its files removed.`
            : `Demo run ended ${report.status}.`
        )
      }
      const code = Runner.exitCodeOf(report)
      if (code !== ExitCode.ok)
        return yield* new CliError({
          exitCode: code,
          message: `demo run ended ${report.status}: ${report.error ?? ""}`
        })
    })
  )
