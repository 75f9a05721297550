/**
 * The rollout planner: `plan(fleet, { now })` turns a {@link FleetFile.Fleet}
 * into a {@link RolloutPlan}, a value (JSON round-trip) that says which site
 * is in which wave, when each site can start at the earliest, how long it is
 * expected to take, where that estimate comes from and whether it fits the
 * site's windows. Pure: no I/O, no clock (`now` is given).
 *
 * Assumptions of the earliest starts (also printed with every plan):
 * - waves run one after the other: a wave starts once every site of the
 *   wave before it has finished, and a wave approval is given the moment it
 *   is asked for;
 * - every site succeeds in its estimated time; at most `concurrency` sites
 *   are in flight, and a failover pair holds its slot from its first window
 *   until the end of its second (PAIR-1);
 * - a site starts only inside one of its windows with enough of it left for
 *   its work (or inside its longest window, when no window is long enough:
 *   then the plan warns) — the rule {@link Admission} applies at run time.
 *
 * Estimates: with `current` versions in the fleet file, the site's own plan
 * (core's single-appliance planner, failover's synchronous or asynchronous
 * planner) and its `estimatedSeconds`; without them, the install times of
 * the packages that lead to the target (core's PREP-3 estimate from the
 * appliance's stored data).
 *
 * @since 0.3.0
 */
import { MaintenanceWindow, Plan, Site, SingleUpgrade, Version } from "@sra-upgrade/core"
import { PairPlan } from "@sra-upgrade/failover"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as FleetFile from "./FleetFile.js"
import * as Schedule from "./internal/schedule.js"
import * as SiteWindow from "./SiteWindow.js"

// ---------------------------------------------------------------------------
// the plan value
// ---------------------------------------------------------------------------

/**
 * Where a site's estimate comes from: its own plan (`single-plan`,
 * `sync-pair-plan`, `async-pair-plan`, when the fleet file gives `current`
 * versions), the install times of the packages alone (`install-estimate`),
 * or nothing to do (`already-at-target`).
 *
 * @since 0.3.0
 * @category models
 */
export const EstimateSource = Schema.Literal(
  "single-plan",
  "sync-pair-plan",
  "async-pair-plan",
  "install-estimate",
  "already-at-target"
)

/**
 * @since 0.3.0
 * @category models
 */
export type EstimateSource = typeof EstimateSource.Type

/**
 * How long a site's upgrade is expected to take.
 *
 * @since 0.3.0
 * @category models
 */
export class SiteEstimate extends Schema.Class<SiteEstimate>("SiteEstimate")({
  source: EstimateSource,
  /** Work in the first (or only) window, seconds. */
  firstWindowSeconds: Schema.Number,
  /** Failover pairs: work in the second window, seconds (PAIR-1). */
  secondWindowSeconds: Schema.optional(Schema.Number),
  explanation: Schema.String
}) {
  /**
   * All the work, seconds (the wait between a pair's windows excluded).
   *
   * @since 0.3.0
   */
  get seconds(): number {
    return this.firstWindowSeconds + (this.secondWindowSeconds ?? 0)
  }
}

/**
 * The plan of one site in the rollout.
 *
 * @since 0.3.0
 * @category models
 */
export class SitePlan extends Schema.Class<SitePlan>("RolloutSitePlan")({
  id: Schema.String,
  /** The site file as written, and resolved. */
  file: Schema.String,
  path: Schema.String,
  hostname: Schema.String,
  product: FleetFile.Product,
  kind: Schema.Literal("single", "sync-pair", "async-pair"),
  group: Schema.optional(Schema.String),
  /** Index of its wave. */
  wave: Schema.Number,
  timeZone: Schema.String,
  windows: Schema.Array(SiteWindow.WeeklyWindow),
  targetVersion: Schema.String,
  method: Schema.optional(FleetFile.PairMethod),
  current: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  estimate: SiteEstimate,
  /** The first time its windows admit its work at or after `plannedAt`, waves and cap aside. */
  nextOpening: Schema.optional(Schema.Date),
  /** When it can start at the earliest, waves and cap included (none: not within the horizon). */
  earliestStart: Schema.optional(Schema.Date),
  firstWindow: Schema.optional(SiteWindow.Opening),
  /** Failover pairs: the window of the second appliance. */
  secondWindow: Schema.optional(SiteWindow.Opening),
  estimatedEnd: Schema.optional(Schema.Date),
  /** The work of each window fits the longest of the site's windows. */
  fitsWindow: Schema.Boolean,
  warnings: Schema.Array(Schema.String)
}) {}

/**
 * One wave of the rollout.
 *
 * @since 0.3.0
 * @category models
 */
export class WavePlan extends Schema.Class<WavePlan>("RolloutWavePlan")({
  index: Schema.Number,
  name: Schema.String,
  canary: Schema.Boolean,
  /** An approval is needed before it starts. */
  approval: Schema.Boolean,
  sites: Schema.Array(Schema.String),
  earliestStart: Schema.optional(Schema.Date),
  estimatedEnd: Schema.optional(Schema.Date)
}) {}

/**
 * The rollout plan: waves, sites, starts, estimates, warnings.
 *
 * @since 0.3.0
 * @category models
 */
export class RolloutPlan extends Schema.Class<RolloutPlan>("RolloutPlan")({
  rolloutId: Schema.String,
  name: Schema.String,
  /** The fleet file it was planned from. */
  file: Schema.String,
  plannedAt: Schema.Date,
  target: FleetFile.TargetVersions,
  concurrency: Schema.Number,
  failureBudget: FleetFile.FailureBudget,
  /** Failed sites tolerated; one more halts admission. */
  allowedFailures: Schema.Number,
  waves: Schema.Array(WavePlan),
  /** Every site, wave by wave, in file order within a wave. */
  sites: Schema.Array(SitePlan),
  estimatedEnd: Schema.optional(Schema.Date),
  assumptions: Schema.Array(Schema.String),
  warnings: Schema.Array(Schema.String)
}) {
  /**
   * The plan of the site with this id.
   *
   * @since 0.3.0
   */
  site(id: string): SitePlan | undefined {
    return this.sites.find((s) => s.id === id)
  }

  /**
   * The sites of a wave, in order.
   *
   * @since 0.3.0
   */
  sitesOf(wave: number): ReadonlyArray<SitePlan> {
    return this.sites.filter((s) => s.wave === wave)
  }
}

// ---------------------------------------------------------------------------
// estimates
// ---------------------------------------------------------------------------

const PAIR_MAX_INTERVAL_HOURS = Schedule.PAIR_MAX_INTERVAL_MS / 3_600_000

const toMaintenanceWindow = (site: string, o: SiteWindow.Opening) =>
  new MaintenanceWindow.MaintenanceWindow({
    label: `${site} ${o.scheduled} (${o.timeZone})`,
    start: o.start,
    durationMinutes: Math.max(1, Math.round(o.seconds / 60))
  })

/** PREP-3 install minutes of the packages that lead to the target on one appliance. */
const installEstimate = (site: Site.Site, appliance: Site.Appliance, target: string) => {
  const wanted = Either.getOrUndefined(Version.parse(target))
  const byId = new Map(site.updates.map((p) => [p.id, p]))
  const root = site.updates.find(
    (p) =>
      p.kind === "site" &&
      p.productVersion !== undefined &&
      wanted !== undefined &&
      Version.matches(p.productVersion, wanted)
  )
  if (root === undefined) {
    const e = Site.estimateInstallMinutes(appliance.storedDataGb, { kind: "site", id: `product ${target}` })
    return { minutes: e.minutes, explanation: `${appliance.id}: ${e.explanation}` }
  }
  const chain: Array<typeof root> = []
  const visit = (id: string) => {
    const p = byId.get(id)
    if (p === undefined || chain.includes(p)) return
    chain.push(p)
    p.requires.forEach(visit)
  }
  visit(root.id)
  const parts = chain.reverse().map((p) => Site.estimateInstallMinutes(appliance.storedDataGb, p))
  return {
    minutes: parts.reduce((n, e) => n + e.minutes, 0),
    explanation: `${appliance.id}: ${parts.map((e) => e.explanation).join(" ")}`
  }
}

const splitAtSecondWindow = (plan: Plan.Plan) => {
  const windows = plan.steps.flatMap((s, i) => (s._tag === "Window" ? [i] : []))
  const cut = windows.length >= 2 ? windows[windows.length - 1]! : plan.steps.length
  const work = (steps: ReadonlyArray<Plan.Step>) =>
    steps.reduce((n, s) => n + (s._tag === "Window" ? 0 : s.estimatedSeconds), 0)
  return { first: work(plan.steps.slice(0, cut)), second: work(plan.steps.slice(cut)) }
}

const estimateSite = (
  fs: FleetFile.FleetSite,
  now: Date
): { readonly estimate: SiteEstimate; readonly warnings: ReadonlyArray<string> } => {
  const site = fs.site
  const target = fs.targetVersion
  const warnings: Array<string> = []
  const wanted = Version.parse(target)
  if (fs.current !== undefined && Either.isRight(wanted)) {
    const cur = fs.current
    const parsed = site.appliances.map((a) => Version.parse(cur[a.id] ?? ""))
    if (parsed.every((p) => Either.isRight(p) && Version.matches(p.right, wanted.right)))
      return {
        estimate: new SiteEstimate({
          source: "already-at-target",
          firstWindowSeconds: 0,
          explanation: `every appliance already runs ${target}: nothing to install (the run verifies it by API)`
        }),
        warnings: [`already runs ${target}: nothing to install`]
      }
    const w1 = SiteWindow.currentOrNext(fs.windows, now)
    const w2 = Option.flatMap(w1, (o) => SiteWindow.nextOpening(fs.windows, o.end))
    if (Option.isSome(w1)) {
      const planned: Either.Either<Plan.Plan, { readonly message: string }> = !site.isPair
        ? SingleUpgrade.planSingleUpgrade(site, target, {
            current: { product: cur[site.appliances[0]!.id]! },
            window: toMaintenanceWindow(fs.id, w1.value),
            now
          })
        : Option.isNone(w2)
          ? Either.left({ message: "no second window" })
          : (fs.method === "sync" ? PairPlan.planSynchronous : PairPlan.planAsynchronous)(site, target, {
              current: Object.fromEntries(site.appliances.map((a) => [a.id, { product: cur[a.id]! }])),
              windows: [toMaintenanceWindow(fs.id, w1.value), toMaintenanceWindow(fs.id, w2.value)],
              maxIntervalHours: 24 * 9
            })
      if (Either.isRight(planned)) {
        const plan = planned.right
        const source: EstimateSource =
          fs.kind === "single" ? "single-plan" : fs.kind === "sync-pair" ? "sync-pair-plan" : "async-pair-plan"
        if (!site.isPair)
          return {
            estimate: new SiteEstimate({
              source,
              firstWindowSeconds: plan.estimatedSeconds,
              explanation: `the site's ${plan.kind} plan from ${cur[site.appliances[0]!.id]} (${plan.steps.length} steps): ${Plan.formatDuration(plan.estimatedSeconds)} of work`
            }),
            warnings
          }
        const split = splitAtSecondWindow(plan)
        return {
          estimate: new SiteEstimate({
            source,
            firstWindowSeconds: split.first,
            secondWindowSeconds: split.second,
            explanation: `the site's ${plan.kind} plan (${plan.steps.length} steps): ${Plan.formatDuration(split.first)} of work up to and in window 1, ${Plan.formatDuration(split.second)} in window 2`
          }),
          warnings
        }
      }
      warnings.push(
        `its plan cannot be built yet (${planned.left.message.split("\n")[0]}); the estimate counts install times only`
      )
    }
  }
  // install times only (PREP-3)
  if (!site.isPair) {
    const e = installEstimate(site, site.appliances[0]!, target)
    return {
      estimate: new SiteEstimate({
        source: "install-estimate",
        firstWindowSeconds: e.minutes * 60,
        explanation: `install time only, no current version given (PREP-3). ${e.explanation}`
      }),
      warnings
    }
  }
  const primary = site.primary
  const backup = site.appliances.find((a) => a !== primary)!
  const [one, two] = fs.method === "sync" ? [primary, backup] : [backup, primary]
  const e1 = installEstimate(site, one, target)
  const e2 = installEstimate(site, two, target)
  return {
    estimate: new SiteEstimate({
      source: "install-estimate",
      firstWindowSeconds: e1.minutes * 60,
      secondWindowSeconds: e2.minutes * 60,
      explanation: `install times only, no current versions given (PREP-3); window 1: ${e1.explanation} Window 2: ${e2.explanation}`
    }),
    warnings
  }
}

// ---------------------------------------------------------------------------
// the planner
// ---------------------------------------------------------------------------

/**
 * What every rollout plan assumes (printed with it).
 *
 * @since 0.3.0
 * @category models
 */
export const assumptions: ReadonlyArray<string> = [
  "Waves run one after the other: a wave starts once every site of the wave before it has finished (succeeded, failed or skipped); approvals are assumed to be given as soon as they are asked for.",
  "Every site succeeds in its estimated time; a failover pair holds its slot of the concurrency cap from its first window until the end of its second (PAIR-1).",
  "A site starts only inside one of its windows with enough of the window left for its work; when no window is long enough, inside its longest window (and the plan warns)."
]

/**
 * Options of {@link plan}.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /** The instant the plan starts from. */
  readonly now: Date
  /** Sites that cannot start within this many days are reported, not placed (default 400). */
  readonly horizonDays?: number | undefined
}

/**
 * Plan the rollout: waves, per-site estimates and earliest starts.
 *
 * @since 0.3.0
 * @category constructors
 */
export const plan = (fleet: FleetFile.Fleet, options: Options): RolloutPlan => {
  const now = options.now
  const waveOf = new Map<string, number>()
  for (const w of fleet.waves) for (const id of w.sites) waveOf.set(id, w.index)
  const ordered = fleet.waves.flatMap((w) => w.sites.map((id) => fleet.site(id)!))
  const estimates = new Map(ordered.map((fs) => [fs.id, estimateSite(fs, now)]))
  const schedSites = Schedule.sitesOf(
    ordered.map((fs) => ({
      id: fs.id,
      wave: waveOf.get(fs.id)!,
      windows: fs.windows,
      kind: fs.kind,
      estimate: estimates.get(fs.id)!.estimate
    }))
  )
  const sim = Schedule.simulate({
    sites: schedSites,
    cap: fleet.concurrency,
    now: now.getTime(),
    inFlight: new Map(),
    done: new Set(),
    horizonMs: (options.horizonDays ?? 400) * 86_400_000
  })
  const sites = ordered.map((fs, n) => {
    const { estimate, warnings: estimateWarnings } = estimates.get(fs.id)!
    const warnings = [...estimateWarnings]
    const longest = SiteWindow.longestSeconds(fs.windows)
    const fits = estimate.firstWindowSeconds <= longest && (estimate.secondWindowSeconds ?? 0) <= longest
    if (!fits)
      warnings.push(
        `${Plan.formatDuration(Math.max(estimate.firstWindowSeconds, estimate.secondWindowSeconds ?? 0))} of work in one window but its longest window lasts ${Plan.formatDuration(longest)}: it would overrun (PREP-3, PREP-4); lengthen a window`
      )
    const p = sim.placements.get(fs.id)
    if (p === undefined)
      warnings.push(
        `cannot start within ${options.horizonDays ?? 400} days of ${now.toISOString()} (waves, cap and windows)`
      )
    const second = p === undefined ? Option.none() : p.secondWindow
    const first = p === undefined ? Option.none() : p.firstWindow
    if (Option.isSome(first) && Option.isSome(second)) {
      const gap = (second.value.start.getTime() - first.value.end.getTime()) / 3_600_000
      if (gap > PAIR_MAX_INTERVAL_HOURS)
        warnings.push(
          `PAIR-1: ${gap.toFixed(0)} h between its two windows (the pair has no failover protection meanwhile; the pair planner allows ${PAIR_MAX_INTERVAL_HOURS} h): add a window on a nearby day`
        )
    }
    const next = Schedule.nextAdmissible(schedSites[n]!, now.getTime())
    return new SitePlan(
      {
        id: fs.id,
        file: fs.file,
        path: fs.path,
        hostname: fs.site.hostname,
        product: fs.site.product,
        kind: fs.kind,
        ...(fs.group !== undefined ? { group: fs.group } : {}),
        wave: waveOf.get(fs.id)!,
        timeZone: fs.timeZone,
        windows: fs.windows,
        targetVersion: fs.targetVersion,
        ...(fs.method !== undefined ? { method: fs.method } : {}),
        ...(fs.current !== undefined ? { current: fs.current } : {}),
        estimate,
        ...(Number.isFinite(next) ? { nextOpening: new Date(next) } : {}),
        ...(p !== undefined ? { earliestStart: new Date(p.start), estimatedEnd: new Date(p.end) } : {}),
        ...(Option.isSome(first) ? { firstWindow: first.value } : {}),
        ...(Option.isSome(second) ? { secondWindow: second.value } : {}),
        fitsWindow: fits,
        warnings
      },
      true
    )
  })
  const waves = fleet.waves.map((w) => {
    const ps = sites.filter((s) => s.wave === w.index)
    const starts = ps.flatMap((s) => (s.earliestStart === undefined ? [] : [s.earliestStart.getTime()]))
    const ends = ps.flatMap((s) => (s.estimatedEnd === undefined ? [] : [s.estimatedEnd.getTime()]))
    const complete = ends.length === ps.length
    return new WavePlan({
      index: w.index,
      name: w.name,
      canary: w.index === 0,
      approval: w.approval,
      sites: w.sites,
      ...(starts.length > 0 ? { earliestStart: new Date(Math.min(...starts)) } : {}),
      ...(complete && ends.length > 0 ? { estimatedEnd: new Date(Math.max(...ends)) } : {})
    })
  })
  const warnings: Array<string> = []
  if (sim.unplaced.length > 0)
    warnings.push(`${sim.unplaced.length} site(s) cannot start within the horizon: ${sim.unplaced.join(", ")}`)
  const overrun = sites.filter((s) => !s.fitsWindow).map((s) => s.id)
  if (overrun.length > 0) warnings.push(`estimated work exceeds every window of: ${overrun.join(", ")}`)
  return new RolloutPlan(
    {
      rolloutId: fleet.id,
      name: fleet.name,
      file: fleet.file,
      plannedAt: now,
      target: fleet.target,
      concurrency: fleet.concurrency,
      failureBudget: fleet.failureBudget,
      allowedFailures: fleet.allowedFailures,
      waves,
      sites,
      ...(sim.end !== undefined ? { estimatedEnd: new Date(sim.end) } : {}),
      assumptions,
      warnings
    },
    true
  )
}

// ---------------------------------------------------------------------------
// JSON and renderers
// ---------------------------------------------------------------------------

/**
 * Encode a rollout plan to JSON text.
 *
 * @since 0.3.0
 * @category combinators
 */
export const toJson = (rollout: RolloutPlan): string => JSON.stringify(Schema.encodeSync(RolloutPlan)(rollout), null, 2)

/**
 * Decode a rollout plan from JSON text.
 *
 * @since 0.3.0
 * @category constructors
 */
export const fromJson = Schema.decode(Schema.parseJson(RolloutPlan))

const local = (s: SitePlan, d: Date | undefined) => (d === undefined ? "—" : SiteWindow.formatLocal(s.timeZone, d))
const utc = (d: Date | undefined) => (d === undefined ? "—" : `${d.toISOString().slice(0, 16).replace("T", " ")}Z`)

const targetLine = (t: FleetFile.TargetVersions) =>
  [t.pra !== undefined ? `pra ${t.pra}` : undefined, t.rs !== undefined ? `rs ${t.rs}` : undefined]
    .filter((x) => x !== undefined)
    .join(", ")

const budgetLine = (r: RolloutPlan) =>
  `${r.failureBudget.percent !== undefined ? `${r.failureBudget.percent}% of ${r.sites.length} sites: ` : ""}${r.allowedFailures} failed site(s) tolerated; failure number ${r.allowedFailures + 1} halts admission`

const kindLabel: Record<SitePlan["kind"], string> = {
  single: "single",
  "sync-pair": "pair (sync)",
  "async-pair": "pair (async)"
}

const work = (s: SitePlan) =>
  s.estimate.secondWindowSeconds === undefined
    ? Plan.formatDuration(s.estimate.firstWindowSeconds)
    : `${Plan.formatDuration(s.estimate.firstWindowSeconds)} + ${Plan.formatDuration(s.estimate.secondWindowSeconds)}`

const escape = (s: string) => s.replace(/\|/g, "\\|")

/**
 * Render the plan as Markdown: the rollout, then one table per wave, the
 * warnings and the assumptions.
 *
 * @since 0.3.0
 * @category combinators
 */
export const toMarkdown = (r: RolloutPlan): string => {
  const approvals = r.waves.filter((w) => w.approval).map((w) => w.index + 1)
  const lines: Array<string> = [
    `# Rollout ${r.rolloutId}${r.name !== r.rolloutId ? `: ${r.name}` : ""}`,
    "",
    `- Fleet file: \`${r.file}\``,
    `- Planned from: ${utc(r.plannedAt)}`,
    `- Target: ${targetLine(r.target)}`,
    `- ${r.sites.length} site(s) in ${r.waves.length} wave(s), at most ${r.concurrency} at once`,
    `- Failure budget: ${budgetLine(r)}`,
    `- Approvals: ${approvals.length === 0 ? "none" : `before wave ${approvals.join(", ")}`}`,
    `- Estimated end: ${utc(r.estimatedEnd)}`,
    ""
  ]
  for (const w of r.waves) {
    const ps = r.sitesOf(w.index)
    lines.push(
      `## Wave ${w.index + 1}: ${w.name}${w.canary && w.name !== "canary" ? " (canary)" : ""}`,
      "",
      `${ps.length} site(s); ${w.approval ? "approval needed before it starts; " : ""}earliest start ${utc(w.earliestStart)}, estimated end ${utc(w.estimatedEnd)}.`,
      "",
      "| site | kind | time zone | earliest start (local) | work | estimated end (local) | fits | estimate from |",
      "| --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    for (const s of ps)
      lines.push(
        `| ${escape(s.id)} | ${kindLabel[s.kind]} | ${s.timeZone} | ${local(s, s.earliestStart)} | ${work(s)} | ${local(s, s.estimatedEnd)} | ${s.fitsWindow ? "yes" : "**no**"} | ${s.estimate.source} |`
      )
    const warned = ps.filter((s) => s.warnings.length > 0)
    if (warned.length > 0) {
      lines.push("")
      for (const s of warned) for (const m of s.warnings) lines.push(`- ⚠ ${s.id}: ${m}`)
    }
    lines.push("")
  }
  if (r.warnings.length > 0) {
    lines.push("## Warnings", "")
    for (const m of r.warnings) lines.push(`- ${m}`)
    lines.push("")
  }
  lines.push("## Estimates", "")
  for (const s of r.sites) lines.push(`- ${s.id}: ${s.estimate.explanation}`)
  lines.push("", "## Assumptions", "")
  for (const a of r.assumptions) lines.push(`- ${a}`)
  return lines.join("\n")
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + " ".repeat(n - s.length))

/**
 * Render the plan as a fixed-width terminal table, one line per site.
 *
 * @since 0.3.0
 * @category combinators
 */
export const toTable = (r: RolloutPlan): string => {
  const header = [
    "wave",
    "site",
    "kind",
    "time zone",
    "earliest start (local)",
    "work",
    "estimated end (local)",
    "fits"
  ]
  const rows = r.sites.map((s) => [
    `${s.wave + 1}${r.waves[s.wave]?.approval ? "*" : ""}`,
    s.id,
    kindLabel[s.kind],
    s.timeZone,
    local(s, s.earliestStart),
    work(s),
    local(s, s.estimatedEnd),
    s.fitsWindow ? "yes" : "NO"
  ])
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)))
  const line = (row: ReadonlyArray<string>) =>
    row
      .map((cell, c) => pad(cell, widths[c]!))
      .join("  ")
      .trimEnd()
  const warnings = r.sites.flatMap((s) => s.warnings.map((m) => `! ${s.id}: ${m}`))
  return [
    `${r.name} (${r.rolloutId}) → ${targetLine(r.target)}; cap ${r.concurrency}; budget ${r.allowedFailures}; * = approval before the wave`,
    line(header),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...rows.map(line),
    `estimated end ${utc(r.estimatedEnd)}`,
    ...warnings,
    ...r.warnings.map((m) => `! ${m}`)
  ].join("\n")
}
