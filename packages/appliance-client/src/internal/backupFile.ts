/**
 * Where backup bytes go: a new file (`wx`, mode 0600) with a running
 * SHA-256, flushed to disk (`fsync`) before the digest is returned.
 *
 * Two ways, one interface:
 * - `WorkerBackupFile` (default): the main thread only copies each read into
 *   a ring of shared 1 MiB slots; a worker thread hashes and writes them.
 *   Hashing (~0.6 s per GB here) and writing then run beside the socket
 *   reads, on their own core. Memory is the ring (8 MiB), allocated once.
 * - `InlineBackupFile`: everything on the calling thread (small pieces
 *   gathered into 1 MiB writes), no extra thread.
 *
 * `write` copies the bytes before it returns (the caller's read buffer is
 * reused) and calls `next` when more may be sent: later when the worker is
 * behind, which is the caller's cue to stop reading the socket.
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
  /** Stops any work and closes the file (it is not removed). Safe to call twice. */
  readonly close: () => Promise<void>
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
}

/** Everything on the calling thread. @internal */
export const inline = (path: string, options?: Options): BackupFile => {
  const fd = openSync(path, options?.flags ?? "wx", 0o600)
  const hash = createHash("sha256")
  const batch = Buffer.allocUnsafe(SLOT)
  let filled = 0
  let closed = false
  const flush = () => {
    writeAll(fd, batch.subarray(0, filled))
    filled = 0
  }
  return {
    write: (bytes, next) => {
      try {
        hash.update(bytes)
        if (filled + bytes.length > batch.length) flush()
        if (bytes.length >= batch.length) writeAll(fd, bytes)
        else {
          batch.set(bytes, filled)
          filled += bytes.length
        }
      } catch (e) {
        return next(e as Error)
      }
      next()
    },
    finish: () =>
      new Promise((resolve) => {
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

/** Worker side: hashes and writes the slots it is told about, in order. */
const workerSource = `
const { parentPort, workerData } = require("node:worker_threads")
const { createHash } = require("node:crypto")
const { fsyncSync, writeSync } = require("node:fs")
const ring = new Uint8Array(workerData.ring)
const hash = createHash("sha256")
parentPort.on("message", (m) => {
  try {
    if (m === null) {
      fsyncSync(workerData.fd)
      return parentPort.postMessage({ digest: hash.digest("hex") })
    }
    const bytes = ring.subarray(m[0], m[0] + m[1])
    hash.update(bytes)
    let offset = 0
    while (offset < bytes.length) offset += writeSync(workerData.fd, bytes, offset, bytes.length - offset)
    parentPort.postMessage(0)
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
 * Hashing and writing on a worker thread. `options.slots` 1 MiB slots are shared;
 * `next` is held back while more than half of them wait for the worker.
 *
 * @internal
 */
export const onWorker = (path: string, options?: Options): BackupFile => {
  const slots = options?.slots ?? 8
  const fd = openSync(path, options?.flags ?? "wx", 0o600)
  const ring = Buffer.from(new SharedArrayBuffer(slots * SLOT))
  // referenced on purpose: a pending digest must keep the process alive; `close` ends the thread
  const worker = new Worker(workerSource, { eval: true, workerData: { ring: ring.buffer, fd } })
  let slot = 0 // the slot being filled
  let filled = 0
  let inFlight = 0 // slots handed to the worker and not yet done
  const overflow: Array<Buffer> = [] // bytes that found no free slot (bounded: the caller stops reading)
  let waiting: (() => void) | undefined
  let failure: Error | undefined
  let finished: ((digest: string) => void) | undefined
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
  const post = () => {
    inFlight++
    worker.postMessage([slot * SLOT, filled])
    slot = (slot + 1) % slots
    filled = 0
  }
  /** Copies bytes into free slots; returns how many did not fit. */
  const place = (bytes: Uint8Array): number => {
    let offset = 0
    while (offset < bytes.length && inFlight < slots) {
      const n = Math.min(bytes.length - offset, SLOT - filled)
      ring.set(bytes.subarray(offset, offset + n), slot * SLOT + filled)
      filled += n
      offset += n
      if (filled === SLOT) post()
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
  worker.on("message", (m: 0 | { digest: string } | { error: { message: string; code?: string } }) => {
    if (m === 0) {
      inFlight--
      drainOverflow()
      if (waiting !== undefined && overflow.length === 0 && inFlight <= slots / 2) {
        const w = waiting
        waiting = undefined
        w()
      }
      if (finished !== undefined && overflow.length === 0 && inFlight === 0) {
        if (filled > 0) post()
        else worker.postMessage(null)
      }
      return
    }
    if ("digest" in m) return finished?.(m.digest)
    fail(new WorkerIoError(m.error.message, m.error.code))
  })
  worker.on("error", fail)
  worker.on("exit", () => fail(new Error("the backup writer thread stopped")))

  return {
    write: (bytes, next) => {
      if (failure !== undefined) return next(failure)
      const left = place(bytes)
      if (left > 0) overflow.push(Buffer.from(bytes.subarray(bytes.length - left)))
      if (overflow.length === 0 && inFlight <= slots / 2) return next()
      waiting = () => next(failure)
    },
    finish: () =>
      new Promise<string>((resolve, reject) => {
        if (failure !== undefined) return reject(failure)
        finished = resolve
        failed = reject
        if (overflow.length > 0 || inFlight > 0) return // the last acknowledgement continues
        if (filled > 0) post()
        else worker.postMessage(null)
      }),
    close: () => {
      // the worker must be gone before the descriptor is closed (it could be reused by another file)
      closing ??= worker
        .terminate()
        .catch(() => undefined)
        .then(() => closeSync(fd))
      return closing
    }
  }
}
