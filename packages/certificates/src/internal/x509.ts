/**
 * The one place that loads @peculiar/x509. It needs a Reflect metadata
 * polyfill (tsyringe) before its first import, and a WebCrypto provider.
 *
 * @internal
 */
import "reflect-metadata"
import * as x509 from "@peculiar/x509"
import { webcrypto } from "node:crypto"

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])

export { x509, webcrypto }
