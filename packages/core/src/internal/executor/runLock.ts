/**
 * The lock file of a run (`<run>.lock` beside its journal): atomic across
 * processes, with its owner inside and a staleness check.
 *
 * - Taking it is an exclusive create: the owner record is written to a
 *   private temporary file, then hard-linked to the lock path (`link` fails
 *   when the path exists), so a reader never sees a half-written owner.
 * - The owner record is `{ pid, host, since }` (0.2 wrote the bare pid).
 * - A lock whose owner is on this host and no longer running is stale. It is
 *   taken over through a second hard link named after the stale record
 *   (`<run>.lock.stale-<hash>`, its age read from the inode's change time,
 *   which the link sets): only the process whose link succeeds, and
 *   which reads back the very record it judged stale, removes the lock path;
 *   any other contender starts over and finds the new owner.
 * - A lock owned on another host is never taken over (its pid means nothing
 *   here); the error says to delete the file by hand if that host is gone.
 *
 * @internal
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"

/** The owner of a lock as read from its file. @internal */
export interface Owner {
  readonly pid: number
  readonly host?: string | undefined
  readonly since?: Date | undefined
}

/** A lock this process holds. @internal */
export interface Held {
  readonly _tag: "Acquired"
  readonly file: string
  readonly record: string
  /** The stale owner whose lock was taken over, if any. */
  readonly tookOver?: Owner | undefined
}

/** @internal */
export type Outcome =
  Held | { readonly _tag: "Held"; readonly owner: Owner } | { readonly _tag: "Failed"; readonly error: unknown }

/** A stale takeover link older than this was left by a process killed in the middle of a takeover. */
const abandonedTakeoverMillis = 10_000

const codeOf = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code

/**
 * Whether a process of this host is running (EPERM: it exists, owned by another user). A zombie (killed,
 * not yet reaped: common in containers whose init does not reap) is not running.
 *
 * @internal
 */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch (e) {
    if (codeOf(e) !== "EPERM") return false
  }
  try {
    // Linux: the state follows the parenthesised command name
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z"
  } catch {
    return true // no /proc (macOS...): kill(0) said it exists
  }
}

/** Parse a lock file: the 0.3 JSON record or the 0.2 bare pid; `undefined` if neither. @internal */
export const parse = (text: string): Owner | undefined => {
  const t = text.trim()
  if (/^\d+$/.test(t)) return { pid: Number(t) }
  try {
    const o = JSON.parse(t) as { pid?: unknown; host?: unknown; since?: unknown }
    if (typeof o.pid !== "number" || !Number.isInteger(o.pid)) return undefined
    const since = typeof o.since === "string" ? new Date(o.since) : undefined
    return {
      pid: o.pid,
      host: typeof o.host === "string" ? o.host : undefined,
      since: since !== undefined && !Number.isNaN(since.getTime()) ? since : undefined
    }
  } catch {
    return undefined
  }
}

/** "process 123 on host h (since …)". @internal */
export const describe = (owner: Owner): string =>
  `process ${owner.pid}${owner.host === undefined ? "" : ` on ${owner.host}`}${owner.since === undefined ? "" : ` (since ${owner.since.toISOString()})`}`

const readOrUndefined = (file: string): string | undefined => {
  try {
    return fs.readFileSync(file, "utf8")
  } catch (e) {
    if (codeOf(e) === "ENOENT") return undefined
    throw e
  }
}

/** Hard-link `from` to `to`; false when `to` exists (or `from` vanished). */
const link = (from: string, to: string): boolean => {
  try {
    fs.linkSync(from, to)
    return true
  } catch (e) {
    if (codeOf(e) === "EEXIST" || codeOf(e) === "ENOENT") return false
    throw e
  }
}

/**
 * Whether the owner is known to be gone: on this host, and its process is not running, or its pid now names
 * another process (the lock is older than this machine's boot, or than this very process).
 */
const stale = (owner: Owner, host: string): boolean => {
  if (owner.host !== undefined && owner.host !== host) return false
  const since = owner.since?.getTime()
  if (since !== undefined && since < Date.now() - os.uptime() * 1000) return true
  if (owner.pid === process.pid) return since !== undefined && since < Date.now() - process.uptime() * 1000
  return !isAlive(owner.pid)
}

/**
 * Take the lock at `file` for this process (owner record stamped `now`).
 *
 * @internal
 */
export const acquire = (file: string, now: Date): Outcome => {
  const host = os.hostname()
  const record = JSON.stringify({ pid: process.pid, host, since: now.toISOString() })
  const temp = `${file}.${process.pid}.tmp`
  try {
    fs.writeFileSync(temp, record)
    let tookOver: Owner | undefined
    try {
      for (let round = 0; round < 8; round++) {
        if (link(temp, file)) return { _tag: "Acquired", file, record, tookOver }
        const text = readOrUndefined(file)
        if (text === undefined) continue // released meanwhile
        const owner = parse(text)
        if (owner === undefined) return { _tag: "Held", owner: { pid: 0 } } // not ours to judge: keep it
        if (!stale(owner, host)) return { _tag: "Held", owner }
        // stale: take it over through a link named after the stale record
        const claim = `${file}.stale-${createHash("sha256").update(text).digest("hex").slice(0, 16)}`
        if (!link(file, claim)) {
          // another process is taking this stale lock over (or was killed doing it long ago)
          try {
            if (Date.now() - fs.statSync(claim).ctimeMs > abandonedTakeoverMillis) fs.rmSync(claim, { force: true })
          } catch (e) {
            if (codeOf(e) !== "ENOENT") throw e
          }
          continue
        }
        try {
          // the lock path may have changed between our read and our link: only the record we judged is removed
          if (readOrUndefined(claim) === text) {
            fs.rmSync(file, { force: true })
            tookOver = owner
          }
        } finally {
          fs.rmSync(claim, { force: true })
        }
      }
      return { _tag: "Held", owner: parse(readOrUndefined(file) ?? "") ?? { pid: 0 } }
    } finally {
      fs.rmSync(temp, { force: true })
    }
  } catch (error) {
    return { _tag: "Failed", error }
  }
}

/** Release a lock this process holds (only if the file is still its own). @internal */
export const release = (held: Held): void => {
  try {
    if (readOrUndefined(held.file) === held.record) fs.rmSync(held.file, { force: true })
  } catch {
    // the lock is gone or unreadable: nothing left to release
  }
}
