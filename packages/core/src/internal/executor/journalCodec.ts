import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Plan from "../../Plan.js"
import {
  Cancelled,
  Envelope,
  RunFinished,
  RunStarted,
  SiteSample,
  StepProgress,
  StepStarted,
  StepSucceeded,
  TornRecord,
  WaitProgress
} from "../../RunEvent.js"

const encode = Schema.encodeSync(Envelope)
const decode = Schema.decodeUnknownEither(Envelope)

/** @internal */
export const validRunId = (runId: string): boolean => /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(runId)

/** The line as `Schema.encodeSync(Envelope)` + `JSON.stringify` writes it (and fails as they fail). */
export const encodeLineWithSchema = (record: Envelope): string => JSON.stringify(encode(record)) + "\n"

// ---------------------------------------------------------------------------------------------------------------
// Fast path (issue 16: a fleet journals millions of records). The events a run writes most are encoded by hand,
// with the checks the schema makes; anything that does not match exactly what those checks accept goes to the
// schema encoder, which then writes the same line or fails with its own error. The objects built below list the
// fields in the order of their schema (`_tag` last), as the schema's encoded output does, so `JSON.stringify`
// writes the same bytes (`test/JournalGolden.test.ts`, `test/JournalCodec.test.ts`).
// ---------------------------------------------------------------------------------------------------------------

const isString = (u: unknown): u is string => typeof u === "string"
const isNumber = (u: unknown): u is number => typeof u === "number"
const isBoolean = (u: unknown): u is boolean => typeof u === "boolean"
/** `Schema.Date` encodes a valid `Date` as its ISO string. */
const isValidDate = (u: unknown): u is Date => u instanceof Date && !Number.isNaN(u.getTime())

/**
 * `Schema.Record({ key: String, value: Unknown })` copies the own enumerable string keys of any non-array object
 * into a plain object. For a plain object (prototype `Object.prototype` or `null`) without an own `__proto__` key,
 * `JSON.stringify` of the object itself writes the same as of that copy; other objects take the schema path.
 */
const isPlainRecord = (u: unknown): u is Readonly<Record<string, unknown>> => {
  if (typeof u !== "object" || u === null) return false
  const proto = Object.getPrototypeOf(u)
  return (proto === Object.prototype || proto === null) && !Object.prototype.hasOwnProperty.call(u, "__proto__")
}

/** `Schema.Array(Schema.String)`: a plain array of strings (a hole or a subclass takes the schema path). */
const isStringArray = (u: unknown): u is ReadonlyArray<string> => {
  if (!Array.isArray(u) || Object.getPrototypeOf(u) !== Array.prototype) return false
  for (let i = 0; i < u.length; i++) if (typeof u[i] !== "string") return false
  return true
}

/** An optional field: absent, or `undefined` (written by neither path), or a value the check accepts. */
const optional = <A>(u: unknown, check: (u: unknown) => u is A): u is A | undefined => u === undefined || check(u)

/** `Schema.pattern` of `Plan.RuleId`. */
const ruleId = /^[A-Z]+-\d+$/
const isRuleIds = (u: unknown): u is ReadonlyArray<string> => {
  if (!isStringArray(u)) return false
  for (const r of u) {
    ruleId.lastIndex = 0
    if (!ruleId.test(r)) return false
  }
  return true
}
const planKinds: ReadonlySet<unknown> = new Set<Plan.Plan["kind"]>([
  "single",
  "sync-pair",
  "async-pair",
  "migration",
  "custom"
])
const isPositive = (u: unknown): u is number => typeof u === "number" && u > 0

/** The fields every step kind shares, in schema order; `undefined` when a check fails. */
const fastStepBase = (s: Plan.Action | Plan.Check | Plan.WaitFor) => {
  if (
    !isString(s.id) ||
    s.id.length < 1 ||
    !isString(s.title) ||
    !isRuleIds(s.rules) ||
    !optional(s.target, isString) ||
    !(typeof s.estimatedSeconds === "number" && s.estimatedSeconds >= 0) ||
    !isString(s.handler) ||
    !isPlainRecord(s.params) ||
    !isBoolean(s.idempotent) ||
    !isStringArray(s.notes)
  ) {
    return undefined
  }
  return {
    id: s.id,
    title: s.title,
    rules: s.rules,
    target: s.target,
    estimatedSeconds: s.estimatedSeconds,
    handler: s.handler,
    params: s.params,
    idempotent: s.idempotent,
    notes: s.notes
  }
}

const encodeStep = Schema.encodeSync(Plan.Step)

/** A step as `Plan.Step` encodes it; the kinds with nested classes (gates, windows) go through the schema. */
const fastStep = (s: unknown): object | undefined => {
  if (s instanceof Plan.Action) {
    const base = fastStepBase(s)
    return base && { ...base, _tag: s._tag }
  }
  if (s instanceof Plan.Check) {
    const base = fastStepBase(s)
    if (base === undefined || (s.severity !== "blocking" && s.severity !== "advisory")) return undefined
    return { ...base, severity: s.severity, _tag: s._tag }
  }
  if (s instanceof Plan.WaitFor) {
    const base = fastStepBase(s)
    if (base === undefined || !isPositive(s.intervalSeconds) || !isPositive(s.deadlineSeconds)) return undefined
    return { ...base, intervalSeconds: s.intervalSeconds, deadlineSeconds: s.deadlineSeconds, _tag: s._tag }
  }
  if (s instanceof Plan.ManualGate || s instanceof Plan.Window) {
    try {
      return encodeStep(s)
    } catch {
      return undefined // the whole envelope goes through the schema, which reports it
    }
  }
  return undefined
}

/** `Plan.Plan` encoded, or `undefined` when the schema must decide. */
const fastPlan = (p: unknown): object | undefined => {
  if (
    !(p instanceof Plan.Plan) ||
    !isString(p.id) ||
    !planKinds.has(p.kind) ||
    !isString(p.title) ||
    !isString(p.site) ||
    !isString(p.targetVersion) ||
    !Array.isArray(p.steps) ||
    Object.getPrototypeOf(p.steps) !== Array.prototype ||
    !isStringArray(p.notes)
  ) {
    return undefined
  }
  const steps: Array<object> = []
  const seen = new Set<unknown>()
  for (let i = 0; i < p.steps.length; i++) {
    const step: unknown = p.steps[i]
    const encoded = fastStep(step)
    if (encoded === undefined) return undefined
    // the schema's filter: no duplicate step ids
    const id = (step as Plan.Step).id
    if (seen.has(id)) return undefined
    seen.add(id)
    steps.push(encoded)
  }
  return {
    id: p.id,
    kind: p.kind,
    title: p.title,
    site: p.site,
    targetVersion: p.targetVersion,
    steps,
    notes: p.notes
  }
}

const iso = (d: Date | undefined) => (d === undefined ? undefined : d.toISOString())

/** The encoded event, or `undefined` when the schema must decide. */
const fastEvent = (e: unknown): object | undefined => {
  if (e instanceof RunStarted) {
    if (!isString(e.runId) || !isValidDate(e.at)) return undefined
    const plan = fastPlan(e.plan)
    return plan && { runId: e.runId, plan, at: e.at.toISOString(), _tag: e._tag }
  }
  if (e instanceof StepStarted) {
    if (!isString(e.stepId) || !isNumber(e.attempt) || !isValidDate(e.at) || !optional(e.deadline, isValidDate)) {
      return undefined
    }
    return { stepId: e.stepId, attempt: e.attempt, at: e.at.toISOString(), deadline: iso(e.deadline), _tag: e._tag }
  }
  if (e instanceof StepSucceeded) {
    if (!isString(e.stepId) || !isPlainRecord(e.evidence) || !isStringArray(e.warnings) || !isValidDate(e.at)) {
      return undefined
    }
    return { stepId: e.stepId, evidence: e.evidence, warnings: e.warnings, at: e.at.toISOString(), _tag: e._tag }
  }
  if (e instanceof StepProgress) {
    if (
      !isString(e.stepId) ||
      !isNumber(e.done) ||
      !optional(e.total, isNumber) ||
      (e.unit !== "bytes" && e.unit !== "items") ||
      !isValidDate(e.at)
    ) {
      return undefined
    }
    return { stepId: e.stepId, done: e.done, total: e.total, unit: e.unit, at: e.at.toISOString(), _tag: e._tag }
  }
  if (e instanceof WaitProgress) {
    // `observed` is `Schema.Unknown`: written as it is
    if (!isString(e.stepId) || !isNumber(e.poll) || !isBoolean(e.holds) || !isValidDate(e.at)) return undefined
    return {
      stepId: e.stepId,
      poll: e.poll,
      holds: e.holds,
      observed: e.observed,
      at: e.at.toISOString(),
      _tag: e._tag
    }
  }
  if (e instanceof SiteSample) {
    if (
      !isValidDate(e.from) ||
      !isValidDate(e.at) ||
      !isNumber(e.probes) ||
      !isNumber(e.failed) ||
      !isBoolean(e.up) ||
      !optional(e.lastError, isString) ||
      !isNumber(e.intervalMillis) ||
      !isString(e.url) ||
      !optional(e.first, isBoolean)
    ) {
      return undefined
    }
    return {
      from: e.from.toISOString(),
      at: e.at.toISOString(),
      probes: e.probes,
      failed: e.failed,
      up: e.up,
      lastError: e.lastError,
      intervalMillis: e.intervalMillis,
      url: e.url,
      first: e.first,
      _tag: e._tag
    }
  }
  if (e instanceof RunFinished) {
    const status: unknown = e.status
    if ((status !== "succeeded" && status !== "failed" && status !== "halted-needs-support") || !isValidDate(e.at)) {
      return undefined
    }
    return { status: e.status, at: e.at.toISOString(), _tag: e._tag }
  }
  if (e instanceof Cancelled) {
    return isValidDate(e.at) ? { at: e.at.toISOString(), _tag: e._tag } : undefined
  }
  return undefined
}

/**
 * One journal line: the JSON of the schema-encoded envelope and a newline (fails as the schema encoder fails).
 *
 * @internal
 */
export const encodeLine = (record: Envelope): string => {
  if (record instanceof Envelope && isString(record.runId) && isNumber(record.seq)) {
    const event = fastEvent(record.event)
    if (event !== undefined) return JSON.stringify({ runId: record.runId, seq: record.seq, event }) + "\n"
  }
  return encodeLineWithSchema(record)
}

/** Bytes after the last newline: a record whose write did not complete. */
export const tornTail = (buf: Buffer): Option.Option<TornRecord> => {
  const end = buf.lastIndexOf(10)
  const offset = end + 1
  return offset < buf.length ? Option.some(new TornRecord({ offset, bytes: buf.length - offset })) : Option.none()
}

/** @internal */
export interface Parsed {
  readonly records: ReadonlyArray<Envelope>
  readonly torn: Option.Option<TornRecord>
}

/** @internal */
export interface Damage {
  readonly line: number
  readonly detail: string
}

/** @internal */
export const parse = (runId: string, buf: Buffer): Either.Either<Parsed, Damage> => {
  const torn = tornTail(buf)
  const complete = Option.isSome(torn) ? buf.subarray(0, torn.value.offset) : buf
  const text = complete.toString("utf8")
  const lines = text.length === 0 ? [] : text.slice(0, -1).split("\n")
  const records: Array<Envelope> = []
  const corrupt = (line: number, detail: string) => Either.left({ line, detail })
  for (let i = 0; i < lines.length; i++) {
    let json: unknown
    try {
      json = JSON.parse(lines[i]!)
    } catch (e) {
      return corrupt(i + 1, `not JSON: ${(e as Error).message}`)
    }
    const r = decode(json)
    if (Either.isLeft(r)) {
      return corrupt(i + 1, `not a run event: ${ParseResult.TreeFormatter.formatErrorSync(r.left).split("\n")[0]}`)
    }
    if (r.right.runId !== runId) return corrupt(i + 1, `record of run ${r.right.runId}`)
    if (r.right.seq !== i + 1) return corrupt(i + 1, `sequence ${r.right.seq}, expected ${i + 1}`)
    records.push(r.right)
  }
  return Either.right({ records, torn })
}
