/**
 * Rehearsals (PREP-5): "test the update in a controlled environment before
 * production". A rehearsal is a run of the same plan against a simulator
 * seeded from the site's observed state; when it succeeds, {@link record}
 * writes a small JSON record into a folder, keyed by the plan's
 * {@link fingerprint}. The plan's advisory check (`core/check-rehearsal`)
 * then finds it with {@link find}.
 *
 * The fingerprint is a SHA-256 over the plan minus what differs between a
 * rehearsal and production without changing what is done: the plan id,
 * titles, notes, gate instructions, estimates, poll intervals and
 * deadlines, the maintenance window's dates and the folders where files
 * go. Steps, their order, handlers, rules, targets and every other
 * parameter (versions, packages, method) are covered.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"
import { mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises"
import { join } from "node:path"
import * as Plan from "./Plan.js"
import type { RunReport } from "./RunReport.js"

/** Parameter names that hold run-specific locations, not what is done. */
const RUN_SPECIFIC_PARAMS = new Set(["directory", "exportDirectory", "rehearsalDirectory"])

const canonical = (u: unknown): unknown => {
  if (Array.isArray(u)) return u.map(canonical)
  if (u !== null && typeof u === "object") {
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(u).sort()) out[k] = canonical((u as Record<string, unknown>)[k])
    return out
  }
  return u
}

/**
 * The stable fingerprint of a plan (64 hex digits).
 *
 * @since 0.1.0
 * @category combinators
 */
export const fingerprint = (plan: Plan.Plan): string => {
  const shape = {
    kind: plan.kind,
    site: plan.site,
    targetVersion: plan.targetVersion,
    steps: plan.steps.map((s) => ({
      id: s.id,
      kind: s._tag,
      rules: [...s.rules],
      target: s.target ?? null,
      handler: s.handler,
      idempotent: s.idempotent,
      ...(s._tag === "Check" ? { severity: s.severity } : {}),
      ...(s._tag === "ManualGate" ? { evidence: s.evidence.map((e) => e.name) } : {}),
      params: Object.fromEntries(Object.entries(s.params).filter(([k]) => !RUN_SPECIFIC_PARAMS.has(k)))
    }))
  }
  return createHash("sha256")
    .update(JSON.stringify(canonical(shape)))
    .digest("hex")
}

/**
 * One successful rehearsal.
 *
 * @since 0.1.0
 * @category models
 */
export class RehearsalRecord extends Schema.Class<RehearsalRecord>("RehearsalRecord")({
  fingerprint: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/)),
  planId: Schema.String,
  runId: Schema.String,
  site: Schema.String,
  targetVersion: Schema.String,
  at: Schema.Date,
  /** Where it ran, e.g. `simulator seeded from support.example.com`. */
  environment: Schema.String,
  steps: Schema.Number
}) {}

/**
 * The rehearsal folder could not be read or written.
 *
 * @since 0.3.0
 * @category models
 */
export class RehearsalIo extends Schema.TaggedClass<RehearsalIo>()("RehearsalIo", {
  operation: Schema.String,
  path: Schema.String,
  code: Schema.String
}) {}

/**
 * Only a successful run is a rehearsal.
 *
 * @since 0.3.0
 * @category models
 */
export class NotSucceeded extends Schema.TaggedClass<NotSucceeded>()("NotSucceeded", {
  runId: Schema.String,
  status: Schema.String,
  error: Schema.optional(Schema.String)
}) {}

/**
 * The report is of another plan than the one recorded.
 *
 * @since 0.3.0
 * @category models
 */
export class OtherPlan extends Schema.TaggedClass<OtherPlan>()("OtherPlan", {
  reportPlanId: Schema.String,
  planId: Schema.String
}) {}

/**
 * @since 0.3.0
 * @category models
 */
export const RehearsalErrorReason = Schema.Union(RehearsalIo, NotSucceeded, OtherPlan)

/**
 * The rehearsal folder could not be used, or the run did not succeed.
 *
 * @since 0.1.0
 * @category errors
 */
export class RehearsalError extends Schema.TaggedError<RehearsalError>("@sra-upgrade/core/RehearsalError")(
  "RehearsalError",
  { reason: RehearsalErrorReason }
) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const r = this.reason
    switch (r._tag) {
      case "RehearsalIo":
        return `Rehearsal records: ${r.operation} ${r.path} failed (${r.code}). Check the folder and its permissions.`
      case "NotSucceeded":
        return `Only a successful run is a rehearsal: run ${r.runId} is ${r.status}${r.error === undefined ? "" : `: ${r.error}`}. Fix the cause and rehearse again.`
      case "OtherPlan":
        return `The report is of plan ${r.reportPlanId}, not ${r.planId}: record the report of this plan's rehearsal.`
    }
  }
}

const io = (operation: string, path: string) => (e: unknown) =>
  new RehearsalError({
    reason: new RehearsalIo({
      operation,
      path,
      code: (e as { code?: string } | null)?.code ?? (e instanceof Error ? e.message : String(e))
    })
  })

const encode = Schema.encodeSync(RehearsalRecord)
const decode = Schema.decodeUnknownEither(Schema.parseJson(RehearsalRecord))

/**
 * Record a successful rehearsal run of `plan` in `directory` (written to a
 * temporary file, then renamed).
 *
 * @since 0.1.0
 * @category constructors
 */
export const record = (
  directory: string,
  plan: Plan.Plan,
  report: RunReport,
  environment = "simulator"
): Effect.Effect<RehearsalRecord, RehearsalError> =>
  Effect.gen(function* () {
    if (report.planId !== plan.id)
      return yield* new RehearsalError({ reason: new OtherPlan({ reportPlanId: report.planId, planId: plan.id }) })
    if (report.status !== "succeeded")
      return yield* new RehearsalError({
        reason: new NotSucceeded({
          runId: report.runId,
          status: report.status,
          ...(report.error === undefined ? {} : { error: report.error })
        })
      })
    const fp = fingerprint(plan)
    const rec = new RehearsalRecord({
      fingerprint: fp,
      planId: plan.id,
      runId: report.runId,
      site: plan.site,
      targetVersion: plan.targetVersion,
      at: report.endedAt ?? new Date(0),
      environment,
      steps: plan.steps.length
    })
    const safeRun = report.runId.replace(/[^A-Za-z0-9._-]/g, "-")
    const file = join(directory, `${fp}-${safeRun}.json`)
    yield* Effect.tryPromise({ try: () => mkdir(directory, { recursive: true }), catch: io("create", directory) })
    yield* Effect.tryPromise({
      try: async () => {
        await writeFile(`${file}.tmp`, JSON.stringify(encode(rec), null, 2) + "\n", "utf8")
        await rename(`${file}.tmp`, file)
      },
      catch: io("write", file)
    })
    return rec
  })

/**
 * The rehearsals recorded for a fingerprint, oldest first (none when the
 * folder does not exist). Unreadable records are skipped.
 *
 * @since 0.1.0
 * @category combinators
 */
export const find = (
  directory: string,
  planFingerprint: string
): Effect.Effect<ReadonlyArray<RehearsalRecord>, RehearsalError> =>
  Effect.gen(function* () {
    const names = yield* Effect.tryPromise({
      try: () => readdir(directory),
      catch: (e) => e
    }).pipe(
      Effect.catchAll((e) =>
        (e as { code?: string } | null)?.code === "ENOENT"
          ? Effect.succeed([] as Array<string>)
          : Effect.fail(io("read", directory)(e))
      )
    )
    const mine = names.filter((n) => n.startsWith(`${planFingerprint}-`) && n.endsWith(".json")).sort()
    const out: Array<RehearsalRecord> = []
    for (const n of mine) {
      const text = yield* Effect.tryPromise({
        try: () => readFile(join(directory, n), "utf8"),
        catch: io("read", join(directory, n))
      })
      const r = decode(text)
      if (r._tag === "Right" && r.right.fingerprint === planFingerprint) out.push(r.right)
    }
    return out.sort((a, b) => a.at.getTime() - b.at.getTime())
  })

/**
 * Whether `plan` was rehearsed successfully (records in `directory`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const check = (
  directory: string,
  plan: Plan.Plan
): Effect.Effect<
  { readonly fingerprint: string; readonly rehearsals: ReadonlyArray<RehearsalRecord> },
  RehearsalError
> => {
  const fp = fingerprint(plan)
  return Effect.map(find(directory, fp), (rehearsals) => ({ fingerprint: fp, rehearsals }))
}
