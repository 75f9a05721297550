/**
 * Certificates of an appliance (`/login > Management > Security`): parse,
 * import (the key must decrypt and match), export (the key encrypted under a
 * passphrase, MIGRATE-3), the default certificate and what the HTTPS
 * listener serves (MIGRATE-5).
 */
import { createPrivateKey, X509Certificate } from "node:crypto"
import type { Appliance, Certificate } from "./model.js"
import { hexOf, SimRefusal } from "./util.js"
import type { World } from "./world.js"

export const describeCert = (
  id: string,
  certPem: string,
  keyPem: string | undefined
): Omit<Certificate, "isDefault"> => {
  let x: X509Certificate
  try {
    x = new X509Certificate(certPem)
  } catch {
    throw new SimRefusal(422, "The certificate is not a valid PEM X.509 certificate.", "certificate")
  }
  if (keyPem !== undefined && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(keyPem))
    throw new SimRefusal(422, "The private key is not a PEM private key.", "privateKey")
  return {
    id,
    certPem,
    keyPem,
    subject: x.subject.replace(/\n/g, ", "),
    issuer: x.issuer.replace(/\n/g, ", "),
    validTo: new Date(x.validTo).toISOString(),
    fingerprint256: x.fingerprint256
  }
}

export const importCertificate = (
  world: World,
  a: Appliance,
  certPem: string,
  keyPem: string | undefined,
  passphrase?: string
): Certificate => {
  const id = `${a.spec.id}-${a.certificates.length + 1}-${hexOf(certPem, 8)}`
  let plainKey = keyPem
  if (keyPem !== undefined) {
    let key
    try {
      key = createPrivateKey(passphrase === undefined ? keyPem : { key: keyPem, passphrase })
    } catch {
      throw new SimRefusal(
        422,
        passphrase === undefined
          ? "The private key could not be read: if it is encrypted, send its passphrase."
          : "The private key could not be decrypted with this passphrase.",
        "privateKey"
      )
    }
    const described = describeCert(id, certPem, undefined)
    if (!new X509Certificate(certPem).checkPrivateKey(key))
      throw new SimRefusal(422, `The private key does not match the certificate ${described.subject}.`, "privateKey")
    plainKey = key.export({ format: "pem", type: "pkcs8" }).toString()
  }
  const cert: Certificate = { ...describeCert(id, certPem, plainKey), isDefault: false }
  a.certificates.push(cert)
  world.act(a.spec.id, "certificate-imported", {
    certificateId: cert.id,
    subject: cert.subject,
    sha256: cert.fingerprint256.replace(/:/g, "").toLowerCase(),
    withPrivateKey: plainKey !== undefined
  })
  world.log(a.spec.id, "certificate", `Certificate imported: ${cert.subject}${plainKey ? " with its private key" : ""}`)
  return cert
}

/** Export a certificate, with its private key encrypted under `passphrase` when asked (MIGRATE-3). */
export const exportCertificate = (
  world: World,
  a: Appliance,
  id: string,
  includePrivateKey: boolean,
  passphrase: string | undefined
): { cert: Certificate; keyPem: string | undefined } => {
  const c = a.certificates.find((x) => x.id === id)
  if (!c)
    throw new SimRefusal(
      404,
      `No certificate "${id}" on ${a.spec.id}; list them with GET /__sim/appliances/${a.spec.id}/certificates.`
    )
  if (!includePrivateKey) {
    world.act(a.spec.id, "certificate-exported", { certificateId: c.id, withPrivateKey: false, encrypted: false })
    return { cert: c, keyPem: undefined }
  }
  if (!c.keyPem) throw new SimRefusal(409, "This certificate has no private key on the appliance.")
  world.act(a.spec.id, "certificate-exported", {
    certificateId: c.id,
    withPrivateKey: true,
    encrypted: passphrase !== undefined
  })
  const keyPem =
    passphrase === undefined
      ? c.keyPem
      : createPrivateKey(c.keyPem)
          .export({ format: "pem", type: "pkcs8", cipher: "aes-256-cbc", passphrase })
          .toString()
  world.log(
    a.spec.id,
    "certificate",
    `Certificate exported with its private key${passphrase === undefined ? " (no passphrase)" : " (encrypted)"}: ${c.subject}`
  )
  return { cert: c, keyPem }
}

/** The certificate the HTTPS listener serves: the default one when its private key is here, else the factory one. */
export const servedCertificate = (a: Appliance): Certificate => {
  return (
    a.certificates.find((c) => c.isDefault && c.keyPem !== undefined) ??
    a.certificates.find((c) => c.id === `${a.spec.id}-default`) ??
    a.certificates[0]!
  )
}

export const setDefaultCertificate = (world: World, a: Appliance, id: string): Certificate => {
  const c = a.certificates.find((x) => x.id === id)
  if (!c)
    throw new SimRefusal(
      404,
      `No certificate "${id}" on ${a.spec.id}; list them with GET /__sim/appliances/${a.spec.id}/certificates.`
    )
  for (const x of a.certificates) x.isDefault = x === c
  world.log(a.spec.id, "certificate", `Default certificate: ${c.subject}`)
  world.act(a.spec.id, "default-certificate-set", { certificateId: c.id, subject: c.subject })
  world.tick()
  return c
}
