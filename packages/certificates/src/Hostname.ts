/**
 * Does a certificate cover a host name? RFC 6125 rules (as tightened by
 * RFC 9525): DNS subject alternative names first; the Common Name only when
 * the certificate has no DNS name at all; a wildcard only as the whole
 * left-most label, matching exactly one label, never the bare parent domain
 * and never directly under a top-level domain.
 *
 * @since 0.1.0
 */
import { isIP } from "node:net"

/**
 * Lower-case, trimmed, without a trailing dot.
 *
 * @since 0.1.0
 * @category combinators
 */
export const normalize = (name: string): string => name.trim().toLowerCase().replace(/\.$/, "")

/**
 * Whether a presented DNS identifier (possibly a wildcard) matches `host`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const matches = (presented: string, host: string): boolean => {
  const pattern = normalize(presented)
  const name = normalize(host)
  if (pattern.length === 0 || name.length === 0) return false
  if (!pattern.includes("*")) return pattern === name
  const patternLabels = pattern.split(".")
  const nameLabels = name.split(".")
  // Only "*" as the complete left-most label; no partial ("f*.example.com") or inner wildcards.
  if (patternLabels[0] !== "*" || patternLabels.slice(1).some((label) => label.includes("*"))) return false
  // "*.com" (or "*.test") is too broad: require at least two labels after the wildcard.
  if (patternLabels.length < 3) return false
  // The wildcard stands for exactly one non-empty label.
  if (nameLabels.length !== patternLabels.length || nameLabels[0].length === 0) return false
  return patternLabels.slice(1).join(".") === nameLabels.slice(1).join(".")
}

/**
 * How a certificate covers a host: through an exact DNS name, a wildcard DNS
 * name, an IP address name, only its Common Name (no DNS names present; modern
 * clients reject this), or not at all.
 *
 * @since 0.1.0
 * @category models
 */
export type Coverage = "exact" | "wildcard" | "ip" | "common-name" | "none"

/**
 * @since 0.1.0
 * @category combinators
 */
export const coverage = (
  identity: {
    readonly dnsNames: ReadonlyArray<string>
    readonly ipAddresses: ReadonlyArray<string>
    readonly commonName: string | undefined
  },
  host: string
): Coverage => {
  const name = normalize(host)
  if (isIP(name) !== 0) {
    return identity.ipAddresses.some((ip) => ip.toLowerCase() === name) ? "ip" : "none"
  }
  if (identity.dnsNames.length > 0) {
    if (identity.dnsNames.some((dns) => !dns.includes("*") && matches(dns, name))) return "exact"
    if (identity.dnsNames.some((dns) => matches(dns, name))) return "wildcard"
    return "none"
  }
  if (identity.commonName !== undefined && matches(identity.commonName, name)) return "common-name"
  return "none"
}
