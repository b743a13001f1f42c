/**
 * TinyAgent's quick start, in sluice: an agent with a session id, a system prompt set afterwards, a model chosen by
 * engine name, a text prompt; then a tool declared with a raw JSON Schema, given to the agent with `setTools`, and
 * events seen by a subscriber.
 *
 * Offline: the engine registry has two engines, "fast" (the dry-run engine, the default an agent starts with) and
 * "claude", backed by a scripted model that answers like a small tool-using one. To run on a real model, define "claude" in an engines file instead (e.g. backend `openai` with
 * `endpoint: https://openrouter.ai/api/v1` and `model: anthropic/claude-3.5-sonnet`) and provide
 * `EngineRegistry.layerFile("engines.yml")`.
 *
 *   npx tsx examples/agent/quickstart.ts
 */
import { Toolkit } from "@effect/ai"
import { FetchHttpClient } from "@effect/platform"
import { Chunk, Console, Effect, Fiber, Layer, Stream } from "effect"
import { pathToFileURL } from "node:url"
import * as Agent from "sluice/Agent"
import * as EngineRegistry from "sluice/EngineRegistry"
import * as ScriptedEngine from "sluice/testing/ScriptedEngine"

// -----------------------------------------------------------------------------
// the engines: "claude" is a scripted stand-in for anthropic/claude-3.5-sonnet
// -----------------------------------------------------------------------------

const scripted = ScriptedEngine.layer({
  tokenSize: 4,
  reply: (request) => {
    const last = request.text.split("\n").at(-1) ?? ""
    if (last.startsWith("tool: sum -> ")) return `2 + 3 = ${last.slice("tool: sum -> ".length)}.`
    if (last.includes("2 + 3")) return { toolCalls: [{ name: "sum", params: { a: 2, b: 3 } }] }
    return "The capital of France is Paris."
  }
})

const registry = EngineRegistry.layer({
  engines: [
    { name: "fast", backend: "dry-run" },
    { name: "claude", backend: "scripted", model: "anthropic/claude-3.5-sonnet" }
  ],
  default: "fast",
  backends: { scripted: () => scripted }
}).pipe(Layer.provide(FetchHttpClient.layer))

// The registry, and its default engine as the `LanguageModel` an agent starts with.
const engines = Layer.provideMerge(EngineRegistry.layerDefault, registry)

// -----------------------------------------------------------------------------
// a tool, TinyAgent style: parameters as a JSON Schema
// -----------------------------------------------------------------------------

const Sum = Agent.jsonSchemaTool("sum", {
  description: "Add two numbers",
  parameters: {
    type: "object",
    properties: { a: { type: "number" }, b: { type: "number" } },
    required: ["a", "b"]
  }
})

// -----------------------------------------------------------------------------
// the program
// -----------------------------------------------------------------------------

export const program = Effect.gen(function*() {
  // Create an agent
  const agent = yield* Agent.make({ sessionId: "my-session" })

  // Configure
  yield* Agent.setSystemPrompt(agent, "You are a helpful assistant.")
  yield* Agent.setModel(agent, "claude")

  // Simple prompt
  const capital = yield* Agent.promptText(agent, "What is the capital of France?")
  yield* Console.log(capital)

  // Tools: the handler's parameters are typed from the schema ({ a: number; b: number })
  yield* Agent.setTools(agent, Toolkit.make(Sum), { sum: ({ a, b }) => Effect.succeed(a + b) })

  // Events: a subscription taken now sees the next prompt's events, as they happen
  const events = yield* Agent.events(agent)
  const listener = yield* events.pipe(
    Stream.takeUntil((event) => event._tag === "AgentEnd"),
    Stream.tap((event) =>
      event._tag === "ToolExecutionEnd" ? Console.log(`  sum returned ${event.result}`) : Effect.void
    ),
    Stream.runCollect,
    Effect.fork
  )
  const sum = yield* Agent.promptText(agent, "What is 2 + 3?")
  yield* Console.log(sum)
  const seen = Chunk.toArray(yield* Fiber.join(listener)).map((event) => event._tag)

  const state = yield* Agent.state(agent)
  return { capital, sum, seen, state }
})

export const main = program.pipe(Effect.scoped, Effect.provide(engines))

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) Effect.runPromise(main)
