/**
 * Streams a 2 GiB settings backup out of the simulator and measures the
 * simulator's resident memory while it does, beside a baseline measured in
 * the same run (idle, then an 8 MiB backup).
 *
 *   pnpm exec tsx bench/backup-stream-rss.ts [sizeBytes]
 *
 * The simulator runs in its own process (`src/bin.ts --json`), so the
 * figures are its memory only, not the downloading client's. RSS is sampled
 * every 50 ms through GET /__sim/process and, on Linux, the kernel's peak
 * (VmHWM) is read from /proc/<pid>/status.
 *
 * A second part sends 10,000 hostile requests (2 MB bodies over the 1 MiB
 * limit, garbage bytes, bad JSON, missing tokens) and compares the heap after
 * a forced GC before and after: it must stay flat (no leak).
 */
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import { createInterface } from "node:readline"

const SIZE = Number(process.argv[2] ?? 2 * 1024 ** 3)
const LIMIT_MB = 150
const MB = 1024 * 1024

interface Started {
  readonly pid: number
  readonly control: string
  readonly appliances: ReadonlyArray<{ readonly httpUrl: string }>
  readonly accounts: ReadonlyArray<{ readonly clientId: string; readonly clientSecret: string }>
}

const child = spawn(
  process.execPath,
  [
    "--expose-gc",
    "--import",
    "tsx",
    "packages/simulator/src/bin.ts",
    "--json",
    "--time-scale",
    "0",
    "--backup-size",
    "8388608"
  ],
  { cwd: new URL("..", import.meta.url).pathname, stdio: ["ignore", "pipe", "inherit"] }
)
const started = await new Promise<Started>((resolve, reject) => {
  const rl = createInterface({ input: child.stdout })
  rl.once("line", (line) => resolve(JSON.parse(line) as Started))
  child.once("exit", (code) => reject(new Error(`simulator exited early (${code})`)))
})

const call = (url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(
      url,
      { method: init.method ?? "GET", headers: { Connection: "close", ...init.headers } },
      (res) => {
        let body = ""
        res.setEncoding("utf8")
        res.on("data", (c: string) => (body += c))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
      }
    )
    req.on("error", reject)
    req.end(init.body)
  })

const rss = async (): Promise<number> =>
  (JSON.parse((await call(`${started.control}/process`)).body) as { rss: number }).rss
const heapAfterGc = async (): Promise<number> =>
  (JSON.parse((await call(`${started.control}/process?gc=1`)).body) as { heapUsed: number }).heapUsed
const hwm = (): number | undefined => {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${started.pid}/status`, "utf8"))
    return m ? Number(m[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

const base = started.appliances[0]!.httpUrl
const account = started.accounts[0]!
const tokenRes = await call(`${base}/oauth2/token`, {
  method: "POST",
  headers: {
    Authorization: `Basic ${Buffer.from(`${account.clientId}:${account.clientSecret}`).toString("base64")}`,
    "Content-Type": "application/x-www-form-urlencoded"
  },
  body: "grant_type=client_credentials"
})
const token = (JSON.parse(tokenRes.body) as { access_token: string }).access_token

/** Download the backup, discarding bytes, while sampling the simulator's RSS. */
const download = async (size: number): Promise<{ bytes: number; seconds: number; peakRss: number }> => {
  await call(`${started.control}/backup`, {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ sizeBytes: size })
  })
  let peakRss = await rss()
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      peakRss = Math.max(peakRss, await rss())
      await new Promise((r) => setTimeout(r, 50))
    }
  })()
  const t0 = performance.now()
  const bytes = await new Promise<number>((resolve, reject) => {
    const req = http.request(
      `${base}/api/backup`,
      { headers: { Authorization: `Bearer ${token}`, Connection: "close" } },
      (res) => {
        let n = 0
        res.on("data", (c: Buffer) => (n += c.length))
        res.on("end", () => resolve(n))
        res.on("error", reject)
      }
    )
    req.on("error", reject)
    req.end()
  })
  const seconds = (performance.now() - t0) / 1000
  sampling = false
  await sampler
  return { bytes, seconds, peakRss: Math.max(peakRss, await rss()) }
}

try {
  const idle = await rss()
  const hwmIdle = hwm()
  const small = await download(8 * MB)
  const big = await download(SIZE)
  const hwmEnd = hwm()
  const fmt = (n: number) => `${(n / MB).toFixed(1)} MB`
  const rows: Array<[string, string, string, string]> = [
    ["case", "bytes", "throughput", "simulator peak RSS (sampled)"],
    ["idle (baseline)", "-", "-", fmt(idle)],
    [
      "8 MiB backup (baseline)",
      String(small.bytes),
      `${(small.bytes / MB / small.seconds).toFixed(0)} MB/s`,
      fmt(small.peakRss)
    ],
    [
      `${(SIZE / 1024 ** 3).toFixed(2)} GiB backup`,
      String(big.bytes),
      `${(big.bytes / MB / big.seconds).toFixed(0)} MB/s`,
      fmt(big.peakRss)
    ]
  ]
  for (const r of rows) console.log(`${r[0].padEnd(26)} ${r[1].padStart(12)} ${r[2].padStart(11)} ${r[3].padStart(14)}`)
  if (hwmIdle !== undefined && hwmEnd !== undefined)
    console.log(`kernel peak RSS (VmHWM): ${fmt(hwmIdle)} before the downloads, ${fmt(hwmEnd)} after`)
  const peak = Math.max(big.peakRss, hwmEnd ?? 0)
  console.log(
    `growth over idle during the big download: ${fmt(big.peakRss - idle)}; ` +
      `peak ${fmt(peak)} ${peak < LIMIT_MB * MB ? "<" : ">="} ${LIMIT_MB} MB limit -> ${peak < LIMIT_MB * MB ? "PASS" : "FAIL"}`
  )

  // Part 2: hostile requests must not leak.
  const rawSend = (payload: string) =>
    new Promise<void>((resolve) => {
      const u = new URL(base)
      const s = net.connect(Number(u.port), u.hostname, () => s.end(payload))
      s.on("data", () => undefined)
      s.on("close", () => resolve())
      s.on("error", () => resolve())
    })
  const quiet = (url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) =>
    call(url, init).catch(() => undefined)
  const bigBody = "x".repeat(2_000_000)
  const round = () =>
    Promise.all(
      Array.from({ length: 100 }, () => [
        quiet(`${base}/api/command?action=check_health`),
        quiet(`${base}/api/command`, {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: bigBody
        }),
        rawSend("GARBAGE\r\n\r\n"),
        quiet(`${base}/oauth2/token`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: "{bad"
        }),
        quiet(`${started.control}/failover/establish`, { method: "POST", body: "{" })
      ]).flat()
    )
  await round()
  const heap0 = await heapAfterGc()
  const rss0 = await rss()
  for (let i = 0; i < 20; i++) await round()
  const heap1 = await heapAfterGc()
  const rss1 = await rss()
  console.log(
    `hostile: 10,000 requests -> heap after GC ${fmt(heap0)} -> ${fmt(heap1)} (${heap1 - heap0 < 5 * MB ? "flat" : "GROWING"}), RSS ${fmt(rss0)} -> ${fmt(rss1)}`
  )
  if (heap1 - heap0 >= 5 * MB) process.exitCode = 1
  if (big.bytes !== SIZE) {
    console.log(`FAIL: received ${big.bytes} of ${SIZE} bytes`)
    process.exitCode = 1
  }
  if (peak >= LIMIT_MB * MB) process.exitCode = 1
} finally {
  child.kill("SIGTERM")
}
