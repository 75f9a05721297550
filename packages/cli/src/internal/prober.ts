/**
 * Where and how often `run` and `resume` probe the site address (the
 * failover `SiteProber`, journaled by the executor as the run's
 * availability).
 */
import type { Site } from "@sra-upgrade/core"
import type { SiteProber } from "@sra-upgrade/failover"
import type * as Sim from "./sim.js"

/** Default seconds between two probes (simulated seconds against a simulator). */
export const defaultIntervalSeconds = 5

/** Default seconds between two journaled summaries of unchanged probes. */
export const summarySeconds = 60

/** Shortest real interval between two probes, whatever the time scale. */
const minimumMillis = 50

/**
 * The prober of a site: its address (against a simulator: the simulator's site front) presented as the
 * site host name, every `intervalSeconds` of (simulated) time; `undefined` when `intervalSeconds` is 0.
 */
export const options = (
  site: Site.Site,
  intervalSeconds: number,
  simulator: Sim.Target | undefined
): (SiteProber.Options & { readonly summaryEveryMillis: number }) | undefined => {
  if (!(intervalSeconds > 0)) return undefined
  const scale = simulator?.timeScale ?? 1
  return {
    url: simulator?.siteFront?.httpUrl ?? `https://${site.hostname}`,
    hostname: site.hostname,
    intervalMillis: Math.max(minimumMillis, (intervalSeconds * 1000) / scale),
    summaryEveryMillis: Math.max(1_000, (summarySeconds * 1000) / scale)
  }
}
