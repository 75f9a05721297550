/**
 * The hardware (or physical ↔ virtual) migration planner, MIGRATE-1…9:
 * `planMigration(oldAppliance, newAppliance, site, options)` turns the
 * appliance that serves the site now, the box that will replace it and the
 * site description into a {@link Plan.Plan}. Pure: no I/O, no clock.
 *
 * Order of the steps (each tagged with its rules):
 *
 * 1. MIGRATE-1: install the new appliance per its deployment guide, on its
 *    own unique IP (manual gate, verified by the load-balancer probe on the
 *    new box's own address; the person gives the version its `/appliance`
 *    shows). No API account is asked for: a factory box has none until the
 *    old settings, which carry the API accounts, are restored;
 * 2. checks: the old one reachable with the permissions the run needs; both
 *    clocks (PREP-8: the new box uses the download key; its clock is read
 *    from the HTTP Date header of its probe); the new one reachable on its
 *    own address, a different box (it serves its own factory certificate,
 *    not the old box's) and not serving the site yet; versions (the new box
 *    must be brought to the old one's product version, or the target,
 *    before the restore: a backup never restores onto an older version);
 * 3. MIGRATE-2: settings backup of the old box through the API, then a
 *    check that re-reads the file (size and SHA-256) before anything relies
 *    on it;
 * 4. MIGRATE-3…5: certificate export from the old box (gate verified by the
 *    fingerprint of the exported bundle against what the old box serves),
 *    import on the new box, choice of the default certificate (warnings
 *    block) verified by a TLS probe of the new box;
 * 5. MIGRATE-6: EULA (manual gate) then the software install on the new box,
 *    a wait until its probe answers again and a gate where a person reads
 *    the version on its `/appliance` (the guide's order: backup,
 *    certificates, default certificate, software, restore);
 * 6. MIGRATE-7: restore on the new `/login` (gate), verification by API
 *    (from here on the new box is read through the vendor API, with the old
 *    box's restored API account on its own address) that it answers like
 *    the old one (version, Jump Client and
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
 * Each part is one function; the steps are built by their definitions:
 * `MigrationSteps` for the `migration/…` ones, `CoreSteps` for the API and
 * clock checks, the backup (`backupStep`), the install wait
 * (`awaitInstallStep`), the version and console checks, and the
 * certificates package's `Steps` for the gates' wording and the import
 * (MIGRATE-4). `Plan.make` validates the plan (an invalid one is a bug of
 * this planner: a defect, not a `MigrationPlanError`).
 *
 * @since 0.1.0
 */
import { CoreSteps, Plan, SingleUpgrade, Site, Version } from "@sra-upgrade/core"
import { Steps } from "@sra-upgrade/certificates"
import { Pair, TrafficSwitch } from "@sra-upgrade/failover"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as MigrationSteps from "./MigrationSteps.js"

// ---------------------------------------------------------------------------
// ids
// ---------------------------------------------------------------------------

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
  checkNewClock: "migrate/check-new-clock",
  checkVersions: "migrate/check-versions",
  eula: "migrate/new-eula",
  software: "migrate/new-software",
  softwareWait: "migrate/new-software-wait",
  softwareInstalled: "migrate/new-software-installed",
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
   * must work there (MIGRATE-7). Default: the new appliance's id, whose
   * connection must then carry the old box's account (the new box has no
   * account of its own: the plan reads it through the API only from the
   * restore on, and through its probe, its certificate and gates before).
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
 * A version could not be read (`field` names the option): the one
 * `BadVersion` of the planners, `SingleUpgrade.BadVersion`.
 *
 * @since 0.1.0
 * @category models
 */
export const BadVersion = SingleUpgrade.BadVersion

/**
 * @since 0.1.0
 * @category models
 */
export type BadVersion = SingleUpgrade.BadVersion

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
 * The migration plan cannot be built from these inputs; the message says
 * what to change. (A plan this planner builds but that does not validate is
 * a bug of the planner: a defect, not this error.)
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
        return `${r.field}: ${r.detail}. Give a product version as the appliance's health reports it, e.g. 24.1.3.`
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

/** Everything the parts are built from, decided once. */
interface Context {
  readonly site: Site.Site
  readonly options: Options
  readonly oldAppliance: Site.Appliance
  readonly newAppliance: Site.Appliance
  readonly oldId: string
  readonly newId: string
  /** Registry id of the new box reached with the old API account (after the restore). */
  readonly restoredId: string
  readonly targetText: string
  readonly installNeeded: boolean
  readonly interval: number
  readonly installMinutes: number
  readonly backupDir: string
  readonly passwordProtected: boolean
  readonly bundlePath: string
  /** The pair as the site sees it (old and new by their site-file ids). */
  readonly pair: Pair.Pair
  /** The pair as the run reaches it after the restore (the new box by `restoredId`). */
  readonly apiPair: Pair.Pair
  readonly newKind: ApplianceKind
  /** The cut-over gate of failover's `TrafficSwitch` for this pair. */
  readonly gate: TrafficSwitch.SwitchGate
}

/** Who is who (MIGRATE-1) and which versions (MIGRATE-6): the checks a plan cannot be built without. */
const prepare = (
  oldAppliance: Site.Appliance,
  newAppliance: Site.Appliance,
  site: Site.Site,
  options: Options
): Either.Either<Context, MigrationPlanError> => {
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
  const oldRelease = Version.parse(options.current.product)
  if (Either.isLeft(oldRelease))
    return err(new BadVersion({ field: "current.product", detail: oldRelease.left.message }))
  if (options.current.build !== undefined) {
    const withBuild = Version.fromParts(options.current.product, options.current.build)
    if (Either.isLeft(withBuild)) return err(new BadVersion({ field: "current.build", detail: withBuild.left.message }))
  }
  const targetText = options.target ?? options.current.product
  const target = Version.parse(targetText)
  if (Either.isLeft(target)) return err(new BadVersion({ field: "target", detail: target.left.message }))
  if (Version.ProductOrder(target.right, oldRelease.right) < 0)
    return err(new TargetTooOld({ target: targetText, old: options.current.product }))
  let installNeeded = true
  if (options.newCurrent !== undefined) {
    const n = Version.parse(options.newCurrent)
    if (Either.isLeft(n)) return err(new BadVersion({ field: "newCurrent", detail: n.left.message }))
    if (Version.sameRelease(n.right, target.right)) installNeeded = false
    else if (Version.ProductOrder(n.right, target.right) > 0)
      return err(new NewTooRecent({ newCurrent: options.newCurrent, target: targetText }))
  }

  const newId = newAppliance.id
  const restoredId = options.restoredClientId ?? newId
  const backupDir = site.backup.directory
  const pair = pairOf(oldAppliance, newAppliance, site, options)
  return Either.right({
    site,
    options,
    oldAppliance,
    newAppliance,
    oldId: oldAppliance.id,
    newId,
    restoredId,
    targetText,
    installNeeded,
    interval: options.pollIntervalSeconds ?? 30,
    installMinutes: options.installMinutes ?? 30,
    backupDir,
    passwordProtected: site.backup.password !== undefined,
    bundlePath: options.bundlePath ?? `${backupDir}/certificates/${site.hostname}.pem`,
    pair,
    // after the restore the new box answers the old API account: its registry id in the cut-over checks
    apiPair:
      restoredId === newId
        ? pair
        : new Pair.Pair({ ...pair, backup: new Pair.Member({ ...pair.backup, id: restoredId }) }),
    newKind: options.newKind ?? "virtual",
    gate: TrafficSwitch.manualGate(pair, pair.primary, pair.backup)
  })
}

// ---------------------------------------------------------------------------
// parts
// ---------------------------------------------------------------------------

/** 1. MIGRATE-1: the new box installed on its own unique IP (no API account: it comes with the restore). */
const newInstallPart = (c: Context): ReadonlyArray<Plan.Step> => {
  const { newAppliance, newId, oldId } = c
  return [
    MigrationSteps.NewInstalled.gate(
      {
        id: stepIds.newInstall,
        title: `Install the new ${c.newKind} appliance ${newId} per its deployment guide`,
        rules: ["MIGRATE-1"],
        target: newId,
        estimatedSeconds: c.newKind === "physical" ? 7200 : 3600,
        instructions: [
          ...(c.newKind === "physical"
            ? [
                "Follow the hardware appliance's deployment guide: rack it, cable power and network, connect a console.",
                `On the console, give it its own unique IP ${newAppliance.uniqueIp} (never the site's address: the site must keep reaching ${oldId} until the cut-over).`
              ]
            : [
                "Follow the virtual appliance's deployment guide: deploy the image on the hypervisor with the documented CPU, memory and disk.",
                `On the virtual console, give it its own unique IP ${newAppliance.uniqueIp} (never the site's address: the site must keep reaching ${oldId} until the cut-over).`
              ]),
          `Open ${web(newAppliance, "/appliance")} (its own administration interface) and read the product version it shows on Status > Basics: give it as evidence (no API reports it before the restore).`,
          `Do NOT create an API account on ${newId}: a factory box has none, and the restore (MIGRATE-7) brings the old appliance's accounts; this run reads ${newId} through the API only after the restore, with the old account (registry id ${c.restoredId}).`
        ],
        notes: [
          `Verified by the load-balancer probe (GET /check_health, no account needed) on ${newAppliance.apiUrl}, the new box's own address.`
        ]
      },
      { appliance: newId, url: newAppliance.apiUrl, uniqueIp: newAppliance.uniqueIp }
    )
  ]
}

/** 2. Checks: the old box's API account and clock, the new box, the versions. */
const checksPart = (c: Context): ReadonlyArray<Plan.Step> => {
  const { oldId, newId, options } = c
  return [
    CoreSteps.CheckApiAccess.check(
      {
        id: stepIds.checkOld,
        title: `Old appliance ${oldId} reachable, permissions sufficient`,
        rules: ["MIGRATE-2"],
        target: oldId,
        estimatedSeconds: 5,
        notes: ["perm_backup for the settings backup, perm_configuration to count Jump Clients and Jumpoints."]
      },
      { appliance: oldId, require: { perm_backup: true, perm_command: "read_only", perm_configuration: true } }
    ),
    CoreSteps.CheckClockSkew.check(
      {
        id: stepIds.checkOldClock,
        title: `Old appliance ${oldId} clock is right`,
        rules: ["PREP-8"],
        target: oldId,
        estimatedSeconds: 5
      },
      { appliance: oldId, maxSkewSeconds: 120 }
    ),
    MigrationSteps.CheckNewBox.check(
      {
        id: stepIds.checkNew,
        title: `New appliance ${newId} is another box, on its own address, not serving the site`,
        rules: ["MIGRATE-1"],
        target: newId,
        estimatedSeconds: 5,
        notes: [
          `Read without an API account on ${newId} (it has none before the restore): it passes the load-balancer probe on its own address, serves its own (factory) certificate, not the one ${oldId} serves; the site address is still answered by ${oldId} (through ${oldId}'s API account).`
        ]
      },
      {
        old: oldId,
        new: newId,
        newUrl: c.newAppliance.apiUrl,
        newTls: tlsAddress(c.newAppliance),
        oldTls: tlsAddress(c.oldAppliance),
        siteHostname: c.site.hostname,
        ...(options.siteClientId === undefined ? {} : { siteClient: options.siteClientId })
      }
    ),
    MigrationSteps.NewBoxClock.check(
      {
        id: stepIds.checkNewClock,
        title: `New appliance ${newId} clock is right`,
        rules: ["PREP-8", "MIGRATE-6"],
        target: newId,
        estimatedSeconds: 5,
        notes: [
          `${newId} checks for updates or uses the download key (MIGRATE-6), both of which need a correct clock; a factory box is the likeliest to be wrong. Read from the HTTP Date header of its load-balancer probe (no API account before the restore); its time is shown on ${web(c.newAppliance, "/appliance")} > Status > Basics; set the time and NTP under Network > IP Configuration.`
        ]
      },
      { appliance: newId, url: c.newAppliance.apiUrl, maxSkewSeconds: 120 }
    ),
    MigrationSteps.CheckVersionsSeen.check(
      {
        id: stepIds.checkVersions,
        title: `Versions: ${oldId} runs ${options.current.product}; ${newId} must run ${c.targetText} before the restore`,
        rules: ["MIGRATE-6"],
        target: newId,
        estimatedSeconds: 5,
        notes: [
          "A backup restores only onto the same product version or a later one: the new box is brought to the old one's version (or the target) first.",
          `${newId}'s version is the one read on its /appliance at ${stepIds.newInstall} (no API account before the restore).`
        ]
      },
      {
        old: oldId,
        new: newId,
        oldVersion: options.current.product,
        target: c.targetText,
        installPlanned: c.installNeeded,
        seenAt: stepIds.newInstall
      }
    )
  ]
}

/** 3. MIGRATE-6: the EULA, then the software install on the new box and the wait for its version. */
const softwarePart = (c: Context): ReadonlyArray<Plan.Step> => {
  const { newAppliance, newId, targetText } = c
  const eula = MigrationSteps.EulaAccepted.gate(
    {
      id: stepIds.eula,
      title: `Accept the EULA on ${newId}`,
      rules: ["MIGRATE-6"],
      target: newId,
      estimatedSeconds: 120,
      instructions: [
        `Open ${web(newAppliance, "/appliance")} and read the end-user licence agreement; accept it (no software can be installed before).`,
        "No API reports whether the EULA was accepted: this gate is the record of it."
      ]
    },
    { appliance: newId }
  )
  if (!c.installNeeded) return [eula]
  return [
    eula,
    MigrationSteps.SoftwareStarted.gate(
      {
        id: stepIds.software,
        title: `Install the software on ${newId} up to ${targetText}`,
        rules: ["MIGRATE-6", "SINGLE-1", "SINGLE-2"],
        target: newId,
        estimatedSeconds: 300,
        instructions: [
          `Open ${web(newAppliance, "/appliance")} > Updates and press "Check for updates" (or use the download key on a restricted network, SINGLE-3).`,
          `Install the packages the page offers, prerequisites first, until the appliance runs ${targetText} — the old appliance's version${targetText === c.options.current.product ? "" : " or later"}; not a later one than planned.`,
          "Approve when the last install has started; the run then waits for the version."
        ]
      },
      { appliance: newId, target: targetText }
    ),
    MigrationSteps.NewSoftwareBack.wait(
      {
        id: stepIds.softwareWait,
        title: `Wait until ${newId} answers again after the install`,
        rules: ["MIGRATE-6"],
        target: newId,
        estimatedSeconds: c.installMinutes * 60,
        intervalSeconds: c.interval,
        deadlineSeconds: c.installMinutes * 60 * 3,
        notes: [
          `Polls the load-balancer probe on ${newAppliance.apiUrl} (no API account before the restore) until it answers HTTP 200.`
        ]
      },
      { appliance: newId, url: newAppliance.apiUrl, target: targetText }
    ),
    MigrationSteps.NewSoftwareInstalled.gate(
      {
        id: stepIds.softwareInstalled,
        title: `${newId} runs ${targetText}`,
        rules: ["MIGRATE-6", "VERIFY-1"],
        target: newId,
        estimatedSeconds: 120,
        instructions: [
          `Open ${web(newAppliance, "/appliance")} > Status > Basics and read the product version: it must be ${targetText}.`,
          "If /appliance > Updates still offers a package on the way to it, install it and wait; approve with the version shown."
        ],
        notes: [
          "No API account exists on the new box before the restore: the version is read by a person here and checked again through the API after the restore (MIGRATE-7)."
        ]
      },
      { appliance: newId, url: newAppliance.apiUrl, target: targetText }
    )
  ]
}

/** 4. MIGRATE-2: the old box's settings backup, then a re-read of the file. */
const backupPart = (c: Context): ReadonlyArray<Plan.Step> => [
  CoreSteps.backupStep({
    id: stepIds.backup,
    title: `Download the settings backup of ${c.oldId}`,
    rules: ["MIGRATE-2", "PREP-1"],
    appliance: c.oldId,
    directory: c.backupDir,
    passwordProtected: c.passwordProtected,
    label: "migration",
    notes: ["Kept in a safe place: it is what the new box is restored from."]
  }),
  MigrationSteps.VerifyBackup.check(
    {
      id: stepIds.backupVerify,
      title: "The backup file is complete",
      rules: ["MIGRATE-2"],
      target: c.oldId,
      estimatedSeconds: 5,
      notes: ["Re-reads the file recorded by the backup step: same size and SHA-256, product version of the old box."]
    },
    { backupStep: stepIds.backup, appliance: c.oldId }
  )
]

/** 5. MIGRATE-3…5: export from the old box, import on the new one, default certificate. */
const certificatesPart = (c: Context): ReadonlyArray<Plan.Step> => {
  const { oldId, newId, bundlePath, site, options } = c
  const oldTls = tlsAddress(c.oldAppliance)
  const newTls = tlsAddress(c.newAppliance)
  return [
    MigrationSteps.ExportedBundle.gate(
      Steps.exportBundleMeta(
        { path: bundlePath },
        {
          id: stepIds.exportCertificate,
          target: oldId,
          rule: "MIGRATE-3",
          intro: [`On ${web(c.oldAppliance, "/appliance")}:`],
          notes: [
            `Verified: the file holds a certificate chain with an encrypted private key, and its leaf has the SHA-256 fingerprint of the certificate ${oldId} serves for ${site.hostname} (TLS probe of ${oldTls.host}:${oldTls.port}).`
          ]
        }
      ),
      { path: bundlePath, siteFqdn: site.hostname, host: oldTls.host, port: oldTls.port }
    ),
    Steps.importBundleGate(
      { path: bundlePath, siteFqdn: site.hostname },
      {
        id: stepIds.importCertificate,
        target: newId,
        intro: [`On ${web(c.newAppliance, "/appliance")}:`],
        notes: ["The import itself is verified at the next step, by probing what the new box serves."]
      }
    ),
    MigrationSteps.DefaultCertificate.gate(
      Steps.defaultCertificateMeta(
        { siteFqdn: site.hostname },
        {
          id: stepIds.defaultCertificate,
          target: newId,
          notes: [
            "Verified: the certificates package chooses the default among the imported bundle and the other certificates (issued to the site, no findings: any warning blocks, escalate to vendor support), then a TLS probe checks that the new box serves that chain."
          ]
        }
      ),
      {
        path: bundlePath,
        siteFqdn: site.hostname,
        host: newTls.host,
        port: newTls.port,
        others: (options.otherCertificates ?? []).map((o) => ({ label: o.label, chainPem: o.chainPem })),
        ...(options.trustAnchorsPem === undefined ? {} : { trustAnchorsPem: options.trustAnchorsPem })
      }
    )
  ]
}

/** 6. MIGRATE-7: restore, comparison of both boxes, change of the initial credentials. */
const restorePart = (c: Context): ReadonlyArray<Plan.Step> => {
  const { oldId, newId, restoredId, backupDir, passwordProtected, newAppliance } = c
  return [
    MigrationSteps.Restored.gate(
      {
        id: stepIds.restore,
        title: `Restore the settings of ${oldId} on ${newId}`,
        rules: ["MIGRATE-7"],
        target: newId,
        estimatedSeconds: 900,
        instructions: [
          `Open ${web(newAppliance, "/login")} > Management > Software > Restore settings.`,
          `Upload the backup file recorded by step ${stepIds.backup} (under ${backupDir})${passwordProtected ? " and enter the site's backup password" : ""}; press Restore.`,
          "Wait until the appliance is back; the API accounts of the old appliance now exist on the new one."
        ],
        notes: [
          `Verified through the API of ${newId} with the old appliance's API account (registry id ${restoredId}): it answers, healthy, on the old product version.`,
          "A backup newer than the new box's software is refused by the appliance: bring it to the old version first (MIGRATE-6)."
        ]
      },
      {
        old: oldId,
        new: newId,
        restoredClient: restoredId,
        backupStep: stepIds.backup,
        directory: backupDir,
        passwordProtected
      }
    ),
    MigrationSteps.CompareAppliances.check(
      {
        id: stepIds.compare,
        title: `${newId} answers like ${oldId}`,
        rules: ["MIGRATE-7"],
        target: newId,
        estimatedSeconds: 30,
        notes: [
          "Same product version, same Jump Client and Jumpoint counts, the old API account working with the same permissions."
        ]
      },
      { old: oldId, new: newId, restoredClient: restoredId }
    ),
    MigrationSteps.CredentialsChanged.gate(
      {
        id: stepIds.credentials,
        title: `Change the initial admin / password credentials of ${newId}`,
        rules: ["MIGRATE-7"],
        target: newId,
        estimatedSeconds: 300,
        instructions: [
          `A new appliance's initial login on ${web(newAppliance, "/login")} is admin / password (guide l.425): anyone on the network can take it over.`,
          `Log in to ${web(newAppliance, "/login")} as admin and change its password now (My Account; a long random one, kept in the password vault). If the restore brought the old site's users, check that no account is left with the initial password.`,
          `Check the same on ${web(newAppliance, "/appliance")}: its admin account must not keep a factory password either.`,
          'No API can tell whether the default credentials were changed: this attestation is the check. Approve only with attestation "changed"; it blocks the run otherwise.'
        ]
      },
      { appliance: restoredId }
    )
  ]
}

/** 7. MIGRATE-8: the cut-over, the wait for the site address, VERIFY-1 and VERIFY-2 on the new box. */
const cutoverPart = (c: Context): ReadonlyArray<Plan.Step> => {
  const { oldId, newId, restoredId, targetText, gate, site } = c
  return [
    MigrationSteps.Cutover.gate(
      {
        id: stepIds.cutover,
        title: gate.title,
        rules: ["MIGRATE-8", ...gate.rules],
        target: "site",
        estimatedSeconds: 300,
        instructions: gate.instructions,
        notes: [
          "Performed through failover's TrafficSwitch (an automated DNS / NAT adapter applies it itself); the next step waits until the site address is answered by the new appliance."
        ]
      },
      { pair: c.apiPair, from: oldId, to: newId }
    ),
    MigrationSteps.SiteServedByNew.wait(
      {
        id: stepIds.cutoverWait,
        title: `Wait until ${site.hostname} is served by ${newId}`,
        rules: ["MIGRATE-8"],
        target: "site",
        estimatedSeconds: Math.max(gate.settleSeconds, 30),
        intervalSeconds: Math.min(c.interval, 15),
        deadlineSeconds: gate.settleSeconds * 2 + 600,
        notes: ["Evidence carries the site prober's figures (probes sent, failed, longest outage) when one runs."]
      },
      { pair: c.apiPair }
    ),
    // the new box reached with the old API account (`restoredId`), reported on the new box
    CoreSteps.VerifyVersion.check(
      {
        id: stepIds.verifyNew,
        title: `${newId} healthy on ${targetText}`,
        rules: ["VERIFY-1", "MIGRATE-8"],
        target: newId,
        estimatedSeconds: 5
      },
      { appliance: restoredId, version: targetText }
    ),
    CoreSteps.ConfirmConsoleCheck.gate(
      {
        id: stepIds.verifyConsole,
        title: "Test access: access console and a session through the site address",
        rules: ["VERIFY-2", "MIGRATE-8"],
        target: newId,
        estimatedSeconds: 600,
        instructions: [
          `Launch the access console against ${site.hostname}: it must reach the new appliance (Help > About shows ${targetText}).`,
          "Open a session to a remote computer through a Jump Client and check screen and input.",
          "Reject this gate if any of these fails: the old appliance is still intact, the DNS record can be moved back."
        ]
      },
      { appliance: restoredId, version: targetText }
    )
  ]
}

/** 8. MIGRATE-9: confirmation in production, then the decommission of the old box. */
const decommissionPart = (c: Context): ReadonlyArray<Plan.Step> => {
  const { oldId, newId, oldAppliance } = c
  const confirm = MigrationSteps.ConfirmInProduction.gate(
    {
      id: stepIds.confirmInProduction,
      title: `Confirm ${newId} in production before decommissioning ${oldId}`,
      rules: ["MIGRATE-9"],
      target: "site",
      estimatedSeconds: 86400,
      instructions: [
        `Let users work on ${newId} (typically a business day): Jump Clients reconnect, sessions and reports work.`,
        `Only then approve: the next steps destroy ${oldId}'s configuration and cannot be undone.`
      ]
    },
    { pair: c.apiPair }
  )
  const oldGone = { old: oldId, oldUrl: oldAppliance.apiUrl, new: c.restoredId }
  if (c.options.oldKind === "virtual")
    return [
      confirm,
      MigrationSteps.OldDeleted.gate(
        {
          id: stepIds.oldDelete,
          title: `Delete the old virtual appliance ${oldId}`,
          rules: ["MIGRATE-9"],
          target: oldId,
          estimatedSeconds: 600,
          instructions: [
            `On the hypervisor, power off the virtual machine of ${oldId} (${oldAppliance.uniqueIp}) and delete it with its disks.`,
            "Delete its snapshots and any copies of its disks too: they hold the site's configuration and keys."
          ],
          notes: ["Verified: the old box's address no longer answers, or answers without the site's API account."]
        },
        oldGone
      )
    ]
  return [
    confirm,
    MigrationSteps.OldReset.gate(
      {
        id: stepIds.oldReset,
        title: `Reset ${oldId} to factory defaults`,
        rules: ["MIGRATE-9"],
        target: oldId,
        estimatedSeconds: 1800,
        instructions: [
          `Open ${web(oldAppliance, "/appliance")} > Status > Basics and run "Reset appliance to factory settings".`,
          "Wait until it has restarted with its factory configuration."
        ],
        notes: ["Verified: the old box no longer answers the site's API account (its configuration is gone)."]
      },
      oldGone
    ),
    MigrationSteps.OldPoweredOff.gate(
      {
        id: stepIds.oldPowerOff,
        title: `Power off ${oldId}`,
        rules: ["MIGRATE-9"],
        target: oldId,
        estimatedSeconds: 600,
        instructions: [`Power off ${oldId} and unplug it; pack it in its original box.`],
        notes: ["Verified: the old box's address does not answer the load-balancer probe any more."]
      },
      oldGone
    ),
    MigrationSteps.ReturnShipped.gate(
      {
        id: stepIds.oldReturn,
        title: `Return ${oldId} with the vendor's return label`,
        rules: ["MIGRATE-9"],
        target: oldId,
        estimatedSeconds: 1800,
        instructions: [
          "Request the return label from the vendor, stick it on the box and hand it to the carrier.",
          "No API can follow a parcel: record the tracking number."
        ]
      },
      { old: oldId }
    )
  ]
}

/** Plan notes: what is left out, the default-credentials risk, how the site moves, what a backup holds. */
const notesOf = (c: Context): ReadonlyArray<string> => [
  ...(c.installNeeded ? [] : [`${c.newId} already runs ${c.targetText}: no software install is planned (MIGRATE-6).`]),
  `MIGRATE-7: ${c.newId} starts with the initial admin / password login: a risk until the password is changed (step ${stepIds.credentials}).`,
  `The site moves by ${c.pair.traffic.method} (${c.gate.rules.join(", ")}); ${c.oldId} stays intact until ${stepIds.confirmInProduction}, so the cut-over can be undone until then.`,
  "The backup holds configuration and rights, not session recordings nor the local encryption key (PREP-1)."
]

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
): Either.Either<Plan.Plan, MigrationPlanError> =>
  Either.map(prepare(oldAppliance, newAppliance, site, options), (c) =>
    Plan.make({
      id: options.planId ?? `migrate-${c.oldId}-to-${c.newId}`,
      kind: "migration",
      title: `Move ${site.hostname} from ${c.oldId} to ${c.newId}`,
      site: site.hostname,
      targetVersion: c.targetText,
      steps: [
        ...newInstallPart(c),
        ...checksPart(c),
        // the guide's order (l.397-427): backup, certificates, default certificate, software, restore
        ...backupPart(c),
        ...certificatesPart(c),
        ...softwarePart(c),
        ...restorePart(c),
        ...cutoverPart(c),
        ...decommissionPart(c)
      ],
      notes: notesOf(c)
    })
  )
