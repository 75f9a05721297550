/**
 * @since 0.3.0
 */
export * as Admission from "./Admission.js"

/**
 * @since 0.3.0
 */
export * as FleetFile from "./FleetFile.js"

/**
 * @since 0.3.0
 */
export * as Rollout from "./Rollout.js"

/**
 * @since 0.3.0
 */
export * as SiteWindow from "./SiteWindow.js"
