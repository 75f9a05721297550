/**
 * `sra-upgrade rehearse` (PREP-5): run the production plan on a simulator seeded from the site.
 *
 * @since 0.3.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { currentOpt, jsonOpt, methodOpt, runsOpt, siteOpt, toOpt, updateMethodOpt } from "../internal/options.js"
import * as Rehearse from "../Rehearse.js"

/**
 * The `rehearse` command.
 *
 * @since 0.3.0
 * @category commands
 */
export const command = Command.make(
  "rehearse",
  {
    site: siteOpt,
    to: toOpt,
    method: methodOpt,
    updateMethod: updateMethodOpt,
    current: currentOpt,
    timeScale: Options.float("time-scale").pipe(
      Options.withDefault(600),
      Options.withDescription("Simulated seconds per real second.")
    ),
    runs: runsOpt,
    json: jsonOpt
  },
  (o) => Rehearse.run({ ...o, siteFile: o.site })
).pipe(
  Command.withDescription(
    "PREP-5: run the production plan on a simulator seeded from the site's observed state, and record the rehearsal for the production run's check."
  )
)
