/**
 * The simulator operator's MIGRATE-9 gates asked again after a crash (the
 * command was killed after the simulator accepted the action, before the
 * answer was journaled): the operator looks first, as a person would, and
 * approves without acting twice. Found by the crash matrix's migration
 * scenario (a second power-off was refused: "Appliance A is powered off").
 */
import { describe, expect, it } from "@effect/vitest"
import { type Operator, Plan } from "@sra-upgrade/core"
import { MigrationSteps } from "@sra-upgrade/migration"
import * as Effect from "effect/Effect"
import { SimOperator, Simulator, SiteFile } from "../src/index.js"

const gate = (handler: string, target: string, params: Readonly<Record<string, unknown>>): Operator.GateRequest => ({
  runId: "reasked-test",
  purpose: "gate",
  step: new Plan.ManualGate({
    id: `migrate/${handler.replace(/\W/g, "-")}`,
    title: handler,
    rules: [],
    target,
    estimatedSeconds: 1,
    handler,
    params,
    idempotent: true,
    instructions: [],
    evidence: []
  }),
  instructions: [],
  evidence: []
})

describe("migration gates asked again", () => {
  it.scoped(
    "MIGRATE-9: reset, power-off and delete gates asked again after a crash find their work done: approved, one action each",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start(SiteFile.migrationConfig({ timeScale: 0 }))
        const operator = SimOperator.make({ controlUrl: sim.controlUrl })
        const params = { old: "A", oldUrl: sim.appliance("A").httpsUrl, new: "N" }
        for (const def of [MigrationSteps.OldReset, MigrationSteps.OldPoweredOff, MigrationSteps.OldDeleted]) {
          const request = gate(def.name, "A", params)
          expect((yield* operator.answer(request))._tag, def.name).toBe("Approved")
          // killed before the answer was journaled: the resume asks the same gate again
          const again = yield* operator.answer(request)
          expect(again._tag, again._tag === "Rejected" ? again.reason : def.name).toBe("Approved")
          expect(again._tag === "Approved" && Object.keys(again.evidence).some((k) => k.startsWith("already"))).toBe(
            true
          )
        }
        const actions = (yield* Effect.orDie(sim.control("GET", "/actions"))) as ReadonlyArray<{
          appliance: string | null
          action: string
        }>
        expect(
          actions
            .filter((a) => ["factory-reset", "power-off", "appliance-deleted"].includes(a.action))
            .map((a) => `${a.appliance}/${a.action}`)
        ).toEqual(["A/factory-reset", "A/power-off", "A/appliance-deleted"])
      })
  )
})
