/**
 * Quick start: two steps over a typed state. `greet` writes the state and hands over to `respond` (its `to`), which
 * streams its answer as tokens.
 *
 *   npx tsx examples/graph/01_quick_start.ts
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Stream } from "effect"
import * as Graph from "sluice/Graph"

interface State {
  readonly message: string
}

const pipe = Graph.make<State>({ name: "quick-start" })

// A step is an Effect: it reaches the state through `pipe.state`.
const greet = Effect.gen(function*() {
  const state = yield* pipe.state
  yield* state.set({ message: "Hello" })
})

// A step can also be a Stream of text: every element becomes a Token event.
const respond = Stream.unwrap(Effect.gen(function*() {
  const { message } = yield* Effect.flatMap(pipe.state, (state) => state.get)
  return Stream.make(`${message}, World!`)
}))

// Steps may refer to steps defined later; a typo in `to` is a compile error.
const graph = pipe
  .step("greet", { to: "respond" }, greet)
  .step("respond", respond)

const program = Graph.stream(graph, { message: "" }).pipe(
  Stream.runForEach((event) => event._tag === "Token" ? Console.log(event.text) : Effect.void)
)

NodeRuntime.runMain(program)
