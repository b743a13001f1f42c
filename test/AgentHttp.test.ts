/**
 * The agent over a real HTTP engine: the OpenAI-compatible Chat Completions engine against ScriptedServer, replaying
 * recorded transcripts (fragmented tool-call arguments, a tool-call index starting at 1) and scripted streams
 * (parallel tool calls, a stream that hangs until aborted).
 */
import { Tool, Toolkit } from "@effect/ai"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Fiber, Layer, Schema, Stream } from "effect"
import * as Agent from "../src/Agent.js"
import * as AgentEvent from "../src/AgentEvent.js"
import * as OpenAiCompat from "../src/engines/OpenAiCompat.js"
import * as ScriptedServer from "../src/testing/ScriptedServer.js"

const dir = "test/fixtures/transcripts"

const Weather = Tool.make("weather", {
  description: "Weather in a location",
  parameters: { location: Schema.String },
  success: Schema.Struct({ forecast: Schema.String })
})
const ReadFile = Tool.make("read_file", {
  parameters: { path: Schema.String },
  success: Schema.String
})
const Kit = Toolkit.make(Weather, ReadFile)

const engine = (config: OpenAiCompat.Config) =>
  OpenAiCompat.layer(config).pipe(Layer.provide(NodeHttpClient.layerUndici))

/** One Chat Completions stream chunk. */
const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: "chatcmpl-1",
  object: "chat.completion.chunk",
  created: 0,
  model: "scripted",
  choices: [{ index: 0, delta, finish_reason: finish }]
})

const textReply = (text: string) =>
  ScriptedServer.sse([chunk({ role: "assistant", content: text }), chunk({}, "stop")], { chunkSizes: 9 })

const collect = <A, E, R>(stream: Stream.Stream<A, E, R>) => Effect.map(Stream.runCollect(stream), Chunk.toArray)

const toolResults = (agent: Agent.Agent) =>
  Effect.map(
    Agent.state(agent),
    (state) => state.messages.filter((m): m is AgentEvent.ToolResultMessage => m._tag === "ToolResultMessage")
  )

const messagesOf = (body: unknown) => (body as { readonly messages: ReadonlyArray<Record<string, any>> }).messages

describe("Agent over OpenAiCompat + ScriptedServer", () => {
  it.live("a recorded stream with fragmented tool-call arguments and reasoning: deltas, execution, results fed back", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({
        replies: [
          ScriptedServer.transcript(`${dir}/openai-compat.deepseek.tool-call-fragmented-args.vercel.sse`, {
            chunkSizes: 7
          }),
          textReply("Sunny in San Francisco.")
        ]
      })
      const locations: Array<string> = []
      const agent = yield* Agent.make({
        system: "You report the weather.",
        engine: engine({ baseUrl: `${server.url}/v1`, model: "deepseek-reasoner" }),
        modelName: "deepseek-reasoner",
        tools: Kit,
        handlers: {
          weather: ({ location }) => Effect.sync(() => locations.push(location)).pipe(Effect.as({ forecast: "sunny" })),
          read_file: ({ path }) => Effect.succeed(path)
        }
      })
      const events = yield* collect(Agent.prompt(agent, "What is the weather in San Francisco?"))
      const deltas = events.filter(AgentEvent.is("MessageUpdate")).map((e) => e.delta)
      const argDeltas = deltas.filter((d) => d._tag === "ToolCallDelta")
      assert.isAbove(argDeltas.length, 5)
      assert.deepStrictEqual(JSON.parse(argDeltas.map((d) => d.delta).join("")), { location: "San Francisco" })
      const thinking = deltas.filter((d) => d._tag === "ThinkingDelta").map((d) => d.text).join("")
      assert.isTrue(thinking.startsWith("The user is asking for the weather in San Francisco."))
      const order = deltas.map((d) => d._tag).filter((tag, i, all) => tag !== all[i - 1])
      assert.deepStrictEqual(order, ["ThinkingDelta", "ToolCallStart", "ToolCallDelta", "ToolCallEnd", "TextDelta"])
      assert.deepStrictEqual(locations, ["San Francisco"])
      const end = events.at(-1) as AgentEvent.Of<"AgentEnd">
      assert.deepStrictEqual([end.reason, end.text, end.turns], ["stop", "Sunny in San Francisco.", 2])
      const [first, second] = yield* server.requests
      assert.strictEqual(first!.path, "/v1/chat/completions")
      assert.deepStrictEqual((first!.body as any).tools.map((t: any) => t.function.name), ["weather", "read_file"])
      assert.deepStrictEqual((first!.body as any).tools[0].function.parameters.required, ["location"])
      const messages = messagesOf(second!.body)
      assert.deepStrictEqual(messages.map((m) => m.role), ["system", "user", "assistant", "tool"])
      assert.deepStrictEqual(messages[2]!.tool_calls, [{
        id: "call_00_ioIn7yN9p1ZOMNpDLwd4MgAF",
        type: "function",
        function: { name: "weather", arguments: `{"location":"San Francisco"}` }
      }])
      assert.deepStrictEqual(messages[3], {
        role: "tool",
        tool_call_id: "call_00_ioIn7yN9p1ZOMNpDLwd4MgAF",
        content: `{"forecast":"sunny"}`
      })
      const state = yield* Agent.state(agent)
      const firstAssistant = state.messages[1] as AgentEvent.AssistantMessage
      assert.strictEqual(firstAssistant.model, "deepseek-reasoner")
      assert.strictEqual(firstAssistant.usage?.inputTokens, 339)
    }).pipe(Effect.scoped))

  it.live("a recorded call whose index starts at 1, after text", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({
        replies: [
          ScriptedServer.transcript(`${dir}/openai-compat.claude-haiku.tool-call-index-starts-at-1.vercel.sse`, {
            chunkSizes: [3, 11]
          }),
          textReply("It says hello.")
        ]
      })
      const agent = yield* Agent.make({
        engine: engine({ baseUrl: `${server.url}/v1`, model: "claude-haiku" }),
        tools: Kit,
        handlers: {
          weather: () => Effect.succeed({ forecast: "?" }),
          read_file: ({ path }) => Effect.succeed(`contents of ${path}: hello`)
        }
      })
      assert.strictEqual(yield* Agent.promptText(agent, "Read a.txt"), "It says hello.")
      const state = yield* Agent.state(agent)
      assert.deepStrictEqual((state.messages[1] as AgentEvent.AssistantMessage).content, [
        { _tag: "Text", text: "Reading it." },
        { _tag: "ToolCall", id: "toolu_sanitized", name: "read_file", params: { path: "a.txt" } }
      ])
      const [, second] = yield* server.requests
      assert.strictEqual(messagesOf(second!.body).at(-1)!.content, "contents of a.txt: hello")
    }).pipe(Effect.scoped))

  it.live("parallel tool calls with interleaved argument fragments run concurrently; invalid parameters get an error result", () =>
    Effect.gen(function*() {
      const call = (index: number, fields: Record<string, unknown>) => chunk({ tool_calls: [{ index, ...fields }] })
      const server = yield* ScriptedServer.make({
        replies: [
          ScriptedServer.sse([
            chunk({ role: "assistant", content: "Checking both." }),
            call(0, { id: "call_a", type: "function", function: { name: "weather", arguments: "" } }),
            call(1, { id: "call_b", type: "function", function: { name: "weather", arguments: "{\"loca" } }),
            call(0, { function: { arguments: "{\"location\": \"Os" } }),
            call(2, { id: "call_c", type: "function", function: { name: "read_file", arguments: "{\"file\": 1}" } }),
            call(1, { function: { arguments: "tion\": \"Rome\"}" } }),
            call(0, { function: { arguments: "lo\"}" } }),
            chunk({}, "tool_calls")
          ], { chunkSizes: 13 }),
          textReply("Oslo and Rome are sunny.")
        ]
      })
      const bothStarted = yield* Deferred.make<void>()
      let started = 0
      const agent = yield* Agent.make({
        engine: engine({ baseUrl: `${server.url}/v1`, model: "m" }),
        tools: Kit,
        handlers: {
          weather: ({ location }) =>
            Effect.gen(function*() {
              if (++started === 2) yield* Deferred.succeed(bothStarted, undefined)
              yield* Deferred.await(bothStarted)
              return { forecast: `sunny in ${location}` }
            }),
          read_file: ({ path }) => Effect.succeed(path)
        }
      })
      const events = yield* collect(Agent.prompt(agent, "Oslo and Rome?")).pipe(Effect.timeout("5 seconds"))
      const ends = events.filter(AgentEvent.is("ToolExecutionEnd"))
      assert.deepStrictEqual(ends.map((e) => [e.toolCallId, e.isError]).sort(), [
        ["call_a", false],
        ["call_b", false],
        ["call_c", true]
      ])
      const results = yield* toolResults(agent)
      assert.deepStrictEqual(results.map((r) => r.toolCallId), ["call_a", "call_b", "call_c"])
      assert.deepStrictEqual(results[0]!.result, { forecast: "sunny in Oslo" })
      assert.deepStrictEqual(results[1]!.result, { forecast: "sunny in Rome" })
      assert.include(results[2]!.result as string, `invalid parameters for tool "read_file"`)
      const [, second] = yield* server.requests
      const messages = messagesOf(second!.body)
      assert.deepStrictEqual(messages.map((m) => m.role), ["user", "assistant", "tool", "tool", "tool"])
      assert.deepStrictEqual(messages[1]!.tool_calls.map((c: any) => c.function.arguments), [
        `{"location":"Oslo"}`,
        `{"location":"Rome"}`,
        `{"file":1}`
      ])
    }).pipe(Effect.scoped))

  it.live("a JSON Schema tool is sent as its schema verbatim; its arguments are checked before the handler runs", () =>
    Effect.gen(function*() {
      const parameters = {
        type: "object",
        properties: { a: { type: "number", description: "first" }, b: { type: "number" } },
        required: ["a", "b"],
        additionalProperties: false
      } as const
      const Sum = Agent.jsonSchemaTool("sum", { description: "Add two numbers", parameters })
      const call = (index: number, fields: Record<string, unknown>) => chunk({ tool_calls: [{ index, ...fields }] })
      const server = yield* ScriptedServer.make({
        replies: [
          ScriptedServer.sse([
            call(0, { id: "call_1", type: "function", function: { name: "sum", arguments: "{\"a\": 2, \"b\": 3}" } }),
            call(1, { id: "call_2", type: "function", function: { name: "sum", arguments: "{\"a\": \"2\"}" } }),
            chunk({}, "tool_calls")
          ], { chunkSizes: 11 }),
          textReply("2 + 3 = 5.")
        ]
      })
      const agent = yield* Agent.make({
        engine: engine({ baseUrl: `${server.url}/v1`, model: "m" }),
        tools: Toolkit.make(Sum),
        handlers: { sum: ({ a, b }) => Effect.succeed(a + b) }
      })
      assert.strictEqual(yield* Agent.promptText(agent, "2 + 3?").pipe(Effect.timeout("5 seconds")), "2 + 3 = 5.")
      const [first] = yield* server.requests
      const tools = (first!.body as { readonly tools: ReadonlyArray<any> }).tools
      assert.deepStrictEqual(tools.map((tool) => tool.function.parameters), [parameters])
      assert.strictEqual(tools[0].function.description, "Add two numbers")
      const results = yield* toolResults(agent)
      assert.deepStrictEqual(results.map((r) => [r.result, r.isError]).slice(0, 1), [[5, false]])
      assert.isTrue(results[1]!.isError)
      assert.include(results[1]!.result as string, "a: expected number, got string")
      assert.include(results[1]!.result as string, "b: is missing")
    }).pipe(Effect.scoped))

  it.live("with invalidToolCalls: \"pass\", an unknown tool and non-JSON arguments get error results, not a crash", () =>
    Effect.gen(function*() {
      const call = (index: number, fields: Record<string, unknown>) => chunk({ tool_calls: [{ index, ...fields }] })
      const server = yield* ScriptedServer.make({
        replies: [
          ScriptedServer.sse([
            call(0, { id: "call_x", type: "function", function: { name: "launch_rockets", arguments: "{}" } }),
            call(1, { id: "call_y", type: "function", function: { name: "weather", arguments: "{not json" } }),
            chunk({}, "tool_calls")
          ], { chunkSizes: 11 }),
          textReply("Sorry, I cannot do that.")
        ]
      })
      const agent = yield* Agent.make({
        engine: engine({ baseUrl: `${server.url}/v1`, model: "m", invalidToolCalls: "pass" }),
        tools: Kit,
        handlers: {
          weather: () => Effect.succeed({ forecast: "unreachable" }),
          read_file: ({ path }) => Effect.succeed(path)
        }
      })
      const text = yield* Agent.promptText(agent, "Launch!").pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(text, "Sorry, I cannot do that.")
      const results = yield* toolResults(agent)
      assert.deepStrictEqual(results.map((r) => [r.toolCallId, r.isError]), [["call_x", true], ["call_y", true]])
      assert.include(results[0]!.result as string, `unknown tool "launch_rockets"`)
      const [, second] = yield* server.requests
      assert.deepStrictEqual(messagesOf(second!.body).map((m) => m.role), ["user", "assistant", "tool", "tool"])
    }).pipe(Effect.scoped))

  it.live("OpenRouter through the OpenAI-compatible engine sends its attribution headers", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({ replies: [textReply("Hi from OpenRouter.")] })
      const agent = yield* Agent.make({
        engine: engine(OpenAiCompat.presets.openrouter({
          model: "meta-llama/llama-3.3-70b-instruct",
          baseUrl: `${server.url}/api/v1`,
          referer: "https://example.com",
          title: "sluice agent"
        })),
        modelName: "openrouter/llama-3.3-70b"
      })
      assert.strictEqual(yield* Agent.promptText(agent, "Hi"), "Hi from OpenRouter.")
      const [request] = yield* server.requests
      assert.strictEqual(request!.path, "/api/v1/chat/completions")
      assert.strictEqual(request!.headers["http-referer"], "https://example.com")
      assert.strictEqual(request!.headers["x-title"], "sluice agent")
      assert.strictEqual((request!.body as any).model, "meta-llama/llama-3.3-70b-instruct")
    }).pipe(Effect.scoped))

  it.live("abort mid-stream closes the HTTP connection and keeps the partial message", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({
        replies: [
          ScriptedServer.sse([chunk({ role: "assistant", content: "Once upon" }), chunk({ content: " a time" })], {
            done: false,
            hang: true
          })
        ]
      })
      const agent = yield* Agent.make({ engine: engine({ baseUrl: `${server.url}/v1`, model: "m" }) })
      const events = yield* Agent.events(agent)
      const fiber = yield* Effect.fork(Agent.promptText(agent, "Tell me a story"))
      let streamed = ""
      yield* events.pipe(
        Stream.takeUntil((e) => {
          if (e._tag === "MessageUpdate" && e.delta._tag === "TextDelta") streamed += e.delta.text
          return streamed === "Once upon a time"
        }),
        Stream.runDrain,
        Effect.timeout("5 seconds")
      )
      assert.isTrue(yield* Agent.abort(agent))
      const error = yield* Effect.flip(Fiber.join(fiber).pipe(Effect.timeout("5 seconds")))
      assert.strictEqual(error._tag, "AgentError")
      const request = yield* server.awaitDisconnect.pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(request.outcome, "disconnected")
      const [, message] = (yield* Agent.state(agent)).messages
      assert.strictEqual((message as AgentEvent.AssistantMessage).stopReason, "aborted")
      assert.strictEqual(AgentEvent.textOf(message as AgentEvent.AssistantMessage), "Once upon a time")
    }).pipe(Effect.scoped))
})
