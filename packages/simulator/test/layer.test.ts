/** Simulator.layer: one simulator shared by several tests, released with the layer. */
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Simulator } from "../src/index.js"
import { client, req, tag } from "./support.js"

layer(Simulator.layer({ timeScale: 0, product: "rs", xmlNamespace: "bomgar" }))("Simulator.layer", (it) => {
  it.effect("serves the configured product on every appliance", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.Simulator
      expect(sim.appliances.map((a) => a.id)).toEqual(["A", "B"])
      const c = yield* client(sim.appliance("B").httpUrl, sim.accounts[0]!)
      const info = JSON.parse((yield* c.get("/api/command/v2/info")).body) as { product: string }
      expect(info.product).toBe("rs")
      expect(tag((yield* c.get("/api/command?action=check_health")).body, "failover_role")).toBe("backup")
    })
  )

  it.effect("exposes the control API and the site front", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.Simulator
      const state = (yield* sim.control("GET", "/state")) as { site: { reaches: Array<string> } }
      expect(state.site.reaches).toEqual(["A"])
      expect((yield* req(`${sim.site.httpUrl}/check_health`)).body).toBe("OK")
      const refused = yield* Effect.flip(sim.control("POST", "/failover/establish", { primary: "A", backup: "B" }))
      expect(refused.reason._tag).toBe("ControlRefused")
      expect(refused.message).toContain("break it first")
    })
  )
})
