/**
 * The port through which the fleet engine upgrades one site: it builds the
 * site's plan (the single/pair planners) and the `Executor` that interprets
 * it against the site's appliances. The engine gives the executor its
 * journal (the SQL journal in the engine's database) and decides whether the
 * run starts or resumes; the executor stays the one interpreter of a plan.
 * The CLI provides a worker for site files and for simulated sites.
 *
 * @since 0.3.0
 */
import type { Executor, Journal, Operator, Plan } from "@sra-upgrade/core"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Rollout from "./Rollout.js"

/**
 * A site could not be prepared (unreadable site file, unreachable
 * appliance, no plan for its versions); the site fails with this reason.
 *
 * @since 0.3.0
 * @category errors
 */
export class SiteWorkerError extends Schema.TaggedError<SiteWorkerError>("@sra-upgrade/fleet/SiteWorkerError")(
  "SiteWorkerError",
  { site: Schema.String, detail: Schema.String }
) {
  /**
   * @since 0.3.0
   */
  override get message(): string {
    return `Site ${this.site} could not be prepared: ${this.detail}`
  }
}

/**
 * What a site's run needs: its executor over the given journal, and its plan,
 * built only when the run starts (a resumed run follows the plan in its
 * journal: the appliances may already run the target version).
 *
 * The engine gives the executor its `Operator` too: the rollout's durable
 * gates (`SiteGates`), so a manual gate suspends the site until someone
 * answers it. A worker that provides its own operator (the simulator's,
 * which plays the gates) keeps it.
 *
 * @since 0.3.0
 * @category models
 */
export interface Prepared {
  readonly plan: Effect.Effect<Plan.Plan, SiteWorkerError>
  readonly executor: Layer.Layer<Executor.Executor, never, Journal.Journal | Operator.Operator>
}

/**
 * @since 0.3.0
 * @category services
 */
export class SiteWorker extends Context.Tag("@sra-upgrade/fleet/SiteWorker")<
  SiteWorker,
  {
    /** Prepare a site for the scope of its run (connections are closed with the scope). */
    readonly prepare: (
      site: Rollout.SitePlan,
      rolloutId: string
    ) => Effect.Effect<Prepared, SiteWorkerError, Scope.Scope>
  }
>() {}
