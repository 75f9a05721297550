/**
 * What the command reports when it stops early, with the process exit code.
 * Every message says what to do next; `detail` is shown with `--verbose`.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * The exit codes of `sra-upgrade` (documented in docs/cli.md).
 *
 * @since 0.1.0
 * @category models
 */
export const ExitCode = {
  /** Done: plan printed, checks passed, run succeeded. */
  ok: 0,
  /** Checks failed, or the run failed (journal kept; see the report). */
  failed: 1,
  /** Usage or configuration error: bad flag, bad site file, missing secret. */
  usage: 2,
  /** PREP-6: a base software update failed; the run is halted, contact vendor support. */
  needsSupport: 3,
  /** The run stopped and waits: a gate was deferred or a maintenance window is not open yet. `resume` later. */
  waiting: 4,
  /** An appliance could not be reached or refused the API account. */
  unreachable: 5,
  /** Interrupted (Ctrl-C); the journal is intact, `resume` continues. */
  interrupted: 130
} as const

/**
 * @since 0.1.0
 * @category models
 */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

/**
 * A failure of the command: one clear line (`message`), optional detail.
 *
 * @since 0.1.0
 * @category errors
 */
export class CliError extends Data.TaggedError("CliError")<{
  readonly exitCode: ExitCode
  readonly message: string
  readonly detail?: string | undefined
  /**
   * How the command shows it: `error` (default) prints `error: <message>` on stderr; `notice` prints the
   * message as is on stderr (a normal stop, e.g. a run waiting, exit 4); `none` prints nothing (the command
   * has said it already). Since 0.3.0.
   */
  readonly display?: "error" | "notice" | "none" | undefined
}> {}

/**
 * A run that stopped and waits (exit 4): a normal end, shown as a notice, not an error.
 *
 * @since 0.3.0
 * @category constructors
 */
export const waiting = (message: string, alreadyPrinted = false): CliError =>
  new CliError({ exitCode: ExitCode.waiting, message, display: alreadyPrinted ? "none" : "notice" })

/**
 * A usage or configuration error (exit code 2).
 *
 * @since 0.1.0
 * @category constructors
 */
export const usage = (message: string, detail?: string): CliError =>
  new CliError({ exitCode: ExitCode.usage, message, detail })

/**
 * A failure (exit code 1).
 *
 * @since 0.1.0
 * @category constructors
 */
export const failed = (message: string, detail?: string): CliError =>
  new CliError({ exitCode: ExitCode.failed, message, detail })
