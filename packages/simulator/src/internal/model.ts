/**
 * The shapes of the simulated world: appliances and their lifecycle, local
 * settings of non-members, users, certificates, faults, the failover
 * relationship and the event log entries. The behaviour is in `world.ts`
 * (time, lifecycle, updates, failover, routing) and, by concern, in
 * `certificates.ts`, `credentials.ts` and `migration.ts`.
 */
import { randomBytes } from "node:crypto"
import type { ApiAccount, ApplianceSpec } from "../SimConfig.js"
import type { Client, Jumpoint } from "./fleet.js"

export type Lifecycle =
  | { readonly _tag: "Running" }
  | {
      readonly _tag: "Installing"
      readonly packageId: string
      readonly until: number
      readonly outcome: "ok" | "needs_support" | "stuck"
    }
  | { readonly _tag: "Rebooting"; readonly until: number; readonly packageId: string }
  | { readonly _tag: "NeedsSupport"; readonly reason: string }
  /** A physical appliance switched off (MIGRATE-9): its listeners are closed. */
  | { readonly _tag: "PoweredOff" }
  /** A virtual appliance deleted (MIGRATE-9): its listeners are closed for good. */
  | { readonly _tag: "Deleted" }

/** An API account; restored ones carry only the SHA-256 of their secret. */
export type StoredAccount = ApiAccount & { readonly secretSha256?: string | undefined }

/**
 * Settings of an appliance that is not (or no longer) a member of the simulated site: a factory
 * box, a factory-reset one, or one restored from another simulator's backup.
 */
export interface LocalSite {
  readonly siteId: string
  readonly accounts: Map<string, StoredAccount>
  readonly jumpClients: Array<Client>
  readonly jumpoints: Array<Jumpoint>
}

export interface LoggedInRep {
  readonly id: number
  readonly displayName: string
  readonly since: number
  readonly sessions: Array<string>
}

export interface Certificate {
  readonly id: string
  readonly certPem: string
  readonly keyPem: string | undefined
  readonly subject: string
  readonly issuer: string
  readonly validTo: string
  readonly fingerprint256: string
  isDefault: boolean
}

export type FaultKind =
  | "http500"
  | "http404"
  | "latency"
  | "drop"
  | "truncate"
  | "rate_limit"
  | "unhealthy"
  | "stuck_install"
  | "fail_base_update"
  | "fail_sync"

export interface Fault {
  readonly kind: FaultKind
  /** Requests (or operations) left; undefined = until cleared. */
  remaining: number | undefined
  /** Only requests whose path starts with this prefix. */
  readonly pathPrefix: string | undefined
  readonly latencyMs: number
}

export interface Appliance {
  readonly spec: ApplianceSpec
  readonly guid: string
  /** undefined = member of the simulated site (site-wide accounts, live Jump Client fleet). */
  local: LocalSite | undefined
  /**
   * Factory state: fresh from the factory (or reset) and no site settings restored yet. Such a box has no
   * API account and none can be made on it: its API accounts come with the restored settings (MIGRATE-1/7).
   */
  factory: boolean
  /** The initial admin/password login is still in place (MIGRATE-7). */
  defaultCredentials: boolean
  /** The end-user license agreement was accepted at first login (MIGRATE-6). */
  eulaAccepted: boolean
  /** Configured users (display names), as a backup carries them. */
  users: Array<string>
  hostname: string
  version: string
  build: string
  baseVersion: string
  lifecycle: Lifecycle
  failoverRole: "none" | "primary" | "backup"
  readonly sharedIps: Map<string, boolean>
  interApplianceKey: string
  dataSizeBytes: number
  clockOffsetSeconds: number
  readonly installed: Set<string>
  readonly downloaded: Set<string>
  readonly uploaded: Set<string>
  downloadKey: string | undefined
  reps: Array<LoggedInRep>
  /** Session records (ids) held, merged by data syncs (PAIR-9). */
  readonly records: Set<string>
  certificates: Array<Certificate>
  faults: Array<Fault>
  readonly tokens: Map<string, { account: string; expiresAt: number }>
  readonly tokenOrder: Map<string, Array<string>>
  readonly rate: Map<string, { second: Array<number>; hour: Array<number> }>
}

export interface Relationship {
  primaryId: string
  backupId: string
  readonly sharedIps: ReadonlyArray<string>
  readonly establishedAt: number
  /** Wall-clock end (`at`) and start of the last finished data sync. */
  lastSync: { readonly at: number; readonly startedAt: number; readonly status: string } | undefined
  /** The running data sync: simulated end, wall-clock start, what started it. */
  sync:
    | {
        readonly until: number
        readonly thenPrimary: string | undefined
        readonly startedAt: number
        readonly trigger: string
      }
    | undefined
  swap: { readonly until: number; readonly newPrimary: string } | undefined
  nextAutoSyncAt: number
  /** The next "Sync now" finds an automatic sync that started at that very instant (the PAIR-4 sync race). */
  raceNextSyncNow: boolean
}

export interface SimEvent {
  readonly at: string
  readonly simSeconds: number
  readonly appliance?: string | undefined
  readonly kind: string
  readonly message: string
}

/** The pseudo package of a plain reboot (power-on, reboot): the appliance comes back unchanged. */
export const REBOOT = "__reboot__"

/** Local settings of a box that is not a member of the simulated site (factory, reset). */
export const emptySite = (): LocalSite => ({
  siteId: `local-${randomBytes(8).toString("hex")}`,
  accounts: new Map(),
  jumpClients: [],
  jumpoints: []
})
