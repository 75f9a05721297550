import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Bundle from "../src/Bundle.js"
import * as Certificate from "../src/Certificate.js"
import * as Chain from "../src/Chain.js"
import * as PrivateKey from "../src/PrivateKey.js"
import { atNow, NOW, SITE, TestChains } from "./fixtures.js"

let good: TestChains.GeneratedChain
let rsa: TestChains.GeneratedChain
let other: TestChains.GeneratedChain
let dir: string
const passphrase = Redacted.make("keep-this-safe-2026")

beforeAll(async () => {
  good = await atNow(TestChains.generateChain())
  rsa = await atNow(TestChains.generateChain({ root: good.root, leafKey: "rsa-2048" }))
  other = await atNow(TestChains.generateChain({ root: good.root }))
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sra-certs-"))
})
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const fail = <A, E>(effect: Effect.Effect<A, E>): Promise<E> => Effect.runPromise(Effect.flip(effect))

describe("Bundle", () => {
  it("PREP-2: exports the chain with its private key, encrypted, to a file only its owner can read", async () => {
    const file = path.join(dir, "prep-2.pem")
    // Given out of order: the file is written leaf -> intermediate -> root.
    const receipt = await Effect.runPromise(
      Bundle.exportBundle([good.chain[2], good.chain[0], good.chain[1]], good.leaf.privateKey, passphrase, {
        path: file
      })
    )
    expect(receipt.chainSha256).toEqual(good.chain.map((c) => c.sha256))
    expect(receipt.leafSha256).toBe(good.chain[0].sha256)
    const text = fs.readFileSync(file, "utf8")
    expect(text).toContain("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    expect(text).not.toMatch(/-----BEGIN (RSA |EC )?PRIVATE KEY-----/)
    expect(text).not.toContain(Redacted.value(passphrase))
    expect(fs.statSync(file).mode & 0o777).toBe(0o600)
    expect(fs.readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([])
    // The file alone (plus the passphrase) is enough to rebuild: a complete, valid chain and the matching key.
    const key = await Effect.runPromise(PrivateKey.parse(text, passphrase))
    expect(key.matches(good.chain[0])).toBe(true)
    const certificates = await Effect.runPromise(Certificate.parsePem(text))
    expect(Chain.validate(certificates, { now: NOW, siteFqdn: SITE, privateKey: key }).findings).toEqual([])
  })

  it("MIGRATE-3: refuses to write an unencrypted key, a key that does not match the leaf, or over an existing file", async () => {
    const file = path.join(dir, "migrate-3.pem")
    const empty = await fail(Bundle.exportBundle(good.chain, good.leaf.privateKey, Redacted.make("  "), { path: file }))
    expect(empty.reason._tag).toBe("UnencryptedKey")
    expect(fs.existsSync(file)).toBe(false)
    const mismatch = await fail(Bundle.exportBundle(good.chain, other.leaf.privateKey, passphrase, { path: file }))
    expect(mismatch.reason._tag).toBe("KeyMismatch")
    expect(fs.existsSync(file)).toBe(false)
    await Effect.runPromise(Bundle.exportBundle(good.chain, good.leaf.privateKey, passphrase, { path: file }))
    const exists = await fail(Bundle.exportBundle(good.chain, good.leaf.privateKey, passphrase, { path: file }))
    expect(exists.reason._tag).toBe("Io")
    expect(exists.message).toContain("EEXIST")
    await Effect.runPromise(
      Bundle.exportBundle(rsa.chain, rsa.leaf.privateKey, passphrase, { path: file, overwrite: true })
    )
    const back = await Effect.runPromise(Bundle.importBundle(file, passphrase))
    expect(back.chain[0].sha256).toBe(rsa.chain[0].sha256)
    expect(fs.readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([])
  })

  it("MIGRATE-4: export -> import gives the same fingerprints (RSA and EC); a wrong passphrase is rejected with a typed error", async () => {
    for (const chain of [good, rsa]) {
      const file = path.join(dir, `migrate-4-${chain.leaf.keySpec}.pem`)
      const receipt = await Effect.runPromise(
        Bundle.exportBundle(chain.chain, chain.leaf.privateKey, passphrase, { path: file })
      )
      const imported = await Effect.runPromise(Bundle.importBundle(file, Redacted.make("keep-this-safe-2026")))
      expect(imported.chain.map((c) => c.sha256)).toEqual(chain.chain.map((c) => c.sha256))
      expect(imported.chain.map((c) => c.sha256)).toEqual(receipt.chainSha256)
      expect(imported.privateKey.matches(chain.chain[0])).toBe(true)
      expect(imported.privateKey.type).toBe(chain.leaf.keySpec.startsWith("rsa") ? "rsa" : "ec")
      const wrong = await fail(Bundle.importBundle(file, Redacted.make("keep-this-safe-2025")))
      expect(wrong._tag).toBe("CertificateError")
      expect(wrong.reason._tag).toBe("WrongPassphrase")
      expect(wrong.message).not.toContain("keep-this-safe")
    }
  })

  it("MIGRATE-4: import refuses an unencrypted key unless allowed, a bundle without key, and a missing file", async () => {
    const clear = good.chainPem + good.keyPem
    const refused = await fail(Bundle.decode(clear, passphrase))
    expect(refused.reason._tag).toBe("UnencryptedKey")
    const allowed = await Effect.runPromise(Bundle.decode(clear, passphrase, { allowUnencrypted: true }))
    expect(allowed.chain.map((c) => c.sha256)).toEqual(good.chain.map((c) => c.sha256))
    const noKey = await fail(Bundle.decode(good.chainPem, passphrase))
    expect(noKey.reason._tag).toBe("NoPrivateKey")
    const notPem = await fail(Bundle.decode(new Uint8Array([0x30, 0x82, 0x01, 0x00]), passphrase))
    expect(notPem.reason._tag).toBe("Malformed")
    const missing = await fail(Bundle.importBundle(path.join(dir, "nope.pem"), passphrase))
    expect(missing.reason._tag).toBe("Io")
    // A bundle whose key belongs to another certificate.
    const mixed = await Effect.runPromise(Bundle.encode(other.chain, other.leaf.privateKey, passphrase))
    const swapped = good.chainPem + mixed.slice(mixed.indexOf("-----BEGIN ENCRYPTED"))
    expect((await fail(Bundle.decode(swapped, passphrase))).reason._tag).toBe("KeyMismatch")
  })
})
