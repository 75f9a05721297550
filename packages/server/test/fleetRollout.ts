// A fleet rollout whose sites wait on manual gates, on the embedded engine (a SQLite file), for the portal's
// fleet tests: paris waits on an ordinary gate (the console's version as evidence), lyon on a dangerous one
// (breaking the failover relationship: two approvers), other sites on none. The runner is stopped while they wait.
import { type Journal, Plan } from "@sra-upgrade/core"
import { Engine, EngineLayer, FleetStore, type Rollout, type SiteWorker, type StorageHealth } from "@sra-upgrade/fleet"
import { TestRollout } from "@sra-upgrade/fleet/test"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"

const rule = Schema.decodeSync(Plan.RuleId)("PREP-1")

/** The gate a site waits on before its install. */
export const gateOf = (siteId: string): Plan.ManualGate | undefined =>
  siteId === "paris"
    ? TestRollout.consoleGate()
    : siteId === "lyon"
      ? new Plan.ManualGate({
          id: "break-relationship",
          title: "Break the failover relationship",
          rules: [rule],
          target: "A",
          estimatedSeconds: 60,
          handler: "failover/broken",
          params: {},
          idempotent: true,
          notes: [],
          instructions: ["Break the relationship in /appliance > Failover"],
          evidence: [new Plan.EvidenceField({ name: "ticket", description: "the change ticket" })]
        })
      : undefined

/** The site worker: each site's gate (if any), then its install, counted in `installs`. */
export const workerOf = (installs: Map<string, number>): Layer.Layer<SiteWorker.SiteWorker> =>
  TestRollout.worker({
    installs,
    before: (site) => {
      const gate = gateOf(site.id)
      return gate === undefined ? [] : [gate]
    }
  })

/** The embedded runner on `file`. */
export const engine = (
  file: string,
  worker: Layer.Layer<SiteWorker.SiteWorker>
): Layer.Layer<EngineLayer.Services | StorageHealth.StorageHealth> =>
  EngineLayer.embedded({ file, pollInterval: "100 millis", idleInterval: "300 millis" }).pipe(
    Layer.provide(worker),
    Layer.orDie
  )

/** Another client of the database (as `fleet status` is). */
export const ledger = (file: string): Layer.Layer<FleetStore.FleetStore | Journal.Journal> =>
  Layer.fresh(EngineLayer.ledgerOnly({ file })).pipe(Layer.orDie)

/** `plan` started on the embedded engine, left when `open` of its sites wait on their gates (the runner stopped). */
export const waitingRollout = (
  file: string,
  plan: Rollout.RolloutPlan,
  worker: Layer.Layer<SiteWorker.SiteWorker>,
  open: number
) =>
  Effect.gen(function* () {
    yield* Engine.start(plan)
    const store = yield* FleetStore.FleetStore
    for (;;) {
      const gates = yield* store.gates(plan.rolloutId)
      if (gates.filter((g) => g.isOpen).length === open) return
      yield* Effect.sleep("100 millis")
    }
  }).pipe(Effect.provide(engine(file, worker)), Effect.scoped, Effect.orDie)
