/**
 * Test wiring: fake appliances (appliance-client's `./test` export), the
 * memory journal, failover's manual TrafficSwitch, the handlers of core,
 * certificates and migration, and a scripted operator.
 */
import { FakeAppliance } from "@sra-upgrade/core/test"
import { Steps } from "@sra-upgrade/certificates"
import {
  ApplianceApi,
  ApplianceError,
  CoreHandlers,
  Executor,
  Journal,
  Operator,
  Plan,
  Site,
  StepHandler
} from "@sra-upgrade/core"
import { TrafficSwitch } from "@sra-upgrade/failover"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as MigrationHandlers from "../src/MigrationHandlers.js"

export const R = (...ids: ReadonlyArray<string>) => ids.map((i) => Plan.RuleId.make(i))

export const GUID_A = "a".repeat(32)
export const GUID_N = "b".repeat(32)

export const plan = (steps: ReadonlyArray<Plan.Step>) =>
  new Plan.Plan({
    id: "migration-test",
    kind: "migration",
    title: "test",
    site: "support.example.test",
    targetVersion: "24.1.3",
    steps
  })

export const env = (
  seeds: Readonly<Record<string, Partial<FakeAppliance.State>>>,
  script: Readonly<Record<string, Operator.Script>> = {},
  config: MigrationHandlers.Config = {},
  journal: Layer.Layer<Journal.Journal> = Journal.layerMemory,
  options: {
    /**
     * Ids whose vendor API refuses (no API account, as a factory box before the restore); each refused call
     * is recorded in `refused`. The load-balancer probe still reaches them.
     */
    readonly noApiAccount?: ReadonlyArray<string>
    readonly refused?: Array<string>
  } = {}
): Layer.Layer<
  | Executor.Executor
  | StepHandler.StepHandlers
  | Operator.Operator
  | TrafficSwitch.TrafficSwitch
  | ApplianceApi.ApplianceApi
  | FakeAppliance.FakeAppliances
  | Journal.Journal
> => {
  const fakes = FakeAppliance.layer(seeds)
  const noAccount = options.noApiAccount ?? []
  const apiLayer =
    noAccount.length === 0
      ? fakes
      : Layer.effect(
          ApplianceApi.ApplianceApi,
          Effect.map(ApplianceApi.ApplianceApi, (api) =>
            ApplianceApi.ApplianceApi.of({
              ...api,
              appliance: (id) =>
                noAccount.includes(id)
                  ? Effect.sync(() => options.refused?.push(id)).pipe(
                      Effect.zipRight(
                        Effect.fail(
                          new ApplianceError.ApplianceError({
                            appliance: id,
                            operation: "appliance",
                            reason: new ApplianceError.Unauthorized(),
                            hint: "a factory box has no API account before the restore"
                          })
                        )
                      )
                    )
                  : api.appliance(id)
            })
          )
        ).pipe(Layer.provideMerge(fakes))
  const deps = TrafficSwitch.layer.pipe(Layer.provideMerge(Layer.merge(apiLayer, journal)))
  const handlers = StepHandler.merge(MigrationHandlers.layer(config), CoreHandlers.layer(), Steps.layer())
  return Executor.layer.pipe(
    Layer.provideMerge(Layer.merge(handlers, Operator.layerScripted(script))),
    Layer.provideMerge(deps)
  )
}

export const approve = (evidence: Record<string, string> = {}) => new Operator.Approved({ by: "test", evidence })

const appliance = (id: string, ip: string, extra: Record<string, unknown> = {}) => ({
  id,
  role: "none",
  apiUrl: `https://${ip}`,
  uniqueIp: ip,
  clientId: `client-${id}`,
  clientSecret: { env: "SRA_SECRET" },
  ...extra
})

export const site = (extra: Record<string, unknown> = {}) =>
  Schema.decodeUnknownSync(Site.Site)({
    hostname: "support.example.test",
    product: "pra",
    appliances: [appliance("A", "10.0.0.11")],
    backup: { directory: "/var/backups/sra", password: { env: "SRA_BACKUP_PASSWORD" } },
    ...extra
  })

export const newBox = (extra: Record<string, unknown> = {}) =>
  Schema.decodeUnknownSync(Site.Appliance)(appliance("N", "10.0.0.21", extra))
