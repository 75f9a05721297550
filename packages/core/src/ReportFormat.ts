/**
 * The final report of a run, as Markdown (for people and tickets) and as
 * JSON (for tools): status, timings, evidence, gate answers with every
 * approval of the trail, the site's availability measured during the run
 * (the executor's report folds the probes journaled by the `SiteProber`; see
 * `Availability`), and what the caller observed after the run (versions and
 * roles per appliance). Used by the `sra-upgrade` command and the portal
 * service.
 *
 * @since 0.3.0
 */
import * as Schema from "effect/Schema"
import * as Plan from "./Plan.js"
import * as RunReport from "./RunReport.js"

/**
 * What an appliance reported after the run.
 *
 * @since 0.3.0
 * @category models
 */
export interface ApplianceState {
  readonly id: string
  readonly version: string
  readonly build?: string | undefined
  readonly role: string
  readonly healthy: boolean
}

/**
 * Observations added to the executor's report.
 *
 * @since 0.3.0
 * @category models
 */
export interface Extras {
  readonly appliances?: ReadonlyArray<ApplianceState> | undefined
  /** Real (wall clock) duration of the run, when time was scaled. */
  readonly wallSeconds?: number | undefined
  readonly timeScale?: number | undefined
}

const ms = (n: number | undefined, scale = 1) =>
  n === undefined
    ? "-"
    : scale === 1
      ? n < 10_000
        ? `${(n / 1000).toFixed(1)}s`
        : Plan.formatDuration(n / 1000)
      : `${(n / 1000).toFixed(1)}s (${Plan.formatDuration((n * scale) / 1000)} sim.)`

const evidenceText = (e: Readonly<Record<string, unknown>>, max = 110): string => {
  const parts = Object.entries(e).map(([k, v]) => {
    const s = typeof v === "string" ? v : JSON.stringify(v)
    return `${k}=${s !== undefined && s.length > 48 ? `${s.slice(0, 47)}…` : s}`
  })
  const text = parts.join(", ")
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

/** Seconds of the run's clock, with their simulated equivalent when time was scaled. */
const secs = (real: number, scale: number): string =>
  scale === 1
    ? real < 10
      ? `${Number(real.toFixed(1))} s`
      : `${Math.round(real)} s${real >= 120 ? ` (${Plan.formatDuration(real)})` : ""}`
    : `${Math.round(real * scale)} s simulated (${real.toFixed(1)} s real)`

const at = (d: Date) => d.toISOString().replace(/\.\d+Z$/, "Z")

/**
 * The availability section in words.
 *
 * @since 0.3.0
 * @category combinators
 */
export const availabilityLines = (a: RunReport.RunReport["availability"], scale = 1): ReadonlyArray<string> => {
  if (a === undefined)
    return [
      "## Site availability",
      "",
      "Not measured: no site prober ran during this run (`--probe-interval 0`, or a journal written before 0.3.0)."
    ]
  const lines = [
    "## Site availability (measured)",
    "",
    `- Probes: ${a.probes} every ${secs(a.intervalSeconds, scale)} of \`GET ${a.url}/check_health\`, failed: ${a.failed}`,
    `- Observed from ${at(a.firstProbeAt)} to ${at(a.lastProbeAt)} by ${a.series === 1 ? "one process" : `${a.series} processes (the run and its resumes)`}`,
    `- Longest outage: ${secs(a.longestOutageSeconds, scale)}`,
    `- Total unavailable: ${secs(a.totalUnavailableSeconds, scale)}`,
    `- Not observed: ${secs(a.notObservedSeconds, scale)}${a.notObservedSeconds > 0 ? " — while no process was running the run (before the first probe, between a stop and its resume) nothing was measured: this time is neither available nor unavailable" : ""}`,
    a.outages.length === 0 ? "- Outages: none seen" : `- Outages (${a.outages.length}):`
  ]
  for (const o of a.outages)
    lines.push(
      `  - ${at(o.from)} → ${at(o.to)}: ${secs(o.seconds, scale)}, last error: ${o.lastError}${o.open === true ? " (still down when observation stopped)" : ""}`
    )
  return lines
}

/**
 * The report as Markdown.
 *
 * @since 0.3.0
 * @category combinators
 */
export const toMarkdown = (report: RunReport.RunReport, extras: Extras = {}): string => {
  const took =
    report.startedAt !== undefined && report.endedAt !== undefined
      ? report.endedAt.getTime() - report.startedAt.getTime()
      : undefined
  const scale = extras.timeScale ?? 1
  const lines = [
    `# Run report: ${report.planTitle}`,
    "",
    `- Run: \`${report.runId}\``,
    `- Status: **${report.status.toUpperCase()}**`,
    `- Site: \`${report.site}\` → target \`${report.targetVersion}\``,
    `- Duration: ${ms(took, scale)}${scale === 1 ? "" : ` (simulator time x${scale})`}`,
    `- Steps: ${report.steps.filter((s) => s.status === "succeeded").length}/${report.steps.length} succeeded; gates answered: ${report.gates.length}; resumes: ${report.resumes}`
  ]
  if (report.error !== undefined) lines.push(`- Error: ${report.error}`)
  if (extras.appliances !== undefined && extras.appliances.length > 0) {
    lines.push(
      "",
      "## Appliances after the run",
      "",
      "| appliance | version | role | healthy |",
      "| --- | --- | --- | --- |"
    )
    for (const a of extras.appliances)
      lines.push(
        `| ${a.id} | ${a.version}${a.build === undefined ? "" : ` (build ${a.build.split("-")[0]})`} | ${a.role} | ${a.healthy ? "yes" : "NO"} |`
      )
  }
  lines.push("", ...availabilityLines(report.availability, scale))
  lines.push(
    "",
    "## Steps",
    "",
    "| # | step | target | status | took | evidence |",
    "| --- | --- | --- | --- | --- | --- |"
  )
  report.steps.forEach((s, i) => {
    const note = s.error ?? (s.warnings.length > 0 ? `⚠ ${s.warnings.join("; ")}` : evidenceText(s.evidence))
    lines.push(
      `| ${i + 1} | ${s.title} | ${s.target ?? "-"} | ${s.status} | ${ms(s.durationMillis, s.kind === "WaitFor" ? scale : 1)} | ${note.replaceAll("|", "\\|")} |`
    )
  })
  if (report.gates.length > 0) {
    lines.push("", "## Gates", "")
    for (const g of report.gates) {
      const a = g.answer
      lines.push(
        `- ${g.stepId} (${g.purpose}): ${a._tag.toLowerCase()} by ${a.by} at ${g.at.toISOString()}` +
          (a._tag === "Approved" && Object.keys(a.evidence).length > 0 ? ` — ${evidenceText(a.evidence, 160)}` : "") +
          (a._tag === "Rejected" ? ` — ${a.reason}` : "")
      )
      if (a._tag !== "Deferred")
        for (const p of a.approvals ?? [])
          lines.push(
            `  - ${p.decision} by ${p.principal} (${p.role}) at ${p.at.toISOString()}: ${p.comment}` +
              (Object.keys(p.evidence).length > 0 ? ` — ${evidenceText(p.evidence, 160)}` : "")
          )
    }
  }
  return lines.join("\n") + "\n"
}

/**
 * The report as JSON: the executor's report (schema-encoded) plus the extras.
 *
 * @since 0.3.0
 * @category combinators
 */
export const toJson = (report: RunReport.RunReport, extras: Extras = {}): string =>
  JSON.stringify({ ...(Schema.encodeSync(RunReport.RunReport)(report) as object), observed: extras }, null, 2)
