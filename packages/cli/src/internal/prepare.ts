/**
 * What several commands do before and after a run: load the site and plan,
 * build the handlers and the appliance port, choose the operator, write
 * the report and map the run's end to an exit code.
 */
import type { ApplianceClient } from "@sra-upgrade/appliance-client"
import {
  ApplianceApi,
  Executor,
  type Journal,
  type Operator,
  type Plan,
  Site,
  type SingleUpgrade,
  type StepHandler
} from "@sra-upgrade/core"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { dirname } from "node:path"
import { CliError, ExitCode, failed, usage, waiting } from "../CliError.js"
import * as Demo from "../Demo.js"
import * as Gates from "../Gates.js"
import * as Migration from "../Migration.js"
import * as Planners from "../Planners.js"
import * as Report from "../Report.js"
import * as SiteConnections from "../SiteConnections.js"
import * as OutputOrder from "./outputOrder.js"
import * as Prober from "./prober.js"
import * as Runner from "./runner.js"
import * as Sim from "./sim.js"

/** The methods of plan, check and run: the planners' and `migration` (a move to new hardware). */
export type RunMethod = Planners.Method | "migration"

/** A site, its method and plan, and the appliance port to run it through. */
export interface Prepared {
  readonly site: Site.Site
  readonly method: RunMethod
  readonly plan: Plan.Plan
  readonly appliances: Layer.Layer<ApplianceApi.ApplianceApi>
}

/** Observed versions of every appliance, through the port. */
export const observe = (
  site: Site.Site
): Effect.Effect<Map<string, SingleUpgrade.Current>, CliError, ApplianceApi.ApplianceApi> =>
  Effect.gen(function* () {
    const api = yield* ApplianceApi.ApplianceApi
    const entries = yield* Effect.forEach(site.appliances, (a) =>
      Effect.flatMap(api.appliance(a.id), (c) => c.health).pipe(
        Effect.map((h) => [a.id, { product: h.version, build: h.build }] as const),
        Effect.mapError(SiteConnections.fromApplianceError)
      )
    )
    return new Map<string, SingleUpgrade.Current>(entries)
  })

/** Load the site file, connect (unless `current` is given) and plan. */
export const prepare = (
  file: string,
  to: string,
  method: Option.Option<RunMethod>,
  current: Option.Option<string> = Option.none(),
  simulator?: Sim.Target,
  updateMethod: Option.Option<SingleUpgrade.Method> = Option.none()
) =>
  Effect.gen(function* () {
    const site = yield* SiteConnections.load(file)
    const chosen = Option.getOrUndefined(method)
    if (chosen === "migration") return yield* prepareMigration(site, file, to, current, simulator)
    if (chosen === undefined && site.migration !== undefined)
      return yield* usage(
        `${file}: the site file has a migration: section: give --method migration to move the site to ${site.migration.newAppliance.id}, or --method single to upgrade ${site.appliances[0]!.id} in place.`
      )
    const m = yield* Planners.chooseMethod(site, chosen, file)
    const offline = Option.isSome(current)
    const connections = offline ? [] : yield* SiteConnections.connections(site, { siteFile: file })
    const appliances = Runner.appliancesLayer(withSimulator(connections, site, simulator))
    const observed = Option.isSome(current)
      ? new Map(site.appliances.map((a) => [a.id, { product: current.value }] as const))
      : yield* Effect.provide(observe(site), appliances)
    // against a simulator, a pair's site address is its site front (the site host name resolves nowhere)
    const front = site.isPair ? simulator?.siteFront : undefined
    const plan = yield* Planners.plan(site, to, m, {
      current: observed,
      now: new Date(),
      ...(Option.isSome(updateMethod) ? { updateMethod: updateMethod.value } : {}),
      ...(front === undefined ? {} : { siteUrl: front.httpUrl, siteClientId: Demo.siteClientId })
    })
    return { site, method: m, plan, appliances } satisfies Prepared
  })

/** `--method migration`: the old box observed (unless `current`), the migration planner, the migration's port. */
const prepareMigration = (
  site: Site.Site,
  file: string,
  to: string,
  current: Option.Option<string>,
  simulator: Sim.Target | undefined
) =>
  Effect.gen(function* () {
    const section = yield* Migration.sectionOf(site, file)
    const offline = Option.isSome(current)
    const appliances = offline ? Runner.appliancesLayer([]) : yield* migrationAppliances(site, section, file, simulator)
    const observed = Option.isSome(current)
      ? new Map(site.appliances.map((a) => [a.id, { product: current.value }] as const))
      : yield* Effect.provide(observe(site), appliances)
    const front = simulator?.siteFront
    const plan = yield* Migration.plan(site, section, to, {
      current: observed.get(site.appliances[0]!.id)!,
      ...(front === undefined ? {} : { siteUrl: front.httpUrl, siteClientId: Demo.siteClientId })
    })
    return { site, method: "migration", plan, appliances } satisfies Prepared
  })

/** The appliance port of a migration (see `Migration.appliancesLayer`), through a simulator's site front when given. */
const migrationAppliances = (
  site: Site.Site,
  section: Site.Migration,
  file: string,
  simulator: Sim.Target | undefined
) =>
  Effect.gen(function* () {
    const old = yield* SiteConnections.connections(site, { siteFile: file })
    const restored = yield* Migration.restoredConnection(site, section, file)
    return Migration.appliancesLayer({
      fixed: Demo.simulatorConnections([...old, restored], simulator?.siteFront?.httpsUrl),
      migration: section
    })
  })

/** Against a simulator: `Demo.simulatorConnections`, with its site front for a pair. */
export const withSimulator = (
  connections: ReadonlyArray<ApplianceClient.Connection>,
  site: Site.Site,
  simulator: Sim.Target | undefined
): ReadonlyArray<ApplianceClient.Connection> =>
  simulator === undefined
    ? connections
    : Demo.simulatorConnections(connections, site.isPair ? simulator.siteFront?.httpsUrl : undefined)

/** The step handlers of a site (its backup password resolved). */
export const handlersFor = (
  site: Site.Site,
  file: string,
  timeScale = 1
): Effect.Effect<Layer.Layer<StepHandler.StepHandlers, never, ApplianceApi.ApplianceApi | Journal.Journal>, CliError> =>
  Effect.gen(function* () {
    const backupPassword =
      site.backup.password === undefined ? undefined : yield* resolveBackupPassword(site.backup.password, file)
    const config = {
      backupPassword,
      ...(timeScale > 1 ? { baseGraceSeconds: Math.max(1, 300 / timeScale) } : {})
    }
    // a site with a migration: section gets the migration's handlers too (a superset: run and resume alike)
    if (site.migration !== undefined)
      return Migration.handlers({
        ...config,
        bundlePassphrase: yield* resolveBundlePassphrase(site.migration.bundlePassphrase, file)
      })
    return Planners.handlers(config)
  })

/** The appliance port of a site (through a simulator's site front when given). */
export const appliancesFor = (
  site: Site.Site,
  file: string,
  simulator?: Sim.Target
): Effect.Effect<Layer.Layer<ApplianceApi.ApplianceApi>, CliError> =>
  site.migration !== undefined
    ? migrationAppliances(site, site.migration, file, simulator)
    : Effect.map(SiteConnections.connections(site, { siteFile: file }), (connections) =>
        Runner.appliancesLayer(withSimulator(connections, site, simulator))
      )

/** Who answers the manual gates, and at what time scale the run goes. */
export interface Driving {
  readonly operator: Layer.Layer<Operator.Operator>
  /** Simulated seconds per real second of a simulator target, else 1. */
  readonly timeScale: number
  /** The `--simulator` target, when one was given. */
  readonly simulator: Sim.Target | undefined
  /** With the terminal operator: what `Runner.follow` tells it (gate boxes after the lines before them). */
  readonly order?: OutputOrder.OutputOrder | undefined
}

/** `--yes`, `--answers` or the terminal. */
export const driving = (options: {
  readonly answers: Option.Option<string>
  readonly yes: boolean
  readonly simulator: Option.Option<string>
}): Effect.Effect<Driving, CliError> =>
  Effect.gen(function* () {
    const sim = Option.isSome(options.simulator) ? yield* Sim.target(options.simulator.value) : undefined
    const timeScale = sim?.timeScale ?? 1
    if (options.yes) {
      if (sim === undefined)
        return yield* usage(
          "--yes approves manual gates without a person: it is only allowed against a simulator (give --simulator <control URL>). For real appliances answer at the terminal or give --answers FILE."
        )
      return { operator: sim.operator, timeScale, simulator: sim }
    }
    if (Option.isSome(options.answers))
      return {
        operator: Gates.layerAnswers(yield* Gates.readAnswers(options.answers.value)),
        timeScale,
        simulator: sim
      }
    const order = OutputOrder.make()
    return { operator: Gates.layerTerminal(undefined, { order }), timeScale, simulator: sim, order }
  })

/** What a run that stopped and waits prints (documented in docs/cli.md, exit 4). */
export const waitingLine = (runId: string, status: string): string =>
  status === "paused-until-window"
    ? `The run is waiting for its maintenance window. Continue it with: sra-upgrade resume ${runId} --site <site file>`
    : status === "waiting-for-operator"
      ? `The run is waiting for an operator. Continue it with: sra-upgrade resume ${runId} --site <site file>`
      : `The run stopped (${status}). Continue it with: sra-upgrade resume ${runId} --site <site file>`

/** Write the reports of a run that stopped, print them, and fail with the exit code of its status. */
export const finish = (runsDir: string, json: boolean, runId: string | undefined) =>
  Effect.gen(function* () {
    if (runId === undefined) return yield* failed("the run produced no event; see the journal folder " + runsDir)
    const report = yield* Executor.report(runId).pipe(Effect.mapError(Runner.fromExecutorError))
    const files = yield* Runner.writeReports(runsDir, report)
    if (!json) {
      yield* Console.log("")
      yield* Console.log(Report.toMarkdown(report))
      yield* Console.log(`Report: ${files.md} (JSON: ${files.json})`)
    }
    const code = Runner.exitCodeOf(report)
    if (code === ExitCode.waiting) {
      // a normal stop (exit 4), not an error: the waiting line, once (stdout, or stderr with --json)
      const line = waitingLine(runId, report.status)
      if (!json) yield* Console.log(line)
      return yield* waiting(line, !json)
    }
    if (code !== ExitCode.ok)
      return yield* new CliError({
        exitCode: code,
        message: `run ${runId} ended ${report.status}${report.error === undefined ? "" : `: ${report.error}`}`
      })
  })

/** The migration's certificate bundle passphrase, from its secret reference. */
export const resolveBundlePassphrase = (ref: Site.SecretRef, file: string) =>
  Site.resolveSecret(ref, { baseDir: dirname(file), siteFile: file }).pipe(
    Effect.mapError((e) => usage(`${e.message} (migration.bundlePassphrase)`))
  )

/** The site's backup password, from its secret reference. */
export const resolveBackupPassword = (ref: Site.SecretRef, file: string) =>
  Site.resolveSecret(ref, { baseDir: dirname(file), siteFile: file }).pipe(
    Effect.mapError((e) => usage(`${e.message} (backup.password)`))
  )

/**
 * The executor of `run` and `resume`: the site's handlers and appliance port, the operator chosen by
 * {@link driving}, the file journal in `runs`, and the site prober (unless `probeIntervalSeconds` is 0).
 */
export const runLayer = (options: {
  readonly site: Site.Site
  readonly file: string
  readonly appliances: Layer.Layer<ApplianceApi.ApplianceApi>
  readonly driving: Driving
  readonly runs: string
  readonly probeIntervalSeconds: number
}): Effect.Effect<Layer.Layer<Executor.Executor, CliError>, CliError> =>
  Effect.gen(function* () {
    const handlers = yield* handlersFor(options.site, options.file, options.driving.timeScale)
    const operator = yield* operatorFor(options.site, options.file, options.driving)
    return Runner.executorLayer({
      handlers,
      appliances: options.appliances,
      operator,
      journal: Runner.journalLayer(options.runs),
      prober: Prober.options(options.site, options.probeIntervalSeconds, options.driving.simulator)
    })
  })

/**
 * Who answers the gates: the operator of {@link driving}; with `--yes` on a site with a migration: section,
 * the simulator operator with the site's secrets (`Migration.simulatorOperator`).
 */
const operatorFor = (site: Site.Site, file: string, drive: Driving) =>
  Effect.gen(function* () {
    const sim = drive.simulator
    if (site.migration === undefined || sim === undefined || drive.operator !== sim.operator) return drive.operator
    return Migration.simulatorOperator({
      controlUrl: sim.controlUrl,
      bundlePassphrase: yield* resolveBundlePassphrase(site.migration.bundlePassphrase, file),
      backupPassword:
        site.backup.password === undefined ? undefined : yield* resolveBackupPassword(site.backup.password, file)
    })
  })
