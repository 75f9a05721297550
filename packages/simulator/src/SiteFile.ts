/**
 * A site file describing a running simulator, as a person would write it
 * (the plain data; write it as YAML or JSON): the client secret and the
 * simulator's CA certificate are files beside it (`secretFile`, `caFile`),
 * the maintenance window(s) open now. Used by `sra-upgrade demo`, `sim
 * --write-site`, `serve --demo` and tests.
 *
 * @since 0.3.0
 */
import * as Redacted from "effect/Redacted"
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
