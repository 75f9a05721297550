/**
 * The live `ApplianceApi`: talks to BeyondTrust SRA appliances over HTTPS
 * with @effect/platform's HttpClient on undici, one undici `Agent` per
 * appliance (TLS trust, pinning, timeouts). See docs/access.md for the API
 * account permissions each operation needs.
 *
 * @example
 * ```ts
 * import { ApplianceClient } from "@sra-upgrade/appliance-client"
 * import * as Redacted from "effect/Redacted"
 *
 * const Live = ApplianceClient.layer([
 *   {
 *     id: "A",
 *     baseUrl: "https://support-a.example.com",
 *     clientId: "3f0c…",
 *     clientSecret: Redacted.make(process.env.SRA_SECRET_A!),
 *     tls: { pinSha256: "9b:1c:…" }
 *   }
 * ])
 * ```
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { ApplianceApi, ApplianceError } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Agent, Client, type Dispatcher } from "undici"
import * as Errors from "./internal/errors.js"
import * as Limiter from "./internal/limiter.js"
import * as Operations from "./internal/operations.js"
import * as Pipeline from "./internal/pipeline.js"
import * as Tls from "./internal/tls.js"

/**
 * How to trust an appliance's certificate. Default: the system CAs.
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsOptions {
  /** PEM bundle of the CA(s) that issued the appliance certificate; only these are then trusted. */
  readonly caPem?: string | undefined
  /**
   * SHA-256 of the appliance's leaf certificate (hex, colons optional), for
   * self-signed appliances. When set, the pin alone decides trust.
   */
  readonly pinSha256?: string | undefined
  /** Name to verify the certificate against (and send as SNI) when `baseUrl` uses an IP address. */
  readonly servername?: string | undefined
}

/**
 * Retry policy of idempotent reads (mutations are never retried).
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryOptions {
  /** Extra attempts after the first (default 3). */
  readonly maxRetries?: number | undefined
  /** First backoff delay, doubled each time, with jitter (default 250 ms). */
  readonly baseDelayMillis?: number | undefined
  /** Ceiling of one backoff delay (default 5 s). */
  readonly maxDelayMillis?: number | undefined
  /** A 429 asking to wait longer than this fails at once with RateLimited (default 60 s). */
  readonly maxRetryAfterSeconds?: number | undefined
}

/**
 * How the hints of errors name the settings a person edits to fix them. The
 * defaults name the fields of {@link Connection}; a program that builds its
 * connections from its own configuration names that configuration's fields
 * instead (the CLI names the site file's, see {@link siteFileSettingNames}).
 *
 * @since 0.3.0
 * @category models
 */
export interface SettingNames {
  /** The appliance's API address (default `baseUrl`). */
  readonly baseUrl: string
  /** The API account's client id and secret (default `clientId and clientSecret`). */
  readonly credentials: string
  /** The certificate pin (default `tls.pinSha256`). */
  readonly pin: string
  /** The CA bundle (default `tls.caPem`). */
  readonly caBundle: string
  /** The time limit of one call (default `timeoutMillis`); `null` when the user has no such setting. */
  readonly timeout: string | null
  /** Where backups are written (default `the backup request's directory`). */
  readonly backupDirectory: string
  /** Where connections are declared, named when an appliance id is unknown (default `the ApplianceClient layer`). */
  readonly connections: string
}

/**
 * The names of the settings of appliance `index` of a site file
 * (`appliances[index].tls.sha256 in site.yaml`…), for hints that tell a CLI
 * user which line of the file to edit. The site file has no time limit
 * setting, so Timeout hints do not suggest raising one.
 *
 * @since 0.3.0
 * @category constructors
 */
export const siteFileSettingNames = (siteFile: string, index: number): SettingNames => {
  const at = `appliances[${index}]`
  return {
    baseUrl: `${at}.apiUrl in ${siteFile}`,
    credentials: `${at}.clientId, and the secret that ${at}.clientSecret points to, in ${siteFile}`,
    pin: `${at}.tls.sha256 in ${siteFile}`,
    caBundle: `${at}.tls.caFile in ${siteFile}`,
    timeout: null,
    backupDirectory: `backup.directory in ${siteFile}, then plan again; \`sra-upgrade backup\` also takes --directory`,
    connections: `appliances in ${siteFile}`
  }
}

/**
 * One appliance and the API account used to reach it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Connection {
  /** Id of the appliance in the site description (e.g. `A`). */
  readonly id: string
  /** e.g. `https://support-a.example.com` (a path prefix is kept). */
  readonly baseUrl: string
  /** OAuth client id of the API account (/login > Management > API Configuration). */
  readonly clientId: string
  readonly clientSecret: Redacted.Redacted<string>
  readonly tls?: TlsOptions | undefined
  /** Time limit of one API call, headers and body (default 30 s). */
  readonly timeoutMillis?: number | undefined
  /** A backup download fails when no byte arrives for this long (default 60 s). */
  readonly backupIdleTimeoutMillis?: number | undefined
  /** Largest JSON/XML answer accepted (default 4 MiB). */
  readonly maxBodyBytes?: number | undefined
  /** Client-side rate limit of the API account (default 20, the vendor's limit). */
  readonly requestsPerSecond?: number | undefined
  readonly retry?: RetryOptions | undefined
  /** `auto` (default): JSON v2 API, XML v1 when the appliance has no v2. */
  readonly commandApi?: "auto" | "v1" | "v2" | undefined
  /**
   * Write the backup file on a worker thread (default true) while the
   * calling thread reads the socket and hashes: 0.85–0.91 of `curl -o`'s
   * throughput on a 2-core machine, against 0.61–0.80 with everything on
   * the calling thread (bench/backup-download.ts, docs/benchmarks.md), for
   * one thread and 8 MiB of shared buffers during the download. `false`
   * does everything on the calling thread.
   */
  readonly writeBackupOnWorkerThread?: boolean | undefined
  /** Reuse connections; the vendor asks clients to close them after each call (default false). */
  readonly keepAlive?: boolean | undefined
  /**
   * An undici dispatcher to use instead of our own Agent (tests with
   * `MockAgent`, corporate proxies with `ProxyAgent`). TLS options are then
   * the dispatcher's business.
   */
  readonly dispatcher?: Dispatcher | undefined
  /** How hints name the settings of this connection (default: the fields of this interface). */
  readonly settingNames?: Partial<SettingNames> | undefined
}

/**
 * Options of the whole registry.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Trust of the load-balancer probe (it checks the certificate against the
   * presented host name). Default: the CA bundles of the connections if any
   * are configured, else the system CAs.
   */
  readonly probeTls?: { readonly caPem?: string | undefined } | undefined
  /** Default time limit of a probe (default 10 s). */
  readonly probeTimeoutMillis?: number | undefined
  /** Dispatcher for probes (tests). */
  readonly probeDispatcher?: Dispatcher | undefined
}

const resolve = (c: Connection, connector: Pipeline.Settings["connector"]): Pipeline.Settings => ({
  id: c.id,
  baseUrl: c.baseUrl.replace(/\/+$/, ""),
  clientId: c.clientId,
  clientSecret: c.clientSecret,
  pinned: c.tls?.pinSha256 !== undefined,
  timeoutMillis: c.timeoutMillis ?? 30_000,
  backupIdleTimeoutMillis: c.backupIdleTimeoutMillis ?? 60_000,
  maxBodyBytes: c.maxBodyBytes ?? 4 * 1024 * 1024,
  maxRetries: c.retry?.maxRetries ?? 3,
  baseDelayMillis: c.retry?.baseDelayMillis ?? 250,
  maxDelayMillis: c.retry?.maxDelayMillis ?? 5_000,
  maxRetryAfterSeconds: c.retry?.maxRetryAfterSeconds ?? 60,
  commandApi: c.commandApi ?? "auto",
  keepAlive: c.keepAlive ?? false,
  writeBackupOnWorkerThread: c.writeBackupOnWorkerThread ?? true,
  trust: c.tls,
  connector,
  names: { ...Errors.defaultNames, ...c.settingNames }
})

/** An HttpClient on undici over the given dispatcher (platform-node's layer, our dispatcher). */
const httpClientOn = (dispatcher: Dispatcher): Effect.Effect<HttpClient.HttpClient> =>
  HttpClient.HttpClient.pipe(
    Effect.provide(
      NodeHttpClient.layerUndiciWithoutDispatcher.pipe(
        Layer.provide(Layer.succeed(NodeHttpClient.Dispatcher, dispatcher))
      )
    )
  )

const ownAgent = (
  connection: Connection,
  connector: Pipeline.Settings["connector"]
): Effect.Effect<Dispatcher, never, Scope.Scope> =>
  connection.dispatcher !== undefined || connector === undefined
    ? Effect.succeed(connection.dispatcher!)
    : Effect.acquireRelease(
        Effect.sync(() => new Agent({ connect: connector, connections: 8, keepAliveTimeout: 4_000 })),
        (agent) => Effect.promise(() => agent.destroy().catch(() => undefined))
      )

/**
 * Builds the registry. Agents are closed when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  connections: ReadonlyArray<Connection>,
  options?: Options
): Effect.Effect<typeof ApplianceApi.ApplianceApi.Service, never, Scope.Scope> =>
  Effect.gen(function* () {
    const accounts = new Map<string, Pipeline.Account>()
    const clients = new Map<string, ApplianceApi.ApplianceClient>()
    for (const connection of connections) {
      const connector =
        connection.dispatcher === undefined
          ? Tls.makeConnector(connection.tls, connection.timeoutMillis ?? 30_000)
          : undefined
      const settings = resolve(connection, connector)
      const dispatcher = yield* ownAgent(connection, connector)
      const http = (yield* httpClientOn(dispatcher)).pipe(
        // bodies up to the size cap never pause undici's parser (backups take their own path: internal/backup.ts)
        HttpClient.transformResponse(
          Effect.provideService(NodeHttpClient.UndiciRequestOptions, {
            highWaterMark: settings.maxBodyBytes + 65_536
          } as Dispatcher.RequestOptions)
        )
      )
      // limiter and tokens are per API account (origin + client id)
      const key = `${new URL(settings.baseUrl).origin}|${settings.clientId}`
      const accountFor: Pipeline.AccountFor = (tokensOn) =>
        Effect.gen(function* () {
          const existing = accounts.get(key)
          if (existing !== undefined) return existing
          const limiter = yield* Limiter.make(connection.requestsPerSecond ?? 20)
          const account: Pipeline.Account = { limiter, tokens: yield* tokensOn(limiter) }
          accounts.set(key, account)
          return account
        })
      clients.set(connection.id, Operations.make(yield* Pipeline.make(settings, http, accountFor)))
    }
    // where the connections are declared: what they all say, else the layer
    const declared = [
      ...new Set(connections.map((c) => c.settingNames?.connections ?? Errors.defaultNames.connections))
    ]
    const connectionsName = declared.length === 1 ? declared[0]! : Errors.defaultNames.connections
    const probeCa =
      options?.probeTls?.caPem ??
      (connections.some((c) => c.tls?.caPem !== undefined)
        ? [...new Set(connections.flatMap((c) => (c.tls?.caPem ? [c.tls.caPem] : [])))].join("\n")
        : undefined)
    const probeTimeout = options?.probeTimeoutMillis ?? 10_000
    const appliance = (id: string) => {
      const client = clients.get(id)
      return client !== undefined
        ? Effect.succeed(client)
        : Effect.fail(
            new ApplianceError.ApplianceError({
              appliance: id,
              operation: "appliance",
              reason: new ApplianceError.NotConfigured(),
              hint: `Add a connection with id "${id}" to ${connectionsName} (configured: ${[...clients.keys()].join(", ") || "none"}).`
            })
          )
    }
    const probe = (target: ApplianceApi.ProbeTarget) =>
      runProbe(target, probeCa, target.timeoutMillis ?? probeTimeout, options?.probeDispatcher)
    return ApplianceApi.ApplianceApi.of({ appliance, probe })
  })

const runProbe = (
  target: ApplianceApi.ProbeTarget,
  caPem: string | undefined,
  timeoutMillis: number,
  dispatcher: Dispatcher | undefined
): Effect.Effect<ApplianceApi.ProbeResult, ApplianceError.ApplianceError> =>
  Effect.gen(function* () {
    const who: Errors.Who = {
      id: target.url,
      baseUrl: target.url,
      clientId: "(none: the probe is anonymous)",
      pinned: false,
      names: Errors.defaultNames
    }
    const url = new URL(target.url)
    const own =
      dispatcher ??
      (yield* Effect.acquireRelease(
        Effect.sync(
          () =>
            new Client(url.origin, {
              connect: Tls.makeConnector({ caPem, servername: target.hostname }, timeoutMillis)
            })
        ),
        (c) => Effect.promise(() => c.destroy().catch(() => undefined))
      ))
    const http = yield* httpClientOn(own)
    const request = HttpClientRequest.get(new URL("/check_health", url).toString()).pipe(
      target.hostname !== undefined ? HttpClientRequest.setHeader("host", target.hostname) : (r) => r,
      HttpClientRequest.setHeader("connection", "close")
    )
    const response = yield* http
      .execute(request)
      .pipe(Effect.mapError((e) => Errors.make(who, "probe", Pipeline.reasonOfTransport(e.cause ?? e, timeoutMillis))))
    const parts: Array<Uint8Array> = []
    let size = 0
    yield* response.stream.pipe(
      Stream.takeWhile(() => size < 65_536),
      Stream.runForEach((b) =>
        Effect.sync(() => {
          parts.push(b)
          size += b.length
        })
      ),
      Effect.mapError((e) => Errors.make(who, "probe", Pipeline.reasonOfTransport(e.cause ?? e, timeoutMillis)))
    )
    const body = Errors.excerpt(new TextDecoder().decode(Buffer.concat(parts)), [], 1_000)
    const date = response.headers["date"]
    return new ApplianceApi.ProbeResult({
      ok: response.status === 200,
      status: response.status,
      body,
      ...(typeof date === "string" && date !== "" ? { date } : {})
    })
  }).pipe(
    Effect.timeoutFail({
      duration: timeoutMillis,
      onTimeout: () =>
        Errors.make(
          { id: target.url, baseUrl: target.url, clientId: "(none)", pinned: false, names: Errors.defaultNames },
          "probe",
          new ApplianceError.Timeout({ afterMillis: timeoutMillis })
        )
    }),
    Effect.scoped
  )

/**
 * The live `ApplianceApi` for these appliances.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  connections: ReadonlyArray<Connection>,
  options?: Options
): Layer.Layer<ApplianceApi.ApplianceApi> => Layer.scoped(ApplianceApi.ApplianceApi, make(connections, options))
