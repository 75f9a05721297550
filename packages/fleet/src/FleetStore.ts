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
import { Operator } from "@sra-upgrade/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Admission from "./Admission.js"
import { withMigrationLock } from "./internal/migrationLock.js"
import * as Rollout from "./Rollout.js"
import * as SiteGates from "./SiteGates.js"

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
    /** Record that a site waits on a gate (idempotent; an answer already given is kept). */
    readonly openGate: (gate: SiteGates.OpenGate) => Effect.Effect<void, FleetStoreError>
    /** The gates of a rollout's sites, open or answered, oldest first. */
    readonly gates: (rolloutId: string) => Effect.Effect<ReadonlyArray<SiteGates.GateRecord>, FleetStoreError>
    /**
     * Answer an open gate, checked against it (`SiteGates.toAnswer`), atomically: the site's workflow
     * takes the answer the next time it looks.
     */
    readonly answerGate: (
      input: SiteGates.AnswerInput,
      at: Date
    ) => Effect.Effect<SiteGates.GateRecord, FleetStoreError | SiteGates.GateAnswerError>
    /**
     * The answer given to a site's gate, if any, for its run: an approval or a rejection stays (taking
     * it again gives the same answer); a deferral is taken once (the gate stays open).
     */
    readonly takeAnswer: (
      rolloutId: string,
      site: string,
      stepId: string
    ) => Effect.Effect<Option.Option<Operator.Answer>, FleetStoreError>
  }
>() {}

const encodeState = Schema.encodeSync(Schema.parseJson(Admission.SiteState))
const decodeState = Schema.decodeUnknownEither(Schema.parseJson(Admission.SiteState))
const encodeControls = Schema.encodeSync(Schema.parseJson(Admission.Controls))
const decodeControls = Schema.decodeUnknownEither(Schema.parseJson(Admission.Controls))
const encodePlan = Schema.encodeSync(Schema.parseJson(Rollout.RolloutPlan))
const decodePlan = Schema.decodeUnknownEither(Schema.parseJson(Rollout.RolloutPlan))

const encodeGate = Schema.encodeSync(Schema.parseJson(SiteGates.OpenGate))
const decodeGate = Schema.decodeUnknownEither(Schema.parseJson(SiteGates.OpenGate))
const encodeAnswer = Schema.encodeSync(Schema.parseJson(Operator.Answer))
const decodeAnswer = Schema.decodeUnknownEither(Schema.parseJson(Operator.Answer))

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
      yield* sql`CREATE TABLE IF NOT EXISTS ${sql(`${prefix}_gates`)} (
      rollout_id TEXT NOT NULL,
      site_id TEXT NOT NULL,
      step_id TEXT NOT NULL,
      opened_at TEXT NOT NULL,
      gate TEXT NOT NULL,
      answer TEXT,
      last_deferral TEXT,
      PRIMARY KEY (rollout_id, site_id, step_id)
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
    // SQLite: another process's write (the runner, `fleet status|answer` beside it) is waited out by the client
    yield* Effect.mapError(migrate(prefix), db("*", "create tables"))
    const rollouts = sql(`${prefix}_rollouts`)
    const sites = sql(`${prefix}_sites`)
    const gates = sql(`${prefix}_gates`)
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

    interface GateRow {
      readonly gate: string
      readonly answer: string | null
      readonly last_deferral: string | null
    }
    const recordOf = (rolloutId: string, row: GateRow) =>
      Effect.gen(function* () {
        const gate = decodeGate(row.gate)
        if (Either.isLeft(gate)) return yield* err(rolloutId, new Unreadable({ detail: "a gate" }))
        const answer = row.answer === null ? undefined : decodeAnswer(row.answer)
        const deferral = row.last_deferral === null ? undefined : decodeAnswer(row.last_deferral)
        if (answer !== undefined && Either.isLeft(answer))
          return yield* err(rolloutId, new Unreadable({ detail: `the answer to ${gate.right.stepId}` }))
        return new SiteGates.GateRecord({
          gate: gate.right,
          ...(answer !== undefined && Either.isRight(answer) ? { answer: answer.right } : {}),
          ...(deferral !== undefined && Either.isRight(deferral) && deferral.right._tag === "Deferred"
            ? { lastDeferral: deferral.right }
            : {})
        })
      })
    const gateRow = (rolloutId: string, site: string, stepId: string) =>
      Effect.map(
        sql<GateRow>`SELECT gate, answer, last_deferral FROM ${gates}
          WHERE rollout_id = ${rolloutId} AND site_id = ${site} AND step_id = ${stepId}`,
        (rows) => rows[0]
      )

    const inTx = <A, E>(
      rolloutId: string,
      operation: string,
      eff: Effect.Effect<A, E | SqlError>
    ): Effect.Effect<A, Exclude<E, SqlError> | FleetStoreError> =>
      sql.withTransaction(eff).pipe(
        Effect.catchIf(
          (e): e is SqlError => (e as { _tag?: string })._tag === "SqlError",
          (e) => Effect.fail(db(rolloutId, operation)(e))
        )
      ) as Effect.Effect<A, Exclude<E, SqlError> | FleetStoreError>

    const store: FleetStore["Type"] = {
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
        ),
      openGate: (gate) =>
        Effect.mapError(
          sql`INSERT INTO ${gates} (rollout_id, site_id, step_id, opened_at, gate)
            VALUES (${gate.rolloutId}, ${gate.site}, ${gate.stepId}, ${gate.openedAt.toISOString()}, ${encodeGate(gate)})
            ON CONFLICT (rollout_id, site_id, step_id) DO NOTHING`,
          db(gate.rolloutId, "record an open gate")
        ).pipe(Effect.asVoid),
      gates: (rolloutId) =>
        Effect.gen(function* () {
          const rows = yield* sql<GateRow>`SELECT gate, answer, last_deferral FROM ${gates}
            WHERE rollout_id = ${rolloutId} ORDER BY opened_at, site_id, step_id`
          return yield* Effect.forEach(rows, (row) => recordOf(rolloutId, row))
        }).pipe(Effect.catchTag("SqlError", (e) => Effect.fail(db(rolloutId, "read the gates")(e)))),
      answerGate: (input, at) =>
        inTx(
          input.rolloutId,
          "answer a gate",
          Effect.gen(function* () {
            // lock the rollout's row: answers to one rollout are serialized (SQLite: the transaction)
            yield* load(input.rolloutId, true)
            const refuse = (reason: typeof SiteGates.GateAnswerErrorReason.Type) =>
              new SiteGates.GateAnswerError({
                rolloutId: input.rolloutId,
                site: input.site,
                stepId: input.stepId,
                reason
              })
            const row = yield* gateRow(input.rolloutId, input.site, input.stepId)
            const current = row === undefined ? undefined : yield* recordOf(input.rolloutId, row)
            if (current === undefined) {
              const all = yield* sql<GateRow>`SELECT gate, answer, last_deferral FROM ${gates}
                WHERE rollout_id = ${input.rolloutId} AND site_id = ${input.site}`
              const records = yield* Effect.forEach(all, (r) => recordOf(input.rolloutId, r))
              return yield* refuse(
                new SiteGates.NoOpenGate({ open: records.filter((r) => r.isOpen).map((r) => r.gate.stepId) })
              )
            }
            if (current.answer !== undefined && current.answer._tag !== "Deferred")
              return yield* refuse(
                new SiteGates.AlreadyAnswered({
                  by: current.answer.by,
                  decision: current.answer._tag === "Approved" ? "approved" : "rejected"
                })
              )
            const answer = yield* SiteGates.toAnswer(current.gate, input, at)
            yield* sql`UPDATE ${gates} SET answer = ${encodeAnswer(answer)}
              WHERE rollout_id = ${input.rolloutId} AND site_id = ${input.site} AND step_id = ${input.stepId}`
            return new SiteGates.GateRecord({
              gate: current.gate,
              answer,
              ...(current.lastDeferral !== undefined ? { lastDeferral: current.lastDeferral } : {})
            })
          })
        ),
      takeAnswer: (rolloutId, site, stepId) =>
        inTx(
          rolloutId,
          "take a gate's answer",
          Effect.gen(function* () {
            const row = yield* gateRow(rolloutId, site, stepId)
            if (row === undefined || row.answer === null) return Option.none<Operator.Answer>()
            const answer = decodeAnswer(row.answer)
            if (Either.isLeft(answer))
              return yield* err(rolloutId, new Unreadable({ detail: `the answer to ${stepId}` }))
            if (answer.right._tag === "Deferred")
              yield* sql`UPDATE ${gates} SET answer = NULL, last_deferral = ${row.answer}
                WHERE rollout_id = ${rolloutId} AND site_id = ${site} AND step_id = ${stepId}`
            return Option.some(answer.right)
          })
        )
    }
    return FleetStore.of(store)
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
