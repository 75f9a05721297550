/**
 * One site of a many-site simulator, run as a fleet would run it: the site
 * file written for that site, `run --yes --simulator <that site's control
 * URL>`; the action log shows every install of that site exactly once and
 * nothing on the other sites.
 */
import { SimActions, SimConfig, SimControl, Simulator } from "@sra-upgrade/simulator"
import * as Effect from "effect/Effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Demo from "../src/Demo.js"
import { folder, runCli } from "./support.js"

let sims: Awaited<ReturnType<typeof Simulator.startSitesPromise>>
let dir: string

beforeAll(async () => {
  sims = await Simulator.startSitesPromise({
    sites: 3,
    pairs: 0,
    common: { timeScale: 600, updates: SimConfig.defaultUpdates.filter((u) => u.kind !== "license") }
  })
  dir = folder({})
  writeFileSync(join(dir, "simulator-ca.pem"), sims.caPem)
  for (const sim of sims.sites) {
    const { secret, yaml } = Demo.siteFileFor(sim, "single", join(dir, "backups", sim.name), `${sim.name}.secret`)
    writeFileSync(join(dir, `${sim.name}.secret`), secret + "\n")
    writeFileSync(join(dir, `${sim.name}.yaml`), yaml)
  }
})

afterAll(async () => {
  await sims?.close()
})

describe("a run against one site of a many-site simulator", () => {
  it("SINGLE-1 SINGLE-2: run --yes --simulator <site control URL> upgrades that site only, each install once", async () => {
    const site = sims.site("site-002")
    const r = await runCli(
      "run",
      "--site",
      join(dir, "site-002.yaml"),
      "--to",
      "24.3.2",
      "--yes",
      "--simulator",
      site.controlUrl,
      "--runs",
      join(dir, "runs"),
      "--json"
    )
    expect(r.code, r.stderr).toBe(0)
    const mine = await Effect.runPromise(SimControl.actions(site.controlUrl))
    expect(
      SimActions.exactlyOnce(mine, [
        "site-002/A/install-started package=base-6.2.1",
        "site-002/A/install-started package=site-24.3.2"
      ])
    ).toEqual([])
    const all = await Effect.runPromise(SimControl.actions(sims.controlUrl))
    expect(new Set(all.map((a) => a.site))).toEqual(new Set(["site-002"]))
    const view = (await Effect.runPromise(site.control("GET", "/appliances/A"))) as { version: string }
    expect(view.version).toBe("24.3.2")
    const other = (await Effect.runPromise(sims.site("site-003").control("GET", "/appliances/A"))) as {
      version: string
    }
    expect(other.version).toBe("24.1.3")
  }, 240_000)
})
