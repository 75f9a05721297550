/**
 * @since 0.1.0
 */
export * as Bundle from "./Bundle.js"

/**
 * @since 0.1.0
 */
export * as Certificate from "./Certificate.js"

/**
 * @since 0.1.0
 */
export * as CertificateError from "./CertificateError.js"

/**
 * @since 0.1.0
 */
export * as CertificateStore from "./CertificateStore.js"

/**
 * @since 0.1.0
 */
export * as Chain from "./Chain.js"

/**
 * @since 0.1.0
 */
export * as DefaultCertificate from "./DefaultCertificate.js"

/**
 * @since 0.1.0
 */
export * as Finding from "./Finding.js"

/**
 * @since 0.1.0
 */
export * as Hostname from "./Hostname.js"

/**
 * @since 0.1.0
 */
export * as PrivateKey from "./PrivateKey.js"

/**
 * @since 0.1.0
 */
export * as TestChains from "./TestChains.js"

/**
 * @since 0.1.0
 */
export * as TlsProbe from "./TlsProbe.js"

/**
 * @since 0.1.0
 */
export * as Steps from "./Steps.js"
