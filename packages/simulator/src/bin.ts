/**
 * `pnpm sim`: starts a failover pair A (primary) + B (backup) and the site
 * front, prints URLs and API credentials, and runs until Ctrl-C.
 *
 * Options: --time-scale N (simulated seconds per real second, default 60),
 * --backup-size BYTES, --backup-password PW, --clients N, --product pra|rs,
 * --namespace beyondtrust|bomgar, --host ADDR, --port BASE (fixed ports from BASE:
 * A http/https, B http/https, site http/https, control), --json (print one JSON line),
 * --sites N [--pairs P] (many sites in one process, free ports).
 */
// Deliberately imports the server without Effect: the process stays small (~80 MB idle under tsx).
import { SimServer } from "./internal/server.js"
import { SimSites } from "./internal/sites.js"
import type { SimConfigInput } from "./SimConfig.js"
import * as SimConfig from "./SimConfig.js"

const args = process.argv.slice(2)
const opt = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : undefined
}
if (args.includes("--help") || args.includes("-h")) {
  console.log(`Usage: pnpm sim [--time-scale N] [--backup-size BYTES] [--backup-password PW] [--clients N]
                [--product pra|rs] [--namespace beyondtrust|bomgar] [--host ADDR] [--port BASE] [--json]

  --time-scale N      simulated seconds per real second (default 60; 0 = only POST /__sim/clock/advance moves time)
  --port BASE         fixed ports: A http=BASE https=BASE+1, B http=BASE+2 https=BASE+3,
                      site http=BASE+4 https=BASE+5, control=BASE+6 (default: free ports)
  --backup-size BYTES size of the streamed settings backup (default 8 MiB; several GiB is fine)
  --sites N           N simulated sites in one process (site-001…), each with its own control URL
  --pairs P           with --sites: how many are failover pairs (default all; the others single appliances)
  --json              print URLs and credentials as one JSON line (for scripts)`)
  process.exit(0)
}
const num = (name: string): number | undefined => {
  const v = opt(name)
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isFinite(n) || n < 0) {
    console.error(`--${name} expects a non-negative number, got "${v}"`)
    process.exit(2)
  }
  return n
}
const product = opt("product")
const namespace = opt("namespace")
const timeScale = num("time-scale")
const backupSize = num("backup-size")
const clients = num("clients")
const host = opt("host")
const basePort = num("port")
const password = opt("backup-password")
const input: SimConfigInput = {
  ...(timeScale !== undefined ? { timeScale } : {}),
  ...(backupSize !== undefined ? { backupSizeBytes: Math.floor(backupSize) } : {}),
  ...(password !== undefined ? { backupPassword: password } : {}),
  ...(product === "pra" || product === "rs" ? { product } : {}),
  ...(namespace === "beyondtrust" || namespace === "bomgar" ? { xmlNamespace: namespace } : {}),
  ...(host !== undefined ? { host } : {}),
  ...(basePort !== undefined ? { basePort: Math.floor(basePort) } : {}),
  ...(clients !== undefined ? { fleet: { jumpClients: Math.floor(clients) } } : {})
}

const sites = num("sites")
if (sites !== undefined) {
  const started = Date.now()
  let many: SimSites
  try {
    const pairs = num("pairs")
    const { basePort: _, ...common } = input
    many = await SimSites.create(SimConfig.makeSites({ sites, pairs, common }))
  } catch (e) {
    console.error(`--sites/--pairs: ${e instanceof Error ? e.message : String(e)}`)
    process.exit(2)
  }
  await many.start()
  const startSeconds = (Date.now() - started) / 1000
  const summaries = many.summaries()
  if (args.includes("--json"))
    console.log(
      JSON.stringify({
        pid: process.pid,
        control: many.controlUrl(),
        startSeconds,
        caPem: many.caPem,
        sites: summaries
      })
    )
  else
    console.log(
      [
        `SRA appliance simulator: ${summaries.length} sites, time x${SimConfig.make(input).timeScale}, started in ${startSeconds.toFixed(1)} s`,
        ...summaries.map(
          (s) => `  ${s.name.padEnd(10)} ${s.kind.padEnd(6)} site ${s.site.httpsUrl}  control ${s.control}`
        ),
        `  all sites: ${many.controlUrl()}`,
        "Ctrl-C to stop."
      ].join("\n")
    )
  const stopMany = (): void => {
    many.stop().then(
      () => process.exit(0),
      () => process.exit(1)
    )
  }
  process.on("SIGINT", stopMany)
  process.on("SIGTERM", stopMany)
} else {
  const server = await SimServer.create(SimConfig.make(input))
  await server.start()
  const config = server.config
  const sim = {
    config,
    controlUrl: server.controlUrl(),
    site: { hostname: config.siteHostname, ...server.siteUrls() },
    appliances: server.endpoints(),
    accounts: config.accounts.map((a) => ({
      name: a.name,
      clientId: a.clientId,
      clientSecret: a.clientSecret,
      permCommand: a.permCommand,
      permBackup: a.permBackup,
      permConfiguration: a.permConfiguration
    })),
    close: () => server.stop()
  }
  if (args.includes("--json")) {
    console.log(
      JSON.stringify({
        pid: process.pid,
        control: sim.controlUrl,
        site: sim.site,
        appliances: sim.appliances,
        accounts: sim.accounts,
        caPem: server.caPem
      })
    )
  } else {
    const lines = [
      `SRA appliance simulator (${sim.config.product.toUpperCase()}, time x${sim.config.timeScale})`,
      "",
      ...sim.appliances.map(
        (a) =>
          `  appliance ${a.id}  ${a.hostname.padEnd(24)} ${a.httpsUrl}  (http: ${a.httpUrl})  guid ${a.guid}  cert sha256 ${a.certificateSha256}`
      ),
      `  site      ${sim.site.hostname.padEnd(24)} ${sim.site.httpsUrl}  (http: ${sim.site.httpUrl})`,
      `  control   ${sim.controlUrl}   (GET ${sim.controlUrl}/state)`,
      "",
      "API accounts (client_id / client_secret):",
      ...sim.accounts.map(
        (a) =>
          `  ${a.name.padEnd(14)} ${a.clientId}  ${a.clientSecret}  perm_command=${a.permCommand} perm_backup=${a.permBackup ? 1 : 0}`
      ),
      "",
      "HTTPS certificates come from a private CA generated at start; its root (trust it, e.g. curl --cacert):",
      server.caPem.trim(),
      `Try: curl -s -u '${sim.accounts[0]?.clientId}:${sim.accounts[0]?.clientSecret ?? ""}' -d grant_type=client_credentials ${sim.appliances[0]?.httpUrl}/oauth2/token`,
      "Ctrl-C to stop."
    ]
    console.log(lines.join("\n"))
  }
  const stop = (): void => {
    sim.close().then(
      () => process.exit(0),
      () => process.exit(1)
    )
  }
  process.on("SIGINT", stop)
  process.on("SIGTERM", stop)
}
