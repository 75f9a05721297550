/**
 * The portal's HTTP API as one `HttpApi` value: the server implements it, the
 * OpenAPI 3.1 document (`/api/openapi.json`) and Swagger UI (`/api/docs`) are
 * generated from it, and `Client.make` derives a typed client from it.
 *
 * Resources under `/api/v1`: `session` (who am I; the page's session cookie),
 * `sites` (site files with live health), `plans` (plan JSON and Markdown
 * runbook), `runs` (start, list, get, report, cancel, resume), `events`
 * (server-sent events of a run: `id` = journal sequence), `gates` (open gates;
 * approve, reject, defer), `fleet` (rollouts, wave approvals).
 *
 * Every endpoint needs a bearer token; only the event stream (and closing a
 * session) also accepts the page's session cookie. Errors are typed, with a
 * status code and a message that says what to do next.
 *
 * @since 0.3.0
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as OpenApi from "@effect/platform/OpenApi"
import { Operator, Plan, RunReport } from "@sra-upgrade/core"
import { Admission } from "@sra-upgrade/fleet"
import * as Context from "effect/Context"
import * as Schema from "effect/Schema"
import { Principal, sessionCookie } from "./Auth.js"
import { GatePolicy } from "./Policy.js"

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

/**
 * 401: no token, or a token (or session) the service does not know.
 *
 * @since 0.3.0
 * @category errors
 */
export class Unauthenticated extends Schema.TaggedError<Unauthenticated>()(
  "Unauthenticated",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 401, description: "No valid bearer token (or session cookie)" })
) {}

/**
 * 403: the principal may not do this (`role`), started the run and may not
 * answer its gates (`initiator`).
 *
 * @since 0.3.0
 * @category errors
 */
export class Forbidden extends Schema.TaggedError<Forbidden>()(
  "Forbidden",
  { reason: Schema.Literal("role", "initiator"), message: Schema.String },
  HttpApiSchema.annotations({ status: 403, description: "The principal may not do this" })
) {}

/**
 * 404: no such site, run, open gate, or route.
 *
 * @since 0.3.0
 * @category errors
 */
export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  { resource: Schema.Literal("site", "run", "gate", "route", "rollout"), id: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 404, description: "No such site, run, gate, rollout or route" })
) {}

/**
 * 409: the request contradicts the current state: a different answer to a
 * closed gate (`gate-closed`), a second decision by the same principal
 * (`already-decided`), an idempotency key reused for another request
 * (`idempotency-key`), a run already executing (`run-active`) or finished
 * (`run-finished`), or not executing (`run-idle`).
 *
 * @since 0.3.0
 * @category errors
 */
export class Conflict extends Schema.TaggedError<Conflict>()(
  "Conflict",
  {
    reason: Schema.Literal(
      "gate-closed",
      "already-decided",
      "idempotency-key",
      "run-active",
      "run-finished",
      "run-idle"
    ),
    message: Schema.String
  },
  HttpApiSchema.annotations({ status: 409, description: "The request contradicts the current state" })
) {}

/**
 * 400: a well-formed request the service cannot act on: the method does not
 * fit the site, the site file is invalid, evidence is missing or unknown, the
 * rollout has no such wave or the wave needs no approval.
 *
 * @since 0.3.0
 * @category errors
 */
export class Invalid extends Schema.TaggedError<Invalid>()(
  "Invalid",
  { reason: Schema.Literal("plan", "site", "evidence", "run", "wave", "comment"), message: Schema.String },
  HttpApiSchema.annotations({ status: 400, description: "The request cannot be acted on" })
) {}

/**
 * 413: the request body is larger than the service accepts.
 *
 * @since 0.3.0
 * @category errors
 */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()(
  "PayloadTooLarge",
  { limitBytes: Schema.Number, message: Schema.String },
  HttpApiSchema.annotations({ status: 413, description: "Request body too large" })
) {}

/**
 * 411: a request body without `Content-Length` (chunked): the service needs
 * the length to enforce its body limit before reading.
 *
 * @since 0.3.0
 * @category errors
 */
export class LengthRequired extends Schema.TaggedError<LengthRequired>()(
  "LengthRequired",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 411, description: "Request body without Content-Length" })
) {}

/**
 * 503: an appliance, or a secret of the site file, is unavailable.
 *
 * @since 0.3.0
 * @category errors
 */
export class Unavailable extends Schema.TaggedError<Unavailable>()(
  "Unavailable",
  { reason: Schema.Literal("appliance", "secret", "journal", "fleet"), message: Schema.String },
  HttpApiSchema.annotations({
    status: 503,
    description: "An appliance, a secret, the journal or the fleet database is unavailable (or not configured)"
  })
) {}

// ---------------------------------------------------------------------------
// security
// ---------------------------------------------------------------------------

/**
 * The authenticated principal of the current request.
 *
 * @since 0.3.0
 * @category services
 */
export class CurrentPrincipal extends Context.Tag("@sra-upgrade/server/CurrentPrincipal")<
  CurrentPrincipal,
  Principal
>() {}

/**
 * Bearer token authentication (every endpoint but the event stream).
 *
 * @since 0.3.0
 * @category security
 */
export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("@sra-upgrade/server/Authentication", {
  failure: Unauthenticated,
  provides: CurrentPrincipal,
  security: { bearer: HttpApiSecurity.bearer }
}) {}

/**
 * The page's session cookie (HttpOnly, SameSite=Strict).
 *
 * @since 0.3.0
 * @category security
 */
export const sessionSecurity = HttpApiSecurity.apiKey({ key: sessionCookie, in: "cookie" })

/**
 * Bearer token or session cookie (the event stream: `EventSource` cannot send headers).
 *
 * @since 0.3.0
 * @category security
 */
export class StreamAuthentication extends HttpApiMiddleware.Tag<StreamAuthentication>()(
  "@sra-upgrade/server/StreamAuthentication",
  {
    failure: Unauthenticated,
    provides: CurrentPrincipal,
    security: { bearer: HttpApiSecurity.bearer, cookie: sessionSecurity }
  }
) {}

// ---------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------

/**
 * Ids of sites and runs: letters, digits, `.`, `_`, `-` (no path tricks).
 *
 * @since 0.3.0
 * @category models
 */
export const Id = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/),
  Schema.annotations({ description: "letters, digits, '.', '_' and '-' (at most 200)" })
)

/**
 * A step id in a path: sent percent-encoded (`pair%2Fswitch`).
 *
 * @since 0.3.0
 * @category models
 */
export const StepIdSegment = Schema.transform(
  Schema.String,
  Schema.String.pipe(Schema.minLength(1), Schema.maxLength(300)),
  { strict: true, decode: (s) => s, encode: (s) => encodeURIComponent(s) }
).annotations({ description: "a step id, percent-encoded ('/' as %2F)" })

const runIdParam = HttpApiSchema.param("runId", Id)
const siteIdParam = HttpApiSchema.param("siteId", Id)
const stepIdParam = HttpApiSchema.param("stepId", StepIdSegment)

/**
 * A planning method.
 *
 * @since 0.3.0
 * @category models
 */
export const Method = Schema.Literal("single", "sync", "async")

/**
 * One appliance of a site.
 *
 * @since 0.3.0
 * @category models
 */
export class SiteAppliance extends Schema.Class<SiteAppliance>("SiteAppliance")({
  id: Schema.String,
  role: Schema.String,
  hostname: Schema.String,
  apiUrl: Schema.String
}) {}

/**
 * A site file of the sites folder (`error` when it does not decode).
 *
 * @since 0.3.0
 * @category models
 */
export class SiteSummary extends Schema.Class<SiteSummary>("SiteSummary")({
  id: Schema.String,
  file: Schema.String,
  hostname: Schema.optional(Schema.String),
  isPair: Schema.optional(Schema.Boolean),
  appliances: Schema.Array(SiteAppliance),
  methods: Schema.Array(Method),
  error: Schema.optional(Schema.String)
}) {}

/**
 * What an appliance reports now.
 *
 * @since 0.3.0
 * @category models
 */
export class ApplianceHealth extends Schema.Class<ApplianceHealth>("ApplianceHealth")({
  id: Schema.String,
  reachable: Schema.Boolean,
  version: Schema.optional(Schema.String),
  build: Schema.optional(Schema.String),
  healthy: Schema.optional(Schema.Boolean),
  failoverRole: Schema.optional(Schema.String),
  error: Schema.optional(Schema.String)
}) {}

/**
 * A site with the live health of its appliances.
 *
 * @since 0.3.0
 * @category models
 */
export class SiteDetail extends Schema.Class<SiteDetail>("SiteDetail")({
  site: SiteSummary,
  health: Schema.Array(ApplianceHealth),
  checkedAt: Schema.Date
}) {}

/**
 * Plan or start a run: a site, a target version and a method (optional for a
 * single appliance; a failover pair has no default, PREP-7).
 *
 * @since 0.3.0
 * @category models
 */
export class PlanRequest extends Schema.Class<PlanRequest>("PlanRequest")({
  site: Id,
  target: Schema.String.pipe(Schema.pattern(/^[0-9][0-9A-Za-z.+-]{0,40}$/)),
  method: Schema.optional(Method)
}) {}

/**
 * A plan as JSON, and its Markdown runbook.
 *
 * @since 0.3.0
 * @category models
 */
export class PlanView extends Schema.Class<PlanView>("PlanView")({
  plan: Plan.Plan,
  runbook: Schema.String
}) {}

/**
 * Availability of the site measured during a run (probes of the site address, outages).
 *
 * @since 0.3.0
 * @category models
 */
export class AvailabilityView extends Schema.Class<AvailabilityView>("AvailabilityView")({
  source: Schema.String,
  intervalMillis: Schema.Number,
  startedAt: Schema.optional(Schema.Date),
  lastProbeAt: Schema.optional(Schema.Date),
  probes: Schema.Number,
  failed: Schema.Number,
  longestOutageMillis: Schema.Number,
  unavailableMillis: Schema.Number,
  /** Time of the run no probe covered (no process was driving it): never counted as available. */
  notObservedMillis: Schema.optional(Schema.Number),
  outages: Schema.Array(
    Schema.Struct({
      start: Schema.Date,
      end: Schema.optional(Schema.Date),
      failedProbes: Schema.Number,
      lastError: Schema.optional(Schema.String)
    })
  )
}) {}

/**
 * A run in a list.
 *
 * @since 0.3.0
 * @category models
 */
export class RunSummary extends Schema.Class<RunSummary>("RunSummary")({
  runId: Schema.String,
  site: Schema.optional(Schema.String),
  planTitle: Schema.String,
  targetVersion: Schema.String,
  status: RunReport.Status,
  currentStep: Schema.optional(Schema.String),
  /** Executing in this service now. */
  active: Schema.Boolean,
  initiator: Schema.optional(Schema.String),
  startedAt: Schema.optional(Schema.Date),
  endedAt: Schema.optional(Schema.Date)
}) {}

/**
 * The state of a gate's approvals.
 *
 * @since 0.3.0
 * @category models
 */
export const GateStatus = Schema.Literal("open", "escalated", "approved", "rejected", "deferred")

/**
 * A gate: what to do, the evidence to give, the policy, the decisions so far.
 *
 * @since 0.3.0
 * @category models
 */
export class GateView extends Schema.Class<GateView>("GateView")({
  runId: Schema.String,
  stepId: Schema.String,
  purpose: Operator.GatePurpose,
  title: Schema.String,
  target: Schema.optional(Schema.String),
  handler: Schema.String,
  rules: Schema.Array(Schema.String),
  instructions: Schema.Array(Schema.String),
  evidence: Schema.Array(Plan.EvidenceField),
  policy: GatePolicy,
  status: GateStatus,
  openedAt: Schema.Date,
  deadlineAt: Schema.optional(Schema.Date),
  /** Distinct approvals still needed. */
  remaining: Schema.Number,
  approvals: Schema.Array(Operator.Approval),
  initiator: Schema.optional(Schema.String)
}) {}

/**
 * A run with its report, open gates and measured availability.
 *
 * @since 0.3.0
 * @category models
 */
export class RunView extends Schema.Class<RunView>("RunView")({
  summary: RunSummary,
  report: RunReport.RunReport,
  gates: Schema.Array(GateView),
  availability: Schema.optional(AvailabilityView)
}) {}

/**
 * An answer to a gate. The principal is the authenticated caller (never a
 * name from the body); the comment is mandatory; approving needs a value for
 * every evidence field.
 *
 * @since 0.3.0
 * @category models
 */
export class GateAnswer extends Schema.Class<GateAnswer>("GateAnswer")({
  decision: Schema.Literal("approve", "reject", "defer"),
  comment: Schema.Trim.pipe(
    Schema.minLength(1, { message: () => "a comment is required: say what you did or why you decide so" }),
    Schema.maxLength(2000)
  ),
  evidence: Schema.optionalWith(
    Schema.Record({
      key: Schema.String.pipe(Schema.maxLength(100)),
      value: Schema.String.pipe(Schema.maxLength(4000))
    }),
    { default: () => ({}) }
  )
}) {}

/**
 * Headers of a gate answer: an optional `Idempotency-Key` makes a retried
 * request harmless.
 *
 * @since 0.3.0
 * @category models
 */
export const AnswerHeaders = Schema.Struct({
  "idempotency-key": Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)))
})

// ---------------------------------------------------------------------------
// groups
// ---------------------------------------------------------------------------

/**
 * `POST /session` (bearer): sets the session cookie for the page's event
 * stream; `GET /session` tells who the token belongs to.
 *
 * @since 0.3.0
 * @category groups
 */
export class SessionGroup extends HttpApiGroup.make("session")
  .add(HttpApiEndpoint.get("whoami", "/session").addSuccess(Principal))
  .add(HttpApiEndpoint.post("open", "/session").addSuccess(Principal))
  .add(HttpApiEndpoint.del("close", "/session").addSuccess(HttpApiSchema.NoContent))
  .middleware(Authentication)
  .prefix("/api/v1")
  .annotate(OpenApi.Description, "Who the token belongs to; the page's session cookie") {}

/**
 * Sites of the sites folder.
 *
 * @since 0.3.0
 * @category groups
 */
export class SitesGroup extends HttpApiGroup.make("sites")
  .add(HttpApiEndpoint.get("list", "/sites").addSuccess(Schema.Array(SiteSummary)))
  .add(
    HttpApiEndpoint.get("get")`/sites/${siteIdParam}`
      .addSuccess(SiteDetail)
      .addError(NotFound)
      .addError(Invalid)
      .addError(Unavailable)
  )
  .middleware(Authentication)
  .prefix("/api/v1")
  .annotate(OpenApi.Description, "Site files of the sites folder, with the live health of their appliances") {}

/**
 * Plans.
 *
 * @since 0.3.0
 * @category groups
 */
export class PlansGroup extends HttpApiGroup.make("plans")
  .add(
    HttpApiEndpoint.post("plan", "/plans")
      .setPayload(PlanRequest)
      .addSuccess(PlanView)
      .addError(NotFound)
      .addError(Invalid)
      .addError(Unavailable)
  )
  .middleware(Authentication)
  .prefix("/api/v1")
  .annotate(OpenApi.Description, "A plan (JSON) and its runbook (Markdown) for a site, a target and a method") {}

/**
 * Runs.
 *
 * @since 0.3.0
 * @category groups
 */
export class RunsGroup extends HttpApiGroup.make("runs")
  .add(
    HttpApiEndpoint.post("start", "/runs")
      .setPayload(PlanRequest)
      .addSuccess(RunSummary, { status: 202 })
      .addError(Forbidden)
      .addError(NotFound)
      .addError(Invalid)
      .addError(Conflict)
      .addError(Unavailable)
  )
  .add(HttpApiEndpoint.get("list", "/runs").addSuccess(Schema.Array(RunSummary)).addError(Unavailable))
  .add(HttpApiEndpoint.get("get")`/runs/${runIdParam}`.addSuccess(RunView).addError(NotFound).addError(Unavailable))
  .add(
    HttpApiEndpoint.get("report")`/runs/${runIdParam}/report`
      .addSuccess(RunReport.RunReport)
      .addError(NotFound)
      .addError(Unavailable)
  )
  .add(
    HttpApiEndpoint.get("reportMarkdown")`/runs/${runIdParam}/report.md`
      .addSuccess(HttpApiSchema.Text({ contentType: "text/markdown; charset=utf-8" }))
      .addError(NotFound)
      .addError(Unavailable)
  )
  .add(
    HttpApiEndpoint.post("cancel")`/runs/${runIdParam}/cancel`
      .addSuccess(RunSummary)
      .addError(Forbidden)
      .addError(NotFound)
      .addError(Conflict)
  )
  .add(
    HttpApiEndpoint.post("resume")`/runs/${runIdParam}/resume`
      .addSuccess(RunSummary, { status: 202 })
      .addError(Forbidden)
      .addError(NotFound)
      .addError(Conflict)
      .addError(Invalid)
      .addError(Unavailable)
  )
  .middleware(Authentication)
  .prefix("/api/v1")
  .annotate(OpenApi.Description, "Runs executed by the service: start, list, report, cancel, resume") {}

/**
 * The event stream of a run (server-sent events).
 *
 * @since 0.3.0
 * @category groups
 */
export class EventsGroup extends HttpApiGroup.make("events")
  .add(
    HttpApiEndpoint.get("stream")`/runs/${runIdParam}/events`
      .setHeaders(Schema.Struct({ "last-event-id": Schema.optional(Schema.NumberFromString.pipe(Schema.int())) }))
      .addSuccess(HttpApiSchema.Text({ contentType: "text/event-stream" }))
      .addError(NotFound)
      .annotate(
        OpenApi.Description,
        "Server-sent events: `id` is the journal sequence, `event` the event's tag, `data` the journal record (JSON). " +
          "`Last-Event-ID` resumes after that record. `event: gates` (no id) carries the open gates when they change; " +
          "`event: end` closes a finished run's stream. A comment every 15 s keeps the connection alive."
      )
  )
  .middleware(StreamAuthentication)
  .prefix("/api/v1") {}

/**
 * Gates.
 *
 * @since 0.3.0
 * @category groups
 */
export class GatesGroup extends HttpApiGroup.make("gates")
  .add(HttpApiEndpoint.get("open", "/gates").addSuccess(Schema.Array(GateView)))
  .add(HttpApiEndpoint.get("ofRun")`/runs/${runIdParam}/gates`.addSuccess(Schema.Array(GateView)).addError(NotFound))
  .add(
    HttpApiEndpoint.post("answer")`/runs/${runIdParam}/gates/${stepIdParam}`
      .setPayload(GateAnswer)
      .setHeaders(AnswerHeaders)
      .addSuccess(GateView)
      .addError(Forbidden)
      .addError(NotFound)
      .addError(Conflict)
      .addError(Invalid)
  )
  .middleware(Authentication)
  .prefix("/api/v1")
  .annotate(OpenApi.Description, "Manual gates: instructions, evidence, policy; approve, reject or defer") {}

// ---------------------------------------------------------------------------
// fleet rollouts
// ---------------------------------------------------------------------------

/**
 * A site of a fleet rollout: its wave (1 = the first), its state in the
 * rollout's ledger and the id of its run's journal.
 *
 * @since 0.3.0
 * @category models
 */
export class RolloutSiteView extends Schema.Class<RolloutSiteView>("RolloutSiteView")({
  id: Schema.String,
  wave: Schema.Number,
  hostname: Schema.String,
  kind: Schema.String,
  timeZone: Schema.String,
  runId: Schema.String,
  state: Admission.SiteState
}) {}

/**
 * A fleet rollout as `sra-upgrade fleet status` shows it: the summary (status,
 * counts, per wave: approval needed and given), every site's state, the
 * controls and who approved which wave with what comment.
 *
 * @since 0.3.0
 * @category models
 */
export class RolloutView extends Schema.Class<RolloutView>("RolloutView")({
  rolloutId: Schema.String,
  name: Schema.String,
  summary: Admission.Summary,
  sites: Schema.Array(RolloutSiteView),
  paused: Schema.Boolean,
  aborted: Schema.Boolean,
  approvals: Schema.Array(Admission.WaveApproval)
}) {}

/**
 * The approval of a wave: the principal is the authenticated caller (never a
 * name from the body); the comment is mandatory.
 *
 * @since 0.3.0
 * @category models
 */
export class WaveApprovalRequest extends Schema.Class<WaveApprovalRequest>("WaveApprovalRequest")({
  comment: Schema.Trim.pipe(
    Schema.minLength(1, { message: () => "a comment is required: say why the next wave may start" }),
    Schema.maxLength(2000)
  )
}) {}

/**
 * A gate a site of a fleet rollout waits on, or waited on: what to do, the
 * evidence to give, the policy that applies (the single runs' policy of the
 * step, without deadline: the fleet keeps the gate open until answered), the
 * decisions so far (who answered what), the answer the site's run takes.
 *
 * @since 0.3.0
 * @category models
 */
export class FleetGateView extends Schema.Class<FleetGateView>("FleetGateView")({
  rolloutId: Schema.String,
  site: Schema.String,
  /** The site's run (its journal). */
  runId: Schema.String,
  stepId: Schema.String,
  purpose: Operator.GatePurpose,
  title: Schema.String,
  target: Schema.optional(Schema.String),
  /** The step's handler, from the site's journal (absent when the journal does not show the step). */
  handler: Schema.optional(Schema.String),
  instructions: Schema.Array(Schema.String),
  evidence: Schema.Array(Plan.EvidenceField),
  policy: GatePolicy,
  /** `open`: waiting for decisions; `deferred`: a deferral the site's run has not taken yet (decisions start again). */
  status: GateStatus,
  openedAt: Schema.Date,
  /** Distinct approvals still needed. */
  remaining: Schema.Number,
  /** Who decided what: the decisions of the answer, or of the gate's current opening. */
  approvals: Schema.Array(Operator.Approval),
  /** The answer recorded in the fleet's ledger (the site's run takes it the next time it looks). */
  answer: Schema.optional(Operator.Answer),
  /** The last deferral the site's run took. */
  lastDeferral: Schema.optional(Operator.Deferred)
}) {}

const rolloutIdParam = HttpApiSchema.param("rolloutId", Id)
const waveParam = HttpApiSchema.param(
  "wave",
  Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 10_000)).annotations({
    description: "the wave's number (1 = the first)"
  })
)

/**
 * Fleet rollouts (read-only) and wave approvals, over the fleet's database
 * (`serve --fleet-database`).
 *
 * @since 0.3.0
 * @category api
 */
export class FleetGroup extends HttpApiGroup.make("fleet")
  .add(HttpApiEndpoint.get("list", "/fleet/rollouts").addSuccess(Schema.Array(RolloutView)).addError(Unavailable))
  .add(
    HttpApiEndpoint.get("get")`/fleet/rollouts/${rolloutIdParam}`
      .addSuccess(RolloutView)
      .addError(NotFound)
      .addError(Unavailable)
  )
  .add(
    HttpApiEndpoint.post("approveWave")`/fleet/rollouts/${rolloutIdParam}/waves/${waveParam}/approve`
      .setPayload(WaveApprovalRequest)
      .addSuccess(RolloutView)
      .addError(Forbidden)
      .addError(NotFound)
      .addError(Invalid)
      .addError(Unavailable)
  )
  .add(
    HttpApiEndpoint.get("gates")`/fleet/rollouts/${rolloutIdParam}/gates`
      .addSuccess(Schema.Array(FleetGateView))
      .addError(NotFound)
      .addError(Unavailable)
      .annotate(
        OpenApi.Description,
        "The gates of the rollout's sites, open and answered, oldest first: instructions, evidence fields, policy, who answered what."
      )
  )
  .add(
    HttpApiEndpoint.post(
      "answerGate"
    )`/fleet/rollouts/${rolloutIdParam}/sites/${HttpApiSchema.param("site", Id)}/gates/${HttpApiSchema.param("gate", StepIdSegment)}/answer`
      .setPayload(GateAnswer)
      .setHeaders(AnswerHeaders)
      .addSuccess(FleetGateView)
      .addError(Forbidden)
      .addError(NotFound)
      .addError(Conflict)
      .addError(Invalid)
      .addError(Unavailable)
      .annotate(
        OpenApi.Description,
        "Approve, reject or defer a gate a site of the rollout waits on (approver or admin, and the step's policy: two distinct approvers for a dangerous gate). The comment is mandatory; an approval's evidence is checked against the gate's fields. The answer goes to the fleet's ledger; the site's run takes it and journals it (GateAnswered)."
      )
  )
  .middleware(Authentication)
  .prefix("/api/v1")
  .annotate(
    OpenApi.Description,
    "Fleet rollouts: status per wave and site (viewer); approve a wave that waits for its approval (approver, with a comment); the gates sites wait on (viewer) and their answers (approver, by the gate's policy)"
  ) {}

/**
 * The portal API.
 *
 * @since 0.3.0
 * @category api
 */
export class PortalApi extends HttpApi.make("portal")
  .add(SessionGroup)
  .add(SitesGroup)
  .add(PlansGroup)
  .add(RunsGroup)
  .add(EventsGroup)
  .add(GatesGroup)
  .add(FleetGroup)
  .addError(PayloadTooLarge)
  .addError(LengthRequired)
  .annotate(OpenApi.Title, "sra-upgrade portal")
  .annotate(OpenApi.Version, "0.3.0")
  .annotate(
    OpenApi.Description,
    "Plan, run and approve upgrades of Secure Remote Access appliances. Authenticate with `Authorization: Bearer <token>`."
  ) {}
