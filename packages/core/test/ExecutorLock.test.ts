/**
 * The executor's per-run lock (`internal/executor/lock.ts`, issue 16): one
 * holder at a time, waiters in arrival order, released whatever the outcome.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Lock from "../src/internal/executor/lock.js"

describe("executor lock", () => {
  it.effect("one holder at a time; waiters get the lock in the order they asked for it", () =>
    Effect.gen(function* () {
      const lock = Lock.make()
      const log: Array<string> = []
      const gate = yield* Deferred.make<void>()
      const first = yield* Effect.fork(
        Lock.withLock(
          lock,
          Effect.gen(function* () {
            log.push("first in")
            yield* Deferred.await(gate)
            log.push("first out")
          })
        )
      )
      while (!lock.locked) yield* Effect.yieldNow()
      const others = yield* Effect.forEach(["second", "third", "fourth"], (name) =>
        Effect.fork(
          Lock.withLock(
            lock,
            Effect.sync(() => log.push(name))
          )
        ).pipe(Effect.tap(() => Effect.yieldNow()))
      )
      expect(lock.waiters).toHaveLength(3)
      expect(log).toEqual(["first in"])
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(first)
      yield* Effect.forEach(others, Fiber.join)
      expect(log).toEqual(["first in", "first out", "second", "third", "fourth"])
      expect(lock.locked).toBe(false)
      expect(lock.waiters).toHaveLength(0)
    })
  )

  it.effect("a holder that fails or dies releases the lock to the next one", () =>
    Effect.gen(function* () {
      const lock = Lock.make()
      const failed = yield* Effect.exit(Lock.withLock(lock, Effect.fail("journal refused")))
      expect(Exit.isFailure(failed)).toBe(true)
      expect(lock.locked).toBe(false)
      const died = yield* Effect.exit(Lock.withLock(lock, Effect.die(new Error("bug"))))
      expect(Exit.isFailure(died)).toBe(true)
      expect(lock.locked).toBe(false)
      expect(yield* Lock.withLock(lock, Effect.succeed(42))).toBe(42)
    })
  )

  it.effect("a holder is not interrupted midway: an interrupt waits for the end of the held section", () =>
    Effect.gen(function* () {
      const lock = Lock.make()
      const entered = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      let finished = false
      const holder = yield* Effect.fork(
        Lock.withLock(
          lock,
          Effect.gen(function* () {
            yield* Deferred.succeed(entered, undefined)
            yield* Deferred.await(gate)
            finished = true
          })
        )
      )
      yield* Deferred.await(entered)
      const interrupting = yield* Effect.fork(Fiber.interrupt(holder))
      yield* Effect.yieldNow()
      expect(finished).toBe(false)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(interrupting)
      expect(finished).toBe(true)
      expect(lock.locked).toBe(false)
    })
  )
})
