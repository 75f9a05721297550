/**
 * The methods an operator chooses on the command line: the pair method
 * (PREP-7) and how the packages reach the appliance (SINGLE-1 / SINGLE-3).
 */
import { describe, expect, it } from "vitest"
import { fileURLToPath } from "node:url"
import { runCli } from "./support.js"

const example = (name: string) => fileURLToPath(new URL(`../../../examples/${name}`, import.meta.url))
const planArgs = (file: string) => ["plan", "--site", file, "--to", "24.3.2", "--current", "24.1.3"]

describe("plan methods", () => {
  it("SINGLE-3: plan --update-method manual plans the download key and uploads (the SINGLE-6 fallback is reachable)", async () => {
    const r = await runCli(...planArgs(example("site.yaml")), "--update-method", "manual", "--format", "json")
    expect(r.code, r.stderr).toBe(0)
    const plan = JSON.parse(r.stdout) as { steps: ReadonlyArray<{ id: string; rules: ReadonlyArray<string> }> }
    const ids = plan.steps.map((s) => s.id)
    expect(ids).toContain("A/download-key")
    const installs = plan.steps.filter((s) => s.id.startsWith("A/install-"))
    expect(installs.length).toBeGreaterThan(0)
    for (const s of installs) expect(s.rules).toContain("SINGLE-3")
    // the default stays automatic, and its fallback names the flag
    const auto = await runCli(...planArgs(example("site.yaml")))
    expect(auto.code, auto.stderr).toBe(0)
    expect(auto.stdout).not.toContain("Fetch the packages with the appliance's download key")
    expect(auto.stdout).toContain("--update-method manual")
  })

  it("SINGLE-3: a pair plans both appliances with the manual method", async () => {
    const r = await runCli(
      ...planArgs(example("pair.yaml")),
      "--method",
      "sync",
      "--update-method",
      "manual",
      "--format",
      "json"
    )
    expect(r.code, r.stderr).toBe(0)
    const ids = (JSON.parse(r.stdout) as { steps: ReadonlyArray<{ id: string }> }).steps.map((s) => s.id)
    expect(ids).toEqual(expect.arrayContaining(["A/download-key", "B/download-key"]))
  })
})
