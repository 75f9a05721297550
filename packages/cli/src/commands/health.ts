/**
 * `sra-upgrade health`: health, version, failover role and clock skew of every appliance.
 *
 * @since 0.3.0
 */
import * as Command from "@effect/cli/Command"
import { ApplianceApi } from "@sra-upgrade/core"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { failed } from "../CliError.js"
import { jsonOpt, siteOpt } from "../internal/options.js"
import { appliancesFor } from "../internal/prepare.js"
import * as SiteConnections from "../SiteConnections.js"

/**
 * The `health` command.
 *
 * @since 0.3.0
 * @category commands
 */
export const command = Command.make("health", { site: siteOpt, json: jsonOpt }, (o) =>
  Effect.gen(function* () {
    const site = yield* SiteConnections.load(o.site)
    const appliances = yield* appliancesFor(site, o.site)
    const rows = yield* Effect.gen(function* () {
      const api = yield* ApplianceApi.ApplianceApi
      return yield* Effect.forEach(site.appliances, (a) =>
        Effect.gen(function* () {
          const client = yield* api.appliance(a.id)
          const h = yield* client.health
          const info = yield* Effect.either(client.apiInfo)
          const skew = Either.isRight(info)
            ? Math.round((info.right.serverTime.getTime() - info.right.localTime.getTime()) / 1000)
            : undefined
          return {
            id: a.id,
            hostname: h.hostname,
            version: h.version,
            build: h.build,
            healthy: h.healthy,
            failoverRole: h.failoverRole,
            expectedRole: a.role,
            sharedIps: h.enabledSharedIps,
            lastDataSync: h.lastDataSync?.toISOString(),
            clockSkewSeconds: skew,
            ...(h.errorMessage === undefined ? {} : { error: h.errorMessage })
          }
        }).pipe(Effect.mapError(SiteConnections.fromApplianceError))
      )
    }).pipe(Effect.provide(appliances))
    if (o.json) return yield* Console.log(JSON.stringify(rows, null, 2))
    for (const r of rows)
      yield* Console.log(
        `${r.id}  ${r.hostname}  ${r.version} (build ${r.build.split("-")[0]})  ${r.healthy ? "healthy" : `UNHEALTHY: ${r.error ?? ""}`}  role ${r.failoverRole}${r.failoverRole !== r.expectedRole ? ` (site file says ${r.expectedRole})` : ""}  shared IPs [${r.sharedIps.join(", ")}]  clock skew ${r.clockSkewSeconds ?? "?"} s`
      )
    if (rows.some((r) => !r.healthy)) return yield* failed("an appliance reports it is not healthy")
  })
).pipe(Command.withDescription("Health, version, failover role and clock skew of every appliance of the site."))
