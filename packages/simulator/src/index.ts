/**
 * @since 0.1.0
 */
export * as SimConfig from "./SimConfig.js"

/**
 * @since 0.1.0
 */
export * as Simulator from "./Simulator.js"

/**
 * @since 0.1.0
 */
export * as SimOperator from "./SimOperator.js"

/**
 * @since 0.1.0
 */
export * as Seed from "./Seed.js"

/**
 * @since 0.1.0
 */
export * as MigrationOperator from "./MigrationOperator.js"

/**
 * @since 0.3.0
 */
export * as SimActions from "./SimActions.js"

/**
 * @since 0.3.0
 */
export * as SimControl from "./SimControl.js"

/**
 * @since 0.3.0
 */
export * as SiteFile from "./SiteFile.js"
