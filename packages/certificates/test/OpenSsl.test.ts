/**
 * Interoperability with OpenSSL (what appliances and web servers use to read
 * certificate files): the exported bundle opens with the `openssl` CLI, and
 * certificates OpenSSL makes that WebCrypto cannot (MD5, DSA) are judged.
 * Skipped only when no `openssl` binary is installed.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Bundle from "../src/Bundle.js"
import * as Certificate from "../src/Certificate.js"
import * as Chain from "../src/Chain.js"
import { atNow, NOW, TestChains } from "./fixtures.js"

const hasOpenssl = spawnSync("openssl", ["version"]).status === 0
let dir: string
let good: TestChains.GeneratedChain
const PW = "interop-passphrase-1"

const openssl = (...args: ReadonlyArray<string>) => spawnSync("openssl", args, { cwd: dir, encoding: "utf8" })
const file = (name: string, content?: string) => {
  const p = path.join(dir, name)
  if (content !== undefined) fs.writeFileSync(p, content)
  return p
}
const parseFile = (name: string) =>
  Effect.runPromise(Certificate.parsePem(fs.readFileSync(path.join(dir, name), "utf8")))

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sra-certs-openssl-"))
  good = await atNow(TestChains.generateChain({ leafKey: "rsa-2048" }))
})
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

describe.skipIf(!hasOpenssl)("OpenSSL interoperability", () => {
  it("MIGRATE-4: openssl opens the exported bundle with the passphrase only, and verifies its chain", async () => {
    const bundle = file("site.pem")
    await Effect.runPromise(Bundle.exportBundle(good.chain, good.leaf.privateKey, Redacted.make(PW), { path: bundle }))
    expect(openssl("pkey", "-in", bundle, "-passin", `pass:${PW}`, "-noout").status).toBe(0)
    expect(openssl("pkey", "-in", bundle, "-passin", "pass:wrong", "-noout").status).not.toBe(0)
    const fingerprint = openssl("x509", "-in", bundle, "-noout", "-fingerprint", "-sha256").stdout
    expect(Certificate.normalizeFingerprint(fingerprint.split("=")[1])).toBe(good.chain[0].sha256)
    file("root.pem", good.chain[2].pem)
    file("intermediate.pem", good.chain[1].pem)
    file("leaf.pem", good.chain[0].pem)
    const verify = openssl(
      "verify",
      "-attime",
      String(NOW.getTime() / 1000 + 60),
      "-CAfile",
      "root.pem",
      "-untrusted",
      "intermediate.pem",
      "leaf.pem"
    )
    expect(verify.stdout).toContain("leaf.pem: OK")
  })

  it("MIGRATE-3: a PEM bundle converted to PKCS#12 and back by openssl imports with the same fingerprints", async () => {
    const bundle = file("convert.pem")
    await Effect.runPromise(Bundle.exportBundle(good.chain, good.leaf.privateKey, Redacted.make(PW), { path: bundle }))
    expect(
      openssl("pkcs12", "-export", "-in", bundle, "-passin", `pass:${PW}`, "-passout", `pass:${PW}`, "-out", "site.p12")
        .status
    ).toBe(0)
    const back = openssl(
      "pkcs12",
      "-in",
      "site.p12",
      "-passin",
      `pass:${PW}`,
      "-passout",
      "pass:second-passphrase",
      "-out",
      "back.pem"
    )
    expect(back.status).toBe(0)
    const imported = await Effect.runPromise(Bundle.importBundle(file("back.pem"), Redacted.make("second-passphrase")))
    expect(imported.chain.map((c) => c.sha256)).toEqual(good.chain.map((c) => c.sha256))
    expect(imported.privateKey.matches(good.chain[0])).toBe(true)
    // A PKCS#12 file given directly is refused with a message that says how to convert it.
    const p12 = await Effect.runPromise(Effect.flip(Bundle.importBundle(file("site.p12"), Redacted.make(PW))))
    expect(p12.message).toContain("openssl pkcs12")
  })

  it("WeakSignatureAlgorithm: an MD5-signed leaf (made by openssl) blocks", async () => {
    // Real time here: openssl signs the leaf "now", so the root must be valid now too.
    const root = await Effect.runPromise(TestChains.generateRoot({ key: "rsa-2048" }))
    file("ca.pem", root.certificate.pem)
    file("ca.key", root.privateKey.keyObject.export({ type: "pkcs8", format: "pem" }) as string)
    execFileSync(
      "openssl",
      [
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "md5.key",
        "-subj",
        "/CN=md5.example.test",
        "-out",
        "md5.csr"
      ],
      { cwd: dir, stdio: "ignore" }
    )
    execFileSync(
      "openssl",
      [
        "x509",
        "-req",
        "-in",
        "md5.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-set_serial",
        "5",
        "-days",
        "30",
        "-md5",
        "-out",
        "md5.pem"
      ],
      { cwd: dir, stdio: "ignore" }
    )
    const [leaf] = await parseFile("md5.pem")
    expect(leaf.signatureHash).toBe("MD5")
    const report = Chain.validate([leaf, root.certificate], { now: new Date(), expiryWarningDays: 1 })
    expect(report.findings.map((f) => f.code)).toEqual(["WeakSignatureAlgorithm"])
  })

  it("WeakKey (DSA) and UnknownSignatureAlgorithm: a DSA CA (made by openssl)", async () => {
    execFileSync(
      "openssl",
      ["genpkey", "-genparam", "-algorithm", "DSA", "-pkeyopt", "dsa_paramgen_bits:2048", "-out", "dsa.params"],
      { cwd: dir, stdio: "ignore" }
    )
    execFileSync("openssl", ["genpkey", "-paramfile", "dsa.params", "-out", "dsa.key"], { cwd: dir, stdio: "ignore" })
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-key",
        "dsa.key",
        "-subj",
        "/CN=DSA CA",
        "-days",
        "30",
        "-sha256",
        "-addext",
        "basicConstraints=critical,CA:true",
        "-out",
        "dsa-ca.pem"
      ],
      { cwd: dir, stdio: "ignore" }
    )
    execFileSync(
      "openssl",
      [
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "dl.key",
        "-subj",
        "/CN=dsa-leaf.example.test",
        "-out",
        "dl.csr"
      ],
      { cwd: dir, stdio: "ignore" }
    )
    execFileSync(
      "openssl",
      [
        "x509",
        "-req",
        "-in",
        "dl.csr",
        "-CA",
        "dsa-ca.pem",
        "-CAkey",
        "dsa.key",
        "-set_serial",
        "9",
        "-days",
        "20",
        "-sha256",
        "-out",
        "dl.pem"
      ],
      { cwd: dir, stdio: "ignore" }
    )
    const [leaf] = await parseFile("dl.pem")
    const [ca] = await parseFile("dsa-ca.pem")
    expect(leaf.signatureHash).toBe("unknown")
    const report = Chain.validate([leaf, ca], { now: new Date(), expiryWarningDays: 1 })
    expect(report.findings.map((f) => `${f.code}:${f.severity}`).sort()).toEqual([
      "UnknownSignatureAlgorithm:warning",
      "WeakKey:blocking"
    ])
  })
})
