/**
 * A typed client of a simulator's control API (`/__sim/`), reached by its
 * URL: the simulator may run in this process (`SimulatorHandle.controlUrl`)
 * or in another one (`sra-upgrade sim` prints its control URL). For tests,
 * crash matrices and fleet harnesses that read the action log or force the
 * sync race of PAIR-4.
 *
 * @example
 * ```ts
 * import { SimActions, SimControl } from "@sra-upgrade/simulator"
 * import { Effect } from "effect"
 *
 * export const check = (controlUrl: string) =>
 *   Effect.gen(function* () {
 *     const sim = SimControl.make(controlUrl)
 *     const actions = yield* sim.actions()
 *     return SimActions.exactlyOnce(actions) // [] when no non-idempotent action was repeated
 *   })
 * ```
 *
 * @since 0.3.0
 */
import * as Effect from "effect/Effect"
import * as SimActions from "./SimActions.js"
import { ControlAnswerInvalid, controlCall, SimulatorError } from "./Simulator.js"

/**
 * When the appliance's next automatic (periodic) data sync starts: at the
 * instant the next "Sync now" is pressed (which then answers "A data sync is
 * already running"), in N simulated seconds, or at a simulated second as
 * `GET /__sim/clock` reports it.
 *
 * @since 0.3.0
 * @category models
 */
export type PeriodicSync =
  { readonly atNextSyncNow: true } | { readonly inSeconds: number } | { readonly atSeconds: number }

/**
 * The client.
 *
 * @since 0.3.0
 * @category models
 */
export interface SimControl {
  readonly controlUrl: string
  /** Any control call, JSON in and out. */
  readonly call: (method: string, path: string, body?: unknown) => Effect.Effect<unknown, SimulatorError>
  /** The action log of this site (`GET /__sim/actions`), after `since` (a seq) when given. */
  readonly actions: (options?: {
    readonly since?: number | undefined
  }) => Effect.Effect<ReadonlyArray<SimActions.Action>, SimulatorError>
  /** Forces the next periodic data sync (`POST /__sim/failover/periodic-sync`). */
  readonly forcePeriodicSync: (when: PeriodicSync) => Effect.Effect<void, SimulatorError>
}

/**
 * Reads the action log at `controlUrl` (a site's control URL, or the
 * top-level one of a many-site simulator: every site).
 *
 * @since 0.3.0
 * @category constructors
 */
export const actions = (
  controlUrl: string,
  options: { readonly since?: number | undefined } = {}
): Effect.Effect<ReadonlyArray<SimActions.Action>, SimulatorError> =>
  controlCall(controlUrl, "GET", `/actions${options.since !== undefined ? `?since=${options.since}` : ""}`).pipe(
    Effect.flatMap((value) =>
      SimActions.decodeActions(value).pipe(
        Effect.mapError(
          (e) =>
            new SimulatorError({
              reason: new ControlAnswerInvalid({
                url: `${controlUrl}/actions`,
                detail: `not an action log: ${e.message.slice(0, 300)}`
              })
            })
        )
      )
    )
  )

/**
 * A client of the control API at `controlUrl`, e.g. `http://127.0.0.1:40123/__sim`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (controlUrl: string): SimControl => ({
  controlUrl,
  call: (method, path, body) => controlCall(controlUrl, method, path, body),
  actions: (options) => actions(controlUrl, options),
  forcePeriodicSync: (when) => Effect.asVoid(controlCall(controlUrl, "POST", "/failover/periodic-sync", when))
})
