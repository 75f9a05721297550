/**
 * Test doubles: the in-memory `ApplianceApi` now lives beside the port, in
 * `@sra-upgrade/core/test`; this entry re-exports it so existing imports keep
 * working. Import it from `@sra-upgrade/core/test` in new code.
 *
 * @since 0.1.0
 */
export {
  /**
   * @since 0.1.0
   */
  FakeAppliance
} from "@sra-upgrade/core/test"
