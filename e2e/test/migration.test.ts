/**
 * Hardware migration end to end (MIGRATE-1…9): an old appliance A with Jump
 * Clients, Jumpoints, API accounts and the site certificate, and a fresh box
 * N (factory version, default credentials, no settings, EULA not accepted),
 * both simulated over real sockets. The plan from `planMigration` runs in the
 * executor through the live adapter, core + certificates + migration
 * handlers, failover's TrafficSwitch and a SiteProber; every manual gate is
 * played through the simulator's control API by `MigrationOperator`.
 */
import { ApplianceClient } from "@sra-upgrade/appliance-client"
import { Steps, TestChains } from "@sra-upgrade/certificates"
import {
  ApplianceApi,
  ApplianceError,
  CoreHandlers,
  Executor,
  Journal,
  Operator,
  type Plan,
  type RunReport,
  Site,
  StepHandler
} from "@sra-upgrade/core"
import { SiteProber, TrafficSwitch } from "@sra-upgrade/failover"
import { MigrationHandlers, MigrationPlan } from "@sra-upgrade/migration"
import { MigrationOperator, Simulator } from "@sra-upgrade/simulator"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Scope from "effect/Scope"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const SITE = "support.sra-simulator.local"
const OLD_VERSION = "24.1.3"
const OLD_BUILD = "40516-5f3e2d1c0b9a88776655443322110ffeeddccbba"
const FACTORY_VERSION = "23.3.1"
const BACKUP_PASSWORD = "migration-backup-password"
const S = MigrationPlan.stepIds

interface Env {
  readonly sim: Simulator.SimulatorHandle
  readonly site: Site.Site
  readonly oldAppliance: Site.Appliance
  readonly newAppliance: Site.Appliance
  readonly dir: string
  /** CA bundle the live adapter trusts. */
  readonly trust: string
  readonly state: () => Effect.Effect<SimState>
}

interface SimState {
  readonly appliances: ReadonlyArray<{
    readonly id: string
    readonly version: string
    readonly lifecycle: string
    readonly defaultCredentials?: boolean
  }>
  readonly site: { readonly reaches: ReadonlyArray<string> }
}

/** Old box A (24.1.3, Jump Clients, Jumpoints) serving the site by DNS; fresh box N on 23.3.1. */
const start = (
  options: { readonly siteCertificate?: { readonly certificatePem: string; readonly keyPem: string } } = {}
): Effect.Effect<Env, Simulator.SimulatorError, Scope.Scope> =>
  Effect.gen(function* () {
    const base = {
      build: OLD_BUILD,
      baseVersion: "6.1.0",
      failoverRole: "none" as const,
      sharedIps: [],
      interApplianceKey: "sim-inter-appliance-key",
      dataSizeBytes: 1024 ** 3,
      clockOffsetSeconds: 0,
      loggedInUsers: []
    }
    const sim = yield* Simulator.start({
      timeScale: 600,
      traffic: "dns",
      siteHostname: SITE,
      backupPassword: BACKUP_PASSWORD,
      appliances: [
        { ...base, id: "A", hostname: "a.sra-simulator.local", version: OLD_VERSION, uniqueIp: "10.0.0.11" },
        {
          ...base,
          id: "N",
          hostname: "n.sra-simulator.local",
          version: OLD_VERSION,
          uniqueIp: "10.0.0.21",
          fresh: true,
          factoryVersion: FACTORY_VERSION
        }
      ],
      updates: [
        {
          id: "site-24.1.3",
          kind: "site",
          version: OLD_VERSION,
          build: OLD_BUILD,
          requires: [],
          installSeconds: 10 * 60,
          rebootSeconds: 60
        }
      ],
      fleet: { jumpClients: 12, passiveRatio: 0.25, jumpoints: 2 }
    })
    // the site's real certificate (CN = the site FQDN) is the default of A, chain with its root
    const cert = options.siteCertificate ?? {
      certificatePem: `${sim.siteCertificate!.certificatePem.trim()}\n${sim.caPem.trim()}\n`,
      keyPem: Redacted.value(sim.siteCertificate!.privateKeyPem)
    }
    const imported = (yield* sim.control("POST", "/appliances/A/certificates", {
      certificate: cert.certificatePem,
      privateKey: cert.keyPem
    })) as { id: string }
    yield* sim.control("PUT", `/appliances/A/certificates/${encodeURIComponent(imported.id)}/default`, {})
    const dir = mkdtempSync(join(tmpdir(), "sra-migration-e2e-"))
    const admin = sim.accounts.find((a) => a.permCommand === "full_access")!
    const site = Schema.decodeUnknownSync(Site.Site)({
      hostname: SITE,
      product: "pra",
      appliances: [
        {
          id: "A",
          role: "none",
          hostname: "a.sra-simulator.local",
          apiUrl: sim.appliance("A").httpsUrl,
          uniqueIp: "10.0.0.11",
          clientId: admin.clientId,
          clientSecret: { env: "SRA_SIM_SECRET" }
        }
      ],
      trafficSwitch: { method: "dns", ttlSeconds: 60 },
      backup: { directory: join(dir, "backups"), password: { env: "SRA_SIM_BACKUP_PASSWORD" } }
    })
    const newAppliance = Schema.decodeUnknownSync(Site.Appliance)({
      id: "N",
      role: "none",
      hostname: "n.sra-simulator.local",
      apiUrl: sim.appliance("N").httpsUrl,
      uniqueIp: "10.0.0.21",
      clientId: "created-at-MIGRATE-1",
      clientSecret: { env: "SRA_NEW_SECRET" }
    })
    const trust = [sim.caPem, options.siteCertificate?.certificatePem ?? ""].join("\n")
    const state = () => Effect.orDie(sim.control("GET", "/state")) as Effect.Effect<SimState>
    return { sim, site, oldAppliance: site.appliances[0]!, newAppliance, dir, trust, state }
  })

const plan = (env: Env, options: Partial<MigrationPlan.Options> = {}): Plan.Plan =>
  Either.getOrThrowWith(
    MigrationPlan.planMigration(env.oldAppliance, env.newAppliance, env.site, {
      current: { product: OLD_VERSION, build: OLD_BUILD },
      newCurrent: FACTORY_VERSION,
      oldKind: "physical",
      newKind: "virtual",
      restoredClientId: "N-old",
      siteClientId: "site",
      siteUrl: env.sim.site.httpUrl,
      trustAnchorsPem: env.trust,
      pollIntervalSeconds: 0.2,
      ...options
    }),
    (e) => new Error(e.message)
  )

/**
 * The live adapter: A and N-old (N's address with A's API account, valid
 * once the settings are restored) and the site address. N's own connection
 * fails (`NotConfigured`) unless `newAccount` is set, which nothing does
 * any more: a factory box has no API account before the restore (MIGRATE-1),
 * and a run that reached for one would fail.
 */
const apiLayer = (env: Env, newAccount: { current?: { clientId: string; clientSecret: Redacted.Redacted<string> } }) =>
  Layer.scoped(
    ApplianceApi.ApplianceApi,
    Effect.gen(function* () {
      const admin = env.sim.accounts.find((a) => a.permCommand === "full_access")!
      const connection = (id: string, baseUrl: string, account = admin): ApplianceClient.Connection => ({
        id,
        baseUrl,
        clientId: account.clientId,
        clientSecret: account.clientSecret,
        timeoutMillis: 5_000,
        retry: { maxRetries: 1, baseDelayMillis: 50 },
        ...(baseUrl.startsWith("https:") ? { tls: { caPem: env.trust } } : {})
      })
      const fixed = yield* ApplianceClient.make(
        [
          connection("A", env.sim.appliance("A").httpsUrl),
          connection("N-old", env.sim.appliance("N").httpsUrl),
          connection("site", env.sim.site.httpUrl)
        ],
        { probeTimeoutMillis: 2_000, probeTls: { caPem: env.trust } }
      )
      const scope = yield* Effect.scope
      let ownN: ApplianceApi.ApplianceClient | undefined
      const appliance = (id: string) => {
        if (id !== "N") return fixed.appliance(id)
        if (ownN !== undefined) return Effect.succeed(ownN)
        const creds = newAccount.current
        if (creds === undefined)
          return Effect.fail(
            new ApplianceError.ApplianceError({
              appliance: "N",
              operation: "appliance",
              reason: new ApplianceError.NotConfigured(),
              hint: "The new appliance has no API account before the restore (MIGRATE-7): reach it as N-old."
            })
          )
        return ApplianceClient.make([connection("N", env.sim.appliance("N").httpsUrl, { ...admin, ...creds })]).pipe(
          Scope.extend(scope),
          Effect.flatMap((api) => api.appliance("N")),
          Effect.tap((c) => Effect.sync(() => (ownN = c)))
        )
      }
      return ApplianceApi.ApplianceApi.of({ appliance, probe: fixed.probe })
    })
  )

/** A journal that stops writing once `crashed` is set: what a SIGKILL leaves behind. */
const crashableJournal = (directory: string, crashed: { value: boolean }) =>
  Layer.effect(
    Journal.Journal,
    Effect.map(Journal.Journal, (j) =>
      Journal.Journal.of({ ...j, append: (record) => (crashed.value ? Effect.void : j.append(record)) })
    )
  ).pipe(Layer.provide(Journal.layer({ directory })), Layer.orDie)

/** One process' worth of services: adapter, journal, switch, prober, handlers, executor. */
const runtime = (
  env: Env,
  operator: Layer.Layer<Operator.Operator>,
  newAccount: { current?: { clientId: string; clientSecret: Redacted.Redacted<string> } },
  crashed = { value: false }
) => {
  const deps = Layer.merge(
    TrafficSwitch.layer,
    SiteProber.layer({ url: env.sim.site.httpUrl, intervalMillis: 100, timeoutMillis: 1_000 })
  ).pipe(Layer.provideMerge(Layer.merge(apiLayer(env, newAccount), crashableJournal(join(env.dir, "runs"), crashed))))
  const handlers = StepHandler.merge(
    MigrationHandlers.layer({ bundlePassphrase: Redacted.make("simulator-export-passphrase") }),
    CoreHandlers.layer({ backupPassword: Redacted.make(BACKUP_PASSWORD) }),
    Steps.layer({ bundlePassphrase: Redacted.make("simulator-export-passphrase") })
  )
  return Executor.layer.pipe(Layer.provideMerge(Layer.merge(handlers, operator)), Layer.provideMerge(deps))
}

const simOperator = (
  env: Env,
  newAccount: { current?: { clientId: string; clientSecret: Redacted.Redacted<string> } },
  options: Partial<MigrationOperator.Options> = {}
) =>
  MigrationOperator.make({
    controlUrl: env.sim.controlUrl,
    backupPassword: BACKUP_PASSWORD,
    onAccountCreated: (_id, credentials) => (newAccount.current = credentials),
    ...options
  })

const stepOf = (report: RunReport.RunReport, id: string) => {
  const s = report.steps.find((x) => x.id === id)
  if (s === undefined) throw new Error(`no step ${id} in the report`)
  return s
}

const inventory = (env: Env, id: string) =>
  Effect.gen(function* () {
    const api = yield* ApplianceApi.ApplianceApi
    const c = yield* api.appliance(id)
    const h = yield* c.health
    const jumpClients = yield* Stream.runCount(c.jumpClients())
    const jumpoints = yield* Stream.runCount(c.jumpoints())
    return { guid: h.applianceGuid, version: h.version, jumpClients, jumpoints }
  }).pipe(Effect.provide(apiLayer(env, {})))

describe("hardware migration (e2e, simulator)", () => {
  it.live(
    "MIGRATE-1, MIGRATE-2, MIGRATE-3, MIGRATE-4, MIGRATE-5, MIGRATE-6, MIGRATE-7, MIGRATE-8, MIGRATE-9: A with Jump Clients and settings moves to a fresh N: same inventory, the site certificate, A reset; crash and resume across the cut-over",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const env = yield* start()
          const before = yield* inventory(env, "A")
          expect(before.jumpClients).toBe(12)
          expect(before.jumpoints).toBe(2)
          const migration = plan(env)
          const runId = "migration-e2e-crash"
          const newAccount: { current?: { clientId: string; clientSecret: Redacted.Redacted<string> } } = {}
          const crashed = { value: false }
          let cutoverAsked = 0
          const inner = simOperator(env, newAccount, {
            onRequest: (r) => void (r.step.id === S.cutover && cutoverAsked++)
          })
          // first process: performs the DNS move at the cut-over gate, then dies before journaling the answer
          const crashing = Layer.succeed(Operator.Operator, {
            answer: (request) =>
              request.step.id === S.cutover && !crashed.value
                ? Effect.flatMap(inner.answer(request), () =>
                    Effect.sync(() => void (crashed.value = true)).pipe(Effect.zipRight(Effect.interrupt))
                  )
                : inner.answer(request)
          })
          const first = yield* Effect.fork(
            Executor.run(migration, { runId }).pipe(Effect.provide(runtime(env, crashing, newAccount, crashed)))
          )
          const firstExit = yield* Fiber.await(first)
          expect(Exit.isInterrupted(firstExit)).toBe(true)
          expect(crashed.value).toBe(true)
          // the DNS record was moved by the dead process; nothing was decommissioned
          const mid = yield* env.state()
          expect(mid.appliances.find((a) => a.id === "A")!.lifecycle).toBe("Running")

          // second process: a fresh runtime on the same journal directory resumes the run
          const report = yield* Executor.resume(runId).pipe(
            Effect.provide(runtime(env, Layer.succeed(Operator.Operator, inner), newAccount))
          )
          expect(report.error ?? "").toBe("")
          expect(report.status).toBe("succeeded")
          expect(report.resumes).toBeGreaterThanOrEqual(1)
          // the gate whose answer died with the first process was asked again, and verified this time
          expect(cutoverAsked).toBe(2)
          expect(report.gates.filter((g) => g.stepId === S.cutover)).toHaveLength(1)
          expect(stepOf(report, S.cutover).status).toBe("succeeded")

          // MIGRATE-1/6: before the restore N was never read through the API (it has no account; the run's "N"
          // connection would fail): its probe, its factory certificate and versions read at gates instead
          expect(newAccount.current).toBeUndefined()
          expect(stepOf(report, S.checkNew).evidence).toMatchObject({ siteServedBy: "A", newProbe: 200 })
          expect(stepOf(report, S.checkNew).evidence["newLeafSha256"]).not.toBe(env.sim.siteCertificate!.sha256)
          expect(stepOf(report, S.checkNewClock).evidence["source"]).toMatch(/HTTP Date header/)
          expect(stepOf(report, S.checkVersions).evidence).toMatchObject({ newVersion: FACTORY_VERSION })
          expect(stepOf(report, S.softwareInstalled).evidence).toMatchObject({ versionSeen: OLD_VERSION })
          // MIGRATE-2: the backup was password-protected and re-verified
          expect(stepOf(report, S.backupVerify).evidence).toMatchObject({ passwordProtected: true })
          // MIGRATE-3..5: the site certificate travelled and N serves it
          const chosen = stepOf(report, S.defaultCertificate).evidence
          expect(chosen["servedLeafSha256"]).toBe(env.sim.siteCertificate!.sha256)
          expect(stepOf(report, S.exportCertificate).evidence).toMatchObject({
            servedByOldSha256: env.sim.siteCertificate!.sha256,
            leafSha256: env.sim.siteCertificate!.sha256,
            keyEncrypted: true,
            keyChecked: true
          })
          // MIGRATE-7: N answers like A did
          expect(stepOf(report, S.compare).evidence).toMatchObject({
            old: { version: OLD_VERSION, jumpClients: 12, jumpoints: 2 },
            new: { version: OLD_VERSION, jumpClients: 12, jumpoints: 2 }
          })
          expect(stepOf(report, S.credentials).evidence).toMatchObject({ attestation: "changed" })
          // MIGRATE-8: the site answers from N; prober figures are in the evidence
          const served = stepOf(report, S.cutoverWait).evidence
          expect(served["servedBy"]).toBe("N-old") // N reached with the restored (old) API account
          const prober = served["prober"] as { sent: number; failed: number; longestOutageMillis: number }
          expect(prober.sent).toBeGreaterThan(0)
          const total = stepOf(report, S.confirmInProduction).evidence["prober"] as typeof prober
          expect(total.sent).toBeGreaterThanOrEqual(prober.sent)
          console.log(
            `migration e2e prober (resumed process, cut-over → confirmation): ${total.sent} probes, ${total.failed} failed, longest outage ${total.longestOutageMillis} ms`
          )
          // MIGRATE-9: A reset (its API account no longer works), powered off; N serves the site
          expect(stepOf(report, S.oldReset).evidence).toMatchObject({ oldAnswer: "Unauthorized", newHealthy: true })
          const after = yield* env.state()
          const a = after.appliances.find((x) => x.id === "A")!
          const n = after.appliances.find((x) => x.id === "N")!
          expect(a.lifecycle).toBe("PoweredOff")
          expect(n.version).toBe(OLD_VERSION)
          expect(n.defaultCredentials).toBe(false)
          expect(after.site.reaches).toEqual(["N"])
          const moved = yield* inventory(env, "N-old")
          expect(moved).toMatchObject({ version: OLD_VERSION, jumpClients: 12, jumpoints: 2 })
          expect(moved.guid).not.toBe(before.guid)
        })
      ),
    120_000
  )

  it.live(
    "MIGRATE-7: a restore with the wrong backup password is refused and the run stops before the cut-over",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const env = yield* start()
          const newAccount = {}
          const report = yield* Executor.run(plan(env, { oldKind: "virtual" })).pipe(
            Effect.provide(
              runtime(
                env,
                Layer.succeed(Operator.Operator, simOperator(env, newAccount, { backupPassword: "not-the-password" })),
                newAccount
              )
            )
          )
          expect(report.status).toBe("failed")
          expect(report.currentStep).toBe(S.restore)
          expect(report.error).toMatch(/backup password is wrong/)
          const state = yield* env.state()
          expect(state.site.reaches).toEqual(["A"])
        })
      ),
    90_000
  )

  it.live(
    "MIGRATE-5: a site certificate with warnings (expires in 10 days) blocks the default choice on the new box",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const soon = yield* TestChains.generateChain({
            siteFqdn: SITE,
            dnsNames: [SITE, "localhost"],
            ipAddresses: ["127.0.0.1"],
            leafNotAfter: new Date(Date.now() + 10 * 24 * 3600 * 1000)
          })
          const env = yield* start({ siteCertificate: { certificatePem: soon.chainPem, keyPem: soon.keyPem } })
          const newAccount = {}
          const report = yield* Executor.run(plan(env, { oldKind: "virtual" })).pipe(
            Effect.provide(runtime(env, Layer.succeed(Operator.Operator, simOperator(env, newAccount)), newAccount))
          )
          expect(report.status).toBe("failed")
          expect(report.currentStep).toBe(S.defaultCertificate)
          expect(report.error).toMatch(/ExpiresSoon.*escalate to vendor support/s)
          expect(stepOf(report, S.exportCertificate).status).toBe("succeeded")
          expect(stepOf(report, S.restore).status).toBe("pending")
        })
      ),
    90_000
  )

  it.live(
    "PREP-8 MIGRATE-1: a factory box whose clock is wrong is caught from its probe's Date header, before its software, without an API account",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const env = yield* start()
          yield* env.sim.control("PUT", "/appliances/N/clock-offset", { seconds: -3 * 3600 })
          const newAccount: { current?: { clientId: string; clientSecret: Redacted.Redacted<string> } } = {}
          const report = yield* Executor.run(plan(env, { oldKind: "virtual" })).pipe(
            Effect.provide(runtime(env, Layer.succeed(Operator.Operator, simOperator(env, newAccount)), newAccount))
          )
          expect(report.status).toBe("failed")
          expect(report.currentStep).toBe(S.checkNewClock)
          expect(report.error).toMatch(/clock is off by -108\d\d s/)
          expect(newAccount.current).toBeUndefined()
          // nothing was installed on N
          const state = yield* env.state()
          expect(state.appliances.find((a) => a.id === "N")!.version).toBe(FACTORY_VERSION)
        })
      ),
    90_000
  )

  it.live(
    "MIGRATE-6: a new box still on its factory version (older than the backup) is caught before anything is restored",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const env = yield* start()
          const newAccount = {}
          // planned as if N already ran 24.1.3: no install steps
          const report = yield* Executor.run(plan(env, { newCurrent: OLD_VERSION, oldKind: "virtual" })).pipe(
            Effect.provide(runtime(env, Layer.succeed(Operator.Operator, simOperator(env, newAccount)), newAccount))
          )
          expect(report.status).toBe("failed")
          expect(report.currentStep).toBe(S.checkVersions)
          expect(report.error).toMatch(/runs 23\.3\.1, older than 24\.1\.3/)
          // and the appliance itself refuses such a restore (409), whatever the plan says
          const dir = join(env.dir, "direct")
          const artifact = yield* Effect.gen(function* () {
            const api = yield* ApplianceApi.ApplianceApi
            const a = yield* api.appliance("A")
            return yield* a.downloadBackup({ directory: dir, password: Redacted.make(BACKUP_PASSWORD) })
          }).pipe(Effect.provide(apiLayer(env, {})))
          const refused = yield* Effect.flip(
            env.sim.control("POST", "/appliances/N/restore", { path: artifact.path, password: BACKUP_PASSWORD })
          )
          expect(refused.status).toBe(409)
          expect(refused.message).toMatch(/Install the update to 24\.1\.3 on N first/)
        })
      ),
    90_000
  )
})
