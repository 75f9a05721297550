/**
 * `sra-upgrade sim`: start the simulated failover pair and its site front.
 *
 * @since 0.3.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { jsonOpt } from "../internal/options.js"
import * as Sim from "../internal/sim.js"

/**
 * The `sim` command.
 *
 * @since 0.3.0
 * @category commands
 */
export const command = Command.make(
  "sim",
  {
    timeScale: Options.float("time-scale").pipe(
      Options.withDefault(60),
      Options.withDescription("Simulated seconds per real second.")
    ),
    clients: Options.integer("clients").pipe(
      Options.withDefault(20),
      Options.withDescription("Jump Clients in the fleet.")
    ),
    backupSize: Options.integer("backup-size").pipe(
      Options.withDefault(8 * 1024 * 1024),
      Options.withDescription(
        "Size in bytes of the settings backup each appliance streams (default 8 MiB; several GiB is fine)."
      )
    ),
    writeSite: Options.text("write-site").pipe(
      Options.optional,
      Options.withDescription("Write a site file (and its secret file beside it) describing this simulator.")
    ),
    json: jsonOpt
  },
  (o) => Sim.serve(o)
).pipe(
  Command.withDescription("Start the simulated failover pair and site front (same as `pnpm sim`); Ctrl-C stops it.")
)
