/**
 * Chain ordering and validation. `validate` is pure (the time is given);
 * `validateChain` reads the time from Effect's `Clock` (so tests can use
 * `TestClock`) and accepts PEM/DER input.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { Certificate } from "./Certificate.js"
import * as Certificates from "./Certificate.js"
import type * as CertificateError from "./CertificateError.js"
import * as Finding from "./Finding.js"
import * as Hostname from "./Hostname.js"
import type { PrivateKey } from "./PrivateKey.js"

/**
 * The result of ordering a set of certificates.
 *
 * @since 0.1.0
 * @category models
 */
export interface Ordered {
  /** Leaf first, then each issuer found among the given certificates. */
  readonly path: ReadonlyArray<Certificate>
  /** The trust anchor (from `trustAnchors`) that issued the top of `path`, when the chain stops below a root. */
  readonly anchor: Certificate | undefined
  /** Given certificates that are not on the leaf's path. */
  readonly unrelated: ReadonlyArray<Certificate>
  /** Certificates given more than once. */
  readonly duplicates: ReadonlyArray<Certificate>
  /** Whether the path's certificates were given in leaf → root order. */
  readonly inOrder: boolean
}

const dedupe = (certificates: ReadonlyArray<Certificate>) => {
  const seen = new Set<string>()
  const unique: Array<Certificate> = []
  const duplicates: Array<Certificate> = []
  for (const c of certificates) {
    if (seen.has(c.sha256)) duplicates.push(c)
    else {
      seen.add(c.sha256)
      unique.push(c)
    }
  }
  return { unique, duplicates }
}

/** Subject/issuer names link `child` to `parent` (key identifiers and signature are checked separately). */
const linked = (child: Certificate, parent: Certificate): boolean =>
  child.issuer === parent.subject || child.node.checkIssued(parent.node)

const selfIssued = (c: Certificate): boolean => linked(c, c)

/**
 * Orders certificates leaf → intermediates → root, whatever order they were
 * given in. The leaf is the certificate that issued none of the others (the
 * first non-CA one when several qualify). Issuers are linked by name
 * (subject = issuer, or node:crypto `checkIssued`), preferring one whose key
 * identifiers match and whose key verifies the signature; so a bad signature
 * or a non-CA issuer is reported as such, not as a gap.
 *
 * @since 0.1.0
 * @category combinators
 */
export const order = (
  certificates: ReadonlyArray<Certificate>,
  trustAnchors: ReadonlyArray<Certificate> = []
): Ordered => {
  const { duplicates, unique } = dedupe(certificates)
  if (unique.length === 0) return { path: [], anchor: undefined, unrelated: [], duplicates, inOrder: true }
  const issuedSomething = (c: Certificate) => unique.some((o) => o !== c && !selfIssued(o) && linked(o, c))
  const candidates = unique.filter((c) => !issuedSomething(c))
  const leaf = candidates.find((c) => !c.isCa) ?? candidates[0] ?? unique[0]
  const path: Array<Certificate> = [leaf]
  const remaining = new Set(unique.filter((c) => c !== leaf))
  let current = leaf
  while (!selfIssued(current)) {
    const issuers = [...remaining].filter((c) => linked(current, c))
    const next =
      issuers.find((c) => current.isIssuedBy(c)) ?? issuers.find((c) => current.verifiesWith(c)) ?? issuers[0]
    if (next === undefined) break
    path.push(next)
    remaining.delete(next)
    current = next
  }
  const top = path[path.length - 1]
  const anchor = selfIssued(top) ? undefined : trustAnchors.find((a) => a.sha256 !== top.sha256 && top.isIssuedBy(a))
  const positions = path.map((c) => unique.indexOf(c))
  const inOrder = positions.every((p, i) => i === 0 || p > positions[i - 1]) && positions[0] === 0
  return { path, anchor, unrelated: [...remaining], duplicates, inOrder }
}

/**
 * What to check a chain against.
 *
 * @since 0.1.0
 * @category models
 */
export interface ValidateOptions {
  /** The present time. */
  readonly now: Date
  /** The maintenance window the chain must stay valid through (e.g. a core `MaintenanceWindow`). */
  readonly window?: { readonly start: Date; readonly end: Date } | undefined
  /** The site FQDN the leaf must cover ("Issued to" / subject alternative names). */
  readonly siteFqdn?: string | undefined
  /** The private key that must match the leaf. */
  readonly privateKey?: PrivateKey | undefined
  /** CA certificates the chain may end at (a chain that stops below a root needs its issuer here). */
  readonly trustAnchors?: ReadonlyArray<Certificate> | undefined
  /** A certificate that expires within this many days after the window (or now) gets `ExpiresSoon`. Default 30. */
  readonly expiryWarningDays?: number | undefined
}

/**
 * The result of a validation.
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  /** The ordered chain (leaf first) built from the given certificates. */
  readonly chain: ReadonlyArray<Certificate>
  readonly leaf: Certificate | undefined
  /** The trust anchor that completed the chain, if one was needed and found. */
  readonly anchor: Certificate | undefined
  readonly findings: ReadonlyArray<Finding.Finding>
  /** Whether any finding is blocking. */
  readonly blocking: boolean
}

const day = 24 * 60 * 60 * 1000
const iso = (d: Date) => d.toISOString()
const weakHashes = new Set(["SHA-1", "MD5", "MD2", "MD4"])
const curveBits: Record<string, number> = {
  prime192v1: 192,
  secp192k1: 192,
  secp224r1: 224,
  secp224k1: 224,
  prime256v1: 256,
  secp256k1: 256,
  secp384r1: 384,
  secp521r1: 521
}

const keyFindings = (c: Certificate): ReadonlyArray<Finding.Finding> => {
  const { bits, curve, type } = c.key
  if ((type === "rsa" || type === "rsa-pss") && bits !== undefined && bits < 2048) {
    return [
      Finding.blocking(
        "WeakKey",
        `${c.label} has a ${bits}-bit RSA key; clients refuse keys under 2048 bits. Re-key: request a new certificate with an RSA key of at least 2048 bits (or EC P-256).`,
        c.sha256
      )
    ]
  }
  if (type === "ec" && curve !== undefined && (curveBits[curve] ?? 256) < 256) {
    return [
      Finding.blocking(
        "WeakKey",
        `${c.label} uses the EC curve ${curve}, weaker than P-256. Re-key with P-256 or P-384.`,
        c.sha256
      )
    ]
  }
  if (type === "dsa") {
    return [
      Finding.blocking(
        "WeakKey",
        `${c.label} has a DSA key, which TLS clients no longer accept. Re-key with RSA 2048+ or EC P-256.`,
        c.sha256
      )
    ]
  }
  return []
}

const validityFindings = (c: Certificate, options: ValidateOptions): ReadonlyArray<Finding.Finding> => {
  const out: Array<Finding.Finding> = []
  const now = options.now.getTime()
  const expired = c.notAfter.getTime() < now
  if (expired) {
    out.push(
      Finding.blocking(
        "Expired",
        `${c.label} expired on ${iso(c.notAfter)}. Renew it with the CA and import the renewed certificate before the upgrade.`,
        c.sha256
      )
    )
  }
  if (c.notBefore.getTime() > now) {
    out.push(
      Finding.blocking(
        "NotYetValid",
        `${c.label} is not valid before ${iso(c.notBefore)}. Check the clock of the machine that issued it (PREP-8) or wait until it is valid.`,
        c.sha256
      )
    )
  }
  const window = options.window
  if (window !== undefined) {
    if (!expired && c.notAfter.getTime() < window.end.getTime()) {
      out.push(
        Finding.blocking(
          "ExpiresBeforeWindowEnds",
          `${c.label} expires on ${iso(c.notAfter)}, before the maintenance window ends (${iso(window.end)}). Renew it before the window.`,
          c.sha256
        )
      )
    }
    if (c.notBefore.getTime() > window.start.getTime()) {
      out.push(
        Finding.blocking(
          "NotYetValidAtWindow",
          `${c.label} is not valid before ${iso(c.notBefore)}, after the maintenance window starts (${iso(window.start)}). Use a certificate valid for the whole window or move the window.`,
          c.sha256
        )
      )
    }
  }
  const horizonFrom = window?.end.getTime() ?? now
  const horizon = horizonFrom + (options.expiryWarningDays ?? 30) * day
  const alreadyBlocking = expired || (window !== undefined && c.notAfter.getTime() < window.end.getTime())
  if (!alreadyBlocking && c.notAfter.getTime() < horizon) {
    out.push(
      Finding.warning(
        "ExpiresSoon",
        `${c.label} expires on ${iso(c.notAfter)}, within ${options.expiryWarningDays ?? 30} days of ${iso(new Date(horizonFrom))}. Plan its renewal.`,
        c.sha256
      )
    )
  }
  return out
}

/**
 * Validates a chain (any order) against the options. Pure: the time is
 * `options.now`. Every finding is listed in docs/certificates.md.
 *
 * @since 0.1.0
 * @category combinators
 */
export const validate = (certificates: ReadonlyArray<Certificate>, options: ValidateOptions): Report => {
  if (certificates.length === 0) {
    const findings = [
      Finding.blocking(
        "EmptyChain",
        "No certificate was given. Provide the leaf certificate and its chain (PEM or DER)."
      )
    ]
    return { chain: [], leaf: undefined, anchor: undefined, findings, blocking: true }
  }
  const anchors = options.trustAnchors ?? []
  const ordered = order(certificates, anchors)
  const { anchor, path } = ordered
  const leaf = path[0]
  const top = path[path.length - 1]
  const findings: Array<Finding.Finding> = []

  // Shape.
  if (!ordered.inOrder) {
    findings.push(
      Finding.warning(
        "ChainOutOfOrder",
        `The certificates are not in leaf → intermediates → root order (expected: ${path.map((c) => c.label).join(" → ")}). Reorder the file; exportBundle writes them in order.`
      )
    )
  }
  for (const c of ordered.duplicates) {
    findings.push(
      Finding.warning("DuplicateCertificate", `${c.label} is given more than once. Remove the copy.`, c.sha256)
    )
  }
  for (const c of ordered.unrelated) {
    findings.push(
      Finding.warning(
        "UnrelatedCertificate",
        `${c.label} is not part of the chain of ${leaf.label}. Remove it from the bundle (or check that the right leaf certificate was exported).`,
        c.sha256
      )
    )
  }
  if (!selfIssued(top) && anchor === undefined) {
    findings.push(
      Finding.blocking(
        "IncompleteChain",
        `The chain stops at ${top.label}, issued by "${top.issuer}", which is missing. Add the intermediate (and root) certificate(s) of your CA to the chain${anchors.length > 0 ? "" : ", or pass the root as a trust anchor"}.`,
        top.sha256
      )
    )
  }
  if (selfIssued(top) && anchors.length > 0 && !anchors.some((a) => a.sha256 === top.sha256)) {
    findings.push(
      Finding.blocking(
        "UntrustedRoot",
        `The chain ends at root ${top.label}, which is not among the trusted CA certificates. Use a certificate issued by a trusted CA, or distribute this root first.`,
        top.sha256
      )
    )
  }

  // Issuers and signatures.
  const issuers = anchor === undefined ? path.slice(1) : [...path.slice(1), anchor]
  for (const c of issuers) {
    if (!c.isCa) {
      findings.push(
        Finding.blocking(
          "IssuerNotCa",
          `${c.label} signs another certificate of the chain but is not a CA (basic constraints). Ask the CA for the correct intermediate certificate.`,
          c.sha256
        )
      )
    }
  }
  path.forEach((c, i) => {
    const parent = path[i + 1] ?? anchor
    const badLink = parent !== undefined && !c.verifiesWith(parent)
    const badSelf = parent === undefined && selfIssued(c) && !c.selfSigned
    if (badLink || badSelf) {
      findings.push(
        Finding.blocking(
          "SignatureInvalid",
          `The signature of ${c.label} does not verify with ${badSelf ? "its own key" : `the key of ${parent?.label}`}. The file is corrupt or a certificate was replaced: export the chain again from the CA.`,
          c.sha256
        )
      )
    }
  })

  // Validity, strength.
  const all = anchor === undefined ? path : [...path, anchor]
  for (const c of all) {
    findings.push(...validityFindings(c, options), ...keyFindings(c))
    if (!c.selfSigned) {
      if (weakHashes.has(c.signatureHash)) {
        findings.push(
          Finding.blocking(
            "WeakSignatureAlgorithm",
            `${c.label} is signed with ${c.signatureHash}, which clients reject. Have it re-issued with SHA-256 or stronger.`,
            c.sha256
          )
        )
      } else if (c.signatureHash === "unknown") {
        findings.push(
          Finding.warning(
            "UnknownSignatureAlgorithm",
            `The signature algorithm of ${c.label} is not recognised. Check that clients support it, or have it re-issued with SHA-256.`,
            c.sha256
          )
        )
      }
    }
  }

  // Key and names.
  if (options.privateKey !== undefined && !options.privateKey.matches(leaf)) {
    findings.push(
      Finding.blocking(
        "KeyMismatch",
        `The private key does not belong to ${leaf.label}. Export the key that was generated with this certificate (PREP-2).`,
        leaf.sha256
      )
    )
  }
  if (options.siteFqdn !== undefined) {
    const coverage = Hostname.coverage(leaf, options.siteFqdn)
    if (coverage === "none") {
      const names = [...leaf.dnsNames, ...leaf.ipAddresses]
      findings.push(
        Finding.blocking(
          "HostnameMismatch",
          `${leaf.label} does not cover ${options.siteFqdn} (names: ${names.length > 0 ? names.join(", ") : `CN=${leaf.commonName ?? "none"}`}). Use a certificate whose subject alternative names include the site FQDN.`,
          leaf.sha256
        )
      )
    } else if (coverage === "common-name") {
      findings.push(
        Finding.warning(
          "HostnameOnlyInCommonName",
          `${leaf.label} names ${options.siteFqdn} only in its Common Name, without subject alternative names; modern clients reject it. Re-issue it with a DNS subject alternative name.`,
          leaf.sha256
        )
      )
    }
  }
  return { chain: path, leaf, anchor, findings, blocking: Finding.hasBlocking(findings) }
}

/**
 * Validation options without the time (read from `Clock`).
 *
 * @since 0.1.0
 * @category models
 */
export type ValidateChainOptions = Omit<ValidateOptions, "now"> & { readonly now?: Date | undefined }

/**
 * Parses (PEM text, PEM or DER bytes, or already parsed certificates) and
 * validates a chain, reading the present time from `Clock` unless
 * `options.now` is given.
 *
 * @since 0.1.0
 * @category combinators
 */
export const validateChain = (
  input: string | Uint8Array | ReadonlyArray<Certificate>,
  options: ValidateChainOptions = {}
): Effect.Effect<Report, CertificateError.CertificateError> =>
  Effect.gen(function* () {
    const certificates =
      typeof input === "string" || input instanceof Uint8Array ? yield* Certificates.parse(input) : input
    const now = options.now ?? new Date(yield* Clock.currentTimeMillis)
    return validate(certificates, { ...options, now })
  })
