#!/usr/bin/env node
/**
 * The `sra-upgrade` executable (`tsx packages/cli/src/bin.ts …` in the
 * workspace, `dist/bin.js` when installed).
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Cli from "./Cli.js"

let exitCode = 0
NodeRuntime.runMain(
  Cli.main(process.argv).pipe(
    Effect.tap((code) => Effect.sync(() => (exitCode = code))),
    Effect.provide(NodeContext.layer)
  ),
  {
    disableErrorReporting: true,
    // warnings are printed by `Cli.main` (one `warning: …` line on stderr), not a second time by the runtime
    disablePrettyLogger: true,
    teardown: (exit, onExit) => {
      // Ctrl-C: the run's journal is intact; `resume` continues it
      if (Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)) exitCode = 130
      process.exitCode = exitCode
      onExit(exitCode)
      // Everything we open is closed by its scope; should a stray handle remain, do not hang.
      setTimeout(() => {
        process.stderr.write("sra-upgrade: forced exit (a handle was left open)\n")
        process.exit(exitCode)
      }, 3_000).unref()
    }
  }
)
