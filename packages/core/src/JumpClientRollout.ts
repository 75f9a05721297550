/**
 * How long the Jump Client fleet takes to update itself after a site
 * upgrade, and how to throttle it (CLIENT-6, CLIENT-7, CLIENT-10).
 *
 * A fluid model, deliberately simple and documented in
 * `docs/core/jump-client-rollout.md`:
 *
 * - every client downloads one package of `packageMiB`;
 * - one client downloads at most `perClientMiBps`; the appliance serves at
 *   most `maxConcurrent` clients at once ("Maximum number of concurrent Jump
 *   Client upgrades", ≤ 500) and at most `bandwidthMiBps` in total ("Maximum
 *   bandwidth of concurrent Jump Client upgrades", ≤ 100 MiB/s). The two
 *   ceilings are the project's assumptions: the vendor's guide names the
 *   concurrency setting (CLIENT-6) but gives no bound for either;
 * - active clients queue right after the server upgrade; passive ones at
 *   their next check-in, at the latest `passiveCheckInHours` (24 h) later.
 *
 * Pure functions; no I/O, no clock.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Ceiling of the bandwidth setting, MiB/s: the project's assumption (the
 * vendor's upgrade guide gives none).
 *
 * @since 0.1.0
 * @category models
 */
export const MAX_BANDWIDTH_MIBPS = 100

/**
 * Ceiling of the concurrent-upgrades setting: the project's assumption (the
 * vendor's upgrade guide gives none).
 *
 * @since 0.1.0
 * @category models
 */
export const MAX_CONCURRENT_UPGRADES = 500

/**
 * Passive clients check in at least this often (CLIENT-7).
 *
 * @since 0.1.0
 * @category models
 */
export const PASSIVE_CHECK_IN_HOURS = 24

/**
 * The fleet and the settings to model.
 *
 * @since 0.1.0
 * @category models
 */
export class RolloutInput extends Schema.Class<RolloutInput>("RolloutInput")({
  /** Active Jump Clients (check in right after the server upgrade). */
  active: Schema.Number.pipe(Schema.int(), Schema.nonNegative()),
  /** Passive Jump Clients (check in within 24 h). */
  passive: Schema.Number.pipe(Schema.int(), Schema.nonNegative()),
  /** Size of one client update, MiB (default 30, an assumption: measure yours). */
  packageMiB: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 30 }),
  /** "Maximum bandwidth of concurrent Jump Client upgrades", MiB/s (≤ 100). */
  bandwidthMiBps: Schema.Number.pipe(
    Schema.positive(),
    Schema.lessThanOrEqualTo(MAX_BANDWIDTH_MIBPS, {
      message: (issue) =>
        `bandwidthMiBps above ${MAX_BANDWIDTH_MIBPS} MiB/s is refused (the project's assumed ceiling, not a vendor figure), got ${String(issue.actual)}`
    })
  ),
  /** "Maximum number of concurrent Jump Client upgrades" (≤ 500). */
  maxConcurrent: Schema.Number.pipe(
    Schema.int(),
    Schema.between(1, MAX_CONCURRENT_UPGRADES, {
      message: (issue) =>
        `maxConcurrent must be between 1 and ${MAX_CONCURRENT_UPGRADES} (the project's assumed ceiling, not a vendor figure), got ${String(issue.actual)}`
    })
  ),
  /** What one endpoint downloads at, MiB/s (default 2). */
  perClientMiBps: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 2 }),
  /** Capacity of the appliance's uplink, MiB/s, when known. */
  linkMiBps: Schema.optional(Schema.Number.pipe(Schema.positive())),
  /** Share of the link the rollout may use (default 0.5: leave room for sessions). */
  linkShare: Schema.optionalWith(Schema.Number.pipe(Schema.greaterThan(0), Schema.lessThanOrEqualTo(1)), {
    default: () => 0.5
  }),
  /** Hours between two check-ins of a passive client: at most 24 (the guide, l.70: "at least once every 24 hours"). */
  passiveCheckInHours: Schema.optionalWith(
    Schema.Number.pipe(
      Schema.positive(),
      Schema.lessThanOrEqualTo(PASSIVE_CHECK_IN_HOURS, {
        message: (issue) =>
          `passive Jump Clients check in at least once every 24 hours (CLIENT-7, guide l.70): passiveCheckInHours must be at most 24, got ${String(issue.actual)}`
      })
    ),
    {
      default: () => PASSIVE_CHECK_IN_HOURS
    }
  )
}) {}

/**
 * What the model predicts.
 *
 * @since 0.1.0
 * @category models
 */
export interface RolloutEstimate {
  /** Aggregate download rate with the given settings, MiB/s. */
  readonly throughputMiBps: number
  /** When the last active client has updated, seconds after the server upgrade. */
  readonly activeSeconds: number
  /** Upper bound for the last passive client (its 24 h check-in plus the download and any backlog). */
  readonly passiveSeconds: number
  /** When every client has updated (the larger of the two). */
  readonly finishSeconds: number
  /** The rollout's load would exceed the allowed share of the link. */
  readonly saturatesLink: boolean
  /** Concurrency that reaches the useful rate without overloading the link (1..500). */
  readonly recommendedConcurrency: number
  /** Bandwidth setting to use, MiB/s (≤ 100, ≤ the allowed share of the link). */
  readonly recommendedBandwidthMiBps: number
  /** Human explanation, one sentence a line. */
  readonly explanation: ReadonlyArray<string>
}

/**
 * The rate the rollout may use: the bandwidth setting, capped by the allowed
 * share of the link when the link is known.
 *
 * @since 0.1.0
 * @category combinators
 */
export const allowedRate = (input: RolloutInput): number =>
  Math.min(
    MAX_BANDWIDTH_MIBPS,
    input.linkMiBps === undefined
      ? input.bandwidthMiBps
      : Math.min(input.bandwidthMiBps, input.linkMiBps * input.linkShare)
  )

/**
 * Aggregate download rate with the configured settings, MiB/s.
 *
 * @since 0.1.0
 * @category combinators
 */
export const throughput = (input: RolloutInput): number =>
  Math.min(input.bandwidthMiBps, input.maxConcurrent * input.perClientMiBps)

const fmt = (seconds: number): string => {
  if (seconds < 90) return `${Math.ceil(seconds)} s`
  if (seconds < 5400) return `${Math.ceil(seconds / 60)} min`
  return `${(seconds / 3600).toFixed(1)} h`
}

/**
 * Estimate the rollout and recommend settings.
 *
 * @since 0.1.0
 * @category combinators
 */
export const estimate = (input: RolloutInput): RolloutEstimate => {
  const rate = throughput(input)
  const oneDownload = input.packageMiB / Math.min(input.perClientMiBps, rate)
  const total = input.active + input.passive
  const activeSeconds = input.active === 0 ? 0 : Math.max(oneDownload, (input.active * input.packageMiB) / rate)
  const checkIn = input.passiveCheckInHours * 3600
  const passiveSeconds = input.passive === 0 ? 0 : Math.max(checkIn + oneDownload, (total * input.packageMiB) / rate)
  const finishSeconds = Math.max(activeSeconds, passiveSeconds)

  const allowed = allowedRate(input)
  const recommendedConcurrency = Math.max(
    1,
    Math.min(MAX_CONCURRENT_UPGRADES, Math.floor(allowed / input.perClientMiBps))
  )
  const recommendedBandwidthMiBps = Math.min(allowed, recommendedConcurrency * input.perClientMiBps)
  const saturatesLink = input.linkMiBps !== undefined && rate > input.linkMiBps * input.linkShare

  const explanation: Array<string> = [
    `${total} Jump Client(s) (${input.active} active, ${input.passive} passive) download ${input.packageMiB} MiB each at up to ${rate.toFixed(1)} MiB/s in total (${input.maxConcurrent} concurrent × ${input.perClientMiBps} MiB/s, capped at ${input.bandwidthMiBps} MiB/s).`
  ]
  if (input.active > 0)
    explanation.push(`Active clients check in right after the upgrade and finish in about ${fmt(activeSeconds)}.`)
  if (input.passive > 0)
    explanation.push(
      `Passive clients check in at start-up, when a console connects, or at least every ${input.passiveCheckInHours} h: allow up to ${fmt(passiveSeconds)} for the last one.`
    )
  if (saturatesLink)
    explanation.push(
      `These settings use more than ${Math.round(input.linkShare * 100)}% of the ${input.linkMiBps} MiB/s link: lower "Maximum number of concurrent Jump Client upgrades" to ${recommendedConcurrency} (/login > Jump > Jump Clients).`
    )
  else
    explanation.push(
      `Recommended: ${recommendedConcurrency} concurrent upgrades, bandwidth ${recommendedBandwidthMiBps.toFixed(1)} MiB/s.`
    )
  return {
    throughputMiBps: rate,
    activeSeconds,
    passiveSeconds,
    finishSeconds,
    saturatesLink,
    recommendedConcurrency,
    recommendedBandwidthMiBps,
    explanation
  }
}

/**
 * Deadline for the CLIENT-10 wait (all Jump Clients reconnected): the
 * estimate with a safety margin (default +50%, at least 15 minutes).
 * `includePassive: false` waits only for active clients, as plans usually
 * do before the next upgrade step (passive ones may take a day).
 *
 * @since 0.1.0
 * @category combinators
 */
export const waitDeadlineSeconds = (
  input: RolloutInput,
  options?: { readonly includePassive?: boolean; readonly margin?: number }
): number => {
  const e = estimate(input)
  const base = options?.includePassive === true ? e.finishSeconds : e.activeSeconds
  const margin = options?.margin ?? 0.5
  // whole minutes, so that every rendering of it (minutes rounded up, "26m" floored) says the same
  return Math.ceil(Math.max(900, base * (1 + margin)) / 60) * 60
}
