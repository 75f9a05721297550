/** The Jump Client fleet after a site upgrade (CLIENT-6/7/8/10), manual clock. */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Simulator } from "../src/index.js"
import { client } from "./support.js"

type Sim = Simulator.SimulatorHandle

interface FleetView {
  siteVersion: string
  total: number
  pending: number
  upgrading: number
  needingUpdate: number
  peakConcurrentUpgrades: number
  peakBandwidthBytesPerSecond: number
  completedUpgrades: number
  clients?: Array<{ id: number; connectionType: string; state: string; label: string; version: string }>
}

const fleet = (sim: Sim, clients = false) =>
  Effect.map(sim.control("GET", `/fleet${clients ? "?clients=1" : ""}`), (v) => v as FleetView)
const advance = (sim: Sim, seconds: number) => sim.control("POST", "/clock/advance", { seconds })

/** One site update with no prerequisite, 60 s install + 60 s reboot, no stored data. */
const quickUpgrade = {
  timeScale: 0,
  updates: [
    {
      id: "site-24.3.2",
      kind: "site" as const,
      version: "24.3.2",
      build: "41722-3d1f0c9a7b2e45f18c6d90ab12ef34567890abcd",
      requires: [],
      installSeconds: 60,
      rebootSeconds: 60
    }
  ]
}

const upgradeA = (sim: Sim) =>
  Effect.gen(function* () {
    yield* sim.control("PUT", "/appliances/A/data-size", { bytes: 0 })
    yield* sim.control("POST", "/appliances/A/updates/site-24.3.2/install")
    yield* advance(sim, 120)
  })

describe("Jump Client fleet (CLIENT-*)", () => {
  it.scoped(
    "CLIENT-7: active clients queue right after the server upgrade, passive ones at their next check-in (<= 24 h)",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start({
          ...quickUpgrade,
          fleet: { jumpClients: 10, passiveRatio: 0.4, maxConcurrentUpgrades: 500 }
        })
        expect((yield* fleet(sim)).needingUpdate).toBe(0)
        yield* upgradeA(sim)
        const f0 = yield* fleet(sim, true)
        expect(f0.siteVersion).toBe("24.3.2")
        expect(f0.needingUpdate).toBe(10)
        // The config API's only upgrade signal: needs_update
        const c = yield* client(sim.appliance("A").httpUrl, sim.accounts[0]!)
        const listed = JSON.parse((yield* c.get("/api/config/v1/jump-client")).body) as Array<{ needs_update: boolean }>
        expect(listed.every((x) => x.needs_update)).toBe(true)
        yield* advance(sim, 1) // 6 active clients reconnect at 50/s
        const f1 = yield* fleet(sim, true)
        const active = f1.clients!.filter((x) => x.connectionType === "active")
        const passive = f1.clients!.filter((x) => x.connectionType === "passive")
        expect(active.every((x) => x.state !== "up_to_date" || x.version === "24.3.2")).toBe(true)
        expect(passive.every((x) => x.state === "up_to_date" && x.version === "24.1.3")).toBe(true)
        yield* advance(sim, 24 * 3600)
        const f2 = yield* fleet(sim, true)
        expect(f2.needingUpdate).toBe(0)
        expect(f2.clients!.every((x) => x.version === "24.3.2")).toBe(true)
      })
  )

  it.scoped("CLIENT-6: never more concurrent upgrades than the setting, never more bandwidth than the cap", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({
        ...quickUpgrade,
        fleet: {
          jumpClients: 40,
          passiveRatio: 0,
          maxConcurrentUpgrades: 4,
          maxUpgradeBandwidthBytesPerSecond: 8 * 1024 * 1024,
          clientUpdateBytes: 16 * 1024 * 1024
        }
      })
      yield* upgradeA(sim)
      let maxSeen = 0
      for (let i = 0; i < 30; i++) {
        yield* advance(sim, 3)
        const f = yield* fleet(sim)
        maxSeen = Math.max(maxSeen, f.upgrading)
        expect(f.upgrading).toBeLessThanOrEqual(4)
      }
      const f = yield* fleet(sim)
      expect(maxSeen).toBe(4)
      expect(f.peakConcurrentUpgrades).toBe(4)
      expect(f.peakBandwidthBytesPerSecond).toBeLessThanOrEqual(8 * 1024 * 1024)
      // 40 clients x 16 MiB at 8 MiB/s in total: at least 80 s of transfers.
      expect(f.completedUpgrades).toBe(40)
      expect(f.needingUpdate).toBe(0)
    })
  )

  it.scoped(
    "CLIENT-8: a client waiting for its update is Upgrade pending, cannot be jumped to, and a jump moves it to the front",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start({
          ...quickUpgrade,
          fleet: {
            jumpClients: 6,
            passiveRatio: 0,
            maxConcurrentUpgrades: 1,
            maxUpgradeBandwidthBytesPerSecond: 1024 * 1024,
            clientUpdateBytes: 10 * 1024 * 1024
          }
        })
        yield* upgradeA(sim)
        yield* advance(sim, 1)
        const f = yield* fleet(sim, true)
        const last = f.clients!.find((x) => x.id === 6)!
        expect(last.state).toBe("upgrade_pending")
        expect(last.label).toBe("Upgrade pending")
        const jump = yield* Effect.flip(sim.control("POST", "/fleet/jump-clients/6/jump"))
        expect(jump.status).toBe(409)
        expect(jump.message).toContain("Upgrade pending")
        // Client 1 is upgrading (10 s); the next one to start must be 6.
        yield* advance(sim, 10)
        const after = yield* fleet(sim, true)
        expect(after.clients!.find((x) => x.id === 6)!.state).toBe("upgrading")
        expect(after.clients!.find((x) => x.id === 2)!.state).toBe("upgrade_pending")
        expect(yield* sim.control("POST", "/fleet/jump-clients/1/jump")).toEqual({ id: 1, jumped: true })
      })
  )

  it.scoped("CLIENT-10: the pending count falls to zero once every client has checked in and upgraded", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ ...quickUpgrade, fleet: { jumpClients: 30, passiveRatio: 0.5 } })
      yield* upgradeA(sim)
      const counts: Array<number> = []
      for (const step of [1, 60, 600, 6 * 3600, 24 * 3600]) {
        yield* advance(sim, step)
        counts.push((yield* fleet(sim)).needingUpdate)
      }
      expect(counts[0]).toBeGreaterThan(0)
      expect(counts[counts.length - 1]).toBe(0)
      for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeLessThanOrEqual(counts[i - 1]!)
    })
  )
})
