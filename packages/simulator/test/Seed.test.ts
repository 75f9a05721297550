import { describe, expect, it } from "@effect/vitest"
import { Site } from "@sra-upgrade/core"
import * as Schema from "effect/Schema"
import * as Seed from "../src/Seed.js"
import * as SimConfig from "../src/SimConfig.js"

const site = Schema.decodeUnknownSync(Site.Site)({
  hostname: "support.example.com",
  product: "rs",
  appliances: [
    {
      id: "A",
      role: "none",
      hostname: "rs01.example.com",
      apiUrl: "https://10.20.0.11",
      uniqueIp: "10.20.0.11",
      clientId: "abc",
      clientSecret: { env: "X" },
      storedDataGb: 180,
      baseVersion: "6.0.5"
    }
  ],
  backup: { directory: "/b" },
  clients: {
    jumpClients: { active: 1400, passive: 350, packageMiB: 30, bandwidthMiBps: 40, maxConcurrent: 100 },
    jumpoints: 2
  },
  updates: [
    { id: "base-6.1.0", kind: "base", version: "6.1.0" },
    { id: "site-24.3.2", kind: "site", version: "24.3.2", requires: ["base-6.1.0"], estimatedMinutes: 25 },
    { id: "addon", kind: "licence", version: "2025.1" }
  ]
})

describe("Seed.fromSnapshot", () => {
  it("PREP-5: reproduces the observed versions, roles, data, packages and fleet of the site", () => {
    const input = Seed.fromSnapshot(
      {
        site,
        observed: [{ id: "A", version: "24.1.3", build: "40516-abcdef1" }],
        builds: { "site-24.3.2": "41722-0a1b2c3" }
      },
      { timeScale: 300 }
    )
    const config = SimConfig.make(input)
    expect(config.product).toBe("rs")
    expect(config.siteHostname).toBe("support.example.com")
    expect(config.traffic).toBe("dns") // a single appliance: the site record points at it
    expect(config.timeScale).toBe(300)
    const a = config.appliances[0]!
    expect(a).toMatchObject({
      id: "A",
      hostname: "rs01.example.com",
      version: "24.1.3",
      build: "40516-abcdef1",
      baseVersion: "6.0.5",
      failoverRole: "none",
      uniqueIp: "10.20.0.11",
      dataSizeBytes: 180e9
    })
    expect(config.updates.map((p) => [p.id, p.kind, p.requires])).toEqual([
      ["base-6.1.0", "base", []],
      ["site-24.3.2", "site", ["base-6.1.0"]],
      ["addon", "license", []]
    ])
    expect(config.updates[1]!.build).toBe("41722-0a1b2c3")
    expect(config.updates[1]!.installSeconds).toBe(25 * 60)
    expect(config.fleet).toMatchObject({ jumpClients: 1750, maxConcurrentUpgrades: 100, jumpoints: 2 })
    expect(config.fleet.passiveRatio).toBeCloseTo(350 / 1750)
  })

  it("PREP-5: observed Jump Client counts override the site file's, and a missing appliance is named", () => {
    const config = SimConfig.make(
      Seed.fromSnapshot({
        site,
        observed: [{ id: "A", version: "24.1.3", build: "1" }],
        jumpClients: { active: 10, passive: 0 }
      })
    )
    expect(config.fleet.jumpClients).toBe(10)
    expect(config.fleet.passiveRatio).toBe(0)
    expect(() => Seed.fromSnapshot({ site, observed: [] })).toThrow(/no observed versions for appliance A/)
  })
})
