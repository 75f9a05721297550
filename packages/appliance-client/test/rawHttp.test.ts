/**
 * The backup's own HTTP/1.1 reader over real sockets: a local TCP server on
 * port 0 answers with hand-written bytes (split at awkward places), and a
 * TLS server with the simulator's site certificate checks the trust rules.
 */
import { describe, expect, it } from "@effect/vitest"
import { Simulator } from "@sra-upgrade/simulator"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Net from "node:net"
import * as Tls from "node:tls"
import * as RawHttp from "../src/internal/rawHttp.js"
import { TlsRefused } from "../src/internal/tls.js"

interface Seen {
  /** Everything each connection sent, as text. */
  readonly requests: Array<string>
}

/** A TCP (or TLS) server on 127.0.0.1:0 that answers each connection with `answer` once the request head is in. */
const serve = (
  answer: (socket: Net.Socket, request: string) => void,
  tls?: { readonly cert: string; readonly key: string }
) =>
  Effect.acquireRelease(
    Effect.async<{ readonly port: number; readonly seen: Seen; readonly server: Net.Server }>((resume) => {
      const seen: Seen = { requests: [] }
      const onSocket = (socket: Net.Socket) => {
        const index = seen.requests.push("") - 1
        socket.on("error", () => undefined)
        socket.on("data", (d: Buffer) => {
          const before = seen.requests[index]!
          seen.requests[index] = before + d.toString("latin1")
          const text = seen.requests[index]!
          const end = text.indexOf("\r\n\r\n")
          if (end < 0 || before.includes("\r\n\r\n")) return
          const length = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? 0)
          if (text.length - end - 4 >= length) answer(socket, text)
        })
      }
      const server = tls ? Tls.createServer({ cert: tls.cert, key: tls.key }, onSocket) : Net.createServer(onSocket)
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({ port: (server.address() as Net.AddressInfo).port, seen, server }))
      )
    }),
    ({ server }) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
  )

/** Writes `parts` one by one, each on a later turn of the event loop, then `end`s or destroys. */
const sendParts = (socket: Net.Socket, parts: ReadonlyArray<string | Buffer>, then: "end" | "destroy" | "keep") => {
  const next = (i: number): void => {
    if (i === parts.length) {
      if (then === "end") socket.end()
      else if (then === "destroy") socket.destroy()
      return
    }
    socket.write(parts[i]!, () => setImmediate(() => next(i + 1)))
  }
  next(0)
}

interface Got {
  readonly status: number
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body: Buffer
}

const get = (url: string, over?: Partial<RawHttp.RawRequest>): Effect.Effect<Got, { readonly cause: unknown }> =>
  Effect.async((resume) => {
    const abort = RawHttp.request(
      { url: new URL(url), method: "GET", headers: { accept: "*/*" }, trust: undefined, ...over },
      (error, response) => {
        if (error !== null) return resume(Effect.fail({ cause: error }))
        RawHttp.collect(response!.body, 1 << 24, (e, body) =>
          resume(
            e === null
              ? Effect.succeed({ status: response!.status, headers: response!.headers, body: body! })
              : Effect.fail({ cause: e })
          )
        )
      }
    )
    return Effect.sync(abort)
  })

const codeOf = (e: { readonly cause: unknown }) => (e.cause as { code?: string }).code

describe("RawHttp (backup reader)", () => {
  it.scopedLive("PREP-1: Content-Length body, head split across reads, request written as HTTP/1.1", () =>
    Effect.gen(function* () {
      const body = Buffer.from(Array.from({ length: 70_001 }, (_, i) => i % 253))
      const { port, seen } = yield* serve((socket) =>
        sendParts(
          socket,
          [
            "HTTP/1.1 200 OK\r\nContent-Ty",
            "pe: application/octet-stream\r\nX-Twice: a\r\nX-Twice: b\r\nContent-Length: 70001\r",
            "\n\r\n",
            body.subarray(0, 3),
            body.subarray(3)
          ],
          "keep"
        )
      )
      const got = yield* get(`http://127.0.0.1:${port}/api/backup?x=1`, {
        method: "POST",
        headers: { authorization: "Bearer t", "content-type": "application/json" },
        body: Buffer.from('{"password":"p"}')
      })
      expect(got.status).toBe(200)
      expect(got.headers["content-type"]).toBe("application/octet-stream")
      expect(got.headers["x-twice"]).toBe("a, b")
      expect(got.body.equals(body)).toBe(true)
      const request = seen.requests[0]!
      expect(request.startsWith("POST /api/backup?x=1 HTTP/1.1\r\n")).toBe(true)
      expect(request).toContain(`Host: 127.0.0.1:${port}\r\n`)
      expect(request).toContain("Connection: close\r\n")
      expect(request).toContain("authorization: Bearer t\r\n")
      expect(request).toContain("Content-Length: 16\r\n")
      expect(request.endsWith('\r\n\r\n{"password":"p"}')).toBe(true)
    })
  )

  it.scopedLive("PREP-1: chunked body with extensions and trailers; interim 100 Continue skipped", () =>
    Effect.gen(function* () {
      const { port } = yield* serve((socket) =>
        sendParts(
          socket,
          [
            "HTTP/1.1 100 Continue\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            "5;name=value\r\nhel",
            "lo\r\n",
            "1",
            "0\r\n0123456789abcdef\r\n0\r\nX-Trailer: yes\r\n",
            "\r\n"
          ],
          "keep"
        )
      )
      const got = yield* get(`http://127.0.0.1:${port}/`)
      expect(got.status).toBe(200)
      expect(got.body.toString()).toBe("hello0123456789abcdef")
    })
  )

  it.scopedLive("PREP-1: a body without length ends with the connection", () =>
    Effect.gen(function* () {
      const { port } = yield* serve((socket) => sendParts(socket, ["HTTP/1.0 200 OK\r\n\r\nabc", "def"], "end"))
      const got = yield* get(`http://127.0.0.1:${port}/`)
      expect(got.body.toString()).toBe("abcdef")
    })
  )

  it.scopedLive("PREP-1: a body cut before Content-Length or before the last chunk is an error, never an end", () =>
    Effect.gen(function* () {
      const short = yield* serve((socket) =>
        sendParts(socket, ["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", "12345"], "end")
      )
      const e1 = yield* Effect.flip(get(`http://127.0.0.1:${short.port}/`))
      expect(e1.cause).toBeInstanceOf(RawHttp.PrematureClose)
      expect(codeOf(e1)).toBe("CLOSED 5 bytes")
      const chunked = yield* serve((socket) =>
        sendParts(socket, ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "a\r\n12345"], "destroy")
      )
      const e2 = yield* Effect.flip(get(`http://127.0.0.1:${chunked.port}/`))
      expect(e2.cause).toBeInstanceOf(RawHttp.PrematureClose)
      const noHead = yield* serve((socket) => sendParts(socket, ["HTTP/1.1 200 OK\r\nContent-"], "end"))
      const e3 = yield* Effect.flip(get(`http://127.0.0.1:${noHead.port}/`))
      expect(codeOf(e3)).toBe("HPE_INCOMPLETE")
    })
  )

  it.scopedLive("hostile heads and framing end in typed protocol errors", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [string, ReadonlyArray<string | Buffer>]> = [
        ["HPE_INVALID_CONSTANT", ["SSH-2.0-OpenSSH_9.2\r\n\r\n"]],
        ["HPE_INVALID_HEADER_TOKEN", ["HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"]],
        ["HPE_INVALID_CONTENT_LENGTH", ["HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n12345"]],
        ["HPE_INVALID_CONTENT_LENGTH", ["HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"]],
        ["HPE_INVALID_CHUNK_SIZE", ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]],
        ["HPE_STRICT", ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY\r\n"]],
        ["HPE_CHUNK_EXTENSIONS_OVERFLOW", ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "1".repeat(5000)]],
        ["HPE_HEADER_OVERFLOW", ["HTTP/1.1 200 OK\r\n", `X-Junk: ${"j".repeat(70_000)}`]]
      ]
      for (const [code, parts] of cases) {
        const { port } = yield* serve((socket) => sendParts(socket, parts, "keep"))
        const error = yield* Effect.flip(get(`http://127.0.0.1:${port}/`))
        expect(error.cause, code).toBeInstanceOf(RawHttp.HttpProtocolError)
        expect(codeOf(error), parts[0]!.toString().slice(0, 40)).toBe(code)
      }
    })
  )

  it.scopedLive("PREP-1: a body that arrived before start is held, then delivered in order", () =>
    Effect.gen(function* () {
      const { port } = yield* serve((socket) =>
        sendParts(socket, ["HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc", "def"], "keep")
      )
      const response = yield* Effect.async<RawHttp.RawResponse>((resume) => {
        RawHttp.request(
          { url: new URL(`http://127.0.0.1:${port}/`), method: "GET", headers: {}, trust: undefined },
          (_e, r) => resume(Effect.succeed(r!))
        )
      })
      // the head and the first body bytes come in one read, before anyone listens; reads then pause
      yield* Effect.yieldNow()
      const parts: Array<string> = []
      const ended = yield* Effect.async<boolean>((resume) =>
        response.body.start({
          data: (b) => parts.push(b.toString()),
          end: () => resume(Effect.succeed(true)),
          error: () => resume(Effect.succeed(false))
        })
      )
      expect(ended).toBe(true)
      expect(parts.join("")).toBe("abcdef")
    })
  )

  it.scopedLive("PREP-1: reads land in the memory the sink lends, chunk framing and all", () =>
    Effect.gen(function* () {
      const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31) % 256))
      const { port } = yield* serve((socket) =>
        sendParts(
          socket,
          [
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            `${(100_000).toString(16)}\r\n`,
            data.subarray(0, 100_000),
            `\r\n${(200_000).toString(16)}\r\n`,
            data.subarray(100_000),
            "\r\n0\r\n\r\n"
          ],
          "keep"
        )
      )
      const lent = Buffer.alloc(256 * 1024)
      const response = yield* Effect.async<RawHttp.RawResponse>((resume) => {
        RawHttp.request(
          { url: new URL(`http://127.0.0.1:${port}/`), method: "GET", headers: {}, trust: undefined },
          (_e, r) => resume(Effect.succeed(r!))
        )
      })
      const parts: Array<Buffer> = []
      let inLent = 0
      const ended = yield* Effect.async<boolean>((resume) =>
        response.body.start({
          data: (b) => {
            if (b.buffer === lent.buffer) inLent++
            parts.push(Buffer.from(b))
          },
          end: () => resume(Effect.succeed(true)),
          error: () => resume(Effect.succeed(false)),
          readBuffer: () => lent
        })
      )
      expect(ended).toBe(true)
      expect(Buffer.concat(parts).equals(data)).toBe(true)
      expect(inLent).toBeGreaterThan(0)
    })
  )

  describe("TLS", () => {
    const withTls = <A, E>(
      f: (site: {
        readonly port: number
        readonly seen: Seen
        readonly sha256: string
        readonly caPem: string
        readonly hostname: string
      }) => Effect.Effect<A, E>
    ) =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start({})
        const site = sim.siteCertificate!
        const { port, seen } = yield* serve(
          (socket) => sendParts(socket, ["HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"], "keep"),
          { cert: site.certificatePem, key: Redacted.value(site.privateKeyPem) }
        )
        return yield* f({ port, seen, sha256: site.sha256, caPem: sim.caPem, hostname: sim.site.hostname })
      })

    it.scopedLive("a pinned certificate is trusted; a wrong pin is refused before any request byte", () =>
      withTls(({ port, seen, sha256 }) =>
        Effect.gen(function* () {
          const ok = yield* get(`https://127.0.0.1:${port}/`, { trust: { pinSha256: sha256 } })
          expect(ok.body.toString()).toBe("ok")
          const wrong = "00".repeat(32)
          const error = yield* Effect.flip(get(`https://127.0.0.1:${port}/`, { trust: { pinSha256: wrong } }))
          expect(error.cause).toBeInstanceOf(TlsRefused)
          expect(error.cause).toMatchObject({ expected: wrong, seen: sha256 })
          // the refused connection wrote nothing (the server may not even have seen it finish the handshake)
          expect(seen.requests.filter((r) => r.length > 0)).toEqual([expect.stringContaining("GET / HTTP/1.1")])
        })
      )
    )

    it.scopedLive("a CA bundle is trusted for the certificate's name only; the system CAs do not know it", () =>
      withTls(({ port, caPem, hostname }) =>
        Effect.gen(function* () {
          const ok = yield* get(`https://127.0.0.1:${port}/`, { trust: { caPem, servername: hostname } })
          expect(ok.body.toString()).toBe("ok")
          const wrongName = yield* Effect.flip(
            get(`https://127.0.0.1:${port}/`, { trust: { caPem, servername: "other.example.test" } })
          )
          expect(wrongName.cause).toBeInstanceOf(TlsRefused)
          expect(String((wrongName.cause as TlsRefused).why)).toContain("ERR_TLS_CERT_ALTNAME_INVALID")
          const system = yield* Effect.flip(get(`https://127.0.0.1:${port}/`, { trust: { servername: hostname } }))
          expect(system.cause).toBeInstanceOf(TlsRefused)
        })
      )
    )
  })
})
