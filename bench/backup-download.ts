/**
 * Downloads a 1 GiB settings backup from the simulator with the
 * appliance client (streamed to disk with a running SHA-256, temp file +
 * rename) and with `curl -o` (the baseline), in the same run, over plain
 * HTTP and over HTTPS. Prints both throughputs, their ratio and the client's
 * peak RSS. Targets: ratio >= 0.8, client peak RSS < 150 MB.
 *
 *   pnpm exec tsx bench/backup-download.ts [sizeBytes] [rounds]
 *
 * Three processes: the simulator (`packages/simulator/src/bin.ts --json`),
 * curl, and the client. The client runs in its own plain `node` process from
 * a bundle of this very file (tsup, `--client` mode) so that its peak RSS is
 * the client's, not the tsx loader's nor the simulator's; each client run
 * reports its own getrusage maxRSS.
 */
import { ApplianceClient } from "@sra-upgrade/appliance-client"
import { ApplianceApi } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { execFileSync, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { createInterface } from "node:readline"
import * as Tls from "node:tls"

const MB = 1024 * 1024

/** `--client <json>`: one download with the client, prints `{ bytesPerSecond, maxRss }`. */
const clientMode = async (raw: string): Promise<void> => {
  const args = JSON.parse(raw) as {
    readonly base: string
    readonly clientId: string
    readonly secret: string
    readonly pin?: string
    readonly worker: boolean
    readonly dir: string
    readonly size: number
  }
  let rssBefore = 0
  const bytesPerSecond = await Effect.runPromise(
    Effect.gen(function* () {
      const api = yield* ApplianceApi.ApplianceApi
      const a = yield* api.appliance("A")
      yield* a.health // token and appliance identity outside the timed part, as for curl
      rssBefore = process.memoryUsage.rss()
      const t0 = performance.now()
      const artifact = yield* a.downloadBackup({ directory: args.dir })
      const seconds = (performance.now() - t0) / 1000
      Fs.rmSync(artifact.path)
      if (artifact.bytes !== args.size) throw new Error(`client got ${artifact.bytes} bytes`)
      return artifact.bytes / seconds
    }).pipe(
      Effect.provide(
        ApplianceClient.layer([
          {
            id: "A",
            baseUrl: args.base,
            clientId: args.clientId,
            clientSecret: Redacted.make(args.secret),
            hashOnWorkerThread: args.worker,
            ...(args.pin !== undefined ? { tls: { pinSha256: args.pin } } : {})
          }
        ])
      )
    )
  )
  console.log(JSON.stringify({ bytesPerSecond, maxRss: process.resourceUsage().maxRSS * 1024, rssBefore }))
}

const clientArg = process.argv.indexOf("--client")
if (clientArg >= 0) {
  await clientMode(process.argv[clientArg + 1]!)
  process.exit(0)
}

const SIZE = Number(process.argv[2] ?? 1024 ** 3)
const ROUNDS = Number(process.argv[3] ?? 3)
const root = new URL("..", import.meta.url).pathname
const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "sra-bench-"))

// bundle this file for the client process (plain node, no loader)
const { build } = await import("tsup")
await build({
  entry: { "bench-client": new URL(import.meta.url).pathname },
  outDir: dir,
  format: ["esm"],
  platform: "node",
  target: "node20",
  noExternal: [/.*/],
  external: ["tsup"],
  silent: true,
  config: false,
  dts: false,
  sourcemap: false,
  // undici is CommonJS and requires node builtins
  banner: { js: 'import { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url);' }
})
const bundle = Path.join(dir, "bench-client.js")

interface Started {
  readonly pid: number
  readonly appliances: ReadonlyArray<{ readonly id: string; readonly httpUrl: string; readonly httpsUrl: string }>
}

// the simulator's default full-access account (SimConfig.defaultAccounts[0])
const { defaultAccounts } = await import("../packages/simulator/src/SimConfig.js")

const child = spawn(
  process.execPath,
  ["--import", "tsx", "packages/simulator/src/bin.ts", "--json", "--time-scale", "0", "--backup-size", String(SIZE)],
  { cwd: root, stdio: ["ignore", "pipe", "inherit"] }
)
const started = await new Promise<Started>((resolve, reject) => {
  const rl = createInterface({ input: child.stdout })
  rl.once("line", (line) => resolve(JSON.parse(line) as Started))
  child.once("exit", (code) => reject(new Error(`simulator exited early (${code})`)))
})

const account = defaultAccounts[0]!
const appliance = started.appliances[0]!
// pin what the simulator serves (read once, without trusting it)
const pin = await new Promise<string>((resolve, reject) => {
  const u = new URL(appliance.httpsUrl)
  const socket = Tls.connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => {
    resolve(socket.getPeerCertificate().fingerprint256)
    socket.end()
  })
  socket.once("error", reject)
})

const token = async (base: string): Promise<string> => {
  // the simulator closes idle connections: a pooled socket may be stale, so try again
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(`${base}/oauth2/token`, {
        method: "POST",
        headers: {
          authorization: `Basic ${Buffer.from(`${account.clientId}:${account.clientSecret}`).toString("base64")}`,
          "content-type": "application/x-www-form-urlencoded"
        },
        body: "grant_type=client_credentials"
      })
      return ((await res.json()) as { access_token: string }).access_token
    } catch (e) {
      if (attempt >= 3) throw e
    }
  }
}

/** curl -o file; with `hash`, also `| tee file | sha256sum` (the same work as the client). */
const curl = async (base: string, hash: boolean): Promise<number> => {
  const bearer = await token(appliance.httpUrl) // tokens are per appliance, valid on both listeners
  const out = Path.join(dir, "curl.nsb")
  const t0 = performance.now()
  if (hash) {
    execFileSync(
      "bash",
      [
        "-o",
        "pipefail",
        "-c",
        `curl -s -k -f -H "Authorization: Bearer $TOKEN" "$URL" | tee "$OUT" | sha256sum > /dev/null`
      ],
      { env: { ...process.env, TOKEN: bearer, URL: `${base}/api/backup`, OUT: out } }
    )
  } else {
    execFileSync("curl", ["-s", "-k", "-f", "-o", out, "-H", `Authorization: Bearer ${bearer}`, `${base}/api/backup`])
  }
  const seconds = (performance.now() - t0) / 1000
  const bytes = Fs.statSync(out).size
  Fs.rmSync(out)
  if (bytes !== SIZE) throw new Error(`curl got ${bytes} bytes`)
  return bytes / seconds
}

let clientPeakRss = 0
let clientRssBefore = 0
const peakRss = { inline: 0, worker: 0 }
const client = (base: string, https: boolean, worker = false): number => {
  const out = execFileSync(process.execPath, [
    bundle,
    "--client",
    JSON.stringify({
      base,
      clientId: account.clientId,
      secret: account.clientSecret,
      ...(https ? { pin } : {}),
      worker,
      dir,
      size: SIZE
    })
  ]).toString()
  const result = JSON.parse(out.trim().split("\n").at(-1)!) as {
    bytesPerSecond: number
    maxRss: number
    rssBefore: number
  }
  clientPeakRss = Math.max(clientPeakRss, result.maxRss)
  peakRss[worker ? "worker" : "inline"] = Math.max(peakRss[worker ? "worker" : "inline"], result.maxRss)
  clientRssBefore = Math.max(clientRssBefore, result.rssBefore)
  return result.bytesPerSecond
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const rows: Array<Record<string, string>> = []
try {
  for (const [label, base, https] of [
    ["http", appliance.httpUrl, false],
    ["https", appliance.httpsUrl, true]
  ] as const) {
    const curlRuns: Array<number> = []
    const curlHashRuns: Array<number> = []
    const clientRuns: Array<number> = []
    const workerRuns: Array<number> = []
    for (let i = 0; i < ROUNDS; i++) {
      curlRuns.push(await curl(base, false))
      curlHashRuns.push(await curl(base, true))
      clientRuns.push(client(base, https))
      workerRuns.push(client(base, https, true))
    }
    const c = median(curlRuns)
    const ch = median(curlHashRuns)
    const k = median(clientRuns)
    const w = median(workerRuns)
    const fmt = (xs: ReadonlyArray<number>) => xs.map((x) => (x / MB).toFixed(0)).join("/")
    rows.push({
      transport: label,
      size: `${(SIZE / MB).toFixed(0)} MiB`,
      "curl -o MB/s": (c / MB).toFixed(0),
      "curl|tee|sha256sum MB/s": (ch / MB).toFixed(0),
      "client MB/s": (k / MB).toFixed(0),
      "client/curl": (k / c).toFixed(2),
      "client/(curl+sha256)": (k / ch).toFixed(2),
      "client hash-on-worker MB/s": (w / MB).toFixed(0),
      "worker/curl": (w / c).toFixed(2),
      runs: `curl ${fmt(curlRuns)}; curl+sha ${fmt(curlHashRuns)}; client ${fmt(clientRuns)}; worker ${fmt(workerRuns)}`
    })
  }
} finally {
  child.kill("SIGINT")
  Fs.rmSync(dir, { recursive: true, force: true })
}

console.table(rows)
console.log(
  `client peak RSS (own node process, bundled, max over runs): ${(peakRss.inline / MB).toFixed(0)} MB default, ${(peakRss.worker / MB).toFixed(0)} MB with hashOnWorkerThread (RSS before the download: ${(clientRssBefore / MB).toFixed(0)} MB); target < 150 MB`
)
console.log(
  `machine: ${Os.cpus().length} cores, load average ${Os.loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}, Node ${process.version}; simulator, curl and client in separate processes`
)
