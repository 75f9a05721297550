/**
 * The one error of the `ApplianceApi` port. Every transport, HTTP, TLS and
 * decoding failure is mapped to it at the adapter edge, with a `reason` that
 * a program can match and a message that tells a person what to do next.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The token was refused or expired and one re-authentication did not help.
 *
 * @since 0.1.0
 * @category models
 */
export class Unauthorized extends Schema.TaggedClass<Unauthorized>()("Unauthorized", {}) {}

/**
 * The API account lacks a permission (named when known, e.g. `perm_backup`).
 *
 * @since 0.1.0
 * @category models
 */
export class Forbidden extends Schema.TaggedClass<Forbidden>()("Forbidden", {
  permission: Schema.optional(Schema.String)
}) {}

/**
 * The path or object does not exist on this appliance (or this product/version).
 *
 * @since 0.1.0
 * @category models
 */
export class NotFound extends Schema.TaggedClass<NotFound>()("NotFound", {}) {}

/**
 * The vendor's rate limit (20 req/s, 15,000/h per account) was hit.
 *
 * @since 0.1.0
 * @category models
 */
export class RateLimited extends Schema.TaggedClass<RateLimited>()("RateLimited", {
  retryAfterSeconds: Schema.optional(Schema.Number)
}) {}

/**
 * No answer within the configured time.
 *
 * @since 0.1.0
 * @category models
 */
export class Timeout extends Schema.TaggedClass<Timeout>()("Timeout", {
  afterMillis: Schema.Number
}) {}

/**
 * The connection failed (refused, reset, DNS, cut mid-body).
 *
 * @since 0.1.0
 * @category models
 */
export class Transport extends Schema.TaggedClass<Transport>()("Transport", {
  code: Schema.optional(Schema.String)
}) {}

/**
 * The appliance served a certificate whose SHA-256 differs from the pin, or
 * one not issued by the configured CA.
 *
 * @since 0.1.0
 * @category models
 */
export class TlsMismatch extends Schema.TaggedClass<TlsMismatch>()("TlsMismatch", {
  expected: Schema.optional(Schema.String),
  seen: Schema.optional(Schema.String)
}) {}

/**
 * The response did not have the documented shape.
 *
 * @since 0.1.0
 * @category models
 */
export class Decode extends Schema.TaggedClass<Decode>()("Decode", {
  path: Schema.String,
  excerpt: Schema.String
}) {}

/**
 * The appliance answered with an application error (`<error>` element or a
 * JSON `message`).
 *
 * @since 0.1.0
 * @category models
 */
export class ApplianceRefused extends Schema.TaggedClass<ApplianceRefused>()("ApplianceRefused", {
  applianceMessage: Schema.String,
  status: Schema.optional(Schema.Number)
}) {}

/**
 * The backup could not be written on this machine: `code` is the system's
 * error code (`ENOSPC`, `EACCES`, `ENOTDIR`…) or `STALLED` when no write to
 * `path` finished for `afterMillis` (a disk or network share that stopped
 * answering).
 *
 * @since 0.1.0
 * @category models
 */
export class LocalIo extends Schema.TaggedClass<LocalIo>()("LocalIo", {
  path: Schema.String,
  code: Schema.String,
  afterMillis: Schema.optional(Schema.Number)
}) {}

/**
 * The run refers to an appliance that no layer was configured for.
 *
 * @since 0.1.0
 * @category models
 */
export class NotConfigured extends Schema.TaggedClass<NotConfigured>()("NotConfigured", {}) {}

/**
 * Why an appliance call failed.
 *
 * @since 0.1.0
 * @category models
 */
export const ApplianceErrorReason = Schema.Union(
  Unauthorized,
  Forbidden,
  NotFound,
  RateLimited,
  Timeout,
  Transport,
  TlsMismatch,
  Decode,
  ApplianceRefused,
  LocalIo,
  NotConfigured
)

/**
 * @since 0.1.0
 * @category models
 */
export type ApplianceErrorReason = typeof ApplianceErrorReason.Type

/**
 * A failed call to an appliance. `appliance` names the appliance (id or
 * address), `operation` the call, `hint` what a person should do next.
 * Never contains a secret: adapters build it from redacted values only.
 *
 * @since 0.1.0
 * @category errors
 */
export class ApplianceError extends Schema.TaggedError<ApplianceError>("@sra-upgrade/core/ApplianceError")(
  "ApplianceError",
  {
    appliance: Schema.String,
    operation: Schema.String,
    reason: ApplianceErrorReason,
    hint: Schema.String
  }
) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `${this.appliance}: ${this.operation} failed (${describeReason(this.reason)}). ${this.hint}`
  }
}

const describeReason = (reason: ApplianceErrorReason): string => {
  switch (reason._tag) {
    case "Forbidden":
      return reason.permission ? `forbidden: missing ${reason.permission}` : "forbidden"
    case "RateLimited":
      return reason.retryAfterSeconds !== undefined
        ? `rate limited, retry after ${reason.retryAfterSeconds}s`
        : "rate limited"
    case "Timeout":
      return `timed out after ${reason.afterMillis} ms`
    case "Transport":
      return reason.code ? `connection failed: ${reason.code}` : "connection failed"
    case "TlsMismatch":
      return `TLS certificate mismatch: expected ${reason.expected ?? "a trusted certificate"}, saw ${reason.seen ?? "an untrusted one"}`
    case "Decode":
      return `unexpected response at ${reason.path}: ${reason.excerpt}`
    case "ApplianceRefused":
      return `appliance said: ${reason.applianceMessage}`
    case "Unauthorized":
      return "unauthorized"
    case "NotFound":
      return "not found"
    case "LocalIo":
      return reason.code === "STALLED"
        ? `no write to ${reason.path} finished for ${reason.afterMillis ?? "?"} ms`
        : `cannot write in ${reason.path}: ${reason.code}`
    case "NotConfigured":
      return "no connection configured for this appliance"
  }
}
