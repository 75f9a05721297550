import { beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as DefaultCertificate from "../src/DefaultCertificate.js"
import { atNow, DAY, NOW, setNow, SITE, TestChains } from "./fixtures.js"

let site: TestChains.GeneratedChain
let siteLonger: TestChains.GeneratedChain
let wildcard: TestChains.GeneratedChain
let otherHost: TestChains.GeneratedChain
let expiringSoon: TestChains.GeneratedChain
let sha1: TestChains.GeneratedChain

beforeAll(async () => {
  site = await atNow(TestChains.generateChain())
  siteLonger = await atNow(
    TestChains.generateChain({ root: site.root, leafNotAfter: new Date(NOW.getTime() + 700 * DAY) })
  )
  wildcard = await atNow(
    TestChains.generateChain({ root: site.root, commonName: "*.example.test", dnsNames: ["*.example.test"] })
  )
  otherHost = await atNow(TestChains.generateChain({ root: site.root, siteFqdn: "appliance-b.example.test" }))
  expiringSoon = await atNow(
    TestChains.generateChain({ root: site.root, leafNotAfter: new Date(NOW.getTime() + 10 * DAY) })
  )
  sha1 = await atNow(TestChains.generateChain({ root: site.root, leafHash: "SHA-1" }))
})

const candidate = (label: string, chain: TestChains.GeneratedChain): DefaultCertificate.Candidate => ({
  label,
  chain: chain.chain,
  privateKey: chain.leaf.privateKey
})

describe("DefaultCertificate", () => {
  it.effect("MIGRATE-5: picks the certificate issued to the site FQDN, without warnings, over others", () =>
    Effect.gen(function* () {
      yield* setNow
      const choice = yield* DefaultCertificate.chooseDefault(
        [
          candidate("self-signed appliance-b", otherHost),
          candidate("wildcard", wildcard),
          candidate("site", site),
          candidate("site, longer", siteLonger),
          candidate("site, SHA-1", sha1)
        ],
        SITE
      )
      // Both "site" certificates are clean and issued to the FQDN; the one that lasts longer wins.
      expect(choice.chosen.candidate.label).toBe("site, longer")
      expect(choice.chosen.issuedToSite).toBe(true)
      expect(choice.ranking.map((a) => a.candidate.label)).toEqual([
        "site, longer",
        "site",
        "wildcard",
        "site, SHA-1",
        "self-signed appliance-b"
      ])
    })
  )

  it.effect("MIGRATE-5: an exact name beats a wildcard; a wildcard alone is accepted", () =>
    Effect.gen(function* () {
      yield* setNow
      const only = yield* DefaultCertificate.chooseDefault([candidate("wildcard", wildcard)], SITE)
      expect(only.chosen.coverage).toBe("wildcard")
      const both = yield* DefaultCertificate.chooseDefault(
        [candidate("wildcard", wildcard), candidate("site", site)],
        SITE
      )
      expect(both.chosen.candidate.label).toBe("site")
    })
  )

  it.effect("MIGRATE-5: refuses when the best candidate has a warning, and lists it", () =>
    Effect.gen(function* () {
      yield* setNow
      const error = yield* Effect.flip(
        DefaultCertificate.chooseDefault([candidate("expiring", expiringSoon), candidate("other", otherHost)], SITE)
      )
      expect(error.reason._tag).toBe("NoAcceptableDefault")
      expect(error.message).toContain("ExpiresSoon")
      expect(error.message).toContain("expiring")
      expect(error.message).toContain("escalate to vendor support")
    })
  )

  it.effect("MIGRATE-5: refuses when the best candidate has a blocking finding, or none covers the FQDN", () =>
    Effect.gen(function* () {
      yield* setNow
      const weak = yield* Effect.flip(DefaultCertificate.chooseDefault([candidate("sha1", sha1)], SITE))
      expect(weak.message).toContain("WeakSignatureAlgorithm")
      const mismatched = yield* Effect.flip(
        DefaultCertificate.chooseDefault(
          [{ label: "swapped key", chain: site.chain, privateKey: otherHost.leaf.privateKey }],
          SITE
        )
      )
      expect(mismatched.message).toContain("KeyMismatch")
      const none = yield* Effect.flip(DefaultCertificate.chooseDefault([candidate("other", otherHost)], SITE))
      expect(none.message).toContain(`No certificate is issued to ${SITE}`)
      const empty = yield* Effect.flip(DefaultCertificate.chooseDefault([], SITE))
      expect(empty.reason._tag).toBe("NoAcceptableDefault")
    })
  )

  it.effect("MIGRATE-5: judged at the maintenance window, a certificate that expires before it ends is refused", () =>
    Effect.gen(function* () {
      yield* setNow
      const window = { start: new Date(NOW.getTime() + 400 * DAY), end: new Date(NOW.getTime() + 400 * DAY + 3600_000) }
      const choice = yield* DefaultCertificate.chooseDefault(
        [candidate("site", site), candidate("longer", siteLonger)],
        SITE,
        {
          window
        }
      )
      expect(choice.chosen.candidate.label).toBe("longer")
      const refused = yield* Effect.flip(DefaultCertificate.chooseDefault([candidate("site", site)], SITE, { window }))
      expect(refused.message).toContain("ExpiresBeforeWindowEnds")
    })
  )
})
