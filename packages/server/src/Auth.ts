/**
 * Who is calling the portal: bearer tokens checked against a tokens file that
 * stores only their SHA-256 hashes (tokens are 256-bit random values, so a
 * fast hash is enough: nothing to brute-force), the role of each principal,
 * and the signed session cookie the page's event stream uses (`EventSource`
 * cannot send an `Authorization` header).
 *
 * Roles are ordered: `viewer` reads; `operator` also starts, cancels and
 * resumes runs and answers ordinary gates; `approver` also answers the
 * dangerous gates; `admin` may do everything.
 *
 * The tokens file (JSON):
 *
 * ```json
 * { "tokens": [ { "id": "jane", "name": "Jane Doe", "role": "approver", "sha256": "<64 hex>" } ] }
 * ```
 *
 * @since 0.3.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto"
import { readFile } from "node:fs/promises"

/**
 * A role, from least to most powerful.
 *
 * @since 0.3.0
 * @category models
 */
export const Role = Schema.Literal("viewer", "operator", "approver", "admin")

/**
 * @since 0.3.0
 * @category models
 */
export type Role = typeof Role.Type

/**
 * The roles in order of power.
 *
 * @since 0.3.0
 * @category models
 */
export const roles: ReadonlyArray<Role> = ["viewer", "operator", "approver", "admin"]

/**
 * Whether `role` has at least the power of `least`.
 *
 * @since 0.3.0
 * @category combinators
 */
export const atLeast = (role: Role, least: Role): boolean => roles.indexOf(role) >= roles.indexOf(least)

/**
 * An authenticated caller.
 *
 * @since 0.3.0
 * @category models
 */
export class Principal extends Schema.Class<Principal>("Principal")({
  /** Stable id recorded in the audit trail. */
  id: Schema.String,
  name: Schema.String,
  role: Role
}) {}

/**
 * One entry of the tokens file: the principal and the SHA-256 (hex) of its token.
 *
 * @since 0.3.0
 * @category models
 */
export class TokenEntry extends Schema.Class<TokenEntry>("TokenEntry")({
  id: Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9._@-]{1,100}$/)),
  name: Schema.optional(Schema.String),
  role: Role,
  sha256: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/))
}) {}

/**
 * The tokens file.
 *
 * @since 0.3.0
 * @category models
 */
export class TokensFile extends Schema.Class<TokensFile>("TokensFile")({
  tokens: Schema.Array(TokenEntry)
}) {}

/**
 * The tokens file cannot be used.
 *
 * @since 0.3.0
 * @category errors
 */
export class TokensFileError extends Schema.TaggedError<TokensFileError>("@sra-upgrade/server/TokensFileError")(
  "TokensFileError",
  {
    file: Schema.String,
    reason: Schema.Literal("unreadable", "invalid", "duplicate"),
    detail: Schema.String
  }
) {
  /**
   * @since 0.3.0
   */
  override get message(): string {
    switch (this.reason) {
      case "unreadable":
        return `${this.file}: cannot read the tokens file (${this.detail}). Check the path and its permissions.`
      case "invalid":
        return `${this.file}: not a tokens file (${this.detail}). Expected {"tokens":[{"id","role","sha256"}]}; see docs/portal.md.`
      case "duplicate":
        return `${this.file}: ${this.detail}. Each token and each id must appear once.`
    }
  }
}

/**
 * A new token: `srat_` and 32 random bytes, base64url.
 *
 * @since 0.3.0
 * @category constructors
 */
export const generateToken = (): Redacted.Redacted<string> =>
  Redacted.make(`srat_${randomBytes(32).toString("base64url")}`)

/**
 * The SHA-256 (hex) of a token, as the tokens file stores it.
 *
 * @since 0.3.0
 * @category combinators
 */
export const hashToken = (token: Redacted.Redacted<string> | string): string =>
  createHash("sha256")
    .update(typeof token === "string" ? token : Redacted.value(token), "utf8")
    .digest("hex")

/**
 * @since 0.3.0
 * @category services
 */
export class Tokens extends Context.Tag("@sra-upgrade/server/Tokens")<
  Tokens,
  {
    /** The principal of a bearer token, if any. */
    readonly authenticate: (token: Redacted.Redacted<string>) => Effect.Effect<Option.Option<Principal>>
    /** The principal of an id (a session cookie names it). */
    readonly byId: (id: string) => Effect.Effect<Option.Option<Principal>>
  }
>() {}

const fromEntries = (entries: ReadonlyArray<TokenEntry>): Tokens["Type"] => {
  const byHash = new Map<string, Principal>()
  const byId = new Map<string, Principal>()
  for (const e of entries) {
    const p = new Principal({ id: e.id, name: e.name ?? e.id, role: e.role })
    byHash.set(e.sha256, p)
    byId.set(e.id, p)
  }
  return {
    authenticate: (token) =>
      Effect.sync(() => {
        const value = Redacted.value(token)
        if (value.length < 16 || value.length > 512) return Option.none()
        return Option.fromNullable(byHash.get(hashToken(value)))
      }),
    byId: (id) => Effect.sync(() => Option.fromNullable(byId.get(id)))
  }
}

const checkUnique = (file: string, entries: ReadonlyArray<TokenEntry>) => {
  const ids = new Set<string>()
  const hashes = new Set<string>()
  for (const e of entries) {
    if (ids.has(e.id))
      return Effect.fail(new TokensFileError({ file, reason: "duplicate", detail: `id ${e.id} appears twice` }))
    if (hashes.has(e.sha256))
      return Effect.fail(
        new TokensFileError({ file, reason: "duplicate", detail: `the token of ${e.id} is also another id's token` })
      )
    ids.add(e.id)
    hashes.add(e.sha256)
  }
  return Effect.void
}

/**
 * Tokens from a tokens file (read once, at start).
 *
 * @since 0.3.0
 * @category layers
 */
export const layerFile = (file: string): Layer.Layer<Tokens, TokensFileError> =>
  Layer.effect(
    Tokens,
    Effect.gen(function* () {
      const text = yield* Effect.tryPromise({
        try: () => readFile(file, "utf8"),
        catch: (e) =>
          new TokensFileError({ file, reason: "unreadable", detail: (e as { code?: string }).code ?? String(e) })
      })
      const parsed = yield* Schema.decodeUnknown(Schema.parseJson(TokensFile))(text).pipe(
        Effect.mapError(
          (e) => new TokensFileError({ file, reason: "invalid", detail: e.message.split("\n").slice(0, 6).join(" ") })
        )
      )
      yield* checkUnique(file, parsed.tokens)
      return fromEntries(parsed.tokens)
    })
  )

/**
 * A principal and its token, for {@link layerMemory} (tests, `serve --demo`).
 *
 * @since 0.3.0
 * @category models
 */
export interface Issued {
  readonly principal: Principal
  readonly token: Redacted.Redacted<string>
}

/**
 * Issue a fresh token for each principal.
 *
 * @since 0.3.0
 * @category constructors
 */
export const issue = (principals: ReadonlyArray<Principal>): ReadonlyArray<Issued> =>
  principals.map((principal) => ({ principal, token: generateToken() }))

/**
 * The tokens file entry of an issued token (hash only).
 *
 * @since 0.3.0
 * @category constructors
 */
export const entryOf = (issued: Issued): TokenEntry =>
  new TokenEntry({
    id: issued.principal.id,
    name: issued.principal.name,
    role: issued.principal.role,
    sha256: hashToken(issued.token)
  })

/**
 * Tokens held in memory (only their hashes are kept).
 *
 * @since 0.3.0
 * @category layers
 */
export const layerMemory = (issued: ReadonlyArray<Issued>): Layer.Layer<Tokens> =>
  Layer.sync(Tokens, () => fromEntries(issued.map(entryOf)))

// ---------------------------------------------------------------------------
// session cookie
// ---------------------------------------------------------------------------

/**
 * Name of the session cookie (HttpOnly, SameSite=Strict, path /api).
 *
 * @since 0.3.0
 * @category models
 */
export const sessionCookie = "sra_portal_session"

/**
 * Lifetime of a session cookie, seconds (12 h).
 *
 * @since 0.3.0
 * @category models
 */
export const sessionSeconds = 12 * 3600

/**
 * A signed session value `<principal id>.<expiry seconds>.<HMAC-SHA256>`:
 * it survives a service restart when the key does (the key lives in the
 * runs folder).
 *
 * @since 0.3.0
 * @category constructors
 */
export const signSession = (key: Uint8Array, principalId: string, expiresAtSeconds: number): string => {
  const body = `${Buffer.from(principalId, "utf8").toString("base64url")}.${expiresAtSeconds}`
  return `${body}.${createHmac("sha256", key).update(body).digest("base64url")}`
}

/**
 * The principal id of a valid, unexpired session value.
 *
 * @since 0.3.0
 * @category combinators
 */
export const verifySession = (key: Uint8Array, value: string, nowSeconds: number): Option.Option<string> => {
  const parts = value.split(".")
  if (parts.length !== 3) return Option.none()
  const [id, exp, mac] = parts as [string, string, string]
  const expected = createHmac("sha256", key).update(`${id}.${exp}`).digest()
  const given = Buffer.from(mac, "base64url")
  // only the canonical spelling: base64url's last character carries unused bits, so a changed
  // character could otherwise decode to the same bytes and pass
  if (given.toString("base64url") !== mac) return Option.none()
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return Option.none()
  const expires = Number(exp)
  if (!Number.isFinite(expires) || expires < nowSeconds) return Option.none()
  return Option.some(Buffer.from(id, "base64url").toString("utf8"))
}
