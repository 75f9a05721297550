/**
 * Executor benchmark (issue 3):
 * 1. journal append throughput, records/s with fsync after each record,
 *    beside a raw `fs.appendFileSync(fd) + fs.fsyncSync(fd)` loop of the same lines;
 * 2. executor overhead per step for a 10,000-step plan of no-op steps, with the
 *    memory journal and with the JSONL file journal, beside a plain
 *    `Effect.forEach` over the same no-op handlers.
 *
 * Run: pnpm exec tsx bench/executor.ts [records=1000] [steps=10000]
 */
import { Executor, Journal, Operator, Plan, RunEvent, RunHistory, StepHandler } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const RECORDS = Number(process.argv[2] ?? 1000)
const STEPS = Number(process.argv[3] ?? 10_000)

const tmp = (name: string) => fs.mkdtempSync(path.join(os.tmpdir(), `sra-bench-${name}-`))
const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits })
const time = async (f: () => Promise<unknown>) => {
  const t0 = performance.now()
  await f()
  return performance.now() - t0
}

const at = new Date()
const envelope = (seq: number) =>
  new RunEvent.Envelope({
    runId: "bench",
    seq,
    event: new RunEvent.StepStarted({ stepId: `step-${seq}`, attempt: 1, at })
  })
const encode = Schema.encodeSync(RunEvent.Envelope)

// 1. journal append throughput: alternate raw and journal rounds (disk and load vary), keep the median
const ROUNDS = 3
const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const rawRound = () =>
  time(async () => {
    const dir = tmp("raw")
    const fd = fs.openSync(path.join(dir, "raw.jsonl"), "a")
    for (let i = 1; i <= RECORDS; i++) {
      fs.appendFileSync(fd, JSON.stringify(encode(envelope(i))) + "\n")
      fs.fsyncSync(fd)
    }
    fs.closeSync(fd)
  })
const journalRound = () =>
  time(() =>
    Effect.runPromise(
      Effect.gen(function* () {
        const j = yield* Journal.Journal
        yield* j.create("bench")
        for (let i = 1; i <= RECORDS; i++) yield* j.append(envelope(i))
      }).pipe(Effect.provide(Journal.layer({ directory: tmp("journal") })))
    )
  )
const rawTimes: Array<number> = []
const journalTimes: Array<number> = []
for (let r = 0; r < ROUNDS; r++) {
  rawTimes.push(await rawRound())
  journalTimes.push(await journalRound())
}
const rawMs = median(rawTimes)
const journalMs = median(journalTimes)

// 2. executor overhead per step
const rule = Schema.decodeSync(Plan.RuleId)("PREP-1")
const plan = new Plan.Plan({
  id: "bench",
  kind: "custom",
  title: "no-op",
  site: "bench",
  targetVersion: "0",
  notes: [],
  steps: Array.from(
    { length: STEPS },
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

const baselineMs = await time(() =>
  Effect.runPromise(
    Effect.forEach(
      plan.steps,
      (step) => noop.run!({ runId: "bench", plan, step, attempt: 1, history: RunHistory.make([]) }),
      { discard: true }
    )
  )
)
const runWith = (journal: Layer.Layer<Journal.Journal, Journal.JournalError>) =>
  time(() =>
    Effect.runPromise(
      Effect.gen(function* () {
        const report = yield* Executor.run(plan, { runId: "bench" })
        if (report.status !== "succeeded") throw new Error(`run ${report.status}`)
      }).pipe(
        Effect.provide(
          Executor.layer.pipe(Layer.provide(Layer.mergeAll(handlers, Operator.layerAutoApprove(), journal)))
        )
      )
    )
  )
await runWith(Journal.layerMemory) // JIT warm-up
const memoryMs = await runWith(Journal.layerMemory)
const fileDir = tmp("exec")
const fileMs = await runWith(Journal.layer({ directory: fileDir }))
const fileRecords = fs.readFileSync(path.join(fileDir, "bench.jsonl"), "utf8").split("\n").length - 1

const perStepUs = (ms: number) => (ms * 1000) / STEPS
console.log(
  `node ${process.version}, ${os.cpus().length} CPUs, load ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}, tmpdir ${os.tmpdir()}`
)
console.log("")
console.log(`journal append with fsync (${fmt(RECORDS)} records, median of ${ROUNDS} alternating rounds)`)
console.log(`  baseline fs.appendFileSync(fd)+fsyncSync : ${fmt(RECORDS / (rawMs / 1000))} records/s`)
console.log(`  Journal.layer (JSONL, Schema encode)     : ${fmt(RECORDS / (journalMs / 1000))} records/s`)
console.log("")
console.log(`executor, ${fmt(STEPS)} no-op steps (${fmt(fileRecords)} journal records)`)
console.log(
  `  baseline Effect.forEach over handlers    : ${fmt(baselineMs)} ms total, ${fmt(perStepUs(baselineMs), 2)} µs/step`
)
console.log(
  `  Executor + Journal.layerMemory           : ${fmt(memoryMs)} ms total, ${fmt(perStepUs(memoryMs), 1)} µs/step (overhead ${fmt(perStepUs(memoryMs - baselineMs), 1)} µs/step)`
)
console.log(
  `  Executor + Journal.layer (fsync)         : ${fmt(fileMs)} ms total, ${fmt(perStepUs(fileMs), 1)} µs/step (overhead ${fmt(perStepUs(fileMs - baselineMs), 1)} µs/step)`
)
