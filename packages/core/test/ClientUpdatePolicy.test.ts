import { describe, expect, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import * as Policy from "../src/ClientUpdatePolicy.js"
import { RolloutInput } from "../src/JumpClientRollout.js"

const estate = (fields: ConstructorParameters<typeof Policy.ClientEstate>[0] = {}) => new Policy.ClientEstate(fields)

const full = estate({
  accessConsoles: new Policy.AccessConsoles({ installed: true, msiLockedDown: 12 }),
  extractableClients: true,
  oldMsiArchive: "//files/msi/pra-24.1.msi",
  jumpClients: new RolloutInput({ active: 800, passive: 200, bandwidthMiBps: 100, maxConcurrent: 500, linkMiBps: 100 }),
  jumpoints: 3,
  connectionAgents: 1,
  integrationClients: [
    new Policy.IntegrationClient({ name: "archive-1", connectsBy: "hostname" }),
    new Policy.IntegrationClient({ name: "archive-2", connectsBy: "ip", address: "10.0.0.11" })
  ],
  generatedInstallers: ["jump-client windows-64-msi (helpdesk)", "access-console mac-dmg"],
  certificateStores: [new Policy.CertificateStore({ name: "GPO machine store", managed: true, current: true })]
})

const site = Policy.impact(["base", "site"], full)
const action = (i: Policy.ClientImpact, kind: Policy.ManualAction["kind"]) =>
  i.manualActions.find((a) => a.kind === kind)
const followUp = (i: Policy.ClientImpact, kind: Policy.FollowUp["kind"]) => i.followUps.find((f) => f.kind === kind)
const self = (i: Policy.ClientImpact, client: Policy.ClientType) => i.selfUpdating.find((s) => s.client === client)

describe("ClientUpdatePolicy", () => {
  it("CLIENT-1: base software and licence add-ons leave clients alone; site updates touch them", () => {
    const none = Policy.impact(["base", "licence"], full)
    expect(none.touchesClients).toBe(false)
    expect(none.selfUpdating).toEqual([])
    expect(none.manualActions).toEqual([])
    expect(none.preChecks).toEqual([])
    expect(none.followUps).toEqual([])
    expect(site.touchesClients).toBe(true)
    expect(site.selfUpdating.length).toBeGreaterThan(0)
  })

  it("CLIENT-2: installed access consoles update themselves at next launch", () => {
    expect(self(site, "access-console")?.when).toContain("next launch")
    const noConsoles = Policy.impact(
      ["site"],
      estate({ accessConsoles: new Policy.AccessConsoles({ installed: false }) })
    )
    expect(self(noConsoles, "access-console")).toBeUndefined()
  })

  it("CLIENT-3: unmanaged or outdated certificate stores block; undescribed ones need a person", () => {
    const ok = site.preChecks.find((c) => c.rules.some((r) => r === "CLIENT-3"))
    expect(ok?.severity).toBe("blocking")
    expect(ok?.status).toBe("pass")
    const bad = Policy.impact(
      ["site"],
      estate({
        certificateStores: [
          new Policy.CertificateStore({ name: "GPO machine store", managed: true, current: true }),
          new Policy.CertificateStore({ name: "kiosk laptops", managed: false, current: false })
        ]
      })
    ).preChecks[0]!
    expect(bad.status).toBe("fail")
    expect(bad.severity).toBe("blocking")
    expect(bad.detail).toContain("kiosk laptops (unmanaged, outdated)")
    expect(bad.detail).not.toContain("GPO machine store")
    const unknown = Policy.impact(["site"], estate()).preChecks[0]!
    expect(unknown.status).toBe("unverified")
    expect(unknown.severity).toBe("blocking")
  })

  it("CLIENT-4: MSI-deployed consoles on locked-down machines need a redeploy after the upgrade", () => {
    const a = action(site, "msi-redeploy")
    expect(a?.phase).toBe("after-upgrade")
    expect(a?.required).toBe(true)
    expect(a?.title).toContain("12")
    expect(action(Policy.impact(["site"], estate()), "msi-redeploy")).toBeUndefined()
  })

  it("CLIENT-5: with extractable clients, keep the old MSI and optionally pre-stage the new one", () => {
    const keep = action(site, "keep-old-msi")
    expect(keep?.phase).toBe("before-upgrade")
    expect(keep?.required).toBe(true)
    expect(keep?.items).toEqual(["//files/msi/pra-24.1.msi"])
    const stage = action(site, "pre-stage-msi")
    expect(stage?.phase).toBe("before-upgrade")
    expect(stage?.required).toBe(false)
    expect(stage?.instructions.join(" ")).toContain("only once the server")
    const off = Policy.impact(["site"], estate({ extractableClients: false }))
    expect(action(off, "keep-old-msi")).toBeUndefined()
    expect(action(off, "pre-stage-msi")).toBeUndefined()
  })

  it("CLIENT-6: Jump Clients update themselves, throttled by a recommended concurrency", () => {
    expect(self(site, "jump-client")?.count).toBe(1000)
    const limit = followUp(site, "limit-concurrent-upgrades")!
    expect(limit.params["current"]).toBe(500)
    expect(limit.params["recommended"]).toBe(25)
    expect(limit.params["saturatesLink"]).toBe(true)
    expect(limit.detail).toContain("/login > Jump > Jump Clients")
  })

  it("CLIENT-7: active Jump Clients queue right away, passive ones within 24 h", () => {
    const jc = self(site, "jump-client")!
    expect(jc.rules).toContain("CLIENT-7")
    expect(jc.when).toContain("800 active right away")
    expect(jc.when).toContain("200 passive within 24 h")
  })

  it("CLIENT-8: the plan warns that pending Jump Clients cannot be jumped to until updated", () => {
    const notice = followUp(site, "upgrade-pending-notice")!
    expect(notice.rules).toEqual(["CLIENT-8"])
    expect(notice.detail).toContain("front of the upgrade queue")
    expect(followUp(Policy.impact(["site"], estate()), "upgrade-pending-notice")).toBeUndefined()
  })

  it("CLIENT-9: deployed Jumpoints update themselves", () => {
    expect(self(site, "jumpoint")?.count).toBe(3)
    expect(self(Policy.impact(["site"], estate()), "jumpoint")).toBeUndefined()
  })

  it("CLIENT-10: the plan waits for Jump Clients to reconnect, with a bound and a deadline", () => {
    const wait = followUp(site, "wait-for-jump-clients")!
    expect(wait.params["maxPending"]).toBe(200)
    expect(wait.params["deadlineSeconds"]).toBeGreaterThanOrEqual(900)
    expect(wait.params["intervalSeconds"]).toBe(60)
    expect(wait.params["passiveFinishSeconds"]).toBeGreaterThanOrEqual(24 * 3600)
  })

  it("CLIENT-11: connection agents update themselves after site upgrades", () => {
    expect(self(site, "connection-agent")?.count).toBe(1)
    expect(self(Policy.impact(["base"], full), "connection-agent")).toBeUndefined()
  })

  it("CLIENT-12: integration clients need a manual reinstall; those configured by IP are flagged", () => {
    const reinstall = action(site, "integration-client-reinstall")!
    expect(reinstall.items).toEqual(["archive-1", "archive-2"])
    expect(reinstall.phase).toBe("after-upgrade")
    expect(reinstall.instructions.join(" ")).toContain("download portal")
    const byIp = followUp(site, "verify-integration-client-source")!
    expect(byIp.params["clients"]).toEqual(["archive-2"])
    expect(byIp.rules).toContain("SWITCH-4")
  })

  it("CLIENT-13: installers generated earlier must be regenerated", () => {
    const regen = action(site, "installer-regeneration")!
    expect(regen.items).toEqual(["jump-client windows-64-msi (helpdesk)", "access-console mac-dmg"])
    expect(regen.phase).toBe("after-upgrade")
    const none = Policy.impact(["site"], estate())
    expect(action(none, "installer-regeneration")).toBeUndefined()
    expect(none.notes.join(" ")).toContain("CLIENT-13")
  })

  it("covers every CLIENT rule for a full estate, and round-trips through JSON", () => {
    expect(Policy.rulesOf(site)).toEqual(
      expect.arrayContaining([
        "CLIENT-2",
        "CLIENT-3",
        "CLIENT-4",
        "CLIENT-5",
        "CLIENT-6",
        "CLIENT-7",
        "CLIENT-8",
        "CLIENT-9",
        "CLIENT-10",
        "CLIENT-11",
        "CLIENT-12",
        "CLIENT-13"
      ])
    )
    const json = JSON.stringify(Schema.encodeSync(Policy.ClientImpact)(site))
    expect(Schema.decodeSync(Schema.parseJson(Policy.ClientImpact))(json)).toEqual(site)
  })
})
