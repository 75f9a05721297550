/**
 * The gates of a migration plan (`@sra-upgrade/migration`, MIGRATE-1…9),
 * played through the simulator's control API; a part of `SimOperator`
 * (documented in `MigrationOperator.ts`). Gates are addressed by the step's
 * `target` (the simulated appliance id); the `appliance` parameter of a step
 * may name another connection of the run (e.g. the new box reached with the
 * old API account).
 */
import type { Operator } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { X509Certificate, randomBytes } from "node:crypto"
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { moveTraffic } from "../PairOperator.js"
import type * as SimOperator from "../SimOperator.js"
import { type ControlClient, ControlFailure, type Json, type Played, seg } from "./controlClient.js"

export interface Options {
  readonly by: string
  readonly exportPassphrase: string
  readonly backupPassword?: string | undefined
  readonly onAccountCreated?: SimOperator.Options["onAccountCreated"]
}

const normalize = (fp: string) => fp.replace(/[^0-9a-fA-F]/g, "").toLowerCase()

const pemBlocks = (text: string, label: RegExp): Array<string> =>
  [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g)]
    .filter((m) => label.test(m[1]!))
    .map((m) => `${m[0]}\n`)

/** Plays a migration gate; `undefined` for any other. */
export const play = (client: ControlClient, options: Options) => {
  const { call, io } = client
  const by = options.by
  const passphrase = options.exportPassphrase
  const accounts = new Map<string, { clientId: string; clientSecret: string }>()
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

  return (request: Operator.GateRequest): Played => {
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
        if (step.id !== "migrate/import-certificate") return undefined
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
      case "migration/cutover": {
        const pair = p["pair"] as Json
        // `from` / `to`: the simulated appliance ids (the pair's ids are the run's connections)
        const from = String(p["from"] ?? (pair["primary"] as Json)["id"])
        const to = String(p["to"] ?? (pair["backup"] as Json)["id"])
        return moveTraffic(client, pair["traffic"] as Json, from, to)
      }
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
        // the migration plan's check names the run's connection in `appliance`: the box is the target
        if (!step.id.startsWith("migrate/")) return undefined
        return Effect.map(view(id), (a) => ({
          consoleVersion: String(a["version"]),
          session: "simulated session (the simulator has no access console)"
        }))
      default:
        return undefined
    }
  }
}
