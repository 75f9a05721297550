/**
 * Durable execution of rollouts on `@effect/workflow` + `@effect/cluster`.
 *
 * Two workflows:
 * - `FleetRollout` (key: rollout id) loops: an activity decides admission
 *   (`FleetStore.admit`: `Admission.decide` and the ledger update in one
 *   transaction), the admitted sites start as child workflows (discarded,
 *   so one slow or suspended site never blocks the others), then a durable
 *   sleep until the next poll or window opening. It ends when every site
 *   finished, or when admission is halted (budget, abort) with nothing in
 *   flight.
 * - `SiteUpgrade` (key: rollout/site) runs one activity that starts the
 *   site's plan on the `Executor`, or resumes it from its journal when the
 *   activity runs again (after a crash or a takeover), and records the
 *   outcome in the ledger. The executor is the one interpreter of the plan;
 *   its journal is the SQL journal with a fencing epoch, so a runner presumed
 *   dead cannot append after another took the site over.
 *
 * A gate of a site's plan suspends the site: the executor's operator is the
 * rollout's durable gates (`SiteGates`): the gate is recorded open in the
 * ledger and the run stops (journal intact); `SiteUpgrade` then waits
 * durably (durable sleeps, growing to the idle interval) until an answer is
 * in the ledger (`answerGate`, from any process), and runs the site's
 * activity again, which resumes the run with the answer.
 *
 * Workflow bodies are pure (time, reads and writes happen in activities);
 * every activity is idempotent (the engine is at-least-once).
 *
 * @since 0.3.0
 */
import { Activity, DurableClock, Workflow } from "@effect/workflow"
import type { WorkflowEngine } from "@effect/workflow/WorkflowEngine"
import { Executor, Journal, Operator, type RunReport } from "@sra-upgrade/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Admission from "./Admission.js"
import { FleetStore, type FleetStoreError } from "./FleetStore.js"
import type * as Rollout from "./Rollout.js"
import * as SiteGates from "./SiteGates.js"
import { SiteWorker } from "./SiteWorker.js"
import * as StorageHealth from "./StorageHealth.js"

/**
 * The outcome of one site, as its workflow returns it.
 *
 * @since 0.3.0
 * @category models
 */
export class SiteResult extends Schema.Class<SiteResult>("SiteResult")({
  site: Schema.String,
  runId: Schema.String,
  status: Schema.Literal("succeeded", "failed"),
  reason: Schema.optional(Schema.String),
  startedAt: Schema.optional(Schema.Date),
  endedAt: Schema.optional(Schema.Date),
  /** The site's downtime measured during the run, seconds (absent: not measured). */
  unavailableSeconds: Schema.optional(Schema.Number),
  longestOutageSeconds: Schema.optional(Schema.Number)
}) {}

/**
 * A site's run stopped at a gate that waits for an answer (the activity's
 * outcome; the site's workflow then waits for the answer).
 *
 * @since 0.3.0
 * @category models
 */
export class SiteWaiting extends Schema.TaggedClass<SiteWaiting>()("SiteWaiting", {
  site: Schema.String,
  runId: Schema.String,
  stepId: Schema.String
}) {}

/**
 * What one run of a site's activity gives: the site's outcome, or the gate it waits on.
 *
 * @since 0.3.0
 * @category models
 */
export const SiteProgress = Schema.Union(SiteResult, SiteWaiting)

const isWaiting = Schema.is(SiteWaiting)

/**
 * How a rollout ended.
 *
 * @since 0.3.0
 * @category models
 */
export class RolloutResult extends Schema.Class<RolloutResult>("RolloutResult")({
  rolloutId: Schema.String,
  status: Admission.RolloutStatus,
  counts: Admission.Counts
}) {}

/**
 * Upgrade one site of a rollout.
 *
 * @since 0.3.0
 * @category workflows
 */
export const SiteUpgrade = Workflow.make({
  name: "SiteUpgrade",
  payload: { rolloutId: Schema.String, siteId: Schema.String },
  success: SiteResult,
  idempotencyKey: (p) => `${p.rolloutId}/${p.siteId}`
})

/**
 * Run a rollout to its end.
 *
 * @since 0.3.0
 * @category workflows
 */
export const FleetRollout = Workflow.make({
  name: "FleetRollout",
  payload: { rolloutId: Schema.String },
  success: RolloutResult,
  idempotencyKey: (p) => p.rolloutId
})

/**
 * The journal name of a site's run in a rollout.
 *
 * @since 0.3.0
 * @category combinators
 */
export const runIdOf = (rolloutId: string, siteId: string): string =>
  `${rolloutId}.${siteId}`.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "")

/**
 * Options of the engine's workflows.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /** How often the rollout re-decides admission while sites run or wait (default 1 second). */
  readonly pollInterval?: Duration.DurationInput
  /** The longest sleep while nothing is in flight (default 60 seconds; approvals and resumes are seen then). */
  readonly idleInterval?: Duration.DurationInput
  /** The instant admission decides at (default: the clock); tests drive windows with it. */
  readonly now?: Effect.Effect<Date>
  /**
   * Waits up to this long are `Effect.sleep`s inside an activity; longer ones are the engine's durable clocks
   * (default 60 seconds, `@effect/workflow`'s own threshold). `EngineLayer.memory` sets it to infinity: nothing
   * is durable there, and every wait is then a sleep on the `Clock` in context.
   */
  readonly inMemorySleepThreshold?: Duration.DurationInput
}

/** SQL hiccups are retried; what still fails is a defect of the activity (the engine retries it). */
const retrying = <A, E, R>(eff: Effect.Effect<A, E, R>) =>
  eff.pipe(Effect.retry(Schedule.intersect(Schedule.exponential("200 millis"), Schedule.recurs(8))), Effect.orDie)

const now = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms))

const resultOf = (site: string, report: RunReport.RunReport): SiteResult =>
  new SiteResult({
    site,
    runId: report.runId,
    status: report.status === "succeeded" ? "succeeded" : "failed",
    ...(report.status !== "succeeded"
      ? {
          reason:
            report.status === "failed" || report.status === "halted-needs-support"
              ? (report.error ?? report.status)
              : `the run stopped ${report.status}${report.currentStep ? ` at step ${report.currentStep}` : ""}: answer it, then resume the run ${report.runId}`
        }
      : {}),
    ...(report.startedAt ? { startedAt: report.startedAt } : {}),
    ...(report.endedAt ? { endedAt: report.endedAt } : {}),
    ...(report.availability
      ? {
          unavailableSeconds: report.availability.totalUnavailableSeconds,
          longestOutageSeconds: report.availability.longestOutageSeconds
        }
      : {})
  })

/**
 * Start or resume one site's run on the executor and return its outcome.
 * Idempotent: a run already in the journal is resumed (a finished one
 * reports its outcome again); the plan is built only for a new run.
 *
 * @since 0.3.0
 * @category combinators
 */
export const runSite = (
  rolloutId: string,
  site: Rollout.SitePlan
): Effect.Effect<SiteResult | SiteWaiting, never, SiteWorker | Journal.Journal | FleetStore> =>
  Effect.scoped(
    Effect.gen(function* () {
      const worker = yield* SiteWorker
      const journal = yield* Journal.Journal
      const runId = runIdOf(rolloutId, site.id)
      const failed = (reason: string) => new SiteResult({ site: site.id, runId, status: "failed", reason })
      const prepared = yield* Effect.either(worker.prepare(site, rolloutId))
      if (prepared._tag === "Left") return failed(prepared.left.message)
      const { executor, plan } = prepared.right
      const started = yield* journal.read(runId).pipe(
        Effect.map((c) => c.records.length > 0),
        Effect.catchAll(() => Effect.succeed(false))
      )
      let run: Effect.Effect<RunReport.RunReport, Executor.ExecutorError, Executor.Executor>
      if (started) run = Executor.resume(runId)
      else {
        const built = yield* Effect.either(plan)
        if (built._tag === "Left") return failed(built.left.message)
        run = Executor.run(built.right, { runId })
      }
      const outcome = yield* run.pipe(
        Effect.catchAll((e) =>
          e.reason._tag === "AlreadyFinished" || e.reason._tag === "NeedsSupport"
            ? Executor.report(runId)
            : e.reason._tag === "JournalFailed" && e.reason.error.reason._tag === "Fenced"
              ? // another runner took the site over: this one stops without recording anything
                Effect.die(e)
              : Effect.fail(e)
        ),
        Effect.map((report): SiteResult | SiteWaiting =>
          report.status === "waiting-for-operator" && report.currentStep !== undefined
            ? new SiteWaiting({ site: site.id, runId, stepId: report.currentStep })
            : resultOf(site.id, report)
        ),
        Effect.catchAll((e) => Effect.succeed(failed(e.message))),
        Effect.provide(Layer.provide(executor, gateOperator(rolloutId, site.id)))
      )
      return outcome
    })
  )

/**
 * The executor's operator for a site of a rollout: the answer given in the
 * ledger (`answerGate`), else the gate is recorded open and deferred (the run
 * stops, its journal intact, until the answer comes).
 *
 * @since 0.3.0
 * @category layers
 */
export const gateOperator = (rolloutId: string, siteId: string): Layer.Layer<Operator.Operator, never, FleetStore> =>
  Layer.effect(
    Operator.Operator,
    Effect.map(FleetStore, (store) =>
      Operator.Operator.of({
        answer: (request) =>
          Effect.gen(function* () {
            const given = yield* retrying(store.takeAnswer(rolloutId, siteId, request.step.id))
            if (Option.isSome(given)) return given.value
            yield* retrying(
              store.openGate(
                new SiteGates.OpenGate({
                  rolloutId,
                  site: siteId,
                  stepId: request.step.id,
                  runId: request.runId,
                  purpose: request.purpose,
                  title: request.step.title,
                  ...(request.step.target !== undefined ? { target: request.step.target } : {}),
                  instructions: request.instructions,
                  evidence: request.evidence,
                  openedAt: yield* now
                })
              )
            )
            return SiteGates.waiting({ stepId: request.step.id })
          })
      })
    )
  )

/**
 * Answer a gate a site of a rollout waits on (approve, reject or defer, with
 * the principal, a comment and, to approve, the evidence the gate asks for).
 * The answer is checked against the gate first (`SiteGates.toAnswer`); the
 * site's workflow takes it the next time it looks (within the engine's idle
 * interval) and its run journals it. What `sra-upgrade fleet answer` and the
 * portal call.
 *
 * @since 0.3.0
 * @category constructors
 */
export const answerGate = (
  input: SiteGates.AnswerInput
): Effect.Effect<SiteGates.GateRecord, FleetStoreError | SiteGates.GateAnswerError, FleetStore> =>
  Effect.gen(function* () {
    const store = yield* FleetStore
    return yield* store.answerGate(input, yield* now)
  })

/**
 * The workflows' implementations: register them on every runner.
 *
 * @since 0.3.0
 * @category layers
 */
export const workflows = (
  options: Options = {}
): Layer.Layer<never, never, WorkflowEngine | FleetStore | SiteWorker | Journal.Journal> => {
  const poll = Duration.decode(options.pollInterval ?? "1 second")
  const idle = Duration.decode(options.idleInterval ?? "60 seconds")
  const admissionNow = options.now ?? now
  const inMemoryThreshold = options.inMemorySleepThreshold ?? "60 seconds"

  const runActivity = (p: { readonly rolloutId: string; readonly siteId: string }) =>
    Effect.gen(function* () {
      const store = yield* FleetStore
      const stored = yield* retrying(store.get(p.rolloutId))
      const site = stored.plan.site(p.siteId)
      if (site === undefined) return yield* Effect.die(`rollout ${p.rolloutId} has no site ${p.siteId}`)
      const current = Admission.stateOf(stored.ledger, p.siteId)
      // a finished site (the activity ran again after recording) reports what was recorded
      if (current._tag === "Succeeded" || current._tag === "Failed") {
        return new SiteResult({
          site: p.siteId,
          runId: runIdOf(p.rolloutId, p.siteId),
          status: current._tag === "Succeeded" ? "succeeded" : "failed",
          ...(current._tag === "Failed" ? { reason: current.reason } : {})
        })
      }
      if (current._tag !== "Running") {
        yield* retrying(store.setState(p.rolloutId, p.siteId, new Admission.Running({ since: yield* now })))
      }
      const result = yield* runSite(p.rolloutId, site)
      // waiting on a gate: the site stays running (in flight) until it is answered
      if (isWaiting(result)) return result
      const at = yield* now
      yield* retrying(
        store.setState(
          p.rolloutId,
          p.siteId,
          result.status === "succeeded"
            ? new Admission.Succeeded({ at })
            : new Admission.Failed({ at, reason: result.reason ?? "failed" })
        )
      )
      return result
    })

  /** Whether the gate a site waits on was answered (or the rollout aborted meanwhile). */
  const lookForAnswer = (p: { readonly rolloutId: string; readonly siteId: string }, stepId: string) =>
    Effect.gen(function* () {
      const store = yield* FleetStore
      const gates = yield* retrying(store.gates(p.rolloutId))
      const record = gates.find((g) => g.gate.site === p.siteId && g.gate.stepId === stepId)
      if (record === undefined || record.answer !== undefined) return "answered" as const
      const stored = yield* retrying(store.get(p.rolloutId))
      return stored.controls.aborted ? ("aborted" as const) : ("waiting" as const)
    })

  const abortedWhileWaiting = (p: { readonly rolloutId: string; readonly siteId: string }, stepId: string) =>
    Effect.gen(function* () {
      const store = yield* FleetStore
      const reason = `the rollout was aborted while the site waited on gate ${stepId}; its run stopped there (journal intact)`
      const recorded = yield* retrying(
        store.setState(p.rolloutId, p.siteId, new Admission.Failed({ at: yield* now, reason }))
      )
      return new SiteResult({
        site: p.siteId,
        runId: runIdOf(p.rolloutId, p.siteId),
        status: recorded._tag === "Succeeded" ? "succeeded" : "failed",
        reason: recorded._tag === "Failed" ? recorded.reason : reason
      })
    })

  const SiteLive = SiteUpgrade.toLayer(
    Effect.fnUntraced(function* (p) {
      for (let n = 1; ; n++) {
        const progress = yield* Activity.make({
          name: n === 1 ? `run/${p.siteId}` : `run/${p.siteId}/${n}`,
          success: SiteProgress,
          execute: runActivity(p)
        })
        if (!isWaiting(progress)) return progress
        // the run stopped at a gate: wait durably for its answer, then run the activity again (it resumes)
        for (let k = 1; ; k++) {
          const millis = Math.min(
            Duration.toMillis(poll) * 2 ** Math.min(k - 1, 20),
            Math.max(Duration.toMillis(idle), Duration.toMillis(poll))
          )
          yield* DurableClock.sleep({ name: `gate/${n}/${k}`, duration: Duration.millis(millis), inMemoryThreshold })
          const look = yield* Activity.make({
            name: `answer/${n}/${k}`,
            success: Schema.Literal("answered", "waiting", "aborted"),
            execute: lookForAnswer(p, progress.stepId)
          })
          if (look === "answered") break
          if (look === "aborted")
            return yield* Activity.make({
              name: `aborted/${n}`,
              success: SiteResult,
              execute: abortedWhileWaiting(p, progress.stepId)
            })
        }
      }
    })
  )

  const Tick = Schema.Struct({
    toStart: Schema.Array(Schema.String),
    done: Schema.Boolean,
    result: RolloutResult,
    sleepMillis: Schema.Number
  })

  const RolloutLive = FleetRollout.toLayer(
    Effect.fnUntraced(function* (p) {
      for (let n = 1; ; n++) {
        const tick = yield* Activity.make({
          name: `admit/${n}`,
          success: Tick,
          execute: Effect.gen(function* () {
            const store = yield* FleetStore
            const at = yield* admissionNow
            const { decision, toStart } = yield* retrying(store.admit(p.rolloutId, at))
            const stored = yield* retrying(store.get(p.rolloutId))
            const summary = Admission.summarize(stored.plan, stored.ledger, stored.controls, at, { horizonDays: 0 })
            const c = summary.counts
            const flying = c.admitted + c.running
            const status = summary.status
            const done =
              flying === 0 &&
              (status === "succeeded" || status === "failed" || status === "aborted" || status === "halted-budget")
            const next = decision.nextWindowStart
            const wait = flying > 0 || toStart.length > 0 ? Duration.toMillis(poll) : Duration.toMillis(idle)
            const sleepMillis = Math.max(
              Duration.toMillis(poll),
              Math.min(wait, next === undefined ? Infinity : next.getTime() - at.getTime())
            )
            return {
              toStart,
              done,
              result: new RolloutResult({ rolloutId: p.rolloutId, status, counts: c }),
              sleepMillis: status === "waiting-approval" || status === "paused" ? Duration.toMillis(poll) : sleepMillis
            }
          })
        })
        for (const siteId of tick.toStart) {
          yield* SiteUpgrade.execute({ rolloutId: p.rolloutId, siteId }, { discard: true })
        }
        if (tick.done) return tick.result
        yield* DurableClock.sleep({
          name: `wait/${n}`,
          duration: Duration.millis(tick.sleepMillis),
          inMemoryThreshold
        })
      }
    })
  )

  return Layer.mergeAll(SiteLive, RolloutLive)
}

/**
 * Start a rollout (idempotent: starting it again changes nothing): record
 * its plan, then start its workflow without waiting for it.
 *
 * @since 0.3.0
 * @category constructors
 */
export const start = (plan: Rollout.RolloutPlan) =>
  Effect.gen(function* () {
    const store = yield* FleetStore
    yield* store.create(plan)
    return yield* FleetRollout.execute({ rolloutId: plan.rolloutId }, { discard: true })
  })

/**
 * Wait until a rollout ended and return how. On the embedded engine, fails
 * with `StorageHealth.StorageStalled` when its database takes no write for
 * too long (the rollout is intact: start the runner again to resume it).
 *
 * @since 0.3.0
 * @category constructors
 */
export const awaitEnd = (rolloutId: string) => StorageHealth.watched(FleetRollout.execute({ rolloutId }))
