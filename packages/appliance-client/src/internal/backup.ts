/**
 * The backup path: one settings backup (PREP-1) from request to a named file.
 * The body is read by our own HTTP/1.1 reader (`./rawHttp.ts`) into one
 * preallocated buffer, hashed on the calling thread and written by a worker
 * thread (`./backupFile.ts`), with no Effect per read: its speed is measured
 * by `bench/backup-download.ts`. The file is written under a `.partial`
 * name, fsynced, and linked to its final name only when complete.
 *
 * @internal
 */
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { type ApplianceApi, ApplianceError, BackupArtifact } from "@sra-upgrade/core"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { randomBytes } from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import * as BackupFile from "./backupFile.js"
import * as Pipeline from "./pipeline.js"
import * as RawHttp from "./rawHttp.js"

/** How long a failed backup waits for its partial file to be removed (the disk may be what failed). */
const CLEANUP_GRACE_MILLIS = 5_000

/** The final flush (last writes + fsync) may take this many idle timeouts: write-back of GBs on a slow disk. */
const FINAL_FLUSH_FACTOR = 10

/** Sends the backup request; the response is released with the scope. */
const openBackup = (
  p: Pipeline.Pipeline,
  operation: string,
  bearer: string,
  password: Redacted.Redacted<string> | undefined
): Effect.Effect<Pipeline.Incoming, ApplianceError.ApplianceError, Scope.Scope> => {
  const settings = p.settings
  const connector = settings.connector
  if (connector === undefined) {
    // a caller-supplied dispatcher (MockAgent, ProxyAgent): through the HttpClient
    const base = password
      ? HttpClientRequest.post("/api/backup").pipe(
          HttpClientRequest.bodyUnsafeJson({ password: Redacted.value(password) })
        )
      : HttpClientRequest.get("/api/backup")
    return p.http
      .execute(
        base.pipe(
          HttpClientRequest.setHeader("accept", "application/octet-stream"),
          HttpClientRequest.bearerToken(bearer)
        )
      )
      .pipe(Effect.mapError((error) => p.failTransport(operation, error.cause ?? error)))
  }
  // Our own HTTP/1.1 reader (rawHttp.ts): one preallocated read buffer, no stream machinery, so a
  // multi-GB backup moves at the speed of the link. (undici 7.30.2 also crashes the process with an
  // uncatchable assertion when the peer closes while a large body is paused by backpressure,
  // nodejs/undici#5360.)
  const body = password ? Buffer.from(JSON.stringify({ password: Redacted.value(password) })) : undefined
  return Effect.acquireRelease(
    Effect.async<RawHttp.RawResponse, ApplianceError.ApplianceError>((resume) => {
      const abort = RawHttp.request(
        {
          url: new URL(`${settings.baseUrl}/api/backup`),
          method: body ? "POST" : "GET",
          headers: {
            accept: "application/octet-stream",
            authorization: `Bearer ${bearer}`,
            ...(body ? { "content-type": "application/json" } : {})
          },
          body,
          trust: settings.trust
        },
        (error, response) =>
          resume(error === null ? Effect.succeed(response!) : Effect.fail(p.failTransport(operation, error)))
      )
      return Effect.sync(abort)
    }),
    (res) => Effect.sync(() => res.body.destroy())
  ).pipe(
    Effect.map((res): Pipeline.Incoming => ({
      status: res.status,
      headers: res.headers,
      stream: Stream.die("the backup body is read through `body`"),
      body: res.body
    }))
  )
}

/** The answer of a backup request that is not a backup (an error status or a JSON/XML/HTML body), read briefly. */
const readRefusal = (
  p: Pipeline.Pipeline,
  response: Pipeline.Incoming,
  type: string
): Effect.Effect<Pipeline.Answer> => {
  const answer = (text: string): Pipeline.Answer => ({
    status: response.status,
    contentType: type,
    text,
    retryAfter: Pipeline.retryAfterOf(response)
  })
  return Pipeline.readBounded(response, p.settings.maxBodyBytes).pipe(
    Effect.map((bytes) => answer(Pipeline.decoder.decode(bytes))),
    Effect.catchAll(() => Effect.succeed(answer("(unreadable body)"))),
    Effect.timeout(p.settings.timeoutMillis),
    Effect.catchAll(() => Effect.succeed(answer("(no body in time)")))
  )
}

/**
 * Downloads a settings backup into `request.directory`: an idempotent read,
 * retried by the pipeline's schedule; `about` is the appliance's health
 * (its name and version go into the artifact).
 *
 * @internal
 */
export const downloadBackup = Effect.fn("ApplianceClient.downloadBackup")(function* (
  p: Pipeline.Pipeline,
  health: Effect.Effect<ApplianceApi.Health, ApplianceError.ApplianceError>,
  request: ApplianceApi.BackupRequest
) {
  const operation = "downloadBackup"
  const about = yield* health
  const password = request.password ? [Redacted.value(request.password)] : []
  const attempt = p.authenticated(operation, (bearer) =>
    Effect.gen(function* () {
      yield* p.account.limiter.take
      const response = yield* openBackup(p, operation, bearer, request.password).pipe(
        Effect.timeoutFail({
          duration: p.settings.timeoutMillis,
          onTimeout: () => p.fail(operation, new ApplianceError.Timeout({ afterMillis: p.settings.timeoutMillis }))
        })
      )
      yield* p.observeRateHeaders(response)
      const type = Pipeline.contentTypeOf(response)
      if (response.status !== 200 || /json|xml|html/.test(type)) {
        const answer = yield* readRefusal(p, response, type)
        if (response.status === 403 && /password/i.test(answer.text)) {
          return yield* Effect.fail(yield* p.refused(operation, answer, password))
        }
        const checked = yield* p.checkStatus(operation, answer).pipe(
          Effect.catchIf(
            (e): e is ApplianceError.ApplianceError =>
              e instanceof ApplianceError.ApplianceError && e.reason._tag === "ApplianceRefused",
            () => Effect.flatMap(p.refused(operation, answer, password), Effect.fail)
          )
        )
        return yield* Effect.fail(
          yield* p.refused(
            operation,
            { ...checked, text: `expected the backup file, got ${type}: ${checked.text}` },
            password
          )
        )
      }
      return yield* saveBackup(p, operation, response, request, about)
    }).pipe(Effect.scoped)
  )
  return yield* attempt.pipe(p.retry(operation, true))
})

const saveBackup = (
  p: Pipeline.Pipeline,
  operation: string,
  response: Pipeline.Incoming,
  request: ApplianceApi.BackupRequest,
  about: ApplianceApi.Health
): Effect.Effect<BackupArtifact.BackupArtifact, ApplianceError.ApplianceError> =>
  Effect.gen(function* () {
    const { fail, settings } = p
    const directory = Path.resolve(request.directory)
    const temp = Path.join(
      directory,
      `.${settings.id.replace(/[^\w.-]/g, "_")}-${randomBytes(6).toString("hex")}.partial`
    )
    const ioError = (e: unknown) =>
      fail(
        operation,
        new ApplianceError.LocalIo({
          path: directory,
          code: Pipeline.codeOf(e) ?? (e instanceof Error ? e.message : String(e)).slice(0, 200)
        })
      )
    const stalled = (afterMillis: number) =>
      fail(operation, new ApplianceError.LocalIo({ path: directory, code: "STALLED", afterMillis }))
    yield* Effect.tryPromise({ try: () => Fs.mkdir(directory, { recursive: true }), catch: ioError })
    // the partial file goes away on any failure or interruption (not waited for long: the disk may be the
    // reason of the failure, and a `.partial` name never passes for a backup)
    yield* Effect.addFinalizer((exit) =>
      exit._tag === "Failure"
        ? Effect.promise(() => Fs.rm(temp, { force: true }).catch(() => undefined)).pipe(
            Effect.timeoutOption(CLEANUP_GRACE_MILLIS)
          )
        : Effect.void
    )
    const source =
      response.body ??
      RawHttp.fromReadable(
        yield* NodeStream.toReadable(
          response.stream.pipe(Stream.mapError((e) => p.failTransport(operation, Pipeline.causeOf(e))))
        )
      )
    const file = yield* Effect.acquireRelease(
      Effect.try({
        try: () => (settings.writeBackupOnWorkerThread ? BackupFile.onWorker(temp) : BackupFile.inline(temp)),
        catch: ioError
      }),
      (f) => Effect.promise(() => f.close())
    )
    const length = response.headers["content-length"]
    const announced = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined
    const bytes = yield* Effect.async<number, ApplianceError.ApplianceError>((resume) => {
      // The hot path, with no Effect per read: each read goes to the backup file (hash + write, on a
      // worker thread by default) before the read buffer is reused; the socket pauses while the
      // writer is behind.
      let bytes = 0
      let done = false
      let lastData = Date.now()
      // reads paused while the writer catches up: the peer is not idle then
      let writerBehind = false
      const finish = (outcome: Effect.Effect<number, ApplianceError.ApplianceError>) => {
        if (done) return
        done = true
        clearInterval(watchdog)
        source.destroy()
        resume(outcome)
      }
      const watchdog = setInterval(
        () => {
          const idle = Date.now() - lastData
          if (idle <= settings.backupIdleTimeoutMillis) return
          // paused for the writer all that time: the disk, not the appliance, stopped
          finish(
            Effect.fail(
              writerBehind
                ? stalled(settings.backupIdleTimeoutMillis)
                : fail(operation, new ApplianceError.Timeout({ afterMillis: settings.backupIdleTimeoutMillis }))
            )
          )
        },
        Math.max(10, Math.min(1000, settings.backupIdleTimeoutMillis / 4))
      )
      source.start({
        data: (chunk) => {
          if (done) return
          lastData = Date.now()
          bytes += chunk.length
          request.onProgress?.(bytes, announced)
          let called = false
          file.write(chunk, (error) => {
            called = true
            if (error !== undefined) return finish(Effect.fail(ioError(error)))
            if (writerBehind) {
              writerBehind = false
              lastData = Date.now()
              source.resume()
            }
          })
          if (!called) {
            writerBehind = true
            source.pause()
          }
        },
        end: () => finish(Effect.succeed(bytes)),
        readBuffer: file.readBuffer,
        error: (error) =>
          finish(
            Effect.fail(error instanceof ApplianceError.ApplianceError ? error : p.failTransport(operation, error))
          )
      })
      return Effect.sync(() => finish(Effect.interrupt))
    })
    if (length !== undefined && Number(length) !== bytes) {
      return yield* Effect.fail(
        fail(operation, new ApplianceError.Transport({ code: `TRUNCATED ${bytes}/${length} bytes` }))
      )
    }
    if (bytes === 0) {
      return yield* Effect.fail(
        fail(operation, new ApplianceError.Decode({ path: "(body)", excerpt: "the backup is empty" }))
      )
    }
    // the rest of the bytes written, then fsync: the file is on disk before it gets its name
    const flushBound = FINAL_FLUSH_FACTOR * settings.backupIdleTimeoutMillis
    const sha256 = yield* Effect.tryPromise({ try: () => file.finish(), catch: ioError }).pipe(
      Effect.timeoutFail({ duration: flushBound, onTimeout: () => stalled(flushBound) })
    )
    const takenAt = new Date(yield* Clock.currentTimeMillis)
    const name = backupName(response.headers["content-disposition"], about.hostname || settings.id, takenAt)
    const final = yield* Effect.tryPromise({ try: () => renameFresh(temp, directory, name), catch: ioError })
    return new BackupArtifact.BackupArtifact({
      path: final,
      bytes,
      sha256,
      takenAt,
      applianceId: about.applianceGuid || settings.id,
      version: about.version,
      passwordProtected: request.password !== undefined
    })
  }).pipe(Effect.scoped)

/** A safe file name from Content-Disposition, or `<host>-<date>.nsb`. @internal */
export const backupName = (disposition: string | undefined, host: string, at: Date): string => {
  const m = disposition ? /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition) : null
  const raw = m ? Path.basename(decodeURIComponent(m[1]!)) : ""
  const clean = raw.replace(/[^\w.-]/g, "_").replace(/^\.+/, "")
  if (clean.length > 0 && clean.length <= 200) return clean
  return `${host.replace(/[^\w.-]/g, "_")}-${at.toISOString().replace(/[:.]/g, "-")}.nsb`
}

const renameFresh = async (temp: string, directory: string, name: string): Promise<string> => {
  const ext = Path.extname(name)
  const stem = name.slice(0, name.length - ext.length)
  for (let i = 0; i < 1000; i++) {
    const candidate = Path.join(directory, i === 0 ? name : `${stem}-${i}${ext}`)
    try {
      // link fails if the name exists: never overwrite an earlier backup
      await Fs.link(temp, candidate)
      await Fs.rm(temp, { force: true })
      return candidate
    } catch (e) {
      if ((e as { code?: string }).code !== "EEXIST") throw e
    }
  }
  throw new Error("no free file name")
}
