/**
 * The portal's approval queue, and the `Operator` the service's runs use: a
 * gate the executor opens waits here until its ballot (`Approvals`) closes
 * under the gate's policy (`Policy`), then its answer — with the whole trail
 * of decisions — goes back to the executor, which journals it.
 *
 * Every decision is appended (fsync) to `<runs>/.portal/approvals/<run>.ndjson`
 * before it is acknowledged, with the gate's opening time and escalation, so
 * a restart loses none: when the service resumes the run, the executor opens
 * the gate again and the ballot is rebuilt from the file (same opening: the
 * number of answers the journal holds for the step). Deadlines count from the
 * first opening; reminders go out while the gate is open.
 *
 * `Idempotency-Key`: a key seen with the same request returns the gate as
 * it is; with another request, a `Conflict`.
 *
 * @since 0.3.0
 */
import { Journal, Operator, type Plan, type RunEvent } from "@sra-upgrade/core"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as path from "node:path"
import { Conflict, Forbidden, GateView, Invalid, NotFound } from "./Api.js"
import * as Approvals from "./Approvals.js"
import type { Principal } from "./Auth.js"
import { Events } from "./Events.js"
import * as Ballot from "./internal/ballot.js"
import * as Meta from "./internal/meta.js"
import * as Store from "./internal/store.js"
import * as Policy from "./Policy.js"

/**
 * Options of the gates.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /** The runs folder (the journal's); approvals go to `.portal/approvals/` inside it. */
  readonly runsDirectory: string
  readonly policies?: Policy.PoliciesConfig | undefined
  /**
   * Performs the approved work before the run goes on and returns the answer
   * to journal (`serve --demo`: the simulator plays the gate). Default: the
   * approval as given.
   */
  readonly perform?:
    ((request: Operator.GateRequest, approved: Operator.Approved) => Effect.Effect<Operator.Answer>) | undefined
  /** Name recorded when a deadline rejects a gate (default `portal (deadline)`). */
  readonly deadlineActor?: string | undefined
}

/**
 * Errors of answering a gate.
 *
 * @since 0.3.0
 * @category errors
 */
export type AnswerError = Forbidden | NotFound | Conflict | Invalid

/**
 * @since 0.3.0
 * @category services
 */
export class Gates extends Context.Tag("@sra-upgrade/server/Gates")<
  Gates,
  {
    /** The `Operator` of the service's runs. */
    readonly operator: Operator.Operator["Type"]
    /** Open gates (of one run, or of all). */
    readonly open: (runId?: string) => Effect.Effect<ReadonlyArray<GateView>>
    /** A person's decision on the open gate `stepId` of `runId`. */
    readonly answer: (
      runId: string,
      stepId: string,
      principal: Principal,
      decision: Approvals.Decision,
      idempotencyKey?: string
    ) => Effect.Effect<GateView, AnswerError>
  }
>() {}

const Opened = Schema.Struct({
  kind: Schema.Literal("opened"),
  stepId: Schema.String,
  purpose: Operator.GatePurpose,
  round: Schema.Number,
  at: Schema.Date
})
const Decided = Schema.Struct({ ...Ballot.decidedFields, purpose: Operator.GatePurpose })
const Escalated = Schema.Struct({
  kind: Schema.Literal("escalated"),
  stepId: Schema.String,
  purpose: Operator.GatePurpose,
  round: Schema.Number,
  at: Schema.Date
})
const Record = Schema.Union(Opened, Decided, Escalated)
type Record = typeof Record.Type
const decodeRecord = Schema.decodeUnknownOption(Record)
const encodeRecord = Schema.encodeSync(Record)

interface Gate {
  readonly runId: string
  readonly request: Operator.GateRequest
  readonly round: number
  readonly openedAt: Date
  readonly openedSeq: number
  ballot: Approvals.Ballot
  readonly keys: Map<string, { readonly principal: string; readonly fingerprint: string }>
  readonly done: Deferred.Deferred<Operator.Answer>
  readonly lock: Effect.Semaphore
}

const fingerprintOf = Ballot.fingerprintOf
const statusOf = Ballot.statusOf
const refusalToError = (runId: string, stepId: string, r: Approvals.Refusal): AnswerError =>
  Ballot.refusalToError(`${runId} ${stepId}`, r)

const viewOf = (
  runId: string,
  request: Pick<Operator.GateRequest, "purpose" | "step" | "instructions" | "evidence">,
  ballot: Approvals.Ballot,
  openedAt: Date
): GateView =>
  new GateView({
    runId,
    stepId: request.step.id,
    purpose: request.purpose,
    title: request.step.title,
    ...(request.step.target === undefined ? {} : { target: request.step.target }),
    handler: request.step.handler,
    rules: [...request.step.rules],
    instructions: [...request.instructions],
    evidence: [...request.evidence],
    policy: ballot.policy,
    status: statusOf(ballot),
    openedAt,
    ...(ballot.policy.deadlineSeconds === undefined || ballot.escalated || ballot.answer !== undefined
      ? {}
      : { deadlineAt: new Date(openedAt.getTime() + ballot.policy.deadlineSeconds * 1000) }),
    remaining: ballot.answer === undefined ? Approvals.remaining(ballot) : 0,
    approvals: [...ballot.approvals],
    ...(ballot.initiator === undefined ? {} : { initiator: ballot.initiator })
  })

/**
 * The gates over the journal and the event streams.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (options: Options) =>
  Effect.gen(function* () {
    const journal = yield* Journal.Journal
    const events = yield* Events
    const open = new Map<string, Gate>()
    /** The last closed gate of each run (answers racing the journal). */
    const closed = new Map<string, Gate>()
    const dir = path.join(Meta.portalDir(options.runsDirectory), "approvals")
    const fileOf = (runId: string) => path.join(dir, `${runId}.ndjson`)
    const deadlineActor = options.deadlineActor ?? "portal (deadline)"

    const load = (runId: string) =>
      Effect.map(Store.readLines(fileOf(runId)), (lines) => lines.flatMap((l) => Option.toArray(decodeRecord(l)))).pipe(
        Effect.orElseSucceed(() => [] as ReadonlyArray<Record>)
      )

    const append = (runId: string, r: Record) => Store.appendLine(fileOf(runId), encodeRecord(r))

    const publishGates = (runId: string) =>
      Effect.suspend(() => {
        const g = open.get(runId)
        return events.gates(runId, g === undefined ? [] : [viewOf(runId, g.request, g.ballot, g.openedAt)])
      })

    const notice = (g: Gate, kind: "opened" | "updated" | "reminder" | "escalated" | "closed", reminder?: number) =>
      events.notice({
        _tag: "Gate",
        kind,
        gate: viewOf(g.runId, g.request, g.ballot, g.openedAt),
        openedSeq: g.openedSeq,
        reminder
      })

    /** Close the gate with the ballot's answer. */
    const settle = (g: Gate) =>
      g.ballot.answer === undefined ? Effect.void : Effect.asVoid(Deferred.succeed(g.done, g.ballot.answer))

    const expire = (g: Gate) =>
      g.lock.withPermits(1)(
        Effect.gen(function* () {
          if (g.ballot.answer !== undefined || g.ballot.escalated) return
          g.ballot = Approvals.expire(g.ballot, deadlineActor)
          if (g.ballot.escalated) {
            const at = new Date(yield* Clock.currentTimeMillis)
            yield* append(g.runId, {
              kind: "escalated",
              stepId: g.request.step.id,
              purpose: g.request.purpose,
              round: g.round,
              at
            }).pipe(Effect.orDie)
            yield* Effect.logWarning(
              `gate ${g.request.step.id} of run ${g.runId} passed its deadline: escalated to admins`
            )
            yield* notice(g, "escalated")
            yield* publishGates(g.runId)
          } else {
            yield* Effect.logWarning(`gate ${g.request.step.id} of run ${g.runId} passed its deadline: rejected`)
            yield* settle(g)
          }
        })
      )

    const timers = (g: Gate) =>
      Effect.gen(function* () {
        const policy = g.ballot.policy
        if (policy.deadlineSeconds !== undefined && !g.ballot.escalated) {
          const due = g.openedAt.getTime() + policy.deadlineSeconds * 1000
          const now = yield* Clock.currentTimeMillis
          yield* Effect.forkScoped(Effect.zipRight(Effect.sleep(Duration.millis(Math.max(0, due - now))), expire(g)))
        }
        if (policy.reminderSeconds !== undefined) {
          let n = 0
          const remind = Effect.suspend(() => {
            n++
            return Effect.zipRight(
              Effect.logInfo(`reminder ${n}: gate ${g.request.step.id} of run ${g.runId} is waiting for a decision`),
              notice(g, "reminder", n)
            )
          })
          yield* Effect.forkScoped(
            Effect.repeat(
              Effect.zipRight(Effect.sleep(Duration.seconds(policy.reminderSeconds)), remind),
              Schedule.forever
            )
          )
        }
      })

    const answerRequest = (request: Operator.GateRequest): Effect.Effect<Operator.Answer> =>
      Effect.gen(function* () {
        const runId = request.runId
        const stepId = request.step.id
        const records = yield* journal.read(runId).pipe(
          Effect.map((c) => c.records),
          Effect.orElseSucceed(() => [] as ReadonlyArray<RunEvent.Envelope>)
        )
        const openedSeq =
          [...records]
            .reverse()
            .find(
              (r) => r.event._tag === "GateOpened" && r.event.stepId === stepId && r.event.purpose === request.purpose
            )?.seq ?? 0
        const round = records.filter(
          (r) => r.event._tag === "GateAnswered" && r.event.stepId === stepId && r.event.purpose === request.purpose
        ).length
        const mine = (yield* load(runId)).filter(
          (r) => r.stepId === stepId && r.purpose === request.purpose && r.round === round
        )
        let openedAt = mine.find((r) => r.kind === "opened")?.at
        if (openedAt === undefined) {
          openedAt = new Date(yield* Clock.currentTimeMillis)
          yield* append(runId, { kind: "opened", stepId, purpose: request.purpose, round, at: openedAt }).pipe(
            Effect.orDie
          )
        }
        const decided = mine.flatMap((r) => (r.kind === "decision" ? [r] : []))
        const meta = yield* Meta.read(options.runsDirectory, runId)
        const ballot = Approvals.open(
          Policy.policyOf(request, options.policies),
          request.evidence,
          Option.getOrUndefined(Option.map(meta, (m) => m.initiator)),
          decided.map((r) => r.approval),
          mine.some((r) => r.kind === "escalated")
        )
        const g: Gate = {
          runId,
          request,
          round,
          openedAt,
          openedSeq,
          ballot,
          keys: new Map(
            decided.flatMap((r) =>
              r.key === undefined ? [] : [[r.key, { principal: r.approval.principal, fingerprint: r.fingerprint }]]
            )
          ),
          done: yield* Deferred.make<Operator.Answer>(),
          lock: yield* Effect.makeSemaphore(1)
        }
        const answer = yield* Effect.scoped(
          Effect.gen(function* () {
            yield* Effect.acquireRelease(
              Effect.suspend(() => {
                open.set(runId, g)
                closed.delete(runId)
                return Effect.zipRight(publishGates(runId), notice(g, "opened"))
              }),
              () =>
                Effect.suspend(() => {
                  open.delete(runId)
                  closed.set(runId, g)
                  return Effect.zipRight(publishGates(runId), notice(g, "closed"))
                })
            )
            yield* timers(g)
            yield* settle(g) // decisions before a restart may already have closed it
            return yield* Deferred.await(g.done)
          })
        )
        if (answer._tag === "Approved" && options.perform !== undefined) return yield* options.perform(request, answer)
        return answer
      })

    /** A gate no longer open: the same decision again is harmless, another one a conflict. */
    const answerClosed = (
      runId: string,
      stepId: string,
      principal: Principal,
      decision: Approvals.Decision,
      key: string | undefined
    ): Effect.Effect<GateView, AnswerError> =>
      Effect.gen(function* () {
        const fingerprint = fingerprintOf(principal.id, decision)
        const recent = closed.get(runId)
        if (recent !== undefined && recent.request.step.id === stepId) {
          if (key !== undefined) {
            const seen = recent.keys.get(key)
            if (seen !== undefined && seen.fingerprint !== fingerprint) return yield* Ballot.keyConflict(key)
          }
          return yield* Either.match(Approvals.cast(recent.ballot, principal, decision, new Date(0)), {
            onLeft: (r) => Effect.fail(refusalToError(runId, stepId, r)),
            onRight: () => Effect.succeed(viewOf(runId, recent.request, recent.ballot, recent.openedAt))
          })
        }
        // after a restart: the journal and the approvals file
        const contents = yield* journal
          .read(runId)
          .pipe(Effect.mapError(() => new NotFound({ resource: "run", id: runId, message: `No run ${runId}.` })))
        const first = contents.records[0]?.event
        const step = first?._tag === "RunStarted" ? first.plan.steps.find((s) => s.id === stepId) : undefined
        const last = [...contents.records]
          .reverse()
          .find((r) => r.event._tag === "GateAnswered" && r.event.stepId === stepId)
        if (step === undefined || last === undefined || last.event._tag !== "GateAnswered")
          return yield* new NotFound({
            resource: "gate",
            id: stepId,
            message: `Run ${runId} has no open gate ${stepId}: list its gates (GET /api/v1/runs/${runId}/gates).`
          })
        const stored = (yield* load(runId)).flatMap((r) => (r.kind === "decision" && r.stepId === stepId ? [r] : []))
        if (key !== undefined) {
          const seen = stored.find((r) => r.key === key)
          if (seen !== undefined && seen.fingerprint !== fingerprint) return yield* Ballot.keyConflict(key)
        }
        const answer = last.event.answer
        const approvals = answer._tag === "Deferred" ? [] : (answer.approvals ?? [])
        const ballot: Approvals.Ballot = {
          ...Approvals.open(
            Policy.policyOf(
              {
                runId,
                purpose: last.event.purpose,
                step,
                instructions: step._tag === "ManualGate" ? step.instructions : [],
                evidence: step._tag === "ManualGate" ? step.evidence : []
              },
              options.policies
            ),
            step._tag === "ManualGate" ? step.evidence : [],
            undefined
          ),
          approvals,
          answer
        }
        const request = {
          purpose: last.event.purpose,
          step: step as Plan.Step,
          instructions: step._tag === "ManualGate" ? step.instructions : [],
          evidence: step._tag === "ManualGate" ? step.evidence : []
        }
        const openedAt =
          [...contents.records]
            .reverse()
            .find((r) => r.event._tag === "GateOpened" && r.event.stepId === stepId && r.seq < last.seq)?.event.at ??
          last.event.at
        return yield* Either.match(Approvals.cast(ballot, principal, decision, new Date(0)), {
          onLeft: (r) => Effect.fail(refusalToError(runId, stepId, r)),
          onRight: () => Effect.succeed(viewOf(runId, request, ballot, openedAt as Date))
        })
      })

    const answer = (
      runId: string,
      stepId: string,
      principal: Principal,
      decision: Approvals.Decision,
      key?: string
    ): Effect.Effect<GateView, AnswerError> =>
      Effect.suspend(() => {
        const g = open.get(runId)
        if (g === undefined || g.request.step.id !== stepId)
          return answerClosed(runId, stepId, principal, decision, key)
        return g.lock.withPermits(1)(
          Effect.gen(function* () {
            const fingerprint = fingerprintOf(principal.id, decision)
            if (key !== undefined) {
              const seen = g.keys.get(key)
              if (seen !== undefined) {
                if (seen.fingerprint === fingerprint) return viewOf(runId, g.request, g.ballot, g.openedAt)
                return yield* Ballot.keyConflict(key)
              }
            }
            const at = new Date(yield* Clock.currentTimeMillis)
            const cast = Approvals.cast(g.ballot, principal, decision, at)
            if (Either.isLeft(cast)) return yield* refusalToError(runId, stepId, cast.left)
            if (cast.right.replayed) return viewOf(runId, g.request, g.ballot, g.openedAt)
            const next = cast.right.ballot
            const approval = next.approvals[next.approvals.length - 1]!
            // durable before acknowledged
            yield* append(runId, {
              kind: "decision",
              stepId,
              purpose: g.request.purpose,
              round: g.round,
              approval,
              fingerprint,
              ...(key === undefined ? {} : { key })
            }).pipe(Effect.orDie)
            g.ballot = next
            if (key !== undefined) g.keys.set(key, { principal: principal.id, fingerprint })
            yield* Effect.logInfo(
              `gate ${stepId} of run ${runId}: ${approval.decision} by ${principal.id} (${principal.role}); ${Approvals.remaining(next)} approval(s) still needed`
            )
            yield* publishGates(runId)
            yield* notice(g, "updated")
            yield* settle(g)
            return viewOf(runId, g.request, g.ballot, g.openedAt)
          })
        )
      })

    return Gates.of({
      operator: { answer: answerRequest },
      open: (runId) =>
        Effect.sync(() =>
          [...open.values()]
            .filter((g) => runId === undefined || g.runId === runId)
            .map((g) => viewOf(g.runId, g.request, g.ballot, g.openedAt))
        ),
      answer
    })
  })

/**
 * The gates in context.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Gates, never, Journal.Journal | Events> =>
  Layer.effect(Gates, make(options))

/**
 * The gates' `Operator`, for the executors of the service's runs.
 *
 * @since 0.3.0
 * @category layers
 */
export const operatorLayer: Layer.Layer<Operator.Operator, never, Gates> = Layer.effect(
  Operator.Operator,
  Effect.map(Gates, (g) => g.operator)
)
