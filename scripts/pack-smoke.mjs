// Packs every publishable package (pnpm pack, which applies publishConfig),
// installs the tarballs into a fresh temporary npm project, and imports each
// entry point with plain Node, both as ESM (import) and CJS (require).
// Exit code 1 on any failure. Run after `pnpm build`.
import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const root = new URL("..", import.meta.url).pathname
const work = mkdtempSync(join(tmpdir(), "sra-pack-"))
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: ["ignore", "pipe", "inherit"] }).toString()

try {
  const packages = readdirSync(join(root, "packages")).filter((p) => {
    const manifest = JSON.parse(readFileSync(join(root, "packages", p, "package.json"), "utf8"))
    return !manifest.private && existsSync(join(root, "packages", p, "dist", "index.js"))
  })
  if (packages.length === 0) throw new Error("nothing built: run `pnpm build` first")
  const tarballs = packages.map((p) => {
    const out = run("pnpm", ["pack", "--pack-destination", work], join(root, "packages", p))
      .trim()
      .split("\n")
    return out.find((l) => l.endsWith(".tgz")).trim()
  })
  writeFileSync(join(work, "package.json"), JSON.stringify({ name: "pack-smoke", private: true }))
  run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...tarballs], work)
  for (const p of packages) {
    const name = `@sra-upgrade/${p}`
    const esm = run(
      "node",
      ["--input-type=module", "-e", `const m = await import("${name}"); console.log(Object.keys(m).length)`],
      work
    )
    const cjs = run("node", ["-e", `console.log(Object.keys(require("${name}")).length)`], work)
    if (Number(esm) === 0 || Number(cjs) === 0)
      throw new Error(`${name}: no exports (esm ${esm.trim()}, cjs ${cjs.trim()})`)
    console.log(`${name}: ESM ${esm.trim()} exports, CJS ${cjs.trim()} exports`)
  }
  // the public test double of the port is a subpath export of core (appliance-client's re-exports it, deprecated)
  for (const p of ["core", "appliance-client"].filter((p) => packages.includes(p))) {
    const name = `@sra-upgrade/${p}/test`
    const esm = run(
      "node",
      ["--input-type=module", "-e", `const m = await import("${name}"); console.log(Object.keys(m).length)`],
      work
    )
    const cjs = run("node", ["-e", `console.log(Object.keys(require("${name}")).length)`], work)
    if (Number(esm) === 0 || Number(cjs) === 0) throw new Error(`${name}: no exports`)
    console.log(`${name}: ESM ${esm.trim()} exports, CJS ${cjs.trim()} exports`)
  }
  // the packed command runs in plain Node
  if (packages.includes("cli")) {
    const help = run(join(work, "node_modules", ".bin", "sra-upgrade"), ["--help"], work)
    if (!help.includes("demo")) throw new Error("sra-upgrade --help does not list the demo command")
    console.log("sra-upgrade --help: ok")
  }
  console.log(`pack smoke ok: ${packages.length} package(s)`)
} finally {
  rmSync(work, { recursive: true, force: true })
}
