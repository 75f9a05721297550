/**
 * The certificate bundle a person keeps (PREP-2) and imports on the new
 * appliance (MIGRATE-3, MIGRATE-4): one PEM file holding the chain in leaf →
 * intermediates → root order, then the private key as encrypted PKCS#8
 * (`ENCRYPTED PRIVATE KEY`, PBES2 with AES-256-CBC, made by node:crypto).
 * The key is always encrypted: an empty passphrase is refused, and every
 * written file is read back and checked before success is reported.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { createHash, randomBytes } from "node:crypto"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import type { Certificate } from "./Certificate.js"
import * as Certificates from "./Certificate.js"
import * as CertificateError from "./CertificateError.js"
import { message } from "./internal/util.js"
import * as Chain from "./Chain.js"
import * as PrivateKeys from "./PrivateKey.js"

/**
 * A chain with its private key.
 *
 * @since 0.1.0
 * @category models
 */
export interface Bundle {
  /** Leaf first. */
  readonly chain: ReadonlyArray<Certificate>
  readonly privateKey: PrivateKeys.PrivateKey
}

/**
 * What `exportBundle` wrote and verified.
 *
 * @since 0.1.0
 * @category models
 */
export interface Receipt {
  readonly path: string
  /** SHA-256 of the file, to record beside it. */
  readonly fileSha256: string
  readonly bytes: number
  readonly leafSha256: string
  /** Fingerprints of the chain as written, leaf first. */
  readonly chainSha256: ReadonlyArray<string>
  readonly format: "pem"
}

const fail = (operation: string, reason: CertificateError.CertificateErrorReason) =>
  Effect.fail(CertificateError.make(operation, reason))

/**
 * The bundle as PEM text. Orders the chain, refuses a key that does not match
 * the leaf (`KeyMismatch`) and an empty passphrase (`UnencryptedKey`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const encode = (
  chain: ReadonlyArray<Certificate>,
  privateKey: PrivateKeys.PrivateKey,
  passphrase: Redacted.Redacted<string>
): Effect.Effect<string, CertificateError.CertificateError> =>
  Effect.gen(function* () {
    if (Redacted.value(passphrase).trim().length === 0)
      return yield* fail("exportBundle", new CertificateError.UnencryptedKey())
    const ordered = Chain.order(chain)
    const leaf = ordered.path[0]
    if (leaf === undefined) return yield* fail("exportBundle", new CertificateError.NoCertificate())
    if (!privateKey.matches(leaf)) {
      return yield* fail("exportBundle", new CertificateError.KeyMismatch({ leafSha256: leaf.sha256 }))
    }
    const keyPem = yield* privateKey.toEncryptedPem(passphrase)
    // Belt and braces: the text we are about to hand out holds no clear key.
    if (PrivateKeys.isEncryptedPem(keyPem) !== true)
      return yield* fail("exportBundle", new CertificateError.UnencryptedKey())
    return Certificates.chainToPem([...ordered.path, ...ordered.unrelated]) + keyPem
  })

/**
 * Options of `decode` and `importBundle`.
 *
 * @since 0.1.0
 * @category models
 */
export interface DecodeOptions {
  /** Accept a bundle whose key is not encrypted (e.g. an appliance export made without a passphrase). Default false. */
  readonly allowUnencrypted?: boolean | undefined
}

/**
 * Reads a PEM bundle: its certificates (ordered) and its private key,
 * decrypted with the passphrase (`WrongPassphrase` when it does not decrypt).
 * Refuses an unencrypted key unless `allowUnencrypted`, and a key that does
 * not match the leaf.
 *
 * @since 0.1.0
 * @category combinators
 */
export const decode = (
  input: string | Uint8Array,
  passphrase: Redacted.Redacted<string>,
  options: DecodeOptions = {}
): Effect.Effect<Bundle, CertificateError.CertificateError> =>
  Effect.gen(function* () {
    const text = typeof input === "string" ? input : Buffer.from(input).toString("latin1")
    if (!text.includes("-----BEGIN ")) {
      return yield* fail(
        "importBundle",
        new CertificateError.Malformed({
          what: "bundle",
          detail:
            "not PEM text (a PKCS#12 .p12/.pfx file is not supported: convert it with `openssl pkcs12 -in file.p12 -out bundle.pem` and keep the key encrypted)"
        })
      )
    }
    const encrypted = PrivateKeys.isEncryptedPem(text)
    if (encrypted === undefined) return yield* fail("importBundle", new CertificateError.NoPrivateKey())
    if (!encrypted && options.allowUnencrypted !== true) {
      return yield* fail("importBundle", new CertificateError.UnencryptedKey())
    }
    const certificates = yield* Certificates.parsePem(text)
    const privateKey = yield* PrivateKeys.parse(text, passphrase).pipe(
      Effect.mapError((e) => CertificateError.make("importBundle", e.reason))
    )
    const ordered = Chain.order(certificates)
    const leaf = ordered.path[0]
    if (!privateKey.matches(leaf)) {
      return yield* fail("importBundle", new CertificateError.KeyMismatch({ leafSha256: leaf.sha256 }))
    }
    return { chain: [...ordered.path, ...ordered.unrelated], privateKey }
  })

/**
 * Options of `exportBundle`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExportOptions {
  /** Where to write the file (created with mode 0600). */
  readonly path: string
  /** Replace an existing file. Default false: an existing file is an `Io` error with code `EEXIST`. */
  readonly overwrite?: boolean | undefined
}

const io = (operation: string, file: string) => (e: unknown) =>
  CertificateError.make(
    operation,
    new CertificateError.Io({
      path: file,
      code: typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : message(e)
    })
  )

/**
 * Writes the bundle (PREP-2, MIGRATE-3): chain in order plus the encrypted
 * key, atomically, mode 0600; then reads the file back, decrypts it with the
 * passphrase and checks the fingerprints before returning the receipt.
 *
 * @since 0.1.0
 * @category combinators
 */
export const exportBundle = (
  chain: ReadonlyArray<Certificate>,
  privateKey: PrivateKeys.PrivateKey,
  passphrase: Redacted.Redacted<string>,
  options: ExportOptions
): Effect.Effect<Receipt, CertificateError.CertificateError> =>
  Effect.gen(function* () {
    const text = yield* encode(chain, privateKey, passphrase)
    const target = path.resolve(options.path)
    const temporary = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString("hex")}.tmp`)
    yield* Effect.tryPromise({
      try: async () => {
        const handle = await fs.open(temporary, "wx", 0o600)
        try {
          await handle.writeFile(text, "utf8")
          await handle.sync()
        } finally {
          await handle.close()
        }
        if (options.overwrite === true) await fs.rename(temporary, target)
        else {
          try {
            await fs.link(temporary, target)
          } finally {
            await fs.unlink(temporary)
          }
        }
      },
      catch: io("exportBundle", target)
    }).pipe(Effect.tapError(() => Effect.promise(() => fs.rm(temporary, { force: true }))))
    const written = yield* Effect.tryPromise({ try: () => fs.readFile(target), catch: io("exportBundle", target) })
    const back = yield* decode(written, passphrase)
    const expected = Chain.order(chain)
    const same =
      back.chain.length === expected.path.length + expected.unrelated.length &&
      [...expected.path, ...expected.unrelated].every((c, i) => back.chain[i].sha256 === c.sha256)
    if (!same) {
      return yield* fail(
        "exportBundle",
        new CertificateError.Malformed({
          what: "bundle",
          detail: `${target} does not read back as written; delete it and retry`
        })
      )
    }
    return {
      path: target,
      fileSha256: createHash("sha256").update(written).digest("hex"),
      bytes: written.byteLength,
      leafSha256: back.chain[0].sha256,
      chainSha256: back.chain.map((c) => c.sha256),
      format: "pem" as const
    }
  })

/**
 * Reads a bundle file written by `exportBundle` (or any PEM file holding a
 * chain and an encrypted private key, e.g. an appliance export made with a
 * passphrase). A wrong passphrase fails with reason `WrongPassphrase`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const importBundle = (
  file: string,
  passphrase: Redacted.Redacted<string>,
  options: DecodeOptions = {}
): Effect.Effect<Bundle, CertificateError.CertificateError> =>
  Effect.flatMap(Effect.tryPromise({ try: () => fs.readFile(file), catch: io("importBundle", file) }), (bytes) =>
    decode(bytes, passphrase, options)
  )
