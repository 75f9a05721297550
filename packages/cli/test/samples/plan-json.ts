// A plan as JSON for a portal: build it, store it, read it back, render it.
import { Plan, Site, SingleUpgrade } from "@sra-upgrade/core"
import { Effect } from "effect"

export const planAsJson = (siteFile: string) =>
  Effect.gen(function* () {
    const site = yield* Site.decodeSiteFile(siteFile) // errors name the file, the field and what was expected
    const plan = yield* SingleUpgrade.planSingleUpgrade(site, "24.3.2", { current: { product: "24.1.3" } })
    const json = Plan.toJson(plan) // store it, send it to the browser
    const back = yield* Plan.fromJson(json) // validated on the way back in
    const firstGate = back.steps.find((s) => s._tag === "ManualGate")
    return {
      json,
      steps: back.steps.map((s) => ({ id: s.id, kind: s._tag, title: s.title, rules: s.rules, target: s.target })),
      firstGateInstructions: firstGate?._tag === "ManualGate" ? firstGate.instructions : [],
      runbook: Plan.toMarkdown(back) // what a person follows by hand
    }
  })
