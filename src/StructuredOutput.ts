/**
 * The structured-output channel between sluice nodes and engines.
 *
 * `@effect/ai`'s `LanguageModel.streamText` always asks the provider for text, so a node that wants to *stream* a
 * structured value (and show partial fields while it arrives) sets the requested output schema in a `FiberRef`
 * around the call, with {@link withFormat}. sluice's engines read it with {@link requested}: a request carrying
 * `responseFormat: json` (from `generateObject`) wins, then the `FiberRef`. Engines that know nothing of sluice
 * simply ignore it, and the node still validates what comes back.
 *
 * @since 0.1.0
 */
import type * as LanguageModel from "@effect/ai/LanguageModel"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { dual } from "effect/Function"
import * as JSONSchema from "effect/JSONSchema"
import * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

/**
 * A requested structured output: a name for the object and its schema.
 *
 * @since 0.1.0
 * @category models
 */
export interface Format {
  readonly objectName: string
  readonly schema: Schema.Schema.Any
}

/**
 * The structured output requested for model calls made by the current fiber.
 *
 * @since 0.1.0
 * @category references
 */
export const currentFormat: FiberRef.FiberRef<Option.Option<Format>> = FiberRef.unsafeMake(Option.none())

/**
 * Requests a structured output for every model call made by a stream (e.g. `LanguageModel.streamText`).
 *
 * @example
 * ```ts
 * import { LanguageModel } from "@effect/ai"
 * import { Schema } from "effect"
 * import * as StructuredOutput from "sluice/StructuredOutput"
 *
 * const Person = Schema.Struct({ name: Schema.String })
 * const parts = LanguageModel.streamText({ prompt: "Who?" }).pipe(
 *   StructuredOutput.withFormat({ objectName: "person", schema: Person })
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withFormat: {
  (format: Format): <A, E, R>(self: Stream.Stream<A, E, R>) => Stream.Stream<A, E, R>
  <A, E, R>(self: Stream.Stream<A, E, R>, format: Format): Stream.Stream<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Stream.Stream<A, E, R>, format: Format): Stream.Stream<A, E, R> =>
    Stream.unwrapScoped(Effect.as(Effect.locallyScoped(currentFormat, Option.some(format)), self))
)

/**
 * The structured output an engine should request from its backend for a call: the call's own `responseFormat`
 * when it is `json`, else the one set with {@link withFormat}, else none (plain text).
 *
 * @example
 * ```ts
 * import type { LanguageModel } from "@effect/ai"
 * import { Effect } from "effect"
 * import * as StructuredOutput from "sluice/StructuredOutput"
 *
 * declare const options: LanguageModel.ProviderOptions
 * const program = Effect.map(StructuredOutput.requested(options), (format) => format._tag)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const requested = (options: LanguageModel.ProviderOptions): Effect.Effect<Option.Option<Format>> =>
  options.responseFormat.type === "json"
    ? Effect.succeed(
      Option.some({ objectName: options.responseFormat.objectName, schema: options.responseFormat.schema })
    )
    : FiberRef.get(currentFormat)

/**
 * The JSON Schema (draft-07) of a format's schema, fully inlined (no `$ref`), as sent to backends.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as StructuredOutput from "sluice/StructuredOutput"
 *
 * const json = StructuredOutput.jsonSchema(Schema.Struct({ name: Schema.String }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const jsonSchema = (schema: Schema.Schema.Any): JSONSchema.JsonSchema7 =>
  JSONSchema.fromAST(schema.ast, { definitions: {}, topLevelReferenceStrategy: "skip" })
