/**
 * The run journal: an append-only log of `RunEvent` envelopes, one log per
 * run. The executor appends every event before it performs the next side
 * effect, and `resume` replays the log through `RunState.transition`.
 *
 * Layers: `layerMemory` (tests) and `layer({ directory })`: JSON Lines, one
 * file `<directory>/<runId>.jsonl` per run, `fsync` after each record. A torn
 * last line (a crash mid-write) is detected, reported by `read` and dropped by
 * `repair`; any other damage is a `JournalError` with reason `Corrupt`,
 * never skipped silently.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as codec from "./internal/executor/journalCodec.js"
import * as ProcessLock from "./ProcessLock.js"
import type { Envelope, TornRecord } from "./RunEvent.js"

/**
 * No journal exists for this run id.
 *
 * @since 0.1.0
 * @category models
 */
export class RunNotFound extends Schema.TaggedClass<RunNotFound>()("RunNotFound", {}) {}

/**
 * A journal with records already exists for this run id.
 *
 * @since 0.1.0
 * @category models
 */
export class AlreadyExists extends Schema.TaggedClass<AlreadyExists>()("AlreadyExists", {}) {}

/**
 * A complete record is unreadable, out of sequence or for another run.
 *
 * @since 0.1.0
 * @category models
 */
export class Corrupt extends Schema.TaggedClass<Corrupt>()("Corrupt", {
  /** 1-based line number. */
  line: Schema.Number,
  detail: Schema.String
}) {}

/**
 * The run id cannot name a journal (allowed: letters, digits, `.`, `_`, `-`).
 *
 * @since 0.1.0
 * @category models
 */
export class InvalidRunId extends Schema.TaggedClass<InvalidRunId>()("InvalidRunId", {}) {}

/**
 * Another live process holds the run's lock (it is executing the run).
 *
 * @since 0.1.0
 * @category models
 */
export class Locked extends Schema.TaggedClass<Locked>()("Locked", {
  pid: Schema.Number,
  /** The owner's host name (0.3.0; absent in a lock written by 0.2). */
  host: Schema.optional(Schema.String),
  /** When the owner took the lock (0.3.0). */
  since: Schema.optional(Schema.Date)
}) {}

/**
 * The file system refused (permissions, disk full...).
 *
 * @since 0.1.0
 * @category models
 */
export class Io extends Schema.TaggedClass<Io>()("Io", {
  operation: Schema.String,
  code: Schema.optional(Schema.String),
  detail: Schema.String
}) {}

/**
 * Another runner took the run over (it holds a newer fencing epoch): this
 * runner, presumed dead, may no longer append. Raised by journals shared
 * between processes (the fleet's SQL journal), never by the file journal.
 *
 * @since 0.3.0
 * @category models
 */
export class Fenced extends Schema.TaggedClass<Fenced>()("Fenced", {
  /** The epoch this runner held. */
  held: Schema.Number,
  /** The run's current epoch. */
  current: Schema.Number
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export const JournalErrorReason = Schema.Union(RunNotFound, AlreadyExists, Corrupt, InvalidRunId, Locked, Io, Fenced)

/**
 * @since 0.1.0
 * @category errors
 */
export class JournalError extends Schema.TaggedError<JournalError>("@sra-upgrade/core/JournalError")("JournalError", {
  runId: Schema.String,
  reason: JournalErrorReason
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const r = this.reason
    switch (r._tag) {
      case "RunNotFound":
        return `No journal for run ${this.runId}: check the run id and the runs folder.`
      case "AlreadyExists":
        return `A journal for run ${this.runId} already exists: resume it, or start with another run id.`
      case "Corrupt":
        return `Journal of run ${this.runId} is damaged at line ${r.line} (${r.detail}). It was not modified; restore it from a backup or inspect it by hand before resuming.`
      case "InvalidRunId":
        return `"${this.runId}" is not a valid run id: use letters, digits, ".", "_" and "-".`
      case "Locked":
        return `Run ${this.runId} is being executed by process ${r.pid}${r.host === undefined ? "" : ` on ${r.host}`}${r.since === undefined ? "" : ` since ${r.since.toISOString()}`}: wait for it to finish or stop it, then resume.${r.host !== undefined && r.host !== os.hostname() ? ` If host ${r.host} is gone, delete the run's .lock file in the runs folder.` : ""}`
      case "Io":
        return `Journal of run ${this.runId}: ${r.operation} failed (${r.code ?? "error"}: ${r.detail}). Check the runs folder's permissions and free space.`
      case "Fenced":
        return `Run ${this.runId} was taken over by another runner (epoch ${r.current}, this runner held ${r.held}): this runner stopped writing to it; follow the run where it continues (fleet status).`
    }
  }
}

/**
 * What a journal holds: its complete records, and the torn tail if any.
 *
 * @since 0.1.0
 * @category models
 */
export interface Contents {
  readonly records: ReadonlyArray<Envelope>
  readonly torn: Option.Option<TornRecord>
}

/**
 * @since 0.1.0
 * @category services
 */
export class Journal extends Context.Tag("@sra-upgrade/core/Journal")<
  Journal,
  {
    /** Start an empty journal; fails with `AlreadyExists` if it holds a complete record. */
    readonly create: (runId: string) => Effect.Effect<void, JournalError>
    /** Append one record durably (the file layer returns after fsync). */
    readonly append: (record: Envelope) => Effect.Effect<void, JournalError>
    /** Read and check every record; a torn last line is reported, not returned. */
    readonly read: (runId: string) => Effect.Effect<Contents, JournalError>
    /** Drop a torn last line so appends can go on; returns what was dropped. */
    readonly repair: (runId: string) => Effect.Effect<Option.Option<TornRecord>, JournalError>
    /**
     * Hold the run's lock for the scope, so that two processes never execute
     * the same run. The file layer creates `<run>.lock` exclusively with its
     * owner inside (pid, host, since); a lock whose process is no longer
     * running on this host is taken over, with a logged warning; a live
     * owner's lock fails with `Locked` naming it.
     */
    readonly lock: (runId: string) => Effect.Effect<void, JournalError, Scope.Scope>
    /** Run ids with a journal. */
    readonly list: Effect.Effect<ReadonlyArray<string>, JournalError>
  }
>() {}

const parse = (runId: string, buf: Buffer): Effect.Effect<Contents, JournalError> =>
  Either.match(codec.parse(runId, buf), {
    onLeft: (d) => Effect.fail(new JournalError({ runId, reason: new Corrupt(d) })),
    onRight: Effect.succeed
  })

const checkId = (runId: string) =>
  codec.validRunId(runId) ? Effect.void : Effect.fail(new JournalError({ runId, reason: new InvalidRunId() }))

/**
 * In memory (tests). Stores the same bytes as the file layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<Journal> = Layer.sync(Journal, () => {
  // Chunks, not one growing string: appends stay O(1) whatever the journal size.
  const files = new Map<string, Array<string>>()
  const load = (runId: string) =>
    Effect.flatMap(checkId(runId), () => {
      const chunks = files.get(runId)
      return chunks === undefined
        ? Effect.fail(new JournalError({ runId, reason: new RunNotFound() }))
        : Effect.succeed(Buffer.from(chunks.join(""), "utf8"))
    })
  return {
    create: (runId) =>
      Effect.gen(function* () {
        yield* checkId(runId)
        const chunks = files.get(runId)
        if (chunks !== undefined && chunks.some((c) => c.includes("\n"))) {
          return yield* new JournalError({ runId, reason: new AlreadyExists() })
        }
        files.set(runId, [])
      }),
    append: (record) =>
      Effect.suspend(() => {
        const chunks = files.get(record.runId)
        if (chunks === undefined) {
          return Effect.fail(new JournalError({ runId: record.runId, reason: new RunNotFound() }))
        }
        chunks.push(codec.encodeLine(record))
        return Effect.void
      }),
    read: (runId) => Effect.flatMap(load(runId), (buf) => parse(runId, buf)),
    repair: (runId) =>
      Effect.flatMap(load(runId), (buf) => {
        const torn = codec.tornTail(buf)
        if (Option.isSome(torn)) files.set(runId, [buf.subarray(0, torn.value.offset).toString("utf8")])
        return Effect.succeed(torn)
      }),
    lock: (runId) => checkId(runId),
    list: Effect.sync(() => [...files.keys()].sort())
  }
})

const ioError = (runId: string, operation: string) => (cause: unknown) => {
  const e = cause as NodeJS.ErrnoException
  return new JournalError({
    runId,
    reason:
      e?.code === "ENOENT"
        ? new RunNotFound()
        : new Io({ operation, detail: e?.message ?? String(cause), ...(e?.code ? { code: e.code } : {}) })
  })
}

/**
 * Options of the file journal.
 *
 * @since 0.1.0
 * @category models
 */
export interface FileOptions {
  /** The runs folder (created if missing). */
  readonly directory: string
}

/**
 * JSON Lines files, one per run, fsync after each record. File descriptors
 * stay open for the life of the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: FileOptions): Layer.Layer<Journal, JournalError> =>
  Layer.scoped(
    Journal,
    Effect.gen(function* () {
      const dir = path.resolve(options.directory)
      yield* Effect.try({
        try: () => fs.mkdirSync(dir, { recursive: true }),
        catch: ioError("*", `create runs folder ${dir}`)
      })
      const fds = new Map<string, number>()
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          for (const fd of fds.values()) fs.closeSync(fd)
          fds.clear()
        })
      )
      const fileOf = (runId: string) => path.join(dir, `${runId}.jsonl`)
      const fdOf = (runId: string): number => {
        let fd = fds.get(runId)
        if (fd === undefined) {
          fd = fs.openSync(fileOf(runId), "a")
          fds.set(runId, fd)
        }
        return fd
      }
      const syncDir = () => {
        const d = fs.openSync(dir, "r")
        try {
          fs.fsyncSync(d)
        } finally {
          fs.closeSync(d)
        }
      }
      const load = (runId: string) =>
        Effect.flatMap(checkId(runId), () =>
          Effect.try({ try: () => fs.readFileSync(fileOf(runId)), catch: ioError(runId, "read") })
        )
      return {
        create: (runId) =>
          Effect.gen(function* () {
            yield* checkId(runId)
            const existing = yield* Effect.try({
              try: () => (fs.existsSync(fileOf(runId)) ? fs.readFileSync(fileOf(runId)) : undefined),
              catch: ioError(runId, "create")
            })
            if (existing !== undefined && existing.includes(10)) {
              return yield* new JournalError({ runId, reason: new AlreadyExists() })
            }
            yield* Effect.try({
              try: () => {
                const old = fds.get(runId)
                if (old !== undefined) fs.closeSync(old)
                fds.delete(runId)
                fs.writeFileSync(fileOf(runId), "")
                syncDir()
              },
              catch: ioError(runId, "create")
            })
          }),
        append: (record) =>
          Effect.try({
            try: () => {
              if (!codec.validRunId(record.runId)) throw Object.assign(new Error("invalid run id"), { code: "EINVAL" })
              const fd = fdOf(record.runId)
              const buf = Buffer.from(codec.encodeLine(record), "utf8")
              let off = 0
              while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off)
              fs.fsyncSync(fd)
            },
            catch: ioError(record.runId, "append")
          }),
        read: (runId) => Effect.flatMap(load(runId), (buf) => parse(runId, buf)),
        repair: (runId) =>
          Effect.flatMap(load(runId), (buf): Effect.Effect<Option.Option<TornRecord>, JournalError> => {
            const torn = codec.tornTail(buf)
            if (Option.isNone(torn)) return Effect.succeed(torn)
            return Effect.try({
              try: () => {
                fs.truncateSync(fileOf(runId), torn.value.offset)
                const fd = fdOf(runId)
                fs.fsyncSync(fd)
                return torn
              },
              catch: ioError(runId, "repair")
            })
          }),
        lock: (runId) =>
          Effect.flatMap(checkId(runId), () =>
            ProcessLock.acquire(path.join(dir, `${runId}.lock`)).pipe(
              Effect.flatMap((held) =>
                held.tookOver === undefined
                  ? Effect.void
                  : Effect.logWarning(
                      `run ${runId}: took over the lock left by ${ProcessLock.describe(held.tookOver)}, which is no longer running`
                    )
              ),
              Effect.catchTags({
                ProcessLockError: (e) => Effect.fail(ioError(runId, "lock")(e.cause)),
                ProcessLockHeld: ({ owner }) =>
                  Effect.fail(
                    new JournalError({
                      runId,
                      reason: new Locked({
                        pid: owner.pid,
                        ...(owner.host === undefined ? {} : { host: owner.host }),
                        ...(owner.since === undefined ? {} : { since: owner.since })
                      })
                    })
                  )
              })
            )
          ),
        list: Effect.try({
          try: () =>
            fs
              .readdirSync(dir)
              .filter((f) => f.endsWith(".jsonl"))
              .map((f) => f.slice(0, -".jsonl".length))
              .sort(),
          catch: ioError("*", "list")
        })
      }
    })
  )
