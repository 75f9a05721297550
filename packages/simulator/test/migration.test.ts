/**
 * Hardware migration (MIGRATE-*) over real sockets: the factory-fresh box,
 * API accounts created on it, EULA, restore of a backup file produced by a
 * simulated appliance (same run and another run), admin password, power-off
 * and deletion; and the generated private CA served by every listener.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as http from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as tls from "node:tls"
import { SimConfig, Simulator } from "../src/index.js"
import { client, req, token, view } from "./support.js"

type Sim = Simulator.SimulatorHandle

const NEW_BOX: SimConfig.ApplianceSpec = {
  id: "N",
  hostname: "new.sra-simulator.local",
  version: "24.1.3",
  build: "40516-5f3e2d1c0b9a88776655443322110ffeeddccbba",
  baseVersion: "6.1.0",
  failoverRole: "none",
  uniqueIp: "10.0.0.21",
  sharedIps: [],
  interApplianceKey: "",
  dataSizeBytes: 0,
  clockOffsetSeconds: 0,
  loggedInUsers: [],
  fresh: true,
  factoryVersion: "23.2.1"
}

/** The default pair A + B plus the fresh box N. */
const withNewBox = (over: SimConfig.SimConfigInput = {}): SimConfig.SimConfigInput => ({
  timeScale: 0,
  appliances: [...SimConfig.make().appliances, NEW_BOX],
  ...over
})

const tempDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "sra-sim-migrate-"))),
  (d) => Effect.sync(() => rmSync(d, { recursive: true, force: true }))
)

/** GET /api/backup over plain HTTP into a file, raw bytes. */
const downloadBackup = (sim: Sim, id: string, file: string, password?: string) =>
  Effect.gen(function* () {
    const base = sim.appliance(id).httpUrl
    const t = yield* token(base, sim.accounts[0]!)
    const body = password === undefined ? "" : JSON.stringify({ password })
    const status = yield* Effect.async<number, Error>((resume) => {
      const r = http.request(
        `${base}/api/backup`,
        {
          method: "POST",
          headers: { Authorization: `Bearer ${t}`, "Content-Type": "application/json", Connection: "close" },
          agent: false
        },
        (res) => {
          const out = createWriteStream(file)
          res.pipe(out)
          out.on("finish", () => resume(Effect.succeed(res.statusCode ?? 0)))
          out.on("error", (e) => resume(Effect.fail(e)))
        }
      )
      r.on("error", (e) => resume(Effect.fail(e)))
      r.end(body)
    })
    expect(status).toBe(200)
    return file
  })

const advance = (sim: Sim, seconds: number) => sim.control("POST", "/clock/advance", { seconds })

/** Installs a catalog package through the control API and waits (simulated) until the box runs again. */
const installAndWait = (sim: Sim, id: string, pkg: string) =>
  Effect.gen(function* () {
    const r = (yield* sim.control("POST", `/appliances/${id}/updates/${pkg}/install`)) as { durationSeconds: number }
    yield* advance(sim, r.durationSeconds)
    yield* advance(sim, 600)
    expect((yield* view(sim, id)).lifecycle).toBe("Running")
  })

const tokenStatus = (base: string, clientId: string, secret: string) =>
  Effect.map(
    req(`${base}/oauth2/token`, {
      method: "POST",
      headers: {
        Authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString("base64")}`,
        "Content-Type": "application/x-www-form-urlencoded"
      },
      body: "grant_type=client_credentials"
    }),
    (r) => ({ status: r.status, body: JSON.parse(r.body) as Record<string, unknown> })
  )

const total = (sim: Sim, id: string, account: Simulator.AccountCredentials, kind: "jump-client" | "jumpoint") =>
  Effect.gen(function* () {
    const c = yield* client(sim.appliance(id).httpUrl, account)
    const r = yield* c.get(`/api/config/v1/${kind}?per_page=5`)
    expect(r.status).toBe(200)
    return Number(r.headers["x-bt-pagination-total"])
  })

const refusal = (e: unknown) => e as Simulator.SimulatorError

const asCredentials = (o: { name: string; clientId: string; clientSecret: string }): Simulator.AccountCredentials => ({
  name: o.name,
  clientId: o.clientId,
  clientSecret: Redacted.make(o.clientSecret),
  permCommand: "full_access",
  permBackup: true,
  permConfiguration: true
})

/** The chain an HTTPS listener serves, verified against `ca` for `servername`. */
const served = (url: string, ca: string, servername = "localhost") =>
  Effect.async<{ authorized: boolean; error: string | undefined; chain: Array<tls.DetailedPeerCertificate> }, Error>(
    (resume) => {
      const u = new URL(url)
      const s = tls.connect(
        { host: u.hostname, port: Number(u.port), ca, servername, rejectUnauthorized: false },
        () => {
          const chain: Array<tls.DetailedPeerCertificate> = []
          let c: tls.DetailedPeerCertificate | undefined = s.getPeerCertificate(true)
          while (c && chain.length < 5 && !chain.includes(c)) {
            chain.push(c)
            c = c.issuerCertificate === c ? undefined : c.issuerCertificate
          }
          const result = {
            authorized: s.authorized,
            error: s.authorizationError === null ? undefined : String(s.authorizationError),
            chain
          }
          s.destroy()
          resume(Effect.succeed(result))
        }
      )
      s.on("error", (e) => resume(Effect.fail(e)))
    }
  )

const hex = (fp: string) => fp.replace(/:/g, "").toLowerCase()

describe("fresh appliance (MIGRATE-1, MIGRATE-6, MIGRATE-7)", () => {
  it.scoped(
    "MIGRATE-1: a fresh box has default credentials, no settings, users, API accounts or inventory, and refuses an API account until the restore; its probe answers with its clock",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start(withNewBox())
        const n = yield* view(sim, "N")
        expect(n).toMatchObject({
          version: "23.2.1",
          failoverRole: "none",
          defaultCredentials: true,
          eulaAccepted: false,
          siteMember: false,
          apiAccounts: 0,
          users: [],
          loggedInUsers: [],
          jumpClients: 0,
          jumpoints: 0,
          interApplianceKeySet: false
        })
        expect(n.build).not.toBe(NEW_BOX.build)
        const a = yield* view(sim, "A")
        expect(a).toMatchObject({ defaultCredentials: false, eulaAccepted: true, siteMember: true, apiAccounts: 2 })
        // the load-balancer probe answers; the vendor API knows no account
        const health = yield* req(`${sim.appliance("N").httpUrl}/check_health`)
        expect(health.status).toBe(200)
        const refused = yield* tokenStatus(
          sim.appliance("N").httpUrl,
          sim.accounts[0]!.clientId,
          Redacted.value(sim.accounts[0]!.clientSecret)
        )
        expect(refused.status).toBe(401)
        expect(refused.body.error).toBe("invalid_client")
        // the probe needs no account and carries the box's clock in its Date header
        expect(Math.abs(Date.parse(health.headers["date"]!) - Date.now())).toBeLessThan(60_000)
        // MIGRATE-1: no API account can be made on the factory box: they come with the restore (MIGRATE-7)
        const refusedAccount = yield* Effect.flip(sim.control("POST", "/appliances/N/accounts", { name: "migration" }))
        expect(refusedAccount.status).toBe(409)
        expect(refusal(refusedAccount).message).toMatch(/factory state.*restored.*MIGRATE-7/)
        expect(n).toMatchObject({ factory: true })
        expect(a).toMatchObject({ factory: false })
        // on a site member accounts are made as before; a bad permission is refused
        const created = (yield* sim.control("POST", "/appliances/A/accounts", { name: "migration" })) as {
          clientId: string
        }
        expect(created.clientId).toMatch(/^[0-9a-f]{40}$/)
        const badPerm = yield* Effect.flip(
          sim.control("POST", "/appliances/A/accounts", { name: "x", permCommand: "root" })
        )
        expect(badPerm.status).toBe(422)
        expect((yield* view(sim, "N")).apiAccounts).toBe(0)
      })
  )

  it.scoped(
    "MIGRATE-6: the EULA gates updates; a backup from a newer version is refused until the box is upgraded, then it restores",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start(withNewBox())
        const dir = yield* tempDir
        const file = yield* downloadBackup(sim, "A", join(dir, "a.nsb"))
        const tooOld = yield* Effect.flip(sim.control("POST", "/appliances/N/restore", { path: file }))
        expect(tooOld.status).toBe(409)
        expect(refusal(tooOld).message).toContain("Install the update to 24.1.3")
        const noEula = yield* Effect.flip(sim.control("POST", "/appliances/N/updates/base-6.2.1/install"))
        expect(noEula.status).toBe(409)
        expect(refusal(noEula).message).toContain("MIGRATE-6")
        yield* sim.control("POST", "/appliances/N/eula/accept")
        expect((yield* view(sim, "N")).eulaAccepted).toBe(true)
        yield* installAndWait(sim, "N", "base-6.2.1")
        yield* installAndWait(sim, "N", "site-24.3.2")
        expect((yield* view(sim, "N")).version).toBe("24.3.2")
        const restored = (yield* sim.control("POST", "/appliances/N/restore", { path: file })) as Record<
          string,
          unknown
        >
        expect(restored).toMatchObject({ restored: true, joinedSite: true, accounts: 2, defaultCredentials: true })
        expect((yield* view(sim, "N")).version).toBe("24.3.2")
      })
  )

  it.scoped(
    "MIGRATE-6: restore refuses a missing or wrong password (403), a file that is not a backup or is truncated (422)",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start(withNewBox({ backupPassword: "backup-pass-2026" }))
        const dir = yield* tempDir
        const file = yield* downloadBackup(sim, "A", join(dir, "a.nsb"), "backup-pass-2026")
        const manifestLine = readFileSync(file, "utf8").split("\n")[1]!
        // a verifier, never the password itself
        expect(manifestLine).not.toContain("backup-pass-2026")
        expect(JSON.parse(manifestLine)).toMatchObject({ format: 2, passwordProtected: true, version: "24.1.3" })
        expect(readFileSync(file, "utf8")).not.toContain(Redacted.value(sim.accounts[0]!.clientSecret))
        // bring N to A's version first
        yield* sim.control("POST", "/appliances/N/eula/accept")
        yield* installAndWait(sim, "N", "base-6.2.1")
        yield* installAndWait(sim, "N", "site-24.3.2")
        const missing = yield* Effect.flip(sim.control("POST", "/appliances/N/restore", { path: file }))
        expect(missing.status).toBe(403)
        const wrong = yield* Effect.flip(
          sim.control("POST", "/appliances/N/restore", { path: file, password: "not-it" })
        )
        expect(wrong.status).toBe(403)
        expect(refusal(wrong).message).toContain("password is wrong")
        const junk = join(dir, "junk.nsb")
        writeFileSync(junk, "this is not a backup\n")
        const notBackup = yield* Effect.flip(sim.control("POST", "/appliances/N/restore", { path: junk }))
        expect(notBackup.status).toBe(422)
        const cut = join(dir, "cut.nsb")
        const bytes = readFileSync(file)
        writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)))
        const truncated = yield* Effect.flip(
          sim.control("POST", "/appliances/N/restore", { path: cut, password: "backup-pass-2026" })
        )
        expect(truncated.status).toBe(422)
        expect(refusal(truncated).message).toContain("truncated")
        const absent = yield* Effect.flip(sim.control("POST", "/appliances/N/restore", { path: join(dir, "none") }))
        expect(absent.status).toBe(422)
        // nothing was restored by the refused attempts
        expect((yield* view(sim, "N")).apiAccounts).toBe(0)
        const ok = (yield* sim.control("POST", "/appliances/N/restore", {
          path: file,
          password: "backup-pass-2026"
        })) as Record<string, unknown>
        expect(ok.restored).toBe(true)
      })
  )

  it.scoped(
    "MIGRATE-7: after restore the new box answers like the old one; default credentials stay until the admin password is changed",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start(withNewBox())
        const dir = yield* tempDir
        // an account created on the site after start travels in the backup too
        const extra = asCredentials(
          (yield* sim.control("POST", "/appliances/A/accounts", { name: "late-account" })) as {
            name: string
            clientId: string
            clientSecret: string
          }
        )
        const file = yield* downloadBackup(sim, "A", join(dir, "a.nsb"))
        yield* sim.control("POST", "/appliances/N/eula/accept")
        yield* installAndWait(sim, "N", "base-6.2.1")
        yield* installAndWait(sim, "N", "site-24.3.2")
        yield* sim.control("POST", "/appliances/N/restore", { path: file })
        const admin = sim.accounts[0]!
        for (const account of [admin, extra]) {
          expect(yield* total(sim, "N", account, "jump-client")).toBe(yield* total(sim, "A", admin, "jump-client"))
        }
        expect(yield* total(sim, "N", admin, "jumpoint")).toBe(yield* total(sim, "A", admin, "jumpoint"))
        expect(yield* total(sim, "N", admin, "jump-client")).toBe(sim.config.fleet.jumpClients)
        const n = yield* view(sim, "N")
        const a = yield* view(sim, "A")
        expect(n.users).toEqual(a.users)
        expect(n).toMatchObject({ siteMember: true, apiAccounts: 3, defaultCredentials: true })
        const weak = yield* Effect.flip(sim.control("PUT", "/appliances/N/admin-password", { password: "password" }))
        expect(weak.status).toBe(422)
        expect((yield* view(sim, "N")).defaultCredentials).toBe(true)
        yield* sim.control("PUT", "/appliances/N/admin-password", { password: "a-long-new-admin-password" })
        expect((yield* view(sim, "N")).defaultCredentials).toBe(false)
      })
  )

  it.scoped(
    "MIGRATE-6: a backup made by another simulator restores as a copy (accounts by secret hash, same inventory counts)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const old = yield* Simulator.start({ timeScale: 0, fleet: { jumpClients: 7, jumpoints: 2 } })
        const file = yield* downloadBackup(old, "A", join(dir, "old.nsb"))
        const sim = yield* Simulator.start({
          timeScale: 0,
          appliances: [{ ...NEW_BOX, factoryVersion: "24.1.3" }],
          accounts: []
        })
        const restored = (yield* sim.control("POST", "/appliances/N/restore", { path: file })) as Record<
          string,
          unknown
        >
        expect(restored).toMatchObject({ joinedSite: false, accounts: 2, jumpClients: 7, jumpoints: 2 })
        const admin = old.accounts[0]!
        expect(yield* total(sim, "N", admin, "jump-client")).toBe(7)
        expect(yield* total(sim, "N", admin, "jumpoint")).toBe(2)
        const wrongSecret = yield* tokenStatus(sim.appliance("N").httpUrl, admin.clientId, "not-the-secret")
        expect(wrongSecret.status).toBe(401)
        expect((yield* view(sim, "N")).siteMember).toBe(false)
      })
  )
})

describe("decommissioning (MIGRATE-9)", () => {
  it.scoped("MIGRATE-9: a deleted virtual appliance refuses connections on both listeners and every change", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0 })
      const b = sim.appliance("B")
      expect((yield* req(`${b.httpUrl}/check_health`)).status).toBe(200)
      yield* sim.control("DELETE", "/appliances/B")
      for (const url of [`${b.httpUrl}/check_health`, `${b.httpsUrl}/check_health`]) {
        const r = yield* Effect.either(req(url, { ca: sim.caPem }))
        expect(r._tag === "Left" ? (r.left as NodeJS.ErrnoException).code : r.right.status).toBe("ECONNREFUSED")
      }
      expect((yield* view(sim, "B")).lifecycle).toBe("Deleted")
      const gone = yield* Effect.flip(sim.control("POST", "/appliances/B/factory-reset"))
      expect(gone.status).toBe(410)
      const noPower = yield* Effect.flip(sim.control("POST", "/appliances/B/power-on"))
      expect(noPower.status).toBe(410)
      // A is untouched
      expect((yield* req(`${sim.appliance("A").httpUrl}/check_health`)).status).toBe(200)
    })
  )

  it.scoped(
    "MIGRATE-9: factory reset then power-off of a physical appliance: its API stops answering, then its listeners close",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start({ timeScale: 0 })
        const a = sim.appliance("A")
        const admin = sim.accounts[0]!
        expect((yield* tokenStatus(a.httpUrl, admin.clientId, Redacted.value(admin.clientSecret))).status).toBe(200)
        yield* sim.control("POST", "/appliances/A/factory-reset")
        expect(yield* view(sim, "A")).toMatchObject({ defaultCredentials: true, apiAccounts: 0, siteMember: false })
        const reset = yield* tokenStatus(a.httpUrl, admin.clientId, Redacted.value(admin.clientSecret))
        expect(reset.status).toBe(401)
        expect(reset.body.error).toBe("invalid_client")
        // B (still a site member) keeps the site's accounts
        expect(
          (yield* tokenStatus(sim.appliance("B").httpUrl, admin.clientId, Redacted.value(admin.clientSecret))).status
        ).toBe(200)
        yield* sim.control("POST", "/appliances/A/power-off")
        const off = yield* Effect.either(req(`${a.httpUrl}/check_health`))
        expect(off._tag === "Left" ? (off.left as NodeJS.ErrnoException).code : "answered").toBe("ECONNREFUSED")
        const busy = yield* Effect.flip(sim.control("POST", "/appliances/A/reboot"))
        expect(busy.status).toBe(409)
        expect(refusal(busy).message).toContain("power-on")
        // powered on again, it boots and answers
        yield* sim.control("POST", "/appliances/A/power-on")
        yield* advance(sim, 120)
        expect((yield* req(`${a.httpUrl}/check_health`)).status).toBe(200)
      })
  )
})

describe("generated private CA", () => {
  it.scoped(
    "every HTTPS listener serves leaf + intermediate that verify up to caPem; certificateSha256 is the served leaf",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start(withNewBox())
        for (const e of sim.appliances) {
          const r = yield* served(e.httpsUrl, sim.caPem)
          expect(r.error).toBeUndefined()
          expect(r.authorized).toBe(true)
          expect(r.chain.length).toBe(3) // leaf, intermediate, root (from the trust store)
          expect(hex(r.chain[0]!.fingerprint256)).toBe(e.certificateSha256)
          expect(r.chain[1]!.subject.CN).toBe("sra-simulator Intermediate CA")
        }
        // the site's appliances share one certificate (the first one of certificatePem); the fresh box has its own
        expect(sim.appliance("A").certificateSha256).toBe(sim.appliance("B").certificateSha256)
        expect(sim.appliance("N").certificateSha256).not.toBe(sim.appliance("A").certificateSha256)
        const n = yield* served(sim.appliance("N").httpsUrl, sim.caPem, NEW_BOX.hostname)
        expect(n.authorized).toBe(true)
        const nSite = yield* served(sim.appliance("N").httpsUrl, sim.caPem, sim.site.hostname)
        expect(nSite.authorized).toBe(false) // a factory box does not know the site's name
        // a different simulator has a different CA
        const other = yield* Simulator.start({ timeScale: 0 })
        expect(other.caPem).not.toBe(sim.caPem)
        const foreign = yield* served(sim.appliance("A").httpsUrl, other.caPem)
        expect(foreign.authorized).toBe(false)
      })
  )

  it.scoped("MIGRATE-5: the site certificate imported and set default is what the new box serves", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start(withNewBox())
      const site = sim.siteCertificate!
      const before = sim.appliance("N").certificateSha256
      const imported = (yield* sim.control("POST", "/appliances/N/certificates", {
        certificate: site.certificatePem,
        privateKey: Redacted.value(site.privateKeyPem)
      })) as { id: string }
      expect(sim.appliance("N").certificateSha256).toBe(before) // importing alone changes nothing
      yield* sim.control("PUT", `/appliances/N/certificates/${imported.id}/default`)
      expect(sim.appliance("N").certificateSha256).toBe(site.sha256)
      const r = yield* served(sim.appliance("N").httpsUrl, sim.caPem, sim.site.hostname)
      expect(r.authorized).toBe(true)
      expect(hex(r.chain[0]!.fingerprint256)).toBe(site.sha256)
      expect(r.chain[1]!.subject.CN).toBe("sra-simulator Intermediate CA")
      expect((yield* view(sim, "N")).servedCertificateSha256).toBe(site.sha256)
    })
  )

  it.scoped("certificateLayout per-appliance: each appliance serves its own leaf naming it and the site", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0, certificateLayout: "per-appliance" })
      const [a, b] = [sim.appliance("A"), sim.appliance("B")]
      expect(a.certificateSha256).not.toBe(b.certificateSha256)
      for (const e of [a, b]) {
        for (const name of [e.hostname, sim.site.hostname, "localhost"]) {
          const r = yield* served(e.httpsUrl, sim.caPem, name)
          expect(r.authorized).toBe(true)
          expect(hex(r.chain[0]!.fingerprint256)).toBe(e.certificateSha256)
        }
      }
    })
  )

  it.scoped("an explicit tls option still overrides the generated CA", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0, tls: Simulator.defaultCertificate })
      expect(sim.caPem).toBe(Simulator.defaultCertificate.cert)
      expect(sim.siteCertificate).toBeUndefined()
      const r = yield* served(sim.appliance("A").httpsUrl, sim.caPem)
      expect(r.authorized).toBe(true)
      expect(r.chain[0]!.subject.CN).toBe("sra-simulator.local")
      expect(hex(r.chain[0]!.fingerprint256)).toBe(sim.appliance("A").certificateSha256)
    })
  )
})
