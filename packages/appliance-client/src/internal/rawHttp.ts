/**
 * A small HTTP/1.1 client for the one request that moves gigabytes: the
 * settings backup. The socket reads into one preallocated buffer (`onread`),
 * so body bytes reach the hash and the file without a per-chunk allocation
 * or any stream machinery: node:http reaches about 0.45 of curl's throughput
 * on our 2-core machines, this path about 1.0 (`bench/backup-download.ts`).
 *
 * It speaks only what a download needs: one request per connection
 * (`Connection: close`), a response head of at most 64 KiB, interim `1xx`
 * answers skipped, bodies framed by Content-Length, by the chunked
 * transfer-coding, or by the end of the connection. TLS trust is the same
 * as every other call's (`tls.ts`): the request is written only after the
 * peer's certificate passed.
 *
 * @internal
 */
import * as Net from "node:net"
import type { Readable } from "node:stream"
import * as Tls from "node:tls"
import { type TlsTrust, verifyPeer } from "./tls.js"

/**
 * Receives a body. `bytes` is valid only during the call (the read buffer is
 * reused): copy what must outlive it. @internal
 */
export interface BodySink {
  readonly data: (bytes: Buffer) => void
  readonly end: () => void
  readonly error: (cause: unknown) => void
  /**
   * Memory for the next socket read, when the sink has its own (then the
   * bytes it receives may lie in it, and need no copy). Called after each read.
   */
  readonly readBuffer?: (() => Buffer) | undefined
}

/** A response body that is read on demand. @internal */
export interface BodySource {
  /** Starts the flow (once). */
  readonly start: (sink: BodySink) => void
  /** Asks for no more reads after the current one. */
  readonly pause: () => void
  readonly resume: () => void
  /** Stops the flow and closes the connection; the sink hears nothing more. */
  readonly destroy: () => void
}

/** A response whose head has been read. @internal */
export interface RawResponse {
  readonly status: number
  /** Lower-case names; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body: BodySource
}

/** @internal */
export interface RawRequest {
  readonly url: URL
  readonly method: "GET" | "POST"
  readonly headers: Readonly<Record<string, string>>
  readonly body?: Buffer | undefined
  /** For `https:` URLs; `undefined` trusts the system CAs. */
  readonly trust: TlsTrust | undefined
  /** Size of the one read buffer (default 1 MiB; larger measured no faster). */
  readonly readBufferBytes?: number | undefined
}

/** The peer broke HTTP/1.1; `code` follows node's `HPE_*` names. @internal */
export class HttpProtocolError extends Error {
  constructor(
    readonly code: string,
    message: string
  ) {
    super(message)
  }
}

/** The connection ended before the response did. @internal */
export class PrematureClose extends Error {
  readonly code: string
  constructor(readonly bodyBytes: number) {
    super(`the connection closed after ${bodyBytes} body bytes`)
    this.code = `CLOSED ${bodyBytes} bytes`
  }
}

/** A body longer than `collect` accepts. @internal */
export class BodyTooLarge extends Error {
  constructor(readonly max: number) {
    super(`body over ${max} bytes`)
  }
}

const MAX_HEAD = 64 * 1024
const MAX_CHUNK_LINE = 4 * 1024

type Framing =
  { readonly _tag: "Length"; remaining: number } | { readonly _tag: "Chunked" } | { readonly _tag: "UntilClose" }

/** Parses a response head (without the blank line). */
const parseHead = (text: string): { status: number; headers: Record<string, string | undefined> } => {
  const lines = text.split("\r\n")
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? "")
  if (m === null) throw new HttpProtocolError("HPE_INVALID_CONSTANT", "not an HTTP/1.1 status line")
  const headers: Record<string, string | undefined> = {}
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":")
    if (colon <= 0 || /[\s]/.test(line.slice(0, colon))) {
      throw new HttpProtocolError("HPE_INVALID_HEADER_TOKEN", "malformed header line")
    }
    const name = line.slice(0, colon).toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
  }
  return { status: Number(m[1]), headers }
}

const framingOf = (status: number, headers: Record<string, string | undefined>, method: string): Framing => {
  if (method === "HEAD" || status === 204 || status === 304) return { _tag: "Length", remaining: 0 }
  const te = headers["transfer-encoding"]
  if (te !== undefined) {
    if (/(?:^|,)\s*chunked\s*$/i.test(te)) return { _tag: "Chunked" }
    return { _tag: "UntilClose" }
  }
  const cl = headers["content-length"]
  if (cl !== undefined) {
    const values = new Set(cl.split(",").map((v) => v.trim()))
    const [only] = values
    if (values.size !== 1 || only === undefined || !/^\d{1,15}$/.test(only)) {
      throw new HttpProtocolError("HPE_INVALID_CONTENT_LENGTH", "invalid Content-Length")
    }
    return { _tag: "Length", remaining: Number(only) }
  }
  return { _tag: "UntilClose" }
}

/**
 * Sends one request and calls back with the response head, or an error
 * (socket errors, `TlsRefused`, `HttpProtocolError`, `PrematureClose`).
 * Returns a function that aborts the request.
 *
 * @internal
 */
export const request = (req: RawRequest, callback: (error: unknown, response?: RawResponse) => void): (() => void) => {
  const { url } = req
  const secure = url.protocol === "https:"
  const hostname = url.hostname.replace(/^\[|\]$/g, "")
  const port = Number(url.port || (secure ? 443 : 80))
  const readBuffer = Buffer.allocUnsafe(req.readBufferBytes ?? 1024 * 1024)

  let settled = false
  let closed = false
  let sink: BodySink | undefined
  let paused = false
  // bytes of the body that arrived before `start` (copied out of the read buffer)
  let early: Array<Buffer> = []
  let head = Buffer.alloc(0)
  let inHead = true
  let framing: Framing = { _tag: "UntilClose" }
  let bodyBytes = 0
  // chunked state
  let chunkLeft = 0
  let chunkPhase: "size" | "data" | "dataEnd" | "trailer" = "size"
  let line = ""

  const settle = (error: unknown, response?: RawResponse) => {
    if (settled) return
    settled = true
    callback(error, response)
  }
  // how the body ended, kept for a caller that starts it afterwards
  let outcome: { readonly ok: true } | { readonly ok: false; readonly cause: unknown } | undefined
  const fail = (cause: unknown) => {
    if (closed) return
    closed = true
    outcome = { ok: false, cause }
    socket.destroy()
    if (!settled) return settle(cause)
    const s = sink
    sink = undefined
    s?.error(cause)
  }
  const complete = () => {
    if (closed) return
    closed = true
    outcome = { ok: true }
    socket.destroy()
    const s = sink
    sink = undefined
    s?.end()
  }
  const deliver = (bytes: Buffer) => {
    if (bytes.length === 0) return
    bodyBytes += bytes.length
    if (sink !== undefined) sink.data(bytes)
    else early.push(Buffer.from(bytes))
  }

  /** Body bytes in `bytes[from, to)`, framed; ends or fails the body when it is complete or broken. */
  const body = (bytes: Buffer, from: number, to: number): void => {
    let i = from
    while (i < to && !closed) {
      switch (framing._tag) {
        case "UntilClose":
          deliver(bytes.subarray(i, to))
          return
        case "Length": {
          const n = Math.min(framing.remaining, to - i)
          framing.remaining -= n
          deliver(bytes.subarray(i, i + n))
          i += n
          if (framing.remaining === 0) return complete()
          break
        }
        case "Chunked": {
          if (chunkPhase === "data") {
            const n = Math.min(chunkLeft, to - i)
            chunkLeft -= n
            deliver(bytes.subarray(i, i + n))
            i += n
            if (chunkLeft === 0) chunkPhase = "dataEnd"
            break
          }
          // line-oriented phases: size line, CRLF after data, trailer lines
          const nl = bytes.indexOf(10, i)
          const end = nl < 0 || nl >= to ? to : nl
          line += bytes.toString("latin1", i, end)
          if (line.length > MAX_CHUNK_LINE) {
            return fail(new HttpProtocolError("HPE_CHUNK_EXTENSIONS_OVERFLOW", "chunk line too long"))
          }
          if (nl < 0 || nl >= to) return
          i = nl + 1
          const text = line.replace(/\r$/, "")
          line = ""
          if (chunkPhase === "dataEnd") {
            if (text !== "") return fail(new HttpProtocolError("HPE_STRICT", "missing CRLF after chunk data"))
            chunkPhase = "size"
          } else if (chunkPhase === "size") {
            const m = /^([0-9a-fA-F]{1,12})\s*(?:;.*)?$/.exec(text)
            if (m === null) return fail(new HttpProtocolError("HPE_INVALID_CHUNK_SIZE", "invalid chunk size"))
            chunkLeft = parseInt(m[1]!, 16)
            chunkPhase = chunkLeft === 0 ? "trailer" : "data"
          } else if (text === "") {
            return complete()
          }
          break
        }
      }
    }
  }

  const onHead = (bytes: Buffer, n: number): void => {
    head = head.length === 0 ? Buffer.from(bytes.subarray(0, n)) : Buffer.concat([head, bytes.subarray(0, n)])
    for (;;) {
      const endOfHead = head.indexOf("\r\n\r\n")
      if (endOfHead < 0) {
        if (head.length > MAX_HEAD) fail(new HttpProtocolError("HPE_HEADER_OVERFLOW", "response head over 64 KiB"))
        return
      }
      if (endOfHead > MAX_HEAD) return fail(new HttpProtocolError("HPE_HEADER_OVERFLOW", "response head over 64 KiB"))
      const parsed = parseHead(head.toString("latin1", 0, endOfHead))
      const rest = head.subarray(endOfHead + 4)
      if (parsed.status >= 100 && parsed.status < 200) {
        // an interim answer (100 Continue, 103 Early Hints): the real one follows
        head = Buffer.from(rest)
        continue
      }
      framing = framingOf(parsed.status, parsed.headers, req.method)
      inHead = false
      head = Buffer.alloc(0)
      // hold the body until the caller starts it
      paused = true
      settle(null, { status: parsed.status, headers: parsed.headers, body: source })
      body(rest, 0, rest.length)
      if (framing._tag === "Length" && framing.remaining === 0 && !closed) complete()
      return
    }
  }

  const source: BodySource = {
    start: (s) => {
      if (sink !== undefined) return
      sink = s
      const held = early
      early = []
      for (const b of held) s.data(b)
      if (closed) {
        // the body ended (or failed) before start: replay how
        sink = undefined
        if (outcome?.ok === true) s.end()
        else if (outcome !== undefined) s.error(outcome.cause)
        return
      }
      source.resume()
    },
    pause: () => {
      paused = true
    },
    resume: () => {
      if (!paused || closed) return
      paused = false
      socket.resume()
    },
    destroy: () => {
      sink = undefined
      if (closed) return
      closed = true
      socket.destroy()
    }
  }
  const onread = {
    // called after each read for the memory of the next one
    buffer: (): Buffer => sink?.readBuffer?.() ?? readBuffer,
    callback: (n: number, bytes: Buffer): boolean => {
      try {
        if (inHead) onHead(bytes, n)
        else body(bytes, 0, n)
      } catch (e) {
        fail(e)
      }
      return !paused && !closed
    }
  }

  const sendRequest = () => {
    const lines = [`${req.method} ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, "Connection: close"]
    for (const [k, v] of Object.entries(req.headers)) {
      if (!/^(host|connection|content-length|transfer-encoding)$/i.test(k)) lines.push(`${k}: ${v}`)
    }
    if (req.body !== undefined || req.method === "POST") lines.push(`Content-Length: ${req.body?.length ?? 0}`)
    socket.write(`${lines.join("\r\n")}\r\n\r\n`)
    if (req.body !== undefined && req.body.length > 0) socket.write(req.body)
  }

  const socket: Net.Socket = secure
    ? Tls.connect({
        host: hostname,
        port,
        ...(req.trust?.servername !== undefined
          ? { servername: req.trust.servername }
          : Net.isIP(hostname) === 0
            ? { servername: hostname }
            : {}),
        ...(req.trust?.caPem !== undefined ? { ca: req.trust.caPem } : {}),
        // verified below, to report what was seen (as every other call)
        rejectUnauthorized: false,
        ALPNProtocols: ["http/1.1"],
        // tls.connect reads into a static buffer too (nodejs/node#35753, Node ≥ 15); @types/node lacks the option
        onread
      } as Tls.ConnectionOptions)
    : Net.connect({ host: hostname, port, onread })

  socket.once(secure ? "secureConnect" : "connect", () => {
    if (secure) {
      const refusal = verifyPeer(socket as Tls.TLSSocket, req.trust)
      if (refusal !== undefined) return fail(refusal)
    }
    sendRequest()
  })
  socket.on("error", fail)
  socket.once("end", () => {
    if (!inHead && framing._tag === "UntilClose") return complete()
    fail(
      inHead
        ? new HttpProtocolError("HPE_INCOMPLETE", "the connection closed before a complete response head")
        : new PrematureClose(bodyBytes)
    )
  })
  socket.once("close", () => fail(new PrematureClose(bodyBytes)))

  return () => {
    sink = undefined
    if (closed) return
    closed = true
    socket.destroy()
  }
}

/** A node Readable as a body source (the dispatcher path). @internal */
export const fromReadable = (readable: Readable): BodySource => {
  let sink: BodySink | undefined
  let bytes = 0
  const detach = () => {
    readable.off("data", onData)
    readable.off("end", onEnd)
    readable.off("error", onError)
    readable.off("close", onClose)
    sink = undefined
  }
  const onData = (chunk: Buffer) => {
    bytes += chunk.length
    sink?.data(chunk)
  }
  const onEnd = () => {
    const s = sink
    detach()
    s?.end()
  }
  const onError = (e: unknown) => {
    const s = sink
    detach()
    s?.error(e)
  }
  const onClose = () => onError(new PrematureClose(bytes))
  return {
    start: (s) => {
      sink = s
      readable.on("data", onData)
      readable.once("end", onEnd)
      readable.once("error", onError)
      readable.once("close", onClose)
    },
    pause: () => readable.pause(),
    resume: () => readable.resume(),
    destroy: () => {
      detach()
      readable.destroy()
    }
  }
}

/**
 * Reads at most `max` bytes of a body (error answers). More is `BodyTooLarge`.
 *
 * @internal
 */
export const collect = (source: BodySource, max: number, callback: (error: unknown, bytes?: Buffer) => void): void => {
  const parts: Array<Buffer> = []
  let size = 0
  let done = false
  source.start({
    data: (bytes) => {
      if (done) return
      size += bytes.length
      if (size > max) {
        done = true
        source.destroy()
        return callback(new BodyTooLarge(max))
      }
      parts.push(Buffer.from(bytes))
    },
    end: () => {
      if (done) return
      done = true
      callback(null, Buffer.concat(parts, size))
    },
    error: (e) => {
      if (done) return
      done = true
      callback(e)
    }
  })
}
