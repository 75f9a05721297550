/**
 * The plan algebra. A plan is a value: an ordered list of steps, each tagged
 * with the procedure rules it satisfies, its target and an estimated duration.
 * Building one does no I/O; it round-trips through JSON unchanged and renders
 * as a Markdown runbook or a terminal table.
 *
 * A step names a `handler`: the executor looks it up among the step handlers
 * it was given (core, failover, migration and certificates each register
 * theirs) and passes it the step's JSON `params`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { MaintenanceWindow } from "./MaintenanceWindow.js"

/**
 * A rule of the vendor procedure, e.g. `PREP-1`, `PAIR-4`.
 *
 * @since 0.1.0
 * @category models
 */
export const RuleId = Schema.String.pipe(Schema.pattern(/^[A-Z]+-\d+$/), Schema.brand("RuleId"))

/**
 * @since 0.1.0
 * @category models
 */
export type RuleId = typeof RuleId.Type

/**
 * JSON value carried by a step to its handler.
 *
 * @since 0.1.0
 * @category models
 */
export const Params = Schema.Record({ key: Schema.String, value: Schema.Unknown })

const base = {
  /** Unique within the plan; stable across renders (used by the journal). */
  id: Schema.String.pipe(Schema.minLength(1)),
  title: Schema.String,
  rules: Schema.Array(RuleId),
  /** Appliance id of the site description, or `site`; absent for plan-wide steps. */
  target: Schema.optional(Schema.String),
  estimatedSeconds: Schema.Number.pipe(Schema.nonNegative()),
  /** Handler that performs (or verifies) the step. */
  handler: Schema.String,
  params: Schema.optionalWith(Params, { default: () => ({}) }),
  /** Safe to run again after a crash without checking first. */
  idempotent: Schema.Boolean,
  /** Extra lines for the runbook. */
  notes: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] })
}

/**
 * A pre-condition. A failing blocking check stops the run; an advisory one
 * is reported and the run goes on.
 *
 * @since 0.1.0
 * @category models
 */
export class Check extends Schema.TaggedClass<Check>()("Check", {
  ...base,
  severity: Schema.Literal("blocking", "advisory")
}) {}

/**
 * A call through the `ApplianceApi` port (or another service).
 *
 * @since 0.1.0
 * @category models
 */
export class Action extends Schema.TaggedClass<Action>()("Action", base) {}

/**
 * What kind of value an evidence field holds; the executor refuses an
 * approval whose value does not fit (see `GateEvidence`). Absent = `text`.
 *
 * @since 0.3.0
 * @category models
 */
export const EvidenceFormat = Schema.Literal("text", "version", "sha256", "path", "integer", "number")

/**
 * @since 0.3.0
 * @category models
 */
export type EvidenceFormat = typeof EvidenceFormat.Type

/**
 * Evidence a person must give when approving a gate: its name, what it means
 * and, since 0.3.0, the constraints the answer must meet (checked by the
 * executor before the gate is accepted, and by a portal before it submits).
 *
 * @since 0.1.0
 * @category models
 */
export class EvidenceField extends Schema.Class<EvidenceField>("EvidenceField")({
  name: Schema.String,
  description: Schema.String,
  /** Kind of value; absent means free text (non-empty). */
  format: Schema.optional(EvidenceFormat),
  /** The value the plan expects (e.g. the base version it installs): any other is refused. */
  expected: Schema.optional(Schema.String),
  /** Bounds of an `integer` or `number`. */
  minimum: Schema.optional(Schema.Number),
  maximum: Schema.optional(Schema.Number),
  /** A `path` on this machine must exist (paths on other machines, `\\host\share` or `scheme://`, are not checked). */
  mustExist: Schema.optional(Schema.Boolean),
  /** The answer may leave it empty. */
  optional: Schema.optional(Schema.Boolean)
}) {}

/**
 * Work only a person can do (web UI, DNS, hardware): precise instructions,
 * then the `handler` verifies the outcome through the API before the run
 * goes on.
 *
 * @since 0.1.0
 * @category models
 */
export class ManualGate extends Schema.TaggedClass<ManualGate>()("ManualGate", {
  ...base,
  instructions: Schema.Array(Schema.String),
  evidence: Schema.optionalWith(Schema.Array(EvidenceField), { default: () => [] })
}) {}

/**
 * Poll a condition (the `handler`) every `intervalSeconds` until it holds or
 * `deadlineSeconds` have passed.
 *
 * @since 0.1.0
 * @category models
 */
export class WaitFor extends Schema.TaggedClass<WaitFor>()("WaitFor", {
  ...base,
  intervalSeconds: Schema.Number.pipe(Schema.positive()),
  deadlineSeconds: Schema.Number.pipe(Schema.positive())
}) {}

/**
 * Pause until the maintenance window opens (the run resumes by itself, or
 * after a crash, from the journal).
 *
 * @since 0.1.0
 * @category models
 */
export class Window extends Schema.TaggedClass<Window>()("Window", {
  ...base,
  window: MaintenanceWindow
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export const Step = Schema.Union(Check, Action, ManualGate, WaitFor, Window)

/**
 * @since 0.1.0
 * @category models
 */
export type Step = typeof Step.Type

/**
 * @since 0.1.0
 * @category models
 */
export const PlanKind = Schema.Literal("single", "sync-pair", "async-pair", "migration", "custom")

/**
 * @since 0.1.0
 * @category models
 */
export class Plan extends Schema.Class<Plan>("Plan")({
  id: Schema.String,
  kind: PlanKind,
  title: Schema.String,
  site: Schema.String,
  targetVersion: Schema.String,
  steps: Schema.Array(Step).pipe(
    Schema.filter((steps) => {
      const seen = new Set<string>()
      for (const s of steps) {
        if (seen.has(s.id)) return `duplicate step id ${s.id}`
        seen.add(s.id)
      }
      return true
    })
  ),
  notes: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] })
}) {
  /**
   * Sum of the steps' estimates, in seconds (windows excluded).
   *
   * @since 0.1.0
   */
  get estimatedSeconds(): number {
    return this.steps.reduce((n, s) => n + (s._tag === "Window" ? 0 : s.estimatedSeconds), 0)
  }
}

/**
 * Build a plan from its steps. The fields are validated (step ids unique,
 * rule ids well-formed, durations non-negative); an invalid plan is a bug of
 * its planner, so it is a defect (thrown), not a user error.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (fields: {
  readonly id: string
  readonly kind: typeof PlanKind.Type
  readonly title: string
  readonly site: string
  readonly targetVersion: string
  readonly steps: ReadonlyArray<Step>
  readonly notes?: ReadonlyArray<string> | undefined
}): Plan => new Plan({ ...fields, notes: fields.notes ?? [] })

/**
 * Encode a plan to a JSON string.
 *
 * @since 0.1.0
 * @category combinators
 */
export const toJson = (plan: Plan): string => JSON.stringify(Schema.encodeSync(Plan)(plan), null, 2)

/**
 * Decode a plan from a JSON string; errors name the bad path.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromJson = Schema.decode(Schema.parseJson(Plan))

const kindLabel: Record<Step["_tag"], string> = {
  Check: "check",
  Action: "action",
  ManualGate: "manual",
  WaitFor: "wait",
  Window: "window"
}

/**
 * Human duration: `45s`, `12m`, `1h 30m`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const formatDuration = (seconds: number): string => {
  if (seconds < 60) return `${Math.round(seconds)}s`
  const minutes = Math.round(seconds / 60)
  if (minutes < 60) return `${minutes}m`
  const h = Math.floor(minutes / 60)
  const m = minutes % 60
  return m === 0 ? `${h}h` : `${h}h ${m}m`
}

/**
 * Render the plan as a Markdown runbook a person can follow by hand.
 *
 * @since 0.1.0
 * @category combinators
 */
export const toMarkdown = (plan: Plan): string => {
  const lines: Array<string> = [
    `# ${plan.title}`,
    "",
    `- Site: \`${plan.site}\``,
    `- Target version: \`${plan.targetVersion}\``,
    `- Steps: ${plan.steps.length}, estimated ${formatDuration(plan.estimatedSeconds)} of work (maintenance windows excluded)`,
    ""
  ]
  for (const note of plan.notes) lines.push(`> ${note}`)
  if (plan.notes.length > 0) lines.push("")
  plan.steps.forEach((step, i) => {
    const target = step.target ? ` on ${step.target}` : ""
    lines.push(`## ${i + 1}. ${step.title}`)
    lines.push("")
    lines.push(
      `*${kindLabel[step._tag]}${step._tag === "Check" ? ` (${step.severity})` : ""}${target}` +
        ` · rules ${step.rules.join(", ") || "—"} · ~${formatDuration(step.estimatedSeconds)}` +
        `${step.idempotent ? "" : " · not idempotent"}*`
    )
    lines.push("")
    switch (step._tag) {
      case "ManualGate": {
        step.instructions.forEach((line, n) => lines.push(`${n + 1}. ${line}`))
        if (step.evidence.length > 0) {
          lines.push("", "Evidence to record:")
          for (const e of step.evidence) lines.push(`- **${e.name}**: ${e.description}`)
        }
        lines.push("", `Verified by: \`${step.handler}\``)
        break
      }
      case "WaitFor":
        lines.push(
          `Polls \`${step.handler}\` every ${formatDuration(step.intervalSeconds)}, for at most ${formatDuration(step.deadlineSeconds)}.`
        )
        break
      case "Window":
        lines.push(
          `Waits for window **${step.window.label}**: ${step.window.start.toISOString()} for ${formatDuration(step.window.durationMinutes * 60)}.`
        )
        break
      default:
        lines.push(`Runs \`${step.handler}\`.`)
    }
    for (const note of step.notes) lines.push("", `> ${note}`)
    lines.push("")
  })
  return lines.join("\n")
}

const pad = (s: string, n: number) => (s.length >= n ? s.slice(0, n) : s + " ".repeat(n - s.length))

/**
 * Render the plan as a fixed-width terminal table.
 *
 * @since 0.1.0
 * @category combinators
 */
export const toTable = (plan: Plan): string => {
  const rows = plan.steps.map((s, i) => [
    String(i + 1),
    kindLabel[s._tag],
    s.target ?? "-",
    s.title,
    s.rules.join(","),
    formatDuration(s.estimatedSeconds)
  ])
  const header = ["#", "kind", "target", "step", "rules", "est."]
  const widths = header.map((h, c) => Math.min(60, Math.max(h.length, ...rows.map((r) => r[c]!.length))))
  const line = (r: ReadonlyArray<string>) => r.map((cell, c) => pad(cell, widths[c]!)).join("  ")
  return [
    `${plan.title} — ${plan.site} → ${plan.targetVersion}`,
    line(header),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...rows.map(line),
    `total ~${formatDuration(plan.estimatedSeconds)}`
  ].join("\n")
}
