import { Site } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import * as FleetFile from "../src/FleetFile.js"
import * as Rollout from "../src/Rollout.js"
import * as SiteWindow from "../src/SiteWindow.js"
import * as TestRollout from "../src/TestRollout.js"

/** A valid single-appliance site file. */
export const singleYaml = (
  name: string,
  options: { readonly product?: "pra" | "rs"; readonly storedDataGb?: number; readonly net?: number } = {}
) => {
  const net = options.net ?? 1
  return `hostname: ${name}.example.com
product: ${options.product ?? "pra"}
appliances:
  - id: A
    role: none
    apiUrl: https://10.0.${net}.11
    uniqueIp: 10.0.${net}.11
    clientId: fleet-${name}
    clientSecret: { env: SRA_TEST_SECRET }
    storedDataGb: ${options.storedDataGb ?? 20}
backup:
  directory: /tmp/sra-backups/${name}
updates:
  - id: site-24.3.2
    kind: site
    version: "24.3.2"
    estimatedMinutes: 25
`
}

/** A valid failover pair site file. */
export const pairYaml = (name: string, options: { readonly storedDataGb?: number; readonly net?: number } = {}) => {
  const net = options.net ?? 2
  return `hostname: ${name}.example.com
product: pra
appliances:
  - id: A
    role: primary
    apiUrl: https://10.0.${net}.11
    uniqueIp: 10.0.${net}.11
    clientId: fleet-${name}
    clientSecret: { env: SRA_TEST_SECRET }
    storedDataGb: ${options.storedDataGb ?? 20}
  - id: B
    role: backup
    apiUrl: https://10.0.${net}.12
    uniqueIp: 10.0.${net}.12
    clientId: fleet-${name}
    clientSecret: { env: SRA_TEST_SECRET }
    storedDataGb: ${options.storedDataGb ?? 20}
trafficSwitch: { method: shared-ip, sharedIp: 10.0.${net}.10 }
backup:
  directory: /tmp/sra-backups/${name}
updates:
  - id: site-24.3.2
    kind: site
    version: "24.3.2"
    estimatedMinutes: 25
`
}

/** A fresh folder holding these files (sub-folders created). */
export const folder = (files: Readonly<Record<string, string>>): string => {
  const dir = mkdtempSync(join(tmpdir(), "sra-fleet-test-"))
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true })
    writeFileSync(join(dir, name), content)
  }
  return dir
}

/** Decode a fleet from YAML text and in-memory site files (by the file names the fleet uses). */
export const fleetOf = (fleetYaml: string, sites: Readonly<Record<string, string>>): FleetFile.Fleet => {
  const spec = Either.getOrThrowWith(FleetFile.decodeSpec(fleetYaml, "yaml", "fleet.yaml"), (e) => e)
  const decoded = spec.sites.map((s) => Effect.runSync(Site.decodeSite(sites[s.file]!, "yaml", s.file)))
  return Either.getOrThrowWith(FleetFile.make(spec, decoded, { file: "fleet.yaml", baseDir: "/fleet" }), (e) => e)
}

/** The error of a fleet spec that does not decode. */
export const specError = (fleetYaml: string): FleetFile.FleetFileError =>
  Either.getOrThrowWith(Either.flip(FleetFile.decodeSpec(fleetYaml, "yaml", "fleet.yaml")), () => "decoded")

/** The issues (path: message) of an invalid fleet file error. */
export const issues = (e: FleetFile.FleetFileError): ReadonlyArray<string> =>
  e.reason._tag === "Invalid" ? e.reason.issues.map((i) => `${i.path}: ${i.message}`) : [e.message]

/** A synthetic site of a rollout plan (no site file), for admission tests. */
export const sitePlan = (options: {
  readonly id: string
  readonly wave: number
  readonly windows: ReadonlyArray<SiteWindow.WeeklyWindow>
  readonly firstSeconds: number
  readonly secondSeconds?: number | undefined
}) => TestRollout.sitePlan(options)

/** A synthetic rollout plan over these sites. */
export const rolloutOf = (options: {
  readonly sites: ReadonlyArray<Rollout.SitePlan>
  readonly waves: number
  readonly concurrency: number
  readonly allowedFailures: number
  readonly approvals?: ReadonlyArray<number> | undefined
}) => TestRollout.rolloutPlan(options)

/** The four zones the tests use: three with daylight saving (two hemispheres), one without. */
export const zones = ["Europe/Paris", "America/New_York", "Australia/Sydney", "Asia/Kolkata"] as const

/**
 * Oracle, independent of `SiteWindow.fromLocal`: the first instant (on the
 * 15-minute grid every offset of these zones lies on) whose wall clock in
 * `tz` reaches the wall time. That is the local time itself when it exists
 * once, its first occurrence when it repeats, and the end of the gap when it
 * was skipped.
 */
export const oracleStart = (
  tz: string,
  local: {
    readonly year: number
    readonly month: number
    readonly day: number
    readonly hour: number
    readonly minute: number
  }
): number => {
  const wall = Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute)
  const f = new Intl.DateTimeFormat("en-GB", {
    timeZone: tz,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23"
  })
  const wallOf = (t: number) => {
    const p = Object.fromEntries(f.formatToParts(t).map((x) => [x.type, x.value]))
    return Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute))
  }
  for (let t = wall - 15 * 3_600_000; ; t += 15 * 60_000) if (wallOf(t) >= wall) return t
}

/** Oracle: the openings of one window whose start is on a local day in [from, to] (days as Date.UTC of the local date). */
export const oracleOpenings = (
  w: SiteWindow.WeeklyWindow,
  fromDay: number,
  toDay: number
): ReadonlyArray<{ readonly start: number; readonly end: number }> => {
  const names = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
  const out: Array<{ start: number; end: number }> = []
  for (let d = fromDay; d <= toDay; d += 86_400_000) {
    const date = new Date(d)
    if (!w.days.includes(names[date.getUTCDay()] as SiteWindow.Day)) continue
    const start = oracleStart(w.timeZone, {
      year: date.getUTCFullYear(),
      month: date.getUTCMonth() + 1,
      day: date.getUTCDate(),
      hour: Number(w.start.slice(0, 2)),
      minute: Number(w.start.slice(3))
    })
    out.push({ start, end: start + w.durationMinutes * 60_000 })
  }
  return out
}

/** The local day (as Date.UTC of the local date) of an instant in a zone. */
export const localDay = (tz: string, t: number): number => {
  const l = SiteWindow.toLocal(tz, t)
  return Date.UTC(l.year, l.month - 1, l.day)
}

/** A fake site plan for the engine tests: the steps given (e.g. a gate), then one non-idempotent `install` action. */
export { installPlan } from "../src/TestRollout.js"
