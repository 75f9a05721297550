/**
 * The command's pieces: help, progress lines, the report, answers files,
 * time compression of plans for simulators, exit codes, `certs inspect`.
 */
import { TestChains } from "@sra-upgrade/certificates"
import { Availability, MaintenanceWindow, Operator, Plan, RunEvent, RunReport } from "@sra-upgrade/core"
import { Effect, Either } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import * as CliError from "../src/CliError.js"
import * as Gates from "../src/Gates.js"
import * as Runner from "../src/internal/runner.js"
import * as Planners from "../src/Planners.js"
import * as Progress from "../src/Progress.js"
import * as Report from "../src/Report.js"
import { folder, runCli } from "./support.js"

const at = new Date("2026-12-05T22:00:00Z")
const plus = (s: number) => new Date(at.getTime() + s * 1000)

const plan = new Plan.Plan({
  id: "p",
  kind: "single",
  title: "Upgrade A",
  site: "support.example.com",
  targetVersion: "24.3.2",
  steps: [
    new Plan.ManualGate({
      id: "A/install",
      title: "Install",
      rules: [],
      target: "A",
      estimatedSeconds: 60,
      handler: "h",
      idempotent: true,
      instructions: ["Open the Updates page.", "Press Install this update.", "Wait."]
    }),
    new Plan.WaitFor({
      id: "A/wait",
      title: "Wait for the install",
      rules: [],
      target: "A",
      estimatedSeconds: 1800,
      handler: "h",
      idempotent: true,
      intervalSeconds: 30,
      deadlineSeconds: 3600
    }),
    new Plan.Window({
      id: "w",
      title: "Window",
      rules: [],
      estimatedSeconds: 0,
      handler: "window",
      idempotent: true,
      window: new MaintenanceWindow.MaintenanceWindow({ label: "W", start: plus(6000), durationMinutes: 120 })
    })
  ]
})

const envelope = (seq: number, event: RunEvent.RunEvent) => new RunEvent.Envelope({ runId: "r", seq, event })

describe("--help", () => {
  it("lists every command", async () => {
    const r = await runCli("--help")
    expect(r.code).toBe(0)
    for (const c of ["plan", "check", "run", "resume", "status", "health", "backup", "certs inspect", "sim", "demo"])
      expect(r.stdout).toContain(`- ${c}`)
  })

  it("a command's help shows its options", async () => {
    const r = await runCli("run", "--help")
    expect(r.code).toBe(0)
    for (const o of ["--site", "--to", "--method", "--runs", "--answers", "--yes", "--simulator", "--json"])
      expect(r.stdout).toContain(o)
  })

  it("an unknown command or a missing option is a usage error (exit 2)", async () => {
    expect((await runCli("upgrade-everything")).code).toBe(2)
    const r = await runCli("plan", "--site", "x.yaml")
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("--help")
  })
})

describe("Progress", () => {
  it("shows the step, the gate's first instructions, and a wait's countdown in simulated time", () => {
    const r = Progress.make(plan, { timeScale: 600, instructions: 2 })
    expect(r.lines(envelope(1, new RunEvent.StepStarted({ stepId: "A/install", attempt: 1, at })))).toEqual([
      "▶ [1/3] Install (A)"
    ])
    const gate = r.lines(envelope(2, new RunEvent.GateOpened({ stepId: "A/install", purpose: "gate", at })))
    expect(gate).toEqual([
      "  ✋ manual step: waiting for the operator",
      "     1. Open the Updates page.",
      "     2. Press Install this update."
    ])
    r.lines(envelope(3, new RunEvent.StepStarted({ stepId: "A/wait", attempt: 1, at })))
    // 1 real second at x600 = 10 simulated minutes of the 60-minute deadline
    const [poll] = r.lines(
      envelope(
        4,
        new RunEvent.WaitProgress({
          stepId: "A/wait",
          poll: 1,
          holds: false,
          observed: { version: "24.1.3" },
          at: plus(1)
        })
      )
    )
    expect(poll).toBe("  … poll 1 · 50m00s left (simulated) · observed version=24.1.3")
    const [done] = r.lines(
      envelope(5, new RunEvent.StepSucceeded({ stepId: "A/wait", evidence: {}, warnings: [], at: plus(2) }))
    )
    expect(done).toBe("  ✔ done in 2.0 s (20m00s simulated)")
  })

  it("shows a long step's progress: bytes so far, of the whole, and the rate", () => {
    const r = Progress.make(plan)
    r.lines(envelope(1, new RunEvent.StepStarted({ stepId: "A/install", attempt: 1, at })))
    const [line] = r.lines(
      envelope(
        2,
        new RunEvent.StepProgress({
          stepId: "A/install",
          done: 512 * 1024 ** 2,
          total: 2 * 1024 ** 3,
          unit: "bytes",
          at: plus(4)
        })
      )
    )
    expect(line).toBe("  ↓ 512.0 MiB of 2.0 GiB (25 %) · 128.0 MiB/s")
  })

  it("draws the Jump Client rollout as a bar", () => {
    const r = Progress.make(plan)
    const [line] = r.lines(
      envelope(
        1,
        new RunEvent.WaitProgress({ stepId: "A/wait", poll: 3, holds: false, observed: { total: 40, pending: 10 }, at })
      )
    )
    expect(line).toContain("[##################......]  75% 30/40 up to date")
  })

  it("shows a backup's size and hash from the step evidence", () => {
    const r = Progress.make(plan)
    const lines = r.lines(
      envelope(
        1,
        new RunEvent.StepSucceeded({
          stepId: "A/install",
          evidence: { bytes: 8 * 1024 ** 2, sha256: "ab".repeat(32), path: "/b/x.nsb" },
          warnings: [],
          at
        })
      )
    )
    expect(lines[1]).toBe(`    backup 8.0 MiB, sha256 ${"ab".repeat(8)}… → /b/x.nsb`)
  })
})

describe("Report", () => {
  const report = new RunReport.RunReport({
    runId: "r",
    planId: "p",
    planTitle: "Upgrade A",
    site: "support.example.com",
    targetVersion: "24.3.2",
    status: "succeeded",
    startedAt: at,
    endedAt: plus(10),
    steps: [],
    gates: [],
    resumes: 0,
    cancellations: 0,
    tornRecords: []
  })

  it("has the versions and roles read back and the measured availability", () => {
    const availability = new Availability.Availability({
      url: "http://127.0.0.1:4000",
      probes: 80,
      failed: 2,
      intervalSeconds: 0.1,
      firstProbeAt: at,
      lastProbeAt: plus(10),
      longestOutageSeconds: 0.1,
      totalUnavailableSeconds: 0.2,
      notObservedSeconds: 1.5,
      observedSeconds: 8.5,
      series: 2,
      outages: [
        new Availability.Outage({ from: plus(2), to: plus(2.1), seconds: 0.1, lastError: "HTTP 503" }),
        new Availability.Outage({ from: plus(5), to: plus(5.1), seconds: 0.1, lastError: "refused" })
      ]
    })
    const md = Report.toMarkdown(new RunReport.RunReport({ ...report, availability }), {
      appliances: [{ id: "A", version: "24.3.2", build: "41722-3d1f", role: "primary", healthy: true }],
      timeScale: 600
    })
    expect(md).toContain("- Status: **SUCCEEDED**")
    expect(md).toContain("| A | 24.3.2 (build 41722) | primary | yes |")
    expect(md).toContain(
      "- Probes: 80 every 60 s simulated (0.1 s real) of `GET http://127.0.0.1:4000/check_health`, failed: 2"
    )
    expect(md).toContain("- Longest outage: 60 s simulated (0.1 s real)")
    expect(md).toContain("- Not observed: 900 s simulated (1.5 s real) — while no process was running the run")
    expect(md).toContain("by 2 processes (the run and its resumes)")
    expect(md).toContain("last error: HTTP 503")
    expect(md).toContain("- Duration: 10.0s (1h 40m sim.) (simulator time x600)")
  })

  it("says availability was not measured when no prober ran (old journals)", () => {
    expect(Report.toMarkdown(report)).toContain("Not measured: no site prober ran during this run")
  })

  it("as JSON: the executor's report plus what was observed", () => {
    const json = JSON.parse(Report.toJson(report, { appliances: [] })) as { status: string; observed: unknown }
    expect(json.status).toBe("succeeded")
    expect(json.observed).toEqual({ appliances: [] })
  })
})

describe("answers files", () => {
  it("maps step ids to approvals, rejections and deferrals", async () => {
    const dir = folder({
      "answers.yaml":
        "A/export:\n  answer: approve\n  by: jane\n  evidence: { path: /x.p12 }\nA/dns:\n  answer: reject\n  reason: not today\nA/later:\n  answer: defer\n"
    })
    const answers = await Effect.runPromise(Gates.readAnswers(join(dir, "answers.yaml")))
    expect(answers["A/export"]).toEqual(new Operator.Approved({ by: "jane", evidence: { path: "/x.p12" } }))
    expect(answers["A/dns"]).toMatchObject({ _tag: "Rejected", reason: "not today" })
    expect(answers["A/later"]?._tag).toBe("Deferred")
  })

  it("a wrong answer is a usage error that says what is expected", async () => {
    const dir = folder({ "answers.yaml": "A/export:\n  answer: yes-please\n" })
    const r = await Effect.runPromise(Effect.either(Gates.readAnswers(join(dir, "answers.yaml"))))
    expect(Either.isLeft(r)).toBe(true)
    if (Either.isLeft(r)) {
      expect(r.left.exitCode).toBe(CliError.ExitCode.usage)
      expect(r.left.message).toContain("answer: approve | reject | defer")
    }
  })
})

describe("Planners.compress", () => {
  it("divides waits and moves windows towards now by the simulator's time scale", () => {
    const c = Planners.compress(plan, 600, at)
    const wait = c.steps[1]!
    const window = c.steps[2]!
    expect(wait._tag === "WaitFor" && [wait.intervalSeconds, wait.deadlineSeconds]).toEqual([0.05, 6])
    expect(window._tag === "Window" && window.window.start.getTime() - at.getTime()).toBe(10_000)
    expect(window._tag === "Window" && window.window.durationMinutes).toBe(1)
    expect(Planners.compress(plan, 1)).toBe(plan)
  })
})

describe("exit codes", () => {
  it("follow the run status", () => {
    const base = {
      runId: "r",
      planId: "p",
      planTitle: "t",
      site: "s",
      targetVersion: "v",
      steps: [],
      gates: [],
      resumes: 0,
      cancellations: 0,
      tornRecords: []
    }
    const code = (status: RunReport.RunReport["status"]) =>
      Runner.exitCodeOf(new RunReport.RunReport({ ...base, status }))
    expect(code("succeeded")).toBe(0)
    expect(code("failed")).toBe(1)
    expect(code("halted-needs-support")).toBe(3)
    expect(code("waiting-for-operator")).toBe(4)
    expect(code("paused-until-window")).toBe(4)
  })
})

describe("certs inspect", () => {
  it("prints the chain in order with fingerprints; a leaf for another name blocks (exit 1)", async () => {
    const chain = await Effect.runPromise(TestChains.generateChain({ siteFqdn: "support.example.test" }))
    const dir = folder({})
    const file = join(dir, "chain.pem")
    writeFileSync(file, chain.chainPem)
    const ok = await runCli("certs", "inspect", file, "--hostname", "support.example.test")
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.stdout).toContain("1. leaf:")
    expect(ok.stdout).toContain(chain.leaf.certificate.sha256)
    const bad = await runCli("certs", "inspect", file, "--hostname", "other.example.test")
    expect(bad.code).toBe(1)
    expect(bad.stdout).toMatch(/✘ \w+/)
  })
})
