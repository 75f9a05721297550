/**
 * Durable site gates through the CLI: a rollout runs on the embedded engine in this process; a site waits on its
 * manual gate; `sra-upgrade fleet status` (another process) shows which site waits on which gate with its
 * instructions and evidence; `sra-upgrade fleet answer` (another process) refuses evidence that does not fit, then
 * approves, and the site resumes and completes. Also: `fleet status` of a rollout in progress (bars, ETA).
 */
import { Executor, Journal, Plan, StepHandler } from "@sra-upgrade/core"
import {
  Admission,
  Engine,
  EngineLayer,
  FleetFile,
  FleetStore,
  Rollout,
  SiteWindow,
  SiteWorker
} from "@sra-upgrade/fleet"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import * as FleetRun from "../src/internal/fleetRun.js"
import { runCli } from "./support.js"

const tsx = join(dirname(createRequire(import.meta.url).resolve("tsx/package.json")), "dist", "cli.mjs")
const bin = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "bin.ts")

/** Run the CLI as another process. */
const cli = (...args: ReadonlyArray<string>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((res) => {
    const child = spawn(process.execPath, [tsx, bin, ...args], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()))
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()))
    child.on("exit", (code) => res({ code, stdout, stderr }))
  })

/** `fleet answer` approving the gate of site `gated` (as another process). */
const approveGate = (
  db: string,
  o: { readonly rollout?: string; readonly comment: string; readonly consoleVersion: string; readonly by?: string }
) =>
  cli(
    "fleet",
    "answer",
    "--database",
    db,
    ...(o.rollout !== undefined ? ["--rollout", o.rollout] : []),
    "--site",
    "gated",
    "--gate",
    "confirm-console",
    "--approve",
    "--comment",
    o.comment,
    "--evidence",
    `consoleVersion=${o.consoleVersion}`,
    ...(o.by !== undefined ? ["--by", o.by] : [])
  )

const rule = Schema.decodeSync(Plan.RuleId)("PREP-1")
const always = [
  new SiteWindow.WeeklyWindow({ timeZone: "UTC", days: ["mon"], start: "00:00", durationMinutes: 7 * 24 * 60 })
]
const site = (id: string) =>
  new Rollout.SitePlan({
    id,
    file: `${id}.yaml`,
    path: `/fleet/${id}.yaml`,
    hostname: `${id}.example.com`,
    product: "pra",
    kind: "single",
    wave: 0,
    timeZone: "UTC",
    windows: always,
    targetVersion: "24.3.2",
    estimate: new Rollout.SiteEstimate({ source: "install-estimate", firstWindowSeconds: 600, explanation: "test" }),
    fitsWindow: true,
    warnings: []
  })
const plan = new Rollout.RolloutPlan({
  rolloutId: "gated",
  name: "gated",
  file: "fleet.yaml",
  plannedAt: new Date("2026-01-01T00:00:00Z"),
  target: new FleetFile.TargetVersions({ pra: "24.3.2" }),
  concurrency: 2,
  failureBudget: new FleetFile.FailureBudget({ count: 0 }),
  allowedFailures: 0,
  waves: [new Rollout.WavePlan({ index: 0, name: "all", canary: false, approval: false, sites: ["gated", "plain"] })],
  sites: [site("gated"), site("plain")],
  assumptions: [],
  warnings: []
})

let installs = 0
const worker = Layer.succeed(
  SiteWorker.SiteWorker,
  SiteWorker.SiteWorker.of({
    prepare: (s) =>
      Effect.succeed({
        plan: Effect.succeed(
          new Plan.Plan({
            id: `upgrade-${s.id}`,
            kind: "custom",
            title: `Upgrade ${s.id}`,
            site: s.hostname,
            targetVersion: "24.3.2",
            steps: [
              ...(s.id === "gated"
                ? [
                    new Plan.ManualGate({
                      id: "confirm-console",
                      title: "Confirm the console version",
                      rules: [rule],
                      target: "A",
                      estimatedSeconds: 60,
                      handler: "gate",
                      params: {},
                      idempotent: true,
                      notes: [],
                      instructions: ["Open Help > About on the console"],
                      evidence: [
                        new Plan.EvidenceField({
                          name: "consoleVersion",
                          description: "the version shown",
                          format: "version",
                          expected: "24.3.2"
                        })
                      ]
                    })
                  ]
                : []),
              new Plan.Action({
                id: "install",
                title: "Install",
                rules: [rule],
                target: "A",
                estimatedSeconds: 1,
                handler: "install",
                params: {},
                idempotent: false,
                notes: []
              })
            ],
            notes: []
          })
        ),
        executor: Executor.layer.pipe(
          Layer.provide(
            StepHandler.layerRaw({
              gate: { run: () => Effect.succeed({}) },
              install: { run: () => Effect.sync(() => (installs++, {})) }
            })
          )
        )
      })
  })
)

describe("sra-upgrade fleet answer (durable site gates)", () => {
  it("FLEET-GATE-5 fleet status (another process) shows the site waiting on its gate with instructions and evidence; fleet answer (another process) refuses bad evidence, then approves; the runner started again resumes the site, which completes", async () => {
    const db = join(mkdtempSync(join(tmpdir(), "sra-fleet-gates-cli-")), "fleet.db")
    const engine = EngineLayer.embedded({ file: db, pollInterval: "100 millis", idleInterval: "500 millis" }).pipe(
      Layer.provide(worker),
      Layer.orDie
    )
    // the runner runs until the site waits on its gate and the other site succeeded, then stops
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* Engine.start(plan)
        const store = yield* FleetStore.FleetStore
        for (;;) {
          const gates = yield* store.gates(plan.rolloutId)
          const s = yield* store.get(plan.rolloutId)
          if (gates.some((g) => g.isOpen) && Admission.stateOf(s.ledger, "plain")._tag === "Succeeded") return
          yield* Effect.sleep("100 millis")
        }
      }).pipe(Effect.provide(engine), Effect.scoped)
    )
    // other processes: status, a refused answer, the answer
    const status = await cli("fleet", "status", "--database", db)
    const bad = await approveGate(db, { rollout: "gated", comment: "seen", consoleVersion: "24.1.0" })
    const good = await approveGate(db, {
      comment: "seen 24.3.2 in Help > About",
      consoleVersion: "24.3.2",
      by: "carol"
    })
    // the runner again: the site takes the answer and completes
    const outcome = await Effect.runPromise(
      Effect.gen(function* () {
        yield* Engine.start(plan)
        const result = yield* Engine.awaitEnd(plan.rolloutId)
        const journal = yield* Journal.Journal
        const events = (yield* journal.read(Engine.runIdOf(plan.rolloutId, "gated"))).records.map((r) => r.event)
        return { result, events }
      }).pipe(Effect.provide(engine), Effect.scoped)
    )
    const { result, events } = outcome
    expect(status.code, status.stderr).toBe(0)
    expect(status.stdout).toMatch(/Rollout gated .*: running; 1 succeeded, 0 failed, 1 running/)
    expect(status.stdout).toMatch(
      /waiting: gated on gate confirm-console \(manual step: Confirm the console version, A\)/
    )
    expect(status.stdout).toContain("1. Open Help > About on the console")
    expect(status.stdout).toContain("- consoleVersion: the version shown (version), expected 24.3.2")
    expect(status.stdout).toContain(
      "answer: sra-upgrade fleet answer --rollout gated --site gated --gate confirm-console --approve|--reject|--defer"
    )
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/consoleVersion must be 24\.3\.2/)
    expect(good.code, good.stderr).toBe(0)
    expect(good.stdout).toMatch(/approved by carol/)
    expect(result.status).toBe("succeeded")
    expect(installs).toBe(2)
    expect(events.filter((e) => e._tag === "GateAnswered").at(-1)).toMatchObject({
      answer: { _tag: "Approved", by: "carol", comment: "seen 24.3.2 in Help > About" }
    })
  }, 240_000)

  it("FLEET-STALL-1 beside a live embedded runner: fleet status, a refused fleet answer and fleet answer run as three processes one after the other while the runner runs; the runner keeps going, takes the answer and the rollout completes", async () => {
    const db = join(mkdtempSync(join(tmpdir(), "sra-fleet-gates-live-")), "fleet.db")
    const live = new Rollout.RolloutPlan({ ...plan, rolloutId: "gated-live" })
    const engine = EngineLayer.embedded({ file: db, pollInterval: "100 millis", idleInterval: "500 millis" }).pipe(
      Layer.provide(worker),
      Layer.orDie
    )
    const before = installs
    const outcome = await Effect.runPromise(
      Effect.gen(function* () {
        yield* Engine.start(live)
        const store = yield* FleetStore.FleetStore
        // the site waits on its gate and the other site succeeded
        for (;;) {
          const gates = yield* store.gates(live.rolloutId)
          const s = yield* store.get(live.rolloutId)
          if (gates.some((g) => g.isOpen) && Admission.stateOf(s.ledger, "plain")._tag === "Succeeded") break
          yield* Effect.sleep("100 millis")
        }
        // three other processes, one after the other, while the runner runs
        const status = yield* Effect.promise(() => cli("fleet", "status", "--database", db, "--rollout", "gated-live"))
        const bad = yield* Effect.promise(() =>
          approveGate(db, { rollout: "gated-live", comment: "seen", consoleVersion: "24.1.0" })
        )
        const good = yield* Effect.promise(() =>
          approveGate(db, {
            rollout: "gated-live",
            comment: "seen 24.3.2 in Help > About",
            consoleVersion: "24.3.2",
            by: "dave"
          })
        )
        // the same runner, never stopped, takes the answer (a stalled runner never ends: the deadline says so)
        const result = yield* Engine.awaitEnd(live.rolloutId).pipe(
          Effect.timeoutFail({
            duration: "150 seconds",
            onTimeout: () => new Error("the runner did not finish the rollout after the answer (stalled)")
          })
        )
        const journal = yield* Journal.Journal
        const events = (yield* journal.read(Engine.runIdOf(live.rolloutId, "gated"))).records.map((r) => r.event)
        return { status, bad, good, result, events }
      }).pipe(Effect.provide(engine), Effect.scoped)
    )
    const { status, bad, good, result, events } = outcome
    expect(status.code, status.stderr).toBe(0)
    expect(status.stdout).toMatch(/waiting: gated on gate confirm-console/)
    expect(bad.code, bad.stderr).toBe(2)
    expect(bad.stderr).toMatch(/consoleVersion must be 24\.3\.2/)
    expect(good.code, good.stderr).toBe(0)
    expect(good.stdout).toMatch(/approved by dave/)
    expect(result.status).toBe("succeeded")
    expect(installs - before).toBe(2)
    expect(events.filter((e) => e._tag === "GateAnswered").at(-1)).toMatchObject({
      answer: { _tag: "Approved", by: "dave", comment: "seen 24.3.2 in Help > About" }
    })
  }, 300_000)

  it("FLEET-STATUS-1 fleet status of a rollout in progress: a bar per wave, the counts and an ETA from the estimates", async () => {
    const db = join(mkdtempSync(join(tmpdir(), "sra-fleet-status-")), "fleet.db")
    const now = new Date("2026-10-05T08:00:00Z")
    const since = new Date(now.getTime() - 120_000)
    const lines = await Effect.runPromise(
      Effect.gen(function* () {
        const store = yield* FleetStore.FleetStore
        const p = new Rollout.RolloutPlan({
          ...plan,
          rolloutId: "progress",
          waves: [
            new Rollout.WavePlan({ index: 0, name: "canary", canary: true, approval: false, sites: ["a"] }),
            new Rollout.WavePlan({ index: 1, name: "rest", canary: false, approval: false, sites: ["b", "c", "d"] })
          ],
          sites: [site("a"), { ...site("b"), wave: 1 }, { ...site("c"), wave: 1 }, { ...site("d"), wave: 1 }].map(
            (s) => new Rollout.SitePlan(s)
          )
        })
        yield* store.create(p)
        yield* store.setState(p.rolloutId, "a", new Admission.Succeeded({ at: since }))
        yield* store.setState(p.rolloutId, "b", new Admission.Succeeded({ at: since }))
        yield* store.setState(p.rolloutId, "c", new Admission.Running({ since }))
        const stored = yield* store.get(p.rolloutId)
        return FleetRun.render(Admission.summarize(stored.plan, stored.ledger, stored.controls, now), stored.plan)
      }).pipe(Effect.provide(EngineLayer.ledgerOnly({ file: db })), Effect.scoped)
    )
    // c runs since 08:58 with a 600 s estimate (ends 09:08), d starts now with cap 2 (ends 08:10): ETA 08:08
    expect(lines).toEqual([
      "Rollout progress (gated): running; 2 succeeded, 0 failed, 1 running, 1 not started, 0 skipped; failures 0/0 tolerated; ETA 2026-10-05T08:10:00.000Z",
      "  wave 1 canary     [####################] 1/1",
      "  wave 2 rest       [#######>>>>>>>......] 1/3"
    ])
    // the command prints the same shape (its ETA from the current time)
    const r = await runCli("fleet", "status", "--database", db)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/Rollout progress \(gated\): running; .*; ETA \d{4}-\d\d-\d\dT/)
    expect(r.stdout).toMatch(/wave 2 rest +\[#+>+\.+\] 1\/3/)
  }, 120_000)
})
