/**
 * Terminal order between the progress lines and the gate box. The progress
 * lines are printed by the consumer of the run's event stream, which can lag
 * behind the executor; the terminal operator is called by the executor right
 * after it journaled the gate's `GateOpened`. So the operator waits until the
 * consumer has printed that `GateOpened` (and so everything before it: the
 * previous step's done line, the gate's header) before it draws its box.
 */
import type { RunEvent } from "@sra-upgrade/core"

export interface OutputOrder {
  /** The renderer printed this event's lines. */
  readonly shown: (envelope: RunEvent.Envelope) => void
  /** Resolves once the renderer has printed the `GateOpened` of this step's open gate. */
  readonly gateShown: (stepId: string) => Promise<void>
  /** Whether a gate is waiting for the renderer. */
  readonly pending: () => boolean
}

export const make = (): OutputOrder => {
  // gates whose GateOpened is printed and whose answer is not
  const open = new Set<string>()
  const waiters = new Map<string, Array<() => void>>()
  return {
    shown: ({ event }) => {
      if (event._tag === "GateOpened") {
        open.add(event.stepId)
        for (const w of waiters.get(event.stepId) ?? []) w()
        waiters.delete(event.stepId)
      } else if (event._tag === "GateAnswered") open.delete(event.stepId)
    },
    pending: () => waiters.size > 0,
    gateShown: (stepId) =>
      open.has(stepId)
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiters.set(stepId, [...(waiters.get(stepId) ?? []), resolve]))
  }
}
