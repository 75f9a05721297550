/**
 * The simulator from the command: `sra-upgrade sim` and the `--yes`
 * operator (the simulator plays the manual gates).
 */
import type { Operator } from "@sra-upgrade/core"
import { SimOperator, Simulator, SiteFile } from "@sra-upgrade/simulator"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { mkdir, writeFile } from "node:fs/promises"
import { basename, dirname, join, resolve } from "node:path"
import * as YAML from "yaml"
import { type CliError, usage } from "../CliError.js"
import * as Demo from "../Demo.js"

/** A simulator reached through its control API. */
export interface Target {
  readonly controlUrl: string
  /** Simulated seconds per real second (waits of the plan are compressed by it). */
  readonly timeScale: number
  /** The simulator plays the manual gates. */
  readonly operator: Layer.Layer<Operator.Operator>
  /** The site address of the simulator (its site front), where pair plans probe and check who answers. */
  readonly siteFront: SiteFront | undefined
}

/** URLs of a simulator's site front. */
export interface SiteFront {
  readonly httpUrl: string
  readonly httpsUrl: string
}

/** Check that `controlUrl` is a simulator's control API and read its time scale and site front. */
export const target = (controlUrl: string): Effect.Effect<Target, CliError> =>
  Effect.tryPromise({
    try: async (signal) => {
      const base = controlUrl.replace(/\/+$/, "")
      // the state carries the clock's time scale and the site front's URLs
      const res = await fetch(`${base}/state`, { signal })
      if (!res.ok) throw new Error(`HTTP ${res.status}`)
      const state = (await res.json()) as {
        readonly timeScale?: unknown
        readonly site?: { readonly httpUrl?: unknown; readonly httpsUrl?: unknown }
      }
      const timeScale = typeof state.timeScale === "number" && state.timeScale >= 1 ? state.timeScale : 1
      const { httpUrl, httpsUrl } = state.site ?? {}
      return {
        controlUrl: base,
        timeScale,
        operator: SimOperator.layer({ controlUrl: base, by: "simulator (--yes)" }),
        siteFront: typeof httpUrl === "string" && typeof httpsUrl === "string" ? { httpUrl, httpsUrl } : undefined
      }
    },
    catch: (e) =>
      usage(
        `--simulator ${controlUrl}: no simulator control API answers there (${e instanceof Error ? e.message : String(e)}). Start one with \`sra-upgrade sim\` and pass the control URL it prints; --yes is refused for real appliances.`
      )
  })

/** The site file of a migration simulator, with its client secret, CA and bundle passphrase beside it. */
const writeMigrationSite = (sim: Simulator.SimulatorHandle, target: string, json: boolean) =>
  Effect.gen(function* () {
    const file = resolve(target)
    const stem = basename(file).replace(/\.(ya?ml|json)$/i, "")
    const names = {
      secretFile: `${stem}.client-secret`,
      caFile: `${stem}.ca.pem`,
      passphraseFile: `${stem}.bundle-passphrase`
    }
    const { caPem, passphrase, secret, site } = SiteFile.describeMigration(sim, {
      backupDirectory: join(dirname(file), "sim-backups"),
      ...names
    })
    const text = /\.json$/i.test(file)
      ? JSON.stringify(site, null, 2) + "\n"
      : "# Written by `sra-upgrade sim --migration` for this simulator.\n" + YAML.stringify(site, { lineWidth: 0 })
    yield* Effect.tryPromise({
      try: async () => {
        await writeFile(join(dirname(file), names.secretFile), secret + "\n", { mode: 0o600 })
        await writeFile(join(dirname(file), names.passphraseFile), passphrase + "\n", { mode: 0o600 })
        await writeFile(join(dirname(file), names.caFile), caPem)
        await writeFile(file, text)
      },
      catch: (e) => usage(`cannot write ${file}: ${e instanceof Error ? e.message : String(e)}`)
    })
    if (!json) yield* Console.log(`Migration site file for this simulator: ${file}`)
  })

/** `sra-upgrade sim`: start, print, wait for Ctrl-C. */
export const serve = (options: {
  readonly timeScale: number
  readonly clients: number
  /** Bytes of each appliance's settings backup. */
  readonly backupSize: number
  readonly json: boolean
  readonly writeSite: Option.Option<string>
  /** A move to new hardware (A and a factory-fresh N) instead of a failover pair. */
  readonly migration?: boolean | undefined
}) =>
  Effect.scoped(
    Effect.gen(function* () {
      if (!(options.backupSize >= 1))
        return yield* usage(`--backup-size expects a number of bytes of at least 1, got ${options.backupSize}`)
      const sim = yield* Simulator.start(
        options.migration === true
          ? {
              ...SiteFile.migrationConfig({ timeScale: options.timeScale, jumpClients: options.clients }),
              backupSizeBytes: options.backupSize
            }
          : {
              timeScale: options.timeScale,
              fleet: { jumpClients: options.clients },
              backupSizeBytes: options.backupSize
            }
      ).pipe(Effect.mapError((e) => usage(e.message)))
      if (options.migration === true) {
        yield* SiteFile.installSiteCertificate(sim).pipe(Effect.mapError((e) => usage(e.message)))
        if (Option.isSome(options.writeSite)) yield* writeMigrationSite(sim, options.writeSite.value, options.json)
      } else if (Option.isSome(options.writeSite)) {
        const file = resolve(options.writeSite.value)
        const secretName = `${basename(file).replace(/\.(ya?ml|json)$/i, "")}.client-secret`
        const caName = `${basename(file).replace(/\.(ya?ml|json)$/i, "")}.ca.pem`
        const { caPem, secret, yaml } = Demo.siteFileFor(
          sim,
          "async",
          join(dirname(file), "sim-backups"),
          secretName,
          caName
        )
        yield* Effect.tryPromise({
          try: async () => {
            await writeFile(join(dirname(file), secretName), secret + "\n", { mode: 0o600 })
            await writeFile(join(dirname(file), caName), caPem)
            await writeFile(file, yaml)
          },
          catch: (e) => usage(`cannot write ${file}: ${e instanceof Error ? e.message : String(e)}`)
        })
        if (!options.json)
          yield* Console.log(`Site file for this simulator: ${file} (secret in ${secretName}, CA in ${caName})`)
      }
      if (options.json) {
        yield* Console.log(
          JSON.stringify({
            pid: process.pid,
            control: sim.controlUrl,
            site: sim.site,
            appliances: sim.appliances,
            accounts: sim.accounts.map((a) => ({ ...a, clientSecret: Redacted.value(a.clientSecret) }))
          })
        )
      } else {
        yield* Console.log(
          [
            `SRA appliance simulator (${sim.config.product.toUpperCase()}, time x${sim.config.timeScale})`,
            "",
            ...sim.appliances.map(
              (a) => `  appliance ${a.id}  ${a.hostname.padEnd(24)} ${a.httpsUrl}  (http: ${a.httpUrl})`
            ),
            `  site      ${sim.site.hostname.padEnd(24)} ${sim.site.httpsUrl}  (http: ${sim.site.httpUrl})`,
            `  control   ${sim.controlUrl}`,
            "",
            "API accounts (client_id / client_secret; simulator only):",
            ...sim.accounts.map((a) => `  ${a.name.padEnd(14)} ${a.clientId}  ${Redacted.value(a.clientSecret)}`),
            "",
            `Run a plan against it with: sra-upgrade run --site ${Option.getOrElse(options.writeSite, () => "<site file>")} --to 24.3.2${options.migration === true ? " --method migration" : ""} --yes --simulator ${sim.controlUrl}`,
            "Ctrl-C to stop."
          ].join("\n")
        )
      }
      return yield* Effect.never
    })
  )

/**
 * `sra-upgrade sim --sites N [--pairs P]`: many simulated sites in one
 * process (the first P failover pairs, the others single appliances), one
 * site file per site with `--write-site DIR`, and with `--json` one line
 * saying, per site, its control URL and site file: what a fleet needs.
 */
export const serveSites = (options: {
  readonly sites: number
  readonly pairs: Option.Option<number>
  readonly timeScale: number
  readonly clients: number
  readonly backupSize: number
  readonly json: boolean
  readonly writeSite: Option.Option<string>
}) =>
  Effect.scoped(
    Effect.gen(function* () {
      if (!(options.backupSize >= 1))
        return yield* usage(`--backup-size expects a number of bytes of at least 1, got ${options.backupSize}`)
      const started = Date.now()
      const sims = yield* Simulator.startSites({
        sites: options.sites,
        pairs: Option.getOrUndefined(options.pairs),
        common: {
          timeScale: options.timeScale,
          fleet: { jumpClients: options.clients },
          backupSizeBytes: options.backupSize
        }
      }).pipe(
        Effect.mapError((e) => usage(e.reason._tag === "InvalidInput" ? `--sites/--pairs: ${e.message}` : e.message))
      )
      const startSeconds = (Date.now() - started) / 1000
      const files = new Map<string, string>()
      if (Option.isSome(options.writeSite)) {
        const dir = resolve(options.writeSite.value)
        const caName = "simulator-ca.pem"
        yield* Effect.tryPromise({
          try: async () => {
            await mkdir(dir, { recursive: true })
            await writeFile(join(dir, caName), sims.caPem)
            for (const sim of sims.sites) {
              const secretName = `${sim.name}.client-secret`
              const { secret, yaml } = Demo.siteFileFor(
                sim,
                sim.kind === "pair" ? "async" : "single",
                join(dir, "sim-backups", sim.name),
                secretName,
                caName
              )
              const file = join(dir, `${sim.name}.yaml`)
              await writeFile(join(dir, secretName), secret + "\n", { mode: 0o600 })
              await writeFile(file, yaml)
              files.set(sim.name, file)
            }
          },
          catch: (e) => usage(`cannot write the site files in ${dir}: ${e instanceof Error ? e.message : String(e)}`)
        })
      }
      if (options.json) {
        yield* Console.log(
          JSON.stringify({
            pid: process.pid,
            control: sims.controlUrl,
            startSeconds,
            sites: sims.sites.map((sim) => ({
              name: sim.name,
              kind: sim.kind,
              control: sim.controlUrl,
              siteFile: files.get(sim.name) ?? null,
              site: sim.site,
              appliances: sim.appliances.map((a) => ({ id: a.id, httpUrl: a.httpUrl, httpsUrl: a.httpsUrl })),
              account: {
                clientId: sim.accounts[0]!.clientId,
                clientSecret: Redacted.value(sim.accounts[0]!.clientSecret)
              }
            }))
          })
        )
      } else {
        const pairs = sims.sites.filter((s) => s.kind === "pair").length
        yield* Console.log(
          [
            `SRA appliance simulator: ${sims.sites.length} sites (${pairs} failover pairs, ${sims.sites.length - pairs} single appliances), time x${options.timeScale}, started in ${startSeconds.toFixed(1)} s`,
            "",
            ...sims.sites.map(
              (s) =>
                `  ${s.name.padEnd(10)} ${s.kind.padEnd(6)} site ${s.site.httpsUrl}  control ${s.controlUrl}${files.has(s.name) ? `  ${files.get(s.name)}` : ""}`
            ),
            "",
            `  all sites: ${sims.controlUrl} (GET /sites, GET /actions, POST /clock/advance)`,
            Option.isSome(options.writeSite)
              ? `Site files, secrets and the CA (simulator-ca.pem) are in ${resolve(options.writeSite.value)}.`
              : "Write one site file per site with --write-site DIR.",
            "Ctrl-C to stop."
          ].join("\n")
        )
      }
      return yield* Effect.never
    })
  )
