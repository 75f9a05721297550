/**
 * A sample of the crash matrix (docs/crash-matrix.md) in CI: 8 points over the four scenarios the CLI runs
 * (single, sync, async, migration: two points each),
 * each the real `sra-upgrade run` SIGKILLed at a seeded instant (and every other point its first resume too),
 * resumed by the real `sra-upgrade resume`, then checked (end state, each non-idempotent action exactly once,
 * journal replays to succeeded, report availability covering the run). `pnpm crash-matrix --points 200` is the
 * full run.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import * as Matrix from "../crash-matrix/matrix.js"

// the CLI's source as one bundle (as `pnpm crash-matrix` does by default): ~1 s to start a command
beforeAll(() => Matrix.useBundle(mkdtempSync(join(tmpdir(), "sra-crash-cli-"))), 120_000)

describe("crash matrix", () => {
  it("8 points of the real command killed and resumed: 0 violations", async () => {
    const lines: Array<string> = []
    const summary = await Matrix.run({
      points: 8,
      seed: 20261203,
      scenarios: Matrix.scenarios,
      timeScale: 1200,
      to: "24.3.2",
      log: (l) => lines.push(l)
    })
    expect(summary.points).toBe(8)
    expect(summary.violations, lines.join("\n")).toBe(0)
    expect(lines.at(-1)).toBe("crash-matrix: 8 points, 0 violations")
    // the kills really happened (a matrix that never kills proves nothing)
    expect(summary.results.flatMap((r) => r.kills).filter((k) => k.killed).length).toBeGreaterThanOrEqual(4)
  }, 1_200_000)
})
