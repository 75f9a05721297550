/**
 * `pnpm crash-matrix [--points N] [--seed S] [--scenarios single,sync,async,migration] [--time-scale X]
 * [--to VERSION] [--runner bundle|tsx] [--parallel P] [--only I,J] [--verbose] [--keep]`: the crash matrix of the real command (docs/crash-matrix.md).
 * Exit 0 when no point has a violation, 1 otherwise.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Matrix from "./matrix.js"

const args = process.argv.slice(2)
const flag = (name: string) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : undefined
}
const num = (name: string, fallback: number) => {
  const v = flag(name)
  if (v === undefined) return fallback
  const n = Number(v)
  if (!Number.isFinite(n)) {
    console.error(`crash-matrix: --${name} must be a number, got ${v}`)
    process.exit(2)
  }
  return n
}

const named = (flag("scenarios") ?? Matrix.scenarios.join(",")).split(",").filter((s) => s !== "")
for (const s of named) {
  if (s in Matrix.unsupported) console.log(`scenario ${s}: ${Matrix.unsupported[s]}`)
  else if (!(Matrix.scenarios as ReadonlyArray<string>).includes(s)) {
    console.error(`crash-matrix: unknown scenario ${s} (known: ${Matrix.scenarios.join(", ")})`)
    process.exit(2)
  }
}
const chosen = Matrix.scenarios.filter((s) => named.includes(s))
if (chosen.length === 0) {
  console.error("crash-matrix: no runnable scenario")
  process.exit(2)
}
const runner = flag("runner") ?? "bundle"
if (runner !== "bundle" && runner !== "tsx") {
  console.error(`crash-matrix: --runner is bundle or tsx, got ${runner}`)
  process.exit(2)
}
if (runner === "bundle") await Matrix.useBundle(mkdtempSync(join(tmpdir(), "sra-crash-cli-")))
const seed = num("seed", Date.now() % 100_000)
const points = num("points", 8)
console.log(`crash-matrix: ${points} points, seed ${seed}, scenarios ${chosen.join(",")}, runner ${runner}`)
const summary = await Matrix.run({
  points,
  seed,
  scenarios: chosen,
  timeScale: num("time-scale", 600),
  to: flag("to") ?? "24.3.2",
  log: (line) => console.log(line),
  parallel: num("parallel", 1),
  only: flag("only")?.split(",").map(Number),
  verbose: args.includes("--verbose"),
  keep: args.includes("--keep")
})
process.exit(summary.violations === 0 ? 0 : 1)
