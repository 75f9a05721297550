/**
 * A backup whose disk stops answering: the worker thread's writes land in a
 * FIFO that nobody reads, so a write blocks for good, as on a hung disk or
 * network share. The download must end in a typed error within the idle
 * bound instead of waiting forever, and must not wait for the stuck thread.
 */
import { describe, expect, it } from "@effect/vitest"
import { ApplianceApi } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import { vi } from "vitest"
import { ApplianceClient } from "../src/index.js"
import { healthV2 } from "./mock.js"

const stuck = vi.hoisted(() => ({ fifo: "", opened: 0 }))

// the worker writer, opened on the FIFO instead of the temp file
vi.mock("../src/internal/backupFile.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../src/internal/backupFile.js")>()
  return {
    ...real,
    onWorker: () => {
      stuck.opened++
      return real.onWorker(stuck.fifo, { flags: "r+" })
    }
  }
})

const BODY = 64 * 1024 * 1024

const server = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly server: Http.Server }>((resume) => {
    const chunk = Buffer.alloc(1024 * 1024, 7)
    const s = Http.createServer((req, res) => {
      if (req.url === "/oauth2/token") {
        res.writeHead(200, { "content-type": "application/json" })
        return res.end(JSON.stringify({ access_token: "stall-token", token_type: "Bearer", expires_in: 3600 }))
      }
      if (req.url === "/api/command/v2/health") {
        res.writeHead(200, { "content-type": "application/json" })
        return res.end(JSON.stringify(healthV2))
      }
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(BODY) })
      let sent = 0
      const pump = () => {
        while (sent < BODY) {
          sent += chunk.length
          if (!res.write(chunk)) return void res.once("drain", pump)
        }
        res.end()
      }
      pump()
    })
    s.listen(0, "127.0.0.1", () =>
      resume(Effect.succeed({ url: `http://127.0.0.1:${(s.address() as { port: number }).port}`, server: s }))
    )
  }),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
)

describe("backup writer stall", () => {
  it.scopedLive("PREP-1: a disk that stops answering ends the backup in LocalIo STALLED, not a wait forever", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "sra-stall-"))),
        (d) => Effect.sync(() => Fs.rmSync(d, { recursive: true, force: true }))
      )
      stuck.fifo = Path.join(dir, "hung-disk.fifo")
      execFileSync("mkfifo", [stuck.fifo])
      const { url } = yield* server
      const error = yield* Effect.flip(
        Effect.flatMap(ApplianceApi.ApplianceApi, (api) => api.appliance("H")).pipe(
          Effect.flatMap((c) => c.downloadBackup({ directory: dir })),
          Effect.provide(
            ApplianceClient.layer([
              {
                id: "H",
                baseUrl: url,
                clientId: "client-H",
                clientSecret: Redacted.make("stall-secret"),
                backupIdleTimeoutMillis: 500,
                retry: { maxRetries: 0 }
              }
            ])
          )
        )
      )
      expect(stuck.opened).toBe(1)
      expect(error.reason).toMatchObject({ _tag: "LocalIo", code: "STALLED", afterMillis: 500, path: dir })
      expect(error.message).toContain(`no write to ${dir} finished for 500 ms`)
      expect(error.hint).toContain("stopped answering")
      // nothing that looks like a backup
      expect(Fs.readdirSync(dir)).toEqual(["hung-disk.fifo"])
      // the disk answers again: the stuck thread finishes its write, ends, and closes its end (EOF here)
      yield* Effect.promise(
        () =>
          new Promise<void>((resolve, reject) =>
            Fs.createReadStream(stuck.fifo)
              .on("data", () => undefined)
              .on("end", resolve)
              .on("error", reject)
          )
      )
    })
  )
})
