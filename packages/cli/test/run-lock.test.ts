/**
 * The run lock across real processes: a `run` SIGKILLed in the middle
 * leaves its lock behind; two `sra-upgrade resume` processes of that run
 * started at once race for it. Exactly one takes the stale lock over (with a
 * warning) and runs; the other exits at once naming the owner (pid, host,
 * since).
 */
import { SimConfig, Simulator } from "@sra-upgrade/simulator"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { hostname } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import * as Demo from "../src/Demo.js"
import { folder } from "./support.js"

/** Running, not a zombie (this container's init does not reap orphans). */
const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, "utf8") : ""
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z"
}

const tsx = join(dirname(createRequire(import.meta.url).resolve("tsx/package.json")), "dist", "cli.mjs")
const bin = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "bin.ts")

interface Proc {
  readonly child: ChildProcess
  out: string
  readonly exit: Promise<number | null>
}

/** The real command in its own process group (so a SIGKILL takes its children too). */
const start = (args: ReadonlyArray<string>): Proc => {
  const child = spawn(process.execPath, [tsx, bin, ...args], { stdio: ["ignore", "pipe", "pipe"], detached: true })
  const p: Proc = {
    child,
    out: "",
    exit: new Promise((resolve) => child.on("exit", (code, signal) => resolve(signal === null ? code : null)))
  }
  child.stdout!.on("data", (d: Buffer) => (p.out += d.toString()))
  child.stderr!.on("data", (d: Buffer) => (p.out += d.toString()))
  return p
}

const kill = (p: Proc) => {
  try {
    process.kill(-p.child.pid!, "SIGKILL")
  } catch {
    // already gone
  }
}

const started: Array<Proc> = []
afterAll(() => started.forEach(kill))

describe("run lock across processes", () => {
  it("two resumes of a crashed run at once: exactly one runs, the other names the owner", async () => {
    const defaults = SimConfig.make()
    // slow (x30): the resumed run is still going long after the losing process has given up
    const sim = await Simulator.startPromise({
      timeScale: 30,
      appliances: [{ ...defaults.appliances[0]!, failoverRole: "none" }],
      updates: defaults.updates.filter((u) => u.kind !== "license")
    })
    try {
      const work = folder({})
      const { caPem, secret, yaml } = Demo.siteFileFor(sim, "single", join(work, "backups"))
      writeFileSync(join(work, "client-secret"), secret + "\n")
      writeFileSync(join(work, "simulator-ca.pem"), caPem)
      const site = join(work, "site.yaml")
      writeFileSync(site, yaml)
      const runs = join(work, "runs")
      const common = ["--site", site, "--runs", runs, "--yes", "--simulator", sim.controlUrl]
      const journal = join(runs, "locked.jsonl")
      const lockFile = join(runs, "locked.lock")

      // the run, SIGKILLed once it has journaled a few steps: its lock stays behind
      const run = start(["run", "--to", "24.3.2", "--run-id", "locked", ...common])
      started.push(run)
      await new Promise<void>((resolve, reject) => {
        const timer = setInterval(() => {
          if (existsSync(journal) && readFileSync(journal, "utf8").split("\n").length > 6) {
            clearInterval(timer)
            resolve()
          }
        }, 100)
        void run.exit.then((code) => {
          clearInterval(timer)
          reject(new Error(`the run ended (${code}) before it could be killed:\n${run.out}`))
        })
      })
      kill(run)
      await run.exit
      const dead = JSON.parse(readFileSync(lockFile, "utf8")) as { pid: number; host: string }
      // (tsx runs the command in a child process of its own: the owner's pid is that child's)
      expect(dead.host).toBe(hostname())
      // the group's SIGKILL is delivered to every member, but tsx's exit can be reported before its child has
      // finished dying: wait until the owner is gone (the lock's staleness check reads the same state)
      const gone = Date.now() + 60_000
      while (isAlive(dead.pid) && Date.now() < gone) await new Promise((resolve) => setTimeout(resolve, 50))
      expect(isAlive(dead.pid)).toBe(false)

      // two resumes at once
      const a = start(["resume", "locked", ...common])
      const b = start(["resume", "locked", ...common])
      started.push(a, b)
      const first = await Promise.race([a.exit.then(() => a), b.exit.then(() => b)])
      const other = first === a ? b : a
      // the one that ended first is the loser; the winner is still running the upgrade
      expect(await first.exit, first.out).toBe(1)
      expect(other.child.exitCode, other.out).toBeNull()
      const owner = JSON.parse(readFileSync(lockFile, "utf8")) as { pid: number; host: string; since: string }
      expect(owner.pid).not.toBe(dead.pid)
      expect(isAlive(owner.pid)).toBe(true)
      expect(first.out).toContain(
        `error: Run locked is being executed by process ${owner.pid} on ${owner.host} since ${owner.since}: wait for it to finish or stop it, then resume.`
      )
      // the winner took the dead run's lock over and said so
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (other.out.includes("took over the lock") || other.child.exitCode !== null) {
            clearInterval(timer)
            resolve()
          }
        }, 100)
      })
      expect(other.out).toContain(`warning: run locked: took over the lock left by process ${dead.pid} on ${dead.host}`)
      kill(other)
      await other.exit
    } finally {
      await sim.close()
    }
  }, 180_000)
})
