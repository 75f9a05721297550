/**
 * The stateful model behind the simulator: appliances, their lifecycle,
 * update packages, users and sessions, failover relationship, shared IPs,
 * site routing, faults, the Jump Client fleet, the event and action logs.
 * By concern, beside it: the shapes (`model.ts`), certificates
 * (`certificates.ts`), API accounts, tokens and rate limits
 * (`credentials.ts`), migration, power and backups (`migration.ts`).
 *
 * Durations run on a simulated clock (milliseconds) that moves `timeScale`
 * times faster than the real one, plus explicit advances; state is settled
 * lazily (`tick`) before every read and by one timer the server keeps armed
 * for the next due event. Times the appliances *report* (token expiry, rate
 * limits, clocks, last sync) are real wall-clock times.
 */
import { randomBytes } from "node:crypto"
import type { ActionName } from "../SimActions.js"
import type { SimConfig, UpdatePackage } from "../SimConfig.js"
import type { DetailValue } from "./actions.js"
import { ActionLog } from "./actions.js"
import type { PasswordVerifier } from "./backup.js"
import { describeCert } from "./certificates.js"
import type { Client, Jumpoint } from "./fleet.js"
import { Fleet } from "./fleet.js"
import type { Appliance, Fault, FaultKind, LoggedInRep, Relationship, SimEvent, StoredAccount } from "./model.js"
import { emptySite, REBOOT } from "./model.js"
import { compareVersions, hexOf, SimRefusal } from "./util.js"

const GiB = 1024 ** 3

/** A plausible build for a factory version, e.g. `38112-<40 hex>`. */
const factoryBuild = (version: string): string =>
  `${10000 + (Number.parseInt(hexOf(`build:${version}`, 6), 16) % 90000)}-${hexOf(`factory:${version}`, 40)}`

export class World {
  readonly appliances = new Map<string, Appliance>()
  readonly accounts = new Map<string, StoredAccount>()
  /** Identity of the simulated site (random per run): a backup restored in the same run rejoins it. */
  readonly siteId = randomBytes(8).toString("hex")
  /** The last backup password and its scrypt verifier (computed once per password). */
  backupVerifier: { readonly password: string; readonly verifier: PasswordVerifier } | undefined
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
        factory: fresh,
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

  factoryReset(a: Appliance): void {
    this.requirePower(a)
    this.act(a.spec.id, "factory-reset")
    if (this.relationship && this.inRelationship(a)) this.breakRelationship(false)
    a.lifecycle = { _tag: "Running" }
    a.local = emptySite()
    a.factory = true
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

  /** Jump Clients and Jumpoints the configuration API of this appliance lists. */
  inventoryOf(a: Appliance): { readonly clients: ReadonlyArray<Client>; readonly jumpoints: ReadonlyArray<Jumpoint> } {
    return a.local
      ? { clients: a.local.jumpClients, jumpoints: a.local.jumpoints }
      : { clients: this.fleet.clients, jumpoints: this.fleet.jumpoints }
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
}
