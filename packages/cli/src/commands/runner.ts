/**
 * `sra-upgrade runner --database postgres://…`: one runner of the
 * distributed fleet engine; start one per machine. Runs until stopped.
 *
 * @since 0.3.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { EngineLayer } from "@sra-upgrade/fleet"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { usage } from "../CliError.js"
import { checkProbeInterval, fleetProbeIntervalOpt, fleetSimulatorOpt, fleetTimeScaleOpt, workerOf } from "./fleet.js"

/**
 * The `runner` command.
 *
 * @since 0.3.0
 * @category commands
 */
export const command = Command.make(
  "runner",
  {
    database: Options.text("database").pipe(
      Options.withDescription("The PostgreSQL database the runners share, postgres://user@host:port/db.")
    ),
    host: Options.text("host").pipe(
      Options.withDefault("127.0.0.1"),
      Options.withDescription("The address the other runners reach this one at.")
    ),
    port: Options.integer("port").pipe(
      Options.withDefault(34431),
      Options.withDescription("The port this runner listens on for the other runners.")
    ),
    lockExpiration: Options.integer("lock-expiration").pipe(
      Options.withDefault(30),
      Options.withDescription(
        "Seconds after which the shard locks of a runner that stopped refreshing them expire (default 30). A runner refreshes its locks every third of this and counts a refresh slower than that as lock storage failing: keep it well above the database's worst response time. A runner that dies is taken over as soon as its PostgreSQL session closes."
      )
    ),
    simulator: fleetSimulatorOpt,
    timeScale: fleetTimeScaleOpt,
    probeInterval: fleetProbeIntervalOpt
  },
  (o) => {
    const db = EngineLayer.parseDatabase(o.database)
    if (!("url" in db)) return usage(`--database ${o.database}: a runner needs postgres://…`)
    return Effect.flatMap(checkProbeInterval(o.probeInterval), (probeInterval) =>
      Layer.launch(
        Layer.merge(
          EngineLayer.runner({
            url: db.url,
            host: o.host,
            port: o.port,
            shardLockExpiration: `${o.lockExpiration} seconds`
          }).pipe(Layer.provide(workerOf(o.simulator, o.timeScale, probeInterval))),
          Layer.effectDiscard(Console.log(`runner ${o.host}:${o.port} pid ${process.pid} ready`))
        )
      ).pipe(Effect.mapError((e) => usage(e.message)))
    )
  }
).pipe(
  Command.withDescription(
    "Run one runner of the distributed fleet engine on a PostgreSQL database (one per machine); it runs until stopped."
  )
)
