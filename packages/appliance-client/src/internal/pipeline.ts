/**
 * The request pipeline of one connection, built once per connection as one
 * value: rate limit → token → request → bounded body → status mapped to an
 * `ApplianceError` reason → retry schedule (idempotent reads only), and the
 * decoding of bodies at the edge (JSON through `Schema.parseJson`, XML
 * through `./wire.ts`). The operations (`./operations.ts`) and the backup
 * path (`./backup.ts`) are written on top of it.
 *
 * @internal
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { ApplianceError } from "@sra-upgrade/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleIntervals from "effect/ScheduleIntervals"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { buildConnector } from "undici"
import type { SettingNames } from "../ApplianceClient.js"
import * as Errors from "./errors.js"
import type * as Limiter from "./limiter.js"
import * as RawHttp from "./rawHttp.js"
import { TlsRefused, type TlsTrust } from "./tls.js"
import * as Token from "./token.js"
import * as Wire from "./wire.js"

/** Retry policy of idempotent reads. @internal */
export interface RetryPolicy {
  /** Extra attempts after the first. */
  readonly maxRetries: number
  /** First backoff delay, doubled each time. */
  readonly baseDelayMillis: number
  /** Ceiling of one backoff delay (before jitter). */
  readonly maxDelayMillis: number
  /** A 429 asking to wait longer than this is not retried. */
  readonly maxRetryAfterSeconds: number
}

/** Fully resolved settings of one connection. @internal */
export interface Settings extends RetryPolicy {
  readonly id: string
  /** Base URL without trailing slash. */
  readonly baseUrl: string
  readonly clientId: string
  readonly clientSecret: Redacted.Redacted<string>
  readonly pinned: boolean
  readonly timeoutMillis: number
  readonly backupIdleTimeoutMillis: number
  readonly maxBodyBytes: number
  readonly commandApi: "auto" | "v1" | "v2"
  readonly keepAlive: boolean
  readonly writeBackupOnWorkerThread: boolean
  /** TLS trust of our own connections (backups use it directly). */
  readonly trust: TlsTrust | undefined
  /** Our TLS connector (undefined when the caller supplied a dispatcher). */
  readonly connector: buildConnector.connector | undefined
  /** How hints name the settings a person edits. */
  readonly names: SettingNames
}

/** State shared by every connection of one API account. @internal */
export interface Account {
  readonly limiter: Limiter.Limiter
  readonly tokens: Token.TokenCache<ApplianceError.ApplianceError>
}

/**
 * The account of a connection: the existing one of its API account, or a
 * new one whose token cache `tokensOn` builds on the account's limiter.
 *
 * @internal
 */
export type AccountFor = (
  tokensOn: (limiter: Limiter.Limiter) => Effect.Effect<Token.TokenCache<ApplianceError.ApplianceError>>
) => Effect.Effect<Account>

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

/** The token was refused by an API (one re-authentication follows). @internal */
export class AuthRejected {
  readonly _tag = "AuthRejected"
}

/** One buffered API call. @internal */
export interface Call {
  readonly operation: string
  /** Only idempotent reads are retried. */
  readonly idempotent: boolean
  readonly request: HttpClientRequest.HttpClientRequest
  /** Statuses whose body the caller decodes itself (default: 200). */
  readonly accept?: ReadonlyArray<number>
}

/** What the pipeline needs of a response (an HttpClientResponse, or the backup's own). @internal */
export interface Incoming {
  readonly status: number
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly stream: Stream.Stream<Uint8Array, unknown>
  /** The body read on demand, when the response came from our own HTTP/1.1 reader (backups). */
  readonly body?: RawHttp.BodySource | undefined
}

/** A failure of {@link readBounded}. @internal */
export type ReadFailure = { readonly _tag: "TooLarge" } | { readonly _tag: "Cut"; readonly cause: unknown }

/** @internal */
export const decoder = new TextDecoder("utf-8", { fatal: false })

const causeChain = (cause: unknown): ReadonlyArray<unknown> => {
  const out: Array<unknown> = []
  let c: unknown = cause
  for (let i = 0; i < 6 && c !== undefined && c !== null; i++) {
    out.push(c)
    c = typeof c === "object" && "cause" in c ? (c as { cause: unknown }).cause : undefined
  }
  return out
}

/** The system error code of a failure (`ECONNRESET`, `ENOSPC`…), searched through its causes. @internal */
export const codeOf = (cause: unknown): string | undefined => {
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

/** The platform wraps transport failures; the interesting cause is inside. @internal */
export const causeOf = (e: unknown): unknown =>
  typeof e === "object" && e !== null && "cause" in e && (e as { cause: unknown }).cause !== undefined
    ? (e as { cause: unknown }).cause
    : e

/** Reads at most `max` bytes of a body; more is `TooLarge`. @internal */
export const readBounded = (response: Incoming, max: number): Effect.Effect<Uint8Array, ReadFailure> => {
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

const lastPageOf = (response: Incoming): number | undefined => {
  const raw = response.headers["x-bt-pagination-last-page"]
  return raw !== undefined && /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : undefined
}

/** The lower-cased Content-Type of a response. @internal */
export const contentTypeOf = (response: Incoming): string => (response.headers["content-type"] ?? "").toLowerCase()

/** Retry-After in seconds (delta-seconds or an HTTP date), when sent. @internal */
export const retryAfterOf = (response: Incoming): number | undefined => {
  const raw = response.headers["retry-after"]
  if (raw === undefined) return undefined
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim())
  const date = Date.parse(raw)
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000))
}

// ------------------------------------------------------------- retry schedule

/** The Retry-After delay an error carries (a 429 that said how long to wait). @internal */
export const retryAfterSecondsOf = (error: ApplianceError.ApplianceError): number | undefined =>
  error.reason._tag === "RateLimited" ? error.reason.retryAfterSeconds : undefined

/**
 * Whether a failed idempotent read gets another attempt: a transient failure
 * (transport, timeout, 429, 502–504), unless the appliance asks to wait
 * longer than the policy accepts.
 *
 * @internal
 */
export const retryable =
  (policy: RetryPolicy) =>
  (error: ApplianceError.ApplianceError): boolean => {
    const wait = retryAfterSecondsOf(error)
    return Errors.isTransient(error) && !(wait !== undefined && wait > policy.maxRetryAfterSeconds)
  }

/** What the retry schedule outputs at each decision: the retry's number (0 for the first) and the error. @internal */
export interface RetryStep {
  readonly retry: number
  readonly error: ApplianceError.ApplianceError
}

/**
 * The retry schedule of idempotent reads: exponential from `baseDelayMillis`,
 * each delay capped at `maxDelayMillis` then jittered to between half and
 * all of it (whole milliseconds), at most `maxRetries` retries; a Retry-After read from the error
 * replaces the backoff delay; only {@link retryable} errors are retried.
 *
 * @internal
 */
export const retrySchedule = (policy: RetryPolicy): Schedule.Schedule<RetryStep, ApplianceError.ApplianceError> =>
  Schedule.exponential(Duration.millis(policy.baseDelayMillis)).pipe(
    Schedule.modifyDelay((_, delay) => Duration.min(delay, Duration.millis(policy.maxDelayMillis))),
    Schedule.jitteredWith({ min: 0.5, max: 1 }),
    Schedule.modifyDelay((_, delay) => Duration.millis(Math.round(Duration.toMillis(delay)))),
    Schedule.intersect(Schedule.recurs(policy.maxRetries)),
    Schedule.intersect(Schedule.identity<ApplianceError.ApplianceError>()),
    Schedule.map(([[, retry], error]): RetryStep => ({ retry, error })),
    Schedule.modifyDelay(({ error }, delay) => {
      const wait = retryAfterSecondsOf(error)
      return wait === undefined ? delay : Duration.seconds(wait)
    }),
    Schedule.whileInput(retryable(policy))
  )

// ------------------------------------------------------------- the pipeline

/** The pipeline of one connection. @internal */
export interface Pipeline {
  readonly settings: Settings
  readonly account: Account
  /** An `ApplianceError` of this connection, with its hint. */
  readonly fail: (operation: string, reason: ApplianceError.ApplianceErrorReason) => ApplianceError.ApplianceError
  /** A transport failure of this connection as an `ApplianceError`. */
  readonly failTransport: (operation: string, cause: unknown) => ApplianceError.ApplianceError
  /** A Decode error whose excerpt is scrubbed of the secrets of this connection. */
  readonly decodeError: (operation: string, path: string, text: string) => Effect.Effect<ApplianceError.ApplianceError>
  /** The HttpClient of this connection (base URL prepended, `Connection: close` unless keep-alive). */
  readonly http: HttpClient.HttpClient
  /** One buffered call: limiter, token, request, bounded body, status mapping; retried by the schedule when idempotent. */
  readonly call: (call: Call) => Effect.Effect<Answer, ApplianceError.ApplianceError>
  /** Runs `attempt` with a token; one re-authentication when the token is refused. */
  readonly authenticated: <A>(
    operation: string,
    attempt: (bearer: string) => Effect.Effect<A, ApplianceError.ApplianceError | AuthRejected>
  ) => Effect.Effect<A, ApplianceError.ApplianceError>
  /** Retries `effect` by {@link retrySchedule} when the operation is idempotent; runs it once otherwise. */
  readonly retry: (
    operation: string,
    idempotent: boolean
  ) => <A>(effect: Effect.Effect<A, ApplianceError.ApplianceError>) => Effect.Effect<A, ApplianceError.ApplianceError>
  /** Maps a status outside `accept` (default 200) to its error. */
  readonly checkStatus: (
    operation: string,
    answer: Answer,
    accept?: ReadonlyArray<number>
  ) => Effect.Effect<Answer, ApplianceError.ApplianceError | AuthRejected>
  /** An ApplianceRefused error carrying the appliance's message (or an excerpt of its answer). */
  readonly refused: (
    operation: string,
    answer: Answer,
    extraSecrets?: ReadonlyArray<string>
  ) => Effect.Effect<ApplianceError.ApplianceError>
  /** Pauses the account when the appliance says its budget is spent (X-RateLimit-Remaining: 0). */
  readonly observeRateHeaders: (response: Incoming) => Effect.Effect<void>
  /** Decodes a JSON answer: its content type, then `schema` (a `Schema.parseJson` of a wire type). */
  readonly json: <A>(
    operation: string,
    answer: Answer,
    schema: Schema.Schema<A, string>
  ) => Effect.Effect<A, ApplianceError.ApplianceError>
  /** Decodes an XML answer: its content type, then `parse` (an `<error>` answer is refused). */
  readonly xml: <A>(
    operation: string,
    answer: Answer,
    parse: (text: string) => A
  ) => Effect.Effect<A, ApplianceError.ApplianceError>
  /** v2 first, v1 when the appliance has no v2 API (404), remembered for this connection. */
  readonly v2OrV1: <A>(
    v2: Effect.Effect<A, ApplianceError.ApplianceError>,
    v1: Effect.Effect<A, ApplianceError.ApplianceError>
  ) => Effect.Effect<A, ApplianceError.ApplianceError>
}

/** Where a JSON decoding failed: `(json)` when the text is not JSON, else the path of the first issue. */
const jsonIssue = (error: ParseResult.ParseError): { readonly path: string; readonly message: string } => {
  const first = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  const message = first?.message ?? "invalid"
  // `Schema.parseJson(X)` composes JSON.parse and X: a failure on its encoded side is the JSON text itself
  if (error.issue._tag === "Transformation" && error.issue.kind === "Encoded") return { path: "(json)", message }
  return { path: first && first.path.length > 0 ? first.path.join(".") : "(root)", message }
}

/** Builds the pipeline of one connection. @internal */
export const make = (
  settings: Settings,
  http: HttpClient.HttpClient,
  accountFor: AccountFor
): Effect.Effect<Pipeline> =>
  Effect.gen(function* () {
    const who: Errors.Who = {
      id: settings.id,
      baseUrl: settings.baseUrl,
      clientId: settings.clientId,
      pinned: settings.pinned,
      names: settings.names
    }
    const fail = (operation: string, reason: ApplianceError.ApplianceErrorReason) => Errors.make(who, operation, reason)
    const failTransport = (operation: string, cause: unknown) =>
      fail(operation, reasonOfTransport(cause, settings.timeoutMillis))
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

    // ------------------------------------------------------------- decoding
    const wrongType = (operation: string, answer: Answer, expected: string) =>
      Effect.flatMap(
        decodeError(
          operation,
          "(content-type)",
          `expected ${expected}, got ${answer.contentType || "nothing"}: ${answer.text}`
        ),
        Effect.fail
      )

    const json = <A>(
      operation: string,
      answer: Answer,
      schema: Schema.Schema<A, string>
    ): Effect.Effect<A, ApplianceError.ApplianceError> =>
      answer.contentType.includes("json")
        ? Schema.decodeUnknown(schema)(answer.text).pipe(
            Effect.catchTag("ParseError", (error) => {
              const { message, path } = jsonIssue(error)
              const text = path === "(json)" ? `${message}: ${answer.text}` : `${message}; body: ${answer.text}`
              return Effect.flatMap(decodeError(operation, path, text), Effect.fail)
            })
          )
        : wrongType(operation, answer, "application/json")

    const xmlRefusal = (operation: string, message: string) =>
      /permission|not allowed|access denied|insufficient/i.test(message)
        ? fail(operation, new ApplianceError.Forbidden({ permission: Errors.permissions[operation] ?? "perm_command" }))
        : fail(operation, new ApplianceError.ApplianceRefused({ applianceMessage: message.slice(0, 500) }))

    const xml = <A>(
      operation: string,
      answer: Answer,
      parse: (text: string) => A
    ): Effect.Effect<A, ApplianceError.ApplianceError> =>
      Effect.suspend(() => {
        if (!answer.contentType.includes("xml")) return wrongType(operation, answer, "text/xml")
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

    const refused = (operation: string, answer: Answer, extraSecrets: ReadonlyArray<string> = []) =>
      Effect.gen(function* () {
        const body = Schema.decodeUnknownOption(Wire.RefusalJson)(answer.text)
        const message = Option.map(body, (b) =>
          b.errors !== undefined ? `${b.message} ${JSON.stringify(b.errors)}` : b.message
        )
        const secrets = [...(yield* secretsNow), ...extraSecrets]
        return fail(
          operation,
          new ApplianceError.ApplianceRefused({
            applianceMessage: Errors.excerpt(
              Option.getOrElse(message, () => `HTTP ${answer.status}: ${answer.text}`),
              secrets,
              300
            ),
            status: answer.status
          })
        )
      })

    // ------------------------------------------------------------- exchange
    const mapHttpError = (operation: string) => (error: HttpClientError.HttpClientError) =>
      failTransport(operation, error.cause ?? error)

    const observeRateHeadersOn = (limiter: Limiter.Limiter) => (response: Incoming) =>
      Effect.gen(function* () {
        const remaining = response.headers["x-ratelimit-remaining"]
        if (remaining !== undefined && Number(remaining) < 1) {
          const now = yield* Clock.currentTimeMillis
          yield* limiter.pauseUntil(now + 1000)
        }
      })

    /** One request, body read within bounds, with the time limit. */
    const exchangeOn =
      (limiter: Limiter.Limiter) =>
      (
        operation: string,
        request: HttpClientRequest.HttpClientRequest
      ): Effect.Effect<Answer, ApplianceError.ApplianceError> =>
        client.execute(request).pipe(
          Effect.mapError(mapHttpError(operation)),
          Effect.tap(observeRateHeadersOn(limiter)),
          Effect.flatMap((response) =>
            readBounded(response, settings.maxBodyBytes).pipe(
              Effect.map((bytes): Answer => ({
                status: response.status,
                contentType: contentTypeOf(response),
                text: decoder.decode(bytes),
                lastPage: lastPageOf(response),
                retryAfter: retryAfterOf(response)
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
                  : Effect.fail(failTransport(operation, causeOf(e.cause)))
              )
            )
          ),
          Effect.timeoutFail({
            duration: settings.timeoutMillis,
            onTimeout: () => fail(operation, new ApplianceError.Timeout({ afterMillis: settings.timeoutMillis }))
          })
        )

    /** Pauses the account until a 429's Retry-After has passed. */
    const pauseForRetryAfterOn = (limiter: Limiter.Limiter) => (answer: Answer) =>
      answer.retryAfter === undefined
        ? Effect.void
        : Effect.flatMap(Clock.currentTimeMillis, (now) => limiter.pauseUntil(now + answer.retryAfter! * 1000))

    const rateLimited = (operation: string, answer: Answer) =>
      fail(
        operation,
        new ApplianceError.RateLimited(answer.retryAfter !== undefined ? { retryAfterSeconds: answer.retryAfter } : {})
      )

    // ------------------------------------------------------------- token
    /** The token request of the account whose limiter is `limiter`. */
    const mintOn = (limiter: Limiter.Limiter): Effect.Effect<Token.Minted, ApplianceError.ApplianceError> =>
      Effect.gen(function* () {
        const operation = "authenticate"
        yield* limiter.take
        const basic = Buffer.from(
          `${encodeURIComponent(settings.clientId)}:${encodeURIComponent(Redacted.value(settings.clientSecret))}`
        ).toString("base64")
        const request = HttpClientRequest.post("/oauth2/token").pipe(
          HttpClientRequest.setHeader("authorization", `Basic ${basic}`),
          HttpClientRequest.acceptJson,
          HttpClientRequest.bodyUrlParams({ grant_type: "client_credentials" })
        )
        const answer = yield* exchangeOn(limiter)(operation, request)
        if (answer.status === 400 || answer.status === 401 || answer.status === 403) {
          return yield* Effect.fail(fail(operation, new ApplianceError.Unauthorized()))
        }
        if (answer.status === 429) {
          yield* pauseForRetryAfterOn(limiter)(answer)
          return yield* Effect.fail(rateLimited(operation, answer))
        }
        if (answer.status !== 200) return yield* Effect.fail(yield* refused(operation, answer))
        const body = yield* json(operation, answer, Wire.TokenJson)
        return { value: Redacted.make(body.access_token), expiresInSeconds: body.expires_in }
      })

    // the account exists before any request of this connection: its limiter first, then its tokens
    const account = yield* accountFor((limiter) => Token.make(mintOn(limiter)))
    const exchange = exchangeOn(account.limiter)
    const observeRateHeaders = observeRateHeadersOn(account.limiter)

    // ------------------------------------------------------------- status mapping
    const checkStatus = (
      operation: string,
      answer: Answer,
      accept: ReadonlyArray<number> = [200]
    ): Effect.Effect<Answer, ApplianceError.ApplianceError | AuthRejected> =>
      Effect.gen(function* () {
        if (accept.includes(answer.status)) return answer
        switch (answer.status) {
          case 401: {
            const error = Option.getOrUndefined(
              Option.map(Schema.decodeUnknownOption(Wire.AuthErrorJson)(answer.text), (b) => b.error)
            )
            // the config API also answers 401 for unknown query parameters
            if (error === undefined || error === "access_denied" || error === "invalid_token") {
              return yield* Effect.fail(new AuthRejected())
            }
            return yield* Effect.fail(yield* refused(operation, answer))
          }
          case 403:
            return yield* Effect.fail(
              fail(
                operation,
                new ApplianceError.Forbidden({ permission: Errors.permissions[operation] ?? "perm_command" })
              )
            )
          case 404:
            return yield* Effect.fail(fail(operation, new ApplianceError.NotFound()))
          case 429:
            yield* pauseForRetryAfterOn(account.limiter)(answer)
            return yield* Effect.fail(rateLimited(operation, answer))
          default:
            return yield* Effect.fail(yield* refused(operation, answer))
        }
      })

    // ------------------------------------------------------------- token refresh
    const authenticated = <A>(
      operation: string,
      attempt: (bearer: string) => Effect.Effect<A, ApplianceError.ApplianceError | AuthRejected>
    ): Effect.Effect<A, ApplianceError.ApplianceError> => {
      const isRejected = (e: unknown): e is AuthRejected => e instanceof AuthRejected
      const once = Effect.gen(function* () {
        const token = yield* account.tokens.get
        yield* Ref.set(lastToken, Redacted.value(token.value))
        return yield* attempt(Redacted.value(token.value)).pipe(
          Effect.catchIf(isRejected, (e) => Effect.zipRight(account.tokens.invalidate(token), Effect.fail(e)))
        )
      })
      return once.pipe(
        Effect.catchIf(isRejected, () =>
          Effect.zipRight(
            Effect.logDebug(`${settings.id}: ${operation}: token refused, authenticating again once`),
            once
          )
        ),
        Effect.catchIf(isRejected, () => Effect.fail(fail(operation, new ApplianceError.Unauthorized())))
      )
    }

    // ------------------------------------------------------------- retries
    const schedule = retrySchedule(settings)
    const retry =
      (operation: string, idempotent: boolean) =>
      <A>(effect: Effect.Effect<A, ApplianceError.ApplianceError>): Effect.Effect<A, ApplianceError.ApplianceError> =>
        idempotent
          ? Effect.retry(
              effect,
              schedule.pipe(
                Schedule.onDecision(({ error, retry }, decision) =>
                  ScheduleDecision.isDone(decision)
                    ? Effect.void
                    : Effect.flatMap(Clock.currentTimeMillis, (now) =>
                        Effect.logDebug(
                          `${settings.id}: ${operation} failed (${error.reason._tag}), attempt ${retry + 2} in ${Math.max(0, ScheduleIntervals.start(decision.intervals) - now)} ms`
                        )
                      )
                )
              )
            )
          : effect

    const call = (c: Call): Effect.Effect<Answer, ApplianceError.ApplianceError> =>
      authenticated(c.operation, (bearer) =>
        Effect.gen(function* () {
          yield* account.limiter.take
          const answer = yield* exchange(c.operation, c.request.pipe(HttpClientRequest.bearerToken(bearer)))
          return yield* checkStatus(c.operation, answer, c.accept)
        })
      ).pipe(retry(c.operation, c.idempotent))

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

    return {
      settings,
      account,
      fail,
      failTransport,
      decodeError,
      http: client,
      call,
      authenticated,
      retry,
      checkStatus,
      refused,
      observeRateHeaders,
      json,
      xml,
      v2OrV1
    } satisfies Pipeline
  })
