/**
 * @since 0.1.0
 */
export * as ApplianceApi from "./ApplianceApi.js"

/**
 * @since 0.1.0
 */
export * as ApplianceError from "./ApplianceError.js"

/**
 * @since 0.1.0
 */
export * as BackupArtifact from "./BackupArtifact.js"

/**
 * @since 0.1.0
 */
export * as MaintenanceWindow from "./MaintenanceWindow.js"

/**
 * @since 0.1.0
 */
export * as Plan from "./Plan.js"
