/**
 * The fleet engine's `SiteWorker` for the command: a site of a rollout is its
 * site file (connections, secrets, CA as for `run`), its plan comes from the
 * single/pair planners with the versions read from the appliances' health.
 *
 * Against a many-site simulator (`simulator`), each site's manual gates are
 * played by the simulator operator of that site, waits and windows are
 * compressed by the time scale, and the site address is probed during the
 * run (the report's availability). Without it, a manual gate is durable: the
 * engine's operator records it open in the rollout's ledger and the site
 * waits until someone answers it (`sra-upgrade fleet answer`, the portal).
 */
import { ApplianceClient } from "@sra-upgrade/appliance-client"
import { Executor, type Site } from "@sra-upgrade/core"
import { SiteProber } from "@sra-upgrade/failover"
import { type Rollout, SiteWorker } from "@sra-upgrade/fleet"
import { SimOperator, Simulator } from "@sra-upgrade/simulator"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { join } from "node:path"
import * as Demo from "../Demo.js"
import * as Planners from "../Planners.js"
import * as SiteConnections from "../SiteConnections.js"

export interface SimulatorTarget {
  /** Control URL of the whole many-site simulator (`…/__sim`). */
  readonly controlUrl: string
  readonly timeScale: number
  /** Milliseconds between two probes of a site's address (default: 30 s of simulated time, at least 20 ms). */
  readonly probeIntervalMillis?: number | undefined
}

export interface Options {
  readonly simulator?: SimulatorTarget | undefined
  /** Certificate exports of the simulator operator go here. */
  readonly workDirectory: string
}

interface SimSiteSummary {
  readonly name: string
  readonly control: string
  readonly site: { readonly hostname: string; readonly httpUrl: string; readonly httpsUrl: string }
}

const methodOf = (site: Rollout.SitePlan): Planners.Method =>
  site.kind === "single" ? "single" : site.kind === "sync-pair" ? "sync" : "async"

const fail = (site: string, detail: string) => new SiteWorker.SiteWorkerError({ site, detail })

export const layer = (options: Options): Layer.Layer<SiteWorker.SiteWorker> =>
  Layer.succeed(
    SiteWorker.SiteWorker,
    SiteWorker.SiteWorker.of({
      prepare: (plan) =>
        Effect.gen(function* () {
          const sim = options.simulator
          const site: Site.Site = yield* Effect.mapError(SiteConnections.load(plan.path), (e) =>
            fail(plan.id, e.message)
          )
          const conns = yield* Effect.mapError(SiteConnections.connections(site, { siteFile: plan.path }), (e) =>
            fail(plan.id, e.message)
          )
          let simSite: SimSiteSummary | undefined
          if (sim !== undefined) {
            const all = (yield* Simulator.controlCall(sim.controlUrl, "GET", "/sites").pipe(
              Effect.mapError((e) => fail(plan.id, `simulator: ${e.message}`))
            )) as ReadonlyArray<SimSiteSummary>
            simSite = all.find((s) => s.site.hostname === site.hostname)
            if (simSite === undefined)
              return yield* fail(plan.id, `the simulator at ${sim.controlUrl} has no site ${site.hostname}`)
          }
          const connections = simSite === undefined ? conns : Demo.simulatorConnections(conns, simSite.site.httpsUrl)
          const appliances = Layer.succeedContext(yield* Layer.build(ApplianceClient.layer(connections)))
          const scale = sim?.timeScale ?? 1
          const prober =
            simSite === undefined
              ? Layer.empty
              : SiteProber.layer({
                  url: simSite.site.httpUrl,
                  hostname: site.hostname,
                  intervalMillis: sim?.probeIntervalMillis ?? Math.max(20, Math.round(30_000 / scale)),
                  summaryEveryMillis: 1_000
                }).pipe(Layer.provide(appliances))
          // without a simulator, the engine gives the operator: the rollout's durable gates
          const operator =
            simSite === undefined
              ? Layer.empty
              : SimOperator.layer({
                  controlUrl: simSite.control,
                  exportDirectory: join(options.workDirectory, "certificates", plan.id)
                })
          const handlers = Planners.handlers({ baseGraceSeconds: Math.max(1, 300 / scale) })
          const executor = Executor.layer.pipe(
            Layer.provide(
              Layer.mergeAll(handlers.pipe(Layer.provide(Layer.mergeAll(appliances, prober))), operator, prober)
            )
          )
          const buildPlan = Effect.gen(function* () {
            const current = yield* SiteConnections.currentVersions(site, appliances).pipe(
              Effect.mapError((e) => fail(plan.id, `cannot read the appliances' versions: ${e.message}`))
            )
            const method = methodOf(plan)
            const built = yield* Effect.mapError(
              Planners.plan(site, plan.targetVersion, method, {
                current,
                now: new Date(),
                ...(simSite !== undefined ? { siteUrl: simSite.site.httpUrl } : {}),
                ...(site.isPair && simSite !== undefined ? { siteClientId: Demo.siteClientId } : {})
              }),
              (e) => fail(plan.id, e.message)
            )
            return scale > 1 ? Planners.compress(built, scale) : built
          })
          return { plan: buildPlan, executor }
        })
    })
  )
