/**
 * Retries: a step retries following a `Schedule` (here exponential backoff, at most 3 retries). Errors whose
 * `isRetryable` is `false` are not retried; `while` chooses which errors to retry. A `Retry` event precedes every
 * new attempt.
 *
 *   npx tsx examples/graph/05_retry.ts
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Data, Effect, Schedule, Stream } from "effect"
import * as Graph from "sluice/Graph"

class Unavailable extends Data.TaggedError("Unavailable")<{ readonly attempt: number }> {
  override get message() {
    return `service unavailable (attempt ${this.attempt})`
  }
}

interface State {
  readonly response: string
}

const pipe = Graph.make<State>({ name: "reliability" })

let calls = 0
const flakyApi = Effect.gen(function*() {
  calls++
  if (calls < 3) return yield* new Unavailable({ attempt: calls })
  yield* Effect.flatMap(pipe.state, (s) => s.set({ response: `ok after ${calls} calls` }))
})

const graph = pipe.step(
  "flaky_api",
  {
    retry: {
      schedule: Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(3))),
      while: (error) => error.attempt < 10
    }
  },
  flakyApi
)

const program = Graph.stream(graph, { response: "" }).pipe(
  Stream.runForEach((event) => {
    switch (event._tag) {
      case "Retry":
        return Console.log(`retry #${event.attempt} in ${event.delayMs} ms: ${event.message}`)
      case "StepEnd":
        return event.path.length === 1 ? Console.log(`final state: ${JSON.stringify(event.output)}`) : Effect.void
      default:
        return Effect.void
    }
  })
)

NodeRuntime.runMain(program)
