/**
 * `sra-upgrade demo fleet`: a rollout of 12 simulated sites (8 single
 * appliances, 4 failover pairs, three time zones) in 3 waves on the embedded
 * durable engine (SQLite in a temporary folder). One site of the second wave
 * fails by an injected fault (its appliance reports unhealthy); the failure
 * budget is 1, so the rollout goes on and ends with 11 succeeded and 1
 * failed. Prints live progress, then a rollout report (per wave, per site:
 * outcome, duration, measured availability, the site's report). With
 * `--json`, the last line is `{"rollout": {...}}`. Everything it started is
 * stopped when it returns.
 *
 * @since 0.3.0
 */
import { Executor, Operator, type RunReport, StepHandler } from "@sra-upgrade/core"
import { FleetFile, Rollout, SiteWindow } from "@sra-upgrade/fleet"
import { Simulator } from "@sra-upgrade/simulator"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { CliError, ExitCode, usage } from "./CliError.js"
import * as Demo from "./Demo.js"
import * as FleetRun from "./internal/fleetRun.js"
import * as FleetWorker from "./internal/fleetWorker.js"
import * as Report from "./Report.js"

/**
 * Simulated seconds per real second of the fleet demo.
 *
 * @since 0.3.0
 * @category models
 */
export const defaultTimeScale = 1200

/**
 * The site that fails (second wave), and why.
 *
 * @since 0.3.0
 * @category models
 */
export const failingSite = "site-007"

/**
 * Options of {@link run}.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  readonly timeScale: number
  readonly json?: boolean | undefined
}

const zones = ["Europe/Paris", "America/New_York", "Asia/Tokyo"] as const

const dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const

/**
 * Two weekly windows in the site's time zone: one that opened an hour ago
 * and lasts 23.5 hours, and the next day's (a pair's second appliance,
 * PAIR-1), both long enough for any site of the demo.
 */
const openNow = (tz: string, now: Date): ReadonlyArray<string> => {
  const local = SiteWindow.toLocal(tz, now.getTime() - 3_600_000)
  const hh = String(local.hour).padStart(2, "0")
  const mm = String(local.minute - (local.minute % 5)).padStart(2, "0")
  return [local.weekday, (local.weekday + 1) % 7].map(
    (d, i) => `{ days: [${dayNames[d]}], start: "${hh}:${mm}", durationMinutes: 1410, label: demo window ${i + 1} }`
  )
}

/** Sites in file order: waves take them in this order (canary 1, then 4, then the rest). */
const order = [
  "site-005", // canary: a single appliance
  "site-001", // wave 2: a pair, two singles (one failing), a pair
  "site-006",
  "site-007",
  "site-002",
  "site-003", // wave 3
  "site-008",
  "site-009",
  "site-004",
  "site-010",
  "site-011",
  "site-012"
]

const pairs = new Set(["site-001", "site-002", "site-003", "site-004"])

/**
 * A fleet over simulated sites, as the fleet file says it.
 *
 * @since 0.3.0
 * @category models
 */
export interface SimulatedFleet {
  readonly id: string
  /** Site names in file order (waves take them in this order). */
  readonly order: ReadonlyArray<string>
  /** The pairs among them (upgraded with the asynchronous method). */
  readonly pairs: ReadonlySet<string>
  /** The `waves:` entries, e.g. `{ name: canary, size: 1 }`. */
  readonly waves: ReadonlyArray<string>
  readonly concurrency: number
  readonly failureBudget: number
}

const fleetYaml = (spec: SimulatedFleet, now: Date): string =>
  [
    "# Written for a many-site simulator (sra-upgrade demo fleet).",
    `id: ${spec.id}`,
    `name: ${spec.id} to 24.3.2`,
    "target:",
    '  pra: "24.3.2"',
    "waves:",
    ...spec.waves.map((w) => `  - ${w}`),
    `concurrency: ${spec.concurrency}`,
    `failureBudget: { count: ${spec.failureBudget} }`,
    "sites:",
    ...spec.order.flatMap((name, i) => {
      const tz = zones[i % zones.length]!
      return [
        `  - file: ${name}.yaml`,
        `    timeZone: ${tz}`,
        ...(spec.pairs.has(name) ? ["    method: async"] : []),
        "    windows:",
        ...openNow(tz, now).map((w) => `      - ${w}`)
      ]
    })
  ].join("\n") + "\n"

/**
 * Write a site file per simulated site (secret and CA beside them) and a
 * fleet file over them into `dir`, windows open now in three time zones;
 * returns the fleet file's path.
 *
 * @since 0.3.0
 * @category constructors
 */
export const writeSimulatedFleet = async (
  sims: Simulator.SitesHandle,
  dir: string,
  spec: SimulatedFleet,
  now: Date = new Date()
): Promise<string> => {
  await writeFile(join(dir, "simulator-ca.pem"), sims.caPem)
  for (const sim of sims.sites) {
    const secretName = `${sim.name}.client-secret`
    const { secret, yaml } = Demo.siteFileFor(
      sim,
      sim.kind === "pair" ? "async" : "single",
      join(dir, "backups", sim.name),
      secretName,
      "simulator-ca.pem"
    )
    await writeFile(join(dir, secretName), secret + "\n", { mode: 0o600 })
    await writeFile(join(dir, `${sim.name}.yaml`), yaml)
  }
  const file = join(dir, "fleet.yaml")
  await writeFile(file, fleetYaml(spec, now))
  return file
}

/**
 * The demo's fleet: canary 1, then 4, then the rest; cap 4; budget 1.
 *
 * @since 0.3.0
 * @category models
 */
export const demoFleet: SimulatedFleet = {
  id: "demo-fleet",
  order,
  pairs,
  waves: ["{ name: canary, size: 1 }", "{ name: early, size: 4 }", "{ name: rest, rest: true }"],
  concurrency: 4,
  failureBudget: 1
}

/**
 * Run the fleet demo.
 *
 * @since 0.3.0
 * @category constructors
 */
export const run = (options: Options): Effect.Effect<void, CliError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const scale = options.timeScale
      if (!(scale >= 1)) return yield* usage(`--time-scale must be at least 1, got ${scale}`)
      const json = options.json === true
      const say = (line: string) => (json ? Effect.void : Console.log(line))
      const wallStart = Date.now()
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => mkdtemp(join(tmpdir(), "sra-upgrade-demo-fleet-"))),
        (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
      )
      const sims = yield* Simulator.startSites({
        sites: 12,
        pairs: 4,
        common: { timeScale: scale, fleet: { jumpClients: 10 } }
      }).pipe(Effect.mapError((e) => usage(e.message)))
      yield* say(`Simulator: 12 sites (4 failover pairs, 8 single appliances), time x${scale}; ${sims.controlUrl}`)
      const fleetFile = yield* Effect.promise(() => writeSimulatedFleet(sims, dir, demoFleet))
      // the injected fault: the failing site's appliance reports unhealthy
      yield* sims
        .site(failingSite)
        .control("POST", "/appliances/A/faults", { kind: "unhealthy" })
        .pipe(Effect.mapError((e) => usage(e.message)))
      const fleet = yield* FleetFile.decodeFleetFile(fleetFile).pipe(Effect.mapError((e) => usage(e.message)))
      const plan = Rollout.plan(fleet, { now: new Date() })
      yield* say("")
      yield* say(Rollout.toTable(plan))
      yield* say("")
      const worker = FleetWorker.layer({
        workDirectory: dir,
        simulator: { controlUrl: sims.controlUrl, timeScale: scale }
      })
      const engine = FleetRun.embedded(join(dir, "fleet.db"), worker, { pollInterval: "250 millis" })
      const { reports, summary } = yield* Effect.gen(function* () {
        const summary = yield* FleetRun.runAndFollow(plan, { json, everyMillis: 2_000 })
        // each site's report, from its journal in the engine's database
        const reader = Executor.layer.pipe(
          Layer.provide(Layer.mergeAll(StepHandler.layerRaw({}), Operator.layerScripted({})))
        )
        const reports = yield* Effect.forEach(plan.sites, (s) =>
          Executor.report(FleetRun.siteRunId(plan.rolloutId, s.id)).pipe(
            Effect.map((r): RunReport.RunReport | undefined => r),
            Effect.orElseSucceed(() => undefined)
          )
        ).pipe(Effect.provide(reader))
        return { reports, summary }
      }).pipe(Effect.provide(engine))
      const reportDir = join(tmpdir(), `sra-upgrade-demo-fleet-reports-${process.pid}`)
      yield* Effect.promise(async () => {
        await mkdir(reportDir, { recursive: true })
        for (const r of reports) if (r) await writeFile(join(reportDir, `${r.runId}.report.md`), Report.toMarkdown(r))
      })
      const stored = yield* FleetRun.summaryOf(plan.rolloutId).pipe(
        Effect.provide(FleetRun.ledger({ file: join(dir, "fleet.db") }))
      )
      const lines = FleetRun.rolloutReport(plan, stored.stored.ledger, reports, { reportDir, timeScale: scale })
      yield* say("")
      for (const l of lines) yield* say(l)
      yield* say("")
      yield* say(
        `Demo fleet finished in ${((Date.now() - wallStart) / 1000).toFixed(1)} s: ${summary.status}; the simulator and engine are stopped.`
      )
      if (json) {
        for (const s of plan.sites) {
          const st = stored.stored.ledger[s.id]
          yield* Console.log(
            JSON.stringify({
              site: s.id,
              wave: s.wave + 1,
              kind: s.kind,
              timeZone: s.timeZone,
              outcome: st?._tag ?? "NotStarted",
              ...(st?._tag === "Failed" ? { reason: st.reason } : {})
            })
          )
        }
        yield* Console.log(FleetRun.rolloutLine(summary))
      }
      const expected = summary.counts.succeeded === 11 && summary.counts.failed === 1
      if (!expected)
        return yield* new CliError({
          exitCode: ExitCode.failed,
          message: `demo fleet ended ${summary.status} with ${summary.counts.succeeded} succeeded and ${summary.counts.failed} failed (expected 11 and 1)`
        })
    })
  )
