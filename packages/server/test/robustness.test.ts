// Robustness of the service: 200 event-stream clients on one run with
// memory bounded by the shared ring, readers that never read do not stall the
// run, and hostile requests get typed 4xx answers.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { clientOf, eventually, portal, type Portal, quickPlan, quickSites } from "./support.js"

// a full garbage collection before each measure: retained memory, not garbage not collected yet
v8.setFlagsFromString("--expose-gc")
const gc = vm.runInNewContext("gc") as () => void

const clientsScript = fileURLToPath(new URL("./fixtures/sse-clients.mjs", import.meta.url))

/** Read a run's event stream with fetch, keeping only the ids (not the bodies). */
const countIds = (p: Portal, runId: string, signal: AbortSignal) =>
  fetch(`${p.url}/api/v1/runs/${runId}/events`, {
    headers: { authorization: `Bearer ${Redacted.value(p.tokens.vera)}` },
    signal
  }).then(async (res) => {
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`)
    const ids: Array<number> = []
    const decoder = new TextDecoder()
    let tail = ""
    let ended = false
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      const text = tail + decoder.decode(chunk, { stream: true })
      const lines = text.split("\n")
      tail = lines.pop() ?? ""
      for (const line of lines) {
        if (line.startsWith("id: ")) ids.push(Number(line.slice(4)))
        else if (line === "event: end") ended = true
      }
    }
    return { ids, ended }
  })

const startQuick = (p: Portal) =>
  Effect.flatMap(clientOf(p, "oscar"), (c) => c.runs.start({ payload: { site: "quick", target: "1.0.0" } }))

const approveFirstGate = (p: Portal, runId: string) =>
  Effect.gen(function* () {
    const ann = yield* clientOf(p, "ann")
    yield* eventually(ann.gates.ofRun({ path: { runId } }), (g) => g.length === 1, "gate opens")
    yield* ann.gates.answer({
      path: { runId, stepId: "g1" },
      payload: { decision: "approve", comment: "go", evidence: {} },
      headers: {}
    })
  })

/** POST a body of `bytes` without Content-Length (chunked), reading the answer as soon as it comes. */
const chunked = (p: Portal, path: string, bytes: number) =>
  Effect.async<{ status: number; tag: string | undefined; text: string }>((resume) => {
    const req = http.request(`${p.url}${path}`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${Redacted.value(p.tokens.ada)}`,
        "content-type": "application/json",
        "transfer-encoding": "chunked"
      }
    })
    req.on("response", (res) => {
      let text = ""
      res.on("data", (c: Buffer) => (text += c.toString("utf8")))
      res.on("end", () => {
        let tag: string | undefined
        try {
          tag = (JSON.parse(text) as { _tag?: string })._tag
        } catch {
          tag = undefined
        }
        resume(Effect.succeed({ status: res.statusCode ?? 0, tag, text }))
      })
    })
    req.on("error", () => undefined) // the service stops reading once it has answered
    const chunk = Buffer.alloc(16_384, 32)
    let sent = 0
    const pump = () => {
      while (sent < bytes) {
        sent += chunk.length
        if (!req.write(chunk)) return void req.once("drain", pump)
      }
      req.end()
    }
    pump()
  })

describe("robustness", () => {
  it.scopedLive(
    "200 concurrent event-stream clients on one run, half of them not reading: the run finishes, memory stays bounded (one shared ring, writes of at most 64 KiB), each client gets every event once, in order",
    () =>
      Effect.gen(function* () {
        const polls = 600
        const p = yield* portal(undefined, {
          sites: quickSites(() => quickPlan([{ id: "g1" }], { polls, bytes: 256 }))
        })
        const run = yield* startQuick(p)
        const retained = () => {
          gc()
          const m = process.memoryUsage()
          return m.heapUsed + m.external
        }
        const before = retained()
        // the clients run in another process (what is measured here is the service); every other one stops
        // reading after its first chunk, the others read along
        const child = spawn(
          process.execPath,
          [clientsScript, p.url, Redacted.value(p.tokens.vera), run.runId, "200", "mixed"],
          { stdio: ["pipe", "pipe", "inherit"] }
        )
        yield* Effect.addFinalizer(() => Effect.sync(() => child.kill()))
        let out = ""
        child.stdout!.on("data", (b: Buffer) => (out += b.toString("utf8")))
        const exited = new Promise<number | null>((resolve) => child.on("exit", resolve))
        yield* eventually(p.events, (s) => s.subscribers === 200, "200 subscribers", 2400)
        const connected = retained()
        yield* approveFirstGate(p, run.runId)
        // nobody reads, yet the run finishes
        const vera = yield* clientOf(p, "vera")
        yield* eventually(
          vera.runs.get({ path: { runId: run.runId } }),
          (v) => v.summary.status === "succeeded",
          "the run finishes while 100 clients do not read",
          2400
        )
        const stats = yield* p.events
        const finished = retained()
        // what the service holds: one shared ring per run (not a queue per subscriber), a cursor per subscriber
        expect(stats.frames).toBeLessThanOrEqual(2048)
        const journalBytes = fs.statSync(path.join(p.runsDir, `${run.runId}.jsonl`)).size
        expect(journalBytes).toBeGreaterThan(polls * 256)
        // 200 per-subscriber copies of the run's events would be 200 × journalBytes (~80 MB)
        expect(finished - connected).toBeLessThan(journalBytes * 20)
        expect(connected - before).toBeLessThan(200 * 256 * 1024) // < 256 KiB per open stream
        // what a subscriber can hold beyond its cursor: one write, bounded whatever the run's length
        expect(stats.largestWrite).toBeLessThanOrEqual(64 * 1024)
        child.stdin!.write("go\n")
        const code = yield* Effect.promise(() => exited)
        expect(code).toBe(0)
        const result = JSON.parse(out) as { clients: number; ended: number; sequences: Array<Array<number>> }
        expect(result.clients).toBe(200)
        expect(result.ended).toBe(200)
        // every client saw the same sequence: 1..N, each once, in order
        expect(result.sequences).toHaveLength(1)
        const ids = result.sequences[0]!
        expect(ids.length).toBeGreaterThan(polls)
        expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i + 1))
        yield* eventually(p.events, (s) => s.subscribers === 0, "streams closed")
        // the finished run's ring is let go with its last stream
        expect((yield* p.events).frames).toBe(0)
      }),
    300_000
  )

  it.scopedLive(
    "readers that never read do not stall the run; a reader that keeps up gets everything",
    () =>
      Effect.gen(function* () {
        const p = yield* portal(undefined, {
          sites: quickSites(() => quickPlan([{ id: "g1" }], { polls: 1500, bytes: 2048 }))
        })
        const run = yield* startQuick(p)
        // five connections that read nothing: their sockets fill, TCP pushes back on their streams only
        const slow: Array<http.ClientRequest> = []
        for (let i = 0; i < 5; i++) {
          const req = http.get(`${p.url}/api/v1/runs/${run.runId}/events`, {
            headers: { authorization: `Bearer ${Redacted.value(p.tokens.vera)}` }
          })
          req.on("response", (res) => res.pause())
          req.on("error", () => undefined)
          slow.push(req)
        }
        yield* Effect.addFinalizer(() => Effect.sync(() => slow.forEach((r) => r.destroy())))
        yield* eventually(p.events, (s) => s.subscribers === 5, "5 slow subscribers")
        const controller = new AbortController()
        const fast = countIds(p, run.runId, controller.signal)
        yield* approveFirstGate(p, run.runId)
        const vera = yield* clientOf(p, "vera")
        const done = yield* eventually(
          vera.runs.get({ path: { runId: run.runId } }),
          (v) => v.summary.status === "succeeded",
          "the run finishes while five readers read nothing",
          2400
        )
        expect(done.report.steps.find((s) => s.id === "quick/wait")?.polls).toBe(1500)
        const got = yield* Effect.promise(() => fast)
        expect(got.ended).toBe(true)
        expect(got.ids).toEqual(Array.from({ length: got.ids.length }, (_, i) => i + 1))
        // ~1500 records of more than 2 KiB: far more than the slow sockets' buffers took
        expect(got.ids.length).toBeGreaterThan(1500)
      }),
    300_000
  )

  it.scopedLive("hostile requests get typed 4xx answers", () =>
    Effect.gen(function* () {
      const p = yield* portal(undefined, { sites: quickSites(() => quickPlan([{ id: "g1" }])) })
      const run = yield* startQuick(p)
      const auth = { authorization: `Bearer ${Redacted.value(p.tokens.ada)}` }
      const call = (path: string, init: RequestInit = {}) =>
        Effect.promise(async () => {
          const res = await fetch(`${p.url}${path}`, { ...init, headers: { ...auth, ...(init.headers ?? {}) } })
          const text = await res.text()
          let tag: string | undefined
          try {
            tag = (JSON.parse(text) as { _tag?: string })._tag
          } catch {
            tag = undefined
          }
          return { status: res.status, tag, text }
        })
      const json = { "content-type": "application/json" }
      const cases: Array<
        [string, Effect.Effect<{ status: number; tag: string | undefined; text: string }>, number, string | undefined]
      > = [
        [
          "huge body",
          call("/api/v1/runs", {
            method: "POST",
            headers: json,
            body: JSON.stringify({ site: "x".repeat(1_000_000) })
          }),
          413,
          "PayloadTooLarge"
        ],
        ["chunked body", chunked(p, `/api/v1/runs`, 40 * 16_384), 411, "LengthRequired"],
        [
          "bad JSON",
          call("/api/v1/runs", { method: "POST", headers: json, body: "{not json" }),
          400,
          "HttpApiDecodeError"
        ],
        [
          "wrong shape",
          call("/api/v1/runs", { method: "POST", headers: json, body: '{"site":1}' }),
          400,
          "HttpApiDecodeError"
        ],
        [
          "bad decision",
          call(`/api/v1/runs/${run.runId}/gates/g1`, {
            method: "POST",
            headers: json,
            body: JSON.stringify({ decision: "maybe", comment: "x" })
          }),
          400,
          "HttpApiDecodeError"
        ],
        ["unknown run", call("/api/v1/runs/no-such-run"), 404, "NotFound"],
        ["unknown run's events", call("/api/v1/runs/no-such-run/events"), 404, "NotFound"],
        ["unknown run's gates", call("/api/v1/runs/no-such-run/gates"), 404, "NotFound"],
        [
          "unknown gate",
          call(`/api/v1/runs/${run.runId}/gates/${encodeURIComponent("nope/x")}`, {
            method: "POST",
            headers: json,
            body: JSON.stringify({ decision: "approve", comment: "x" })
          }),
          404,
          "NotFound"
        ],
        ["path trick in a run id", call("/api/v1/runs/..%2F..%2Fetc%2Fpasswd"), 400, "HttpApiDecodeError"],
        ["dot-dot run id", call("/api/v1/runs/%2E%2E/report"), 404, "NotFound"],
        ["unknown site", call("/api/v1/sites/..%2Fsecret"), 400, "HttpApiDecodeError"],
        [
          "bad Last-Event-ID",
          call(`/api/v1/runs/${run.runId}/events`, { headers: { "last-event-id": "abc" } }),
          400,
          "HttpApiDecodeError"
        ],
        [
          "oversized idempotency key",
          call(`/api/v1/runs/${run.runId}/gates/g1`, {
            method: "POST",
            headers: { ...json, "idempotency-key": "k".repeat(500) },
            body: JSON.stringify({ decision: "approve", comment: "x" })
          }),
          400,
          "HttpApiDecodeError"
        ],
        ["traversal outside the API", call("/assets/..%2F..%2Fpackage.json"), 404, undefined],
        ["unknown route", call("/api/v1/nothing-here"), 404, "NotFound"]
      ]
      for (const [what, effect, status, tag] of cases) {
        const r = yield* effect
        expect(r.status, `${what}: ${r.text.slice(0, 200)}`).toBe(status)
        if (tag !== undefined) expect(r.tag, `${what}: ${r.text.slice(0, 200)}`).toBe(tag)
        expect(r.text).not.toMatch(/\n\s+at /) // no stack trace
        expect(r.text).not.toContain("@sra-upgrade/server") // no file served from outside the page
      }
      // the service still works
      const vera = yield* clientOf(p, "vera")
      expect((yield* vera.runs.get({ path: { runId: run.runId } })).summary.runId).toBe(run.runId)
    })
  )
})
