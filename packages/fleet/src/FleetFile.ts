/**
 * The fleet file: a YAML or JSON description of a rollout over many sites
 * (reference: `docs/fleet.md`). It names each site by its site file
 * (relative to the fleet file), the site's recurring maintenance windows in
 * its IANA time zone, the method of each failover pair (PREP-7), the target
 * version per product, the waves (a canary, then sizes, percentages or
 * groups), the concurrency cap, the failure budget and the approvals
 * between waves.
 *
 * Decoding is in two stages, both with errors that name the field path and
 * say what to edit: {@link decodeSpec} checks the file alone (pure), then
 * {@link make} checks it against the decoded site files (pure);
 * {@link decodeFleetFile} reads the files and does both.
 *
 * @since 0.3.0
 */
import { Site, Version } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { readFile } from "node:fs/promises"
import { basename, dirname, extname, isAbsolute, normalize, resolve } from "node:path"
import * as SiteWindow from "./SiteWindow.js"

// ---------------------------------------------------------------------------
// the file as written
// ---------------------------------------------------------------------------

const Id = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
    message: (issue) =>
      `expected an id of letters, digits, '.', '_' or '-' (at most 64), got ${JSON.stringify(issue.actual)}`
  })
)

/**
 * A product version as text (`"24.3.2"`), checked with core's `Version.parse`.
 *
 * @since 0.3.0
 * @category models
 */
export const VersionText = Schema.String.pipe(
  Schema.filter(
    (s) =>
      Either.isRight(Version.parse(s)) ||
      `expected a product version like "24.3.2" (quote it in YAML), got ${JSON.stringify(s)}`
  )
)

/**
 * The product of a site, as core's `Site` names it.
 *
 * @since 0.3.0
 * @category models
 */
export const Product = Schema.Literal("pra", "rs")

/**
 * @since 0.3.0
 * @category models
 */
export type Product = typeof Product.Type

/**
 * The version to reach per product: `{ pra: "24.3.2", rs: "24.3.1" }`.
 *
 * @since 0.3.0
 * @category models
 */
export class TargetVersions extends Schema.Class<TargetVersions>("TargetVersions")(
  Schema.Struct({ pra: Schema.optional(VersionText), rs: Schema.optional(VersionText) }).pipe(
    Schema.filter((t) => t.pra !== undefined || t.rs !== undefined || "give a version for pra, rs or both")
  )
) {
  /**
   * The target of a product, if the rollout gives one.
   *
   * @since 0.3.0
   */
  of(product: Product): string | undefined {
    return this[product]
  }
}

/**
 * `target`: one version for every product (`"24.3.2"`) or a map per product.
 *
 * @since 0.3.0
 * @category models
 */
export const Target = Schema.Union(VersionText, TargetVersions)

/**
 * A window as written under a site: the time zone may come from the site.
 *
 * @since 0.3.0
 * @category models
 */
export const WindowEntry = Schema.Struct({
  ...SiteWindow.WeeklyWindow.fields,
  timeZone: Schema.optional(SiteWindow.TimeZone)
})

/**
 * @since 0.3.0
 * @category models
 */
export type WindowEntry = typeof WindowEntry.Type

/**
 * How a failover pair is upgraded (PREP-7): `sync` (PAIR-2) or `async` (PAIR-3).
 *
 * @since 0.3.0
 * @category models
 */
export const PairMethod = Schema.Literal("sync", "async")

/**
 * @since 0.3.0
 * @category models
 */
export type PairMethod = typeof PairMethod.Type

/**
 * One site of the rollout as written.
 *
 * @since 0.3.0
 * @category models
 */
export const SiteEntry = Schema.Struct({
  /** The site file, relative to the fleet file. */
  file: Schema.String.pipe(Schema.minLength(1, { message: () => "expected the path of a site file" })),
  /** Default: the site file's name without extension. */
  id: Schema.optional(Id),
  group: Schema.optional(Id),
  /** The time zone of windows that name none. */
  timeZone: Schema.optional(SiteWindow.TimeZone),
  windows: Schema.Array(WindowEntry).pipe(
    Schema.minItems(1, {
      message: () =>
        'a site needs at least one maintenance window (PREP-4), e.g. { days: [sat], start: "02:00", durationMinutes: 240 }'
    })
  ),
  /** Failover pairs only (PREP-7). */
  method: Schema.optional(PairMethod),
  /** What the appliances run now: one version for all, or one per appliance id. */
  current: Schema.optional(Schema.Union(VersionText, Schema.Record({ key: Schema.String, value: VersionText })))
}).pipe(Schema.filter((site) => siteCheck(site)))

/**
 * @since 0.3.0
 * @category models
 */
export type SiteEntry = typeof SiteEntry.Type

/**
 * One wave as written: exactly one of `size`, `percent` (of all sites,
 * rounded up), `rest` (every site not yet placed; last wave only) or
 * `group` (every site of that group).
 *
 * @since 0.3.0
 * @category models
 */
export const WaveEntry = Schema.Struct({
  name: Schema.optional(Schema.String.pipe(Schema.minLength(1))),
  size: Schema.optional(
    Schema.Number.pipe(Schema.int(), Schema.positive({ message: () => "expected a number of sites, at least 1" }))
  ),
  percent: Schema.optional(
    Schema.Number.pipe(
      Schema.greaterThan(0, { message: () => "expected a percentage above 0" }),
      Schema.lessThanOrEqualTo(100, { message: () => "expected a percentage of at most 100" })
    )
  ),
  rest: Schema.optional(Schema.Literal(true)),
  group: Schema.optional(Id),
  /** Ask for an approval before this wave starts (overrides `approvalBetweenWaves`). */
  approval: Schema.optional(Schema.Boolean)
}).pipe(
  Schema.filter((w) => {
    const given = (["size", "percent", "rest", "group"] as const).filter((k) => w[k] !== undefined)
    return given.length === 1
      ? true
      : {
          path: [],
          message:
            given.length === 0
              ? "give one of size: N, percent: P, rest: true or group: NAME"
              : `give only one of size, percent, rest or group (found ${given.join(" and ")})`
        }
  })
)

/**
 * @since 0.3.0
 * @category models
 */
export type WaveEntry = typeof WaveEntry.Type

/**
 * The failure budget of the whole rollout: `{ count: n }` or `{ percent: p }`
 * of all sites (rounded down). Exceeding it halts admission: a budget of 1
 * tolerates one failed site and halts at the second.
 *
 * @since 0.3.0
 * @category models
 */
export class FailureBudget extends Schema.Class<FailureBudget>("FailureBudget")(
  Schema.Struct({
    count: Schema.optional(
      Schema.Number.pipe(Schema.int(), Schema.nonNegative({ message: () => "expected a number of sites, 0 or more" }))
    ),
    percent: Schema.optional(
      Schema.Number.pipe(Schema.between(0, 100, { message: () => "expected a percentage between 0 and 100" }))
    )
  }).pipe(
    Schema.filter((b) =>
      (b.count === undefined) !== (b.percent === undefined)
        ? true
        : { path: [], message: "give either count: N or percent: P" }
    )
  )
) {
  /**
   * How many failed sites the rollout tolerates out of `sites`.
   *
   * @since 0.3.0
   */
  allowed(sites: number): number {
    return this.count ?? Math.floor(((this.percent ?? 0) * sites) / 100 + 1e-9)
  }

  /**
   * `1 site`, `10% of sites`.
   *
   * @since 0.3.0
   */
  get description(): string {
    return this.count !== undefined ? `${this.count} failed site(s)` : `${this.percent}% of the sites`
  }
}

/**
 * The fleet file as written (defaults applied), checked on its own.
 *
 * @since 0.3.0
 * @category models
 */
export class FleetSpec extends Schema.Class<FleetSpec>("FleetSpec")(
  Schema.Struct({
    /** The rollout id: names its journal, its approvals and its workflow. */
    id: Id,
    name: Schema.optional(Schema.String),
    target: Target,
    /** At most this many sites in flight at once (default 1). */
    concurrency: Schema.optionalWith(
      Schema.Number.pipe(Schema.int(), Schema.greaterThanOrEqualTo(1, { message: () => "expected at least 1" })),
      { default: () => 1 }
    ),
    /** Default: `{ count: 0 }`, the first failure halts admission. */
    failureBudget: Schema.optionalWith(FailureBudget, { default: () => new FailureBudget({ count: 0 }) }),
    /** Ask for an approval before every wave after the first. */
    approvalBetweenWaves: Schema.optionalWith(Schema.Boolean, { default: () => false }),
    waves: Schema.Array(WaveEntry).pipe(
      Schema.minItems(1, { message: () => "expected at least one wave, e.g. [{ size: 1 }, { rest: true }]" })
    ),
    sites: Schema.Array(SiteEntry).pipe(Schema.minItems(1, { message: () => "expected at least one site" }))
  }).pipe(Schema.filter((spec) => crossCheck(spec)))
) {}

// ---------------------------------------------------------------------------
// checks of the file alone
// ---------------------------------------------------------------------------

/**
 * The id of a site entry: its `id`, or the site file's name without extension.
 *
 * @since 0.3.0
 * @category combinators
 */
export const siteId = (entry: Pick<SiteEntry, "file" | "id">): string =>
  entry.id ?? basename(entry.file, extname(entry.file))

/**
 * A wave with its sites, as resolved from the file.
 *
 * @since 0.3.0
 * @category models
 */
export class FleetWave extends Schema.Class<FleetWave>("FleetWave")({
  index: Schema.Number,
  name: Schema.String,
  /** An approval is needed before the wave starts. */
  approval: Schema.Boolean,
  /** Site ids, in file order. */
  sites: Schema.Array(Schema.String)
}) {
  /**
   * The first wave is the canary.
   *
   * @since 0.3.0
   */
  get canary(): boolean {
    return this.index === 0
  }
}

interface Issue {
  readonly path: ReadonlyArray<string | number>
  readonly message: string
}

/**
 * What wave placement reads from a fleet spec.
 *
 * @since 0.3.0
 * @category models
 */
export interface WaveInput {
  readonly waves: ReadonlyArray<WaveEntry>
  readonly sites: ReadonlyArray<SiteEntry>
  readonly approvalBetweenWaves: boolean
}

/**
 * Place the sites in waves: a size takes the next N sites in file order, a
 * percentage takes ceil(P% of all sites), `rest` takes every site left; a
 * group wave takes the sites of that group. Either the waves that place
 * sites, or the problems (with their paths).
 *
 * @since 0.3.0
 * @category combinators
 */
export const resolveWaves = (spec: WaveInput): Either.Either<ReadonlyArray<FleetWave>, ReadonlyArray<Issue>> => {
  const issues: Array<Issue> = []
  const ids = spec.sites.map(siteId)
  const total = ids.length
  const byGroup = spec.waves.some((w) => w.group !== undefined)
  const placed = new Set<number>()
  const waves: Array<FleetWave> = []
  const groupsUsed = new Map<string, number>()
  const knownGroups = [...new Set(spec.sites.flatMap((s) => (s.group === undefined ? [] : [s.group])))]
  spec.waves.forEach((w, k) => {
    const take: Array<number> = []
    if (w.rest === true) {
      if (k !== spec.waves.length - 1)
        issues.push({
          path: ["waves", k, "rest"],
          message: "rest: true takes every site left, so it must be the last wave"
        })
      spec.sites.forEach((_, i) => !placed.has(i) && take.push(i))
    } else if (w.group !== undefined) {
      const g = w.group
      if (groupsUsed.has(g))
        issues.push({
          path: ["waves", k, "group"],
          message: `group ${g} already has a wave (waves[${groupsUsed.get(g)}])`
        })
      else if (!knownGroups.includes(g))
        issues.push({
          path: ["waves", k, "group"],
          message: `no site has group ${g}${knownGroups.length > 0 ? ` (groups: ${knownGroups.join(", ")})` : " (no site has a group: set group: on the sites)"}`
        })
      groupsUsed.set(g, groupsUsed.get(g) ?? k)
      spec.sites.forEach((s, i) => s.group === g && !placed.has(i) && take.push(i))
    } else if (byGroup) {
      issues.push({
        path: ["waves", k],
        message: "waves by group cannot be mixed with size or percent waves: use group: NAME here, or rest: true last"
      })
    } else {
      const n = w.size ?? Math.ceil(((w.percent ?? 0) * total) / 100 - 1e-9)
      for (let i = 0; i < total && take.length < n; i++) if (!placed.has(i)) take.push(i)
    }
    if (take.length === 0 && !issues.some((i) => i.path[0] === "waves" && i.path[1] === k))
      issues.push({
        path: ["waves", k],
        message: `no site is left for this wave (all ${total} sites are placed by the waves before it); remove it`
      })
    for (const i of take) placed.add(i)
    waves.push(
      new FleetWave({
        index: k,
        name: w.name ?? (w.group !== undefined ? w.group : k === 0 ? "canary" : `wave ${k + 1}`),
        approval: w.approval ?? (spec.approvalBetweenWaves && k > 0),
        sites: take.map((i) => ids[i]!)
      })
    )
  })
  const left = spec.sites.flatMap((s, i) => (placed.has(i) ? [] : [{ s, i }]))
  if (left.length > 0 && issues.length === 0) {
    if (byGroup)
      for (const { i, s } of left)
        issues.push({
          path: ["sites", i, "group"],
          message:
            s.group === undefined
              ? `site ${ids[i]} has no group and no wave takes the rest: set its group, or end the waves with { rest: true }`
              : `no wave takes group ${s.group}: add { group: ${s.group} } to waves, or end them with { rest: true }`
        })
    else
      issues.push({
        path: ["waves"],
        message: `the waves place ${total - left.length} of the ${total} sites (${left.map((l) => ids[l.i]).join(", ")} left out): end them with { rest: true } or make them larger`
      })
  }
  return issues.length > 0 ? Either.left(issues) : Either.right(waves)
}

const timeZoneOf = (site: SiteEntry, w: WindowEntry): string | undefined => w.timeZone ?? site.timeZone

/** Checks within one site entry: a time zone for every window, one zone per site, no overlap. */
const siteCheck = (s: {
  readonly timeZone?: string | undefined
  readonly windows: ReadonlyArray<WindowEntry>
  readonly current?: string | Readonly<Record<string, string>> | undefined
}): true | ReadonlyArray<Schema.FilterIssue> => {
  const issues: Array<Schema.FilterIssue> = []
  const zones = new Set<string>()
  s.windows.forEach((w, k) => {
    const tz = w.timeZone ?? s.timeZone
    if (tz === undefined)
      issues.push({
        path: ["windows", k, "timeZone"],
        message: "expected the window's IANA time zone (e.g. timeZone: Europe/Paris), here or on the site"
      })
    else zones.add(tz)
  })
  if (zones.size > 1)
    issues.push({
      path: ["windows"],
      message: `a site has one time zone, these windows use ${[...zones].join(" and ")}; give each window of the site the same timeZone`
    })
  const describe = (k: number) =>
    `${s.windows[k]!.days.join(", ")} ${s.windows[k]!.start} +${s.windows[k]!.durationMinutes} min`
  for (const [a, b] of SiteWindow.overlaps(s.windows))
    issues.push({
      path: ["windows", b],
      message:
        a === b
          ? `the window (${describe(a)}) lasts past its own next opening; shorten it or drop a day`
          : `overlaps windows[${a}] (${describe(a)}); merge them or move one`
    })
  if (typeof s.current === "object" && Object.keys(s.current).length === 0)
    issues.push({ path: ["current"], message: 'expected a version, or one per appliance id like { A: "24.1.3" }' })
  return issues.length === 0 ? true : issues
}

const crossCheck = (spec: WaveInput): true | ReadonlyArray<Schema.FilterIssue> => {
  const issues: Array<Issue> = []
  const ids = new Map<string, number>()
  const files = new Map<string, number>()
  spec.sites.forEach((s, i) => {
    const id = siteId(s)
    const before = ids.get(id)
    if (before !== undefined)
      issues.push({
        path: ["sites", i, s.id === undefined ? "file" : "id"],
        message: `site id ${id} is used twice (also sites[${before}])${s.id === undefined ? "; give one of them an id:" : ""}`
      })
    else ids.set(id, i)
    const file = normalize(s.file)
    const same = files.get(file)
    if (same !== undefined)
      issues.push({ path: ["sites", i, "file"], message: `the site ${s.file} is listed twice (also sites[${same}])` })
    else files.set(file, i)
  })
  const waves = resolveWaves(spec)
  if (Either.isLeft(waves)) issues.push(...waves.left)
  return issues.length === 0 ? true : issues.map((i) => ({ path: i.path, message: i.message }))
}

// ---------------------------------------------------------------------------
// the resolved fleet
// ---------------------------------------------------------------------------

/**
 * One site of the rollout, with its decoded site file.
 *
 * @since 0.3.0
 * @category models
 */
export class FleetSite extends Schema.Class<FleetSite>("FleetSite")({
  id: Schema.String,
  /** The site file as written in the fleet file. */
  file: Schema.String,
  /** The site file's path resolved against the fleet file's folder. */
  path: Schema.String,
  group: Schema.optional(Schema.String),
  timeZone: Schema.String,
  windows: Schema.Array(SiteWindow.WeeklyWindow),
  method: Schema.optional(PairMethod),
  /** Observed versions per appliance id, when the file gives them. */
  current: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  targetVersion: Schema.String,
  site: Site.Site
}) {
  /**
   * `single`, `sync-pair` or `async-pair`: which planner the site uses.
   *
   * @since 0.3.0
   */
  get kind(): "single" | "sync-pair" | "async-pair" {
    return this.site.isPair ? (this.method === "sync" ? "sync-pair" : "async-pair") : "single"
  }
}

/**
 * A rollout ready to plan: the fleet file checked against its site files.
 *
 * @since 0.3.0
 * @category models
 */
export class Fleet extends Schema.Class<Fleet>("Fleet")({
  id: Schema.String,
  name: Schema.String,
  /** The fleet file (or `<input>`). */
  file: Schema.String,
  target: TargetVersions,
  concurrency: Schema.Number,
  failureBudget: FailureBudget,
  /** Failed sites tolerated; one more halts admission. */
  allowedFailures: Schema.Number,
  waves: Schema.Array(FleetWave),
  sites: Schema.Array(FleetSite)
}) {
  /**
   * The site with this id.
   *
   * @since 0.3.0
   */
  site(id: string): FleetSite | undefined {
    return this.sites.find((s) => s.id === id)
  }
}

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

/**
 * A site file of the rollout could not be used; `error` is the site file's
 * own error (missing, unreadable, bad syntax, invalid fields).
 *
 * @since 0.3.0
 * @category models
 */
export class SiteFileFailure extends Schema.Class<SiteFileFailure>("SiteFileFailure")({
  /** Where the fleet file names it, e.g. `sites[2].file`. */
  field: Schema.String,
  siteId: Schema.String,
  /** As written in the fleet file. */
  file: Schema.String,
  error: Site.SiteError
}) {}

/**
 * Some site files of the rollout cannot be used.
 *
 * @since 0.3.0
 * @category models
 */
export class SiteFiles extends Schema.TaggedClass<SiteFiles>()("SiteFiles", {
  failures: Schema.Array(SiteFileFailure)
}) {}

/**
 * Why a fleet file cannot be used: unreadable, unknown format, bad syntax,
 * invalid fields (each with its path), or bad site files.
 *
 * @since 0.3.0
 * @category models
 */
export const FleetFileErrorReason = Schema.Union(
  Site.Unreadable,
  Site.UnsupportedFormat,
  Site.Syntax,
  Site.Invalid,
  SiteFiles
)

/**
 * @since 0.3.0
 * @category models
 */
export type FleetFileErrorReason = typeof FleetFileErrorReason.Type

const indent = (text: string, by: string) =>
  text
    .split("\n")
    .map((l) => by + l)
    .join("\n")

/**
 * A fleet file could not be used. `file` names it (or `<input>`).
 *
 * @since 0.3.0
 * @category errors
 */
export class FleetFileError extends Schema.TaggedError<FleetFileError>("@sra-upgrade/fleet/FleetFileError")(
  "FleetFileError",
  { file: Schema.String, reason: FleetFileErrorReason }
) {
  /**
   * @since 0.3.0
   */
  override get message(): string {
    const r = this.reason
    switch (r._tag) {
      case "Unreadable":
        return `${this.file}: cannot read the fleet file (${r.detail}). Check the path and its permissions.`
      case "UnsupportedFormat":
        return `${this.file}: unknown format; name the fleet file *.yaml, *.yml or *.json.`
      case "Syntax":
        return `${this.file}${r.line === undefined ? "" : `:${r.line}${r.column === undefined ? "" : `:${r.column}`}`}: not valid ${this.file.endsWith(".json") ? "JSON" : "YAML/JSON"}: ${r.detail}`
      case "Invalid":
        return [
          `${this.file}: ${r.issues.length} problem(s) in the fleet file (see docs/fleet.md):`,
          ...r.issues.map((i) => `  - ${i.path}: ${i.message}`)
        ].join("\n")
      case "SiteFiles":
        return [
          `${this.file}: ${r.failures.length} site file(s) cannot be used:`,
          ...r.failures.map((f) => {
            const e = f.error
            if (e.reason._tag === "Unreadable" && e.reason.detail === "ENOENT")
              return `  - ${f.field}: ${f.file} does not exist (looked for ${e.file}); fix the path, relative to the fleet file`
            return `  - ${f.field} (site ${f.siteId}):\n${indent(e.message, "      ")}`
          })
        ].join("\n")
    }
  }
}

const invalid = (file: string, issues: ReadonlyArray<Issue>) =>
  new FleetFileError({
    file,
    reason: new Site.Invalid({
      issues: issues.map(
        (i) =>
          new Site.FieldIssue({
            path:
              i.path.reduce<string>(
                (out, p) => (typeof p === "number" ? `${out}[${p}]` : out === "" ? p : `${out}.${p}`),
                ""
              ) || "(root)",
            message: i.message
          })
      )
    })
  })

// ---------------------------------------------------------------------------
// decoding
// ---------------------------------------------------------------------------

const decodeValue = Schema.decodeUnknownEither(FleetSpec, { errors: "all", onExcessProperty: "error" })

/**
 * Decode a fleet file's text on its own (no site file is read). `file`
 * names it in errors.
 *
 * @since 0.3.0
 * @category constructors
 */
export const decodeSpec = (
  text: string,
  format: Site.Format,
  file = "<input>"
): Either.Either<FleetSpec, FleetFileError> =>
  Either.flatMap(
    Either.mapLeft(Site.parseDocument(text, format), (reason) => new FleetFileError({ file, reason })),
    (value) => {
      if (value === null || typeof value !== "object" || Array.isArray(value))
        return Either.left(
          invalid(file, [{ path: [], message: "expected a mapping with id, target, waves and sites …" }])
        )
      return Either.mapLeft(
        decodeValue(value),
        (e) => new FleetFileError({ file, reason: new Site.Invalid({ issues: Site.fieldIssues(e) }) })
      )
    }
  )

/**
 * Check a fleet spec against its decoded site files (in the order of
 * `spec.sites`) and resolve it: every site's product has a target, every
 * failover pair names its method (PREP-7) and no single appliance does, the
 * `current` versions name the site's appliances. `baseDir` resolves the
 * site file paths (default: the fleet file's folder).
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (
  spec: FleetSpec,
  sites: ReadonlyArray<Site.Site>,
  options: { readonly file?: string | undefined; readonly baseDir?: string | undefined } = {}
): Either.Either<Fleet, FleetFileError> => {
  const file = options.file ?? "<input>"
  const baseDir = options.baseDir ?? dirname(file)
  const target =
    typeof spec.target === "string" ? new TargetVersions({ pra: spec.target, rs: spec.target }) : spec.target
  const issues: Array<Issue> = []
  if (sites.length !== spec.sites.length)
    issues.push({ path: ["sites"], message: `expected ${spec.sites.length} decoded site files, got ${sites.length}` })
  const missingTarget = new Map<Product, Array<string>>()
  const resolved: Array<FleetSite> = []
  spec.sites.forEach((entry, i) => {
    const site = sites[i]
    if (site === undefined) return
    const id = siteId(entry)
    const version = target.of(site.product)
    if (version === undefined) missingTarget.set(site.product, [...(missingTarget.get(site.product) ?? []), id])
    const appliances = site.appliances.map((a) => a.id)
    if (site.isPair && entry.method === undefined)
      issues.push({
        path: ["sites", i, "method"],
        message: `site ${id} is a failover pair (${appliances.join(", ")}): choose method: sync (PAIR-2: ${site.primary.id} first and stays primary; longer downtime) or method: async (PAIR-3: the backup first, then the site moves to it; minimal downtime) — PREP-7`
      })
    if (!site.isPair && entry.method !== undefined)
      issues.push({
        path: ["sites", i, "method"],
        message: `site ${id} has one appliance (SINGLE-*); remove method: ${entry.method}, which is for failover pairs (PREP-7)`
      })
    let current: Record<string, string> | undefined
    if (typeof entry.current === "string")
      current = Object.fromEntries(appliances.map((a) => [a, entry.current as string]))
    else if (entry.current !== undefined) {
      current = { ...entry.current }
      for (const key of Object.keys(entry.current))
        if (!appliances.includes(key))
          issues.push({
            path: ["sites", i, "current", key],
            message: `site ${id} has no appliance ${key} (appliances: ${appliances.join(", ")})`
          })
      const missing = appliances.filter((a) => entry.current !== undefined && !(a in (entry.current as object)))
      if (missing.length > 0)
        issues.push({
          path: ["sites", i, "current"],
          message: `give the version of ${missing.join(" and ")} too, or one version for every appliance (current: "24.1.3")`
        })
    }
    const timeZone = entry.windows.map((w) => timeZoneOf(entry, w)).find((z) => z !== undefined) ?? "UTC"
    resolved.push(
      new FleetSite({
        id,
        file: entry.file,
        path: isAbsolute(entry.file) ? entry.file : resolve(baseDir, entry.file),
        ...(entry.group !== undefined ? { group: entry.group } : {}),
        timeZone,
        windows: entry.windows.map(
          (w) =>
            new SiteWindow.WeeklyWindow({
              timeZone: w.timeZone ?? timeZone,
              days: w.days,
              start: w.start,
              durationMinutes: w.durationMinutes,
              ...(w.label !== undefined ? { label: w.label } : {})
            })
        ),
        ...(entry.method !== undefined ? { method: entry.method } : {}),
        ...(current !== undefined ? { current } : {}),
        targetVersion: version ?? "",
        site
      })
    )
  })
  for (const [product, ids] of missingTarget)
    issues.push({
      path: ["target"],
      message: `no target version for product ${product}, used by site(s) ${ids.join(", ")}: write target: { ${product}: "…" } (or one version for every product)`
    })
  const waves = resolveWaves(spec)
  if (Either.isLeft(waves)) issues.push(...waves.left)
  if (issues.length > 0 || Either.isLeft(waves)) return Either.left(invalid(file, issues))
  return Either.right(
    new Fleet({
      id: spec.id,
      name: spec.name ?? spec.id,
      file,
      target,
      concurrency: spec.concurrency,
      failureBudget: spec.failureBudget,
      allowedFailures: spec.failureBudget.allowed(spec.sites.length),
      waves: waves.right,
      sites: resolved
    })
  )
}

const errorCode = (e: unknown): string => {
  const code = (e as { code?: unknown } | null)?.code
  return typeof code === "string" ? code : e instanceof Error ? e.name : "unknown error"
}

/**
 * Read and decode a fleet file (`.yaml`, `.yml` or `.json`) and every site
 * file it names (relative to its folder). All bad site files are reported
 * at once, each with its own decode error.
 *
 * @since 0.3.0
 * @category constructors
 */
export const decodeFleetFile = (path: string): Effect.Effect<Fleet, FleetFileError> =>
  Effect.gen(function* () {
    const format = Site.formatOf(path)
    if (format === undefined) return yield* new FleetFileError({ file: path, reason: new Site.UnsupportedFormat() })
    const text = yield* Effect.tryPromise({
      try: () => readFile(path, "utf8"),
      catch: (e) => new FleetFileError({ file: path, reason: new Site.Unreadable({ detail: errorCode(e) }) })
    })
    const spec = yield* decodeSpec(text, format, path)
    const baseDir = dirname(path)
    const decoded = yield* Effect.forEach(
      spec.sites,
      (entry) => Effect.either(Site.decodeSiteFile(isAbsolute(entry.file) ? entry.file : resolve(baseDir, entry.file))),
      { concurrency: 8 }
    )
    const failures = decoded.flatMap((d, i) =>
      Either.isLeft(d)
        ? [
            new SiteFileFailure({
              field: `sites[${i}].file`,
              siteId: siteId(spec.sites[i]!),
              file: spec.sites[i]!.file,
              error: d.left
            })
          ]
        : []
    )
    if (failures.length > 0) return yield* new FleetFileError({ file: path, reason: new SiteFiles({ failures }) })
    return yield* make(
      spec,
      decoded.map((d) => (d as Either.Right<never, Site.Site>).right),
      { file: path, baseDir }
    )
  })
