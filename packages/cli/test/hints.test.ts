/**
 * The hints of appliance errors tell a CLI user which field of the site file
 * to edit (never the library's `tls.pinSha256`), over real sockets against
 * the simulator.
 */
import { Simulator } from "@sra-upgrade/simulator"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Demo from "../src/Demo.js"
import { folder, runCli } from "./support.js"

let sim: Awaited<ReturnType<typeof Simulator.startPromise>>
let dir: string
let yaml: string

beforeAll(async () => {
  sim = await Simulator.startPromise({})
  dir = folder({})
  const written = Demo.siteFileFor(sim, "sync", join(dir, "backups"))
  writeFileSync(join(dir, "client-secret"), written.secret + "\n")
  writeFileSync(join(dir, "simulator-ca.pem"), written.caPem)
  yaml = written.yaml
})

afterAll(async () => {
  await sim?.close()
})

/** The site file with the first appliance's `tls` mapping replaced (or removed). */
const siteWithTls = (name: string, tls: string | undefined): string => {
  const lines = yaml.split("\n")
  const at = lines.findIndex((l) => /^\s+tls:\s*$/.test(l))
  expect(at).toBeGreaterThan(0)
  const indent = /^(\s*)/.exec(lines[at]!)![1]!
  lines.splice(at, 2, ...(tls === undefined ? [] : [`${indent}tls: ${tls}`]))
  const file = join(dir, name)
  writeFileSync(file, lines.join("\n"))
  return file
}

describe("hints name the site file's fields", () => {
  it("a pinned appliance whose certificate changed: set appliances[0].tls.sha256 in the site file", async () => {
    const site = siteWithTls("pinned.yaml", `{ sha256: "${"00".repeat(32)}" }`)
    const r = await runCli("health", "--site", site)
    expect(r.code, r.stderr).toBe(5)
    expect(r.stderr).toContain("TLS certificate mismatch")
    expect(r.stderr).toContain(`set appliances[0].tls.sha256 in ${site} to the fingerprint seen`)
    expect(r.stderr).not.toContain("pinSha256")
  })

  it("no trust configured for a self-signed appliance: names tls.caFile and tls.sha256 of the site file", async () => {
    const site = siteWithTls("untrusted.yaml", undefined)
    const r = await runCli("health", "--site", site)
    expect(r.code, r.stderr).toBe(5)
    expect(r.stderr).toContain(`set appliances[0].tls.caFile in ${site} to the CA bundle that issued it`)
    expect(r.stderr).toContain(`pin it with appliances[0].tls.sha256 in ${site}`)
    expect(r.stderr).not.toContain("caPem")
    expect(r.stderr).not.toContain("pinSha256")
  })

  it("a wrong client secret: names clientId and clientSecret of the site file", async () => {
    const site = siteWithTls("wrong-secret.yaml", "{ caFile: ./simulator-ca.pem }")
    writeFileSync(join(dir, "wrong-secret"), "not-the-secret\n")
    writeFileSync(site, yaml.replace("./client-secret", "./wrong-secret"))
    const r = await runCli("health", "--site", site)
    expect(r.code, r.stderr).toBe(5)
    expect(r.stderr).toContain(
      `appliances[0].clientId, and the secret that appliances[0].clientSecret points to, in ${site}`
    )
  })

  it("backup --appliance of an id the site file lacks: names the site file's appliances", async () => {
    const site = join(dir, "site.yaml")
    writeFileSync(site, yaml)
    const r = await runCli("backup", "--site", site, "--appliance", "Z")
    expect(r.code, r.stderr).toBe(5)
    expect(r.stderr).toContain(`Add a connection with id "Z" to appliances in ${site} (configured: A, B)`)
  })
})
