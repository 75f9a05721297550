/**
 * A finding of a certificate check: a stable `code` a program can match, a
 * severity, and a message that says what to do. `blocking` findings stop an
 * upgrade step; `warning` findings are reported (and still block MIGRATE-5,
 * which wants a default certificate without warnings).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Every finding code. See docs/certificates.md for each one.
 *
 * @since 0.1.0
 * @category models
 */
export const Code = Schema.Literal(
  // chain shape
  "EmptyChain",
  "ChainOutOfOrder",
  "DuplicateCertificate",
  "UnrelatedCertificate",
  "IncompleteChain",
  "UntrustedRoot",
  "IssuerNotCa",
  "SignatureInvalid",
  // validity
  "Expired",
  "NotYetValid",
  "ExpiresBeforeWindowEnds",
  "NotYetValidAtWindow",
  "ExpiresSoon",
  // strength
  "WeakKey",
  "WeakSignatureAlgorithm",
  "UnknownSignatureAlgorithm",
  // key and names
  "KeyMismatch",
  "HostnameMismatch",
  "HostnameOnlyInCommonName",
  // TLS probe
  "ServedLeafMismatch",
  "ServedChainDiffers",
  // certificate store (CLIENT-3)
  "ClientsWillNotTrust",
  "TrustAnchorExpires",
  "IssuerUnavailable"
)

/**
 * @since 0.1.0
 * @category models
 */
export type Code = typeof Code.Type

/**
 * @since 0.1.0
 * @category models
 */
export const Severity = Schema.Literal("blocking", "warning")

/**
 * @since 0.1.0
 * @category models
 */
export type Severity = typeof Severity.Type

/**
 * @since 0.1.0
 * @category models
 */
export class Finding extends Schema.Class<Finding>("@sra-upgrade/certificates/Finding")({
  code: Code,
  severity: Severity,
  message: Schema.String,
  /** SHA-256 of the certificate concerned, when there is one. */
  certificate: Schema.optional(Schema.String)
}) {}

/**
 * @since 0.1.0
 * @category constructors
 */
export const blocking = (code: Code, message: string, certificate?: string): Finding =>
  new Finding(
    certificate === undefined
      ? { code, severity: "blocking", message }
      : { code, severity: "blocking", message, certificate }
  )

/**
 * @since 0.1.0
 * @category constructors
 */
export const warning = (code: Code, message: string, certificate?: string): Finding =>
  new Finding(
    certificate === undefined
      ? { code, severity: "warning", message }
      : { code, severity: "warning", message, certificate }
  )

/**
 * Whether any finding blocks.
 *
 * @since 0.1.0
 * @category combinators
 */
export const hasBlocking = (findings: ReadonlyArray<Finding>): boolean =>
  findings.some((f) => f.severity === "blocking")
