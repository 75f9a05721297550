/**
 * Building `ApplianceError`s at the adapter edge: a reason and a hint that
 * says what a person should do next. Only non-secret values are used
 * (appliance id, base URL, client id, operation).
 *
 * @internal
 */
import { ApplianceError } from "@sra-upgrade/core"
import type { SettingNames } from "../ApplianceClient.js"

/** The permission each operation needs (named in Forbidden errors). @internal */
export const permissions: Record<string, string> = {
  health: "perm_command (read_only)",
  apiInfo: "perm_command (read_only)",
  loggedInUsers: "perm_command (read_only)",
  connectedClients: "perm_command (read_only)",
  setFailoverRole: "perm_command (full_access)",
  downloadBackup: "perm_backup",
  jumpClients: "perm_configuration",
  jumpoints: "perm_configuration"
}

/** How hints name the settings when the caller says nothing: the fields of `ApplianceClient.Connection`. @internal */
export const defaultNames: SettingNames = {
  baseUrl: "baseUrl",
  credentials: "clientId and clientSecret",
  pin: "tls.pinSha256",
  caBundle: "tls.caPem",
  timeout: "timeoutMillis",
  backupDirectory: "the backup request's directory",
  connections: "the ApplianceClient layer"
}

/** @internal */
export interface Who {
  readonly id: string
  readonly baseUrl: string
  readonly clientId: string
  readonly pinned: boolean
  /** What the person who configured this connection edits, as they know it (default {@link defaultNames}). */
  readonly names?: SettingNames | undefined
}

/** @internal */
export const hint = (who: Who, operation: string, reason: ApplianceError.ApplianceErrorReason): string => {
  const account = `API account "${who.clientId}"`
  const names = who.names ?? defaultNames
  switch (reason._tag) {
    case "Unauthorized":
      return `Check the client id and secret of ${account} (${names.credentials}) against /login > Management > API Configuration ("Enable XML API" on); regenerating the secret or disabling the account invalidates its tokens.`
    case "Forbidden":
      return reason.permission
        ? `Enable ${reason.permission} for ${account} in /login > Management > API Configuration, then retry.`
        : `Grant ${account} the permission needed for ${operation} in /login > Management > API Configuration.`
    case "NotFound":
      return `${who.baseUrl} does not offer ${operation}: check ${names.baseUrl} and that the appliance runs a version with this API.`
    case "RateLimited":
      return `The vendor allows 20 requests/s and 15,000/hour per API account; another tool may share ${account}. Wait${reason.retryAfterSeconds !== undefined ? ` ${reason.retryAfterSeconds}s` : ""} and retry, or give this tool its own API account.`
    case "Timeout":
      return operation === "setFailoverRole"
        ? `The role change may or may not have happened: read the failover role with health before trying again (never resend blindly).`
        : `Check that ${who.baseUrl} is reachable from this machine and responsive${names.timeout !== null ? `, or raise ${names.timeout}` : ""}.`
    case "Transport":
      return operation === "setFailoverRole"
        ? `The role change may or may not have happened: read the failover role with health before trying again (never resend blindly).`
        : `Check the address, port, DNS and firewall between this machine and ${who.baseUrl} (${names.baseUrl}).`
    case "TlsMismatch":
      return who.pinned
        ? `If the appliance certificate was replaced on purpose, set ${names.pin} to the fingerprint seen after checking it on the appliance (/appliance > Security > Certificates); otherwise stop: something may be intercepting the connection.`
        : `The certificate is not trusted: set ${names.caBundle} to the CA bundle that issued it, or pin it with ${names.pin}${reason.seen ? ` (seen ${reason.seen}, verify it on the appliance first)` : ""}.`
    case "Decode":
      return `${who.baseUrl} answered something this client does not understand: check that ${names.baseUrl} points at an SRA appliance (not a proxy or login page) and report the excerpt if it does.`
    case "ApplianceRefused":
      return `Read the appliance's message above and fix the cause on the appliance (/login), then retry.`
    case "LocalIo":
      return localIoHint(reason, names)
    case "NotConfigured":
      return `Add a connection for appliance "${who.id}" to ${names.connections}.`
  }
}

const localIoHint = (reason: ApplianceError.LocalIo, names: SettingNames): string => {
  const elsewhere = `choose another backup directory (${names.backupDirectory})`
  switch (reason.code) {
    case "STALLED":
      return `The disk or network share holding ${reason.path} stopped answering: check it (mount, health, free space), then retry, or ${elsewhere}.`
    case "ENOSPC":
    case "EDQUOT":
      return `Free space in ${reason.path} or ${elsewhere}, then retry.`
    case "EACCES":
    case "EPERM":
    case "EROFS":
      return `Make ${reason.path} writable by the user running this tool, or ${elsewhere}, then retry.`
    default:
      return `Check that ${reason.path} is a writable directory on a healthy disk, then retry, or ${elsewhere}.`
  }
}

/** @internal */
export const make = (
  who: Who,
  operation: string,
  reason: ApplianceError.ApplianceErrorReason
): ApplianceError.ApplianceError =>
  new ApplianceError.ApplianceError({ appliance: who.id, operation, reason, hint: hint(who, operation, reason) })

/** Whether a failed idempotent read is worth another try. @internal */
export const isTransient = (error: ApplianceError.ApplianceError): boolean => {
  switch (error.reason._tag) {
    case "Transport":
    case "Timeout":
    case "RateLimited":
      return true
    case "ApplianceRefused":
      return error.reason.status === 502 || error.reason.status === 503 || error.reason.status === 504
    default:
      return false
  }
}

/** Keeps an excerpt short and free of secrets. @internal */
export const excerpt = (text: string, secrets: ReadonlyArray<string>, max = 200): string => {
  let t = text.length > max * 4 ? text.slice(0, max * 4) : text
  for (const s of secrets) if (s.length >= 4) t = t.split(s).join("<redacted>")
  // eslint-disable-next-line no-control-regex
  t = t.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\ufffd]/g, "?").replace(/\s+/g, " ")
  return t.length > max ? `${t.slice(0, max)}…` : t
}
