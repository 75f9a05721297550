/**
 * Hostile and broken answers over a real socket (a local HTTP server on
 * port 0): each ends in a typed error within the configured bounds, and a
 * cut backup never leaves a file that looks like a backup.
 */
import { describe, expect, it } from "@effect/vitest"
import { ApplianceApi } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import { createHash } from "node:crypto"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import { ApplianceClient } from "../src/index.js"

type Handler = (req: Http.IncomingMessage, res: Http.ServerResponse) => void

const SECRET = "hostile-test-SECRET-9f8e7d"
const TOKEN = "hostile-test-TOKEN-abcdef0123456789"
const BACKUP_PASSWORD = "backup-PASSWORD-xyz-42"

const health = {
  version: "24.3.2",
  build: "1-a",
  appliance_hostname: "h.example.test",
  appliance_id: "0123456789abcdef0123456789abcdef",
  cluster_role: "single",
  failover_role: "primary"
}

/** A server that issues tokens and hands every other request to `route`. */
const server = (route: Handler) =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly server: Http.Server }>((resume) => {
      const s = Http.createServer((req, res) => {
        if (req.url === "/oauth2/token") {
          res.writeHead(200, { "content-type": "application/json" })
          res.end(JSON.stringify({ access_token: TOKEN, token_type: "Bearer", expires_in: 3600 }))
          return
        }
        if (req.url === "/api/command/v2/health") {
          res.writeHead(200, { "content-type": "application/json" })
          res.end(JSON.stringify(health))
          return
        }
        route(req, res)
      })
      s.listen(0, "127.0.0.1", () => {
        const address = s.address() as { port: number }
        resume(Effect.succeed({ url: `http://127.0.0.1:${address.port}`, server: s }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

const connection = (url: string, over?: Partial<ApplianceClient.Connection>): ApplianceClient.Connection => ({
  id: "H",
  baseUrl: url,
  clientId: "client-H",
  clientSecret: Redacted.make(SECRET),
  timeoutMillis: 2_000,
  backupIdleTimeoutMillis: 500,
  maxBodyBytes: 1024 * 1024,
  retry: { maxRetries: 0 },
  ...over
})

const withClient = <A, E>(
  c: ApplianceClient.Connection,
  f: (client: ApplianceApi.ApplianceClient) => Effect.Effect<A, E>
) =>
  Effect.flatMap(ApplianceApi.ApplianceApi, (api) => Effect.flatMap(api.appliance(c.id), f)).pipe(
    Effect.provide(ApplianceClient.layer([c]))
  )

const tempDir = () =>
  Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "sra-ac-"))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )

const infoWith =
  (handler: Handler): Handler =>
  (req, res) => {
    if (req.url?.startsWith("/api/command/v2/info")) return handler(req, res)
    res.writeHead(404).end()
  }

describe("hostile responses", () => {
  it.scopedLive("truncated JSON (connection cut before Content-Length) is Transport", () =>
    Effect.gen(function* () {
      const { url } = yield* server(
        infoWith((_req, res) => {
          res.writeHead(200, { "content-type": "application/json", "content-length": "400" })
          res.write('{"permissions":{"perm_backup":tr')
          setTimeout(() => res.socket?.destroy(), 10)
        })
      )
      const error = yield* Effect.flip(withClient(connection(url), (c) => c.apiInfo))
      expect(error.reason._tag).toBe("Transport")
    })
  )

  it.scopedLive("complete but truncated JSON document is Decode with an excerpt", () =>
    Effect.gen(function* () {
      const { url } = yield* server(
        infoWith((_req, res) => {
          res.writeHead(200, { "content-type": "application/json" })
          res.end('{"permissions":{"perm_backup":tr')
        })
      )
      const error = yield* Effect.flip(withClient(connection(url), (c) => c.apiInfo))
      expect(error.reason).toMatchObject({ _tag: "Decode", path: "(json)" })
      expect(error.message).toContain('{"permissions":{"perm_backup":tr')
    })
  )

  it.scopedLive("10 MB of junk stops at maxBodyBytes with a Decode error", () =>
    Effect.gen(function* () {
      let written = 0
      const { url } = yield* server(
        infoWith((_req, res) => {
          res.writeHead(200, { "content-type": "application/json" })
          const junk = Buffer.alloc(64 * 1024, 0x7b)
          const pump = () => {
            while (written < 10 * 1024 * 1024) {
              written += junk.length
              if (!res.write(junk)) return res.once("drain", pump)
            }
            res.end()
          }
          res.on("error", () => undefined)
          pump()
        })
      )
      const error = yield* Effect.flip(withClient(connection(url), (c) => c.apiInfo))
      expect(error.reason).toMatchObject({ _tag: "Decode", path: "(body)" })
      expect(error.message).toContain("larger than 1048576 bytes")
    })
  )

  it.scopedLive("an XML entity bomb on the v1 API is refused as Decode", () =>
    Effect.gen(function* () {
      const lol = Array.from({ length: 10 }, () => "&lol;").join("")
      const bomb = `<?xml version="1.0"?><!DOCTYPE b [<!ENTITY lol "lololololololololol"><!ENTITY lol2 "${lol}">]><health_check><appliance id="x">&lol2;</appliance></health_check>`
      const { url } = yield* server((req, res) => {
        if (req.url?.startsWith("/api/command?")) {
          res.writeHead(200, { "content-type": "text/xml; charset=UTF-8" })
          res.end(bomb)
          return
        }
        res.writeHead(404).end()
      })
      const error = yield* Effect.flip(withClient(connection(url, { commandApi: "v1" }), (c) => c.health))
      expect(error.reason._tag).toBe("Decode")
      expect(error.message).toContain("document type declarations are refused")
    })
  )

  it.scopedLive("a never-ending body ends in Timeout", () =>
    Effect.gen(function* () {
      const { url } = yield* server(
        infoWith((req, res) => {
          res.writeHead(200, { "content-type": "application/json" })
          res.write("[")
          const timer = setInterval(() => res.write("0,"), 20)
          req.socket.on("close", () => clearInterval(timer))
        })
      )
      const error = yield* Effect.flip(withClient(connection(url, { timeoutMillis: 400 }), (c) => c.apiInfo))
      expect(error.reason).toMatchObject({ _tag: "Timeout", afterMillis: 400 })
    })
  )

  it.scopedLive("no answer at all ends in Timeout", () =>
    Effect.gen(function* () {
      const { url } = yield* server(infoWith(() => undefined))
      const error = yield* Effect.flip(withClient(connection(url, { timeoutMillis: 300 }), (c) => c.apiInfo))
      expect(error.reason._tag).toBe("Timeout")
    })
  )

  it.scopedLive("connection refused is Transport with its code", () =>
    Effect.gen(function* () {
      const { url, server: s } = yield* server(() => undefined)
      yield* Effect.async<void>((resume) => {
        s.close(() => resume(Effect.void))
      })
      const error = yield* Effect.flip(withClient(connection(url), (c) => c.apiInfo))
      expect(error.reason).toMatchObject({ _tag: "Transport", code: "ECONNREFUSED" })
    })
  )
})

for (const writeBackupOnWorkerThread of [true, false]) {
  describe(`backup download (${writeBackupOnWorkerThread ? "worker thread" : "calling thread"})`, () => {
    const backupConnection = (url: string) => connection(url, { writeBackupOnWorkerThread })
    const payload = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251))

    it.scopedLive("PREP-1: the backup is streamed, hashed and renamed into place", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const bodies: Array<string> = []
        const { url } = yield* server((req, res) => {
          let body = ""
          req.on("data", (d) => (body += d))
          req.on("end", () => {
            bodies.push(body)
            res.writeHead(200, {
              "content-type": "application/octet-stream",
              "content-disposition": 'attachment; filename="h.example.test_2026-11-28.nsb"',
              "content-length": String(payload.length)
            })
            res.end(payload)
          })
        })
        const progress: Array<number> = []
        const artifact = yield* withClient(backupConnection(url), (c) =>
          c.downloadBackup({
            directory: dir,
            password: Redacted.make(BACKUP_PASSWORD),
            onProgress: (n) => progress.push(n)
          })
        )
        expect(artifact).toMatchObject({
          path: Path.join(dir, "h.example.test_2026-11-28.nsb"),
          bytes: payload.length,
          sha256: createHash("sha256").update(payload).digest("hex"),
          applianceId: "0123456789abcdef0123456789abcdef",
          version: "24.3.2",
          passwordProtected: true
        })
        expect(Fs.readdirSync(dir)).toEqual(["h.example.test_2026-11-28.nsb"])
        expect(Fs.readFileSync(artifact.path).equals(payload)).toBe(true)
        expect(progress.at(-1)).toBe(payload.length)
        expect(JSON.parse(bodies[0]!)).toEqual({ password: BACKUP_PASSWORD })
        // a second backup never overwrites the first
        const again = yield* withClient(backupConnection(url), (c) => c.downloadBackup({ directory: dir }))
        expect(again.path).toBe(Path.join(dir, "h.example.test_2026-11-28-1.nsb"))
      })
    )

    it.scopedLive("PREP-1: a cut connection leaves no file that looks like a backup", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const { url } = yield* server((_req, res) => {
          res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(payload.length) })
          res.write(payload.subarray(0, 100_000))
          setTimeout(() => res.socket?.destroy(), 20)
        })
        const error = yield* Effect.flip(withClient(backupConnection(url), (c) => c.downloadBackup({ directory: dir })))
        expect(error.reason._tag).toBe("Transport")
        expect(Fs.readdirSync(dir)).toEqual([])
      })
    )

    it.scopedLive("PREP-1: a stalled backup ends in Timeout and leaves nothing", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const { url } = yield* server((_req, res) => {
          res.writeHead(200, { "content-type": "application/octet-stream" })
          res.write(payload.subarray(0, 1000))
        })
        const error = yield* Effect.flip(withClient(backupConnection(url), (c) => c.downloadBackup({ directory: dir })))
        expect(error.reason).toMatchObject({ _tag: "Timeout", afterMillis: 500 })
        expect(Fs.readdirSync(dir)).toEqual([])
      })
    )

    it.scopedLive(
      "PREP-1: a backup folder that cannot be written is LocalIo naming the folder, not the appliance",
      () =>
        Effect.gen(function* () {
          const dir = yield* tempDir()
          const blocker = Path.join(dir, "a-file")
          Fs.writeFileSync(blocker, "not a folder")
          const { url } = yield* server((_req, res) => {
            res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(payload.length) })
            res.end(payload)
          })
          const target = Path.join(blocker, "backups")
          const error = yield* Effect.flip(
            withClient(backupConnection(url), (c) =>
              c.downloadBackup({ directory: target, password: Redacted.make(BACKUP_PASSWORD) })
            )
          )
          expect(error.reason).toMatchObject({ _tag: "LocalIo", path: target, code: "ENOTDIR" })
          expect(error.message).toContain(`cannot write in ${target}: ENOTDIR`)
          expect(error.hint).toContain(`Check that ${target} is a writable directory`)
          expect(error.message).not.toContain(BACKUP_PASSWORD)
          expect(Fs.readdirSync(dir)).toEqual(["a-file"])
        })
    )

    it.scopedLive("PREP-1: a JSON answer with status 200 is not saved as a backup", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const { url } = yield* server((_req, res) => {
          res.writeHead(200, { "content-type": "application/json" })
          res.end(JSON.stringify({ message: "Invalid credentials" }))
        })
        const error = yield* Effect.flip(withClient(backupConnection(url), (c) => c.downloadBackup({ directory: dir })))
        expect(error.reason._tag).toBe("ApplianceRefused")
        expect(error.message).toContain("Invalid credentials")
        expect(Fs.readdirSync(dir)).toEqual([])
      })
    )
  })
}

describe("secrets", () => {
  it.scopedLive("client secret, tokens and backup password never reach errors or logs", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      let apiCalls = 0
      const { url } = yield* server((req, res) => {
        apiCalls++
        if (req.url?.startsWith("/api/backup")) {
          // echo everything back, as a hostile or buggy appliance might
          let body = ""
          req.on("data", (d) => (body += d))
          req.on("end", () => {
            res.writeHead(403, { "content-type": "application/json" })
            res.end(JSON.stringify({ message: `Invalid backup password ${body} ${req.headers.authorization}` }))
          })
          return
        }
        if (req.url?.startsWith("/api/command/v2/user")) {
          res.writeHead(401, { "content-type": "application/json" })
          res.end(JSON.stringify({ error: "access_denied", message: "denied" }))
          return
        }
        res.writeHead(200, { "content-type": "application/json" })
        res.end(`{"echo": "${req.headers.authorization} ${SECRET}", "permissions": 1`)
      })
      const logs: Array<string> = []
      const logger = Logger.make(({ message, cause }) => {
        logs.push(JSON.stringify(message), String(cause))
      })
      const errors = yield* withClient(connection(url, { retry: { maxRetries: 2, baseDelayMillis: 1 } }), (c) =>
        Effect.all([
          Effect.flip(c.apiInfo),
          Effect.flip(c.loggedInUsers),
          Effect.flip(c.downloadBackup({ directory: dir, password: Redacted.make(BACKUP_PASSWORD) }))
        ])
      ).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)), Logger.withMinimumLogLevel(LogLevel.All))
      expect(apiCalls).toBeGreaterThanOrEqual(4)
      expect(errors.map((e) => e.reason._tag)).toEqual(["Decode", "Unauthorized", "ApplianceRefused"])
      const basic = Buffer.from(`client-H:${SECRET}`).toString("base64")
      const everything = [
        ...errors.flatMap((e) => [e.message, JSON.stringify(e), String(e), e.hint, JSON.stringify(e.reason)]),
        ...logs
      ].join("\n")
      expect(everything).toContain("<redacted>")
      for (const secret of [SECRET, TOKEN, BACKUP_PASSWORD, basic]) expect(everything).not.toContain(secret)
    })
  )
})
