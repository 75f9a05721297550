/**
 * Synthetic rollouts for tests of the engine and of its clients (`fleet
 * status|answer`, the portal): site plans without site files, a rollout plan
 * over them, the console-version gate the gate tests wait on, and a site
 * worker whose sites run their gates, then one non-idempotent `install`
 * action it counts per site (exactly once, whatever the crashes).
 *
 * @since 0.3.0
 */
import { Executor, Plan, StepHandler } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as FleetFile from "./FleetFile.js"
import * as Rollout from "./Rollout.js"
import * as SiteWindow from "./SiteWindow.js"
import { SiteWorker } from "./SiteWorker.js"

const rule = Schema.decodeSync(Plan.RuleId)("PREP-1")

/**
 * A window open all week (UTC).
 *
 * @since 0.3.0
 * @category constructors
 */
export const alwaysOpen: ReadonlyArray<SiteWindow.WeeklyWindow> = [
  new SiteWindow.WeeklyWindow({ timeZone: "UTC", days: ["mon"], start: "00:00", durationMinutes: 7 * 24 * 60 })
]

/**
 * A synthetic single-appliance site of a rollout plan (an async pair with
 * `secondSeconds`): wave 0, always open, 600 s estimated, unless told.
 *
 * @since 0.3.0
 * @category constructors
 */
export const sitePlan = (options: {
  readonly id: string
  readonly wave?: number | undefined
  readonly windows?: ReadonlyArray<SiteWindow.WeeklyWindow> | undefined
  readonly firstSeconds?: number | undefined
  readonly secondSeconds?: number | undefined
}): Rollout.SitePlan => {
  const windows = options.windows ?? alwaysOpen
  return new Rollout.SitePlan({
    id: options.id,
    file: `${options.id}.yaml`,
    path: `/fleet/${options.id}.yaml`,
    hostname: `${options.id}.example.com`,
    product: "pra",
    kind: options.secondSeconds === undefined ? "single" : "async-pair",
    wave: options.wave ?? 0,
    timeZone: windows[0]?.timeZone ?? "UTC",
    windows,
    targetVersion: "24.3.2",
    estimate: new Rollout.SiteEstimate({
      source: "install-estimate",
      firstWindowSeconds: options.firstSeconds ?? 600,
      ...(options.secondSeconds !== undefined ? { secondWindowSeconds: options.secondSeconds } : {}),
      explanation: "test"
    }),
    fitsWindow: true,
    warnings: []
  })
}

/**
 * A synthetic rollout plan over these sites (target PRA 24.3.2): `waves`
 * waves (the first a canary), those listed in `approvals` (indexes) waiting
 * for their approval.
 *
 * @since 0.3.0
 * @category constructors
 */
export const rolloutPlan = (options: {
  readonly rolloutId?: string | undefined
  readonly name?: string | undefined
  readonly sites: ReadonlyArray<Rollout.SitePlan>
  readonly waves: number
  readonly concurrency: number
  readonly allowedFailures: number
  readonly approvals?: ReadonlyArray<number> | undefined
}): Rollout.RolloutPlan =>
  new Rollout.RolloutPlan({
    rolloutId: options.rolloutId ?? "test",
    name: options.name ?? options.rolloutId ?? "test",
    file: "fleet.yaml",
    plannedAt: new Date("2026-01-01T00:00:00Z"),
    target: new FleetFile.TargetVersions({ pra: "24.3.2" }),
    concurrency: options.concurrency,
    failureBudget: new FleetFile.FailureBudget({ count: options.allowedFailures }),
    allowedFailures: options.allowedFailures,
    waves: Array.from(
      { length: options.waves },
      (_, i) =>
        new Rollout.WavePlan({
          index: i,
          name: `wave ${i + 1}`,
          canary: i === 0,
          approval: options.approvals?.includes(i) ?? false,
          sites: options.sites.filter((s) => s.wave === i).map((s) => s.id)
        })
    ),
    sites: [...options.sites].sort((a, b) => a.wave - b.wave),
    assumptions: [],
    warnings: []
  })

/**
 * A manual gate: confirm the console's version (evidence `consoleVersion`,
 * a version, expected 24.3.2), handler `gate`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const consoleGate = (): Plan.ManualGate =>
  new Plan.ManualGate({
    id: "confirm-console",
    title: "Confirm the console version",
    rules: [rule],
    target: "A",
    estimatedSeconds: 60,
    handler: "gate",
    params: {},
    idempotent: true,
    notes: [],
    instructions: ["Open Help > About on the console", "Read the version shown"],
    evidence: [
      new Plan.EvidenceField({
        name: "consoleVersion",
        description: "the version shown in Help > About",
        format: "version",
        expected: "24.3.2"
      })
    ]
  })

/**
 * A site's plan: the steps given (e.g. a gate), then one non-idempotent
 * `install` action.
 *
 * @since 0.3.0
 * @category constructors
 */
export const installPlan = (
  site: { readonly id: string; readonly hostname: string; readonly targetVersion: string },
  before: ReadonlyArray<Plan.Step> = []
): Plan.Plan =>
  new Plan.Plan({
    id: `upgrade-${site.id}`,
    kind: "custom",
    title: `Upgrade ${site.id}`,
    site: site.hostname,
    targetVersion: site.targetVersion,
    steps: [
      ...before,
      new Plan.Action({
        id: "install",
        title: "Install",
        rules: [rule],
        target: "A",
        estimatedSeconds: 1,
        handler: "install",
        params: {},
        idempotent: false,
        notes: []
      })
    ],
    notes: []
  })

/**
 * A site worker over {@link installPlan}: each site runs `before(site)`
 * (whose handlers do nothing), then `install`, counted per site in
 * `installs`. No operator: the engine's (the rollout's durable gates).
 *
 * @since 0.3.0
 * @category layers
 */
export const worker = (options: {
  readonly installs: Map<string, number>
  readonly before?: ((site: Rollout.SitePlan) => ReadonlyArray<Plan.Step>) | undefined
}): Layer.Layer<SiteWorker> =>
  Layer.succeed(
    SiteWorker,
    SiteWorker.of({
      prepare: (site) =>
        Effect.sync(() => {
          const before = options.before?.(site) ?? []
          const count = () => options.installs.get(site.id) ?? 0
          return {
            plan: Effect.succeed(installPlan(site, before)),
            executor: Executor.layer.pipe(
              Layer.provide(
                StepHandler.layerRaw({
                  ...Object.fromEntries(before.map((s) => [s.handler, { run: () => Effect.succeed({}) }])),
                  install: {
                    run: () =>
                      Effect.sync(() => {
                        options.installs.set(site.id, count() + 1)
                        return {}
                      }),
                    verify: () => Effect.sync(() => ({ effective: count() > 0, evidence: {} }))
                  }
                })
              )
            )
          }
        })
    })
  )
