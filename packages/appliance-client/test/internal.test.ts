import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as BackupFile from "../src/internal/backupFile.js"
import * as Limiter from "../src/internal/limiter.js"
import * as Token from "../src/internal/token.js"
import * as Wire from "../src/internal/wire.js"
import * as Xml from "../src/internal/xml.js"

describe("Limiter", () => {
  it.effect("never starts more than 20 requests in any second", () =>
    Effect.gen(function* () {
      const limiter = yield* Limiter.make(20)
      const started: Array<number> = []
      const fiber = yield* Effect.fork(
        Effect.all(
          Array.from({ length: 65 }, () =>
            Effect.zipRight(
              limiter.take,
              Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.sync(() => started.push(t)))
            )
          ),
          { concurrency: "unbounded" }
        )
      )
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      expect(started).toHaveLength(65)
      for (const t of started) {
        const inWindow = started.filter((u) => u >= t && u < t + 1000).length
        expect(inWindow).toBeLessThanOrEqual(20)
      }
      // and it is not slower than needed: the 65th starts at 64 * 50 ms
      expect(Math.max(...started)).toBe(64 * 50)
    })
  )

  it.effect("pauseUntil holds every later request", () =>
    Effect.gen(function* () {
      const limiter = yield* Limiter.make(20)
      yield* limiter.pauseUntil(5_000)
      const fiber = yield* Effect.fork(Effect.zipRight(limiter.take, Clock.currentTimeMillis))
      yield* TestClock.adjust("4 seconds")
      expect(yield* Fiber.poll(fiber)).toMatchObject({ _tag: "None" })
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toBe(5_000)
    })
  )
})

describe("TokenCache", () => {
  it.effect("concurrent callers share one slow token request", () =>
    Effect.gen(function* () {
      let mints = 0
      const cache = yield* Token.make(
        Effect.gen(function* () {
          mints++
          yield* Effect.sleep("2 seconds")
          return { value: Redacted.make(`t${mints}`), expiresInSeconds: 3600 }
        })
      )
      const fiber = yield* Effect.fork(
        Effect.all(
          Array.from({ length: 100 }, () => cache.get),
          { concurrency: "unbounded" }
        )
      )
      yield* TestClock.adjust("2 seconds")
      const tokens = yield* Fiber.join(fiber)
      expect(mints).toBe(1)
      expect(new Set(tokens.map((t) => Redacted.value(t.value)))).toEqual(new Set(["t1"]))
    })
  )

  it.effect("invalidate drops only the token that was refused", () =>
    Effect.gen(function* () {
      let mints = 0
      const cache = yield* Token.make(
        Effect.sync(() => ({ value: Redacted.make(`t${++mints}`), expiresInSeconds: 3600 }))
      )
      const first = yield* cache.get
      yield* cache.invalidate(first)
      const second = yield* cache.get
      // a late 401 for the first token must not throw away the second
      yield* cache.invalidate(first)
      const third = yield* cache.get
      expect(Redacted.value(second.value)).toBe("t2")
      expect(third).toBe(second)
      expect(yield* cache.minted).toBe(2)
    })
  )

  it.effect("a failed token request is not cached", () =>
    Effect.gen(function* () {
      let calls = 0
      const cache = yield* Token.make(
        Effect.suspend(() =>
          ++calls === 1
            ? Effect.fail("down" as const)
            : Effect.succeed({ value: Redacted.make("ok"), expiresInSeconds: 60 })
        )
      )
      expect(yield* Effect.flip(cache.get)).toBe("down")
      expect(Redacted.value((yield* cache.get).value)).toBe("ok")
    })
  )
})

const NS = {
  bomgar: "http://www.bomgar.com/namespaces/API/command",
  beyondtrust: "https://www.beyondtrust.com/namespaces/API/command"
}

describe("XML (v1)", () => {
  for (const [era, ns] of Object.entries(NS)) {
    it(`check_health decodes with the ${era} namespace`, () => {
      const h = Wire.healthFromV1(`<?xml version="1.0" encoding="UTF-8"?>
<health_check xmlns="${ns}">
  <appliance id="0123456789abcdef0123456789abcdef">a.example.test</appliance>
  <version>24.3.2 (41234-abcdef)</version>
  <success>0</success>
  <error_message>Data sync failed</error_message>
  <failover_role>primary</failover_role>
  <enabled_shared_ips><ip>10.0.0.10</ip><ip>fd00::10</ip></enabled_shared_ips>
  <last_data_sync_time ts="1764324000">2025-11-28T10:00:00+00:00</last_data_sync_time>
  <last_data_sync_status>failed</last_data_sync_status>
</health_check>`)
      expect(h).toMatchObject({
        applianceGuid: "0123456789abcdef0123456789abcdef",
        version: "24.3.2",
        build: "41234-abcdef",
        healthy: false,
        errorMessage: "Data sync failed",
        failoverRole: "primary",
        enabledSharedIps: ["10.0.0.10", "fd00::10"],
        lastDataSyncStatus: "failed",
        source: "v1"
      })
      expect(h.lastDataSync?.getTime()).toBe(1764324000 * 1000)
    })

    it(`PREP-8: get_api_info gives the appliance clock (${era})`, () => {
      const local = new Date(1_764_324_100_000)
      const info = Wire.infoFromV1(
        `<api_information xmlns="${ns}"><api_version>1.19.0</api_version><timestamp>1764324000</timestamp>
<permissions><permission name="perm_command">read_only</permission><permission name="perm_backup">1</permission><permission name="perm_configuration">0</permission></permissions></api_information>`,
        local
      )
      expect(info.serverTime.getTime()).toBe(1_764_324_000_000)
      expect(info.localTime).toBe(local)
      expect(info.permissions).toEqual({ perm_command: "read_only", perm_backup: true, perm_configuration: false })
      expect(info.commandApiVersion).toBe("1.19.0")
    })

    it(`PREP-4: logged-in reps and connected-client counts decode (${era})`, () => {
      const users = Wire.usersFromV1(`<logged_in_reps xmlns="${ns}">
<rep id="12"><public_display_name>Ada</public_display_name><private_display_name>Ada L.</private_display_name><type>normal</type>
<logged_in_since ts="1764320000">2025-11-28T09:00:00+00:00</logged_in_since><presentation_count>1</presentation_count><support_session_count>2</support_session_count></rep>
<rep id="13"><public_display_name>Bob</public_display_name><type>invited</type><support_session_count>0</support_session_count></rep>
</logged_in_reps>`)
      expect(users.map((u) => [u.id, u.displayName, u.sessionCount])).toEqual([
        ["12", "Ada", 3],
        ["13", "Bob", 0]
      ])
      const summary = Wire.connectedClientsFromV1(`<connected_client_list xmlns="${ns}"><connected_client_summary>
<appliance_summary id="aa"><count type="representative">3</count><count type="support_customer">5</count></appliance_summary>
<appliance_summary id="bb"><count type="representative">1</count></appliance_summary>
</connected_client_summary></connected_client_list>`)
      expect(summary.counts).toEqual({ representative: 4, support_customer: 5 })
    })
  }

  it("a prefixed namespace is read the same", () => {
    const h = Wire.healthFromV1(`<ns1:health_check xmlns:ns1="${NS.bomgar}"><ns1:appliance id="x">h</ns1:appliance>
<ns1:version>19.1.8 (1-a)</ns1:version><ns1:success>1</ns1:success><ns1:failover_role>none</ns1:failover_role></ns1:health_check>`)
    expect(h).toMatchObject({ hostname: "h", version: "19.1.8", healthy: true })
  })

  it("an entity-expansion bomb is refused before expansion", () => {
    const bomb = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<health_check><appliance id="x">&lol9;</appliance></health_check>`
    expect(() => Xml.parse(bomb)).toThrow(/document type declarations are refused/)
    expect(() => Wire.healthFromV1(bomb)).toThrow(Wire.WireError)
  })

  it("truncated XML is a decoding error, not a partial result", () => {
    expect(() =>
      Wire.healthFromV1(`<health_check xmlns="${NS.beyondtrust}"><appliance id="x">h</appliance><version>1.2`)
    ).toThrow(Wire.WireError)
  })

  it("set_failover_role answers: <success> and <error> roots", () => {
    expect(Wire.roleChangeFromV1(`<success xmlns="${NS.bomgar}">Successfully changed role.</success>`)).toBe(
      "Successfully changed role."
    )
    expect(() => Wire.roleChangeFromV1(`<error xmlns="${NS.beyondtrust}">Peer unreachable</error>`)).toThrow(
      Wire.XmlApplianceError
    )
  })
})

describe("BackupFile", () => {
  const sizes = [0, 1, 4095, 1 << 20, (1 << 20) + 7, 3 * (1 << 20) - 1, 17, 5_000_000, 16_384, 2_500_000]
  const chunks = sizes.map((n, i) => Buffer.alloc(n, (i * 37) % 251).map((b, j) => (b + j) % 256))
  const whole = Buffer.concat(chunks)
  const expected = createHash("sha256").update(whole).digest("hex")

  for (const [name, open] of [
    ["on a worker thread, 4 slots", (path: string) => BackupFile.onWorker(path, { slots: 4 })],
    ["on the calling thread", (path: string) => BackupFile.inline(path)]
  ] as const) {
    it.live(`PREP-1: ${name}: the file and its SHA-256 equal the bytes written, whatever the piece sizes`, () =>
      Effect.promise(async () => {
        const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "sra-backup-file-"))
        const path = Path.join(dir, "b.partial")
        const file = open(path)
        const reused = Buffer.alloc(6_000_000)
        for (const c of chunks) {
          reused.set(c)
          await new Promise<void>((resolve, reject) => {
            file.write(reused.subarray(0, c.length), (e) => (e ? reject(e) : resolve()))
            // the caller's read buffer is reused at once: the writer must have copied what it needs
            reused.fill(0xee)
          })
        }
        const hex = await file.finish()
        await file.close()
        await file.close()
        expect(hex).toBe(expected)
        expect(Fs.readFileSync(path).equals(whole)).toBe(true)
        expect(Fs.statSync(path).mode & 0o777).toBe(0o600)
        Fs.rmSync(dir, { recursive: true, force: true })
      })
    )
  }

  for (const [name, open] of [
    ["on a worker thread", (path: string) => BackupFile.onWorker(path, { slots: 4 })],
    ["on the calling thread", (path: string) => BackupFile.inline(path)]
  ] as const) {
    it.live(`PREP-1: ${name}, bytes read straight into its memory (framing gaps, copies between) are kept`, () =>
      Effect.promise(async () => {
        const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "sra-backup-file-"))
        const path = Path.join(dir, "b.partial")
        const file = open(path)
        const body = Buffer.alloc(9_000_000).map((_, i) => (i * 7 + (i >> 13)) % 256)
        const reads = [16_384, 1 << 20, 70_000, 5, 300_000, 16_384, 999_999]
        let sent = 0
        let inPlace = 0
        let region = file.readBuffer!()
        for (let i = 0; sent < body.length; i++) {
          // a read lands in `region`: some framing bytes (a chunk-size line), then body bytes
          const gap = i % 3 === 0 ? Math.min(7, region.length - 1) : 0
          const m = Math.min(reads[i % reads.length]!, region.length - gap, body.length - sent)
          region.fill(0x2a, 0, gap)
          region.set(body.subarray(sent, sent + m), gap)
          const piece = i % 5 === 4 ? Buffer.from(region.subarray(gap, gap + m)) : region.subarray(gap, gap + m) // sometimes a copy
          if (piece.length === m && piece.buffer === region.buffer && region.length > 65_536) inPlace++
          sent += m
          const done = new Promise<void>((resolve, reject) => file.write(piece, (e) => (e ? reject(e) : resolve())))
          // node asks for the next read's memory at once, before the writer has caught up
          region = file.readBuffer!()
          await done
        }
        const hex = await file.finish()
        await file.close()
        expect(inPlace).toBeGreaterThan(10)
        expect(hex).toBe(createHash("sha256").update(body).digest("hex"))
        expect(Fs.readFileSync(path).equals(body)).toBe(true)
        Fs.rmSync(dir, { recursive: true, force: true })
      })
    )
  }

  it.live("PREP-1: code after close still runs when the backup file was the program's last work", () =>
    Effect.promise(async () => {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "sra-backup-file-"))
      const child = spawnSync(
        process.execPath,
        [
          "--import",
          "tsx",
          fileURLToPath(new URL("fixtures/close-then-print.ts", import.meta.url)),
          Path.join(dir, "b")
        ],
        { cwd: fileURLToPath(new URL("../../..", import.meta.url)), encoding: "utf8" }
      )
      Fs.rmSync(dir, { recursive: true, force: true })
      expect({ status: child.status, stderr: child.stderr }).toEqual({ status: 0, stderr: "" })
      expect(child.stdout).toBe(
        `closed ${createHash("sha256")
          .update(Buffer.alloc(3 * 1024 * 1024, 1))
          .digest("hex")}\n`
      )
    })
  )

  it.live("PREP-1: a write error on the worker thread (a full disk) reaches the caller with its code", () =>
    Effect.promise(async () => {
      const file = BackupFile.onWorker("/dev/full", { slots: 4, flags: "w" })
      const error = await new Promise<Error | undefined>((resolve) => {
        const push = (n: number): void => {
          if (n === 0) return void file.finish().then(() => resolve(undefined), resolve)
          file.write(Buffer.alloc(1 << 20, 1), (e) => (e ? resolve(e) : push(n - 1)))
        }
        push(8)
      })
      await file.close()
      expect((error as { code?: string } | undefined)?.code).toBe("ENOSPC")
    })
  )
})
