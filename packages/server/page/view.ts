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
