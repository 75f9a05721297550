/**
 * The fleet engine at scale, beside its baseline in one run (issue 16).
 *
 * Default mode: `sites` simulated single-appliance sites (one `sra-upgrade sim --sites N --pairs 0` process,
 * time-scaled), each upgraded by its real plan (the single-appliance planner, over HTTP to the simulator, as
 * `sra-upgrade runner --simulator` does with site files):
 * (1) baseline: the same sites run directly by the executor (no engine: the CLI's site worker, memory journal,
 *     `cap` at a time);
 * (2) through 1 and through 3 `sra-upgrade runner` processes on a throwaway PostgreSQL (TestPostgres; skipped
 *     when absent), the rollout (the fleet file over the site files, cap `cap`) started and awaited by a client in
 *     this process.
 * Each phase gets a fresh simulator. Prints sites per minute, the engine's overhead per site and per step over
 * the baseline (wall time, and CPU time of the runners), the peak RSS (VmHWM) of each runner and of the
 * simulator, checks that every site ended succeeded (the rollout's counts or the executor's reports, and every
 * appliance's version read back from the simulator), and the executor's overhead per no-op step (bench/executor.ts).
 *
 *   pnpm exec tsx bench/fleet.ts [sites=200] [cap=50] [timeScale=600] [runners=1,3] [stallMinutes=5] [probeMillis]
 *
 * `probeMillis`: how often each site's address is probed while its run goes on, in the baseline and the runners
 * (`--probe-interval`); default 30 s of simulated time (50 ms at x600: 1,000 probes a second for 50 sites at once,
 * which then dominate what is measured).
 *
 * `BENCH_PROF=DIR` (environment): the simulator and runner processes write V8 CPU profiles (`.cpuprofile`) to DIR.
 *
 * `runners`: the runner counts to measure, one phase each. A phase in which no site finished for `stallMinutes`
 * is reported as stalled with its sites' states (the bench then fails).
 *
 * `--noop` mode: sites whose plans are no-op steps (the engine's own cost, no appliances), through the executor
 * (baseline), the embedded engine (SQLite) and 1 and 3 runner processes on PostgreSQL:
 *
 *   pnpm exec tsx bench/fleet.ts --noop [sites=200] [steps=3] [cap=50]
 */
import { Executor, Journal, Operator, Plan, StepHandler } from "@sra-upgrade/core"
import { Engine, EngineLayer, FleetFile, Rollout, SiteWindow, SiteWorker } from "@sra-upgrade/fleet"
import { TestPostgres } from "@sra-upgrade/fleet/test"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SimBench from "./fleet-sim.js"
import { freePort, vmHwmMb } from "./fleet-sim.js"

const runnerMode = process.argv[2] === "--runner"
const noopMode = process.argv[2] === "--noop"
const [sites = 200, steps = 3, cap = 50] = noopMode ? process.argv.slice(3).map(Number) : []

const always = [
  new SiteWindow.WeeklyWindow({ timeZone: "UTC", days: ["mon"], start: "00:00", durationMinutes: 7 * 24 * 60 - 60 })
]

const planOf = (id: string) =>
  new Plan.Plan({
    id: `upgrade-${id}`,
    kind: "custom",
    title: `Upgrade ${id}`,
    site: `${id}.example.com`,
    targetVersion: "24.3.2",
    steps: Array.from(
      { length: steps },
      (_, i) =>
        new Plan.Action({
          id: `s${i}`,
          title: `Step ${i}`,
          rules: [Schema.decodeSync(Plan.RuleId)("PREP-1")],
          target: "A",
          estimatedSeconds: 1,
          handler: "noop",
          params: {},
          idempotent: true,
          notes: []
        })
    ),
    notes: []
  })

const handlers = Layer.mergeAll(
  StepHandler.layerRaw({ noop: { run: () => Effect.succeed({}) } }),
  Operator.layerAutoApprove("bench")
)
const executor = Executor.layer.pipe(Layer.provide(handlers))

const worker = Layer.succeed(
  SiteWorker.SiteWorker,
  SiteWorker.SiteWorker.of({ prepare: (site) => Effect.succeed({ plan: Effect.succeed(planOf(site.id)), executor }) })
)

const rollout = (id: string) => {
  const ids = Array.from({ length: sites }, (_, i) => `site-${String(i + 1).padStart(4, "0")}`)
  return new Rollout.RolloutPlan({
    rolloutId: id,
    name: id,
    file: "bench",
    plannedAt: new Date(),
    target: new FleetFile.TargetVersions({ pra: "24.3.2" }),
    concurrency: cap,
    failureBudget: new FleetFile.FailureBudget({ count: 0 }),
    allowedFailures: 0,
    waves: [new Rollout.WavePlan({ index: 0, name: "all", canary: false, approval: false, sites: ids })],
    sites: ids.map(
      (sid) =>
        new Rollout.SitePlan({
          id: sid,
          file: `${sid}.yaml`,
          path: `/bench/${sid}.yaml`,
          hostname: `${sid}.example.com`,
          product: "pra",
          kind: "single",
          wave: 0,
          timeZone: "UTC",
          windows: always,
          targetVersion: "24.3.2",
          estimate: new Rollout.SiteEstimate({
            source: "install-estimate",
            firstWindowSeconds: 60,
            explanation: "bench"
          }),
          fitsWindow: true,
          warnings: []
        })
    ),
    assumptions: [],
    warnings: []
  })
}

const timed = async <A>(f: () => Promise<A>) => {
  const t = performance.now()
  const a = await f()
  return { a, ms: performance.now() - t }
}

const baseline = () =>
  Effect.runPromise(
    Effect.forEach(
      Array.from({ length: sites }, (_, i) => `site-${i}`),
      (id) => Executor.run(planOf(id), { runId: `bench-${id}` }),
      { concurrency: cap, discard: true }
    ).pipe(Effect.provide(executor.pipe(Layer.provide(Journal.layerMemory))))
  )

const throughEngine = (
  layer: Layer.Layer<EngineLayer.Services, EngineLayer.EngineError, SiteWorker.SiteWorker>,
  id: string
) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const plan = rollout(id)
      yield* Engine.start(plan)
      const r = yield* Engine.awaitEnd(plan.rolloutId)
      if (r.counts.succeeded !== sites) throw new Error(`rollout ended ${r.status}: ${JSON.stringify(r.counts)}`)
      return r
    }).pipe(Effect.provide(layer.pipe(Layer.provide(worker))), Effect.scoped)
  )

const row = (label: string, ms: number, base: number) => {
  const perSite = (ms - base) / sites
  console.log(
    `${label.padEnd(34)} ${(ms / 1000).toFixed(2).padStart(8)} s ${((sites / ms) * 60_000).toFixed(0).padStart(8)} sites/min` +
      (base > 0 ? `   overhead ${perSite.toFixed(1)} ms/site, ${(perSite / steps).toFixed(2)} ms/step` : "")
  )
}

/** A runner process: `--runner URL PORT`; prints "ready" once its engine is up, runs until killed. */
const runnerMain = (url: string, port: number) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        yield* Layer.build(
          EngineLayer.runner({ url: Redacted.make(url), host: "127.0.0.1", port, pollInterval: "200 millis" }).pipe(
            Layer.provide(worker)
          )
        )
        console.log("ready")
        return yield* Effect.never
      })
    )
  )

const noopMain = async () => {
  console.log(
    `fleet engine bench: ${sites} sites x ${steps} no-op steps, cap ${cap}; node ${process.version}, ${os.cpus().length} cpus`
  )
  const base = await timed(baseline)
  row("baseline: executor, memory journal", base.ms, 0)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sra-bench-fleet-"))
  const sqlite = await timed(() =>
    throughEngine(
      EngineLayer.embedded({ file: path.join(dir, "fleet.db"), pollInterval: "200 millis" }),
      "bench-sqlite"
    )
  )
  row("embedded engine, SQLite", sqlite.ms, base.ms)
  const pgBin = TestPostgres.binDir()
  if (pgBin === undefined) console.log("PostgreSQL: skipped (no initdb)")
  else {
    for (const n of [1, 3]) {
      const { ms, hwm } = await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const srv = yield* TestPostgres.start
            const runners: Array<ChildProcess> = []
            yield* Effect.addFinalizer(() =>
              Effect.sync(() => {
                for (const r of runners) r.kill("SIGTERM")
              })
            )
            // one after the other: each prints "ready" once its engine is up
            for (let i = 0; i < n; i++) {
              const port = yield* Effect.promise(freePort)
              const child = spawn(
                process.execPath,
                ["--import", "tsx", process.argv[1]!, "--runner", srv.url, String(port)],
                {
                  stdio: ["ignore", "pipe", "inherit"]
                }
              )
              runners.push(child)
              yield* Effect.promise(
                () =>
                  new Promise<void>((res, rej) => {
                    let out = ""
                    child.stdout!.on("data", (b: Buffer) => {
                      out += b.toString()
                      if (out.includes("ready")) res()
                    })
                    child.on("exit", (code) => rej(new Error(`runner ${i + 1} exited ${code}`)))
                  })
              )
            }
            const t = yield* Effect.promise(() =>
              timed(() => throughEngine(EngineLayer.client({ url: Redacted.make(srv.url) }), `bench-pg-${n}`))
            )
            const hwm = runners.map((r) => vmHwmMb(r.pid!))
            return { ms: t.ms, hwm }
          })
        )
      )
      row(`${n} runner process${n > 1 ? "es" : ""}, PostgreSQL`, ms, base.ms)
      console.log(`${"".padEnd(34)} peak RSS (VmHWM) per runner: ${hwm.map((m) => `${m.toFixed(0)} MB`).join(", ")}`)
    }
  }
  console.log(`peak RSS of this process: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`)
  fs.rmSync(dir, { recursive: true, force: true })
  process.exit(0)
}

;(runnerMode
  ? runnerMain(process.argv[3]!, Number(process.argv[4]))
  : noopMode
    ? noopMain()
    : SimBench.main(process.argv.slice(2))
).catch((e) => {
  console.error(e)
  process.exit(1)
})
