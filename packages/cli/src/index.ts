/**
 * @since 0.1.0
 */
export * as Cli from "./Cli.js"

/**
 * @since 0.1.0
 */
export * as CliError from "./CliError.js"

/**
 * @since 0.1.0
 */
export * as Demo from "./Demo.js"

/**
 * @since 0.1.0
 */
export * as Gates from "./Gates.js"

/**
 * @since 0.1.0
 */
export * as Planners from "./Planners.js"

/**
 * @since 0.1.0
 */
export * as Progress from "./Progress.js"

/**
 * @since 0.1.0
 */
export * as Rehearse from "./Rehearse.js"

/**
 * @since 0.1.0
 */
export * as Report from "./Report.js"

/**
 * @since 0.1.0
 */
export * as SiteConnections from "./SiteConnections.js"
