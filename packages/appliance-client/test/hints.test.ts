/**
 * Hints name what the person edits: the fields of `ApplianceClient.Connection`
 * by default, the site file's fields when the connection says it came from
 * one (`ApplianceClient.siteFileSettingNames`).
 */
import { describe, expect, it } from "@effect/vitest"
import { ApplianceApi, ApplianceError } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import { ApplianceClient } from "../src/index.js"
import * as Errors from "../src/internal/errors.js"
import { makeMock, withClient } from "./mock.js"

const reasons: ReadonlyArray<ApplianceError.ApplianceErrorReason> = [
  new ApplianceError.Unauthorized(),
  new ApplianceError.Forbidden({ permission: "perm_backup" }),
  new ApplianceError.Forbidden({}),
  new ApplianceError.NotFound(),
  new ApplianceError.RateLimited({ retryAfterSeconds: 30 }),
  new ApplianceError.Timeout({ afterMillis: 30_000 }),
  new ApplianceError.Transport({ code: "ECONNREFUSED" }),
  new ApplianceError.TlsMismatch({ expected: "aa", seen: "bb" }),
  new ApplianceError.TlsMismatch({ seen: "bb" }),
  new ApplianceError.Decode({ path: "(json)", excerpt: "<html>" }),
  new ApplianceError.ApplianceRefused({ applianceMessage: "no", status: 500 }),
  new ApplianceError.LocalIo({ path: "/backups", code: "ENOSPC" }),
  new ApplianceError.LocalIo({ path: "/backups", code: "EACCES" }),
  new ApplianceError.LocalIo({ path: "/backups", code: "STALLED", afterMillis: 60_000 }),
  new ApplianceError.LocalIo({ path: "/backups", code: "EIO" }),
  new ApplianceError.NotConfigured()
]
const operations = ["health", "downloadBackup", "setFailoverRole", "jumpClients"]

const hints = (who: Errors.Who) =>
  reasons.flatMap((reason) => operations.map((operation) => Errors.hint(who, operation, reason)))

const base = { id: "A", baseUrl: "https://10.0.0.11", clientId: "client-A" }
const siteNames = ApplianceClient.siteFileSettingNames("sites/prod.yaml", 1)

describe("hints", () => {
  it("a pinned appliance whose certificate changed: the site file's appliances[i].tls.sha256, not tls.pinSha256", () => {
    const pinned = new ApplianceError.TlsMismatch({ expected: "aa", seen: "bb" })
    expect(Errors.hint({ ...base, pinned: true, names: siteNames }, "health", pinned)).toContain(
      "set appliances[1].tls.sha256 in sites/prod.yaml to the fingerprint seen"
    )
    expect(Errors.hint({ ...base, pinned: true }, "health", pinned)).toContain("set tls.pinSha256 to the fingerprint")
  })

  it("with site-file names, no hint names a field of the library's Connection", () => {
    for (const hint of hints({ ...base, pinned: true, names: siteNames }).concat(
      hints({ ...base, pinned: false, names: siteNames })
    )) {
      for (const field of [
        "pinSha256",
        "caPem",
        "timeoutMillis",
        "baseUrl",
        "clientSecret and",
        "ApplianceClient layer"
      ]) {
        expect(hint).not.toContain(field)
      }
    }
  })

  it("each setting named in a hint is a field of the site file", () => {
    const all = hints({ ...base, pinned: true, names: siteNames }).concat(
      hints({ ...base, pinned: false, names: siteNames })
    )
    const named = new Set(
      all.flatMap((h) => [...h.matchAll(/appliances\[1\]\.[\w.]+|backup\.directory/g)].map((m) => m[0]))
    )
    expect([...named].sort()).toEqual(
      [
        "appliances[1].apiUrl",
        "appliances[1].clientId",
        "appliances[1].clientSecret",
        "appliances[1].tls.caFile",
        "appliances[1].tls.sha256",
        "backup.directory"
      ].sort()
    )
  })

  it("a timeout suggests raising the time limit only where the user has one", () => {
    const timeout = new ApplianceError.Timeout({ afterMillis: 30_000 })
    expect(Errors.hint({ ...base, pinned: false }, "health", timeout)).toContain("or raise timeoutMillis")
    expect(Errors.hint({ ...base, pinned: false, names: siteNames }, "health", timeout)).not.toContain("raise")
  })

  it("a full disk names where the backup directory is set", () => {
    const full = new ApplianceError.LocalIo({ path: "/backups", code: "ENOSPC" })
    expect(Errors.hint({ ...base, pinned: false, names: siteNames }, "downloadBackup", full)).toContain(
      "backup.directory in sites/prod.yaml"
    )
  })

  it.live("a connection's settingNames reach its hints; the names it leaves out keep the defaults", () =>
    Effect.gen(function* () {
      const mock = makeMock()
      mock.pool
        .intercept({ path: "/api/command/v2/health" })
        .reply(404, { message: "Not Found" }, { headers: { "content-type": "application/json" } })
      const connection = mock.connection({ commandApi: "v2", settingNames: { baseUrl: "apiUrl of A" } })
      const notFound = yield* Effect.flip(withClient(connection, (client) => client.health))
      expect(notFound.reason._tag).toBe("NotFound")
      expect(notFound.hint).toContain("check apiUrl of A and")
      const unknown = yield* Effect.flip(
        Effect.flatMap(ApplianceApi.ApplianceApi, (api) => api.appliance("Z")).pipe(
          Effect.provide(
            ApplianceClient.layer([{ ...connection, settingNames: { connections: "appliances in a.yaml" } }])
          )
        )
      )
      expect(unknown.hint).toBe('Add a connection with id "Z" to appliances in a.yaml (configured: A).')

      const refused = makeMock({ tokenPersist: false })
      refused.pool
        .intercept({ path: "/oauth2/token", method: "POST" })
        .reply(401, { error: "invalid_client" }, { headers: { "content-type": "application/json" } })
      const unauthorized = yield* Effect.flip(
        withClient(refused.connection({ settingNames: { baseUrl: "apiUrl of A" } }), (client) => client.health)
      )
      expect(unauthorized.reason._tag).toBe("Unauthorized")
      expect(unauthorized.hint).toContain("(clientId and clientSecret)")
    })
  )
})
