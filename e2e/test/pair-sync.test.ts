import { describe, expect, it } from "@effect/vitest"
import { Executor, type RunReport } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Support from "./pair-support.js"

const evidence = (report: RunReport.RunReport, id: string) => report.steps.find((s) => s.id === id)?.evidence ?? {}

/** Run a plan with the prober alive for the whole run; return the report and the final simulator state. */
const runWithProber = (env: Support.PairEnv, method: "sync" | "async", extra = {}) =>
  Effect.gen(function* () {
    const plan = Support.planFor(env, method, extra)
    const report = yield* Executor.run(plan)
    return { report, state: yield* env.state() }
  }).pipe(
    Effect.provide(
      Layer.unwrapScoped(
        Effect.gen(function* () {
          const prober = yield* Layer.memoize(Support.proberLayer(env))
          return Support.executorLayer(env, { prober })
        })
      )
    )
  )

describe("pair upgrade, synchronous method (e2e against the simulator)", () => {
  for (const traffic of ["shared-ip", "dns", "nat"] as const) {
    it.scopedLive(
      `PAIR-2/PAIR-5 (${traffic}): A then B, A stays primary, relationship restored with a successful sync`,
      () =>
        Effect.gen(function* () {
          const env = yield* Support.startPair(traffic)
          const { report, state } = yield* runWithProber(env, "sync")
          expect(report.status, report.error).toBe("succeeded")
          // final versions
          expect(state.appliances.map((a) => [a.id, a.version])).toEqual([
            ["A", Support.TARGET],
            ["B", Support.TARGET]
          ])
          // roles as the method promises
          expect(evidence(report, "pair/roles-after")["roles"]).toEqual({ A: "primary", B: "backup" })
          expect(state.relationship).toMatchObject({ primary: "A", backup: "B" })
          // PAIR-8: restored with a sync that succeeded after establishing
          expect(state.relationship!.lastSync!.status).toBe("success")
          expect(Date.parse(state.relationship!.lastSync!.at)).toBeGreaterThanOrEqual(
            Date.parse(state.relationship!.establishedAt)
          )
          expect(evidence(report, "pair/first-sync")["status"]).toBe("success")
          expect(state.site.reaches).toEqual(["A"])
          // prober figures in the report: the site was down while A installed
          const probe = evidence(report, "pair/availability")["siteProbe"] as Record<string, number>
          expect(probe["sent"]).toBeGreaterThan(0)
          expect(probe["failed"]).toBeGreaterThan(0)
          expect(probe["longestOutageMillis"]).toBeGreaterThan(0)
          // PAIR-1: the time without failover protection is reported
          expect(evidence(report, "pair/protection")["unprotectedSeconds"]).toBeGreaterThan(0)
        })
    )
  }

  it.scopedLive("PAIR-4: a sync that fails before the break stops the run before anything destructive", () =>
    Effect.gen(function* () {
      const env = yield* Support.startPair("shared-ip")
      yield* Effect.orDie(env.sim.control("POST", "/appliances/A/faults", { kind: "fail_sync", count: 1 }))
      const { report, state } = yield* runWithProber(env, "sync")
      expect(report.status).toBe("failed")
      expect(report.currentStep).toBe("pair/sync-wait")
      expect(report.error).toMatch(/do NOT break the relationship/)
      // nothing destructive: relationship intact, no install started
      expect(state.relationship).toMatchObject({ primary: "A", backup: "B" })
      expect(state.appliances.map((a) => a.version)).toEqual(["24.1.3", "24.1.3"])
      expect(report.gates.map((g) => g.stepId)).not.toContain("pair/break")
      expect(report.steps.filter((s) => /\/install-/.test(s.id)).every((s) => s.status === "pending")).toBe(true)
    })
  )
})
