/**
 * @since 0.1.0
 */
export * as ApplianceClient from "./ApplianceClient.js"
