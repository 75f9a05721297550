/**
 * Wire formats of the vendor API (JSON through Schema, XML through
 * `./xml.ts`) and their mapping to core's domain types.
 *
 * @internal
 */
import { ApplianceApi } from "@sra-upgrade/core"
import * as Schema from "effect/Schema"
import * as Xml from "./xml.js"

/** A decoding problem: where, and why. @internal */
export class WireError extends Error {
  constructor(
    readonly path: string,
    readonly why: string
  ) {
    super(`${path}: ${why}`)
  }
}

const NullableString = Schema.optional(Schema.NullOr(Schema.String))

/** @internal */
export const TokenResponse = Schema.Struct({
  access_token: Schema.String.pipe(Schema.minLength(1)),
  token_type: Schema.optional(Schema.String),
  expires_in: Schema.Number.pipe(Schema.positive())
})

/** The token answer as it arrives: JSON text. @internal */
export const TokenJson = Schema.parseJson(TokenResponse)

/** The `error` of a 401 answer (`access_denied`, `invalid_token`…), as JSON text. @internal */
export const AuthErrorJson = Schema.parseJson(Schema.Struct({ error: Schema.String }))

/** An application error of the JSON APIs: `message`, and `errors` when the appliance details them. @internal */
export const RefusalJson = Schema.parseJson(
  Schema.Struct({ message: Schema.String, errors: Schema.optional(Schema.Unknown) })
)

/** @internal */
export const HealthV2 = Schema.Struct({
  version: Schema.String,
  build: Schema.String,
  appliance_hostname: Schema.String,
  appliance_id: Schema.String,
  cluster_role: Schema.Literal("single", "primary", "traffic", "master"),
  failover_role: ApplianceApi.FailoverRole,
  enabled_shared_ips: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
  last_data_sync: Schema.optional(Schema.NullOr(Schema.Date)),
  last_data_sync_status: NullableString,
  message: NullableString
})

/** @internal */
export const HealthV2Json = Schema.parseJson(HealthV2)

/** @internal */
export const healthFromV2 = (h: typeof HealthV2.Type, healthy: boolean): ApplianceApi.Health =>
  new ApplianceApi.Health({
    applianceGuid: h.appliance_id,
    hostname: h.appliance_hostname,
    version: h.version,
    build: h.build,
    healthy,
    ...(h.message ? { errorMessage: h.message } : {}),
    clusterRole: h.cluster_role === "master" ? "primary" : h.cluster_role,
    failoverRole: h.failover_role,
    enabledSharedIps: h.enabled_shared_ips ?? [],
    ...(h.last_data_sync ? { lastDataSync: h.last_data_sync } : {}),
    ...(h.last_data_sync_status ? { lastDataSyncStatus: h.last_data_sync_status } : {}),
    source: "v2"
  })

/** @internal */
export const InfoV2 = Schema.Struct({
  permissions: Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Boolean) }),
  current_time: Schema.Date,
  command_api_version: NullableString,
  config_api_version: NullableString,
  backup_api_version: NullableString,
  product: Schema.optional(Schema.String)
})

/** @internal */
export const InfoV2Json = Schema.parseJson(InfoV2)

/** @internal */
export const infoFromV2 = (i: typeof InfoV2.Type, localTime: Date): ApplianceApi.ApiInfo =>
  new ApplianceApi.ApiInfo({
    product: i.product === "pra" || i.product === "rs" ? i.product : "unknown",
    permissions: i.permissions,
    serverTime: i.current_time,
    localTime,
    ...(i.command_api_version ? { commandApiVersion: i.command_api_version } : {}),
    ...(i.backup_api_version ? { backupApiVersion: i.backup_api_version } : {}),
    ...(i.config_api_version ? { configApiVersion: i.config_api_version } : {})
  })

/** @internal */
export const MessageJson = Schema.parseJson(Schema.Struct({ message: Schema.String }))

/** @internal */
export const UsersV2 = Schema.Array(
  Schema.Struct({
    id: Schema.Union(Schema.Number, Schema.String),
    type: Schema.String,
    display_name: Schema.String,
    logged_in_since: Schema.optional(Schema.NullOr(Schema.Date)),
    session_count: Schema.Number
  })
)

/** @internal */
export const UsersV2Json = Schema.parseJson(UsersV2)

/** @internal */
export const usersFromV2 = (users: typeof UsersV2.Type): ReadonlyArray<ApplianceApi.LoggedInUser> =>
  users.map(
    (u) =>
      new ApplianceApi.LoggedInUser({
        id: String(u.id),
        displayName: u.display_name,
        type: u.type,
        ...(u.logged_in_since ? { loggedInSince: u.logged_in_since } : {}),
        sessionCount: u.session_count
      })
  )

const OptionalDate = Schema.optional(Schema.NullOr(Schema.Date))

/** @internal */
export const JumpClientWire = Schema.Struct({
  id: Schema.Number,
  name: Schema.String,
  hostname: NullableString,
  jump_group_id: Schema.Number,
  connection_type: Schema.Literal("active", "passive", "uninstalled"),
  needs_update: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  is_lost: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  last_connect_timestamp: OptionalDate
})

/** One page of Jump Clients of the config API. @internal */
export const JumpClientsJson = Schema.parseJson(Schema.Array(JumpClientWire))

/** @internal */
export const jumpClientFromWire = (j: typeof JumpClientWire.Type): ApplianceApi.JumpClient =>
  new ApplianceApi.JumpClient({
    id: j.id,
    name: j.name,
    ...(j.hostname ? { hostname: j.hostname } : {}),
    jumpGroupId: j.jump_group_id,
    connectionType: j.connection_type,
    needsUpdate: j.needs_update,
    isLost: j.is_lost,
    ...(j.last_connect_timestamp ? { lastConnectTimestamp: j.last_connect_timestamp } : {})
  })

/** @internal */
export const JumpointWire = Schema.Struct({
  id: Schema.Number,
  name: Schema.String,
  platform: Schema.String,
  enabled: Schema.Boolean,
  connected: Schema.Boolean,
  clustered: Schema.Boolean
})

/** One page of Jumpoints of the config API. @internal */
export const JumpointsJson = Schema.parseJson(Schema.Array(JumpointWire))

/** @internal */
export const jumpointFromWire = (j: typeof JumpointWire.Type): ApplianceApi.Jumpoint => new ApplianceApi.Jumpoint(j)

// ---------------------------------------------------------------- XML (v1)

/** An `<error>` answer of the XML API. @internal */
export class XmlApplianceError extends Error {
  constructor(readonly applianceMessage: string) {
    super(applianceMessage)
  }
}

/** Parses a v1 document, expects `root` and surfaces `<error>` answers. @internal */
export const xmlDocument = (text: string, root: string | ReadonlyArray<string>): Xml.XmlNode => {
  let doc: { readonly root: string; readonly node: Xml.XmlNode }
  try {
    doc = Xml.parse(text)
  } catch (e) {
    throw new WireError("(document)", e instanceof Error ? e.message : String(e))
  }
  if (doc.root === "error") throw new XmlApplianceError(Xml.text(doc.node) ?? "error")
  const error = Xml.child(doc.node, "error")
  if (error !== undefined) throw new XmlApplianceError(Xml.text(error) ?? "error")
  const roots = typeof root === "string" ? [root] : root
  if (!roots.includes(doc.root)) throw new WireError("(root)", `expected <${roots.join("> or <")}>, got <${doc.root}>`)
  return doc.node
}

const required = (node: Xml.XmlNode, name: string, path: string): string => {
  const value = Xml.text(Xml.child(node, name))
  if (value === undefined) throw new WireError(`${path}.${name}`, "missing element")
  return value
}

const dateFrom = (value: Xml.XmlValue | undefined): Date | undefined => {
  if (value === undefined) return undefined
  const ts = Xml.attr(value, "ts")
  if (ts !== undefined && /^\d+(\.\d+)?$/.test(ts)) return new Date(Number(ts) * 1000)
  const t = Xml.text(value)
  if (!t) return undefined
  const d = /^\d+$/.test(t) ? new Date(Number(t) * 1000) : new Date(t.replace(/([+-]\d\d)(\d\d)$/, "$1:$2"))
  return Number.isNaN(d.getTime()) ? undefined : d
}

/** `19.1.8 (37380-749b…)` → version + build. @internal */
export const splitVersion = (raw: string): { readonly version: string; readonly build: string } => {
  const m = /^\s*(\S+)\s*\(([^)]*)\)\s*$/.exec(raw)
  return m ? { version: m[1]!, build: m[2]! } : { version: raw.trim(), build: "" }
}

const failoverRole = (raw: string, path: string): ApplianceApi.FailoverRole => {
  if (raw === "none" || raw === "primary" || raw === "backup") return raw
  throw new WireError(path, `unknown failover role ${JSON.stringify(raw.slice(0, 40))}`)
}

/** `check_health` → Health. @internal */
export const healthFromV1 = (text: string): ApplianceApi.Health => {
  const node = xmlDocument(text, "health_check")
  const appliance = Xml.child(node, "appliance")
  if (appliance === undefined) throw new WireError("health_check.appliance", "missing element")
  const { build, version } = splitVersion(required(node, "version", "health_check"))
  const success = required(node, "success", "health_check")
  if (success !== "1" && success !== "0") throw new WireError("health_check.success", `expected 1 or 0`)
  const errorMessage = Xml.text(Xml.child(node, "error_message"))
  const ips = Xml.all(Xml.child(Xml.child(node, "enabled_shared_ips"), "ip"))
    .map((ip) => Xml.text(ip) ?? "")
    .filter((s) => s !== "")
  const lastDataSync = dateFrom(Xml.child(node, "last_data_sync_time"))
  const lastDataSyncStatus = Xml.text(Xml.child(node, "last_data_sync_status"))
  return new ApplianceApi.Health({
    applianceGuid: Xml.attr(appliance, "id") ?? "",
    hostname: Xml.text(appliance) ?? "",
    version,
    build,
    healthy: success === "1",
    ...(errorMessage ? { errorMessage } : {}),
    failoverRole: failoverRole(required(node, "failover_role", "health_check"), "health_check.failover_role"),
    enabledSharedIps: ips,
    ...(lastDataSync ? { lastDataSync } : {}),
    ...(lastDataSyncStatus ? { lastDataSyncStatus } : {}),
    source: "v1"
  })
}

/** `get_api_info` → ApiInfo. @internal */
export const infoFromV1 = (text: string, localTime: Date): ApplianceApi.ApiInfo => {
  const node = xmlDocument(text, "api_information")
  const ts = required(node, "timestamp", "api_information")
  if (!/^\d+$/.test(ts)) throw new WireError("api_information.timestamp", "expected Unix seconds")
  const permissions: Record<string, string | boolean> = {}
  for (const p of Xml.all(Xml.child(Xml.child(node, "permissions"), "permission"))) {
    const name = Xml.attr(p, "name")
    const value = Xml.text(p) ?? ""
    if (name === undefined) continue
    permissions[name] = value === "1" ? true : value === "0" ? false : value
  }
  const apiVersion = Xml.text(Xml.child(node, "api_version"))
  return new ApplianceApi.ApiInfo({
    product: "unknown",
    permissions,
    serverTime: new Date(Number(ts) * 1000),
    localTime,
    ...(apiVersion ? { commandApiVersion: apiVersion } : {})
  })
}

/** `get_logged_in_reps` → users. @internal */
export const usersFromV1 = (text: string): ReadonlyArray<ApplianceApi.LoggedInUser> => {
  const node = xmlDocument(text, "logged_in_reps")
  return Xml.all(Xml.child(node, "rep")).map((rep, i) => {
    const r = Xml.toNode(rep)
    const id = Xml.attr(rep, "id")
    if (id === undefined) throw new WireError(`logged_in_reps.rep[${i}]@id`, "missing attribute")
    const name =
      Xml.text(Xml.child(r, "public_display_name")) ??
      Xml.text(Xml.child(r, "display_name")) ??
      Xml.text(Xml.child(r, "private_display_name")) ??
      ""
    const count = (n: string) => {
      const t = Xml.text(Xml.child(r, n))
      return t !== undefined && /^\d+$/.test(t) ? Number(t) : 0
    }
    const since = dateFrom(Xml.child(r, "logged_in_since"))
    return new ApplianceApi.LoggedInUser({
      id,
      displayName: name,
      type: Xml.text(Xml.child(r, "type")) ?? "unknown",
      ...(since ? { loggedInSince: since } : {}),
      sessionCount: count("support_session_count") + count("presentation_count")
    })
  })
}

/** `get_connected_client_list summary_only=1` → counts by type (summed over appliances). @internal */
export const connectedClientsFromV1 = (text: string): ApplianceApi.ConnectedClientSummary => {
  const node = xmlDocument(text, "connected_client_list")
  const counts: Record<string, number> = {}
  const visit = (value: Xml.XmlValue | undefined, depth: number): void => {
    if (value === undefined || typeof value === "string" || depth > 8) return
    if (Array.isArray(value)) return value.forEach((v) => visit(v, depth))
    for (const [key, v] of Object.entries(value as Xml.XmlNode)) {
      if (key.startsWith("@_") || key === "#text") continue
      if (key === "count") {
        for (const c of Xml.all(v)) {
          const type = Xml.attr(c, "type")
          const n = Xml.text(c) ?? ""
          if (type === undefined) continue
          if (!/^\d+$/.test(n)) throw new WireError(`count[type=${type}]`, "expected a number")
          counts[type] = (counts[type] ?? 0) + Number(n)
        }
      } else visit(v, depth + 1)
    }
  }
  visit(Xml.child(node, "connected_client_summary") ?? node, 0)
  return new ApplianceApi.ConnectedClientSummary({ counts })
}

/** `set_failover_role` answer → message. @internal */
export const roleChangeFromV1 = (text: string): string => {
  let doc: { readonly root: string; readonly node: Xml.XmlNode }
  try {
    doc = Xml.parse(text)
  } catch (e) {
    throw new WireError("(document)", e instanceof Error ? e.message : String(e))
  }
  if (doc.root === "error") throw new XmlApplianceError(Xml.text(doc.node) ?? "error")
  if (doc.root === "success") return Xml.text(doc.node) ?? ""
  const error = Xml.child(doc.node, "error")
  if (error !== undefined) throw new XmlApplianceError(Xml.text(error) ?? "error")
  const success = Xml.child(doc.node, "success")
  if (success !== undefined) return Xml.text(success) ?? ""
  throw new WireError("(root)", `expected <success> or <error>, got <${doc.root}>`)
}
