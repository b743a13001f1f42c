/**
 * Composition: a graph over the same state is a step of another graph (its steps' paths nest under the step); a
 * graph with its own state becomes a `Node` with `Graph.toNode` and joins another graph through `Graph.node`, or
 * any sluice composition that takes nodes.
 *
 *   npx tsx examples/graph/10_subgraphs.ts
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Stream } from "effect"
import * as Graph from "sluice/Graph"

interface State {
  readonly notes: ReadonlyArray<string>
  readonly summary: string
}

const pipe = Graph.make<State>({ name: "report", reducers: { notes: (a, b) => [...a, ...b] } })
const note = (text: string) => Effect.flatMap(pipe.state, (s) => s.patch({ notes: [text] }))

// Shares the outer state.
const research = Graph.make<State>({ name: "research", reducers: { notes: (a, b) => [...a, ...b] } })
  .step("search", { to: ["read_a", "read_b"] }, note("searched"))
  .step("read_a", note("read A"))
  .step("read_b", note("read B"))

// Has its own state: used through Graph.toNode + Graph.node.
interface Words {
  readonly text: string
  readonly count: number
}
const counter = Graph.make<Words>({ name: "counter" })
const countWords = counter.step(
  "count",
  Effect.flatMap(counter.state, (s) => s.update((w) => ({ ...w, count: w.text.split(" ").length })))
)

const graph = pipe
  .step("research", { to: "summarise" }, research)
  .step("summarise", { to: "measure" }, Stream.make("All ", "notes ", "read."))
  .step(
    "measure",
    Graph.node(Graph.toNode(countWords), {
      input: (state: State) => ({ text: state.notes.join(" "), count: 0 }),
      output: (words, state) => ({ ...state, summary: `${words.count} words of notes` })
    })
  )

const program = Effect.gen(function*() {
  yield* Graph.stream(graph, { notes: [], summary: "" }).pipe(
    Stream.runForEach((event) =>
      event._tag === "StepStart" || event._tag === "StepEnd"
        ? Console.log(`${event._tag.padEnd(9)} ${event.path.join(" / ")}`)
        : Effect.void
    )
  )
  const final = yield* Graph.run(graph, { notes: [], summary: "" })
  yield* Console.log(`\nnotes: ${final.notes.join(", ")}\nsummary: ${final.summary}`)
})

NodeRuntime.runMain(program)
