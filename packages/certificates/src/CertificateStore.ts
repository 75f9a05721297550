/**
 * CLIENT-3, the certificate-store pre-check: before a site package is moved
 * to a new version, will deployed Jump Clients still trust the chain the
 * appliance serves after the upgrade? Clients hold the CA certificates of
 * the site package they were built from; they trust the new chain only if it
 * leads, with valid signatures, to one of those. When not, the check blocks
 * and lists the certificates to distribute to every client first.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { Certificate } from "./Certificate.js"
import * as Chain from "./Chain.js"
import * as Finding from "./Finding.js"

/**
 * Input of the pre-check.
 *
 * @since 0.1.0
 * @category models
 */
export interface Input {
  /** The trust material deployed clients hold: the CA certificates of the current site package. */
  readonly clientTrust: ReadonlyArray<Certificate>
  /** The chain the appliance will serve after the upgrade (any order). */
  readonly servedChain: ReadonlyArray<Certificate>
  /** Further CA certificates that may complete the served chain (e.g. the new CA's bundle). */
  readonly available?: ReadonlyArray<Certificate> | undefined
  /** When clients must trust the chain; default now (e.g. the end of the maintenance window). */
  readonly at?: Date | undefined
}

/**
 * Verdict of the pre-check.
 *
 * @since 0.1.0
 * @category models
 */
export interface Verdict {
  /** Clients will trust the served chain at `at`. */
  readonly trusted: boolean
  /** The client-held certificate the chain leads to, when there is one. */
  readonly anchor: Certificate | undefined
  /** The path from the leaf up to (not including) the anchor, or as far as it goes. */
  readonly path: ReadonlyArray<Certificate>
  /** Certificates to add to every client's store before the upgrade (empty when trusted). */
  readonly toDistribute: ReadonlyArray<Certificate>
  /** Blocking findings (`ClientsWillNotTrust`, `TrustAnchorExpires`, `IssuerUnavailable`). */
  readonly findings: ReadonlyArray<Finding.Finding>
}

const validAt = (c: Certificate, at: Date) =>
  c.notBefore.getTime() <= at.getTime() && at.getTime() <= c.notAfter.getTime()

/**
 * The pre-check as a pure function of its input and the time.
 *
 * @since 0.1.0
 * @category combinators
 */
export const evaluate = (input: Input, now: Date): Verdict => {
  const at = input.at ?? now
  const served = Chain.order(input.servedChain, input.available ?? [])
  const path: Array<Certificate> = [...served.path]
  // Complete the path with `available` certificates above the served top.
  const extra = [...(input.available ?? [])]
  for (;;) {
    const top = path[path.length - 1]
    if (top === undefined || top.selfSigned) break
    const next = extra.find((c) => !path.includes(c) && top.isIssuedBy(c))
    if (next === undefined) break
    path.push(next)
  }
  const trustedBy = (c: Certificate) =>
    input.clientTrust.find((t) => t.sha256 === c.sha256) ?? input.clientTrust.find((t) => c.isIssuedBy(t))
  const servedSet = new Set(served.path.map((c) => c.sha256))
  for (let i = 0; i < path.length; i++) {
    const c = path[i]
    const held = input.clientTrust.find((t) => t.sha256 === c.sha256)
    const anchor = held ?? trustedBy(c)
    if (anchor === undefined) continue
    const below = held !== undefined ? path.slice(0, i) : path.slice(0, i + 1)
    // Every certificate clients must see: those the appliance does not serve must be distributed too.
    const missingIntermediates = below.filter((b) => !servedSet.has(b.sha256))
    const findings: Array<Finding.Finding> = []
    if (!validAt(anchor, at)) {
      findings.push(
        Finding.blocking(
          "TrustAnchorExpires",
          `Clients trust the chain through ${anchor.label}, which is not valid on ${at.toISOString()} (valid ${anchor.notBefore.toISOString()} to ${anchor.notAfter.toISOString()}). Distribute the renewed CA certificate to every client's store before the upgrade (CLIENT-3).`,
          anchor.sha256
        )
      )
    }
    if (missingIntermediates.length > 0) {
      findings.push(
        Finding.blocking(
          "ClientsWillNotTrust",
          `The appliance will not serve ${missingIntermediates.map((m) => m.label).join(", ")}, which clients need to reach ${anchor.label}. Add it to the served chain, or distribute it to every client's store first (CLIENT-3).`
        )
      )
    }
    return {
      trusted: findings.length === 0,
      anchor,
      path: below,
      toDistribute: missingIntermediates,
      findings
    }
  }
  const top = path[path.length - 1]
  if (top === undefined) {
    return {
      trusted: false,
      anchor: undefined,
      path,
      toDistribute: [],
      findings: [
        Finding.blocking(
          "ClientsWillNotTrust",
          "No served chain was given: give the chain the appliance will serve after the upgrade."
        )
      ]
    }
  }
  if (!top.selfSigned) {
    return {
      trusted: false,
      anchor: undefined,
      path,
      toDistribute: path.filter((c) => c.isCa && !servedSet.has(c.sha256)),
      findings: [
        Finding.blocking(
          "IssuerUnavailable",
          `Clients do not trust the new chain, and it stops at ${top.label} whose issuer "${top.issuer}" was not given. Obtain the CA certificate of "${top.issuer}" (and its root), pass it as available, and distribute the root to every client's store first (CLIENT-3).`,
          top.sha256
        )
      ]
    }
  }
  const toDistribute = [top, ...path.slice(1, -1).filter((c) => !servedSet.has(c.sha256))]
  return {
    trusted: false,
    anchor: undefined,
    path,
    toDistribute,
    findings: [
      Finding.blocking(
        "ClientsWillNotTrust",
        `Deployed clients do not trust the chain the appliance will serve: it ends at ${top.label}, which is not in their certificate store. Distribute ${toDistribute.map((c) => c.label).join(", ")} to every client's store (and rebuild the site package with it) before the upgrade, or many Jump Clients will show offline (CLIENT-3).`,
        top.sha256
      )
    ]
  }
}

/**
 * The pre-check, reading the present time from `Clock`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const check = (input: Input): Effect.Effect<Verdict> =>
  Effect.map(Clock.currentTimeMillis, (millis) => evaluate(input, new Date(millis)))
