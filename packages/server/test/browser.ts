// Browser-test wiring: Debian's chromium (never a downloaded browser) driven
// by playwright-core; the page built into a temporary folder with Vite (CI
// runs `pnpm test` before `pnpm build`); `sra-upgrade serve --demo` as a child
// process whose first stdout line tells the URL and the tokens.
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { chromium, type Browser } from "playwright-core"

const here = fileURLToPath(new URL(".", import.meta.url))
export const repoRoot = resolve(here, "../../..")
export const serverRoot = resolve(here, "..")

/** Chromium to drive: `CHROMIUM_PATH`, else Debian's `/usr/bin/chromium`. */
export const chromiumPath = (): string | undefined => {
  const candidates = [process.env["CHROMIUM_PATH"], "/usr/bin/chromium", "/usr/bin/chromium-browser"]
  return candidates.find((p): p is string => p !== undefined && p !== "" && existsSync(p))
}

/**
 * The browser tests never skip: without chromium they fail, saying how to
 * install it (`.ci/run` does it on CI).
 */
export const requireBrowser = (): void => {
  if (chromiumPath() === undefined)
    throw new Error(
      "No chromium for the portal's browser test: install Debian's (`apt-get install -y chromium`, as .ci/run does) or set CHROMIUM_PATH to a Chromium binary. This test never skips."
    )
}

export const launch = (): Promise<Browser> =>
  chromium.launch({
    executablePath: chromiumPath()!,
    args: ["--disable-gpu", "--disable-quic", "--disable-sync"]
  })

/** Build the page with Vite into a fresh folder; returns it. */
export const buildPage = async (): Promise<string> => {
  const outDir = mkdtempSync(join(tmpdir(), "sra-portal-page-"))
  const { build } = await import("vite")
  await build({
    configFile: join(serverRoot, "page", "vite.config.ts"),
    logLevel: "warn",
    build: { outDir, emptyOutDir: true }
  })
  return outDir
}

export interface Demo {
  readonly url: string
  readonly tokens: Readonly<Record<"viewer" | "operator" | "approver" | "approver2" | "admin", string>>
  readonly runs: string
  readonly child: ChildProcess
  readonly output: () => string
}

/** Start `sra-upgrade serve --demo --json --port 0` and wait for its first line. */
export const startDemo = (args: ReadonlyArray<string>, timeoutMillis = 240_000): Promise<Demo> =>
  new Promise((resolvePromise, reject) => {
    const child = spawn(
      join(repoRoot, "node_modules", ".bin", "tsx"),
      [join(repoRoot, "packages", "cli", "src", "bin.ts"), "serve", "--demo", "--json", "--port", "0", ...args],
      { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } }
    )
    let out = ""
    let err = ""
    let done = false
    const timer = setTimeout(() => {
      if (done) return
      done = true
      child.kill("SIGKILL")
      reject(new Error(`serve --demo printed nothing in ${timeoutMillis} ms; stderr: ${err}`))
    }, timeoutMillis)
    child.stdout!.on("data", (b: Buffer) => {
      out += b.toString("utf8")
      const nl = out.indexOf("\n")
      if (!done && nl >= 0) {
        done = true
        clearTimeout(timer)
        try {
          const first = JSON.parse(out.slice(0, nl)) as Omit<Demo, "child" | "output">
          resolvePromise({ ...first, child, output: () => out + err })
        } catch (e) {
          reject(new Error(`serve --demo: first line is not JSON: ${out.slice(0, nl)} (${String(e)})`))
        }
      }
    })
    child.stderr!.on("data", (b: Buffer) => {
      err += b.toString("utf8")
    })
    child.on("exit", (code) => {
      if (done) return
      done = true
      clearTimeout(timer)
      reject(new Error(`serve --demo exited with ${code}: ${err}`))
    })
  })

/** Send SIGINT (Ctrl-C) and wait for the exit; returns the code and how long it took. */
export const interrupt = (
  child: ChildProcess,
  timeoutMillis = 30_000
): Promise<{ code: number | null; millis: number }> =>
  new Promise((resolvePromise, reject) => {
    if (child.exitCode !== null) return resolvePromise({ code: child.exitCode, millis: 0 })
    const started = Date.now()
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`the service did not stop within ${timeoutMillis} ms of SIGINT`))
    }, timeoutMillis)
    child.once("exit", (code) => {
      clearTimeout(timer)
      resolvePromise({ code, millis: Date.now() - started })
    })
    child.kill("SIGINT")
  })
