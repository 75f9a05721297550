import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"
import * as TestChains from "../src/TestChains.js"

/** The fixed "now" of every test: certificates are generated and judged at this instant. */
export const NOW = new Date("2026-06-01T00:00:00.000Z")
export const DAY = 24 * 60 * 60 * 1000
export const SITE = "support.example.test"

/** Runs a generator effect with the clock at NOW. */
export const atNow = <A>(effect: Effect.Effect<A>): Promise<A> =>
  Effect.runPromise(
    Effect.gen(function* () {
      yield* TestClock.setTime(NOW.getTime())
      return yield* effect
    }).pipe(Effect.provide(TestContext.TestContext))
  )

/** Sets the TestClock to NOW (inside `it.effect`). */
export const setNow = TestClock.setTime(NOW.getTime())

export { TestChains }
