/**
 * PAIR-4 against the simulator, over real HTTPS: the appliance's periodic
 * data sync starts at the very instant the "Sync now" gate is played. The
 * run's steps (taken from the synchronous pair plan) must wait for that sync
 * and go on to the break, as a person would, instead of failing on "A data
 * sync is already running".
 */
import { describe, expect, it } from "@effect/vitest"
import { ApplianceClient } from "@sra-upgrade/appliance-client"
import { Executor, Journal, MaintenanceWindow, Plan, Site } from "@sra-upgrade/core"
import { SimActions, SimControl, SimOperator, Simulator } from "@sra-upgrade/simulator"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { FailoverHandlers, PairPlan, TrafficSwitch } from "@sra-upgrade/failover"

const siteYaml = (traffic: string) => `
hostname: support.example.test
product: pra
appliances:
  - id: A
    role: primary
    apiUrl: https://10.0.0.11
    uniqueIp: 10.0.0.11
    clientId: abc
    clientSecret: { env: SRA_SECRET }
  - id: B
    role: backup
    apiUrl: https://10.0.0.12
    uniqueIp: 10.0.0.12
    tlsPort: 8443
    clientId: abc
    clientSecret: { env: SRA_SECRET }
trafficSwitch: ${traffic}
backup:
  directory: /var/backups/sra
clients:
  integrationClients:
    - { name: archiver, connectsBy: ip, address: 10.0.0.11 }
updates:
  - { id: site-25.1.1, kind: site, version: 25.1.1 }
`

const site = (traffic = "{ method: shared-ip, sharedIp: 10.0.0.10 }") =>
  Effect.runSync(Site.decodeSite(siteYaml(traffic), "yaml"))

const planOf = (steps: ReadonlyArray<Plan.Step>) =>
  Plan.make({ id: "t", kind: "custom", title: "t", site: "support.example.test", targetVersion: "25.1.1", steps })

const window = (label: string, startHour: number) =>
  new MaintenanceWindow.MaintenanceWindow({
    label,
    start: new Date(Date.UTC(2026, 11, 1, startHour)),
    durationMinutes: 180
  })

/** backup-less PAIR-4 steps of the real plan: Sync now, the wait (polled fast), the break. */
const pair4Steps = (): ReadonlyArray<Plan.Step> => {
  const plan = PairPlan.planSynchronous(site(), "25.1.1", {
    current: { A: { product: "24.1.3" }, B: { product: "24.1.3" } },
    windows: [window("w1", 20), window("w2", 44)]
  })
  if (Either.isLeft(plan)) throw new Error(plan.left.message)
  const step = (id: string) => plan.right.steps.find((s) => s.id === id)!
  const wait = step("pair/sync-wait") as Plan.WaitFor
  return [
    step("pair/sync-now"),
    new Plan.WaitFor({ ...wait, intervalSeconds: 0.05, deadlineSeconds: 120 }),
    step("pair/break")
  ]
}

describe("PAIR-4 sync race against the simulator", () => {
  it.scopedLive(
    "PAIR-4: a periodic sync that starts at the instant of Sync now is waited for; the run goes on to the break",
    () =>
      Effect.gen(function* () {
        // 600x: a sync of 4 GiB takes ~13 simulated s (~22 ms); no other periodic sync during the test
        const sim = yield* Simulator.start({ timeScale: 600, autoSyncSeconds: 30 * 86400 })
        const control = SimControl.make(sim.controlUrl)
        yield* control.forcePeriodicSync({ atNextSyncNow: true })
        const admin = sim.accounts[0]!
        const connections = sim.appliances.map((a) => ({
          id: a.id,
          baseUrl: a.httpsUrl,
          clientId: admin.clientId,
          clientSecret: admin.clientSecret,
          tls: { caPem: sim.caPem },
          timeoutMillis: 30_000
        }))
        const deps = Layer.mergeAll(ApplianceClient.layer(connections), Journal.layerMemory)
        const handlers = Layer.provideMerge(FailoverHandlers.layer, Layer.provideMerge(TrafficSwitch.layer, deps))
        const executor = Layer.provide(
          Executor.layer,
          Layer.merge(handlers, SimOperator.layer({ controlUrl: sim.controlUrl, syncPollMillis: 10 }))
        )
        const report = yield* Executor.run(planOf(pair4Steps())).pipe(Effect.provide(executor))

        expect(report.status, report.error).toBe("succeeded")
        const wait = report.steps.find((s) => s.id === "pair/sync-wait")!
        expect(wait.evidence["status"]).toBe("success")
        const gate = report.gates.find((g) => g.stepId === "pair/sync-now")!
        expect(JSON.stringify(gate)).toMatch(/already running; it ended success/)
        // what happened on the appliances: no Sync now of ours (the periodic sync was the one), one break
        const log = yield* control.actions()
        expect(log.filter((a) => a.action !== "token-issued").map((a) => a.action)).toEqual([
          "periodic-sync-forced",
          "relationship-broken"
        ])
        expect(SimActions.exactlyOnce(log)).toEqual([])
      }),
    120_000
  )
})
