/**
 * The failover relationship as a pure state machine:
 * `Paired → Syncing → Synced → Broken → Establishing → Paired`, plus the
 * traffic moves of the site address while the pair is broken and
 * "become primary" / planned role swaps while it is paired.
 *
 * Invariants (property-tested): at most one appliance serves the site; at
 * most one primary; the relationship counts as restored only after a sync
 * succeeded after the last "establish".
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Either from "effect/Either"
import * as Match from "effect/Match"

/**
 * The relationship itself.
 *
 * @since 0.1.0
 * @category models
 */
export type Relationship = Data.TaggedEnum<{
  /** In a relationship; `lastSync` is the outcome of the last data sync. */
  Paired: { readonly primary: string; readonly backup: string; readonly lastSync: "none" | "success" | "failed" }
  /** A data sync runs. */
  Syncing: { readonly primary: string; readonly backup: string }
  /** The last data sync succeeded (a break is now allowed, PAIR-4). */
  Synced: { readonly primary: string; readonly backup: string }
  /** No relationship: both appliances standalone (`failover_role` none). */
  Broken: { readonly appliances: readonly [string, string] }
  /** Defined again on the new primary; no sync has succeeded yet (PAIR-8). */
  Establishing: { readonly primary: string; readonly backup: string }
}>

/**
 * @since 0.1.0
 * @category constructors
 */
export const Relationship = Data.taggedEnum<Relationship>()

/**
 * The relationship plus who serves the site address.
 *
 * @since 0.1.0
 * @category models
 */
export interface PairState {
  readonly relationship: Relationship
  /** Appliances answering on the site address (never more than one). */
  readonly serving: ReadonlyArray<string>
  /** A sync succeeded since the last establish (true for an existing pair). */
  readonly syncedSinceEstablish: boolean
}

/**
 * Events of the machine.
 *
 * @since 0.1.0
 * @category models
 */
export type Event = Data.TaggedEnum<{
  /** "Sync now" (or an automatic sync) started. */
  SyncRequested: {}
  SyncFinished: { readonly ok: boolean }
  /** "Break failover relationship". */
  Break: {}
  /** "Establish relationship" on `primary` (PAIR-7). */
  Establish: { readonly primary: string; readonly backup: string }
  /** The site address stops reaching this appliance (shared IP disabled, DNS/NAT moved away). */
  ReleaseSite: { readonly appliance: string }
  /** The site address starts reaching this appliance. */
  TakeSite: { readonly appliance: string }
  /** "Become primary" on the backup (PAIR-10). */
  BecomePrimary: { readonly appliance: string; readonly primaryResponding: boolean }
  /** Planned swap with `set_failover_role` after a successful sync. */
  SwapRoles: {}
}>

/**
 * @since 0.1.0
 * @category constructors
 */
export const Event = Data.taggedEnum<Event>()

/**
 * An event that is not allowed in the current state of the relationship,
 * and why (named apart from core's run-state `InvalidTransition`).
 *
 * @since 0.3.0
 * @category errors
 */
export class RelationshipTransitionError extends Data.TaggedError("RelationshipTransitionError")<{
  readonly state: string
  readonly event: string
  readonly message: string
}> {}

/**
 * A healthy existing pair: `primary` serves the site.
 *
 * @since 0.1.0
 * @category constructors
 */
export const initial = (primary: string, backup: string): PairState => ({
  relationship: Relationship.Paired({ primary, backup, lastSync: "success" }),
  serving: [primary],
  syncedSinceEstablish: true
})

/**
 * `failover_role` of each appliance in this state.
 *
 * @since 0.1.0
 * @category combinators
 */
export const roles = (state: PairState): Readonly<Record<string, Role>> => {
  const r = state.relationship
  if (r._tag === "Broken") return { [r.appliances[0]]: "none", [r.appliances[1]]: "none" }
  return { [r.primary]: "primary", [r.backup]: "backup" }
}

/**
 * `failover_role` values.
 *
 * @since 0.1.0
 * @category models
 */
export type Role = "primary" | "backup" | "none"

/**
 * Restored (PAIR-8): in a relationship and a sync succeeded after establishing.
 *
 * @since 0.1.0
 * @category combinators
 */
export const isRestored = (state: PairState): boolean =>
  state.relationship._tag !== "Broken" && state.relationship._tag !== "Establishing" && state.syncedSinceEstablish

const members = (r: Relationship): readonly [string, string] =>
  r._tag === "Broken" ? r.appliances : [r.primary, r.backup]

/**
 * The pure transition: the next state, or why the event is refused.
 *
 * @since 0.1.0
 * @category combinators
 */
export const transition = (state: PairState, event: Event): Either.Either<PairState, RelationshipTransitionError> => {
  const r = state.relationship
  const refuse = (message: string) =>
    Either.left(new RelationshipTransitionError({ state: r._tag, event: event._tag, message }))
  const next = (patch: Partial<PairState>) => Either.right<PairState>({ ...state, ...patch })
  return Match.value(event).pipe(
    Match.tagsExhaustive({
      SyncRequested: () =>
        r._tag === "Paired" || r._tag === "Synced"
          ? next({ relationship: Relationship.Syncing({ primary: r.primary, backup: r.backup }) })
          : r._tag === "Establishing"
            ? next({})
            : refuse(
                r._tag === "Syncing"
                  ? "A data sync is already running; wait for it to finish."
                  : "There is no relationship to sync: establish it first."
              ),
      SyncFinished: ({ ok }) => {
        if (r._tag === "Syncing")
          return next({
            relationship: ok
              ? Relationship.Synced({ primary: r.primary, backup: r.backup })
              : Relationship.Paired({ primary: r.primary, backup: r.backup, lastSync: "failed" })
          })
        if (r._tag === "Establishing")
          return ok
            ? next({
                relationship: Relationship.Paired({ primary: r.primary, backup: r.backup, lastSync: "success" }),
                syncedSinceEstablish: true
              })
            : next({})
        return refuse("No data sync is running.")
      },
      Break: () =>
        r._tag === "Synced"
          ? next({ relationship: Relationship.Broken({ appliances: [r.primary, r.backup] }) })
          : refuse(
              r._tag === "Broken"
                ? "The relationship is already broken."
                : "Sync now and wait for a successful sync before breaking the relationship (PAIR-4)."
            ),
      Establish: ({ backup, primary }) => {
        if (r._tag !== "Broken") return refuse("Break the existing relationship before establishing a new one.")
        const [x, y] = r.appliances
        if (primary === backup || ![x, y].includes(primary) || ![x, y].includes(backup))
          return refuse(`The relationship must pair ${x} and ${y}.`)
        if (state.serving.length !== 1 || state.serving[0] !== primary)
          return refuse(
            `Define the relationship on the appliance that serves the site (${state.serving.join(", ") || "none"}), which becomes primary (PAIR-7).`
          )
        return next({ relationship: Relationship.Establishing({ primary, backup }), syncedSinceEstablish: false })
      },
      ReleaseSite: ({ appliance }) => {
        if (r._tag !== "Broken") return refuse("In a relationship the site follows the primary; break it first.")
        return next({ serving: state.serving.filter((s) => s !== appliance) })
      },
      TakeSite: ({ appliance }) => {
        if (r._tag !== "Broken") return refuse("In a relationship the site follows the primary; break it first.")
        if (!members(r).includes(appliance)) return refuse(`${appliance} is not part of this pair.`)
        if (state.serving.some((s) => s !== appliance))
          return refuse(
            `${state.serving.join(", ")} still serves the site: release it there first (two appliances must never answer for the site).`
          )
        return next({ serving: [appliance] })
      },
      BecomePrimary: ({ appliance, primaryResponding }) => {
        if (r._tag === "Broken" || r._tag === "Establishing") return refuse("There is no established relationship.")
        if (r.backup !== appliance) return refuse(`${appliance} is not the backup.`)
        if (primaryResponding)
          return refuse(
            "The primary still responds: use a planned role swap (set_failover_role with a data sync first), not Become Primary (PAIR-10)."
          )
        return next({
          relationship: Relationship.Paired({ primary: r.backup, backup: r.primary, lastSync: "none" }),
          serving: [r.backup]
        })
      },
      SwapRoles: () =>
        r._tag === "Synced"
          ? next({ relationship: Relationship.Synced({ primary: r.backup, backup: r.primary }), serving: [r.backup] })
          : refuse("Swap roles only right after a successful data sync (set_failover_role data_sync_first).")
    })
  )
}

/**
 * Apply events in order, stopping at the first refused one.
 *
 * @since 0.1.0
 * @category combinators
 */
export const replay = (
  state: PairState,
  events: Iterable<Event>
): Either.Either<PairState, RelationshipTransitionError> => {
  let s = state
  for (const e of events) {
    const r = transition(s, e)
    if (Either.isLeft(r)) return r
    s = r.right
  }
  return Either.right(s)
}
