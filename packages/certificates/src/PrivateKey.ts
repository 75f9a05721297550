/**
 * Private keys: RSA and EC, PEM or DER, PKCS#8 (encrypted or not), PKCS#1
 * and SEC1, read by node:crypto `createPrivateKey`. A passphrase is always a
 * `Redacted` value.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { createPrivateKey, type KeyObject } from "node:crypto"
import type { Certificate } from "./Certificate.js"
import { pemBlocks } from "./Certificate.js"
import { message } from "./internal/util.js"
import * as CertificateError from "./CertificateError.js"

/**
 * A private key held as a node:crypto `KeyObject` (never printed: `toJSON`
 * and `toString` show only its type).
 *
 * @since 0.1.0
 * @category models
 */
export class PrivateKey {
  constructor(
    readonly keyObject: KeyObject,
    /** Whether it was stored encrypted where we read it from. */
    readonly wasEncrypted: boolean
  ) {}

  /** `rsa`, `ec`, `ed25519`... */
  get type(): string {
    return this.keyObject.asymmetricKeyType ?? "unknown"
  }

  /** RSA modulus length in bits, when RSA. */
  get bits(): number | undefined {
    return this.keyObject.asymmetricKeyDetails?.modulusLength
  }

  /** EC curve name, when EC. */
  get curve(): string | undefined {
    return this.keyObject.asymmetricKeyDetails?.namedCurve
  }

  /**
   * Whether this key is the private half of the certificate's public key.
   */
  matches(certificate: Certificate): boolean {
    try {
      return certificate.node.checkPrivateKey(this.keyObject)
    } catch {
      return false
    }
  }

  /**
   * Encrypted PKCS#8 PEM (`ENCRYPTED PRIVATE KEY`, PBES2 with AES-256-CBC).
   * Refuses an empty passphrase.
   */
  toEncryptedPem(passphrase: Redacted.Redacted<string>): Effect.Effect<string, CertificateError.CertificateError> {
    return Effect.suspend(() => {
      const secret = Redacted.value(passphrase)
      if (secret.trim().length === 0) {
        return Effect.fail(CertificateError.make("encryptKey", new CertificateError.UnencryptedKey()))
      }
      return Effect.try({
        try: () =>
          this.keyObject.export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: secret }) as string,
        catch: (e) =>
          CertificateError.make(
            "encryptKey",
            new CertificateError.Malformed({ what: "private key", detail: message(e) })
          )
      })
    })
  }

  /** Never reveals key material. */
  toJSON(): Record<string, unknown> {
    return { _tag: "PrivateKey", type: this.type }
  }

  /** Never reveals key material. */
  toString(): string {
    return `PrivateKey(${this.type})`
  }
}

const keyLabels = new Set(["PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"])

/**
 * Whether a PEM text holds an encrypted private key (PKCS#8
 * `ENCRYPTED PRIVATE KEY`, or a legacy block with `Proc-Type: 4,ENCRYPTED`).
 * `undefined` when it holds no private key.
 *
 * @since 0.1.0
 * @category combinators
 */
export const isEncryptedPem = (text: string): boolean | undefined => {
  const block = pemBlocks(text).find((b) => keyLabels.has(b.label))
  if (block === undefined) return undefined
  return block.label === "ENCRYPTED PRIVATE KEY" || /Proc-Type:\s*4,ENCRYPTED/.test(block.text)
}

/**
 * Reads a private key from PEM text (the first key block; certificates in the
 * same text are ignored) or DER bytes. An encrypted key needs its passphrase:
 * `PassphraseRequired` without one, `WrongPassphrase` when it does not
 * decrypt.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parse = (
  input: string | Uint8Array,
  passphrase?: Redacted.Redacted<string>
): Effect.Effect<PrivateKey, CertificateError.CertificateError> =>
  Effect.suspend(() => {
    const fail = (reason: CertificateError.CertificateErrorReason) =>
      Effect.fail(CertificateError.make("parsePrivateKey", reason))
    const text = typeof input === "string" ? input : Buffer.from(input).toString("latin1")
    if (text.includes("-----BEGIN ")) {
      const block = pemBlocks(text).find((b) => keyLabels.has(b.label))
      if (block === undefined) return fail(new CertificateError.NoPrivateKey())
      const encrypted = isEncryptedPem(block.text) === true
      if (encrypted && passphrase === undefined) return fail(new CertificateError.PassphraseRequired())
      try {
        const keyObject = createPrivateKey(
          encrypted && passphrase !== undefined
            ? { key: block.text, format: "pem", passphrase: Redacted.value(passphrase) }
            : { key: block.text, format: "pem" }
        )
        return Effect.succeed(new PrivateKey(keyObject, encrypted))
      } catch (e) {
        // The envelope was readable; any failure to open it is a wrong passphrase.
        return encrypted
          ? fail(new CertificateError.WrongPassphrase())
          : fail(new CertificateError.Malformed({ what: "private key", detail: message(e) }))
      }
    }
    const der = Buffer.from(typeof input === "string" ? Buffer.from(input, "latin1") : input)
    // Plain PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    for (const type of ["pkcs8", "pkcs1", "sec1"] as const) {
      try {
        return Effect.succeed(new PrivateKey(createPrivateKey({ key: der, format: "der", type }), false))
      } catch {
        // try the next encoding
      }
    }
    // Encrypted PKCS#8 (DER): needs the passphrase.
    if (passphrase === undefined) return fail(new CertificateError.PassphraseRequired())
    try {
      return Effect.succeed(
        new PrivateKey(
          createPrivateKey({ key: der, format: "der", type: "pkcs8", passphrase: Redacted.value(passphrase) }),
          true
        )
      )
    } catch {
      return fail(new CertificateError.WrongPassphrase())
    }
  })

/**
 * Wraps an existing node:crypto private `KeyObject`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromKeyObject = (keyObject: KeyObject): PrivateKey => new PrivateKey(keyObject, false)
