// `--probe-interval` of the fleet commands with --simulator: how often each site's address is probed while its run
// goes on (the site's journal records the interval with every sample, SiteSample.intervalMillis).
import { describe, expect, it } from "@effect/vitest"
import { Journal } from "@sra-upgrade/core"
import { EngineLayer } from "@sra-upgrade/fleet"
import { Simulator } from "@sra-upgrade/simulator"
import * as Effect from "effect/Effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as DemoFleet from "../src/DemoFleet.js"
import * as FleetRun from "../src/internal/fleetRun.js"
import { runCli } from "./support.js"

const spec: DemoFleet.SimulatedFleet = {
  id: "probes",
  order: ["site-001", "site-002"],
  pairs: new Set(),
  waves: ["{ name: all, rest: true }"],
  concurrency: 2,
  failureBudget: 0
}

describe("fleet run --probe-interval", () => {
  it.scopedLive(
    "FLEET-PROBE-1 each site's address is probed at the interval given (every sample in its journal says so); under 20 ms is refused with exit code 2",
    () =>
      Effect.gen(function* () {
        const sims = yield* Simulator.startSites({ sites: 2, pairs: 0, common: { timeScale: 1200 } })
        const dir = mkdtempSync(join(tmpdir(), "sra-fleet-probe-"))
        const fleet = yield* Effect.promise(() => DemoFleet.writeSimulatedFleet(sims, dir, spec))
        const db = join(dir, "fleet.db")
        const args = ["fleet", "run", "--fleet", fleet, "--database", db, "--simulator", sims.controlUrl]
        const refused = yield* Effect.promise(() => runCli(...args, "--time-scale", "1200", "--probe-interval", "5"))
        expect(refused.code).toBe(2)
        expect(refused.stderr).toContain("--probe-interval 5: give at least 20 (milliseconds).")

        const done = yield* Effect.promise(() =>
          runCli(...args, "--time-scale", "1200", "--probe-interval", "150", "--json")
        )
        expect(done.code, done.stdout + done.stderr).toBe(0)
        const intervals = yield* Effect.forEach(spec.order, (site) =>
          Effect.map(
            Effect.flatMap(Journal.Journal, (j) => j.read(FleetRun.siteRunId(spec.id, site))),
            (r) => r.records.flatMap((x) => (x.event._tag === "SiteSample" ? [x.event.intervalMillis] : []))
          )
        ).pipe(Effect.provide(EngineLayer.ledgerOnly({ file: db })), Effect.orDie)
        for (const samples of intervals) {
          expect(samples.length).toBeGreaterThan(0)
          expect(new Set(samples)).toEqual(new Set([150]))
        }
      }),
    180_000
  )
})
