import { describe, expect, it } from "@effect/vitest"
import { ApplianceApi, Executor, Journal, type RunEvent, type RunReport } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Support from "./pair-support.js"

const evidence = (report: RunReport.RunReport, id: string) => report.steps.find((s) => s.id === id)?.evidence ?? {}

const runWithProber = (env: Support.PairEnv, extra = {}) =>
  Effect.gen(function* () {
    const plan = Support.planFor(env, "async", extra)
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

const rule = { "shared-ip": "SWITCH-1", dns: "SWITCH-2", nat: "SWITCH-3" } as const

describe("pair upgrade, asynchronous method (e2e against the simulator)", () => {
  for (const traffic of ["shared-ip", "dns", "nat"] as const) {
    it.scopedLive(
      `${rule[traffic]} + SWITCH-4 + PAIR-3/PAIR-6 (${traffic}): B first, verified as the site, switched, A, restored from B with a successful sync`,
      () =>
        Effect.gen(function* () {
          const env = yield* Support.startPair(traffic)
          const { report, state } = yield* runWithProber(env)
          expect(report.status, report.error).toBe("succeeded")
          expect(state.appliances.map((a) => [a.id, a.version])).toEqual([
            ["A", Support.TARGET],
            ["B", Support.TARGET]
          ])
          // roles as the method promises: B primary
          expect(evidence(report, "pair/roles-after")["roles"]).toEqual({ B: "primary", A: "backup" })
          expect(state.relationship).toMatchObject({ primary: "B", backup: "A" })
          expect(state.relationship!.lastSync!.status).toBe("success")
          expect(Date.parse(state.relationship!.lastSync!.at)).toBeGreaterThanOrEqual(
            Date.parse(state.relationship!.establishedAt)
          )
          expect(state.site.reaches).toEqual(["B"])
          // VERIFY-3: B was probed on its own address with the site host name before the switch
          expect(evidence(report, "pair/verify-as-site")).toMatchObject({
            probeUrl: env.sim.appliance("B").httpUrl,
            presentedHost: env.site.hostname,
            probeStatus: 200,
            version: Support.TARGET
          })
          // SWITCH-*: which appliance answers on the site address, read through the API
          expect(evidence(report, "pair/switch-settled")["servedBy"]).toBe("B")
          if (traffic === "shared-ip") {
            expect(evidence(report, "pair/switch")["sharedIpHolders"]).toEqual(["B"])
            expect(state.appliances.find((a) => a.id === "B")!.sharedIps).toContainEqual({
              ip: Support.SHARED_IP,
              enabled: true
            })
          }
          // SWITCH-4: the integration-client check ran after the switch, with B serving
          expect(evidence(report, "pair/integration-clients")["servedBy"]).toBe("B")
          // prober figures are in the report
          const probe = evidence(report, "pair/availability")["siteProbe"] as Record<string, number>
          expect(probe["sent"]).toBeGreaterThan(0)
          expect(typeof probe["unavailableMillis"]).toBe("number")
          expect(evidence(report, "pair/protection")["unprotectedSeconds"]).toBeGreaterThan(0)
        })
    )
  }

  it.scopedLive("PAIR-3: swap back makes A primary again with a data sync first (shared IP follows)", () =>
    Effect.gen(function* () {
      const env = yield* Support.startPair("shared-ip")
      const { report, state } = yield* runWithProber(env, { swapBack: true })
      expect(report.status, report.error).toBe("succeeded")
      expect(evidence(report, "pair/swap-back")["syncStarted"]).toBe(true)
      expect(state.relationship).toMatchObject({ primary: "A", backup: "B" })
      expect(state.site.reaches).toEqual(["A"])
    })
  )

  it.scopedLive(
    "VERIFY-3: B fails verification as the site: the run stops with traffic on A and says how to roll back",
    () =>
      Effect.gen(function* () {
        const env = yield* Support.startPair("shared-ip")
        // B's API works but its load-balancer probe fails
        yield* Effect.orDie(
          env.sim.control("POST", "/appliances/B/faults", { kind: "http500", pathPrefix: "/check_health" })
        )
        const { report, state } = yield* runWithProber(env)
        expect(report.status).toBe("failed")
        expect(report.currentStep).toBe("pair/verify-as-site")
        expect(report.error).toMatch(/production stays on A/)
        expect(report.error).toMatch(/Rollback/)
        expect(state.site.reaches).toEqual(["A"])
        expect(state.appliances.find((a) => a.id === "A")!.version).toBe("24.1.3")
        expect(report.gates.map((g) => g.stepId)).not.toContain("pair/switch")
      })
  )

  it.scopedLive("PAIR-6: crash and resume at every step boundary of the async plan finishes correctly", () =>
    Effect.gen(function* () {
      const env = yield* Support.startPair("shared-ip")
      const plan = Support.planFor(env, "async", { planId: "async-crash" })
      // One journal for the whole run; each "process" is a fresh executor over it.
      const shared = yield* Layer.build(Journal.layerMemory)
      const inner = shared.unsafeMap.get(Journal.Journal.key) as Journal.Journal["Type"]
      const crashed = new Set<string>()
      /** Crash right after a step ended (and right after a non-idempotent step started), once per point. */
      const crashAfter = (e: RunEvent.RunEvent): string | undefined => {
        if (e._tag === "StepSucceeded") return `done:${e.stepId}`
        if (e._tag === "StepStarted" && !plan.steps.find((s) => s.id === e.stepId)!.idempotent)
          return `started:${e.stepId}:${e.attempt}`
        return undefined
      }
      const crashingJournal = Layer.succeed(Journal.Journal, {
        ...inner,
        append: (record) =>
          Effect.flatMap(inner.append(record), () => {
            const key = crashAfter(record.event)
            if (key === undefined || crashed.has(key)) return Effect.void
            crashed.add(key)
            return Effect.fail(
              new Journal.JournalError({
                runId: record.runId,
                reason: new Journal.Io({ operation: "append", detail: `simulated crash after ${key}` })
              })
            )
          })
      })
      const prober = yield* Layer.memoize(Support.proberLayer(env))
      // the adapter (and its token) survives the simulated crashes; executor and handlers are new each time
      const api = yield* Layer.memoize(env.api)
      const layer = () => Support.executorLayer(env, { journal: crashingJournal, prober, api })
      let report = yield* Executor.run(plan, { runId: "async-crash" }).pipe(Effect.provide(layer()), Effect.either)
      let resumes = 0
      while (report._tag === "Left" && resumes < 200) {
        expect(report.left.message).toMatch(/simulated crash/)
        resumes++
        report = yield* Executor.resume("async-crash").pipe(Effect.provide(layer()), Effect.either)
      }
      expect(report._tag).toBe("Right")
      if (report._tag !== "Right") return
      const final = report.right
      expect(final.status, final.error).toBe("succeeded")
      // a crash after every step (+ inside every non-idempotent one) and each was resumed
      expect(resumes).toBeGreaterThanOrEqual(plan.steps.length - 1)
      // (a crash after the last step leaves a finished run: its resume journals no Resumed)
      expect(final.resumes).toBeGreaterThanOrEqual(resumes - 1)
      const state = yield* env.state()
      expect(state.appliances.map((a) => [a.id, a.version])).toEqual([
        ["A", Support.TARGET],
        ["B", Support.TARGET]
      ])
      expect(state.relationship).toMatchObject({ primary: "B", backup: "A" })
      expect(state.relationship!.lastSync!.status).toBe("success")
      expect(state.site.reaches).toEqual(["B"])
      // no non-idempotent step ran twice blindly: each re-run was preceded by a verification or a confirmation
      for (const s of final.steps.filter((x) => !x.idempotent))
        expect(s.attempts === 1 || s.verifiedOnResume !== undefined).toBe(true)
    })
  )

  it.scopedLive("VERIFY-3 over HTTPS: B answers as the site on its unique address with the site name as SNI", () =>
    Effect.gen(function* () {
      const env = yield* Support.startPair("shared-ip", 600, { https: true })
      // the probe presents the host name: the certificate is checked against it
      const probe = (hostname: string) =>
        Effect.flatMap(ApplianceApi.ApplianceApi, (api) =>
          api.probe({ url: env.sim.appliance("B").httpsUrl, hostname })
        ).pipe(Effect.provide(env.api), Effect.either)
      const right = yield* probe(env.site.hostname)
      expect(right._tag === "Right" && right.right.ok).toBe(true)
      const wrong = yield* probe("support.example.com")
      expect(wrong._tag).toBe("Left")
      const { report, state } = yield* runWithProber(env)
      expect(report.status, report.error).toBe("succeeded")
      expect(evidence(report, "pair/verify-as-site")).toMatchObject({
        probeUrl: env.sim.appliance("B").httpsUrl,
        presentedHost: env.site.hostname,
        probeStatus: 200
      })
      expect(state.relationship).toMatchObject({ primary: "B", backup: "A" })
      expect(state.site.reaches).toEqual(["B"])
    })
  )
})
