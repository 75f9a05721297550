/**
 * The run as a typed state machine, in the style of XState v5's pure
 * `transition(machine, snapshot, event)`: `transition(state, event)` returns
 * the next state and the intents (effects) the executor must perform, or an
 * `InvalidTransition`. Nothing here does I/O, so a journal replays through it
 * to the exact state a run stopped in.
 *
 * ```
 * pending ─RunStarted─▶ running(step) ─StepSucceeded─▶ running(next) … ─▶ succeeded
 *                        │  │  │  └─StepFailed─▶ failed(step, error)
 *                        │  │  └─SupportNeeded (PREP-6)─▶ halted-needs-support(step)
 *                        │  └─Paused─▶ paused-until-window(step) ─WindowOpened─▶ running(step)
 *                        └─(gate)─▶ waiting-for-operator(step) ─GateAnswered─▶ running | failed
 * any active state ─Cancelled─▶ cancelled ─Resumed─▶ the state it was cancelled in
 * ```
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Either from "effect/Either"
import type { GatePurpose } from "./Operator.js"
import type * as Plan from "./Plan.js"
import type * as RunEvent from "./RunEvent.js"
import { GateRejected, StepError } from "./StepHandler.js"

type ActiveDef = {
  /** Nothing journaled yet. */
  Pending: {}
  /** `inFlight`: the step's `StepStarted` is journaled (its side effect may have happened). */
  Running: { readonly stepId: string; readonly inFlight: boolean }
  WaitingForOperator: { readonly stepId: string; readonly purpose: GatePurpose }
  PausedUntilWindow: { readonly stepId: string; readonly until: Date }
}

/**
 * A state from which the run can go on.
 *
 * @since 0.1.0
 * @category models
 */
export type Active = Data.TaggedEnum<ActiveDef>

/**
 * The run's status.
 *
 * @since 0.1.0
 * @category models
 */
export type RunStatus = Data.TaggedEnum<
  ActiveDef & {
    Succeeded: {}
    Failed: { readonly stepId: string; readonly error: StepError }
    HaltedNeedsSupport: { readonly stepId: string; readonly detail: string }
    /** Interrupted in `from`; `Resumed` returns there. */
    Cancelled: { readonly from: Active }
  }
>

/**
 * Constructors and `$is`/`$match` for `RunStatus`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const RunStatus = Data.taggedEnum<RunStatus>()

/**
 * What the machine needs to know of a step.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepInfo {
  readonly id: string
  readonly kind: Plan.Step["_tag"]
  readonly idempotent: boolean
}

/**
 * The machine's snapshot: the plan's steps, how many are done, the status.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunState {
  readonly runId: string
  readonly steps: ReadonlyArray<StepInfo>
  /** Number of completed steps = index of the current step. */
  readonly completed: number
  readonly status: RunStatus
}

/**
 * Effects the executor performs after a transition.
 *
 * @since 0.1.0
 * @category models
 */
export type Intent = Data.TaggedEnum<{
  /** Journal `StepStarted` for this step. */
  Begin: { readonly stepId: string }
  /** Perform the step by kind (run, poll, check the window, verify a gate's outcome). */
  Perform: { readonly stepId: string }
  /** Resume of an in-flight non-idempotent step: verify first, else ask the operator. */
  Recover: { readonly stepId: string }
  AskOperator: { readonly stepId: string; readonly purpose: GatePurpose }
  SleepUntil: { readonly stepId: string; readonly until: Date }
  /** Stop interpreting; the run stays resumable. */
  Suspend: {}
  /** Journal `RunFinished` and stop. */
  Finish: {}
}>

/**
 * @since 0.1.0
 * @category constructors
 */
export const Intent = Data.taggedEnum<Intent>()

/**
 * The result of a valid transition.
 *
 * @since 0.1.0
 * @category models
 */
export interface Transition {
  readonly state: RunState
  readonly intents: ReadonlyArray<Intent>
}

/**
 * An event that is not valid in the current state.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidTransition extends Data.TaggedError("InvalidTransition")<{
  readonly status: RunStatus["_tag"]
  readonly event: RunEvent.RunEvent["_tag"]
  readonly reason: string
}> {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `Event ${this.event} is not valid in state ${this.status}: ${this.reason}`
  }
}

/**
 * The state before anything is journaled.
 *
 * @since 0.1.0
 * @category constructors
 */
export const initial: RunState = { runId: "", steps: [], completed: 0, status: RunStatus.Pending() }

/**
 * Snake-case status names used in reports and docs.
 *
 * @since 0.1.0
 * @category models
 */
export const statusName = (status: RunStatus): string =>
  RunStatus.$match(status, {
    Pending: () => "pending",
    Running: () => "running",
    WaitingForOperator: () => "waiting-for-operator",
    PausedUntilWindow: () => "paused-until-window",
    Succeeded: () => "succeeded",
    Failed: () => "failed",
    HaltedNeedsSupport: () => "halted-needs-support",
    Cancelled: () => "cancelled"
  })

/**
 * `succeeded`, `failed` and `halted-needs-support` are final.
 *
 * @since 0.1.0
 * @category combinators
 */
export const isTerminal = (status: RunStatus): boolean =>
  status._tag === "Succeeded" || status._tag === "Failed" || status._tag === "HaltedNeedsSupport"

/**
 * The step the run is at, if any.
 *
 * @since 0.1.0
 * @category combinators
 */
export const currentStepId = (status: RunStatus): string | undefined => {
  switch (status._tag) {
    case "Running":
    case "WaitingForOperator":
    case "PausedUntilWindow":
    case "Failed":
    case "HaltedNeedsSupport":
      return status.stepId
    case "Cancelled":
      return currentStepId(status.from)
    default:
      return undefined
  }
}

type Result = Either.Either<Transition, InvalidTransition>

const ok = (state: RunState, ...intents: ReadonlyArray<Intent>): Result => Either.right({ state, intents })

/** The state with another status and `completed` (object literals, not spreads: every event goes through here). */
const with_ = (state: RunState, status: RunStatus, completed = state.completed): RunState => ({
  runId: state.runId,
  steps: state.steps,
  completed,
  status
})

/** Move to the next step (or to `succeeded`). */
const advance = (state: RunState): Result => {
  const completed = state.completed + 1
  const next = state.steps[completed]
  if (next === undefined) {
    return ok(with_(state, RunStatus.Succeeded(), completed), Intent.Finish())
  }
  return ok(
    with_(state, RunStatus.Running({ stepId: next.id, inFlight: false }), completed),
    Intent.Begin({ stepId: next.id })
  )
}

const needsRecovery = (info: StepInfo): boolean => (info.kind === "Action" || info.kind === "Check") && !info.idempotent

/** What to do when picking a run up in `status` (after a crash or cancel). */
const resumeIntents = (state: RunState, status: Active): ReadonlyArray<Intent> => {
  switch (status._tag) {
    case "Pending":
      return []
    case "Running": {
      if (!status.inFlight) return [Intent.Begin({ stepId: status.stepId })]
      return [
        needsRecovery(state.steps[state.completed]!)
          ? Intent.Recover({ stepId: status.stepId })
          : Intent.Perform({ stepId: status.stepId })
      ]
    }
    case "WaitingForOperator":
      return [Intent.AskOperator({ stepId: status.stepId, purpose: status.purpose })]
    case "PausedUntilWindow":
      return [Intent.SleepUntil({ stepId: status.stepId, until: status.until })]
  }
}

/**
 * Apply one event. Pure; exhaustive over events.
 *
 * @since 0.1.0
 * @category combinators
 */
export const transition = (state: RunState, event: RunEvent.RunEvent): Result => {
  const status = state.status
  const invalid = (reason: string): Result =>
    Either.left(new InvalidTransition({ status: status._tag, event: event._tag, reason }))
  const current = state.steps[state.completed]
  /** The event must be about the current step, which must be `Running` (in flight unless stated). */
  const running = (stepId: string, inFlight = true): string | undefined => {
    if (status._tag !== "Running") return `expected running, run is ${statusName(status)}`
    if (status.stepId !== stepId) return `event is for step ${stepId}, run is at ${status.stepId}`
    if (status.inFlight !== inFlight) return inFlight ? "step not started" : "step already started"
    return undefined
  }
  /** Only an in-flight non-idempotent Action/Check is verified or confirmed on resume. */
  const recoverable = (): string | undefined =>
    current !== undefined && needsRecovery(current) ? undefined : "only a non-idempotent action or check is recovered"
  // observations beside the run (RunObserver) change no state, whatever the state
  if (event._tag === "SiteSample") return ok(state)
  if (isTerminal(status) && event._tag !== "RunFinished") {
    return invalid("the run is finished; terminal states are final")
  }
  // a switch, not `Match`: this runs for every event of every run (issue 16)
  switch (event._tag) {
    case "RunStarted": {
      if (status._tag !== "Pending") return invalid("the run has already started")
      const steps = event.plan.steps.map((s) => ({ id: s.id, kind: s._tag, idempotent: s.idempotent }))
      return advance({ runId: event.runId, steps, completed: -1, status })
    }
    case "StepStarted": {
      const bad = running(event.stepId, false)
      if (bad) return invalid(bad)
      if (current!.kind === "ManualGate") {
        return ok(
          with_(state, RunStatus.WaitingForOperator({ stepId: event.stepId, purpose: "gate" })),
          Intent.AskOperator({ stepId: event.stepId, purpose: "gate" })
        )
      }
      return ok(
        with_(state, RunStatus.Running({ stepId: event.stepId, inFlight: true })),
        Intent.Perform({ stepId: event.stepId })
      )
    }
    case "StepSucceeded": {
      const bad = running(event.stepId)
      return bad ? invalid(bad) : advance(state)
    }
    case "StepFailed": {
      const bad = running(event.stepId)
      return bad
        ? invalid(bad)
        : ok(with_(state, RunStatus.Failed({ stepId: event.stepId, error: event.error })), Intent.Finish())
    }
    case "SupportNeeded": {
      const bad = running(event.stepId)
      return bad
        ? invalid(bad)
        : ok(
            with_(state, RunStatus.HaltedNeedsSupport({ stepId: event.stepId, detail: event.detail })),
            Intent.Finish()
          )
    }
    case "StepVerified": {
      const bad = running(event.stepId) ?? recoverable()
      if (bad) return invalid(bad)
      if (event.effective) return advance(state)
      return ok(
        with_(state, RunStatus.Running({ stepId: event.stepId, inFlight: false })),
        Intent.Begin({ stepId: event.stepId })
      )
    }
    case "ConfirmationNeeded": {
      const bad = running(event.stepId) ?? recoverable()
      return bad
        ? invalid(bad)
        : ok(
            with_(state, RunStatus.WaitingForOperator({ stepId: event.stepId, purpose: "confirm-effect" })),
            Intent.AskOperator({ stepId: event.stepId, purpose: "confirm-effect" })
          )
    }
    case "GateOpened": {
      if (status._tag !== "WaitingForOperator" || status.stepId !== event.stepId || status.purpose !== event.purpose) {
        return invalid(`no ${event.purpose} open for step ${event.stepId}`)
      }
      return ok(state)
    }
    case "GateAnswered": {
      if (status._tag !== "WaitingForOperator" || status.stepId !== event.stepId || status.purpose !== event.purpose) {
        return invalid(`no ${event.purpose} open for step ${event.stepId}`)
      }
      const answer = event.answer
      if (answer._tag === "Deferred") return ok(state, Intent.Suspend())
      if (answer._tag === "Approved") {
        return event.purpose === "gate"
          ? ok(
              with_(state, RunStatus.Running({ stepId: event.stepId, inFlight: true })),
              Intent.Perform({ stepId: event.stepId })
            )
          : advance(state)
      }
      return event.purpose === "gate"
        ? ok(
            with_(
              state,
              RunStatus.Failed({
                stepId: event.stepId,
                error: new StepError({ reason: new GateRejected({ by: answer.by, reason: answer.reason }) })
              })
            ),
            Intent.Finish()
          )
        : ok(
            with_(state, RunStatus.Running({ stepId: event.stepId, inFlight: false })),
            Intent.Begin({ stepId: event.stepId })
          )
    }
    case "StepProgress": {
      const bad = running(event.stepId)
      return bad ? invalid(bad) : ok(state)
    }
    case "WaitProgress": {
      const bad = running(event.stepId)
      if (bad) return invalid(bad)
      return current!.kind === "WaitFor" ? ok(state) : invalid(`${event.stepId} is not a WaitFor step`)
    }
    case "Paused": {
      const bad = running(event.stepId)
      if (bad) return invalid(bad)
      if (current!.kind !== "Window") return invalid(`${event.stepId} is not a Window step`)
      return ok(
        with_(state, RunStatus.PausedUntilWindow({ stepId: event.stepId, until: event.until })),
        Intent.SleepUntil({ stepId: event.stepId, until: event.until })
      )
    }
    case "WindowOpened": {
      if (status._tag !== "PausedUntilWindow" || status.stepId !== event.stepId) {
        return invalid(`not paused for a window at ${event.stepId}`)
      }
      return ok(
        with_(state, RunStatus.Running({ stepId: event.stepId, inFlight: true })),
        Intent.Perform({ stepId: event.stepId })
      )
    }
    case "Resumed": {
      const from: RunStatus = status._tag === "Cancelled" ? status.from : status
      if (from._tag === "Pending") return invalid("the run never started: start it with run")
      if (!isActive(from)) return invalid("the run is finished")
      return ok(with_(state, from), ...resumeIntents(state, from))
    }
    case "Cancelled": {
      if (status._tag === "Pending") return invalid("the run has not started")
      if (!isActive(status)) return invalid("the run is already cancelled")
      return ok(with_(state, RunStatus.Cancelled({ from: status })))
    }
    case "RunFinished": {
      if (!isTerminal(status)) return invalid("the run has not reached a final state")
      const name = statusName(status)
      return name === event.status ? ok(state) : invalid(`run is ${name}, event says ${event.status}`)
    }
  }
}

const isActive = (status: RunStatus): status is Active =>
  status._tag === "Pending" ||
  status._tag === "Running" ||
  status._tag === "WaitingForOperator" ||
  status._tag === "PausedUntilWindow"

/**
 * Replay events from `initial`; stops at the first invalid one.
 *
 * @since 0.1.0
 * @category combinators
 */
export const replay = (
  events: Iterable<RunEvent.RunEvent>,
  from: RunState = initial
): Either.Either<RunState, { readonly index: number; readonly error: InvalidTransition }> => {
  let state = from
  let index = 0
  for (const event of events) {
    const r = transition(state, event)
    if (Either.isLeft(r)) return Either.left({ index, error: r.left })
    state = r.right.state
    index++
  }
  return Either.right(state)
}
