// The run page in chromium never ends on an older read of the run. A read of
// the run held back by the browser (answered with the state it had when it
// was sent) must not be the last thing drawn: here the read sent while the
// four-eyes gate pair/break was open is answered only after the run moved on
// to the next gate, where it then waits quietly (no event would redraw the
// page). Two reads in flight at once — the page before this was fixed — end
// with pair/break on screen; one read at a time, then one more, ends on the
// gate that is open.
import { GateEvidence, type Plan } from "@sra-upgrade/core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Browser, Request, Route } from "playwright-core"
import { buildPage, type Demo, interrupt, launch, requireBrowser, startDemo } from "./browser.js"

interface Gate {
  readonly stepId: string
  readonly evidence: ReadonlyArray<Plan.EvidenceField>
}

/** Evidence that fits each field (what a careful operator would type). */
const fitting = (fields: ReadonlyArray<Plan.EvidenceField>): Record<string, string> =>
  Object.fromEntries(fields.map((f) => [f.name, GateEvidence.example(f)]))

describe("the run page's reads of a run", () => {
  let demo: Demo | undefined
  let browser: Browser | undefined

  beforeAll(async () => {
    requireBrowser()
    const pageDir = await buildPage()
    demo = await startDemo(["--page-dir", pageDir])
    browser = await launch()
  }, 300_000)

  afterAll(async () => {
    await browser?.close().catch(() => undefined)
    if (demo !== undefined && demo.child.exitCode === null) await interrupt(demo.child).catch(() => undefined)
  }, 60_000)

  const api = async <A>(
    who: keyof Demo["tokens"],
    method: "GET" | "POST",
    path: string,
    body?: unknown
  ): Promise<A> => {
    const response = await fetch(`${demo!.url}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${demo!.tokens[who]}`,
        ...(body === undefined ? {} : { "content-type": "application/json" })
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const text = await response.text()
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`)
    return JSON.parse(text) as A
  }

  /** The run's open gate, waiting for one (the run goes on between gates). */
  const openGate = async (runId: string): Promise<Gate> => {
    const deadline = Date.now() + 120_000
    while (Date.now() < deadline) {
      const gates = await api<ReadonlyArray<Gate>>("viewer", "GET", `/runs/${encodeURIComponent(runId)}/gates`)
      if (gates[0] !== undefined) return gates[0]
      await new Promise((r) => setTimeout(r, 200))
    }
    throw new Error(`run ${runId} opened no gate within 120 s`)
  }

  const approve = (runId: string, who: "approver" | "approver2", gate: Gate) =>
    api(who, "POST", `/runs/${encodeURIComponent(runId)}/gates/${encodeURIComponent(gate.stepId)}`, {
      decision: "approve",
      comment: `${who}: done (${gate.stepId})`,
      evidence: fitting(gate.evidence)
    })

  it("a read answered after the run moved on is not the last thing the page draws", async () => {
    const { runId } = await api<{ runId: string }>("operator", "POST", "/runs", {
      site: "demo-pair",
      target: "24.3.2",
      method: "async"
    })
    // the gates before the four-eyes gate that breaks the pair
    let gate = await openGate(runId)
    while (gate.stepId !== "pair/break") {
      await approve(runId, "approver", gate)
      const previous = gate.stepId
      do gate = await openGate(runId)
      while (gate.stepId === previous)
    }

    const context = await browser!.newContext({ viewport: { width: 1280, height: 1100 } })
    const page = await context.newPage()
    // signing in shows the runs list; its list of sites answers only after the run's page was opened
    let releaseSites!: () => void
    const sitesHeld = new Promise<void>((r) => (releaseSites = r))
    await page.route(
      (url) => url.pathname === "/api/v1/sites",
      async (route) => {
        await sitesHeld
        await route.continue()
      }
    )
    await page.goto(demo!.url)
    await page.getByTestId("token").fill(demo!.tokens.viewer)
    await page.getByRole("button", { name: "Sign in" }).click()
    await expect.poll(() => page.getByTestId("who").textContent(), { timeout: 30_000 }).toContain("(viewer,")
    await page.goto(`${demo!.url}/#/runs/${encodeURIComponent(runId)}`)
    const shown = () =>
      page
        .locator('[data-testid="gate-form"]')
        .getAttribute("data-step", { timeout: 1000 })
        .catch(() => null)
    await expect.poll(shown, { timeout: 30_000 }).toBe("pair/break")
    await expect.poll(() => page.locator('[data-testid="events"] li').count(), { timeout: 60_000 }).toBeGreaterThan(5)
    releaseSites()
    // the late runs list is not drawn over the run's page
    await page.waitForResponse((r) => new URL(r.url()).pathname === "/api/v1/sites", { timeout: 30_000 })
    // (a page that draws it does so within milliseconds of the answer; two seconds of looking decide nothing else)
    for (const until = Date.now() + 2000; Date.now() < until; await page.waitForTimeout(100))
      expect(await page.getByTestId("start-form").count()).toBe(0)
    expect(await shown()).toBe("pair/break")

    // the next read of the run is answered with the state it had when sent, but only when released
    const runPath = `/api/v1/runs/${encodeURIComponent(runId)}`
    let hold = true
    let held: { readonly route: Route; readonly body: string } | undefined
    let released = false
    const sentWhileHeld: Array<Request> = []
    let heldReady!: () => void
    const heldPromise = new Promise<void>((r) => (heldReady = r))
    await page.route(
      (url) => url.pathname === runPath,
      async (route) => {
        if (held !== undefined && !released) sentWhileHeld.push(route.request())
        if (!hold) return route.continue()
        hold = false
        const response = await route.fetch()
        held = { route, body: await response.text() }
        heldReady()
      }
    )

    // first approval of the four-eyes gate: the page reads the run again (the gate is still open)
    await approve(runId, "approver", gate)
    await heldPromise
    expect(held!.body).toContain('"stepId":"pair/break"')
    // second approval: the gate closes, the run backs up B and waits on the next gate
    await approve(runId, "approver2", gate)
    const next = await openGate(runId)
    expect(next.stepId).not.toBe("pair/break")
    // the page hears of it (its event log is written straight from the stream, without a read)
    await expect
      .poll(() => page.locator('[data-testid="events"] li').allTextContents(), { timeout: 60_000 })
      .toContainEqual(expect.stringContaining(`GateOpened ${next.stepId}`))
    // a page that reads again while a read is in flight draws the next gate now; give it the time to
    // (this wait decides nothing: one read at a time sends no second read until the held one is answered)
    const until = Date.now() + 3000
    while (Date.now() < until && (await shown()) !== next.stepId) await page.waitForTimeout(100)

    // the held read answers last, with the old state
    released = true
    await held!.route.fulfill({ status: 200, contentType: "application/json", body: held!.body })
    await expect.poll(shown, { timeout: 30_000 }).toBe(next.stepId)
    // and while a read was in flight, no other was sent
    expect(sentWhileHeld.map((r) => r.url())).toEqual([])
    await context.close()
  }, 600_000)
})
