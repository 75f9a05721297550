/**
 * Test doubles: the in-memory `ApplianceApi` now lives beside the port, in
 * `@sra-upgrade/core/test`; this entry re-exports it so existing imports keep
 * working. Deprecated: import it from `@sra-upgrade/core/test`.
 *
 * @since 0.1.0
 */
export {
  /**
   * @deprecated Import `FakeAppliance` from `@sra-upgrade/core/test`; this re-export will be removed.
   * @since 0.1.0
   */
  FakeAppliance
} from "@sra-upgrade/core/test"
