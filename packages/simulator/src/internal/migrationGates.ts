/**
 * The gates of a migration plan (`@sra-upgrade/migration`, MIGRATE-1…9),
 * played through the simulator's control API; a part of `SimOperator`
 * (documented in `MigrationOperator.ts`). Steps are recognised by their
 * definitions (`MigrationSteps`, the certificates package's `Steps`, core's
 * `CoreSteps`), whose decoded params the players read. Gates are addressed
 * by the step's `target` (the simulated appliance id); the `appliance`
 * parameter of a step may name another connection of the run (e.g. the new
 * box reached with the old API account).
 */
import { Steps } from "@sra-upgrade/certificates"
import { CoreSteps, type Operator, type Plan, Site } from "@sra-upgrade/core"
import { MigrationPlan, MigrationSteps } from "@sra-upgrade/migration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { X509Certificate, randomBytes } from "node:crypto"
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { moveTraffic } from "../PairOperator.js"
import { type ControlClient, ControlFailure, type Json, type Played, seg } from "./controlClient.js"

export interface Options {
  readonly by: string
  readonly exportPassphrase: string
  readonly backupPassword?: string | undefined
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

  /** `play(p)` for a step of `def` whose params decode; `undefined` for any other step. */
  const on =
    <P>(def: { readonly paramsOf: (step: Plan.Step) => Option.Option<P> }, play: (p: P, id: string) => Played) =>
    (step: Plan.Step): Played =>
      Option.match(def.paramsOf(step), {
        onNone: () => undefined,
        // gates are addressed by the step's target (the simulated appliance id)
        onSome: (p) => play(p, step.target ?? (p as { readonly appliance?: string }).appliance ?? "")
      })

  const players: ReadonlyArray<(step: Plan.Step) => Played> = [
    // MIGRATE-1: no API account on a factory box (the simulator refuses one until the restore): the person
    // reads the version on /appliance > Status > Basics
    on(MigrationSteps.NewInstalled, (_, id) => Effect.map(view(id), (a) => ({ version: String(a["version"]) }))),
    // MIGRATE-6: the version /appliance shows once the install is over
    on(MigrationSteps.NewSoftwareInstalled, (_, id) =>
      Effect.map(view(id), (a) => ({ version: String(a["version"]) }))
    ),
    on(MigrationSteps.EulaAccepted, (_, id) =>
      Effect.map(call("POST", `/appliances/${seg(id)}/eula/accept`), () => ({ acceptedBy: by }))
    ),
    on(MigrationSteps.SoftwareStarted, (p, id) =>
      Effect.gen(function* () {
        const a = yield* view(id)
        if (a["version"] === p.target || String(a["lifecycle"]) !== "Running")
          return { version: String(a["version"]), lifecycle: String(a["lifecycle"]) }
        const updates = (yield* call("GET", `/appliances/${seg(id)}/updates`)) as Json
        const available = ((updates["available"] ?? []) as Array<Json>).map((u) => ({
          id: String(u["id"]),
          version: String(u["version"])
        }))
        const pkg = available.find((u) => u.version === p.target) ?? available[0]
        if (pkg === undefined)
          return yield* Effect.fail(new ControlFailure(`nothing on offer on ${id} to reach ${p.target}`))
        yield* call("POST", `/appliances/${seg(id)}/updates/${seg(pkg.id)}/install`)
        return { installing: pkg.id }
      })
    ),
    on(MigrationSteps.ExportedBundle, (p, id) =>
      Effect.gen(function* () {
        const certs = yield* certificates(id)
        const cert = certs.find((c) => c["isDefault"] === true && c["hasPrivateKey"] === true)
        if (cert === undefined)
          return yield* Effect.fail(new ControlFailure(`${id} has no default certificate with a key`))
        const exported = (yield* call("POST", `/appliances/${seg(id)}/certificates/${seg(String(cert["id"]))}/export`, {
          includePrivateKey: true,
          passphrase
        })) as Json
        yield* io(`cannot write ${p.path}`, async () => {
          await mkdir(dirname(p.path), { recursive: true })
          await writeFile(
            p.path,
            `${String(exported["certificate"]).trim()}\n${String(exported["privateKey"]).trim()}\n`,
            { mode: 0o600 }
          )
        })
        return {
          file: p.path,
          "passphrase stored in": "simulator operator options",
          fingerprint: String(cert["fingerprint256"])
        }
      })
    ),
    // MIGRATE-4: the certificates package's import gate (no plan the simulator plays uses its export gate)
    on(Steps.BundleFile, (p, id) =>
      p.operation !== "import"
        ? undefined
        : Effect.gen(function* () {
            const bundle = yield* leafOf(p.path)
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
    ),
    on(MigrationSteps.DefaultCertificate, (p, id) =>
      Effect.gen(function* () {
        const bundle = yield* leafOf(p.path)
        const cert = (yield* certificates(id)).find((c) => normalize(String(c["fingerprint256"])) === bundle.sha256)
        if (cert === undefined)
          return yield* Effect.fail(new ControlFailure(`the exported certificate is not imported on ${id}`))
        yield* call("PUT", `/appliances/${seg(id)}/certificates/${seg(String(cert["id"]))}/default`)
        return { default: String(cert["subject"]) }
      })
    ),
    on(MigrationSteps.Restored, (p, id) =>
      Effect.gen(function* () {
        const dir = p.directory
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
        // a gate asked again after a crash: the person looks first (the box already holds the site's settings)
        if ((yield* view(id))["siteMember"] === true) return { file: newest, alreadyRestored: "true" }
        yield* call("POST", `/appliances/${seg(id)}/restore`, {
          path: newest,
          ...(options.backupPassword === undefined ? {} : { password: options.backupPassword })
        })
        return { file: newest }
      })
    ),
    on(MigrationSteps.CredentialsChanged, (_, id) =>
      Effect.map(
        call("PUT", `/appliances/${seg(id)}/admin-password`, { password: randomBytes(18).toString("base64url") }),
        () => ({ attestation: "changed", vault: "simulator (random password, not kept)" })
      )
    ),
    // `from` / `to`: the simulated appliance ids (the pair's ids are the run's connections)
    on(MigrationSteps.Cutover, (p) =>
      moveTraffic(client, Schema.encodeSync(Site.TrafficSwitch)(p.pair.traffic) as Json, p.from, p.to)
    ),
    on(MigrationSteps.ConfirmInProduction, () => Effect.succeed({ confirmedBy: by })),
    // MIGRATE-9, asked again after a crash: the person looks first and does not act twice
    on(MigrationSteps.OldDeleted, (_, id) =>
      Effect.flatMap(view(id), (a) =>
        a["lifecycle"] === "Deleted"
          ? Effect.succeed({ deletedBy: by, alreadyDeleted: "true" })
          : Effect.map(call("DELETE", `/appliances/${seg(id)}`), () => ({ deletedBy: by }))
      )
    ),
    on(MigrationSteps.OldReset, (_, id) =>
      Effect.flatMap(view(id), (a) =>
        a["siteMember"] === false && a["defaultCredentials"] === true
          ? Effect.succeed({ resetBy: by, alreadyReset: "true" })
          : Effect.map(call("POST", `/appliances/${seg(id)}/factory-reset`), () => ({ resetBy: by }))
      )
    ),
    on(MigrationSteps.OldPoweredOff, (_, id) =>
      Effect.flatMap(view(id), (a) =>
        a["lifecycle"] === "PoweredOff"
          ? Effect.succeed({ poweredOffBy: by, alreadyOff: "true" })
          : Effect.map(call("POST", `/appliances/${seg(id)}/power-off`), () => ({ poweredOffBy: by }))
      )
    ),
    on(MigrationSteps.ReturnShipped, () => Effect.succeed({ tracking: "simulated carrier SIM-0001" })),
    // the migration plan's console check names the run's connection in `appliance`: the box is the target
    (step) =>
      step.id === MigrationPlan.stepIds.verifyConsole
        ? on(CoreSteps.ConfirmConsoleCheck, (_, id) =>
            Effect.map(view(id), (a) => ({
              consoleVersion: String(a["version"]),
              session: "simulated session (the simulator has no access console)"
            }))
          )(step)
        : undefined
  ]

  return (request: Operator.GateRequest): Played => {
    for (const player of players) {
      const played = player(request.step)
      if (played !== undefined) return played
    }
    return undefined
  }
}
