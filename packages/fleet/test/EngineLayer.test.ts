/**
 * Processes that start together on an empty PostgreSQL database: the
 * engine's tables are created once, under the migration lock. Without it
 * the cluster's own layers race in `CREATE TABLE IF NOT EXISTS` and die
 * (a runner printed "ready", then died; the rollout hung).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as EngineLayer from "../src/EngineLayer.js"
import * as TestPostgres from "../src/TestPostgres.js"

describe("EngineLayer on PostgreSQL", () => {
  it.live(
    "FLEET-CRASH-2 four engine clients start together on an empty database, three times: every one starts",
    () =>
      Effect.gen(function* () {
        for (let round = 0; round < 3; round++) {
          const exits = yield* Effect.scoped(
            Effect.gen(function* () {
              const pg = yield* TestPostgres.start
              const url = Redacted.make(pg.url)
              return yield* Effect.forEach(
                [1, 2, 3, 4],
                () => Effect.exit(Effect.scoped(Layer.build(EngineLayer.client({ url })))),
                { concurrency: "unbounded" }
              )
            })
          )
          const failed = exits.filter(Exit.isFailure)
          expect(
            failed.map((e) => String(e.cause)),
            `round ${round}`
          ).toEqual([])
        }
      }),
    120_000
  )
})
