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

/**
 * @since 0.1.0
 */
export * as Executor from "./Executor.js"

/**
 * @since 0.1.0
 */
export * as Journal from "./Journal.js"

/**
 * @since 0.1.0
 */
export * as Operator from "./Operator.js"

/**
 * @since 0.1.0
 */
export * as RunEvent from "./RunEvent.js"

/**
 * @since 0.1.0
 */
export * as RunReport from "./RunReport.js"

/**
 * @since 0.1.0
 */
export * as RunState from "./RunState.js"

/**
 * @since 0.1.0
 */
export * as StepHandler from "./StepHandler.js"

/**
 * @since 0.3.0
 */
export * as StepDef from "./StepDef.js"

/**
 * @since 0.3.0
 */
export * as GateEvidence from "./GateEvidence.js"

/**
 * @since 0.3.0
 */
export * as RunHistory from "./RunHistory.js"

/**
 * @since 0.1.0
 */
export * as ClientUpdatePolicy from "./ClientUpdatePolicy.js"

/**
 * @since 0.1.0
 */
export * as JumpClientRollout from "./JumpClientRollout.js"

/**
 * @since 0.1.0
 */
export * as Site from "./Site.js"

/**
 * @since 0.1.0
 */
export * as UpdatePackage from "./UpdatePackage.js"

/**
 * @since 0.1.0
 */
export * as Version from "./Version.js"

/**
 * @since 0.1.0
 */
export * as SingleUpgrade from "./SingleUpgrade.js"

/**
 * @since 0.1.0
 */
export * as CoreHandlers from "./CoreHandlers.js"

/**
 * @since 0.3.0
 */
export * as CoreSteps from "./CoreSteps.js"

/**
 * @since 0.1.0
 */
export * as Rehearsal from "./Rehearsal.js"

/**
 * @since 0.3.0
 */
export * as Availability from "./Availability.js"

/**
 * @since 0.3.0
 */
export * as RunObserver from "./RunObserver.js"

/**
 * @since 0.3.0
 */
export * as ReportFormat from "./ReportFormat.js"

/**
 * @since 0.3.0
 */
export * as ProcessLock from "./ProcessLock.js"
