/**
 * sluice's engines as `LanguageModel` services with a direct call path beside them.
 *
 * `@effect/ai` 0.37's `LanguageModel.make` wraps every `generateText` in a span and rebuilds the response-part Schema
 * (`Response.Part(Toolkit.empty)`, a union of every part kind) before decoding the engine's parts: 100–170 µs of CPU a
 * call, more than the engine itself. An engine built with {@link make} keeps its provider functions on the service, and
 * {@link generateText} calls them directly with a decoder built once, for calls without tools (the structured calls of
 * Chain and `Llm.object`). Any other `LanguageModel` service is called as usual.
 *
 * Below that, an engine may give {@link make} a `reply` function: the lower-level contract of a call without tools,
 * which takes the format and sampling in the request (no fiber ref, no id generator in the context) and answers a
 * {@link Reply}. An engine that can answer at once (the dry-run engine without latency) returns a complete effect,
 * and a structured call over it stays synchronous (see `eager.ts`).
 */
import * as AiError from "@effect/ai/AiError"
import * as IdGenerator from "@effect/ai/IdGenerator"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import * as Response from "@effect/ai/Response"
import * as Toolkit from "@effect/ai/Toolkit"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Tracer from "effect/Tracer"
import * as Sampling from "../Sampling.js"
import * as StructuredOutput from "../StructuredOutput.js"
import { confirmed } from "./confirmed.js"

const DirectTypeId: unique symbol = Symbol.for("sluice/internal/languageModel/direct")

type Params = Parameters<typeof LanguageModel.make>[0]

/** One call without tools: the conversation, the structured output requested (`none`: text) and the sampling. */
export interface Call {
  readonly prompt: Prompt.Prompt
  readonly format: Option.Option<StructuredOutput.Format>
  readonly sampling: Sampling.Sampling | undefined
}

interface Direct {
  readonly [DirectTypeId]: {
    readonly params: Params
    readonly ids: IdGenerator.Service
    readonly reply: ((call: Call) => Effect.Effect<Reply, AiError.AiError>) | undefined
  }
}

/**
 * `LanguageModel.make`, keeping the provider functions for {@link generateText}'s direct path, and the engine's
 * `reply` (see the module description) when it has one: it must answer as its `generateText` would.
 */
export const make = (
  params: Params,
  reply?: ((call: Call) => Effect.Effect<Reply, AiError.AiError>) | undefined
): Effect.Effect<LanguageModel.Service> =>
  Effect.zipWith(
    LanguageModel.make(params),
    Effect.serviceOption(IdGenerator.IdGenerator),
    (service, ids) =>
      Object.assign(service, {
        [DirectTypeId]: { params, ids: Option.getOrElse(ids, () => IdGenerator.defaultIdGenerator), reply }
      })
  )

const decodeParts = Schema.decodeUnknown(Schema.mutable(Schema.Array(Response.Part(Toolkit.empty))))

/** The span handed to engines on the direct path: none of sluice's engines reads it, and nothing is traced. */
const span: Tracer.Span = {
  _tag: "Span",
  name: "LanguageModel.generateText",
  spanId: "0000000000000000",
  traceId: "00000000000000000000000000000000",
  parent: Option.none(),
  context: Context.empty(),
  status: { _tag: "Started", startTime: 0n },
  attributes: new Map(),
  links: [],
  sampled: false,
  kind: "internal",
  end: () => {},
  attribute: () => {},
  event: () => {},
  addLinks: () => {}
}

/** What a structured call reads of a reply: its text, finish reason and token usage. */
export interface Reply {
  readonly text: string
  readonly finishReason: string
  readonly usage: {
    readonly inputTokens?: number | undefined
    readonly outputTokens?: number | undefined
    readonly totalTokens?: number | undefined
  }
}

/**
 * `model.generateText({ prompt })` without tools, as a {@link Reply}, with the structured output `format` requested
 * (`none`: no format) and run with the call's sampling: through the engine's `reply` when it has one, directly on an
 * engine built with {@link make} otherwise (same parts, same errors; the format goes in the request's
 * `responseFormat`, which sluice's engines read first, see `StructuredOutput.requested`), through the service for any
 * other `LanguageModel` (the format in `StructuredOutput.currentFormat`).
 */
export const generateText = (model: LanguageModel.Service, call: Call): Effect.Effect<Reply, AiError.AiError> => {
  const direct = (model as Partial<Direct>)[DirectTypeId]
  const format = call.format
  // sluice's engines send the format in the request: it is confirmed
  if (direct !== undefined && Option.isSome(format)) confirmed.add(format.value)
  if (direct?.reply !== undefined) return direct.reply(call)
  return Effect.withFiberRuntime((fiber) => {
    let effect: Effect.Effect<Reply, AiError.AiError>
    if (direct === undefined) {
      effect = Effect.locally(
        Effect.map(model.generateText({ prompt: call.prompt }), fromResponse),
        StructuredOutput.currentFormat,
        format
      )
    } else {
      effect = direct.params.generateText(providerOptions(call.prompt, format)).pipe(
        Effect.provideService(IdGenerator.IdGenerator, direct.ids),
        Effect.flatMap(fromContent)
      )
      // without a format, one set around the call (`StructuredOutput.withFormat`) is cleared, as on the service path
      if (Option.isNone(format)) effect = Effect.locally(effect, StructuredOutput.currentFormat, format)
    }
    // the call's sampling replaces the one around it; setting what is already set is skipped (a fiber ref change
    // copies the fiber's refs)
    return fiber.getFiberRef(Sampling.currentSampling) === call.sampling
      ? effect
      : Sampling.withSampling(effect, call.sampling)
  })
}

const jsonFormats = new WeakMap<StructuredOutput.Format, LanguageModel.ProviderOptions["responseFormat"]>()

const jsonFormat = (format: StructuredOutput.Format): LanguageModel.ProviderOptions["responseFormat"] => {
  let json = jsonFormats.get(format)
  if (json === undefined) {
    json = { type: "json", objectName: format.objectName, schema: format.schema as Schema.Schema.Any }
    jsonFormats.set(format, json)
  }
  return json
}

/**
 * The provider options of a call without tools: what `LanguageModel.generateText` hands an engine for `prompt`,
 * with the structured output `format` requested.
 */
export const providerOptions = (
  prompt: Prompt.Prompt,
  format: Option.Option<StructuredOutput.Format>
): LanguageModel.ProviderOptions => ({
  prompt,
  tools: [],
  toolChoice: "none",
  responseFormat: Option.isSome(format) ? jsonFormat(format.value) : { type: "text" },
  span
})

/**
 * The reply of an engine's `generateText` content parts: read directly when they are plain (see {@link plainReply}),
 * else decoded with `@effect/ai`'s schema as `LanguageModel.generateText` does (same errors).
 */
export const fromContent = (parts: ReadonlyArray<unknown>): Effect.Effect<Reply, AiError.AiError> => {
  const plain = plainReply(parts)
  return plain === undefined ? decodeReply(parts) : Effect.succeed(plain)
}

const fromResponse = (response: LanguageModel.GenerateTextResponse<{}>): Reply => ({
  text: response.text,
  finishReason: response.finishReason,
  usage: response.usage
})

/** The parts decoded with `@effect/ai`'s schema, as `LanguageModel.generateText` does. */
const decodeReply = (parts: unknown): Effect.Effect<Reply, AiError.AiError> =>
  decodeParts(parts).pipe(
    Effect.map((content) => fromResponse(new LanguageModel.GenerateTextResponse<{}>(content))),
    Effect.catchIf(
      ParseResult.isParseError,
      (error) => AiError.MalformedOutput.fromParseError({ module: "LanguageModel", method: "generateText", error })
    )
  )

const isCount = (u: unknown): boolean => u === undefined || typeof u === "number"

/**
 * The reply of parts that are only well-formed text and finish parts without metadata (and response metadata, which
 * a reply does not carry), read without the schema decode (what the decode would give), or `undefined` for anything
 * else (decoded then).
 */
interface Finish {
  readonly reason: string
  readonly usage: Reply["usage"]
}

const plainReply = (parts: ReadonlyArray<unknown>): Reply | undefined => {
  let text = ""
  let finish: Finish | undefined
  for (const part of parts as ReadonlyArray<Record<string, any>>) {
    if (part === null || typeof part !== "object" || part.metadata !== undefined) return undefined
    if (part.type === "text" && typeof part.text === "string") text += part.text
    else if (part.type === "finish" && finish === undefined && isPlainFinish(part)) finish = part as Finish
    else if (part.type !== "response-metadata" || !isPlainMetadata(part)) return undefined
  }
  return finish === undefined
    ? { text, finishReason: "unknown", usage: {} }
    : { text, finishReason: finish.reason, usage: finish.usage }
}

const isOptionalString = (u: unknown): boolean => u === undefined || typeof u === "string"

/** Response metadata the schema decode accepts: optional strings, the timestamp a date. */
const isPlainMetadata = (part: Record<string, any>): boolean =>
  isOptionalString(part.id) && isOptionalString(part.modelId) &&
  (part.timestamp === undefined || (typeof part.timestamp === "string" && !Number.isNaN(Date.parse(part.timestamp))))

const finishReasons = new Set(["stop", "length", "content-filter", "tool-calls", "error", "pause", "other", "unknown"])

const isPlainFinish = (part: Record<string, any>): boolean => {
  const usage = part.usage
  return finishReasons.has(part.reason) && usage !== null && typeof usage === "object" &&
    isCount(usage.inputTokens) && isCount(usage.outputTokens) && isCount(usage.totalTokens) &&
    isCount(usage.reasoningTokens) && isCount(usage.cachedInputTokens)
}
