/**
 * The manual gates of the failover pair plans, played on a simulator through
 * its control API (`/__sim/`): Sync now, break, move the site address,
 * establish the relationship. Every other gate goes to the simulator
 * operator of `@sra-upgrade/simulator`. A stopgap for the demo and
 * `run --yes --simulator` until that operator plays the `failover/…` gates
 * itself: then `layer` simply delegates.
 */
import { Operator } from "@sra-upgrade/core"
import { SimOperator } from "@sra-upgrade/simulator"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"

interface Options {
  readonly controlUrl: string
  readonly exportDirectory?: string | undefined
  readonly by?: string | undefined
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined)

/** The traffic switch and shared IP encoded in a step's `pair` parameter. */
const trafficOf = (params: Readonly<Record<string, unknown>>) => {
  const pair = params["pair"] as { traffic?: { method?: unknown; sharedIp?: unknown } } | undefined
  return { method: str(pair?.traffic?.method), sharedIp: str(pair?.traffic?.sharedIp) }
}

/** The simulator operator, extended with the `failover/…` gates. */
export const layer = (options: Options): Layer.Layer<Operator.Operator> => {
  const sim = SimOperator.make(options)
  const by = options.by ?? "simulator-operator"
  const base = options.controlUrl.replace(/\/+$/, "")
  const call = (method: string, path: string, body?: unknown) =>
    Effect.tryPromise({
      try: async (signal) => {
        const res = await fetch(`${base}${path}`, {
          method,
          signal,
          headers: { "content-type": "application/json" },
          ...(body === undefined ? {} : { body: JSON.stringify(body) })
        })
        const text = await res.text()
        if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 200)}`)
      },
      catch: (e) => (e instanceof Error ? e.message : String(e))
    })
  const approve = (request: Operator.GateRequest, done: string) =>
    new Operator.Approved({
      by,
      evidence: Object.fromEntries(request.evidence.map((e) => [e.name, `simulated: ${done}`]))
    })
  const perform = (request: Operator.GateRequest): Effect.Effect<string, string> | undefined => {
    const p = request.step.params
    switch (request.step.handler) {
      case "failover/sync-requested":
        return Effect.as(call("POST", "/failover/sync"), "Sync now pressed")
      case "failover/broken":
        return Effect.as(call("POST", "/failover/break"), "relationship broken")
      case "failover/established": {
        const primary = str(p["primary"])
        const backup = str(p["backup"])
        return Effect.as(call("POST", "/failover/establish", { primary, backup }), `established ${primary} → ${backup}`)
      }
      case "failover/switched": {
        const from = str(p["from"])
        const to = str(p["to"])
        const { method, sharedIp } = trafficOf(p)
        if (from === undefined || to === undefined) return undefined
        if (method === "dns") return Effect.as(call("PUT", "/site/dns", { target: to }), `DNS → ${to}`)
        if (method === "nat") return Effect.as(call("PUT", "/site/nat", { target: to }), `NAT → ${to}`)
        if (sharedIp === undefined) return undefined
        const ip = encodeURIComponent(sharedIp)
        return call("PUT", `/appliances/${from}/shared-ips/${ip}`, { enabled: false }).pipe(
          Effect.zipRight(call("PUT", `/appliances/${to}/shared-ips/${ip}`, { enabled: true })),
          Effect.as(`shared IP ${sharedIp} moved ${from} → ${to}`)
        )
      }
      default:
        return request.step.handler.startsWith("failover/") ? Effect.succeed("checked") : undefined
    }
  }
  return Operator.layerPrompt((request) => {
    const work = request.purpose === "gate" ? perform(request) : undefined
    if (work === undefined) return sim.answer(request)
    return work.pipe(
      Effect.match({
        onFailure: (reason) => new Operator.Rejected({ by, reason: `the simulator refused: ${reason}` }),
        onSuccess: (done) => approve(request, done)
      })
    )
  })
}
