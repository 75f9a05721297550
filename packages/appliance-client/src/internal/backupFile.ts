/**
 * Where backup bytes go: a new file (`wx`, mode 0600) with a running
 * SHA-256, flushed to disk (`fsync`) before the digest is returned.
 *
 * Two ways, one interface:
 * - `onWorker` (default): socket reads land in a ring of shared 1 MiB slots
 *   (or are copied there); the calling thread hashes them as they arrive,
 *   while they are still in its cache, and a worker thread writes them.
 *   Hashing (~0.6 s per GB here) and writing (~0.5–0.8 s per GB) then run
 *   on two cores. Memory is the ring (8 MiB), allocated once.
 * - `inline`: everything on the calling thread (pieces gathered into 1 MiB
 *   writes), no extra thread.
 *
 * `write` keeps the bytes before it returns (the caller's read buffer is
 * reused) and calls `next` when more may be sent: later when the worker is
 * behind, which is the caller's cue to stop reading the socket. `readBuffer`
 * lends the memory where the next socket read may land, so that most bytes
 * are never copied in user space.
 *
 * @internal
 */
import { createHash } from "node:crypto"
import { closeSync, fsyncSync, openSync, writeSync } from "node:fs"
import { Worker } from "node:worker_threads"

/** @internal */
export interface BackupFile {
  /** Hashes and writes `bytes` (copied before return); `next` runs when more may be sent. */
  readonly write: (bytes: Uint8Array, next: (error?: Error) => void) => void
  /** Writes what is left, fsyncs, and returns the lower-case hex SHA-256 of everything written. */
  readonly finish: () => Promise<string>
  /**
   * Stops any work and closes the file (it is not removed). Safe to call
   * twice. Returns after a short grace when the worker is stuck in a write
   * that does not return (the file is then closed when it does).
   */
  readonly close: () => Promise<void>
  /**
   * Where the next socket read may land (`onread`): bytes read there and then
   * passed to `write` are not copied again. Absent when the file has no such
   * memory.
   */
  readonly readBuffer?: () => Buffer
}

const SLOT = 1 << 20

const writeAll = (fd: number, bytes: Uint8Array) => {
  let offset = 0
  while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset)
}

/** @internal */
export interface Options {
  /** Shared 1 MiB slots of the worker ring (default 8). */
  readonly slots?: number
  /** `open` flags (default `wx`: the file must be new). */
  readonly flags?: string
  /** How long `close` waits for a worker stuck in a write (default 2 s); it closes the file later. */
  readonly closeGraceMillis?: number
}

/** Smallest free tail of a buffer worth reading into. */
const MIN_READ = 64 * 1024

/**
 * Everything on the calling thread: bytes gather in one 1 MiB batch (read
 * into it in place when the socket can) and each full batch is one write.
 *
 * @internal
 */
export const inline = (path: string, options?: Options): BackupFile => {
  const fd = openSync(path, options?.flags ?? "wx", 0o600)
  const hash = createHash("sha256")
  const batch = Buffer.allocUnsafe(SLOT)
  const spill = Buffer.allocUnsafe(MIN_READ)
  let filled = 0
  let closed = false
  let failure: Error | undefined
  const flush = () => {
    writeAll(fd, batch.subarray(0, filled))
    filled = 0
  }
  return {
    write: (bytes, next) => {
      if (failure !== undefined) return next(failure)
      try {
        hash.update(bytes)
        if (bytes.buffer === batch.buffer) {
          // read in place; a gap before it (framing bytes) is closed
          const at = bytes.byteOffset - batch.byteOffset
          if (at !== filled) batch.copyWithin(filled, at, at + bytes.length)
          filled += bytes.length
        } else {
          if (filled + bytes.length > batch.length) flush()
          if (bytes.length >= batch.length) writeAll(fd, bytes)
          else {
            batch.set(bytes, filled)
            filled += bytes.length
          }
        }
      } catch (e) {
        failure = e as Error
        return next(failure)
      }
      next()
    },
    readBuffer: () => {
      if (failure !== undefined) return spill
      try {
        if (batch.length - filled < MIN_READ) flush()
      } catch (e) {
        // reported by the next write
        failure = e as Error
        return spill
      }
      return batch.subarray(filled)
    },
    finish: () =>
      new Promise((resolve, reject) => {
        if (failure !== undefined) return reject(failure)
        flush()
        fsyncSync(fd)
        resolve(hash.digest("hex"))
      }),
    close: () => {
      if (!closed) {
        closed = true
        closeSync(fd)
      }
      return Promise.resolve()
    }
  }
}

/** Worker side: writes the slot runs it is told about, in order; `null` fsyncs and says so. */
const workerSource = `
const { parentPort, workerData } = require("node:worker_threads")
const { fsyncSync, writeSync } = require("node:fs")
const ring = new Uint8Array(workerData.ring)
parentPort.on("message", (m) => {
  try {
    if (m === null) {
      fsyncSync(workerData.fd)
      return parentPort.postMessage({ synced: true })
    }
    const bytes = ring.subarray(m[0], m[0] + m[1])
    let offset = 0
    while (offset < bytes.length) offset += writeSync(workerData.fd, bytes, offset, bytes.length - offset)
    parentPort.postMessage(m[0])
  } catch (e) {
    parentPort.postMessage({ error: { message: String(e && e.message), code: e && e.code } })
  }
})
`

/** An error the worker reported (its `code`, e.g. ENOSPC, is kept). */
class WorkerIoError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined
  ) {
    super(message)
  }
}

/**
 * Writing on a worker thread, hashing on the calling one. `options.slots`
 * 1 MiB slots are shared with the worker. Bytes are hashed as they arrive
 * and go into the current slot, by copy or, when the socket read straight
 * into the slot (`readBuffer`), in place; each contiguous run of them is
 * handed to the worker, at the latest when the slot is full. A slot is
 * reused only when the worker is done with all of it; `next` is held back
 * while more than half of the slots wait for the worker.
 *
 * Why this split: on a 2-core machine, hashing beside the socket reads
 * (while the bytes are in this core's cache) and writing on the other core
 * beat hashing and writing on the worker: 0.79 → 0.85 of `curl -o` over
 * HTTP, 0.86 → 0.88 over HTTPS (docs/benchmarks.md).
 *
 * @internal
 */
export const onWorker = (path: string, options?: Options): BackupFile => {
  const slots = options?.slots ?? 8
  const fd = openSync(path, options?.flags ?? "wx", 0o600)
  const ring = Buffer.from(new SharedArrayBuffer(slots * SLOT))
  // referenced on purpose: a pending fsync must keep the process alive; `close` ends the thread
  const worker = new Worker(workerSource, { eval: true, workerData: { ring: ring.buffer, fd } })
  const hash = createHash("sha256")
  const spill = Buffer.allocUnsafe(MIN_READ)
  const outstanding = new Array<number>(slots).fill(0) // runs handed to the worker, per slot
  let busySlots = 0
  let current = 0
  let cursor = 0 // next free byte of the current slot
  let runStart = 0 // absolute offsets of the run not yet handed over
  let runEnd = 0
  const overflow: Array<Buffer> = [] // bytes that found no free slot (bounded: the caller stops reading)
  let waiting: (() => void) | undefined
  let failure: Error | undefined
  let finished: (() => void) | undefined
  let failed: ((e: Error) => void) | undefined
  let closing: Promise<void> | undefined

  const fail = (e: Error) => {
    if (failure !== undefined) return
    failure = e
    failed?.(e)
    const w = waiting
    waiting = undefined
    w?.()
  }
  const handOver = () => {
    if (runEnd === runStart) return
    if (outstanding[current]++ === 0) busySlots++
    worker.postMessage([runStart, runEnd - runStart])
    runStart = runEnd
  }
  /** Moves to the next slot if the worker is done with it. */
  const advance = (): boolean => {
    const next = (current + 1) % slots
    if (outstanding[next]! > 0) return false
    handOver()
    current = next
    cursor = 0
    runStart = runEnd = current * SLOT
    return true
  }
  /** Appends bytes at `at` (absolute) to the run, handing the previous run over if this one is not contiguous. */
  const extend = (at: number, length: number) => {
    if (at !== runEnd) {
      handOver()
      runStart = at
    }
    runEnd = at + length
    cursor = runEnd - current * SLOT
    if (cursor === SLOT) handOver()
  }
  /** Copies bytes into free slots; returns how many did not fit. */
  const place = (bytes: Uint8Array): number => {
    let offset = 0
    while (offset < bytes.length) {
      if (cursor === SLOT && !advance()) break
      const n = Math.min(bytes.length - offset, SLOT - cursor)
      const at = current * SLOT + cursor
      ring.set(bytes.subarray(offset, offset + n), at)
      extend(at, n)
      offset += n
    }
    return bytes.length - offset
  }
  const drainOverflow = () => {
    while (overflow.length > 0) {
      const head = overflow[0]!
      const left = place(head)
      if (left > 0) {
        overflow[0] = head.subarray(head.length - left)
        return
      }
      overflow.shift()
    }
  }
  const mayFinish = () => {
    if (finished === undefined || overflow.length > 0) return
    handOver()
    if (busySlots === 0) worker.postMessage(null)
  }
  worker.on("message", (m: number | { synced: true } | { error: { message: string; code?: string } }) => {
    if (typeof m === "number") {
      const slot = Math.floor(m / SLOT)
      if (--outstanding[slot]! === 0) busySlots--
      drainOverflow()
      if (waiting !== undefined && overflow.length === 0 && busySlots <= slots / 2) {
        const w = waiting
        waiting = undefined
        w()
      }
      return mayFinish()
    }
    if ("synced" in m) return finished?.()
    fail(new WorkerIoError(m.error.message, m.error.code))
  })
  worker.on("error", fail)
  worker.on("exit", () => fail(new Error("the backup writer thread stopped")))

  return {
    write: (bytes, next) => {
      if (failure !== undefined) return next(failure)
      hash.update(bytes)
      if (bytes.buffer === ring.buffer && overflow.length === 0) {
        // read in place by the socket: only the bookkeeping
        extend(bytes.byteOffset, bytes.length)
      } else {
        const left = overflow.length > 0 ? bytes.length : place(bytes)
        if (left > 0) overflow.push(Buffer.from(bytes.subarray(bytes.length - left)))
      }
      if (overflow.length === 0 && busySlots <= slots / 2) return next()
      waiting = () => next(failure)
    },
    readBuffer: () => {
      if (overflow.length > 0) return spill
      if (SLOT - cursor < MIN_READ && !advance()) return spill
      return ring.subarray(current * SLOT + cursor, (current + 1) * SLOT)
    },
    finish: () =>
      new Promise<string>((resolve, reject) => {
        if (failure !== undefined) return reject(failure)
        finished = () => resolve(hash.digest("hex"))
        failed = reject
        mayFinish()
      }),
    close: () => {
      // the worker must be gone before the descriptor is closed (it could be reused by another file)
      const ended = (closing ??= worker
        .terminate()
        .catch(() => undefined)
        .then(() => closeSync(fd))
        .catch(() => undefined))
      // A worker blocked in a write to a disk that stopped answering ends only when that write returns:
      // wait a little, then let it close the file when it can, without keeping the process alive. (Until
      // then the timer keeps the process alive: the caller's code after `close` must still run.)
      return new Promise<void>((resolve) => {
        const grace = setTimeout(() => {
          worker.unref()
          resolve()
        }, options?.closeGraceMillis ?? 2_000)
        void ended.then(() => {
          clearTimeout(grace)
          resolve()
        })
      })
    }
  }
}
