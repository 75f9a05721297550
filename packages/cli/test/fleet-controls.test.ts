/**
 * `sra-upgrade fleet status|pause|resume|abort|approve` on a database holding a rollout (the example fleet
 * file's plan), without an engine running.
 */
import { Admission, EngineLayer, FleetFile, FleetStore, Rollout } from "@sra-upgrade/fleet"
import * as Effect from "effect/Effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { runCli } from "./support.js"

const example = new URL("../../../examples/fleet.yaml", import.meta.url).pathname

const seeded = async () => {
  const file = join(mkdtempSync(join(tmpdir(), "sra-fleet-controls-")), "fleet.db")
  await Effect.runPromise(
    Effect.gen(function* () {
      const fleet = yield* FleetFile.decodeFleetFile(example)
      const plan = Rollout.plan(fleet, { now: new Date("2026-09-28T08:00:00Z") })
      const store = yield* FleetStore.FleetStore
      yield* store.create(plan)
      yield* store.setState(plan.rolloutId, "paris-hq", new Admission.Succeeded({ at: new Date() }))
      yield* store.setState(plan.rolloutId, "lyon", new Admission.Failed({ at: new Date(), reason: "install failed" }))
    }).pipe(Effect.provide(EngineLayer.ledgerOnly({ file })), Effect.scoped)
  )
  return file
}

describe("sra-upgrade fleet controls", () => {
  it("status shows the waves with bars, the failures with their reasons; --json its rollout line", async () => {
    const db = await seeded()
    const r = await runCli("fleet", "status", "--database", db)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/Rollout global-24-3 .*1 succeeded, 1 failed/)
    expect(r.stdout).toMatch(/wave 1 canary +\[#{20}\] 1\/1/)
    expect(r.stdout).toContain("failed: lyon: install failed")
    const j = await runCli("fleet", "status", "--database", db, "--json")
    expect(JSON.parse(j.stdout)).toMatchObject({ rollout: { id: "global-24-3", waves: 3, sites: { failed: 1 } } })
  })

  it("pause, resume, approve a wave and abort change the rollout's controls", async () => {
    const db = await seeded()
    expect((await runCli("fleet", "pause", "--database", db)).stdout).toMatch(/: paused;/)
    expect((await runCli("fleet", "resume", "--database", db)).stdout).not.toMatch(/: paused;/)
    const approved = await runCli("fleet", "approve", "--wave", "2", "--database", db)
    expect(approved.stdout).toMatch(/wave 2 .* approved/)
    const bad = await runCli("fleet", "approve", "--wave", "9", "--rollout", "global-24-3", "--database", db)
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/waves 1 to 3/)
    expect((await runCli("fleet", "abort", "--database", db)).stdout).toMatch(/: aborted;/)
    const unknown = await runCli("fleet", "status", "--rollout", "nope", "--database", db)
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/No rollout nope/)
  })
})
