import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"

/**
 * Run table creation under a transaction-scoped advisory lock on PostgreSQL:
 * runners starting together on an empty database would otherwise race in
 * `CREATE TABLE IF NOT EXISTS` (duplicate `pg_type` rows). The two-key form
 * keeps clear of the engine's shard locks (single bigint keys). SQLite needs
 * nothing (the embedded runner holds the file alone).
 *
 * @internal
 */
export const withMigrationLock = <A, R>(
  eff: Effect.Effect<A, SqlError, R>
): Effect.Effect<A, SqlError, R | SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.onDialectOrElse({
      pg: () => sql.withTransaction(Effect.zipRight(sql`SELECT pg_advisory_xact_lock(21330, 1)`, eff)),
      orElse: () => eff // SQLite: the client waits out another process's write (internal/sqlite.ts)
    })
  )

/**
 * The same lock held by a session of its own instead of a transaction, for
 * table creation that cannot run in one (the engine's: a failed probe query
 * would abort the transaction). The lock is released when the effect ends,
 * or by PostgreSQL with the session if this process dies.
 *
 * @internal
 */
export const withMigrationSessionLock = <A, E, R>(
  eff: Effect.Effect<A, E, R>
): Effect.Effect<A, E | SqlError, R | SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.onDialectOrElse({
      pg: () =>
        Effect.scoped(
          Effect.flatMap(sql.reserve, (conn) =>
            Effect.acquireUseRelease(
              conn.executeRaw("SELECT pg_advisory_lock(21330, 1)", []),
              () => eff,
              () => Effect.ignore(conn.executeRaw("SELECT pg_advisory_unlock(21330, 1)", []))
            )
          )
        ),
      orElse: () => eff
    })
  )
