/**
 * `sra-upgrade fleet …`: rollouts over many sites in waves (docs/fleet.md).
 * `fleet plan` prints the rollout plan of a fleet file: waves, earliest
 * start per site in its time zone, estimates and warnings.
 *
 * @since 0.3.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { FleetFile, Rollout } from "@sra-upgrade/fleet"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { usage } from "../CliError.js"

const fleetOpt = Options.text("fleet").pipe(
  Options.withAlias("f"),
  Options.withDescription(
    "The fleet file (YAML or JSON) naming the sites, waves, cap, budget and windows; see docs/fleet.md."
  )
)

const nowOpt = Options.text("now").pipe(
  Options.optional,
  Options.withDescription("Plan from this instant (ISO 8601 with a zone, e.g. 2026-10-01T08:00:00Z); default: now.")
)

const formatOpt = Options.choice("format", ["markdown", "table", "json"] as const).pipe(
  Options.withDefault("markdown" as const),
  Options.withDescription("markdown: a report per wave; table: one line per site; json: the rollout plan value.")
)

const parseNow = (text: string) => {
  const d = new Date(text)
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text) && !Number.isNaN(d.getTime())
    ? Effect.succeed(d)
    : Effect.fail(usage(`--now ${text}: expected an ISO 8601 instant with its zone, e.g. 2026-10-01T08:00:00Z.`))
}

/**
 * `fleet plan --fleet FILE [--now ISO] [--format markdown|table|json]`.
 *
 * @since 0.3.0
 * @category commands
 */
export const plan = Command.make("plan", { fleet: fleetOpt, now: nowOpt, format: formatOpt }, (o) =>
  Effect.gen(function* () {
    const now = yield* Option.match(o.now, {
      onNone: () => Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms)),
      onSome: parseNow
    })
    const fleet = yield* FleetFile.decodeFleetFile(o.fleet).pipe(Effect.mapError((e) => usage(e.message)))
    const rollout = Rollout.plan(fleet, { now })
    yield* Console.log(
      o.format === "json"
        ? Rollout.toJson(rollout)
        : o.format === "table"
          ? Rollout.toTable(rollout)
          : Rollout.toMarkdown(rollout)
    )
  })
).pipe(
  Command.withDescription(
    "Print the rollout plan of a fleet file: waves, each site's earliest start in its time zone, estimates, warnings."
  )
)

/**
 * `sra-upgrade fleet`: its subcommands.
 *
 * @since 0.3.0
 * @category commands
 */
export const command = Command.make("fleet").pipe(
  Command.withDescription("Rollouts over many sites in waves, with a concurrency cap, a failure budget and windows."),
  Command.withSubcommands([plan])
)
