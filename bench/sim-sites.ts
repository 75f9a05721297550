/**
 * How cheap a many-site simulator is: start time and resident memory of
 * `sra-upgrade sim --sites N` (the CLI, with Effect loaded) and of
 * `pnpm sim --sites N` (the simulator's own entry point, without Effect),
 * each beside the same command with one site (the baseline), in one run.
 *
 *   pnpm exec tsx bench/sim-sites.ts [N=200] [pairs=N/4]
 *
 * Each simulator runs in its own process; "start" is the wall time from
 * spawning it to its JSON line (process start, module loading, CA, every
 * listener), and the simulator's own figure (`startSeconds`: CA + listeners).
 * RSS is read from /proc/<pid>/status (VmRSS, and the peak VmHWM) right after
 * the start and again after every site was used once (a token and a health
 * call on each appliance of every site, over HTTP).
 */
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import * as http from "node:http"
import { createInterface } from "node:readline"

const N = Number(process.argv[2] ?? 200)
const PAIRS = Number(process.argv[3] ?? Math.floor(N / 4))
const MB = 1024 * 1024
const root = new URL("..", import.meta.url).pathname

interface Printed {
  readonly pid: number
  readonly control: string
  readonly startSeconds: number
  readonly sites: ReadonlyArray<{
    readonly name: string
    readonly appliances: ReadonlyArray<{ readonly httpUrl: string }>
    readonly account?: { readonly clientId: string; readonly clientSecret: string }
  }>
}

const status = (pid: number) => {
  const text = readFileSync(`/proc/${pid}/status`, "utf8")
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(text)?.[1] ?? 0) * 1024
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") }
}

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

/** A token and a health call on every appliance of every site. */
const useEverySite = async (
  p: Printed,
  credentials: (site: Printed["sites"][number]) => { id: string; secret: string }
) => {
  let calls = 0
  for (const site of p.sites) {
    const { id, secret } = credentials(site)
    for (const a of site.appliances) {
      const t = await call(`${a.httpUrl}/oauth2/token`, {
        method: "POST",
        headers: {
          Authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`,
          "Content-Type": "application/x-www-form-urlencoded"
        },
        body: "grant_type=client_credentials"
      })
      if (t.status !== 200) throw new Error(`token on ${site.name}: HTTP ${t.status} ${t.body}`)
      const token = (JSON.parse(t.body) as { access_token: string }).access_token
      const h = await call(`${a.httpUrl}/api/command/v2/health`, { headers: { Authorization: `Bearer ${token}` } })
      if (h.status !== 200) throw new Error(`health on ${site.name}: HTTP ${h.status}`)
      calls += 2
    }
  }
  return calls
}

interface Measure {
  readonly label: string
  readonly sites: number
  readonly spawnToReadySeconds: number
  readonly startSeconds: number
  readonly rssReady: number
  readonly rssUsed: number
  readonly hwm: number
  readonly calls: number
}

const measure = async (
  label: string,
  args: ReadonlyArray<string>,
  credentials: (p: Printed, site: Printed["sites"][number]) => { id: string; secret: string }
): Promise<Measure> => {
  const t0 = performance.now()
  const child = spawn(process.execPath, ["--import", "tsx", ...args, "--json", "--time-scale", "60"], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"]
  })
  try {
    const printed = await new Promise<Printed>((resolve, reject) => {
      const rl = createInterface({ input: child.stdout })
      rl.on("line", (line) => {
        if (line.startsWith("{")) resolve(JSON.parse(line) as Printed)
      })
      child.once("exit", (code) => reject(new Error(`${label} exited early (${code})`)))
    })
    const ready = (performance.now() - t0) / 1000
    const atReady = status(printed.pid)
    const calls = await useEverySite(printed, (site) => credentials(printed, site))
    const used = status(printed.pid)
    return {
      label,
      sites: printed.sites.length,
      spawnToReadySeconds: ready,
      startSeconds: printed.startSeconds,
      rssReady: atReady.rss,
      rssUsed: used.rss,
      hwm: used.hwm,
      calls
    }
  } finally {
    child.kill("SIGTERM")
    await new Promise((resolve) => child.once("exit", resolve))
  }
}

// `sra-upgrade sim --json` prints each site's admin account; `pnpm sim --json` prints summaries only,
// so its credentials are derived the way the simulator derives them (SimConfig.siteAccounts, seed 42 + index).
const { SimConfig } = await import("@sra-upgrade/simulator")
const derived = (_p: Printed, site: Printed["sites"][number]) => {
  const index = Number(site.name.replace(/^site-0*/, ""))
  const admin = SimConfig.siteAccounts(site.name, 42 + index)[0]!
  return { id: admin.clientId, secret: admin.clientSecret }
}
const printedAccount = (_p: Printed, site: Printed["sites"][number]) => ({
  id: site.account!.clientId,
  secret: site.account!.clientSecret
})

const cli = ["packages/cli/src/bin.ts", "sim"]
const bin = ["packages/simulator/src/bin.ts"]
const runs: Array<Measure> = []
runs.push(await measure("sra-upgrade sim --sites 1 (baseline)", [...cli, "--sites", "1"], printedAccount))
runs.push(
  await measure(
    `sra-upgrade sim --sites ${N} --pairs ${PAIRS}`,
    [...cli, "--sites", `${N}`, "--pairs", `${PAIRS}`],
    printedAccount
  )
)
runs.push(await measure("pnpm sim --sites 1 (baseline)", [...bin, "--sites", "1"], derived))
runs.push(
  await measure(`pnpm sim --sites ${N} --pairs ${PAIRS}`, [...bin, "--sites", `${N}`, "--pairs", `${PAIRS}`], derived)
)

const mb = (n: number) => (n / MB).toFixed(1)
console.log(`many-site simulator, ${N} sites (${PAIRS} pairs, ${N - PAIRS} single), Node ${process.version}, tsx`)
console.log(
  "| command | sites | spawn → ready | of which CA + listeners | RSS ready | RSS after using every site | VmHWM | calls |"
)
console.log("| --- | --- | --- | --- | --- | --- | --- | --- |")
for (const r of runs)
  console.log(
    `| ${r.label} | ${r.sites} | ${r.spawnToReadySeconds.toFixed(1)} s | ${r.startSeconds.toFixed(2)} s | ${mb(r.rssReady)} MB | ${mb(r.rssUsed)} MB | ${mb(r.hwm)} MB | ${r.calls} |`
  )
const [cli1, cliN, bin1, binN] = runs as [Measure, Measure, Measure, Measure]
console.log(
  `per extra site: sra-upgrade sim ${((cliN.rssUsed - cli1.rssUsed) / (N - 1) / 1024).toFixed(0)} KB, pnpm sim ${((binN.rssUsed - bin1.rssUsed) / (N - 1) / 1024).toFixed(0)} KB of RSS after use`
)
