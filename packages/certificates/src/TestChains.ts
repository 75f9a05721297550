/**
 * Test support: generates private CAs, intermediates and leaf certificates
 * (good ones and every kind of bad one) with @peculiar/x509 and WebCrypto.
 * Public so that other packages' tests (migration, cli) can build chains too.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { KeyObject, type webcrypto as WebCrypto } from "node:crypto"
import type { Certificate } from "./Certificate.js"
import * as Certificates from "./Certificate.js"
import { webcrypto, x509 } from "./internal/x509.js"
import * as PrivateKeys from "./PrivateKey.js"

/**
 * Key types the generator can make.
 *
 * @since 0.1.0
 * @category models
 */
export type KeySpec = "ec-p256" | "ec-p384" | "rsa-2048" | "rsa-1024"

/**
 * Signature hashes the generator can use (SHA-1 only to test its rejection).
 *
 * @since 0.1.0
 * @category models
 */
export type HashSpec = "SHA-256" | "SHA-384" | "SHA-1"

/**
 * A generated certificate with its keys: a CA can issue with it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Issued {
  readonly certificate: Certificate
  readonly privateKey: PrivateKeys.PrivateKey
  /** The WebCrypto pair (signing further certificates). */
  readonly keys: WebCrypto.CryptoKeyPair
  readonly keySpec: KeySpec
}

/**
 * Options for one certificate.
 *
 * @since 0.1.0
 * @category models
 */
export interface IssueOptions {
  /** Common Name ("Issued to"). */
  readonly commonName: string
  readonly dnsNames?: ReadonlyArray<string> | undefined
  readonly ipAddresses?: ReadonlyArray<string> | undefined
  /** A CA (root or intermediate) rather than a leaf. */
  readonly isCa?: boolean | undefined
  readonly key?: KeySpec | undefined
  readonly hash?: HashSpec | undefined
  readonly notBefore?: Date | undefined
  readonly notAfter?: Date | undefined
  /** Reuse an existing key pair (e.g. to re-issue a CA with the same key). */
  readonly keys?: { readonly keys: WebCrypto.CryptoKeyPair; readonly keySpec: KeySpec } | undefined
}

const day = 24 * 60 * 60 * 1000

const algorithmOf = (spec: KeySpec): WebCrypto.RsaHashedKeyGenParams | WebCrypto.EcKeyGenParams => {
  switch (spec) {
    case "ec-p256":
      return { name: "ECDSA", namedCurve: "P-256" }
    case "ec-p384":
      return { name: "ECDSA", namedCurve: "P-384" }
    case "rsa-2048":
      return {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: "SHA-256"
      }
    case "rsa-1024":
      return {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: 1024,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: "SHA-256"
      }
  }
}

const generateKeys = (spec: KeySpec): Promise<WebCrypto.CryptoKeyPair> =>
  webcrypto.subtle.generateKey(algorithmOf(spec), true, ["sign", "verify"]) as Promise<WebCrypto.CryptoKeyPair>

/** A signing key and algorithm for `hash` (an RSA CryptoKey has its hash bound, so it is re-imported). */
const signerFor = async (
  issuer: { readonly keys: WebCrypto.CryptoKeyPair; readonly keySpec: KeySpec },
  hash: HashSpec
): Promise<{ key: WebCrypto.CryptoKey; algorithm: WebCrypto.Algorithm | WebCrypto.EcdsaParams }> => {
  if (issuer.keySpec.startsWith("ec")) return { key: issuer.keys.privateKey, algorithm: { name: "ECDSA", hash } }
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", issuer.keys.privateKey)
  const key = await webcrypto.subtle.importKey("pkcs8", pkcs8, { name: "RSASSA-PKCS1-v1_5", hash }, false, ["sign"])
  return { key, algorithm: { name: "RSASSA-PKCS1-v1_5", hash } }
}

const toIssued = (
  cert: InstanceType<typeof x509.X509Certificate>,
  keys: WebCrypto.CryptoKeyPair,
  keySpec: KeySpec
): Issued => ({
  certificate: Certificates.fromDerUnsafe(new Uint8Array(cert.rawData)),
  privateKey: PrivateKeys.fromKeyObject(KeyObject.from(keys.privateKey)),
  keys,
  keySpec
})

const build = async (options: IssueOptions, issuer: Issued | undefined, now: number): Promise<Issued> => {
  const keySpec = options.keys?.keySpec ?? options.key ?? "ec-p256"
  const keys = options.keys?.keys ?? (await generateKeys(keySpec))
  const isCa = options.isCa ?? false
  const signer = await signerFor(issuer ?? { keys, keySpec }, options.hash ?? "SHA-256")
  const subject = `CN=${options.commonName}, O=sra-upgrade test`
  const names = [
    ...(options.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(options.ipAddresses ?? []).map((value) => ({ type: "ip" as const, value }))
  ]
  const extensions: Array<InstanceType<typeof x509.Extension>> = [
    new x509.BasicConstraintsExtension(isCa, undefined, true),
    new x509.KeyUsagesExtension(
      isCa
        ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign
        : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true
    ),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)
  ]
  if (issuer !== undefined) {
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey))
  }
  if (!isCa) extensions.push(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]))
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names))
  const notBefore = options.notBefore ?? new Date(now - day)
  const notAfter = options.notAfter ?? new Date(now + (isCa ? 3650 : 365) * day)
  const cert = await x509.X509CertificateGenerator.create({
    subject,
    issuer: issuer?.certificate.subject ?? subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: signer.key,
    signingAlgorithm: signer.algorithm,
    extensions
  })
  return toIssued(cert, keys, keySpec)
}

/**
 * A self-signed root CA.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generateRoot = (options: Partial<IssueOptions> = {}): Effect.Effect<Issued> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.promise(() => build({ commonName: "sra-upgrade Test Root CA", ...options, isCa: true }, undefined, now))
  )

/**
 * A certificate issued (signed) by `issuer`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const issue = (issuer: Issued, options: IssueOptions): Effect.Effect<Issued> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.promise(() => build(options, issuer, now)))

/**
 * Options of `generateChain`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChainOptions {
  /** Default `support.example.test`. */
  readonly siteFqdn?: string | undefined
  /** Leaf DNS names; default `[siteFqdn]`. */
  readonly dnsNames?: ReadonlyArray<string> | undefined
  readonly ipAddresses?: ReadonlyArray<string> | undefined
  /** Leaf Common Name; default `siteFqdn`. */
  readonly commonName?: string | undefined
  /** Number of intermediates; default 1. */
  readonly intermediates?: number | undefined
  /** Issue under this root instead of a new one. */
  readonly root?: Issued | undefined
  readonly leafKey?: KeySpec | undefined
  readonly leafHash?: HashSpec | undefined
  readonly leafNotBefore?: Date | undefined
  readonly leafNotAfter?: Date | undefined
}

/**
 * A generated chain.
 *
 * @since 0.1.0
 * @category models
 */
export interface GeneratedChain {
  readonly root: Issued
  readonly intermediates: ReadonlyArray<Issued>
  readonly leaf: Issued
  /** Leaf → intermediates → root. */
  readonly chain: ReadonlyArray<Certificate>
  /** `chain` as PEM. */
  readonly chainPem: string
  /** The leaf's private key as unencrypted PKCS#8 PEM (test material only). */
  readonly keyPem: string
}

/**
 * A private root CA, `intermediates` intermediate CAs and a leaf for the site.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generateChain = (options: ChainOptions = {}): Effect.Effect<GeneratedChain> =>
  Effect.gen(function* () {
    const siteFqdn = options.siteFqdn ?? "support.example.test"
    const root = options.root ?? (yield* generateRoot())
    const intermediates: Array<Issued> = []
    let issuer = root
    for (let i = 0; i < (options.intermediates ?? 1); i++) {
      issuer = yield* issue(issuer, { commonName: `sra-upgrade Test Intermediate CA ${i + 1}`, isCa: true })
      intermediates.push(issuer)
    }
    const leaf = yield* issue(issuer, {
      commonName: options.commonName ?? siteFqdn,
      dnsNames: options.dnsNames ?? [siteFqdn],
      ipAddresses: options.ipAddresses,
      key: options.leafKey,
      hash: options.leafHash,
      notBefore: options.leafNotBefore,
      notAfter: options.leafNotAfter
    })
    const chain = [leaf.certificate, ...[...intermediates].reverse().map((i) => i.certificate), root.certificate]
    return {
      root,
      intermediates,
      leaf,
      chain,
      chainPem: Certificates.chainToPem(chain),
      keyPem: leaf.privateKey.keyObject.export({ type: "pkcs8", format: "pem" }) as string
    }
  })
