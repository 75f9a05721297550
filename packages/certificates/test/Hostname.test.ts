import { describe, expect, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import * as Hostname from "../src/Hostname.js"

const identity = (dnsNames: ReadonlyArray<string>, commonName?: string, ipAddresses: ReadonlyArray<string> = []) => ({
  dnsNames,
  ipAddresses,
  commonName
})

describe("Hostname (RFC 6125 / RFC 9525)", () => {
  it("exact names match case-insensitively, ignoring a trailing dot", () => {
    expect(Hostname.matches("Support.Example.TEST", "support.example.test.")).toBe(true)
    expect(Hostname.matches("support.example.test", "support2.example.test")).toBe(false)
    expect(Hostname.matches("", "support.example.test")).toBe(false)
  })

  it("a wildcard is the whole left-most label and stands for exactly one label", () => {
    expect(Hostname.matches("*.example.test", "support.example.test")).toBe(true)
    expect(Hostname.matches("*.example.test", "a.b.example.test")).toBe(false)
    expect(Hostname.matches("*.example.test", "example.test")).toBe(false)
    expect(Hostname.matches("*.example.test", ".example.test")).toBe(false)
    expect(Hostname.matches("sup*.example.test", "support.example.test")).toBe(false)
    expect(Hostname.matches("support.*.test", "support.example.test")).toBe(false)
    expect(Hostname.matches("*.*.test", "a.example.test")).toBe(false)
    expect(Hostname.matches("*.test", "example.test")).toBe(false)
  })

  it("coverage: DNS names first, Common Name only without DNS names, IP addresses only against IP names", () => {
    expect(Hostname.coverage(identity(["support.example.test"]), "support.example.test")).toBe("exact")
    expect(Hostname.coverage(identity(["*.example.test"]), "support.example.test")).toBe("wildcard")
    expect(Hostname.coverage(identity(["other.example.test"], "support.example.test"), "support.example.test")).toBe(
      "none"
    )
    expect(Hostname.coverage(identity([], "support.example.test"), "support.example.test")).toBe("common-name")
    expect(Hostname.coverage(identity(["127.0.0.1"], undefined, ["127.0.0.1"]), "127.0.0.1")).toBe("ip")
    expect(Hostname.coverage(identity([], "127.0.0.1"), "127.0.0.1")).toBe("none")
  })

  const label = FastCheck.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/)

  it.prop(
    "a wildcard matches one more label and nothing else",
    [label, FastCheck.array(label, { minLength: 2, maxLength: 4 }), label],
    ([left, domain, extra]) => {
      const base = domain.join(".")
      expect(Hostname.matches(`*.${base}`, `${left}.${base}`)).toBe(true)
      expect(Hostname.matches(`*.${base}`, `${extra}.${left}.${base}`)).toBe(false)
      expect(Hostname.matches(`*.${base}`, base)).toBe(false)
      expect(Hostname.matches(`*.${base}`, `${left}.${base}x`)).toBe(false)
    }
  )
})
