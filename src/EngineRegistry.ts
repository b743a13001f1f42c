/**
 * Engines by name: a registry of `LanguageModel`s defined in code or in an `engines.yml` / JSON file.
 *
 * Each engine is a {@link Spec} (`name`, `backend`, `model`, `endpoint`, `apiKeyEnv`, `lazy`, `sampling`, …) turned
 * into a `LanguageModel` Layer by its backend: the built-in `openai` (Responses API), `openai-compat`, `vllm`,
 * `openrouter` (Chat Completions), `ollama` (native API), `llama-cpp` (in process) and `dry-run`, or one registered in
 * `backends`.
 *
 * Engines live in an `RcMap`:
 *
 * - they start lazily, on first use (engines with `lazy: false` start when the registry's Layer is built);
 * - concurrent users (steps, branches) share one instance, reference counted;
 * - an engine nobody uses is released after an idle time-to-live (`idleTimeToLive`, default 5 minutes), and the next
 *   use starts it again;
 * - {@link Service.warmup} starts engines ahead of use, {@link Service.flush} releases them early.
 *
 * A step names its engine with {@link provide} (an Effect or a Stream) or {@link withEngine} (a Node), or uses the
 * `LanguageModel` in context, which {@link layerEngine} / {@link layerDefault} take from the registry.
 *
 * @since 0.1.0
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as RcMap from "effect/RcMap"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Yaml from "yaml"
import { EngineRegistryError, type Issue } from "./EngineRegistryError.js"
import * as DryRun from "./engines/DryRun.js"
import * as LlamaCpp from "./engines/LlamaCpp.js"
import * as Ollama from "./engines/Ollama.js"
import * as OpenAiCompat from "./engines/OpenAiCompat.js"
import * as OpenAiResponses from "./engines/OpenAiResponses.js"
import * as Node from "./Node.js"
import * as Sampling from "./Sampling.js"

// =============================================================================
// models
// =============================================================================

/**
 * A duration in a definition: a number of milliseconds, a string such as `"30 seconds"`, `"500 millis"` or
 * `"infinity"`, or a `Duration`.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as EngineRegistry from "sluice/EngineRegistry"
 *
 * Schema.decodeUnknownSync(EngineRegistry.DurationValue)("2 minutes") // Duration of 2 minutes
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const DurationValue: Schema.Schema<Duration.Duration, number | string | Duration.Duration> = Schema
  .transformOrFail(
    Schema.Union(Schema.Number, Schema.String, Schema.DurationFromSelf),
    Schema.DurationFromSelf,
    {
      strict: true,
      decode: (input, _, ast) => {
        const decoded = input === "infinity" ? Option.some(Duration.infinity) : Duration.decodeUnknown(input)
        return Option.isSome(decoded) && Duration.greaterThanOrEqualTo(decoded.value, Duration.zero)
          ? ParseResult.succeed(decoded.value)
          : ParseResult.fail(
            new ParseResult.Type(
              ast,
              input,
              `Expected a duration such as "30 seconds", "500 millis", "infinity" or a number of milliseconds, ` +
                `actual ${JSON.stringify(input)}`
            )
          )
      },
      encode: ParseResult.succeed
    }
  )

/**
 * The built-in backends:
 *
 * - `openai`: OpenAI's Responses API (`OpenAiResponses`), key from `OPENAI_API_KEY` unless `apiKeyEnv` says otherwise;
 * - `openai-compat`: any Chat Completions server (`OpenAiCompat`); `endpoint` is required;
 * - `vllm`: vLLM's server (default `http://localhost:8000/v1`, vLLM structured outputs);
 * - `ollama`: Ollama's native API (default `http://localhost:11434`); `options` are Ollama's model options;
 * - `openrouter`: OpenRouter (Chat Completions), key from `OPENROUTER_API_KEY` unless `apiKeyEnv` says otherwise;
 * - `llama-cpp` (alias `vllm_local`, Chainette's in-process backend): a GGUF model run in process (`LlamaCpp`, needs
 *   the optional peer dependency `node-llama-cpp`); `model` is the path of the GGUF file and `options` its load
 *   options (`contextSize`, `sequences`, `gpu`, `gpuLayers`, `threads`, `batchSize`, `flashAttention`,
 *   `chatWrapper`, `deltaInterval` in milliseconds; see `LlamaCpp.LoadOptions`);
 * - `dry-run`: the embedded `DryRun` engine (no model, no network).
 *
 * @example
 * ```ts
 * import type * as EngineRegistry from "sluice/EngineRegistry"
 *
 * const backend: EngineRegistry.BuiltinBackend = "vllm"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type BuiltinBackend = typeof BuiltinBackend.Type

/**
 * The schema of {@link BuiltinBackend}.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as EngineRegistry from "sluice/EngineRegistry"
 *
 * Schema.is(EngineRegistry.BuiltinBackend)("ollama") // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const BuiltinBackend = Schema.Literal(
  "openai",
  "openai-compat",
  "vllm",
  "ollama",
  "openrouter",
  "llama-cpp",
  "vllm_local",
  "dry-run"
)

const EnvName = Schema.String.pipe(
  Schema.filter((s) =>
    /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) ||
    `Expected the name of an environment variable (e.g. OPENAI_API_KEY), not the key itself, actual ${
      JSON.stringify(s.length > 12 ? `${s.slice(0, 4)}…` : s)
    }`
  )
)

/**
 * One engine definition.
 *
 * - `name`: how steps refer to it; `backend`: a {@link BuiltinBackend} or a backend registered in `backends`;
 * - `model` (required by every built-in backend but `dry-run`); `endpoint`: the server's base URL;
 * - `apiKeyEnv`: the environment variable holding the API key (read when the engine starts);
 * - `lazy` (default `true`): `false` starts the engine when the registry is built (so a missing key or a bad
 *   backend fails at startup); like any engine it is then released after its idle time-to-live (set
 *   `idleTimeToLive: infinity` to keep it up);
 * - `idleTimeToLive`: how long the engine stays up unused (overrides the registry's);
 * - `timeout`: the longest wait for response headers (HTTP Chat Completions and Ollama backends);
 * - `headers`: extra HTTP headers; `sampling`: {@link Sampling} defaults; `options`: backend-specific settings
 *   (Ollama's model options, extra Chat Completions body fields, or anything a custom backend reads);
 * - `latency`, `tokensPerSecond`, `failureRate`, `words`, `tokenSize`: options of the `dry-run` backend.
 *
 * Chainette's engines files load as they are: its backend names `vllm_api` and `ollama_api` mean `vllm` and
 * `ollama`; an engine without `backend` gets one from its `endpoint` (`api.openai.com`: `openai`, `openrouter.ai`:
 * `openrouter`, port 11434: `ollama`, any other server: `openai-compat`) or, without an endpoint, runs in process
 * (`llama-cpp`) when its model is a `.gguf` file or it sets in-process fields; the in-process-only fields `dtype`,
 * `gpu_memory_utilization`, `devices` and `enable_reasoning` are accepted and ignored with a warning.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as EngineRegistry from "sluice/EngineRegistry"
 *
 * const spec = Schema.decodeUnknownSync(EngineRegistry.Spec)({
 *   name: "local",
 *   backend: "vllm",
 *   model: "Qwen/Qwen3-8B",
 *   sampling: { temperature: 0 }
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Spec = typeof Spec.Type

/**
 * An engine definition as written in code or in a file (durations as numbers or strings).
 *
 * @example
 * ```ts
 * import type * as EngineRegistry from "sluice/EngineRegistry"
 *
 * const spec: EngineRegistry.SpecInput = { name: "fast", backend: "dry-run", latency: "20 millis" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type SpecInput = typeof Spec.Encoded

/**
 * The schema of {@link Spec}.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as EngineRegistry from "sluice/EngineRegistry"
 *
 * Schema.is(EngineRegistry.Spec)({ name: "fast", backend: "dry-run" }) // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Spec = Schema.Struct({
  name: Schema.NonEmptyTrimmedString,
  backend: Schema.NonEmptyTrimmedString,
  model: Schema.optional(Schema.NonEmptyTrimmedString),
  endpoint: Schema.optional(Schema.NonEmptyTrimmedString),
  apiKeyEnv: Schema.optional(EnvName),
  lazy: Schema.optional(Schema.Boolean),
  idleTimeToLive: Schema.optional(DurationValue),
  timeout: Schema.optional(DurationValue),
  headers: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  sampling: Schema.optional(Sampling.Sampling),
  options: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  latency: Schema.optional(DurationValue),
  tokensPerSecond: Schema.optional(Schema.Number.pipe(Schema.positive())),
  failureRate: Schema.optional(Schema.Number.pipe(Schema.between(0, 1))),
  words: Schema.optional(Schema.Int.pipe(Schema.positive())),
  tokenSize: Schema.optional(Schema.Int.pipe(Schema.positive()))
})

/**
 * A whole definition, the content of an `engines.yml`: the engines, the `default` one (for steps that use the
 * `LanguageModel` in context; the first engine when omitted) and the registry's `idleTimeToLive`.
 *
 * @example
 * ```ts
 * import type * as EngineRegistry from "sluice/EngineRegistry"
 *
 * declare const definition: EngineRegistry.Definition
 * const names = definition.engines.map((spec) => spec.name)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Definition = typeof Definition.Type

/**
 * The schema of {@link Definition}.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as EngineRegistry from "sluice/EngineRegistry"
 *
 * const definition = Schema.decodeUnknownSync(EngineRegistry.Definition)({
 *   engines: [{ name: "fast", backend: "dry-run" }],
 *   idleTimeToLive: "10 minutes"
 * })
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Definition = Schema.Struct({
  engines: Schema.Array(Spec),
  default: Schema.optional(Schema.NonEmptyTrimmedString),
  idleTimeToLive: Schema.optional(DurationValue)
})

/**
 * A backend: turns a {@link Spec} (and the API key read from `apiKeyEnv`, if any) into a `LanguageModel` Layer. The
 * Layer is built when the engine starts and released when it stops, so `Layer.scoped` / `acquireRelease` resources
 * (a local process, a connection pool) live exactly as long as the engine.
 *
 * @example
 * ```ts
 * import * as DryRun from "sluice/engines/DryRun"
 * import type * as EngineRegistry from "sluice/EngineRegistry"
 *
 * const echo: EngineRegistry.Backend = (spec) => DryRun.layer({ seed: spec.sampling?.seed ?? 0, words: 3 })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Backend<E = never, R = never> = (
  spec: Spec,
  resolved: { readonly apiKey: Redacted.Redacted | undefined }
) => Layer.Layer<LanguageModel.LanguageModel, E, R>

/**
 * Type helpers for backends.
 *
 * @since 0.1.0
 */
export declare namespace Backend {
  /**
   * @since 0.1.0
   * @category utility types
   */
  export type Any = Backend<any, any>
  /**
   * The requirements of a backend's Layer.
   *
   * @since 0.1.0
   * @category utility types
   */
  export type Context<B> = B extends Backend<infer _E, infer R> ? R : never
}

/**
 * The state of an engine:
 *
 * - `state`: `stopped` (not running), `starting`, `in-use` (`refCount` users hold it) or `idle` (running, unused,
 *   released after its idle time-to-live);
 * - `retired`: users still holding an instance that `flush({ force: true })` retired;
 * - `starts`: how many times the engine has been started.
 *
 * @example
 * ```ts
 * import type * as EngineRegistry from "sluice/EngineRegistry"
 *
 * declare const status: EngineRegistry.EngineStatus
 * const busy = status.state === "in-use" && status.refCount > 1
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface EngineStatus {
  readonly name: string
  readonly backend: string
  readonly model: string | undefined
  readonly lazy: boolean
  readonly state: "stopped" | "starting" | "in-use" | "idle"
  readonly refCount: number
  readonly retired: number
  readonly starts: number
}

/**
 * The registry's service.
 *
 * - `get(name)`: the engine, held (started if needed) until the enclosing `Scope` closes;
 * - `warmup(names)`: start engines now (all when omitted); they then stay up until idle;
 * - `flush()`: stop the idle engines now. `flush({ force: true })` also retires the engines in use: they leave the
 *   registry at once, their in-flight users keep the instance they hold (their calls and streams are not
 *   interrupted) and it stops as soon as the last of them releases it; the next `get` starts a fresh instance.
 *   Both return the names of the engines flushed;
 * - `status`: the {@link EngineStatus} of every engine; `names`, `specs`, `defaultName`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as EngineRegistry from "sluice/EngineRegistry"
 *
 * const program = Effect.gen(function*() {
 *   const registry = yield* EngineRegistry.EngineRegistry
 *   yield* registry.warmup(["fast"])
 *   return yield* registry.status
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly names: ReadonlyArray<string>
  readonly specs: ReadonlyArray<Spec>
  readonly defaultName: string | undefined
  readonly get: (name: string) => Effect.Effect<LanguageModel.Service, EngineRegistryError, Scope.Scope>
  readonly warmup: (names?: ReadonlyArray<string> | undefined) => Effect.Effect<void, EngineRegistryError>
  readonly flush: (
    options?: { readonly force?: boolean | undefined } | undefined
  ) => Effect.Effect<ReadonlyArray<string>>
  readonly status: Effect.Effect<ReadonlyArray<EngineStatus>>
}

/**
 * The registry's tag.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as EngineRegistry from "sluice/EngineRegistry"
 *
 * const names = Effect.map(EngineRegistry.EngineRegistry, (registry) => registry.names)
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export class EngineRegistry extends Context.Tag("sluice/EngineRegistry")<EngineRegistry, Service>() {}

/**
 * Options of {@link make} and {@link layer}: the engines, the `default` engine, the registry's `idleTimeToLive`
 * (default 5 minutes; an engine's own wins) and custom `backends` (by backend name; they may replace a built-in).
 *
 * @example
 * ```ts
 * import type * as EngineRegistry from "sluice/EngineRegistry"
 *
 * const options: EngineRegistry.Options = {
 *   engines: [{ name: "fast", backend: "dry-run" }, { name: "local", backend: "ollama", model: "qwen3:8b" }],
 *   default: "fast",
 *   idleTimeToLive: "1 minute"
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<B extends Readonly<Record<string, Backend.Any>> = {}> {
  readonly engines: ReadonlyArray<SpecInput>
  readonly default?: string | undefined
  readonly idleTimeToLive?: Duration.DurationInput | undefined
  readonly backends?: B | undefined
}

/**
 * Options of {@link layerFile} and {@link readFile}: custom `backends`, and the registry's `idleTimeToLive` when the
 * file does not set one.
 *
 * @example
 * ```ts
 * import type * as EngineRegistry from "sluice/EngineRegistry"
 *
 * const options: EngineRegistry.FileOptions = { idleTimeToLive: "30 seconds" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface FileOptions<B extends Readonly<Record<string, Backend.Any>> = {}> {
  readonly idleTimeToLive?: Duration.DurationInput | undefined
  readonly backends?: B | undefined
}

// =============================================================================
// backends
// =============================================================================

/**
 * The built-in backends (see {@link BuiltinBackend}), for reuse in custom ones.
 *
 * @example
 * ```ts
 * import * as DryRun from "sluice/engines/DryRun"
 * import * as EngineRegistry from "sluice/EngineRegistry"
 *
 * const vllmOrDryRun: EngineRegistry.Backend<never, any> = (spec, resolved) =>
 *   spec.endpoint === undefined ? DryRun.layer() : EngineRegistry.builtins.vllm(spec, resolved)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const builtins: {
  readonly [K in BuiltinBackend]: Backend<
    K extends "llama-cpp" | "vllm_local" ? LlamaCpp.LlamaCppError : never,
    HttpClient.HttpClient
  >
} = {
  "openai": (spec, { apiKey }) =>
    OpenAiResponses.layer({
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
  "openrouter": (spec, resolved) =>
    OpenAiCompat.layer(OpenAiCompat.presets.openrouter({ ...compatConfig(spec, resolved), model: spec.model ?? "" })),
  "ollama": (spec, { apiKey }) =>
    Ollama.layer({
      ...defined({
        name: spec.name,
        baseUrl: spec.endpoint,
        apiKey,
        headers: spec.headers,
        timeout: spec.timeout,
        options: spec.options,
        sampling: spec.sampling
      }),
      model: spec.model ?? ""
    }),
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
    ...defined({ sampling: spec.sampling, name: spec.name })
  })
}

const defaultApiKeyEnv: Partial<Record<string, string>> = {
  "openai": "OPENAI_API_KEY",
  "openrouter": "OPENROUTER_API_KEY"
}

// =============================================================================
// constructors
// =============================================================================

/**
 * Builds the registry's service from engines given in code. The definitions are validated as a file would be
 * (errors name the field, e.g. `engines[1].model`); engines with `lazy: false` start now. The service lives in the
 * enclosing `Scope`: closing it stops every engine.
 *
 * @example
 * ```ts
 * import { FetchHttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 * import * as EngineRegistry from "sluice/EngineRegistry"
 *
 * const program = Effect.gen(function*() {
 *   const registry = yield* EngineRegistry.make({ engines: [{ name: "fast", backend: "dry-run" }] })
 *   return registry.names
 * }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <B extends Readonly<Record<string, Backend.Any>> = {}>(
  options: Options<B>
): Effect.Effect<
  Service,
  EngineRegistryError,
  Scope.Scope | HttpClient.HttpClient | Backend.Context<B[keyof B]>
> =>
  Effect.suspend(() => {
    const backends = options.backends ?? {}
    return decodeDefinition(
      { engines: options.engines, ...(options.default === undefined ? {} : { default: options.default }) },
      Object.keys(backends),
      undefined,
      undefined
    ).pipe(
      Effect.flatMap((definition) =>
        makeWith(definition, backends, options.idleTimeToLive) as Effect.Effect<
          Service,
          EngineRegistryError,
          Scope.Scope | HttpClient.HttpClient | Backend.Context<B[keyof B]>
        >
      )
    )
  })

/**
 * Builds the registry's service from a {@link Definition} that is already decoded (e.g. by {@link parse}).
 *
 * @example
 * ```ts
 * import { FetchHttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 * import * as EngineRegistry from "sluice/EngineRegistry"
 *
 * const program = EngineRegistry.parse("engines:\n  - { name: fast, backend: dry-run }\n").pipe(
 *   Effect.flatMap((definition) => EngineRegistry.fromDefinition(definition)),
 *   Effect.scoped,
 *   Effect.provide(FetchHttpClient.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromDefinition = <B extends Readonly<Record<string, Backend.Any>> = {}>(
  definition: Definition,
  options?: FileOptions<B> | undefined
): Effect.Effect<
  Service,
  EngineRegistryError,
  Scope.Scope | HttpClient.HttpClient | Backend.Context<B[keyof B]>
> =>
  Effect.suspend(() => {
    const backends = options?.backends ?? {}
    const issues = check(definition, Object.keys(backends))
    if (issues.length > 0) return Effect.fail(invalid(issues, undefined, undefined))
    return makeWith(definition, backends, options?.idleTimeToLive)
  })

/**
 * Parses and validates an engine definition written in YAML or JSON (`format`; YAML by default, JSON when `file`
 * ends in `.json`). Every problem is reported with its line, column and field; `file` names the source in messages.
 *
 * @example
 * ```ts
 * import * as EngineRegistry from "sluice/EngineRegistry"
 *
 * const definition = EngineRegistry.parse(
 *   "engines:\n  - name: fast\n    backend: dry-run\n    latency: 20 millis\n",
 *   { file: "engines.yml" }
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const parse = (
  text: string,
  options?: {
    readonly file?: string | undefined
    readonly format?: "yaml" | "json" | undefined
    readonly backends?: ReadonlyArray<string> | undefined
  } | undefined
): Effect.Effect<Definition, EngineRegistryError> =>
  Effect.suspend(() => {
    const file = options?.file
    const format = options?.format ?? (file !== undefined && /\.json$/i.test(file) ? "json" : "yaml")
    const backends = options?.backends ?? []
    if (text.trim() === "") return Effect.fail(empty(file))
    if (format === "json") {
      const syntax = scanJson(text)
      if (syntax !== undefined) {
        const lines = new Yaml.LineCounter()
        lines.addNewLine(0)
        for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) lines.addNewLine(i + 1)
        return Effect.fail(invalid(
          [{ field: "", message: `JSON syntax error: ${syntax.message}`, ...linePos(lines, syntax.offset) }],
          file,
          undefined
        ))
      }
    }
    const lineCounter = new Yaml.LineCounter()
    const document = Yaml.parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true })
    if (document.errors.length > 0) {
      return Effect.fail(invalid(
        document.errors.map((error): Issue => ({
          field: "",
          message: `${format === "json" ? "JSON" : "YAML"} syntax error: ${error.message}`,
          ...linePos(lineCounter, error.pos[0])
        })),
        file,
        undefined
      ))
    }
    const value = Either.try(() => document.toJS({ maxAliasCount: 1000 }) as unknown)
    if (Either.isLeft(value)) {
      return Effect.fail(invalid([{ field: "", message: describe(value.left) }], file, undefined))
    }
    if (value.right === null || value.right === undefined) return Effect.fail(empty(file))
    const locate = (path: ReadonlyArray<PropertyKey>) => locateNode(document, lineCounter, path)
    return decodeDefinition(value.right, backends, file, locate)
  })

/**
 * Reads, parses and validates an `engines.yml` or JSON file (see {@link parse}).
 *
 * @example
 * ```ts
 * import { NodeFileSystem } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import * as EngineRegistry from "sluice/EngineRegistry"
 *
 * const definition = EngineRegistry.readFile("engines.yml").pipe(Effect.provide(NodeFileSystem.layer))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const readFile = (
  path: string,
  options?: { readonly backends?: ReadonlyArray<string> | undefined } | undefined
): Effect.Effect<Definition, EngineRegistryError, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    fs.readFileString(path).pipe(
      Effect.mapError((cause) =>
        new EngineRegistryError({ reason: "ReadFailed", file: path, description: describe(cause), cause })
      ),
      Effect.flatMap((text) => parse(text, { file: path, backends: options?.backends }))
    ))

// =============================================================================
// layers
// =============================================================================

/**
 * The registry as a Layer, from engines given in code. It needs an `HttpClient` (for the HTTP backends) and what the
 * custom backends need; it fails when a definition is invalid or a non-lazy engine cannot start.
 *
 * @example
 * ```ts
 * import { FetchHttpClient } from "@effect/platform"
 * import { Layer } from "effect"
 * import * as EngineRegistry from "sluice/EngineRegistry"
 *
 * const Engines = EngineRegistry.layer({
 *   engines: [
 *     { name: "fast", backend: "dry-run", latency: "20 millis" },
 *     { name: "local", backend: "vllm", model: "Qwen/Qwen3-8B", sampling: { temperature: 0 } }
 *   ],
 *   idleTimeToLive: "2 minutes"
 * }).pipe(Layer.provide(FetchHttpClient.layer))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <B extends Readonly<Record<string, Backend.Any>> = {}>(
  options: Options<B>
): Layer.Layer<EngineRegistry, EngineRegistryError, HttpClient.HttpClient | Backend.Context<B[keyof B]>> =>
  Layer.scoped(EngineRegistry, make(options))

/**
 * The registry as a Layer, from an `engines.yml` or JSON file (see {@link parse} for the error reports).
 *
 * @example
 * ```ts
 * import { FetchHttpClient } from "@effect/platform"
 * import { NodeFileSystem } from "@effect/platform-node"
 * import { Layer } from "effect"
 * import * as EngineRegistry from "sluice/EngineRegistry"
 *
 * const Engines = EngineRegistry.layerFile("engines.yml").pipe(
 *   Layer.provide([FetchHttpClient.layer, NodeFileSystem.layer])
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFile = <B extends Readonly<Record<string, Backend.Any>> = {}>(
  path: string,
  options?: FileOptions<B> | undefined
): Layer.Layer<
  EngineRegistry,
  EngineRegistryError,
  FileSystem.FileSystem | HttpClient.HttpClient | Backend.Context<B[keyof B]>
> =>
  Layer.scoped(
    EngineRegistry,
    Effect.flatMap(
      readFile(path, { backends: Object.keys(options?.backends ?? {}) }),
      (definition) => makeWith(definition, options?.backends ?? {}, options?.idleTimeToLive)
    )
  )

/**
 * The named engine as the `LanguageModel` in context, held for as long as the Layer lives (so it is never idle
 * while the Layer is in use).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as EngineRegistry from "sluice/EngineRegistry"
 * import * as Llm from "sluice/Llm"
 * import * as Node from "sluice/Node"
 *
 * const program = Node.run(Llm.text({ prompt: (s: string) => s }), "hi").pipe(
 *   Effect.provide(EngineRegistry.layerEngine("fast"))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerEngine = (
  name: string
): Layer.Layer<LanguageModel.LanguageModel, EngineRegistryError, EngineRegistry> =>
  Layer.scoped(LanguageModel.LanguageModel, Effect.flatMap(EngineRegistry, (registry) => registry.get(name)))

/**
 * The default engine (the definition's `default`, or its first engine) as the `LanguageModel` in context.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as EngineRegistry from "sluice/EngineRegistry"
 * import * as Llm from "sluice/Llm"
 * import * as Node from "sluice/Node"
 *
 * const program = Node.run(Llm.text({ prompt: (s: string) => s }), "hi").pipe(
 *   Effect.provide(EngineRegistry.layerDefault)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDefault: Layer.Layer<LanguageModel.LanguageModel, EngineRegistryError, EngineRegistry> = Layer
  .scoped(
    LanguageModel.LanguageModel,
    Effect.flatMap(EngineRegistry, (registry) =>
      registry.defaultName === undefined
        ? Effect.fail(new EngineRegistryError({ reason: "UnknownEngine", engine: "(default)", known: [] }))
        : registry.get(registry.defaultName))
  )

// =============================================================================
// accessors
// =============================================================================

/**
 * The named engine, held until the enclosing `Scope` closes.
 *
 * @example
 * ```ts
 * import { LanguageModel } from "@effect/ai"
 * import { Effect } from "effect"
 * import * as EngineRegistry from "sluice/EngineRegistry"
 *
 * const answer = Effect.gen(function*() {
 *   const model = yield* EngineRegistry.get("fast")
 *   return yield* model.generateText({ prompt: "Hello" })
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const get = (
  name: string
): Effect.Effect<LanguageModel.Service, EngineRegistryError, EngineRegistry | Scope.Scope> =>
  Effect.flatMap(EngineRegistry, (registry) => registry.get(name))

/**
 * Starts engines now (all of them when `names` is omitted); they stay up until idle.
 *
 * @example
 * ```ts
 * import * as EngineRegistry from "sluice/EngineRegistry"
 *
 * const program = EngineRegistry.warmup(["local"])
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const warmup = (
  names?: ReadonlyArray<string> | undefined
): Effect.Effect<void, EngineRegistryError, EngineRegistry> =>
  Effect.flatMap(EngineRegistry, (registry) => registry.warmup(names))

/**
 * Stops the idle engines now; with `force`, retires the engines in use too (see {@link Service}).
 *
 * @example
 * ```ts
 * import * as EngineRegistry from "sluice/EngineRegistry"
 *
 * const program = EngineRegistry.flush({ force: true })
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const flush = (
  options?: { readonly force?: boolean | undefined } | undefined
): Effect.Effect<ReadonlyArray<string>, never, EngineRegistry> =>
  Effect.flatMap(EngineRegistry, (registry) => registry.flush(options))

/**
 * The state of every engine.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as EngineRegistry from "sluice/EngineRegistry"
 *
 * const live = Effect.map(EngineRegistry.status, (all) => all.filter((s) => s.state !== "stopped"))
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const status: Effect.Effect<ReadonlyArray<EngineStatus>, never, EngineRegistry> = Effect.flatMap(
  EngineRegistry,
  (registry) => registry.status
)

// =============================================================================
// combinators
// =============================================================================

/**
 * What {@link provide} makes of an Effect or a Stream: the same, needing the `EngineRegistry` instead of a
 * `LanguageModel`, and failing with `EngineRegistryError` too.
 *
 * @example
 * ```ts
 * import type { LanguageModel } from "@effect/ai"
 * import type { Effect } from "effect"
 * import type * as EngineRegistry from "sluice/EngineRegistry"
 *
 * type Answer = EngineRegistry.Provided<Effect.Effect<string, never, LanguageModel.LanguageModel>>
 * // Effect<string, EngineRegistryError, EngineRegistry>
 * ```
 *
 * @since 0.1.0
 * @category utility types
 */
export type Provided<Self> = Self extends Effect.Effect<infer A, infer E, infer R>
  ? Effect.Effect<A, E | EngineRegistryError, Exclude<R, LanguageModel.LanguageModel> | EngineRegistry>
  : Self extends Stream.Stream<infer A, infer E, infer R>
    ? Stream.Stream<A, E | EngineRegistryError, Exclude<R, LanguageModel.LanguageModel> | EngineRegistry>
  : never

/**
 * Provides the named engine as the `LanguageModel` of an Effect or a Stream. The engine is acquired when the Effect
 * starts (the Stream starts) and held until it ends, then released (it stays up until idle).
 *
 * @example
 * ```ts
 * import { LanguageModel } from "@effect/ai"
 * import { Stream } from "effect"
 * import * as EngineRegistry from "sluice/EngineRegistry"
 *
 * const answer = LanguageModel.generateText({ prompt: "Hello" }).pipe(EngineRegistry.provide("fast"))
 * const tokens = LanguageModel.streamText({ prompt: "Hello" }).pipe(EngineRegistry.provide("local"), Stream.take(5))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const provide: {
  (
    name: string
  ): <Self extends Effect.Effect<any, any, any> | Stream.Stream<any, any, any>>(self: Self) => Provided<Self>
  <Self extends Effect.Effect<any, any, any> | Stream.Stream<any, any, any>>(self: Self, name: string): Provided<Self>
} = dual(
  2,
  (self: Effect.Effect<any, any, any> | Stream.Stream<any, any, any>, name: string): any =>
    Effect.isEffect(self) ? provideEffect(self, name) : provideStream(self, name)
)

/**
 * Runs a node on the named engine: the node's body (and its observers) get the engine as their `LanguageModel`, held
 * for the whole of the node's stream. The node then needs the `EngineRegistry` instead of a `LanguageModel`. An
 * observer that cannot get the engine (an unknown name) is skipped: the node itself fails with the typed error.
 *
 * @example
 * ```ts
 * import * as EngineRegistry from "sluice/EngineRegistry"
 * import * as Llm from "sluice/Llm"
 *
 * const summarise = Llm.text({ name: "summarise", prompt: (doc: string) => `Summarise: ${doc}` }).pipe(
 *   EngineRegistry.withEngine("local")
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withEngine: {
  (name: string): <I, O, E, R>(
    self: Node.Node<I, O, E, R>
  ) => Node.Node<I, O, E | EngineRegistryError, Exclude<R, LanguageModel.LanguageModel> | EngineRegistry>
  <I, O, E, R>(
    self: Node.Node<I, O, E, R>,
    name: string
  ): Node.Node<I, O, E | EngineRegistryError, Exclude<R, LanguageModel.LanguageModel> | EngineRegistry>
} = dual(
  2,
  <I, O, E, R>(
    self: Node.Node<I, O, E, R>,
    name: string
  ): Node.Node<I, O, E | EngineRegistryError, Exclude<R, LanguageModel.LanguageModel> | EngineRegistry> => {
    const node = Node.make(self.name, (input: I, context) => provideStream(self.body(input, context), name))
    const observers = self.observers
    if (observers.length === 0) return node
    return Node.observe(
      node,
      (event) =>
        provideEffect(Effect.forEach(observers, (observe) => observe(event), { discard: true }), name).pipe(
          Effect.catchAll(() => Effect.void)
        )
    )
  }
)

// =============================================================================
// internal: the registry
// =============================================================================

interface Instance {
  readonly key: Key
  state: "starting" | "ready"
  refCount: number
}

interface Entry {
  readonly instance: Instance
  readonly service: LanguageModel.Service
}

/**
 * The `RcMap` key of an engine instance. The generation changes whenever an instance is invalidated: `RcMap` (3.22)
 * keys its release logic by key, so re-using a key while an invalidated instance is still held would let that
 * instance's release evict its successor.
 */
interface Key {
  readonly name: string
  readonly generation: number
}

const makeWith = <R>(
  definition: Definition,
  custom: Readonly<Record<string, Backend<unknown, R>>>,
  fallbackTtl: Duration.DurationInput | undefined
): Effect.Effect<Service, EngineRegistryError, Scope.Scope | HttpClient.HttpClient | R> =>
  Effect.gen(function*() {
    const backends: Readonly<Record<string, Backend<unknown, R | HttpClient.HttpClient>>> = { ...builtins, ...custom }
    const specs = new Map(definition.engines.map((spec) => [spec.name, spec]))
    const names = definition.engines.map((spec) => spec.name)
    const ttl = definition.idleTimeToLive ?? Duration.decode(fallbackTtl ?? "5 minutes")
    const keys = new Map(names.map((name) => [name, Data.struct({ name, generation: 0 })]))
    const current = new Map<string, Instance>()
    const retired = new Set<Instance>()
    const starts = new Map<string, number>()

    const start = (key: Key) =>
      Effect.gen(function*() {
        const spec = specs.get(key.name)!
        const instance: Instance = { key, state: "starting", refCount: 0 }
        current.set(spec.name, instance)
        starts.set(spec.name, (starts.get(spec.name) ?? 0) + 1)
        const forget = Effect.sync(() => {
          if (current.get(spec.name) === instance) current.delete(spec.name)
          retired.delete(instance)
        })
        yield* Effect.addFinalizer(() => forget)
        const apiKey = yield* resolveApiKey(spec).pipe(Effect.onError(() => forget))
        const backend = backends[spec.backend]!
        const context = yield* Layer.build(backend(spec, { apiKey })).pipe(
          Effect.mapError((cause) =>
            new EngineRegistryError({ reason: "StartFailed", engine: spec.name, description: describe(cause), cause })
          ),
          Effect.onError(() => forget)
        )
        instance.state = "ready"
        return { instance, service: Context.get(context, LanguageModel.LanguageModel) } satisfies Entry
      })

    const map = yield* RcMap.make({
      lookup: start,
      idleTimeToLive: (key: Key) => specs.get(key.name)?.idleTimeToLive ?? ttl
    })

    /** Takes an instance out of the registry: closed now if unused, else when its last user releases it. */
    const invalidate = (key: Key): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (keys.get(key.name) === key) {
          keys.set(key.name, Data.struct({ name: key.name, generation: key.generation + 1 }))
        }
        return RcMap.invalidate(map, key)
      })

    const unknown = (name: string) => new EngineRegistryError({ reason: "UnknownEngine", engine: name, known: names })

    const get = (name: string): Effect.Effect<LanguageModel.Service, EngineRegistryError, Scope.Scope> =>
      Effect.suspend(() => {
        const key = keys.get(name)
        if (key === undefined) return Effect.fail(unknown(name))
        return Effect.flatMap(
          RcMap.get(map, key).pipe(Effect.tapError(() => invalidate(key))),
          (entry) =>
            Effect.as(
              Effect.acquireRelease(
                Effect.sync(() => {
                  entry.instance.refCount++
                }),
                () =>
                  Effect.sync(() => {
                    entry.instance.refCount--
                  })
              ),
              entry.service
            )
        )
      })

    const warmup = (selected?: ReadonlyArray<string> | undefined): Effect.Effect<void, EngineRegistryError> =>
      Effect.suspend(() => {
        const targets = selected ?? names
        const missing = targets.find((name) => !specs.has(name))
        if (missing !== undefined) return Effect.fail(unknown(missing))
        return Effect.scoped(Effect.forEach(targets, get, { concurrency: "unbounded", discard: true }))
      }).pipe(Effect.withSpan("EngineRegistry.warmup"))

    const flush = (
      options?: { readonly force?: boolean | undefined } | undefined
    ): Effect.Effect<ReadonlyArray<string>> =>
      Effect.suspend(() => {
        const force = options?.force === true
        const targets: Array<Instance> = []
        for (const [name, instance] of current) {
          if (instance.state === "ready" && instance.refCount === 0) {
            targets.push(instance)
          } else if (force) {
            current.delete(name)
            retired.add(instance)
            targets.push(instance)
          }
        }
        return Effect.as(
          Effect.forEach(targets, (instance) => invalidate(instance.key), { discard: true }),
          targets.map((instance) => instance.key.name)
        )
      }).pipe(Effect.withSpan("EngineRegistry.flush"))

    const status = Effect.sync(() =>
      definition.engines.map((spec): EngineStatus => {
        const instance = current.get(spec.name)
        let retiredUsers = 0
        for (const old of retired) if (old.key.name === spec.name) retiredUsers += old.refCount
        return {
          name: spec.name,
          backend: spec.backend,
          model: spec.model,
          lazy: spec.lazy ?? true,
          state: instance === undefined
            ? "stopped"
            : instance.state === "starting"
            ? "starting"
            : instance.refCount > 0
            ? "in-use"
            : "idle",
          refCount: instance?.refCount ?? 0,
          retired: retiredUsers,
          starts: starts.get(spec.name) ?? 0
        }
      })
    )

    const service: Service = {
      names,
      specs: definition.engines,
      defaultName: definition.default ?? names[0],
      get,
      warmup,
      flush,
      status
    }
    const eager = definition.engines.filter((spec) => spec.lazy === false).map((spec) => spec.name)
    if (eager.length > 0) yield* warmup(eager)
    return service
  })

const resolveApiKey = (spec: Spec): Effect.Effect<Redacted.Redacted | undefined, EngineRegistryError> => {
  const variable = spec.apiKeyEnv ?? defaultApiKeyEnv[spec.backend]
  if (variable === undefined) return Effect.succeed(undefined)
  const missing = (description: string) =>
    new EngineRegistryError({ reason: "MissingApiKey", engine: spec.name, variable, description })
  return Config.redacted(variable).pipe(
    Effect.mapError(() => missing("not set")),
    Effect.filterOrFail((key) => Redacted.value(key).trim() !== "", () => missing("empty"))
  )
}

const provideEffect = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  name: string
): Effect.Effect<A, E | EngineRegistryError, Exclude<R, LanguageModel.LanguageModel> | EngineRegistry> =>
  Effect.flatMap(EngineRegistry, (registry) =>
    Effect.acquireUseRelease(
      Scope.make(),
      (scope) =>
        Effect.flatMap(
          Scope.extend(registry.get(name), scope),
          (service) => Effect.provideService(self, LanguageModel.LanguageModel, service)
        ),
      (scope, exit) => Scope.close(scope, exit)
    ))

const provideStream = <A, E, R>(
  self: Stream.Stream<A, E, R>,
  name: string
): Stream.Stream<A, E | EngineRegistryError, Exclude<R, LanguageModel.LanguageModel> | EngineRegistry> =>
  Stream.unwrapScoped(
    Effect.flatMap(EngineRegistry, (registry) =>
      Effect.map(
        registry.get(name),
        (service) => Stream.provideService(self, LanguageModel.LanguageModel, service)
      ))
  )

// =============================================================================
// internal: validation and locations
// =============================================================================

type Path = ReadonlyArray<PropertyKey>

interface PathIssue {
  readonly path: Path
  readonly message: string
}

type Locator = (path: Path) => { readonly line: number; readonly column: number } | undefined

const decodeDefinitionSchema = Schema.decodeUnknownEither(Definition, { errors: "all", onExcessProperty: "error" })

const decodeDefinition = (
  raw: unknown,
  backends: ReadonlyArray<string>,
  file: string | undefined,
  locate: Locator | undefined
): Effect.Effect<Definition, EngineRegistryError> =>
  Effect.suspend(() => {
    const { input, warnings } = compat(raw, backends)
    return Effect.zipRight(
      Effect.forEach(warnings, (warning) => Effect.logWarning(`${file === undefined ? "" : `${file}: `}${warning}`), {
        discard: true
      }),
      decodeChecked(input, backends, file, locate)
    )
  })

/** Chainette's in-process-only engine fields: accepted, and ignored with a warning. */
const inProcessOnly = ["dtype", "gpu_memory_utilization", "devices", "enable_reasoning"] as const

/** Chainette's backend names. */
const backendAliases: Readonly<Record<string, string>> = { vllm_api: "vllm", ollama_api: "ollama" }

/**
 * Chainette compatibility, before decoding: backend aliases, a `backend` inferred when omitted, and the in-process-only
 * fields removed with a warning.
 */
const compat = (
  raw: unknown,
  custom: ReadonlyArray<string>
): { readonly input: unknown; readonly warnings: ReadonlyArray<string> } => {
  if (raw === null || typeof raw !== "object" || !Array.isArray((raw as Record<string, unknown>).engines)) {
    return { input: raw, warnings: [] }
  }
  const warnings: Array<string> = []
  const engines = ((raw as Record<string, unknown>).engines as ReadonlyArray<unknown>).map((entry, i) => {
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) return entry
    const spec = { ...entry as Record<string, unknown> }
    const name = `engines[${i}]${typeof spec.name === "string" ? ` (${spec.name})` : ""}`
    const ignored = inProcessOnly.filter((field) => spec[field] !== undefined)
    for (const field of ignored) delete spec[field]
    if (typeof spec.backend === "string" && !custom.includes(spec.backend)) {
      spec.backend = backendAliases[spec.backend] ?? spec.backend
    }
    if (spec.backend === undefined) {
      const inferred = inferBackend(spec, ignored.length > 0)
      if (inferred !== undefined) spec.backend = inferred
    }
    if (ignored.length > 0) {
      warnings.push(
        `${name}: ${ignored.join(", ")} ${ignored.length === 1 ? "applies" : "apply"} to Chainette's in-process vLLM ` +
          `only; ignored for the ${typeof spec.backend === "string" ? spec.backend : "engine's"} backend`
      )
    }
    return spec
  })
  return { input: { ...raw as Record<string, unknown>, engines }, warnings }
}

/**
 * The backend of an engine written without one: from its endpoint (OpenAI, OpenRouter, Ollama's port 11434, or any
 * other server as `openai-compat`), or in process (`llama-cpp`) for a `.gguf` model or Chainette's in-process fields.
 */
const inferBackend = (spec: Record<string, unknown>, inProcess: boolean): string | undefined => {
  if (typeof spec.endpoint === "string") {
    const endpoint = spec.endpoint
    if (/\/\/api\.openai\.com(?:[:/]|$)/.test(endpoint)) return "openai"
    if (/\/\/openrouter\.ai(?:[:/]|$)/.test(endpoint)) return "openrouter"
    if (/:11434(?:\/|$)/.test(endpoint)) return "ollama"
    return "openai-compat"
  }
  if (typeof spec.model === "string" && (/\.gguf$/i.test(spec.model) || inProcess)) return "llama-cpp"
  return undefined
}

const decodeChecked = (
  input: unknown,
  backends: ReadonlyArray<string>,
  file: string | undefined,
  locate: Locator | undefined
): Either.Either<Definition, EngineRegistryError> => {
  const decoded = decodeDefinitionSchema(input)
  if (Either.isLeft(decoded)) {
    const seen = new Set<string>()
    const issues: Array<PathIssue> = []
    const all = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)
    for (const issue of all) {
      const key = formatPath(issue.path)
      if (seen.has(key)) continue
      if (
        issue.message.startsWith("Expected undefined, actual") &&
        all.some((other) => other !== issue && isPrefix(issue.path, other.path))
      ) {
        continue
      }
      seen.add(key)
      issues.push({ path: issue.path, message: issue.message })
    }
    return Either.left(invalid(issues, file, locate))
  }
  const issues = check(decoded.right, backends)
  return issues.length > 0 ? Either.left(invalid(issues, file, locate)) : Either.right(decoded.right)
}

const dryRunOnly = ["latency", "tokensPerSecond", "failureRate", "words", "tokenSize"] as const
const httpOnly = ["endpoint", "apiKeyEnv", "headers", "timeout"] as const
const responsesSampling = new Set(["temperature", "topP", "maxTokens"])

const check = (definition: Definition, custom: ReadonlyArray<string>): Array<PathIssue> => {
  const issues: Array<PathIssue> = []
  const customSet = new Set(custom)
  const builtinNames = BuiltinBackend.literals as ReadonlyArray<string>
  const known = [...builtinNames, ...custom.filter((name) => !builtinNames.includes(name))]
  const firstIndex = new Map<string, number>()
  definition.engines.forEach((spec, i) => {
    const at = (...path: Array<PropertyKey>): Path => ["engines", i, ...path]
    const seen = firstIndex.get(spec.name)
    if (seen !== undefined) {
      issues.push({
        path: at("name"),
        message: `duplicate engine name ${JSON.stringify(spec.name)} (see engines[${seen}])`
      })
    } else {
      firstIndex.set(spec.name, i)
    }
    if (!known.includes(spec.backend)) {
      issues.push({
        path: at("backend"),
        message: `unknown backend ${JSON.stringify(spec.backend)} (expected one of: ${known.join(", ")})`
      })
      return
    }
    if (customSet.has(spec.backend)) return
    const backend = spec.backend as BuiltinBackend
    if (backend === "dry-run") {
      for (const field of httpOnly) {
        if (spec[field] !== undefined) {
          issues.push({ path: at(field), message: "does not apply to the dry-run backend" })
        }
      }
      return
    }
    if (backend === "llama-cpp" || backend === "vllm_local") {
      for (const field of httpOnly) {
        if (spec[field] !== undefined) {
          issues.push({ path: at(field), message: `does not apply to the ${backend} backend (it runs in process)` })
        }
      }
      const options = Schema.decodeUnknownEither(LlamaCpp.LoadOptions, { errors: "all", onExcessProperty: "error" })(
        spec.options ?? {}
      )
      if (Either.isLeft(options)) {
        // a union (e.g. of literals) reports one issue per member: one line per field, the expectations joined
        const byPath = new Map<string, { path: ReadonlyArray<PropertyKey>; messages: Array<string> }>()
        for (const issue of ParseResult.ArrayFormatter.formatErrorSync(options.left)) {
          const key = issue.path.join(".")
          const entry = byPath.get(key) ?? { path: issue.path, messages: [] }
          entry.messages.push(issue.message)
          byPath.set(key, entry)
        }
        for (const { messages, path } of byPath.values()) {
          const expected = messages.map((m) => /^Expected (.+), actual (.+)$/.exec(m))
          const message = messages.length > 1 && expected.every((m) => m !== null)
            ? `Expected ${expected.map((m) => m![1]).filter((e) => e !== "undefined").join(" | ")}, actual ${
              expected[0]![2]
            }`
            : messages[0]!
          issues.push({ path: at("options", ...path), message })
        }
      }
    }
    if (spec.model === undefined) {
      issues.push({
        path: at("model"),
        message: `is missing (required by the ${backend} backend${
          backend === "llama-cpp" || backend === "vllm_local" ? ": the path of the GGUF file" : ""
        })`
      })
    }
    if (backend === "openai-compat" && spec.endpoint === undefined) {
      issues.push({ path: at("endpoint"), message: "is missing (required by the openai-compat backend)" })
    }
    for (const field of dryRunOnly) {
      if (spec[field] !== undefined) {
        issues.push({ path: at(field), message: `applies to the dry-run backend only (this engine is ${backend})` })
      }
    }
    if (backend === "openai") {
      if (spec.timeout !== undefined) {
        issues.push({ path: at("timeout"), message: "is not supported by the openai backend" })
      }
      for (const field of Object.keys(spec.sampling ?? {})) {
        if (!responsesSampling.has(field) && spec.sampling?.[field as keyof Sampling.Sampling] !== undefined) {
          issues.push({
            path: at("sampling", field),
            message: "is not supported by the openai backend (it accepts temperature, topP and maxTokens)"
          })
        }
      }
    }
  })
  if (definition.default !== undefined && !firstIndex.has(definition.default)) {
    const names = [...firstIndex.keys()]
    issues.push({
      path: ["default"],
      message: `unknown engine ${JSON.stringify(definition.default)} (known engines: ${names.join(", ") || "none"})`
    })
  }
  return issues
}

const invalid = (
  issues: ReadonlyArray<PathIssue | Issue>,
  file: string | undefined,
  locate: Locator | undefined
): EngineRegistryError => {
  const located: Array<Issue> = issues.map((issue) => {
    if (!("path" in issue)) return issue
    const position = locate?.(issue.path)
    return {
      field: formatPath(issue.path),
      message: issue.message,
      ...(position === undefined ? {} : { line: position.line, column: position.column })
    }
  })
  located.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0))
  const first = located[0]!
  return new EngineRegistryError({
    reason: "InvalidConfig",
    ...(file === undefined ? {} : { file }),
    ...(first.line === undefined ? {} : { line: first.line }),
    ...(first.column === undefined ? {} : { column: first.column }),
    ...(first.field === "" ? {} : { field: first.field }),
    description: first.message,
    issues: located
  })
}

const empty = (file: string | undefined): EngineRegistryError =>
  invalid([{ field: "", message: "the definition is empty: expected an `engines:` list", line: 1 }], file, undefined)

const isPrefix = (prefix: Path, path: Path): boolean =>
  prefix.length <= path.length && prefix.every((segment, i) => segment === path[i])

const formatPath = (path: Path): string => {
  let out = ""
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`
    else if (typeof segment === "string" && /^[A-Za-z_$][\w$-]*$/.test(segment)) {
      out += out === ""
        ? segment
        : `.${segment}`
    } else out += `[${JSON.stringify(String(segment))}]`
  }
  return out
}

const linePos = (lineCounter: Yaml.LineCounter, offset: number): { line: number; column: number } => {
  const { col, line } = lineCounter.linePos(offset)
  return { line, column: col }
}

/** The position of the deepest node on the path: a map key when the path ends at one, else its value or item. */
const locateNode = (document: Yaml.Document, lineCounter: Yaml.LineCounter, path: Path) => {
  let node: unknown = document.contents
  let position = rangeStart(node)
  for (const segment of path) {
    if (Yaml.isMap(node)) {
      const pair = node.items.find((item) => keyOf(item.key) === String(segment))
      if (pair === undefined) break
      position = rangeStart(pair.key) ?? position
      node = pair.value
    } else if (Yaml.isSeq(node) && typeof segment === "number") {
      node = node.items[segment]
      position = rangeStart(node) ?? position
      if (node === undefined) break
    } else {
      break
    }
  }
  return position === undefined ? undefined : linePos(lineCounter, position)
}

const keyOf = (key: unknown): string | undefined =>
  Yaml.isScalar(key) ? String(key.value) : typeof key === "string" ? key : undefined

const rangeStart = (node: unknown): number | undefined =>
  Yaml.isNode(node) && node.range !== undefined && node.range !== null ? node.range[0] : undefined

/** The first JSON syntax error of a text (offset and what was expected), or `undefined` when it is valid JSON. */
const scanJson = (text: string): { readonly offset: number; readonly message: string } | undefined => {
  let i = 0
  let error: { readonly offset: number; readonly message: string } | undefined
  const fail = (message: string, offset = i): false => {
    error ??= { offset, message }
    return false
  }
  const found = () => i >= text.length ? "the end of the file" : JSON.stringify(text[i])
  const space = () => {
    while (i < text.length) {
      const c = text.charCodeAt(i)
      if (c !== 32 && c !== 9 && c !== 10 && c !== 13) break
      i++
    }
  }
  const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y
  const string = (): boolean => {
    const start = i++
    while (i < text.length) {
      const c = text.charCodeAt(i)
      if (c === 34) {
        i++
        return true
      }
      if (c < 32) return fail("unescaped control character (e.g. a line break) in a string")
      if (c === 92) {
        const next = text[i + 1]
        if (next === "u" && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 6
        else if (next !== undefined && "\"\\/bfnrt".includes(next)) i += 2
        else return fail("invalid escape sequence in a string")
      } else {
        i++
      }
    }
    return fail("unterminated string", start)
  }
  const value = (depth: number): boolean => {
    space()
    if (depth > 256) return fail("nested too deeply")
    const c = text[i]
    if (c === "{" || c === "[") {
      const close = c === "{" ? "}" : "]"
      i++
      space()
      if (text[i] === close) {
        i++
        return true
      }
      for (;;) {
        if (c === "{") {
          space()
          if (text[i] !== "\"") return fail(`expected a property name in double quotes, found ${found()}`)
          if (!string()) return false
          space()
          if (text[i] !== ":") return fail(`expected ":" after the property name, found ${found()}`)
          i++
        }
        if (!value(depth + 1)) return false
        space()
        if (text[i] === close) {
          i++
          return true
        }
        if (text[i] !== ",") return fail(`expected "," or "${close}", found ${found()}`)
        const comma = i++
        space()
        if (text[i] === close) return fail(`trailing comma before "${close}"`, comma)
      }
    }
    if (c === "\"") return string()
    for (const word of ["true", "false", "null"]) {
      if (text.startsWith(word, i)) {
        i += word.length
        return true
      }
    }
    number.lastIndex = i
    if (number.test(text)) {
      i = number.lastIndex
      return true
    }
    return fail(`expected a JSON value, found ${found()}`)
  }
  if (!value(0)) return error
  space()
  return i < text.length ? { offset: i, message: `unexpected ${found()} after the JSON value` } : undefined
}

const describe = (u: unknown): string =>
  Predicate.hasProperty(u, "message") && typeof u.message === "string" ? u.message : String(u)

const defined = <A extends object>(value: A): { [K in keyof A]?: Exclude<A[K], undefined> } => {
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(value)) if (v !== undefined) out[key] = v
  return out as { [K in keyof A]?: Exclude<A[K], undefined> }
}

const compatConfig = (spec: Spec, resolved: { readonly apiKey: Redacted.Redacted | undefined }) =>
  defined({
    name: spec.name,
    baseUrl: spec.endpoint,
    apiKey: resolved.apiKey,
    headers: spec.headers,
    sampling: spec.sampling,
    timeout: spec.timeout,
    extraBody: spec.options
  })
