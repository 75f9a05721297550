/**
 * `sra-upgrade backup`: download and verify a settings backup of each appliance (PREP-1).
 *
 * @since 0.3.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { ApplianceApi } from "@sra-upgrade/core"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { siteOpt } from "../internal/options.js"
import { appliancesFor, resolveBackupPassword } from "../internal/prepare.js"
import * as Progress from "../Progress.js"
import * as SiteConnections from "../SiteConnections.js"

/**
 * The `backup` command.
 *
 * @since 0.3.0
 * @category commands
 */
export const command = Command.make(
  "backup",
  {
    site: siteOpt,
    appliance: Options.text("appliance").pipe(Options.optional, Options.withDescription("Only this appliance id.")),
    directory: Options.text("directory").pipe(
      Options.optional,
      Options.withDescription("Where to write the backup (default: backup.directory of the site file).")
    )
  },
  (o) =>
    Effect.gen(function* () {
      const site = yield* SiteConnections.load(o.site)
      const appliances = yield* appliancesFor(site, o.site)
      const password =
        site.backup.password === undefined ? undefined : yield* resolveBackupPassword(site.backup.password, o.site)
      const targets = Option.match(o.appliance, {
        onNone: () => site.appliances.map((a) => a.id),
        onSome: (id) => [id]
      })
      const directory = Option.getOrElse(o.directory, () => site.backup.directory)
      yield* Effect.gen(function* () {
        const api = yield* ApplianceApi.ApplianceApi
        for (const id of targets) {
          const client = yield* api.appliance(id)
          const started = Date.now()
          let last = 0
          const artifact = yield* client.downloadBackup({
            directory,
            password,
            onProgress: (bytes) => {
              if (process.stderr.isTTY !== true) return
              const now = Date.now()
              if (now - last < 500) return
              last = now
              const rate = bytes / Math.max(0.001, (now - started) / 1000)
              process.stderr.write(`\r  ${id}: ${Progress.formatBytes(bytes)} at ${Progress.formatBytes(rate)}/s   `)
            }
          })
          const secs = Math.max(0.001, (Date.now() - started) / 1000)
          if (process.stderr.isTTY === true) process.stderr.write("\r\x1b[K")
          yield* Console.log(
            `${id}: ${artifact.path}  ${Progress.formatBytes(artifact.bytes)} in ${secs.toFixed(1)} s (${Progress.formatBytes(artifact.bytes / secs)}/s)  sha256 ${artifact.sha256}  ${artifact.passwordProtected ? "password-protected" : "NOT password-protected"}`
          )
        }
      }).pipe(Effect.mapError(SiteConnections.fromApplianceError), Effect.provide(appliances))
    })
).pipe(Command.withDescription("Download and verify a settings backup of each appliance (PREP-1)."))
