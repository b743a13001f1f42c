/**
 * Parallel execution: `start` fans out to `calc_a` and `calc_b` (a list in `to`), which run concurrently; `combine`
 * has both as predecessors, so it runs once, after both finished (an implicit barrier).
 *
 *   npx tsx examples/graph/02_parallel.ts
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Stream } from "effect"
import * as Graph from "sluice/Graph"

interface State {
  readonly input: number
  readonly a: number
  readonly b: number
  readonly total: number
}

const pipe = Graph.make<State>({ name: "parallel", concurrency: 4 })

const start = Effect.gen(function*() {
  const { input } = yield* Effect.flatMap(pipe.state, (s) => s.get)
  yield* Console.log(`Starting parallel calculations for input: ${input}`)
})

// `patch` writes only the given fields, so the two branches do not overwrite each other.
const calcA = Effect.gen(function*() {
  yield* Effect.sleep("100 millis") // simulate work
  const state = yield* pipe.state
  const { input } = yield* state.get
  yield* state.patch({ a: input * 2 })
  yield* Console.log(`Branch A finished: ${input * 2}`)
})

const calcB = Effect.gen(function*() {
  yield* Effect.sleep("200 millis")
  const state = yield* pipe.state
  const { input } = yield* state.get
  yield* state.patch({ b: input + 22 })
  yield* Console.log(`Branch B finished: ${input + 22}`)
})

const combine = Stream.unwrap(Effect.gen(function*() {
  const state = yield* pipe.state
  yield* state.update((s) => ({ ...s, total: s.a + s.b }))
  const { total } = yield* state.get
  return Stream.make(`Result: ${total}`)
}))

const graph = pipe
  .step("start", { to: ["calc_a", "calc_b"] }, start)
  .step("calc_a", { to: "combine" }, calcA)
  .step("calc_b", { to: "combine" }, calcB)
  .step("combine", combine)

const program = Effect.gen(function*() {
  yield* Graph.stream(graph, { input: 10, a: 0, b: 0, total: 0 }).pipe(
    Stream.runForEach((event) => event._tag === "Token" ? Console.log(`>>> ${event.text}`) : Effect.void)
  )
  yield* Console.log(`\n${Graph.toMermaid(graph)}`)
})

NodeRuntime.runMain(program)
