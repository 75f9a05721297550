// The portal page: runs list, run page (live steps, availability strip, step
// timeline, gate form, who answered what), fleet rollouts (waves, sites, wave
// approvals, the gates sites wait on). Plain TypeScript; the payload
// types are the encoded types of the API's schemas (src/Api.ts), so a change
// of the API breaks this file at type-check time.
//
// Auth: the bearer token (kept in sessionStorage) on every request; the
// event stream uses the HttpOnly SameSite=Strict session cookie that
// POST /api/v1/session sets (EventSource cannot send headers).
import type {
  AvailabilityView,
  FleetGateView,
  GateView,
  PlanRequest,
  RolloutView,
  RunSummary,
  RunView,
  SiteSummary
} from "../src/Api.js"
import type { Principal } from "../src/Auth.js"
import { availabilityStrip, esc, evidenceHint, formatMillis } from "./view.js"

type Enc<T extends { readonly Encoded: unknown }> = T["Encoded"]
type Run = Enc<typeof RunView>
type Gate = Enc<typeof GateView>
type Summary = Enc<typeof RunSummary>
type SiteRow = Enc<typeof SiteSummary>
type Me = Enc<typeof Principal>
type Availability = Enc<typeof AvailabilityView>
type Rollout = Enc<typeof RolloutView>
type FleetGate = Enc<typeof FleetGateView>

const app = document.getElementById("app")!
const whoEl = document.getElementById("who")!
const logoutEl = document.getElementById("logout") as HTMLButtonElement

let token = sessionStorage.getItem("sra_token") ?? ""
let me: Me | undefined

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly tag: string,
    message: string
  ) {
    super(message)
  }
}

const api = async <A>(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {}
): Promise<A> => {
  const res = await fetch(`/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers
    },
    body: body === undefined ? null : JSON.stringify(body),
    credentials: "same-origin",
    // a read that never answers must not hold the page (reads are one at a time): give up, the next one asks again
    ...(method === "GET" ? { signal: AbortSignal.timeout(30_000) } : {})
  })
  const text = await res.text()
  const json = text === "" ? undefined : (JSON.parse(text) as Record<string, unknown>)
  if (!res.ok) {
    const message = typeof json?.["message"] === "string" ? json["message"] : `HTTP ${res.status}`
    throw new ApiError(res.status, String(json?.["_tag"] ?? res.status), message)
  }
  return json as A
}

// ---------------------------------------------------------------------------
// login
// ---------------------------------------------------------------------------

const showLogin = (error?: string) => {
  me = undefined
  whoEl.textContent = ""
  logoutEl.hidden = true
  app.innerHTML = `
    <section class="card login">
      <h1>Sign in</h1>
      <form id="login" data-testid="login-form">
        <label>Token <input name="token" type="password" autocomplete="off" required data-testid="token" /></label>
        <button type="submit">Sign in</button>
        <p class="error" data-testid="login-error">${esc(error ?? "")}</p>
      </form>
      <p class="hint">Tokens are issued by the portal's administrator (<code>serve --demo</code> prints one per role).</p>
    </section>`
  document.getElementById("login")!.addEventListener("submit", async (ev) => {
    ev.preventDefault()
    token = String(new FormData(ev.target as HTMLFormElement).get("token") ?? "").trim()
    await signIn()
  })
}

const signIn = async () => {
  try {
    me = await api<Me>("POST", "/session") // sets the session cookie of the event stream
    sessionStorage.setItem("sra_token", token)
    whoEl.textContent = `${me.name} (${me.id}, ${me.role})`
    logoutEl.hidden = false
    await route()
  } catch (e) {
    sessionStorage.removeItem("sra_token")
    token = ""
    showLogin(e instanceof Error ? e.message : String(e))
  }
}

logoutEl.addEventListener("click", async () => {
  await api("DELETE", "/session").catch(() => undefined)
  sessionStorage.removeItem("sra_token")
  token = ""
  stopStream()
  showLogin()
})

// ---------------------------------------------------------------------------
// runs list
// ---------------------------------------------------------------------------

const statusBadge = (status: string) => `<span class="badge s-${esc(status)}">${esc(status)}</span>`

const showRuns = async (view: number) => {
  stopStream()
  const [runs, sites, rollouts] = await Promise.all([
    api<Array<Summary>>("GET", "/runs"),
    api<Array<SiteRow>>("GET", "/sites"),
    // a portal without a fleet database answers 503: no rollouts section then; another failure is shown in it
    api<Array<Rollout>>("GET", "/fleet/rollouts").catch((e: unknown) =>
      e instanceof ApiError && e.status === 503 ? undefined : e instanceof Error ? e : new Error(String(e))
    )
  ])
  if (view !== views) return // the page moved on meanwhile (e.g. to a run): do not draw over it
  const usable = sites.filter((s) => s.error === undefined)
  app.innerHTML = `
    <section class="card">
      <h1>Start a run</h1>
      <form id="start" data-testid="start-form" class="row">
        <label>Site <select name="site" data-testid="start-site">${usable
          .map(
            (s) =>
              `<option value="${esc(s.id)}">${esc(s.id)} — ${esc(s.hostname ?? "")}${s.isPair ? " (pair)" : ""}</option>`
          )
          .join("")}</select></label>
        <label>Target version <input name="target" value="24.3.2" required pattern="[0-9][0-9A-Za-z.+-]*" data-testid="start-target" /></label>
        <label>Method <select name="method" data-testid="start-method" required></select></label>
        <button type="submit" data-testid="start-run">Start</button>
      </form>
      <p class="error" data-testid="start-error"></p>
      ${sites
        .filter((s) => s.error !== undefined)
        .map((s) => `<p class="warn">${esc(s.file)}: ${esc(s.error ?? "")}</p>`)
        .join("")}
    </section>
    <section class="card">
      <h1>Runs</h1>
      <table data-testid="runs">
        <thead><tr><th>run</th><th>site</th><th>target</th><th>status</th><th>step</th><th>started by</th><th>started</th></tr></thead>
        <tbody>${runs
          .map(
            (r) => `<tr>
              <td><a href="#/runs/${encodeURIComponent(r.runId)}">${esc(r.planTitle || r.runId)}</a><br><small>${esc(r.runId)}</small></td>
              <td>${esc(r.site ?? "-")}</td><td>${esc(r.targetVersion)}</td><td>${statusBadge(r.status)}${r.active ? " ⟳" : ""}</td>
              <td>${esc(r.currentStep ?? "")}</td><td>${esc(r.initiator ?? "-")}</td>
              <td>${r.startedAt === undefined ? "" : esc(new Date(r.startedAt).toLocaleString())}</td></tr>`
          )
          .join("")}</tbody>
      </table>
      ${runs.length === 0 ? "<p>No runs yet.</p>" : ""}
    </section>
    ${rollouts === undefined ? "" : renderRolloutList(rollouts)}`
  const form = document.getElementById("start") as HTMLFormElement
  const methodSelect = form.elements.namedItem("method") as HTMLSelectElement
  const siteSelect = form.elements.namedItem("site") as HTMLSelectElement
  const fillMethods = () => {
    const site = usable.find((s) => s.id === siteSelect.value)
    const methods = site?.methods ?? []
    // a failover pair has no default method (PREP-7): the operator picks sync or async
    methodSelect.innerHTML =
      (methods.length > 1 ? '<option value="" disabled selected>choose: sync or async (PREP-7)</option>' : "") +
      methods.map((m) => `<option>${esc(m)}</option>`).join("")
  }
  siteSelect.addEventListener("change", fillMethods)
  fillMethods()
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault()
    const data = new FormData(form)
    const request: Enc<typeof PlanRequest> = {
      site: String(data.get("site")),
      target: String(data.get("target")),
      method: String(data.get("method")) as "single" | "sync" | "async"
    }
    const button = form.querySelector("button")!
    button.disabled = true
    try {
      const run = await api<Summary>("POST", "/runs", request)
      location.hash = `#/runs/${encodeURIComponent(run.runId)}`
    } catch (e) {
      document.querySelector('[data-testid="start-error"]')!.textContent = e instanceof Error ? e.message : String(e)
    } finally {
      button.disabled = false
    }
  })
}

// ---------------------------------------------------------------------------
// run page
// ---------------------------------------------------------------------------

let source: EventSource | undefined
let refreshTimer: number | undefined
let current: { runId: string; gateKey: string | undefined; seqs: Array<number> } | undefined

const stopStream = () => {
  source?.close()
  source = undefined
  if (refreshTimer !== undefined) clearTimeout(refreshTimer)
  current = undefined
  if (rolloutTimer !== undefined) clearTimeout(rolloutTimer)
  rolloutTimer = undefined
}

const stepIcon: Record<string, string> = {
  pending: "·",
  running: "▶",
  "waiting-for-operator": "✋",
  "paused-until-window": "⏸",
  succeeded: "✔",
  failed: "✘",
  "halted-needs-support": "⛔"
}

const renderSteps = (run: Run) => {
  const steps = run.report.steps
  const t0 = run.report.startedAt === undefined ? undefined : new Date(run.report.startedAt).getTime()
  const t1 = Math.max(
    Date.now(),
    ...steps.map((s) => (s.finishedAt === undefined ? 0 : new Date(s.finishedAt).getTime()))
  )
  const span = t0 === undefined ? 1 : Math.max(1, t1 - t0)
  return steps
    .map((s, i) => {
      const start = s.startedAt === undefined || t0 === undefined ? undefined : new Date(s.startedAt).getTime() - t0
      const end =
        s.finishedAt !== undefined && t0 !== undefined
          ? new Date(s.finishedAt).getTime() - t0
          : start !== undefined
            ? Date.now() - t0!
            : undefined
      const bar =
        start === undefined || end === undefined
          ? ""
          : `<svg class="bar" viewBox="0 0 100 1" preserveAspectRatio="none"><rect class="s-${esc(s.status)}" x="${((start / span) * 100).toFixed(2)}" y="0" width="${Math.max(0.4, ((end - start) / span) * 100).toFixed(2)}" height="1" /></svg>`
      return `<li class="step s-${esc(s.status)}${run.report.currentStep === s.id ? " current" : ""}" data-step="${esc(s.id)}" data-status="${esc(s.status)}">
        <span class="icon">${stepIcon[s.status] ?? "?"}</span>
        <span class="n">${i + 1}</span>
        <span class="title">${esc(s.title)}${s.target === undefined ? "" : ` <small>(${esc(s.target)})</small>`}</span>
        <span class="kind">${esc(s.kind)}</span>
        <span class="took">${s.durationMillis === undefined ? "" : esc(formatMillis(s.durationMillis))}</span>
        <span class="track">${bar}</span>
        ${s.error === undefined ? "" : `<div class="error">${esc(s.error)}</div>`}
      </li>`
    })
    .join("")
}

/** One decision of an answer: who, with which role, the comment and the evidence given. */
const renderDecision = (p: Gate["approvals"][number]) =>
  `<li>${esc(p.decision)} by <b>${esc(p.principal)}</b> (${esc(p.role)}): “${esc(p.comment)}”${
    Object.keys(p.evidence).length === 0
      ? ""
      : ` — ${Object.entries(p.evidence)
          .map(([k, v]) => `${esc(k)}=${esc(v)}`)
          .join(", ")}`
  }</li>`

const renderAnswered = (run: Run) =>
  run.report.gates.length === 0
    ? "<p>No gate answered yet.</p>"
    : `<ul class="answered" data-testid="answered">${run.report.gates
        .map((g) => {
          const a = g.answer
          const trail = a._tag === "Deferred" ? [] : (a.approvals ?? [])
          return `<li data-gate="${esc(g.stepId)}"><b>${esc(g.stepId)}</b>: ${esc(a._tag.toLowerCase())} by ${esc(a.by)}
            <small>${esc(new Date(g.at).toLocaleTimeString())}</small>
            ${a._tag === "Rejected" ? ` — ${esc(a.reason)}` : ""}
            ${trail.length === 0 ? "" : `<ul>${trail.map(renderDecision).join("")}</ul>`}
          </li>`
        })
        .join("")}</ul>`

const gateKey = (g: Gate | undefined) => (g === undefined ? undefined : `${g.stepId}@${g.openedAt}`)

/** What the gate form shows: a run's gate, or a gate a site of a fleet rollout waits on (no deadline, no initiator). */
type FormGate = Pick<Gate, "stepId" | "title" | "target" | "policy" | "instructions" | "evidence"> & {
  readonly deadlineAt?: string | undefined
  readonly initiator?: string | undefined
  readonly rules?: ReadonlyArray<string> | undefined
  readonly site?: string | undefined
}

const renderGateForm = (g: FormGate) => {
  const deadline =
    g.deadlineAt === undefined
      ? ""
      : ` · deadline ${esc(new Date(g.deadlineAt).toLocaleString())} (then ${esc(g.policy.onTimeout)})`
  return `<form class="gate" data-testid="gate-form" data-step="${esc(g.stepId)}"${g.site === undefined ? "" : ` data-site="${esc(g.site)}"`}>
    <h2>✋ ${g.site === undefined ? "" : `${esc(g.site)}: `}${esc(g.title)}${g.target === undefined ? "" : ` <small>(${esc(g.target)})</small>`}</h2>
    <p class="policy" data-testid="gate-policy">${esc(g.policy.basis)}: ${g.policy.approvals} distinct approval(s) by ${esc(g.policy.roles.join(" / "))}${g.policy.excludeInitiator && g.site === undefined ? `, not the initiator (${esc(g.initiator ?? "?")})` : ""}${deadline}.${g.rules === undefined || g.rules.length === 0 ? "" : ` Rules: ${esc(g.rules.join(", "))}`}</p>
    <ol class="instructions">${g.instructions.map((l) => `<li>${esc(l)}</li>`).join("")}</ol>
    ${g.evidence
      .map(
        (f) =>
          `<label class="evidence">${esc(f.name)} <input name="ev:${esc(f.name)}" data-evidence="${esc(f.name)}"${f.format === undefined ? "" : ` data-format="${esc(f.format)}"`}${f.expected === undefined ? "" : ` data-expected="${esc(f.expected)}" placeholder="${esc(f.expected)}"`}${f.format === "integer" || f.format === "number" ? ` inputmode="decimal"` : ""} /><small>${esc(f.description)}</small><small class="constraint" data-testid="evidence-hint">${esc(evidenceHint(f))}</small></label>`
      )
      .join("")}
    <label class="comment">Comment (required) <textarea name="comment" required data-testid="gate-comment"></textarea></label>
    <div class="buttons">
      <button type="submit" name="decision" value="approve" data-testid="approve">Approve</button>
      <button type="submit" name="decision" value="reject" data-testid="reject" class="danger">Reject</button>
      <button type="submit" name="decision" value="defer" data-testid="defer" formnovalidate>Defer</button>
    </div>
    <p class="error" data-testid="gate-error"></p>
    <div data-testid="gate-status" class="gate-status"></div>
  </form>`
}

const renderGateStatus = (g: Pick<Gate, "status" | "remaining" | "approvals">) =>
  `<p>${esc(g.status)} · ${g.remaining} more approval(s) needed</p><ul data-testid="gate-approvals">${g.approvals
    .map((a) => `<li>${esc(a.decision)} by <b>${esc(a.principal)}</b> (${esc(a.role)}): “${esc(a.comment)}”</li>`)
    .join("")}</ul>`

/** Answers go to `path` (a run's gate, or a fleet site's gate); `after` runs once the answer is recorded. */
const bindGateForm = (path: string, form: HTMLFormElement, after: () => void) => {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault()
    const submitter = (ev as SubmitEvent).submitter as HTMLButtonElement | null
    const decision = (submitter?.value ?? "approve") as "approve" | "reject" | "defer"
    const data = new FormData(form)
    const evidence: Record<string, string> = {}
    if (decision === "approve")
      for (const [k, v] of data.entries()) if (k.startsWith("ev:")) evidence[k.slice(3)] = String(v)
    const error = form.querySelector('[data-testid="gate-error"]')!
    error.textContent = ""
    for (const b of form.querySelectorAll("button")) b.disabled = true
    try {
      const gate = await api<Gate | FleetGate>(
        "POST",
        path,
        { decision, comment: String(data.get("comment") ?? ""), evidence },
        { "idempotency-key": crypto.randomUUID() }
      )
      form.querySelector('[data-testid="gate-status"]')!.innerHTML = renderGateStatus(gate)
      form.dataset["answered"] = me?.id ?? ""
      after()
    } catch (e) {
      error.textContent = e instanceof Error ? e.message : String(e)
    } finally {
      for (const b of form.querySelectorAll("button")) b.disabled = false
    }
  })
}

const renderAvailability = (a: Availability | undefined) =>
  a === undefined
    ? `<p class="muted" data-testid="availability-none">Not measured yet (the site address is probed during a failover pair's run).</p>`
    : availabilityStrip(a)

const draw = (run: Run) => {
  const runId = run.summary.runId
  const open = run.gates.find((g) => g.status === "open" || g.status === "escalated")
  const page = document.getElementById("run")
  if (page === null || page.dataset["run"] !== runId) {
    app.innerHTML = `<article id="run" data-run="${esc(runId)}">
      <section class="card head"></section>
      <section class="card"><h2>Site availability</h2><div data-testid="availability"></div></section>
      <div id="gate-slot"></div>
      <section class="card"><h2>Steps</h2><ol class="steps" data-testid="steps"></ol></section>
      <section class="card"><h2>Who answered what</h2><div data-testid="answered-slot"></div></section>
      <section class="card"><h2>Events</h2><ol class="events" data-testid="events" reversed></ol></section>
    </article>`
  }
  const s = run.summary
  app.querySelector(".head")!.innerHTML = `<h1>${esc(s.planTitle)}</h1>
    <p>${statusBadge(s.status)} <span data-testid="run-status" data-status="${esc(s.status)}">${esc(s.status)}</span>
      · site ${esc(s.site ?? "-")} · target ${esc(s.targetVersion)} · started by <b>${esc(s.initiator ?? "-")}</b>
      ${s.currentStep === undefined ? "" : ` · at <code>${esc(s.currentStep)}</code>`}</p>
    <p><small>${esc(runId)}</small> · <a href="/api/v1/runs/${encodeURIComponent(runId)}/report.md" data-testid="report-link" target="_blank" rel="noopener">Markdown report</a></p>
    ${run.report.error === undefined ? "" : `<p class="error">${esc(run.report.error)}</p>`}
    <div class="actions">
      ${s.active ? `<button type="button" data-testid="cancel">Cancel</button>` : ""}
      ${!s.active && ["cancelled", "waiting-for-operator", "paused-until-window", "running"].includes(s.status) ? `<button type="button" data-testid="resume">Resume</button>` : ""}
    </div>`
  app
    .querySelector('[data-testid="cancel"]')
    ?.addEventListener("click", () =>
      api("POST", `/runs/${encodeURIComponent(runId)}/cancel`).then(() => scheduleRefresh(0), alertError)
    )
  app
    .querySelector('[data-testid="resume"]')
    ?.addEventListener("click", () =>
      api("POST", `/runs/${encodeURIComponent(runId)}/resume`).then(() => scheduleRefresh(0), alertError)
    )
  app.querySelector('[data-testid="availability"]')!.innerHTML = renderAvailability(run.availability)
  app.querySelector('[data-testid="steps"]')!.innerHTML = renderSteps(run)
  app.querySelector('[data-testid="answered-slot"]')!.innerHTML = renderAnswered(run)
  const slot = document.getElementById("gate-slot")!
  const key = gateKey(open)
  if (current !== undefined && current.gateKey !== key) {
    current.gateKey = key
    slot.innerHTML = open === undefined ? "" : `<section class="card">${renderGateForm(open)}</section>`
    const form = slot.querySelector("form")
    if (form !== null && open !== undefined)
      bindGateForm(`/runs/${encodeURIComponent(runId)}/gates/${encodeURIComponent(open.stepId)}`, form, () =>
        scheduleRefresh(0)
      )
  }
  if (open !== undefined) {
    const status = slot.querySelector('[data-testid="gate-status"]')
    if (status !== null) status.innerHTML = renderGateStatus(open)
  }
}

const alertError = (e: unknown) => {
  const p = document.createElement("p")
  p.className = "error"
  p.textContent = e instanceof Error ? e.message : String(e)
  app.querySelector(".head")?.append(p)
}

/**
 * One call of `read` at a time, and one more after it when asked meanwhile:
 * two reads in flight could answer out of order, and the page would end on
 * the older state (a gate shown open after it closed) until the next event —
 * which, while the run waits on the next gate, may be a long time.
 */
const oneAtATime = (read: () => Promise<void>): (() => Promise<void>) => {
  let reading: Promise<void> | undefined
  let again = false
  return () => {
    if (reading !== undefined) {
      again = true
      return reading
    }
    const loop = async () => {
      do {
        again = false
        await read()
      } while (again)
    }
    reading = loop().finally(() => (reading = undefined))
    return reading
  }
}

const refresh = oneAtATime(async () => {
  const runId = current?.runId
  if (runId === undefined) return
  try {
    const run = await api<Run>("GET", `/runs/${encodeURIComponent(runId)}`)
    if (current?.runId === runId) draw(run) // not if the page moved to another run meanwhile
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return showLogin(e.message)
    alertError(e)
  }
})

const scheduleRefresh = (ms = 150) => {
  if (refreshTimer !== undefined) clearTimeout(refreshTimer)
  refreshTimer = window.setTimeout(() => void refresh(), ms)
}

const showRun = async (runId: string, view: number) => {
  stopStream()
  current = { runId, gateKey: "-", seqs: [] }
  app.innerHTML = `<p>Loading ${esc(runId)}…</p>`
  await refresh()
  if (view !== views) return // the page moved on meanwhile: no stream for this run
  const log = () => app.querySelector('[data-testid="events"]')
  source = new EventSource(`/api/v1/runs/${encodeURIComponent(runId)}/events`)
  const onEvent = (ev: MessageEvent<string>) => {
    const seq = Number(ev.lastEventId)
    if (current !== undefined && Number.isFinite(seq) && seq > 0) {
      current.seqs.push(seq)
      const data = JSON.parse(ev.data) as { event: { _tag: string; stepId?: string } }
      const li = document.createElement("li")
      li.dataset["seq"] = String(seq)
      li.textContent = `${seq} ${data.event._tag}${data.event.stepId === undefined ? "" : ` ${data.event.stepId}`}`
      log()?.prepend(li)
    }
    scheduleRefresh()
  }
  for (const tag of [
    "RunStarted",
    "StepStarted",
    "StepSucceeded",
    "StepFailed",
    "SupportNeeded",
    "StepVerified",
    "ConfirmationNeeded",
    "GateOpened",
    "GateAnswered",
    "WaitProgress",
    "StepProgress",
    "Paused",
    "WindowOpened",
    "Resumed",
    "Cancelled",
    "SiteSample",
    "RunFinished"
  ])
    source.addEventListener(tag, onEvent as EventListener)
  source.addEventListener("gates", () => scheduleRefresh(0))
  source.addEventListener("end", () => {
    source?.close()
    scheduleRefresh(0)
  })
}

// ---------------------------------------------------------------------------
// fleet rollouts (the API reads the fleet's database; no event stream: the
// rollout page reads it again every few seconds)
// ---------------------------------------------------------------------------

const countsText = (c: Rollout["summary"]["counts"]) =>
  `${c.succeeded} succeeded · ${c.failed} failed · ${c.running + c.admitted} running · ${c.notStarted} not started${c.skipped === 0 ? "" : ` · ${c.skipped} skipped`}`

const renderRolloutList = (rollouts: Array<Rollout> | Error) =>
  `<section class="card">
      <h1>Fleet rollouts</h1>
      ${
        rollouts instanceof Error
          ? `<p class="error" data-testid="rollouts-error">${esc(rollouts.message)}</p>`
          : rollouts.length === 0
            ? "<p>No rollouts in the fleet's database.</p>"
            : `<table data-testid="rollouts">
        <thead><tr><th>rollout</th><th>status</th><th>wave</th><th>sites</th></tr></thead>
        <tbody>${rollouts
          .map(
            (r) => `<tr data-rollout="${esc(r.rolloutId)}">
              <td><a href="#/rollouts/${encodeURIComponent(r.rolloutId)}">${esc(r.name)}</a><br><small>${esc(r.rolloutId)}</small></td>
              <td>${statusBadge(r.summary.status)}${r.paused ? " (paused)" : ""}${r.aborted ? " (aborted)" : ""}</td>
              <td>${r.summary.currentWave === undefined ? "-" : r.summary.currentWave + 1} / ${r.summary.waves.length}</td>
              <td>${esc(countsText(r.summary.counts))}</td></tr>`
          )
          .join("")}</tbody></table>`
      }
    </section>`

const siteStateText = (s: Rollout["sites"][number]["state"]) => ("reason" in s ? `${s._tag} — ${s.reason}` : s._tag)

/** The gates a site waits on, open or answered but not yet taken: one key per opening, to redraw forms only when they change. */
const fleetGateKey = (gates: ReadonlyArray<FleetGate>) =>
  gates
    .filter((g) => g.answer === undefined)
    .map((g) => `${g.site}/${g.stepId}@${g.openedAt}`)
    .join(" ")

let rolloutTimer: number | undefined
let rolloutGates: string | undefined

const showRollout = async (rolloutId: string, view: number) => {
  stopStream()
  rolloutGates = undefined
  app.innerHTML = `<p>Loading ${esc(rolloutId)}…</p>`
  const path = `/fleet/rollouts/${encodeURIComponent(rolloutId)}`
  const read: () => Promise<void> = oneAtATime(async () => {
    if (view !== views) return
    try {
      const [rollout, gates] = await Promise.all([
        api<Rollout>("GET", path),
        api<Array<FleetGate>>("GET", `${path}/gates`)
      ])
      if (view === views) drawRollout(rollout, gates, () => void read()) // not if the page moved on meanwhile
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return showLogin(e.message)
      if (view !== views) return
      if (document.getElementById("rollout") === null || (e instanceof ApiError && e.status === 404)) {
        app.innerHTML = `<p class="error" data-testid="rollout-error">${esc(e instanceof Error ? e.message : String(e))}</p>`
        return // nothing to show again: an unknown rollout, or a fleet database the portal cannot read (reload to retry)
      }
      // one line, replaced by the next failure and cleared by the next drawing
      const head = app.querySelector(".head")
      let line = head?.querySelector<HTMLElement>('[data-testid="rollout-read-error"]') ?? null
      if (line === null) {
        line = document.createElement("p")
        line.className = "error"
        line.dataset["testid"] = "rollout-read-error"
        head?.append(line)
      }
      line.textContent = `${e instanceof Error ? e.message : String(e)} (read again in a few seconds)`
    }
    // read again in a few seconds (a failed read too: the next one may answer)
    if (rolloutTimer !== undefined) clearTimeout(rolloutTimer)
    if (view === views) rolloutTimer = window.setTimeout(() => void read(), 3000)
  })
  await read()
}

const drawRollout = (r: Rollout, gates: ReadonlyArray<FleetGate>, again: () => void) => {
  const path = `/fleet/rollouts/${encodeURIComponent(r.rolloutId)}`
  const s = r.summary
  if (document.getElementById("rollout")?.dataset["rollout"] !== r.rolloutId) {
    app.innerHTML = `<article id="rollout" data-rollout="${esc(r.rolloutId)}">
      <section class="card head"></section>
      <section class="card"><h2>Waves</h2><table data-testid="waves"></table></section>
      <div id="fleet-gates"></div>
      <section class="card"><h2>Sites</h2><table data-testid="rollout-sites"></table></section>
      <section class="card"><h2>Who answered what</h2><div data-testid="fleet-answered"></div></section>
    </article>`
  }
  app.querySelector(".head")!.innerHTML = `<h1>${esc(r.name)}</h1>
    <p>${statusBadge(s.status)} <span data-testid="rollout-status" data-status="${esc(s.status)}">${esc(s.status)}</span>
      ${r.paused ? " · paused" : ""}${r.aborted ? " · aborted" : ""} · <span data-testid="rollout-counts">${esc(countsText(s.counts))}</span>
      · failures ${s.failures.failed} of ${s.failures.allowed} allowed${s.eta === undefined ? "" : ` · ETA ${esc(new Date(s.eta).toLocaleString())}`}</p>
    <p><small>${esc(r.rolloutId)}</small> · pause, resume and abort: <code>sra-upgrade fleet pause|resume|abort</code></p>`
  const approvalsOf = (index: number) => r.approvals.filter((a) => a.wave === index)
  app.querySelector('[data-testid="waves"]')!.innerHTML =
    `<thead><tr><th>wave</th><th>sites</th><th>approval</th></tr></thead>
    <tbody>${s.waves
      .map(
        (
          w
        ) => `<tr data-wave="${w.index + 1}"><td>${w.index + 1}. ${esc(w.name)}</td><td>${esc(countsText(w.counts))}</td>
        <td>${
          !w.approval
            ? "none needed"
            : w.approved
              ? `approved${approvalsOf(w.index)
                  .map((a) => ` by <b>${esc(a.by)}</b> (${esc(a.role)}): “${esc(a.comment)}”`)
                  .join(";")}`
              : `<form class="row" data-testid="approve-wave" data-wave="${w.index + 1}">
                  <label>Comment (required) <input name="comment" required /></label>
                  <button type="submit">Approve wave ${w.index + 1}</button>
                  <span class="error"></span></form>`
        }</td></tr>`
      )
      .join("")}</tbody>`
  for (const form of app.querySelectorAll<HTMLFormElement>('[data-testid="approve-wave"]'))
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault()
      const error = form.querySelector(".error")!
      error.textContent = ""
      try {
        await api("POST", `${path}/waves/${form.dataset["wave"]}/approve`, {
          comment: String(new FormData(form).get("comment") ?? "")
        })
        again()
      } catch (e) {
        error.textContent = e instanceof Error ? e.message : String(e)
      }
    })
  app.querySelector('[data-testid="rollout-sites"]')!.innerHTML =
    `<thead><tr><th>site</th><th>wave</th><th>kind</th><th>time zone</th><th>state</th></tr></thead>
    <tbody>${r.sites
      .map(
        (
          site
        ) => `<tr data-site="${esc(site.id)}" data-state="${esc(site.state._tag)}"><td>${esc(site.id)}<br><small>${esc(site.hostname)}</small></td>
          <td>${site.wave}</td><td>${esc(site.kind)}</td><td>${esc(site.timeZone)}</td><td>${esc(siteStateText(site.state))}</td></tr>`
      )
      .join("")}</tbody>`
  // the gate forms are drawn again only when the gates waiting change (an answer being typed is kept)
  const waiting = gates.filter((g) => g.answer === undefined)
  const slot = document.getElementById("fleet-gates")!
  const key = fleetGateKey(gates)
  if (key !== rolloutGates) {
    rolloutGates = key
    slot.innerHTML = waiting
      .map((g) => `<section class="card">${renderGateForm({ ...g, deadlineAt: undefined, rules: [] })}</section>`)
      .join("")
    for (const form of slot.querySelectorAll<HTMLFormElement>("form.gate"))
      bindGateForm(
        `${path}/sites/${encodeURIComponent(form.dataset["site"]!)}/gates/${encodeURIComponent(form.dataset["step"]!)}/answer`,
        form,
        again
      )
  }
  for (const g of waiting) {
    const status = slot.querySelector(
      `form[data-site="${CSS.escape(g.site)}"][data-step="${CSS.escape(g.stepId)}"] [data-testid="gate-status"]`
    )
    if (status !== null) status.innerHTML = renderGateStatus(g)
  }
  const answered = gates.filter((g) => g.answer !== undefined)
  app.querySelector('[data-testid="fleet-answered"]')!.innerHTML =
    answered.length === 0
      ? "<p>No gate answered yet.</p>"
      : `<ul class="answered">${answered
          .map(
            (
              g
            ) => `<li data-site="${esc(g.site)}" data-gate="${esc(g.stepId)}"><b>${esc(g.site)}</b> · ${esc(g.stepId)}: ${esc(g.answer!._tag.toLowerCase())}
            <ul>${g.approvals.map(renderDecision).join("")}</ul></li>`
          )
          .join("")}</ul>`
}

// ---------------------------------------------------------------------------
// routing
// ---------------------------------------------------------------------------

/**
 * Navigations so far: a view drawn after awaiting the API draws only if no
 * later navigation started meanwhile (signing in shows the runs list; a link
 * followed before its answer came must not be drawn over).
 */
let views = 0

const route = async () => {
  if (me === undefined) return
  const view = ++views
  const m = /^#\/runs\/([^/]+)$/.exec(location.hash)
  const r = /^#\/rollouts\/([^/]+)$/.exec(location.hash)
  try {
    if (m !== null) await showRun(decodeURIComponent(m[1]!), view)
    else if (r !== null) await showRollout(decodeURIComponent(r[1]!), view)
    else await showRuns(view)
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return showLogin(e.message)
    if (view === views) app.innerHTML = `<p class="error">${esc(e instanceof Error ? e.message : String(e))}</p>`
  }
}

window.addEventListener("hashchange", () => void route())

if (token === "") showLogin()
else void signIn()
