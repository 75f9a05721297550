/**
 * The stateful model behind the simulator: appliances, their lifecycle,
 * update packages, users and sessions, failover relationship, shared IPs,
 * certificates, tokens, rate limits, faults and the Jump Client fleet.
 *
 * Durations run on a simulated clock (milliseconds) that moves `timeScale`
 * times faster than the real one, plus explicit advances; state is settled
 * lazily (`tick`) before every read and by one timer the server keeps armed
 * for the next due event. Times the appliances *report* (token expiry, rate
 * limits, clocks, last sync) are real wall-clock times.
 */
import { createHash, createPrivateKey, randomBytes, scryptSync, timingSafeEqual, X509Certificate } from "node:crypto"
import type { ActionName } from "../SimActions.js"
import type { ApiAccount, ApplianceSpec, CommandPermission, SimConfig, UpdatePackage } from "../SimConfig.js"
import type { DetailValue } from "./actions.js"
import { ActionLog } from "./actions.js"
import type { BackupManifest, BackupPayload, PasswordVerifier } from "./backup.js"
import type { Client, Jumpoint } from "./fleet.js"
import { Fleet } from "./fleet.js"
import { compareVersions, hexOf, SimRefusal } from "./util.js"

export type Lifecycle =
  | { readonly _tag: "Running" }
  | {
      readonly _tag: "Installing"
      readonly packageId: string
      readonly until: number
      readonly outcome: "ok" | "needs_support" | "stuck"
    }
  | { readonly _tag: "Rebooting"; readonly until: number; readonly packageId: string }
  | { readonly _tag: "NeedsSupport"; readonly reason: string }
  /** A physical appliance switched off (MIGRATE-9): its listeners are closed. */
  | { readonly _tag: "PoweredOff" }
  /** A virtual appliance deleted (MIGRATE-9): its listeners are closed for good. */
  | { readonly _tag: "Deleted" }

/** An API account; restored ones carry only the SHA-256 of their secret. */
export type StoredAccount = ApiAccount & { readonly secretSha256?: string | undefined }

/**
 * Settings of an appliance that is not (or no longer) a member of the simulated site: a factory
 * box, a factory-reset one, or one restored from another simulator's backup.
 */
export interface LocalSite {
  readonly siteId: string
  readonly accounts: Map<string, StoredAccount>
  readonly jumpClients: Array<Client>
  readonly jumpoints: Array<Jumpoint>
}

export interface LoggedInRep {
  readonly id: number
  readonly displayName: string
  readonly since: number
  readonly sessions: Array<string>
}

export interface Certificate {
  readonly id: string
  readonly certPem: string
  readonly keyPem: string | undefined
  readonly subject: string
  readonly issuer: string
  readonly validTo: string
  readonly fingerprint256: string
  isDefault: boolean
}

export type FaultKind =
  | "http500"
  | "http404"
  | "latency"
  | "drop"
  | "truncate"
  | "rate_limit"
  | "unhealthy"
  | "stuck_install"
  | "fail_base_update"
  | "fail_sync"

export interface Fault {
  readonly kind: FaultKind
  /** Requests (or operations) left; undefined = until cleared. */
  remaining: number | undefined
  /** Only requests whose path starts with this prefix. */
  readonly pathPrefix: string | undefined
  readonly latencyMs: number
}

export interface Appliance {
  readonly spec: ApplianceSpec
  readonly guid: string
  /** undefined = member of the simulated site (site-wide accounts, live Jump Client fleet). */
  local: LocalSite | undefined
  /** The initial admin/password login is still in place (MIGRATE-7). */
  defaultCredentials: boolean
  /** The end-user license agreement was accepted at first login (MIGRATE-6). */
  eulaAccepted: boolean
  /** Configured users (display names), as a backup carries them. */
  users: Array<string>
  hostname: string
  version: string
  build: string
  baseVersion: string
  lifecycle: Lifecycle
  failoverRole: "none" | "primary" | "backup"
  readonly sharedIps: Map<string, boolean>
  interApplianceKey: string
  dataSizeBytes: number
  clockOffsetSeconds: number
  readonly installed: Set<string>
  readonly downloaded: Set<string>
  readonly uploaded: Set<string>
  downloadKey: string | undefined
  reps: Array<LoggedInRep>
  /** Session records (ids) held, merged by data syncs (PAIR-9). */
  readonly records: Set<string>
  certificates: Array<Certificate>
  faults: Array<Fault>
  readonly tokens: Map<string, { account: string; expiresAt: number }>
  readonly tokenOrder: Map<string, Array<string>>
  readonly rate: Map<string, { second: Array<number>; hour: Array<number> }>
}

export interface Relationship {
  primaryId: string
  backupId: string
  readonly sharedIps: ReadonlyArray<string>
  readonly establishedAt: number
  /** Wall-clock end (`at`) and start of the last finished data sync. */
  lastSync: { readonly at: number; readonly startedAt: number; readonly status: string } | undefined
  /** The running data sync: simulated end, wall-clock start, what started it. */
  sync:
    | {
        readonly until: number
        readonly thenPrimary: string | undefined
        readonly startedAt: number
        readonly trigger: string
      }
    | undefined
  swap: { readonly until: number; readonly newPrimary: string } | undefined
  nextAutoSyncAt: number
  /** The next "Sync now" finds an automatic sync that started at that very instant (the PAIR-4 sync race). */
  raceNextSyncNow: boolean
}

export interface SimEvent {
  readonly at: string
  readonly simSeconds: number
  readonly appliance?: string | undefined
  readonly kind: string
  readonly message: string
}

const GiB = 1024 ** 3
const REBOOT = "__reboot__"

const sha256 = (s: string): string => createHash("sha256").update(s, "utf8").digest("hex")

const emptySite = (): LocalSite => ({
  siteId: `local-${randomBytes(8).toString("hex")}`,
  accounts: new Map(),
  jumpClients: [],
  jumpoints: []
})

/** A plausible build for a factory version, e.g. `38112-<40 hex>`. */
const factoryBuild = (version: string): string =>
  `${10000 + (Number.parseInt(hexOf(`build:${version}`, 6), 16) % 90000)}-${hexOf(`factory:${version}`, 40)}`

export class World {
  readonly appliances = new Map<string, Appliance>()
  readonly accounts = new Map<string, StoredAccount>()
  /** Identity of the simulated site (random per run): a backup restored in the same run rejoins it. */
  readonly siteId = randomBytes(8).toString("hex")
  private backupVerifier: { readonly password: string; readonly verifier: PasswordVerifier } | undefined
  readonly catalog: ReadonlyArray<UpdatePackage>
  readonly fleet: Fleet
  relationship: Relationship | undefined
  traffic: "shared-ip" | "dns" | "nat"
  dns: { target: string; pending: { target: string; at: number } | undefined }
  nat: string
  backupSizeBytes: number
  backupPassword: string | undefined
  rateLimits: { perSecond: number; perHour: number }
  readonly events: Array<SimEvent> = []
  private timeScale: number
  private simBase = 0
  private wallBase = Date.now()
  private manualMs = 0
  private lastSiteKey = ""
  private readonly listeners = new Set<() => void>()
  private nextRepId = 1
  private ticking = false
  /** Wall-clock time the simulated clock started from. */
  private readonly startedWall = Date.now()

  constructor(
    readonly config: SimConfig,
    defaultCert: { readonly cert: string; readonly key: string },
    /** Per-appliance certificate served at start, when not `defaultCert`. */
    certificates?: ReadonlyMap<string, { readonly cert: string; readonly key: string }>,
    /** The action log, shared by every site of a many-site simulator. */
    readonly actions: ActionLog = new ActionLog()
  ) {
    this.timeScale = config.timeScale
    this.catalog = config.updates
    this.traffic = config.traffic
    this.backupSizeBytes = config.backupSizeBytes
    this.backupPassword = config.backupPassword
    this.rateLimits = { ...config.rateLimit }
    for (const a of config.accounts) this.accounts.set(a.clientId, a)
    for (const spec of config.appliances) {
      const fresh = spec.fresh === true
      const version = fresh ? (spec.factoryVersion ?? spec.version) : spec.version
      const appliance: Appliance = {
        spec,
        guid: hexOf(`appliance:${config.seed}:${spec.id}`, 32),
        local: fresh ? emptySite() : undefined,
        defaultCredentials: fresh,
        eulaAccepted: !fresh,
        users: fresh ? [] : spec.loggedInUsers.map((u) => u.displayName),
        hostname: spec.hostname,
        version,
        build: version === spec.version ? spec.build : factoryBuild(version),
        baseVersion: spec.baseVersion,
        lifecycle: { _tag: "Running" },
        failoverRole: fresh ? "none" : spec.failoverRole,
        sharedIps: new Map(spec.sharedIps.map((s) => [s.ip, fresh ? false : s.enabled])),
        interApplianceKey: fresh ? "" : spec.interApplianceKey,
        dataSizeBytes: spec.dataSizeBytes,
        clockOffsetSeconds: spec.clockOffsetSeconds,
        installed: new Set(),
        downloaded: new Set(),
        uploaded: new Set(),
        downloadKey: undefined,
        reps: [],
        records: new Set(),
        certificates: [],
        faults: [],
        tokens: new Map(),
        tokenOrder: new Map(),
        rate: new Map()
      }
      const served = certificates?.get(spec.id) ?? defaultCert
      appliance.certificates.push({
        ...describeCert(`${spec.id}-default`, served.cert, served.key),
        isDefault: true
      })
      if (!fresh) for (const u of spec.loggedInUsers) this.addRep(appliance, u.displayName, u.sessions)
      this.appliances.set(spec.id, appliance)
    }
    const members = config.appliances.filter((a) => a.fresh !== true)
    const first = members[0] ?? config.appliances[0]
    const primary = members.find((a) => a.failoverRole === "primary")
    const backup = members.find((a) => a.failoverRole === "backup")
    const target = primary?.id ?? first?.id ?? "A"
    this.dns = { target, pending: undefined }
    this.nat = target
    if (primary && backup) {
      this.relationship = {
        primaryId: primary.id,
        backupId: backup.id,
        sharedIps: primary.sharedIps.map((s) => s.ip),
        establishedAt: Date.now() - 3600_000,
        lastSync: { at: Date.now() - 600_000, startedAt: Date.now() - 600_000, status: "success" },
        sync: undefined,
        swap: undefined,
        nextAutoSyncAt: this.simNow() + config.autoSyncSeconds * 1000,
        raceNextSyncNow: false
      }
    }
    this.fleet = new Fleet(config.fleet, (primary ?? first)?.version ?? "0", config.seed, () => Date.now())
    this.lastSiteKey = this.siteKey()
  }

  // ---------------------------------------------------------------- time

  simNow(): number {
    return this.simBase + (Date.now() - this.wallBase) * this.timeScale + this.manualMs
  }

  getTimeScale(): number {
    return this.timeScale
  }

  /** The simulated clock as a date: the start time plus the simulated time elapsed. */
  simDate(): Date {
    return new Date(this.startedWall + this.simNow())
  }

  /** Appends an accepted state-changing request to the action log (see `SimActions`). */
  act(appliance: string | null, action: ActionName, detail: Readonly<Record<string, DetailValue>> = {}): void {
    this.actions.append(this.config.siteName, this.simDate().toISOString(), appliance, action, detail)
  }

  setTimeScale(scale: number): void {
    if (!Number.isFinite(scale) || scale < 0 || scale > 1_000_000)
      throw new SimRefusal(
        422,
        "timeScale must be a number between 0 and 1000000 (simulated seconds per real second).",
        "timeScale"
      )
    this.simBase = this.simNow() - this.manualMs
    this.wallBase = Date.now()
    this.timeScale = scale
    this.log(undefined, "clock", `Time scale set to ${scale}x`)
    this.act(null, "time-scale-set", { timeScale: scale })
  }

  advance(seconds: number): void {
    if (!Number.isFinite(seconds) || seconds < 0 || seconds > 10 * 365 * 86400)
      throw new SimRefusal(422, "seconds must be a non-negative number (at most ten years).", "seconds")
    this.manualMs += seconds * 1000
    this.log(undefined, "clock", `Advanced simulated time by ${seconds} s`)
    this.act(null, "clock-advanced", { seconds })
    this.tick()
  }

  /** Real milliseconds until the next due event, for the server's timer. */
  realDelayToNextEvent(): number | undefined {
    const next = this.nextEventAt()
    if (next === undefined || this.timeScale === 0) return undefined
    return Math.max(0, (next - this.simNow()) / this.timeScale)
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  log(appliance: string | undefined, kind: string, message: string): void {
    this.events.push({
      at: new Date().toISOString(),
      simSeconds: Math.round(this.simNow() / 1000),
      appliance,
      kind,
      message
    })
    if (this.events.length > 1000) this.events.splice(0, this.events.length - 1000)
  }

  private nextEventAt(): number | undefined {
    const candidates: Array<number> = []
    for (const a of this.appliances.values()) {
      if (a.lifecycle._tag === "Installing" && a.lifecycle.outcome !== "stuck") candidates.push(a.lifecycle.until)
      if (a.lifecycle._tag === "Rebooting") candidates.push(a.lifecycle.until)
    }
    const r = this.relationship
    if (r) {
      if (r.sync) candidates.push(r.sync.until)
      else candidates.push(r.nextAutoSyncAt)
      if (r.swap) candidates.push(r.swap.until)
    }
    if (this.dns.pending) candidates.push(this.dns.pending.at)
    const f = this.fleet.nextEventAt()
    if (f !== undefined) candidates.push(f)
    return candidates.length === 0 ? undefined : Math.min(...candidates)
  }

  /** Settle every event due by now, in time order, then notify listeners if the site routing changed. */
  tick(): void {
    if (this.ticking) return
    this.ticking = true
    try {
      const now = this.simNow()
      for (let guard = 0; guard < 100_000; guard++) {
        const at = this.nextWorldEventAt()
        if (at === undefined || at > now) break
        this.fleet.advanceTo(at)
        this.processWorldEvent(at)
        this.syncFleetTarget(at)
      }
      this.fleet.advanceTo(now)
      this.syncFleetTarget(now)
      this.fleet.advanceTo(now)
    } finally {
      this.ticking = false
    }
    this.notifyIfSiteChanged()
  }

  /** Next non-fleet event. */
  private nextWorldEventAt(): number | undefined {
    const candidates: Array<number> = []
    for (const a of this.appliances.values()) {
      if (a.lifecycle._tag === "Installing" && a.lifecycle.outcome !== "stuck") candidates.push(a.lifecycle.until)
      if (a.lifecycle._tag === "Rebooting") candidates.push(a.lifecycle.until)
    }
    const r = this.relationship
    if (r) {
      candidates.push(r.sync ? r.sync.until : r.nextAutoSyncAt)
      if (r.swap) candidates.push(r.swap.until)
    }
    if (this.dns.pending) candidates.push(this.dns.pending.at)
    return candidates.length === 0 ? undefined : Math.min(...candidates)
  }

  private processWorldEvent(at: number): void {
    for (const a of this.appliances.values()) {
      const l = a.lifecycle
      if (l._tag === "Installing" && l.outcome !== "stuck" && l.until <= at) {
        const pkg = this.pkg(l.packageId)
        if (l.outcome === "needs_support") {
          a.lifecycle = {
            _tag: "NeedsSupport",
            reason: `The base software update ${pkg.id} failed. Do not reboot the appliance: contact BeyondTrust Technical Support.`
          }
          this.log(a.spec.id, "install", `Base update ${pkg.id} FAILED: appliance needs support (PREP-6)`)
        } else {
          a.lifecycle = { _tag: "Rebooting", until: at + pkg.rebootSeconds * 1000, packageId: pkg.id }
          this.log(a.spec.id, "install", `Package ${pkg.id} installed; rebooting for ${pkg.rebootSeconds} s`)
        }
        return
      }
      if (l._tag === "Rebooting" && l.until <= at) {
        if (l.packageId === REBOOT) {
          a.lifecycle = { _tag: "Running" }
          this.log(a.spec.id, "reboot", "Back up after reboot")
          return
        }
        const pkg = this.pkg(l.packageId)
        a.installed.add(pkg.id)
        a.uploaded.delete(pkg.id)
        if (pkg.kind === "site") {
          a.version = pkg.version
          a.build = pkg.build ?? a.build
        } else if (pkg.kind === "base") {
          a.baseVersion = pkg.version
        }
        a.lifecycle = { _tag: "Running" }
        this.log(
          a.spec.id,
          "install",
          `Back up after ${pkg.id}: version ${a.version} (${a.build}), base ${a.baseVersion}`
        )
        return
      }
    }
    const r = this.relationship
    if (r?.swap && r.swap.until <= at) {
      this.finishSwap(r, r.swap.newPrimary)
      return
    }
    if (r?.sync && r.sync.until <= at) {
      this.finishSync(r, at)
      return
    }
    if (r && !r.sync && r.nextAutoSyncAt <= at) {
      this.startSync(r, at, undefined, "automatic")
      return
    }
    if (this.dns.pending && this.dns.pending.at <= at) {
      this.dns = { target: this.dns.pending.target, pending: undefined }
      this.log(undefined, "dns", `DNS record for the site now resolves to ${this.dns.target}`)
    }
  }

  // ---------------------------------------------------------------- lookups

  appliance(id: string): Appliance {
    const a = this.appliances.get(id)
    if (!a)
      throw new SimRefusal(404, `No simulated appliance "${id}"; known ids: ${[...this.appliances.keys()].join(", ")}.`)
    return a
  }

  pkg(id: string): UpdatePackage {
    const p = this.catalog.find((x) => x.id === id)
    if (!p)
      throw new SimRefusal(
        404,
        `No update package "${id}" in the catalog; list them with GET /__sim/appliances/{id}/updates.`
      )
    return p
  }

  isUp(a: Appliance): boolean {
    return a.lifecycle._tag === "Running" || a.lifecycle._tag === "NeedsSupport" || a.lifecycle._tag === "Installing"
  }

  peerOf(a: Appliance): Appliance | undefined {
    const r = this.relationship
    if (!r) return undefined
    if (r.primaryId === a.spec.id) return this.appliances.get(r.backupId)
    if (r.backupId === a.spec.id) return this.appliances.get(r.primaryId)
    return undefined
  }

  inRelationship(a: Appliance): boolean {
    return this.peerOf(a) !== undefined
  }

  // ---------------------------------------------------------------- health

  /** Appliances that are up and have the given shared IP enabled. */
  holdersOf(ip: string): Array<Appliance> {
    return [...this.appliances.values()].filter((a) => this.isUp(a) && a.sharedIps.get(ip) === true)
  }

  enabledSharedIps(a: Appliance): Array<string> {
    return [...a.sharedIps.entries()].filter(([, on]) => on).map(([ip]) => ip)
  }

  health(a: Appliance): { ok: boolean; message: string | undefined } {
    if (a.lifecycle._tag === "NeedsSupport") return { ok: false, message: a.lifecycle.reason }
    if (a.lifecycle._tag === "Installing")
      return { ok: false, message: `Installing update ${a.lifecycle.packageId}; the site is unavailable.` }
    const unhealthy = a.faults.find((f) => f.kind === "unhealthy")
    if (unhealthy) return { ok: false, message: "Simulated fault: the appliance reports a problem (injected)." }
    for (const ip of this.enabledSharedIps(a)) {
      if (this.holdersOf(ip).length > 1)
        return {
          ok: false,
          message: `Shared IP ${ip} is enabled on more than one appliance (split brain): disable it on the backup.`
        }
    }
    return { ok: true, message: undefined }
  }

  // ---------------------------------------------------------------- site routing

  /** Which appliances the site address reaches now. */
  siteTargets(): { method: string; targets: Array<Appliance>; splitBrain: boolean } {
    if (this.traffic === "shared-ip") {
      const holders = this.holdersOf(this.config.siteSharedIp)
      return { method: "shared-ip", targets: holders, splitBrain: holders.length > 1 }
    }
    const id = this.traffic === "dns" ? this.dns.target : this.nat
    const a = this.appliances.get(id)
    return { method: this.traffic, targets: a && this.isUp(a) ? [a] : [], splitBrain: false }
  }

  private siteKey(): string {
    const t = this.siteTargets()
    return `${t.method}:${t.targets.map((a) => a.spec.id).join(",")}`
  }

  private notifyIfSiteChanged(): void {
    const key = this.siteKey()
    if (key !== this.lastSiteKey) {
      this.lastSiteKey = key
      const t = this.siteTargets()
      this.log(
        undefined,
        "site",
        t.targets.length === 0
          ? "The site address reaches no appliance (connections refused)"
          : t.splitBrain
            ? `SPLIT BRAIN: the site address is answered by ${t.targets.map((a) => a.spec.id).join(" and ")}`
            : `The site address now reaches ${t.targets[0]!.spec.id}`
      )
    }
    for (const l of this.listeners) l()
  }

  private syncFleetTarget(now: number): void {
    const t = this.siteTargets()
    // Jump Clients only reconnect to an appliance that holds the site's configuration.
    const serving = t.targets.find((a) => a.lifecycle._tag === "Running" && a.local === undefined)
    this.fleet.setTarget(serving?.version, now)
  }

  // ---------------------------------------------------------------- users & sessions

  addRep(a: Appliance, displayName: string, sessions: number): LoggedInRep {
    const id = this.nextRepId++
    const rep: LoggedInRep = {
      id,
      displayName,
      since: Date.now(),
      sessions: Array.from({ length: Math.max(0, Math.min(100, sessions)) }, (_, i) =>
        hexOf(`lsid:${a.spec.id}:${id}:${i}:${this.simNow()}`, 32)
      )
    }
    a.reps.push(rep)
    if (!a.users.includes(displayName)) a.users.push(displayName)
    for (const lsid of rep.sessions) a.records.add(lsid)
    return rep
  }

  disconnectEveryone(a: Appliance, why: string): void {
    const users = a.reps.length
    const sessions = a.reps.reduce((n, r) => n + r.sessions.length, 0)
    a.reps = []
    if (users + sessions > 0)
      this.log(a.spec.id, "users", `${why}: ${users} user(s) logged out, ${sessions} session(s) ended`)
  }

  terminateSession(a: Appliance, lsid: string): boolean {
    for (const rep of a.reps) {
      const i = rep.sessions.indexOf(lsid)
      if (i >= 0) {
        rep.sessions.splice(i, 1)
        this.log(a.spec.id, "session", `Session ${lsid} terminated`)
        this.act(a.spec.id, "session-terminated", { lsid })
        return true
      }
    }
    return false
  }

  // ---------------------------------------------------------------- updates (SINGLE-*)

  available(a: Appliance): Array<UpdatePackage> {
    return this.catalog.filter((p) => this.isOffered(a, p) && !a.downloaded.has(p.id))
  }

  private isOffered(a: Appliance, p: UpdatePackage): boolean {
    if (a.installed.has(p.id)) return false
    if (!p.requires.every((r) => a.installed.has(r) || this.alreadyAtOrPast(a, r))) return false
    if (p.kind === "site") return compareVersions(p.version, a.version) > 0
    if (p.kind === "base") return compareVersions(p.version, a.baseVersion) > 0
    return true
  }

  /** A prerequisite counts as met when the appliance already runs that version or later. */
  private alreadyAtOrPast(a: Appliance, id: string): boolean {
    const p = this.catalog.find((x) => x.id === id)
    if (!p) return false
    if (p.kind === "site") return compareVersions(a.version, p.version) >= 0
    if (p.kind === "base") return compareVersions(a.baseVersion, p.version) >= 0
    return false
  }

  generateDownloadKey(a: Appliance): string {
    if (Math.abs(a.clockOffsetSeconds) > 300)
      throw new SimRefusal(
        409,
        `The appliance clock is off by ${a.clockOffsetSeconds} s: the download key cannot be generated. Check the time and NTP in /appliance > Network > IP Configuration (PREP-8).`
      )
    a.downloadKey = `${a.guid.slice(0, 8)}-${randomBytes(6).toString("hex")}`.toUpperCase()
    this.log(a.spec.id, "update", "Download key generated (SINGLE-3)")
    this.act(a.spec.id, "download-key-generated")
    return a.downloadKey
  }

  upload(a: Appliance, packageId: string, downloadKey: string | undefined): UpdatePackage {
    const p = this.pkg(packageId)
    if (!a.downloadKey || downloadKey === undefined || downloadKey.toUpperCase() !== a.downloadKey)
      throw new SimRefusal(
        422,
        "The uploaded package was not issued for this appliance's download key: generate a key on the Updates page and request the packages with it (SINGLE-3).",
        "downloadKey"
      )
    if (a.installed.has(p.id)) throw new SimRefusal(409, `Package ${p.id} is already installed.`)
    a.uploaded.add(p.id)
    this.log(a.spec.id, "update", `Package ${p.id} uploaded for manual installation`)
    this.act(a.spec.id, "package-uploaded", { package: p.id })
    return p
  }

  install(a: Appliance, packageId: string): { package: UpdatePackage; durationSeconds: number } {
    const p = this.pkg(packageId)
    if (a.lifecycle._tag !== "Running")
      throw new SimRefusal(409, `Appliance ${a.spec.id} is ${a.lifecycle._tag}; installs need a running appliance.`)
    if (!a.eulaAccepted)
      throw new SimRefusal(
        409,
        `The end-user license agreement of ${a.spec.id} is not accepted: accept it at the first login of /appliance (POST /__sim/appliances/${a.spec.id}/eula/accept), then install the update (MIGRATE-6).`
      )
    const viaUpload = a.uploaded.has(p.id)
    if (!viaUpload) {
      if (a.downloaded.has(p.id))
        throw new SimRefusal(
          409,
          `Package ${p.id} was already downloaded and is no longer offered (SINGLE-4): re-downloading needs vendor support, or use a manual upload (SINGLE-3/6).`
        )
      if (!this.isOffered(a, p)) {
        const missing = p.requires.filter((r) => !a.installed.has(r) && !this.alreadyAtOrPast(a, r))
        throw new SimRefusal(
          409,
          missing.length > 0
            ? `Package ${p.id} is not available yet: install ${missing.join(", ")} first (SINGLE-2).`
            : `Package ${p.id} is not offered to this appliance (already installed or not newer).`
        )
      }
    } else if (!p.requires.every((r) => a.installed.has(r) || this.alreadyAtOrPast(a, r))) {
      throw new SimRefusal(409, `Package ${p.id} needs ${p.requires.join(", ")} installed first (SINGLE-2).`)
    }
    a.downloaded.add(p.id)
    const stuck = this.consumeFault(a, "stuck_install")
    const failBase = p.kind === "base" && this.consumeFault(a, "fail_base_update")
    const durationSeconds = Math.round(p.installSeconds + (a.dataSizeBytes / GiB) * this.config.installSecondsPerGiB)
    a.lifecycle = {
      _tag: "Installing",
      packageId: p.id,
      until: this.simNow() + durationSeconds * 1000,
      outcome: stuck ? "stuck" : failBase ? "needs_support" : "ok"
    }
    this.log(
      a.spec.id,
      "install",
      `Installing ${p.id} (${durationSeconds} simulated s)${viaUpload ? " from a manual upload" : ""}`
    )
    this.act(a.spec.id, "install-started", { package: p.id, via: viaUpload ? "upload" : "automatic" })
    this.disconnectEveryone(a, "Install started (PREP-4)")
    this.tick()
    return { package: p, durationSeconds }
  }

  reboot(a: Appliance): void {
    if (a.lifecycle._tag === "NeedsSupport")
      throw new SimRefusal(
        409,
        "The base software update failed: do not reboot (PREP-6). Contact BeyondTrust Technical Support; the simulator only clears this state by factory reset."
      )
    if (a.lifecycle._tag !== "Running") throw new SimRefusal(409, `Appliance ${a.spec.id} is ${a.lifecycle._tag}.`)
    a.lifecycle = { _tag: "Rebooting", until: this.simNow() + 120_000, packageId: REBOOT }
    this.log(a.spec.id, "reboot", "Rebooting (120 simulated s)")
    this.act(a.spec.id, "reboot")
    this.tick()
  }

  // ---------------------------------------------------------------- failover (PAIR-*)

  establish(primaryId: string, backupId: string, sharedIps: ReadonlyArray<string> | undefined): Relationship {
    const p = this.appliance(primaryId)
    const b = this.appliance(backupId)
    if (p === b) throw new SimRefusal(422, "A relationship needs two different appliances.", "backup")
    if (this.relationship)
      throw new SimRefusal(
        409,
        `A failover relationship already exists (${this.relationship.primaryId} primary, ${this.relationship.backupId} backup): break it first.`
      )
    for (const a of [p, b])
      if (a.lifecycle._tag !== "Running")
        throw new SimRefusal(
          409,
          `Appliance ${a.spec.id} is ${a.lifecycle._tag}: it cannot take part in a relationship now.`
        )
    if (p.interApplianceKey !== b.interApplianceKey)
      throw new SimRefusal(
        409,
        "The inter-appliance keys differ: set the same key on both appliances (/login > Management > Security), then establish the relationship again (PAIR-7)."
      )
    if (p.version !== b.version || p.build !== b.build)
      throw new SimRefusal(
        409,
        `Product version and build must match: ${p.spec.id} runs ${p.version} (${p.build}), ${b.spec.id} runs ${b.version} (${b.build}). Upgrade the older appliance first.`
      )
    p.failoverRole = "primary"
    b.failoverRole = "backup"
    this.relationship = {
      primaryId,
      backupId,
      sharedIps: sharedIps ?? [...p.sharedIps.keys()].filter((ip) => b.sharedIps.has(ip)),
      establishedAt: Date.now(),
      lastSync: undefined,
      sync: undefined,
      swap: undefined,
      nextAutoSyncAt: this.simNow() + 60_000,
      raceNextSyncNow: false
    }
    this.log(
      undefined,
      "failover",
      `Relationship established: ${primaryId} primary, ${backupId} backup; first sync in about 60 s (PAIR-8)`
    )
    this.act(null, "relationship-established", {
      primary: primaryId,
      backup: backupId,
      sharedIps: this.relationship.sharedIps.join(",")
    })
    this.tick()
    return this.relationship
  }

  /** "Break failover relationship"; `request: false` when it is the consequence of another action (factory reset). */
  breakRelationship(request = true): void {
    const r = this.relationship
    if (!r) throw new SimRefusal(409, "There is no failover relationship to break.")
    for (const id of [r.primaryId, r.backupId]) {
      const a = this.appliances.get(id)
      if (a) a.failoverRole = "none"
    }
    this.relationship = undefined
    this.log(
      undefined,
      "failover",
      `Relationship broken (${r.primaryId} / ${r.backupId}); both appliances are standalone`
    )
    if (request) this.act(null, "relationship-broken", { primary: r.primaryId, backup: r.backupId })
    this.tick()
  }

  syncNow(): { durationSeconds: number } {
    const r = this.relationship
    if (!r) throw new SimRefusal(409, "There is no failover relationship: establish one before syncing.")
    if (r.raceNextSyncNow && !r.sync) {
      // the appliance's periodic sync starts at the very instant the button is pressed
      r.raceNextSyncNow = false
      this.startSync(r, this.simNow(), undefined, "automatic")
    }
    if (r.sync) throw new SimRefusal(409, "A data sync is already running; wait for it to finish.")
    const started = this.startSync(r, this.simNow(), undefined, "sync-now")
    this.act(r.primaryId, "sync-started", { trigger: "sync-now" })
    return started
  }

  /**
   * Moves the next automatic data sync: to a simulated instant (ms of `simNow`), or to the
   * instant the next "Sync now" is pressed, which then finds a sync already running (PAIR-4).
   */
  forcePeriodicSync(when: { readonly at: number } | { readonly atNextSyncNow: true }): void {
    const r = this.relationship
    if (!r)
      throw new SimRefusal(409, "There is no failover relationship, so no periodic data sync: establish one first.")
    if ("at" in when) {
      if (!Number.isFinite(when.at)) throw new SimRefusal(422, "The instant must be a number of simulated seconds.")
      r.nextAutoSyncAt = Math.max(this.simNow(), when.at)
      this.log(
        r.primaryId,
        "sync",
        `Next automatic data sync forced at simulated second ${Math.round(r.nextAutoSyncAt / 1000)}`
      )
      this.act(null, "periodic-sync-forced", { at: this.at(r.nextAutoSyncAt) })
    } else {
      r.raceNextSyncNow = true
      this.log(r.primaryId, "sync", "The next automatic data sync will start when Sync now is pressed")
      this.act(null, "periodic-sync-forced", { atNextSyncNow: true })
    }
    this.tick()
  }

  /** A simulated instant (ms of `simNow`) as ISO, on the simulated clock. */
  at(simMs: number): string {
    return new Date(this.startedWall + simMs).toISOString()
  }

  private syncSeconds(r: Relationship): number {
    const p = this.appliances.get(r.primaryId)
    return Math.max(5, Math.round(5 + (p?.dataSizeBytes ?? 0) / 10 / this.config.syncBytesPerSecond))
  }

  private startSync(
    r: Relationship,
    at: number,
    thenPrimary: string | undefined,
    why: string
  ): { durationSeconds: number } {
    const durationSeconds = this.syncSeconds(r)
    r.sync = { until: at + durationSeconds * 1000, thenPrimary, startedAt: Date.now(), trigger: why }
    this.log(r.primaryId, "sync", `Data sync started (${why}, ${durationSeconds} simulated s)`)
    return { durationSeconds }
  }

  private finishSync(r: Relationship, at: number): void {
    const p = this.appliances.get(r.primaryId)
    const b = this.appliances.get(r.backupId)
    const then = r.sync?.thenPrimary
    const startedAt = r.sync?.startedAt ?? Date.now()
    r.sync = undefined
    r.nextAutoSyncAt = at + this.config.autoSyncSeconds * 1000
    let status = "success"
    if (!p || !b || p.lifecycle._tag !== "Running" || b.lifecycle._tag !== "Running")
      status = "failed: the peer appliance is unreachable"
    else if (this.consumeFault(p, "fail_sync")) status = "failed: data sync interrupted (injected fault)"
    r.lastSync = { at: Date.now(), startedAt, status }
    if (status === "success" && p && b) {
      for (const id of p.records) b.records.add(id)
      for (const id of b.records) p.records.add(id)
    }
    this.log(r.primaryId, "sync", `Data sync finished: ${status}`)
    if (then !== undefined) {
      if (status === "success") this.beginSwap(r, then, at)
      else this.log(r.primaryId, "failover", "Role change cancelled: the data sync did not succeed")
    }
  }

  /** Planned swap: the old primary becomes backup now; the new one becomes primary after roleSwapSeconds. */
  private beginSwap(r: Relationship, newPrimary: string, at: number): void {
    const oldPrimary = this.appliances.get(r.primaryId === newPrimary ? r.backupId : r.primaryId)
    if (oldPrimary) {
      oldPrimary.failoverRole = "backup"
      for (const ip of r.sharedIps) if (oldPrimary.sharedIps.has(ip)) oldPrimary.sharedIps.set(ip, false)
    }
    r.swap = { until: at + this.config.roleSwapSeconds * 1000, newPrimary }
    this.log(
      newPrimary,
      "failover",
      `Role swap started: both appliances show Backup for ${this.config.roleSwapSeconds} s`
    )
  }

  private finishSwap(r: Relationship, newPrimary: string): void {
    const n = this.appliances.get(newPrimary)
    const other = r.primaryId === newPrimary ? r.backupId : r.primaryId
    r.swap = undefined
    if (n) {
      n.failoverRole = "primary"
      for (const ip of r.sharedIps) if (n.sharedIps.has(ip)) n.sharedIps.set(ip, true)
    }
    r.primaryId = newPrimary
    r.backupId = other
    this.log(newPrimary, "failover", `${newPrimary} is now primary, ${other} backup`)
  }

  setFailoverRole(
    a: Appliance,
    role: "primary" | "backup",
    dataSyncFirst: boolean,
    force: boolean,
    api: "xml" | "json" = "json"
  ): { message: string; syncStarted: boolean } {
    const r = this.relationship
    const peer = this.peerOf(a)
    if (!r || !peer) throw new SimRefusal(422, "This appliance is not in a failover relationship.")
    if (r.swap || r.sync?.thenPrimary !== undefined)
      throw new SimRefusal(409, "A role change is already in progress; wait for it to finish.")
    if (a.failoverRole === role) return { message: "Successfully changed role.", syncStarted: false }
    this.act(a.spec.id, "failover-role-set", { role, dataSyncFirst, force, api })
    const peerUp = peer.lifecycle._tag === "Running"
    const newPrimary = role === "primary" ? a.spec.id : peer.spec.id
    const currentPrimary = this.appliances.get(r.primaryId)
    if (!peerUp) {
      if (role === "backup" && !force)
        throw new SimRefusal(
          500,
          "The peer appliance is unreachable, so the role change was cancelled (roles must stay one primary, one backup). Retry with force=1 to become backup anyway."
        )
      a.failoverRole = role
      for (const ip of r.sharedIps) if (a.sharedIps.has(ip)) a.sharedIps.set(ip, role === "primary")
      if (role === "primary") {
        r.primaryId = a.spec.id
        r.backupId = peer.spec.id
      }
      this.log(a.spec.id, "failover", `Became ${role} while the peer was unreachable${force ? " (forced)" : ""}`)
      this.tick()
      return { message: "Successfully changed role.", syncStarted: false }
    }
    if (dataSyncFirst) {
      if (currentPrimary) this.disconnectEveryone(currentPrimary, "Role change with data sync first")
      this.startSync(r, this.simNow(), newPrimary, "before role change")
      this.tick()
      return {
        message: "Successfully started data sync. Role change will occur upon successful completion.",
        syncStarted: true
      }
    }
    this.beginSwap(r, newPrimary, this.simNow())
    this.tick()
    return { message: "Successfully changed role.", syncStarted: false }
  }

  // ---------------------------------------------------------------- network, DNS, NAT (SWITCH-*)

  setSharedIp(a: Appliance, ip: string, enabled: boolean): void {
    if (!/^[0-9a-fA-F.:]{2,45}$/.test(ip)) throw new SimRefusal(422, `"${ip}" is not an IP address.`, "ip")
    if (a.sharedIps.get(ip) !== enabled) this.act(a.spec.id, "shared-ip-moved", { ip, enabled })
    a.sharedIps.set(ip, enabled)
    this.log(a.spec.id, "network", `Shared IP ${ip} ${enabled ? "enabled" : "disabled"}`)
    this.tick()
  }

  setTraffic(method: "shared-ip" | "dns" | "nat"): void {
    if (this.traffic !== method) this.act(null, "traffic-method-set", { method })
    this.traffic = method
    this.log(undefined, "network", `Site traffic now follows ${method}`)
    this.tick()
  }

  setDns(target: string, ttlSeconds: number): void {
    this.appliance(target)
    if (!Number.isFinite(ttlSeconds) || ttlSeconds < 0)
      throw new SimRefusal(422, "ttlSeconds must be >= 0.", "ttlSeconds")
    if (!(this.dns.target === target && this.dns.pending === undefined))
      this.act(null, "dns-changed", { target, ttlSeconds })
    this.dns = { target: this.dns.target, pending: { target, at: this.simNow() + ttlSeconds * 1000 } }
    this.log(undefined, "dns", `DNS record moved to ${target}; propagates after ${ttlSeconds} s (SWITCH-2)`)
    this.tick()
  }

  setNat(target: string): void {
    this.appliance(target)
    if (this.nat !== target) this.act(null, "nat-changed", { target })
    this.nat = target
    this.log(undefined, "nat", `NAT entry now points at ${target} (SWITCH-3)`)
    this.tick()
  }

  // ---------------------------------------------------------------- certificates

  importCertificate(a: Appliance, certPem: string, keyPem: string | undefined, passphrase?: string): Certificate {
    const id = `${a.spec.id}-${a.certificates.length + 1}-${hexOf(certPem, 8)}`
    let plainKey = keyPem
    if (keyPem !== undefined) {
      let key
      try {
        key = createPrivateKey(passphrase === undefined ? keyPem : { key: keyPem, passphrase })
      } catch {
        throw new SimRefusal(
          422,
          passphrase === undefined
            ? "The private key could not be read: if it is encrypted, send its passphrase."
            : "The private key could not be decrypted with this passphrase.",
          "privateKey"
        )
      }
      const described = describeCert(id, certPem, undefined)
      if (!new X509Certificate(certPem).checkPrivateKey(key))
        throw new SimRefusal(422, `The private key does not match the certificate ${described.subject}.`, "privateKey")
      plainKey = key.export({ format: "pem", type: "pkcs8" }).toString()
    }
    const cert: Certificate = { ...describeCert(id, certPem, plainKey), isDefault: false }
    a.certificates.push(cert)
    this.act(a.spec.id, "certificate-imported", {
      certificateId: cert.id,
      subject: cert.subject,
      sha256: cert.fingerprint256.replace(/:/g, "").toLowerCase(),
      withPrivateKey: plainKey !== undefined
    })
    this.log(
      a.spec.id,
      "certificate",
      `Certificate imported: ${cert.subject}${plainKey ? " with its private key" : ""}`
    )
    return cert
  }

  /** Export a certificate, with its private key encrypted under `passphrase` when asked (MIGRATE-3). */
  exportCertificate(
    a: Appliance,
    id: string,
    includePrivateKey: boolean,
    passphrase: string | undefined
  ): { cert: Certificate; keyPem: string | undefined } {
    const c = a.certificates.find((x) => x.id === id)
    if (!c)
      throw new SimRefusal(
        404,
        `No certificate "${id}" on ${a.spec.id}; list them with GET /__sim/appliances/${a.spec.id}/certificates.`
      )
    if (!includePrivateKey) {
      this.act(a.spec.id, "certificate-exported", { certificateId: c.id, withPrivateKey: false, encrypted: false })
      return { cert: c, keyPem: undefined }
    }
    if (!c.keyPem) throw new SimRefusal(409, "This certificate has no private key on the appliance.")
    this.act(a.spec.id, "certificate-exported", {
      certificateId: c.id,
      withPrivateKey: true,
      encrypted: passphrase !== undefined
    })
    const keyPem =
      passphrase === undefined
        ? c.keyPem
        : createPrivateKey(c.keyPem)
            .export({ format: "pem", type: "pkcs8", cipher: "aes-256-cbc", passphrase })
            .toString()
    this.log(
      a.spec.id,
      "certificate",
      `Certificate exported with its private key${passphrase === undefined ? " (no passphrase)" : " (encrypted)"}: ${c.subject}`
    )
    return { cert: c, keyPem }
  }

  /** The certificate the HTTPS listener serves: the default one when its private key is here, else the factory one. */
  servedCertificate(a: Appliance): Certificate {
    return (
      a.certificates.find((c) => c.isDefault && c.keyPem !== undefined) ??
      a.certificates.find((c) => c.id === `${a.spec.id}-default`) ??
      a.certificates[0]!
    )
  }

  setDefaultCertificate(a: Appliance, id: string): Certificate {
    const c = a.certificates.find((x) => x.id === id)
    if (!c)
      throw new SimRefusal(
        404,
        `No certificate "${id}" on ${a.spec.id}; list them with GET /__sim/appliances/${a.spec.id}/certificates.`
      )
    for (const x of a.certificates) x.isDefault = x === c
    this.log(a.spec.id, "certificate", `Default certificate: ${c.subject}`)
    this.act(a.spec.id, "default-certificate-set", { certificateId: c.id, subject: c.subject })
    this.tick()
    return c
  }

  factoryReset(a: Appliance): void {
    this.requirePower(a)
    this.act(a.spec.id, "factory-reset")
    if (this.relationship && this.inRelationship(a)) this.breakRelationship(false)
    a.lifecycle = { _tag: "Running" }
    a.local = emptySite()
    a.users = []
    a.defaultCredentials = true
    a.failoverRole = "none"
    for (const ip of a.sharedIps.keys()) a.sharedIps.set(ip, false)
    a.reps = []
    a.records.clear()
    a.certificates = a.certificates.filter((c) => c.id.endsWith("-default"))
    for (const c of a.certificates) c.isDefault = true
    a.faults = []
    a.tokens.clear()
    a.tokenOrder.clear()
    a.downloadKey = undefined
    a.uploaded.clear()
    a.interApplianceKey = ""
    this.log(
      a.spec.id,
      "reset",
      "Factory reset: configuration, users, API accounts, relationship and certificates cleared; login back to admin/password"
    )
    this.tick()
  }

  // ---------------------------------------------------------------- hardware migration (MIGRATE-*)

  /** Refuses actions on an appliance that is switched off or deleted. */
  requirePower(a: Appliance): void {
    if (a.lifecycle._tag === "Deleted")
      throw new SimRefusal(410, `Appliance ${a.spec.id} was deleted: nothing can be done on it any more.`)
    if (a.lifecycle._tag === "PoweredOff")
      throw new SimRefusal(
        409,
        `Appliance ${a.spec.id} is powered off: power it on first (POST /__sim/appliances/${a.spec.id}/power-on).`
      )
  }

  /** API accounts this appliance knows: the site's, or its own when it is not a site member. */
  accountsOf(a: Appliance): Map<string, StoredAccount> {
    return a.local?.accounts ?? this.accounts
  }

  /** Checks a client secret in constant time (restored accounts only know its SHA-256). */
  secretMatches(account: StoredAccount, secret: string): boolean {
    const want = Buffer.from(account.secretSha256 ?? sha256(account.clientSecret), "hex")
    const got = Buffer.from(sha256(secret), "hex")
    return want.length === got.length && timingSafeEqual(want, got)
  }

  /** Jump Clients and Jumpoints the configuration API of this appliance lists. */
  inventoryOf(a: Appliance): { readonly clients: ReadonlyArray<Client>; readonly jumpoints: ReadonlyArray<Jumpoint> } {
    return a.local
      ? { clients: a.local.jumpClients, jumpoints: a.local.jumpoints }
      : { clients: this.fleet.clients, jumpoints: this.fleet.jumpoints }
  }

  /** Creates an API account as a person would in /login > Management > API Configuration. */
  createAccount(
    a: Appliance,
    input: { name: string; permCommand: CommandPermission; permBackup: boolean; permConfiguration: boolean }
  ): StoredAccount {
    this.requirePower(a)
    const accounts = this.accountsOf(a)
    if ([...accounts.values()].some((x) => x.name === input.name))
      throw new SimRefusal(409, `An API account named "${input.name}" already exists on ${a.spec.id}.`, "name")
    const account: StoredAccount = {
      name: input.name,
      clientId: randomBytes(20).toString("hex"),
      clientSecret: randomBytes(24).toString("base64url"),
      enabled: true,
      permCommand: input.permCommand,
      permBackup: input.permBackup,
      permConfiguration: input.permConfiguration
    }
    accounts.set(account.clientId, account)
    this.act(a.spec.id, "api-account-created", { name: input.name })
    this.log(
      a.spec.id,
      "accounts",
      `API account ${input.name} created${a.local ? "" : " (site-wide: synced to the peer)"}`
    )
    return account
  }

  setAdminPassword(a: Appliance, password: string): void {
    this.requirePower(a)
    if (password.length < 8 || password === "password")
      throw new SimRefusal(
        422,
        "Choose an admin password of at least 8 characters, other than the factory one.",
        "password"
      )
    a.defaultCredentials = false
    this.log(a.spec.id, "security", "Initial admin password changed (MIGRATE-7)")
    this.act(a.spec.id, "admin-password-changed")
  }

  acceptEula(a: Appliance): void {
    this.requirePower(a)
    a.eulaAccepted = true
    this.log(a.spec.id, "eula", "End-user license agreement accepted (MIGRATE-6)")
    this.act(a.spec.id, "eula-accepted")
  }

  powerOff(a: Appliance): void {
    this.requirePower(a)
    a.lifecycle = { _tag: "PoweredOff" }
    a.reps = []
    a.tokens.clear()
    a.tokenOrder.clear()
    this.log(a.spec.id, "power", "Powered off: connections are refused (MIGRATE-9)")
    this.act(a.spec.id, "power-off")
    this.tick()
  }

  powerOn(a: Appliance): void {
    if (a.lifecycle._tag === "Deleted") this.requirePower(a)
    if (a.lifecycle._tag !== "PoweredOff") throw new SimRefusal(409, `Appliance ${a.spec.id} is not powered off.`)
    a.lifecycle = { _tag: "Rebooting", until: this.simNow() + 120_000, packageId: REBOOT }
    this.log(a.spec.id, "power", "Powered on: booting (120 simulated s)")
    this.act(a.spec.id, "power-on")
    this.tick()
  }

  deleteAppliance(a: Appliance): void {
    if (a.lifecycle._tag === "Deleted") this.requirePower(a)
    a.lifecycle = { _tag: "Deleted" }
    a.reps = []
    a.tokens.clear()
    a.tokenOrder.clear()
    for (const ip of a.sharedIps.keys()) a.sharedIps.set(ip, false)
    this.log(a.spec.id, "power", "Virtual appliance deleted: its addresses no longer answer (MIGRATE-9)")
    this.act(a.spec.id, "appliance-deleted")
    this.tick()
  }

  private passwordVerifier(password: string): PasswordVerifier {
    if (this.backupVerifier?.password !== password) {
      const salt = randomBytes(16)
      this.backupVerifier = {
        password,
        verifier: {
          algorithm: "scrypt",
          salt: salt.toString("hex"),
          hash: scryptSync(password, salt, 32).toString("hex")
        }
      }
    }
    return this.backupVerifier.verifier
  }

  /** What `/api/backup` writes after `BTNSB1`: the settings a restore needs (MIGRATE-2). */
  backupManifest(a: Appliance, totalBytes: number): { manifest: BackupManifest; payload: BackupPayload } {
    const inventory = this.inventoryOf(a)
    const manifest: BackupManifest = {
      hostname: a.hostname,
      version: a.version,
      build: a.build,
      createdAt: new Date().toISOString(),
      passwordProtected: this.backupPassword !== undefined,
      format: 2,
      product: this.config.product,
      baseVersion: a.baseVersion,
      applianceGuid: a.guid,
      siteId: a.local?.siteId ?? this.siteId,
      siteHostname: this.config.siteHostname,
      totalBytes,
      password: this.backupPassword === undefined ? null : this.passwordVerifier(this.backupPassword)
    }
    const payload: BackupPayload = {
      accounts: [...this.accountsOf(a).values()].map((x) => ({
        name: x.name,
        clientId: x.clientId,
        secretSha256: x.secretSha256 ?? sha256(x.clientSecret),
        enabled: x.enabled,
        permCommand: x.permCommand,
        permBackup: x.permBackup,
        permConfiguration: x.permConfiguration
      })),
      users: [...a.users],
      jumpClients: inventory.clients.map((c) => ({
        id: c.id,
        name: c.name,
        hostname: c.hostname,
        fqdn: c.fqdn,
        tag: c.tag,
        jumpGroupId: c.jumpGroupId,
        connectionType: c.connectionType,
        privateIp: c.privateIp,
        publicIp: c.publicIp,
        operatingSystem: c.operatingSystem,
        consoleUser: c.consoleUser,
        version: c.version,
        revision: c.revision
      })),
      jumpoints: inventory.jumpoints.map((j) => ({ ...j }))
    }
    return { manifest, payload }
  }

  /**
   * Restores a settings backup on `/login > Management > Software > Restore` (MIGRATE-6/7):
   * refuses a wrong or missing password (403), a backup from a newer product version (409) or
   * another product (409). A backup of this run's site makes the appliance a member of the site
   * again (site accounts, live Jump Client fleet); any other one is copied as it is in the file.
   * The admin login stays as it was (`defaultCredentials` unchanged); certificates are untouched.
   */
  restore(
    a: Appliance,
    manifest: BackupManifest,
    payload: BackupPayload,
    password: string | undefined
  ): { joinedSite: boolean; accounts: number; jumpClients: number; jumpoints: number; users: number } {
    this.requirePower(a)
    if (a.lifecycle._tag !== "Running")
      throw new SimRefusal(409, `Appliance ${a.spec.id} is ${a.lifecycle._tag}: restore on a running appliance.`)
    const v = manifest.password
    if (v !== null) {
      if (password === undefined)
        throw new SimRefusal(403, "This backup is password protected: send the password it was made with.", "password")
      const salt = Buffer.from(v.salt, "hex")
      const want = Buffer.from(v.hash, "hex")
      const got = scryptSync(password, salt, want.length || 32)
      if (want.length !== got.length || !timingSafeEqual(want, got))
        throw new SimRefusal(
          403,
          "The backup password is wrong: use the password set when the backup was made (without it the backup cannot be restored).",
          "password"
        )
    }
    if (manifest.product !== this.config.product)
      throw new SimRefusal(
        409,
        `This backup comes from a ${manifest.product.toUpperCase()} site; the appliance runs ${this.config.product.toUpperCase()}: restore it on an appliance of the same product.`
      )
    if (compareVersions(manifest.version, a.version) > 0)
      throw new SimRefusal(
        409,
        `This backup was made on version ${manifest.version}; ${a.spec.id} runs ${a.version}. Install the update to ${manifest.version} on ${a.spec.id} first (accept the EULA, then /appliance > Updates), then restore (MIGRATE-6).`
      )
    const joinedSite = manifest.siteId === this.siteId
    if (joinedSite) {
      a.local = undefined
    } else {
      const accounts = new Map<string, StoredAccount>()
      for (const x of payload.accounts)
        accounts.set(x.clientId, {
          name: x.name,
          clientId: x.clientId,
          clientSecret: "",
          secretSha256: x.secretSha256,
          enabled: x.enabled,
          permCommand: x.permCommand,
          permBackup: x.permBackup,
          permConfiguration: x.permConfiguration
        })
      a.local = {
        siteId: manifest.siteId,
        accounts,
        jumpClients: payload.jumpClients.map((c) => ({
          ...c,
          checkInPhaseMs: 0,
          state: "offline",
          lastConnectWall: undefined,
          lastDisconnectWall: undefined,
          upgradeDoneAt: undefined,
          nextCheckInAt: undefined
        })),
        jumpoints: payload.jumpoints.map((j) => ({ ...j }))
      }
    }
    a.users = [...payload.users]
    a.reps = []
    a.tokens.clear()
    a.tokenOrder.clear()
    const inventory = this.inventoryOf(a)
    const summary = {
      joinedSite,
      accounts: this.accountsOf(a).size,
      jumpClients: inventory.clients.length,
      jumpoints: inventory.jumpoints.length,
      users: a.users.length
    }
    this.log(
      a.spec.id,
      "restore",
      `Settings restored from the backup of ${manifest.hostname} (${manifest.version}): ${summary.accounts} API account(s), ${summary.jumpClients} Jump Client(s), ${summary.jumpoints} Jumpoint(s)${joinedSite ? "; the appliance is a member of the site again" : ""}`
    )
    this.act(a.spec.id, "restore", {
      fromHostname: manifest.hostname,
      fromVersion: manifest.version,
      joinedSite
    })
    this.tick()
    return summary
  }

  // ---------------------------------------------------------------- faults

  addFault(a: Appliance, fault: Fault): void {
    a.faults.push(fault)
    this.act(a.spec.id, "fault-injected", {
      kind: fault.kind,
      count: fault.remaining ?? null,
      pathPrefix: fault.pathPrefix ?? null
    })
    this.log(
      a.spec.id,
      "fault",
      `Fault injected: ${fault.kind}${fault.remaining !== undefined ? ` x${fault.remaining}` : ""}`
    )
  }

  /** Consume one use of a fault that matches; true if it applied. */
  consumeFault(a: Appliance, kind: FaultKind, path?: string): boolean {
    const f = a.faults.find(
      (x) => x.kind === kind && (x.pathPrefix === undefined || (path !== undefined && path.startsWith(x.pathPrefix)))
    )
    if (!f) return false
    if (f.remaining !== undefined) {
      f.remaining -= 1
      if (f.remaining <= 0) a.faults = a.faults.filter((x) => x !== f)
    }
    return true
  }

  // ---------------------------------------------------------------- tokens & rate limits (wall clock)

  mintToken(a: Appliance, account: ApiAccount): { token: string; expiresIn: number } {
    const token = randomBytes(20).toString("hex")
    const order = a.tokenOrder.get(account.clientId) ?? []
    order.push(token)
    while (order.length > 30) {
      const oldest = order.shift()
      if (oldest !== undefined) a.tokens.delete(oldest)
    }
    a.tokenOrder.set(account.clientId, order)
    a.tokens.set(token, { account: account.clientId, expiresAt: Date.now() + 3600_000 })
    this.act(a.spec.id, "token-issued", { account: account.name })
    return { token, expiresIn: 3600 }
  }

  accountForToken(a: Appliance, token: string): ApiAccount | undefined {
    const t = a.tokens.get(token)
    if (!t) return undefined
    if (t.expiresAt <= Date.now()) {
      a.tokens.delete(token)
      return undefined
    }
    const account = this.accountsOf(a).get(t.account)
    return account?.enabled ? account : undefined
  }

  expireTokens(a: Appliance): number {
    const n = a.tokens.size
    a.tokens.clear()
    a.tokenOrder.clear()
    this.log(a.spec.id, "fault", `All ${n} token(s) expired`)
    this.act(a.spec.id, "tokens-expired", { count: n })
    return n
  }

  /** Counts one request; returns the remaining hourly budget, or a refusal when over the per-second or hourly limit. */
  rateLimit(
    a: Appliance,
    account: ApiAccount
  ): { limit: number; remaining: number; limited: boolean; retryAfter: number } {
    const now = Date.now()
    const { perSecond, perHour } = this.rateLimits
    const w = a.rate.get(account.clientId) ?? { second: [], hour: [] }
    a.rate.set(account.clientId, w)
    while (w.second.length > 0 && w.second[0]! <= now - 1000) w.second.shift()
    while (w.hour.length > 0 && w.hour[0]! <= now - 3600_000) w.hour.shift()
    if (this.consumeFault(a, "rate_limit")) return { limit: perHour, remaining: 0, limited: true, retryAfter: 1 }
    if (w.hour.length >= perHour)
      return {
        limit: perHour,
        remaining: 0,
        limited: true,
        retryAfter: Math.max(1, Math.ceil((w.hour[0]! + 3600_000 - now) / 1000))
      }
    if (w.second.length >= perSecond)
      return { limit: perHour, remaining: perHour - w.hour.length, limited: true, retryAfter: 1 }
    w.second.push(now)
    w.hour.push(now)
    return { limit: perHour, remaining: perHour - w.hour.length, limited: false, retryAfter: 0 }
  }
}

export const describeCert = (
  id: string,
  certPem: string,
  keyPem: string | undefined
): Omit<Certificate, "isDefault"> => {
  let x: X509Certificate
  try {
    x = new X509Certificate(certPem)
  } catch {
    throw new SimRefusal(422, "The certificate is not a valid PEM X.509 certificate.", "certificate")
  }
  if (keyPem !== undefined && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(keyPem))
    throw new SimRefusal(422, "The private key is not a PEM private key.", "privateKey")
  return {
    id,
    certPem,
    keyPem,
    subject: x.subject.replace(/\n/g, ", "),
    issuer: x.issuer.replace(/\n/g, ", "),
    validTo: new Date(x.validTo).toISOString(),
    fingerprint256: x.fingerprint256
  }
}
