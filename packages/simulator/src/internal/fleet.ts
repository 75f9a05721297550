/**
 * The Jump Client fleet: check-in schedule, "upgrade pending" queue and the
 * concurrency + bandwidth caps of client upgrades (CLIENT-6/7/8/10).
 * Driven by simulated time (milliseconds) from the world.
 */
import type { FleetSpec } from "../SimConfig.js"
import { compareVersions, MinHeap, prng } from "./util.js"

export type ClientState = "up_to_date" | "upgrade_pending" | "upgrading" | "offline"

export interface Client {
  readonly id: number
  readonly name: string
  readonly hostname: string
  readonly fqdn: string
  readonly tag: string
  readonly jumpGroupId: number
  readonly connectionType: "active" | "passive"
  readonly privateIp: string
  readonly publicIp: string
  readonly operatingSystem: string
  readonly consoleUser: string
  /** Offset of this passive client's daily check-in within the check-in period (ms). */
  readonly checkInPhaseMs: number
  version: string
  revision: number
  state: ClientState
  lastConnectWall: number | undefined
  lastDisconnectWall: number | undefined
  /** Simulated time the current upgrade ends. */
  upgradeDoneAt: number | undefined
  /** Next scheduled check-in (simulated ms), if any. */
  nextCheckInAt: number | undefined
}

export interface Jumpoint {
  readonly id: number
  readonly name: string
  readonly platform: "windows-x86" | "linux-x86"
  readonly codeName: string
  readonly hostname: string
  readonly privateIp: string
  readonly publicIp: string
  readonly clustered: boolean
  readonly enabled: boolean
}

export interface FleetStats {
  readonly total: number
  readonly upToDate: number
  readonly pending: number
  readonly upgrading: number
  readonly offline: number
  readonly peakConcurrentUpgrades: number
  readonly peakBandwidthBytesPerSecond: number
  readonly completedUpgrades: number
}

export class Fleet {
  readonly clients: Array<Client> = []
  readonly jumpoints: Array<Jumpoint> = []
  private readonly checkIns = new MinHeap<{ id: number; seq: number }>()
  private readonly queue: Array<number> = []
  private readonly inFlight = new Set<number>()
  private target: string | undefined
  private peakConcurrent = 0
  private peakBandwidth = 0
  private completed = 0
  settings: FleetSpec

  constructor(
    spec: FleetSpec,
    initialVersion: string,
    seed: number,
    private readonly wallNow: () => number
  ) {
    this.settings = spec
    const rand = prng(seed)
    const passiveCount = Math.round(spec.jumpClients * spec.passiveRatio)
    for (let i = 0; i < spec.jumpClients; i++) {
      const passive = i >= spec.jumpClients - passiveCount
      const host = `ws-${String(i + 1).padStart(4, "0")}`
      this.clients.push({
        id: i + 1,
        name: host.toUpperCase(),
        hostname: host,
        fqdn: `${host}.corp.example`,
        tag: i % 3 === 0 ? "servers" : "workstations",
        jumpGroupId: 1 + (i % 2),
        connectionType: passive ? "passive" : "active",
        privateIp: `192.168.${10 + Math.floor(i / 250)}.${(i % 250) + 1}`,
        publicIp: "203.0.113.7",
        operatingSystem: i % 4 === 0 ? "Ubuntu 22.04" : "Windows 11 Enterprise",
        consoleUser: passive ? "" : `user${i + 1}`,
        checkInPhaseMs: Math.floor(rand() * spec.passiveCheckInSeconds * 1000),
        version: initialVersion,
        revision: 1,
        state: "up_to_date",
        lastConnectWall: passive ? undefined : wallNow(),
        lastDisconnectWall: undefined,
        upgradeDoneAt: undefined,
        nextCheckInAt: undefined
      })
    }
    for (let i = 0; i < spec.jumpoints; i++) {
      this.jumpoints.push({
        id: i + 1,
        name: `Jumpoint ${i + 1}`,
        platform: i % 2 === 0 ? "windows-x86" : "linux-x86",
        codeName: `jp_${i + 1}`,
        hostname: `jp-${i + 1}.corp.example`,
        privateIp: `192.168.50.${i + 1}`,
        publicIp: "203.0.113.9",
        clustered: i === 0,
        enabled: true
      })
    }
    this.target = initialVersion
  }

  /** Per-upgrade duration (ms) so that maxConcurrent upgrades together never exceed the bandwidth cap. */
  private upgradeMs(): number {
    const perClient = this.settings.maxUpgradeBandwidthBytesPerSecond / Math.max(1, this.settings.maxConcurrentUpgrades)
    return Math.max(1, Math.ceil((this.settings.clientUpdateBytes / perClient) * 1000))
  }

  private schedule(client: Client, at: number): void {
    client.nextCheckInAt = at
    this.checkIns.push(at, { id: client.id, seq: at })
  }

  /**
   * The version served on the site changed (or the site went down: `undefined`).
   * Active clients reconnect right away at the global connection rate; passive
   * ones at their next daily check-in (CLIENT-7).
   */
  setTarget(version: string | undefined, now: number): void {
    if (version === this.target) return
    this.target = version
    if (version === undefined) {
      for (const c of this.clients) {
        if (c.connectionType === "active" && c.state !== "offline") c.lastDisconnectWall = this.wallNow()
      }
      return
    }
    let k = 0
    const period = this.settings.passiveCheckInSeconds * 1000
    for (const c of this.clients) {
      if (c.connectionType === "active") {
        this.schedule(c, now + Math.floor((k++ * 1000) / Math.max(1, this.settings.connectionRatePerSecond)))
      } else {
        const phase = c.checkInPhaseMs % Math.max(1, period)
        const base = now - (now % Math.max(1, period))
        this.schedule(c, base + phase <= now ? base + phase + period : base + phase)
      }
    }
  }

  /** A passive client checks in now (console connects, tray "check in"). */
  checkInNow(id: number, now: number): Client | undefined {
    const c = this.clients.find((x) => x.id === id)
    if (c) this.schedule(c, now)
    return c
  }

  /** A jump attempt to a pending client moves it to the front of the queue (CLIENT-8). */
  jump(id: number): { client: Client; allowed: boolean } | undefined {
    const c = this.clients.find((x) => x.id === id)
    if (!c) return undefined
    if (c.state === "upgrade_pending") {
      const i = this.queue.indexOf(id)
      if (i > 0) {
        this.queue.splice(i, 1)
        this.queue.unshift(id)
      }
    }
    return { client: c, allowed: c.state === "up_to_date" }
  }

  needsUpdate(c: Client, serverVersion: string): boolean {
    return compareVersions(c.version, serverVersion) < 0
  }

  nextEventAt(): number | undefined {
    let next = this.checkIns.peekKey()
    for (const id of this.inFlight) {
      const at = this.clients[id - 1]?.upgradeDoneAt
      if (at !== undefined && (next === undefined || at < next)) next = at
    }
    return next
  }

  /** Process every check-in and upgrade completion due up to `until` (simulated ms), in time order. */
  advanceTo(until: number): void {
    for (;;) {
      const nextCheckIn = this.checkIns.peekKey()
      let nextDone: number | undefined
      let doneId: number | undefined
      for (const id of this.inFlight) {
        const at = this.clients[id - 1]?.upgradeDoneAt
        if (at !== undefined && (nextDone === undefined || at < nextDone)) {
          nextDone = at
          doneId = id
        }
      }
      const doneFirst = nextDone !== undefined && (nextCheckIn === undefined || nextDone <= nextCheckIn)
      const at = doneFirst ? nextDone : nextCheckIn
      if (at === undefined || at > until) return
      if (doneFirst && doneId !== undefined) {
        const c = this.clients[doneId - 1]!
        this.inFlight.delete(doneId)
        c.upgradeDoneAt = undefined
        if (this.target !== undefined) {
          c.version = this.target
          c.revision += 1
        }
        c.state = "up_to_date"
        c.lastConnectWall = this.wallNow()
        this.completed += 1
      } else {
        const item = this.checkIns.pop()!
        const c = this.clients[item.value.id - 1]
        if (c && c.nextCheckInAt === item.key) {
          c.nextCheckInAt = undefined
          this.checkIn(c, item.key)
        }
      }
      this.fill(at)
    }
  }

  private checkIn(c: Client, now: number): void {
    if (this.target === undefined) {
      // Site unreachable: try again a minute later.
      this.schedule(c, now + 60_000)
      return
    }
    c.lastConnectWall = this.wallNow()
    if (c.state === "up_to_date" && compareVersions(c.version, this.target) < 0) {
      c.state = "upgrade_pending"
      this.queue.push(c.id)
    }
    if (c.connectionType === "passive") {
      this.schedule(c, now + this.settings.passiveCheckInSeconds * 1000)
    }
  }

  private fill(now: number): void {
    const max = Math.max(1, this.settings.maxConcurrentUpgrades)
    while (this.inFlight.size < max && this.queue.length > 0 && this.target !== undefined) {
      const id = this.queue.shift()!
      const c = this.clients[id - 1]!
      c.state = "upgrading"
      c.upgradeDoneAt = now + this.upgradeMs()
      this.inFlight.add(id)
    }
    this.peakConcurrent = Math.max(this.peakConcurrent, this.inFlight.size)
    const perClient = this.settings.clientUpdateBytes / (this.upgradeMs() / 1000)
    this.peakBandwidth = Math.max(this.peakBandwidth, Math.round(perClient * this.inFlight.size))
  }

  stats(): FleetStats {
    let upToDate = 0
    let pending = 0
    let upgrading = 0
    let offline = 0
    for (const c of this.clients) {
      if (c.state === "up_to_date") upToDate++
      else if (c.state === "upgrade_pending") pending++
      else if (c.state === "upgrading") upgrading++
      else offline++
    }
    return {
      total: this.clients.length,
      upToDate,
      pending,
      upgrading,
      offline,
      peakConcurrentUpgrades: this.peakConcurrent,
      peakBandwidthBytesPerSecond: this.peakBandwidth,
      completedUpgrades: this.completed
    }
  }
}
