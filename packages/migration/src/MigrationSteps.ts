/**
 * The step definitions of a hardware migration (`migration/…`, MIGRATE-1…9):
 * one `StepDef` per step kind, with its params Schema and, for the manual
 * gates, the evidence a person gives. `MigrationPlan` builds its steps with
 * them, `MigrationHandlers` implements them, and whoever plays or reads a
 * migration plan (the simulator's operator, a report) recognises its steps
 * with `is` / `paramsOf`.
 *
 * A migration plan also uses core's definitions (`CoreSteps`: the old box's
 * API and clock checks, backup, version and console checks after the
 * restore) and the certificates package's (`Steps.BundleFile` for the
 * import, MIGRATE-4).
 *
 * Before the restore (MIGRATE-7) nothing here reads the new box through
 * the vendor API: a factory box has no API account until the old settings,
 * which carry them, are restored. It is observed through what it offers
 * without one: the load-balancer probe on its own address (status and HTTP
 * `Date` header), the TLS certificate it serves, and gates where a person
 * reads `/appliance` and gives what they saw as evidence.
 *
 * @since 0.3.0
 */
import { GateEvidence, StepDef } from "@sra-upgrade/core"
import { Steps } from "@sra-upgrade/certificates"
import { FailoverSteps, Pair } from "@sra-upgrade/failover"
import * as Schema from "effect/Schema"

/** An id in the run's `ApplianceApi` registry. */
const Id = Schema.String.pipe(Schema.minLength(1))

/**
 * MIGRATE-1: a person installed the new box per its deployment guide, on
 * its own unique IP; verified by the load-balancer probe on `url`. No API
 * account is asked for: a factory box has none until the old settings
 * (which carry the API accounts) are restored (MIGRATE-7). The person reads
 * the product version the box ships with on `/appliance > Status > Basics`
 * (no API reports it before the restore).
 *
 * @since 0.3.0
 * @category definitions
 */
export const NewInstalled = StepDef.gate("migration/new-installed", {
  params: Schema.Struct({ appliance: Id, url: Schema.String, uniqueIp: Schema.String }),
  evidence: () => ({
    version: GateEvidence.version("product version the new box shows on /appliance > Status > Basics, e.g. 23.3.1")
  })
})

/** Host and TLS port an appliance serves HTTPS on. */
const TlsAddress = Schema.Struct({ host: Schema.String, port: Schema.Number })

/**
 * MIGRATE-1, before the restore: the new box is another box, on its own
 * address, and the site is still served by the old one, observed without
 * an API account on the new box: the load-balancer probe on `newUrl`, the
 * TLS certificate it serves (`newTls`, its factory certificate: not the
 * leaf the old box serves at `oldTls`), and the site address through the
 * old box's API account (`siteClient`). Replaces
 * {@link CheckNewAppliance}, which read the new box through its API.
 *
 * @since 0.3.0
 * @category definitions
 */
export const CheckNewBox = StepDef.check("migration/check-new-box", {
  params: Schema.Struct({
    old: Id,
    new: Id,
    newUrl: Schema.String,
    newTls: TlsAddress,
    oldTls: TlsAddress,
    siteHostname: Schema.String,
    /** Registry id of a client on the site address, to tell which box answers there. */
    siteClient: Schema.optional(Id)
  })
})

/**
 * PREP-8 / MIGRATE-6, before the restore: the new box's clock, read from
 * the HTTP `Date` header of its load-balancer probe on `url` (no API
 * account needed); skew above `maxSkewSeconds` blocks.
 *
 * @since 0.3.0
 * @category definitions
 */
export const NewBoxClock = StepDef.check("migration/new-box-clock", {
  params: Schema.Struct({ appliance: Id, url: Schema.String, maxSkewSeconds: Schema.Number })
})

/**
 * MIGRATE-6, before the restore: the old box runs the planned version
 * (through its API), and the version the person read on the new box's
 * `/appliance` (evidence of the `seenAt` gate, {@link NewInstalled}) allows
 * the restore. Replaces {@link CheckVersions}, which read the new box
 * through its API.
 *
 * @since 0.3.0
 * @category definitions
 */
export const CheckVersionsSeen = StepDef.check("migration/check-versions-seen", {
  params: Schema.Struct({
    old: Id,
    new: Id,
    oldVersion: Schema.String,
    target: Schema.String,
    installPlanned: Schema.Boolean,
    /** The gate whose evidence `version` is the new box's product version. */
    seenAt: Schema.String
  })
})

/**
 * MIGRATE-6, before the restore: the new box answers the load-balancer
 * probe on `url` again after the install (it restarts); no API account.
 *
 * @since 0.3.0
 * @category definitions
 */
export const NewSoftwareBack = StepDef.wait("migration/new-software-back", {
  params: Schema.Struct({ appliance: Id, url: Schema.String, target: Schema.String })
})

/**
 * MIGRATE-6, before the restore: a person reads the product version on the
 * new box's `/appliance > Status > Basics` once the install is over; an
 * answer other than `target` is refused and the gate stays open (the
 * restore then checks the version again through the API).
 *
 * @since 0.3.0
 * @category definitions
 */
export const NewSoftwareInstalled = StepDef.gate("migration/new-software-installed", {
  params: Schema.Struct({ appliance: Id, url: Schema.String, target: Schema.String }),
  evidence: (p) => ({
    version: GateEvidence.version(
      "product version the new box shows on /appliance > Status > Basics after the install",
      {
        expected: p.target
      }
    )
  })
})

/**
 * MIGRATE-1: the new box is another appliance (GUID), answers on its own
 * address and does not serve the site yet.
 *
 * @deprecated Reads the new box through its API before its software is
 * installed (a factory box has no API account): plans use
 * {@link CheckNewBox}. Kept, with its handler, so that journals of plans
 * made before it still resume.
 *
 * @since 0.3.0
 * @category definitions
 */
export const CheckNewAppliance = StepDef.check("migration/check-new-appliance", {
  params: Schema.Struct({
    old: Id,
    new: Id,
    newUrl: Schema.String,
    siteUrl: Schema.String,
    siteHostname: Schema.String,
    /** Registry id of a client on the site address, to tell which box answers there. */
    siteClient: Schema.optional(Id)
  })
})

/**
 * MIGRATE-6: the old box runs the planned version; the new one is not newer
 * than the target, and not older unless an install is planned.
 *
 * @deprecated Reads the new box through its API before its software is
 * installed: plans use {@link CheckVersionsSeen}. Kept, with its handler,
 * so that journals of plans made before it still resume.
 *
 * @since 0.3.0
 * @category definitions
 */
export const CheckVersions = StepDef.check("migration/check-versions", {
  params: Schema.Struct({
    old: Id,
    new: Id,
    oldVersion: Schema.String,
    target: Schema.String,
    installPlanned: Schema.optional(Schema.Boolean)
  })
})

/**
 * MIGRATE-6: a person accepted the EULA on the new box (no API reports it).
 *
 * @since 0.3.0
 * @category definitions
 */
export const EulaAccepted = StepDef.gate("migration/eula-accepted", {
  params: Schema.Struct({ appliance: Id }),
  evidence: () => ({ acceptedBy: GateEvidence.text("who accepted the EULA") })
})

/**
 * MIGRATE-6: a person started the software install on the new box; the
 * next steps wait until it answers its probe again
 * ({@link NewSoftwareBack}) and ask the version it shows
 * ({@link NewSoftwareInstalled}).
 *
 * @since 0.3.0
 * @category definitions
 */
export const SoftwareStarted = StepDef.gate("migration/software-started", {
  params: Schema.Struct({ appliance: Id, target: Schema.String })
})

/**
 * MIGRATE-2: the backup file recorded by `backupStep` is still complete
 * (size and SHA-256 read again).
 *
 * @since 0.3.0
 * @category definitions
 */
export const VerifyBackup = StepDef.check("migration/verify-backup", {
  params: Schema.Struct({ backupStep: Schema.String, appliance: Id })
})

/**
 * MIGRATE-3: the certificates package's export gate, verified against the
 * leaf the old box serves at `host`:`port` (TLS probe); same evidence as
 * `Steps.BundleFile`'s export.
 *
 * @since 0.3.0
 * @category definitions
 */
export const ExportedBundle = StepDef.gate("migration/exported-bundle", {
  params: Schema.Struct({ path: Schema.String, siteFqdn: Schema.String, host: Schema.String, port: Schema.Number }),
  evidence: (p) => Steps.BundleFile.evidence({ path: p.path, siteFqdn: p.siteFqdn })
})

/**
 * MIGRATE-5: the default certificate is chosen among the exported bundle
 * and `others` (warnings block), and the new box at `host`:`port` serves it.
 *
 * @since 0.3.0
 * @category definitions
 */
export const DefaultCertificate = StepDef.gate("migration/default-certificate", {
  params: Schema.Struct({
    path: Schema.String,
    siteFqdn: Schema.String,
    host: Schema.String,
    port: Schema.Number,
    others: Schema.optional(Schema.Array(Schema.Struct({ label: Schema.String, chainPem: Schema.String }))),
    trustAnchorsPem: Schema.optional(Schema.String)
  })
})

/**
 * MIGRATE-7: a person restored the old box's backup on the new one; the old
 * API account must then work there (`restoredClient`), on the old version.
 *
 * @since 0.3.0
 * @category definitions
 */
export const Restored = StepDef.gate("migration/restored", {
  params: Schema.Struct({
    old: Id,
    new: Id,
    restoredClient: Id,
    /** The step that downloaded the backup (its evidence names the file). */
    backupStep: Schema.String,
    directory: Schema.String,
    passwordProtected: Schema.Boolean
  }),
  evidence: () => ({ file: GateEvidence.path("the backup file uploaded") })
})

/**
 * MIGRATE-7: the new box answers like the old one (version, Jump Client and
 * Jumpoint counts, the API account's permissions).
 *
 * @since 0.3.0
 * @category definitions
 */
export const CompareAppliances = StepDef.check("migration/compare-appliances", {
  params: Schema.Struct({ old: Id, new: Id, restoredClient: Id })
})

/**
 * MIGRATE-7: a person attests that the initial admin / password login was
 * changed (no API can tell); anything but `changed` blocks.
 *
 * @since 0.3.0
 * @category definitions
 */
export const CredentialsChanged = StepDef.gate("migration/credentials-changed", {
  params: Schema.Struct({ appliance: Id }),
  evidence: () => ({
    attestation: GateEvidence.text('type "changed" to attest the admin password is no longer "password"'),
    vault: GateEvidence.text("where the new password is kept (not the password)")
  })
})

/**
 * MIGRATE-8: the site address moves from `from` to `to` through failover's
 * `TrafficSwitch`; same evidence as failover's switch gate
 * (`FailoverSteps.Switched`: a change reference for DNS and NAT). Its own
 * definition because `from` / `to` are the appliances' ids while the pair
 * names the new box by the connection of the old API account.
 *
 * @since 0.3.0
 * @category definitions
 */
export const Cutover = StepDef.gate("migration/cutover", {
  params: Schema.Struct({
    /** The old and new box as a pair, ids as the run's connections (old = primary). */
    pair: Pair.Pair,
    /** The simulated / real appliance ids (the pair's ids may be connections). */
    from: Id,
    to: Id
  }),
  evidence: (p) => FailoverSteps.Switched.evidence(p)
})

/**
 * MIGRATE-8: wait until the site address is answered by the new box only.
 *
 * @since 0.3.0
 * @category definitions
 */
export const SiteServedByNew = StepDef.wait("migration/site-served-by-new", {
  params: Schema.Struct({ pair: Pair.Pair })
})

/**
 * MIGRATE-9: a person confirms the new box in production; the site must
 * still be served by it only.
 *
 * @since 0.3.0
 * @category definitions
 */
export const ConfirmInProduction = StepDef.gate("migration/confirm-in-production", {
  params: Schema.Struct({ pair: Pair.Pair }),
  evidence: () => ({ confirmedBy: GateEvidence.text("who confirmed the new appliance in production") })
})

/**
 * Params of the decommission gates: the old box (registry id and API URL)
 * and the new one's registry id.
 *
 * @since 0.3.0
 * @category models
 */
export const OldGoneParams = Schema.Struct({ old: Id, oldUrl: Schema.String, new: Id })

/**
 * MIGRATE-9 (virtual): the old VM was deleted; it no longer answers the
 * site's API account.
 *
 * @since 0.3.0
 * @category definitions
 */
export const OldDeleted = StepDef.gate("migration/old-deleted", {
  params: OldGoneParams,
  evidence: () => ({ deletedBy: GateEvidence.text("who deleted the virtual machine") })
})

/**
 * MIGRATE-9 (physical): the old box was reset to factory defaults; it no
 * longer answers the site's API account.
 *
 * @since 0.3.0
 * @category definitions
 */
export const OldReset = StepDef.gate("migration/old-reset", {
  params: OldGoneParams,
  evidence: () => ({ resetBy: GateEvidence.text("who ran the factory reset") })
})

/**
 * MIGRATE-9 (physical): the old box is powered off; its address does not
 * answer the load-balancer probe any more.
 *
 * @since 0.3.0
 * @category definitions
 */
export const OldPoweredOff = StepDef.gate("migration/old-powered-off", { params: OldGoneParams })

/**
 * MIGRATE-9 (physical): the old box was shipped back (no API follows a parcel).
 *
 * @since 0.3.0
 * @category definitions
 */
export const ReturnShipped = StepDef.gate("migration/return-shipped", {
  params: Schema.Struct({ old: Id }),
  evidence: () => ({ tracking: GateEvidence.text("carrier and tracking number") })
})

/**
 * Every definition of this module.
 *
 * @since 0.3.0
 * @category definitions
 */
export const all: ReadonlyArray<StepDef.Any> = [
  NewInstalled,
  CheckNewBox,
  NewBoxClock,
  CheckVersionsSeen,
  NewSoftwareBack,
  NewSoftwareInstalled,
  CheckNewAppliance,
  CheckVersions,
  EulaAccepted,
  SoftwareStarted,
  VerifyBackup,
  ExportedBundle,
  DefaultCertificate,
  Restored,
  CompareAppliances,
  CredentialsChanged,
  Cutover,
  SiteServedByNew,
  ConfirmInProduction,
  OldDeleted,
  OldReset,
  OldPoweredOff,
  ReturnShipped
]
