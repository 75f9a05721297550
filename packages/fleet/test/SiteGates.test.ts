/**
 * Durable gates of sites in a rollout (embedded engine, SQLite): a site whose plan reaches a manual gate waits
 * for an answer given through the ledger by another client; the answer is journaled with its principal, comment
 * and evidence; a runner stopped while the site waits loses nothing; a rejection fails the site (budget); evidence
 * that does not fit is refused with what is expected.
 */
import { describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Journal, Operator, Plan } from "@sra-upgrade/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Admission from "../src/Admission.js"
import * as Engine from "../src/Engine.js"
import * as EngineLayer from "../src/EngineLayer.js"
import { FleetStore } from "../src/FleetStore.js"
import type * as Rollout from "../src/Rollout.js"
import * as SiteGates from "../src/SiteGates.js"
import * as TestRollout from "../src/TestRollout.js"
import { rolloutOf, sitePlan } from "./fixtures.js"

const ALWAYS = TestRollout.alwaysOpen

/** Each site's plan: the console-version gate on gated sites, then one install action (counted in `effects`). */
class Fleet {
  readonly effects = new Map<string, number>()
  constructor(readonly gated: ReadonlySet<string>) {}

  worker = TestRollout.worker({
    installs: this.effects,
    before: (site) => (this.gated.has(site.id) ? [TestRollout.consoleGate()] : [])
  })
}

const dbFile = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), "sra-fleet-gates-")), "fleet.db")

const sites = (perWave: ReadonlyArray<number>): ReadonlyArray<Rollout.SitePlan> =>
  perWave.flatMap((n, wave) =>
    Array.from({ length: n }, (_, i) => sitePlan({ id: `w${wave}s${i}`, wave, windows: ALWAYS, firstSeconds: 60 }))
  )

const engine = (fleet: Fleet, file: string) =>
  EngineLayer.embedded({ file, pollInterval: "100 millis", idleInterval: "300 millis" }).pipe(
    Layer.provide(fleet.worker),
    Layer.orDie
  )

/** Another client of the database (as `fleet answer` or the portal is): the ledger only, no engine. */
const ledger = (file: string) => EngineLayer.ledgerOnly({ file }).pipe(Layer.orDie)

/** Poll until `until` gives a value (no timing asserted; the test's own timeout bounds it). */
const waitUntil = <A>(probe: Effect.Effect<A | undefined, unknown, FleetStore>) =>
  Effect.gen(function* () {
    for (;;) {
      const a = yield* Effect.orDie(probe)
      if (a !== undefined) return a
      yield* Effect.sleep("50 millis")
    }
  })

const openGateOf = (rolloutId: string, site: string) =>
  waitUntil(
    Effect.gen(function* () {
      const gates = yield* (yield* FleetStore).gates(rolloutId)
      return gates.find((g) => g.gate.site === site && g.isOpen)
    })
  )

const answer = (fields: Partial<ConstructorParameters<typeof SiteGates.AnswerInput>[0]> & { rolloutId: string }) =>
  new SiteGates.AnswerInput({
    site: "w0s0",
    stepId: "confirm-console",
    principal: "alice",
    decision: "approve",
    comment: "checked on the console",
    evidence: { consoleVersion: "24.3.2" },
    ...fields
  })

describe("SiteGates (durable gates of a rollout's sites)", () => {
  it.live(
    "FLEET-GATE-1 a site waits on its gate (the rollout goes on, the site in flight); an answer from another client resumes it, its journal records who, the comment and the evidence, and it completes",
    () => {
      const fleet = new Fleet(new Set(["w0s0"]))
      const plan = rolloutOf({ sites: sites([2]), waves: 1, concurrency: 2, allowedFailures: 0 })
      const file = dbFile()
      return Effect.gen(function* () {
        yield* Engine.start(plan)
        const open = yield* openGateOf(plan.rolloutId, "w0s0")
        expect(open.gate).toMatchObject({
          stepId: "confirm-console",
          purpose: "gate",
          instructions: ["Open Help > About on the console", "Read the version shown"]
        })
        expect(open.gate.evidence.map((f) => f.name)).toEqual(["consoleVersion"])
        // the other site completes meanwhile; the gated one stays in flight, not failed
        const store = yield* FleetStore
        yield* waitUntil(
          Effect.map(store.get(plan.rolloutId), (s) =>
            Admission.stateOf(s.ledger, "w0s1")._tag === "Succeeded" ? true : undefined
          )
        )
        const during = yield* store.get(plan.rolloutId)
        expect(Admission.stateOf(during.ledger, "w0s0")._tag).toBe("Running")
        expect(fleet.effects.get("w0s0")).toBeUndefined()
        // answered through another connection to the database, as `fleet answer` does
        yield* Engine.answerGate(answer({ rolloutId: plan.rolloutId })).pipe(
          Effect.provide(ledger(file)),
          Effect.scoped
        )
        const result = yield* Engine.awaitEnd(plan.rolloutId)
        expect(result.status).toBe("succeeded")
        expect(fleet.effects.get("w0s0")).toBe(1)
        const journal = yield* Journal.Journal
        const records = (yield* journal.read(Engine.runIdOf(plan.rolloutId, "w0s0"))).records.map((r) => r.event)
        const answered = records.filter((e) => e._tag === "GateAnswered")
        expect(answered.at(-1)).toMatchObject({
          stepId: "confirm-console",
          answer: {
            _tag: "Approved",
            by: "alice",
            comment: "checked on the console",
            evidence: { consoleVersion: "24.3.2" },
            approvals: [{ principal: "alice", decision: "approve", comment: "checked on the console" }]
          }
        })
        expect(records.at(-1)).toMatchObject({ _tag: "RunFinished", status: "succeeded" })
        // answered: not open any more; answering again is refused
        const again = yield* Effect.either(Engine.answerGate(answer({ rolloutId: plan.rolloutId })))
        expect(Either.isLeft(again) && again.left._tag === "GateAnswerError" && again.left.reason._tag).toBe(
          "AlreadyAnswered"
        )
      }).pipe(Effect.provide(engine(fleet, file)))
    },
    120_000
  )

  it.live(
    "FLEET-GATE-2 the runner stopped while a site waits on its gate, answered while no runner runs, restarted: nothing lost, the install runs once, the rollout completes",
    () => {
      const fleet = new Fleet(new Set(["w0s0"]))
      const plan = rolloutOf({ sites: sites([1]), waves: 1, concurrency: 1, allowedFailures: 0 })
      const file = dbFile()
      return Effect.gen(function* () {
        yield* Effect.scoped(
          Effect.gen(function* () {
            yield* Engine.start(plan)
            yield* openGateOf(plan.rolloutId, "w0s0")
          }).pipe(Effect.provide(engine(fleet, file)))
        )
        // no runner now: the answer goes into the ledger
        yield* Engine.answerGate(answer({ rolloutId: plan.rolloutId, principal: "bob", comment: "seen 24.3.2" })).pipe(
          Effect.provide(ledger(file)),
          Effect.scoped
        )
        const result = yield* Effect.gen(function* () {
          yield* Engine.start(plan)
          return yield* Engine.awaitEnd(plan.rolloutId)
        }).pipe(Effect.provide(engine(fleet, file)), Effect.scoped)
        expect(result.status).toBe("succeeded")
        expect(fleet.effects.get("w0s0")).toBe(1)
        const events = yield* Effect.gen(function* () {
          const journal = yield* Journal.Journal
          return (yield* journal.read(Engine.runIdOf(plan.rolloutId, "w0s0"))).records.map((r) => r.event)
        }).pipe(Effect.provide(ledger(file)), Effect.scoped)
        expect(events.filter((e) => e._tag === "GateAnswered").at(-1)).toMatchObject({
          answer: { _tag: "Approved", by: "bob", comment: "seen 24.3.2" }
        })
        expect(events.at(-1)).toMatchObject({ _tag: "RunFinished", status: "succeeded" })
      })
    },
    180_000
  )

  it.live(
    "FLEET-GATE-3 a rejected gate fails the site with who rejected and why, and counts against the failure budget (admission halts)",
    () => {
      const fleet = new Fleet(new Set(["w0s0"]))
      const plan = rolloutOf({ sites: sites([1, 1]), waves: 2, concurrency: 1, allowedFailures: 0 })
      const file = dbFile()
      return Effect.gen(function* () {
        yield* Engine.start(plan)
        yield* openGateOf(plan.rolloutId, "w0s0")
        // a deferral is journaled and the gate stays open
        yield* Engine.answerGate(
          answer({ rolloutId: plan.rolloutId, decision: "defer", comment: "not tonight", evidence: {} })
        )
        yield* waitUntil(
          Effect.map((yield* FleetStore).gates(plan.rolloutId), (gs) =>
            gs.find((g) => g.lastDeferral?.by === "alice" && g.answer === undefined)
          )
        )
        yield* Engine.answerGate(
          answer({
            rolloutId: plan.rolloutId,
            decision: "reject",
            comment: "console shows the old version",
            evidence: {}
          })
        )
        const result = yield* Engine.awaitEnd(plan.rolloutId)
        expect(result.status).toBe("halted-budget")
        expect(result.counts).toMatchObject({ failed: 1, notStarted: 1, succeeded: 0 })
        const stored = yield* (yield* FleetStore).get(plan.rolloutId)
        expect(stored.ledger["w0s0"]).toMatchObject({
          _tag: "Failed",
          reason: expect.stringMatching(/alice.*console shows the old version|console shows the old version.*alice/)
        })
        expect(fleet.effects.size).toBe(0)
        const journal = yield* Journal.Journal
        const answers = (yield* journal.read(Engine.runIdOf(plan.rolloutId, "w0s0"))).records.flatMap((r) =>
          r.event._tag === "GateAnswered" ? [r.event.answer] : []
        )
        expect(answers.map((a) => [a._tag, a.by])).toEqual([
          ["Deferred", "sra-upgrade fleet"],
          ["Deferred", "alice"],
          ["Rejected", "alice"]
        ])
      }).pipe(Effect.provide(engine(fleet, file)))
    },
    120_000
  )

  it.live(
    "FLEET-GATE-4 evidence that does not fit the gate is a typed error saying what is expected; the gate stays open; a gate not open is refused with the open ones",
    () => {
      const fleet = new Fleet(new Set(["w0s0"]))
      const plan = rolloutOf({ sites: sites([1]), waves: 1, concurrency: 1, allowedFailures: 0 })
      const file = dbFile()
      return Effect.gen(function* () {
        yield* Engine.start(plan)
        yield* openGateOf(plan.rolloutId, "w0s0")
        const bad = yield* Effect.flip(
          Engine.answerGate(answer({ rolloutId: plan.rolloutId, evidence: { consoleVersion: "24.1.0" } }))
        )
        expect(bad._tag).toBe("GateAnswerError")
        if (bad._tag !== "GateAnswerError") return
        expect(bad.reason._tag).toBe("BadEvidence")
        expect(bad.message).toMatch(/consoleVersion must be 24\.3\.2/)
        expect(bad.message).toMatch(/The gate asks for consoleVersion=<the version shown in Help > About>/)
        const missing = yield* Effect.flip(Engine.answerGate(answer({ rolloutId: plan.rolloutId, evidence: {} })))
        expect(missing.message).toMatch(/consoleVersion must be .*nothing was given/)
        const noComment = yield* Effect.flip(Engine.answerGate(answer({ rolloutId: plan.rolloutId, comment: " " })))
        expect(noComment._tag === "GateAnswerError" && noComment.reason._tag).toBe("MissingComment")
        const wrongGate = yield* Effect.flip(
          Engine.answerGate(answer({ rolloutId: plan.rolloutId, stepId: "install" }))
        )
        expect(wrongGate._tag === "GateAnswerError" && wrongGate.reason).toMatchObject({
          _tag: "NoOpenGate",
          open: ["confirm-console"]
        })
        expect(wrongGate.message).toMatch(/waits on confirm-console/)
        const gates = yield* (yield* FleetStore).gates(plan.rolloutId)
        expect(gates.map((g) => [g.gate.stepId, g.isOpen])).toEqual([["confirm-console", true]])
        // a good answer then completes it
        yield* Engine.answerGate(answer({ rolloutId: plan.rolloutId, evidence: { consoleVersion: "v24.3.2" } }))
        expect((yield* Engine.awaitEnd(plan.rolloutId)).status).toBe("succeeded")
      }).pipe(Effect.provide(engine(fleet, file)))
    },
    120_000
  )

  it.live(
    "FLEET-STALL-3 another process holds the database's write lock while the embedded runner runs and a site waits on its gate, past the runner's shard-lock refresh and until the runner reports it cannot write: once the lock is released the runner goes on, takes the answer and the rollout completes",
    () => {
      const fleet = new Fleet(new Set(["w0s0"]))
      const plan = rolloutOf({ sites: sites([2]), waves: 1, concurrency: 2, allowedFailures: 0 })
      const file = dbFile()
      const logs: Array<string> = []
      const capture = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ message }) => {
          logs.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
        })
      )
      // shard locks refreshed every second (expiration 3 s): the lock below outlasts several refreshes
      const runner = EngineLayer.embedded({
        file,
        pollInterval: "100 millis",
        idleInterval: "300 millis",
        shardLockExpiration: "3 seconds",
        storageProbeInterval: "200 millis"
      }).pipe(Layer.provide(fleet.worker), Layer.orDie)
      const logged = (text: string) =>
        Effect.gen(function* () {
          while (!logs.some((l) => l.includes(text))) yield* Effect.sleep("50 millis")
        })
      return Effect.gen(function* () {
        yield* Engine.start(plan)
        yield* openGateOf(plan.rolloutId, "w0s0")
        // the other process: a write transaction held until the runner reports that it cannot write
        yield* Effect.gen(function* () {
          const other = yield* SqlClient.SqlClient
          yield* other.withTransaction(logged("cannot write (SQLITE_BUSY"))
        }).pipe(Effect.provide(ledger(file)), Effect.scoped)
        yield* Engine.answerGate(answer({ rolloutId: plan.rolloutId, principal: "erin" })).pipe(
          Effect.provide(ledger(file)),
          Effect.scoped
        )
        const result = yield* Engine.awaitEnd(plan.rolloutId)
        expect(result.status).toBe("succeeded")
        expect(fleet.effects.get("w0s0")).toBe(1)
        expect(fleet.effects.get("w0s1")).toBe(1)
        yield* logged("takes writes again")
        expect(logs.filter((l) => /unhealthy/.test(l))).toEqual([])
      }).pipe(Effect.provide(runner), Effect.provide(capture))
    },
    240_000
  )

  it.live(
    "FLEET-STALL-4 the database's write lock held by another process past the runner's stall limit: awaiting the rollout fails with StorageStalled saying what to do (no silent hang); the runner started again once the lock is released completes the rollout",
    () => {
      const fleet = new Fleet(new Set(["w0s0"]))
      const plan = rolloutOf({ sites: sites([1]), waves: 1, concurrency: 1, allowedFailures: 0 })
      const file = dbFile()
      const runner = EngineLayer.embedded({
        file,
        pollInterval: "100 millis",
        idleInterval: "300 millis",
        storageStallAfter: "3 seconds",
        storageProbeInterval: "200 millis"
      }).pipe(Layer.provide(fleet.worker), Layer.orDie)
      return Effect.gen(function* () {
        const release = yield* Deferred.make<void>()
        const stalled = yield* Effect.gen(function* () {
          yield* Engine.start(plan)
          yield* openGateOf(plan.rolloutId, "w0s0")
          const held = yield* Deferred.make<void>()
          yield* Effect.forkScoped(
            Effect.gen(function* () {
              const other = yield* SqlClient.SqlClient
              yield* other.withTransaction(Effect.zipRight(Deferred.succeed(held, undefined), Deferred.await(release)))
            }).pipe(Effect.provide(ledger(file)), Effect.scoped)
          )
          yield* Deferred.await(held)
          return yield* Effect.flip(Engine.awaitEnd(plan.rolloutId))
        }).pipe(Effect.ensuring(Deferred.succeed(release, undefined)), Effect.provide(runner), Effect.scoped)
        expect(stalled._tag).toBe("StorageStalled")
        expect(stalled.message).toMatch(
          /has taken no write for \d+ s \((SQLITE_BUSY: another process holds the write lock|no write within 3 s)/
        )
        expect(stalled.message).toMatch(/run the same `sra-upgrade fleet run` again: the rollout resumes/)
        yield* Engine.answerGate(answer({ rolloutId: plan.rolloutId })).pipe(
          Effect.provide(ledger(file)),
          Effect.scoped
        )
        const result = yield* Effect.gen(function* () {
          yield* Engine.start(plan)
          return yield* Engine.awaitEnd(plan.rolloutId)
        }).pipe(Effect.provide(runner), Effect.scoped)
        expect(result.status).toBe("succeeded")
        expect(fleet.effects.get("w0s0")).toBe(1)
      })
    },
    240_000
  )

  it("FLEET-GATE-6 an answer given with earlier decisions of an approval queue (prior) is by every distinct approver, keeps every decision in its trail and the evidence of each", () => {
    const gate = new SiteGates.OpenGate({
      rolloutId: "r",
      site: "w0s0",
      stepId: "confirm-console",
      runId: "r.w0s0",
      purpose: "gate",
      title: "Confirm",
      instructions: [],
      evidence: [new Plan.EvidenceField({ name: "consoleVersion", description: "the version", format: "version" })],
      openedAt: new Date(0)
    })
    const first = new Operator.Approval({
      principal: "ann",
      role: "approver",
      decision: "approve",
      comment: "seen",
      evidence: { consoleVersion: "24.3.2" },
      at: new Date(1)
    })
    const approved = Either.getOrThrow(
      SiteGates.toAnswer(
        gate,
        answer({ rolloutId: "r", principal: "bob", comment: "seen too", prior: [first] }),
        new Date(2)
      )
    )
    expect(approved).toMatchObject({ _tag: "Approved", by: "ann, bob", comment: "seen too" })
    expect(approved._tag === "Approved" && approved.approvals?.map((a) => [a.principal, a.decision])).toEqual([
      ["ann", "approve"],
      ["bob", "approve"]
    ])
    const rejected = Either.getOrThrow(
      SiteGates.toAnswer(
        gate,
        answer({ rolloutId: "r", principal: "bob", decision: "reject", comment: "no", evidence: {}, prior: [first] }),
        new Date(2)
      )
    )
    expect(rejected).toMatchObject({ _tag: "Rejected", by: "bob", reason: "no" })
    expect(rejected._tag === "Rejected" && rejected.approvals?.length).toBe(2)
  })
})
