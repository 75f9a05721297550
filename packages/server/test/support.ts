// Wiring of the portal tests: a simulator (one appliance or a pair) with a
// site file for it in a sites folder, the tuning `serve --demo` uses (site
// front as the site address, time compressed), the simulator playing each
// gate once people approved it, one token per role, and the service on
// 127.0.0.1 port 0.
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { Planners } from "@sra-upgrade/failover"
import { ApplianceApi, Plan, StepHandler } from "@sra-upgrade/core"
import { Api, Auth, Client, Events, Server, Sites, Webhooks } from "@sra-upgrade/server"
import { SimConfig, SimOperator, Simulator, SiteFile } from "@sra-upgrade/simulator"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), `sra-portal-${prefix}-`))

export const principals = [
  new Auth.Principal({ id: "vera", name: "Vera Viewer", role: "viewer" }),
  new Auth.Principal({ id: "oscar", name: "Oscar Operator", role: "operator" }),
  new Auth.Principal({ id: "ann", name: "Ann Approver", role: "approver" }),
  new Auth.Principal({ id: "bob", name: "Bob Approver", role: "approver" }),
  new Auth.Principal({ id: "ada", name: "Ada Admin", role: "admin" })
] as const

export type Who = "vera" | "oscar" | "ann" | "bob" | "ada"

export interface SimSite {
  readonly sim: Simulator.SimulatorHandle
  readonly sitesDir: string
  readonly siteId: string
  readonly tuning: Sites.Tuning
  readonly perform: Server.Options["perform"]
  readonly timeScale: number
}

/** A simulator and its site file `<id>.json` in a fresh sites folder. */
export const simSite = (
  options: { readonly pair: boolean; readonly timeScale?: number; readonly id?: string } = { pair: false }
): Effect.Effect<SimSite, never, Scope.Scope> =>
  Effect.gen(function* () {
    const timeScale = options.timeScale ?? 600
    const defaults = SimConfig.make()
    const sim = yield* Simulator.start({
      timeScale,
      appliances: options.pair ? defaults.appliances : [{ ...defaults.appliances[0]!, failoverRole: "none" }],
      updates: defaults.updates.filter((u) => u.kind !== "license"),
      fleet: { jumpClients: 20 }
    }).pipe(Effect.orDie)
    const dir = tempDir("site")
    const sitesDir = join(dir, "sites")
    mkdirSync(sitesDir)
    const { caPem, secret, site } = SiteFile.describe(sim, {
      pair: options.pair,
      backupDirectory: join(dir, "backups"),
      secretFile: "client-secret",
      caFile: "simulator-ca.pem"
    })
    const siteId = options.id ?? (options.pair ? "pair" : "single")
    writeFileSync(join(sitesDir, "client-secret"), secret + "\n", { mode: 0o600 })
    writeFileSync(join(sitesDir, "simulator-ca.pem"), caPem)
    writeFileSync(join(sitesDir, `${siteId}.json`), JSON.stringify(site, null, 2))
    const operator = SimOperator.make({ controlUrl: sim.controlUrl, exportDirectory: join(dir, "certificates") })
    const tuning: Sites.Tuning = {
      connections: (s, connections) =>
        s.isPair && connections.length > 0
          ? [...connections, { ...connections[0]!, id: "site", baseUrl: sim.site.httpsUrl }]
          : connections,
      planInputs: (s) => (s.isPair ? { siteUrl: sim.site.httpUrl, siteClientId: "site" } : {}),
      runPlan: (plan) => Planners.compress(plan, timeScale),
      baseGraceSeconds: Math.max(1, 300 / timeScale),
      prober: () => ({ url: sim.site.httpUrl, hostname: sim.site.hostname, intervalMillis: 50 })
    }
    const perform: Server.Options["perform"] = (request, approved) =>
      Effect.map(operator.answer(request), (played) =>
        played._tag === "Approved" ? { ...approved, evidence: { ...approved.evidence, ...played.evidence } } : played
      ) as never
    return { sim, sitesDir, siteId, tuning, perform, timeScale }
  })

export interface Portal {
  readonly url: string
  readonly runsDir: string
  readonly tokens: Readonly<Record<Who, Redacted.Redacted<string>>>
  readonly handle: Server.Handle
  /** What the webhook sender did so far. */
  readonly webhooks: Effect.Effect<Webhooks.Stats>
  /** What the event streams hold. */
  readonly events: Effect.Effect<Events.Stats>
}

/** The issued tokens of the test principals (same for every service of a test). */
export const issueTokens = () => Auth.issue(principals)

export const tokensOf = (issued: ReadonlyArray<Auth.Issued>) =>
  Object.fromEntries(issued.map((i) => [i.principal.id, i.token])) as Record<Who, Redacted.Redacted<string>>

/** The service over a sim site, in the current scope. */
export const portal = (
  site: SimSite | undefined,
  options: Partial<Server.Options> & { readonly issued?: ReadonlyArray<Auth.Issued>; readonly runsDir?: string } = {}
): Effect.Effect<Portal, never, Scope.Scope> =>
  Effect.gen(function* () {
    const issued = options.issued ?? issueTokens()
    const runsDir = options.runsDir ?? join(tempDir("runs"), "runs")
    const context = yield* Layer.build(
      Server.layer({
        runsDirectory: runsDir,
        sitesDirectory: site?.sitesDir ?? tempDir("nosites"),
        tokens: Auth.layerMemory(issued),
        port: 0,
        ...(site === undefined ? {} : { tuning: site.tuning, perform: site.perform }),
        ...options
      })
    ).pipe(Effect.orDie)
    const handle = Context.get(context, Server.PortalServer)
    return {
      url: handle.url,
      runsDir,
      tokens: tokensOf(issued),
      handle,
      webhooks: Context.get(context, Webhooks.Webhooks).stats,
      events: Context.get(context, Events.Events).stats
    }
  })

/** The typed client of one principal. */
export const clientOf = (p: Portal, who: Who | undefined): Effect.Effect<Client.Client> =>
  Client.make({ baseUrl: p.url, token: who === undefined ? undefined : p.tokens[who] }).pipe(
    Effect.provide(FetchHttpClient.layer)
  )

// ---------------------------------------------------------------------------
// quick sites: a plan of our own (gates, a long wait) and handlers without
// appliance I/O, to test policies, deadlines, streams and webhooks fast
// ---------------------------------------------------------------------------

export interface QuickGate {
  readonly id: string
  readonly handler?: string
  readonly params?: Record<string, unknown>
  readonly evidence?: ReadonlyArray<string>
}

/** A plan: the gates in order, then optionally a wait that polls `polls` times with `bytes` of observation. */
export const quickPlan = (
  gates: ReadonlyArray<QuickGate>,
  wait?: { readonly polls: number; readonly bytes: number }
): Plan.Plan =>
  new Plan.Plan({
    id: "quick",
    kind: "custom",
    title: "Quick plan",
    site: "quick.example.com",
    targetVersion: "1.0.0",
    steps: [
      ...gates.map(
        (g) =>
          new Plan.ManualGate({
            id: g.id,
            title: `Gate ${g.id}`,
            rules: [],
            target: "A",
            estimatedSeconds: 1,
            handler: g.handler ?? "quick/confirmed",
            params: g.params ?? {},
            idempotent: true,
            notes: [],
            instructions: [`Do ${g.id}.`],
            evidence: (g.evidence ?? []).map((name) => new Plan.EvidenceField({ name, description: `the ${name}` }))
          })
      ),
      ...(wait === undefined
        ? []
        : [
            new Plan.WaitFor({
              id: "quick/wait",
              title: "Wait a lot",
              rules: [],
              estimatedSeconds: 1,
              handler: "quick/poll",
              params: { polls: wait.polls, bytes: wait.bytes },
              idempotent: true,
              notes: [],
              intervalSeconds: 0.001,
              deadlineSeconds: 3600
            })
          ])
    ],
    notes: []
  })

const quickHandlers = (): Record<string, StepHandler.Handler> => {
  const polled = new Map<string, number>()
  return {
    quick: { run: () => Effect.succeed({ ok: true }) },
    "quick/confirmed": { run: () => Effect.succeed({ verified: true }) },
    "core/confirm-install-started": { run: () => Effect.succeed({ verified: true }) },
    "failover/broken": { run: () => Effect.succeed({ verified: true }) },
    "quick/poll": {
      poll: (ctx) =>
        Effect.sync(() => {
          const n = (polled.get(ctx.runId) ?? 0) + 1
          polled.set(ctx.runId, n)
          const p = ctx.step.params as { polls: number; bytes: number }
          return { holds: n >= p.polls, observed: { n, filler: "x".repeat(p.bytes) } }
        })
    }
  }
}

/** A `Sites` with one site `quick` whose plan is `plan` (any target), handlers without I/O. */
export const quickSites = (plan: () => Plan.Plan): Layer.Layer<Sites.Sites> =>
  Layer.succeed(Sites.Sites, {
    list: Effect.succeed([]),
    get: (id) =>
      id === "quick"
        ? Effect.die("not used")
        : Effect.fail(new Api.NotFound({ resource: "site", id, message: `No site ${id}.` })),
    detail: (id) => Effect.fail(new Api.NotFound({ resource: "site", id, message: `No site ${id}.` })),
    plan: (request) =>
      request.site === "quick"
        ? Effect.succeed(plan())
        : Effect.fail(new Api.NotFound({ resource: "site", id: request.site, message: `No site ${request.site}.` })),
    runtime: (id) =>
      id === "quick"
        ? Effect.succeed({
            entry: { id: "quick", file: "quick.json", site: undefined as never },
            appliances: Layer.succeed(ApplianceApi.ApplianceApi, {} as never),
            handlers: () => StepHandler.layerRaw(quickHandlers()),
            prober: undefined,
            runPlan: (p: Plan.Plan) => p
          })
        : Effect.fail(new Api.NotFound({ resource: "site", id, message: `No site ${id}.` }))
  })

/** Poll `f` until `ok` (real time between tries: the service works on real sockets). */
export const eventually = <A, E, R>(
  f: Effect.Effect<A, E, R>,
  ok: (a: A) => boolean,
  what: string,
  tries = 600
): Effect.Effect<A, E | Error, R> =>
  Effect.gen(function* () {
    let last: A | undefined
    for (let i = 0; i < tries; i++) {
      last = yield* f
      if (ok(last)) return last
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 50)))
    }
    return yield* Effect.fail(new Error(`${what}: not reached; last ${JSON.stringify(last)}`))
  })
