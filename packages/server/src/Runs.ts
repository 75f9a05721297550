/**
 * Runs executed by the service: core's `Executor` over the file journal,
 * with the step handlers of the run's site over the live adapter and the
 * portal's gates as the `Operator`. Each run is a fiber of the service; its
 * events go to the journal first, then to the event streams (`Events`).
 *
 * The service records who started a run and whether a person cancelled it
 * (`<runs>/.portal/runs/<run>.json`). When it starts, it resumes the runs it
 * was executing when it stopped (shut down or killed): their gates open
 * again with the decisions already given. A run a person cancelled, or one
 * stopped by a deferred gate, waits for `resume`.
 *
 * When the site's runtime names a prober, the site address is probed while
 * the run is driven, through the executor's `RunObserver` (failover's
 * `SiteProber.layer`): the samples go to the run's journal like every other
 * record, a resume continues the same series, and the run's availability is
 * folded from the journal (`RunReport.availability`), exactly as the CLI does.
 *
 * @since 0.3.0
 */
import { Executor, Journal, Operator, type Plan, RunReport, StepHandler } from "@sra-upgrade/core"
import { SiteProber } from "@sra-upgrade/failover"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberMap from "effect/FiberMap"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import {
  AvailabilityView,
  Conflict,
  Invalid,
  NotFound,
  type PlanRequest,
  RunSummary,
  RunView,
  Unavailable
} from "./Api.js"
import type { Principal } from "./Auth.js"
import { Events } from "./Events.js"
import { Gates } from "./Gates.js"
import * as Meta from "./internal/meta.js"
import * as Sites from "./Sites.js"

/**
 * Options of the runs.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /** The runs folder of the journal. */
  readonly runsDirectory: string
}

/**
 * @since 0.3.0
 * @category services
 */
export class Runs extends Context.Tag("@sra-upgrade/server/Runs")<
  Runs,
  {
    /** Plan and start a run; returns once its first event is journaled. */
    readonly start: (
      request: PlanRequest,
      principal: Principal
    ) => Effect.Effect<RunSummary, NotFound | Invalid | Unavailable | Conflict>
    readonly list: Effect.Effect<ReadonlyArray<RunSummary>, Unavailable>
    readonly get: (runId: string) => Effect.Effect<RunView, NotFound | Unavailable>
    readonly report: (runId: string) => Effect.Effect<RunReport.RunReport, NotFound | Unavailable>
    /** Interrupt a running run (journaled `Cancelled`); `resume` continues it. */
    readonly cancel: (runId: string, principal: Principal) => Effect.Effect<RunSummary, NotFound | Conflict>
    readonly resume: (
      runId: string,
      principal: Principal
    ) => Effect.Effect<RunSummary, NotFound | Conflict | Invalid | Unavailable>
    /** Resume the runs the service was executing when it stopped; returns their ids. */
    readonly recover: Effect.Effect<ReadonlyArray<string>>
    /** Whether a journal exists for this run. */
    readonly exists: (runId: string) => Effect.Effect<boolean>
  }
>() {}

/** The page's view of a run's availability, from the report's (journal-folded) figures. */
const availabilityView = (a: RunReport.RunReport["availability"]): AvailabilityView | undefined =>
  a === undefined
    ? undefined
    : new AvailabilityView({
        source: `site probes (GET ${a.url}/check_health every ${a.intervalSeconds} s), journaled with the run`,
        intervalMillis: Math.round(a.intervalSeconds * 1000),
        startedAt: a.firstProbeAt,
        lastProbeAt: a.lastProbeAt,
        probes: a.probes,
        failed: a.failed,
        longestOutageMillis: Math.round(a.longestOutageSeconds * 1000),
        unavailableMillis: Math.round(a.totalUnavailableSeconds * 1000),
        notObservedMillis: Math.round(a.notObservedSeconds * 1000),
        outages: a.outages.map((o) => ({
          start: o.from,
          ...(o.open === true ? {} : { end: o.to }),
          failedProbes: Math.max(1, Math.round(o.seconds / Math.max(a.intervalSeconds, 0.001))),
          lastError: o.lastError
        }))
      })

const mapExecutorError = (e: Executor.ExecutorError): Conflict | Invalid | Unavailable | NotFound => {
  const r = e.reason
  switch (r._tag) {
    case "NeedsSupport":
    case "AlreadyFinished":
      return new Conflict({ reason: "run-finished", message: e.message })
    case "RunInProgress":
      return new Conflict({ reason: "run-active", message: e.message })
    case "MissingHandlers":
    case "NotStarted":
      return new Invalid({ reason: "run", message: e.message })
    case "InconsistentJournal":
      return new Unavailable({ reason: "journal", message: e.message })
    case "JournalFailed":
      switch (r.error.reason._tag) {
        case "RunNotFound":
        case "InvalidRunId":
          return new NotFound({ resource: "run", id: e.runId, message: e.message })
        case "Locked":
          return new Conflict({ reason: "run-active", message: e.message })
        default:
          return new Unavailable({ reason: "journal", message: e.message })
      }
  }
}

/**
 * The runs of the service.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (options: Options) =>
  Effect.gen(function* () {
    const journal = yield* Journal.Journal
    const events = yield* Events
    const gates = yield* Gates
    const sites = yield* Sites.Sites
    const fibers = yield* FiberMap.make<string>()
    const runsDir = options.runsDirectory
    const journalLayer = Layer.succeed(Journal.Journal, journal)
    const operatorLayer = Layer.succeed(Operator.Operator, gates.operator)
    // reports come from the journal alone
    const reader = yield* Executor.make.pipe(
      Effect.provide(Layer.mergeAll(StepHandler.layerRaw({}), Operator.layerScripted({}), journalLayer))
    )
    const notFound = (runId: string) =>
      new NotFound({ resource: "run", id: runId, message: `No run ${runId}: list the runs (GET /api/v1/runs).` })

    const report = (runId: string) =>
      reader.report(runId).pipe(
        Effect.mapError((e) => {
          const m = mapExecutorError(e)
          return m._tag === "NotFound" || m._tag === "Unavailable"
            ? m
            : new Unavailable({ reason: "journal", message: e.message })
        })
      )

    const summaryOf = (r: RunReport.RunReport, meta: Option.Option<Meta.RunMeta>, active: boolean) =>
      new RunSummary({
        runId: r.runId,
        ...(Option.isSome(meta) ? { site: meta.value.site, initiator: meta.value.initiator } : {}),
        planTitle: r.planTitle,
        targetVersion: r.targetVersion,
        status: r.status,
        ...(r.currentStep === undefined ? {} : { currentStep: r.currentStep }),
        active,
        ...(r.startedAt === undefined ? {} : { startedAt: r.startedAt }),
        ...(r.endedAt === undefined ? {} : { endedAt: r.endedAt })
      })

    const summary = (runId: string) =>
      Effect.gen(function* () {
        const r = yield* report(runId)
        return summaryOf(r, yield* Meta.read(runsDir, runId), yield* FiberMap.has(fibers, runId))
      })

    /** Execute (start or resume) a run in a fiber of the service; completes with its first event. */
    const execute = (runId: string, runtime: Sites.Runtime, plan: Plan.Plan | undefined) =>
      Effect.gen(function* () {
        const first = yield* Deferred.make<void, Executor.ExecutorError>()
        const program = Effect.scoped(
          Effect.gen(function* () {
            const appliances = Layer.succeedContext(yield* Layer.build(runtime.appliances))
            // probing (and its RunObserver) lives as long as this drive of the run
            const probing =
              runtime.prober === undefined
                ? undefined
                : Layer.succeedContext(
                    yield* Layer.build(SiteProber.layer(runtime.prober).pipe(Layer.provide(appliances)))
                  )
            const proberLayer = probing ?? Layer.empty
            const handlers = runtime.handlers(probing).pipe(Layer.provide(Layer.merge(appliances, journalLayer)))
            const executor = yield* Executor.make.pipe(
              Effect.provide(Layer.mergeAll(handlers, operatorLayer, journalLayer, proberLayer))
            )
            const stream = plan === undefined ? executor.resumeStream(runId) : executor.runStream(plan, { runId })
            yield* stream.pipe(
              Stream.runForEach((envelope) =>
                Effect.zipRight(events.publish(envelope), Deferred.succeed(first, void 0))
              ),
              Effect.tapError((e) =>
                Effect.zipRight(
                  Deferred.fail(first, e),
                  Effect.logWarning(`run ${runId} could not be executed: ${e.message}`)
                )
              ),
              Effect.ensuring(events.catchUp(runId)),
              Effect.ignore
            )
          })
        ).pipe(
          Effect.onInterrupt(() => Effect.zipRight(Deferred.interrupt(first), events.catchUp(runId))),
          Effect.ensuring(Deferred.succeed(first, void 0))
        )
        yield* FiberMap.run(fibers, runId, program)
        yield* Deferred.await(first).pipe(Effect.mapError(mapExecutorError))
      })

    const exists = (runId: string) =>
      journal.read(runId).pipe(
        Effect.map((c) => c.records.length > 0),
        Effect.orElseSucceed(() => false)
      )

    const resume = (runId: string, principal: Principal | undefined) =>
      Effect.gen(function* () {
        if (!(yield* exists(runId))) return yield* notFound(runId)
        if (yield* FiberMap.has(fibers, runId))
          return yield* new Conflict({ reason: "run-active", message: `Run ${runId} is already executing.` })
        const meta = yield* Meta.read(runsDir, runId)
        if (Option.isNone(meta))
          return yield* new Invalid({
            reason: "run",
            message: `Run ${runId} was not started by this service (no record of its site): resume it with \`sra-upgrade resume ${runId} --site <file>\`.`
          })
        if (meta.value.cancelledBy !== undefined)
          yield* Meta.write(
            runsDir,
            new Meta.RunMeta({ ...meta.value, cancelledBy: undefined, cancelledAt: undefined })
          ).pipe(Effect.orDie)
        if (principal !== undefined)
          yield* Effect.logInfo(`run ${runId} resumed by ${principal.id} (${principal.role})`)
        yield* execute(runId, yield* sites.runtime(meta.value.site), undefined)
        return yield* summary(runId).pipe(Effect.catchTag("NotFound", Effect.die))
      })

    return Runs.of({
      start: (request, principal) =>
        Effect.gen(function* () {
          const entryPlan = yield* sites.plan(request)
          const runtime = yield* sites.runtime(request.site)
          const plan = runtime.runPlan(entryPlan)
          const runId = yield* Executor.newRunId(plan)
          yield* Meta.write(
            runsDir,
            new Meta.RunMeta({
              runId,
              site: request.site,
              method: request.method ?? plan.kind,
              target: request.target,
              initiator: principal.id,
              initiatorRole: principal.role,
              createdAt: new Date(yield* Clock.currentTimeMillis)
            })
          ).pipe(Effect.mapError((e) => new Unavailable({ reason: "journal", message: e.message })))
          yield* Effect.logInfo(`run ${runId} started by ${principal.id} (${principal.role}): ${plan.title}`)
          yield* execute(runId, runtime, plan)
          return yield* summary(runId).pipe(Effect.catchTag("NotFound", Effect.die))
        }),
      list: Effect.gen(function* () {
        const ids = yield* journal.list.pipe(
          Effect.mapError((e) => new Unavailable({ reason: "journal", message: e.message }))
        )
        const out: Array<RunSummary> = []
        for (const id of ids) {
          const s = yield* Effect.option(summary(id))
          if (Option.isSome(s)) out.push(s.value)
        }
        return out.sort((a, b) => (b.startedAt?.getTime() ?? 0) - (a.startedAt?.getTime() ?? 0))
      }),
      get: (runId) =>
        Effect.gen(function* () {
          const r = yield* report(runId)
          const meta = yield* Meta.read(runsDir, runId)
          const active = yield* FiberMap.has(fibers, runId)
          const availability = availabilityView(r.availability)
          return new RunView({
            summary: summaryOf(r, meta, active),
            report: r,
            gates: yield* gates.open(runId),
            ...(availability === undefined ? {} : { availability })
          })
        }),
      report,
      cancel: (runId, principal) =>
        Effect.gen(function* () {
          if (!(yield* exists(runId))) return yield* notFound(runId)
          if (!(yield* FiberMap.has(fibers, runId)))
            return yield* new Conflict({
              reason: "run-idle",
              message: `Run ${runId} is not executing: nothing to cancel (see its status).`
            })
          const meta = yield* Meta.read(runsDir, runId)
          if (Option.isSome(meta))
            yield* Meta.write(
              runsDir,
              new Meta.RunMeta({
                ...meta.value,
                cancelledBy: principal.id,
                cancelledAt: new Date(yield* Clock.currentTimeMillis)
              })
            ).pipe(Effect.orDie)
          yield* FiberMap.remove(fibers, runId)
          yield* events.catchUp(runId)
          yield* Effect.logInfo(`run ${runId} cancelled by ${principal.id} (${principal.role})`)
          return yield* summary(runId).pipe(Effect.catchTag("Unavailable", Effect.die))
        }),
      resume: (runId, principal) => resume(runId, principal),
      recover: Effect.gen(function* () {
        const ids = yield* journal.list.pipe(Effect.orElseSucceed(() => [] as ReadonlyArray<string>))
        const resumed: Array<string> = []
        for (const runId of ids) {
          const meta = yield* Meta.read(runsDir, runId)
          if (Option.isNone(meta) || meta.value.cancelledBy !== undefined) continue
          const contents = yield* Effect.option(journal.read(runId))
          if (Option.isNone(contents)) continue
          const last = contents.value.records[contents.value.records.length - 1]?.event
          if (last === undefined || last._tag === "RunFinished") continue
          if (last._tag === "GateAnswered" && last.answer._tag === "Deferred") continue // a person said: not now
          const r = yield* Effect.option(report(runId))
          if (Option.isNone(r) || ["succeeded", "failed", "halted-needs-support"].includes(r.value.status)) continue
          const done = yield* Effect.either(resume(runId, undefined))
          if (done._tag === "Right") resumed.push(runId)
          else yield* Effect.logWarning(`run ${runId} could not be resumed: ${done.left.message}`)
        }
        if (resumed.length > 0) yield* Effect.logInfo(`resumed ${resumed.length} run(s): ${resumed.join(", ")}`)
        return resumed
      }),
      exists
    })
  })

/**
 * The runs in context.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Runs, never, Journal.Journal | Events | Gates | Sites.Sites> =>
  Layer.scoped(Runs, make(options))
