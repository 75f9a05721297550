/**
 * The simulator's action log (`GET /__sim/actions`): every state-changing
 * request the simulator accepted, from the vendor API and from the control
 * API, in the order it accepted them. A refused request (4xx, or an XML
 * `<error>`) is not an action, and neither is a request that changed nothing
 * (`set_failover_role` to the role already held, a shared IP set to the
 * state it has). What the simulator does on its own (an automatic data sync,
 * the end of an install) is in `/__sim/events`, not here.
 *
 * The log lives as long as the simulator process, in memory, complete and
 * ordered: `seq` increases by one per action across every site of the
 * simulator, and `?since=<seq>` returns the actions after that one.
 *
 * This module holds the model, the catalog of action names (with their
 * meaning and whether repeating them is harmless) and the "every
 * non-idempotent action exactly once" check of crash tests.
 *
 * @since 0.3.0
 */
import * as Schema from "effect/Schema"

/**
 * What each action means, whether it is idempotent (repeating it is
 * harmless), the detail fields that identify "the same" action, and whether
 * it only sets up the test harness (clock, faults, simulated users): the
 * exactly-once check ignores those.
 *
 * @since 0.3.0
 * @category models
 */
export interface ActionInfo {
  readonly meaning: string
  readonly idempotent: boolean
  /** Detail fields that, with the site, appliance and action, identify one action for the exactly-once check. */
  readonly keys: ReadonlyArray<string>
  /** Test harness settings, not something a person or the SDK does to an appliance. */
  readonly harness: boolean
}

const entry = (
  meaning: string,
  idempotent: boolean,
  keys: ReadonlyArray<string> = [],
  harness = false
): ActionInfo => ({ meaning, idempotent, keys, harness })

/**
 * The stable action names, with what they mean. Documented in docs/simulator.md.
 *
 * @since 0.3.0
 * @category models
 */
export const catalog = {
  // vendor API
  "token-issued": entry("POST /oauth2/token issued an access token (detail: account)", true),
  "failover-role-set": entry(
    "set_failover_role (XML) or POST /api/command/v2/failover-role changed the failover role (detail: role, dataSyncFirst, force, api)",
    false,
    ["role"]
  ),
  "session-terminated": entry("terminate_session ended a support session (detail: lsid)", false, ["lsid"]),
  "backup-taken": entry("/api/backup started streaming a settings backup (detail: filename, bytes)", true),
  // control API: updates (SINGLE-*)
  "install-started": entry(
    "an update install started on /appliance > Updates (detail: package, via automatic|upload)",
    false,
    ["package"]
  ),
  "download-key-generated": entry("a download key was generated for manual installation (SINGLE-3)", true),
  "package-uploaded": entry("a package was uploaded for manual installation (detail: package)", true),
  reboot: entry("the appliance was rebooted from /appliance", false),
  // failover (PAIR-*)
  "relationship-established": entry(
    "a failover relationship was established (detail: primary, backup, sharedIps) (PAIR-7)",
    false,
    ["primary", "backup"]
  ),
  "relationship-broken": entry("the failover relationship was broken (detail: primary, backup) (PAIR-4)", false, [
    "primary",
    "backup"
  ]),
  "sync-started": entry('"Sync now" started a data sync (detail: trigger) (PAIR-4, PAIR-8)', true),
  "periodic-sync-forced": entry(
    "the next automatic data sync was moved (detail: at, or atNextSyncNow) — the sync race of PAIR-4",
    true,
    [],
    true
  ),
  "inter-appliance-key-set": entry("the inter-appliance key was changed (the key is not logged)", true),
  // network, DNS, NAT (SWITCH-*)
  "shared-ip-moved": entry(
    "a shared IP was enabled or disabled on this appliance (detail: ip, enabled); a move is a disable on one appliance and an enable on the other (SWITCH-1)",
    true
  ),
  "dns-changed": entry("the site's DNS record was moved (detail: target, ttlSeconds) (SWITCH-2)", true),
  "nat-changed": entry("the site's NAT entry was moved (detail: target) (SWITCH-3)", true),
  "traffic-method-set": entry("how the site address is routed (detail: method)", true, [], true),
  // certificates (MIGRATE-3..5)
  "certificate-imported": entry(
    "a certificate was imported (detail: certificateId, subject, sha256, withPrivateKey)",
    false,
    ["sha256"]
  ),
  "certificate-exported": entry("a certificate was exported (detail: certificateId, withPrivateKey, encrypted)", true),
  "default-certificate-set": entry("the default certificate was chosen (detail: certificateId, subject)", true),
  // hardware migration (MIGRATE-*)
  "eula-accepted": entry("the end-user license agreement was accepted (MIGRATE-6)", true),
  "admin-password-changed": entry(
    "the initial admin password was changed (the password is not logged) (MIGRATE-7)",
    true
  ),
  "api-account-created": entry(
    "an API account was created (detail: name; no secret); never on a box in factory state (MIGRATE-1)",
    false,
    ["name"]
  ),
  restore: entry("a settings backup was restored (detail: fromHostname, fromVersion, joinedSite) (MIGRATE-6/7)", false),
  "factory-reset": entry("the appliance was reset to factory settings", false),
  "power-off": entry("a physical appliance was switched off (MIGRATE-9)", false),
  "power-on": entry("a physical appliance was switched on", false),
  "appliance-deleted": entry("a virtual appliance was deleted (MIGRATE-9)", false),
  // Jump Clients (CLIENT-*)
  "jump-client-settings-set": entry(
    "Jump Client upgrade settings were saved (detail: maxConcurrentUpgrades, maxUpgradeBandwidthBytesPerSecond) (CLIENT-6)",
    true
  ),
  "jump-client-checked-in": entry("a Jump Client was made to check in now (detail: client)", true, [], true),
  "jump-client-jumped": entry("a jump to a Jump Client was attempted (detail: client, allowed)", true, [], true),
  // harness
  "time-scale-set": entry("the simulated clock's speed was changed (detail: timeScale)", true, [], true),
  "clock-advanced": entry("simulated time was moved forward (detail: seconds)", false, [], true),
  "backup-settings-set": entry(
    "backup size and password settings (detail: sizeBytes, passwordProtected)",
    true,
    [],
    true
  ),
  "rate-limit-set": entry("the API rate limits were changed (detail: perSecond, perHour)", true, [], true),
  "fault-injected": entry("a fault was injected (detail: kind, count, pathPrefix)", false, [], true),
  "faults-cleared": entry("the faults of an appliance were cleared", true, [], true),
  "tokens-expired": entry("every token of an appliance was expired (detail: count)", true, [], true),
  "user-logged-in": entry("a representative was logged in (detail: displayName, sessions)", false, [], true),
  "clock-offset-set": entry("the appliance clock offset was changed (detail: seconds) (PREP-8)", true, [], true),
  "data-size-set": entry("the appliance's stored data size was changed (detail: bytes)", true, [], true)
} as const satisfies Record<string, ActionInfo>

/**
 * A stable action name.
 *
 * @since 0.3.0
 * @category models
 */
export type ActionName = keyof typeof catalog

/**
 * Every action name, in catalog order.
 *
 * @since 0.3.0
 * @category models
 */
export const names: ReadonlyArray<ActionName> = Object.keys(catalog) as Array<ActionName>

/**
 * A value of an action's `detail`.
 *
 * @since 0.3.0
 * @category models
 */
export const DetailValue = Schema.Union(Schema.String, Schema.Number, Schema.Boolean, Schema.Null)

/**
 * One accepted state-changing request.
 *
 * @since 0.3.0
 * @category models
 */
export class Action extends Schema.Class<Action>("@sra-upgrade/simulator/Action")({
  /** 1, 2, 3… across every site of the simulator, in the order the requests were accepted. */
  seq: Schema.Int,
  /** The site's simulated (scaled) clock, ISO 8601: its start time plus the simulated time elapsed. */
  at: Schema.String,
  /** Name of the simulated site (`site` for a one-site simulator, `site-001`… for many). */
  site: Schema.String,
  /** Id of the appliance acted on, or null for a site-wide action (relationship, DNS, clock…). */
  appliance: Schema.NullOr(Schema.String),
  action: Schema.Literal(...(Object.keys(catalog) as [ActionName, ...Array<ActionName>])),
  detail: Schema.Record({ key: Schema.String, value: DetailValue })
}) {}

/**
 * Decodes the JSON array `GET /__sim/actions` answers.
 *
 * @since 0.3.0
 * @category constructors
 */
export const decodeActions = Schema.decodeUnknown(Schema.Array(Action))

/**
 * The identity of an action for the exactly-once check: site, appliance,
 * action and the catalog's key fields of its detail, e.g.
 * `site-001/A/install-started package=site-24.3.2`.
 *
 * @since 0.3.0
 * @category combinators
 */
export const keyOf = (a: Pick<Action, "site" | "appliance" | "action" | "detail">): string => {
  const keys = catalog[a.action].keys
  const parts = keys.map((k) => `${k}=${String(a.detail[k] ?? "")}`)
  return `${a.site}/${a.appliance ?? "-"}/${a.action}${parts.length > 0 ? ` ${parts.join(" ")}` : ""}`
}

/**
 * How many times each action (by {@link keyOf}) appears.
 *
 * @since 0.3.0
 * @category combinators
 */
export const count = (actions: ReadonlyArray<Action>): ReadonlyMap<string, number> => {
  const counts = new Map<string, number>()
  for (const a of actions) counts.set(keyOf(a), (counts.get(keyOf(a)) ?? 0) + 1)
  return counts
}

/**
 * One breach of "every non-idempotent action exactly once".
 *
 * @since 0.3.0
 * @category models
 */
export interface Violation {
  readonly key: string
  readonly count: number
  /** `repeated`: a non-idempotent action more than once; `missing`/`unexpected`: compared with `expected`. */
  readonly kind: "repeated" | "missing" | "unexpected"
}

/**
 * Checks "every non-idempotent action exactly once": each non-idempotent,
 * non-harness action appears at most once per key; with `expected` (keys,
 * e.g. from an uninterrupted run's log), each expected key exactly once and
 * no other non-idempotent key. An empty result means the check holds.
 *
 * @since 0.3.0
 * @category combinators
 */
export const exactlyOnce = (
  actions: ReadonlyArray<Action>,
  expected?: ReadonlyArray<string>
): ReadonlyArray<Violation> => {
  const counts = new Map<string, number>()
  for (const a of actions) {
    const info = catalog[a.action]
    if (info.idempotent || info.harness) continue
    const key = keyOf(a)
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  const out: Array<Violation> = []
  for (const [key, n] of counts) if (n > 1) out.push({ key, count: n, kind: "repeated" })
  if (expected !== undefined) {
    const want = new Set(expected)
    for (const key of want) if (!counts.has(key)) out.push({ key, count: 0, kind: "missing" })
    for (const [key, n] of counts) if (!want.has(key)) out.push({ key, count: n, kind: "unexpected" })
  }
  return out
}

/**
 * The keys of the non-idempotent, non-harness actions of a log: what
 * {@link exactlyOnce} expects from a run that must repeat an uninterrupted one.
 *
 * @since 0.3.0
 * @category combinators
 */
export const nonIdempotentKeys = (actions: ReadonlyArray<Action>): ReadonlyArray<string> => [
  ...new Set(actions.filter((a) => !catalog[a.action].idempotent && !catalog[a.action].harness).map((a) => keyOf(a)))
]
