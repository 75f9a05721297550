/**
 * Many simulated sites in one process: each its own appliances, listeners,
 * site front, credentials, clock, faults and action log; one CA, one action
 * log and one control listener shared.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { FailoverSteps } from "@sra-upgrade/failover"
import { SimConfig, SimControl, SimOperator, Simulator } from "../src/index.js"
import { req, token } from "./support.js"

describe("many sites in one simulator", () => {
  it.scoped("three sites, one a pair: own appliances, credentials, control API and action log each", () =>
    Effect.gen(function* () {
      const sims = yield* Simulator.startSites({ sites: 3, pairs: 1, common: { timeScale: 0 } })
      expect(sims.sites.map((s) => [s.name, s.kind, s.appliances.length])).toEqual([
        ["site-001", "pair", 2],
        ["site-002", "single", 1],
        ["site-003", "single", 1]
      ])
      const urls = sims.sites.flatMap((s) => [...s.appliances.flatMap((a) => [a.httpUrl, a.httpsUrl]), s.site.httpUrl])
      expect(new Set(urls).size).toBe(urls.length)
      const [s1, s2, s3] = sims.sites as [(typeof sims.sites)[0], (typeof sims.sites)[0], (typeof sims.sites)[0]]
      expect(s2.site.hostname).toBe("site-002.sra-simulator.local")
      expect(s2.appliance("A").hostname).toBe("site-002-a.sra-simulator.local")

      // real TLS: one root CA for every site
      for (const s of sims.sites) {
        const r = yield* req(`${s.appliance("A").httpsUrl}/check_health`, { ca: sims.caPem })
        expect(r.status).toBe(200)
        const front = yield* req(`${s.site.httpsUrl}/__sim/whoami`, { ca: sims.caPem })
        expect(JSON.parse(front.body)).toEqual({ appliance: "A" })
      }
      // each site its own API credentials
      expect(Redacted.value(s2.accounts[0]!.clientSecret)).not.toBe(Redacted.value(s3.accounts[0]!.clientSecret))
      yield* token(s2.appliance("A").httpUrl, s2.accounts[0]!)
      const foreign = yield* Effect.flip(token(s3.appliance("A").httpUrl, s2.accounts[0]!))
      expect(foreign.message).toMatch(/invalid_client/)

      // each site its own state: an install on site-002 leaves site-003 alone
      yield* s2.control("POST", "/appliances/A/updates/base-6.2.1/install")
      const lifecycle = (s: typeof s2) =>
        Effect.map(s.control("GET", "/appliances/A"), (v) => (v as { lifecycle: string }).lifecycle)
      expect(yield* lifecycle(s2)).toBe("Installing")
      expect(yield* lifecycle(s3)).toBe("Running")
      expect(s2.controlUrl).toMatch(/\/sites\/site-002\/__sim$/)

      // the action log carries the site; a site's URL shows its own, the top-level one all of them
      yield* s1.control("POST", "/failover/break")
      const mine = yield* SimControl.actions(s2.controlUrl)
      expect(mine.filter((a) => a.action !== "token-issued").map((a) => [a.site, a.action])).toEqual([
        ["site-002", "install-started"]
      ])
      const all = yield* SimControl.actions(sims.controlUrl)
      expect(all.map((a) => a.seq)).toEqual(all.map((_, i) => i + 1))
      expect(all.filter((a) => a.action !== "token-issued").map((a) => `${a.site} ${a.action}`)).toEqual([
        "site-002 install-started",
        "site-001 relationship-broken"
      ])
      const filtered = (yield* sims.control("GET", "/actions?site=site-001")) as ReadonlyArray<{ site: string }>
      expect(filtered.map((a) => a.site)).toEqual(["site-001"])

      // the top-level clock moves every site; the install of site-002 ends
      yield* sims.control("POST", "/clock/advance", { seconds: 3 * 3600 })
      expect(yield* lifecycle(s2)).toBe("Running")
      const view = (yield* s2.control("GET", "/appliances/A")) as { baseVersion: string }
      expect(view.baseVersion).toBe("6.2.1")
      const clocks = yield* Effect.forEach(sims.sites, (s) =>
        Effect.map(s.control("GET", "/clock"), (c) => (c as { simSeconds: number }).simSeconds)
      )
      expect(clocks.every((t) => t >= 3 * 3600)).toBe(true)

      // an unknown site, and the listing
      const unknown = yield* Effect.flip(SimControl.actions(sims.controlUrl.replace("/__sim", "/sites/nope/__sim")))
      expect(unknown.message).toMatch(/No simulated site "nope"/)
      const listed = (yield* sims.control("GET", "/sites")) as ReadonlyArray<{ name: string; control: string }>
      expect(listed.map((s) => s.control)).toEqual(sims.sites.map((s) => s.controlUrl))
    })
  )

  it.scoped("the simulator operator plays a site's gates through that site's control URL", () =>
    Effect.gen(function* () {
      const sims = yield* Simulator.startSites({ sites: 2, common: { timeScale: 0 } })
      const s2 = sims.site("site-002")
      const operator = SimOperator.make({ controlUrl: s2.controlUrl })
      const step = FailoverSteps.Broken.gate(
        { id: "pair/break", title: "Break", rules: [], estimatedSeconds: 1, instructions: [] },
        { appliances: ["A", "B"] }
      )
      const answer = yield* operator.answer({ runId: "r", purpose: "gate", step, instructions: [], evidence: [] })
      expect(answer._tag).toBe("Approved")
      const rel = (s: typeof s2) => s.control("GET", "/failover")
      expect(yield* rel(s2)).toBeNull()
      expect(yield* rel(sims.site("site-001"))).not.toBeNull()
    })
  )

  it.scoped("a powered-off appliance of one site refuses connections; the other sites keep answering", () =>
    Effect.gen(function* () {
      const sims = yield* Simulator.startSites({ sites: 2, pairs: 0, common: { timeScale: 0 } })
      const [s1, s2] = sims.sites as [(typeof sims.sites)[0], (typeof sims.sites)[0]]
      yield* s1.control("POST", "/appliances/A/power-off")
      const refused = yield* Effect.flip(req(`${s1.appliance("A").httpUrl}/check_health`))
      expect((refused as NodeJS.ErrnoException).code).toBe("ECONNREFUSED")
      expect((yield* req(`${s2.appliance("A").httpUrl}/check_health`)).status).toBe(200)
    })
  )

  it("bad site lists are refused with what to change", () => {
    expect(() => SimConfig.makeSites({ sites: 0 })).toThrow(/between 1 and 5000/)
    expect(() => SimConfig.makeSites({ sites: 2, pairs: 3 })).toThrow(/pairs must be/)
    expect(() => SimConfig.makeSites({ sites: [{ siteName: "x" }, { siteName: "x" }] })).toThrow(/Two sites/)
    expect(() => SimConfig.makeSites({ sites: [{ siteName: "a/b" }] })).toThrow(/cannot be used/)
    const explicit = SimConfig.makeSites({ sites: [{ siteName: "paris" }, { siteName: "lyon" }] })
    expect(explicit[0]!.accounts[0]!.clientId).not.toBe(explicit[1]!.accounts[0]!.clientId)
    expect(explicit[0]!.seed).not.toBe(explicit[1]!.seed)
  })

  it.effect("startSites fails with InvalidInput on a bad count", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(Effect.scoped(Simulator.startSites({ sites: 2, pairs: -1 })))
      expect(e).toMatchObject({ _tag: "SimulatorError", reason: { _tag: "InvalidInput" } })
    })
  )
})
