import { describe, expect, it } from "@effect/vitest"
import * as ApplianceApi from "../src/ApplianceApi.js"
import * as ApplianceError from "../src/ApplianceError.js"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { createHash } from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { FakeAppliance } from "../src/test.js"

const Pair = FakeAppliance.layer({
  A: { failoverRole: "primary", clusterRole: "primary" },
  B: { failoverRole: "backup", clockOffsetMillis: 600_000 }
})

const client = (id: string) => Effect.flatMap(ApplianceApi.ApplianceApi, (api) => api.appliance(id))

describe("FakeAppliance", () => {
  it.effect("state changes made by a test show in the next answer", () =>
    Effect.gen(function* () {
      const fakes = yield* FakeAppliance.FakeAppliances
      const a = yield* client("A")
      expect((yield* a.health).healthy).toBe(true)
      fakes.get("A").state.healthy = false
      fakes.get("A").state.errorMessage = "Disk full"
      expect(yield* a.health).toMatchObject({ healthy: false, errorMessage: "Disk full", failoverRole: "primary" })
      expect(fakes.get("A").count("health")).toBe(2)
    }).pipe(Effect.provide(Pair))
  )

  it.effect("failNext injects a typed failure for the given number of calls", () =>
    Effect.gen(function* () {
      const fakes = yield* FakeAppliance.FakeAppliances
      fakes.get("A").failNext("health", new ApplianceError.Timeout({ afterMillis: 30_000 }), 2)
      const a = yield* client("A")
      const first = yield* Effect.flip(a.health)
      const second = yield* Effect.flip(a.health)
      expect(first.reason._tag).toBe("Timeout")
      expect(second.reason._tag).toBe("Timeout")
      expect((yield* a.health).healthy).toBe(true)
    }).pipe(Effect.provide(Pair))
  )

  it.effect("setFailoverRole swaps the pair and is recorded with its request", () =>
    Effect.gen(function* () {
      const fakes = yield* FakeAppliance.FakeAppliances
      const b = yield* client("B")
      const result = yield* b.setFailoverRole({ role: "primary", dataSyncFirst: true, force: false })
      expect(result.syncStarted).toBe(true)
      expect(fakes.get("B").state.failoverRole).toBe("primary")
      expect(fakes.get("A").state.failoverRole).toBe("backup")
      expect(fakes.get("B").calls.at(-1)?.request).toEqual({ role: "primary", dataSyncFirst: true, force: false })
    }).pipe(Effect.provide(Pair))
  )

  it.effect("PREP-8: apiInfo reports the appliance clock from Effect's Clock plus the offset", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(1_700_000_000_000)
      const info = yield* Effect.flatMap(client("B"), (b) => b.apiInfo)
      expect(info.serverTime.getTime() - info.localTime.getTime()).toBe(600_000)
      expect(info.localTime.getTime()).toBe(1_700_000_000_000)
    }).pipe(Effect.provide(Pair))
  )

  it.effect("missing permissions are Forbidden naming the permission", () =>
    Effect.gen(function* () {
      const fakes = yield* FakeAppliance.FakeAppliances
      fakes.get("A").state.permissions = { perm_command: "read_only", perm_backup: false, perm_configuration: false }
      const a = yield* client("A")
      const role = yield* Effect.flip(a.setFailoverRole({ role: "backup", dataSyncFirst: false, force: false }))
      const backup = yield* Effect.flip(a.downloadBackup({ directory: Os.tmpdir() }))
      const jc = yield* Effect.flip(Stream.runCollect(a.jumpClients()))
      expect(role.reason).toMatchObject({ _tag: "Forbidden", permission: "perm_command (full_access)" })
      expect(backup.reason).toMatchObject({ _tag: "Forbidden", permission: "perm_backup" })
      expect(jc.reason).toMatchObject({ _tag: "Forbidden", permission: "perm_configuration" })
      expect((yield* a.health).healthy).toBe(true)
    }).pipe(Effect.provide(Pair))
  )

  it.scoped("PREP-1: the fake backup is a real file with its SHA-256, password checked", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "sra-fake-"))),
        (d) => Effect.sync(() => Fs.rmSync(d, { recursive: true, force: true }))
      )
      const fakes = yield* FakeAppliance.FakeAppliances
      fakes.get("A").state.backupPassword = "pw"
      fakes.get("A").state.backupContent = new Uint8Array([1, 2, 3, 4])
      const a = yield* client("A")
      const refused = yield* Effect.flip(a.downloadBackup({ directory: dir, password: Redacted.make("nope") }))
      expect(refused.reason._tag).toBe("ApplianceRefused")
      const artifact = yield* a.downloadBackup({ directory: dir, password: Redacted.make("pw") })
      expect(artifact.bytes).toBe(4)
      expect(artifact.sha256).toBe(
        createHash("sha256")
          .update(new Uint8Array([1, 2, 3, 4]))
          .digest("hex")
      )
      expect(Fs.readdirSync(dir)).toEqual([Path.basename(artifact.path)])
    }).pipe(Effect.provide(Pair))
  )

  it.effect("CLIENT-8: Jump Clients are filtered like the config API", () =>
    Effect.gen(function* () {
      const fakes = yield* FakeAppliance.FakeAppliances
      const jc = (id: number, connectionType: "active" | "passive", needsUpdate: boolean) =>
        new ApplianceApi.JumpClient({ id, name: `jc${id}`, jumpGroupId: 1, connectionType, needsUpdate, isLost: false })
      fakes.get("A").state.jumpClients = [jc(1, "active", true), jc(2, "passive", true), jc(3, "active", false)]
      const a = yield* client("A")
      const active = yield* Stream.runCollect(a.jumpClients({ connection_type: "active" }))
      expect([...active].map((j) => j.id)).toEqual([1, 3])
      const pending = [...(yield* Stream.runCollect(a.jumpClients()))].filter((j) => j.needsUpdate)
      expect(pending).toHaveLength(2)
    }).pipe(Effect.provide(Pair))
  )

  it.effect("VERIFY-3: probes answer from the probed appliance and are recorded", () =>
    Effect.gen(function* () {
      const fakes = yield* FakeAppliance.FakeAppliances
      fakes.get("B").state.probe = { status: 500, body: "FAIL" }
      const api = yield* ApplianceApi.ApplianceApi
      const r = yield* api.probe({ url: "fake://B", hostname: "support.example.com" })
      expect(r).toMatchObject({ ok: false, status: 500 })
      expect(fakes.probeCalls).toEqual([{ url: "fake://B", hostname: "support.example.com" }])
    }).pipe(Effect.provide(Pair))
  )

  it.effect("last_data_sync is reported only while primary, in the appliance's clock", () =>
    Effect.gen(function* () {
      const fakes = yield* FakeAppliance.FakeAppliances
      const at = new Date("2025-03-01T09:00:00Z")
      for (const id of ["A", "B"]) {
        fakes.get(id).state.lastDataSync = at
        fakes.get(id).state.lastDataSyncStatus = "success"
      }
      const a = yield* Effect.flatMap(client("A"), (c) => c.health)
      const b = yield* Effect.flatMap(client("B"), (c) => c.health)
      expect(a).toMatchObject({ lastDataSync: at, lastDataSyncStatus: "success" })
      expect(b.lastDataSync).toBeUndefined()
      expect(b.lastDataSyncStatus).toBeUndefined()
      // B becomes primary: it reports the sync, dated by its clock (ten minutes ahead)
      yield* Effect.flatMap(client("B"), (c) =>
        c.setFailoverRole({ role: "primary", dataSyncFirst: false, force: false })
      )
      const swapped = yield* Effect.flatMap(client("B"), (c) => c.health)
      expect(swapped.lastDataSync?.getTime()).toBe(at.getTime() + 600_000)
      expect(swapped.lastDataSyncStatus).toBe("success")
      expect((yield* Effect.flatMap(client("A"), (c) => c.health)).lastDataSync).toBeUndefined()
    }).pipe(Effect.provide(Pair))
  )

  it.effect("a probe answers as the appliance's health says unless its probe answer is set", () =>
    Effect.gen(function* () {
      const fakes = yield* FakeAppliance.FakeAppliances
      const api = yield* ApplianceApi.ApplianceApi
      expect(yield* api.probe({ url: "fake://A" })).toMatchObject({ ok: true, status: 200, body: "OK" })
      fakes.get("A").state.healthy = false
      fakes.get("A").state.errorMessage = "Disk full"
      expect(yield* api.probe({ url: "fake://A" })).toMatchObject({ ok: false, status: 500, body: "FAIL: Disk full" })
      fakes.get("A").state.probe = { status: 200, body: "OK" }
      expect((yield* api.probe({ url: "fake://A" })).ok).toBe(true)
      fakes.get("A").state.up = false
      expect((yield* Effect.flip(api.probe({ url: "fake://A" }))).reason._tag).toBe("Transport")
    }).pipe(Effect.provide(Pair))
  )

  it.effect("a probe of an appliance's own URL reaches it, even presenting the site's host name", () =>
    Effect.gen(function* () {
      const fakes = yield* FakeAppliance.FakeAppliances
      const api = yield* ApplianceApi.ApplianceApi
      const hostname = "support.example.test"
      fakes.get("B").state.healthy = false
      // B on its unique address (any path, default port spelled out): B's answer, not the site's
      expect(yield* api.probe({ url: "https://10.0.0.12/check_health", hostname })).toMatchObject({ status: 500 })
      expect(yield* api.probe({ url: "https://10.0.0.12:443", hostname })).toMatchObject({ status: 500 })
      // the site's host name on another address: the site, i.e. A
      expect(yield* api.probe({ url: "https://site", hostname })).toMatchObject({ status: 200 })
      fakes.get("A").state.up = false
      expect((yield* Effect.flip(api.probe({ url: "https://site", hostname }))).appliance).toBe("site")
      // another port of B's address is another address
      expect(yield* api.probe({ url: "https://10.0.0.12:8443" })).toMatchObject({ status: 200, body: "OK" })
      expect(fakes.probeCalls.map((p) => p.url)).toHaveLength(5)
    }).pipe(
      Effect.provide(
        FakeAppliance.layer(
          {
            A: { failoverRole: "primary", urls: ["https://10.0.0.11"] },
            B: { failoverRole: "backup", urls: ["https://10.0.0.12"] }
          },
          { siteHostname: "support.example.test" }
        )
      )
    )
  )

  it.effect("the site follows its shared IP to whichever appliance has it enabled", () =>
    Effect.gen(function* () {
      const fakes = yield* FakeAppliance.FakeAppliances
      const api = yield* ApplianceApi.ApplianceApi
      const guidOfSite = Effect.map(
        Effect.flatMap(client("site"), (c) => c.health),
        (h) => fakes.all.find((f) => f.state.guid === h.applianceGuid)?.id
      )
      expect(fakes.site.reaches()).toBe("A")
      expect(yield* guidOfSite).toBe("A")
      // both claim it (mid-move): the first one up, in seed order
      fakes.get("B").state.enabledSharedIps = ["10.0.0.10"]
      expect(yield* guidOfSite).toBe("A")
      fakes.get("A").state.up = false
      expect(yield* guidOfSite).toBe("B")
      fakes.get("A").state.up = true
      fakes.get("A").state.enabledSharedIps = []
      expect(yield* guidOfSite).toBe("B")
      // target is not used while the shared IP decides
      fakes.site.target = "A"
      expect(fakes.site.reaches()).toBe("B")
      expect(yield* api.probe({ url: "fake://site" })).toMatchObject({ status: 200 })
      fakes.get("B").state.enabledSharedIps = []
      expect(fakes.site.reaches()).toBeUndefined()
      expect((yield* Effect.flip(Effect.flatMap(client("site"), (c) => c.health))).reason._tag).toBe("Transport")
      expect((yield* Effect.flip(api.probe({ url: "fake://site" }))).appliance).toBe("site")
      // without a shared IP, target decides again
      fakes.site.sharedIp = undefined
      expect(yield* guidOfSite).toBe("A")
    }).pipe(
      Effect.provide(
        FakeAppliance.layer(
          { A: { failoverRole: "primary", enabledSharedIps: ["10.0.0.10"] }, B: { failoverRole: "backup" } },
          { siteSharedIp: "10.0.0.10" }
        )
      )
    )
  )

  it.effect("an unknown id is NotConfigured", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(client("Z"))
      expect(error.reason._tag).toBe("NotConfigured")
    }).pipe(Effect.provide(Pair))
  )
})
