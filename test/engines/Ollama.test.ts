import { LanguageModel, Prompt, Tool, Toolkit } from "@effect/ai"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Either, Layer, Option, Schema, Stream } from "effect"
import * as EngineError from "../../src/EngineError.js"
import * as Ollama from "../../src/engines/Ollama.js"
import * as ScriptedServer from "../../src/testing/ScriptedServer.js"
import { toolRoundTrip } from "../support/prompts.js"

const GetWeather = Tool.make("get_weather", { parameters: { city: Schema.String } })
const Kit = Toolkit.make(GetWeather)
const KitLive = Kit.toLayer({ get_weather: () => Effect.void })
const Person = Schema.Struct({ name: Schema.String })

const engine = (server: ScriptedServer.ScriptedServer, config?: Partial<Ollama.Config>) =>
  Ollama.layer({ baseUrl: `${server.url}/`, model: "llama3.2", ...config }).pipe(
    Layer.provide(NodeHttpClient.layerUndici)
  )

const line = (message: Record<string, unknown>, done = false, extra?: Record<string, unknown>) => ({
  model: "llama3.2",
  created_at: "2025-07-07T20:22:19.184789Z",
  message: { role: "assistant", content: "", ...message },
  done,
  ...extra
})

const parts = (layer: Layer.Layer<LanguageModel.LanguageModel>) =>
  LanguageModel.streamText({ prompt: "Go", toolkit: Kit, disableToolCallResolution: true }).pipe(
    Stream.runCollect,
    Effect.map((c) => Chunk.toReadonlyArray(c) as ReadonlyArray<any>),
    Effect.provide(layer),
    Effect.provide(KitLive)
  )

const failure = (layer: Layer.Layer<LanguageModel.LanguageModel>) =>
  parts(layer).pipe(Effect.flip, Effect.map((error) => Option.getOrThrow(EngineError.fromUnknown(error))))

const request = (
  config: Partial<Ollama.Config>,
  prompt: any,
  format: Option.Option<{ objectName: string; schema: Schema.Schema.Any }> = Option.none(),
  tools: ReadonlyArray<any> = []
) =>
  Either.getOrThrow(
    Ollama.encodeRequest({ model: "m", ...config }, { prompt: Prompt.make(prompt), tools, toolChoice: "auto" }, format)
  ) as any

describe("Ollama.encodeRequest", () => {
  it.effect("encodes messages: images as base64, tool calls with object arguments, tool results by name", () =>
    Effect.sync(() => {
      const body = request(
        {},
        toolRoundTrip({
          text: ["What is this?"],
          image: "data:image/png;base64,AQID",
          reasoning: "Let me look.",
          call: { id: "call_0", name: "get_weather", params: { city: "Tokyo" } },
          result: "sunny"
        })
      )
      assert.deepStrictEqual(body.messages, [
        { role: "user", content: "What is this?", images: ["AQID"] },
        {
          role: "assistant",
          content: "",
          thinking: "Let me look.",
          tool_calls: [{ function: { name: "get_weather", arguments: { city: "Tokyo" } } }]
        },
        { role: "tool", tool_name: "get_weather", content: "sunny" }
      ])
      assert.strictEqual(body.stream, true)
    }))

  it.effect("maps sampling to options (options win), think, keep_alive and tools", () =>
    Effect.sync(() => {
      const body = request(
        {
          sampling: { temperature: 0.1, maxTokens: 32, seed: 1, stop: "\n", repetitionPenalty: 1.1 },
          options: { num_ctx: 8192, temperature: 0.5 },
          think: "high",
          keepAlive: "10m"
        },
        "Hi",
        Option.none(),
        [GetWeather]
      )
      assert.deepStrictEqual(body.options, {
        temperature: 0.5,
        num_predict: 32,
        seed: 1,
        stop: ["\n"],
        repeat_penalty: 1.1,
        num_ctx: 8192
      })
      assert.strictEqual(body.think, "high")
      assert.strictEqual(body.keep_alive, "10m")
      assert.strictEqual(body.tools[0].function.name, "get_weather")
      assert.deepStrictEqual(body.tools[0].function.parameters.required, ["city"])
    }))

  it.effect("sends a requested schema as format, as JSON mode or in the prompt", () =>
    Effect.sync(() => {
      const format = Option.some({ objectName: "person", schema: Person })
      const schema = request({}, "Who?", format).format
      assert.deepStrictEqual(schema.properties, { name: { type: "string" } })
      const json = request({ structuredOutput: "json" }, "Who?", format)
      assert.strictEqual(json.format, "json")
      assert.strictEqual(json.messages[0].role, "system")
      const prompted = request({ structuredOutput: "prompt" }, "Who?", format)
      assert.isUndefined(prompted.format)
      assert.include(prompted.messages[0].content, "\"required\":[\"name\"]")
    }))

  it.effect("an image by URL, or a file that is not an image, is a clear error", () =>
    Effect.sync(() => {
      for (const data of [new URL("https://example.com/a.png"), "https://example.com/a.png"]) {
        const result = Ollama.encodeRequest({ model: "m" }, {
          prompt: Prompt.make([{ role: "user", content: [{ type: "file", mediaType: "image/png", data }] }]),
          tools: [],
          toolChoice: "auto"
        }, Option.none())
        assert.isTrue(Either.isLeft(result))
      }
      const pdf = Ollama.encodeRequest({ model: "m" }, {
        prompt: Prompt.make([{
          role: "user",
          content: [{ type: "file", mediaType: "application/pdf", data: "AAAA" }]
        }]),
        tools: [],
        toolChoice: "auto"
      }, Option.none())
      assert.isTrue(Either.isLeft(pdf) && pdf.left.includes("application/pdf"))
    }))
})

describe("Ollama over HTTP", () => {
  it.live("streams thinking, text and tool calls, and reads the final object", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({
        reply: ScriptedServer.ndjson([
          line({ thinking: "Tokyo, " }),
          line({ thinking: "then answer." }),
          line({ content: "Checking" }),
          line({ tool_calls: [{ function: { name: "get_weather", arguments: "{\"city\":\"Tokyo\"}" } }] }),
          line({}, true, { done_reason: "stop", prompt_eval_count: 10, eval_count: 4 })
        ], { chunkSizes: 5 })
      })
      const ps = yield* parts(engine(server, { coalesceDeltas: false }))
      assert.deepStrictEqual(ps.map((p) => p.type), [
        "response-metadata",
        "reasoning-start",
        "reasoning-delta",
        "reasoning-delta",
        "reasoning-end",
        "text-start",
        "text-delta",
        "text-end",
        "tool-params-start",
        "tool-params-delta",
        "tool-params-end",
        "tool-call",
        "finish"
      ])
      const call = ps.find((p) => p.type === "tool-call")
      assert.deepStrictEqual([call.id, call.params], ["call_0", { city: "Tokyo" }])
      const finish = ps.at(-1)
      assert.strictEqual(finish.reason, "tool-calls")
      assert.deepStrictEqual([finish.usage.inputTokens, finish.usage.outputTokens, finish.usage.totalTokens], [
        10,
        4,
        14
      ])
      const [sent] = yield* server.requests
      assert.strictEqual(sent!.path, "/api/chat")
      assert.strictEqual((sent!.body as any).model, "llama3.2")
    }).pipe(Effect.scoped))

  it.live("done_reason length maps to length", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({
        reply: ScriptedServer.ndjson([line({ content: "cut" }), line({}, true, { done_reason: "length" })])
      })
      assert.strictEqual((yield* parts(engine(server))).at(-1).reason, "length")
    }).pipe(Effect.scoped))

  it.live("a line that is not JSON fails with MalformedStream and the raw line", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({
        reply: ScriptedServer.ndjson([line({ content: "a" }), "{\"model\":", line({}, true)])
      })
      const error = yield* failure(engine(server))
      assert.strictEqual(error.reason, "MalformedStream")
      assert.strictEqual(error.raw, "{\"model\":")
    }).pipe(Effect.scoped))

  it.live("an error line mid-stream is a ServerError with its message", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({
        reply: ScriptedServer.ndjson([line({ content: "a" }), { error: "model runner crashed" }])
      })
      const error = yield* failure(engine(server))
      assert.strictEqual(error.reason, "ServerError")
      assert.include(error.description, "model runner crashed")
      // the AiError the user sees says so too (it used to be a Transport HttpRequestError)
      const again = yield* ScriptedServer.make({
        reply: ScriptedServer.ndjson([line({ content: "a" }), { error: "model runner crashed" }])
      })
      const aiError = yield* Effect.flip(parts(engine(again)))
      assert.strictEqual(aiError._tag, "HttpResponseError")
      assert.include(aiError.message, "ServerError")
      assert.include(aiError.message, "model runner crashed")
    }).pipe(Effect.scoped))

  it.live("a stream without its final object is a retryable Transport error", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({ reply: ScriptedServer.ndjson([line({ content: "a" })]) })
      const error = yield* failure(engine(server))
      assert.strictEqual(error.reason, "Transport")
      assert.isTrue(error.isRetryable)
    }).pipe(Effect.scoped))

  it.live("Ollama's { error } body on a 404 is the BadRequest description", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({
        reply: ScriptedServer.error(404, {
          body: "{\"error\":\"model \\\"llama9\\\" not found, try pulling it first\"}"
        })
      })
      const error = yield* failure(engine(server))
      assert.strictEqual(error.reason, "BadRequest")
      assert.strictEqual(error.description, "model \"llama9\" not found, try pulling it first")
    }).pipe(Effect.scoped))
})
