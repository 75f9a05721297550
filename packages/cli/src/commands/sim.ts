/**
 * `sra-upgrade sim`: start the simulated failover pair and its site front.
 *
 * @since 0.3.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Option from "effect/Option"
import { usage } from "../CliError.js"
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
      Options.withDescription(
        "Write a site file (and its secret file beside it) describing this simulator; with --sites, a folder for one site file per site."
      )
    ),
    sites: Options.integer("sites").pipe(
      Options.optional,
      Options.withDescription(
        "Simulate this many sites in one process (site-001, site-002…), each with its own control URL."
      )
    ),
    pairs: Options.integer("pairs").pipe(
      Options.optional,
      Options.withDescription(
        "With --sites: how many of the sites are failover pairs (default all; the others single appliances)."
      )
    ),
    migration: Options.boolean("migration").pipe(
      Options.withDescription(
        "Simulate a move to new hardware instead: old appliance A on 24.3.2 serving the site by DNS and a factory-fresh box N; --write-site writes a site file with its migration: section (run it with --method migration)."
      )
    ),
    json: jsonOpt
  },
  (o) =>
    Option.isSome(o.sites)
      ? o.migration
        ? usage("--migration simulates one site: leave out --sites")
        : Sim.serveSites({ ...o, sites: o.sites.value })
      : Option.isSome(o.pairs)
        ? usage("--pairs needs --sites N")
        : Sim.serve(o)
).pipe(
  Command.withDescription(
    "Start the simulated failover pair and site front (same as `pnpm sim`), or with --sites N many simulated sites; Ctrl-C stops it."
  )
)
