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
 *    (SINGLE-2); rehearsal found (the project's addition to PREP-5,
 *    advisory); gates: release notes read (PREP-10), for a new major release
 *    the rollout e-mail and a current maintenance plan (PREP-9), the update
 *    tested in a controlled environment (PREP-5); certificate stores
 *    (CLIENT-3); before-upgrade client tasks (CLIENT-5, CLIENT-6);
 * 2. the maintenance window (PREP-4, with the PREP-3 estimate and the
 *    low-traffic advice), then the
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
import * as CoreSteps from "./CoreSteps.js"
import * as MaintenanceWindow from "./MaintenanceWindow.js"
import * as Plan from "./Plan.js"
import * as Site from "./Site.js"
import * as StepDef from "./StepDef.js"
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
        /** Active Jump Clients (not lost) that may still need the update (default 0). */
        readonly maxActivePending?: number | undefined
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
  /** The appliance is upgraded as part of a failover pair (SINGLE-6: also consult the support portal). */
  readonly failoverPair?: boolean | undefined
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

/** Everything the sections are built from, decided once. */
interface Context {
  readonly site: Site.Site
  readonly options: Options
  readonly appliance: Site.Appliance
  readonly id: string
  readonly tgt: UpdatePackage.Target & { readonly label: string }
  readonly installed: UpdatePackage.Installed
  readonly offerSource: "options" | "site" | "gate"
  readonly order: ReadonlyArray<UpdatePackage.InstallStep>
  readonly kinds: ReadonlyArray<UpdatePackage.PackageKind>
  readonly impact: ClientUpdatePolicy.ClientImpact
  readonly storesCheck: ClientUpdatePolicy.ClientImpact["preChecks"][number] | undefined
  readonly method: Method
  readonly interval: number
  readonly backupDir: string
  readonly certDir: string
  readonly rehearsalDir: string
  readonly passwordProtected: boolean
  readonly finalProduct: Version.ProductVersion | undefined
  readonly estimates: ReadonlyArray<Site.InstallEstimate>
  readonly installMinutes: number
  readonly window: MaintenanceWindow.MaintenanceWindow | undefined
  /** PREP-9: the target is another major release (`X.Y`) than the one installed. */
  readonly newMajor: string | undefined
}

const prepare = (
  site: Site.Site,
  target: TargetInput,
  options: Options
): Either.Either<Context, SingleUpgradeError> => {
  // --- the appliance
  if (options.appliance === undefined && site.isPair)
    return err(new NotSingleAppliance({ appliances: site.appliances.map((a) => a.id) }))
  const appliance = options.appliance === undefined ? site.appliances[0]! : site.appliance(options.appliance)
  if (appliance === undefined)
    return err(new UnknownAppliance({ id: options.appliance!, known: site.appliances.map((a) => a.id) }))

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
  const offerSource: Context["offerSource"] =
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

  const backupDir = site.backup.directory
  const estimates = order.map((s) => Site.estimateInstallMinutes(appliance.storedDataGb, s.package))
  return Either.right({
    site,
    options,
    appliance,
    id: appliance.id,
    tgt,
    installed,
    offerSource,
    order,
    kinds,
    impact,
    storesCheck,
    method: options.method ?? "automatic",
    interval: options.pollIntervalSeconds ?? 30,
    backupDir,
    certDir: options.certificateDirectory ?? `${backupDir}/certificates`,
    rehearsalDir: options.rehearsalDirectory ?? `${backupDir}/rehearsals`,
    passwordProtected: site.backup.password !== undefined,
    finalProduct: order.reduce<Version.ProductVersion | undefined>(
      (v, s) => s.package.productVersion ?? v,
      offerSource === "gate" ? tgt.product : undefined
    ),
    estimates,
    installMinutes:
      offerSource === "gate"
        ? Site.estimateInstallMinutes(appliance.storedDataGb, { kind: "site", id: tgt.label }).minutes
        : estimates.reduce((n, e) => n + e.minutes, 0),
    newMajor: (() => {
      const final =
        order.reduce<Version.ProductVersion | undefined>(
          (v, s) => s.package.productVersion ?? v,
          offerSource === "gate" ? tgt.product : undefined
        ) ?? tgt.product
      return final !== undefined && final.majorRelease !== installed.product.majorRelease
        ? final.majorRelease
        : undefined
    })(),
    window:
      options.window ??
      Option.getOrUndefined(
        options.now === undefined
          ? Option.fromNullable(site.maintenanceWindows[0])
          : MaintenanceWindow.current(site.maintenanceWindows, options.now)
      )
  })
}

// ---------------------------------------------------------------------------
// sections
// ---------------------------------------------------------------------------

/** 1. Automated checks, then the before-upgrade gates (CLIENT-3, CLIENT-5, CLIENT-6). */
const checksSection = (c: Context): ReadonlyArray<Plan.Step> => {
  const { id, impact, order, tgt, installed, site, appliance } = c
  const steps: Array<Plan.Step> = [
    CoreSteps.CheckApiAccess.check(
      {
        id: `${id}/check-api`,
        title: "API reachable, permissions sufficient",
        rules: [],
        target: id,
        estimatedSeconds: 5,
        notes: [
          "The API account needs perm_backup (settings backup) and perm_command read_only or better; perm_configuration to follow the Jump Clients."
        ]
      },
      {
        appliance: id,
        require: {
          perm_backup: true,
          perm_command: "read_only",
          perm_configuration: impact.followUps.some((f) => f.kind === "wait-for-jump-clients")
        }
      }
    ),
    CoreSteps.CheckClockSkew.check(
      {
        id: `${id}/check-clock`,
        title: "Appliance clock is right",
        rules: ["PREP-8"],
        target: id,
        estimatedSeconds: 5,
        notes: [
          "A wrong clock breaks the download key and other features: fix the time and NTP under /appliance > Network > IP Configuration."
        ]
      },
      { appliance: id, maxSkewSeconds: c.options.maxClockSkewSeconds ?? 120 }
    ),
    CoreSteps.CheckVersionPath.check(
      {
        id: `${id}/check-version-path`,
        title: `Version path ${installed.product.release} → ${tgt.label}`,
        rules: ["SINGLE-2"],
        target: id,
        estimatedSeconds: 5,
        notes:
          c.offerSource === "gate"
            ? ["The packages on offer are not listed: the order is decided on the Updates page (prerequisites first)."]
            : [
                `Install order: ${order.map((s) => s.package.id).join(" → ")} (every prerequisite first; base software before the product updates that need it).`
              ]
      },
      {
        appliance: id,
        expectedVersion: installed.product.release,
        ...(c.options.current.build === undefined ? {} : { expectedBuild: c.options.current.build }),
        target: tgt.label,
        order: order.map((s) => s.package.id)
      }
    ),
    CoreSteps.CheckRehearsal.check(
      {
        id: `${id}/check-rehearsal`,
        title: "This plan was rehearsed on a simulator",
        rules: ["PREP-5"],
        target: id,
        estimatedSeconds: 1,
        notes: [
          "The project's addition to PREP-5: run this same plan against a simulator seeded from the site (sra-upgrade rehearse) and record the run. It tests the plan, not the vendor update: the next step asks for that."
        ]
      },
      { directory: c.rehearsalDir }
    ),
    CoreSteps.ConfirmTask.gate(
      {
        id: `${id}/release-notes`,
        title: `Read the release notes of ${tgt.label}`,
        rules: ["PREP-10"],
        target: id,
        estimatedSeconds: 600,
        instructions: [
          `PREP-10 (guide l.35): read the release notes (change log, « Journal des modifications ») of ${tgt.label} on the vendor's documentation site before upgrading${c.newMajor === undefined ? "" : `, and those of every release between ${installed.product.release} and it`}.`,
          "Look for new requirements (base software, browsers, operating systems of the clients), features removed or changed, known issues, and the supported upgrade path.",
          "Give the release notes read (version, link) and anything that changes this plan."
        ]
      },
      { appliance: id, task: "release-notes", required: true, items: [tgt.label] }
    ),
    ...(c.newMajor === undefined
      ? []
      : [
          CoreSteps.ConfirmTask.gate(
            {
              id: `${id}/release-rollout`,
              title: `${c.newMajor} is rolled out to this site and maintenance is current`,
              rules: ["PREP-9"],
              target: id,
              estimatedSeconds: 300,
              instructions: [
                `${c.newMajor} is a new major release (installed: ${installed.product.majorRelease}). The vendor rolls major releases out on a schedule to customers with a current maintenance contract, and announces by e-mail when the upgrade is ready (guide l.40): find that e-mail.`,
                "Check that the maintenance plan is current (it is renewed every year, l.455): technical support, which a failed base update (PREP-6), a lost download (SINGLE-4) or a failed automatic update may need, requires it.",
                `If ${c.newMajor} is not offered yet on /appliance > Updates, it has not been rolled out to you: wait for the vendor's e-mail. The manual method (SINGLE-6) is no way around it.`,
                "Give the date of the rollout e-mail and the maintenance plan's end date."
              ]
            },
            { appliance: id, task: "release-rollout", required: true, items: [c.newMajor] }
          )
        ]),
    CoreSteps.ConfirmTask.gate(
      {
        id: `${id}/update-tested`,
        title: `${tgt.label} was tested in a controlled environment`,
        rules: ["PREP-5"],
        target: id,
        estimatedSeconds: 60,
        instructions: [
          `PREP-5 (guide l.43): before production, install ${tgt.label} in a controlled environment — a lab or test appliance restored from a backup of this site — and check that it works (console, sessions, Jump Clients, integrations).`,
          "Strongly advised for failover pairs and for the asynchronous method.",
          "Give where and when it was tested (appliance, date, result). If it was not, say so: approving then means the risk is accepted by you."
        ]
      },
      { appliance: id, task: "update-tested", required: true, items: [tgt.label] }
    )
  ]

  if (c.offerSource === "gate")
    steps.push(
      CoreSteps.RecordOfferedUpdates.gate(
        {
          id: `${id}/record-updates`,
          title: "Record the updates on offer",
          rules: ["SINGLE-1", "SINGLE-2"],
          target: id,
          estimatedSeconds: 300,
          instructions: [
            `Open ${applianceUrl(appliance)} > Updates and press "Check for updates" (restricted networks: use the download key, SINGLE-3).`,
            "Write down every package listed: its name, version and whether it is base software or a product (site) update.",
            "Packages that need another one first are unlocked only once that one is installed (SINGLE-2): list them in the site file's updates: with requires: to get a precise plan next time."
          ]
        },
        { appliance: id, target: tgt.label }
      )
    )

  if (c.storesCheck !== undefined)
    steps.push(
      CoreSteps.ConfirmCertificateStores.gate(
        {
          id: `${id}/certificate-stores`,
          title: "Certificate stores are managed and current",
          rules: ["CLIENT-3"],
          target: id,
          estimatedSeconds: 600,
          instructions: [
            `The site file says: ${c.storesCheck.detail}`,
            "For every certificate store the endpoints use (e.g. the Windows machine store pushed by group policy): check that it is managed centrally and already holds the root and intermediate certificates the new site package presents.",
            `Compare with the chain served on https://${site.hostname}/ (browser: padlock > certificate > details).`,
            "Do not go on while any store is unmanaged or outdated: many existing Jump Clients would show offline after the upgrade."
          ],
          notes: ["Until the certificates package automates this check, a person confirms it (blocking)."]
        },
        {
          appliance: id,
          status: c.storesCheck.status,
          stores: (site.clients.certificateStores ?? []).map((s) => s.name)
        }
      )
    )

  // client work before the upgrade (CLIENT-5, CLIENT-6, CLIENT-8)
  for (const action of impact.manualActions.filter((a) => a.phase === "before-upgrade"))
    steps.push(
      CoreSteps.ConfirmTask.gate(
        {
          id: `${id}/client-${action.kind}`,
          title: action.title + (action.required ? "" : " (optional)"),
          rules: action.rules,
          target: id,
          estimatedSeconds: 600,
          instructions: action.instructions
        },
        { appliance: id, task: action.kind, required: action.required, items: [...action.items] }
      )
    )
  const concurrency = impact.followUps.find((f) => f.kind === "limit-concurrent-upgrades")
  if (concurrency !== undefined) {
    const pending = impact.followUps.find((f) => f.kind === "upgrade-pending-notice")
    const p = concurrency.params
    steps.push(
      CoreSteps.ConfirmTask.gate(
        {
          id: `${id}/jump-client-concurrency`,
          title: concurrency.title,
          rules: [...concurrency.rules, ...(pending?.rules ?? [])],
          target: id,
          estimatedSeconds: 120,
          instructions: [
            `Open https://${site.hostname}/login > Jump > Jump Clients.`,
            `Set "Maximum number of concurrent Jump Client upgrades" to at most ${String(p["recommended"])} and "Maximum bandwidth of concurrent Jump Client upgrades" to ${Number(p["recommendedBandwidthMiBps"]).toFixed(1)} MiB/s; save.`,
            concurrency.detail,
            ...(pending === undefined ? [] : [pending.detail])
          ]
        },
        {
          appliance: id,
          task: "limit-concurrent-upgrades",
          ...(typeof p["current"] === "number" ? { current: p["current"] } : {}),
          ...(typeof p["recommended"] === "number" ? { recommended: p["recommended"] } : {}),
          ...(typeof p["recommendedBandwidthMiBps"] === "number"
            ? { recommendedBandwidthMiBps: p["recommendedBandwidthMiBps"] }
            : {}),
          ...(typeof p["saturatesLink"] === "boolean" ? { saturatesLink: p["saturatesLink"] } : {})
        }
      )
    )
  }
  return steps
}

/** The PREP-3 explanation of the install estimate. */
const estimateNote = (c: Context) =>
  `PREP-3: installs estimated at ${c.installMinutes} min in total${c.appliance.storedDataGb > 0 ? `, from ${c.appliance.storedDataGb} GB of stored data` : ""}: ${(c.offerSource === "gate" ? [] : c.estimates).map((e) => e.explanation).join(" ")}`.trim()

/**
 * PREP-4: the guide's advice on when to upgrade, for every window.
 *
 * @since 0.3.0
 * @category models
 */
export const lowTrafficNote =
  "PREP-4: schedule the window at low traffic (nights, weekends: few users logged in, few sessions) and announce it to the users beforehand."

/** 2. The maintenance window (PREP-4, PREP-3), or a gate agreeing to the downtime now. */
const windowSection = (c: Context): ReadonlyArray<Plan.Step> => {
  const { id, window } = c
  if (window !== undefined)
    return [
      StepDef.window(
        {
          id: `${id}/window`,
          title: `Maintenance window ${window.label}`,
          rules: ["PREP-4", "PREP-3"],
          target: id,
          estimatedSeconds: 0,
          notes: [
            estimateNote(c),
            "The site is unavailable during the install: logged-in users are logged out and active sessions end.",
            lowTrafficNote
          ]
        },
        window
      )
    ]
  return [
    CoreSteps.ConfirmDowntime.gate(
      {
        id: `${id}/downtime`,
        title: "Confirm the site may go down now (no maintenance window scheduled)",
        rules: ["PREP-4", "PREP-3"],
        target: id,
        estimatedSeconds: 60,
        instructions: [
          "The site file schedules no maintenance window: upgrade preferably at low traffic, inside an announced window.",
          `The site will be unavailable for about ${c.installMinutes} min; logged-in users are logged out and sessions end.`,
          "Approve only if the downtime is agreed now."
        ],
        notes: [estimateNote(c)]
      },
      { appliance: id, estimatedMinutes: c.installMinutes }
    )
  ]
}

/** PREP-4, LICENSE-1: who is logged in right before the downtime. */
const disconnectsSection = (c: Context): ReadonlyArray<Plan.Step> => {
  const { id, site } = c
  const seats = Site.licenceSummary(site)
  return [
    CoreSteps.ReportDisconnects.check(
      {
        id: `${id}/report-disconnects`,
        title: "Report who will be disconnected",
        rules: seats === undefined ? ["PREP-4"] : ["PREP-4", "LICENSE-1"],
        target: id,
        estimatedSeconds: 5,
        notes: [
          "Lists the logged-in users (names) and counts their sessions and connected clients: all are disconnected by the install.",
          ...(seats === undefined ? [] : [seats])
        ]
      },
      {
        appliance: id,
        ...(site.licences === undefined
          ? {}
          : {
              licensedTechnicians: site.licences.technicians,
              ...(site.licences.endpoints === undefined ? {} : { licensedEndpoints: site.licences.endpoints })
            })
      }
    )
  ]
}

/** 3a. PREP-1: the settings backup, taken inside the window so it is fresh. */
const backupSection = (c: Context): ReadonlyArray<Plan.Step> => [
  CoreSteps.backupStep({
    id: `${c.id}/backup`,
    title: "Download and verify a settings backup",
    rules: ["PREP-1"],
    appliance: c.id,
    directory: c.backupDir,
    passwordProtected: c.passwordProtected,
    label: "before-upgrade"
  })
]

/** 3b. PREP-2: the certificates exported with their private keys. */
const certificateExportSection = (c: Context): ReadonlyArray<Plan.Step> => [
  CoreSteps.ConfirmCertificateExport.gate(
    {
      id: `${c.id}/export-certificates`,
      title: "Export the SSL certificates with their private keys",
      rules: ["PREP-2"],
      target: c.id,
      estimatedSeconds: 300,
      instructions: [
        `Open ${applianceUrl(c.appliance)} > Security > Certificates.`,
        "For each certificate in use (at least the default one, issued to the site name): select it, choose Export, include the private key and the chain, and set a passphrase.",
        `Save the file under ${c.certDir} and keep a copy off the appliance.`,
        "Record the file path and the certificate's SHA-256 fingerprint (shown on the certificate's details page)."
      ],
      notes: ["With this file the site can be rebuilt if the upgrade fails."]
    },
    { appliance: c.id, exportDirectory: c.certDir }
  )
]

const single6 =
  "SINGLE-6: if the automatic install fails (download error, package not offered), fall back to the manual method: plan again with the manual update method (sra-upgrade plan|run --update-method manual: download key + upload)."

/** SINGLE-4, as the guide says it after every manual procedure (l.113, l.215, l.305). */
const single4Manual =
  "SINGLE-4: once a package is downloaded with the download key it disappears from the list of available updates: install it right after downloading; downloading it again needs vendor support."

/** SINGLE-6, with the PREP-9 caveat when the target is a new major release. */
const single6For = (c: Context) =>
  (c.options.failoverPair === true
    ? `${single6} In a failover pair, also consult the vendor's support portal.`
    : single6) +
  (c.newMajor === undefined
    ? ""
    : ` Not when ${c.newMajor} is simply not offered yet: a new major release reaches the site on the vendor's rollout schedule (PREP-9); wait for the vendor's e-mail.`)

/** 4. The installs in order, each followed by its wait (SINGLE-1..5, PREP-3, PREP-6). */
const installsSection = (c: Context): ReadonlyArray<Plan.Step> => {
  const { id, appliance, method, order, tgt, installed, kinds } = c
  const steps: Array<Plan.Step> = []
  const awaitStep = (p: {
    readonly packageId: string
    readonly kind: UpdatePackage.PackageKind
    readonly version: string
    readonly minutes: number
    readonly rules: ReadonlyArray<string>
    readonly title: string
  }) =>
    CoreSteps.awaitInstallStep({
      id: `${id}/await-${slug(p.packageId)}`,
      title: p.title,
      rules: p.rules,
      minutes: p.minutes,
      intervalSeconds: c.interval,
      params: {
        appliance: id,
        package: p.packageId,
        kind: p.kind,
        version: p.version,
        fromVersion: installed.product.release,
        ...(c.options.current.build === undefined ? {} : { fromBuild: c.options.current.build })
      }
    })

  if (c.offerSource === "gate") {
    steps.push(
      CoreSteps.ConfirmInstallStarted.gate(
        {
          id: `${id}/install-to-target`,
          title: `Install the updates up to ${tgt.label}`,
          rules: method === "manual" ? ["SINGLE-3", "SINGLE-2", "SINGLE-4"] : ["SINGLE-1", "SINGLE-2", "SINGLE-4"],
          target: id,
          estimatedSeconds: 300,
          instructions: [
            `Open ${applianceUrl(appliance)} > Updates and press "Check for updates".`,
            `Install the package the page offers ("Install this update"); when it is done, check again: packages that needed it are now unlocked. Repeat until the appliance runs ${tgt.label}.`,
            "Base software first, then the product updates that need it, right after a fresh backup (SINGLE-5).",
            method === "manual"
              ? single4Manual
              : "A downloaded update disappears from the list: install it right away; re-downloading needs vendor support (SINGLE-4).",
            ...(method === "automatic" ? [single6For(c)] : [])
          ]
        },
        { appliance: id, package: tgt.label, kind: kinds[0]!, method, version: tgt.label, offered: "gate" }
      ),
      awaitStep({
        packageId: "target",
        kind: kinds[0]!,
        version: tgt.product?.release ?? tgt.label,
        minutes: c.installMinutes,
        rules: ["SINGLE-1", "VERIFY-1"],
        title: `Wait until the appliance reports ${tgt.label}`
      })
    )
    return steps
  }
  if (method === "manual")
    steps.push(
      CoreSteps.ConfirmDownloadKey.gate(
        {
          id: `${id}/download-key`,
          title: "Fetch the packages with the appliance's download key",
          rules: ["SINGLE-3", "SINGLE-4", "PREP-8"],
          target: id,
          estimatedSeconds: 1800,
          instructions: [
            `Open ${applianceUrl(appliance)} > Updates and generate the appliance's unique download key (it needs a correct clock, PREP-8).`,
            "From a system with Internet access, submit the key to the vendor's update server (btupdate.com).",
            `Download: ${order.map((s) => pkgLabel(s.package)).join("; ")}.`,
            "Carry the files to the appliance's network on removable media.",
            `${single4Manual} Download only inside the maintenance window you install in.`
          ]
        },
        { appliance: id, packages: order.map((s) => s.package.id) }
      )
    )
  order.forEach((s, n) => {
    const p = s.package
    const estimate = c.estimates[n]!
    if (s.freshBackupFirst) {
      const previous = order[n - 1]!.package
      steps.push(
        CoreSteps.backupStep({
          id: `${id}/backup-after-${slug(previous.id)}`,
          title: `Fresh settings backup after ${previous.id}`,
          rules: ["SINGLE-5", "PREP-1"],
          appliance: id,
          directory: c.backupDir,
          passwordProtected: c.passwordProtected,
          label: `after-${previous.id}`
        })
      )
    }
    const rules = [
      method === "manual" ? "SINGLE-3" : "SINGLE-1",
      ...(p.requires.length > 0 ? ["SINGLE-2"] : []),
      "SINGLE-4",
      ...(s.immediatelyAfterPrevious ? ["SINGLE-5"] : []),
      ...(method === "automatic" ? ["SINGLE-6"] : [])
    ]
    const immediate = s.immediatelyAfterPrevious
      ? [
          `SINGLE-5: install this right after ${order[n - 1]!.package.id}: no failover, no other appliance, nothing else in between.`
        ]
      : []
    steps.push(
      CoreSteps.ConfirmInstallStarted.gate(
        {
          id: `${id}/install-${slug(p.id)}`,
          title: `Install ${pkgLabel(p)}`,
          rules,
          target: id,
          estimatedSeconds: 120,
          instructions:
            method === "automatic"
              ? [
                  `Open ${applianceUrl(appliance)} > Updates and press "Check for updates".`,
                  `In the list, find ${pkgLabel(p)} and press "Install this update" for it.`,
                  "It downloads and then installs: a downloaded update disappears from the list, so let it install right away (re-downloading needs vendor support, SINGLE-4).",
                  ...immediate,
                  `Approve as soon as the install has started; the run then waits for the appliance (about ${estimate.minutes} min).`,
                  single6For(c)
                ]
              : [
                  `Open ${applianceUrl(appliance)} > Updates > Manual installation.`,
                  `Upload the file of ${pkgLabel(p)} and press "Update software".`,
                  single4Manual,
                  ...immediate,
                  `Approve as soon as the install has started; the run then waits for the appliance (about ${estimate.minutes} min).`
                ],
          notes: p.requires.length > 0 ? [`Requires ${p.requires.join(", ")} (installed just before).`] : []
        },
        { appliance: id, package: p.id, kind: p.kind, version: p.version, method, requires: [...p.requires] }
      ),
      awaitStep({
        packageId: p.id,
        kind: p.kind,
        version: p.version,
        minutes: estimate.minutes,
        rules:
          p.kind === "base"
            ? ["PREP-6", "PREP-3", method === "manual" ? "SINGLE-3" : "SINGLE-1"]
            : ["PREP-3", method === "manual" ? "SINGLE-3" : "SINGLE-1"],
        title: `Wait for ${p.id} to be installed`
      })
    )
    if (p.kind === "base")
      steps.push(
        CoreSteps.ConfirmBaseVersion.gate(
          {
            id: `${id}/confirm-${slug(p.id)}`,
            title: `Confirm base software ${p.version}`,
            rules: ["VERIFY-1", "PREP-6"],
            target: id,
            estimatedSeconds: 60,
            instructions: [
              `Open ${applianceUrl(appliance)} > Status > Basics and read the base software version: it must be ${p.version}.`,
              "No API reports the base software version: this confirmation is the check.",
              "If the update reports a failure: do NOT reboot the appliance; reject this gate and contact vendor support (PREP-6)."
            ]
          },
          { appliance: id, package: p.id, baseVersion: p.version, productVersion: installed.product.release }
        )
      )
  })
  return steps
}

/** 5a. VERIFY-1: the appliance is healthy on the target version. */
const verifySection = (c: Context): ReadonlyArray<Plan.Step> => [
  CoreSteps.verifyVersionStep({
    id: `${c.id}/verify`,
    title:
      c.finalProduct === undefined
        ? "Appliance healthy after the update"
        : `Appliance healthy on ${c.finalProduct.release}`,
    appliance: c.id,
    version: c.finalProduct?.release ?? c.installed.product.release,
    build: c.finalProduct?.build === undefined ? undefined : Version.formatBuild(c.finalProduct.build)
  })
]

/** 5b. VERIFY-2 (CLIENT-2): a person checks the access console and opens a session. */
const consoleSection = (c: Context): ReadonlyArray<Plan.Step> => {
  const version = c.finalProduct?.release ?? c.installed.product.release
  return [
    CoreSteps.ConfirmConsoleCheck.gate(
      {
        id: `${c.id}/verify-console`,
        title: "Check the access console and open a session",
        rules: c.impact.touchesClients ? ["VERIFY-2", "CLIENT-2"] : ["VERIFY-2"],
        target: c.id,
        estimatedSeconds: 600,
        instructions: [
          `Launch the access console against ${c.site.hostname}; it upgrades itself to the new version (CLIENT-2).`,
          `Open Help > About: the version must read ${version}.`,
          "Open a session to a remote computer (e.g. jump to a test endpoint) and check that screen and input work.",
          "Reject this gate if any of these fails."
        ]
      },
      { appliance: c.id, version }
    )
  ]
}

/** 6. Client follow-ups (CLIENT-4, 9, 10, 12, 13). */
const clientsSection = (c: Context): ReadonlyArray<Plan.Step> => {
  const { id, impact, site, options } = c
  const steps: Array<Plan.Step> = []
  const waitJc = impact.followUps.find((f) => f.kind === "wait-for-jump-clients")
  if (waitJc !== undefined) {
    const maxPending = options.jumpClientWait?.maxPending ?? Number(waitJc.params["maxPending"] ?? 0)
    const maxActivePending = options.jumpClientWait?.maxActivePending ?? Number(waitJc.params["maxActivePending"] ?? 0)
    steps.push(
      CoreSteps.AwaitJumpClients.wait(
        {
          id: `${id}/jump-clients`,
          title: `Wait for the active Jump Clients: ${maxActivePending === 0 ? "none of them" : `at most ${maxActivePending} of them`}, and at most ${maxPending} in all (the passive ones), may still need the update`,
          rules: ["CLIENT-10", "CLIENT-7", "CLIENT-6"],
          target: id,
          estimatedSeconds: Number(waitJc.params["deadlineSeconds"] ?? 900) / 1.5,
          intervalSeconds: options.jumpClientWait?.intervalSeconds ?? Number(waitJc.params["intervalSeconds"] ?? 60),
          deadlineSeconds: options.jumpClientWait?.deadlineSeconds ?? Number(waitJc.params["deadlineSeconds"] ?? 900),
          notes: [
            waitJc.detail,
            "Counts the Jump Clients whose needs_update flag is set (configuration API), the only upgrade signal the vendor exposes."
          ]
        },
        { appliance: id, maxPending, maxActivePending }
      )
    )
  }
  if (site.clients.jumpoints > 0 && impact.touchesClients)
    steps.push(
      CoreSteps.ReportJumpoints.check(
        {
          id: `${id}/jumpoints`,
          title: "Jumpoints reconnected",
          rules: ["CLIENT-9"],
          target: id,
          estimatedSeconds: 5,
          notes: ["Jumpoints update themselves; this reports how many are connected again."]
        },
        { appliance: id, expected: site.clients.jumpoints }
      )
    )
  const ipFollowUp = impact.followUps.find((f) => f.kind === "verify-integration-client-source")
  for (const action of impact.manualActions.filter((a) => a.phase === "after-upgrade"))
    steps.push(
      CoreSteps.ConfirmTask.gate(
        {
          id: `${id}/client-${action.kind}`,
          title: action.title,
          rules: action.rules,
          target: id,
          estimatedSeconds: 900,
          instructions: [
            ...action.instructions,
            ...(action.items.length > 0 ? [`Concerned: ${action.items.join("; ")}.`] : []),
            ...(action.kind === "integration-client-reinstall" && ipFollowUp !== undefined ? [ipFollowUp.detail] : [])
          ]
        },
        { appliance: id, task: action.kind, required: true, items: [...action.items] }
      )
    )
  return steps
}

/** Plan notes: client impact, self-updating clients, where the packages come from, the window warning. */
const notesOf = (c: Context): ReadonlyArray<string> => {
  const notes: Array<string> = [...c.impact.notes]
  for (const s of c.impact.selfUpdating)
    notes.push(
      `${s.rules.join(", ")}: ${s.client}${s.count === undefined ? "" : ` (${s.count})`} updates itself ${s.when}.`
    )
  notes.push(
    `Packages on offer: ${c.offerSource === "gate" ? "not listed; a person records them from /appliance > Updates" : c.offerSource === "site" ? "from the site file" : "given by the caller"}. Method: ${c.method} (${c.method === "manual" ? "SINGLE-3" : "SINGLE-1"}).`
  )
  return notes
}

/** PREP-3 / PREP-4: a warning when the installs do not fit the window, or when there is no window. */
const windowWarnings = (c: Context): ReadonlyArray<string> => {
  const w = c.window
  if (w === undefined)
    return ["No maintenance window is scheduled (PREP-4): the run asks a person to confirm the downtime."]
  return c.installMinutes > w.durationMinutes * 0.8
    ? [
        `Warning (PREP-3): the installs are estimated at ${c.installMinutes} min, close to or beyond the ${w.durationMinutes} min of window "${w.label}": schedule a longer window.`
      ]
    : []
}

/**
 * The named sections of a single-appliance upgrade, in plan order. A pair or
 * migration planner picks the sections it needs; `planSingleUpgrade` joins
 * them all.
 *
 * @since 0.3.0
 * @category models
 */
export interface Sections {
  /** The appliance's id in the site file. */
  readonly appliance: string
  /** The product version the plan ends on (or the target's label). */
  readonly targetVersion: string
  /** Its build, when the packages name it (for a version read-back). */
  readonly targetBuild: string | undefined
  readonly method: Method
  /** PREP-3: the installs' estimated minutes in total. */
  readonly installMinutes: number
  /** PREP-3: how the estimate was made (the note of the window step). */
  readonly estimateNote: string
  /** The window the plan installs in, if any. */
  readonly window: MaintenanceWindow.MaintenanceWindow | undefined
  /** API, clock, version path, rehearsal checks; the before-upgrade gates (CLIENT-3, 5, 6). */
  readonly checks: ReadonlyArray<Plan.Step>
  /** The maintenance-window step, or the gate agreeing to the downtime now (PREP-3, PREP-4). */
  readonly windowStep: ReadonlyArray<Plan.Step>
  /** PREP-4, LICENSE-1: who is logged in and will be disconnected. */
  readonly disconnects: ReadonlyArray<Plan.Step>
  /** PREP-1: the settings backup. */
  readonly backup: ReadonlyArray<Plan.Step>
  /** PREP-2: the certificate export. */
  readonly certificateExport: ReadonlyArray<Plan.Step>
  /** SINGLE-*: the installs and their waits, base-version confirmations, fresh backups. */
  readonly installs: ReadonlyArray<Plan.Step>
  /** VERIFY-1: the version read back. */
  readonly verify: ReadonlyArray<Plan.Step>
  /** VERIFY-2: the console check. */
  readonly console: ReadonlyArray<Plan.Step>
  /** CLIENT-*: the follow-ups after the upgrade. */
  readonly clients: ReadonlyArray<Plan.Step>
  /** Plan-level notes: client impact, self-updating clients, method. */
  readonly notes: ReadonlyArray<string>
  /** PREP-3 / PREP-4 warnings about the window. */
  readonly warnings: ReadonlyArray<string>
}

/**
 * Build the sections of the upgrade of one appliance to `target`. Fails with
 * a {@link SingleUpgradeError} naming what is missing (e.g. the prerequisite
 * package by name, SINGLE-2).
 *
 * @since 0.3.0
 * @category constructors
 */
export const sections = (
  site: Site.Site,
  target: TargetInput,
  options: Options
): Either.Either<Sections, SingleUpgradeError> =>
  Either.map(prepare(site, target, options), (c) => ({
    appliance: c.id,
    targetVersion: c.finalProduct?.release ?? c.tgt.label,
    targetBuild: c.finalProduct?.build === undefined ? undefined : Version.formatBuild(c.finalProduct.build),
    method: c.method,
    installMinutes: c.installMinutes,
    estimateNote: estimateNote(c),
    window: c.window,
    checks: checksSection(c),
    windowStep: windowSection(c),
    disconnects: disconnectsSection(c),
    backup: backupSection(c),
    certificateExport: certificateExportSection(c),
    installs: installsSection(c),
    verify: verifySection(c),
    console: consoleSection(c),
    clients: clientsSection(c),
    notes: notesOf(c),
    warnings: windowWarnings(c)
  }))

/**
 * Plan the upgrade of one appliance to `target`: every section, in order.
 * Fails with a {@link SingleUpgradeError} naming what is missing (e.g. the
 * prerequisite package by name, SINGLE-2).
 *
 * @since 0.1.0
 * @category constructors
 */
export const planSingleUpgrade = (
  site: Site.Site,
  target: TargetInput,
  options: Options
): Either.Either<Plan.Plan, SingleUpgradeError> =>
  Either.map(sections(site, target, options), (s) =>
    Plan.make({
      id: options.planId ?? `single-${s.appliance}-${slug(s.targetVersion)}`,
      kind: "single",
      title: `Upgrade ${site.hostname} (${s.appliance}) to ${s.targetVersion}`,
      site: site.hostname,
      targetVersion: s.targetVersion,
      steps: [
        ...s.checks,
        ...s.windowStep,
        ...s.disconnects,
        ...s.backup,
        ...s.certificateExport,
        ...s.installs,
        ...s.verify,
        ...s.console,
        ...s.clients
      ],
      notes: [...s.warnings, ...s.notes]
    })
  )
