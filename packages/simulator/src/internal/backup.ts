/**
 * The settings backup body: a small manifest followed by deterministic
 * filler, produced chunk by chunk on demand so a multi-GiB backup never sits
 * in memory (the response's backpressure drives `read`).
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs"
import { Readable } from "node:stream"
import type { Jumpoint } from "./fleet.js"
import { hexOf, SimRefusal } from "./util.js"

/**
 * 1 MiB pieces: the simulator then spends about half the CPU per GB it did
 * with 64 KiB ones (0.19–0.25 against 0.33–0.40 CPU-s, `curl -o /dev/null`),
 * which matters when it shares the machine with the client it serves.
 */
const CHUNK = 1024 * 1024

/** A 1 MiB pattern built once per process. */
let pattern: Buffer | undefined
const getPattern = (): Buffer => {
  if (!pattern) pattern = Buffer.from(hexOf("sra-simulator-backup-pattern", CHUNK * 2), "hex")
  return pattern
}

/** An API account as a backup carries it: the secret only as its SHA-256. */
export interface AccountRecord {
  readonly name: string
  readonly clientId: string
  readonly secretSha256: string
  readonly enabled: boolean
  readonly permCommand: "deny" | "read_only" | "full_access"
  readonly permBackup: boolean
  readonly permConfiguration: boolean
}

/** A Jump Client as a backup carries it (configuration, not live state). */
export interface JumpClientRecord {
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
  readonly version: string
  readonly revision: number
}

/** A scrypt verifier of the backup password (the password itself is never written). */
export interface PasswordVerifier {
  readonly algorithm: "scrypt"
  readonly salt: string
  readonly hash: string
}

/**
 * The first line after `BTNSB1` (small, so even a tiny backup keeps it whole). Format 2 adds
 * everything after `passwordProtected`; format-1 files (no `format`) are refused by restore.
 */
export interface BackupManifest {
  readonly hostname: string
  readonly version: string
  readonly build: string
  readonly createdAt: string
  readonly passwordProtected: boolean
  readonly format: 2
  readonly product: "pra" | "rs"
  readonly baseVersion: string
  readonly applianceGuid: string
  /** Identity of the simulated site the backup belongs to (a random id per simulator run). */
  readonly siteId: string
  readonly siteHostname: string
  /** Size of the whole file; a shorter file is truncated. */
  readonly totalBytes: number
  readonly password: PasswordVerifier | null
}

/** The second line: the site's settings snapshot (can be large: one record per Jump Client). */
export interface BackupPayload {
  readonly accounts: ReadonlyArray<AccountRecord>
  /** Configured users (display names). */
  readonly users: ReadonlyArray<string>
  readonly jumpClients: ReadonlyArray<JumpClientRecord>
  readonly jumpoints: ReadonlyArray<Jumpoint>
}

const MAGIC = "BTNSB1\n"
const MAX_MANIFEST = 256 * 1024 * 1024

/** Reads and checks the manifest and payload of a backup file; refusals are 422 (not a backup, truncated, corrupted). */
export const readBackupFile = (
  path: string
): { readonly manifest: BackupManifest; readonly payload: BackupPayload; readonly size: number } => {
  let fd: number
  try {
    fd = openSync(path, "r")
  } catch (e) {
    throw new SimRefusal(
      422,
      `No readable backup file at ${path} (${e instanceof Error && "code" in e ? String(e.code) : "unreadable"}): give the path of a file saved from /api/backup.`,
      "path"
    )
  }
  try {
    const size = fstatSync(fd).size
    const chunks: Array<Buffer> = []
    let read = 0
    let newlines = 0
    let end = -1
    let second = -1
    const buf = Buffer.alloc(64 * 1024)
    while (end < 0 && read < Math.min(size, MAX_MANIFEST)) {
      const n = readSync(fd, buf, 0, buf.length, read)
      if (n <= 0) break
      const chunk = Buffer.from(buf.subarray(0, n))
      for (let i = 0; i < n; i++) {
        if (chunk[i] === 0x0a && ++newlines === 2) second = read + i
        if (chunk[i] === 0x0a && newlines === 3) {
          end = read + i
          break
        }
      }
      chunks.push(chunk)
      read += n
      // a file that does not start like a backup is not read any further
      if (chunks.length === 1 && chunk.subarray(0, MAGIC.length).toString("latin1") !== MAGIC) break
    }
    const head = Buffer.concat(chunks)
    if (head.length < MAGIC.length || head.subarray(0, MAGIC.length).toString("latin1") !== MAGIC)
      throw new SimRefusal(
        422,
        `${path} is not a settings backup (no BTNSB1 header): choose the file saved from /api/backup.`,
        "path"
      )
    if (end < 0)
      throw new SimRefusal(
        422,
        `${path} is truncated: the backup manifest is incomplete. Download the backup again.`,
        "path"
      )
    let manifest: unknown
    let payload: unknown
    try {
      manifest = JSON.parse(head.subarray(MAGIC.length, second).toString("utf8"))
      payload = JSON.parse(head.subarray(second + 1, end).toString("utf8"))
    } catch {
      throw new SimRefusal(
        422,
        `${path} is corrupted: its manifest is not readable. Download the backup again.`,
        "path"
      )
    }
    if (!isManifest(manifest) || !isPayload(payload))
      throw new SimRefusal(
        422,
        `${path} is a backup this appliance cannot restore (old or unknown format): take a new backup of the old appliance.`,
        "path"
      )
    if (size < manifest.totalBytes)
      throw new SimRefusal(
        422,
        `${path} is truncated: ${size} of ${manifest.totalBytes} bytes. Download the backup again and check its size.`,
        "path"
      )
    if (size > manifest.totalBytes)
      throw new SimRefusal(
        422,
        `${path} is corrupted: ${size} bytes where the backup declares ${manifest.totalBytes}.`,
        "path"
      )
    return { manifest, payload, size }
  } finally {
    closeSync(fd)
  }
}

const isManifest = (m: unknown): m is BackupManifest => {
  if (typeof m !== "object" || m === null) return false
  const o = m as Record<string, unknown>
  return (
    o.format === 2 &&
    typeof o.version === "string" &&
    typeof o.build === "string" &&
    typeof o.siteId === "string" &&
    typeof o.totalBytes === "number" &&
    (o.product === "pra" || o.product === "rs")
  )
}

const isPayload = (m: unknown): m is BackupPayload => {
  if (typeof m !== "object" || m === null) return false
  const o = m as Record<string, unknown>
  return (
    Array.isArray(o.accounts) && Array.isArray(o.users) && Array.isArray(o.jumpClients) && Array.isArray(o.jumpoints)
  )
}

/** `BTNSB1`, the manifest line, then the payload line (when given). */
export const manifestHeader = (manifest: BackupManifest, payload?: BackupPayload): Buffer =>
  Buffer.from(`${MAGIC}${JSON.stringify(manifest)}\n${payload ? `${JSON.stringify(payload)}\n` : ""}`, "utf8")

export const backupStream = (manifest: BackupManifest, totalBytes: number, payload?: BackupPayload): Readable => {
  const header = manifestHeader(manifest, payload)
  let sent = 0
  return new Readable({
    highWaterMark: CHUNK,
    read() {
      if (sent >= totalBytes) {
        this.push(null)
        return
      }
      let chunk: Buffer
      if (sent < header.length) {
        chunk = header.subarray(sent, Math.min(header.length, totalBytes))
      } else {
        const p = getPattern()
        const offset = sent % CHUNK
        chunk = p.subarray(offset, Math.min(CHUNK, offset + (totalBytes - sent)))
      }
      sent += chunk.length
      this.push(chunk)
    }
  })
}
