/**
 * Executor benchmark (issues 3 and 16):
 * 1. the executor's overhead per no-op step with the memory journal: a plan of
 *    `steps` no-op actions run by `Executor.run`, beside two baselines without the
 *    executor: the bare handlers (`Effect.forEach`), and the handlers plus the two
 *    journal appends a step writes (`StepStarted`, `StepSucceeded`) into
 *    `Journal.layerMemory`; in rotating rounds; medians of wall and CPU time
 *    (CPU time is the steadier figure on a shared machine), RSS and heap;
 *    then many short runs through one executor (a fleet's shape: `runs` plans of
 *    `runSteps` steps, the executor layer built once), beside baseline 2 over as
 *    many steps;
 * 2. journal append throughput, records/s with fsync after each record, beside a
 *    raw `fs.appendFileSync(fd) + fs.fsyncSync(fd)` loop of the same lines;
 * 3. the executor with the JSONL file journal (two fsyncs per step).
 *
 * Run: pnpm exec tsx bench/executor.ts [steps=2000] [rounds=7] [records=200] [fileSteps=500] [runs=200] [runSteps=50]
 */
import { Executor, Journal, Operator, Plan, RunEvent, RunHistory, StepHandler } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"

const tmp = (name: string) => fs.mkdtempSync(path.join(os.tmpdir(), `sra-bench-${name}-`))
const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const mb = (bytes: number) => `${fmt(bytes / 1024 / 1024, 1)} MB`

interface Sample {
  readonly wallMs: number
  readonly cpuMs: number
}
/** Wall and CPU (user + system) time of one round. */
const measure = async (f: () => Promise<unknown>): Promise<Sample> => {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  await f()
  const wallMs = performance.now() - t0
  const c = process.cpuUsage(c0)
  return { wallMs, cpuMs: (c.user + c.system) / 1000 }
}

const rule = Schema.decodeSync(Plan.RuleId)("PREP-1")
const planOf = (steps: number) =>
  new Plan.Plan({
    id: "bench",
    kind: "custom",
    title: "no-op",
    site: "bench",
    targetVersion: "0",
    notes: [],
    steps: Array.from(
      { length: steps },
      (_, i) =>
        new Plan.Action({
          id: `s${i}`,
          title: `no-op ${i}`,
          rules: [rule],
          estimatedSeconds: 0,
          handler: "noop",
          params: {},
          idempotent: true,
          notes: []
        })
    )
  })
const noop: StepHandler.Handler = { run: () => Effect.succeed({}) }
const handlers = StepHandler.layerRaw({ noop })

const runExecutor = (plan: Plan.Plan, journal: Layer.Layer<Journal.Journal, Journal.JournalError>) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const report = yield* Executor.run(plan, { runId: "bench" })
      if (report.status !== "succeeded") throw new Error(`run ${report.status}`)
    }).pipe(
      Effect.provide(Executor.layer.pipe(Layer.provide(Layer.mergeAll(handlers, Operator.layerAutoApprove(), journal))))
    )
  )

/** The first baseline: the bare handlers. */
const runBare = (plan: Plan.Plan) =>
  Effect.runPromise(
    Effect.forEach(
      plan.steps,
      (step) => noop.run!({ runId: "bench", plan, step, attempt: 1, history: RunHistory.make([]) }),
      { discard: true }
    )
  )

/** The second baseline: per step the no-op handler and the two records a step journals, without the executor. */
const runBaseline = (plan: Plan.Plan) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const journal = yield* Journal.Journal
      yield* journal.create("bench")
      const history = RunHistory.make([])
      let seq = 0
      for (const step of plan.steps) {
        const at = new Date()
        yield* journal.append(
          new RunEvent.Envelope(
            { runId: "bench", seq: ++seq, event: new RunEvent.StepStarted({ stepId: step.id, attempt: 1, at }, true) },
            true
          )
        )
        const evidence = yield* noop.run!({ runId: "bench", plan, step, attempt: 1, history })
        yield* journal.append(
          new RunEvent.Envelope(
            {
              runId: "bench",
              seq: ++seq,
              event: new RunEvent.StepSucceeded({ stepId: step.id, evidence, warnings: [], at: new Date() }, true)
            },
            true
          )
        )
      }
    }).pipe(Effect.provide(Journal.layerMemory))
  )

/**
 * 1. The executor's overhead per no-op step with the memory journal, beside its two baselines (also printed by
 * bench/fleet.ts). Prints its lines through `say`; returns the median overhead over baseline 2 in µs per step.
 */
export const noopStepOverhead = async (
  steps = 2000,
  rounds = 7,
  say: (line: string) => void = console.log
): Promise<{ readonly wallUs: number; readonly cpuUs: number }> => {
  const plan = planOf(steps)
  // warm-up (JIT) of every contender
  await runBare(plan)
  await runBaseline(plan)
  await runExecutor(plan, Journal.layerMemory)
  const bare: Array<Sample> = []
  const base: Array<Sample> = []
  const exec: Array<Sample> = []
  let rssAfterExec = 0
  let heapAfterExec = 0
  const contenders = [
    async () => bare.push(await measure(() => runBare(plan))),
    async () => base.push(await measure(() => runBaseline(plan))),
    async () => {
      exec.push(await measure(() => runExecutor(plan, Journal.layerMemory)))
      const m = process.memoryUsage()
      rssAfterExec = Math.max(rssAfterExec, m.rss)
      heapAfterExec = Math.max(heapAfterExec, m.heapUsed)
    }
  ]
  for (let r = 0; r < rounds; r++) {
    // rotate the order (load on a shared machine varies)
    for (let k = 0; k < contenders.length; k++) await contenders[(r + k) % contenders.length]!()
  }
  const us = (ms: number) => (ms * 1000) / steps
  const row = (label: string, xs: ReadonlyArray<Sample>) =>
    `  ${label.padEnd(44)}: ${fmt(us(median(xs.map((s) => s.wallMs))), 1).padStart(7)} µs/step wall, ${fmt(
      us(median(xs.map((s) => s.cpuMs))),
      1
    ).padStart(7)} µs/step CPU`
  say(`executor, ${fmt(steps)} no-op steps, memory journal (medians of ${rounds} rotating rounds)`)
  say(row("baseline 1: Effect.forEach over the handlers", bare))
  say(row("baseline 2: handlers + 2 memory appends", base))
  say(row("Executor.run + Journal.layerMemory", exec))
  const overhead = (label: string, against: ReadonlyArray<Sample>) => {
    const wallUs = us(median(exec.map((s, i) => s.wallMs - against[i]!.wallMs)))
    const cpuUs = us(median(exec.map((s, i) => s.cpuMs - against[i]!.cpuMs)))
    say(`  ${label.padEnd(44)}: ${fmt(wallUs, 1).padStart(7)} µs/step wall, ${fmt(cpuUs, 1).padStart(7)} µs/step CPU`)
    return { wallUs, cpuUs }
  }
  overhead("overhead per step, vs baseline 1", bare)
  const result = overhead("overhead per step, vs baseline 2", base)
  say(
    `  RSS ${mb(rssAfterExec)} (peak of the process so far ${mb(process.resourceUsage().maxRSS * 1024)}), heap used ${mb(heapAfterExec)}`
  )
  say("")
  return result
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href

if (isMain) {
  const STEPS = Number(process.argv[2] ?? 2000)
  const ROUNDS = Number(process.argv[3] ?? 7)
  const RECORDS = Number(process.argv[4] ?? 200)
  const FILE_STEPS = Number(process.argv[5] ?? 500)
  const RUNS = Number(process.argv[6] ?? 200)
  const RUN_STEPS = Number(process.argv[7] ?? 50)

  console.log(
    `node ${process.version}, ${os.cpus().length} CPUs, load ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}, tmpdir ${os.tmpdir()}`
  )
  console.log("")

  // 1. executor overhead per no-op step, memory journal
  await noopStepOverhead(STEPS, ROUNDS)

  // 1b. many short runs through one executor
  {
    const plan = planOf(RUN_STEPS)
    const runtime = ManagedRuntime.make(
      Executor.layer.pipe(Layer.provide(Layer.mergeAll(handlers, Operator.layerAutoApprove(), Journal.layerMemory)))
    )
    let n = 0
    const runMany = () =>
      measure(async () => {
        for (let i = 0; i < RUNS; i++) {
          const report = await runtime.runPromise(Executor.run(plan, { runId: `bench-${++n}` }))
          if (report.status !== "succeeded") throw new Error(`run ${report.status}`)
        }
      })
    const baseMany = () =>
      measure(async () => {
        for (let i = 0; i < RUNS; i++) await runBaseline(plan)
      })
    await runMany() // warm-up
    await baseMany()
    const exec: Array<Sample> = []
    const base: Array<Sample> = []
    for (let r = 0; r < 3; r++) {
      exec.push(await runMany())
      base.push(await baseMany())
    }
    await runtime.dispose()
    const steps = RUNS * RUN_STEPS
    const row = (label: string, xs: ReadonlyArray<Sample>) => {
      const wall = median(xs.map((s) => s.wallMs))
      const cpu = median(xs.map((s) => s.cpuMs))
      return `  ${label.padEnd(44)}: ${fmt((wall * 1000) / steps, 1).padStart(7)} µs/step wall, ${fmt(
        (cpu * 1000) / steps,
        1
      ).padStart(7)} µs/step CPU, ${fmt(wall / RUNS, 2)} ms/run wall`
    }
    console.log(`${fmt(RUNS)} runs of ${fmt(RUN_STEPS)} no-op steps through one executor (medians of 3 rounds)`)
    console.log(row("baseline 2: handlers + 2 memory appends", base))
    console.log(row("Executor.run + Journal.layerMemory", exec))
    console.log("")
  }

  // 2. journal append throughput: alternate raw and journal rounds (disk and load vary), keep the median
  {
    const at = new Date()
    const envelope = (seq: number) =>
      new RunEvent.Envelope({
        runId: "bench",
        seq,
        event: new RunEvent.StepStarted({ stepId: `step-${seq}`, attempt: 1, at })
      })
    const encode = Schema.encodeSync(RunEvent.Envelope)
    const rawRound = () =>
      measure(async () => {
        const dir = tmp("raw")
        const fd = fs.openSync(path.join(dir, "raw.jsonl"), "a")
        for (let i = 1; i <= RECORDS; i++) {
          fs.appendFileSync(fd, JSON.stringify(encode(envelope(i))) + "\n")
          fs.fsyncSync(fd)
        }
        fs.closeSync(fd)
      })
    const journalRound = () =>
      measure(() =>
        Effect.runPromise(
          Effect.gen(function* () {
            const j = yield* Journal.Journal
            yield* j.create("bench")
            for (let i = 1; i <= RECORDS; i++) yield* j.append(envelope(i))
          }).pipe(Effect.provide(Journal.layer({ directory: tmp("journal") })))
        )
      )
    const raw: Array<number> = []
    const journal: Array<number> = []
    for (let r = 0; r < 3; r++) {
      raw.push((await rawRound()).wallMs)
      journal.push((await journalRound()).wallMs)
    }
    console.log(`journal append with fsync (${fmt(RECORDS)} records, median of 3 alternating rounds)`)
    console.log(`  baseline fs.appendFileSync(fd)+fsyncSync : ${fmt(RECORDS / (median(raw) / 1000))} records/s`)
    console.log(`  Journal.layer (JSONL)                    : ${fmt(RECORDS / (median(journal) / 1000))} records/s`)
    console.log("")
  }

  // 3. the executor with the file journal (fsync twice per step)
  {
    const plan = planOf(FILE_STEPS)
    const dir = tmp("exec")
    const s = await measure(() => runExecutor(plan, Journal.layer({ directory: dir })))
    const records = fs.readFileSync(path.join(dir, "bench.jsonl"), "utf8").split("\n").length - 1
    console.log(`executor, ${fmt(FILE_STEPS)} no-op steps, JSONL journal (${fmt(records)} records, fsync each)`)
    console.log(
      `  Executor.run + Journal.layer              : ${fmt((s.wallMs * 1000) / FILE_STEPS, 1)} µs/step wall, ${fmt(
        (s.cpuMs * 1000) / FILE_STEPS,
        1
      )} µs/step CPU`
    )
  }
}
