import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import * as UpdatePackage from "../src/UpdatePackage.js"
import * as Version from "../src/Version.js"

const pv = (s: string) => Either.getOrThrow(Version.parse(s))
const bv = (s: string) => Either.getOrThrow(Version.parseBase(s))
const pkg = (
  id: string,
  kind: UpdatePackage.PackageKind,
  version: string,
  requires: ReadonlyArray<string> = []
): UpdatePackage.UpdatePackage => new UpdatePackage.UpdatePackage({ id, kind, version, requires })

const ids = (r: Either.Either<ReadonlyArray<UpdatePackage.InstallStep>, UpdatePackage.InstallOrderError>) => {
  if (Either.isLeft(r)) throw new Error(r.left.message)
  return r.right.map((s) => s.package.id)
}
const reason = (r: Either.Either<unknown, UpdatePackage.InstallOrderError>) =>
  Either.isLeft(r) ? r.left.reason : undefined

// A far-behind appliance: 23.3.1 on base 6.0.2
const offer = [
  pkg("site-24.3.2", "site", "24.3.2", ["base-6.1.0", "site-24.1.4"]),
  pkg("site-24.1.4", "site", "24.1.4", ["base-6.0.5"]),
  pkg("base-6.1.0", "base", "6.1.0", ["base-6.0.5"]),
  pkg("base-6.0.5", "base", "6.0.5"),
  pkg("lic-vault", "licence", "vault-2024", ["site-24.1.4"])
]
const current = { product: pv("23.3.1"), base: bv("6.0.2") }

describe("UpdatePackage.installOrder", () => {
  it("SINGLE-2: installs every prerequisite before the package that needs it", () => {
    const order = ids(UpdatePackage.installOrder(offer, current, { product: pv("24.3.2") }))
    expect(order).toEqual(["base-6.0.5", "site-24.1.4", "base-6.1.0", "site-24.3.2"])
  })

  it("SINGLE-2: base software goes before product updates when both are ready", () => {
    const order = ids(
      UpdatePackage.installOrder([pkg("site-24.3.2", "site", "24.3.2"), pkg("base-6.1.0", "base", "6.1.0")], current, {
        product: pv("24.3.2"),
        base: bv("6.1.0")
      })
    )
    expect(order).toEqual(["base-6.1.0", "site-24.3.2"])
  })

  it("SINGLE-5: after a base update, a fresh backup and the product update follow immediately", () => {
    const r = UpdatePackage.installOrder(offer, current, { product: pv("24.3.2"), packages: ["lic-vault"] })
    if (Either.isLeft(r)) throw new Error(r.left.message)
    const steps = r.right
    const after = (id: string) => steps[steps.findIndex((s) => s.package.id === id) + 1]!
    // the licence add-on is ready after site-24.1.4 but must not slip between base-6.1.0 and site-24.3.2
    expect(after("base-6.1.0").package.id).toBe("site-24.3.2")
    expect(after("base-6.1.0").freshBackupFirst).toBe(true)
    expect(after("base-6.1.0").immediatelyAfterPrevious).toBe(true)
    expect(after("base-6.0.5").package.id).toBe("site-24.1.4")
    expect(after("base-6.0.5").freshBackupFirst).toBe(true)
    const lic = steps.find((s) => s.package.id === "lic-vault")!
    expect(lic.freshBackupFirst).toBe(false)
    expect(lic.immediatelyAfterPrevious).toBe(false)
    expect(steps[0]!.freshBackupFirst).toBe(false)
  })

  it("SINGLE-2: site updates climb even when an older one waits on a licence add-on", () => {
    const order = ids(
      UpdatePackage.installOrder(
        [
          pkg("s1", "site", "30.1.0"),
          pkg("l2", "licence", "x", ["s1"]),
          pkg("s3", "site", "30.3.0", ["l2"]),
          pkg("s5", "site", "30.5.0", ["s3"])
        ].reverse(),
        { product: pv("29.0.0") },
        { product: pv("30.5.0") }
      )
    )
    expect(order).toEqual(["s1", "l2", "s3", "s5"])
    const noDeps = ids(
      UpdatePackage.installOrder(
        [
          pkg("s1", "site", "30.1.0"),
          pkg("l2", "licence", "x", ["s1"]),
          pkg("s3", "site", "30.3.0", ["l2"]),
          pkg("s5", "site", "30.5.0")
        ],
        { product: pv("29.0.0") },
        { product: pv("30.5.0"), packages: ["s3"] }
      )
    )
    expect(noDeps).toEqual(["s1", "l2", "s3", "s5"])
  })

  it("skips packages already installed and returns nothing when the target runs already", () => {
    const order = ids(
      UpdatePackage.installOrder(offer, { product: pv("24.1.4"), base: bv("6.0.5") }, { product: pv("24.3.2") })
    )
    expect(order).toEqual(["base-6.1.0", "site-24.3.2"])
    expect(ids(UpdatePackage.installOrder(offer, { product: pv("24.3.2") }, { product: pv("24.3.2") }))).toEqual([])
  })

  it("names a missing prerequisite", () => {
    const r = UpdatePackage.installOrder([pkg("site-25.1.0", "site", "25.1.0", ["base-7.0.0"])], current, {
      product: pv("25.1.0")
    })
    const why = reason(r)
    expect(why?._tag).toBe("MissingPrerequisite")
    expect(Either.isLeft(r) && r.left.message).toContain("base-7.0.0")
    expect(Either.isLeft(r) && r.left.message).toContain("site-25.1.0")
  })

  it("accepts a prerequisite that is only listed as installed", () => {
    const r = UpdatePackage.installOrder(
      [pkg("site-25.1.0", "site", "25.1.0", ["lic-x"])],
      {
        product: pv("24.3.2"),
        packages: ["lic-x"]
      },
      { product: pv("25.1.0") }
    )
    expect(ids(r)).toEqual(["site-25.1.0"])
  })

  it("detects a cycle and lists it", () => {
    const r = UpdatePackage.installOrder(
      [pkg("a", "site", "25.1.0", ["b"]), pkg("b", "base", "7.0.0", ["c"]), pkg("c", "licence", "x", ["b"])],
      current,
      { product: pv("25.1.0") }
    )
    const why = reason(r)
    expect(why?._tag).toBe("Cycle")
    if (why?._tag === "Cycle") expect(why.packages).toEqual(["b", "c", "b"])
  })

  it("rejects a downgrade target, and an order that would install an older site package after a newer one", () => {
    expect(reason(UpdatePackage.installOrder(offer, { product: pv("24.3.2") }, { product: pv("24.1.4") }))?._tag).toBe(
      "Downgrade"
    )
    expect(
      reason(UpdatePackage.installOrder(offer, { product: pv("24.3.2"), base: bv("6.1.0") }, { base: bv("6.0.5") }))
        ?._tag
    ).toBe("Downgrade")
    const inverted = UpdatePackage.installOrder(
      [pkg("old", "site", "24.2.0", ["new"]), pkg("new", "site", "24.3.0")],
      { product: pv("24.1.0") },
      { product: pv("24.2.0") }
    )
    expect(reason(inverted)?._tag).toBe("Downgrade")
  })

  it("reports an unreachable target with what is on offer", () => {
    const r = UpdatePackage.installOrder(offer, current, { product: pv("25.1.0") })
    expect(reason(r)?._tag).toBe("Unreachable")
    expect(Either.isLeft(r) && r.left.message).toContain("site-24.3.2")
    expect(reason(UpdatePackage.installOrder(offer, current, { packages: ["nope"] }))?._tag).toBe("Unreachable")
  })

  it("rejects duplicate package ids", () => {
    expect(reason(UpdatePackage.installOrder([...offer, offer[0]!], current, { product: pv("24.3.2") }))?._tag).toBe(
      "DuplicatePackage"
    )
  })

  it("validates a package's version against its kind when decoding", () => {
    const decode = Schema.decodeUnknownEither(UpdatePackage.UpdatePackage)
    expect(Either.isRight(decode({ id: "s", kind: "site", version: "24.3.2" }))).toBe(true)
    expect(Either.isLeft(decode({ id: "s", kind: "site", version: "latest" }))).toBe(true)
    expect(Either.isLeft(decode({ id: "b", kind: "base", version: "six" }))).toBe(true)
    expect(Either.isLeft(decode({ id: "b", kind: "base", version: "6.1.0", requires: ["b"] }))).toBe(true)
  })

  // Random DAGs: node i may require any j < i. Site and base versions grow with the index, so
  // every dependency points at an older package and no downgrade is possible.
  const dag = FastCheck.integer({ min: 1, max: 14 }).chain((n) =>
    FastCheck.tuple(
      FastCheck.array(FastCheck.constantFrom<UpdatePackage.PackageKind>("base", "site", "licence"), {
        minLength: n,
        maxLength: n
      }),
      FastCheck.array(FastCheck.array(FastCheck.nat(n), { maxLength: 3 }), { minLength: n, maxLength: n }),
      FastCheck.integer({ min: 0, max: n - 1 }),
      FastCheck.array(FastCheck.nat(), { minLength: n, maxLength: n })
    ).map(([kinds, reqs, targetIndex, shuffle]) => {
      const packages = kinds.map((kind, i) =>
        pkg(`p${i}`, kind, kind === "site" ? `30.${i}.0` : kind === "base" ? `7.${i}.0` : `lic-${i}`, [
          ...new Set(reqs[i]!.filter((j) => j < i).map((j) => `p${j}`))
        ])
      )
      const shuffled = packages
        .map((p, i) => [shuffle[i]!, p] as const)
        .sort((a, b) => a[0] - b[0])
        .map(([, p]) => p)
      return { packages, shuffled, target: packages[targetIndex]! }
    })
  )

  const targetOf = (p: UpdatePackage.UpdatePackage): UpdatePackage.Target =>
    p.kind === "site"
      ? { product: p.productVersion! }
      : p.kind === "base"
        ? { base: p.baseVersion! }
        : { packages: [p.id] }

  it.prop(
    "SINGLE-2: over random dependency graphs every prerequisite precedes its dependants",
    [dag],
    ([{ shuffled, target }]) => {
      const order = ids(
        UpdatePackage.installOrder(shuffled, { product: pv("29.0.0"), base: bv("6.0.0") }, targetOf(target))
      )
      const position = new Map(order.map((id, i) => [id, i]))
      expect(position.size).toBe(order.length) // no package twice
      expect(order).toContain(target.id)
      for (const id of order) {
        const p = shuffled.find((q) => q.id === id)!
        for (const req of p.requires) {
          expect(position.has(req)).toBe(true)
          expect(position.get(req)!).toBeLessThan(position.get(id)!)
        }
      }
      // exactly the target's prerequisite closure
      const closure = new Set<string>()
      const walk = (id: string) => {
        if (closure.has(id)) return
        closure.add(id)
        for (const r of shuffled.find((q) => q.id === id)!.requires) walk(r)
      }
      walk(target.id)
      expect(new Set(order)).toEqual(closure)
    }
  )

  it.prop(
    "SINGLE-5: over random dependency graphs a site update ready after a base update comes right after it",
    [dag],
    ([{ shuffled, target }]) => {
      const r = UpdatePackage.installOrder(shuffled, { product: pv("29.0.0"), base: bv("6.0.0") }, targetOf(target))
      if (Either.isLeft(r)) throw new Error(r.left.message)
      const steps = r.right
      steps.forEach((step, i) => {
        if (step.package.kind !== "base" || i === steps.length - 1) return
        const done = new Set(steps.slice(0, i + 1).map((s) => s.package.id))
        // site updates climb, so the candidate is the oldest site update still to install
        const oldestSite = steps.slice(i + 1).find((s) => s.package.kind === "site")
        if (oldestSite !== undefined && oldestSite.package.requires.every((q) => done.has(q))) {
          expect(steps[i + 1]!.package.kind).toBe("site")
          expect(steps[i + 1]!.freshBackupFirst).toBe(true)
        }
      })
    }
  )

  it.prop("a back edge turns any dependency chain into a reported cycle", [dag], ([{ packages }]) => {
    if (packages.length < 2) return
    const chain = packages.map(
      (p, i) =>
        new UpdatePackage.UpdatePackage({ ...p, requires: i === 0 ? [`p${packages.length - 1}`] : [`p${i - 1}`] })
    )
    const last = chain[chain.length - 1]!
    const r = UpdatePackage.installOrder(chain, { product: pv("29.0.0"), base: bv("6.0.0") }, targetOf(last))
    expect(reason(r)?._tag).toBe("Cycle")
  })
})
