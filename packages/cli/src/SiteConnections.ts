/**
 * From a site file to what a run needs: the decoded `Site` (errors name the
 * file, the field path and what was expected) and the `ApplianceClient`
 * connections, with secrets read from the environment variables or files
 * the site file names (never from the command line).
 *
 * @since 0.1.0
 */
import { ApplianceClient } from "@sra-upgrade/appliance-client"
import { ApplianceError, Site } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import { readFile } from "node:fs/promises"
import { dirname, isAbsolute, join } from "node:path"
import { CliError, ExitCode, usage } from "./CliError.js"

/**
 * Read and decode a site file; a bad file is a usage error (exit code 2).
 *
 * @since 0.1.0
 * @category constructors
 */
export const load = (file: string): Effect.Effect<Site.Site, CliError> =>
  Site.decodeSiteFile(file).pipe(Effect.mapError((e) => usage(e.message)))

/**
 * Options of {@link connections}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionOptions {
  /** The site file, to resolve relative secret and CA paths and to name it in errors. */
  readonly siteFile?: string | undefined
  /** Environment to read `{ env: NAME }` secrets from; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
}

/**
 * The adapter connections of every appliance of the site: secrets resolved,
 * CA bundles read, pins passed on; the hints of their errors name the site
 * file's fields (`appliances[0].tls.sha256 in site.yaml`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const connections = (
  site: Site.Site,
  options: ConnectionOptions = {}
): Effect.Effect<ReadonlyArray<ApplianceClient.Connection>, CliError> => {
  const baseDir = options.siteFile === undefined ? undefined : dirname(options.siteFile)
  const file = options.siteFile ?? "<site>"
  return Effect.forEach(site.appliances, (a, i) =>
    Effect.gen(function* () {
      const clientSecret = yield* Site.resolveSecret(a.clientSecret, {
        baseDir,
        env: options.env,
        siteFile: file
      }).pipe(Effect.mapError((e) => usage(`${e.message} (appliances[${i}].clientSecret)`)))
      let tls: ApplianceClient.TlsOptions | undefined
      if (a.tls instanceof Site.CaFileTrust) {
        const path = isAbsolute(a.tls.caFile) || baseDir === undefined ? a.tls.caFile : join(baseDir, a.tls.caFile)
        const caPem = yield* Effect.tryPromise({
          try: () => readFile(path, "utf8"),
          catch: (e) =>
            usage(
              `${file}: appliances[${i}].tls.caFile: cannot read ${path} (${(e as { code?: string }).code ?? String(e)}); give the PEM bundle of the CA that issued the appliance certificate.`
            )
        })
        tls = { caPem }
      } else if (a.tls instanceof Site.PinTrust) {
        tls = { pinSha256: a.tls.hex }
      }
      return {
        id: a.id,
        baseUrl: a.apiUrl,
        clientId: a.clientId,
        clientSecret,
        ...(tls === undefined ? {} : { tls }),
        settingNames: ApplianceClient.siteFileSettingNames(options.siteFile ?? "the site file", i)
      } satisfies ApplianceClient.Connection
    })
  )
}

/**
 * Turn an appliance error into the command's error (exit code 5), keeping the
 * adapter's hint as the message.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromApplianceError = (e: ApplianceError.ApplianceError): CliError =>
  new CliError({ exitCode: ExitCode.unreachable, message: e.message, detail: JSON.stringify(e.reason) })
