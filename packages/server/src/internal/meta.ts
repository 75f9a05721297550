/**
 * What the service knows of a run besides its journal: the site, who started
 * it, and whether a person cancelled it (a run stopped by a service shutdown
 * is resumed at the next start; one a person cancelled is not). Kept in
 * `<runs>/.portal/runs/<runId>.json`.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as path from "node:path"
import * as Store from "./store.js"

export class RunMeta extends Schema.Class<RunMeta>("RunMeta")({
  runId: Schema.String,
  site: Schema.String,
  method: Schema.String,
  target: Schema.String,
  initiator: Schema.String,
  initiatorRole: Schema.String,
  createdAt: Schema.Date,
  cancelledBy: Schema.optional(Schema.String),
  cancelledAt: Schema.optional(Schema.Date)
}) {}

const decode = Schema.decodeUnknownOption(RunMeta)
const encode = Schema.encodeSync(RunMeta)

/** The service's folder inside the runs folder. */
export const portalDir = (runsDir: string) => path.join(runsDir, ".portal")

const fileOf = (runsDir: string, runId: string) => path.join(portalDir(runsDir), "runs", `${runId}.json`)

export const read = (runsDir: string, runId: string): Effect.Effect<Option.Option<RunMeta>> =>
  Store.readJson(fileOf(runsDir, runId)).pipe(
    Effect.map((v) => (v === undefined ? Option.none() : decode(v))),
    Effect.orElseSucceed(() => Option.none())
  )

export const write = (runsDir: string, meta: RunMeta): Effect.Effect<void, Store.StoreError> =>
  Store.writeJson(fileOf(runsDir, meta.runId), encode(meta))
