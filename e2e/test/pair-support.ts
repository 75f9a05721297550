/**
 * Wiring of the failover-pair end-to-end tests: a simulated pair, the live
 * adapter on real sockets (A, B and a client on the site address), core's
 * and failover's handlers, a site prober, and the simulator's `SimOperator`
 * playing every manual gate (core and failover) through the control API.
 */
import { ApplianceClient } from "@sra-upgrade/appliance-client"
import {
  type ApplianceApi,
  CoreHandlers,
  Executor,
  Journal,
  MaintenanceWindow,
  Operator,
  type RunObserver,
  type Plan,
  Site,
  StepHandler
} from "@sra-upgrade/core"
import { FailoverHandlers, PairPlan, SiteProber, TrafficSwitch } from "@sra-upgrade/failover"
import { SimOperator, Simulator } from "@sra-upgrade/simulator"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export type Traffic = "shared-ip" | "dns" | "nat"
export const SHARED_IP = "10.0.0.10"
export const DNS_TTL_SECONDS = 300
export const TARGET = "25.1.1"

/** One site package, no prerequisite: 30 min install + 3 min reboot (simulated), plus 60 s/GiB of data. */
export const catalog = [
  {
    id: "site-25.1.1",
    kind: "site" as const,
    version: TARGET,
    build: "43109-9a8b7c6d5e4f30211f2e3d4c5b6a79880a1b2c3d",
    requires: [],
    installSeconds: 30 * 60,
    rebootSeconds: 180
  }
]

export interface PairEnv {
  readonly sim: Simulator.SimulatorHandle
  readonly site: Site.Site
  readonly api: Layer.Layer<ApplianceApi.ApplianceApi>
  readonly timeScale: number
  /** The site front's URL (HTTP or HTTPS). */
  readonly siteUrl: string
  readonly state: () => Effect.Effect<SimState>
}

export interface SimState {
  readonly appliances: ReadonlyArray<{
    readonly id: string
    readonly version: string
    readonly failoverRole: string
    readonly sharedIps: ReadonlyArray<{ readonly ip: string; readonly enabled: boolean }>
  }>
  readonly relationship: {
    readonly primary: string
    readonly backup: string
    readonly lastSync: { readonly at: string; readonly status: string } | null
    readonly establishedAt: string
  } | null
  readonly site: { readonly reaches: ReadonlyArray<string> }
}

/** Start a simulated pair and describe it as a site file would. */
export const startPair = (
  traffic: Traffic,
  timeScale = 600,
  options: { readonly https?: boolean } = {}
): Effect.Effect<PairEnv, Simulator.SimulatorError, Scope.Scope> =>
  Effect.gen(function* () {
    const sim = yield* Simulator.start({
      timeScale,
      traffic,
      updates: catalog,
      siteHostname: "support.sra-simulator.local",
      siteSharedIp: SHARED_IP
    })
    const admin = sim.accounts.find((a) => a.permCommand === "full_access")!
    const a = sim.appliance("A")
    const b = sim.appliance("B")
    const https = options.https === true
    const url = (e: { readonly httpUrl: string; readonly httpsUrl: string }) => (https ? e.httpsUrl : e.httpUrl)
    const appliance = (id: string, role: string, url: string, ip: string) => ({
      id,
      role,
      apiUrl: url,
      allowPlainHttp: true,
      uniqueIp: ip,
      clientId: admin.clientId,
      clientSecret: { env: "SRA_SIM_SECRET" }
    })
    const site = yield* Site.decodeSite(
      JSON.stringify({
        hostname: sim.site.hostname,
        product: "pra",
        appliances: [appliance("A", "primary", url(a), "10.0.0.11"), appliance("B", "backup", url(b), "10.0.0.12")],
        trafficSwitch:
          traffic === "shared-ip"
            ? { method: "shared-ip", sharedIp: SHARED_IP }
            : traffic === "dns"
              ? { method: "dns", ttlSeconds: DNS_TTL_SECONDS }
              : { method: "nat", rule: "sim-nat" },
        backup: { directory: mkdtempSync(join(tmpdir(), "sra-pair-backup-")) },
        updates: [{ id: "site-25.1.1", kind: "site", version: TARGET }]
      }),
      "json",
      "pair-e2e.json"
    ).pipe(Effect.orDie)
    const connection = (id: string, baseUrl: string, servername?: string): ApplianceClient.Connection => ({
      id,
      baseUrl,
      clientId: admin.clientId,
      clientSecret: admin.clientSecret,
      timeoutMillis: 10_000,
      ...(https ? { tls: { caPem: sim.certificatePem, servername } } : {})
    })
    const api = ApplianceClient.layer(
      [
        connection("A", url(a)),
        connection("B", url(b), https ? sim.site.hostname : undefined),
        connection("site", url(sim.site), sim.site.hostname)
      ],
      { probeTimeoutMillis: 2_000, ...(https ? { probeTls: { caPem: sim.certificatePem } } : {}) }
    )
    const state = () => Effect.orDie(sim.control("GET", "/state")) as Effect.Effect<SimState>
    return { sim, site, api, timeScale, state, siteUrl: url(sim.site) }
  })

/**
 * Two windows: window 1 open now and closing in `w1Seconds`, window 2
 * opening right when window 1 closes (PAIR-1).
 */
export const windows = (
  w1Seconds = 6
): readonly [MaintenanceWindow.MaintenanceWindow, MaintenanceWindow.MaintenanceWindow] => {
  const now = Date.now()
  const w1End = now + w1Seconds * 1000
  return [
    new MaintenanceWindow.MaintenanceWindow({ label: "w1", start: new Date(w1End - 60 * 60_000), durationMinutes: 60 }),
    new MaintenanceWindow.MaintenanceWindow({ label: "w2", start: new Date(w1End), durationMinutes: 60 })
  ]
}

export const planFor = (env: PairEnv, method: "sync" | "async", extra: Partial<PairPlan.Options> = {}): Plan.Plan => {
  const f = method === "sync" ? PairPlan.planSynchronous : PairPlan.planAsynchronous
  const r = f(env.site, TARGET, {
    current: { A: { product: "24.1.3" }, B: { product: "24.1.3" } },
    windows: windows(),
    siteUrl: env.siteUrl,
    siteClientId: "site",
    pollIntervalSeconds: 0.2,
    ...extra
  })
  if (Either.isLeft(r)) throw new Error(r.left.message)
  return r.right
}

/** Everything the executor needs, over one journal (shared across resumes when given). */
export const executorLayer = (
  env: PairEnv,
  options: {
    readonly journal?: Layer.Layer<Journal.Journal>
    readonly operator?: Operator.Operator["Type"]
    readonly prober?: Layer.Layer<SiteProber.SiteProber>
    readonly api?: Layer.Layer<ApplianceApi.ApplianceApi>
  } = {}
) => {
  const base = Layer.mergeAll(options.api ?? env.api, options.journal ?? Journal.layerMemory)
  const withSwitch = Layer.provideMerge(TrafficSwitch.layer, base)
  const failover = FailoverHandlers.layer.pipe(Layer.provide(options.prober ?? Layer.empty))
  const handlers = Layer.provideMerge(StepHandler.merge(failover, CoreHandlers.layer()), withSwitch)
  return Layer.provide(
    Executor.layer,
    Layer.merge(
      handlers,
      Layer.succeed(Operator.Operator, options.operator ?? SimOperator.make({ controlUrl: env.sim.controlUrl }))
    )
  )
}

/** The prober on the site address (real clock: 50 ms probes). */
export const proberLayer = (
  env: PairEnv,
  intervalMillis = 50
): Layer.Layer<SiteProber.SiteProber | RunObserver.RunObserver> =>
  SiteProber.layer({
    url: env.siteUrl,
    hostname: env.site.hostname,
    intervalMillis,
    timeoutMillis: 1_000
  }).pipe(Layer.provide(env.api))

export const redacted = Redacted.make
