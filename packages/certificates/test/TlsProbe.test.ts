import { beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as net from "node:net"
import type { AddressInfo } from "node:net"
import * as tls from "node:tls"
import * as Certificate from "../src/Certificate.js"
import * as TlsProbe from "../src/TlsProbe.js"
import { atNow, setNow, SITE, TestChains } from "./fixtures.js"

let site: TestChains.GeneratedChain
let other: TestChains.GeneratedChain

beforeAll(async () => {
  site = await atNow(TestChains.generateChain())
  other = await atNow(TestChains.generateChain({ root: site.root, siteFqdn: "appliance-a.example.test" }))
})

const material = (chain: TestChains.GeneratedChain, served: ReadonlyArray<Certificate.Certificate>) => ({
  cert: Certificate.chainToPem(served),
  key: chain.keyPem
})

/** A TLS server on 127.0.0.1:0 that serves `byName[servername]` or `fallback`, closed with the scope. */
const serve = (fallback: { cert: string; key: string }, byName: Record<string, { cert: string; key: string }> = {}) =>
  Effect.acquireRelease(
    Effect.async<tls.Server>((resume) => {
      const server = tls.createServer(
        {
          ...fallback,
          SNICallback: (name, cb) => cb(null, tls.createSecureContext(byName[name] ?? fallback))
        },
        (socket) => socket.end()
      )
      server.on("tlsClientError", () => undefined)
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
  ).pipe(Effect.map((server) => (server.address() as AddressInfo).port))

describe("TlsProbe (real sockets on 127.0.0.1)", () => {
  it.scoped("reads the chain actually served (leaf -> intermediate) with the chosen SNI and judges it", () =>
    Effect.gen(function* () {
      yield* setNow
      const port = yield* serve(material(other, other.chain.slice(0, 2)), {
        [SITE]: material(site, site.chain.slice(0, 2))
      })
      const served = yield* TlsProbe.probeTls({ host: "127.0.0.1", port, servername: SITE })
      expect(served.chain.map((c) => c.sha256)).toEqual(site.chain.slice(0, 2).map((c) => c.sha256))
      expect(served.leafSha256).toBe(site.chain[0].sha256)
      expect(served.protocol).toMatch(/^TLS/)
      const verified = yield* TlsProbe.verifyServed(
        { host: "127.0.0.1", port, servername: SITE },
        { leafSha256: site.chain[0].node.fingerprint256, chain: site.chain },
        { siteFqdn: SITE, trustAnchors: [site.root.certificate] }
      )
      expect(verified.findings).toEqual([])
      // Without SNI the server falls back to another certificate: the comparison and the name check catch it.
      const fallback = yield* TlsProbe.verifyServed(
        { host: "127.0.0.1", port },
        { leafSha256: site.chain[0].sha256 },
        { siteFqdn: SITE, trustAnchors: [site.root.certificate] }
      )
      expect(fallback.served.leafSha256).toBe(other.chain[0].sha256)
      expect(fallback.findings.map((f) => f.code).sort()).toEqual(["HostnameMismatch", "ServedLeafMismatch"])
    })
  )

  it.scoped("a server that omits the intermediate: IncompleteChain and ServedChainDiffers", () =>
    Effect.gen(function* () {
      yield* setNow
      const port = yield* serve(material(site, [site.chain[0]]))
      const verified = yield* TlsProbe.verifyServed(
        { host: "127.0.0.1", port, servername: SITE },
        { chain: site.chain },
        { siteFqdn: SITE, trustAnchors: [site.root.certificate] }
      )
      expect(verified.served.chain).toHaveLength(1)
      expect(verified.findings.map((f) => f.code).sort()).toEqual(["IncompleteChain", "ServedChainDiffers"])
    })
  )

  it.scoped("connection refused is a typed Connect error; a silent peer a Timeout", () =>
    Effect.gen(function* () {
      // A port that was just free: nothing listens there any more.
      const closedPort = yield* Effect.async<number>((resume) => {
        const s = net.createServer()
        s.listen(0, "127.0.0.1", () => {
          const p = (s.address() as AddressInfo).port
          s.close(() => resume(Effect.succeed(p)))
        })
      })
      const refused = yield* Effect.flip(TlsProbe.probeTls({ host: "127.0.0.1", port: closedPort }))
      expect(refused.reason._tag).toBe("Connect")
      expect(refused.message).toContain("ECONNREFUSED")
      // Accepts TCP, never answers the ClientHello.
      const silent = yield* Effect.acquireRelease(
        Effect.async<net.Server>((resume) => {
          const sockets = new Set<net.Socket>()
          const s = net.createServer((socket) => void sockets.add(socket))
          s.on("close", () => sockets.forEach((x) => x.destroy()))
          s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
          ;(s as net.Server & { sockets?: Set<net.Socket> }).sockets = sockets
        }),
        (s) =>
          Effect.async<void>((resume) => {
            ;(s as net.Server & { sockets?: Set<net.Socket> }).sockets?.forEach((x) => x.destroy())
            s.close(() => resume(Effect.void))
          })
      )
      const timedOut = yield* Effect.flip(
        TlsProbe.probeTls({ host: "127.0.0.1", port: (silent.address() as AddressInfo).port, timeoutMillis: 300 })
      )
      expect(timedOut.reason._tag).toBe("Timeout")
    })
  )
})
