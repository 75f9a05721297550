/**
 * `sra-upgrade demo` as a user runs it: a child process through tsx. It must
 * succeed, print the report (versions, roles, measured downtime) and leave
 * no process and no listening port behind.
 */
import { spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { readdirSync, readFileSync } from "node:fs"
import { connect } from "node:net"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const here = dirname(fileURLToPath(import.meta.url))
const bin = join(here, "..", "src", "bin.ts")
const tsxCli = join(dirname(createRequire(import.meta.url).resolve("tsx/package.json")), "dist", "cli.mjs")

const run = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [tsxCli, bin, ...args], {
      env: { ...process.env, ...env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  })

/** Processes whose environment carries the marker (Linux /proc). */
const processesWithMarker = (marker: string): Array<number> => {
  const found: Array<number> = []
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue
    try {
      if (readFileSync(`/proc/${name}/environ`, "latin1").includes(marker)) found.push(Number(name))
    } catch {
      // gone, or not ours
    }
  }
  return found
}

const refuses = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resolve(false)
    })
    socket.once("error", () => resolve(true))
  })

describe("sra-upgrade demo", () => {
  it("upgrades the simulated pair (async), reports versions, roles and downtime, and leaves nothing running", async () => {
    const marker = `SRA_DEMO_TEST_${randomUUID().replaceAll("-", "")}`
    const r = await run(["demo"], { [marker]: "1" })
    expect(r.stderr).not.toContain("forced exit")
    expect(r.code, r.stderr + r.stdout.slice(-3000)).toBe(0)
    // the plan, then the run, then the report
    expect(r.stdout).toMatch(/Asynchronous upgrade of .* to 24\.3\.2/)
    expect(r.stdout).toContain("run succeeded")
    expect(r.stdout).toContain("- Status: **SUCCEEDED**")
    // versions and roles read back from the appliances after the run
    const rows = [...r.stdout.matchAll(/^\| ([AB]) \| ([\d.]+) \(build \d+\) \| (\w+) \| (yes|NO) \|$/gm)]
    expect(rows.length).toBeGreaterThan(0)
    for (const [, , version, , healthy] of rows) {
      expect(version).toBe("24.3.2")
      expect(healthy).toBe("yes")
    }
    // the asynchronous method ends with B primary and A backup, the relationship restored
    expect(rows.map((m) => [m[1], m[3]])).toEqual([
      ["A", "backup"],
      ["B", "primary"]
    ])
    // downtime measured by the prober
    const probes = /- Probes: (\d+) every [\d.]+ s[^,\n]*, failed: (\d+)/.exec(r.stdout)
    expect(probes).not.toBeNull()
    expect(Number(probes![1])).toBeGreaterThan(0)
    expect(Number(probes![2])).toBeLessThanOrEqual(Number(probes![1]))
    expect(r.stdout).toMatch(/- Longest outage: [\d.]+ s/)
    expect(r.stdout).toMatch(/- Total unavailable: [\d.]+ s/)
    // nothing left behind: no process with our marker, the simulator's ports closed
    expect(processesWithMarker(marker)).toEqual([])
    const ports = [...r.stdout.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]))
    expect(ports.length).toBeGreaterThan(0)
    for (const port of new Set(ports)) expect(await refuses(port)).toBe(true)
  }, 180_000)

  it("--method sync: A primary again, and the site was down while A installed (measured)", async () => {
    const marker = `SRA_DEMO_TEST_${randomUUID().replaceAll("-", "")}`
    const r = await run(["demo", "--method", "sync"], { [marker]: "1" })
    expect(r.code, r.stderr + r.stdout.slice(-3000)).toBe(0)
    const rows = [...r.stdout.matchAll(/^\| ([AB]) \| ([\d.]+) \(build \d+\) \| (\w+) \| (yes|NO) \|$/gm)]
    expect(rows.map((m) => [m[1], m[2], m[3]])).toEqual([
      ["A", "24.3.2", "primary"],
      ["B", "24.3.2", "backup"]
    ])
    const probes = /- Probes: (\d+) every [\d.]+ s[^,\n]*, failed: (\d+)/.exec(r.stdout)
    expect(Number(probes![2])).toBeGreaterThan(0)
    expect(processesWithMarker(marker)).toEqual([])
  }, 180_000)
})
