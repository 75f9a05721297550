/**
 * What `sra-upgrade sim` tells people to do, for a pair: `run --site <its
 * site file> --yes --simulator <control URL>`. The site's host name resolves
 * nowhere, so the CLI must probe the simulator's site front instead (read
 * from the control API), or the switch is never seen.
 */
import { Simulator } from "@sra-upgrade/simulator"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Demo from "../src/Demo.js"
import { folder, runCli } from "./support.js"

let sim: Awaited<ReturnType<typeof Simulator.startPromise>>
let dir: string

beforeAll(async () => {
  sim = await Simulator.startPromise({ timeScale: Demo.defaultTimeScale })
  dir = folder({})
  const { caPem, secret, yaml } = Demo.siteFileFor(sim, "async", join(dir, "backups"))
  writeFileSync(join(dir, "client-secret"), secret + "\n")
  writeFileSync(join(dir, "simulator-ca.pem"), caPem)
  writeFileSync(join(dir, "site.yaml"), yaml)
})

afterAll(async () => {
  await sim?.close()
})

describe("a pair run against a standalone simulator", () => {
  it("PAIR-3 SWITCH-1: run --yes --simulator upgrades the pair and sees the site move to B through the site front", async () => {
    const r = await runCli(
      "run",
      "--site",
      join(dir, "site.yaml"),
      "--to",
      Demo.targetVersion,
      "--method",
      "async",
      "--yes",
      "--simulator",
      sim.controlUrl,
      "--runs",
      join(dir, "runs"),
      "--json"
    )
    expect(r.code, r.stderr).toBe(0)
    const events = r.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { event: { _tag: string; stepId?: string; evidence?: Record<string, unknown> } })
    const succeeded = new Set(events.filter((e) => e.event._tag === "StepSucceeded").map((e) => e.event.stepId))
    expect(succeeded.has("pair/switch")).toBe(true)
    expect(events.at(-1)?.event).toMatchObject({ _tag: "RunFinished", status: "succeeded" })
    const state = (await (await fetch(`${sim.controlUrl}/site`)).json()) as { reaches: ReadonlyArray<string> }
    expect(state.reaches).toEqual(["B"])
  }, 240_000)
})
