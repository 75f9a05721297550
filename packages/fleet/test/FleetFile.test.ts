import { describe, expect, it } from "@effect/vitest"
import { Site } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { join } from "node:path"
import * as FleetFile from "../src/FleetFile.js"
import { fleetOf, folder, issues, pairYaml, singleYaml, specError } from "./fixtures.js"

const exampleFleet = new URL("../../../examples/fleet.yaml", import.meta.url).pathname

const sites4 = {
  "a.yaml": singleYaml("a", { net: 1 }),
  "b.yaml": singleYaml("b", { net: 2, product: "rs" }),
  "c.yaml": pairYaml("c", { net: 3 }),
  "d.yaml": singleYaml("d", { net: 4 })
}

const fleetYaml = (overrides: { readonly sites?: string; readonly waves?: string; readonly top?: string } = {}) => `
id: test-rollout
target: "24.3.2"
concurrency: 2
failureBudget: { count: 1 }
${overrides.top ?? ""}
waves: ${overrides.waves ?? "[{ size: 1 }, { rest: true }]"}
sites:
${
  overrides.sites ??
  `  - file: a.yaml
    group: eu
    timeZone: Europe/Paris
    windows: [{ days: [sat, sun], start: "02:00", durationMinutes: 240 }]
  - file: b.yaml
    group: us
    windows: [{ timeZone: America/New_York, days: [sat], start: "22:00", durationMinutes: 300 }]
  - file: c.yaml
    group: us
    method: async
    windows: [{ timeZone: America/New_York, days: [fri, sat], start: "23:00", durationMinutes: 240 }]
  - file: d.yaml
    windows: [{ timeZone: Asia/Kolkata, days: [sun], start: "01:00", durationMinutes: 180 }]`
}
`

describe("FleetFile: the example", () => {
  it.effect("examples/fleet.yaml decodes: 12 sites (8 single, 4 pairs), three time zones, waves of 1, 3 and 8", () =>
    Effect.gen(function* () {
      const fleet = yield* FleetFile.decodeFleetFile(exampleFleet)
      expect(fleet.sites).toHaveLength(12)
      expect(fleet.sites.filter((s) => s.site.isPair)).toHaveLength(4)
      expect(new Set(fleet.sites.map((s) => s.timeZone))).toEqual(
        new Set(["Europe/Paris", "America/New_York", "Australia/Sydney"])
      )
      expect(fleet.waves.map((w) => [w.name, w.sites.length, w.approval])).toEqual([
        ["canary", 1, false],
        ["wave 2", 3, true],
        ["wave 3", 8, true]
      ])
      expect(fleet.concurrency).toBe(3)
      expect(fleet.allowedFailures).toBe(1)
      expect(fleet.target).toMatchObject({ pra: "24.3.2", rs: "24.3.1" })
      expect(fleet.site("marseille")?.kind).toBe("async-pair")
      expect(fleet.site("newark")?.kind).toBe("sync-pair")
      expect(fleet.site("toulouse")?.targetVersion).toBe("24.3.1")
      expect(fleet.site("marseille")?.current).toEqual({ A: "24.1.3", B: "24.1.3" })
      expect(fleet.site("paris-hq")?.current).toEqual({ A: "24.1.3" })
      expect(fleet.site("paris-hq")?.path).toBe(join(exampleFleet, "..", "fleet", "paris-hq.yaml"))
    })
  )
})

describe("FleetFile: the file alone, errors name the field path", () => {
  it("a valid spec resolves its waves in file order; percentages round up, budgets in percent round down", () => {
    const fleet = fleetOf(fleetYaml(), sites4)
    expect(fleet.waves.map((w) => w.sites)).toEqual([["a"], ["b", "c", "d"]])
    expect(fleet.waves[0]!.canary).toBe(true)
    const pct = fleetOf(fleetYaml({ waves: "[{ percent: 30 }, { percent: 25 }, { rest: true }]" }), sites4)
    expect(pct.waves.map((w) => w.sites)).toEqual([["a", "b"], ["c"], ["d"]])
    expect(new FleetFile.FailureBudget({ percent: 10 }).allowed(12)).toBe(1)
    expect(new FleetFile.FailureBudget({ percent: 10 }).allowed(9)).toBe(0)
    expect(new FleetFile.FailureBudget({ percent: 25 }).allowed(4)).toBe(1)
  })

  it("approvals: approvalBetweenWaves asks before every wave but the first; a wave's own approval wins", () => {
    const fleet = fleetOf(
      fleetYaml({
        top: "approvalBetweenWaves: true",
        waves: "[{ size: 1, approval: true }, { size: 1 }, { size: 1, approval: false }, { rest: true }]"
      }),
      sites4
    )
    expect(fleet.waves.map((w) => w.approval)).toEqual([true, true, false, true])
  })

  it("unknown time zone, with a suggestion", () => {
    const e = specError(
      fleetYaml({
        sites: `  - file: a.yaml
    windows: [{ timeZone: Europe/Pariss, days: [sat], start: "02:00", durationMinutes: 60 }]
  - file: b.yaml
    timeZone: Mars/Olympus
    windows: [{ days: [sat], start: "02:00", durationMinutes: 60 }]`
      })
    )
    expect(issues(e)).toEqual([
      expect.stringMatching(
        /^sites\[0\]\.windows\[0\]\.timeZone: unknown IANA time zone "Europe\/Pariss" \(did you mean Europe\/Paris/
      ),
      expect.stringMatching(
        /^sites\[1\]\.timeZone: unknown IANA time zone "Mars\/Olympus"; use a name like Europe\/Paris/
      )
    ])
    expect(e.message).toMatch(
      /^fleet\.yaml: 2 problem\(s\) in the fleet file \(see docs\/fleet\.md\):\n {2}- sites\[0\]/
    )
  })

  it("invalid windows: time of day, duration, days, a missing time zone", () => {
    const e = specError(
      fleetYaml({
        sites: `  - file: a.yaml
    timeZone: Europe/Paris
    windows:
      - { days: [sat], start: "25:00", durationMinutes: 60 }
      - { days: [], start: "02:00", durationMinutes: 0 }
      - { days: [sun, sun], start: "02:00", durationMinutes: 60 }
      - { days: [saturday], start: "02:00", durationMinutes: 60 }
  - file: b.yaml
    windows: [{ days: [sat], start: "02:00", durationMinutes: 60 }]`
      })
    )
    const got = issues(e)
    expect(got).toContain(
      'sites[0].windows[0].start: expected a local time HH:MM on 24 hours like "02:00", got "25:00"'
    )
    expect(got).toContain("sites[0].windows[1].days: expected at least one day, e.g. [sat, sun]")
    expect(got).toContain("sites[0].windows[1].durationMinutes: expected between 1 and 10080 minutes (one week)")
    expect(got).toContain("sites[0].windows[2].days: a day is listed twice")
    expect(got).toContainEqual(
      expect.stringMatching(
        /^sites\[0\]\.windows\[3\]\.days\[0\]: expected "mon" or "tue" or .* or "sun", got "saturday"$/
      )
    )
    // a window without a time zone on a site without one: the cross-field check reports it
    const tz = specError(
      fleetYaml({
        sites: `  - file: a.yaml
    windows: [{ days: [sat], start: "02:00", durationMinutes: 60 }]`,
        waves: "[{ rest: true }]"
      })
    )
    expect(issues(tz)).toEqual([
      "sites[0].windows[0].timeZone: expected the window's IANA time zone (e.g. timeZone: Europe/Paris), here or on the site"
    ])
  })

  it("overlapping windows of one site, and one site with two time zones", () => {
    const e = specError(
      fleetYaml({
        sites: `  - file: a.yaml
    timeZone: Europe/Paris
    windows:
      - { days: [sat], start: "02:00", durationMinutes: 240 }
      - { days: [sat], start: "05:00", durationMinutes: 60 }
      - { days: [sun], start: "22:00", durationMinutes: 1500 }
  - file: b.yaml
    windows:
      - { timeZone: Europe/Paris, days: [sat], start: "02:00", durationMinutes: 60 }
      - { timeZone: Asia/Kolkata, days: [sun], start: "02:00", durationMinutes: 60 }`
      })
    )
    expect(issues(e)).toEqual([
      "sites[0].windows[1]: overlaps windows[0] (sat 02:00 +240 min); merge them or move one",
      "sites[1].windows: a site has one time zone, these windows use Europe/Paris and Asia/Kolkata; give each window of the site the same timeZone"
    ])
    const self = specError(
      fleetYaml({
        sites: `  - file: a.yaml
    timeZone: Europe/Paris
    windows: [{ days: [sat, sun], start: "20:00", durationMinutes: 1500 }]`,
        waves: "[{ rest: true }]"
      })
    )
    expect(issues(self)).toEqual([
      "sites[0].windows[0]: the window (sat, sun 20:00 +1500 min) lasts past its own next opening; shorten it or drop a day"
    ])
  })

  it("the checks within a site run for every site, even when another site has a bad field", () => {
    const e = specError(
      fleetYaml({
        sites: `  - file: a.yaml
    windows: [{ timeZone: Europe/Pariss, days: [sat], start: "02:00", durationMinutes: 60 }]
  - file: b.yaml
    timeZone: Europe/Paris
    windows:
      - { days: [sat], start: "02:00", durationMinutes: 240 }
      - { days: [sat], start: "05:00", durationMinutes: 60 }`
      })
    )
    expect(issues(e)).toEqual([
      expect.stringMatching(/^sites\[0\]\.windows\[0\]\.timeZone: unknown IANA time zone "Europe\/Pariss"/),
      "sites[1].windows[1]: overlaps windows[0] (sat 02:00 +240 min); merge them or move one"
    ])
  })

  it("a site listed twice, by file or by id", () => {
    const site = (file: string, id?: string) => `  - file: ${file}
${id === undefined ? "" : `    id: ${id}\n`}    timeZone: UTC
    windows: [{ days: [sat], start: "02:00", durationMinutes: 60 }]`
    const e = specError(
      fleetYaml({
        sites: [site("a.yaml"), site("./a.yaml"), site("x/b.yaml"), site("y/b.yaml"), site("c.yaml", "a")].join("\n")
      })
    )
    expect(issues(e)).toEqual([
      "sites[1].file: site id a is used twice (also sites[0]); give one of them an id:",
      "sites[1].file: the site ./a.yaml is listed twice (also sites[0])",
      "sites[3].file: site id b is used twice (also sites[2]); give one of them an id:",
      "sites[4].id: site id a is used twice (also sites[0])"
    ])
  })

  it("waves: unknown group, rest not last, sites left out, an empty wave, two kinds in one wave, group mixed with sizes", () => {
    expect(issues(specError(fleetYaml({ waves: "[{ group: eu }, { group: apac }, { rest: true }]" })))).toEqual([
      "waves[1].group: no site has group apac (groups: eu, us)"
    ])
    expect(issues(specError(fleetYaml({ waves: "[{ rest: true }, { size: 1 }]" })))).toContainEqual(
      "waves[0].rest: rest: true takes every site left, so it must be the last wave"
    )
    expect(issues(specError(fleetYaml({ waves: "[{ size: 1 }, { percent: 25 }]" })))).toEqual([
      "waves: the waves place 2 of the 4 sites (c, d left out): end them with { rest: true } or make them larger"
    ])
    expect(issues(specError(fleetYaml({ waves: "[{ size: 4 }, { rest: true }]" })))).toEqual([
      "waves[1]: no site is left for this wave (all 4 sites are placed by the waves before it); remove it"
    ])
    expect(issues(specError(fleetYaml({ waves: "[{ size: 1, percent: 10 }, { rest: true }]" })))).toEqual([
      "waves[0]: give only one of size, percent, rest or group (found size and percent)"
    ])
    expect(issues(specError(fleetYaml({ waves: "[{ group: eu }, { size: 2 }, { rest: true }]" })))).toEqual([
      "waves[1]: waves by group cannot be mixed with size or percent waves: use group: NAME here, or rest: true last"
    ])
    expect(issues(specError(fleetYaml({ waves: "[{ group: eu }, { group: us }]" })))).toEqual([
      "sites[3].group: site d has no group and no wave takes the rest: set its group, or end the waves with { rest: true }"
    ])
    const groups = fleetOf(fleetYaml({ waves: "[{ group: us }, { group: eu }, { rest: true }]" }), sites4)
    expect(groups.waves.map((w) => [w.name, w.sites])).toEqual([
      ["us", ["b", "c"]],
      ["eu", ["a"]],
      ["wave 3", ["d"]]
    ])
  })

  it("top-level fields: budget, cap, target, an unknown field, no sites", () => {
    const e = specError(`
id: "bad id!"
target: "24.x"
concurrency: 0
failureBudget: { count: 1, percent: 5 }
concurency: 3
waves: [{ rest: true }]
sites: []
`)
    const got = issues(e)
    expect(got).toContainEqual(expect.stringMatching(/^id: expected an id of letters, digits/))
    expect(got).toContainEqual(expect.stringMatching(/^target: .*expected a product version like "24\.3\.2"/))
    expect(got).toContain("concurrency: expected at least 1")
    expect(got).toContain("failureBudget: give either count: N or percent: P")
    expect(got).toContainEqual(expect.stringMatching(/^concurency: unknown field \(misspelt\?\)/))
    expect(got).toContain("sites: expected at least one site")
  })

  it("syntax errors give the line", () => {
    const e = specError("id: x\nsites: [\n  - a\n")
    expect(e.reason._tag).toBe("Syntax")
    expect(e.message).toMatch(/^fleet\.yaml:\d+:\d+: not valid YAML\/JSON/)
  })
})

describe("FleetFile: checked against the site files", () => {
  const decoded = (siteFiles: Readonly<Record<string, string>>, yaml: string) => {
    const spec = Either.getOrThrowWith(FleetFile.decodeSpec(yaml, "yaml", "fleet.yaml"), (e) => e)
    const sites = spec.sites.map((s) => Effect.runSync(Site.decodeSite(siteFiles[s.file]!, "yaml", s.file)))
    return FleetFile.make(spec, sites, { file: "fleet.yaml" })
  }

  it("PREP-7: a failover pair without a method is an error naming both methods; a single appliance with one too", () => {
    const yaml = fleetYaml({
      sites: `  - file: c.yaml
    timeZone: UTC
    windows: [{ days: [sat, sun], start: "02:00", durationMinutes: 240 }]
  - file: a.yaml
    timeZone: UTC
    method: sync
    windows: [{ days: [sat, sun], start: "02:00", durationMinutes: 240 }]`
    })
    const e = Either.getOrThrowWith(Either.flip(decoded(sites4, yaml)), () => "decoded")
    expect(issues(e)).toEqual([
      expect.stringMatching(
        /^sites\[0\]\.method: site c is a failover pair \(A, B\): choose method: sync \(PAIR-2.*\) or method: async \(PAIR-3.*PREP-7$/
      ),
      "sites[1].method: site a has one appliance (SINGLE-*); remove method: sync, which is for failover pairs (PREP-7)"
    ])
  })

  it("a product without a target version, current versions naming unknown or missing appliances", () => {
    const yaml = `
id: t
target: { pra: "24.3.2" }
waves: [{ rest: true }]
sites:
  - file: b.yaml
    timeZone: UTC
    windows: [{ days: [sat], start: "02:00", durationMinutes: 240 }]
  - file: c.yaml
    timeZone: UTC
    method: sync
    windows: [{ days: [sat, sun], start: "02:00", durationMinutes: 240 }]
    current: { A: "24.1.3", C: "24.1.3" }
`
    const e = Either.getOrThrowWith(Either.flip(decoded(sites4, yaml)), () => "decoded")
    expect(issues(e)).toEqual([
      "sites[1].current.C: site c has no appliance C (appliances: A, B)",
      'sites[1].current: give the version of B too, or one version for every appliance (current: "24.1.3")',
      'target: no target version for product rs, used by site(s) b: write target: { rs: "…" } (or one version for every product)'
    ])
  })

  it.effect("missing and bad site files are all reported, each with the site file's own error nested", () =>
    Effect.gen(function* () {
      const dir = folder({
        "fleet.yaml": `
id: t
target: "24.3.2"
waves: [{ rest: true }]
sites:
  - file: sites/good.yaml
    timeZone: UTC
    windows: [{ days: [sat], start: "02:00", durationMinutes: 240 }]
  - file: sites/missing.yaml
    timeZone: UTC
    windows: [{ days: [sat], start: "02:00", durationMinutes: 240 }]
  - file: sites/bad.yaml
    timeZone: UTC
    windows: [{ days: [sat], start: "02:00", durationMinutes: 240 }]
`,
        "sites/good.yaml": singleYaml("good"),
        "sites/bad.yaml": singleYaml("bad").replace("apiUrl: https://10.0.1.11", "apiUrl: ftp://10.0.1.11")
      })
      const e = yield* Effect.flip(FleetFile.decodeFleetFile(join(dir, "fleet.yaml")))
      expect(e._tag).toBe("FleetFileError")
      expect(e.reason._tag).toBe("SiteFiles")
      if (e.reason._tag !== "SiteFiles") return
      expect(e.reason.failures.map((f) => [f.field, f.siteId, f.error.reason._tag])).toEqual([
        ["sites[1].file", "missing", "Unreadable"],
        ["sites[2].file", "bad", "Invalid"]
      ])
      expect(e.message).toContain(
        `  - sites[1].file: sites/missing.yaml does not exist (looked for ${join(dir, "sites/missing.yaml")}); fix the path, relative to the fleet file`
      )
      expect(e.message).toMatch(
        / {2}- sites\[2\]\.file \(site bad\):\n {6}.*bad\.yaml: 1 problem\(s\) in the site description.*\n {6} {2}- appliances\[0\]\.apiUrl: expected a base URL/
      )
    })
  )

  it.effect("the fleet file itself: unknown extension, missing file", () =>
    Effect.gen(function* () {
      const ext = yield* Effect.flip(FleetFile.decodeFleetFile("/tmp/fleet.toml"))
      expect(ext.message).toBe("/tmp/fleet.toml: unknown format; name the fleet file *.yaml, *.yml or *.json.")
      const missing = yield* Effect.flip(FleetFile.decodeFleetFile("/nonexistent/fleet.yaml"))
      expect(missing.message).toBe(
        "/nonexistent/fleet.yaml: cannot read the fleet file (ENOENT). Check the path and its permissions."
      )
    })
  )

  it.effect("JSON works too, and the error is a typed value that survives encoding", () =>
    Effect.gen(function* () {
      const dir = folder({
        "fleet.json": JSON.stringify({
          id: "t",
          target: "24.3.2",
          waves: [{ rest: true }],
          sites: [
            { file: "a.yaml", timeZone: "UTC", windows: [{ days: ["sat"], start: "02:00", durationMinutes: 240 }] }
          ]
        }),
        "a.yaml": singleYaml("a")
      })
      const fleet = yield* FleetFile.decodeFleetFile(join(dir, "fleet.json"))
      expect(fleet.sites.map((s) => s.id)).toEqual(["a"])
      const e = specError(fleetYaml({ waves: "[{ group: nope }, { rest: true }]" }))
      const { Schema } = yield* Effect.promise(() => import("effect"))
      const back = Schema.decodeUnknownSync(FleetFile.FleetFileError)(Schema.encodeSync(FleetFile.FleetFileError)(e))
      expect(back.message).toBe(e.message)
    })
  )
})
