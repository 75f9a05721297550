/**
 * `sra-upgrade serve`: the portal service (`@sra-upgrade/server`) on a sites
 * folder, a tokens file and a runs folder; `--demo` starts it on an embedded
 * simulated failover pair with one token per role, the simulator performing
 * each gate once people approved it. Runs until Ctrl-C, which closes open
 * event streams at once.
 *
 * @since 0.3.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Planners } from "@sra-upgrade/failover"
import { EngineLayer } from "@sra-upgrade/fleet"
import { Auth, Policy, Server, type Sites, Webhooks } from "@sra-upgrade/server"
import { SimConfig, SimOperator, Simulator, SiteFile } from "@sra-upgrade/simulator"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { CliError, ExitCode, usage } from "../CliError.js"
import * as Runner from "../internal/runner.js"

/**
 * The principals of `serve --demo`, one per role (two approvers for four-eyes gates).
 *
 * @since 0.3.0
 * @category models
 */
export const demoPrincipals: ReadonlyArray<Auth.Principal> = [
  new Auth.Principal({ id: "viewer", name: "Demo viewer", role: "viewer" }),
  new Auth.Principal({ id: "operator", name: "Demo operator", role: "operator" }),
  new Auth.Principal({ id: "approver", name: "Demo approver", role: "approver" }),
  new Auth.Principal({ id: "approver2", name: "Second demo approver", role: "approver" }),
  new Auth.Principal({ id: "admin", name: "Demo admin", role: "admin" })
]

/**
 * What `serve --demo` adds for its simulator: the site front as the site
 * address (and an extra connection to it, which tells which appliance
 * answers there), time compressed by the simulator's scale, the site address
 * probed every 50 ms, and the simulator performing each approved gate.
 *
 * @since 0.3.0
 * @category constructors
 */
export const simulatorWiring = (
  sim: Simulator.SimulatorHandle,
  timeScale: number,
  certificatesDirectory: string
): { readonly tuning: Sites.Tuning; readonly perform: NonNullable<Server.Options["perform"]> } => {
  const operator = SimOperator.make({ controlUrl: sim.controlUrl, exportDirectory: certificatesDirectory })
  return {
    tuning: {
      connections: (site, connections) =>
        site.isPair && connections.length > 0
          ? [...connections, { ...connections[0]!, id: "site", baseUrl: sim.site.httpsUrl }]
          : connections,
      planInputs: (site) => (site.isPair ? { siteUrl: sim.site.httpUrl, siteClientId: "site" } : {}),
      runPlan: (plan) => Planners.compress(plan, timeScale),
      baseGraceSeconds: Math.max(1, 300 / timeScale),
      prober: () => ({ url: sim.site.httpUrl, hostname: sim.site.hostname, intervalMillis: 50 })
    },
    perform: (request, approved) =>
      Effect.map(operator.answer(request), (played) =>
        played._tag === "Approved"
          ? { ...approved, evidence: { ...approved.evidence, ...played.evidence } }
          : { ...played, ...(played._tag === "Rejected" ? { approvals: approved.approvals ?? [] } : {}) }
      ) as never
  }
}

const readText = (file: string, what: string) =>
  Effect.tryPromise({
    try: () => readFile(file, "utf8"),
    catch: (e) => usage(`cannot read the ${what} ${file} (${(e as { code?: string }).code ?? String(e)}).`)
  })

const serveUntilInterrupted = (options: Server.Options, announce: (handle: Server.Handle) => Effect.Effect<void>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const context = yield* Layer.build(Server.layer(options)).pipe(
        Effect.mapError((e) => new CliError({ exitCode: ExitCode.usage, message: e.message }))
      )
      const handle = yield* Effect.provide(Server.PortalServer, context)
      yield* announce(handle)
      return yield* Effect.never
    })
  )

const portOpt = Options.integer("port").pipe(
  Options.optional,
  Options.withDescription("Port to listen on (default 8080; with --demo 0, a free port).")
)

/**
 * The `serve` command.
 *
 * @since 0.3.0
 * @category commands
 */
export const command = Command.make(
  "serve",
  {
    sites: Options.text("sites").pipe(
      Options.withDefault("./sites"),
      Options.withDescription("Folder of the site files (*.yaml, *.yml, *.json; the id is the file name).")
    ),
    tokens: Options.text("tokens").pipe(
      Options.optional,
      Options.withDescription("Tokens file (SHA-256 hashes and roles; see docs/portal.md). Required but with --demo.")
    ),
    runs: Options.text("runs").pipe(
      Options.withDefault(Runner.defaultRunsDir),
      Options.withDescription("Folder of the run journals (and the service's own files, in .portal/).")
    ),
    webhooks: Options.text("webhooks").pipe(
      Options.optional,
      Options.withDescription("Webhooks file: endpoints, their whsec_ secrets and events (see docs/portal.md).")
    ),
    policies: Options.text("policies").pipe(
      Options.optional,
      Options.withDescription("Approval policies file overriding the defaults (see docs/portal.md).")
    ),
    port: portOpt,
    host: Options.text("host").pipe(Options.withDefault("127.0.0.1"), Options.withDescription("Address to listen on.")),
    tlsCert: Options.text("tls-cert").pipe(
      Options.optional,
      Options.withDescription("PEM certificate chain: serve HTTPS.")
    ),
    tlsKey: Options.text("tls-key").pipe(Options.optional, Options.withDescription("PEM private key of --tls-cert.")),
    pageDir: Options.text("page-dir").pipe(
      Options.optional,
      Options.withDescription("Built page files (default: the package's dist/page, written by pnpm build).")
    ),
    demo: Options.boolean("demo").pipe(
      Options.withDescription(
        "Serve an embedded simulated failover pair (its site, a temporary runs folder unless --runs is given, one token per role)."
      )
    ),
    timeScale: Options.float("time-scale").pipe(
      Options.withDefault(600),
      Options.withDescription("--demo: simulated seconds per real second.")
    ),
    json: Options.boolean("json").pipe(
      Options.withDescription('Print one JSON line first: {"url", "tokens"} (tokens with --demo only).')
    ),
    logRequests: Options.boolean("log-requests").pipe(Options.withDescription("Log every request.")),
    publicUrl: Options.text("public-url").pipe(
      Options.optional,
      Options.withDescription("The portal's address as people reach it (behind a proxy), for links in webhooks.")
    ),
    fleetDatabase: Options.text("fleet-database").pipe(
      Options.optional,
      Options.withDescription(
        "The fleet's database (a SQLite file or a postgres:// URL, the --database of `fleet run`): rollouts, wave approvals and the gates sites wait on in the API."
      )
    )
  },
  (o) =>
    Effect.gen(function* () {
      if (Option.isSome(o.tlsCert) !== Option.isSome(o.tlsKey))
        return yield* usage("--tls-cert and --tls-key go together: give both, or neither.")
      const tls =
        Option.isSome(o.tlsCert) && Option.isSome(o.tlsKey)
          ? {
              cert: yield* readText(o.tlsCert.value, "TLS certificate"),
              key: yield* readText(o.tlsKey.value, "TLS key")
            }
          : undefined
      const policiesFile = Option.getOrUndefined(o.policies)
      const policies =
        policiesFile === undefined
          ? undefined
          : yield* Schema.decodeUnknown(Schema.parseJson(Policy.PoliciesConfig))(
              yield* readText(policiesFile, "policies file")
            ).pipe(Effect.mapError((e) => usage(`${policiesFile}: not a policies file: ${e.message}`)))
      const webhooks = Option.isSome(o.webhooks)
        ? yield* Webhooks.load(resolve(o.webhooks.value)).pipe(Effect.mapError((e) => usage(e.message)))
        : undefined
      const common = {
        host: o.host,
        ...(tls === undefined ? {} : { tls }),
        ...(Option.isSome(o.pageDir) ? { pageDirectory: resolve(o.pageDir.value) } : {}),
        ...(policies === undefined ? {} : { policies }),
        ...(webhooks === undefined ? {} : { webhooks }),
        logRequests: o.logRequests,
        ...(Option.isSome(o.publicUrl) ? { publicUrl: o.publicUrl.value } : {}),
        ...(Option.isSome(o.fleetDatabase) ? { fleet: EngineLayer.parseDatabase(o.fleetDatabase.value) } : {})
      }
      if (!o.demo) {
        if (Option.isNone(o.tokens))
          return yield* usage("give --tokens FILE (hashes and roles of the people who may call; see docs/portal.md)")
        return yield* serveUntilInterrupted(
          {
            ...common,
            runsDirectory: o.runs,
            sitesDirectory: o.sites,
            tokens: Auth.layerFile(o.tokens.value),
            port: Option.getOrElse(o.port, () => 8080)
          },
          (h) =>
            o.json
              ? Console.log(JSON.stringify({ url: h.url, resumed: h.resumed }))
              : Console.log(
                  [
                    `sra-upgrade portal on ${h.url}  (API docs: ${h.url}/api/docs)`,
                    ...(h.resumed.length > 0 ? [`Resumed ${h.resumed.length} run(s): ${h.resumed.join(", ")}`] : []),
                    "Ctrl-C to stop."
                  ].join("\n")
                )
        )
      }
      // --demo
      if (!(o.timeScale >= 1)) return yield* usage(`--time-scale must be at least 1, got ${o.timeScale}`)
      return yield* Effect.scoped(
        Effect.gen(function* () {
          const dir = yield* Effect.acquireRelease(
            Effect.promise(() => mkdtemp(join(tmpdir(), "sra-upgrade-serve-demo-"))),
            (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
          )
          const defaults = SimConfig.make()
          const sim = yield* Simulator.start({
            timeScale: o.timeScale,
            updates: defaults.updates.filter((u) => u.kind !== "license"),
            fleet: { jumpClients: 40 }
          }).pipe(Effect.mapError((e) => usage(e.message)))
          const sitesDirectory = join(dir, "sites")
          // windows for people clicking through gates: the first lasts 12 h simulated (72 s at x600) so the
          // run reaches it; the second opens right after it and stays open a week (people take their time)
          const { caPem, secret, site } = SiteFile.describe(sim, {
            pair: true,
            backupDirectory: join(dir, "backups"),
            windows: { firstMinutes: 12 * 60, gapMinutes: 5, secondMinutes: 7 * 24 * 60 }
          })
          yield* Effect.promise(async () => {
            await mkdir(sitesDirectory, { recursive: true })
            await writeFile(join(sitesDirectory, "client-secret"), secret + "\n", { mode: 0o600 })
            await writeFile(join(sitesDirectory, "simulator-ca.pem"), caPem)
            await writeFile(join(sitesDirectory, "demo-pair.json"), JSON.stringify(site, null, 2))
          })
          const issued = Auth.issue(demoPrincipals)
          const wiring = simulatorWiring(sim, o.timeScale, join(dir, "certificates"))
          const runsDirectory = o.runs === Runner.defaultRunsDir ? join(dir, "runs") : o.runs
          return yield* serveUntilInterrupted(
            {
              ...common,
              runsDirectory,
              sitesDirectory,
              tokens: Auth.layerMemory(issued),
              port: Option.getOrElse(o.port, () => 0),
              tuning: wiring.tuning,
              perform: wiring.perform
            },
            (h) => {
              const tokens = Object.fromEntries(issued.map((i) => [i.principal.id, Redacted.value(i.token)]))
              return o.json
                ? Console.log(JSON.stringify({ url: h.url, tokens, site: "demo-pair", runs: runsDirectory }))
                : Console.log(
                    [
                      `sra-upgrade portal (demo) on ${h.url}  (API docs: ${h.url}/api/docs)`,
                      `Site "demo-pair": a simulated failover pair, time x${o.timeScale}; runs in ${runsDirectory}`,
                      "Tokens (demo only; paste one into the page):",
                      ...issued.map(
                        (i) => `  ${i.principal.id.padEnd(10)} ${i.principal.role.padEnd(9)} ${Redacted.value(i.token)}`
                      ),
                      "Ctrl-C to stop."
                    ].join("\n")
                  )
            }
          )
        })
      )
    })
).pipe(
  Command.withDescription(
    "Serve the portal: HTTP API (OpenAPI at /api/openapi.json), live events, approvals, webhooks and the web page. --demo: on an embedded simulator."
  )
)
