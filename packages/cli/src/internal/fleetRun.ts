/**
 * What `fleet run|status|pause|resume|abort|approve` and `runner` do: the
 * engine wiring, live progress (per wave, bars, ETA) and the controls.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { WorkflowEngine } from "@effect/workflow/WorkflowEngine"
import { type Journal, Plan, type RunReport } from "@sra-upgrade/core"
import {
  Admission,
  Engine,
  EngineLayer,
  FleetStore,
  type Rollout,
  SiteGates,
  type SiteWorker,
  StorageHealth
} from "@sra-upgrade/fleet"
import * as Console from "effect/Console"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { CliError, ExitCode, failed, usage } from "../CliError.js"

export type Database = ReturnType<typeof EngineLayer.parseDatabase>

const engineError = (e: EngineLayer.EngineError | FleetStore.FleetStoreError) =>
  e._tag === "FleetStoreError" && e.reason._tag === "RolloutNotFound" ? usage(e.message) : failed(e.message)

/** The ledger of a database (no engine): status and controls. */
export const ledger = (database: Database) => EngineLayer.ledgerOnly(database).pipe(Layer.mapError(engineError))

/** Which rollout: the one named, else the latest in the database. */
export const pick = (rolloutId: string | undefined) =>
  Effect.gen(function* () {
    const store = yield* FleetStore.FleetStore
    if (rolloutId !== undefined) return rolloutId
    const ids = yield* Effect.mapError(store.list, engineError)
    const last = ids.at(-1)
    if (last === undefined) return yield* usage("No rollout in this database: start one with `sra-upgrade fleet run`.")
    return last
  })

export const summaryOf = (rolloutId: string) =>
  Effect.gen(function* () {
    const store = yield* FleetStore.FleetStore
    const stored = yield* Effect.mapError(store.get(rolloutId), engineError)
    return { stored, summary: Admission.summarize(stored.plan, stored.ledger, stored.controls, new Date()) }
  })

const bar = (c: Admission.Counts, width = 20): string => {
  const total = Math.max(1, c.total)
  const done = Math.round(((c.succeeded + c.failed + c.skipped) / total) * width)
  const flying = Math.round(((c.running + c.admitted) / total) * width)
  return "#".repeat(done) + ">".repeat(Math.min(flying, width - done)) + ".".repeat(Math.max(0, width - done - flying))
}

/** Live progress: one line per wave with a bar, the totals, the budget and the ETA. */
export const render = (summary: Admission.Summary, plan: Rollout.RolloutPlan): ReadonlyArray<string> => {
  const c = summary.counts
  const lines = [
    `Rollout ${summary.rolloutId} (${plan.name}): ${summary.status}; ${c.succeeded} succeeded, ${c.failed} failed, ${c.running + c.admitted} running, ${c.notStarted} not started, ${c.skipped} skipped; failures ${summary.failures.failed}/${summary.failures.allowed} tolerated${summary.eta ? `; ETA ${summary.eta.toISOString()}` : ""}`
  ]
  for (const w of summary.waves) {
    const wc = w.counts
    lines.push(
      `  wave ${w.index + 1} ${w.name.padEnd(10)} [${bar(wc)}] ${wc.succeeded + wc.failed + wc.skipped}/${wc.total}${wc.failed > 0 ? ` (${wc.failed} failed)` : ""}${w.approval ? (w.approved ? " approved" : " needs approval") : ""}`
    )
  }
  return lines
}

/** The command that answers a site's gate. */
export const answerCommand = (g: SiteGates.OpenGate): string =>
  `sra-upgrade fleet answer --rollout ${g.rolloutId} --site ${g.site} --gate ${g.stepId} --approve|--reject|--defer --comment "…"${g.evidence
    .map((e) => ` --evidence ${e.name}=…`)
    .join("")}`

/**
 * The gates of sites not finished: those they wait on (open), and those answered and not yet taken by the
 * site's run. What `fleet status` prints, as text and as JSON.
 */
export const pendingGates = (
  stored: FleetStore.Stored,
  gates: ReadonlyArray<SiteGates.GateRecord>
): ReadonlyArray<SiteGates.GateRecord> =>
  gates.filter((r) => {
    const st = Admission.stateOf(stored.ledger, r.gate.site)
    return !(st._tag === "Succeeded" || st._tag === "Failed" || st._tag === "Skipped")
  })

/**
 * The gates sites wait on (sites not finished): which site, which gate, since when, the instructions,
 * the evidence fields and the command that answers it; gates answered and not yet taken by the site.
 */
export const renderGates = (
  stored: FleetStore.Stored,
  gates: ReadonlyArray<SiteGates.GateRecord>
): ReadonlyArray<string> => {
  const lines: Array<string> = []
  for (const r of pendingGates(stored, gates)) {
    const g = r.gate
    if (!r.isOpen) {
      lines.push(
        `  answered: ${g.site} gate ${g.stepId} ${r.answer?._tag === "Approved" ? "approved" : "rejected"} by ${r.answer?.by}; the site resumes`
      )
      continue
    }
    lines.push(
      `  waiting: ${g.site} on gate ${g.stepId} (${g.purpose === "gate" ? "manual step" : "confirm"}: ${g.title}${g.target !== undefined ? `, ${g.target}` : ""}) since ${g.openedAt.toISOString()}`
    )
    g.instructions.forEach((l, i) => lines.push(`    ${i + 1}. ${l}`))
    if (g.evidence.length > 0) {
      lines.push("    evidence:")
      for (const e of SiteGates.describeEvidence(g)) lines.push(`      - ${e}`)
    }
    if (r.lastDeferral !== undefined)
      lines.push(
        `    last deferred by ${r.lastDeferral.by}${r.lastDeferral.reason ? `: ${r.lastDeferral.reason}` : ""}`
      )
    lines.push(`    answer: ${answerCommand(g)}`)
  }
  return lines
}

/** A gate of `fleet status --json`: the same facts as the text. */
export const GateJson = Schema.Struct({
  site: Schema.String,
  gate: Schema.String,
  runId: Schema.String,
  /** `waiting`: the site waits on it; `answered`: approved or rejected, not yet taken by the site's run. */
  status: Schema.Literal("waiting", "answered"),
  purpose: Schema.String,
  title: Schema.String,
  target: Schema.optional(Schema.String),
  since: Schema.Date,
  instructions: Schema.Array(Schema.String),
  evidence: Schema.Array(Plan.EvidenceField),
  lastDeferral: Schema.optional(Schema.Struct({ by: Schema.String, reason: Schema.optional(Schema.String) })),
  answer: Schema.optional(Schema.Struct({ decision: Schema.Literal("approved", "rejected"), by: Schema.String })),
  command: Schema.String
})

const gateJsonOf = (r: SiteGates.GateRecord): typeof GateJson.Type => {
  const g = r.gate
  const answer = r.isOpen ? undefined : r.answer
  return {
    site: g.site,
    gate: g.stepId,
    runId: g.runId,
    status: answer === undefined ? "waiting" : "answered",
    purpose: g.purpose,
    title: g.title,
    ...(g.target !== undefined ? { target: g.target } : {}),
    since: g.openedAt,
    instructions: g.instructions,
    evidence: g.evidence,
    ...(r.lastDeferral !== undefined
      ? {
          lastDeferral: {
            by: r.lastDeferral.by,
            ...(r.lastDeferral.reason !== undefined ? { reason: r.lastDeferral.reason } : {})
          }
        }
      : {}),
    ...(answer !== undefined
      ? {
          answer: {
            decision: answer._tag === "Approved" ? ("approved" as const) : ("rejected" as const),
            by: answer.by
          }
        }
      : {}),
    command: answerCommand(g)
  }
}

export const RolloutJson = Schema.Struct({
  rollout: Schema.Struct({
    id: Schema.String,
    status: Admission.RolloutStatus,
    waves: Schema.Number,
    sites: Schema.Struct({
      succeeded: Schema.Number,
      failed: Schema.Number,
      skipped: Schema.Number,
      notStarted: Schema.Number
    })
  })
})

const rolloutJsonOf = (summary: Admission.Summary): typeof RolloutJson.Type => ({
  rollout: {
    id: summary.rolloutId,
    status: summary.status,
    waves: summary.waves.length,
    sites: {
      succeeded: summary.counts.succeeded,
      failed: summary.counts.failed,
      skipped: summary.counts.skipped,
      notStarted: summary.counts.notStarted + summary.counts.admitted + summary.counts.running
    }
  }
})

/** The last JSON line of `fleet run --json` and `demo fleet --json`. */
export const rolloutLine = (summary: Admission.Summary): string =>
  JSON.stringify(Schema.encodeSync(RolloutJson)(rolloutJsonOf(summary)))

/** `fleet status --json`: the rollout's line, and the gates its sites wait on (as the text shows them). */
export const StatusJson = Schema.Struct({
  rollout: RolloutJson.fields.rollout,
  gates: Schema.Array(GateJson)
})

/** The line `fleet status --json` prints. */
export const statusLine = (
  summary: Admission.Summary,
  stored: FleetStore.Stored,
  gates: ReadonlyArray<SiteGates.GateRecord>
): string =>
  JSON.stringify(
    Schema.encodeSync(StatusJson)({
      ...rolloutJsonOf(summary),
      gates: pendingGates(stored, gates).map(gateJsonOf)
    })
  )

/** Exit code of an ended rollout. */
export const exitCodeOf = (status: Admission.RolloutStatus): ExitCode =>
  status === "succeeded"
    ? ExitCode.ok
    : status === "paused" || status === "waiting-approval"
      ? ExitCode.waiting
      : ExitCode.failed

/** The rollout ended: nothing in flight and nothing more will be admitted. */
export const ended = (summary: Admission.Summary): boolean =>
  summary.counts.admitted + summary.counts.running === 0 &&
  (summary.status === "succeeded" ||
    summary.status === "failed" ||
    summary.status === "aborted" ||
    summary.status === "halted-budget")

type EngineServices = WorkflowEngine | FleetStore.FleetStore | Journal.Journal | SqlClient.SqlClient

/**
 * Start a rollout on the engine and follow it to its end, printing progress
 * every `everyMillis` (text) or nothing but the last line (json).
 */
export const runAndFollow = (
  plan: Rollout.RolloutPlan,
  options: { readonly json: boolean; readonly everyMillis?: number }
): Effect.Effect<Admission.Summary, CliError, EngineServices> =>
  Effect.gen(function* () {
    yield* Effect.mapError(Engine.start(plan), (e) => failed(e.message))
    let last = ""
    const progress = yield* Effect.fork(
      Effect.forever(
        Effect.gen(function* () {
          const { stored, summary } = yield* summaryOf(plan.rolloutId)
          const text = render(summary, stored.plan).join("\n")
          if (!options.json && text !== last) yield* Console.log(text)
          last = text
          yield* Effect.sleep(options.everyMillis ?? 1_000)
        })
      )
    )
    // the workflow's reply, or the ledger showing the end (a reply can be lost when the runner that ran the
    // rollout's workflow dies: the survivor finishes it, the ledger tells)
    // the embedded engine's database taking no write for too long ends the wait (StorageHealth), never a hang
    yield* Effect.race(
      Effect.asVoid(Engine.awaitEnd(plan.rolloutId)),
      Effect.gen(function* () {
        for (;;) {
          const { summary } = yield* summaryOf(plan.rolloutId)
          if (ended(summary)) return
          yield* Effect.sleep(options.everyMillis ?? 1_000)
        }
      })
    ).pipe(
      StorageHealth.watched,
      Effect.catchTag("StorageStalled", (e) =>
        Effect.zipRight(Fiber.interrupt(progress), Effect.fail(failed(e.message)))
      )
    )
    yield* Fiber.interrupt(progress)
    const { stored, summary } = yield* summaryOf(plan.rolloutId)
    const text = render(summary, stored.plan).join("\n")
    if (!options.json && text !== last) yield* Console.log(text)
    return summary
  })

/** The embedded engine with a worker, its errors as the command's. */
export const embedded = (
  file: string,
  worker: Layer.Layer<SiteWorker.SiteWorker>,
  options: { readonly pollInterval?: Duration.DurationInput } = {}
): Layer.Layer<EngineServices | StorageHealth.StorageHealth, CliError> =>
  EngineLayer.embedded({ file, ...(options.pollInterval ? { pollInterval: options.pollInterval } : {}) }).pipe(
    Layer.provide(worker),
    Layer.mapError(engineError)
  )

/** Change a rollout's controls and print its status. */
export const control = (
  database: Database,
  rolloutId: string | undefined,
  change: (c: Admission.Controls, plan: Rollout.RolloutPlan) => Effect.Effect<Admission.Controls, CliError>
) =>
  Effect.gen(function* () {
    const id = yield* pick(rolloutId)
    const store = yield* FleetStore.FleetStore
    const { stored } = yield* summaryOf(id)
    const next = yield* change(stored.controls, stored.plan)
    yield* Effect.mapError(
      store.updateControls(id, () => next),
      engineError
    )
    const { stored: after, summary } = yield* summaryOf(id)
    for (const l of render(summary, after.plan)) yield* Console.log(l)
  }).pipe(Effect.provide(ledger(database)))

export const approveWave = (wave: number) => (c: Admission.Controls, plan: Rollout.RolloutPlan) =>
  wave < 1 || wave > plan.waves.length
    ? Effect.fail(usage(`--wave ${wave}: the rollout has waves 1 to ${plan.waves.length}.`))
    : Effect.succeed(Admission.withWaveApproved(c, wave - 1))

export { CliError }

/** The journal name of a site's run in a rollout. */
export const siteRunId = Engine.runIdOf

const seconds = (s: number) => (s >= 120 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(0)} s`)

/**
 * The rollout report: per wave, per site: outcome, duration, measured
 * availability and the site's report file.
 */
export const rolloutReport = (
  plan: Rollout.RolloutPlan,
  ledger: Admission.Ledger,
  reports: ReadonlyArray<RunReport.RunReport | undefined>,
  options: { readonly reportDir: string; readonly timeScale: number }
): ReadonlyArray<string> => {
  const byRun = new Map(reports.flatMap((r) => (r ? [[r.runId, r] as const] : [])))
  const lines = [`## Rollout ${plan.rolloutId}: ${plan.name}`, ""]
  if (options.timeScale > 1)
    lines.push(`Durations and downtime in simulated time (the simulator ran x${options.timeScale}).`, "")
  for (const w of plan.waves) {
    lines.push(`### Wave ${w.index + 1}: ${w.name}`, "")
    lines.push("| site | kind | time zone | outcome | duration | site downtime | report |")
    lines.push("|---|---|---|---|---|---|---|")
    for (const s of plan.sitesOf(w.index)) {
      const st = Admission.stateOf(ledger, s.id)
      const r = byRun.get(siteRunId(plan.rolloutId, s.id))
      const outcome =
        st._tag === "Failed" ? `failed: ${st.reason}` : st._tag === "Succeeded" ? "succeeded" : st._tag.toLowerCase()
      const duration =
        r?.startedAt && r.endedAt
          ? seconds(((r.endedAt.getTime() - r.startedAt.getTime()) / 1000) * options.timeScale)
          : "–"
      const downtime = r?.availability
        ? `${seconds(r.availability.totalUnavailableSeconds * options.timeScale)} (longest ${seconds(r.availability.longestOutageSeconds * options.timeScale)})`
        : "not measured"
      const file = r ? `${options.reportDir}/${r.runId}.report.md` : "–"
      lines.push(`| ${s.id} | ${s.kind} | ${s.timeZone} | ${outcome} | ${duration} | ${downtime} | ${file} |`)
    }
    lines.push("")
  }
  return lines
}
