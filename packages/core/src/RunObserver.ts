/**
 * An optional observer the executor runs beside a run's plan: it starts
 * when a run starts or resumes and stops before the run's end is
 * journaled (or when the process stops driving it: deferred gate, window,
 * interrupt). What it observes it hands to `record`, which journals it
 * through the executor's one ordered append path (the executor owns the
 * journal's sequence numbers): observers never write the journal
 * themselves. Its records change no run state (`RunState.transition`
 * skips them) and the run report folds them (`Availability`).
 *
 * Provide one to `Executor.layer` to turn it on (failover's
 * `SiteProber.layer` provides one that probes the site address); without
 * it the executor runs no observer and reports availability as not
 * measured.
 *
 * @since 0.3.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Plan from "./Plan.js"
import type { Envelope, SiteSample } from "./RunEvent.js"

/**
 * The run an observer observes, and how it records what it saw.
 *
 * @since 0.3.0
 * @category models
 */
export interface RunObservation {
  readonly runId: string
  readonly plan: Plan.Plan
  /** The run's journal so far (empty for a new run): a resume continues the same run. */
  readonly history: ReadonlyArray<Envelope>
  /** Journal one sample, in order with the run's events. Never fails: a sample that cannot be journaled is lost. */
  readonly record: (sample: SiteSample) => Effect.Effect<void>
}

/**
 * The observer service.
 *
 * @since 0.3.0
 * @category services
 */
export class RunObserver extends Context.Tag("@sra-upgrade/core/RunObserver")<
  RunObserver,
  {
    /**
     * Start observing: fork the work into the scope and return. The executor closes the scope when the
     * observation must stop; finalizers may still `record` (what is left to journal).
     */
    readonly observe: (observation: RunObservation) => Effect.Effect<void, never, Scope.Scope>
  }
>() {}
