/**
 * Test doubles of `@sra-upgrade/appliance-client`: an in-memory
 * `ApplianceApi` for unit tests of plans, without sockets.
 *
 * @since 0.1.0
 */
export * as FakeAppliance from "./FakeAppliance.js"
