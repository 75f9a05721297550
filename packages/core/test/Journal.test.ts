import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Executor from "../src/Executor.js"
import * as Journal from "../src/Journal.js"
import * as Operator from "../src/Operator.js"
import * as RunEvent from "../src/RunEvent.js"
import { wire, World } from "./fixtures/harness.js"
import { action, check, gate, plan } from "./fixtures/steps.js"

const at = new Date("2026-01-01T00:00:00Z")
const thePlan = plan([check("a"), action("b")])
const env = (runId: string, seq: number, event: RunEvent.RunEvent) => new RunEvent.Envelope({ runId, seq, event })
const records = (runId: string) => [
  env(runId, 1, new RunEvent.RunStarted({ runId, plan: thePlan, at })),
  env(runId, 2, new RunEvent.StepStarted({ stepId: "a", attempt: 1, at })),
  env(runId, 3, new RunEvent.StepSucceeded({ stepId: "a", evidence: { v: "24.3.2" }, warnings: [], at }))
]

const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "sra-journal-"))

const suite = (
  name: string,
  make: () => { layer: Layer.Layer<Journal.Journal, Journal.JournalError>; file?: (runId: string) => string }
) =>
  describe(name, () => {
    it.effect("appends and reads back records in order", () => {
      const { layer } = make()
      return Effect.gen(function* () {
        const j = yield* Journal.Journal
        yield* j.create("run-1")
        for (const r of records("run-1")) yield* j.append(r)
        const c = yield* j.read("run-1")
        expect(c.records.map((r) => r.event._tag)).toEqual(["RunStarted", "StepStarted", "StepSucceeded"])
        expect(c.records[2]!.event).toEqual(records("run-1")[2]!.event)
        expect(Option.isNone(c.torn)).toBe(true)
        expect(yield* j.list).toEqual(["run-1"])
      }).pipe(Effect.provide(layer))
    })

    it.effect("typed errors: unknown run, existing run, invalid run id", () => {
      const { layer } = make()
      return Effect.gen(function* () {
        const j = yield* Journal.Journal
        expect((yield* Effect.flip(j.read("nope"))).reason._tag).toBe("RunNotFound")
        yield* j.create("r")
        yield* j.append(records("r")[0]!)
        const exists = yield* Effect.flip(j.create("r"))
        expect(exists.reason._tag).toBe("AlreadyExists")
        expect(exists.message).toMatch(/resume it/)
        expect((yield* Effect.flip(j.create("../etc/passwd"))).reason._tag).toBe("InvalidRunId")
      }).pipe(Effect.provide(layer))
    })
  })

suite("Journal.layerMemory", () => ({ layer: Journal.layerMemory }))
suite("Journal.layer (JSON Lines files)", () => ({ layer: Journal.layer({ directory: tmpDir() }) }))

describe("Journal.layer file format", () => {
  it.effect("one file per run, one JSON record per line, torn tail reported then repaired", () => {
    const dir = tmpDir()
    return Effect.gen(function* () {
      const j = yield* Journal.Journal
      yield* j.create("run-a")
      yield* j.create("run-b")
      for (const r of records("run-a")) yield* j.append(r)
      const file = path.join(dir, "run-a.jsonl")
      const lines = fs.readFileSync(file, "utf8").split("\n")
      expect(lines).toHaveLength(4)
      expect(lines[3]).toBe("")
      expect(JSON.parse(lines[1]!)).toMatchObject({
        runId: "run-a",
        seq: 2,
        event: { _tag: "StepStarted", stepId: "a" }
      })
      expect(fs.readdirSync(dir).sort()).toEqual(["run-a.jsonl", "run-b.jsonl"])
      // a crash mid-write leaves a partial last line
      fs.appendFileSync(file, lines[2]!.slice(0, 17))
      const torn = yield* j.read("run-a")
      expect(torn.records).toHaveLength(3)
      expect(Option.getOrThrow(torn.torn)).toMatchObject({ bytes: 17 })
      const dropped = yield* j.repair("run-a")
      expect(Option.getOrThrow(dropped).bytes).toBe(17)
      yield* j.append(env("run-a", 4, new RunEvent.StepStarted({ stepId: "b", attempt: 1, at })))
      const after = yield* j.read("run-a")
      expect(after.records.map((r) => r.seq)).toEqual([1, 2, 3, 4])
      expect(Option.isNone(after.torn)).toBe(true)
    }).pipe(Effect.provide(Journal.layer({ directory: dir })))
  })

  it.effect("any other damage is a typed Corrupt error naming the line, and the file is left alone", () => {
    const dir = tmpDir()
    return Effect.gen(function* () {
      const j = yield* Journal.Journal
      yield* j.create("r")
      for (const r of records("r")) yield* j.append(r)
      const file = path.join(dir, "r.jsonl")
      const good = fs.readFileSync(file, "utf8")
      const lines = good.split("\n")
      const cases: Array<[string, string, RegExp]> = [
        ["garbage line", [lines[0], "{not json", lines[2], ""].join("\n"), /not JSON/],
        [
          "unknown event",
          [lines[0], '{"runId":"r","seq":2,"event":{"_tag":"Nope"}}', lines[2], ""].join("\n"),
          /not a run event/
        ],
        ["gap in sequence", [lines[0], lines[2], ""].join("\n"), /sequence 3, expected 2/],
        [
          "record of another run",
          [lines[0], lines[1]!.replace('"runId":"r"', '"runId":"x"'), ""].join("\n"),
          /record of run x/
        ],
        ["damaged complete last line", [lines[0], lines[1], lines[2]!.slice(0, 20), ""].join("\n"), /not JSON/]
      ]
      for (const [label, text, detail] of cases) {
        fs.writeFileSync(file, text)
        const error = yield* Effect.flip(j.read("r"))
        expect(error.reason._tag, label).toBe("Corrupt")
        expect(error.reason._tag === "Corrupt" && error.reason.detail, label).toMatch(detail)
        expect(error.message).toMatch(/restore it from a backup or inspect it/)
        expect(fs.readFileSync(file, "utf8")).toBe(text)
      }
      expect((yield* Effect.flip(j.read("r"))).reason).toMatchObject({ _tag: "Corrupt", line: 3 })
    }).pipe(Effect.provide(Journal.layer({ directory: dir })))
  })

  it.effect("a run is locked by the process executing it; a dead process's lock is taken over", () => {
    const dir = tmpDir()
    const lockFile = path.join(dir, "r.lock")
    return Effect.gen(function* () {
      const j = yield* Journal.Journal
      // held by a live process (our parent)
      fs.writeFileSync(lockFile, String(process.ppid))
      const locked = yield* Effect.flip(Effect.scoped(j.lock("r")))
      expect(locked.reason).toEqual(new Journal.Locked({ pid: process.ppid }))
      expect(locked.message).toMatch(/being executed by process/)
      // left by a process that has exited
      const dead = spawnSync(process.execPath, ["-e", "0"]).pid!
      fs.writeFileSync(lockFile, String(dead))
      const logs: Array<string> = []
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* j.lock("r")
          expect(JSON.parse(fs.readFileSync(lockFile, "utf8"))).toMatchObject({ pid: process.pid, host: os.hostname() })
        })
      ).pipe(
        Effect.provide(
          Logger.replace(
            Logger.defaultLogger,
            Logger.make(({ message }) => logs.push(String(message)))
          )
        )
      )
      expect(logs).toEqual([`run r: took over the lock left by process ${dead}, which is no longer running`])
      expect(fs.existsSync(lockFile)).toBe(false)
      expect(yield* j.list).toEqual([])
    }).pipe(Effect.provide(Journal.layer({ directory: dir })))
  })

  it.effect("the lock names its owner (pid, host, since); another host's lock is never taken over", () => {
    const dir = tmpDir()
    const lockFile = path.join(dir, "r.lock")
    return Effect.gen(function* () {
      const j = yield* Journal.Journal
      const before = Date.now()
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* j.lock("r")
          const owner = JSON.parse(fs.readFileSync(lockFile, "utf8")) as { pid: number; host: string; since: string }
          expect(owner.pid).toBe(process.pid)
          expect(owner.host).toBe(os.hostname())
          expect(new Date(owner.since).getTime()).toBeGreaterThanOrEqual(before - 1000)
          // a second claim in this process meets the lock and names its owner
          const again = yield* Effect.flip(Effect.scoped(j.lock("r")))
          expect(again.reason).toMatchObject({ _tag: "Locked", pid: process.pid, host: os.hostname() })
          expect(again.message).toMatch(new RegExp(`process ${process.pid} on ${os.hostname()} since \\d{4}-`))
        })
      )
      expect(fs.readdirSync(dir)).toEqual([])
      // a dead pid on another host means nothing here: the lock stays, the message says what to do
      const dead = spawnSync(process.execPath, ["-e", "0"]).pid!
      const since = "2026-01-01T00:00:00.000Z"
      fs.writeFileSync(lockFile, JSON.stringify({ pid: dead, host: "other-host", since }))
      const other = yield* Effect.flip(Effect.scoped(j.lock("r")))
      expect(other.reason).toEqual(new Journal.Locked({ pid: dead, host: "other-host", since: new Date(since) }))
      expect(other.message).toMatch(/on other-host since 2026-01-01T00:00:00.000Z.*If host other-host is gone, delete/)
      // this process's own pid in a lock older than this process: left by an earlier process with the same pid
      fs.writeFileSync(lockFile, JSON.stringify({ pid: process.pid, host: os.hostname(), since }))
      yield* Effect.scoped(j.lock("r"))
      expect(fs.readdirSync(dir)).toEqual([])
    }).pipe(Effect.provide(Journal.layer({ directory: dir })))
  })

  it.effect("the executor holds the lock while it runs", () => {
    const dir = tmpDir()
    const lockFile = path.join(dir, "held.lock")
    fs.writeFileSync(lockFile, String(process.ppid))
    return Effect.gen(function* () {
      const error = yield* Effect.flip(Executor.run(plan([check("a")]), { runId: "held" }))
      expect(error.reason._tag === "JournalFailed" && error.reason.error.reason._tag).toBe("Locked")
      fs.rmSync(lockFile)
      const report = yield* Executor.run(plan([check("a")]), { runId: "held" })
      expect(report.status).toBe("succeeded")
      expect(fs.existsSync(lockFile)).toBe(false)
    }).pipe(
      Effect.provide(wire({ a: { run: () => Effect.succeed({}) } }, undefined, Journal.layer({ directory: dir })))
    )
  })

  it.effect("a journal whose only record was torn can be created again", () => {
    const dir = tmpDir()
    return Effect.gen(function* () {
      const j = yield* Journal.Journal
      fs.writeFileSync(path.join(dir, "r.jsonl"), '{"runId":"r","seq":1,"ev')
      yield* j.create("r")
      expect(fs.readFileSync(path.join(dir, "r.jsonl"), "utf8")).toBe("")
    }).pipe(Effect.provide(Journal.layer({ directory: dir })))
  })
})

describe("torn journal", () => {
  const p = plan([check("pre"), action("a"), gate("g"), action("b"), action("c", "c", true), action("d")])

  /**
   * Run the plan once to completion with a file journal; then, for random k
   * and byte offset, keep the first k records plus a prefix of record k+1
   * (a crash mid-write), rebuild the world as it was at that crash, resume,
   * and check: the torn record is reported, the run completes, every
   * non-idempotent effect happened exactly once.
   */
  const full = Effect.gen(function* () {
    const dir = tmpDir()
    const world = new World()
    yield* Executor.run(p, { runId: "full" }).pipe(
      Effect.provide(wire(handlersOf(world), undefined, Journal.layer({ directory: dir })))
    )
    return fs.readFileSync(path.join(dir, "full.jsonl"), "utf8").split("\n").slice(0, -1)
  })

  const handlersOf = (world: World) => ({
    pre: { run: () => Effect.succeed({}) },
    a: world.effect("a"),
    g: { run: () => Effect.succeed({}) },
    b: world.effect("b", { verify: false }),
    c: world.effect("c"),
    d: world.effect("d")
  })

  it.effect.prop(
    "truncating the last record at a random byte offset: resume reports it and completes exactly once",
    [FastCheck.integer({ min: 1, max: 1_000_000 }), FastCheck.integer({ min: 1, max: 1_000_000 }), FastCheck.boolean()],
    ([kSeed, offsetSeed, inFlightEffectHappened]) =>
      Effect.gen(function* () {
        const lines = yield* full
        const k = 1 + (kSeed % (lines.length - 1)) // keep >= 1 record, tear one of the others
        const torn = lines[k]!
        const offset = 1 + (offsetSeed % torn.length) // 1..length: never the whole line with its newline
        const dir = tmpDir()
        fs.writeFileSync(path.join(dir, "full.jsonl"), lines.slice(0, k).join("\n") + "\n" + torn.slice(0, offset))
        // the world at the crash: effects of completed steps, and maybe of the one in flight
        const world = new World()
        const kept = lines.slice(0, k).map((l) => JSON.parse(l) as { event: { _tag: string; stepId?: string } })
        const completedIds = kept.filter((r) => r.event._tag === "StepSucceeded").map((r) => r.event.stepId!)
        for (const id of completedIds) if (id !== "pre" && id !== "g") world.effects.set(id, 1)
        const last = kept.at(-1)!.event
        if (last._tag === "StepStarted" && inFlightEffectHappened && !["pre", "g"].includes(last.stepId!)) {
          world.effects.set(last.stepId!, 1)
        }
        const operator = Operator.layerScripted({
          g: new Operator.Approved({ by: "ann", evidence: {} }),
          b: (req) =>
            req.purpose === "confirm-effect" && world.count("b") > 0
              ? new Operator.Approved({ by: "ann", evidence: {} })
              : new Operator.Rejected({ by: "ann", reason: "not applied" })
        })
        const [pending, report] = yield* Effect.all([Executor.report("full"), Executor.resume("full")]).pipe(
          Effect.provide(wire(handlersOf(world), operator, Journal.layer({ directory: dir })))
        )
        expect(pending.tornRecords.map((t) => t.bytes)).toEqual([offset]) // seen before any repair
        expect(report.status).toBe("succeeded")
        expect(report.tornRecords).toEqual([
          new RunEvent.TornRecord({ offset: lines.slice(0, k).join("\n").length + 1, bytes: offset })
        ])
        for (const id of ["a", "b", "d"]) expect(world.count(id), id).toBe(1) // non-idempotent: exactly once
        expect(world.count("c")).toBeGreaterThanOrEqual(1) // idempotent: may run again
        const text = fs.readFileSync(path.join(dir, "full.jsonl"), "utf8")
        expect(text.endsWith("\n")).toBe(true)
        const seqs = text
          .split("\n")
          .slice(0, -1)
          .map((l) => (JSON.parse(l) as { seq: number }).seq)
        expect(seqs).toEqual(seqs.map((_, i) => i + 1))
      }),
    { fastCheck: { numRuns: 40 } }
  )
})
