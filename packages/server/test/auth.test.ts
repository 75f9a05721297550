// The tokens file holds hashes only; tokens are checked against them; bad
// files are refused with a message that says what to fix. Session values are
// signed and expire.
import { describe, expect, it } from "@effect/vitest"
import { Auth } from "@sra-upgrade/server"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { tempDir } from "./support.js"

describe("tokens and sessions", () => {
  it.effect("a tokens file of SHA-256 hashes authenticates its tokens and nothing else", () =>
    Effect.gen(function* () {
      const jane = Auth.generateToken()
      const file = join(tempDir("tokens"), "tokens.json")
      writeFileSync(
        file,
        JSON.stringify({ tokens: [{ id: "jane", name: "Jane Doe", role: "approver", sha256: Auth.hashToken(jane) }] })
      )
      expect(Redacted.value(jane)).toMatch(/^srat_[A-Za-z0-9_-]{43}$/)
      const tokens = yield* Effect.provide(Auth.Tokens, Auth.layerFile(file))
      const p = yield* tokens.authenticate(jane)
      expect(Option.map(p, (x) => [x.id, x.name, x.role])).toEqual(Option.some(["jane", "Jane Doe", "approver"]))
      expect(Option.isNone(yield* tokens.authenticate(Auth.generateToken()))).toBe(true)
      expect(Option.isNone(yield* tokens.authenticate(Redacted.make(Auth.hashToken(jane))))).toBe(true) // the hash is not a token
      expect(Option.isNone(yield* tokens.authenticate(Redacted.make("")))).toBe(true)
    })
  )

  it.effect("a tokens file that is not one, or names an id twice, is refused and says why", () =>
    Effect.gen(function* () {
      const dir = tempDir("tokens-bad")
      const h = Auth.hashToken(Auth.generateToken())
      const cases: Array<[string, string, string]> = [
        [
          "plain.json",
          JSON.stringify({ tokens: [{ id: "jane", role: "approver", token: "srat_x" }] }),
          "not a tokens file"
        ],
        ["role.json", JSON.stringify({ tokens: [{ id: "jane", role: "root", sha256: h }] }), "not a tokens file"],
        [
          "twice.json",
          JSON.stringify({
            tokens: [
              { id: "jane", role: "viewer", sha256: h },
              { id: "jane", role: "admin", sha256: Auth.hashToken("other-token-0000000") }
            ]
          }),
          "id jane appears twice"
        ],
        ["syntax.json", "{", "not a tokens file"]
      ]
      for (const [name, content, expected] of cases) {
        writeFileSync(join(dir, name), content)
        const e = yield* Effect.flip(Effect.provide(Auth.Tokens, Auth.layerFile(join(dir, name))))
        expect(e.message, name).toContain(expected)
      }
      const missing = yield* Effect.flip(Effect.provide(Auth.Tokens, Auth.layerFile(join(dir, "none.json"))))
      expect(missing.message).toContain("cannot read the tokens file")
    })
  )

  it("session values are signed by the service's key and expire", () => {
    const key = new Uint8Array(32).fill(7)
    const value = Auth.signSession(key, "jane", 1000)
    expect(Auth.verifySession(key, value, 999)).toEqual(Option.some("jane"))
    expect(Option.isNone(Auth.verifySession(key, value, 1001))).toBe(true)
    expect(Option.isNone(Auth.verifySession(new Uint8Array(32).fill(8), value, 999))).toBe(true)
    const [id, , mac] = value.split(".")
    expect(Option.isNone(Auth.verifySession(key, `${id}.99999.${mac}`, 999))).toBe(true) // a longer life is not signed
    // every one-character change of the signature is refused, including the last character's unused bits
    for (const c of ["A", "B", "C", "D"]) {
      const changed = `${mac!.slice(0, -1)}${c}`
      if (changed !== mac) expect(Option.isNone(Auth.verifySession(key, `${id}.1000.${changed}`, 999))).toBe(true)
    }
    expect(Auth.atLeast("approver", "operator")).toBe(true)
    expect(Auth.atLeast("operator", "approver")).toBe(false)
  })
})
