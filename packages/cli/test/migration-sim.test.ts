/**
 * A move to new hardware from the command (`--method migration`,
 * MIGRATE-1…9) against a live simulator over real sockets: old box A
 * serving the site by DNS, factory-fresh box N. `run --yes --simulator`
 * plays every gate (the new box's API account is created at MIGRATE-1 and
 * its credentials file written beside the site file); the end state is read
 * back from the simulator's API. And the site file's `migration:` section
 * decodes with path-precise errors.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { SimControl, Simulator, SiteFile } from "@sra-upgrade/simulator"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest"
import * as Cli from "../src/Cli.js"
import { folder, runCli, siteYaml } from "./support.js"

let sim: Awaited<ReturnType<typeof Simulator.startPromise>>
let dir: string
let site: string

beforeAll(async () => {
  sim = await Simulator.startPromise(SiteFile.migrationConfig({ timeScale: 600, version: "24.3.2" }))
  await Effect.runPromise(SiteFile.installSiteCertificate(sim))
  dir = folder({})
  const described = SiteFile.describeMigration(sim, { backupDirectory: join(dir, "backups") })
  writeFileSync(join(dir, "client-secret"), described.secret + "\n", { mode: 0o600 })
  writeFileSync(join(dir, "bundle-passphrase"), described.passphrase + "\n", { mode: 0o600 })
  writeFileSync(join(dir, "simulator-ca.pem"), described.caPem)
  site = join(dir, "site.json")
  writeFileSync(site, JSON.stringify(described.site, null, 2))
}, 60_000)

afterAll(async () => {
  await sim?.close()
})

interface State {
  readonly appliances: ReadonlyArray<{
    readonly id: string
    readonly version: string
    readonly lifecycle: string
    readonly defaultCredentials: boolean
    readonly siteMember: boolean
    readonly certificates: ReadonlyArray<{ readonly fingerprint256: string; readonly isDefault: boolean }>
  }>
  readonly site: { readonly reaches: ReadonlyArray<string> }
}

describe("sra-upgrade --method migration (simulator)", () => {
  it("MIGRATE-1, MIGRATE-2, MIGRATE-6, MIGRATE-7, MIGRATE-8, MIGRATE-9: plan lists the move; run --method migration --yes --simulator moves the site from A to N and decommissions A", async () => {
    const planned = await runCli("plan", "--site", site, "--to", "24.3.2", "--method", "migration", "--format", "json")
    expect(planned.code, planned.stderr).toBe(0)
    const plan = JSON.parse(planned.stdout) as { kind: string; steps: Array<{ id: string }> }
    expect(plan.kind).toBe("migration")
    expect(plan.steps.map((s) => s.id)).toEqual(
      expect.arrayContaining(["migrate/new-install", "migrate/restore", "migrate/cutover", "migrate/old-power-off"])
    )

    const runs = join(dir, "runs")
    const r = await runCli(
      "run",
      "--site",
      site,
      "--to",
      "24.3.2",
      "--method",
      "migration",
      "--yes",
      "--simulator",
      sim.controlUrl,
      "--runs",
      runs,
      "--run-id",
      "m1"
    )
    expect(r.code, `${r.stdout.slice(-3000)}\n${r.stderr}`).toBe(0)

    // the end state, read back from the simulator
    const state = (await Effect.runPromise(sim.control("GET", "/state"))) as State
    const a = state.appliances.find((x) => x.id === "A")!
    const n = state.appliances.find((x) => x.id === "N")!
    expect(n).toMatchObject({ version: "24.3.2", lifecycle: "Running", defaultCredentials: false, siteMember: true })
    expect(
      n.certificates
        .find((c) => c.isDefault)!
        .fingerprint256.replaceAll(":", "")
        .toLowerCase()
    ).toBe(sim.siteCertificate!.sha256)
    expect(a.lifecycle).toBe("PoweredOff")
    expect(state.site.reaches).toEqual(["N"])

    // the action log: each non-idempotent action of the move once, in the plan's order
    const log = await Effect.runPromise(SimControl.actions(sim.controlUrl))
    const of = (appliance: string | null, action: string) =>
      log.filter((x) => x.appliance === appliance && x.action === action)
    // MIGRATE-1: no API account is ever made on the new box (it has the old box's after the restore)
    expect(of("N", "api-account-created")).toHaveLength(0)
    expect(of("N", "install-started")).toHaveLength(1)
    expect(of("N", "install-started")[0]!.detail["package"]).toBe("site-24.3.2")
    expect(of("N", "restore")).toHaveLength(1)
    expect(of(null, "dns-changed").map((x) => x.detail["target"])).toEqual(["N"])
    expect(of("A", "factory-reset")).toHaveLength(1)
    expect(of("A", "power-off")).toHaveLength(1)
    const seq = (appliance: string | null, action: string) => of(appliance, action)[0]!.seq
    expect(seq("N", "restore")).toBeGreaterThan(seq("N", "install-started"))
    expect(seq(null, "dns-changed")).toBeGreaterThan(seq("N", "restore"))
    expect(seq("A", "factory-reset")).toBeGreaterThan(seq(null, "dns-changed"))

    // availability measured through the cut-over
    const report = JSON.parse(readFileSync(join(runs, "m1.report.json"), "utf8")) as {
      status: string
      availability?: { probes: number }
    }
    expect(report.status).toBe("succeeded")
    expect(report.availability!.probes).toBeGreaterThan(0)
  }, 240_000)
})

/** `plan --method migration` offline (no appliance contacted). */
const planMigration = (file: string, ...more: ReadonlyArray<string>) =>
  runCli("plan", "--site", file, "--to", "24.3.2", "--method", "migration", "--current", "24.3.2", ...more)

describe("the site file's migration: section", () => {
  const migrationSection = (fields: string) => `
trafficSwitch: { method: dns, ttlSeconds: 60 }
migration:
${fields}`

  it("MIGRATE-1: a bad migration section gives exit 2 and one message per field, by path", async () => {
    const d = folder({
      "site.yaml": siteYaml({
        extra: migrationSection(`  oldKind: recycled
  newAppliance:
    id: N
    apiUrl: https://10.20.0.21
    uniqueIp: 10.20.0.11
    kind: cardboard
  bundlePassphrase: { file: ./bundle-passphrase }
`)
      })
    })
    const r = await planMigration(join(d, "site.yaml"))
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("migration.oldKind")
    expect(r.stderr).toContain('"physical"')
    expect(r.stderr).toContain("migration.newAppliance.kind")
  })

  it("MIGRATE-1: the new appliance on the old one's IP is refused by path", async () => {
    const d = folder({
      "site.yaml": siteYaml({
        extra: migrationSection(`  oldKind: virtual
  newAppliance:
    id: N
    apiUrl: https://10.20.0.21
    uniqueIp: 10.20.0.11
  bundlePassphrase: { file: ./bundle-passphrase }
`)
      })
    })
    const r = await planMigration(join(d, "site.yaml"))
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("migration.newAppliance.uniqueIp")
    expect(r.stderr).toContain("its own unique IP (MIGRATE-1)")
  })

  it("MIGRATE-1: --method migration without a migration section, and a migration section without --method, say what to do", async () => {
    const plain = folder({ "site.yaml": siteYaml() })
    const r1 = await planMigration(join(plain, "site.yaml"))
    expect(r1.code).toBe(2)
    expect(r1.stderr).toContain("--method migration needs a migration: section")
    const withSection = folder({
      "site.yaml": siteYaml({
        extra: migrationSection(`  oldKind: virtual
  newAppliance:
    id: N
    apiUrl: https://10.20.0.21
    uniqueIp: 10.20.0.21
  bundlePassphrase: { file: ./bundle-passphrase }
`)
      })
    })
    const r2 = await runCli("plan", "--site", join(withSection, "site.yaml"), "--to", "24.3.2", "--current", "24.3.2")
    expect(r2.code).toBe(2)
    expect(r2.stderr).toContain("give --method migration")
    const r3 = await planMigration(join(withSection, "site.yaml"), "--format", "table")
    expect(r3.code, r3.stderr).toBe(0)
    expect(r3.stdout).toContain("Restore the settings of A on N")
  })
})

describe("sra-upgrade sim --migration", () => {
  it("MIGRATE-1, MIGRATE-8: --write-site writes a migration site file that run --method migration --yes completes", async () => {
    const d = folder({})
    const file = join(d, "sim.yaml")
    let printed: (p: { control: string }) => void = () => undefined
    const started = new Promise<{ control: string }>((resolve) => (printed = resolve))
    const log = vi.spyOn(console, "log").mockImplementation((line: unknown) => {
      if (typeof line === "string" && line.startsWith("{")) printed(JSON.parse(line) as { control: string })
    })
    const fiber = Effect.runFork(
      Cli.main([
        "node",
        "sra-upgrade",
        "sim",
        "--migration",
        "--time-scale",
        "600",
        "--write-site",
        file,
        "--json"
      ]).pipe(Effect.provide(NodeContext.layer))
    )
    try {
      const { control } = await started
      log.mockRestore()
      const r = await runCli(
        "run",
        "--site",
        file,
        "--to",
        "24.3.2",
        "--method",
        "migration",
        "--yes",
        "--simulator",
        control,
        "--runs",
        join(d, "runs"),
        "--run-id",
        "s1"
      )
      expect(r.code, `${r.stdout.slice(-2000)}\n${r.stderr}`).toBe(0)
      const state = (await (await fetch(`${control}/state`)).json()) as State
      expect(state.site.reaches).toEqual(["N"])
      expect(state.appliances.find((a) => a.id === "A")!.lifecycle).toBe("PoweredOff")
    } finally {
      log.mockRestore()
      await Effect.runPromise(Fiber.interrupt(fiber))
    }
  }, 240_000)
})
