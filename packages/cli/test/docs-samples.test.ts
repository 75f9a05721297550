/**
 * Every code sample of docs/getting-started.md, docs/portal-api.md and the
 * CLI README is a file of test/samples/ (type-checked with the tests) copied
 * verbatim into the page; here each page is checked to hold its files
 * exactly, and each sample is run.
 */
import { Executor, Journal, RunEvent } from "@sra-upgrade/core"
import { SimConfig, SimOperator, Simulator } from "@sra-upgrade/simulator"
import { ApplianceClient } from "@sra-upgrade/appliance-client"
import { CoreHandlers, SingleUpgrade, Site } from "@sra-upgrade/core"
import { Chunk, Effect, Fiber, Layer, Schema, Stream } from "effect"
import { readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import * as Approvals from "./samples/approvals.js"
import * as Events from "./samples/events.js"
import * as PlanJson from "./samples/plan-json.js"
import * as Sdk from "./samples/sdk.js"

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, "..", "..", "..")

/** The code blocks that follow `<!-- sample: <file> -->` markers in a page. */
const samplesOf = (page: string): Array<{ file: string; code: string }> => {
  const text = readFileSync(join(root, page), "utf8")
  return [...text.matchAll(/<!-- sample: (\S+) -->\s*```ts\n([\s\S]*?)```/g)].map((m) => ({ file: m[1]!, code: m[2]! }))
}

describe("docs code samples", () => {
  for (const page of ["docs/getting-started.md", "docs/portal-api.md", "README.md", "docs/guides/own-step.md"]) {
    it(`${page}: each sample is a checked file of test/samples, verbatim`, () => {
      const samples = samplesOf(page)
      expect(samples.length).toBeGreaterThan(0)
      for (const s of samples) expect(s.code).toBe(readFileSync(join(here, "samples", s.file), "utf8"))
    })
  }
  it("every ```ts block of the portal and getting-started pages is a checked sample", () => {
    for (const page of ["docs/getting-started.md", "docs/portal-api.md", "README.md", "docs/guides/own-step.md"]) {
      const text = readFileSync(join(root, page), "utf8")
      const blocks = (text.match(/```ts\n/g) ?? []).length
      expect(blocks).toBe(samplesOf(page).length)
    }
  })
})

describe("the samples run", () => {
  it("sdk.ts: plans and runs the upgrade of a simulated appliance to success", async () => {
    const report = await Effect.runPromise(Sdk.program)
    expect(report.status).toBe("succeeded")
    expect(report.steps.find((s) => s.id === "A/verify")?.evidence["version"]).toBe("24.3.2")
  }, 120_000)

  it("plan-json.ts: the plan round-trips through JSON and renders as a runbook", async () => {
    const out = await Effect.runPromise(PlanJson.planAsJson(join(root, "examples", "site.yaml")))
    const parsed = JSON.parse(out.json) as { steps: Array<{ _tag: string }> }
    expect(parsed.steps.length).toBe(out.steps.length)
    expect(out.steps.some((s) => s.kind === "ManualGate")).toBe(true)
    expect(out.firstGateInstructions.length).toBeGreaterThan(0)
    expect(out.runbook).toContain("# Upgrade support.example.com")
  })

  it("events.ts and approvals.ts: SSE frames of a run whose gates a 'portal user' approves", async () => {
    const program = Effect.gen(function* () {
      const sim = yield* Simulator.start({
        timeScale: 600,
        appliances: [{ ...SimConfig.make().appliances[0]!, failoverRole: "none" }]
      })
      const account = sim.accounts[0]!
      const site = yield* Site.decodeSite(
        JSON.stringify({
          hostname: "support.example.com",
          product: "pra",
          appliances: [
            {
              id: "A",
              role: "none",
              apiUrl: sim.appliance("A").httpUrl,
              allowPlainHttp: true,
              uniqueIp: "10.0.0.11",
              clientId: account.clientId,
              clientSecret: { env: "SRA_SECRET" },
              baseVersion: "6.1.0"
            }
          ],
          backup: { directory: tmpdir() },
          updates: [
            { id: "base-6.2.1", kind: "base", version: "6.2.1" },
            { id: "site-24.3.2", kind: "site", version: "24.3.2", requires: ["base-6.2.1"] }
          ]
        }),
        "json"
      )
      const plan = yield* SingleUpgrade.planSingleUpgrade(site, "24.3.2", {
        current: { product: "24.1.3" },
        pollIntervalSeconds: 0.1
      })
      const approvals = yield* Approvals.makeApprovals
      const appliances = ApplianceClient.layer([
        { id: "A", baseUrl: sim.appliance("A").httpUrl, clientId: account.clientId, clientSecret: account.clientSecret }
      ])
      const executor = Executor.layer.pipe(
        Layer.provide(
          Layer.mergeAll(
            CoreHandlers.layer({ baseGraceSeconds: 1 }).pipe(Layer.provide(appliances)),
            Approvals.layerOf(approvals),
            Journal.layerMemory
          )
        )
      )
      const frames = yield* Effect.fork(Stream.runCollect(Events.serverSentEvents(plan)).pipe(Effect.provide(executor)))
      // the portal user: does the work (here the simulator does it) and approves in the portal
      const worker = SimOperator.make({ controlUrl: sim.controlUrl })
      const decided: Array<string> = []
      const portalUser = Effect.gen(function* () {
        for (;;) {
          const [request] = yield* approvals.list
          if (request === undefined) {
            yield* Effect.sleep("20 millis")
            continue
          }
          const done = yield* worker.answer(request)
          const evidence = done._tag === "Approved" ? done.evidence : {}
          decided.push(request.step.id)
          yield* approvals.decide(request.step.id, Approvals.approveAs("jane@portal", evidence))
        }
      })
      const user = yield* Effect.fork(portalUser)
      const collected = Chunk.toReadonlyArray(yield* Fiber.join(frames))
      yield* Fiber.interrupt(user)
      return { collected, decided }
    }).pipe(Effect.scoped)

    const { collected, decided } = await Effect.runPromise(program)
    expect(collected[0]).toMatch(/^event: RunStarted\ndata: \{/)
    expect(collected.at(-1)).toContain('"status":"succeeded"')
    expect(decided.length).toBeGreaterThan(0)
    const answered = collected.filter((f) => f.startsWith("event: GateAnswered"))
    expect(answered.length).toBe(decided.length)
    expect(answered.every((f) => f.includes("jane@portal"))).toBe(true)
    const envelopes = collected.map((f) => JSON.parse(f.split("data: ")[1]!) as unknown)
    const lines = envelopes.map((e) => Events.progress(Schema.decodeUnknownSync(RunEvent.Envelope)(e)))
    expect(lines).toContain(`run ${(envelopes[0] as { runId: string }).runId} succeeded`)
  }, 120_000)
})
