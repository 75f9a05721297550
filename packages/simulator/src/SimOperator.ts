/**
 * The simulator operator: an `Operator` that performs the manual gates of
 * every plan of the SDK — single appliance (`core/…`), failover pair
 * (`failover/…`, see `PairOperator`) and hardware migration (`migration/…`,
 * see `MigrationOperator`) — through the simulator's control API
 * (`/__sim/`), then approves with the evidence it read back. A whole run is
 * automatic against the simulator, while the same plan asks a person on a
 * real appliance. Gates are recognised by their step definitions
 * (`CoreSteps`, `FailoverSteps`, `MigrationSteps`, the certificates
 * package's `Steps`), whose decoded params the players read.
 *
 * What each `core/…` gate does here:
 * - `core/confirm-install-started`: automatic method → `POST
 *   /appliances/{id}/updates/{pkg}/install`; manual method → upload with the
 *   download key, then install. Idempotent: nothing is started again when
 *   the appliance is already installing, rebooting, or has the package;
 * - `core/confirm-download-key`: `POST /appliances/{id}/download-key`;
 * - `core/confirm-certificate-export`: exports the default certificate with
 *   its private key into a folder; evidence = path + SHA-256 fingerprint;
 * - `core/confirm-task` with task `limit-concurrent-upgrades`: `PUT
 *   /fleet/settings` with the recommended concurrency (CLIENT-6);
 * - `core/confirm-base-version`, `core/confirm-console-check`,
 *   `core/record-offered-updates`: read the simulator's state as a person
 *   would read the web pages;
 * - anything else (and `confirm-effect` questions): approve, each evidence
 *   field saying it was simulated.
 *
 * A control call the simulator refuses rejects the gate with its message.
 *
 * @since 0.1.0
 */
import { CoreSteps, Operator } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import * as ControlClient from "./internal/controlClient.js"
import * as MigrationGates from "./internal/migrationGates.js"
import * as PairOperator from "./PairOperator.js"

/**
 * Options of the simulator operator.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Base of the control API, e.g. `http://127.0.0.1:40123/__sim` (`SimulatorHandle.controlUrl`). */
  readonly controlUrl: string
  /** Folder for certificate exports; default: the gate's `exportDirectory` parameter. */
  readonly exportDirectory?: string | undefined
  /** Passphrase protecting exported private keys (default `simulator-export-passphrase`). */
  readonly exportPassphrase?: string | undefined
  /** Backup password of the site, used by the migration's restore (MIGRATE-7). */
  readonly backupPassword?: string | undefined
  /**
   * Never called any more: the migration no longer creates an API account on
   * the new box (a factory box has none until the restore, MIGRATE-1/7; the
   * simulator refuses one). Kept so that callers still compile.
   *
   * @deprecated The run reaches the new box with the old box's API account after the restore.
   */
  readonly onAccountCreated?:
    | ((
        applianceId: string,
        credentials: { readonly clientId: string; readonly clientSecret: Redacted.Redacted<string> }
      ) => void)
    | undefined
  /**
   * Real milliseconds between disabling the shared IP on the old appliance
   * and enabling it on the new one at a failover switch (default 0).
   */
  readonly sharedIpPauseMillis?: number | undefined
  /** Real milliseconds between two looks at a data sync that was already running at "Sync now" (default 200). */
  readonly syncPollMillis?: number | undefined
  /** Real milliseconds to wait for such a sync before rejecting the gate (default 30 minutes). */
  readonly syncWaitMillis?: number | undefined
  /** Name recorded as the approver (default `simulator-operator`). */
  readonly by?: string | undefined
  /** Called with every request before it is answered (tests, demos). */
  readonly onRequest?: ((request: Operator.GateRequest) => void) | undefined
}

const { ControlFailure } = ControlClient
type Json = ControlClient.Json

/**
 * The operator as a value (for composing with another operator).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): (typeof Operator.Operator)["Service"] => {
  const by = options.by ?? "simulator-operator"
  const client = ControlClient.make(options.controlUrl)
  const { call } = client
  const downloadKeys = new Map<string, string>()
  const failover = PairOperator.play(client, {
    sharedIpPauseMillis: options.sharedIpPauseMillis,
    syncPollMillis: options.syncPollMillis,
    syncWaitMillis: options.syncWaitMillis
  })
  const migration = MigrationGates.play(client, {
    by,
    exportPassphrase: options.exportPassphrase ?? "simulator-export-passphrase",
    backupPassword: options.backupPassword
  })

  const appliance = (id: string) => Effect.map(call("GET", `/appliances/${encodeURIComponent(id)}`), (v) => v as Json)

  const ensureKey = (id: string) =>
    downloadKeys.has(id)
      ? Effect.succeed(downloadKeys.get(id)!)
      : Effect.map(call("POST", `/appliances/${encodeURIComponent(id)}/download-key`, {}), (v) => {
          const key = String((v as Json)["downloadKey"])
          downloadKeys.set(id, key)
          return key
        })

  const install = (id: string, pkg: string, method: string) =>
    Effect.gen(function* () {
      const a = yield* appliance(id)
      const lifecycle = String(a["lifecycle"])
      const has = (k: string) => Array.isArray(a[k]) && (a[k] as Array<unknown>).includes(pkg)
      if (lifecycle !== "Running" || has("installed") || has("downloaded"))
        return { package: pkg, alreadyStarted: "true", lifecycle }
      const seg = encodeURIComponent(id)
      if (method === "manual") {
        const key = yield* ensureKey(id)
        yield* call("POST", `/appliances/${seg}/updates/upload`, { packageId: pkg, downloadKey: key })
      }
      const r = (yield* call("POST", `/appliances/${seg}/updates/${encodeURIComponent(pkg)}/install`, {})) as Json
      return { package: pkg, startedBy: "simulator control API", durationSeconds: String(r["durationSeconds"]) }
    })

  const firstAvailable = (id: string) =>
    Effect.map(call("GET", `/appliances/${encodeURIComponent(id)}/updates`), (v) => {
      const list = ((v as Json)["available"] ?? []) as Array<Json>
      return list.map((p) => String(p["id"]))
    })

  const core = (request: Operator.GateRequest): Effect.Effect<Record<string, string>, ControlClient.ControlFailure> => {
    const step = request.step
    const installing = CoreSteps.ConfirmInstallStarted.paramsOf(step)
    if (Option.isSome(installing)) {
      const p = installing.value
      const method = p.method ?? "automatic"
      if (p.offered === "gate")
        return Effect.flatMap(firstAvailable(p.appliance), (ids) =>
          ids[0] === undefined
            ? Effect.fail(new ControlFailure("nothing on offer"))
            : install(p.appliance, ids[0], method)
        )
      return install(p.appliance, p.package, method)
    }
    const key = CoreSteps.ConfirmDownloadKey.paramsOf(step)
    if (Option.isSome(key))
      return Effect.gen(function* () {
        downloadKeys.delete(key.value.appliance)
        const downloadKey = yield* ensureKey(key.value.appliance)
        return { files: key.value.packages.join(", ") || "none", downloadKey }
      })
    const exporting = CoreSteps.ConfirmCertificateExport.paramsOf(step)
    if (Option.isSome(exporting))
      return Effect.gen(function* () {
        const id = exporting.value.appliance
        const certs = (yield* call("GET", `/appliances/${encodeURIComponent(id)}/certificates`)) as Array<Json>
        const cert = certs.find((c) => c["isDefault"] === true && c["hasPrivateKey"] === true) ?? certs[0]
        if (cert === undefined) return yield* Effect.fail(new ControlFailure("the appliance has no certificate"))
        const exported = (yield* call(
          "POST",
          `/appliances/${encodeURIComponent(id)}/certificates/${encodeURIComponent(String(cert["id"]))}/export`,
          { includePrivateKey: true, passphrase: options.exportPassphrase ?? "simulator-export-passphrase" }
        )) as Json
        const dir = options.exportDirectory ?? exporting.value.exportDirectory
        const path = join(dir, `${id}-${String(cert["id"]).replace(/[^A-Za-z0-9._-]/g, "-")}.pem`)
        yield* client.io(`cannot write ${path}`, async () => {
          await mkdir(dir, { recursive: true })
          await writeFile(path, `${String(exported["certificate"])}\n${String(exported["privateKey"] ?? "")}\n`, {
            mode: 0o600
          })
        })
        return { path, fingerprint: String(cert["fingerprint256"]) }
      })
    const task = CoreSteps.ConfirmTask.paramsOf(step)
    if (Option.isSome(task)) {
      if (task.value.task === "limit-concurrent-upgrades") {
        const n = task.value.recommended ?? 1
        return Effect.map(call("PUT", "/fleet/settings", { maxConcurrentUpgrades: n }), () => ({
          maxConcurrentUpgrades: String(n)
        }))
      }
      return Effect.succeed({ done: `simulated: ${task.value.task}` })
    }
    const base = CoreSteps.ConfirmBaseVersion.paramsOf(step)
    if (Option.isSome(base))
      return Effect.flatMap(appliance(base.value.appliance), (a) =>
        String(a["baseVersion"]) === base.value.baseVersion
          ? Effect.succeed({ baseVersion: String(a["baseVersion"]) })
          : Effect.fail(
              new ControlFailure(
                `/appliance > Status shows base ${String(a["baseVersion"])}, not ${base.value.baseVersion}`
              )
            )
      )
    const console = CoreSteps.ConfirmConsoleCheck.paramsOf(step)
    if (Option.isSome(console))
      return Effect.map(appliance(console.value.appliance), (a) => ({
        consoleVersion: String(a["version"]),
        session: "simulated session (the simulator has no access console)"
      }))
    const offered = CoreSteps.RecordOfferedUpdates.paramsOf(step)
    if (Option.isSome(offered))
      return Effect.map(firstAvailable(offered.value.appliance), (ids) => ({ offered: ids.join(", ") || "none" }))
    return Effect.succeed({})
  }

  return {
    answer: (request) =>
      Effect.gen(function* () {
        options.onRequest?.(request)
        if (request.purpose === "confirm-effect")
          return new Operator.Approved({
            by,
            evidence: {},
            note: "simulator: the step's effect is read back by the run"
          })
        const r = yield* Effect.either(failover(request) ?? migration(request) ?? core(request))
        if (r._tag === "Left") return new Operator.Rejected({ by, reason: `simulator: ${r.left.message}` })
        return ControlClient.approve(by, request, r.right)
      })
  }
}

/**
 * The simulator operator as a layer: the one operator for every gate of a
 * run against the simulator.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Operator.Operator> =>
  Layer.sync(Operator.Operator, () => make(options))
