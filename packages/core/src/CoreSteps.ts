/**
 * The step definitions of a single-appliance upgrade (`core/…`), used by
 * `SingleUpgrade` and reused by the failover and migration planners;
 * `CoreHandlers` implements them over the `ApplianceApi` port.
 *
 * Also the one builder of each step the other planners share: a settings
 * backup (`backupStep`), the wait for an install (`awaitInstallStep`) and the
 * version read-back (`verifyVersionStep`).
 *
 * @since 0.3.0
 */
import * as Schema from "effect/Schema"
import * as GateEvidence from "./GateEvidence.js"
import type * as Plan from "./Plan.js"
import * as StepDef from "./StepDef.js"
import { PackageKind } from "./UpdatePackage.js"

const Appliance = Schema.String.pipe(Schema.minLength(1))

/**
 * The API account answers and holds the permissions the plan needs.
 *
 * @since 0.3.0
 * @category definitions
 */
export const CheckApiAccess = StepDef.check("core/check-api-access", {
  params: Schema.Struct({
    appliance: Appliance,
    require: Schema.optional(
      Schema.Struct({
        perm_backup: Schema.optional(Schema.Boolean),
        perm_command: Schema.optional(Schema.Literal("read_only", "full_access")),
        perm_configuration: Schema.optional(Schema.Boolean)
      })
    )
  })
})

/**
 * PREP-8: the appliance clock is within `maxSkewSeconds` (default 120) of ours.
 *
 * @since 0.3.0
 * @category definitions
 */
export const CheckClockSkew = StepDef.check("core/check-clock-skew", {
  params: Schema.Struct({
    appliance: Appliance,
    maxSkewSeconds: Schema.optional(Schema.Number.pipe(Schema.positive()))
  })
})

/**
 * SINGLE-2: the appliance runs the version the plan starts from.
 *
 * @since 0.3.0
 * @category definitions
 */
export const CheckVersionPath = StepDef.check("core/check-version-path", {
  params: Schema.Struct({
    appliance: Appliance,
    expectedVersion: Schema.String,
    expectedBuild: Schema.optional(Schema.String),
    target: Schema.optional(Schema.String),
    order: Schema.optional(Schema.Array(Schema.String))
  })
})

/**
 * PREP-5 (our extra): this plan was rehearsed against a simulator.
 *
 * @since 0.3.0
 * @category definitions
 */
export const CheckRehearsal = StepDef.check("core/check-rehearsal", {
  params: Schema.Struct({ directory: Schema.String }),
  severity: "advisory"
})

/**
 * CLIENT-3 confirmed by a person: every certificate store is managed and current.
 *
 * @since 0.3.0
 * @category definitions
 */
export const ConfirmCertificateStores = StepDef.gate("core/confirm-certificate-stores", {
  params: Schema.Struct({ appliance: Appliance, status: Schema.String, stores: Schema.Array(Schema.String) }),
  evidence: () => ({ stores: GateEvidence.text("the stores checked, and who manages each") })
})

/**
 * PREP-4, LICENSE-1: who is logged in and will be disconnected.
 *
 * @since 0.3.0
 * @category definitions
 */
export const ReportDisconnects = StepDef.check("core/report-disconnects", {
  params: Schema.Struct({
    appliance: Appliance,
    licensedTechnicians: Schema.optional(Schema.Number),
    licensedEndpoints: Schema.optional(Schema.Number)
  }),
  severity: "advisory"
})

/**
 * PREP-1: download a settings backup and verify it (size, SHA-256, password).
 *
 * @since 0.3.0
 * @category definitions
 */
export const DownloadBackup = StepDef.action("core/download-backup", {
  params: Schema.Struct({
    appliance: Appliance,
    directory: Schema.String,
    passwordProtected: Schema.optional(Schema.Boolean),
    label: Schema.optional(Schema.String)
  })
})

/**
 * PREP-2: a person exported the certificates with their private keys.
 *
 * @since 0.3.0
 * @category definitions
 */
export const ConfirmCertificateExport = StepDef.gate("core/confirm-certificate-export", {
  params: Schema.Struct({ appliance: Appliance, exportDirectory: Schema.String }),
  evidence: () => ({
    path: GateEvidence.path("path of the exported file (certificate + private key)", { mustExist: true }),
    fingerprint: GateEvidence.sha256("SHA-256 fingerprint of the exported certificate")
  })
})

/**
 * PREP-4: without a maintenance window, a person agrees to the downtime now.
 *
 * @since 0.3.0
 * @category definitions
 */
export const ConfirmDowntime = StepDef.gate("core/confirm-downtime", {
  params: Schema.Struct({ appliance: Appliance, estimatedMinutes: Schema.Number })
})

/**
 * A client task done by a person (CLIENT-5, 6, 12, 13…). The task
 * `limit-concurrent-upgrades` (CLIENT-6) asks for the saved maximum, which
 * must be within the recommended bound.
 *
 * @since 0.3.0
 * @category definitions
 */
export const ConfirmTask = StepDef.gate("core/confirm-task", {
  params: Schema.Struct({
    appliance: Appliance,
    task: Schema.String,
    required: Schema.optional(Schema.Boolean),
    items: Schema.optional(Schema.Array(Schema.String)),
    current: Schema.optional(Schema.Number),
    recommended: Schema.optional(Schema.Number),
    recommendedBandwidthMiBps: Schema.optional(Schema.Number),
    saturatesLink: Schema.optional(Schema.Boolean)
  }),
  evidence: (p): Readonly<Record<string, GateEvidence.Field<unknown>>> =>
    p.task === "limit-concurrent-upgrades"
      ? {
          maxConcurrentUpgrades: GateEvidence.integer("the value now saved on the page", {
            minimum: 1,
            ...(p.recommended === undefined ? {} : { maximum: p.recommended })
          })
        }
      : p.required === true
        ? { done: GateEvidence.text("what was done, where (e.g. the archive path)") }
        : {}
})

/**
 * SINGLE-1/2: a person records the packages `/appliance > Updates` offers.
 *
 * @since 0.3.0
 * @category definitions
 */
export const RecordOfferedUpdates = StepDef.gate("core/record-offered-updates", {
  params: Schema.Struct({ appliance: Appliance, target: Schema.String }),
  evidence: () => ({ offered: GateEvidence.text("the packages listed, as shown (name and version)") })
})

/**
 * SINGLE-3: a person fetched the packages with the appliance's download key.
 *
 * @since 0.3.0
 * @category definitions
 */
export const ConfirmDownloadKey = StepDef.gate("core/confirm-download-key", {
  params: Schema.Struct({ appliance: Appliance, packages: Schema.Array(Schema.String) }),
  evidence: () => ({ files: GateEvidence.text("the package files fetched") })
})

/**
 * SINGLE-1/3: a person started an install; the handler reads health back
 * (PREP-6 halts on a failed base update). Not idempotent.
 *
 * @since 0.3.0
 * @category definitions
 */
export const ConfirmInstallStarted = StepDef.gate("core/confirm-install-started", {
  params: Schema.Struct({
    appliance: Appliance,
    package: Schema.String,
    kind: PackageKind,
    version: Schema.String,
    method: Schema.optional(Schema.Literal("automatic", "manual")),
    requires: Schema.optional(Schema.Array(Schema.String)),
    offered: Schema.optional(Schema.String)
  }),
  idempotent: false
})

/**
 * Wait until an install is done: the product version (and build) read back,
 * or, for base software, the appliance seen going down and coming back
 * healthy (PREP-6 halts on a failure).
 *
 * @since 0.3.0
 * @category definitions
 */
export const AwaitInstall = StepDef.wait("core/await-install", {
  params: Schema.Struct({
    appliance: Appliance,
    package: Schema.String,
    kind: PackageKind,
    version: Schema.String,
    build: Schema.optional(Schema.String),
    fromVersion: Schema.String,
    fromBuild: Schema.optional(Schema.String)
  })
})

/**
 * VERIFY-1, PREP-6: a person reads the base software version (no API
 * reports it); the answer must be the version the plan installs.
 *
 * @since 0.3.0
 * @category definitions
 */
export const ConfirmBaseVersion = StepDef.gate("core/confirm-base-version", {
  params: Schema.Struct({
    appliance: Appliance,
    package: Schema.String,
    baseVersion: Schema.String,
    productVersion: Schema.String
  }),
  evidence: (p) => ({ baseVersion: GateEvidence.version("the base version shown", { expected: p.baseVersion }) })
})

/**
 * VERIFY-1: the appliance is healthy on the expected version (and build).
 *
 * @since 0.3.0
 * @category definitions
 */
export const VerifyVersion = StepDef.check("core/verify-version", {
  params: Schema.Struct({ appliance: Appliance, version: Schema.String, build: Schema.optional(Schema.String) })
})

/**
 * VERIFY-2: a person checked the access console's version and opened a
 * session; the version given must be the one the plan installs.
 *
 * @since 0.3.0
 * @category definitions
 */
export const ConfirmConsoleCheck = StepDef.gate("core/confirm-console-check", {
  params: Schema.Struct({ appliance: Appliance, version: Schema.String }),
  evidence: (p) => ({
    consoleVersion: GateEvidence.version("the version shown in Help > About", { expected: p.version }),
    session: GateEvidence.text("the endpoint a session was opened to")
  })
})

/**
 * CLIENT-10: wait until at most `maxPending` Jump Clients still need the update
 * and, when `maxActivePending` is set, at most that many active ones (clients
 * the appliance reports lost aside: they cannot check in).
 *
 * @since 0.3.0
 * @category definitions
 */
export const AwaitJumpClients = StepDef.wait("core/await-jump-clients", {
  params: Schema.Struct({
    appliance: Appliance,
    maxPending: Schema.Number.pipe(Schema.nonNegative()),
    /** Plans made before this bound existed do not carry it: only `maxPending` counts there. */
    maxActivePending: Schema.optional(Schema.Number.pipe(Schema.nonNegative()))
  })
})

/**
 * CLIENT-9: how many Jumpoints are connected again.
 *
 * @since 0.3.0
 * @category definitions
 */
export const ReportJumpoints = StepDef.check("core/report-jumpoints", {
  params: Schema.Struct({ appliance: Appliance, expected: Schema.optional(Schema.Number) }),
  severity: "advisory"
})

/**
 * Every definition of this module.
 *
 * @since 0.3.0
 * @category definitions
 */
export const all: ReadonlyArray<StepDef.Any> = [
  CheckApiAccess,
  CheckClockSkew,
  CheckVersionPath,
  CheckRehearsal,
  ConfirmCertificateStores,
  ReportDisconnects,
  DownloadBackup,
  ConfirmCertificateExport,
  ConfirmDowntime,
  ConfirmTask,
  RecordOfferedUpdates,
  ConfirmDownloadKey,
  ConfirmInstallStarted,
  AwaitInstall,
  ConfirmBaseVersion,
  VerifyVersion,
  ConfirmConsoleCheck,
  AwaitJumpClients,
  ReportJumpoints
]

// ---------------------------------------------------------------------------
// shared builders
// ---------------------------------------------------------------------------

/**
 * PREP-1: the settings backup step, as every planner takes it.
 *
 * @since 0.3.0
 * @category constructors
 */
export const backupStep = (options: {
  readonly id: string
  readonly title: string
  readonly rules: ReadonlyArray<string>
  readonly appliance: string
  readonly directory: string
  readonly passwordProtected: boolean
  /** Where in the run the backup is taken, e.g. `before-upgrade`. */
  readonly label: string
  readonly notes?: ReadonlyArray<string>
}): Plan.Action =>
  DownloadBackup.action(
    {
      id: options.id,
      title: options.title,
      rules: options.rules,
      target: options.appliance,
      estimatedSeconds: 120,
      notes: [
        options.passwordProtected
          ? "The backup is protected by the site's backup password: keep that password, without it the backup cannot be restored."
          : "Warning: no backup password is configured; the backup is not password-protected.",
        "The backup holds configuration and rights, not session recordings and not the local encryption key.",
        ...(options.notes ?? [])
      ]
    },
    {
      appliance: options.appliance,
      directory: options.directory,
      passwordProtected: options.passwordProtected,
      label: options.label
    }
  )

/**
 * The wait for an install: polls health every `intervalSeconds` for at most
 * twice the estimate plus 15 minutes (PREP-3).
 *
 * @since 0.3.0
 * @category constructors
 */
export const awaitInstallStep = (options: {
  readonly id: string
  readonly title: string
  readonly rules: ReadonlyArray<string>
  readonly params: typeof AwaitInstall.params.Type
  readonly minutes: number
  readonly intervalSeconds: number
  readonly notes?: ReadonlyArray<string>
}): Plan.WaitFor =>
  AwaitInstall.wait(
    {
      id: options.id,
      title: options.title,
      rules: options.rules,
      target: options.params.appliance,
      estimatedSeconds: options.minutes * 60,
      intervalSeconds: options.intervalSeconds,
      // PREP-3: much longer with data; twice the estimate plus 15 min before giving up
      deadlineSeconds: options.minutes * 60 * 2 + 900,
      notes: [
        options.params.kind === "base"
          ? "Polls health until the appliance has been seen going down (it reboots) and answering healthy again; an appliance that does not answer meanwhile is normal."
          : "Polls health until the appliance answers healthy with the expected version and build; an appliance that does not answer (rebooting) is normal meanwhile.",
        ...(options.params.kind === "base"
          ? [
              "PREP-6: if the base software update fails (the appliance reports an error, or does not come back before the deadline), the run halts: do NOT reboot the appliance and contact vendor support."
            ]
          : []),
        ...(options.notes ?? [])
      ]
    },
    options.params
  )

/**
 * VERIFY-1: the blocking read-back of the version (and build) after an install.
 *
 * @since 0.3.0
 * @category constructors
 */
export const verifyVersionStep = (options: {
  readonly id: string
  readonly title: string
  readonly rules?: ReadonlyArray<string>
  readonly appliance: string
  readonly version: string
  readonly build?: string | undefined
  readonly notes?: ReadonlyArray<string>
}): Plan.Check =>
  VerifyVersion.check(
    {
      id: options.id,
      title: options.title,
      rules: options.rules ?? ["VERIFY-1"],
      target: options.appliance,
      estimatedSeconds: 5,
      notes: options.notes
    },
    {
      appliance: options.appliance,
      version: options.version,
      ...(options.build === undefined ? {} : { build: options.build })
    }
  )
