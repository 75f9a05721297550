/**
 * A move to new hardware from the command (`--method migration`,
 * MIGRATE-1…9): the site file's `migration:` section (the new appliance,
 * its credentials file, the old box's kind, the bundle passphrase) turned
 * into the migration planner's inputs, the appliance port of the run (the
 * old box, and the new box reached with the old API account once the
 * settings are restored: no API account of the new box is ever asked for,
 * a factory box has none until the restore), the step handlers, and
 * against a simulator its operator.
 *
 * @since 0.3.0
 */
import { ApplianceClient, SiteConnections as AdapterSiteConnections } from "@sra-upgrade/appliance-client"
import { Steps } from "@sra-upgrade/certificates"
import { ApplianceApi, ApplianceError, type Journal, Operator, type Plan, Site, StepHandler } from "@sra-upgrade/core"
import { Planners, TrafficSwitch } from "@sra-upgrade/failover"
import { MigrationHandlers, MigrationPlan } from "@sra-upgrade/migration"
import { SimOperator } from "@sra-upgrade/simulator"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { type CliError, usage } from "./CliError.js"

/**
 * The `migration:` section of a site, or a usage error saying what to add.
 *
 * @since 0.3.0
 * @category constructors
 */
export const sectionOf = (site: Site.Site, file: string): Effect.Effect<Site.Migration, CliError> =>
  site.migration !== undefined
    ? Effect.succeed(site.migration)
    : usage(
        `${file}: --method migration needs a migration: section describing the new appliance (newAppliance: id, apiUrl, uniqueIp; oldKind: physical or virtual; bundlePassphrase); see docs/cli.md.`
      )

/**
 * Id, in the run's appliance port, of the new box reached with the OLD box's
 * API account (valid once the settings are restored, MIGRATE-7).
 *
 * @since 0.3.0
 * @category constants
 */
export const restoredId = (migration: Site.Migration): string => `${migration.newAppliance.id}-restored`

/**
 * The new appliance as the planner takes it: a site appliance with no API
 * account of its own (the plan never reaches it through one; after the
 * restore it is reached as {@link restoredId} with the old box's account).
 *
 * @since 0.3.0
 * @category constructors
 */
export const newApplianceOf = (migration: Site.Migration): Site.Appliance =>
  applianceAt(migration.newAppliance, {
    id: migration.newAppliance.id,
    clientId: "none-before-restore",
    clientSecret: new Site.EnvSecret({ env: "SRA_UPGRADE_NO_ACCOUNT_BEFORE_RESTORE" })
  })

/** The new box's address and TLS trust as a site appliance, under `id` with this API account. */
const applianceAt = (
  n: Site.NewAppliance,
  account: { readonly id: string; readonly clientId: string; readonly clientSecret: Site.SecretRef }
): Site.Appliance =>
  new Site.Appliance({
    ...account,
    role: "none",
    ...(n.hostname === undefined ? {} : { hostname: n.hostname }),
    apiUrl: n.apiUrl,
    allowPlainHttp: n.allowPlainHttp,
    uniqueIp: n.uniqueIp,
    tlsPort: n.tlsPort,
    ...(n.tls === undefined ? {} : { tls: n.tls })
  })

/**
 * What the migration planner needs besides the site.
 *
 * @since 0.3.0
 * @category models
 */
export interface Inputs {
  /** The old box's observed version. */
  readonly current: { readonly product: string; readonly build?: string | undefined }
  readonly pollIntervalSeconds?: number | undefined
  /** Where the site address is probed and which connection answers there (against a simulator: its site front). */
  readonly siteUrl?: string | undefined
  readonly siteClientId?: string | undefined
}

/**
 * The migration plan of the site to `target` (the version the new box is
 * brought to before the restore: the old box's, MIGRATE-6).
 *
 * @since 0.3.0
 * @category constructors
 */
export const plan = (
  site: Site.Site,
  migration: Site.Migration,
  target: string,
  inputs: Inputs
): Effect.Effect<Plan.Plan, CliError> =>
  Effect.mapError(
    MigrationPlan.planMigration(site.appliances[0]!, newApplianceOf(migration), site, {
      current: inputs.current,
      target,
      oldKind: migration.oldKind,
      newKind: migration.newAppliance.kind,
      restoredClientId: restoredId(migration),
      ...(inputs.siteClientId === undefined ? {} : { siteClientId: inputs.siteClientId }),
      ...(inputs.siteUrl === undefined ? {} : { siteUrl: inputs.siteUrl }),
      ...(inputs.pollIntervalSeconds === undefined ? {} : { pollIntervalSeconds: inputs.pollIntervalSeconds })
    }),
    (e) => usage(e.message)
  )

/**
 * The connection of the new box on its own address with the old box's API
 * account (`restoredId`): the CA / pin of `migration.newAppliance.tls`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const restoredConnection = (
  site: Site.Site,
  migration: Site.Migration,
  file: string
): Effect.Effect<ApplianceClient.Connection, CliError> => {
  const old = site.appliances[0]!
  const synthetic = new Site.Site({
    hostname: site.hostname,
    product: site.product,
    backup: site.backup,
    appliances: [
      applianceAt(migration.newAppliance, {
        id: restoredId(migration),
        clientId: old.clientId,
        clientSecret: old.clientSecret
      })
    ]
  })
  return AdapterSiteConnections.connections(synthetic, { siteFile: file }).pipe(
    Effect.map((cs) => cs[0]!),
    Effect.mapError((e) =>
      usage(
        e.reason === "secret"
          ? `${e.detail} (appliances[0].clientSecret)`
          : `${file}: migration.newAppliance.tls.caFile: ${e.detail}`
      )
    )
  )
}

const notYet = (id: string, hint: string) =>
  new ApplianceError.ApplianceError({
    appliance: id,
    operation: "appliance",
    reason: new ApplianceError.NotConfigured(),
    hint
  })

/**
 * The appliance port of a migration run: `fixed` connections (the old box,
 * the restored connection, the site address). The new box under its own id
 * has no API account (a factory box has none until the restore): any call
 * through it is a `NotConfigured` error saying so; the plan never makes one.
 *
 * @since 0.3.0
 * @category layers
 */
export const appliancesLayer = (options: {
  readonly fixed: ReadonlyArray<ApplianceClient.Connection>
  readonly migration: Site.Migration
}): Layer.Layer<ApplianceApi.ApplianceApi> =>
  Layer.scoped(
    ApplianceApi.ApplianceApi,
    Effect.gen(function* () {
      const fixed = yield* ApplianceClient.make(options.fixed)
      const newId = options.migration.newAppliance.id
      const appliance = (id: string): Effect.Effect<ApplianceApi.ApplianceClient, ApplianceError.ApplianceError> =>
        id !== newId
          ? fixed.appliance(id)
          : Effect.fail(
              notYet(
                id,
                `The new appliance has no API account of its own before the restore (MIGRATE-7); after it, the run reaches it as ${restoredId(options.migration)} with the old appliance's account.`
              )
            )
      return ApplianceApi.ApplianceApi.of({ appliance, probe: fixed.probe })
    })
  )

/**
 * The step handlers of a migration plan: the planners' (core and failover),
 * the migration's and the certificates' (MIGRATE-3…5), with the bundle
 * passphrase.
 *
 * @since 0.3.0
 * @category layers
 */
export const handlers = (
  config: Planners.HandlerConfig & { readonly bundlePassphrase: Redacted.Redacted<string> }
): Layer.Layer<StepHandler.StepHandlers, never, ApplianceApi.ApplianceApi | Journal.Journal> =>
  StepHandler.merge(
    Planners.handlers(config),
    MigrationHandlers.layer({ bundlePassphrase: config.bundlePassphrase }).pipe(Layer.provide(TrafficSwitch.layer)),
    Steps.layer({ bundlePassphrase: config.bundlePassphrase })
  )

/**
 * Against a simulator (`--yes`): the simulator operator with the site's
 * secrets, playing every migration gate as a person would (it reads the
 * version the new box shows; it creates no API account on it).
 *
 * @since 0.3.0
 * @category layers
 */
export const simulatorOperator = (options: {
  readonly controlUrl: string
  readonly bundlePassphrase: Redacted.Redacted<string>
  readonly backupPassword?: Redacted.Redacted<string> | undefined
}): Layer.Layer<Operator.Operator> =>
  Layer.succeed(
    Operator.Operator,
    SimOperator.make({
      controlUrl: options.controlUrl,
      by: "simulator (--yes)",
      exportPassphrase: Redacted.value(options.bundlePassphrase),
      ...(options.backupPassword === undefined ? {} : { backupPassword: Redacted.value(options.backupPassword) })
    })
  )
