// The committed example runbook (docs/examples/single-runbook.md) must equal
// the rendering of examples/site.yaml's single-appliance plan, so it never
// goes stale: regenerate it with `pnpm exec tsx scripts/render-example-runbook.ts`.
import { describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

const root = fileURLToPath(new URL("../../", import.meta.url))

describe("example runbook", () => {
  it("docs/examples/single-runbook.md equals the rendering of examples/site.yaml", async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", "scripts/render-example-runbook.ts", "--stdout"],
      { cwd: root, maxBuffer: 8 * 1024 * 1024 }
    )
    const committed = readFileSync(`${root}docs/examples/single-runbook.md`, "utf8")
    expect(stdout.length).toBeGreaterThan(1000)
    expect(committed).toBe(stdout)
  }, 60_000)
})
