// Signed webhooks (Standard Webhooks 1.0) against a real receiver that
// verifies them with the `standardwebhooks` package: signatures with two
// secrets (rotation), a receiver that fails twice (same webhook-id and body
// on each attempt, backoff), 410 disables an endpoint, and the durable
// outbox delivers after a restart what was pending before it.
import { describe, expect, it } from "@effect/vitest"
import { RunEvent } from "@sra-upgrade/core"
import { Policy, Webhooks } from "@sra-upgrade/server"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { writeFileSync } from "node:fs"
import * as http from "node:http"
import { join } from "node:path"
import { Webhook } from "standardwebhooks"
import { clientOf, eventually, issueTokens, portal, quickPlan, quickSites, tempDir } from "./support.js"

interface Delivery {
  readonly path: string
  readonly headers: Record<string, string>
  readonly body: string
  readonly status: number
}

/** A receiver: `/fail-twice` answers 500 to the first two attempts of each webhook-id; `/gone` 410; `/flaky` as `mode`. */
const receiver = Effect.acquireRelease(
  Effect.async<{ url: string; deliveries: Array<Delivery>; setMode: (m: number) => void; server: http.Server }>(
    (resume) => {
      const deliveries: Array<Delivery> = []
      const attempts = new Map<string, number>()
      let mode = 503
      const server = http.createServer((req, res) => {
        let body = ""
        req.on("data", (c: Buffer) => (body += c.toString("utf8")))
        req.on("end", () => {
          const id = String(req.headers["webhook-id"])
          const n = (attempts.get(`${req.url}|${id}`) ?? 0) + 1
          attempts.set(`${req.url}|${id}`, n)
          const status =
            req.url === "/gone" ? 410 : req.url === "/flaky" ? mode : req.url === "/ok" ? 204 : n <= 2 ? 500 : 204
          deliveries.push({ path: req.url!, headers: req.headers as Record<string, string>, body, status })
          res.writeHead(status).end()
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as { port: number }).port
        resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, deliveries, setMode: (m) => (mode = m), server }))
      })
    }
  ),
  (r) => Effect.async<void>((resume) => void r.server.close(() => resume(Effect.void)))
)

const newSecret = () => Redacted.value(Webhooks.generateSecret())

describe("webhooks", () => {
  it.scopedLive(
    "signed with every secret of the endpoint (rotation), retried with the same webhook-id after two failures, 410 disables",
    () =>
      Effect.gen(function* () {
        const r = yield* receiver
        const oldSecret = newSecret()
        const newerSecret = newSecret()
        const p = yield* portal(undefined, {
          sites: quickSites(() => quickPlan([{ id: "g1" }])),
          webhooks: [
            {
              id: "main",
              url: `${r.url}/fail-twice`,
              secrets: [Redacted.make(oldSecret), Redacted.make(newerSecret)],
              events: ["gate.opened", "run.succeeded", "run.failed"]
            },
            {
              id: "gone",
              url: `${r.url}/gone`,
              secrets: [Redacted.make(newSecret())],
              events: ["gate.opened", "run.succeeded"]
            },
            { id: "reminders", url: `${r.url}/ok`, secrets: [Redacted.make(oldSecret)], events: ["gate.reminder"] }
          ],
          policies: new Policy.PoliciesConfig({ steps: { g1: { reminderSeconds: 0.3 } } }),
          webhookRetryDelays: ["100 millis", "200 millis", "100 millis"]
        })
        const oscar = yield* clientOf(p, "oscar")
        const run = yield* oscar.runs.start({ payload: { site: "quick", target: "1.0.0" } })
        const ann = yield* clientOf(p, "ann")
        yield* eventually(ann.gates.ofRun({ path: { runId: run.runId } }), (g) => g.length === 1, "gate opens")
        // while the gate waits, reminders go out (only to the endpoint that asked for them)
        const reminders = yield* eventually(
          Effect.sync(() => r.deliveries.filter((d) => d.path === "/ok")),
          (ds) => ds.length >= 2,
          "two reminders"
        )
        for (const [i, d] of reminders.slice(0, 2).entries()) {
          const m = new Webhook(oldSecret).verify(d.body, d.headers) as {
            type: string
            data: { stepId: string; reminder: number }
          }
          expect([m.type, m.data.stepId, m.data.reminder]).toEqual(["gate.reminder", "g1", i + 1])
          expect(d.headers["webhook-id"]).toMatch(new RegExp(`^${run.runId}:\\d+:reminder-${i + 1}$`))
        }
        yield* ann.gates.answer({
          path: { runId: run.runId, stepId: "g1" },
          payload: { decision: "approve", comment: "done", evidence: {} },
          headers: {}
        })
        // gate.opened and run.succeeded, each delivered on the third attempt
        yield* eventually(
          Effect.sync(() => r.deliveries.filter((d) => d.path === "/fail-twice" && d.status === 204)),
          (ok) => ok.length === 2,
          "two deliveries succeed"
        )
        const main = r.deliveries.filter((d) => d.path === "/fail-twice")
        const byId = new Map<string, Array<Delivery>>()
        for (const d of main) byId.set(d.headers["webhook-id"]!, [...(byId.get(d.headers["webhook-id"]!) ?? []), d])
        expect([...byId.values()].map((ds) => ds.map((d) => d.status))).toEqual([
          [500, 500, 204],
          [500, 500, 204]
        ])
        const types: Array<string> = []
        for (const [id, ds] of byId) {
          expect(new Set(ds.map((d) => d.body)).size).toBe(1) // the same message each time
          for (const d of ds) {
            expect(d.headers["webhook-signature"]!.split(" ")).toHaveLength(2)
            // either secret verifies: receivers can rotate keys
            for (const secret of [oldSecret, newerSecret]) {
              const payload = new Webhook(secret).verify(d.body, d.headers) as { type: string; data: { runId: string } }
              expect(payload.data.runId).toBe(run.runId)
            }
            expect(() => new Webhook(newSecret()).verify(d.body, d.headers)).toThrow()
            expect(() => new Webhook(oldSecret).verify(d.body.replace("}", " }"), d.headers)).toThrow()
          }
          const message = JSON.parse(ds[0]!.body) as { type: string; timestamp: string; data: Record<string, unknown> }
          types.push(message.type)
          expect(id.startsWith(`${run.runId}:`)).toBe(true)
          expect(Number.isNaN(Date.parse(message.timestamp))).toBe(false)
        }
        expect(types).toEqual(["gate.opened", "run.succeeded"])

        // 410: one attempt, then the endpoint is disabled and gets nothing more
        const gone = r.deliveries.filter((d) => d.path === "/gone")
        expect(gone.map((d) => JSON.parse(d.body).type)).toEqual(["gate.opened"])
        const stats = yield* eventually(p.webhooks, (s) => s.delivered >= 4 && s.pending === 0, "all settled")
        expect(stats.disabled).toEqual(["gone"])
      })
  )

  it.scopedLive(
    "the outbox is durable: a message pending when the service stops is delivered after a restart, same webhook-id",
    () =>
      Effect.gen(function* () {
        const r = yield* receiver
        const secret = newSecret()
        const issued = issueTokens()
        const runsDir = join(tempDir("outbox"), "runs")
        const options = {
          issued,
          runsDir,
          sites: quickSites(() => quickPlan([{ id: "g1" }])),
          webhooks: [
            { id: "flaky", url: `${r.url}/flaky`, secrets: [Redacted.make(secret)], events: ["gate.opened" as const] }
          ],
          webhookRetryDelays: ["1 hour" as const]
        }
        r.setMode(503)
        const runId = yield* Effect.scoped(
          Effect.gen(function* () {
            const p = yield* portal(undefined, options)
            const run = yield* Effect.flatMap(clientOf(p, "oscar"), (c) =>
              c.runs.start({ payload: { site: "quick", target: "1.0.0" } })
            )
            yield* eventually(
              Effect.sync(() => r.deliveries.length),
              (n) => n === 1,
              "first attempt"
            )
            expect((yield* p.webhooks).pending).toBe(1)
            return run.runId
          })
        )
        r.setMode(200)
        const p = yield* portal(undefined, options)
        const firstId = r.deliveries[0]!.headers["webhook-id"]!
        expect(firstId.startsWith(`${runId}:`)).toBe(true)
        // the pending message comes again with its id and body (the gate also reopened: a new opening, its own message)
        const again = yield* eventually(
          Effect.sync(() => r.deliveries.filter((d) => d.headers["webhook-id"] === firstId)),
          (ds) => ds.some((d) => d.status === 200),
          "redelivered"
        )
        expect(again.map((d) => d.status)).toEqual([503, 200])
        expect(again[1]!.body).toBe(again[0]!.body)
        expect(new Webhook(secret).verify(again[1]!.body, again[1]!.headers)).toBeDefined()
        yield* eventually(p.webhooks, (s) => s.pending === 0, "nothing pending")
      })
  )

  it("PREP-6: a halted run is a run.halted message with the action to take; deferred gates and windows are run.waiting", () => {
    const at = new Date("2026-01-01T00:00:00Z")
    const halted = Webhooks.messageOf({
      _tag: "Journal",
      envelope: new RunEvent.Envelope({
        runId: "r",
        seq: 9,
        event: new RunEvent.RunFinished({ status: "halted-needs-support", at })
      })
    })
    expect(halted?.type).toBe("run.halted")
    expect(halted?.id).toBe("r:9")
    expect(JSON.parse(halted!.body).data.action).toContain("Do NOT reboot")
    const failed = Webhooks.messageOf({
      _tag: "Journal",
      envelope: new RunEvent.Envelope({ runId: "r", seq: 3, event: new RunEvent.RunFinished({ status: "failed", at }) })
    })
    expect(failed?.type).toBe("run.failed")
    const paused = Webhooks.messageOf({
      _tag: "Journal",
      envelope: new RunEvent.Envelope({
        runId: "r",
        seq: 4,
        event: new RunEvent.Paused({ stepId: "w", until: at, at })
      })
    })
    expect(paused?.type).toBe("run.waiting")
    expect(JSON.parse(paused!.body).data.reason).toBe("window")
    const step = new RunEvent.StepStarted({ stepId: "x", attempt: 1, at })
    expect(
      Webhooks.messageOf({ _tag: "Journal", envelope: new RunEvent.Envelope({ runId: "r", seq: 5, event: step }) })
    ).toBeUndefined()
  })

  it.effect("the webhooks file: secrets from variables or files, checked to be whsec_ secrets", () =>
    Effect.gen(function* () {
      const dir = tempDir("whfile")
      const secret = newSecret()
      writeFileSync(join(dir, "ops.secret"), secret + "\n")
      const file = join(dir, "webhooks.json")
      writeFileSync(
        file,
        JSON.stringify({
          endpoints: [
            { id: "ops", url: "https://hooks.example.com/sra", secrets: [{ file: "./ops.secret" }, { env: "WH_NEXT" }] }
          ]
        })
      )
      const endpoints = yield* Webhooks.load(file, { WH_NEXT: newSecret() })
      expect(endpoints[0]!.secrets.map(Redacted.value)[0]).toBe(secret)
      const bad = yield* Effect.flip(Webhooks.load(file, { WH_NEXT: "not-a-secret" }))
      expect(bad.message).toContain("whsec_")
      expect(bad.message).not.toContain("not-a-secret")
      const missing = yield* Effect.flip(Webhooks.load(file, {}))
      expect(missing.message).toContain("WH_NEXT")
    })
  )
})
