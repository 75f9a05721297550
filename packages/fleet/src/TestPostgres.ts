/**
 * A throwaway PostgreSQL server for tests: `initdb` in a temporary folder,
 * `pg_ctl start` on a free port (fsync off), stopped and deleted when the
 * scope closes. Uses the machine's PostgreSQL binaries (on PATH, else
 * `/usr/lib/postgresql/<version>/bin`); as root, the server runs as the
 * `postgres` user (PostgreSQL refuses root).
 *
 * @since 0.3.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

/**
 * PostgreSQL could not be started.
 *
 * @since 0.3.0
 * @category errors
 */
export class TestPostgresError extends Data.TaggedError("TestPostgresError")<{ readonly detail: string }> {
  /**
   * @since 0.3.0
   */
  override get message(): string {
    return `Could not start a test PostgreSQL: ${this.detail}. Install PostgreSQL's server binaries (Debian: apt-get install -y postgresql).`
  }
}

/**
 * A running test server.
 *
 * @since 0.3.0
 * @category models
 */
export interface TestPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  readonly url: string
  readonly port: number
  readonly dataDir: string
}

/**
 * The folder holding `initdb` and `pg_ctl`, or undefined when PostgreSQL is absent.
 *
 * @since 0.3.0
 * @category constructors
 */
export const binDir = (): string | undefined => {
  const which = spawnSync("sh", ["-c", "command -v initdb"], { encoding: "utf8" })
  if (which.status === 0 && which.stdout.trim() !== "") return path.dirname(fs.realpathSync(which.stdout.trim()))
  const root = "/usr/lib/postgresql"
  if (!fs.existsSync(root)) return undefined
  const versions = fs
    .readdirSync(root)
    .filter((v) => fs.existsSync(path.join(root, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? undefined : path.join(root, versions[0], "bin")
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once("error", reject)
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port
      srv.close(() => resolve(port))
    })
  })

/**
 * Start a server for the scope.
 *
 * @since 0.3.0
 * @category constructors
 */
export const start: Effect.Effect<TestPostgres, TestPostgresError, Scope.Scope> = Effect.gen(function* () {
  const bin = binDir()
  if (bin === undefined) return yield* new TestPostgresError({ detail: "initdb not found" })
  const root = process.getuid?.() === 0
  const asUser = (cmd: string, args: ReadonlyArray<string>): [string, Array<string>] =>
    root ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, [...args]]
  const port = yield* Effect.promise(freePort)
  const dataDir = yield* Effect.acquireRelease(
    Effect.try({
      try: () => {
        const base = fs.mkdtempSync(path.join(os.tmpdir(), "sra-pg-"))
        if (root) execFileSync("chown", ["-R", "postgres", base])
        const [cmd, args] = asUser(path.join(bin, "initdb"), [
          "-D",
          path.join(base, "data"),
          "-U",
          "postgres",
          "-A",
          "trust",
          "--no-sync"
        ])
        execFileSync(cmd, args, { stdio: "pipe" })
        return base
      },
      catch: (e) => new TestPostgresError({ detail: `initdb failed: ${(e as Error).message}` })
    }),
    (base) => Effect.sync(() => fs.rmSync(base, { recursive: true, force: true }))
  )
  const data = path.join(dataDir, "data")
  const ctl = (action: ReadonlyArray<string>) => {
    const [cmd, args] = asUser(path.join(bin, "pg_ctl"), ["-D", data, ...action])
    execFileSync(cmd, args, { stdio: "pipe" })
  }
  yield* Effect.acquireRelease(
    Effect.try({
      try: () =>
        ctl([
          "-l",
          path.join(dataDir, "log"),
          "-w",
          "-t",
          "60",
          "-o",
          `-p ${port} -h 127.0.0.1 -k ${dataDir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`,
          "start"
        ]),
      catch: (e) =>
        new TestPostgresError({
          detail: `pg_ctl start failed: ${(e as Error).message} ${fs.existsSync(path.join(dataDir, "log")) ? fs.readFileSync(path.join(dataDir, "log"), "utf8").slice(-2000) : ""}`
        })
    }),
    () =>
      Effect.sync(() => {
        try {
          ctl(["-m", "immediate", "-w", "stop"])
        } catch {
          // already stopped
        }
      })
  )
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, port, dataDir }
})
