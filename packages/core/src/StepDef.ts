/**
 * Typed step definitions: one value per kind of step, shared by the planner
 * that builds the step, the handler that performs it, and whoever needs to
 * recognise it (a simulator playing the gates, a pair validator, a report).
 *
 * A definition has a name (the step's `handler` in the plan JSON, so plans
 * and journals keep their format), a params Schema and, for a manual gate,
 * the evidence a person must give with its constraints:
 *
 * ```ts
 * const CheckNtp = StepDef.check("acme/check-ntp", {
 *   params: Schema.Struct({ appliance: Schema.String, maxSkewSeconds: Schema.Number })
 * })
 * // planner
 * CheckNtp.check({ id: "A/ntp", title: "NTP is set", rules: ["PREP-8"], estimatedSeconds: 5 }, { appliance: "A", maxSkewSeconds: 60 })
 * // handler: receives decoded params; a step whose params do not decode fails with `BadParams`
 * CheckNtp.implement({ run: Effect.fn("acme/check-ntp")(function* (params, ctx) { … }) })
 * // anyone
 * CheckNtp.is(step) // and CheckNtp.paramsOf(step)
 * ```
 *
 * `StepHandler.layer(...implementations)` registers the implementations; the
 * layer captures the services they need (as `Workflow.toLayer` does).
 *
 * @since 0.3.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as GateEvidence from "./GateEvidence.js"
import type * as MaintenanceWindow from "./MaintenanceWindow.js"
import * as Plan from "./Plan.js"
import * as StepHandler from "./StepHandler.js"

/**
 * What every step of a plan has besides what its definition gives (handler
 * name, params, idempotency).
 *
 * @since 0.3.0
 * @category models
 */
export interface Meta {
  /** Unique within the plan; stable (the journal refers to it). */
  readonly id: string
  readonly title: string
  /** Rule IDs of the procedure, e.g. `PREP-1`. */
  readonly rules: ReadonlyArray<string>
  /** Appliance id, or `site`; absent for plan-wide steps. */
  readonly target?: string | undefined
  readonly estimatedSeconds: number
  readonly notes?: ReadonlyArray<string> | undefined
  /** Overrides the definition's idempotency for this step. */
  readonly idempotent?: boolean | undefined
}

/**
 * @since 0.3.0
 * @category models
 */
export interface CheckMeta extends Meta {
  /** Default: the definition's severity (blocking unless it says otherwise). */
  readonly severity?: "blocking" | "advisory" | undefined
}

/**
 * @since 0.3.0
 * @category models
 */
export interface GateMeta extends Meta {
  /** What the person does, one instruction per line. */
  readonly instructions: ReadonlyArray<string>
}

/**
 * @since 0.3.0
 * @category models
 */
export interface WaitMeta extends Meta {
  readonly intervalSeconds: number
  readonly deadlineSeconds: number
}

/**
 * What a gate's handler is given: the step context plus the evidence of the
 * approval, decoded with the definition's fields (absent when the answer
 * carries none that fits, e.g. a journal written before the fields had
 * constraints).
 *
 * @since 0.3.0
 * @category models
 */
export interface GateContext<E> extends StepHandler.StepContext {
  readonly evidence: E | undefined
}

type Run<P, C, A, R> = (params: P, ctx: C) => Effect.Effect<A, StepHandler.HandlerError, R>

/**
 * The plan step kinds a definition can build (`Window` steps are handled by
 * the executor itself: see {@link window}).
 *
 * @since 0.3.0
 * @category models
 */
export type Kind = Exclude<Plan.Step["_tag"], "Window">

/**
 * Evidence fields of a definition (empty for steps that are not gates).
 *
 * @since 0.3.0
 * @category models
 */
export type Fields = Readonly<Record<string, GateEvidence.Field<unknown>>>

/**
 * What an implementation provides: `run` for checks, actions and gates,
 * `poll` for waits, and optionally `verify` (read the postcondition back on
 * resume, for a non-idempotent step that was in flight).
 *
 * @since 0.3.0
 * @category models
 */
export type Impl<P, K extends Kind, F extends Fields, R> = ([Exclude<K, "WaitFor">] extends [never]
  ? {}
  : { readonly run: Run<P, GateContext<GateEvidence.Values<F>>, StepHandler.Evidence, R> }) &
  ("WaitFor" extends K ? { readonly poll: Run<P, StepHandler.StepContext, StepHandler.Observation, R> } : {}) & {
    readonly verify?: Run<P, GateContext<GateEvidence.Values<F>>, StepHandler.Verification, R> | undefined
  }

/**
 * A step definition: its name (the `handler` of the steps it builds, so
 * plans and journals keep their JSON), its params Schema, the kinds of plan
 * step it builds, and — for gates — the evidence a person must give.
 * Builders of kinds it does not declare are `never`.
 *
 * @since 0.3.0
 * @category models
 */
export interface StepDef<Name extends string, P, PI, K extends Kind, F extends Fields = {}> {
  readonly name: Name
  readonly kinds: ReadonlyArray<K>
  readonly params: Schema.Schema<P, PI>
  readonly idempotent: boolean
  /** Severity of the checks it builds unless the meta says otherwise. */
  readonly severity: "blocking" | "advisory"
  /** The evidence fields of a gate with these params. */
  readonly evidence: (params: P) => F
  /** Whether `step` was built from this definition. */
  readonly is: (step: Plan.Step) => step is Extract<Plan.Step, { readonly _tag: K }>
  /** The params of a step of this definition, decoded; `BadParams` names the bad field. */
  readonly decodeParams: (step: Plan.Step) => Either.Either<P, StepHandler.StepError>
  /** The decoded params when `step` is of this definition and they decode. */
  readonly paramsOf: (step: Plan.Step) => Option.Option<P>
  readonly check: "Check" extends K ? (meta: CheckMeta, params: P) => Plan.Check : never
  readonly action: "Action" extends K ? (meta: Meta, params: P) => Plan.Action : never
  readonly gate: "ManualGate" extends K ? (meta: GateMeta, params: P) => Plan.ManualGate : never
  readonly wait: "WaitFor" extends K ? (meta: WaitMeta, params: P) => Plan.WaitFor : never
  /** The handler, as a registrable implementation capturing the services it needs. */
  readonly implement: <R = never>(impl: Impl<P, K, F, R>) => StepHandler.Implementation<R>
}

/**
 * Any step definition.
 *
 * @since 0.3.0
 * @category models
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- params appear in and out (make / paramsOf): only any relates every definition
export type Any = StepDef<string, any, any, Kind, any>

/**
 * Options of {@link make}.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options<P, PI, K extends Kind, F extends Fields> {
  /** The params, JSON once encoded (they are journaled with the plan: never a secret). */
  readonly params: Schema.Schema<P, PI>
  readonly kinds: ReadonlyArray<K>
  /** Safe to run again after a crash without checking first (default true). */
  readonly idempotent?: boolean | undefined
  /** Default severity of its checks (default blocking). */
  readonly severity?: "blocking" | "advisory" | undefined
  /** Evidence a person gives when approving one of its gates (a function of the params). */
  readonly evidence?: ((params: P) => F) | undefined
}

const badParams = (name: string, error: ParseResult.ParseError): StepHandler.StepError => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const first = issues[0]
  return new StepHandler.StepError({
    reason: new StepHandler.BadParams({
      handler: name,
      field: first === undefined || first.path.length === 0 ? "(params)" : first.path.map(String).join("."),
      detail: first?.message ?? error.message
    })
  })
}

const noEvidence = () => ({})

/**
 * Define a step that builds the plan steps of `kinds`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = <const Name extends string, P, PI, const K extends Kind, F extends Fields = {}>(
  name: Name,
  options: Options<P, PI, K, F>
): StepDef<Name, P, PI, K, F> => {
  const decode = Schema.decodeUnknownEither(options.params)
  const encode = Schema.encodeSync(options.params)
  const decodeParams = (step: Plan.Step) => Either.mapLeft(decode(step.params), (e) => badParams(name, e))
  const is = (step: Plan.Step): step is Extract<Plan.Step, { readonly _tag: K }> =>
    step.handler === name && (options.kinds as ReadonlyArray<string>).includes(step._tag)
  const idempotent = options.idempotent ?? true
  const severity = options.severity ?? "blocking"
  const evidence = (options.evidence ?? noEvidence) as (params: P) => F
  const fields = (meta: Meta, params: P) => ({
    id: meta.id,
    title: meta.title,
    rules: meta.rules.map((r) => Plan.RuleId.make(r)),
    ...(meta.target === undefined ? {} : { target: meta.target }),
    estimatedSeconds: meta.estimatedSeconds,
    handler: name,
    params: encode(params) as Readonly<Record<string, unknown>>,
    idempotent: meta.idempotent ?? idempotent,
    notes: meta.notes ?? []
  })
  const gateContext = (params: P, ctx: StepHandler.StepContext): GateContext<GateEvidence.Values<F>> => {
    const answer = Option.getOrUndefined(ctx.history.answerOf(ctx.step.id))
    const decoded =
      ctx.step._tag === "ManualGate" && answer?._tag === "Approved"
        ? Either.getOrUndefined(GateEvidence.decode(ctx.step.id, evidence(params), answer.evidence))
        : undefined
    return { ...ctx, evidence: decoded }
  }
  const implement = <R>(impl: Impl<P, K, F, R>): StepHandler.Implementation<R> => {
    const raw = impl as {
      readonly run?: Run<P, GateContext<GateEvidence.Values<F>>, StepHandler.Evidence, R>
      readonly poll?: Run<P, StepHandler.StepContext, StepHandler.Observation, R>
      readonly verify?: Run<P, GateContext<GateEvidence.Values<F>>, StepHandler.Verification, R>
    }
    return {
      name,
      build: Effect.map(Effect.context<R>(), (services: Context.Context<R>) => {
        const wrap = <A, C>(f: Run<P, C, A, R> | undefined, context: (params: P, ctx: StepHandler.StepContext) => C) =>
          f === undefined
            ? undefined
            : (ctx: StepHandler.StepContext) =>
                Either.match(decodeParams(ctx.step), {
                  onLeft: (e) => Effect.fail(e),
                  onRight: (params) => Effect.provide(f(params, context(params, ctx)), services)
                })
        const run = wrap(raw.run, gateContext)
        const poll = wrap(raw.poll, (_, ctx) => ctx)
        const verify = wrap(raw.verify, gateContext)
        return {
          ...(run === undefined ? {} : { run }),
          ...(poll === undefined ? {} : { poll }),
          ...(verify === undefined ? {} : { verify })
        }
      })
    }
  }
  return {
    name,
    kinds: options.kinds,
    params: options.params,
    idempotent,
    severity,
    evidence,
    is,
    decodeParams,
    paramsOf: (step: Plan.Step) => (is(step) ? Either.getRight(decode((step as Plan.Step).params)) : Option.none()),
    check: ((meta: CheckMeta, params: P) =>
      new Plan.Check({ ...fields(meta, params), severity: meta.severity ?? severity })) as never,
    action: ((meta: Meta, params: P) => new Plan.Action(fields(meta, params))) as never,
    gate: ((meta: GateMeta, params: P) =>
      new Plan.ManualGate({
        ...fields(meta, params),
        instructions: meta.instructions,
        evidence: GateEvidence.toFields(evidence(params))
      })) as never,
    wait: ((meta: WaitMeta, params: P) =>
      new Plan.WaitFor({
        ...fields(meta, params),
        intervalSeconds: meta.intervalSeconds,
        deadlineSeconds: meta.deadlineSeconds
      })) as never,
    implement
  }
}

/**
 * Define a pre-condition (builds `Check` steps).
 *
 * @since 0.3.0
 * @category constructors
 */
export const check = <const Name extends string, P, PI>(
  name: Name,
  options: Omit<Options<P, PI, "Check", {}>, "kinds" | "evidence">
): StepDef<Name, P, PI, "Check"> => make(name, { ...options, kinds: ["Check"] })

/**
 * Define an action (builds `Action` steps).
 *
 * @since 0.3.0
 * @category constructors
 */
export const action = <const Name extends string, P, PI>(
  name: Name,
  options: Omit<Options<P, PI, "Action", {}>, "kinds" | "evidence" | "severity">
): StepDef<Name, P, PI, "Action"> => make(name, { ...options, kinds: ["Action"] })

/**
 * Define a manual gate and the evidence its approval must carry.
 *
 * @since 0.3.0
 * @category constructors
 */
export const gate = <const Name extends string, P, PI, F extends Fields = {}>(
  name: Name,
  options: Omit<Options<P, PI, "ManualGate", F>, "kinds" | "severity">
): StepDef<Name, P, PI, "ManualGate", F> => make(name, { ...options, kinds: ["ManualGate"] })

/**
 * Define a condition to poll (builds `WaitFor` steps).
 *
 * @since 0.3.0
 * @category constructors
 */
export const wait = <const Name extends string, P, PI>(
  name: Name,
  options: Omit<Options<P, PI, "WaitFor", {}>, "kinds" | "evidence" | "severity">
): StepDef<Name, P, PI, "WaitFor"> => make(name, { ...options, kinds: ["WaitFor"] })

/**
 * The handler name a `Window` step carries in the plan JSON (the executor
 * handles windows itself).
 *
 * @since 0.3.0
 * @category models
 */
export const windowHandler = "core/window"

/**
 * A maintenance-window step: the run pauses until it opens. `handler` is
 * only the name its JSON carries (default {@link windowHandler}; the pair
 * plans keep `failover/window` so older plans and journals stay the same).
 *
 * @since 0.3.0
 * @category constructors
 */
export const window = (
  meta: Meta,
  window: MaintenanceWindow.MaintenanceWindow,
  handler: string = windowHandler
): Plan.Window =>
  new Plan.Window({
    id: meta.id,
    title: meta.title,
    rules: meta.rules.map((r) => Plan.RuleId.make(r)),
    ...(meta.target === undefined ? {} : { target: meta.target }),
    estimatedSeconds: meta.estimatedSeconds,
    handler,
    params: {},
    idempotent: true,
    notes: meta.notes ?? [],
    window
  })
