/**
 * Chainette's engines.yml loads: its backend names, a backend inferred when omitted, and its in-process-only fields
 * accepted with a warning.
 */
import { FetchHttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Logger } from "effect"
import * as EngineRegistry from "../src/EngineRegistry.js"

const chainette = `engines:
  - name: llama3
    model: NousResearch/Meta-Llama-3-8B-Instruct
    dtype: bfloat16
    gpu_memory_utilization: 0.6
    enable_reasoning: false
    devices: [0]
    lazy: true
  - name: gpt4o
    backend: openai
    model: gpt-4.1-mini
    endpoint: https://api.openai.com/v1
  - name: vllm_api
    model: gpt-4o-2024-08-06
    backend: vllm_api
    endpoint: http://localhost:8000/v1
    dtype: bfloat16
  - name: qwen_local
    model: qwen2.5-instruct
    backend: ollama_api
  - name: guessed
    model: m
    endpoint: http://localhost:11434
  - name: router
    model: m
    endpoint: https://openrouter.ai/api/v1
  - name: server
    model: m
    endpoint: http://10.0.0.2:8080/v1
`

/** Runs an effect and returns its value with the warnings it logged. */
const withWarnings = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const warnings: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => {
      if (logLevel._tag === "Warning") warnings.push((Array.isArray(message) ? message : [message]).join(" "))
    })
    const value = yield* effect.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    return { value, warnings }
  })

describe("EngineRegistry: Chainette engines files", () => {
  it.effect("aliases, inferred backends, in-process-only fields ignored with one warning per engine", () =>
    Effect.gen(function*() {
      const { value, warnings } = yield* withWarnings(EngineRegistry.parse(chainette, { file: "engines.yml" }))
      assert.deepStrictEqual(value.engines.map((spec) => [spec.name, spec.backend]), [
        ["llama3", "llama-cpp"],
        ["gpt4o", "openai"],
        ["vllm_api", "vllm"],
        ["qwen_local", "ollama"],
        ["guessed", "ollama"],
        ["router", "openrouter"],
        ["server", "openai-compat"]
      ])
      assert.deepStrictEqual(warnings, [
        "engines.yml: engines[0] (llama3): dtype, gpu_memory_utilization, devices, enable_reasoning apply to " +
        "Chainette's in-process vLLM only; ignored for the llama-cpp backend",
        "engines.yml: engines[2] (vllm_api): dtype applies to Chainette's in-process vLLM only; ignored for the vllm backend"
      ])
      assert.isFalse(Object.hasOwn(value.engines[0]!, "dtype"))
    }))

  it.scoped("a backend that cannot be inferred is still required, and unknown backends are still errors", () =>
    Effect.gen(function*() {
      const missing = yield* Effect.either(EngineRegistry.parse("engines:\n  - name: x\n    model: m\n"))
      assert.isTrue(Either.isLeft(missing))
      if (Either.isLeft(missing)) assert.include(missing.left.message, "engines[0].backend")
      const unknown = yield* Effect.either(EngineRegistry.parse("engines:\n  - name: x\n    backend: vllm_gpu\n"))
      assert.isTrue(Either.isLeft(unknown))
      if (Either.isLeft(unknown)) assert.include(unknown.left.message, "unknown backend \"vllm_gpu\"")
      // the aliases also work for engines given in code
      const registry = yield* EngineRegistry.make({
        engines: [{ name: "a", backend: "vllm_api", model: "m" }, { name: "b", backend: "ollama_api", model: "m" }]
      }).pipe(Effect.provide(FetchHttpClient.layer))
      assert.deepStrictEqual(registry.specs.map((spec) => spec.backend), ["vllm", "ollama"])
    }))
})
