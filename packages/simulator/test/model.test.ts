/**
 * Property tests of the model (no sockets): random sequences of operator
 * actions, API role changes, faults and clock advances keep the invariants.
 */
import { describe, expect, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import { World } from "../src/internal/world.js"
import { SimRefusal } from "../src/internal/util.js"
import { defaultCertificate } from "../src/Simulator.js"
import { SimConfig } from "../src/index.js"

type Op =
  | { op: "install"; id: "A" | "B"; pkg: string }
  | { op: "advance"; seconds: number }
  | { op: "role"; id: "A" | "B"; role: "primary" | "backup"; sync: boolean; force: boolean }
  | { op: "sync" }
  | { op: "break" }
  | { op: "establish"; primary: "A" | "B" }
  | { op: "sharedIp"; id: "A" | "B"; enabled: boolean }
  | { op: "fault"; id: "A" | "B"; kind: "fail_base_update" | "stuck_install" | "fail_sync" }
  | { op: "reboot"; id: "A" | "B" }
  | { op: "reset"; id: "A" | "B" }

const id = FastCheck.constantFrom("A" as const, "B" as const)
const opArb: FastCheck.Arbitrary<Op> = FastCheck.oneof(
  FastCheck.record({
    op: FastCheck.constant("install" as const),
    id,
    pkg: FastCheck.constantFrom("base-6.2.1", "site-24.3.2", "site-25.1.1", "license-addon-2025")
  }),
  FastCheck.record({ op: FastCheck.constant("advance" as const), seconds: FastCheck.integer({ min: 1, max: 4000 }) }),
  FastCheck.record({
    op: FastCheck.constant("role" as const),
    id,
    role: FastCheck.constantFrom("primary" as const, "backup" as const),
    sync: FastCheck.boolean(),
    force: FastCheck.boolean()
  }),
  FastCheck.record({ op: FastCheck.constant("sync" as const) }),
  FastCheck.record({ op: FastCheck.constant("break" as const) }),
  FastCheck.record({ op: FastCheck.constant("establish" as const), primary: id }),
  FastCheck.record({ op: FastCheck.constant("sharedIp" as const), id, enabled: FastCheck.boolean() }),
  FastCheck.record({
    op: FastCheck.constant("fault" as const),
    id,
    kind: FastCheck.constantFrom("fail_base_update" as const, "stuck_install" as const, "fail_sync" as const)
  }),
  FastCheck.record({ op: FastCheck.constant("reboot" as const), id }),
  FastCheck.record({ op: FastCheck.constant("reset" as const), id })
)

const apply = (w: World, o: Op): void => {
  switch (o.op) {
    case "install":
      return void w.install(w.appliance(o.id), o.pkg)
    case "advance":
      return w.advance(o.seconds)
    case "role":
      return void w.setFailoverRole(w.appliance(o.id), o.role, o.sync, o.force)
    case "sync":
      return void w.syncNow()
    case "break":
      return w.breakRelationship()
    case "establish":
      return void w.establish(o.primary, o.primary === "A" ? "B" : "A", undefined)
    case "sharedIp":
      return w.setSharedIp(w.appliance(o.id), "10.0.0.10", o.enabled)
    case "fault":
      return w.addFault(w.appliance(o.id), { kind: o.kind, remaining: 1, pathPrefix: undefined, latencyMs: 0 })
    case "reboot":
      return w.reboot(w.appliance(o.id))
    case "reset":
      return w.factoryReset(w.appliance(o.id))
  }
}

describe("model invariants", () => {
  it.prop(
    "PREP-6: whatever happens next, an appliance that needs support stays so until a factory reset; refusals are typed; the model never throws otherwise",
    [FastCheck.array(opArb, { minLength: 1, maxLength: 60 })],
    ([ops]) => {
      const w = new World(
        SimConfig.make({ timeScale: 0, fleet: { jumpClients: 12, maxConcurrentUpgrades: 3 } }),
        defaultCertificate
      )
      // Start with A's base update failing, so every run exercises the needs-support state.
      const prefix: Array<Op> = [
        { op: "fault", id: "A", kind: "fail_base_update" },
        { op: "install", id: "A", pkg: "base-6.2.1" },
        { op: "advance", seconds: 1200 }
      ]
      apply(w, prefix[0]!)
      apply(w, prefix[1]!)
      apply(w, prefix[2]!)
      expect(w.appliance("A").lifecycle._tag).toBe("NeedsSupport")
      for (const o of ops) {
        const needsSupport = new Set(
          [...w.appliances.values()].filter((a) => a.lifecycle._tag === "NeedsSupport").map((a) => a.spec.id)
        )
        try {
          apply(w, o)
        } catch (e) {
          // Only typed refusals with a 4xx/5xx status and a message; anything else is a bug.
          expect(e).toBeInstanceOf(SimRefusal)
          expect((e as SimRefusal).message.length).toBeGreaterThan(10)
        }
        for (const idx of needsSupport)
          if (!(o.op === "reset" && o.id === idx)) expect(w.appliance(idx).lifecycle._tag).toBe("NeedsSupport")
        const r = w.relationship
        if (r) expect(r.primaryId).not.toBe(r.backupId)
        expect(w.fleet.stats().upgrading).toBeLessThanOrEqual(3)
        for (const a of w.appliances.values()) {
          // Versions only move forward.
          expect(["24.1.3", "24.3.2", "25.1.1"]).toContain(a.version)
          if (a.version !== "24.1.3") expect(a.installed.has("base-6.2.1") || a.baseVersion !== "6.1.0").toBe(true)
        }
      }
    },
    { fastCheck: { numRuns: 150 } }
  )

  it.prop(
    "SINGLE-2: a site package is never installed before the packages it requires",
    [FastCheck.array(opArb, { minLength: 1, maxLength: 40 })],
    ([ops]) => {
      const w = new World(SimConfig.make({ timeScale: 0 }), defaultCertificate)
      for (const o of ops) {
        try {
          apply(w, o)
        } catch (e) {
          expect(e).toBeInstanceOf(SimRefusal)
        }
        for (const a of w.appliances.values())
          for (const p of a.installed) for (const req of w.pkg(p).requires) expect(a.installed.has(req)).toBe(true)
      }
    },
    { fastCheck: { numRuns: 150 } }
  )
})
