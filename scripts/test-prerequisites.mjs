#!/usr/bin/env node
// What the test suite needs from the machine beyond Node and npm: Debian's
// chromium (the portal's browser test) and PostgreSQL (the fleet's runners). `pnpm test` runs this first: what is
// missing is installed with apt-get (as root, or through sudo); when that is
// not possible it fails, saying what to install — the suite never skips a test
// for want of a program.
import { execFileSync } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"

/** Programs the tests use: how to find one, and the Debian package that provides it. */
const needs = [
  {
    what: "chromium (the portal's browser test)",
    found: () =>
      [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].some(
        (p) => p !== undefined && p !== "" && existsSync(p)
      ),
    apt: "chromium"
  },
  {
    what: "PostgreSQL's initdb and pg_ctl (the fleet's distributed-runner tests)",
    found: () => {
      try {
        execFileSync("sh", ["-c", "command -v initdb"], { stdio: "ignore" })
        return true
      } catch {
        const root = "/usr/lib/postgresql"
        return existsSync(root) && readdirSync(root).some((v) => existsSync(`${root}/${v}/bin/initdb`))
      }
    },
    apt: "postgresql"
  }
]

const missing = needs.filter((n) => !n.found())
if (missing.length === 0) process.exit(0)

const packages = missing.map((n) => n.apt)
const isRoot = typeof process.getuid === "function" && process.getuid() === 0
const hasSudo = (() => {
  try {
    execFileSync("sudo", ["-n", "true"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()
const fail = (why) => {
  console.error(
    `test prerequisites: missing ${missing.map((n) => n.what).join(", ")}; ${why}.\n` +
      `Install them (\`apt-get install -y ${packages.join(" ")}\`) and run the tests again. No test is skipped for want of them.`
  )
  process.exit(1)
}
if (!isRoot && !hasSudo) fail("not root and no password-less sudo to install them")
const run = (args) => execFileSync(isRoot ? args[0] : "sudo", isRoot ? args.slice(1) : args, { stdio: "inherit" })
try {
  console.log(`test prerequisites: installing ${packages.join(", ")} with apt-get`)
  run(["apt-get", "update"])
  run(["apt-get", "install", "-y", ...packages])
} catch (e) {
  fail(`apt-get failed (${e.message})`)
}
const still = missing.filter((n) => !n.found())
if (still.length > 0) fail(`apt-get ran but ${still.map((n) => n.what).join(", ")} is still not found`)
