/**
 * Fleet rollouts in the portal: a client of the fleet's SDK over its database
 * (the ledger `sra-upgrade fleet status|approve` read and write), never a
 * second implementation. Read-only views of rollouts, and wave approvals by
 * an authenticated approver with a mandatory comment, kept in the rollout's
 * controls (`FleetStore.approveWave`).
 *
 * @since 0.3.0
 */
import { Admission, Engine, EngineLayer, FleetStore } from "@sra-upgrade/fleet"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type { Principal } from "./Auth.js"
import { Invalid, NotFound, RolloutSiteView, RolloutView, Unavailable } from "./Api.js"

/**
 * Where the fleet's ledger is: a SQLite file or a PostgreSQL URL (as
 * `EngineLayer.parseDatabase` reads `--fleet-database`).
 *
 * @since 0.3.0
 * @category models
 */
export type Database = { readonly file: string } | { readonly url: Redacted.Redacted<string> }

const notConfigured = new Unavailable({
  reason: "fleet",
  message:
    "This portal has no fleet database: start it with `sra-upgrade serve --fleet-database <file|postgres://…>` (the --database of `sra-upgrade fleet run`)."
})

const unavailable = (e: FleetStore.FleetStoreError) => new Unavailable({ reason: "fleet", message: e.message })

const lookupError = (e: FleetStore.FleetStoreError): NotFound | Unavailable =>
  e.reason._tag === "RolloutNotFound"
    ? new NotFound({ resource: "rollout", id: e.rolloutId, message: e.message })
    : unavailable(e)

const approveError = (e: FleetStore.FleetStoreError): NotFound | Invalid | Unavailable =>
  e.reason._tag === "UnknownWave" ? new Invalid({ reason: "wave", message: e.message }) : lookupError(e)

/**
 * A rollout as the API shows it.
 *
 * @since 0.3.0
 * @category combinators
 */
export const viewOf = (stored: FleetStore.Stored, at: Date): RolloutView =>
  new RolloutView({
    rolloutId: stored.plan.rolloutId,
    name: stored.plan.name,
    summary: Admission.summarize(stored.plan, stored.ledger, stored.controls, at),
    sites: stored.plan.sites.map(
      (s) =>
        new RolloutSiteView({
          id: s.id,
          wave: s.wave + 1,
          hostname: s.hostname,
          kind: s.kind,
          timeZone: s.timeZone,
          runId: Engine.runIdOf(stored.plan.rolloutId, s.id),
          state: Admission.stateOf(stored.ledger, s.id)
        })
    ),
    paused: stored.controls.paused,
    aborted: stored.controls.aborted,
    approvals: stored.controls.waveApprovals
  })

const now = Effect.sync(() => new Date())

/**
 * What the API handlers ask of the fleet.
 *
 * @since 0.3.0
 * @category models
 */
export interface Service {
  readonly list: Effect.Effect<ReadonlyArray<RolloutView>, Unavailable>
  readonly get: (rolloutId: string) => Effect.Effect<RolloutView, NotFound | Unavailable>
  /** Approve wave `wave` (1 = the first) as `principal` (the caller's role is checked by the handler). */
  readonly approveWave: (
    rolloutId: string,
    wave: number,
    principal: Principal,
    comment: string
  ) => Effect.Effect<RolloutView, NotFound | Invalid | Unavailable>
}

/**
 * The fleet's rollouts as the portal serves them.
 *
 * @since 0.3.0
 * @category services
 */
export class Fleet extends Context.Tag("@sra-upgrade/server/Fleet")<Fleet, Service>() {}

const serviceOf = (store: Context.Tag.Service<typeof FleetStore.FleetStore>): Service => {
  const view = (rolloutId: string) =>
    Effect.gen(function* () {
      const stored = yield* Effect.mapError(store.get(rolloutId), lookupError)
      return viewOf(stored, yield* now)
    })
  return {
    list: Effect.gen(function* () {
      const ids = yield* Effect.mapError(store.list, unavailable)
      return yield* Effect.forEach(ids, (id) =>
        Effect.flatMap(Effect.mapError(store.get(id), unavailable), (stored) =>
          Effect.map(now, (at) => viewOf(stored, at))
        )
      )
    }),
    get: view,
    approveWave: (rolloutId, wave, principal, comment) =>
      Effect.gen(function* () {
        const stored = yield* Effect.mapError(store.get(rolloutId), lookupError)
        const plan = stored.plan.waves[wave - 1]
        if (plan === undefined)
          return yield* new Invalid({
            reason: "wave",
            message: `Rollout ${rolloutId} has no wave ${wave}: its waves are 1 to ${stored.plan.waves.length}.`
          })
        if (!plan.approval)
          return yield* new Invalid({
            reason: "wave",
            message: `Wave ${wave} (${plan.name}) of rollout ${rolloutId} needs no approval: its sites start when the previous wave has finished.`
          })
        const at = yield* now
        yield* Effect.mapError(
          FleetStore.approveWave(
            rolloutId,
            wave - 1,
            new Admission.WaveApproval({ wave: wave - 1, by: principal.id, role: principal.role, comment, at })
          ).pipe(Effect.provideService(FleetStore.FleetStore, store)),
          approveError
        )
        yield* Effect.logInfo(
          `wave ${wave} of rollout ${rolloutId}: approved by ${principal.id} (${principal.role}): ${comment}`
        )
        return yield* view(rolloutId)
      })
  }
}

/**
 * The fleet over this database (its ledger only: no engine runs in the
 * portal), or, without one, a fleet that answers 503 saying how to give one.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (database: Database | undefined): Layer.Layer<Fleet, EngineLayer.EngineError> =>
  database === undefined
    ? Layer.succeed(Fleet, {
        list: Effect.fail(notConfigured),
        get: () => Effect.fail(notConfigured),
        approveWave: () => Effect.fail(notConfigured)
      })
    : Layer.effect(Fleet, Effect.map(FleetStore.FleetStore, serviceOf)).pipe(
        Layer.provide(EngineLayer.ledgerOnly(database)),
        // the SQL drivers throw when they cannot open (a folder that does not exist): say which database
        Layer.catchAllCause((cause) =>
          Layer.fail(
            new EngineLayer.EngineError({
              detail: `The fleet database ${"file" in database ? database.file : "(the postgres:// URL)"} cannot be opened (${detailOf(cause)}): check --fleet-database (the --database of \`sra-upgrade fleet run\`).`
            })
          )
        )
      )

const detailOf = (cause: Cause.Cause<unknown>): string => {
  const e = Cause.squash(cause)
  return e instanceof Error ? e.message : String(e)
}
