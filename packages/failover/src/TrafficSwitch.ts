/**
 * Moving the site address from one appliance to the other (SWITCH-*): the
 * `TrafficSwitch` port. The default implementation (`layer`) turns each
 * method — shared IP, DNS, NAT — into precise manual-gate instructions and
 * verifies the outcome through the vendor API only: `enabled_shared_ips` on
 * both appliances, the load-balancer probe on the site address, and (when a
 * client is configured on the site address) which appliance's health answers
 * there. An automated DNS or NAT adapter plugs in by providing `apply`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { ApplianceError, Site } from "@sra-upgrade/core"
import { ApplianceApi } from "@sra-upgrade/core"
import type { Member, Pair } from "./Pair.js"

/**
 * What one appliance says about itself, or why it did not answer.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemberView {
  readonly id: string
  readonly reachable: boolean
  readonly guid?: string | undefined
  readonly healthy?: boolean | undefined
  readonly version?: string | undefined
  readonly build?: string | undefined
  readonly failoverRole?: ApplianceApi.FailoverRole | undefined
  readonly enabledSharedIps: ReadonlyArray<string>
  readonly error?: string | undefined
}

/**
 * Where the site address points, as observed through the API.
 *
 * @since 0.1.0
 * @category models
 */
export interface SiteObservation {
  readonly members: ReadonlyArray<MemberView>
  /** The load-balancer probe on the site address (with the site host name). */
  readonly siteProbe: {
    readonly ok: boolean
    readonly status?: number | undefined
    readonly error?: string | undefined
    /** The probe failed on the certificate the site address presented (not trusted, or not the pinned one). */
    readonly certificateRefused?: boolean | undefined
  }
  /** Id of the appliance whose health answered on the site address (needs `Pair.siteClientId`). */
  readonly servedBy?: string | undefined
  /** Appliances holding the shared IP (shared-ip method only). */
  readonly sharedIpHolders: ReadonlyArray<string>
}

/**
 * How the gate that moves the site reads, and how long the move takes to settle.
 *
 * @since 0.1.0
 * @category models
 */
export interface SwitchGate {
  readonly rules: ReadonlyArray<string>
  readonly title: string
  readonly instructions: ReadonlyArray<string>
  readonly evidence: ReadonlyArray<{ readonly name: string; readonly description: string }>
  /** Time for the change to take effect everywhere (DNS TTL), seconds. */
  readonly settleSeconds: number
}

/**
 * The outcome of a verification.
 *
 * @since 0.1.0
 * @category models
 */
export interface SwitchCheck {
  readonly holds: boolean
  /** What is still wrong, for a person. */
  readonly problems: ReadonlyArray<string>
  readonly observation: SiteObservation
}

/**
 * The port.
 *
 * @since 0.1.0
 * @category services
 */
export class TrafficSwitch extends Context.Tag("@sra-upgrade/failover/TrafficSwitch")<
  TrafficSwitch,
  {
    /** The manual gate that moves the site from `from` to `to`. */
    readonly gate: (pair: Pair, from: Member, to: Member) => SwitchGate
    /** Perform the move when an adapter can (DNS API...); the manual implementation does nothing. */
    readonly apply: (
      pair: Pair,
      from: Member,
      to: Member
    ) => Effect.Effect<{ readonly automated: boolean }, ApplianceError.ApplianceError>
    /** Read where the site points now. */
    readonly observe: (pair: Pair) => Effect.Effect<SiteObservation>
    /** Whether the site is served by `to` and only by it. */
    readonly verify: (pair: Pair, from: Member, to: Member) => Effect.Effect<SwitchCheck>
  }
>() {}

const describeErr = (e: unknown): string =>
  typeof e === "object" && e !== null && "message" in e ? String((e as { message: unknown }).message) : String(e)

/**
 * Observe the pair and the site address through the API (never fails: an
 * appliance that does not answer is reported as unreachable).
 *
 * @since 0.1.0
 * @category combinators
 */
export const observe = (pair: Pair): Effect.Effect<SiteObservation, never, ApplianceApi.ApplianceApi> =>
  Effect.gen(function* () {
    const api = yield* ApplianceApi.ApplianceApi
    const view = (m: Member) =>
      api.appliance(m.id).pipe(
        Effect.flatMap((c) => c.health),
        Effect.map((h): MemberView => ({
          id: m.id,
          reachable: true,
          guid: h.applianceGuid,
          healthy: h.healthy,
          version: h.version,
          build: h.build,
          failoverRole: h.failoverRole,
          enabledSharedIps: h.enabledSharedIps
        })),
        Effect.catchAll((e) =>
          Effect.succeed<MemberView>({ id: m.id, reachable: false, enabledSharedIps: [], error: describeErr(e) })
        )
      )
    const members = yield* Effect.all([view(pair.primary), view(pair.backup)])
    const siteProbe = yield* api.probe({ url: pair.siteUrl, hostname: pair.siteHostname }).pipe(
      Effect.map((r) => ({ ok: r.ok, status: r.status })),
      Effect.catchAll((e) =>
        Effect.succeed({ ok: false, error: describeErr(e), certificateRefused: e.reason._tag === "TlsMismatch" })
      )
    )
    let servedBy: string | undefined
    if (pair.siteClientId !== undefined) {
      const guid = yield* api.appliance(pair.siteClientId).pipe(
        Effect.flatMap((c) => c.health),
        Effect.map((h) => h.applianceGuid),
        Effect.orElseSucceed(() => undefined)
      )
      servedBy = members.find((m) => m.guid !== undefined && m.guid === guid)?.id
    }
    const sharedIp = pair.traffic.method === "shared-ip" ? pair.traffic.sharedIp : undefined
    const sharedIpHolders =
      sharedIp === undefined ? [] : members.filter((m) => m.enabledSharedIps.includes(sharedIp)).map((m) => m.id)
    return { members, siteProbe, servedBy, sharedIpHolders }
  })

/**
 * Check an observation: the site is served by `to`, and only by it.
 *
 * @since 0.1.0
 * @category combinators
 */
export const check = (pair: Pair, observation: SiteObservation, to: Member): SwitchCheck => {
  const problems: Array<string> = []
  if (pair.traffic.method === "shared-ip") {
    const ip = pair.traffic.sharedIp
    const holders = observation.sharedIpHolders
    if (!holders.includes(to.id)) problems.push(`${to.id} does not report shared IP ${ip} in enabled_shared_ips.`)
    for (const h of holders)
      if (h !== to.id)
        problems.push(`${h} still has shared IP ${ip} enabled: disable it there (two appliances must never hold it).`)
    const unreachable = observation.members.filter((m) => !m.reachable && m.id !== to.id)
    for (const m of unreachable)
      problems.push(`${m.id} did not answer, so it cannot be confirmed that it released shared IP ${ip}.`)
  }
  if (!observation.siteProbe.ok)
    problems.push(
      `The site address ${pair.siteUrl} does not pass the health probe (${observation.siteProbe.error ?? `HTTP ${observation.siteProbe.status}`}).`
    )
  if (observation.siteProbe.certificateRefused === true && pair.traffic.method === "shared-ip")
    problems.push(
      `The certificate served on shared IP ${pair.traffic.sharedIp} is not the site's: a newly configured IP address uses the Factory Default certificate configuration (SWITCH-5). On ${to.id} (https://${to.uniqueIp}/appliance): Security > Certificates, select the certificate issued to ${pair.siteHostname} for ${pair.traffic.sharedIp} and save; the check then passes.`
    )
  if (pair.siteClientId !== undefined && observation.servedBy !== to.id)
    problems.push(
      `The site address is answered by ${observation.servedBy ?? "an unknown or no appliance"}, not ${to.id}${pair.traffic.method === "dns" ? " (the DNS record may still be propagating)" : ""}.`
    )
  const target = observation.members.find((m) => m.id === to.id)
  if (target?.healthy === false) problems.push(`${to.id} reports itself unhealthy.`)
  return { holds: problems.length === 0, problems, observation }
}

/**
 * The evidence a person gives when moving the site address by `traffic`'s
 * method: a change reference for DNS and NAT; nothing for a shared IP, whose
 * move is read back through the API (`enabled_shared_ips`).
 *
 * @since 0.3.0
 * @category constructors
 */
export const gateEvidence = (traffic: Site.TrafficSwitch): SwitchGate["evidence"] => {
  switch (traffic.method) {
    case "shared-ip":
      return []
    case "dns":
      return [{ name: "dnsChange", description: "Change or ticket reference of the DNS update" }]
    case "nat":
      return [{ name: "natChange", description: "Change or ticket reference of the NAT update" }]
  }
}

/**
 * The manual gate of each method (SWITCH-1/2/3).
 *
 * @since 0.1.0
 * @category constructors
 */
export const manualGate = (pair: Pair, from: Member, to: Member): SwitchGate => {
  const t = pair.traffic
  switch (t.method) {
    case "shared-ip":
      return {
        rules: ["SWITCH-1", "SWITCH-5"],
        title: `Move shared IP ${t.sharedIp} from ${from.id} to ${to.id}`,
        instructions: [
          `Make sure nobody is using the site: network changes must be made only while the appliance is not in use (SWITCH-1).`,
          `Beforehand, open ${to.id}'s page https://${to.uniqueIp}/appliance > Network > IP Configuration in another browser tab, so that the gap between the two saves is short (SWITCH-5).`,
          `On ${from.id} (https://${from.uniqueIp}/appliance): Network > IP Configuration, disable shared IP ${t.sharedIp}, then Save.`,
          `On ${to.id} (the tab opened beforehand): enable shared IP ${t.sharedIp}, then Save.`,
          `A newly configured IP address uses the Factory Default certificate configuration (SWITCH-5): on ${to.id}, Security > Certificates, check that the certificate issued to ${pair.siteHostname} is the one selected for ${t.sharedIp}, and select it if not.`,
          `From then on ${to.id} serves every request for ${pair.siteHostname}. Approve when both pages are saved; the run then checks which certificate the site address presents.`
        ],
        evidence: gateEvidence(t),
        settleSeconds: 0
      }
    case "dns":
      return {
        rules: ["SWITCH-2"],
        title: `Point the DNS record of ${pair.siteHostname} at ${to.id}`,
        instructions: [
          `In the DNS zone, change the A/AAAA record of ${pair.siteHostname} from ${from.uniqueIp} (${from.id}) to ${to.uniqueIp} (${to.id}).`,
          `Service resumes once the record has propagated: up to the TTL, ${t.ttlSeconds} s (SWITCH-2).`,
          "Approve when the record is saved; the run then waits until the site address answers from the new appliance."
        ],
        evidence: gateEvidence(t),
        settleSeconds: t.ttlSeconds
      }
    case "nat":
      return {
        rules: ["SWITCH-3"],
        title: `Point the NAT entry of ${pair.siteHostname} at ${to.id}`,
        instructions: [
          `On the firewall${t.rule !== undefined ? ` (${t.rule})` : ""}, change the NAT entry of the site address from ${from.uniqueIp} (${from.id}) to ${to.uniqueIp} (${to.id}) (SWITCH-3).`,
          "Approve when the rule is applied; the run then checks which appliance answers on the site address."
        ],
        evidence: gateEvidence(t),
        settleSeconds: 0
      }
  }
}

/**
 * The gate of the integration-client check (SWITCH-4).
 *
 * @since 0.1.0
 * @category constructors
 */
export const integrationClientGate = (pair: Pair, from: Member, to: Member): SwitchGate => {
  const byIp = pair.integrationClientsByIp
  return {
    rules: ["SWITCH-4"],
    title: `Check that integration clients pull data from ${to.id}`,
    instructions: [
      byIp.length === 0
        ? `The site file lists no integration client configured by IP address; check that none is (one set to ${from.uniqueIp} would keep pulling from ${from.id}).`
        : `These integration clients connect by IP address: ${byIp.map((c) => `${c.name}${c.address !== undefined ? ` (${c.address})` : ""}`).join(", ")}.`,
      `Reconfigure any integration client that uses ${from.uniqueIp} to use ${to.uniqueIp} or, better, ${pair.siteHostname}.`,
      `Confirm each one pulled data from ${to.id} after the switch (its last successful run is later than the switch).`
    ],
    evidence: [
      {
        name: "integrationClients",
        description: "Integration clients checked and where they now pull from (or 'none configured by IP')"
      }
    ],
    settleSeconds: 0
  }
}

/**
 * Manual traffic switches for all three methods, verified through the API.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<TrafficSwitch, never, ApplianceApi.ApplianceApi> = Layer.effect(
  TrafficSwitch,
  Effect.map(ApplianceApi.ApplianceApi, (api) => {
    const provided = <A>(eff: Effect.Effect<A, never, ApplianceApi.ApplianceApi>) =>
      Effect.provideService(eff, ApplianceApi.ApplianceApi, api)
    return TrafficSwitch.of({
      gate: manualGate,
      apply: () => Effect.succeed({ automated: false }),
      observe: (pair) => provided(observe(pair)),
      verify: (pair, _from, to) => provided(Effect.map(observe(pair), (o) => check(pair, o, to)))
    })
  })
)
