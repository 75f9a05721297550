import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as CoreHandlers from "../src/CoreHandlers.js"
import * as Executor from "../src/Executor.js"
import * as GateEvidence from "../src/GateEvidence.js"
import * as Journal from "../src/Journal.js"
import * as Operator from "../src/Operator.js"
import * as Plan from "../src/Plan.js"
import * as Site from "../src/Site.js"
import * as SingleUpgrade from "../src/SingleUpgrade.js"
import { FakeAppliance } from "../src/test.js"

const fields = GateEvidence.toFields({
  baseVersion: GateEvidence.version("the base version shown", { expected: "6.2.1" }),
  fingerprint: GateEvidence.sha256("SHA-256 of the certificate"),
  saved: GateEvidence.integer("the saved maximum", { minimum: 1, maximum: 20 }),
  note: GateEvidence.text("anything", { optional: true })
})

describe("GateEvidence", () => {
  it("accepts values that fit and decodes them (numbers, normalised fingerprints)", () => {
    const r = GateEvidence.validate("g", fields, {
      baseVersion: " v6.2.1 ",
      fingerprint: "AB:".repeat(31) + "AB",
      saved: "20"
    })
    expect(Either.getOrThrow(r)).toEqual({ baseVersion: "6.2.1", fingerprint: "ab".repeat(32), saved: 20 })
  })

  it("refuses what contradicts the plan, saying what was expected for every field", () => {
    const r = GateEvidence.validate("A/confirm-base", fields, { baseVersion: "x", fingerprint: "x", saved: "x" })
    expect(Either.isLeft(r)).toBe(true)
    const e = Either.flip(r).pipe(Either.getOrThrow)
    expect(e.problems.map((p) => p.field)).toEqual(["baseVersion", "fingerprint", "saved"])
    expect(e.message).toMatch(/baseVersion must be 6.2.1, got "x"/)
    expect(e.message).toMatch(/fingerprint must be a SHA-256 fingerprint \(64 hexadecimal digits\), got "x"/)
    expect(e.message).toMatch(/saved must be a whole number between 1 and 20, got "x"/)
    expect(e.message).toMatch(/the gate stays open/)
    // another version than the planned one, a number out of bounds
    const wrong = GateEvidence.validate("g", fields, {
      baseVersion: "6.2.0",
      fingerprint: "0".repeat(64),
      saved: "500"
    })
    expect(
      Either.flip(wrong)
        .pipe(Either.getOrThrow)
        .problems.map((p) => p.field)
    ).toEqual(["baseVersion", "saved"])
  })

  it.effect("a local path that must exist is checked on this machine; a share or URL is not", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "sra-evidence-"))
      const file = join(dir, "export.p12")
      writeFileSync(file, "x")
      const f = GateEvidence.toFields({ path: GateEvidence.path("the file", { mustExist: true }) })
      yield* GateEvidence.checkLocalPaths("g", f, { path: file })
      yield* GateEvidence.checkLocalPaths("g", f, { path: "\\\\vault\\certs\\export.p12" })
      yield* GateEvidence.checkLocalPaths("g", f, { path: "s3://vault/certs/export.p12" })
      const missing = yield* Effect.flip(GateEvidence.checkLocalPaths("g", f, { path: join(dir, "nope.p12") }))
      expect(missing.message).toMatch(/path must be an existing file on this machine/)
    })
  )

  it.effect(
    "PREP-2 CLIENT-6: an answers file approving every gate with 'x' stops at the first gate whose evidence contradicts the plan; the gate stays open",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "sra-evidence-run-"))
        const site = Schema.decodeUnknownSync(Site.Site)({
          hostname: "support.example.com",
          product: "pra",
          appliances: [
            {
              id: "A",
              role: "none",
              apiUrl: "https://10.0.0.11",
              uniqueIp: "10.0.0.11",
              clientId: "abc",
              clientSecret: { env: "X" },
              baseVersion: "6.1.0"
            }
          ],
          backup: { directory: join(dir, "backups") },
          clients: { jumpClients: { active: 300, passive: 20, bandwidthMiBps: 10, maxConcurrent: 50 } },
          updates: [
            { id: "base-6.2.1", kind: "base", version: "6.2.1" },
            { id: "site-24.3.2", kind: "site", version: "24.3.2", requires: ["base-6.2.1"] }
          ]
        })
        const plan = Either.getOrThrow(
          SingleUpgrade.planSingleUpgrade(site, "24.3.2", { current: { product: "24.1.3" } })
        )
        const x = (request: Operator.GateRequest) =>
          new Operator.Approved({
            by: "nobody",
            evidence: Object.fromEntries(request.evidence.map((f) => [f.name, "x"]))
          })
        const layer = (answer: (r: Operator.GateRequest) => Operator.Answer) =>
          Executor.layer.pipe(
            Layer.provideMerge(
              Layer.mergeAll(
                CoreHandlers.layer({ backupPassword: Redacted.make("pw") }).pipe(
                  Layer.provide(FakeAppliance.layer({ A: { version: "24.1.3" } }))
                ),
                Operator.layerPrompt((r) => Effect.succeed(answer(r))),
                Journal.layer({ directory: dir })
              )
            )
          )
        const report = yield* Executor.run(plan, { runId: "x" }).pipe(Effect.provide(layer(x)))
        expect(report.status).toBe("waiting-for-operator")
        // the first gate asking for a checkable value: the saved maximum of concurrent Jump Client upgrades
        expect(report.currentStep).toBe("A/jump-client-concurrency")
        const refused = report.gates.at(-1)!.answer
        expect(refused._tag).toBe("Deferred")
        expect(refused._tag === "Deferred" && refused.reason).toMatch(
          /maxConcurrentUpgrades must be a whole number between 1 and \d+, got "x"/
        )
        // nothing after it ran
        const at = report.steps.findIndex((s) => s.id === "A/jump-client-concurrency")
        expect(report.steps.slice(at + 1).every((s) => s.status === "pending")).toBe(true)
        // the gate stays open: resumed with a value that fits, the run goes on to the next checked gate
        const step = plan.steps[at] as Plan.ManualGate
        const max = step.evidence[0]!.maximum!
        const again = yield* Executor.resume("x").pipe(
          Effect.provide(
            layer((r) =>
              r.step.id === "A/jump-client-concurrency"
                ? new Operator.Approved({ by: "alice", evidence: { maxConcurrentUpgrades: String(max) } })
                : x(r)
            )
          )
        )
        expect(again.steps[at]!.status).toBe("succeeded")
        expect(again.status).toBe("waiting-for-operator")
        expect(again.currentStep).toBe("A/export-certificates")
      })
  )
})
