/**
 * SHA-256 of a backup, on the calling thread (default) or on a worker
 * thread (`hashOnWorkerThread`) while the main thread
 * reads the socket and writes the file: hashing is the most expensive part
 * of a download (about 1 s per GB on a small CPU), and on its own core it
 * no longer limits the throughput. Bytes are copied into 1 MiB batches
 * (transferred, not cloned) and at most `maxInFlight` batches wait for the
 * worker, so memory stays bounded whatever the size.
 *
 * @internal
 */
import { createHash } from "node:crypto"
import { Worker } from "node:worker_threads"

const source = `
const { parentPort } = require("node:worker_threads")
const { createHash } = require("node:crypto")
const hash = createHash("sha256")
parentPort.on("message", (m) => {
  if (m === null) parentPort.postMessage(hash.digest("hex"))
  else {
    hash.update(new Uint8Array(m))
    parentPort.postMessage(0)
  }
})
`

const BATCH = 1 << 20

/** @internal */
export class ParallelHash {
  private readonly worker: Worker
  private batch: Buffer = Buffer.allocUnsafe(BATCH)
  private filled = 0
  private inFlight = 0
  private resumeWriter: (() => void) | undefined
  private finish: ((hex: string) => void) | undefined
  private failure: Error | undefined
  private onFailure: ((e: Error) => void) | undefined

  constructor(private readonly maxInFlight = 8) {
    this.worker = new Worker(source, { eval: true })
    this.worker.unref()
    this.worker.on("message", (m: number | string) => {
      if (typeof m === "string") return this.finish?.(m)
      this.inFlight--
      const resume = this.resumeWriter
      if (resume !== undefined && this.inFlight < this.maxInFlight) {
        this.resumeWriter = undefined
        resume()
      }
    })
    this.worker.on("error", (e) => {
      this.failure = e
      this.onFailure?.(e)
      this.resumeWriter?.()
    })
  }

  /** Adds bytes; `next` runs when the caller may send more (backpressure). */
  update(chunk: Uint8Array, next: (error?: Error) => void): void {
    if (this.failure !== undefined) return next(this.failure)
    let offset = 0
    while (offset < chunk.length) {
      const n = Math.min(chunk.length - offset, BATCH - this.filled)
      this.batch.set(chunk.subarray(offset, offset + n), this.filled)
      this.filled += n
      offset += n
      if (this.filled === BATCH) this.post()
    }
    if (this.inFlight < this.maxInFlight) return next()
    this.resumeWriter = () => next(this.failure)
  }

  /** The lower-case hex digest of everything added. */
  digest(): Promise<string> {
    if (this.failure !== undefined) return Promise.reject(this.failure)
    if (this.filled > 0) this.post()
    return new Promise<string>((resolve, reject) => {
      this.finish = resolve
      this.onFailure = reject
      this.worker.postMessage(null)
    })
  }

  destroy(): void {
    void this.worker.terminate()
  }

  private post(): void {
    const whole = this.batch.byteOffset === 0 && this.batch.buffer.byteLength === this.filled
    const full: ArrayBuffer = whole
      ? (this.batch.buffer as ArrayBuffer)
      : (this.batch.buffer.slice(this.batch.byteOffset, this.batch.byteOffset + this.filled) as ArrayBuffer)
    this.inFlight++
    this.worker.postMessage(full, [full])
    this.batch = Buffer.allocUnsafe(BATCH)
    this.filled = 0
  }
}

/** The same interface, hashing on the calling thread (less memory, no extra thread). @internal */
export class InlineHash {
  private readonly hash = createHash("sha256")
  update(chunk: Uint8Array, next: (error?: Error) => void): void {
    this.hash.update(chunk)
    next()
  }
  digest(): Promise<string> {
    return Promise.resolve(this.hash.digest("hex"))
  }
  destroy(): void {}
}
