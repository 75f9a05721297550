/**
 * `sra-upgrade fleet …`: rollouts over many sites in waves (docs/fleet.md).
 * `fleet plan` prints the rollout plan of a fleet file: waves, earliest
 * start per site in its time zone, estimates and warnings.
 *
 * @since 0.3.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import {
  Admission,
  Engine,
  EngineLayer,
  FleetFile,
  FleetStore,
  Rollout,
  SiteGates,
  type SiteWorker
} from "@sra-upgrade/fleet"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir, userInfo } from "node:os"
import { join } from "node:path"
import { CliError, failed, usage } from "../CliError.js"
import * as FleetRun from "../internal/fleetRun.js"
import * as FleetWorker from "../internal/fleetWorker.js"
import { jsonOpt } from "../internal/options.js"

const fleetOpt = Options.text("fleet").pipe(
  Options.withAlias("f"),
  Options.withDescription(
    "The fleet file (YAML or JSON) naming the sites, waves, cap, budget and windows; see docs/fleet.md."
  )
)

const nowOpt = Options.text("now").pipe(
  Options.optional,
  Options.withDescription("Plan from this instant (ISO 8601 with a zone, e.g. 2026-10-01T08:00:00Z); default: now.")
)

const formatOpt = Options.choice("format", ["markdown", "table", "json"] as const).pipe(
  Options.withDefault("markdown" as const),
  Options.withDescription("markdown: a report per wave; table: one line per site; json: the rollout plan value.")
)

const parseNow = (text: string) => {
  const d = new Date(text)
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text) && !Number.isNaN(d.getTime())
    ? Effect.succeed(d)
    : Effect.fail(usage(`--now ${text}: expected an ISO 8601 instant with its zone, e.g. 2026-10-01T08:00:00Z.`))
}

/**
 * `fleet plan --fleet FILE [--now ISO] [--format markdown|table|json]`.
 *
 * @since 0.3.0
 * @category commands
 */
export const plan = Command.make("plan", { fleet: fleetOpt, now: nowOpt, format: formatOpt }, (o) =>
  Effect.gen(function* () {
    const now = yield* Option.match(o.now, {
      onNone: () => Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms)),
      onSome: parseNow
    })
    const fleet = yield* FleetFile.decodeFleetFile(o.fleet).pipe(Effect.mapError((e) => usage(e.message)))
    const rollout = Rollout.plan(fleet, { now })
    yield* Console.log(
      o.format === "json"
        ? Rollout.toJson(rollout)
        : o.format === "table"
          ? Rollout.toTable(rollout)
          : Rollout.toMarkdown(rollout)
    )
  })
).pipe(
  Command.withDescription(
    "Print the rollout plan of a fleet file: waves, each site's earliest start in its time zone, estimates, warnings."
  )
)

/**
 * `--database`: a SQLite file (embedded engine) or a `postgres://` URL (distributed).
 *
 * @since 0.3.0
 * @category options
 */
export const databaseOpt = Options.text("database").pipe(
  Options.optional,
  Options.withDescription(
    `The engine's database: a SQLite file (embedded engine, default ${EngineLayer.defaultEmbeddedFile}) or postgres://… (runners started with \`sra-upgrade runner\`).`
  )
)

const rolloutOpt = Options.text("rollout").pipe(
  Options.optional,
  Options.withDescription("The rollout id (default: the latest rollout in the database).")
)

/**
 * `--simulator` of the fleet commands: a many-site simulator's control URL.
 *
 * @since 0.3.0
 * @category options
 */
export const fleetSimulatorOpt = Options.text("simulator").pipe(
  Options.optional,
  Options.withDescription(
    "Control URL of a many-site simulator (`sra-upgrade sim --sites N`, e.g. http://127.0.0.1:4100/__sim): the simulator plays each site's manual gates."
  )
)

/**
 * `--time-scale` of the fleet commands (with --simulator).
 *
 * @since 0.3.0
 * @category options
 */
export const fleetTimeScaleOpt = Options.float("time-scale").pipe(
  Options.withDefault(1),
  Options.withDescription("With --simulator: the simulator's simulated seconds per real second.")
)

/**
 * `--probe-interval` of the fleet commands (with --simulator).
 *
 * @since 0.3.0
 * @category options
 */
export const fleetProbeIntervalOpt = Options.integer("probe-interval").pipe(
  Options.optional,
  Options.withDescription(
    "With --simulator: milliseconds between two probes of each site's address while its run goes on (default: 30 s of simulated time, 30000 / --time-scale, at least 20). At a high time scale and many sites at once, the default probes each site many times a second: raise it to measure the engine rather than the probes."
  )
)

/**
 * `--probe-interval` checked: at least 20 ms (a tighter loop would measure
 * nothing but the probes).
 *
 * @since 0.3.0
 * @category options
 */
export const checkProbeInterval = (o: Option.Option<number>) =>
  Option.isSome(o) && o.value < 20
    ? Effect.fail(usage(`--probe-interval ${o.value}: give at least 20 (milliseconds).`))
    : Effect.succeed(o)

const database = (o: Option.Option<string>) => EngineLayer.parseDatabase(Option.getOrUndefined(o))

/**
 * The site worker of the fleet commands. Its work folder (the simulated
 * operator's certificate exports) is a fresh temporary folder removed when
 * the command ends.
 *
 * @since 0.3.0
 * @category constructors
 */
export const workerOf = (
  simulator: Option.Option<string>,
  timeScale: number,
  probeIntervalMillis: Option.Option<number> = Option.none()
): Layer.Layer<SiteWorker.SiteWorker> =>
  Layer.unwrapScoped(
    Effect.map(
      Effect.acquireRelease(
        Effect.promise(() => mkdtemp(join(tmpdir(), "sra-upgrade-fleet-"))),
        (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
      ),
      (workDirectory) =>
        FleetWorker.layer({
          workDirectory,
          ...(Option.isSome(simulator)
            ? {
                simulator: {
                  controlUrl: simulator.value,
                  timeScale,
                  probeIntervalMillis: Option.getOrUndefined(probeIntervalMillis)
                }
              }
            : {})
        })
    )
  )

/**
 * `fleet run --fleet FILE [--database D] [--json]`: plan the rollout and run it on the engine.
 *
 * @since 0.3.0
 * @category commands
 */
export const run = Command.make(
  "run",
  {
    fleet: fleetOpt,
    database: databaseOpt,
    simulator: fleetSimulatorOpt,
    timeScale: fleetTimeScaleOpt,
    probeInterval: fleetProbeIntervalOpt,
    json: jsonOpt
  },
  (o) =>
    Effect.gen(function* () {
      const fleet = yield* FleetFile.decodeFleetFile(o.fleet).pipe(Effect.mapError((e) => usage(e.message)))
      const rollout = Rollout.plan(fleet, { now: new Date() })
      const db = database(o.database)
      const worker = workerOf(o.simulator, o.timeScale, yield* checkProbeInterval(o.probeInterval))
      const engine =
        "file" in db
          ? FleetRun.embedded(db.file, worker)
          : EngineLayer.client({ url: db.url }).pipe(Layer.mapError((e) => usage(e.message)))
      const summary = yield* FleetRun.runAndFollow(rollout, { json: o.json }).pipe(Effect.provide(engine))
      if (o.json) yield* Console.log(FleetRun.rolloutLine(summary))
      const code = FleetRun.exitCodeOf(summary.status)
      if (code !== 0)
        return yield* new CliError({ exitCode: code, message: `rollout ${summary.rolloutId} ended ${summary.status}` })
    })
).pipe(
  Command.withDescription(
    "Run a rollout on the durable engine: embedded (SQLite under .sra-upgrade/, this process) or on the runners of a PostgreSQL database. Starting it again resumes it."
  )
)

/**
 * `fleet status [--rollout ID] [--database D] [--json]`. With `--json`, one line:
 * `{"rollout": {…}, "gates": [{site, gate, runId, status, since, instructions, evidence, command, …}]}`.
 *
 * @since 0.3.0
 * @category commands
 */
export const status = Command.make("status", { rollout: rolloutOpt, database: databaseOpt, json: jsonOpt }, (o) =>
  Effect.gen(function* () {
    const id = yield* FleetRun.pick(Option.getOrUndefined(o.rollout))
    const { stored, summary } = yield* FleetRun.summaryOf(id)
    const store = yield* FleetStore.FleetStore
    const gates = yield* Effect.mapError(store.gates(id), (e) => failed(e.message))
    if (o.json) return yield* Console.log(FleetRun.statusLine(summary, stored, gates))
    for (const l of FleetRun.render(summary, stored.plan)) yield* Console.log(l)
    for (const s of stored.plan.sites) {
      const st = Admission.stateOf(stored.ledger, s.id)
      if (st._tag === "Failed") yield* Console.log(`  failed: ${s.id}: ${st.reason}`)
    }
    for (const l of FleetRun.renderGates(stored, gates)) yield* Console.log(l)
  }).pipe(Effect.provide(FleetRun.ledger(database(o.database))))
).pipe(
  Command.withDescription(
    "Show a rollout's progress: per wave, bars, failures, ETA, and the sites waiting on a gate (instructions, evidence, how to answer)."
  )
)

const controlCommand = (name: string, description: string, change: (c: Admission.Controls) => Admission.Controls) =>
  Command.make(name, { rollout: rolloutOpt, database: databaseOpt }, (o) =>
    FleetRun.control(database(o.database), Option.getOrUndefined(o.rollout), (c) => Effect.succeed(change(c)))
  ).pipe(Command.withDescription(description))

/**
 * `fleet pause`: no site starts until `fleet resume` (sites in flight go on).
 *
 * @since 0.3.0
 * @category commands
 */
export const pause = controlCommand(
  "pause",
  "Pause a rollout: no more site starts until `fleet resume`; sites in flight finish.",
  (c) => new Admission.Controls({ ...c, paused: true })
)

/**
 * `fleet resume`.
 *
 * @since 0.3.0
 * @category commands
 */
export const resume = controlCommand(
  "resume",
  "Resume a paused rollout.",
  (c) => new Admission.Controls({ ...c, paused: false })
)

/**
 * `fleet abort`: no site starts any more; the rollout ends once the sites in flight finished.
 *
 * @since 0.3.0
 * @category commands
 */
export const abort = controlCommand(
  "abort",
  "Abort a rollout: no more site starts; it ends when the sites in flight finished.",
  (c) => new Admission.Controls({ ...c, aborted: true })
)

/**
 * `fleet approve --wave N`.
 *
 * @since 0.3.0
 * @category commands
 */
export const approve = Command.make(
  "approve",
  {
    rollout: rolloutOpt,
    database: databaseOpt,
    wave: Options.integer("wave").pipe(Options.withDescription("The wave to approve (1 = the first)."))
  },
  (o) => FleetRun.control(database(o.database), Option.getOrUndefined(o.rollout), FleetRun.approveWave(o.wave))
).pipe(Command.withDescription("Approve a wave that waits for its approval."))

const osUser = () => {
  try {
    return userInfo().username
  } catch {
    return "operator"
  }
}

/**
 * `fleet answer --site S --gate STEP --approve|--reject|--defer --comment TEXT [--evidence k=v]…`:
 * answer a gate a site of a rollout waits on (`Engine.answerGate`).
 *
 * @since 0.3.0
 * @category commands
 */
export const answer = Command.make(
  "answer",
  {
    rollout: rolloutOpt,
    database: databaseOpt,
    site: Options.text("site").pipe(Options.withDescription("The site waiting on the gate (fleet status lists them).")),
    gate: Options.text("gate").pipe(Options.withDescription("The gate's step id (fleet status shows it).")),
    approve: Options.boolean("approve").pipe(
      Options.withDescription("The work is done: the site's run goes on (give the gate's evidence).")
    ),
    reject: Options.boolean("reject").pipe(
      Options.withDescription("The site must not go on: its run fails (counts against the failure budget).")
    ),
    defer: Options.boolean("defer").pipe(
      Options.withDescription("Not now: recorded in the site's journal; the gate stays open.")
    ),
    comment: Options.text("comment").pipe(Options.withDescription("What was done, or why (required; journaled).")),
    evidence: Options.keyValueMap("evidence").pipe(
      Options.optional,
      Options.withDescription("Evidence the gate asks for, name=value (repeat the option for each field).")
    ),
    by: Options.text("by").pipe(
      Options.optional,
      Options.withDescription("Who answers (default: the operating-system user).")
    )
  },
  (o) =>
    Effect.gen(function* () {
      const decisions = [o.approve && "approve", o.reject && "reject", o.defer && "defer"].filter(
        (d): d is "approve" | "reject" | "defer" => typeof d === "string"
      )
      if (decisions.length !== 1) return yield* usage("Give exactly one of --approve, --reject or --defer.")
      const id = yield* FleetRun.pick(Option.getOrUndefined(o.rollout))
      const record = yield* Engine.answerGate(
        new SiteGates.AnswerInput({
          rolloutId: id,
          site: o.site,
          stepId: o.gate,
          principal: Option.getOrElse(o.by, osUser),
          decision: decisions[0]!,
          comment: o.comment,
          evidence: Option.match(o.evidence, {
            onNone: () => ({}),
            onSome: (m) => Object.fromEntries(HashMap.toEntries(m))
          })
        })
      ).pipe(
        Effect.mapError((e) =>
          e._tag === "GateAnswerError" || (e._tag === "FleetStoreError" && e.reason._tag === "RolloutNotFound")
            ? usage(e.message)
            : failed(e.message)
        )
      )
      yield* Console.log(
        `Gate ${record.gate.stepId} of site ${record.gate.site} (rollout ${id}): ${
          decisions[0] === "approve" ? "approved" : decisions[0] === "reject" ? "rejected" : "deferred"
        } by ${record.answer?.by ?? "?"}; the site's run takes the answer within the engine's idle interval${
          decisions[0] === "defer" ? " (and keeps waiting)" : ""
        }.`
      )
    }).pipe(Effect.provide(FleetRun.ledger(database(o.database))))
).pipe(
  Command.withDescription(
    "Answer a gate a site of a rollout waits on: --approve (with --evidence), --reject or --defer, with a --comment."
  )
)

/**
 * `sra-upgrade fleet`: its subcommands.
 *
 * @since 0.3.0
 * @category commands
 */
export const command = Command.make("fleet").pipe(
  Command.withDescription("Rollouts over many sites in waves, with a concurrency cap, a failure budget and windows."),
  Command.withSubcommands([plan, run, status, pause, resume, abort, approve, answer])
)
