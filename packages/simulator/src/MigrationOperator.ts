/**
 * An `Operator` that plays the manual gates of a migration plan
 * (`@sra-upgrade/migration`, MIGRATE-1…9) through the simulator's control
 * API, then approves with the evidence it read back; every other gate goes
 * to the simulator's `SimOperator`. The same plan asks a person on real
 * appliances.
 *
 * Gates are addressed by the step's `target` (the simulated appliance id);
 * the `appliance` parameter of a step may name another connection of the
 * run (e.g. the new box reached with the old API account).
 *
 * What each gate does here:
 * - `migration/new-installed` (MIGRATE-1): creates an API account on the
 *   new box (`POST /appliances/{id}/accounts`) and hands its credentials to
 *   `onAccountCreated` (the run's connection to the new box);
 * - `migration/eula-accepted` (MIGRATE-6): `POST /appliances/{id}/eula/accept`;
 * - `migration/software-started` (MIGRATE-6): installs the package on offer
 *   that reaches the target (nothing when the box already runs it);
 * - `migration/exported-bundle` (MIGRATE-3): exports the old box's default
 *   certificate with its key (encrypted) and chain to the gate's `path`;
 * - `certificates.bundle-file` on the new box (MIGRATE-4): imports that file;
 * - `migration/default-certificate` (MIGRATE-5): selects the imported
 *   certificate as default;
 * - `migration/restored` (MIGRATE-7): restores the newest backup of the
 *   gate's `directory` with the backup password;
 * - `migration/credentials-changed` (MIGRATE-7): changes the admin password
 *   and attests it;
 * - `migration/cutover` (MIGRATE-8): moves the DNS record / NAT entry /
 *   shared IP to the new box;
 * - `migration/old-deleted`, `migration/old-reset`,
 *   `migration/old-powered-off` (MIGRATE-9): delete the virtual box, factory
 *   reset, power off.
 *
 * A control call the simulator refuses rejects the gate with its message.
 *
 * @since 0.1.0
 */
import { Operator } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { X509Certificate, randomBytes } from "node:crypto"
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import * as SimOperator from "./SimOperator.js"

/**
 * Options of the migration operator.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Base of the control API (`SimulatorHandle.controlUrl`). */
  readonly controlUrl: string
  /** Passphrase protecting the exported private key (default `simulator-export-passphrase`). */
  readonly exportPassphrase?: string | undefined
  /** Backup password of the site, used by the restore (MIGRATE-7). */
  readonly backupPassword?: string | undefined
  /** Called when the API account of the new box is created (MIGRATE-1). */
  readonly onAccountCreated?:
    | ((
        applianceId: string,
        credentials: { readonly clientId: string; readonly clientSecret: Redacted.Redacted<string> }
      ) => void)
    | undefined
  /** Name recorded as the approver (default `simulator-operator`). */
  readonly by?: string | undefined
  /** Called with every request before it is answered (tests, demos). */
  readonly onRequest?: ((request: Operator.GateRequest) => void) | undefined
}

class ControlFailure {
  constructor(readonly message: string) {}
}

type Json = Record<string, unknown>

const normalize = (fp: string) => fp.replace(/[^0-9a-fA-F]/g, "").toLowerCase()

const pemBlocks = (text: string, label: RegExp): Array<string> =>
  [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g)]
    .filter((m) => label.test(m[1]!))
    .map((m) => `${m[0]}\n`)

/**
 * The operator as a value.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): (typeof Operator.Operator)["Service"] => {
  const by = options.by ?? "simulator-operator"
  const base = options.controlUrl.replace(/\/+$/, "")
  const passphrase = options.exportPassphrase ?? "simulator-export-passphrase"
  const fallback = SimOperator.make({ controlUrl: options.controlUrl, by, exportPassphrase: passphrase })
  const accounts = new Map<string, { clientId: string; clientSecret: string }>()

  const call = (method: string, path: string, body?: unknown): Effect.Effect<unknown, ControlFailure> =>
    Effect.tryPromise({
      try: async (signal) => {
        const res = await fetch(`${base}${path}`, {
          method,
          signal,
          headers: { "content-type": "application/json" },
          ...(method === "GET" ? {} : { body: JSON.stringify(body ?? {}) })
        })
        const text = await res.text()
        const parse = (): unknown => {
          try {
            return text === "" ? {} : JSON.parse(text)
          } catch {
            return { message: text.slice(0, 200) }
          }
        }
        return { status: res.status, value: parse() }
      },
      catch: (e) => new ControlFailure(`control API unreachable: ${e instanceof Error ? e.message : String(e)}`)
    }).pipe(
      Effect.flatMap(({ status, value }) =>
        status >= 400
          ? Effect.fail(
              new ControlFailure(
                typeof value === "object" && value !== null && "message" in value
                  ? String((value as Json)["message"])
                  : `HTTP ${status}`
              )
            )
          : Effect.succeed(value)
      )
    )
  const io = <A>(what: string, f: () => Promise<A>) =>
    Effect.tryPromise({
      try: f,
      catch: (e) => new ControlFailure(`${what}: ${e instanceof Error ? e.message : String(e)}`)
    })
  const seg = encodeURIComponent
  const view = (id: string) => Effect.map(call("GET", `/appliances/${seg(id)}`), (v) => v as Json)
  const certificates = (id: string) =>
    Effect.map(call("GET", `/appliances/${seg(id)}/certificates`), (v) => v as Array<Json>)
  const leafOf = (path: string) =>
    Effect.flatMap(
      io(`cannot read ${path}`, () => readFile(path, "utf8")),
      (text) => {
        const certs = pemBlocks(text, /CERTIFICATE/)
        const key = pemBlocks(text, /PRIVATE KEY/)[0]
        if (certs[0] === undefined) return Effect.fail(new ControlFailure(`${path} holds no certificate`))
        return Effect.succeed({ certs, key, sha256: normalize(new X509Certificate(certs[0]).fingerprint256) })
      }
    )

  const perform = (
    request: Operator.GateRequest
  ): Effect.Effect<Record<string, string> | undefined, ControlFailure> => {
    const step = request.step
    const p = step.params as Json
    const id = step.target ?? String(p["appliance"] ?? "")
    switch (step.handler) {
      case "migration/new-installed":
        return Effect.gen(function* () {
          const existing = accounts.get(id)
          const created =
            existing ??
            ((yield* call("POST", `/appliances/${seg(id)}/accounts`, {
              name: "sra-upgrade migration",
              permCommand: "full_access",
              permBackup: true,
              permConfiguration: true
            })) as { clientId: string; clientSecret: string })
          accounts.set(id, created)
          if (existing === undefined)
            options.onAccountCreated?.(id, {
              clientId: created.clientId,
              clientSecret: Redacted.make(created.clientSecret)
            })
          return { apiClientId: created.clientId }
        })
      case "migration/eula-accepted":
        return Effect.map(call("POST", `/appliances/${seg(id)}/eula/accept`), () => ({ acceptedBy: by }))
      case "migration/software-started":
        return Effect.gen(function* () {
          const target = String(p["target"])
          const a = yield* view(id)
          if (a["version"] === target || String(a["lifecycle"]) !== "Running")
            return { version: String(a["version"]), lifecycle: String(a["lifecycle"]) }
          const updates = (yield* call("GET", `/appliances/${seg(id)}/updates`)) as Json
          const available = ((updates["available"] ?? []) as Array<Json>).map((u) => ({
            id: String(u["id"]),
            version: String(u["version"])
          }))
          const pkg = available.find((u) => u.version === target) ?? available[0]
          if (pkg === undefined)
            return yield* Effect.fail(new ControlFailure(`nothing on offer on ${id} to reach ${target}`))
          yield* call("POST", `/appliances/${seg(id)}/updates/${seg(pkg.id)}/install`)
          return { installing: pkg.id }
        })
      case "migration/exported-bundle":
        return Effect.gen(function* () {
          const certs = yield* certificates(id)
          const cert = certs.find((c) => c["isDefault"] === true && c["hasPrivateKey"] === true)
          if (cert === undefined)
            return yield* Effect.fail(new ControlFailure(`${id} has no default certificate with a key`))
          const exported = (yield* call(
            "POST",
            `/appliances/${seg(id)}/certificates/${seg(String(cert["id"]))}/export`,
            { includePrivateKey: true, passphrase }
          )) as Json
          const path = String(p["path"])
          yield* io(`cannot write ${path}`, async () => {
            await mkdir(dirname(path), { recursive: true })
            await writeFile(
              path,
              `${String(exported["certificate"]).trim()}\n${String(exported["privateKey"]).trim()}\n`,
              {
                mode: 0o600
              }
            )
          })
          return {
            file: path,
            "passphrase stored in": "simulator operator options",
            fingerprint: String(cert["fingerprint256"])
          }
        })
      case "certificates.bundle-file":
        if (step.id !== "migrate/import-certificate") return Effect.succeed(undefined)
        return Effect.gen(function* () {
          const bundle = yield* leafOf(String(p["path"]))
          const present = (yield* certificates(id)).find(
            (c) => normalize(String(c["fingerprint256"])) === bundle.sha256
          )
          if (present !== undefined) return { certificate: String(present["subject"]) }
          const imported = (yield* call("POST", `/appliances/${seg(id)}/certificates`, {
            certificate: bundle.certs.join(""),
            ...(bundle.key === undefined ? {} : { privateKey: bundle.key, passphrase })
          })) as Json
          return { certificate: String(imported["subject"]) }
        })
      case "migration/default-certificate":
        return Effect.gen(function* () {
          const bundle = yield* leafOf(String(p["path"]))
          const cert = (yield* certificates(id)).find((c) => normalize(String(c["fingerprint256"])) === bundle.sha256)
          if (cert === undefined)
            return yield* Effect.fail(new ControlFailure(`the exported certificate is not imported on ${id}`))
          yield* call("PUT", `/appliances/${seg(id)}/certificates/${seg(String(cert["id"]))}/default`)
          return { default: String(cert["subject"]) }
        })
      case "migration/restored":
        return Effect.gen(function* () {
          const dir = String(p["directory"])
          const newest = yield* io(`cannot list ${dir}`, async () => {
            let best: { path: string; at: number } | undefined
            for (const name of await readdir(dir)) {
              if (name.startsWith(".")) continue
              const s = await stat(join(dir, name))
              if (s.isFile() && (best === undefined || s.mtimeMs >= best.at))
                best = { path: join(dir, name), at: s.mtimeMs }
            }
            return best?.path
          })
          if (newest === undefined) return yield* Effect.fail(new ControlFailure(`no backup file in ${dir}`))
          yield* call("POST", `/appliances/${seg(id)}/restore`, {
            path: newest,
            ...(options.backupPassword === undefined ? {} : { password: options.backupPassword })
          })
          return { file: newest }
        })
      case "migration/credentials-changed":
        return Effect.map(
          call("PUT", `/appliances/${seg(id)}/admin-password`, { password: randomBytes(18).toString("base64url") }),
          () => ({ attestation: "changed", vault: "simulator (random password, not kept)" })
        )
      case "migration/cutover":
        return Effect.gen(function* () {
          const pair = p["pair"] as Json
          const traffic = pair["traffic"] as Json
          // `from` / `to`: the simulated appliance ids (the pair's ids are the run's connections)
          const from = String(p["from"] ?? (pair["primary"] as Json)["id"])
          const to = String(p["to"] ?? (pair["backup"] as Json)["id"])
          switch (traffic["method"]) {
            case "dns":
              yield* call("PUT", "/site/dns", { target: to, ttlSeconds: Number(traffic["ttlSeconds"] ?? 0) })
              return { dnsChange: `simulated DNS record → ${to}` }
            case "nat":
              yield* call("PUT", "/site/nat", { target: to })
              return { natChange: `simulated NAT entry → ${to}` }
            default: {
              const ip = String(traffic["sharedIp"])
              yield* call("PUT", `/appliances/${seg(from)}/shared-ips/${seg(ip)}`, { enabled: false })
              yield* call("PUT", `/appliances/${seg(to)}/shared-ips/${seg(ip)}`, { enabled: true })
              return { sharedIp: `${ip} moved to ${to}` }
            }
          }
        })
      case "migration/confirm-in-production":
        return Effect.succeed({ confirmedBy: by })
      case "migration/old-deleted":
        return Effect.map(call("DELETE", `/appliances/${seg(id)}`), () => ({ deletedBy: by }))
      case "migration/old-reset":
        return Effect.map(call("POST", `/appliances/${seg(id)}/factory-reset`), () => ({ resetBy: by }))
      case "migration/old-powered-off":
        return Effect.map(call("POST", `/appliances/${seg(id)}/power-off`), () => ({ poweredOffBy: by }))
      case "migration/return-shipped":
        return Effect.succeed({ tracking: "simulated carrier SIM-0001" })
      case "core/confirm-console-check":
        return Effect.map(view(id), (a) => ({
          consoleVersion: String(a["version"]),
          session: "simulated session (the simulator has no access console)"
        }))
      default:
        return Effect.succeed(undefined)
    }
  }

  return {
    answer: (request) =>
      Effect.gen(function* () {
        options.onRequest?.(request)
        if (request.purpose === "confirm-effect") return yield* fallback.answer(request)
        const r = yield* Effect.either(perform(request))
        if (r._tag === "Left") return new Operator.Rejected({ by, reason: `simulator: ${r.left.message}` })
        if (r.right === undefined) return yield* fallback.answer(request)
        const evidence: Record<string, string> = {}
        for (const f of request.evidence) evidence[f.name] = r.right[f.name] ?? "simulated"
        for (const [k, v] of Object.entries(r.right)) evidence[k] ??= v
        return new Operator.Approved({ by, evidence })
      })
  }
}

/**
 * The migration operator as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Operator.Operator> =>
  Layer.sync(Operator.Operator, () => make(options))
