/**
 * The in-process engine: a `LanguageModel` that runs a GGUF model inside the Node process with `node-llama-cpp`
 * (llama.cpp bindings; prebuilt binaries for Linux, macOS and Windows, CPU, CUDA, Vulkan and Metal, ship in its npm
 * packages). `node-llama-cpp` is an optional peer dependency: install it next to sluice (`npm install node-llama-cpp`);
 * it is loaded only when a `LlamaCpp` Layer is built.
 *
 * - The model file is loaded when the Layer is built and released (context and model disposed) when its scope
 *   closes.
 * - Text streams token by token, as `text-*` parts; a thinking model's thought segments as `reasoning-*` parts.
 * - Structured output (`generateObject`, or `StructuredOutput.withFormat` around `streamText`) is guided decoding:
 *   the requested schema becomes a JSON-schema grammar that constrains every sampled token, so the reply is valid
 *   JSON of the schema's shape (what a grammar cannot enforce, such as patterns, is checked by the final decode).
 * - Tools are offered through the model's chat template when `node-llama-cpp` knows its function-calling syntax
 *   (Llama 3.1+, Qwen, Mistral, Functionary, …; a generic syntax otherwise): calls stream as `tool-params-*` parts,
 *   their arguments constrained by the tool's parameter schema, then `tool-call` parts with finish reason
 *   `tool-calls`. `toolChoice: "none"` offers no tool and `{ tool }` only that one; `"required"` cannot be forced and
 *   acts as `"auto"`.
 * - `sequences` context sequences serve that many calls at once; further calls wait for a free one.
 * - Interrupting the consumer aborts the generation (an `AbortSignal`) and waits for it to stop before the sequence
 *   serves another call.
 * - Sampling: the engine's `sampling` defaults with the call's `Sampling.withSampling` settings laid over them;
 *   without a temperature, decoding is greedy.
 *
 * @since 0.1.0
 */
import * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as NodeLlamaCpp from "node-llama-cpp"
import type { Llama, LlamaGrammar } from "node-llama-cpp"
import { describe } from "../internal/describe.js"
import { collect } from "../internal/engineHttp.js"
import * as Engine from "../internal/languageModel.js"
import * as Internal from "../internal/llamaCpp.js"
import * as Sampling from "../Sampling.js"
import * as StructuredOutput from "../StructuredOutput.js"

/**
 * Options of the engine: where the model is and how to run it.
 *
 * - `modelPath`: the GGUF file;
 * - `contextSize`: tokens of context per sequence (default: as much as fits in memory, up to the model's training
 *   context); `sequences`: concurrent calls (default 1);
 * - `gpu`: `"auto"` (default: CUDA, Vulkan or Metal when available), a backend by name, or `false` for the CPU;
 *   `gpuLayers`: layers offloaded to the GPU (`"auto"` by default, `"max"`, or a number);
 * - `threads`: CPU threads (default: one per core); `batchSize`: tokens evaluated per batch;
 * - `flashAttention`: use flash attention where the model supports it;
 * - `chatWrapper`: how prompts are laid out ({@link ChatWrapper}, default `"auto"`: from the model's chat template);
 * - `deltaInterval`: the shortest time between two deliveries of streamed parts (default 10 milliseconds): tokens
 *   that come faster are joined into one part (the first at once), so a fast model does not pay `LanguageModel`'s
 *   per-part cost per token; tokens slower than that leave one by one as they come; `0` delivers each at once;
 * - `sampling`: defaults for every call (a call's `Sampling.withSampling` settings override them);
 * - `engine`: the engine name in errors (default `"LlamaCpp"`).
 *
 * @example
 * ```ts
 * import type * as LlamaCpp from "sluice/engines/LlamaCpp"
 *
 * const options: LlamaCpp.Options = {
 *   modelPath: "models/Qwen3-1.7B-Q4_K_M.gguf",
 *   contextSize: 8192,
 *   sequences: 4,
 *   sampling: { temperature: 0.7, maxTokens: 512 }
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly modelPath: string
  readonly contextSize?: number | undefined
  readonly sequences?: number | undefined
  readonly gpu?: "auto" | "cuda" | "vulkan" | "metal" | false | undefined
  readonly gpuLayers?: number | "auto" | "max" | undefined
  readonly threads?: number | undefined
  readonly batchSize?: number | undefined
  readonly flashAttention?: boolean | undefined
  readonly chatWrapper?: ChatWrapper | undefined
  readonly deltaInterval?: Duration.DurationInput | undefined
  readonly sampling?: Sampling.Sampling | undefined
  readonly engine?: string | undefined
}

/**
 * How prompts are laid out for the model: `"auto"` (default) reads the model's chat template and picks the matching
 * `node-llama-cpp` chat wrapper (a specialised one, with its function-calling syntax, when the template is one it
 * knows; the Jinja template itself otherwise), which takes about a second at load; naming the wrapper skips that.
 *
 * @example
 * ```ts
 * import type * as LlamaCpp from "sluice/engines/LlamaCpp"
 *
 * const wrapper: LlamaCpp.ChatWrapper = "llama3.1"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ChatWrapper = typeof ChatWrapper.Type

/**
 * The schema of {@link ChatWrapper}.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as LlamaCpp from "sluice/engines/LlamaCpp"
 *
 * Schema.is(LlamaCpp.ChatWrapper)("chatML") // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChatWrapper = Schema.Literal(
  "auto",
  "general",
  "deepSeek",
  "qwen",
  "llama3.2-lightweight",
  "llama3.1",
  "llama3",
  "llama2Chat",
  "mistral",
  "alpacaChat",
  "functionary",
  "chatML",
  "falconChat",
  "gemma4",
  "gemma",
  "harmony",
  "muse",
  "seed",
  "jinjaTemplate"
)

/**
 * The schema of the load options an `engines.yml` entry of the `llama-cpp` backend gives under `options` (all but
 * `modelPath`, which is the entry's `model`, and `sampling`, which is its own field).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as LlamaCpp from "sluice/engines/LlamaCpp"
 *
 * const options = Schema.decodeUnknownSync(LlamaCpp.LoadOptions)({ contextSize: 4096, sequences: 2, gpu: false })
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const LoadOptions = Schema.Struct({
  contextSize: Schema.optional(Schema.Int.pipe(Schema.positive())),
  sequences: Schema.optional(Schema.Int.pipe(Schema.positive())),
  gpu: Schema.optional(Schema.Literal("auto", "cuda", "vulkan", "metal", false)),
  gpuLayers: Schema.optional(Schema.Union(Schema.Int.pipe(Schema.nonNegative()), Schema.Literal("auto", "max"))),
  threads: Schema.optional(Schema.Int.pipe(Schema.positive())),
  batchSize: Schema.optional(Schema.Int.pipe(Schema.positive())),
  flashAttention: Schema.optional(Schema.Boolean),
  chatWrapper: Schema.optional(ChatWrapper),
  /** Milliseconds (see {@link Options}). */
  deltaInterval: Schema.optional(Schema.Number.pipe(Schema.nonNegative()))
}).annotations({ identifier: "LlamaCpp.LoadOptions" })

/**
 * @since 0.1.0
 * @category type ids
 */
export const ErrorTypeId: unique symbol = Symbol.for("sluice/engines/LlamaCpp/LlamaCppError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type ErrorTypeId = typeof ErrorTypeId

/**
 * Why a {@link LlamaCppError} was raised.
 *
 * @example
 * ```ts
 * import type * as LlamaCpp from "sluice/engines/LlamaCpp"
 *
 * const reason: LlamaCpp.ErrorReason = "NotInstalled"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ErrorReason = typeof ErrorReason.Type

/**
 * The schema of {@link ErrorReason}.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as LlamaCpp from "sluice/engines/LlamaCpp"
 *
 * Schema.is(LlamaCpp.ErrorReason)("NotInstalled") // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const ErrorReason = Schema.Literal("NotInstalled", "BackendFailed", "LoadFailed")

/**
 * The engine could not start: `NotInstalled` (the optional peer dependency `node-llama-cpp` is missing),
 * `BackendFailed` (its native binaries did not load) or `LoadFailed` (the model file or its context could not be
 * loaded: a missing or invalid file, not enough memory).
 *
 * @example
 * ```ts
 * import { LlamaCppError } from "sluice/engines/LlamaCpp"
 *
 * const error = new LlamaCppError({ reason: "LoadFailed", modelPath: "model.gguf", description: "no such file" })
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class LlamaCppError extends Schema.TaggedError<LlamaCppError>("sluice/engines/LlamaCpp/LlamaCppError")(
  "LlamaCppError",
  {
    reason: ErrorReason,
    modelPath: Schema.String,
    description: Schema.String,
    cause: Schema.optional(Schema.Defect)
  }
) {
  /**
   * @since 0.1.0
   */
  readonly [ErrorTypeId]: ErrorTypeId = ErrorTypeId
  /**
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return false
  }
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `LlamaCpp (${this.modelPath}): ${this.reason} - ${this.description}`
  }
}

/**
 * Whether a value is a {@link LlamaCppError}.
 *
 * @example
 * ```ts
 * import * as LlamaCpp from "sluice/engines/LlamaCpp"
 *
 * LlamaCpp.isLlamaCppError(new Error("x")) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isLlamaCppError = (u: unknown): u is LlamaCppError => Predicate.hasProperty(u, ErrorTypeId)

/**
 * Loads the model and builds the engine's `LanguageModel` service; the model is released when the scope closes.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as LlamaCpp from "sluice/engines/LlamaCpp"
 *
 * const service = LlamaCpp.make({ modelPath: "models/model.gguf", sequences: 2 }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<LanguageModel.Service, LlamaCppError, Scope.Scope> =>
  Effect.gen(function*() {
    const engine = options.engine ?? "LlamaCpp"
    const { chatWrapper, context, llama, LlamaChat } = yield* load(options)
    const sequences = options.sequences ?? 1
    const slots = yield* Queue.bounded<Internal.Slot>(sequences)
    for (let i = 0; i < sequences; i++) {
      const sequence = context.getSequence()
      yield* Queue.offer(slots, { sequence, chat: new LlamaChat({ contextSequence: sequence, chatWrapper }) })
    }
    const grammarFor = grammars(llama, engine)
    let calls = 0
    const callId = () => `call_${(calls++).toString(36)}`
    const interval = Duration.toMillis(Duration.decode(options.deltaInterval ?? "10 millis"))

    const stream = (call: LanguageModel.ProviderOptions, method: string) =>
      Stream.unwrapScoped(Effect.gen(function*() {
        const format = yield* StructuredOutput.requested(call)
        const sampling = Sampling.merge(options.sampling, yield* Sampling.current)
        const history = Internal.encodeHistory(call.prompt)
        if (Either.isLeft(history)) {
          return yield* new AiError.MalformedInput({ module: engine, method, description: history.left })
        }
        const grammar = Option.isSome(format) ? yield* grammarFor(format.value, method) : undefined
        const slot = yield* Effect.acquireRelease(Queue.take(slots), (slot) => Queue.offer(slots, slot))
        return yield* Internal.generate(slot, {
          engine,
          method,
          history: history.right,
          options: Internal.encodeSampling(sampling),
          grammar,
          functions: grammar === undefined ? Internal.encodeFunctions(call) : undefined,
          callId,
          interval
        })
      }))

    return yield* Engine.make({
      generateText: (call) => collect(stream(call, "generateText")),
      streamText: (call) => stream(call, "streamText")
    })
  })

/**
 * The engine as a `LanguageModel` Layer: the model loads when the Layer is built and is released with it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as LlamaCpp from "sluice/engines/LlamaCpp"
 * import * as Llm from "sluice/Llm"
 * import * as Node from "sluice/Node"
 *
 * const Engine = LlamaCpp.layer({ modelPath: "models/Qwen3-1.7B-Q4_K_M.gguf", sequences: 4 })
 * const program = Node.run(Llm.text({ prompt: (s: string) => s }), "Hello").pipe(Effect.provide(Engine))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<LanguageModel.LanguageModel, LlamaCppError> =>
  Layer.scoped(LanguageModel.LanguageModel, make(options))

// =============================================================================
// internal
// =============================================================================

type Module = typeof NodeLlamaCpp

/** Loads the backend, the model and its context (released with the scope), and resolves the chat wrapper. */
const load = (options: Options) =>
  Effect.gen(function*() {
    const fail = (reason: ErrorReason, description: string) => (cause: unknown) =>
      new LlamaCppError({
        reason,
        modelPath: options.modelPath,
        description: `${description}: ${describe(cause)}`,
        cause
      })
    const llama = yield* backend(options.gpu ?? "auto", options.modelPath)
    const model = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          llama.loadModel({
            modelPath: options.modelPath,
            ...(options.gpuLayers === undefined ? {} : { gpuLayers: options.gpuLayers })
          }),
        catch: fail("LoadFailed", "cannot load the model")
      }),
      (model) => Effect.promise(() => model.dispose())
    )
    const context = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          model.createContext({
            sequences: options.sequences ?? 1,
            ...(options.contextSize === undefined ? {} : { contextSize: options.contextSize }),
            ...(options.threads === undefined ? {} : { threads: options.threads }),
            ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
            ...(options.flashAttention === undefined ? {} : { flashAttention: options.flashAttention })
          }),
        catch: fail("LoadFailed", "cannot create the context")
      }),
      (context) => Effect.promise(() => context.dispose())
    )
    const { LlamaChat, resolveChatWrapper } = yield* importModule(options.modelPath)
    const chatWrapper = yield* Effect.try({
      try: () =>
        options.chatWrapper === undefined || options.chatWrapper === "auto"
          ? resolveChatWrapper(model)
          : resolveChatWrapper(model, { type: options.chatWrapper }),
      catch: fail("LoadFailed", "cannot resolve the chat wrapper")
    })
    return { llama, context, chatWrapper, LlamaChat }
  })

/** The grammar of a requested output schema, built once per schema. */
const grammars = (llama: Llama, engine: string) => {
  const built = new WeakMap<object, Promise<LlamaGrammar>>()
  return (format: StructuredOutput.Format, method: string) =>
    Effect.tryPromise({
      try: () => {
        let grammar = built.get(format.schema)
        if (grammar === undefined) {
          grammar = llama.createGrammarForJsonSchema(Internal.toGbnfSchema(StructuredOutput.jsonSchema(format.schema)))
          built.set(format.schema, grammar)
        }
        return grammar
      },
      catch: (cause) =>
        new AiError.MalformedInput({
          module: engine,
          method,
          description: `the schema of ${format.objectName} cannot be a grammar: ${describe(cause)}`,
          cause
        })
    })
}

const importModule = (modelPath: string): Effect.Effect<Module, LlamaCppError> =>
  Effect.tryPromise({
    try: () => import("node-llama-cpp"),
    catch: (cause) =>
      new LlamaCppError({
        reason: "NotInstalled",
        modelPath,
        description: `cannot load node-llama-cpp (install it: npm install node-llama-cpp): ${describe(cause)}`,
        cause
      })
  })

/** One llama.cpp backend per GPU setting, shared by every model of the process (its binaries load once). */
const backends = new Map<string, Promise<Llama>>()

const backend = (gpu: NonNullable<Options["gpu"]>, modelPath: string): Effect.Effect<Llama, LlamaCppError> =>
  Effect.flatMap(importModule(modelPath), (module) =>
    Effect.tryPromise({
      try: () => {
        const key = String(gpu)
        let llama = backends.get(key)
        if (llama === undefined) {
          llama = module.getLlama({ gpu, build: "never", progressLogs: false, logLevel: module.LlamaLogLevel.error })
          backends.set(key, llama)
          llama.catch(() => backends.delete(key))
        }
        return llama
      },
      catch: (cause) =>
        new LlamaCppError({
          reason: "BackendFailed",
          modelPath,
          description: `node-llama-cpp's binaries did not load: ${describe(cause)}`,
          cause
        })
    }))
