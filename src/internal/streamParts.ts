/**
 * `LanguageModel.streamText` for sluice's engines without `@effect/ai`'s per-chunk Schema decode of the usual parts.
 *
 * `@effect/ai` 0.37's `streamText` decodes every chunk of the engine's parts with
 * `Schema.ChunkFromSelf(Response.StreamPart(toolkit))`, a union of every part kind: about 15 µs of CPU per chunk,
 * more than the engine's own SSE and JSON decoding of a network chunk. Here a chunk made only of text, reasoning and
 * tool-argument parts without metadata (the per-token parts) is built as that decode builds it (same fields, same
 * order, `metadata: {}`, the part type id); any other chunk goes through the same decode, so every other part, and
 * every invalid one, gives what `LanguageModel.make` gives (a `ParseError` becomes the same `MalformedOutput`).
 *
 * Only calls without a toolkit and without a span transformer take this path; the others go to the service's own
 * `streamText`.
 */
import * as AiError from "@effect/ai/AiError"
import * as IdGenerator from "@effect/ai/IdGenerator"
import type * as LanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import * as Response from "@effect/ai/Response"
import * as Telemetry from "@effect/ai/Telemetry"
import * as Toolkit from "@effect/ai/Toolkit"
import type * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

type Params = Parameters<typeof LanguageModel.make>[0]

type Part = Response.StreamPart<{}>

const decodeChunk = Schema.decode(Schema.ChunkFromSelf(Response.StreamPart(Toolkit.empty)))

const PartTypeId = Response.PartTypeId

/**
 * The parts of a chunk as `Response.StreamPart`'s decode makes them when each is a text, reasoning or
 * tool-argument part without metadata, or `undefined` when one is anything else (the schema decodes the chunk then).
 */
export const plainParts = (chunk: Chunk.Chunk<Response.StreamPartEncoded>): Chunk.Chunk<Part> | undefined => {
  const parts = Chunk.toReadonlyArray(chunk) as ReadonlyArray<unknown> as ReadonlyArray<Record<string, unknown> | null>
  const out: Array<Part> = new Array(parts.length)
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]
    if (typeof part !== "object" || part === null || part.metadata !== undefined) return undefined
    const type = part.type
    const id = part.id
    if (typeof id !== "string") return undefined
    switch (type) {
      case "text-delta":
      case "reasoning-delta":
      case "tool-params-delta": {
        const delta = part.delta
        if (typeof delta !== "string") return undefined
        out[i] = { type, id, delta, metadata: {}, [PartTypeId]: PartTypeId } as Part
        break
      }
      case "text-start":
      case "text-end":
      case "reasoning-start":
      case "reasoning-end":
      case "tool-params-end": {
        out[i] = { type, id, metadata: {}, [PartTypeId]: PartTypeId } as Part
        break
      }
      default:
        return undefined
    }
  }
  return Chunk.unsafeFromArray(out)
}

type DecodeChannel = Channel.Channel<
  Chunk.Chunk<Part>,
  Chunk.Chunk<Response.StreamPartEncoded>,
  ParseResult.ParseError,
  unknown,
  unknown,
  unknown
>

/**
 * Decodes each chunk of the engine's parts: {@link plainParts} in the channel's own step, the schema's decode (an
 * effect) for any other chunk.
 */
export const decodeParts: DecodeChannel = Channel.readWithCause({
  onInput: (chunk: Chunk.Chunk<Response.StreamPartEncoded>) => {
    const plain = plainParts(chunk)
    return plain === undefined
      ? Channel.flatMap(
        Channel.fromEffect(decodeChunk(chunk)),
        (parts) => Channel.zipRight(Channel.write(parts), decodeParts)
      )
      : Channel.zipRight(Channel.write(plain), decodeParts)
  },
  onFailure: (cause: Cause.Cause<unknown>) => Channel.failCause(cause),
  onDone: () => Channel.void
}) as DecodeChannel

const toAiError = (error: unknown) =>
  ParseResult.isParseError(error)
    ? AiError.MalformedOutput.fromParseError({ module: "LanguageModel", method: "streamText", error })
    : error

/**
 * The service, its `streamText` replaced by one that decodes the engine's parts with {@link decodeParts} (calls with
 * a toolkit, or with a span transformer in context, keep the service's own). `params` are those the service was
 * made with, and the effect must run where `LanguageModel.make` ran (it reads the same id generator and transformer).
 */
export const withPlainParts = (
  service: LanguageModel.Service,
  params: Params
): Effect.Effect<LanguageModel.Service> =>
  Effect.zipWith(
    Effect.serviceOption(Telemetry.CurrentSpanTransformer),
    Effect.serviceOption(IdGenerator.IdGenerator),
    (transformer, ids) => {
      if (Option.isSome(transformer)) return service
      const idGenerator = Option.getOrElse(ids, () => IdGenerator.defaultIdGenerator)
      const upstream = service.streamText as (
        options: LanguageModel.GenerateTextOptions<any>
      ) => Stream.Stream<any, any, any>
      const plain = (options: LanguageModel.GenerateTextOptions<any>): Stream.Stream<Part, unknown> =>
        Stream.unwrapScoped(Effect.map(
          Effect.makeSpanScoped("LanguageModel.streamText", {
            captureStackTrace: false,
            attributes: { concurrency: options.concurrency, toolChoice: options.toolChoice }
          }),
          (span) =>
            params.streamText({
              prompt: Prompt.make(options.prompt),
              tools: [],
              toolChoice: "none",
              responseFormat: { type: "text" },
              span
            }).pipe(Stream.provideService(IdGenerator.IdGenerator, idGenerator), Stream.pipeThroughChannel(decodeParts))
        )).pipe(Stream.mapError(toAiError))
      const streamText = (options: LanguageModel.GenerateTextOptions<any>) =>
        options.toolkit !== undefined ? upstream(options) : Stream.unwrap(Effect.map(
          Effect.serviceOption(Telemetry.CurrentSpanTransformer),
          (transformer) => Option.isSome(transformer) ? upstream(options) : plain(options)
        ))
      return Object.assign(service, { streamText: streamText as LanguageModel.Service["streamText"] })
    }
  )
