// Pure rendering helpers of the page: HTML escaping, durations, and the
// availability strip (an SVG of the run's probe timeline, outages in red).
import type { AvailabilityView } from "../src/Api.js"

type Availability = (typeof AvailabilityView)["Encoded"]

/** Escape text for HTML (content and attribute values). */
export const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!)

/** `850 ms`, `12.3 s`, `4 min 05 s`. */
export const formatMillis = (ms: number): string => {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const m = Math.floor(ms / 60_000)
  return `${m} min ${String(Math.round((ms % 60_000) / 1000)).padStart(2, "0")} s`
}

/**
 * The availability strip: the time from the first to the last probe as a
 * green bar, each outage a red segment (an open one up to the last probe),
 * with the figures under it.
 */
export const availabilityStrip = (a: Availability): string => {
  const t0 = a.startedAt === undefined ? undefined : Date.parse(a.startedAt)
  const t1 = a.lastProbeAt === undefined ? undefined : Date.parse(a.lastProbeAt)
  const width = 1000
  const height = 28
  const outages =
    t0 === undefined || t1 === undefined || t1 <= t0
      ? []
      : a.outages.map((o) => {
          const s = Date.parse(o.start)
          const e = o.end === undefined ? t1 : Date.parse(o.end)
          const x = ((s - t0) / (t1 - t0)) * width
          const w = Math.max(2, ((e - s) / (t1 - t0)) * width)
          return `<rect class="outage" x="${x.toFixed(1)}" y="0" width="${w.toFixed(1)}" height="${height}" fill="#c62828"><title>outage from ${esc(new Date(s).toLocaleTimeString())}: ${o.failedProbes} failed probe(s)${o.lastError === undefined ? "" : ` (${esc(o.lastError)})`}</title></rect>`
        })
  const figures = `${a.probes} probes, ${a.failed} failed · ${a.outages.length} outage(s), longest ${formatMillis(a.longestOutageMillis)}, total ${formatMillis(a.unavailableMillis)}${a.notObservedMillis === undefined || a.notObservedMillis <= 0 ? "" : ` · not observed ${formatMillis(a.notObservedMillis)} (no process was driving the run: not counted as available)`}`
  return `<svg class="availability" data-testid="availability-strip" viewBox="0 0 ${width} ${height}" preserveAspectRatio="none" role="img" aria-label="Site availability: ${esc(figures)}">
      <rect x="0" y="0" width="${width}" height="${height}" fill="#2e7d32"><title>site answered</title></rect>
      ${outages.join("")}
    </svg>
    <p class="figures" data-testid="availability-figures" data-probes="${a.probes}" data-outages="${a.outages.length}">${esc(figures)}
      <br><small>${esc(a.source)}${t0 === undefined ? "" : ` · ${esc(new Date(t0).toLocaleTimeString())} → ${t1 === undefined ? "" : esc(new Date(t1).toLocaleTimeString())}`}</small></p>`
}

interface EvidenceField {
  readonly name: string
  readonly description: string
  readonly format?: string | undefined
  readonly expected?: string | undefined
  readonly minimum?: number | undefined
  readonly maximum?: number | undefined
  readonly mustExist?: boolean | undefined
  readonly optional?: boolean | undefined
}

/**
 * What an evidence field's answer must be, in words (the service refuses
 * other answers with the same constraints): "a version, exactly 6.2.1",
 * "a whole number from 1 to 500", "a SHA-256 fingerprint (64 hex digits)".
 */
export const evidenceHint = (f: EvidenceField): string => {
  const parts: Array<string> = []
  switch (f.format) {
    case "version":
      parts.push(f.expected === undefined ? "a version (e.g. 24.3.2)" : `a version, exactly ${f.expected}`)
      break
    case "sha256":
      parts.push("a SHA-256 fingerprint (64 hex digits, colons allowed)")
      break
    case "path":
      parts.push(f.mustExist === true ? "a path that must exist on the service's machine" : "a path")
      break
    case "integer":
    case "number": {
      const kind = f.format === "integer" ? "a whole number" : "a number"
      parts.push(
        f.minimum !== undefined && f.maximum !== undefined
          ? `${kind} from ${f.minimum} to ${f.maximum}`
          : f.minimum !== undefined
            ? `${kind} of at least ${f.minimum}`
            : f.maximum !== undefined
              ? `${kind} of at most ${f.maximum}`
              : kind
      )
      break
    }
    default:
      if (f.expected !== undefined) parts.push(`exactly ${f.expected}`)
  }
  if (f.format !== "version" && f.format !== undefined && f.expected !== undefined) parts.push(`exactly ${f.expected}`)
  parts.push(f.optional === true ? "optional" : "required to approve")
  return parts.join(", ")
}
