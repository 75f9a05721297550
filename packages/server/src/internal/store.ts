/**
 * Small durable files beside the journal: JSON Lines appended with fsync,
 * and JSON documents replaced atomically (write, fsync, rename).
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"

/** An I/O failure of the service's own files. */
export class StoreError extends Error {
  readonly _tag = "StoreError"
  constructor(
    readonly file: string,
    readonly operation: string,
    cause: unknown
  ) {
    super(`${operation} ${file}: ${(cause as { code?: string })?.code ?? (cause as Error)?.message ?? String(cause)}`)
  }
}

const syncDir = (dir: string) => {
  const d = fs.openSync(dir, "r")
  try {
    fs.fsyncSync(d)
  } finally {
    fs.closeSync(d)
  }
}

/** Append one JSON line durably (the folder is created when missing). */
export const appendLine = (file: string, value: unknown): Effect.Effect<void, StoreError> =>
  Effect.try({
    try: () => {
      fs.mkdirSync(path.dirname(file), { recursive: true })
      const fd = fs.openSync(file, "a", 0o600)
      try {
        const buf = Buffer.from(JSON.stringify(value) + "\n", "utf8")
        let off = 0
        while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off)
        fs.fsyncSync(fd)
      } finally {
        fs.closeSync(fd)
      }
    },
    catch: (e) => new StoreError(file, "append to", e)
  })

/** Every complete JSON line of a file (none when it does not exist); a torn last line is ignored. */
export const readLines = (file: string): Effect.Effect<ReadonlyArray<unknown>, StoreError> =>
  Effect.try({
    try: () => {
      let text: string
      try {
        text = fs.readFileSync(file, "utf8")
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return []
        throw e
      }
      const out: Array<unknown> = []
      for (const line of text.split("\n")) {
        if (line.trim() === "") continue
        try {
          out.push(JSON.parse(line))
        } catch {
          // a torn last line (crash mid-write): what it held was not acknowledged
        }
      }
      return out
    },
    catch: (e) => new StoreError(file, "read", e)
  })

/** Replace a JSON document atomically. */
export const writeJson = (file: string, value: unknown): Effect.Effect<void, StoreError> =>
  Effect.try({
    try: () => {
      const dir = path.dirname(file)
      fs.mkdirSync(dir, { recursive: true })
      const tmp = `${file}.${process.pid}.tmp`
      const fd = fs.openSync(tmp, "w", 0o600)
      try {
        fs.writeSync(fd, JSON.stringify(value, null, 2))
        fs.fsyncSync(fd)
      } finally {
        fs.closeSync(fd)
      }
      fs.renameSync(tmp, file)
      syncDir(dir)
    },
    catch: (e) => new StoreError(file, "write", e)
  })

/** A JSON document, or undefined when the file does not exist. */
export const readJson = (file: string): Effect.Effect<unknown, StoreError> =>
  Effect.try({
    try: () => {
      try {
        return JSON.parse(fs.readFileSync(file, "utf8")) as unknown
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined
        throw e
      }
    },
    catch: (e) => new StoreError(file, "read", e)
  })
