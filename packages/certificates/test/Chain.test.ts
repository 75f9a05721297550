import { beforeAll, describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { MaintenanceWindow } from "@sra-upgrade/core"
import * as Certificate from "../src/Certificate.js"
import * as Chain from "../src/Chain.js"
import type * as Finding from "../src/Finding.js"
import * as PrivateKey from "../src/PrivateKey.js"
import { atNow, DAY, NOW, setNow, SITE, TestChains } from "./fixtures.js"

const codes = (findings: ReadonlyArray<Finding.Finding>) => findings.map((f) => f.code).sort()
const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

let good: TestChains.GeneratedChain
let twoIntermediates: TestChains.GeneratedChain

beforeAll(async () => {
  good = await atNow(TestChains.generateChain())
  twoIntermediates = await atNow(TestChains.generateChain({ intermediates: 2, root: good.root }))
})

describe("parsing", () => {
  it("reads a PEM chain in file order and a single DER certificate", async () => {
    const parsed = await run(Certificate.parse(good.chainPem))
    expect(parsed.map((c) => c.sha256)).toEqual(good.chain.map((c) => c.sha256))
    const der = await run(Certificate.parse(good.chain[0].der))
    expect(der[0].sha256).toBe(good.chain[0].sha256)
    expect(der[0].dnsNames).toEqual([SITE])
    expect(der[0].commonName).toBe(SITE)
    const pemBytes = await run(Certificate.parse(new TextEncoder().encode(good.chainPem)))
    expect(pemBytes).toHaveLength(3)
  })

  it("fails with NoCertificate / Malformed on junk", async () => {
    const none = await Effect.runPromiseExit(Certificate.parse("hello"))
    expect(Exit.isFailure(none) && JSON.stringify(none.cause)).toContain("NoCertificate")
    const broken = await Effect.runPromiseExit(
      Certificate.parse("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    )
    expect(Exit.isFailure(broken) && JSON.stringify(broken.cause)).toContain("Malformed")
    const der = await Effect.runPromiseExit(Certificate.parse(new Uint8Array([1, 2, 3])))
    expect(Exit.isFailure(der) && JSON.stringify(der.cause)).toContain("Malformed")
  })

  it("fingerprints match node:crypto's and normalise colon notation", () => {
    const leaf = good.chain[0]
    expect(leaf.node.fingerprint256.replace(/:/g, "").toLowerCase()).toBe(leaf.sha256)
    expect(Certificate.normalizeFingerprint(leaf.node.fingerprint256)).toBe(leaf.sha256)
  })

  it("reads RSA and EC keys: PKCS#8, PKCS#1, SEC1, DER, encrypted PKCS#8 with passphrase", async () => {
    const rsa = await atNow(TestChains.generateChain({ leafKey: "rsa-2048", root: good.root }))
    const passphrase = Redacted.make("correct horse")
    for (const issued of [good.leaf, rsa.leaf]) {
      const ko = issued.privateKey.keyObject
      const type = issued.keySpec.startsWith("rsa") ? "pkcs1" : "sec1"
      const inputs: ReadonlyArray<string | Uint8Array> = [
        ko.export({ type: "pkcs8", format: "pem" }) as string,
        ko.export({ type, format: "pem" }) as string,
        new Uint8Array(ko.export({ type: "pkcs8", format: "der" })),
        new Uint8Array(ko.export({ type, format: "der" }))
      ]
      for (const input of inputs) {
        const key = await run(PrivateKey.parse(input))
        expect(key.matches(issued.certificate)).toBe(true)
        expect(key.wasEncrypted).toBe(false)
      }
      const encrypted = ko.export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "correct horse" })
      const key = await run(PrivateKey.parse(encrypted as string, passphrase))
      expect(key.matches(issued.certificate)).toBe(true)
      expect(key.wasEncrypted).toBe(true)
      const encryptedDer = ko.export({
        type: "pkcs8",
        format: "der",
        cipher: "aes-256-cbc",
        passphrase: "correct horse"
      })
      expect((await run(PrivateKey.parse(new Uint8Array(encryptedDer), passphrase))).matches(issued.certificate)).toBe(
        true
      )
      // A key with its certificates in one PEM file.
      const bundled = await run(PrivateKey.parse(good.chainPem + (encrypted as string), passphrase))
      expect(bundled.type).toBe(issued.keySpec.startsWith("rsa") ? "rsa" : "ec")
    }
    expect(rsa.leaf.certificate.key).toEqual({ type: "rsa", bits: 2048, curve: undefined })
  })

  it("rejects a missing or wrong passphrase with typed reasons, and never prints the key", async () => {
    const encrypted = good.leaf.privateKey.keyObject.export({
      type: "pkcs8",
      format: "pem",
      cipher: "aes-256-cbc",
      passphrase: "right"
    }) as string
    const missing = await Effect.runPromiseExit(PrivateKey.parse(encrypted))
    expect(JSON.stringify(missing)).toContain("PassphraseRequired")
    const wrong = await Effect.runPromise(Effect.flip(PrivateKey.parse(encrypted, Redacted.make("wrong"))))
    expect(wrong.reason._tag).toBe("WrongPassphrase")
    expect(wrong.message).toContain("passphrase does not decrypt")
    const noKey = await Effect.runPromise(Effect.flip(PrivateKey.parse(good.chainPem)))
    expect(noKey.reason._tag).toBe("NoPrivateKey")
    expect(JSON.stringify(good.leaf.privateKey)).toBe('{"_tag":"PrivateKey","type":"ec"}')
    expect(String(good.leaf.privateKey)).toBe("PrivateKey(ec)")
  })
})

describe("validateChain", () => {
  it("a good chain has no finding and is ordered leaf -> intermediate -> root", () => {
    const report = Chain.validate(good.chain, { now: NOW, siteFqdn: SITE, privateKey: good.leaf.privateKey })
    expect(report.findings).toEqual([])
    expect(report.blocking).toBe(false)
    expect(report.chain.map((c) => c.sha256)).toEqual(good.chain.map((c) => c.sha256))
  })

  it.effect("reads the time from Clock (TestClock) and PEM input", () =>
    Effect.gen(function* () {
      yield* setNow
      const report = yield* Chain.validateChain(good.chainPem, { siteFqdn: SITE })
      expect(report.findings).toEqual([])
      // Two years later (leaf valid one year, intermediate ten), only the leaf has expired.
      yield* TestClock.adjust(Duration.days(730))
      const later = yield* Chain.validateChain(good.chainPem)
      expect(codes(later.findings)).toEqual(["Expired"])
      expect(later.findings[0].certificate).toBe(good.chain[0].sha256)
    })
  )

  it("ChainOutOfOrder: reorders a shuffled chain and warns", () => {
    const [leaf, intermediate, root] = good.chain
    const report = Chain.validate([root, leaf, intermediate], { now: NOW })
    expect(codes(report.findings)).toEqual(["ChainOutOfOrder"])
    expect(report.findings[0].severity).toBe("warning")
    expect(report.chain.map((c) => c.sha256)).toEqual(good.chain.map((c) => c.sha256))
    // Two intermediates, fully reversed.
    const reversed = Chain.validate([...twoIntermediates.chain].reverse(), { now: NOW })
    expect(reversed.chain.map((c) => c.sha256)).toEqual(twoIntermediates.chain.map((c) => c.sha256))
    expect(codes(reversed.findings)).toEqual(["ChainOutOfOrder"])
  })

  it.prop(
    "any order of a 4-certificate chain is put back leaf -> intermediates -> root, warning only when it was not",
    [FastCheck.shuffledSubarray([0, 1, 2, 3], { minLength: 4 })],
    ([permutation]) => {
      const given = permutation.map((i) => twoIntermediates.chain[i])
      const report = Chain.validate(given, { now: NOW, siteFqdn: SITE })
      expect(report.chain.map((c) => c.sha256)).toEqual(twoIntermediates.chain.map((c) => c.sha256))
      const inOrder = permutation.every((p, i) => p === i)
      expect(codes(report.findings)).toEqual(inOrder ? [] : ["ChainOutOfOrder"])
    }
  )

  it("DuplicateCertificate and UnrelatedCertificate are warnings", () => {
    const report = Chain.validate([...good.chain, good.chain[1], twoIntermediates.chain[0]], { now: NOW })
    expect(codes(report.findings)).toEqual(["DuplicateCertificate", "UnrelatedCertificate"])
    expect(report.blocking).toBe(false)
  })

  it("IncompleteChain: a missing intermediate blocks and names the missing issuer", () => {
    const [leaf, , root] = good.chain
    const report = Chain.validate([leaf, root], { now: NOW })
    expect(codes(report.findings)).toEqual(["IncompleteChain", "UnrelatedCertificate"])
    const incomplete = report.findings.find((f) => f.code === "IncompleteChain")
    expect(incomplete?.severity).toBe("blocking")
    expect(incomplete?.message).toContain("Intermediate CA 1")
  })

  it("a chain without its root is complete when the root is a trust anchor; UntrustedRoot otherwise", () => {
    const [leaf, intermediate] = good.chain
    expect(codes(Chain.validate([leaf, intermediate], { now: NOW }).findings)).toEqual(["IncompleteChain"])
    const anchored = Chain.validate([leaf, intermediate], { now: NOW, trustAnchors: [good.root.certificate] })
    expect(anchored.findings).toEqual([])
    expect(anchored.anchor?.sha256).toBe(good.root.certificate.sha256)
    const otherRoot = Chain.validate(good.chain, { now: NOW, trustAnchors: [twoIntermediates.chain[1]] })
    expect(codes(otherRoot.findings)).toEqual(["UntrustedRoot"])
  })

  it("Expired and NotYetValid block", async () => {
    const expired = await atNow(
      TestChains.generateChain({
        root: good.root,
        leafNotBefore: new Date(NOW.getTime() - 400 * DAY),
        leafNotAfter: new Date(NOW.getTime() - DAY)
      })
    )
    const expiredReport = Chain.validate(expired.chain, { now: NOW })
    expect(codes(expiredReport.findings)).toEqual(["Expired"])
    expect(expiredReport.blocking).toBe(true)
    const future = await atNow(
      TestChains.generateChain({
        root: good.root,
        leafNotBefore: new Date(NOW.getTime() + 10 * DAY),
        leafNotAfter: new Date(NOW.getTime() + 400 * DAY)
      })
    )
    expect(codes(Chain.validate(future.chain, { now: NOW }).findings)).toEqual(["NotYetValid"])
  })

  it("validity at the maintenance window: ExpiresBeforeWindowEnds, NotYetValidAtWindow, ExpiresSoon", async () => {
    const leafNotAfter = new Date(NOW.getTime() + 20 * DAY)
    const short = await atNow(TestChains.generateChain({ root: good.root, leafNotAfter }))
    // Valid now, but the window (in 30 days) is after its expiry.
    const window = { start: new Date(NOW.getTime() + 30 * DAY), end: new Date(NOW.getTime() + 30 * DAY + 4 * 3600_000) }
    expect(codes(Chain.validate(short.chain, { now: NOW, window }).findings)).toEqual(["ExpiresBeforeWindowEnds"])
    // Core's MaintenanceWindow is accepted as is.
    const maintenance = new MaintenanceWindow.MaintenanceWindow({
      label: "Saturday night",
      start: window.start,
      durationMinutes: 240
    })
    expect(codes(Chain.validate(short.chain, { now: NOW, window: maintenance }).findings)).toEqual([
      "ExpiresBeforeWindowEnds"
    ])
    // The window ends after expiry even though it starts before it.
    const straddling = {
      start: new Date(leafNotAfter.getTime() - 3600_000),
      end: new Date(leafNotAfter.getTime() + 3600_000)
    }
    expect(codes(Chain.validate(short.chain, { now: NOW, window: straddling }).findings)).toEqual([
      "ExpiresBeforeWindowEnds"
    ])
    // Without a window it only expires soon (a warning).
    const soon = Chain.validate(short.chain, { now: NOW })
    expect(codes(soon.findings)).toEqual(["ExpiresSoon"])
    expect(soon.blocking).toBe(false)
    expect(codes(Chain.validate(short.chain, { now: NOW, expiryWarningDays: 7 }).findings)).toEqual([])
    // Not yet valid when the window starts (valid from day 40, window at day 30).
    const late = await atNow(
      TestChains.generateChain({ root: good.root, leafNotBefore: new Date(NOW.getTime() + 40 * DAY) })
    )
    expect(codes(Chain.validate(late.chain, { now: NOW, window }).findings)).toEqual([
      "NotYetValid",
      "NotYetValidAtWindow"
    ])
  })

  it("WeakKey: an RSA-1024 leaf blocks", async () => {
    const weak = await atNow(TestChains.generateChain({ root: good.root, leafKey: "rsa-1024" }))
    const report = Chain.validate(weak.chain, { now: NOW, privateKey: weak.leaf.privateKey, siteFqdn: SITE })
    expect(codes(report.findings)).toEqual(["WeakKey"])
    expect(report.findings[0].severity).toBe("blocking")
    expect(report.findings[0].message).toContain("1024-bit")
  })

  it("WeakSignatureAlgorithm: a SHA-1 signed leaf blocks (also from an RSA issuer); a SHA-1 root self-signature does not", async () => {
    const sha1 = await atNow(TestChains.generateChain({ root: good.root, leafHash: "SHA-1" }))
    expect(sha1.leaf.certificate.signatureHash).toBe("SHA-1")
    expect(codes(Chain.validate(sha1.chain, { now: NOW }).findings)).toEqual(["WeakSignatureAlgorithm"])
    const rsaRoot = await atNow(TestChains.generateRoot({ key: "rsa-2048", hash: "SHA-1" }))
    expect(rsaRoot.certificate.signatureHash).toBe("SHA-1")
    const underRsa = await atNow(TestChains.generateChain({ root: rsaRoot, intermediates: 0, leafHash: "SHA-1" }))
    expect(codes(Chain.validate(underRsa.chain, { now: NOW }).findings)).toEqual(["WeakSignatureAlgorithm"])
    const sha256UnderRsa = await atNow(TestChains.generateChain({ root: rsaRoot, intermediates: 0 }))
    expect(codes(Chain.validate(sha256UnderRsa.chain, { now: NOW }).findings)).toEqual([])
  })

  it("KeyMismatch: a private key of another certificate blocks", () => {
    const report = Chain.validate(good.chain, { now: NOW, privateKey: twoIntermediates.leaf.privateKey })
    expect(codes(report.findings)).toEqual(["KeyMismatch"])
    expect(report.blocking).toBe(true)
  })

  it("HostnameMismatch (wrong host) blocks; HostnameOnlyInCommonName warns; wildcards per RFC 6125", async () => {
    const wrong = await atNow(TestChains.generateChain({ root: good.root, siteFqdn: "other.example.test" }))
    const report = Chain.validate(wrong.chain, { now: NOW, siteFqdn: SITE })
    expect(codes(report.findings)).toEqual(["HostnameMismatch"])
    expect(report.findings[0].message).toContain("other.example.test")
    const cnOnly = await atNow(TestChains.generateChain({ root: good.root, dnsNames: [] }))
    expect(codes(Chain.validate(cnOnly.chain, { now: NOW, siteFqdn: SITE }).findings)).toEqual([
      "HostnameOnlyInCommonName"
    ])
    const wildcard = await atNow(
      TestChains.generateChain({ root: good.root, commonName: "*.example.test", dnsNames: ["*.example.test"] })
    )
    expect(Chain.validate(wildcard.chain, { now: NOW, siteFqdn: SITE }).findings).toEqual([])
    expect(codes(Chain.validate(wildcard.chain, { now: NOW, siteFqdn: "a.support.example.test" }).findings)).toEqual([
      "HostnameMismatch"
    ])
    expect(codes(Chain.validate(wildcard.chain, { now: NOW, siteFqdn: "example.test" }).findings)).toEqual([
      "HostnameMismatch"
    ])
    // A DNS SAN present: the Common Name is not consulted.
    const cnDiffers = await atNow(
      TestChains.generateChain({ root: good.root, commonName: SITE, dnsNames: ["portal.example.test"] })
    )
    expect(codes(Chain.validate(cnDiffers.chain, { now: NOW, siteFqdn: SITE }).findings)).toEqual(["HostnameMismatch"])
  })

  it("SignatureInvalid: an intermediate replaced by a same-name CA with another key", async () => {
    // Same subject name as the real intermediate, different key: names link, the signature does not verify.
    const impostor = await atNow(
      TestChains.issue(good.root, { commonName: "sra-upgrade Test Intermediate CA 1", isCa: true })
    )
    const report = Chain.validate([good.chain[0], impostor.certificate, good.chain[2]], { now: NOW })
    expect(codes(report.findings)).toContain("SignatureInvalid")
    expect(report.blocking).toBe(true)
  })

  it("IssuerNotCa: a leaf used to sign another certificate", async () => {
    const notCa = good.leaf
    const child = await atNow(
      TestChains.issue(notCa, { commonName: "child.example.test", dnsNames: ["child.example.test"] })
    )
    const report = Chain.validate([child.certificate, ...good.chain], { now: NOW })
    expect(codes(report.findings)).toEqual(["IssuerNotCa"])
  })

  it("EmptyChain blocks", () => {
    expect(codes(Chain.validate([], { now: NOW }).findings)).toEqual(["EmptyChain"])
  })
})
