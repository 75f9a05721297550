import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as SiteProber from "../src/SiteProber.js"
import * as Fake from "./fake.js"

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
      const world = new Fake.FakeWorld()
      const prober = yield* SiteProber.start(options).pipe(Effect.provide(Fake.layer(world)))
      const tick = TestClock.adjust("1 second")
      yield* Effect.yieldNow()
      yield* tick
      yield* tick // probes at 0, 1, 2 s: up
      world.get("A").up = false // the install takes the site down
      yield* tick
      yield* tick
      yield* tick // 3, 4, 5 s: down
      world.get("A").up = true
      yield* tick // 6 s: up again
      world.get("A").healthy = false // check_health answers 500
      yield* tick // 7 s
      world.get("A").healthy = true
      yield* tick // 8 s
      const s = yield* prober.snapshot
      expect(s.sent).toBe(9)
      expect(s.failed).toBe(4)
      expect(s.longestOutageMillis).toBe(3000)
      expect(s.unavailableMillis).toBe(4000)
      expect(s.outages.map((o) => o.failedProbes)).toEqual([3, 1])
      expect(world.probes.every((p) => p.url === "https://site" && p.hostname === "support.example.test")).toBe(true)
    })
  )
})
