/**
 * The sites the portal serves: the site files of a folder given at start
 * (`*.yaml`, `*.yml`, `*.json`; the id is the file name without its
 * extension), read again on each request so a new file needs no restart.
 * For each site: the live health of its appliances, a plan for a target and
 * method (`Planners` of `@sra-upgrade/failover`, versions read from the
 * appliances), and what a run needs — the appliance port over the live
 * adapter, the step handlers, and for a pair the prober of the site address.
 *
 * Secrets (API client secrets, backup password) are read from the variables
 * or files the site file names, when needed, and stay `Redacted`.
 *
 * @since 0.3.0
 */
import { type ApplianceClient, ApplianceClient as Adapter, SiteConnections } from "@sra-upgrade/appliance-client"
import { ApplianceApi, type Journal, Plan, Site, type StepHandler } from "@sra-upgrade/core"
import { Planners, type SiteProber } from "@sra-upgrade/failover"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import { readdir } from "node:fs/promises"
import { dirname, join } from "node:path"
import {
  ApplianceHealth,
  Invalid,
  NotFound,
  type PlanRequest,
  SiteAppliance,
  SiteDetail,
  SiteSummary,
  Unavailable
} from "./Api.js"

/**
 * Adjustments of how sites are planned and run (`serve --demo` uses them
 * for its simulator: the site front as the site address, time compressed).
 *
 * @since 0.3.0
 * @category models
 */
export interface Tuning {
  /** Change the adapter's connections of a site (e.g. add one to the site address). */
  readonly connections?:
    | ((
        site: Site.Site,
        connections: ReadonlyArray<ApplianceClient.Connection>
      ) => ReadonlyArray<ApplianceClient.Connection>)
    | undefined
  /** Extra planner inputs of a site. */
  readonly planInputs?:
    ((site: Site.Site) => Pick<Planners.Inputs, "siteUrl" | "siteClientId" | "pollIntervalSeconds">) | undefined
  /** Change a plan before it is run (e.g. compress its time for a simulator). */
  readonly runPlan?: ((plan: Plan.Plan) => Plan.Plan) | undefined
  /** See `CoreHandlers.Config.baseGraceSeconds`. */
  readonly baseGraceSeconds?: number | undefined
  /** How to probe the site address during a pair's run (default `https://<site hostname>` every 5 s). */
  readonly prober?: ((site: Site.Site) => SiteProber.Options | undefined) | undefined
}

/**
 * Options of the sites folder.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  readonly directory: string
  /** Environment for `{ env: NAME }` secrets (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  /** Time limit of a health read (default 10 s). */
  readonly healthTimeoutMillis?: number | undefined
  readonly tuning?: Tuning | undefined
}

/**
 * A decoded site file.
 *
 * @since 0.3.0
 * @category models
 */
export interface Entry {
  readonly id: string
  readonly file: string
  readonly site: Site.Site
}

/**
 * What a run of a site needs.
 *
 * @since 0.3.0
 * @category models
 */
export interface Runtime {
  readonly entry: Entry
  /** The appliance port over the live adapter. */
  readonly appliances: Layer.Layer<ApplianceApi.ApplianceApi>
  /** The step handlers, given the site prober when one runs. */
  readonly handlers: (
    prober?: Layer.Layer<SiteProber.SiteProber>
  ) => Layer.Layer<StepHandler.StepHandlers, never, ApplianceApi.ApplianceApi | Journal.Journal>
  /** Where to probe the site address during the run (pairs). */
  readonly prober: SiteProber.Options | undefined
  /** The plan as the run executes it (see `Tuning.runPlan`). */
  readonly runPlan: (plan: Plan.Plan) => Plan.Plan
}

/**
 * @since 0.3.0
 * @category services
 */
export class Sites extends Context.Tag("@sra-upgrade/server/Sites")<
  Sites,
  {
    readonly list: Effect.Effect<ReadonlyArray<SiteSummary>>
    readonly get: (id: string) => Effect.Effect<Entry, NotFound | Invalid>
    readonly detail: (id: string) => Effect.Effect<SiteDetail, NotFound | Invalid | Unavailable>
    readonly plan: (request: PlanRequest) => Effect.Effect<Plan.Plan, NotFound | Invalid | Unavailable>
    readonly runtime: (id: string) => Effect.Effect<Runtime, NotFound | Invalid | Unavailable>
  }
>() {}

const siteFileRe = /^([A-Za-z0-9][A-Za-z0-9._-]{0,199})\.(ya?ml|json)$/

const summaryOf = (id: string, file: string, site: Site.Site): SiteSummary =>
  new SiteSummary({
    id,
    file,
    hostname: site.hostname,
    isPair: site.isPair,
    appliances: site.appliances.map(
      (a) => new SiteAppliance({ id: a.id, role: a.role, hostname: a.hostname ?? "", apiUrl: a.apiUrl })
    ),
    methods: site.isPair ? ["async", "sync"] : ["single"]
  })

/**
 * The sites of a folder.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (options: Options): Sites["Type"] => {
  const tuning = options.tuning ?? {}
  const files = Effect.promise(() => readdir(options.directory).catch(() => [] as Array<string>)).pipe(
    Effect.map((names) => names.filter((n) => siteFileRe.test(n)).sort())
  )

  const idOf = (name: string) => siteFileRe.exec(name)![1]!

  const get = (id: string): Effect.Effect<Entry, NotFound | Invalid> =>
    Effect.gen(function* () {
      const name = (yield* files).find((n) => idOf(n) === id)
      if (name === undefined)
        return yield* new NotFound({
          resource: "site",
          id,
          message: `No site ${id} in the sites folder: list the sites (GET /api/v1/sites).`
        })
      const file = join(options.directory, name)
      const site = yield* Site.decodeSiteFile(file).pipe(
        Effect.mapError((e) => new Invalid({ reason: "site", message: e.message }))
      )
      return { id, file, site }
    })

  const connectionsOf = (entry: Entry) =>
    SiteConnections.connections(entry.site, { siteFile: entry.file, env: options.env }).pipe(
      Effect.map((c) => (tuning.connections === undefined ? c : tuning.connections(entry.site, c))),
      Effect.mapError((e) => new Unavailable({ reason: "secret", message: e.message }))
    )

  const healthOf = (entry: Entry, appliances: Layer.Layer<ApplianceApi.ApplianceApi>) =>
    Effect.provide(
      Effect.gen(function* () {
        const api = yield* ApplianceApi.ApplianceApi
        return yield* Effect.forEach(
          entry.site.appliances,
          (a) =>
            Effect.flatMap(api.appliance(a.id), (c) => c.health).pipe(
              Effect.timeoutFail({
                duration: Duration.millis(options.healthTimeoutMillis ?? 10_000),
                onTimeout: () => new Error("no answer in time")
              }),
              Effect.match({
                onFailure: (e) => new ApplianceHealth({ id: a.id, reachable: false, error: e.message }),
                onSuccess: (h) =>
                  new ApplianceHealth({
                    id: a.id,
                    reachable: true,
                    version: h.version,
                    build: h.build,
                    healthy: h.healthy,
                    failoverRole: h.failoverRole,
                    ...(h.errorMessage === undefined ? {} : { error: h.errorMessage })
                  })
              })
            ),
          { concurrency: "unbounded" }
        )
      }),
      appliances
    )

  const backupPassword = (entry: Entry) =>
    entry.site.backup.password === undefined
      ? Effect.succeed<Redacted.Redacted<string> | undefined>(undefined)
      : Site.resolveSecret(entry.site.backup.password, {
          baseDir: dirname(entry.file),
          env: options.env,
          siteFile: entry.file
        }).pipe(
          Effect.mapError((e) => new Unavailable({ reason: "secret", message: `${e.message} (backup.password)` }))
        )

  return Sites.of({
    list: Effect.flatMap(files, (names) =>
      Effect.forEach(names, (name) => {
        const id = idOf(name)
        const file = join(options.directory, name)
        return Site.decodeSiteFile(file).pipe(
          Effect.match({
            onFailure: (e) => new SiteSummary({ id, file: name, appliances: [], methods: [], error: e.message }),
            onSuccess: (site) => summaryOf(id, name, site)
          })
        )
      })
    ),
    get,
    detail: (id) =>
      Effect.gen(function* () {
        const entry = yield* get(id)
        const connections = yield* connectionsOf(entry)
        const health = yield* healthOf(entry, Adapter.layer(connections))
        return new SiteDetail({
          site: summaryOf(id, entry.file.split(/[\\/]/).pop()!, entry.site),
          health,
          checkedAt: new Date()
        })
      }),
    plan: (request) =>
      Effect.gen(function* () {
        const entry = yield* get(request.site)
        const method = yield* Either.mapLeft(
          Planners.chooseMethod(entry.site, request.method, request.site),
          (e) => new Invalid({ reason: "plan", message: e.message })
        )
        const connections = yield* connectionsOf(entry)
        const health = yield* healthOf(entry, Adapter.layer(connections))
        const down = health.filter((h) => !h.reachable)
        if (down.length > 0)
          return yield* new Unavailable({
            reason: "appliance",
            message: `cannot read the version of ${down.map((h) => `${h.id} (${h.error ?? "no answer"})`).join(", ")}: check the appliance and its API account, then plan again.`
          })
        const current = new Map(health.map((h) => [h.id, { product: h.version!, build: h.build }] as const))
        return yield* Either.mapLeft(
          Planners.plan(entry.site, request.target, method, {
            current,
            now: new Date(),
            ...(tuning.planInputs === undefined ? {} : tuning.planInputs(entry.site))
          }),
          (e) => new Invalid({ reason: "plan", message: e.message })
        )
      }),
    runtime: (id) =>
      Effect.gen(function* () {
        const entry = yield* get(id)
        const connections = yield* connectionsOf(entry)
        const password = yield* backupPassword(entry)
        const config: Planners.HandlerConfig = {
          backupPassword: password,
          ...(tuning.baseGraceSeconds === undefined ? {} : { baseGraceSeconds: tuning.baseGraceSeconds })
        }
        const prober = entry.site.isPair
          ? tuning.prober !== undefined
            ? tuning.prober(entry.site)
            : { url: `https://${entry.site.hostname}`, hostname: entry.site.hostname, intervalMillis: 5000 }
          : undefined
        return {
          entry,
          appliances: Adapter.layer(connections),
          handlers: (p) => Planners.handlers(config, p),
          prober,
          runPlan: tuning.runPlan ?? ((plan: Plan.Plan) => plan)
        } satisfies Runtime
      })
  })
}

/**
 * The sites of a folder, as a layer.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Sites> => Layer.sync(Sites, () => make(options))

/**
 * The runbook of a plan (Markdown), as the API returns it.
 *
 * @since 0.3.0
 * @category combinators
 */
export const runbook = (plan: Plan.Plan): string => Plan.toMarkdown(plan)
