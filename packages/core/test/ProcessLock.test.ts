import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { ProcessLock } from "../src/index.js"

const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "sra-process-lock-"))

describe("ProcessLock", () => {
  it.effect(
    "FLEET-LOCK-1 a live owner's lock is refused naming it; a dead owner's is taken over; released with the scope",
    () =>
      Effect.gen(function* () {
        const file = path.join(tmpDir(), "db.lock")
        // held by a live process of this host (our parent)
        const since = new Date()
        fs.writeFileSync(file, JSON.stringify({ pid: process.ppid, host: os.hostname(), since: since.toISOString() }))
        const held = yield* Effect.flip(Effect.scoped(ProcessLock.acquire(file)))
        expect(held).toBeInstanceOf(ProcessLock.ProcessLockHeld)
        expect(held._tag === "ProcessLockHeld" && held.owner).toEqual({ pid: process.ppid, host: os.hostname(), since })
        expect(held.message).toContain(`is held by process ${process.ppid} on ${os.hostname()}`)
        // left by a process that has exited: taken over, the file is ours for the scope, then gone
        const dead = spawnSync(process.execPath, ["-e", "0"]).pid!
        fs.writeFileSync(file, JSON.stringify({ pid: dead, host: os.hostname(), since: since.toISOString() }))
        const lock = yield* Effect.scoped(
          Effect.tap(ProcessLock.acquire(file), () =>
            Effect.sync(() => expect(JSON.parse(fs.readFileSync(file, "utf8"))).toMatchObject({ pid: process.pid }))
          )
        )
        expect(lock.tookOver?.pid).toBe(dead)
        expect(fs.existsSync(file)).toBe(false)
        // a folder that does not exist: a typed error saying what to check
        const missing = yield* Effect.flip(Effect.scoped(ProcessLock.acquire(path.join(tmpDir(), "no", "x.lock"))))
        expect(missing._tag).toBe("ProcessLockError")
        expect(missing.message).toMatch(/check the folder's permissions/)
      })
  )
})
