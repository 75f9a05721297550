import { describe, expect, it } from "@effect/vitest"
import {
  ApplianceApi,
  Executor,
  GateEvidence,
  Journal,
  Operator,
  Plan,
  Site,
  SingleUpgrade,
  StepDef,
  StepHandler
} from "@sra-upgrade/core"
import { FakeAppliance } from "@sra-upgrade/core/test"
import { Effect, Either, Layer, Schema } from "effect"

// 1. A check of your own: the appliance answers with the host name your CMDB has for it.
export const CheckHostname = StepDef.check("acme/check-hostname", {
  params: Schema.Struct({ appliance: Schema.String, hostname: Schema.String })
})

const checkHostname = Effect.fn("acme/check-hostname")(function* (params: typeof CheckHostname.params.Type) {
  const api = yield* ApplianceApi.ApplianceApi
  const health = yield* Effect.flatMap(api.appliance(params.appliance), (c) => c.health)
  if (health.hostname !== params.hostname)
    return yield* StepHandler.fail(
      `${params.appliance} answers as ${health.hostname}, not ${params.hostname}: fix the CMDB or the site file.`
    )
  return { hostname: health.hostname }
})

// 2. A gate of your own, with the evidence a person must give and its constraints.
export const ChangeTicket = StepDef.gate("acme/change-ticket", {
  params: Schema.Struct({ site: Schema.String }),
  evidence: () => ({
    ticket: GateEvidence.text("the approved change ticket, e.g. CHG0012345"),
    approvers: GateEvidence.integer("how many people approved it", { minimum: 2 })
  })
})

// 3. The handlers, registered beside core's (StepHandler.merge) wherever the plan runs.
export const AcmeHandlers = StepHandler.layer(
  CheckHostname.implement({ run: checkHostname }),
  ChangeTicket.implement({
    // the approval's evidence arrives decoded: approvers is a number here
    run: (params, ctx) =>
      Effect.succeed({ site: params.site, ticket: ctx.evidence?.ticket ?? "", approvers: ctx.evidence?.approvers ?? 0 })
  })
)

// 4. A planner of your own: the single-appliance sections with your steps where they belong.
export const planWithTicket = (site: Site.Site, target: string, current: string) =>
  Either.map(SingleUpgrade.sections(site, target, { current: { product: current } }), (s) =>
    Plan.make({
      id: `acme-${s.appliance}-${s.targetVersion}`,
      kind: "custom",
      title: `Upgrade ${site.hostname} to ${s.targetVersion} (change-managed)`,
      site: site.hostname,
      targetVersion: s.targetVersion,
      steps: [
        ChangeTicket.gate(
          {
            id: "change-ticket",
            title: "The change is approved",
            rules: [],
            estimatedSeconds: 60,
            instructions: ["Open the change ticket of this upgrade and check it is approved by two people."]
          },
          { site: site.hostname }
        ),
        ...s.checks,
        CheckHostname.check(
          { id: `${s.appliance}/hostname`, title: "Host name as in the CMDB", rules: [], estimatedSeconds: 5 },
          { appliance: s.appliance, hostname: `${s.appliance.toLowerCase()}.example.test` }
        ),
        ...s.windowStep,
        ...s.disconnects,
        ...s.backup,
        ...s.certificateExport,
        ...s.installs,
        ...s.verify,
        ...s.console,
        ...s.clients
      ],
      notes: [...s.warnings, ...s.notes]
    })
  )

// 5. A unit test of your steps against the in-memory appliance: no sockets, no hardware.
describe("my own steps", () => {
  const steps = Plan.make({
    id: "acme",
    kind: "custom",
    title: "ticket, then host name",
    site: "support.example.test",
    targetVersion: "24.3.2",
    steps: [
      ChangeTicket.gate(
        {
          id: "change-ticket",
          title: "The change is approved",
          rules: [],
          estimatedSeconds: 60,
          instructions: ["Check it."]
        },
        { site: "support.example.test" }
      ),
      CheckHostname.check(
        { id: "A/hostname", title: "Host name as in the CMDB", rules: [], estimatedSeconds: 5 },
        { appliance: "A", hostname: "a.example.test" }
      )
    ]
  })
  const answers = (approvers: string) =>
    Operator.layerScripted({
      "change-ticket": new Operator.Approved({ by: "alice", evidence: { ticket: "CHG0012345", approvers } })
    })
  const wired = (operator: Layer.Layer<Operator.Operator>) =>
    Executor.layer.pipe(
      Layer.provide(Layer.mergeAll(AcmeHandlers, operator, Journal.layerMemory)),
      Layer.provide(FakeAppliance.layer({ A: { hostname: "a.example.test" } }))
    )

  it.effect("a change approved by one person is refused: the gate stays open and nothing else runs", () =>
    Effect.gen(function* () {
      const report = yield* Executor.run(steps)
      expect(report.status).toBe("waiting-for-operator")
      expect(report.currentStep).toBe("change-ticket")
      const answer = report.gates[0]!.answer
      expect(answer._tag === "Deferred" && answer.reason).toMatch(/approvers must be a whole number of at least 2/)
    }).pipe(Effect.provide(wired(answers("1"))))
  )

  it.effect("approved by two, the run checks the host name through the appliance port", () =>
    Effect.gen(function* () {
      const report = yield* Executor.run(steps)
      expect(report.status).toBe("succeeded")
      // the handler's evidence (the report adds the operator's answer under "operator.")
      expect(report.steps[0]!.evidence).toMatchObject({
        site: "support.example.test",
        ticket: "CHG0012345",
        approvers: 2
      })
      expect(report.steps[1]!.evidence).toEqual({ hostname: "a.example.test" })
    }).pipe(Effect.provide(wired(answers("2"))))
  )

  it("the planner puts the ticket first and the host-name check after core's checks", () => {
    const site = Schema.decodeUnknownSync(Site.Site)({
      hostname: "support.example.test",
      product: "pra",
      appliances: [
        {
          id: "A",
          role: "none",
          apiUrl: "https://10.0.0.11",
          uniqueIp: "10.0.0.11",
          clientId: "c",
          clientSecret: { env: "S" }
        }
      ],
      backup: { directory: "/var/backups/sra" }
    })
    const plan = Either.getOrThrow(planWithTicket(site, "24.3.2", "24.1.3"))
    const sections = Either.getOrThrow(SingleUpgrade.sections(site, "24.3.2", { current: { product: "24.1.3" } }))
    expect(ChangeTicket.is(plan.steps[0]!)).toBe(true)
    expect(plan.steps.findIndex((s) => CheckHostname.is(s))).toBe(1 + sections.checks.length)
  })
})
