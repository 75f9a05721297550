/**
 * Test doubles of `@sra-upgrade/core`: an in-memory `ApplianceApi` (the
 * port's fake, kept beside it) for unit tests of plans, handlers and steps
 * of your own, without sockets.
 *
 * @since 0.3.0
 */
export * as FakeAppliance from "./FakeAppliance.js"
