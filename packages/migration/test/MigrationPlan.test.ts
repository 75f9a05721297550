import { describe, expect, it } from "@effect/vitest"
import { Steps } from "@sra-upgrade/certificates"
import { CoreSteps, GateEvidence, Plan, SingleUpgrade } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as MigrationPlan from "../src/MigrationPlan.js"
import * as MigrationSteps from "../src/MigrationSteps.js"
import { newBox, site } from "./support.js"

const { stepIds: S } = MigrationPlan
const M = MigrationSteps
/** Every definition a migration plan may use. */
const definitions = [...MigrationSteps.all, ...CoreSteps.all, ...Steps.all]

const build = (options: Partial<MigrationPlan.Options> = {}, s = site(), n = newBox()) =>
  MigrationPlan.planMigration(s.appliances[0]!, n, s, {
    current: { product: "24.1.3" },
    oldKind: "physical",
    ...options
  })

const ok = (options: Partial<MigrationPlan.Options> = {}, s = site(), n = newBox()) => {
  const r = build(options, s, n)
  if (Either.isLeft(r)) throw new Error(r.left.message)
  return r.right
}

const index = (plan: Plan.Plan, id: string) => {
  const i = plan.steps.findIndex((s) => s.id === id)
  expect(i, `step ${id}`).toBeGreaterThanOrEqual(0)
  return i
}
const step = (plan: Plan.Plan, id: string) => plan.steps[index(plan, id)]!

const reason = (r: Either.Either<Plan.Plan, MigrationPlan.MigrationPlanError>) =>
  Either.isLeft(r) ? r.left.reason._tag : "built"

describe("planMigration", () => {
  it("MIGRATE-1: starts with the install gate verified by the probe of the new box's own address, then checks it is another box not serving the site", () => {
    const plan = ok()
    const first = plan.steps[0]!
    expect(first._tag).toBe("ManualGate")
    expect(first.id).toBe(S.newInstall)
    expect(first.rules).toContain("MIGRATE-1")
    expect(M.NewInstalled.is(first)).toBe(true)
    expect(first.params["url"]).toBe("https://10.0.0.21")
    const check = step(plan, S.checkNew)
    expect(check._tag === "Check" && check.severity).toBe("blocking")
    expect(M.CheckNewBox.is(check)).toBe(true)
    expect(check.params).toMatchObject({
      old: "A",
      new: "N",
      newUrl: "https://10.0.0.21",
      newTls: { host: "10.0.0.21", port: 443 },
      oldTls: { host: "10.0.0.11", port: 443 }
    })
    expect(index(plan, S.checkNew)).toBeGreaterThan(index(plan, S.newInstall))
    // the physical deployment guide for a physical box, the virtual one otherwise
    expect(step(ok({ newKind: "physical" }), S.newInstall)._tag === "ManualGate").toBe(true)
    const gate = step(ok({ newKind: "physical" }), S.newInstall) as Plan.ManualGate
    expect(gate.instructions.join(" ")).toMatch(/rack it/)
    expect((step(ok(), S.newInstall) as Plan.ManualGate).instructions.join(" ")).toMatch(/hypervisor/)
  })

  it("MIGRATE-1 MIGRATE-6 MIGRATE-7: no API account is asked of the new box before the restore; the API reaches it only after, with the old box's account", () => {
    for (const plan of [
      ok({ newCurrent: "23.3.1" }),
      ok({ newCurrent: "24.1.3", restoredClientId: "N-old", siteClientId: "site" })
    ]) {
      const install = step(plan, S.newInstall) as Plan.ManualGate
      const text = install.instructions.join(" ")
      expect(text).not.toMatch(/API Configuration|client id and secret/)
      expect(text).toMatch(/Do NOT create an API account/)
      expect(text).toMatch(/Status > Basics/)
      // the person gives the version the factory box shows (no API reports it)
      expect(install.evidence.map((f) => f.name)).toEqual(["version"])
      const restoreAt = index(plan, S.restore)
      // every step before the restore that targets the new box is one of the account-free definitions
      const accountFree = [
        M.NewInstalled,
        M.CheckNewBox,
        M.NewBoxClock,
        M.CheckVersionsSeen,
        M.EulaAccepted,
        M.SoftwareStarted,
        M.NewSoftwareBack,
        M.NewSoftwareInstalled,
        M.DefaultCertificate,
        Steps.BundleFile
      ]
      for (const s of plan.steps.slice(0, restoreAt))
        if (s.target === "N")
          expect(
            accountFree.some((d) => d.is(s)),
            s.id
          ).toBe(true)
      // and none of them is a definition that reads an appliance through the vendor API by its "N" connection
      const apiDefs = [...CoreSteps.all, M.CheckNewAppliance, M.CheckVersions]
      for (const s of plan.steps.slice(0, restoreAt))
        if (apiDefs.some((d) => d.is(s))) expect(JSON.stringify(s.params), s.id).not.toMatch(/"N"/)
    }
  })

  it("MIGRATE-1: refuses a new box with the old one's id, unique IP or API URL, and an old box outside the site", () => {
    const s = site()
    expect(reason(build({}, s, newBox({ id: "A" })))).toBe("SameAppliance")
    expect(reason(build({}, s, newBox({ uniqueIp: "10.0.0.11" })))).toBe("SameAppliance")
    expect(reason(build({}, s, newBox({ apiUrl: "https://10.0.0.11/" })))).toBe("SameAppliance")
    const other = newBox({ id: "X", uniqueIp: "10.0.0.99", apiUrl: "https://10.0.0.99" })
    const r = MigrationPlan.planMigration(other, newBox(), s, { current: { product: "24.1.3" }, oldKind: "virtual" })
    expect(reason(r)).toBe("NotInSite")
    if (Either.isLeft(r)) expect(r.left.message).toMatch(/not in the site file/)
  })

  it("MIGRATE-6: the EULA gate comes before the install, which comes before the restore; the install is left out when the box already runs the target", () => {
    const plan = ok({ newCurrent: "23.3.1" })
    expect(index(plan, S.eula)).toBeLessThan(index(plan, S.software))
    expect(index(plan, S.software)).toBeLessThan(index(plan, S.softwareWait))
    expect(index(plan, S.softwareWait)).toBeLessThan(index(plan, S.restore))
    const wait = step(plan, S.softwareWait)
    expect(wait._tag).toBe("WaitFor")
    expect(M.NewSoftwareBack.is(wait)).toBe(true)
    expect(wait.params).toMatchObject({ appliance: "N", url: "https://10.0.0.21", target: "24.1.3" })
    const installed = step(plan, S.softwareInstalled)
    expect(M.NewSoftwareInstalled.is(installed)).toBe(true)
    expect(index(plan, S.softwareWait)).toBeLessThan(index(plan, S.softwareInstalled))
    expect(index(plan, S.softwareInstalled)).toBeLessThan(index(plan, S.restore))
    expect(step(plan, S.checkVersions).rules).toContain("MIGRATE-6")
    const same = ok({ newCurrent: "24.1.3" })
    expect(same.steps.some((s) => s.id === S.software)).toBe(false)
    expect(same.steps.some((s) => s.id === S.eula)).toBe(true)
    expect(same.notes.join(" ")).toMatch(/no software install/)
  })

  it("MIGRATE-6: refuses a target older than the old box, and a new box already newer than the target", () => {
    expect(reason(build({ target: "23.3.1" }))).toBe("TargetTooOld")
    expect(reason(build({ newCurrent: "25.1.1" }))).toBe("NewTooRecent")
    const bad = build({ target: "24.x" })
    expect(reason(bad)).toBe("BadVersion")
    // the one BadVersion of the planners, with a hint naming what to give
    expect(Either.isLeft(bad) && bad.left.reason).toBeInstanceOf(SingleUpgrade.BadVersion)
    expect(Either.isLeft(bad) && bad.left.message).toMatch(/^target: .*e\.g\. 24\.1\.3\.$/)
    expect(ok({ target: "24.3.2" }).targetVersion).toBe("24.3.2")
  })

  it("MIGRATE-2: the old box's backup is taken through the API and re-verified before the restore", () => {
    const plan = ok()
    const backup = step(plan, S.backup)
    expect(backup._tag).toBe("Action")
    expect(CoreSteps.DownloadBackup.is(backup)).toBe(true)
    expect(backup.params).toMatchObject({ appliance: "A", directory: "/var/backups/sra", passwordProtected: true })
    const verify = step(plan, S.backupVerify)
    expect(M.VerifyBackup.is(verify)).toBe(true)
    expect(verify.params["backupStep"]).toBe(S.backup)
    expect(index(plan, S.backupVerify)).toBeLessThan(index(plan, S.restore))
  })

  it("MIGRATE-3: the export gate is verified by the fingerprint of the exported bundle against what the old box serves", () => {
    const gate = step(ok(), S.exportCertificate) as Plan.ManualGate
    expect(gate.rules).toEqual(["MIGRATE-3"])
    expect(gate.target).toBe("A")
    expect(M.ExportedBundle.is(gate)).toBe(true)
    expect(gate.params).toMatchObject({
      path: "/var/backups/sra/certificates/support.example.test.pem",
      siteFqdn: "support.example.test",
      host: "10.0.0.11",
      port: 443
    })
    expect(gate.instructions.join(" ")).toMatch(/passphrase/)
  })

  it("MIGRATE-4: the import gate on the new box is checked by the certificates package", () => {
    const plan = ok()
    const gate = step(plan, S.importCertificate)
    expect(gate.rules).toEqual(["MIGRATE-4"])
    expect(gate.target).toBe("N")
    expect(Option.getOrThrow(Steps.BundleFile.paramsOf(gate)).operation).toBe("import")
    expect(index(plan, S.exportCertificate)).toBeLessThan(index(plan, S.importCertificate))
  })

  it("MIGRATE-5: the default-certificate gate names the site FQDN and probes the new box's address", () => {
    const plan = ok({ otherCertificates: [{ label: "factory", chainPem: "PEM" }] })
    const gate = step(plan, S.defaultCertificate) as Plan.ManualGate
    expect(gate.rules).toEqual(["MIGRATE-5"])
    expect(M.DefaultCertificate.is(gate)).toBe(true)
    expect(gate.params).toMatchObject({ siteFqdn: "support.example.test", host: "10.0.0.21", port: 443 })
    expect(gate.params["others"]).toEqual([{ label: "factory", chainPem: "PEM" }])
    expect(gate.instructions.join(" ")).toMatch(/no warnings/)
    expect(index(plan, S.importCertificate)).toBeLessThan(index(plan, S.defaultCertificate))
  })

  it("MIGRATE-6 MIGRATE-2 MIGRATE-3 MIGRATE-5: the guide's order: backup, certificates, default certificate, then the software, then the restore", () => {
    const plan = ok({ newCurrent: "23.3.1" })
    const order = [
      S.backup,
      S.exportCertificate,
      S.importCertificate,
      S.defaultCertificate,
      S.eula,
      S.software,
      S.restore
    ]
    const at = order.map((id) => index(plan, id))
    expect(at.every((i) => i >= 0)).toBe(true)
    expect([...at].sort((x, y) => x - y)).toEqual(at)
  })

  it("PREP-8 MIGRATE-6: the new box's clock is checked before its software is installed (it uses the download key)", () => {
    const plan = ok({ newCurrent: "23.3.1" })
    const clock = step(plan, S.checkNewClock)
    expect(M.NewBoxClock.is(clock)).toBe(true)
    expect(clock.target).toBe("N")
    expect(clock.params).toMatchObject({ appliance: "N", url: "https://10.0.0.21", maxSkewSeconds: 120 })
    expect(clock.rules).toEqual(["PREP-8", "MIGRATE-6"])
    expect(clock.notes.join(" ")).toMatch(/Status > Basics/)
    expect(index(plan, S.checkNewClock)).toBeLessThan(index(plan, S.software))
    expect(index(plan, S.checkOldClock)).toBeGreaterThanOrEqual(0)
  })

  it("MIGRATE-7: the initial admin / password is the /login one (guide l.425)", () => {
    const creds = step(ok(), S.credentials) as Plan.ManualGate
    expect(creds.instructions[0]).toMatch(/initial login on https:\/\/\S+\/login is admin \/ password \(guide l\.425\)/)
  })

  it("MIGRATE-7: restore gate, API comparison, then a blocking attestation that admin / password was changed (no API can tell)", () => {
    const plan = ok({ restoredClientId: "N-old-account" })
    const restore = step(plan, S.restore)
    expect(restore.params).toMatchObject({ restoredClient: "N-old-account", backupStep: S.backup })
    const compare = step(plan, S.compare)
    expect(compare._tag === "Check" && compare.severity).toBe("blocking")
    expect(compare.params["restoredClient"]).toBe("N-old-account")
    const creds = step(plan, S.credentials) as Plan.ManualGate
    expect(creds.instructions.join(" ")).toMatch(/No API can tell/)
    expect(creds.evidence.map((e) => e.name)).toContain("attestation")
    expect(plan.notes.join(" ")).toMatch(/admin \/ password/)
    expect(index(plan, S.restore)).toBeLessThan(index(plan, S.compare))
    expect(index(plan, S.credentials)).toBeLessThan(index(plan, S.cutover))
    // after the restore every check reads the new box with the old API account
    expect(step(plan, S.verifyNew).params["appliance"]).toBe("N-old-account")
  })

  it("MIGRATE-8: the cut-over goes through failover's TrafficSwitch gate (DNS by default), waits for the new box on the site address, then VERIFY-1/2", () => {
    const plan = ok({ siteClientId: "site" })
    const cut = step(plan, S.cutover) as Plan.ManualGate
    expect(cut.rules).toEqual(["MIGRATE-8", "SWITCH-2"])
    expect(cut.instructions.join(" ")).toMatch(/10\.0\.0\.11 \(A\) to 10\.0\.0\.21 \(N\)/)
    const pair = cut.params["pair"] as Record<string, Record<string, unknown>>
    expect(pair["primary"]!["id"]).toBe("A")
    expect(pair["backup"]!["id"]).toBe("N")
    expect(pair["siteClientId"]).toBe("site")
    const wait = step(plan, S.cutoverWait)
    expect(wait._tag).toBe("WaitFor")
    expect(M.SiteServedByNew.is(wait)).toBe(true)
    expect(index(plan, S.cutoverWait)).toBe(index(plan, S.cutover) + 1)
    expect(step(plan, S.verifyNew).rules).toContain("VERIFY-1")
    expect(step(plan, S.verifyConsole).rules).toContain("VERIFY-2")
    const nat = ok({}, site({ trafficSwitch: { method: "nat", rule: "fw 42" } }))
    expect(step(nat, S.cutover).rules).toEqual(["MIGRATE-8", "SWITCH-3"])
  })

  it("MIGRATE-9: after the confirmation, a virtual old box is deleted; a physical one is reset, powered off and returned", () => {
    const physical = ok({ oldKind: "physical" })
    const after = index(physical, S.confirmInProduction)
    expect(after).toBeGreaterThan(index(physical, S.verifyConsole))
    expect(index(physical, S.oldReset)).toBe(after + 1)
    expect(index(physical, S.oldPowerOff)).toBe(after + 2)
    expect(index(physical, S.oldReturn)).toBe(after + 3)
    expect(physical.steps.some((s) => s.id === S.oldDelete)).toBe(false)
    expect((step(physical, S.oldReset) as Plan.ManualGate).instructions.join(" ")).toMatch(/Status > Basics/)
    for (const id of [S.oldReset, S.oldPowerOff, S.oldReturn]) expect(step(physical, id)._tag).toBe("ManualGate")
    const virtual = ok({ oldKind: "virtual" })
    expect(virtual.steps.at(-1)!.id).toBe(S.oldDelete)
    expect(virtual.steps.some((s) => s.id === S.oldReset)).toBe(false)
  })

  it.effect("the plan round-trips through JSON and every step is tagged with its rules", () =>
    Effect.gen(function* () {
      const plan = ok({ newCurrent: "23.3.1" })
      const back = yield* Plan.fromJson(Plan.toJson(plan))
      expect(Plan.toJson(back)).toBe(Plan.toJson(plan))
      const rules = new Set(plan.steps.flatMap((s) => s.rules))
      for (let i = 1; i <= 9; i++) expect(rules.has(Plan.RuleId.make(`MIGRATE-${i}`))).toBe(true)
      expect(plan.kind).toBe("migration")
      expect(Plan.toMarkdown(plan)).toMatch(/No API can tell/)
    })
  )

  it("every step is built from a definition: exactly one recognises it and its params decode", () => {
    for (const plan of [ok({ newCurrent: "23.3.1" }), ok({ oldKind: "virtual", restoredClientId: "N-old" })])
      for (const step of plan.steps) {
        const defs = definitions.filter((d) => d.is(step))
        expect(defs, step.id).toHaveLength(1)
        expect(Option.isSome(defs[0]!.paramsOf(step)), step.id).toBe(true)
      }
  })

  it.effect("plans written before the step definitions still decode, and every step's params fit its definition", () =>
    Effect.gen(function* () {
      // planned by the code before the definitions (commit b6781f6) from these inputs
      const inputs: Record<string, readonly [Partial<MigrationPlan.Options>, ReturnType<typeof newBox>]> = {
        physical: [{}, newBox()],
        virtualInstall: [
          {
            current: { product: "24.1.3", build: "40516" },
            oldKind: "virtual",
            newKind: "physical",
            newCurrent: "23.3.1",
            target: "24.3.2",
            restoredClientId: "N-old",
            siteClientId: "site",
            pollIntervalSeconds: 10,
            otherCertificates: [{ label: "x", chainPem: "PEM" }],
            trustAnchorsPem: "ANCHORS"
          },
          newBox({ hostname: "new.example.test" })
        ]
      }
      const fixture = JSON.parse(
        fs.readFileSync(new URL("./fixtures/plans-before-definitions.json", import.meta.url), "utf8")
      ) as Record<string, unknown>
      expect(Object.keys(fixture)).toEqual(Object.keys(inputs))
      // what must not change: ids, kinds, handlers, targets, params, evidence names (the import gate now says it is one)
      const shape = (p: Plan.Plan) =>
        JSON.parse(
          JSON.stringify(
            p.steps.map((s) => ({
              id: s.id,
              tag: s._tag,
              handler: s.handler,
              target: s.target,
              params: Steps.BundleFile.is(s) ? { ...s.params, operation: undefined } : s.params,
              evidence: s._tag === "ManualGate" ? s.evidence.map((f) => f.name) : []
            }))
          )
        )
      for (const [name, [options, box]] of Object.entries(inputs)) {
        const before = yield* Plan.fromJson(JSON.stringify(fixture[name]))
        for (const step of before.steps) {
          const def = definitions.find((d) => d.is(step))
          expect(def, step.id).toBeDefined()
          expect(Either.isRight(def!.decodeParams(step)), step.id).toBe(true)
        }
        // since issue 19 the steps follow the guide's order and the new box's clock is checked; and the new box is
        // no longer read through the API before the restore (new definitions for these steps, the old ones are
        // kept for old journals: see MigrationHandlers.test): same steps otherwise
        const changed = new Set<string>([
          S.checkNewClock,
          S.newInstall,
          S.checkNew,
          S.checkVersions,
          S.softwareWait,
          S.softwareInstalled
        ])
        const byId = (steps: ReadonlyArray<{ readonly id: string }>) =>
          Object.fromEntries(steps.filter((s) => !changed.has(s.id)).map((s) => [s.id, s]))
        expect(byId(shape(ok(options, site(), box)))).toEqual(byId(shape(before)))
      }
    })
  )

  it("the gates ask for evidence with constraints: an existing export file, the console version the plan installs, the switch's reference", () => {
    const plan = ok({ newCurrent: "23.3.1", target: "24.3.2" })
    const gate = (id: string) => step(plan, id) as Plan.ManualGate
    const refused = (id: string, given: Record<string, string>) => {
      const r = GateEvidence.validate(id, gate(id).evidence, given)
      return Either.isLeft(r) ? r.left.problems.map((p) => p.field) : []
    }
    expect(gate(S.exportCertificate).evidence).toEqual(
      Steps.exportBundleGate({ path: "/p" }).evidence // the certificates package's fields, not a copy
    )
    expect(gate(S.exportCertificate).evidence.find((f) => f.name === "file")?.mustExist).toBe(true)
    expect(refused(S.verifyConsole, { consoleVersion: "24.1.3", session: "host" })).toEqual(["consoleVersion"])
    expect(refused(S.verifyConsole, { consoleVersion: "24.3.2", session: "host" })).toEqual([])
    expect(refused(S.credentials, { attestation: "changed" })).toEqual(["vault"])
    expect(gate(S.cutover).evidence.map((f) => f.name)).toEqual(["dnsChange"])
    const nat = ok({}, site({ trafficSwitch: { method: "nat", rule: "fw 42" } }))
    expect((step(nat, S.cutover) as Plan.ManualGate).evidence.map((f) => f.name)).toEqual(["natChange"])
  })
})
