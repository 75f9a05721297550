/**
 * The step definitions of the failover pair plans (`failover/…`): one value
 * per step kind with its params Schema and, for a gate, the evidence a
 * person gives. `PairPlan` builds its steps with them, `FailoverHandlers`
 * implements them, and whoever must recognise a failover step (the pair
 * validator `PairPlan.relationshipEvents`, the simulator's `PairOperator`, a
 * report) asks the definition (`Broken.is(step)`, `Switched.paramsOf(step)`).
 *
 * The names and the params JSON are those plans and journals have always
 * carried, so a plan written before these definitions still runs and
 * resumes.
 *
 * | definition | handler name | kinds | rules |
 * |---|---|---|---|
 * | {@link Roles} | `failover/roles` | check | PREP-7, PAIR-2/3/5/6 |
 * | {@link AwaitRoles} | `failover/await-roles` | wait | PAIR-3 |
 * | {@link SyncRequested} | `failover/sync-requested` | gate | PAIR-4 |
 * | {@link AwaitSync} | `failover/await-sync` | wait | PAIR-4, PAIR-8 |
 * | {@link Broken} | `failover/broken` | gate | PAIR-4, PAIR-10 |
 * | {@link ConfirmKeys} | `failover/confirmed` | gate | PAIR-7 |
 * | {@link Established} | `failover/established` | gate | PAIR-7 |
 * | {@link VerifyAsSite} | `failover/verify-as-site` | check, gate | VERIFY-3 |
 * | {@link Switched} | `failover/switched` | gate | SWITCH-1/2/3 |
 * | {@link ServedBy} | `failover/served-by` | check, wait, gate | SWITCH-*, VERIFY-4 |
 * | {@link SetRole} | `failover/set-role` | action | PAIR-3, PAIR-10 |
 * | {@link Protection} | `failover/protection-report` | check | PAIR-1 |
 * | {@link Availability} | `failover/site-availability` | check | PAIR-1 |
 * | {@link window} | `failover/window` | window | PAIR-1 |
 *
 * @since 0.3.0
 */
import * as Schema from "effect/Schema"
import { GateEvidence, type MaintenanceWindow, Plan, StepDef } from "@sra-upgrade/core"
import * as Pair from "./Pair.js"
import * as TrafficSwitch from "./TrafficSwitch.js"

const Appliance = Schema.String.pipe(Schema.minLength(1))
const StepId = Schema.String.pipe(Schema.minLength(1))
const Role = Schema.Literal("primary", "backup", "none")
const Appliances = Schema.Tuple(Appliance, Appliance)

/** `failover_role` expected of each appliance, by id. */
const ExpectedRoles = Schema.Struct({ expect: Schema.Record({ key: Appliance, value: Role }) })

/** A param naming a member of the step's `pair` (BadParams names the field otherwise). */
const memberOfPair =
  <K extends string>(...keys: ReadonlyArray<K>) =>
  (p: { readonly pair: Pair.Pair } & { readonly [k in K]: string }) => {
    const bad = keys.find((k) => p.pair.member(p[k]) === undefined)
    return bad === undefined
      ? true
      : {
          path: [bad],
          message: `${p[bad]} is not an appliance of the pair (${p.pair.primary.id}, ${p.pair.backup.id})`
        }
  }

/**
 * PREP-7: each appliance holds the `failover_role` the plan expects.
 *
 * @since 0.3.0
 * @category definitions
 */
export const Roles = StepDef.check("failover/roles", { params: ExpectedRoles })

/**
 * PAIR-3: wait until each appliance holds the expected role (after a planned swap).
 *
 * @since 0.3.0
 * @category definitions
 */
export const AwaitRoles = StepDef.wait("failover/await-roles", { params: ExpectedRoles })

/**
 * PAIR-4: a person pressed "Sync now" on the primary; the handler checks the
 * appliance is the primary of an established relationship.
 *
 * @since 0.3.0
 * @category definitions
 */
export const SyncRequested = StepDef.gate("failover/sync-requested", {
  params: Schema.Struct({ appliance: Appliance, peer: Schema.optional(Appliance) })
})

/**
 * PAIR-4, PAIR-8: wait for a successful data sync later than the moment the
 * step `since` asked for it (its gate opened), in the appliance's clock.
 *
 * @since 0.3.0
 * @category definitions
 */
export const AwaitSync = StepDef.wait("failover/await-sync", {
  params: Schema.Struct({ appliance: Appliance, since: StepId })
})

/**
 * PAIR-4: a person broke the relationship; verified by `failover_role` none on both.
 *
 * @since 0.3.0
 * @category definitions
 */
export const Broken = StepDef.gate("failover/broken", { params: Schema.Struct({ appliances: Appliances }) })

/**
 * PAIR-7: a person checked that both appliances hold the same inter-appliance
 * key (no API reads it).
 *
 * @since 0.3.0
 * @category definitions
 */
export const ConfirmKeys = StepDef.gate("failover/confirmed", {
  params: Schema.Struct({ appliances: Appliances }),
  evidence: () => ({ keysMatch: GateEvidence.text("yes, once both show the same key") })
})

/**
 * PAIR-7: a person established the relationship on `primary`; verified by the
 * roles. Not idempotent: on resume the roles are read back first.
 *
 * @since 0.3.0
 * @category definitions
 */
export const Established = StepDef.gate("failover/established", {
  params: Schema.Struct({ primary: Appliance, backup: Appliance }),
  idempotent: false
})

/**
 * VERIFY-3: an appliance answers as the site on its unique address (probe
 * and health with the site host name). As a gate, two people checked it
 * with a hosts-file override; the console version they read must be the
 * one the plan installs.
 *
 * @since 0.3.0
 * @category definitions
 */
export const VerifyAsSite = StepDef.make("failover/verify-as-site", {
  kinds: ["Check", "ManualGate"],
  params: Schema.Struct({
    appliance: Appliance,
    /** The appliance serving the site meanwhile (for the rollback advice). */
    servingNow: Schema.optional(Appliance),
    url: Schema.String,
    hostname: Schema.String,
    version: Schema.String,
    build: Schema.optional(Schema.String)
  }),
  evidence: (p) => ({
    machine1: GateEvidence.text("first machine used"),
    machine2: GateEvidence.text("second machine used"),
    consoleVersion: GateEvidence.version("version shown in Help > About", { expected: p.version }),
    session: GateEvidence.text("endpoint a session was opened to")
  })
})

const SwitchParams = Schema.Struct({ pair: Pair.Pair, from: Appliance, to: Appliance }).pipe(
  Schema.filter(memberOfPair("from", "to"))
)

/**
 * SWITCH-1/2/3: the site address moved from `from` to `to` (by a person, or by
 * a `TrafficSwitch` adapter); a shared IP must be right at once, a DNS record
 * is then waited for ({@link ServedBy}). Evidence: a change reference for DNS
 * and NAT.
 *
 * @since 0.3.0
 * @category definitions
 */
export const Switched = StepDef.gate("failover/switched", {
  params: SwitchParams,
  evidence: (p) =>
    Object.fromEntries(
      TrafficSwitch.gateEvidence(p.pair.traffic).map((e) => [e.name, GateEvidence.text(e.description)])
    )
})

/**
 * The site address is served by `appliance` (and only by it), on `version`
 * when given. A check, a wait (a DNS record propagating) or a gate whose
 * evidence is what the person reviewed (see {@link servedByGate}).
 *
 * @since 0.3.0
 * @category definitions
 */
export const ServedBy = StepDef.make("failover/served-by", {
  kinds: ["Check", "WaitFor", "ManualGate"],
  params: Schema.Struct({ pair: Pair.Pair, appliance: Appliance, version: Schema.optional(Schema.String) }).pipe(
    Schema.filter(memberOfPair("appliance"))
  )
})

/**
 * A {@link ServedBy} gate asking the person for `evidence` (what they
 * reviewed: production, integration clients…). The handler reads the site
 * back and does not use these values.
 *
 * @since 0.3.0
 * @category constructors
 */
export const servedByGate = (
  meta: StepDef.GateMeta,
  params: typeof ServedBy.params.Type,
  evidence: StepDef.Fields
): Plan.ManualGate => new Plan.ManualGate({ ...ServedBy.gate(meta, params), evidence: GateEvidence.toFields(evidence) })

/**
 * PAIR-3, PAIR-10: a planned role change with `set_failover_role` (a data
 * sync first), never "Become primary". Not idempotent: on resume the roles
 * are read back first.
 *
 * @since 0.3.0
 * @category definitions
 */
export const SetRole = StepDef.action("failover/set-role", {
  params: Schema.Struct({
    appliance: Appliance,
    peer: Schema.optional(Appliance),
    role: Schema.Literal("primary", "backup"),
    dataSyncFirst: Schema.optional(Schema.Boolean)
  }),
  idempotent: false
})

/**
 * PAIR-1: the time the pair spent without failover protection, from the
 * success of step `from` (the break) to that of `to` (the first sync),
 * bounded by `maxSeconds`.
 *
 * @since 0.3.0
 * @category definitions
 */
export const Protection = StepDef.check("failover/protection-report", {
  params: Schema.Struct({ from: StepId, to: StepId, maxSeconds: Schema.optional(Schema.Number) }),
  severity: "advisory"
})

/**
 * PAIR-1: the site availability measured during the run (`SiteProber`).
 *
 * @since 0.3.0
 * @category definitions
 */
export const Availability = StepDef.check("failover/site-availability", {
  params: Schema.Struct({}),
  severity: "advisory"
})

/**
 * The handler name the pair plans' window steps carry.
 *
 * @since 0.3.0
 * @category models
 */
export const windowHandler = "failover/window"

/**
 * PAIR-1: one of the pair's two maintenance windows.
 *
 * @since 0.3.0
 * @category constructors
 */
export const window = (meta: StepDef.Meta, w: MaintenanceWindow.MaintenanceWindow): Plan.Window =>
  StepDef.window(meta, w, windowHandler)

/**
 * Every definition of this module (the handlers of `FailoverHandlers.layer`).
 *
 * @since 0.3.0
 * @category definitions
 */
export const all: ReadonlyArray<StepDef.Any> = [
  Roles,
  AwaitRoles,
  SyncRequested,
  AwaitSync,
  Broken,
  ConfirmKeys,
  Established,
  VerifyAsSite,
  Switched,
  ServedBy,
  SetRole,
  Protection,
  Availability
]

/**
 * Whether a step is one of the pair plans' (a `failover/…` step, window included).
 *
 * @since 0.3.0
 * @category combinators
 */
export const isFailoverStep = (step: Plan.Step): boolean =>
  (step._tag === "Window" && step.handler === windowHandler) || all.some((d) => d.is(step))
