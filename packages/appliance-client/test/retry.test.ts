/**
 * The retry schedule of idempotent reads, driven by TestClock: exponential,
 * capped, jittered, bounded, Retry-After honoured; and the same schedule seen
 * through the client over MockAgent.
 */
import { describe, expect, it } from "@effect/vitest"
import { ApplianceError } from "@sra-upgrade/core"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Random from "effect/Random"
import * as TestClock from "effect/TestClock"
import * as Errors from "../src/internal/errors.js"
import * as Pipeline from "../src/internal/pipeline.js"
import { healthV2, json, makeMock, waitUntil, withClient } from "./mock.js"

const who: Errors.Who = { id: "A", baseUrl: "https://a.test", clientId: "client-A", pinned: false }
const error = (reason: ApplianceError.ApplianceErrorReason) => Errors.make(who, "health", reason)
const transport = error(new ApplianceError.Transport({ code: "ECONNRESET" }))

const policy: Pipeline.RetryPolicy = {
  maxRetries: 4,
  baseDelayMillis: 100,
  maxDelayMillis: 400,
  maxRetryAfterSeconds: 60
}

/**
 * Runs a read that fails with `failures` in turn (then succeeds) under the
 * schedule, and returns the clock time of each attempt and how it ended.
 */
const attempts = (failures: ReadonlyArray<ApplianceError.ApplianceError>, p: Pipeline.RetryPolicy = policy) =>
  Effect.gen(function* () {
    const start = yield* Clock.currentTimeMillis
    const times: Array<number> = []
    const read = Effect.gen(function* () {
      times.push((yield* Clock.currentTimeMillis) - start)
      const failure = failures[times.length - 1]
      return failure === undefined ? "ok" : yield* Effect.fail(failure)
    })
    const fiber = yield* Effect.fork(Effect.retry(read, Pipeline.retrySchedule(p)))
    // far past every delay the schedule may choose; TestClock runs the sleeps in order
    yield* TestClock.adjust("1 hour")
    const exit = yield* Fiber.await(fiber)
    // whole milliseconds: the jittered delays are rounded
    expect(times.every(Number.isInteger)).toBe(true)
    return { times, exit, gaps: times.slice(1).map((t, i) => t - times[i]!) }
  })

/** Backoff window of retry n: the capped exponential delay, jittered to between half and all of it. */
const window = (n: number, p: Pipeline.RetryPolicy = policy) => {
  const cap = Math.min(p.maxDelayMillis, p.baseDelayMillis * 2 ** n)
  return [cap / 2, cap] as const
}

describe("retry schedule (TestClock)", () => {
  for (const seed of ["one", "two", "three", "four"]) {
    it.effect(`exponential, capped and jittered, then bounded: maxRetries + 1 attempts (seed ${seed})`, () =>
      Effect.gen(function* () {
        const { exit, gaps, times } = yield* attempts(Array.from({ length: 10 }, () => transport))
        expect(times).toHaveLength(policy.maxRetries + 1)
        expect(exit).toEqual(Exit.fail(transport))
        gaps.forEach((gap, n) => {
          const [low, high] = window(n)
          expect(gap).toBeGreaterThanOrEqual(low)
          expect(gap).toBeLessThanOrEqual(high)
        })
        // the cap holds from the third retry on (100, 200, 400, 400 before jitter)
        expect(gaps[3]!).toBeLessThanOrEqual(policy.maxDelayMillis)
      }).pipe(Effect.withRandom(Random.make(seed)))
    )
  }

  it.effect("the jitter spreads the delays: not every run waits the same", () =>
    Effect.gen(function* () {
      const firstGaps = new Set<number>()
      for (const seed of ["a", "b", "c", "d", "e", "f"]) {
        const { gaps } = yield* attempts([transport, transport]).pipe(Effect.withRandom(Random.make(seed)))
        firstGaps.add(gaps[0]!)
      }
      expect(firstGaps.size).toBeGreaterThan(1)
    })
  )

  it.effect("a 429's Retry-After replaces the backoff delay, exactly", () =>
    Effect.gen(function* () {
      const limited = error(new ApplianceError.RateLimited({ retryAfterSeconds: 7 }))
      const { exit, gaps, times } = yield* attempts([limited, transport, limited])
      expect(exit).toEqual(Exit.succeed("ok"))
      expect(times).toHaveLength(4)
      expect(gaps[0]).toBe(7_000)
      const [low, high] = window(1)
      expect(gaps[1]).toBeGreaterThanOrEqual(low)
      expect(gaps[1]).toBeLessThanOrEqual(high)
      expect(gaps[2]).toBe(7_000)
    })
  )

  it.effect("a 429 asking for longer than maxRetryAfterSeconds is not retried", () =>
    Effect.gen(function* () {
      const limited = error(new ApplianceError.RateLimited({ retryAfterSeconds: 61 }))
      const { exit, times } = yield* attempts([limited])
      expect(times).toEqual([0])
      expect(exit).toEqual(Exit.fail(limited))
    })
  )

  it.effect("a 429 without Retry-After backs off like any transient failure", () =>
    Effect.gen(function* () {
      const { exit, gaps } = yield* attempts([error(new ApplianceError.RateLimited({}))])
      expect(exit).toEqual(Exit.succeed("ok"))
      expect(gaps[0]).toBeGreaterThanOrEqual(window(0)[0])
      expect(gaps[0]).toBeLessThanOrEqual(window(0)[1])
    })
  )

  it.effect("502, 503 and 504 are retried; other refusals, Forbidden, NotFound and Decode are not", () =>
    Effect.gen(function* () {
      for (const status of [502, 503, 504]) {
        const busy = error(new ApplianceError.ApplianceRefused({ applianceMessage: "busy", status }))
        expect((yield* attempts([busy])).times).toHaveLength(2)
      }
      for (const reason of [
        new ApplianceError.ApplianceRefused({ applianceMessage: "no", status: 500 }),
        new ApplianceError.Forbidden({ permission: "perm_backup" }),
        new ApplianceError.NotFound(),
        new ApplianceError.Unauthorized(),
        new ApplianceError.Decode({ path: "(json)", excerpt: "x" }),
        new ApplianceError.TlsMismatch({})
      ]) {
        const { exit, times } = yield* attempts([error(reason)])
        expect(times).toEqual([0])
        expect(exit).toEqual(Exit.fail(error(reason)))
      }
    })
  )

  it.effect("maxRetries 0: one attempt, no wait", () =>
    Effect.gen(function* () {
      const { exit, times } = yield* attempts([transport], { ...policy, maxRetries: 0 })
      expect(times).toEqual([0])
      expect(exit).toEqual(Exit.fail(transport))
    })
  )
})

describe("retry schedule through the client (MockAgent, TestClock)", () => {
  it.effect("a read answered 429 + Retry-After: 30 waits 30 s of the clock, no less, then succeeds", () =>
    Effect.gen(function* () {
      const mock = makeMock()
      let calls = 0
      mock.pool.intercept({ path: "/api/command/v2/health" }).reply(() => {
        calls++
        return json(429, { message: "slow down" }, { "retry-after": "30" })
      })
      mock.pool.intercept({ path: "/api/command/v2/health" }).reply(() => {
        calls++
        return json(200, healthV2)
      })
      // a time limit of 2 minutes: its timers (still listed by TestClock.sleeps) are not the 30 s wait
      yield* withClient(mock.connection({ timeoutMillis: 120_000 }), (client) =>
        Effect.gen(function* () {
          const fiber = yield* Effect.fork(client.health)
          yield* waitUntil(Effect.map(TestClock.sleeps(), (s) => [...s].includes(30_000)))
          expect(calls).toBe(1)
          expect([...(yield* TestClock.sleeps())].filter((t) => t !== 120_000)).toEqual([30_000])
          yield* TestClock.adjust("29 seconds")
          expect(calls).toBe(1)
          yield* TestClock.adjust("1 second")
          const health = yield* Fiber.join(fiber)
          expect(health.hostname).toBe("a.example.test")
          expect(calls).toBe(2)
        })
      )
    })
  )

  it.effect("setFailoverRole answered 429 + Retry-After: 1 fails at once: no sleep, one request", () =>
    Effect.gen(function* () {
      const mock = makeMock()
      let calls = 0
      mock.pool
        .intercept({ path: "/api/command/v2/failover-role", method: "POST" })
        .reply(() => {
          calls++
          return json(429, { message: "slow down" }, { "retry-after": "1" })
        })
        .persist()
      const error = yield* Effect.flip(
        withClient(mock.connection({ timeoutMillis: 120_000 }), (client) =>
          client.setFailoverRole({ role: "primary", dataSyncFirst: false, force: false })
        )
      )
      expect(error.reason).toMatchObject({ _tag: "RateLimited", retryAfterSeconds: 1 })
      expect(calls).toBe(1)
      // only the time limits of the token request and of the call itself: no retry was scheduled
      expect([...(yield* TestClock.sleeps())].filter((t) => t !== 120_000)).toEqual([])
    })
  )
})
