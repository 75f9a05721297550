// Fleet rollouts in the portal, through the derived typed client: read-only
// views of the rollouts in the fleet's database (SQLite here), and wave
// approvals by an authenticated approver with a mandatory comment, written
// by the fleet's own SDK (FleetStore.approveWave) so `fleet status` sees them.
import { describe, expect, it } from "@effect/vitest"
import { Admission, EngineLayer, FleetFile, FleetStore, Rollout } from "@sra-upgrade/fleet"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { join } from "node:path"
import { clientOf, portal, type Portal, tempDir } from "./support.js"

const site = (id: string, wave: number) =>
  new Rollout.SitePlan({
    id,
    file: `${id}.yaml`,
    path: `/fleet/${id}.yaml`,
    hostname: `${id}.example.com`,
    product: "pra",
    kind: "single",
    wave,
    timeZone: "Europe/Paris",
    windows: [],
    targetVersion: "24.3.2",
    estimate: new Rollout.SiteEstimate({ source: "install-estimate", firstWindowSeconds: 1500, explanation: "test" }),
    fitsWindow: true,
    warnings: []
  })

/** Two waves: a canary of one site, then two sites after an approval. */
const plan = (rolloutId: string) => {
  const sites = [site("paris", 0), site("lyon", 1), site("nice", 1)]
  return new Rollout.RolloutPlan({
    rolloutId,
    name: "spring upgrade",
    file: "fleet.yaml",
    plannedAt: new Date("2026-01-01T00:00:00Z"),
    target: new FleetFile.TargetVersions({ pra: "24.3.2" }),
    concurrency: 2,
    failureBudget: new FleetFile.FailureBudget({ count: 0 }),
    allowedFailures: 0,
    waves: [
      new Rollout.WavePlan({ index: 0, name: "canary", canary: true, approval: false, sites: ["paris"] }),
      new Rollout.WavePlan({ index: 1, name: "rest", canary: false, approval: true, sites: ["lyon", "nice"] })
    ],
    sites,
    assumptions: [],
    warnings: []
  })
}

/** A fleet database holding one rollout, as `fleet run` would have left it (no engine needed to read it). */
const database = (rolloutId: string) =>
  Effect.gen(function* () {
    const file = join(tempDir("fleet"), "fleet.db")
    yield* Effect.flatMap(FleetStore.FleetStore, (s) => s.create(plan(rolloutId))).pipe(
      Effect.provide(EngineLayer.ledgerOnly({ file })),
      Effect.orDie
    )
    return file
  })

/** What the fleet's own SDK reads from the database (as `fleet status` does). */
const stored = (file: string, rolloutId: string) =>
  Effect.flatMap(FleetStore.FleetStore, (s) => s.get(rolloutId)).pipe(
    Effect.provide(Layer.fresh(EngineLayer.ledgerOnly({ file }))),
    Effect.orDie
  )

const rawApprove = (p: Portal, rolloutId: string, wave: number, body: unknown) =>
  Effect.promise(() =>
    fetch(`${p.url}/api/v1/fleet/rollouts/${rolloutId}/waves/${wave}/approve`, {
      method: "POST",
      headers: { authorization: `Bearer ${Redacted.value(p.tokens.ann)}`, "content-type": "application/json" },
      body: JSON.stringify(body)
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as { _tag: string; message: string } }))
  )

describe("fleet rollouts in the portal", () => {
  it.scopedLive(
    "rollouts read-only for viewers; a wave approved by an approver with a comment, recorded by the fleet's SDK; 403, 400, 404",
    () =>
      Effect.gen(function* () {
        const file = yield* database("spring")
        const p = yield* portal(undefined, { fleet: { file } })
        const vera = yield* clientOf(p, "vera")
        const list = yield* vera.fleet.list()
        expect(list.map((r) => r.rolloutId)).toEqual(["spring"])
        const view = yield* vera.fleet.get({ path: { rolloutId: "spring" } })
        expect(view.name).toBe("spring upgrade")
        expect(view.summary.waves.map((w) => [w.index, w.approval, w.approved])).toEqual([
          [0, false, false],
          [1, true, false]
        ])
        expect(view.sites.map((s) => [s.id, s.wave, s.state._tag])).toEqual([
          ["paris", 1, "NotStarted"],
          ["lyon", 2, "NotStarted"],
          ["nice", 2, "NotStarted"]
        ])
        expect(view.sites[0]!.runId).toBe("spring.paris")
        expect(view.approvals).toEqual([])

        // a viewer and an operator may not approve
        const byViewer = yield* Effect.flip(
          vera.fleet.approveWave({ path: { rolloutId: "spring", wave: 2 }, payload: { comment: "looks fine" } })
        )
        expect(byViewer._tag === "Forbidden" && byViewer.reason).toBe("role")
        const oscar = yield* clientOf(p, "oscar")
        const byOperator = yield* Effect.flip(
          oscar.fleet.approveWave({ path: { rolloutId: "spring", wave: 2 }, payload: { comment: "looks fine" } })
        )
        expect(byOperator._tag).toBe("Forbidden")
        // the comment is mandatory: the typed client checks it, the service checks it again
        const ann = yield* clientOf(p, "ann")
        const noComment = yield* Effect.flip(
          ann.fleet.approveWave({ path: { rolloutId: "spring", wave: 2 }, payload: { comment: "  " } })
        )
        expect(noComment._tag).toBe("ParseError")
        const raw = yield* rawApprove(p, "spring", 2, { comment: "  " })
        expect(raw.status).toBe(400)
        expect(raw.body.message).toContain("a comment is required")
        // a name in the body is not who approved
        const spoofed = yield* rawApprove(p, "spring", 2, { comment: "canary fine", by: "ada" })
        expect(spoofed.status).toBe(200)
        // nothing was approved before; the record names the authenticated caller
        const after = yield* stored(file, "spring")
        expect(after.controls.approvedWaves).toEqual([1])
        expect(after.controls.waveApprovals.map((a) => [a.wave, a.by, a.role, a.comment])).toEqual([
          [1, "ann", "approver", "canary fine"]
        ])
        // the fleet's own summary (what `fleet status` prints) sees the approval
        const summary = Admission.summarize(after.plan, after.ledger, after.controls, new Date())
        expect(summary.waves[1]!.approved).toBe(true)
        // approving again changes nothing (a retried request is harmless)
        const again = yield* ann.fleet.approveWave({
          path: { rolloutId: "spring", wave: 2 },
          payload: { comment: "retry" }
        })
        expect(again.approvals.map((a) => a.comment)).toEqual(["canary fine"])
        expect(again.summary.waves[1]!.approved).toBe(true)

        // a wave that needs no approval, a wave that does not exist, a rollout that does not exist
        const noApproval = yield* Effect.flip(
          ann.fleet.approveWave({ path: { rolloutId: "spring", wave: 1 }, payload: { comment: "go" } })
        )
        expect(noApproval._tag === "Invalid" && noApproval.reason).toBe("wave")
        expect(noApproval.message).toContain("needs no approval")
        const noWave = yield* Effect.flip(
          ann.fleet.approveWave({ path: { rolloutId: "spring", wave: 9 }, payload: { comment: "go" } })
        )
        expect(noWave._tag === "Invalid" && noWave.message).toContain("waves are 1 to 2")
        const noRollout = yield* Effect.flip(vera.fleet.get({ path: { rolloutId: "autumn" } }))
        expect(noRollout._tag === "NotFound" && noRollout.resource).toBe("rollout")
        // 401 without a token
        const anonymous = yield* clientOf(p, undefined)
        expect((yield* Effect.flip(anonymous.fleet.list()))._tag).toBe("Unauthenticated")
      }),
    120_000
  )

  it.scopedLive("a portal started without a fleet database answers the fleet resources with a typed 503", () =>
    Effect.gen(function* () {
      const p = yield* portal(undefined)
      const vera = yield* clientOf(p, "vera")
      const e = yield* Effect.flip(vera.fleet.list())
      expect(e._tag === "Unavailable" && e.reason).toBe("fleet")
      expect(e.message).toContain("--fleet-database")
      // the OpenAPI document describes the fleet's resources
      const openapi = yield* Effect.promise(() =>
        fetch(`${p.url}/api/openapi.json`).then((r) => r.json() as Promise<{ paths: Record<string, unknown> }>)
      )
      expect(Object.keys(openapi.paths)).toEqual(
        expect.arrayContaining([
          "/api/v1/fleet/rollouts",
          "/api/v1/fleet/rollouts/{rolloutId}",
          "/api/v1/fleet/rollouts/{rolloutId}/waves/{wave}/approve"
        ])
      )
    })
  )
})
