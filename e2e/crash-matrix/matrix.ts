/**
 * The crash matrix of the real command (issue 15, item 3; docs/crash-matrix.md).
 *
 * For each point: a fresh simulator (in this process, over real sockets), the real CLI
 * (`tsx packages/cli/src/bin.ts run … --yes --simulator <control>`) as a detached child process group,
 * SIGKILLed at a seeded random instant of the run (and, on every other point, its first resume too),
 * then the real `resume` until the run ends. Each point is checked against an uninterrupted baseline run
 * of its scenario:
 *
 * - the last command exits 0 and the journal replays to `succeeded`;
 * - the end state is the baseline's: every appliance on the target version, the same failover roles and
 *   relationship, the same appliance serving the site;
 * - every non-idempotent action of `/__sim/actions` appears exactly once (`SimActions.exactlyOnce` against
 *   the baseline's keys: nothing repeated, missing or unexpected);
 * - `report.json` has `availability` covering the run: probes > 0, the first probe within seconds of the
 *   start, the last within seconds of the end, observed + not observed time = the run's span.
 */
import { Executor, Journal, Operator, StepHandler } from "@sra-upgrade/core"
import { SimActions, SimConfig, SimControl, Simulator, SiteFile } from "@sra-upgrade/simulator"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

/** The scenarios the CLI can run (`--method`); `migration` moves the site from A to a factory-fresh N. */
export const scenarios = ["single", "sync", "async", "migration"] as const
export type Scenario = (typeof scenarios)[number]

/** Scenarios named on the command line but not runnable by `sra-upgrade run` (reported, not run): none left. */
export const unsupported: Readonly<Record<string, string>> = {}

export interface Options {
  readonly points: number
  readonly seed: number
  readonly scenarios: ReadonlyArray<Scenario>
  /** Simulated seconds per real second (the plan is compressed by it). */
  readonly timeScale: number
  /** Target version. */
  readonly to: string
  /** Extra environment of every CLI process (e.g. a fault switch). */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** Where a line goes (per failing point, progress). */
  readonly log: (line: string) => void
  /** Also log a line per passing point. */
  readonly verbose?: boolean | undefined
  /** Run only these points (1-based; the draws are the seed's, as in the full matrix): to replay a failing point. */
  readonly only?: ReadonlyArray<number> | undefined
  /** Points run at once (default 1). */
  readonly parallel?: number | undefined
  /** Keep the work folders. */
  readonly keep?: boolean | undefined
}

export interface PointResult {
  readonly index: number
  readonly scenario: Scenario
  readonly kills: ReadonlyArray<Kill>
  readonly resumes: number
  readonly violations: ReadonlyArray<string>
}

export interface Kill {
  /** `run` or `resume N`. */
  readonly process: string
  /** Milliseconds after the process was spawned. */
  readonly afterMs: number
  /** The step in progress per the journal at the kill (`-` between steps). */
  readonly step: string
  /** False when the process had already ended by then. */
  readonly killed: boolean
}

export interface Summary {
  readonly points: number
  readonly violations: number
  readonly results: ReadonlyArray<PointResult>
  readonly perScenario: ReadonlyArray<{
    readonly scenario: Scenario
    readonly points: number
    readonly failing: number
    readonly violations: number
    readonly kills: number
    readonly resumes: number
    readonly baselineSeconds: number
  }>
}

// ---------------------------------------------------------------------------------------------------------------
// seeded randomness

/** mulberry32: small, seeded, good enough to spread kill instants. */
export const prng = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// ---------------------------------------------------------------------------------------------------------------
// the real command

const here = dirname(fileURLToPath(import.meta.url))
const bin = resolve(here, "..", "..", "packages", "cli", "src", "bin.ts")
const tsx = join(dirname(createRequire(import.meta.url).resolve("tsx/package.json")), "dist", "cli.mjs")

interface Proc {
  readonly child: ChildProcess
  readonly started: number
  out: string
  readonly exit: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

/**
 * How the command is started: `tsx packages/cli/src/bin.ts`, or (default) one ESM bundle of that same source built
 * by esbuild once per matrix (as the published `dist` is one tsup build): ~1 s to start instead of ~4 s, which is
 * most of a point's time on a small machine.
 */
let command: ReadonlyArray<string> = [tsx, bin]

/** Build the bundle into `dir` and use it for every command of this process. */
export const useBundle = async (dir: string): Promise<void> => {
  const esbuildPath = createRequire(createRequire(import.meta.url).resolve("tsx/package.json")).resolve("esbuild")
  const esbuild = (await import(pathToFileURL(esbuildPath).href)) as {
    build: (o: Record<string, unknown>) => Promise<unknown>
  }
  const outfile = join(dir, "sra-upgrade.mjs")
  await esbuild.build({
    entryPoints: [bin],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile,
    logLevel: "error",
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" }
  })
  command = [outfile]
}

const cli = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}): Proc => {
  const child = spawn(process.execPath, [...command, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
    env: { ...process.env, ...env }
  })
  const p: Proc = {
    child,
    started: Date.now(),
    out: "",
    exit: new Promise((res) => child.on("exit", (code, signal) => res({ code, signal })))
  }
  const keep = (d: Buffer) => {
    p.out += d.toString()
    if (p.out.length > 200_000) p.out = p.out.slice(-100_000)
  }
  child.stdout!.on("data", keep)
  child.stderr!.on("data", keep)
  return p
}

/** SIGKILL the process group (tsx and the command it runs). */
const killGroup = (p: Proc) => {
  try {
    process.kill(-p.child.pid!, "SIGKILL")
  } catch {
    // gone already
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Wait `ms` or the process's end, whichever comes first; true if it is still running. */
const runningAfter = async (p: Proc, ms: number): Promise<boolean> => {
  const ended = await Promise.race([p.exit.then(() => true), sleep(ms).then(() => false)])
  return !ended
}

/** Poll (every 1 ms) until `done()` or the process's end; true if it is still running. */
const runningUntil = (p: Proc, done: () => boolean): Promise<boolean> =>
  new Promise((res) => {
    let ended = false
    void p.exit.then(() => (ended = true))
    const t = setInterval(() => {
      if (ended) {
        clearInterval(t)
        res(false)
      } else if (done()) {
        clearInterval(t)
        res(true)
      }
    }, 1)
  })

/** How many non-idempotent (non-harness) actions the simulator accepted so far. */
const nonIdempotentActions = async (controlUrl: string): Promise<number> => {
  const log = (await (await fetch(`${controlUrl}/actions`)).json()) as ReadonlyArray<{ action: string }>
  return log.filter((a) => {
    const info = (SimActions.catalog as Record<string, SimActions.ActionInfo | undefined>)[a.action]
    return info !== undefined && !info.idempotent && !info.harness
  }).length
}

/** Check `done()` back to back (an HTTP call each) until it holds or the process ends; true if still running. */
const runningUntilAsync = async (p: Proc, done: () => Promise<boolean>): Promise<boolean> => {
  let ended = false
  void p.exit.then(() => (ended = true))
  for (;;) {
    if (ended) return false
    if (await done()) return !ended
    await sleep(2)
  }
}

/** How many `StepStarted` records of non-idempotent steps (per the journaled plan) a journal holds. */
const effectStartsIn = (text: string): number => {
  let nonIdempotent = new Set<string>()
  let n = 0
  for (const line of text.split("\n")) {
    if (!line.includes('"StepStarted"') && !line.includes('"RunStarted"')) continue
    try {
      const e = (
        JSON.parse(line) as {
          event: { _tag: string; stepId?: string; plan?: { steps: Array<{ id: string; idempotent: boolean }> } }
        }
      ).event
      if (e._tag === "RunStarted") nonIdempotent = new Set(e.plan!.steps.filter((s) => !s.idempotent).map((s) => s.id))
      else if (nonIdempotent.has(e.stepId!)) n++
    } catch {
      // torn last line
    }
  }
  return n
}

/** The step in progress per the journal (last StepStarted not yet finished), for the kill log. */
const stepInProgress = (journal: string): string => {
  if (!existsSync(journal)) return "(no journal yet)"
  let step = "-"
  for (const line of readFileSync(journal, "utf8").split("\n")) {
    let e: { _tag?: string; stepId?: string } | undefined
    try {
      e = (JSON.parse(line) as { event?: { _tag?: string; stepId?: string } }).event
    } catch {
      continue // torn or empty
    }
    if (e === undefined) continue
    if (e._tag === "StepStarted" || e._tag === "GateOpened") step = e.stepId ?? "-"
    else if (e._tag === "StepSucceeded" || e._tag === "StepSkipped") step = "-"
    else if (e._tag === "RunFinished") step = "(finished)"
  }
  return step
}

// ---------------------------------------------------------------------------------------------------------------
// a simulated site

interface Site {
  readonly sim: Awaited<ReturnType<typeof Simulator.startPromise>>
  readonly dir: string
  readonly file: string
  readonly runs: string
}

const startSite = async (scenario: Scenario, timeScale: number, to: string): Promise<Site> => {
  if (scenario === "migration") return startMigrationSite(timeScale, to)
  const defaults = SimConfig.make()
  const sim = await Simulator.startPromise(
    scenario === "single"
      ? {
          timeScale,
          appliances: [{ ...defaults.appliances[0]!, failoverRole: "none" }],
          updates: defaults.updates.filter((u) => u.kind !== "license")
        }
      : { timeScale }
  )
  const dir = mkdtempSync(join(tmpdir(), `sra-crash-${scenario}-`))
  const { caPem, secret, site } = SiteFile.describe(sim, {
    pair: scenario !== "single",
    backupDirectory: join(dir, "backups"),
    secretFile: "client-secret",
    caFile: "simulator-ca.pem"
  })
  return writeSite(sim, dir, site, { "client-secret": secret, "simulator-ca.pem": caPem })
}

/** The site file `site.json` in `dir` with the files it names (secrets owner-only), and the runs folder. */
const writeSite = (
  sim: Site["sim"],
  dir: string,
  site: Record<string, unknown>,
  beside: Readonly<Record<string, string>>
): Site => {
  for (const [name, text] of Object.entries(beside))
    writeFileSync(join(dir, name), name.endsWith(".pem") ? text : text + "\n", { mode: 0o600 })
  const file = join(dir, "site.json")
  writeFileSync(file, JSON.stringify(site, null, 2))
  const runs = join(dir, "runs")
  mkdirSync(runs, { recursive: true })
  return { sim, dir, file, runs }
}

/**
 * The migration scenario: old A on `to` serving the site by DNS, a factory-fresh N (23.3.1) to bring to `to`, the
 * site file's `migration:` section (N's credentials file is written by the simulator operator at MIGRATE-1).
 */
const startMigrationSite = async (timeScale: number, to: string): Promise<Site> => {
  const sim = await Simulator.startPromise(SiteFile.migrationConfig({ timeScale, version: to }))
  await Effect.runPromise(SiteFile.installSiteCertificate(sim))
  const dir = mkdtempSync(join(tmpdir(), "sra-crash-migration-"))
  const { caPem, passphrase, secret, site } = SiteFile.describeMigration(sim, {
    backupDirectory: join(dir, "backups"),
    secretFile: "client-secret",
    caFile: "simulator-ca.pem",
    passphraseFile: "bundle-passphrase"
  })
  return writeSite(sim, dir, site, {
    "client-secret": secret,
    "bundle-passphrase": passphrase,
    "simulator-ca.pem": caPem
  })
}

/** Lower-case hex of a SHA-256 fingerprint (`AB:CD:…` or hex). */
const hex = (fp: string) => fp.replace(/[^0-9a-fA-F]/g, "").toLowerCase()

/**
 * The action log with the site certificate's fingerprint (generated afresh by every simulator) named
 * `site-certificate`, so that a point's keys compare with its baseline's (the migration's certificate imports).
 */
const actionsOf = (site: Site, log: ReadonlyArray<SimActions.Action>): ReadonlyArray<SimActions.Action> => {
  const sha = site.sim.siteCertificate?.sha256
  if (sha === undefined) return log
  return log.map((a) =>
    typeof a.detail["sha256"] === "string" && hex(a.detail["sha256"]) === sha
      ? new SimActions.Action({ ...a, detail: { ...a.detail, sha256: "site-certificate" } })
      : a
  )
}

const relationshipOf = (r: unknown) => {
  if (r === null || r === undefined || typeof r !== "object") return null
  const o = r as { primary?: unknown; backup?: unknown; sharedIps?: unknown; syncing?: unknown; swapping?: unknown }
  // (not whether a periodic data sync happens to run at the end)
  return { primary: o.primary, backup: o.backup, sharedIps: o.sharedIps, swapping: o.swapping }
}

/** What the end state is made of: versions, roles, relationship, who serves the site. */
const endState = async (site: Site): Promise<Record<string, unknown>> => {
  const state = (await (await fetch(`${site.sim.controlUrl}/state`)).json()) as {
    appliances: ReadonlyArray<{
      id: string
      version?: string
      productVersion?: string
      failoverRole?: string
      lifecycle?: string
      defaultCredentials?: boolean
      siteMember?: boolean
      certificates?: ReadonlyArray<{ fingerprint256?: string; isDefault?: boolean }>
    }>
    relationship?: unknown
  }
  let serving: unknown
  try {
    const who = (await (await fetch(`${site.sim.site.httpUrl}/__sim/whoami`)).json()) as { appliance?: unknown }
    serving = who.appliance ?? "-"
  } catch {
    serving = "(site address does not answer)"
  }
  return {
    appliances: state.appliances.map((a) => ({
      id: a.id,
      version: a.version ?? a.productVersion,
      role: a.failoverRole,
      // running, powered off, deleted (a migration's MIGRATE-9); the initial admin login changed (MIGRATE-7)
      lifecycle: a.lifecycle,
      defaultCredentials: a.defaultCredentials,
      // settings restored (a member of the site) and the site certificate served (MIGRATE-3..7)
      siteMember: a.siteMember,
      defaultCertificate: ((fp) =>
        fp === undefined ? "-" : hex(fp) === site.sim.siteCertificate?.sha256 ? "site certificate" : "its own")(
        a.certificates?.find((c) => c.isDefault === true)?.fingerprint256
      )
    })),
    // who is primary and backup, on which shared IPs (not the times of its establishment and syncs)
    relationship: relationshipOf(state.relationship),
    serving
  }
}

const readOnlyExecutor = (runs: string) =>
  Executor.layer.pipe(
    Layer.provide(
      Layer.mergeAll(StepHandler.layerRaw({}), Operator.layerScripted({}), Journal.layer({ directory: runs }))
    )
  )

// ---------------------------------------------------------------------------------------------------------------
// checks

interface Baseline {
  readonly keys: ReadonlyArray<string>
  readonly end: Record<string, unknown>
  readonly millis: number
  /** How many times a non-idempotent step started (the instants the `effect` kills aim at). */
  readonly effectStarts: number
  /** From the journal's first record to its last (the run's execution, without the command's start-up). */
  readonly execMillis: number
}

const runArgs = (scenario: Scenario, site: Site, runId: string, to: string) => [
  "run",
  "--site",
  site.file,
  "--to",
  to,
  "--method",
  scenario,
  "--yes",
  "--simulator",
  site.sim.controlUrl,
  "--runs",
  site.runs,
  "--run-id",
  runId,
  "--json"
]

const resumeArgs = (site: Site, runId: string) => [
  "resume",
  runId,
  "--site",
  site.file,
  "--yes",
  "--simulator",
  site.sim.controlUrl,
  "--runs",
  site.runs,
  "--json"
]

const stable = (v: unknown): string => JSON.stringify(v)

/** Everything a point is checked for, after its last command ended with `code`. */
const check = async (site: Site, runId: string, baseline: Baseline, code: number | null, to: string) => {
  const violations: Array<string> = []
  if (code !== 0) violations.push(`the last command exited ${code}, not 0`)
  // the journal replays to succeeded
  const report = await Effect.runPromise(
    Executor.report(runId).pipe(Effect.provide(readOnlyExecutor(site.runs)), Effect.either)
  )
  if (report._tag === "Left") violations.push(`the journal does not replay: ${report.left.message}`)
  else if (report.right.status !== "succeeded")
    violations.push(
      `the journal replays to ${report.right.status}${report.right.error === undefined ? "" : ` (${report.right.error})`}`
    )
  // the end state
  const end = await endState(site)
  const versions = (end["appliances"] as ReadonlyArray<{ id: string; version: string }>).filter((a) => a.version !== to)
  for (const a of versions) violations.push(`appliance ${a.id} runs ${a.version}, not ${to}`)
  if (stable(end) !== stable(baseline.end))
    violations.push(`end state ${stable(end)} differs from the uninterrupted run's ${stable(baseline.end)}`)
  // every non-idempotent action exactly once
  const log = actionsOf(site, await Effect.runPromise(SimControl.actions(site.sim.controlUrl)))
  for (const v of SimActions.exactlyOnce(log, baseline.keys)) violations.push(`action ${stableViolation(v)}`)
  // the report's availability covers the run
  const file = join(site.runs, `${runId}.report.json`)
  if (!existsSync(file)) violations.push("no report.json")
  else {
    const r = JSON.parse(readFileSync(file, "utf8")) as {
      startedAt?: string
      endedAt?: string
      availability?: {
        probes: number
        firstProbeAt: string
        lastProbeAt: string
        observedSeconds: number
        notObservedSeconds: number
      }
    }
    const a = r.availability
    if (a === undefined) violations.push("report.json has no availability")
    else if (r.startedAt === undefined || r.endedAt === undefined) violations.push("report.json has no start or end")
    else {
      const start = Date.parse(r.startedAt)
      const endAt = Date.parse(r.endedAt)
      const span = (endAt - start) / 1000
      if (!(a.probes > 0)) violations.push("availability: no probe")
      const lead = (Date.parse(a.firstProbeAt) - start) / 1000
      const tail = (endAt - Date.parse(a.lastProbeAt)) / 1000
      if (lead > 3) violations.push(`availability: the first probe came ${lead.toFixed(1)} s after the start`)
      if (tail > 3) violations.push(`availability: the last probe came ${tail.toFixed(1)} s before the end`)
      // the process that finished the run observed it too
      const journal = join(site.runs, `${runId}.jsonl`)
      const resumedAt = readFileSync(journal, "utf8")
        .split("\n")
        .filter((l) => l.includes('"_tag":"Resumed"'))
        .map((l) => Date.parse((JSON.parse(l) as { event: { at: string } }).event.at))
        .at(-1)
      if (resumedAt !== undefined && Date.parse(a.lastProbeAt) < resumedAt)
        violations.push(
          `availability: no probe after the last resume (${new Date(resumedAt).toISOString()}; last probe ${a.lastProbeAt})`
        )
      const covered = a.observedSeconds + a.notObservedSeconds
      if (Math.abs(covered - span) > 1 + span * 0.02)
        violations.push(`availability covers ${covered.toFixed(1)} s of a ${span.toFixed(1)} s run`)
    }
  }
  return violations
}

/** The keys of the non-idempotent actions the simulator accepted so far. */
const acceptedKeys = async (controlUrl: string): Promise<ReadonlySet<string>> =>
  new Set(SimActions.nonIdempotentKeys(await Effect.runPromise(SimControl.actions(controlUrl))))

/**
 * Re-verification on resume: an install step that was in flight at a kill is re-run (the journal says it had
 * not taken effect, or starts it again) only if the simulator had not accepted that install by then.
 */
const rerunAfterEffect = (journal: string, acceptedAtKill: ReadonlyArray<ReadonlySet<string>>): Array<string> => {
  if (!existsSync(journal)) return []
  const out: Array<string> = []
  let resume = 0
  for (const line of readFileSync(journal, "utf8").split("\n")) {
    let e: { _tag: string; stepId?: string; effective?: boolean; attempt?: number }
    try {
      e = (JSON.parse(line) as { event: typeof e }).event
    } catch {
      continue
    }
    if (e._tag === "Resumed") resume++
    const rerun =
      (e._tag === "StepVerified" && e.effective === false) || (e._tag === "StepStarted" && (e.attempt ?? 1) > 1)
    const m = rerun && resume > 0 ? /^([^/]+)\/install-(.+)$/.exec(e.stepId ?? "") : null
    if (m === null) continue
    const key = `site/${m[1]}/install-started package=${m[2]}`
    if (acceptedAtKill.slice(0, resume).some((k) => k.has(key)))
      out.push(`resume ${resume} re-ran ${e.stepId} though the simulator had already started that install (${e._tag})`)
  }
  return out
}

const stableViolation = (v: SimActions.Violation): string => {
  const o = v as unknown as Record<string, unknown>
  return Object.entries(o)
    .map(([k, x]) => `${k}=${typeof x === "string" ? x : JSON.stringify(x)}`)
    .join(" ")
}

// ---------------------------------------------------------------------------------------------------------------
// the matrix

const baselineOf = async (scenario: Scenario, options: Options): Promise<Baseline> => {
  const site = await startSite(scenario, options.timeScale, options.to)
  try {
    const p = cli(runArgs(scenario, site, "baseline", options.to), options.env)
    const { code } = await p.exit
    const millis = Date.now() - p.started
    if (code !== 0) throw new Error(`the uninterrupted ${scenario} run exited ${code}:\n${p.out.slice(-3000)}`)
    const log = actionsOf(site, await Effect.runPromise(SimControl.actions(site.sim.controlUrl)))
    const repeats = SimActions.exactlyOnce(log)
    if (repeats.length > 0)
      throw new Error(`the uninterrupted ${scenario} run repeats actions: ${repeats.map(stableViolation).join("; ")}`)
    const text = readFileSync(join(site.runs, "baseline.jsonl"), "utf8")
    const times = text
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => Date.parse((JSON.parse(l) as { event: { at: string } }).event.at))
    const execMillis = Math.max(1_000, times.at(-1)! - times[0]!)
    return {
      keys: SimActions.nonIdempotentKeys(log),
      end: await endState(site),
      millis,
      effectStarts: effectStartsIn(text),
      execMillis
    }
  } finally {
    await site.sim.close()
    if (!options.keep) rmSync(site.dir, { recursive: true, force: true })
  }
}

/** A point's random draws, made up front in order so that the seed alone decides them (whatever the parallelism). */
interface Draw {
  /** `time`: at a uniform instant of the run's execution; `effect`: right after the simulator accepted the n-th non-idempotent action. */
  readonly mode: "time" | "effect"
  readonly runKillFraction: number
  /** `effect`: how long after that action: the square of this fraction times 250 ms (most kills within a few ms). */
  readonly effectDelayFraction: number
  readonly killResume: boolean
  readonly resumeKillFraction: number
}

const point = async (
  index: number,
  scenario: Scenario,
  baseline: Baseline,
  draw: Draw,
  options: Options
): Promise<PointResult> => {
  const site = await startSite(scenario, options.timeScale, options.to)
  const runId = `p${index}`
  const journal = join(site.runs, `${runId}.jsonl`)
  const kills: Array<Kill> = []
  const violations: Array<string> = []
  /** The non-idempotent actions the simulator had accepted when each killed process was gone. */
  const acceptedAtKill: Array<ReadonlySet<string>> = []
  let resumes = 0
  try {
    const { killResume, resumeKillFraction } = draw
    const first = cli(runArgs(scenario, site, runId, options.to), options.env)
    let last = first
    let stillRunning: boolean
    let runKill: number
    let label = "run"
    if (draw.mode === "effect") {
      // right after the simulator accepted the n-th non-idempotent action: the CLI may not have journaled it yet
      const n = 1 + Math.floor(draw.runKillFraction * Math.max(1, baseline.keys.length))
      const delay = Math.round(draw.effectDelayFraction * draw.effectDelayFraction * 250)
      label = `run (${delay} ms after non-idempotent action #${n})`
      stillRunning =
        (await runningUntilAsync(first, async () => (await nonIdempotentActions(site.sim.controlUrl)) >= n)) &&
        (await runningAfter(first, delay))
      runKill = Date.now() - first.started
    } else {
      // uniform over the run's execution: from its first journal record
      const after = draw.runKillFraction * baseline.execMillis
      stillRunning = (await runningUntil(first, () => existsSync(journal))) && (await runningAfter(first, after))
      runKill = Date.now() - first.started
    }
    const step = stepInProgress(journal)
    if (stillRunning) {
      killGroup(first)
      await first.exit
      acceptedAtKill.push(await acceptedKeys(site.sim.controlUrl))
    }
    kills.push({ process: label, afterMs: Math.round(runKill), step, killed: stillRunning })
    let { code } = await first.exit
    // after a kill: resume; a run killed before its journal held a record is started again (nothing happened)
    let again = stillRunning
    let next: "run" | "resume" = "resume"
    while (again) {
      if (resumes >= 6) {
        violations.push("still not ended after 6 resumes")
        break
      }
      resumes++
      const r = cli(next === "run" ? runArgs(scenario, site, runId, options.to) : resumeArgs(site, runId), options.env)
      last = r
      again = false
      if (resumes === 1 && killResume) {
        // somewhere in what is left of the run: after the resume journaled its start
        const resumed = (text: string) => text.split('"_tag":"Resumed"').length - 1
        const before = existsSync(journal) ? resumed(readFileSync(journal, "utf8")) : 0
        const alive =
          (await runningUntil(r, () => existsSync(journal) && resumed(readFileSync(journal, "utf8")) > before)) &&
          (await runningAfter(r, resumeKillFraction * 0.8 * baseline.execMillis))
        const at = Date.now() - r.started
        const s = stepInProgress(journal)
        if (alive) {
          killGroup(r)
          await r.exit
          acceptedAtKill.push(await acceptedKeys(site.sim.controlUrl))
          again = true
        }
        kills.push({ process: `${next} (after the kill)`, afterMs: Math.round(at), step: s, killed: alive })
      }
      ;({ code } = await r.exit)
      if (!again && next === "resume" && code === 2 && r.out.includes("No journal for run")) {
        next = "run"
        again = true
      } else next = "resume"
      if (code === null && !again) violations.push(`${next} died of a signal`)
    }
    violations.push(...(await check(site, runId, baseline, code, options.to)))
    violations.push(...rerunAfterEffect(journal, acceptedAtKill))
    if (violations.length > 0 && options.verbose)
      options.log(`  point ${index}, output of the last command:\n${last.out.slice(-1500)}`)
  } catch (e) {
    violations.push(`harness error: ${e instanceof Error ? e.message : String(e)}`)
  } finally {
    await site.sim.close()
    if (!options.keep) rmSync(site.dir, { recursive: true, force: true })
  }
  return { index, scenario, kills, resumes, violations }
}

const describeKills = (kills: ReadonlyArray<Kill>) =>
  kills
    .map(
      (k) =>
        `${k.process} ${k.killed ? "killed" : "not killed (ended)"} at ${(k.afterMs / 1000).toFixed(1)} s [${k.step}]`
    )
    .join(", ")

/** Run the matrix; one line per failing point, and the summary line last (`crash-matrix: N points, V violations`). */
export const run = async (options: Options): Promise<Summary> => {
  const random = prng(options.seed)
  const baselines = new Map<Scenario, Baseline>()
  for (const s of options.scenarios) {
    const b = await baselineOf(s, options)
    baselines.set(s, b)
    options.log(
      `baseline ${s}: ${(b.millis / 1000).toFixed(1)} s (executing ${(b.execMillis / 1000).toFixed(1)} s), ${b.effectStarts} non-idempotent step starts, ${b.keys.length} non-idempotent actions (${b.keys.join(", ")})`
    )
  }
  const draws: Array<Draw> = Array.from({ length: options.points }, () => ({
    mode: random() < 0.5 ? ("time" as const) : ("effect" as const),
    runKillFraction: 0.03 + 0.87 * random(),
    effectDelayFraction: random(),
    killResume: random() < 0.5,
    resumeKillFraction: 0.05 + 0.9 * random()
  }))
  const results: Array<PointResult> = []
  const indexes = Array.from({ length: options.points }, (_, i) => i).filter(
    (i) => options.only === undefined || options.only.includes(i + 1)
  )
  let nextIndex = 0
  const worker = async () => {
    while (nextIndex < indexes.length) {
      const i = indexes[nextIndex++]!
      const scenario = options.scenarios[i % options.scenarios.length]!
      const r = await point(i + 1, scenario, baselines.get(scenario)!, draws[i]!, options)
      results.push(r)
      if (r.violations.length > 0)
        options.log(
          `point ${r.index} (${scenario}): ${describeKills(r.kills)}; ${r.resumes} resume(s): ${r.violations.join("; ")}`
        )
      else if (options.verbose)
        options.log(`point ${r.index} (${scenario}) ok: ${describeKills(r.kills)}; ${r.resumes} resume(s)`)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, options.parallel ?? 1) }, worker))
  results.sort((a, b) => a.index - b.index)
  const violations = results.reduce((n, r) => n + r.violations.length, 0)
  const perScenario = options.scenarios.map((scenario) => {
    const rs = results.filter((r) => r.scenario === scenario)
    return {
      scenario,
      points: rs.length,
      failing: rs.filter((r) => r.violations.length > 0).length,
      violations: rs.reduce((n, r) => n + r.violations.length, 0),
      kills: rs.reduce((n, r) => n + r.kills.filter((k) => k.killed).length, 0),
      resumes: rs.reduce((n, r) => n + r.resumes, 0),
      baselineSeconds: Math.round(baselines.get(scenario)!.millis / 100) / 10
    }
  })
  for (const s of perScenario)
    options.log(
      `scenario ${s.scenario}: ${s.points} points, ${s.kills} kills, ${s.resumes} resumes, ${s.failing} failing points, ${s.violations} violations`
    )
  options.log(`crash-matrix: ${results.length} points, ${violations} violations`)
  return { points: results.length, violations, results, perScenario }
}
