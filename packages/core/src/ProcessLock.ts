/**
 * An exclusive lock file held by one process of a host for a scope: the same
 * lock a run's journal takes (`<run>.lock`), for anything else that must have
 * one owner at a time (the embedded fleet engine's database).
 *
 * Taking it is atomic across processes (the owner record `{ pid, host, since }`
 * is hard-linked into place); a lock left by a process of this host that is no
 * longer running is taken over by exactly one contender; a lock owned on
 * another host is never taken over.
 *
 * @since 0.3.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as runLock from "./internal/executor/runLock.js"

/**
 * Who holds a lock, as read from its file.
 *
 * @since 0.3.0
 * @category models
 */
export interface Owner {
  readonly pid: number
  readonly host?: string | undefined
  readonly since?: Date | undefined
}

/**
 * A lock this process holds.
 *
 * @since 0.3.0
 * @category models
 */
export interface Lock {
  readonly file: string
  /** The owner that was no longer running and whose lock was taken over, if any. */
  readonly tookOver: Owner | undefined
}

/**
 * Another running process holds the lock.
 *
 * @since 0.3.0
 * @category errors
 */
export class ProcessLockHeld extends Data.TaggedError("ProcessLockHeld")<{
  readonly file: string
  readonly owner: Owner
}> {
  /**
   * @since 0.3.0
   */
  override get message(): string {
    return `${this.file} is held by ${describe(this.owner)}: wait for it to finish or stop it.`
  }
}

/**
 * The lock file could not be read or written.
 *
 * @since 0.3.0
 * @category errors
 */
export class ProcessLockError extends Data.TaggedError("ProcessLockError")<{
  readonly file: string
  readonly cause: unknown
}> {
  /**
   * @since 0.3.0
   */
  override get message(): string {
    return `Cannot take the lock ${this.file}: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}; check the folder's permissions and free space.`
  }
}

/**
 * "process 123 on host h (since …)".
 *
 * @since 0.3.0
 * @category formatting
 */
export const describe = (owner: Owner): string => runLock.describe(owner)

/**
 * Hold the lock at `file` for the scope (released when it closes, only if the
 * file is still this process's). The owner record is stamped with wall time:
 * the lock is shared with other processes.
 *
 * @since 0.3.0
 * @category constructors
 */
export const acquire = (file: string): Effect.Effect<Lock, ProcessLockHeld | ProcessLockError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.suspend((): Effect.Effect<runLock.Held, ProcessLockHeld | ProcessLockError> => {
      const got = runLock.acquire(file, new Date())
      switch (got._tag) {
        case "Failed":
          return Effect.fail(new ProcessLockError({ file, cause: got.error }))
        case "Held":
          return Effect.fail(new ProcessLockHeld({ file, owner: got.owner }))
        case "Acquired":
          return Effect.succeed(got)
      }
    }),
    (held) => Effect.sync(() => runLock.release(held))
  ).pipe(Effect.map((held): Lock => ({ file: held.file, tookOver: held.tookOver })))
