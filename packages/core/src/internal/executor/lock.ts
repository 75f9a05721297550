/**
 * The executor's per-run lock: one event at a time is transitioned,
 * journaled and published (a handler's progress reports and an observer's
 * samples come from other fibers). An `Effect.Semaphore` costs about 4 µs per
 * use on the machine of `docs/benchmarks.md`, twice per step; this lock takes
 * the free case synchronously and queues waiters first come, first served.
 * The holder runs uninterruptibly: a waiter is never interrupted while the
 * lock is being handed to it, and the lock is always released.
 */
import * as Effect from "effect/Effect"

/** A run's lock. */
export interface Lock {
  locked: boolean
  readonly waiters: Array<() => void>
}

/** A free lock. */
export const make = (): Lock => ({ locked: false, waiters: [] })

const release = (lock: Lock): void => {
  const next = lock.waiters.shift()
  // hand the lock over to the next waiter, or free it
  if (next === undefined) lock.locked = false
  else next()
}

const acquire = (lock: Lock): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    lock.waiters.push(() => resume(Effect.void))
  })

/** Run `self` uninterruptibly, holding the lock; it is released whatever the outcome. */
export const withLock = <A, E, R>(lock: Lock, self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.uninterruptible(
    Effect.suspend(() => {
      const held = Effect.flatMap(Effect.exit(self), (exit) => {
        release(lock)
        return exit
      })
      if (!lock.locked) {
        lock.locked = true
        return held
      }
      return Effect.zipRight(acquire(lock), held)
    })
  )
