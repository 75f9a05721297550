/**
 * Fleet rollouts in the portal: a client of the fleet's SDK over its database
 * (the ledger `sra-upgrade fleet status|approve` read and write), never a
 * second implementation. Read-only views of rollouts, and wave approvals by
 * an authenticated approver with a mandatory comment, kept in the rollout's
 * controls (`FleetStore.approveWave`).
 *
 * Site gates: the gates sites of a rollout wait on (`FleetStore.gates`), and
 * their answers by the same ballot and per-step policy as the gates of the
 * portal's own runs (`Approvals`, `Policy.policyOf`: two distinct approvers
 * for a dangerous step). The fleet does not know who started a rollout, so
 * no initiator is excluded; no deadline runs (the gate waits in the ledger).
 * Decisions before the gate closes are appended (fsync) to
 * `<runs>/.portal/fleet-approvals/<rollout>.ndjson`; the decision that
 * closes it goes to the ledger first (`Engine.answerGate`, with the earlier
 * decisions as `prior`), where the site's run takes it and journals it.
 *
 * @since 0.3.0
 */
import { GateEvidence, Journal, type Plan } from "@sra-upgrade/core"
import { Admission, Engine, EngineLayer, FleetStore, SiteGates } from "@sra-upgrade/fleet"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as path from "node:path"
import {
  type Conflict,
  type Forbidden,
  FleetGateView,
  Invalid,
  NotFound,
  RolloutSiteView,
  RolloutView,
  Unavailable
} from "./Api.js"
import * as Approvals from "./Approvals.js"
import type { Principal } from "./Auth.js"
import * as Ballot from "./internal/ballot.js"
import * as Meta from "./internal/meta.js"
import * as Store from "./internal/store.js"
import * as Policy from "./Policy.js"

/**
 * Where the fleet's ledger is: a SQLite file or a PostgreSQL URL (as
 * `EngineLayer.parseDatabase` reads `--fleet-database`).
 *
 * @since 0.3.0
 * @category models
 */
export type Database = { readonly file: string } | { readonly url: Redacted.Redacted<string> }

const notConfigured = new Unavailable({
  reason: "fleet",
  message:
    "This portal has no fleet database: start it with `sra-upgrade serve --fleet-database <file|postgres://…>` (the --database of `sra-upgrade fleet run`)."
})

const unavailable = (e: FleetStore.FleetStoreError) => new Unavailable({ reason: "fleet", message: e.message })

const lookupError = (e: FleetStore.FleetStoreError): NotFound | Unavailable =>
  e.reason._tag === "RolloutNotFound"
    ? new NotFound({ resource: "rollout", id: e.rolloutId, message: e.message })
    : unavailable(e)

const approveError = (e: FleetStore.FleetStoreError): NotFound | Invalid | Unavailable =>
  e.reason._tag === "UnknownWave" ? new Invalid({ reason: "wave", message: e.message }) : lookupError(e)

/**
 * A rollout as the API shows it.
 *
 * @since 0.3.0
 * @category combinators
 */
export const viewOf = (stored: FleetStore.Stored, at: Date): RolloutView =>
  new RolloutView({
    rolloutId: stored.plan.rolloutId,
    name: stored.plan.name,
    summary: Admission.summarize(stored.plan, stored.ledger, stored.controls, at),
    sites: stored.plan.sites.map(
      (s) =>
        new RolloutSiteView({
          id: s.id,
          wave: s.wave + 1,
          hostname: s.hostname,
          kind: s.kind,
          timeZone: s.timeZone,
          runId: Engine.runIdOf(stored.plan.rolloutId, s.id),
          state: Admission.stateOf(stored.ledger, s.id)
        })
    ),
    paused: stored.controls.paused,
    aborted: stored.controls.aborted,
    approvals: stored.controls.waveApprovals
  })

const now = Effect.sync(() => new Date())

/**
 * What the API handlers ask of the fleet.
 *
 * @since 0.3.0
 * @category models
 */
export interface Service {
  readonly list: Effect.Effect<ReadonlyArray<RolloutView>, Unavailable>
  readonly get: (rolloutId: string) => Effect.Effect<RolloutView, NotFound | Unavailable>
  /** Approve wave `wave` (1 = the first) as `principal` (the caller's role is checked by the handler). */
  readonly approveWave: (
    rolloutId: string,
    wave: number,
    principal: Principal,
    comment: string
  ) => Effect.Effect<RolloutView, NotFound | Invalid | Unavailable>
}

/**
 * Where the portal keeps decisions on site gates (its runs folder) and the
 * policies that apply to them.
 *
 * @since 0.3.0
 * @category models
 */
export interface GateOptions {
  readonly runsDirectory: string
  readonly policies?: Policy.PoliciesConfig | undefined
}

/**
 * Errors of answering a site's gate.
 *
 * @since 0.3.0
 * @category errors
 */
export type AnswerGateError = Forbidden | NotFound | Conflict | Invalid | Unavailable

/**
 * The site gates of rollouts as the API handlers ask for them.
 *
 * @since 0.3.0
 * @category models
 */
export interface GateService {
  /** The gates of a rollout's sites, open and answered. */
  readonly gates: (rolloutId: string) => Effect.Effect<ReadonlyArray<FleetGateView>, NotFound | Unavailable>
  /** A decision of `principal` (the caller's role is checked by the handler) on a gate a site waits on. */
  readonly answerGate: (
    rolloutId: string,
    site: string,
    stepId: string,
    principal: Principal,
    decision: Approvals.Decision,
    idempotencyKey?: string
  ) => Effect.Effect<FleetGateView, AnswerGateError>
}

/**
 * The fleet's rollouts as the portal serves them.
 *
 * @since 0.3.0
 * @category services
 */
export class Fleet extends Context.Tag("@sra-upgrade/server/Fleet")<Fleet, Service & GateService>() {}

const Decided = Schema.Struct({ ...Ballot.decidedFields, site: Schema.String })
type Decided = typeof Decided.Type
const decodeDecided = Schema.decodeUnknownOption(Decided)
const encodeDecided = Schema.encodeSync(Decided)

/** Fleet gates wait in the ledger until answered: the single runs' deadline and reminders do not apply. */
const withoutTimers = (policy: Policy.GatePolicy): Policy.GatePolicy => {
  const { deadlineSeconds: _d, reminderSeconds: _r, ...rest } = policy
  return new Policy.GatePolicy({ ...rest, basis: `${policy.basis}; fleet gate: no deadline` })
}

const unknownStep = (basis: string) => new Policy.GatePolicy({ ...withoutTimers(Policy.dangerousDefault), basis })

/** The decisions of the current opening of a gate: the last round, unless a deferral closed it. */
const currentRound = (policy: Policy.GatePolicy, gate: SiteGates.OpenGate, decided: ReadonlyArray<Decided>) => {
  const last = decided.reduce((n, d) => Math.max(n, d.round), 0)
  const of = (round: number) => decided.filter((d) => d.round === round)
  const ballot = Approvals.open(
    policy,
    gate.evidence,
    undefined,
    of(last).map((d) => d.approval)
  )
  return ballot.answer?._tag === "Deferred"
    ? { round: last + 1, ballot: Approvals.open(policy, gate.evidence, undefined) }
    : { round: last, ballot }
}

const gateServiceOf = (
  store: Context.Tag.Service<typeof FleetStore.FleetStore>,
  journal: Context.Tag.Service<typeof Journal.Journal>,
  options: GateOptions
): Effect.Effect<GateService> =>
  Effect.gen(function* () {
    const dir = path.join(Meta.portalDir(options.runsDirectory), "fleet-approvals")
    const fileOf = (rolloutId: string) => path.join(dir, `${rolloutId}.ndjson`)
    const locks = new Map<string, Effect.Semaphore>()
    const lockOf = (key: string) =>
      Effect.sync(() => {
        let l = locks.get(key)
        if (l === undefined) locks.set(key, (l = Effect.unsafeMakeSemaphore(1)))
        return l
      })

    const load = (rolloutId: string) =>
      Store.readLines(fileOf(rolloutId)).pipe(
        Effect.map((lines) => lines.flatMap((l) => Option.toArray(decodeDecided(l)))),
        Effect.mapError(
          (e) =>
            new Unavailable({
              reason: "fleet",
              message: `The portal's record of decisions on site gates cannot be read (${e.message}): check the runs folder.`
            })
        )
      )

    /** The step of the gate in the site's plan (from its journal), for the policy. */
    const stepOf = (gate: SiteGates.OpenGate) =>
      journal.read(gate.runId).pipe(
        Effect.map((c) => {
          const first = c.records[0]?.event
          return first?._tag === "RunStarted" ? first.plan.steps.find((st) => st.id === gate.stepId) : undefined
        }),
        Effect.orElseSucceed((): Plan.Step | undefined => undefined)
      )

    const policyOf = (gate: SiteGates.OpenGate, step: Plan.Step | undefined) =>
      step === undefined
        ? unknownStep(
            `the site's journal does not show step ${gate.stepId}: treated as a dangerous gate; fleet gate: no deadline`
          )
        : withoutTimers(
            Policy.policyOf(
              {
                runId: gate.runId,
                purpose: gate.purpose,
                step,
                instructions: gate.instructions,
                evidence: gate.evidence
              },
              options.policies
            )
          )

    const viewOf = (
      record: SiteGates.GateRecord,
      step: Plan.Step | undefined,
      decided: ReadonlyArray<Decided>
    ): FleetGateView => {
      const g = record.gate
      const policy = policyOf(g, step)
      const closed = record.isOpen ? undefined : record.answer
      const { ballot } = currentRound(
        policy,
        g,
        decided.filter((d) => d.site === g.site && d.stepId === g.stepId)
      )
      const approvals =
        closed === undefined ? ballot.approvals : closed._tag === "Deferred" ? [] : (closed.approvals ?? [])
      return new FleetGateView({
        rolloutId: g.rolloutId,
        site: g.site,
        runId: g.runId,
        stepId: g.stepId,
        purpose: g.purpose,
        title: g.title,
        ...(g.target === undefined ? {} : { target: g.target }),
        ...(step === undefined ? {} : { handler: step.handler }),
        instructions: [...g.instructions],
        evidence: [...g.evidence],
        policy,
        status:
          closed !== undefined
            ? closed._tag === "Approved"
              ? "approved"
              : "rejected"
            : record.answer?._tag === "Deferred"
              ? "deferred"
              : "open",
        openedAt: g.openedAt,
        remaining: closed === undefined ? Approvals.remaining(ballot) : 0,
        approvals: [...approvals],
        ...(record.answer === undefined ? {} : { answer: record.answer }),
        ...(record.lastDeferral === undefined ? {} : { lastDeferral: record.lastDeferral })
      })
    }

    const recordsOf = (rolloutId: string) =>
      Effect.gen(function* () {
        yield* Effect.mapError(store.get(rolloutId), lookupError)
        return yield* Effect.mapError(store.gates(rolloutId), unavailable)
      })

    const gates: GateService["gates"] = (rolloutId) =>
      Effect.gen(function* () {
        const records = yield* recordsOf(rolloutId)
        const decided = yield* load(rolloutId)
        return yield* Effect.forEach(records, (r) => Effect.map(stepOf(r.gate), (step) => viewOf(r, step, decided)))
      })

    const ledgerError = (e: FleetStore.FleetStoreError | SiteGates.GateAnswerError): AnswerGateError => {
      if (e._tag === "FleetStoreError") return lookupError(e)
      const r = e.reason
      switch (r._tag) {
        case "NoOpenGate":
          return new NotFound({ resource: "gate", id: e.stepId, message: e.message })
        case "AlreadyAnswered":
          return Ballot.refusalToError(
            "",
            new Approvals.Refusal({
              reason: "closed",
              message: `${e.message} It was answered meanwhile (fleet answer?): reload its gates.`
            })
          )
        case "BadEvidence":
          return new Invalid({ reason: "evidence", message: e.message })
        case "MissingComment":
          return new Invalid({ reason: "comment", message: e.message })
      }
    }

    const answerGate: GateService["answerGate"] = (rolloutId, site, stepId, principal, decision, key) =>
      Effect.gen(function* () {
        const records = yield* recordsOf(rolloutId)
        const stored = yield* Effect.mapError(store.get(rolloutId), lookupError)
        if (stored.plan.site(site) === undefined)
          return yield* new NotFound({
            resource: "site",
            id: site,
            message: `Rollout ${rolloutId} has no site ${site}: its gates are listed at GET /api/v1/fleet/rollouts/${rolloutId}/gates.`
          })
        const record = records.find((r) => r.gate.site === site && r.gate.stepId === stepId)
        if (record === undefined) {
          const open = records.filter((r) => r.gate.site === site && r.isOpen).map((r) => r.gate.stepId)
          return yield* new NotFound({
            resource: "gate",
            id: stepId,
            message: `Site ${site} of rollout ${rolloutId} has no gate ${stepId}: ${
              open.length === 0 ? "it waits on no gate now" : `it waits on ${open.join(", ")}`
            } (GET /api/v1/fleet/rollouts/${rolloutId}/gates).`
          })
        }
        const lock = yield* lockOf(`${rolloutId}/${site}/${stepId}`)
        return yield* lock.withPermits(1)(
          Effect.gen(function* () {
            // again under the lock: the gate as it is now
            const fresh =
              (yield* Effect.mapError(store.gates(rolloutId), unavailable)).find(
                (r) => r.gate.site === site && r.gate.stepId === stepId
              ) ?? record
            const g = fresh.gate
            const step = yield* stepOf(g)
            const policy = policyOf(g, step)
            const all = yield* load(rolloutId)
            const mine = all.filter((d) => d.site === site && d.stepId === stepId)
            const view = (r: SiteGates.GateRecord, decided: ReadonlyArray<Decided>) => viewOf(r, step, decided)
            const where = `Gate ${stepId} of site ${site} (rollout ${rolloutId})`
            const fingerprint = Ballot.fingerprintOf(principal.id, decision)
            if (key !== undefined) {
              const seen = mine.find((d) => d.key === key)
              if (seen !== undefined) {
                if (seen.fingerprint === fingerprint) return view(fresh, all)
                return yield* Ballot.keyConflict(key)
              }
            }
            const at = new Date(yield* Clock.currentTimeMillis)
            const closed = fresh.isOpen ? undefined : fresh.answer
            if (closed !== undefined && closed._tag !== "Deferred") {
              // answered (here or by `fleet answer`): the same decision again is harmless, another one a conflict
              const ballot: Approvals.Ballot = {
                ...Approvals.open(policy, g.evidence, undefined),
                approvals: closed.approvals ?? [],
                answer: closed
              }
              return yield* Either.match(Approvals.cast(ballot, principal, decision, at), {
                onLeft: (r) => Effect.fail(Ballot.refusalToError(where, r)),
                onRight: () => Effect.succeed(view(fresh, all))
              })
            }
            const { ballot, round } = currentRound(policy, g, mine)
            const cast = Approvals.cast(ballot, principal, decision, at)
            if (Either.isLeft(cast)) return yield* Ballot.refusalToError(where, cast.left)
            if (cast.right.replayed) return view(fresh, all)
            if (decision.decision === "approve") {
              // the same check as the executor's and `fleet answer`'s, before anything is recorded
              const checked = GateEvidence.validate(stepId, g.evidence, decision.evidence)
              if (Either.isLeft(checked))
                return yield* ledgerError(
                  new SiteGates.GateAnswerError({
                    rolloutId,
                    site,
                    stepId,
                    reason: new SiteGates.BadEvidence({ problems: checked.left.problems, fields: g.evidence })
                  })
                )
            }
            const next = cast.right.ballot
            const approval = next.approvals[next.approvals.length - 1]!
            let after = fresh
            if (next.answer !== undefined) {
              // the decision closes the gate: into the ledger first (the site's run takes it from there)
              after = yield* Effect.mapError(
                Engine.answerGate(
                  new SiteGates.AnswerInput({
                    rolloutId,
                    site,
                    stepId,
                    principal: principal.id,
                    role: principal.role,
                    decision: decision.decision,
                    comment: decision.comment,
                    evidence: approval.evidence,
                    prior: ballot.approvals
                  })
                ).pipe(Effect.provideService(FleetStore.FleetStore, store)),
                ledgerError
              )
            }
            const decided: Decided = {
              kind: "decision",
              site,
              stepId,
              round,
              approval,
              fingerprint,
              ...(key === undefined ? {} : { key })
            }
            yield* Store.appendLine(fileOf(rolloutId), encodeDecided(decided)).pipe(
              Effect.mapError(
                (e) =>
                  new Unavailable({
                    reason: "fleet",
                    message: `The decision could not be recorded (${e.message}): check the runs folder, then answer again.`
                  })
              )
            )
            yield* Effect.logInfo(
              `gate ${stepId} of site ${site} (rollout ${rolloutId}): ${approval.decision} by ${principal.id} (${principal.role}); ${
                next.answer === undefined
                  ? `${Approvals.remaining(next)} approval(s) still needed`
                  : `answered (${next.answer._tag.toLowerCase()}) in the fleet's ledger`
              }`
            )
            return view(after, [...all, decided])
          })
        )
      })

    return { gates, answerGate }
  })

const serviceOf = (store: Context.Tag.Service<typeof FleetStore.FleetStore>): Service => {
  const view = (rolloutId: string) =>
    Effect.gen(function* () {
      const stored = yield* Effect.mapError(store.get(rolloutId), lookupError)
      return viewOf(stored, yield* now)
    })
  return {
    list: Effect.gen(function* () {
      const ids = yield* Effect.mapError(store.list, unavailable)
      return yield* Effect.forEach(ids, (id) =>
        Effect.flatMap(Effect.mapError(store.get(id), unavailable), (stored) =>
          Effect.map(now, (at) => viewOf(stored, at))
        )
      )
    }),
    get: view,
    approveWave: (rolloutId, wave, principal, comment) =>
      Effect.gen(function* () {
        const stored = yield* Effect.mapError(store.get(rolloutId), lookupError)
        const plan = stored.plan.waves[wave - 1]
        if (plan === undefined)
          return yield* new Invalid({
            reason: "wave",
            message: `Rollout ${rolloutId} has no wave ${wave}: its waves are 1 to ${stored.plan.waves.length}.`
          })
        if (!plan.approval)
          return yield* new Invalid({
            reason: "wave",
            message: `Wave ${wave} (${plan.name}) of rollout ${rolloutId} needs no approval: its sites start when the previous wave has finished.`
          })
        const at = yield* now
        yield* Effect.mapError(
          FleetStore.approveWave(
            rolloutId,
            wave - 1,
            new Admission.WaveApproval({ wave: wave - 1, by: principal.id, role: principal.role, comment, at })
          ).pipe(Effect.provideService(FleetStore.FleetStore, store)),
          approveError
        )
        yield* Effect.logInfo(
          `wave ${wave} of rollout ${rolloutId}: approved by ${principal.id} (${principal.role}): ${comment}`
        )
        return yield* view(rolloutId)
      })
  }
}

/**
 * The fleet over this database (its ledger and site journals only: no engine
 * runs in the portal), or, without one, a fleet that answers 503 saying how
 * to give one. Decisions on site gates are kept in `gates.runsDirectory`.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (
  database: Database | undefined,
  gates: GateOptions
): Layer.Layer<Fleet, EngineLayer.EngineError> =>
  database === undefined
    ? Layer.succeed(Fleet, {
        list: Effect.fail(notConfigured),
        get: () => Effect.fail(notConfigured),
        approveWave: () => Effect.fail(notConfigured),
        gates: () => Effect.fail(notConfigured),
        answerGate: () => Effect.fail(notConfigured)
      })
    : Layer.effect(
        Fleet,
        Effect.gen(function* () {
          const store = yield* FleetStore.FleetStore
          const journal = yield* Journal.Journal
          return { ...serviceOf(store), ...(yield* gateServiceOf(store, journal, gates)) }
        })
      ).pipe(
        Layer.provide(EngineLayer.ledgerOnly(database)),
        // the SQL drivers throw when they cannot open (a folder that does not exist): say which database
        Layer.catchAllCause((cause) =>
          Layer.fail(
            new EngineLayer.EngineError({
              detail: `The fleet database ${"file" in database ? database.file : "(the postgres:// URL)"} cannot be opened (${detailOf(cause)}): check --fleet-database (the --database of \`sra-upgrade fleet run\`).`
            })
          )
        )
      )

const detailOf = (cause: Cause.Cause<unknown>): string => {
  const e = Cause.squash(cause)
  return e instanceof Error ? e.message : String(e)
}
