/**
 * The step definitions of the certificates package (`StepDef`), their plan
 * step builders and their handlers, so planners can replace manual
 * placeholders with verified checks:
 *
 * - {@link CheckCertificateStore} (CLIENT-3, blocking Check): `certificateStoreCheck`;
 * - {@link BundleFile} (ManualGate): `exportBundleGate` (PREP-2 / MIGRATE-3) and
 *   `importBundleGate` (MIGRATE-4), told apart by the params' `operation`;
 * - {@link ChooseDefaultCertificate} (MIGRATE-5, ManualGate): `defaultCertificateGate`;
 * - {@link ValidateChain} (Check): `chainCheck`;
 * - {@link CheckServedCertificate} (Check, TLS probe): `servedCertificateCheck`.
 *
 * A planner that needs the same gate with a handler of its own (e.g. the
 * migration's MIGRATE-3 export, verified against what the old box serves)
 * takes the gate's meta (`exportBundleMeta`, `defaultCertificateMeta`), the
 * definition's evidence (`BundleFile.evidence`) and the handler function
 * (`checkBundleFile`) from here instead of copying them.
 *
 * Step params are JSON and journaled: they carry certificates (public) as
 * PEM, never a key or a passphrase. A bundle passphrase reaches the handlers
 * only through `layer({ bundlePassphrase })`, as a `Redacted` value.
 *
 * @since 0.1.0
 */
import { GateEvidence, type Plan, StepDef, StepHandler } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as fs from "node:fs/promises"
import * as Bundle from "./Bundle.js"
import * as Certificates from "./Certificate.js"
import * as CertificateStore from "./CertificateStore.js"
import * as Chain from "./Chain.js"
import * as DefaultCertificate from "./DefaultCertificate.js"
import { CertificateError } from "./CertificateError.js"
import type * as Finding from "./Finding.js"
import * as PrivateKeys from "./PrivateKey.js"
import * as TlsProbe from "./TlsProbe.js"

const OptionalDate = Schema.optional(Schema.String)

// ---------------------------------------------------------------------------
// params
// ---------------------------------------------------------------------------

/**
 * Params of {@link CheckCertificateStore}.
 *
 * @since 0.1.0
 * @category models
 */
export const CertificateStoreParams = Schema.Struct({
  clientTrustPem: Schema.String,
  servedChainPem: Schema.String,
  availablePem: Schema.optional(Schema.String),
  /** ISO date clients must trust the chain at (e.g. the end of the maintenance window). */
  at: OptionalDate
})

/**
 * Params of {@link BundleFile}.
 *
 * @since 0.1.0
 * @category models
 */
export const BundleFileParams = Schema.Struct({
  path: Schema.String,
  siteFqdn: Schema.optional(Schema.String),
  /** Expected leaf fingerprint, when known (e.g. read by a TLS probe of the old appliance). */
  leafSha256: Schema.optional(Schema.String),
  /**
   * What the person does with the bundle: `export` it (default; evidence: the
   * file and where the passphrase is kept) or `import` it (evidence: the
   * imported certificate's name).
   *
   * @since 0.3.0
   */
  operation: Schema.optional(Schema.Literal("export", "import"))
})

/**
 * Params of {@link ChooseDefaultCertificate}.
 *
 * @since 0.1.0
 * @category models
 */
export const DefaultCertificateParams = Schema.Struct({
  siteFqdn: Schema.String,
  candidates: Schema.Array(Schema.Struct({ label: Schema.String, chainPem: Schema.String })),
  /** Where the new appliance serves HTTPS, to confirm it serves the chosen certificate. */
  host: Schema.optional(Schema.String),
  port: Schema.optional(Schema.Number),
  windowStart: OptionalDate,
  windowEnd: OptionalDate
})

/**
 * Params of {@link ValidateChain}.
 *
 * @since 0.1.0
 * @category models
 */
export const ValidateChainParams = Schema.Struct({
  chainPem: Schema.String,
  siteFqdn: Schema.optional(Schema.String),
  trustAnchorsPem: Schema.optional(Schema.String),
  windowStart: OptionalDate,
  windowEnd: OptionalDate
})

/**
 * Params of {@link CheckServedCertificate}.
 *
 * @since 0.1.0
 * @category models
 */
export const ServedCertificateParams = Schema.Struct({
  host: Schema.String,
  port: Schema.Number,
  servername: Schema.optional(Schema.String),
  expectedLeafSha256: Schema.optional(Schema.String),
  siteFqdn: Schema.optional(Schema.String),
  trustAnchorsPem: Schema.optional(Schema.String)
})

// ---------------------------------------------------------------------------
// definitions
// ---------------------------------------------------------------------------

/**
 * CLIENT-3: deployed clients will trust the chain the appliance serves after
 * the upgrade.
 *
 * @since 0.3.0
 * @category definitions
 */
export const CheckCertificateStore = StepDef.check("certificates.certificate-store", {
  params: CertificateStoreParams
})

/**
 * The evidence of a bundle gate: for an export, the file (it must exist on
 * the machine running the plan, whose handler reads it), where the
 * passphrase is kept and, when the plan knows the served leaf, its
 * fingerprint; for an import, the imported certificate's name.
 */
const bundleEvidence = (p: typeof BundleFileParams.Type): Readonly<Record<string, GateEvidence.Field<unknown>>> =>
  p.operation === "import"
    ? { certificate: GateEvidence.text("Friendly name of the imported certificate") }
    : {
        file: GateEvidence.path("Path of the exported file", { mustExist: true }),
        "passphrase stored in": GateEvidence.text("Where the passphrase is kept (not the passphrase)"),
        ...(p.leafSha256 === undefined
          ? {}
          : {
              fingerprint: GateEvidence.sha256("SHA-256 fingerprint of the exported certificate", {
                expected: p.leafSha256
              })
            })
      }

/**
 * PREP-2 / MIGRATE-3 / MIGRATE-4: a person exported (or imported) the site
 * certificate with its encrypted private key and chain; the handler checks
 * the file.
 *
 * @since 0.3.0
 * @category definitions
 */
export const BundleFile = StepDef.gate("certificates.bundle-file", {
  params: BundleFileParams,
  evidence: bundleEvidence
})

/**
 * MIGRATE-5: a person selected as default the certificate issued to the
 * site FQDN without warnings; the handler re-checks the choice and, given
 * `host`/`port`, probes that the appliance serves it.
 *
 * @since 0.3.0
 * @category definitions
 */
export const ChooseDefaultCertificate = StepDef.gate("certificates.default-certificate", {
  params: DefaultCertificateParams
})

/**
 * A chain check (names, validity at the window, completeness).
 *
 * @since 0.3.0
 * @category definitions
 */
export const ValidateChain = StepDef.check("certificates.validate-chain", { params: ValidateChainParams })

/**
 * A TLS probe: the appliance serves the expected certificate.
 *
 * @since 0.3.0
 * @category definitions
 */
export const CheckServedCertificate = StepDef.check("certificates.served-certificate", {
  params: ServedCertificateParams
})

/**
 * Every definition of this module.
 *
 * @since 0.3.0
 * @category definitions
 */
export const all: ReadonlyArray<StepDef.Any> = [
  CheckCertificateStore,
  BundleFile,
  ChooseDefaultCertificate,
  ValidateChain,
  CheckServedCertificate
]

// ---------------------------------------------------------------------------
// builders
// ---------------------------------------------------------------------------

/**
 * Options of the step builders: the step id (each builder has a default)
 * and target.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepOptions {
  readonly id?: string | undefined
  readonly target?: string | undefined
}

/**
 * Options of the gate builders: besides id and target, notes and lines put
 * before the instructions (e.g. which appliance's page to open).
 *
 * @since 0.3.0
 * @category models
 */
export interface GateOptions extends StepOptions {
  readonly intro?: ReadonlyArray<string> | undefined
  readonly notes?: ReadonlyArray<string> | undefined
}

const meta = (options: StepOptions, id: string, title: string, rules: ReadonlyArray<string>, seconds: number) => ({
  id: options.id ?? id,
  title,
  rules,
  ...(options.target === undefined ? {} : { target: options.target }),
  estimatedSeconds: seconds
})

const gateMeta = (
  options: GateOptions,
  id: string,
  title: string,
  rules: ReadonlyArray<string>,
  seconds: number,
  instructions: ReadonlyArray<string>
): StepDef.GateMeta => ({
  ...meta(options, id, title, rules, seconds),
  instructions: [...(options.intro ?? []), ...instructions],
  ...(options.notes === undefined ? {} : { notes: options.notes })
})

/**
 * CLIENT-3 as a blocking check: deployed clients will trust the chain the
 * appliance serves after the upgrade.
 *
 * @since 0.1.0
 * @category constructors
 */
export const certificateStoreCheck = (
  params: typeof CertificateStoreParams.Type,
  options: StepOptions = {}
): Plan.Check =>
  CheckCertificateStore.check(
    meta(
      options,
      "client-certificate-stores",
      "Deployed clients will trust the certificate served after the upgrade",
      ["CLIENT-3"],
      1
    ),
    params
  )

/**
 * The meta of the PREP-2 / MIGRATE-3 export gate (title, rule, instructions):
 * for a planner that verifies the export with a handler of its own.
 *
 * @since 0.3.0
 * @category constructors
 */
export const exportBundleMeta = (
  params: { readonly path: string },
  options: GateOptions & { readonly rule?: "PREP-2" | "MIGRATE-3" | undefined } = {}
): StepDef.GateMeta =>
  gateMeta(
    options,
    "export-certificates",
    "Export the site certificate with its private key and chain",
    [options.rule ?? "PREP-2"],
    300,
    [
      "Log into the appliance's /appliance interface and open Security > Certificates.",
      "Tick the certificate assigned to the active IP address and choose Export from the menu (exporting does not remove it).",
      "Include the certificate, the private key and the certificate chain; set a passphrase on the private key.",
      `Save the file as ${params.path} and keep the passphrase apart from it (e.g. in the password vault).`
    ]
  )

/**
 * PREP-2 / MIGRATE-3 as a manual gate: export the certificate with key and
 * chain from `/appliance`, then the handler checks the file.
 *
 * @since 0.1.0
 * @category constructors
 */
export const exportBundleGate = (
  params: Omit<typeof BundleFileParams.Type, "operation">,
  options: GateOptions & { readonly rule?: "PREP-2" | "MIGRATE-3" | undefined } = {}
): Plan.ManualGate => BundleFile.gate(exportBundleMeta(params, options), params)

/**
 * MIGRATE-4 as a manual gate: import the bundle on the new appliance.
 *
 * @since 0.1.0
 * @category constructors
 */
export const importBundleGate = (
  params: Omit<typeof BundleFileParams.Type, "operation">,
  options: GateOptions = {}
): Plan.ManualGate =>
  BundleFile.gate(
    gateMeta(options, "import-certificates", "Import the site certificate on the new appliance", ["MIGRATE-4"], 300, [
      "Log into the new appliance's /appliance interface and open Security > Certificates.",
      `Under Certificate Installation choose Import, upload ${params.path} and enter its passphrase.`,
      "Check that the imported certificate and its chain are listed."
    ]),
    { ...params, operation: "import" }
  )

/**
 * The meta of the MIGRATE-5 default-certificate gate: for a planner that
 * verifies the choice with a handler of its own.
 *
 * @since 0.3.0
 * @category constructors
 */
export const defaultCertificateMeta = (
  params: { readonly siteFqdn: string },
  options: GateOptions = {}
): StepDef.GateMeta =>
  gateMeta(options, "default-certificate", "Select the default certificate of the new appliance", ["MIGRATE-5"], 120, [
    "On the new appliance's /appliance > Security > Certificates, find the certificate whose Issued to is " +
      `${params.siteFqdn}.`,
    "It must show no warnings. If it shows any, stop and escalate to vendor support.",
    "Select it as the default certificate."
  ])

/**
 * MIGRATE-5 as a manual gate: select as default the certificate issued to the
 * site FQDN without warnings; the handler re-checks the choice and, given
 * `host`/`port`, probes that the appliance serves it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultCertificateGate = (
  params: typeof DefaultCertificateParams.Type,
  options: GateOptions = {}
): Plan.ManualGate => ChooseDefaultCertificate.gate(defaultCertificateMeta(params, options), params)

/**
 * A chain check (names, validity at the window, completeness).
 *
 * @since 0.1.0
 * @category constructors
 */
export const chainCheck = (
  params: typeof ValidateChainParams.Type,
  options: StepOptions & { readonly rules?: ReadonlyArray<string> | undefined } = {}
): Plan.Check =>
  ValidateChain.check(
    meta(options, "certificate-chain", "The certificate chain is valid for the site", options.rules ?? [], 1),
    params
  )

/**
 * A TLS probe check: the appliance serves the expected certificate.
 *
 * @since 0.1.0
 * @category constructors
 */
export const servedCertificateCheck = (
  params: typeof ServedCertificateParams.Type,
  options: StepOptions & { readonly rules?: ReadonlyArray<string> | undefined } = {}
): Plan.Check =>
  CheckServedCertificate.check(
    meta(options, "served-certificate", "The appliance serves the expected certificate", options.rules ?? [], 5),
    params
  )

// ---------------------------------------------------------------------------
// handlers
// ---------------------------------------------------------------------------

const certs = (pem: string | undefined) =>
  pem === undefined || pem.trim() === "" ? Effect.succeed([]) : Certificates.parsePem(pem)

const stepError = (e: { readonly message: string }) => StepHandler.fail(e.message)

/** A `CertificateError` (unreadable PEM, bad chain input) fails the step with its message. */
const certificateErrorFails = <A, E, R>(
  self: Effect.Effect<A, E | CertificateError, R>
): Effect.Effect<A, Exclude<E, CertificateError> | StepHandler.StepError, R> =>
  Effect.mapError(self, (e) => (e instanceof CertificateError ? stepError(e) : e)) as never

const summary = (findings: ReadonlyArray<Finding.Finding>) =>
  findings.map((f) => ({ code: f.code, severity: f.severity, message: f.message }))

const failOnBlocking = (findings: ReadonlyArray<Finding.Finding>, evidence: StepHandler.Evidence) => {
  const blocking = findings.filter((f) => f.severity === "blocking")
  return blocking.length > 0
    ? Effect.fail(StepHandler.fail(blocking.map((f) => `${f.code}: ${f.message}`).join(" "), evidence))
    : Effect.succeed(evidence)
}

const window = (start: string | undefined, end: string | undefined) =>
  start !== undefined && end !== undefined ? { start: new Date(start), end: new Date(end) } : undefined

/**
 * Options of the handler layer.
 *
 * @since 0.1.0
 * @category models
 */
export interface LayerOptions {
  /** Lets {@link checkBundleFile} decrypt the key and check it matches the leaf. */
  readonly bundlePassphrase?: Redacted.Redacted<string> | undefined
}

/**
 * CLIENT-3: the verdict of `CertificateStore.check`; fails with the
 * certificates to distribute (also in the evidence, as PEM).
 *
 * @since 0.3.0
 * @category handlers
 */
export const checkCertificateStore = Effect.fn(CheckCertificateStore.name)(function* (
  params: typeof CertificateStoreParams.Type
) {
  const verdict = yield* CertificateStore.check({
    clientTrust: yield* certs(params.clientTrustPem),
    servedChain: yield* certs(params.servedChainPem),
    available: yield* certs(params.availablePem),
    at: params.at === undefined ? undefined : new Date(params.at)
  })
  const evidence = {
    trusted: verdict.trusted,
    anchor: verdict.anchor?.sha256,
    toDistribute: verdict.toDistribute.map((c) => ({ subject: c.subject, sha256: c.sha256, pem: c.pem })),
    findings: summary(verdict.findings)
  }
  return yield* failOnBlocking(verdict.findings, evidence)
}, certificateErrorFails)

/**
 * The bundle file exists, holds an encrypted key and a chain that validates
 * (covering the FQDN and being the expected leaf, when given); with a
 * passphrase, the key is decrypted and must match the leaf.
 *
 * @since 0.3.0
 * @category handlers
 */
export const checkBundleFile = Effect.fn(BundleFile.name)(function* (
  params: Pick<typeof BundleFileParams.Type, "path" | "siteFqdn" | "leafSha256">,
  options: LayerOptions = {}
) {
  const { path } = params
  const text = yield* Effect.tryPromise({
    try: () => fs.readFile(path, "latin1"),
    catch: () => StepHandler.fail(`The bundle file ${path} cannot be read: export it again (PREP-2, MIGRATE-3).`)
  })
  const encrypted = PrivateKeys.isEncryptedPem(text)
  if (encrypted === undefined)
    return yield* StepHandler.fail(`${path} holds no private key: export again with the private key included.`)
  if (!encrypted)
    return yield* StepHandler.fail(`${path} holds an unencrypted private key: export again with a passphrase.`)
  const bundle =
    options.bundlePassphrase === undefined
      ? undefined
      : yield* Bundle.decode(text, options.bundlePassphrase).pipe(Effect.mapError(stepError))
  const chain = bundle?.chain ?? (yield* Certificates.parsePem(text).pipe(Effect.mapError(stepError)))
  const report = yield* Chain.validateChain(chain, { siteFqdn: params.siteFqdn, privateKey: bundle?.privateKey }).pipe(
    Effect.mapError(stepError)
  )
  const leaf = report.leaf
  if (params.leafSha256 !== undefined && leaf?.sha256 !== Certificates.normalizeFingerprint(params.leafSha256))
    return yield* StepHandler.fail(
      `${path} holds ${leaf?.label ?? "no certificate"}, not the certificate served by the site (SHA-256 ${params.leafSha256}). Export the certificate bound to the active IP.`
    )
  return yield* failOnBlocking(report.findings, {
    path,
    leafSha256: leaf?.sha256,
    chainSha256: report.chain.map((c) => c.sha256),
    keyEncrypted: true,
    keyChecked: bundle !== undefined,
    findings: summary(report.findings)
  })
})

/**
 * MIGRATE-5: `chooseDefault` over the candidates; with `host`/`port`, the
 * appliance must now serve the chosen leaf.
 *
 * @since 0.3.0
 * @category handlers
 */
export const chooseDefaultCertificate = Effect.fn(ChooseDefaultCertificate.name)(function* (
  params: typeof DefaultCertificateParams.Type
) {
  const candidates = yield* Effect.forEach(params.candidates, (c) =>
    Effect.map(certs(c.chainPem), (chain) => ({ label: c.label, chain }))
  )
  const choice = yield* DefaultCertificate.chooseDefault(candidates, params.siteFqdn, {
    window: window(params.windowStart, params.windowEnd)
  })
  const chosen = choice.chosen.report.leaf?.sha256
  if (params.host !== undefined && params.port !== undefined) {
    const served = yield* TlsProbe.probeTls({ host: params.host, port: params.port, servername: params.siteFqdn })
    if (served.leafSha256 !== chosen)
      return yield* StepHandler.fail(
        `The appliance still serves ${served.chain[0]?.label} for ${params.siteFqdn}, not "${choice.chosen.candidate.label}". Select it as default on /appliance > Security > Certificates (MIGRATE-5).`,
        { served: served.leafSha256, expected: chosen }
      )
  }
  return { chosen: choice.chosen.candidate.label, leafSha256: chosen }
}, certificateErrorFails)

/**
 * `validateChain`, failing on blocking findings.
 *
 * @since 0.3.0
 * @category handlers
 */
export const validateChain = Effect.fn(ValidateChain.name)(function* (params: typeof ValidateChainParams.Type) {
  const report = yield* Chain.validateChain(yield* certs(params.chainPem), {
    siteFqdn: params.siteFqdn,
    trustAnchors: yield* certs(params.trustAnchorsPem),
    window: window(params.windowStart, params.windowEnd)
  })
  return yield* failOnBlocking(report.findings, {
    chainSha256: report.chain.map((c) => c.sha256),
    findings: summary(report.findings)
  })
}, certificateErrorFails)

/**
 * `verifyServed` (TLS probe), failing on blocking findings.
 *
 * @since 0.3.0
 * @category handlers
 */
export const checkServedCertificate = Effect.fn(CheckServedCertificate.name)(function* (
  params: typeof ServedCertificateParams.Type
) {
  const result = yield* TlsProbe.verifyServed(
    { host: params.host, port: params.port, servername: params.servername ?? params.siteFqdn },
    { leafSha256: params.expectedLeafSha256 },
    { siteFqdn: params.siteFqdn, trustAnchors: yield* certs(params.trustAnchorsPem) }
  )
  return yield* failOnBlocking(result.findings, {
    leafSha256: result.served.leafSha256,
    chainSha256: result.served.chain.map((c) => c.sha256),
    findings: summary(result.findings)
  })
}, certificateErrorFails)

/**
 * The implementations of every definition of this module.
 *
 * @since 0.3.0
 * @category handlers
 */
export const implementations = (options: LayerOptions = {}) =>
  [
    CheckCertificateStore.implement({ run: checkCertificateStore }),
    BundleFile.implement({ run: (params) => checkBundleFile(params, options) }),
    ChooseDefaultCertificate.implement({ run: chooseDefaultCertificate }),
    ValidateChain.implement({ run: validateChain }),
    CheckServedCertificate.implement({ run: checkServedCertificate })
  ] as const

/**
 * The handlers as a `StepHandlers` layer (merge it with the others' using
 * `StepHandler.merge`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: LayerOptions = {}): Layer.Layer<StepHandler.StepHandlers> =>
  StepHandler.layer(...implementations(options))
