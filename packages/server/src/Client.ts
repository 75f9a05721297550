/**
 * The typed client of the portal, derived from `PortalApi` (the same
 * definition the service implements): every endpoint is a function whose
 * payload, success and typed errors come from the API's schemas.
 *
 * ```ts
 * const client = yield* Client.make({ baseUrl, token })
 * const run = yield* client.runs.start({ payload: { site: "prod", target: "24.3.2" } })
 * yield* client.gates.answer({ path: { runId: run.runId, stepId: "pair/switch" },
 *   payload: { decision: "approve", comment: "moved", evidence: {} }, headers: {} })
 * ```
 *
 * The derived client reads whole bodies, so the event stream has its own
 * reader: {@link events} (fetch, `Last-Event-ID`, parsed frames).
 *
 * @since 0.3.0
 */
import type * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { PortalApi } from "./Api.js"

/**
 * Where the portal is and whose token to send.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /** e.g. `https://portal.example.com`. */
  readonly baseUrl: string
  /** A bearer token; omit to call without one (every endpoint then answers 401). */
  readonly token?: Redacted.Redacted<string> | string | undefined
}

/**
 * The client (needs an `HttpClient`: `FetchHttpClient.layer` or `NodeHttpClient.layerUndici`).
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<HttpApiClient.Client<ApiGroups, ApiErrors, never>, never, HttpClient.HttpClient> =>
  HttpApiClient.make(PortalApi, {
    baseUrl: options.baseUrl,
    transformClient:
      options.token === undefined
        ? undefined
        : HttpClient.mapRequest(
            HttpClientRequest.bearerToken(
              typeof options.token === "string" ? options.token : Redacted.value(options.token)
            )
          )
  })

type ApiGroups = typeof PortalApi extends HttpApi.HttpApi<string, infer G, infer _E, infer _R> ? G : never
type ApiErrors = typeof PortalApi extends HttpApi.HttpApi<string, infer _G, infer E, infer _R> ? E : never

/**
 * The client's type.
 *
 * @since 0.3.0
 * @category models
 */
export type Client = Effect.Effect.Success<ReturnType<typeof make>>

/**
 * One server-sent event.
 *
 * @since 0.3.0
 * @category models
 */
export interface ServerSentEvent {
  /** The journal sequence (absent for `gates`, `end`). */
  readonly id: number | undefined
  readonly event: string
  readonly data: string
}

/**
 * Parse server-sent event frames from text chunks (comments and `retry:` skipped).
 *
 * @since 0.3.0
 * @category combinators
 */
export const parseSse = <E, R>(chunks: Stream.Stream<string, E, R>): Stream.Stream<ServerSentEvent, E, R> =>
  chunks.pipe(
    Stream.mapAccum("", (buffer, chunk) => {
      const text = buffer + chunk
      const frames = text.split("\n\n")
      const rest = frames.pop() ?? ""
      return [rest, frames] as const
    }),
    Stream.mapConcat((frames) => frames),
    Stream.filterMap((frame: string): Option.Option<ServerSentEvent> => {
      let id: number | undefined
      let event = "message"
      const data: Array<string> = []
      let any = false
      for (const line of frame.split("\n")) {
        if (line.startsWith(":") || line === "") continue
        const i = line.indexOf(":")
        const field = i < 0 ? line : line.slice(0, i)
        const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "")
        if (field === "id") id = Number(value)
        else if (field === "event") event = value
        else if (field === "data") data.push(value)
        else continue
        any = true
      }
      return any && (data.length > 0 || id !== undefined)
        ? Option.some({ id, event, data: data.join("\n") })
        : Option.none()
    })
  )

/**
 * The event stream of a run, read with `fetch`: frames as they come, after
 * `lastEventId`. Ends when the server ends it (`event: end`), fails on a
 * non-200 answer.
 *
 * @since 0.3.0
 * @category constructors
 */
export const events = (
  options: Options & { readonly runId: string; readonly lastEventId?: number | undefined }
): Stream.Stream<ServerSentEvent, Error> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const controller = new AbortController()
      yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
      const headers: Record<string, string> = { accept: "text/event-stream" }
      if (options.token !== undefined)
        headers["authorization"] =
          `Bearer ${typeof options.token === "string" ? options.token : Redacted.value(options.token)}`
      if (options.lastEventId !== undefined) headers["last-event-id"] = String(options.lastEventId)
      const res = yield* Effect.tryPromise({
        try: () =>
          fetch(`${options.baseUrl}/api/v1/runs/${encodeURIComponent(options.runId)}/events`, {
            headers,
            signal: controller.signal
          }),
        catch: (e) => (e instanceof Error ? e : new Error(String(e)))
      })
      if (res.status !== 200 || res.body === null) {
        const text = yield* Effect.promise(() => res.text().catch(() => ""))
        return yield* Effect.fail(new Error(`event stream: HTTP ${res.status} ${text}`))
      }
      const decoder = new TextDecoder()
      const body = res.body
      const chunks = Stream.fromAsyncIterable(body as unknown as AsyncIterable<Uint8Array>, (e) =>
        e instanceof Error ? e : new Error(String(e))
      ).pipe(Stream.map((b) => decoder.decode(b, { stream: true })))
      return parseSse(chunks).pipe(Stream.takeUntil((e) => e.event === "end"))
    })
  )
