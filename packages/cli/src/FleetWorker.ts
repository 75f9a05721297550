/**
 * The fleet engine's `SiteWorker` the CLI uses (`fleet run`, `runner`, `demo
 * fleet`): a site of a rollout is its site file (connections, secrets, CA as
 * for `run`); its plan comes from the single/pair planners with the versions
 * read from the appliances' health. Against a many-site simulator
 * (`simulator`), each site's manual gates are played by the simulator, and
 * waits are compressed by its time scale. Embed it to run site files on the
 * engine from your own program (docs/fleet.md), or to run a site's plan
 * without the engine (bench/fleet.ts's baseline).
 *
 * @since 0.3.0
 */
import type { SiteWorker } from "@sra-upgrade/fleet"
import type * as Layer from "effect/Layer"
import * as internal from "./internal/fleetWorker.js"

/**
 * A many-site simulator the sites run against: its control URL (`…/__sim`) and time scale.
 *
 * @since 0.3.0
 * @category models
 */
export type SimulatorTarget = internal.SimulatorTarget

/**
 * Options of {@link layer}: the simulator (optional) and where the simulator operator exports certificates.
 *
 * @since 0.3.0
 * @category models
 */
export type Options = internal.Options

/**
 * The site worker over site files.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer: (options: Options) => Layer.Layer<SiteWorker.SiteWorker> = internal.layer
