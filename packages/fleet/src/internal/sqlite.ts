/**
 * The SQLite `SqlClient` of the embedded engine and of the CLI processes beside it (`fleet status|answer|…`):
 * one `libsql` connection per process, in WAL mode, every statement and every transaction serialized on it.
 *
 * Why not `@effect/sql-libsql`'s client (0.42): when its `BEGIN IMMEDIATE` fails with SQLITE_BUSY (another
 * process holds the write lock: `fleet answer`'s transaction beside the runner), the permit it took is never
 * given back, and every later statement of the process waits forever: the runner's shard-lock refresh timed
 * out, "Shard lock storage is unhealthy", and it never recovered (issue 16). Here:
 *
 * - a failed `BEGIN` gives the permit back; SQLITE_BUSY (no busy timeout in libsql, and a busy timeout would
 *   block the event loop: the driver is synchronous) is waited out asynchronously, on live time, up to
 *   `busyTimeout`, then reported as the `SqlError` it is;
 * - a transaction that does not commit (failure, interruption, a failed `COMMIT`) is rolled back before the
 *   permit is given back: the file is never left locked by a transaction nobody ends;
 * - one connection, closed with the scope (the other client opened one more per transaction and never
 *   closed them).
 *
 * @internal
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as Client from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import Database from "libsql"

/** @internal */
export interface Options {
  /** The SQLite file (created if missing). */
  readonly file: string
  /** How long SQLITE_BUSY (another process writing) is waited out before it is reported (default 10 s). */
  readonly busyTimeout?: Duration.DurationInput
}

const busy = (cause: unknown): boolean => {
  const c = cause as { code?: unknown; message?: unknown } | undefined
  return (
    (typeof c?.code === "string" && c.code.startsWith("SQLITE_BUSY")) ||
    /SQLITE_BUSY|database is locked/.test(String(c?.message ?? cause))
  )
}

/** Whether a `SqlError` is SQLite's SQLITE_BUSY (another connection holds the lock). @internal */
export const isBusy = (e: SqlError): boolean => busy(e.cause)

/** A real-time sleep: BUSY is about other processes, never about a test's clock. */
const sleepLive = (ms: number) =>
  Effect.async<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), ms)
    return Effect.sync(() => clearTimeout(timer))
  })

/** Run `attempt` again while it fails with SQLITE_BUSY, 2 ms doubling up to 100 ms apart, for up to `limitMs`. */
const whileBusy = <A>(limitMs: number, attempt: Effect.Effect<A, SqlError>): Effect.Effect<A, SqlError> =>
  Effect.suspend(() => {
    const deadline = Date.now() + limitMs
    const loop = (delay: number): Effect.Effect<A, SqlError> =>
      Effect.catchIf(
        attempt,
        (e) => isBusy(e) && Date.now() + delay <= deadline,
        // the wait stays interruptible even inside a transaction's acquisition (no permit is held then)
        () => Effect.zipRight(Effect.interruptible(sleepLive(delay)), loop(Math.min(delay * 2, 100)))
      )
    return loop(2)
  })

const Transaction = Context.GenericTag<readonly [Connection, counter: number]>(
  "@sra-upgrade/fleet/internal/sqlite/Transaction"
)

/** @internal */
export const make = (
  options: Options
): Effect.Effect<Client.SqlClient, SqlError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function* () {
    const limitMs = Duration.toMillis(options.busyTimeout ?? "10 seconds")
    const db = yield* Effect.acquireRelease(
      Effect.try({
        try: () => new Database(options.file),
        catch: (cause) => new SqlError({ cause, message: `Cannot open ${options.file}` })
      }),
      (db) =>
        Effect.try(() => {
          try {
            if (db.inTransaction) db.exec("ROLLBACK")
          } finally {
            db.close()
          }
        }).pipe(Effect.ignore)
    )

    /** Column names and rows of values (integers as bigint, blobs as Uint8Array); none for a write. */
    const run = (sql: string, params: ReadonlyArray<unknown>) => {
      const stmt = db.prepare(sql)
      stmt.safeIntegers(true)
      let reader = true
      try {
        stmt.raw(true)
      } catch {
        reader = false // raw() throws for a statement that returns no data
      }
      if (!reader) {
        stmt.run(params as Array<unknown>)
        return { columns: [] as ReadonlyArray<string>, values: [] as ReadonlyArray<ReadonlyArray<unknown>> }
      }
      const columns: ReadonlyArray<string> = stmt.columns().map((c: { name: string }) => c.name)
      const values = (stmt.all(params as Array<unknown>) as Array<Array<unknown>>).map((row) =>
        row.map((v) => (Buffer.isBuffer(v) ? new Uint8Array(v) : v))
      )
      return { columns, values }
    }
    const attempt = (sql: string, params: ReadonlyArray<unknown>) =>
      whileBusy(
        limitMs,
        Effect.try({
          try: () => run(sql, params),
          catch: (cause) => new SqlError({ cause, message: "Failed to execute statement" })
        })
      )
    /** Rows as objects by column name (the first of two columns with one name wins). */
    const exec = (sql: string, params: ReadonlyArray<unknown>) =>
      Effect.map(attempt(sql, params), ({ columns, values }) =>
        values.map((row) => {
          const o: Record<string, unknown> = {}
          columns.forEach((name, i) => {
            if (!(name in o)) o[name] = row[i]
          })
          return o
        })
      )

    const connection: Connection = {
      execute: (sql, params, transformRows) =>
        transformRows ? Effect.map(exec(sql, params), transformRows) : exec(sql, params),
      executeRaw: (sql, params) => exec(sql, params),
      executeValues: (sql, params) => Effect.map(attempt(sql, params), (r) => r.values),
      executeUnprepared: (sql, params, transformRows) =>
        transformRows ? Effect.map(exec(sql, params), transformRows) : exec(sql, params),
      executeStream: () => Effect.dieMessage("executeStream is not implemented") as never
    }

    yield* exec("PRAGMA journal_mode=WAL", [])

    // one connection: a statement outside a transaction waits for the transaction in progress to end
    const permit = yield* Effect.makeSemaphore(1)
    /** Hold the permit for the scope (waiting for it stays interruptible). */
    const hold = (release: Effect.Effect<void>) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.zipRight(
          restore(permit.take(1)),
          Effect.addFinalizer(() => release)
        )
      )
    const acquirer: Connection.Acquirer = Effect.flatMap(
      Effect.serviceOption(Transaction),
      Option.match({
        onSome: ([conn]) => Effect.succeed(conn),
        onNone: () => Effect.as(hold(permit.release(1)), connection)
      })
    )

    /** Roll back whatever is still open on the connection, then give the permit back. */
    const end = Effect.sync(() => {
      if (db.inTransaction)
        try {
          db.exec("ROLLBACK")
        } catch {
          // the connection is closing or already rolled back: nothing is held
        }
    }).pipe(Effect.zipRight(permit.release(1)))

    /** Take the permit and BEGIN IMMEDIATE (the write lock now, never a failed upgrade later), or give it back. */
    const begin = Effect.uninterruptibleMask((restore) =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        yield* restore(permit.take(1))
        yield* Scope.addFinalizer(scope, end)
        const begun = yield* Effect.exit(
          Effect.try({
            try: () => {
              db.exec("BEGIN IMMEDIATE")
            },
            catch: (cause) => new SqlError({ cause, message: "Failed to begin transaction" })
          })
        )
        if (Exit.isFailure(begun)) {
          yield* Scope.close(scope, begun)
          return yield* Effect.failCause(begun.cause)
        }
        return [scope, connection] as readonly [Scope.CloseableScope | undefined, Connection]
      })
    )

    const withTransaction = Client.makeWithTransaction({
      transactionTag: Transaction,
      spanAttributes: [["db.system.name", "sqlite"]],
      acquireConnection: whileBusy(limitMs, begin),
      begin: () => Effect.void, // begun in acquireConnection
      savepoint: (conn, id) => conn.executeRaw(`SAVEPOINT effect_sql_${id};`, []),
      commit: (conn) => conn.executeRaw("COMMIT", []), // on failure the scope's finalizer rolls back
      rollback: () =>
        Effect.try({
          try: () => {
            if (db.inTransaction) db.exec("ROLLBACK")
          },
          catch: (cause) => new SqlError({ cause, message: "Failed to rollback transaction" })
        }),
      rollbackSavepoint: (conn, id) => conn.executeRaw(`ROLLBACK TO SAVEPOINT effect_sql_${id};`, [])
    })

    const client = yield* Client.make({
      acquirer,
      transactionAcquirer: Effect.as(hold(end), connection),
      compiler: Statement.makeCompilerSqlite(),
      spanAttributes: [["db.system.name", "sqlite"]]
    })
    return Object.assign(client, { withTransaction })
  })

/** The client as a layer (`SqlClient`). @internal */
export const layer = (options: Options): Layer.Layer<Client.SqlClient, SqlError> =>
  Layer.scoped(Client.SqlClient, make(options)).pipe(Layer.provide(Reactivity.layer))
