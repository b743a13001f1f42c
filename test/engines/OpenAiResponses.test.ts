import { LanguageModel } from "@effect/ai"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Config, ConfigProvider, Duration, Effect, Layer, Option, Redacted, Schema, Stream } from "effect"
import * as EngineError from "../../src/EngineError.js"
import * as OpenAiResponses from "../../src/engines/OpenAiResponses.js"
import * as Sampling from "../../src/Sampling.js"
import * as StructuredOutput from "../../src/StructuredOutput.js"
import * as ScriptedServer from "../../src/testing/ScriptedServer.js"
import * as Dialects from "../contract/dialects.js"

const Person = Schema.Struct({ name: Schema.String })

const engine = (server: ScriptedServer.ScriptedServer, config?: Partial<OpenAiResponses.Config>) =>
  OpenAiResponses.layer({ baseUrl: `${server.url}/v1`, model: "gpt-test", ...config }).pipe(
    Layer.provide(NodeHttpClient.layerUndici)
  )

const reply = (text: string) => Dialects.serve("openai-responses", { text })

describe("OpenAiResponses", () => {
  it.live("sends the model, sampling defaults, the API key and extra headers to {baseUrl}/responses", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({ reply: reply("Hi there") })
      const layer = engine(server, {
        apiKey: Redacted.make("sk-test"),
        sampling: { temperature: 0.25, topP: 0.5, maxTokens: 99 },
        headers: { "x-client": "sluice" }
      })
      const response = yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(Effect.provide(layer))
      assert.strictEqual(response.text, "Hi there")
      const [request] = yield* server.requests
      const body = request!.body as any
      assert.strictEqual(request!.path, "/v1/responses")
      assert.strictEqual(request!.headers.authorization, "Bearer sk-test")
      assert.strictEqual(request!.headers["x-client"], "sluice")
      assert.deepStrictEqual([body.model, body.temperature, body.top_p, body.max_output_tokens], [
        "gpt-test",
        0.25,
        0.5,
        99
      ])
    }).pipe(Effect.scoped))

  it.live("a format set with StructuredOutput.withFormat is sent as a JSON schema when streaming", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({ reply: reply("{\"name\":\"Ada\"}") })
      yield* LanguageModel.streamText({ prompt: "Who?" }).pipe(
        StructuredOutput.withFormat({ objectName: "a person", schema: Person }),
        Stream.runDrain,
        Effect.provide(engine(server, { strict: false }))
      )
      yield* LanguageModel.streamText({ prompt: "Who?" }).pipe(Stream.runDrain, Effect.provide(engine(server)))
      const [withFormat, plain] = yield* server.requests
      const format = (withFormat!.body as any).text.format
      assert.strictEqual(format.type, "json_schema")
      assert.strictEqual(format.name, "a_person")
      assert.strictEqual(format.strict, false)
      assert.deepStrictEqual(format.schema.required, ["name"])
      assert.strictEqual((plain!.body as any).text.format.type, "text")
    }).pipe(Effect.scoped))

  it.live("a stream that ends without response.completed is a retryable Transport error", () =>
    Effect.gen(function*() {
      const events = Dialects.responsesEvents({ text: "cut short" }).slice(0, -1)
      const server = yield* ScriptedServer.make({ reply: ScriptedServer.sse(events, { done: false }) })
      const error = yield* LanguageModel.streamText({ prompt: "Go" }).pipe(
        Stream.runDrain,
        Effect.flip,
        Effect.provide(engine(server))
      )
      const found = Option.getOrThrow(EngineError.fromAiError(error))
      assert.strictEqual(found.reason, "Transport")
      assert.isTrue(found.isRetryable)
    }).pipe(Effect.scoped))

  it.live("layerConfig reads the model and the API key from Config", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({ reply: reply("ok") })
      const layer = OpenAiResponses.layerConfig({
        baseUrl: `${server.url}/v1`,
        model: Config.string("SLUICE_MODEL"),
        apiKey: Config.redacted("SLUICE_KEY")
      }).pipe(
        Layer.provide(NodeHttpClient.layerUndici),
        Layer.provide(
          Layer.setConfigProvider(
            ConfigProvider.fromMap(new Map([["SLUICE_MODEL", "gpt-env"], ["SLUICE_KEY", "sk-env"]]))
          )
        )
      )
      yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(Effect.provide(layer))
      const [request] = yield* server.requests
      assert.strictEqual((request!.body as any).model, "gpt-env")
      assert.strictEqual(request!.headers.authorization, "Bearer sk-env")
    }).pipe(Effect.scoped))

  it.live("7. a call's sampling (Sampling.withSampling) is sent over the configured defaults", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({ reply: reply("ok") })
      const layer = engine(server, { sampling: { temperature: 0.9, topP: 0.5 } })
      yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(
        Sampling.withSampling({ temperature: 0.1, maxTokens: 5 }),
        Effect.provide(layer)
      )
      yield* LanguageModel.streamText({ prompt: "Hi" }).pipe(
        Stream.runDrain,
        Sampling.withSampling({ topP: 0.25 }),
        Effect.provide(layer)
      )
      const [whole, streamed] = yield* server.requests
      const a = whole!.body as any
      const b = streamed!.body as any
      assert.deepStrictEqual([a.temperature, a.top_p, a.max_output_tokens], [0.1, 0.5, 5])
      assert.deepStrictEqual([b.temperature, b.top_p, b.max_output_tokens], [0.9, 0.25, undefined])
    }).pipe(Effect.scoped))

  it.live("an HTTP error, or a refused connection, carries its reason and the server's message", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({
        reply: ScriptedServer.error(429, { message: "Rate limit reached for gpt-test", retryAfter: 2 })
      })
      const error = yield* LanguageModel.streamText({ prompt: "Go" }).pipe(
        Stream.runDrain,
        Effect.flip,
        Effect.provide(engine(server))
      )
      assert.include(error.message, "RateLimited")
      assert.include(error.message, "Rate limit reached for gpt-test")
      const found = Option.getOrThrow(EngineError.fromAiError(error))
      assert.deepStrictEqual([found.reason, found.status], ["RateLimited", 429])
      assert.include(found.description, "Rate limit reached for gpt-test")
      assert.strictEqual(Duration.toMillis(found.retryAfter!), 2000)
      const url = yield* Effect.scoped(Effect.map(ScriptedServer.make({ reply: reply("x") }), (s) => s.url))
      const refused = yield* LanguageModel.generateText({ prompt: "Go" }).pipe(
        Effect.flip,
        Effect.provide(
          OpenAiResponses.layer({ baseUrl: `${url}/v1`, model: "m" }).pipe(Layer.provide(NodeHttpClient.layerUndici))
        )
      )
      assert.notInclude(refused.message, "An HTTP request error occurred")
      assert.include(refused.message, "Transport")
      assert.isTrue(EngineError.isRetryable(refused))
    }).pipe(Effect.scoped))

  it.live("an error event in the stream fails with its reason and message, not as a truncated stream", () =>
    Effect.gen(function*() {
      const events = [
        ...Dialects.responsesEvents({ text: "cut" }).slice(0, 2),
        { type: "error", code: "server_error", message: "The model is overloaded", param: null, sequence_number: 2 }
      ]
      const server = yield* ScriptedServer.make({ reply: ScriptedServer.sse(events, { done: false }) })
      const error = yield* LanguageModel.streamText({ prompt: "Go" }).pipe(
        Stream.runDrain,
        Effect.flip,
        Effect.provide(engine(server))
      )
      assert.include(error.message, "The model is overloaded")
      const found = Option.getOrThrow(EngineError.fromAiError(error))
      assert.strictEqual(found.reason, "ServerError")
      assert.include(found.description, "The model is overloaded")
    }).pipe(Effect.scoped))

  it.live("a response.failed event fails with its error's reason and message, not as a finished reply", () =>
    Effect.gen(function*() {
      const [created, progress] = Dialects.responsesEvents({ text: "x" })
      const failed = {
        type: "response.failed",
        sequence_number: 2,
        response: {
          ...(created as any).response,
          status: "failed",
          error: { code: "rate_limit_exceeded", message: "Rate limit reached while generating" }
        }
      }
      const server = yield* ScriptedServer.make({
        reply: ScriptedServer.sse([created, progress, failed], { done: false })
      })
      const error = yield* LanguageModel.streamText({ prompt: "Go" }).pipe(
        Stream.runDrain,
        Effect.flip,
        Effect.provide(engine(server))
      )
      assert.include(error.message, "Rate limit reached while generating")
      const found = Option.getOrThrow(EngineError.fromAiError(error))
      assert.deepStrictEqual([found.reason, found.status], ["RateLimited", 429])
    }).pipe(Effect.scoped))
})
