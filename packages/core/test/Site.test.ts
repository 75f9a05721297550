import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import * as Site from "../src/Site.js"
import { UpdatePackage } from "../src/UpdatePackage.js"

const examples = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "examples")

const minimal = `
hostname: support.example.com
product: pra
appliances:
  - id: A
    role: none
    apiUrl: https://10.0.0.11
    uniqueIp: 10.0.0.11
    clientId: abc
    clientSecret: { env: SRA_SECRET }
backup:
  directory: /var/backups/sra
`

const failure = (text: string, format: Site.Format = "yaml", file = "site.yaml") =>
  Effect.runSync(Effect.flip(Site.decodeSite(text, format, file)))

const issues = (e: Site.SiteError) => (e.reason._tag === "Invalid" ? e.reason.issues : [])
const issueAt = (e: Site.SiteError, path: string) => issues(e).find((i) => i.path === path)

describe("Site", () => {
  it.effect("decodes a minimal single-appliance site with defaults", () =>
    Effect.gen(function* () {
      const site = yield* Site.decodeSite(minimal, "yaml")
      expect(site.isPair).toBe(false)
      expect(site.primary.id).toBe("A")
      expect(site.primary.tlsPort).toBe(443)
      expect(site.primary.storedDataGb).toBe(0)
      expect(site.updates).toEqual([])
      expect(site.clients.jumpoints).toBe(0)
      expect(site.primary.clientSecret).toBeInstanceOf(Site.EnvSecret)
    })
  )

  it.effect("decodes the same site written as JSON", () =>
    Effect.gen(function* () {
      const json = JSON.stringify({
        hostname: "support.example.com",
        product: "rs",
        appliances: [
          {
            id: "A",
            role: "none",
            apiUrl: "https://10.0.0.11",
            uniqueIp: "10.0.0.11",
            clientId: "x",
            clientSecret: { file: "s" }
          }
        ],
        backup: { directory: "/b" }
      })
      const site = yield* Site.decodeSite(json, "json", "site.json")
      expect(site.product).toBe("rs")
      expect(site.primary.clientSecret).toBeInstanceOf(Site.FileSecret)
    })
  )

  it.effect("decodes examples/site.yaml (a single appliance)", () =>
    Effect.gen(function* () {
      const site = yield* Site.decodeSiteFile(join(examples, "site.yaml"))
      expect(site.isPair).toBe(false)
      expect(site.updates.map((u) => u.id)).toEqual(["base-6.1.0", "site-24.3.2"])
      expect(site.updates[1]).toBeInstanceOf(UpdatePackage)
      expect(site.maintenanceWindows[0]!.start.toISOString()).toBe("2026-12-05T22:00:00.000Z")
      expect(site.clients.jumpClients?.active).toBe(1400)
    })
  )

  it.effect("decodes examples/pair.yaml (a failover pair with a shared IP)", () =>
    Effect.gen(function* () {
      const site = yield* Site.decodeSiteFile(join(examples, "pair.yaml"))
      expect(site.isPair).toBe(true)
      expect(site.primary.id).toBe("A")
      expect(site.trafficSwitch).toBeInstanceOf(Site.SharedIpSwitch)
      expect(site.trafficSwitch?.method === "shared-ip" && site.trafficSwitch.sharedIp).toBe("192.0.2.20")
      const pin = site.appliance("A")!.tls
      expect(pin instanceof Site.PinTrust && pin.hex).toMatch(/^[0-9a-f]{64}$/)
      expect(site.maintenanceWindows).toHaveLength(2)
    })
  )

  it.effect("a decoded site encodes back to a description that decodes to the same site", () =>
    Effect.gen(function* () {
      for (const name of ["site.yaml", "pair.yaml"]) {
        const site = yield* Site.decodeSiteFile(join(examples, name))
        const encoded = yield* Schema.encode(Site.Site)(site)
        const again = yield* Site.decodeSite(JSON.stringify(encoded), "json")
        expect(again).toEqual(site)
      }
    })
  )

  describe("bad files", () => {
    it("YAML syntax: names the file, line and column", () => {
      const e = failure("hostname: a.example.com\nappliances: [\n  - id: A\n", "yaml", "broken.yaml")
      expect(e.reason._tag).toBe("Syntax")
      expect(e.message).toMatch(/^broken\.yaml:\d+:\d+: not valid/)
    })

    it("YAML duplicate key is a syntax error", () => {
      const e = failure(minimal + "product: rs\n")
      expect(e.reason._tag).toBe("Syntax")
      expect(e.reason._tag === "Syntax" && e.reason.line).toBeGreaterThan(1)
    })

    it("JSON syntax: names the file, line and column", () => {
      const e = failure('{\n  "hostname": "a.example.com",\n  "product": \n}', "json", "site.json")
      expect(e.reason._tag).toBe("Syntax")
      expect(e.reason._tag === "Syntax" && e.reason.line).toBe(4)
      expect(e.message).toContain("site.json:4")
    })

    it("JSON syntax errors never quote the source (it may hold a pasted secret)", () => {
      const e = failure(
        '{ "hostname": "a.example.com", "clientSecret": "hunter2-very-secret" "x": 1 }',
        "json",
        "s.json"
      )
      expect(e.reason._tag).toBe("Syntax")
      expect(e.message).toContain("s.json:1:")
      expect(e.message).not.toContain("hunter2")
      const y = failure('hostname: a\nsecret: "hunter2-very-secret\n', "yaml")
      expect(y.reason._tag).toBe("Syntax")
      expect(y.message).not.toContain("hunter2")
    })

    it("missing required field: names its path", () => {
      const e = failure(minimal.replace("backup:\n  directory: /var/backups/sra\n", ""))
      expect(issueAt(e, "backup")?.message).toMatch(/missing/i)
      expect(e.message).toContain("site.yaml")
    })

    it("wrong value: says what was expected", () => {
      const e = failure(minimal.replace("product: pra", "product: pam"))
      expect(issueAt(e, "product")?.message).toBe('expected "pra" or "rs", got "pam"')
    })

    it("misspelt field: flagged as unknown at its path", () => {
      const e = failure(minimal.replace("uniqueIp:", "uniqeIp:"))
      expect(issueAt(e, "appliances[0].uniqeIp")?.message).toContain("unknown field")
      expect(issueAt(e, "appliances[0].uniqueIp")?.message).toMatch(/missing/i)
    })

    it("secret written inline: refused, and the value never appears in the error", () => {
      const e = failure(minimal.replace("{ env: SRA_SECRET }", "hunter2-very-secret"))
      expect(issueAt(e, "appliances[0].clientSecret")?.message).toContain("secret reference")
      expect(e.message).not.toContain("hunter2")
      const e2 = failure(minimal.replace("{ env: SRA_SECRET }", "{ env: SRA_SECRET, value: hunter2-very-secret }"))
      expect(e2.message).not.toContain("hunter2")
    })

    it("unquoted version read as a number: points at the field", () => {
      const e = failure(minimal + "updates:\n  - { id: s, kind: site, version: 24.3 }\n")
      expect(issueAt(e, "updates[0].version")?.message).toContain("expected string")
    })

    it("bad address, URL, port and date", () => {
      const e = failure(
        minimal
          .replace("uniqueIp: 10.0.0.11", "uniqueIp: 10.0.0.311")
          .replace("apiUrl: https://10.0.0.11", "apiUrl: ftp://10.0.0.11")
          .replace("clientId: abc", "clientId: abc\n    tlsPort: 70000") +
          "maintenanceWindows:\n  - { label: w, start: next saturday, durationMinutes: 60 }\n"
      )
      expect(issueAt(e, "appliances[0].uniqueIp")?.message).toContain("IPv4 or IPv6")
      expect(issueAt(e, "appliances[0].apiUrl")?.message).toContain("base URL")
      expect(issueAt(e, "appliances[0].tlsPort")).toBeDefined()
      expect(issueAt(e, "maintenanceWindows[0].start")).toBeDefined()
    })

    it("plain http is refused unless allowed", () => {
      const http = minimal.replace("https://10.0.0.11", "http://10.0.0.11")
      expect(issueAt(failure(http), "appliances[0].apiUrl")?.message).toContain("allowPlainHttp")
      expect(
        Effect.runSync(
          Effect.either(
            Site.decodeSite(http.replace("clientId: abc", "clientId: abc\n    allowPlainHttp: true"), "yaml")
          )
        )._tag
      ).toBe("Right")
    })

    it("inconsistent pair: roles, missing traffic switch, shared IP reused, duplicate ids and IPs", () => {
      const pair = minimal.replace(
        "backup:",
        `  - id: A
    role: none
    apiUrl: https://10.0.0.11
    uniqueIp: 10.0.0.11
    clientId: abc
    clientSecret: { env: SRA_SECRET }
backup:`
      )
      const e = failure(pair)
      expect(issueAt(e, "appliances[1].id")?.message).toContain("used twice")
      expect(issueAt(e, "appliances[1].uniqueIp")?.message).toContain("used by two")
      expect(issueAt(e, "appliances")?.message).toContain("one appliance with role primary")
      expect(issueAt(e, "trafficSwitch")?.message).toContain("shared-ip")
      const shared = failure(
        pair
          .replace("id: A\n    role: none", "id: A\n    role: primary")
          .replace(
            /- id: A\n {4}role: none\n {4}apiUrl: https:\/\/10.0.0.11\n {4}uniqueIp: 10.0.0.11/,
            "- id: B\n    role: backup\n    apiUrl: https://10.0.0.12\n    uniqueIp: 10.0.0.12"
          ) + "trafficSwitch: { method: shared-ip, sharedIp: 10.0.0.12 }\n"
      )
      expect(issues(shared).map((i) => i.path)).toEqual(["trafficSwitch.sharedIp"])
    })

    it("too many appliances, and a single backup", () => {
      const e = failure(minimal.replace("role: none", "role: backup"))
      expect(issueAt(e, "appliances[0].role")?.message).toContain("single appliance")
      const three = failure(
        minimal.replace(
          "appliances:\n",
          "appliances:\n" +
            "  - { id: X, role: none, apiUrl: https://h, uniqueIp: 10.9.9.9, clientId: c, clientSecret: { env: S } }\n".repeat(
              2
            )
        )
      )
      expect(issues(three).some((i) => i.path === "appliances" && i.message.includes("two for a failover pair"))).toBe(
        true
      )
    })

    it("update prerequisites must be listed", () => {
      const e = failure(minimal + "updates:\n  - { id: s, kind: site, version: '24.3.2', requires: [base-9] }\n")
      expect(issueAt(e, "updates[0].requires")?.message).toContain("base-9")
    })

    it("not a mapping at all", () => {
      expect(issueAt(failure("- just\n- a list\n"), "(root)")).toBeDefined()
    })

    it.effect("unsupported extension and unreadable file", () =>
      Effect.gen(function* () {
        const ext = yield* Effect.flip(Site.decodeSiteFile("/tmp/site.toml"))
        expect(ext.reason._tag).toBe("UnsupportedFormat")
        const missing = yield* Effect.flip(Site.decodeSiteFile("/nonexistent/dir/site.yaml"))
        expect(missing.reason._tag).toBe("Unreadable")
        expect(missing.message).toContain("/nonexistent/dir/site.yaml")
        expect(missing.message).toContain("ENOENT")
      })
    )
  })

  describe("resolveSecret", () => {
    const dir = mkdtempSync(join(tmpdir(), "sra-site-"))
    writeFileSync(join(dir, "secret"), "s3cr3t-value\n")
    writeFileSync(join(dir, "empty"), "")

    it.effect("reads an environment variable into a Redacted value", () =>
      Effect.gen(function* () {
        const v = yield* Site.resolveSecret(new Site.EnvSecret({ env: "MY_SECRET" }), {
          env: { MY_SECRET: "s3cr3t-value" }
        })
        expect(Redacted.value(v)).toBe("s3cr3t-value")
        expect(String(v)).not.toContain("s3cr3t")
        expect(JSON.stringify(v)).not.toContain("s3cr3t")
      })
    )

    it.effect("reads a file relative to the site file's folder, without its trailing newline", () =>
      Effect.gen(function* () {
        const v = yield* Site.resolveSecret(new Site.FileSecret({ file: "secret" }), { baseDir: dir })
        expect(Redacted.value(v)).toBe("s3cr3t-value")
        const abs = yield* Site.resolveSecret(new Site.FileSecret({ file: join(dir, "secret") }))
        expect(Redacted.value(abs)).toBe("s3cr3t-value")
      })
    )

    it.effect("names the missing reference, never a value", () =>
      Effect.gen(function* () {
        const env = yield* Effect.flip(
          Site.resolveSecret(new Site.EnvSecret({ env: "NOT_SET_ANYWHERE" }), { env: {}, siteFile: "site.yaml" })
        )
        expect(env.reason._tag).toBe("SecretUnavailable")
        expect(env.message).toContain("NOT_SET_ANYWHERE")
        expect(env.message).toContain("site.yaml")
        const empty = yield* Effect.flip(Site.resolveSecret(new Site.FileSecret({ file: "empty" }), { baseDir: dir }))
        expect(empty.message).toContain("empty")
        const missing = yield* Effect.flip(Site.resolveSecret(new Site.FileSecret({ file: "nope" }), { baseDir: dir }))
        expect(missing.message).toContain("ENOENT")
        expect(missing.message).not.toContain("s3cr3t")
      })
    )
  })

  describe("PREP-3", () => {
    const site = new UpdatePackage({ id: "site-24.3.2", kind: "site", version: "24.3.2" })
    const base = new UpdatePackage({ id: "base-6.1.0", kind: "base", version: "6.1.0" })

    it("PREP-3: an appliance with little data installs in 15 to 60 minutes, and the plan says why", () => {
      for (const p of [site, base, new UpdatePackage({ id: "lic", kind: "licence", version: "x" })]) {
        const e = Site.estimateInstallMinutes(0, p)
        expect(e.minutes).toBeGreaterThanOrEqual(15)
        expect(e.minutes).toBeLessThanOrEqual(60)
        expect(e.explanation).toContain(p.id)
        expect(e.explanation).toContain("15-60 min")
      }
    })

    it("PREP-3: much stored data (recordings) makes the install much longer, with an explanation", () => {
      const e = Site.estimateInstallMinutes(800, site)
      expect(e.minutes).toBeGreaterThan(60)
      expect(e.dataMinutes).toBeGreaterThan(0)
      expect(e.explanation).toContain("800 GB")
      expect(e.explanation).toContain("recordings")
    })

    it("PREP-3: the vendor's own estimate is used as the baseline, kept within 15..60", () => {
      expect(
        Site.estimateInstallMinutes(
          0,
          new UpdatePackage({ id: "s", kind: "site", version: "24.3.2", estimatedMinutes: 45 })
        ).minutes
      ).toBe(45)
      expect(
        Site.estimateInstallMinutes(
          0,
          new UpdatePackage({ id: "s", kind: "site", version: "24.3.2", estimatedMinutes: 5 })
        ).minutes
      ).toBe(15)
      expect(
        Site.estimateInstallMinutes(
          0,
          new UpdatePackage({ id: "s", kind: "site", version: "24.3.2", estimatedMinutes: 500 })
        ).baselineMinutes
      ).toBe(60)
    })

    it.prop(
      "PREP-3: the estimate never drops below 15 min and grows with stored data",
      [FastCheck.double({ min: 0, max: 20_000, noNaN: true }), FastCheck.double({ min: 0, max: 20_000, noNaN: true })],
      ([a, b]) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a]
        const x = Site.estimateInstallMinutes(lo, base)
        const y = Site.estimateInstallMinutes(hi, base)
        expect(x.minutes).toBeGreaterThanOrEqual(15)
        expect(y.minutes).toBeGreaterThanOrEqual(x.minutes)
        expect(y.minutes).toBe(y.baselineMinutes + y.dataMinutes)
      }
    )
  })

  it.effect("LICENSE-1: the site reports its seats, one per active technician and per accessed endpoint", () =>
    Effect.gen(function* () {
      const site = yield* Site.decodeSite(minimal + "licences: { technicians: 25, endpoints: 2000 }\n", "yaml")
      expect(Site.licenceSummary(site)).toBe(
        "Licensed for 25 concurrently active technician(s) and 2000 concurrently accessed endpoint(s) (one licence each, LICENSE-1)."
      )
      expect(Site.licenceSummary(yield* Site.decodeSite(minimal, "yaml"))).toBeUndefined()
      expect(
        Either.isLeft(
          Effect.runSync(Effect.either(Site.decodeSite(minimal + "licences: { technicians: -1 }\n", "yaml")))
        )
      ).toBe(true)
    })
  )
})
