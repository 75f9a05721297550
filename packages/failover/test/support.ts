/**
 * Test wiring of the failover tests: the pair of the site file on the
 * in-memory fake of the port (`@sra-upgrade/core/test`), and an executor over
 * the failover handlers with a memory journal, the manual traffic switch and
 * an operator whose answers may change the fakes. Time is Effect's Clock
 * (TestClock in the tests): `run` moves it forward.
 */
import {
  type ApplianceApi,
  Executor,
  Journal,
  Operator,
  Plan,
  type RunReport,
  Site,
  type StepHandler
} from "@sra-upgrade/core"
import { FakeAppliance } from "@sra-upgrade/core/test"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as FailoverHandlers from "../src/FailoverHandlers.js"
import type * as SiteProber from "../src/SiteProber.js"
import * as TrafficSwitch from "../src/TrafficSwitch.js"

export const SITE_HOSTNAME = "support.example.test"
export const SHARED_IP = "10.0.0.10"
/** When every test starts (TestClock). */
export const T0 = Date.parse("2025-03-01T09:00:00Z")

export const siteYaml = (traffic: string) => `
hostname: ${SITE_HOSTNAME}
product: pra
appliances:
  - id: A
    role: primary
    apiUrl: https://10.0.0.11
    uniqueIp: 10.0.0.11
    clientId: abc
    clientSecret: { env: SRA_SECRET }
  - id: B
    role: backup
    apiUrl: https://10.0.0.12
    uniqueIp: 10.0.0.12
    tlsPort: 8443
    clientId: abc
    clientSecret: { env: SRA_SECRET }
trafficSwitch: ${traffic}
backup:
  directory: /var/backups/sra
clients:
  integrationClients:
    - { name: archiver, connectsBy: ip, address: 10.0.0.11 }
updates:
  - { id: site-25.1.1, kind: site, version: 25.1.1 }
`

export const site = (traffic = `{ method: shared-ip, sharedIp: ${SHARED_IP} }`) =>
  Effect.runSync(Site.decodeSite(siteYaml(traffic), "yaml"))

/**
 * The pair of the site file: A primary, holding the shared IP, its last sync
 * (long ago) a success; B its backup; each answering on its unique address.
 */
export const seeds = (): Record<string, Partial<FakeAppliance.State>> => ({
  A: {
    guid: "a".repeat(32),
    failoverRole: "primary",
    enabledSharedIps: [SHARED_IP],
    lastDataSync: new Date(0),
    lastDataSyncStatus: "success",
    urls: ["https://10.0.0.11"]
  },
  B: { guid: "b".repeat(32), failoverRole: "backup", urls: ["https://10.0.0.12"] }
})

/** The fake pair; the site address (`appliance("site")`, probes presenting the site's host name) reaches A. */
export const fakes = (): Layer.Layer<ApplianceApi.ApplianceApi | FakeAppliance.FakeAppliances> =>
  FakeAppliance.layer(seeds(), { siteHostname: SITE_HOSTNAME })

/** A test body over a fresh fake pair, the TestClock at `T0`. */
export const withPair = <A, E, R>(body: Effect.Effect<A, E, R>) =>
  TestClock.setTime(T0).pipe(Effect.zipRight(body), Effect.provide(fakes()))

/** The state of one fake appliance of the pair. */
export const state = (id: "A" | "B") => Effect.map(FakeAppliance.FakeAppliances, (f) => f.get(id).state)

/** A gate's answer, given the request and the time it is answered (Effect's Clock). */
export type Answer = (request: Operator.GateRequest, now: Date) => Operator.Answer

/** Answers per gate id; a gate without one is deferred. */
export type Script = Readonly<Record<string, Answer>>

/** Approve with every evidence field "checked", after `f` did what the person did (change the fakes). */
export const approve =
  (f?: (now: Date) => void): Answer =>
  (request, now) => {
    f?.(now)
    return new Operator.Approved({
      by: "test",
      evidence: Object.fromEntries(request.evidence.map((e) => [e.name, "checked"]))
    })
  }

const operator = (script: Script): Layer.Layer<Operator.Operator> =>
  Operator.layerPrompt((request) =>
    Effect.map(
      Clock.currentTimeMillis,
      (t) =>
        script[request.step.id]?.(request, new Date(t)) ??
        new Operator.Deferred({ by: "script", reason: `no scripted answer for ${request.step.id}` })
    )
  )

/** Options of the executor: a site prober, another traffic switch (an automated adapter). */
export interface Options {
  readonly prober?: Layer.Layer<SiteProber.SiteProber> | undefined
  readonly trafficSwitch?: Layer.Layer<TrafficSwitch.TrafficSwitch, never, ApplianceApi.ApplianceApi> | undefined
}

/** The failover registry over the fakes in context (no executor). */
export const handlers = (
  options: Options = {}
): Layer.Layer<StepHandler.StepHandlers, never, ApplianceApi.ApplianceApi> =>
  FailoverHandlers.layer.pipe(
    Layer.provide(options.prober ?? Layer.empty),
    Layer.provide(options.trafficSwitch ?? TrafficSwitch.layer)
  )

/** Executor + memory journal + traffic switch + the failover handlers over the fakes in context. */
export const executor = (script: Script, options: Options = {}) =>
  Executor.layer.pipe(Layer.provide(Layer.mergeAll(handlers(options), operator(script), Journal.layerMemory)))

export const plan = (steps: ReadonlyArray<Plan.Step>) =>
  new Plan.Plan({ id: "t", kind: "custom", title: "t", site: SITE_HOSTNAME, targetVersion: "25.1.1", steps })

/** Start running the steps as a plan over the fakes in context, in a fiber (move the TestClock to make it go on). */
export const start = (
  steps: ReadonlyArray<Plan.Step>,
  script: Script,
  options: Options = {}
): Effect.Effect<Fiber.RuntimeFiber<RunReport.RunReport, Executor.ExecutorError>, never, ApplianceApi.ApplianceApi> =>
  Effect.fork(Executor.run(plan(steps)).pipe(Effect.provide(executor(script, options))))

/** Run the steps as a plan over the fakes in context, moving the TestClock `seconds` ahead (polls, deadlines). */
export const run = (
  steps: ReadonlyArray<Plan.Step>,
  script: Script,
  options: Options & { readonly seconds?: number } = {}
): Effect.Effect<RunReport.RunReport, Executor.ExecutorError, ApplianceApi.ApplianceApi> =>
  Effect.gen(function* () {
    const fiber = yield* start(steps, script, options)
    yield* TestClock.adjust(Duration.seconds(options.seconds ?? 60))
    return yield* Fiber.join(fiber)
  })
