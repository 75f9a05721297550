/**
 * @since 0.1.0
 */
export * as MigrationPlan from "./MigrationPlan.js"

/**
 * @since 0.3.0
 */
export * as MigrationSteps from "./MigrationSteps.js"

/**
 * @since 0.1.0
 */
export * as MigrationHandlers from "./MigrationHandlers.js"
