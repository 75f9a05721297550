/**
 * Which planner and which step handlers a site and a method use: the one
 * place that knows the planners of core (single appliance) and failover
 * (synchronous and asynchronous pairs). The `sra-upgrade` command and the
 * portal service both plan and run through it.
 *
 * @since 0.3.0
 */
import type { ApplianceApi, Journal, Site } from "@sra-upgrade/core"
import { CoreHandlers, MaintenanceWindow, Plan, SingleUpgrade, StepHandler } from "@sra-upgrade/core"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as FailoverHandlers from "./FailoverHandlers.js"
import * as PairPlan from "./PairPlan.js"
import type * as SiteProber from "./SiteProber.js"
import * as TrafficSwitch from "./TrafficSwitch.js"

/**
 * `single` for one appliance; `sync` or `async` for a failover pair.
 *
 * @since 0.3.0
 * @category models
 */
export const Method = Schema.Literal("single", "sync", "async")

/**
 * @since 0.3.0
 * @category models
 */
export type Method = typeof Method.Type

/**
 * Why no plan could be made: the method does not fit the site (`method`), a
 * version was not observed (`observation`), the windows are missing
 * (`windows`), or the planner refused the site (`planner`).
 *
 * @since 0.3.0
 * @category errors
 */
export class PlannerError extends Schema.TaggedError<PlannerError>("@sra-upgrade/failover/PlannerError")(
  "PlannerError",
  {
    reason: Schema.Literal("method", "observation", "windows", "planner"),
    detail: Schema.String
  }
) {
  /**
   * @since 0.3.0
   */
  override get message(): string {
    return this.detail
  }
}

/**
 * Check that a method fits the site (`file` names the site in the message).
 *
 * @since 0.3.0
 * @category combinators
 */
export const validateMethod = (site: Site.Site, method: Method, file: string): Either.Either<Method, PlannerError> =>
  method === "single" && site.isPair
    ? Either.left(
        new PlannerError({
          reason: "method",
          detail: `${file}: the site is a failover pair; use --method sync or --method async.`
        })
      )
    : method !== "single" && !site.isPair
      ? Either.left(
          new PlannerError({
            reason: "method",
            detail: `${file}: the site has one appliance; --method ${method} is for failover pairs (use single).`
          })
        )
      : Either.right(method)

/**
 * The method of a site when the caller gave `method` (or none): a single
 * appliance defaults to `single`; a failover pair has no default (PREP-7,
 * guide l.45: "vous devez choisir"), so a pair without a method is a
 * `method` error naming both methods and the guide's advice. The method is
 * then checked against the site ({@link validateMethod}).
 *
 * @since 0.3.0
 * @category combinators
 */
export const chooseMethod = (
  site: Site.Site,
  method: Method | undefined,
  file: string
): Either.Either<Method, PlannerError> =>
  method !== undefined
    ? validateMethod(site, method, file)
    : site.isPair
      ? Either.left(
          new PlannerError({
            reason: "method",
            detail: `${file}: the site is a failover pair: choose its method (PREP-7): --method sync (PAIR-2: ${site.primary.id} is upgraded first and stays primary; simple, no failover event, the site is down while it installs; the guide advises it for simple deployments) or --method async (PAIR-3: the backup is upgraded first and becomes primary; minimal downtime, but a failover event and a traffic switch).`
          })
        )
      : Either.right("single")

/**
 * What the planners need besides the site file.
 *
 * @since 0.3.0
 * @category models
 */
export interface Inputs {
  /** Observed versions per appliance id (from health, or `--current`). */
  readonly current: ReadonlyMap<string, SingleUpgrade.Current>
  readonly now: Date
  /** Poll interval of install waits (seconds). */
  readonly pollIntervalSeconds?: number | undefined
  /** How each appliance gets its packages: `automatic` (SINGLE-1, default) or `manual` (download key, SINGLE-3). */
  readonly updateMethod?: SingleUpgrade.Method | undefined
  /** Pairs: where the site address is probed (default: the planner's, from the site hostname). */
  readonly siteUrl?: string | undefined
  /** Pairs: the `ApplianceApi` id whose connection points at the site address (tells which appliance answers there). */
  readonly siteClientId?: string | undefined
}

/**
 * Build the plan of `site` to `target` with `method`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const plan = (
  site: Site.Site,
  target: string,
  method: Method,
  inputs: Inputs
): Either.Either<Plan.Plan, PlannerError> => {
  const planner = (detail: string) => new PlannerError({ reason: "planner", detail })
  switch (method) {
    case "single": {
      const a = site.appliances[0]!
      const current = inputs.current.get(a.id)
      if (current === undefined)
        return Either.left(
          new PlannerError({ reason: "observation", detail: `no observed version for appliance ${a.id}` })
        )
      return Either.mapLeft(
        SingleUpgrade.planSingleUpgrade(site, target, {
          current,
          now: inputs.now,
          ...(inputs.updateMethod === undefined ? {} : { method: inputs.updateMethod }),
          ...(inputs.pollIntervalSeconds === undefined ? {} : { pollIntervalSeconds: inputs.pollIntervalSeconds })
        }),
        (e) => planner(e.message)
      )
    }
    case "sync":
    case "async": {
      const windows = site.maintenanceWindows
        .filter((w) => w.end.getTime() > inputs.now.getTime())
        .sort((a, b) => a.start.getTime() - b.start.getTime())
      if (windows.length < 2)
        return Either.left(
          new PlannerError({
            reason: "windows",
            detail: `a failover pair is upgraded in two maintenance windows, one per appliance (PAIR-1): list two upcoming windows under maintenanceWindows in the site file (found ${windows.length}).`
          })
        )
      const options: PairPlan.Options = {
        current: Object.fromEntries(inputs.current),
        windows: [windows[0]!, windows[1]!],
        ...(inputs.updateMethod === undefined ? {} : { method: inputs.updateMethod }),
        ...(inputs.pollIntervalSeconds === undefined ? {} : { pollIntervalSeconds: inputs.pollIntervalSeconds }),
        ...(inputs.siteUrl === undefined ? {} : { siteUrl: inputs.siteUrl }),
        ...(inputs.siteClientId === undefined ? {} : { siteClientId: inputs.siteClientId })
      }
      return Either.mapLeft(
        method === "sync"
          ? PairPlan.planSynchronous(site, target, options)
          : PairPlan.planAsynchronous(site, target, options),
        (e) => planner(e.message)
      )
    }
  }
}

/**
 * Configuration of the step handlers (secrets resolved by the caller).
 *
 * @since 0.3.0
 * @category models
 */
export interface HandlerConfig {
  readonly backupPassword?: Redacted.Redacted<string> | undefined
  /** See `CoreHandlers.Config.baseGraceSeconds`. */
  readonly baseGraceSeconds?: number | undefined
}

/**
 * The step handlers every plan of these planners may use, over the appliance
 * port; `prober` measures the site's availability during a pair's run.
 *
 * @since 0.3.0
 * @category layers
 */
export const handlers = (
  config: HandlerConfig = {},
  prober?: Layer.Layer<SiteProber.SiteProber>
): Layer.Layer<StepHandler.StepHandlers, never, ApplianceApi.ApplianceApi | Journal.Journal> => {
  const failover = FailoverHandlers.layer.pipe(Layer.provide(TrafficSwitch.layer))
  return StepHandler.merge(
    CoreHandlers.layer(config),
    prober === undefined ? failover : failover.pipe(Layer.provide(prober))
  )
}

/**
 * Compress the time of a plan by `scale`, for a simulator running `scale`
 * times faster than real time: poll intervals and deadlines are divided, and
 * maintenance windows move towards `origin` (default now) by the same
 * factor, so a window one simulated hour away opens six real seconds away
 * at x600 (windows last at least a minute). The plan shown to people is the
 * original one.
 *
 * @since 0.3.0
 * @category combinators
 */
export const compress = (plan: Plan.Plan, scale: number, origin: Date = new Date()): Plan.Plan => {
  if (scale <= 1) return plan
  const t0 = origin.getTime()
  return new Plan.Plan({
    ...plan,
    steps: plan.steps.map((s) => {
      switch (s._tag) {
        case "WaitFor":
          return new Plan.WaitFor({
            ...s,
            intervalSeconds: Math.max(0.05, s.intervalSeconds / scale),
            deadlineSeconds: Math.max(1, s.deadlineSeconds / scale)
          })
        case "Window":
          return new Plan.Window({
            ...s,
            window: new MaintenanceWindow.MaintenanceWindow({
              label: s.window.label,
              start: new Date(t0 + (s.window.start.getTime() - t0) / scale),
              durationMinutes: Math.max(1, Math.ceil(s.window.durationMinutes / scale))
            })
          })
        default:
          return s
      }
    })
  })
}
