/**
 * Measured site downtime of the two failover-pair methods, side by side.
 *
 *   pnpm exec tsx bench/pair-downtime.ts [timeScale] [probeIntervalMillis] [traffic] [switchSeconds]
 *
 * Runs the synchronous plan, then the asynchronous plan, each against a fresh
 * simulated pair (real HTTP sockets, the live adapter, the executor, the
 * simulator operator playing every manual gate), with realistic durations
 * (30 min install + 3 min reboot + 60 s per GiB of the 4 GiB stored data)
 * compressed by the time scale. A site prober hits the site address
 * (`/check_health` with the site host name) every probe interval for the
 * whole run. Figures are printed in real milliseconds and converted back to
 * simulated ("real life") time by multiplying by the time scale. The baseline
 * beside them is the install duration the simulator itself scheduled. With a
 * shared IP, the operator waits `switchSeconds` (simulated, default 60) between
 * disabling the IP on A and enabling it on B, as a person moving between the
 * two network pages would.
 *
 * Expected: asynchronous downtime no longer than the switch (a couple of
 * probe intervals); synchronous downtime close to the install time of A.
 */
import { ApplianceClient } from "@sra-upgrade/appliance-client"
import { CoreHandlers, Executor, Journal, MaintenanceWindow, Operator, Site, StepHandler } from "@sra-upgrade/core"
import { FailoverHandlers, PairPlan, SiteProber, TrafficSwitch } from "@sra-upgrade/failover"
import { SimOperator, Simulator } from "@sra-upgrade/simulator"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const TIME_SCALE = Number(process.argv[2] ?? 300)
const PROBE_MS = Number(process.argv[3] ?? 100)
const TRAFFIC = (process.argv[4] ?? "shared-ip") as "shared-ip" | "dns" | "nat"
/** Simulated seconds a person takes between saving A's network page and B's (shared IP only). */
const SWITCH_SECONDS = Number(process.argv[5] ?? 60)
const SHARED_IP = "10.0.0.10"
const TARGET = "25.1.1"
const DNS_TTL = 60

const catalog = [
  {
    id: "site-25.1.1",
    kind: "site" as const,
    version: TARGET,
    build: "43109-9a8b7c6d5e4f30211f2e3d4c5b6a79880a1b2c3d",
    requires: [],
    installSeconds: 30 * 60,
    rebootSeconds: 180
  }
]

interface Result {
  readonly status: string
  readonly error: string | undefined
  readonly wallMillis: number
  readonly probe: SiteProber.Stats
  readonly installSimSeconds: number
}

const runMethod = (method: "sync" | "async") =>
  Effect.scoped(
    Effect.gen(function* () {
      const sim = yield* Simulator.start({
        timeScale: TIME_SCALE,
        traffic: TRAFFIC,
        updates: catalog,
        siteSharedIp: SHARED_IP
      })
      const admin = sim.accounts.find((a) => a.permCommand === "full_access")!
      const a = sim.appliance("A")
      const b = sim.appliance("B")
      const entry = (id: string, role: string, url: string, ip: string) => ({
        id,
        role,
        apiUrl: url,
        allowPlainHttp: true,
        uniqueIp: ip,
        clientId: admin.clientId,
        clientSecret: { env: "SRA_SIM_SECRET" }
      })
      const site = yield* Site.decodeSite(
        JSON.stringify({
          hostname: sim.site.hostname,
          product: "pra",
          appliances: [entry("A", "primary", a.httpUrl, "10.0.0.11"), entry("B", "backup", b.httpUrl, "10.0.0.12")],
          trafficSwitch:
            TRAFFIC === "shared-ip"
              ? { method: "shared-ip", sharedIp: SHARED_IP }
              : TRAFFIC === "dns"
                ? { method: "dns", ttlSeconds: DNS_TTL }
                : { method: "nat" },
          backup: { directory: mkdtempSync(join(tmpdir(), "sra-bench-")) },
          updates: [{ id: "site-25.1.1", kind: "site", version: TARGET }]
        }),
        "json"
      ).pipe(Effect.orDie)
      const conn = (id: string, baseUrl: string): ApplianceClient.Connection => ({
        id,
        baseUrl,
        clientId: admin.clientId,
        clientSecret: admin.clientSecret
      })
      const api = yield* Layer.memoize(
        ApplianceClient.layer([conn("A", a.httpUrl), conn("B", b.httpUrl), conn("site", sim.site.httpUrl)], {
          probeTimeoutMillis: 1_000
        })
      )
      const w1End = Date.now() + 6_000
      const plan = (method === "sync" ? PairPlan.planSynchronous : PairPlan.planAsynchronous)(site, TARGET, {
        current: { A: { product: "24.1.3" }, B: { product: "24.1.3" } },
        windows: [
          new MaintenanceWindow.MaintenanceWindow({
            label: "w1",
            start: new Date(w1End - 3_600_000),
            durationMinutes: 60
          }),
          new MaintenanceWindow.MaintenanceWindow({ label: "w2", start: new Date(w1End), durationMinutes: 60 })
        ],
        siteUrl: sim.site.httpUrl,
        siteClientId: "site",
        pollIntervalSeconds: 0.2
      })
      if (Either.isLeft(plan)) return yield* Effect.die(plan.left)

      // every gate played through the control API; a pause between the two network pages (shared IP)
      const operator = SimOperator.make({
        controlUrl: sim.controlUrl,
        by: "bench",
        sharedIpPauseMillis: (SWITCH_SECONDS / TIME_SCALE) * 1000
      })

      const prober = yield* Layer.memoize(
        SiteProber.layer({ url: sim.site.httpUrl, hostname: site.hostname, intervalMillis: PROBE_MS }).pipe(
          Layer.provide(api)
        )
      )
      const base = Layer.mergeAll(api, Journal.layerMemory)
      const handlers = Layer.provideMerge(
        StepHandler.merge(FailoverHandlers.layer.pipe(Layer.provide(prober)), CoreHandlers.layer()),
        Layer.provideMerge(TrafficSwitch.layer, base)
      )
      const executor = Layer.provide(Executor.layer, Layer.merge(handlers, Layer.succeed(Operator.Operator, operator)))
      const started = Date.now()
      const report = yield* Executor.run(plan.right).pipe(Effect.provide(executor))
      const wallMillis = Date.now() - started
      const probe = yield* Effect.flatMap(SiteProber.SiteProber, (p) => p.snapshot).pipe(Effect.provide(prober))
      const install = report.steps.find((s) => s.id === `${method === "sync" ? "A" : "B"}/install-site-25.1.1`)
      const installSimSeconds = Number(install?.evidence["operator.durationSeconds"] ?? NaN)
      return { status: report.status, error: report.error, wallMillis, probe, installSimSeconds } satisfies Result
    })
  )

const fmt = (simSeconds: number) => {
  if (!Number.isFinite(simSeconds)) return "n/a"
  if (simSeconds < 120) return `${simSeconds.toFixed(0)} s`
  return `${(simSeconds / 60).toFixed(1)} min`
}

const main = Effect.gen(function* () {
  const sync = yield* runMethod("sync")
  const asyn = yield* runMethod("async")
  const row = (label: string, f: (r: Result) => string) =>
    `${label.padEnd(38)}${f(sync).padStart(16)}${f(asyn).padStart(16)}`
  const lines = [
    `pair-downtime: traffic ${TRAFFIC}${TRAFFIC === "shared-ip" ? ` (${SWITCH_SECONDS} s between A's and B's network pages)` : ""}, time scale ${TIME_SCALE} (1 real s = ${TIME_SCALE} simulated s), probe every ${PROBE_MS} ms real = ${fmt((PROBE_MS / 1000) * TIME_SCALE)} simulated`,
    "",
    `${"".padEnd(38)}${"synchronous".padStart(16)}${"asynchronous".padStart(16)}`,
    row("run status", (r) => r.status),
    row("probes sent", (r) => String(r.probe.sent)),
    row("probes failed", (r) => String(r.probe.failed)),
    row("outages", (r) => String(r.probe.outages.length)),
    row("longest outage (real ms)", (r) => String(r.probe.longestOutageMillis)),
    row("total unavailable (real ms)", (r) => String(r.probe.unavailableMillis)),
    row("longest outage (simulated)", (r) => fmt((r.probe.longestOutageMillis / 1000) * TIME_SCALE)),
    row("total unavailable (simulated)", (r) => fmt((r.probe.unavailableMillis / 1000) * TIME_SCALE)),
    row("baseline: first install (simulated)", (r) => fmt(r.installSimSeconds)),
    row("run wall time (real s)", (r) => (r.wallMillis / 1000).toFixed(1))
  ]
  lines.push("", "outages (offset from the first probe, simulated duration, last error):")
  for (const [label, r] of [
    ["synchronous", sync],
    ["asynchronous", asyn]
  ] as const) {
    const t0 = r.probe.startedAt?.getTime() ?? 0
    for (const o of r.probe.outages)
      lines.push(
        `  ${label.padEnd(13)} +${((o.start.getTime() - t0) / 1000).toFixed(1)} s real  ${fmt((o.durationMillis / 1000) * TIME_SCALE).padStart(9)}  ${o.failedProbes} probe(s)  ${o.lastError.slice(0, 70)}`
      )
    if (r.probe.outages.length === 0) lines.push(`  ${label.padEnd(13)} none`)
  }
  for (const r of [sync, asyn]) if (r.error !== undefined) lines.push(`error: ${r.error}`)
  process.stdout.write(`${lines.join("\n")}\n`)
})

Effect.runPromise(main).catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`)
  process.exitCode = 1
})
