/**
 * Versions as the vendor writes them (appliance-api.md §9):
 *
 * - product (site software) versions `X.Y.Z`, where `X.Y` names the major
 *   release and `Z` the maintenance release, optionally with a build:
 *   the XML `check_health` form `"19.1.8 (37380-749b…7a35)"`, or the JSON v2
 *   form where `version` and `build` are two fields;
 * - base software (appliance OS) versions such as `6.1.0`, versioned apart.
 *
 * Parsing never throws: garbage gives a {@link VersionError} naming the input.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Order from "effect/Order"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

const Component = Schema.Number.pipe(Schema.int(), Schema.between(0, 99_999))

/**
 * A build of a product version: the vendor's build number and, when known,
 * the source commit (`37380-749b17ca…`).
 *
 * @since 0.1.0
 * @category models
 */
export class Build extends Schema.Class<Build>("Build")({
  number: Schema.Number.pipe(Schema.int(), Schema.nonNegative()),
  /** Lower-case hex commit id (7 to 40 digits), when the vendor gives one. */
  commit: Schema.optional(Schema.String.pipe(Schema.pattern(/^[0-9a-f]{7,40}$/)))
}) {}

/**
 * A product (site software) version, e.g. `24.3.2`, with its build when known.
 *
 * @since 0.1.0
 * @category models
 */
export class ProductVersion extends Schema.TaggedClass<ProductVersion>()("ProductVersion", {
  major: Component,
  minor: Component,
  patch: Component,
  build: Schema.optional(Build)
}) {
  /**
   * `X.Y.Z` without the build.
   *
   * @since 0.1.0
   */
  get release(): string {
    return `${this.major}.${this.minor}.${this.patch}`
  }

  /**
   * `X.Y`, the major release (PREP-9: major releases reach customers on the vendor's rollout schedule).
   *
   * @since 0.1.0
   */
  get majorRelease(): string {
    return `${this.major}.${this.minor}`
  }
}

/**
 * A base software (appliance operating system) version, e.g. `6.1.0`.
 *
 * @since 0.1.0
 * @category models
 */
export class BaseVersion extends Schema.TaggedClass<BaseVersion>()("BaseVersion", {
  major: Component,
  minor: Component,
  patch: Component
}) {
  /**
   * @since 0.1.0
   */
  get release(): string {
    return `${this.major}.${this.minor}.${this.patch}`
  }
}

/**
 * Either kind of version.
 *
 * @since 0.1.0
 * @category models
 */
export type Version = ProductVersion | BaseVersion

/**
 * The text could not be read as a version of the expected form.
 *
 * @since 0.1.0
 * @category models
 */
export class Malformed extends Schema.TaggedClass<Malformed>()("Malformed", {
  /** The form that was expected, e.g. `X.Y.Z (build-commit)`. */
  expected: Schema.String
}) {}

/**
 * Moving from `from` to `to` would go backwards.
 *
 * @since 0.1.0
 * @category models
 */
export class Downgrade extends Schema.TaggedClass<Downgrade>()("Downgrade", {
  from: Schema.String,
  to: Schema.String
}) {}

/**
 * Two versions that cannot be compared: a product and a base version, or
 * the same build number with two different commits.
 *
 * @since 0.1.0
 * @category models
 */
export class Incomparable extends Schema.TaggedClass<Incomparable>()("Incomparable", {
  from: Schema.String,
  to: Schema.String,
  detail: Schema.String
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export const VersionErrorReason = Schema.Union(Malformed, Downgrade, Incomparable)

/**
 * @since 0.1.0
 * @category models
 */
export type VersionErrorReason = typeof VersionErrorReason.Type

/**
 * A version could not be parsed, or a move between two versions is not an
 * upgrade. `input` is the text (or the `from -> to` pair) at fault.
 *
 * @since 0.1.0
 * @category errors
 */
export class VersionError extends Schema.TaggedError<VersionError>("@sra-upgrade/core/VersionError")("VersionError", {
  input: Schema.String,
  reason: VersionErrorReason
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    switch (this.reason._tag) {
      case "Malformed":
        return `${JSON.stringify(this.input)} is not a version: expected ${this.reason.expected}. Copy the version exactly as the appliance shows it (e.g. "24.3.2" or "19.1.8 (37380-749b17ca…)").`
      case "Downgrade":
        return `${this.reason.from} -> ${this.reason.to} is a downgrade; appliances cannot be downgraded. Pick a target newer than the installed version, or restore a backup on a freshly installed appliance.`
      case "Incomparable":
        return `${this.reason.from} and ${this.reason.to} cannot be compared: ${this.reason.detail}.`
    }
  }
}

const releaseRe = /^(\d{1,5})\.(\d{1,5})(?:\.(\d{1,5}))?$/
const buildRe = /^(\d{1,12})(?:-([0-9a-fA-F]{7,40}))?$/
const xmlRe = /^(\S+)\s*\(\s*([^()\s]+)\s*\)$/

const malformed = (input: string, expected: string) =>
  Either.left(new VersionError({ input, reason: new Malformed({ expected }) }))

const parseRelease = (text: string): Option.Option<readonly [number, number, number]> => {
  const m = releaseRe.exec(text)
  if (m === null) return Option.none()
  return Option.some([Number(m[1]), Number(m[2]), m[3] === undefined ? 0 : Number(m[3])] as const)
}

/**
 * Parse a build identifier, `37380` or `37380-749b17ca…` (commit lower-cased).
 *
 * @since 0.1.0
 * @category constructors
 */
export const parseBuild = (input: string): Either.Either<Build, VersionError> => {
  const m = buildRe.exec(input.trim())
  if (m === null) return malformed(input, "a build like 37380 or 37380-<hex commit>")
  return Either.right(
    new Build(m[2] === undefined ? { number: Number(m[1]) } : { number: Number(m[1]), commit: m[2].toLowerCase() })
  )
}

/**
 * Parse a product version: `24.3`, `24.3.2`, or the XML `check_health` form
 * `19.1.8 (37380-749b17ca…)`. A missing maintenance number reads as `0`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parse = (input: string): Either.Either<ProductVersion, VersionError> => {
  const expected = "X.Y.Z or X.Y.Z (build-commit)"
  const text = input.trim()
  const xml = xmlRe.exec(text)
  const releaseText = xml === null ? text : xml[1]!
  const release = parseRelease(releaseText)
  if (Option.isNone(release)) return malformed(input, expected)
  const [major, minor, patch] = release.value
  if (xml === null) return Either.right(new ProductVersion({ major, minor, patch }))
  const build = parseBuild(xml[2]!)
  if (Either.isLeft(build)) return malformed(input, expected)
  return Either.right(new ProductVersion({ major, minor, patch, build: build.right }))
}

/**
 * Build a product version from the JSON v2 `/health` fields `version` and
 * `build` (an empty or absent build means "unknown").
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromParts = (version: string, build?: string | null): Either.Either<ProductVersion, VersionError> => {
  const release = parseRelease(version.trim())
  if (Option.isNone(release)) return malformed(version, "X.Y.Z in the `version` field")
  const [major, minor, patch] = release.value
  if (build === undefined || build === null || build.trim() === "")
    return Either.right(new ProductVersion({ major, minor, patch }))
  return Either.map(parseBuild(build), (b) => new ProductVersion({ major, minor, patch, build: b }))
}

/**
 * Parse a base software version, e.g. `6.1.0` or `5.4`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parseBase = (input: string): Either.Either<BaseVersion, VersionError> => {
  const release = parseRelease(input.trim())
  if (Option.isNone(release)) return malformed(input, "a base software version X.Y.Z")
  const [major, minor, patch] = release.value
  return Either.right(new BaseVersion({ major, minor, patch }))
}

/**
 * Print a build as the vendor does: `37380-749b17ca…` or `37380`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const formatBuild = (build: Build): string =>
  build.commit === undefined ? String(build.number) : `${build.number}-${build.commit}`

/**
 * Print a version in its XML form: `19.1.8 (37380-749b…)` when the build is
 * known, else `19.1.8`; base versions as `6.1.0`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const format = (version: Version): string =>
  version._tag === "ProductVersion" && version.build !== undefined
    ? `${version.release} (${formatBuild(version.build)})`
    : version.release

/**
 * Print a product version in the JSON v2 form, two fields.
 *
 * @since 0.1.0
 * @category combinators
 */
export const toParts = (version: ProductVersion): { readonly version: string; readonly build?: string } =>
  version.build === undefined
    ? { version: version.release }
    : { version: version.release, build: formatBuild(version.build) }

interface Release {
  readonly major: number
  readonly minor: number
  readonly patch: number
}

const byRelease: Order.Order<Release> = Order.mapInput(
  Order.tuple(Order.number, Order.number, Order.number),
  (v: Release) => [v.major, v.minor, v.patch] as const
)

/**
 * Total order of product versions: release, then build number (an unknown
 * build sorts first), then commit text.
 *
 * @since 0.1.0
 * @category models
 */
export const ProductOrder: Order.Order<ProductVersion> = Order.combine(
  byRelease,
  Order.mapInput(
    Order.tuple(Order.number, Order.string),
    (v: ProductVersion) => [v.build?.number ?? -1, v.build?.commit ?? ""] as const
  )
)

/**
 * Order of base software versions.
 *
 * @since 0.1.0
 * @category models
 */
export const BaseOrder: Order.Order<BaseVersion> = byRelease

/**
 * Same release (`X.Y.Z`), ignoring the build.
 *
 * @since 0.1.0
 * @category combinators
 */
export const sameRelease = (a: Version, b: Version): boolean => a._tag === b._tag && byRelease(a, b) === 0

/**
 * Whether `actual` satisfies `expected`: same release, and same build when
 * `expected` names one (commit compared only when both know it).
 *
 * @since 0.1.0
 * @category combinators
 */
export const matches = (actual: ProductVersion, expected: ProductVersion): boolean => {
  if (!sameRelease(actual, expected)) return false
  if (expected.build === undefined) return true
  if (actual.build === undefined || actual.build.number !== expected.build.number) return false
  return (
    expected.build.commit === undefined ||
    actual.build.commit === undefined ||
    expected.build.commit === actual.build.commit
  )
}

/**
 * What moving from one version to another is.
 *
 * - `major`: the `X.Y` release changes (e.g. 24.1.3 → 24.3.0);
 * - `maintenance`: same `X.Y`, higher `Z` (24.3.1 → 24.3.2);
 * - `rebuild`: same `X.Y.Z`, a newer build (a newly built site package);
 * - `base`: a newer base software (appliance OS) version;
 * - `none`: already there.
 *
 * @since 0.1.0
 * @category models
 */
export type UpdateKind = "major" | "maintenance" | "rebuild" | "base" | "none"

/**
 * Classify the move `from → to`. Downgrades, and moves between a product and
 * a base version, are errors.
 *
 * @since 0.1.0
 * @category combinators
 */
export const classify = (from: Version, to: Version): Either.Either<UpdateKind, VersionError> => {
  const input = `${format(from)} -> ${format(to)}`
  if (from._tag !== to._tag)
    return Either.left(
      new VersionError({
        input,
        reason: new Incomparable({
          from: format(from),
          to: format(to),
          detail: "one is a product version and the other a base software version"
        })
      })
    )
  const downgrade = Either.left(
    new VersionError({ input, reason: new Downgrade({ from: format(from), to: format(to) }) })
  )
  const release = byRelease(from, to)
  if (release > 0) return downgrade
  if (from._tag === "BaseVersion") return Either.right(release === 0 ? "none" : "base")
  const target = to as ProductVersion
  if (release < 0)
    return Either.right(from.major === target.major && from.minor === target.minor ? "maintenance" : "major")
  // same release: look at the builds
  if (from.build === undefined || target.build === undefined) return Either.right("none")
  if (target.build.number < from.build.number) return downgrade
  if (target.build.number > from.build.number) return Either.right("rebuild")
  if (from.build.commit !== undefined && target.build.commit !== undefined && from.build.commit !== target.build.commit)
    return Either.left(
      new VersionError({
        input,
        reason: new Incomparable({
          from: format(from),
          to: format(to),
          detail: "same build number with two different commits; check which package the appliance really runs"
        })
      })
    )
  return Either.right("none")
}

/**
 * A product version written as text in a file (`"24.3.2"` or
 * `"19.1.8 (37380-…)"`), decoded to a {@link ProductVersion}.
 *
 * @since 0.1.0
 * @category models
 */
export const ProductVersionFromString: Schema.Schema<ProductVersion, string> = Schema.transformOrFail(
  Schema.String,
  Schema.typeSchema(ProductVersion),
  {
    strict: true,
    decode: (s, _, ast) =>
      Either.mapLeft(
        parse(s),
        (e) => new ParseResult.Type(ast, s, `expected a product version like "24.3.2": ${e.message}`)
      ),
    encode: (v) => ParseResult.succeed(format(v))
  }
).annotations({ identifier: "ProductVersionFromString", description: 'a product version like "24.3.2"' })

/**
 * A base software version written as text (`"6.1.0"`).
 *
 * @since 0.1.0
 * @category models
 */
export const BaseVersionFromString: Schema.Schema<BaseVersion, string> = Schema.transformOrFail(
  Schema.String,
  Schema.typeSchema(BaseVersion),
  {
    strict: true,
    decode: (s, _, ast) =>
      Either.mapLeft(parseBase(s), () => new ParseResult.Type(ast, s, `expected a base software version like "6.1.0"`)),
    encode: (v) => ParseResult.succeed(format(v))
  }
).annotations({ identifier: "BaseVersionFromString", description: 'a base software version like "6.1.0"' })
