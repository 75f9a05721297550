/**
 * Plan steps and step handlers of the certificates package, so planners can
 * replace manual placeholders with verified checks:
 *
 * - `certificateStoreCheck` (CLIENT-3, blocking Check) → handler `certificates.certificate-store`;
 * - `exportBundleGate` (PREP-2 / MIGRATE-3, ManualGate) → handler `certificates.bundle-file`;
 * - `importBundleGate` (MIGRATE-4, ManualGate) → handler `certificates.bundle-file`;
 * - `defaultCertificateGate` (MIGRATE-5, ManualGate) → handler `certificates.default-certificate`;
 * - `chainCheck` (Check) → handler `certificates.validate-chain`;
 * - `servedCertificateCheck` (Check) → handler `certificates.served-certificate` (TLS probe).
 *
 * Step params are JSON and journaled: they carry certificates (public) as
 * PEM, never a key or a passphrase. A bundle passphrase reaches the handlers
 * only through `layer({ bundlePassphrase })`, as a `Redacted` value.
 *
 * @since 0.1.0
 */
import { Plan, StepHandler } from "@sra-upgrade/core"
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

/**
 * Handler names registered by `layer`.
 *
 * @since 0.1.0
 * @category models
 */
export const handlers = {
  certificateStore: "certificates.certificate-store",
  bundleFile: "certificates.bundle-file",
  defaultCertificate: "certificates.default-certificate",
  validateChain: "certificates.validate-chain",
  servedCertificate: "certificates.served-certificate"
} as const

const rules = (...ids: ReadonlyArray<string>) => ids.map((id) => Schema.decodeSync(Plan.RuleId)(id))

const OptionalDate = Schema.optional(Schema.String)

/**
 * Params of `certificates.certificate-store`.
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
 * Params of `certificates.bundle-file`.
 *
 * @since 0.1.0
 * @category models
 */
export const BundleFileParams = Schema.Struct({
  path: Schema.String,
  siteFqdn: Schema.optional(Schema.String),
  /** Expected leaf fingerprint, when known (e.g. read by a TLS probe of the old appliance). */
  leafSha256: Schema.optional(Schema.String)
})

/**
 * Params of `certificates.default-certificate`.
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
 * Params of `certificates.validate-chain`.
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
 * Params of `certificates.served-certificate`.
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

/** How a step of this package is run: by `handler`, with a copy of `params`. */
interface Run {
  readonly estimatedSeconds: number
  readonly handler: string
  readonly params: object
}

/** The fields every step of this package shares: id (`options.id`, else `id`) and target from `options`; idempotent. */
const base = (
  options: { readonly id?: string | undefined; readonly target?: string | undefined },
  id: string,
  title: string,
  ruleIds: ReadonlyArray<string>,
  run: Run
) => ({
  id: options.id ?? id,
  title,
  rules: rules(...ruleIds),
  ...(options.target === undefined ? {} : { target: options.target }),
  notes: [],
  estimatedSeconds: run.estimatedSeconds,
  handler: run.handler,
  params: { ...run.params },
  idempotent: true
})

/** A blocking check of this package. */
const blockingCheck = (...args: Parameters<typeof base>): Plan.Check =>
  new Plan.Check({ ...base(...args), severity: "blocking" })

/**
 * CLIENT-3 as a blocking check: deployed clients will trust the chain the
 * appliance serves after the upgrade.
 *
 * @since 0.1.0
 * @category constructors
 */
export const certificateStoreCheck = (
  params: typeof CertificateStoreParams.Type,
  options: { readonly id?: string; readonly target?: string } = {}
): Plan.Check =>
  blockingCheck(
    options,
    "client-certificate-stores",
    "Deployed clients will trust the certificate served after the upgrade",
    ["CLIENT-3"],
    { estimatedSeconds: 1, handler: handlers.certificateStore, params }
  )

/**
 * PREP-2 / MIGRATE-3 as a manual gate: export the certificate with key and
 * chain from `/appliance`, then the handler checks the file.
 *
 * @since 0.1.0
 * @category constructors
 */
export const exportBundleGate = (
  params: typeof BundleFileParams.Type,
  options: { readonly id?: string; readonly target?: string; readonly rule?: "PREP-2" | "MIGRATE-3" } = {}
): Plan.ManualGate =>
  new Plan.ManualGate({
    ...base(
      options,
      "export-certificates",
      "Export the site certificate with its private key and chain",
      [options.rule ?? "PREP-2"],
      { estimatedSeconds: 300, handler: handlers.bundleFile, params }
    ),
    instructions: [
      "Log into the appliance's /appliance interface and open Security > Certificates.",
      "Tick the certificate assigned to the active IP address and choose Export from the menu (exporting does not remove it).",
      "Include the certificate, the private key and the certificate chain; set a passphrase on the private key.",
      `Save the file as ${params.path} and keep the passphrase apart from it (e.g. in the password vault).`
    ],
    evidence: [
      new Plan.EvidenceField({ name: "file", description: "Path of the exported file" }),
      new Plan.EvidenceField({
        name: "passphrase stored in",
        description: "Where the passphrase is kept (not the passphrase)"
      })
    ]
  })

/**
 * MIGRATE-4 as a manual gate: import the bundle on the new appliance.
 *
 * @since 0.1.0
 * @category constructors
 */
export const importBundleGate = (
  params: typeof BundleFileParams.Type,
  options: { readonly id?: string; readonly target?: string } = {}
): Plan.ManualGate =>
  new Plan.ManualGate({
    ...base(options, "import-certificates", "Import the site certificate on the new appliance", ["MIGRATE-4"], {
      estimatedSeconds: 300,
      handler: handlers.bundleFile,
      params
    }),
    instructions: [
      "Log into the new appliance's /appliance interface and open Security > Certificates.",
      `Under Certificate Installation choose Import, upload ${params.path} and enter its passphrase.`,
      "Check that the imported certificate and its chain are listed."
    ],
    evidence: [
      new Plan.EvidenceField({ name: "certificate", description: "Friendly name of the imported certificate" })
    ]
  })

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
  options: { readonly id?: string; readonly target?: string } = {}
): Plan.ManualGate =>
  new Plan.ManualGate({
    ...base(options, "default-certificate", "Select the default certificate of the new appliance", ["MIGRATE-5"], {
      estimatedSeconds: 120,
      handler: handlers.defaultCertificate,
      params
    }),
    instructions: [
      "On the new appliance's /appliance > Security > Certificates, find the certificate whose Issued to is " +
        `${params.siteFqdn}.`,
      "It must show no warnings. If it shows any, stop and escalate to vendor support.",
      "Select it as the default certificate."
    ]
  })

/**
 * A chain check (names, validity at the window, completeness).
 *
 * @since 0.1.0
 * @category constructors
 */
export const chainCheck = (
  params: typeof ValidateChainParams.Type,
  options: { readonly id?: string; readonly target?: string; readonly rules?: ReadonlyArray<string> } = {}
): Plan.Check =>
  blockingCheck(options, "certificate-chain", "The certificate chain is valid for the site", options.rules ?? [], {
    estimatedSeconds: 1,
    handler: handlers.validateChain,
    params
  })

/**
 * A TLS probe check: the appliance serves the expected certificate.
 *
 * @since 0.1.0
 * @category constructors
 */
export const servedCertificateCheck = (
  params: typeof ServedCertificateParams.Type,
  options: { readonly id?: string; readonly target?: string; readonly rules?: ReadonlyArray<string> } = {}
): Plan.Check =>
  blockingCheck(options, "served-certificate", "The appliance serves the expected certificate", options.rules ?? [], {
    estimatedSeconds: 5,
    handler: handlers.servedCertificate,
    params
  })

const decodeParams = <A, I>(schema: Schema.Schema<A, I>, ctx: StepHandler.StepContext) =>
  Schema.decodeUnknown(schema)(ctx.step.params).pipe(
    Effect.mapError((e) => StepHandler.fail(`Step ${ctx.step.id} has invalid params: ${e.message}. Re-plan.`))
  )

const certs = (pem: string | undefined) =>
  pem === undefined || pem.trim() === "" ? Effect.succeed([]) : Certificates.parsePem(pem)

const stepError = (e: { readonly message: string }) => StepHandler.fail(e.message)

/** A `CertificateError` (unreadable PEM, bad chain input) fails the step with its message. */
const certificateErrorFails = <A, E>(
  self: Effect.Effect<A, E | CertificateError>
): Effect.Effect<A, E | StepHandler.StepError> =>
  Effect.mapError(self, (e) => (e instanceof CertificateError ? stepError(e) : e))

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
  /** Lets `certificates.bundle-file` decrypt the key and check it matches the leaf. */
  readonly bundlePassphrase?: Redacted.Redacted<string> | undefined
}

/**
 * The handlers, as a record (for `StepHandler.make` / `StepHandler.layer`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: LayerOptions = {}): Readonly<Record<string, StepHandler.Handler>> => ({
  [handlers.certificateStore]: {
    run: (ctx) =>
      Effect.gen(function* () {
        const p = yield* decodeParams(CertificateStoreParams, ctx)
        const input = {
          clientTrust: yield* certs(p.clientTrustPem),
          servedChain: yield* certs(p.servedChainPem),
          available: yield* certs(p.availablePem),
          at: p.at === undefined ? undefined : new Date(p.at)
        }
        const verdict = yield* CertificateStore.check(input)
        const evidence = {
          trusted: verdict.trusted,
          anchor: verdict.anchor?.sha256,
          toDistribute: verdict.toDistribute.map((c) => ({ subject: c.subject, sha256: c.sha256, pem: c.pem })),
          findings: summary(verdict.findings)
        }
        return yield* failOnBlocking(verdict.findings, evidence)
      }).pipe(certificateErrorFails)
  },
  [handlers.bundleFile]: {
    run: (ctx) =>
      Effect.gen(function* () {
        const p = yield* decodeParams(BundleFileParams, ctx)
        const text = yield* Effect.tryPromise({
          try: () => fs.readFile(p.path, "latin1"),
          catch: () =>
            StepHandler.fail(`The bundle file ${p.path} cannot be read: export it again (PREP-2, MIGRATE-3).`)
        })
        const encrypted = PrivateKeys.isEncryptedPem(text)
        if (encrypted === undefined) {
          return yield* StepHandler.fail(`${p.path} holds no private key: export again with the private key included.`)
        }
        if (!encrypted) {
          return yield* StepHandler.fail(`${p.path} holds an unencrypted private key: export again with a passphrase.`)
        }
        const bundle =
          options.bundlePassphrase === undefined
            ? undefined
            : yield* Bundle.decode(text, options.bundlePassphrase).pipe(Effect.mapError(stepError))
        const chain = bundle?.chain ?? (yield* Certificates.parsePem(text).pipe(Effect.mapError(stepError)))
        const report = yield* Chain.validateChain(chain, { siteFqdn: p.siteFqdn, privateKey: bundle?.privateKey }).pipe(
          Effect.mapError(stepError)
        )
        const findings = [...report.findings]
        const leaf = report.leaf
        if (p.leafSha256 !== undefined && leaf?.sha256 !== Certificates.normalizeFingerprint(p.leafSha256)) {
          return yield* StepHandler.fail(
            `${p.path} holds ${leaf?.label ?? "no certificate"}, not the certificate served by the site (SHA-256 ${p.leafSha256}). Export the certificate bound to the active IP.`
          )
        }
        return yield* failOnBlocking(findings, {
          path: p.path,
          leafSha256: leaf?.sha256,
          chainSha256: report.chain.map((c) => c.sha256),
          keyEncrypted: true,
          keyChecked: bundle !== undefined,
          findings: summary(findings)
        })
      })
  },
  [handlers.defaultCertificate]: {
    run: (ctx) =>
      Effect.gen(function* () {
        const p = yield* decodeParams(DefaultCertificateParams, ctx)
        const candidates = yield* Effect.forEach(p.candidates, (c) =>
          Effect.map(certs(c.chainPem), (chain) => ({ label: c.label, chain }))
        )
        const choice = yield* DefaultCertificate.chooseDefault(candidates, p.siteFqdn, {
          window: window(p.windowStart, p.windowEnd)
        })
        const chosen = choice.chosen.report.leaf?.sha256
        if (p.host !== undefined && p.port !== undefined) {
          const served = yield* TlsProbe.probeTls({ host: p.host, port: p.port, servername: p.siteFqdn })
          if (served.leafSha256 !== chosen) {
            return yield* StepHandler.fail(
              `The appliance still serves ${served.chain[0]?.label} for ${p.siteFqdn}, not "${choice.chosen.candidate.label}". Select it as default on /appliance > Security > Certificates (MIGRATE-5).`,
              { served: served.leafSha256, expected: chosen }
            )
          }
        }
        return { chosen: choice.chosen.candidate.label, leafSha256: chosen }
      }).pipe(certificateErrorFails)
  },
  [handlers.validateChain]: {
    run: (ctx) =>
      Effect.gen(function* () {
        const p = yield* decodeParams(ValidateChainParams, ctx)
        const report = yield* Chain.validateChain(yield* certs(p.chainPem), {
          siteFqdn: p.siteFqdn,
          trustAnchors: yield* certs(p.trustAnchorsPem),
          window: window(p.windowStart, p.windowEnd)
        })
        return yield* failOnBlocking(report.findings, {
          chainSha256: report.chain.map((c) => c.sha256),
          findings: summary(report.findings)
        })
      }).pipe(certificateErrorFails)
  },
  [handlers.servedCertificate]: {
    run: (ctx) =>
      Effect.gen(function* () {
        const p = yield* decodeParams(ServedCertificateParams, ctx)
        const result = yield* TlsProbe.verifyServed(
          { host: p.host, port: p.port, servername: p.servername ?? p.siteFqdn },
          { leafSha256: p.expectedLeafSha256 },
          { siteFqdn: p.siteFqdn, trustAnchors: yield* certs(p.trustAnchorsPem) }
        )
        return yield* failOnBlocking(result.findings, {
          leafSha256: result.served.leafSha256,
          chainSha256: result.served.chain.map((c) => c.sha256),
          findings: summary(result.findings)
        })
      }).pipe(certificateErrorFails)
  }
})

/**
 * The handlers as a `StepHandlers` layer (merge it with the others' using
 * `StepHandler.merge`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: LayerOptions = {}): Layer.Layer<StepHandler.StepHandlers> =>
  StepHandler.layer(make(options))
