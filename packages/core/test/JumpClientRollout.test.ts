import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import * as Rollout from "../src/JumpClientRollout.js"

const input = FastCheck.record({
  active: FastCheck.integer({ min: 0, max: 50_000 }),
  passive: FastCheck.integer({ min: 0, max: 50_000 }),
  packageMiB: FastCheck.double({ min: 1, max: 500, noNaN: true }),
  bandwidthMiBps: FastCheck.double({ min: 0.5, max: 100, noNaN: true }),
  maxConcurrent: FastCheck.integer({ min: 1, max: 500 }),
  perClientMiBps: FastCheck.double({ min: 0.1, max: 50, noNaN: true }),
  linkMiBps: FastCheck.double({ min: 1, max: 1250, noNaN: true })
}).map((r) => new Rollout.RolloutInput(r))

const with_ = (i: Rollout.RolloutInput, patch: Partial<Rollout.RolloutInput>) =>
  new Rollout.RolloutInput({ ...i, ...patch })

describe("JumpClientRollout", () => {
  it("CLIENT-7: passive clients check in at least once every 24 hours: passiveCheckInHours above 24 is an error naming the rule", () => {
    const decode = Schema.decodeUnknownEither(Rollout.RolloutInput)
    const base = { active: 1, passive: 1, bandwidthMiBps: 10, maxConcurrent: 10 }
    expect(Either.isRight(decode({ ...base, passiveCheckInHours: 24 }))).toBe(true)
    expect(Either.isRight(decode({ ...base, passiveCheckInHours: 8 }))).toBe(true)
    const late = decode({ ...base, passiveCheckInHours: 36 })
    expect(Either.isLeft(late) && late.left.message).toMatch(/at least once every 24 hours \(CLIENT-7.*got 36/)
  })

  it("CLIENT-10: the wait deadline is whole minutes, so every rendering of it agrees", () => {
    FastCheck.assert(
      FastCheck.property(input, (i) => {
        expect(Rollout.waitDeadlineSeconds(i) % 60).toBe(0)
      })
    )
  })

  it("CLIENT-6: rejects settings beyond the project's assumed ceilings (100 MiB/s, 500 concurrent), saying they are assumptions", () => {
    const decode = Schema.decodeUnknownEither(Rollout.RolloutInput)
    expect(Either.isRight(decode({ active: 1, passive: 0, bandwidthMiBps: 100, maxConcurrent: 500 }))).toBe(true)
    expect(Either.isLeft(decode({ active: 1, passive: 0, bandwidthMiBps: 101, maxConcurrent: 500 }))).toBe(true)
    expect(Either.isLeft(decode({ active: 1, passive: 0, bandwidthMiBps: 100, maxConcurrent: 501 }))).toBe(true)
    expect(Either.isLeft(decode({ active: 1, passive: 0, bandwidthMiBps: 100, maxConcurrent: 0 }))).toBe(true)
    const fast = decode({ active: 1, passive: 0, bandwidthMiBps: 101, maxConcurrent: 500 })
    expect(Either.isLeft(fast) && fast.left.message).toMatch(/project's assumed ceiling, not a vendor figure/)
    const many = decode({ active: 1, passive: 0, bandwidthMiBps: 100, maxConcurrent: 501 })
    expect(Either.isLeft(many) && many.left.message).toMatch(/project's assumed ceiling, not a vendor figure/)
  })

  it("CLIENT-6: flags settings that would saturate the link and recommends a lower concurrency", () => {
    const e = Rollout.estimate(
      new Rollout.RolloutInput({
        active: 2000,
        passive: 0,
        packageMiB: 30,
        bandwidthMiBps: 100,
        maxConcurrent: 500,
        perClientMiBps: 2,
        linkMiBps: 100
      })
    )
    expect(e.saturatesLink).toBe(true)
    // half of a 100 MiB/s link at 2 MiB/s per client
    expect(e.recommendedConcurrency).toBe(25)
    expect(e.recommendedBandwidthMiBps).toBe(50)
    expect(e.explanation.join(" ")).toContain("Maximum number of concurrent Jump Client upgrades")
  })

  it("CLIENT-6: 1000 active clients, 30 MiB each, at 50 MiB/s take 600 s", () => {
    const e = Rollout.estimate(
      new Rollout.RolloutInput({ active: 1000, passive: 0, packageMiB: 30, bandwidthMiBps: 50, maxConcurrent: 100 })
    )
    expect(e.throughputMiBps).toBe(50)
    expect(e.activeSeconds).toBe(600)
    expect(e.finishSeconds).toBe(600)
  })

  it("CLIENT-7: passive clients are bounded by their 24 h check-in", () => {
    const e = Rollout.estimate(
      new Rollout.RolloutInput({ active: 10, passive: 100, packageMiB: 30, bandwidthMiBps: 50, maxConcurrent: 100 })
    )
    expect(e.passiveSeconds).toBeGreaterThanOrEqual(24 * 3600)
    expect(e.passiveSeconds).toBeLessThan(24 * 3600 + 3600)
    expect(e.activeSeconds).toBeLessThan(3600)
    expect(e.explanation.join(" ")).toContain("24 h")
  })

  it("CLIENT-10: the wait deadline covers the active rollout with a margin, and passive clients on request", () => {
    const i = new Rollout.RolloutInput({
      active: 5000,
      passive: 50,
      packageMiB: 30,
      bandwidthMiBps: 20,
      maxConcurrent: 50
    })
    const e = Rollout.estimate(i)
    expect(Rollout.waitDeadlineSeconds(i)).toBeGreaterThanOrEqual(e.activeSeconds * 1.5)
    expect(Rollout.waitDeadlineSeconds(i, { includePassive: true })).toBeGreaterThanOrEqual(e.finishSeconds)
    expect(Rollout.waitDeadlineSeconds(new Rollout.RolloutInput({ ...i, active: 1 }))).toBe(900)
  })

  it.prop(
    "CLIENT-6: finish time grows with the fleet and the package size",
    [input, FastCheck.nat(1000)],
    ([i, extra]) => {
      const e = Rollout.estimate(i)
      expect(Rollout.estimate(with_(i, { active: i.active + extra })).finishSeconds).toBeGreaterThanOrEqual(
        e.finishSeconds
      )
      expect(Rollout.estimate(with_(i, { passive: i.passive + extra })).finishSeconds).toBeGreaterThanOrEqual(
        e.finishSeconds
      )
      expect(Rollout.estimate(with_(i, { packageMiB: i.packageMiB * 2 })).finishSeconds).toBeGreaterThanOrEqual(
        e.finishSeconds
      )
    }
  )

  it.prop("CLIENT-6: finish time shrinks (or stays) with more bandwidth or concurrency", [input], ([i]) => {
    const e = Rollout.estimate(i)
    const moreBw = with_(i, { bandwidthMiBps: Math.min(100, i.bandwidthMiBps * 2) })
    const moreConc = with_(i, { maxConcurrent: Math.min(500, i.maxConcurrent * 2) })
    expect(Rollout.estimate(moreBw).finishSeconds).toBeLessThanOrEqual(e.finishSeconds)
    expect(Rollout.estimate(moreConc).finishSeconds).toBeLessThanOrEqual(e.finishSeconds)
  })

  it.prop(
    "CLIENT-6: recommendations stay within the vendor bounds and the allowed share of the link",
    [input],
    ([i]) => {
      const e = Rollout.estimate(i)
      expect(e.recommendedConcurrency).toBeGreaterThanOrEqual(1)
      expect(e.recommendedConcurrency).toBeLessThanOrEqual(500)
      expect(Number.isInteger(e.recommendedConcurrency)).toBe(true)
      expect(e.recommendedBandwidthMiBps).toBeGreaterThan(0)
      expect(e.recommendedBandwidthMiBps).toBeLessThanOrEqual(100)
      expect(e.recommendedBandwidthMiBps).toBeLessThanOrEqual(i.linkMiBps! * i.linkShare + 1e-9)
      // following the recommendation never saturates the link
      const followed = with_(i, {
        maxConcurrent: e.recommendedConcurrency,
        bandwidthMiBps: e.recommendedBandwidthMiBps
      })
      expect(Rollout.estimate(followed).saturatesLink).toBe(false)
    }
  )

  it.prop(
    "CLIENT-7: everyone is done no earlier than the data allows, and passive ones no earlier than their check-in",
    [input],
    ([i]) => {
      const e = Rollout.estimate(i)
      const total = i.active + i.passive
      expect(e.finishSeconds * e.throughputMiBps).toBeGreaterThanOrEqual(total * i.packageMiB * (1 - 1e-9))
      expect(e.throughputMiBps).toBeLessThanOrEqual(i.bandwidthMiBps)
      expect(e.throughputMiBps).toBeLessThanOrEqual(i.maxConcurrent * i.perClientMiBps + 1e-9)
      if (i.passive > 0) expect(e.passiveSeconds).toBeGreaterThanOrEqual(i.passiveCheckInHours * 3600)
      if (i.passive === 0) expect(e.passiveSeconds).toBe(0)
      expect(e.finishSeconds).toBe(Math.max(e.activeSeconds, e.passiveSeconds))
    }
  )
})
