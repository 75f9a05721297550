/**
 * The operations of core's `ApplianceClient` on the pipeline of one
 * connection (`./pipeline.ts`). Each is an `Effect.fn` named
 * `ApplianceClient.<operation>`, so every call is a span; the paginated
 * lists are streams with a span, one child span per page. The backup
 * download is in `./backup.ts`.
 *
 * @internal
 */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { ApplianceApi, type ApplianceError } from "@sra-upgrade/core"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Backup from "./backup.js"
import type * as Pipeline from "./pipeline.js"
import * as Wire from "./wire.js"

const get = (path: string, params?: Record<string, string>) =>
  HttpClientRequest.get(path).pipe(params ? HttpClientRequest.setUrlParams(params) : (r) => r)
const getJson = (path: string, params?: Record<string, string>) => get(path, params).pipe(HttpClientRequest.acceptJson)
const command = (action: string, params: Record<string, string> = {}) =>
  get("/api/command", { action, ...params }).pipe(HttpClientRequest.setHeader("accept", "text/xml"))

/** A Decode failure of the JSON itself (not JSON, wrong content type), as opposed to a body of another shape. */
const unreadable = (e: ApplianceError.ApplianceError) =>
  e.reason._tag === "Decode" && (e.reason.path === "(json)" || e.reason.path === "(content-type)")

/** Health: v2 JSON (a 500 carries the same body, unhealthy), XML v1 `check_health` fallback. @internal */
export const health = Effect.fn("ApplianceClient.health")(function* (p: Pipeline.Pipeline) {
  const operation = "health"
  return yield* p.v2OrV1(
    Effect.gen(function* () {
      const answer = yield* p.call({
        operation,
        idempotent: true,
        request: getJson("/api/command/v2/health"),
        accept: [200, 500]
      })
      return yield* p.json(operation, answer, Wire.HealthV2Json).pipe(
        Effect.map((h) => Wire.healthFromV2(h, answer.status === 200)),
        // a 500 whose body is JSON but not a health document is the appliance's own error
        Effect.catchIf(
          (e) => answer.status === 500 && !unreadable(e),
          () => Effect.flatMap(p.refused(operation, answer), Effect.fail)
        )
      )
    }),
    Effect.gen(function* () {
      const answer = yield* p.call({ operation, idempotent: true, request: command("check_health") })
      return yield* p.xml(operation, answer, Wire.healthFromV1)
    })
  )
})

/** API information and the appliance clock (PREP-8). @internal */
export const apiInfo = Effect.fn("ApplianceClient.apiInfo")(function* (p: Pipeline.Pipeline) {
  const operation = "apiInfo"
  return yield* p.v2OrV1(
    Effect.gen(function* () {
      const answer = yield* p.call({ operation, idempotent: true, request: getJson("/api/command/v2/info") })
      const localTime = new Date(yield* Clock.currentTimeMillis)
      return Wire.infoFromV2(yield* p.json(operation, answer, Wire.InfoV2Json), localTime)
    }),
    Effect.gen(function* () {
      const answer = yield* p.call({ operation, idempotent: true, request: command("get_api_info") })
      const localTime = new Date(yield* Clock.currentTimeMillis)
      return yield* p.xml(operation, answer, (text) => Wire.infoFromV1(text, localTime))
    })
  )
})

/** A failover role change: a mutation, never retried. @internal */
export const setFailoverRole = Effect.fn("ApplianceClient.setFailoverRole")(function* (
  p: Pipeline.Pipeline,
  request: ApplianceApi.RoleChangeRequest
) {
  const operation = "setFailoverRole"
  const result = (message: string) =>
    new ApplianceApi.RoleChangeResult({ message, syncStarted: /data sync/i.test(message) })
  return yield* p.v2OrV1(
    Effect.gen(function* () {
      const answer = yield* p.call({
        operation,
        idempotent: false,
        request: HttpClientRequest.post("/api/command/v2/failover-role").pipe(
          HttpClientRequest.acceptJson,
          HttpClientRequest.bodyUnsafeJson({
            role: request.role,
            data_sync_first: request.dataSyncFirst,
            force: request.force
          })
        )
      })
      return result((yield* p.json(operation, answer, Wire.MessageJson)).message)
    }),
    Effect.gen(function* () {
      const answer = yield* p.call({
        operation,
        idempotent: false,
        request: HttpClientRequest.post("/api/command").pipe(
          HttpClientRequest.setHeader("accept", "text/xml"),
          HttpClientRequest.bodyUrlParams({
            action: "set_failover_role",
            role: request.role,
            data_sync_first: request.dataSyncFirst ? "1" : "0",
            force: request.force ? "1" : "0"
          })
        )
      })
      return result(yield* p.xml(operation, answer, Wire.roleChangeFromV1))
    })
  )
})

/** Logged-in users (PREP-4). @internal */
export const loggedInUsers = Effect.fn("ApplianceClient.loggedInUsers")(function* (p: Pipeline.Pipeline) {
  const operation = "loggedInUsers"
  return yield* p.v2OrV1(
    Effect.gen(function* () {
      const answer = yield* p.call({ operation, idempotent: true, request: getJson("/api/command/v2/user") })
      return Wire.usersFromV2(yield* p.json(operation, answer, Wire.UsersV2Json))
    }),
    Effect.gen(function* () {
      const answer = yield* p.call({ operation, idempotent: true, request: command("get_logged_in_reps") })
      return yield* p.xml(operation, answer, Wire.usersFromV1)
    })
  )
})

/** Connected clients by type (XML v1 only: the v2 API has no such list). @internal */
export const connectedClients = Effect.fn("ApplianceClient.connectedClients")(function* (p: Pipeline.Pipeline) {
  const operation = "connectedClients"
  const answer = yield* p.call({
    operation,
    idempotent: true,
    request: command("get_connected_client_list", { summary_only: "1" })
  })
  return yield* p.xml(operation, answer, Wire.connectedClientsFromV1)
})

/** A config API list, page by page (100 a page) until the last page. */
const paginate = <A>(
  p: Pipeline.Pipeline,
  operation: string,
  path: string,
  filter: Record<string, string | number | undefined> | undefined,
  schema: Schema.Schema<ReadonlyArray<A>, string>
): Stream.Stream<A, ApplianceError.ApplianceError> => {
  const params: Record<string, string> = { per_page: "100" }
  for (const [k, v] of Object.entries(filter ?? {})) if (v !== undefined) params[k] = String(v)
  return Stream.paginateChunkEffect(1, (page: number) =>
    Effect.gen(function* () {
      const answer = yield* p.call({
        operation,
        idempotent: true,
        request: getJson(path, { ...params, current_page: String(page) })
      })
      const items = yield* p.json(operation, answer, schema)
      const last = answer.lastPage
      const more = last !== undefined ? page < last : items.length >= 100
      if (page > 100_000) return yield* Effect.fail(yield* p.decodeError(operation, "(pagination)", "runaway"))
      return [Chunk.fromIterable(items), more ? Option.some(page + 1) : Option.none()] as const
    }).pipe(Effect.withSpan(`ApplianceClient.${operation}.page`, { attributes: { page } }))
  ).pipe(Stream.withSpan(`ApplianceClient.${operation}`))
}

/** A config API list as a stream of domain values, with the filter the caller gives. */
const list =
  <W, A, F extends object>(
    operation: string,
    path: string,
    schema: Schema.Schema<ReadonlyArray<W>, string>,
    fromWire: (wire: W) => A
  ) =>
  (p: Pipeline.Pipeline, filter?: F): Stream.Stream<A, ApplianceError.ApplianceError> =>
    paginate(p, operation, path, filter as Record<string, string | number | undefined> | undefined, schema).pipe(
      Stream.map(fromWire)
    )

/** Jump Clients (CLIENT-6..10), filtered by the config API. @internal */
export const jumpClients = list<
  typeof Wire.JumpClientWire.Type,
  ApplianceApi.JumpClient,
  ApplianceApi.JumpClientFilter
>("jumpClients", "/api/config/v1/jump-client", Wire.JumpClientsJson, Wire.jumpClientFromWire)

/** Jumpoints, filtered by the config API. @internal */
export const jumpoints = list<typeof Wire.JumpointWire.Type, ApplianceApi.Jumpoint, ApplianceApi.JumpointFilter>(
  "jumpoints",
  "/api/config/v1/jumpoint",
  Wire.JumpointsJson,
  Wire.jumpointFromWire
)

/** The client of one appliance: every operation on its pipeline. @internal */
export const make = (p: Pipeline.Pipeline): ApplianceApi.ApplianceClient => {
  const about = health(p)
  return {
    id: p.settings.id,
    health: about,
    apiInfo: apiInfo(p),
    setFailoverRole: (request) => setFailoverRole(p, request),
    loggedInUsers: loggedInUsers(p),
    connectedClients: connectedClients(p),
    downloadBackup: (request) => Backup.downloadBackup(p, about, request),
    jumpClients: (filter) => jumpClients(p, filter),
    jumpoints: (filter) => jumpoints(p, filter)
  }
}
