/**
 * Dynamic routing: a step returns `Graph.next("step")` (or a list, to fan out) instead of following its `to`, or
 * `Graph.end` to stop. Nothing needs declaring: the targets are part of the graph's type, so returning a step id that
 * does not exist is a compile error, and `decide` (the first step, the only one that no `next` names) is the entry.
 * Listing the targets in the optional `routes` draws them (dashed) in the Mermaid diagram.
 *
 *   npx tsx examples/graph/03_dynamic_routing.ts
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import * as Graph from "sluice/Graph"

interface State {
  readonly value: number
  readonly handledBy: string
}

const pipe = Graph.make<State>({ name: "switch" })

const decide = Effect.gen(function*() {
  const { value } = yield* Effect.flatMap(pipe.state, (s) => s.get)
  if (value === 0) return Graph.end
  return value > 0 ? Graph.next("positive_handler") : Graph.next("negative_handler")
})

const handle = (name: string) =>
  Effect.gen(function*() {
    const state = yield* pipe.state
    yield* state.patch({ handledBy: name })
  })

const graph = pipe
  .step("decide", decide)
  .step("positive_handler", handle("positive"))
  .step("negative_handler", handle("negative"))

const program = Effect.gen(function*() {
  for (const value of [5, -3, 0]) {
    const final = yield* Graph.run(graph, { value, handledBy: "nobody" })
    yield* Console.log(`value ${value}: handled by ${final.handledBy}`)
  }
  yield* Console.log(`\n${Graph.toMermaid(graph)}`)
})

NodeRuntime.runMain(program)
