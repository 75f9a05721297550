// Fleet rollouts on the portal's page, in chromium: a rollout on the embedded engine (a SQLite file) whose first
// wave's sites wait on their gates (paris: an ordinary one; lyon: breaking the failover relationship, two
// approvers) and whose second wave (nice) waits for its approval. The runner is stopped while they wait; approvers
// answer the gates and approve the wave by clicking; the runner started again takes the answers, and the page,
// still open, shows the rollout succeed. A screenshot of the rollout page goes to docs/portal-rollout.png with
// SRA_UPDATE_SCREENSHOT=1.
import { describe, expect, it } from "@effect/vitest"
import { Engine } from "@sra-upgrade/fleet"
import { TestRollout } from "@sra-upgrade/fleet/test"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import type { Browser, Page } from "playwright-core"
import { buildPage, launch, repoRoot, requireBrowser } from "./browser.js"
import { engine, waitingRollout, workerOf } from "./fleetRollout.js"
import { portal, type Portal, tempDir, type Who } from "./support.js"

const plan = TestRollout.rolloutPlan({
  rolloutId: "autumn",
  name: "autumn upgrade",
  sites: [
    TestRollout.sitePlan({ id: "paris", wave: 0 }),
    TestRollout.sitePlan({ id: "lyon", wave: 0 }),
    TestRollout.sitePlan({ id: "nice", wave: 1 })
  ],
  waves: 2,
  concurrency: 2,
  allowedFailures: 0,
  approvals: [1]
})

const installs = new Map<string, number>()
const worker = workerOf(installs)

const browserResource = Effect.acquireRelease(
  Effect.promise(() => {
    requireBrowser()
    return launch()
  }),
  (b: Browser) => Effect.promise(() => b.close().catch(() => undefined))
)

/** A page of `who`, signed in, on the rollout's page. */
const rolloutPage = (browser: Browser, p: Portal, who: Who) =>
  Effect.promise(async () => {
    const page = await (await browser.newContext()).newPage()
    await page.goto(p.url)
    await page.getByTestId("token").fill(Redacted.value(p.tokens[who]))
    await page.getByRole("button", { name: "Sign in" }).click()
    const row = page.locator('[data-testid="rollouts"] tr[data-rollout="autumn"]')
    await row.getByRole("link", { name: "autumn upgrade" }).click({ timeout: 30_000 })
    await page.getByTestId("rollout-status").waitFor({ timeout: 30_000 })
    return page
  })

const gateForm = (page: Page, site: string) => page.locator(`form.gate[data-site="${site}"]`)

const siteState = (page: Page, site: string) =>
  page.locator(`[data-testid="rollout-sites"] tr[data-site="${site}"]`).getAttribute("data-state")

describe("fleet rollouts on the portal's page", () => {
  it.scopedLive(
    "FLEET-PORTAL-PAGE-1 the rollouts list, a rollout's waves and sites, its site gates answered by clicking (evidence refused, then four eyes), the next wave approved with a comment; the runner started again completes the rollout and the open page shows it",
    () =>
      Effect.gen(function* () {
        const file = join(tempDir("fleet-page"), "fleet.db")
        yield* waitingRollout(file, plan, worker, 2)
        const pageDirectory = yield* Effect.promise(buildPage)
        const p = yield* portal(undefined, { fleet: { file }, pageDirectory })
        const browser = yield* browserResource

        const ann = yield* rolloutPage(browser, p, "ann")
        yield* Effect.promise(async () => {
          // the rollout: running, wave 1's sites in flight, wave 2 not started and waiting for its approval
          expect(await ann.getByTestId("rollout-status").getAttribute("data-status")).toBe("running")
          expect([await siteState(ann, "paris"), await siteState(ann, "lyon"), await siteState(ann, "nice")]).toEqual([
            "Running",
            "Running",
            "NotStarted"
          ])
          expect(await ann.locator('[data-testid="approve-wave"]').getAttribute("data-wave")).toBe("2")
          expect(await ann.locator("form.gate").count()).toBe(2)
          expect(await gateForm(ann, "lyon").getByTestId("gate-policy").textContent()).toContain(
            "2 distinct approval(s)"
          )

          // paris: evidence that does not fit the gate is refused, with what is expected; then the right one
          const paris = gateForm(ann, "paris")
          await paris.locator('input[data-evidence="consoleVersion"]').fill("24.1.0")
          await paris.getByTestId("gate-comment").fill("seen in Help > About")
          await paris.getByTestId("approve").click()
          await expect
            .poll(() => paris.getByTestId("gate-error").textContent(), { timeout: 30_000 })
            .toContain("24.3.2")
          await paris.locator('input[data-evidence="consoleVersion"]').fill("24.3.2")
          await paris.getByTestId("approve").click()
          await expect
            .poll(() => ann.locator('[data-testid="fleet-answered"] li[data-site="paris"]').count(), {
              timeout: 30_000
            })
            .toBe(1)
          expect(await ann.locator("form.gate").count()).toBe(1) // paris answered: its form is gone
          expect(await ann.locator('[data-testid="fleet-answered"] li[data-site="paris"]').textContent()).toContain(
            "approve by ann (approver): “seen in Help > About” — consoleVersion=24.3.2"
          )

          // lyon: a dangerous gate, ann's approval leaves one more
          const lyon = gateForm(ann, "lyon")
          await lyon.locator('input[data-evidence="ticket"]').fill("CHG-1042")
          await lyon.getByTestId("gate-comment").fill("relationship broken, as planned")
          await lyon.getByTestId("approve").click()
          await expect
            .poll(() => lyon.getByTestId("gate-status").textContent(), { timeout: 30_000 })
            .toContain("1 more approval(s) needed")

          // wave 2 approved from the page, with a comment
          const wave = ann.locator('[data-testid="approve-wave"]')
          await wave.locator('input[name="comment"]').fill("canary wave went fine")
          await wave.getByRole("button", { name: "Approve wave 2" }).click()
          await expect
            .poll(() => ann.locator('[data-testid="waves"] tr[data-wave="2"]').textContent(), { timeout: 30_000 })
            .toContain("approved by ann (approver): “canary wave went fine”")
          // docs/portal-rollout.png is refreshed on request only (a test run leaves the work tree as it was)
          if (process.env["SRA_UPDATE_SCREENSHOT"] === "1")
            writeFileSync(join(repoRoot, "docs", "portal-rollout.png"), await ann.screenshot({ fullPage: true }))
        })

        // bob, the second approver, on his own page
        const bob = yield* rolloutPage(browser, p, "bob")
        yield* Effect.promise(async () => {
          const lyon = gateForm(bob, "lyon")
          await expect.poll(() => lyon.getByTestId("gate-status").textContent()).toContain("ann")
          await lyon.locator('input[data-evidence="ticket"]').fill("CHG-1042")
          await lyon.getByTestId("gate-comment").fill("checked the relationship is broken")
          await lyon.getByTestId("approve").click()
          await expect
            .poll(() => bob.locator('[data-testid="fleet-answered"] li[data-site="lyon"]').textContent(), {
              timeout: 30_000
            })
            .toMatch(/approve by ann.*approve by bob/s)
        })

        // the runner again: the sites take their answers, wave 2 starts, the rollout completes
        const result = yield* Effect.gen(function* () {
          yield* Engine.start(plan)
          return yield* Engine.awaitEnd(plan.rolloutId)
        }).pipe(Effect.provide(engine(file, worker)), Effect.scoped)
        expect(result.status).toBe("succeeded")
        expect([installs.get("paris"), installs.get("lyon"), installs.get("nice")]).toEqual([1, 1, 1])

        // ann's page, open all along, reads the rollout again by itself
        yield* Effect.promise(async () => {
          await expect
            .poll(() => ann.getByTestId("rollout-status").getAttribute("data-status"), { timeout: 60_000 })
            .toBe("succeeded")
          expect(await ann.getByTestId("rollout-counts").textContent()).toContain("3 succeeded")
          expect(await ann.locator("form.gate").count()).toBe(0)
          // an unknown rollout: the API's 404 message, no polling
          await ann.goto(`${p.url}/#/rollouts/nope`)
          await expect.poll(() => ann.getByTestId("rollout-error").textContent(), { timeout: 30_000 }).toContain("nope")
        })
      }),
    300_000
  )
})
