/**
 * State-machine tests over real sockets: updates (SINGLE-*, PREP-*), the
 * failover relationship (PAIR-*) and traffic switches (SWITCH-*). The clock
 * is manual (timeScale 0) and moved with POST /__sim/clock/advance.
 */
import { readFileSync } from "node:fs"
import * as tls from "node:tls"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Simulator } from "../src/index.js"
import { client, req, root, tag, view } from "./support.js"

type Sim = Simulator.SimulatorHandle

const advance = (sim: Sim, seconds: number) => sim.control("POST", "/clock/advance", { seconds })

const health = (sim: Sim, id: string) =>
  Effect.gen(function* () {
    const c = yield* client(sim.appliance(id).httpUrl, sim.accounts[0]!)
    const r = yield* c.get("/api/command/v2/health")
    return { status: r.status, body: JSON.parse(r.body) as Record<string, unknown> }
  })

const xmlHealth = (sim: Sim, id: string) =>
  Effect.gen(function* () {
    const c = yield* client(sim.appliance(id).httpUrl, sim.accounts[0]!)
    return (yield* c.get("/api/command?action=check_health")).body
  })

/** Which appliance answers on the site address (control endpoint /__sim/whoami, one connection), or the socket error code. */
const siteAnswer = (sim: Sim) =>
  Effect.gen(function* () {
    const r = yield* Effect.either(req(`${sim.site.httpUrl}/__sim/whoami`))
    if (r._tag === "Left") return `error:${(r.left as NodeJS.ErrnoException).code ?? r.left.message}`
    return (JSON.parse(r.right.body) as { appliance: string }).appliance
  })

const refused = (e: unknown): string => (e as Simulator.SimulatorError).message

describe("updates (SINGLE-*, PREP-*)", () => {
  it.scoped("SINGLE-2: a dependent package stays unavailable until its prerequisite is installed", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0 })
      const ups = (yield* sim.control("GET", "/appliances/A/updates")) as { available: Array<{ id: string }> }
      expect(ups.available.map((p) => p.id)).toEqual(["base-6.2.1", "license-addon-2025"])
      const early = yield* Effect.flip(sim.control("POST", "/appliances/A/updates/site-24.3.2/install"))
      expect(early.status).toBe(409)
      expect(refused(early)).toContain("install base-6.2.1 first (SINGLE-2)")

      const started = (yield* sim.control("POST", "/appliances/A/updates/base-6.2.1/install")) as {
        durationSeconds: number
      }
      // 15 min + 4 GiB x 60 s/GiB (PREP-3)
      expect(started.durationSeconds).toBe(900 + 240)
      const during = yield* req(`${sim.appliance("A").httpUrl}/api/command/v2/health`)
      expect(during.status).toBe(503)
      yield* advance(sim, 1140)
      expect((yield* view(sim, "A")).lifecycle).toBe("Rebooting")
      const rebooting = yield* Effect.either(req(`${sim.appliance("A").httpUrl}/check_health`))
      expect(rebooting._tag).toBe("Left")
      yield* advance(sim, 120)
      const a = yield* view(sim, "A")
      expect(a.lifecycle).toBe("Running")
      expect(a.baseVersion).toBe("6.2.1")
      expect(a.available).toEqual(["site-24.3.2", "license-addon-2025"])
      yield* sim.control("POST", "/appliances/A/updates/site-24.3.2/install")
      yield* advance(sim, 30 * 60 + 240 + 180)
      const h = yield* health(sim, "A")
      expect(h.body.version).toBe("24.3.2")
      expect(h.body.build).toBe("41722-3d1f0c9a7b2e45f18c6d90ab12ef34567890abcd")
      expect((yield* view(sim, "A")).available).toEqual(["site-25.1.1", "license-addon-2025"])
    })
  )

  it.scoped(
    "SINGLE-4: a downloaded package leaves the list and cannot be downloaded again; SINGLE-3 manual upload still works",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start({ timeScale: 0 })
        yield* sim.control("POST", "/appliances/A/faults", { kind: "stuck_install", count: 1 })
        yield* sim.control("POST", "/appliances/A/updates/base-6.2.1/install")
        yield* advance(sim, 10 * 3600)
        expect((yield* view(sim, "A")).lifecycle).toBe("Installing")
        expect((yield* view(sim, "A")).available).not.toContain("base-6.2.1")
        yield* sim.control("POST", "/appliances/A/factory-reset")
        const again = yield* Effect.flip(sim.control("POST", "/appliances/A/updates/base-6.2.1/install"))
        expect(refused(again)).toContain("SINGLE-4")
        // SINGLE-3: download key -> vendor -> upload -> install
        const badUpload = yield* Effect.flip(
          sim.control("POST", "/appliances/A/updates/upload", { packageId: "base-6.2.1", downloadKey: "WRONG" })
        )
        expect(badUpload.status).toBe(422)
        const { downloadKey } = (yield* sim.control("POST", "/appliances/A/download-key")) as { downloadKey: string }
        yield* sim.control("POST", "/appliances/A/updates/upload", { packageId: "base-6.2.1", downloadKey })
        yield* sim.control("POST", "/appliances/A/updates/base-6.2.1/install")
        yield* advance(sim, 1140 + 120)
        expect((yield* view(sim, "A")).baseVersion).toBe("6.2.1")
      })
  )

  it.scoped("PREP-8: a skewed appliance clock shows in get_api_info / info and blocks the download key", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0 })
      yield* sim.control("PUT", "/appliances/B/clock-offset", { seconds: 3600 })
      const c = yield* client(sim.appliance("B").httpUrl, sim.accounts[0]!)
      const ts = Number(tag((yield* c.get("/api/command?action=get_api_info")).body, "timestamp"))
      const skew = ts - Date.now() / 1000
      expect(skew).toBeGreaterThan(3500)
      expect(skew).toBeLessThan(3700)
      const info = JSON.parse((yield* c.get("/api/command/v2/info")).body) as { current_time: string }
      expect(Date.parse(info.current_time) - Date.now()).toBeGreaterThan(3500_000)
      const key = yield* Effect.flip(sim.control("POST", "/appliances/B/download-key"))
      expect(refused(key)).toContain("NTP")
    })
  )

  it.scoped("PREP-3: install time grows with the stored data", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0 })
      yield* sim.control("PUT", "/appliances/A/data-size", { bytes: 0 })
      yield* sim.control("PUT", "/appliances/B/data-size", { bytes: 200 * 1024 ** 3 })
      const a = (yield* sim.control("POST", "/appliances/A/updates/base-6.2.1/install")) as { durationSeconds: number }
      const b = (yield* sim.control("POST", "/appliances/B/updates/base-6.2.1/install")) as { durationSeconds: number }
      expect(a.durationSeconds).toBe(900)
      expect(b.durationSeconds).toBe(900 + 200 * 60)
    })
  )

  it.scoped("PREP-4: an install logs every user out and ends their sessions", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0 })
      const c = yield* client(sim.appliance("A").httpUrl, sim.accounts[0]!)
      const before = yield* c.get("/api/command?action=get_logged_in_reps")
      expect(before.body.match(/<rep /g)).toHaveLength(3)
      yield* sim.control("POST", "/appliances/A/updates/license-addon-2025/install")
      yield* advance(sim, 60 + 240)
      const c2 = yield* client(sim.appliance("A").httpUrl, sim.accounts[0]!)
      const after = yield* c2.get("/api/command?action=get_logged_in_reps")
      expect(root(after.body).name).toBe("logged_in_reps")
      expect(after.body).not.toContain("<rep ")
      const events = (yield* sim.control("GET", "/events")) as Array<{ message: string }>
      expect(events.some((e) => e.message.includes("3 user(s) logged out, 3 session(s) ended"))).toBe(true)
    })
  )

  it.scoped(
    "PREP-6: a failed base update leaves the appliance needing support; health says so and a reboot is refused",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start({ timeScale: 0 })
        yield* sim.control("POST", "/appliances/A/faults", { kind: "fail_base_update", count: 1 })
        yield* sim.control("POST", "/appliances/A/updates/base-6.2.1/install")
        yield* advance(sim, 1140)
        expect((yield* view(sim, "A")).lifecycle).toBe("NeedsSupport")
        const h = yield* health(sim, "A")
        expect(h.status).toBe(500)
        expect(h.body.message).toContain("Do not reboot")
        const x = yield* xmlHealth(sim, "A")
        expect(tag(x, "success")).toBe("0")
        expect(tag(x, "error_message")).toContain("contact BeyondTrust Technical Support")
        expect((yield* req(`${sim.appliance("A").httpUrl}/check_health`)).status).toBe(500)
        const reboot = yield* Effect.flip(sim.control("POST", "/appliances/A/reboot"))
        expect(refused(reboot)).toContain("PREP-6")
        yield* advance(sim, 7 * 86400)
        expect((yield* view(sim, "A")).lifecycle).toBe("NeedsSupport")
        expect((yield* view(sim, "A")).baseVersion).toBe("6.1.0")
      })
  )
})

describe("failover relationship (PAIR-*)", () => {
  it.scoped("PAIR-7: establishing with different inter-appliance keys is refused; the same key succeeds", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0 })
      yield* sim.control("POST", "/failover/break")
      yield* sim.control("PUT", "/appliances/B/inter-appliance-key", { key: "another-key" })
      const e = yield* Effect.flip(sim.control("POST", "/failover/establish", { primary: "A", backup: "B" }))
      expect(e.status).toBe(409)
      expect(refused(e)).toContain("inter-appliance keys differ")
      expect((yield* health(sim, "B")).body.failover_role).toBe("none")
      yield* sim.control("PUT", "/appliances/B/inter-appliance-key", { key: "sim-inter-appliance-key" })
      yield* sim.control("POST", "/failover/establish", { primary: "A", backup: "B" })
      expect((yield* health(sim, "B")).body.failover_role).toBe("backup")
      expect((yield* health(sim, "A")).body.failover_role).toBe("primary")
    })
  )

  it.scoped(
    "PAIR-4 / PAIR-8: sync now, break, restore; the first sync comes ~60 s after establishing and shows in health",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start({ timeScale: 0 })
        const before = (yield* health(sim, "A")).body.last_data_sync as string
        const { durationSeconds } = (yield* sim.control("POST", "/failover/sync")) as { durationSeconds: number }
        expect(durationSeconds).toBeGreaterThan(5)
        yield* advance(sim, durationSeconds)
        const synced = (yield* health(sim, "A")).body
        expect(synced.last_data_sync_status).toBe("success")
        expect(Date.parse(synced.last_data_sync as string)).toBeGreaterThan(Date.parse(before))

        yield* sim.control("POST", "/failover/break")
        const x = yield* xmlHealth(sim, "A")
        expect(tag(x, "failover_role")).toBe("none")
        expect(x).not.toContain("last_data_sync_time") // PRA: omitted without failover
        expect(x).not.toContain("enabled_shared_ips")
        expect((yield* health(sim, "A")).body.last_data_sync).toBeNull()

        yield* sim.control("POST", "/failover/establish", { primary: "A", backup: "B" })
        yield* advance(sim, 59)
        expect((yield* health(sim, "A")).body.last_data_sync).toBeNull()
        yield* advance(sim, 1 + durationSeconds)
        const restored = (yield* health(sim, "A")).body
        expect(restored.last_data_sync_status).toBe("success")
        expect(tag(yield* xmlHealth(sim, "A"), "last_data_sync_status")).toBe("success")
      })
  )

  it.scoped("PAIR-9: session data created on either appliance while broken is merged once restored", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0 })
      yield* sim.control("POST", "/failover/break")
      yield* sim.control("POST", "/appliances/A/users", { displayName: "On A", sessions: 2 })
      yield* sim.control("POST", "/appliances/B/users", { displayName: "On B", sessions: 3 })
      const a0 = (yield* view(sim, "A")).sessionRecords as number
      const b0 = (yield* view(sim, "B")).sessionRecords as number
      expect(b0).toBe(3)
      yield* sim.control("POST", "/failover/establish", { primary: "A", backup: "B" })
      yield* advance(sim, 3600)
      expect((yield* view(sim, "A")).sessionRecords).toBe(a0 + b0)
      expect((yield* view(sim, "B")).sessionRecords).toBe(a0 + b0)
    })
  )

  it.scoped("PAIR-8: a failed sync is reported as the last sync status", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0 })
      yield* sim.control("POST", "/appliances/A/faults", { kind: "fail_sync", count: 1 })
      const { durationSeconds } = (yield* sim.control("POST", "/failover/sync")) as { durationSeconds: number }
      yield* advance(sim, durationSeconds)
      expect((yield* health(sim, "A")).body.last_data_sync_status).toMatch(/^failed/)
    })
  )

  it.scoped(
    "set_failover_role: data_sync_first syncs, disconnects users, then swaps; the site is down during the swap",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start({ timeScale: 0 })
        const c = yield* client(sim.appliance("B").httpUrl, sim.accounts[0]!)
        const r = yield* c.send(
          "POST",
          "/api/command",
          "action=set_failover_role&role=primary&data_sync_first=1",
          "application/x-www-form-urlencoded"
        )
        expect(tag(r.body, "success")).toContain("Successfully started data sync")
        expect((yield* view(sim, "A")).loggedInUsers).toEqual([])
        expect((yield* health(sim, "A")).body.failover_role).toBe("primary")
        yield* advance(sim, 3600 - 1) // sync done, swap in progress? (sync ~ 5 + 4GiB/10/50MiB/s = 13 s)
        const both = [(yield* health(sim, "A")).body.failover_role, (yield* health(sim, "B")).body.failover_role]
        expect(both).toEqual(["backup", "primary"])
        expect(yield* siteAnswer(sim)).toBe("B")
        expect((yield* health(sim, "B")).body.enabled_shared_ips).toEqual(["10.0.0.10"])
        expect((yield* health(sim, "A")).body.enabled_shared_ips).toBeNull()
      })
  )

  it.scoped(
    "planned swap: both appliances show backup and the site refuses connections until the new primary takes over",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start({ timeScale: 0, roleSwapSeconds: 30 })
        const c = yield* client(sim.appliance("A").httpUrl, sim.accounts[0]!)
        const r = yield* c.send("POST", "/api/command/v2/failover-role", '{"role":"backup"}', "application/json")
        expect(r.status).toBe(200)
        expect((yield* health(sim, "A")).body.failover_role).toBe("backup")
        expect((yield* health(sim, "B")).body.failover_role).toBe("backup")
        expect(yield* siteAnswer(sim)).toBe("error:ECONNREFUSED")
        yield* advance(sim, 30)
        expect((yield* health(sim, "B")).body.failover_role).toBe("primary")
        expect(yield* siteAnswer(sim)).toBe("B")
      })
  )

  it.scoped("set_failover_role: primary -> backup with the peer down is cancelled unless force=1", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0 })
      yield* sim.control("POST", "/appliances/B/reboot")
      const c = yield* client(sim.appliance("A").httpUrl, sim.accounts[0]!)
      const no = yield* c.get("/api/command?action=set_failover_role&role=backup")
      expect(root(no.body).name).toBe("error")
      expect(no.body).toContain("force=1")
      const v2 = yield* c.send("POST", "/api/command/v2/failover-role", '{"role":"backup"}', "application/json")
      expect(v2.status).toBe(500)
      const yes = yield* c.get("/api/command?action=set_failover_role&role=backup&force=1")
      expect(tag(yes.body, "success")).toBe("Successfully changed role.")
      expect((yield* health(sim, "A")).body.failover_role).toBe("backup")
    })
  )
})

describe("traffic switches (SWITCH-*) and the site front", () => {
  it.scoped(
    "SWITCH-1: a shared IP move shows in /health and at the site front; no holder refuses; two holders = split brain",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start({ timeScale: 0 })
        expect(yield* siteAnswer(sim)).toBe("A")
        yield* sim.control("PUT", "/appliances/A/shared-ips/10.0.0.10", { enabled: false })
        expect((yield* health(sim, "A")).body.enabled_shared_ips).toBeNull()
        expect(yield* siteAnswer(sim)).toBe("error:ECONNREFUSED")
        yield* sim.control("PUT", "/appliances/B/shared-ips/10.0.0.10", { enabled: true })
        expect((yield* health(sim, "B")).body.enabled_shared_ips).toEqual(["10.0.0.10"])
        expect(yield* siteAnswer(sim)).toBe("B")
        // Both hold it: split brain is visible in health and in the site view.
        const site = (yield* sim.control("PUT", "/appliances/A/shared-ips/10.0.0.10", { enabled: true })) as {
          site: { splitBrain: boolean; reaches: Array<string> }
        }
        expect(site.site).toMatchObject({ splitBrain: true, reaches: ["A", "B"] })
        const ha = yield* health(sim, "A")
        expect(ha.status).toBe(500)
        expect(ha.body.message).toContain("split brain")
        const answers = new Set([yield* siteAnswer(sim), yield* siteAnswer(sim)])
        expect(answers).toEqual(new Set(["A", "B"]))
      })
  )

  it.scoped("SWITCH-2: a DNS move takes effect once the TTL has passed", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0, traffic: "dns" })
      expect(yield* siteAnswer(sim)).toBe("A")
      yield* sim.control("PUT", "/site/dns", { target: "B", ttlSeconds: 300 })
      yield* advance(sim, 299)
      expect(yield* siteAnswer(sim)).toBe("A")
      yield* advance(sim, 1)
      expect(yield* siteAnswer(sim)).toBe("B")
    })
  )

  it.scoped("SWITCH-3: a NAT move takes effect at once", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0, traffic: "nat" })
      yield* sim.control("PUT", "/site/nat", { target: "B" })
      expect(yield* siteAnswer(sim)).toBe("B")
    })
  )

  it.scoped("the site front serves HTTPS by passing TLS through to the holder", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0 })
      const r = yield* req(`${sim.site.httpsUrl}/check_health`, { ca: sim.certificatePem })
      expect(r.status).toBe(200)
      expect(r.body).toBe("OK")
    })
  )
})

describe("certificate store and factory reset", () => {
  it.scoped(
    "MIGRATE-3: import, export with the private key under a passphrase, re-import elsewhere, choose the default; bad PEM is refused",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start({ timeScale: 0 })
        const { cert, key } = Simulator.defaultCertificate
        const list0 = (yield* sim.control("GET", "/appliances/B/certificates")) as Array<{
          id: string
          isDefault: boolean
        }>
        expect(list0).toHaveLength(1)
        const imported = (yield* sim.control("POST", "/appliances/B/certificates", {
          certificate: cert,
          privateKey: key
        })) as {
          id: string
          subject: string
          hasPrivateKey: boolean
          isDefault: boolean
        }
        expect(imported).toMatchObject({ hasPrivateKey: true, isDefault: false })
        expect(imported.subject).toContain("CN=sra-simulator.local")
        const exported = (yield* sim.control("POST", `/appliances/B/certificates/${imported.id}/export`, {
          includePrivateKey: true,
          passphrase: "correct horse"
        })) as { certificate: string; privateKey: string }
        expect(exported.certificate).toBe(cert)
        expect(exported.privateKey).toContain("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        expect(exported.privateKey).not.toBe(key)
        // MIGRATE-4: the exported key imports on another appliance with its passphrase, not without it.
        const noPass = yield* Effect.flip(
          sim.control("POST", "/appliances/A/certificates", { certificate: cert, privateKey: exported.privateKey })
        )
        expect(noPass.status).toBe(422)
        const reimported = yield* sim.control("POST", "/appliances/A/certificates", {
          certificate: cert,
          privateKey: exported.privateKey,
          passphrase: "correct horse"
        })
        expect(reimported).toMatchObject({ hasPrivateKey: true })
        const certOnly = (yield* sim.control("GET", `/appliances/B/certificates/${imported.id}/export`)) as Record<
          string,
          unknown
        >
        expect(certOnly.certificate).toBe(cert)
        expect(certOnly).not.toHaveProperty("privateKey")
        yield* sim.control("PUT", `/appliances/B/certificates/${imported.id}/default`)
        const list1 = (yield* sim.control("GET", "/appliances/B/certificates")) as Array<{
          id: string
          isDefault: boolean
        }>
        expect(list1.filter((c) => c.isDefault).map((c) => c.id)).toEqual([imported.id])
        const bad = yield* Effect.flip(
          sim.control("POST", "/appliances/B/certificates", { certificate: "-----BEGIN CERTIFICATE-----\nAAAA" })
        )
        expect(bad.status).toBe(422)
      })
  )

  it.scoped("MIGRATE-9: a factory reset clears configuration, users, relationship and imported certificates", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0 })
      const { cert } = Simulator.defaultCertificate
      yield* sim.control("POST", "/appliances/A/certificates", { certificate: cert })
      yield* sim.control("POST", "/appliances/A/factory-reset")
      const a = yield* view(sim, "A")
      expect(a).toMatchObject({
        failoverRole: "none",
        loggedInUsers: [],
        interApplianceKeySet: false,
        lifecycle: "Running"
      })
      expect((a.certificates as Array<unknown>).length).toBe(1)
      expect(yield* sim.control("GET", "/failover")).toBeNull()
      expect(yield* siteAnswer(sim)).toBe("error:ECONNREFUSED")
    })
  )

  it.scoped("MIGRATE-5: the chosen default certificate is the one the appliance serves over HTTPS", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0 })
      const dir = new URL("./fixtures/", import.meta.url)
      const cert = readFileSync(new URL("site-cert.pem", dir), "utf8")
      const key = readFileSync(new URL("site-key.pem", dir), "utf8")
      const served = () =>
        Effect.async<string, Error>((resume) => {
          const u = new URL(sim.appliance("A").httpsUrl)
          const s = tls.connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => {
            const cn = s.getPeerCertificate().subject.CN
            s.destroy()
            resume(Effect.succeed(String(cn)))
          })
          s.on("error", (e) => resume(Effect.fail(e)))
        })
      expect(yield* served()).toBe("sra-simulator.local")
      const imported = (yield* sim.control("POST", "/appliances/A/certificates", {
        certificate: cert,
        privateKey: key
      })) as {
        id: string
      }
      expect(yield* served()).toBe("sra-simulator.local") // importing alone changes nothing
      yield* sim.control("PUT", `/appliances/A/certificates/${imported.id}/default`)
      expect(yield* served()).toBe("support.sra-simulator.local")
      yield* sim.control("POST", "/appliances/A/factory-reset")
      expect(yield* served()).toBe("sra-simulator.local")
    })
  )
})
