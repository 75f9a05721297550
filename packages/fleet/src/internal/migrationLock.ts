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
      orElse: () => eff
    })
  )
