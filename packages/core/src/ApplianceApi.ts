/**
 * The appliance **port**: what the vendor HTTP API offers, as domain types.
 * Core's planners and step handlers use only this service; the live adapter
 * (`@sra-upgrade/appliance-client`) implements it over undici, and its
 * `./test` export implements it in memory.
 *
 * A run talks to several appliances (a pair, an old and a new box) and to
 * the site address, so the service is addressed per appliance id.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type { ApplianceError } from "./ApplianceError.js"
import type { BackupArtifact } from "./BackupArtifact.js"

/**
 * `none | primary | backup` as reported by check_health / `/health`.
 *
 * @since 0.1.0
 * @category models
 */
export const FailoverRole = Schema.Literal("none", "primary", "backup")

/**
 * @since 0.1.0
 * @category models
 */
export type FailoverRole = typeof FailoverRole.Type

/**
 * `single | primary | traffic` (Bomgar-era "master" is read as primary).
 *
 * @since 0.1.0
 * @category models
 */
export const ClusterRole = Schema.Literal("single", "primary", "traffic")

/**
 * @since 0.1.0
 * @category models
 */
export type ClusterRole = typeof ClusterRole.Type

/**
 * The appliance's own view of its health, from `/api/command/v2/health`
 * (or the v1 `check_health` XML on older appliances).
 *
 * @since 0.1.0
 * @category models
 */
export class Health extends Schema.Class<Health>("Health")({
  /** 32-hex appliance GUID. */
  applianceGuid: Schema.String,
  hostname: Schema.String,
  /** Product version, e.g. `24.3.2`. */
  version: Schema.String,
  /** Build identifier, e.g. `37380-749b17ca…`. */
  build: Schema.String,
  healthy: Schema.Boolean,
  /** Problem reported when unhealthy. */
  errorMessage: Schema.optional(Schema.String),
  clusterRole: Schema.optional(ClusterRole),
  failoverRole: FailoverRole,
  enabledSharedIps: Schema.Array(Schema.String),
  lastDataSync: Schema.optional(Schema.Date),
  lastDataSyncStatus: Schema.optional(Schema.String),
  /** Which API answered. */
  source: Schema.Literal("v2", "v1")
}) {}

/**
 * `GET /api/command/v2/info` (or v1 `get_api_info`): permissions, API
 * versions, product and the appliance clock.
 *
 * @since 0.1.0
 * @category models
 */
export class ApiInfo extends Schema.Class<ApiInfo>("ApiInfo")({
  product: Schema.Literal("pra", "rs", "unknown"),
  /** perm_command: full_access | read_only | deny; other perms as booleans. */
  permissions: Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Boolean) }),
  /** The appliance clock when it answered. */
  serverTime: Schema.Date,
  /** The local clock when the answer arrived (to compute skew, PREP-8). */
  localTime: Schema.Date,
  commandApiVersion: Schema.optional(Schema.String),
  backupApiVersion: Schema.optional(Schema.String),
  configApiVersion: Schema.optional(Schema.String)
}) {}

/**
 * The role change requested with `set_failover_role` / `POST /failover-role`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RoleChangeRequest {
  readonly role: "primary" | "backup"
  /** Pull a data sync from the peer first (disconnects everyone). */
  readonly dataSyncFirst: boolean
  /** Only primary → backup: become backup even if the peer is unreachable. */
  readonly force: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export class RoleChangeResult extends Schema.Class<RoleChangeResult>("RoleChangeResult")({
  message: Schema.String,
  /** True when the appliance started a data sync and will swap afterwards. */
  syncStarted: Schema.Boolean
}) {}

/**
 * A person logged in to the site, who an install will disconnect (PREP-4).
 *
 * @since 0.1.0
 * @category models
 */
export class LoggedInUser extends Schema.Class<LoggedInUser>("LoggedInUser")({
  id: Schema.String,
  displayName: Schema.String,
  type: Schema.String,
  loggedInSince: Schema.optional(Schema.Date),
  sessionCount: Schema.Number
}) {}

/**
 * Connected-client counts by type (`get_connected_client_list summary_only=1`).
 *
 * @since 0.1.0
 * @category models
 */
export class ConnectedClientSummary extends Schema.Class<ConnectedClientSummary>("ConnectedClientSummary")({
  counts: Schema.Record({ key: Schema.String, value: Schema.Number })
}) {}

/**
 * Options of a settings backup download (PREP-1).
 *
 * @since 0.1.0
 * @category models
 */
export interface BackupRequest {
  /** Folder the finished file is renamed into. */
  readonly directory: string
  /** Backup password when the site protects its backups. */
  readonly password?: Redacted.Redacted<string> | undefined
  /** Called as bytes arrive, for progress displays; `totalBytes` when the appliance announced the size. */
  readonly onProgress?: ((bytesSoFar: number, totalBytes?: number) => void) | undefined
}

/**
 * A Jump Client as the configuration API shows it (`/api/config/v1/jump-client`).
 *
 * @since 0.1.0
 * @category models
 */
export class JumpClient extends Schema.Class<JumpClient>("JumpClient")({
  id: Schema.Number,
  name: Schema.String,
  hostname: Schema.optional(Schema.String),
  jumpGroupId: Schema.Number,
  connectionType: Schema.Literal("active", "passive", "uninstalled"),
  /** Older software: no sessions until upgraded (the only upgrade signal). */
  needsUpdate: Schema.Boolean,
  isLost: Schema.Boolean,
  lastConnectTimestamp: Schema.optional(Schema.Date)
}) {}

/**
 * Filters of `GET /jump-client` (exact, case-insensitive; ANDed).
 *
 * @since 0.1.0
 * @category models
 */
export interface JumpClientFilter {
  readonly name?: string
  readonly hostname?: string
  readonly tag?: string
  readonly jump_group_id?: number
  readonly connection_type?: "active" | "passive" | "uninstalled"
}

/**
 * A Jumpoint as the configuration API shows it (`/api/config/v1/jumpoint`).
 *
 * @since 0.1.0
 * @category models
 */
export class Jumpoint extends Schema.Class<Jumpoint>("Jumpoint")({
  id: Schema.Number,
  name: Schema.String,
  platform: Schema.String,
  enabled: Schema.Boolean,
  connected: Schema.Boolean,
  clustered: Schema.Boolean
}) {}

/**
 * Filters of `GET /jumpoint`.
 *
 * @since 0.1.0
 * @category models
 */
export interface JumpointFilter {
  readonly name?: string
  readonly hostname?: string
  readonly code_name?: string
}

/**
 * Where to send the load-balancer probe `GET /check_health`: any address,
 * optionally presenting another host name (Host header and TLS SNI), which is
 * how an appliance is verified "as the site" before DNS moves (VERIFY-3).
 *
 * @since 0.1.0
 * @category models
 */
export interface ProbeTarget {
  /** e.g. `https://10.0.0.12:443` */
  readonly url: string
  /** Host header and SNI to present, e.g. the site FQDN. */
  readonly hostname?: string | undefined
  readonly timeoutMillis?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export class ProbeResult extends Schema.Class<ProbeResult>("ProbeResult")({
  /** HTTP 200 = pass, 500 = fail; anything else is reported as not ok. */
  ok: Schema.Boolean,
  status: Schema.Number,
  body: Schema.String,
  /**
   * The answer's HTTP `Date` header, as sent (the appliance's clock, 1 s
   * precision), when it sent one: the one clock reading a box offers without
   * an API account (a factory box before its settings are restored, MIGRATE-1).
   *
   * @since 0.3.0
   */
  date: Schema.optional(Schema.String)
}) {}

/**
 * What one appliance offers through its vendor API.
 *
 * @since 0.1.0
 * @category models
 */
export interface ApplianceClient {
  /** The id this appliance has in the site description (e.g. `A`). */
  readonly id: string
  readonly health: Effect.Effect<Health, ApplianceError>
  readonly apiInfo: Effect.Effect<ApiInfo, ApplianceError>
  /** Mutation: never retried by the adapter. */
  readonly setFailoverRole: (request: RoleChangeRequest) => Effect.Effect<RoleChangeResult, ApplianceError>
  readonly loggedInUsers: Effect.Effect<ReadonlyArray<LoggedInUser>, ApplianceError>
  readonly connectedClients: Effect.Effect<ConnectedClientSummary, ApplianceError>
  /** Streams the backup to a temporary file, hashes it and renames it only when complete. */
  readonly downloadBackup: (request: BackupRequest) => Effect.Effect<BackupArtifact, ApplianceError>
  readonly jumpClients: (filter?: JumpClientFilter) => Stream.Stream<JumpClient, ApplianceError>
  readonly jumpoints: (filter?: JumpointFilter) => Stream.Stream<Jumpoint, ApplianceError>
}

/**
 * The port: a registry of appliance clients keyed by the ids of the site
 * description, plus the load-balancer probe against any address.
 *
 * @since 0.1.0
 * @category services
 */
export class ApplianceApi extends Context.Tag("@sra-upgrade/core/ApplianceApi")<
  ApplianceApi,
  {
    /** Fails with reason `NotConfigured` for an unknown id. */
    readonly appliance: (id: string) => Effect.Effect<ApplianceClient, ApplianceError>
    readonly probe: (target: ProbeTarget) => Effect.Effect<ProbeResult, ApplianceError>
  }
>() {}
