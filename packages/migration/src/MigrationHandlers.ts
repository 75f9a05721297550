/**
 * The handlers of the `migration/…` step definitions (`MigrationSteps`),
 * one top-level function each. They verify every manual gate through what
 * can be read back: the vendor API of the old appliance, and of the new one
 * only after the restore (MIGRATE-7: a factory box has no API account
 * before; the restored account is the old box's), the load-balancer probe
 * (status and HTTP `Date` header, no account needed), a TLS probe of what each box serves (certificates
 * package), the run's history (the backup file recorded by MIGRATE-2, the
 * attestation given at the credentials gate), failover's `TrafficSwitch`
 * and, when one runs, the `SiteProber` (its figures go into the cut-over
 * evidence).
 *
 * What no API can tell is said in the evidence (`verifiableByApi: false`):
 * EULA acceptance, the change of the initial admin / password credentials
 * (a blocking attestation), the return shipment.
 *
 * @since 0.1.0
 */
import { ApplianceApi, type ApplianceError, type StepDef, StepHandler } from "@sra-upgrade/core"
import { Certificate, DefaultCertificate, Steps, TlsProbe } from "@sra-upgrade/certificates"
import { type Pair, SiteProber, TrafficSwitch } from "@sra-upgrade/failover"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import * as fs from "node:fs/promises"
import * as MigrationSteps from "./MigrationSteps.js"

/**
 * Configuration of the handlers (secrets never travel in plan params).
 *
 * @since 0.1.0
 * @category models
 */
export interface Config {
  /** Passphrase of the exported certificate bundle: lets MIGRATE-3 check that the key matches the leaf. */
  readonly bundlePassphrase?: Redacted.Redacted<string> | undefined
}

/**
 * The handlers' configuration, as a service.
 *
 * @since 0.3.0
 * @category services
 */
export class HandlerConfig extends Context.Tag("@sra-upgrade/migration/MigrationHandlers/HandlerConfig")<
  HandlerConfig,
  Config
>() {}

type Params<D extends { readonly params: { readonly Type: unknown } }> = D["params"]["Type"]

const describe = (e: unknown): string =>
  typeof e === "object" && e !== null && "message" in e ? String((e as { message: unknown }).message) : String(e)

const reasonOf = (e: ApplianceError.ApplianceError): string => e.reason._tag

/**
 * Whether an appliance's answer to the site's API account shows it is gone
 * (deleted, reset, powered off): any refusal or silence counts.
 *
 * @since 0.1.0
 * @category combinators
 */
export const isGone = (e: ApplianceError.ApplianceError): boolean =>
  ["Unauthorized", "Forbidden", "Transport", "Timeout", "NotFound", "TlsMismatch"].includes(e.reason._tag)

const client = (id: string) => Effect.flatMap(ApplianceApi.ApplianceApi, (api) => api.appliance(id))
const health = (id: string) => Effect.flatMap(client(id), (c) => c.health)
const probe = (target: ApplianceApi.ProbeTarget) =>
  Effect.flatMap(ApplianceApi.ApplianceApi, (api) => api.probe(target))

/** The site prober's figures (the number of outages), or a word saying none ran. */
const proberFigures: Effect.Effect<Record<string, unknown>> = Effect.map(
  SiteProber.measured,
  Option.match({
    onNone: () => ({ prober: "none: provide SiteProber.layer to measure" }),
    onSome: (f) => ({ prober: { ...f, outages: f.outages.length } })
  })
)

/** What the box at `host`:`port` serves for `siteFqdn`; `failure` words a failed probe. */
const probeServed = (
  p: { readonly host: string; readonly port: number; readonly siteFqdn: string },
  failure: (message: string) => string
) =>
  TlsProbe.probeTls({ host: p.host, port: p.port, servername: p.siteFqdn }).pipe(
    Effect.mapError((e) => StepHandler.fail(failure(e.message)))
  )

/** Compare two dotted product versions numerically (`24.3.2` < `25.1.1`). */
const compareVersions = (a: string, b: string): number => {
  const pa = a.split(/[.-]/).map((x) => Number.parseInt(x, 10))
  const pb = b.split(/[.-]/).map((x) => Number.parseInt(x, 10))
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0
    const y = pb[i] ?? 0
    if (Number.isNaN(x) || Number.isNaN(y)) return a === b ? 0 : a < b ? -1 : 1
    if (x !== y) return x < y ? -1 : 1
  }
  return 0
}

// ---------------------------------------------------------------- MIGRATE-1

/**
 * MIGRATE-1: the new box passes the load-balancer probe on its own address.
 *
 * @since 0.3.0
 * @category handlers
 */
export const newInstalled = Effect.fn(MigrationSteps.NewInstalled.name)(function* (
  params: Params<typeof MigrationSteps.NewInstalled>
) {
  const url = params.url
  const r = yield* Effect.either(probe({ url }))
  if (Either.isLeft(r))
    return yield* StepHandler.fail(
      `The new appliance does not answer on its own address ${url} (${r.left.message}): finish its network setup per the deployment guide (MIGRATE-1), then approve again.`
    )
  const evidence = { url, probeStatus: r.right.status, probeBody: r.right.body.slice(0, 200) }
  if (!r.right.ok)
    return yield* StepHandler.fail(
      `The new appliance answers HTTP ${r.right.status} to the load-balancer probe on ${url}: it is not healthy yet; check /appliance > Status (MIGRATE-1).`,
      evidence
    )
  return evidence
})

/**
 * MIGRATE-1: another box (GUID), on its own address, not serving the site.
 *
 * @deprecated Reads the new box through its API; kept for journals of
 * plans made before {@link checkNewBox}.
 * @since 0.3.0
 * @category handlers
 */
export const checkNewAppliance = Effect.fn(MigrationSteps.CheckNewAppliance.name)(function* (
  params: Params<typeof MigrationSteps.CheckNewAppliance>
) {
  const { old: oldId, new: newId } = params
  const oldH = yield* health(oldId)
  const newR = yield* Effect.either(health(newId))
  if (Either.isLeft(newR))
    return yield* StepHandler.fail(
      `The new appliance ${newId} does not answer through the API (${newR.left.message}): create its API account (MIGRATE-1) and give it to this run's connection.`
    )
  const newH = newR.right
  const newProbe = yield* Effect.either(probe({ url: params.newUrl }))
  const evidence: Record<string, unknown> = {
    oldGuid: oldH.applianceGuid,
    newGuid: newH.applianceGuid,
    oldVersion: oldH.version,
    newVersion: newH.version,
    newProbe: Either.isRight(newProbe) ? newProbe.right.status : newProbe.left.message
  }
  if (oldH.applianceGuid === newH.applianceGuid)
    return yield* StepHandler.fail(
      `${oldId} and ${newId} report the same appliance GUID ${newH.applianceGuid}: the "new" connection reaches the old box. Point it at the new appliance's own address.`,
      evidence
    )
  if (Either.isLeft(newProbe) || !newProbe.right.ok)
    return yield* StepHandler.fail(
      `The new appliance does not pass the load-balancer probe on its own address ${params.newUrl}: fix its network setup (MIGRATE-1).`,
      evidence
    )
  if (params.siteClient === undefined) {
    evidence["siteServedBy"] = "not checked: no client on the site address (options.siteClientId)"
    return evidence
  }
  const s = yield* Effect.either(health(params.siteClient))
  const servedBy = Either.isRight(s) ? s.right.applianceGuid : undefined
  evidence["siteServedBy"] =
    servedBy === oldH.applianceGuid ? oldId : servedBy === newH.applianceGuid ? newId : (servedBy ?? "nobody")
  if (servedBy === newH.applianceGuid)
    return yield* StepHandler.fail(
      `The site address is already answered by the new appliance ${newId}: it must keep reaching ${oldId} until the cut-over (MIGRATE-8). Give ${newId} its own IP, not the site's.`,
      evidence
    )
  if (servedBy !== oldH.applianceGuid)
    return yield* StepHandler.fail(
      `The site address is not answered by ${oldId} (${Either.isLeft(s) ? s.left.message : `GUID ${servedBy}`}): the migration starts from a site served by the old appliance.`,
      evidence
    )
  return evidence
})

/** The leaf the box at `address` serves, or why it could not be read. */
const leafAt = (address: { readonly host: string; readonly port: number }, servername: string) =>
  Effect.either(TlsProbe.probeTls({ host: address.host, port: address.port, servername }))

/**
 * MIGRATE-1, before the restore: another box (its TLS certificate is not
 * the old one's), answering its probe on its own address, while the site
 * is still served by the old box; the new box is not read through its API.
 *
 * @since 0.3.0
 * @category handlers
 */
export const checkNewBox = Effect.fn(MigrationSteps.CheckNewBox.name)(function* (
  params: Params<typeof MigrationSteps.CheckNewBox>
) {
  const { old: oldId, new: newId } = params
  const oldH = yield* health(oldId)
  const newProbe = yield* Effect.either(probe({ url: params.newUrl }))
  const newLeaf = yield* leafAt(params.newTls, params.siteHostname)
  const oldLeaf = yield* leafAt(params.oldTls, params.siteHostname)
  const evidence: Record<string, unknown> = {
    oldGuid: oldH.applianceGuid,
    oldVersion: oldH.version,
    newProbe: Either.isRight(newProbe) ? newProbe.right.status : newProbe.left.message,
    newLeafSha256: Either.isRight(newLeaf) ? newLeaf.right.leafSha256 : null,
    oldLeafSha256: Either.isRight(oldLeaf) ? oldLeaf.right.leafSha256 : null,
    newApi: "not used: a factory box has no API account before the restore (MIGRATE-7)"
  }
  if (Either.isLeft(newProbe) || !newProbe.right.ok)
    return yield* StepHandler.fail(
      `The new appliance does not pass the load-balancer probe on its own address ${params.newUrl} (${Either.isLeft(newProbe) ? newProbe.left.message : `HTTP ${newProbe.right.status}`}): fix its network setup (MIGRATE-1).`,
      evidence
    )
  if (Either.isLeft(newLeaf))
    return yield* StepHandler.fail(
      `Cannot read the certificate the new appliance serves on ${params.newTls.host}:${params.newTls.port} (${newLeaf.left.message}): check its address and TLS port (MIGRATE-1).`,
      evidence
    )
  if (Either.isLeft(oldLeaf))
    return yield* StepHandler.fail(
      `Cannot read the certificate the old appliance serves on ${params.oldTls.host}:${params.oldTls.port} (${oldLeaf.left.message}): the new box cannot be told apart from it.`,
      evidence
    )
  if (newLeaf.right.leafSha256 === oldLeaf.right.leafSha256)
    return yield* StepHandler.fail(
      `${newId}'s address ${params.newTls.host}:${params.newTls.port} serves the same certificate as ${oldId} (SHA-256 ${newLeaf.right.leafSha256}): before MIGRATE-4 a new box serves its own factory certificate, so this address reaches the old box. Give the new appliance its own unique IP.`,
      evidence
    )
  if (params.siteClient === undefined) {
    evidence["siteServedBy"] = "not checked: no client on the site address (options.siteClientId)"
    return evidence
  }
  const s = yield* Effect.either(health(params.siteClient))
  const servedBy = Either.isRight(s) ? s.right.applianceGuid : undefined
  evidence["siteServedBy"] = servedBy === oldH.applianceGuid ? oldId : (servedBy ?? "nobody")
  if (servedBy !== oldH.applianceGuid)
    return yield* StepHandler.fail(
      `The site address is not answered by ${oldId} (${Either.isLeft(s) ? s.left.message : `GUID ${servedBy}`}): the migration starts from a site served by the old appliance; ${newId} must keep its own IP until the cut-over (MIGRATE-8).`,
      evidence
    )
  return evidence
})

/**
 * PREP-8 / MIGRATE-6, before the restore: the new box's clock, from the
 * HTTP `Date` header of its load-balancer probe.
 *
 * @since 0.3.0
 * @category handlers
 */
export const newBoxClock = Effect.fn(MigrationSteps.NewBoxClock.name)(function* (
  params: Params<typeof MigrationSteps.NewBoxClock>
) {
  const r = yield* Effect.either(probe({ url: params.url }))
  if (Either.isLeft(r))
    return yield* StepHandler.fail(
      `The new appliance does not answer on ${params.url} (${r.left.message}): its clock cannot be read. Finish its network setup (MIGRATE-1).`
    )
  const local = yield* Clock.currentTimeMillis
  const served = r.right.date === undefined ? Number.NaN : Date.parse(r.right.date)
  if (Number.isNaN(served))
    return yield* StepHandler.fail(
      `The new appliance's answer on ${params.url} has no readable Date header (${r.right.date ?? "none"}): read its time on /appliance > Status > Basics and fix it (PREP-8) before the download key is used (MIGRATE-6).`,
      { url: params.url, date: r.right.date ?? null }
    )
  // the header has 1 s precision: half a second either way is not skew
  const skewSeconds = Math.round((served - local) / 1000)
  const evidence = {
    url: params.url,
    serverTime: r.right.date ?? null,
    localTime: new Date(local).toUTCString(),
    skewSeconds,
    maxSkewSeconds: params.maxSkewSeconds,
    source: "HTTP Date header of the load-balancer probe (no API account before the restore)"
  }
  if (Math.abs(skewSeconds) > params.maxSkewSeconds)
    return yield* StepHandler.fail(
      `The new appliance's clock is off by ${skewSeconds} s (bound ${params.maxSkewSeconds} s): checking for updates and the download key need a correct clock (MIGRATE-6). Set the time and NTP on /appliance > Network > IP Configuration (PREP-8), then run again.`,
      evidence
    )
  return evidence
})

/**
 * MIGRATE-6, before the restore: the old box through its API, the new one
 * by the version a person read on its `/appliance`.
 *
 * @since 0.3.0
 * @category handlers
 */
export const checkVersionsSeen = Effect.fn(MigrationSteps.CheckVersionsSeen.name)(function* (
  params: Params<typeof MigrationSteps.CheckVersionsSeen>,
  ctx: StepHandler.StepContext
) {
  const oldH = yield* health(params.old)
  const answer = Option.getOrUndefined(ctx.history.answerOf(params.seenAt))
  const raw = answer?._tag === "Approved" ? answer.evidence?.["version"] : undefined
  const seen = typeof raw === "string" ? raw.trim() : ""
  const { oldVersion: expected, target } = params
  const evidence = {
    oldVersion: oldH.version,
    newVersion: seen === "" ? null : seen,
    newVersionSource: `read on /appliance by a person (gate ${params.seenAt}): no API account before the restore`,
    target
  }
  if (oldH.version !== expected)
    return yield* StepHandler.fail(
      `${params.old} runs ${oldH.version}, not ${expected} as planned: plan the migration again from its current version.`,
      evidence
    )
  if (seen === "")
    return yield* StepHandler.fail(
      `No version of the new appliance was given at gate ${params.seenAt}: answer it again with the version ${params.new} shows on /appliance > Status > Basics (MIGRATE-1).`,
      evidence
    )
  const cmp = compareVersions(seen, target)
  if (cmp > 0)
    return yield* StepHandler.fail(
      `The new appliance already runs ${seen}, newer than ${target}: upgrade ${params.old} to ${seen} first, then plan again (a backup must restore onto the same version, MIGRATE-6).`,
      evidence
    )
  if (cmp < 0 && !params.installPlanned)
    return yield* StepHandler.fail(
      `MIGRATE-6: the new appliance runs ${seen}, older than ${target}, and this plan installs nothing: a backup of ${expected} will not restore onto it. Plan again with newCurrent: ${seen} so the install steps are included.`,
      evidence
    )
  return { ...evidence, installNeeded: cmp < 0 }
})

/**
 * MIGRATE-6: the versions allow the restore.
 *
 * @deprecated Reads the new box through its API; kept for journals of
 * plans made before {@link checkVersionsSeen}.
 * @since 0.3.0
 * @category handlers
 */
export const checkVersions = Effect.fn(MigrationSteps.CheckVersions.name)(function* (
  params: Params<typeof MigrationSteps.CheckVersions>
) {
  const oldH = yield* health(params.old)
  const newH = yield* health(params.new)
  const { oldVersion: expected, target } = params
  const evidence = { oldVersion: oldH.version, newVersion: newH.version, target }
  if (oldH.version !== expected)
    return yield* StepHandler.fail(
      `${params.old} runs ${oldH.version}, not ${expected} as planned: plan the migration again from its current version.`,
      evidence
    )
  const cmp = compareVersions(newH.version, target)
  if (cmp > 0)
    return yield* StepHandler.fail(
      `The new appliance already runs ${newH.version}, newer than ${target}: upgrade ${params.old} to ${newH.version} first, then plan again (a backup must restore onto the same version, MIGRATE-6).`,
      evidence
    )
  if (cmp < 0 && params.installPlanned === false)
    return yield* StepHandler.fail(
      `MIGRATE-6: the new appliance runs ${newH.version}, older than ${target}, and this plan installs nothing: a backup of ${expected} will not restore onto it. Plan again with newCurrent: ${newH.version} so the install steps are included.`,
      evidence
    )
  return { ...evidence, installNeeded: cmp < 0 }
})

// ---------------------------------------------------------------- MIGRATE-6

/**
 * MIGRATE-6: the EULA gate's answer is the record (no API reports it).
 *
 * @since 0.3.0
 * @category handlers
 */
export const eulaAccepted = Effect.fn(MigrationSteps.EulaAccepted.name)(function* (
  _params: Params<typeof MigrationSteps.EulaAccepted>
) {
  // before the restore the new box has no API account: nothing to read back
  return yield* Effect.succeed({
    confirmedByOperator: true,
    verifiableByApi: false,
    note: "No API reports the EULA: the gate's answer is the record."
  })
})

/**
 * MIGRATE-6: the install was started (the gate's answer is the record; the
 * new box has no API account before the restore).
 *
 * @since 0.3.0
 * @category handlers
 */
export const softwareStarted = Effect.fn(MigrationSteps.SoftwareStarted.name)(function* (
  params: Params<typeof MigrationSteps.SoftwareStarted>
) {
  return yield* Effect.succeed({
    target: params.target,
    confirmedByOperator: true,
    note: "Observed next by the load-balancer probe of the new box and the version a person reads on /appliance."
  })
})

/**
 * MIGRATE-6: holds once the new box answers its load-balancer probe with
 * HTTP 200 again after the install.
 *
 * @since 0.3.0
 * @category handlers
 */
export const newSoftwareBack = Effect.fn(MigrationSteps.NewSoftwareBack.name)(function* (
  params: Params<typeof MigrationSteps.NewSoftwareBack>
) {
  const r = yield* Effect.either(probe({ url: params.url }))
  const observed = Either.isLeft(r) ? { probe: reasonOf(r.left) } : { probe: `HTTP ${r.right.status}` }
  return Either.isRight(r) && r.right.ok
    ? { holds: true, observed, evidence: { url: params.url, probeStatus: r.right.status, target: params.target } }
    : { holds: false, observed }
})

/**
 * MIGRATE-6: the version read on the new box's `/appliance` is the target,
 * and the box answers its probe.
 *
 * @since 0.3.0
 * @category handlers
 */
export const newSoftwareInstalled = Effect.fn(MigrationSteps.NewSoftwareInstalled.name)(function* (
  params: Params<typeof MigrationSteps.NewSoftwareInstalled>,
  ctx: StepDef.GateContext<{ readonly version: string }>
) {
  const seen = (ctx.evidence?.version ?? "").trim()
  const r = yield* Effect.either(probe({ url: params.url }))
  const evidence = {
    versionSeen: seen,
    target: params.target,
    probe: Either.isLeft(r) ? reasonOf(r.left) : `HTTP ${r.right.status}`,
    verifiableByApi: false,
    note: "Read by a person on /appliance > Status > Basics: the new box has no API account before the restore, which checks the version again through the API (MIGRATE-7)."
  }
  if (Either.isLeft(r) || !r.right.ok)
    return yield* StepHandler.fail(
      `The new appliance does not answer its load-balancer probe on ${params.url} (${evidence.probe}): the install is not over. Wait until /appliance shows it running, then approve again (MIGRATE-6).`,
      evidence
    )
  if (seen === "" || compareVersions(seen, params.target) !== 0)
    return yield* StepHandler.fail(
      `The new appliance shows ${seen === "" ? "no version" : seen}, not ${params.target}: install the packages /appliance > Updates offers until it runs ${params.target}, then approve again with the version shown on /appliance > Status > Basics (MIGRATE-6).`,
      evidence
    )
  return evidence
})

// ---------------------------------------------------------------- MIGRATE-2

/**
 * MIGRATE-2: the backup file recorded by the backup step is unchanged.
 *
 * @since 0.3.0
 * @category handlers
 */
export const verifyBackup = Effect.fn(MigrationSteps.VerifyBackup.name)(function* (
  params: Params<typeof MigrationSteps.VerifyBackup>,
  ctx: StepHandler.StepContext
) {
  const e = Option.getOrUndefined(ctx.history.evidenceOf(params.backupStep))
  if (e === undefined || typeof e["path"] !== "string" || typeof e["sha256"] !== "string")
    return yield* StepHandler.fail(
      `No backup recorded by step ${params.backupStep} in this run: run the backup step again (MIGRATE-2).`
    )
  const path = e["path"]
  const bytes = yield* Effect.tryPromise({
    try: () => fs.readFile(path),
    catch: (x) =>
      StepHandler.fail(
        `The backup file ${path} cannot be read (${describe(x)}): it must stay in a safe place until the new appliance is restored. Take a new backup (MIGRATE-2).`
      )
  })
  const sha256 = createHash("sha256").update(bytes).digest("hex")
  const evidence = {
    path,
    bytes: bytes.byteLength,
    sha256,
    recordedSha256: e["sha256"],
    version: e["version"] ?? null,
    passwordProtected: e["passwordProtected"] ?? null
  }
  if (bytes.byteLength === 0 || sha256 !== e["sha256"] || bytes.byteLength !== e["bytes"])
    return yield* StepHandler.fail(
      `The backup file ${path} changed since it was downloaded (SHA-256 ${sha256}, recorded ${String(e["sha256"])}): take a new backup (MIGRATE-2).`,
      evidence
    )
  return evidence
})

// ---------------------------------------------------------------- MIGRATE-3…5

/**
 * MIGRATE-3: the certificates package's bundle check, with the leaf the old
 * box serves as the expected one.
 *
 * @since 0.3.0
 * @category handlers
 */
export const exportedBundle = Effect.fn(MigrationSteps.ExportedBundle.name)(function* (
  params: Params<typeof MigrationSteps.ExportedBundle>
) {
  const config = yield* HandlerConfig
  const served = yield* probeServed(
    params,
    (message) =>
      `Cannot read the certificate the old appliance serves (${message}): the exported file cannot be compared with it.`
  )
  const evidence = yield* Steps.checkBundleFile(
    { path: params.path, siteFqdn: params.siteFqdn, leafSha256: served.leafSha256 },
    { bundlePassphrase: config.bundlePassphrase }
  )
  return { ...evidence, servedByOldSha256: served.leafSha256 }
})

/**
 * MIGRATE-5: the default chosen among the bundle and the other
 * certificates, and served by the new box.
 *
 * @since 0.3.0
 * @category handlers
 */
export const defaultCertificate = Effect.fn(MigrationSteps.DefaultCertificate.name)(function* (
  params: Params<typeof MigrationSteps.DefaultCertificate>
) {
  const { path, siteFqdn } = params
  const text = yield* Effect.tryPromise({
    try: () => fs.readFile(path, "latin1"),
    catch: () => StepHandler.fail(`The bundle ${path} cannot be read: export it again (MIGRATE-3).`)
  })
  const certError = (e: { readonly message: string }) => StepHandler.fail(e.message)
  const parse = (pem: string) => Certificate.parsePem(pem).pipe(Effect.mapError(certError))
  const candidates: Array<DefaultCertificate.Candidate> = [
    { label: `exported bundle ${path}`, chain: yield* parse(text) }
  ]
  for (const o of params.others ?? []) candidates.push({ label: o.label, chain: yield* parse(o.chainPem) })
  const trustAnchors = params.trustAnchorsPem === undefined ? undefined : yield* parse(params.trustAnchorsPem)
  const choice = yield* Effect.either(
    DefaultCertificate.chooseDefault(candidates, siteFqdn, trustAnchors === undefined ? {} : { trustAnchors })
  )
  if (Either.isLeft(choice))
    return yield* StepHandler.fail(
      `MIGRATE-5: no certificate can be made default without warnings — ${choice.left.message} Warnings block: do not select it; escalate to vendor support.`,
      { candidates: candidates.map((c) => c.label) }
    )
  const chosen = choice.right.chosen
  const chosenSha = chosen.report.leaf?.sha256
  const served = yield* probeServed(
    params,
    (message) => `Cannot probe what the new appliance serves (${message}): check its address and retry.`
  )
  const findings = TlsProbe.compare(served.chain, { chain: chosen.candidate.chain })
  const evidence = {
    chosen: chosen.candidate.label,
    chosenLeafSha256: chosenSha ?? null,
    issuedToSite: chosen.issuedToSite,
    servedLeafSha256: served.leafSha256,
    servedChain: served.chain.map((c) => c.sha256),
    findings: findings.map((f) => ({ code: f.code, severity: f.severity, message: f.message }))
  }
  if (served.leafSha256 !== chosenSha)
    return yield* StepHandler.fail(
      `The new appliance serves ${served.chain[0]?.label ?? "no certificate"} for ${siteFqdn}, not the chosen "${chosen.candidate.label}": import it and select it as default on /appliance > Security > Certificates (MIGRATE-4, MIGRATE-5).`,
      evidence
    )
  if (findings.length > 0)
    return yield* StepHandler.fail(
      `The new appliance serves the chosen certificate, but: ${findings.map((f) => f.message).join(" ")}`,
      evidence
    )
  return evidence
})

// ---------------------------------------------------------------- MIGRATE-7

/**
 * MIGRATE-7: the old API account works on the new box, healthy, on the old version.
 *
 * @since 0.3.0
 * @category handlers
 */
export const restored = Effect.fn(MigrationSteps.Restored.name)(function* (
  params: Params<typeof MigrationSteps.Restored>,
  ctx: StepHandler.StepContext
) {
  const { old: oldId, restoredClient: restoredId } = params
  const backup = Option.getOrUndefined(ctx.history.evidenceOf(params.backupStep))
  const oldH = yield* health(oldId)
  const c = yield* client(restoredId)
  const info = yield* Effect.either(c.apiInfo)
  if (Either.isLeft(info))
    return yield* StepHandler.fail(
      `The old appliance's API account does not work on the new appliance (${info.left.message}): the settings are not restored yet. Restore the backup on the new /login (Management > Software > Restore settings) and approve again.`,
      { restoredClient: restoredId, reason: reasonOf(info.left) }
    )
  const h = yield* c.health
  const evidence = {
    newGuid: h.applianceGuid,
    oldGuid: oldH.applianceGuid,
    version: h.version,
    oldVersion: oldH.version,
    healthy: h.healthy,
    backup: backup === undefined ? null : (backup["path"] ?? null)
  }
  if (h.applianceGuid === oldH.applianceGuid)
    return yield* StepHandler.fail(
      `The connection "${restoredId}" reaches the old appliance (same GUID): point it at the new appliance's own address with the old API account.`,
      evidence
    )
  if (!h.healthy)
    return yield* StepHandler.fail(
      `The new appliance answers unhealthy after the restore: ${h.errorMessage ?? "no detail"}. Check /appliance > Status.`,
      evidence
    )
  if (h.version !== oldH.version)
    return yield* StepHandler.fail(
      `The new appliance runs ${h.version} and the old one ${oldH.version}: restore onto the same version (MIGRATE-6).`,
      evidence
    )
  return evidence
})

/**
 * MIGRATE-7: the new box answers like the old one.
 *
 * @since 0.3.0
 * @category handlers
 */
export const compareAppliances = Effect.fn(MigrationSteps.CompareAppliances.name)(function* (
  params: Params<typeof MigrationSteps.CompareAppliances>
) {
  const oldC = yield* client(params.old)
  const newC = yield* client(params.restoredClient)
  const [oldH, newH] = yield* Effect.all([oldC.health, newC.health])
  const [oldInfo, newInfo] = yield* Effect.all([oldC.apiInfo, newC.apiInfo])
  const [oldJc, newJc] = yield* Effect.all([Stream.runCount(oldC.jumpClients()), Stream.runCount(newC.jumpClients())])
  const [oldJp, newJp] = yield* Effect.all([Stream.runCount(oldC.jumpoints()), Stream.runCount(newC.jumpoints())])
  const perms = (i: typeof oldInfo) => JSON.stringify(Object.entries(i.permissions).sort())
  const problems: Array<string> = []
  if (oldH.version !== newH.version) problems.push(`product version ${newH.version} ≠ ${oldH.version}`)
  if (oldJc !== newJc) problems.push(`${newJc} Jump Client(s) ≠ ${oldJc}`)
  if (oldJp !== newJp) problems.push(`${newJp} Jumpoint(s) ≠ ${oldJp}`)
  if (perms(oldInfo) !== perms(newInfo)) problems.push("the API account's permissions differ")
  if (oldInfo.product !== newInfo.product) problems.push(`product ${newInfo.product} ≠ ${oldInfo.product}`)
  const summary = (h: typeof oldH, jumpClients: number, jumpoints: number, info: typeof oldInfo) => ({
    version: h.version,
    jumpClients: Number(jumpClients),
    jumpoints: Number(jumpoints),
    product: info.product
  })
  const evidence = {
    old: summary(oldH, oldJc, oldJp, oldInfo),
    new: summary(newH, newJc, newJp, newInfo),
    apiAccountWorks: true
  }
  if (problems.length > 0)
    return yield* StepHandler.fail(
      `The new appliance does not answer like the old one: ${problems.join("; ")}. Restore the latest backup again (MIGRATE-7) before the cut-over.`,
      evidence
    )
  return evidence
})

/**
 * MIGRATE-7: the attestation given at the gate must be `changed`.
 *
 * @since 0.3.0
 * @category handlers
 */
export const credentialsChanged = Effect.fn(MigrationSteps.CredentialsChanged.name)(function* (
  _params: Params<typeof MigrationSteps.CredentialsChanged>,
  ctx: StepDef.GateContext<{ readonly attestation: string; readonly vault: string }>
) {
  const answer = Option.getOrUndefined(ctx.history.answerOf(ctx.step.id))
  const attestation = (ctx.evidence?.attestation ?? "").toLowerCase()
  const evidence = {
    attestedBy: answer?._tag === "Approved" ? answer.by : "",
    attestation,
    vault: ctx.evidence?.vault ?? null,
    verifiableByApi: false,
    note: "No API can tell whether the initial admin / password login was changed: this attestation is the check."
  }
  if (attestation !== "changed")
    return yield* StepHandler.fail(
      'MIGRATE-7: the change of the initial admin / password credentials was not attested (evidence "attestation" must be "changed"). Change the admin password on the new appliance, then approve the gate again.',
      evidence
    )
  return evidence
})

// ---------------------------------------------------------------- MIGRATE-8

const observation = (c: TrafficSwitch.SwitchCheck) => ({
  servedBy: c.observation.servedBy ?? null,
  siteProbe: c.observation.siteProbe,
  members: c.observation.members.map((m) => ({
    id: m.id,
    reachable: m.reachable,
    version: m.version ?? null,
    healthy: m.healthy ?? null
  })),
  problems: [...c.problems]
})

/**
 * MIGRATE-8: the switch applied (by an automated adapter, or by the person
 * at the gate) and what the site address answers.
 *
 * @since 0.3.0
 * @category handlers
 */
export const cutover = Effect.fn(MigrationSteps.Cutover.name)(function* (
  params: Params<typeof MigrationSteps.Cutover>
) {
  const { pair } = params
  const traffic = yield* TrafficSwitch.TrafficSwitch
  const applied = yield* traffic.apply(pair, pair.primary, pair.backup)
  const o = yield* traffic.observe(pair)
  return {
    method: pair.traffic.method,
    automated: applied.automated,
    servedBy: o.servedBy ?? null,
    siteProbe: o.siteProbe,
    ...(yield* proberFigures)
  }
})

/**
 * MIGRATE-8: holds once the site address is answered by the new box only.
 *
 * @since 0.3.0
 * @category handlers
 */
export const siteServedByNew = Effect.fn(MigrationSteps.SiteServedByNew.name)(function* (params: {
  readonly pair: Pair.Pair
}) {
  const { pair } = params
  const c = yield* Effect.flatMap(TrafficSwitch.TrafficSwitch, (t) => t.verify(pair, pair.primary, pair.backup))
  const observed = observation(c)
  return c.holds
    ? { holds: true, observed, evidence: { ...observed, ...(yield* proberFigures) } }
    : { holds: false, observed }
})

// ---------------------------------------------------------------- MIGRATE-9

/**
 * MIGRATE-9: the site is still served by the new box only.
 *
 * @since 0.3.0
 * @category handlers
 */
export const confirmInProduction = Effect.fn(MigrationSteps.ConfirmInProduction.name)(function* (params: {
  readonly pair: Pair.Pair
}) {
  const { pair } = params
  const c = yield* Effect.flatMap(TrafficSwitch.TrafficSwitch, (t) => t.verify(pair, pair.primary, pair.backup))
  const evidence = { ...observation(c), ...(yield* proberFigures) }
  if (!c.holds)
    return yield* StepHandler.fail(
      `The site is not served by ${pair.backup.id} only: ${c.problems.join(" ")} Do not decommission ${pair.primary.id}.`,
      evidence
    )
  return evidence
})

/** The old box no longer answers the site's API account; the new one still does. */
const oldNoLongerAnswers = (what: string) => (params: typeof MigrationSteps.OldGoneParams.Type) =>
  Effect.gen(function* () {
    const r = yield* Effect.either(Effect.flatMap(client(params.old), (c) => c.apiInfo))
    const n = yield* Effect.either(health(params.new))
    const evidence = {
      oldAnswer: Either.isLeft(r) ? reasonOf(r.left) : "answers",
      newHealthy: Either.isRight(n) ? n.right.healthy : false
    }
    if (Either.isRight(r))
      return yield* StepHandler.fail(
        `${params.old} still answers the site's API account: it was not ${what}. Do it, then approve again (MIGRATE-9).`,
        evidence
      )
    if (!isGone(r.left))
      return yield* StepHandler.fail(
        `${params.old} answers with an unexpected error (${r.left.message}): check it by hand.`,
        evidence
      )
    if (Either.isLeft(n) || !n.right.healthy)
      return yield* StepHandler.fail(
        `The new appliance does not answer healthy (${Either.isLeft(n) ? n.left.message : n.right.errorMessage}): check it before going on.`,
        evidence
      )
    return evidence
  })

/**
 * MIGRATE-9 (virtual): the deleted box no longer answers the site's API account.
 *
 * @since 0.3.0
 * @category handlers
 */
export const oldDeleted = Effect.fn(MigrationSteps.OldDeleted.name)(oldNoLongerAnswers("deleted"))

/**
 * MIGRATE-9 (physical): the reset box no longer answers the site's API account.
 *
 * @since 0.3.0
 * @category handlers
 */
export const oldReset = Effect.fn(MigrationSteps.OldReset.name)(oldNoLongerAnswers("reset to factory defaults"))

/**
 * MIGRATE-9 (physical): the old box's address no longer answers the probe.
 *
 * @since 0.3.0
 * @category handlers
 */
export const oldPoweredOff = Effect.fn(MigrationSteps.OldPoweredOff.name)(function* (
  params: Params<typeof MigrationSteps.OldPoweredOff>
) {
  const url = params.oldUrl
  const r = yield* Effect.either(probe({ url, timeoutMillis: 5_000 }))
  const evidence = { url, probe: Either.isLeft(r) ? reasonOf(r.left) : `HTTP ${r.right.status}` }
  if (Either.isRight(r))
    return yield* StepHandler.fail(
      `${params.old} still answers on ${url} (HTTP ${r.right.status}): power it off, then approve again.`,
      evidence
    )
  return evidence
})

/**
 * MIGRATE-9 (physical): the tracking number given at the gate is the record.
 *
 * @since 0.3.0
 * @category handlers
 */
export const returnShipped = Effect.fn(MigrationSteps.ReturnShipped.name)(function* () {
  return {
    confirmedByOperator: true,
    verifiableByApi: false,
    note: "No API follows a parcel: the tracking number given at the gate is the record."
  }
})

/**
 * The implementations of every `MigrationSteps` definition.
 *
 * @since 0.3.0
 * @category handlers
 */
export const implementations = [
  MigrationSteps.NewInstalled.implement({ run: newInstalled }),
  MigrationSteps.CheckNewBox.implement({ run: checkNewBox }),
  MigrationSteps.NewBoxClock.implement({ run: newBoxClock }),
  MigrationSteps.CheckVersionsSeen.implement({ run: checkVersionsSeen }),
  // kept for journals of plans made before CheckNewBox / CheckVersionsSeen
  MigrationSteps.CheckNewAppliance.implement({ run: checkNewAppliance }),
  MigrationSteps.CheckVersions.implement({ run: checkVersions }),
  MigrationSteps.EulaAccepted.implement({ run: eulaAccepted }),
  MigrationSteps.SoftwareStarted.implement({ run: softwareStarted }),
  MigrationSteps.NewSoftwareBack.implement({ poll: newSoftwareBack }),
  MigrationSteps.NewSoftwareInstalled.implement({ run: newSoftwareInstalled }),
  MigrationSteps.VerifyBackup.implement({ run: verifyBackup }),
  MigrationSteps.ExportedBundle.implement({ run: exportedBundle }),
  MigrationSteps.DefaultCertificate.implement({ run: defaultCertificate }),
  MigrationSteps.Restored.implement({ run: restored }),
  MigrationSteps.CompareAppliances.implement({ run: compareAppliances }),
  MigrationSteps.CredentialsChanged.implement({ run: credentialsChanged }),
  MigrationSteps.Cutover.implement({ run: cutover }),
  MigrationSteps.SiteServedByNew.implement({ poll: siteServedByNew }),
  MigrationSteps.ConfirmInProduction.implement({ run: confirmInProduction }),
  MigrationSteps.OldDeleted.implement({ run: oldDeleted }),
  MigrationSteps.OldReset.implement({ run: oldReset }),
  MigrationSteps.OldPoweredOff.implement({ run: oldPoweredOff }),
  MigrationSteps.ReturnShipped.implement({ run: returnShipped })
] as const

/**
 * The registry layer of the `migration/…` handlers. Merge it with core's
 * (`CoreHandlers.layer`) and the certificates' (`Steps.layer`): the plan
 * also uses `CoreSteps` and `Steps.BundleFile` steps. A `SiteProber` in the
 * context, when there is one, is captured too.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  config: Config = {}
): Layer.Layer<StepHandler.StepHandlers, never, ApplianceApi.ApplianceApi | TrafficSwitch.TrafficSwitch> =>
  StepHandler.layer(...implementations).pipe(Layer.provide(Layer.succeed(HandlerConfig, config)))
