/**
 * The hardware (or physical ↔ virtual) migration planner, MIGRATE-1…9:
 * `planMigration(oldAppliance, newAppliance, site, options)` turns the
 * appliance that serves the site now, the box that will replace it and the
 * site description into a {@link Plan.Plan}. Pure: no I/O, no clock.
 *
 * Order of the steps (each tagged with its rules):
 *
 * 1. MIGRATE-1: install the new appliance per its deployment guide, on its
 *    own unique IP, with an API account (manual gate, verified by the
 *    load-balancer probe on the new box's own address);
 * 2. checks: the old one reachable with the permissions the run needs; the
 *    new one reachable on its own address, a different box (appliance GUID
 *    differs) and not serving the site yet; versions (the new box must be
 *    brought to the old one's product version, or the target, before the
 *    restore: a backup never restores onto an older version);
 * 3. MIGRATE-6: EULA (manual gate) then the software install on the new box
 *    and a wait until it reports the version;
 * 4. MIGRATE-2: settings backup of the old box through the API, then a
 *    check that re-reads the file (size and SHA-256) before anything relies
 *    on it;
 * 5. MIGRATE-3…5: certificate export from the old box (gate verified by the
 *    fingerprint of the exported bundle against what the old box serves),
 *    import on the new box, choice of the default certificate (warnings
 *    block) verified by a TLS probe of the new box;
 * 6. MIGRATE-7: restore on the new `/login` (gate), verification by API
 *    that the new box answers like the old one (version, Jump Client and
 *    Jumpoint counts, the old API account works), and the attestation that
 *    the initial admin / password credentials were changed (no API can
 *    tell: a blocking manual gate);
 * 7. MIGRATE-8: the cut-over through failover's `TrafficSwitch` (DNS by
 *    default), a wait until the site address is answered by the new box
 *    (with the `SiteProber` figures when one runs), then VERIFY-1 / VERIFY-2;
 * 8. MIGRATE-9: after confirmation, decommission of the old box: virtual →
 *    delete; physical → factory reset, power off, return shipment — each a
 *    manual gate, the reset verified by the old box no longer answering the
 *    site's API account.
 *
 * @since 0.1.0
 */
import { Plan, SingleUpgrade, Site, Version } from "@sra-upgrade/core"
import { Steps } from "@sra-upgrade/certificates"
import { Pair, TrafficSwitch } from "@sra-upgrade/failover"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"

// ---------------------------------------------------------------------------
// names
// ---------------------------------------------------------------------------

/**
 * Handler names of the migration steps, all provided by `MigrationHandlers`
 * (the `core/…` and `certificates.…` ones by their own packages).
 *
 * @since 0.1.0
 * @category models
 */
export const handlers = {
  newInstalled: "migration/new-installed",
  checkNewAppliance: "migration/check-new-appliance",
  checkVersions: "migration/check-versions",
  eulaAccepted: "migration/eula-accepted",
  softwareStarted: "migration/software-started",
  verifyBackup: "migration/verify-backup",
  exportedBundle: "migration/exported-bundle",
  defaultCertificate: "migration/default-certificate",
  restored: "migration/restored",
  compareAppliances: "migration/compare-appliances",
  credentialsChanged: "migration/credentials-changed",
  cutover: "migration/cutover",
  siteServedByNew: "migration/site-served-by-new",
  confirmInProduction: "migration/confirm-in-production",
  oldDeleted: "migration/old-deleted",
  oldReset: "migration/old-reset",
  oldPoweredOff: "migration/old-powered-off",
  returnShipped: "migration/return-shipped"
} as const

/**
 * Every `migration/…` handler name the plans use.
 *
 * @since 0.1.0
 * @category models
 */
export const handlerNames: ReadonlyArray<string> = Object.values(handlers)

/**
 * Step ids of the plan (stable: the journal and the operator refer to them).
 *
 * @since 0.1.0
 * @category models
 */
export const stepIds = {
  newInstall: "migrate/new-install",
  checkOld: "migrate/check-old",
  checkOldClock: "migrate/check-old-clock",
  checkNew: "migrate/check-new",
  checkVersions: "migrate/check-versions",
  eula: "migrate/new-eula",
  software: "migrate/new-software",
  softwareWait: "migrate/new-software-wait",
  backup: "migrate/old-backup",
  backupVerify: "migrate/old-backup-verify",
  exportCertificate: "migrate/export-certificate",
  importCertificate: "migrate/import-certificate",
  defaultCertificate: "migrate/default-certificate",
  restore: "migrate/restore",
  compare: "migrate/compare",
  credentials: "migrate/admin-credentials",
  cutover: "migrate/cutover",
  cutoverWait: "migrate/cutover-wait",
  verifyNew: "migrate/verify-new",
  verifyConsole: "migrate/verify-console",
  confirmInProduction: "migrate/confirm-in-production",
  oldDelete: "migrate/old-delete",
  oldReset: "migrate/old-factory-reset",
  oldPowerOff: "migrate/old-power-off",
  oldReturn: "migrate/old-return"
} as const

// ---------------------------------------------------------------------------
// inputs
// ---------------------------------------------------------------------------

/**
 * Hardware or virtual machine: decides the deployment guide (MIGRATE-1) and
 * the decommission (MIGRATE-9).
 *
 * @since 0.1.0
 * @category models
 */
export type ApplianceKind = "physical" | "virtual"

/**
 * Options of {@link planMigration}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Product version the old appliance runs now, as observed (health `version`, optionally `build`). */
  readonly current: { readonly product: string; readonly build?: string | undefined }
  /** Product version the new box is brought to before the restore; default: the old one's (MIGRATE-6). */
  readonly target?: string | undefined
  /** Factory version of the new box, when known: the install steps are left out when it already runs the target. */
  readonly newCurrent?: string | undefined
  /** The old box: decides MIGRATE-9 (virtual: delete; physical: reset, power off, return). */
  readonly oldKind: ApplianceKind
  /** The new box: decides the MIGRATE-1 instructions (default `virtual`). */
  readonly newKind?: ApplianceKind | undefined
  /**
   * Id, in the `ApplianceApi` registry, of a client on the new box's own
   * address using the OLD box's API account: after the restore that account
   * must work there (MIGRATE-7). Default: the new appliance's id (its
   * connection then uses the old account from the start of the restore on).
   */
  readonly restoredClientId?: string | undefined
  /** Id, in the `ApplianceApi` registry, of a client on the site address (tells which box answers there). */
  readonly siteClientId?: string | undefined
  /** URL the site is probed at (default `https://<site hostname>`). */
  readonly siteUrl?: string | undefined
  /** How the site address moves (default: the site file's `trafficSwitch`, else DNS with a 300 s TTL). */
  readonly traffic?: Site.TrafficSwitch | undefined
  /** Where the certificate bundle is exported (default `<backup directory>/certificates/<site>.pem`). */
  readonly bundlePath?: string | undefined
  /** Extra certificates (PEM chains) installed on the new box that compete for default (MIGRATE-5). */
  readonly otherCertificates?: ReadonlyArray<{ readonly label: string; readonly chainPem: string }> | undefined
  /** PEM of the CA(s) clients trust, to validate chains against (optional). */
  readonly trustAnchorsPem?: string | undefined
  /** Poll interval of the waits, seconds (default 30). */
  readonly pollIntervalSeconds?: number | undefined
  /** Install estimate on the new box, minutes (default 30; a fresh box holds no data). */
  readonly installMinutes?: number | undefined
  /** Plan id; default `migrate-<old>-to-<new>`. */
  readonly planId?: string | undefined
}

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

/**
 * Old and new are the same appliance (same id, address or API URL).
 *
 * @since 0.1.0
 * @category models
 */
export class SameAppliance extends Schema.TaggedClass<SameAppliance>()("SameAppliance", {
  field: Schema.String,
  value: Schema.String
}) {}

/**
 * The old appliance is not one of the site's appliances.
 *
 * @since 0.1.0
 * @category models
 */
export class NotInSite extends Schema.TaggedClass<NotInSite>()("NotInSite", {
  id: Schema.String,
  known: Schema.Array(Schema.String)
}) {}

/**
 * The new appliance already belongs to the site (it would serve it already).
 *
 * @since 0.1.0
 * @category models
 */
export class AlreadyInSite extends Schema.TaggedClass<AlreadyInSite>()("AlreadyInSite", {
  id: Schema.String
}) {}

/**
 * A version could not be read.
 *
 * @since 0.1.0
 * @category models
 */
export class BadVersion extends Schema.TaggedClass<BadVersion>()("BadVersion", {
  field: Schema.String,
  detail: Schema.String
}) {}

/**
 * The target is older than the old box's version: its backup would not restore.
 *
 * @since 0.1.0
 * @category models
 */
export class TargetTooOld extends Schema.TaggedClass<TargetTooOld>()("TargetTooOld", {
  target: Schema.String,
  old: Schema.String
}) {}

/**
 * The new box already runs a newer version than the target.
 *
 * @since 0.1.0
 * @category models
 */
export class NewTooRecent extends Schema.TaggedClass<NewTooRecent>()("NewTooRecent", {
  newCurrent: Schema.String,
  target: Schema.String
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export const MigrationPlanErrorReason = Schema.Union(
  SameAppliance,
  NotInSite,
  AlreadyInSite,
  BadVersion,
  TargetTooOld,
  NewTooRecent
)

/**
 * @since 0.1.0
 * @category models
 */
export type MigrationPlanErrorReason = typeof MigrationPlanErrorReason.Type

/**
 * The migration plan cannot be built.
 *
 * @since 0.1.0
 * @category errors
 */
export class MigrationPlanError extends Schema.TaggedError<MigrationPlanError>(
  "@sra-upgrade/migration/MigrationPlanError"
)("MigrationPlanError", { reason: MigrationPlanErrorReason }) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const r = this.reason
    switch (r._tag) {
      case "SameAppliance":
        return `The old and the new appliance have the same ${r.field} (${r.value}): the new box needs its own id and its own unique IP; fix the description of the new appliance.`
      case "NotInSite":
        return `The old appliance "${r.id}" is not in the site file (known: ${r.known.join(", ")}): give the appliance that serves the site now.`
      case "AlreadyInSite":
        return `The new appliance "${r.id}" is already in the site file: describe it apart (it must not serve the site before the cut-over).`
      case "BadVersion":
        return `${r.field}: ${r.detail}`
      case "TargetTooOld":
        return `The target ${r.target} is older than the old appliance's ${r.old}: its backup would not restore. Bring the new box to ${r.old} or later (MIGRATE-6).`
      case "NewTooRecent":
        return `The new appliance already runs ${r.newCurrent}, newer than the target ${r.target}: upgrade the old appliance to ${r.newCurrent} first (single-appliance plan), then plan the migration with that target.`
    }
  }
}

const err = (reason: MigrationPlanErrorReason) => Either.left(new MigrationPlanError({ reason }))

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

const R = (...ids: ReadonlyArray<string>) => ids.map((id) => Plan.RuleId.make(id))

const web = (a: Site.Appliance, path: "/appliance" | "/login") => `https://${a.hostname ?? a.uniqueIp}${path}`

/** Host and port the appliance serves HTTPS on (its API URL when https, else its unique IP and TLS port). */
const tlsAddress = (a: Site.Appliance): { readonly host: string; readonly port: number } => {
  const u = new URL(a.apiUrl)
  if (u.protocol === "https:") return { host: u.hostname.replace(/^\[|\]$/g, ""), port: Number(u.port || 443) }
  return { host: a.uniqueIp, port: a.tlsPort }
}

/**
 * The old and the new appliance as a failover `Pair` (old = primary now), so
 * that failover's `TrafficSwitch` moves and verifies the site address.
 *
 * @since 0.1.0
 * @category constructors
 */
export const pairOf = (
  oldAppliance: Site.Appliance,
  newAppliance: Site.Appliance,
  site: Site.Site,
  options: Pick<Options, "siteUrl" | "siteClientId" | "traffic"> = {}
): Pair.Pair => {
  const member = (a: Site.Appliance) =>
    new Pair.Member({
      id: a.id,
      uniqueIp: a.uniqueIp,
      tlsPort: a.tlsPort,
      apiUrl: a.apiUrl.replace(/\/+$/, ""),
      ...(a.hostname !== undefined ? { hostname: a.hostname } : {})
    })
  const traffic: Site.TrafficSwitch =
    options.traffic ?? site.trafficSwitch ?? new Site.DnsSwitch({ method: "dns", ttlSeconds: 300 })
  return new Pair.Pair({
    siteHostname: site.hostname,
    siteUrl: options.siteUrl ?? `https://${site.hostname}`,
    ...(options.siteClientId !== undefined ? { siteClientId: options.siteClientId } : {}),
    primary: member(oldAppliance),
    backup: member(newAppliance),
    traffic,
    integrationClientsByIp: [...site.clients.integrationClients]
      .filter((c) => c.connectsBy === "ip")
      .map((c) => ({ name: c.name, ...(c.address !== undefined ? { address: c.address } : {}) }))
  })
}

/**
 * The schema of the pair carried in the cut-over steps' params.
 *
 * @since 0.1.0
 * @category models
 */
export const pairSchema = Pair.Pair

// ---------------------------------------------------------------------------
// the planner
// ---------------------------------------------------------------------------

/**
 * Plan the move of `site` from `oldAppliance` to `newAppliance`. Fails with
 * a {@link MigrationPlanError} when the inputs cannot make a safe plan.
 *
 * @since 0.1.0
 * @category constructors
 */
export const planMigration = (
  oldAppliance: Site.Appliance,
  newAppliance: Site.Appliance,
  site: Site.Site,
  options: Options
): Either.Either<Plan.Plan, MigrationPlanError> => {
  // --- who is who
  if (site.appliance(oldAppliance.id) === undefined)
    return err(new NotInSite({ id: oldAppliance.id, known: site.appliances.map((a) => a.id) }))
  if (oldAppliance.id === newAppliance.id) return err(new SameAppliance({ field: "id", value: newAppliance.id }))
  if (site.appliance(newAppliance.id) !== undefined) return err(new AlreadyInSite({ id: newAppliance.id }))
  if (oldAppliance.uniqueIp === newAppliance.uniqueIp)
    return err(new SameAppliance({ field: "unique IP", value: newAppliance.uniqueIp }))
  if (oldAppliance.apiUrl.replace(/\/+$/, "") === newAppliance.apiUrl.replace(/\/+$/, ""))
    return err(new SameAppliance({ field: "API URL", value: newAppliance.apiUrl }))

  // --- versions (MIGRATE-6)
  const oldVersion =
    options.current.build === undefined
      ? Version.parse(options.current.product)
      : Version.fromParts(options.current.product, options.current.build)
  if (Either.isLeft(oldVersion))
    return err(new BadVersion({ field: "current.product", detail: oldVersion.left.message }))
  const targetText = options.target ?? options.current.product
  const target = Version.parse(targetText)
  if (Either.isLeft(target)) return err(new BadVersion({ field: "target", detail: target.left.message }))
  if (Version.ProductOrder(target.right, Version.parse(options.current.product).pipe(Either.getOrThrow)) < 0)
    return err(new TargetTooOld({ target: targetText, old: options.current.product }))
  let installNeeded = true
  if (options.newCurrent !== undefined) {
    const n = Version.parse(options.newCurrent)
    if (Either.isLeft(n)) return err(new BadVersion({ field: "newCurrent", detail: n.left.message }))
    if (Version.sameRelease(n.right, target.right)) installNeeded = false
    else if (Version.ProductOrder(n.right, target.right) > 0)
      return err(new NewTooRecent({ newCurrent: options.newCurrent, target: targetText }))
  }

  const oldId = oldAppliance.id
  const newId = newAppliance.id
  const restoredId = options.restoredClientId ?? newId
  const interval = options.pollIntervalSeconds ?? 30
  const installMinutes = options.installMinutes ?? 30
  const backupDir = site.backup.directory
  const passwordProtected = site.backup.password !== undefined
  const bundlePath = options.bundlePath ?? `${backupDir}/certificates/${site.hostname}.pem`
  const pair = pairOf(oldAppliance, newAppliance, site, options)
  // after the restore the new box answers the old API account: its registry id in the cut-over checks
  const apiPair =
    restoredId === newId
      ? pair
      : new Pair.Pair({ ...pair, backup: new Pair.Member({ ...pair.backup, id: restoredId }) })
  const newKind = options.newKind ?? "virtual"
  const newTls = tlsAddress(newAppliance)
  const oldTls = tlsAddress(oldAppliance)
  const steps: Array<Plan.Step> = []
  const notes: Array<string> = []

  // ---------------------------------------------------------------- 1. MIGRATE-1
  steps.push(
    new Plan.ManualGate({
      id: stepIds.newInstall,
      title: `Install the new ${newKind} appliance ${newId} per its deployment guide`,
      rules: R("MIGRATE-1"),
      target: newId,
      estimatedSeconds: newKind === "physical" ? 7200 : 3600,
      handler: handlers.newInstalled,
      params: { appliance: newId, url: newAppliance.apiUrl, uniqueIp: newAppliance.uniqueIp },
      idempotent: true,
      instructions: [
        ...(newKind === "physical"
          ? [
              "Follow the hardware appliance's deployment guide: rack it, cable power and network, connect a console.",
              `On the console, give it its own unique IP ${newAppliance.uniqueIp} (never the site's address: the site must keep reaching ${oldId} until the cut-over).`
            ]
          : [
              "Follow the virtual appliance's deployment guide: deploy the image on the hypervisor with the documented CPU, memory and disk.",
              `On the virtual console, give it its own unique IP ${newAppliance.uniqueIp} (never the site's address: the site must keep reaching ${oldId} until the cut-over).`
            ]),
        `Open ${web(newAppliance, "/appliance")}; the initial login is admin / password: this default account is a risk until the restore and the password change (MIGRATE-7).`,
        `On ${web(newAppliance, "/login")} > Management > API Configuration, create an API account (command API full access, backup, configuration) and give its client id and secret to this run's connection for ${newId}.`
      ],
      evidence: [
        new Plan.EvidenceField({
          name: "apiClientId",
          description: "client id of the API account created on the new box"
        })
      ],
      notes: [
        `Verified by the load-balancer probe (GET /check_health) on ${newAppliance.apiUrl}, the new box's own address.`
      ]
    })
  )

  // ---------------------------------------------------------------- 2. checks
  steps.push(
    new Plan.Check({
      id: stepIds.checkOld,
      title: `Old appliance ${oldId} reachable, permissions sufficient`,
      rules: R("MIGRATE-2"),
      target: oldId,
      estimatedSeconds: 5,
      handler: SingleUpgrade.handlers.checkApiAccess,
      params: {
        appliance: oldId,
        require: { perm_backup: true, perm_command: "read_only", perm_configuration: true }
      },
      idempotent: true,
      severity: "blocking",
      notes: ["perm_backup for the settings backup, perm_configuration to count Jump Clients and Jumpoints."]
    }),
    new Plan.Check({
      id: stepIds.checkOldClock,
      title: `Old appliance ${oldId} clock is right`,
      rules: R("PREP-8"),
      target: oldId,
      estimatedSeconds: 5,
      handler: SingleUpgrade.handlers.checkClockSkew,
      params: { appliance: oldId, maxSkewSeconds: 120 },
      idempotent: true,
      severity: "blocking"
    }),
    new Plan.Check({
      id: stepIds.checkNew,
      title: `New appliance ${newId} is another box, on its own address, not serving the site`,
      rules: R("MIGRATE-1"),
      target: newId,
      estimatedSeconds: 5,
      handler: handlers.checkNewAppliance,
      params: {
        old: oldId,
        new: newId,
        newUrl: newAppliance.apiUrl,
        siteUrl: pair.siteUrl,
        siteHostname: site.hostname,
        ...(options.siteClientId === undefined ? {} : { siteClient: options.siteClientId })
      },
      idempotent: true,
      severity: "blocking",
      notes: [
        "Both answer through the API; their appliance GUIDs differ; the new box passes the load-balancer probe on its own address; the site address is still answered by the old box."
      ]
    }),
    new Plan.Check({
      id: stepIds.checkVersions,
      title: `Versions: ${oldId} runs ${options.current.product}; ${newId} must run ${targetText} before the restore`,
      rules: R("MIGRATE-6"),
      target: newId,
      estimatedSeconds: 5,
      handler: handlers.checkVersions,
      params: {
        old: oldId,
        new: newId,
        oldVersion: options.current.product,
        target: targetText,
        installPlanned: installNeeded
      },
      idempotent: true,
      severity: "blocking",
      notes: [
        "A backup restores only onto the same product version or a later one: the new box is brought to the old one's version (or the target) first."
      ]
    })
  )

  // ---------------------------------------------------------------- 3. MIGRATE-6
  steps.push(
    new Plan.ManualGate({
      id: stepIds.eula,
      title: `Accept the EULA on ${newId}`,
      rules: R("MIGRATE-6"),
      target: newId,
      estimatedSeconds: 120,
      handler: handlers.eulaAccepted,
      params: { appliance: newId },
      idempotent: true,
      instructions: [
        `Open ${web(newAppliance, "/appliance")} and read the end-user licence agreement; accept it (no software can be installed before).`,
        "No API reports whether the EULA was accepted: this gate is the record of it."
      ],
      evidence: [new Plan.EvidenceField({ name: "acceptedBy", description: "who accepted the EULA" })]
    })
  )
  if (installNeeded) {
    steps.push(
      new Plan.ManualGate({
        id: stepIds.software,
        title: `Install the software on ${newId} up to ${targetText}`,
        rules: R("MIGRATE-6", "SINGLE-1", "SINGLE-2"),
        target: newId,
        estimatedSeconds: 300,
        handler: handlers.softwareStarted,
        params: { appliance: newId, target: targetText },
        idempotent: true,
        instructions: [
          `Open ${web(newAppliance, "/appliance")} > Updates and press "Check for updates" (or use the download key on a restricted network, SINGLE-3).`,
          `Install the packages the page offers, prerequisites first, until the appliance runs ${targetText} — the old appliance's version${targetText === options.current.product ? "" : " or later"}; not a later one than planned.`,
          "Approve when the last install has started; the run then waits for the version."
        ]
      }),
      new Plan.WaitFor({
        id: stepIds.softwareWait,
        title: `Wait until ${newId} runs ${targetText}`,
        rules: R("MIGRATE-6", "VERIFY-1"),
        target: newId,
        estimatedSeconds: installMinutes * 60,
        handler: SingleUpgrade.handlers.awaitInstall,
        params: {
          appliance: newId,
          package: `software ${targetText}`,
          kind: "site",
          version: targetText,
          fromVersion: options.newCurrent ?? "factory"
        },
        idempotent: true,
        intervalSeconds: interval,
        deadlineSeconds: installMinutes * 60 * 2 + 900,
        notes: ["An appliance that does not answer while it installs and reboots is normal."]
      })
    )
  } else notes.push(`${newId} already runs ${targetText}: no software install is planned (MIGRATE-6).`)

  // ---------------------------------------------------------------- 4. MIGRATE-2
  steps.push(
    new Plan.Action({
      id: stepIds.backup,
      title: `Download the settings backup of ${oldId}`,
      rules: R("MIGRATE-2", "PREP-1"),
      target: oldId,
      estimatedSeconds: 120,
      handler: SingleUpgrade.handlers.downloadBackup,
      params: { appliance: oldId, directory: backupDir, passwordProtected, label: "migration" },
      idempotent: true,
      notes: [
        "Kept in a safe place: it is what the new box is restored from. Without its password it cannot be restored (PREP-1)."
      ]
    }),
    new Plan.Check({
      id: stepIds.backupVerify,
      title: "The backup file is complete",
      rules: R("MIGRATE-2"),
      target: oldId,
      estimatedSeconds: 5,
      handler: handlers.verifyBackup,
      params: { backupStep: stepIds.backup, appliance: oldId },
      idempotent: true,
      severity: "blocking",
      notes: ["Re-reads the file recorded by the backup step: same size and SHA-256, product version of the old box."]
    })
  )

  // ---------------------------------------------------------------- 5. MIGRATE-3…5
  const exportGate = Steps.exportBundleGate(
    { path: bundlePath, siteFqdn: site.hostname },
    { id: stepIds.exportCertificate, target: oldId, rule: "MIGRATE-3" }
  )
  steps.push(
    new Plan.ManualGate({
      id: exportGate.id,
      title: exportGate.title,
      rules: R("MIGRATE-3"),
      target: oldId,
      estimatedSeconds: exportGate.estimatedSeconds,
      handler: handlers.exportedBundle,
      params: { path: bundlePath, siteFqdn: site.hostname, host: oldTls.host, port: oldTls.port },
      idempotent: true,
      instructions: [`On ${web(oldAppliance, "/appliance")}:`, ...exportGate.instructions],
      evidence: [...exportGate.evidence],
      notes: [
        `Verified: the file holds a certificate chain with an encrypted private key, and its leaf has the SHA-256 fingerprint of the certificate ${oldId} serves for ${site.hostname} (TLS probe of ${oldTls.host}:${oldTls.port}).`
      ]
    })
  )
  const importGate = Steps.importBundleGate(
    { path: bundlePath, siteFqdn: site.hostname },
    { id: stepIds.importCertificate, target: newId }
  )
  steps.push(
    new Plan.ManualGate({
      id: importGate.id,
      title: importGate.title,
      rules: R("MIGRATE-4"),
      target: newId,
      estimatedSeconds: importGate.estimatedSeconds,
      handler: importGate.handler,
      params: { ...importGate.params },
      idempotent: true,
      instructions: [`On ${web(newAppliance, "/appliance")}:`, ...importGate.instructions],
      evidence: [...importGate.evidence],
      notes: ["The import itself is verified at the next step, by probing what the new box serves."]
    })
  )
  const defaultGate = Steps.defaultCertificateGate(
    { siteFqdn: site.hostname, candidates: [], host: newTls.host, port: newTls.port },
    { id: stepIds.defaultCertificate, target: newId }
  )
  steps.push(
    new Plan.ManualGate({
      id: defaultGate.id,
      title: defaultGate.title,
      rules: R("MIGRATE-5"),
      target: newId,
      estimatedSeconds: defaultGate.estimatedSeconds,
      handler: handlers.defaultCertificate,
      params: {
        path: bundlePath,
        siteFqdn: site.hostname,
        host: newTls.host,
        port: newTls.port,
        others: (options.otherCertificates ?? []).map((c) => ({ label: c.label, chainPem: c.chainPem })),
        ...(options.trustAnchorsPem === undefined ? {} : { trustAnchorsPem: options.trustAnchorsPem })
      },
      idempotent: true,
      instructions: [...defaultGate.instructions],
      notes: [
        "Verified: the certificates package chooses the default among the imported bundle and the other certificates (issued to the site, no findings: any warning blocks, escalate to vendor support), then a TLS probe checks that the new box serves that chain."
      ]
    })
  )

  // ---------------------------------------------------------------- 6. MIGRATE-7
  steps.push(
    new Plan.ManualGate({
      id: stepIds.restore,
      title: `Restore the settings of ${oldId} on ${newId}`,
      rules: R("MIGRATE-7"),
      target: newId,
      estimatedSeconds: 900,
      handler: handlers.restored,
      params: {
        old: oldId,
        new: newId,
        restoredClient: restoredId,
        backupStep: stepIds.backup,
        directory: backupDir,
        passwordProtected
      },
      idempotent: true,
      instructions: [
        `Open ${web(newAppliance, "/login")} > Management > Software > Restore settings.`,
        `Upload the backup file recorded by step ${stepIds.backup} (under ${backupDir})${passwordProtected ? " and enter the site's backup password" : ""}; press Restore.`,
        "Wait until the appliance is back; the API accounts of the old appliance now exist on the new one."
      ],
      evidence: [new Plan.EvidenceField({ name: "file", description: "the backup file uploaded" })],
      notes: [
        `Verified through the API of ${newId} with the old appliance's API account (registry id ${restoredId}): it answers, healthy, on the old product version.`,
        "A backup newer than the new box's software is refused by the appliance: bring it to the old version first (MIGRATE-6)."
      ]
    }),
    new Plan.Check({
      id: stepIds.compare,
      title: `${newId} answers like ${oldId}`,
      rules: R("MIGRATE-7"),
      target: newId,
      estimatedSeconds: 30,
      handler: handlers.compareAppliances,
      params: { old: oldId, new: newId, restoredClient: restoredId },
      idempotent: true,
      severity: "blocking",
      notes: [
        "Same product version, same Jump Client and Jumpoint counts, the old API account working with the same permissions."
      ]
    }),
    new Plan.ManualGate({
      id: stepIds.credentials,
      title: `Change the initial admin / password credentials of ${newId}`,
      rules: R("MIGRATE-7"),
      target: newId,
      estimatedSeconds: 300,
      handler: handlers.credentialsChanged,
      params: { appliance: restoredId },
      idempotent: true,
      instructions: [
        `A new appliance's initial login on ${web(newAppliance, "/appliance")} is admin / password: anyone on the network can take it over.`,
        "Log in and change the admin password now (a long random one, kept in the password vault).",
        'No API can tell whether the default credentials were changed: this attestation is the check. Approve only with attestation "changed"; it blocks the run otherwise.'
      ],
      evidence: [
        new Plan.EvidenceField({
          name: "attestation",
          description: 'type "changed" to attest the admin password is no longer "password"'
        }),
        new Plan.EvidenceField({ name: "vault", description: "where the new password is kept (not the password)" })
      ]
    })
  )

  // ---------------------------------------------------------------- 7. MIGRATE-8
  const gate = TrafficSwitch.manualGate(pair, pair.primary, pair.backup)
  steps.push(
    new Plan.ManualGate({
      id: stepIds.cutover,
      title: gate.title,
      rules: R("MIGRATE-8", ...gate.rules),
      target: "site",
      estimatedSeconds: 300,
      handler: handlers.cutover,
      params: { pair: Schema.encodeSync(Pair.Pair)(apiPair), from: oldId, to: newId },
      idempotent: true,
      instructions: [...gate.instructions],
      evidence: gate.evidence.map((e) => new Plan.EvidenceField(e)),
      notes: [
        "Performed through failover's TrafficSwitch (an automated DNS / NAT adapter applies it itself); the next step waits until the site address is answered by the new appliance."
      ]
    }),
    new Plan.WaitFor({
      id: stepIds.cutoverWait,
      title: `Wait until ${site.hostname} is served by ${newId}`,
      rules: R("MIGRATE-8"),
      target: "site",
      estimatedSeconds: Math.max(gate.settleSeconds, 30),
      handler: handlers.siteServedByNew,
      params: { pair: Schema.encodeSync(Pair.Pair)(apiPair) },
      idempotent: true,
      intervalSeconds: Math.min(interval, 15),
      deadlineSeconds: gate.settleSeconds * 2 + 600,
      notes: ["Evidence carries the site prober's figures (probes sent, failed, longest outage) when one runs."]
    }),
    new Plan.Check({
      id: stepIds.verifyNew,
      title: `${newId} healthy on ${targetText}`,
      rules: R("VERIFY-1", "MIGRATE-8"),
      target: newId,
      estimatedSeconds: 5,
      handler: SingleUpgrade.handlers.verifyVersion,
      params: { appliance: restoredId, version: targetText },
      idempotent: true,
      severity: "blocking"
    }),
    new Plan.ManualGate({
      id: stepIds.verifyConsole,
      title: "Test access: access console and a session through the site address",
      rules: R("VERIFY-2", "MIGRATE-8"),
      target: newId,
      estimatedSeconds: 600,
      handler: SingleUpgrade.handlers.confirmConsoleCheck,
      params: { appliance: restoredId, version: targetText },
      idempotent: true,
      instructions: [
        `Launch the access console against ${site.hostname}: it must reach the new appliance (Help > About shows ${targetText}).`,
        "Open a session to a remote computer through a Jump Client and check screen and input.",
        "Reject this gate if any of these fails: the old appliance is still intact, the DNS record can be moved back."
      ],
      evidence: [
        new Plan.EvidenceField({ name: "consoleVersion", description: "the version shown in Help > About" }),
        new Plan.EvidenceField({ name: "session", description: "the endpoint a session was opened to" })
      ]
    })
  )

  // ---------------------------------------------------------------- 8. MIGRATE-9
  steps.push(
    new Plan.ManualGate({
      id: stepIds.confirmInProduction,
      title: `Confirm ${newId} in production before decommissioning ${oldId}`,
      rules: R("MIGRATE-9"),
      target: "site",
      estimatedSeconds: 86400,
      handler: handlers.confirmInProduction,
      params: { pair: Schema.encodeSync(Pair.Pair)(apiPair) },
      idempotent: true,
      instructions: [
        `Let users work on ${newId} (typically a business day): Jump Clients reconnect, sessions and reports work.`,
        `Only then approve: the next steps destroy ${oldId}'s configuration and cannot be undone.`
      ],
      evidence: [
        new Plan.EvidenceField({ name: "confirmedBy", description: "who confirmed the new appliance in production" })
      ]
    })
  )
  const oldGone = { old: oldId, oldUrl: oldAppliance.apiUrl, new: restoredId }
  if (options.oldKind === "virtual")
    steps.push(
      new Plan.ManualGate({
        id: stepIds.oldDelete,
        title: `Delete the old virtual appliance ${oldId}`,
        rules: R("MIGRATE-9"),
        target: oldId,
        estimatedSeconds: 600,
        handler: handlers.oldDeleted,
        params: oldGone,
        idempotent: true,
        instructions: [
          `On the hypervisor, power off the virtual machine of ${oldId} (${oldAppliance.uniqueIp}) and delete it with its disks.`,
          "Delete its snapshots and any copies of its disks too: they hold the site's configuration and keys."
        ],
        evidence: [new Plan.EvidenceField({ name: "deletedBy", description: "who deleted the virtual machine" })],
        notes: ["Verified: the old box's address no longer answers, or answers without the site's API account."]
      })
    )
  else
    steps.push(
      new Plan.ManualGate({
        id: stepIds.oldReset,
        title: `Reset ${oldId} to factory defaults`,
        rules: R("MIGRATE-9"),
        target: oldId,
        estimatedSeconds: 1800,
        handler: handlers.oldReset,
        params: oldGone,
        idempotent: true,
        instructions: [
          `Open ${web(oldAppliance, "/appliance")} > Status > Basics and run "Reset appliance to factory settings".`,
          "Wait until it has restarted with its factory configuration."
        ],
        evidence: [new Plan.EvidenceField({ name: "resetBy", description: "who ran the factory reset" })],
        notes: ["Verified: the old box no longer answers the site's API account (its configuration is gone)."]
      }),
      new Plan.ManualGate({
        id: stepIds.oldPowerOff,
        title: `Power off ${oldId}`,
        rules: R("MIGRATE-9"),
        target: oldId,
        estimatedSeconds: 600,
        handler: handlers.oldPoweredOff,
        params: oldGone,
        idempotent: true,
        instructions: [`Power off ${oldId} and unplug it; pack it in its original box.`],
        evidence: [],
        notes: ["Verified: the old box's address does not answer the load-balancer probe any more."]
      }),
      new Plan.ManualGate({
        id: stepIds.oldReturn,
        title: `Return ${oldId} with the vendor's return label`,
        rules: R("MIGRATE-9"),
        target: oldId,
        estimatedSeconds: 1800,
        handler: handlers.returnShipped,
        params: { old: oldId },
        idempotent: true,
        instructions: [
          "Request the return label from the vendor, stick it on the box and hand it to the carrier.",
          "No API can follow a parcel: record the tracking number."
        ],
        evidence: [new Plan.EvidenceField({ name: "tracking", description: "carrier and tracking number" })]
      })
    )

  notes.push(
    `MIGRATE-7: ${newId} starts with the initial admin / password login: a risk until the password is changed (step ${stepIds.credentials}).`,
    `The site moves by ${pair.traffic.method} (${gate.rules.join(", ")}); ${oldId} stays intact until ${stepIds.confirmInProduction}, so the cut-over can be undone until then.`,
    "The backup holds configuration and rights, not session recordings nor the local encryption key (PREP-1)."
  )

  return Either.mapLeft(
    Schema.decodeUnknownEither(Plan.Plan)(
      Schema.encodeSync(Plan.Plan)(
        new Plan.Plan({
          id: options.planId ?? `migrate-${oldId}-to-${newId}`,
          kind: "migration",
          title: `Move ${site.hostname} from ${oldId} to ${newId}`,
          site: site.hostname,
          targetVersion: targetText,
          steps,
          notes
        })
      )
    ),
    (e) => new MigrationPlanError({ reason: new BadVersion({ field: "plan", detail: e.message }) })
  )
}
