/**
 * Fault switches for tests of the whole system (the crash matrix): each one
 * breaks a safety property on purpose, so that a test can show it notices.
 * Read here and nowhere else. TEST-ONLY: never set them for a real run.
 *
 * - `SRA_UPGRADE_FAULT_REVERIFY_OFF=1`: a step that was in flight when the
 *   process stopped is not re-verified on resume; it is taken as "did not
 *   take effect" and runs again (an install killed after it started is
 *   started a second time). The non-idempotent steps of the single and pair
 *   plans are manual gates, which are asked again rather than re-verified, so
 *   this switch changes nothing there (docs/crash-matrix.md).
 * - `SRA_UPGRADE_FAULT_OBSERVER_OFF_ON_RESUME=1`: a resume does not probe the
 *   site (the regression issue 15 fixed): the report's availability stops at
 *   the kill.
 *
 * @internal
 */

const env = (name: string): string | undefined =>
  (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name]

/** `SRA_UPGRADE_FAULT_REVERIFY_OFF=1`: skip re-verification of in-flight steps on resume (test-only). @internal */
export const reverifyOff = (): boolean => env("SRA_UPGRADE_FAULT_REVERIFY_OFF") === "1"

/** `SRA_UPGRADE_FAULT_OBSERVER_OFF_ON_RESUME=1`: a resume runs no `RunObserver` (test-only). @internal */
export const observerOffOnResume = (): boolean => env("SRA_UPGRADE_FAULT_OBSERVER_OFF_ON_RESUME") === "1"
