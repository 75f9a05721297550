/**
 * Client-side rate limiter of one API account: requests are spaced so that
 * no more than `perSecond` start in any second (the vendor allows 20/s per
 * account across all endpoints), and the whole account pauses when the
 * appliance says so (429 + Retry-After, or X-RateLimit-Remaining: 0).
 * Time is read from Effect's Clock, so tests drive it with TestClock.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"

/** @internal */
export interface Limiter {
  /** Waits for this request's slot. */
  readonly take: Effect.Effect<void>
  /** No request of this account starts before `epochMillis`. */
  readonly pauseUntil: (epochMillis: number) => Effect.Effect<void>
}

/** @internal */
export const make = (perSecond: number): Effect.Effect<Limiter> =>
  Effect.gen(function* () {
    const interval = 1000 / Math.max(perSecond, 0.001)
    const next = yield* Ref.make(0)
    const take = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const slot = yield* Ref.modify(next, (n) => {
        const s = Math.max(now, n)
        return [s, s + interval] as const
      })
      // sub-millisecond gaps are not worth a timer (and would stall TestClock)
      const wait = Math.floor(slot - now)
      if (wait > 0) yield* Effect.sleep(wait)
    })
    const pauseUntil = (epochMillis: number) => Ref.update(next, (n) => Math.max(n, epochMillis))
    return { take, pauseUntil }
  })
