/**
 * `sra-upgrade fleet plan` on the example fleet file and on broken ones.
 */
import { describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { mkdtempSync, readdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { workerOf } from "../src/commands/fleet.js"
import { folder, runCli, siteYaml } from "./support.js"

const example = new URL("../../../examples/fleet.yaml", import.meta.url).pathname
const NOW = "2026-09-28T08:00:00Z"

describe("sra-upgrade fleet plan", () => {
  it("prints the example's rollout as JSON: 12 sites in 3 waves, each with an earliest start and an estimate", async () => {
    const r = await runCli("fleet", "plan", "--fleet", example, "--now", NOW, "--format", "json")
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    const plan = JSON.parse(r.stdout) as {
      rolloutId: string
      plannedAt: string
      waves: Array<{ sites: Array<string>; approval: boolean }>
      sites: Array<{ id: string; kind: string; earliestStart?: string; estimate: { source: string } }>
    }
    expect(plan.rolloutId).toBe("global-24-3")
    expect(plan.plannedAt).toBe("2026-09-28T08:00:00.000Z")
    expect(plan.waves.map((w) => [w.sites.length, w.approval])).toEqual([
      [1, false],
      [3, true],
      [8, true]
    ])
    expect(plan.sites.filter((s) => s.kind !== "single")).toHaveLength(4)
    expect(plan.sites.every((s) => s.earliestStart !== undefined)).toBe(true)
    expect(plan.sites.find((s) => s.id === "paris-hq")).toMatchObject({
      earliestStart: "2026-10-03T00:00:00.000Z",
      estimate: { source: "single-plan" }
    })
  })

  it("markdown (the default) and table", async () => {
    const md = await runCli("fleet", "plan", "--fleet", example, "--now", NOW)
    expect(md.code).toBe(0)
    expect(md.stdout).toContain("# Rollout global-24-3: All sites to 24.3")
    expect(md.stdout).toContain("## Wave 3: wave 3")
    const table = await runCli("fleet", "plan", "-f", example, "--now", NOW, "--format", "table")
    expect(table.code).toBe(0)
    expect(table.stdout.split("\n")[1]).toMatch(/^wave\s+site\s+kind\s+time zone\s+earliest start \(local\)/)
    expect(table.stdout).toMatch(/\n1\s+paris-hq\s+single\s+Europe\/Paris\s+sat 2026-10-03 02:00 \+02:00/)
  })

  it("a bad fleet file: exit code 2 and the field path to edit", async () => {
    const dir = folder({
      "site.yaml": siteYaml(),
      "fleet.yaml": `
id: t
target: "24.3.2"
waves: [{ rest: true }]
sites:
  - file: site.yaml
    windows: [{ timeZone: Europe/Pariss, days: [sat], start: "02:00", durationMinutes: 240 }]
`
    })
    const r = await runCli("fleet", "plan", "--fleet", join(dir, "fleet.yaml"), "--now", NOW)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("fleet.yaml: 1 problem(s) in the fleet file (see docs/fleet.md):")
    expect(r.stderr).toContain('sites[0].windows[0].timeZone: unknown IANA time zone "Europe/Pariss"')
  })

  it("a missing site file and a bad --now: exit code 2, saying what to fix", async () => {
    const dir = folder({
      "fleet.yaml": `
id: t
target: "24.3.2"
waves: [{ rest: true }]
sites:
  - file: sites/nope.yaml
    timeZone: UTC
    windows: [{ days: [sat], start: "02:00", durationMinutes: 240 }]
`
    })
    const r = await runCli("fleet", "plan", "--fleet", join(dir, "fleet.yaml"), "--now", NOW)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("sites[0].file: sites/nope.yaml does not exist")
    const now = await runCli("fleet", "plan", "--fleet", example, "--now", "next saturday")
    expect(now.code).toBe(2)
    expect(now.stderr).toContain("--now next saturday: expected an ISO 8601 instant with its zone")
  })
})

describe("the fleet commands' site worker", () => {
  it("works in a temporary folder of its own, removed when the command ends", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "sra-fleet-worker-"))
    const saved = process.env["TMPDIR"]
    process.env["TMPDIR"] = tmp
    try {
      const during = await Effect.runPromise(
        Effect.scoped(
          Effect.zipRight(
            Layer.build(workerOf(Option.none(), 1)),
            Effect.sync(() => readdirSync(tmp))
          )
        )
      )
      expect(during).toHaveLength(1)
      expect(during[0]).toMatch(/^sra-upgrade-fleet-/)
      expect(readdirSync(tmp)).toEqual([])
    } finally {
      if (saved === undefined) delete process.env["TMPDIR"]
      else process.env["TMPDIR"] = saved
    }
  })
})
