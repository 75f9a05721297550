// Plan and run the upgrade of one simulated appliance with the SDK.
import { ApplianceClient } from "@sra-upgrade/appliance-client"
import { CoreHandlers, Executor, Journal, type RunReport, Site, SingleUpgrade } from "@sra-upgrade/core"
import { SimConfig, SimOperator, Simulator } from "@sra-upgrade/simulator"
import { Effect, Layer } from "effect"
import { tmpdir } from "node:os"

export const program: Effect.Effect<RunReport.RunReport, unknown> = Effect.gen(function* () {
  // one simulated appliance (24.1.3), running 600 times faster than real time
  const sim = yield* Simulator.start({
    timeScale: 600,
    appliances: [{ ...SimConfig.make().appliances[0]!, failoverRole: "none" }]
  })
  const { clientId, clientSecret } = sim.accounts[0]!
  const site = yield* Site.decodeSite(
    JSON.stringify({
      hostname: "support.example.com",
      product: "pra",
      appliances: [
        {
          id: "A",
          role: "none",
          apiUrl: sim.appliance("A").httpUrl,
          allowPlainHttp: true,
          uniqueIp: "10.0.0.11",
          clientId,
          clientSecret: { env: "SRA_SECRET" }, // what a site file holds; here the secret comes from the simulator
          baseVersion: "6.1.0"
        }
      ],
      backup: { directory: tmpdir() },
      updates: [
        { id: "base-6.2.1", kind: "base", version: "6.2.1" },
        { id: "site-24.3.2", kind: "site", version: "24.3.2", requires: ["base-6.2.1"] }
      ]
    }),
    "json"
  )
  // a plan is a value: print it with Plan.toMarkdown, store it with Plan.toJson
  const plan = yield* SingleUpgrade.planSingleUpgrade(site, "24.3.2", {
    current: { product: "24.1.3" },
    pollIntervalSeconds: 0.1
  })
  const appliances = ApplianceClient.layer([{ id: "A", baseUrl: sim.appliance("A").httpUrl, clientId, clientSecret }])
  const executor = Executor.layer.pipe(
    Layer.provide(
      Layer.mergeAll(
        CoreHandlers.layer({ baseGraceSeconds: 1 }).pipe(Layer.provide(appliances)),
        SimOperator.layer({ controlUrl: sim.controlUrl }), // the simulator plays the manual gates
        Journal.layerMemory
      )
    )
  )
  return yield* Executor.run(plan).pipe(Effect.provide(executor)) // a RunReport: status, steps, evidence
}).pipe(Effect.scoped)
