// One appliance, end to end: plans from SingleUpgrade, run by the executor
// through the live adapter over real sockets against the simulator, the
// manual gates performed by the simulator operator.
import { describe, expect, it } from "@effect/vitest"
import { CoreSteps, Executor, Journal, Plan, Rehearsal, RunReport, SingleUpgrade } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { executor, FROM_BUILD, makeSite, startSim, tempDir } from "./support/single.js"

const plan = (
  site: ReturnType<typeof makeSite>,
  target: SingleUpgrade.TargetInput,
  extra: Partial<SingleUpgrade.Options> = {}
) => {
  const p = SingleUpgrade.planSingleUpgrade(site, target, {
    current: { product: "24.1.3", build: FROM_BUILD },
    pollIntervalSeconds: 1,
    jumpClientWait: { intervalSeconds: 1, deadlineSeconds: 300 },
    ...extra
  })
  if (Either.isLeft(p)) throw new Error(p.left.message)
  return p.right
}

const step = (report: RunReport.RunReport, id: string) => {
  const s = report.steps.find((x) => x.id === id)
  if (s === undefined) throw new Error(`no step ${id} in the report`)
  return s
}

interface SimEvent {
  readonly kind: string
  readonly message: string
}
const events = (sim: { control: (m: string, p: string) => Effect.Effect<unknown, unknown> }) =>
  Effect.map(sim.control("GET", "/events"), (v) => v as ReadonlyArray<SimEvent>)

const applianceState = (sim: { control: (m: string, p: string) => Effect.Effect<unknown, unknown> }) =>
  Effect.map(sim.control("GET", "/appliances/A"), (v) => v as Record<string, unknown>)

describe("single appliance upgrade against the simulator", () => {
  it.scopedLive(
    "SINGLE-1: automatic method, product update with a password-protected backup, runs to success",
    () =>
      Effect.gen(function* () {
        const dir = tempDir("auto")
        const site = makeSite({ dir, baseVersion: "6.2.1", backupPassword: true })
        const sim = yield* startSim(site, { backupPassword: "s3cret-backup" })
        const p = plan(site, "24.3.2")
        expect(p.steps.filter((s) => CoreSteps.ConfirmInstallStarted.is(s)).map((s) => s.id)).toEqual([
          "A/install-site-24.3.2"
        ])
        const report = yield* Executor.run(p).pipe(
          Effect.provide(executor({ sim, journal: Journal.layerMemory, backupPassword: "s3cret-backup" }))
        )
        expect(report.status, report.error).toBe("succeeded")
        // PREP-1: backup downloaded, hashed, protected; the file on disk matches the evidence
        const backup = step(report, "A/backup").evidence as Record<string, unknown>
        expect(backup["bytes"]).toBeGreaterThan(0)
        expect(backup["passwordProtected"]).toBe(true)
        const digest = createHash("sha256")
          .update(readFileSync(String(backup["path"])))
          .digest("hex")
        expect(digest).toBe(backup["sha256"])
        // VERIFY-1: version and build read back
        const verify = step(report, "A/verify").evidence as Record<string, unknown>
        expect(verify["version"]).toBe("24.3.2")
        expect(verify["build"]).toBe("41722-3d1f0c9a7b2e45f18c6d90ab12ef34567890abcd")
        expect(verify["healthy"]).toBe(true)
        // PREP-4 / LICENSE-1: who was disconnected, counted against the seats
        const who = step(report, "A/report-disconnects").evidence as Record<string, unknown>
        expect(who["users"]).toEqual(["Alice Martin", "Bob Durand"])
        expect(who["sessionCount"]).toBe(3)
        expect(who["licensedTechnicians"]).toBe(2)
        // PREP-2: the exported certificate file and its fingerprint were recorded
        const gate = report.gates.find((g) => g.stepId === "A/export-certificates")!
        expect(gate.answer._tag).toBe("Approved")
        if (gate.answer._tag === "Approved") {
          expect(readFileSync(gate.answer.evidence["path"]!, "utf8")).toContain("PRIVATE KEY")
          expect(gate.answer.evidence["fingerprint"]).toMatch(/[0-9A-Fa-f:]{64,}/)
        }
        // the simulator saw an automatic install (no upload)
        const log = yield* events(sim)
        expect(log.some((e) => /Installing site-24.3.2/.test(e.message) && !/manual upload/.test(e.message))).toBe(true)
        // PREP-5: the successful run is a rehearsal of this plan, found by fingerprint
        const rehearsals = join(dir, "rehearsals")
        yield* Rehearsal.record(rehearsals, p, report, "simulator seeded from the site")
        const again = plan(makeSite({ dir: tempDir("other"), baseVersion: "6.2.1", backupPassword: true }), "24.3.2")
        const found = yield* Rehearsal.check(rehearsals, again)
        expect(found.rehearsals.map((r) => r.runId)).toEqual([report.runId])
      }),
    120_000
  )

  it.scopedLive(
    "SINGLE-3: manual method: download key, upload, install; same verification",
    () =>
      Effect.gen(function* () {
        const dir = tempDir("manual")
        const site = makeSite({ dir, baseVersion: "6.2.1" })
        const sim = yield* startSim(site)
        const p = plan(site, "24.3.2", { method: "manual" })
        expect(p.steps.map((s) => s.id)).toContain("A/download-key")
        const report = yield* Executor.run(p).pipe(Effect.provide(executor({ sim, journal: Journal.layerMemory })))
        expect(report.status, report.error).toBe("succeeded")
        const log = yield* events(sim)
        expect(log.some((e) => /Download key generated/.test(e.message))).toBe(true)
        expect(log.some((e) => /site-24.3.2 uploaded for manual installation/.test(e.message))).toBe(true)
        expect(log.some((e) => /Installing site-24.3.2 .*from a manual upload/.test(e.message))).toBe(true)
        expect((step(report, "A/verify").evidence as Record<string, unknown>)["version"]).toBe("24.3.2")
      }),
    120_000
  )

  it.scopedLive(
    "SINGLE-2 SINGLE-5: base + product with prerequisites: base, fresh backup, then the products in order",
    () =>
      Effect.gen(function* () {
        const dir = tempDir("chain")
        const site = makeSite({ dir })
        const sim = yield* startSim(site)
        const p = plan(site, "25.1.1")
        const installs = p.steps.filter((s) => CoreSteps.ConfirmInstallStarted.is(s)).map((s) => s.id)
        expect(installs).toEqual(["A/install-base-6.2.1", "A/install-site-24.3.2", "A/install-site-25.1.1"])
        const report = yield* Executor.run(p).pipe(Effect.provide(executor({ sim, journal: Journal.layerMemory })))
        expect(report.status, report.error).toBe("succeeded")
        const a = yield* applianceState(sim)
        expect(a["version"]).toBe("25.1.1")
        expect(a["baseVersion"]).toBe("6.2.1")
        expect(a["installed"]).toEqual(["base-6.2.1", "site-24.3.2", "site-25.1.1"])
        // SINGLE-5: a second backup taken after the base update, before the product install
        const order = report.steps.map((s) => s.id)
        const fresh = order.indexOf("A/backup-after-base-6.2.1")
        expect(fresh).toBeGreaterThan(order.indexOf("A/await-base-6.2.1"))
        expect(fresh).toBeLessThan(order.indexOf("A/install-site-24.3.2"))
        expect(step(report, "A/backup-after-base-6.2.1").status).toBe("succeeded")
        // the base wait saw the appliance go away and come back
        expect((step(report, "A/await-base-6.2.1").evidence as Record<string, unknown>)["disruptionSeen"]).toBe(true)
        expect((step(report, "A/confirm-base-6.2.1").evidence as Record<string, unknown>)["version"]).toBe("24.1.3")
      }),
    180_000
  )

  it.scopedLive(
    "PREP-6: a failed base update halts in needs-support; no further call to the appliance besides reads",
    () =>
      Effect.gen(function* () {
        const dir = tempDir("prep6")
        const site = makeSite({ dir })
        const sim = yield* startSim(site)
        yield* sim.control("POST", "/appliances/A/faults", { kind: "fail_base_update", count: 1 })
        const p = plan(site, "24.3.2")
        const calls: Array<string> = []
        const gates: Array<string> = []
        const wiring = executor({ sim, journal: Journal.layerMemory, calls, onGate: (id) => gates.push(id) })
        const report = yield* Effect.gen(function* () {
          const r = yield* Executor.run(p)
          // resuming is refused: nothing retries a failed base update
          const resumed = yield* Effect.either(Executor.resume(r.runId))
          expect(Either.isLeft(resumed) && resumed.left.reason._tag).toBe("NeedsSupport")
          return r
        }).pipe(Effect.provide(wiring))
        expect(report.status).toBe("halted-needs-support")
        expect(report.currentStep).toBe("A/await-base-6.2.1")
        expect(report.error).toMatch(/do NOT reboot/i)
        // every step after the halt stayed pending; the product install gate was never opened
        expect(step(report, "A/install-site-24.3.2").status).toBe("pending")
        expect(gates).not.toContain("A/install-site-24.3.2")
        // after the install gate, only health reads reached the appliance; no mutation at all
        expect(calls).not.toContain("setFailoverRole")
        const afterInstall = calls.slice(calls.lastIndexOf("downloadBackup") + 1)
        expect(afterInstall.length).toBeGreaterThan(0)
        expect(new Set(afterInstall)).toEqual(new Set(["health"]))
        // the appliance was neither rebooted nor reinstalled
        const a = yield* applianceState(sim)
        expect(a["lifecycle"]).toBe("NeedsSupport")
        const log = yield* events(sim)
        expect(log.filter((e) => e.kind === "reboot")).toEqual([])
        expect(log.filter((e) => /^Installing /.test(e.message)).length).toBe(1)
      }),
    120_000
  )

  it.scopedLive(
    "crash in the middle of the install wait, resumed by a fresh executor from the file journal: one install, success",
    () =>
      Effect.gen(function* () {
        const dir = tempDir("crash")
        const site = makeSite({ dir, baseVersion: "6.2.1" })
        // slower time so the crash lands inside the install
        const sim = yield* startSim(site, { timeScale: 120 })
        const p = plan(site, "24.3.2")
        const runs = join(dir, "runs")
        const gates: Array<string> = []
        // the "crash": once the install wait has journaled a poll that does not hold, the process dies before
        // writing anything else (every later append fails, as if the disk vanished with the process)
        let crashed = false
        const crashingJournal = Layer.effect(
          Journal.Journal,
          Effect.map(Journal.Journal, (j) => ({
            ...j,
            append: (record: Parameters<typeof j.append>[0]) =>
              crashed
                ? Effect.fail(
                    new Journal.JournalError({
                      runId: record.runId,
                      reason: new Journal.Io({ operation: "append", detail: "process died" })
                    })
                  )
                : Effect.tap(j.append(record), () =>
                    Effect.sync(() => {
                      const e = record.event
                      if (e._tag === "WaitProgress" && e.stepId === "A/await-site-24.3.2" && !e.holds) crashed = true
                    })
                  )
          }))
        ).pipe(Layer.provide(Journal.layer({ directory: runs })))
        const first = yield* Effect.either(
          Executor.run(p, { runId: "crash-run" }).pipe(
            Effect.provide(executor({ sim, journal: crashingJournal, onGate: (id) => gates.push(id) }))
          )
        )
        expect(Either.isLeft(first) && (first.left as Executor.ExecutorError).reason._tag).toBe("JournalFailed")
        const mid = yield* applianceState(sim)
        expect(["Installing", "Rebooting"]).toContain(mid["lifecycle"])
        // a fresh executor: new journal layer on the same folder, new adapter, handlers and operator
        const report = yield* Executor.resume("crash-run").pipe(
          Effect.provide(executor({ sim, journal: Journal.layer({ directory: runs }), onGate: (id) => gates.push(id) }))
        )
        expect(report.status, report.error).toBe("succeeded")
        expect(report.resumes).toBe(1)
        // the install gate was answered once; the simulator installed once
        expect(gates.filter((g) => g === "A/install-site-24.3.2")).toHaveLength(1)
        const log = yield* events(sim)
        expect(log.filter((e) => /^Installing site-24.3.2/.test(e.message))).toHaveLength(1)
        expect(step(report, "A/await-site-24.3.2").polls).toBeGreaterThan(1)
        expect((step(report, "A/verify").evidence as Record<string, unknown>)["version"]).toBe("24.3.2")
      }),
    180_000
  )

  it.scopedLive(
    "CLIENT-10 CLIENT-6: a fleet of 5,000 Jump Clients reaches the threshold after the upgrade",
    () =>
      Effect.gen(function* () {
        const dir = tempDir("fleet")
        const site = makeSite({
          dir,
          baseVersion: "6.2.1",
          jumpClients: { active: 3500, passive: 1500, maxConcurrent: 500 }
        })
        const sim = yield* startSim(site)
        const p = plan(site, "24.3.2")
        const wait = p.steps.find((s) => s.id === "A/jump-clients")!
        expect(wait.params["maxPending"]).toBe(1500)
        const report = yield* Executor.run(p).pipe(Effect.provide(executor({ sim, journal: Journal.layerMemory })))
        expect(report.status, report.error).toBe("succeeded")
        const ev = step(report, "A/jump-clients").evidence as Record<string, number>
        expect(ev["total"]).toBe(5000)
        expect(ev["pending"]).toBeLessThanOrEqual(1500)
        expect(ev["activePending"]).toBe(0)
        // CLIENT-6: the operator set the recommended concurrency before the upgrade
        const fleet = (yield* sim.control("GET", "/fleet")) as { settings: { maxConcurrentUpgrades: number } }
        const gate = p.steps.find((s) => s.id === "A/jump-client-concurrency")!
        expect(fleet.settings.maxConcurrentUpgrades).toBe(gate.params["recommended"])
      }),
    240_000
  )

  it.scopedLive(
    "SINGLE-1: without a package list, the offer is recorded at a gate and the install runs up to the target",
    () =>
      Effect.gen(function* () {
        const dir = tempDir("offer")
        const sim = yield* startSim(makeSite({ dir, baseVersion: "6.2.1" }))
        const p = plan(makeSite({ dir, baseVersion: "6.2.1", noUpdates: true }), "24.3.2")
        const report = yield* Executor.run(p).pipe(Effect.provide(executor({ sim, journal: Journal.layerMemory })))
        expect(report.status, report.error).toBe("succeeded")
        const offer = report.gates.find((g) => g.stepId === "A/record-updates")!
        expect(offer.answer._tag === "Approved" && offer.answer.evidence["offered"]).toContain("site-24.3.2")
        expect((step(report, "A/verify").evidence as Record<string, unknown>)["version"]).toBe("24.3.2")
      }),
    120_000
  )

  it.scopedLive(
    "PREP-8: an appliance clock off by ten minutes stops the run at the clock check, before any backup or install",
    () =>
      Effect.gen(function* () {
        const dir = tempDir("clock")
        const site = makeSite({ dir, baseVersion: "6.2.1" })
        const sim = yield* startSim(site)
        yield* sim.control("PUT", "/appliances/A/clock-offset", { seconds: 600 })
        const calls: Array<string> = []
        const report = yield* Executor.run(plan(site, "24.3.2")).pipe(
          Effect.provide(executor({ sim, journal: Journal.layerMemory, calls }))
        )
        expect(report.status).toBe("failed")
        expect(report.currentStep).toBe("A/check-clock")
        expect(report.error).toMatch(/off by (59\d|60\d) s.*NTP.*PREP-8/)
        expect(calls).not.toContain("downloadBackup")
        const a = yield* applianceState(sim)
        expect(a["installed"]).toEqual([])
      }),
    60_000
  )

  it("renders a plan as a runbook that names every gate's instructions", () => {
    const site = makeSite({ dir: "/tmp/x" })
    const p = plan(site, "25.1.1")
    const md = Plan.toMarkdown(p)
    for (const s of p.steps) expect(md).toContain(s.title)
    expect(md).toContain('press "Install this update"')
  })
})
