/**
 * A move to new hardware from the command (`--method migration`,
 * MIGRATE-1…9): the site file's `migration:` section (the new appliance,
 * its credentials file, the old box's kind, the bundle passphrase) turned
 * into the migration planner's inputs, the appliance port of the run (the
 * old box, the new box reached with the old API account once the settings
 * are restored, and the new box's own API account read from its
 * credentials file when the run first needs it), the step handlers, and
 * against a simulator the operator that creates the new box's API account
 * at MIGRATE-1 and writes its credentials file.
 *
 * @since 0.3.0
 */
import { ApplianceClient, SiteConnections as AdapterSiteConnections } from "@sra-upgrade/appliance-client"
import { Steps } from "@sra-upgrade/certificates"
import { ApplianceApi, ApplianceError, type Journal, Operator, type Plan, Site, StepHandler } from "@sra-upgrade/core"
import { Planners, TrafficSwitch } from "@sra-upgrade/failover"
import { MigrationHandlers, MigrationPlan, MigrationSteps } from "@sra-upgrade/migration"
import { SimOperator } from "@sra-upgrade/simulator"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { dirname, isAbsolute, join } from "node:path"
import { type CliError, usage } from "./CliError.js"

/**
 * The API account of the new box, as its credentials file holds it.
 *
 * @since 0.3.0
 * @category models
 */
export interface Credentials {
  readonly clientId: string
  readonly clientSecret: Redacted.Redacted<string>
}

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
        `${file}: --method migration needs a migration: section describing the new appliance (newAppliance: id, apiUrl, uniqueIp, credentialsFile; oldKind: physical or virtual; bundlePassphrase); see docs/cli.md.`
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
 * Where the new box's credentials file is (relative paths: from the site file's folder).
 *
 * @since 0.3.0
 * @category combinators
 */
export const credentialsPath = (migration: Site.Migration, siteFile: string): string => {
  const f = migration.newAppliance.credentialsFile
  return isAbsolute(f) ? f : join(dirname(siteFile), f)
}

/**
 * Read the new box's credentials file: `None` while it does not exist (the
 * account is created at MIGRATE-1); a file that is not a mapping with
 * `clientId` and `clientSecret` is a usage error naming the file.
 *
 * @since 0.3.0
 * @category constructors
 */
export const readCredentials = (path: string): Either.Either<Option.Option<Credentials>, CliError> => {
  let text: string
  try {
    text = readFileSync(path, "utf8")
  } catch (e) {
    if ((e as { code?: unknown }).code === "ENOENT") return Either.right(Option.none())
    return Either.left(
      usage(
        `${path} (migration.newAppliance.credentialsFile): cannot read it (${String((e as { code?: unknown }).code ?? e)}).`
      )
    )
  }
  const parsed = Site.parseDocument(text, /\.json$/i.test(path) ? "json" : "yaml")
  const value = Either.isRight(parsed) ? (parsed.right as Record<string, unknown> | null) : null
  const clientId = value?.["clientId"]
  const clientSecret = value?.["clientSecret"]
  if (typeof clientId !== "string" || clientId === "" || typeof clientSecret !== "string" || clientSecret === "")
    return Either.left(
      usage(
        `${path} (migration.newAppliance.credentialsFile): expected a mapping with clientId and clientSecret (the API account created on the new appliance at MIGRATE-1), e.g. clientId: 0a1b… / clientSecret: …`
      )
    )
  return Either.right(Option.some({ clientId, clientSecret: Redacted.make(clientSecret) }))
}

/**
 * Write the new box's credentials file (mode 0600, atomically: a crash leaves the old file or the new one).
 *
 * @since 0.3.0
 * @category constructors
 */
export const writeCredentials = (path: string, credentials: Credentials): void => {
  mkdirSync(dirname(path), { recursive: true })
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(
    tmp,
    JSON.stringify({ clientId: credentials.clientId, clientSecret: Redacted.value(credentials.clientSecret) }) + "\n",
    { mode: 0o600 }
  )
  chmodSync(tmp, 0o600)
  renameSync(tmp, path)
}

/**
 * The new appliance as the planner takes it: a site appliance whose API
 * account is not known yet (it is created at MIGRATE-1).
 *
 * @since 0.3.0
 * @category constructors
 */
export const newApplianceOf = (migration: Site.Migration): Site.Appliance =>
  applianceAt(migration.newAppliance, {
    id: migration.newAppliance.id,
    clientId: "created-at-MIGRATE-1",
    clientSecret: new Site.FileSecret({ file: migration.newAppliance.credentialsFile })
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
 * the restored connection, the site address) and the new box's own API
 * account, read from its credentials file the first time the run needs it
 * (until then, and while the file does not exist, a `NotConfigured` error
 * saying that the account is created at MIGRATE-1).
 *
 * @since 0.3.0
 * @category layers
 */
export const appliancesLayer = (options: {
  readonly fixed: ReadonlyArray<ApplianceClient.Connection>
  readonly migration: Site.Migration
  readonly credentialsPath: string
  /** The restored connection: the new box's address and TLS trust. */
  readonly newBox: ApplianceClient.Connection
}): Layer.Layer<ApplianceApi.ApplianceApi> =>
  Layer.scoped(
    ApplianceApi.ApplianceApi,
    Effect.gen(function* () {
      const fixed = yield* ApplianceClient.make(options.fixed)
      const scope = yield* Effect.scope
      const newId = options.migration.newAppliance.id
      let own: ApplianceApi.ApplianceClient | undefined
      const appliance = (id: string): Effect.Effect<ApplianceApi.ApplianceClient, ApplianceError.ApplianceError> => {
        if (id !== newId) return fixed.appliance(id)
        if (own !== undefined) return Effect.succeed(own)
        const read = readCredentials(options.credentialsPath)
        if (Either.isLeft(read)) return Effect.fail(notYet(id, read.left.message))
        if (Option.isNone(read.right))
          return Effect.fail(
            notYet(
              id,
              `The new appliance's API account is created at MIGRATE-1: put its client id and secret in ${options.credentialsPath} (clientId: …, clientSecret: …).`
            )
          )
        const creds = read.right.value
        const { settingNames: _names, ...base } = options.newBox
        return ApplianceClient.make([
          { ...base, id: newId, clientId: creds.clientId, clientSecret: creds.clientSecret }
        ]).pipe(
          Scope.extend(scope),
          Effect.flatMap((api) => api.appliance(newId)),
          Effect.tap((c) => Effect.sync(() => void (own = c)))
        )
      }
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
 * secrets, which creates the new box's API account at MIGRATE-1 and writes
 * its credentials file, as a person would. A MIGRATE-1 gate asked again
 * after a crash, when that file exists already, is answered from it: the
 * account is not created twice.
 *
 * @since 0.3.0
 * @category layers
 */
export const simulatorOperator = (options: {
  readonly controlUrl: string
  readonly credentialsPath: string
  readonly bundlePassphrase: Redacted.Redacted<string>
  readonly backupPassword?: Redacted.Redacted<string> | undefined
}): Layer.Layer<Operator.Operator> => {
  const by = "simulator (--yes)"
  const inner = SimOperator.make({
    controlUrl: options.controlUrl,
    by,
    exportPassphrase: Redacted.value(options.bundlePassphrase),
    ...(options.backupPassword === undefined ? {} : { backupPassword: Redacted.value(options.backupPassword) }),
    onAccountCreated: (_id, credentials) => writeCredentials(options.credentialsPath, credentials)
  })
  return Layer.succeed(
    Operator.Operator,
    Operator.Operator.of({
      answer: (request) => {
        if (request.purpose !== "confirm-effect" && Option.isSome(MigrationSteps.NewInstalled.paramsOf(request.step))) {
          const existing = readCredentials(options.credentialsPath)
          if (Either.isRight(existing) && Option.isSome(existing.right)) {
            const evidence: Record<string, string> = {}
            for (const f of request.evidence) evidence[f.name] = "simulated"
            return Effect.succeed(
              new Operator.Approved({
                by,
                evidence: { ...evidence, apiClientId: existing.right.value.clientId },
                note: `simulator: the API account of ${request.step.target ?? "the new appliance"} exists already (${options.credentialsPath})`
              })
            )
          }
        }
        return inner.answer(request)
      }
    })
  )
}
