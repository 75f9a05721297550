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
  readonly site: ServedCert | undefined
  /** One leaf per appliance that serves its own (factory-fresh, or `per-appliance` layout). */
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

/** The private CA of a simulator process: root -> intermediate, shared by every site it simulates. */
export interface Ca {
  readonly rootPem: string
  readonly intermediatePem: string
  readonly issuer: { readonly cert: Cert; readonly keys: Keys }
}

/** Generates the root and the intermediate CA (path length 0). */
export const generateCa = async (): Promise<Ca> => {
  const [rootKeys, interKeys] = await Promise.all([keyPair(), keyPair()])
  const root = await issue("CN=sra-simulator Root CA, O=sra-upgrade simulator", rootKeys, undefined, { ca: true })
  const inter = await issue(
    "CN=sra-simulator Intermediate CA, O=sra-upgrade simulator",
    interKeys,
    { cert: root, keys: rootKeys },
    { ca: true, pathLength: 0 }
  )
  return { rootPem: pemOf(root), intermediatePem: pemOf(inter), issuer: { cert: inter, keys: interKeys } }
}

/** A leaf issued by the CA's intermediate, served with it. */
const leaf = async (
  ca: Ca,
  subject: string,
  dns: ReadonlyArray<string>,
  ips: ReadonlyArray<string> = LOOPBACK
): Promise<ServedCert> => {
  const keys = await keyPair()
  const pem = pemOf(await issue(subject, keys, ca.issuer, { ca: false, dns, ips }))
  return { cert: pem + ca.intermediatePem, key: await keyPem(keys), sha256: leafSha256(pem) }
}

/**
 * The site-member leaf: the simulator's own names (`sra-simulator.local`, `*.sra-simulator.local`,
 * `localhost`, the loopback addresses) plus `extraNames` (appliance host names outside that domain).
 * One serves every site of a many-site simulator whose names are all under `sra-simulator.local`.
 */
export const sharedLeaf = (ca: Ca, extraNames: ReadonlyArray<string> = []): Promise<ServedCert> =>
  leaf(ca, "CN=sra-simulator.local, O=sra-upgrade simulator", [
    "localhost",
    "sra-simulator.local",
    "*.sra-simulator.local",
    ...extraNames
  ])

/** Names a `*.sra-simulator.local` wildcard does not cover (one label under the domain only). */
const outsideWildcard = (hostname: string): boolean =>
  !(hostname.endsWith(".sra-simulator.local") && hostname.split(".").length === 3)

/**
 * Generates the certificates of one simulated site. By default a new CA, a site-member leaf
 * (`shared`: the simulator's names and the site appliances' host names, never the site host name
 * unless a wildcard covers it, so a site certificate is always a distinct choice), a leaf for the
 * site host name (`site`) and one leaf per appliance that needs its own (`perAppliance`: a
 * factory-fresh box, or every one with `perApplianceLeaves: "all"`) covering its host name and,
 * unless fresh, the site host name. A many-site simulator passes its `ca` and `shared` leaf and
 * asks for the site leaf only where a migration needs it (a few ms each, but ~60 ms under load).
 */
export const generatePki = async (
  input: {
    readonly siteHostname: string
    readonly appliances: ReadonlyArray<{ readonly id: string; readonly hostname: string; readonly fresh: boolean }>
  },
  options: {
    readonly ca?: Ca | undefined
    readonly shared?: ServedCert | undefined
    readonly siteLeaf?: boolean | undefined
    readonly perApplianceLeaves?: "all" | "fresh" | undefined
  } = {}
): Promise<Pki> => {
  const ca = options.ca ?? (await generateCa())
  const site = input.siteHostname.toLowerCase()
  const memberNames = input.appliances
    .filter((a) => !a.fresh)
    .map((a) => a.hostname.toLowerCase())
    .filter((h) => h !== site && outsideWildcard(h))
  const own = input.appliances.filter((a) => a.fresh || options.perApplianceLeaves === "all")
  const [shared, siteCert, ...leaves] = await Promise.all([
    options.shared ?? sharedLeaf(ca, memberNames),
    options.siteLeaf === false
      ? undefined
      : leaf(ca, `CN=${input.siteHostname}, O=sra-upgrade simulator`, [input.siteHostname, "localhost"]),
    ...own.map(
      async (a) =>
        [
          a.id,
          await leaf(ca, `CN=${a.hostname}, O=sra-upgrade simulator`, [
            "localhost",
            a.hostname,
            ...(a.fresh ? [] : [input.siteHostname])
          ])
        ] as const
    )
  ])
  return {
    rootPem: ca.rootPem,
    intermediatePem: ca.intermediatePem,
    shared: shared!,
    site: siteCert as ServedCert | undefined,
    perAppliance: new Map(leaves as Array<readonly [string, ServedCert]>)
  }
}
