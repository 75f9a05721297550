/**
 * Helpers to drive `EngineLayer.memory` with `TestClock`: `TestClock.adjust`
 * lets other fibers run only until the event loop reaches a timer between
 * two wake-ups, so nothing the engine waits on may be real I/O, or time
 * moves on while the engine still works (a site starts late, or never).
 * Two things are not microtask-bound by default:
 *
 * - `@effect/workflow` names each execution by a SHA-256 of its key through
 *   WebCrypto (`crypto.subtle.digest`), computed on libuv's thread pool:
 *   `synchronousDigest` replaces it, for its scope, with Node's synchronous
 *   hash (the same digest, so the same execution ids);
 * - Effect's default scheduler falls back to a timer now and then:
 *   `onMicrotasks` runs an effect (the test with the engine layer) on a
 *   scheduler that resumes fibers in microtasks only.
 *
 * The ledger and journals answer synchronously (SQLite through libsql). With
 * both helpers, at each timer every fiber of the engine is done or sleeps on
 * the `TestClock`.
 *
 * @since 0.3.0
 */
import * as Effect from "effect/Effect"
import * as Scheduler from "effect/Scheduler"
import type * as Scope from "effect/Scope"
import { createHash } from "node:crypto"

/**
 * For the scope, `crypto.subtle.digest("SHA-256", …)` answers from Node's
 * synchronous hash (an already resolved promise); other algorithms go to
 * WebCrypto as before. Restored when the scope closes.
 *
 * @since 0.3.0
 * @category test helpers
 */
export const synchronousDigest: Effect.Effect<void, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => {
    const subtle = globalThis.crypto.subtle
    const original = subtle.digest
    subtle.digest = (...[algorithm, data]: Parameters<Digest>): Promise<ArrayBuffer> => {
      const name = typeof algorithm === "string" ? algorithm : algorithm.name
      if (name.toUpperCase() !== "SHA-256") return original.call(subtle, algorithm, data)
      const bytes = ArrayBuffer.isView(data)
        ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
        : new Uint8Array(data)
      const digest = createHash("sha256").update(bytes).digest()
      return Promise.resolve(
        digest.buffer.slice(digest.byteOffset, digest.byteOffset + digest.byteLength) as ArrayBuffer
      )
    }
    return original
  }),
  (original) =>
    Effect.sync(() => {
      globalThis.crypto.subtle.digest = original
    })
)

type Digest = typeof globalThis.crypto.subtle.digest

const microtasks = Scheduler.makeBatched((run) => queueMicrotask(run))

/**
 * Run `self` (and every fiber it forks, the engine's included when its layer
 * is provided inside) on a scheduler that resumes fibers in microtasks only.
 *
 * @since 0.3.0
 * @category test helpers
 */
export const onMicrotasks = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withScheduler(self, microtasks)

/**
 * Both: `self` on microtasks with the synchronous digest for its duration.
 * Wrap a test's effect with the engine layer provided inside:
 * `program.pipe(Effect.provide(EngineLayer.memory(…)), TestEngine.deterministic)`.
 *
 * @since 0.3.0
 * @category test helpers
 */
export const deterministic = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, Exclude<R, Scope.Scope>> =>
  onMicrotasks(Effect.scoped(Effect.zipRight(synchronousDigest, self)))
