/**
 * The portal service: the `PortalApi` implemented over the runs, gates,
 * sites and event streams, OpenAPI at `/api/openapi.json`, Swagger UI at
 * `/api/docs`, the page at `/`, webhooks, optional TLS — as one layer.
 *
 * Listens on 127.0.0.1 by default. Request bodies are limited (64 KiB by
 * default; larger ones get a typed 413). When the layer is released, open
 * connections (event streams included) are closed at once, then the runs
 * are interrupted (journaled `Cancelled`) and resumed at the next start.
 *
 * @since 0.3.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiSwagger from "@effect/platform/HttpApiSwagger"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Journal, ReportFormat } from "@sra-upgrade/core"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import * as https from "node:https"
import * as path from "node:path"
import {
  Authentication,
  CurrentPrincipal,
  Forbidden,
  LengthRequired,
  NotFound,
  PayloadTooLarge,
  PortalApi,
  sessionSecurity,
  StreamAuthentication,
  Unauthenticated
} from "./Api.js"
import type { EngineLayer } from "@sra-upgrade/fleet"
import * as Auth from "./Auth.js"
import * as Events from "./Events.js"
import * as Fleet from "./Fleet.js"
import * as Gates from "./Gates.js"
import * as Meta from "./internal/meta.js"
import * as Page from "./Page.js"
import type * as Policy from "./Policy.js"
import * as Runs from "./Runs.js"
import * as Sites from "./Sites.js"
import * as Webhooks from "./Webhooks.js"

/**
 * Options of the service.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /** Folder of the run journals (and of the service's own files, in `.portal/`). */
  readonly runsDirectory: string
  /** Folder of the site files. */
  readonly sitesDirectory: string
  /** Another source of sites instead of the folder (a CMDB, tests). */
  readonly sites?: Layer.Layer<Sites.Sites> | undefined
  /** Who may call: `Auth.layerFile(tokensFile)` or `Auth.layerMemory(issued)`. */
  readonly tokens: Layer.Layer<Auth.Tokens, Auth.TokensFileError>
  /** Port (default 8080; 0 picks a free one). */
  readonly port?: number | undefined
  /** Address to listen on (default 127.0.0.1). */
  readonly host?: string | undefined
  /** PEM certificate chain and key: serve HTTPS. */
  readonly tls?: { readonly cert: string | Uint8Array; readonly key: string | Uint8Array } | undefined
  /** Built page files (default: the package's `dist/page`). */
  readonly pageDirectory?: string | undefined
  readonly policies?: Policy.PoliciesConfig | undefined
  readonly webhooks?: ReadonlyArray<Webhooks.Endpoint> | undefined
  readonly webhookRetryDelays?: Webhooks.Options["retryDelays"]
  /** See `Gates.Options.perform`. */
  readonly perform?: Gates.Options["perform"]
  /** See `Sites.Tuning`. */
  readonly tuning?: Sites.Tuning | undefined
  /** Environment for `{ env: NAME }` secrets (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  /** Largest request body accepted, bytes (default 64 KiB). */
  readonly maxBodyBytes?: number | undefined
  /** Keep-alive interval of event streams (default 15 s). */
  readonly keepAliveMillis?: number | undefined
  /** The fleet's database (`sra-upgrade fleet run --database`): rollouts and wave approvals in the API. */
  readonly fleet?: Fleet.Database | undefined
  /** Fan-out of event streams: ring size, flush interval, write size (see `Events.Options`). */
  readonly eventStreams?: Omit<Events.Options, "keepAliveMillis"> | undefined
  /** Log every request (method, path, status). */
  readonly logRequests?: boolean | undefined
  /** The portal's address as people reach it (behind a proxy), for links in webhooks. */
  readonly publicUrl?: string | undefined
}

/**
 * The running service.
 *
 * @since 0.3.0
 * @category models
 */
export interface Handle {
  /** e.g. `http://127.0.0.1:8080`. */
  readonly url: string
  readonly port: number
  /** Runs resumed at start (they were executing when the service stopped). */
  readonly resumed: ReadonlyArray<string>
}

/**
 * @since 0.3.0
 * @category services
 */
export class PortalServer extends Context.Tag("@sra-upgrade/server/PortalServer")<PortalServer, Handle>() {}

class SessionKey extends Context.Tag("@sra-upgrade/server/SessionKey")<SessionKey, Uint8Array>() {}

const sessionKeyLayer = (runsDirectory: string) =>
  Layer.effect(
    SessionKey,
    Effect.sync(() => {
      const file = path.join(Meta.portalDir(runsDirectory), "session.key")
      try {
        const existing = fs.readFileSync(file)
        if (existing.length >= 32) return new Uint8Array(existing)
      } catch {
        // created below
      }
      const key = randomBytes(32)
      fs.mkdirSync(path.dirname(file), { recursive: true })
      fs.writeFileSync(file, key, { mode: 0o600 })
      return new Uint8Array(key)
    })
  )

const forbidden = (principal: Auth.Principal, least: Auth.Role, what: string) =>
  new Forbidden({
    reason: "role",
    message: `${principal.id} is ${principal.role}; ${what} needs ${least} or more.`
  })

const requireRole = (least: Auth.Role, what: string) =>
  Effect.flatMap(CurrentPrincipal, (p) =>
    Auth.atLeast(p.role, least) ? Effect.succeed(p) : Effect.fail(forbidden(p, least, what))
  )

const unauthenticated = new Unauthenticated({
  message: "Give a valid token: `Authorization: Bearer <token>` (tokens are issued by the portal's administrator)."
})

const authLayer = Layer.effect(
  Authentication,
  Effect.map(Auth.Tokens, (tokens) =>
    Authentication.of({
      bearer: (token) =>
        Effect.flatMap(tokens.authenticate(token), (p) =>
          Option.isSome(p) ? Effect.succeed(p.value) : Effect.fail(unauthenticated)
        )
    })
  )
)

const streamAuthLayer = Layer.effect(
  StreamAuthentication,
  Effect.gen(function* () {
    const tokens = yield* Auth.Tokens
    const key = yield* SessionKey
    return StreamAuthentication.of({
      bearer: (token) =>
        Effect.flatMap(tokens.authenticate(token), (p) =>
          Option.isSome(p) ? Effect.succeed(p.value) : Effect.fail(unauthenticated)
        ),
      cookie: (value) =>
        Effect.gen(function* () {
          const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
          const id = Auth.verifySession(key, Redacted.value(value), now)
          if (Option.isNone(id)) return yield* unauthenticated
          const p = yield* tokens.byId(id.value)
          if (Option.isNone(p)) return yield* unauthenticated
          return p.value
        })
    })
  })
)

const sessionHandlers = (secure: boolean) =>
  HttpApiBuilder.group(PortalApi, "session", (h) =>
    h
      .handle("whoami", () => CurrentPrincipal)
      .handle("open", () =>
        Effect.gen(function* () {
          const p = yield* CurrentPrincipal
          const key = yield* SessionKey
          const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
          yield* HttpApiBuilder.securitySetCookie(
            sessionSecurity,
            Auth.signSession(key, p.id, now + Auth.sessionSeconds),
            {
              httpOnly: true,
              sameSite: "strict",
              path: "/api",
              secure,
              maxAge: Duration.seconds(Auth.sessionSeconds)
            }
          )
          return p
        })
      )
      .handle("close", () =>
        HttpApiBuilder.securitySetCookie(sessionSecurity, "", {
          httpOnly: true,
          sameSite: "strict",
          path: "/api",
          secure,
          maxAge: Duration.zero
        })
      )
  )

const sitesHandlers = HttpApiBuilder.group(PortalApi, "sites", (h) =>
  Effect.gen(function* () {
    const sites = yield* Sites.Sites
    return h.handle("list", () => sites.list).handle("get", ({ path }) => sites.detail(path.siteId))
  })
)

const plansHandlers = HttpApiBuilder.group(PortalApi, "plans", (h) =>
  Effect.gen(function* () {
    const sites = yield* Sites.Sites
    return h.handle("plan", ({ payload }) =>
      Effect.map(sites.plan(payload), (plan) => ({ plan, runbook: Sites.runbook(plan) }))
    )
  })
)

const runsHandlers = HttpApiBuilder.group(PortalApi, "runs", (h) =>
  Effect.gen(function* () {
    const runs = yield* Runs.Runs
    return h
      .handle("start", ({ payload }) =>
        Effect.flatMap(requireRole("operator", "starting a run"), (p) => runs.start(payload, p))
      )
      .handle("list", () => runs.list)
      .handle("get", ({ path }) => runs.get(path.runId))
      .handle("report", ({ path }) => runs.report(path.runId))
      .handle("reportMarkdown", ({ path }) =>
        Effect.map(runs.get(path.runId), (view) => ReportFormat.toMarkdown(view.report))
      )
      .handle("cancel", ({ path }) =>
        Effect.flatMap(requireRole("operator", "cancelling a run"), (p) => runs.cancel(path.runId, p))
      )
      .handle("resume", ({ path }) =>
        Effect.flatMap(requireRole("operator", "resuming a run"), (p) => runs.resume(path.runId, p))
      )
  })
)

const eventsHandlers = HttpApiBuilder.group(PortalApi, "events", (h) =>
  Effect.gen(function* () {
    const runs = yield* Runs.Runs
    const events = yield* Events.Events
    return h.handle("stream", ({ headers, path }) =>
      Effect.gen(function* () {
        if (!(yield* runs.exists(path.runId)))
          return yield* new NotFound({ resource: "run", id: path.runId, message: `No run ${path.runId}.` })
        return HttpServerResponse.stream(events.sse(path.runId, headers["last-event-id"] ?? 0), {
          contentType: "text/event-stream",
          headers: { "cache-control": "no-cache, no-transform", "x-accel-buffering": "no" }
        })
      })
    )
  })
)

const fleetHandlers = HttpApiBuilder.group(PortalApi, "fleet", (h) =>
  Effect.gen(function* () {
    const fleet = yield* Fleet.Fleet
    return h
      .handle("list", () => fleet.list)
      .handle("get", ({ path }) => fleet.get(path.rolloutId))
      .handle("approveWave", ({ path, payload }) =>
        Effect.flatMap(requireRole("approver", "approving a wave"), (p) =>
          fleet.approveWave(path.rolloutId, path.wave, p, payload.comment)
        )
      )
      .handle("gates", ({ path }) => fleet.gates(path.rolloutId))
      .handle("answerGate", ({ headers, path, payload }) =>
        Effect.flatMap(requireRole("approver", "answering a gate of a fleet rollout"), (p) =>
          fleet.answerGate(path.rolloutId, path.site, path.gate, p, payload, headers["idempotency-key"])
        )
      )
  })
)

const gatesHandlers = HttpApiBuilder.group(PortalApi, "gates", (h) =>
  Effect.gen(function* () {
    const gates = yield* Gates.Gates
    const runs = yield* Runs.Runs
    return h
      .handle("open", () => gates.open())
      .handle("ofRun", ({ path }) =>
        Effect.gen(function* () {
          if (!(yield* runs.exists(path.runId)))
            return yield* new NotFound({ resource: "run", id: path.runId, message: `No run ${path.runId}.` })
          return yield* gates.open(path.runId)
        })
      )
      .handle("answer", ({ headers, path, payload }) =>
        Effect.flatMap(CurrentPrincipal, (p) =>
          gates.answer(path.runId, path.stepId, p, payload, headers["idempotency-key"])
        )
      )
  })
)

/**
 * 413 for a declared body over the limit, 411 for a body without a declared
 * length; the platform's limit cuts anything that gets past (a wrong length).
 */
const bodyLimit = (limit: number) =>
  HttpApiBuilder.middleware((app) =>
    Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      if (request.headers["content-length"] === undefined && request.headers["transfer-encoding"] !== undefined) {
        const error = new LengthRequired({
          message: "Send the request body with a Content-Length header (chunked bodies are not accepted)."
        })
        return yield* HttpServerResponse.json(
          { _tag: error._tag, message: error.message },
          { status: 411, headers: { connection: "close" } }
        ).pipe(Effect.orDie)
      }
      const declared = Number(request.headers["content-length"] ?? "0")
      if (Number.isFinite(declared) && declared > limit) {
        const error = new PayloadTooLarge({
          limitBytes: limit,
          message: `The request body (${declared} bytes) is larger than the ${limit} bytes this service accepts.`
        })
        return yield* HttpServerResponse.json(
          { _tag: error._tag, limitBytes: error.limitBytes, message: error.message },
          { status: 413, headers: { connection: "close" } }
        ).pipe(Effect.orDie)
      }
      return yield* app.pipe(
        // the platform dies with a RequestError when it cannot read the body (not JSON, over the limit)
        Effect.catchAllCause((cause) => {
          const error = Cause.squash(cause)
          if (HttpServerError.isServerError(error) && error._tag === "RouteNotFound") {
            const path = request.url.split("?")[0]!
            return HttpServerResponse.json(
              {
                _tag: "NotFound",
                resource: "route",
                id: path.slice(0, 200),
                message: `No ${request.method} ${path.slice(0, 200)}: see the API at /api/docs.`
              },
              { status: 404 }
            ).pipe(Effect.orDie)
          }
          if (!HttpServerError.isServerError(error) || error._tag !== "RequestError") return Effect.failCause(cause)
          const detail = error.cause instanceof Error ? error.cause.message : String(error.description ?? "")
          return (
            detail.includes("maxBytes exceeded")
              ? HttpServerResponse.json(
                  {
                    _tag: "PayloadTooLarge",
                    limitBytes: limit,
                    message: `The request body is larger than the ${limit} bytes this service accepts.`
                  },
                  { status: 413 }
                )
              : HttpServerResponse.json(
                  {
                    _tag: "HttpApiDecodeError",
                    issues: [],
                    message: `The request body could not be read as JSON (${detail}); send a JSON document.`
                  },
                  { status: 400 }
                )
          ).pipe(Effect.orDie)
        })
      )
    }).pipe(HttpServerRequest.withMaxBodySize(Option.some(limit)))
  )

/**
 * The service as a layer. Its value tells where it listens.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<
  PortalServer | Runs.Runs | Gates.Gates | Webhooks.Webhooks | Events.Events,
  Auth.TokensFileError | Journal.JournalError | HttpServerError.ServeError | EngineLayer.EngineError
> => {
  const runsDirectory = path.resolve(options.runsDirectory)
  const journal = Journal.layer({ directory: runsDirectory })
  const events = Events.layer({ ...options.eventStreams, keepAliveMillis: options.keepAliveMillis })
  const gates = Gates.layer({ runsDirectory, policies: options.policies, perform: options.perform })
  const sites =
    options.sites ?? Sites.layer({ directory: options.sitesDirectory, env: options.env, tuning: options.tuning })
  const runs = Runs.layer({ runsDirectory })
  const core = runs.pipe(
    Layer.provideMerge(gates),
    Layer.provideMerge(sites),
    Layer.provideMerge(events),
    Layer.provideMerge(journal)
  )
  const publicUrlOf = (port: number) =>
    `${options.tls === undefined ? "http" : "https"}://${options.host ?? "127.0.0.1"}:${port}`

  let nodeServer: http.Server | undefined
  const createServer = () => {
    nodeServer =
      options.tls === undefined
        ? http.createServer()
        : https.createServer({ cert: options.tls.cert as string, key: options.tls.key as string })
    nodeServer.requestTimeout = 0 // event streams last
    nodeServer.headersTimeout = 30_000
    return nodeServer
  }
  const httpServer = NodeHttpServer.layer(createServer, {
    port: options.port ?? 8080,
    host: options.host ?? "127.0.0.1"
  })
  /** Closes open connections (event streams) before the server's own `close()` waits for them. */
  const closeConnections = Layer.scopedDiscard(
    Effect.zipRight(
      HttpServer.HttpServer,
      Effect.addFinalizer(() => Effect.sync(() => nodeServer?.closeAllConnections()))
    )
  )

  const groups = Layer.mergeAll(
    sessionHandlers(options.tls !== undefined),
    sitesHandlers,
    plansHandlers,
    runsHandlers,
    eventsHandlers,
    gatesHandlers,
    fleetHandlers
  )
  const api = HttpApiBuilder.api(PortalApi).pipe(
    Layer.provide(groups),
    Layer.provide(Layer.mergeAll(authLayer, streamAuthLayer)),
    Layer.provide(sessionKeyLayer(runsDirectory)),
    Layer.provide(Fleet.layer(options.fleet, { runsDirectory, policies: options.policies }))
  )
  const limit = options.maxBodyBytes ?? 64 * 1024
  const serve = HttpApiBuilder.serve(options.logRequests === true ? HttpMiddleware.logger : undefined).pipe(
    Layer.provide(bodyLimit(limit)),
    Layer.provide(HttpApiSwagger.layer({ path: "/api/docs" })),
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/api/openapi.json" })),
    Layer.provide(Page.layer(options.pageDirectory ?? Page.defaultDirectory())),
    Layer.provide(api)
  )
  const webhooks = Webhooks.layer({
    endpoints: options.webhooks ?? [],
    runsDirectory,
    retryDelays: options.webhookRetryDelays,
    publicUrl: options.publicUrl
  })
  const handle = Layer.effect(
    PortalServer,
    Effect.gen(function* () {
      const server = yield* HttpServer.HttpServer
      const port = server.address._tag === "TcpAddress" ? server.address.port : 0
      const resumed = yield* Effect.flatMap(Runs.Runs, (r) => r.recover)
      return { url: publicUrlOf(port), port, resumed }
    })
  )
  return Layer.mergeAll(handle, closeConnections, serve).pipe(
    Layer.provideMerge(httpServer),
    Layer.provideMerge(webhooks),
    Layer.provideMerge(core),
    Layer.provide(options.tokens)
  )
}
