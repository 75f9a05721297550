/** HTTP plumbing shared by the vendor and control handlers: bodies, replies, XML. */
import type { IncomingMessage, ServerResponse } from "node:http"

export const namespaces = {
  beyondtrust: "https://www.beyondtrust.com/namespaces/API/command",
  bomgar: "http://www.bomgar.com/namespaces/API/command"
} as const

export const escapeXml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) =>
    c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&apos;"
  )

/** `<name attr="…">text</name>`; `children` are already-serialized elements. */
export const el = (
  name: string,
  content: string | number | ReadonlyArray<string>,
  attrs: Record<string, string | number> = {}
): string => {
  const a = Object.entries(attrs)
    .map(([k, v]) => ` ${k}="${escapeXml(String(v))}"`)
    .join("")
  const inner = Array.isArray(content) ? content.join("") : escapeXml(String(content))
  return `<${name}${a}>${inner}</${name}>`
}

export const xmlDocument = (ns: string, root: string, children: ReadonlyArray<string> | string): string => {
  const inner = typeof children === "string" ? escapeXml(children) : children.join("")
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="${ns}">${inner}</${root}>\n`
}

export class BodyTooLarge extends Error {}

/** Reads the whole request body up to `limit` bytes. */
export const readBody = (req: IncomingMessage, limit: number): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? "0")
    if (Number.isFinite(declared) && declared > limit) {
      reject(new BodyTooLarge())
      return
    }
    const chunks: Array<Buffer> = []
    let size = 0
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size > limit) {
        req.off("data", onData)
        reject(new BodyTooLarge())
        return
      }
      chunks.push(chunk)
    }
    req.on("data", onData)
    req.on("end", () => resolve(Buffer.concat(chunks)))
    req.on("error", reject)
    req.on("aborted", () => reject(new Error("aborted")))
  })

export interface Reply {
  readonly status: number
  readonly headers?: Record<string, string | number>
  readonly body?: string | Buffer
}

export const send = (res: ServerResponse, reply: Reply): void => {
  if (res.headersSent || res.destroyed) return
  const body = reply.body ?? ""
  res.writeHead(reply.status, {
    "Content-Length": Buffer.byteLength(body),
    ...reply.headers
  })
  res.end(res.req.method === "HEAD" ? undefined : body)
}

export const json = (status: number, value: unknown, headers: Record<string, string | number> = {}): Reply => ({
  status,
  headers: { "Content-Type": "application/json", ...headers },
  body: JSON.stringify(value)
})

export const xml = (status: number, body: string, headers: Record<string, string | number> = {}): Reply => ({
  status,
  headers: { "Content-Type": "text/xml; charset=UTF-8", ...headers },
  body
})

export const text = (status: number, body: string, headers: Record<string, string | number> = {}): Reply => ({
  status,
  headers: { "Content-Type": "text/plain; charset=UTF-8", ...headers },
  body
})

/** Form (`application/x-www-form-urlencoded`) or query parameters; repeated keys keep the last value. */
export const formParams = (raw: string): Map<string, string> => {
  const out = new Map<string, string>()
  for (const [k, v] of new URLSearchParams(raw)) out.set(k, v)
  return out
}

export const parseJsonObject = (body: Buffer): Record<string, unknown> | undefined => {
  if (body.length === 0) return {}
  try {
    const v: unknown = JSON.parse(body.toString("utf8"))
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}
