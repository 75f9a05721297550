/**
 * The single-appliance planner (PREP-*, SINGLE-*, VERIFY-1/2, CLIENT-*):
 * `planSingleUpgrade(site, target, options)` turns a site description, the
 * versions observed on the appliance and a target into a {@link Plan.Plan}.
 * Pure: no I/O, no clock (the caller gives `now` to pick the maintenance
 * window and `current` from a health read).
 *
 * Order of the steps (each tagged with its rules):
 *
 * 1. checks: API reachable + permissions; clock skew (PREP-8); version path
 *    (SINGLE-2); rehearsal found (PREP-5, advisory); certificate stores
 *    (CLIENT-3); before-upgrade client tasks (CLIENT-5, CLIENT-6);
 * 2. the maintenance window (PREP-4, with the PREP-3 estimate), then the
 *    disconnect report (PREP-4, LICENSE-1: who is logged in right before
 *    the downtime);
 * 3. settings backup (PREP-1) and certificate export (PREP-2), taken inside
 *    the window so they are fresh;
 * 4. the installs in `UpdatePackage.installOrder` order: automatic
 *    (SINGLE-1) or manual with a download key (SINGLE-3), each followed by a
 *    wait that polls health until version and build match (PREP-6 halts on a
 *    failed base update); a fresh backup after base software, then the
 *    product updates immediately (SINGLE-5);
 * 5. verification: VERIFY-1 automated, VERIFY-2 checklist gate;
 * 6. client follow-ups from `ClientUpdatePolicy` (CLIENT-4, 9, 10, 12, 13).
 *
 * When neither the site file nor the options list the packages on offer
 * (no vendor API lists them), the plan asks a person to record what
 * `/appliance > Updates` shows and to install, in the order the page
 * unlocks them, until the appliance reports the target.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as ClientUpdatePolicy from "./ClientUpdatePolicy.js"
import * as MaintenanceWindow from "./MaintenanceWindow.js"
import * as Plan from "./Plan.js"
import * as Site from "./Site.js"
import * as UpdatePackage from "./UpdatePackage.js"
import * as Version from "./Version.js"

// ---------------------------------------------------------------------------
// inputs
// ---------------------------------------------------------------------------

/**
 * What the appliance runs now, as observed (health: `version`, `build`;
 * `/appliance > Status`: base software).
 *
 * @since 0.1.0
 * @category models
 */
export interface Current {
  /** Product version, e.g. `24.1.3`. */
  readonly product: string
  /** Build as health reports it, e.g. `40516-5f3e…`. */
  readonly build?: string | undefined
  /** Base software version; defaults to the site file's `baseVersion`. */
  readonly base?: string | undefined
  /** Package ids known to be installed already (licence add-ons…). */
  readonly packages?: ReadonlyArray<string> | undefined
}

/**
 * Where the appliance should end up: a product version string, or any of
 * product / base / package ids.
 *
 * @since 0.1.0
 * @category models
 */
export type TargetInput =
  | string
  | {
      readonly product?: string | undefined
      readonly base?: string | undefined
      readonly packages?: ReadonlyArray<string> | undefined
    }

/**
 * `automatic`: "Install this update" on the Updates page (SINGLE-1);
 * `manual`: download key, removable media, "Manual installation" (SINGLE-3).
 *
 * @since 0.1.0
 * @category models
 */
export type Method = "automatic" | "manual"

/**
 * Options of {@link planSingleUpgrade}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Versions observed on the appliance (the planner does no I/O). */
  readonly current: Current
  /** Appliance id; default: the site's only appliance. */
  readonly appliance?: string | undefined
  /** Default `automatic`. */
  readonly method?: Method | undefined
  /** Packages on offer; default: the site file's `updates`. Empty everywhere = ask a person (gate). */
  readonly updates?: ReadonlyArray<UpdatePackage.UpdatePackage> | undefined
  /** The window to install in; default: the site's window open at `now`, or the next one. */
  readonly window?: MaintenanceWindow.MaintenanceWindow | undefined
  /** Used only to pick the maintenance window (default: the first one of the site file). */
  readonly now?: Date | undefined
  /** PREP-8 bound, seconds (default 120). */
  readonly maxClockSkewSeconds?: number | undefined
  /** Poll interval of the install waits, seconds (default 30). */
  readonly pollIntervalSeconds?: number | undefined
  /** CLIENT-10 wait; defaults from `ClientUpdatePolicy` (pending ≤ passive clients, estimated deadline). */
  readonly jumpClientWait?:
    | {
        readonly maxPending?: number | undefined
        readonly deadlineSeconds?: number | undefined
        readonly intervalSeconds?: number | undefined
      }
    | undefined
  /** Where rehearsal records are kept (PREP-5); default `<backup.directory>/rehearsals`. */
  readonly rehearsalDirectory?: string | undefined
  /** Where certificate exports go (PREP-2); default `<backup.directory>/certificates`. */
  readonly certificateDirectory?: string | undefined
  /** Plan id; default `single-<appliance>-<target>`. */
  readonly planId?: string | undefined
}

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

/**
 * A version in the input could not be read.
 *
 * @since 0.1.0
 * @category models
 */
export class BadVersion extends Schema.TaggedClass<BadVersion>()("BadVersion", {
  field: Schema.String,
  detail: Schema.String
}) {}

/**
 * No install order reaches the target (SINGLE-2): carries the reason
 * (missing prerequisite by name, cycle, downgrade, unreachable target).
 *
 * @since 0.1.0
 * @category models
 */
export class NoInstallPath extends Schema.TaggedClass<NoInstallPath>()("NoInstallPath", {
  order: UpdatePackage.InstallOrderErrorReason
}) {}

/**
 * The site is a failover pair: PREP-7 asks for the PAIR-* methods.
 *
 * @since 0.1.0
 * @category models
 */
export class NotSingleAppliance extends Schema.TaggedClass<NotSingleAppliance>()("NotSingleAppliance", {
  appliances: Schema.Array(Schema.String)
}) {}

/**
 * `options.appliance` names no appliance of the site.
 *
 * @since 0.1.0
 * @category models
 */
export class UnknownAppliance extends Schema.TaggedClass<UnknownAppliance>()("UnknownAppliance", {
  id: Schema.String,
  known: Schema.Array(Schema.String)
}) {}

/**
 * The appliance already runs the target.
 *
 * @since 0.1.0
 * @category models
 */
export class AlreadyAtTarget extends Schema.TaggedClass<AlreadyAtTarget>()("AlreadyAtTarget", {
  target: Schema.String
}) {}

/**
 * A blocking pre-check already fails from what the site file says (CLIENT-3).
 *
 * @since 0.1.0
 * @category models
 */
export class PreCheckFails extends Schema.TaggedClass<PreCheckFails>()("PreCheckFails", {
  rules: Schema.Array(Schema.String),
  detail: Schema.String
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export const SingleUpgradeErrorReason = Schema.Union(
  BadVersion,
  NoInstallPath,
  NotSingleAppliance,
  UnknownAppliance,
  AlreadyAtTarget,
  PreCheckFails
)

/**
 * @since 0.1.0
 * @category models
 */
export type SingleUpgradeErrorReason = typeof SingleUpgradeErrorReason.Type

/**
 * The single-appliance plan cannot be built.
 *
 * @since 0.1.0
 * @category errors
 */
export class SingleUpgradeError extends Schema.TaggedError<SingleUpgradeError>("@sra-upgrade/core/SingleUpgradeError")(
  "SingleUpgradeError",
  { reason: SingleUpgradeErrorReason }
) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const r = this.reason
    switch (r._tag) {
      case "BadVersion":
        return `${r.field}: ${r.detail}`
      case "NoInstallPath":
        return new UpdatePackage.InstallOrderError({ reason: r.order }).message
      case "NotSingleAppliance":
        return `The site is served by a failover pair (${r.appliances.join(", ")}): a pair must be upgraded with the synchronous or asynchronous method (PREP-7, PAIR-*), not the single-appliance plan.`
      case "UnknownAppliance":
        return `No appliance "${r.id}" in the site file (known: ${r.known.join(", ")}).`
      case "AlreadyAtTarget":
        return `The appliance already runs ${r.target}: nothing to install.`
      case "PreCheckFails":
        return `Blocking pre-check (${r.rules.join(", ")}) fails: ${r.detail}`
    }
  }
}

const err = (reason: SingleUpgradeErrorReason) => Either.left(new SingleUpgradeError({ reason }))

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

const R = (...ids: ReadonlyArray<string>) => ids.map((id) => Plan.RuleId.make(id))

/** Handler names of this planner, all handled by `CoreHandlers`. */
export const handlers = {
  checkApiAccess: "core/check-api-access",
  checkClockSkew: "core/check-clock-skew",
  checkVersionPath: "core/check-version-path",
  checkRehearsal: "core/check-rehearsal",
  checkCertificateStores: "core/check-certificate-stores",
  confirmCertificateStores: "core/confirm-certificate-stores",
  reportDisconnects: "core/report-disconnects",
  downloadBackup: "core/download-backup",
  confirmCertificateExport: "core/confirm-certificate-export",
  confirmDowntime: "core/confirm-downtime",
  confirmTask: "core/confirm-task",
  recordOfferedUpdates: "core/record-offered-updates",
  confirmDownloadKey: "core/confirm-download-key",
  confirmInstallStarted: "core/confirm-install-started",
  awaitInstall: "core/await-install",
  confirmBaseVersion: "core/confirm-base-version",
  verifyVersion: "core/verify-version",
  confirmConsoleCheck: "core/confirm-console-check",
  awaitJumpClients: "core/await-jump-clients",
  reportJumpoints: "core/report-jumpoints"
} as const

/**
 * Every handler name the single-appliance plans use (the `CoreHandlers`
 * registry provides each).
 *
 * @since 0.1.0
 * @category models
 */
export const handlerNames: ReadonlyArray<string> = Object.values(handlers)

const parseTarget = (
  target: TargetInput
): Either.Either<UpdatePackage.Target & { readonly label: string }, SingleUpgradeError> => {
  const t = typeof target === "string" ? { product: target } : target
  let product: Version.ProductVersion | undefined
  let base: Version.BaseVersion | undefined
  if (t.product !== undefined) {
    const p = Version.parse(t.product)
    if (Either.isLeft(p)) return err(new BadVersion({ field: "target.product", detail: p.left.message }))
    product = p.right
  }
  if (t.base !== undefined) {
    const b = Version.parseBase(t.base)
    if (Either.isLeft(b)) return err(new BadVersion({ field: "target.base", detail: b.left.message }))
    base = b.right
  }
  if (product === undefined && base === undefined && (t.packages ?? []).length === 0)
    return err(
      new BadVersion({ field: "target", detail: "give a product version, a base version or package ids to install" })
    )
  const label =
    product !== undefined
      ? Version.format(product)
      : base !== undefined
        ? `base ${Version.format(base)}`
        : (t.packages ?? []).join(", ")
  return Either.right({ product, base, packages: t.packages, label })
}

const applianceUrl = (a: Site.Appliance) => `https://${a.hostname ?? a.uniqueIp}/appliance`

const pkgLabel = (p: UpdatePackage.UpdatePackage) =>
  `${p.title ?? p.id} (${p.kind === "base" ? "base software" : p.kind === "site" ? "product" : "licence add-on"} ${p.version})`

const slug = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, "-")

// ---------------------------------------------------------------------------
// the planner
// ---------------------------------------------------------------------------

/**
 * Plan the upgrade of one appliance to `target`. Fails with a
 * {@link SingleUpgradeError} naming what is missing (e.g. the prerequisite
 * package by name, SINGLE-2).
 *
 * @since 0.1.0
 * @category constructors
 */
export const planSingleUpgrade = (
  site: Site.Site,
  target: TargetInput,
  options: Options
): Either.Either<Plan.Plan, SingleUpgradeError> => {
  // --- the appliance
  if (options.appliance === undefined && site.isPair)
    return err(new NotSingleAppliance({ appliances: site.appliances.map((a) => a.id) }))
  const appliance = options.appliance === undefined ? site.appliances[0]! : site.appliance(options.appliance)
  if (appliance === undefined)
    return err(new UnknownAppliance({ id: options.appliance!, known: site.appliances.map((a) => a.id) }))
  const id = appliance.id

  // --- versions
  const parsedTarget = parseTarget(target)
  if (Either.isLeft(parsedTarget)) return Either.left(parsedTarget.left)
  const tgt = parsedTarget.right
  const currentProduct =
    options.current.build === undefined
      ? Version.parse(options.current.product)
      : Version.fromParts(options.current.product, options.current.build)
  if (Either.isLeft(currentProduct))
    return err(new BadVersion({ field: "current.product", detail: currentProduct.left.message }))
  const baseText = options.current.base ?? appliance.baseVersion
  let currentBase: Version.BaseVersion | undefined
  if (baseText !== undefined) {
    const b = Version.parseBase(baseText)
    if (Either.isLeft(b)) return err(new BadVersion({ field: "current.base", detail: b.left.message }))
    currentBase = b.right
  }
  const installed: UpdatePackage.Installed = {
    product: currentProduct.right,
    base: currentBase,
    packages: options.current.packages
  }

  // --- packages on offer and their order (SINGLE-2, SINGLE-5)
  const offered = options.updates ?? site.updates
  const offerSource: "options" | "site" | "gate" =
    options.updates !== undefined && options.updates.length > 0 ? "options" : site.updates.length > 0 ? "site" : "gate"
  let order: ReadonlyArray<UpdatePackage.InstallStep> = []
  if (offerSource !== "gate") {
    const o = UpdatePackage.installOrder(offered, installed, tgt)
    if (Either.isLeft(o)) return err(new NoInstallPath({ order: o.left.reason }))
    order = o.right
    if (order.length === 0) return err(new AlreadyAtTarget({ target: tgt.label }))
  } else if (tgt.product !== undefined && Version.matches(installed.product, tgt.product)) {
    return err(new AlreadyAtTarget({ target: tgt.label }))
  }
  const kinds: ReadonlyArray<UpdatePackage.PackageKind> =
    offerSource === "gate" ? (tgt.product !== undefined ? ["site"] : ["base"]) : order.map((s) => s.package.kind)

  // --- client impact (CLIENT-*)
  const impact = ClientUpdatePolicy.impact(kinds, site.clients)
  const storesCheck = impact.preChecks.find((c) => c.rules.includes(Plan.RuleId.make("CLIENT-3")))
  if (storesCheck?.status === "fail") return err(new PreCheckFails({ rules: ["CLIENT-3"], detail: storesCheck.detail }))

  const method: Method = options.method ?? "automatic"
  const interval = options.pollIntervalSeconds ?? 30
  const backupDir = site.backup.directory
  const certDir = options.certificateDirectory ?? `${backupDir}/certificates`
  const rehearsalDir = options.rehearsalDirectory ?? `${backupDir}/rehearsals`
  const passwordProtected = site.backup.password !== undefined
  const finalProduct = order.reduce<Version.ProductVersion | undefined>(
    (v, s) => s.package.productVersion ?? v,
    offerSource === "gate" ? tgt.product : undefined
  )

  const steps: Array<Plan.Step> = []
  const notes: Array<string> = []

  // ---------------------------------------------------------------- 1. checks
  steps.push(
    new Plan.Check({
      id: `${id}/check-api`,
      title: "API reachable, permissions sufficient",
      rules: [],
      target: id,
      estimatedSeconds: 5,
      handler: handlers.checkApiAccess,
      params: {
        appliance: id,
        require: {
          perm_backup: true,
          perm_command: "read_only",
          perm_configuration: impact.followUps.some((f) => f.kind === "wait-for-jump-clients")
        }
      },
      idempotent: true,
      severity: "blocking",
      notes: [
        "The API account needs perm_backup (settings backup) and perm_command read_only or better; perm_configuration to follow the Jump Clients."
      ]
    }),
    new Plan.Check({
      id: `${id}/check-clock`,
      title: "Appliance clock is right",
      rules: R("PREP-8"),
      target: id,
      estimatedSeconds: 5,
      handler: handlers.checkClockSkew,
      params: { appliance: id, maxSkewSeconds: options.maxClockSkewSeconds ?? 120 },
      idempotent: true,
      severity: "blocking",
      notes: [
        "A wrong clock breaks the download key and other features: fix the time and NTP under /appliance > Network > IP Configuration."
      ]
    }),
    new Plan.Check({
      id: `${id}/check-version-path`,
      title: `Version path ${installed.product.release} → ${tgt.label}`,
      rules: R("SINGLE-2"),
      target: id,
      estimatedSeconds: 5,
      handler: handlers.checkVersionPath,
      params: {
        appliance: id,
        expectedVersion: installed.product.release,
        ...(options.current.build === undefined ? {} : { expectedBuild: options.current.build }),
        target: tgt.label,
        order: order.map((s) => s.package.id)
      },
      idempotent: true,
      severity: "blocking",
      notes:
        offerSource === "gate"
          ? ["The packages on offer are not listed: the order is decided on the Updates page (prerequisites first)."]
          : [
              `Install order: ${order.map((s) => s.package.id).join(" → ")} (every prerequisite first; base software before the product updates that need it).`
            ]
    }),
    new Plan.Check({
      id: `${id}/check-rehearsal`,
      title: "This plan was rehearsed on a simulator",
      rules: R("PREP-5"),
      target: id,
      estimatedSeconds: 1,
      handler: handlers.checkRehearsal,
      params: { directory: rehearsalDir },
      idempotent: true,
      severity: "advisory",
      notes: [
        "Test the update in a controlled environment first: run this same plan against a simulator seeded from the site (Seed.fromSnapshot) and record the run (Rehearsal.record)."
      ]
    })
  )

  if (offerSource === "gate")
    steps.push(
      new Plan.ManualGate({
        id: `${id}/record-updates`,
        title: "Record the updates on offer",
        rules: R("SINGLE-1", "SINGLE-2"),
        target: id,
        estimatedSeconds: 300,
        handler: handlers.recordOfferedUpdates,
        params: { appliance: id, target: tgt.label },
        idempotent: true,
        instructions: [
          `Open ${applianceUrl(appliance)} > Updates and press "Check for updates" (restricted networks: use the download key, SINGLE-3).`,
          "Write down every package listed: its name, version and whether it is base software or a product (site) update.",
          "Packages that need another one first are unlocked only once that one is installed (SINGLE-2): list them in the site file's updates: with requires: to get a precise plan next time."
        ],
        evidence: [
          new Plan.EvidenceField({ name: "offered", description: "the packages listed, as shown (name and version)" })
        ]
      })
    )

  if (storesCheck !== undefined)
    steps.push(
      new Plan.ManualGate({
        id: `${id}/certificate-stores`,
        title: "Certificate stores are managed and current",
        rules: R("CLIENT-3"),
        target: id,
        estimatedSeconds: 600,
        handler: handlers.confirmCertificateStores,
        params: {
          appliance: id,
          status: storesCheck.status,
          stores: (site.clients.certificateStores ?? []).map((s) => s.name)
        },
        idempotent: true,
        instructions: [
          `The site file says: ${storesCheck.detail}`,
          "For every certificate store the endpoints use (e.g. the Windows machine store pushed by group policy): check that it is managed centrally and already holds the root and intermediate certificates the new site package presents.",
          `Compare with the chain served on https://${site.hostname}/ (browser: padlock > certificate > details).`,
          "Do not go on while any store is unmanaged or outdated: many existing Jump Clients would show offline after the upgrade."
        ],
        evidence: [new Plan.EvidenceField({ name: "stores", description: "the stores checked, and who manages each" })],
        notes: ["Until the certificates package automates this check, a person confirms it (blocking)."]
      })
    )

  // client work before the upgrade (CLIENT-5, CLIENT-6, CLIENT-8)
  for (const action of impact.manualActions.filter((a) => a.phase === "before-upgrade"))
    steps.push(
      new Plan.ManualGate({
        id: `${id}/client-${action.kind}`,
        title: action.title + (action.required ? "" : " (optional)"),
        rules: action.rules,
        target: id,
        estimatedSeconds: 600,
        handler: handlers.confirmTask,
        params: { appliance: id, task: action.kind, required: action.required, items: [...action.items] },
        idempotent: true,
        instructions: action.instructions,
        evidence: action.required
          ? [new Plan.EvidenceField({ name: "done", description: "where/what was done (e.g. the archive path)" })]
          : []
      })
    )
  const concurrency = impact.followUps.find((f) => f.kind === "limit-concurrent-upgrades")
  if (concurrency !== undefined) {
    const pending = impact.followUps.find((f) => f.kind === "upgrade-pending-notice")
    steps.push(
      new Plan.ManualGate({
        id: `${id}/jump-client-concurrency`,
        title: concurrency.title,
        rules: [...concurrency.rules, ...(pending?.rules ?? [])],
        target: id,
        estimatedSeconds: 120,
        handler: handlers.confirmTask,
        params: { appliance: id, task: "limit-concurrent-upgrades", ...concurrency.params },
        idempotent: true,
        instructions: [
          `Open https://${site.hostname}/login > Jump > Jump Clients.`,
          `Set "Maximum number of concurrent Jump Client upgrades" to at most ${String(concurrency.params["recommended"])} and "Maximum bandwidth of concurrent Jump Client upgrades" to ${Number(concurrency.params["recommendedBandwidthMiBps"]).toFixed(1)} MiB/s; save.`,
          concurrency.detail,
          ...(pending === undefined ? [] : [pending.detail])
        ],
        evidence: [
          new Plan.EvidenceField({ name: "maxConcurrentUpgrades", description: "the value now saved on the page" })
        ]
      })
    )
  }

  // ---------------------------------------------------------------- 2. window (PREP-4, PREP-3)
  const estimates = order.map((s) => Site.estimateInstallMinutes(appliance.storedDataGb, s.package))
  const installMinutes =
    offerSource === "gate"
      ? Site.estimateInstallMinutes(appliance.storedDataGb, { kind: "site", id: tgt.label }).minutes
      : estimates.reduce((n, e) => n + e.minutes, 0)
  const window =
    options.window ??
    Option.getOrUndefined(
      options.now === undefined
        ? Option.fromNullable(site.maintenanceWindows[0])
        : MaintenanceWindow.current(site.maintenanceWindows, options.now)
    )
  const estimateNote =
    `PREP-3: installs estimated at ${installMinutes} min in total${appliance.storedDataGb > 0 ? `, from ${appliance.storedDataGb} GB of stored data` : ""}: ${(offerSource === "gate" ? [] : estimates).map((e) => e.explanation).join(" ")}`.trim()
  if (window !== undefined) {
    steps.push(
      new Plan.Window({
        id: `${id}/window`,
        title: `Maintenance window ${window.label}`,
        rules: R("PREP-4", "PREP-3"),
        target: id,
        estimatedSeconds: 0,
        handler: "core/window",
        idempotent: true,
        window,
        notes: [
          estimateNote,
          "The site is unavailable during the install: logged-in users are logged out and active sessions end."
        ]
      })
    )
    if (installMinutes > window.durationMinutes * 0.8)
      notes.push(
        `Warning (PREP-3): the installs are estimated at ${installMinutes} min, close to or beyond the ${window.durationMinutes} min of window "${window.label}": schedule a longer window.`
      )
  } else {
    steps.push(
      new Plan.ManualGate({
        id: `${id}/downtime`,
        title: "Confirm the site may go down now (no maintenance window scheduled)",
        rules: R("PREP-4", "PREP-3"),
        target: id,
        estimatedSeconds: 60,
        handler: handlers.confirmDowntime,
        params: { appliance: id, estimatedMinutes: installMinutes },
        idempotent: true,
        instructions: [
          "The site file schedules no maintenance window: upgrade preferably at low traffic, inside an announced window.",
          `The site will be unavailable for about ${installMinutes} min; logged-in users are logged out and sessions end.`,
          "Approve only if the downtime is agreed now."
        ],
        notes: [estimateNote]
      })
    )
    notes.push("No maintenance window is scheduled (PREP-4): the run asks a person to confirm the downtime.")
  }

  const seats = Site.licenceSummary(site)
  steps.push(
    new Plan.Check({
      id: `${id}/report-disconnects`,
      title: "Report who will be disconnected",
      rules: seats === undefined ? R("PREP-4") : R("PREP-4", "LICENSE-1"),
      target: id,
      estimatedSeconds: 5,
      handler: handlers.reportDisconnects,
      params: {
        appliance: id,
        ...(site.licences === undefined
          ? {}
          : {
              licensedTechnicians: site.licences.technicians,
              ...(site.licences.endpoints === undefined ? {} : { licensedEndpoints: site.licences.endpoints })
            })
      },
      idempotent: true,
      severity: "advisory",
      notes: [
        "Lists the logged-in users (names) and counts their sessions and connected clients: all are disconnected by the install.",
        ...(seats === undefined ? [] : [seats])
      ]
    })
  )

  // ---------------------------------------------------------------- 3. backup, certificates
  const backupStep = (stepId: string, title: string, rules: ReadonlyArray<Plan.RuleId>, label: string) =>
    new Plan.Action({
      id: stepId,
      title,
      rules,
      target: id,
      estimatedSeconds: 120,
      handler: handlers.downloadBackup,
      params: { appliance: id, directory: backupDir, passwordProtected, label },
      idempotent: true,
      notes: [
        passwordProtected
          ? "The backup is protected by the site's backup password: keep that password, without it the backup cannot be restored."
          : "Warning: no backup password is configured; the backup is not password-protected.",
        "The backup holds configuration and rights, not session recordings and not the local encryption key."
      ]
    })
  steps.push(
    backupStep(`${id}/backup`, "Download and verify a settings backup", R("PREP-1"), "before-upgrade"),
    new Plan.ManualGate({
      id: `${id}/export-certificates`,
      title: "Export the SSL certificates with their private keys",
      rules: R("PREP-2"),
      target: id,
      estimatedSeconds: 300,
      handler: handlers.confirmCertificateExport,
      params: { appliance: id, exportDirectory: certDir },
      idempotent: true,
      instructions: [
        `Open ${applianceUrl(appliance)} > Security > Certificates.`,
        "For each certificate in use (at least the default one, issued to the site name): select it, choose Export, include the private key and the chain, and set a passphrase.",
        `Save the file under ${certDir} and keep a copy off the appliance.`,
        "Record the file path and the certificate's SHA-256 fingerprint (shown on the certificate's details page)."
      ],
      evidence: [
        new Plan.EvidenceField({ name: "path", description: "path of the exported file (certificate + private key)" }),
        new Plan.EvidenceField({ name: "fingerprint", description: "SHA-256 fingerprint of the exported certificate" })
      ],
      notes: ["With this file the site can be rebuilt if the upgrade fails."]
    })
  )

  // ---------------------------------------------------------------- 4. installs
  const single6 =
    "SINGLE-6: if the automatic install fails (download error, package not offered), fall back to the manual method: plan again with method manual (download key + upload)."
  const waitFor = (p: {
    readonly packageId: string
    readonly kind: UpdatePackage.PackageKind
    readonly version: string
    readonly minutes: number
    readonly rules: ReadonlyArray<Plan.RuleId>
    readonly title: string
  }) =>
    new Plan.WaitFor({
      id: `${id}/await-${slug(p.packageId)}`,
      title: p.title,
      rules: p.rules,
      target: id,
      estimatedSeconds: p.minutes * 60,
      handler: handlers.awaitInstall,
      params: {
        appliance: id,
        package: p.packageId,
        kind: p.kind,
        version: p.version,
        fromVersion: installed.product.release,
        ...(options.current.build === undefined ? {} : { fromBuild: options.current.build })
      },
      idempotent: true,
      intervalSeconds: interval,
      // PREP-3: much longer with data; twice the estimate plus 15 min before giving up
      deadlineSeconds: p.minutes * 60 * 2 + 900,
      notes: [
        "Polls health until the appliance answers healthy with the expected version and build; an appliance that does not answer (rebooting) is normal meanwhile.",
        ...(p.kind === "base"
          ? [
              "PREP-6: if the base software update fails (the appliance reports an update failure), the run halts: do NOT reboot the appliance and contact vendor support."
            ]
          : [])
      ]
    })

  if (offerSource === "gate") {
    steps.push(
      new Plan.ManualGate({
        id: `${id}/install-to-target`,
        title: `Install the updates up to ${tgt.label}`,
        rules: method === "manual" ? R("SINGLE-3", "SINGLE-2", "SINGLE-4") : R("SINGLE-1", "SINGLE-2", "SINGLE-4"),
        target: id,
        estimatedSeconds: 300,
        handler: handlers.confirmInstallStarted,
        params: { appliance: id, package: tgt.label, kind: kinds[0]!, method, version: tgt.label, offered: "gate" },
        idempotent: false,
        instructions: [
          `Open ${applianceUrl(appliance)} > Updates and press "Check for updates".`,
          `Install the package the page offers ("Install this update"); when it is done, check again: packages that needed it are now unlocked. Repeat until the appliance runs ${tgt.label}.`,
          "Base software first, then the product updates that need it, right after a fresh backup (SINGLE-5).",
          "A downloaded update disappears from the list: install it right away (SINGLE-4).",
          single6
        ]
      }),
      waitFor({
        packageId: "target",
        kind: kinds[0]!,
        version: tgt.product?.release ?? tgt.label,
        minutes: installMinutes,
        rules: R("SINGLE-1", "VERIFY-1"),
        title: `Wait until the appliance reports ${tgt.label}`
      })
    )
  } else {
    if (method === "manual")
      steps.push(
        new Plan.ManualGate({
          id: `${id}/download-key`,
          title: "Fetch the packages with the appliance's download key",
          rules: R("SINGLE-3", "PREP-8"),
          target: id,
          estimatedSeconds: 1800,
          handler: handlers.confirmDownloadKey,
          params: { appliance: id, packages: order.map((s) => s.package.id) },
          idempotent: true,
          instructions: [
            `Open ${applianceUrl(appliance)} > Updates and generate the appliance's unique download key (it needs a correct clock, PREP-8).`,
            "From a system with Internet access, submit the key to the vendor's update server.",
            `Download: ${order.map((s) => pkgLabel(s.package)).join("; ")}.`,
            "Carry the files to the appliance's network on removable media."
          ],
          evidence: [new Plan.EvidenceField({ name: "files", description: "the package files fetched" })]
        })
      )
    order.forEach((s, n) => {
      const p = s.package
      const estimate = estimates[n]!
      if (s.freshBackupFirst) {
        const previous = order[n - 1]!.package
        steps.push(
          backupStep(
            `${id}/backup-after-${slug(previous.id)}`,
            `Fresh settings backup after ${previous.id}`,
            R("SINGLE-5", "PREP-1"),
            `after-${previous.id}`
          )
        )
      }
      const rules = [
        method === "manual" ? "SINGLE-3" : "SINGLE-1",
        ...(p.requires.length > 0 ? ["SINGLE-2"] : []),
        ...(method === "automatic" ? ["SINGLE-4"] : []),
        ...(s.immediatelyAfterPrevious ? ["SINGLE-5"] : []),
        ...(method === "automatic" ? ["SINGLE-6"] : [])
      ]
      const immediate = s.immediatelyAfterPrevious
        ? [
            `SINGLE-5: install this right after ${order[n - 1]!.package.id}: no failover, no other appliance, nothing else in between.`
          ]
        : []
      steps.push(
        new Plan.ManualGate({
          id: `${id}/install-${slug(p.id)}`,
          title: `Install ${pkgLabel(p)}`,
          rules: R(...rules),
          target: id,
          estimatedSeconds: 120,
          handler: handlers.confirmInstallStarted,
          params: {
            appliance: id,
            package: p.id,
            kind: p.kind,
            version: p.version,
            method,
            requires: [...p.requires]
          },
          idempotent: false,
          instructions:
            method === "automatic"
              ? [
                  `Open ${applianceUrl(appliance)} > Updates and press "Check for updates".`,
                  `In the list, find ${pkgLabel(p)} and press "Install this update" for it.`,
                  "It downloads and then installs: a downloaded update disappears from the list, so let it install right away (re-downloading needs vendor support, SINGLE-4).",
                  ...immediate,
                  `Approve as soon as the install has started; the run then waits for the appliance (about ${estimate.minutes} min).`,
                  single6
                ]
              : [
                  `Open ${applianceUrl(appliance)} > Updates > Manual installation.`,
                  `Upload the file of ${pkgLabel(p)} and press "Update software".`,
                  ...immediate,
                  `Approve as soon as the install has started; the run then waits for the appliance (about ${estimate.minutes} min).`
                ],
          notes: p.requires.length > 0 ? [`Requires ${p.requires.join(", ")} (installed just before).`] : []
        }),
        waitFor({
          packageId: p.id,
          kind: p.kind,
          version: p.version,
          minutes: estimate.minutes,
          rules:
            p.kind === "base"
              ? R("PREP-6", "PREP-3", method === "manual" ? "SINGLE-3" : "SINGLE-1")
              : R("PREP-3", method === "manual" ? "SINGLE-3" : "SINGLE-1"),
          title: `Wait for ${p.id} to be installed`
        })
      )
      if (p.kind === "base")
        steps.push(
          new Plan.ManualGate({
            id: `${id}/confirm-${slug(p.id)}`,
            title: `Confirm base software ${p.version}`,
            rules: R("VERIFY-1", "PREP-6"),
            target: id,
            estimatedSeconds: 60,
            handler: handlers.confirmBaseVersion,
            params: { appliance: id, package: p.id, baseVersion: p.version, productVersion: installed.product.release },
            idempotent: true,
            instructions: [
              `Open ${applianceUrl(appliance)} > Status > Basics and read the base software version: it must be ${p.version}.`,
              "No API reports the base software version: this confirmation is the check.",
              "If the update reports a failure: do NOT reboot the appliance; reject this gate and contact vendor support (PREP-6)."
            ],
            evidence: [new Plan.EvidenceField({ name: "baseVersion", description: "the base version shown" })]
          })
        )
    })
  }

  // ---------------------------------------------------------------- 5. verification
  steps.push(
    new Plan.Check({
      id: `${id}/verify`,
      title:
        finalProduct === undefined
          ? "Appliance healthy after the update"
          : `Appliance healthy on ${finalProduct.release}`,
      rules: R("VERIFY-1"),
      target: id,
      estimatedSeconds: 5,
      handler: handlers.verifyVersion,
      params: {
        appliance: id,
        version: finalProduct?.release ?? installed.product.release,
        ...(finalProduct?.build === undefined ? {} : { build: Version.formatBuild(finalProduct.build) })
      },
      idempotent: true,
      severity: "blocking"
    }),
    new Plan.ManualGate({
      id: `${id}/verify-console`,
      title: "Check the access console and open a session",
      rules: impact.touchesClients ? R("VERIFY-2", "CLIENT-2") : R("VERIFY-2"),
      target: id,
      estimatedSeconds: 600,
      handler: handlers.confirmConsoleCheck,
      params: { appliance: id, version: finalProduct?.release ?? installed.product.release },
      idempotent: true,
      instructions: [
        `Launch the access console against ${site.hostname}; it upgrades itself to the new version (CLIENT-2).`,
        `Open Help > About: the version must read ${finalProduct?.release ?? installed.product.release}.`,
        "Open a session to a remote computer (e.g. jump to a test endpoint) and check that screen and input work.",
        "Reject this gate if any of these fails."
      ],
      evidence: [
        new Plan.EvidenceField({ name: "consoleVersion", description: "the version shown in Help > About" }),
        new Plan.EvidenceField({ name: "session", description: "the endpoint a session was opened to" })
      ]
    })
  )

  // ---------------------------------------------------------------- 6. client follow-ups
  const waitJc = impact.followUps.find((f) => f.kind === "wait-for-jump-clients")
  if (waitJc !== undefined) {
    const maxPending = options.jumpClientWait?.maxPending ?? Number(waitJc.params["maxPending"] ?? 0)
    steps.push(
      new Plan.WaitFor({
        id: `${id}/jump-clients`,
        title: `Wait until at most ${maxPending} Jump Client(s) still need the update`,
        rules: R("CLIENT-10", "CLIENT-7", "CLIENT-6"),
        target: id,
        estimatedSeconds: Number(waitJc.params["deadlineSeconds"] ?? 900) / 1.5,
        handler: handlers.awaitJumpClients,
        params: { appliance: id, maxPending },
        idempotent: true,
        intervalSeconds: options.jumpClientWait?.intervalSeconds ?? Number(waitJc.params["intervalSeconds"] ?? 60),
        deadlineSeconds: options.jumpClientWait?.deadlineSeconds ?? Number(waitJc.params["deadlineSeconds"] ?? 900),
        notes: [
          waitJc.detail,
          "Counts the Jump Clients whose needs_update flag is set (configuration API), the only upgrade signal the vendor exposes."
        ]
      })
    )
  }
  if (site.clients.jumpoints > 0 && impact.touchesClients)
    steps.push(
      new Plan.Check({
        id: `${id}/jumpoints`,
        title: "Jumpoints reconnected",
        rules: R("CLIENT-9"),
        target: id,
        estimatedSeconds: 5,
        handler: handlers.reportJumpoints,
        params: { appliance: id, expected: site.clients.jumpoints },
        idempotent: true,
        severity: "advisory",
        notes: ["Jumpoints update themselves; this reports how many are connected again."]
      })
    )
  const ipFollowUp = impact.followUps.find((f) => f.kind === "verify-integration-client-source")
  for (const action of impact.manualActions.filter((a) => a.phase === "after-upgrade"))
    steps.push(
      new Plan.ManualGate({
        id: `${id}/client-${action.kind}`,
        title: action.title,
        rules: action.rules,
        target: id,
        estimatedSeconds: 900,
        handler: handlers.confirmTask,
        params: { appliance: id, task: action.kind, required: action.required, items: [...action.items] },
        idempotent: true,
        instructions: [
          ...action.instructions,
          ...(action.items.length > 0 ? [`Concerned: ${action.items.join("; ")}.`] : []),
          ...(action.kind === "integration-client-reinstall" && ipFollowUp !== undefined ? [ipFollowUp.detail] : [])
        ],
        evidence: [new Plan.EvidenceField({ name: "done", description: "what was done, where" })]
      })
    )

  // ---------------------------------------------------------------- notes
  notes.push(...impact.notes)
  for (const s of impact.selfUpdating)
    notes.push(
      `${s.rules.join(", ")}: ${s.client}${s.count === undefined ? "" : ` (${s.count})`} updates itself ${s.when}.`
    )
  notes.push(
    `Packages on offer: ${offerSource === "gate" ? "not listed; a person records them from /appliance > Updates" : offerSource === "site" ? "from the site file" : "given by the caller"}. Method: ${method} (${method === "manual" ? "SINGLE-3" : "SINGLE-1"}).`
  )

  const targetVersion = finalProduct?.release ?? tgt.label
  return Either.mapLeft(
    Schema.decodeUnknownEither(Plan.Plan)(
      Schema.encodeSync(Plan.Plan)(
        new Plan.Plan({
          id: options.planId ?? `single-${id}-${slug(targetVersion)}`,
          kind: "single",
          title: `Upgrade ${site.hostname} (${id}) to ${targetVersion}`,
          site: site.hostname,
          targetVersion,
          steps,
          notes
        })
      )
    ),
    (e) => new SingleUpgradeError({ reason: new BadVersion({ field: "plan", detail: e.message }) })
  )
}
