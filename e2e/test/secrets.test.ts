// Secrets stay secret end to end: a whole single-appliance upgrade runs
// against the simulator over HTTPS with a password-protected backup and a
// certificate export under a passphrase; then every log line (all levels),
// every event of the stream, every journal file, the run report and the
// backup file are searched for the client secret, the backup password and
// the key passphrase. A second run with a wrong backup password fails, and
// its error, journal and logs hold neither password.
import { describe, expect, it } from "@effect/vitest"
import { CoreHandlers, Executor, Journal, RunEvent, RunReport, SingleUpgrade } from "@sra-upgrade/core"
import { SimOperator } from "@sra-upgrade/simulator"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { adapter, FROM_BUILD, makeSite, startSim, tempDir } from "./support/single.js"

const BACKUP_PASSWORD = "Backup-Pw-7f3a9c1e"
const PASSPHRASE = "Key-Passphrase-42b8d0"

const capture = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ cause, message }) => {
    lines.push(JSON.stringify(message), String(cause))
  })
  return {
    lines,
    layer: Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(LogLevel.All))
  }
}

const runOnce = (backupPasswordGiven: string) =>
  Effect.gen(function* () {
    const dir = tempDir("secrets")
    const site = makeSite({ dir, baseVersion: "6.2.1", backupPassword: true })
    const sim = yield* startSim(site, { backupPassword: BACKUP_PASSWORD })
    const clientSecret = Redacted.value(sim.accounts.find((a) => a.permCommand === "full_access")!.clientSecret)
    const plan = SingleUpgrade.planSingleUpgrade(site, "24.3.2", {
      current: { product: "24.1.3", build: FROM_BUILD },
      pollIntervalSeconds: 1,
      jumpClientWait: { intervalSeconds: 1, deadlineSeconds: 300 }
    })
    if (Either.isLeft(plan)) throw new Error(plan.left.message)
    const journalDir = join(dir, "runs")
    const logs = capture()
    const executor = Executor.layer.pipe(
      Layer.provide(
        Layer.mergeAll(
          CoreHandlers.layer({ backupPassword: Redacted.make(backupPasswordGiven) }).pipe(Layer.provide(adapter(sim))),
          SimOperator.layer({ controlUrl: sim.controlUrl, exportPassphrase: PASSPHRASE }),
          Journal.layer({ directory: journalDir })
        )
      )
    )
    const { envelopes, report } = yield* Effect.gen(function* () {
      const envelopes = Chunk.toArray(yield* Stream.runCollect(Executor.runStream(plan.right)))
      const report = yield* Executor.report(envelopes[0]!.runId)
      return { envelopes, report }
    }).pipe(Effect.provide(executor), Effect.provide(logs.layer))
    const haystacks: Record<string, string> = {
      logs: logs.lines.join("\n"),
      events: envelopes.map((e) => JSON.stringify(Schema.encodeSync(RunEvent.Envelope)(e))).join("\n"),
      journal: readdirSync(journalDir)
        .map((f) => readFileSync(join(journalDir, f), "utf8"))
        .join("\n"),
      report: JSON.stringify(Schema.encodeSync(RunReport.RunReport)(report)),
      error: report.error ?? ""
    }
    return { report, haystacks, clientSecret, envelopes }
  })

describe("secrets never reach logs, events, journals, reports or errors", () => {
  it.scopedLive(
    "PREP-1: a full run with a protected backup and a key export leaks no secret anywhere",
    () =>
      Effect.gen(function* () {
        const { clientSecret, envelopes, haystacks, report } = yield* runOnce(BACKUP_PASSWORD)
        expect(report.status, report.error).toBe("succeeded")
        // the test can fail: the haystacks are not empty and hold what the run did
        expect(envelopes.length).toBeGreaterThan(20)
        expect(haystacks["journal"]).toContain("A/backup")
        expect(haystacks["logs"].length).toBeGreaterThan(0)
        const backup = report.steps.find((s) => s.id === "A/backup")!.evidence as Record<string, unknown>
        haystacks["backup file"] = readFileSync(String(backup["path"])).toString("latin1")
        for (const [where, text] of Object.entries(haystacks)) {
          for (const [name, secret] of Object.entries({
            clientSecret,
            BACKUP_PASSWORD,
            PASSPHRASE
          })) {
            expect(text.includes(secret), `${name} found in ${where}`).toBe(false)
          }
        }
      }),
    180_000
  )

  it.scopedLive(
    "PREP-1: a wrong backup password fails the backup step; neither password shows in the error, journal or logs",
    () =>
      Effect.gen(function* () {
        const wrong = "Wrong-Backup-Pw-00c4e2"
        const { clientSecret, haystacks, report } = yield* runOnce(wrong)
        expect(report.status).toBe("failed")
        expect(report.steps.find((s) => s.id === "A/backup")?.status).toBe("failed")
        expect(haystacks["error"].length).toBeGreaterThan(0)
        for (const [where, text] of Object.entries(haystacks)) {
          for (const [name, secret] of Object.entries({ clientSecret, BACKUP_PASSWORD, wrong })) {
            expect(text.includes(secret), `${name} found in ${where}`).toBe(false)
          }
        }
      }),
    180_000
  )
})
