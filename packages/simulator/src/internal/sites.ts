/**
 * Many simulated sites in one process. Each site keeps what makes it a site
 * — its own world (appliances, versions, faults, relationship, clock), its
 * own appliance listeners (HTTP and HTTPS per appliance: the appliance
 * client talks to them unchanged, and a powered-off appliance refuses
 * connections) and its own site front (which closes when nothing holds the
 * site). What can be shared is: one private CA and one site-member leaf for
 * every site (their names are all under `sra-simulator.local`), one action
 * log, and one control listener that serves every site's control API under
 * `/sites/{name}/__sim/…` and the whole simulator under `/__sim/…`.
 */
import * as http from "node:http"
import type * as net from "node:net"
import type { AddressInfo } from "node:net"
import type { SimConfig } from "../SimConfig.js"
import { ActionLog } from "./actions.js"
import { generateCa, sharedLeaf } from "./cert.js"
import type { Reply } from "./http.js"
import { BodyTooLarge, json, parseJsonObject, readBody, send } from "./http.js"
import { SimServer } from "./server.js"
import { SimRefusal } from "./util.js"

/** How many sites open their listeners at the same time while starting. */
const START_CONCURRENCY = 8

export interface SiteSummary {
  readonly name: string
  readonly kind: "pair" | "single"
  readonly control: string
  readonly site: { readonly hostname: string; readonly httpUrl: string; readonly httpsUrl: string }
  readonly appliances: ReturnType<SimServer["endpoints"]>
}

export const kindOf = (config: SimConfig): "pair" | "single" =>
  config.appliances.some((a) => a.failoverRole === "primary") &&
  config.appliances.some((a) => a.failoverRole === "backup")
    ? "pair"
    : "single"

export class SimSites {
  readonly actions = new ActionLog()
  readonly servers = new Map<string, SimServer>()
  private readonly control: http.Server
  private readonly sockets = new Set<net.Socket>()
  private port = 0
  /** PEM of the root CA every site's certificates come from. */
  caPem = ""

  private constructor(
    readonly configs: ReadonlyArray<SimConfig>,
    readonly host: string
  ) {
    this.control = http.createServer({ requestTimeout: 60_000, headersTimeout: 30_000 }, (req, res) =>
      this.handle(req, res).catch((e: unknown) => {
        if (!res.headersSent)
          send(res, json(500, { message: `Internal simulator error: ${e instanceof Error ? e.message : String(e)}` }))
        else res.destroy()
      })
    )
    this.control.on("connection", (s: net.Socket) => {
      this.sockets.add(s)
      s.on("close", () => this.sockets.delete(s))
    })
    this.control.on("clientError", (_e, socket: net.Socket) => socket.destroy())
  }

  static async create(configs: ReadonlyArray<SimConfig>): Promise<SimSites> {
    const sites = new SimSites(configs, configs[0]?.host ?? "127.0.0.1")
    const ca = await generateCa()
    const leaf = await sharedLeaf(ca)
    sites.caPem = ca.rootPem
    for (const config of configs)
      sites.servers.set(config.siteName, await SimServer.create(config, { ca, leaf, actions: sites.actions }))
    return sites
  }

  /** Opens the control listener, then every site's listeners (a few at a time). */
  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.control.once("error", reject)
      this.control.listen(0, this.host, () => {
        this.control.off("error", reject)
        resolve()
      })
    })
    this.port = (this.control.address() as AddressInfo).port
    const queue = [...this.servers.entries()]
    const worker = async (): Promise<void> => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift())
        await next[1].start(this.siteControlUrl(next[0]))
    }
    await Promise.all(Array.from({ length: START_CONCURRENCY }, worker))
  }

  async stop(): Promise<void> {
    await Promise.all([...this.servers.values()].map((s) => s.stop()))
    await new Promise<void>((resolve) => {
      if (!this.control.listening) return resolve()
      this.control.close(() => resolve())
      this.control.closeAllConnections()
      for (const s of this.sockets) s.destroy()
    })
  }

  private base(): string {
    const host = this.host.includes(":") ? `[${this.host}]` : this.host
    return `http://${host}:${this.port}`
  }

  /** The control API of the whole simulator: sites, every site's actions, every site's clock. */
  controlUrl(): string {
    return `${this.base()}/__sim`
  }

  /** The control API of one site (the same paths as a one-site simulator's, under this base). */
  siteControlUrl(name: string): string {
    return `${this.base()}/sites/${encodeURIComponent(name)}/__sim`
  }

  summaries(): Array<SiteSummary> {
    return [...this.servers.entries()].map(([name, server]) => ({
      name,
      kind: kindOf(server.config),
      control: server.controlUrl(),
      site: { hostname: server.config.siteHostname, ...server.siteUrls() },
      appliances: server.endpoints()
    }))
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    req.on("error", () => undefined)
    res.on("error", () => undefined)
    let url: URL
    try {
      url = new URL(req.url ?? "/", "http://sites")
    } catch {
      return send(res, json(400, { message: "Malformed request target." }))
    }
    const m = /^\/sites\/([^/]+)(\/__sim(?:\/.*)?)$/.exec(url.pathname)
    if (m) {
      const name = decodeURIComponent(m[1]!)
      const server = this.servers.get(name)
      if (server) return server.serve(undefined, req, res, m[2]!)
      return send(
        res,
        json(404, {
          message: `No simulated site "${name.slice(0, 80)}"; list them with GET ${this.controlUrl()}/sites.`
        })
      )
    }
    let body: Buffer
    try {
      body = await readBody(req, 64 * 1024)
    } catch (e) {
      if (e instanceof BodyTooLarge) {
        send(res, json(413, { message: "Request body too large." }))
        setImmediate(() => req.socket.destroy())
      } else req.socket.destroy()
      return
    }
    let reply: Reply
    try {
      reply = await this.route(req.method ?? "GET", url, body)
    } catch (e) {
      if (!(e instanceof SimRefusal)) throw e
      reply = json(e.status, { message: e.message })
    }
    send(res, reply)
  }

  private async route(method: string, url: URL, body: Buffer): Promise<Reply> {
    const path = url.pathname.replace(/\/+$/, "")
    const o = parseJsonObject(body)
    if (!o) throw new SimRefusal(400, "The control API takes a JSON object body.")
    if (method === "GET" && (path === "/__sim" || path === "/__sim/state"))
      return json(200, { control: this.controlUrl(), caPem: this.caPem, sites: this.summaries() })
    if (method === "GET" && path === "/__sim/sites") return json(200, this.summaries())
    if (method === "GET" && path === "/__sim/actions") {
      const v = url.searchParams.get("since")
      const since = v === null || v === "" ? 0 : Number(v)
      if (!Number.isInteger(since) || since < 0)
        throw new SimRefusal(422, "since must be the seq of an action (a non-negative integer), e.g. ?since=42.")
      const site = url.searchParams.get("site") ?? undefined
      if (site !== undefined && !this.servers.has(site))
        throw new SimRefusal(404, `No simulated site "${site.slice(0, 80)}".`)
      return json(200, this.actions.since(since, site))
    }
    if (method === "GET" && path === "/__sim/process") {
      const mem = process.memoryUsage()
      return json(200, { pid: process.pid, sites: this.servers.size, rss: mem.rss, heapUsed: mem.heapUsed })
    }
    // the clock of every site at once (each site's own clock stays at /sites/{name}/__sim/clock)
    if ((method === "PUT" && path === "/__sim/clock") || (method === "POST" && path === "/__sim/clock/advance")) {
      const key = path.endsWith("advance") ? "seconds" : "timeScale"
      const n = o[key]
      if (typeof n !== "number") throw new SimRefusal(422, `Field "${key}" must be a number.`)
      for (const server of this.servers.values()) {
        if (key === "seconds") server.world.advance(n)
        else server.world.setTimeScale(n)
        server.world.tick()
      }
      await Promise.all([...this.servers.values()].map((s) => s.settled()))
      return json(200, { sites: this.servers.size, [key]: n })
    }
    throw new SimRefusal(
      404,
      `No control endpoint ${method} ${path} for the whole simulator (GET /__sim/sites, /__sim/actions, /__sim/process; PUT /__sim/clock; POST /__sim/clock/advance). One site's control API is under /sites/{name}/__sim/.`
    )
  }
}
