/**
 * Visualization: `Graph.toMermaid` draws the graph (static `to` edges solid, declared `routes` dashed, streaming
 * steps marked ⚡, nested graphs and nodes as subroutines); `Graph.toTree` prints a plain-text tree; `Graph.steps`
 * lists the steps for your own tooling.
 *
 *   npx tsx examples/graph/11_visualization.ts
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Option, Stream } from "effect"
import * as Graph from "sluice/Graph"

interface State {
  readonly query: string
}

const pipe = Graph.make<State>({ name: "rag" })
const work = Effect.void

const search = Graph.make<State>({ name: "search" })
  .step("vectors", { to: "rank" }, work)
  .step("rank", work)

const graph = pipe
  .step("parse_query", { to: "embed_query" }, work)
  .step("embed_query", { to: ["search_web", "search_kb"] }, work)
  .step("search_web", { to: "build_context" }, Stream.make("web"))
  .step("search_kb", { to: "build_context" }, search)
  .step("build_context", { routes: ["generate", "clarify"] }, Effect.succeed(Graph.next("generate")))
  .step("clarify", { to: "parse_query" }, work)
  .step("generate", { to: "format" }, Stream.make("answer"))
  .step("format", work)
  .entry("parse_query") // `clarify` loops back to it, so every step has a predecessor: choose the entry

const program = Effect.gen(function*() {
  yield* Console.log(Graph.toMermaid(graph))
  yield* Console.log(Graph.toTree(graph))
  for (const step of Graph.steps(graph)) {
    const inner = Option.match(step.inner, { onNone: () => "", onSome: (name) => ` (${name})` })
    yield* Console.log(`${step.id} [${step.kind}${inner}] -> ${[...step.to, ...step.routes].join(", ") || "end"}`)
  }
})

NodeRuntime.runMain(program)
