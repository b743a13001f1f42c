/**
 * Event types: a run streams `RunStart`, `StepStart`, `Token`, `Retry`, `StepEnd`, `StepError` and `RunEnd`, each
 * with the run id, a path (`[graph, step, ...]`) and a timestamp. `Graph.run` consumes the same stream and returns
 * the final state (carried by the graph's own `StepEnd`). Events serialise to JSON lines with `Event.encodeJson`.
 *
 *   npx tsx examples/graph/07_event_types.ts
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Data, Effect, Schedule, Stream } from "effect"
import * as Event from "sluice/Event"
import * as Graph from "sluice/Graph"

class Glitch extends Data.TaggedError("Glitch")<{}> {}

interface State {
  readonly steps: number
}

const pipe = Graph.make<State>({ name: "events" })
const count = Effect.flatMap(pipe.state, (s) => s.update(({ steps }) => ({ steps: steps + 1 })))

let tries = 0
const graph = pipe
  .step("prepare", { to: "answer" }, count)
  .step(
    "answer",
    { to: "check", retry: Schedule.recurs(1) },
    Stream.suspend(() =>
      ++tries === 1 ? Stream.concat(Stream.make("partial"), Stream.fail(new Glitch())) : Stream.make("Hello", " there")
    )
  )
  .step("check", count)

const program = Effect.gen(function*() {
  yield* Graph.stream(graph, { steps: 0 }, { runId: "run-1" }).pipe(
    Stream.runForEach((event) =>
      Effect.gen(function*() {
        const where = event.path.join("/")
        switch (event._tag) {
          case "RunStart":
            return yield* Console.log(`RUN START   ${where} (${event.runId})`)
          case "StepStart":
            return yield* Console.log(`STEP START  ${where}`)
          case "Token":
            return yield* Console.log(`TOKEN       ${where} ${JSON.stringify(event.text)}`)
          case "Retry":
            return yield* Console.log(`RETRY       ${where} after ${event.error} (discard its tokens)`)
          case "StepEnd":
            return yield* Console.log(`STEP END    ${where} in ${event.durationMs} ms ${JSON.stringify(event.output)}`)
          case "StepError":
            return yield* Console.log(`STEP ERROR  ${where} ${event.error}: ${event.message}`)
          case "RunEnd":
            return yield* Console.log(`RUN END     ${where} ${event.status}`)
        }
      })
    )
  )
  const line = yield* Event.encodeJson(
    Event.make("Token", { runId: "run-1", path: ["events", "answer"], timestamp: 0 }, {
      text: "Hello"
    })
  )
  yield* Console.log(`\nas JSON: ${line}`)
  yield* Console.log(`final state from Graph.run: ${JSON.stringify(yield* Graph.run(graph, { steps: 0 }))}`)
})

NodeRuntime.runMain(program)
