/**
 * The site description: the public hostname, its one or two appliances, how
 * traffic moves between them, maintenance windows, where backups go, the
 * client estate and the update packages on offer. Written by a person as a
 * YAML or JSON file (reference: `docs/core/site-file.md`); decoding gives
 * errors that name the file, the path of the bad field and what was
 * expected.
 *
 * Secrets are never in the file: it holds references (an environment
 * variable name or a file path) that {@link resolveSecret} reads into a
 * `Redacted` value.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { readFile } from "node:fs/promises"
import { isAbsolute, join } from "node:path"
import * as YAML from "yaml"
import { FailoverRole } from "./ApplianceApi.js"
import { ClientEstate } from "./ClientUpdatePolicy.js"
import { MaintenanceWindow } from "./MaintenanceWindow.js"
import { UpdatePackage } from "./UpdatePackage.js"

// ---------------------------------------------------------------------------
// secrets
// ---------------------------------------------------------------------------

const secretRefMessage = () => ({
  message:
    "expected a secret reference, { env: VARIABLE_NAME } or { file: /path/to/secret }; never write the secret itself in the site file",
  override: true
})

/**
 * A secret held in an environment variable.
 *
 * @since 0.1.0
 * @category models
 */
export class EnvSecret extends Schema.Class<EnvSecret>("EnvSecret")({
  env: Schema.String.pipe(Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]*$/))
}) {}

/**
 * A secret held in a file (first line, trailing newline removed). A relative
 * path is read from the site file's folder.
 *
 * @since 0.1.0
 * @category models
 */
export class FileSecret extends Schema.Class<FileSecret>("FileSecret")({
  file: Schema.String.pipe(Schema.minLength(1))
}) {}

/**
 * Where a secret lives; never the secret itself.
 *
 * @since 0.1.0
 * @category models
 */
export const SecretRef = Schema.Union(EnvSecret, FileSecret).annotations({
  identifier: "SecretRef",
  message: secretRefMessage
})

/**
 * @since 0.1.0
 * @category models
 */
export type SecretRef = typeof SecretRef.Type

/**
 * How a secret reference is shown in messages (`env DB_SECRET`, `file ./x`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const describeSecretRef = (ref: SecretRef): string =>
  ref instanceof EnvSecret ? `environment variable ${ref.env}` : `file ${ref.file}`

// ---------------------------------------------------------------------------
// appliances
// ---------------------------------------------------------------------------

const ipv4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
const ipv6 = /^(?=.*:)[0-9A-Fa-f:.]{2,45}$/

/**
 * An IPv4 or IPv6 address.
 *
 * @since 0.1.0
 * @category models
 */
export const IpAddress = Schema.String.pipe(
  Schema.filter((s) => ipv4.test(s) || ipv6.test(s), {
    message: (issue) => `expected an IPv4 or IPv6 address, got ${JSON.stringify(issue.actual)}`
  })
)

/**
 * A DNS host name (the site FQDN, an appliance's own name).
 *
 * @since 0.1.0
 * @category models
 */
export const Hostname = Schema.String.pipe(
  Schema.filter(
    (s) =>
      s.length <= 253 &&
      /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(
        s
      ),
    { message: (issue) => `expected a host name like support.example.com, got ${JSON.stringify(issue.actual)}` }
  )
)

/**
 * Trust the appliance's TLS certificate through a CA bundle file.
 *
 * @since 0.1.0
 * @category models
 */
export class CaFileTrust extends Schema.Class<CaFileTrust>("CaFileTrust")({
  caFile: Schema.String.pipe(Schema.minLength(1))
}) {}

/**
 * Trust exactly one certificate: the SHA-256 of its DER encoding, as 64 hex
 * digits or colon-separated pairs (as browsers show it).
 *
 * @since 0.1.0
 * @category models
 */
export class PinTrust extends Schema.Class<PinTrust>("PinTrust")({
  sha256: Schema.String.pipe(
    Schema.filter((s) => /^[0-9A-Fa-f]{64}$/.test(s) || /^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$/.test(s), {
      message: () => "expected a SHA-256 fingerprint: 64 hex digits, or 32 colon-separated hex pairs"
    })
  )
}) {
  /**
   * The pin as 64 lower-case hex digits.
   *
   * @since 0.1.0
   */
  get hex(): string {
    return this.sha256.replaceAll(":", "").toLowerCase()
  }
}

/**
 * How to trust the appliance's certificate; absent = the system CAs.
 *
 * @since 0.1.0
 * @category models
 */
export const TlsTrust = Schema.Union(CaFileTrust, PinTrust).annotations({
  identifier: "TlsTrust",
  message: () => ({
    message: "expected { caFile: /path/to/ca.pem } or { sha256: <certificate fingerprint> }",
    override: true
  })
})

/**
 * @since 0.1.0
 * @category models
 */
export type TlsTrust = typeof TlsTrust.Type

/**
 * One appliance of the site.
 *
 * @since 0.1.0
 * @category models
 */
export class Appliance extends Schema.Class<Appliance>("Appliance")({
  /** Short id used in plans and the journal, e.g. `A`. */
  id: Schema.String.pipe(
    Schema.pattern(/^[A-Za-z][A-Za-z0-9_-]{0,31}$/, {
      message: () => "expected a short id of letters, digits, '-' or '_' starting with a letter, e.g. A"
    })
  ),
  /** The failover role it is expected to hold now (`none` for a single appliance). */
  role: FailoverRole,
  /** The appliance's own host name, when it has one. */
  hostname: Schema.optional(Hostname),
  /** Base URL of its API, e.g. `https://10.0.0.11` (its unique address, not the site name). */
  apiUrl: Schema.String.pipe(
    Schema.filter((s) => /^https?:\/\/[^/\s]+\/?$/.test(s), {
      message: (issue) => `expected a base URL like https://10.0.0.11, got ${JSON.stringify(issue.actual)}`
    })
  ),
  /** Plain HTTP is refused unless this is set (simulators, labs). */
  allowPlainHttp: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** Its own unique IP (PAIR-7 prefers it over the site name). */
  uniqueIp: IpAddress,
  tlsPort: Schema.optionalWith(Schema.Number.pipe(Schema.int(), Schema.between(1, 65535)), { default: () => 443 }),
  /** OAuth client id of the API account. */
  clientId: Schema.String.pipe(Schema.minLength(1)),
  /** Where the API account's secret is kept. */
  clientSecret: SecretRef,
  tls: Schema.optional(TlsTrust),
  /** Data stored on the appliance (mostly session recordings), GB: drives the PREP-3 estimate. */
  storedDataGb: Schema.optionalWith(Schema.Number.pipe(Schema.nonNegative()), { default: () => 0 }),
  /** Base software version, when known (the /appliance page shows it; no API does). */
  baseVersion: Schema.optional(Schema.String)
}) {}

// ---------------------------------------------------------------------------
// the site
// ---------------------------------------------------------------------------

/**
 * A shared IP that the primary holds (SWITCH-1).
 *
 * @since 0.1.0
 * @category models
 */
export class SharedIpSwitch extends Schema.Class<SharedIpSwitch>("SharedIpSwitch")({
  method: Schema.Literal("shared-ip"),
  sharedIp: IpAddress
}) {}

/**
 * The site's DNS record is pointed at the primary (SWITCH-2).
 *
 * @since 0.1.0
 * @category models
 */
export class DnsSwitch extends Schema.Class<DnsSwitch>("DnsSwitch")({
  method: Schema.Literal("dns"),
  /** TTL of the record, seconds: how long a change takes to propagate. */
  ttlSeconds: Schema.optionalWith(Schema.Number.pipe(Schema.int(), Schema.nonNegative()), { default: () => 300 })
}) {}

/**
 * A NAT entry is pointed at the primary (SWITCH-3).
 *
 * @since 0.1.0
 * @category models
 */
export class NatSwitch extends Schema.Class<NatSwitch>("NatSwitch")({
  method: Schema.Literal("nat"),
  /** Which rule, for the instructions (e.g. `fw01 rule 42`). */
  rule: Schema.optional(Schema.String)
}) {}

/**
 * How the site address moves from one appliance to the other, told apart
 * by `method`: `{ method: shared-ip, sharedIp: 10.0.0.10 }`, `{ method: dns }`
 * or `{ method: nat }`.
 *
 * @since 0.1.0
 * @category models
 */
export const TrafficSwitch = Schema.Union(SharedIpSwitch, DnsSwitch, NatSwitch).annotations({
  identifier: "TrafficSwitch"
})

/**
 * @since 0.1.0
 * @category models
 */
export type TrafficSwitch = typeof TrafficSwitch.Type

/**
 * Where settings backups go (PREP-1) and the backup password reference.
 *
 * @since 0.1.0
 * @category models
 */
export class BackupSettings extends Schema.Class<BackupSettings>("BackupSettings")({
  directory: Schema.String.pipe(Schema.minLength(1)),
  /** Without it the backup is not password-protected (a warning in plans). */
  password: Schema.optional(SecretRef)
}) {}

/**
 * Licence counts (LICENSE-1): one per concurrently active technician, one
 * per concurrently accessed endpoint. Informational.
 *
 * @since 0.1.0
 * @category models
 */
export class Licences extends Schema.Class<Licences>("Licences")({
  technicians: Schema.Number.pipe(Schema.int(), Schema.nonNegative()),
  endpoints: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.nonNegative()))
}) {}

/**
 * The box that replaces the site's appliance in a hardware (or physical ↔
 * virtual) migration: its own address, and the file where its API account's
 * credentials are put once the account is created at MIGRATE-1 (a YAML or
 * JSON mapping `clientId: …` / `clientSecret: …`, mode 0600; read when the
 * run first reaches the new box, never from the command line).
 *
 * @since 0.3.0
 * @category models
 */
export class NewAppliance extends Schema.Class<NewAppliance>("NewAppliance")({
  /** Short id of the new box in plans and the journal, e.g. `N`. */
  id: Schema.String.pipe(
    Schema.pattern(/^[A-Za-z][A-Za-z0-9_-]{0,22}$/, {
      message: () => "expected a short id of letters, digits, '-' or '_' starting with a letter (23 at most), e.g. N"
    })
  ),
  hostname: Schema.optional(Hostname),
  /** Base URL of its API on its own unique address, e.g. `https://10.0.0.21`. */
  apiUrl: Schema.String.pipe(
    Schema.filter((s) => /^https?:\/\/[^/\s]+\/?$/.test(s), {
      message: (issue) => `expected a base URL like https://10.0.0.21, got ${JSON.stringify(issue.actual)}`
    })
  ),
  allowPlainHttp: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** Its own unique IP (MIGRATE-1: never the old appliance's). */
  uniqueIp: IpAddress,
  tlsPort: Schema.optionalWith(Schema.Number.pipe(Schema.int(), Schema.between(1, 65535)), { default: () => 443 }),
  tls: Schema.optional(TlsTrust),
  /** `physical` or `virtual` (default): which deployment guide MIGRATE-1 names. */
  kind: Schema.optionalWith(Schema.Literal("physical", "virtual"), { default: () => "virtual" as const })
  // No API account of its own: a factory box has none until the old settings, which carry the API accounts, are
  // restored (MIGRATE-7); from then on the run reaches it at `apiUrl` with the old appliance's account.
}) {}

/**
 * The `migration:` section of a site file: move the site from its appliance
 * to `newAppliance` (`sra-upgrade run --method migration`, MIGRATE-1…9).
 *
 * @since 0.3.0
 * @category models
 */
export class Migration extends Schema.Class<Migration>("Migration")({
  /** The old appliance: `physical` (factory reset, power off, return) or `virtual` (delete) at MIGRATE-9. */
  oldKind: Schema.Literal("physical", "virtual"),
  newAppliance: NewAppliance,
  /** Passphrase protecting the private key of the exported certificate bundle (MIGRATE-3). */
  bundlePassphrase: SecretRef
}) {}

/**
 * The site: one public hostname served by one appliance or a failover pair.
 *
 * @since 0.1.0
 * @category models
 */
export class Site extends Schema.Class<Site>("Site")(
  Schema.Struct({
    /** The public hostname users and clients reach. */
    hostname: Hostname,
    product: Schema.Literal("pra", "rs"),
    appliances: Schema.Array(Appliance).pipe(
      Schema.minItems(1, { message: () => "expected one appliance, or two for a failover pair" }),
      Schema.maxItems(2, { message: () => "expected one appliance, or two for a failover pair" })
    ),
    /** Required for a pair. */
    trafficSwitch: Schema.optional(TrafficSwitch),
    maintenanceWindows: Schema.optionalWith(Schema.Array(MaintenanceWindow), { default: () => [] }),
    backup: BackupSettings,
    licences: Schema.optional(Licences),
    clients: Schema.optionalWith(ClientEstate, { default: () => new ClientEstate({}) }),
    /** The packages the Updates page offers (no vendor API lists them). */
    updates: Schema.optionalWith(Schema.Array(UpdatePackage), { default: () => [] }),
    /** A move to new hardware (`--method migration`); see {@link Migration}. */
    migration: Schema.optional(Migration)
  }).pipe(
    Schema.filter((site) => {
      const issues: Array<Schema.FilterIssue> = []
      const seenIds = new Map<string, number>()
      const seenIps = new Map<string, number>()
      site.appliances.forEach((a, i) => {
        if (seenIds.has(a.id))
          issues.push({ path: ["appliances", i, "id"], message: `appliance id ${a.id} is used twice` })
        seenIds.set(a.id, i)
        if (seenIps.has(a.uniqueIp))
          issues.push({ path: ["appliances", i, "uniqueIp"], message: `IP ${a.uniqueIp} is used by two appliances` })
        seenIps.set(a.uniqueIp, i)
        if (a.apiUrl.startsWith("http://") && !a.allowPlainHttp)
          issues.push({
            path: ["appliances", i, "apiUrl"],
            message: "plain http:// is refused; use https:// (or set allowPlainHttp: true for a lab or simulator)"
          })
      })
      if (site.appliances.length === 2) {
        const roles = site.appliances.map((a) => a.role).sort()
        if (roles[0] !== "backup" || roles[1] !== "primary")
          issues.push({
            path: ["appliances"],
            message: `a failover pair needs one appliance with role primary and one with role backup, got ${site.appliances.map((a) => a.role).join(" and ")}`
          })
        if (site.trafficSwitch === undefined)
          issues.push({
            path: ["trafficSwitch"],
            message:
              "a failover pair needs trafficSwitch: { method: shared-ip, sharedIp: … } or { method: dns } or { method: nat }"
          })
      } else if (site.appliances[0]?.role === "backup")
        issues.push({
          path: ["appliances", 0, "role"],
          message: "a single appliance cannot be a failover backup; use role: none (or primary)"
        })
      if (site.trafficSwitch?.method === "shared-ip" && seenIps.has(site.trafficSwitch.sharedIp))
        issues.push({
          path: ["trafficSwitch", "sharedIp"],
          message: `the shared IP ${site.trafficSwitch.sharedIp} must differ from the appliances' unique IPs`
        })
      const migration = site.migration
      if (migration !== undefined) {
        const n = migration.newAppliance
        if (site.appliances.length !== 1)
          issues.push({
            path: ["migration"],
            message: "a migration moves the site from one appliance to a new one: list that one appliance only"
          })
        if (seenIds.has(n.id))
          issues.push({
            path: ["migration", "newAppliance", "id"],
            message: `the new appliance needs its own id (${n.id} is already an appliance of the site)`
          })
        if (seenIps.has(n.uniqueIp))
          issues.push({
            path: ["migration", "newAppliance", "uniqueIp"],
            message: `the new appliance needs its own unique IP (MIGRATE-1): ${n.uniqueIp} is the old appliance's`
          })
        if (site.appliances.some((a) => a.apiUrl.replace(/\/+$/, "") === n.apiUrl.replace(/\/+$/, "")))
          issues.push({
            path: ["migration", "newAppliance", "apiUrl"],
            message: "the new appliance's API URL is the old appliance's: give the new box's own address"
          })
        if (n.apiUrl.startsWith("http://") && !n.allowPlainHttp)
          issues.push({
            path: ["migration", "newAppliance", "apiUrl"],
            message: "plain http:// is refused; use https:// (or set allowPlainHttp: true for a lab or simulator)"
          })
      }
      const seenPackages = new Set<string>()
      site.updates.forEach((p, i) => {
        if (seenPackages.has(p.id))
          issues.push({ path: ["updates", i, "id"], message: `update package id ${p.id} is used twice` })
        seenPackages.add(p.id)
        for (const req of p.requires)
          if (!site.updates.some((q) => q.id === req))
            issues.push({
              path: ["updates", i, "requires"],
              message: `requires ${req}, which is not listed in updates (list it, or remove it if already installed)`
            })
      })
      return issues.length === 0 ? true : issues
    })
  )
) {
  /**
   * Whether the site is served by a failover pair.
   *
   * @since 0.1.0
   */
  get isPair(): boolean {
    return this.appliances.length === 2
  }

  /**
   * The appliance with this id.
   *
   * @since 0.1.0
   */
  appliance(id: string): Appliance | undefined {
    return this.appliances.find((a) => a.id === id)
  }

  /**
   * The appliance expected to serve the site now (the primary, or the only one).
   *
   * @since 0.1.0
   */
  get primary(): Appliance {
    return this.appliances.find((a) => a.role === "primary") ?? this.appliances[0]!
  }
}

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

/**
 * One problem with one field.
 *
 * @since 0.1.0
 * @category models
 */
export class FieldIssue extends Schema.Class<FieldIssue>("FieldIssue")({
  /** e.g. `appliances[1].apiUrl`, or `(root)`. */
  path: Schema.String,
  message: Schema.String
}) {}

/**
 * The file could not be read.
 *
 * @since 0.1.0
 * @category models
 */
export class Unreadable extends Schema.TaggedClass<Unreadable>()("Unreadable", {
  detail: Schema.String
}) {}

/**
 * The file name does not end in `.json`, `.yaml` or `.yml`.
 *
 * @since 0.1.0
 * @category models
 */
export class UnsupportedFormat extends Schema.TaggedClass<UnsupportedFormat>()("UnsupportedFormat", {}) {}

/**
 * Not valid JSON/YAML.
 *
 * @since 0.1.0
 * @category models
 */
export class Syntax extends Schema.TaggedClass<Syntax>()("Syntax", {
  line: Schema.optional(Schema.Number),
  column: Schema.optional(Schema.Number),
  detail: Schema.String
}) {}

/**
 * Valid syntax, wrong content.
 *
 * @since 0.1.0
 * @category models
 */
export class Invalid extends Schema.TaggedClass<Invalid>()("Invalid", {
  issues: Schema.Array(FieldIssue)
}) {}

/**
 * A secret reference could not be resolved. Names the reference, never a value.
 *
 * @since 0.1.0
 * @category models
 */
export class SecretUnavailable extends Schema.TaggedClass<SecretUnavailable>()("SecretUnavailable", {
  ref: Schema.String,
  detail: Schema.String
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export const SiteErrorReason = Schema.Union(Unreadable, UnsupportedFormat, Syntax, Invalid, SecretUnavailable)

/**
 * @since 0.1.0
 * @category models
 */
export type SiteErrorReason = typeof SiteErrorReason.Type

/**
 * A site file could not be used. `file` names it (or `<input>`).
 *
 * @since 0.1.0
 * @category errors
 */
export class SiteError extends Schema.TaggedError<SiteError>("@sra-upgrade/core/SiteError")("SiteError", {
  file: Schema.String,
  reason: SiteErrorReason
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const r = this.reason
    switch (r._tag) {
      case "Unreadable":
        return `${this.file}: cannot read the site file (${r.detail}). Check the path and its permissions.`
      case "UnsupportedFormat":
        return `${this.file}: unknown format; name the site file *.yaml, *.yml or *.json.`
      case "Syntax":
        return `${this.file}${r.line === undefined ? "" : `:${r.line}${r.column === undefined ? "" : `:${r.column}`}`}: not valid ${this.file.endsWith(".json") ? "JSON" : "YAML/JSON"}: ${r.detail}`
      case "Invalid":
        return [
          `${this.file}: ${r.issues.length} problem(s) in the site description (see docs/core/site-file.md):`,
          ...r.issues.map((i) => `  - ${i.path}: ${i.message}`)
        ].join("\n")
      case "SecretUnavailable":
        return `${this.file}: secret from ${r.ref} is unavailable: ${r.detail}.`
    }
  }
}

// ---------------------------------------------------------------------------
// decoding
// ---------------------------------------------------------------------------

const formatPath = (path: ReadonlyArray<PropertyKey>): string => {
  if (path.length === 0) return "(root)"
  let out = ""
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out === "" ? String(p) : `.${String(p)}`
  return out
}

const lowerFirst = (s: string) => (s.startsWith("Expected ") ? "expected " + s.slice("Expected ".length) : s)

/**
 * Turn a Schema parse error into one readable issue per field path
 * (`appliances[1].apiUrl`): literal alternatives are merged ("expected "pra"
 * or "rs", got …"), unknown fields are named, and the noise of optional
 * wrappers ("expected undefined") is dropped when a deeper issue explains it.
 * Other file formats (the fleet file) report their errors the same way.
 *
 * @since 0.3.0
 * @category combinators
 */
export const fieldIssues = (error: ParseResult.ParseError): Array<FieldIssue> => {
  const raw = ParseResult.ArrayFormatter.formatErrorSync(error)
  const keys = raw.map((i) => formatPath(i.path))
  const kept = raw.filter((issue, n) => {
    if (!issue.message.startsWith("Expected undefined")) return true
    const k = keys[n]!
    return !keys.some(
      (other, m) => m !== n && (other === k || other.startsWith(k + ".") || other.startsWith(k + "[") || k === "(root)")
    )
  })
  const byPath = new Map<string, Array<string>>()
  for (const issue of kept) {
    const k = formatPath(issue.path)
    const list = byPath.get(k) ?? []
    if (!list.includes(issue.message)) list.push(issue.message)
    byPath.set(k, list)
  }
  const out: Array<FieldIssue> = []
  for (const [path, messages] of byPath) {
    const alternatives = messages.map((m) => /^Expected (.+), actual (.+)$/s.exec(m))
    if (messages.length > 1 && alternatives.every((m) => m !== null && m[2] === alternatives[0]![2]))
      out.push(
        new FieldIssue({
          path,
          message: `expected ${alternatives.map((m) => m![1]).join(" or ")}, got ${alternatives[0]![2]}`
        })
      )
    else for (const m of messages) out.push(new FieldIssue({ path, message: unexpected(lowerFirst(m)) }))
  }
  return out
}

const unexpected = (m: string) =>
  m.startsWith("is unexpected, expected: ") ? `unknown field (misspelt?); known fields: ${m.slice(25)}` : m

const decodeValue = Schema.decodeUnknownEither(Site, { errors: "all", onExcessProperty: "error" })

/**
 * The formats a site description may be written in.
 *
 * @since 0.1.0
 * @category models
 */
export type Format = "json" | "yaml"

const lineCol = (text: string, offset: number): { line: number; column: number } => {
  const before = text.slice(0, offset)
  const line = before.split("\n").length
  return { line, column: offset - before.lastIndexOf("\n") }
}

/**
 * Offset of the first JSON syntax error (V8 does not always report one).
 * A small validator: it only needs to agree with JSON.parse on where the
 * text stops being JSON.
 */
const jsonErrorOffset = (text: string): number | undefined => {
  let i = 0
  const ws = () => {
    while (i < text.length && " \t\r\n".includes(text[i]!)) i++
  }
  const fail = (): never => {
    throw i
  }
  const literal = (word: string) => (text.startsWith(word, i) ? void (i += word.length) : fail())
  const string = () => {
    i++ // opening quote
    while (i < text.length && text[i] !== '"') {
      if (text[i]! < " ") fail()
      i += text[i] === "\\" ? 2 : 1
    }
    if (i >= text.length) fail()
    i++
  }
  const number = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i))
    if (m === null) fail()
    i += m![0].length
  }
  const value = (): void => {
    ws()
    const c = text[i]
    if (c === "{") {
      i++
      ws()
      if (text[i] === "}") return void i++
      for (;;) {
        ws()
        if (text[i] !== '"') fail()
        string()
        ws()
        if (text[i] !== ":") fail()
        i++
        value()
        ws()
        if (text[i] === ",") i++
        else if (text[i] === "}") return void i++
        else fail()
      }
    }
    if (c === "[") {
      i++
      ws()
      if (text[i] === "]") return void i++
      for (;;) {
        value()
        ws()
        if (text[i] === ",") i++
        else if (text[i] === "]") return void i++
        else fail()
      }
    }
    if (c === '"') return string()
    if (c === "t") return literal("true")
    if (c === "f") return literal("false")
    if (c === "n") return literal("null")
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return number()
    fail()
  }
  try {
    value()
    ws()
    return i < text.length ? i : undefined
  } catch (at) {
    return typeof at === "number" ? Math.min(at, text.length) : undefined
  }
}

/**
 * Parse JSON or YAML text (duplicate YAML keys refused, aliases bounded) into
 * a plain value; a syntax error gives its line and column and a detail that
 * never quotes the text (which may hold anything).
 *
 * @since 0.3.0
 * @category constructors
 */
export const parseDocument = (text: string, format: Format): Either.Either<unknown, Syntax> => {
  if (format === "json") {
    try {
      return Either.right(JSON.parse(text) as unknown)
    } catch (e) {
      // V8 quotes the source around the error: keep only the first clause (the file may hold anything)
      const raw = e instanceof Error ? e.message : String(e)
      const detail = raw.split(/, "|, \.\.\.|\s"[^"]*$/)[0]!.replace(/ in JSON at position \d+.*$/s, "")
      const pos = /position (\d+)/.exec(raw)
      const offset = pos !== null ? Number(pos[1]) : jsonErrorOffset(text)
      const where = offset === undefined ? {} : lineCol(text, offset)
      return Either.left(new Syntax({ ...where, detail }))
    }
  }
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true })
  const first = doc.errors[0]
  if (first !== undefined) {
    const pos = first.linePos?.[0]
    // first line only: the rest of the yaml message quotes the source, which may hold anything
    const detail = first.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "")
    return Either.left(new Syntax(pos === undefined ? { detail } : { line: pos.line, column: pos.col, detail }))
  }
  return Either.right(doc.toJS({ maxAliasCount: 100 }) as unknown)
}

const parseText = (text: string, format: Format, file: string): Either.Either<unknown, SiteError> =>
  Either.mapLeft(parseDocument(text, format), (reason) => new SiteError({ file, reason }))

/**
 * Decode a site description from text. `file` names it in errors.
 *
 * @since 0.1.0
 * @category constructors
 */
export const decodeSite = (text: string, format: Format, file = "<input>"): Effect.Effect<Site, SiteError> =>
  Either.flatMap(parseText(text, format, file), (value) => {
    if (value === null || typeof value !== "object" || Array.isArray(value))
      return Either.left(
        new SiteError({
          file,
          reason: new Invalid({
            issues: [
              new FieldIssue({
                path: "(root)",
                message: "expected a mapping with hostname, product, appliances, backup …"
              })
            ]
          })
        })
      )
    return Either.mapLeft(
      decodeValue(value),
      (e) => new SiteError({ file, reason: new Invalid({ issues: fieldIssues(e) }) })
    )
  })

/**
 * The format a file name implies, if any.
 *
 * @since 0.1.0
 * @category combinators
 */
export const formatOf = (path: string): Format | undefined =>
  /\.json$/i.test(path) ? "json" : /\.ya?ml$/i.test(path) ? "yaml" : undefined

/**
 * Read and decode a site file (`.yaml`, `.yml` or `.json`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const decodeSiteFile = (path: string): Effect.Effect<Site, SiteError> =>
  Effect.gen(function* () {
    const format = formatOf(path)
    if (format === undefined) return yield* new SiteError({ file: path, reason: new UnsupportedFormat() })
    const text = yield* Effect.tryPromise({
      try: () => readFile(path, "utf8"),
      catch: (e) => new SiteError({ file: path, reason: new Unreadable({ detail: errorCode(e) }) })
    })
    return yield* decodeSite(text, format, path)
  })

const errorCode = (e: unknown): string => {
  const code = (e as { code?: unknown } | null)?.code
  return typeof code === "string" ? code : e instanceof Error ? e.name : "unknown error"
}

/**
 * Read a secret. `baseDir` resolves relative file paths (the site file's
 * folder); `env` defaults to `process.env`. The value is returned redacted;
 * errors name the reference, never the value.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolveSecret = (
  ref: SecretRef,
  options?: {
    readonly baseDir?: string | undefined
    readonly env?: Readonly<Record<string, string | undefined>> | undefined
    readonly siteFile?: string | undefined
  }
): Effect.Effect<Redacted.Redacted<string>, SiteError> => {
  const file = options?.siteFile ?? "<site>"
  const unavailable = (detail: string) =>
    new SiteError({ file, reason: new SecretUnavailable({ ref: describeSecretRef(ref), detail }) })
  if (ref instanceof EnvSecret) {
    const value = (options?.env ?? process.env)[ref.env]
    return value === undefined || value === ""
      ? Effect.fail(unavailable("the variable is not set or empty; export it before running"))
      : Effect.succeed(Redacted.make(value))
  }
  const path = isAbsolute(ref.file) || options?.baseDir === undefined ? ref.file : join(options.baseDir, ref.file)
  return Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (e) => unavailable(`cannot read it (${errorCode(e)})`)
  }).pipe(
    Effect.flatMap((text) => {
      const value = text.replace(/\r?\n$/, "")
      return value === "" ? Effect.fail(unavailable("the file is empty")) : Effect.succeed(Redacted.make(value))
    })
  )
}

// ---------------------------------------------------------------------------
// PREP-3
// ---------------------------------------------------------------------------

/**
 * The install-time estimate of one package on one appliance (PREP-3).
 *
 * @since 0.1.0
 * @category models
 */
export interface InstallEstimate {
  /** The estimate, whole minutes. */
  readonly minutes: number
  /** Without stored data: 15..60 minutes. */
  readonly baselineMinutes: number
  /** Added for the data the appliance stores. */
  readonly dataMinutes: number
  /** A sentence a person can read in the plan. */
  readonly explanation: string
}

/** Minutes added per GB of stored data (recordings): a documented assumption, not a vendor figure. */
const MINUTES_PER_GB = 0.25

const defaultBaseline: Record<UpdatePackage["kind"], number> = { base: 30, site: 20, licence: 15 }

/**
 * Estimate how long installing `pkg` takes on an appliance that stores
 * `storedDataGb` of data. The vendor says 15 to 60 minutes, much longer
 * with much stored data (session recordings): the baseline is the package's
 * own estimate (or 30 min for base software, 20 for a site update, 15 for a
 * licence add-on) kept within 15..60, plus 0.25 min per stored GB.
 *
 * @since 0.1.0
 * @category combinators
 */
export const estimateInstallMinutes = (
  storedDataGb: number,
  pkg: Pick<UpdatePackage, "kind" | "id"> & { readonly estimatedMinutes?: number | undefined }
): InstallEstimate => {
  const gb = Number.isFinite(storedDataGb) && storedDataGb > 0 ? storedDataGb : 0
  const baselineMinutes = Math.min(60, Math.max(15, pkg.estimatedMinutes ?? defaultBaseline[pkg.kind]))
  const dataMinutes = Math.ceil(gb * MINUTES_PER_GB)
  const minutes = Math.ceil(baselineMinutes + dataMinutes)
  const source = pkg.estimatedMinutes === undefined ? `a typical ${pkg.kind} update` : "the package's own estimate"
  const explanation =
    dataMinutes === 0
      ? `${pkg.id}: about ${minutes} min (${source}; the vendor quotes 15-60 min per install).`
      : `${pkg.id}: about ${minutes} min: ${baselineMinutes} min for ${source} plus ${dataMinutes} min because the appliance stores ${gb} GB (session recordings make installs much longer than the usual 15-60 min; PREP-3).`
  return { minutes, baselineMinutes, dataMinutes, explanation }
}

/**
 * Seats the site is licensed for (LICENSE-1), as a sentence for plans.
 *
 * @since 0.1.0
 * @category combinators
 */
export const licenceSummary = (site: Site): string | undefined =>
  site.licences === undefined
    ? undefined
    : `Licensed for ${site.licences.technicians} concurrently active technician(s)` +
      (site.licences.endpoints === undefined
        ? ""
        : ` and ${site.licences.endpoints} concurrently accessed endpoint(s)`) +
      " (one licence each, LICENSE-1)."
