/**
 * Whether the embedded engine's database still takes writes. A runner whose
 * SQLite file stays locked by another process (a `sqlite3` shell left in a
 * transaction, a stuck command) cannot record anything; its engine marks its
 * shard locks unhealthy and waits. The watch probes the database with an
 * empty write transaction every few seconds: it logs when a probe fails and
 * when the database recovers, and once no probe succeeded for `stallAfter`
 * it ends the wait on the rollout (`Engine.awaitEnd`) with a
 * `StorageStalled` error that says what to do, instead of a silent hang.
 *
 * @since 0.3.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { isBusy } from "./internal/sqlite.js"

/**
 * The engine's database has taken no write for too long: the runner gives up
 * waiting (the rollout is intact; running `fleet run` again resumes it).
 *
 * @since 0.3.0
 * @category errors
 */
export class StorageStalled extends Schema.TaggedError<StorageStalled>("@sra-upgrade/fleet/StorageStalled")(
  "StorageStalled",
  {
    database: Schema.String,
    seconds: Schema.Number,
    detail: Schema.String
  }
) {
  /**
   * @since 0.3.0
   */
  override get message(): string {
    return `The fleet database ${this.database} has taken no write for ${this.seconds} s (${this.detail}): another process holds its write lock (a sqlite3 shell in a transaction, a stuck sra-upgrade command?) or its disk is full or read-only. Stop that process or free the disk, then run the same \`sra-upgrade fleet run\` again: the rollout resumes from its journal.`
  }
}

/**
 * The watch of the engine's database (provided by `EngineLayer.embedded`).
 *
 * @since 0.3.0
 * @category services
 */
export class StorageHealth extends Context.Tag("@sra-upgrade/fleet/StorageHealth")<
  StorageHealth,
  {
    /** Fails once the database has taken no write for `stallAfter`; never succeeds. */
    readonly stalled: Effect.Effect<never, StorageStalled>
  }
>() {}

/**
 * Options of the watch.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /** Names the database in messages (the SQLite file). */
  readonly database: string
  /** Time between probes (default 5 seconds). */
  readonly interval?: Duration.DurationInput
  /** How long without a successful probe before `StorageStalled` (default 2 minutes). */
  readonly stallAfter?: Duration.DurationInput
}

const describe = (cause: Cause.Cause<unknown>, timeoutMs: number): string => {
  const failure = Cause.failureOption(cause)
  if (Option.isNone(failure)) return Cause.pretty(cause).split("\n")[0] ?? "a defect"
  const e = failure.value
  if (Cause.isTimeoutException(e))
    return `no write within ${Math.round(timeoutMs / 1000)} s: the write lock is held by another process, or the database does not answer`
  if (e instanceof SqlError)
    return isBusy(e) ? "SQLITE_BUSY: another process holds the write lock" : String(e.cause ?? e.message)
  return String(e)
}

/**
 * Watch the database of the `SqlClient` in context for the layer's lifetime.
 * Probes and waits run on live time (never a test's clock).
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<StorageHealth, never, SqlClient.SqlClient> =>
  Layer.scoped(
    StorageHealth,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const interval = Duration.decode(options.interval ?? "5 seconds")
      const stallAfterMs = Duration.toMillis(options.stallAfter ?? "2 minutes")
      const stalled = yield* Deferred.make<never, StorageStalled>()
      const probe = sql.withTransaction(sql`SELECT 1`).pipe(Effect.timeout(stallAfterMs))
      const watch = Effect.gen(function* () {
        let lastOk = Date.now()
        let failing = false
        for (;;) {
          const exit = yield* Effect.exit(probe)
          const now = Date.now()
          if (Exit.isSuccess(exit)) {
            if (failing)
              yield* Effect.logInfo(`fleet database ${options.database}: takes writes again; the runner goes on`)
            failing = false
            lastOk = now
          } else {
            const detail = describe(exit.cause, stallAfterMs)
            if (!failing)
              yield* Effect.logWarning(
                `fleet database ${options.database}: cannot write (${detail}); the runner waits and gives up after ${Math.round(stallAfterMs / 1000)} s without a write`
              )
            failing = true
            if (now - lastOk >= stallAfterMs) {
              const error = new StorageStalled({
                database: options.database,
                seconds: Math.round((now - lastOk) / 1000),
                detail
              })
              yield* Effect.logError(error.message)
              return yield* Deferred.fail(stalled, error)
            }
          }
          yield* Effect.sleep(interval)
        }
      })
      yield* Effect.forkScoped(Effect.withClock(watch, Clock.make()))
      return StorageHealth.of({ stalled: Deferred.await(stalled) })
    })
  )

/**
 * Run `effect`, ended early by `StorageStalled` when a watch is in context
 * (as it is on the embedded engine); otherwise `effect` as it is.
 *
 * @since 0.3.0
 * @category combinators
 */
export const watched = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | StorageStalled, R> =>
  Effect.flatMap(
    Effect.serviceOption(StorageHealth),
    Option.match({
      onNone: () => effect,
      onSome: (health) => Effect.raceFirst(effect, health.stalled)
    })
  )
