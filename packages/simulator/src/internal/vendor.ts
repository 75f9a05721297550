/**
 * The vendor wire protocol of one simulated appliance (appliance-api.md):
 * OAuth token, XML command API, command API v2, backup, configuration API
 * and the load-balancer probe.
 */
import { accountForToken, accountsOf, mintToken, rateLimit, secretMatches } from "./credentials.js"
import { backupManifest } from "./migration.js"
import type { IncomingMessage, ServerResponse } from "node:http"
import type { ApiAccount } from "../SimConfig.js"
import { backupStream } from "./backup.js"
import type { Reply } from "./http.js"
import { el, formParams, json, namespaces, parseJsonObject, send, text, xml, xmlDocument } from "./http.js"
import type { Appliance } from "./model.js"
import type { World } from "./world.js"
import type { Client, Jumpoint } from "./fleet.js"
import { compareVersions, rfc3339, SimRefusal, xmlTime } from "./util.js"

const ACCESS_DENIED = {
  error: "access_denied",
  message: "The resource owner or authorization server denied the request."
}

const apiVersions = { command: "1.24.1", commandV2: "2.0.0", config: "1.10.0", reporting: "1.24.1", backup: "1.0.0" }

export interface VendorRequest {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly url: URL
  readonly body: Buffer
  /** Injected fault: cut the connection halfway through the backup body. */
  readonly truncate?: boolean
}

export const handleVendor = (world: World, a: Appliance, r: VendorRequest): void => {
  const { req, res, url } = r
  const path = url.pathname
  const method = req.method ?? "GET"
  if (path === "/oauth2/token") return send(res, token(world, a, r))
  if (path === "/check_health") {
    if (method !== "GET" && method !== "HEAD") return send(res, text(405, "Method Not Allowed", { Allow: "GET, HEAD" }))
    const h = world.health(a)
    // no account needed; the Date header is the appliance's clock (a factory box's only clock reading, MIGRATE-1)
    const date = { Date: new Date(Date.now() + a.clockOffsetSeconds * 1000).toUTCString() }
    return send(res, h.ok ? text(200, "OK", date) : text(500, `FAIL: ${h.message ?? "unhealthy"}`, date))
  }
  const isApi =
    path === "/api/command" ||
    path.startsWith("/api/command/v2") ||
    path === "/api/backup" ||
    path.startsWith("/api/config/v1")
  if (!isApi)
    return send(res, {
      status: 404,
      headers: { "Content-Type": "text/html" },
      body: "<html><body><h1>404 Not Found</h1></body></html>"
    })

  // Authentication: Bearer token minted by this appliance.
  const auth = req.headers.authorization ?? ""
  const m = /^Bearer\s+(\S+)$/i.exec(auth)
  const account = m ? accountForToken(world, a, m[1]!) : undefined
  if (!account) return send(res, json(401, ACCESS_DENIED, { "WWW-Authenticate": 'Bearer error="invalid_token"' }))
  const rate = rateLimit(world, a, account)
  const rateHeaders = { "X-RateLimit-Limit": rate.limit, "X-RateLimit-Remaining": Math.max(0, rate.remaining) }
  if (rate.limited)
    return send(
      res,
      json(
        429,
        {
          error: "rate_limit_exceeded",
          message: `Rate limit exceeded for this API account (${world.rateLimits.perSecond} requests per second, ${world.rateLimits.perHour} per hour): retry after ${rate.retryAfter} s.`
        },
        { ...rateHeaders, "Retry-After": rate.retryAfter }
      )
    )
  const withRate = (reply: Reply): Reply => ({ ...reply, headers: { ...reply.headers, ...rateHeaders } })

  if (path === "/api/command") return send(res, withRate(commandV1(world, a, account, r)))
  if (path.startsWith("/api/command/v2")) return send(res, withRate(commandV2(world, a, account, r)))
  if (path.startsWith("/api/config/v1")) return send(res, withRate(config(world, a, account, r)))
  return backup(world, a, account, r, rateHeaders)
}

// ------------------------------------------------------------------ OAuth

const token = (world: World, a: Appliance, { req, body }: VendorRequest): Reply => {
  const oauthError = (status: number, error: string, message: string): Reply =>
    json(status, { error, message }, { "Cache-Control": "no-store", Pragma: "no-cache" })
  if (req.method !== "POST")
    return {
      ...oauthError(405, "invalid_request", "Use POST /oauth2/token."),
      headers: { Allow: "POST", "Content-Type": "application/json" }
    }
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase()
  let params: Map<string, string>
  if (type === "application/json") {
    const o = parseJsonObject(body)
    if (!o) return oauthError(400, "invalid_request", "The request body is not valid JSON.")
    params = new Map(Object.entries(o).filter(([, v]) => typeof v === "string") as Array<[string, string]>)
  } else if (type === "application/x-www-form-urlencoded" || type === "") {
    params = formParams(body.toString("utf8"))
  } else {
    return oauthError(
      400,
      "invalid_request",
      "Send grant_type=client_credentials as application/x-www-form-urlencoded."
    )
  }
  let clientId = params.get("client_id")
  let secret = params.get("client_secret")
  const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? "")
  if (basic) {
    const decoded = Buffer.from(basic[1]!, "base64").toString("utf8")
    const i = decoded.indexOf(":")
    if (i < 0)
      return oauthError(400, "invalid_request", "The Basic credentials must be base64(client_id:client_secret).")
    clientId = decoded.slice(0, i)
    secret = decoded.slice(i + 1)
  }
  const grant = params.get("grant_type")
  if (grant === undefined) return oauthError(400, "invalid_request", "grant_type is required (client_credentials).")
  if (grant !== "client_credentials")
    return oauthError(400, "unsupported_grant_type", "Only grant_type=client_credentials is supported.")
  if (clientId === undefined || secret === undefined)
    return oauthError(
      401,
      "invalid_client",
      "Send the API account's client id and secret with HTTP Basic authentication."
    )
  const account = accountsOf(world, a).get(clientId)
  if (!account || !secretMatches(account, secret) || !account.enabled)
    return oauthError(
      401,
      "invalid_client",
      "Unknown client id, wrong secret or disabled API account: check /login > Management > API Configuration."
    )
  const rate = rateLimit(world, a, account)
  const rateHeaders = { "X-RateLimit-Limit": rate.limit, "X-RateLimit-Remaining": Math.max(0, rate.remaining) }
  if (rate.limited)
    return json(
      429,
      { error: "rate_limit_exceeded", message: `Rate limit exceeded: retry after ${rate.retryAfter} s.` },
      {
        ...rateHeaders,
        "Retry-After": rate.retryAfter
      }
    )
  const t = mintToken(world, a, account)
  return json(
    200,
    { access_token: t.token, token_type: "Bearer", expires_in: t.expiresIn },
    { "Cache-Control": "no-store", Pragma: "no-cache", ...rateHeaders }
  )
}

// ------------------------------------------------------------------ XML command API

const READ_ONLY_ACTIONS = new Set(["check_health", "get_api_info", "get_logged_in_reps", "get_connected_client_list"])
const MUTATING_ACTIONS = new Set(["set_failover_role", "terminate_session"])

const permissionsList = (world: World, account: ApiAccount): Array<[string, string | boolean]> => [
  ["perm_backup", account.permBackup],
  ["perm_command", account.permCommand],
  ["perm_configuration", account.permConfiguration],
  ["perm_configuration_vault_account", false],
  ["perm_ecm", false],
  ["perm_reporting_session", false],
  ["perm_reporting_syslog", false],
  ["perm_reporting_license", false],
  ["perm_scim", false],
  ["perm_vault_backup", false],
  ...(world.config.product === "pra"
    ? ([
        ["perm_reporting_asset", false],
        ["perm_reporting_duplicate_jump_client", false],
        ["perm_reporting_vault", false]
      ] as Array<[string, boolean]>)
    : ([
        ["perm_real_time_state", false],
        ["perm_reporting_archive", false],
        ["perm_reporting_presentation", false],
        ["perm_reporting_support", false]
      ] as Array<[string, boolean]>))
]

const commandV1 = (world: World, a: Appliance, account: ApiAccount, { req, url, body }: VendorRequest): Reply => {
  const ns = namespaces[world.config.xmlNamespace]
  const errorDoc = (status: number, message: string): Reply => xml(status, xmlDocument(ns, "error", message))
  let params: Map<string, string>
  if (req.method === "GET" || req.method === "HEAD") params = formParams(url.search)
  else if (req.method === "POST") {
    const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase()
    if (type !== "application/x-www-form-urlencoded" && !(type === "" && body.length === 0))
      return errorDoc(400, "POST requests must be application/x-www-form-urlencoded.")
    params = formParams(url.search)
    for (const [k, v] of formParams(body.toString("utf8"))) params.set(k, v)
  } else
    return {
      ...errorDoc(405, "Method not allowed: use GET or POST."),
      headers: { Allow: "GET, POST", "Content-Type": "text/xml; charset=UTF-8" }
    }
  const action = params.get("action")
  if (action === undefined || action === "") return errorDoc(400, "Missing required parameter: action.")
  if (!READ_ONLY_ACTIONS.has(action) && !MUTATING_ACTIONS.has(action))
    return errorDoc(400, `Invalid action: ${action.slice(0, 64)}.`)
  if (account.permCommand === "deny" || (MUTATING_ACTIONS.has(action) && account.permCommand !== "full_access"))
    return errorDoc(
      403,
      `This API account does not have permission to run ${action}: it needs perm_command ${MUTATING_ACTIONS.has(action) ? "full_access" : "read_only or full_access"}.`
    )
  const doc = (root: string, children: ReadonlyArray<string> | string): Reply =>
    xml(200, xmlDocument(ns, root, children))

  switch (action) {
    case "check_health": {
      const h = world.health(a)
      const children = [
        el("appliance", a.hostname, { id: a.guid }),
        el("version", `${a.version} (${a.build})`),
        el("success", h.ok ? 1 : 0)
      ]
      if (!h.ok && h.message) children.push(el("error_message", h.message))
      children.push(el("failover_role", a.failoverRole))
      const relationship = world.relationship && world.inRelationship(a) ? world.relationship : undefined
      const ips = world.enabledSharedIps(a)
      if (ips.length > 0 && (world.config.product === "rs" || relationship))
        children.push(
          el(
            "enabled_shared_ips",
            ips.map((ip) => el("ip", ip))
          )
        )
      if (relationship?.lastSync) {
        children.push(
          el("last_data_sync_time", xmlTime(relationship.lastSync.at), {
            ts: Math.floor(relationship.lastSync.at / 1000)
          }),
          el("last_data_sync_status", relationship.lastSync.status)
        )
      }
      return doc("health_check", children)
    }
    case "get_api_info": {
      const children = [el("api_version", apiVersions.command)]
      if (world.config.product === "rs") children.push(el("company_name", "Simulated Company"))
      children.push(
        el("timestamp", Math.floor((Date.now() + a.clockOffsetSeconds * 1000) / 1000)),
        el(
          "permissions",
          permissionsList(world, account).map(([name, v]) =>
            el("permission", typeof v === "boolean" ? (v ? 1 : 0) : v, { name })
          )
        )
      )
      return doc("api_information", children)
    }
    case "set_failover_role": {
      const role = params.get("role")
      if (role !== "primary" && role !== "backup")
        return errorDoc(200, "Invalid or missing parameter role: expected primary or backup.")
      const flag = (name: string): boolean | undefined => {
        const v = params.get(name)
        return v === undefined || v === "" || v === "0" ? false : v === "1" ? true : undefined
      }
      const dataSyncFirst = flag("data_sync_first")
      const force = flag("force")
      if (dataSyncFirst === undefined) return errorDoc(200, "Invalid parameter data_sync_first: expected 0 or 1.")
      if (force === undefined) return errorDoc(200, "Invalid parameter force: expected 0 or 1.")
      try {
        const result = world.setFailoverRole(a, role, dataSyncFirst, force, "xml")
        return doc("success", result.message)
      } catch (e) {
        if (e instanceof SimRefusal) return errorDoc(200, e.message)
        throw e
      }
    }
    case "get_logged_in_reps":
      return doc(
        "logged_in_reps",
        a.reps.map((rep) =>
          el(
            "rep",
            [
              el("public_display_name", rep.displayName),
              el("private_display_name", rep.displayName),
              el("display_name", rep.displayName),
              el("type", "normal"),
              el("direct_link", `https://${world.config.siteHostname}/?rep=${rep.id}`),
              el("logged_in_since", xmlTime(rep.since), { ts: Math.floor(rep.since / 1000) }),
              el("presentation_count", 0),
              el("support_session_count", rep.sessions.length),
              el("showing_on_rep_list", 1)
            ],
            { id: rep.id }
          )
        )
      )
    case "get_connected_client_list": {
      const allowed = ["all", "representative", "support_customer", "presentation_attendee", "push_agent"]
      const types = (params.get("type") ?? "all").split(",").map((s) => s.trim())
      const bad = types.find((t) => !allowed.includes(t))
      if (bad !== undefined)
        return doc("connected_client_list", [el("error", `Invalid value for type: ${bad.slice(0, 64)}.`)])
      const want = (t: string): boolean => types.includes("all") || types.includes(t)
      const serving = world.siteTargets().targets.includes(a) && a.local === undefined
      const pinned = serving ? world.fleet.clients.filter((c) => c.connectionType === "active").length : 0
      const counts: Array<[string, number]> = [
        ["representative", a.reps.length],
        ["support_customer", a.reps.reduce((n, rep) => n + rep.sessions.length, 0)],
        ["presentation_attendee", 0],
        ["push_agent", 0]
      ]
      if (params.get("summary_only") === "1") {
        const c = counts.filter(([t]) => want(t)).map(([t, n]) => el("count", n, { type: t }))
        if (want("all")) c.push(el("count", pinned, { type: "pinned_client" }))
        return doc("connected_client_list", [
          el("connected_client_summary", [el("appliance_summary", c, { id: a.guid })])
        ])
      }
      const items: Array<string> = []
      if (want("representative"))
        for (const rep of a.reps) items.push(el("connected_client", `${rep.id}`, { type: "representative" }))
      if (want("support_customer"))
        for (const rep of a.reps)
          for (const lsid of rep.sessions) items.push(el("connected_client", lsid, { type: "support_customer" }))
      return doc("connected_client_list", items)
    }
    case "terminate_session": {
      const lsid = params.get("lsid")
      if (lsid === undefined || !/^[0-9a-f]{32}$/i.test(lsid))
        return errorDoc(200, "Invalid or missing parameter lsid: expected a 32-character hexadecimal session id.")
      return world.terminateSession(a, lsid.toLowerCase())
        ? doc("success", "Successfully terminated")
        : errorDoc(200, "No active session with the given lsid.")
    }
  }
  return errorDoc(400, "Invalid action.")
}

// ------------------------------------------------------------------ Command API v2 (JSON)

const v2Routes: Record<string, ReadonlyArray<string>> = {
  "/info": ["GET", "HEAD", "OPTIONS"],
  "/health": ["GET", "HEAD", "OPTIONS"],
  "/appliance": ["GET", "HEAD", "OPTIONS"],
  "/user": ["GET", "HEAD", "OPTIONS"],
  "/failover-role": ["POST", "OPTIONS"]
}

const commandV2 = (world: World, a: Appliance, account: ApiAccount, { req, url, body }: VendorRequest): Reply => {
  const sub = url.pathname.slice("/api/command/v2".length) || "/"
  const methods = v2Routes[sub]
  if (!methods) return json(404, { message: "Not Found" })
  const method = req.method ?? "GET"
  if (method === "OPTIONS") return { status: 204, headers: { Allow: methods.join(", ") } }
  if (!methods.includes(method))
    return json(
      405,
      { message: `Method ${method} is not allowed here; use ${methods.filter((x) => x !== "OPTIONS").join(" or ")}.` },
      { Allow: methods.join(", ") }
    )
  const unknown = [...url.searchParams.keys()]
  if (unknown.length > 0)
    return json(400, { message: `Unrecognized query parameter(s): ${unknown.map((k) => k.slice(0, 40)).join(", ")}.` })
  if (account.permCommand === "deny" || (method === "POST" && account.permCommand !== "full_access"))
    return json(403, { message: "This API account lacks the command API permission needed (perm_command)." })
  const peer = world.peerOf(a)
  switch (sub) {
    case "/info":
      return json(200, {
        permissions: Object.fromEntries(permissionsList(world, account)),
        current_time: rfc3339(Date.now() + a.clockOffsetSeconds * 1000),
        command_api_version: apiVersions.commandV2,
        config_api_version: apiVersions.config,
        reporting_api_version: apiVersions.reporting,
        backup_api_version: apiVersions.backup,
        product: world.config.product
      })
    case "/health": {
      const h = world.health(a)
      const isPrimary = a.failoverRole === "primary"
      const last = world.inRelationship(a) && isPrimary ? world.relationship?.lastSync : undefined
      const ips = world.enabledSharedIps(a)
      const base = {
        version: a.version,
        build: a.build,
        appliance_hostname: a.hostname,
        appliance_id: a.guid,
        cluster_role: "single",
        failover_role: a.failoverRole,
        enabled_shared_ips: ips.length > 0 ? ips : null,
        last_data_sync: last ? rfc3339(last.at) : null,
        last_data_sync_status: last ? last.status : null
      }
      return h.ok ? json(200, base) : json(500, { ...base, message: h.message ?? null })
    }
    case "/appliance":
      return json(
        200,
        [a, ...(peer ? [peer] : [])].map((x) => ({
          id: x.guid,
          name: x.spec.id,
          public_hostname: x.hostname,
          cluster_role: "single",
          failover_role: x.failoverRole,
          accepting_connections: x.lifecycle._tag === "Running" && x.failoverRole !== "backup",
          timezone_offset: 0
        }))
      )
    case "/user":
      return json(
        200,
        a.reps.map((rep) => ({
          id: rep.id,
          type: "normal",
          display_name: rep.displayName,
          logged_in_since: rfc3339(rep.since),
          session_count: rep.sessions.length
        }))
      )
    case "/failover-role": {
      const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase()
      if (type !== "application/json") return json(400, { message: "Send the body as application/json." })
      const o = parseJsonObject(body)
      if (!o) return json(400, { message: "The request body is not a JSON object." })
      const extra = Object.keys(o).filter((k) => !["role", "data_sync_first", "force"].includes(k))
      if (extra.length > 0)
        return json(400, { message: `Unrecognized body field(s): ${extra.map((k) => k.slice(0, 40)).join(", ")}.` })
      const errors: Record<string, Array<string>> = {}
      if (o.role !== "primary" && o.role !== "backup")
        errors.role = ["The role field is required and must be primary or backup."]
      if (o.data_sync_first !== undefined && typeof o.data_sync_first !== "boolean")
        errors.data_sync_first = ["Must be a boolean."]
      if (o.force !== undefined && typeof o.force !== "boolean") errors.force = ["Must be a boolean."]
      if (Object.keys(errors).length > 0) return json(422, { message: "The given data was invalid.", errors })
      try {
        const result = world.setFailoverRole(
          a,
          o.role as "primary" | "backup",
          o.data_sync_first === true,
          o.force === true,
          "json"
        )
        return json(200, { message: result.message })
      } catch (e) {
        if (!(e instanceof SimRefusal)) throw e
        return e.status === 500 ? json(500, { message: e.message }) : json(422, { message: e.message, errors: {} })
      }
    }
  }
  return json(404, { message: "Not Found" })
}

// ------------------------------------------------------------------ Configuration API

const clientJson = (c: Client, serverVersion: string) => ({
  id: c.id,
  jump_group_id: c.jumpGroupId,
  jump_group_type: "shared",
  name: c.name,
  hostname: c.hostname,
  fqdn: c.fqdn,
  tag: c.tag,
  comments: "",
  jump_policy_id: null,
  session_policy_id: null,
  install_mode: "service",
  connection_type: c.connectionType,
  last_connect_timestamp: c.lastConnectWall !== undefined ? rfc3339(c.lastConnectWall) : null,
  last_disconnect_timestamp: c.lastDisconnectWall !== undefined ? rfc3339(c.lastDisconnectWall) : null,
  is_lost: false,
  needs_update: compareVersions(c.version, serverVersion) < 0,
  unavailable_reason: "none",
  operating_system: c.operatingSystem,
  public_ip: c.publicIp,
  private_ip: c.privateIp,
  console_user: c.consoleUser,
  expiration_timestamp: null,
  max_offline_minutes: 0,
  last_access_timestamp: c.lastConnectWall !== undefined ? rfc3339(c.lastConnectWall) : null,
  endpoint_agreement_policy: "use_site_setting"
})

const jumpClientFilters: Record<string, (c: Client) => string> = {
  name: (c) => c.name,
  hostname: (c) => c.hostname,
  fqdn: (c) => c.fqdn,
  tag: (c) => c.tag,
  jump_group_id: (c) => String(c.jumpGroupId),
  jump_group_type: () => "shared",
  console_user: (c) => c.consoleUser,
  public_ip: (c) => c.publicIp,
  private_ip: (c) => c.privateIp,
  connection_type: (c) => c.connectionType
}

const config = (world: World, a: Appliance, account: ApiAccount, { req, url }: VendorRequest): Reply => {
  if (!account.permConfiguration)
    return json(403, { message: "This API account lacks perm_configuration (configuration API access)." })
  const sub = url.pathname.slice("/api/config/v1".length).replace(/\/+$/, "")
  const method = req.method ?? "GET"
  if (method === "OPTIONS") return { status: 204, headers: { Allow: "GET, HEAD, OPTIONS" } }
  const known = /^\/(jump-client|jumpoint)(?:\/(\d+))?$/.exec(sub)
  if (!known) return json(404, { message: "Not Found" })
  if (method !== "GET" && method !== "HEAD")
    return json(405, { message: `The simulator serves ${sub} read-only (GET, HEAD).` }, { Allow: "GET, HEAD, OPTIONS" })
  const [, kind, idText] = known
  const inventory = world.inventoryOf(a)
  const jpJson = (j: Jumpoint) => ({
    id: j.id,
    name: j.name,
    platform: j.platform,
    code_name: j.codeName,
    comments: "",
    enabled: j.enabled,
    connected: world.isUp(a) && a.local === undefined,
    clustered: j.clustered,
    shell_jump_enabled: false,
    protocol_tunnel_enabled: false,
    managed_ip_ranges: null,
    rdp_service_account_id: null
  })
  if (idText !== undefined) {
    if ([...url.searchParams.keys()].length > 0) return json(401, { message: "Unrecognized query parameters." })
    const id = Number(idText)
    if (kind === "jump-client") {
      const c = inventory.clients.find((x) => x.id === id)
      return c ? json(200, clientJson(c, a.version)) : json(404, { message: "Not Found" })
    }
    const j = inventory.jumpoints.find((x) => x.id === id)
    return j ? json(200, jpJson(j)) : json(404, { message: "Not Found" })
  }
  const filters: Record<string, (x: never) => string> =
    kind === "jump-client"
      ? jumpClientFilters
      : {
          name: (j: Jumpoint) => j.name,
          public_ip: (j: Jumpoint) => j.publicIp,
          private_ip: (j: Jumpoint) => j.privateIp,
          hostname: (j: Jumpoint) => j.hostname,
          code_name: (j: Jumpoint) => j.codeName
        }
  const unknown = [...url.searchParams.keys()].filter(
    (k) => k !== "per_page" && k !== "current_page" && !(k in filters)
  )
  if (unknown.length > 0)
    return json(401, { message: `Unrecognized query parameter(s): ${unknown.map((k) => k.slice(0, 40)).join(", ")}.` })
  const errors: Record<string, Array<string>> = {}
  const intParam = (name: string, def: number, min: number, max: number): number => {
    const raw = url.searchParams.get(name)
    if (raw === null) return def
    const n = Number(raw)
    if (!/^\d+$/.test(raw) || n < min || n > max) errors[name] = [`Must be an integer between ${min} and ${max}.`]
    return n
  }
  const perPage = intParam("per_page", 100, 5, 100)
  const currentPage = intParam("current_page", 1, 1, 1_000_000)
  if (kind === "jump-client" && url.searchParams.has("connection_type")) {
    const v = url.searchParams.get("connection_type")!.toLowerCase()
    if (!["active", "passive", "uninstalled"].includes(v))
      errors.connection_type = ["Must be active, passive or uninstalled."]
  }
  if (Object.keys(errors).length > 0) return json(422, { message: "The given data was invalid.", errors })
  const source: ReadonlyArray<unknown> = kind === "jump-client" ? inventory.clients : inventory.jumpoints
  const matched = source.filter((item) =>
    [...url.searchParams.entries()]
      .filter(([k]) => k in filters)
      .every(([k, v]) => filters[k]!(item as never).toLowerCase() === v.toLowerCase())
  )
  const total = matched.length
  const lastPage = Math.max(1, Math.ceil(total / perPage))
  const page = matched.slice((currentPage - 1) * perPage, currentPage * perPage)
  const link = (p: number): string => {
    const u = new URL(url.href)
    u.searchParams.set("per_page", String(perPage))
    u.searchParams.set("current_page", String(p))
    return `<${u.href}>`
  }
  const links = [`${link(1)}; rel="first"`]
  if (currentPage > 1) links.push(`${link(Math.min(currentPage - 1, lastPage))}; rel="previous"`)
  if (currentPage < lastPage) links.push(`${link(currentPage + 1)}; rel="next"`)
  links.push(`${link(lastPage)}; rel="last"`)
  const items =
    kind === "jump-client"
      ? (page as Array<Client>).map((c) => clientJson(c, a.version))
      : (page as Array<Jumpoint>).map(jpJson)
  return json(200, items, {
    Link: links.join(", "),
    "X-BT-Pagination-Current-Page": currentPage,
    "X-BT-Pagination-Per-Page": perPage,
    "X-BT-Pagination-Last-Page": lastPage,
    "X-BT-Pagination-Total": total
  })
}

// ------------------------------------------------------------------ Backup API (streamed)

const backup = (
  world: World,
  a: Appliance,
  account: ApiAccount,
  { req, res, body, truncate }: VendorRequest,
  rateHeaders: Record<string, number>
): void => {
  const method = req.method ?? "GET"
  if (method !== "GET" && method !== "POST")
    return send(res, json(405, { message: "Use GET or POST /api/backup." }, { Allow: "GET, POST", ...rateHeaders }))
  if (!account.permBackup)
    return send(
      res,
      json(403, { message: "This API account lacks perm_backup (access to the backup API)." }, rateHeaders)
    )
  const o = parseJsonObject(body)
  if (!o)
    return send(
      res,
      json(400, { message: 'The request body must be a JSON object such as {"password":"…"}.' }, rateHeaders)
    )
  if (world.backupPassword !== undefined && o.password !== world.backupPassword)
    return send(
      res,
      json(
        403,
        {
          message:
            o.password === undefined
              ? 'This site protects its backups with a password: send it as a JSON body {"password":"…"}.'
              : "The backup password is wrong. Without the right password the backup cannot be made or restored."
        },
        rateHeaders
      )
    )
  const size = world.backupSizeBytes
  const date = new Date().toISOString().slice(0, 10)
  world.act(a.spec.id, "backup-taken", { filename: `${a.hostname}_${date}.nsb`, bytes: size })
  res.writeHead(200, {
    "Content-Type": "application/octet-stream",
    "Content-Disposition": `attachment; filename="${a.hostname}_${date}.nsb"`,
    "Content-Length": size,
    ...rateHeaders
  })
  const { manifest, payload } = backupManifest(world, a, size)
  const stream = backupStream(manifest, truncate === true ? Math.floor(size / 2) : size, payload)
  world.log(
    a.spec.id,
    "backup",
    `Backup download started (${size} bytes)${truncate === true ? ", will be cut halfway (fault)" : ""}`
  )
  stream.pipe(res, { end: truncate !== true })
  if (truncate === true) stream.on("end", () => res.destroy())
  const stop = (): void => {
    stream.unpipe(res)
    stream.destroy()
  }
  res.on("close", stop)
  res.on("error", stop)
}
