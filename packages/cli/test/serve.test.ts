// `sra-upgrade serve`: what it refuses before it listens (the running
// service is tested by packages/server, `serve --demo` by its browser test).
import { describe, expect, it } from "vitest"
import { join } from "node:path"
import { folder, runCli } from "./support.js"

describe("sra-upgrade serve", () => {
  it("needs a tokens file unless --demo", async () => {
    const r = await runCli("serve", "--port", "0", "--runs", join(folder({}), "runs"))
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("give --tokens FILE")
  })

  it("takes --tls-cert and --tls-key together", async () => {
    const r = await runCli("serve", "--demo", "--tls-cert", "/nonexistent.pem")
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("--tls-cert and --tls-key go together")
  })

  it("names an unreadable tokens file, a bad policies file and a bad webhooks file", async () => {
    const dir = folder({
      "policies.json": '{"dangerous":{"approvals":0}}',
      "webhooks.json": '{"endpoints":[{"id":"x","url":"https://h.example.com","secrets":[{"env":"NOPE_NOT_SET_1"}]}]}'
    })
    const tokens = await runCli(
      "serve",
      "--port",
      "0",
      "--tokens",
      join(dir, "missing.json"),
      "--runs",
      join(dir, "runs")
    )
    expect(tokens.code).toBe(2)
    expect(tokens.stderr).toContain("cannot read the tokens file")
    const policies = await runCli("serve", "--demo", "--policies", join(dir, "policies.json"))
    expect(policies.code).toBe(2)
    expect(policies.stderr).toContain("not a policies file")
    const webhooks = await runCli("serve", "--demo", "--webhooks", join(dir, "webhooks.json"))
    expect(webhooks.code).toBe(2)
    expect(webhooks.stderr).toContain("NOPE_NOT_SET_1")
  })

  it("names a fleet database it cannot open", async () => {
    const missing = join(folder({}), "no-such-folder", "fleet.db")
    const r = await runCli("serve", "--demo", "--port", "0", "--fleet-database", missing)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(`The fleet database ${missing} cannot be opened`)
    expect(r.stderr).toContain("check --fleet-database")
  }, 120_000)
})
