import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as JumpClientRollout from "../src/JumpClientRollout.js"
import { MaintenanceWindow } from "../src/MaintenanceWindow.js"
import * as Plan from "../src/Plan.js"
import * as Rehearsal from "../src/Rehearsal.js"
import * as Site from "../src/Site.js"
import * as CoreSteps from "../src/CoreSteps.js"
import * as SingleUpgrade from "../src/SingleUpgrade.js"
import { UpdatePackage } from "../src/UpdatePackage.js"

const BUILD = "40516-5f3e2d1c0b9a88776655443322110ffeeddccbba"

const siteInput = (over: Record<string, unknown> = {}, clients: Record<string, unknown> = {}) => ({
  hostname: "support.example.com",
  product: "pra",
  appliances: [
    {
      id: "A",
      role: "none",
      hostname: "pra01.example.com",
      apiUrl: "https://10.20.0.11",
      uniqueIp: "10.20.0.11",
      clientId: "abc",
      clientSecret: { env: "X" },
      storedDataGb: 100,
      baseVersion: "6.0.5"
    }
  ],
  maintenanceWindows: [{ label: "Saturday night", start: "2026-12-05T22:00:00Z", durationMinutes: 240 }],
  backup: { directory: "/var/backups/sra", password: { env: "BACKUP_PW" } },
  licences: { technicians: 25, endpoints: 2000 },
  clients: {
    accessConsoles: { installed: true, msiLockedDown: 3 },
    jumpClients: { active: 1400, passive: 350, packageMiB: 30, bandwidthMiBps: 40, maxConcurrent: 100, linkMiBps: 125 },
    jumpoints: 2,
    integrationClients: [{ name: "Recording archive", connectsBy: "ip", address: "10.1.1.1" }],
    generatedInstallers: ["JC windows-64-msi"],
    certificateStores: [{ name: "GPO store", managed: true, current: true }],
    ...clients
  },
  updates: [
    { id: "base-6.1.0", kind: "base", version: "6.1.0" },
    { id: "site-24.3.2", kind: "site", version: "24.3.2", requires: ["base-6.1.0"], estimatedMinutes: 25 },
    { id: "site-25.1.1", kind: "site", version: "25.1.1", requires: ["site-24.3.2"] }
  ],
  ...over
})

const site = (over: Record<string, unknown> = {}, clients: Record<string, unknown> = {}) =>
  Schema.decodeUnknownSync(Site.Site)(siteInput(over, clients))

const opts = (over: Partial<SingleUpgrade.Options> = {}): SingleUpgrade.Options => ({
  current: { product: "24.1.3", build: BUILD },
  now: new Date("2026-12-01T00:00:00Z"),
  ...over
})

const planOf = (s: Site.Site, target: SingleUpgrade.TargetInput, o: Partial<SingleUpgrade.Options> = {}) => {
  const r = SingleUpgrade.planSingleUpgrade(s, target, opts(o))
  if (Either.isLeft(r)) throw new Error(r.left.message)
  return r.right
}

const errorOf = (s: Site.Site, target: SingleUpgrade.TargetInput, o: Partial<SingleUpgrade.Options> = {}) => {
  const r = SingleUpgrade.planSingleUpgrade(s, target, opts(o))
  if (Either.isRight(r)) throw new Error("expected an error")
  return r.left
}

const ids = (p: Plan.Plan) => p.steps.map((s) => s.id)
const byId = (p: Plan.Plan, id: string) => {
  const s = p.steps.find((x) => x.id === id)
  if (s === undefined) throw new Error(`no step ${id}: ${ids(p).join(", ")}`)
  return s
}
const withRule = (p: Plan.Plan, rule: string) => p.steps.filter((s) => s.rules.includes(Plan.RuleId.make(rule)))
const idx = (p: Plan.Plan, id: string) => ids(p).indexOf(id)

describe("SingleUpgrade.planSingleUpgrade", () => {
  it("orders checks, window, backup, installs, verification and client follow-ups", () => {
    const p = planOf(site(), "24.3.2")
    expect(ids(p)).toEqual([
      "A/check-api",
      "A/check-clock",
      "A/check-version-path",
      "A/check-rehearsal",
      "A/release-notes",
      "A/release-rollout",
      "A/update-tested",
      "A/certificate-stores",
      "A/jump-client-concurrency",
      "A/window",
      "A/report-disconnects",
      "A/backup",
      "A/export-certificates",
      "A/install-base-6.1.0",
      "A/await-base-6.1.0",
      "A/confirm-base-6.1.0",
      "A/backup-after-base-6.1.0",
      "A/install-site-24.3.2",
      "A/await-site-24.3.2",
      "A/verify",
      "A/verify-console",
      "A/jump-clients",
      "A/jumpoints",
      "A/client-msi-redeploy",
      "A/client-integration-client-reinstall",
      "A/client-installer-regeneration"
    ])
    expect(p.kind).toBe("single")
    expect(p.targetVersion).toBe("24.3.2")
  })

  it("tags every PREP, SINGLE, VERIFY and CLIENT rule of the issue on at least one step or note", () => {
    const auto = planOf(site({}, { extractableClients: true, connectionAgents: 1 }), "25.1.1")
    const manual = planOf(site(), "25.1.1", { method: "manual" })
    const tagged = (rule: string) => withRule(auto, rule).length + withRule(manual, rule).length
    for (const rule of [
      "PREP-1",
      "PREP-2",
      "PREP-3",
      "PREP-4",
      "PREP-5",
      "PREP-6",
      "PREP-8",
      "SINGLE-1",
      "SINGLE-2",
      "SINGLE-3",
      "SINGLE-4",
      "SINGLE-5",
      "SINGLE-6",
      "VERIFY-1",
      "VERIFY-2",
      "LICENSE-1",
      "CLIENT-2",
      "CLIENT-3",
      "CLIENT-4",
      "CLIENT-5",
      "CLIENT-6",
      "CLIENT-7",
      "CLIENT-8",
      "CLIENT-9",
      "CLIENT-10",
      "CLIENT-12",
      "CLIENT-13"
    ])
      expect(tagged(rule), rule).toBeGreaterThan(0)
    // self-updating clients and CLIENT-1 live in the notes
    expect(auto.notes.join("\n")).toMatch(/CLIENT-11/)
  })

  it("is pure and stable: the same input gives the same plan, which round-trips through JSON", () =>
    Effect.gen(function* () {
      const a = planOf(site(), "25.1.1")
      const b = planOf(site(), "25.1.1")
      expect(Plan.toJson(a)).toBe(Plan.toJson(b))
      const back = yield* Plan.fromJson(Plan.toJson(a))
      expect(Plan.toJson(back)).toBe(Plan.toJson(a))
    }).pipe(Effect.runSync))

  it("builds every step from a CoreSteps definition", () => {
    const p = planOf(site(), "25.1.1", { method: "manual" })
    for (const s of p.steps)
      if (s._tag !== "Window")
        expect(
          CoreSteps.all.some((d) => d.is(s)),
          s.id
        ).toBe(true)
  })

  it("SINGLE-2: every prerequisite is installed first, the order carried by the version-path check", () => {
    const p = planOf(site(), "25.1.1")
    const installs = p.steps.filter((s) => CoreSteps.ConfirmInstallStarted.is(s)).map((s) => s.params["package"])
    expect(installs).toEqual(["base-6.1.0", "site-24.3.2", "site-25.1.1"])
    expect(byId(p, "A/check-version-path").params["order"]).toEqual(installs)
    expect(byId(p, "A/check-version-path").rules).toContain("SINGLE-2")
    expect(byId(p, "A/install-site-25.1.1").rules).toContain("SINGLE-2")
  })

  it("SINGLE-2: a missing prerequisite is a typed error naming the package and the prerequisite", () => {
    const e = errorOf(site(), "24.3.2", {
      updates: [new UpdatePackage({ id: "site-24.3.2", kind: "site", version: "24.3.2", requires: ["base-6.9.9"] })]
    })
    expect(e.reason._tag).toBe("NoInstallPath")
    if (e.reason._tag === "NoInstallPath") {
      expect(e.reason.order._tag).toBe("MissingPrerequisite")
    }
    expect(e.message).toContain("site-24.3.2 requires base-6.9.9")
  })

  it("SINGLE-2: a target no package installs is refused, listing what is on offer", () => {
    const e = errorOf(site(), "26.1.0")
    expect(e.reason._tag).toBe("NoInstallPath")
    expect(e.message).toContain("site-25.1.1 (site 25.1.1)")
  })

  it("refuses a downgrade, a target already installed and a malformed version", () => {
    expect(errorOf(site(), "24.1.0").message).toMatch(/downgrade/)
    expect(errorOf(site(), "24.1.3").reason._tag).toBe("AlreadyAtTarget")
    expect(errorOf(site(), "latest").reason._tag).toBe("BadVersion")
    expect(errorOf(site(), "24.3.2", { current: { product: "x.y" } }).reason._tag).toBe("BadVersion")
  })

  it("SINGLE-1: automatic method: an 'Install this update' gate per package, then a wait polling health", () => {
    const p = planOf(site(), "24.3.2")
    const gate = byId(p, "A/install-site-24.3.2")
    expect(gate._tag).toBe("ManualGate")
    expect(gate.idempotent).toBe(false)
    expect(gate.rules).toContain("SINGLE-1")
    if (gate._tag === "ManualGate") {
      expect(gate.instructions.join("\n")).toContain('press "Install this update" for it')
      expect(gate.instructions.join("\n")).toContain("https://pra01.example.com/appliance > Updates")
    }
    const wait = byId(p, "A/await-site-24.3.2")
    expect(wait._tag).toBe("WaitFor")
    expect(CoreSteps.AwaitInstall.is(wait)).toBe(true)
    expect(wait.params).toMatchObject({ version: "24.3.2", kind: "site", fromVersion: "24.1.3", fromBuild: BUILD })
  })

  it("SINGLE-3: manual method: a download-key gate, then an upload gate per package", () => {
    const p = planOf(site(), "24.3.2", { method: "manual" })
    const key = byId(p, "A/download-key")
    expect(key.rules).toEqual(["SINGLE-3", "SINGLE-4", "PREP-8"])
    expect(idx(p, "A/download-key")).toBeLessThan(idx(p, "A/install-base-6.1.0"))
    const gate = byId(p, "A/install-site-24.3.2")
    expect(gate.rules).toContain("SINGLE-3")
    expect(gate.rules).not.toContain("SINGLE-1")
    expect(gate.params["method"]).toBe("manual")
    if (gate._tag === "ManualGate") expect(gate.instructions.join("\n")).toContain('"Update software"')
  })

  it("SINGLE-4: automatic install gates say to install right after downloading", () => {
    const p = planOf(site(), "24.3.2")
    for (const g of p.steps.filter((s) => CoreSteps.ConfirmInstallStarted.is(s))) {
      expect(g.rules).toContain("SINGLE-4")
      if (g._tag === "ManualGate") expect(g.instructions.join("\n")).toMatch(/disappears from the list.*right away/)
    }
  })

  it("SINGLE-4: the manual method: the download-key gate and every upload gate say a downloaded update leaves the list and re-downloading needs support", () => {
    const p = planOf(site(), "24.3.2", { method: "manual" })
    const key = byId(p, "A/download-key")
    expect(key.rules).toContain("SINGLE-4")
    const text = (s: Plan.Step) => (s._tag === "ManualGate" ? s.instructions.join("\n") : "")
    expect(text(key)).toMatch(
      /disappears from the list of available updates.*downloading it again needs vendor support/
    )
    const uploads = p.steps.filter((s) => CoreSteps.ConfirmInstallStarted.is(s))
    expect(uploads.length).toBeGreaterThan(0)
    for (const g of uploads) {
      expect(g.rules).toContain("SINGLE-4")
      expect(text(g)).toContain("downloading it again needs vendor support")
      // SINGLE-6 (fall back to manual) is for the automatic method only
      expect(g.rules).not.toContain("SINGLE-6")
    }
  })

  it("SINGLE-5: after a base update: a fresh backup, then the product update immediately", () => {
    const p = planOf(site(), "25.1.1")
    const fresh = byId(p, "A/backup-after-base-6.1.0")
    expect(fresh.rules).toEqual(["SINGLE-5", "PREP-1"])
    expect(CoreSteps.DownloadBackup.is(fresh)).toBe(true)
    expect(idx(p, "A/backup-after-base-6.1.0")).toBeGreaterThan(idx(p, "A/await-base-6.1.0"))
    expect(idx(p, "A/install-site-24.3.2")).toBe(idx(p, "A/backup-after-base-6.1.0") + 1)
    expect(byId(p, "A/install-site-24.3.2").rules).toContain("SINGLE-5")
    expect(byId(p, "A/install-site-25.1.1").rules).toContain("SINGLE-5")
    // nothing but install + wait between the product installs
    expect(ids(p).slice(idx(p, "A/install-site-24.3.2"), idx(p, "A/install-site-25.1.1") + 1)).toEqual([
      "A/install-site-24.3.2",
      "A/await-site-24.3.2",
      "A/install-site-25.1.1"
    ])
  })

  it("SINGLE-6: automatic install gates carry the fallback to the manual method", () => {
    const p = planOf(site(), "24.3.2")
    const g = byId(p, "A/install-base-6.1.0")
    expect(g.rules).toContain("SINGLE-6")
    if (g._tag === "ManualGate") expect(g.instructions.join("\n")).toMatch(/fall back to the manual method/)
  })

  it("PREP-9: a new major release asks for the vendor's rollout e-mail and a current maintenance plan; SINGLE-6's fallback does not apply to a release not rolled out yet", () => {
    const p = planOf(site(), "24.3.2") // 24.1 → 24.3
    const gate = byId(p, "A/release-rollout")
    expect(CoreSteps.ConfirmTask.is(gate)).toBe(true)
    expect(gate.rules).toEqual(["PREP-9"])
    const text = gate._tag === "ManualGate" ? gate.instructions.join(" ") : ""
    expect(text).toMatch(/24\.3 is a new major release \(installed: 24\.1\).*announces by e-mail/)
    expect(text).toMatch(/maintenance plan is current \(it is renewed every year/)
    expect(idx(p, "A/release-rollout")).toBeLessThan(idx(p, "A/window"))
    const install = byId(p, "A/install-site-24.3.2")
    expect(install._tag === "ManualGate" && install.instructions.join(" ")).toMatch(
      /SINGLE-6: .*Not when 24\.3 is simply not offered yet.*rollout schedule \(PREP-9\)/
    )
    // a maintenance release of the same major: no rollout gate, no caveat
    const patch = Schema.decodeUnknownSync(Site.Site)(
      siteInput({ updates: [{ id: "site-24.1.4", kind: "site", version: "24.1.4" }] })
    )
    const q = planOf(patch, "24.1.4")
    expect(ids(q)).not.toContain("A/release-rollout")
    const g = byId(q, "A/install-site-24.1.4")
    expect(g._tag === "ManualGate" && g.instructions.join(" ")).not.toContain("PREP-9")
  })

  it("PREP-10: every plan asks to read the target's release notes before the window", () => {
    for (const [target, extra] of [
      ["24.3.2", "and those of every release between 24.1.3 and it"],
      ["25.1.1", "and those of every release between 24.1.3 and it"]
    ] as const) {
      const p = planOf(site(), target)
      const gate = byId(p, "A/release-notes")
      expect(gate.rules).toEqual(["PREP-10"])
      expect(gate.title).toBe(`Read the release notes of ${target}`)
      expect(gate._tag === "ManualGate" && gate.instructions.join(" ")).toContain(extra)
      expect(idx(p, "A/release-notes")).toBeLessThan(idx(p, "A/window"))
    }
  })

  it("PREP-1: a backup action before any install, password protection as the site file says", () => {
    const p = planOf(site(), "24.3.2")
    const b = byId(p, "A/backup")
    expect(b._tag).toBe("Action")
    expect(b.rules).toEqual(["PREP-1"])
    expect(b.params).toMatchObject({ directory: "/var/backups/sra", passwordProtected: true })
    expect(idx(p, "A/backup")).toBeLessThan(idx(p, "A/install-base-6.1.0"))
    const open = planOf(site({ backup: { directory: "/b" } }), "24.3.2")
    expect(byId(open, "A/backup").params["passwordProtected"]).toBe(false)
    expect(byId(open, "A/backup").notes.join(" ")).toMatch(/not password-protected/)
  })

  it("PREP-2: a certificate export gate whose evidence is the file path and the fingerprint", () => {
    const g = byId(planOf(site(), "24.3.2"), "A/export-certificates")
    expect(g._tag).toBe("ManualGate")
    if (g._tag === "ManualGate") {
      expect(g.evidence.map((e) => e.name)).toEqual(["path", "fingerprint"])
      expect(g.instructions.join("\n")).toMatch(/private key/)
    }
  })

  it("PREP-3: install waits are estimated from stored data, and the window says so", () => {
    const light = planOf(site(), "24.3.2", {
      // same site, no stored data
    })
    const heavy = planOf(
      site({
        appliances: [{ ...siteInput().appliances[0], storedDataGb: 2000 }]
      }),
      "24.3.2"
    )
    const wl = byId(light, "A/await-site-24.3.2")
    const wh = byId(heavy, "A/await-site-24.3.2")
    expect(wh.estimatedSeconds).toBeGreaterThan(wl.estimatedSeconds)
    expect(byId(heavy, "A/window").notes.join(" ")).toMatch(/PREP-3.*2000 GB/)
    expect(heavy.notes.join(" ")).toMatch(/PREP-3.*schedule a longer window/)
    if (wh._tag === "WaitFor") expect(wh.deadlineSeconds).toBeGreaterThan(wh.estimatedSeconds)
  })

  it("PREP-4: the window precedes the installs and the disconnect report runs right before the downtime", () => {
    const p = planOf(site(), "24.3.2")
    const w = byId(p, "A/window")
    expect(w._tag).toBe("Window")
    expect(w.rules).toContain("PREP-4")
    expect(idx(p, "A/window")).toBeLessThan(idx(p, "A/report-disconnects"))
    expect(idx(p, "A/report-disconnects")).toBeLessThan(idx(p, "A/install-base-6.1.0"))
    const r = byId(p, "A/report-disconnects")
    expect(r._tag === "Check" && r.severity).toBe("advisory")
  })

  it("PREP-4: a scheduled window also carries the low-traffic advice", () => {
    const w = byId(planOf(site(), "24.3.2"), "A/window")
    expect(w._tag).toBe("Window")
    expect(w.notes.join(" ")).toMatch(/PREP-4: schedule the window at low traffic/)
  })

  it("PREP-4: the window open at `now` (or the next) is chosen; without any, a downtime gate asks a person", () => {
    const two = site({
      maintenanceWindows: [
        { label: "old", start: "2026-11-01T22:00:00Z", durationMinutes: 60 },
        { label: "next", start: "2026-12-12T22:00:00Z", durationMinutes: 240 }
      ]
    })
    const w = byId(planOf(two, "24.3.2"), "A/window")
    expect(w._tag === "Window" && w.window.label).toBe("next")
    const given = planOf(two, "24.3.2", {
      window: new MaintenanceWindow({ label: "given", start: new Date(0), durationMinutes: 60 })
    })
    const g = byId(given, "A/window")
    expect(g._tag === "Window" && g.window.label).toBe("given")
    const none = planOf(site({ maintenanceWindows: [] }), "24.3.2")
    expect(ids(none)).toContain("A/downtime")
    expect(byId(none, "A/downtime").rules).toContain("PREP-4")
  })

  it("LICENSE-1: the disconnect report carries the licensed seat counts", () => {
    const r = byId(planOf(site(), "24.3.2"), "A/report-disconnects")
    expect(r.rules).toContain("LICENSE-1")
    expect(r.params).toMatchObject({ licensedTechnicians: 25, licensedEndpoints: 2000 })
    const unlicensed = byId(planOf(site({ licences: undefined }), "24.3.2"), "A/report-disconnects")
    expect(unlicensed.rules).not.toContain("LICENSE-1")
  })

  it("PREP-5: the plan asks whether the vendor update itself was tested in a controlled environment; the simulator rehearsal is labelled as the project's extra", () => {
    const p = planOf(site(), "24.3.2")
    const gate = byId(p, "A/update-tested")
    expect(CoreSteps.ConfirmTask.is(gate)).toBe(true)
    expect(gate.rules).toEqual(["PREP-5"])
    expect(gate.title).toBe("24.3.2 was tested in a controlled environment")
    expect(gate._tag === "ManualGate" && gate.instructions.join(" ")).toMatch(/lab or test appliance/)
    expect(gate._tag === "ManualGate" && gate.evidence.map((e) => e.name)).toEqual(["done"])
    // before anything changes
    expect(idx(p, "A/update-tested")).toBeLessThan(idx(p, "A/window"))
    expect(byId(p, "A/check-rehearsal").notes.join(" ")).toMatch(/project's addition to PREP-5.*not the vendor update/)
  })

  it("PREP-5: an advisory rehearsal check; the fingerprint ignores folders and windows, not versions or method", () => {
    const p = planOf(site(), "24.3.2")
    const c = byId(p, "A/check-rehearsal")
    expect(c._tag === "Check" && c.severity).toBe("advisory")
    const moved = planOf(
      site({
        backup: { directory: "/elsewhere", password: { env: "BACKUP_PW" } },
        maintenanceWindows: [{ label: "other", start: "2027-01-01T00:00:00Z", durationMinutes: 300 }]
      }),
      "24.3.2",
      { pollIntervalSeconds: 1, planId: "rehearsal" }
    )
    expect(Rehearsal.fingerprint(moved)).toBe(Rehearsal.fingerprint(p))
    expect(Rehearsal.fingerprint(planOf(site(), "25.1.1"))).not.toBe(Rehearsal.fingerprint(p))
    expect(Rehearsal.fingerprint(planOf(site(), "24.3.2", { method: "manual" }))).not.toBe(Rehearsal.fingerprint(p))
    expect(Rehearsal.fingerprint(planOf(site(), "24.3.2", { current: { product: "24.1.2" } }))).not.toBe(
      Rehearsal.fingerprint(p)
    )
  })

  it("PREP-6: base installs are waited with PREP-6 and followed by a base-version confirmation gate", () => {
    const p = planOf(site(), "24.3.2")
    const wait = byId(p, "A/await-base-6.1.0")
    expect(wait.rules).toContain("PREP-6")
    expect(wait.notes.join(" ")).toMatch(/do NOT reboot/)
    expect(byId(p, "A/await-site-24.3.2").rules).not.toContain("PREP-6")
    const confirm = byId(p, "A/confirm-base-6.1.0")
    expect(confirm.rules).toEqual(["VERIFY-1", "PREP-6"])
    expect(confirm.params["baseVersion"]).toBe("6.1.0")
  })

  it("PREP-7: a failover pair is refused: it takes the PAIR-* methods", () => {
    const pair = site({
      appliances: [
        { ...siteInput().appliances[0], role: "primary" },
        { ...siteInput().appliances[0], id: "B", role: "backup", uniqueIp: "10.20.0.12", apiUrl: "https://10.20.0.12" }
      ],
      trafficSwitch: { method: "dns" }
    })
    const e = errorOf(pair, "24.3.2")
    expect(e.reason._tag).toBe("NotSingleAppliance")
    expect(e.message).toMatch(/PREP-7/)
    expect(errorOf(site(), "24.3.2", { appliance: "Z" }).reason._tag).toBe("UnknownAppliance")
  })

  it("PREP-8: a blocking clock-skew check with the bound", () => {
    const c = byId(planOf(site(), "24.3.2", { maxClockSkewSeconds: 30 }), "A/check-clock")
    expect(c.rules).toEqual(["PREP-8"])
    expect(c._tag === "Check" && c.severity).toBe("blocking")
    expect(c.params["maxSkewSeconds"]).toBe(30)
  })

  it("VERIFY-1: a blocking check of the final version after the installs", () => {
    const p = planOf(site(), "25.1.1")
    const v = byId(p, "A/verify")
    expect(v.rules).toEqual(["VERIFY-1"])
    expect(v.params["version"]).toBe("25.1.1")
    expect(idx(p, "A/verify")).toBeGreaterThan(idx(p, "A/await-site-25.1.1"))
  })

  it("VERIFY-2: a checklist gate: console version (Help > About) and a session", () => {
    const g = byId(planOf(site(), "24.3.2"), "A/verify-console")
    expect(g.rules).toContain("VERIFY-2")
    if (g._tag === "ManualGate") {
      expect(g.instructions.join("\n")).toMatch(/Help > About.*24\.3\.2/)
      expect(g.instructions.join("\n")).toMatch(/session/)
      expect(g.evidence.map((e) => e.name)).toEqual(["consoleVersion", "session"])
    }
  })

  it("CLIENT-1: a base-only plan carries no client step", () => {
    const p = planOf(site(), { base: "6.1.0" })
    const clientRules = p.steps.flatMap((s) => s.rules).filter((r) => r.startsWith("CLIENT-"))
    expect(clientRules).toEqual([])
    expect(p.notes.join(" ")).toMatch(/CLIENT-1/)
  })

  it("CLIENT-2: the console check says the console updates itself; consoles are noted as self-updating", () => {
    const p = planOf(site(), "24.3.2")
    const g = byId(p, "A/verify-console")
    expect(g.rules).toContain("CLIENT-2")
    if (g._tag === "ManualGate") expect(g.instructions.join("\n")).toMatch(/upgrades itself/)
    expect(p.notes.join("\n")).toMatch(/CLIENT-2: access-console updates itself at its next launch/)
  })

  it("CLIENT-7: active Jump Clients are waited for; passive ones (24 h check-in) are the allowed remainder", () => {
    const p = planOf(site(), "24.3.2")
    const w = byId(p, "A/jump-clients")
    expect(w.rules).toContain("CLIENT-7")
    expect(w.params["maxPending"]).toBe(site().clients.jumpClients!.passive)
    expect(p.notes.join("\n")).toMatch(
      /CLIENT-7: jump-client \(1750\).*1400 active right away, 350 passive within 24 h/
    )
  })

  it("CLIENT-3: a blocking certificate-store gate before the window; an outdated store refuses the plan", () => {
    const p = planOf(site(), "24.3.2")
    const g = byId(p, "A/certificate-stores")
    expect(g.rules).toEqual(["CLIENT-3"])
    expect(idx(p, "A/certificate-stores")).toBeLessThan(idx(p, "A/window"))
    if (g._tag === "ManualGate") expect(g.instructions.join("\n")).toMatch(/managed centrally/)
    const e = errorOf(site({}, { certificateStores: [{ name: "Kiosks", managed: false, current: true }] }), "24.3.2")
    expect(e.reason._tag).toBe("PreCheckFails")
    expect(e.message).toContain("Kiosks (unmanaged)")
  })

  it("CLIENT-4: MSI-deployed consoles on locked-down machines get a redeploy gate after the upgrade", () => {
    const p = planOf(site(), "24.3.2")
    const g = byId(p, "A/client-msi-redeploy")
    expect(g.rules).toEqual(["CLIENT-4"])
    expect(g.title).toMatch(/3 locked-down/)
    expect(idx(p, "A/client-msi-redeploy")).toBeGreaterThan(idx(p, "A/verify"))
    expect(ids(planOf(site({}, { accessConsoles: { installed: true, msiLockedDown: 0 } }), "24.3.2"))).not.toContain(
      "A/client-msi-redeploy"
    )
  })

  it("CLIENT-12: integration clients get a manual reinstall gate; those configured by IP are named", () => {
    const p = planOf(site(), "24.3.2")
    const ic = byId(p, "A/client-integration-client-reinstall")
    expect(ic.rules).toEqual(["CLIENT-12"])
    expect(idx(p, "A/client-integration-client-reinstall")).toBeGreaterThan(idx(p, "A/verify"))
    if (ic._tag === "ManualGate") {
      expect(ic.instructions.join("\n")).toMatch(/do not update themselves/)
      expect(ic.instructions.join("\n")).toMatch(/Recording archive \(10\.1\.1\.1\) reach the site by IP/)
    }
  })

  it("CLIENT-13: installers generated earlier get a regeneration gate naming them", () => {
    const p = planOf(site(), "24.3.2")
    const g = byId(p, "A/client-installer-regeneration")
    expect(g.rules).toEqual(["CLIENT-13"])
    if (g._tag === "ManualGate") expect(g.instructions.join("\n")).toContain("JC windows-64-msi")
    expect(idx(p, "A/client-installer-regeneration")).toBeGreaterThan(idx(p, "A/verify"))
  })

  it("CLIENT-8: the concurrency gate tells technicians about 'Upgrade pending' before the window", () => {
    const g = byId(planOf(site(), "24.3.2"), "A/jump-client-concurrency")
    expect(g.rules).toContain("CLIENT-8")
    if (g._tag === "ManualGate") expect(g.instructions.join("\n")).toMatch(/can be edited but not jumped to/)
  })

  it("CLIENT-5: extractable clients: archive the old MSI before the upgrade", () => {
    const p = planOf(site({}, { extractableClients: true, oldMsiArchive: "/srv/msi/24.1.3" }), "24.3.2")
    const keep = byId(p, "A/client-keep-old-msi")
    expect(keep.rules).toEqual(["CLIENT-5"])
    expect(idx(p, "A/client-keep-old-msi")).toBeLessThan(idx(p, "A/window"))
    expect(byId(p, "A/client-pre-stage-msi").title).toMatch(/optional/)
  })

  it("CLIENT-6: the recommended concurrency is set before the window", () => {
    const p = planOf(site(), "24.3.2")
    const g = byId(p, "A/jump-client-concurrency")
    expect(g.rules).toEqual(["CLIENT-6", "CLIENT-8"])
    const fleet = site().clients.jumpClients!
    expect(g.params["recommended"]).toBe(JumpClientRollout.estimate(fleet).recommendedConcurrency)
    expect(g.params["recommended"]).toBeLessThan(fleet.maxConcurrent)
    expect(idx(p, "A/jump-client-concurrency")).toBeLessThan(idx(p, "A/window"))
  })

  it("CLIENT-10: a wait on Jump Clients needing the update, down to the passive count or a deadline", () => {
    const p = planOf(site(), "24.3.2")
    const w = byId(p, "A/jump-clients")
    expect(w._tag).toBe("WaitFor")
    expect(w.rules).toEqual(["CLIENT-10", "CLIENT-7", "CLIENT-6"])
    expect(w.params["maxPending"]).toBe(350)
    if (w._tag === "WaitFor") expect(w.deadlineSeconds).toBeGreaterThanOrEqual(900)
    const custom = byId(
      planOf(site(), "24.3.2", { jumpClientWait: { maxPending: 10, deadlineSeconds: 60 } }),
      "A/jump-clients"
    )
    expect(custom.params["maxPending"]).toBe(10)
    expect(custom._tag === "WaitFor" && custom.deadlineSeconds).toBe(60)
  })

  it("CLIENT-10: the in-window wait says it covers the active clients, and how long all of them (passive ones, 24 h check-in) may take", () => {
    const w = byId(planOf(site(), "24.3.2"), "A/jump-clients")
    expect(w.title).toMatch(/active Jump Clients: none of them, and at most 350 in all \(the passive ones\)/)
    expect(w.params["maxActivePending"]).toBe(0)
    const notes = w.notes.join(" ")
    expect(notes).toMatch(/CLIENT-10 asks for all Jump Clients: the 350 passive one\(s\) check in at least every 24 h/)
    expect(notes).toMatch(/allow up to 24\.\d h after the upgrade before any further upgrade step/)
    // the runbook gives one deadline, in the same minutes everywhere
    const md = Plan.toMarkdown(planOf(site(), "24.3.2"))
    const section = md.slice(md.indexOf("Wait for the active Jump Clients"))
    const shown = /for at most (\d+)m\./.exec(section)?.[1]
    expect(shown).toBeDefined()
    expect(section).toContain(`or ${shown} min have passed`)
  })

  it("CLIENT-9: Jumpoints are checked after the upgrade (they update themselves)", () => {
    const p = planOf(site(), "24.3.2")
    expect(byId(p, "A/jumpoints").rules).toEqual(["CLIENT-9"])
    expect(idx(p, "A/jumpoints")).toBeGreaterThan(idx(p, "A/verify"))
    expect(p.notes.join("\n")).toMatch(/CLIENT-9: jumpoint \(2\)/)
  })

  it("CLIENT-11: connection agents are noted as updating themselves after the site upgrade", () => {
    const p = planOf(site({}, { connectionAgents: 4 }), "24.3.2")
    expect(p.notes.join("\n")).toMatch(/CLIENT-11: connection-agent \(4\) updates itself after the site upgrade/)
    expect(planOf(site(), "24.3.2").notes.join("\n")).not.toMatch(/CLIENT-11/)
  })

  it("without packages listed anywhere, a gate asks a person to record them and install up to the target", () => {
    const p = planOf(site({ updates: [] }), "24.3.2")
    expect(ids(p)).toContain("A/record-updates")
    expect(ids(p)).toContain("A/install-to-target")
    expect(byId(p, "A/install-to-target").params["offered"]).toBe("gate")
    expect(byId(p, "A/await-target").params["version"]).toBe("24.3.2")
    expect(p.notes.join(" ")).toMatch(/a person records them/)
  })
})
