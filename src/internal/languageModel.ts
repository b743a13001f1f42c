/**
 * sluice's engines as `LanguageModel` services with a direct call path beside them.
 *
 * `@effect/ai` 0.37's `LanguageModel.make` wraps every `generateText` in a span and rebuilds the response-part Schema
 * (`Response.Part(Toolkit.empty)`, a union of every part kind) before decoding the engine's parts: 100–170 µs of CPU a
 * call, more than the engine itself. An engine built with {@link make} keeps its provider functions on the service, and
 * {@link generateText} calls them directly with a decoder built once, for calls without tools (the structured calls of
 * Chain and `Llm.object`). Any other `LanguageModel` service is called as usual.
 */
import * as AiError from "@effect/ai/AiError"
import * as IdGenerator from "@effect/ai/IdGenerator"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import * as Response from "@effect/ai/Response"
import * as Toolkit from "@effect/ai/Toolkit"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Tracer from "effect/Tracer"

const DirectTypeId: unique symbol = Symbol.for("sluice/internal/languageModel/direct")

type Params = Parameters<typeof LanguageModel.make>[0]

interface Direct {
  readonly [DirectTypeId]: { readonly params: Params; readonly ids: IdGenerator.Service }
}

/** `LanguageModel.make`, keeping the provider functions for {@link generateText}'s direct path. */
export const make = (params: Params): Effect.Effect<LanguageModel.Service> =>
  Effect.zipWith(
    LanguageModel.make(params),
    Effect.serviceOption(IdGenerator.IdGenerator),
    (service, ids) =>
      Object.assign(service, {
        [DirectTypeId]: { params, ids: Option.getOrElse(ids, () => IdGenerator.defaultIdGenerator) }
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

/**
 * `model.generateText({ prompt })` without tools: directly on an engine built with {@link make} (same parts, same
 * errors), through the service otherwise.
 */
export const generateText = (
  model: LanguageModel.Service,
  prompt: Prompt.RawInput
): Effect.Effect<LanguageModel.GenerateTextResponse<{}>, AiError.AiError> => {
  const direct = (model as Partial<Direct>)[DirectTypeId]
  if (direct === undefined) return model.generateText({ prompt })
  return direct.params.generateText({
    prompt: Prompt.make(prompt),
    tools: [],
    toolChoice: "none",
    responseFormat: { type: "text" },
    span
  }).pipe(
    Effect.provideService(IdGenerator.IdGenerator, direct.ids),
    Effect.flatMap(decodeParts),
    Effect.map((content) => new LanguageModel.GenerateTextResponse<{}>(content)),
    Effect.catchIf(
      ParseResult.isParseError,
      (error) => AiError.MalformedOutput.fromParseError({ module: "LanguageModel", method: "generateText", error })
    )
  )
}
