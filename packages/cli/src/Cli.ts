/**
 * The `sra-upgrade` command: `plan`, `check`, `run`, `resume`, `status`,
 * `health`, `backup`, `certs inspect`, `sim`, `demo`, `rehearse`. Each
 * command is a module of `commands/`; this one assembles them. Reference:
 * docs/cli.md. `main` runs it on an argument vector and returns the exit
 * code; everything it prints goes through Effect's `Console` (tests capture
 * it with `Effect.withConsole`).
 *
 * @since 0.1.0
 */
import type * as CliApp from "@effect/cli/CliApp"
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import type { ApplianceApi, SingleUpgrade, Site } from "@sra-upgrade/core"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import { CliError, ExitCode } from "./CliError.js"
import * as Backup from "./commands/backup.js"
import * as Certs from "./commands/certs.js"
import * as Check from "./commands/check.js"
import * as DemoCommand from "./commands/demo.js"
import * as Fleet from "./commands/fleet.js"
import * as RunnerCommand from "./commands/runner.js"
import * as Health from "./commands/health.js"
import * as PlanCommand from "./commands/plan.js"
import * as RehearseCommand from "./commands/rehearse.js"
import * as Resume from "./commands/resume.js"
import * as Run from "./commands/run.js"
import * as Serve from "./commands/serve.js"
import * as SimCommand from "./commands/sim.js"
import * as Status from "./commands/status.js"
import * as Prepare from "./internal/prepare.js"

/**
 * The command's version.
 *
 * @since 0.1.0
 * @category models
 */
export const version = "0.1.0"

/**
 * Observed versions of every appliance of a site, through the port.
 *
 * @since 0.1.0
 * @category combinators
 */
export const observe: (
  site: Site.Site
) => Effect.Effect<Map<string, SingleUpgrade.Current>, CliError, ApplianceApi.ApplianceApi> = Prepare.observe

/**
 * The root command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("sra-upgrade").pipe(
  Command.withDescription(
    "Plan, run, verify and resume upgrades of BeyondTrust Secure Remote Access appliances. Global flag: --verbose."
  ),
  Command.withSubcommands([
    PlanCommand.command,
    Check.command,
    Run.command,
    RehearseCommand.command,
    Resume.command,
    Status.command,
    Health.command,
    Backup.command,
    Certs.command,
    SimCommand.command,
    DemoCommand.command,
    Fleet.command,
    RunnerCommand.command,
    Serve.command
  ])
)

const cli = Command.run(command, { name: "sra-upgrade", version })

/** The cause, and under each error the chain of its `cause`s (a driver's message sits there: SqlError's). */
const describeDefect = (cause: Cause.Cause<unknown>): string => {
  const chain = (e: unknown, depth: number): Array<string> => {
    const inner: unknown = e instanceof Error ? e.cause : undefined
    if (inner === undefined || depth > 5) return []
    return [
      `caused by: ${inner instanceof Error ? `${inner.name}: ${inner.message}` : String(inner)}`,
      ...chain(inner, depth + 1)
    ]
  }
  const causes = [...Cause.failures(cause), ...Cause.defects(cause)].flatMap((e) => chain(e, 0))
  return [Cause.pretty(cause), ...causes].join("\n")
}

/** Warnings and errors logged on the way (e.g. a stale run lock taken over) go to stderr as one line each. */
const logLines = Logger.replace(
  Logger.defaultLogger,
  Logger.make(({ logLevel, message }) => {
    if (!LogLevel.greaterThanEqual(logLevel, LogLevel.Warning)) return
    const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
    globalThis.console.error(`${logLevel._tag === "Warning" ? "warning" : "error"}: ${text}`)
  })
)

/**
 * Run the command on `argv` (as `process.argv`: node, script, args…),
 * print errors (one line; detail with `--verbose`) and return the exit code.
 *
 * @since 0.1.0
 * @category combinators
 */
export const main = (argv: ReadonlyArray<string>): Effect.Effect<ExitCode, never, CliApp.CliApp.Environment> => {
  const verbose = argv.slice(2).some((a) => a === "--verbose")
  const args = argv.filter((a, i) => i < 2 || a !== "--verbose")
  return cli(args).pipe(
    Effect.provide(logLines),
    Effect.as(ExitCode.ok as ExitCode),
    Effect.catchAllCause((cause) =>
      Effect.gen(function* () {
        if (Cause.isInterruptedOnly(cause)) return ExitCode.interrupted
        const failure = Cause.failureOption(cause)
        if (Option.isSome(failure)) {
          const e: unknown = failure.value
          if (ValidationError.isValidationError(e)) {
            // @effect/cli already printed the problem and the usage.
            yield* Console.error("Run `sra-upgrade <command> --help` for the options.")
            return ExitCode.usage
          }
          if (e instanceof CliError) {
            if (e.display === "none") return e.exitCode
            yield* Console.error(e.display === "notice" ? e.message : `error: ${e.message}`)
            if (verbose && e.detail !== undefined) yield* Console.error(e.detail)
            else if (e.detail !== undefined) yield* Console.error("(more detail with --verbose)")
            return e.exitCode
          }
          const message = e instanceof Error ? e.message : String(e)
          yield* Console.error(`error: ${message}`)
          if (verbose) yield* Console.error(describeDefect(cause))
          return ExitCode.failed
        }
        yield* Console.error("error: an unexpected internal error; rerun with --verbose and report it.")
        if (verbose) yield* Console.error(describeDefect(cause))
        return ExitCode.failed
      })
    )
  )
}
