/**
 * `sra-upgrade demo`: upgrade an embedded simulated pair end to end.
 *
 * @since 0.3.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Option from "effect/Option"
import * as Demo from "../Demo.js"
import * as DemoFleet from "../DemoFleet.js"
import { jsonOpt, methodOpt } from "../internal/options.js"

/**
 * The `demo` command.
 *
 * @since 0.3.0
 * @category commands
 */
export const command = Command.make(
  "demo",
  {
    timeScale: Options.float("time-scale").pipe(
      Options.withDefault(Demo.defaultTimeScale),
      Options.withDescription("Simulated seconds per real second.")
    ),
    method: methodOpt,
    json: jsonOpt
  },
  (o) => Demo.run({ timeScale: o.timeScale, json: o.json, method: Option.getOrElse(o.method, () => Demo.method) })
).pipe(
  Command.withDescription(
    "Upgrade an embedded simulated pair end to end: plan, run (the simulator plays the manual gates), report. Nothing is left running."
  ),
  Command.withSubcommands([
    Command.make(
      "fleet",
      {
        timeScale: Options.float("time-scale").pipe(
          Options.withDefault(DemoFleet.defaultTimeScale),
          Options.withDescription("Simulated seconds per real second.")
        ),
        json: jsonOpt
      },
      (o) => DemoFleet.run({ timeScale: o.timeScale, json: o.json })
    ).pipe(
      Command.withDescription(
        "A rollout of 12 simulated sites (8 single appliances, 4 pairs, three time zones) in 3 waves on the embedded engine; one site fails by an injected fault within a failure budget of 1. Nothing is left running."
      )
    )
  ])
)
