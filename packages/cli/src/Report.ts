/**
 * The final report of a run, as Markdown (for people and tickets) and as
 * JSON (for tools): status, timings, evidence, gate answers, and what the
 * command observed after the run (versions and roles per appliance, site
 * downtime measured by a prober).
 *
 * @since 0.1.0
 */
import { Plan, RunReport } from "@sra-upgrade/core"
import * as Schema from "effect/Schema"

/**
 * What an appliance reported after the run.
 *
 * @since 0.1.0
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
 * Site availability measured during the run by probing the site address.
 *
 * @since 0.1.0
 * @category models
 */
export interface Downtime {
  readonly probes: number
  readonly failed: number
  /** Longest run of failed probes, in (simulated, when time-scaled) seconds. */
  readonly longestOutageSeconds: number
  /** Total time the site did not answer, seconds. */
  readonly unavailableSeconds: number
  readonly intervalSeconds: number
  /** Where the figures come from, e.g. `failover SiteProber` or `cli demo prober`. */
  readonly source: string
}

/**
 * Observations added to the executor's report.
 *
 * @since 0.1.0
 * @category models
 */
export interface Extras {
  readonly appliances?: ReadonlyArray<ApplianceState> | undefined
  readonly downtime?: Downtime | undefined
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

/**
 * The report as Markdown.
 *
 * @since 0.1.0
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
  if (extras.downtime !== undefined) {
    const d = extras.downtime
    lines.push(
      "",
      "## Site availability (measured)",
      "",
      `- Probes: ${d.probes} every ${d.intervalSeconds.toFixed(1)} s, failed: ${d.failed}`,
      `- Longest outage: ${d.longestOutageSeconds.toFixed(0)} s`,
      `- Total unavailable: ${d.unavailableSeconds.toFixed(0)} s`,
      `- Source: ${d.source}`
    )
  }
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
    }
  }
  return lines.join("\n") + "\n"
}

/**
 * The report as JSON: the executor's report (schema-encoded) plus the extras.
 *
 * @since 0.1.0
 * @category combinators
 */
export const toJson = (report: RunReport.RunReport, extras: Extras = {}): string =>
  JSON.stringify({ ...(Schema.encodeSync(RunReport.RunReport)(report) as object), observed: extras }, null, 2)
