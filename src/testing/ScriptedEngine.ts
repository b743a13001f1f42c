/**
 * A scripted `LanguageModel` for tests: replies are scripted per call sequence, per prompt match or by a function;
 * streamed in token chunks of a chosen size; failures are injected at chosen calls; latency runs on Effect's `Clock`
 * (so `TestClock.adjust` drives it). Every request is recorded for assertions.
 *
 * @since 0.1.0
 */
import type * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Engine from "../internal/languageModel.js"
import { chunkText, promptText, replyContent, streamReply } from "../internal/prompt.js"
import * as Sampling from "../Sampling.js"
import * as StructuredOutput from "../StructuredOutput.js"

/**
 * One scripted reply: plain text, a full reply (reasoning, text, tool calls, a structured `object`), or an `AiError`
 * to fail with.
 *
 * @since 0.1.0
 * @category models
 */
export type Reply =
  | string
  | AiError.AiError
  | {
    readonly text?: string | undefined
    readonly reasoning?: string | undefined
    /** A value answered as JSON text (for structured requests). */
    readonly object?: unknown
    readonly toolCalls?: ReadonlyArray<
      { readonly id?: string | undefined; readonly name: string; readonly params: unknown }
    >
    readonly finishReason?: Response.FinishReason | undefined
    /** Streamed chunks, overriding `tokenSize` for this reply. */
    readonly chunks?: ReadonlyArray<string> | undefined
  }

/**
 * A request the engine received.
 *
 * @since 0.1.0
 * @category models
 */
export interface Request {
  /** 1-based call number. */
  readonly call: number
  readonly method: "generateText" | "streamText"
  readonly prompt: Prompt.Prompt
  /** The prompt as `role: text` lines. */
  readonly text: string
  readonly tools: ReadonlyArray<string>
  /** The structured output requested, by `responseFormat` or `StructuredOutput.withFormat`. */
  readonly format: Option.Option<StructuredOutput.Format>
  /** The per-call sampling set with `Sampling.withSampling`. */
  readonly sampling: Sampling.Sampling | undefined
}

/**
 * The script. Resolution order for call `n`: `failures` (n) → the first `match` whose pattern matches the prompt
 * text → `replies[n - 1]` → `reply(request)`. A call with no reply fails the test with a defect naming the call.
 *
 * @since 0.1.0
 * @category models
 */
export interface Script {
  readonly replies?: ReadonlyArray<Reply> | undefined
  readonly match?: ReadonlyArray<readonly [string | RegExp | ((text: string) => boolean), Reply]> | undefined
  readonly reply?: ((request: Request) => Reply | Effect.Effect<Reply, AiError.AiError>) | undefined
  /** Errors to fail with, by 1-based call number. */
  readonly failures?: Readonly<Record<number, AiError.AiError>> | undefined
  /** Characters per streamed token. Default 4. */
  readonly tokenSize?: number | undefined
  /** Delay before each reply. */
  readonly latency?: Duration.DurationInput | undefined
  /** Delay between streamed tokens. */
  readonly tokenDelay?: Duration.DurationInput | undefined
}

/**
 * The recorded requests of a scripted engine.
 *
 * @since 0.1.0
 * @category tags
 */
export class ScriptedEngine extends Context.Tag("sluice/testing/ScriptedEngine")<ScriptedEngine, {
  readonly requests: Effect.Effect<ReadonlyArray<Request>>
}>() {}

/**
 * A `LanguageModel` Layer that follows a script, together with the `ScriptedEngine` service holding the requests.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Llm from "sluice/Llm"
 * import * as Node from "sluice/Node"
 * import * as ScriptedEngine from "sluice/testing/ScriptedEngine"
 *
 * const engine = ScriptedEngine.layer({ replies: ["Hello there", { text: "Second" }], tokenSize: 3 })
 * const program = Node.run(Llm.text({ prompt: (s: string) => s }), "hi").pipe(Effect.provide(engine))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (script: Script): Layer.Layer<LanguageModel.LanguageModel | ScriptedEngine> =>
  Layer.effectContext(Effect.gen(function*() {
    const requests = yield* Ref.make<ReadonlyArray<Request>>([])
    const tokenSize = script.tokenSize ?? 4
    const latency = script.latency === undefined ? Effect.void : Effect.sleep(script.latency)
    const tokenDelay = script.tokenDelay === undefined ? undefined : Duration.decode(script.tokenDelay)

    const resolve = (method: Request["method"], options: LanguageModel.ProviderOptions) =>
      Effect.gen(function*() {
        const format = yield* StructuredOutput.requested(options)
        const sampling = yield* Sampling.current
        const recorded = yield* Ref.modify(requests, (all): [Request, ReadonlyArray<Request>] => {
          const request: Request = {
            call: all.length + 1,
            method,
            prompt: options.prompt,
            text: promptText(options.prompt),
            tools: options.tools.map((tool) => tool.name),
            format,
            sampling
          }
          return [request, [...all, request]]
        })
        yield* latency
        const failure = script.failures?.[recorded.call]
        if (failure !== undefined) return yield* Effect.fail(failure)
        const matched = script.match?.find(([pattern]) =>
          typeof pattern === "string"
            ? recorded.text.includes(pattern)
            : pattern instanceof RegExp
            ? pattern.test(recorded.text)
            : pattern(recorded.text)
        )
        const scripted = matched?.[1] ?? script.replies?.[recorded.call - 1]
        const reply = scripted !== undefined
          ? scripted
          : script.reply !== undefined
          ? yield* toEffect(script.reply(recorded))
          : yield* Effect.dieMessage(`ScriptedEngine: no reply scripted for call ${recorded.call}:\n${recorded.text}`)
        if (isAiError(reply)) return yield* Effect.fail(reply)
        return toParts(reply, recorded.call, tokenSize, recorded.text)
      })

    const service = yield* Engine.make({
      generateText: (options) => Effect.map(resolve("generateText", options), replyContent),
      streamText: (options) =>
        Stream.unwrap(Effect.map(resolve("streamText", options), (reply) => streamReply(reply, tokenDelay)))
    })
    return Context.make(LanguageModel.LanguageModel, service).pipe(
      Context.add(ScriptedEngine, { requests: Ref.get(requests) })
    )
  }))

/**
 * The requests the scripted engine in context received so far.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as ScriptedEngine from "sluice/testing/ScriptedEngine"
 *
 * const program = Effect.map(ScriptedEngine.requests, (requests) => requests.length)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const requests: Effect.Effect<ReadonlyArray<Request>, never, ScriptedEngine> = Effect.flatMap(
  ScriptedEngine,
  (engine) => engine.requests
)

// =============================================================================
// internal
// =============================================================================

const isAiError = (u: unknown): u is AiError.AiError =>
  Predicate.isTagged(u, "HttpRequestError") || Predicate.isTagged(u, "HttpResponseError") ||
  Predicate.isTagged(u, "MalformedInput") || Predicate.isTagged(u, "MalformedOutput") ||
  Predicate.isTagged(u, "UnknownError")

const toEffect = <A, E>(value: A | Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.isEffect(value) ? value : Effect.succeed(value)

const toParts = (reply: Exclude<Reply, AiError.AiError>, call: number, tokenSize: number, prompt: string) => {
  const full = typeof reply === "string" ? { text: reply } : reply
  const text = full.object !== undefined ? JSON.stringify(Schema.encodeSync(Schema.Unknown)(full.object)) : full.text
  const chunks = full.chunks ?? (text === undefined ? undefined : chunkText(text, tokenSize))
  const toolCalls = full.toolCalls?.map((toolCall, i) => ({
    id: toolCall.id ?? `call_${call}_${i}`,
    name: toolCall.name,
    params: toolCall.params
  }))
  const outputText = `${full.reasoning ?? ""}${text ?? ""}${JSON.stringify(toolCalls ?? [])}`
  return {
    reasoning: full.reasoning === undefined ? undefined : chunkText(full.reasoning, tokenSize),
    text: chunks,
    toolCalls,
    finishReason: full.finishReason ?? (toolCalls && toolCalls.length > 0 ? "tool-calls" : "stop"),
    usage: { inputTokens: Math.ceil(prompt.length / 4), outputTokens: Math.ceil(outputText.length / 4) }
  } as const
}
