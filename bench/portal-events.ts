/**
 * Portal event-stream benchmark (issue 17): events per second delivered to 1
 * and to 200 subscribers of one run's server-sent event stream, beside the
 * rate at which the journal appends records (fsync each) — the stream can
 * never be faster than the journal it follows.
 *
 * 1. baseline: the file journal's append rate for records of the same size;
 * 2. a run through the service (HTTP on 127.0.0.1): a gate, then a wait that
 *    polls N times (one `WaitProgress` record per poll); S subscribers (fetch,
 *    in a child process) connect while the gate waits, the gate is approved, and
 *    the figures are: the run's own append rate during the wait, and events
 *    received per second by each subscriber and by all of them together.
 *
 * Run: pnpm exec tsx bench/portal-events.ts [polls=2000] [bytes=256]
 */
import { ApplianceApi, Journal, Plan, RunEvent, StepHandler } from "@sra-upgrade/core"
import { Api, Auth, Client, Server, Sites } from "@sra-upgrade/server"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const POLLS = Number(process.argv[2] ?? 2000)
const BYTES = Number(process.argv[3] ?? 256)
const tmp = (name: string) => fs.mkdtempSync(path.join(os.tmpdir(), `sra-bench-${name}-`))
const fmt = (n: number) => n.toLocaleString("en-US", { maximumFractionDigits: 0 })

const plan = () =>
  new Plan.Plan({
    id: "bench",
    kind: "custom",
    title: "Event-stream benchmark",
    site: "bench.example.com",
    targetVersion: "1.0.0",
    steps: [
      new Plan.ManualGate({
        id: "go",
        title: "Start the flood",
        rules: [],
        estimatedSeconds: 1,
        handler: "bench/ok",
        idempotent: true,
        instructions: ["Approve."]
      }),
      new Plan.WaitFor({
        id: "flood",
        title: "One record per poll",
        rules: [],
        estimatedSeconds: 1,
        handler: "bench/poll",
        idempotent: true,
        intervalSeconds: 0.000001,
        deadlineSeconds: 3600
      })
    ]
  })

const handlers = () => {
  let n = 0
  return StepHandler.layerRaw({
    "bench/ok": { run: () => Effect.succeed({}) },
    "bench/poll": {
      poll: () => Effect.sync(() => ({ holds: ++n >= POLLS, observed: { n, filler: "x".repeat(BYTES) } }))
    }
  })
}

const notFound = (id: string) => Effect.fail(new Api.NotFound({ resource: "site", id, message: `No site ${id}.` }))
const sites = Layer.succeed(Sites.Sites, {
  list: Effect.succeed([]),
  get: notFound,
  detail: notFound,
  plan: () => Effect.succeed(plan()),
  runtime: () =>
    Effect.succeed({
      entry: { id: "bench", file: "bench", site: undefined as never },
      appliances: Layer.succeed(ApplianceApi.ApplianceApi, {} as never),
      handlers: handlers,
      prober: undefined,
      runPlan: (p: Plan.Plan) => p
    })
})

// 1. baseline: journal appends of records of the same size
const at = new Date()
const journalRate = Effect.gen(function* () {
  const j = yield* Journal.Journal
  yield* j.create("baseline")
  const t0 = performance.now()
  for (let i = 1; i <= POLLS; i++)
    yield* j.append(
      new RunEvent.Envelope({
        runId: "baseline",
        seq: i,
        event: new RunEvent.WaitProgress({
          stepId: "flood",
          poll: i,
          holds: false,
          observed: { n: i, filler: "x".repeat(BYTES) },
          at
        })
      })
    )
  return POLLS / ((performance.now() - t0) / 1000)
}).pipe(Effect.provide(Journal.layer({ directory: tmp("journal") })))

/** The subscribers, in another process (the service's CPU is what is measured): packages/server/test/fixtures/sse-clients.mjs. */
const clientsScript = path.join(
  path.dirname(new URL(import.meta.url).pathname),
  "..",
  "packages",
  "server",
  "test",
  "fixtures",
  "sse-clients.mjs"
)

const subscribers = (url: string, token: string, runId: string, n: number) => {
  const child = spawn(process.execPath, [clientsScript, url, token, runId, String(n), "pause"], {
    stdio: ["pipe", "pipe", "inherit"]
  })
  let out = ""
  child.stdout!.on("data", (b: Buffer) => (out += b.toString("utf8")))
  const done = new Promise<{ ended: number; endedAt: number; sequences: Array<Array<number>> }>((resolve, reject) =>
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`clients exited ${code}`))))
  )
  return { go: () => child.stdin!.write("go\n"), done }
}

/** Peak resident set size of this process (the service), sampled every 50 ms while `effect` runs. */
const peakRss = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    let peak = process.memoryUsage.rss()
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 50)
    const a = yield* Effect.ensuring(
      effect,
      Effect.sync(() => clearInterval(timer))
    )
    return { ...a, peakRss: Math.max(peak, process.memoryUsage.rss()) }
  })

const round = (n: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const issued = Auth.issue([
        new Auth.Principal({ id: "op", name: "op", role: "operator" }),
        new Auth.Principal({ id: "ap", name: "ap", role: "approver" })
      ])
      const token = (id: string) => Redacted.value(issued.find((i) => i.principal.id === id)!.token)
      const context = yield* Layer.build(
        Server.layer({
          runsDirectory: path.join(tmp("runs"), "runs"),
          sitesDirectory: tmp("sites"),
          sites,
          tokens: Auth.layerMemory(issued),
          port: 0
        })
      )
      const url = Context.get(context, Server.PortalServer).url
      const op = yield* Client.make({ baseUrl: url, token: token("op") }).pipe(Effect.provide(FetchHttpClient.layer))
      const ap = yield* Client.make({ baseUrl: url, token: token("ap") }).pipe(Effect.provide(FetchHttpClient.layer))
      const run = yield* op.runs.start({ payload: { site: "bench", target: "1.0.0" } })
      const clients = subscribers(url, token("ap"), run.runId, n)
      while ((yield* ap.gates.ofRun({ path: { runId: run.runId } })).length === 0)
        yield* Effect.promise(() => new Promise((r) => setTimeout(r, 20)))
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 2000))) // let every stream connect
      clients.go()
      const t0 = Date.now()
      yield* ap.gates.answer({
        path: { runId: run.runId, stepId: "go" },
        payload: { decision: "approve", comment: "go", evidence: {} },
        headers: {}
      })
      const result = yield* Effect.promise(() => clients.done)
      const report = yield* ap.runs.report({ path: { runId: run.runId } })
      const flood = report.steps.find((s) => s.id === "flood")!
      const ids = result.sequences[0]?.length ?? 0
      const seconds = (result.endedAt - t0) / 1000
      return {
        subscribers: n,
        appendRate: POLLS / ((flood.durationMillis ?? 1) / 1000),
        perSubscriber: ids / seconds,
        total: (ids * result.ended) / seconds,
        complete: result.sequences.length === 1 && result.ended === n
      }
    })
  )

const main = Effect.gen(function* () {
  console.log(
    `portal event streams: ${POLLS} records of ~${BYTES + 200} bytes; node ${process.version}, ${os.cpus().length} CPU(s)`
  )
  const baseline = yield* journalRate
  console.log(`journal append (fsync each), no service:      ${fmt(baseline)} records/s`)
  for (const n of [1, 200]) {
    const r = yield* peakRss(round(n))
    console.log(
      `${String(n).padStart(3)} subscriber(s): run appended ${fmt(r.appendRate)} records/s; ` +
        `delivered ${fmt(r.perSubscriber)} events/s to each, ${fmt(r.total)} events/s in all` +
        `; service peak RSS ${fmt(r.peakRss / 2 ** 20)} MiB` +
        (r.complete ? "" : " (SUBSCRIBERS DISAGREE)")
    )
  }
})

Effect.runPromise(main).catch((e) => {
  console.error(e)
  process.exit(1)
})
