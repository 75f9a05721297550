/**
 * The action log (`GET /__sim/actions`): every accepted state-changing
 * request, from the vendor API and the control API, complete and ordered,
 * on the simulated clock; refusals and no-ops are not actions; secrets never
 * appear; `?since=` tails it; the exactly-once check of crash tests.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { SimActions, SimControl, Simulator } from "../src/index.js"
import { client, req } from "./support.js"

const SHARED_IP = "10.0.0.10"

describe("action log", () => {
  it.scoped("vendor and control requests are logged in order with stable names; refusals and no-ops are not", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0, siteSharedIp: SHARED_IP })
      const control = SimControl.make(sim.controlUrl)
      const admin = sim.accounts[0]!
      const a = sim.appliance("A")

      // vendor API: a token, a backup, a role change to the role already held (no-op)
      const c = yield* client(a.httpUrl, admin)
      const backup = yield* req(`${a.httpUrl}/api/backup`, {
        headers: { Authorization: `Bearer ${c.token}` },
        discardBody: true
      })
      expect(backup.status).toBe(200)
      const same = yield* c.send("POST", "/api/command/v2/failover-role", '{"role":"primary"}', "application/json")
      expect(same.status).toBe(200)

      // control API: Sync now, a refused second Sync now, the clock, break, install, shared IPs, DNS
      yield* sim.control("POST", "/failover/sync")
      const refused = yield* Effect.flip(sim.control("POST", "/failover/sync"))
      expect(refused.message).toMatch(/already running/)
      yield* sim.control("POST", "/clock/advance", { seconds: 3600 })
      yield* sim.control("POST", "/failover/break")
      yield* sim.control("POST", "/appliances/A/updates/base-6.2.1/install")
      yield* Effect.flip(sim.control("POST", "/appliances/A/updates/site-25.1.1/install")) // refused: installing
      yield* sim.control("PUT", `/appliances/A/shared-ips/${SHARED_IP}`, { enabled: false })
      yield* sim.control("PUT", `/appliances/A/shared-ips/${SHARED_IP}`, { enabled: false }) // no-op
      yield* sim.control("PUT", `/appliances/B/shared-ips/${SHARED_IP}`, { enabled: true })
      yield* sim.control("PUT", "/site/dns", { target: "B", ttlSeconds: 300 })
      yield* sim.control("PUT", "/appliances/B/inter-appliance-key", { key: "very-secret-inter-key" })

      const log = yield* control.actions()
      expect(log.map((x) => `${x.appliance ?? "-"} ${x.action}`)).toEqual([
        "A token-issued",
        "A backup-taken",
        "A sync-started",
        "- clock-advanced",
        "- relationship-broken",
        "A install-started",
        "A shared-ip-moved",
        "B shared-ip-moved",
        "- dns-changed",
        "B inter-appliance-key-set"
      ])
      expect(log.map((x) => x.seq)).toEqual(log.map((_, i) => i + 1))
      expect(log.every((x) => x.site === "site")).toBe(true)
      expect(log.find((x) => x.action === "install-started")!.detail).toEqual({
        package: "base-6.2.1",
        via: "automatic"
      })
      expect(log.find((x) => x.action === "relationship-broken")!.detail).toEqual({ primary: "A", backup: "B" })
      expect(log.filter((x) => x.action === "shared-ip-moved").map((x) => x.detail)).toEqual([
        { ip: SHARED_IP, enabled: false },
        { ip: SHARED_IP, enabled: true }
      ])
      expect(log.find((x) => x.action === "token-issued")!.detail).toEqual({ account: "sim-admin" })
      // `at` is the simulated clock: the hour advanced shows between the sync and the break
      const t = (name: string) => Date.parse(log.find((x) => x.action === name)!.at)
      expect(t("relationship-broken") - t("sync-started")).toBeGreaterThanOrEqual(3600_000)
      expect(t("relationship-broken") - t("sync-started")).toBeLessThan(3600_000 + 60_000)
      // no secret reaches the log
      const text = JSON.stringify(log)
      expect(text).not.toContain("very-secret-inter-key")
      expect(text).not.toContain(c.token)
      expect(text).not.toContain("sim-admin-secret")

      // ?since= tails it
      const tail = yield* control.actions({ since: 8 })
      expect(tail.map((x) => x.seq)).toEqual([9, 10])
      expect(yield* control.actions({ since: 10 })).toEqual([])
      const bad = yield* Effect.flip(sim.control("GET", "/actions?since=-1"))
      expect(bad.message).toMatch(/since must be/)
    })
  )

  it.scoped("a role change over the XML and the JSON API, establish and the migration actions", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0, siteSharedIp: SHARED_IP })
      const admin = sim.accounts[0]!
      const b = yield* client(sim.appliance("B").httpUrl, admin)
      const xml = yield* b.send(
        "POST",
        "/api/command",
        "action=set_failover_role&role=primary",
        "application/x-www-form-urlencoded"
      )
      expect(xml.body).toContain("<success")
      yield* sim.control("POST", "/clock/advance", { seconds: 60 }) // the swap ends
      const a = yield* client(sim.appliance("A").httpUrl, admin)
      const json = yield* a.send(
        "POST",
        "/api/command/v2/failover-role",
        '{"role":"primary","data_sync_first":true}',
        "application/json"
      )
      expect(json.status).toBe(200)
      yield* sim.control("POST", "/clock/advance", { seconds: 3600 })
      yield* sim.control("POST", "/failover/break")
      yield* sim.control("POST", "/failover/establish", { primary: "A", backup: "B" })
      yield* sim.control("POST", "/appliances/B/eula/accept")
      yield* sim.control("PUT", "/appliances/B/admin-password", { password: "a-new-admin-password" })
      yield* sim.control("POST", "/appliances/B/accounts", { name: "migration" })
      yield* sim.control("POST", "/appliances/B/power-off")

      const log = yield* SimControl.actions(sim.controlUrl)
      const roles = log.filter((x) => x.action === "failover-role-set")
      expect(roles.map((x) => [x.appliance, x.detail["role"], x.detail["api"], x.detail["dataSyncFirst"]])).toEqual([
        ["B", "primary", "xml", false],
        ["A", "primary", "json", true]
      ])
      expect(log.filter((x) => x.action === "relationship-established").map((x) => x.detail)).toEqual([
        { primary: "A", backup: "B", sharedIps: SHARED_IP }
      ])
      expect(log.slice(-4).map((x) => `${x.appliance} ${x.action}`)).toEqual([
        "B eula-accepted",
        "B admin-password-changed",
        "B api-account-created",
        "B power-off"
      ])
      expect(JSON.stringify(log)).not.toContain("a-new-admin-password")
    })
  )

  it.scoped("a factory reset that breaks the relationship is one action, not two", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0 })
      yield* sim.control("POST", "/appliances/B/factory-reset")
      const log = yield* SimControl.actions(sim.controlUrl)
      expect(log.map((x) => `${x.appliance} ${x.action}`)).toEqual(["B factory-reset"])
    })
  )

  it("every catalog name is documented in docs/simulator.md", async () => {
    const { readFile } = await import("node:fs/promises")
    const doc = await readFile(new URL("../../../docs/simulator.md", import.meta.url), "utf8")
    expect(SimActions.names.filter((name) => !doc.includes(`| \`${name}\``))).toEqual([])
  })
})

describe("SimActions.exactlyOnce", () => {
  const action = (seq: number, appliance: string | null, name: SimActions.ActionName, detail = {}) =>
    new SimActions.Action({ seq, at: new Date(0).toISOString(), site: "s", appliance, action: name, detail })

  it("repeated non-idempotent actions are violations; idempotent and harness ones are not", () => {
    const log = [
      action(1, "A", "install-started", { package: "base-6.2.1", via: "automatic" }),
      action(2, "A", "token-issued", { account: "x" }),
      action(3, "A", "token-issued", { account: "x" }),
      action(4, null, "clock-advanced", { seconds: 1 }),
      action(5, null, "clock-advanced", { seconds: 1 }),
      action(6, "A", "install-started", { package: "site-24.3.2", via: "automatic" }),
      action(7, "A", "install-started", { package: "base-6.2.1", via: "upload" })
    ]
    expect(SimActions.exactlyOnce(log)).toEqual([
      { key: "s/A/install-started package=base-6.2.1", count: 2, kind: "repeated" }
    ])
    expect(SimActions.nonIdempotentKeys(log)).toEqual([
      "s/A/install-started package=base-6.2.1",
      "s/A/install-started package=site-24.3.2"
    ])
  })

  it("compared with an expected log: missing and unexpected actions", () => {
    const expected = ["s/-/relationship-broken primary=A backup=B", "s/A/install-started package=base-6.2.1"]
    const log = [action(1, null, "relationship-broken", { primary: "A", backup: "B" }), action(2, "B", "factory-reset")]
    expect(SimActions.exactlyOnce(log, expected)).toEqual([
      { key: "s/A/install-started package=base-6.2.1", count: 0, kind: "missing" },
      { key: "s/B/factory-reset", count: 1, kind: "unexpected" }
    ])
    expect(
      SimActions.exactlyOnce(
        [
          action(1, null, "relationship-broken", { primary: "A", backup: "B" }),
          action(2, "A", "install-started", { package: "base-6.2.1" })
        ],
        expected
      )
    ).toEqual([])
  })
})
