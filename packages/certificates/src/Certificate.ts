/**
 * A parsed X.509 certificate: the DER bytes, its SHA-256 fingerprint and the
 * fields the checks need. Parsing is done by node:crypto and @peculiar/x509;
 * nothing here decodes ASN.1 by hand.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { createHash, X509Certificate } from "node:crypto"
import * as CertificateError from "./CertificateError.js"
import { message } from "./internal/util.js"
import { x509 } from "./internal/x509.js"

/**
 * The public key of a certificate: algorithm and size (RSA modulus bits, EC
 * curve).
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyInfo {
  readonly type: string
  readonly bits: number | undefined
  readonly curve: string | undefined
}

/**
 * A certificate. Two certificates are the same when their `sha256` are equal.
 *
 * @since 0.1.0
 * @category models
 */
export class Certificate {
  /** Lower-case hex SHA-256 of the DER encoding (the fingerprint appliances and browsers show). */
  readonly sha256: string
  /** Distinguished names as RFC 4514 strings, e.g. `CN=support.example.test, O=Example`. */
  readonly subject: string
  readonly issuer: string
  /** "Issued to" in the appliance UI. */
  readonly commonName: string | undefined
  readonly dnsNames: ReadonlyArray<string>
  readonly ipAddresses: ReadonlyArray<string>
  readonly notBefore: Date
  readonly notAfter: Date
  readonly serialNumber: string
  /** Basic constraints `cA=true`. */
  readonly isCa: boolean
  /** Subject equals issuer and the certificate's own key verifies its signature. */
  readonly selfSigned: boolean
  /**
   * Hash of the signature algorithm, e.g. `SHA-256`, `SHA-1`, `MD5`; `intrinsic` for EdDSA (no
   * separate hash); `unknown` when the algorithm is not recognised.
   */
  readonly signatureHash: string
  /** Signature algorithm, e.g. `ECDSA`, `RSASSA-PKCS1-v1_5`, `Ed25519`, or its OID when not recognised. */
  readonly signatureAlgorithm: string
  readonly key: KeyInfo

  /**
   * Use `fromDer`, `parse` or `parsePem` instead.
   */
  constructor(
    readonly der: Uint8Array,
    /** The node:crypto view (verify, checkIssued, checkPrivateKey). */
    readonly node: X509Certificate,
    peculiar: InstanceType<typeof x509.X509Certificate>
  ) {
    this.sha256 = createHash("sha256").update(der).digest("hex")
    this.subject = peculiar.subject
    this.issuer = peculiar.issuer
    this.commonName = peculiar.subjectName.getField("CN")[0]
    const san = safe(() => peculiar.getExtension(x509.SubjectAlternativeNameExtension))
    const names = san?.names.items ?? []
    this.dnsNames = names.filter((n) => n.type === "dns").map((n) => n.value)
    this.ipAddresses = names.filter((n) => n.type === "ip").map((n) => n.value)
    this.notBefore = peculiar.notBefore
    this.notAfter = peculiar.notAfter
    this.serialNumber = peculiar.serialNumber
    this.isCa = node.ca
    this.selfSigned = node.checkIssued(node) && safe(() => node.verify(node.publicKey)) === true
    const algorithm = safe(() => peculiar.signatureAlgorithm as { name?: string; hash?: { name?: string } })
    const name = algorithm?.name ?? "unknown"
    const unrecognised = name === "unknown" || /^\d+(\.\d+)+$/.test(name)
    this.signatureAlgorithm = name
    this.signatureHash = algorithm?.hash?.name ?? legacyHashes[name] ?? (unrecognised ? "unknown" : "intrinsic")
    const details = node.publicKey.asymmetricKeyDetails
    this.key = {
      type: node.publicKey.asymmetricKeyType ?? "unknown",
      bits: details?.modulusLength,
      curve: details?.namedCurve
    }
  }

  /**
   * PEM text of this certificate (one `CERTIFICATE` block, trailing newline).
   */
  get pem(): string {
    return toPem(this.der)
  }

  /**
   * A short label for messages: the Common Name or the subject, plus the start of the fingerprint.
   */
  get label(): string {
    return `"${this.commonName ?? this.subject}" (SHA-256 ${this.sha256.slice(0, 16)}…)`
  }

  /**
   * Whether `issuer` issued this certificate: names and key identifiers match
   * (node:crypto `checkIssued`) and its public key verifies our signature.
   */
  isIssuedBy(issuer: Certificate): boolean {
    return this.node.checkIssued(issuer.node) && this.verifiesWith(issuer)
  }

  /**
   * Whether `issuer`'s public key verifies our signature.
   */
  verifiesWith(issuer: Certificate): boolean {
    const known = this.verified.get(issuer.sha256)
    if (known !== undefined) return known
    const ok = safe(() => this.node.verify(issuer.node.publicKey)) === true
    this.verified.set(issuer.sha256, ok)
    return ok
  }

  /** Signature checks already made, by issuer fingerprint (certificates are immutable). */
  private readonly verified = new Map<string, boolean>()

  /**
   * A JSON summary (no key material).
   */
  toJSON(): Record<string, unknown> {
    return {
      sha256: this.sha256,
      subject: this.subject,
      issuer: this.issuer,
      dnsNames: this.dnsNames,
      notBefore: this.notBefore.toISOString(),
      notAfter: this.notAfter.toISOString()
    }
  }
}

/** Signature algorithms @peculiar/x509 reports only by OID: the weak legacy ones we must still name. */
const legacyHashes: Record<string, string> = {
  "1.2.840.113549.1.1.2": "MD2", // md2WithRSAEncryption
  "1.2.840.113549.1.1.3": "MD4", // md4WithRSAEncryption
  "1.2.840.113549.1.1.4": "MD5", // md5WithRSAEncryption
  "1.2.840.10040.4.3": "SHA-1", // dsa-with-sha1
  "1.3.14.3.2.29": "SHA-1" // sha1WithRSASignature (OIW)
}

const safe = <A>(f: () => A): A | undefined => {
  try {
    return f()
  } catch {
    return undefined
  }
}

/**
 * PEM encoding of DER certificate bytes.
 *
 * @since 0.1.0
 * @category combinators
 */
export const toPem = (der: Uint8Array): string => {
  const base64 = Buffer.from(der).toString("base64")
  const lines = base64.match(/.{1,64}/g) ?? []
  return `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`
}

/**
 * PEM text of several certificates, in the given order.
 *
 * @since 0.1.0
 * @category combinators
 */
export const chainToPem = (chain: ReadonlyArray<Certificate>): string => chain.map((c) => c.pem).join("")

/**
 * Reads one DER certificate.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromDer = (der: Uint8Array): Effect.Effect<Certificate, CertificateError.CertificateError> =>
  Effect.try({
    try: () => fromDerUnsafe(der),
    catch: (e) =>
      CertificateError.make("parse", new CertificateError.Malformed({ what: "certificate", detail: message(e) }))
  })

/**
 * Reads one DER certificate; throws when it is not one.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromDerUnsafe = (der: Uint8Array): Certificate => {
  const bytes = Buffer.from(der)
  return new Certificate(new Uint8Array(bytes), new X509Certificate(bytes), new x509.X509Certificate(bytes))
}

const pemBlock = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g

/**
 * The PEM blocks of a text, in order: their label (e.g. `CERTIFICATE`,
 * `ENCRYPTED PRIVATE KEY`) and the whole block text.
 *
 * @since 0.1.0
 * @category combinators
 */
export const pemBlocks = (text: string): ReadonlyArray<{ readonly label: string; readonly text: string }> =>
  Array.from(text.matchAll(pemBlock), (m) => ({ label: m[1], text: m[0] }))

/**
 * Every certificate of a PEM text, in file order. Other blocks (keys) are
 * skipped. Fails with `NoCertificate` when there is none.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parsePem = (text: string): Effect.Effect<ReadonlyArray<Certificate>, CertificateError.CertificateError> =>
  Effect.gen(function* () {
    const blocks = pemBlocks(text).filter((b) => b.label === "CERTIFICATE" || b.label === "X509 CERTIFICATE")
    if (blocks.length === 0) return yield* CertificateError.make("parse", new CertificateError.NoCertificate())
    return yield* Effect.forEach(blocks, (block, i) =>
      Effect.try({
        try: () => fromDerUnsafe(new Uint8Array(x509.PemConverter.decodeFirst(block.text))),
        catch: (e) =>
          CertificateError.make(
            "parse",
            new CertificateError.Malformed({ what: "certificate", detail: `PEM block ${i + 1}: ${message(e)}` })
          )
      })
    )
  })

/**
 * Certificates from PEM text or bytes, or from one DER certificate.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parse = (
  input: string | Uint8Array
): Effect.Effect<ReadonlyArray<Certificate>, CertificateError.CertificateError> => {
  if (typeof input === "string") return parsePem(input)
  const text = Buffer.from(input).toString("latin1")
  if (text.includes("-----BEGIN ")) return parsePem(text)
  return Effect.map(fromDer(input), (c) => [c])
}

/**
 * Normalises a fingerprint as written by people or tools
 * (`AB:CD:...`, upper case, spaces) to lower-case hex.
 *
 * @since 0.1.0
 * @category combinators
 */
export const normalizeFingerprint = (fingerprint: string): string =>
  fingerprint.replace(/[^0-9a-fA-F]/g, "").toLowerCase()
