/** Hostile input, injected faults, the backup API and real-time scaling. */
import * as net from "node:net"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { rateLimit } from "../src/internal/credentials.js"
import { World } from "../src/internal/world.js"
import { defaultCertificate } from "../src/Simulator.js"
import { SimConfig, Simulator } from "../src/index.js"
import { client, req, root } from "./support.js"

/** Raw bytes on a socket; resolves with everything the server sent before closing. */
const raw = (url: string, payload: string) =>
  Effect.async<string, Error>((resume) => {
    const u = new URL(url)
    const chunks: Array<Buffer> = []
    const s = net.connect(Number(u.port), u.hostname, () => s.end(payload))
    s.on("data", (c: Buffer) => chunks.push(c))
    s.on("close", () => resume(Effect.succeed(Buffer.concat(chunks).toString("utf8"))))
    s.on("error", (e) => resume(Effect.fail(e)))
  })

describe("hostile or malformed requests", () => {
  it.scoped("get vendor-like errors and the simulator keeps serving", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0, maxBodyBytes: 64 * 1024 })
      const base = sim.appliance("A").httpUrl
      const c = yield* client(base, sim.accounts[0]!)
      const auth = { Authorization: `Bearer ${c.token}` }
      // Huge body
      const huge = yield* Effect.either(
        req(`${base}/api/command`, {
          method: "POST",
          headers: { ...auth, "Content-Type": "application/x-www-form-urlencoded" },
          body: Buffer.alloc(2 * 1024 * 1024, 0x61)
        })
      )
      if (huge._tag === "Right") expect(huge.right.status).toBe(413)
      // Bad JSON on v2 and on the control API
      expect((yield* c.send("POST", "/api/command/v2/failover-role", "{nope", "application/json")).status).toBe(400)
      expect((yield* Effect.flip(sim.control("POST", "/failover/establish", "not an object" as unknown))).status).toBe(
        400
      )
      expect((yield* Effect.flip(sim.control("POST", "/failover/establish", { primary: 7 }))).status).toBe(422)
      const badCtl = yield* req(`${sim.controlUrl}/failover/establish`, { method: "POST", body: "{" })
      expect(badCtl.status).toBe(400)
      // Wrong methods
      expect((yield* req(`${base}/api/command?action=check_health`, { method: "PUT", headers: auth })).status).toBe(405)
      expect((yield* req(`${base}/check_health`, { method: "POST" })).status).toBe(405)
      // No / bad token
      const anon = yield* req(`${base}/api/command?action=check_health`)
      expect(anon.status).toBe(401)
      expect(JSON.parse(anon.body).error).toBe("access_denied")
      expect((yield* req(`${base}/api/backup`, { headers: { Authorization: "Bearer ../../etc/passwd" } })).status).toBe(
        401
      )
      // XML params with markup are escaped, never echoed raw
      const evil = yield* c.get("/api/command?action=terminate_session&lsid=%3Cx%3E")
      expect(root(evil.body).name).toBe("error")
      expect(evil.body).not.toContain("<x>")
      // Garbage on the socket -> 400
      const garbage = yield* raw(base, "\x16\x03\x01 definitely not http\r\n\r\n")
      expect(garbage).toMatch(/^HTTP\/1\.1 400/)
      // Oversized headers -> 431
      const big = yield* raw(base, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(40_000)}\r\n\r\n`)
      expect(big).toMatch(/^HTTP\/1\.1 431/)
      // Unknown vendor path and unknown control path
      expect((yield* req(`${base}/api/unknown`)).status).toBe(404)
      expect((yield* req(`${sim.controlUrl}/nope`)).status).toBe(404)
      // Still alive and correct
      const h = yield* c.get("/api/command?action=check_health")
      expect(h.status).toBe(200)
    })
  )
})

describe("injected faults", () => {
  it.scoped("http500, drop, latency, expired tokens, unhealthy", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0 })
      const c = yield* client(sim.appliance("A").httpUrl, sim.accounts[0]!)
      yield* sim.control("POST", "/appliances/A/faults", { kind: "http500", count: 1, pathPrefix: "/api/command/v2" })
      expect((yield* c.get("/api/command?action=check_health")).status).toBe(200) // other prefix untouched
      expect((yield* c.get("/api/command/v2/health")).status).toBe(500)
      expect((yield* c.get("/api/command/v2/health")).status).toBe(200)
      yield* sim.control("POST", "/appliances/A/faults", { kind: "drop", count: 1 })
      const dropped = yield* Effect.either(c.get("/api/command/v2/health"))
      expect(dropped._tag).toBe("Left")
      yield* sim.control("POST", "/appliances/A/faults", { kind: "latency", count: 1, latencyMs: 50 })
      expect((yield* c.get("/api/command/v2/health")).status).toBe(200)
      yield* sim.control("POST", "/appliances/A/faults", { kind: "unhealthy" })
      expect((yield* c.get("/api/command/v2/health")).status).toBe(500)
      expect((yield* req(`${sim.appliance("A").httpUrl}/check_health`)).status).toBe(500)
      yield* sim.control("DELETE", "/appliances/A/faults")
      expect((yield* c.get("/api/command/v2/health")).status).toBe(200)
      yield* sim.control("POST", "/appliances/A/faults/expire-tokens")
      const expired = yield* c.get("/api/command/v2/health")
      expect(expired.status).toBe(401)
      expect(JSON.parse(expired.body)).toEqual({
        error: "access_denied",
        message: "The resource owner or authorization server denied the request."
      })
      const unknown = yield* Effect.flip(sim.control("POST", "/appliances/A/faults", { kind: "meteor" }))
      expect(unknown.status).toBe(422)
    })
  )

  it("rate limit counts per account: the 21st request within a second and the one past the hourly budget are refused", () => {
    const world = new World(
      SimConfig.make({ timeScale: 0, rateLimit: { perSecond: 20, perHour: 25 } }),
      defaultCertificate
    )
    const a = world.appliance("A")
    const admin = SimConfig.defaultAccounts[0]!
    const other = SimConfig.defaultAccounts[1]!
    const results = Array.from({ length: 21 }, () => rateLimit(world, a, admin))
    expect(results.slice(0, 20).every((r) => !r.limited)).toBe(true)
    expect(results[20]).toMatchObject({ limited: true, retryAfter: 1 })
    expect(results[19]!.remaining).toBe(5)
    expect(rateLimit(world, a, other).limited).toBe(false) // another account has its own budget
    // Hourly budget (scaled down to 25 here; 15,000 by default)
    const hourly = new World(
      SimConfig.make({ timeScale: 0, rateLimit: { perSecond: 1000, perHour: 25 } }),
      defaultCertificate
    )
    const h = hourly.appliance("A")
    const hr = Array.from({ length: 26 }, () => rateLimit(hourly, h, admin))
    expect(hr.slice(0, 25).every((r) => !r.limited)).toBe(true)
    expect(hr[25]!.limited).toBe(true)
    expect(hr[25]!.retryAfter).toBeGreaterThan(3000)
    expect(SimConfig.make().rateLimit).toEqual({ perSecond: 20, perHour: 15000 })
  })
})

describe("backup API", () => {
  it.scoped("PREP-1: a password-protected backup needs the password as a JSON body", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0, backupPassword: "s3cret", backupSizeBytes: 1000 })
      const c = yield* client(sim.appliance("A").httpUrl, sim.accounts[0]!)
      const missing = yield* c.get("/api/backup")
      expect(missing.status).toBe(403)
      expect(JSON.parse(missing.body).message).toContain('{"password"')
      const wrong = yield* c.send("POST", "/api/backup", JSON.stringify({ password: "guess" }), "application/json")
      expect(wrong.status).toBe(403)
      const right = yield* c.send("POST", "/api/backup", JSON.stringify({ password: "s3cret" }), "application/json")
      expect(right.status).toBe(200)
      expect(right.bytes).toBe(1000)
      expect(JSON.parse(right.body.split("\n")[1]!)).toMatchObject({
        hostname: "a.sra-simulator.local",
        passwordProtected: true
      })
    })
  )

  it.scoped("a truncate fault cuts the backup body halfway (client must not keep a partial file)", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0, backupSizeBytes: 4 * 1024 * 1024 })
      const c = yield* client(sim.appliance("A").httpUrl, sim.accounts[0]!)
      yield* sim.control("POST", "/appliances/A/faults", { kind: "truncate", count: 1 })
      const cut = yield* Effect.either(c.get("/api/backup"))
      if (cut._tag === "Right") expect(cut.right.bytes).toBeLessThan(4 * 1024 * 1024)
      const full = yield* c.get("/api/backup")
      expect(full.bytes).toBe(4 * 1024 * 1024)
    })
  )

  it.scoped(
    "the backup size is configurable at run time (multi-GiB sizes are streamed, see bench/backup-stream-rss.ts)",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.start({ timeScale: 0 })
        yield* sim.control("PUT", "/backup", { sizeBytes: 123_457 })
        const c = yield* client(sim.appliance("B").httpUrl, sim.accounts[0]!)
        const r = yield* req(`${sim.appliance("B").httpUrl}/api/backup`, {
          headers: { Authorization: `Bearer ${c.token}` },
          discardBody: true
        })
        expect(r.headers["content-length"]).toBe("123457")
        expect(r.bytes).toBe(123_457)
        const tooBig = yield* Effect.flip(sim.control("PUT", "/backup", { sizeBytes: 1e15 }))
        expect(tooBig.status).toBe(422)
      })
  )
})

describe("time scaling", () => {
  it("a realistic duration is compressed by the time scale (pure clock arithmetic)", () => {
    const world = new World(SimConfig.make({ timeScale: 0 }), defaultCertificate)
    const t0 = world.simNow()
    world.advance(1800)
    expect(world.simNow() - t0).toBe(1800_000)
    world.setTimeScale(3600)
    // With 1 h of simulated time per real second, the next event (the 15-minute auto sync) is at most ~0.25 s away.
    expect(world.realDelayToNextEvent()!).toBeLessThanOrEqual(250)
    expect(() => world.setTimeScale(-1)).toThrow(/timeScale/)
  })

  it.scopedLive("with a running clock the server's timer settles due events without any request", () =>
    Effect.gen(function* () {
      const sim = yield* Simulator.start({ timeScale: 0, roleSwapSeconds: 30 })
      const c = yield* client(sim.appliance("A").httpUrl, sim.accounts[0]!)
      yield* c.send("POST", "/api/command/v2/failover-role", '{"role":"backup"}', "application/json")
      // Both backup now; nobody holds the site: connections are refused (and refused connections settle nothing).
      const down = yield* Effect.either(req(`${sim.site.httpUrl}/check_health`))
      expect(down._tag).toBe("Left")
      // 30 simulated seconds at 1000x = 30 ms: only the timer can finish the swap and re-open the site front.
      yield* sim.control("PUT", "/clock", { timeScale: 1000 })
      const up = yield* req(`${sim.site.httpUrl}/check_health`).pipe(
        Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 1500 })
      )
      expect(up.status).toBe(200)
      const events = (yield* sim.control("GET", "/events")) as Array<{ message: string }>
      expect(events.some((e) => e.message === "B is now primary, A backup")).toBe(true)
    })
  )
})
