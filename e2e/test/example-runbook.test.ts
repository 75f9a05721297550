// The committed example runbooks (docs/examples/*-runbook.md) must equal the
// rendering of examples/site.yaml's single-appliance plan and of
// examples/pair.yaml's synchronous and asynchronous plans, so they never go
// stale: regenerate them with `pnpm exec tsx scripts/render-example-runbook.ts`.
import { describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

const root = fileURLToPath(new URL("../../", import.meta.url))

const rendered = async (name: string) =>
  (
    await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", "scripts/render-example-runbook.ts", "--stdout", name],
      { cwd: root, maxBuffer: 8 * 1024 * 1024 }
    )
  ).stdout

describe("example runbooks", () => {
  for (const [name, source] of [
    ["single-runbook.md", "examples/site.yaml"],
    ["sync-pair-runbook.md", "examples/pair.yaml"],
    ["async-pair-runbook.md", "examples/pair.yaml"]
  ] as const)
    it(`docs/examples/${name} equals the rendering of ${source}`, async () => {
      const stdout = await rendered(name)
      const committed = readFileSync(`${root}docs/examples/${name}`, "utf8")
      expect(stdout.length).toBeGreaterThan(1000)
      expect(committed).toBe(stdout)
    }, 60_000)

  it("PREP-4 CLIENT-10 PREP-3: the pair runbooks show the async disconnect report, the passive horizon, each window's estimate and the new rules", () => {
    const sync = readFileSync(`${root}docs/examples/sync-pair-runbook.md`, "utf8")
    const async = readFileSync(`${root}docs/examples/async-pair-runbook.md`, "utf8")
    for (const md of [sync, async]) {
      expect(md).toMatch(/PREP-3: installs estimated at \d+ min in total, from 40 GB/) // item 1
      expect(md).toMatch(/CLIENT-6, CLIENT-7: jump-client \(5100\)/) // item 1: client notes kept
      expect(md).toContain("Warning (CLIENT-10): window 2 opens 21.0 h after window 1 ends") // item 6
      expect(md).toContain("All Jump Clients updated (passive ones included)") // item 6
      expect(md).toContain("Read the release notes of 24.3.2") // item 10: PREP-10
      expect(md).toContain("24.3 is rolled out to this site and maintenance is current") // PREP-9
      expect(md).toContain("PREP-4: schedule the window at low traffic") // item 5
    }
    expect(async).toContain("Report who is logged in to A: the switch to B disconnects them") // item 5
    expect(async).toContain("in another browser tab") // item 10: SWITCH-5
    expect(async).toContain("Factory Default certificate configuration (SWITCH-5)")
  })
})
