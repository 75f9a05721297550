/**
 * What happened so far in a run, as its handlers may ask it: when a step
 * started, when its gate opened, when it last succeeded and with what
 * evidence, what the operator answered, what a wait observed. The executor
 * gives every handler the history of its run (`StepContext.history`), read
 * from the records it journaled — handlers never re-read the journal.
 *
 * @since 0.3.0
 */
import * as Option from "effect/Option"
import type * as Operator from "./Operator.js"
import type * as RunEvent from "./RunEvent.js"

/**
 * JSON evidence of a step.
 *
 * @since 0.3.0
 * @category models
 */
export type Evidence = Readonly<Record<string, unknown>>

/**
 * Typed queries over a run's records, latest record first where it matters.
 *
 * @since 0.3.0
 * @category models
 */
export interface RunHistory {
  /** Every record journaled so far, in order. */
  readonly records: ReadonlyArray<RunEvent.Envelope>
  /** When the step last started (its current attempt). */
  readonly startedAt: (stepId: string) => Option.Option<Date>
  /** When the step's gate (purpose `gate`) last opened. */
  readonly gateOpenedAt: (stepId: string) => Option.Option<Date>
  /** When a person was told to act: the gate's opening, else the step's start. */
  readonly askedAt: (stepId: string) => Option.Option<Date>
  /** When the step last succeeded (or was verified effective after a crash). */
  readonly succeededAt: (stepId: string) => Option.Option<Date>
  /** The evidence of that success. */
  readonly evidenceOf: (stepId: string) => Option.Option<Evidence>
  /** The operator's last answer to the step's gate (purpose `gate`). */
  readonly answerOf: (stepId: string) => Option.Option<Operator.Answer>
  /** The polls of a `WaitFor` in this run, every attempt (before and after a resume), oldest first. */
  readonly observations: (stepId: string) => ReadonlyArray<RunEvent.WaitProgress>
}

const last = <A>(
  records: ReadonlyArray<RunEvent.Envelope>,
  pick: (e: RunEvent.RunEvent) => A | undefined
): Option.Option<A> => {
  for (let i = records.length - 1; i >= 0; i--) {
    const a = pick(records[i]!.event)
    if (a !== undefined) return Option.some(a)
  }
  return Option.none()
}

/**
 * The history of a run from its records. The array is read, not copied:
 * queries see records appended later.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (records: ReadonlyArray<RunEvent.Envelope>): RunHistory => {
  const startedAt = (stepId: string) =>
    last(records, (e) => (e._tag === "StepStarted" && e.stepId === stepId ? e.at : undefined))
  const gateOpenedAt = (stepId: string) =>
    last(records, (e) => (e._tag === "GateOpened" && e.stepId === stepId && e.purpose === "gate" ? e.at : undefined))
  const success = (stepId: string) =>
    last(records, (e) =>
      (e._tag === "StepSucceeded" || (e._tag === "StepVerified" && e.effective)) && e.stepId === stepId ? e : undefined
    )
  return {
    records,
    startedAt,
    gateOpenedAt,
    askedAt: (stepId) => Option.orElse(gateOpenedAt(stepId), () => startedAt(stepId)),
    succeededAt: (stepId) => Option.map(success(stepId), (e) => e.at),
    evidenceOf: (stepId) => Option.map(success(stepId), (e) => e.evidence),
    answerOf: (stepId) =>
      last(records, (e) =>
        e._tag === "GateAnswered" && e.stepId === stepId && e.purpose === "gate" ? e.answer : undefined
      ),
    observations: (stepId) => {
      const out: Array<RunEvent.WaitProgress> = []
      for (const r of records) if (r.event._tag === "WaitProgress" && r.event.stepId === stepId) out.push(r.event)
      return out
    }
  }
}
