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

/**
 * @since 0.3.0
 */
export * as Engine from "./Engine.js"

/**
 * @since 0.3.0
 */
export * as EngineLayer from "./EngineLayer.js"

/**
 * @since 0.3.0
 */
export * as FleetStore from "./FleetStore.js"

/**
 * @since 0.3.0
 */
export * as SiteWorker from "./SiteWorker.js"

/**
 * @since 0.3.0
 */
export * as SqlJournal from "./SqlJournal.js"

/**
 * @since 0.3.0
 */
export * as SiteGates from "./SiteGates.js"

/**
 * @since 0.3.0
 */
export * as StorageHealth from "./StorageHealth.js"
