// The portal API through its derived typed client: authentication and roles,
// four-eyes gates, idempotent answers and 409s, deadlines (TestClock), and
// event streams that resume with Last-Event-ID across a restart of the
// service, with the approvals given before it.
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Journal } from "@sra-upgrade/core"
import { Client, Policy } from "@sra-upgrade/server"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { readFileSync, writeFileSync } from "node:fs"
import * as https from "node:https"
import { join } from "node:path"
import {
  clientOf,
  eventually,
  issueTokens,
  portal,
  type Portal,
  quickPlan,
  quickSites,
  simSite,
  tempDir,
  type Who
} from "./support.js"

const dangerousGate = { id: "A/install-base", handler: "core/confirm-install-started", params: { kind: "base" } }

const quick = (plan: Parameters<typeof quickSites>[0], options: Parameters<typeof portal>[1] = {}) =>
  portal(undefined, { sites: quickSites(plan), ...options })

const start = (p: Portal, who: Who = "oscar") =>
  Effect.flatMap(clientOf(p, who), (c) => c.runs.start({ payload: { site: "quick", target: "1.0.0" } }))

const openGate = (p: Portal, runId: string) =>
  Effect.flatMap(clientOf(p, "vera"), (c) =>
    eventually(c.gates.ofRun({ path: { runId } }), (gates) => gates.length > 0, `a gate of ${runId} opens`).pipe(
      Effect.map((gates) => gates[0]!)
    )
  )

const answer = (
  p: Portal,
  who: Who,
  runId: string,
  stepId: string,
  decision: "approve" | "reject" | "defer",
  comment: string,
  options: { readonly evidence?: Record<string, string>; readonly key?: string } = {}
) =>
  Effect.flatMap(clientOf(p, who), (c) =>
    c.gates.answer({
      path: { runId, stepId },
      payload: { decision, comment, evidence: options.evidence ?? {} },
      headers: options.key === undefined ? {} : { "idempotency-key": options.key }
    })
  )

const finalReport = (p: Portal, runId: string) =>
  Effect.flatMap(clientOf(p, "vera"), (c) =>
    eventually(
      c.runs.get({ path: { runId } }),
      (v) => !v.summary.active && ["succeeded", "failed", "waiting-for-operator"].includes(v.summary.status),
      `run ${runId} stops`
    )
  )

describe("portal API", () => {
  it.scopedLive(
    "401 without a valid token, 403 for the wrong role; the session cookie opens only the event stream",
    () =>
      Effect.gen(function* () {
        const p = yield* quick(() => quickPlan([{ id: "g1" }]))
        const anonymous = yield* clientOf(p, undefined)
        const calls: ReadonlyArray<Effect.Effect<unknown, { readonly _tag: string }>> = [
          anonymous.sites.list(),
          anonymous.runs.list(),
          anonymous.gates.open()
        ]
        for (const call of calls) {
          const e = yield* Effect.flip(call)
          expect(e._tag).toBe("Unauthenticated")
        }
        const forged = yield* Client.make({ baseUrl: p.url, token: "srat_not-a-token-the-service-knows-000000" }).pipe(
          Effect.provide(FetchHttpClient.layer)
        )
        expect((yield* Effect.flip(forged.session.whoami()))._tag).toBe("Unauthenticated")

        // the API describes itself: OpenAPI 3.1 with both security schemes, Swagger UI served by the service
        const openapi = yield* Effect.promise(() =>
          fetch(`${p.url}/api/openapi.json`).then((r) => r.json() as Promise<Record<string, never>>)
        )
        expect(openapi["openapi"]).toBe("3.1.0")
        expect(Object.keys(openapi["paths"])).toContain("/api/v1/runs/{runId}/gates/{stepId}")
        expect(
          Object.keys((openapi["components"] as Record<string, object>)["securitySchemes"]!).length
        ).toBeGreaterThanOrEqual(2)
        const docs = yield* Effect.promise(() => fetch(`${p.url}/api/docs`).then((r) => r.text()))
        expect(docs).toContain("swagger")
        expect(docs).not.toMatch(/src="https?:\/\//) // nothing from a CDN

        // a viewer reads but does not start, cancel or answer
        const vera = yield* clientOf(p, "vera")
        expect(yield* vera.runs.list()).toEqual([])
        const refused = yield* Effect.flip(vera.runs.start({ payload: { site: "quick", target: "1.0.0" } }))
        expect(refused._tag).toBe("Forbidden")
        expect(refused.message).toContain("needs operator")
        const run = yield* start(p)
        const gate = yield* openGate(p, run.runId)
        const viewerAnswer = yield* Effect.flip(answer(p, "vera", run.runId, gate.stepId, "approve", "looks fine"))
        expect(viewerAnswer._tag).toBe("Forbidden")
        expect((yield* Effect.flip(vera.runs.cancel({ path: { runId: run.runId } })))._tag).toBe("Forbidden")

        // the session cookie: HttpOnly, SameSite=Strict, path /api; accepted by the event stream only
        const opened = yield* Effect.promise(() =>
          fetch(`${p.url}/api/v1/session`, {
            method: "POST",
            headers: { authorization: `Bearer ${Redacted.value(p.tokens.vera)}` }
          })
        )
        expect(opened.status).toBe(200)
        const setCookie = opened.headers.get("set-cookie") ?? ""
        expect(setCookie).toMatch(/HttpOnly/i)
        expect(setCookie).toMatch(/SameSite=Strict/i)
        expect(setCookie).toMatch(/Path=\/api/i)
        const cookie = setCookie.split(";")[0]!
        expect(cookie).not.toContain(Redacted.value(p.tokens.vera))
        const viaCookie = (path: string, init: RequestInit = {}) =>
          Effect.promise(() => fetch(`${p.url}${path}`, { ...init, headers: { cookie, ...(init.headers ?? {}) } }))
        const stream = yield* viaCookie(`/api/v1/runs/${run.runId}/events`)
        expect(stream.status).toBe(200)
        expect(stream.headers.get("content-type")).toContain("text/event-stream")
        yield* Effect.promise(() => stream.body!.cancel())
        expect((yield* viaCookie("/api/v1/runs")).status).toBe(401)
        const mutation = yield* viaCookie(`/api/v1/runs/${run.runId}/cancel`, { method: "POST" })
        expect(mutation.status).toBe(401)
        const tampered = cookie.replace(/.$/, (c) => (c === "A" ? "B" : "A"))
        const bad = yield* Effect.promise(() =>
          fetch(`${p.url}/api/v1/runs/${run.runId}/events`, { headers: { cookie: tampered } })
        )
        expect(bad.status).toBe(401)
        yield* Effect.flatMap(clientOf(p, "oscar"), (c) => c.runs.cancel({ path: { runId: run.runId } }))
      })
  )

  it.scopedLive(
    "sites with the live health of their appliances, plans as JSON and Markdown (a simulated pair); an unreachable appliance is a typed 503",
    () =>
      Effect.gen(function* () {
        const site = yield* simSite({ pair: true })
        // a second site whose appliance does not answer
        const text = readFileSync(join(site.sitesDir, "pair.json"), "utf8")
        writeFileSync(
          join(site.sitesDir, "broken.json"),
          text.replace(/"apiUrl": "https:\/\/127\.0\.0\.1:\d+"/g, '"apiUrl": "https://127.0.0.1:9"')
        )
        writeFileSync(join(site.sitesDir, "bad.yaml"), "hostname: [\n")
        const p = yield* portal(site)
        const vera = yield* clientOf(p, "vera")
        const sites = yield* vera.sites.list()
        expect(sites.map((s) => [s.id, s.isPair, s.methods, s.error === undefined])).toEqual([
          ["bad", undefined, [], false],
          ["broken", true, ["async", "sync"], true],
          ["pair", true, ["async", "sync"], true]
        ])
        const detail = yield* vera.sites.get({ path: { siteId: "pair" } })
        expect(detail.health.map((h) => [h.id, h.reachable, h.version, h.failoverRole])).toEqual([
          ["A", true, "24.1.3", "primary"],
          ["B", true, "24.1.3", "backup"]
        ])
        // PREP-7: a pair has no default method
        const unchosen = yield* Effect.flip(vera.plans.plan({ payload: { site: "pair", target: "24.3.2" } }))
        expect(unchosen._tag === "Invalid" && unchosen.message).toContain("choose its method (PREP-7)")
        const plan = yield* vera.plans.plan({ payload: { site: "pair", target: "24.3.2", method: "async" } })
        expect(plan.plan.kind).toBe("async-pair")
        expect(plan.plan.steps.some((s) => s.id === "pair/switch")).toBe(true)
        expect(plan.runbook).toContain("# Asynchronous upgrade")
        const sync = yield* vera.plans.plan({ payload: { site: "pair", target: "24.3.2", method: "sync" } })
        expect(sync.plan.kind).toBe("sync-pair")
        const single = yield* Effect.flip(
          vera.plans.plan({ payload: { site: "pair", target: "24.3.2", method: "single" } })
        )
        expect(single._tag === "Invalid" && single.reason).toBe("plan")
        const unknown = yield* Effect.flip(vera.plans.plan({ payload: { site: "nowhere", target: "24.3.2" } }))
        expect(unknown._tag).toBe("NotFound")
        const invalid = yield* Effect.flip(vera.sites.get({ path: { siteId: "bad" } }))
        expect(invalid._tag === "Invalid" && invalid.reason).toBe("site")
        const broken = yield* vera.sites.get({ path: { siteId: "broken" } })
        expect(broken.health.every((h) => !h.reachable && h.error !== undefined)).toBe(true)
        const down = yield* Effect.flip(
          vera.plans.plan({ payload: { site: "broken", target: "24.3.2", method: "async" } })
        )
        expect(down._tag === "Unavailable" && down.reason).toBe("appliance")
        expect(down.message).toContain("cannot read the version")
      }),
    120_000
  )

  it.scopedLive("optional TLS: the API over HTTPS, the session cookie marked Secure", () =>
    Effect.gen(function* () {
      const site = yield* simSite({ pair: false })
      const tls = site.sim.siteCertificate!
      const p = yield* quick(() => quickPlan([{ id: "g1" }]), {
        tls: { cert: tls.certificatePem, key: Redacted.value(tls.privateKeyPem) }
      })
      expect(p.url.startsWith("https://")).toBe(true)
      const port = new URL(p.url).port
      const get = (method: string, path: string) =>
        Effect.async<{ status: number; cookie: string | undefined; body: string }>((resume) => {
          const req = https.request(
            {
              host: "127.0.0.1",
              port,
              path,
              method,
              servername: "localhost",
              ca: site.sim.caPem,
              headers: { authorization: `Bearer ${Redacted.value(p.tokens.vera)}` }
            },
            (res) => {
              let body = ""
              res.on("data", (c: Buffer) => (body += c.toString("utf8")))
              res.on("end", () =>
                resume(Effect.succeed({ status: res.statusCode ?? 0, cookie: res.headers["set-cookie"]?.[0], body }))
              )
            }
          )
          req.on("error", (e) => resume(Effect.die(e)))
          req.end()
        })
      const me = yield* get("GET", "/api/v1/session")
      expect(me.status).toBe(200)
      expect(JSON.parse(me.body).id).toBe("vera")
      const session = yield* get("POST", "/api/v1/session")
      expect(session.cookie).toMatch(/; Secure/i)
      expect(session.cookie).toMatch(/HttpOnly/i)
    })
  )

  it.scopedLive(
    "four eyes: a dangerous gate refuses the initiator and a lone approver; two distinct approvers pass it, and the journal holds both",
    () =>
      Effect.gen(function* () {
        const p = yield* quick(() => quickPlan([dangerousGate]))
        const run = yield* start(p, "ada") // an admin starts the run
        const gate = yield* openGate(p, run.runId)
        expect(gate.policy.approvals).toBe(2)
        expect(gate.policy.roles).toEqual(["approver", "admin"])
        expect(gate.policy.basis).toContain("installs base software")
        expect(gate.initiator).toBe("ada")

        const self = yield* Effect.flip(answer(p, "ada", run.runId, gate.stepId, "approve", "I started it and approve"))
        expect(self._tag).toBe("Forbidden")
        expect(self._tag === "Forbidden" && self.reason).toBe("initiator")
        const operator = yield* Effect.flip(answer(p, "oscar", run.runId, gate.stepId, "approve", "operator says yes"))
        expect(operator._tag === "Forbidden" && operator.reason).toBe("role")

        const first = yield* answer(p, "ann", run.runId, gate.stepId, "approve", "base package installed from the UI")
        expect(first.status).toBe("open")
        expect(first.remaining).toBe(1)
        const twice = yield* Effect.flip(answer(p, "ann", run.runId, gate.stepId, "approve", "me again"))
        expect(twice._tag === "Conflict" && twice.reason).toBe("already-decided")

        const second = yield* answer(p, "bob", run.runId, gate.stepId, "approve", "checked the version page")
        expect(second.status).toBe("approved")
        const view = yield* finalReport(p, run.runId)
        expect(view.summary.status).toBe("succeeded")
        const journal = yield* Effect.provide(
          Effect.flatMap(Journal.Journal, (j) => j.read(run.runId)),
          Journal.layer({ directory: p.runsDir })
        )
        const answered = journal.records.flatMap((r) => (r.event._tag === "GateAnswered" ? [r.event] : []))
        expect(answered).toHaveLength(1)
        const a = answered[0]!.answer
        if (a._tag !== "Approved") throw new Error(`expected an approval, got ${a._tag}`)
        expect(a.by).toBe("ann, bob")
        expect(a.approvals?.map((x) => [x.principal, x.role, x.decision, x.comment])).toEqual([
          ["ann", "approver", "approve", "base package installed from the UI"],
          ["bob", "approver", "approve", "checked the version page"]
        ])
      })
  )

  it.scopedLive(
    "an Idempotency-Key makes a retried answer harmless; a different answer to a closed gate is a 409; evidence and comment are required",
    () =>
      Effect.gen(function* () {
        const p = yield* quick(() => quickPlan([{ id: "g1", evidence: ["fingerprint"] }, { id: "g2" }]))
        const run = yield* start(p)
        const gate = yield* openGate(p, run.runId)
        expect(gate.stepId).toBe("g1")

        const noEvidence = yield* Effect.flip(answer(p, "ann", run.runId, "g1", "approve", "done"))
        expect(noEvidence._tag === "Invalid" && noEvidence.reason).toBe("evidence")
        expect(noEvidence.message).toContain("fingerprint")
        const unknown = yield* Effect.flip(
          answer(p, "ann", run.runId, "g1", "approve", "done", { evidence: { fingerprint: "AA", extra: "x" } })
        )
        expect(unknown.message).toContain("unknown evidence")
        // the typed client checks the payload before sending; the service checks it again
        const noComment = yield* Effect.flip(answer(p, "ann", run.runId, "g1", "approve", "   "))
        expect(noComment._tag).toBe("ParseError")
        const raw = yield* Effect.promise(() =>
          fetch(`${p.url}/api/v1/runs/${run.runId}/gates/g1`, {
            method: "POST",
            headers: { authorization: `Bearer ${Redacted.value(p.tokens.ann)}`, "content-type": "application/json" },
            body: JSON.stringify({ decision: "approve", comment: "   ", evidence: { fingerprint: "AA" } })
          }).then(async (r) => ({ status: r.status, body: (await r.json()) as { _tag: string; message: string } }))
        )
        expect(raw.status).toBe(400)
        expect(raw.body._tag).toBe("HttpApiDecodeError")
        expect(raw.body.message).toContain("a comment is required")

        const key = "answer-g1-ann-1"
        const evidence = { fingerprint: "AB:CD" }
        const ok = yield* answer(p, "ann", run.runId, "g1", "approve", "exported", { evidence, key })
        expect(ok.status).toBe("approved")
        // retried (a lost response): the same view, nothing recorded twice
        const retry = yield* answer(p, "ann", run.runId, "g1", "approve", "exported", { evidence, key })
        expect(retry.approvals).toHaveLength(1)
        const reused = yield* Effect.flip(answer(p, "ann", run.runId, "g1", "reject", "changed my mind", { key }))
        expect(reused._tag === "Conflict" && reused.reason).toBe("idempotency-key")
        const different = yield* Effect.flip(answer(p, "bob", run.runId, "g1", "reject", "too late"))
        expect(different._tag === "Conflict" && different.reason).toBe("gate-closed")

        // the run goes on to g2
        yield* Effect.flatMap(clientOf(p, "vera"), (c) =>
          eventually(c.gates.ofRun({ path: { runId: run.runId } }), (g) => g[0]?.stepId === "g2", "g2 opens")
        )
        const unknownGate = yield* Effect.flip(answer(p, "ann", run.runId, "no/such-gate", "approve", "x"))
        expect(unknownGate._tag).toBe("NotFound")
        const rejected = yield* answer(p, "bob", run.runId, "g2", "reject", "the UI shows an error")
        expect(rejected.status).toBe("rejected")
        const view = yield* finalReport(p, run.runId)
        expect(view.summary.status).toBe("failed")
        expect(view.report.error).toContain("bob")
      })
  )

  it.scoped("a deadline that rejects: the gate is rejected when it passes, and the run fails (TestClock)", () =>
    Effect.gen(function* () {
      const policies = new Policy.PoliciesConfig({
        steps: { g1: { deadlineSeconds: 600, onTimeout: "reject", reminderSeconds: null } }
      })
      const p = yield* quick(() => quickPlan([{ id: "g1" }]), { policies })
      const run = yield* start(p)
      const gate = yield* openGate(p, run.runId)
      expect(gate.deadlineAt).toBeDefined()
      expect(gate.deadlineAt!.getTime() - gate.openedAt.getTime()).toBe(600_000)
      yield* TestClock.adjust("599 seconds")
      expect((yield* openGate(p, run.runId)).status).not.toBe("rejected")
      yield* TestClock.adjust("2 seconds")
      const view = yield* finalReport(p, run.runId)
      expect(view.summary.status).toBe("failed")
      expect(view.report.gates[0]?.answer._tag).toBe("Rejected")
      expect(view.report.error).toContain("deadline")
    })
  )

  it.scoped("a deadline that escalates hands the gate to admins and never continues by itself (TestClock)", () =>
    Effect.gen(function* () {
      const policies = new Policy.PoliciesConfig({
        steps: { g1: { deadlineSeconds: 60, onTimeout: "escalate", reminderSeconds: 20 } }
      })
      const p = yield* quick(() => quickPlan([{ id: "g1" }]), { policies })
      const run = yield* start(p)
      yield* openGate(p, run.runId)
      yield* TestClock.adjust("61 seconds")
      const escalated = yield* Effect.flatMap(clientOf(p, "vera"), (c) =>
        eventually(c.gates.ofRun({ path: { runId: run.runId } }), (g) => g[0]?.status === "escalated", "escalated")
      )
      expect(escalated[0]!.deadlineAt).toBeUndefined()
      // an hour later it still waits: escalation never approves
      yield* TestClock.adjust("1 hour")
      const still = yield* Effect.flatMap(clientOf(p, "vera"), (c) => c.runs.get({ path: { runId: run.runId } }))
      expect(still.summary.status).toBe("waiting-for-operator")
      const approver = yield* Effect.flip(answer(p, "ann", run.runId, "g1", "approve", "late but done"))
      expect(approver._tag === "Forbidden" && approver.reason).toBe("role")
      expect(approver.message).toContain("escalated")
      const admin = yield* answer(p, "ada", run.runId, "g1", "approve", "checked, go on")
      expect(admin.status).toBe("approved")
      expect((yield* finalReport(p, run.runId)).summary.status).toBe("succeeded")
    })
  )

  it.scopedLive(
    "the event stream resumes with Last-Event-ID across a service restart, from the journal; approvals given before the restart are kept",
    () =>
      Effect.gen(function* () {
        const issued = issueTokens()
        const runsDir = join(tempDir("restart"), "runs")
        const plan = () => quickPlan([{ id: "g1" }, dangerousGate, { id: "g3" }])
        const options = { issued, runsDir }

        // first life: g1 approved, the dangerous gate half-approved, events read up to a point
        const { lastSeq, runId, seen } = yield* Effect.scoped(
          Effect.gen(function* () {
            const p = yield* quick(plan, options)
            const run = yield* start(p)
            yield* openGate(p, run.runId)
            yield* answer(p, "ann", run.runId, "g1", "approve", "g1 done")
            yield* Effect.flatMap(clientOf(p, "vera"), (c) =>
              eventually(
                c.gates.ofRun({ path: { runId: run.runId } }),
                (g) => g[0]?.stepId === dangerousGate.id,
                "gate 2"
              )
            )
            const half = yield* answer(p, "ann", run.runId, dangerousGate.id, "approve", "first of two")
            expect(half.remaining).toBe(1)
            const seen = Chunk.toArray(
              yield* Stream.runCollect(
                Client.events({ baseUrl: p.url, token: p.tokens.vera, runId: run.runId }).pipe(
                  Stream.filter((e) => e.id !== undefined),
                  Stream.takeUntil((e) => e.event === "GateOpened" && e.data.includes(dangerousGate.id))
                )
              )
            )
            return { lastSeq: seen.at(-1)!.id!, runId: run.runId, seen }
          })
        )
        expect(seen.map((e) => e.id)).toEqual(Array.from({ length: seen.length }, (_, i) => i + 1))

        // second life: a new process on the same runs folder resumes the run; its gate reopens with ann's approval
        const p = yield* quick(plan, options)
        expect(p.handle.resumed).toEqual([runId])
        const gate = yield* openGate(p, runId)
        expect(gate.stepId).toBe(dangerousGate.id)
        expect(gate.approvals.map((a) => a.principal)).toEqual(["ann"])
        expect(gate.remaining).toBe(1)
        const again = yield* Effect.flip(answer(p, "ann", runId, dangerousGate.id, "approve", "me again"))
        expect(again._tag === "Conflict" && again.reason).toBe("already-decided")

        const resumed = yield* Effect.fork(
          Stream.runCollect(Client.events({ baseUrl: p.url, token: p.tokens.vera, runId, lastEventId: lastSeq }))
        )
        yield* answer(p, "bob", runId, dangerousGate.id, "approve", "second of two")
        yield* Effect.flatMap(clientOf(p, "vera"), (c) =>
          eventually(c.gates.ofRun({ path: { runId } }), (g) => g[0]?.stepId === "g3", "g3 opens")
        )
        yield* answer(p, "bob", runId, "g3", "approve", "g3 done")
        const after = Chunk.toArray(yield* resumed).filter((e) => e.id !== undefined)
        // exactly the records after lastSeq, each once, in order, through the restart
        expect(after[0]!.id).toBe(lastSeq + 1)
        expect(after.map((e) => e.id)).toEqual(Array.from({ length: after.length }, (_, i) => lastSeq + 1 + i))
        const tags = after.map((e) => e.event)
        expect(tags).toContain("Cancelled") // the first life's shutdown, journaled
        expect(tags).toContain("Resumed")
        expect(tags.at(-1)).toBe("RunFinished")
        const view = yield* finalReport(p, runId)
        expect(view.summary.status).toBe("succeeded")
        const approved = view.report.gates.find((g) => g.stepId === dangerousGate.id)?.answer
        expect(approved?._tag === "Approved" && approved.approvals?.map((a) => a.principal)).toEqual(["ann", "bob"])
        expect(view.report.gates.map((g) => g.stepId)).toEqual(["g1", dangerousGate.id, "g3"])
      })
  )
})
