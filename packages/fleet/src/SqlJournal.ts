/**
 * The run journal over SQL (`@effect/sql`'s `SqlClient`): the same `Journal`
 * service as core's JSON Lines files, for runs executed by the fleet engine on
 * SQLite (embedded) or PostgreSQL (distributed), in the engine's database.
 *
 * Fencing: `lock(runId)` bumps the run's epoch and remembers it; every append
 * checks, in the same transaction, that the run's epoch is still the one this
 * runner took. A runner presumed dead, whose run another runner took over,
 * gets a `JournalError` with reason `Fenced` on its next append and stops:
 * it never writes after the takeover. Unlike the file journal, taking a run
 * over never fails with `Locked`: a runner cannot see whether a runner on
 * another machine is alive; the engine decides who runs, the epoch keeps the
 * loser silent.
 *
 * Records are rows (one transaction each), so a journal is never torn:
 * `read` reports no torn tail and `repair` drops nothing.
 *
 * @since 0.3.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Journal, RunEvent } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { withMigrationLock } from "./internal/migrationLock.js"

/**
 * Options of the SQL journal.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /** Table name prefix (default `sra`): tables `<prefix>_journal_runs` and `<prefix>_journal_records`. */
  readonly prefix?: string
}

const validRunId = (runId: string): boolean => /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(runId)

const encodeEnvelope = Schema.encodeSync(RunEvent.Envelope)
const decodeEnvelope = Schema.decodeUnknownEither(RunEvent.Envelope)

const fail = (runId: string, reason: typeof Journal.JournalErrorReason.Type) =>
  new Journal.JournalError({ runId, reason })

const io = (runId: string, operation: string) => (e: SqlError) =>
  fail(runId, new Journal.Io({ operation, detail: String(e.cause ?? e.message) }))

const checkId = (runId: string) =>
  validRunId(runId) ? Effect.void : Effect.fail(fail(runId, new Journal.InvalidRunId()))

/**
 * Create the journal's tables if missing (idempotent; both dialects).
 *
 * @since 0.3.0
 * @category constructors
 */
export const migrate = (options?: Options): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  withMigrationLock(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const prefix = options?.prefix ?? "sra"
      const runs = sql(`${prefix}_journal_runs`)
      const records = sql(`${prefix}_journal_records`)
      yield* sql`CREATE TABLE IF NOT EXISTS ${runs} (
      run_id TEXT PRIMARY KEY,
      epoch INTEGER NOT NULL,
      created INTEGER NOT NULL,
      holder TEXT
    )`
      yield* sql`CREATE TABLE IF NOT EXISTS ${records} (
      run_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      record TEXT NOT NULL,
      PRIMARY KEY (run_id, seq)
    )`
    })
  )

/**
 * Build the journal over the `SqlClient` in context (creating its tables).
 * `holder` names this runner in the runs table (diagnostics only).
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (
  options?: Options & { readonly holder?: string }
): Effect.Effect<Journal.Journal["Type"], Journal.JournalError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const prefix = options?.prefix ?? "sra"
    const holder = options?.holder ?? `pid-${process.pid}`
    yield* Effect.mapError(migrate(options), io("*", "create tables"))
    const runs = sql(`${prefix}_journal_runs`)
    const records = sql(`${prefix}_journal_records`)
    const forUpdate = sql.onDialectOrElse({ pg: () => sql.literal("FOR UPDATE"), orElse: () => sql.literal("") })
    /** Epochs this runner holds, by run. */
    const held = new Map<string, number>()

    const epochOf = (runId: string) =>
      Effect.map(
        sql<{
          epoch: number
          created: number
        }>`SELECT epoch, created FROM ${runs} WHERE run_id = ${runId} ${forUpdate}`,
        (rows) =>
          rows[0] === undefined
            ? Option.none()
            : Option.some({ epoch: Number(rows[0].epoch), created: Number(rows[0].created) })
      )

    const read = (runId: string) =>
      Effect.gen(function* () {
        yield* checkId(runId)
        const run = yield* Effect.mapError(epochOf(runId), io(runId, "read"))
        if (Option.isNone(run) || run.value.created === 0) return yield* fail(runId, new Journal.RunNotFound())
        const rows = yield* Effect.mapError(
          sql<{ seq: number; record: string }>`SELECT seq, record FROM ${records} WHERE run_id = ${runId} ORDER BY seq`,
          io(runId, "read")
        )
        const out: Array<RunEvent.Envelope> = []
        for (let i = 0; i < rows.length; i++) {
          const line = i + 1
          const corrupt = (detail: string) => fail(runId, new Journal.Corrupt({ line, detail }))
          let json: unknown
          try {
            json = JSON.parse(rows[i]!.record)
          } catch (e) {
            return yield* corrupt(`not JSON: ${(e as Error).message}`)
          }
          const r = decodeEnvelope(json)
          if (Either.isLeft(r)) {
            return yield* corrupt(
              `not a run event: ${ParseResult.TreeFormatter.formatErrorSync(r.left).split("\n")[0]}`
            )
          }
          if (r.right.runId !== runId) return yield* corrupt(`record of run ${r.right.runId}`)
          if (r.right.seq !== line || Number(rows[i]!.seq) !== line) {
            return yield* corrupt(`sequence ${r.right.seq}, expected ${line}`)
          }
          out.push(r.right)
        }
        return { records: out, torn: Option.none() } satisfies Journal.Contents
      })

    return Journal.Journal.of({
      create: (runId) =>
        Effect.gen(function* () {
          yield* checkId(runId)
          yield* sql
            .withTransaction(
              Effect.gen(function* () {
                const count = yield* sql<{
                  n: number
                }>`SELECT COUNT(*) AS n FROM ${records} WHERE run_id = ${runId}`
                if (Number(count[0]?.n ?? 0) > 0) return yield* fail(runId, new Journal.AlreadyExists())
                yield* sql`INSERT INTO ${runs} (run_id, epoch, created, holder)
                VALUES (${runId}, 0, 1, ${holder})
                ON CONFLICT (run_id) DO UPDATE SET created = 1`
              })
            )
            .pipe(Effect.catchTag("SqlError", (e) => Effect.fail(io(runId, "create")(e))))
        }),

      append: (record) =>
        Effect.gen(function* () {
          const runId = record.runId
          yield* checkId(runId)
          const line = JSON.stringify(encodeEnvelope(record))
          const mine = held.get(runId)
          yield* sql
            .withTransaction(
              Effect.gen(function* () {
                const run = yield* epochOf(runId)
                if (Option.isNone(run) || run.value.created === 0) return yield* fail(runId, new Journal.RunNotFound())
                if (mine !== undefined && run.value.epoch !== mine) {
                  return yield* fail(runId, new Journal.Fenced({ held: mine, current: run.value.epoch }))
                }
                const last = yield* sql<{
                  seq: number | null
                }>`SELECT MAX(seq) AS seq FROM ${records} WHERE run_id = ${runId}`
                const expected = Number(last[0]?.seq ?? 0) + 1
                if (record.seq !== expected) {
                  return yield* fail(
                    runId,
                    new Journal.Corrupt({
                      line: record.seq,
                      detail: `append of sequence ${record.seq}, expected ${expected}`
                    })
                  )
                }
                yield* sql`INSERT INTO ${records} ${sql.insert({ run_id: runId, seq: record.seq, record: line })}`
              })
            )
            .pipe(Effect.catchTag("SqlError", (e) => Effect.fail(io(runId, "append")(e))))
        }),

      read,

      repair: (runId) => Effect.as(read(runId), Option.none()),

      lock: (runId) =>
        Effect.flatMap(checkId(runId), () =>
          Effect.acquireRelease(
            Effect.map(
              Effect.mapError(
                sql<{ epoch: number }>`INSERT INTO ${runs} (run_id, epoch, created, holder)
                  VALUES (${runId}, 1, 0, ${holder})
                  ON CONFLICT (run_id) DO UPDATE SET epoch = ${runs}.epoch + 1, holder = ${holder}
                  RETURNING epoch`,
                io(runId, "lock")
              ),
              (rows) => {
                const epoch = Number(rows[0]!.epoch)
                held.set(runId, epoch)
                return epoch
              }
            ),
            (epoch) =>
              Effect.sync(() => {
                if (held.get(runId) === epoch) held.delete(runId)
              })
          )
        ),

      list: Effect.map(
        Effect.mapError(
          sql<{ run_id: string }>`SELECT run_id FROM ${runs} WHERE created = 1 ORDER BY run_id`,
          io("*", "list")
        ),
        (rows) => rows.map((r) => r.run_id).sort()
      )
    })
  })

/**
 * The SQL journal as a layer over the `SqlClient` in context.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (
  options?: Options & { readonly holder?: string }
): Layer.Layer<Journal.Journal, Journal.JournalError, SqlClient.SqlClient> =>
  Layer.effect(Journal.Journal, make(options))
