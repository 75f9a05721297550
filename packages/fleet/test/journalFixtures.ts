import { Plan } from "@sra-upgrade/core"
import * as Schema from "effect/Schema"

const base = (id: string, idempotent: boolean) => ({
  id,
  title: `Step ${id}`,
  rules: [Schema.decodeSync(Plan.RuleId)("PREP-1")],
  target: "A",
  estimatedSeconds: 1,
  handler: id,
  params: {},
  idempotent,
  notes: []
})

/** A two-step plan (a check, then an action) for journal records. */
export const thePlan = new Plan.Plan({
  id: "plan-1",
  kind: "custom",
  title: "Plan plan-1",
  site: "support.example.com",
  targetVersion: "24.3.2",
  steps: [new Plan.Check({ ...base("a", true), severity: "blocking" }), new Plan.Action(base("b", false))],
  notes: []
})
