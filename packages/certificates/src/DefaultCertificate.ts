/**
 * MIGRATE-5: choose the certificate a new appliance serves by default: the
 * one whose "Issued to" (or subject alternative names) is the site FQDN. It
 * must show no warnings at all; when the best candidate has any, the choice
 * is refused (fix it, or escalate to vendor support).
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { Certificate } from "./Certificate.js"
import * as CertificateError from "./CertificateError.js"
import * as Chain from "./Chain.js"
import * as Hostname from "./Hostname.js"
import type { PrivateKey } from "./PrivateKey.js"

/**
 * A certificate installed on the appliance (its chain, and its key when the
 * caller holds it).
 *
 * @since 0.1.0
 * @category models
 */
export interface Candidate {
  /** A name for reports, e.g. the appliance's friendly name. */
  readonly label: string
  readonly chain: ReadonlyArray<Certificate>
  readonly privateKey?: PrivateKey | undefined
}

/**
 * A candidate with its validation report and how it covers the site FQDN.
 *
 * @since 0.1.0
 * @category models
 */
export interface Assessed {
  readonly candidate: Candidate
  readonly report: Chain.Report
  readonly coverage: Hostname.Coverage
  /** "Issued to" (Common Name) equals the site FQDN. */
  readonly issuedToSite: boolean
}

/**
 * The chosen default and how every candidate was judged (best first).
 *
 * @since 0.1.0
 * @category models
 */
export interface Choice {
  readonly chosen: Assessed
  readonly ranking: ReadonlyArray<Assessed>
}

/**
 * Options of `chooseDefault` (validation options without the site FQDN).
 *
 * @since 0.1.0
 * @category models
 */
export type ChooseOptions = Omit<Chain.ValidateChainOptions, "siteFqdn">

const coverageRank: Record<Hostname.Coverage, number> = { exact: 0, ip: 0, wildcard: 1, "common-name": 2, none: 3 }

/**
 * Orders candidates best first: covers the FQDN; no blocking finding; no
 * warning; "Issued to" is the FQDN; exact name over wildcard; latest expiry.
 *
 * @since 0.1.0
 * @category combinators
 */
export const rank = (
  candidates: ReadonlyArray<Candidate>,
  siteFqdn: string,
  options: Chain.ValidateOptions
): ReadonlyArray<Assessed> => {
  const assessed = candidates.map((candidate): Assessed => {
    const report = Chain.validate(candidate.chain, { ...options, siteFqdn, privateKey: candidate.privateKey })
    const leaf = report.leaf
    return {
      candidate,
      report,
      coverage: leaf === undefined ? "none" : Hostname.coverage(leaf, siteFqdn),
      issuedToSite:
        leaf?.commonName !== undefined && Hostname.normalize(leaf.commonName) === Hostname.normalize(siteFqdn)
    }
  })
  const key = (a: Assessed): ReadonlyArray<number> => [
    a.coverage === "none" ? 1 : 0,
    a.report.blocking ? 1 : 0,
    a.report.findings.length > 0 ? 1 : 0,
    a.issuedToSite ? 0 : 1,
    coverageRank[a.coverage],
    -(a.report.leaf?.notAfter.getTime() ?? 0)
  ]
  return [...assessed].sort((a, b) => {
    const ka = key(a)
    const kb = key(b)
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] - kb[i]
    return 0
  })
}

/**
 * Picks the default certificate for `siteFqdn` (MIGRATE-5). Fails with
 * `NoAcceptableDefault` when no candidate covers the FQDN, or when the best
 * one has any finding (blocking or warning); the error lists them.
 *
 * @since 0.1.0
 * @category combinators
 */
export const chooseDefault = (
  candidates: ReadonlyArray<Candidate>,
  siteFqdn: string,
  options: ChooseOptions = {}
): Effect.Effect<Choice, CertificateError.CertificateError> =>
  Effect.gen(function* () {
    const now = options.now ?? new Date(yield* Clock.currentTimeMillis)
    const ranking = rank(candidates, siteFqdn, { ...options, now })
    const best = ranking[0]
    const refuse = (details: ReadonlyArray<string>, bestLabel?: string) =>
      CertificateError.make(
        "chooseDefault",
        new CertificateError.NoAcceptableDefault(
          bestLabel === undefined ? { siteFqdn, details } : { siteFqdn, best: bestLabel, details }
        )
      )
    if (best === undefined) return yield* refuse(["No certificate is installed."])
    if (best.coverage === "none") {
      return yield* refuse(
        [`No certificate is issued to ${siteFqdn}: import the site certificate first (MIGRATE-3, MIGRATE-4).`],
        best.candidate.label
      )
    }
    if (best.report.findings.length > 0) {
      return yield* refuse(
        best.report.findings.map((f) => `[${f.severity}] ${f.code}: ${f.message}`),
        best.candidate.label
      )
    }
    return { chosen: best, ranking }
  })
