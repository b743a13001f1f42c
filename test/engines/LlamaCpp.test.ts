import { AiError, LanguageModel, Prompt, Tool, Toolkit } from "@effect/ai"
import { FetchHttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Exit, Fiber, Layer, Schema, Scope, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll } from "vitest"
import * as EngineRegistry from "../../src/EngineRegistry.js"
import * as LlamaCpp from "../../src/engines/LlamaCpp.js"
import * as Llm from "../../src/Llm.js"
import * as Node from "../../src/Node.js"
import * as Sampling from "../../src/Sampling.js"
import * as StructuredOutput from "../../src/StructuredOutput.js"
import * as TinyGguf from "../../src/testing/TinyGguf.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-llama-"))
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true })
})
const modelPath = path.join(dir, "tiny.gguf")
fs.writeFileSync(modelPath, TinyGguf.make({ seed: 1 }))

/** One thread: the tiny model is fastest on one, and spinning threads starve a busy machine. */
const options: LlamaCpp.Options = {
  modelPath,
  contextSize: 2048,
  threads: 1,
  chatWrapper: "chatML",
  sampling: { maxTokens: 128 }
}
/** Parts as they come: the shared block runs on the TestClock, which would hold the interval's wait. */
const Engine = LlamaCpp.layer({ ...options, sequences: 2, deltaInterval: 0 })

const Address = Schema.Struct({ city: Schema.String, zip: Schema.optional(Schema.String) })
const schemas = {
  flat: Schema.Struct({ name: Schema.String, age: Schema.Number, ok: Schema.Boolean }),
  arrays: Schema.Struct({ tags: Schema.Array(Schema.String), scores: Schema.Array(Schema.Number) }),
  nested: Schema.Struct({
    person: Schema.Struct({ name: Schema.String, address: Address }),
    friends: Schema.Array(Address)
  }),
  unions: Schema.Struct({
    value: Schema.Union(Schema.String, Schema.Number, Schema.Struct({ kind: Schema.Literal("box"), size: Schema.Int }))
  }),
  literals: Schema.Struct({ label: Schema.Literal("positive", "negative", "neutral"), level: Schema.Literal(1, 2, 3) }),
  records: Schema.Struct({ counts: Schema.Record({ key: Schema.String, value: Schema.Number }) }),
  tagged: Schema.Struct({
    shape: Schema.Union(
      Schema.TaggedStruct("circle", { radius: Schema.Number }),
      Schema.TaggedStruct("square", { side: Schema.Number })
    )
  }),
  tuple: Schema.Struct({ pair: Schema.Tuple(Schema.String, Schema.Boolean), maybe: Schema.NullOr(Schema.String) })
} as const

const Weather = Tool.make("weather", {
  parameters: { location: Schema.String, days: Schema.Int },
  success: Schema.String
})
const Kit = Toolkit.make(Weather)
const Handlers = Kit.toLayer({ weather: () => Effect.succeed("sunny") })

const text = (parts: ReadonlyArray<any>) => parts.filter((p) => p.type === "text-delta").map((p) => p.delta).join("")

describe("LlamaCpp", () => {
  it.live("loads the tiny model in well under a second and streams text that generateText agrees with", () =>
    Effect.gen(function*() {
      // the first build loads llama.cpp's binaries, once per process; a model load after that is what is timed
      yield* Layer.build(LlamaCpp.layer(options)).pipe(Effect.scoped)
      const start = performance.now()
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(LlamaCpp.layer(options), scope)
      assert.isBelow(performance.now() - start, 1000)
      const parts = yield* LanguageModel.streamText({ prompt: "Say hello" }).pipe(
        Stream.runCollect,
        Effect.map(Chunk.toReadonlyArray),
        Effect.provide(context)
      )
      const types = parts.map((p) => p.type)
      assert.deepStrictEqual([types[0], types.at(-2), types.at(-1)], ["text-start", "text-end", "finish"])
      const finish = parts.at(-1) as any
      assert.strictEqual(finish.reason, "length")
      assert.strictEqual(finish.usage.outputTokens, 128)
      assert.isAbove(finish.usage.inputTokens, 0)
      const generated = yield* LanguageModel.generateText({ prompt: "Say hello" }).pipe(Effect.provide(context))
      assert.strictEqual(generated.text, text(parts))
      assert.isAbove(generated.text.length, 0)
      yield* Scope.close(scope, Exit.void)
    }))

  it.live("tokens faster than deltaInterval leave joined in fewer parts, with the same text", () =>
    Effect.gen(function*() {
      const reply = (deltaInterval: number) =>
        LanguageModel.streamText({ prompt: "Say hello" }).pipe(
          Stream.runCollect,
          Effect.map(Chunk.toReadonlyArray),
          Effect.provide(LlamaCpp.layer({ ...options, deltaInterval, sampling: { maxTokens: 200 } }))
        )
      const each = yield* reply(0)
      const joined = yield* reply(50)
      const deltas = (parts: ReadonlyArray<any>) => parts.filter((p) => p.type === "text-delta").length
      assert.strictEqual(deltas(each), 200)
      assert.isBelow(deltas(joined), 100)
      assert.strictEqual(text(joined), text(each))
    }))

  it.live("a missing model file fails the Layer with a typed LoadFailed error", () =>
    Effect.gen(function*() {
      const error = yield* Layer.build(LlamaCpp.layer({ ...options, modelPath: path.join(dir, "missing.gguf") })).pipe(
        Effect.scoped,
        Effect.flip
      )
      assert.isTrue(LlamaCpp.isLlamaCppError(error))
      assert.strictEqual(error.reason, "LoadFailed")
      assert.include(error.message, "missing.gguf")
    }))

  it.live("an engines.yml entry of the vllm_local (llama-cpp) backend loads the model with its options", () =>
    Effect.gen(function*() {
      const definition = yield* EngineRegistry.parse(
        [
          "engines:",
          "  - name: local",
          "    backend: vllm_local",
          `    model: ${JSON.stringify(modelPath)}`,
          "    sampling: { maxTokens: 7 }",
          "    options: { contextSize: 1024, sequences: 2, threads: 1, gpu: false, chatWrapper: chatML }"
        ].join("\n")
      )
      const registry = yield* EngineRegistry.fromDefinition(definition)
      const response = yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(
        EngineRegistry.provide("local"),
        Effect.provideService(EngineRegistry.EngineRegistry, registry)
      )
      assert.strictEqual(response.usage.outputTokens, 7)
      const failed = yield* EngineRegistry.layer({
        engines: [{ name: "gone", backend: "llama-cpp", model: path.join(dir, "gone.gguf"), lazy: false }]
      }).pipe(Layer.provide(FetchHttpClient.layer), Layer.build, Effect.scoped, Effect.flip)
      assert.strictEqual(failed.reason, "StartFailed")
      assert.include(failed.message, "gone.gguf")
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("closing the Layer's scope releases the model: later calls fail with a typed AiError", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const service = yield* LlamaCpp.make(options).pipe(Scope.extend(scope))
      const ok = yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(
        Effect.provideService(LanguageModel.LanguageModel, service)
      )
      assert.isAbove(ok.text.length, 0)
      yield* Scope.close(scope, Exit.void)
      const error = yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(
        Effect.provideService(LanguageModel.LanguageModel, service),
        Effect.flip
      )
      assert.isTrue(AiError.isAiError(error))
    }))
})

it.layer(Engine, { timeout: 20_000 })("LlamaCpp (shared model)", (it) => {
  for (const [name, schema] of Object.entries(schemas)) {
    it.effect(`guided decoding gives a schema-valid value on random weights: ${name}`, () =>
      Effect.gen(function*() {
        const s = schema as unknown as Schema.Schema<Record<string, unknown>, Record<string, unknown>>
        const response = yield* LanguageModel.generateObject({ prompt: "Give a value", schema: s, objectName: name })
        assert.isTrue(Schema.is(s)(response.value), JSON.stringify(response.value))
      }))
  }

  it.effect("a structured stream (StructuredOutput.withFormat) is JSON of the schema, and Llm.object decodes it", () =>
    Effect.gen(function*() {
      const schema = schemas.nested
      const parts = yield* LanguageModel.streamText({ prompt: "Who?" }).pipe(
        StructuredOutput.withFormat({ objectName: "who", schema }),
        Stream.runCollect,
        Effect.map(Chunk.toReadonlyArray)
      )
      assert.isTrue(Schema.is(schema)(JSON.parse(text(parts))))
      assert.strictEqual((parts.at(-1) as any).reason, "stop")
      const node = Llm.object({ name: "who", input: Schema.String, output: schema, prompt: (s) => s })
      assert.isTrue(Schema.is(schema)(yield* Node.run(node, "Who?")))
    }))

  it.effect("offered tools are called through the chat template, arguments valid for the tool", () =>
    Effect.gen(function*() {
      const parts = yield* LanguageModel.streamText({
        prompt: "Weather?",
        toolkit: Kit,
        disableToolCallResolution: true
      })
        .pipe(Stream.runCollect, Effect.map(Chunk.toReadonlyArray))
      const types = parts.map((p) => p.type)
      assert.includeMembers(types, ["tool-params-start", "tool-params-delta", "tool-params-end", "tool-call"])
      const call = parts.find((p) => p.type === "tool-call") as any
      assert.strictEqual(call.name, "weather")
      assert.isTrue(Schema.is(Weather.parametersSchema)(call.params))
      const streamedParams = parts.filter((p) => p.type === "tool-params-delta").map((p: any) => p.delta).join("")
      assert.deepStrictEqual(JSON.parse(streamedParams), call.params)
      assert.strictEqual((parts.at(-1) as any).reason, "tool-calls")
      // the tool loop: the call, its result and the model's next turn, through the history
      const resolved = yield* LanguageModel.generateText({ prompt: "Weather?", toolkit: Kit })
      assert.strictEqual(resolved.toolResults[0]?.result, "sunny")
      const next = yield* LanguageModel.generateText({
        prompt: Prompt.merge(Prompt.make("Weather?"), Prompt.fromResponseParts(resolved.content)),
        toolkit: Kit,
        toolChoice: "none"
      })
      assert.isAbove(next.text.length, 0)
      assert.strictEqual(next.finishReason, "length")
    }).pipe(Effect.provide(Handlers)))

  it.effect("per-call sampling (Sampling.withSampling) reaches the generation", () =>
    Effect.gen(function*() {
      const response = yield* LanguageModel.generateText({ prompt: "Count" }).pipe(
        Sampling.withSampling({ maxTokens: 5, temperature: 0.8, seed: 3, topK: 40 })
      )
      assert.strictEqual(response.usage.outputTokens, 5)
      assert.strictEqual(response.finishReason, "length")
    }))

  it.effect("sequences serve calls at once: two streams are open together", () =>
    Effect.gen(function*() {
      const firsts = yield* Effect.forEach([0, 1], () => Deferred.make<void>())
      const release = yield* Deferred.make<void>()
      const hold = (first: Deferred.Deferred<void>) =>
        LanguageModel.streamText({ prompt: "Talk" }).pipe(
          Stream.filter((p) => p.type === "text-delta"),
          Stream.tap(() => Deferred.succeed(first, void 0)),
          Stream.tap(() => Deferred.await(release)),
          Stream.take(1),
          Stream.runDrain,
          Sampling.withSampling({ maxTokens: 400 })
        )
      const fibers = yield* Effect.forEach(firsts, (first) => Effect.fork(hold(first)))
      // with one sequence, the second stream would wait for the first to finish, and this would time out
      yield* Effect.forEach(firsts, Deferred.await)
      yield* Deferred.succeed(release, void 0)
      yield* Effect.forEach(fibers, Fiber.join)
    }))

  it.effect("interrupting the consumer stops the generation and frees its sequence", () =>
    Effect.gen(function*() {
      const long = LanguageModel.streamText({ prompt: "Talk at length" })
      const withLimit = Sampling.withSampling({ maxTokens: 1500 })
      for (let i = 0; i < 3; i++) {
        const first = yield* long.pipe(Stream.take(2), Stream.runCollect, withLimit)
        assert.strictEqual(first.length, 2)
      }
      const started = yield* Deferred.make<void>()
      const fiber = yield* long.pipe(
        Stream.tap(() => Deferred.succeed(started, void 0)),
        Stream.runDrain,
        withLimit,
        Effect.fork
      )
      yield* Deferred.await(started)
      yield* Fiber.interrupt(fiber)
      // two sequences, both free again: two calls at once complete promptly
      const both = yield* Effect.all(
        [LanguageModel.generateText({ prompt: "a" }), LanguageModel.generateText({ prompt: "b" })],
        { concurrency: 2 }
      )
      assert.strictEqual(both.length, 2)
    }))

  it.effect("a prompt the engine cannot take is a typed AiError: a file part, a tool result without its call", () =>
    Effect.gen(function*() {
      const file = yield* LanguageModel.generateText({
        prompt: Prompt.make([{
          role: "user",
          content: [{ type: "file", mediaType: "image/png", data: new Uint8Array([1, 2, 3]) }]
        }])
      }).pipe(Effect.flip)
      assert.strictEqual(file._tag, "MalformedInput")
      const orphan = yield* LanguageModel.streamText({
        prompt: Prompt.make([{
          role: "tool",
          content: [{
            type: "tool-result",
            id: "call_x",
            name: "weather",
            result: "sunny",
            isFailure: false,
            providerExecuted: false
          }]
        }])
      }).pipe(Stream.runDrain, Effect.flip)
      assert.strictEqual(orphan._tag, "MalformedInput")
      assert.include(orphan.message, "call_x")
    }))
})
