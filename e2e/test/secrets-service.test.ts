// Secrets stay secret through the portal service too: a whole single-appliance
// upgrade started and approved over its HTTP API, with a password-protected
// backup, a certificate export under a passphrase and a signed webhook; then
// every response the API gave (JSON, Markdown, OpenAPI, the page), the event
// stream, every log line (all levels), the journal and the service's own
// files (approvals, run records, availability, webhook outbox) and every
// webhook body are searched for the API client secret, the backup password,
// the key passphrase, every bearer token and the webhook secret.
import { describe, expect, it } from "@effect/vitest"
import { Site } from "@sra-upgrade/core"
import { Auth, Server, Webhooks } from "@sra-upgrade/server"
import { SimOperator } from "@sra-upgrade/simulator"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Context from "effect/Context"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import * as http from "node:http"
import { join } from "node:path"
import { makeSite, startSim, tempDir } from "./support/single.js"

const BACKUP_PASSWORD = "Backup-Pw-portal-9d2e71"
const PASSPHRASE = "Key-Passphrase-portal-5c0a33"

type Json = Record<string, unknown>

const walk = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? walk(p) : [p]
  })

describe("secrets never reach the portal's responses, events, logs, page, files or webhooks", () => {
  it.scopedLive(
    "PREP-1: a run through the service with a protected backup, a key export and a webhook leaks no secret",
    () =>
      Effect.gen(function* () {
        const dir = tempDir("secrets-portal")
        const site = makeSite({ dir, baseVersion: "6.2.1", backupPassword: true })
        const sim = yield* startSim(site, { backupPassword: BACKUP_PASSWORD })
        const clientSecret = Redacted.value(sim.accounts.find((a) => a.permCommand === "full_access")!.clientSecret)
        const clientId = sim.accounts.find((a) => a.permCommand === "full_access")!.clientId

        // the site file a person would write: secrets in files beside it
        const sitesDir = join(dir, "sites")
        mkdirSync(sitesDir)
        writeFileSync(join(sitesDir, "client-secret"), clientSecret + "\n", { mode: 0o600 })
        writeFileSync(join(sitesDir, "backup-password"), BACKUP_PASSWORD + "\n", { mode: 0o600 })
        writeFileSync(join(sitesDir, "ca.pem"), sim.certificatePem)
        const encoded = Schema.encodeSync(Site.Site)(site) as unknown as Record<string, unknown> & {
          appliances: Array<Record<string, unknown>>
          backup: Record<string, unknown>
        }
        encoded.appliances[0] = {
          ...encoded.appliances[0],
          apiUrl: sim.appliance("A").httpsUrl,
          clientId,
          clientSecret: { file: "./client-secret" },
          tls: { caFile: "./ca.pem" }
        }
        encoded.backup = { ...encoded.backup, password: { file: "./backup-password" } }
        writeFileSync(join(sitesDir, "prod.json"), JSON.stringify(encoded, null, 2))

        // a webhook receiver that keeps what it gets
        const webhookSecret = Webhooks.generateSecret()
        const received: Array<string> = []
        const receiver = http.createServer((req, res) => {
          let body = ""
          req.on("data", (c: Buffer) => (body += c.toString("utf8")))
          req.on("end", () => {
            received.push(JSON.stringify(req.headers) + "\n" + body)
            res.writeHead(204).end()
          })
        })
        yield* Effect.acquireRelease(
          Effect.async<void>((resume) => void receiver.listen(0, "127.0.0.1", () => resume(Effect.void))),
          () => Effect.async<void>((resume) => void receiver.close(() => resume(Effect.void)))
        )
        const hookUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`

        // every log line, all levels
        const logs: Array<string> = []
        const logger = Logger.make(({ annotations, cause, message }) => {
          logs.push(
            JSON.stringify(message),
            String(cause),
            JSON.stringify(Object.fromEntries(HashMap.toEntries(annotations)))
          )
        })
        const issued = Auth.issue([
          new Auth.Principal({ id: "oscar", name: "Oscar", role: "operator" }),
          new Auth.Principal({ id: "ann", name: "Ann", role: "approver" }),
          new Auth.Principal({ id: "bob", name: "Bob", role: "approver" })
        ])
        const tokens = Object.fromEntries(issued.map((i) => [i.principal.id, Redacted.value(i.token)]))
        const runsDir = join(dir, "runs")
        const operator = SimOperator.make({
          controlUrl: sim.controlUrl,
          exportPassphrase: PASSPHRASE,
          exportDirectory: join(dir, "certs")
        })
        const context = yield* Layer.build(
          Server.layer({
            runsDirectory: runsDir,
            sitesDirectory: sitesDir,
            tokens: Auth.layerMemory(issued),
            port: 0,
            logRequests: true,
            webhooks: [{ id: "ops", url: hookUrl, secrets: [webhookSecret] }],
            tuning: { baseGraceSeconds: 1 },
            perform: (request, approved) =>
              Effect.map(operator.answer(request), (played) =>
                played._tag === "Approved"
                  ? { ...approved, evidence: { ...approved.evidence, ...played.evidence } }
                  : played
              ) as never
          }).pipe(
            Layer.provide(
              Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(LogLevel.All))
            )
          )
        )
        const url = Context.get(context, Server.PortalServer).url

        const responses: Array<string> = []
        const call = (who: string, method: string, path: string, body?: unknown) =>
          Effect.promise(async () => {
            const res = await fetch(`${url}${path}`, {
              method,
              headers: {
                authorization: `Bearer ${tokens[who]}`,
                ...(body === undefined ? {} : { "content-type": "application/json" })
              },
              body: body === undefined ? null : JSON.stringify(body)
            })
            const text = await res.text()
            responses.push(`${method} ${path} ${res.status} ${JSON.stringify([...res.headers])}\n${text}`)
            return {
              status: res.status,
              json: (() => {
                try {
                  return JSON.parse(text) as Json
                } catch {
                  return undefined
                }
              })()
            }
          })

        yield* call("ann", "GET", "/api/v1/sites")
        yield* call("ann", "GET", "/api/v1/sites/prod")
        yield* call("ann", "POST", "/api/v1/plans", { site: "prod", target: "24.3.2" })
        const started = yield* call("oscar", "POST", "/api/v1/runs", { site: "prod", target: "24.3.2" })
        expect(started.status).toBe(202)
        const runId = String(started.json!["runId"])
        // the event stream, read to its end in the background
        const sse = Effect.runPromise(
          Effect.promise(async () => {
            const res = await fetch(`${url}/api/v1/runs/${runId}/events`, {
              headers: { authorization: `Bearer ${tokens["ann"]}` }
            })
            return await res.text()
          })
        )
        for (let i = 0; i < 2000; i++) {
          const view = yield* call("ann", "GET", `/api/v1/runs/${runId}`)
          const status = String((view.json?.["summary"] as Json | undefined)?.["status"])
          if (["succeeded", "failed", "halted-needs-support"].includes(status)) break
          const gate = (view.json?.["gates"] as Array<Json> | undefined)?.find((g) => g["status"] === "open")
          if (gate !== undefined) {
            const who = (gate["approvals"] as Array<{ principal: string }>).some((a) => a.principal === "ann")
              ? "bob"
              : "ann"
            const evidence = Object.fromEntries(
              (gate["evidence"] as Array<{ name: string }>).map((f) => [f.name, `given ${f.name}`])
            )
            yield* call(who, "POST", `/api/v1/runs/${runId}/gates/${encodeURIComponent(String(gate["stepId"]))}`, {
              decision: "approve",
              comment: "done as the instructions say",
              evidence
            })
          }
          yield* Effect.promise(() => new Promise((r) => setTimeout(r, 100)))
        }
        const report = yield* call("ann", "GET", `/api/v1/runs/${runId}/report`)
        expect(report.json?.["status"], String(report.json?.["error"])).toBe("succeeded")
        yield* call("ann", "GET", `/api/v1/runs/${runId}/report.md`)
        yield* call("ann", "GET", `/api/v1/runs`)
        yield* call("ann", "GET", `/api/v1/gates`)
        yield* call("ann", "GET", `/api/v1/runs/${runId}/gates`)
        yield* call("ann", "GET", `/api/v1/session`)
        yield* call("ann", "POST", `/api/v1/session`)
        yield* call("ann", "GET", "/api/openapi.json")
        yield* call("ann", "GET", "/")
        const events = yield* Effect.promise(() => sse)
        // webhooks settle
        for (let i = 0; i < 200 && !received.some((r) => r.includes("run.succeeded")); i++)
          yield* Effect.promise(() => new Promise((r) => setTimeout(r, 50)))

        const haystacks: Record<string, string> = {
          responses: responses.join("\n"),
          events,
          logs: logs.join("\n"),
          files: walk(runsDir)
            .map((f) => `${f}\n${readFileSync(f).toString("latin1")}`)
            .join("\n"),
          webhooks: received.join("\n")
        }
        // the test can fail: the haystacks hold what the run did
        expect(haystacks["events"]).toContain("RunFinished")
        expect(haystacks["files"]).toContain(".portal")
        expect(haystacks["files"]).toContain("approvals")
        expect(haystacks["webhooks"]).toContain("run.succeeded")
        expect(haystacks["logs"]).toContain("/api/v1/runs")
        expect(haystacks["responses"]).toContain("A/backup")
        const needles: Record<string, string> = {
          clientSecret,
          BACKUP_PASSWORD,
          PASSPHRASE,
          webhookSecret: Redacted.value(webhookSecret),
          webhookSecretKey: Redacted.value(webhookSecret).slice("whsec_".length),
          ...Object.fromEntries(Object.entries(tokens).map(([who, t]) => [`token of ${who}`, t]))
        }
        for (const [where, text] of Object.entries(haystacks))
          for (const [name, secret] of Object.entries(needles))
            expect(text.includes(secret), `${name} found in ${where}`).toBe(false)
      }),
    300_000
  )
})
