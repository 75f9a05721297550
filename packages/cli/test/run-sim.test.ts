/**
 * The everyday commands against a live simulator over real sockets:
 * `check`, `health`, `backup`, `run` (JSON events, the simulator playing the
 * gates), a run stopped by an unanswered gate then `resume`d, `status`.
 */
import { SimConfig, Simulator } from "@sra-upgrade/simulator"
import { existsSync, readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Demo from "../src/Demo.js"
import { folder, runCli } from "./support.js"

let sim: Awaited<ReturnType<typeof Simulator.startPromise>>
let dir: string
let site: string

beforeAll(async () => {
  const defaults = SimConfig.make()
  sim = await Simulator.startPromise({
    timeScale: 600,
    appliances: [{ ...defaults.appliances[0]!, failoverRole: "none" }],
    updates: defaults.updates.filter((u) => u.kind !== "license")
  })
  dir = folder({})
  const { caPem, secret, yaml } = Demo.siteFileFor(sim, "single", join(dir, "backups"))
  writeFileSync(join(dir, "client-secret"), secret + "\n")
  writeFileSync(join(dir, "simulator-ca.pem"), caPem)
  site = join(dir, "site.yaml")
  writeFileSync(site, yaml)
})

afterAll(async () => {
  await sim?.close()
})

describe("commands against the simulator", () => {
  it("check: every readiness check passes or is advisory, exit 0", async () => {
    const r = await runCli("check", "--site", site, "--to", "24.3.2")
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain("Appliance clock is right")
    expect(r.stdout).toMatch(/Ready: \d+ check\(s\)/)
  })

  it("health: version, role and clock skew of the appliance", async () => {
    const r = await runCli("health", "--site", site, "--json")
    expect(r.code, r.stderr).toBe(0)
    const rows = JSON.parse(r.stdout) as Array<{ id: string; version: string; healthy: boolean; failoverRole: string }>
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ id: "A", healthy: true, failoverRole: "none" })
    expect(rows[0]!.version).toMatch(/^\d+\.\d+\.\d+$/)
  })

  it("PREP-1: backup downloads and verifies a backup into the site's backup folder", async () => {
    const r = await runCli("backup", "--site", site)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/A: .*\.nsb .* sha256 [0-9a-f]{64}/)
    expect(readdirSync(join(dir, "backups")).some((f) => f.endsWith(".nsb"))).toBe(true)
  })

  it("PREP-5: rehearse runs the plan on a seeded simulator and records it; check then finds it", async () => {
    const before = await runCli("check", "--site", site, "--to", "24.3.2", "--json")
    const row = (out: string) =>
      (JSON.parse(out) as Array<{ rules: Array<string>; result: string }>).find((r) => r.rules.includes("PREP-5"))
    expect(row(before.stdout)?.result).toBe("warn")
    const r = await runCli("rehearse", "--site", site, "--to", "24.3.2", "--runs", join(dir, "runs-rehearsal"))
    expect(r.code, r.stderr + r.stdout.slice(-2000)).toBe(0)
    expect(r.stdout).toContain("- Status: **SUCCEEDED**")
    expect(r.stdout).toContain("Rehearsal recorded in")
    expect(readdirSync(join(dir, "backups", "rehearsals")).length).toBe(1)
    const after = await runCli("check", "--site", site, "--to", "24.3.2", "--json")
    expect(row(after.stdout)?.result).toBe("ok")
  }, 120_000)

  it("--yes is refused without a simulator target (exit 2)", async () => {
    const r = await runCli("run", "--site", site, "--to", "24.3.2", "--yes")
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("--yes approves manual gates without a person: it is only allowed against a simulator")
  })

  it("--simulator must be a simulator's control API (exit 2)", async () => {
    const r = await runCli("run", "--site", site, "--to", "24.3.2", "--yes", "--simulator", sim.appliance("A").httpUrl)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("no simulator control API answers there")
  })

  it("run --json: one event per line, the run succeeds, the report is written", async () => {
    const runs = join(dir, "runs-json")
    const r = await runCli(
      "run",
      "--site",
      site,
      "--to",
      "24.3.2",
      "--yes",
      "--simulator",
      sim.controlUrl,
      "--runs",
      runs,
      "--json",
      "--run-id",
      "json-run"
    )
    expect(r.code, r.stderr).toBe(0)
    const events = r.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { runId: string; seq: number; event: { _tag: string; status?: string } })
    expect(events[0]!.event._tag).toBe("RunStarted")
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1))
    expect(events.every((e) => e.runId === "json-run")).toBe(true)
    expect(events.at(-1)!.event).toMatchObject({ _tag: "RunFinished", status: "succeeded" })
    expect(existsSync(join(runs, "json-run.report.md"))).toBe(true)
    expect(existsSync(join(runs, "json-run.report.json"))).toBe(true)

    const status = await runCli("status", "--runs", runs)
    expect(status.code).toBe(0)
    expect(status.stdout).toMatch(/json-run\s+succeeded/)
  }, 120_000)
})

describe("a gate left unanswered, then resume", () => {
  it("the run stops waiting (exit 4, the waiting line, no error); resume with the simulator finishes it (exit 0)", async () => {
    const runs = join(dir, "runs-resume")
    const answers = join(dir, "answers.yaml")
    writeFileSync(
      answers,
      [
        // PREP-10, PREP-9 (24.3 → 25.1 is a new major release), PREP-5: the gates before the certificate stores
        ...["A/release-notes", "A/release-rollout", "A/update-tested"].map(
          (id) => `${id}:\n  answer: approve\n  by: jane\n  evidence: { done: read and recorded }\n`
        ),
        "A/certificate-stores:\n  answer: approve\n  by: jane\n  evidence: { stores: checked }\n"
      ].join("")
    )
    const first = await runCli(
      "run",
      "--site",
      site,
      "--to",
      "25.1.1",
      "--runs",
      runs,
      "--answers",
      answers,
      "--run-id",
      "gated",
      // a simulator target without --yes: waits compressed to its time scale, gates from the answers file
      "--simulator",
      sim.controlUrl
    )
    expect(first.code, first.stderr + first.stdout).toBe(4)
    expect(first.stdout).toContain("approved by jane")
    // a deferred gate is a normal stop: the waiting line (docs/cli.md), no error
    expect(first.stdout).toContain(
      "The run is waiting for an operator. Continue it with: sra-upgrade resume gated --site <site file>"
    )
    expect(first.stderr).not.toContain("error:")
    expect(first.stderr).toBe("")

    const waiting = await runCli("status", "gated", "--runs", runs)
    expect(waiting.stdout).toContain("WAITING-FOR-OPERATOR")

    const second = await runCli(
      "resume",
      "gated",
      "--site",
      site,
      "--runs",
      runs,
      "--yes",
      "--simulator",
      sim.controlUrl
    )
    expect(second.code, second.stderr + second.stdout.slice(-2000)).toBe(0)
    expect(second.stdout).toContain("resumed from the journal")
    expect(second.stdout).toContain("- Status: **SUCCEEDED**")
  }, 180_000)
})

describe("Ctrl-C during a run, then resume", () => {
  it("exit 130 with the journal intact; resume finishes the run", async () => {
    const { spawn } = await import("node:child_process")
    const { createRequire } = await import("node:module")
    const { dirname: dirOf } = await import("node:path")
    const { fileURLToPath } = await import("node:url")
    const defaults = SimConfig.make()
    // slow enough (x60) that the run is inside the base install wait when interrupted
    const slow = await Simulator.startPromise({
      timeScale: 60,
      appliances: [{ ...defaults.appliances[0]!, failoverRole: "none" }],
      updates: defaults.updates.filter((u) => u.kind !== "license")
    })
    try {
      const work = folder({})
      const { caPem, secret, yaml } = Demo.siteFileFor(slow, "single", join(work, "backups"))
      writeFileSync(join(work, "client-secret"), secret + "\n")
      writeFileSync(join(work, "simulator-ca.pem"), caPem)
      const file = join(work, "site.yaml")
      writeFileSync(file, yaml)
      const runs = join(work, "runs")
      const tsx = join(dirOf(createRequire(import.meta.url).resolve("tsx/package.json")), "dist", "cli.mjs")
      const bin = join(dirOf(fileURLToPath(import.meta.url)), "..", "src", "bin.ts")
      const child = spawn(
        process.execPath,
        [
          tsx,
          bin,
          "run",
          "--site",
          file,
          "--to",
          "24.3.2",
          "--runs",
          runs,
          "--run-id",
          "ctrl-c",
          "--yes",
          "--simulator",
          slow.controlUrl
        ],
        { stdio: ["ignore", "pipe", "pipe"] }
      )
      let out = ""
      const code = await new Promise<number | null>((resolve) => {
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString()
          if (out.includes("Wait for base-6.2.1 to be installed") && !child.killed) child.kill("SIGINT")
        })
        child.stderr.on("data", (d: Buffer) => (out += d.toString()))
        child.on("close", (c) => resolve(c))
      })
      expect(code, out).toBe(130)
      const stopped = await runCli("status", "--runs", runs)
      expect(stopped.stdout).toMatch(/ctrl-c\s+(cancelled|running)/)
      // speed the simulator up for the rest (the journaled plan keeps its x60 compression)
      await fetch(`${slow.controlUrl}/clock`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ timeScale: 600 })
      })
      const resumed = await runCli(
        "resume",
        "ctrl-c",
        "--site",
        file,
        "--runs",
        runs,
        "--yes",
        "--simulator",
        slow.controlUrl
      )
      expect(resumed.code, resumed.stderr + resumed.stdout.slice(-2000)).toBe(0)
      expect(resumed.stdout).toContain("resumed from the journal")
      expect(resumed.stdout).toContain("- Status: **SUCCEEDED**")
    } finally {
      await slow.close()
    }
  }, 180_000)
})
