/**
 * The `sra-upgrade` command: `plan`, `check`, `run`, `resume`, `status`,
 * `health`, `backup`, `certs inspect`, `sim`, `demo`. Reference:
 * docs/cli.md. `main` runs it on an argument vector and returns the exit
 * code; everything it prints goes through Effect's `Console` (tests capture
 * it with `Effect.withConsole`).
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import type * as CliApp from "@effect/cli/CliApp"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import type { ApplianceClient } from "@sra-upgrade/appliance-client"
import { Certificate, Chain } from "@sra-upgrade/certificates"
import {
  ApplianceApi,
  Executor,
  Journal,
  type Operator,
  Plan,
  Site,
  type SingleUpgrade,
  StepHandler
} from "@sra-upgrade/core"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { readdir, readFile } from "node:fs/promises"
import { dirname } from "node:path"
import { CliError, ExitCode, failed, usage } from "./CliError.js"
import * as Demo from "./Demo.js"
import * as Gates from "./Gates.js"
import * as Sim from "./internal/sim.js"
import * as Runner from "./internal/runner.js"
import * as Planners from "./Planners.js"
import * as Progress from "./Progress.js"
import * as Rehearse from "./Rehearse.js"
import * as Report from "./Report.js"
import * as SiteConnections from "./SiteConnections.js"

/**
 * The command's version.
 *
 * @since 0.1.0
 * @category models
 */
export const version = "0.1.0"

// ---------------------------------------------------------------------------
// shared options
// ---------------------------------------------------------------------------

const siteOpt = Options.text("site").pipe(
  Options.withAlias("s"),
  Options.withDescription("The site file (YAML or JSON) describing the appliances; see docs/core/site-file.md.")
)
const toOpt = Options.text("to").pipe(Options.withDescription("Target product version, e.g. 24.3.2."))
const methodOpt = Options.choice("method", ["single", "sync", "async"] as const).pipe(
  Options.optional,
  Options.withDescription(
    "single (one appliance), sync or async (failover pair). Default: single, or async for a pair."
  )
)
const runsOpt = Options.text("runs").pipe(
  Options.withDefault(Runner.defaultRunsDir),
  Options.withDescription("Folder of the run journals and reports.")
)
const jsonOpt = Options.boolean("json").pipe(Options.withDescription("Print JSON (one event per line for runs)."))
const answersOpt = Options.text("answers").pipe(
  Options.optional,
  Options.withDescription("Answers file for manual gates (non-interactive runs); see docs/cli.md.")
)
const yesOpt = Options.boolean("yes").pipe(
  Options.withDescription(
    "Let the simulator play every manual gate. Only with --simulator (never for real appliances)."
  )
)
const simulatorOpt = Options.text("simulator").pipe(
  Options.optional,
  Options.withDescription(
    "Control URL of a running simulator (printed by `sra-upgrade sim`), e.g. http://127.0.0.1:4100/__sim."
  )
)

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

interface Prepared {
  readonly site: Site.Site
  readonly method: Planners.Method
  readonly plan: Plan.Plan
  readonly appliances: Layer.Layer<ApplianceApi.ApplianceApi>
}

const currentOpt = Options.text("current").pipe(
  Options.optional,
  Options.withDescription(
    "Plan offline: the product version the appliances run now (default: read from their health API)."
  )
)

/** Observed versions of every appliance, through the port. */
export const observe = (site: Site.Site) =>
  Effect.gen(function* () {
    const api = yield* ApplianceApi.ApplianceApi
    const entries = yield* Effect.forEach(site.appliances, (a) =>
      Effect.flatMap(api.appliance(a.id), (c) => c.health).pipe(
        Effect.map((h) => [a.id, { product: h.version, build: h.build }] as const),
        Effect.mapError(SiteConnections.fromApplianceError)
      )
    )
    return new Map<string, SingleUpgrade.Current>(entries)
  })

const prepare = (
  file: string,
  to: string,
  method: Option.Option<Planners.Method>,
  current: Option.Option<string> = Option.none(),
  simulator?: Sim.Target
) =>
  Effect.gen(function* () {
    const site = yield* SiteConnections.load(file)
    const m = yield* Planners.validateMethod(
      site,
      Option.getOrElse(method, () => Planners.defaultMethod(site)),
      file
    )
    const offline = Option.isSome(current)
    const connections = offline ? [] : yield* SiteConnections.connections(site, { siteFile: file })
    const appliances = Runner.appliancesLayer(withSimulator(connections, site, simulator))
    const observed = Option.isSome(current)
      ? new Map(site.appliances.map((a) => [a.id, { product: current.value }] as const))
      : yield* Effect.provide(observe(site), appliances)
    // against a simulator, a pair's site address is its site front (the site host name resolves nowhere)
    const front = site.isPair ? simulator?.siteFront : undefined
    const plan = yield* Planners.plan(site, to, m, {
      current: observed,
      now: new Date(),
      ...(front === undefined ? {} : { siteUrl: front.httpUrl, siteClientId: Demo.siteClientId })
    })
    return { site, method: m, plan, appliances } satisfies Prepared
  })

/** Against a simulator: `Demo.simulatorConnections`, with its site front for a pair. */
const withSimulator = (
  connections: ReadonlyArray<ApplianceClient.Connection>,
  site: Site.Site,
  simulator: Sim.Target | undefined
): ReadonlyArray<ApplianceClient.Connection> =>
  simulator === undefined
    ? connections
    : Demo.simulatorConnections(connections, site.isPair ? simulator.siteFront?.httpsUrl : undefined)

const handlersFor = (site: Site.Site, file: string, timeScale = 1) =>
  Effect.gen(function* () {
    const backupPassword =
      site.backup.password === undefined ? undefined : yield* resolveBackupPassword(site.backup.password, file)
    return Planners.handlers({
      backupPassword,
      ...(timeScale > 1 ? { baseGraceSeconds: Math.max(1, 300 / timeScale) } : {})
    })
  })

const appliancesFor = (site: Site.Site, file: string, simulator?: Sim.Target) =>
  Effect.map(SiteConnections.connections(site, { siteFile: file }), (connections) =>
    Runner.appliancesLayer(withSimulator(connections, site, simulator))
  )

interface Driving {
  readonly operator: Layer.Layer<Operator.Operator>
  /** Simulated seconds per real second of a simulator target, else 1. */
  readonly timeScale: number
  /** The `--simulator` target, when one was given. */
  readonly simulator: Sim.Target | undefined
}

const driving = (options: {
  readonly answers: Option.Option<string>
  readonly yes: boolean
  readonly simulator: Option.Option<string>
}): Effect.Effect<Driving, CliError> =>
  Effect.gen(function* () {
    const sim = Option.isSome(options.simulator) ? yield* Sim.target(options.simulator.value) : undefined
    const timeScale = sim?.timeScale ?? 1
    if (options.yes) {
      if (sim === undefined)
        return yield* usage(
          "--yes approves manual gates without a person: it is only allowed against a simulator (give --simulator <control URL>). For real appliances answer at the terminal or give --answers FILE."
        )
      return { operator: sim.operator, timeScale, simulator: sim }
    }
    if (Option.isSome(options.answers))
      return {
        operator: Gates.layerAnswers(yield* Gates.readAnswers(options.answers.value)),
        timeScale,
        simulator: sim
      }
    return { operator: Gates.layerTerminal(), timeScale, simulator: sim }
  })

const finish = (runsDir: string, json: boolean, runId: string | undefined) =>
  Effect.gen(function* () {
    if (runId === undefined) return yield* failed("the run produced no event; see the journal folder " + runsDir)
    const report = yield* Executor.report(runId).pipe(Effect.mapError(Runner.fromExecutorError))
    const files = yield* Runner.writeReports(runsDir, report)
    if (!json) {
      yield* Console.log("")
      yield* Console.log(Report.toMarkdown(report))
      yield* Console.log(`Report: ${files.md} (JSON: ${files.json})`)
      if (report.status === "waiting-for-operator" || report.status === "paused-until-window")
        yield* Console.log(`The run is waiting. Continue it with: sra-upgrade resume ${runId} --site <site file>`)
    }
    const code = Runner.exitCodeOf(report)
    if (code !== ExitCode.ok)
      return yield* new CliError({
        exitCode: code,
        message: `run ${runId} ended ${report.status}${report.error === undefined ? "" : `: ${report.error}`}`
      })
  })

// ---------------------------------------------------------------------------
// commands
// ---------------------------------------------------------------------------

const planCommand = Command.make(
  "plan",
  {
    site: siteOpt,
    to: toOpt,
    method: methodOpt,
    format: Options.choice("format", ["md", "table", "json"] as const).pipe(
      Options.withDefault("md" as const),
      Options.withDescription("md: a Markdown runbook; table: one line per step; json: the plan value.")
    ),
    current: currentOpt
  },
  ({ current, format, method, site, to }) =>
    Effect.gen(function* () {
      const { plan } = yield* prepare(site, to, method, current).pipe(
        Effect.mapError((e) =>
          e.exitCode === ExitCode.unreachable
            ? new CliError({
                ...e,
                message: `${e.message} To plan without contacting the appliances, give the version they run: --current <version>.`
              })
            : e
        )
      )
      yield* Console.log(
        format === "json" ? Plan.toJson(plan) : format === "table" ? Plan.toTable(plan) : Plan.toMarkdown(plan)
      )
    })
).pipe(Command.withDescription("Print the upgrade plan: a runbook a person can follow, or JSON for tools."))

const checkCommand = Command.make("check", { site: siteOpt, to: toOpt, method: methodOpt, json: jsonOpt }, (o) =>
  Effect.gen(function* () {
    const { appliances, plan, site } = yield* prepare(o.site, o.to, o.method)
    const handlers = yield* handlersFor(site, o.site)
    const rows = yield* runChecks(plan).pipe(
      Effect.provide(handlers.pipe(Layer.provide(Layer.merge(appliances, Journal.layerMemory))))
    )
    if (o.json) yield* Console.log(JSON.stringify(rows, null, 2))
    else {
      const w = Math.max(5, ...rows.map((r) => r.title.length))
      yield* Console.log(`${"check".padEnd(w)}  result   detail`)
      yield* Console.log(`${"-".repeat(w)}  -------  ------`)
      for (const r of rows) yield* Console.log(`${r.title.padEnd(w)}  ${r.result.padEnd(7)}  ${r.detail}`)
    }
    const blocking = rows.filter((r) => r.result === "FAIL")
    if (blocking.length > 0)
      return yield* failed(`${blocking.length} blocking check(s) failed: ${blocking.map((r) => r.id).join(", ")}`)
    if (!o.json) yield* Console.log(`\nReady: ${rows.length} check(s) passed or advisory.`)
  })
).pipe(Command.withDescription("Run only the readiness checks of the plan; exit code 0 when none blocks, 1 otherwise."))

interface CheckRow {
  readonly id: string
  readonly title: string
  readonly target: string
  readonly rules: ReadonlyArray<string>
  readonly result: "ok" | "FAIL" | "warn"
  readonly detail: string
}

const runChecks = (plan: Plan.Plan) =>
  Effect.gen(function* () {
    const handlers = yield* StepHandler.StepHandlers
    const rows: Array<CheckRow> = []
    // readiness: the checks before the first step that changes or waits for something
    const firstWork = plan.steps.findIndex((s) => s._tag === "Action" || s._tag === "WaitFor" || s._tag === "Window")
    for (const step of firstWork < 0 ? plan.steps : plan.steps.slice(0, firstWork)) {
      if (step._tag !== "Check") continue
      const base = { id: step.id, title: step.title, target: step.target ?? "-", rules: step.rules }
      const run = Option.getOrUndefined(handlers.get(step.handler))?.run
      if (run === undefined) {
        rows.push({ ...base, result: "FAIL", detail: `no handler ${step.handler}` })
        continue
      }
      const r = yield* Effect.either(run({ runId: "check", plan, step, attempt: 1 }))
      if (Either.isRight(r)) {
        const ev = Object.entries(r.right)
          .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
          .join(", ")
        rows.push({ ...base, result: "ok", detail: ev.length > 120 ? ev.slice(0, 119) + "…" : ev })
      } else {
        rows.push({ ...base, result: step.severity === "advisory" ? "warn" : "FAIL", detail: r.left.message })
      }
    }
    return rows
  })

const runCommand = Command.make(
  "run",
  {
    site: siteOpt,
    to: toOpt,
    method: methodOpt,
    runs: runsOpt,
    answers: answersOpt,
    yes: yesOpt,
    simulator: simulatorOpt,
    json: jsonOpt,
    runId: Options.text("run-id").pipe(Options.optional, Options.withDescription("Journal name (default: generated)."))
  },
  (o) =>
    Effect.gen(function* () {
      const { operator, timeScale, simulator } = yield* driving(o)
      const { appliances, plan, site } = yield* prepare(o.site, o.to, o.method, Option.none(), simulator)
      const layer = Runner.executorLayer({
        handlers: yield* handlersFor(site, o.site, timeScale),
        appliances,
        operator,
        journal: Runner.journalLayer(o.runs)
      })
      yield* Effect.gen(function* () {
        const runId = yield* Runner.follow(
          Executor.runStream(
            Planners.compress(plan, timeScale),
            Option.match(o.runId, { onNone: () => ({}), onSome: (runId) => ({ runId }) })
          ),
          { json: o.json, plan, timeScale }
        )
        yield* finish(o.runs, o.json, runId)
      }).pipe(Effect.provide(layer))
    })
).pipe(
  Command.withDescription(
    "Plan and execute the upgrade, journaled in --runs; manual gates are asked at the terminal (or read from --answers)."
  )
)

const resumeCommand = Command.make(
  "resume",
  {
    runId: Args.text({ name: "run-id" }).pipe(Args.withDescription("The run to continue (see `sra-upgrade status`).")),
    site: siteOpt,
    runs: runsOpt,
    answers: answersOpt,
    yes: yesOpt,
    simulator: simulatorOpt,
    json: jsonOpt
  },
  (o) =>
    Effect.gen(function* () {
      const site = yield* SiteConnections.load(o.site)
      const { operator, timeScale, simulator } = yield* driving(o)
      const appliances = yield* appliancesFor(site, o.site, simulator)
      const layer = Runner.executorLayer({
        handlers: yield* handlersFor(site, o.site, timeScale),
        appliances,
        operator,
        journal: Runner.journalLayer(o.runs)
      })
      yield* Effect.gen(function* () {
        const before = yield* Executor.report(o.runId).pipe(Effect.mapError(Runner.fromExecutorError))
        if (!o.json) yield* Console.log(`resuming ${o.runId} (${before.status}, at ${before.currentStep ?? "-"})`)
        const runId = yield* Runner.follow(Executor.resumeStream(o.runId), { json: o.json, plan: undefined, timeScale })
        yield* finish(o.runs, o.json, runId ?? o.runId)
      }).pipe(Effect.provide(layer))
    })
).pipe(Command.withDescription("Continue a stopped run from its journal (crash, Ctrl-C, deferred gate, window)."))

const statusCommand = Command.make(
  "status",
  {
    runId: Args.text({ name: "run-id" }).pipe(Args.optional),
    runs: runsOpt,
    json: jsonOpt
  },
  (o) =>
    Effect.gen(function* () {
      const journal = yield* listRuns(o.runs)
      if (Option.isNone(o.runId)) {
        if (journal.length === 0) return yield* Console.log(`No runs in ${o.runs}.`)
        const reports = yield* Effect.forEach(journal, (id) =>
          Executor.report(id).pipe(Effect.mapError(Runner.fromExecutorError))
        )
        if (o.json)
          return yield* Console.log(
            JSON.stringify(
              reports.map((r) => ({
                runId: r.runId,
                status: r.status,
                currentStep: r.currentStep,
                site: r.site,
                target: r.targetVersion
              }))
            )
          )
        for (const r of reports)
          yield* Console.log(
            `${r.runId}  ${r.status.padEnd(20)} ${r.site} → ${r.targetVersion}  ${r.currentStep ?? ""}`
          )
        return
      }
      const report = yield* Executor.report(o.runId.value).pipe(Effect.mapError(Runner.fromExecutorError))
      yield* Console.log(o.json ? Report.toJson(report) : Report.toMarkdown(report))
    }).pipe(Effect.provide(Runner.readOnlyExecutor(o.runs)))
).pipe(Command.withDescription("List the runs of the runs folder, or show the report of one."))

const listRuns = (runs: string) =>
  Effect.tryPromise({
    try: async () => {
      const names = await readdir(runs).catch(() => [] as Array<string>)
      return names
        .filter((n) => n.endsWith(".jsonl"))
        .map((n) => n.slice(0, -".jsonl".length))
        .sort()
    },
    catch: (e) => failed(`cannot list ${runs}: ${String(e)}`)
  })

const healthCommand = Command.make("health", { site: siteOpt, json: jsonOpt }, (o) =>
  Effect.gen(function* () {
    const site = yield* SiteConnections.load(o.site)
    const appliances = yield* appliancesFor(site, o.site)
    const rows = yield* Effect.gen(function* () {
      const api = yield* ApplianceApi.ApplianceApi
      return yield* Effect.forEach(site.appliances, (a) =>
        Effect.gen(function* () {
          const client = yield* api.appliance(a.id)
          const h = yield* client.health
          const info = yield* Effect.either(client.apiInfo)
          const skew = Either.isRight(info)
            ? Math.round((info.right.serverTime.getTime() - info.right.localTime.getTime()) / 1000)
            : undefined
          return {
            id: a.id,
            hostname: h.hostname,
            version: h.version,
            build: h.build,
            healthy: h.healthy,
            failoverRole: h.failoverRole,
            expectedRole: a.role,
            sharedIps: h.enabledSharedIps,
            lastDataSync: h.lastDataSync?.toISOString(),
            clockSkewSeconds: skew,
            ...(h.errorMessage === undefined ? {} : { error: h.errorMessage })
          }
        }).pipe(Effect.mapError(SiteConnections.fromApplianceError))
      )
    }).pipe(Effect.provide(appliances))
    if (o.json) return yield* Console.log(JSON.stringify(rows, null, 2))
    for (const r of rows)
      yield* Console.log(
        `${r.id}  ${r.hostname}  ${r.version} (build ${r.build.split("-")[0]})  ${r.healthy ? "healthy" : `UNHEALTHY: ${r.error ?? ""}`}  role ${r.failoverRole}${r.failoverRole !== r.expectedRole ? ` (site file says ${r.expectedRole})` : ""}  shared IPs [${r.sharedIps.join(", ")}]  clock skew ${r.clockSkewSeconds ?? "?"} s`
      )
    if (rows.some((r) => !r.healthy)) return yield* failed("an appliance reports it is not healthy")
  })
).pipe(Command.withDescription("Health, version, failover role and clock skew of every appliance of the site."))

const backupCommand = Command.make(
  "backup",
  {
    site: siteOpt,
    appliance: Options.text("appliance").pipe(Options.optional, Options.withDescription("Only this appliance id.")),
    directory: Options.text("directory").pipe(
      Options.optional,
      Options.withDescription("Where to write the backup (default: backup.directory of the site file).")
    )
  },
  (o) =>
    Effect.gen(function* () {
      const site = yield* SiteConnections.load(o.site)
      const appliances = yield* appliancesFor(site, o.site)
      const password =
        site.backup.password === undefined ? undefined : yield* resolveBackupPassword(site.backup.password, o.site)
      const targets = Option.match(o.appliance, {
        onNone: () => site.appliances.map((a) => a.id),
        onSome: (id) => [id]
      })
      const directory = Option.getOrElse(o.directory, () => site.backup.directory)
      yield* Effect.gen(function* () {
        const api = yield* ApplianceApi.ApplianceApi
        for (const id of targets) {
          const client = yield* api.appliance(id)
          const started = Date.now()
          let last = 0
          const artifact = yield* client.downloadBackup({
            directory,
            password,
            onProgress: (bytes) => {
              if (process.stderr.isTTY !== true) return
              const now = Date.now()
              if (now - last < 500) return
              last = now
              const rate = bytes / Math.max(0.001, (now - started) / 1000)
              process.stderr.write(`\r  ${id}: ${Progress.formatBytes(bytes)} at ${Progress.formatBytes(rate)}/s   `)
            }
          })
          const secs = Math.max(0.001, (Date.now() - started) / 1000)
          if (process.stderr.isTTY === true) process.stderr.write("\r\x1b[K")
          yield* Console.log(
            `${id}: ${artifact.path}  ${Progress.formatBytes(artifact.bytes)} in ${secs.toFixed(1)} s (${Progress.formatBytes(artifact.bytes / secs)}/s)  sha256 ${artifact.sha256}  ${artifact.passwordProtected ? "password-protected" : "NOT password-protected"}`
          )
        }
      }).pipe(Effect.mapError(SiteConnections.fromApplianceError), Effect.provide(appliances))
    })
).pipe(Command.withDescription("Download and verify a settings backup of each appliance (PREP-1)."))

const resolveBackupPassword = (ref: Site.SecretRef, file: string) =>
  Site.resolveSecret(ref, { baseDir: dirname(file), siteFile: file }).pipe(
    Effect.mapError((e) => usage(`${e.message} (backup.password)`))
  )

const certsInspect = Command.make(
  "inspect",
  {
    file: Args.text({ name: "file" }).pipe(Args.withDescription("PEM (chain) or DER certificate file.")),
    hostname: Options.text("hostname").pipe(
      Options.optional,
      Options.withDescription("Check that the leaf covers this site name.")
    ),
    json: jsonOpt
  },
  (o) =>
    Effect.gen(function* () {
      const bytes = yield* Effect.tryPromise({
        try: () => readFile(o.file),
        catch: (e) => usage(`${o.file}: cannot read (${(e as { code?: string }).code ?? String(e)}).`)
      })
      const certs = yield* Certificate.parse(new Uint8Array(bytes)).pipe(
        Effect.mapError((e) => usage(`${o.file}: ${e.message}`))
      )
      const report = Chain.validate(certs, {
        now: new Date(),
        ...(Option.isSome(o.hostname) ? { siteFqdn: o.hostname.value } : {})
      })
      if (o.json) {
        yield* Console.log(
          JSON.stringify(
            {
              chain: report.chain.map((c) => c.toJSON()),
              findings: report.findings.map((f) => ({ code: f.code, severity: f.severity, message: f.message })),
              blocking: report.blocking
            },
            null,
            2
          )
        )
      } else {
        const lines: Array<string> = []
        report.chain.forEach((c, i) => {
          const role = i === 0 ? "leaf" : c.selfSigned ? "root" : "intermediate"
          lines.push(
            `${i + 1}. ${role}: ${c.subject}`,
            `   issuer   ${c.issuer}`,
            `   valid    ${c.notBefore.toISOString()} → ${c.notAfter.toISOString()}`,
            `   names    ${[...c.dnsNames, ...c.ipAddresses].join(", ") || "-"}`,
            `   key      ${c.key.type}${c.key.bits === undefined ? "" : ` ${c.key.bits} bits`}${c.key.curve === undefined ? "" : ` ${c.key.curve}`}, signature ${c.signatureAlgorithm}`,
            `   sha256   ${c.sha256}`
          )
        })
        for (const l of lines) yield* Console.log(l)
        yield* Console.log(report.findings.length === 0 ? "No findings." : "Findings:")
        for (const f of report.findings)
          yield* Console.log(`  ${f.severity === "blocking" ? "✘" : "⚠"} ${f.code}: ${f.message}`)
      }
      if (report.blocking) return yield* failed(`${o.file}: the chain has blocking findings`)
    })
).pipe(Command.withDescription("Show a certificate chain: order, names, validity, key, fingerprints, findings."))

const certsCommand = Command.make("certs").pipe(
  Command.withDescription("Certificate helpers."),
  Command.withSubcommands([certsInspect])
)

const simCommand = Command.make(
  "sim",
  {
    timeScale: Options.float("time-scale").pipe(
      Options.withDefault(60),
      Options.withDescription("Simulated seconds per real second.")
    ),
    clients: Options.integer("clients").pipe(
      Options.withDefault(20),
      Options.withDescription("Jump Clients in the fleet.")
    ),
    backupSize: Options.integer("backup-size").pipe(
      Options.withDefault(8 * 1024 * 1024),
      Options.withDescription(
        "Size in bytes of the settings backup each appliance streams (default 8 MiB; several GiB is fine)."
      )
    ),
    writeSite: Options.text("write-site").pipe(
      Options.optional,
      Options.withDescription(
        "Write a site file (and its secret file beside it) describing this simulator; with --sites, a folder for one site file per site."
      )
    ),
    sites: Options.integer("sites").pipe(
      Options.optional,
      Options.withDescription(
        "Simulate this many sites in one process (site-001, site-002…), each with its own control URL."
      )
    ),
    pairs: Options.integer("pairs").pipe(
      Options.optional,
      Options.withDescription(
        "With --sites: how many of the sites are failover pairs (default all; the others single appliances)."
      )
    ),
    json: jsonOpt
  },
  (o) =>
    Option.isSome(o.sites)
      ? Sim.serveSites({ ...o, sites: o.sites.value })
      : Option.isSome(o.pairs)
        ? usage("--pairs needs --sites N")
        : Sim.serve(o)
).pipe(
  Command.withDescription(
    "Start the simulated failover pair and site front (same as `pnpm sim`), or with --sites N many simulated sites; Ctrl-C stops it."
  )
)

const demoCommand = Command.make(
  "demo",
  {
    timeScale: Options.float("time-scale").pipe(
      Options.withDefault(Demo.defaultTimeScale),
      Options.withDescription("Simulated seconds per real second.")
    ),
    method: methodOpt,
    json: jsonOpt
  },
  (o) => Demo.run({ timeScale: o.timeScale, json: o.json, method: Option.getOrElse(o.method, () => Demo.method) })
).pipe(
  Command.withDescription(
    "Upgrade an embedded simulated pair end to end: plan, run (the simulator plays the manual gates), report. Nothing is left running."
  )
)

const rehearseCommand = Command.make(
  "rehearse",
  {
    site: siteOpt,
    to: toOpt,
    method: methodOpt,
    current: currentOpt,
    timeScale: Options.float("time-scale").pipe(
      Options.withDefault(600),
      Options.withDescription("Simulated seconds per real second.")
    ),
    runs: runsOpt,
    json: jsonOpt
  },
  (o) => Rehearse.run({ ...o, siteFile: o.site })
).pipe(
  Command.withDescription(
    "PREP-5: run the production plan on a simulator seeded from the site's observed state, and record the rehearsal for the production run's check."
  )
)

/**
 * The root command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("sra-upgrade").pipe(
  Command.withDescription(
    "Plan, run, verify and resume upgrades of BeyondTrust Secure Remote Access appliances. Global flag: --verbose."
  ),
  Command.withSubcommands([
    planCommand,
    checkCommand,
    runCommand,
    rehearseCommand,
    resumeCommand,
    statusCommand,
    healthCommand,
    backupCommand,
    certsCommand,
    simCommand,
    demoCommand
  ])
)

const cli = Command.run(command, { name: "sra-upgrade", version })

const describeDefect = (cause: Cause.Cause<unknown>): string => Cause.pretty(cause)

/**
 * Run the command on `argv` (as `process.argv`: node, script, args…),
 * print errors (one line; detail with `--verbose`) and return the exit code.
 *
 * @since 0.1.0
 * @category combinators
 */
export const main = (argv: ReadonlyArray<string>): Effect.Effect<ExitCode, never, CliApp.CliApp.Environment> => {
  const verbose = argv.slice(2).some((a) => a === "--verbose")
  const args = argv.filter((a, i) => i < 2 || a !== "--verbose")
  return cli(args).pipe(
    Effect.as(ExitCode.ok as ExitCode),
    Effect.catchAllCause((cause) =>
      Effect.gen(function* () {
        if (Cause.isInterruptedOnly(cause)) return ExitCode.interrupted
        const failure = Cause.failureOption(cause)
        if (Option.isSome(failure)) {
          const e: unknown = failure.value
          if (ValidationError.isValidationError(e)) {
            // @effect/cli already printed the problem and the usage.
            yield* Console.error("Run `sra-upgrade <command> --help` for the options.")
            return ExitCode.usage
          }
          if (e instanceof CliError) {
            yield* Console.error(`error: ${e.message}`)
            if (verbose && e.detail !== undefined) yield* Console.error(e.detail)
            else if (e.detail !== undefined) yield* Console.error("(more detail with --verbose)")
            return e.exitCode
          }
          const message = e instanceof Error ? e.message : String(e)
          yield* Console.error(`error: ${message}`)
          if (verbose) yield* Console.error(describeDefect(cause))
          return ExitCode.failed
        }
        yield* Console.error("error: an unexpected internal error; rerun with --verbose and report it.")
        if (verbose) yield* Console.error(describeDefect(cause))
        return ExitCode.failed
      })
    )
  )
}
