/**
 * The acceptance walk-through of issue 15, with the real commands only (`pnpm acceptance:runs`):
 *
 * 1. `sra-upgrade sim --time-scale 600 --write-site sim.yaml --json` (a simulated pair);
 * 2. `sra-upgrade run --site sim.yaml --to 24.3.2 --yes --simulator <control> --run-id r1`, SIGKILLed
 *    (its whole process group) once the run has started its first install;
 * 3. `sra-upgrade resume r1 …`, SIGKILLed once it is past the next install;
 * 4. `sra-upgrade resume r1 …` to the end.
 *
 * Then checks: exit 0; `report.json` has `availability.probes > 0` and `firstProbeAt` within seconds of
 * `startedAt`; `/__sim/actions` shows every install and relationship change once. Prints what it did and saw;
 * exit 0 when every check holds.
 */
import { SimActions, SimControl } from "@sra-upgrade/simulator"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const bin = resolve(here, "..", "..", "packages", "cli", "src", "bin.ts")
const tsx = join(dirname(createRequire(import.meta.url).resolve("tsx/package.json")), "dist", "cli.mjs")
const work = mkdtempSync(join(tmpdir(), "sra-acceptance-"))
const say = (line: string) => console.log(line)

const start = (args: ReadonlyArray<string>) => {
  say(`$ sra-upgrade ${args.join(" ")}`)
  const child = spawn(process.execPath, [tsx, bin, ...args], {
    cwd: work,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true
  })
  const p = {
    child,
    out: "",
    exit: new Promise<number | null>((res) => child.on("exit", (code) => res(code)))
  }
  child.stdout.on("data", (d: Buffer) => (p.out += d.toString()))
  child.stderr.on("data", (d: Buffer) => (p.out += d.toString()))
  return p
}

const until = (cond: () => boolean, what: string, ms = 300_000) =>
  new Promise<void>((res, rej) => {
    const t0 = Date.now()
    const t = setInterval(() => {
      if (cond()) {
        clearInterval(t)
        res()
      } else if (Date.now() - t0 > ms) {
        clearInterval(t)
        rej(new Error(`timed out waiting for ${what}`))
      }
    }, 20)
  })

const journal = join(work, ".sra-upgrade", "runs", "r1.jsonl")
const installsStarted = () =>
  existsSync(journal)
    ? readFileSync(journal, "utf8")
        .split("\n")
        .filter((l) => l.includes('"StepStarted"') && /"stepId":"[^"]*\/install-/.test(l)).length
    : 0

const failures: Array<string> = []
const check = (ok: boolean, what: string) => {
  say(`${ok ? "ok  " : "FAIL"} ${what}`)
  if (!ok) failures.push(what)
}

const sim = start(["sim", "--time-scale", "600", "--write-site", "sim.yaml", "--json"])
try {
  await until(() => sim.out.includes('"control"'), "the simulator's JSON line", 60_000)
  const control = (JSON.parse(sim.out.split("\n").find((l) => l.includes('"control"'))!) as { control: string }).control
  say(`simulator control: ${control}`)
  const common = ["--site", "sim.yaml", "--yes", "--simulator", control]

  const run = start(["run", "--to", "24.3.2", "--run-id", "r1", ...common])
  await until(() => installsStarted() >= 1 || run.child.exitCode !== null, "the run's first install")
  process.kill(-run.child.pid!, "SIGKILL")
  say(`  SIGKILL run (pid ${run.child.pid}) after ${installsStarted()} install step(s) started; exit ${await run.exit}`)
  say(`  (its last line: ${run.out.trim().split("\n").at(-1)})`)

  const before = installsStarted()
  const resume1 = start(["resume", "r1", ...common])
  await until(() => installsStarted() > before || resume1.child.exitCode !== null, "the resume's next install")
  process.kill(-resume1.child.pid!, "SIGKILL")
  say(`  SIGKILL resume (pid ${resume1.child.pid}) at install step ${installsStarted()}; exit ${await resume1.exit}`)
  for (const l of resume1.out.split("\n").filter((l) => /^(resuming|warning|resumed)/.test(l))) say(`  ${l}`)

  const resume2 = start(["resume", "r1", ...common])
  const code = await resume2.exit
  for (const l of resume2.out.split("\n").filter((l) => /^(resuming|warning|resumed)/.test(l))) say(`  ${l}`)
  const tail = resume2.out.trim().split("\n")
  say(
    tail
      .slice(tail.findIndex((l) => l.startsWith("# ")) >= 0 ? tail.findIndex((l) => l.startsWith("# ")) : -40)
      .join("\n")
  )
  check(code === 0, `the last resume exits 0 (got ${code})`)

  const report = JSON.parse(readFileSync(join(work, ".sra-upgrade", "runs", "r1.report.json"), "utf8")) as {
    status: string
    startedAt: string
    endedAt: string
    resumes: number
    availability?: {
      probes: number
      failed: number
      firstProbeAt: string
      lastProbeAt: string
      notObservedSeconds: number
      series: number
      longestOutageSeconds: number
      totalUnavailableSeconds: number
    }
  }
  const a = report.availability
  say(
    `report.json: status ${report.status}, ${report.resumes} resume(s), startedAt ${report.startedAt}, endedAt ${report.endedAt}`
  )
  say(`report.json availability: ${JSON.stringify(a)}`)
  check(report.status === "succeeded", "report status succeeded")
  check(a !== undefined && a.probes > 0, `availability.probes > 0 (${a?.probes})`)
  const lead = a === undefined ? Infinity : (Date.parse(a.firstProbeAt) - Date.parse(report.startedAt)) / 1000
  check(Math.abs(lead) < 5, `firstProbeAt within seconds of startedAt (${lead.toFixed(2)} s)`)
  check(
    a !== undefined && a.notObservedSeconds > 0,
    `the two kills show as time not observed (${a?.notObservedSeconds} s)`
  )

  const log = await Effect.runPromise(SimControl.actions(control))
  const watched = log.filter((x) => x.action === "install-started" || x.action.startsWith("relationship-"))
  say("/__sim/actions (installs and relationship changes):")
  for (const x of watched) say(`  #${x.seq} ${x.at} ${x.appliance ?? "-"} ${x.action} ${JSON.stringify(x.detail)}`)
  const repeats = SimActions.exactlyOnce(log)
  check(repeats.length === 0, `every non-idempotent action once (${repeats.length} repeated)`)
  const installs = watched.filter((x) => x.action === "install-started").length
  check(installs === 4, `4 installs (base + product on A and B): ${installs}`)
  check(
    watched.filter((x) => x.action === "relationship-broken").length === 1 &&
      watched.filter((x) => x.action === "relationship-established").length === 1,
    "the relationship broken once and established once"
  )
} finally {
  process.kill(-sim.child.pid!, "SIGTERM")
}
say(failures.length === 0 ? "acceptance: all checks hold" : `acceptance: ${failures.length} check(s) failed`)
process.exit(failures.length === 0 ? 0 : 1)
