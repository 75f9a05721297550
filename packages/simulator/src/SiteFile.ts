/**
 * A site file describing a running simulator, as a person would write it
 * (the plain data; write it as YAML or JSON): the client secret and the
 * simulator's CA certificate are files beside it (`secretFile`, `caFile`),
 * the maintenance window(s) open now. Used by `sra-upgrade demo`, `sim
 * --write-site`, `serve --demo` and tests.
 *
 * @since 0.3.0
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as SimConfig from "./SimConfig.js"
import type * as Simulator from "./Simulator.js"

/**
 * What to describe.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /** The failover pair (two appliances, shared IP, two windows), or appliance A alone. */
  readonly pair: boolean
  readonly backupDirectory: string
  /** File of the client secret, relative to the site file (default `client-secret`). */
  readonly secretFile?: string | undefined
  /** File of the simulator's CA certificate (default `simulator-ca.pem`). */
  readonly caFile?: string | undefined
  /**
   * Maintenance windows in simulated minutes: the first opens a minute ago
   * and lasts `firstMinutes` (default 90; one appliance: a day), the second
   * (pairs) starts `gapMinutes` after it (default 10) and lasts
   * `secondMinutes` (default 90).
   */
  readonly windows?:
    { readonly firstMinutes?: number; readonly gapMinutes?: number; readonly secondMinutes?: number } | undefined
}

/**
 * The site description, the client secret to write to `secretFile` and the
 * CA certificate to write to `caFile`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const describe = (
  sim: Simulator.SimulatorHandle,
  options: Options
): { readonly site: Record<string, unknown>; readonly secret: string; readonly caPem: string } => {
  const secretFile = options.secretFile ?? "client-secret"
  const caFile = options.caFile ?? "simulator-ca.pem"
  const backupDirectory = options.backupDirectory
  const account = sim.accounts[0]!
  const pair = options.pair
  const now = Date.now()
  const first = options.windows?.firstMinutes ?? (pair ? 90 : 24 * 60)
  const gap = options.windows?.gapMinutes ?? 10
  const fleet = sim.config.fleet
  const passive = Math.round(fleet.jumpClients * fleet.passiveRatio)
  const site = {
    hostname: sim.site.hostname,
    product: sim.config.product,
    appliances: sim.config.appliances.map((a) => ({
      id: a.id,
      role: pair ? a.failoverRole : "none",
      hostname: a.hostname,
      apiUrl: sim.appliance(a.id).httpsUrl,
      uniqueIp: a.uniqueIp,
      clientId: account.clientId,
      clientSecret: { file: `./${secretFile}` },
      tls: { caFile: `./${caFile}` },
      storedDataGb: Math.round(a.dataSizeBytes / 1024 ** 3),
      baseVersion: a.baseVersion
    })),
    ...(pair ? { trafficSwitch: { method: "shared-ip", sharedIp: sim.config.siteSharedIp } } : {}),
    // open now; for a pair a second one (PAIR-1) 10 minutes after the first closes
    maintenanceWindows: [
      { label: "Window 1", start: new Date(now - 60_000).toISOString(), durationMinutes: first },
      ...(pair
        ? [
            {
              label: "Window 2",
              start: new Date(now - 60_000 + (first + gap) * 60_000).toISOString(),
              durationMinutes: options.windows?.secondMinutes ?? 90
            }
          ]
        : [])
    ],
    backup: { directory: backupDirectory },
    clients: {
      jumpClients: {
        active: fleet.jumpClients - passive,
        passive,
        packageMiB: Math.max(1, Math.round(fleet.clientUpdateBytes / 1024 ** 2)),
        bandwidthMiBps: Math.max(1, Math.round(fleet.maxUpgradeBandwidthBytesPerSecond / 1024 ** 2)),
        maxConcurrent: fleet.maxConcurrentUpgrades
      },
      jumpoints: fleet.jumpoints
    },
    updates: sim.config.updates
      .filter((u) => u.kind !== "license")
      .map((u) => ({ id: u.id, kind: u.kind, version: u.version, requires: u.requires }))
  }
  return { site, secret: Redacted.value(account.clientSecret), caPem: sim.certificatePem }
}

/**
 * A simulator for a move to new hardware (MIGRATE-1…9): old appliance `A`
 * (on `version`, no failover role) serving the site by DNS, and a
 * factory-fresh box `N` (on `factoryVersion`, own IP, no API account yet)
 * to which `site-<version>` is offered with nothing required.
 *
 * @since 0.3.0
 * @category constructors
 */
export const migrationConfig = (options: {
  readonly timeScale: number
  /** The old box's product version, which the new box is brought to (default 24.3.2). */
  readonly version?: string | undefined
  readonly factoryVersion?: string | undefined
  readonly jumpClients?: number | undefined
}): SimConfig.SimConfigInput => {
  const defaults = SimConfig.make()
  const version = options.version ?? "24.3.2"
  const known = defaults.updates.find((u) => u.kind === "site" && u.version === version)
  const build = known?.build ?? "41722-3d1f0c9a7b2e45f18c6d90ab12ef34567890abcd"
  const a = defaults.appliances[0]!
  return {
    timeScale: options.timeScale,
    traffic: "dns",
    appliances: [
      { ...a, version, build, failoverRole: "none", sharedIps: [] },
      {
        ...a,
        id: "N",
        hostname: "n.sra-simulator.local",
        uniqueIp: "10.0.0.21",
        version,
        build,
        failoverRole: "none",
        sharedIps: [],
        loggedInUsers: [],
        fresh: true,
        factoryVersion: options.factoryVersion ?? "23.3.1"
      }
    ],
    updates: [
      {
        id: `site-${version}`,
        kind: "site",
        version,
        build,
        requires: [],
        installSeconds: 30 * 60,
        rebootSeconds: 180
      }
    ],
    fleet: { jumpClients: options.jumpClients ?? 12, jumpoints: 2 }
  }
}

/**
 * Make the old box of a {@link migrationConfig} simulator serve the site's
 * real certificate (its key exportable): what MIGRATE-3…5 carry to the new box.
 *
 * @since 0.3.0
 * @category constructors
 */
export const installSiteCertificate = (sim: Simulator.SimulatorHandle): Effect.Effect<void, Simulator.SimulatorError> =>
  Effect.gen(function* () {
    const cert = sim.siteCertificate
    if (cert === undefined) return
    const imported = (yield* sim.control("POST", "/appliances/A/certificates", {
      certificate: `${cert.certificatePem.trim()}\n${sim.caPem.trim()}\n`,
      privateKey: Redacted.value(cert.privateKeyPem)
    })) as { id: string }
    yield* sim.control("PUT", `/appliances/A/certificates/${encodeURIComponent(imported.id)}/default`, {})
  })

/**
 * The site file of a {@link migrationConfig} simulator: appliance `A` and a
 * `migration:` section moving it to `N` (the bundle passphrase in
 * `passphraseFile`), plus the secret, CA and passphrase to write beside it.
 *
 * @since 0.3.0
 * @category constructors
 */
export const describeMigration = (
  sim: Simulator.SimulatorHandle,
  options: {
    readonly backupDirectory: string
    readonly secretFile?: string | undefined
    readonly caFile?: string | undefined
    readonly passphraseFile?: string | undefined
    /** MIGRATE-9 for the old box (default `physical`: factory reset, power off, return). */
    readonly oldKind?: "physical" | "virtual" | undefined
  }
): {
  readonly site: Record<string, unknown>
  readonly secret: string
  readonly caPem: string
  readonly passphrase: string
} => {
  const caFile = options.caFile ?? "simulator-ca.pem"
  const { caPem, secret, site } = describe(sim, {
    pair: false,
    backupDirectory: options.backupDirectory,
    ...(options.secretFile === undefined ? {} : { secretFile: options.secretFile }),
    caFile
  })
  const n = sim.config.appliances.find((a) => a.fresh === true)
  if (n === undefined) throw new Error("describeMigration: the simulator has no factory-fresh box (migrationConfig)")
  const old = (site["appliances"] as Array<Record<string, unknown>>).filter((a) => a["id"] !== n.id)
  return {
    site: {
      ...site,
      appliances: old,
      trafficSwitch: { method: "dns", ttlSeconds: 60 },
      migration: {
        oldKind: options.oldKind ?? "physical",
        newAppliance: {
          id: n.id,
          hostname: n.hostname,
          apiUrl: sim.appliance(n.id).httpsUrl,
          uniqueIp: n.uniqueIp,
          tls: { caFile: `./${caFile}` },
          kind: "virtual"
        },
        bundlePassphrase: { file: `./${options.passphraseFile ?? "bundle-passphrase"}` }
      }
    },
    secret,
    caPem,
    passphrase: "simulator-export-passphrase"
  }
}
