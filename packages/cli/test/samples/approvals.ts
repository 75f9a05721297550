// A portal's approval queue as the run's Operator: gates wait until someone decides.
import { Operator } from "@sra-upgrade/core"
import { Deferred, Effect, Layer, Ref } from "effect"

export interface Pending {
  readonly request: Operator.GateRequest
  readonly answer: Deferred.Deferred<Operator.Answer>
}

export const makeApprovals = Effect.gen(function* () {
  const pending = yield* Ref.make(new Map<string, Pending>())
  // the executor calls this when a run reaches a manual gate; the run waits (journaled) until decide()
  const layer = Operator.layerPrompt((request) =>
    Effect.gen(function* () {
      const answer = yield* Deferred.make<Operator.Answer>()
      yield* Ref.update(pending, (m) => new Map(m).set(request.step.id, { request, answer }))
      return yield* Deferred.await(answer)
    })
  )
  return {
    layer,
    /** For the portal's list of gates waiting for someone. */
    list: Effect.map(Ref.get(pending), (m) => [...m.values()].map((p) => p.request)),
    /** Called by the portal when a person approves, rejects or defers a gate. */
    decide: (stepId: string, answer: Operator.Answer) =>
      Effect.gen(function* () {
        const entry = (yield* Ref.get(pending)).get(stepId)
        if (entry === undefined) return false
        yield* Ref.update(pending, (m) => {
          const next = new Map(m)
          next.delete(stepId)
          return next
        })
        return yield* Deferred.succeed(entry.answer, answer)
      })
  }
})

export const approveAs = (by: string, evidence: Record<string, string>) => new Operator.Approved({ by, evidence })
export type Approvals = Effect.Effect.Success<typeof makeApprovals>
export const layerOf = (approvals: Approvals): Layer.Layer<Operator.Operator> => approvals.layer
