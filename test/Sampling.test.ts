import { LanguageModel, Prompt } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import * as Chain from "../src/Chain.js"
import * as Ollama from "../src/engines/Ollama.js"
import * as OpenAiCompat from "../src/engines/OpenAiCompat.js"
import * as Sampling from "../src/Sampling.js"
import * as ScriptedEngine from "../src/testing/ScriptedEngine.js"

const call = { prompt: Prompt.make("Hi"), tools: [], toolChoice: "auto" as const }

describe("Sampling", () => {
  it.effect("merge lays the override over the defaults field by field", () =>
    Effect.sync(() => {
      assert.deepStrictEqual(Sampling.merge({ temperature: 0.7, maxTokens: 512 }, { temperature: 0, seed: 3 }), {
        temperature: 0,
        maxTokens: 512,
        seed: 3
      })
      assert.deepStrictEqual(Sampling.merge({ temperature: 0.7 }, { temperature: undefined }), { temperature: 0.7 })
      assert.deepStrictEqual(Sampling.merge(undefined, { topP: 0.5 }), { topP: 0.5 })
      assert.isUndefined(Sampling.merge(undefined, undefined))
    }))

  it.effect("withSampling reaches the engine for the calls it wraps, and only those", () =>
    Effect.gen(function*() {
      yield* LanguageModel.generateText({ prompt: "a" }).pipe(Sampling.withSampling({ temperature: 0, seed: 1 }))
      yield* LanguageModel.generateText({ prompt: "b" })
      const [first, second] = yield* ScriptedEngine.requests
      assert.deepStrictEqual(first!.sampling, { temperature: 0, seed: 1 })
      assert.isUndefined(second!.sampling)
    }).pipe(Effect.provide(ScriptedEngine.layer({ reply: () => "ok" }))))

  it.effect("OpenAiCompat and Ollama lay a call's sampling over their configured defaults", () =>
    Effect.sync(() => {
      const config = { baseUrl: "http://x/v1", model: "m", sampling: { temperature: 0.7, maxTokens: 64 } }
      const compat = OpenAiCompat.encodeRequest(config, call, Option.none(), { temperature: 0, seed: 9 })
      assert.isTrue(compat._tag === "Right")
      const body = compat._tag === "Right" ? compat.right : {}
      assert.deepStrictEqual([body.temperature, body.max_tokens, body.seed], [0, 64, 9])
      const defaults = OpenAiCompat.encodeRequest(config, call, Option.none())
      assert.strictEqual(defaults._tag === "Right" ? defaults.right.temperature : undefined, 0.7)
      const ollama = Ollama.encodeRequest(
        { model: "m", sampling: { temperature: 0.7, maxTokens: 64 } },
        call,
        Option.none(),
        {
          temperature: 0.1
        }
      )
      const options = ollama._tag === "Right" ? ollama.right.options as Record<string, unknown> : {}
      assert.deepStrictEqual([options.temperature, options.num_predict], [0.1, 64])
    }))

  it.effect("a Chain step's sampling goes with each of its calls", () =>
    Effect.gen(function*() {
      const Raw = Schema.Struct({ text: Schema.String })
      const Out = Schema.Struct({ label: Schema.String })
      const chain = Chain.make({
        name: "c",
        steps: [
          Chain.llm({ id: "cold", input: Raw, output: Out, prompt: "{{text}}", sampling: { temperature: 0 } }),
          [
            Chain.branch({
              name: "b",
              steps: [Chain.llm({ id: "warm", input: Out, output: Out, prompt: "{{label}}", sampling: { topP: 0.9 } })]
            })
          ]
        ]
      })
      yield* Chain.run(chain, [{ text: "x" }])
      const samplings = (yield* ScriptedEngine.requests).map((r) => r.sampling)
      assert.deepStrictEqual(samplings, [{ temperature: 0 }, { topP: 0.9 }])
    }).pipe(Effect.provide(ScriptedEngine.layer({ reply: () => ({ object: { label: "l" } }) }))))
})
