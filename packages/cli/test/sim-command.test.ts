/**
 * `sra-upgrade sim`, run in process until it has printed its URLs, then
 * stopped (as Ctrl-C would): what it serves follows its flags.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { describe, expect, it, vi } from "vitest"
import * as Cli from "../src/Cli.js"
import { runCli } from "./support.js"

interface Printed {
  readonly appliances: ReadonlyArray<{ readonly id: string; readonly httpUrl: string }>
  readonly accounts: ReadonlyArray<{ readonly clientId: string; readonly clientSecret: string }>
}

/** Starts `sra-upgrade sim ...args --json`, hands what it printed to `use`, then stops it. */
const withSim = async (args: ReadonlyArray<string>, use: (printed: Printed) => Promise<void>) => {
  let printed: (p: Printed) => void = () => undefined
  const started = new Promise<Printed>((resolve) => (printed = resolve))
  const log = vi.spyOn(console, "log").mockImplementation((line: unknown) => {
    if (typeof line === "string" && line.startsWith("{")) printed(JSON.parse(line) as Printed)
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

  it("PREP-1: a --backup-size below one byte is a usage error", async () => {
    const r = await runCli("sim", "--backup-size", "0")
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("--backup-size expects a number of bytes of at least 1, got 0")
  })
})
