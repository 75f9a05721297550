/**
 * The settings backup body: a small manifest followed by deterministic
 * filler, produced chunk by chunk on demand so a multi-GiB backup never sits
 * in memory (the response's backpressure drives `read`).
 */
import { Readable } from "node:stream"
import { hexOf } from "./util.js"

const CHUNK = 64 * 1024

/** A 64 KiB pattern built once per process. */
let pattern: Buffer | undefined
const getPattern = (): Buffer => {
  if (!pattern) pattern = Buffer.from(hexOf("sra-simulator-backup-pattern", CHUNK * 2), "hex")
  return pattern
}

export interface BackupManifest {
  readonly hostname: string
  readonly version: string
  readonly build: string
  readonly createdAt: string
  readonly passwordProtected: boolean
}

export const backupStream = (manifest: BackupManifest, totalBytes: number): Readable => {
  const header = Buffer.from(`BTNSB1\n${JSON.stringify(manifest)}\n`, "utf8")
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
