/**
 * The live adapter against the appliance simulator over real sockets
 * (127.0.0.1, port 0): HTTPS with a pinned certificate and with a CA
 * bundle, every operation, both XML namespaces, the v1 API.
 */
import { describe, expect, it } from "@effect/vitest"
import { ApplianceApi } from "@sra-upgrade/core"
import { Simulator } from "@sra-upgrade/simulator"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { createHash, X509Certificate } from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { ApplianceClient } from "../src/index.js"

type Handle = Simulator.SimulatorHandle

const account = (sim: Handle, name = "sim-admin") => {
  const a = sim.accounts.find((x) => x.name === name)
  if (a === undefined) throw new Error(`no account ${name}`)
  return a
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256

const connect = (
  sim: Handle,
  id: string,
  over?: Partial<ApplianceClient.Connection> & { readonly accountName?: string }
): ApplianceClient.Connection => {
  const a = account(sim, over?.accountName)
  const { accountName: _, ...rest } = over ?? {}
  return {
    id,
    baseUrl: sim.appliance(id).httpsUrl,
    clientId: a.clientId,
    clientSecret: a.clientSecret,
    tls: { pinSha256: fingerprint(sim.certificatePem) },
    timeoutMillis: 20_000,
    ...rest
  }
}

const withApi = <A, E>(
  connections: ReadonlyArray<ApplianceClient.Connection>,
  f: (api: typeof ApplianceApi.ApplianceApi.Service) => Effect.Effect<A, E>
) => Effect.flatMap(ApplianceApi.ApplianceApi, f).pipe(Effect.provide(ApplianceClient.layer(connections)))

const on = <A, E>(
  connection: ApplianceClient.Connection,
  f: (client: ApplianceApi.ApplianceClient) => Effect.Effect<A, E>
) => withApi([connection], (api) => Effect.flatMap(api.appliance(connection.id), f))

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "sra-ac-it-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

describe("against the simulator (HTTPS, pinned self-signed certificate)", () => {
  it.scopedLive("health, api info (PREP-8 clock), users and clients (PREP-4)", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 60 })
      const a = connect(sim, "A")
      const [health, info, users, clients] = yield* on(a, (c) =>
        Effect.all([c.health, c.apiInfo, c.loggedInUsers, c.connectedClients])
      )
      expect(health).toMatchObject({
        source: "v2",
        hostname: sim.appliance("A").hostname,
        applianceGuid: sim.appliance("A").guid,
        failoverRole: "primary",
        healthy: true
      })
      expect(info.product).toBe("pra")
      expect(info.permissions.perm_command).toBe("full_access")
      expect(info.permissions.perm_backup).toBe(true)
      // PREP-8: the appliance clock is reported; default offset is zero, so skew is small
      expect(Math.abs(info.serverTime.getTime() - info.localTime.getTime())).toBeLessThan(60_000)
      expect(users.map((u) => u.displayName).sort()).toEqual(["Alice Martin", "Bob Durand", "Chloé Petit"])
      expect(users.reduce((n, u) => n + u.sessionCount, 0)).toBe(3)
      expect(clients.counts.representative).toBe(3)
    })
  )

  it.scopedLive("PREP-8: a skewed appliance clock shows in apiInfo", () =>
    Effect.gen(function* () {
      const base = yield* Simulator.start({})
      const specs = base.config.appliances.map((s) => (s.id === "A" ? { ...s, clockOffsetSeconds: 600 } : s))
      const sim = yield* Simulator.start({ appliances: specs })
      const info = yield* on(connect(sim, "A"), (c) => c.apiInfo)
      const skew = (info.serverTime.getTime() - info.localTime.getTime()) / 1000
      expect(skew).toBeGreaterThan(540)
      expect(skew).toBeLessThan(660)
    })
  )

  it.scopedLive("CLIENT-6..10: Jump Clients and Jumpoints stream across pages with filters", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ fleet: { jumpClients: 230, jumpoints: 4 } })
      const a = connect(sim, "A")
      const [all, passive, jumpoints] = yield* on(a, (c) =>
        Effect.all([
          Stream.runCollect(c.jumpClients()),
          Stream.runCollect(c.jumpClients({ connection_type: "passive" })),
          Stream.runCollect(c.jumpoints())
        ])
      )
      expect(all.length).toBe(230)
      expect(new Set([...all].map((j) => j.id)).size).toBe(230)
      expect(passive.length).toBeGreaterThan(0)
      expect(passive.length).toBeLessThan(230)
      expect([...passive].every((j) => j.connectionType === "passive")).toBe(true)
      expect(jumpoints.length).toBe(4)
    })
  )

  it.scopedLive("PREP-1: the settings backup is downloaded, hashed and renamed", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ backupSizeBytes: 3 * 1024 * 1024 + 17, backupPassword: "correct horse" })
      const dir = yield* tempDir
      const artifact = yield* on(connect(sim, "A"), (c) =>
        c.downloadBackup({ directory: dir, password: Redacted.make("correct horse") })
      )
      const content = Fs.readFileSync(artifact.path)
      expect(artifact.bytes).toBe(3 * 1024 * 1024 + 17)
      expect(content.length).toBe(artifact.bytes)
      expect(artifact.sha256).toBe(createHash("sha256").update(content).digest("hex"))
      expect(artifact.path.endsWith(".nsb")).toBe(true)
      expect(artifact.applianceId).toBe(sim.appliance("A").guid)
      expect(artifact.passwordProtected).toBe(true)
      expect(Fs.readdirSync(dir)).toEqual([Path.basename(artifact.path)])
      const wrong = yield* Effect.flip(
        on(connect(sim, "A"), (c) => c.downloadBackup({ directory: dir, password: Redacted.make("wrong") }))
      )
      expect(wrong.reason._tag).toBe("ApplianceRefused")
      expect(wrong.message).toContain("password")
      expect(wrong.message).not.toContain('wrong"')
    })
  )

  it.scopedLive("PREP-1: hashing and writing on the calling thread gives the file's SHA-256 too", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ backupSizeBytes: 5 * 1024 * 1024 + 3 })
      const dir = yield* tempDir
      const artifact = yield* on(connect(sim, "A", { writeBackupOnWorkerThread: false }), (c) =>
        c.downloadBackup({ directory: dir })
      )
      const content = Fs.readFileSync(artifact.path)
      expect(artifact.bytes).toBe(content.length)
      expect(artifact.sha256).toBe(createHash("sha256").update(content).digest("hex"))
    })
  )

  it.scopedLive("PREP-1: a backup cut halfway leaves no file; the retry of the read then succeeds", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ backupSizeBytes: 2 * 1024 * 1024 })
      const dir = yield* tempDir
      yield* sim.control("POST", "/appliances/A/faults", { kind: "truncate", count: 1 })
      const cut = yield* Effect.flip(
        on(connect(sim, "A", { retry: { maxRetries: 0 } }), (c) => c.downloadBackup({ directory: dir }))
      )
      expect(cut.reason._tag).toBe("Transport")
      expect(Fs.readdirSync(dir)).toEqual([])
      yield* sim.control("POST", "/appliances/A/faults", { kind: "truncate", count: 1 })
      const ok = yield* on(connect(sim, "A", { retry: { maxRetries: 2, baseDelayMillis: 10 } }), (c) =>
        c.downloadBackup({ directory: dir })
      )
      expect(ok.bytes).toBe(2 * 1024 * 1024)
      expect(Fs.readdirSync(dir)).toEqual([Path.basename(ok.path)])
    })
  )

  it.scopedLive("setFailoverRole over v2 (JSON)", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({})
      const b = connect(sim, "B")
      const result = yield* on(b, (c) => c.setFailoverRole({ role: "primary", dataSyncFirst: false, force: false }))
      expect(result.message.length).toBeGreaterThan(0)
      expect(result.syncStarted).toBe(false)
    })
  )

  it.scopedLive("an expired token is replaced transparently (one re-authentication)", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({})
      yield* on(connect(sim, "A"), (c) =>
        Effect.gen(function* () {
          yield* c.health
          yield* sim.control("POST", "/appliances/A/faults/expire-tokens")
          const again = yield* c.health
          expect(again.healthy).toBe(true)
        })
      )
    })
  )

  it.scopedLive("429 from the appliance: a read waits Retry-After and succeeds", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({})
      const info = yield* on(connect(sim, "A"), (c) =>
        Effect.gen(function* () {
          yield* c.health // the token is minted before the fault
          // the simulator's rate_limit fault ignores pathPrefix: it hits the next request, whatever its path
          yield* sim.control("POST", "/appliances/A/faults", { kind: "rate_limit", count: 1 })
          return yield* c.apiInfo
        })
      )
      expect(info.permissions.perm_command).toBe("full_access")
      // the 429 was really served (the fault is used up), and the read still succeeded
      const view = (yield* sim.control("GET", "/appliances/A")) as {
        readonly faults: ReadonlyArray<{ readonly kind: string; readonly remaining?: number }>
      }
      expect(view.faults.filter((f) => f.kind === "rate_limit" && (f.remaining ?? 1) > 0)).toEqual([])
    })
  )

  it.scopedLive("an unhealthy appliance: v2 500 body and v1 success=0 both decode", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({})
      yield* sim.control("POST", "/appliances/A/faults", { kind: "unhealthy" })
      const v2 = yield* on(connect(sim, "A"), (c) => c.health)
      const v1 = yield* on(connect(sim, "A", { commandApi: "v1" }), (c) => c.health)
      expect(v2).toMatchObject({ healthy: false, source: "v2" })
      expect(v1).toMatchObject({ healthy: false, source: "v1" })
      expect(v2.errorMessage).toBeDefined()
    })
  )

  it.scopedLive("a restricted account gets Forbidden naming the missing permission", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({})
      const dir = yield* tempDir
      const ro = connect(sim, "A", { accountName: "sim-readonly" })
      const [backup, role, clients, health] = yield* on(ro, (c) =>
        Effect.all([
          Effect.flip(c.downloadBackup({ directory: dir })),
          Effect.flip(c.setFailoverRole({ role: "backup", dataSyncFirst: false, force: false })),
          Effect.flip(Stream.runCollect(c.jumpClients())),
          c.health
        ])
      )
      expect(backup.reason).toMatchObject({ _tag: "Forbidden", permission: "perm_backup" })
      expect(role.reason).toMatchObject({ _tag: "Forbidden", permission: "perm_command (full_access)" })
      expect(clients.reason).toMatchObject({ _tag: "Forbidden", permission: "perm_configuration" })
      expect(health.healthy).toBe(true)
      expect(Fs.readdirSync(dir)).toEqual([])
    })
  )
})

describe("TLS trust", () => {
  it.scopedLive("a CA bundle that issued the certificate is trusted", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({})
      const health = yield* on(connect(sim, "A", { tls: { caPem: sim.certificatePem } }), (c) => c.health)
      expect(health.healthy).toBe(true)
    })
  )

  it.scopedLive("a wrong pin is TlsMismatch naming the expected and seen fingerprints", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({})
      const pin = "00".repeat(32)
      const error = yield* Effect.flip(on(connect(sim, "A", { tls: { pinSha256: pin } }), (c) => c.health))
      expect(error.reason).toMatchObject({
        _tag: "TlsMismatch",
        expected: pin,
        seen: fingerprint(sim.certificatePem).replace(/:/g, "").toLowerCase()
      })
      expect(error.hint).toContain("tls.pinSha256")
    })
  )

  it.scopedLive("with no trust configured, a self-signed appliance is refused (system CAs)", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({})
      const error = yield* Effect.flip(on(connect(sim, "A", { tls: undefined }), (c) => c.apiInfo))
      expect(error.reason._tag).toBe("TlsMismatch")
      expect(error.hint).toContain("tls.caPem")
    })
  )

  it.scopedLive("a CA bundle with the wrong host name is refused", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({})
      const error = yield* Effect.flip(
        on(
          connect(sim, "A", { tls: { caPem: sim.certificatePem, servername: "not-the-appliance.example" } }),
          (c) => c.health
        )
      )
      expect(error.reason._tag).toBe("TlsMismatch")
    })
  )
})

for (const xmlNamespace of ["bomgar", "beyondtrust"] as const) {
  describe(`v1 XML API (${xmlNamespace} namespace)`, () => {
    it.scopedLive("health, api info, users, clients and set_failover_role", () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start({ xmlNamespace, product: xmlNamespace === "bomgar" ? "rs" : "pra" })
        const a = connect(sim, "A", { commandApi: "v1" })
        const [health, info, users, clients] = yield* on(a, (c) =>
          Effect.all([c.health, c.apiInfo, c.loggedInUsers, c.connectedClients])
        )
        expect(health).toMatchObject({
          source: "v1",
          failoverRole: "primary",
          healthy: true,
          applianceGuid: sim.appliance("A").guid
        })
        expect(health.version).toMatch(/^\d+\.\d+\.\d+$/)
        expect(health.build.length).toBeGreaterThan(0)
        expect(info.permissions.perm_command).toBe("full_access")
        expect(info.permissions.perm_backup).toBe(true)
        expect(users).toHaveLength(3)
        expect(clients.counts.representative).toBe(3)
        const role = yield* on(connect(sim, "B", { commandApi: "v1" }), (c) =>
          c.setFailoverRole({ role: "primary", dataSyncFirst: true, force: false })
        )
        expect(role.syncStarted).toBe(true)
      })
    )
  })
}

describe("v1 fallback on an older appliance (no /api/command/v2)", () => {
  for (const xmlNamespace of ["bomgar", "beyondtrust"] as const) {
    it.scopedLive(`health and api info fall back to the v1 XML API by themselves (${xmlNamespace})`, () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start({ xmlNamespace, product: xmlNamespace === "bomgar" ? "rs" : "pra" })
        // the appliance answers a plain 404 page on every v2 path, as one that predates the JSON API
        yield* sim.control("POST", "/appliances/A/faults", { kind: "http404", pathPrefix: "/api/command/v2" })
        const [health, info, again] = yield* on(connect(sim, "A"), (c) => Effect.all([c.health, c.apiInfo, c.health]))
        expect(health).toMatchObject({ source: "v1", healthy: true, applianceGuid: sim.appliance("A").guid })
        expect(again.source).toBe("v1")
        expect(info.permissions.perm_command).toBe("full_access")
        // the same appliance with v2 answers v2: the fallback is the 404's doing
        yield* sim.control("DELETE", "/appliances/A/faults")
        const modern = yield* on(connect(sim, "A"), (c) => c.health)
        expect(modern.source).toBe("v2")
      })
    )
  }
})

describe("probe (VERIFY-3)", () => {
  it.scopedLive("VERIFY-3: an appliance answers the load-balancer probe as the site", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({})
      const [plain, tls] = yield* Effect.flatMap(ApplianceApi.ApplianceApi, (api) =>
        Effect.all([
          api.probe({ url: sim.appliance("B").httpUrl, hostname: sim.site.hostname }),
          api.probe({ url: sim.appliance("A").httpsUrl, hostname: "localhost" })
        ])
      ).pipe(Effect.provide(ApplianceClient.layer([], { probeTls: { caPem: sim.certificatePem } })))
      expect(plain.status).toBe(200)
      expect(plain.ok).toBe(true)
      expect(tls.ok).toBe(true)
    })
  )

  it.scopedLive("PREP-8 MIGRATE-1: the anonymous probe carries the appliance's clock in its Date header", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({})
      yield* sim.control("PUT", "/appliances/A/clock-offset", { seconds: -7200 })
      const r = yield* Effect.flatMap(ApplianceApi.ApplianceApi, (api) =>
        api.probe({ url: sim.appliance("A").httpsUrl, hostname: "localhost" })
      ).pipe(Effect.provide(ApplianceClient.layer([], { probeTls: { caPem: sim.certificatePem } })))
      expect(r.ok).toBe(true)
      const skew = (Date.parse(r.date!) - Date.now()) / 1000
      // two hours behind, give or take the run's own duration
      expect(skew).toBeLessThan(-7000)
      expect(skew).toBeGreaterThan(-7400)
    })
  )

  it.scopedLive("VERIFY-3: a probe presenting a name the certificate does not cover is TlsMismatch", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({})
      const error = yield* Effect.flip(
        Effect.flatMap(ApplianceApi.ApplianceApi, (api) =>
          api.probe({ url: sim.appliance("A").httpsUrl, hostname: "support.example.com" })
        ).pipe(Effect.provide(ApplianceClient.layer([], { probeTls: { caPem: sim.certificatePem } })))
      )
      expect(error.reason._tag).toBe("TlsMismatch")
    })
  )
})
