/**
 * The executor: interprets a plan step by step through the services it is
 * given as Layers — `StepHandlers` (the step contract; handlers capture their
 * own dependencies such as `ApplianceApi`), `Operator` (manual gates),
 * `Journal` — and Effect's `Clock` (tests use `TestClock`).
 *
 * Guarantees:
 * - every event is appended to the journal before the next side effect;
 * - `resume(runId)` replays the journal through `RunState.transition` and
 *   continues exactly where the run stopped (crash, cancel, deferred gate);
 *   a non-idempotent step that was in flight is re-verified by its handler's
 *   `verify` first, and only re-run if it did not take effect (without
 *   `verify`, the Operator is asked);
 * - PREP-6: a base-software update failure halts the run in
 *   `halted-needs-support`; nothing is retried, and `resume` refuses it;
 * - progress is a `Stream` of `RunEvent` envelopes (`runStream`, `subscribe`).
 *
 * Step failures are data: `run` succeeds with a `RunReport` whose status may
 * be `failed`; `ExecutorError` is for what prevents interpreting at all.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Take from "effect/Take"
import { ApplianceError } from "./ApplianceError.js"
import * as Faults from "./internal/executor/faults.js"
import * as Lock from "./internal/executor/lock.js"
import * as Observation from "./internal/executor/observation.js"
import { Journal, JournalError } from "./Journal.js"
import * as GateEvidence from "./GateEvidence.js"
import * as Operator from "./Operator.js"
import type * as Plan from "./Plan.js"
import * as RunEvent from "./RunEvent.js"
import * as RunHistory from "./RunHistory.js"
import { RunObserver } from "./RunObserver.js"
import * as RunReport from "./RunReport.js"
import * as RunState from "./RunState.js"
import * as StepHandler from "./StepHandler.js"

/**
 * PREP-6: the run is halted; resuming is refused.
 *
 * @since 0.1.0
 * @category models
 */
export class NeedsSupport extends Schema.TaggedClass<NeedsSupport>()("NeedsSupport", {
  stepId: Schema.String,
  detail: Schema.String
}) {}

/**
 * The run already failed; it cannot be resumed.
 *
 * @since 0.1.0
 * @category models
 */
export class AlreadyFinished extends Schema.TaggedClass<AlreadyFinished>()("AlreadyFinished", {
  status: Schema.String,
  detail: Schema.String
}) {}

/**
 * The journal holds no complete record (the crash tore the first one).
 *
 * @since 0.1.0
 * @category models
 */
export class NotStarted extends Schema.TaggedClass<NotStarted>()("NotStarted", {}) {}

/**
 * The plan names handlers no registry provides.
 *
 * @since 0.1.0
 * @category models
 */
export class MissingHandlers extends Schema.TaggedClass<MissingHandlers>()("MissingHandlers", {
  handlers: Schema.Array(Schema.String)
}) {}

/**
 * The journal's records do not form a valid run (an event invalid in the
 * state the previous ones lead to).
 *
 * @since 0.1.0
 * @category models
 */
export class InconsistentJournal extends Schema.TaggedClass<InconsistentJournal>()("InconsistentJournal", {
  seq: Schema.Number,
  detail: Schema.String
}) {}

/**
 * This executor is already running this run id.
 *
 * @since 0.1.0
 * @category models
 */
export class RunInProgress extends Schema.TaggedClass<RunInProgress>()("RunInProgress", {}) {}

/**
 * The journal failed (see the nested error).
 *
 * @since 0.1.0
 * @category models
 */
export class JournalFailed extends Schema.TaggedClass<JournalFailed>()("JournalFailed", {
  error: JournalError
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export const ExecutorErrorReason = Schema.Union(
  NeedsSupport,
  AlreadyFinished,
  NotStarted,
  MissingHandlers,
  InconsistentJournal,
  RunInProgress,
  JournalFailed
)

/**
 * @since 0.1.0
 * @category errors
 */
export class ExecutorError extends Schema.TaggedError<ExecutorError>("@sra-upgrade/core/ExecutorError")(
  "ExecutorError",
  { runId: Schema.String, reason: ExecutorErrorReason }
) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const r = this.reason
    switch (r._tag) {
      case "NeedsSupport":
        return `Run ${this.runId} halted at step ${r.stepId}: ${r.detail}. The base software update failed (PREP-6): do NOT reboot the appliance and do not retry; contact vendor support. This run cannot be resumed.`
      case "AlreadyFinished":
        return `Run ${this.runId} is already ${r.status}: ${r.detail}. Fix the cause and start a new run from a fresh plan.`
      case "NotStarted":
        return `Run ${this.runId} never started (its first journal record is missing or torn): start it again with run and the same run id.`
      case "MissingHandlers":
        return `No step handler for ${r.handlers.join(", ")}: provide the layers of the packages that define them (StepHandler.merge).`
      case "InconsistentJournal":
        return `Journal of run ${this.runId} is inconsistent at record ${r.seq}: ${r.detail}. It was not modified; inspect it before resuming.`
      case "RunInProgress":
        return `Run ${this.runId} is already being executed by this process.`
      case "JournalFailed":
        return r.error.message
    }
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  /** Journal name; default `<plan id>-<UTC timestamp>-<random>`. */
  readonly runId?: string
}

/**
 * @since 0.1.0
 * @category services
 */
export class Executor extends Context.Tag("@sra-upgrade/core/Executor")<
  Executor,
  {
    /** Start a new run of `plan`; completes when the run ends, suspends (deferred gate) or fails to journal. */
    readonly run: (plan: Plan.Plan, options?: RunOptions) => Effect.Effect<RunReport.RunReport, ExecutorError>
    /** Continue a run from its journal. */
    readonly resume: (runId: string) => Effect.Effect<RunReport.RunReport, ExecutorError>
    /** `run`, as the stream of its events; ends when the run stops. */
    readonly runStream: (plan: Plan.Plan, options?: RunOptions) => Stream.Stream<RunEvent.Envelope, ExecutorError>
    /** `resume`, as the stream of its events. */
    readonly resumeStream: (runId: string) => Stream.Stream<RunEvent.Envelope, ExecutorError>
    /** Live events of every run of this executor, from the moment of subscription. */
    readonly subscribe: Effect.Effect<Stream.Stream<RunEvent.Envelope>, never, Scope.Scope>
    /** The report of a run from its journal, without running anything. */
    readonly report: (runId: string) => Effect.Effect<RunReport.RunReport, ExecutorError>
  }
>() {}

type Sink = (envelope: RunEvent.Envelope) => Effect.Effect<void>

interface RunCtx {
  readonly runId: string
  readonly plan: Plan.Plan
  readonly stepById: ReadonlyMap<string, Plan.Step>
  state: RunState.RunState
  seq: number
  readonly records: Array<RunEvent.Envelope>
  /** Typed queries over `records` for the handlers. */
  readonly history: RunHistory.RunHistory
  readonly attempts: Map<string, number>
  readonly confirmReasons: Map<string, string>
  readonly sink: Sink | undefined
  /** One event at a time: a handler's progress reports may come from another fiber. */
  readonly lock: Lock.Lock
  /** Absolute deadlines of the `WaitFor` steps started (journaled on `StepStarted`; kept across resumes). */
  readonly deadlines: Map<string, Date>
  /** The `RunObserver` session beside the run, while one runs. */
  readonly observation: Observation.Handle
}

/** Events are built here from typed values: skip the constructors' re-validation (hot path). */
const trusted = true

const now = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms))

const err = (runId: string, reason: typeof ExecutorErrorReason.Type) => new ExecutorError({ runId, reason })

const journalErr = (runId: string) => (error: JournalError) => err(runId, new JournalFailed({ error }))

const missingHandlers = (plan: Plan.Plan, handlers: StepHandler.StepHandlers["Type"]): ReadonlyArray<string> => {
  const missing = new Set<string>()
  for (const s of plan.steps) {
    if (s._tag !== "Window" && Option.isNone(handlers.get(s.handler))) missing.add(s.handler)
  }
  return [...missing].sort()
}

const toStepError = (e: StepHandler.HandlerError): StepHandler.StepError =>
  e instanceof ApplianceError ? new StepHandler.StepError({ reason: new StepHandler.Appliance({ error: e }) }) : e

const guard = <A>(
  eff: Effect.Effect<A, StepHandler.HandlerError>
): Effect.Effect<Either.Either<A, StepHandler.HandlerError>> =>
  eff.pipe(
    Effect.catchAllDefect((d) =>
      Effect.fail(StepHandler.fail(`handler crashed: ${d instanceof Error ? d.message : String(d)}`))
    ),
    Effect.either
  )

const recordsOf = (ctx: RunCtx) => ctx.records

/**
 * A new run id for a plan, as `run` chooses one when none is given:
 * `<plan id>-<UTC timestamp>-<random>` (a caller that must know the id
 * before the run starts, such as a portal recording who started it, uses it).
 *
 * @since 0.3.0
 * @category constructors
 */
export const newRunId = (plan: Plan.Plan): Effect.Effect<string> =>
  Effect.gen(function* () {
    const at = yield* now
    const stamp = at
      .toISOString()
      .replace(/[-:]/g, "")
      .replace(/\.\d+Z$/, "Z")
    const rand = (yield* Random.nextIntBetween(0, 0xffffff)).toString(16).padStart(6, "0")
    const base = plan.id.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "") || "run"
    return `${base.slice(0, 120)}-${stamp}-${rand}`
  })

/**
 * Build an executor from its services.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.gen(function* () {
  const handlers = yield* StepHandler.StepHandlers
  const operator = yield* Operator.Operator
  const journal = yield* Journal
  const observer = yield* Effect.serviceOption(RunObserver)
  const pubsub = yield* PubSub.unbounded<RunEvent.Envelope>()
  const active = new Set<string>()

  const claim = <A, E>(runId: string, eff: Effect.Effect<A, E | ExecutorError>) =>
    Effect.suspend(() => {
      if (active.has(runId)) return Effect.fail(err(runId, new RunInProgress()))
      active.add(runId)
      return Effect.ensuring(
        Effect.scoped(Effect.zipRight(Effect.mapError(journal.lock(runId), journalErr(runId)), eff)),
        Effect.sync(() => active.delete(runId))
      )
    })

  /** Journal, then apply, then publish, one event at a time. Uninterruptible: the state always matches the journal. */
  const emit = (ctx: RunCtx, event: RunEvent.RunEvent): Effect.Effect<ReadonlyArray<RunState.Intent>, ExecutorError> =>
    Lock.withLock(
      ctx.lock,
      Effect.suspend(() => {
        const r = RunState.transition(ctx.state, event)
        if (Either.isLeft(r)) return Effect.die(r.left)
        const envelope = new RunEvent.Envelope({ runId: ctx.runId, seq: ctx.seq + 1, event }, true)
        return Effect.flatMap(Effect.mapError(journal.append(envelope), journalErr(ctx.runId)), () => {
          ctx.seq++
          ctx.state = r.right.state
          ctx.records.push(envelope)
          if (event._tag === "ConfirmationNeeded") ctx.confirmReasons.set(event.stepId, event.reason)
          const published = PubSub.publish(pubsub, envelope)
          return Effect.as(ctx.sink ? Effect.zipRight(published, ctx.sink(envelope)) : published, r.right.intents)
        })
      })
    )

  const stepOf = (ctx: RunCtx, stepId: string) => ctx.stepById.get(stepId)!

  const handlerCtx = (ctx: RunCtx, step: Plan.Step): StepHandler.StepContext => ({
    runId: ctx.runId,
    plan: ctx.plan,
    step,
    attempt: ctx.attempts.get(step.id) ?? 1,
    history: ctx.history,
    progress: (update) =>
      Effect.flatMap(now, (at) =>
        emit(
          ctx,
          new RunEvent.StepProgress(
            {
              stepId: step.id,
              done: update.done,
              ...(update.total === undefined ? {} : { total: update.total }),
              unit: update.unit,
              at
            },
            trusted
          )
        )
      ).pipe(
        Effect.asVoid,
        Effect.mapError((e) => StepHandler.fail(`the journal could not record the step's progress: ${e.message}`))
      )
  })

  const handlerOf = (step: Plan.Step) => Option.getOrUndefined(handlers.get(step.handler))

  /** Turn a handler failure into the event that ends the step. */
  const failure = (ctx: RunCtx, step: Plan.Step, e: StepHandler.HandlerError) =>
    Effect.gen(function* () {
      const error = toStepError(e)
      const at = yield* now
      if (error.reason._tag === "BaseUpdateFailed") {
        return yield* emit(
          ctx,
          new RunEvent.SupportNeeded({ stepId: step.id, detail: error.reason.message, at }, trusted)
        )
      }
      if (step._tag === "Check" && step.severity === "advisory") {
        return yield* emit(
          ctx,
          new RunEvent.StepSucceeded({ stepId: step.id, evidence: {}, warnings: [error.message], at }, trusted)
        )
      }
      return yield* emit(ctx, new RunEvent.StepFailed({ stepId: step.id, error, at }, trusted))
    })

  const missingCapability = (ctx: RunCtx, step: Plan.Step, capability: "run" | "poll") =>
    Effect.flatMap(now, (at) =>
      emit(
        ctx,
        new RunEvent.StepFailed(
          {
            stepId: step.id,
            error: new StepHandler.StepError({
              reason: new StepHandler.HandlerMissing({ handler: step.handler, capability })
            }),
            at
          },
          trusted
        )
      )
    )

  const performRun = (ctx: RunCtx, step: Plan.Step) => {
    const run = handlerOf(step)?.run
    if (!run) return missingCapability(ctx, step, "run")
    // combinators, not a generator: this is every step's path (issue 16)
    return Effect.flatMap(guard(run(handlerCtx(ctx, step))), (r) =>
      Either.isLeft(r)
        ? failure(ctx, step, r.left)
        : Effect.flatMap(now, (at) =>
            emit(ctx, new RunEvent.StepSucceeded({ stepId: step.id, evidence: r.right, warnings: [], at }, trusted))
          )
    )
  }

  const performWait = (ctx: RunCtx, step: Plan.WaitFor) =>
    Effect.gen(function* () {
      const poll = handlerOf(step)?.poll
      if (!poll) return yield* missingCapability(ctx, step, "poll")
      // the deadline journaled when the step started holds across resumes (older journals: from now)
      const deadline =
        ctx.deadlines.get(step.id)?.getTime() ?? (yield* Clock.currentTimeMillis) + step.deadlineSeconds * 1000
      const started = deadline - step.deadlineSeconds * 1000
      let n = 0
      while (true) {
        n++
        const r = yield* guard(poll(handlerCtx(ctx, step)))
        let observation: StepHandler.Observation
        if (Either.isLeft(r)) {
          // An appliance that does not answer (rebooting) is an observation, not a failure.
          if (!(r.left instanceof ApplianceError)) return yield* failure(ctx, step, r.left)
          observation = { holds: false, observed: { error: r.left.message } }
        } else {
          observation = r.right
        }
        const at = yield* now
        yield* emit(
          ctx,
          new RunEvent.WaitProgress(
            { stepId: step.id, poll: n, holds: observation.holds, observed: observation.observed, at },
            trusted
          )
        )
        if (observation.holds) {
          return yield* emit(
            ctx,
            new RunEvent.StepSucceeded(
              {
                stepId: step.id,
                evidence: observation.evidence ?? { observed: observation.observed },
                warnings: observation.warnings ?? [],
                at
              },
              trusted
            )
          )
        }
        const t = at.getTime()
        if (t + step.intervalSeconds * 1000 > deadline) {
          const error = new StepHandler.StepError({
            reason: new StepHandler.WaitTimeout({
              afterSeconds: (t - started) / 1000,
              polls: n,
              lastObserved: observation.observed
            })
          })
          return yield* emit(ctx, new RunEvent.StepFailed({ stepId: step.id, error, at }, trusted))
        }
        yield* Effect.sleep(Duration.seconds(step.intervalSeconds))
      }
    })

  const performWindow = (ctx: RunCtx, step: Plan.Window) =>
    Effect.gen(function* () {
      const at = yield* now
      const w = step.window
      if (w.isOpenAt(at)) {
        return yield* emit(
          ctx,
          new RunEvent.StepSucceeded(
            {
              stepId: step.id,
              evidence: { window: w.label, closesAt: w.end.toISOString() },
              warnings: [],
              at
            },
            trusted
          )
        )
      }
      if (at.getTime() < w.start.getTime()) {
        return yield* emit(ctx, new RunEvent.Paused({ stepId: step.id, until: w.start, at }, trusted))
      }
      const error = new StepHandler.StepError({
        reason: new StepHandler.WindowMissed({ label: w.label, closedAt: w.end })
      })
      return yield* emit(ctx, new RunEvent.StepFailed({ stepId: step.id, error, at }, trusted))
    })

  const performRecover = (ctx: RunCtx, step: Plan.Step) =>
    Effect.gen(function* () {
      const verify = handlerOf(step)?.verify
      let reason = "its handler cannot read its effect back (no verify)"
      if (Faults.reverifyOff()) {
        // TEST-ONLY fault switch (internal/executor/faults.ts): the crash matrix shows it notices the repeat
        return yield* emit(
          ctx,
          new RunEvent.StepVerified({ stepId: step.id, effective: false, evidence: {}, at: yield* now }, trusted)
        )
      }
      if (verify) {
        const r = yield* guard(verify(handlerCtx(ctx, step)))
        const at = yield* now
        if (Either.isRight(r)) {
          return yield* emit(
            ctx,
            new RunEvent.StepVerified(
              { stepId: step.id, effective: r.right.effective, evidence: r.right.evidence, at },
              trusted
            )
          )
        }
        const e = toStepError(r.left)
        if (e.reason._tag === "BaseUpdateFailed") {
          return yield* emit(
            ctx,
            new RunEvent.SupportNeeded({ stepId: step.id, detail: e.reason.message, at }, trusted)
          )
        }
        reason = `verifying it failed: ${e.message}`
      }
      const at = yield* now
      return yield* emit(ctx, new RunEvent.ConfirmationNeeded({ stepId: step.id, reason, at }, trusted))
    })

  const performAsk = (ctx: RunCtx, step: Plan.Step, purpose: Operator.GatePurpose) =>
    Effect.gen(function* () {
      yield* emit(ctx, new RunEvent.GateOpened({ stepId: step.id, purpose, at: yield* now }, trusted))
      const request: Operator.GateRequest =
        purpose === "gate" && step._tag === "ManualGate"
          ? { runId: ctx.runId, purpose, step, instructions: step.instructions, evidence: step.evidence }
          : {
              runId: ctx.runId,
              purpose,
              step,
              instructions: [
                `The run stopped while "${step.title}" was in progress, and ${ctx.confirmReasons.get(step.id) ?? "its effect cannot be read back"}.`,
                `Check on ${step.target ?? "the target"} whether it took effect.`,
                "Approve if it did (the run goes on); reject if it did not (the step runs again)."
              ],
              evidence: []
            }
      const given = yield* operator.answer(request)
      let answer: Operator.Answer = given
      if (given._tag === "Approved") {
        // an approval whose evidence contradicts the plan is refused: the gate stays open
        const refused = yield* GateEvidence.validate(step.id, request.evidence, given.evidence).pipe(
          Effect.flatMap((values) => GateEvidence.checkLocalPaths(step.id, request.evidence, values)),
          Effect.flip,
          Effect.option
        )
        if (Option.isSome(refused)) answer = new Operator.Deferred({ by: given.by, reason: refused.value.message })
      }
      return yield* emit(ctx, new RunEvent.GateAnswered({ stepId: step.id, purpose, answer, at: yield* now }, trusted))
    })

  const perform = (
    ctx: RunCtx,
    intent: RunState.Intent
  ): Effect.Effect<ReadonlyArray<RunState.Intent>, ExecutorError> =>
    RunState.Intent.$match(intent, {
      Begin: ({ stepId }) =>
        Effect.flatMap(now, (at) => {
          const attempt = (ctx.attempts.get(stepId) ?? 0) + 1
          ctx.attempts.set(stepId, attempt)
          const step = stepOf(ctx, stepId)
          const deadline = step._tag === "WaitFor" ? new Date(at.getTime() + step.deadlineSeconds * 1000) : undefined
          if (deadline !== undefined) ctx.deadlines.set(stepId, deadline)
          return emit(
            ctx,
            new RunEvent.StepStarted({ stepId, attempt, at, ...(deadline === undefined ? {} : { deadline }) }, trusted)
          )
        }),
      Perform: ({ stepId }) => {
        const step = stepOf(ctx, stepId)
        switch (step._tag) {
          case "WaitFor":
            return performWait(ctx, step)
          case "Window":
            return performWindow(ctx, step)
          default:
            return performRun(ctx, step)
        }
      },
      Recover: ({ stepId }) => performRecover(ctx, stepOf(ctx, stepId)),
      AskOperator: ({ purpose, stepId }) => performAsk(ctx, stepOf(ctx, stepId), purpose),
      SleepUntil: ({ stepId, until }) =>
        Effect.gen(function* () {
          const t = yield* Clock.currentTimeMillis
          if (until.getTime() > t) yield* Effect.sleep(Duration.millis(until.getTime() - t))
          return yield* emit(ctx, new RunEvent.WindowOpened({ stepId, at: yield* now }, trusted))
        }),
      Suspend: () => Effect.succeed([]),
      Finish: () =>
        Effect.flatMap(Effect.zipRight(Observation.stop(ctx.observation), now), (at) =>
          emit(
            ctx,
            new RunEvent.RunFinished(
              {
                status: RunState.statusName(ctx.state.status) as typeof RunEvent.FinalStatus.Type,
                at
              },
              trusted
            )
          )
        )
    })

  const drive = (ctx: RunCtx, initial: ReadonlyArray<RunState.Intent>) =>
    Effect.gen(function* () {
      if (initial.length > 0 && !RunState.isTerminal(ctx.state.status)) {
        const record = (sample: RunEvent.SiteSample) => Effect.ignore(emit(ctx, sample))
        const observation = { runId: ctx.runId, plan: ctx.plan, history: [...ctx.records], record }
        // TEST-ONLY fault switch (internal/executor/faults.ts): a resume that does not observe the site
        const resuming = ctx.records.some((r) => r.event._tag === "Resumed")
        if (!(resuming && Faults.observerOffOnResume()))
          yield* Observation.start(observer, observation, ctx.observation)
      }
      const queue = [...initial]
      while (queue.length > 0) {
        const next = yield* perform(ctx, queue.shift()!)
        for (const i of next) queue.push(i)
      }
      yield* Observation.stop(ctx.observation)
      return RunReport.fromJournal(recordsOf(ctx), ctx.state)
    }).pipe(
      Effect.ensuring(Observation.stop(ctx.observation)),
      Effect.onInterrupt(() => {
        const s = ctx.state.status
        if (RunState.isTerminal(s) || s._tag === "Cancelled" || s._tag === "Pending") return Effect.void
        return Effect.flatMap(now, (at) => emit(ctx, new RunEvent.Cancelled({ at }, trusted))).pipe(Effect.ignore)
      })
    )

  const newCtx = (runId: string, plan: Plan.Plan, sink: Sink | undefined): RunCtx => {
    const records: Array<RunEvent.Envelope> = []
    return {
      runId,
      plan,
      stepById: new Map(plan.steps.map((s) => [s.id, s])),
      state: RunState.initial,
      seq: 0,
      records,
      history: RunHistory.make(records),
      attempts: new Map(),
      confirmReasons: new Map(),
      sink,
      lock: Lock.make(),
      deadlines: new Map(),
      observation: { scope: undefined }
    }
  }

  const runWith = (plan: Plan.Plan, options: RunOptions | undefined, sink: Sink | undefined) =>
    Effect.gen(function* () {
      const runId = options?.runId ?? (yield* newRunId(plan))
      const missing = missingHandlers(plan, handlers)
      if (missing.length > 0) return yield* err(runId, new MissingHandlers({ handlers: missing }))
      return yield* claim(
        runId,
        Effect.gen(function* () {
          yield* Effect.mapError(journal.create(runId), journalErr(runId))
          const ctx = newCtx(runId, plan, sink)
          const intents = yield* emit(ctx, new RunEvent.RunStarted({ runId, plan, at: yield* now }, trusted))
          return yield* drive(ctx, intents)
        })
      )
    })

  /** Read and replay a journal. */
  const load = (runId: string) =>
    Effect.gen(function* () {
      const contents = yield* Effect.mapError(journal.read(runId), journalErr(runId))
      const first = contents.records[0]?.event
      if (first === undefined || first._tag !== "RunStarted") {
        if (first === undefined) return yield* err(runId, new NotStarted())
        return yield* err(runId, new InconsistentJournal({ seq: 1, detail: "the first record is not RunStarted" }))
      }
      const replayed = RunState.replay(contents.records.map((r) => r.event))
      if (Either.isLeft(replayed)) {
        return yield* err(
          runId,
          new InconsistentJournal({ seq: replayed.left.index + 1, detail: replayed.left.error.message })
        )
      }
      return { contents, plan: first.plan, state: replayed.right }
    })

  const resumeWith = (runId: string, sink: Sink | undefined) =>
    claim(
      runId,
      Effect.gen(function* () {
        const { contents, plan, state } = yield* load(runId)
        const status = state.status
        if (status._tag === "HaltedNeedsSupport") {
          return yield* err(runId, new NeedsSupport({ stepId: status.stepId, detail: status.detail }))
        }
        if (status._tag === "Failed") {
          return yield* err(
            runId,
            new AlreadyFinished({ status: "failed", detail: `step ${status.stepId}: ${status.error.message}` })
          )
        }
        const missing = missingHandlers(plan, handlers)
        if (missing.length > 0) return yield* err(runId, new MissingHandlers({ handlers: missing }))
        const torn = Option.isSome(contents.torn)
          ? yield* Effect.mapError(journal.repair(runId), journalErr(runId))
          : Option.none()
        const ctx = newCtx(runId, plan, sink)
        ctx.state = state
        ctx.seq = contents.records.length
        for (const r of contents.records) {
          ctx.records.push(r)
          if (r.event._tag === "StepStarted") ctx.attempts.set(r.event.stepId, r.event.attempt)
          if (r.event._tag === "StepStarted" && r.event.deadline) ctx.deadlines.set(r.event.stepId, r.event.deadline)
          if (r.event._tag === "ConfirmationNeeded") ctx.confirmReasons.set(r.event.stepId, r.event.reason)
        }
        if (status._tag === "Succeeded") {
          // Finished; only the closing record may be missing.
          const last = contents.records[contents.records.length - 1]!.event
          const intents = last._tag === "RunFinished" ? [] : [RunState.Intent.Finish()]
          const report = yield* drive(ctx, intents)
          // A terminal run journals no `Resumed`; the repair is reported here.
          return Option.isSome(torn)
            ? new RunReport.RunReport({ ...report, tornRecords: [...report.tornRecords, torn.value] })
            : report
        }
        const at = yield* now
        const intents = yield* emit(
          ctx,
          new RunEvent.Resumed(Option.isSome(torn) ? { tornRecord: torn.value, at } : { at }, trusted)
        )
        return yield* drive(ctx, intents)
      })
    )

  const streamOf = (
    start: (sink: Sink) => Effect.Effect<RunReport.RunReport, ExecutorError>
  ): Stream.Stream<RunEvent.Envelope, ExecutorError> =>
    Stream.unwrapScoped(
      Effect.gen(function* () {
        const queue = yield* Queue.unbounded<Take.Take<RunEvent.Envelope, ExecutorError>>()
        yield* Effect.forkScoped(
          start((e) => Queue.offer(queue, Take.of(e))).pipe(
            Effect.exit,
            Effect.flatMap((exit) => Queue.offer(queue, Exit.isSuccess(exit) ? Take.end : Take.failCause(exit.cause)))
          )
        )
        return Stream.flattenTake(Stream.fromQueue(queue))
      })
    )

  return Executor.of({
    run: (plan, options) => runWith(plan, options, undefined),
    resume: (runId) => resumeWith(runId, undefined),
    runStream: (plan, options) => streamOf((sink) => runWith(plan, options, sink)),
    resumeStream: (runId) => streamOf((sink) => resumeWith(runId, sink)),
    subscribe: Effect.map(PubSub.subscribe(pubsub), (dequeue) => Stream.fromQueue(dequeue)),
    report: (runId) =>
      Effect.map(load(runId), ({ contents, state }) => {
        const report = RunReport.fromJournal(contents.records, state)
        // a torn tail not yet repaired (the run has not been resumed since the crash)
        return Option.isSome(contents.torn)
          ? new RunReport.RunReport({ ...report, tornRecords: [...report.tornRecords, contents.torn.value] })
          : report
      })
  })
})

/**
 * The executor over the given handlers, operator and journal.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Executor, never, StepHandler.StepHandlers | Operator.Operator | Journal> = Layer.effect(
  Executor,
  make
)

/**
 * @since 0.1.0
 * @category combinators
 */
export const run = (
  plan: Plan.Plan,
  options?: RunOptions
): Effect.Effect<RunReport.RunReport, ExecutorError, Executor> => Effect.flatMap(Executor, (e) => e.run(plan, options))

/**
 * @since 0.1.0
 * @category combinators
 */
export const resume = (runId: string): Effect.Effect<RunReport.RunReport, ExecutorError, Executor> =>
  Effect.flatMap(Executor, (e) => e.resume(runId))

/**
 * @since 0.1.0
 * @category combinators
 */
export const runStream = (
  plan: Plan.Plan,
  options?: RunOptions
): Stream.Stream<RunEvent.Envelope, ExecutorError, Executor> =>
  Stream.unwrap(Effect.map(Executor, (e) => e.runStream(plan, options)))

/**
 * @since 0.1.0
 * @category combinators
 */
export const resumeStream = (runId: string): Stream.Stream<RunEvent.Envelope, ExecutorError, Executor> =>
  Stream.unwrap(Effect.map(Executor, (e) => e.resumeStream(runId)))

/**
 * @since 0.1.0
 * @category combinators
 */
export const report = (runId: string): Effect.Effect<RunReport.RunReport, ExecutorError, Executor> =>
  Effect.flatMap(Executor, (e) => e.report(runId))
