/**
 * The executor's side of `RunObserver`: start an observation in a scope of
 * its own beside a run, stop it (closing the scope lets the observer
 * journal what it still holds) before the run's end is journaled.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import type { RunObservation, RunObserver } from "../../RunObserver.js"

/** A running observation (or none). */
export interface Handle {
  scope: Scope.CloseableScope | undefined
}

/** Start observing the run, if an observer is provided. */
export const start = (
  observer: Option.Option<RunObserver["Type"]>,
  observation: RunObservation,
  handle: Handle
): Effect.Effect<void> =>
  Option.isNone(observer) || handle.scope !== undefined
    ? Effect.void
    : Effect.gen(function* () {
        // not uninterruptible: the observer's fibers inherit it and could then never be stopped
        const scope = yield* Scope.make()
        handle.scope = scope
        yield* Scope.extend(observer.value.observe(observation), scope)
      })

/** Stop observing (idempotent): the observer's finalizers journal what is left. */
export const stop = (handle: Handle): Effect.Effect<void> =>
  Effect.suspend(() => {
    const scope = handle.scope
    if (scope === undefined) return Effect.void
    handle.scope = undefined
    return Scope.close(scope, Exit.void)
  })
