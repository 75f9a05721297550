/**
 * The step handlers of the `migration/…` names used by `planMigration`.
 * They verify every manual gate through what can be read back: the vendor
 * API of both appliances (`ApplianceApi`), the load-balancer probe, a TLS
 * probe of what each box serves (certificates package), the run journal
 * (the backup file recorded by MIGRATE-2, the attestation given at the
 * credentials gate), failover's `TrafficSwitch` and, when one runs, the
 * `SiteProber` (its figures go into the cut-over evidence).
 *
 * What no API can tell is said in the evidence (`verifiableByApi: false`):
 * EULA acceptance, the change of the initial admin / password credentials
 * (a blocking attestation), the return shipment.
 *
 * @since 0.1.0
 */
import { ApplianceApi, type ApplianceError, Journal, StepHandler } from "@sra-upgrade/core"
import { Certificate, DefaultCertificate, Steps, TlsProbe } from "@sra-upgrade/certificates"
import { Pair, SiteProber, TrafficSwitch } from "@sra-upgrade/failover"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import * as fs from "node:fs/promises"
import { handlers as names } from "./MigrationPlan.js"

/**
 * Configuration of the handlers (secrets never travel in plan params).
 *
 * @since 0.1.0
 * @category models
 */
export interface Config {
  /** Passphrase of the exported certificate bundle: lets MIGRATE-3 check that the key matches the leaf. */
  readonly bundlePassphrase?: Redacted.Redacted<string> | undefined
}

type Params = Readonly<Record<string, unknown>>

const str = StepHandler.stringParam
const optStr = StepHandler.optionalStringParam
const num = (p: Params, k: string): number => {
  const v = p[k]
  if (typeof v !== "number") throw new Error(`step parameter "${k}" must be a number`)
  return v
}
const decodePair = Schema.decodeUnknownSync(Pair.Pair)

const describe = (e: unknown): string =>
  typeof e === "object" && e !== null && "message" in e ? String((e as { message: unknown }).message) : String(e)

const reasonOf = (e: ApplianceError.ApplianceError): string => e.reason._tag

/**
 * Whether an appliance's answer to the site's API account shows it is gone
 * (deleted, reset, powered off): any refusal or silence counts.
 *
 * @since 0.1.0
 * @category combinators
 */
export const isGone = (e: ApplianceError.ApplianceError): boolean =>
  ["Unauthorized", "Forbidden", "Transport", "Timeout", "NotFound", "TlsMismatch"].includes(e.reason._tag)

/**
 * The handlers, keyed by name, capturing `ApplianceApi`, `Journal`,
 * `TrafficSwitch` and, when provided, `SiteProber`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  config: Config = {}
): Effect.Effect<
  Readonly<Record<string, StepHandler.Handler>>,
  never,
  ApplianceApi.ApplianceApi | Journal.Journal | TrafficSwitch.TrafficSwitch
> =>
  Effect.gen(function* () {
    const api = yield* ApplianceApi.ApplianceApi
    const journal = yield* Journal.Journal
    const traffic = yield* TrafficSwitch.TrafficSwitch
    const prober = yield* Effect.serviceOption(SiteProber.SiteProber)
    const certificateHandlers = Steps.make({ bundlePassphrase: config.bundlePassphrase })

    const client = (id: string) => api.appliance(id)
    const health = (id: string) => Effect.flatMap(client(id), (c) => c.health)
    const records = (runId: string) =>
      journal.read(runId).pipe(
        Effect.map((c) => c.records),
        Effect.mapError((e) => StepHandler.fail(`Cannot read the run journal: ${e.message}`))
      )
    /** Evidence of the last success of a step in this run (succeeded, or verified effective on resume). */
    const evidenceOf = (runId: string, stepId: string) =>
      Effect.map(records(runId), (rs) => {
        let found: Readonly<Record<string, unknown>> | undefined
        for (const { event } of rs) {
          if (event._tag === "StepSucceeded" && event.stepId === stepId) found = event.evidence
          if (event._tag === "StepVerified" && event.stepId === stepId && event.effective) found = event.evidence
        }
        return found
      })
    const proberFigures = Option.match(prober, {
      onNone: () => Effect.succeed<Record<string, unknown>>({ prober: "none: provide SiteProber.layer to measure" }),
      onSome: (p) =>
        Effect.map(p.snapshot, (s) => ({
          prober: {
            url: s.url,
            intervalMillis: s.intervalMillis,
            sent: s.sent,
            failed: s.failed,
            longestOutageMillis: s.longestOutageMillis,
            unavailableMillis: s.unavailableMillis,
            outages: s.outages.length
          }
        }))
    })

    const countOf = <A, E>(s: Stream.Stream<A, E>) => Stream.runCount(s)
    /** What the box at the step's `host`/`port` serves for `siteFqdn`; `failure` words a failed probe. */
    const probeServed = (p: Params, siteFqdn: string, failure: (message: string) => string) =>
      TlsProbe.probeTls({ host: str(p, "host"), port: num(p, "port"), servername: siteFqdn }).pipe(
        Effect.mapError((e) => StepHandler.fail(failure(e.message)))
      )

    // ------------------------------------------------------------ MIGRATE-1
    const newInstalled: StepHandler.Handler = {
      run: (ctx) =>
        Effect.gen(function* () {
          const p = ctx.step.params
          const url = str(p, "url")
          const r = yield* Effect.either(api.probe({ url }))
          if (Either.isLeft(r))
            return yield* StepHandler.fail(
              `The new appliance does not answer on its own address ${url} (${r.left.message}): finish its network setup per the deployment guide (MIGRATE-1), then approve again.`
            )
          const evidence = { url, probeStatus: r.right.status, probeBody: r.right.body.slice(0, 200) }
          if (!r.right.ok)
            return yield* StepHandler.fail(
              `The new appliance answers HTTP ${r.right.status} to the load-balancer probe on ${url}: it is not healthy yet; check /appliance > Status (MIGRATE-1).`,
              evidence
            )
          return evidence
        })
    }

    const checkNewAppliance: StepHandler.Handler = {
      run: (ctx) =>
        Effect.gen(function* () {
          const p = ctx.step.params
          const oldId = str(p, "old")
          const newId = str(p, "new")
          const oldH = yield* health(oldId)
          const newR = yield* Effect.either(health(newId))
          if (Either.isLeft(newR))
            return yield* StepHandler.fail(
              `The new appliance ${newId} does not answer through the API (${newR.left.message}): create its API account (MIGRATE-1) and give it to this run's connection.`
            )
          const newH = newR.right
          const probe = yield* Effect.either(api.probe({ url: str(p, "newUrl") }))
          const evidence: Record<string, unknown> = {
            oldGuid: oldH.applianceGuid,
            newGuid: newH.applianceGuid,
            oldVersion: oldH.version,
            newVersion: newH.version,
            newProbe: Either.isRight(probe) ? probe.right.status : probe.left.message
          }
          if (oldH.applianceGuid === newH.applianceGuid)
            return yield* StepHandler.fail(
              `${oldId} and ${newId} report the same appliance GUID ${newH.applianceGuid}: the "new" connection reaches the old box. Point it at the new appliance's own address.`,
              evidence
            )
          if (Either.isLeft(probe) || !probe.right.ok)
            return yield* StepHandler.fail(
              `The new appliance does not pass the load-balancer probe on its own address ${str(p, "newUrl")}: fix its network setup (MIGRATE-1).`,
              evidence
            )
          const siteClient = optStr(p, "siteClient")
          if (siteClient !== undefined) {
            const s = yield* Effect.either(health(siteClient))
            const servedBy = Either.isRight(s) ? s.right.applianceGuid : undefined
            evidence["siteServedBy"] =
              servedBy === oldH.applianceGuid ? oldId : servedBy === newH.applianceGuid ? newId : (servedBy ?? "nobody")
            if (servedBy === newH.applianceGuid)
              return yield* StepHandler.fail(
                `The site address is already answered by the new appliance ${newId}: it must keep reaching ${oldId} until the cut-over (MIGRATE-8). Give ${newId} its own IP, not the site's.`,
                evidence
              )
            if (servedBy !== oldH.applianceGuid)
              return yield* StepHandler.fail(
                `The site address is not answered by ${oldId} (${Either.isLeft(s) ? s.left.message : `GUID ${servedBy}`}): the migration starts from a site served by the old appliance.`,
                evidence
              )
          } else {
            evidence["siteServedBy"] = "not checked: no client on the site address (options.siteClientId)"
          }
          return evidence
        })
    }

    const checkVersions: StepHandler.Handler = {
      run: (ctx) =>
        Effect.gen(function* () {
          const p = ctx.step.params
          const oldH = yield* health(str(p, "old"))
          const newH = yield* health(str(p, "new"))
          const expected = str(p, "oldVersion")
          const target = str(p, "target")
          const evidence = { oldVersion: oldH.version, newVersion: newH.version, target }
          if (oldH.version !== expected)
            return yield* StepHandler.fail(
              `${str(p, "old")} runs ${oldH.version}, not ${expected} as planned: plan the migration again from its current version.`,
              evidence
            )
          const cmp = compareVersions(newH.version, target)
          if (cmp > 0)
            return yield* StepHandler.fail(
              `The new appliance already runs ${newH.version}, newer than ${target}: upgrade ${str(p, "old")} to ${newH.version} first, then plan again (a backup must restore onto the same version, MIGRATE-6).`,
              evidence
            )
          if (cmp < 0 && p["installPlanned"] === false)
            return yield* StepHandler.fail(
              `MIGRATE-6: the new appliance runs ${newH.version}, older than ${target}, and this plan installs nothing: a backup of ${expected} will not restore onto it. Plan again with newCurrent: ${newH.version} so the install steps are included.`,
              evidence
            )
          return { ...evidence, installNeeded: cmp < 0 }
        })
    }

    // ------------------------------------------------------------ MIGRATE-6
    const eulaAccepted: StepHandler.Handler = {
      run: (ctx) =>
        Effect.map(Effect.either(health(str(ctx.step.params, "appliance"))), (h) => ({
          confirmedByOperator: true,
          verifiableByApi: false,
          note: "No API reports the EULA: the gate's answer is the record.",
          ...(Either.isRight(h) ? { version: h.right.version, healthy: h.right.healthy } : { answering: false })
        }))
    }

    const softwareStarted: StepHandler.Handler = {
      run: (ctx) =>
        Effect.map(Effect.either(health(str(ctx.step.params, "appliance"))), (h) => ({
          target: str(ctx.step.params, "target"),
          ...(Either.isRight(h)
            ? { version: h.right.version, healthy: h.right.healthy }
            : { answering: false, observed: h.left.message })
        }))
    }

    // ------------------------------------------------------------ MIGRATE-2
    const verifyBackup: StepHandler.Handler = {
      run: (ctx) =>
        Effect.gen(function* () {
          const p = ctx.step.params
          const backupStep = str(p, "backupStep")
          const e = yield* evidenceOf(ctx.runId, backupStep)
          if (e === undefined || typeof e["path"] !== "string" || typeof e["sha256"] !== "string")
            return yield* StepHandler.fail(
              `No backup recorded by step ${backupStep} in this run: run the backup step again (MIGRATE-2).`
            )
          const path = e["path"]
          const bytes = yield* Effect.tryPromise({
            try: () => fs.readFile(path),
            catch: (x) =>
              StepHandler.fail(
                `The backup file ${path} cannot be read (${describe(x)}): it must stay in a safe place until the new appliance is restored. Take a new backup (MIGRATE-2).`
              )
          })
          const sha256 = createHash("sha256").update(bytes).digest("hex")
          const evidence = {
            path,
            bytes: bytes.byteLength,
            sha256,
            recordedSha256: e["sha256"],
            version: e["version"] ?? null,
            passwordProtected: e["passwordProtected"] ?? null
          }
          if (bytes.byteLength === 0 || sha256 !== e["sha256"] || bytes.byteLength !== e["bytes"])
            return yield* StepHandler.fail(
              `The backup file ${path} changed since it was downloaded (SHA-256 ${sha256}, recorded ${String(e["sha256"])}): take a new backup (MIGRATE-2).`,
              evidence
            )
          return evidence
        })
    }

    // ------------------------------------------------------------ MIGRATE-3
    const exportedBundle: StepHandler.Handler = {
      run: (ctx) =>
        Effect.gen(function* () {
          const p = ctx.step.params
          const siteFqdn = str(p, "siteFqdn")
          const served = yield* probeServed(
            p,
            siteFqdn,
            (message) =>
              `Cannot read the certificate the old appliance serves (${message}): the exported file cannot be compared with it.`
          )
          const bundleFile = certificateHandlers[Steps.handlers.bundleFile]!
          const step = { ...ctx.step, params: { path: str(p, "path"), siteFqdn, leafSha256: served.leafSha256 } }
          const evidence = yield* bundleFile.run!({ ...ctx, step: step as typeof ctx.step })
          return { ...evidence, servedByOldSha256: served.leafSha256 }
        })
    }

    // ------------------------------------------------------------ MIGRATE-5
    const defaultCertificate: StepHandler.Handler = {
      run: (ctx) =>
        Effect.gen(function* () {
          const p = ctx.step.params
          const siteFqdn = str(p, "siteFqdn")
          const path = str(p, "path")
          const text = yield* Effect.tryPromise({
            try: () => fs.readFile(path, "latin1"),
            catch: () => StepHandler.fail(`The bundle ${path} cannot be read: export it again (MIGRATE-3).`)
          })
          const certError = (e: { readonly message: string }) => StepHandler.fail(e.message)
          const chain = yield* Certificate.parsePem(text).pipe(Effect.mapError(certError))
          const others = Array.isArray(p["others"]) ? (p["others"] as Array<{ label: string; chainPem: string }>) : []
          const candidates: Array<DefaultCertificate.Candidate> = [{ label: `exported bundle ${path}`, chain }]
          for (const o of others)
            candidates.push({
              label: o.label,
              chain: yield* Certificate.parsePem(o.chainPem).pipe(Effect.mapError(certError))
            })
          const anchorsPem = optStr(p, "trustAnchorsPem")
          const trustAnchors =
            anchorsPem === undefined
              ? undefined
              : yield* Certificate.parsePem(anchorsPem).pipe(Effect.mapError(certError))
          const choice = yield* Effect.either(
            DefaultCertificate.chooseDefault(candidates, siteFqdn, trustAnchors === undefined ? {} : { trustAnchors })
          )
          if (Either.isLeft(choice))
            return yield* StepHandler.fail(
              `MIGRATE-5: no certificate can be made default without warnings — ${choice.left.message} Warnings block: do not select it; escalate to vendor support.`,
              { candidates: candidates.map((c) => c.label) }
            )
          const chosen = choice.right.chosen
          const chosenSha = chosen.report.leaf?.sha256
          const served = yield* probeServed(
            p,
            siteFqdn,
            (message) => `Cannot probe what the new appliance serves (${message}): check its address and retry.`
          )
          const findings = TlsProbe.compare(served.chain, { chain: chosen.candidate.chain })
          const evidence = {
            chosen: chosen.candidate.label,
            chosenLeafSha256: chosenSha ?? null,
            issuedToSite: chosen.issuedToSite,
            servedLeafSha256: served.leafSha256,
            servedChain: served.chain.map((c) => c.sha256),
            findings: findings.map((f) => ({ code: f.code, severity: f.severity, message: f.message }))
          }
          if (served.leafSha256 !== chosenSha)
            return yield* StepHandler.fail(
              `The new appliance serves ${served.chain[0]?.label ?? "no certificate"} for ${siteFqdn}, not the chosen "${chosen.candidate.label}": import it and select it as default on /appliance > Security > Certificates (MIGRATE-4, MIGRATE-5).`,
              evidence
            )
          if (findings.length > 0)
            return yield* StepHandler.fail(
              `The new appliance serves the chosen certificate, but: ${findings.map((f) => f.message).join(" ")}`,
              evidence
            )
          return evidence
        })
    }

    // ------------------------------------------------------------ MIGRATE-7
    const restored: StepHandler.Handler = {
      run: (ctx) =>
        Effect.gen(function* () {
          const p = ctx.step.params
          const oldId = str(p, "old")
          const restoredId = str(p, "restoredClient")
          const backup = yield* evidenceOf(ctx.runId, str(p, "backupStep"))
          const oldH = yield* health(oldId)
          const c = yield* client(restoredId)
          const info = yield* Effect.either(c.apiInfo)
          if (Either.isLeft(info))
            return yield* StepHandler.fail(
              `The old appliance's API account does not work on the new appliance (${info.left.message}): the settings are not restored yet. Restore the backup on the new /login (Management > Software > Restore settings) and approve again.`,
              { restoredClient: restoredId, reason: reasonOf(info.left) }
            )
          const h = yield* c.health
          const evidence = {
            newGuid: h.applianceGuid,
            oldGuid: oldH.applianceGuid,
            version: h.version,
            oldVersion: oldH.version,
            healthy: h.healthy,
            backup: backup === undefined ? null : (backup["path"] ?? null)
          }
          if (h.applianceGuid === oldH.applianceGuid)
            return yield* StepHandler.fail(
              `The connection "${restoredId}" reaches the old appliance (same GUID): point it at the new appliance's own address with the old API account.`,
              evidence
            )
          if (!h.healthy)
            return yield* StepHandler.fail(
              `The new appliance answers unhealthy after the restore: ${h.errorMessage ?? "no detail"}. Check /appliance > Status.`,
              evidence
            )
          if (h.version !== oldH.version)
            return yield* StepHandler.fail(
              `The new appliance runs ${h.version} and the old one ${oldH.version}: restore onto the same version (MIGRATE-6).`,
              evidence
            )
          return evidence
        })
    }

    const compareAppliances: StepHandler.Handler = {
      run: (ctx) =>
        Effect.gen(function* () {
          const p = ctx.step.params
          const oldC = yield* client(str(p, "old"))
          const newC = yield* client(str(p, "restoredClient"))
          const [oldH, newH] = yield* Effect.all([oldC.health, newC.health])
          const [oldInfo, newInfo] = yield* Effect.all([oldC.apiInfo, newC.apiInfo])
          const [oldJc, newJc] = yield* Effect.all([countOf(oldC.jumpClients()), countOf(newC.jumpClients())])
          const [oldJp, newJp] = yield* Effect.all([countOf(oldC.jumpoints()), countOf(newC.jumpoints())])
          const perms = (i: typeof oldInfo) => JSON.stringify(Object.entries(i.permissions).sort())
          const problems: Array<string> = []
          if (oldH.version !== newH.version) problems.push(`product version ${newH.version} ≠ ${oldH.version}`)
          if (oldJc !== newJc) problems.push(`${newJc} Jump Client(s) ≠ ${oldJc}`)
          if (oldJp !== newJp) problems.push(`${newJp} Jumpoint(s) ≠ ${oldJp}`)
          if (perms(oldInfo) !== perms(newInfo)) problems.push("the API account's permissions differ")
          if (oldInfo.product !== newInfo.product) problems.push(`product ${newInfo.product} ≠ ${oldInfo.product}`)
          const summary = (h: typeof oldH, jumpClients: number, jumpoints: number, info: typeof oldInfo) => ({
            version: h.version,
            jumpClients: Number(jumpClients),
            jumpoints: Number(jumpoints),
            product: info.product
          })
          const evidence = {
            old: summary(oldH, oldJc, oldJp, oldInfo),
            new: summary(newH, newJc, newJp, newInfo),
            apiAccountWorks: true
          }
          if (problems.length > 0)
            return yield* StepHandler.fail(
              `The new appliance does not answer like the old one: ${problems.join("; ")}. Restore the latest backup again (MIGRATE-7) before the cut-over.`,
              evidence
            )
          return evidence
        })
    }

    const credentialsChanged: StepHandler.Handler = {
      run: (ctx) =>
        Effect.gen(function* () {
          const rs = yield* records(ctx.runId)
          let answer: Readonly<Record<string, string>> | undefined
          let by = ""
          for (const { event } of rs)
            if (
              event._tag === "GateAnswered" &&
              event.stepId === ctx.step.id &&
              event.purpose === "gate" &&
              event.answer._tag === "Approved"
            ) {
              answer = event.answer.evidence
              by = event.answer.by
            }
          const attestation = (answer?.["attestation"] ?? "").trim().toLowerCase()
          const evidence = {
            attestedBy: by,
            attestation,
            vault: answer?.["vault"] ?? null,
            verifiableByApi: false,
            note: "No API can tell whether the initial admin / password login was changed: this attestation is the check."
          }
          if (attestation !== "changed")
            return yield* StepHandler.fail(
              'MIGRATE-7: the change of the initial admin / password credentials was not attested (evidence "attestation" must be "changed"). Change the admin password on the new appliance, then approve the gate again.',
              evidence
            )
          return evidence
        })
    }

    // ------------------------------------------------------------ MIGRATE-8
    const pairOf = (p: Params) => decodePair(p["pair"])
    const observation = (c: TrafficSwitch.SwitchCheck) => ({
      servedBy: c.observation.servedBy ?? null,
      siteProbe: c.observation.siteProbe,
      members: c.observation.members.map((m) => ({
        id: m.id,
        reachable: m.reachable,
        version: m.version ?? null,
        healthy: m.healthy ?? null
      })),
      problems: [...c.problems]
    })

    const cutover: StepHandler.Handler = {
      run: (ctx) =>
        Effect.gen(function* () {
          const pair = pairOf(ctx.step.params)
          const applied = yield* traffic.apply(pair, pair.primary, pair.backup)
          const o = yield* traffic.observe(pair)
          return {
            method: pair.traffic.method,
            automated: applied.automated,
            servedBy: o.servedBy ?? null,
            siteProbe: o.siteProbe,
            ...(yield* proberFigures)
          }
        })
    }

    const siteServedByNew: StepHandler.Handler = {
      poll: (ctx) =>
        Effect.gen(function* () {
          const pair = pairOf(ctx.step.params)
          const c = yield* traffic.verify(pair, pair.primary, pair.backup)
          const observed = observation(c)
          return c.holds
            ? { holds: true, observed, evidence: { ...observed, ...(yield* proberFigures) } }
            : { holds: false, observed }
        })
    }

    // ------------------------------------------------------------ MIGRATE-9
    const confirmInProduction: StepHandler.Handler = {
      run: (ctx) =>
        Effect.gen(function* () {
          const pair = pairOf(ctx.step.params)
          const c = yield* traffic.verify(pair, pair.primary, pair.backup)
          const evidence = { ...observation(c), ...(yield* proberFigures) }
          if (!c.holds)
            return yield* StepHandler.fail(
              `The site is not served by ${pair.backup.id} only: ${c.problems.join(" ")} Do not decommission ${pair.primary.id}.`,
              evidence
            )
          return evidence
        })
    }

    /** The old box no longer answers the site's API account; the new one still does. */
    const oldNoLongerAnswers =
      (what: string): NonNullable<StepHandler.Handler["run"]> =>
      (ctx) =>
        Effect.gen(function* () {
          const p = ctx.step.params
          const oldId = str(p, "old")
          const r = yield* Effect.either(Effect.flatMap(client(oldId), (c) => c.apiInfo))
          const n = yield* Effect.either(health(str(p, "new")))
          const evidence = {
            oldAnswer: Either.isLeft(r) ? reasonOf(r.left) : "answers",
            newHealthy: Either.isRight(n) ? n.right.healthy : false
          }
          if (Either.isRight(r))
            return yield* StepHandler.fail(
              `${oldId} still answers the site's API account: it was not ${what}. Do it, then approve again (MIGRATE-9).`,
              evidence
            )
          if (!isGone(r.left))
            return yield* StepHandler.fail(
              `${oldId} answers with an unexpected error (${r.left.message}): check it by hand.`,
              evidence
            )
          if (Either.isLeft(n) || !n.right.healthy)
            return yield* StepHandler.fail(
              `The new appliance does not answer healthy (${Either.isLeft(n) ? n.left.message : n.right.errorMessage}): check it before going on.`,
              evidence
            )
          return evidence
        })

    const oldPoweredOff: StepHandler.Handler = {
      run: (ctx) =>
        Effect.gen(function* () {
          const url = str(ctx.step.params, "oldUrl")
          const r = yield* Effect.either(api.probe({ url, timeoutMillis: 5_000 }))
          const evidence = { url, probe: Either.isLeft(r) ? reasonOf(r.left) : `HTTP ${r.right.status}` }
          if (Either.isRight(r))
            return yield* StepHandler.fail(
              `${str(ctx.step.params, "old")} still answers on ${url} (HTTP ${r.right.status}): power it off, then approve again.`,
              evidence
            )
          return evidence
        })
    }

    const handlers: Record<string, StepHandler.Handler> = {
      [names.newInstalled]: newInstalled,
      [names.checkNewAppliance]: checkNewAppliance,
      [names.checkVersions]: checkVersions,
      [names.eulaAccepted]: eulaAccepted,
      [names.softwareStarted]: softwareStarted,
      [names.verifyBackup]: verifyBackup,
      [names.exportedBundle]: exportedBundle,
      [names.defaultCertificate]: defaultCertificate,
      [names.restored]: restored,
      [names.compareAppliances]: compareAppliances,
      [names.credentialsChanged]: credentialsChanged,
      [names.cutover]: cutover,
      [names.siteServedByNew]: siteServedByNew,
      [names.confirmInProduction]: confirmInProduction,
      [names.oldDeleted]: { run: oldNoLongerAnswers("deleted") },
      [names.oldReset]: { run: oldNoLongerAnswers("reset to factory defaults") },
      [names.oldPoweredOff]: oldPoweredOff,
      [names.returnShipped]: {
        run: () =>
          Effect.succeed({
            confirmedByOperator: true,
            verifiableByApi: false,
            note: "No API follows a parcel: the tracking number given at the gate is the record."
          })
      }
    }
    return Object.fromEntries(Object.entries(handlers).map(([name, h]) => [name, StepHandler.guardParams(h)]))
  })

/** Compare two dotted product versions numerically (`24.3.2` < `25.1.1`). */
const compareVersions = (a: string, b: string): number => {
  const pa = a.split(/[.-]/).map((x) => Number.parseInt(x, 10))
  const pb = b.split(/[.-]/).map((x) => Number.parseInt(x, 10))
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0
    const y = pb[i] ?? 0
    if (Number.isNaN(x) || Number.isNaN(y)) return a === b ? 0 : a < b ? -1 : 1
    if (x !== y) return x < y ? -1 : 1
  }
  return 0
}

/**
 * The registry layer of the `migration/…` handlers. Merge it with core's
 * (`CoreHandlers.layer`) and the certificates' (`Steps.layer`): the plan
 * also uses `core/…` and `certificates.…` handlers.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  config: Config = {}
): Layer.Layer<
  StepHandler.StepHandlers,
  never,
  ApplianceApi.ApplianceApi | Journal.Journal | TrafficSwitch.TrafficSwitch
> => StepHandler.layerEffect(make(config))
