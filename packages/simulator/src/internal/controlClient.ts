/**
 * The client side of the control API (`/__sim/`) shared by the gate players
 * of `SimOperator`: one `call` (JSON in and out, a refusal becomes a
 * `ControlFailure` carrying the simulator's message), file I/O wrapped the
 * same way, and the turn of a gate's result into an `Approved` answer.
 */
import { Operator } from "@sra-upgrade/core"
import * as Effect from "effect/Effect"

/** A control call (or local I/O) that failed: the gate is rejected with this message. */
export class ControlFailure {
  constructor(
    readonly message: string,
    /** HTTP status of a refusal (undefined: unreachable, or local I/O). */
    readonly status?: number
  ) {}
}

export type Json = Record<string, unknown>

/** Evidence a gate player read back; `undefined`: not a gate it plays. */
export type Played = Effect.Effect<Record<string, string>, ControlFailure> | undefined

export interface ControlClient {
  readonly call: (method: string, path: string, body?: unknown) => Effect.Effect<unknown, ControlFailure>
  readonly io: <A>(what: string, f: () => Promise<A>) => Effect.Effect<A, ControlFailure>
}

export const seg = encodeURIComponent

export const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined)

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** One control call over HTTP: JSON in and out (a non-JSON answer becomes `{message}`). */
export const request = async (
  controlUrl: string,
  method: string,
  path: string,
  body: unknown,
  signal?: AbortSignal
): Promise<{ readonly status: number; readonly value: unknown }> => {
  const base = controlUrl.replace(/\/+$/, "")
  const res = await fetch(`${base}${path.startsWith("/") ? path : `/${path}`}`, {
    method,
    ...(signal !== undefined ? { signal } : {}),
    headers: { "content-type": "application/json" },
    ...(method === "GET" || method === "HEAD" ? {} : { body: JSON.stringify(body ?? {}) })
  })
  const text = await res.text()
  const parse = (): unknown => {
    try {
      return text === "" ? {} : JSON.parse(text)
    } catch {
      return { message: text.slice(0, 200) }
    }
  }
  return { status: res.status, value: parse() }
}

/** The simulator's message of a refusal, or `HTTP <status>`. */
export const refusalMessage = (status: number, value: unknown): string =>
  typeof value === "object" && value !== null && "message" in value
    ? String((value as Json)["message"])
    : `HTTP ${status}`

export const make = (controlUrl: string): ControlClient => {
  const call = (method: string, path: string, body?: unknown): Effect.Effect<unknown, ControlFailure> =>
    Effect.tryPromise({
      try: (signal) => request(controlUrl, method, path, body, signal),
      catch: (e) => new ControlFailure(`control API unreachable: ${messageOf(e)}`)
    }).pipe(
      Effect.flatMap(({ status, value }) =>
        status >= 400 ? Effect.fail(new ControlFailure(refusalMessage(status, value), status)) : Effect.succeed(value)
      )
    )
  const io = <A>(what: string, f: () => Promise<A>) =>
    Effect.tryPromise({ try: f, catch: (e) => new ControlFailure(`${what}: ${messageOf(e)}`) })
  return { call, io }
}

/** Each evidence field the gate asks for (or `simulated`), then whatever else the player read back. */
export const approve = (by: string, request: Operator.GateRequest, read: Record<string, string>): Operator.Approved => {
  const evidence: Record<string, string> = {}
  for (const f of request.evidence) evidence[f.name] = read[f.name] ?? "simulated"
  for (const [k, v] of Object.entries(read)) evidence[k] ??= v
  return new Operator.Approved({ by, evidence })
}
