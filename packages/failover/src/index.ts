/**
 * @since 0.1.0
 */
export * as FailoverHandlers from "./FailoverHandlers.js"

/**
 * @since 0.3.0
 */
export * as FailoverSteps from "./FailoverSteps.js"

/**
 * @since 0.1.0
 */
export * as Pair from "./Pair.js"

/**
 * @since 0.1.0
 */
export * as PairPlan from "./PairPlan.js"

/**
 * @since 0.1.0
 */
export * as Relationship from "./Relationship.js"

/**
 * @since 0.1.0
 */
export * as SiteProber from "./SiteProber.js"

/**
 * @since 0.1.0
 */
export * as TrafficSwitch from "./TrafficSwitch.js"

/**
 * @since 0.3.0
 */
export * as Planners from "./Planners.js"
