import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { Envelope, TornRecord } from "../../RunEvent.js"

const encode = Schema.encodeSync(Envelope)
const decode = Schema.decodeUnknownEither(Envelope)

/** @internal */
export const validRunId = (runId: string): boolean => /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(runId)

/** @internal */
export const encodeLine = (record: Envelope): string => JSON.stringify(encode(record)) + "\n"

/** Bytes after the last newline: a record whose write did not complete. */
export const tornTail = (buf: Buffer): Option.Option<TornRecord> => {
  const end = buf.lastIndexOf(10)
  const offset = end + 1
  return offset < buf.length ? Option.some(new TornRecord({ offset, bytes: buf.length - offset })) : Option.none()
}

/** @internal */
export interface Parsed {
  readonly records: ReadonlyArray<Envelope>
  readonly torn: Option.Option<TornRecord>
}

/** @internal */
export interface Damage {
  readonly line: number
  readonly detail: string
}

/** @internal */
export const parse = (runId: string, buf: Buffer): Either.Either<Parsed, Damage> => {
  const torn = tornTail(buf)
  const complete = Option.isSome(torn) ? buf.subarray(0, torn.value.offset) : buf
  const text = complete.toString("utf8")
  const lines = text.length === 0 ? [] : text.slice(0, -1).split("\n")
  const records: Array<Envelope> = []
  const corrupt = (line: number, detail: string) => Either.left({ line, detail })
  for (let i = 0; i < lines.length; i++) {
    let json: unknown
    try {
      json = JSON.parse(lines[i]!)
    } catch (e) {
      return corrupt(i + 1, `not JSON: ${(e as Error).message}`)
    }
    const r = decode(json)
    if (Either.isLeft(r)) {
      return corrupt(i + 1, `not a run event: ${ParseResult.TreeFormatter.formatErrorSync(r.left).split("\n")[0]}`)
    }
    if (r.right.runId !== runId) return corrupt(i + 1, `record of run ${r.right.runId}`)
    if (r.right.seq !== i + 1) return corrupt(i + 1, `sequence ${r.right.seq}, expected ${i + 1}`)
    records.push(r.right)
  }
  return Either.right({ records, torn })
}
