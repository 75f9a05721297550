/**
 * TLS trust for one appliance: system CAs (default), a CA bundle (then only
 * that bundle is trusted), or a
 * SHA-256 pin of the leaf certificate. Verification happens in our own
 * undici connector, before the socket is handed to the HTTP client, so no
 * byte of a request is ever written to an untrusted peer and the error can
 * name the fingerprint that was seen.
 *
 * @internal
 */
import type { TLSSocket } from "node:tls"
import { buildConnector } from "undici"

/** @internal */
export interface TlsTrust {
  readonly caPem?: string | undefined
  readonly pinSha256?: string | undefined
  readonly servername?: string | undefined
}

/** The connector refused the peer's certificate. @internal */
export class TlsRefused extends Error {
  readonly code = "SRA_TLS_REFUSED"
  constructor(
    readonly expected: string | undefined,
    readonly seen: string | undefined,
    readonly why: string
  ) {
    super(`TLS certificate refused: ${why}`)
  }
}

/** `AA:BB:...` or `aabb...` → lower-case hex without separators. @internal */
export const normalizeFingerprint = (fp: string): string => fp.replace(/[^0-9a-fA-F]/g, "").toLowerCase()

/**
 * Checks a connected TLS socket made with `rejectUnauthorized: false`
 * against the trust: the pin alone when one is set, else the CA chain and
 * host name. Returns why it is refused, or `undefined` when trusted.
 *
 * @internal
 */
export const verifyPeer = (socket: TLSSocket, trust: TlsTrust | undefined): TlsRefused | undefined => {
  const seen = normalizeFingerprint(socket.getPeerCertificate()?.fingerprint256 ?? "")
  if (trust?.pinSha256 !== undefined) {
    const pin = normalizeFingerprint(trust.pinSha256)
    return seen === pin ? undefined : new TlsRefused(pin, seen || undefined, "fingerprint differs from the pin")
  }
  if (socket.authorized) return undefined
  return new TlsRefused(undefined, seen || undefined, String(socket.authorizationError ?? "untrusted certificate"))
}

/** @internal */
export const makeConnector = (trust: TlsTrust | undefined, timeoutMillis: number): buildConnector.connector => {
  const base = buildConnector({
    // we verify ourselves below, to report what was seen
    rejectUnauthorized: false,
    ...(trust?.caPem !== undefined ? { ca: trust.caPem } : {}),
    ...(trust?.servername !== undefined ? { servername: trust.servername } : {}),
    maxCachedSessions: 0,
    timeout: timeoutMillis
  })
  return (options, callback) =>
    base(options, (error, socket) => {
      if (error !== null) return callback(error, null)
      if (!("encrypted" in socket) || socket.encrypted !== true) return callback(null, socket)
      const tls = socket as TLSSocket
      const refusal = verifyPeer(tls, trust)
      if (refusal === undefined) return callback(null, tls)
      tls.destroy()
      return callback(refusal, null)
    })
}
