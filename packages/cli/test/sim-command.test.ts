/**
 * `sra-upgrade sim`, run in process until it has printed its URLs, then
 * stopped (as Ctrl-C would): what it serves follows its flags.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { describe, expect, it, vi } from "vitest"
import * as Cli from "../src/Cli.js"
import { ApplianceClient } from "@sra-upgrade/appliance-client"
import { ApplianceApi } from "@sra-upgrade/core"
import { readdirSync } from "node:fs"
import { join } from "node:path"
import * as SiteConnections from "../src/SiteConnections.js"
import { folder, runCli } from "./support.js"

interface Printed {
  readonly appliances: ReadonlyArray<{ readonly id: string; readonly httpUrl: string }>
  readonly accounts: ReadonlyArray<{ readonly clientId: string; readonly clientSecret: string }>
}

interface PrintedSites {
  readonly control: string
  readonly sites: ReadonlyArray<{
    readonly name: string
    readonly kind: string
    readonly control: string
    readonly siteFile: string | null
  }>
}

/** Starts `sra-upgrade sim ...args --json`, hands what it printed to `use`, then stops it. */
const withSim = async <P = Printed>(args: ReadonlyArray<string>, use: (printed: P) => Promise<void>) => {
  let printed: (p: P) => void = () => undefined
  const started = new Promise<P>((resolve) => (printed = resolve))
  const log = vi.spyOn(console, "log").mockImplementation((line: unknown) => {
    if (typeof line === "string" && line.startsWith("{")) printed(JSON.parse(line) as P)
  })
  const fiber = Effect.runFork(
    Cli.main(["node", "sra-upgrade", "sim", ...args, "--json"]).pipe(Effect.provide(NodeContext.layer))
  )
  try {
    await use(await started)
  } finally {
    log.mockRestore()
    await Effect.runPromise(Fiber.interrupt(fiber))
  }
}

describe("sra-upgrade sim", () => {
  it("PREP-1: --backup-size sets the size of the backup the appliances stream", async () => {
    await withSim(["--backup-size", "3000001"], async ({ appliances, accounts }) => {
      const a = appliances.find((x) => x.id === "A")!
      const account = accounts[0]!
      const token = (await (
        await fetch(`${a.httpUrl}/oauth2/token`, {
          method: "POST",
          headers: {
            authorization: `Basic ${Buffer.from(`${account.clientId}:${account.clientSecret}`).toString("base64")}`,
            "content-type": "application/x-www-form-urlencoded"
          },
          body: "grant_type=client_credentials"
        })
      ).json()) as { access_token: string }
      const backup = await fetch(`${a.httpUrl}/api/backup`, {
        headers: { authorization: `Bearer ${token.access_token}` }
      })
      expect(backup.status).toBe(200)
      expect(backup.headers.get("content-length")).toBe("3000001")
      expect((await backup.arrayBuffer()).byteLength).toBe(3000001)
    })
  }, 60_000)

  it("--sites 3 --pairs 1 --write-site DIR: one site file per site, usable by the appliance client as written", async () => {
    const dir = folder({})
    await withSim<PrintedSites>(
      ["--sites", "3", "--pairs", "1", "--time-scale", "0", "--write-site", dir],
      async ({ control, sites }) => {
        expect(sites.map((s) => [s.name, s.kind])).toEqual([
          ["site-001", "pair"],
          ["site-002", "single"],
          ["site-003", "single"]
        ])
        expect(sites.map((s) => s.siteFile)).toEqual(
          ["site-001", "site-002", "site-003"].map((n) => join(dir, `${n}.yaml`))
        )
        expect(readdirSync(dir).sort()).toEqual(
          [
            "simulator-ca.pem",
            ...["site-001", "site-002", "site-003"].flatMap((n) => [`${n}.client-secret`, `${n}.yaml`])
          ].sort()
        )
        // each site file, read as the CLI reads it, reaches its own appliances over verified HTTPS
        const healthOf = (file: string) =>
          Effect.gen(function* () {
            const site = yield* SiteConnections.load(file)
            const connections = yield* SiteConnections.connections(site, { siteFile: file })
            return yield* Effect.forEach(site.appliances, (a) =>
              Effect.flatMap(ApplianceApi.ApplianceApi, (api) =>
                Effect.flatMap(api.appliance(a.id), (c) =>
                  Effect.map(c.health, (h) => [a.id, h.hostname, h.failoverRole])
                )
              )
            ).pipe(Effect.provide(ApplianceClient.layer(connections)))
          })
        expect(await Effect.runPromise(healthOf(join(dir, "site-001.yaml")))).toEqual([
          ["A", "site-001-a.sra-simulator.local", "primary"],
          ["B", "site-001-b.sra-simulator.local", "backup"]
        ])
        expect(await Effect.runPromise(healthOf(join(dir, "site-003.yaml")))).toEqual([
          ["A", "site-003-a.sra-simulator.local", "none"]
        ])
        const listed = (await (await fetch(`${control}/sites`)).json()) as ReadonlyArray<{ control: string }>
        expect(listed.map((s) => s.control)).toEqual(sites.map((s) => s.control))
      }
    )
  }, 120_000)

  it("--pairs without --sites, and more pairs than sites, are usage errors", async () => {
    const a = await runCli("sim", "--pairs", "2")
    expect(a.code).toBe(2)
    expect(a.stderr).toContain("--pairs needs --sites N")
    const b = await runCli("sim", "--sites", "2", "--pairs", "3")
    expect(b.code).toBe(2)
    expect(b.stderr).toContain("pairs must be a whole number between 0 and the number of sites (2), got 3")
  })

  it("PREP-1: a --backup-size below one byte is a usage error", async () => {
    const r = await runCli("sim", "--backup-size", "0")
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("--backup-size expects a number of bytes of at least 1, got 0")
  })
})
