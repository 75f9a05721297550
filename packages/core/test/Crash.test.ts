import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Journal from "../src/Journal.js"
import * as RunState from "../src/RunState.js"
import { crashPlan, layers, noHooks, nonIdempotent, readEffects, runOrResume } from "./fixtures/crash.js"

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))
const childScript = fileURLToPath(new URL("./fixtures/crash-child.ts", import.meta.url))

const TRIALS = 52
const CONCURRENCY = 2
const SEED = 0x5a_17_ce

/** mulberry32: a small seeded PRNG, so every run of the test kills at the same points. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

interface ChildResult {
  readonly killedAt: string | undefined
  readonly signal: NodeJS.Signals | null
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const runChild = (args: ReadonlyArray<string>) =>
  new Promise<ChildResult>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", childScript, ...args], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    let killedAt: string | undefined
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString()
      const m = /KILL \d+ (\S+)/.exec(stdout)
      if (m && killedAt === undefined) {
        killedAt = m[1]
        child.kill("SIGKILL") // the child is frozen at the kill point
      }
    })
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    child.on("error", reject)
    child.on("exit", (code, signal) => resolve({ killedAt, signal, code, stdout, stderr }))
  })

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "sra-crash-"))

/** Count the kill points of an uninterrupted run (the program is deterministic). */
const countPoints = async () => {
  const dir = tmp()
  let n = 0
  const hooks = { point: () => void n++, tear: () => void n++ }
  const report = await Effect.runPromise(
    runOrResume("count").pipe(Effect.provide(layers(dir, path.join(dir, "effects.log"), hooks)))
  )
  expect(report.status).toBe("succeeded")
  return n
}

const pool = async <A>(n: number, tasks: ReadonlyArray<() => Promise<A>>): Promise<Array<A>> => {
  const results: Array<A> = new Array(tasks.length)
  let next = 0
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < tasks.length) {
        const i = next++
        results[i] = await tasks[i]!()
      }
    })
  )
  return results
}

describe("crash safety", () => {
  it(`SIGKILL at ${TRIALS} seeded-random points, then resume: every non-idempotent effect exactly once, journal consistent`, async () => {
    const total = await countPoints()
    expect(total).toBeGreaterThan(60)
    const rng = prng(SEED)
    const trials = Array.from({ length: TRIALS }, (_, i) => ({
      i,
      killAt: 1 + Math.floor(rng() * total),
      tearSeed: Math.floor(rng() * 1_000_000),
      // a third of the trials crash a second time, during the resume
      secondKillAt: rng() < 0.33 ? 1 + Math.floor(rng() * total) : undefined
    }))

    const outcomes = await pool(
      CONCURRENCY,
      trials.map((t) => async () => {
        const dir = tmp()
        const effects = path.join(dir, "effects.log")
        const runId = `trial-${t.i}`
        const kills: Array<string> = []
        for (const killAt of [t.killAt, t.secondKillAt]) {
          if (killAt === undefined) continue
          const r = await runChild([dir, effects, runId, String(killAt), String(t.tearSeed)])
          if (r.killedAt !== undefined) {
            expect(r.signal, r.stderr).toBe("SIGKILL")
            kills.push(r.killedAt)
          } else {
            expect(r.code, r.stderr).toBe(0)
          }
        }
        // final resume, in this process, without kill points
        const report = await Effect.runPromise(runOrResume(runId).pipe(Effect.provide(layers(dir, effects, noHooks))))
        const journal = await Effect.runPromise(
          Effect.flatMap(Journal.Journal, (j) => j.read(runId)).pipe(Effect.provide(Journal.layer({ directory: dir })))
        )
        return { t, kills, report, journal, effects: readEffects(effects) }
      })
    )

    let killed = 0
    let torn = 0
    for (const { t, kills, report, journal, effects } of outcomes) {
      const where = `trial ${t.i} (killAt ${t.killAt}/${t.secondKillAt ?? "-"}, killed at ${kills.join(", ")})`
      killed += kills.length > 0 ? 1 : 0
      expect(report.status, where).toBe("succeeded")
      for (const id of nonIdempotent) expect(effects.get(id) ?? 0, `${where}: effect ${id}`).toBe(1)
      expect(journal.torn._tag, where).toBe("None")
      // the journal replays to `succeeded`, each step completing exactly once, in plan order
      const done: Array<string> = []
      let state = RunState.initial
      for (const r of journal.records) {
        const next = RunState.transition(state, r.event)
        expect(Either.isRight(next), `${where}: record ${r.seq}`).toBe(true)
        if (Either.isLeft(next)) break
        if (next.right.state.completed > state.completed && state.status._tag !== "Pending") {
          done.push(state.steps[state.completed]!.id)
        }
        state = next.right.state
      }
      expect(state.status._tag, where).toBe("Succeeded")
      expect(done, where).toEqual(crashPlan.steps.map((s) => s.id))
      expect(journal.records.at(-1)!.event._tag, where).toBe("RunFinished")
      // A torn record is reported by the Resumed that replaces it at the same seq. Not checked: a
      // torn first record (the run restarts), a torn RunFinished (re-emitted), and a second crash
      // between dropping the torn line and journaling that Resumed (the report is lost, not the safety).
      kills.forEach((k, n) => {
        const m = /^append-torn:(\w+)#(\d+)$/.exec(k)
        if (!m) return
        torn++
        const seq = Number(m[2])
        const nextKill = kills[n + 1] ?? ""
        if (seq === 1 || m[1] === "RunFinished" || new RegExp(`^append-(before|torn):Resumed#${seq}$`).test(nextKill))
          return
        const replacement = journal.records[seq - 1]!.event
        expect(replacement._tag === "Resumed" && replacement.tornRecord !== undefined, `${where}: seq ${seq}`).toBe(
          true
        )
      })
    }
    expect(killed).toBeGreaterThanOrEqual(50)
    expect(torn).toBeGreaterThan(0)
  }, 600_000)
})
