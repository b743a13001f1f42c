/**
 * The built-in backends: a `Spec` to the Layer of its engine module, and the API key read from `apiKeyEnv`.
 */
import type * as LanguageModel from "@effect/ai/LanguageModel"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as EngineRegistry from "../../EngineRegistry.js"
import type { Spec } from "../../EngineRegistry.js"
import { EngineRegistryError } from "../../EngineRegistryError.js"
import * as DryRun from "../../engines/DryRun.js"
import * as LlamaCpp from "../../engines/LlamaCpp.js"
import * as Ollama from "../../engines/Ollama.js"
import * as OpenAiCompat from "../../engines/OpenAiCompat.js"
import * as OpenAiResponses from "../../engines/OpenAiResponses.js"

/** In the order of `BuiltinBackend`'s literals (error messages list them so). */
export const builtins: typeof EngineRegistry.builtins = {
  "openai": (spec, { apiKey }) =>
    OpenAiResponses.layer({
      engine: spec.name,
      model: spec.model ?? "",
      baseUrl: spec.endpoint,
      apiKey,
      headers: spec.headers,
      sampling: spec.sampling === undefined ? undefined : defined({
        temperature: spec.sampling.temperature,
        topP: spec.sampling.topP,
        maxTokens: spec.sampling.maxTokens
      })
    }),
  "openai-compat": (spec, resolved) =>
    OpenAiCompat.layer({ ...compatConfig(spec, resolved), baseUrl: spec.endpoint ?? "", model: spec.model ?? "" }),
  "vllm": (spec, resolved) =>
    OpenAiCompat.layer(OpenAiCompat.presets.vllm({ ...compatConfig(spec, resolved), model: spec.model ?? "" })),
  "ollama": (spec, { apiKey }) =>
    Ollama.layer({
      ...defined({
        engine: spec.name,
        baseUrl: spec.endpoint,
        apiKey,
        headers: spec.headers,
        timeout: spec.timeout,
        options: spec.options,
        sampling: spec.sampling
      }),
      model: spec.model ?? ""
    }),
  "openrouter": (spec, resolved) =>
    OpenAiCompat.layer(OpenAiCompat.presets.openrouter({ ...compatConfig(spec, resolved), model: spec.model ?? "" })),
  "llama-cpp": (spec) => llamaCpp(spec),
  "vllm_local": (spec) => llamaCpp(spec),
  "dry-run": (spec) =>
    DryRun.layer(defined({
      seed: spec.sampling?.seed,
      latency: spec.latency,
      tokensPerSecond: spec.tokensPerSecond,
      failureRate: spec.failureRate,
      words: spec.words,
      tokenSize: spec.tokenSize
    }))
}

export const builtinNames: ReadonlyArray<string> = Object.keys(builtins)

/** The API key of an engine, from its `apiKeyEnv` or its backend's usual variable; `undefined` when it takes none. */
export const resolveApiKey = (spec: Spec): Effect.Effect<Redacted.Redacted | undefined, EngineRegistryError> => {
  const variable = spec.apiKeyEnv ?? defaultApiKeyEnv[spec.backend]
  if (variable === undefined) return Effect.succeed(undefined)
  const missing = (description: string) =>
    new EngineRegistryError({ reason: "MissingApiKey", engine: spec.name, variable, description })
  return Config.redacted(variable).pipe(
    Effect.mapError(() => missing("not set")),
    Effect.filterOrFail((key) => Redacted.value(key).trim() !== "", () => missing("empty"))
  )
}

const defaultApiKeyEnv: Partial<Record<string, string>> = {
  "openai": "OPENAI_API_KEY",
  "openrouter": "OPENROUTER_API_KEY"
}

const llamaCpp = (spec: Spec): Layer.Layer<LanguageModel.LanguageModel, LlamaCpp.LlamaCppError> => {
  const options = Schema.decodeUnknownEither(LlamaCpp.LoadOptions)(spec.options ?? {})
  if (Either.isLeft(options)) {
    return Layer.fail(
      new LlamaCpp.LlamaCppError({
        reason: "LoadFailed",
        modelPath: spec.model ?? "",
        description: `invalid options: ${ParseResult.TreeFormatter.formatErrorSync(options.left)}`
      })
    )
  }
  return LlamaCpp.layer({
    ...defined(options.right),
    modelPath: spec.model ?? "",
    ...defined({ sampling: spec.sampling, engine: spec.name })
  })
}

const compatConfig = (spec: Spec, resolved: { readonly apiKey: Redacted.Redacted | undefined }) =>
  defined({
    engine: spec.name,
    baseUrl: spec.endpoint,
    apiKey: resolved.apiKey,
    headers: spec.headers,
    sampling: spec.sampling,
    timeout: spec.timeout,
    extraBody: spec.options
  })

/** The object without its `undefined` fields (for options under `exactOptionalPropertyTypes`). */
const defined = <A extends object>(value: A): { [K in keyof A]?: Exclude<A[K], undefined> } => {
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(value)) if (v !== undefined) out[key] = v
  return out as { [K in keyof A]?: Exclude<A[K], undefined> }
}
