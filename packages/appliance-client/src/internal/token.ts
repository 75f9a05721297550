/**
 * OAuth client-credentials token cache of one API account. At most one token
 * request is in flight (concurrent callers wait for it and share the
 * result): the vendor keeps only 30 valid tokens per account and silently
 * invalidates the oldest when a 31st is minted, which would break another
 * tool using the same account. Tokens are refreshed before they expire.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"

/** @internal */
export interface Token {
  readonly value: Redacted.Redacted<string>
  readonly expiresAt: number
}

/** @internal */
export interface Minted {
  readonly value: Redacted.Redacted<string>
  readonly expiresInSeconds: number
}

/** @internal */
export interface TokenCache<E> {
  readonly get: Effect.Effect<Token, E>
  /** Drops `token` if it is still the cached one (a 401 proved it dead). */
  readonly invalidate: (token: Token) => Effect.Effect<void>
  /** Number of tokens minted so far (observability and tests). */
  readonly minted: Effect.Effect<number>
}

/** @internal */
export const make = <E>(mint: Effect.Effect<Minted, E>): Effect.Effect<TokenCache<E>> =>
  Effect.gen(function* () {
    const current = yield* Ref.make<Token | undefined>(undefined)
    const count = yield* Ref.make(0)
    const lock = yield* Effect.makeSemaphore(1)
    const get = lock.withPermits(1)(
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const cached = yield* Ref.get(current)
        if (cached !== undefined && now < cached.expiresAt) return cached
        const minted = yield* mint
        yield* Ref.update(count, (n) => n + 1)
        const lifetime = Math.max(1, minted.expiresInSeconds) * 1000
        // refresh a minute early (or a tenth of the lifetime when shorter)
        const margin = Math.min(60_000, lifetime / 10)
        const after = yield* Clock.currentTimeMillis
        const token: Token = { value: minted.value, expiresAt: after + lifetime - margin }
        yield* Ref.set(current, token)
        return token
      })
    )
    const invalidate = (token: Token) => Ref.update(current, (c) => (c === token ? undefined : c))
    return { get, invalidate, minted: Ref.get(count) }
  })
