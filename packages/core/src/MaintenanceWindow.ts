/**
 * A scheduled maintenance window (PREP-4, PAIR-1): when work that makes the
 * site unavailable may start, and how long it may last.
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category models
 */
export class MaintenanceWindow extends Schema.Class<MaintenanceWindow>("MaintenanceWindow")({
  label: Schema.String,
  start: Schema.Date,
  durationMinutes: Schema.Number.pipe(Schema.int(), Schema.positive())
}) {
  /**
   * @since 0.1.0
   */
  get end(): Date {
    return new Date(this.start.getTime() + this.durationMinutes * 60_000)
  }

  /**
   * Whether `now` lies inside the window.
   *
   * @since 0.1.0
   */
  isOpenAt(now: Date): boolean {
    return now.getTime() >= this.start.getTime() && now.getTime() < this.end.getTime()
  }
}

/**
 * The window that is open at `now`, or else the next one to open.
 *
 * @since 0.1.0
 * @category combinators
 */
export const current = (windows: ReadonlyArray<MaintenanceWindow>, now: Date): Option.Option<MaintenanceWindow> => {
  const upcoming = windows
    .filter((w) => w.end.getTime() > now.getTime())
    .sort((a, b) => a.start.getTime() - b.start.getTime())
  return Option.fromNullable(upcoming[0])
}
