/**
 * Update packages and the order to install them (SINGLE-2, SINGLE-5).
 *
 * No vendor API lists the updates an appliance offers (they live on the
 * `/appliance > Updates` page), so the packages on offer are described in
 * the site file. Some packages require another one first; base software
 * updates usually come before the product (site) updates that need them;
 * and right after a base software update a fresh backup is taken and the
 * product updates are installed before anything else.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Version from "./Version.js"

/**
 * What a package updates: `base` software (the appliance OS), the `site`
 * product software, or a `licence` add-on.
 *
 * @since 0.1.0
 * @category models
 */
export const PackageKind = Schema.Literal("base", "site", "licence")

/**
 * @since 0.1.0
 * @category models
 */
export type PackageKind = typeof PackageKind.Type

/**
 * One package as the Updates page shows it.
 *
 * @since 0.1.0
 * @category models
 */
export class UpdatePackage extends Schema.Class<UpdatePackage>("UpdatePackage")(
  Schema.Struct({
    /** Your name for it, unique in the site file (e.g. `base-6.2.0`). */
    id: Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,79}$/)).annotations({
      message: () => "expected an id of letters, digits, '.', '_', ':' or '-' (at most 80 characters)"
    }),
    kind: PackageKind,
    /** The version it installs: a product version for `site`, a base version for `base`, free text for `licence`. */
    version: Schema.String.pipe(Schema.minLength(1)),
    title: Schema.optional(Schema.String),
    /** Ids of the packages that must be installed first. */
    requires: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
    sizeMiB: Schema.optional(Schema.Number.pipe(Schema.positive())),
    /** The vendor's estimate, when the release notes give one (PREP-3). */
    estimatedMinutes: Schema.optional(Schema.Number.pipe(Schema.positive()))
  }).pipe(
    Schema.filter((p) => {
      if (p.kind === "site" && Either.isLeft(Version.parse(p.version)))
        return { path: ["version"], message: `expected a product version like "24.3.2" for a site package` }
      if (p.kind === "base" && Either.isLeft(Version.parseBase(p.version)))
        return { path: ["version"], message: `expected a base software version like "6.1.0" for a base package` }
      if (p.requires.includes(p.id)) return { path: ["requires"], message: `package ${p.id} cannot require itself` }
      return true
    })
  )
) {
  /**
   * The product version this site package installs (none for other kinds).
   *
   * @since 0.1.0
   */
  get productVersion(): Version.ProductVersion | undefined {
    return this.kind === "site" ? Either.getOrUndefined(Version.parse(this.version)) : undefined
  }

  /**
   * The base version this base package installs (none for other kinds).
   *
   * @since 0.1.0
   */
  get baseVersion(): Version.BaseVersion | undefined {
    return this.kind === "base" ? Either.getOrUndefined(Version.parseBase(this.version)) : undefined
  }
}

/**
 * What the appliance runs now.
 *
 * @since 0.1.0
 * @category models
 */
export interface Installed {
  readonly product: Version.ProductVersion
  readonly base?: Version.BaseVersion | undefined
  /** Ids of packages known to be installed already (e.g. licence add-ons). */
  readonly packages?: ReadonlyArray<string> | undefined
}

/**
 * Where the appliance should end up; at least one field.
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  readonly product?: Version.ProductVersion | undefined
  readonly base?: Version.BaseVersion | undefined
  /** Further packages wanted by id (e.g. a licence add-on). */
  readonly packages?: ReadonlyArray<string> | undefined
}

/**
 * One install in the order.
 *
 * @since 0.1.0
 * @category models
 */
export interface InstallStep {
  readonly package: UpdatePackage
  /** SINGLE-5: a base software update was just installed; take a fresh backup first. */
  readonly freshBackupFirst: boolean
  /** SINGLE-5: must follow the previous step immediately (no failover, no other appliance in between). */
  readonly immediatelyAfterPrevious: boolean
}

/**
 * The prerequisites form a cycle (listed in order, first repeated last).
 *
 * @since 0.1.0
 * @category models
 */
export class Cycle extends Schema.TaggedClass<Cycle>()("Cycle", {
  packages: Schema.Array(Schema.String)
}) {}

/**
 * `package` requires `prerequisite`, which is neither on offer nor installed.
 *
 * @since 0.1.0
 * @category models
 */
export class MissingPrerequisite extends Schema.TaggedClass<MissingPrerequisite>()("MissingPrerequisite", {
  package: Schema.String,
  prerequisite: Schema.String
}) {}

/**
 * The target, or a package the order needs, is older than what runs now.
 *
 * @since 0.1.0
 * @category models
 */
export class Downgrade extends Schema.TaggedClass<Downgrade>()("Downgrade", {
  from: Schema.String,
  to: Schema.String
}) {}

/**
 * No package on offer installs the target.
 *
 * @since 0.1.0
 * @category models
 */
export class Unreachable extends Schema.TaggedClass<Unreachable>()("Unreachable", {
  target: Schema.String,
  offered: Schema.Array(Schema.String)
}) {}

/**
 * Two packages on offer share an id.
 *
 * @since 0.1.0
 * @category models
 */
export class DuplicatePackage extends Schema.TaggedClass<DuplicatePackage>()("DuplicatePackage", {
  id: Schema.String
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export const InstallOrderErrorReason = Schema.Union(
  Cycle,
  MissingPrerequisite,
  Downgrade,
  Unreachable,
  DuplicatePackage
)

/**
 * @since 0.1.0
 * @category models
 */
export type InstallOrderErrorReason = typeof InstallOrderErrorReason.Type

/**
 * No valid install order exists.
 *
 * @since 0.1.0
 * @category errors
 */
export class InstallOrderError extends Schema.TaggedError<InstallOrderError>("@sra-upgrade/core/InstallOrderError")(
  "InstallOrderError",
  { reason: InstallOrderErrorReason }
) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const r = this.reason
    switch (r._tag) {
      case "Cycle":
        return `The package prerequisites form a cycle: ${r.packages.join(" -> ")}. Fix the \`requires\` lists in the site file (copy them from the Updates page).`
      case "MissingPrerequisite":
        return `Package ${r.package} requires ${r.prerequisite}, which is neither on offer nor installed. Add ${r.prerequisite} to the site file's updates (check /appliance > Updates, or ask vendor support for the intermediate package).`
      case "Downgrade":
        return `Going from ${r.from} to ${r.to} is a downgrade; appliances are never downgraded. Choose a newer target.`
      case "Unreachable":
        return `No package on offer installs ${r.target} (offered: ${r.offered.join(", ") || "none"}). Check for updates on /appliance > Updates, or fetch the package manually with the download key (SINGLE-3), and list it in the site file.`
      case "DuplicatePackage":
        return `Two update packages share the id ${r.id}; give each a unique id in the site file.`
    }
  }
}

const fail = (reason: InstallOrderErrorReason) => Either.left(new InstallOrderError({ reason }))

const kindRank: Record<PackageKind, number> = { base: 0, site: 1, licence: 2 }

/** Priority among packages whose prerequisites are all met (smaller first). */
const compareReady = (a: UpdatePackage, b: UpdatePackage): number => {
  if (a.kind !== b.kind) return kindRank[a.kind] - kindRank[b.kind]
  if (a.kind === "site") {
    const c = Version.ProductOrder(a.productVersion!, b.productVersion!)
    if (c !== 0) return c
  }
  if (a.kind === "base") {
    const c = Version.BaseOrder(a.baseVersion!, b.baseVersion!)
    if (c !== 0) return c
  }
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

const isSatisfied = (p: UpdatePackage, current: Installed): boolean => {
  if (current.packages?.includes(p.id)) return true
  if (p.kind === "site") return Version.ProductOrder(p.productVersion!, current.product) <= 0
  if (p.kind === "base" && current.base !== undefined) return Version.BaseOrder(p.baseVersion!, current.base) <= 0
  return false
}

/**
 * The order in which to install packages to go from `current` to `target`:
 * every prerequisite before its dependants (SINGLE-2); among packages that
 * are ready, base software first, then site updates by ascending version,
 * then licence add-ons — except that the site updates unlocked by a base
 * update follow it immediately, after a fresh backup (SINGLE-5).
 *
 * Packages already installed (by id, or a site/base version not newer than
 * the current one) are skipped and count as met prerequisites. Returns an
 * empty order when the target is already installed.
 *
 * @since 0.1.0
 * @category combinators
 */
export const installOrder = (
  available: ReadonlyArray<UpdatePackage>,
  current: Installed,
  target: Target
): Either.Either<ReadonlyArray<InstallStep>, InstallOrderError> => {
  const byId = new Map<string, UpdatePackage>()
  for (const p of available) {
    if (byId.has(p.id)) return fail(new DuplicatePackage({ id: p.id }))
    byId.set(p.id, p)
  }
  const offered = available.map((p) => `${p.id} (${p.kind} ${p.version})`)

  // 1. the packages the target names
  const roots: Array<UpdatePackage> = []
  if (target.product !== undefined) {
    const t = target.product
    const cmp = Version.ProductOrder(t, current.product)
    if (cmp < 0 && !Version.matches(current.product, t))
      return fail(new Downgrade({ from: Version.format(current.product), to: Version.format(t) }))
    if (!Version.matches(current.product, t)) {
      const candidates = available.filter((p) => p.kind === "site" && Version.matches(p.productVersion!, t))
      const chosen = candidates.sort((a, b) => Version.ProductOrder(b.productVersion!, a.productVersion!))[0]
      if (chosen === undefined) return fail(new Unreachable({ target: `product ${Version.format(t)}`, offered }))
      roots.push(chosen)
    }
  }
  if (target.base !== undefined) {
    const t = target.base
    if (current.base !== undefined && Version.BaseOrder(t, current.base) < 0)
      return fail(new Downgrade({ from: Version.format(current.base), to: Version.format(t) }))
    if (current.base === undefined || Version.BaseOrder(t, current.base) > 0) {
      const chosen = available.find((p) => p.kind === "base" && Version.BaseOrder(p.baseVersion!, t) === 0)
      if (chosen === undefined) return fail(new Unreachable({ target: `base ${Version.format(t)}`, offered }))
      roots.push(chosen)
    }
  }
  for (const id of target.packages ?? []) {
    if (current.packages?.includes(id)) continue
    const p = byId.get(id)
    if (p === undefined) return fail(new Unreachable({ target: `package ${id}`, offered }))
    roots.push(p)
  }

  // 2. the closure of their prerequisites, detecting cycles and missing ones (DFS, three colours)
  const state = new Map<string, "visiting" | "done">()
  const needed = new Map<string, UpdatePackage>()
  const stack: Array<string> = []
  const visit = (p: UpdatePackage): InstallOrderError | undefined => {
    const s = state.get(p.id)
    if (s === "done") return undefined
    if (s === "visiting") {
      const from = stack.indexOf(p.id)
      return new InstallOrderError({ reason: new Cycle({ packages: [...stack.slice(from), p.id] }) })
    }
    state.set(p.id, "visiting")
    stack.push(p.id)
    for (const req of p.requires) {
      const q = byId.get(req)
      if (q === undefined) {
        if (current.packages?.includes(req)) continue
        return new InstallOrderError({ reason: new MissingPrerequisite({ package: p.id, prerequisite: req }) })
      }
      const err = visit(q)
      if (err !== undefined) return err
    }
    stack.pop()
    state.set(p.id, "done")
    if (!isSatisfied(p, current)) needed.set(p.id, p)
    return undefined
  }
  for (const r of roots) {
    const err = visit(r)
    if (err !== undefined) return Either.left(err)
  }

  // 3. Kahn's algorithm over the needed packages with the SINGLE-2/SINGLE-5 priorities
  const pending = new Map<string, Set<string>>()
  for (const p of needed.values()) pending.set(p.id, new Set(p.requires.filter((r) => needed.has(r))))
  const order: Array<InstallStep> = []
  while (pending.size > 0) {
    const ready = [...pending.entries()].filter(([, reqs]) => reqs.size === 0).map(([id]) => needed.get(id)!)
    // never empty: cycles were rejected above
    ready.sort(compareReady)
    // site updates climb: hold back a site package while an older needed one is still pending
    const lowestPendingSite = [...pending.keys()]
      .map((id) => needed.get(id)!)
      .filter((p) => p.kind === "site")
      .sort(compareReady)[0]
    const eligible = ready.filter((p) => p.kind !== "site" || p === lowestPendingSite)
    const candidates = eligible.length > 0 ? eligible : ready
    const previous = order[order.length - 1]
    // SINGLE-5: once a base update is in, the product updates go in right after it, before anything else
    const inBaseRun =
      previous !== undefined &&
      (previous.package.kind === "base" || (previous.package.kind === "site" && previous.immediatelyAfterPrevious))
    const next = (inBaseRun ? candidates.find((p) => p.kind === "site") : undefined) ?? candidates[0]!
    const immediate = inBaseRun && next.kind === "site"
    order.push({
      package: next,
      freshBackupFirst: immediate && previous!.package.kind === "base",
      immediatelyAfterPrevious: immediate
    })
    pending.delete(next.id)
    for (const reqs of pending.values()) reqs.delete(next.id)
  }

  // 4. site updates must climb: installing an older site package after a newer one is a downgrade
  let highest = current.product
  for (const step of order) {
    const v = step.package.productVersion
    if (v === undefined) continue
    if (Version.ProductOrder(v, highest) < 0)
      return fail(new Downgrade({ from: Version.format(highest), to: `${Version.format(v)} (${step.package.id})` }))
    highest = v
  }
  return Either.right(order)
}
