/**
 * Shared wiring of the MockAgent unit tests: one fake origin, a counting
 * token endpoint, and the live layer on top of the mock dispatcher.
 */
import { ApplianceApi, type ApplianceError } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { MockAgent } from "undici"
import { ApplianceClient } from "../src/index.js"

export const ORIGIN = "https://a.test"
export const SECRET = "s3cr3t-CLIENT-secret-value"
export const TOKEN = "tok-0123456789abcdef0123456789abcdef0123"

export interface Mock {
  readonly agent: MockAgent
  readonly pool: ReturnType<MockAgent["get"]>
  /** Token requests seen so far. */
  readonly tokenRequests: () => number
  readonly connection: (over?: Partial<ApplianceClient.Connection>) => ApplianceClient.Connection
}

export const makeMock = (options?: { readonly tokenPersist?: boolean; readonly expiresIn?: number }): Mock => {
  const agent = new MockAgent()
  agent.disableNetConnect()
  const pool = agent.get(ORIGIN)
  let tokens = 0
  if (options?.tokenPersist !== false) {
    pool
      .intercept({ path: "/oauth2/token", method: "POST" })
      .reply(() => {
        tokens++
        return {
          statusCode: 200,
          data: JSON.stringify({
            access_token: `${TOKEN}-${tokens}`,
            token_type: "Bearer",
            expires_in: options?.expiresIn ?? 3600
          }),
          responseOptions: { headers: { "content-type": "application/json" } }
        }
      })
      .persist()
  }
  return {
    agent,
    pool,
    tokenRequests: () => tokens,
    connection: (over) => ({
      id: "A",
      baseUrl: ORIGIN,
      clientId: "client-A",
      clientSecret: Redacted.make(SECRET),
      dispatcher: agent,
      requestsPerSecond: 1_000_000,
      retry: { baseDelayMillis: 1, maxDelayMillis: 2 },
      ...over
    })
  }
}

/** Runs `f` with the client of the connection, inside a live layer over the mock. */
export const withClient = <A, E>(
  connection: ApplianceClient.Connection,
  f: (client: ApplianceApi.ApplianceClient) => Effect.Effect<A, E>
): Effect.Effect<A, E | ApplianceError.ApplianceError> =>
  Effect.flatMap(ApplianceApi.ApplianceApi, (api) => Effect.flatMap(api.appliance(connection.id), f)).pipe(
    Effect.provide(ApplianceClient.layer([connection]))
  )

export const json = (statusCode: number, body: unknown, headers: Record<string, string> = {}) => ({
  statusCode,
  data: typeof body === "string" ? body : JSON.stringify(body),
  responseOptions: { headers: { "content-type": "application/json", ...headers } }
})

export const xml = (body: string, statusCode = 200) => ({
  statusCode,
  data: body,
  responseOptions: { headers: { "content-type": "text/xml; charset=UTF-8" } }
})

export const healthV2 = {
  version: "24.3.2",
  build: "37380-749b17ca",
  appliance_hostname: "a.example.test",
  appliance_id: "0123456789abcdef0123456789abcdef",
  cluster_role: "single",
  failover_role: "primary",
  enabled_shared_ips: ["10.0.0.10"],
  last_data_sync: "2026-11-28T10:00:00+00:00",
  last_data_sync_status: "success"
}

/** Polls a condition between turns of the event loop (real I/O of MockAgent while TestClock holds the time). */
export const waitUntil = (condition: Effect.Effect<boolean>): Effect.Effect<void> =>
  Effect.gen(function* () {
    for (let i = 0; i < 10_000; i++) {
      if (yield* condition) return
      yield* Effect.promise(() => new Promise<void>((r) => setImmediate(r)))
    }
    throw new Error("condition never became true")
  })
