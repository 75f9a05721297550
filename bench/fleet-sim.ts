/**
 * bench/fleet.ts's default mode: simulated single-appliance sites through the executor alone (the baseline) and
 * through 1 and 3 `sra-upgrade runner` processes on a throwaway PostgreSQL, then the executor's overhead per
 * no-op step (bench/executor.ts). See bench/fleet.ts for the command line.
 */
import { ApplianceClient, SiteConnections } from "@sra-upgrade/appliance-client"
import { ApplianceApi, Executor, Journal, Operator, Site } from "@sra-upgrade/core"
import { Planners, SiteProber } from "@sra-upgrade/failover"
import { Admission, Engine, EngineLayer, FleetFile, FleetStore, Rollout, SiteWorker } from "@sra-upgrade/fleet"
import { TestPostgres } from "@sra-upgrade/fleet/test"
import { SimOperator } from "@sra-upgrade/simulator"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { createInterface } from "node:readline"
import { noopStepOverhead } from "./executor.js"

const root = new URL("..", import.meta.url).pathname
const target = "24.3.2"

/** Peak RSS (VmHWM) of a process, MB. */
export const vmHwmMb = (pid: number) =>
  Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN) / 1024

/** Fields of /proc/<pid>/stat after the command name (fields[0] is the state), or undefined when it is gone. */
const statOf = (pid: number) => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  } catch {
    return undefined
  }
}

/** CPU time (user + system) a process used so far, seconds (clock ticks of 1/100 s). */
const cpuSeconds = (pid: number) => {
  const f = statOf(pid)
  return f === undefined ? 0 : (Number(f[11]) + Number(f[12])) / 100
}

/**
 * CPU time of a PostgreSQL server so far, seconds: the postmaster, its children that exited (reaped: its
 * cutime + cstime) and its live children (the backends).
 */
const postgresCpuSeconds = (dataDir: string) => {
  const pid = Number(fs.readFileSync(path.join(dataDir, "data", "postmaster.pid"), "utf8").split("\n")[0])
  const f = statOf(pid)
  if (f === undefined) return 0
  let ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    const c = statOf(Number(entry))
    if (c !== undefined && Number(c[1]) === pid) ticks += Number(c[11]) + Number(c[12])
  }
  return ticks / 100
}

const selfCpuSeconds = () => {
  const c = process.cpuUsage()
  return (c.user + c.system) / 1e6
}

/** A free TCP port on 127.0.0.1. */
export const freePort = () =>
  new Promise<number>((res) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const p = (srv.address() as net.AddressInfo).port
      srv.close(() => res(p))
    })
  })

/** `BENCH_PROF=DIR`: the simulator and runner processes write V8 CPU profiles there (`--cpu-prof`). */
const profile =
  process.env["BENCH_PROF"] === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${process.env["BENCH_PROF"]}`]

/** `sra-upgrade ARGS` in a process of its own, as a user runs it (tsx, from the repository). */
const cli = (args: ReadonlyArray<string>) =>
  spawn(process.execPath, [...profile, "--no-deprecation", "--import", "tsx", "packages/cli/src/bin.ts", ...args], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"]
  })

/** The first stdout line of `child` that satisfies `test`. */
const lineOf = (child: ChildProcess, label: string, test: (line: string) => boolean) =>
  new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! })
    rl.on("line", (line) => {
      if (test(line)) resolve(line)
    })
    child.once("exit", (code) => reject(new Error(`${label} exited (${code}) before it was ready`)))
  })

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill("SIGTERM")
  })

interface SimSite {
  readonly name: string
  readonly control: string
  readonly siteFile: string
  readonly site: { readonly httpUrl: string; readonly httpsUrl: string }
}

interface Sim {
  readonly child: ChildProcess
  readonly pid: number
  readonly control: string
  readonly sites: ReadonlyArray<SimSite>
  readonly dir: string
}

/** `sra-upgrade sim --sites N --pairs 0 --time-scale X --json --write-site DIR`: N single-appliance sites. */
const startSim = async (n: number, scale: number, dir: string): Promise<Sim> => {
  const child = cli([
    "sim",
    "--sites",
    `${n}`,
    "--pairs",
    "0",
    "--time-scale",
    `${scale}`,
    "--json",
    "--write-site",
    dir
  ])
  const printed = JSON.parse(await lineOf(child, "sra-upgrade sim", (l) => l.startsWith("{"))) as {
    pid: number
    control: string
    sites: ReadonlyArray<SimSite>
  }
  return { child, pid: printed.pid, control: printed.control, sites: printed.sites, dir }
}

/**
 * A fleet file over the simulator's site files: one wave, cap `cap`, no failure allowed (a failed site halts
 * admission), each site's window opened an hour ago (UTC) for 23.5 hours.
 */
const writeFleet = (sim: Sim, id: string, cap: number, now = new Date()) => {
  const opened = new Date(now.getTime() - 3_600_000)
  const day = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"][opened.getUTCDay()]
  const hh = String(opened.getUTCHours()).padStart(2, "0")
  const mm = String(opened.getUTCMinutes() - (opened.getUTCMinutes() % 5)).padStart(2, "0")
  const file = path.join(sim.dir, "fleet.yaml")
  fs.writeFileSync(
    file,
    [
      `id: ${id}`,
      `name: ${id}`,
      "target:",
      `  pra: "${target}"`,
      "waves:",
      "  - { name: all, rest: true }",
      `concurrency: ${cap}`,
      "failureBudget: { count: 0 }",
      "sites:",
      ...sim.sites.flatMap((s) => [
        `  - file: ${path.basename(s.siteFile)}`,
        "    timeZone: UTC",
        `    windows: [{ days: [${day}], start: "${hh}:${mm}", durationMinutes: 1410 }]`
      ])
    ].join("\n") + "\n"
  )
  return Effect.runPromise(
    Effect.map(FleetFile.decodeFleetFile(file), (fleet) => Rollout.plan(fleet, { now: new Date() }))
  )
}

/** How many sites have every appliance on the target version, read from the simulator. */
const sitesOnTarget = async (sim: Sim) => {
  let n = 0
  for (const s of sim.sites) {
    const res = await fetch(`${s.control}/appliances`)
    const appliances = (await res.json()) as ReadonlyArray<{ readonly version: string }>
    if (appliances.length > 0 && appliances.every((a) => a.version === target)) n++
  }
  return n
}

interface Phase {
  readonly label: string
  readonly wallMs: number
  /** CPU seconds of the processes that ran the sites (this one for the baseline; runners + client for the engine). */
  readonly cpuS: number
  /** CPU seconds of PostgreSQL (engine phases). */
  readonly pgCpuS: number
  readonly succeeded: number
  readonly failed: ReadonlyArray<string>
  readonly onTarget: number
  readonly simHwmMb: number
  readonly runnersHwmMb: ReadonlyArray<number>
  readonly steps: number
}

/**
 * The baseline's site worker: for a single appliance of the many-site simulator, what the CLI's worker
 * (packages/cli/src/internal/fleetWorker.ts, which the runners use) does, composed from the packages below the CLI
 * (nothing imports the CLI): the site file's connections (plus the site front's), the single-appliance plan from
 * the versions the appliance reports, compressed by the time scale, the same handlers, prober and simulator
 * operator.
 */
const simSiteWorker = (sim: Sim, scale: number, probeMillis: number | undefined) =>
  Layer.succeed(
    SiteWorker.SiteWorker,
    SiteWorker.SiteWorker.of({
      prepare: (sitePlan) =>
        Effect.gen(function* () {
          const fail = (detail: string) => new SiteWorker.SiteWorkerError({ site: sitePlan.id, detail })
          const simSite = sim.sites.find((s) => s.name === sitePlan.id)
          if (simSite === undefined) return yield* fail("not in the simulator")
          const site = yield* Effect.mapError(Site.decodeSiteFile(sitePlan.path), (e) => fail(e.message))
          const conns = yield* Effect.mapError(SiteConnections.connections(site, { siteFile: sitePlan.path }), (e) =>
            fail(e.message)
          )
          const connections = [...conns, { ...conns[0]!, id: "site", baseUrl: simSite.site.httpsUrl }]
          const appliances = Layer.succeedContext(yield* Layer.build(ApplianceClient.layer(connections)))
          const prober = SiteProber.layer({
            url: simSite.site.httpUrl,
            hostname: site.hostname,
            intervalMillis: probeMillis ?? Math.max(20, Math.round(30_000 / scale)),
            summaryEveryMillis: 1_000
          }).pipe(Layer.provide(appliances))
          const operator = SimOperator.layer({
            controlUrl: simSite.control,
            exportDirectory: path.join(sim.dir, "work", "certificates", sitePlan.id)
          })
          const handlers = Planners.handlers({ baseGraceSeconds: Math.max(1, 300 / scale) })
          const executor = Executor.layer.pipe(
            Layer.provide(
              Layer.mergeAll(handlers.pipe(Layer.provide(Layer.mergeAll(appliances, prober))), operator, prober)
            )
          )
          const plan = Effect.gen(function* () {
            const current = yield* Effect.forEach(site.appliances, (a) =>
              Effect.flatMap(ApplianceApi.ApplianceApi, (api) =>
                Effect.flatMap(api.appliance(a.id), (c) => c.health)
              ).pipe(Effect.map((h) => [a.id, { product: h.version, build: h.build }] as const))
            ).pipe(
              Effect.provide(appliances),
              Effect.mapError((e) => fail(`cannot read the appliances' versions: ${e.message}`))
            )
            const built = yield* Effect.mapError(
              Planners.plan(site, sitePlan.targetVersion, "single", {
                current: new Map(current),
                now: new Date(),
                siteUrl: simSite.site.httpUrl
              }),
              (e) => fail(e.message)
            )
            return Planners.compress(built, scale)
          })
          return { plan, executor }
        })
    })
  )

/** The baseline: every site's plan run directly by the executor (memory journal), `cap` at a time. */
const baseline = (plan: Rollout.RolloutPlan, sim: Sim, scale: number, cap: number, probeMillis: number | undefined) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const worker = yield* SiteWorker.SiteWorker
      let steps = 0
      const outcomes = yield* Effect.forEach(
        plan.sites,
        (site) =>
          Effect.scoped(
            Effect.gen(function* () {
              const prepared = yield* worker.prepare(site, plan.rolloutId)
              const built = yield* prepared.plan
              steps += built.steps.length
              const report = yield* Executor.run(built, { runId: `${plan.rolloutId}-${site.id}` }).pipe(
                Effect.provide(Layer.provide(prepared.executor, Operator.layerAutoApprove("bench")))
              )
              return report.status === "succeeded" ? undefined : `${site.id}: ${report.status}`
            })
          ).pipe(Effect.catchAll((e) => Effect.succeed(`${site.id}: ${e.message}`))),
        { concurrency: cap }
      )
      return { steps, failed: outcomes.filter((o): o is string => o !== undefined) }
    }).pipe(Effect.provide(Layer.merge(simSiteWorker(sim, scale, probeMillis), Journal.layerMemory)))
  )

/**
 * Ends when no site of the rollout has finished for `minutes` (read from the rollout's ledger every 10 s), with
 * the sites' states then: a stalled rollout is reported, not waited for forever.
 */
const stalled = (plan: Rollout.RolloutPlan, minutes: number) =>
  Effect.gen(function* () {
    const store = yield* FleetStore.FleetStore
    let finished = -1
    let since = Date.now()
    for (;;) {
      yield* Effect.sleep("10 seconds")
      const { ledger } = yield* store.get(plan.rolloutId)
      const states = plan.sites.map((s) => Admission.stateOf(ledger, s.id)._tag)
      const counts = Object.fromEntries([...new Set(states)].map((t) => [t, states.filter((x) => x === t).length]))
      const done = (counts.Succeeded ?? 0) + (counts.Failed ?? 0) + (counts.Skipped ?? 0)
      if (done !== finished) {
        finished = done
        since = Date.now()
      } else if (Date.now() - since > minutes * 60_000)
        return { status: `stalled: no site finished for ${minutes} min`, counts, stalled: true }
    }
  })

/** The rollout through `n` `sra-upgrade runner` processes on a fresh PostgreSQL, started and awaited from here. */
const throughRunners = (
  plan: Rollout.RolloutPlan,
  sim: Sim,
  scale: number,
  n: number,
  stallMinutes: number,
  probeMillis: number | undefined
) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const srv = yield* TestPostgres.start
        const runners: Array<ChildProcess> = []
        yield* Effect.addFinalizer(() => Effect.promise(() => Promise.all(runners.map(stop))))
        for (let i = 0; i < n; i++) {
          const port = yield* Effect.promise(freePort)
          const child = cli([
            "runner",
            "--database",
            srv.url,
            "--port",
            `${port}`,
            "--simulator",
            sim.control,
            "--time-scale",
            `${scale}`,
            ...(probeMillis === undefined ? [] : ["--probe-interval", `${probeMillis}`])
          ])
          runners.push(child)
          yield* Effect.promise(() => lineOf(child, `runner ${i + 1}`, (l) => l.includes("ready")))
        }
        const cpu0 = runners.reduce((s, r) => s + cpuSeconds(r.pid!), 0) + selfCpuSeconds()
        const pg0 = postgresCpuSeconds(srv.dataDir)
        const t0 = performance.now()
        const result = yield* Effect.gen(function* () {
          yield* Engine.start(plan)
          const ended = yield* Effect.raceFirst(
            Effect.map(Engine.awaitEnd(plan.rolloutId), (r) => ({
              status: r.status,
              counts: r.counts,
              stalled: false
            })),
            stalled(plan, stallMinutes)
          )
          // why each failed site failed, from the rollout's ledger
          const { ledger } = yield* (yield* FleetStore.FleetStore).get(plan.rolloutId)
          const reasons = plan.sites.flatMap((s) => {
            const st = Admission.stateOf(ledger, s.id)
            return st._tag === "Failed" ? [`${s.id}: ${st.reason}`] : []
          })
          return { ...ended, reasons }
        }).pipe(Effect.provide(EngineLayer.client({ url: Redacted.make(srv.url) })))
        const wallMs = performance.now() - t0
        const cpuS = runners.reduce((s, r) => s + cpuSeconds(r.pid!), 0) + selfCpuSeconds() - cpu0
        const pgCpuS = postgresCpuSeconds(srv.dataDir) - pg0
        return { result, wallMs, cpuS, pgCpuS, runnersHwmMb: runners.map((r) => vmHwmMb(r.pid!)) }
      })
    )
  )

const runPhase = async (
  label: string,
  runners: number,
  n: number,
  cap: number,
  scale: number,
  base: string,
  stallMinutes: number,
  probeMillis: number | undefined
): Promise<Phase> => {
  const dir = path.join(base, label.replace(/\W+/g, "-"))
  fs.mkdirSync(dir, { recursive: true })
  const sim = await startSim(n, scale, dir)
  try {
    const plan = await writeFleet(sim, `bench-${runners}`, cap)
    let phase: Omit<Phase, "onTarget" | "simHwmMb" | "steps">
    let steps = 0
    if (runners === 0) {
      const cpu0 = selfCpuSeconds()
      const t0 = performance.now()
      const r = await baseline(plan, sim, scale, cap, probeMillis)
      steps = r.steps
      phase = {
        label,
        wallMs: performance.now() - t0,
        cpuS: selfCpuSeconds() - cpu0,
        pgCpuS: 0,
        succeeded: n - r.failed.length,
        failed: r.failed,
        runnersHwmMb: []
      }
    } else {
      const r = await throughRunners(plan, sim, scale, runners, stallMinutes, probeMillis)
      const { counts } = r.result
      const succeeded = "succeeded" in counts ? counts.succeeded : (counts.Succeeded ?? 0)
      phase = {
        label,
        wallMs: r.wallMs,
        cpuS: r.cpuS,
        pgCpuS: r.pgCpuS,
        succeeded,
        failed: succeeded === n ? [] : [`rollout ${r.result.status}: ${JSON.stringify(counts)}`, ...r.result.reasons],
        runnersHwmMb: r.runnersHwmMb
      }
    }
    return { ...phase, steps, onTarget: await sitesOnTarget(sim), simHwmMb: vmHwmMb(sim.pid) }
  } finally {
    await stop(sim.child)
  }
}

const fmt = (x: number, digits = 0) =>
  x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })

/** `bench/fleet.ts [sites=200] [cap=50] [timeScale=600] [runners=1,3] [stallMinutes=5] [probeMillis]`. */
export const main = async (args: ReadonlyArray<string>) => {
  const [n = 200, cap = 50, scale = 600] = args.slice(0, 3).map(Number)
  // "0": the baseline only
  const runnerCounts = (args[3] ?? "1,3")
    .split(",")
    .map(Number)
    .filter((r) => r > 0)
  const stallMinutes = Number(args[4] ?? 5)
  // the site prober's interval, baseline and runners alike (default: 30 s of simulated time, at least 20 ms)
  const probeMillis = args[5] === undefined ? undefined : Number(args[5])
  console.log(
    `fleet bench: ${n} simulated single-appliance sites (sra-upgrade sim --sites ${n} --pairs 0, time x${scale}), cap ${cap}, site probes every ${probeMillis ?? Math.max(20, Math.round(30_000 / scale))} ms; node ${process.version}, ${os.cpus().length} cpus, load ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}`
  )
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "sra-bench-fleet-sim-"))
  const phases: Array<Phase> = []
  const say = (p: Phase) => {
    const b = phases[0]!
    const steps = b.steps
    const pad = "".padEnd(36)
    console.log(
      `${p.label.padEnd(36)} ${fmt(p.wallMs / 1000, 1).padStart(7)} s wall, ${fmt((n / p.wallMs) * 60_000)} sites/min; ` +
        (p === b
          ? `CPU ${fmt(p.cpuS, 1)} s (this process); ${fmt(steps)} steps (${fmt(steps / n, 1)} per site)`
          : `CPU ${fmt(p.cpuS, 1)} s (runners + client) + ${fmt(p.pgCpuS, 1)} s (PostgreSQL)`)
    )
    if (p !== b && (p.succeeded !== n || b.succeeded !== n))
      console.log(`${pad} engine overhead: not computed (not every site succeeded)`)
    else if (p !== b) {
      const perSite = (p.wallMs - b.wallMs) / n
      console.log(
        `${pad} engine overhead: ${fmt(perSite, 1)} ms/site, ${fmt((perSite * n) / steps, 2)} ms/step wall; ` +
          `${fmt(((p.cpuS - b.cpuS) * 1000) / steps, 2)} ms/step CPU (${fmt(((p.cpuS + p.pgCpuS - b.cpuS) * 1000) / steps, 2)} with PostgreSQL's)`
      )
    }
    console.log(
      `${pad} sites succeeded ${p.succeeded}/${n}, on ${target} in the simulator ${p.onTarget}/${n}; peak RSS (VmHWM): simulator ${fmt(p.simHwmMb)} MB` +
        (p.runnersHwmMb.length > 0 ? `, runners ${p.runnersHwmMb.map((m) => `${fmt(m)} MB`).join(", ")}` : "")
    )
    for (const f of p.failed.slice(0, 5)) console.log(`${pad} FAILED ${f}`)
  }
  try {
    phases.push(await runPhase("baseline: executor, memory journal", 0, n, cap, scale, base, stallMinutes, probeMillis))
    say(phases[0]!)
    if (TestPostgres.binDir() === undefined) console.log("PostgreSQL: skipped (no initdb)")
    else
      for (const r of runnerCounts) {
        const p = await runPhase(
          `${r} runner process${r > 1 ? "es" : ""}, PostgreSQL`,
          r,
          n,
          cap,
          scale,
          base,
          stallMinutes,
          probeMillis
        )
        phases.push(p)
        say(p)
      }
    console.log(`peak RSS of this process (baseline + client): ${fmt(process.resourceUsage().maxRSS / 1024)} MB`)
    console.log("")
    await noopStepOverhead()
  } finally {
    fs.rmSync(base, { recursive: true, force: true })
  }
  const bad = phases.filter((p) => p.succeeded !== n || p.onTarget !== n || p.failed.length > 0)
  if (bad.length > 0) {
    console.log(`NOT ALL SITES SUCCEEDED: ${bad.map((p) => p.label).join("; ")}`)
    process.exit(1)
  }
  console.log(`every site of every phase succeeded and runs ${target}`)
  process.exit(0)
}
