/**
 * The one error of the certificates package. A `reason` a program can match,
 * an `operation` naming what was attempted, and a message that tells a person
 * what to do next. It never holds a passphrase or key material.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The input is not a certificate, key or bundle we can read.
 *
 * @since 0.1.0
 * @category models
 */
export class Malformed extends Schema.TaggedClass<Malformed>()("Malformed", {
  what: Schema.Literal("certificate", "private key", "bundle"),
  detail: Schema.String
}) {}

/**
 * The input held no certificate at all.
 *
 * @since 0.1.0
 * @category models
 */
export class NoCertificate extends Schema.TaggedClass<NoCertificate>()("NoCertificate", {}) {}

/**
 * The input held no private key.
 *
 * @since 0.1.0
 * @category models
 */
export class NoPrivateKey extends Schema.TaggedClass<NoPrivateKey>()("NoPrivateKey", {}) {}

/**
 * The private key is encrypted and no passphrase was given.
 *
 * @since 0.1.0
 * @category models
 */
export class PassphraseRequired extends Schema.TaggedClass<PassphraseRequired>()("PassphraseRequired", {}) {}

/**
 * The passphrase does not decrypt the private key.
 *
 * @since 0.1.0
 * @category models
 */
export class WrongPassphrase extends Schema.TaggedClass<WrongPassphrase>()("WrongPassphrase", {}) {}

/**
 * A private key would be written, or was found, without encryption.
 *
 * @since 0.1.0
 * @category models
 */
export class UnencryptedKey extends Schema.TaggedClass<UnencryptedKey>()("UnencryptedKey", {}) {}

/**
 * The private key does not belong to the leaf certificate.
 *
 * @since 0.1.0
 * @category models
 */
export class KeyMismatch extends Schema.TaggedClass<KeyMismatch>()("KeyMismatch", {
  leafSha256: Schema.String
}) {}

/**
 * The chain has a blocking finding and the operation refuses to go on.
 *
 * @since 0.1.0
 * @category models
 */
export class ChainRejected extends Schema.TaggedClass<ChainRejected>()("ChainRejected", {
  codes: Schema.Array(Schema.String),
  details: Schema.Array(Schema.String)
}) {}

/**
 * No certificate may be chosen as the default for the site (MIGRATE-5).
 *
 * @since 0.1.0
 * @category models
 */
export class NoAcceptableDefault extends Schema.TaggedClass<NoAcceptableDefault>()("NoAcceptableDefault", {
  siteFqdn: Schema.String,
  best: Schema.optional(Schema.String),
  details: Schema.Array(Schema.String)
}) {}

/**
 * A file could not be read or written.
 *
 * @since 0.1.0
 * @category models
 */
export class Io extends Schema.TaggedClass<Io>()("Io", {
  path: Schema.String,
  code: Schema.optional(Schema.String)
}) {}

/**
 * The TLS connection failed before a certificate was seen.
 *
 * @since 0.1.0
 * @category models
 */
export class Connect extends Schema.TaggedClass<Connect>()("Connect", {
  address: Schema.String,
  code: Schema.optional(Schema.String)
}) {}

/**
 * The TLS handshake did not finish in time.
 *
 * @since 0.1.0
 * @category models
 */
export class Timeout extends Schema.TaggedClass<Timeout>()("Timeout", {
  address: Schema.String,
  afterMillis: Schema.Number
}) {}

/**
 * Why a certificate operation failed.
 *
 * @since 0.1.0
 * @category models
 */
export const CertificateErrorReason = Schema.Union(
  Malformed,
  NoCertificate,
  NoPrivateKey,
  PassphraseRequired,
  WrongPassphrase,
  UnencryptedKey,
  KeyMismatch,
  ChainRejected,
  NoAcceptableDefault,
  Io,
  Connect,
  Timeout
)

/**
 * @since 0.1.0
 * @category models
 */
export type CertificateErrorReason = typeof CertificateErrorReason.Type

/**
 * A failed certificate operation (`operation` names it, e.g. `importBundle`).
 *
 * @since 0.1.0
 * @category errors
 */
export class CertificateError extends Schema.TaggedError<CertificateError>(
  "@sra-upgrade/certificates/CertificateError"
)("CertificateError", {
  operation: Schema.String,
  reason: CertificateErrorReason
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `${this.operation}: ${describe(this.reason)}`
  }
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (operation: string, reason: CertificateErrorReason): CertificateError =>
  new CertificateError({ operation, reason })

const describe = (reason: CertificateErrorReason): string => {
  switch (reason._tag) {
    case "Malformed":
      return `the ${reason.what} could not be read (${reason.detail}). Check that the file is PEM or DER and not truncated.`
    case "NoCertificate":
      return "no certificate was found. Give a PEM or DER file that contains the certificate chain."
    case "NoPrivateKey":
      return "no private key was found. Export the certificate again with its private key included (PREP-2, MIGRATE-3)."
    case "PassphraseRequired":
      return "the private key is encrypted. Give the passphrase that was set when it was exported."
    case "WrongPassphrase":
      return "the passphrase does not decrypt the private key. Check the passphrase (it is case-sensitive) and try again."
    case "UnencryptedKey":
      return "refusing an unencrypted private key. Give a non-empty passphrase so the key is stored encrypted."
    case "KeyMismatch":
      return `the private key does not belong to the leaf certificate (SHA-256 ${reason.leafSha256}). Export the key that was generated with this certificate.`
    case "ChainRejected":
      return `the chain has blocking findings (${reason.codes.join(", ")}): ${reason.details.join(" ")}`
    case "NoAcceptableDefault":
      return `no certificate can be the default for ${reason.siteFqdn}${reason.best ? ` (best candidate: ${reason.best})` : ""}. ${reason.details.join(" ")} Fix or replace the certificate, or escalate to vendor support (MIGRATE-5).`
    case "Io":
      return `file ${reason.path} could not be used${reason.code ? ` (${reason.code})` : ""}. Check the path and its permissions.`
    case "Connect":
      return `could not complete a TLS connection to ${reason.address}${reason.code ? ` (${reason.code})` : ""}. Check the address, the port and that the appliance is up.`
    case "Timeout":
      return `no TLS handshake with ${reason.address} within ${reason.afterMillis} ms. Check the network path and retry.`
  }
}
