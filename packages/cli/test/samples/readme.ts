import { ApplianceClient } from "@sra-upgrade/appliance-client"
import { CoreHandlers, Executor, Journal, Operator, Plan, type RunReport, Site, SingleUpgrade } from "@sra-upgrade/core"
import { Effect, Layer } from "effect"

export const upgrade = (
  siteFile: string,
  appliances: ReadonlyArray<ApplianceClient.Connection>
): Effect.Effect<RunReport.RunReport, unknown> =>
  Effect.gen(function* () {
    const site = yield* Site.decodeSiteFile(siteFile) // typed errors name the field
    const plan = yield* SingleUpgrade.planSingleUpgrade(site, "24.3.2", { current: { product: "24.1.3" } })
    console.log(Plan.toMarkdown(plan)) // a runbook a person could follow by hand
    return yield* Executor.run(plan) // journaled; Executor.resume(runId) after a crash
  }).pipe(
    Effect.provide(
      Executor.layer.pipe(
        Layer.provide(CoreHandlers.layer().pipe(Layer.provide(ApplianceClient.layer(appliances)))),
        Layer.provide(Operator.layerScripted({})), // unanswered gates pause the run: use layerPrompt, a portal, or SimOperator
        Layer.provide(Journal.layer({ directory: ".sra-upgrade/runs" }))
      )
    )
  )
