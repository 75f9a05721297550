// Site gates of fleet rollouts in the portal, through the derived typed client, against a real fleet database:
// a rollout on the embedded engine (SQLite file) whose two sites wait on manual gates (an ordinary one, and a
// dangerous one: breaking the failover relationship; test/fleetRollout.ts), as packages/fleet/test/SiteGates.test.ts sets them up. The
// runner is stopped while they wait; the portal lists and answers the gates by the single runs' policy; the runner
// started again takes the answers, journals them (GateAnswered) and completes the rollout.
import { describe, expect, it } from "@effect/vitest"
import { Journal } from "@sra-upgrade/core"
import { Engine, FleetStore, SiteGates } from "@sra-upgrade/fleet"
import { TestRollout } from "@sra-upgrade/fleet/test"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { join } from "node:path"
import { engine as engineOf, ledger, waitingRollout as waitingRolloutOf, workerOf } from "./fleetRollout.js"
import { clientOf, portal, type Portal, tempDir } from "./support.js"

const plan = TestRollout.rolloutPlan({
  rolloutId: "autumn",
  name: "autumn upgrade",
  sites: [TestRollout.sitePlan({ id: "paris" }), TestRollout.sitePlan({ id: "lyon" })],
  waves: 1,
  concurrency: 2,
  allowedFailures: 0
})

const installs = new Map<string, number>()
const worker = workerOf(installs)
const engine = (file: string) => engineOf(file, worker)
const waitingRollout = (file: string) => waitingRolloutOf(file, plan, worker, 2)

const raw = (p: Portal, path: string, body: unknown, token?: Redacted.Redacted<string>) =>
  Effect.promise(() =>
    fetch(`${p.url}${path}`, {
      method: "POST",
      headers: {
        ...(token === undefined ? {} : { authorization: `Bearer ${Redacted.value(token)}` }),
        "content-type": "application/json"
      },
      body: JSON.stringify(body)
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as { _tag: string; message: string } }))
  )

describe("site gates of fleet rollouts in the portal", () => {
  it.scopedLive(
    "FLEET-PORTAL-GATE-1 the gates sites wait on, listed with instructions, evidence and policy; answered by approvers only (401, 403), evidence checked (400), four eyes on a dangerous gate, Idempotency-Key, 409 on a conflicting answer; the answers reach the fleet's ledger and the sites' journals (GateAnswered) with principal and comment, and the rollout completes",
    () =>
      Effect.gen(function* () {
        const file = join(tempDir("fleet-gates"), "fleet.db")
        yield* waitingRollout(file)
        const p = yield* portal(undefined, { fleet: { file } })
        const vera = yield* clientOf(p, "vera")
        const gatesPath = { rolloutId: "autumn" }

        // the list: both gates open, with instructions, evidence fields and the step's policy
        const listed = yield* vera.fleet.gates({ path: gatesPath })
        expect(listed.map((g) => [g.site, g.stepId, g.status, g.policy.approvals, g.remaining]).sort()).toEqual([
          ["lyon", "break-relationship", "open", 2, 2],
          ["paris", "confirm-console", "open", 1, 1]
        ])
        const paris = listed.find((g) => g.site === "paris")!
        const lyon = listed.find((g) => g.site === "lyon")!
        expect(paris.instructions).toEqual(["Open Help > About on the console", "Read the version shown"])
        expect(paris.evidence.map((f) => [f.name, f.format, f.expected])).toEqual([
          ["consoleVersion", "version", "24.3.2"]
        ])
        expect(paris.runId).toBe(Engine.runIdOf("autumn", "paris"))
        expect(paris.handler).toBe("gate")
        expect(lyon.policy.roles).toEqual(["approver", "admin"])
        expect(lyon.policy.basis).toContain("breaks the failover relationship")
        expect(lyon.policy.deadlineSeconds).toBeUndefined()
        expect(lyon.policy.basis).toContain("fleet gate: no deadline")

        const answerPath = (s: string, gate: string) => ({ rolloutId: "autumn", site: s, gate })
        const approveParis = (comment: string, consoleVersion: string) => ({
          path: answerPath("paris", "confirm-console"),
          payload: { decision: "approve" as const, comment, evidence: { consoleVersion } },
          headers: {}
        })

        // 401 without a token, 403 for a viewer and an operator
        const anonymous = yield* clientOf(p, undefined)
        expect((yield* Effect.flip(anonymous.fleet.gates({ path: gatesPath })))._tag).toBe("Unauthenticated")
        expect((yield* Effect.flip(anonymous.fleet.answerGate(approveParis("x", "24.3.2"))))._tag).toBe(
          "Unauthenticated"
        )
        const noToken = yield* raw(p, "/api/v1/fleet/rollouts/autumn/sites/paris/gates/confirm-console/answer", {
          decision: "approve",
          comment: "x",
          evidence: { consoleVersion: "24.3.2" }
        })
        expect(noToken.status).toBe(401)
        const byViewer = yield* Effect.flip(vera.fleet.answerGate(approveParis("seen", "24.3.2")))
        expect(byViewer._tag === "Forbidden" && byViewer.reason).toBe("role")
        const oscar = yield* clientOf(p, "oscar")
        const byOperator = yield* raw(
          p,
          "/api/v1/fleet/rollouts/autumn/sites/paris/gates/confirm-console/answer",
          { decision: "approve", comment: "seen", evidence: { consoleVersion: "24.3.2" } },
          p.tokens.oscar
        )
        expect(byOperator.status).toBe(403)
        expect((yield* Effect.flip(oscar.fleet.answerGate(approveParis("seen", "24.3.2"))))._tag).toBe("Forbidden")

        // evidence that does not fit the gate: a typed 400 naming what is expected; nothing recorded
        const ann = yield* clientOf(p, "ann")
        const bad = yield* Effect.flip(ann.fleet.answerGate(approveParis("seen", "24.1.0")))
        expect(bad._tag === "Invalid" && bad.reason).toBe("evidence")
        expect(bad.message).toMatch(/consoleVersion must be 24\.3\.2/)
        expect(bad.message).toContain("The gate asks for consoleVersion=<the version shown in Help > About>")
        const missing = yield* raw(
          p,
          "/api/v1/fleet/rollouts/autumn/sites/paris/gates/confirm-console/answer",
          { decision: "approve", comment: "seen", evidence: {} },
          p.tokens.ann
        )
        expect(missing.status).toBe(400)
        expect(missing.body.message).toContain("consoleVersion")
        const unknownGate = yield* Effect.flip(
          ann.fleet.answerGate({ ...approveParis("seen", "24.3.2"), path: answerPath("paris", "install") })
        )
        expect(unknownGate._tag === "NotFound" && unknownGate.message).toContain("waits on confirm-console")
        const noComment = yield* raw(
          p,
          "/api/v1/fleet/rollouts/autumn/sites/paris/gates/confirm-console/answer",
          { decision: "approve", comment: "  ", evidence: { consoleVersion: "24.3.2" } },
          p.tokens.ann
        )
        expect(noComment.status).toBe(400)
        expect(noComment.body.message).toContain("a comment is required")

        // an ordinary gate: one approver; the principal is the token's, never a name from the body
        const spoofed = yield* raw(
          p,
          "/api/v1/fleet/rollouts/autumn/sites/paris/gates/confirm-console/answer",
          {
            decision: "approve",
            comment: "seen 24.3.2 in Help > About",
            evidence: { consoleVersion: "24.3.2" },
            by: "ada"
          },
          p.tokens.ann
        )
        expect(spoofed.status).toBe(200)
        const approved = (yield* ann.fleet.gates({ path: gatesPath })).find((g) => g.site === "paris")!
        expect(approved.status).toBe("approved")
        expect(approved.approvals.map((a) => [a.principal, a.role, a.decision, a.comment])).toEqual([
          ["ann", "approver", "approve", "seen 24.3.2 in Help > About"]
        ])
        expect(approved.answer).toMatchObject({ _tag: "Approved", by: "ann", comment: "seen 24.3.2 in Help > About" })
        // the same answer again is harmless; a different one to the closed gate is a 409
        const again = yield* ann.fleet.answerGate(approveParis("seen 24.3.2 in Help > About", "24.3.2"))
        expect(again.status).toBe("approved")
        const bob = yield* clientOf(p, "bob")
        const conflicting = yield* Effect.flip(
          bob.fleet.answerGate({
            path: answerPath("paris", "confirm-console"),
            payload: { decision: "reject", comment: "wrong version", evidence: {} },
            headers: {}
          })
        )
        expect(conflicting._tag === "Conflict" && conflicting.reason).toBe("gate-closed")
        const conflictingRaw = yield* raw(
          p,
          "/api/v1/fleet/rollouts/autumn/sites/paris/gates/confirm-console/answer",
          { decision: "reject", comment: "wrong version" },
          p.tokens.bob
        )
        expect(conflictingRaw.status).toBe(409)

        // a dangerous gate: two distinct approvers; the first approval is not the answer; Idempotency-Key
        const approveLyon = (comment: string, key?: string) => ({
          path: answerPath("lyon", "break-relationship"),
          payload: { decision: "approve" as const, comment, evidence: { ticket: "CHG-1042" } },
          headers: key === undefined ? {} : { "idempotency-key": key }
        })
        const first = yield* ann.fleet.answerGate(approveLyon("relationship broken as planned", "k-ann"))
        expect([first.status, first.remaining]).toEqual(["open", 1])
        expect(first.answer).toBeUndefined()
        const retried = yield* ann.fleet.answerGate(approveLyon("relationship broken as planned", "k-ann"))
        expect([retried.status, retried.remaining, retried.approvals.length]).toEqual(["open", 1, 1])
        const reused = yield* Effect.flip(ann.fleet.answerGate(approveLyon("another request", "k-ann")))
        expect(reused._tag === "Conflict" && reused.reason).toBe("idempotency-key")
        const twice = yield* Effect.flip(ann.fleet.answerGate(approveLyon("me again")))
        expect(twice._tag === "Conflict" && twice.reason).toBe("already-decided")
        const inLedger = yield* Effect.flatMap(FleetStore.FleetStore, (s) => s.gates("autumn")).pipe(
          Effect.provide(ledger(file))
        )
        expect(inLedger.find((g) => g.gate.site === "lyon")!.answer).toBeUndefined()
        const second = yield* bob.fleet.answerGate(approveLyon("seen broken on both appliances", "k-bob"))
        expect(second.status).toBe("approved")
        expect(second.answer).toMatchObject({ _tag: "Approved", by: "ann, bob" })
        expect(second.approvals.map((a) => a.principal)).toEqual(["ann", "bob"])

        // the fleet's gate records hold the answers (what `fleet status` reads)
        const records = yield* Effect.flatMap(FleetStore.FleetStore, (s) => s.gates("autumn")).pipe(
          Effect.provide(ledger(file))
        )
        expect(records.find((g) => g.gate.site === "paris")!.answer).toMatchObject({
          _tag: "Approved",
          by: "ann",
          comment: "seen 24.3.2 in Help > About",
          evidence: { consoleVersion: "24.3.2" }
        })

        // the runner again: each site takes its answer, journals it and completes
        const result = yield* Effect.gen(function* () {
          yield* Engine.start(plan)
          return yield* Engine.awaitEnd(plan.rolloutId)
        }).pipe(Effect.provide(engine(file)), Effect.scoped)
        expect(result.status).toBe("succeeded")
        expect([installs.get("paris"), installs.get("lyon")]).toEqual([1, 1])
        const journaled = (siteId: string) =>
          Effect.gen(function* () {
            const journal = yield* Journal.Journal
            const records = (yield* journal.read(Engine.runIdOf("autumn", siteId))).records
            return records.flatMap((r) => (r.event._tag === "GateAnswered" ? [r.event.answer] : [])).at(-1)
          }).pipe(Effect.provide(ledger(file)))
        expect(yield* journaled("paris")).toMatchObject({
          _tag: "Approved",
          by: "ann",
          comment: "seen 24.3.2 in Help > About",
          approvals: [{ principal: "ann", role: "approver", decision: "approve" }]
        })
        const lyonAnswer = yield* journaled("lyon")
        expect(lyonAnswer).toMatchObject({
          _tag: "Approved",
          by: "ann, bob",
          comment: "seen broken on both appliances"
        })
        expect(lyonAnswer?._tag === "Approved" && lyonAnswer.approvals?.map((a) => [a.principal, a.comment])).toEqual([
          ["ann", "relationship broken as planned"],
          ["bob", "seen broken on both appliances"]
        ])

        // the OpenAPI document describes the new resources
        const openapi = yield* Effect.promise(() =>
          fetch(`${p.url}/api/openapi.json`).then((r) => r.json() as Promise<{ paths: Record<string, unknown> }>)
        )
        expect(Object.keys(openapi.paths)).toEqual(
          expect.arrayContaining([
            "/api/v1/fleet/rollouts/{rolloutId}/gates",
            "/api/v1/fleet/rollouts/{rolloutId}/sites/{site}/gates/{gate}/answer"
          ])
        )
      }),
    300_000
  )

  it.scopedLive(
    "FLEET-PORTAL-GATE-2 a deferral through the portal reaches the ledger and, once the site's run took it, the gate opens again with a fresh ballot; a rejection by a second approver closes it with both decisions; a gate whose step the journal does not show needs two approvers; unknown rollout, site and gate are 404s",
    () =>
      Effect.gen(function* () {
        const file = join(tempDir("fleet-gates-2"), "fleet.db")
        const winter = TestRollout.rolloutPlan({
          rolloutId: "winter",
          sites: [TestRollout.sitePlan({ id: "paris" })],
          waves: 1,
          concurrency: 1,
          allowedFailures: 0
        })
        const gate = TestRollout.consoleGate()
        // the ledger as a site's run leaves it at a gate (no engine, no journal: the step is unknown to the portal)
        yield* Effect.gen(function* () {
          const store = yield* FleetStore.FleetStore
          yield* store.create(winter)
          yield* store.openGate(
            new SiteGates.OpenGate({
              rolloutId: "winter",
              site: "paris",
              stepId: gate.id,
              runId: Engine.runIdOf("winter", "paris"),
              purpose: "gate",
              title: gate.title,
              instructions: gate.instructions,
              evidence: gate.evidence,
              openedAt: new Date("2026-12-01T08:00:00Z")
            })
          )
        }).pipe(Effect.provide(ledger(file)))
        const p = yield* portal(undefined, { fleet: { file } })
        const ann = yield* clientOf(p, "ann")
        const bob = yield* clientOf(p, "bob")
        const ada = yield* clientOf(p, "ada")
        const path = { rolloutId: "winter", site: "paris", gate: gate.id }

        const [listed] = yield* ann.fleet.gates({ path: { rolloutId: "winter" } })
        expect(listed!.handler).toBeUndefined()
        expect(listed!.policy.approvals).toBe(2)
        expect(listed!.policy.basis).toContain("does not show step confirm-console: treated as a dangerous gate")

        // a deferral decides at once: into the ledger
        const deferred = yield* ann.fleet.answerGate({
          path,
          payload: { decision: "defer", comment: "not before the change window", evidence: {} },
          headers: {}
        })
        expect(deferred.status).toBe("deferred")
        expect(deferred.answer).toMatchObject({ _tag: "Deferred", by: "ann", reason: "not before the change window" })
        // the site's run takes it (the gate stays open): a fresh ballot, the deferral shown
        yield* Effect.flatMap(FleetStore.FleetStore, (s) => s.takeAnswer("winter", "paris", gate.id)).pipe(
          Effect.provide(ledger(file))
        )
        const [reopened] = yield* ann.fleet.gates({ path: { rolloutId: "winter" } })
        expect([reopened!.status, reopened!.remaining, reopened!.approvals.length]).toEqual(["open", 2, 0])
        expect(reopened!.lastDeferral).toMatchObject({ by: "ann" })

        const first = yield* ann.fleet.answerGate({
          path,
          payload: { decision: "approve", comment: "24.3.2 shown", evidence: { consoleVersion: "24.3.2" } },
          headers: {}
        })
        expect([first.status, first.remaining]).toEqual(["open", 1])
        const rejected = yield* bob.fleet.answerGate({
          path,
          payload: { decision: "reject", comment: "the console still shows 24.1.0", evidence: {} },
          headers: {}
        })
        expect(rejected.status).toBe("rejected")
        expect(rejected.answer).toMatchObject({ _tag: "Rejected", by: "bob", reason: "the console still shows 24.1.0" })
        expect(rejected.approvals.map((a) => [a.principal, a.decision])).toEqual([
          ["ann", "approve"],
          ["bob", "reject"]
        ])
        const inLedger = yield* Effect.flatMap(FleetStore.FleetStore, (s) => s.gates("winter")).pipe(
          Effect.provide(ledger(file))
        )
        expect(inLedger[0]!.answer).toMatchObject({ _tag: "Rejected", by: "bob" })
        // an admin's different answer to the closed gate: 409
        const late = yield* Effect.flip(
          ada.fleet.answerGate({
            path,
            payload: { decision: "approve", comment: "override", evidence: { consoleVersion: "24.3.2" } },
            headers: {}
          })
        )
        expect(late._tag === "Conflict" && late.reason).toBe("gate-closed")

        // 404s
        const noRollout = yield* Effect.flip(ann.fleet.gates({ path: { rolloutId: "spring" } }))
        expect(noRollout._tag === "NotFound" && noRollout.resource).toBe("rollout")
        const noSite = yield* Effect.flip(
          ann.fleet.answerGate({
            path: { ...path, site: "lyon" },
            payload: { decision: "defer", comment: "x", evidence: {} },
            headers: {}
          })
        )
        expect(noSite._tag === "NotFound" && noSite.resource).toBe("site")
        const noGate = yield* Effect.flip(
          ann.fleet.answerGate({
            path: { ...path, gate: "install" },
            payload: { decision: "defer", comment: "x", evidence: {} },
            headers: {}
          })
        )
        expect(noGate._tag === "NotFound" && noGate.resource).toBe("gate")
      }),
    120_000
  )
})
