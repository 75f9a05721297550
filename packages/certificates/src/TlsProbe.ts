/**
 * The TLS probe: connect to an address with a chosen SNI over a real socket
 * (node:tls) and read the chain the appliance actually serves; then compare
 * it with what was expected (a leaf fingerprint, or a whole chain).
 *
 * Node exposes the served certificates linked leaf → issuer
 * (`getPeerCertificate(true)`), not the raw order of the handshake, and drops
 * served certificates that are not on the leaf's path: order problems of a
 * served chain are not visible here; a missing intermediate is. The probe
 * trusts no certificate store, so no root the server did not send is added;
 * trust is judged by `verifyServed` against explicit trust anchors.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { isIP } from "node:net"
import * as tls from "node:tls"
import type { Certificate } from "./Certificate.js"
import * as Certificates from "./Certificate.js"
import * as CertificateError from "./CertificateError.js"
import { message } from "./internal/util.js"
import * as Chain from "./Chain.js"
import * as Finding from "./Finding.js"

/**
 * Where to connect.
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  readonly host: string
  readonly port: number
  /** SNI name to send (e.g. the site FQDN); default `host` when it is a DNS name; never an IP address. */
  readonly servername?: string | undefined
  /** Handshake deadline; default 10 000 ms. */
  readonly timeoutMillis?: number | undefined
}

/**
 * What the probe saw.
 *
 * @since 0.1.0
 * @category models
 */
export interface Served {
  readonly address: string
  readonly servername: string | undefined
  /** The served chain, leaf first. */
  readonly chain: ReadonlyArray<Certificate>
  readonly leafSha256: string
  readonly protocol: string | undefined
}

type PeerCertificate = tls.DetailedPeerCertificate

const chainOf = (peer: PeerCertificate): ReadonlyArray<Certificate> => {
  const out: Array<Certificate> = []
  const seen = new Set<string>()
  let current: PeerCertificate | undefined = peer
  while (current?.raw !== undefined && current.raw.length > 0) {
    const certificate = Certificates.fromDerUnsafe(new Uint8Array(current.raw))
    if (seen.has(certificate.sha256)) break
    seen.add(certificate.sha256)
    out.push(certificate)
    current = current.issuerCertificate
  }
  return out
}

/**
 * Connects, completes the TLS handshake (without rejecting an untrusted
 * chain: the point is to see it), reads the served chain and closes.
 *
 * @since 0.1.0
 * @category combinators
 */
export const probeTls = (target: Target): Effect.Effect<Served, CertificateError.CertificateError> => {
  const address = `${target.host}:${target.port}`
  // Like a browser: SNI is the given name, else the host when it is a DNS name; never an IP address.
  const wanted = target.servername ?? target.host
  const servername = isIP(wanted) === 0 ? wanted : undefined
  const timeoutMillis = target.timeoutMillis ?? 10_000
  return Effect.async<Served, CertificateError.CertificateError>((resume) => {
    let done = false
    const finish = (effect: Effect.Effect<Served, CertificateError.CertificateError>) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resume(effect)
    }
    const socket = tls.connect({
      host: target.host,
      port: target.port,
      // Judge nothing here (the checks do, with explicit trust anchors) and trust no store: with an empty
      // CA list node:tls cannot append a root the server did not send, so `chain` is what was served.
      rejectUnauthorized: false,
      ca: [],
      ...(servername !== undefined ? { servername } : {})
    })
    const timer = setTimeout(
      () =>
        finish(
          Effect.fail(
            CertificateError.make("probeTls", new CertificateError.Timeout({ address, afterMillis: timeoutMillis }))
          )
        ),
      timeoutMillis
    )
    socket.once("secureConnect", () => {
      try {
        const chain = chainOf(socket.getPeerCertificate(true))
        if (chain.length === 0) {
          finish(Effect.fail(CertificateError.make("probeTls", new CertificateError.NoCertificate())))
          return
        }
        finish(
          Effect.succeed({
            address,
            servername,
            chain,
            leafSha256: chain[0].sha256,
            protocol: socket.getProtocol() ?? undefined
          })
        )
      } catch (e) {
        finish(
          Effect.fail(
            CertificateError.make(
              "probeTls",
              new CertificateError.Malformed({ what: "certificate", detail: message(e) })
            )
          )
        )
      }
    })
    socket.once("error", (e: NodeJS.ErrnoException) =>
      finish(
        Effect.fail(
          CertificateError.make("probeTls", new CertificateError.Connect({ address, code: e.code ?? e.message }))
        )
      )
    )
    return Effect.sync(() => {
      done = true
      clearTimeout(timer)
      socket.destroy()
    })
  })
}

/**
 * What the served chain should be.
 *
 * @since 0.1.0
 * @category models
 */
export interface Expected {
  /** SHA-256 of the leaf (any common notation: `AB:CD:…`, hex). */
  readonly leafSha256?: string | undefined
  /** The chain that should be served (any order; a root is not required to be served). */
  readonly chain?: ReadonlyArray<Certificate> | undefined
}

/**
 * Compares a served chain with what was expected: `ServedLeafMismatch`
 * (blocking) when the leaf differs, `ServedChainDiffers` (warning) when the
 * intermediates differ.
 *
 * @since 0.1.0
 * @category combinators
 */
export const compare = (served: ReadonlyArray<Certificate>, expected: Expected): ReadonlyArray<Finding.Finding> => {
  const findings: Array<Finding.Finding> = []
  const leaf = served[0]
  const expectedLeaf =
    expected.leafSha256 !== undefined
      ? Certificates.normalizeFingerprint(expected.leafSha256)
      : expected.chain !== undefined
        ? Chain.order(expected.chain).path[0]?.sha256
        : undefined
  if (expectedLeaf !== undefined && leaf?.sha256 !== expectedLeaf) {
    findings.push(
      Finding.blocking(
        "ServedLeafMismatch",
        `The appliance serves ${leaf?.label ?? "no certificate"}, not the expected certificate (SHA-256 ${expectedLeaf}). Select the expected certificate as default for this address on /appliance > Security > Certificates (MIGRATE-5).`,
        leaf?.sha256
      )
    )
  }
  if (expected.chain !== undefined) {
    const want = Chain.order(expected.chain)
      .path.filter((c) => !c.selfSigned)
      .map((c) => c.sha256)
    const got = served.filter((c) => !c.selfSigned).map((c) => c.sha256)
    const missing = want.filter((w) => !got.includes(w))
    const surplus = got.filter((g) => !want.includes(g))
    if (missing.length > 0 || surplus.length > 0) {
      findings.push(
        Finding.warning(
          "ServedChainDiffers",
          `The served chain differs from the expected one (missing: ${missing.join(", ") || "none"}; unexpected: ${surplus.join(", ") || "none"}). Re-import the certificate with its full chain on the appliance.`
        )
      )
    }
  }
  return findings
}

/**
 * Probes and judges what is served: the validation findings of the served
 * chain (names, validity, completeness against `trustAnchors`) plus the
 * comparison with `expected`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const verifyServed = (
  target: Target,
  expected: Expected,
  options: Chain.ValidateChainOptions = {}
): Effect.Effect<
  { readonly served: Served; readonly report: Chain.Report; readonly findings: ReadonlyArray<Finding.Finding> },
  CertificateError.CertificateError
> =>
  Effect.gen(function* () {
    const served = yield* probeTls(target)
    const report = yield* Chain.validateChain(served.chain, options)
    const findings = [...report.findings, ...compare(served.chain, expected)]
    return { served, report, findings }
  })
