/**
 * `sra-upgrade rehearse` (PREP-5): run the production plan against a
 * simulator seeded from the site's observed state (versions, roles, stored
 * data, packages on offer, Jump Client fleet), and on success record the
 * rehearsal where the production plan's PREP-5 check looks for it.
 *
 * The rehearsal plan is planned from the same site description with two
 * differences that the plan fingerprint ignores: maintenance windows open
 * now and a temporary backup folder. The command refuses to record when the
 * fingerprints differ.
 *
 * @since 0.1.0
 */
import {
  ApplianceApi,
  CoreSteps,
  MaintenanceWindow,
  Plan,
  Rehearsal,
  Site,
  type SingleUpgrade
} from "@sra-upgrade/core"
import { ApplianceClient } from "@sra-upgrade/appliance-client"
import { Seed, Simulator } from "@sra-upgrade/simulator"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { CliError, ExitCode, failed, usage } from "./CliError.js"
import * as Runner from "./internal/runner.js"
import * as SimRun from "./internal/simRun.js"
import * as Planners from "./Planners.js"
import * as Report from "./Report.js"
import * as SiteConnections from "./SiteConnections.js"

/**
 * Options of {@link run}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly siteFile: string
  readonly to: string
  readonly method: Option.Option<Planners.Method>
  /** How the appliances get the packages (SINGLE-1 automatic, the default, or SINGLE-3 manual). */
  readonly updateMethod?: Option.Option<SingleUpgrade.Method> | undefined
  /** Offline: the product version the appliances run (default: read through the API). */
  readonly current: Option.Option<string>
  readonly timeScale: number
  readonly runs: string
  readonly json: boolean
}

const observed = (site: Site.Site, siteFile: string) =>
  Effect.gen(function* () {
    const appliances = Runner.appliancesLayer(yield* SiteConnections.connections(site, { siteFile }))
    return yield* Effect.provide(
      Effect.gen(function* () {
        const api = yield* ApplianceApi.ApplianceApi
        return yield* Effect.forEach(site.appliances, (a) =>
          Effect.flatMap(api.appliance(a.id), (c) => c.health).pipe(
            Effect.map((h): Seed.ObservedAppliance => ({
              id: a.id,
              version: h.version,
              build: h.build,
              failoverRole: h.failoverRole
            }))
          )
        )
      }),
      appliances
    ).pipe(Effect.mapError(SiteConnections.fromApplianceError))
  })

/**
 * Rehearse; fails with a `CliError` (exit code) when the rehearsal does not
 * succeed or cannot be recorded.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (options: Options): Effect.Effect<void, CliError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const say = (line: string) => (options.json ? Effect.void : Console.log(line))
      const scale = options.timeScale
      if (!(scale >= 1)) return yield* usage(`--time-scale must be at least 1, got ${scale}`)
      const site = yield* SiteConnections.load(options.siteFile)
      const method = yield* Planners.chooseMethod(site, Option.getOrUndefined(options.method), options.siteFile)
      const offline = Option.getOrUndefined(options.current)
      const seen: ReadonlyArray<Seed.ObservedAppliance> =
        offline !== undefined
          ? site.appliances.map((a) => ({
              id: a.id,
              version: offline,
              build: "10000-0000000000000000000000000000000000000000"
            }))
          : yield* observed(site, options.siteFile)
      const current = new Map(seen.map((o) => [o.id, { product: o.version, build: o.build }] as const))
      const now = new Date()
      const updateMethod = options.updateMethod === undefined ? undefined : Option.getOrUndefined(options.updateMethod)
      const chosen = updateMethod === undefined ? {} : { updateMethod }
      const production = yield* Planners.plan(site, options.to, method, { current, now, ...chosen })
      const password =
        site.backup.password === undefined
          ? undefined
          : yield* Site.resolveSecret(site.backup.password, {
              baseDir: dirname(options.siteFile),
              siteFile: options.siteFile
            }).pipe(Effect.mapError((e) => usage(`${e.message} (backup.password)`)))

      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => mkdtemp(join(tmpdir(), "sra-upgrade-rehearsal-"))),
        (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
      )
      const sim = yield* Simulator.start(
        Seed.fromSnapshot(
          { site, observed: seen },
          { timeScale: scale, ...(password === undefined ? {} : { backupPassword: Redacted.value(password) }) }
        )
      ).pipe(Effect.mapError((e) => usage(e.message)))
      const account = sim.accounts[0]!
      const appliances = Layer.succeedContext(
        yield* Layer.build(
          ApplianceClient.layer(
            site.appliances.map((a) => ({
              id: a.id,
              baseUrl: sim.appliance(a.id).httpsUrl,
              clientId: account.clientId,
              clientSecret: account.clientSecret,
              tls: { caPem: sim.certificatePem }
            }))
          )
        )
      )
      // same description; windows open now and a scratch backup folder (both outside the fingerprint)
      const start = now.getTime() - 60_000
      const rehearsalSite = new Site.Site({
        ...site,
        backup: new Site.BackupSettings({ ...site.backup, directory: join(dir, "backups") }),
        maintenanceWindows: site.maintenanceWindows.slice(0, site.isPair ? 2 : 1).map(
          (w, i) =>
            new MaintenanceWindow.MaintenanceWindow({
              label: w.label,
              start: new Date(start + i * (w.durationMinutes + 10) * 60_000),
              durationMinutes: w.durationMinutes
            })
        )
      })
      const plan = yield* Planners.plan(rehearsalSite, options.to, method, {
        current,
        now,
        siteUrl: sim.site.httpUrl,
        ...chosen
      })
      const expected = Rehearsal.fingerprint(production)
      if (Rehearsal.fingerprint(plan) !== expected)
        return yield* failed(
          "the plan against the simulator differs from the production plan (fingerprints differ); nothing was rehearsed."
        )
      yield* say(`Rehearsing on a simulator seeded from ${options.siteFile} (time x${scale}): ${plan.title}`)
      yield* say(Plan.toTable(plan))
      yield* say("")
      const { extras, report } = yield* SimRun.run({
        sim,
        site: rehearsalSite,
        plan,
        appliances,
        timeScale: scale,
        json: options.json,
        workDirectory: dir,
        runsDirectory: options.runs,
        backupPassword: password
      })
      if (options.json) yield* Console.log(Report.toJson(report, extras))
      else yield* Console.log("\n" + Report.toMarkdown(report, extras))
      if (report.status !== "succeeded")
        return yield* new CliError({
          exitCode: Runner.exitCodeOf(report) === ExitCode.ok ? ExitCode.failed : Runner.exitCodeOf(report),
          message: `the rehearsal ended ${report.status}${report.error === undefined ? "" : `: ${report.error}`}; fix the plan or the site before the production run.`
        })
      const directory = Option.getOrElse(
        Option.firstSomeOf(production.steps.map((s) => CoreSteps.CheckRehearsal.paramsOf(s))),
        () => ({ directory: join(site.backup.directory, "rehearsals") })
      ).directory
      const record = yield* Rehearsal.record(directory, production, report).pipe(
        Effect.mapError((e) => failed(`the rehearsal succeeded but could not be recorded: ${e.message}`))
      )
      yield* say(
        `Rehearsal recorded in ${directory} (plan fingerprint ${record.fingerprint.slice(0, 12)}…): the production run's PREP-5 check will find it.`
      )
    })
  )
