import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as SiteProber from "../src/SiteProber.js"
import { FakeAppliance } from "@sra-upgrade/core/test"
import * as Support from "./support.js"

const options = { url: "https://site", hostname: "support.example.test", intervalMillis: 1000 }

describe("SiteProber", () => {
  it("folds probe results: outages run from the first failure to the next success", () => {
    const at = (s: number, ok: boolean) => ({ at: s * 1000, ok, detail: ok ? "HTTP 200" : "HTTP 500" })
    const s = SiteProber.fromProbes(options, [
      at(0, true),
      at(1, false),
      at(2, false),
      at(3, true),
      at(4, false),
      at(5, true),
      at(6, false)
    ])
    expect(s.sent).toBe(7)
    expect(s.failed).toBe(4)
    expect(s.outages.map((o) => o.durationMillis)).toEqual([2000, 1000, 0])
    expect(s.longestOutageMillis).toBe(2000)
    expect(s.unavailableMillis).toBe(3000)
    expect(s.outages[2]!.end).toBeUndefined()
  })

  it("no failure, no outage", () => {
    const s = SiteProber.fromProbes(
      options,
      [0, 1, 2].map((n) => ({ at: n * 1000, ok: true, detail: "HTTP 200" }))
    )
    expect(s.failed).toBe(0)
    expect(s.outages).toEqual([])
    expect(s.unavailableMillis).toBe(0)
  })

  it.scoped("probes the site address at a fixed interval on the Effect clock (TestClock)", () =>
    Effect.gen(function* () {
      const fakes = yield* FakeAppliance.FakeAppliances
      const a = fakes.get("A").state
      const prober = yield* SiteProber.start(options)
      const tick = TestClock.adjust("1 second")
      yield* Effect.yieldNow()
      yield* tick
      yield* tick // probes at 0, 1, 2 s: up
      a.up = false // the install takes the site down
      yield* tick
      yield* tick
      yield* tick // 3, 4, 5 s: down
      a.up = true
      yield* tick // 6 s: up again
      a.healthy = false // check_health answers 500
      yield* tick // 7 s
      a.healthy = true
      yield* tick // 8 s
      const s = yield* prober.snapshot
      expect(s.sent).toBe(9)
      expect(s.failed).toBe(4)
      expect(s.longestOutageMillis).toBe(3000)
      expect(s.unavailableMillis).toBe(4000)
      expect(s.outages.map((o) => o.failedProbes)).toEqual([3, 1])
      expect(fakes.probeCalls).toHaveLength(9)
      expect(fakes.probeCalls.every((p) => p.url === "https://site" && p.hostname === "support.example.test")).toBe(
        true
      )
    }).pipe(Effect.provide(Support.fakes()))
  )
})
