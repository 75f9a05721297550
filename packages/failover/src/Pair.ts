/**
 * Pair topology: which appliance is primary (A) and which is backup (B),
 * their unique addresses and TLS ports (PAIR-7 prefers unique IPs), and how
 * the site address moves between them (shared IP, DNS or NAT). Built from
 * core's `Site` description; a value that serialises to JSON so planners can
 * copy what each step needs into its params.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { Site } from "@sra-upgrade/core"

/**
 * One appliance of the pair.
 *
 * @since 0.1.0
 * @category models
 */
export class Member extends Schema.Class<Member>("Member")({
  /** Id in the site description and in the `ApplianceApi` registry (e.g. `A`). */
  id: Schema.String,
  /** Its own unique IP (never the shared IP). */
  uniqueIp: Schema.String,
  tlsPort: Schema.Number,
  /** Its own host name, when it has one. */
  hostname: Schema.optional(Schema.String),
  /** Base URL of its API and web interface on its unique address. */
  apiUrl: Schema.String
}) {
  /**
   * What PAIR-7's form should receive: the unique IP, preferred to a host name.
   *
   * @since 0.1.0
   */
  get connectHost(): string {
    return this.uniqueIp
  }
}

/**
 * The failover pair behind one site.
 *
 * @since 0.1.0
 * @category models
 */
export class Pair extends Schema.Class<Pair>("Pair")({
  /** The public site hostname users and clients reach. */
  siteHostname: Schema.String,
  /** Where the site address is probed (default `https://<siteHostname>`). */
  siteUrl: Schema.String,
  /**
   * Id, in the `ApplianceApi` registry, of a client configured on the site
   * address: its `health` tells which appliance answers there. Optional: without
   * it the switch is verified through `enabled_shared_ips` and probes only.
   */
  siteClientId: Schema.optional(Schema.String),
  /** Primary now (A). */
  primary: Member,
  /** Backup now (B). */
  backup: Member,
  traffic: Site.TrafficSwitch,
  /** Integration clients configured by IP address: they must be re-checked after a switch (SWITCH-4). */
  integrationClientsByIp: Schema.optionalWith(
    Schema.Array(Schema.Struct({ name: Schema.String, address: Schema.optional(Schema.String) })),
    { default: () => [] }
  )
}) {
  /**
   * The member with this id.
   *
   * @since 0.1.0
   */
  member(id: string): Member | undefined {
    return this.primary.id === id ? this.primary : this.backup.id === id ? this.backup : undefined
  }

  /**
   * The other member.
   *
   * @since 0.1.0
   */
  peerOf(id: string): Member {
    return this.primary.id === id ? this.backup : this.primary
  }
}

/**
 * The site file lists a number of appliances other than two.
 *
 * @since 0.3.0
 * @category models
 */
export class NotTwoAppliances extends Schema.TaggedClass<NotTwoAppliances>()("NotTwoAppliances", {
  hostname: Schema.String,
  appliances: Schema.Array(Schema.String)
}) {}

/**
 * The site file does not say which appliance is primary and which backup.
 *
 * @since 0.3.0
 * @category models
 */
export class RolesUnclear extends Schema.TaggedClass<RolesUnclear>()("RolesUnclear", {
  /** `role` of each appliance in the site file. */
  roles: Schema.Array(Schema.Struct({ appliance: Schema.String, role: Schema.String }))
}) {}

/**
 * The site file says nothing of how the site address moves (`trafficSwitch`).
 *
 * @since 0.3.0
 * @category models
 */
export class NoTrafficSwitch extends Schema.TaggedClass<NoTrafficSwitch>()("NoTrafficSwitch", {}) {}

/**
 * @since 0.3.0
 * @category models
 */
export const PairErrorReason = Schema.Union(NotTwoAppliances, RolesUnclear, NoTrafficSwitch)

/**
 * @since 0.3.0
 * @category models
 */
export type PairErrorReason = typeof PairErrorReason.Type

/**
 * Why a site is not a pair that can be planned; the message names the
 * site-file field to edit.
 *
 * @since 0.1.0
 * @category errors
 */
export class PairError extends Schema.TaggedError<PairError>("@sra-upgrade/failover/PairError")("PairError", {
  reason: PairErrorReason
}) {
  /**
   * @since 0.3.0
   */
  override get message(): string {
    const r = this.reason
    switch (r._tag) {
      case "NotTwoAppliances":
        return `The site ${r.hostname} has ${r.appliances.length} appliance(s); a failover plan needs two. Use the single-appliance planner instead (SINGLE-*).`
      case "RolesUnclear":
        return `Mark one appliance role: primary and the other role: backup in the site file, as they are now (now: ${r.roles.map((a) => `${a.appliance} ${a.role}`).join(", ")}).`
      case "NoTrafficSwitch":
        return "Add trafficSwitch ({ method: shared-ip, sharedIp }, { method: dns } or { method: nat }) to the site file."
    }
  }
}

/**
 * Read the pair out of a site description (two appliances, one primary, one
 * backup, and a traffic switch).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSite = (
  site: Site.Site,
  options?: { readonly siteUrl?: string | undefined; readonly siteClientId?: string | undefined }
): Either.Either<Pair, PairError> => {
  if (site.appliances.length !== 2)
    return Either.left(
      new PairError({
        reason: new NotTwoAppliances({ hostname: site.hostname, appliances: site.appliances.map((a) => a.id) })
      })
    )
  const primary = site.appliances.find((a) => a.role === "primary")
  const backup = site.appliances.find((a) => a.role === "backup")
  if (primary === undefined || backup === undefined)
    return Either.left(
      new PairError({
        reason: new RolesUnclear({
          roles: site.appliances.map((a) => ({ appliance: a.id, role: a.role }))
        })
      })
    )
  if (site.trafficSwitch === undefined) return Either.left(new PairError({ reason: new NoTrafficSwitch() }))
  const member = (a: Site.Appliance) =>
    new Member({
      id: a.id,
      uniqueIp: a.uniqueIp,
      tlsPort: a.tlsPort,
      apiUrl: a.apiUrl.replace(/\/+$/, ""),
      ...(a.hostname !== undefined ? { hostname: a.hostname } : {})
    })
  return Either.right(
    new Pair({
      siteHostname: site.hostname,
      siteUrl: options?.siteUrl ?? `https://${site.hostname}`,
      ...(options?.siteClientId !== undefined ? { siteClientId: options.siteClientId } : {}),
      primary: member(primary),
      backup: member(backup),
      traffic: site.trafficSwitch,
      integrationClientsByIp: site.clients.integrationClients
        .filter((c) => c.connectsBy === "ip")
        .map((c) => (c.address !== undefined ? { name: c.name, address: c.address } : { name: c.name }))
    })
  )
}
