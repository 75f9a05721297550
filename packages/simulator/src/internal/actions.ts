/**
 * The action log behind `GET /__sim/actions`: one per simulator process,
 * shared by every site it simulates, in memory, complete and ordered (see
 * `SimActions` for the names and their meaning).
 */
import type { ActionName } from "../SimActions.js"

export type DetailValue = string | number | boolean | null

export interface ActionEntry {
  readonly seq: number
  readonly at: string
  readonly site: string
  readonly appliance: string | null
  readonly action: ActionName
  readonly detail: Readonly<Record<string, DetailValue>>
}

export class ActionLog {
  private readonly entries: Array<ActionEntry> = []

  append(
    site: string,
    at: string,
    appliance: string | null,
    action: ActionName,
    detail: Readonly<Record<string, DetailValue>>
  ): ActionEntry {
    const e: ActionEntry = { seq: this.entries.length + 1, at, site, appliance, action, detail }
    this.entries.push(e)
    return e
  }

  /** Actions with `seq` greater than `since` (0: all), of one site or of all. */
  since(since: number, site?: string): ReadonlyArray<ActionEntry> {
    // seq n is at index n - 1
    const from = Math.max(0, Math.min(this.entries.length, Math.floor(since)))
    const tail = this.entries.slice(from)
    return site === undefined ? tail : tail.filter((e) => e.site === site)
  }

  get size(): number {
    return this.entries.length
  }
}
