import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { copyFileSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as ApplianceApi from "../src/ApplianceApi.js"
import * as CoreHandlers from "../src/CoreHandlers.js"
import * as CoreSteps from "../src/CoreSteps.js"
import * as Executor from "../src/Executor.js"
import * as Journal from "../src/Journal.js"
import * as Operator from "../src/Operator.js"
import { FakeAppliance } from "../src/test.js"

const fixture = join(import.meta.dirname, "fixtures", "journals", "v0.2-single-deferred.jsonl")

describe("journals written before typed step definitions", () => {
  it.live("a 0.2 journal (deferred at the product install) resumes to success with today's handlers", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "sra-journal-compat-"))
      copyFileSync(fixture, join(dir, "v0.2-single-deferred.jsonl"))
      const layer = Executor.layer.pipe(
        Layer.provideMerge(
          Layer.mergeAll(
            Layer.effect(
              Operator.Operator,
              Effect.map(FakeAppliance.FakeAppliances, (fakes) => ({
                answer: (request: Operator.GateRequest) =>
                  Effect.sync(() => {
                    const install = CoreSteps.ConfirmInstallStarted.paramsOf(request.step)
                    if (Option.isSome(install)) fakes.get("A").state.version = install.value.version
                    return new Operator.Approved({
                      by: "bob",
                      evidence: Object.fromEntries(
                        request.evidence.map((f) => [f.name, f.expected ?? (f.name === "session" ? "pc-42" : "x")])
                      )
                    })
                  })
              }))
            ),
            Journal.layer({ directory: dir })
          )
        ),
        Layer.provideMerge(
          CoreHandlers.layer({ backupPassword: Redacted.make("pw") }).pipe(
            Layer.provideMerge(
              FakeAppliance.layer({
                A: {
                  version: "24.1.3",
                  jumpoints: [
                    new ApplianceApi.Jumpoint({
                      id: 1,
                      name: "jp",
                      platform: "linux-x86",
                      enabled: true,
                      connected: true,
                      clustered: false
                    })
                  ]
                }
              })
            )
          )
        )
      )
      const before = yield* Executor.report("v0.2-single-deferred").pipe(Effect.provide(layer))
      expect(before.status).toBe("waiting-for-operator")
      const report = yield* Executor.resume("v0.2-single-deferred").pipe(Effect.provide(layer))
      expect(report.status, report.error).toBe("succeeded")
      // the steps done by 0.2 keep their evidence; the rest ran now
      expect(report.steps.find((s) => s.id === "A/backup")!.status).toBe("succeeded")
      expect(report.steps.find((s) => s.id === "A/await-site-24.3.2")!.evidence).toMatchObject({ version: "24.3.2" })
      expect(report.steps.every((s) => s.status === "succeeded")).toBe(true)
    })
  )
})
