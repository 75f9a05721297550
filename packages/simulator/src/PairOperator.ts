/**
 * The gates of the failover pair plans (`FailoverSteps` of
 * `@sra-upgrade/failover`, PAIR-1…10), played through the simulator's control
 * API (`/__sim/`). Part of `SimOperator`, which dispatches every gate of a
 * run: use `SimOperator.layer`, this module only holds the failover part.
 *
 * Gates are recognised by the failover step definitions
 * (`FailoverSteps.Broken.is(step)`…) and read from the step's `params`:
 * - `SyncRequested` (PAIR-8): "Sync now", `POST /failover/sync`;
 * - `Broken` (PAIR-4): "Break failover relationship", `POST /failover/break`;
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
    const p = step.params as Json
    if (FailoverSteps.SyncRequested.is(step))
      return Effect.as(client.call("POST", "/failover/sync"), { pressed: "Sync now" })
    if (FailoverSteps.Broken.is(step))
      return Effect.as(client.call("POST", "/failover/break"), { pressed: "Break failover relationship" })
    if (FailoverSteps.Established.is(step)) {
      const primary = str(p["primary"])
      const backup = str(p["backup"])
      return Effect.as(client.call("POST", "/failover/establish", { primary, backup }), {
        pressed: `Establish relationship (${String(primary)} primary, ${String(backup)} backup)`
      })
    }
    if (FailoverSteps.Switched.is(step)) {
      const from = str(p["from"])
      const to = str(p["to"])
      if (from === undefined || to === undefined)
        return Effect.fail(new ControlFailure("the switch step names no appliance to move the traffic from and to"))
      const pair = p["pair"] as Json | undefined
      return moveTraffic(client, pair?.["traffic"] as Json | undefined, from, to, options)
    }
    if (FailoverSteps.VerifyAsSite.is(step)) {
      const id = str(p["appliance"])
      if (id === undefined) return Effect.fail(new ControlFailure("the verification step names no appliance"))
      return Effect.map(client.call("GET", `/appliances/${seg(id)}`), (a) => ({
        consoleVersion: String((a as Json)["version"])
      }))
    }
    return FailoverSteps.isFailoverStep(step) ? Effect.succeed({}) : undefined
  }
