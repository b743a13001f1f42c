import { AiError, Toolkit } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Option, Schema, Stream, TestClock } from "effect"
import * as Agent from "../src/Agent.js"
import { AgentError } from "../src/AgentError.js"
import * as Event from "../src/Event.js"
import * as Llm from "../src/Llm.js"
import * as Node from "../src/Node.js"
import { NodeError } from "../src/NodeError.js"
import * as ScriptedEngine from "../src/testing/ScriptedEngine.js"

const Review = Schema.Struct({ text: Schema.String, stars: Schema.Number })
const Sentiment = Schema.Struct({ label: Schema.Literal("positive", "negative"), score: Schema.Number })

describe("Llm", () => {
  it.effect("text streams tokens and reasoning, returns the text and reports usage", () =>
    Effect.gen(function*() {
      const node = Llm.text({ name: "answer", prompt: (q: string) => `Q: ${q}`, system: "Be brief." })
      const events = Chunk.toArray(yield* Stream.runCollect(Node.stream(node, "why?")))
      assert.deepStrictEqual(
        events.filter(Event.is("Token")).map((e) => e.text),
        ["Bec", "aus", "e."]
      )
      assert.deepStrictEqual(events.filter(Event.is("Reasoning")).map((e) => e.text), ["hmm"])
      const end = events.at(-1) as Event.Of<"StepEnd">
      assert.strictEqual(end.output, "Because.")
      assert.isAbove(end.usage?.outputTokens ?? 0, 0)
      const [request] = yield* ScriptedEngine.requests
      assert.strictEqual(request!.text, "system: Be brief.\nuser: Q: why?")
    }).pipe(Effect.provide(ScriptedEngine.layer({ replies: [{ text: "Because.", reasoning: "hmm" }], tokenSize: 3 }))))

  it.effect("text fails with the engine's typed error after a StepError event", () =>
    Effect.gen(function*() {
      const node = Llm.text({ prompt: (q: string) => q })
      const error = yield* Effect.flip(Node.run(node, "x"))
      assert.strictEqual(error._tag, "UnknownError")
    }).pipe(Effect.provide(ScriptedEngine.layer({
      replies: [new AiError.UnknownError({ module: "test", method: "streamText", description: "down" })]
    }))))

  it.effect("object decodes the structured reply and requests the output schema", () =>
    Effect.gen(function*() {
      const node = Llm.object({ name: "classify", input: Review, output: Sentiment, prompt: (r) => r.text })
      const value = yield* Node.run(node, { text: "great", stars: 5 })
      assert.deepStrictEqual(value, { label: "positive", score: 0.9 })
      const [request] = yield* ScriptedEngine.requests
      assert.isTrue(Option.isSome(request!.format))
      assert.strictEqual(Option.getOrThrow(request!.format).objectName, "classify")
    }).pipe(Effect.provide(ScriptedEngine.layer({ replies: [{ object: { label: "positive", score: 0.9 } }] }))))

  it.effect("object rejects an invalid input with NodeError(InvalidInput) naming the field, without calling the model", () =>
    Effect.gen(function*() {
      const node = Llm.object({ name: "classify", input: Review, output: Sentiment, prompt: (r) => r.text })
      const error = yield* Effect.flip(
        Node.run(node, { text: "great", stars: "five" } as unknown as typeof Review.Type)
      )
      assert.instanceOf(error, NodeError)
      assert.strictEqual((error as NodeError).reason, "InvalidInput")
      assert.include(error.message, "stars")
      assert.lengthOf(yield* ScriptedEngine.requests, 0)
    }).pipe(Effect.provide(ScriptedEngine.layer({ replies: [] }))))

  it.effect("object fails with a typed error when the reply does not match the schema", () =>
    Effect.gen(function*() {
      const node = Llm.object({ input: Review, output: Sentiment, prompt: (r) => r.text })
      const error = yield* Effect.flip(Node.run(node, { text: "meh", stars: 3 }))
      assert.strictEqual(error._tag, "StructuredOutputError")
    }).pipe(Effect.provide(ScriptedEngine.layer({ replies: [{ object: { label: "maybe" } }] }))))
})

describe("Llm.text and tools", () => {
  const Sum = Agent.jsonSchemaTool("sum", {
    description: "Add two numbers",
    parameters: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } }, required: ["a", "b"] }
  })
  const add = (maxTurns?: number) =>
    Llm.text({
      name: "add",
      prompt: (q: string) => q,
      system: "Use the tools.",
      tools: Toolkit.make(Sum),
      handlers: { sum: ({ a, b }) => Effect.succeed(a + b) },
      maxTurns
    })
  const callSum = (id: string, a: unknown, b: unknown) => ({ toolCalls: [{ id, name: "sum", params: { a, b } }] })

  it.effect("without tools, a reply that calls a tool streams ToolCall events and returns its text", () =>
    Effect.gen(function*() {
      const node = Llm.text({ name: "answer", prompt: (q: string) => q })
      const events = Chunk.toArray(yield* Stream.runCollect(Node.stream(node, "find it")))
      const calls = events.filter(Event.is("ToolCall"))
      assert.deepStrictEqual(calls.map((e) => [e.name, e.params]), [["search", { query: "it" }]])
      assert.deepStrictEqual(calls[0]!.path, ["answer"])
      assert.strictEqual((events.at(-1) as Event.Of<"StepEnd">).output, "Let me look.")
    }).pipe(Effect.provide(ScriptedEngine.layer({
      replies: [{ text: "Let me look.", toolCalls: [{ name: "search", params: { query: "it" } }] }]
    }))))

  it.effect("with tools, runs the tool loop: tool calls and results as events, results fed back, the last text", () =>
    Effect.gen(function*() {
      const events = Chunk.toArray(yield* Stream.runCollect(Node.stream(add(), "2 + 3, plus 1?")))
      assert.deepStrictEqual(
        events.filter(Event.is("ToolResult")).map((e) => [e.id, e.result, e.isFailure]),
        [
          ["c1", 5, false],
          ["c2", "Error: invalid parameters for tool \"sum\": a: expected number, got string", true],
          ["c3", 6, false]
        ]
      )
      assert.deepStrictEqual(
        events.filter(Event.is("ToolCall")).map((e) => e.path.join("/")),
        ["add/turn-1", "add/turn-1", "add/turn-2"]
      )
      const end = events.at(-1) as Event.Of<"StepEnd">
      assert.deepStrictEqual(end.path, ["add"])
      assert.strictEqual(end.output, "6")
      const requests = yield* ScriptedEngine.requests
      assert.deepStrictEqual(requests.map((r) => r.tools), [["sum"], ["sum"], ["sum"]])
      assert.include(requests[0]!.text, "system: Use the tools.")
      assert.include(requests[1]!.text, "tool: sum -> 5")
    }).pipe(Effect.provide(ScriptedEngine.layer({
      replies: [
        {
          toolCalls: [{ id: "c1", name: "sum", params: { a: 2, b: 3 } }, {
            id: "c2",
            name: "sum",
            params: { a: "x", b: 1 }
          }]
        },
        callSum("c3", 5, 1),
        "6"
      ]
    }))))

  it.effect("with tools, fails with AgentError(MaxTurnsExceeded) when the model still calls tools after maxTurns", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Node.run(add(2), "loop"))
      assert.instanceOf(error, AgentError)
      assert.strictEqual((error as AgentError).reason, "MaxTurnsExceeded")
      assert.lengthOf(yield* ScriptedEngine.requests, 2)
    }).pipe(Effect.provide(ScriptedEngine.layer({ reply: () => callSum("c", 1, 1) }))))
})

describe("ScriptedEngine", () => {
  it.effect("matches prompts first, then the call sequence, then the function", () =>
    Effect.gen(function*() {
      const node = Llm.text({ prompt: (q: string) => q })
      assert.strictEqual(yield* Node.run(node, "hello there"), "matched")
      assert.strictEqual(yield* Node.run(node, "b"), "second")
      assert.strictEqual(yield* Node.run(node, "c"), "fn:3")
    }).pipe(Effect.provide(ScriptedEngine.layer({
      match: [["hello", "matched"]],
      replies: ["first", "second"],
      reply: (request) => `fn:${request.call}`
    }))))

  it.effect("fails at chosen calls and paces tokens on the TestClock", () =>
    Effect.gen(function*() {
      const node = Llm.text({ prompt: (q: string) => q })
      const failing = yield* Effect.fork(Effect.flip(Node.run(node, "a")))
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* Fiber.join(failing))._tag, "UnknownError")
      const fiber = yield* Effect.fork(Node.run(node, "b"))
      yield* TestClock.adjust("1 second")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(fiber), "abcd")
    }).pipe(Effect.provide(ScriptedEngine.layer({
      failures: { 1: new AiError.UnknownError({ module: "test", method: "x" }) },
      reply: () => "abcd",
      tokenSize: 1,
      latency: "1 second",
      tokenDelay: "250 millis"
    }))))

  it.effect("a call with nothing scripted dies with a message naming the call", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Node.run(Llm.text({ prompt: (q: string) => q }), "x"))
      assert.isTrue(exit._tag === "Failure")
      assert.include(String(exit._tag === "Failure" ? exit.cause : ""), "no reply scripted for call 1")
    }).pipe(Effect.provide(ScriptedEngine.layer({}))))
})
