/**
 * The live client of one appliance: request pipeline (rate limit → token →
 * request → bounded body → status mapping → retry policy) and the
 * operations of core's `ApplianceClient` on top of it.
 *
 * @internal
 */
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { ApplianceApi, ApplianceError, BackupArtifact } from "@sra-upgrade/core"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { randomBytes } from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import type { buildConnector } from "undici"
import * as Errors from "./errors.js"
import * as BackupFile from "./backupFile.js"
import type * as Limiter from "./limiter.js"
import * as RawHttp from "./rawHttp.js"
import { TlsRefused, type TlsTrust } from "./tls.js"
import type * as Token from "./token.js"
import * as Wire from "./wire.js"

/** Fully resolved settings of one connection. @internal */
export interface Settings {
  readonly id: string
  /** Base URL without trailing slash. */
  readonly baseUrl: string
  readonly clientId: string
  readonly clientSecret: Redacted.Redacted<string>
  readonly pinned: boolean
  readonly timeoutMillis: number
  readonly backupIdleTimeoutMillis: number
  readonly maxBodyBytes: number
  readonly maxRetries: number
  readonly baseDelayMillis: number
  readonly maxDelayMillis: number
  readonly maxRetryAfterSeconds: number
  readonly commandApi: "auto" | "v1" | "v2"
  readonly keepAlive: boolean
  readonly writeBackupOnWorkerThread: boolean
  /** TLS trust of our own connections (backups use it directly). */
  readonly trust: TlsTrust | undefined
  /** Our TLS connector (undefined when the caller supplied a dispatcher). */
  readonly connector: buildConnector.connector | undefined
}

/** State shared by every connection of one API account. @internal */
export interface Account {
  readonly limiter: Limiter.Limiter
  readonly tokens: Token.TokenCache<ApplianceError.ApplianceError>
}

/** A raw, bounded answer. @internal */
export interface Answer {
  readonly status: number
  readonly contentType: string
  readonly text: string
  /** X-BT-Pagination-Last-Page, when sent. */
  readonly lastPage?: number | undefined
  /** Retry-After in seconds, when sent. */
  readonly retryAfter?: number | undefined
}

/** The token was refused by an API (one re-authentication follows). */
class AuthRejected {
  readonly _tag = "AuthRejected"
}

const decoder = new TextDecoder("utf-8", { fatal: false })

/** What kind of body an operation expects. */
type Expect = "json" | "xml"

interface Call {
  readonly operation: string
  readonly idempotent: boolean
  readonly request: HttpClientRequest.HttpClientRequest
  readonly expect: Expect
  /** Statuses whose body the caller decodes itself (default: 200). */
  readonly accept?: ReadonlyArray<number>
}

const causeChain = (cause: unknown): ReadonlyArray<unknown> => {
  const out: Array<unknown> = []
  let c: unknown = cause
  for (let i = 0; i < 6 && c !== undefined && c !== null; i++) {
    out.push(c)
    c = typeof c === "object" && "cause" in c ? (c as { cause: unknown }).cause : undefined
  }
  return out
}

/** How long a failed backup waits for its partial file to be removed (the disk may be what failed). */
const CLEANUP_GRACE_MILLIS = 5_000

/** The final flush (last writes + fsync) may take this many idle timeouts: write-back of GBs on a slow disk. */
const FINAL_FLUSH_FACTOR = 10

const codeOf = (cause: unknown): string | undefined => {
  for (const c of causeChain(cause)) {
    if (typeof c === "object" && c !== null && "code" in c && typeof c.code === "string") return c.code
  }
  return undefined
}

/** Maps a platform/undici failure to a reason. @internal */
export const reasonOfTransport = (cause: unknown, timeoutMillis: number): ApplianceError.ApplianceErrorReason => {
  for (const c of causeChain(cause)) {
    if (c instanceof TlsRefused) {
      return new ApplianceError.TlsMismatch({
        ...(c.expected !== undefined ? { expected: c.expected } : {}),
        ...(c.seen !== undefined ? { seen: c.seen } : {})
      })
    }
  }
  const code = codeOf(cause)
  if (code === "UND_ERR_CONNECT_TIMEOUT" || code === "ETIMEDOUT" || code === "UND_ERR_HEADERS_TIMEOUT") {
    return new ApplianceError.Timeout({ afterMillis: timeoutMillis })
  }
  if (code !== undefined && /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) {
    return new ApplianceError.TlsMismatch({})
  }
  return new ApplianceError.Transport(code !== undefined ? { code } : {})
}

/** What the pipeline needs of a response (an HttpClientResponse, or the backup's own). */
interface Incoming {
  readonly status: number
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly stream: Stream.Stream<Uint8Array, unknown>
  /** The body read on demand, when the response came from our own HTTP/1.1 reader (backups). */
  readonly body?: RawHttp.BodySource | undefined
}

type ReadFailure = { readonly _tag: "TooLarge" } | { readonly _tag: "Cut"; readonly cause: unknown }

/** Reads at most `max` bytes of a body; more is a Decode error. */
const readBounded = (response: Incoming, max: number): Effect.Effect<Uint8Array, ReadFailure> => {
  const body = response.body
  if (body !== undefined) {
    return Effect.async<Uint8Array, ReadFailure>((resume) => {
      RawHttp.collect(body, max, (error, bytes) =>
        resume(
          error === null
            ? Effect.succeed(bytes!)
            : Effect.fail(
                error instanceof RawHttp.BodyTooLarge
                  ? ({ _tag: "TooLarge" } as const)
                  : ({ _tag: "Cut", cause: error } as const)
              )
        )
      )
      return Effect.sync(() => body.destroy())
    })
  }
  return Effect.suspend(() => {
    const parts: Array<Uint8Array> = []
    let size = 0
    return response.stream.pipe(
      Stream.mapError((cause) => ({ _tag: "Cut", cause }) as const),
      Stream.runForEachChunk((chunk) => {
        for (const part of chunk) {
          size += part.length
          parts.push(part)
        }
        return size > max ? Effect.fail({ _tag: "TooLarge" } as const) : Effect.void
      }),
      Effect.map(() => Buffer.concat(parts, size))
    )
  })
}

/** The platform wraps transport failures; the interesting cause is inside. */
const causeOf = (e: unknown): unknown =>
  typeof e === "object" && e !== null && "cause" in e && (e as { cause: unknown }).cause !== undefined
    ? (e as { cause: unknown }).cause
    : e

const lastPageOf = (response: Incoming): number | undefined => {
  const raw = response.headers["x-bt-pagination-last-page"]
  return raw !== undefined && /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : undefined
}

const contentTypeOf = (response: Incoming): string => (response.headers["content-type"] ?? "").toLowerCase()

/** @internal */
export const make = (
  settings: Settings,
  http: HttpClient.HttpClient,
  accountFor: (mint: Effect.Effect<Token.Minted, ApplianceError.ApplianceError>) => Effect.Effect<Account>
): Effect.Effect<ApplianceApi.ApplianceClient> =>
  Effect.gen(function* () {
    // assigned below, once `mint` exists; only read when requests run
    let account: Account = undefined as unknown as Account
    const who: Errors.Who = {
      id: settings.id,
      baseUrl: settings.baseUrl,
      clientId: settings.clientId,
      pinned: settings.pinned
    }
    const fail = (operation: string, reason: ApplianceError.ApplianceErrorReason) => Errors.make(who, operation, reason)
    /** The current token value, to scrub it from excerpts. */
    const lastToken = yield* Ref.make<string>("")
    const secretsNow = Effect.map(Ref.get(lastToken), (t) => [Redacted.value(settings.clientSecret), t])
    const decodeError = (operation: string, path: string, text: string) =>
      Effect.map(secretsNow, (secrets) =>
        fail(operation, new ApplianceError.Decode({ path, excerpt: Errors.excerpt(text, secrets) }))
      )
    /** v2 JSON API absent (v1-only appliance): remembered after the first 404. */
    const v2Missing = yield* Ref.make(settings.commandApi === "v1")

    const client = http.pipe(
      HttpClient.mapRequest((request) =>
        request.pipe(
          HttpClientRequest.prependUrl(settings.baseUrl),
          settings.keepAlive ? (r) => r : HttpClientRequest.setHeader("connection", "close")
        )
      )
    )

    const observeRateHeaders = (response: Incoming) =>
      Effect.gen(function* () {
        const remaining = response.headers["x-ratelimit-remaining"]
        if (remaining !== undefined && Number(remaining) < 1) {
          const now = yield* Clock.currentTimeMillis
          yield* account.limiter.pauseUntil(now + 1000)
        }
      })

    const retryAfterOf = (response: Incoming): number | undefined => {
      const raw = response.headers["retry-after"]
      if (raw === undefined) return undefined
      if (/^\d+$/.test(raw.trim())) return Number(raw.trim())
      const date = Date.parse(raw)
      return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000))
    }

    const mapHttpError = (operation: string) => (error: HttpClientError.HttpClientError) =>
      fail(operation, reasonOfTransport(error.cause ?? error, settings.timeoutMillis))

    /** One request, body read within bounds, with the time limit. */
    const exchange = (
      operation: string,
      request: HttpClientRequest.HttpClientRequest
    ): Effect.Effect<
      { readonly response: HttpClientResponse.HttpClientResponse; readonly answer: Answer },
      ApplianceError.ApplianceError
    > =>
      client.execute(request).pipe(
        Effect.mapError(mapHttpError(operation)),
        Effect.tap(observeRateHeaders),
        Effect.flatMap((response) =>
          readBounded(response, settings.maxBodyBytes).pipe(
            Effect.map((bytes) => ({
              response,
              answer: {
                status: response.status,
                contentType: contentTypeOf(response),
                text: decoder.decode(bytes),
                lastPage: lastPageOf(response),
                retryAfter: retryAfterOf(response)
              }
            })),
            Effect.catchAll((e) =>
              e._tag === "TooLarge"
                ? Effect.fail(
                    fail(
                      operation,
                      new ApplianceError.Decode({
                        path: "(body)",
                        excerpt: `response larger than ${settings.maxBodyBytes} bytes, reading stopped`
                      })
                    )
                  )
                : Effect.fail(fail(operation, reasonOfTransport(causeOf(e.cause), settings.timeoutMillis)))
            )
          )
        ),
        Effect.timeoutFail({
          duration: settings.timeoutMillis,
          onTimeout: () => fail(operation, new ApplianceError.Timeout({ afterMillis: settings.timeoutMillis }))
        })
      )

    // ------------------------------------------------------------- token
    const mint: Effect.Effect<Token.Minted, ApplianceError.ApplianceError> = Effect.gen(function* () {
      const operation = "authenticate"
      yield* account.limiter.take
      const basic = Buffer.from(
        `${encodeURIComponent(settings.clientId)}:${encodeURIComponent(Redacted.value(settings.clientSecret))}`
      ).toString("base64")
      const request = HttpClientRequest.post("/oauth2/token").pipe(
        HttpClientRequest.setHeader("authorization", `Basic ${basic}`),
        HttpClientRequest.acceptJson,
        HttpClientRequest.bodyUrlParams({ grant_type: "client_credentials" })
      )
      const { answer } = yield* exchange(operation, request)
      if (answer.status === 400 || answer.status === 401 || answer.status === 403) {
        return yield* Effect.fail(fail(operation, new ApplianceError.Unauthorized()))
      }
      if (answer.status === 429) {
        if (answer.retryAfter !== undefined) {
          yield* account.limiter.pauseUntil((yield* Clock.currentTimeMillis) + answer.retryAfter * 1000)
        }
        return yield* Effect.fail(
          fail(
            operation,
            new ApplianceError.RateLimited(
              answer.retryAfter !== undefined ? { retryAfterSeconds: answer.retryAfter } : {}
            )
          )
        )
      }
      if (answer.status !== 200) return yield* Effect.fail(yield* refused(operation, answer))
      const body = yield* decodeJson(operation, answer, Wire.TokenResponse)
      return { value: Redacted.make(body.access_token), expiresInSeconds: body.expires_in }
    })

    account = yield* accountFor(mint)

    // ------------------------------------------------------------- decoding
    const parseJson = (operation: string, answer: Answer): Effect.Effect<unknown, ApplianceError.ApplianceError> =>
      Effect.suspend(() => {
        if (!answer.contentType.includes("json")) {
          return Effect.flatMap(
            decodeError(
              operation,
              "(content-type)",
              `expected application/json, got ${answer.contentType || "nothing"}: ${answer.text}`
            ),
            Effect.fail
          )
        }
        try {
          return Effect.succeed(JSON.parse(answer.text) as unknown)
        } catch (e) {
          return Effect.flatMap(
            decodeError(operation, "(json)", `${e instanceof Error ? e.message : "invalid JSON"}: ${answer.text}`),
            Effect.fail
          )
        }
      })

    const decodeJson = <A, I>(
      operation: string,
      answer: Answer,
      schema: Schema.Schema<A, I>
    ): Effect.Effect<A, ApplianceError.ApplianceError> =>
      Effect.flatMap(parseJson(operation, answer), (json) =>
        Schema.decodeUnknown(schema)(json).pipe(
          Effect.catchAll((error) => {
            const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
            const path = issue && issue.path.length > 0 ? issue.path.join(".") : "(root)"
            return Effect.flatMap(
              decodeError(operation, path, `${issue?.message ?? "invalid"}; body: ${answer.text}`),
              Effect.fail
            )
          })
        )
      )

    const decodeXml = <A>(
      operation: string,
      answer: Answer,
      parse: (text: string) => A
    ): Effect.Effect<A, ApplianceError.ApplianceError> =>
      Effect.suspend(() => {
        if (!answer.contentType.includes("xml")) {
          return Effect.flatMap(
            decodeError(
              operation,
              "(content-type)",
              `expected text/xml, got ${answer.contentType || "nothing"}: ${answer.text}`
            ),
            Effect.fail
          )
        }
        try {
          return Effect.succeed(parse(answer.text))
        } catch (e) {
          if (e instanceof Wire.XmlApplianceError) return Effect.fail(xmlRefusal(operation, e.applianceMessage))
          if (e instanceof Wire.WireError) {
            return Effect.flatMap(decodeError(operation, e.path, `${e.why}; body: ${answer.text}`), Effect.fail)
          }
          return Effect.die(e)
        }
      })

    const xmlRefusal = (operation: string, message: string) =>
      /permission|not allowed|access denied|insufficient/i.test(message)
        ? fail(operation, new ApplianceError.Forbidden({ permission: Errors.permissions[operation] ?? "perm_command" }))
        : fail(operation, new ApplianceError.ApplianceRefused({ applianceMessage: message.slice(0, 500) }))

    const refused = (operation: string, answer: Answer, extraSecrets: ReadonlyArray<string> = []) =>
      Effect.gen(function* () {
        let message: string | undefined
        try {
          const json = JSON.parse(answer.text) as unknown
          if (typeof json === "object" && json !== null) {
            const m = (json as { message?: unknown }).message
            const errors = (json as { errors?: unknown }).errors
            if (typeof m === "string") {
              message = errors !== undefined ? `${m} ${JSON.stringify(errors)}` : m
            }
          }
        } catch {
          // not JSON
        }
        const secrets = [...(yield* secretsNow), ...extraSecrets]
        return fail(
          operation,
          new ApplianceError.ApplianceRefused({
            applianceMessage: Errors.excerpt(message ?? `HTTP ${answer.status}: ${answer.text}`, secrets, 300),
            status: answer.status
          })
        )
      })

    /** Maps non-accepted statuses to typed errors. */
    const checkStatus = (
      call: Call,
      response: Incoming,
      answer: Answer
    ): Effect.Effect<Answer, ApplianceError.ApplianceError | AuthRejected> =>
      Effect.gen(function* () {
        const accept = call.accept ?? [200]
        if (accept.includes(answer.status)) return answer
        switch (answer.status) {
          case 401: {
            let error: string | undefined
            try {
              const json = JSON.parse(answer.text) as { error?: unknown }
              error = typeof json?.error === "string" ? json.error : undefined
            } catch {
              // not JSON
            }
            // the config API also answers 401 for unknown query parameters
            if (error === undefined || error === "access_denied" || error === "invalid_token") {
              return yield* Effect.fail(new AuthRejected())
            }
            return yield* Effect.fail(yield* refused(call.operation, answer))
          }
          case 403:
            return yield* Effect.fail(
              fail(
                call.operation,
                new ApplianceError.Forbidden({ permission: Errors.permissions[call.operation] ?? "perm_command" })
              )
            )
          case 404:
            return yield* Effect.fail(fail(call.operation, new ApplianceError.NotFound()))
          case 429: {
            const retryAfter = retryAfterOf(response)
            if (retryAfter !== undefined) {
              const now = yield* Clock.currentTimeMillis
              yield* account.limiter.pauseUntil(now + retryAfter * 1000)
            }
            return yield* Effect.fail(
              fail(
                call.operation,
                new ApplianceError.RateLimited(retryAfter !== undefined ? { retryAfterSeconds: retryAfter } : {})
              )
            )
          }
          default:
            return yield* Effect.fail(yield* refused(call.operation, answer))
        }
      })

    /** Runs `attempt` with a token; one re-authentication when the token is refused. */
    const authenticated = <A>(
      operation: string,
      attempt: (bearer: string) => Effect.Effect<A, ApplianceError.ApplianceError | AuthRejected>
    ): Effect.Effect<A, ApplianceError.ApplianceError> => {
      const once = Effect.gen(function* () {
        const token = yield* account.tokens.get
        yield* Ref.set(lastToken, Redacted.value(token.value))
        return yield* attempt(Redacted.value(token.value)).pipe(
          Effect.catchIf(
            (e): e is AuthRejected => e instanceof AuthRejected,
            (e) => Effect.zipRight(account.tokens.invalidate(token), Effect.fail(e))
          )
        )
      })
      return once.pipe(
        Effect.catchIf(
          (e): e is AuthRejected => e instanceof AuthRejected,
          () =>
            Effect.zipRight(
              Effect.logDebug(`${settings.id}: ${operation}: token refused, authenticating again once`),
              once
            )
        ),
        Effect.catchIf(
          (e): e is AuthRejected => e instanceof AuthRejected,
          () => Effect.fail(fail(operation, new ApplianceError.Unauthorized()))
        )
      )
    }

    /** Bounded exponential backoff with jitter, only for idempotent reads. */
    const withRetry = <A>(
      operation: string,
      idempotent: boolean,
      attempt: Effect.Effect<A, ApplianceError.ApplianceError>
    ): Effect.Effect<A, ApplianceError.ApplianceError> => {
      const loop = (n: number): Effect.Effect<A, ApplianceError.ApplianceError> =>
        attempt.pipe(
          Effect.catchAll((error) =>
            Effect.gen(function* () {
              if (!idempotent || n >= settings.maxRetries || !Errors.isTransient(error)) {
                return yield* Effect.fail(error)
              }
              let delay: number
              if (error.reason._tag === "RateLimited" && error.reason.retryAfterSeconds !== undefined) {
                if (error.reason.retryAfterSeconds > settings.maxRetryAfterSeconds) return yield* Effect.fail(error)
                delay = error.reason.retryAfterSeconds * 1000
              } else {
                const cap = Math.min(settings.maxDelayMillis, settings.baseDelayMillis * 2 ** n)
                delay = Math.round(cap / 2 + (yield* Random.nextRange(0, cap / 2)))
              }
              yield* Effect.logDebug(
                `${settings.id}: ${operation} failed (${error.reason._tag}), attempt ${n + 2} in ${delay} ms`
              )
              yield* Effect.sleep(delay)
              return yield* loop(n + 1)
            })
          )
        )
      return loop(0)
    }

    /** The full pipeline of a buffered API call. */
    const call = (c: Call): Effect.Effect<Answer, ApplianceError.ApplianceError> => {
      return withRetry(
        c.operation,
        c.idempotent,
        authenticated(c.operation, (bearer) =>
          Effect.gen(function* () {
            yield* account.limiter.take
            const { answer, response } = yield* exchange(
              c.operation,
              c.request.pipe(HttpClientRequest.bearerToken(bearer))
            )
            return yield* checkStatus(c, response, answer)
          })
        )
      )
    }

    /** v2 first, v1 when the appliance has no v2 API (404), remembered. */
    const v2OrV1 = <A>(
      v2: Effect.Effect<A, ApplianceError.ApplianceError>,
      v1: Effect.Effect<A, ApplianceError.ApplianceError>
    ): Effect.Effect<A, ApplianceError.ApplianceError> =>
      Effect.flatMap(Ref.get(v2Missing), (missing) =>
        missing
          ? v1
          : settings.commandApi === "v2"
            ? v2
            : v2.pipe(
                Effect.catchIf(
                  (e) => e.reason._tag === "NotFound",
                  () => Effect.zipRight(Ref.set(v2Missing, true), v1)
                )
              )
      )

    const get = (path: string, params?: Record<string, string>) =>
      HttpClientRequest.get(path).pipe(params ? HttpClientRequest.setUrlParams(params) : (r) => r)
    const getJson = (path: string, params?: Record<string, string>) =>
      get(path, params).pipe(HttpClientRequest.acceptJson)
    const command = (action: string, params: Record<string, string> = {}) =>
      get("/api/command", { action, ...params }).pipe(HttpClientRequest.setHeader("accept", "text/xml"))

    // ------------------------------------------------------------- operations
    const health: Effect.Effect<ApplianceApi.Health, ApplianceError.ApplianceError> = v2OrV1(
      Effect.gen(function* () {
        const answer = yield* call({
          operation: "health",
          idempotent: true,
          request: getJson("/api/command/v2/health"),
          expect: "json",
          accept: [200, 500]
        })
        const json = yield* parseJson("health", answer)
        const decoded = Schema.decodeUnknownEither(Wire.HealthV2)(json)
        if (decoded._tag === "Right") return Wire.healthFromV2(decoded.right, answer.status === 200)
        if (answer.status === 500) return yield* Effect.fail(yield* refused("health", answer))
        return yield* decodeJson("health", answer, Wire.HealthV2).pipe(Effect.map((h) => Wire.healthFromV2(h, true)))
      }),
      Effect.gen(function* () {
        const answer = yield* call({
          operation: "health",
          idempotent: true,
          request: command("check_health"),
          expect: "xml"
        })
        return yield* decodeXml("health", answer, Wire.healthFromV1)
      })
    )

    const apiInfo: Effect.Effect<ApplianceApi.ApiInfo, ApplianceError.ApplianceError> = v2OrV1(
      Effect.gen(function* () {
        const answer = yield* call({
          operation: "apiInfo",
          idempotent: true,
          request: getJson("/api/command/v2/info"),
          expect: "json"
        })
        const localTime = new Date(yield* Clock.currentTimeMillis)
        const info = yield* decodeJson("apiInfo", answer, Wire.InfoV2)
        return Wire.infoFromV2(info, localTime)
      }),
      Effect.gen(function* () {
        const answer = yield* call({
          operation: "apiInfo",
          idempotent: true,
          request: command("get_api_info"),
          expect: "xml"
        })
        const localTime = new Date(yield* Clock.currentTimeMillis)
        return yield* decodeXml("apiInfo", answer, (text) => Wire.infoFromV1(text, localTime))
      })
    )

    const setFailoverRole = (request: ApplianceApi.RoleChangeRequest) => {
      const operation = "setFailoverRole"
      const result = (message: string) =>
        new ApplianceApi.RoleChangeResult({ message, syncStarted: /data sync/i.test(message) })
      return v2OrV1(
        Effect.gen(function* () {
          const answer = yield* call({
            operation,
            idempotent: false,
            request: HttpClientRequest.post("/api/command/v2/failover-role").pipe(
              HttpClientRequest.acceptJson,
              HttpClientRequest.bodyUnsafeJson({
                role: request.role,
                data_sync_first: request.dataSyncFirst,
                force: request.force
              })
            ),
            expect: "json"
          })
          const body = yield* decodeJson(operation, answer, Wire.MessageBody)
          return result(body.message)
        }),
        Effect.gen(function* () {
          const answer = yield* call({
            operation,
            idempotent: false,
            request: HttpClientRequest.post("/api/command").pipe(
              HttpClientRequest.setHeader("accept", "text/xml"),
              HttpClientRequest.bodyUrlParams({
                action: "set_failover_role",
                role: request.role,
                data_sync_first: request.dataSyncFirst ? "1" : "0",
                force: request.force ? "1" : "0"
              })
            ),
            expect: "xml"
          })
          return result(yield* decodeXml(operation, answer, Wire.roleChangeFromV1))
        })
      )
    }

    const loggedInUsers = v2OrV1(
      Effect.gen(function* () {
        const answer = yield* call({
          operation: "loggedInUsers",
          idempotent: true,
          request: getJson("/api/command/v2/user"),
          expect: "json"
        })
        return Wire.usersFromV2(yield* decodeJson("loggedInUsers", answer, Wire.UsersV2))
      }),
      Effect.gen(function* () {
        const answer = yield* call({
          operation: "loggedInUsers",
          idempotent: true,
          request: command("get_logged_in_reps"),
          expect: "xml"
        })
        return yield* decodeXml("loggedInUsers", answer, Wire.usersFromV1)
      })
    )

    const connectedClients = Effect.gen(function* () {
      const answer = yield* call({
        operation: "connectedClients",
        idempotent: true,
        request: command("get_connected_client_list", { summary_only: "1" }),
        expect: "xml"
      })
      return yield* decodeXml("connectedClients", answer, Wire.connectedClientsFromV1)
    })

    // ------------------------------------------------------------- config API lists
    const paginate = <A, I>(
      operation: string,
      path: string,
      filter: Record<string, string | number | undefined> | undefined,
      schema: Schema.Schema<A, I>
    ): Stream.Stream<A, ApplianceError.ApplianceError> => {
      const params: Record<string, string> = { per_page: "100" }
      for (const [k, v] of Object.entries(filter ?? {})) if (v !== undefined) params[k] = String(v)
      return Stream.paginateChunkEffect(1, (page: number) =>
        Effect.gen(function* () {
          const answer = yield* call({
            operation,
            idempotent: true,
            request: getJson(path, { ...params, current_page: String(page) }),
            expect: "json"
          })
          const items = yield* decodeJson(operation, answer, Schema.Array(schema))
          const last = answer.lastPage
          const more = last !== undefined ? page < last : items.length >= 100
          if (page > 100_000) return yield* Effect.fail(yield* decodeError(operation, "(pagination)", "runaway"))
          return [Chunk.fromIterable(items), more ? Option.some(page + 1) : Option.none()] as const
        })
      )
    }

    const jumpClients = (filter?: ApplianceApi.JumpClientFilter) =>
      paginate(
        "jumpClients",
        "/api/config/v1/jump-client",
        filter as Record<string, string | number | undefined> | undefined,
        Wire.JumpClientWire
      ).pipe(Stream.map(Wire.jumpClientFromWire))

    const jumpoints = (filter?: ApplianceApi.JumpointFilter) =>
      paginate(
        "jumpoints",
        "/api/config/v1/jumpoint",
        filter as Record<string, string | number | undefined> | undefined,
        Wire.JumpointWire
      ).pipe(Stream.map(Wire.jumpointFromWire))

    // ------------------------------------------------------------- backup
    /** Sends the backup request; the response is released with the scope. */
    const openBackup = (
      operation: string,
      bearer: string,
      password: Redacted.Redacted<string> | undefined
    ): Effect.Effect<Incoming, ApplianceError.ApplianceError, Scope.Scope> => {
      const connector = settings.connector
      if (connector === undefined) {
        // a caller-supplied dispatcher (MockAgent, ProxyAgent): through the HttpClient
        const base = password
          ? HttpClientRequest.post("/api/backup").pipe(
              HttpClientRequest.bodyUnsafeJson({ password: Redacted.value(password) })
            )
          : HttpClientRequest.get("/api/backup")
        return client
          .execute(
            base.pipe(
              HttpClientRequest.setHeader("accept", "application/octet-stream"),
              HttpClientRequest.bearerToken(bearer)
            )
          )
          .pipe(Effect.mapError(mapHttpError(operation)))
      }
      // Our own HTTP/1.1 reader (rawHttp.ts): one preallocated read buffer, no stream machinery, so a
      // multi-GB backup moves at the speed of the link. (undici 7.30.2 also crashes the process with an
      // uncatchable assertion when the peer closes while a large body is paused by backpressure,
      // nodejs/undici#5360.)
      const body = password ? Buffer.from(JSON.stringify({ password: Redacted.value(password) })) : undefined
      return Effect.acquireRelease(
        Effect.async<RawHttp.RawResponse, ApplianceError.ApplianceError>((resume) => {
          const abort = RawHttp.request(
            {
              url: new URL(`${settings.baseUrl}/api/backup`),
              method: body ? "POST" : "GET",
              headers: {
                accept: "application/octet-stream",
                authorization: `Bearer ${bearer}`,
                ...(body ? { "content-type": "application/json" } : {})
              },
              body,
              trust: settings.trust
            },
            (error, response) =>
              resume(
                error === null
                  ? Effect.succeed(response!)
                  : Effect.fail(fail(operation, reasonOfTransport(error, settings.timeoutMillis)))
              )
          )
          return Effect.sync(abort)
        }),
        (res) => Effect.sync(() => res.body.destroy())
      ).pipe(
        Effect.map((res): Incoming => ({
          status: res.status,
          headers: res.headers,
          stream: Stream.die("the backup body is read through `body`"),
          body: res.body
        }))
      )
    }

    const downloadBackup = (request: ApplianceApi.BackupRequest) =>
      Effect.gen(function* () {
        const operation = "downloadBackup"
        const about = yield* health
        const password = request.password ? [Redacted.value(request.password)] : []
        const attempt = authenticated(operation, (bearer) =>
          Effect.gen(function* () {
            yield* account.limiter.take
            const response = yield* openBackup(operation, bearer, request.password).pipe(
              Effect.timeoutFail({
                duration: settings.timeoutMillis,
                onTimeout: () => fail(operation, new ApplianceError.Timeout({ afterMillis: settings.timeoutMillis }))
              })
            )
            yield* observeRateHeaders(response)
            const type = contentTypeOf(response)
            if (response.status !== 200 || /json|xml|html/.test(type)) {
              const answer = yield* readBounded(response, settings.maxBodyBytes).pipe(
                Effect.map((bytes) => ({ status: response.status, contentType: type, text: decoder.decode(bytes) })),
                Effect.catchAll(() =>
                  Effect.succeed({ status: response.status, contentType: type, text: "(unreadable body)" })
                ),
                Effect.timeout(settings.timeoutMillis),
                Effect.catchAll(() =>
                  Effect.succeed({ status: response.status, contentType: type, text: "(no body in time)" })
                )
              )
              if (response.status === 403 && /password/i.test(answer.text)) {
                return yield* Effect.fail(yield* refused(operation, answer, password))
              }
              const checked = yield* checkStatus(
                { operation, idempotent: true, request: HttpClientRequest.get("/api/backup"), expect: "json" },
                response,
                answer
              ).pipe(
                Effect.catchIf(
                  (e): e is ApplianceError.ApplianceError =>
                    e instanceof ApplianceError.ApplianceError && e.reason._tag === "ApplianceRefused",
                  () => Effect.flatMap(refused(operation, answer, password), Effect.fail)
                )
              )
              return yield* Effect.fail(
                yield* refused(
                  operation,
                  { ...checked, text: `expected the backup file, got ${type}: ${checked.text}` },
                  password
                )
              )
            }
            return yield* saveBackup(operation, response, request, about)
          }).pipe(Effect.scoped)
        )
        return yield* withRetry(operation, true, attempt)
      })

    const saveBackup = (
      operation: string,
      response: Incoming,
      request: ApplianceApi.BackupRequest,
      about: ApplianceApi.Health
    ) =>
      Effect.gen(function* () {
        const directory = Path.resolve(request.directory)
        const temp = Path.join(
          directory,
          `.${settings.id.replace(/[^\w.-]/g, "_")}-${randomBytes(6).toString("hex")}.partial`
        )
        const ioError = (e: unknown) =>
          fail(
            operation,
            new ApplianceError.LocalIo({
              path: directory,
              code: codeOf(e) ?? (e instanceof Error ? e.message : String(e)).slice(0, 200)
            })
          )
        const stalled = (afterMillis: number) =>
          fail(operation, new ApplianceError.LocalIo({ path: directory, code: "STALLED", afterMillis }))
        yield* Effect.tryPromise({ try: () => Fs.mkdir(directory, { recursive: true }), catch: ioError })
        // the partial file goes away on any failure or interruption (not waited for long: the disk may be the
        // reason of the failure, and a `.partial` name never passes for a backup)
        yield* Effect.addFinalizer((exit) =>
          exit._tag === "Failure"
            ? Effect.promise(() => Fs.rm(temp, { force: true }).catch(() => undefined)).pipe(
                Effect.timeoutOption(CLEANUP_GRACE_MILLIS)
              )
            : Effect.void
        )
        const source =
          response.body ??
          RawHttp.fromReadable(
            yield* NodeStream.toReadable(
              response.stream.pipe(
                Stream.mapError((e) => fail(operation, reasonOfTransport(causeOf(e), settings.timeoutMillis)))
              )
            )
          )
        const file = yield* Effect.acquireRelease(
          Effect.try({
            try: () => (settings.writeBackupOnWorkerThread ? BackupFile.onWorker(temp) : BackupFile.inline(temp)),
            catch: ioError
          }),
          (f) => Effect.promise(() => f.close())
        )
        const length = response.headers["content-length"]
        const announced = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined
        const bytes = yield* Effect.async<number, ApplianceError.ApplianceError>((resume) => {
          // The hot path, with no Effect per read: each read goes to the backup file (hash + write, on a
          // worker thread by default) before the read buffer is reused; the socket pauses while the
          // writer is behind.
          let bytes = 0
          let done = false
          let lastData = Date.now()
          // reads paused while the writer catches up: the peer is not idle then
          let writerBehind = false
          const finish = (outcome: Effect.Effect<number, ApplianceError.ApplianceError>) => {
            if (done) return
            done = true
            clearInterval(watchdog)
            source.destroy()
            resume(outcome)
          }
          const watchdog = setInterval(
            () => {
              const idle = Date.now() - lastData
              if (idle <= settings.backupIdleTimeoutMillis) return
              // paused for the writer all that time: the disk, not the appliance, stopped
              finish(
                Effect.fail(
                  writerBehind
                    ? stalled(settings.backupIdleTimeoutMillis)
                    : fail(operation, new ApplianceError.Timeout({ afterMillis: settings.backupIdleTimeoutMillis }))
                )
              )
            },
            Math.max(10, Math.min(1000, settings.backupIdleTimeoutMillis / 4))
          )
          source.start({
            data: (chunk) => {
              if (done) return
              lastData = Date.now()
              bytes += chunk.length
              request.onProgress?.(bytes, announced)
              let called = false
              file.write(chunk, (error) => {
                called = true
                if (error !== undefined) return finish(Effect.fail(ioError(error)))
                if (writerBehind) {
                  writerBehind = false
                  lastData = Date.now()
                  source.resume()
                }
              })
              if (!called) {
                writerBehind = true
                source.pause()
              }
            },
            end: () => finish(Effect.succeed(bytes)),
            readBuffer: file.readBuffer,
            error: (error) =>
              finish(
                Effect.fail(
                  error instanceof ApplianceError.ApplianceError
                    ? error
                    : fail(operation, reasonOfTransport(error, settings.timeoutMillis))
                )
              )
          })
          return Effect.sync(() => finish(Effect.interrupt))
        })
        if (length !== undefined && Number(length) !== bytes) {
          return yield* Effect.fail(
            fail(operation, new ApplianceError.Transport({ code: `TRUNCATED ${bytes}/${length} bytes` }))
          )
        }
        if (bytes === 0) {
          return yield* Effect.fail(
            fail(operation, new ApplianceError.Decode({ path: "(body)", excerpt: "the backup is empty" }))
          )
        }
        // the rest of the bytes written, then fsync: the file is on disk before it gets its name
        const flushBound = FINAL_FLUSH_FACTOR * settings.backupIdleTimeoutMillis
        const sha256 = yield* Effect.tryPromise({ try: () => file.finish(), catch: ioError }).pipe(
          Effect.timeoutFail({ duration: flushBound, onTimeout: () => stalled(flushBound) })
        )
        const takenAt = new Date(yield* Clock.currentTimeMillis)
        const name = backupName(response.headers["content-disposition"], about.hostname || settings.id, takenAt)
        const final = yield* Effect.tryPromise({ try: () => renameFresh(temp, directory, name), catch: ioError })
        return new BackupArtifact.BackupArtifact({
          path: final,
          bytes,
          sha256,
          takenAt,
          applianceId: about.applianceGuid || settings.id,
          version: about.version,
          passwordProtected: request.password !== undefined
        })
      }).pipe(Effect.scoped)

    return {
      id: settings.id,
      health,
      apiInfo,
      setFailoverRole,
      loggedInUsers,
      connectedClients,
      downloadBackup,
      jumpClients,
      jumpoints
    } satisfies ApplianceApi.ApplianceClient
  })

/** A safe file name from Content-Disposition, or `<host>-<date>.nsb`. @internal */
export const backupName = (disposition: string | undefined, host: string, at: Date): string => {
  const m = disposition ? /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition) : null
  const raw = m ? Path.basename(decodeURIComponent(m[1]!)) : ""
  const clean = raw.replace(/[^\w.-]/g, "_").replace(/^\.+/, "")
  if (clean.length > 0 && clean.length <= 200) return clean
  return `${host.replace(/[^\w.-]/g, "_")}-${at.toISOString().replace(/[:.]/g, "-")}.nsb`
}

const renameFresh = async (temp: string, directory: string, name: string): Promise<string> => {
  const ext = Path.extname(name)
  const stem = name.slice(0, name.length - ext.length)
  for (let i = 0; i < 1000; i++) {
    const candidate = Path.join(directory, i === 0 ? name : `${stem}-${i}${ext}`)
    try {
      // link fails if the name exists: never overwrite an earlier backup
      await Fs.link(temp, candidate)
      await Fs.rm(temp, { force: true })
      return candidate
    } catch (e) {
      if ((e as { code?: string }).code !== "EEXIST") throw e
    }
  }
  throw new Error("no free file name")
}
