/**
 * An in-memory `ApplianceApi` for the failover unit tests: a mutable world
 * of two appliances, the site address and its routing.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import {
  ApplianceApi,
  ApplianceError,
  Executor,
  Journal,
  Operator,
  Plan,
  Site,
  type StepHandler
} from "@sra-upgrade/core"
import * as FailoverHandlers from "../src/FailoverHandlers.js"
import type * as SiteProber from "../src/SiteProber.js"
import * as TrafficSwitch from "../src/TrafficSwitch.js"

export interface FakeAppliance {
  guid: string
  version: string
  build: string
  healthy: boolean
  up: boolean
  role: "none" | "primary" | "backup"
  sharedIps: Array<string>
  lastSync?: Date
  lastSyncStatus?: string
  clockSkewMs: number
}

export class FakeWorld {
  appliances = new Map<string, FakeAppliance>()
  /** Which appliance the site address reaches (undefined = nothing answers). */
  siteTarget: string | undefined = "A"
  /** Probe results per URL not bound to an appliance. */
  probes: Array<{ url: string; hostname?: string | undefined }> = []
  roleRequests: Array<{ id: string; role: string; dataSyncFirst: boolean }> = []
  now = () => Date.now()
  onProbe: () => void = () => undefined

  constructor() {
    const base = { version: "24.1.3", build: "40516-aa", healthy: true, up: true, clockSkewMs: 0 }
    this.appliances.set("A", {
      ...base,
      guid: "a".repeat(32),
      role: "primary",
      sharedIps: ["10.0.0.10"],
      lastSync: new Date(0),
      lastSyncStatus: "success"
    })
    this.appliances.set("B", { ...base, guid: "b".repeat(32), role: "backup", sharedIps: [] })
  }

  get(id: string): FakeAppliance {
    return this.appliances.get(id)!
  }
}

const error = (appliance: string, operation: string, reason: ApplianceError.ApplianceError["reason"]) =>
  new ApplianceError.ApplianceError({ appliance, operation, reason, hint: "test" })

const healthOf = (world: FakeWorld, id: string) =>
  Effect.suspend(() => {
    const a = world.appliances.get(id)
    if (!a || !a.up) return Effect.fail(error(id, "health", new ApplianceError.Transport({ code: "ECONNREFUSED" })))
    return Effect.succeed(
      new ApplianceApi.Health({
        applianceGuid: a.guid,
        hostname: `${id.toLowerCase()}.example.test`,
        version: a.version,
        build: a.build,
        healthy: a.healthy,
        failoverRole: a.role,
        enabledSharedIps: a.sharedIps,
        ...(a.lastSync !== undefined && a.role === "primary"
          ? { lastDataSync: new Date(a.lastSync.getTime() + a.clockSkewMs) }
          : {}),
        ...(a.lastSyncStatus !== undefined && a.role === "primary" ? { lastDataSyncStatus: a.lastSyncStatus } : {}),
        source: "v2"
      })
    )
  })

export const layer = (world: FakeWorld): Layer.Layer<ApplianceApi.ApplianceApi> =>
  Layer.succeed(ApplianceApi.ApplianceApi, {
    appliance: (id) => {
      const target = id === "site" ? () => world.siteTarget : () => id
      if (id !== "site" && !world.appliances.has(id))
        return Effect.fail(error(id, "lookup", new ApplianceError.NotConfigured()))
      const client: ApplianceApi.ApplianceClient = {
        id,
        health: Effect.suspend(() => {
          const t = target()
          return t === undefined
            ? Effect.fail(error(id, "health", new ApplianceError.Transport({ code: "ECONNREFUSED" })))
            : healthOf(world, t)
        }),
        apiInfo: Effect.suspend(() => {
          const a = world.appliances.get(target() ?? "")
          const local = new Date(world.now())
          return Effect.succeed(
            new ApplianceApi.ApiInfo({
              product: "pra",
              permissions: {},
              serverTime: new Date(local.getTime() + (a?.clockSkewMs ?? 0)),
              localTime: local
            })
          )
        }),
        setFailoverRole: (r) =>
          Effect.sync(() => {
            world.roleRequests.push({ id, role: r.role, dataSyncFirst: r.dataSyncFirst })
            return new ApplianceApi.RoleChangeResult({ message: "ok", syncStarted: r.dataSyncFirst })
          }),
        loggedInUsers: Effect.succeed([]),
        connectedClients: Effect.succeed(new ApplianceApi.ConnectedClientSummary({ counts: {} })),
        downloadBackup: () => Effect.die("not in these tests"),
        jumpClients: () => Stream.empty,
        jumpoints: () => Stream.empty
      }
      return Effect.succeed(client)
    },
    probe: (t) =>
      Effect.suspend(() => {
        world.probes.push({ url: t.url, hostname: t.hostname })
        world.onProbe()
        const id = t.url.includes("site") ? world.siteTarget : t.url.includes("10.0.0.12") ? "B" : "A"
        const a = id === undefined ? undefined : world.appliances.get(id)
        if (!a || !a.up)
          return Effect.fail(error("site", "probe", new ApplianceError.Transport({ code: "ECONNREFUSED" })))
        return Effect.succeed(
          new ApplianceApi.ProbeResult({
            ok: a.healthy,
            status: a.healthy ? 200 : 500,
            body: a.healthy ? "OK" : "FAIL"
          })
        )
      })
  })

export const siteYaml = (traffic: string) => `
hostname: support.example.test
product: pra
appliances:
  - id: A
    role: primary
    apiUrl: https://10.0.0.11
    uniqueIp: 10.0.0.11
    clientId: abc
    clientSecret: { env: SRA_SECRET }
  - id: B
    role: backup
    apiUrl: https://10.0.0.12
    uniqueIp: 10.0.0.12
    tlsPort: 8443
    clientId: abc
    clientSecret: { env: SRA_SECRET }
trafficSwitch: ${traffic}
backup:
  directory: /var/backups/sra
clients:
  integrationClients:
    - { name: archiver, connectsBy: ip, address: 10.0.0.11 }
updates:
  - { id: site-25.1.1, kind: site, version: 25.1.1 }
`

export const site = (traffic = "{ method: shared-ip, sharedIp: 10.0.0.10 }") =>
  Effect.runSync(Site.decodeSite(siteYaml(traffic), "yaml"))

/** Executor + memory journal + manual switches + the failover handlers over the fake world. */
export const executor = (
  world: FakeWorld,
  script: Readonly<Record<string, Operator.Script>>,
  extra?: Layer.Layer<SiteProber.SiteProber>,
  trafficSwitch?: Layer.Layer<TrafficSwitch.TrafficSwitch>
) => {
  const base = Layer.mergeAll(layer(world), Journal.layerMemory)
  const withSwitch = Layer.provideMerge(trafficSwitch ?? TrafficSwitch.layer, base)
  const handlers0 = FailoverHandlers.layer.pipe(Layer.provide(extra ?? Layer.empty))
  const handlers = Layer.provideMerge(handlers0, withSwitch)
  return Layer.provide(Executor.layer, Layer.merge(handlers, Operator.layerScripted(script)))
}

export const approve = (f?: (r: Operator.GateRequest) => void) => (r: Operator.GateRequest) => {
  f?.(r)
  return new Operator.Approved({ by: "test", evidence: Object.fromEntries(r.evidence.map((e) => [e.name, "checked"])) })
}

export const plan = (steps: ReadonlyArray<Plan.Step>) =>
  new Plan.Plan({ id: "t", kind: "custom", title: "t", site: "support.example.test", targetVersion: "25.1.1", steps })

/** The failover registry over the fake world (no executor). */
export const executorDeps = (world: FakeWorld): Layer.Layer<StepHandler.StepHandlers> =>
  FailoverHandlers.layer.pipe(
    Layer.provide(Layer.provideMerge(TrafficSwitch.layer, Layer.mergeAll(layer(world), Journal.layerMemory)))
  )
