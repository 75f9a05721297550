/**
 * From a site file to what a run needs: the decoded `Site` (errors name the
 * file, the field path and what was expected) and the `ApplianceClient`
 * connections, with secrets read from the environment variables or files
 * the site file names (never from the command line).
 *
 * @since 0.1.0
 */
import type { ApplianceClient } from "@sra-upgrade/appliance-client"
import { SiteConnections as AdapterSiteConnections } from "@sra-upgrade/appliance-client"
import { ApplianceApi, type ApplianceError, Site } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
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
export type ConnectionOptions = AdapterSiteConnections.Options

/**
 * The adapter connections of every appliance of the site (`SiteConnections`
 * of `@sra-upgrade/appliance-client`); a missing secret or CA bundle is a
 * usage error.
 *
 * @since 0.1.0
 * @category constructors
 */
export const connections = (
  site: Site.Site,
  options: ConnectionOptions = {}
): Effect.Effect<ReadonlyArray<ApplianceClient.Connection>, CliError> =>
  Effect.mapError(AdapterSiteConnections.connections(site, options), (e) => usage(e.message))

/**
 * Turn an appliance error into the command's error (exit code 5), keeping the
 * adapter's hint as the message.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromApplianceError = (e: ApplianceError.ApplianceError): CliError =>
  new CliError({ exitCode: ExitCode.unreachable, message: e.message, detail: JSON.stringify(e.reason) })

/**
 * The versions every appliance of the site reports now (its health), as the
 * planners take them.
 *
 * @since 0.3.0
 * @category constructors
 */
export const currentVersions = (
  site: Site.Site,
  appliances: Layer.Layer<ApplianceApi.ApplianceApi>
): Effect.Effect<
  ReadonlyMap<string, { readonly product: string; readonly build: string }>,
  ApplianceError.ApplianceError
> =>
  Effect.provide(
    Effect.gen(function* () {
      const api = yield* ApplianceApi.ApplianceApi
      return new Map(
        yield* Effect.forEach(site.appliances, (a) =>
          Effect.flatMap(api.appliance(a.id), (c) => c.health).pipe(
            Effect.map((h) => [a.id, { product: h.version, build: h.build }] as const)
          )
        )
      )
    }),
    appliances
  )
