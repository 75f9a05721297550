/**
 * The certificates package against the simulator over real sockets: the TLS
 * probe of what the simulated site serves, and the certificate migration
 * (MIGRATE-3…5) through the simulator's certificate store. (Here, not in the
 * certificates package: the simulator depends on the certificates package's
 * step definitions, and a package's tests do not import a package that
 * depends on it.)
 */
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Bundle, Certificate, DefaultCertificate, PrivateKey, TestChains, TlsProbe } from "@sra-upgrade/certificates"
import { Simulator } from "@sra-upgrade/simulator"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** The fixed "now" of every test: certificates are generated and judged at this instant. */
const NOW = new Date("2026-06-01T00:00:00.000Z")
const SITE = "support.example.test"
const atNow = <A>(effect: Effect.Effect<A>): Promise<A> =>
  Effect.runPromise(
    Effect.gen(function* () {
      yield* TestClock.setTime(NOW.getTime())
      return yield* effect
    }).pipe(Effect.provide(TestContext.TestContext))
  )
const setNow = TestClock.setTime(NOW.getTime())

let site: TestChains.GeneratedChain

beforeAll(async () => {
  site = await atNow(TestChains.generateChain({ siteFqdn: SITE, ipAddresses: ["127.0.0.1"] }))
})

const hostPort = (url: string) => {
  const u = new URL(url)
  return { host: u.hostname, port: Number(u.port) }
}

describe("TLS probe against the simulator (real sockets)", () => {
  it.scoped(
    "reads the leaf -> intermediate chain the simulated site serves, and it verifies up to the private CA",
    () =>
      Effect.gen(function* () {
        yield* setNow
        const sim = yield* Simulator.start({
          siteHostname: SITE,
          tls: { cert: Certificate.chainToPem(site.chain.slice(0, 2)), key: site.keyPem }
        })
        const served = yield* TlsProbe.verifyServed(
          { ...hostPort(sim.site.httpsUrl), servername: SITE },
          { leafSha256: site.chain[0].sha256, chain: site.chain },
          { siteFqdn: SITE, trustAnchors: [site.root.certificate] }
        )
        expect(served.served.chain.map((c) => c.sha256)).toEqual(site.chain.slice(0, 2).map((c) => c.sha256))
        expect(served.findings).toEqual([])
        for (const appliance of sim.appliances) {
          const direct = yield* TlsProbe.probeTls({ ...hostPort(appliance.httpsUrl), servername: SITE })
          expect(direct.leafSha256).toBe(site.chain[0].sha256)
        }
      })
  )

  it.scoped("MIGRATE-4: the bundle exported from the old appliance, imported on the new one, is what it serves", () =>
    Effect.gen(function* () {
      yield* setNow
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "sra-certs-sim-"))),
        (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
      )
      const passphrase = Redacted.make("migrate-passphrase")
      const file = path.join(dir, "site.pem")
      const receipt = yield* Bundle.exportBundle(site.chain, site.leaf.privateKey, passphrase, { path: file })
      // "Import" on the new appliance: it is started with the chain and key read back from the file.
      const imported = yield* Bundle.importBundle(file, passphrase)
      const key = imported.privateKey.keyObject.export({ type: "pkcs8", format: "pem" }) as string
      const sim = yield* Simulator.start({
        siteHostname: SITE,
        tls: { cert: Certificate.chainToPem(imported.chain.slice(0, -1)), key }
      })
      const served = yield* TlsProbe.verifyServed(
        { ...hostPort(sim.site.httpsUrl), servername: SITE },
        { leafSha256: receipt.leafSha256 },
        { siteFqdn: SITE, trustAnchors: [imported.chain[imported.chain.length - 1]] }
      )
      expect(served.findings).toEqual([])
      expect(served.served.leafSha256).toBe(receipt.leafSha256)
    })
  )
})

interface SimCertificate {
  readonly id: string
  readonly fingerprint256: string
  readonly isDefault: boolean
  readonly certificate?: string
  readonly privateKey?: string
}

/** Calls the simulator's control API (the stand-in for the /appliance web UI). */
const control = (base: string, method: string, route: string, body?: unknown) =>
  Effect.promise(async () => {
    const res = await fetch(`${base}${route}`, {
      method,
      ...(body === undefined ? {} : { headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
    })
    if (res.status >= 400) throw new Error(`${method} ${route}: HTTP ${res.status} ${await res.text()}`)
    return (await res.json()) as unknown
  })

describe("the certificate migration through the simulator's certificate store", () => {
  it.scoped(
    "MIGRATE-3, MIGRATE-4, MIGRATE-5: export from A, keep an encrypted bundle, import on B, choose B's default",
    () =>
      Effect.gen(function* () {
        yield* setNow
        const sim = yield* Simulator.start({ siteHostname: SITE })
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "sra-certs-store-"))),
          (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
        )
        // The old appliance A holds the site certificate.
        const onA = (yield* control(sim.controlUrl, "POST", "/appliances/A/certificates", {
          certificate: site.chain[0].pem,
          privateKey: site.keyPem
        })) as SimCertificate
        // MIGRATE-3: export it from A with its key, encrypted with a passphrase (as the vendor advises)...
        const passphrase = Redacted.make("migration-2026")
        const exported = (yield* control(sim.controlUrl, "POST", `/appliances/A/certificates/${onA.id}/export`, {
          includePrivateKey: true,
          passphrase: Redacted.value(passphrase)
        })) as SimCertificate
        expect(PrivateKey.isEncryptedPem(exported.privateKey!)).toBe(true)
        const key = yield* PrivateKey.parse(exported.privateKey!, passphrase)
        const [leaf] = yield* Certificate.parsePem(exported.certificate!)
        // ...and keep it as one encrypted bundle with the chain.
        const file = path.join(dir, "site.pem")
        const receipt = yield* Bundle.exportBundle([leaf, ...site.chain.slice(1)], key, passphrase, { path: file })
        expect(receipt.leafSha256).toBe(site.chain[0].sha256)
        // MIGRATE-4: import the bundle on the new appliance B (the key stays encrypted in transit).
        const bundle = yield* Bundle.importBundle(file, passphrase)
        yield* control(sim.controlUrl, "POST", "/appliances/B/certificates", {
          certificate: bundle.chain[0].pem,
          privateKey: yield* bundle.privateKey.toEncryptedPem(passphrase),
          passphrase: Redacted.value(passphrase)
        })
        // MIGRATE-5: of B's certificates (its factory one and the imported one), choose the default.
        const listed = (yield* control(
          sim.controlUrl,
          "GET",
          "/appliances/B/certificates"
        )) as ReadonlyArray<SimCertificate>
        expect(listed).toHaveLength(2)
        const candidates = yield* Effect.forEach(listed, (c) =>
          Effect.gen(function* () {
            const full = (yield* control(
              sim.controlUrl,
              "GET",
              `/appliances/B/certificates/${c.id}/export`
            )) as SimCertificate
            return { label: c.id, chain: yield* Certificate.parsePem(full.certificate!) }
          })
        )
        const choice = yield* DefaultCertificate.chooseDefault(candidates, SITE, {
          trustAnchors: site.chain.slice(1)
        })
        expect(choice.chosen.report.leaf?.sha256).toBe(site.chain[0].sha256)
        // The factory certificate is ranked below: it does not cover the site FQDN.
        expect(choice.ranking[1].report.findings.map((f) => f.code)).toContain("HostnameMismatch")
        yield* control(sim.controlUrl, "PUT", `/appliances/B/certificates/${choice.chosen.candidate.label}/default`)
        const after = (yield* control(
          sim.controlUrl,
          "GET",
          "/appliances/B/certificates"
        )) as ReadonlyArray<SimCertificate>
        const current = after.find((c) => c.isDefault)
        expect(Certificate.normalizeFingerprint(current?.fingerprint256 ?? "")).toBe(site.chain[0].sha256)
      })
  )
})
