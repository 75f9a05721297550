import { describe, expect, it } from "vitest"
import { runCli } from "./support.js"

describe("sra-upgrade demo fleet", () => {
  it("FLEET-DEMO-1 --json: 12 simulated sites in 3 waves, one failed by the injected fault within the budget; the last line is the rollout", async () => {
    const { code, stderr, stdout } = await runCli("demo", "fleet", "--json")
    expect(code, stderr).toBe(0)
    const lines = stdout.trim().split("\n")
    const sites = lines.slice(0, -1).map((l) => JSON.parse(l) as Record<string, unknown>)
    // the sites that failed, with their reasons, first: a wrong count then says why
    expect(sites.filter((s) => s["outcome"] !== "Succeeded")).toEqual([
      expect.objectContaining({
        site: "site-007",
        wave: 2,
        outcome: "Failed",
        reason: expect.stringMatching(/injected/)
      })
    ])
    const last = JSON.parse(lines.at(-1)!) as { rollout: unknown }
    expect(last).toEqual({
      rollout: {
        id: "demo-fleet",
        status: "failed",
        waves: 3,
        sites: { succeeded: 11, failed: 1, skipped: 0, notStarted: 0 }
      }
    })
    expect(sites).toHaveLength(12)
    expect(sites.filter((s) => s["kind"] === "single")).toHaveLength(8)
    expect(new Set(sites.map((s) => s["timeZone"])).size).toBe(3)
    const failed = sites.filter((s) => s["outcome"] === "Failed")
    expect(failed).toEqual([
      expect.objectContaining({ site: "site-007", wave: 2, reason: expect.stringMatching(/injected/) })
    ])
  }, 300_000)
})
