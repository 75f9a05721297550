/**
 * From a site description to the adapter's connections: secrets read from
 * the environment variables or files the site file names (never from a
 * command line or a request), CA bundles read, pins passed on. The
 * `sra-upgrade` command and the portal service both connect through it.
 *
 * @since 0.3.0
 */
import { Site } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { readFile } from "node:fs/promises"
import { dirname, isAbsolute, join } from "node:path"
import * as ApplianceClient from "./ApplianceClient.js"

/**
 * A connection could not be built: a secret is unavailable or a CA bundle
 * unreadable. `field` is the path of the site file's field
 * (`appliances[0].clientSecret`); the message never holds a secret.
 *
 * @since 0.3.0
 * @category errors
 */
export class SiteConnectionError extends Schema.TaggedError<SiteConnectionError>(
  "@sra-upgrade/appliance-client/SiteConnectionError"
)("SiteConnectionError", {
  file: Schema.String,
  field: Schema.String,
  reason: Schema.Literal("secret", "caFile"),
  detail: Schema.String
}) {
  /**
   * @since 0.3.0
   */
  override get message(): string {
    return this.reason === "secret" ? `${this.detail} (${this.field})` : `${this.file}: ${this.field}: ${this.detail}`
  }
}

/**
 * Options of {@link connections}.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /** The site file, to resolve relative secret and CA paths and to name it in errors. */
  readonly siteFile?: string | undefined
  /** Environment to read `{ env: NAME }` secrets from; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
}

/**
 * The connections of every appliance of the site.
 *
 * @since 0.3.0
 * @category constructors
 */
export const connections = (
  site: Site.Site,
  options: Options = {}
): Effect.Effect<ReadonlyArray<ApplianceClient.Connection>, SiteConnectionError> => {
  const baseDir = options.siteFile === undefined ? undefined : dirname(options.siteFile)
  const file = options.siteFile ?? "<site>"
  return Effect.forEach(site.appliances, (a, i) =>
    Effect.gen(function* () {
      const clientSecret = yield* Site.resolveSecret(a.clientSecret, {
        baseDir,
        env: options.env,
        siteFile: file
      }).pipe(
        Effect.mapError(
          (e) =>
            new SiteConnectionError({
              file,
              field: `appliances[${i}].clientSecret`,
              reason: "secret",
              detail: e.message
            })
        )
      )
      let tls: ApplianceClient.TlsOptions | undefined
      if (a.tls instanceof Site.CaFileTrust) {
        const path = isAbsolute(a.tls.caFile) || baseDir === undefined ? a.tls.caFile : join(baseDir, a.tls.caFile)
        const caPem = yield* Effect.tryPromise({
          try: () => readFile(path, "utf8"),
          catch: (e) =>
            new SiteConnectionError({
              file,
              field: `appliances[${i}].tls.caFile`,
              reason: "caFile",
              detail: `cannot read ${path} (${(e as { code?: string }).code ?? String(e)}); give the PEM bundle of the CA that issued the appliance certificate.`
            })
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
        // hints of the connection's errors name the site file's fields (appliances[0].tls.sha256 in site.yaml)
        settingNames: ApplianceClient.siteFileSettingNames(options.siteFile ?? "the site file", i)
      } satisfies ApplianceClient.Connection
    })
  )
}
