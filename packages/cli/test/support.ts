import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Effect from "effect/Effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { vi } from "vitest"
import * as Cli from "../src/Cli.js"

export interface Outcome {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const text = (args: ReadonlyArray<unknown>) => args.map((a) => (typeof a === "string" ? a : String(a))).join(" ")

/** Run the command in process, capturing what it prints. */
export const runCli = (...args: ReadonlyArray<string>): Promise<Outcome> => {
  const out: Array<string> = []
  const err: Array<string> = []
  const log = vi.spyOn(console, "log").mockImplementation((...a: Array<unknown>) => void out.push(text(a)))
  const info = vi.spyOn(console, "info").mockImplementation((...a: Array<unknown>) => void out.push(text(a)))
  const error = vi.spyOn(console, "error").mockImplementation((...a: Array<unknown>) => void err.push(text(a)))
  return Effect.runPromise(Cli.main(["node", "sra-upgrade", ...args]).pipe(Effect.provide(NodeContext.layer)))
    .then((code) => ({ code, stdout: out.join("\n"), stderr: err.join("\n") }))
    .finally(() => {
      log.mockRestore()
      info.mockRestore()
      error.mockRestore()
    })
}

/** A fresh folder with these files. */
export const folder = (files: Readonly<Record<string, string>>): string => {
  const dir = mkdtempSync(join(tmpdir(), "sra-cli-test-"))
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content)
  return dir
}

/** A valid single-appliance site file (YAML) pointing at `apiUrl`. */
export const siteYaml = (
  options: { readonly apiUrl?: string; readonly extra?: string; readonly secret?: string } = {}
) => `
hostname: support.example.com
product: pra
appliances:
  - id: A
    role: none
    apiUrl: ${options.apiUrl ?? "https://10.20.0.11"}
    uniqueIp: 10.20.0.11
    clientId: 7f3c2a9e1b4d4e0a9c8b6d5e4f3a2b1c
    clientSecret: ${options.secret ?? "{ env: SRA_TEST_SECRET_THAT_IS_NOT_SET }"}
    baseVersion: "6.1.0"
backup:
  directory: /tmp/sra-backups
updates:
  - id: base-6.2.1
    kind: base
    version: "6.2.1"
  - id: site-24.3.2
    kind: site
    version: "24.3.2"
    requires: [base-6.2.1]
${options.extra ?? ""}`
