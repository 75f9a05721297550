// Forward the events of a run to a browser as Server-Sent Events.
import { Executor, type Plan, RunEvent } from "@sra-upgrade/core"
import { Schema, Stream } from "effect"

const encode = Schema.encodeSync(RunEvent.Envelope)

/** One SSE frame per event: `event` is the event's tag, `data` its JSON (runId, seq, event). */
export const serverSentEvents = (plan: Plan.Plan) =>
  Executor.runStream(plan).pipe(
    Stream.map((envelope) => `event: ${envelope.event._tag}\ndata: ${JSON.stringify(encode(envelope))}\n\n`)
  )

/** What a dashboard shows: the step in progress and the last observation of a wait. */
export const progress = (envelope: RunEvent.Envelope): string | undefined => {
  const e = envelope.event
  switch (e._tag) {
    case "StepStarted":
      return `step ${e.stepId} started (attempt ${e.attempt})`
    case "WaitProgress":
      return `waiting on ${e.stepId}: poll ${e.poll}, observed ${JSON.stringify(e.observed)}`
    case "GateOpened":
      return `waiting for an approval of ${e.stepId}`
    case "RunFinished":
      return `run ${envelope.runId} ${e.status}`
    default:
      return undefined
  }
}
