import { describe, expect, it } from "@effect/vitest"
import { ApplianceApi } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Tracer from "effect/Tracer"
import { ORIGIN, healthV2, json, makeMock, waitUntil, withClient, xml } from "./mock.js"

const failureOf = <A, E>(effect: Effect.Effect<A, E>) => Effect.flip(effect) as Effect.Effect<E, A>

describe("OAuth token", () => {
  it.live("100 concurrent calls make exactly one token request", () =>
    Effect.gen(function* () {
      const mock = makeMock()
      let seen = 0
      mock.pool
        .intercept({ path: "/api/command/v2/health" })
        .reply(() => {
          seen++
          return json(200, healthV2)
        })
        .persist()
      const results = yield* withClient(mock.connection(), (client) =>
        Effect.all(
          Array.from({ length: 100 }, () => client.health),
          { concurrency: "unbounded" }
        )
      )
      expect(results).toHaveLength(100)
      expect(seen).toBe(100)
      expect(mock.tokenRequests()).toBe(1)
    })
  )

  it.effect("the token is reused, then refreshed a minute before expires_in", () =>
    Effect.gen(function* () {
      const mock = makeMock({ expiresIn: 3600 })
      mock.pool
        .intercept({ path: "/api/command/v2/health" })
        .reply(json(200, healthV2).statusCode, healthV2, {
          headers: { "content-type": "application/json" }
        })
        .persist()
      yield* withClient(mock.connection(), (client) =>
        Effect.gen(function* () {
          yield* client.health
          yield* TestClock.adjust("3500 seconds")
          yield* client.health
          expect(mock.tokenRequests()).toBe(1)
          yield* TestClock.adjust("41 seconds")
          yield* client.health
          expect(mock.tokenRequests()).toBe(2)
        })
      )
    })
  )

  it.live("access_denied: one re-authentication, then success", () =>
    Effect.gen(function* () {
      const mock = makeMock()
      mock.pool.intercept({ path: "/api/command/v2/health" }).reply(
        json(401, {
          error: "access_denied",
          message: "The resource owner or authorization server denied the request."
        }).statusCode,
        { error: "access_denied", message: "denied" },
        { headers: { "content-type": "application/json" } }
      )
      mock.pool
        .intercept({ path: "/api/command/v2/health" })
        .reply(200, healthV2, { headers: { "content-type": "application/json" } })
      const health = yield* withClient(mock.connection(), (client) => client.health)
      expect(health.hostname).toBe("a.example.test")
      expect(mock.tokenRequests()).toBe(2)
    })
  )

  it.live("access_denied twice: Unauthorized after exactly one re-authentication", () =>
    Effect.gen(function* () {
      const mock = makeMock()
      let calls = 0
      mock.pool
        .intercept({ path: "/api/command/v2/health" })
        .reply(() => {
          calls++
          return json(401, { error: "access_denied", message: "denied" })
        })
        .persist()
      const error = yield* failureOf(withClient(mock.connection(), (client) => client.health))
      expect(error.reason._tag).toBe("Unauthorized")
      expect(calls).toBe(2)
      expect(mock.tokenRequests()).toBe(2)
      expect(error.message).toContain('API account "client-A"')
    })
  )

  it.live("wrong client secret: Unauthorized naming the account, no retry storm", () =>
    Effect.gen(function* () {
      const mock = makeMock({ tokenPersist: false })
      let tokens = 0
      mock.pool
        .intercept({ path: "/oauth2/token", method: "POST" })
        .reply(() => {
          tokens++
          return json(401, { error: "invalid_client", message: "bad" })
        })
        .persist()
      const error = yield* failureOf(withClient(mock.connection(), (client) => client.health))
      expect(error.reason._tag).toBe("Unauthorized")
      expect(error.operation).toBe("authenticate")
      expect(error.hint).toContain("client id and secret")
      expect(tokens).toBe(1)
    })
  )
})

describe("status mapping", () => {
  it.live("403 on the backup API names perm_backup", () =>
    Effect.gen(function* () {
      const mock = makeMock()
      mock.pool
        .intercept({ path: "/api/command/v2/health" })
        .reply(200, healthV2, { headers: { "content-type": "application/json" } })
      mock.pool
        .intercept({ path: "/api/backup" })
        .reply(
          403,
          { message: "This API account lacks perm_backup." },
          { headers: { "content-type": "application/json" } }
        )
      const error = yield* failureOf(
        withClient(mock.connection(), (client) => client.downloadBackup({ directory: "/tmp/never-used-sra" }))
      )
      expect(error.reason).toMatchObject({ _tag: "Forbidden", permission: "perm_backup" })
      expect(error.message).toContain('Enable perm_backup for API account "client-A"')
    })
  )

  it.live("403 on a mutation names perm_command full_access", () =>
    Effect.gen(function* () {
      const mock = makeMock()
      mock.pool
        .intercept({ path: "/api/command/v2/failover-role", method: "POST" })
        .reply(403, { message: "no" }, { headers: { "content-type": "application/json" } })
      const error = yield* failureOf(
        withClient(mock.connection(), (client) =>
          client.setFailoverRole({ role: "backup", dataSyncFirst: false, force: false })
        )
      )
      expect(error.reason).toMatchObject({ _tag: "Forbidden", permission: "perm_command (full_access)" })
    })
  )

  it.live("404 on the v2 API falls back to v1 XML once, then stays on v1", () =>
    Effect.gen(function* () {
      const mock = makeMock()
      mock.pool
        .intercept({ path: "/api/command/v2/health" })
        .reply(404, { message: "Not Found" }, { headers: { "content-type": "application/json" } })
      mock.pool
        .intercept({ path: "/api/command?action=check_health" })
        .reply(() =>
          xml(`<?xml version="1.0" encoding="UTF-8"?>
<health_check xmlns="http://www.bomgar.com/namespaces/API/command">
  <appliance id="c1c2c3c4c5c6c7c8c9c0cacbcccdcecf">old.example.test</appliance>
  <version>19.1.8 (37380-749b17ca33d2475427428f263608ae98d69f7a35)</version>
  <success>1</success>
  <failover_role>none</failover_role>
</health_check>`)
        )
        .times(2)
      const [first, second] = yield* withClient(mock.connection(), (client) =>
        Effect.all([client.health, client.health])
      )
      expect(first).toMatchObject({
        source: "v1",
        version: "19.1.8",
        build: "37380-749b17ca33d2475427428f263608ae98d69f7a35",
        applianceGuid: "c1c2c3c4c5c6c7c8c9c0cacbcccdcecf",
        hostname: "old.example.test",
        healthy: true,
        failoverRole: "none",
        enabledSharedIps: []
      })
      expect(second.source).toBe("v1")
    })
  )

  it.live("v2 /health 500 body decodes as unhealthy with its message", () =>
    Effect.gen(function* () {
      const mock = makeMock()
      mock.pool
        .intercept({ path: "/api/command/v2/health" })
        .reply(500, { ...healthV2, message: "Disk almost full" }, { headers: { "content-type": "application/json" } })
      const health = yield* withClient(mock.connection(), (client) => client.health)
      expect(health).toMatchObject({
        healthy: false,
        errorMessage: "Disk almost full",
        source: "v2",
        clusterRole: "single"
      })
    })
  )

  it.live("v1 <error> answer becomes ApplianceRefused with the appliance's message", () =>
    Effect.gen(function* () {
      const mock = makeMock()
      mock.pool
        .intercept({ path: "/api/command/v2/failover-role", method: "POST" })
        .reply(404, { message: "Not Found" }, { headers: { "content-type": "application/json" } })
      mock.pool
        .intercept({ path: "/api/command", method: "POST" })
        .reply(() =>
          xml(
            `<error xmlns="https://www.beyondtrust.com/namespaces/API/command">Unable to contact the peer appliance.</error>`
          )
        )
      const error = yield* failureOf(
        withClient(mock.connection(), (client) =>
          client.setFailoverRole({ role: "primary", dataSyncFirst: true, force: false })
        )
      )
      expect(error.reason).toMatchObject({
        _tag: "ApplianceRefused",
        applianceMessage: "Unable to contact the peer appliance."
      })
    })
  )

  it.effect("unknown appliance id fails with NotConfigured", () =>
    Effect.gen(function* () {
      const mock = makeMock()
      const error = yield* Effect.flip(
        Effect.flatMap(ApplianceApi.ApplianceApi, (api) => api.appliance("Z")).pipe(
          Effect.provide(
            (yield* Effect.promise(() => import("../src/index.js"))).ApplianceClient.layer([mock.connection()])
          )
        )
      )
      expect(error.reason._tag).toBe("NotConfigured")
      expect(error.hint).toContain('"Z"')
    })
  )
})

describe("retry policy", () => {
  it.live("idempotent reads are retried on 503 and transport errors", () =>
    Effect.gen(function* () {
      const mock = makeMock()
      let calls = 0
      mock.pool
        .intercept({ path: "/api/command/v2/health" })
        .reply(() => {
          calls++
          return json(503, { message: "busy" })
        })
        .times(2)
      mock.pool.intercept({ path: "/api/command/v2/health" }).replyWithError(new Error("socket hang up"))
      mock.pool
        .intercept({ path: "/api/command/v2/health" })
        .reply(200, healthV2, { headers: { "content-type": "application/json" } })
      const health = yield* withClient(mock.connection(), (client) => client.health)
      expect(health.source).toBe("v2")
      expect(calls).toBe(2)
    })
  )

  it.live("retries are bounded: maxRetries + 1 attempts, then the typed error", () =>
    Effect.gen(function* () {
      const mock = makeMock()
      let calls = 0
      mock.pool
        .intercept({ path: "/api/command/v2/info" })
        .reply(() => {
          calls++
          return json(502, { message: "bad gateway" })
        })
        .persist()
      const error = yield* failureOf(
        withClient(mock.connection({ retry: { maxRetries: 2, baseDelayMillis: 1 } }), (c) => c.apiInfo)
      )
      expect(error.reason).toMatchObject({ _tag: "ApplianceRefused", status: 502 })
      expect(calls).toBe(3)
    })
  )

  for (const [name, reply] of [
    [
      "503",
      (pool: ReturnType<typeof makeMock>["pool"], count: () => void) =>
        pool
          .intercept({ path: "/api/command/v2/failover-role", method: "POST" })
          .reply(() => {
            count()
            return json(503, { message: "busy" })
          })
          .persist()
    ],
    [
      "429",
      (pool: ReturnType<typeof makeMock>["pool"], count: () => void) =>
        pool
          .intercept({ path: "/api/command/v2/failover-role", method: "POST" })
          .reply(() => {
            count()
            return json(429, { message: "slow down" }, { "retry-after": "0" })
          })
          .persist()
    ]
  ] as const) {
    it.live(`set_failover_role is never retried (${name})`, () =>
      Effect.gen(function* () {
        const mock = makeMock()
        let calls = 0
        reply(mock.pool, () => calls++)
        const error = yield* failureOf(
          withClient(mock.connection(), (client) =>
            client.setFailoverRole({ role: "backup", dataSyncFirst: false, force: true })
          )
        )
        expect(calls).toBe(1)
        expect(["ApplianceRefused", "RateLimited"]).toContain(error.reason._tag)
      })
    )
  }

  it.live("set_failover_role is never retried after a transport error, and the hint says to check first", () =>
    Effect.gen(function* () {
      const mock = makeMock()
      let calls = 0
      mock.pool
        .intercept({ path: "/api/command/v2/failover-role", method: "POST" })
        .reply(() => {
          calls++
          throw new Error("connection reset")
        })
        .persist()
      const error = yield* failureOf(
        withClient(mock.connection(), (client) =>
          client.setFailoverRole({ role: "backup", dataSyncFirst: false, force: false })
        )
      )
      expect(calls).toBe(1)
      expect(error.reason._tag).toBe("Transport")
      expect(error.hint).toContain("read the failover role")
    })
  )

  it.live("429 with Retry-After is honoured for reads", () =>
    Effect.gen(function* () {
      const mock = makeMock()
      mock.pool
        .intercept({ path: "/api/command/v2/user" })
        .reply(429, { message: "slow" }, { headers: { "content-type": "application/json", "retry-after": "0" } })
      mock.pool.intercept({ path: "/api/command/v2/user" }).reply(
        200,
        [
          {
            id: 7,
            type: "normal",
            display_name: "Ada",
            logged_in_since: "2026-11-28T08:00:00+00:00",
            session_count: 2
          }
        ],
        {
          headers: { "content-type": "application/json" }
        }
      )
      const users = yield* withClient(mock.connection(), (client) => client.loggedInUsers)
      expect(users).toHaveLength(1)
      expect(users[0]).toMatchObject({ id: "7", displayName: "Ada", sessionCount: 2 })
    })
  )

  it.live("429 asking for longer than maxRetryAfterSeconds fails at once with RateLimited", () =>
    Effect.gen(function* () {
      const mock = makeMock()
      let calls = 0
      mock.pool
        .intercept({ path: "/api/command/v2/user" })
        .reply(() => {
          calls++
          return json(429, { message: "slow" }, { "retry-after": "3600" })
        })
        .persist()
      const error = yield* failureOf(withClient(mock.connection(), (client) => client.loggedInUsers))
      expect(error.reason).toMatchObject({ _tag: "RateLimited", retryAfterSeconds: 3600 })
      expect(calls).toBe(1)
      expect(error.hint).toContain("20 requests/s")
    })
  )
})

describe("rate limiting (client side)", () => {
  it.effect("a request waits for its slot of the account's rate (TestClock)", () =>
    Effect.gen(function* () {
      const mock = makeMock()
      let seen = 0
      mock.pool
        .intercept({ path: "/api/command/v2/health" })
        .reply(() => {
          seen++
          return json(200, healthV2)
        })
        .persist()
      yield* withClient(mock.connection({ requestsPerSecond: 1 }), (client) =>
        Effect.gen(function* () {
          // the token request takes the slot at t = 0, health gets t = 1 s, the next t = 2 s
          const fiber = yield* Effect.fork(Effect.all([client.health, client.health], { concurrency: "unbounded" }))
          yield* waitUntil(Effect.map(TestClock.sleeps(), (s) => s.length >= 1 && mock.tokenRequests() === 1))
          expect(seen).toBe(0)
          yield* TestClock.adjust("1 second")
          yield* waitUntil(Effect.sync(() => seen === 1))
          yield* waitUntil(Effect.map(TestClock.sleeps(), (s) => s.length >= 1))
          expect(seen).toBe(1)
          yield* TestClock.adjust("1 second")
          const results = yield* Fiber.join(fiber)
          expect(results).toHaveLength(2)
          expect(seen).toBe(2)
        })
      )
    })
  )

  it.effect("X-RateLimit-Remaining: 0 pauses the account for a second", () =>
    Effect.gen(function* () {
      const mock = makeMock()
      let seen = 0
      mock.pool
        .intercept({ path: "/api/command/v2/health" })
        .reply(() => {
          seen++
          return json(200, healthV2, { "x-ratelimit-limit": "15000", "x-ratelimit-remaining": "0" })
        })
        .persist()
      yield* withClient(mock.connection(), (client) =>
        Effect.gen(function* () {
          yield* client.health
          const fiber = yield* Effect.fork(client.health)
          yield* waitUntil(Effect.map(TestClock.sleeps(), (s) => s.length >= 1))
          expect(seen).toBe(1)
          yield* TestClock.adjust("1 second")
          yield* Fiber.join(fiber)
          expect(seen).toBe(2)
        })
      )
    })
  )
})

describe("config API pagination", () => {
  it.live("jumpClients pages until X-BT-Pagination-Last-Page and passes filters", () =>
    Effect.gen(function* () {
      const mock = makeMock()
      const pages: Array<string> = []
      const item = (id: number) => ({
        id,
        name: `jc-${id}`,
        hostname: null,
        jump_group_id: 3,
        connection_type: "active",
        needs_update: id % 2 === 0,
        is_lost: false,
        last_connect_timestamp: "2026-11-28T09:00:00+00:00"
      })
      mock.pool
        .intercept({ path: (p) => p.startsWith("/api/config/v1/jump-client?") })
        .reply(({ path }) => {
          const url = new URL(path, ORIGIN)
          pages.push(url.search)
          const page = Number(url.searchParams.get("current_page"))
          const items = page < 3 ? Array.from({ length: 100 }, (_, i) => item((page - 1) * 100 + i)) : [item(200)]
          return json(200, items, { "x-bt-pagination-last-page": "3", "x-bt-pagination-current-page": String(page) })
        })
        .persist()
      const all = yield* withClient(mock.connection(), (client) =>
        Stream.runCollect(client.jumpClients({ connection_type: "active", jump_group_id: 3 }))
      )
      expect(all.length).toBe(201)
      expect(pages).toHaveLength(3)
      expect(pages[0]).toContain("connection_type=active")
      expect(pages[0]).toContain("jump_group_id=3")
      expect(pages[2]).toContain("current_page=3")
      const first = [...all][0]!
      expect(first).toMatchObject({ id: 0, name: "jc-0", needsUpdate: true, jumpGroupId: 3, connectionType: "active" })
      expect(first.hostname).toBeUndefined()
    })
  )

  it.live("jumpoints: a bad item is a Decode error naming the field", () =>
    Effect.gen(function* () {
      const mock = makeMock()
      mock.pool.intercept({ path: (p) => p.startsWith("/api/config/v1/jumpoint?") }).reply(() =>
        json(200, [{ id: 1, name: "jp", platform: "linux-x86", enabled: "yes", connected: true, clustered: false }], {
          "x-bt-pagination-last-page": "1"
        })
      )
      const error = yield* failureOf(withClient(mock.connection(), (client) => Stream.runCollect(client.jumpoints())))
      expect(error.reason._tag).toBe("Decode")
      expect(error.reason).toMatchObject({ path: "0.enabled" })
    })
  )
})

describe("probe", () => {
  it.live("VERIFY-3: the probe sends the site host name and maps 200/500", () =>
    Effect.gen(function* () {
      const agent = (yield* Effect.sync(() => makeMock())).agent
      const pool = agent.get("https://10.0.0.12")
      const hosts: Array<string> = []
      pool
        .intercept({ path: "/check_health" })
        .reply((opts) => {
          const h = opts.headers as Record<string, string>
          hosts.push(h.host ?? h.Host ?? "")
          return {
            statusCode: hosts.length === 1 ? 200 : 500,
            data: hosts.length === 1 ? "OK" : "FAIL: install in progress"
          }
        })
        .persist()
      const { ApplianceClient } = yield* Effect.promise(() => import("../src/index.js"))
      const [ok, ko] = yield* Effect.flatMap(ApplianceApi.ApplianceApi, (api) =>
        Effect.all([
          api.probe({ url: "https://10.0.0.12", hostname: "support.example.com" }),
          api.probe({ url: "https://10.0.0.12", hostname: "support.example.com" })
        ])
      ).pipe(Effect.provide(ApplianceClient.layer([], { probeDispatcher: agent })))
      expect(ok).toMatchObject({ ok: true, status: 200, body: "OK" })
      expect(ko).toMatchObject({ ok: false, status: 500 })
      expect(hosts).toEqual(["support.example.com", "support.example.com"])
    })
  )
})

describe("decode errors", () => {
  it.live("wrong content type is a Decode error with an excerpt", () =>
    Effect.gen(function* () {
      const mock = makeMock()
      mock.pool
        .intercept({ path: "/api/command/v2/info" })
        .reply(200, "<html><body>Please log in</body></html>", { headers: { "content-type": "text/html" } })
      const result = yield* Effect.either(withClient(mock.connection(), (client) => client.apiInfo))
      expect(Either.isLeft(result)).toBe(true)
      if (Either.isLeft(result)) {
        expect(result.left.reason).toMatchObject({ _tag: "Decode", path: "(content-type)" })
        expect(result.left.message).toContain("Please log in")
      }
    })
  )
})

describe("spans", () => {
  it.live("each operation is a span named ApplianceClient.<operation>; a list has one child span per page", () =>
    Effect.gen(function* () {
      const mock = makeMock()
      mock.pool
        .intercept({ path: "/api/command/v2/health" })
        .reply(200, healthV2, { headers: { "content-type": "application/json" } })
      mock.pool
        .intercept({ path: "/api/command/v2/failover-role", method: "POST" })
        .reply(200, { message: "Role changed." }, { headers: { "content-type": "application/json" } })
      mock.pool
        .intercept({ path: (p) => p.startsWith("/api/config/v1/jumpoint?") })
        .reply(() => json(200, [], { "x-bt-pagination-last-page": "1" }))
      const names: Array<string> = []
      const tracer = yield* Effect.tracer
      const recording = Tracer.make({
        context: tracer.context,
        span: (...args: Parameters<Tracer.Tracer["span"]>) => {
          names.push(args[0])
          return tracer.span(...args)
        }
      })
      yield* withClient(mock.connection(), (client) =>
        Effect.all([
          client.health,
          client.setFailoverRole({ role: "primary", dataSyncFirst: false, force: false }),
          Stream.runDrain(client.jumpoints())
        ])
      ).pipe(Effect.withTracer(recording))
      expect(names).toEqual(
        expect.arrayContaining([
          "ApplianceClient.health",
          "ApplianceClient.setFailoverRole",
          "ApplianceClient.jumpoints",
          "ApplianceClient.jumpoints.page"
        ])
      )
    })
  )
})
