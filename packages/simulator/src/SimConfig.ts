/**
 * What a simulated site looks like: its appliances, API accounts, update
 * catalog, Jump Client fleet, backup and time scale. Every field has a
 * default, so `SimConfig.make()` alone gives a failover pair A (primary) +
 * B (backup) behind a shared IP.
 *
 * @since 0.1.0
 */
import { hexOf } from "./internal/util.js"

/**
 * `perm_command` values of an API account.
 *
 * @since 0.1.0
 * @category models
 */
export type CommandPermission = "deny" | "read_only" | "full_access"

/**
 * An API account (`/login > Management > API Configuration`). Accounts are
 * site-wide (synced between peers); tokens are per appliance.
 *
 * @since 0.1.0
 * @category models
 */
export interface ApiAccount {
  readonly name: string
  readonly clientId: string
  readonly clientSecret: string
  readonly enabled: boolean
  readonly permCommand: CommandPermission
  readonly permBackup: boolean
  readonly permConfiguration: boolean
}

/**
 * A package offered on `/appliance > Updates`.
 *
 * @since 0.1.0
 * @category models
 */
export interface UpdatePackage {
  readonly id: string
  /** `base` = appliance software, `site` = product version, `license` = add-on. */
  readonly kind: "base" | "site" | "license"
  /** Product version (site) or base software version (base). */
  readonly version: string
  /** Build of a site package, e.g. `37380-<40 hex>`. */
  readonly build?: string | undefined
  /** Package ids that must be installed first (SINGLE-2). */
  readonly requires: ReadonlyArray<string>
  /** Install time before the reboot, in simulated seconds (without the data-size part). */
  readonly installSeconds: number
  /** Reboot time after the install (API down), in simulated seconds. */
  readonly rebootSeconds: number
}

/**
 * One simulated appliance.
 *
 * @since 0.1.0
 * @category models
 */
export interface ApplianceSpec {
  /** Id of the appliance in the site description, e.g. `A`. */
  readonly id: string
  readonly hostname: string
  readonly version: string
  readonly build: string
  readonly baseVersion: string
  readonly failoverRole: "none" | "primary" | "backup"
  /** The appliance's own (unique) IP. */
  readonly uniqueIp: string
  /** Shared IPs configured on this appliance and whether each is enabled. */
  readonly sharedIps: ReadonlyArray<{ readonly ip: string; readonly enabled: boolean }>
  /** `/login > Management > Security` inter-appliance key (PAIR-7). */
  readonly interApplianceKey: string
  /** Stored data (recordings...), drives install and sync durations (PREP-3). */
  readonly dataSizeBytes: number
  /** Appliance clock minus the real clock, in seconds (PREP-8). */
  readonly clockOffsetSeconds: number
  /** Logged-in representatives at start, each with its number of sessions (PREP-4). */
  readonly loggedInUsers: ReadonlyArray<{ readonly displayName: string; readonly sessions: number }>
  /**
   * A new box straight from the factory (hardware migration, MIGRATE-*): default credentials
   * admin/password, no settings, users, API accounts, Jump Clients or Jumpoints, no relationship
   * (`failoverRole` and `sharedIps` are ignored: shared IPs start disabled), EULA not accepted, and
   * its own factory certificate. It is not part of the simulated site until a backup of the site
   * is restored on it.
   */
  readonly fresh?: boolean | undefined
  /** Product version a fresh box ships with (default: `version`); its build is derived from it. */
  readonly factoryVersion?: string | undefined
}

/**
 * The Jump Client fleet of the site (CLIENT-6/7/8/10).
 *
 * @since 0.1.0
 * @category models
 */
export interface FleetSpec {
  readonly jumpClients: number
  /** Fraction (0..1) of clients that are passive. */
  readonly passiveRatio: number
  /** "Maximum number of concurrent Jump Client upgrades" (max 500). */
  readonly maxConcurrentUpgrades: number
  /** "Maximum bandwidth of concurrent Jump Client upgrades", bytes/s (max 100 MiB/s). */
  readonly maxUpgradeBandwidthBytesPerSecond: number
  /** Size of the client update each Jump Client downloads. */
  readonly clientUpdateBytes: number
  /** "Global connection rate for Jump Clients" (per second) for active reconnects. */
  readonly connectionRatePerSecond: number
  /** Passive clients check in at least this often (simulated seconds). */
  readonly passiveCheckInSeconds: number
  readonly jumpoints: number
}

/**
 * The full configuration of a simulated site.
 *
 * @since 0.1.0
 * @category models
 */
export interface SimConfig {
  readonly product: "pra" | "rs"
  /** XML default namespace era: `beyondtrust` (current docs) or `bomgar` (RS 19.1 on the wire). */
  readonly xmlNamespace: "beyondtrust" | "bomgar"
  /** Interface every listener binds to. */
  readonly host: string
  /**
   * 0 (default) = every listener on a free port. Otherwise fixed ports from this one: per appliance
   * HTTP then HTTPS (A: base, base+1; B: base+2, base+3 ...), then the site front HTTP and HTTPS, then the control listener.
   */
  readonly basePort: number
  /** Simulated seconds per real second (60 = a 30-minute install takes 30 s). 0 = time moves only through `/__sim/clock/advance`. */
  readonly timeScale: number
  /**
   * Name of the simulated site: `site` for a one-site simulator, `site-001`… in a many-site one.
   * The action log carries it (`GET /__sim/actions`).
   */
  readonly siteName: string
  /** Site hostname the site front answers for. */
  readonly siteHostname: string
  /** The shared IP the site's traffic follows (SWITCH-1). */
  readonly siteSharedIp: string
  /** How traffic reaches the site at start. */
  readonly traffic: "shared-ip" | "dns" | "nat"
  readonly appliances: ReadonlyArray<ApplianceSpec>
  readonly accounts: ReadonlyArray<ApiAccount>
  readonly updates: ReadonlyArray<UpdatePackage>
  readonly fleet: FleetSpec
  /** Settings backup size in bytes (streamed, never held in memory). */
  readonly backupSizeBytes: number
  /** Backup password when backups are password protected. */
  readonly backupPassword?: string | undefined
  /** Install time added per GiB of stored data, simulated seconds (PREP-3). */
  readonly installSecondsPerGiB: number
  /** Data sync throughput, bytes per simulated second. */
  readonly syncBytesPerSecond: number
  /** Automatic data sync interval while a relationship exists, simulated seconds. */
  readonly autoSyncSeconds: number
  /** How long both appliances show Backup during a planned role swap, simulated seconds. */
  readonly roleSwapSeconds: number
  /**
   * TLS certificate (PEM, leaf first, then intermediates) and key for every HTTPS listener. By
   * default a private CA generated at start issues the certificates (see `certificateLayout`).
   */
  readonly tls?: { readonly cert: string; readonly key: string } | undefined
  /**
   * With the generated CA: `shared` (default) = every appliance of the site serves one site-wide
   * leaf (a failover pair shares its certificate); `per-appliance` = each appliance serves its own
   * leaf (its host name and the site host name). Fresh boxes always serve their own factory leaf.
   */
  readonly certificateLayout?: "shared" | "per-appliance" | undefined
  /** Seed of every pseudo-random choice (ids, client schedules). */
  readonly seed: number
  /** Largest request body accepted, bytes. */
  readonly maxBodyBytes: number
  /** Per-account rate limit (vendor: 20 requests/s and 15,000/h). */
  readonly rateLimit: { readonly perSecond: number; readonly perHour: number }
}

/**
 * Partial configuration: top-level fields replace the defaults, `fleet` is merged.
 *
 * @since 0.1.0
 * @category models
 */
export type SimConfigInput = Partial<Omit<SimConfig, "fleet">> & { readonly fleet?: Partial<FleetSpec> }

/**
 * Default update catalog: a base update, a site update that needs it, and a
 * later site update that needs the first one (SINGLE-2).
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultUpdates: ReadonlyArray<UpdatePackage> = [
  { id: "base-6.2.1", kind: "base", version: "6.2.1", requires: [], installSeconds: 15 * 60, rebootSeconds: 120 },
  {
    id: "site-24.3.2",
    kind: "site",
    version: "24.3.2",
    build: "41722-3d1f0c9a7b2e45f18c6d90ab12ef34567890abcd",
    requires: ["base-6.2.1"],
    installSeconds: 30 * 60,
    rebootSeconds: 180
  },
  {
    id: "site-25.1.1",
    kind: "site",
    version: "25.1.1",
    build: "43109-9a8b7c6d5e4f30211f2e3d4c5b6a79880a1b2c3d",
    requires: ["site-24.3.2"],
    installSeconds: 30 * 60,
    rebootSeconds: 180
  },
  { id: "license-addon-2025", kind: "license", version: "2025.1", requires: [], installSeconds: 60, rebootSeconds: 0 }
]

/**
 * Default accounts: `sim-admin` (full access) and `sim-readonly`
 * (perm_command read_only, no backup, no configuration).
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultAccounts: ReadonlyArray<ApiAccount> = [
  {
    name: "sim-admin",
    clientId: "0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3",
    clientSecret: "sim-admin-secret-please-change-me-0000000000",
    enabled: true,
    permCommand: "full_access",
    permBackup: true,
    permConfiguration: true
  },
  {
    name: "sim-readonly",
    clientId: "f0e1d2c3b4a5968778695a4b3c2d1e0f9e8d7c6b",
    clientSecret: "sim-readonly-secret-please-change-me-000000",
    enabled: true,
    permCommand: "read_only",
    permBackup: false,
    permConfiguration: false
  }
]

const baseAppliance = {
  version: "24.1.3",
  build: "40516-5f3e2d1c0b9a88776655443322110ffeeddccbba",
  baseVersion: "6.1.0",
  sharedIps: [],
  interApplianceKey: "sim-inter-appliance-key",
  dataSizeBytes: 4 * 1024 ** 3,
  clockOffsetSeconds: 0,
  loggedInUsers: []
} as const

/**
 * Builds a full configuration from a partial one.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (input: SimConfigInput = {}): SimConfig => {
  const siteSharedIp = input.siteSharedIp ?? "10.0.0.10"
  const appliances: ReadonlyArray<ApplianceSpec> = input.appliances ?? [
    {
      ...baseAppliance,
      id: "A",
      hostname: "a.sra-simulator.local",
      failoverRole: "primary",
      uniqueIp: "10.0.0.11",
      sharedIps: [{ ip: siteSharedIp, enabled: true }],
      loggedInUsers: [
        { displayName: "Alice Martin", sessions: 2 },
        { displayName: "Bob Durand", sessions: 1 },
        { displayName: "Chloé Petit", sessions: 0 }
      ]
    },
    {
      ...baseAppliance,
      id: "B",
      hostname: "b.sra-simulator.local",
      failoverRole: "backup",
      uniqueIp: "10.0.0.12",
      sharedIps: [{ ip: siteSharedIp, enabled: false }]
    }
  ]
  return {
    product: input.product ?? "pra",
    xmlNamespace: input.xmlNamespace ?? "beyondtrust",
    host: input.host ?? "127.0.0.1",
    basePort: input.basePort ?? 0,
    timeScale: input.timeScale ?? 60,
    siteName: input.siteName ?? "site",
    siteHostname: input.siteHostname ?? "support.sra-simulator.local",
    siteSharedIp,
    traffic: input.traffic ?? "shared-ip",
    appliances,
    accounts: input.accounts ?? defaultAccounts,
    updates: input.updates ?? defaultUpdates,
    fleet: {
      jumpClients: 20,
      passiveRatio: 0.3,
      maxConcurrentUpgrades: 5,
      maxUpgradeBandwidthBytesPerSecond: 10 * 1024 ** 2,
      clientUpdateBytes: 20 * 1024 ** 2,
      connectionRatePerSecond: 50,
      passiveCheckInSeconds: 24 * 3600,
      jumpoints: 3,
      ...input.fleet
    },
    backupSizeBytes: input.backupSizeBytes ?? 8 * 1024 ** 2,
    backupPassword: input.backupPassword,
    installSecondsPerGiB: input.installSecondsPerGiB ?? 60,
    syncBytesPerSecond: input.syncBytesPerSecond ?? 50 * 1024 ** 2,
    autoSyncSeconds: input.autoSyncSeconds ?? 15 * 60,
    roleSwapSeconds: input.roleSwapSeconds ?? 20,
    tls: input.tls,
    certificateLayout: input.certificateLayout ?? "shared",
    seed: input.seed ?? 42,
    maxBodyBytes: input.maxBodyBytes ?? 1024 * 1024,
    rateLimit: input.rateLimit ?? { perSecond: 20, perHour: 15000 }
  }
}

/**
 * A many-site simulator: generated sites (`site-001`, `site-002`…, the first
 * `pairs` of them failover pairs, the others single appliances), or each
 * site's configuration (each needs a distinct `siteName`).
 *
 * @since 0.3.0
 * @category models
 */
export interface SitesInput {
  /** How many sites to generate, or each site's configuration. */
  readonly sites: number | ReadonlyArray<SimConfigInput & { readonly siteName: string }>
  /** With a number of sites: how many of them are failover pairs (default: all). */
  readonly pairs?: number | undefined
  /** Settings every site shares (time scale, fleet, backup size, catalog…); a site's own fields win. */
  readonly common?: SimConfigInput | undefined
}

const pad = (i: number, n: number): string => String(i).padStart(Math.max(3, String(n).length), "0")

/**
 * Per-site API accounts: the default accounts' names and permissions with
 * credentials derived from the site name (each site has its own).
 *
 * @since 0.3.0
 * @category constructors
 */
export const siteAccounts = (siteName: string, seed: number): ReadonlyArray<ApiAccount> =>
  defaultAccounts.map((a) => ({
    ...a,
    clientId: hexOf(`account:${seed}:${siteName}:${a.name}`, 40),
    clientSecret: `${a.name}-${hexOf(`secret:${seed}:${siteName}:${a.name}`, 32)}`
  }))

/**
 * One generated site of a many-site simulator: `site-007` at
 * `site-007.sra-simulator.local`, appliance A (and B for a pair) at
 * `site-007-a.sra-simulator.local`…, its own shared IP and API accounts.
 *
 * @since 0.3.0
 * @category constructors
 */
export const generatedSite = (index: number, count: number, pair: boolean, common: SimConfigInput = {}): SimConfig => {
  const siteName = `site-${pad(index, count)}`
  const net = `10.${Math.floor(index / 250) % 250}.${index % 250}`
  const sharedIp = `${net}.10`
  const defaults = make({ ...common, siteSharedIp: sharedIp })
  const seed = (common.seed ?? 42) + index
  const base = defaults.appliances[0]!
  const a: ApplianceSpec = {
    ...base,
    id: "A",
    hostname: `${siteName}-a.sra-simulator.local`,
    failoverRole: pair ? "primary" : "none",
    uniqueIp: `${net}.11`,
    sharedIps: [{ ip: sharedIp, enabled: true }]
  }
  const b: ApplianceSpec = {
    ...(defaults.appliances[1] ?? base),
    id: "B",
    hostname: `${siteName}-b.sra-simulator.local`,
    failoverRole: "backup",
    uniqueIp: `${net}.12`,
    sharedIps: [{ ip: sharedIp, enabled: false }]
  }
  return make({
    ...common,
    siteName,
    siteHostname: `${siteName}.sra-simulator.local`,
    siteSharedIp: sharedIp,
    basePort: 0,
    seed,
    appliances: common.appliances ?? (pair ? [a, b] : [a]),
    accounts: common.accounts ?? siteAccounts(siteName, seed)
  })
}

/**
 * The configuration of every site of a many-site simulator. Throws an
 * `Error` saying what to change on a bad count or a duplicate / unusable
 * site name (names go into URLs: letters, digits and `-`).
 *
 * @since 0.3.0
 * @category constructors
 */
export const makeSites = (input: SitesInput): ReadonlyArray<SimConfig> => {
  if (typeof input.sites === "number") {
    const n = input.sites
    if (!Number.isInteger(n) || n < 1 || n > 5000)
      throw new Error(`sites must be a whole number between 1 and 5000, got ${n}.`)
    const pairs = input.pairs ?? n
    if (!Number.isInteger(pairs) || pairs < 0 || pairs > n)
      throw new Error(`pairs must be a whole number between 0 and the number of sites (${n}), got ${pairs}.`)
    return Array.from({ length: n }, (_, i) => generatedSite(i + 1, n, i < pairs, input.common))
  }
  if (input.sites.length === 0) throw new Error("Give at least one site.")
  const seen = new Set<string>()
  return input.sites.map((site, i) => {
    if (!/^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/.test(site.siteName))
      throw new Error(
        `Site name "${site.siteName}" cannot be used: use letters, digits and "-" (at most 63), e.g. site-001.`
      )
    if (seen.has(site.siteName)) throw new Error(`Two sites are named "${site.siteName}": give each a distinct name.`)
    seen.add(site.siteName)
    // each site its own appliance GUIDs, client schedules and API credentials unless it says otherwise
    const seed = site.seed ?? (input.common?.seed ?? 42) + i + 1
    return make({
      ...input.common,
      ...site,
      seed,
      accounts: site.accounts ?? input.common?.accounts ?? siteAccounts(site.siteName, seed),
      basePort: 0
    })
  })
}
