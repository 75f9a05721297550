/**
 * Seed a simulator from a site snapshot, for rehearsals (PREP-5): the same
 * appliances (ids, host names, roles, unique IPs, stored data), the versions
 * observed on them, the update packages on offer with their prerequisites,
 * and a Jump Client fleet of the observed size. Run the production plan
 * against it, then record the successful run with `Rehearsal.record`.
 *
 * @example
 * ```ts
 * const sim = yield* Simulator.start(Seed.fromSnapshot({ site, observed: [{ id: "A", version: "24.1.3", build }] }))
 * ```
 *
 * @since 0.1.0
 */
import { Site } from "@sra-upgrade/core"
import type * as SimConfig from "./SimConfig.js"

const GiB = 1024 ** 3
const MiB = 1024 ** 2

/**
 * What was observed on one appliance (health: version, build, role;
 * `/appliance > Status`: base software).
 *
 * @since 0.1.0
 * @category models
 */
export interface ObservedAppliance {
  readonly id: string
  readonly version: string
  readonly build: string
  readonly baseVersion?: string | undefined
  readonly failoverRole?: "none" | "primary" | "backup" | undefined
  readonly loggedInUsers?: ReadonlyArray<{ readonly displayName: string; readonly sessions: number }> | undefined
}

/**
 * The state of a site to reproduce.
 *
 * @since 0.1.0
 * @category models
 */
export interface Snapshot {
  readonly site: Site.Site
  readonly observed: ReadonlyArray<ObservedAppliance>
  /** Jump Clients counted on the site (default: the site file's `clients.jumpClients`). */
  readonly jumpClients?: { readonly active: number; readonly passive: number } | undefined
  /** Packages on offer (default: the site file's `updates`). */
  readonly updates?: ReadonlyArray<{
    readonly id: string
    readonly kind: "base" | "site" | "licence"
    readonly version: string
    readonly requires: ReadonlyArray<string>
    readonly estimatedMinutes?: number | undefined
  }>
  /** Builds of the site packages, by package id (the site file does not carry builds). */
  readonly builds?: Readonly<Record<string, string>> | undefined
}

/**
 * Knobs of the rehearsal simulator itself.
 *
 * @since 0.1.0
 * @category models
 */
export interface SeedOptions {
  /** Simulated seconds per real second (default 600: a 30-minute install takes 3 s). */
  readonly timeScale?: number | undefined
  /** Backup password when the site protects its backups. */
  readonly backupPassword?: string | undefined
  /** Reboot time after each install, simulated seconds (default 120). */
  readonly rebootSeconds?: number | undefined
  readonly seed?: number | undefined
}

/**
 * The `Simulator.start` options that reproduce the snapshot.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSnapshot = (snapshot: Snapshot, options: SeedOptions = {}): SimConfig.SimConfigInput => {
  const { site } = snapshot
  const sharedIp = site.trafficSwitch?.method === "shared-ip" ? site.trafficSwitch.sharedIp : undefined
  const appliances: Array<SimConfig.ApplianceSpec> = site.appliances.map((a) => {
    const seen = snapshot.observed.find((o) => o.id === a.id)
    if (seen === undefined)
      throw new Error(`Seed.fromSnapshot: no observed versions for appliance ${a.id}; add it to snapshot.observed.`)
    const role = seen.failoverRole ?? a.role
    return {
      id: a.id,
      hostname: a.hostname ?? `${a.id.toLowerCase()}.${site.hostname}`,
      version: seen.version,
      build: seen.build,
      baseVersion: seen.baseVersion ?? a.baseVersion ?? "6.1.0",
      failoverRole: role,
      uniqueIp: a.uniqueIp,
      sharedIps: sharedIp === undefined ? [] : [{ ip: sharedIp, enabled: role === "primary" }],
      interApplianceKey: "rehearsal-inter-appliance-key",
      dataSizeBytes: Math.round(a.storedDataGb * 1e9),
      clockOffsetSeconds: 0,
      loggedInUsers: seen.loggedInUsers ?? []
    }
  })
  const updates: Array<SimConfig.UpdatePackage> = (snapshot.updates ?? site.updates).map((p) => {
    const estimate = Site.estimateInstallMinutes(0, p)
    return {
      id: p.id,
      kind: p.kind === "licence" ? "license" : p.kind,
      version: p.version,
      build: snapshot.builds?.[p.id],
      requires: [...p.requires],
      installSeconds: estimate.baselineMinutes * 60,
      rebootSeconds: p.kind === "licence" ? 0 : (options.rebootSeconds ?? 120)
    }
  })
  const fleet = snapshot.jumpClients ?? site.clients.jumpClients
  const total = fleet === undefined ? 0 : fleet.active + fleet.passive
  const rollout = site.clients.jumpClients
  return {
    product: site.product,
    siteHostname: site.hostname,
    ...(sharedIp === undefined ? {} : { siteSharedIp: sharedIp }),
    traffic: site.trafficSwitch?.method ?? "dns",
    appliances,
    updates,
    timeScale: options.timeScale ?? 600,
    // PREP-3: 0.25 min per stored GB, as Site.estimateInstallMinutes assumes
    installSecondsPerGiB: 15 * (GiB / 1e9),
    ...(options.backupPassword === undefined ? {} : { backupPassword: options.backupPassword }),
    ...(options.seed === undefined ? {} : { seed: options.seed }),
    fleet: {
      jumpClients: total,
      passiveRatio: total === 0 || fleet === undefined ? 0 : fleet.passive / total,
      jumpoints: site.clients.jumpoints,
      ...(rollout === undefined
        ? {}
        : {
            maxConcurrentUpgrades: rollout.maxConcurrent,
            maxUpgradeBandwidthBytesPerSecond: rollout.bandwidthMiBps * MiB,
            clientUpdateBytes: rollout.packageMiB * MiB,
            passiveCheckInSeconds: rollout.passiveCheckInHours * 3600
          })
    }
  }
}
