/**
 * The SQLite client of the embedded engine (internal/sqlite.ts) beside another process on the same file: two
 * clients are two connections, which SQLite locks against each other as it locks two processes. A transaction
 * begun while the other holds the write lock waits it out; one that gives up (SQLITE_BUSY) leaves the client
 * working; a transaction that fails or is interrupted gives the write lock back. `@effect/sql-libsql`'s client
 * failed the second point: after one busy BEGIN every later statement of the process waited forever (the
 * embedded runner's stall of issue 16).
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import type * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Sqlite from "../src/internal/sqlite.js"

const fresh = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), "sra-sqlite-")), "fleet.db")

/** A stalled client never answers: a generous deadline turns that into a failure instead of a hung test. */
const answers = <A, E>(eff: Effect.Effect<A, E>) =>
  Effect.timeoutFail(eff, {
    duration: "60 seconds",
    onTimeout: () => new Error("the client did not answer: stalled")
  })

const count = (sql: SqlClient.SqlClient) =>
  Effect.map(sql<{ n: bigint }>`SELECT count(*) AS n FROM t`, (rows) => Number(rows[0]!.n))

/** The other process: holds the write lock (a transaction with a row written) until `release`. */
const holdWriteLock = (other: SqlClient.SqlClient, release: Deferred.Deferred<void>) =>
  Effect.gen(function* () {
    const held = yield* Deferred.make<void>()
    const fiber = yield* Effect.fork(
      other.withTransaction(
        Effect.zipRight(
          other`INSERT INTO t (x) VALUES (0)`,
          Effect.zipRight(Deferred.succeed(held, undefined), Deferred.await(release))
        )
      )
    )
    yield* Deferred.await(held)
    return fiber
  })

const setup = (runnerBusyTimeout: Duration.DurationInput) =>
  Effect.gen(function* () {
    const file = fresh()
    const runner = yield* Sqlite.make({ file, busyTimeout: runnerBusyTimeout })
    const other = yield* Sqlite.make({ file })
    yield* runner`CREATE TABLE t (x INTEGER)`
    // a third process that never waits: SQLITE_BUSY fails it at once
    const impatient = yield* Sqlite.make({ file, busyTimeout: 0 })
    return { runner, other, impatient }
  }).pipe(Effect.provide(Reactivity.layer))

describe("SQLite client beside another process", () => {
  it.live(
    "FLEET-STALL-2 a transaction refused with SQLITE_BUSY (the other process kept the write lock past the busy timeout) leaves the client working: once the lock is released its statements and transactions answer",
    () =>
      Effect.gen(function* () {
        const { runner, other } = yield* setup("50 millis")
        const release = yield* Deferred.make<void>()
        const holder = yield* holdWriteLock(other, release)
        const refused = yield* Effect.flip(runner.withTransaction(runner`INSERT INTO t (x) VALUES (1)`))
        expect(Sqlite.isBusy(refused)).toBe(true)
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(holder)
        expect(yield* answers(count(runner))).toBe(1)
        yield* answers(runner.withTransaction(runner`INSERT INTO t (x) VALUES (2)`))
        expect(yield* answers(count(other))).toBe(2)
      }).pipe(Effect.scoped)
  )

  it.live(
    "FLEET-STALL-2 a transaction begun while the other process holds the write lock waits until it is released, then commits",
    () =>
      Effect.gen(function* () {
        const { runner, other } = yield* setup("60 seconds")
        const release = yield* Deferred.make<void>()
        const holder = yield* holdWriteLock(other, release)
        const writer = yield* Effect.fork(runner.withTransaction(runner`INSERT INTO t (x) VALUES (1)`))
        // the writer's BEGIN meets the lock (it is held until released below, whenever the writer starts)
        yield* Effect.sleep("200 millis")
        expect(writer.unsafePoll()).toBeNull()
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(holder)
        yield* answers(Fiber.join(writer))
        expect(yield* answers(count(other))).toBe(2)
      }).pipe(Effect.scoped)
  )

  it.live(
    "FLEET-STALL-2 a transaction that fails, or is interrupted, gives the write lock back at once: the other process writes without waiting",
    () =>
      Effect.gen(function* () {
        const { impatient, runner } = yield* setup("60 seconds")
        const failed = yield* Effect.flip(
          runner.withTransaction(Effect.zipRight(runner`INSERT INTO t (x) VALUES (1)`, Effect.fail("refused")))
        )
        expect(failed).toBe("refused")
        yield* impatient.withTransaction(impatient`INSERT INTO t (x) VALUES (2)`)
        const started = yield* Deferred.make<void>()
        const interrupted = yield* Effect.fork(
          runner.withTransaction(
            Effect.zipRight(
              runner`INSERT INTO t (x) VALUES (3)`,
              Effect.zipRight(Deferred.succeed(started, undefined), Effect.never)
            )
          )
        )
        yield* Deferred.await(started)
        yield* Fiber.interrupt(interrupted)
        yield* impatient`INSERT INTO t (x) VALUES (4)`
        // the failed and the interrupted transactions were rolled back
        expect(yield* answers(count(runner))).toBe(2)
      }).pipe(Effect.scoped)
  )
})
