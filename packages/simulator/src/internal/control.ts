/**
 * The control API under `/__sim/`: plays the UI-only and external actions
 * (updates, failover relationship, network, DNS/NAT, certificates, factory
 * reset, faults, clock). Never mounted on a vendor path. JSON in, JSON out;
 * refusals are `{ "message": … }` with a 4xx status.
 */
import { exportCertificate, importCertificate, servedCertificate, setDefaultCertificate } from "./certificates.js"
import { accountsOf, createAccount, expireTokens } from "./credentials.js"
import { acceptEula, deleteAppliance, powerOff, powerOn, restore, setAdminPassword } from "./migration.js"
import { readBackupFile } from "./backup.js"
import type { Reply } from "./http.js"
import { json, parseJsonObject } from "./http.js"
import type { Appliance, Fault, FaultKind } from "./model.js"
import type { World } from "./world.js"
import { rfc3339, SimRefusal } from "./util.js"

export interface ControlRequest {
  readonly method: string
  readonly path: string
  readonly url: URL
  readonly body: Buffer
}

/** Extra state the server contributes to `/__sim/state` (URLs, site-front status). */
export interface ControlContext {
  readonly describe: () => Record<string, unknown>
  /** The appliance whose listener received the call (undefined on the control listener). */
  readonly self: string | undefined
}

const FAULT_KINDS: ReadonlyArray<FaultKind> = [
  "http500",
  "http404",
  "latency",
  "drop",
  "truncate",
  "rate_limit",
  "unhealthy",
  "stuck_install",
  "fail_base_update",
  "fail_sync"
]

export const applianceView = (world: World, a: Appliance) => {
  const h = world.health(a)
  const inventory = world.inventoryOf(a)
  const served = servedCertificate(a)
  return {
    id: a.spec.id,
    guid: a.guid,
    hostname: a.hostname,
    version: a.version,
    build: a.build,
    baseVersion: a.baseVersion,
    lifecycle: a.lifecycle._tag,
    lifecycleDetail: a.lifecycle,
    healthy: h.ok,
    healthMessage: h.message ?? null,
    failoverRole: a.failoverRole,
    uniqueIp: a.spec.uniqueIp,
    sharedIps: [...a.sharedIps.entries()].map(([ip, enabled]) => ({ ip, enabled })),
    interApplianceKeySet: a.interApplianceKey !== "",
    dataSizeBytes: a.dataSizeBytes,
    clockOffsetSeconds: a.clockOffsetSeconds,
    loggedInUsers: a.reps.map((r) => ({ id: r.id, displayName: r.displayName, sessions: r.sessions })),
    sessionRecords: a.records.size,
    installed: [...a.installed],
    downloaded: [...a.downloaded],
    uploaded: [...a.uploaded],
    available: world.available(a).map((p) => p.id),
    certificates: a.certificates.map(certView),
    faults: a.faults.map((f) => ({
      kind: f.kind,
      remaining: f.remaining ?? null,
      pathPrefix: f.pathPrefix ?? null,
      latencyMs: f.latencyMs
    })),
    activeTokens: a.tokens.size,
    siteMember: a.local === undefined,
    factory: a.factory,
    defaultCredentials: a.defaultCredentials,
    eulaAccepted: a.eulaAccepted,
    apiAccounts: accountsOf(world, a).size,
    users: [...a.users],
    jumpClients: inventory.clients.length,
    jumpoints: inventory.jumpoints.length,
    servedCertificateSha256: served.fingerprint256.replace(/:/g, "").toLowerCase()
  }
}

const certView = (c: Appliance["certificates"][number]) => ({
  id: c.id,
  subject: c.subject,
  issuer: c.issuer,
  validTo: c.validTo,
  fingerprint256: c.fingerprint256,
  hasPrivateKey: c.keyPem !== undefined,
  isDefault: c.isDefault
})

export const relationshipView = (world: World) => {
  const r = world.relationship
  if (!r) return null
  return {
    primary: r.primaryId,
    backup: r.backupId,
    sharedIps: r.sharedIps,
    establishedAt: rfc3339(r.establishedAt),
    lastSync: r.lastSync
      ? {
          at: rfc3339(r.lastSync.at),
          startedAt: new Date(r.lastSync.startedAt).toISOString(),
          status: r.lastSync.status
        }
      : null,
    syncing: r.sync !== undefined,
    /** The running data sync: wall-clock start, what started it (`sync-now`, `automatic`, `before role change`). */
    sync: r.sync
      ? {
          startedAt: new Date(r.sync.startedAt).toISOString(),
          trigger: r.sync.trigger,
          secondsLeft: Math.max(0, Math.round((r.sync.until - world.simNow()) / 1000))
        }
      : null,
    swapping: r.swap !== undefined,
    secondsToNextAutoSync: r.sync ? null : Math.max(0, Math.round((r.nextAutoSyncAt - world.simNow()) / 1000)),
    periodicSyncAtNextSyncNow: r.raceNextSyncNow
  }
}

export const siteView = (world: World) => {
  const t = world.siteTargets()
  return {
    hostname: world.config.siteHostname,
    sharedIp: world.config.siteSharedIp,
    traffic: world.traffic,
    dns: { target: world.dns.target, pendingTarget: world.dns.pending?.target ?? null },
    nat: world.nat,
    reaches: t.targets.map((a) => a.spec.id),
    splitBrain: t.splitBrain
  }
}

export const fleetView = (world: World, full: boolean) => {
  const primary = world.siteTargets().targets[0]
  const version = primary?.version
  const stats = world.fleet.stats()
  return {
    settings: world.fleet.settings,
    siteVersion: version ?? null,
    ...stats,
    needingUpdate:
      version === undefined ? null : world.fleet.clients.filter((c) => world.fleet.needsUpdate(c, version)).length,
    clients: full
      ? world.fleet.clients.map((c) => ({
          id: c.id,
          name: c.name,
          connectionType: c.connectionType,
          version: c.version,
          revision: c.revision,
          state: c.state,
          label:
            c.state === "upgrade_pending" ? "Upgrade pending" : c.state === "upgrading" ? "Upgrading" : "Up to date"
        }))
      : undefined
  }
}

/** `?since=<seq>`: actions after that one (0 or absent: all). */
const sinceParam = (url: URL): number => {
  const v = url.searchParams.get("since")
  if (v === null || v === "") return 0
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0)
    throw new SimRefusal(422, "since must be the seq of an action (a non-negative integer), e.g. ?since=42.", "since")
  return n
}

const str = (o: Record<string, unknown>, k: string, required = true): string | undefined => {
  const v = o[k]
  if (v === undefined && !required) return undefined
  if (typeof v !== "string" || v.length === 0 || v.length > 100_000)
    throw new SimRefusal(422, `Field "${k}" must be a non-empty string.`, k)
  return v
}
const num = (o: Record<string, unknown>, k: string, def?: number): number => {
  const v = o[k]
  if (v === undefined && def !== undefined) return def
  if (typeof v !== "number" || !Number.isFinite(v)) throw new SimRefusal(422, `Field "${k}" must be a number.`, k)
  return v
}
const bool = (o: Record<string, unknown>, k: string): boolean => {
  const v = o[k]
  if (typeof v !== "boolean") throw new SimRefusal(422, `Field "${k}" must be true or false.`, k)
  return v
}

export const handleControl = (world: World, ctx: ControlContext, r: ControlRequest): Reply => {
  try {
    return route(world, ctx, r)
  } catch (e) {
    if (e instanceof SimRefusal)
      return json(e.status, e.field ? { message: e.message, field: e.field } : { message: e.message })
    throw e
  }
}

const route = (world: World, ctx: ControlContext, { method, path, url, body }: ControlRequest): Reply => {
  const parts = path
    .replace(/^\/__sim\/?/, "")
    .split("/")
    .filter((s) => s.length > 0)
    .map(decodeURIComponent)
  const o = parseJsonObject(body)
  if (!o) throw new SimRefusal(400, "The control API takes a JSON object body.")
  const is = (m: string, ...pattern: Array<string>): boolean =>
    method === m && parts.length === pattern.length && pattern.every((p, i) => p === "*" || p === parts[i])
  const ok = (value: unknown = { ok: true }): Reply => json(200, value)

  if (is("GET") || is("GET", "state")) {
    const described = ctx.describe()
    return ok({
      ...described,
      simSeconds: Math.round(world.simNow() / 1000),
      timeScale: world.getTimeScale(),
      appliances: [...world.appliances.values()].map((a) => applianceView(world, a)),
      relationship: relationshipView(world),
      // the site front's URLs and listening state, with its routing
      site: { ...(described["site"] as object | undefined), ...siteView(world) },
      fleet: fleetView(world, false),
      backup: { sizeBytes: world.backupSizeBytes, passwordProtected: world.backupPassword !== undefined }
    })
  }
  if (is("GET", "events")) return ok(world.events)
  if (is("GET", "actions")) return ok(world.actions.since(sinceParam(url), world.config.siteName))
  if (is("GET", "whoami")) return ok({ appliance: ctx.self ?? null })
  if (is("GET", "process")) {
    // ?gc=1 collects garbage first when node runs with --expose-gc (leak checks).
    const gc = (globalThis as { gc?: () => void }).gc
    if (url.searchParams.get("gc") === "1" && gc) gc()
    const m = process.memoryUsage()
    return ok({
      pid: process.pid,
      rss: m.rss,
      heapUsed: m.heapUsed,
      external: m.external,
      arrayBuffers: m.arrayBuffers
    })
  }
  if (is("GET", "clock")) return ok({ simSeconds: Math.round(world.simNow() / 1000), timeScale: world.getTimeScale() })
  if (is("PUT", "clock")) {
    world.setTimeScale(num(o, "timeScale"))
    return ok({ simSeconds: Math.round(world.simNow() / 1000), timeScale: world.getTimeScale() })
  }
  if (is("POST", "clock", "advance")) {
    world.advance(num(o, "seconds"))
    return ok({ simSeconds: Math.round(world.simNow() / 1000), timeScale: world.getTimeScale() })
  }
  if (is("PUT", "backup")) {
    const size = num(o, "sizeBytes", world.backupSizeBytes)
    if (size < 64 || size > 64 * 1024 ** 3)
      throw new SimRefusal(422, "sizeBytes must be between 64 bytes and 64 GiB.", "sizeBytes")
    world.backupSizeBytes = Math.floor(size)
    if (o.password === null) world.backupPassword = undefined
    else if (o.password !== undefined) world.backupPassword = str(o, "password")
    world.log(
      undefined,
      "backup",
      `Backup settings: ${world.backupSizeBytes} bytes, ${world.backupPassword ? "password protected" : "no password"}`
    )
    world.act(null, "backup-settings-set", {
      sizeBytes: world.backupSizeBytes,
      passwordProtected: world.backupPassword !== undefined
    })
    return ok({ sizeBytes: world.backupSizeBytes, passwordProtected: world.backupPassword !== undefined })
  }

  if (is("PUT", "rate-limit")) {
    const perSecond = num(o, "perSecond", world.rateLimits.perSecond)
    const perHour = num(o, "perHour", world.rateLimits.perHour)
    if (perSecond < 1 || perHour < 1) throw new SimRefusal(422, "perSecond and perHour must be at least 1.")
    world.rateLimits = { perSecond: Math.floor(perSecond), perHour: Math.floor(perHour) }
    world.log(
      undefined,
      "rate-limit",
      `Rate limit set to ${world.rateLimits.perSecond}/s, ${world.rateLimits.perHour}/h`
    )
    world.act(null, "rate-limit-set", { ...world.rateLimits })
    return ok(world.rateLimits)
  }

  // Failover relationship
  if (is("GET", "failover")) return ok(relationshipView(world))
  if (is("POST", "failover", "establish")) {
    const ips = o.sharedIps
    if (ips !== undefined && (!Array.isArray(ips) || !ips.every((x) => typeof x === "string")))
      throw new SimRefusal(422, 'Field "sharedIps" must be an array of IP strings.', "sharedIps")
    world.establish(str(o, "primary")!, str(o, "backup")!, ips as Array<string> | undefined)
    return ok(relationshipView(world))
  }
  if (is("POST", "failover", "sync")) return ok(world.syncNow())
  if (is("POST", "failover", "periodic-sync")) {
    const modes = ["atNextSyncNow", "inSeconds", "atSeconds"].filter((k) => o[k] !== undefined)
    if (modes.length !== 1)
      throw new SimRefusal(
        422,
        'Send exactly one of "atNextSyncNow": true, "inSeconds": N (from now) or "atSeconds": N (simulated seconds, as GET /__sim/clock reports them).'
      )
    if (o.atNextSyncNow !== undefined) {
      if (o.atNextSyncNow !== true) throw new SimRefusal(422, 'Field "atNextSyncNow" must be true.', "atNextSyncNow")
      world.forcePeriodicSync({ atNextSyncNow: true })
    } else if (o.inSeconds !== undefined) {
      const n = num(o, "inSeconds")
      if (n < 0) throw new SimRefusal(422, "inSeconds must be >= 0.", "inSeconds")
      world.forcePeriodicSync({ at: world.simNow() + n * 1000 })
    } else world.forcePeriodicSync({ at: num(o, "atSeconds") * 1000 })
    return ok(relationshipView(world))
  }
  if (is("POST", "failover", "break")) {
    world.breakRelationship()
    return ok()
  }

  // Site routing
  if (is("GET", "site")) return ok(siteView(world))
  if (is("PUT", "site", "traffic")) {
    const m = o.method
    if (m !== "shared-ip" && m !== "dns" && m !== "nat")
      throw new SimRefusal(422, 'Field "method" must be shared-ip, dns or nat.', "method")
    world.setTraffic(m)
    return ok(siteView(world))
  }
  if (is("PUT", "site", "dns")) {
    world.setDns(str(o, "target")!, num(o, "ttlSeconds", 0))
    return ok(siteView(world))
  }
  if (is("PUT", "site", "nat")) {
    world.setNat(str(o, "target")!)
    return ok(siteView(world))
  }

  // Fleet
  if (is("GET", "fleet")) return ok(fleetView(world, url.searchParams.get("clients") === "1"))
  if (is("PUT", "fleet", "settings")) {
    const s = world.fleet.settings
    const max = num(o, "maxConcurrentUpgrades", s.maxConcurrentUpgrades)
    const bw = num(o, "maxUpgradeBandwidthBytesPerSecond", s.maxUpgradeBandwidthBytesPerSecond)
    if (max < 1 || max > 500)
      throw new SimRefusal(422, "maxConcurrentUpgrades must be between 1 and 500.", "maxConcurrentUpgrades")
    if (bw <= 0 || bw > 100 * 1024 ** 2)
      throw new SimRefusal(
        422,
        "maxUpgradeBandwidthBytesPerSecond must be positive and at most 100 MiB/s.",
        "maxUpgradeBandwidthBytesPerSecond"
      )
    world.fleet.settings = { ...s, maxConcurrentUpgrades: Math.floor(max), maxUpgradeBandwidthBytesPerSecond: bw }
    world.act(null, "jump-client-settings-set", {
      maxConcurrentUpgrades: Math.floor(max),
      maxUpgradeBandwidthBytesPerSecond: bw
    })
    return ok(fleetView(world, false))
  }
  if (is("POST", "fleet", "jump-clients", "*", "check-in")) {
    const c = world.fleet.checkInNow(Number(parts[2]), world.simNow())
    if (!c) throw new SimRefusal(404, `No Jump Client ${parts[2]}.`)
    world.act(null, "jump-client-checked-in", { client: c.id })
    world.tick()
    return ok({ id: c.id, state: c.state, version: c.version })
  }
  if (is("POST", "fleet", "jump-clients", "*", "jump")) {
    const r = world.fleet.jump(Number(parts[2]))
    if (!r) throw new SimRefusal(404, `No Jump Client ${parts[2]}.`)
    world.act(null, "jump-client-jumped", { client: r.client.id, allowed: r.allowed })
    if (!r.allowed)
      return json(409, {
        message: `Jump Client ${r.client.name} is "${r.client.state === "upgrade_pending" ? "Upgrade pending" : "Upgrading"}" (version ${r.client.version}, revision ${r.client.revision}): it can be edited but not jumped to until it is upgraded; it moved to the front of the queue.`
      })
    return ok({ id: r.client.id, jumped: true })
  }

  // Appliances
  if (parts[0] !== "appliances")
    throw new SimRefusal(404, `No control endpoint ${method} ${path}; see docs/simulator.md for the list.`)
  if (is("GET", "appliances")) return ok([...world.appliances.values()].map((a) => applianceView(world, a)))
  const a = world.appliance(parts[1] ?? "")
  const sub = parts.slice(2)
  const at = (m: string, ...pattern: Array<string>): boolean =>
    method === m && sub.length === pattern.length && pattern.every((p, i) => p === "*" || p === sub[i])

  if (at("GET")) return ok(applianceView(world, a))
  // A deleted appliance can only be looked at; a powered-off one only powered on or deleted.
  if (method !== "GET" && !at("POST", "power-on") && !at("DELETE")) world.requirePower(a)

  // Hardware migration (MIGRATE-*)
  if (at("DELETE")) {
    deleteAppliance(world, a)
    return ok(applianceView(world, a))
  }
  if (at("POST", "power-off")) {
    powerOff(world, a)
    return ok(applianceView(world, a))
  }
  if (at("POST", "power-on")) {
    powerOn(world, a)
    return ok(applianceView(world, a))
  }
  if (at("POST", "eula", "accept")) {
    acceptEula(world, a)
    return ok({ eulaAccepted: true })
  }
  if (at("PUT", "admin-password")) {
    setAdminPassword(world, a, str(o, "password")!)
    return ok({ defaultCredentials: a.defaultCredentials })
  }
  if (at("GET", "accounts"))
    return ok(
      [...accountsOf(world, a).values()].map((x) => ({
        name: x.name,
        clientId: x.clientId,
        enabled: x.enabled,
        permCommand: x.permCommand,
        permBackup: x.permBackup,
        permConfiguration: x.permConfiguration
      }))
    )
  if (at("POST", "accounts")) {
    if (a.factory)
      throw new SimRefusal(
        409,
        `${a.spec.id} is in factory state: it has no API account and none is made on it before the old site's settings are restored (they carry the API accounts). Restore the backup on its /login (MIGRATE-7), then use the old appliance's API account on its address.`
      )
    const perm = o.permCommand ?? "full_access"
    if (perm !== "deny" && perm !== "read_only" && perm !== "full_access")
      throw new SimRefusal(422, 'Field "permCommand" must be deny, read_only or full_access.', "permCommand")
    const name = str(o, "name")!
    if (name.length > 100) throw new SimRefusal(422, 'Field "name" must be at most 100 characters.', "name")
    const account = createAccount(world, a, {
      name,
      permCommand: perm,
      permBackup: o.permBackup === undefined ? true : bool(o, "permBackup"),
      permConfiguration: o.permConfiguration === undefined ? true : bool(o, "permConfiguration")
    })
    return ok({
      name: account.name,
      clientId: account.clientId,
      clientSecret: account.clientSecret,
      permCommand: account.permCommand,
      permBackup: account.permBackup,
      permConfiguration: account.permConfiguration
    })
  }
  if (at("POST", "restore")) {
    const path = str(o, "path")!
    const pw = o.password
    if (pw !== undefined && pw !== null && typeof pw !== "string")
      throw new SimRefusal(422, 'Field "password" must be a string.', "password")
    const password = typeof pw === "string" ? pw : undefined
    const { manifest, payload } = readBackupFile(path)
    const summary = restore(world, a, manifest, payload, password)
    return ok({
      restored: true,
      from: {
        hostname: manifest.hostname,
        version: manifest.version,
        build: manifest.build,
        createdAt: manifest.createdAt
      },
      ...summary,
      defaultCredentials: a.defaultCredentials
    })
  }
  if (at("GET", "updates"))
    return ok({
      available: world.available(a),
      downloaded: [...a.downloaded],
      uploaded: [...a.uploaded],
      installed: [...a.installed],
      catalog: world.catalog
    })
  if (at("POST", "updates", "*", "install")) {
    const r = world.install(a, sub[1]!)
    return ok({ package: r.package.id, durationSeconds: r.durationSeconds, lifecycle: a.lifecycle })
  }
  if (at("POST", "download-key")) return ok({ downloadKey: world.generateDownloadKey(a) })
  if (at("POST", "updates", "upload")) {
    const p = world.upload(a, str(o, "packageId")!, str(o, "downloadKey", false))
    return ok({ uploaded: p.id })
  }
  if (at("POST", "reboot")) {
    world.reboot(a)
    return ok({ lifecycle: a.lifecycle })
  }
  if (at("POST", "factory-reset")) {
    world.factoryReset(a)
    return ok(applianceView(world, a))
  }
  if (at("PUT", "inter-appliance-key")) {
    a.interApplianceKey = str(o, "key")!
    world.log(a.spec.id, "security", "Inter-appliance key changed")
    world.act(a.spec.id, "inter-appliance-key-set")
    return ok()
  }
  if (at("PUT", "clock-offset")) {
    a.clockOffsetSeconds = num(o, "seconds")
    world.log(a.spec.id, "clock", `Clock offset set to ${a.clockOffsetSeconds} s`)
    world.act(a.spec.id, "clock-offset-set", { seconds: a.clockOffsetSeconds })
    return ok({ clockOffsetSeconds: a.clockOffsetSeconds })
  }
  if (at("PUT", "data-size")) {
    const n = num(o, "bytes")
    if (n < 0) throw new SimRefusal(422, "bytes must be >= 0.", "bytes")
    a.dataSizeBytes = n
    world.act(a.spec.id, "data-size-set", { bytes: n })
    return ok({ dataSizeBytes: n })
  }
  if (at("PUT", "shared-ips", "*")) {
    world.setSharedIp(a, sub[1]!, bool(o, "enabled"))
    return ok({
      sharedIps: [...a.sharedIps.entries()].map(([ip, enabled]) => ({ ip, enabled })),
      site: siteView(world)
    })
  }
  if (at("POST", "users")) {
    const rep = world.addRep(a, str(o, "displayName")!, num(o, "sessions", 0))
    world.act(a.spec.id, "user-logged-in", { displayName: rep.displayName, sessions: rep.sessions.length })
    return ok({ id: rep.id, sessions: rep.sessions })
  }
  if (at("GET", "certificates")) return ok(a.certificates.map(certView))
  if (at("POST", "certificates")) {
    const c = importCertificate(
      world,
      a,
      str(o, "certificate")!,
      str(o, "privateKey", false),
      str(o, "passphrase", false)
    )
    return ok(certView(c))
  }
  if (at("GET", "certificates", "*", "export")) {
    const r = exportCertificate(world, a, sub[1]!, false, undefined)
    return ok({ ...certView(r.cert), certificate: r.cert.certPem })
  }
  if (at("POST", "certificates", "*", "export")) {
    const withKey = o.includePrivateKey === undefined ? false : bool(o, "includePrivateKey")
    const r = exportCertificate(world, a, sub[1]!, withKey, str(o, "passphrase", false))
    return ok({ ...certView(r.cert), certificate: r.cert.certPem, privateKey: r.keyPem ?? null })
  }
  if (at("PUT", "certificates", "*", "default")) return ok(certView(setDefaultCertificate(world, a, sub[1]!)))
  if (at("POST", "faults")) {
    const kind = o.kind
    if (typeof kind !== "string" || !FAULT_KINDS.includes(kind as FaultKind))
      throw new SimRefusal(422, `Field "kind" must be one of ${FAULT_KINDS.join(", ")}.`, "kind")
    const count = o.count === undefined || o.count === null ? undefined : num(o, "count")
    const fault: Fault = {
      kind: kind as FaultKind,
      remaining: count,
      pathPrefix: str(o, "pathPrefix", false),
      latencyMs: Math.min(120_000, Math.max(0, num(o, "latencyMs", 0)))
    }
    world.addFault(a, fault)
    return ok(applianceView(world, a).faults)
  }
  if (at("POST", "faults", "expire-tokens")) return ok({ expired: expireTokens(world, a) })
  if (at("DELETE", "faults")) {
    a.faults = []
    world.log(a.spec.id, "fault", "Faults cleared")
    world.act(a.spec.id, "faults-cleared")
    return ok()
  }
  throw new SimRefusal(404, `No control endpoint ${method} ${path}; see docs/simulator.md for the list.`)
}
