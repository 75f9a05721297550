/**
 * Options shared by several commands.
 */
import * as Options from "@effect/cli/Options"
import * as Prober from "./prober.js"
import * as Runner from "./runner.js"

export const siteOpt = Options.text("site").pipe(
  Options.withAlias("s"),
  Options.withDescription("The site file (YAML or JSON) describing the appliances; see docs/core/site-file.md.")
)
export const toOpt = Options.text("to").pipe(Options.withDescription("Target product version, e.g. 24.3.2."))
export const methodOpt = Options.choice("method", ["single", "sync", "async"] as const).pipe(
  Options.optional,
  Options.withDescription(
    "single (one appliance), sync or async (failover pair; required: PREP-7, the operator chooses — sync is the simple one, async the one with less downtime). Default for one appliance: single."
  )
)
/** `--method` of plan, check and run: the pair and single methods, and `migration` (a move to new hardware). */
export const runMethodOpt = Options.choice("method", ["single", "sync", "async", "migration"] as const).pipe(
  Options.optional,
  Options.withDescription(
    "single (one appliance), sync or async (failover pair; required: PREP-7, the operator chooses — sync is the simple one, async the one with less downtime), or migration (move the site to the new appliance of the site file's migration: section, MIGRATE-1…9; --to is the version the new box is brought to, the old one's). Default for one appliance: single."
  )
)
export const updateMethodOpt = Options.choice("update-method", ["automatic", "manual"] as const).pipe(
  Options.optional,
  Options.withDescription(
    "How the appliances get the packages: automatic (Check for updates, Install this update: SINGLE-1; the default) or manual (restricted networks: download key, removable media, Manual installation: SINGLE-3). Plan again with manual when automatic updates fail (SINGLE-6)."
  )
)
export const runsOpt = Options.text("runs").pipe(
  Options.withDefault(Runner.defaultRunsDir),
  Options.withDescription("Folder of the run journals and reports.")
)
export const jsonOpt = Options.boolean("json").pipe(
  Options.withDescription("Print JSON (one event per line for runs).")
)
export const answersOpt = Options.text("answers").pipe(
  Options.optional,
  Options.withDescription("Answers file for manual gates (non-interactive runs); see docs/cli.md.")
)
export const yesOpt = Options.boolean("yes").pipe(
  Options.withDescription(
    "Let the simulator play every manual gate. Only with --simulator (never for real appliances)."
  )
)
export const simulatorOpt = Options.text("simulator").pipe(
  Options.optional,
  Options.withDescription(
    "Control URL of a running simulator (printed by `sra-upgrade sim`), e.g. http://127.0.0.1:4100/__sim."
  )
)
export const currentOpt = Options.text("current").pipe(
  Options.optional,
  Options.withDescription(
    "Plan offline: the product version the appliances run now (default: read from their health API)."
  )
)
export const probeIntervalOpt = Options.float("probe-interval").pipe(
  Options.withDefault(Prober.defaultIntervalSeconds),
  Options.withDescription(
    "Seconds between two probes of the site address (GET /check_health) while the run is driven; the report's availability comes from them. 0 turns probing off. Against a simulator the interval is in simulated seconds."
  )
)
