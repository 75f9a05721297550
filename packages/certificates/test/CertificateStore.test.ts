import { beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as CertificateStore from "../src/CertificateStore.js"
import { atNow, DAY, NOW, setNow, TestChains } from "./fixtures.js"

let current: TestChains.GeneratedChain
let renewedSameCa: TestChains.GeneratedChain
let newCa: TestChains.GeneratedChain
let newCaTwoIntermediates: TestChains.GeneratedChain
let shortRoot: TestChains.Issued
let sameIntermediate: TestChains.Issued

beforeAll(async () => {
  current = await atNow(TestChains.generateChain())
  renewedSameCa = await atNow(
    TestChains.generateChain({ root: current.root, leafNotAfter: new Date(NOW.getTime() + 700 * DAY) })
  )
  newCa = await atNow(
    TestChains.generateChain({ root: await atNow(TestChains.generateRoot({ commonName: "New Corp Root CA" })) })
  )
  newCaTwoIntermediates = await atNow(TestChains.generateChain({ root: newCa.root, intermediates: 2 }))
  sameIntermediate = await atNow(
    TestChains.issue(current.intermediates[0], {
      commonName: "support.example.test",
      dnsNames: ["support.example.test"]
    })
  )
  shortRoot = await atNow(
    TestChains.generateRoot({ commonName: "Short Root", notAfter: new Date(NOW.getTime() + 20 * DAY) })
  )
})

const labels = (v: CertificateStore.Verdict) => v.toDistribute.map((c) => c.commonName)
const codes = (v: CertificateStore.Verdict) => v.findings.map((f) => f.code)

describe("CertificateStore", () => {
  it.effect("CLIENT-3: a renewed leaf from the CA clients already hold is trusted; nothing to distribute", () =>
    Effect.gen(function* () {
      yield* setNow
      const verdict = yield* CertificateStore.check({
        clientTrust: [current.root.certificate],
        servedChain: renewedSameCa.chain.slice(0, 2)
      })
      expect(verdict.trusted).toBe(true)
      expect(verdict.findings).toEqual([])
      expect(verdict.toDistribute).toEqual([])
      expect(verdict.anchor?.sha256).toBe(current.root.certificate.sha256)
      // Clients that hold only the intermediate trust a new leaf it issued...
      const viaIntermediate = CertificateStore.evaluate(
        { clientTrust: [current.chain[1]], servedChain: [sameIntermediate.certificate, current.chain[1]] },
        NOW
      )
      expect(viaIntermediate.trusted).toBe(true)
      expect(viaIntermediate.anchor?.sha256).toBe(current.chain[1].sha256)
      // ...but not one from a new intermediate of the same name and root (different key): they need the root.
      const newIntermediate = CertificateStore.evaluate(
        { clientTrust: [current.chain[1]], servedChain: renewedSameCa.chain },
        NOW
      )
      expect(newIntermediate.trusted).toBe(false)
      expect(labels(newIntermediate)).toEqual(["sra-upgrade Test Root CA"])
    })
  )

  it("CLIENT-3: a chain from a CA clients do not hold blocks and lists the root to distribute first", () => {
    const verdict = CertificateStore.evaluate(
      { clientTrust: [current.root.certificate], servedChain: newCa.chain },
      NOW
    )
    expect(verdict.trusted).toBe(false)
    expect(codes(verdict)).toEqual(["ClientsWillNotTrust"])
    expect(verdict.findings[0].severity).toBe("blocking")
    expect(verdict.findings[0].message).toContain("New Corp Root CA")
    expect(verdict.findings[0].message).toContain("Jump Clients will show offline")
    expect(labels(verdict)).toEqual(["New Corp Root CA"])
    // Once distributed, the same check passes.
    const after = CertificateStore.evaluate(
      { clientTrust: [current.root.certificate, ...verdict.toDistribute], servedChain: newCa.chain },
      NOW
    )
    expect(after.trusted).toBe(true)
  })

  it("CLIENT-3: a served chain without its root needs the root from `available`; without it, IssuerUnavailable", () => {
    const served = newCaTwoIntermediates.chain.slice(0, 2) // leaf + lower intermediate only
    const unknown = CertificateStore.evaluate({ clientTrust: [current.root.certificate], servedChain: served }, NOW)
    expect(unknown.trusted).toBe(false)
    expect(codes(unknown)).toEqual(["IssuerUnavailable"])
    const completed = CertificateStore.evaluate(
      {
        clientTrust: [current.root.certificate],
        servedChain: served,
        available: [newCaTwoIntermediates.chain[2], newCa.root.certificate]
      },
      NOW
    )
    expect(codes(completed)).toEqual(["ClientsWillNotTrust"])
    // The root, and the upper intermediate that the appliance does not serve.
    expect(labels(completed)).toEqual(["New Corp Root CA", "sra-upgrade Test Intermediate CA 1"])
  })

  it("CLIENT-3: clients hold the new root but the appliance will not serve a needed intermediate", () => {
    const verdict = CertificateStore.evaluate(
      {
        clientTrust: [newCa.root.certificate],
        servedChain: [newCaTwoIntermediates.chain[0]],
        available: newCaTwoIntermediates.chain.slice(1)
      },
      NOW
    )
    expect(verdict.trusted).toBe(false)
    expect(codes(verdict)).toEqual(["ClientsWillNotTrust"])
    expect(labels(verdict)).toEqual(["sra-upgrade Test Intermediate CA 2", "sra-upgrade Test Intermediate CA 1"])
  })

  it("CLIENT-3: a client-held root that expires before the upgrade date blocks", async () => {
    const underShort = await atNow(TestChains.generateChain({ root: shortRoot }))
    const now = CertificateStore.evaluate({ clientTrust: [shortRoot.certificate], servedChain: underShort.chain }, NOW)
    expect(now.trusted).toBe(true)
    const atWindow = CertificateStore.evaluate(
      { clientTrust: [shortRoot.certificate], servedChain: underShort.chain, at: new Date(NOW.getTime() + 30 * DAY) },
      NOW
    )
    expect(atWindow.trusted).toBe(false)
    expect(codes(atWindow)).toEqual(["TrustAnchorExpires"])
  })

  it("CLIENT-3: an empty served chain blocks", () => {
    const verdict = CertificateStore.evaluate({ clientTrust: [current.root.certificate], servedChain: [] }, NOW)
    expect(verdict.trusted).toBe(false)
    expect(codes(verdict)).toEqual(["ClientsWillNotTrust"])
  })
})
