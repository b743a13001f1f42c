/**
 * Language-model nodes over the `LanguageModel` service of `@effect/ai`.
 *
 * `Llm.text` streams the model's text as `Token` events (its thinking as `Reasoning`, the arguments of its tool calls
 * as `ToolArgProgress` while they arrive) and returns the whole text; given `tools`, it runs the tool loop (calls,
 * results fed back, the model called again) and returns the last reply's text. `Llm.object` asks for a value of an
 * output `Schema`, streams the value as `PartialFields` events while it arrives, and returns it decoded; a reply that
 * does not decode fails with a `StructuredOutputError`, or is repaired by asking again with the issues fed back. The
 * engine is whatever `LanguageModel` Layer is provided: `DryRun`, a scripted engine in tests, or a real backend.
 *
 * **Guided decoding.** `Llm.object` sends its output schema through the engine's structured-output channel
 * (`StructuredOutput.withFormat`; sluice's engines turn it into OpenAI `response_format`, vLLM structured outputs,
 * Ollama `format`, or a prompt instruction). A `LanguageModel` that knows nothing of sluice ignores that channel, so
 * the `guided` option says where the schema goes:
 *
 * - `"auto"` (default): through the channel. An engine that reads it confirms it (`StructuredOutput.isConfirmed`);
 *   when a reply fails to decode and the engine did not confirm, the node asks once more with the JSON Schema in the
 *   system prompt (that extra call does not count as a repair) and remembers, for that `LanguageModel` service, to
 *   put the schema in the prompt from the first call on;
 * - `"engine"`: through the channel only, never in the prompt;
 * - `"prompt"`: in the system prompt only (the channel is not used).
 *
 * @since 0.1.0
 */
import type * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import type * as Tool from "@effect/ai/Tool"
import type * as Toolkit from "@effect/ai/Toolkit"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Agent from "./Agent.js"
import type { AgentError } from "./AgentError.js"
import * as Event from "./Event.js"
import { toEmissions } from "./internal/agent/events.js"
import { unknownToolParts } from "./internal/agent/message.js"
import { textPrompt } from "./internal/prompt.js"
import * as Retry from "./internal/retry.js"
import * as Structured from "./internal/structured.js"
import { unwrap } from "./internal/unwrap.js"
import * as Node from "./Node.js"
import { NodeError } from "./NodeError.js"
import * as PartialJson from "./PartialJson.js"
import * as StructuredOutput from "./StructuredOutput.js"
import type { StructuredOutputError } from "./StructuredOutputError.js"

/**
 * How a node builds its prompt from its input: the user message, and optionally a system message. `retry` (default
 * 2; 0 switches it off) is how many times a model call that failed with a transient error (429, 5xx, transport,
 * timeout; never 400/401/403/404) is tried again, with jittered exponential backoff and never sooner than the
 * server's retry-after, each after a `Retry` event.
 *
 * @example
 * ```ts
 * import type * as Llm from "sluice/Llm"
 *
 * const options: Llm.PromptOptions<string> = { prompt: (s) => `Summarise: ${s}`, system: "Be brief." }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface PromptOptions<I> {
  readonly name?: string | undefined
  readonly prompt: (input: I) => string
  readonly system?: string | ((input: I) => string) | undefined
  readonly retry?: number | undefined
}

/**
 * Options of {@link text}: besides the prompt, optional `tools` (a `Toolkit`, with `handlers` as for
 * `Agent.make`, or the toolkit's handlers from context) that the model may call, and `maxTurns` (default 10), the
 * most model calls of the tool loop.
 *
 * @example
 * ```ts
 * import type * as Llm from "sluice/Llm"
 *
 * const options: Llm.TextOptions<string> = { name: "answer", prompt: (q) => q }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface TextOptions<I, Tools extends Record<string, Tool.Any> = {}> extends PromptOptions<I> {
  readonly tools?: Toolkit.Toolkit<Tools> | undefined
  readonly maxTurns?: number | undefined
}

/**
 * Options of {@link object}:
 *
 * - `input` / `output`: the schemas of the input (validated before the call) and of the value asked for;
 * - `partial`: what streams while the reply arrives: `"raw"` (default) `PartialFields` with the value as parsed so
 *   far, `"validated"` only the fields that are complete and valid for their schema (a field shown never changes),
 *   `"none"` no `PartialFields`;
 * - `guided`: where the schema goes, `"auto"` (default), `"engine"` or `"prompt"` (see the module documentation);
 * - `repair`: how many times to ask again, with the issues fed back, when the reply does not decode (default 0);
 * - `objectName`: the name of the value for the backend (default: the node's name).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import type * as Llm from "sluice/Llm"
 *
 * const Tag = Schema.Struct({ tag: Schema.String })
 * const options: Llm.ObjectOptions<string, string, typeof Tag.Type, typeof Tag.Encoded> = {
 *   input: Schema.String,
 *   output: Tag,
 *   prompt: (s) => `Tag this: ${s}`,
 *   partial: "validated",
 *   repair: 2
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ObjectOptions<I, IE, O, OE> extends PromptOptions<I> {
  readonly input: Schema.Schema<I, IE>
  readonly output: Schema.Schema<O, OE>
  readonly partial?: "raw" | "validated" | "none" | undefined
  readonly guided?: "auto" | "engine" | "prompt" | undefined
  readonly repair?: number | undefined
  readonly objectName?: string | undefined
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
  if (options.system === undefined) return textPrompt(user)
  return textPrompt(user, typeof options.system === "string" ? options.system : options.system(input))
}

/**
 * A node that asks the model for text, streaming each delta as a `Token` event (thinking deltas as `Reasoning`,
 * tool-call argument fragments as `ToolArgProgress`, tool calls as `ToolCall`) and returning the whole text. The
 * `StepEnd` event carries the token usage.
 *
 * **Tools.** With `tools`, the node runs the tool loop of an `Agent` (a fresh one per input, with the node's system
 * prompt): the model's tool calls run (their failures and invalid arguments go back to the model as error results),
 * the results are fed back, and the model is called again until it answers without tools or `maxTurns` model calls
 * were made (then the node fails with `AgentError` `MaxTurnsExceeded`). Each model call streams under the path
 * `[...path, "turn-N"]`, each tool execution under `[...turnPath, "name:callId"]` with a `ToolResult` event; the
 * output is the text of the last reply. Without `tools`, a reply that calls a tool anyway does not fail the node:
 * its calls stream as `ToolCall` events and the output is the reply's text.
 *
 * @example
 * ```ts
 * import { Toolkit } from "@effect/ai"
 * import { Effect } from "effect"
 * import * as Agent from "sluice/Agent"
 * import * as DryRun from "sluice/engines/DryRun"
 * import * as Llm from "sluice/Llm"
 * import * as Node from "sluice/Node"
 *
 * const summarise = Llm.text({ name: "summarise", prompt: (doc: string) => `Summarise in one line: ${doc}` })
 * const program = Node.run(summarise, "A long text").pipe(Effect.provide(DryRun.layer()))
 *
 * const Sum = Agent.jsonSchemaTool("sum", {
 *   parameters: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } }, required: ["a", "b"] }
 * })
 * const add = Llm.text({
 *   name: "add",
 *   prompt: (question: string) => question,
 *   tools: Toolkit.make(Sum),
 *   handlers: { sum: ({ a, b }) => Effect.succeed(a + b) }
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const text: {
  <I, Tools extends Record<string, Tool.Any>, H extends Agent.Handlers<Tools>>(
    options: TextOptions<I, Tools> & { readonly tools: Toolkit.Toolkit<Tools>; readonly handlers: H }
  ): Node.Node<I, string, AiError.AiError | AgentError, LanguageModel.LanguageModel | Agent.HandlerContext<H>>
  <I, Tools extends Record<string, Tool.Any>>(
    options: TextOptions<I, Tools> & { readonly tools: Toolkit.Toolkit<Tools>; readonly handlers?: undefined }
  ): Node.Node<I, string, AiError.AiError | AgentError, LanguageModel.LanguageModel | Tool.HandlersFor<Tools>>
  <I>(
    options: TextOptions<I> & { readonly tools?: undefined; readonly handlers?: undefined }
  ): Node.Node<I, string, AiError.AiError, LanguageModel.LanguageModel>
} = <I>(
  options: TextOptions<I, Record<string, Tool.Any>> & { readonly handlers?: unknown }
): Node.Node<I, string, any, any> => options.tools === undefined ? textNode(options) : toolLoopNode(options)

const textNode = <I>(
  options: TextOptions<I, any>
): Node.Node<I, string, AiError.AiError, LanguageModel.LanguageModel> =>
  withRetry(
    options,
    Node.make(options.name ?? "llm", (input, context) =>
      // the model's stream straight from the service (`LanguageModel.streamText` adds a `Stream.unwrap`, a step per chunk)
      unwrap(Effect.clockWith((clock) =>
        Effect.map(LanguageModel.LanguageModel, (model) => {
          const texts: Array<string> = []
          const mapEvent = makeEventMapper()
          let usage: Event.Usage | undefined
          const parts = model.streamText({ prompt: makePrompt(options, input) }).pipe(
            Stream.catchAll((error) => {
              const raw = unknownToolParts(error, noTools)
              return raw === undefined
                ? Stream.fail(error)
                : Stream.fromIterable(raw as ReadonlyArray<Response.AnyPart>)
            })
          )
          const events = Stream.mapChunks(parts, (chunk) => {
            const timestamp = clock.unsafeCurrentTimeMillis()
            const origin = { runId: context.runId, path: context.path, timestamp }
            const out: Array<Node.Emission<string>> = []
            for (const part of chunk) {
              const event = mapEvent(part, origin)
              if (event !== undefined) {
                if (event._tag === "Token") texts.push(event.text)
                out.push(event)
              } else if (part.type === "finish") {
                usage = Event.toUsage(part.usage)
              }
            }
            return Chunk.unsafeFromArray(out)
          })
          return Stream.concat(events, Stream.sync(() => Node.output(texts.join(""), usage)))
        })
      )))
  )

const noTools = { has: () => false }

/** `text` with tools: one prompt of a fresh agent per input (it retries its model calls itself). */
const toolLoopNode = <I>(
  options: TextOptions<I, Record<string, Tool.Any>> & { readonly handlers?: unknown }
): Node.Node<I, string, AiError.AiError | AgentError, any> =>
  Node.make(options.name ?? "llm", (input, context) =>
    Stream.unwrapScoped(Effect.map(
      Agent.make({
        ...(options.system === undefined
          ? {}
          : { system: typeof options.system === "string" ? options.system : options.system(input) }),
        tools: options.tools!,
        handlers: options.handlers as Agent.Handlers<Record<string, Tool.Any>>,
        maxTurns: options.maxTurns ?? 10,
        ...(options.retry === undefined ? {} : { retry: options.retry })
      }),
      (agent) => toEmissions(Agent.prompt(agent, options.prompt(input)), context)
    )))

/**
 * A node that asks the model for a value of the `output` schema and returns it decoded.
 *
 * - The input is validated with the `input` schema first: an invalid input fails with a `NodeError` (reason
 *   `InvalidInput`) naming the offending fields, without calling the model.
 * - The schema goes to the engine as JSON Schema (see `guided` in the module documentation), and the reply streams
 *   through an incremental JSON parser: `PartialFields` events carry the partial value and the paths complete so far
 *   (at most one event per text delta, and only when something changed; see `partial` in {@link ObjectOptions}).
 *   Thinking streams as `Reasoning` events.
 * - At the end the value is decoded with the `output` schema. A reply that is not JSON, or does not match, fails with
 *   a `StructuredOutputError` (reason `InvalidJson` or `SchemaMismatch`) holding the raw text and the issues; with
 *   `repair: n` the node first asks again up to `n` times, appending its previous answer and the issues to the
 *   conversation, after a `Retry` event (consumers drop what the failed attempt streamed).
 * - `StepEnd` carries the token usage of all attempts.
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
 *   prompt: (review) => `Classify the sentiment of: ${review.text}`,
 *   partial: "validated",
 *   repair: 2
 * })
 * const program = Node.run(classify, { text: "Great!" }).pipe(Effect.provide(DryRun.layer()))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const object = <I, IE, O, OE>(
  options: ObjectOptions<I, IE, O, OE>
): Node.Node<I, O, AiError.AiError | NodeError | StructuredOutputError, LanguageModel.LanguageModel> => {
  const name = options.name ?? "llm"
  const objectName = options.objectName ?? (name.replace(/[^A-Za-z0-9_-]/g, "_") || "output")
  const validate = Schema.validate(options.input, { errors: "all" })
  const guided = options.guided ?? "auto"
  const partial = options.partial ?? "raw"
  return withRetry(
    options,
    Node.make(name, (input: I, context) =>
      Stream.unwrap(Effect.gen(function*() {
        const valid = yield* Effect.mapError(validate(input), (error) =>
          new NodeError({
            node: name,
            reason: "InvalidInput",
            description: ParseResult.TreeFormatter.formatErrorSync(error),
            cause: error
          }))
        const model = yield* LanguageModel.LanguageModel
        const clock = yield* Effect.clock
        const origin = (): Event.Origin => ({
          runId: context.runId,
          path: context.path,
          timestamp: clock.unsafeCurrentTimeMillis()
        })

        const format: StructuredOutput.Format = { objectName, schema: options.output }
        const first = Structured.first(model, makePrompt(options, valid), guided, options.repair ?? 0)
        return objectAttempts({ model, schema: options.output, format, guided, partial, origin }, first, undefined)
      })))
  )
}

/** What every attempt of a structured {@link object} call shares. */
interface ObjectCall<O, OE> {
  readonly model: LanguageModel.Service
  readonly schema: Schema.Schema<O, OE>
  readonly format: StructuredOutput.Format
  readonly guided: NonNullable<ObjectOptions<unknown, unknown, O, unknown>["guided"]>
  readonly partial: NonNullable<ObjectOptions<unknown, unknown, O, unknown>["partial"]>
  readonly origin: () => Event.Origin
}

type ObjectStream<O> = Stream.Stream<
  Node.Emission<O>,
  AiError.AiError | StructuredOutputError,
  LanguageModel.LanguageModel
>

/**
 * One attempt of a structured call: the response streamed as events and partial fields, then the decoded output,
 * or a `Retry` event and the next attempt (instructed fallback or repair), or the decoding error.
 */
const objectAttempts = <O, OE>(
  call: ObjectCall<O, OE>,
  state: Structured.Attempt,
  previous: Event.Usage | undefined
): ObjectStream<O> =>
  Stream.suspend(() => {
    const { format, origin } = call
    const decoder = StructuredOutput.makeDecoder(call.schema, {
      partial: call.partial === "none" ? false : call.partial,
      objectName: format.objectName
    })
    const mapEvent = makeEventMapper()
    let usage: Event.Usage | undefined
    let finishReason: string | undefined
    const prompt = Structured.promptOf(state, format)
    const parts = call.guided === "prompt"
      ? LanguageModel.streamText({ prompt })
      : StructuredOutput.withFormat(LanguageModel.streamText({ prompt }), format)
    const partialFields = (at: Event.Origin): Event.Event => {
      const { complete, value } = decoder.partial()
      return { _tag: "PartialFields", ...at, value, complete }
    }
    const events = Stream.mapChunks(parts, (chunk) => {
      const at = origin()
      const out: Array<Node.Emission<O>> = []
      for (const part of chunk) {
        if (part.type === "text-delta") {
          if (decoder.feed(part.delta)) out.push(partialFields(at))
        } else if (part.type === "finish") {
          usage = Event.toUsage(part.usage)
          finishReason = part.reason
        } else {
          const event = mapEvent(part, at)
          if (event !== undefined) out.push(event)
        }
      }
      return Chunk.unsafeFromArray(out)
    })
    const end: ObjectStream<O> = Stream.unwrap(Effect.sync((): ObjectStream<O> => {
      const result = decoder.finish({ attempt: state.call, finishReason })
      const total = Event.addUsage(previous, usage)
      const last: Array<Node.Emission<O>> = decoder.changed ? [partialFields(origin())] : []
      if (Either.isRight(result)) return Stream.fromIterable([...last, Node.output(result.right, total)])
      const error = result.left
      const following = Structured.next(call.model, state, format, call.guided, error)
      if (following === undefined) return Stream.concat(Stream.fromIterable(last), Stream.fail(error))
      const retry: Event.Event = {
        _tag: "Retry",
        ...origin(),
        attempt: state.call,
        error: error._tag,
        message: error.message,
        delayMs: 0
      }
      return Stream.concat(Stream.fromIterable([...last, retry]), objectAttempts(call, following.attempt, total))
    }))
    return Stream.concat(events, end)
  })

/**
 * Makes a mapper from the streamed parts of a model's response to events, like {@link toEvent}, that also follows
 * tool calls as their arguments stream: each `tool-params-delta` becomes a `ToolArgProgress` event carrying the
 * fragment and the best-effort parse of the arguments so far (one incremental `PartialJson` parser per call id,
 * linear in the arguments' length; `{}` until a value starts). Use one mapper per response.
 *
 * @example
 * ```ts
 * import * as Llm from "sluice/Llm"
 *
 * const toEvent = Llm.makeEventMapper()
 * const origin = { runId: "r", path: ["llm"], timestamp: 0 }
 * toEvent({ type: "tool-params-start", id: "c1", name: "search", providerExecuted: false, metadata: {} } as any, origin)
 * toEvent({ type: "tool-params-delta", id: "c1", delta: "{\"query\": \"ca", metadata: {} } as any, origin)
 * // { _tag: "ToolArgProgress", id: "c1", name: "search", delta: "{\"query\": \"ca", params: { query: "ca" }, ... }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeEventMapper = (): (part: Response.AnyPart, origin: Event.Origin) => Event.Event | undefined => {
  const calls = new Map<string, { readonly name: string; readonly parser: PartialJson.Parser }>()
  return (part, origin) => {
    switch (part.type) {
      case "tool-params-start": {
        calls.set(part.id, { name: part.name, parser: PartialJson.make() })
        return undefined
      }
      case "tool-params-delta": {
        let call = calls.get(part.id)
        if (call === undefined) {
          call = { name: "", parser: PartialJson.make() }
          calls.set(part.id, call)
        }
        call.parser.feed(part.delta)
        const params = call.parser.snapshot()
        return {
          _tag: "ToolArgProgress",
          ...origin,
          id: part.id,
          name: call.name,
          delta: part.delta,
          params: params === undefined ? {} : params
        }
      }
      case "tool-params-end": {
        calls.delete(part.id)
        return undefined
      }
      default:
        return toEvent(part, origin)
    }
  }
}

/**
 * Maps one streamed part of a model's response onto the event vocabulary, or `undefined` when it has no event.
 * Stateless: tool-call argument fragments need {@link makeEventMapper}.
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
      return { _tag: "NonFatalError", ...origin, error: "ModelError", message: String(part.error), recoverable: true }
    default:
      return undefined
  }
}

// =============================================================================
// internal
// =============================================================================

const withRetry = <I, O, E, R>(options: PromptOptions<any>, node: Node.Node<I, O, E, R>): Node.Node<I, O, E, R> => {
  const times = Math.max(0, Math.floor(options.retry ?? Retry.defaultTimes))
  return times === 0 ? node : Node.retry(node, Retry.transient({ times }))
}
