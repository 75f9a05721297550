/**
 * Test helpers of `@sra-upgrade/fleet`: a throwaway PostgreSQL server started
 * from the machine's binaries, for tests of the distributed engine; synthetic
 * rollouts (sites, plans, a worker counting installs); and the helpers that
 * make `EngineLayer.memory` deterministic under `TestClock`.
 *
 * @since 0.3.0
 */
export * as TestPostgres from "./TestPostgres.js"

/**
 * @since 0.3.0
 */
export * as TestRollout from "./TestRollout.js"

/**
 * @since 0.3.0
 */
export * as TestEngine from "./TestEngine.js"
