/**
 * The sockets: one HTTP and one HTTPS listener per appliance, a control
 * listener, and the site front (a TCP forwarder that follows the shared IP,
 * DNS or NAT record and refuses connections when nothing holds the site).
 */
import { servedCertificate } from "./certificates.js"
import * as http from "node:http"
import * as https from "node:https"
import * as net from "node:net"
import type { AddressInfo } from "node:net"
import type { SimConfig } from "../SimConfig.js"
import type { ActionLog } from "./actions.js"
import type { Ca, Pki, ServedCert } from "./cert.js"
import { defaultCertPem, defaultKeyPem, generatePki } from "./cert.js"
import { handleControl } from "./control.js"
import { BodyTooLarge, json, readBody, send, text } from "./http.js"
import { handleVendor } from "./vendor.js"
import type { Appliance } from "./model.js"
import { World } from "./world.js"

export interface Endpoint {
  readonly id: string
  readonly hostname: string
  readonly guid: string
  readonly httpUrl: string
  readonly httpsUrl: string
  /** Lower-case hex SHA-256 of the DER leaf the HTTPS listener serves now. */
  readonly certificateSha256: string
}

const portOf = (s: net.Server): number => (s.address() as AddressInfo).port

const listen = (server: net.Server, host: string, port: number): Promise<void> =>
  new Promise((resolve, reject) => {
    const onError = (e: Error): void => {
      server.off("listening", onListening)
      reject(e)
    }
    const onListening = (): void => {
      server.off("error", onError)
      resolve()
    }
    server.once("error", onError)
    server.once("listening", onListening)
    server.listen(port, host)
  })

const closeServer = (server: net.Server): Promise<void> =>
  new Promise((resolve) => {
    if (!server.listening) return resolve()
    server.close(() => resolve())
    if (server instanceof http.Server) server.closeAllConnections()
  })

/** Tracks sockets so a close is immediate. */
const track = (server: net.Server): Set<net.Socket> => {
  const sockets = new Set<net.Socket>()
  server.on("connection", (s: net.Socket) => {
    sockets.add(s)
    s.on("close", () => sockets.delete(s))
  })
  return sockets
}

/** The listeners of one appliance, closed while it is powered off or deleted (MIGRATE-9). */
interface ApplianceListeners {
  readonly plain: net.Server
  readonly secure: https.Server
  readonly sockets: Set<net.Socket>
  listening: boolean
}

export class SimServer {
  readonly world: World
  private readonly servers: Array<{ server: net.Server; sockets: Set<net.Socket> }> = []
  private readonly ports = new Map<string, { http: number; https: number }>()
  private readonly secureServers = new Map<string, { server: https.Server; certId: string }>()
  private readonly listeners = new Map<string, ApplianceListeners>()
  private listenChain: Promise<void> = Promise.resolve()
  private controlPort = 0
  /** Where the control API is mounted when this site has no control listener of its own (many-site simulator). */
  private mountedControlUrl: string | undefined
  private timer: ReturnType<typeof setTimeout> | undefined
  private closed = false
  readonly siteFront: SiteFront
  private readonly tls: { cert: string; key: string }
  /** PEM a client should trust: the generated root CA, or the explicit `tls` certificate. */
  readonly caPem: string
  /** What `certificatePem` reports: the served shared leaf + intermediate + root, or the explicit `tls` certificate. */
  readonly certificatePem: string

  /**
   * Generates the certificates (unless `config.tls` is set), then builds the server. A many-site
   * simulator passes its CA and site-member leaf (`shared`) and its action log.
   */
  static async create(
    config: SimConfig,
    shared?: { readonly ca: Ca; readonly leaf: ServedCert; readonly actions: ActionLog }
  ): Promise<SimServer> {
    if (config.tls) return new SimServer(config, undefined, shared?.actions)
    const appliances = config.appliances.map((a) => ({ id: a.id, hostname: a.hostname, fresh: a.fresh === true }))
    const pki = await generatePki(
      { siteHostname: config.siteHostname, appliances },
      {
        ca: shared?.ca,
        shared: shared?.leaf,
        // a site of many gets its site certificate only when it can migrate (it has a factory-fresh box)
        siteLeaf: shared === undefined || appliances.some((a) => a.fresh),
        perApplianceLeaves: config.certificateLayout === "per-appliance" ? "all" : "fresh"
      }
    )
    return new SimServer(config, pki, shared?.actions)
  }

  constructor(
    readonly config: SimConfig,
    readonly pki?: Pki,
    actions?: ActionLog
  ) {
    this.tls = config.tls
      ? { cert: config.tls.cert, key: config.tls.key }
      : pki
        ? { cert: pki.shared.cert, key: pki.shared.key }
        : { cert: defaultCertPem, key: defaultKeyPem }
    this.caPem = config.tls ? config.tls.cert : pki ? pki.rootPem : defaultCertPem
    this.certificatePem = config.tls ? config.tls.cert : pki ? pki.shared.cert + pki.rootPem : defaultCertPem
    const perAppliance = new Map<string, { cert: string; key: string }>()
    if (pki && !config.tls)
      for (const a of config.appliances)
        if (a.fresh === true || config.certificateLayout === "per-appliance") {
          const c = pki.perAppliance.get(a.id)
          if (c) perAppliance.set(a.id, c)
        }
    this.world = new World(config, this.tls, perAppliance, actions)
    this.siteFront = new SiteFront(this.world, config.host, (a, secure) => {
      const p = this.ports.get(a.spec.id)
      return p ? (secure ? p.https : p.http) : 0
    })
  }

  /**
   * Opens the listeners. `mountedControlUrl`: the control API of this site is served by a listener
   * shared with other sites at that URL (and on its appliance listeners), not by one of its own.
   */
  async start(mountedControlUrl?: string): Promise<void> {
    this.mountedControlUrl = mountedControlUrl
    const host = this.config.host
    let next = this.config.basePort
    const port = (): number => (next > 0 ? next++ : 0)
    for (const a of this.world.appliances.values()) {
      const handler = this.handler(a)
      const plain = http.createServer(
        { requestTimeout: 120_000, headersTimeout: 30_000, maxHeaderSize: 16 * 1024 },
        handler
      )
      const served = servedCertificate(a)
      const secure = https.createServer(
        {
          cert: served.certPem,
          key: served.keyPem ?? this.tls.key,
          requestTimeout: 120_000,
          headersTimeout: 30_000,
          maxHeaderSize: 16 * 1024
        },
        handler
      )
      const sockets = new Set<net.Socket>()
      for (const s of [plain, secure]) {
        this.guard(s)
        const tracked = track(s)
        s.on("connection", (c: net.Socket) => {
          sockets.add(c)
          c.on("close", () => sockets.delete(c))
        })
        this.servers.push({ server: s, sockets: tracked })
        await listen(s, host, port())
      }
      this.ports.set(a.spec.id, { http: portOf(plain), https: portOf(secure) })
      this.secureServers.set(a.spec.id, { server: secure, certId: served.id })
      this.listeners.set(a.spec.id, { plain, secure, sockets, listening: true })
    }
    const sitePorts = { http: port(), https: port() }
    if (mountedControlUrl === undefined) {
      const control = http.createServer({ requestTimeout: 60_000, headersTimeout: 30_000 }, this.handler(undefined))
      this.guard(control)
      this.servers.push({ server: control, sockets: track(control) })
      await listen(control, host, port())
      this.controlPort = portOf(control)
    }
    await this.siteFront.start(sitePorts)
    this.world.onChange(() => {
      this.arm()
      this.reconcileListeners()
      this.siteFront.reconcile()
      this.serveDefaultCertificates()
    })
    this.world.log(undefined, "start", "Simulator started")
    this.world.tick()
  }

  async stop(): Promise<void> {
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    await this.listenChain
    await this.siteFront.stop()
    await Promise.all(
      this.servers.map(async ({ server, sockets }) => {
        const done = closeServer(server)
        for (const s of sockets) s.destroy()
        await done
      })
    )
  }

  endpoints(): Array<Endpoint> {
    const host = this.config.host.includes(":") ? `[${this.config.host}]` : this.config.host
    const world = this.world
    return [...world.appliances.values()].map((a) => {
      const p = this.ports.get(a.spec.id)!
      return {
        id: a.spec.id,
        hostname: a.hostname,
        guid: a.guid,
        httpUrl: `http://${host}:${p.http}`,
        httpsUrl: `https://${host}:${p.https}`,
        get certificateSha256(): string {
          return servedCertificate(a).fingerprint256.replace(/:/g, "").toLowerCase()
        }
      }
    })
  }

  /** Close the listeners of powered-off and deleted appliances; open them again on power-on. */
  private reconcileListeners(): void {
    this.listenChain = this.listenChain.then(async () => {
      if (this.closed) return
      for (const [id, l] of this.listeners) {
        const a = this.world.appliances.get(id)
        const off = a?.lifecycle._tag === "PoweredOff" || a?.lifecycle._tag === "Deleted"
        if (off && l.listening) {
          l.listening = false
          const done = Promise.all([closeServer(l.plain), closeServer(l.secure)])
          for (const s of l.sockets) s.destroy()
          await done
          this.world.log(id, "power", "Listeners closed: connections to this appliance are refused")
        } else if (!off && !l.listening) {
          const p = this.ports.get(id)!
          try {
            await listen(l.plain, this.config.host, p.http)
            await listen(l.secure, this.config.host, p.https)
            l.listening = true
          } catch (e) {
            this.world.log(id, "error", `Could not listen again: ${e instanceof Error ? e.message : String(e)}`)
          }
        }
      }
    })
  }

  /** Resolves once listeners and the site front follow the latest state. */
  async settled(): Promise<void> {
    await this.listenChain
    await this.siteFront.settled()
  }

  controlUrl(): string {
    if (this.mountedControlUrl !== undefined) return this.mountedControlUrl
    const host = this.config.host.includes(":") ? `[${this.config.host}]` : this.config.host
    return `http://${host}:${this.controlPort}/__sim`
  }

  siteUrls(): { httpUrl: string; httpsUrl: string } {
    const host = this.config.host.includes(":") ? `[${this.config.host}]` : this.config.host
    return {
      httpUrl: `http://${host}:${this.siteFront.ports.http}`,
      httpsUrl: `https://${host}:${this.siteFront.ports.https}`
    }
  }

  /** HTTPS listeners serve each appliance's default certificate (when its private key is on the appliance). */
  private serveDefaultCertificates(): void {
    for (const [id, entry] of this.secureServers) {
      const a = this.world.appliances.get(id)
      if (!a) continue
      const served = servedCertificate(a)
      if (served.id === entry.certId) continue
      entry.certId = served.id
      entry.server.setSecureContext({ cert: served.certPem, key: served.keyPem ?? this.tls.key })
      this.world.log(id, "certificate", `HTTPS now serves ${served.subject}`)
    }
  }

  /** One timer for the next due simulated event. */
  private arm(): void {
    if (this.closed) return
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    const delay = this.world.realDelayToNextEvent()
    if (delay === undefined) return
    this.timer = setTimeout(
      () => {
        this.timer = undefined
        this.world.tick()
      },
      Math.min(2 ** 31 - 1, Math.max(5, Math.ceil(delay)))
    )
    this.timer.unref()
  }

  private guard(server: net.Server): void {
    server.on("clientError", (err: NodeJS.ErrnoException, socket: net.Socket) => {
      if (!socket.writable || socket.destroyed) return void socket.destroy()
      const tooBig = err.code === "HPE_HEADER_OVERFLOW"
      const body = tooBig ? '{"message":"Request headers too large"}' : '{"message":"Malformed HTTP request"}'
      socket.end(
        `HTTP/1.1 ${tooBig ? "431 Request Header Fields Too Large" : "400 Bad Request"}\r\nConnection: close\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
      )
    })
    server.on("error", (e: Error) => this.world.log(undefined, "error", `Listener error: ${e.message}`))
    // TLS handshake failures of https servers
    server.on("tlsClientError", (_e: Error, socket: net.Socket) => socket.destroy())
  }

  private handler(a: Appliance | undefined) {
    return (req: http.IncomingMessage, res: http.ServerResponse): void => this.serve(a, req, res)
  }

  /** Answers one request (vendor or control API) as received by appliance `a`'s listener, or the control listener. */
  serve(a: Appliance | undefined, req: http.IncomingMessage, res: http.ServerResponse, path?: string): void {
    this.handle(a, req, res, path).catch((e: unknown) => {
      this.world.log(a?.spec.id, "error", `Internal error: ${e instanceof Error ? e.message : String(e)}`)
      if (!res.headersSent) send(res, json(500, { message: "Internal simulator error; see GET /__sim/events." }))
      else res.destroy()
    })
  }

  /** `pathOverride`: the path within this site when a shared listener received the request under a prefix. */
  private async handle(
    a: Appliance | undefined,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    pathOverride?: string
  ): Promise<void> {
    req.on("error", () => undefined)
    res.on("error", () => undefined)
    this.world.tick()
    let url: URL
    try {
      const hostHeader = req.headers.host ?? ""
      const origin = `${(req.socket as { encrypted?: boolean }).encrypted === true ? "https" : "http"}://${
        /^[A-Za-z0-9.\-:[\]]{1,300}$/.test(hostHeader) ? hostHeader : "localhost"
      }`
      url = new URL(req.url ?? "/", origin)
      if (pathOverride !== undefined) url.pathname = pathOverride
    } catch {
      return send(res, json(400, { message: "Malformed request target." }))
    }
    const path = url.pathname
    if (path === "/__sim" || path.startsWith("/__sim/")) {
      const body = await this.body(req, res)
      if (body === undefined) return
      const reply = handleControl(
        this.world,
        { describe: () => this.describe(), self: a?.spec.id },
        {
          method: req.method ?? "GET",
          path,
          url,
          body
        }
      )
      this.world.tick()
      await this.settled()
      send(res, reply)
      return
    }
    if (!a)
      return send(
        res,
        json(404, { message: "This is the simulator's control listener: vendor paths live on the appliance URLs." })
      )
    if (a.lifecycle._tag === "Rebooting") {
      req.socket.destroy()
      return
    }
    if (this.world.consumeFault(a, "drop", path)) {
      req.socket.destroy()
      return
    }
    const latency = a.faults.find(
      (f) => f.kind === "latency" && (f.pathPrefix === undefined || path.startsWith(f.pathPrefix))
    )
    if (latency) {
      const ms = latency.latencyMs
      this.world.consumeFault(a, "latency", path)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms)
        res.on("close", () => {
          clearTimeout(t)
          resolve()
        })
      })
      if (res.destroyed) return
    }
    // an older appliance without a path (e.g. no /api/command/v2): the web server's plain 404 page
    if (this.world.consumeFault(a, "http404", path))
      return send(res, {
        status: 404,
        headers: { "Content-Type": "text/html" },
        body: "<html><body><h1>404 Not Found</h1></body></html>"
      })
    if (this.world.consumeFault(a, "http500", path))
      return send(
        res,
        path.startsWith("/api/command") && !path.startsWith("/api/command/v2")
          ? {
              status: 500,
              headers: { "Content-Type": "text/html" },
              body: "<html><body><h1>500 Internal Server Error</h1></body></html>"
            }
          : json(500, { message: "Internal Server Error (injected fault)." })
      )
    if (a.lifecycle._tag === "Installing")
      return send(
        res,
        text(503, "The appliance is being updated; the site is unavailable. Try again later.", { "Retry-After": 60 })
      )
    const body = await this.body(req, res)
    if (body === undefined) return
    const truncate = path === "/api/backup" && this.world.consumeFault(a, "truncate", path)
    handleVendor(this.world, a, { req, res, url, body, truncate })
  }

  private async body(req: http.IncomingMessage, res: http.ServerResponse): Promise<Buffer | undefined> {
    try {
      return await readBody(req, this.config.maxBodyBytes)
    } catch (e) {
      if (e instanceof BodyTooLarge) {
        res.setHeader("Connection", "close")
        send(res, json(413, { message: `Request body too large (limit ${this.config.maxBodyBytes} bytes).` }))
        req.resume()
        setImmediate(() => req.socket.destroy())
      } else req.socket.destroy()
      return undefined
    }
  }

  describe(): Record<string, unknown> {
    return {
      control: this.controlUrl(),
      site: { ...this.siteUrls(), listening: this.siteFront.listening },
      endpoints: this.endpoints()
    }
  }
}

/** TCP forwarder for the site address: shared IP holder, DNS target or NAT target. */
export class SiteFront {
  readonly ports = { http: 0, https: 0 }
  private readonly plain: net.Server
  private readonly secure: net.Server
  private readonly conns = new Set<net.Socket>()
  private chain: Promise<void> = Promise.resolve()
  private key = ""
  private rr = 0
  private stopped = false
  listening = false

  constructor(
    private readonly world: World,
    private readonly host: string,
    private readonly portFor: (a: Appliance, secure: boolean) => number
  ) {
    this.plain = net.createServer((s) => this.forward(s, false))
    this.secure = net.createServer((s) => this.forward(s, true))
    for (const s of [this.plain, this.secure]) s.on("error", () => undefined)
  }

  async start(ports: { http: number; https: number }): Promise<void> {
    await listen(this.plain, this.host, ports.http)
    await listen(this.secure, this.host, ports.https)
    this.ports.http = portOf(this.plain)
    this.ports.https = portOf(this.secure)
    this.listening = true
    this.key = this.currentKey()
    this.reconcile()
    await this.chain
  }

  private currentKey(): string {
    return this.world
      .siteTargets()
      .targets.map((a) => a.spec.id)
      .join(",")
  }

  /** Follow the routing: refuse connections when nothing holds the site, cut proxied ones when it moves. */
  reconcile(): void {
    this.chain = this.chain.then(async () => {
      if (this.stopped) return
      const key = this.currentKey()
      if (key !== this.key) {
        this.key = key
        for (const c of this.conns) c.destroy()
      }
      if (key === "" && this.listening) {
        this.listening = false
        await Promise.all([closeServer(this.plain), closeServer(this.secure)])
      } else if (key !== "" && !this.listening) {
        try {
          await listen(this.plain, this.host, this.ports.http)
          await listen(this.secure, this.host, this.ports.https)
          this.listening = true
        } catch (e) {
          this.world.log(
            undefined,
            "error",
            `Site front could not listen again: ${e instanceof Error ? e.message : String(e)}`
          )
        }
      }
    })
  }

  /** Resolves once the listeners follow the latest routing. */
  settled(): Promise<void> {
    return this.chain
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.chain
    for (const c of this.conns) c.destroy()
    await Promise.all([closeServer(this.plain), closeServer(this.secure)])
    this.listening = false
  }

  private forward(client: net.Socket, secure: boolean): void {
    client.on("error", () => undefined)
    this.world.tick()
    const targets = this.world.siteTargets().targets
    if (targets.length === 0) {
      client.destroy()
      return
    }
    const target = targets[this.rr++ % targets.length]!
    const upstream = net.connect(this.portFor(target, secure), this.host)
    upstream.on("error", () => client.destroy())
    client.on("close", () => upstream.destroy())
    upstream.on("close", () => client.destroy())
    this.conns.add(client)
    client.on("close", () => this.conns.delete(client))
    client.pipe(upstream)
    upstream.pipe(client)
  }
}
