import { beforeAll, describe, expect, it } from "@effect/vitest"
import { GateEvidence, Plan, RunHistory, StepHandler } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as tls from "node:tls"
import * as Bundle from "../src/Bundle.js"
import * as Certificate from "../src/Certificate.js"
import * as Steps from "../src/Steps.js"
import { atNow, setNow, SITE, TestChains } from "./fixtures.js"

let current: TestChains.GeneratedChain
let newCa: TestChains.GeneratedChain
let wrongHost: TestChains.GeneratedChain

beforeAll(async () => {
  current = await atNow(TestChains.generateChain())
  newCa = await atNow(
    TestChains.generateChain({ root: await atNow(TestChains.generateRoot({ commonName: "New Corp Root CA" })) })
  )
  wrongHost = await atNow(TestChains.generateChain({ root: current.root, siteFqdn: "appliance-b.example.test" }))
})

const plan = (...steps: ReadonlyArray<Plan.Step>) =>
  new Plan.Plan({ id: "p", kind: "migration", title: "t", site: SITE, targetVersion: "24.3.2", steps, notes: [] })

/** A TLS server on 127.0.0.1:0 serving `chainPem` (the new appliance's HTTPS), closed with the scope. */
const serveTls = (chainPem: string, keyPem: string) =>
  Effect.acquireRelease(
    Effect.async<tls.Server & { readonly port: number }>((resume) => {
      const server = tls.createServer({ cert: chainPem, key: keyPem }, (socket) => socket.end())
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed(Object.assign(server, { port: (server.address() as { port: number }).port })))
      )
    }),
    (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
  )

/** Runs a step's handler the way the executor does: looked up by name in the registry of `Steps.layer`. */
const runStep = (step: Plan.Step, options: Steps.LayerOptions = {}) =>
  Effect.gen(function* () {
    const registry = yield* StepHandler.StepHandlers
    const handler = Option.getOrThrow(registry.get(step.handler))
    return yield* handler.run!({ runId: "r", plan: plan(step), step, attempt: 1, history: RunHistory.make([]) })
  }).pipe(Effect.provide(Steps.layer(options)))

describe("Steps (plan steps and handlers)", () => {
  it("steps round-trip through plan JSON, are recognised by their definitions and name registered handlers", async () => {
    const steps = [
      Steps.certificateStoreCheck({ clientTrustPem: current.root.certificate.pem, servedChainPem: newCa.chainPem }),
      Steps.exportBundleGate({ path: "/safe/site.pem", siteFqdn: SITE }),
      Steps.importBundleGate({ path: "/safe/site.pem" }),
      Steps.defaultCertificateGate({ siteFqdn: SITE, candidates: [{ label: "site", chainPem: current.chainPem }] })
    ]
    const decoded = await Effect.runPromise(Plan.fromJson(Plan.toJson(plan(...steps))))
    expect(decoded.steps.map((s) => s.rules.join())).toEqual(["CLIENT-3", "PREP-2", "MIGRATE-4", "MIGRATE-5"])
    const names = await Effect.runPromise(
      Effect.map(StepHandler.StepHandlers, (r) => r.names).pipe(Effect.provide(Steps.layer()))
    )
    for (const s of decoded.steps) {
      expect(names).toContain(s.handler)
      expect(Steps.all.filter((d) => d.is(s))).toHaveLength(1)
    }
    expect(Option.getOrThrow(Steps.BundleFile.paramsOf(decoded.steps[2]!)).operation).toBe("import")
    expect(Option.isNone(Steps.BundleFile.paramsOf(decoded.steps[0]!))).toBe(true)
  })

  it("PREP-2: the export gate asks for the file as a path that must exist and, when the served leaf is known, its fingerprint", () => {
    const exported = Steps.exportBundleGate({ path: "/safe/site.pem", leafSha256: "AB:".repeat(31) + "AB" })
    expect(exported.evidence.map((f) => [f.name, f.format, f.mustExist])).toEqual([
      ["file", "path", true],
      ["passphrase stored in", undefined, undefined],
      ["fingerprint", "sha256", undefined]
    ])
    const given = { file: "/safe/site.pem", "passphrase stored in": "vault" }
    const wrong = GateEvidence.validate("e", exported.evidence, { ...given, fingerprint: "cd".repeat(32) })
    expect(Either.isLeft(wrong) && wrong.left.problems.map((p) => p.field)).toEqual(["fingerprint"])
    const right = GateEvidence.validate("e", exported.evidence, { ...given, fingerprint: "ab".repeat(32) })
    expect(Either.isRight(right)).toBe(true)
    // without a known leaf, no fingerprint is asked; the import gate asks for the certificate's name only
    expect(Steps.exportBundleGate({ path: "/p" }).evidence.map((f) => f.name)).toEqual(["file", "passphrase stored in"])
    expect(Steps.importBundleGate({ path: "/p" }).evidence.map((f) => f.name)).toEqual(["certificate"])
  })

  it.effect("a step whose params do not decode fails with BadParams naming the field", () =>
    Effect.gen(function* () {
      const step = Steps.servedCertificateCheck({ host: "127.0.0.1", port: 1 })
      const bad = new Plan.Check({ ...step, params: { host: "127.0.0.1", port: "443" } })
      const error = yield* Effect.flip(runStep(bad))
      expect(error._tag === "StepError" && error.reason._tag === "BadParams" && error.reason.field).toBe("port")
    })
  )

  it.effect("CLIENT-3: the blocking check fails with the certificates to distribute, then passes once they are", () =>
    Effect.gen(function* () {
      yield* setNow
      const step = Steps.certificateStoreCheck({
        clientTrustPem: current.root.certificate.pem,
        servedChainPem: newCa.chainPem
      })
      expect(step.severity).toBe("blocking")
      const error = yield* Effect.flip(runStep(step))
      expect(error._tag).toBe("StepError")
      expect(error.message).toContain("ClientsWillNotTrust")
      expect(error.message).toContain("New Corp Root CA")
      const evidence = error._tag === "StepError" && error.reason._tag === "Failed" ? error.reason.evidence : undefined
      expect((evidence?.toDistribute as ReadonlyArray<{ sha256: string }>).map((c) => c.sha256)).toEqual([
        newCa.root.certificate.sha256
      ])
      const fixed = Steps.certificateStoreCheck({
        clientTrustPem: current.root.certificate.pem + newCa.root.certificate.pem,
        servedChainPem: newCa.chainPem
      })
      const ok = yield* runStep(fixed)
      expect(ok.trusted).toBe(true)
    })
  )

  it.scoped("PREP-2: the export gate's handler accepts an encrypted bundle of the site and refuses a clear key", () =>
    Effect.gen(function* () {
      yield* setNow
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "sra-certs-steps-"))),
        (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
      )
      const passphrase = Redacted.make("vault-entry-42")
      const file = path.join(dir, "site.pem")
      yield* Bundle.exportBundle(current.chain, current.leaf.privateKey, passphrase, { path: file })
      const gate = Steps.exportBundleGate({ path: file, siteFqdn: SITE, leafSha256: current.chain[0].sha256 })
      const shallow = yield* runStep(gate)
      expect(shallow.keyChecked).toBe(false)
      const deep = yield* runStep(gate, { bundlePassphrase: passphrase })
      expect(deep.keyChecked).toBe(true)
      expect(deep.chainSha256).toEqual(current.chain.map((c) => c.sha256))
      const wrong = yield* Effect.flip(runStep(gate, { bundlePassphrase: Redacted.make("nope") }))
      expect(wrong.message).toContain("passphrase does not decrypt")
      const clear = path.join(dir, "clear.pem")
      fs.writeFileSync(clear, current.chainPem + current.keyPem)
      const refused = yield* Effect.flip(runStep(Steps.exportBundleGate({ path: clear })))
      expect(refused.message).toContain("unencrypted private key")
      const otherLeaf = yield* Effect.flip(
        runStep(Steps.exportBundleGate({ path: file, leafSha256: wrongHost.chain[0].sha256 }))
      )
      expect(otherLeaf.message).toContain("not the certificate served by the site")
    })
  )

  it.scoped("MIGRATE-5: the default-certificate gate verifies the choice and that the new appliance serves it", () =>
    Effect.gen(function* () {
      yield* setNow
      const params = {
        siteFqdn: SITE,
        candidates: [
          { label: "appliance-b", chainPem: wrongHost.chainPem },
          { label: "site", chainPem: current.chainPem }
        ]
      }
      // The new appliance still serves its own certificate: the gate's verification fails.
      const before = yield* serveTls(Certificate.chainToPem(wrongHost.chain.slice(0, 2)), wrongHost.keyPem)
      const notYet = yield* Effect.flip(
        runStep(Steps.defaultCertificateGate({ ...params, host: "127.0.0.1", port: before.port }))
      )
      expect(notYet.message).toContain("Select it as default")
      // Once the site certificate is the default, it passes.
      const after = yield* serveTls(Certificate.chainToPem(current.chain.slice(0, 2)), current.keyPem)
      const ok = yield* runStep(Steps.defaultCertificateGate({ ...params, host: "127.0.0.1", port: after.port }))
      expect(ok).toEqual({ chosen: "site", leafSha256: current.chain[0].sha256 })
    })
  )
})
