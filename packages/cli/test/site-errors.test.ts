/**
 * A new user's mistakes in the site file, tried through `plan`, `check` and
 * `run`: each gives exit code 2 and one message that names the file, the
 * field and what was expected.
 */
import { describe, expect, it } from "vitest"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { folder, runCli, siteYaml } from "./support.js"

const planArgs = (file: string) => ["plan", "--site", file, "--to", "24.3.2", "--current", "24.1.3"]

describe("broken site files", () => {
  it("a missing file: says it cannot be read and names it", async () => {
    const r = await runCli(...planArgs("/nonexistent/site.yaml"))
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("/nonexistent/site.yaml: cannot read the site file (ENOENT)")
  })

  it("an unknown extension: asks for .yaml, .yml or .json", async () => {
    const dir = folder({ "site.txt": siteYaml() })
    const r = await runCli("check", "--site", join(dir, "site.txt"), "--to", "24.3.2")
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("site.txt: unknown format; name the site file *.yaml, *.yml or *.json")
  })

  it("a YAML syntax error: file, line and column", async () => {
    const dir = folder({ "site.yaml": "hostname: a.example.com\nappliances:\n  - id: A\n   role: none\n" })
    const r = await runCli(...planArgs(join(dir, "site.yaml")))
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/site\.yaml:\d+:\d+: not valid YAML/)
  })

  it("a JSON syntax error: file, line and column", async () => {
    const dir = folder({ "site.json": '{\n  "hostname": "a.example.com",\n  "product": "pra",\n}\n' })
    const r = await runCli("run", "--site", join(dir, "site.json"), "--to", "24.3.2")
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/site\.json:4:\d+: not valid JSON/)
  })

  it("a wrong value: names the path and the allowed values", async () => {
    const dir = folder({ "site.yaml": siteYaml().replace("product: pra", "product: pam") })
    const r = await runCli(...planArgs(join(dir, "site.yaml")))
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("product: expected")
    expect(r.stderr).toContain('"pra"')
    expect(r.stderr).toContain('"rs"')
    expect(r.stderr).toContain("pam")
  })

  it("a missing field: names its path", async () => {
    const dir = folder({ "site.yaml": siteYaml().replace("    uniqueIp: 10.20.0.11\n", "") })
    const r = await runCli(...planArgs(join(dir, "site.yaml")))
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("appliances[0].uniqueIp")
  })

  it("a misspelt field: says it is unknown and lists the known ones", async () => {
    const dir = folder({ "site.yaml": siteYaml().replace("apiUrl:", "apiURL:") })
    const r = await runCli(...planArgs(join(dir, "site.yaml")))
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("appliances[0].apiURL: unknown field")
  })

  it("a secret written in the file: asks for a reference instead", async () => {
    const dir = folder({ "site.yaml": siteYaml({ secret: "s3cr3t-in-clear" }) })
    const r = await runCli(...planArgs(join(dir, "site.yaml")))
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("appliances[0].clientSecret: expected a secret reference")
    expect(r.stderr).not.toContain("s3cr3t-in-clear")
  })

  it("a secret variable that is not set: names the variable, not a value", async () => {
    const dir = folder({ "site.yaml": siteYaml() })
    const r = await runCli("run", "--site", join(dir, "site.yaml"), "--to", "24.3.2")
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("environment variable SRA_TEST_SECRET_THAT_IS_NOT_SET")
    expect(r.stderr).toContain("appliances[0].clientSecret")
  })

  it("plain http without allowPlainHttp: says how to allow it", async () => {
    const dir = folder({ "site.yaml": siteYaml({ apiUrl: "http://10.20.0.11" }) })
    const r = await runCli("check", "--site", join(dir, "site.yaml"), "--to", "24.3.2")
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("appliances[0].apiUrl: plain http:// is refused")
  })

  it("a pair method for a single appliance: says which method fits", async () => {
    const dir = folder({ "site.yaml": siteYaml() })
    const r = await runCli(...planArgs(join(dir, "site.yaml")), "--method", "async")
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("the site has one appliance; --method async is for failover pairs")
  })

  it("PREP-7: a failover pair without --method is a usage error naming both methods and the guide's advice", async () => {
    const pair = fileURLToPath(new URL("../../../examples/pair.yaml", import.meta.url))
    const r = await runCli(...planArgs(pair))
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("choose its method (PREP-7)")
    expect(r.stderr).toContain("--method sync")
    expect(r.stderr).toContain("--method async")
    expect(r.stderr).toContain("advises it for simple deployments")
    const chosen = await runCli(...planArgs(pair), "--method", "sync")
    expect(chosen.code, chosen.stderr).toBe(0)
  })

  it("a target with no install path: names the missing package", async () => {
    const dir = folder({ "site.yaml": siteYaml() })
    const r = await runCli("plan", "--site", join(dir, "site.yaml"), "--to", "25.1.1", "--current", "24.1.3")
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/25\.1\.1/)
  })
})
