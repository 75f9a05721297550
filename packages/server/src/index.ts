/**
 * @since 0.3.0
 */
export * as Api from "./Api.js"

/**
 * @since 0.3.0
 */
export * as Auth from "./Auth.js"

/**
 * @since 0.3.0
 */
export * as Policy from "./Policy.js"

/**
 * @since 0.3.0
 */
export * as Approvals from "./Approvals.js"

/**
 * @since 0.3.0
 */
export * as Events from "./Events.js"

/**
 * @since 0.3.0
 */
export * as Fleet from "./Fleet.js"

/**
 * @since 0.3.0
 */
export * as Gates from "./Gates.js"

/**
 * @since 0.3.0
 */
export * as Runs from "./Runs.js"

/**
 * @since 0.3.0
 */
export * as Sites from "./Sites.js"

/**
 * @since 0.3.0
 */
export * as Webhooks from "./Webhooks.js"

/**
 * @since 0.3.0
 */
export * as Page from "./Page.js"

/**
 * @since 0.3.0
 */
export * as Server from "./Server.js"

/**
 * @since 0.3.0
 */
export * as Client from "./Client.js"
