/**
 * Language-model nodes over the `LanguageModel` service of `@effect/ai`.
 *
 * `Llm.text` streams the model's text as `Token` events (and its thinking as `Reasoning` events) and returns the
 * whole text; `Llm.object` asks for a value of an output `Schema` through the engine's structured-output channel and
 * returns it decoded. The engine is whatever `LanguageModel` Layer is provided: `DryRun`, a scripted engine in
 * tests, or a real backend.
 *
 * @since 0.1.0
 */
import type * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as Event from "./Event.js"
import * as Node from "./Node.js"
import { NodeError } from "./NodeError.js"

/**
 * How a node builds its prompt from its input: the user message, and optionally a system message.
 *
 * @since 0.1.0
 * @category models
 */
export interface PromptOptions<I> {
  readonly name?: string | undefined
  readonly prompt: (input: I) => string
  readonly system?: string | ((input: I) => string) | undefined
}

/**
 * Options of {@link text}.
 *
 * @since 0.1.0
 * @category models
 */
export interface TextOptions<I> extends PromptOptions<I> {}

/**
 * Options of {@link object}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ObjectOptions<I, IE, O, OE extends Record<string, unknown>> extends PromptOptions<I> {
  readonly input: Schema.Schema<I, IE>
  readonly output: Schema.Schema<O, OE>
}

/**
 * Builds the `Prompt` a node sends for an input.
 *
 * @example
 * ```ts
 * import * as Llm from "sluice/Llm"
 *
 * const prompt = Llm.makePrompt({ prompt: (s: string) => `Summarise: ${s}`, system: "Be brief." }, "a text")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makePrompt = <I>(options: PromptOptions<I>, input: I): Prompt.Prompt => {
  const user = options.prompt(input)
  if (options.system === undefined) return Prompt.make(user)
  const system = typeof options.system === "string" ? options.system : options.system(input)
  return Prompt.make([{ role: "system", content: system }, { role: "user", content: user }])
}

/**
 * A node that asks the model for text, streaming each delta as a `Token` event (thinking deltas as `Reasoning`,
 * tool calls as `ToolCall`) and returning the whole text. The `StepEnd` event carries the token usage.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as DryRun from "sluice/engines/DryRun"
 * import * as Llm from "sluice/Llm"
 * import * as Node from "sluice/Node"
 *
 * const summarise = Llm.text({ name: "summarise", prompt: (doc: string) => `Summarise in one line: ${doc}` })
 * const program = Node.run(summarise, "A long text").pipe(Effect.provide(DryRun.layer()))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const text = <I>(
  options: TextOptions<I>
): Node.Node<I, string, AiError.AiError, LanguageModel.LanguageModel> =>
  Node.make(options.name ?? "llm", (input, context) =>
    Stream.unwrap(Effect.clockWith((clock) =>
      Effect.sync(() => {
        const texts: Array<string> = []
        let usage: Event.Usage | undefined
        const events = Stream.mapChunks(
          LanguageModel.streamText({ prompt: makePrompt(options, input) }),
          (parts) => {
            const timestamp = clock.unsafeCurrentTimeMillis()
            const origin = { runId: context.runId, path: context.path, timestamp }
            const out: Array<Node.Emission<string>> = []
            for (const part of parts) {
              const event = toEvent(part, origin)
              if (event !== undefined) {
                if (event._tag === "Token") texts.push(event.text)
                out.push(event)
              } else if (part.type === "finish") {
                usage = toUsage(part.usage)
              }
            }
            return Chunk.unsafeFromArray(out)
          }
        )
        return Stream.concat(events, Stream.sync(() => Node.output(texts.join(""), usage)))
      })
    )))

/**
 * A node that asks the model for a value of the `output` schema through the engine's structured-output channel
 * (the schema is sent as JSON Schema) and returns it decoded. The input is validated with the `input` schema first:
 * an invalid input fails with a `NodeError` (reason `InvalidInput`) naming the offending fields.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import * as DryRun from "sluice/engines/DryRun"
 * import * as Llm from "sluice/Llm"
 * import * as Node from "sluice/Node"
 *
 * const Review = Schema.Struct({ text: Schema.String })
 * const Sentiment = Schema.Struct({ label: Schema.Literal("positive", "negative"), score: Schema.Number })
 * const classify = Llm.object({
 *   name: "classify",
 *   input: Review,
 *   output: Sentiment,
 *   prompt: (review) => `Classify the sentiment of: ${review.text}`
 * })
 * const program = Node.run(classify, { text: "Great!" }).pipe(Effect.provide(DryRun.layer()))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const object = <I, IE, O, OE extends Record<string, unknown>>(
  options: ObjectOptions<I, IE, O, OE>
): Node.Node<I, O, AiError.AiError | NodeError, LanguageModel.LanguageModel> => {
  const name = options.name ?? "llm"
  const validate = Schema.validate(options.input, { errors: "all" })
  return Node.fromEffect(name, (input: I) =>
    validate(input).pipe(
      Effect.mapError((error) =>
        new NodeError({
          node: name,
          reason: "InvalidInput",
          description: ParseResult.TreeFormatter.formatErrorSync(error),
          cause: error
        })
      ),
      Effect.flatMap((valid) =>
        LanguageModel.generateObject({
          prompt: makePrompt(options, valid),
          schema: options.output,
          objectName: name.replace(/[^A-Za-z0-9_-]/g, "_")
        })
      ),
      Effect.map((response) => response.value)
    ))
}

// =============================================================================
// internal
// =============================================================================

/**
 * Maps one streamed part of a model's response onto the event vocabulary, or `undefined` when it has no event.
 *
 * @example
 * ```ts
 * import * as Llm from "sluice/Llm"
 *
 * const event = Llm.toEvent({ type: "text-delta", id: "1", delta: "Hi", metadata: {} } as any, { runId: "r", path: [], timestamp: 0 })
 * ```
 *
 * @since 0.1.0
 * @category helpers
 */
export const toEvent = (part: Response.AnyPart, origin: Event.Origin): Event.Event | undefined => {
  switch (part.type) {
    case "text-delta":
      return { _tag: "Token", ...origin, text: part.delta }
    case "reasoning-delta":
      return { _tag: "Reasoning", ...origin, text: part.delta }
    case "tool-call":
      return { _tag: "ToolCall", ...origin, id: part.id, name: part.name, params: part.params }
    case "tool-result":
      return {
        _tag: "ToolResult",
        ...origin,
        id: part.id,
        name: part.name,
        result: part.encodedResult,
        isFailure: part.isFailure
      }
    case "error":
      return { _tag: "NonFatalError", ...origin, error: "ModelError", message: String(part.error) }
    default:
      return undefined
  }
}

const toUsage = (usage: Response.Usage): Event.Usage => {
  const out: { inputTokens?: number; outputTokens?: number; totalTokens?: number } = {}
  if (usage.inputTokens !== undefined) out.inputTokens = usage.inputTokens
  if (usage.outputTokens !== undefined) out.outputTokens = usage.outputTokens
  if (usage.totalTokens !== undefined) out.totalTokens = usage.totalTokens
  return out
}
