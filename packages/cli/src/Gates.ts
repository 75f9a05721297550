/**
 * Who answers manual gates when the command runs a plan: a person at the
 * terminal (instructions shown, evidence asked field by field), or an
 * answers file for automation. Both are `Operator` layers of core.
 *
 * Answers file (YAML or JSON), keyed by step id:
 *
 * ```yaml
 * export-certificates-A:
 *   answer: approve          # approve | reject | defer
 *   by: jane.doe
 *   evidence: { path: /secure/certs-A.p12, sha256: 3f2a… }
 * ```
 *
 * @since 0.1.0
 */
import { Operator } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { readFile } from "node:fs/promises"
import { userInfo } from "node:os"
import { createInterface } from "node:readline/promises"
import * as YAML from "yaml"
import { type CliError, usage } from "./CliError.js"

/**
 * One entry of an answers file.
 *
 * @since 0.1.0
 * @category models
 */
export class FileAnswer extends Schema.Class<FileAnswer>("FileAnswer")({
  answer: Schema.Literal("approve", "reject", "defer"),
  by: Schema.optional(Schema.String),
  reason: Schema.optional(Schema.String),
  note: Schema.optional(Schema.String),
  evidence: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), { default: () => ({}) })
}) {}

/**
 * An answers file: step id → answer.
 *
 * @since 0.1.0
 * @category models
 */
export const AnswersFile = Schema.Record({ key: Schema.String, value: FileAnswer })

const toAnswer = (a: FileAnswer, file: string): Operator.Answer => {
  const by = a.by ?? `answers file ${file}`
  switch (a.answer) {
    case "approve":
      return new Operator.Approved({ by, evidence: a.evidence, ...(a.note === undefined ? {} : { note: a.note }) })
    case "reject":
      return new Operator.Rejected({ by, reason: a.reason ?? "rejected in the answers file" })
    case "defer":
      return new Operator.Deferred({ by, ...(a.reason === undefined ? {} : { reason: a.reason }) })
  }
}

/**
 * Read an answers file. Gates it does not name are deferred (the run stops,
 * exit code 4, and `resume` asks again).
 *
 * @since 0.1.0
 * @category constructors
 */
export const readAnswers = (file: string): Effect.Effect<Record<string, Operator.Answer>, CliError> =>
  Effect.gen(function* () {
    const text = yield* Effect.tryPromise({
      try: () => readFile(file, "utf8"),
      catch: (e) => usage(`${file}: cannot read the answers file (${(e as { code?: string }).code ?? String(e)}).`)
    })
    const raw = yield* Effect.try({
      try: () => (file.endsWith(".json") ? (JSON.parse(text) as unknown) : (YAML.parse(text) as unknown)),
      catch: (e) => usage(`${file}: not valid YAML/JSON: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`)
    })
    const decoded = yield* Schema.decodeUnknown(AnswersFile)(raw ?? {}, { errors: "all" }).pipe(
      Effect.mapError((e) =>
        usage(
          `${file}: expected step ids mapped to { answer: approve | reject | defer, by?, reason?, evidence? }`,
          e.message
        )
      )
    )
    return Object.fromEntries(Object.entries(decoded).map(([id, a]) => [id, toAnswer(a, file)]))
  })

/**
 * Operator from an answers file.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerAnswers = (answers: Readonly<Record<string, Operator.Answer>>): Layer.Layer<Operator.Operator> =>
  Operator.layerScripted(answers)

/**
 * The text shown to a person for one gate.
 *
 * @since 0.1.0
 * @category combinators
 */
export const describe = (request: Operator.GateRequest): string => {
  const lines = [
    "",
    `┌─ ${request.purpose === "gate" ? "MANUAL STEP" : "CONFIRM"}: ${request.step.title}${request.step.target === undefined ? "" : ` (${request.step.target})`}`,
    ...request.instructions.map((l, i) => `│ ${i + 1}. ${l}`)
  ]
  if (request.evidence.length > 0) {
    lines.push("│ Evidence to give:")
    for (const e of request.evidence) lines.push(`│   - ${e.name}: ${e.description}`)
  }
  lines.push("└─")
  return lines.join("\n")
}

/**
 * Ask at the terminal: the instructions, then `done` / `reject` / `defer`,
 * then each evidence field. Without a terminal the gate is deferred (give
 * an answers file).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTerminal = (
  io: { readonly input: NodeJS.ReadableStream; readonly output: NodeJS.WritableStream; readonly isTty: boolean } = {
    input: process.stdin,
    output: process.stdout,
    isTty: process.stdin.isTTY === true
  },
  options: {
    /**
     * Since 0.3.0: wait before drawing a gate until the progress output has shown it (see `follow`'s
     * `order`), so the box never comes before the previous step's lines.
     */
    readonly order?: { readonly gateShown: (stepId: string) => Promise<void> } | undefined
  } = {}
): Layer.Layer<Operator.Operator> => {
  const by = (() => {
    try {
      return userInfo().username
    } catch {
      return "operator"
    }
  })()
  return Operator.layerPrompt((request) =>
    Effect.promise(async (): Promise<Operator.Answer> => {
      await options.order?.gateShown(request.step.id)
      io.output.write(describe(request) + "\n")
      if (!io.isTty) {
        io.output.write("No terminal to ask: the gate is deferred. Answer it with --answers FILE and resume.\n")
        return new Operator.Deferred({ by: "sra-upgrade", reason: "no terminal; use --answers" })
      }
      const rl = createInterface({ input: io.input, output: io.output })
      try {
        for (;;) {
          const reply = (
            await rl.question(
              request.purpose === "gate"
                ? "Type done when finished, reject to stop the run, defer to stop here and resume later: "
                : "Did it take effect? yes / no / defer: "
            )
          )
            .trim()
            .toLowerCase()
          if (reply === "defer") return new Operator.Deferred({ by })
          if (reply === "reject" || reply === "no") {
            const reason = (await rl.question("Reason: ")).trim()
            return new Operator.Rejected({ by, reason: reason === "" ? "rejected at the terminal" : reason })
          }
          if (reply === "done" || reply === "yes") {
            const evidence: Record<string, string> = {}
            for (const e of request.evidence) {
              let v = ""
              while (v === "") v = (await rl.question(`${e.name} (${e.description}): `)).trim()
              evidence[e.name] = v
            }
            return new Operator.Approved({ by, evidence })
          }
        }
      } finally {
        rl.close()
      }
    })
  )
}
