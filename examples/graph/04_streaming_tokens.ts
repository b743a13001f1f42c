/**
 * Streaming tokens: a step whose body is a `Stream` of text streams Token events as they are produced; a sluice
 * `Node` (here an LLM node on the offline dry-run engine) becomes a step with `Graph.node`, its tokens nested under
 * the step's path.
 *
 *   npx tsx examples/graph/04_streaming_tokens.ts
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Stream } from "effect"
import * as DryRun from "sluice/engines/DryRun"
import * as Graph from "sluice/Graph"
import * as Llm from "sluice/Llm"

interface State {
  readonly query: string
  readonly context: ReadonlyArray<string>
  readonly answer: string
}

const pipe = Graph.make<State>({ name: "ai-search", reducers: { context: (a, b) => [...a, ...b] } })

const searchVectors = Effect.flatMap(pipe.state, (s) => s.patch({ context: ["Vector DB result: Effect is fun."] }))

// A hand-written token stream, with a little latency between chunks.
const thinking = Stream.make("Searching ", "the ", "knowledge ", "base... ").pipe(
  Stream.tap(() => Effect.sleep("20 millis"))
)

const callLlm = Graph.node(
  Llm.text({ name: "llm", prompt: (prompt: string) => prompt }),
  {
    input: (state: State) => `Context: ${state.context.join("; ")}\nQuery: ${state.query}`,
    output: (answer, state) => ({ ...state, answer })
  }
)

const graph = pipe
  .step("search_vectors", { to: "think" }, searchVectors)
  .step("think", { to: "call_llm" }, thinking)
  .step("call_llm", callLlm)

const program = Effect.gen(function*() {
  yield* Graph.stream(graph, { query: "Tell me about Effect", context: [], answer: "" }).pipe(
    Stream.runForEach((event) =>
      event._tag === "Token"
        ? Effect.sync(() => process.stdout.write(event.text))
        : event._tag === "StepStart" && event.path.length === 2
        ? Console.log(`\n[${event.path.join(" / ")}]`)
        : Effect.void
    )
  )
  yield* Console.log("\nPipeline complete!")
})

program.pipe(
  Effect.provide(DryRun.layer({ latency: "20 millis", tokensPerSecond: 300, seed: 7 })),
  NodeRuntime.runMain
)
