/**
 * Durable site gates through the CLI: a rollout runs on the embedded engine in this process; a site waits on its
 * manual gate; `sra-upgrade fleet status` (another process) shows which site waits on which gate with its
 * instructions and evidence; `sra-upgrade fleet answer` (another process) refuses evidence that does not fit, then
 * approves, and the site resumes and completes. Also: `fleet status` of a rollout in progress (bars, ETA).
 */
import { Journal } from "@sra-upgrade/core"
import { Admission, Engine, EngineLayer, FleetStore, Rollout, SiteGates } from "@sra-upgrade/fleet"
import { TestRollout } from "@sra-upgrade/fleet/test"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
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

const site = (id: string) => TestRollout.sitePlan({ id })
const plan = TestRollout.rolloutPlan({
  rolloutId: "gated",
  sites: [site("gated"), site("plain")],
  waves: 1,
  concurrency: 2,
  allowedFailures: 0
})

const installs = new Map<string, number>()
const worker = TestRollout.worker({
  installs,
  before: (s) => (s.id === "gated" ? [TestRollout.consoleGate()] : [])
})

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
    expect(status.stdout).toContain("- consoleVersion: the version shown in Help > About (version), expected 24.3.2")
    expect(status.stdout).toContain(
      "answer: sra-upgrade fleet answer --rollout gated --site gated --gate confirm-console --approve|--reject|--defer"
    )
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/consoleVersion must be 24\.3\.2/)
    expect(good.code, good.stderr).toBe(0)
    expect(good.stdout).toMatch(/approved by carol/)
    expect(result.status).toBe("succeeded")
    expect([...installs.values()]).toEqual([1, 1])
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
    const before = new Map(installs)
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
    expect(["gated", "plain"].map((id) => (installs.get(id) ?? 0) - (before.get(id) ?? 0))).toEqual([1, 1])
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

  it("FLEET-STATUS-2 fleet status --json: the rollout's line and the gates its sites wait on (site, gate, since, instructions, evidence, last deferral, the answer command); a finished site's gate is left out", async () => {
    const db = join(mkdtempSync(join(tmpdir(), "sra-fleet-status-json-")), "fleet.db")
    const openedAt = new Date("2026-10-05T08:00:00Z")
    const gate = TestRollout.consoleGate()
    const gateOf = (siteId: string) =>
      new SiteGates.OpenGate({
        rolloutId: "json",
        site: siteId,
        stepId: gate.id,
        runId: Engine.runIdOf("json", siteId),
        purpose: "gate",
        title: gate.title,
        target: "A",
        instructions: gate.instructions,
        evidence: gate.evidence,
        openedAt
      })
    await Effect.runPromise(
      Effect.gen(function* () {
        const store = yield* FleetStore.FleetStore
        yield* store.create(new Rollout.RolloutPlan({ ...plan, rolloutId: "json" }))
        yield* store.setState("json", "gated", new Admission.Running({ since: openedAt }))
        yield* store.setState("json", "plain", new Admission.Succeeded({ at: openedAt }))
        yield* store.openGate(gateOf("gated"))
        yield* store.openGate(gateOf("plain"))
        // a deferral taken by the site's run: the gate stays open, the deferral is shown
        yield* Engine.answerGate(
          new SiteGates.AnswerInput({
            rolloutId: "json",
            site: "gated",
            stepId: "confirm-console",
            principal: "dora",
            decision: "defer",
            comment: "not before the change window"
          })
        )
        yield* store.takeAnswer("json", "gated", "confirm-console")
      }).pipe(Effect.provide(EngineLayer.ledgerOnly({ file: db })), Effect.scoped, Effect.orDie)
    )
    const r = await runCli("fleet", "status", "--database", db, "--rollout", "json", "--json")
    expect(r.code, r.stderr).toBe(0)
    const lines = r.stdout.split("\n").filter((l) => l.trim() !== "")
    expect(lines).toHaveLength(1)
    const out = JSON.parse(lines[0]!) as { rollout: unknown; gates: ReadonlyArray<Record<string, unknown>> }
    expect(out.rollout).toMatchObject({ id: "json", status: "running", sites: { succeeded: 1 } })
    expect(out.gates).toEqual([
      {
        site: "gated",
        gate: "confirm-console",
        runId: "json.gated",
        status: "waiting",
        purpose: "gate",
        title: "Confirm the console version",
        target: "A",
        since: "2026-10-05T08:00:00.000Z",
        instructions: ["Open Help > About on the console", "Read the version shown"],
        evidence: [
          {
            name: "consoleVersion",
            description: "the version shown in Help > About",
            format: "version",
            expected: "24.3.2"
          }
        ],
        lastDeferral: { by: "dora", reason: "not before the change window" },
        command:
          'sra-upgrade fleet answer --rollout json --site gated --gate confirm-console --approve|--reject|--defer --comment "…" --evidence consoleVersion=…'
      }
    ])
    // the text shows the same gate
    const text = await runCli("fleet", "status", "--database", db, "--rollout", "json")
    expect(text.stdout).toContain("waiting: gated on gate confirm-console")
    expect(text.stdout).toContain("last deferred by dora: not before the change window")
    expect(text.stdout).not.toContain("waiting: plain")
  }, 120_000)
})
