/**
 * How the engine runs: embedded (one runner in this process on a SQLite
 * file, nothing to install) or distributed (runner processes sharing a
 * PostgreSQL database, shard ownership through PostgreSQL as
 * `@effect/cluster` does it), plus the client side used by `fleet
 * status|pause|resume|abort|approve` against either database, and an
 * in-process engine for unit tests of rollouts (`memory`: no cluster, its
 * durable sleeps on the Effect `Clock`, so `TestClock` drives them).
 *
 * Each layer provides the workflow engine with the fleet's workflows
 * registered, the ledger (`FleetStore`), the SQL journal and the
 * `SqlClient`; it needs a `SiteWorker`.
 *
 * @since 0.3.0
 */
import {
  ClusterWorkflowEngine,
  RunnerAddress,
  ShardingConfig,
  SingleRunner,
  SqlMessageStorage,
  SqlRunnerStorage
} from "@effect/cluster"
import { NodeClusterSocket } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import * as SqlClient from "@effect/sql/SqlClient"
import * as WorkflowEngine from "@effect/workflow/WorkflowEngine"
import { Journal, ProcessLock } from "@sra-upgrade/core"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Engine from "./Engine.js"
import * as FleetStore from "./FleetStore.js"
import type { SiteWorker } from "./SiteWorker.js"
import { withMigrationSessionLock } from "./internal/migrationLock.js"
import * as Sqlite from "./internal/sqlite.js"
import * as SqlJournal from "./SqlJournal.js"
import * as StorageHealth from "./StorageHealth.js"

/**
 * The engine could not start.
 *
 * @since 0.3.0
 * @category errors
 */
export class EngineError extends Data.TaggedError("EngineError")<{ readonly detail: string }> {
  /**
   * @since 0.3.0
   */
  override get message(): string {
    return this.detail
  }
}

/**
 * What the engine layers provide.
 *
 * @since 0.3.0
 * @category models
 */
export type Services = WorkflowEngine.WorkflowEngine | FleetStore.FleetStore | Journal.Journal | SqlClient.SqlClient

/**
 * Default database of the embedded engine.
 *
 * @since 0.3.0
 * @category constants
 */
export const defaultEmbeddedFile = ".sra-upgrade/fleet.db"

/**
 * Hold `<file>.lock` for the scope: one embedded runner per SQLite file (two
 * would both own every shard). A lock left by a process that is no longer
 * running is taken over (core's `ProcessLock`, the run journals' lock).
 *
 * @since 0.3.0
 * @category constructors
 */
export const lockFile = (file: string): Effect.Effect<string, EngineError, Scope.Scope> => {
  const lock = `${path.resolve(file)}.lock`
  return Effect.sync(() => fs.mkdirSync(path.dirname(lock), { recursive: true })).pipe(
    Effect.zipRight(ProcessLock.acquire(lock)),
    Effect.tap((held) =>
      held.tookOver === undefined
        ? Effect.void
        : Effect.logWarning(
            `fleet database ${file}: took over the lock left by ${ProcessLock.describe(held.tookOver)}, which is no longer running`
          )
    ),
    Effect.as(lock),
    Effect.catchTags({
      ProcessLockHeld: (e) =>
        Effect.fail(
          new EngineError({
            detail: `The fleet database ${file} is in use by ${ProcessLock.describe(e.owner)} (an embedded runner): wait for it or stop it, or use the distributed engine (--database postgres://…) to run several.`
          })
        ),
      ProcessLockError: (e) => Effect.fail(new EngineError({ detail: e.message }))
    })
  )
}

const startRetry = Schedule.intersect(Schedule.spaced("1 second"), Schedule.recurs(5))

/**
 * SQLite in WAL mode (kept in the file): readers (`fleet status`, `fleet answer` beside the embedded runner)
 * never block a commit. One connection per process; SQLITE_BUSY from another process's write is waited out
 * (`internal/sqlite.ts`: the client of `@effect/sql-libsql` stalled the runner for good after one busy BEGIN).
 */
const sqlite = (file: string) =>
  Sqlite.layer({ file: path.resolve(file) }).pipe(
    Layer.mapError(
      (e) => new EngineError({ detail: `Cannot open the fleet database ${file}: ${String(e.cause ?? e.message)}` })
    )
  )

const pg = (url: Redacted.Redacted<string>) =>
  PgClient.layer({ url, maxConnections: 20 }).pipe(
    Layer.mapError((e) => new EngineError({ detail: `Cannot reach PostgreSQL: ${String(e.cause ?? e.message)}` }))
  )

/**
 * The engine's own tables, created once under the migration lock before the
 * cluster layers start. Those layers create them too, but die (`Layer.orDie`)
 * when two processes race in `CREATE TABLE IF NOT EXISTS` on an empty
 * database, and a defect is not retried: a runner started beside another
 * printed "ready" and then died (seen in CI).
 */
const clusterTables = Layer.effectDiscard(
  withMigrationSessionLock(
    Effect.scoped(
      Layer.build(
        Layer.mergeAll(SqlMessageStorage.layer, SqlRunnerStorage.layer).pipe(
          Layer.provide(ShardingConfig.layerDefaults)
        )
      )
    )
  )
).pipe(Layer.mapError((e) => new EngineError({ detail: `Cannot create the engine's tables: ${e.message}` })))

const domain = (holder: string) =>
  Layer.mergeAll(
    FleetStore.layer().pipe(Layer.mapError((e) => new EngineError({ detail: e.message }))),
    SqlJournal.layer({ holder }).pipe(Layer.mapError((e) => new EngineError({ detail: e.message })))
  )

/**
 * Options of the engine layers.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options extends Engine.Options {
  /**
   * How long the shard locks of a runner that stopped refreshing them last
   * (distributed: default 30 seconds; embedded: default 35 seconds). The
   * engine refreshes them every third of this (at most every 10 s) and takes
   * a refresh slower than that for failing lock storage (it then stops the
   * runner's workflows): 10 s made a loaded machine's runner give its sites
   * up and never take them back (@effect/cluster 0.60.2). A distributed
   * runner that dies loses its locks when its PostgreSQL session closes,
   * whatever this is.
   */
  readonly shardLockExpiration?: Duration.DurationInput
  /**
   * Embedded: how long the SQLite file may take no write (another process holding its write lock) before
   * `Engine.awaitEnd` fails with `StorageHealth.StorageStalled` (default 2 minutes).
   */
  readonly storageStallAfter?: Duration.DurationInput
  /** Embedded: time between the probes of the database (default 5 seconds). */
  readonly storageProbeInterval?: Duration.DurationInput
}

/**
 * One runner in this process on a SQLite file (default
 * `.sra-upgrade/fleet.db`), held under an exclusive lock, its writes watched
 * (`StorageHealth`: `Engine.awaitEnd` fails with `StorageStalled` when the
 * file takes no write for `storageStallAfter`).
 *
 * @since 0.3.0
 * @category layers
 */
export const embedded = (
  options: Options & { readonly file?: string } = {}
): Layer.Layer<Services | StorageHealth.StorageHealth, EngineError, SiteWorker> => {
  const file = options.file ?? defaultEmbeddedFile
  const db = Layer.unwrapScoped(Effect.as(lockFile(file), sqlite(file)))
  const engine = ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(
      // shard locks in memory: the file lock (`lockFile`) already makes this runner the only one, and locks in
      // the SQLite file would turn "unhealthy" whenever another process holds its write lock past a refresh
      // (the engine then dropped its shards and never resumed the workflows it had interrupted)
      SingleRunner.layer({
        runnerStorage: "memory",
        ...(options.shardLockExpiration !== undefined
          ? { shardingConfig: { shardLockExpiration: options.shardLockExpiration } }
          : {})
      }).pipe(Layer.mapError((e) => new EngineError({ detail: `Engine configuration: ${e.message}` })))
    )
  )
  const health = StorageHealth.layer({
    database: file,
    ...(options.storageStallAfter !== undefined ? { stallAfter: options.storageStallAfter } : {}),
    ...(options.storageProbeInterval !== undefined ? { interval: options.storageProbeInterval } : {})
  })
  const core = Layer.mergeAll(engine, domain(`embedded-pid-${process.pid}`), health).pipe(Layer.provideMerge(db))
  return Engine.workflows(options).pipe(Layer.provideMerge(core))
}

/**
 * A fresh folder under the system's temporary directory, removed with the scope.
 */
const throwawayFolder = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "sra-fleet-memory-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/**
 * The fleet's workflows in this process without a cluster, for unit tests of
 * rollouts (your `SiteWorker`, your fake sites) with no database to set up
 * and no runner: `@effect/workflow`'s in-memory engine
 * (`WorkflowEngine.layerMemory`) runs the same workflows as `embedded`; the
 * ledger and the site journals are the same SQL code on a throwaway SQLite
 * file in a fresh temporary folder (removed when the layer's scope closes).
 *
 * Every wait of the engine (polls, waits for a window, for an approval or a
 * gate's answer) is an `Effect.sleep` on the `Clock` in context, inside an
 * activity (`inMemorySleepThreshold` is infinity: no durable clock, no
 * suspension and replay of the workflow): under `TestClock` (`it.effect`) a
 * test moves time with `TestClock.adjust` (days of a rollout in seconds) and
 * reads the instants the sites started at.
 *
 * Not durable: the workflows' state lives in this process only; a rollout
 * does not survive its end (use `embedded` or `runner` to run one for real).
 * Admission decides at the `Clock`'s instant unless `now` is given.
 *
 * SQLite's own in-memory database is not used: the libsql client opens a new
 * connection (a new, empty in-memory database) for every transaction.
 *
 * @since 0.3.0
 * @category layers
 */
export const memory = (options: Engine.Options = {}): Layer.Layer<Services, EngineError, SiteWorker> => {
  const db = Layer.unwrapScoped(Effect.map(throwawayFolder, (dir) => sqlite(path.join(dir, "fleet.db"))))
  const core = Layer.mergeAll(WorkflowEngine.layerMemory, domain(`memory-pid-${process.pid}`)).pipe(
    Layer.provideMerge(db)
  )
  return Engine.workflows({ ...options, inMemorySleepThreshold: Duration.infinity }).pipe(Layer.provideMerge(core))
}

/**
 * A runner of the distributed engine: registers in the PostgreSQL database,
 * listens on `host:port` for the other runners, owns a share of the shards
 * and runs their workflows; takes over those of a runner that died once its
 * locks expire.
 *
 * @since 0.3.0
 * @category layers
 */
export const runner = (
  options: Options & {
    readonly url: Redacted.Redacted<string>
    readonly host: string
    readonly port: number
  }
): Layer.Layer<Services, EngineError, SiteWorker> => {
  const cluster = NodeClusterSocket.layer({
    storage: "sql",
    shardingConfig: {
      runnerAddress: Option.some(RunnerAddress.make(options.host, options.port)),
      shardLockExpiration: options.shardLockExpiration ?? "30 seconds",
      entityMessagePollInterval: "1 second"
    }
  }).pipe(
    Layer.mapError((e) => new EngineError({ detail: `Runner ${options.host}:${options.port}: ${String(e)}` })),
    Layer.provide(clusterTables)
  )
  const engine = ClusterWorkflowEngine.layer.pipe(Layer.provideMerge(cluster))
  const core = Layer.mergeAll(engine, domain(`runner-${options.host}:${options.port}-pid-${process.pid}`)).pipe(
    Layer.provideMerge(pg(options.url))
  )
  // runners starting together on a fresh database can race in the engine's own migrations: start again
  return Engine.workflows(options).pipe(Layer.provideMerge(core), Layer.retry(startRetry))
}

/**
 * A client of the distributed engine (starts rollouts, reads and controls
 * them); runs no workflow itself.
 *
 * @since 0.3.0
 * @category layers
 */
export const client = (options: { readonly url: Redacted.Redacted<string> }): Layer.Layer<Services, EngineError> => {
  const cluster = NodeClusterSocket.layer({ clientOnly: true, storage: "sql" }).pipe(
    Layer.mapError((e) => new EngineError({ detail: `Cluster client: ${String(e)}` })),
    Layer.provide(clusterTables)
  )
  const engine = ClusterWorkflowEngine.layer.pipe(Layer.provideMerge(cluster))
  return Layer.mergeAll(engine, domain(`client-${process.pid}`)).pipe(
    Layer.provideMerge(pg(options.url)),
    Layer.retry(startRetry)
  )
}

/**
 * The ledger and journal only (no engine): `fleet status` and the controls
 * on an embedded database, even while its runner holds the lock.
 *
 * @since 0.3.0
 * @category layers
 */
export const ledgerOnly = (
  database: { readonly file: string } | { readonly url: Redacted.Redacted<string> }
): Layer.Layer<FleetStore.FleetStore | Journal.Journal | SqlClient.SqlClient, EngineError> =>
  domain(`reader-${process.pid}`).pipe(
    Layer.provideMerge("file" in database ? sqlite(database.file) : pg(database.url))
  )

/**
 * Parse `--database`: a `postgres://` URL (distributed) or a SQLite file path.
 *
 * @since 0.3.0
 * @category constructors
 */
export const parseDatabase = (
  value: string | undefined
): { readonly file: string } | { readonly url: Redacted.Redacted<string> } =>
  value !== undefined && /^postgres(ql)?:\/\//.test(value)
    ? { url: Redacted.make(value) }
    : { file: value ?? defaultEmbeddedFile }
