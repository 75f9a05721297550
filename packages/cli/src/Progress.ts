/**
 * Live progress lines from the executor's event stream: the current step,
 * waits with a countdown and the observed value, backup sizes, a progress
 * bar for Jump Client rollouts, gate answers, the end of the run. Pure:
 * `line` turns one event into zero or more lines; the command prints them.
 *
 * @since 0.1.0
 */
import { Plan, RunEvent } from "@sra-upgrade/core"

/**
 * Renders the events of one run.
 *
 * @since 0.1.0
 * @category models
 */
export interface Renderer {
  /** The lines one event produces (often one, sometimes none). */
  readonly lines: (envelope: RunEvent.Envelope) => ReadonlyArray<string>
}

const short = (value: unknown, max = 100): string => {
  if (value === undefined) return "-"
  if (typeof value === "string") return value.length > max ? `${value.slice(0, max - 1)}…` : value
  if (typeof value !== "object" || value === null) return String(value)
  const parts = Object.entries(value as Record<string, unknown>).map(
    ([k, v]) => `${k}=${typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)}`
  )
  const text = parts.join(" ")
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

/**
 * Human size: `812 B`, `8.0 MiB`, `2.1 GiB`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const formatBytes = (n: number): string => {
  if (n < 1024) return `${n} B`
  const units = ["KiB", "MiB", "GiB", "TiB"]
  let v = n / 1024
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return `${v.toFixed(1)} ${units[u]}`
}

/**
 * A text progress bar, `[#########...........]  45%`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const bar = (done: number, total: number, width = 24): string => {
  const ratio = total <= 0 ? 1 : Math.max(0, Math.min(1, done / total))
  const filled = Math.round(ratio * width)
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${String(Math.round(ratio * 100)).padStart(3)}%`
}

const num = (o: Record<string, unknown>, ...keys: ReadonlyArray<string>): number | undefined => {
  for (const k of keys) if (typeof o[k] === "number") return o[k]
  return undefined
}

/** A Jump Client rollout observation: a total and how many are done or still need the update. */
const rolloutBar = (observed: unknown): string | undefined => {
  if (typeof observed !== "object" || observed === null) return undefined
  const o = observed as Record<string, unknown>
  const total = num(o, "total", "jumpClients", "clients")
  if (total === undefined || total <= 0) return undefined
  const pending = num(o, "needsUpdate", "needs_update", "pending", "remaining")
  const done = num(o, "upToDate", "updated", "done") ?? (pending === undefined ? undefined : total - pending)
  if (done === undefined) return undefined
  return `${bar(done, total)} ${done}/${total} up to date`
}

const backupLine = (evidence: Record<string, unknown>): string | undefined => {
  const bytes = num(evidence, "bytes", "sizeBytes")
  const sha = evidence["sha256"]
  if (bytes === undefined || typeof sha !== "string") return undefined
  const path = typeof evidence["path"] === "string" ? ` → ${evidence["path"]}` : ""
  return `backup ${formatBytes(bytes)}, sha256 ${sha.slice(0, 16)}…${path}`
}

const clock = (ms: number): string => {
  const s = Math.max(0, Math.round(ms / 1000))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = s % 60
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : `${m}m${String(sec).padStart(2, "0")}s`
}

/**
 * A renderer. `plan` is needed for `resume` (whose stream starts without
 * `RunStarted`); a `run` learns it from the first event.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  plan?: Plan.Plan,
  options: {
    /** Simulated seconds per real second (durations are shown both ways). */
    readonly timeScale?: number | undefined
    /** Show this many instruction lines of a manual gate when it opens (default 0: the operator shows them). */
    readonly instructions?: number | undefined
  } = {}
): Renderer => {
  const scale = options.timeScale ?? 1
  /** A real duration, with its simulated equivalent when time is scaled. */
  const took = (millis: number, wait: boolean) =>
    scale === 1 || !wait
      ? `${(millis / 1000).toFixed(1)} s`
      : `${(millis / 1000).toFixed(1)} s (${clock(millis * scale)} simulated)`
  let steps: ReadonlyArray<Plan.Step> = plan?.steps ?? []
  /** The site's state at the last sample (undefined before the first), and since when it is down. */
  let site: { up: boolean; downSince: number | undefined } | undefined
  const started = new Map<string, number>()
  const index = (id: string) => steps.findIndex((s) => s.id === id)
  const label = (id: string) => {
    const i = index(id)
    const s = steps[i]
    if (s === undefined) return id
    return `[${i + 1}/${steps.length}] ${s.title}${s.target === undefined ? "" : ` (${s.target})`}`
  }
  return {
    lines: ({ event: e }) => {
      switch (e._tag) {
        case "RunStarted":
          // the plan given to `make` wins: the executed one may be time-compressed
          if (plan === undefined) steps = e.plan.steps
          return [`run ${e.runId}: ${e.plan.title} (${e.plan.steps.length} steps)`]
        case "StepStarted":
          started.set(e.stepId, e.at.getTime())
          return [`▶ ${label(e.stepId)}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ""}`]
        case "StepSucceeded": {
          const t0 = started.get(e.stepId)
          const wait = steps[index(e.stepId)]?._tag === "WaitFor"
          const out = [`  ✔ done${t0 === undefined ? "" : ` in ${took(e.at.getTime() - t0, wait)}`}`]
          const backup = backupLine(e.evidence)
          if (backup !== undefined) out.push(`    ${backup}`)
          for (const w of e.warnings) out.push(`  ⚠ ${w}`)
          return out
        }
        case "StepProgress": {
          const t0 = started.get(e.stepId)
          const seconds = t0 === undefined ? 0 : (e.at.getTime() - t0) / 1000
          const amount = (n: number) => (e.unit === "bytes" ? formatBytes(n) : String(n))
          const whole =
            e.total === undefined || e.total <= 0
              ? ""
              : ` of ${amount(e.total)} (${Math.floor((100 * e.done) / e.total)} %)`
          const rate = e.unit === "bytes" && seconds > 0 ? ` · ${formatBytes(e.done / seconds)}/s` : ""
          return [`  ${e.unit === "bytes" ? "↓" : "…"} ${amount(e.done)}${whole}${rate}`]
        }
        case "StepFailed":
          return [`  ✘ ${label(e.stepId)} failed: ${e.error.message}`]
        case "SupportNeeded":
          return [
            `  ✘ ${label(e.stepId)}: ${e.detail}`,
            "  ⛔ halted (PREP-6): do not reboot, do not retry; contact vendor support"
          ]
        case "StepVerified":
          return [
            `  ↺ ${label(e.stepId)} ${e.effective ? "had taken effect before the stop" : "had not taken effect: it runs again"}`
          ]
        case "ConfirmationNeeded":
          return [`  ? ${label(e.stepId)}: ${e.reason}`]
        case "GateOpened": {
          const step = steps[index(e.stepId)]
          const shown =
            e.purpose === "gate" && step?._tag === "ManualGate"
              ? step.instructions.slice(0, options.instructions ?? 0)
              : []
          return [
            `  ✋ ${e.purpose === "gate" ? "manual step" : "confirmation"}: waiting for the operator`,
            ...shown.map((l, i) => `     ${i + 1}. ${l.length > 110 ? `${l.slice(0, 109)}…` : l}`)
          ]
        }
        case "GateAnswered": {
          const a = e.answer
          if (a._tag === "Approved") {
            const ev = Object.entries(a.evidence)
            return [
              `  ✋ approved by ${a.by}${ev.length > 0 ? ` (${ev.map(([k, v]) => `${k}=${v}`).join(", ")})` : ""}`
            ]
          }
          if (a._tag === "Rejected") return [`  ✋ rejected by ${a.by}: ${a.reason}`]
          return [`  ✋ deferred by ${a.by}${a.reason === undefined ? "" : `: ${a.reason}`}; resume the run later`]
        }
        case "WaitProgress": {
          const step = steps[index(e.stepId)]
          const t0 = started.get(e.stepId) ?? e.at.getTime()
          if (!started.has(e.stepId)) started.set(e.stepId, t0)
          const left =
            step?._tag === "WaitFor"
              ? ` · ${clock(step.deadlineSeconds * 1000 - (e.at.getTime() - t0) * scale)} left${scale === 1 ? "" : " (simulated)"}`
              : ""
          const progress = rolloutBar(e.observed)
          return [
            `  … poll ${e.poll}${e.holds ? " ✔ holds" : ""}${left} · ${progress ?? `observed ${short(e.observed)}`}`
          ]
        }
        case "Paused":
          return [`  ⏸ ${label(e.stepId)}: the maintenance window opens at ${e.until.toISOString()}; resume then`]
        case "WindowOpened":
          return [`  ▶ maintenance window open`]
        case "Resumed":
          return [
            `resumed from the journal${e.tornRecord ? ` (dropped a torn record of ${e.tornRecord.bytes} bytes)` : ""}`
          ]
        case "Cancelled":
          return [`cancelled: the journal is intact; resume continues`]
        case "RunFinished":
          return [`run ${e.status}`]
        case "SiteSample": {
          const before = site
          const downSince = e.up ? undefined : (before?.downSince ?? e.at.getTime())
          site = { up: e.up, downSince }
          const interval = took(e.intervalMillis, true)
          if (before === undefined)
            return [
              `  ◦ site ${e.url}: ${e.up ? "answering" : `NOT answering (${e.lastError ?? "failed"})`}; probed every ${interval}`
            ]
          if (before.up === e.up) return []
          return e.up
            ? [
                `  ◦ site answers again${before.downSince === undefined ? "" : ` after ${took(e.at.getTime() - before.downSince, true)}`}`
              ]
            : [`  ⚠ site not answering: ${e.lastError ?? "failed"}`]
        }
      }
    }
  }
}
