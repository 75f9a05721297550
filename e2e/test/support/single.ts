// Wiring of the single-appliance end-to-end tests: a simulator seeded from a
// site description, the live adapter over real sockets, the core handlers,
// the simulator operator and a journal.
import { ApplianceClient } from "@sra-upgrade/appliance-client"
import { ApplianceApi, CoreHandlers, Executor, type Journal, Site } from "@sra-upgrade/core"
import { Seed, SimOperator, Simulator } from "@sra-upgrade/simulator"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export const FROM_BUILD = "40516-5f3e2d1c0b9a88776655443322110ffeeddccbba"

/** Builds of the simulator's default catalog (the site file does not carry builds). */
export const BUILDS: Record<string, string> = {
  "site-24.3.2": "41722-3d1f0c9a7b2e45f18c6d90ab12ef34567890abcd",
  "site-25.1.1": "43109-9a8b7c6d5e4f30211f2e3d4c5b6a79880a1b2c3d"
}

export interface SiteOptions {
  readonly baseVersion?: string
  readonly jumpClients?: { readonly active: number; readonly passive: number; readonly maxConcurrent?: number }
  readonly backupPassword?: boolean
  /** Leave the site file's `updates:` empty (the packages on offer are then recorded at a gate). */
  readonly noUpdates?: boolean
  readonly dir: string
}

/** A single-appliance site whose updates mirror the simulator's default catalog. */
export const makeSite = (o: SiteOptions): Site.Site =>
  Schema.decodeUnknownSync(Site.Site)({
    hostname: "support.sra-simulator.local",
    product: "pra",
    appliances: [
      {
        id: "A",
        role: "none",
        hostname: "a.sra-simulator.local",
        apiUrl: "https://127.0.0.1",
        uniqueIp: "10.0.0.11",
        clientId: "0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3",
        clientSecret: { env: "SRA_SIM_SECRET" },
        storedDataGb: 4,
        baseVersion: o.baseVersion ?? "6.1.0"
      }
    ],
    maintenanceWindows: [{ label: "now", start: new Date(Date.now() - 60_000).toISOString(), durationMinutes: 600 }],
    backup: {
      directory: join(o.dir, "backups"),
      ...(o.backupPassword === true ? { password: { env: "SRA_SIM_BACKUP_PASSWORD" } } : {})
    },
    licences: { technicians: 2 },
    clients: {
      accessConsoles: { installed: true, msiLockedDown: 2 },
      jumpClients: {
        active: o.jumpClients?.active ?? 14,
        passive: o.jumpClients?.passive ?? 6,
        packageMiB: 20,
        bandwidthMiBps: 100,
        maxConcurrent: o.jumpClients?.maxConcurrent ?? 100
      },
      jumpoints: 3,
      integrationClients: [{ name: "Recording archive", connectsBy: "hostname" }],
      generatedInstallers: ["Jump Client windows-64-msi"],
      certificateStores: [{ name: "Windows machine store (GPO)", managed: true, current: true }]
    },
    updates:
      o.noUpdates === true
        ? []
        : [
            { id: "base-6.2.1", kind: "base", version: "6.2.1", estimatedMinutes: 15 },
            { id: "site-24.3.2", kind: "site", version: "24.3.2", requires: ["base-6.2.1"], estimatedMinutes: 30 },
            { id: "site-25.1.1", kind: "site", version: "25.1.1", requires: ["site-24.3.2"], estimatedMinutes: 30 }
          ]
  })

export const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), `sra-e2e-${prefix}-`))

/** Start a simulator seeded from the site (PREP-5 seeding), fast time. */
export const startSim = (
  site: Site.Site,
  extra: { readonly backupPassword?: string; readonly timeScale?: number; readonly backupSizeBytes?: number } = {}
) =>
  Simulator.start({
    ...Seed.fromSnapshot(
      {
        site,
        observed: [
          {
            id: "A",
            version: "24.1.3",
            build: FROM_BUILD,
            loggedInUsers: [
              { displayName: "Alice Martin", sessions: 2 },
              { displayName: "Bob Durand", sessions: 1 }
            ]
          }
        ],
        builds: BUILDS
      },
      { timeScale: extra.timeScale ?? 600, backupPassword: extra.backupPassword, rebootSeconds: 60 }
    ),
    // the simulator's pace for a test: generous rate limit so 5,000-client pages are quick
    rateLimit: { perSecond: 200, perHour: 1_000_000 },
    ...(extra.backupSizeBytes === undefined ? {} : { backupSizeBytes: extra.backupSizeBytes })
  })

export type Sim = Effect.Effect.Success<ReturnType<typeof startSim>>

/** The live adapter against the simulated appliance, over HTTPS with the simulator's certificate. */
export const adapter = (sim: Sim) => {
  const admin = sim.accounts.find((a) => a.permCommand === "full_access")!
  const a = sim.appliance("A")
  return ApplianceClient.layer([
    {
      id: "A",
      baseUrl: a.httpsUrl,
      clientId: admin.clientId,
      clientSecret: admin.clientSecret,
      tls: { caPem: sim.certificatePem, servername: "localhost" },
      requestsPerSecond: 200,
      timeoutMillis: 20_000,
      retry: { maxRetries: 1, baseDelayMillis: 50, maxDelayMillis: 200 }
    }
  ])
}

/** Every call made through the port, in order (operation names). */
export const recording = (calls: Array<string>) =>
  Layer.effect(
    ApplianceApi.ApplianceApi,
    Effect.map(ApplianceApi.ApplianceApi, (api) => ({
      ...api,
      appliance: (id: string) =>
        Effect.map(api.appliance(id), (c): ApplianceApi.ApplianceClient => ({
          ...c,
          health: Effect.suspend(() => {
            calls.push("health")
            return c.health
          }),
          apiInfo: Effect.suspend(() => {
            calls.push("apiInfo")
            return c.apiInfo
          }),
          loggedInUsers: Effect.suspend(() => {
            calls.push("loggedInUsers")
            return c.loggedInUsers
          }),
          connectedClients: Effect.suspend(() => {
            calls.push("connectedClients")
            return c.connectedClients
          }),
          downloadBackup: (r) =>
            Effect.suspend(() => {
              calls.push("downloadBackup")
              return c.downloadBackup(r)
            }),
          setFailoverRole: (r) =>
            Effect.suspend(() => {
              calls.push("setFailoverRole")
              return c.setFailoverRole(r)
            }),
          jumpClients: (f) => {
            calls.push("jumpClients")
            return c.jumpClients(f)
          },
          jumpoints: (f) => {
            calls.push("jumpoints")
            return c.jumpoints(f)
          }
        }))
    }))
  )

export interface ExecutorWiring {
  readonly sim: Sim
  readonly journal: Layer.Layer<Journal.Journal, unknown>
  readonly calls?: Array<string>
  readonly backupPassword?: string
  readonly onGate?: (stepId: string) => void
}

/** An executor over the live adapter, the core handlers and the simulator operator. */
export const executor = (w: ExecutorWiring) => {
  const api = w.calls === undefined ? adapter(w.sim) : recording(w.calls).pipe(Layer.provide(adapter(w.sim)))
  const handlers = CoreHandlers.layer(
    w.backupPassword === undefined ? {} : { backupPassword: Redacted.make(w.backupPassword) }
  ).pipe(Layer.provide(api))
  const operator = SimOperator.layer({
    controlUrl: w.sim.controlUrl,
    onRequest: (r) => w.onGate?.(r.step.id)
  })
  return Executor.layer.pipe(Layer.provide(Layer.mergeAll(handlers, operator, w.journal)))
}

/** GET a control endpoint of the simulator. */
export const control = (sim: Sim, path: string) => sim.control("GET", path)
