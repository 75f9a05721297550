/**
 * @since 0.1.0
 */
export * as ApplianceClient from "./ApplianceClient.js"

/**
 * @since 0.3.0
 */
export * as SiteConnections from "./SiteConnections.js"
