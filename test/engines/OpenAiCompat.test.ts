import { LanguageModel, Prompt, Tool, Toolkit } from "@effect/ai"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import {
  Chunk,
  Config,
  ConfigProvider,
  Duration,
  Effect,
  Either,
  Layer,
  Option,
  Redacted,
  Schema,
  Stream
} from "effect"
import * as EngineError from "../../src/EngineError.js"
import * as OpenAiCompat from "../../src/engines/OpenAiCompat.js"
import * as ScriptedServer from "../../src/testing/ScriptedServer.js"
import { toolRoundTrip } from "../support/prompts.js"

const dir = "test/fixtures/transcripts"
const Weather = Tool.make("weather", {
  description: "Current weather",
  parameters: { location: Schema.String }
})
const Kit = Toolkit.make(Weather)
const KitLive = Kit.toLayer({ weather: () => Effect.void })
const Person = Schema.Struct({ name: Schema.String })

const engine = (server: ScriptedServer.ScriptedServer, config?: Partial<OpenAiCompat.Config>) =>
  OpenAiCompat.layer({ baseUrl: `${server.url}/v1/`, model: "m", ...config }).pipe(
    Layer.provide(NodeHttpClient.layerUndici)
  )

const chunk = (delta: unknown, finish: string | null = null, extra?: Record<string, unknown>) => ({
  id: "c1",
  created: 1_700_000_000,
  model: "m",
  choices: [{ index: 0, delta, finish_reason: finish }],
  ...extra
})

const parts = (layer: Layer.Layer<LanguageModel.LanguageModel>, withTools = false) =>
  (withTools
    ? LanguageModel.streamText({ prompt: "Go", toolkit: Kit, disableToolCallResolution: true })
    : LanguageModel.streamText({ prompt: "Go" })).pipe(
      Stream.runCollect,
      Effect.map((c) => Chunk.toReadonlyArray(c) as ReadonlyArray<any>),
      Effect.provide(layer),
      Effect.provide(KitLive)
    )

const failure = (layer: Layer.Layer<LanguageModel.LanguageModel>, withTools = false) =>
  parts(layer, withTools).pipe(
    Effect.flip,
    Effect.map((error) => Option.getOrThrow(EngineError.fromUnknown(error)))
  )

const text = (ps: ReadonlyArray<any>) => ps.filter((p) => p.type === "text-delta").map((p) => p.delta).join("")

describe("OpenAiCompat.encodeRequest", () => {
  const request = (
    config: Partial<OpenAiCompat.Config>,
    prompt: any,
    format: Option.Option<{ objectName: string; schema: Schema.Schema.Any }> = Option.none(),
    tools: ReadonlyArray<any> = [],
    toolChoice: any = "auto"
  ) =>
    Either.getOrThrow(
      OpenAiCompat.encodeRequest({ baseUrl: "x", model: "m", ...config }, {
        prompt: Prompt.make(prompt),
        tools,
        toolChoice
      }, format)
    ) as any

  it.effect("encodes messages of every role", () =>
    Effect.sync(() => {
      const body = request({}, [
        { role: "system", content: "Be brief." },
        ...toolRoundTrip({
          text: ["What is ", "this?"],
          image: new Uint8Array([1, 2, 3]),
          reasoning: "hmm",
          call: { id: "call_1", name: "weather", params: { location: "Paris" } },
          result: { tempC: 21 }
        }),
        { role: "user", content: "Thanks" }
      ])
      assert.deepStrictEqual(body.messages, [
        { role: "system", content: "Be brief." },
        {
          role: "user",
          content: [
            { type: "text", text: "What is " },
            { type: "text", text: "this?" },
            { type: "image_url", image_url: { url: "data:image/png;base64,AQID" } }
          ]
        },
        {
          role: "assistant",
          content: null,
          tool_calls: [{
            id: "call_1",
            type: "function",
            function: { name: "weather", arguments: "{\"location\":\"Paris\"}" }
          }]
        },
        { role: "tool", tool_call_id: "call_1", content: "{\"tempC\":21}" },
        { role: "user", content: "Thanks" }
      ])
      assert.strictEqual(body.stream, true)
      assert.deepStrictEqual(body.stream_options, { include_usage: true })
    }))

  it.effect("maps sampling defaults, the max-tokens field and extra body fields", () =>
    Effect.sync(() => {
      const body = request({
        sampling: { temperature: 0.2, topP: 0.9, maxTokens: 64, seed: 7, stop: "END", topK: 40, minP: 0.1 },
        maxTokensField: "max_completion_tokens",
        streamUsage: false,
        extraBody: { chat_template_kwargs: { enable_thinking: false } }
      }, "Hi")
      assert.strictEqual(body.temperature, 0.2)
      assert.strictEqual(body.top_p, 0.9)
      assert.strictEqual(body.max_completion_tokens, 64)
      assert.isUndefined(body.max_tokens)
      assert.strictEqual(body.seed, 7)
      assert.deepStrictEqual(body.stop, ["END"])
      assert.strictEqual(body.top_k, 40)
      assert.strictEqual(body.min_p, 0.1)
      assert.isUndefined(body.stream_options)
      assert.deepStrictEqual(body.chat_template_kwargs, { enable_thinking: false })
    }))

  it.effect("sends tools and each tool choice", () =>
    Effect.sync(() => {
      const auto = request({}, "Hi", Option.none(), [Weather])
      assert.deepStrictEqual(auto.tools[0].function.name, "weather")
      assert.deepStrictEqual(auto.tools[0].function.description, "Current weather")
      assert.deepStrictEqual(auto.tools[0].function.parameters.required, ["location"])
      assert.strictEqual(auto.tool_choice, "auto")
      assert.strictEqual(request({}, "Hi", Option.none(), [Weather], "required").tool_choice, "required")
      assert.deepStrictEqual(request({}, "Hi", Option.none(), [Weather], { tool: "weather" }).tool_choice, {
        type: "function",
        function: { name: "weather" }
      })
      assert.strictEqual(
        request({}, "Hi", Option.none(), [Weather], { mode: "required", oneOf: ["weather"] }).tool_choice,
        "required"
      )
      assert.isUndefined(request({}, "Hi").tools)
    }))

  it.effect("sends a requested schema through each structured-output channel", () =>
    Effect.sync(() => {
      const format = Option.some({ objectName: "a person!", schema: Person })
      const schema = {
        type: "object",
        required: ["name"],
        properties: { name: { type: "string" } },
        additionalProperties: false
      }
      assert.deepStrictEqual(request({}, "Who?", format).response_format, {
        type: "json_schema",
        json_schema: { name: "a_person_", schema, strict: true }
      })
      assert.strictEqual(request({ strict: false }, "Who?", format).response_format.json_schema.strict, false)
      // strict mode: every property required, optional ones nullable
      const withNick = Option.some({
        objectName: "p",
        schema: Schema.Struct({ name: Schema.String, nick: Schema.optional(Schema.String) })
      })
      const strictSchema = request({}, "Who?", withNick).response_format.json_schema.schema
      assert.deepStrictEqual(strictSchema.required, ["name", "nick"])
      assert.strictEqual(strictSchema.additionalProperties, false)
      assert.deepStrictEqual(
        request({ strict: false }, "Who?", withNick).response_format.json_schema.schema.required,
        ["name"]
      )
      assert.deepStrictEqual(request({ structuredOutput: "vllm" }, "Who?", format).structured_outputs, { json: schema })
      assert.deepStrictEqual(request({ structuredOutput: "guided_json" }, "Who?", format).guided_json, schema)
      const jsonObject = request({ structuredOutput: "json_object" }, [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Who?" }
      ], format)
      assert.deepStrictEqual(jsonObject.response_format, { type: "json_object" })
      assert.strictEqual(jsonObject.messages.length, 2)
      assert.include(jsonObject.messages[0].content, "Be brief.")
      assert.include(jsonObject.messages[0].content, JSON.stringify(schema))
      const prompted = request({ structuredOutput: "prompt" }, "Who?", format)
      assert.isUndefined(prompted.response_format)
      assert.strictEqual(prompted.messages[0].role, "system")
      assert.include(prompted.messages[0].content, "\"a person!\"")
    }))

  it.effect("a file it cannot send is a clear error", () =>
    Effect.sync(() => {
      const result = OpenAiCompat.encodeRequest({ baseUrl: "x", model: "m" }, {
        prompt: Prompt.make([{
          role: "user",
          content: [{ type: "file", mediaType: "application/pdf", data: new URL("https://example.com/a.pdf") }]
        }]),
        tools: [],
        toolChoice: "auto"
      }, Option.none())
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) assert.include(result.left, "application/pdf")
    }))

  it.effect("presets point at each server's default address", () =>
    Effect.sync(() => {
      assert.strictEqual(OpenAiCompat.presets.openai({ model: "m" }).baseUrl, "https://api.openai.com/v1")
      assert.strictEqual(OpenAiCompat.presets.openai({ model: "m" }).maxTokensField, "max_completion_tokens")
      assert.strictEqual(OpenAiCompat.presets.vllm({ model: "m" }).baseUrl, "http://localhost:8000/v1")
      assert.strictEqual(OpenAiCompat.presets.vllm({ model: "m" }).structuredOutput, "vllm")
      assert.strictEqual(OpenAiCompat.presets.ollama({ model: "m" }).baseUrl, "http://localhost:11434/v1")
      assert.strictEqual(OpenAiCompat.presets.llamacpp({ model: "m" }).baseUrl, "http://localhost:8080/v1")
      assert.strictEqual(OpenAiCompat.presets.lmstudio({ model: "m" }).baseUrl, "http://localhost:1234/v1")
      const router = OpenAiCompat.presets.openrouter({ model: "m", referer: "https://a.example", title: "App" })
      assert.strictEqual(router.baseUrl, "https://openrouter.ai/api/v1")
      assert.deepStrictEqual(router.headers, { "HTTP-Referer": "https://a.example", "X-Title": "App" })
      assert.strictEqual(
        OpenAiCompat.presets.vllm({ model: "m", baseUrl: "http://gpu:9000/v1" }).baseUrl,
        "http://gpu:9000/v1"
      )
    }))
})

describe("OpenAiCompat over HTTP", () => {
  it.live("sends the API key, extra headers and the JSON body to {baseUrl}/chat/completions", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({ reply: ScriptedServer.sse([chunk({ content: "ok" }, "stop")]) })
      const ps = yield* parts(engine(server, { apiKey: Redacted.make("sk-test"), headers: { "X-Title": "sluice" } }))
      assert.strictEqual(text(ps), "ok")
      const [request] = yield* server.requests
      assert.strictEqual(request!.method, "POST")
      assert.strictEqual(request!.path, "/v1/chat/completions")
      assert.strictEqual(request!.headers.authorization, "Bearer sk-test")
      assert.strictEqual(request!.headers["x-title"], "sluice")
      assert.strictEqual((request!.body as any).model, "m")
    }).pipe(Effect.scoped))

  it.live("layerConfig reads the API key from Config", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({ reply: ScriptedServer.sse([chunk({ content: "ok" }, "stop")]) })
      const layer = OpenAiCompat.layerConfig({
        baseUrl: `${server.url}/v1`,
        model: "m",
        apiKey: Config.redacted("SLUICE_TEST_KEY")
      }).pipe(
        Layer.provide(NodeHttpClient.layerUndici),
        Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["SLUICE_TEST_KEY", "sk-env"]]))))
      )
      yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(Effect.provide(layer))
      assert.strictEqual((yield* server.requests)[0]!.headers.authorization, "Bearer sk-env")
    }).pipe(Effect.scoped))

  it.live("replays a transcript split at every byte", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({
        reply: ScriptedServer.transcript(`${dir}/openai-chat.gpt-4o.leading-newlines.openai-node.sse`, {
          chunkSizes: 1
        })
      })
      assert.strictEqual(text(yield* parts(engine(server))), "\n\n{\"city\":\"San Francisco\",\"units\":\"c\"}")
    }).pipe(Effect.scoped))

  it.live("maps the usage chunk, reasoning tokens and cached input tokens", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({
        reply: ScriptedServer.sse([
          chunk({ reasoning: "think" }),
          chunk({ content: "ok" }, "length"),
          {
            id: "c1",
            choices: [],
            usage: {
              prompt_tokens: 10,
              completion_tokens: 5,
              total_tokens: 15,
              completion_tokens_details: { reasoning_tokens: 3 },
              prompt_tokens_details: { cached_tokens: 4 }
            }
          }
        ])
      })
      const ps = yield* parts(engine(server))
      assert.deepStrictEqual(ps.map((p) => p.type), [
        "response-metadata",
        "reasoning-start",
        "reasoning-delta",
        "reasoning-end",
        "text-start",
        "text-delta",
        "text-end",
        "finish"
      ])
      const finish = ps.at(-1)
      assert.strictEqual(finish.reason, "length")
      assert.strictEqual(finish.usage.inputTokens, 10)
      assert.strictEqual(finish.usage.outputTokens, 5)
      assert.strictEqual(finish.usage.totalTokens, 15)
      assert.strictEqual(finish.usage.reasoningTokens, 3)
      assert.strictEqual(finish.usage.cachedInputTokens, 4)
      assert.deepStrictEqual(ps[0].modelId, Option.some("m"))
    }).pipe(Effect.scoped))

  it.live("deltas that arrive in one network chunk leave as one part, unless coalesceDeltas is false", () =>
    Effect.gen(function*() {
      const events = [chunk({ content: "a" }), chunk({ content: "b" }), chunk({ content: "c" }, "stop")]
      const body = events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join("") + "data: [DONE]\n\n"
      const reply = { headers: { "content-type": "text/event-stream" }, body }
      const coalesced = yield* ScriptedServer.make({ reply })
      const one = (yield* parts(engine(coalesced))).filter((p) => p.type === "text-delta")
      assert.deepStrictEqual(one.map((p) => p.delta), ["abc"])
      const separate = yield* ScriptedServer.make({ reply })
      const three = (yield* parts(engine(separate, { coalesceDeltas: false }))).filter((p) => p.type === "text-delta")
      assert.deepStrictEqual(three.map((p) => p.delta), ["a", "b", "c"])
    }).pipe(Effect.scoped))

  it.live("a refusal ends with content-filter and its text in the finish metadata", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({
        reply: ScriptedServer.transcript(`${dir}/openai-chat.gpt-4o.refusal-logprobs.openai-node.sse`)
      })
      const ps = yield* parts(engine(server))
      assert.strictEqual(text(ps), "")
      const finish = ps.at(-1)
      assert.strictEqual(finish.reason, "content-filter")
      assert.strictEqual(finish.metadata.openaiCompat.refusal, "I'm very sorry, but I can't assist with that request.")
    }).pipe(Effect.scoped))

  it.live("a tool call whose name arrives after its id is assembled", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({
        reply: ScriptedServer.sse([
          chunk({ tool_calls: [{ index: 0, id: "call_x", function: { arguments: "{\"loc" } }] }),
          chunk({ tool_calls: [{ index: 0, function: { name: "weather", arguments: "ation\":\"Oslo\"}" } }] }),
          chunk({}, "tool_calls")
        ])
      })
      const ps = yield* parts(engine(server), true)
      const call = ps.find((p) => p.type === "tool-call")
      assert.deepStrictEqual([call.id, call.name, call.params], ["call_x", "weather", { location: "Oslo" }])
      const deltas = ps.filter((p) => p.type === "tool-params-delta").map((p) => p.delta).join("")
      assert.strictEqual(deltas, "{\"location\":\"Oslo\"}")
    }).pipe(Effect.scoped))

  it.live("a chunk that is not JSON fails with MalformedStream and the raw line, or is skipped", () =>
    Effect.gen(function*() {
      const events = [chunk({ content: "a" }), "{not json", chunk({ content: "b" }, "stop")]
      const failing = yield* ScriptedServer.make({ reply: ScriptedServer.sse(events) })
      const error = yield* failure(engine(failing))
      assert.strictEqual(error.reason, "MalformedStream")
      assert.strictEqual(error.raw, "{not json")
      assert.isFalse(error.isRetryable)
      const skipping = yield* ScriptedServer.make({ reply: ScriptedServer.sse(events) })
      assert.strictEqual(text(yield* parts(engine(skipping, { malformedChunks: "skip" }))), "ab")
    }).pipe(Effect.scoped))

  it.live("tool arguments that are not JSON, or a tool the request did not offer, fail with MalformedStream", () =>
    Effect.gen(function*() {
      const badArgs = yield* ScriptedServer.make({
        reply: ScriptedServer.sse([
          chunk({ tool_calls: [{ index: 0, id: "c", function: { name: "weather", arguments: "{\"location\":" } }] }),
          chunk({}, "tool_calls")
        ])
      })
      const error = yield* failure(engine(badArgs), true)
      assert.strictEqual(error.reason, "MalformedStream")
      assert.strictEqual(error.raw, "{\"location\":")
      const unknown = yield* ScriptedServer.make({
        reply: ScriptedServer.sse([
          chunk({ tool_calls: [{ index: 0, id: "c", function: { name: "rm_rf", arguments: "{}" } }] }),
          chunk({}, "tool_calls")
        ])
      })
      const unknownError = yield* failure(engine(unknown), true)
      assert.include(unknownError.description, "rm_rf")
    }).pipe(Effect.scoped))

  it.live("an error object sent mid-stream fails with its reason", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({
        reply: ScriptedServer.sse([chunk({ content: "a" }), { error: { message: "overloaded", code: 429 } }])
      })
      const error = yield* failure(engine(server))
      assert.strictEqual(error.reason, "RateLimited")
      assert.include(error.description, "overloaded")
      const other = yield* ScriptedServer.make({
        reply: {
          headers: { "content-type": "text/event-stream" },
          body: "event: error\ndata: {\"message\":\"boom\"}\n\n"
        }
      })
      assert.strictEqual((yield* failure(engine(other))).reason, "ServerError")
    }).pipe(Effect.scoped))

  it.live("a stream that ends before the model finished is a retryable Transport error", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({
        reply: ScriptedServer.sse([chunk({ content: "a" })], { done: false })
      })
      const error = yield* failure(engine(server))
      assert.strictEqual(error.reason, "Transport")
      assert.isTrue(error.isRetryable)
      const done = yield* ScriptedServer.make({ reply: ScriptedServer.sse([chunk({ content: "a" })]) })
      assert.strictEqual((yield* parts(engine(done))).at(-1).reason, "unknown")
    }).pipe(Effect.scoped))

  it.live("timeouts: no response headers in time, or a silent stream, fail with Timeout", () =>
    Effect.gen(function*() {
      const slow = yield* ScriptedServer.make({
        reply: { ...ScriptedServer.sse([chunk({ content: "a" }, "stop")]), hang: true }
      })
      const silent = yield* failure(engine(slow, { idleTimeout: "200 millis" }))
      assert.strictEqual(silent.reason, "Timeout")
      assert.isTrue(silent.isRetryable)
      const late = yield* ScriptedServer.make({
        reply: { ...ScriptedServer.sse([chunk({ content: "a" }, "stop")]), headersDelay: "2 seconds" }
      })
      assert.strictEqual((yield* failure(engine(late, { timeout: "200 millis" }))).reason, "Timeout")
    }).pipe(Effect.scoped))

  it.live("a refused connection is a retryable Transport error", () =>
    Effect.gen(function*() {
      const url = yield* Effect.scoped(
        Effect.map(ScriptedServer.make({ reply: ScriptedServer.error(500) }), (s) => s.url)
      )
      const error = yield* failure(
        OpenAiCompat.layer({ baseUrl: url, model: "m" }).pipe(Layer.provide(NodeHttpClient.layerUndici))
      )
      assert.strictEqual(error.reason, "Transport")
      assert.isTrue(error.isRetryable)
    }))

  it.live("an HTML error page keeps its text as the description", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({
        reply: { status: 502, headers: { "content-type": "text/html" }, body: "<h1>Bad gateway</h1>" }
      })
      const error = yield* failure(engine(server))
      assert.strictEqual(error.reason, "ServerError")
      assert.strictEqual(error.description, "<h1>Bad gateway</h1>")
    }).pipe(Effect.scoped))
})

describe("OpenAiCompat decodes what real servers send (issue #15, minimal bytes)", () => {
  const raw = (body: string, chunkSizes?: number) =>
    ScriptedServer.make({ reply: { headers: { "content-type": "text/event-stream" }, body, chunkSizes } })
  const lines = (...events: ReadonlyArray<string>) => events.map((e) => `${e}\n\n`).join("")
  const aiError = (layer: Layer.Layer<LanguageModel.LanguageModel>) => Effect.flip(parts(layer))
  const reasoning = (ps: ReadonlyArray<any>) =>
    ps.filter((p) => p.type === "reasoning-delta").map((p) => p.delta).join("")

  it.live("1. only choice 0 is text, and another choice's finish does not end it", () =>
    Effect.gen(function*() {
      const body = lines(
        "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"B\"}}]}",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"A\"}}]}",
        "data: {\"choices\":[{\"index\":1,\"delta\":{},\"finish_reason\":\"stop\"}]}",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"A2\"}}]}",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}",
        "data: [DONE]"
      )
      for (const split of [undefined, 1]) {
        const ps = yield* parts(engine(yield* raw(body, split)))
        assert.strictEqual(text(ps), "AA2")
        assert.strictEqual(ps.at(-1).reason, "stop")
      }
    }).pipe(Effect.scoped))

  it.live("2. an error beside choices (OpenRouter's mid-stream error) fails with its message and reason", () =>
    Effect.gen(function*() {
      const server = yield* raw(lines(
        "data: {\"id\":\"gen-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"partial\"}}]}",
        "data: {\"id\":\"gen-1\",\"error\":{\"code\":\"server_error\",\"message\":\"Provider disconnected\"}," +
          "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"error\"}]}",
        "data: [DONE]"
      ))
      const error = yield* aiError(engine(server))
      assert.strictEqual(error._tag, "HttpResponseError")
      assert.include(error.message, "Provider disconnected")
      const engineError = Option.getOrThrow(EngineError.fromAiError(error))
      assert.strictEqual(engineError.reason, "ServerError")
      assert.include(engineError.description, "Provider disconnected")
    }).pipe(Effect.scoped))

  it.live("3. llama.cpp's `error:` field and older vLLM's {\"object\":\"error\"} fail with the server's message", () =>
    Effect.gen(function*() {
      const llamaCpp = yield* raw(
        "error: {\"code\":400,\"message\":\"the request exceeds the available context size\",\"type\":" +
          "\"exceed_context_size_error\"}\n\ndata: [DONE]\n\n"
      )
      const first = yield* failure(engine(llamaCpp))
      assert.strictEqual(first.reason, "BadRequest")
      assert.strictEqual(first.status, 400)
      assert.include(first.description, "exceeds the available context size")
      const vllm = yield* raw(lines(
        "data: {\"object\":\"error\",\"message\":\"CUDA out of memory\",\"type\":\"InternalServerError\"," +
          "\"param\":null,\"code\":500}",
        "data: [DONE]"
      ))
      const second = yield* failure(engine(vllm))
      assert.strictEqual(second.reason, "ServerError")
      assert.include(second.description, "CUDA out of memory")
    }).pipe(Effect.scoped))

  it.live("4. array-valued content (Mistral's thinking models): thinking as reasoning, text as text", () =>
    Effect.gen(function*() {
      const body = lines(
        "data: {\"id\":\"m1\",\"model\":\"magistral\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"," +
          "\"content\":[{\"type\":\"thinking\",\"thinking\":[{\"type\":\"text\",\"text\":\"17*23=\"}]}]}}]}",
        "data: {\"id\":\"m1\",\"model\":\"magistral\",\"choices\":[{\"index\":0,\"delta\":{\"content\":" +
          "[{\"type\":\"thinking\",\"thinking\":[{\"type\":\"text\",\"text\":\"391\"}]},{\"type\":\"text\"," +
          "\"text\":\"3\"}]}}]}",
        "data: {\"id\":\"m1\",\"model\":\"magistral\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"91\"}," +
          "\"finish_reason\":\"stop\"}]}",
        "data: [DONE]"
      )
      const ps = yield* parts(engine(yield* raw(body)))
      assert.strictEqual(text(ps), "391")
      assert.strictEqual(reasoning(ps), "17*23=391")
    }).pipe(Effect.scoped))

  it.live("5. a placeholder first chunk (Azure) does not name the response", () =>
    Effect.gen(function*() {
      const body = lines(
        "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"prompt_filter_results\":" +
          "[{\"prompt_index\":0,\"content_filter_results\":{}}]}",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}],\"created\":" +
          "1700000000,\"id\":\"chatcmpl-real\",\"model\":\"gpt-4o-2024-08-06\",\"object\":\"chat.completion.chunk\"}",
        "data: [DONE]"
      )
      const ps = yield* parts(engine(yield* raw(body)))
      const metadata = ps.filter((p) => p.type === "response-metadata")
      assert.strictEqual(metadata.length, 1)
      assert.deepStrictEqual(metadata[0].id, Option.some("chatcmpl-real"))
      assert.deepStrictEqual(metadata[0].modelId, Option.some("gpt-4o-2024-08-06"))
    }).pipe(Effect.scoped))

  it.live("6. data after the first finish_reason is still decoded (a tool call split over finishing chunks)", () =>
    Effect.gen(function*() {
      const body = lines(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":" +
          "\"function\",\"function\":{\"name\":\"weather\",\"arguments\":\"{\\\"location\\\":\"}}]}," +
          "\"finish_reason\":\"tool_calls\"}]}",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":" +
          "\"\\\"Oslo\\\"}\"}}]},\"finish_reason\":\"tool_calls\"}]}",
        "data: [DONE]"
      )
      const ps = yield* parts(engine(yield* raw(body)), true)
      const calls = ps.filter((p) => p.type === "tool-call")
      assert.strictEqual(calls.length, 1)
      assert.deepStrictEqual(calls[0].params, { location: "Oslo" })
      assert.strictEqual(ps.at(-1).reason, "tool-calls")
    }).pipe(Effect.scoped))
})

describe("OpenAiCompat errors carry their reason in the AiError", () => {
  const cases: ReadonlyArray<readonly [number, EngineError.Reason, string]> = [
    [400, "BadRequest", "This model's maximum context length is 128000 tokens."],
    [401, "Unauthorized", "Incorrect API key provided: sk-test. You can find your API key at …"],
    [403, "Unauthorized", "Project does not have access to model gpt-5"],
    [429, "RateLimited", "Rate limit reached for gpt-4o in organization org-x on tokens per min."],
    [500, "ServerError", "The server had an error while processing your request. Sorry about that!"],
    [503, "ServerError", "The engine is currently overloaded, please try again later"]
  ]
  it.live("an HTTP error is an HttpResponseError whose message names the reason and the server's message", () =>
    Effect.gen(function*() {
      for (const [status, reason, message] of cases) {
        const server = yield* ScriptedServer.make({
          reply: ScriptedServer.error(status, { message, ...(status === 429 ? { retryAfter: 7 } : {}) })
        })
        const error = yield* Effect.flip(parts(engine(server)))
        assert.strictEqual(error._tag, "HttpResponseError")
        assert.include(error.message, reason)
        assert.include(error.message, message)
        const found = Option.getOrThrow(EngineError.fromAiError(error))
        assert.strictEqual(found.reason, reason)
        assert.strictEqual(found.status, status)
        if (status === 429) assert.strictEqual(Duration.toMillis(found.retryAfter!), 7000)
      }
    }).pipe(Effect.scoped))

  it.live("an error sent inside the stream is an HttpResponseError with the status its code names", () =>
    Effect.gen(function*() {
      const inStream = (error: unknown) =>
        ScriptedServer.make({ reply: ScriptedServer.sse([chunk({ content: "a" }), { error }]) })
      const rows: ReadonlyArray<readonly [unknown, EngineError.Reason, number]> = [
        [{ message: "slow down", type: "requests", code: "rate_limit_exceeded" }, "RateLimited", 429],
        [{ message: "bad key", code: "invalid_api_key" }, "Unauthorized", 401],
        [{ message: "too long", code: "context_length_exceeded", type: "invalid_request_error" }, "BadRequest", 400],
        [{ message: "boom", type: "server_error" }, "ServerError", 500],
        [{ message: "upstream", code: 502 }, "ServerError", 502]
      ]
      for (const [error, reason, status] of rows) {
        const aiError = yield* Effect.flip(parts(engine(yield* inStream(error))))
        assert.strictEqual(aiError._tag, "HttpResponseError")
        assert.include(aiError.message, reason)
        assert.include(aiError.message, (error as any).message)
        const found = Option.getOrThrow(EngineError.fromAiError(aiError))
        assert.deepStrictEqual([found.reason, found.status], [reason, status])
      }
    }).pipe(Effect.scoped))
})
