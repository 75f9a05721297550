/**
 * Running a plan from the command: layers, live output, reports, exit codes.
 */
import { ApplianceClient } from "@sra-upgrade/appliance-client"
import type { ApplianceApi, Plan } from "@sra-upgrade/core"
import { Executor, Journal, Operator, RunEvent, RunReport, StepHandler } from "@sra-upgrade/core"
import { SiteProber } from "@sra-upgrade/failover"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { CliError, ExitCode, failed } from "../CliError.js"
import * as Progress from "../Progress.js"
import type * as OutputOrder from "./outputOrder.js"
import * as Report from "../Report.js"

/** Default runs folder. */
export const defaultRunsDir = "./.sra-upgrade/runs"

/**
 * Executor over handlers (with the appliance port), an operator and the file journal; with `prober`, the
 * site address is probed while runs are driven and the probes are journaled (one `SiteProber` serves both
 * the executor's observer and the failover handlers).
 */
export const executorLayer = (options: {
  readonly handlers: Layer.Layer<StepHandler.StepHandlers, never, ApplianceApi.ApplianceApi | Journal.Journal>
  readonly appliances: Layer.Layer<ApplianceApi.ApplianceApi>
  readonly operator: Layer.Layer<Operator.Operator>
  readonly journal: Layer.Layer<Journal.Journal, Journal.JournalError>
  readonly prober?: Parameters<typeof SiteProber.layer>[0] | undefined
}): Layer.Layer<Executor.Executor, CliError> => {
  // one layer value, so the graph builds it once
  const prober =
    options.prober === undefined
      ? Layer.empty
      : SiteProber.layer(options.prober).pipe(Layer.provide(options.appliances))
  return Executor.layer.pipe(
    Layer.provide(
      Layer.mergeAll(
        options.handlers.pipe(Layer.provide(Layer.mergeAll(options.appliances, options.journal, prober))),
        options.operator,
        options.journal,
        prober
      )
    ),
    Layer.mapError((e) => new CliError({ exitCode: ExitCode.usage, message: e.message }))
  )
}

/** A journal in the runs folder. */
export const journalLayer = (runsDir: string) => Journal.layer({ directory: runsDir })

/** Executor that can only read journals (status). */
export const readOnlyExecutor = (runsDir: string): Layer.Layer<Executor.Executor, CliError> =>
  Executor.layer.pipe(
    Layer.provide(Layer.mergeAll(StepHandler.layerRaw({}), Operator.layerScripted({}), journalLayer(runsDir))),
    Layer.mapError((e) => new CliError({ exitCode: ExitCode.usage, message: e.message }))
  )

/** The appliance port for connections. */
export const appliancesLayer = (connections: ReadonlyArray<ApplianceClient.Connection>) =>
  ApplianceClient.layer(connections)

/** Exit code of a finished (or stopped) run. */
export const exitCodeOf = (report: RunReport.RunReport): ExitCode => {
  switch (report.status) {
    case "succeeded":
      return ExitCode.ok
    case "halted-needs-support":
      return ExitCode.needsSupport
    case "waiting-for-operator":
    case "paused-until-window":
    case "cancelled":
    case "running":
    case "pending":
      return ExitCode.waiting
    case "failed":
      return ExitCode.failed
  }
}

export const fromExecutorError = (e: Executor.ExecutorError): CliError => {
  switch (e.reason._tag) {
    case "NeedsSupport":
      return new CliError({ exitCode: ExitCode.needsSupport, message: e.message })
    case "JournalFailed":
      return e.reason.error.reason._tag === "RunNotFound" || e.reason.error.reason._tag === "InvalidRunId"
        ? new CliError({ exitCode: ExitCode.usage, message: e.message })
        : failed(e.message)
    default:
      return failed(e.message)
  }
}

export interface StreamOptions {
  readonly json: boolean
  readonly plan?: Plan.Plan | undefined
  readonly timeScale?: number | undefined
  readonly instructions?: number | undefined
  /** Told after each event's lines are printed (the terminal operator waits on it to draw a gate). */
  readonly order?: OutputOrder.OutputOrder | undefined
}

/** Print the events of a run as they come; returns the run id. */
export const follow = <R>(
  events: Stream.Stream<RunEvent.Envelope, Executor.ExecutorError, R>,
  options: StreamOptions
): Effect.Effect<string | undefined, CliError, R> => {
  const renderer = Progress.make(options.plan, { timeScale: options.timeScale, instructions: options.instructions })
  const encode = Schema.encodeSync(RunEvent.Envelope)
  let runId: string | undefined
  return events.pipe(
    Stream.runForEach((envelope) => {
      runId = envelope.runId
      return (
        options.json
          ? Console.log(JSON.stringify(encode(envelope)))
          : Effect.forEach(renderer.lines(envelope), (l) => Console.log(l), { discard: true })
      ).pipe(Effect.zipLeft(Effect.sync(() => options.order?.shown(envelope))))
    }),
    Effect.mapError(fromExecutorError),
    Effect.map(() => runId)
  )
}

/** Write `<run>.report.md` and `<run>.report.json` beside the journal. */
export const writeReports = (runsDir: string, report: RunReport.RunReport, extras: Report.Extras = {}) =>
  Effect.tryPromise({
    try: async () => {
      await mkdir(runsDir, { recursive: true })
      const md = join(runsDir, `${report.runId}.report.md`)
      const json = join(runsDir, `${report.runId}.report.json`)
      await writeFile(md, Report.toMarkdown(report, extras))
      await writeFile(json, Report.toJson(report, extras))
      return { md, json }
    },
    catch: (e) => failed(`cannot write the run report into ${runsDir}: ${e instanceof Error ? e.message : String(e)}`)
  })
