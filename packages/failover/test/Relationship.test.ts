import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Relationship from "../src/Relationship.js"

const E = Relationship.Event
const ids = FastCheck.constantFrom("A", "B")

const event: FastCheck.Arbitrary<Relationship.Event> = FastCheck.oneof(
  FastCheck.constant(E.SyncRequested()),
  FastCheck.boolean().map((ok) => E.SyncFinished({ ok })),
  FastCheck.constant(E.Break()),
  FastCheck.tuple(ids, ids).map(([primary, backup]) => E.Establish({ primary, backup })),
  ids.map((appliance) => E.ReleaseSite({ appliance })),
  ids.map((appliance) => E.TakeSite({ appliance })),
  FastCheck.tuple(ids, FastCheck.boolean()).map(([appliance, primaryResponding]) =>
    E.BecomePrimary({ appliance, primaryResponding })
  ),
  FastCheck.constant(E.SwapRoles())
)

/** Apply what is accepted, skip what is refused; return the accepted events too. */
const run = (events: ReadonlyArray<Relationship.Event>) => {
  let s = Relationship.initial("A", "B")
  const accepted: Array<Relationship.Event> = []
  const states = [s]
  for (const e of events) {
    const r = Relationship.transition(s, e)
    if (Either.isRight(r)) {
      s = r.right
      accepted.push(e)
      states.push(s)
    }
  }
  return { final: s, accepted, states }
}

const ok = (s: Relationship.PairState, ...events: Array<Relationship.Event>) => {
  const r = Relationship.replay(s, events)
  if (Either.isLeft(r)) throw new Error(r.left.message)
  return r.right
}

describe("Relationship", () => {
  it("PAIR-4: breaking needs a successful sync right before", () => {
    const s0 = Relationship.initial("A", "B")
    const refused = Relationship.transition(s0, E.Break())
    expect(Either.isLeft(refused) && refused.left.message).toMatch(/PAIR-4/)
    const failedSync = ok(s0, E.SyncRequested(), E.SyncFinished({ ok: false }))
    expect(Either.isLeft(Relationship.transition(failedSync, E.Break()))).toBe(true)
    const broken = ok(s0, E.SyncRequested(), E.SyncFinished({ ok: true }), E.Break())
    expect(broken.relationship._tag).toBe("Broken")
    expect(Relationship.roles(broken)).toEqual({ A: "none", B: "none" })
  })

  it("PAIR-7: the relationship is established on the appliance that serves the site", () => {
    const broken = ok(Relationship.initial("A", "B"), E.SyncRequested(), E.SyncFinished({ ok: true }), E.Break())
    expect(Either.isLeft(Relationship.transition(broken, E.Establish({ primary: "B", backup: "A" })))).toBe(true)
    const switched = ok(broken, E.ReleaseSite({ appliance: "A" }), E.TakeSite({ appliance: "B" }))
    const est = ok(switched, E.Establish({ primary: "B", backup: "A" }))
    expect(est.relationship._tag).toBe("Establishing")
    expect(Relationship.roles(est)).toEqual({ B: "primary", A: "backup" })
  })

  it("PAIR-8: restored only after a successful sync after establishing", () => {
    const broken = ok(Relationship.initial("A", "B"), E.SyncRequested(), E.SyncFinished({ ok: true }), E.Break())
    const est = ok(broken, E.Establish({ primary: "A", backup: "B" }))
    expect(Relationship.isRestored(est)).toBe(false)
    expect(Relationship.isRestored(ok(est, E.SyncFinished({ ok: false })))).toBe(false)
    expect(Relationship.isRestored(ok(est, E.SyncFinished({ ok: true })))).toBe(true)
  })

  it("PAIR-10: become primary is refused while the primary responds", () => {
    const s0 = Relationship.initial("A", "B")
    const r = Relationship.transition(s0, E.BecomePrimary({ appliance: "B", primaryResponding: true }))
    expect(Either.isLeft(r) && r.left.message).toMatch(/PAIR-10/)
    const failover = ok(s0, E.BecomePrimary({ appliance: "B", primaryResponding: false }))
    expect(Relationship.roles(failover)).toEqual({ B: "primary", A: "backup" })
    expect(failover.serving).toEqual(["B"])
  })

  it("SWITCH-1: the new appliance cannot take the site before the old one releases it", () => {
    const broken = ok(Relationship.initial("A", "B"), E.SyncRequested(), E.SyncFinished({ ok: true }), E.Break())
    expect(Either.isLeft(Relationship.transition(broken, E.TakeSite({ appliance: "B" })))).toBe(true)
    expect(ok(broken, E.ReleaseSite({ appliance: "A" }), E.TakeSite({ appliance: "B" })).serving).toEqual(["B"])
  })

  it.prop(
    "never two appliances serving the site, never two primaries",
    [FastCheck.array(event, { maxLength: 60 })],
    ([events]) => {
      for (const s of run(events).states) {
        expect(s.serving.length).toBeLessThanOrEqual(1)
        const rs = Object.values(Relationship.roles(s))
        expect(rs.filter((x) => x === "primary").length).toBeLessThanOrEqual(1)
        if (s.relationship._tag !== "Broken") {
          // in a relationship the site follows the primary
          for (const who of s.serving) expect(Relationship.roles(s)[who]).toBe("primary")
        }
      }
    }
  )

  it.prop(
    "never restored without a successful sync after the last establish",
    [FastCheck.array(event, { maxLength: 60 })],
    ([events]) => {
      const { accepted, states } = run(events)
      let establishedSinceSync = false
      accepted.forEach((e, i) => {
        if (e._tag === "Establish") establishedSinceSync = true
        if (e._tag === "SyncFinished" && e.ok) establishedSinceSync = false
        const s = states[i + 1]!
        if (Relationship.isRestored(s)) expect(establishedSinceSync).toBe(false)
      })
    }
  )

  it.prop(
    "a break is only ever accepted right after a successful sync",
    [FastCheck.array(event, { maxLength: 60 })],
    ([events]) => {
      const { accepted } = run(events)
      accepted.forEach((e, i) => {
        if (e._tag === "Break") {
          const prev = accepted
            .slice(0, i)
            .filter((x) => x._tag !== "SwapRoles" && x._tag !== "ReleaseSite" && x._tag !== "TakeSite")
            .at(-1)
          expect(prev?._tag === "SyncFinished" && prev.ok).toBe(true)
        }
      })
    }
  )
})
