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

  it.effect("an unknown id is NotConfigured", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(client("Z"))
      expect(error.reason._tag).toBe("NotConfigured")
    }).pipe(Effect.provide(Pair))
  )
})
