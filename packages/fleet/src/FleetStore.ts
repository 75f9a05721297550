/**
 * The rollout ledger in SQL (`@effect/sql`, SQLite or PostgreSQL, the
 * engine's database): each rollout's plan and controls (pause, abort,
 * approved waves) and each site's state. The engine's activities read and
 * write it; `fleet status|pause|resume|abort|approve` read and write it from
 * any process that reaches the database. Admission is decided here, in one
 * transaction, by the pure `Admission.decide`.
 *
 * @since 0.3.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Admission from "./Admission.js"
import { withMigrationLock } from "./internal/migrationLock.js"
import * as Rollout from "./Rollout.js"

/**
 * No rollout with this id in the database.
 *
 * @since 0.3.0
 * @category models
 */
export class RolloutNotFound extends Schema.TaggedClass<RolloutNotFound>()("RolloutNotFound", {}) {}

/**
 * The database refused or is unreachable.
 *
 * @since 0.3.0
 * @category models
 */
export class Database extends Schema.TaggedClass<Database>()("Database", {
  operation: Schema.String,
  detail: Schema.String
}) {}

/**
 * A stored rollout cannot be decoded (written by another version?).
 *
 * @since 0.3.0
 * @category models
 */
export class Unreadable extends Schema.TaggedClass<Unreadable>()("Unreadable", { detail: Schema.String }) {}

/**
 * The site is not part of the rollout.
 *
 * @since 0.3.0
 * @category models
 */
export class UnknownSite extends Schema.TaggedClass<UnknownSite>()("UnknownSite", { site: Schema.String }) {}

/**
 * The wave does not exist.
 *
 * @since 0.3.0
 * @category models
 */
export class UnknownWave extends Schema.TaggedClass<UnknownWave>()("UnknownWave", {
  wave: Schema.Number,
  waves: Schema.Number
}) {}

/**
 * @since 0.3.0
 * @category models
 */
export const FleetStoreErrorReason = Schema.Union(RolloutNotFound, Database, Unreadable, UnknownSite, UnknownWave)

/**
 * @since 0.3.0
 * @category errors
 */
export class FleetStoreError extends Schema.TaggedError<FleetStoreError>("@sra-upgrade/fleet/FleetStoreError")(
  "FleetStoreError",
  { rolloutId: Schema.String, reason: FleetStoreErrorReason }
) {
  /**
   * @since 0.3.0
   */
  override get message(): string {
    const r = this.reason
    switch (r._tag) {
      case "RolloutNotFound":
        return `No rollout ${this.rolloutId} in this database: check the rollout id (fleet status lists them) and the --database option.`
      case "Database":
        return `Rollout ${this.rolloutId}: ${r.operation} failed (${r.detail}). Check that the database is reachable and writable.`
      case "Unreadable":
        return `Rollout ${this.rolloutId} is stored in a form this version cannot read (${r.detail}): use the version that started it.`
      case "UnknownSite":
        return `Rollout ${this.rolloutId} has no site ${r.site}: check the site id (fleet status lists them).`
      case "UnknownWave":
        return `Rollout ${this.rolloutId} has no wave ${r.wave + 1}: its waves are 1 to ${r.waves}.`
    }
  }
}

/**
 * A rollout as stored: plan, ledger and controls.
 *
 * @since 0.3.0
 * @category models
 */
export interface Stored {
  readonly plan: Rollout.RolloutPlan
  readonly ledger: Admission.Ledger
  readonly controls: Admission.Controls
}

/**
 * @since 0.3.0
 * @category services
 */
export class FleetStore extends Context.Tag("@sra-upgrade/fleet/FleetStore")<
  FleetStore,
  {
    /** Record a rollout (idempotent: a rollout with this id is left as it is). */
    readonly create: (plan: Rollout.RolloutPlan) => Effect.Effect<void, FleetStoreError>
    readonly get: (rolloutId: string) => Effect.Effect<Stored, FleetStoreError>
    /** Rollout ids, oldest first. */
    readonly list: Effect.Effect<ReadonlyArray<string>, FleetStoreError>
    /** Change the controls (pause, resume, abort, approve a wave) atomically. */
    readonly updateControls: (
      rolloutId: string,
      f: (controls: Admission.Controls, plan: Rollout.RolloutPlan) => Admission.Controls
    ) => Effect.Effect<Admission.Controls, FleetStoreError>
    /**
     * Decide admission now and record the admitted sites, in one transaction.
     * Returns the decision and every site admitted and not yet running
     * (those admitted now and any admitted before whose start was lost).
     */
    readonly admit: (
      rolloutId: string,
      now: Date
    ) => Effect.Effect<
      { readonly decision: Admission.Decision; readonly toStart: ReadonlyArray<string> },
      FleetStoreError
    >
    /** Set a site's state (a finished site keeps its outcome: later writes are ignored). */
    readonly setState: (
      rolloutId: string,
      site: string,
      state: Admission.SiteState
    ) => Effect.Effect<Admission.SiteState, FleetStoreError>
  }
>() {}

const encodeState = Schema.encodeSync(Schema.parseJson(Admission.SiteState))
const decodeState = Schema.decodeUnknownEither(Schema.parseJson(Admission.SiteState))
const encodeControls = Schema.encodeSync(Schema.parseJson(Admission.Controls))
const decodeControls = Schema.decodeUnknownEither(Schema.parseJson(Admission.Controls))
const encodePlan = Schema.encodeSync(Schema.parseJson(Rollout.RolloutPlan))
const decodePlan = Schema.decodeUnknownEither(Schema.parseJson(Rollout.RolloutPlan))

const finished = (s: Admission.SiteState) => s._tag === "Succeeded" || s._tag === "Failed" || s._tag === "Skipped"

/**
 * Create the ledger's tables if missing (idempotent; both dialects).
 *
 * @since 0.3.0
 * @category constructors
 */
export const migrate = (prefix = "fleet"): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  withMigrationLock(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE IF NOT EXISTS ${sql(`${prefix}_rollouts`)} (
      rollout_id TEXT PRIMARY KEY,
      created_at TEXT NOT NULL,
      plan TEXT NOT NULL,
      controls TEXT NOT NULL
    )`
      yield* sql`CREATE TABLE IF NOT EXISTS ${sql(`${prefix}_sites`)} (
      rollout_id TEXT NOT NULL,
      site_id TEXT NOT NULL,
      state TEXT NOT NULL,
      PRIMARY KEY (rollout_id, site_id)
    )`
    })
  )

/**
 * The ledger over the `SqlClient` in context (creating its tables).
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (options?: {
  readonly prefix?: string
}): Effect.Effect<FleetStore["Type"], FleetStoreError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const prefix = options?.prefix ?? "fleet"
    const err = (rolloutId: string, reason: typeof FleetStoreErrorReason.Type) =>
      new FleetStoreError({ rolloutId, reason })
    const db = (rolloutId: string, operation: string) => (e: SqlError) =>
      err(rolloutId, new Database({ operation, detail: String(e.cause ?? e.message) }))
    yield* Effect.mapError(migrate(prefix), db("*", "create tables"))
    const rollouts = sql(`${prefix}_rollouts`)
    const sites = sql(`${prefix}_sites`)
    const forUpdate = sql.onDialectOrElse({ pg: () => sql.literal("FOR UPDATE"), orElse: () => sql.literal("") })

    const load = (rolloutId: string, lock: boolean) =>
      Effect.gen(function* () {
        const rows = yield* sql<{
          plan: string
          controls: string
        }>`SELECT plan, controls FROM ${rollouts} WHERE rollout_id = ${rolloutId} ${lock ? forUpdate : sql.literal("")}`
        const row = rows[0]
        if (row === undefined) return yield* err(rolloutId, new RolloutNotFound())
        const plan = decodePlan(row.plan)
        const controls = decodeControls(row.controls)
        if (plan._tag === "Left") return yield* err(rolloutId, new Unreadable({ detail: "plan" }))
        if (controls._tag === "Left") return yield* err(rolloutId, new Unreadable({ detail: "controls" }))
        const states = yield* sql<{
          site_id: string
          state: string
        }>`SELECT site_id, state FROM ${sites} WHERE rollout_id = ${rolloutId}`
        const ledger: Record<string, Admission.SiteState> = {}
        for (const s of states) {
          const st = decodeState(s.state)
          if (st._tag === "Left") return yield* err(rolloutId, new Unreadable({ detail: `state of ${s.site_id}` }))
          ledger[s.site_id] = st.right
        }
        return { plan: plan.right, controls: controls.right, ledger } satisfies Stored
      })

    const upsertState = (rolloutId: string, site: string, state: Admission.SiteState) =>
      sql`INSERT INTO ${sites} (rollout_id, site_id, state) VALUES (${rolloutId}, ${site}, ${encodeState(state)})
        ON CONFLICT (rollout_id, site_id) DO UPDATE SET state = ${encodeState(state)}`

    const inTx = <A>(rolloutId: string, operation: string, eff: Effect.Effect<A, FleetStoreError | SqlError>) =>
      sql.withTransaction(eff).pipe(Effect.catchTag("SqlError", (e) => Effect.fail(db(rolloutId, operation)(e))))

    return FleetStore.of({
      create: (plan) =>
        Effect.mapError(
          sql`INSERT INTO ${rollouts} (rollout_id, created_at, plan, controls)
            VALUES (${plan.rolloutId}, ${new Date().toISOString()}, ${encodePlan(plan)}, ${encodeControls(
              new Admission.Controls({})
            )})
            ON CONFLICT (rollout_id) DO NOTHING`,
          db(plan.rolloutId, "create")
        ).pipe(Effect.asVoid),
      get: (rolloutId) =>
        load(rolloutId, false).pipe(Effect.catchTag("SqlError", (e) => Effect.fail(db(rolloutId, "read")(e)))),
      list: Effect.map(
        Effect.mapError(
          sql<{ rollout_id: string }>`SELECT rollout_id FROM ${rollouts} ORDER BY created_at, rollout_id`,
          db("*", "list")
        ),
        (rows) => rows.map((r) => r.rollout_id)
      ),
      updateControls: (rolloutId, f) =>
        inTx(
          rolloutId,
          "update controls",
          Effect.gen(function* () {
            const stored = yield* load(rolloutId, true)
            const next = f(stored.controls, stored.plan)
            yield* sql`UPDATE ${rollouts} SET controls = ${encodeControls(next)} WHERE rollout_id = ${rolloutId}`
            return next
          })
        ),
      admit: (rolloutId, now) =>
        inTx(
          rolloutId,
          "admission",
          Effect.gen(function* () {
            const stored = yield* load(rolloutId, true)
            const decision = Admission.decide(stored.plan, stored.ledger, stored.controls, now)
            for (const site of decision.admit) yield* upsertState(rolloutId, site, new Admission.Admitted({ at: now }))
            const toStart = stored.plan.sites
              .map((s) => s.id)
              .filter((id) => decision.admit.includes(id) || stored.ledger[id]?._tag === "Admitted")
            return { decision, toStart }
          })
        ),
      setState: (rolloutId, site, state) =>
        inTx(
          rolloutId,
          "record a site's state",
          Effect.gen(function* () {
            const stored = yield* load(rolloutId, true)
            if (stored.plan.site(site) === undefined) return yield* err(rolloutId, new UnknownSite({ site }))
            const current = Admission.stateOf(stored.ledger, site)
            if (finished(current)) return current
            yield* upsertState(rolloutId, site, state)
            return state
          })
        )
    })
  })

/**
 * The ledger as a layer over the `SqlClient` in context.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (options?: {
  readonly prefix?: string
}): Layer.Layer<FleetStore, FleetStoreError, SqlClient.SqlClient> => Layer.effect(FleetStore, make(options))

/**
 * Approve a wave (index, 0 = the first) of a rollout: the one way the CLI
 * and the portal give a wave's approval. With `approval`, who approved and
 * why is kept in the controls (the audit trail). Approving an approved wave
 * changes nothing (a retried request is harmless) and returns the controls.
 *
 * @since 0.3.0
 * @category combinators
 */
export const approveWave = (
  rolloutId: string,
  wave: number,
  approval?: Admission.WaveApproval
): Effect.Effect<Admission.Controls, FleetStoreError, FleetStore> =>
  Effect.gen(function* () {
    const store = yield* FleetStore
    const stored = yield* store.get(rolloutId)
    if (!Number.isInteger(wave) || wave < 0 || wave >= stored.plan.waves.length)
      return yield* new FleetStoreError({
        rolloutId,
        reason: new UnknownWave({ wave, waves: stored.plan.waves.length })
      })
    return yield* store.updateControls(rolloutId, (c) => Admission.withWaveApproved(c, wave, approval))
  })
