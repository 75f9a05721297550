/**
 * Acceptance: a stock client (curl when present, else node's http) drives the
 * simulator through token -> check_health -> backup -> set_failover_role and
 * the wire format is checked against appliance-api.md.
 */
import { execFile } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { Simulator } from "../src/index.js"
import { childNames, client, req, root, tag } from "./support.js"

const hasCurl = ["/usr/bin/curl", "/usr/local/bin/curl", "/bin/curl"].some((p) => existsSync(p))

/** curl -i: returns status, headers (lower-cased) and body. */
const curl = (args: ReadonlyArray<string>, out?: string) =>
  Effect.async<{ status: number; headers: Record<string, string>; body: string }, Error>((resume) => {
    const dir = mkdtempSync(join(tmpdir(), "simcurl-"))
    const headerFile = join(dir, "h")
    execFile(
      "curl",
      ["-sS", "-D", headerFile, "-H", "Connection: close", "--max-time", "60", ...(out ? ["-o", out] : []), ...args],
      { maxBuffer: 16 * 1024 * 1024 },
      (err, stdout) => {
        if (err) {
          rmSync(dir, { recursive: true, force: true })
          return resume(Effect.fail(err))
        }
        const raw = readFileSync(headerFile, "utf8")
        rmSync(dir, { recursive: true, force: true })
        const blocks = raw.trim().split(/\r?\n\r?\n/)
        const last = blocks[blocks.length - 1]!.split(/\r?\n/)
        const status = Number(last[0]!.split(" ")[1])
        const headers: Record<string, string> = {}
        for (const line of last.slice(1)) {
          const i = line.indexOf(":")
          if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
        }
        resume(Effect.succeed({ status, headers, body: stdout }))
      }
    )
  })

/** The same calls through node:http when curl is absent. */
const stock = (
  url: string,
  opts: {
    method?: string
    headers?: Record<string, string>
    body?: string
    basic?: string
    out?: string
    caFile?: string
  }
) => {
  if (hasCurl) {
    const args: Array<string> = ["-X", opts.method ?? "GET"]
    for (const [k, v] of Object.entries(opts.headers ?? {})) args.push("-H", `${k}: ${v}`)
    if (opts.basic) args.push("-u", opts.basic)
    if (opts.body !== undefined) args.push("--data-binary", opts.body)
    if (opts.caFile) args.push("--cacert", opts.caFile)
    args.push(url)
    return curl(args, opts.out)
  }
  const headers: Record<string, string> = { ...opts.headers }
  if (opts.basic) headers.Authorization = `Basic ${Buffer.from(opts.basic).toString("base64")}`
  return req(url, {
    method: opts.method ?? "GET",
    headers,
    ...(opts.body !== undefined ? { body: opts.body } : {}),
    ...(opts.caFile ? { ca: readFileSync(opts.caFile, "utf8") } : {})
  }).pipe(
    Effect.map((r) => {
      if (opts.out) writeFileSync(opts.out, r.body)
      return { status: r.status, headers: r.headers as Record<string, string>, body: r.body }
    })
  )
}

describe("wire format (stock client)", () => {
  it.scoped(
    "token -> check_health -> backup -> set_failover_role over HTTPS, as documented",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start({ timeScale: 0, backupSizeBytes: 3 * 1024 * 1024 + 17 })
        const a = sim.appliance("A")
        const admin = sim.accounts[0]!
        const dir = mkdtempSync(join(tmpdir(), "simwire-"))
        const caFile = join(dir, "ca.pem")
        writeFileSync(caFile, sim.certificatePem)
        try {
          // 1. token: Basic client_id:secret + form grant_type=client_credentials
          const t = yield* stock(`${a.httpsUrl}/oauth2/token`, {
            method: "POST",
            basic: `${admin.clientId}:${Redacted.value(admin.clientSecret)}`,
            headers: { "Content-Type": "application/x-www-form-urlencoded" },
            body: "grant_type=client_credentials",
            caFile
          })
          expect(t.status).toBe(200)
          expect(t.headers["content-type"]).toMatch(/^application\/json/)
          const tok = JSON.parse(t.body) as Record<string, unknown>
          expect(Object.keys(tok).sort()).toEqual(["access_token", "expires_in", "token_type"])
          expect(tok.token_type).toBe("Bearer")
          expect(tok.expires_in).toBe(3600)
          expect(tok.access_token).toMatch(/^[0-9a-f]{40}$/)
          const bearer = { Authorization: `Bearer ${tok.access_token as string}` }

          // 2. check_health (XML)
          const h = yield* stock(`${a.httpsUrl}/api/command?action=check_health`, { headers: bearer, caFile })
          expect(h.status).toBe(200)
          expect(h.headers["content-type"]).toBe("text/xml; charset=UTF-8")
          expect(h.headers["x-ratelimit-limit"]).toBe("15000")
          expect(Number(h.headers["x-ratelimit-remaining"])).toBeLessThan(15000)
          expect(root(h.body)).toEqual({
            name: "health_check",
            xmlns: "https://www.beyondtrust.com/namespaces/API/command"
          })
          expect(childNames(h.body)).toEqual([
            "appliance",
            "version",
            "success",
            "failover_role",
            "enabled_shared_ips",
            "last_data_sync_time",
            "last_data_sync_status"
          ])
          expect(h.body).toContain(`<appliance id="${a.guid}">${a.hostname}</appliance>`)
          expect(a.guid).toMatch(/^[0-9a-f]{32}$/)
          expect(tag(h.body, "version")).toMatch(/^\d+\.\d+\.\d+ \(\d+-[0-9a-f]{40}\)$/)
          expect(tag(h.body, "success")).toBe("1")
          expect(tag(h.body, "failover_role")).toBe("primary")
          expect(tag(h.body, "ip")).toBe("10.0.0.10")
          expect(h.body).toMatch(
            /<last_data_sync_time ts="\d{10}">\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000<\/last_data_sync_time>/
          )
          expect(tag(h.body, "last_data_sync_status")).toBe("success")

          // 3. backup, streamed
          const out = join(dir, "backup.nsb")
          const b = yield* stock(`${a.httpsUrl}/api/backup`, { headers: bearer, out, caFile })
          expect(b.status).toBe(200)
          expect(b.headers["content-type"]).toBe("application/octet-stream")
          expect(b.headers["content-disposition"]).toMatch(
            /^attachment; filename="a\.sra-simulator\.local_\d{4}-\d\d-\d\d\.nsb"$/
          )
          expect(Number(b.headers["content-length"])).toBe(3 * 1024 * 1024 + 17)
          expect(statSync(out).size).toBe(3 * 1024 * 1024 + 17)
          expect(readFileSync(out).subarray(0, 7).toString()).toBe("BTNSB1\n")

          // 4. set_failover_role on the primary: role=backup, POST form
          const s = yield* stock(`${a.httpsUrl}/api/command`, {
            method: "POST",
            headers: { ...bearer, "Content-Type": "application/x-www-form-urlencoded" },
            body: "action=set_failover_role&role=backup&data_sync_first=1",
            caFile
          })
          expect(s.status).toBe(200)
          expect(root(s.body).name).toBe("success")
          expect(tag(s.body, "success")).toBe(
            "Successfully started data sync. Role change will occur upon successful completion."
          )
        } finally {
          rmSync(dir, { recursive: true, force: true })
        }
      }),
    120_000
  )

  it.scoped("the bomgar-era namespace is configurable", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0, xmlNamespace: "bomgar", product: "rs" })
      const c = yield* client(sim.appliance("B").httpUrl, sim.accounts[0]!)
      const r = yield* c.get("/api/command?action=get_api_info")
      expect(root(r.body)).toEqual({ name: "api_information", xmlns: "http://www.bomgar.com/namespaces/API/command" })
      expect(childNames(r.body)).toEqual(["api_version", "company_name", "timestamp", "permissions"])
      expect(r.body).toContain('<permission name="perm_command">full_access</permission>')
      expect(r.body).toContain('<permission name="perm_backup">1</permission>')
      expect(r.body).toContain('<permission name="perm_real_time_state">0</permission>')
    })
  )

  it.scoped("command API v2: health, info, appliance, user, failover-role; HEAD, OPTIONS, 405, 400, 422", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0 })
      const a = sim.appliance("A")
      const c = yield* client(a.httpUrl, sim.accounts[0]!)
      const h = yield* c.get("/api/command/v2/health")
      expect(h.status).toBe(200)
      const health = JSON.parse(h.body) as Record<string, unknown>
      expect(Object.keys(health).sort()).toEqual(
        [
          "appliance_hostname",
          "appliance_id",
          "build",
          "cluster_role",
          "enabled_shared_ips",
          "failover_role",
          "last_data_sync",
          "last_data_sync_status",
          "version"
        ].sort()
      )
      expect(health.last_data_sync).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/)
      expect(health.enabled_shared_ips).toEqual(["10.0.0.10"])

      const info = JSON.parse((yield* c.get("/api/command/v2/info")).body) as Record<string, unknown>
      expect(info.product).toBe("pra")
      expect(info.current_time).toMatch(/\+00:00$/)
      expect((info.permissions as Record<string, unknown>).perm_command).toBe("full_access")
      for (const k of ["command_api_version", "config_api_version", "reporting_api_version", "backup_api_version"])
        expect(typeof info[k]).toBe("string")

      const appl = JSON.parse((yield* c.get("/api/command/v2/appliance")).body) as Array<Record<string, unknown>>
      expect(appl.map((x) => x.failover_role)).toEqual(["primary", "backup"])
      expect(Object.keys(appl[0]!).sort()).toEqual(
        [
          "accepting_connections",
          "cluster_role",
          "failover_role",
          "id",
          "name",
          "public_hostname",
          "timezone_offset"
        ].sort()
      )
      const users = JSON.parse((yield* c.get("/api/command/v2/user")).body) as Array<Record<string, unknown>>
      expect(users).toHaveLength(3)
      expect(Object.keys(users[0]!).sort()).toEqual(["display_name", "id", "logged_in_since", "session_count", "type"])

      const head = yield* req(`${a.httpUrl}/api/command/v2/health`, {
        method: "HEAD",
        headers: { Authorization: `Bearer ${c.token}` }
      })
      expect(head.status).toBe(200)
      expect(head.body).toBe("")
      const opts = yield* req(`${a.httpUrl}/api/command/v2/failover-role`, {
        method: "OPTIONS",
        headers: { Authorization: `Bearer ${c.token}` }
      })
      expect(opts.headers.allow).toBe("POST, OPTIONS")
      const wrong = yield* req(`${a.httpUrl}/api/command/v2/health`, {
        method: "DELETE",
        headers: { Authorization: `Bearer ${c.token}` }
      })
      expect(wrong.status).toBe(405)
      expect((yield* c.get("/api/command/v2/health?verbose=1")).status).toBe(400)

      const bad = yield* c.send(
        "POST",
        "/api/command/v2/failover-role",
        JSON.stringify({ role: "leader" }),
        "application/json"
      )
      expect(bad.status).toBe(422)
      expect(JSON.parse(bad.body)).toMatchObject({
        message: expect.any(String),
        errors: { role: [expect.any(String)] }
      })
      const extra = yield* c.send(
        "POST",
        "/api/command/v2/failover-role",
        JSON.stringify({ role: "backup", now: true }),
        "application/json"
      )
      expect(extra.status).toBe(400)
      const okSwap = yield* c.send(
        "POST",
        "/api/command/v2/failover-role",
        JSON.stringify({ role: "backup" }),
        "application/json"
      )
      expect(okSwap.status).toBe(200)
      expect(JSON.parse(okSwap.body)).toEqual({ message: "Successfully changed role." })
    })
  )

  it.scoped("OAuth: errors, form-field credentials, 30 live tokens per account (the 31st invalidates the oldest)", () =>
    Effect.gen(function* () {
      // The 20 req/s limit is lifted here so that 32 quick mints all succeed; it is tested on its own below.
      const sim = yield* Simulator.start({ timeScale: 0, rateLimit: { perSecond: 1000, perHour: 15000 } })
      const base = sim.appliance("A").httpUrl
      const admin = sim.accounts[0]!
      const post = (headers: Record<string, string>, body: string) =>
        req(`${base}/oauth2/token`, {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
          body
        })
      const basic = (secret: string) => ({
        Authorization: `Basic ${Buffer.from(`${admin.clientId}:${secret}`).toString("base64")}`
      })
      const wrong = yield* post(basic("nope"), "grant_type=client_credentials")
      expect(wrong.status).toBe(401)
      expect(JSON.parse(wrong.body)).toMatchObject({ error: "invalid_client", message: expect.any(String) })
      const grant = yield* post(basic(Redacted.value(admin.clientSecret)), "grant_type=password")
      expect(JSON.parse(grant.body).error).toBe("unsupported_grant_type")
      const missing = yield* post(basic(Redacted.value(admin.clientSecret)), "")
      expect(JSON.parse(missing.body).error).toBe("invalid_request")
      const get = yield* req(`${base}/oauth2/token`)
      expect(get.status).toBe(405)
      const form = yield* post(
        {},
        `grant_type=client_credentials&client_id=${admin.clientId}&client_secret=${encodeURIComponent(Redacted.value(admin.clientSecret))}`
      )
      expect(form.status).toBe(200)

      const tokens: Array<string> = []
      for (let i = 0; i < 31; i++) {
        const r = yield* post(basic(Redacted.value(admin.clientSecret)), "grant_type=client_credentials")
        tokens.push(JSON.parse(r.body).access_token as string)
      }
      const use = (t: string) =>
        req(`${base}/api/command?action=check_health`, { headers: { Authorization: `Bearer ${t}` } })
      // tokens[0] was the 2nd minted of 32 → evicted by the 31st and 32nd; the newest 30 work.
      const oldest = yield* use(tokens[0]!)
      expect(oldest.status).toBe(401)
      expect(JSON.parse(oldest.body)).toEqual({
        error: "access_denied",
        message: "The resource owner or authorization server denied the request."
      })
      expect((yield* use(tokens[1]!)).status).toBe(200)
      expect((yield* use(tokens[30]!)).status).toBe(200)
    })
  )

  it.scoped("permissions per API account: read_only cannot change roles, no perm_backup / perm_configuration", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0 })
      const ro = yield* client(sim.appliance("A").httpUrl, sim.accounts[1]!)
      expect((yield* ro.get("/api/command?action=check_health")).status).toBe(200)
      const denied = yield* ro.get("/api/command?action=set_failover_role&role=backup")
      expect(denied.status).toBe(403)
      expect(root(denied.body).name).toBe("error")
      expect((yield* ro.get("/api/backup")).status).toBe(403)
      expect((yield* ro.get("/api/config/v1/jump-client")).status).toBe(403)
      expect(
        (yield* ro.send("POST", "/api/command/v2/failover-role", '{"role":"backup"}', "application/json")).status
      ).toBe(403)
    })
  )

  it.scoped("rate limit: X-RateLimit headers count down; over the limit -> 429 with Retry-After", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0 })
      const c = yield* client(sim.appliance("A").httpUrl, sim.accounts[0]!)
      const r1 = yield* c.get("/api/command?action=check_health")
      const r2 = yield* c.get("/api/command?action=check_health")
      expect(Number(r2.headers["x-ratelimit-remaining"])).toBe(Number(r1.headers["x-ratelimit-remaining"]) - 1)
      yield* sim.control("POST", "/appliances/A/faults", { kind: "rate_limit", count: 1 })
      const limited = yield* c.get("/api/command/v2/health")
      expect(limited.status).toBe(429)
      expect(limited.headers["retry-after"]).toBe("1")
      expect(limited.headers["x-ratelimit-limit"]).toBe("15000")
      expect((yield* c.get("/api/command/v2/health")).status).toBe(200)
    })
  )

  it.scoped("XML command API: get_logged_in_reps, get_connected_client_list, terminate_session, bad params", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0 })
      const c = yield* client(sim.appliance("A").httpUrl, sim.accounts[0]!)
      const reps = yield* c.get("/api/command?action=get_logged_in_reps")
      expect(root(reps.body).name).toBe("logged_in_reps")
      expect(childNames(reps.body)).toEqual(["rep", "rep", "rep"])
      expect(tag(reps.body, "public_display_name")).toBe("Alice Martin")
      const summary = yield* c.get("/api/command?action=get_connected_client_list&summary_only=1")
      expect(summary.body).toMatch(
        /<connected_client_list[^>]*><connected_client_summary><appliance_summary id="[0-9a-f]{32}"><count type="representative">3<\/count><count type="support_customer">3<\/count>/
      )
      const list = yield* c.get("/api/command?action=get_connected_client_list&type=support_customer")
      const lsid = /<connected_client type="support_customer">([0-9a-f]{32})<\/connected_client>/.exec(list.body)![1]!
      const term = yield* c.send(
        "POST",
        "/api/command",
        `action=terminate_session&lsid=${lsid}`,
        "application/x-www-form-urlencoded"
      )
      expect(term.body).toContain("<success")
      expect(tag(term.body, "success")).toBe("Successfully terminated")
      const again = yield* c.send(
        "POST",
        "/api/command",
        `action=terminate_session&lsid=${lsid}`,
        "application/x-www-form-urlencoded"
      )
      expect(root(again.body).name).toBe("error")
      const badType = yield* c.get("/api/command?action=get_connected_client_list&type=robots")
      expect(badType.body).toMatch(/<connected_client_list[^>]*><error>Invalid value for type/)
      const badRole = yield* c.get("/api/command?action=set_failover_role&role=%3Cscript%3E")
      expect(root(badRole.body).name).toBe("error")
      const badAction = yield* c.get("/api/command?action=%3C%2Ferror%3E%3Cx%3E")
      expect(root(badAction.body).name).toBe("error")
      expect(badAction.body).toContain("&lt;/error&gt;&lt;x&gt;")
      const multipart = yield* c.send("POST", "/api/command", "--x\r\n", "multipart/form-data; boundary=x")
      expect(multipart.status).toBe(400)
      expect(root(multipart.body).name).toBe("error")
    })
  )

  it.scoped(
    "configuration API: pagination headers, Link, filters, 401 on unknown parameters, 422 on bad per_page",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start({ timeScale: 0, fleet: { jumpClients: 23, passiveRatio: 0.5 } })
        const c = yield* client(sim.appliance("A").httpUrl, sim.accounts[0]!)
        const p2 = yield* c.get("/api/config/v1/jump-client?per_page=5&current_page=2", { Host: "a.example:443" })
        expect(p2.status).toBe(200)
        expect(p2.headers["x-bt-pagination-current-page"]).toBe("2")
        expect(p2.headers["x-bt-pagination-per-page"]).toBe("5")
        expect(p2.headers["x-bt-pagination-last-page"]).toBe("5")
        expect(p2.headers["x-bt-pagination-total"]).toBe("23")
        const link = p2.headers.link as string
        for (const rel of ["first", "previous", "next", "last"]) expect(link).toContain(`rel="${rel}"`)
        expect(link).toContain('<http://a.example:443/api/config/v1/jump-client?per_page=5&current_page=3>; rel="next"')
        const items = JSON.parse(p2.body) as Array<Record<string, unknown>>
        expect(items.map((x) => x.id)).toEqual([6, 7, 8, 9, 10])
        for (const k of [
          "jump_group_id",
          "connection_type",
          "needs_update",
          "is_lost",
          "last_connect_timestamp",
          "install_mode"
        ])
          expect(items[0]).toHaveProperty(k)
        const last = yield* c.get("/api/config/v1/jump-client?per_page=5&current_page=5")
        expect(last.headers.link).not.toContain('rel="next"')
        const passive = yield* c.get("/api/config/v1/jump-client?connection_type=PASSIVE&per_page=100")
        const passiveItems = JSON.parse(passive.body) as Array<Record<string, unknown>>
        expect(passiveItems.length).toBe(Number(passive.headers["x-bt-pagination-total"]))
        expect(passiveItems.every((x) => x.connection_type === "passive")).toBe(true)
        const both = yield* c.get("/api/config/v1/jump-client?connection_type=passive&tag=servers")
        expect(
          (JSON.parse(both.body) as Array<Record<string, unknown>>).every(
            (x) => x.tag === "servers" && x.connection_type === "passive"
          )
        ).toBe(true)
        expect((yield* c.get("/api/config/v1/jump-client?colour=red")).status).toBe(401)
        const bad = yield* c.get("/api/config/v1/jump-client?per_page=500")
        expect(bad.status).toBe(422)
        expect(JSON.parse(bad.body).errors.per_page).toHaveLength(1)
        const one = yield* c.get("/api/config/v1/jump-client/3")
        expect(JSON.parse(one.body).id).toBe(3)
        expect((yield* c.get("/api/config/v1/jump-client/999")).status).toBe(404)
        const jp = yield* c.get("/api/config/v1/jumpoint?code_name=JP_2")
        expect(JSON.parse(jp.body)).toMatchObject([{ id: 2, code_name: "jp_2" }])
      })
  )
})
