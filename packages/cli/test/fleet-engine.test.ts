/**
 * The fleet engine survives SIGKILL: a rollout of simulated sites run by
 * `sra-upgrade fleet run` (embedded, SQLite) or by `sra-upgrade runner`
 * processes (distributed, PostgreSQL), killed mid-install; the rollout
 * completes, every non-idempotent appliance action happened exactly once
 * (the simulator's action log) and every site's journal replays.
 */
import { describe, expect, it } from "@effect/vitest"
import { Executor, Operator, StepHandler } from "@sra-upgrade/core"
import { PgClient } from "@effect/sql-pg"
import * as SqlClient from "@effect/sql/SqlClient"
import { EngineLayer } from "@sra-upgrade/fleet"
import { TestPostgres } from "@sra-upgrade/fleet/test"
import { SimActions, Simulator } from "@sra-upgrade/simulator"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import * as net from "node:net"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import * as DemoFleet from "../src/DemoFleet.js"
import * as FleetRun from "../src/internal/fleetRun.js"

const root = resolve(__dirname, "../../..")
const bin = join(root, "packages/cli/src/bin.ts")
const SCALE = 1200

interface Proc {
  readonly child: ChildProcess
  readonly out: Array<string>
  readonly exited: Promise<number | null>
}

const start = (args: ReadonlyArray<string>): Proc => {
  const child = spawn(process.execPath, ["--import", "tsx", bin, ...args], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"]
  })
  const out: Array<string> = []
  child.stdout!.on("data", (b: Buffer) => out.push(b.toString()))
  child.stderr!.on("data", (b: Buffer) => out.push(b.toString()))
  const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)))
  return { child, out, exited }
}

const actionsOf = (sims: Simulator.SitesHandle) =>
  Effect.flatMap(sims.control("GET", "/actions"), SimActions.decodeActions).pipe(Effect.orDie)

/** Wait until an install started on a site (mid-install), return that site. */
const installing = (sims: Simulator.SitesHandle) =>
  Effect.gen(function* () {
    for (;;) {
      const a = (yield* actionsOf(sims)).find((x) => x.action === "install-started")
      if (a) return a.site
      yield* Effect.sleep("100 millis")
    }
  })

const freePort = () =>
  new Promise<number>((res, rej) => {
    const s = net.createServer()
    s.once("error", rej)
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port
      s.close(() => res(p))
    })
  })

const spec: DemoFleet.SimulatedFleet = {
  id: "takeover",
  order: ["site-001", "site-002", "site-003", "site-004", "site-005", "site-006"],
  pairs: new Set(["site-001", "site-002"]),
  waves: ["{ name: all, rest: true }"],
  concurrency: 3,
  failureBudget: 0
}

/** After the rollout: what every site's journal replays to. */
const replayed = (database: Parameters<typeof EngineLayer.ledgerOnly>[0]) =>
  Effect.forEach(spec.order, (site) =>
    Effect.map(Executor.report(FleetRun.siteRunId(spec.id, site)), (r) => [site, r.status] as const)
  ).pipe(
    Effect.provide(
      Executor.layer.pipe(
        Layer.provide(Layer.mergeAll(StepHandler.layerRaw({}), Operator.layerScripted({}))),
        Layer.provideMerge(EngineLayer.ledgerOnly(database))
      )
    ),
    Effect.orDie
  )

const check = (sims: Simulator.SitesHandle, killedSite: string) =>
  Effect.gen(function* () {
    const actions = yield* actionsOf(sims)
    expect(SimActions.exactlyOnce(actions)).toEqual([])
    const installs = actions.filter((a) => a.action === "install-started" && a.site === killedSite)
    expect(installs.length).toBeGreaterThan(0)
  })

describe("fleet engine: SIGKILL", () => {
  it.live(
    "FLEET-CRASH-1 embedded (SQLite): fleet run killed mid-install, run again: the rollout completes, each non-idempotent action once, every journal replays",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const sims = yield* Simulator.startSites({
            sites: 6,
            pairs: 2,
            common: { timeScale: SCALE, fleet: { jumpClients: 10 } }
          })
          const dir = mkdtempSync(join(tmpdir(), "sra-fleet-crash-"))
          const fleet = yield* Effect.promise(() => DemoFleet.writeSimulatedFleet(sims, dir, spec))
          const db = join(dir, "fleet.db")
          const args = [
            "fleet",
            "run",
            "--fleet",
            fleet,
            "--database",
            db,
            "--simulator",
            sims.controlUrl,
            "--time-scale",
            String(SCALE),
            "--json"
          ]
          const first = start(args)
          yield* Effect.addFinalizer(() => Effect.sync(() => first.child.kill("SIGKILL")))
          const killedSite = yield* installing(sims)
          first.child.kill("SIGKILL")
          yield* Effect.promise(() => first.exited)
          const second = start(args)
          yield* Effect.addFinalizer(() => Effect.sync(() => second.child.kill("SIGKILL")))
          const code = yield* Effect.promise(() => second.exited)
          const lastLine = second.out.join("").trim().split("\n").at(-1)!
          expect(code, second.out.join("")).toBe(0)
          expect(JSON.parse(lastLine)).toMatchObject({
            rollout: { status: "succeeded", sites: { succeeded: 6, failed: 0 } }
          })
          yield* check(sims, killedSite)
          const statuses = yield* replayed({ file: db })
          expect(
            statuses.every(([, s]) => s === "succeeded"),
            JSON.stringify(statuses)
          ).toBe(true)
        })
      ),
    240_000
  )

  it.live(
    "FLEET-CRASH-2 distributed (PostgreSQL): two runners, the one that owns a site is killed mid-install; the other takes over, the rollout completes, each non-idempotent action once, every journal replays",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const pg = yield* TestPostgres.start
          const sims = yield* Simulator.startSites({
            sites: 6,
            pairs: 2,
            common: { timeScale: SCALE, fleet: { jumpClients: 10 } }
          })
          const dir = mkdtempSync(join(tmpdir(), "sra-fleet-takeover-"))
          const fleet = yield* Effect.promise(() => DemoFleet.writeSimulatedFleet(sims, dir, spec))
          const sim = ["--simulator", sims.controlUrl, "--time-scale", String(SCALE)]
          const runners: Array<Proc> = []
          for (let i = 0; i < 2; i++) {
            const port = yield* Effect.promise(freePort)
            const r = start(["runner", "--database", pg.url, "--port", String(port), ...sim])
            runners.push(r)
            yield* Effect.addFinalizer(() => Effect.sync(() => r.child.kill("SIGKILL")))
          }
          const client = start(["fleet", "run", "--fleet", fleet, "--database", pg.url, "--json"])
          yield* Effect.addFinalizer(() => Effect.sync(() => client.child.kill("SIGKILL")))
          const killedSite = yield* installing(sims).pipe(
            Effect.timeoutFail({
              duration: "120 seconds",
              onTimeout: () =>
                new Error(
                  `no install started; runners: ${runners.map((r) => r.out.join("").slice(-3000)).join("\n---\n")}; client: ${client.out.join("")}`
                )
            }),
            Effect.orDie
          )
          // the runner that executes that site: the holder of its journal's fencing epoch
          const owner = yield* ownerOf(pg.url, FleetRun.siteRunId(spec.id, killedSite)).pipe(
            Effect.timeoutFail({
              duration: "60 seconds",
              onTimeout: () => new Error("no holder of the site's journal")
            }),
            Effect.orDie
          )
          const victim = runners.find((r) => r.child.pid === owner)
          expect(victim, `owner pid ${owner}`).toBeDefined()
          victim!.child.kill("SIGKILL")
          const killedAt = Date.now()
          const code = yield* Effect.promise(() => client.exited).pipe(
            Effect.timeout("200 seconds"),
            Effect.catchTag("TimeoutException", () =>
              Effect.flatMap(diagnose(pg.url), (d) =>
                Effect.die(
                  new Error(
                    `the rollout did not end (killed ${killedSite} owner ${owner}); ${d}; runners: ${runners.map((r) => r.out.join("").slice(-3000)).join("\n---\n")}`
                  )
                )
              )
            )
          )
          const lastLine = client.out.join("").trim().split("\n").at(-1)!
          console.log(
            `FLEET-CRASH-2: the rollout ended ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill`
          )
          expect(code, client.out.join("")).toBe(0)
          expect(JSON.parse(lastLine)).toMatchObject({
            rollout: { status: "succeeded", sites: { succeeded: 6, failed: 0 } }
          })
          yield* check(sims, killedSite)
          // the survivor took the site over: it holds a newer fencing epoch of its journal
          const survivor = runners.find((r) => r !== victim)!
          const after = yield* holderOf(pg.url, FleetRun.siteRunId(spec.id, killedSite))
          expect(after.holder).toContain(`pid-${survivor.child.pid}`)
          expect(after.epoch).toBeGreaterThanOrEqual(2)
          const statuses = yield* replayed({ url: Redacted.make(pg.url) })
          expect(
            statuses.every(([, s]) => s === "succeeded"),
            JSON.stringify(statuses)
          ).toBe(true)
        })
      ),
    300_000
  )
})

/** The ledger, the journals' holders and the engine's messages, for a failure message. */
const diagnose = (url: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const sites = yield* sql`SELECT site_id, state FROM fleet_sites`
    const runs = yield* sql`SELECT run_id, epoch, holder FROM sra_journal_runs`
    const messages =
      yield* sql`SELECT entity_type, tag, processed, COUNT(*) AS n FROM cluster_messages GROUP BY 1, 2, 3`
    const runners = yield* sql`SELECT address, healthy, last_heartbeat FROM cluster_runners`
    return JSON.stringify({ sites, runs, messages, runners })
  }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url) })), Effect.orDie)

const holderOf = (url: string, runId: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{
      holder: string
      epoch: number
    }>`SELECT holder, epoch FROM sra_journal_runs WHERE run_id = ${runId}`
    return { holder: rows[0]!.holder, epoch: Number(rows[0]!.epoch) }
  }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url) })), Effect.orDie)

/** The pid of the runner holding a run's journal (its `holder` names host:port; runners print their pid). */
const ownerOf = (url: string, runId: string) =>
  Effect.gen(function* () {
    return yield* Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      for (;;) {
        const rows = yield* sql<{ holder: string }>`SELECT holder FROM sra_journal_runs WHERE run_id = ${runId}`
        const h = rows[0]?.holder
        const pid = h !== undefined ? /pid-(\d+)/.exec(h)?.[1] : undefined
        if (pid !== undefined) return Number(pid)
        yield* Effect.sleep("100 millis")
      }
    }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url) })), Effect.orDie)
  })
