/**
 * The gates of the failover pair plans (`FailoverSteps` of
 * `@sra-upgrade/failover`, PAIR-1…10), played through the simulator's control
 * API (`/__sim/`). Part of `SimOperator`, which dispatches every gate of a
 * run: use `SimOperator.layer`, this module only holds the failover part.
 *
 * Gates are recognised by the failover step definitions
 * (`FailoverSteps.Broken.is(step)`…) and read from the step's `params`:
 * - `SyncRequested` (PAIR-4): "Sync now", `POST /failover/sync`. When the
 *   page answers "A data sync is already running" (the appliance's periodic
 *   sync started), it waits for that sync to finish as a person would; a
 *   sync that started after the gate opened and succeeded is the sync asked
 *   for, otherwise it presses "Sync now" again;
 * - `Broken` (PAIR-4): "Break failover relationship", `POST /failover/break` (nothing when there is no
 *   relationship: a gate asked again after a crash);
 * - `Established` (PAIR-7): "Establish relationship" with the
 *   step's `primary` and `backup`, `POST /failover/establish`;
 * - `Switched` (PAIR-3, PAIR-6): moves the traffic from the step's
 *   `from` to its `to` as the `pair.traffic` parameter says: the shared IP
 *   (disabled on `from`, then enabled on `to`), the DNS record (with the
 *   site's TTL) or the NAT entry;
 * - `VerifyAsSite` (the hosts-file override, VERIFY-3): reads the version
 *   the appliance runs, as the person reads it in the console's Help > About;
 * - any other failover gate (keys compared, integration clients,
 *   production checks): approved, each evidence field saying it was simulated.
 *
 * @since 0.1.0
 */
import type { Operator } from "@sra-upgrade/core"
import { FailoverSteps } from "@sra-upgrade/failover"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { type ControlClient, ControlFailure, type Json, type Played, seg, str } from "./internal/controlClient.js"

/**
 * What the failover part of the operator needs besides the control API.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Real milliseconds between disabling the shared IP on the old appliance
   * and enabling it on the new one, as a person moving between the two
   * network pages would (default 0: one right after the other).
   */
  readonly sharedIpPauseMillis?: number | undefined
  /** Real milliseconds between two looks at a running data sync (default 200). */
  readonly syncPollMillis?: number | undefined
  /** Real milliseconds to wait for a running data sync before rejecting the gate (default 30 minutes). */
  readonly syncWaitMillis?: number | undefined
}

/**
 * Moves the site's traffic from `from` to `to` on the simulator as the
 * step's `pair.traffic` says (shared IP, DNS record or NAT entry). Used by
 * the failover switch and the migration cut-over.
 *
 * @since 0.1.0
 * @category combinators
 */
export const moveTraffic = (
  client: ControlClient,
  traffic: Json | undefined,
  from: string,
  to: string,
  options: Options = {}
): Effect.Effect<Record<string, string>, ControlFailure> => {
  switch (traffic?.["method"]) {
    case "dns":
      return Effect.as(
        client.call("PUT", "/site/dns", { target: to, ttlSeconds: Number(traffic["ttlSeconds"] ?? 0) }),
        { dnsChange: `simulated DNS record → ${to}` }
      )
    case "nat":
      return Effect.as(client.call("PUT", "/site/nat", { target: to }), { natChange: `simulated NAT entry → ${to}` })
    default: {
      const ip = str(traffic?.["sharedIp"])
      if (ip === undefined)
        return Effect.fail(new ControlFailure("the step names no traffic switch (shared IP, DNS or NAT) to move"))
      const pause = options.sharedIpPauseMillis ?? 0
      return client
        .call("PUT", `/appliances/${seg(from)}/shared-ips/${seg(ip)}`, { enabled: false })
        .pipe(
          Effect.zipRight(pause > 0 ? Effect.sleep(`${Math.round(pause)} millis`) : Effect.void),
          Effect.zipRight(client.call("PUT", `/appliances/${seg(to)}/shared-ips/${seg(ip)}`, { enabled: true })),
          Effect.as({ sharedIp: `${ip} moved ${from} → ${to}` })
        )
    }
  }
}

interface SyncView {
  readonly syncing?: boolean
  readonly sync?: { readonly startedAt: string; readonly trigger: string } | null
  readonly lastSync?: { readonly at: string; readonly startedAt: string; readonly status: string } | null
}

const failoverView = (client: ControlClient) =>
  Effect.map(client.call("GET", "/failover"), (v) => (v ?? {}) as SyncView)

/** Polls the relationship until no data sync runs; the last sync then. */
const awaitSyncEnd = (client: ControlClient, options: Options) => {
  const poll = Math.max(1, options.syncPollMillis ?? 200)
  const limit = options.syncWaitMillis ?? 30 * 60_000
  const loop = (waited: number): Effect.Effect<SyncView, ControlFailure> =>
    Effect.flatMap(failoverView(client), (v) =>
      v.syncing !== true
        ? Effect.succeed(v)
        : waited >= limit
          ? Effect.fail(
              new ControlFailure(
                `a data sync is still running after ${Math.round(waited / 1000)} s: wait for it to finish, then answer this gate again`
              )
            )
          : Effect.zipRight(Effect.sleep(`${poll} millis`), loop(waited + poll))
    )
  return loop(0)
}

/**
 * "Sync now", as a person does it: when a data sync is already running,
 * wait for it to finish; it is the sync asked for when it started after the
 * gate opened (`openedAt`, wall-clock ms) and succeeded, else press again.
 *
 * @since 0.3.0
 * @category combinators
 */
export const syncNow = (
  client: ControlClient,
  openedAt: number,
  options: Options = {}
): Effect.Effect<Record<string, string>, ControlFailure> =>
  Effect.gen(function* () {
    const waited: Array<string> = []
    for (let attempt = 0; attempt < 5; attempt++) {
      const pressed = yield* Effect.either(client.call("POST", "/failover/sync"))
      if (pressed._tag === "Right")
        return {
          pressed: "Sync now",
          ...(waited.length > 0 ? { waitedFor: waited.join("; ") } : {})
        }
      // 409 with a relationship: a sync was running (it may have ended since); anything else is a refusal
      const seen = pressed.left.status === 409 ? yield* client.call("GET", "/failover") : null
      if (seen === null || typeof seen !== "object") return yield* Effect.fail(pressed.left)
      const running = (seen as SyncView).sync
      const end = (seen as SyncView).syncing === true ? yield* awaitSyncEnd(client, options) : (seen as SyncView)
      const last = end.lastSync
      waited.push(
        `a data sync (${running?.trigger ?? "unknown"}) started at ${running?.startedAt ?? last?.startedAt ?? "?"} was already running; it ended ${last?.status ?? "without a status"}`
      )
      if (last && last.status === "success" && Date.parse(last.startedAt) >= openedAt)
        return {
          pressed: "none: the sync that was running started after this gate opened",
          waitedFor: waited.join("; ")
        }
    }
    return yield* Effect.fail(
      new ControlFailure(`Sync now kept finding a data sync already running (${waited.join("; ")})`)
    )
  })

/**
 * Plays a `failover/…` gate; `undefined` for any other handler (the next
 * part of `SimOperator` answers it).
 *
 * @since 0.1.0
 * @category constructors
 */
export const play =
  (client: ControlClient, options: Options = {}) =>
  (request: Operator.GateRequest): Played => {
    const step = request.step
    if (FailoverSteps.SyncRequested.is(step)) return syncNow(client, Date.now(), options)
    // as a person would, look first: a gate asked again after a crash finds its work already done
    if (FailoverSteps.Broken.is(step))
      return Effect.flatMap(client.call("GET", "/failover"), (r) =>
        r === null
          ? Effect.succeed({ pressed: "nothing: the relationship was already broken" })
          : Effect.as(client.call("POST", "/failover/break"), { pressed: "Break failover relationship" })
      )
    const established = FailoverSteps.Established.paramsOf(step)
    if (Option.isSome(established)) {
      const { backup, primary } = established.value
      return Effect.flatMap(client.call("GET", "/failover"), (r) => {
        const held = r as { primary?: unknown; backup?: unknown } | null
        return held !== null && held.primary === primary && held.backup === backup
          ? Effect.succeed({ pressed: `nothing: ${primary} primary, ${backup} backup was already established` })
          : Effect.as(client.call("POST", "/failover/establish", { primary, backup }), {
              pressed: `Establish relationship (${primary} primary, ${backup} backup)`
            })
      })
    }
    const switched = FailoverSteps.Switched.paramsOf(step)
    if (Option.isSome(switched)) {
      const { from, pair, to } = switched.value
      return moveTraffic(client, { ...pair.traffic } as Json, from, to, options)
    }
    const asSite = FailoverSteps.VerifyAsSite.paramsOf(step)
    if (Option.isSome(asSite))
      return Effect.map(client.call("GET", `/appliances/${seg(asSite.value.appliance)}`), (a) => ({
        consoleVersion: String((a as Json)["version"])
      }))
    if (FailoverSteps.Switched.is(step) || FailoverSteps.VerifyAsSite.is(step))
      return Effect.fail(
        new ControlFailure(
          `${step.handler}: its params name no appliance of the pair (they do not decode); nothing was done`
        )
      )
    return FailoverSteps.isFailoverStep(step) ? Effect.succeed({}) : undefined
  }
