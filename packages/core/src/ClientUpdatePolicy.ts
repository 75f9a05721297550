/**
 * What a site upgrade does to the client software (CLIENT-1 … CLIENT-13):
 * which clients update themselves, which need a person, which pre-checks
 * block the upgrade and which follow-up tasks the plan must carry.
 *
 * A pure function of the update kinds in the plan and a description of the
 * client estate (the `clients:` section of the site file).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as JumpClientRollout from "./JumpClientRollout.js"
import * as Plan from "./Plan.js"
import type { PackageKind } from "./UpdatePackage.js"

const Count = Schema.Number.pipe(Schema.int(), Schema.nonNegative())

/**
 * Access consoles installed on technicians' machines.
 *
 * @since 0.1.0
 * @category models
 */
export class AccessConsoles extends Schema.Class<AccessConsoles>("AccessConsoles")({
  /** Consoles are installed (they update themselves at next launch, CLIENT-2). */
  installed: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  /** Consoles deployed by MSI on locked-down machines (CLIENT-4). */
  msiLockedDown: Schema.optionalWith(Count, { default: () => 0 })
}) {}

/**
 * An integration client (e.g. the reporting/recording archive client).
 *
 * @since 0.1.0
 * @category models
 */
export class IntegrationClient extends Schema.Class<IntegrationClient>("IntegrationClient")({
  name: Schema.String.pipe(Schema.minLength(1)),
  /** How it reaches the site: by `hostname` (follows DNS) or by `ip` (pinned to one appliance, SWITCH-4). */
  connectsBy: Schema.Literal("hostname", "ip"),
  address: Schema.optional(Schema.String)
}) {}

/**
 * A certificate store on endpoints that trusts the site (CLIENT-3).
 *
 * @since 0.1.0
 * @category models
 */
export class CertificateStore extends Schema.Class<CertificateStore>("CertificateStore")({
  name: Schema.String.pipe(Schema.minLength(1)),
  /** Managed centrally (e.g. by group policy), so new roots reach every endpoint. */
  managed: Schema.Boolean,
  /** Holds the certificates the new site package will present. */
  current: Schema.Boolean
}) {}

/**
 * The client estate of a site.
 *
 * @since 0.1.0
 * @category models
 */
export class ClientEstate extends Schema.Class<ClientEstate>("ClientEstate")({
  accessConsoles: Schema.optionalWith(AccessConsoles, { default: () => new AccessConsoles({}) }),
  /** The extractable access console / Jump Client feature is enabled for the site (CLIENT-5). */
  extractableClients: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** Where the MSI of the current version is archived (CLIENT-5: only it can uninstall old installs). */
  oldMsiArchive: Schema.optional(Schema.String),
  /** The deployed Jump Client fleet and the rollout settings (CLIENT-6, 7, 10). */
  jumpClients: Schema.optional(JumpClientRollout.RolloutInput),
  /** Deployed Jumpoints (CLIENT-9). */
  jumpoints: Schema.optionalWith(Count, { default: () => 0 }),
  /** Deployed connection agents (CLIENT-11). */
  connectionAgents: Schema.optionalWith(Count, { default: () => 0 }),
  /** CLIENT-12. */
  integrationClients: Schema.optionalWith(Schema.Array(IntegrationClient), { default: () => [] }),
  /** Installer packages generated earlier, by name (CLIENT-13). */
  generatedInstallers: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
  /** Certificate stores of the endpoints; absent = not described (CLIENT-3 then needs a person). */
  certificateStores: Schema.optional(Schema.Array(CertificateStore))
}) {}

/**
 * Kinds of client software.
 *
 * @since 0.1.0
 * @category models
 */
export const ClientType = Schema.Literal(
  "access-console",
  "jump-client",
  "jumpoint",
  "connection-agent",
  "integration-client"
)

/**
 * @since 0.1.0
 * @category models
 */
export type ClientType = typeof ClientType.Type

const Rules = Schema.Array(Plan.RuleId)

/**
 * Clients that update themselves, and when.
 *
 * @since 0.1.0
 * @category models
 */
export class SelfUpdate extends Schema.Class<SelfUpdate>("SelfUpdate")({
  client: ClientType,
  count: Schema.optional(Count),
  when: Schema.String,
  rules: Rules
}) {}

/**
 * Work on clients that a person must do.
 *
 * @since 0.1.0
 * @category models
 */
export const ManualActionKind = Schema.Literal(
  "integration-client-reinstall",
  "installer-regeneration",
  "msi-redeploy",
  "keep-old-msi",
  "pre-stage-msi"
)

/**
 * @since 0.1.0
 * @category models
 */
export class ManualAction extends Schema.Class<ManualAction>("ManualAction")({
  kind: ManualActionKind,
  phase: Schema.Literal("before-upgrade", "after-upgrade"),
  /** Optional work (pre-staging) versus required work. */
  required: Schema.Boolean,
  title: Schema.String,
  instructions: Schema.Array(Schema.String),
  /** The things concerned (integration clients, installers …). */
  items: Schema.Array(Schema.String),
  rules: Rules
}) {}

/**
 * A pre-check the plan must run before the upgrade.
 *
 * @since 0.1.0
 * @category models
 */
export class PreCheck extends Schema.Class<PreCheck>("PreCheck")({
  id: Schema.String,
  title: Schema.String,
  severity: Schema.Literal("blocking", "advisory"),
  /** What the description already tells: `fail` blocks now, `unverified` needs a person or a probe. */
  status: Schema.Literal("pass", "fail", "unverified"),
  detail: Schema.String,
  rules: Rules
}) {}

/**
 * A task the plan must carry after the site upgrade.
 *
 * @since 0.1.0
 * @category models
 */
export const FollowUpKind = Schema.Literal(
  "limit-concurrent-upgrades",
  "wait-for-jump-clients",
  "upgrade-pending-notice",
  "verify-integration-client-source"
)

/**
 * @since 0.1.0
 * @category models
 */
export class FollowUp extends Schema.Class<FollowUp>("FollowUp")({
  kind: FollowUpKind,
  title: Schema.String,
  detail: Schema.String,
  params: Plan.Params,
  rules: Rules
}) {}

/**
 * The client impact of a plan.
 *
 * @since 0.1.0
 * @category models
 */
export class ClientImpact extends Schema.Class<ClientImpact>("ClientImpact")({
  /** CLIENT-1: whether any update in the plan touches client software. */
  touchesClients: Schema.Boolean,
  selfUpdating: Schema.Array(SelfUpdate),
  manualActions: Schema.Array(ManualAction),
  preChecks: Schema.Array(PreCheck),
  followUps: Schema.Array(FollowUp),
  notes: Schema.Array(Schema.String)
}) {}

const rules = (...ids: ReadonlyArray<string>) => ids.map((id) => Plan.RuleId.make(id))

/**
 * CLIENT-1: only site (product) updates touch client software; base
 * software updates and licence add-ons do not.
 *
 * @since 0.1.0
 * @category combinators
 */
export const touchesClients = (kinds: ReadonlyArray<PackageKind>): boolean => kinds.includes("site")

/**
 * The client impact of a plan whose updates are of `kinds`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const impact = (kinds: ReadonlyArray<PackageKind>, estate: ClientEstate): ClientImpact => {
  if (!touchesClients(kinds))
    return new ClientImpact({
      touchesClients: false,
      selfUpdating: [],
      manualActions: [],
      preChecks: [],
      followUps: [],
      notes: ["CLIENT-1: this plan installs only base software and/or licence add-ons; client software is not touched."]
    })

  const selfUpdating: Array<SelfUpdate> = []
  const manualActions: Array<ManualAction> = []
  const preChecks: Array<PreCheck> = []
  const followUps: Array<FollowUp> = []
  const notes: Array<string> = []

  // CLIENT-3: certificate stores managed and current (blocking)
  const stores = estate.certificateStores
  if (stores === undefined)
    preChecks.push(
      new PreCheck({
        id: "client-certificate-stores",
        title: "Certificate stores are managed and current",
        severity: "blocking",
        status: "unverified",
        detail:
          "The site file does not describe the endpoints' certificate stores. Confirm that every store is centrally managed and holds the certificates of the new site package, or many Jump Clients may show offline after the upgrade.",
        rules: rules("CLIENT-3")
      })
    )
  else {
    const bad = stores.filter((s) => !s.managed || !s.current)
    preChecks.push(
      new PreCheck({
        id: "client-certificate-stores",
        title: "Certificate stores are managed and current",
        severity: "blocking",
        status: bad.length === 0 ? "pass" : "fail",
        detail:
          bad.length === 0
            ? `All ${stores.length} certificate store(s) are managed and current.`
            : `Not managed or not current: ${bad.map((s) => `${s.name} (${[!s.managed && "unmanaged", !s.current && "outdated"].filter(Boolean).join(", ")})`).join("; ")}. Bring them under management and update them before moving the site package to a new version, or many Jump Clients may show offline.`,
        rules: rules("CLIENT-3")
      })
    )
  }

  // CLIENT-2: access consoles update themselves at next launch
  if (estate.accessConsoles.installed)
    selfUpdating.push(
      new SelfUpdate({
        client: "access-console",
        when: "at its next launch after the site upgrade (check Help > About)",
        rules: rules("CLIENT-2")
      })
    )

  // CLIENT-5: extractable clients: pre-stage the new MSI, keep the old one
  if (estate.extractableClients) {
    manualActions.push(
      new ManualAction({
        kind: "keep-old-msi",
        phase: "before-upgrade",
        required: true,
        title: "Archive the current MSI installer",
        instructions: [
          "Download the MSI installer of the CURRENT version (access console and Jump Client) and store it safely" +
            (estate.oldMsiArchive === undefined ? "." : ` (planned location: ${estate.oldMsiArchive}).`),
          "Only the old MSI can uninstall obsolete installs later; the new MSI cannot."
        ],
        items: estate.oldMsiArchive === undefined ? [] : [estate.oldMsiArchive],
        rules: rules("CLIENT-5")
      }),
      new ManualAction({
        kind: "pre-stage-msi",
        phase: "before-upgrade",
        required: false,
        title: "Optionally pre-stage the new MSI on endpoints",
        instructions: [
          "Check for updates (automatic or download key) and download the new MSI before upgrading the server.",
          "Deploy it over the existing installs (no uninstall needed: it replaces them in place).",
          "Pre-staged clients come online only once the server runs the new version."
        ],
        items: [],
        rules: rules("CLIENT-5")
      })
    )
  }

  // CLIENT-4: MSI-deployed consoles on locked-down machines
  if (estate.accessConsoles.msiLockedDown > 0)
    manualActions.push(
      new ManualAction({
        kind: "msi-redeploy",
        phase: "after-upgrade",
        required: true,
        title: `Redeploy the access console MSI on ${estate.accessConsoles.msiLockedDown} locked-down machine(s)`,
        instructions: [
          "Locked-down machines may not let the console update itself.",
          "After the upgrade, download the new access console MSI and redeploy it through your software distribution.",
          "Check the console version on one machine (Help > About)."
        ],
        items: [],
        rules: rules("CLIENT-4")
      })
    )

  // CLIENT-6, 7, 8, 10: Jump Clients
  const fleet = estate.jumpClients
  if (fleet !== undefined && fleet.active + fleet.passive > 0) {
    const est = JumpClientRollout.estimate(fleet)
    selfUpdating.push(
      new SelfUpdate({
        client: "jump-client",
        count: fleet.active + fleet.passive,
        when: `queued at first check-in after the server upgrade: ${fleet.active} active right away, ${fleet.passive} passive within ${fleet.passiveCheckInHours} h`,
        rules: rules("CLIENT-6", "CLIENT-7")
      })
    )
    followUps.push(
      new FollowUp({
        kind: "limit-concurrent-upgrades",
        title: `Set "Maximum number of concurrent Jump Client upgrades" to at most ${est.recommendedConcurrency}`,
        detail: `${est.explanation.join(" ")} The setting is under /login > Jump > Jump Clients; set it before the upgrade.`,
        params: {
          current: fleet.maxConcurrent,
          recommended: est.recommendedConcurrency,
          recommendedBandwidthMiBps: est.recommendedBandwidthMiBps,
          saturatesLink: est.saturatesLink
        },
        rules: rules("CLIENT-6")
      }),
      new FollowUp({
        kind: "upgrade-pending-notice",
        title: 'Jump Clients not yet updated show "Upgrade pending"',
        detail:
          "Until updated, a Jump Client can be edited but not jumped to; a jump attempt moves it to the front of the upgrade queue. Tell technicians before the window.",
        params: {},
        rules: rules("CLIENT-8")
      })
    )
    const deadlineSeconds = JumpClientRollout.waitDeadlineSeconds(fleet)
    followUps.push(
      new FollowUp({
        kind: "wait-for-jump-clients",
        title: "Wait for the Jump Clients to reconnect before further upgrade steps",
        detail: `Poll the Jump Client list until no active client needs an update, or ${Math.ceil(deadlineSeconds / 60)} min have passed (the active clients' estimate with a margin). CLIENT-10 asks for all Jump Clients: the ${fleet.passive} passive one(s) check in at least every ${fleet.passiveCheckInHours} h, so allow up to ${(est.passiveSeconds / 3600).toFixed(1)} h after the upgrade before any further upgrade step (another appliance, another version).`,
        params: {
          maxPending: fleet.passive,
          maxActivePending: 0,
          deadlineSeconds,
          intervalSeconds: 60,
          passiveFinishSeconds: Math.ceil(est.passiveSeconds)
        },
        rules: rules("CLIENT-10")
      })
    )
  }

  // CLIENT-9: Jumpoints
  if (estate.jumpoints > 0)
    selfUpdating.push(
      new SelfUpdate({
        client: "jumpoint",
        count: estate.jumpoints,
        when: "after the site upgrade, automatically",
        rules: rules("CLIENT-9")
      })
    )

  // CLIENT-11: connection agents
  if (estate.connectionAgents > 0)
    selfUpdating.push(
      new SelfUpdate({
        client: "connection-agent",
        count: estate.connectionAgents,
        when: "after the site upgrade, automatically",
        rules: rules("CLIENT-11")
      })
    )

  // CLIENT-12: integration clients need a manual reinstall
  if (estate.integrationClients.length > 0) {
    manualActions.push(
      new ManualAction({
        kind: "integration-client-reinstall",
        phase: "after-upgrade",
        required: true,
        title: `Reinstall ${estate.integrationClients.length} integration client(s)`,
        instructions: [
          "Integration clients do not update themselves.",
          "Download the matching installer from the vendor's download portal and reinstall each one.",
          "Check that each pulls data from the site again."
        ],
        items: estate.integrationClients.map((c) => c.name),
        rules: rules("CLIENT-12")
      })
    )
    const byIp = estate.integrationClients.filter((c) => c.connectsBy === "ip")
    if (byIp.length > 0)
      followUps.push(
        new FollowUp({
          kind: "verify-integration-client-source",
          title: "Check integration clients configured by IP address",
          detail: `${byIp.map((c) => c.name + (c.address === undefined ? "" : ` (${c.address})`)).join(", ")} reach the site by IP: if the primary changes, point them at the new primary or use the hostname.`,
          params: { clients: byIp.map((c) => c.name) },
          rules: rules("CLIENT-12", "SWITCH-4")
        })
      )
  }

  // CLIENT-13: installers generated earlier are obsolete
  if (estate.generatedInstallers.length > 0)
    manualActions.push(
      new ManualAction({
        kind: "installer-regeneration",
        phase: "after-upgrade",
        required: true,
        title: `Regenerate ${estate.generatedInstallers.length} installer package(s)`,
        instructions: [
          "Installer packages generated before the upgrade are obsolete once the server is upgraded.",
          "Generate them again (Jump Clients: /login > Jump > Jump Client Mass Deployment; consoles: My Account) and replace the copies in your distribution shares.",
          "Clients already installed update themselves; only the installer files need replacing."
        ],
        items: [...estate.generatedInstallers],
        rules: rules("CLIENT-13")
      })
    )
  else
    notes.push(
      "CLIENT-13: no generated installer packages are listed; any made before the upgrade are obsolete afterwards and must be regenerated."
    )

  return new ClientImpact({ touchesClients: true, selfUpdating, manualActions, preChecks, followUps, notes })
}

/**
 * Every rule ID the impact carries, for traceability.
 *
 * @since 0.1.0
 * @category combinators
 */
export const rulesOf = (i: ClientImpact): ReadonlyArray<string> => {
  const all = [
    ...i.selfUpdating.flatMap((x) => x.rules),
    ...i.manualActions.flatMap((x) => x.rules),
    ...i.preChecks.flatMap((x) => x.rules),
    ...i.followUps.flatMap((x) => x.rules)
  ]
  return [...new Set(all)].sort()
}
