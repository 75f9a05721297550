/**
 * Signed webhooks (Standard Webhooks 1.0): the service tells other systems
 * when a gate opens or waits (`gate.opened`, `gate.reminder`), when a run
 * stops to wait (`run.waiting`: a deferred gate, a maintenance window) and
 * how it ended (`run.succeeded`, `run.failed`, `run.halted` — PREP-6: the
 * base software update failed, call vendor support).
 *
 * Each message is `{ type, timestamp, data }`, sent as a `POST` with
 * `webhook-id` (stable across retries: the receiver's idempotency key),
 * `webhook-timestamp` (seconds, of this attempt) and `webhook-signature`:
 * `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, one per secret
 * of the endpoint, space-separated, so secrets can be rotated (list the new
 * one beside the old one). Secrets are `whsec_` + base64 of 24–64 bytes.
 *
 * Delivery is at-least-once from a durable outbox beside the journal
 * (`<runs>/.portal/webhooks/outbox.ndjson`): a message is written before
 * its first attempt, and pending messages are sent again after a restart.
 * A 2xx is success; redirects are not followed; a 410 disables the endpoint;
 * `Retry-After` is honoured; otherwise the next attempt waits 5 s, 5 min,
 * 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h (±20 % jitter), then the message
 * is given up and logged.
 *
 * The webhooks file (JSON):
 *
 * ```json
 * { "endpoints": [ { "id": "ops", "url": "https://hooks.example.com/sra",
 *     "secrets": [ { "env": "SRA_WEBHOOK_SECRET" } ], "events": ["run.failed", "run.halted"] } ] }
 * ```
 *
 * @since 0.3.0
 */
import { Site } from "@sra-upgrade/core"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { createHmac } from "node:crypto"
import { readFile } from "node:fs/promises"
import { dirname } from "node:path"
import * as path from "node:path"
import { GateView } from "./Api.js"
import { Events, type Notice } from "./Events.js"
import * as Meta from "./internal/meta.js"
import * as Store from "./internal/store.js"

/**
 * The events a webhook endpoint may subscribe to.
 *
 * @since 0.3.0
 * @category models
 */
export const EventType = Schema.Literal(
  "gate.opened",
  "gate.reminder",
  "run.waiting",
  "run.succeeded",
  "run.failed",
  "run.halted"
)

/**
 * @since 0.3.0
 * @category models
 */
export type EventType = typeof EventType.Type

/**
 * One endpoint of the webhooks file.
 *
 * @since 0.3.0
 * @category models
 */
export class EndpointConfig extends Schema.Class<EndpointConfig>("EndpointConfig")({
  id: Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9._-]{1,100}$/)),
  url: Schema.String.pipe(Schema.pattern(/^https?:\/\/[^\s]+$/)),
  /** Signing secrets (`whsec_…`), read from variables or files; several while rotating. */
  secrets: Schema.Array(Site.SecretRef).pipe(Schema.minItems(1)),
  /** Events to send (default: all). */
  events: Schema.optional(Schema.Array(EventType))
}) {}

/**
 * The webhooks file.
 *
 * @since 0.3.0
 * @category models
 */
export class WebhooksFile extends Schema.Class<WebhooksFile>("WebhooksFile")({
  endpoints: Schema.Array(EndpointConfig)
}) {}

/**
 * An endpoint with its secrets resolved.
 *
 * @since 0.3.0
 * @category models
 */
export interface Endpoint {
  readonly id: string
  readonly url: string
  readonly secrets: ReadonlyArray<Redacted.Redacted<string>>
  readonly events?: ReadonlyArray<EventType> | undefined
}

/**
 * The webhooks file or a secret cannot be used.
 *
 * @since 0.3.0
 * @category errors
 */
export class WebhooksConfigError extends Schema.TaggedError<WebhooksConfigError>(
  "@sra-upgrade/server/WebhooksConfigError"
)("WebhooksConfigError", {
  file: Schema.String,
  reason: Schema.Literal("unreadable", "invalid", "secret"),
  detail: Schema.String
}) {
  /**
   * @since 0.3.0
   */
  override get message(): string {
    switch (this.reason) {
      case "unreadable":
        return `${this.file}: cannot read the webhooks file (${this.detail}).`
      case "invalid":
        return `${this.file}: not a webhooks file (${this.detail}); see docs/portal.md#webhooks.`
      case "secret":
        return `${this.file}: ${this.detail}`
    }
  }
}

const secretBytes = (secret: Redacted.Redacted<string>): Buffer | undefined => {
  const v = Redacted.value(secret)
  if (!v.startsWith("whsec_")) return undefined
  const b = Buffer.from(v.slice("whsec_".length), "base64")
  return b.length >= 24 && b.length <= 64 ? b : undefined
}

/**
 * Whether a secret is a valid `whsec_` secret (base64 of 24–64 bytes).
 *
 * @since 0.3.0
 * @category combinators
 */
export const isValidSecret = (secret: Redacted.Redacted<string>): boolean => secretBytes(secret) !== undefined

/**
 * A new signing secret.
 *
 * @since 0.3.0
 * @category constructors
 */
export const generateSecret = (): Redacted.Redacted<string> =>
  Redacted.make(`whsec_${Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(32))).toString("base64")}`)

/**
 * The `webhook-signature` header: `v1,<signature>` per secret, space-separated.
 *
 * @since 0.3.0
 * @category combinators
 */
export const sign = (
  secrets: ReadonlyArray<Redacted.Redacted<string>>,
  id: string,
  timestampSeconds: number,
  body: string
): string =>
  secrets
    .flatMap((s) => {
      const key = secretBytes(s)
      if (key === undefined) return []
      return [`v1,${createHmac("sha256", key).update(`${id}.${timestampSeconds}.${body}`).digest("base64")}`]
    })
    .join(" ")

/**
 * Read the webhooks file and resolve its secrets (relative files from the
 * file's folder).
 *
 * @since 0.3.0
 * @category constructors
 */
export const load = (
  file: string,
  env?: Readonly<Record<string, string | undefined>>
): Effect.Effect<ReadonlyArray<Endpoint>, WebhooksConfigError> =>
  Effect.gen(function* () {
    const text = yield* Effect.tryPromise({
      try: () => readFile(file, "utf8"),
      catch: (e) =>
        new WebhooksConfigError({ file, reason: "unreadable", detail: (e as { code?: string }).code ?? String(e) })
    })
    const parsed = yield* Schema.decodeUnknown(Schema.parseJson(WebhooksFile))(text).pipe(
      Effect.mapError(
        (e) => new WebhooksConfigError({ file, reason: "invalid", detail: e.message.split("\n").slice(0, 6).join(" ") })
      )
    )
    return yield* Effect.forEach(parsed.endpoints, (ep) =>
      Effect.gen(function* () {
        const secrets = yield* Effect.forEach(ep.secrets, (ref) =>
          Site.resolveSecret(ref, { baseDir: dirname(file), env, siteFile: file }).pipe(
            Effect.mapError((e) => new WebhooksConfigError({ file, reason: "secret", detail: e.message }))
          )
        )
        const bad = secrets.findIndex((s) => !isValidSecret(s))
        if (bad >= 0)
          return yield* new WebhooksConfigError({
            file,
            reason: "secret",
            detail: `endpoint ${ep.id}: secret ${Site.describeSecretRef(ep.secrets[bad]!)} is not whsec_ + base64 of 24 to 64 bytes`
          })
        return { id: ep.id, url: ep.url, secrets, events: ep.events } satisfies Endpoint
      })
    )
  })

/**
 * Options of the webhook sender.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  readonly endpoints: ReadonlyArray<Endpoint>
  /** The runs folder; the outbox goes to `.portal/webhooks/` inside it. */
  readonly runsDirectory: string
  /** Delays before attempts 2, 3, … (default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h). */
  readonly retryDelays?: ReadonlyArray<Duration.DurationInput> | undefined
  /** Jitter as a fraction of each delay (default 0.2). */
  readonly jitter?: number | undefined
  /** Time limit of one attempt (default 15 s). */
  readonly timeoutMillis?: number | undefined
  /** Base URL of the portal, for links in the messages. */
  readonly publicUrl?: string | undefined
}

/**
 * Default delays between attempts.
 *
 * @since 0.3.0
 * @category models
 */
export const defaultRetryDelays: ReadonlyArray<Duration.DurationInput> = [
  "5 seconds",
  "5 minutes",
  "30 minutes",
  "2 hours",
  "5 hours",
  "10 hours",
  "14 hours",
  "20 hours",
  "24 hours"
]

const Enqueued = Schema.Struct({
  kind: Schema.Literal("enqueued"),
  id: Schema.String,
  endpoint: Schema.String,
  type: EventType,
  body: Schema.String
})
const Attempted = Schema.Struct({
  kind: Schema.Literal("attempt"),
  id: Schema.String,
  endpoint: Schema.String,
  attempt: Schema.Number,
  outcome: Schema.String,
  at: Schema.Date
})
const Settled = Schema.Struct({
  kind: Schema.Literal("delivered", "given-up"),
  id: Schema.String,
  endpoint: Schema.String,
  at: Schema.Date
})
const Disabled = Schema.Struct({
  kind: Schema.Literal("disabled"),
  endpoint: Schema.String,
  reason: Schema.String,
  at: Schema.Date
})
const OutboxRecord = Schema.Union(Enqueued, Attempted, Settled, Disabled)
type OutboxRecord = typeof OutboxRecord.Type
const decodeRecord = Schema.decodeUnknownOption(OutboxRecord)
const encodeRecord = Schema.encodeSync(OutboxRecord)
const encodeGate = Schema.encodeSync(GateView)

/**
 * A message to send.
 *
 * @since 0.3.0
 * @category models
 */
export interface Message {
  readonly id: string
  readonly type: EventType
  readonly body: string
}

/**
 * The webhook message of a notice, if it is one (pure).
 *
 * @since 0.3.0
 * @category combinators
 */
export const messageOf = (notice: Notice, publicUrl?: string): Message | undefined => {
  const link = (runId: string) => (publicUrl === undefined ? {} : { link: `${publicUrl}/#/runs/${runId}` })
  const make = (id: string, type: EventType, timestamp: Date, data: object): Message => ({
    id,
    type,
    body: JSON.stringify({ type, timestamp: timestamp.toISOString(), data })
  })
  if (notice._tag === "Gate") {
    const g = notice.gate
    const base = `${g.runId}:${notice.openedSeq}`
    const data = { ...(encodeGate(g) as object), ...link(g.runId) }
    switch (notice.kind) {
      case "opened":
        return make(base, "gate.opened", g.openedAt, data)
      case "reminder":
        return make(`${base}:reminder-${notice.reminder ?? 0}`, "gate.reminder", new Date(), {
          ...data,
          reminder: notice.reminder
        })
      case "escalated":
        return make(`${base}:escalated`, "gate.reminder", new Date(), { ...data, escalated: true })
      default:
        return undefined
    }
  }
  const { envelope } = notice
  const e = envelope.event
  const id = `${envelope.runId}:${envelope.seq}`
  const data = { runId: envelope.runId, seq: envelope.seq, ...link(envelope.runId) }
  switch (e._tag) {
    case "RunFinished":
      return make(
        id,
        e.status === "succeeded" ? "run.succeeded" : e.status === "failed" ? "run.failed" : "run.halted",
        e.at,
        {
          ...data,
          status: e.status,
          ...(e.status === "halted-needs-support"
            ? {
                action:
                  "PREP-6: the base software update failed. Do NOT reboot the appliance and do not retry; contact vendor support."
              }
            : {})
        }
      )
    case "GateAnswered":
      return e.answer._tag === "Deferred"
        ? make(id, "run.waiting", e.at, {
            ...data,
            reason: "deferred",
            stepId: e.stepId,
            by: e.answer.by,
            ...(e.answer.reason === undefined ? {} : { comment: e.answer.reason })
          })
        : undefined
    case "Paused":
      return make(id, "run.waiting", e.at, {
        ...data,
        reason: "window",
        stepId: e.stepId,
        until: e.until.toISOString()
      })
    default:
      return undefined
  }
}

/**
 * What the sender did, for tests and the status of the service.
 *
 * @since 0.3.0
 * @category models
 */
export interface Stats {
  readonly delivered: number
  readonly pending: number
  readonly givenUp: number
  readonly disabled: ReadonlyArray<string>
}

/**
 * @since 0.3.0
 * @category services
 */
export class Webhooks extends Context.Tag("@sra-upgrade/server/Webhooks")<
  Webhooks,
  {
    readonly stats: Effect.Effect<Stats>
  }
>() {}

/**
 * The sender: listens to the service's notices, writes messages to the
 * outbox, delivers them.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (options: Options) =>
  Effect.gen(function* () {
    const events = yield* Events
    const file = path.join(Meta.portalDir(options.runsDirectory), "webhooks", "outbox.ndjson")
    const delays = (options.retryDelays ?? defaultRetryDelays).map(Duration.decode)
    const jitter = options.jitter ?? 0.2
    const timeoutMillis = options.timeoutMillis ?? 15_000
    const endpoints = new Map(options.endpoints.map((e) => [e.id, e]))
    const fibers = yield* FiberSet.make()
    const settled = new Set<string>()
    const enqueued = new Set<string>()
    const disabled = new Set<string>()
    let delivered = 0
    let givenUp = 0
    let pending = 0
    const write = (r: OutboxRecord) => Store.appendLine(file, encodeRecord(r)).pipe(Effect.orDie)
    const keyOf = (endpoint: string, id: string) => `${endpoint}\u0000${id}`

    const attemptOnce = (endpoint: Endpoint, message: Message) =>
      Effect.gen(function* () {
        const ts = Math.floor((yield* Clock.currentTimeMillis) / 1000)
        const headers = {
          "content-type": "application/json",
          "webhook-id": message.id,
          "webhook-timestamp": String(ts),
          "webhook-signature": sign(endpoint.secrets, message.id, ts, message.body),
          "user-agent": "sra-upgrade-portal"
        }
        return yield* Effect.tryPromise({
          try: async (signal) => {
            const res = await fetch(endpoint.url, {
              method: "POST",
              headers,
              body: message.body,
              redirect: "manual",
              signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMillis)])
            })
            await res.arrayBuffer().catch(() => undefined)
            return { status: res.status, retryAfter: res.headers.get("retry-after") }
          },
          catch: (e) => (e instanceof Error ? e.message : String(e))
        }).pipe(Effect.either)
      })

    const deliver = (endpoint: Endpoint, message: Message, attemptsDone: number) =>
      Effect.gen(function* () {
        let attempt = attemptsDone
        while (true) {
          if (disabled.has(endpoint.id)) return
          attempt++
          const r = yield* attemptOnce(endpoint, message)
          const at = new Date(yield* Clock.currentTimeMillis)
          const outcome = r._tag === "Left" ? `error: ${r.left}` : `HTTP ${r.right.status}`
          yield* write({ kind: "attempt", id: message.id, endpoint: endpoint.id, attempt, outcome, at })
          if (r._tag === "Right" && r.right.status >= 200 && r.right.status < 300) {
            yield* write({ kind: "delivered", id: message.id, endpoint: endpoint.id, at })
            delivered++
            pending--
            return
          }
          if (r._tag === "Right" && r.right.status === 410) {
            disabled.add(endpoint.id)
            pending--
            yield* write({ kind: "disabled", endpoint: endpoint.id, reason: "HTTP 410 Gone", at })
            return yield* Effect.logWarning(
              `webhook endpoint ${endpoint.id} answered 410 Gone: disabled; fix the webhooks file and restart to enable it again`
            )
          }
          const base = delays[attempt - 1]
          if (base === undefined) {
            yield* write({ kind: "given-up", id: message.id, endpoint: endpoint.id, at })
            givenUp++
            pending--
            return yield* Effect.logError(
              `webhook ${message.type} ${message.id} to ${endpoint.id} given up after ${attempt} attempts (last: ${outcome})`
            )
          }
          const factor = 1 + (yield* Random.nextRange(-jitter, jitter))
          let wait = Duration.toMillis(base) * factor
          const retryAfter = r._tag === "Right" ? Number(r.right.retryAfter) : NaN
          if (Number.isFinite(retryAfter) && retryAfter > 0) wait = Math.max(wait, retryAfter * 1000)
          yield* Effect.logInfo(
            `webhook ${message.type} ${message.id} to ${endpoint.id}: ${outcome}; attempt ${attempt + 1} in ${Math.round(wait)} ms`
          )
          yield* Effect.sleep(Duration.millis(wait))
        }
      })

    const enqueue = (message: Message) =>
      Effect.forEach(
        [...endpoints.values()],
        (endpoint) =>
          Effect.gen(function* () {
            if (endpoint.events !== undefined && !endpoint.events.includes(message.type)) return
            if (disabled.has(endpoint.id)) return
            const key = keyOf(endpoint.id, message.id)
            if (enqueued.has(key)) return
            enqueued.add(key)
            pending++
            yield* write({
              kind: "enqueued",
              id: message.id,
              endpoint: endpoint.id,
              type: message.type,
              body: message.body
            })
            yield* FiberSet.run(fibers, deliver(endpoint, message, 0))
          }),
        { discard: true }
      )

    // the outbox of a previous life: send what was not settled
    const records = yield* Store.readLines(file).pipe(
      Effect.map((ls) => ls.flatMap((l) => Option.toArray(decodeRecord(l)))),
      Effect.orElseSucceed(() => [] as ReadonlyArray<OutboxRecord>)
    )
    const attempts = new Map<string, number>()
    for (const r of records) {
      if (r.kind === "disabled") disabled.add(r.endpoint)
      else if (r.kind === "delivered" || r.kind === "given-up") settled.add(keyOf(r.endpoint, r.id))
      else if (r.kind === "attempt") attempts.set(keyOf(r.endpoint, r.id), r.attempt)
    }
    for (const r of records) {
      if (r.kind !== "enqueued") continue
      const key = keyOf(r.endpoint, r.id)
      enqueued.add(key)
      const endpoint = endpoints.get(r.endpoint)
      if (settled.has(key) || endpoint === undefined || disabled.has(endpoint.id)) continue
      pending++
      yield* FiberSet.run(fibers, deliver(endpoint, { id: r.id, type: r.type, body: r.body }, attempts.get(key) ?? 0))
    }

    const listener = yield* events.listen
    yield* Effect.forkScoped(
      Stream.runForEach(listener, (n) => {
        const m = messageOf(n, options.publicUrl)
        return m === undefined ? Effect.void : enqueue(m)
      })
    )

    return Webhooks.of({
      stats: Effect.sync(() => ({ delivered, pending, givenUp, disabled: [...disabled] }))
    })
  })

/**
 * The sender as a layer (it works while the layer lives).
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Webhooks, never, Events> => Layer.scoped(Webhooks, make(options))
