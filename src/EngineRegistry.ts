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
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { EngineRegistryError } from "./EngineRegistryError.js"
import type * as LlamaCpp from "./engines/LlamaCpp.js"
import * as Backends from "./internal/registry/backends.js"
import * as Issues from "./internal/registry/issues.js"
import * as Registry from "./internal/registry/service.js"
import * as Validate from "./internal/registry/validate.js"
import * as RegistryFile from "./internal/registryFile.js"
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
 * - `name`: the engine's name (the `engine` that steps and errors refer to); `backend`: a {@link BuiltinBackend} or a
 *   backend registered in `backends`;
 * - `model`: the backend's model id (a GGUF file's path for `llama-cpp`), required by every built-in backend but
 *   `dry-run`; `endpoint`: the server's base URL;
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
  /**
   * What a registry with the custom backends `B` needs: an `HttpClient` (for the built-in HTTP backends) and what
   * the custom backends' Layers need.
   *
   * @since 0.1.0
   * @category utility types
   */
  export type Requirements<B> = HttpClient.HttpClient | Context<B[keyof B]>
}

/**
 * The state of an engine:
 *
 * - `engine`: its name; `backend`, `model` and `lazy` as in its {@link Spec};
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
  readonly engine: string
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
 * - `get(engine)`: the engine, held (started if needed) until the enclosing `Scope` closes;
 * - `warmup(engines)`: start engines now (all when omitted); they then stay up until idle;
 * - `flush()`: stop the idle engines now. `flush({ force: true })` also retires the engines in use: they leave the
 *   registry at once, their in-flight users keep the instance they hold (their calls and streams are not
 *   interrupted) and it stops as soon as the last of them releases it; the next `get` starts a fresh instance.
 *   Both return the names of the engines flushed;
 * - `status`: the {@link EngineStatus} of every engine; `engines` (the engines' names), `specs`, `defaultEngine`.
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
  readonly engines: ReadonlyArray<string>
  readonly specs: ReadonlyArray<Spec>
  readonly defaultEngine: string | undefined
  readonly get: (engine: string) => Effect.Effect<LanguageModel.Service, EngineRegistryError, Scope.Scope>
  readonly warmup: (engines?: ReadonlyArray<string> | undefined) => Effect.Effect<void, EngineRegistryError>
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
 * const engines = Effect.map(EngineRegistry.EngineRegistry, (registry) => registry.engines)
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
} = Backends.builtins

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
 *   return registry.engines
 * }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <B extends Readonly<Record<string, Backend.Any>> = {}>(
  options: Options<B>
): Effect.Effect<Service, EngineRegistryError, Scope.Scope | Backend.Requirements<B>> =>
  Effect.suspend(() => {
    const backends = options.backends ?? {}
    const raw = { engines: options.engines, ...(options.default === undefined ? {} : { default: options.default }) }
    return Effect.flatMap(
      Validate.decode(decodeDefinition, raw, Object.keys(backends), undefined, undefined),
      (definition) => Registry.make(definition, backends, options.idleTimeToLive)
    ) as Effect.Effect<Service, EngineRegistryError, Scope.Scope | Backend.Requirements<B>>
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
): Effect.Effect<Service, EngineRegistryError, Scope.Scope | Backend.Requirements<B>> =>
  Effect.suspend(() => {
    const backends = options?.backends ?? {}
    const issues = Validate.check(definition, Object.keys(backends))
    if (issues.length > 0) return Effect.fail(Issues.invalid(issues, undefined, undefined))
    return Registry.make(definition, backends, options?.idleTimeToLive)
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
    return Either.match(RegistryFile.parse(text, file, RegistryFile.formatOf(file, options?.format)), {
      onLeft: Effect.fail,
      onRight: ({ locate, value }) => Validate.decode(decodeDefinition, value, options?.backends ?? [], file, locate)
    })
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
  Effect.flatMap(RegistryFile.read(path), (text) => parse(text, { file: path, backends: options?.backends }))

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
): Layer.Layer<EngineRegistry, EngineRegistryError, Backend.Requirements<B>> =>
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
): Layer.Layer<EngineRegistry, EngineRegistryError, FileSystem.FileSystem | Backend.Requirements<B>> =>
  Layer.scoped(
    EngineRegistry,
    Effect.flatMap(
      readFile(path, { backends: Object.keys(options?.backends ?? {}) }),
      (definition) => fromDefinition(definition, options)
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
  engine: string
): Layer.Layer<LanguageModel.LanguageModel, EngineRegistryError, EngineRegistry> =>
  Layer.scoped(LanguageModel.LanguageModel, Effect.flatMap(EngineRegistry, (registry) => registry.get(engine)))

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
      registry.defaultEngine === undefined
        ? Effect.fail(new EngineRegistryError({ reason: "UnknownEngine", engine: "(default)", known: [] }))
        : registry.get(registry.defaultEngine))
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
  engine: string
): Effect.Effect<LanguageModel.Service, EngineRegistryError, EngineRegistry | Scope.Scope> =>
  Effect.flatMap(EngineRegistry, (registry) => registry.get(engine))

/**
 * Starts engines now (all of them when `engines` is omitted); they stay up until idle.
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
  engines?: ReadonlyArray<string> | undefined
): Effect.Effect<void, EngineRegistryError, EngineRegistry> =>
  Effect.flatMap(EngineRegistry, (registry) => registry.warmup(engines))

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
    engine: string
  ): <Self extends Effect.Effect<any, any, any> | Stream.Stream<any, any, any>>(self: Self) => Provided<Self>
  <Self extends Effect.Effect<any, any, any> | Stream.Stream<any, any, any>>(self: Self, engine: string): Provided<Self>
} = dual(
  2,
  (self: Effect.Effect<any, any, any> | Stream.Stream<any, any, any>, engine: string): any =>
    Effect.isEffect(self) ? provideEffect(self, engine) : provideStream(self, engine)
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
  (engine: string): <I, O, E, R>(
    self: Node.Node<I, O, E, R>
  ) => Node.Node<I, O, E | EngineRegistryError, Exclude<R, LanguageModel.LanguageModel> | EngineRegistry>
  <I, O, E, R>(
    self: Node.Node<I, O, E, R>,
    engine: string
  ): Node.Node<I, O, E | EngineRegistryError, Exclude<R, LanguageModel.LanguageModel> | EngineRegistry>
} = dual(
  2,
  <I, O, E, R>(
    self: Node.Node<I, O, E, R>,
    engine: string
  ): Node.Node<I, O, E | EngineRegistryError, Exclude<R, LanguageModel.LanguageModel> | EngineRegistry> => {
    const node = Node.make(self.name, (input: I, context) => provideStream(self.body(input, context), engine))
    const observers = self.observers
    if (observers.length === 0) return node
    return Node.observe(
      node,
      (event) =>
        provideEffect(Effect.forEach(observers, (observe) => observe(event), { discard: true }), engine).pipe(
          Effect.catchAll(() => Effect.void)
        )
    )
  }
)

// =============================================================================
// internal
// =============================================================================

const decodeDefinition: Validate.DecodeSchema = Schema.decodeUnknownEither(Definition, {
  errors: "all",
  onExcessProperty: "error"
})

const provideEffect = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  engine: string
): Effect.Effect<A, E | EngineRegistryError, Exclude<R, LanguageModel.LanguageModel> | EngineRegistry> =>
  Effect.flatMap(EngineRegistry, (registry) =>
    Effect.acquireUseRelease(
      Scope.make(),
      (scope) =>
        Effect.flatMap(
          Scope.extend(registry.get(engine), scope),
          (service) => Effect.provideService(self, LanguageModel.LanguageModel, service)
        ),
      (scope, exit) => Scope.close(scope, exit)
    ))

const provideStream = <A, E, R>(
  self: Stream.Stream<A, E, R>,
  engine: string
): Stream.Stream<A, E | EngineRegistryError, Exclude<R, LanguageModel.LanguageModel> | EngineRegistry> =>
  Stream.unwrapScoped(
    Effect.flatMap(
      EngineRegistry,
      (registry) =>
        Effect.map(registry.get(engine), (service) => Stream.provideService(self, LanguageModel.LanguageModel, service))
    )
  )
