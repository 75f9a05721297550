import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import * as Version from "../src/Version.js"

const commit = FastCheck.stringMatching(/^[0-9a-f]{40}$/)
const component = FastCheck.integer({ min: 0, max: 99 })
const product = FastCheck.record(
  {
    major: component,
    minor: component,
    patch: component,
    build: FastCheck.option(FastCheck.record({ number: FastCheck.integer({ min: 0, max: 99_999 }), commit }), {
      nil: undefined
    })
  },
  { requiredKeys: ["major", "minor", "patch"] }
).map(({ build, ...r }) =>
  build === undefined
    ? new Version.ProductVersion(r)
    : new Version.ProductVersion({ ...r, build: new Version.Build(build) })
)

const ok = <A>(e: Either.Either<A, Version.VersionError>): A => {
  if (Either.isLeft(e)) throw new Error(e.left.message)
  return e.right
}

describe("Version", () => {
  it("parses the XML check_health form observed on RS 19.1", () => {
    const v = ok(Version.parse("19.1.8 (37380-749b17ca33d2475427428f263608ae98d69f7a35)"))
    expect([v.major, v.minor, v.patch]).toEqual([19, 1, 8])
    expect(v.build?.number).toBe(37380)
    expect(v.build?.commit).toBe("749b17ca33d2475427428f263608ae98d69f7a35")
    expect(v.majorRelease).toBe("19.1")
  })

  it("parses the JSON v2 split form and prints both forms", () => {
    const v = ok(Version.fromParts("24.3.2", "41000-0123456789abcdef0123456789ABCDEF01234567"))
    expect(Version.format(v)).toBe("24.3.2 (41000-0123456789abcdef0123456789abcdef01234567)")
    expect(Version.toParts(v)).toEqual({ version: "24.3.2", build: "41000-0123456789abcdef0123456789abcdef01234567" })
    expect(Version.format(ok(Version.fromParts("24.3.2", "")))).toBe("24.3.2")
    expect(Version.format(ok(Version.fromParts("24.3.2", null)))).toBe("24.3.2")
  })

  it("reads X.Y as the .0 maintenance release", () => {
    expect(Version.format(ok(Version.parse("24.3")))).toBe("24.3.0")
  })

  it("parses base software versions apart from product versions", () => {
    const b = ok(Version.parseBase("6.1.0"))
    expect(b._tag).toBe("BaseVersion")
    expect(Version.format(b)).toBe("6.1.0")
  })

  it.each(["", "garbage", "24", "24.x.1", "1.2.3.4", "19.1.8 (build)", "19.1.8 (37380-xyz)", "-1.2.3", "24.3.2 ()"])(
    "rejects %j with a typed error naming the input",
    (input) => {
      const r = Version.parse(input)
      expect(Either.isLeft(r)).toBe(true)
      if (Either.isLeft(r)) {
        expect(r.left._tag).toBe("VersionError")
        expect(r.left.reason._tag).toBe("Malformed")
        expect(r.left.input).toBe(input)
        expect(r.left.message).toContain(JSON.stringify(input))
      }
    }
  )

  it("rejects a garbage build in the split form", () => {
    const r = Version.fromParts("24.3.2", "not-a-build")
    expect(Either.isLeft(r) && r.left.input).toBe("not-a-build")
  })

  it("classifies major, maintenance, rebuild, base and no-op moves", () => {
    const p = (s: string) => ok(Version.parse(s))
    const b = (s: string) => ok(Version.parseBase(s))
    expect(Version.classify(p("24.1.3"), p("24.3.0"))).toEqual(Either.right("major"))
    expect(Version.classify(p("24.3.3"), p("25.1.0"))).toEqual(Either.right("major"))
    expect(Version.classify(p("24.3.1"), p("24.3.2"))).toEqual(Either.right("maintenance"))
    expect(Version.classify(p("24.3.2 (100-abcdef0)"), p("24.3.2 (101-abcdef1)"))).toEqual(Either.right("rebuild"))
    expect(Version.classify(p("24.3.2"), p("24.3.2 (101-abcdef1)"))).toEqual(Either.right("none"))
    expect(Version.classify(b("6.0.4"), b("6.1.0"))).toEqual(Either.right("base"))
    expect(Version.classify(b("6.1.0"), b("6.1.0"))).toEqual(Either.right("none"))
  })

  it("rejects downgrades and product/base mixes", () => {
    const down = Version.classify(ok(Version.parse("24.3.2")), ok(Version.parse("24.1.9")))
    expect(Either.isLeft(down) && down.left.reason._tag).toBe("Downgrade")
    const buildDown = Version.classify(ok(Version.parse("24.3.2 (101)")), ok(Version.parse("24.3.2 (100)")))
    expect(Either.isLeft(buildDown) && buildDown.left.reason._tag).toBe("Downgrade")
    const mixed = Version.classify(ok(Version.parse("24.3.2")), ok(Version.parseBase("6.1.0")))
    expect(Either.isLeft(mixed) && mixed.left.reason._tag).toBe("Incomparable")
    const twoCommits = Version.classify(
      ok(Version.parse("24.3.2 (100-aaaaaaa)")),
      ok(Version.parse("24.3.2 (100-bbbbbbb)"))
    )
    expect(Either.isLeft(twoCommits) && twoCommits.left.reason._tag).toBe("Incomparable")
  })

  it("matches a health report against a target, build only when the target names one", () => {
    const actual = ok(Version.parse("24.3.2 (41000-abcdef0123)"))
    expect(Version.matches(actual, ok(Version.parse("24.3.2")))).toBe(true)
    expect(Version.matches(actual, ok(Version.parse("24.3.2 (41000)")))).toBe(true)
    expect(Version.matches(actual, ok(Version.parse("24.3.2 (41001)")))).toBe(false)
    expect(Version.matches(actual, ok(Version.parse("24.3.3")))).toBe(false)
  })

  it("decodes versions written as text in files, with a readable error", () => {
    const decode = Schema.decodeUnknownEither(Version.ProductVersionFromString)
    expect(Either.map(decode("24.3.2"), Version.format)).toEqual(Either.right("24.3.2"))
    expect(Either.isLeft(decode("twenty four"))).toBe(true)
    expect(Schema.encodeSync(Version.ProductVersionFromString)(ok(Version.parse("19.1.8 (37380-abcdef0)")))).toBe(
      "19.1.8 (37380-abcdef0)"
    )
  })

  it.prop("round-trips the XML form", [product], ([v]) => {
    const back = ok(Version.parse(Version.format(v)))
    expect(Version.ProductOrder(back, v)).toBe(0)
    expect(Version.format(back)).toBe(Version.format(v))
  })

  it.prop("round-trips the JSON v2 split form", [product], ([v]) => {
    const parts = Version.toParts(v)
    expect(Version.format(ok(Version.fromParts(parts.version, parts.build)))).toBe(Version.format(v))
  })

  it.prop("orders like the numeric tuple (antisymmetric, transitive)", [product, product, product], ([a, b, c]) => {
    const o = Version.ProductOrder
    expect(Math.sign(o(a, b))).toBe(-Math.sign(o(b, a)))
    if (o(a, b) <= 0 && o(b, c) <= 0) expect(o(a, c)).toBeLessThanOrEqual(0)
    const tuple = (v: Version.ProductVersion) => [v.major, v.minor, v.patch]
    const [ta, tb] = [tuple(a), tuple(b)]
    const lexi = ta[0]! - tb[0]! || ta[1]! - tb[1]! || ta[2]! - tb[2]!
    if (lexi !== 0) expect(Math.sign(o(a, b))).toBe(Math.sign(lexi))
  })

  it.prop("classify agrees with the order: upgrades classify, downgrades fail", [product, product], ([a, b]) => {
    const r = Version.classify(a, b)
    const cmp = Version.ProductOrder(a, b)
    if (Either.isRight(r)) {
      if (r.right === "major" || r.right === "maintenance" || r.right === "rebuild") expect(cmp).toBeLessThan(0)
      if (r.right === "major") expect(a.majorRelease).not.toBe(b.majorRelease)
      if (r.right === "maintenance") expect(a.majorRelease).toBe(b.majorRelease)
    } else if (Version.sameRelease(a, b) === false) {
      expect(r.left.reason._tag).toBe("Downgrade")
      expect(cmp).toBeGreaterThan(0)
    }
  })
})
