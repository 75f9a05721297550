/**
 * Which planner and which step handlers a site and a method use, for the
 * command: `Planners` of `@sra-upgrade/failover` (shared with the portal
 * service), with its errors as usage errors.
 *
 * @since 0.1.0
 */
import type { Plan, Site } from "@sra-upgrade/core"
import { Planners } from "@sra-upgrade/failover"
import * as Effect from "effect/Effect"
import { type CliError, usage } from "./CliError.js"

/**
 * `single` for one appliance; `sync` or `async` for a failover pair.
 *
 * @since 0.1.0
 * @category models
 */
export type Method = Planners.Method

/**
 * The method of a site: `method`, or `single` for one appliance; a failover
 * pair without a method is a usage error (PREP-7, see `Planners.chooseMethod`
 * of `@sra-upgrade/failover`).
 *
 * @since 0.3.0
 * @category combinators
 */
export const chooseMethod = (
  site: Site.Site,
  method: Method | undefined,
  file: string
): Effect.Effect<Method, CliError> =>
  Effect.mapError(Planners.chooseMethod(site, method, file), (e) => usage(e.message))

/**
 * Check that a method fits the site.
 *
 * @since 0.1.0
 * @category combinators
 */
export const validateMethod = (site: Site.Site, method: Method, file: string): Effect.Effect<Method, CliError> =>
  Effect.mapError(Planners.validateMethod(site, method, file), (e) => usage(e.message))

/**
 * What the planners need besides the site file.
 *
 * @since 0.1.0
 * @category models
 */
export type Inputs = Planners.Inputs

/**
 * Build the plan.
 *
 * @since 0.1.0
 * @category constructors
 */
export const plan = (
  site: Site.Site,
  target: string,
  method: Method,
  inputs: Inputs
): Effect.Effect<Plan.Plan, CliError> =>
  Effect.mapError(Planners.plan(site, target, method, inputs), (e) => usage(e.message))

/**
 * Configuration of the step handlers (secrets resolved by the caller).
 *
 * @since 0.1.0
 * @category models
 */
export type HandlerConfig = Planners.HandlerConfig

/**
 * The step handlers every plan of this command may use, over the appliance port.
 *
 * @since 0.1.0
 * @category layers
 */
export const handlers: typeof Planners.handlers = Planners.handlers

/**
 * Compress the time of a plan by `scale` for a simulator (see `Planners.compress` of `@sra-upgrade/failover`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const compress: typeof Planners.compress = Planners.compress
