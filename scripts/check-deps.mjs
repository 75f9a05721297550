// Dependency-direction check (architecture.md): a package may import only the
// packages listed below it. Fails (exit 1) naming every offending import.
// Test files may also import the simulator and the adapter; nothing imports cli.
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"

const allowed = {
  core: [],
  "appliance-client": ["core"],
  failover: ["core"],
  certificates: ["core"],
  migration: ["core", "certificates", "failover"],
  // the operators recognise the gates they play by the step definitions (failover, migration, certificates)
  simulator: ["core", "certificates", "failover", "migration"],
  fleet: ["core", "failover", "migration"],
  server: ["core", "appliance-client", "failover", "certificates", "migration", "fleet"],
  cli: ["core", "appliance-client", "failover", "certificates", "migration", "simulator", "fleet", "server"]
}
const testExtras = ["simulator", "appliance-client"]

const root = new URL("..", import.meta.url).pathname
const files = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    if (name === "node_modules" || name === "dist" || name === "build") return []
    return statSync(p).isDirectory() ? files(p) : /\.(ts|mts|cts|js|mjs)$/.test(name) ? [p] : []
  })
const importRe = /(?:from\s+|import\s*\(\s*|require\s*\(\s*|import\s+)["']@sra-upgrade\/([a-z-]+)/g

const problems = []
for (const pkg of Object.keys(allowed)) {
  const dir = join(root, "packages", pkg)
  for (const kind of ["src", "test"]) {
    let list
    try {
      list = files(join(dir, kind))
    } catch {
      continue
    }
    for (const file of list) {
      const text = readFileSync(file, "utf8")
      for (const m of text.matchAll(importRe)) {
        const target = m[1]
        if (target === pkg) continue
        const ok = allowed[pkg].includes(target) || (kind === "test" && testExtras.includes(target) && pkg !== "core")
        if (!ok || target === "cli")
          problems.push(
            `${relative(root, file)} imports @sra-upgrade/${target}: ${pkg} may use only ${allowed[pkg].join(", ") || "nothing of ours"}`
          )
      }
    }
  }
}
// e2e/ and bench/ sit above every package but cli.
for (const dir of ["e2e", "bench"]) {
  let list
  try {
    list = files(join(root, dir))
  } catch {
    continue
  }
  for (const file of list)
    for (const m of readFileSync(file, "utf8").matchAll(importRe))
      if (m[1] === "cli") problems.push(`${relative(root, file)} imports @sra-upgrade/cli: nothing imports cli`)
}
if (problems.length > 0) {
  console.error("Dependency direction violated (see ../shared/spec/architecture.md, Packages):\n" + problems.join("\n"))
  process.exit(1)
}
console.log(`dependency direction ok (${Object.keys(allowed).length} packages)`)
