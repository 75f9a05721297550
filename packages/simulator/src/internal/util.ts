/** Small deterministic helpers shared by the simulator internals. */
import { createHash } from "node:crypto"

/** A refusal of a simulated action: HTTP status + a message telling the user what to do next. */
export class SimRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string
  ) {
    super(message)
  }
}

/** mulberry32: tiny seeded PRNG, deterministic across runs. */
export const prng = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Deterministic hex string derived from a label. */
export const hexOf = (label: string, length: number): string => {
  let out = ""
  let i = 0
  while (out.length < length) out += createHash("sha256").update(`${label}#${i++}`).digest("hex")
  return out.slice(0, length)
}

/** Compare dotted versions numerically: negative when a < b. */
export const compareVersions = (a: string, b: string): number => {
  const pa = a.split(".").map((n) => Number.parseInt(n, 10) || 0)
  const pb = b.split(".").map((n) => Number.parseInt(n, 10) || 0)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

/** RFC 3339 UTC with `+00:00` (command API v2 style, never `Z`). */
export const rfc3339 = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "+00:00")

/** The XML command API's observed form, e.g. `2019-10-07T00:32:50.877+0000`. */
export const xmlTime = (ms: number): string => new Date(ms).toISOString().replace("Z", "+0000")

/** A minimal binary min-heap keyed by a number. */
export class MinHeap<T> {
  private readonly items: Array<{ key: number; value: T }> = []
  get size(): number {
    return this.items.length
  }
  peekKey(): number | undefined {
    return this.items[0]?.key
  }
  push(key: number, value: T): void {
    const items = this.items
    items.push({ key, value })
    let i = items.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (items[p]!.key <= items[i]!.key) break
      ;[items[p], items[i]] = [items[i]!, items[p]!]
      i = p
    }
  }
  pop(): { key: number; value: T } | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (top === undefined || last === undefined) return undefined
    if (items.length > 0) {
      items[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < items.length && items[l]!.key < items[m]!.key) m = l
        if (r < items.length && items[r]!.key < items[m]!.key) m = r
        if (m === i) break
        ;[items[m], items[i]] = [items[i]!, items[m]!]
        i = m
      }
    }
    return top
  }
  clear(): void {
    this.items.length = 0
  }
}
