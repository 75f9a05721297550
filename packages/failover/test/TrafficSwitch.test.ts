import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Pair from "../src/Pair.js"
import * as TrafficSwitch from "../src/TrafficSwitch.js"
import * as Support from "./support.js"

const pairOf = () => {
  const p = Pair.fromSite(Support.site(), {})
  if (Either.isLeft(p)) throw new Error(p.left.message)
  return p.right
}

describe("TrafficSwitch", () => {
  it("SWITCH-5: the shared-IP gate opens B's IP page beforehand and warns of the Factory Default certificate", () => {
    const pair = pairOf()
    const gate = TrafficSwitch.manualGate(pair, pair.primary, pair.backup)
    expect(gate.rules).toEqual(["SWITCH-1", "SWITCH-5"])
    const text = gate.instructions
    const beforehand = text.findIndex((l) => l.includes("in another browser tab"))
    const disable = text.findIndex((l) => l.includes(`disable shared IP ${Support.SHARED_IP}`))
    expect(beforehand).toBeGreaterThanOrEqual(0)
    expect(beforehand).toBeLessThan(disable)
    expect(text[beforehand]).toContain("https://10.0.0.12/appliance > Network > IP Configuration")
    expect(text.join(" ")).toMatch(/Factory Default certificate configuration \(SWITCH-5\)/)
  })

  it("SWITCH-5: a site address that presents another certificate after the move says why (Factory Default) and how to fix it", () => {
    const pair = pairOf()
    const observation: TrafficSwitch.SiteObservation = {
      members: [
        { id: "A", reachable: true, healthy: true, enabledSharedIps: [] },
        { id: "B", reachable: true, healthy: true, enabledSharedIps: [Support.SHARED_IP] }
      ],
      siteProbe: { ok: false, error: "TLS certificate mismatch", certificateRefused: true },
      sharedIpHolders: ["B"]
    }
    const check = TrafficSwitch.check(pair, observation, pair.backup)
    expect(check.holds).toBe(false)
    const problem = check.problems.find((p) => p.includes("SWITCH-5"))
    expect(problem).toMatch(/Factory Default certificate configuration/)
    expect(problem).toMatch(
      /On B \(https:\/\/10\.0\.0\.12\/appliance\): Security > Certificates, select the certificate issued to support\.example\.test/
    )
    // a probe that fails for another reason does not blame the certificate
    const down = TrafficSwitch.check(
      pair,
      { ...observation, siteProbe: { ok: false, error: "connection refused" } },
      pair.backup
    )
    expect(down.problems.some((p) => p.includes("SWITCH-5"))).toBe(false)
  })
})
