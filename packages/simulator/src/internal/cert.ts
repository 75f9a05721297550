import "reflect-metadata"
import * as x509 from "@peculiar/x509"
import { createHash, X509Certificate as NodeX509, webcrypto } from "node:crypto"

/** Bundled self-signed certificate (P-256, CN=sra-simulator.local, SAN localhost, sra-simulator.local, *.sra-simulator.local, 127.0.0.1, ::1; valid 2020-2120) for the HTTPS listeners. For tests and demos only: this key is public. */
export const defaultCertPem = `-----BEGIN CERTIFICATE-----
MIICHTCCAcOgAwIBAgIBATAKBggqhkjOPQQDAjA+MRwwGgYDVQQDDBNzcmEtc2lt
dWxhdG9yLmxvY2FsMR4wHAYDVQQKDBVzcmEtdXBncmFkZSBzaW11bGF0b3IwIBcN
MjAwMTAxMDAwMDAwWhgPMjEyMDAxMDEwMDAwMDBaMD4xHDAaBgNVBAMME3NyYS1z
aW11bGF0b3IubG9jYWwxHjAcBgNVBAoMFXNyYS11cGdyYWRlIHNpbXVsYXRvcjBZ
MBMGByqGSM49AgEGCCqGSM49AwEHA0IABJ1Dawk5H1GxOuWfl0hg6ZUeQChtjcLg
0nji1LtFGcz0LvGFotUVmbHaXzhBkiOEAEqnIkEBQ5VNQtjKg+iQa9qjga8wgaww
WAYDVR0RBFEwT4IJbG9jYWxob3N0ghNzcmEtc2ltdWxhdG9yLmxvY2FsghUqLnNy
YS1zaW11bGF0b3IubG9jYWyHBH8AAAGHEAAAAAAAAAAAAAAAAAAAAAEwDAYDVR0T
AQH/BAIwADAOBgNVHQ8BAf8EBAMCB4AwEwYDVR0lBAwwCgYIKwYBBQUHAwEwHQYD
VR0OBBYEFOKKiJ3ctTnu7l+hB0lnIzbY9XNMMAoGCCqGSM49BAMCA0gAMEUCIFsX
NKX+XenmjG4nLI3eTjpSVKaLYB4tfLDh+yFOYrkpAiEA5+myZrnhaNSAYKgG/gMj
Teb7Ho3GdVwmXmCDEoLaWZg=
-----END CERTIFICATE-----
`

/** The bundled private key (public knowledge: never use it outside the simulator). */
export const defaultKeyPem = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgeEdpKvZ/mNCaU/FF
DLpE5XLvGB4LAE4JNlOo9qpL3YKhRANCAASdQ2sJOR9RsTrln5dIYOmVHkAobY3C
4NJ44tS7RRnM9C7xhaLVFZmx2l84QZIjhABKpyJBAUOVTULYyoPokGva
-----END PRIVATE KEY-----
`

// ------------------------------------------------------------------ generated private CA

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])

/** A leaf served by HTTPS listeners: `cert` is the leaf followed by the intermediate (PEM). */
export interface ServedCert {
  readonly cert: string
  readonly key: string
  /** Lower-case hex SHA-256 of the DER leaf. */
  readonly sha256: string
}

/** The private PKI generated at every start: root -> intermediate -> leaves. Nothing is written to disk. */
export interface Pki {
  readonly rootPem: string
  readonly intermediatePem: string
  /** Served by every appliance of the simulated site (a failover pair shares its certificate). */
  readonly shared: ServedCert
  /** A certificate for the site host name, not installed anywhere at start (import it to migrate). */
  readonly site: ServedCert
  /** One leaf per appliance id. */
  readonly perAppliance: ReadonlyMap<string, ServedCert>
}

const EC = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const
const DAY = 86_400_000

type Keys = webcrypto.CryptoKeyPair
type Cert = InstanceType<typeof x509.X509Certificate>

const keyPair = (): Promise<Keys> => webcrypto.subtle.generateKey(EC, true, ["sign", "verify"]) as Promise<Keys>

const serial = (): string => {
  const b = webcrypto.getRandomValues(new Uint8Array(16))
  b[0] = b[0]! & 0x7f
  return Buffer.from(b).toString("hex")
}

const issue = async (
  subject: string,
  keys: Keys,
  issuer: { readonly cert: Cert; readonly keys: Keys } | undefined,
  options: {
    readonly ca: boolean
    readonly pathLength?: number
    readonly dns?: ReadonlyArray<string>
    readonly ips?: ReadonlyArray<string>
  }
): Promise<Cert> => {
  const now = Date.now()
  const extensions: Array<InstanceType<typeof x509.Extension>> = [
    new x509.BasicConstraintsExtension(options.ca, options.pathLength, true),
    new x509.KeyUsagesExtension(
      options.ca
        ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign
        : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true
    ),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)
  ]
  if (issuer) extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey))
  if (!options.ca) {
    extensions.push(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]))
    extensions.push(
      new x509.SubjectAlternativeNameExtension([
        ...[...new Set(options.dns ?? [])].map((value) => ({ type: "dns" as const, value })),
        ...(options.ips ?? []).map((value) => ({ type: "ip" as const, value }))
      ])
    )
  }
  return x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject,
    issuer: issuer?.cert.subject ?? subject,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + (options.ca ? 3650 : 825) * DAY),
    publicKey: keys.publicKey,
    signingKey: (issuer?.keys ?? keys).privateKey,
    signingAlgorithm: EC,
    extensions
  })
}

const keyPem = async (keys: Keys): Promise<string> => {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey))
  const b64 = der.toString("base64").replace(/(.{64})/g, "$1\n")
  return `-----BEGIN PRIVATE KEY-----\n${b64}${b64.endsWith("\n") ? "" : "\n"}-----END PRIVATE KEY-----\n`
}

const pemOf = (c: Cert): string => `${c.toString("pem").trim()}\n`

/** Lower-case hex SHA-256 of the DER of the first certificate of a PEM. */
export const leafSha256 = (pem: string): string => createHash("sha256").update(new NodeX509(pem).raw).digest("hex")

const LOOPBACK = ["127.0.0.1", "::1"]

/**
 * Generates root -> intermediate -> leaves for one simulator run (a few ms per key on P-256).
 * `shared` covers the simulator's own names and the site appliances' host names (never the site
 * host name, so a site certificate is always a distinct choice); `site` covers the site host name;
 * `perAppliance` covers one appliance host name and, unless the appliance is a factory-fresh box,
 * the site host name.
 */
export const generatePki = async (input: {
  readonly siteHostname: string
  readonly appliances: ReadonlyArray<{ readonly id: string; readonly hostname: string; readonly fresh: boolean }>
}): Promise<Pki> => {
  const [rootKeys, interKeys, sharedKeys, siteKeys] = await Promise.all([keyPair(), keyPair(), keyPair(), keyPair()])
  const root = await issue("CN=sra-simulator Root CA, O=sra-upgrade simulator", rootKeys, undefined, { ca: true })
  const inter = await issue(
    "CN=sra-simulator Intermediate CA, O=sra-upgrade simulator",
    interKeys,
    { cert: root, keys: rootKeys },
    { ca: true, pathLength: 0 }
  )
  const issuer = { cert: inter, keys: interKeys }
  const intermediatePem = pemOf(inter)
  const served = async (cert: Cert, keys: Keys): Promise<ServedCert> => {
    const leaf = pemOf(cert)
    return { cert: leaf + intermediatePem, key: await keyPem(keys), sha256: leafSha256(leaf) }
  }
  const site = input.siteHostname.toLowerCase()
  const memberNames = input.appliances
    .filter((a) => !a.fresh)
    .map((a) => a.hostname.toLowerCase())
    .filter((h) => h !== site && !(h.endsWith(".sra-simulator.local") && h.split(".").length === 3))
  const [shared, siteCert, ...leaves] = await Promise.all([
    issue("CN=sra-simulator.local, O=sra-upgrade simulator", sharedKeys, issuer, {
      ca: false,
      dns: ["localhost", "sra-simulator.local", "*.sra-simulator.local", ...memberNames],
      ips: LOOPBACK
    }).then((c) => served(c, sharedKeys)),
    issue(`CN=${input.siteHostname}, O=sra-upgrade simulator`, siteKeys, issuer, {
      ca: false,
      dns: [input.siteHostname, "localhost"],
      ips: LOOPBACK
    }).then((c) => served(c, siteKeys)),
    ...input.appliances.map(async (a) => {
      const keys = await keyPair()
      const c = await issue(`CN=${a.hostname}, O=sra-upgrade simulator`, keys, issuer, {
        ca: false,
        dns: ["localhost", a.hostname, ...(a.fresh ? [] : [input.siteHostname])],
        ips: LOOPBACK
      })
      return [a.id, await served(c, keys)] as const
    })
  ])
  return {
    rootPem: pemOf(root),
    intermediatePem,
    shared: shared!,
    site: siteCert!,
    perAppliance: new Map(leaves as Array<readonly [string, ServedCert]>)
  }
}
