import { PgClient } from "@effect/sql-pg"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import { Journal, RunEvent } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Sqlite from "../src/internal/sqlite.js"
import * as SqlJournal from "../src/SqlJournal.js"
import * as TestPostgres from "../src/TestPostgres.js"
import { thePlan } from "./journalFixtures.js"

const at = new Date("2026-01-01T00:00:00Z")
const env = (runId: string, seq: number, event: RunEvent.RunEvent) => new RunEvent.Envelope({ runId, seq, event })
const records = (runId: string) => [
  env(runId, 1, new RunEvent.RunStarted({ runId, plan: thePlan, at })),
  env(runId, 2, new RunEvent.StepStarted({ stepId: "a", attempt: 1, at })),
  env(runId, 3, new RunEvent.StepSucceeded({ stepId: "a", evidence: { v: "24.3.2" }, warnings: [], at }))
]

let counter = 0
/** A fresh table prefix per test: tests share one database. */
const fresh = () => `t${process.pid}_${++counter}`

/** The same suite as core's file and memory journals, plus fencing, for one SQL backend. */
interface Its {
  readonly effect: (name: string, self: () => Effect.Effect<void, unknown, SqlClient.SqlClient>) => void
}

const suite = (it: Its) => {
  it.effect("appends and reads back records in order", () =>
    Effect.gen(function* () {
      const j = yield* SqlJournal.make({ prefix: fresh() })
      yield* j.create("run-1")
      for (const r of records("run-1")) yield* j.append(r)
      const c = yield* j.read("run-1")
      expect(c.records.map((r) => r.event._tag)).toEqual(["RunStarted", "StepStarted", "StepSucceeded"])
      expect(c.records[2]!.event).toEqual(records("run-1")[2]!.event)
      expect(c.records[0]!.event).toEqual(records("run-1")[0]!.event)
      expect(Option.isNone(c.torn)).toBe(true)
      expect(Option.isNone(yield* j.repair("run-1"))).toBe(true)
      expect(yield* j.list).toEqual(["run-1"])
    })
  )

  it.effect("typed errors: unknown run, existing run, invalid run id", () =>
    Effect.gen(function* () {
      const j = yield* SqlJournal.make({ prefix: fresh() })
      expect((yield* Effect.flip(j.read("nope"))).reason._tag).toBe("RunNotFound")
      expect((yield* Effect.flip(j.append(records("nope")[0]!))).reason._tag).toBe("RunNotFound")
      yield* j.create("r")
      yield* j.append(records("r")[0]!)
      const exists = yield* Effect.flip(j.create("r"))
      expect(exists.reason._tag).toBe("AlreadyExists")
      expect(exists.message).toMatch(/resume it/)
      expect((yield* Effect.flip(j.create("../etc/passwd"))).reason._tag).toBe("InvalidRunId")
    })
  )

  it.effect("a locked run not yet created is not listed; an out-of-sequence append is refused", () =>
    Effect.gen(function* () {
      const j = yield* SqlJournal.make({ prefix: fresh() })
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* j.lock("r")
          expect(yield* j.list).toEqual([])
          yield* j.create("r")
          yield* j.append(records("r")[0]!)
          const gap = yield* Effect.flip(j.append(records("r")[2]!))
          expect(gap.reason).toMatchObject({ _tag: "Corrupt", detail: "append of sequence 3, expected 2" })
          expect((yield* j.read("r")).records).toHaveLength(1)
        })
      )
    })
  )

  it.effect("a damaged row is a typed Corrupt error naming the record", () =>
    Effect.gen(function* () {
      const prefix = fresh()
      const sql = yield* SqlClient.SqlClient
      const j = yield* SqlJournal.make({ prefix })
      yield* j.create("r")
      for (const r of records("r")) yield* j.append(r)
      yield* sql`UPDATE ${sql(`${prefix}_journal_records`)} SET record = ${"{not json"} WHERE seq = 2`
      const error = yield* Effect.flip(j.read("r"))
      expect(error.reason).toMatchObject({ _tag: "Corrupt", line: 2 })
      expect(error.message).toMatch(/restore it from a backup or inspect it/)
    })
  )

  it.effect("FENCE-1 a runner whose run was taken over cannot append any more; the new owner can", () =>
    Effect.gen(function* () {
      const prefix = fresh()
      // two runners on the same database: two journal instances
      const a = yield* SqlJournal.make({ prefix, holder: "runner-a" })
      const b = yield* SqlJournal.make({ prefix, holder: "runner-b" })
      const [r1, r2, r3] = records("site-1")
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* a.lock("site-1")
          yield* a.create("site-1")
          yield* a.append(r1!)
          // runner-a presumed dead: runner-b takes the run over
          yield* Effect.scoped(
            Effect.gen(function* () {
              yield* b.lock("site-1")
              // the zombie wakes up and tries to write
              const fenced = yield* Effect.flip(a.append(r2!))
              expect(fenced.reason).toEqual(new Journal.Fenced({ held: 1, current: 2 }))
              expect(fenced.message).toMatch(/taken over by another runner/)
              yield* b.append(r2!)
              yield* b.append(r3!)
            })
          )
          // even after the new owner released its lock, the old epoch stays fenced
          expect((yield* Effect.flip(a.append(records("site-1")[2]!))).reason._tag).toBe("Fenced")
        })
      )
      const c = yield* b.read("site-1")
      expect(c.records.map((r) => r.seq)).toEqual([1, 2, 3])
    })
  )
}

const sqliteFile = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), "sra-sqljournal-")), "fleet.db")

describe("SqlJournal on SQLite (libsql)", () => {
  layer(Layer.orDie(Sqlite.layer({ file: sqliteFile() })))((it) => suite(it))
})

const PgLive = Layer.unwrapScoped(
  Effect.map(TestPostgres.start, (pg) => PgClient.layer({ url: Redacted.make(pg.url) }))
).pipe(Layer.orDie)

describe("SqlJournal on PostgreSQL", () => {
  layer(PgLive, { timeout: "60 seconds" })((it) => suite(it))
})
