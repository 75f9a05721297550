/**
 * Approval policies of gates: who may answer (roles), how many distinct
 * approvers it takes, whether the run's initiator is excluded, the deadline
 * and what its expiry does (reject, or escalate to admins; never continue),
 * and how often a reminder goes out.
 *
 * Dangerous gates take two approvers by default: installing base software,
 * breaking the failover relationship, moving the shared IP, and the factory
 * reset or power-off of the old box of a migration. They are recognised in
 * one place, {@link dangerous}, from the step's handler and parameters.
 *
 * @since 0.3.0
 */
import type { Operator, Plan } from "@sra-upgrade/core"
import * as Schema from "effect/Schema"
import { Role } from "./Auth.js"

/**
 * What the expiry of a gate's deadline does: `reject` fails the run;
 * `escalate` hands the gate to admins, who answer it (the run never goes on
 * by itself).
 *
 * @since 0.3.0
 * @category models
 */
export const OnTimeout = Schema.Literal("reject", "escalate")

/**
 * The approval policy of a gate.
 *
 * @since 0.3.0
 * @category models
 */
export class GatePolicy extends Schema.Class<GatePolicy>("GatePolicy")({
  /** Roles that may answer. */
  roles: Schema.Array(Role).pipe(Schema.minItems(1)),
  /** Distinct approvers needed to approve (one reject or defer is enough to stop). */
  approvals: Schema.Int.pipe(Schema.between(1, 10)),
  /** The principal who started the run may not answer. */
  excludeInitiator: Schema.Boolean,
  /** Seconds from the gate's opening to its deadline; absent = no deadline. */
  deadlineSeconds: Schema.optional(Schema.Number.pipe(Schema.positive())),
  onTimeout: OnTimeout,
  /** Seconds between reminders while the gate is open; absent = none. */
  reminderSeconds: Schema.optional(Schema.Number.pipe(Schema.positive())),
  /** Why this policy applies (shown to people). */
  basis: Schema.String
}) {}

/**
 * Partial policy of the policies file.
 *
 * @since 0.3.0
 * @category models
 */
export const PolicyOverride = Schema.Struct({
  roles: Schema.optional(Schema.Array(Role).pipe(Schema.minItems(1))),
  approvals: Schema.optional(Schema.Int.pipe(Schema.between(1, 10))),
  excludeInitiator: Schema.optional(Schema.Boolean),
  deadlineSeconds: Schema.optional(Schema.NullOr(Schema.Number.pipe(Schema.positive()))),
  onTimeout: Schema.optional(OnTimeout),
  reminderSeconds: Schema.optional(Schema.NullOr(Schema.Number.pipe(Schema.positive())))
})

/**
 * @since 0.3.0
 * @category models
 */
export type PolicyOverride = typeof PolicyOverride.Type

/**
 * The policies file: overrides of the ordinary and dangerous defaults, and
 * per step id or handler name (a step id wins over a handler).
 *
 * @since 0.3.0
 * @category models
 */
export class PoliciesConfig extends Schema.Class<PoliciesConfig>("PoliciesConfig")({
  ordinary: Schema.optional(PolicyOverride),
  dangerous: Schema.optional(PolicyOverride),
  steps: Schema.optional(Schema.Record({ key: Schema.String, value: PolicyOverride }))
}) {}

/**
 * Default policy of an ordinary gate: one operator, approver or admin who
 * did not start the run; 4 h deadline escalating to admins; a reminder every
 * 30 minutes.
 *
 * @since 0.3.0
 * @category constructors
 */
export const ordinaryDefault = new GatePolicy({
  roles: ["operator", "approver", "admin"],
  approvals: 1,
  excludeInitiator: true,
  deadlineSeconds: 4 * 3600,
  onTimeout: "escalate",
  reminderSeconds: 1800,
  basis: "ordinary gate"
})

/**
 * Default policy of a dangerous gate: two distinct approvers or admins, not
 * the initiator; 4 h deadline that rejects; a reminder every 30 minutes.
 *
 * @since 0.3.0
 * @category constructors
 */
export const dangerousDefault = new GatePolicy({
  roles: ["approver", "admin"],
  approvals: 2,
  excludeInitiator: true,
  deadlineSeconds: 4 * 3600,
  onTimeout: "reject",
  reminderSeconds: 1800,
  basis: "dangerous gate"
})

type Params = Readonly<Record<string, unknown>>

const trafficMethod = (p: Params): string | undefined => {
  const pair = p["pair"] as Params | undefined
  const traffic = (pair?.["traffic"] ?? p["traffic"]) as Params | undefined
  return typeof traffic?.["method"] === "string" ? traffic["method"] : undefined
}

/**
 * Why a step is dangerous, or `undefined`: base-software install, breaking
 * the failover relationship, moving the shared IP, factory reset or power-off
 * of the old appliance. The one place that knows it (by handler name and
 * parameters; typed step definitions can replace the match later).
 *
 * @since 0.3.0
 * @category combinators
 */
export const dangerous = (step: Plan.Step): string | undefined => {
  const p = step.params as Params
  switch (step.handler) {
    case "core/confirm-install-started":
      return p["kind"] === "base" ? "installs base software (the appliance reboots; PREP-6 if it fails)" : undefined
    case "failover/broken":
      return "breaks the failover relationship"
    case "failover/switched":
    case "migration/cutover": {
      const m = trafficMethod(p)
      return m === undefined || m === "shared-ip" ? "moves the shared IP (the site changes appliance)" : undefined
    }
    case "migration/old-reset":
      return "factory-resets the old appliance"
    case "migration/old-powered-off":
      return "powers the old appliance off"
    default:
      return undefined
  }
}

const apply = (base: GatePolicy, o: PolicyOverride | undefined, basis: string): GatePolicy => {
  if (o === undefined) return new GatePolicy({ ...base, basis })
  const deadline = o.deadlineSeconds === undefined ? base.deadlineSeconds : (o.deadlineSeconds ?? undefined)
  const reminder = o.reminderSeconds === undefined ? base.reminderSeconds : (o.reminderSeconds ?? undefined)
  return new GatePolicy({
    roles: o.roles ?? base.roles,
    approvals: o.approvals ?? base.approvals,
    excludeInitiator: o.excludeInitiator ?? base.excludeInitiator,
    ...(deadline === undefined ? {} : { deadlineSeconds: deadline }),
    onTimeout: o.onTimeout ?? base.onTimeout,
    ...(reminder === undefined ? {} : { reminderSeconds: reminder }),
    basis
  })
}

/**
 * The policy of a gate request under a configuration.
 *
 * @since 0.3.0
 * @category combinators
 */
export const policyOf = (request: Operator.GateRequest, config?: PoliciesConfig): GatePolicy => {
  const why = dangerous(request.step)
  // a confirmation after a crash is ordinary: it only tells whether a step took effect
  const isDangerous = why !== undefined && request.purpose === "gate"
  let policy = isDangerous
    ? apply(dangerousDefault, config?.dangerous, `dangerous gate: ${why}`)
    : apply(ordinaryDefault, config?.ordinary, request.purpose === "gate" ? "ordinary gate" : "confirmation")
  const byHandler = config?.steps?.[request.step.handler]
  if (byHandler !== undefined) policy = apply(policy, byHandler, `${policy.basis}; policy of ${request.step.handler}`)
  const byStep = config?.steps?.[request.step.id]
  if (byStep !== undefined) policy = apply(policy, byStep, `${policy.basis}; policy of step ${request.step.id}`)
  return policy
}
