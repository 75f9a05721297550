import { describe, expect, it } from "@effect/vitest"
import { FakeAppliance } from "@sra-upgrade/core/test"
import { Bundle, TestChains } from "@sra-upgrade/certificates"
import {
  ApplianceApi,
  ApplianceError,
  CoreSteps,
  Executor,
  Journal,
  Operator,
  Plan,
  type RunReport,
  type StepDef,
  StepHandler
} from "@sra-upgrade/core"
import { TrafficSwitch } from "@sra-upgrade/failover"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as tls from "node:tls"
import * as MigrationHandlers from "../src/MigrationHandlers.js"
import * as MigrationPlan from "../src/MigrationPlan.js"
import * as MigrationSteps from "../src/MigrationSteps.js"
import { approve, env, GUID_A, GUID_N, newBox, plan, site } from "./support.js"

const M = MigrationSteps
const SITE = "support.example.test"
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "sra-migration-"))

/** A gate of `def` with `params`, built as a planner builds it. */
const gate = <P>(
  def: { readonly gate: (meta: StepDef.GateMeta, params: P) => Plan.ManualGate },
  id: string,
  params: P,
  rules: ReadonlyArray<string> = []
) => def.gate({ id, title: id, rules, estimatedSeconds: 1, instructions: [id] }, params)
const check = <P>(def: { readonly check: (meta: StepDef.CheckMeta, params: P) => Plan.Check }, id: string, params: P) =>
  def.check({ id, title: id, rules: [], estimatedSeconds: 1 }, params)

const seeds = (extra: Record<string, Partial<FakeAppliance.State>> = {}) => ({
  A: { guid: GUID_A },
  N: { guid: GUID_N },
  "N-old": { guid: GUID_N },
  site: { guid: GUID_A },
  ...extra
})

const runPlan = (
  steps: ReadonlyArray<Plan.Step>,
  options: {
    readonly seeds?: Record<string, Partial<FakeAppliance.State>>
    readonly script?: Record<string, Operator.Script>
    readonly before?: (fakes: (typeof FakeAppliance.FakeAppliances)["Service"]) => void
    readonly passphrase?: string
  } = {}
) =>
  Effect.gen(function* () {
    const fakes = yield* FakeAppliance.FakeAppliances
    options.before?.(fakes)
    return yield* Executor.run(plan(steps))
  }).pipe(
    Effect.provide(
      env(
        options.seeds ?? seeds(),
        options.script ?? {},
        options.passphrase === undefined ? {} : { bundlePassphrase: Redacted.make(options.passphrase) }
      )
    )
  )

const stepOf = (report: RunReport.RunReport, id: string) => {
  const s = report.steps.find((x) => x.id === id)
  if (s === undefined) throw new Error(`no step ${id}`)
  return s
}

/** A TLS server on 127.0.0.1:0 serving `chainPem`, closed with the scope. */
const serveTls = (chainPem: string, keyPem: string) =>
  Effect.acquireRelease(
    Effect.async<tls.Server & { port: number }>((resume) => {
      const server = tls.createServer({ cert: chainPem, key: keyPem }, (socket) => socket.end())
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed(Object.assign(server, { port: (server.address() as { port: number }).port })))
      )
    }),
    (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
  )

/** The old box serving the site's certificate and a factory box serving its own, each on 127.0.0.1:0. */
const oldAndFactoryBoxes = Effect.gen(function* () {
  const siteChain = yield* TestChains.generateChain({ siteFqdn: SITE })
  const factory = yield* TestChains.generateChain({ siteFqdn: "factory.invalid", commonName: "factory.invalid" })
  const oldServer = yield* serveTls(siteChain.chainPem, siteChain.keyPem)
  const newServer = yield* serveTls(factory.chainPem, factory.keyPem)
  return { siteChain, factory, oldServer, newServer }
})

const writeBundle = (chain: TestChains.GeneratedChain, file: string, passphrase = "export-pass") =>
  Bundle.exportBundle(chain.chain, chain.leaf.privateKey, Redacted.make(passphrase), { path: file }).pipe(Effect.orDie)

describe("MigrationHandlers", () => {
  it.effect("the registries provide every handler a migration plan names", () =>
    Effect.gen(function* () {
      const registry = yield* StepHandler.StepHandlers
      for (const def of MigrationSteps.all) expect(registry.names).toContain(def.name)
      const s = site()
      const p = MigrationPlan.planMigration(s.appliances[0]!, newBox(), s, {
        current: { product: "24.1.3" },
        oldKind: "physical",
        newCurrent: "23.3.1"
      })
      if (p._tag === "Left") throw new Error(p.left.message)
      for (const step of p.right.steps) expect(registry.names, step.handler).toContain(step.handler)
    }).pipe(Effect.provide(env(seeds())))
  )

  it.effect("the layer needs no Journal: ApplianceApi and TrafficSwitch are enough", () =>
    Effect.gen(function* () {
      const registry = yield* StepHandler.StepHandlers
      expect([...registry.names].sort()).toEqual(MigrationSteps.all.map((d) => d.name).sort())
    }).pipe(
      Effect.provide(
        MigrationHandlers.layer().pipe(
          Layer.provide(TrafficSwitch.layer.pipe(Layer.provideMerge(FakeAppliance.layer(seeds()))))
        )
      )
    )
  )

  it.effect("a step whose params do not decode fails with BadParams naming the field, before any appliance call", () =>
    Effect.gen(function* () {
      const good = check(M.CheckVersions, "versions", { old: "A", new: "N", oldVersion: "24.1.3", target: "24.1.3" })
      const bad = new Plan.Check({ ...good, params: { old: "A", new: "N", oldVersion: "24.1.3" } })
      const report = yield* runPlan([bad])
      expect(report.status).toBe("failed")
      expect(stepOf(report, "versions").error).toMatch(/Step parameter "target" of migration\/check-versions/)
    })
  )

  it.live("MIGRATE-3: an approval naming an export file that does not exist is refused; the gate stays open", () =>
    Effect.gen(function* () {
      const missing = path.join(tmp(), "not-exported.pem")
      const step = gate(M.ExportedBundle, "export", { path: missing, siteFqdn: SITE, host: "127.0.0.1", port: 1 }, [
        "MIGRATE-3"
      ])
      expect(step.evidence.find((f) => f.name === "file")).toMatchObject({ format: "path", mustExist: true })
      const report = yield* runPlan([step], {
        script: { export: approve({ file: missing, "passphrase stored in": "vault" }) }
      })
      expect(report.status).toBe("waiting-for-operator")
      expect(stepOf(report, "export").status).toBe("waiting-for-operator")
      const answer = report.gates.find((g) => g.stepId === "export")!.answer
      expect(answer._tag).toBe("Deferred")
      expect(answer._tag === "Deferred" && answer.reason).toMatch(/file must be an existing file on this machine/)
    })
  )

  it.live(
    "MIGRATE-7: a journal written before the step definitions resumes; the restore reads the backup recorded then",
    () =>
      Effect.gen(function* () {
        // written by the code before the definitions (b6781f6): backup and its check done, the run waiting at the restore
        const runId = "migration-before-definitions"
        const dir = tmp()
        fs.copyFileSync(new URL(`./fixtures/${runId}.jsonl`, import.meta.url), path.join(dir, `${runId}.jsonl`))
        const recorded = "/tmp/migsteps-dump/backups/a.example.test-2026-12-02T18-48-12-783Z.nsb"
        const script = {
          [MigrationPlan.stepIds.restore]: approve({ file: "b.nsb" }),
          [MigrationPlan.stepIds.credentials]: approve({ attestation: "changed", vault: "vault/sra" })
        }
        const report = yield* Executor.resume(runId).pipe(
          Effect.provide(
            env(
              { A: { guid: GUID_A }, N: { guid: GUID_N } },
              script,
              {},
              Layer.orDie(Journal.layer({ directory: dir }))
            )
          )
        )
        expect(report.status).toBe("succeeded")
        expect(stepOf(report, MigrationPlan.stepIds.backup).evidence["path"]).toBe(recorded)
        expect(stepOf(report, MigrationPlan.stepIds.restore).evidence).toMatchObject({
          backup: recorded,
          healthy: true
        })
        expect(stepOf(report, MigrationPlan.stepIds.credentials).evidence).toMatchObject({
          attestation: "changed",
          attestedBy: "test"
        })
      })
  )

  it.live(
    "MIGRATE-1 MIGRATE-6: a journal of a plan made before the account-free checks resumes at the install gate: its old steps (API account, check-new-appliance, check-versions, await-install) keep their handlers",
    () =>
      Effect.gen(function* () {
        // the migration plan as the planner wrote it before this change (fixture of b6781f6: the new box read
        // through an API account created at MIGRATE-1); the run was started and stopped at the install gate
        const fixture = JSON.parse(
          fs.readFileSync(new URL("./fixtures/plans-before-definitions.json", import.meta.url), "utf8")
        ) as Record<string, { readonly steps: ReadonlyArray<{ readonly id: string; readonly handler: string }> }>
        const old = fixture["virtualInstall"]!
        const upTo = old.steps.findIndex((x) => x.id === MigrationPlan.stepIds.softwareWait)
        const steps = old.steps.slice(0, upTo + 1)
        expect(steps.map((x) => x.handler)).toEqual([
          "migration/new-installed",
          "core/check-api-access",
          "core/check-clock-skew",
          "migration/check-new-appliance",
          "migration/check-versions",
          "migration/eula-accepted",
          "migration/software-started",
          "core/await-install"
        ])
        const runId = "migration-before-account-free"
        const dir = tmp()
        const started = {
          runId,
          seq: 1,
          event: { runId, plan: { ...old, id: runId, steps }, at: "2026-12-02T18:48:12.735Z", _tag: "RunStarted" }
        }
        fs.writeFileSync(path.join(dir, `${runId}.jsonl`), `${JSON.stringify(started)}\n`)
        const S = MigrationPlan.stepIds
        const script = {
          // the old gate's evidence (the API account's client id) is what the journal's plan asks for
          [S.newInstall]: approve({ apiClientId: "client-N" }),
          [S.eula]: approve({ acceptedBy: "me" }),
          [S.software]: approve()
        }
        const report = yield* Executor.resume(runId).pipe(
          Effect.provide(
            env(
              seeds({ N: { guid: GUID_N, version: "24.3.2" } }),
              script,
              {},
              Layer.orDie(Journal.layer({ directory: dir }))
            )
          )
        )
        expect(report.error ?? "").toBe("")
        expect(report.status).toBe("succeeded")
        expect(stepOf(report, S.checkNew).evidence).toMatchObject({ oldGuid: GUID_A, newGuid: GUID_N })
        expect(stepOf(report, S.checkVersions).evidence).toMatchObject({ newVersion: "24.3.2" })
        expect(stepOf(report, S.softwareWait).status).toBe("succeeded")
      })
  )

  it.effect("MIGRATE-1: the install gate is verified by the load-balancer probe on the new box's own address", () =>
    Effect.gen(function* () {
      const step = gate(M.NewInstalled, "new-install", { appliance: "N", url: "fake://N", uniqueIp: "10.0.0.21" }, [
        "MIGRATE-1"
      ])
      const script = { "new-install": approve({ version: "23.3.1" }) }
      const down = yield* runPlan([step], {
        script,
        before: (f) => (f.get("N").state.probe = { status: 503, body: "" })
      })
      expect(down.status).toBe("failed")
      expect(stepOf(down, "new-install").error).toMatch(/HTTP 503.*not healthy yet/)
      const up = yield* runPlan([step], { script })
      expect(up.status).toBe("succeeded")
      expect(stepOf(up, "new-install").evidence["probeStatus"]).toBe(200)
    })
  )

  it.effect(
    "MIGRATE-1: the new box must be another appliance (GUID), answer on its own address and not serve the site yet",
    () =>
      Effect.gen(function* () {
        const step = check(M.CheckNewAppliance, "check-new", {
          old: "A",
          new: "N",
          newUrl: "fake://N",
          siteUrl: "https://support.example.test",
          siteHostname: SITE,
          siteClient: "site"
        })
        const same = yield* runPlan([step], { seeds: seeds({ N: { guid: GUID_A } }) })
        expect(stepOf(same, "check-new").error).toMatch(/same appliance GUID/)
        const serving = yield* runPlan([step], { seeds: seeds({ site: { guid: GUID_N } }) })
        expect(stepOf(serving, "check-new").error).toMatch(/already answered by the new appliance N/)
        const unreachable = yield* runPlan([step], {
          before: (f) => f.get("N").failNext("health", new ApplianceError.Unauthorized(), 5)
        })
        expect(stepOf(unreachable, "check-new").error).toMatch(/create its API account/)
        const ok = yield* runPlan([step])
        expect(ok.status).toBe("succeeded")
        expect(stepOf(ok, "check-new").evidence).toMatchObject({ siteServedBy: "A", oldGuid: GUID_A, newGuid: GUID_N })
      })
  )

  it.live(
    "MIGRATE-1: before the restore the new box is told from the old by its probe and the certificate it serves, never through its API",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { siteChain, factory, oldServer, newServer } = yield* oldAndFactoryBoxes
          const step = (newPort: number) =>
            check(M.CheckNewBox, "check-new", {
              old: "A",
              new: "N",
              newUrl: "fake://N",
              newTls: { host: "127.0.0.1", port: newPort },
              oldTls: { host: "127.0.0.1", port: oldServer.port },
              siteHostname: SITE,
              siteClient: "site"
            })
          const run = (steps: ReadonlyArray<Plan.Step>, extra: Record<string, Partial<FakeAppliance.State>> = {}) => {
            const refused: Array<string> = []
            return Effect.map(
              Executor.run(plan(steps)).pipe(
                Effect.provide(env(seeds(extra), {}, {}, Journal.layerMemory, { noApiAccount: ["N"], refused }))
              ),
              (report) => ({ report, refused })
            )
          }
          const ok = yield* run([step(newServer.port)])
          expect(ok.report.status).toBe("succeeded")
          expect(ok.refused).toEqual([])
          expect(stepOf(ok.report, "check-new").evidence).toMatchObject({
            siteServedBy: "A",
            newProbe: 200,
            newLeafSha256: factory.chain[0]!.sha256,
            oldLeafSha256: siteChain.chain[0]!.sha256
          })
          // the "new" address serves the old box's certificate: it reaches the old box
          const same = yield* run([step(oldServer.port)])
          expect(stepOf(same.report, "check-new").error).toMatch(/same certificate as A.*own unique IP/)
          const serving = yield* run([step(newServer.port)], { site: { guid: GUID_N } })
          expect(stepOf(serving.report, "check-new").error).toMatch(/site address is not answered by A/)
          // the check this replaces asked the new box's API, which a factory box refuses
          const before = check(M.CheckNewAppliance, "check-new", {
            old: "A",
            new: "N",
            newUrl: "fake://N",
            siteUrl: "https://support.example.test",
            siteHostname: SITE,
            siteClient: "site"
          })
          const legacy = yield* run([before])
          expect(stepOf(legacy.report, "check-new").error).toMatch(/create its API account/)
          expect(legacy.refused).toContain("N")
        })
      )
  )

  it.live(
    "MIGRATE-1 MIGRATE-6: the planned run reaches the restore with the new box refusing every API call (a factory box has no account)",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { oldServer, newServer } = yield* oldAndFactoryBoxes
          const oldUrl = `https://127.0.0.1:${oldServer.port}`
          const newUrl = `https://127.0.0.1:${newServer.port}`
          const s = site({
            appliances: [
              {
                id: "A",
                role: "none",
                apiUrl: oldUrl,
                uniqueIp: "10.0.0.11",
                clientId: "client-A",
                clientSecret: { env: "SRA_SECRET" }
              }
            ]
          })
          const planned = MigrationPlan.planMigration(s.appliances[0]!, newBox({ apiUrl: newUrl }), s, {
            current: { product: "24.1.3" },
            oldKind: "virtual",
            newCurrent: "23.3.1",
            siteClientId: "site",
            restoredClientId: "N-old",
            pollIntervalSeconds: 0.05
          })
          if (planned._tag === "Left") throw new Error(planned.left.message)
          const S = MigrationPlan.stepIds
          // the steps before the restore that read an appliance (the backup and the certificates are tested apart)
          const keep = new Set<string>([
            S.newInstall,
            S.checkOld,
            S.checkOldClock,
            S.checkNew,
            S.checkNewClock,
            S.checkVersions,
            S.eula,
            S.software,
            S.softwareWait,
            S.softwareInstalled
          ])
          const steps = planned.right.steps.filter((x) => keep.has(x.id))
          expect(steps.map((x) => x.id)).toEqual([...keep])
          const refused: Array<string> = []
          const report = yield* Executor.run(plan(steps)).pipe(
            Effect.provide(
              env(
                seeds({
                  A: { guid: GUID_A, urls: [oldUrl] },
                  N: { guid: GUID_N, version: "23.3.1", urls: [newUrl] }
                }),
                {
                  [S.newInstall]: approve({ version: "23.3.1" }),
                  [S.eula]: approve({ acceptedBy: "me" }),
                  [S.software]: approve(),
                  [S.softwareInstalled]: approve({ version: "24.1.3" })
                },
                {},
                Journal.layerMemory,
                { noApiAccount: ["N"], refused }
              )
            )
          )
          expect(report.error ?? "").toBe("")
          expect(report.status).toBe("succeeded")
          expect(refused).toEqual([])
        })
      )
  )

  it.effect(
    "PREP-8 MIGRATE-6: the new box's clock is read from the Date header of its probe, without an API account",
    () =>
      Effect.gen(function* () {
        const step = check(M.NewBoxClock, "new-clock", { appliance: "N", url: "fake://N", maxSkewSeconds: 120 })
        const refused: Array<string> = []
        const run = (offsetMillis: number) =>
          Executor.run(plan([step])).pipe(
            Effect.provide(
              env(seeds({ N: { guid: GUID_N, clockOffsetMillis: offsetMillis } }), {}, {}, Journal.layerMemory, {
                noApiAccount: ["N"],
                refused
              })
            )
          )
        const right = yield* run(30_000)
        expect(right.status).toBe("succeeded")
        expect(stepOf(right, "new-clock").evidence).toMatchObject({ skewSeconds: 30, maxSkewSeconds: 120 })
        const wrong = yield* run(-3600_000)
        expect(stepOf(wrong, "new-clock").error).toMatch(/clock is off by -3600 s.*download key.*PREP-8/)
        expect(refused).toEqual([])
      })
  )

  it.effect(
    "MIGRATE-6: before the restore the versions are checked with the one a person read on the new box's /appliance",
    () =>
      Effect.gen(function* () {
        const install = gate(M.NewInstalled, "new-install", { appliance: "N", url: "fake://N", uniqueIp: "10.0.0.21" })
        const versions = (installPlanned: boolean) =>
          check(M.CheckVersionsSeen, "versions", {
            old: "A",
            new: "N",
            oldVersion: "24.1.3",
            target: "24.1.3",
            installPlanned,
            seenAt: "new-install"
          })
        const refused: Array<string> = []
        const run = (seen: string, installPlanned = true, a: Partial<FakeAppliance.State> = { guid: GUID_A }) =>
          Executor.run(plan([install, versions(installPlanned)])).pipe(
            Effect.provide(
              env(seeds({ A: a }), { "new-install": approve({ version: seen }) }, {}, Journal.layerMemory, {
                noApiAccount: ["N"],
                refused
              })
            )
          )
        const older = yield* run("23.3.1")
        expect(older.status).toBe("succeeded")
        expect(stepOf(older, "versions").evidence).toMatchObject({ newVersion: "23.3.1", installNeeded: true })
        expect(stepOf(yield* run("25.1.1"), "versions").error).toMatch(/already runs 25\.1\.1, newer than 24\.1\.3/)
        expect(stepOf(yield* run("23.3.1", false), "versions").error).toMatch(/this plan installs nothing/)
        expect(stepOf(yield* run("24.1.3", true, { guid: GUID_A, version: "24.3.2" }), "versions").error).toMatch(
          /plan the migration again/
        )
        expect(refused).toEqual([])
      })
  )

  it.effect(
    "MIGRATE-6: after the install the run waits for the new box's probe, then a person reads its version; no API account needed",
    () =>
      Effect.gen(function* () {
        const params = { appliance: "N", url: "fake://N", target: "24.1.3" }
        const back = M.NewSoftwareBack.wait(
          { id: "back", title: "back", rules: [], estimatedSeconds: 1, intervalSeconds: 10, deadlineSeconds: 600 },
          params
        )
        const installed = gate(M.NewSoftwareInstalled, "installed", params, ["MIGRATE-6"])
        const refused: Array<string> = []
        const provide = (seen: string) =>
          Effect.provide(
            env(seeds(), { installed: approve({ version: seen }) }, {}, Journal.layerMemory, {
              noApiAccount: ["N"],
              refused
            })
          )
        // the box restarts after the install: down for a while (TestClock), then back
        const ok = yield* Effect.gen(function* () {
          const fakes = yield* FakeAppliance.FakeAppliances
          const n = fakes.get("N")
          n.state.up = false
          const fiber = yield* Effect.fork(Executor.run(plan([back, installed])))
          yield* TestClock.adjust("30 seconds")
          const whileDown = fakes.probeCalls.length
          expect(whileDown).toBeGreaterThanOrEqual(2)
          n.state.up = true
          yield* TestClock.adjust("10 seconds")
          return yield* Fiber.join(fiber)
        }).pipe(provide("24.1.3"))
        expect(ok.status).toBe("succeeded")
        expect(stepOf(ok, "back").evidence).toMatchObject({ probeStatus: 200 })
        expect(stepOf(ok, "installed").evidence).toMatchObject({ versionSeen: "24.1.3", verifiableByApi: false })
        const behind = yield* Executor.run(plan([back, installed])).pipe(provide("23.3.1"))
        // a version other than the target is refused at the approval: the gate stays open
        expect(behind.status).toBe("waiting-for-operator")
        expect(stepOf(behind, "installed").status).not.toBe("succeeded")
        expect(refused).toEqual([])
      })
  )

  it.effect(
    "MIGRATE-6: the version check refuses a new box newer than the target and says when an install is needed",
    () =>
      Effect.gen(function* () {
        const step = check(M.CheckVersions, "versions", { old: "A", new: "N", oldVersion: "24.1.3", target: "24.1.3" })
        const newer = yield* runPlan([step], { seeds: seeds({ N: { guid: GUID_N, version: "25.1.1" } }) })
        expect(stepOf(newer, "versions").error).toMatch(/already runs 25\.1\.1, newer than 24\.1\.3/)
        const moved = yield* runPlan([step], { seeds: seeds({ A: { guid: GUID_A, version: "24.3.2" } }) })
        expect(stepOf(moved, "versions").error).toMatch(/plan the migration again/)
        const older = yield* runPlan([step], { seeds: seeds({ N: { guid: GUID_N, version: "23.3.1" } }) })
        expect(stepOf(older, "versions").evidence["installNeeded"]).toBe(true)
        const noInstall = check(M.CheckVersions, "versions", {
          old: "A",
          new: "N",
          oldVersion: "24.1.3",
          target: "24.1.3",
          installPlanned: false
        })
        const unplanned = yield* runPlan([noInstall], { seeds: seeds({ N: { guid: GUID_N, version: "23.3.1" } }) })
        expect(stepOf(unplanned, "versions").error).toMatch(/older than 24\.1\.3, and this plan installs nothing/)
        const eula = gate(M.EulaAccepted, "eula", { appliance: "N" }, ["MIGRATE-6"])
        const accepted = yield* runPlan([eula], { script: { eula: approve({ acceptedBy: "me" }) } })
        expect(stepOf(accepted, "eula").evidence).toMatchObject({ verifiableByApi: false })
        const refused = yield* runPlan([eula], {
          script: { eula: new Operator.Rejected({ by: "me", reason: "EULA not acceptable" }) }
        })
        expect(refused.status).toBe("failed")
      })
  )

  it.live("MIGRATE-2: the backup taken through the API is re-read before the restore; a file changed since fails", () =>
    Effect.gen(function* () {
      const dir = tmp()
      const backup = CoreSteps.backupStep({
        id: "backup",
        title: "backup",
        rules: ["MIGRATE-2"],
        appliance: "A",
        directory: dir,
        passwordProtected: false,
        label: "migration"
      })
      const verify = check(M.VerifyBackup, "verify", { backupStep: "backup", appliance: "A" })
      const ok = yield* runPlan([backup, verify])
      expect(ok.status).toBe("succeeded")
      const ev = stepOf(ok, "verify").evidence
      expect(ev["sha256"]).toBe(stepOf(ok, "backup").evidence["sha256"])
      // the same check on a file altered behind the run's back (gate = the moment a person touched it)
      const tamper = gate(M.ReturnShipped, "tamper", { old: "A" })
      const altered = yield* runPlan([backup, tamper, verify], {
        script: {
          tamper: () => {
            for (const f of fs.readdirSync(dir)) fs.appendFileSync(path.join(dir, f), "x")
            return approve({ tracking: "t" })
          }
        }
      })
      expect(stepOf(altered, "verify").error).toMatch(/changed since it was downloaded/)
      const missing = yield* runPlan([verify])
      expect(stepOf(missing, "verify").error).toMatch(/No backup recorded/)
    })
  )

  it.live("MIGRATE-3: the export gate compares the bundle's leaf fingerprint with what the old box serves", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = tmp()
        const served = yield* TestChains.generateChain({ siteFqdn: SITE })
        const other = yield* TestChains.generateChain({ siteFqdn: SITE })
        const server = yield* serveTls(served.chainPem, served.keyPem)
        const good = path.join(dir, "good.pem")
        const wrong = path.join(dir, "wrong.pem")
        yield* writeBundle(served, good)
        yield* writeBundle(other, wrong)
        const step = (file: string) =>
          gate(M.ExportedBundle, "export", { path: file, siteFqdn: SITE, host: "127.0.0.1", port: server.port }, [
            "MIGRATE-3"
          ])
        const script = { export: approve({ file: good, "passphrase stored in": "vault" }) }
        const ok = yield* runPlan([step(good)], { script, passphrase: "export-pass" })
        expect(ok.status).toBe("succeeded")
        const ev = stepOf(ok, "export").evidence
        expect(ev["leafSha256"]).toBe(served.chain[0]!.sha256)
        expect(ev["servedByOldSha256"]).toBe(served.chain[0]!.sha256)
        expect(ev["keyChecked"]).toBe(true)
        const bad = yield* runPlan([step(wrong)], { script })
        expect(stepOf(bad, "export").error).toMatch(/not the certificate served by the site/)
      })
    )
  )

  it.live("MIGRATE-5: a certificate with warnings blocks the default choice (escalate to support)", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = tmp()
        const soon = yield* TestChains.generateChain({
          siteFqdn: SITE,
          leafNotAfter: new Date(Date.now() + 10 * 24 * 3600 * 1000)
        })
        const server = yield* serveTls(soon.chainPem, soon.keyPem)
        const file = path.join(dir, "soon.pem")
        yield* writeBundle(soon, file)
        const step = gate(
          M.DefaultCertificate,
          "default",
          { path: file, siteFqdn: SITE, host: "127.0.0.1", port: server.port },
          ["MIGRATE-5"]
        )
        const report = yield* runPlan([step], { script: { default: approve() } })
        expect(report.status).toBe("failed")
        expect(stepOf(report, "default").error).toMatch(/ExpiresSoon.*Warnings block.*escalate to vendor support/s)
      })
    )
  )

  it.live("MIGRATE-5: the chosen certificate must be what the new box serves (TLS probe)", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = tmp()
        const site = yield* TestChains.generateChain({ siteFqdn: SITE })
        const factory = yield* TestChains.generateChain({ siteFqdn: "factory.invalid", commonName: "factory.invalid" })
        const file = path.join(dir, "site.pem")
        yield* writeBundle(site, file)
        const step = (port: number) =>
          gate(
            M.DefaultCertificate,
            "default",
            {
              path: file,
              siteFqdn: SITE,
              host: "127.0.0.1",
              port,
              others: [{ label: "factory certificate", chainPem: factory.chainPem }]
            },
            ["MIGRATE-5"]
          )
        const right = yield* serveTls(site.chainPem, site.keyPem)
        const ok = yield* runPlan([step(right.port)], { script: { default: approve() } })
        expect(ok.status).toBe("succeeded")
        expect(stepOf(ok, "default").evidence).toMatchObject({
          chosenLeafSha256: site.chain[0]!.sha256,
          servedLeafSha256: site.chain[0]!.sha256
        })
        const stillFactory = yield* serveTls(factory.chainPem, factory.keyPem)
        const bad = yield* runPlan([step(stillFactory.port)], { script: { default: approve() } })
        expect(stepOf(bad, "default").error).toMatch(/not the chosen/)
      })
    )
  )

  it.effect(
    "MIGRATE-7: the restore gate holds only once the old API account works on the new box, on the old version",
    () =>
      Effect.gen(function* () {
        const step = gate(
          M.Restored,
          "restore",
          {
            old: "A",
            new: "N",
            restoredClient: "N-old",
            backupStep: "backup",
            directory: "/var/backups/sra",
            passwordProtected: true
          },
          ["MIGRATE-7"]
        )
        const script = { restore: approve({ file: "b.nsb" }) }
        const notYet = yield* runPlan([step], {
          script,
          before: (f) => f.get("N-old").failNext("apiInfo", new ApplianceError.Unauthorized())
        })
        expect(stepOf(notYet, "restore").error).toMatch(/not restored yet/)
        const older = yield* runPlan([step], { script, seeds: seeds({ "N-old": { guid: GUID_N, version: "23.3.1" } }) })
        expect(stepOf(older, "restore").error).toMatch(/runs 23\.3\.1 and the old one 24\.1\.3/)
        const wrongBox = yield* runPlan([step], { script, seeds: seeds({ "N-old": { guid: GUID_A } }) })
        expect(stepOf(wrongBox, "restore").error).toMatch(/reaches the old appliance/)
        const ok = yield* runPlan([step], { script })
        expect(ok.status).toBe("succeeded")
      })
  )

  it.effect(
    "MIGRATE-7: the new box must answer like the old one: version, Jump Client and Jumpoint counts, API account",
    () =>
      Effect.gen(function* () {
        const jc = (id: number) =>
          new ApplianceApi.JumpClient({
            id,
            name: `jc-${id}`,
            jumpGroupId: 1,
            connectionType: "active",
            needsUpdate: false,
            isLost: false
          })
        const jp = new ApplianceApi.Jumpoint({
          id: 1,
          name: "jp",
          platform: "windows",
          enabled: true,
          connected: true,
          clustered: false
        })
        const step = check(M.CompareAppliances, "compare", { old: "A", new: "N", restoredClient: "N-old" })
        const old = { guid: GUID_A, jumpClients: [jc(1), jc(2), jc(3)], jumpoints: [jp] }
        const short = yield* runPlan([step], {
          seeds: seeds({ A: old, "N-old": { guid: GUID_N, jumpClients: [jc(1)], jumpoints: [jp] } })
        })
        expect(stepOf(short, "compare").error).toMatch(/1 Jump Client\(s\) ≠ 3/)
        const perms = yield* runPlan([step], {
          seeds: seeds({
            A: old,
            "N-old": {
              ...old,
              guid: GUID_N,
              permissions: { perm_command: "read_only", perm_backup: true, perm_configuration: true }
            }
          })
        })
        expect(stepOf(perms, "compare").error).toMatch(/permissions differ/)
        const same = yield* runPlan([step], { seeds: seeds({ A: old, "N-old": { ...old, guid: GUID_N } }) })
        expect(same.status).toBe("succeeded")
        expect(stepOf(same, "compare").evidence).toMatchObject({ new: { jumpClients: 3, jumpoints: 1 } })
      })
  )

  it.effect("MIGRATE-7: the default-credentials gate blocks unless the change is attested (no API can tell)", () =>
    Effect.gen(function* () {
      const step = gate(M.CredentialsChanged, "creds", { appliance: "N-old" }, ["MIGRATE-7"])
      const vague = yield* runPlan([step], { script: { creds: approve({ attestation: "later", vault: "v" }) } })
      expect(vague.status).toBe("failed")
      expect(stepOf(vague, "creds").error).toMatch(/was not attested/)
      const ok = yield* runPlan([step], { script: { creds: approve({ attestation: "Changed", vault: "vault/sra" }) } })
      expect(ok.status).toBe("succeeded")
      expect(stepOf(ok, "creds").evidence).toMatchObject({ verifiableByApi: false, attestedBy: "test" })
    })
  )

  it.live("MIGRATE-8: after the cut-over gate the run waits until the site address is answered by the new box", () =>
    Effect.gen(function* () {
      const s = site()
      const pair = MigrationPlan.pairOf(s.appliances[0]!, newBox(), s, { siteClientId: "site", siteUrl: "fake://site" })
      const cut = gate(M.Cutover, "cutover", { pair, from: "A", to: "N" }, ["MIGRATE-8"])
      const wait = M.SiteServedByNew.wait(
        {
          id: "cutover-wait",
          title: "wait",
          rules: ["MIGRATE-8"],
          estimatedSeconds: 1,
          intervalSeconds: 0.01,
          deadlineSeconds: 0.2
        },
        { pair }
      )
      let moveDns = (): void => undefined
      const script = {
        cutover: () => {
          moveDns()
          return approve({ dnsChange: "CHG-1" })
        }
      }
      const moved = yield* runPlan([cut, wait], {
        script,
        before: (f) => (moveDns = () => void (f.get("site").state.guid = GUID_N))
      })
      expect(moved.status).toBe("succeeded")
      expect(stepOf(moved, "cutover-wait").evidence).toMatchObject({ servedBy: "N" })
      expect(stepOf(moved, "cutover").evidence).toMatchObject({ method: "dns", automated: false, servedBy: "N" })
      moveDns = () => undefined
      const notMoved = yield* runPlan([cut, wait], { script })
      expect(notMoved.status).toBe("failed")
      expect(stepOf(notMoved, "cutover-wait").error).toMatch(/answered by A, not N/)
    })
  )

  it.effect("MIGRATE-9: decommission is verified by the old box no longer answering the site's API account", () =>
    Effect.gen(function* () {
      const params = { old: "A", oldUrl: "fake://A", new: "N-old" }
      const reset = gate(M.OldReset, "reset", params, ["MIGRATE-9"])
      const script = { reset: approve({ resetBy: "me" }), off: approve() }
      const still = yield* runPlan([reset], { script })
      expect(stepOf(still, "reset").error).toMatch(/still answers the site's API account/)
      const gone = yield* runPlan([reset], {
        script,
        before: (f) => f.get("A").failNext("apiInfo", new ApplianceError.Unauthorized())
      })
      expect(gone.status).toBe("succeeded")
      expect(stepOf(gone, "reset").evidence).toMatchObject({ oldAnswer: "Unauthorized", newHealthy: true })
      const off = gate(M.OldPoweredOff, "off", params, ["MIGRATE-9"])
      const stillOn = yield* runPlan([off], { script })
      expect(stepOf(stillOn, "off").error).toMatch(/still answers on fake:\/\/A/)
    })
  )
})
