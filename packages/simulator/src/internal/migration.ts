/**
 * Hardware migration (MIGRATE-*): the admin password and EULA of a new box,
 * power off / on and deletion of the old one, and the settings backup —
 * what `/api/backup` writes and what a restore reads back.
 */
import { randomBytes, scryptSync, timingSafeEqual } from "node:crypto"
import type { BackupManifest, BackupPayload, PasswordVerifier } from "./backup.js"
import { accountsOf, sha256 } from "./credentials.js"
import type { Appliance, StoredAccount } from "./model.js"
import { REBOOT } from "./model.js"
import { compareVersions, SimRefusal } from "./util.js"
import type { World } from "./world.js"

export const setAdminPassword = (world: World, a: Appliance, password: string): void => {
  world.requirePower(a)
  if (password.length < 8 || password === "password")
    throw new SimRefusal(
      422,
      "Choose an admin password of at least 8 characters, other than the factory one.",
      "password"
    )
  a.defaultCredentials = false
  world.log(a.spec.id, "security", "Initial admin password changed (MIGRATE-7)")
  world.act(a.spec.id, "admin-password-changed")
}

export const acceptEula = (world: World, a: Appliance): void => {
  world.requirePower(a)
  a.eulaAccepted = true
  world.log(a.spec.id, "eula", "End-user license agreement accepted (MIGRATE-6)")
  world.act(a.spec.id, "eula-accepted")
}

export const powerOff = (world: World, a: Appliance): void => {
  world.requirePower(a)
  a.lifecycle = { _tag: "PoweredOff" }
  a.reps = []
  a.tokens.clear()
  a.tokenOrder.clear()
  world.log(a.spec.id, "power", "Powered off: connections are refused (MIGRATE-9)")
  world.act(a.spec.id, "power-off")
  world.tick()
}

export const powerOn = (world: World, a: Appliance): void => {
  if (a.lifecycle._tag === "Deleted") world.requirePower(a)
  if (a.lifecycle._tag !== "PoweredOff") throw new SimRefusal(409, `Appliance ${a.spec.id} is not powered off.`)
  a.lifecycle = { _tag: "Rebooting", until: world.simNow() + 120_000, packageId: REBOOT }
  world.log(a.spec.id, "power", "Powered on: booting (120 simulated s)")
  world.act(a.spec.id, "power-on")
  world.tick()
}

export const deleteAppliance = (world: World, a: Appliance): void => {
  if (a.lifecycle._tag === "Deleted") world.requirePower(a)
  a.lifecycle = { _tag: "Deleted" }
  a.reps = []
  a.tokens.clear()
  a.tokenOrder.clear()
  for (const ip of a.sharedIps.keys()) a.sharedIps.set(ip, false)
  world.log(a.spec.id, "power", "Virtual appliance deleted: its addresses no longer answer (MIGRATE-9)")
  world.act(a.spec.id, "appliance-deleted")
  world.tick()
}

const passwordVerifier = (world: World, password: string): PasswordVerifier => {
  if (world.backupVerifier?.password !== password) {
    const salt = randomBytes(16)
    world.backupVerifier = {
      password,
      verifier: {
        algorithm: "scrypt",
        salt: salt.toString("hex"),
        hash: scryptSync(password, salt, 32).toString("hex")
      }
    }
  }
  return world.backupVerifier.verifier
}

/** What `/api/backup` writes after `BTNSB1`: the settings a restore needs (MIGRATE-2). */
export const backupManifest = (
  world: World,
  a: Appliance,
  totalBytes: number
): { manifest: BackupManifest; payload: BackupPayload } => {
  const inventory = world.inventoryOf(a)
  const manifest: BackupManifest = {
    hostname: a.hostname,
    version: a.version,
    build: a.build,
    createdAt: new Date().toISOString(),
    passwordProtected: world.backupPassword !== undefined,
    format: 2,
    product: world.config.product,
    baseVersion: a.baseVersion,
    applianceGuid: a.guid,
    siteId: a.local?.siteId ?? world.siteId,
    siteHostname: world.config.siteHostname,
    totalBytes,
    password: world.backupPassword === undefined ? null : passwordVerifier(world, world.backupPassword)
  }
  const payload: BackupPayload = {
    accounts: [...accountsOf(world, a).values()].map((x) => ({
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
export const restore = (
  world: World,
  a: Appliance,
  manifest: BackupManifest,
  payload: BackupPayload,
  password: string | undefined
): { joinedSite: boolean; accounts: number; jumpClients: number; jumpoints: number; users: number } => {
  world.requirePower(a)
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
  if (manifest.product !== world.config.product)
    throw new SimRefusal(
      409,
      `This backup comes from a ${manifest.product.toUpperCase()} site; the appliance runs ${world.config.product.toUpperCase()}: restore it on an appliance of the same product.`
    )
  if (compareVersions(manifest.version, a.version) > 0)
    throw new SimRefusal(
      409,
      `This backup was made on version ${manifest.version}; ${a.spec.id} runs ${a.version}. Install the update to ${manifest.version} on ${a.spec.id} first (accept the EULA, then /appliance > Updates), then restore (MIGRATE-6).`
    )
  const joinedSite = manifest.siteId === world.siteId
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
  a.factory = false
  a.reps = []
  a.tokens.clear()
  a.tokenOrder.clear()
  const inventory = world.inventoryOf(a)
  const summary = {
    joinedSite,
    accounts: accountsOf(world, a).size,
    jumpClients: inventory.clients.length,
    jumpoints: inventory.jumpoints.length,
    users: a.users.length
  }
  world.log(
    a.spec.id,
    "restore",
    `Settings restored from the backup of ${manifest.hostname} (${manifest.version}): ${summary.accounts} API account(s), ${summary.jumpClients} Jump Client(s), ${summary.jumpoints} Jumpoint(s)${joinedSite ? "; the appliance is a member of the site again" : ""}`
  )
  world.act(a.spec.id, "restore", {
    fromHostname: manifest.hostname,
    fromVersion: manifest.version,
    joinedSite
  })
  world.tick()
  return summary
}
