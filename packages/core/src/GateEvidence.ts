/**
 * The evidence a person gives when approving a manual gate, and its checks.
 *
 * A gate's step lists its evidence fields (`Plan.EvidenceField`): a name, a
 * meaning and constraints — the kind of value (a version, a SHA-256
 * fingerprint, a path, an integer…), the value the plan expects, bounds.
 * The executor checks an approval against them before it accepts it
 * (`validate`, then `checkLocalPaths`): an answer that contradicts the plan
 * is refused with a message saying what was expected, and the gate stays
 * open. A portal runs the same `validate` before it submits an answer.
 *
 * Step definitions (`StepDef.gate`) declare their fields with the builders
 * here (`version`, `sha256`, `path`, `integer`, `text`…), which also give the
 * handler the decoded, typed values.
 *
 * @since 0.3.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as Plan from "./Plan.js"

/**
 * One evidence field of a step definition: the constraints (without the
 * name, which is the field's key) and, as a phantom type, the decoded value.
 *
 * @since 0.3.0
 * @category models
 */
export interface Field<A> {
  readonly spec: Omit<ConstructorParameters<typeof Plan.EvidenceField>[0], "name">
  /** Phantom: the type of the decoded value. */
  readonly _A?: (_: never) => A
}

/**
 * The decoded values of a record of fields.
 *
 * @since 0.3.0
 * @category models
 */
export type Values<F extends Readonly<Record<string, Field<unknown>>>> = {
  readonly [K in keyof F]: F[K] extends Field<infer A> ? A : never
}

const field = <A>(spec: Field<A>["spec"]): Field<A> => ({ spec })

const defined = <T extends Record<string, unknown>>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T

/**
 * Free text, non-empty unless `optional`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const text = (description: string, options: { readonly optional?: boolean } = {}): Field<string> =>
  field(defined({ description, optional: options.optional }))

/**
 * A version (`6.2.1`, `24.3.2`); with `expected`, exactly that version.
 *
 * @since 0.3.0
 * @category constructors
 */
export const version = (description: string, options: { readonly expected?: string } = {}): Field<string> =>
  field(defined({ description, format: "version" as const, expected: options.expected }))

/**
 * A SHA-256 fingerprint: 64 hexadecimal digits, with or without `:` or
 * spaces between bytes (decoded to lower-case hex without separators).
 *
 * @since 0.3.0
 * @category constructors
 */
export const sha256 = (description: string, options: { readonly expected?: string } = {}): Field<string> =>
  field(defined({ description, format: "sha256" as const, expected: options.expected }))

/**
 * A file path; with `mustExist`, a path on this machine must exist.
 *
 * @since 0.3.0
 * @category constructors
 */
export const path = (description: string, options: { readonly mustExist?: boolean } = {}): Field<string> =>
  field(defined({ description, format: "path" as const, mustExist: options.mustExist }))

/**
 * A whole number within optional bounds (or exactly `expected`).
 *
 * @since 0.3.0
 * @category constructors
 */
export const integer = (
  description: string,
  options: { readonly minimum?: number; readonly maximum?: number; readonly expected?: number } = {}
): Field<number> =>
  field(
    defined({
      description,
      format: "integer" as const,
      minimum: options.minimum,
      maximum: options.maximum,
      expected: options.expected === undefined ? undefined : String(options.expected)
    })
  )

/**
 * The plan's evidence fields of a record of field definitions.
 *
 * @since 0.3.0
 * @category constructors
 */
export const toFields = (fields: Readonly<Record<string, Field<unknown>>>): ReadonlyArray<Plan.EvidenceField> =>
  Object.entries(fields).map(([name, f]) => new Plan.EvidenceField({ name, ...f.spec }))

/**
 * One value that does not fit its field.
 *
 * @since 0.3.0
 * @category models
 */
export class Problem extends Schema.Class<Problem>("Problem")({
  field: Schema.String,
  expected: Schema.String,
  got: Schema.String
}) {}

/**
 * An approval whose evidence does not fit the gate: the gate stays open.
 *
 * @since 0.3.0
 * @category errors
 */
export class EvidenceRefused extends Schema.TaggedError<EvidenceRefused>("@sra-upgrade/core/EvidenceRefused")(
  "EvidenceRefused",
  { stepId: Schema.String, problems: Schema.Array(Problem) }
) {
  /**
   * @since 0.3.0
   */
  override get message(): string {
    return `Evidence refused for ${this.stepId}: ${this.problems
      .map((p) => `${p.field} must be ${p.expected}${p.got === "" ? " (nothing was given)" : `, got "${p.got}"`}`)
      .join("; ")}. Check the work, then answer again with the right values; the gate stays open.`
  }
}

const versionRe = /^\d+(\.\d+){1,3}([ -]?\(?[0-9A-Za-z.-]+\)?)?$/
const hex64 = /^[0-9a-f]{64}$/

const normalizeVersion = (s: string) => s.trim().replace(/^v/i, "")
const normalizeSha = (s: string) => s.trim().toLowerCase().replace(/[:\s]/g, "")

/** The decoded value of one field, or what was expected. */
const decodeOne = (f: Plan.EvidenceField, raw: string): Either.Either<string | number, string> => {
  const value = raw.trim()
  switch (f.format ?? "text") {
    case "text":
      return value.length > 0 ? Either.right(value) : Either.left("filled in")
    case "path":
      return value.length > 0 ? Either.right(value) : Either.left("a file path")
    case "version": {
      const v = normalizeVersion(value)
      if (!versionRe.test(v)) return Either.left(f.expected === undefined ? "a version such as 6.2.1" : f.expected)
      if (f.expected !== undefined && v.split(/[ -(]/)[0] !== normalizeVersion(f.expected))
        return Either.left(`${f.expected} (the version this plan installs)`)
      return Either.right(v)
    }
    case "sha256": {
      const h = normalizeSha(value)
      if (!hex64.test(h)) return Either.left("a SHA-256 fingerprint (64 hexadecimal digits)")
      if (f.expected !== undefined && h !== normalizeSha(f.expected))
        return Either.left(`the fingerprint ${f.expected}`)
      return Either.right(h)
    }
    case "integer":
    case "number": {
      const n = Number(value)
      const ok = value.length > 0 && Number.isFinite(n) && (f.format === "number" || Number.isInteger(n))
      const bounds =
        f.minimum !== undefined && f.maximum !== undefined
          ? ` between ${f.minimum} and ${f.maximum}`
          : f.minimum !== undefined
            ? ` of at least ${f.minimum}`
            : f.maximum !== undefined
              ? ` of at most ${f.maximum}`
              : ""
      const what = `${f.format === "integer" ? "a whole number" : "a number"}${bounds}`
      if (!ok) return Either.left(f.expected === undefined ? what : f.expected)
      if (f.expected !== undefined && n !== Number(f.expected)) return Either.left(f.expected)
      if ((f.minimum !== undefined && n < f.minimum) || (f.maximum !== undefined && n > f.maximum))
        return Either.left(what)
      return Either.right(n)
    }
  }
}

/**
 * Check an approval's evidence against the gate's fields; succeeds with the
 * decoded values (numbers as numbers, fingerprints normalised). Pure: local
 * paths are checked by {@link checkLocalPaths}.
 *
 * @since 0.3.0
 * @category combinators
 */
export const validate = (
  stepId: string,
  fields: ReadonlyArray<Plan.EvidenceField>,
  given: Readonly<Record<string, string>>
): Either.Either<Readonly<Record<string, string | number>>, EvidenceRefused> => {
  const values: Record<string, string | number> = {}
  const problems: Array<Problem> = []
  for (const f of fields) {
    const raw = given[f.name] ?? ""
    if (raw.trim() === "" && f.optional === true) continue
    const r = decodeOne(f, raw)
    if (Either.isLeft(r)) problems.push(new Problem({ field: f.name, expected: r.left, got: raw.slice(0, 200) }))
    else values[f.name] = r.right
  }
  return problems.length > 0 ? Either.left(new EvidenceRefused({ stepId, problems })) : Either.right(values)
}

/**
 * Whether a path names a file on this machine (not `\\host\share`, not a URL).
 *
 * @since 0.3.0
 * @category combinators
 */
export const isLocalPath = (p: string): boolean => !/^(\\\\|\/\/|[A-Za-z][A-Za-z0-9+.-]*:\/\/)/.test(p.trim())

/**
 * Check that every `path` field with `mustExist` that names a local path
 * exists on this machine.
 *
 * @since 0.3.0
 * @category combinators
 */
export const checkLocalPaths = (
  stepId: string,
  fields: ReadonlyArray<Plan.EvidenceField>,
  values: Readonly<Record<string, string | number>>
): Effect.Effect<void, EvidenceRefused> =>
  Effect.gen(function* () {
    const problems: Array<Problem> = []
    for (const f of fields) {
      const v = values[f.name]
      if (f.format !== "path" || f.mustExist !== true || typeof v !== "string" || !isLocalPath(v)) continue
      const exists = yield* Effect.promise(() =>
        fs.promises.stat(v).then(
          () => true,
          () => false
        )
      )
      if (!exists) problems.push(new Problem({ field: f.name, expected: "an existing file on this machine", got: v }))
    }
    if (problems.length > 0) return yield* new EvidenceRefused({ stepId, problems })
  })

/**
 * A value that fits a field: its expected value, else a plausible one of its
 * format (`.` for a path: it exists). For auto-approving test doubles only.
 *
 * @since 0.3.0
 * @category combinators
 */
export const example = (f: Plan.EvidenceField): string => {
  if (f.expected !== undefined) return f.expected
  switch (f.format ?? "text") {
    case "version":
      return "1.0.0"
    case "sha256":
      return "0".repeat(64)
    case "path":
      return "."
    case "integer":
    case "number":
      return String(f.minimum ?? f.maximum ?? 1)
    case "text":
      return "auto"
  }
}

/**
 * Decode an approval's evidence into the typed values of a record of field
 * definitions (what a gate's handler receives).
 *
 * @since 0.3.0
 * @category combinators
 */
export const decode = <F extends Readonly<Record<string, Field<unknown>>>>(
  stepId: string,
  fields: F,
  given: Readonly<Record<string, string>>
): Either.Either<Values<F>, EvidenceRefused> =>
  validate(stepId, toFields(fields), given) as Either.Either<Values<F>, EvidenceRefused>
