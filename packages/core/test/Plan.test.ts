import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { MaintenanceWindow } from "../src/MaintenanceWindow.js"
import * as Plan from "../src/Plan.js"

const rules = (...ids: Array<string>) => ids.map((id) => Schema.decodeSync(Plan.RuleId)(id))

const example = new Plan.Plan({
  id: "plan-1",
  kind: "single",
  title: "Upgrade support.example.com to 24.3.2",
  site: "support.example.com",
  targetVersion: "24.3.2",
  notes: ["Example plan"],
  steps: [
    new Plan.Check({
      id: "check-api",
      title: "API reachable",
      rules: rules("PREP-8"),
      target: "A",
      estimatedSeconds: 5,
      handler: "core/api-reachable",
      params: {},
      idempotent: true,
      notes: [],
      severity: "blocking"
    }),
    new Plan.Window({
      id: "window-1",
      title: "Wait for the maintenance window",
      rules: rules("PREP-4"),
      estimatedSeconds: 0,
      handler: "core/window",
      params: {},
      idempotent: true,
      notes: [],
      window: new MaintenanceWindow({
        label: "Saturday night",
        start: new Date("2026-12-05T01:00:00Z"),
        durationMinutes: 240
      })
    }),
    new Plan.ManualGate({
      id: "install",
      title: "Install 24.3.2",
      rules: rules("SINGLE-1"),
      target: "A",
      estimatedSeconds: 1800,
      handler: "core/version-is",
      params: { version: "24.3.2" },
      idempotent: false,
      notes: [],
      instructions: ["Open /appliance > Updates", "Press Install this update"],
      evidence: [new Plan.EvidenceField({ name: "operator", description: "who pressed the button" })]
    }),
    new Plan.WaitFor({
      id: "wait-healthy",
      title: "Wait until healthy",
      rules: rules("VERIFY-1"),
      target: "A",
      estimatedSeconds: 60,
      handler: "core/healthy",
      params: {},
      idempotent: true,
      notes: [],
      intervalSeconds: 10,
      deadlineSeconds: 3600
    })
  ]
})

describe("Plan", () => {
  it("round-trips through JSON unchanged", () =>
    Effect.gen(function* () {
      const json = Plan.toJson(example)
      const back = yield* Plan.fromJson(json)
      expect(back).toEqual(example)
      expect(Plan.toJson(back)).toEqual(json)
    }).pipe(Effect.runPromise))

  it("rejects duplicate step ids and bad rule ids", () => {
    const json = JSON.parse(Plan.toJson(example))
    json.steps[1].id = "check-api"
    expect(Either.isLeft(Effect.runSync(Effect.either(Plan.fromJson(JSON.stringify(json)))))).toBe(true)
    expect(Either.isLeft(Schema.decodeUnknownEither(Plan.RuleId)("prep1"))).toBe(true)
  })

  it("renders a Markdown runbook and a table", () => {
    const md = Plan.toMarkdown(example)
    expect(md).toContain("## 3. Install 24.3.2")
    expect(md).toContain("1. Open /appliance > Updates")
    expect(md).toContain("not idempotent")
    const table = Plan.toTable(example)
    expect(table.split("\n")).toHaveLength(4 + 4)
    expect(example.estimatedSeconds).toBe(1865)
  })
})
