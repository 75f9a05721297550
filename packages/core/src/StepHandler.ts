/**
 * The step contract. A plan step names a `handler`; the executor looks it up
 * in the `StepHandlers` registry and knows nothing else about it. Packages
 * (core, failover, migration, certificates) contribute registries built as
 * Layers that capture their own dependencies (typically `ApplianceApi`), so
 * the executor itself needs none; `merge` combines them.
 *
 * What the executor calls, per step kind:
 * - `Check`, `Action`: `run` performs (or checks) and returns evidence;
 * - `ManualGate`: after the operator approved, `run` verifies the outcome
 *   through the API (fail with a `StepError` if it is not what was asked);
 * - `WaitFor`: `poll` observes once; the executor polls until it holds;
 * - `Window`: handled by the executor itself (the handler is not called);
 * - on resume, for a non-idempotent step that was in flight: `verify` reads
 *   the postcondition back; without `verify` the Operator is asked.
 *
 * A handler reports a failed base-software update (PREP-6) by failing with
 * `baseUpdateFailed(...)`: the run halts in `halted-needs-support`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { ApplianceError } from "./ApplianceError.js"
import type * as Plan from "./Plan.js"
import type * as RunHistory from "./RunHistory.js"

/**
 * JSON evidence a step gathered: versions read back, checksums, counts.
 *
 * @since 0.1.0
 * @category models
 */
export const Evidence = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/**
 * @since 0.1.0
 * @category models
 */
export type Evidence = typeof Evidence.Type

/**
 * The handler says the step did not achieve its purpose.
 *
 * @since 0.1.0
 * @category models
 */
export class Failed extends Schema.TaggedClass<Failed>()("Failed", {
  message: Schema.String,
  evidence: Schema.optional(Evidence)
}) {}

/**
 * An appliance call failed while performing the step.
 *
 * @since 0.1.0
 * @category models
 */
export class Appliance extends Schema.TaggedClass<Appliance>()("Appliance", {
  error: ApplianceError
}) {}

/**
 * PREP-6: the base software update failed. The run halts; nothing reboots
 * or retries; vendor support must be contacted.
 *
 * @since 0.1.0
 * @category models
 */
export class BaseUpdateFailed extends Schema.TaggedClass<BaseUpdateFailed>()("BaseUpdateFailed", {
  message: Schema.String
}) {}

/**
 * A `WaitFor` deadline passed; carries the last value the poll observed.
 *
 * @since 0.1.0
 * @category models
 */
export class WaitTimeout extends Schema.TaggedClass<WaitTimeout>()("WaitTimeout", {
  afterSeconds: Schema.Number,
  polls: Schema.Number,
  lastObserved: Schema.Unknown
}) {}

/**
 * The operator rejected a manual gate.
 *
 * @since 0.1.0
 * @category models
 */
export class GateRejected extends Schema.TaggedClass<GateRejected>()("GateRejected", {
  by: Schema.String,
  reason: Schema.String
}) {}

/**
 * The maintenance window had already closed when the run reached it.
 *
 * @since 0.1.0
 * @category models
 */
export class WindowMissed extends Schema.TaggedClass<WindowMissed>()("WindowMissed", {
  label: Schema.String,
  closedAt: Schema.Date
}) {}

/**
 * No handler registered under the step's name, or it lacks what the step
 * kind needs (`run` or `poll`).
 *
 * @since 0.1.0
 * @category models
 */
export class HandlerMissing extends Schema.TaggedClass<HandlerMissing>()("HandlerMissing", {
  handler: Schema.String,
  capability: Schema.Literal("run", "poll")
}) {}

/**
 * The step's params do not decode with its definition's Schema: the plan is
 * malformed (built by hand, or by another version of a planner).
 *
 * @since 0.3.0
 * @category models
 */
export class BadParams extends Schema.TaggedClass<BadParams>()("BadParams", {
  handler: Schema.String,
  /** Path of the bad field, e.g. `appliance` or `expect.A`. */
  field: Schema.String,
  detail: Schema.String
}) {}

/**
 * Why a step failed.
 *
 * @since 0.1.0
 * @category models
 */
export const StepErrorReason = Schema.Union(
  Failed,
  Appliance,
  BaseUpdateFailed,
  WaitTimeout,
  GateRejected,
  WindowMissed,
  HandlerMissing,
  BadParams
)

/**
 * @since 0.1.0
 * @category models
 */
export type StepErrorReason = typeof StepErrorReason.Type

/**
 * The failure of one step (journaled with the `StepFailed` event).
 *
 * @since 0.1.0
 * @category errors
 */
export class StepError extends Schema.TaggedError<StepError>("@sra-upgrade/core/StepError")("StepError", {
  reason: StepErrorReason
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const r = this.reason
    switch (r._tag) {
      case "Failed":
        return r.message
      case "Appliance":
        return r.error.message
      case "BaseUpdateFailed":
        return `Base software update failed: ${r.message}. Do NOT reboot the appliance; contact vendor support (PREP-6).`
      case "WaitTimeout":
        return `Condition still not met after ${r.afterSeconds}s (${r.polls} polls); last observed ${safeJson(r.lastObserved)}. Check the appliance, then start a new run.`
      case "GateRejected":
        return `Gate rejected by ${r.by}: ${r.reason}`
      case "WindowMissed":
        return `Maintenance window "${r.label}" closed at ${r.closedAt.toISOString()}. Plan again with a new window.`
      case "HandlerMissing":
        return `No step handler "${r.handler}" with ${r.capability}: provide the layer of the package that defines it.`
      case "BadParams":
        return `Step parameter "${r.field}" of ${r.handler}: ${r.detail}. The plan is malformed: build it again with the planner.`
    }
  }
}

const safeJson = (u: unknown): string => {
  try {
    return JSON.stringify(u) ?? String(u)
  } catch {
    return String(u)
  }
}

/**
 * Fail a step with a message (what went wrong and what to do).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fail = (message: string, evidence?: Evidence): StepError =>
  new StepError({ reason: new Failed(evidence === undefined ? { message } : { message, evidence }) })

/**
 * PREP-6: report that the base software update failed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const baseUpdateFailed = (message: string): StepError =>
  new StepError({ reason: new BaseUpdateFailed({ message }) })

/**
 * What a handler is given.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepContext {
  readonly runId: string
  readonly plan: Plan.Plan
  readonly step: Plan.Step
  /** 1 for the first start of this step in this run, 2 after a re-run... */
  readonly attempt: number
  /**
   * What happened so far in this run (when a step succeeded, what a gate's
   * answer was…). Runs outside an executor see an empty history.
   *
   * @since 0.3.0
   */
  readonly history: RunHistory.RunHistory
  /**
   * Publishes how far the step has come (a `StepProgress` event, journaled
   * like every event): report at most about once a second. Absent when the
   * caller runs a handler outside an executor. Fails only when the journal
   * cannot be written.
   *
   * @since 0.2.0
   */
  readonly progress?: ((update: Progress) => Effect.Effect<void, StepError>) | undefined
}

/**
 * How far a step has come.
 *
 * @since 0.2.0
 * @category models
 */
export interface Progress {
  readonly done: number
  readonly total?: number | undefined
  readonly unit: "bytes" | "items"
}

/**
 * One observation of a `WaitFor` condition.
 *
 * @since 0.1.0
 * @category models
 */
export interface Observation {
  readonly holds: boolean
  /** JSON value shown in progress events and in a timeout. */
  readonly observed: unknown
  readonly evidence?: Evidence
  /**
   * When it holds: what the step could not observe and rests on a person's
   * word (shown in the report and the terminal).
   *
   * @since 0.3.0
   */
  readonly warnings?: ReadonlyArray<string>
}

/**
 * The postcondition of a step read back from the system.
 *
 * @since 0.1.0
 * @category models
 */
export interface Verification {
  readonly effective: boolean
  readonly evidence: Evidence
}

/**
 * The errors a handler may fail with (`ApplianceError` is wrapped by the executor).
 *
 * @since 0.1.0
 * @category models
 */
export type HandlerError = StepError | ApplianceError

/**
 * A step handler. All members are optional; the executor fails the step
 * with `HandlerMissing` when the kind needs one that is absent.
 *
 * @since 0.1.0
 * @category models
 */
export interface Handler {
  readonly run?: (ctx: StepContext) => Effect.Effect<Evidence, HandlerError>
  readonly poll?: (ctx: StepContext) => Effect.Effect<Observation, HandlerError>
  readonly verify?: (ctx: StepContext) => Effect.Effect<Verification, HandlerError>
}

/**
 * The registry of step handlers, keyed by handler name.
 *
 * @since 0.1.0
 * @category services
 */
export class StepHandlers extends Context.Tag("@sra-upgrade/core/StepHandlers")<
  StepHandlers,
  {
    readonly get: (name: string) => Option.Option<Handler>
    readonly names: ReadonlyArray<string>
  }
>() {}

/**
 * A registry from a record of raw handlers (the executor's own tests; step
 * packages register typed implementations with `layer`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (handlers: Readonly<Record<string, Handler>>): StepHandlers["Type"] => {
  const map = new Map(Object.entries(handlers))
  return { get: (name) => Option.fromNullable(map.get(name)), names: [...map.keys()].sort() }
}

/**
 * A registry layer of raw handlers keyed by name, which read `ctx.step`
 * themselves. For the executor's own tests and throwaway handlers; step
 * packages register typed implementations with {@link layer}.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerRaw = (handlers: Readonly<Record<string, Handler>>): Layer.Layer<StepHandlers> =>
  Layer.succeed(StepHandlers, make(handlers))

/**
 * A handler ready to register: its name, and how to build it from the
 * services it needs (`R`). Made by a step definition's `implement`.
 *
 * @since 0.3.0
 * @category models
 */
export interface Implementation<R> {
  readonly name: string
  readonly build: Effect.Effect<Handler, never, R>
}

/**
 * A registry layer of implementations (built by step definitions'
 * `implement`); it captures the services they need. Two implementations of
 * one name is a wiring bug: the layer dies naming it.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = <const Impls extends ReadonlyArray<Implementation<unknown>>>(
  ...implementations: Impls
): Layer.Layer<StepHandlers, never, Impls[number] extends Implementation<infer R> ? R : never> =>
  Layer.effect(
    StepHandlers,
    Effect.gen(function* () {
      const handlers: Record<string, Handler> = {}
      for (const i of implementations) {
        if (i.name in handlers) return yield* Effect.dieMessage(`Two implementations of step "${i.name}"; keep one.`)
        handlers[i.name] = yield* i.build
      }
      return make(handlers)
    })
  ) as Layer.Layer<StepHandlers, never, Impls[number] extends Implementation<infer R> ? R : never>

/**
 * Combine the registries of several packages into one. Two registries
 * defining the same handler name is a wiring bug: the layer dies naming it.
 *
 * @since 0.1.0
 * @category layers
 */
export const merge = <Layers extends ReadonlyArray<Layer.Layer<StepHandlers, unknown, unknown>>>(
  ...layers: Layers
): Layer.Layer<
  StepHandlers,
  Layers[number] extends Layer.Layer<StepHandlers, infer E, unknown> ? E : never,
  Layers[number] extends Layer.Layer<StepHandlers, unknown, infer R> ? R : never
> =>
  Layer.scoped(
    StepHandlers,
    Effect.gen(function* () {
      const merged: Record<string, Handler> = {}
      for (const l of layers) {
        const ctx = yield* Layer.build(l)
        const registry = Context.get(ctx, StepHandlers)
        for (const name of registry.names) {
          if (name in merged) {
            return yield* Effect.dieMessage(`Two step-handler registries define "${name}"; keep one.`)
          }
          merged[name] = Option.getOrThrow(registry.get(name))
        }
      }
      return make(merged)
    })
  ) as never
