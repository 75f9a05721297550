/** Test helpers: a plain HTTP client over node:http (real sockets) and tiny XML readers. */
import * as http from "node:http"
import * as https from "node:https"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { Simulator } from "../src/index.js"

export interface Res {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
  readonly bytes: number
}

export interface ReqOptions {
  readonly method?: string
  readonly headers?: Record<string, string>
  readonly body?: string | Buffer
  /** Trust this CA (HTTPS). */
  readonly ca?: string
  /** Count bytes instead of keeping the body. */
  readonly discardBody?: boolean
}

/** One request, `Connection: close` as the vendor asks. Rejects on socket errors (refused, reset). */
export const request = (url: string, options: ReqOptions = {}): Promise<Res> =>
  new Promise((resolve, reject) => {
    const u = new URL(url)
    const lib = u.protocol === "https:" ? https : http
    const req = lib.request(
      u,
      {
        method: options.method ?? "GET",
        headers: { Connection: "close", ...options.headers },
        ...(options.ca !== undefined ? { ca: options.ca } : {}),
        agent: false
      },
      (res) => {
        const chunks: Array<Buffer> = []
        let bytes = 0
        res.on("data", (c: Buffer) => {
          bytes += c.length
          if (!options.discardBody) chunks.push(c)
        })
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
            bytes
          })
        )
        res.on("error", reject)
        res.on("aborted", () => reject(new Error("aborted")))
      }
    )
    req.on("error", reject)
    if (options.body !== undefined) req.end(options.body)
    else req.end()
  })

export const req = (url: string, options: ReqOptions = {}): Effect.Effect<Res, Error> =>
  Effect.tryPromise({ try: () => request(url, options), catch: (e) => e as Error })

/** Mint a token for an account on one appliance. */
export const token = (base: string, account: Simulator.AccountCredentials): Effect.Effect<string, Error> =>
  req(`${base}/oauth2/token`, {
    method: "POST",
    headers: {
      Authorization: `Basic ${Buffer.from(`${account.clientId}:${Redacted.value(account.clientSecret)}`).toString("base64")}`,
      "Content-Type": "application/x-www-form-urlencoded"
    },
    body: "grant_type=client_credentials"
  }).pipe(
    Effect.flatMap((r) =>
      r.status === 200
        ? Effect.succeed((JSON.parse(r.body) as { access_token: string }).access_token)
        : Effect.fail(new Error(`token: HTTP ${r.status} ${r.body}`))
    )
  )

/** A bearer-authenticated GET/POST helper bound to one appliance. */
export const client = (base: string, account: Simulator.AccountCredentials) =>
  Effect.map(token(base, account), (t) => ({
    token: t,
    get: (path: string, headers: Record<string, string> = {}) =>
      req(`${base}${path}`, { headers: { Authorization: `Bearer ${t}`, ...headers } }),
    send: (method: string, path: string, body: string, contentType: string) =>
      req(`${base}${path}`, {
        method,
        headers: { Authorization: `Bearer ${t}`, "Content-Type": contentType },
        body
      })
  }))

/** Text of the first `<name …>text</name>`. */
export const tag = (xml: string, name: string): string | undefined => {
  const m = new RegExp(`<${name}(?:\\s[^>]*)?>([^<]*)</${name}>`).exec(xml)
  return m?.[1]
}

/** Root element name and its xmlns. */
export const root = (xml: string): { name: string; xmlns: string | undefined } => {
  const m = /<\?xml[^>]*\?>\s*<([A-Za-z_][\w-]*)([^>]*)>/.exec(xml)
  if (!m) throw new Error(`not an XML document: ${xml.slice(0, 100)}`)
  const ns = /xmlns="([^"]*)"/.exec(m[2]!)
  return { name: m[1]!, xmlns: ns?.[1] }
}

/** Child element names of the root, in order. */
export const childNames = (xml: string): Array<string> => {
  const r = root(xml)
  const inner = xml.slice(xml.indexOf(">", xml.indexOf(`<${r.name}`)) + 1, xml.lastIndexOf(`</${r.name}>`))
  const names: Array<string> = []
  let depth = 0
  for (const m of inner.matchAll(/<(\/?)([A-Za-z_][\w-]*)[^>]*?(\/?)>/g)) {
    if (m[1] === "/") depth--
    else {
      if (depth === 0) names.push(m[2]!)
      if (m[3] !== "/") depth++
    }
  }
  return names
}

export type Control = Simulator.SimulatorHandle["control"]

/** Read the appliance view from the control API. */
export const view = (sim: Simulator.SimulatorHandle, id: string) =>
  Effect.map(sim.control("GET", `/appliances/${id}`), (v) => v as Record<string, unknown> & { lifecycle: string })
