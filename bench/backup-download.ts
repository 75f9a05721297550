/**
 * Downloads a 1 GiB settings backup from the simulator with the
 * appliance client (streamed to a file with a running SHA-256, fsync, temp
 * file + rename) and with `curl -o` (the baseline), in the same run, over
 * plain HTTP and over HTTPS. Prints both throughputs, their ratio and the
 * client's peak RSS. Targets: ratio >= 0.8, client peak RSS < 150 MB.
 *
 *   pnpm exec tsx bench/backup-download.ts [sizeBytes] [rounds=5] [--dir D]
 *
 * Files go to `--dir` (default `/dev/shm` when it exists): a 1 GiB write to
 * this machine's shared virtual disk is bound by its write-back (iowait near
 * 100 % during a run), which then decides both figures and depends on what
 * the previous run left dirty. `--dir /tmp` measures with the disk; the
 * `curl -o + fsync` column is then the fair baseline, since the client
 * fsyncs the backup before naming it and curl does not.
 *
 * On tmpfs each contender starts from warm memory: before every download the
 * bench writes and deletes a file 512 MiB larger than the backup there (the
 * client process's own ~100 MB must not use up the warm pages). This VM hands
 * freed memory back to its host, and the first touch of such pages costs up
 * to six times more (`dd` to /dev/shm: 2.2 GB/s, then 371 MB/s on some runs);
 * without the warm-up that decided which contender won a round. Ratios are
 * taken per round (client and curl measured back to back, in alternating order) and the median of
 * those is printed beside the medians of the throughputs.
 *
 * Client modes: `worker` (the default: the calling thread reads and hashes,
 * a worker thread writes) and `inline` (`writeBackupOnWorkerThread: false`).
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
            writeBackupOnWorkerThread: args.worker,
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

const dirFlag = process.argv.indexOf("--dir")
const positional = process.argv.slice(2).filter((_, i, all) => all[i] !== "--dir" && all[i - 1] !== "--dir")
const SIZE = Number(positional[0] ?? 1024 ** 3)
const ROUNDS = Number(positional[1] ?? 5)
const root = new URL("..", import.meta.url).pathname
const bundleDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "sra-bench-bundle-"))
const downloadsIn = dirFlag >= 0 ? process.argv[dirFlag + 1]! : Fs.existsSync("/dev/shm") ? "/dev/shm" : Os.tmpdir()
const dir = Fs.mkdtempSync(Path.join(downloadsIn, "sra-bench-"))

/** tmpfs: warm the page allocator before each download (see above); elsewhere that would only add write-back. */
const warmUp = execFileSync("stat", ["-f", "-c", "%T", dir]).toString().trim() === "tmpfs"
const ZEROS = Buffer.alloc(MB)
const warm = () => {
  if (!warmUp) return
  const path = Path.join(dir, "warm-up")
  const fd = Fs.openSync(path, "w")
  for (let written = 0; written < SIZE + 512 * MB; written += MB) Fs.writeSync(fd, ZEROS)
  Fs.closeSync(fd)
  Fs.rmSync(path)
}

// bundle this file for the client process (plain node, no loader)
const { build } = await import("tsup")
await build({
  entry: { "bench-client": new URL(import.meta.url).pathname },
  outDir: bundleDir,
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
const bundle = Path.join(bundleDir, "bench-client.js")

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

type CurlMode = "plain" | "fsync" | "sha256"

/** `curl -o file`; `fsync`: then `sync file` (timed); `sha256`: `| tee file | sha256sum` (the client's work). */
const curl = async (base: string, mode: CurlMode): Promise<number> => {
  const bearer = await token(appliance.httpUrl) // tokens are per appliance, valid on both listeners
  const out = Path.join(dir, "curl.nsb")
  warm()
  const t0 = performance.now()
  if (mode === "sha256") {
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
    if (mode === "fsync") execFileSync("sync", [out])
  }
  const seconds = (performance.now() - t0) / 1000
  const bytes = Fs.statSync(out).size
  Fs.rmSync(out)
  if (bytes !== SIZE) throw new Error(`curl got ${bytes} bytes`)
  return bytes / seconds
}

type ClientMode = "worker" | "inline"
let clientRssBefore = 0
const peakRss: Record<ClientMode, number> = { worker: 0, inline: 0 }
const client = (base: string, https: boolean, mode: ClientMode): number => {
  warm()
  const out = execFileSync(process.execPath, [
    bundle,
    "--client",
    JSON.stringify({
      base,
      clientId: account.clientId,
      secret: account.clientSecret,
      ...(https ? { pin } : {}),
      worker: mode === "worker",
      dir,
      size: SIZE
    })
  ]).toString()
  const result = JSON.parse(out.trim().split("\n").at(-1)!) as {
    bytesPerSecond: number
    maxRss: number
    rssBefore: number
  }
  peakRss[mode] = Math.max(peakRss[mode], result.maxRss)
  clientRssBefore = Math.max(clientRssBefore, result.rssBefore)
  return result.bytesPerSecond
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const mbps = (x: number) => (x / MB).toFixed(0)
const rows: Array<Record<string, string>> = []
const details: Array<string> = []
try {
  for (const [label, base, https] of [
    ["http", appliance.httpUrl, false],
    ["https", appliance.httpsUrl, true]
  ] as const) {
    const runs = {
      curl: [] as Array<number>,
      curlFsync: [] as Array<number>,
      curlSha: [] as Array<number>,
      worker: [] as Array<number>,
      inline: [] as Array<number>
    }
    for (let i = 0; i < ROUNDS; i++) {
      // interleaved, so a slow moment of the machine hits every contender alike; each pair measured back to
      // back, curl first in even rounds and the client first in odd ones
      const pair = async (first: () => Promise<void> | void, second: () => Promise<void> | void) => {
        if (i % 2 === 0) {
          await first()
          await second()
        } else {
          await second()
          await first()
        }
      }
      await pair(
        async () => void runs.curl.push(await curl(base, "plain")),
        () => void runs.worker.push(client(base, https, "worker"))
      )
      await pair(
        async () => void runs.curlFsync.push(await curl(base, "fsync")),
        () => void runs.inline.push(client(base, https, "inline"))
      )
      runs.curlSha.push(await curl(base, "sha256"))
    }
    const m = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v)])) as Record<
      keyof typeof runs,
      number
    >
    /** Median over rounds of `runs[a][i] / runs[b][i]` (measured back to back). */
    const pairedRatio = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) =>
      median(a.map((x, i) => x / b[i]!)).toFixed(2)
    rows.push({
      transport: label,
      "curl -o": mbps(m.curl),
      "curl -o +fsync": mbps(m.curlFsync),
      "curl|tee|sha256sum": mbps(m.curlSha),
      "client (default)": mbps(m.worker),
      "client/curl": pairedRatio(runs.worker, runs.curl),
      "client/(curl+fsync)": pairedRatio(runs.worker, runs.curlFsync),
      inline: mbps(m.inline),
      "inline/curl": pairedRatio(runs.inline, runs.curl)
    })
    details.push(
      `${label} runs (MB/s): ${Object.entries(runs)
        .map(([k, v]) => `${k} ${v.map(mbps).join("/")}`)
        .join("; ")}`
    )
  }
} finally {
  child.kill("SIGINT")
  Fs.rmSync(dir, { recursive: true, force: true })
  Fs.rmSync(bundleDir, { recursive: true, force: true })
}

console.log(
  `${(SIZE / MB).toFixed(0)} MiB backup, median of ${ROUNDS} rounds, MB/s (MiB/s), files in ${downloadsIn}${warmUp ? " (tmpfs, warmed before each download)" : ""}; ratios: median of per-round ratios`
)
console.table(rows)
for (const d of details) console.log(d)
console.log(
  `client peak RSS (own node process, bundled, max over runs): ${mbps(peakRss.worker)} MB default (worker), ${mbps(peakRss.inline)} MB inline-hash (RSS before the download: ${mbps(clientRssBefore)} MB); target < 150 MB`
)
console.log(
  `machine: ${Os.cpus().length} cores, load average ${Os.loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}, Node ${process.version}; simulator, curl and client in separate processes`
)
