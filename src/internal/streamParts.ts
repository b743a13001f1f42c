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
import * as Cause from "effect/Cause"
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

const toAiError = <E>(error: E): E | AiError.AiError =>
  ParseResult.isParseError(error)
    ? AiError.MalformedOutput.fromParseError({ module: "LanguageModel", method: "streamText", error })
    : error

const decodeBySchema = (chunk: Chunk.Chunk<Response.StreamPartEncoded>) =>
  Effect.mapError(decodeChunk(chunk), toAiError) as Effect.Effect<Chunk.Chunk<Part>, AiError.AiError>

/**
 * A chunk of the engine's parts decoded as `LanguageModel.streamText` decodes it: {@link plainParts}, or else the
 * schema's decode, an effect failing with the `MalformedOutput` `streamText` fails with.
 */
export const decodeChunkParts = (
  chunk: Chunk.Chunk<Response.StreamPartEncoded>
): Chunk.Chunk<Part> | Effect.Effect<Chunk.Chunk<Part>, AiError.AiError> => plainParts(chunk) ?? decodeBySchema(chunk)

type DecodeChannel<E> = Channel.Channel<
  Chunk.Chunk<Part>,
  Chunk.Chunk<Response.StreamPartEncoded>,
  E | AiError.AiError,
  E,
  unknown,
  unknown
>

/**
 * Decodes each chunk of an engine's parts with {@link decodeChunkParts}: plain chunks in the channel's own step, the
 * others through the schema; a `ParseError` from upstream also becomes `MalformedOutput`, as in `streamText`.
 */
const decodeParts = <E>(): DecodeChannel<E> => {
  const loop: DecodeChannel<E> = Channel.readWithCause({
    onInput: (chunk: Chunk.Chunk<Response.StreamPartEncoded>) => {
      const parts = decodeChunkParts(chunk)
      return Chunk.isChunk(parts)
        ? Channel.zipRight(Channel.write(parts), loop)
        : Channel.flatMap(Channel.fromEffect(parts), (decoded) => Channel.zipRight(Channel.write(decoded), loop))
    },
    onFailure: (cause: Cause.Cause<E>) => Channel.failCause(Cause.map(cause, toAiError)),
    onDone: () => Channel.void
  })
  return loop
}

/**
 * The engine's parts stream decoded as `LanguageModel.streamText` decodes it (see {@link decodeChunkParts}).
 */
export const decodeStream = <E, R>(
  parts: Stream.Stream<Response.StreamPartEncoded, E, R>
): Stream.Stream<Part, E | AiError.AiError, R> => Stream.pipeThroughChannel(parts, decodeParts<E>())

/**
 * The service, its `streamText` replaced by one that decodes the engine's parts with {@link decodeChunkParts} (calls
 * with a toolkit, or with a span transformer in context, keep the service's own). `params` are those the service was
 * made with, and the effect must run where `LanguageModel.make` ran (it reads the same id generator and transformer).
 *
 * An engine may also give `plain`: the call's stream opened with its parts already decoded that way (the decode done
 * in its own decoding step rather than in a channel of its own); it does not need an `IdGenerator`.
 */
export const withPlainParts = (
  service: LanguageModel.Service,
  params: Params,
  plain?: (
    options: LanguageModel.ProviderOptions
  ) => Effect.Effect<Stream.Stream<Part, AiError.AiError>, AiError.AiError>
): Effect.Effect<LanguageModel.Service> =>
  Effect.zipWith(
    Effect.serviceOption(Telemetry.CurrentSpanTransformer),
    Effect.serviceOption(IdGenerator.IdGenerator),
    (transformer, ids) => {
      if (Option.isSome(transformer)) return service
      const idGenerator = Option.getOrElse(ids, () => IdGenerator.defaultIdGenerator)
      const upstream = service.streamText as (options: Options) => Stream.Stream<Part, unknown>
      const open = plain ?? ((options: LanguageModel.ProviderOptions) =>
        Effect.succeed(
          decodeStream(params.streamText(options)).pipe(Stream.provideService(IdGenerator.IdGenerator, idGenerator))
        ))
      const streamText = (options: Options): Stream.Stream<Part, unknown> =>
        options.toolkit !== undefined ? upstream(options) : Stream.unwrapScoped(Effect.flatMap(
          Effect.serviceOption(Telemetry.CurrentSpanTransformer),
          (transformer) =>
            Option.isSome(transformer) ? Effect.succeed(upstream(options)) : Effect.flatMap(
              Effect.makeSpanScoped("LanguageModel.streamText", {
                captureStackTrace: false,
                attributes: { concurrency: options.concurrency, toolChoice: options.toolChoice }
              }),
              (span) =>
                open({
                  prompt: Prompt.make(options.prompt),
                  tools: [],
                  toolChoice: "none",
                  responseFormat: { type: "text" },
                  span
                })
            )
        ))
      return Object.assign(service, { streamText: streamText as LanguageModel.Service["streamText"] })
    }
  )

type Options = LanguageModel.GenerateTextOptions<any>
