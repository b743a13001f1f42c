/**
 * Per-call sampling settings.
 *
 * `@effect/ai`'s `LanguageModel` has no per-request sampling parameters, so sluice passes them the way it passes a
 * requested output schema: in a `FiberRef` set around the call ({@link withSampling}, or `Effect.locally` with
 * {@link currentSampling}). sluice's HTTP engines read it
 * with {@link current} and lay it over their configured defaults, field by field; engines that know nothing of sluice
 * use their own settings.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { dual } from "effect/Function"
import * as Schema from "effect/Schema"

/**
 * The portable sampling settings, the one declaration used by engines, engine definitions and Chain steps. Engines
 * map them to their backend's names (e.g. `maxTokens` is `max_tokens` for Chat Completions and `num_predict` for
 * Ollama) and leave out what the backend does not know (the Responses API takes only `temperature`, `topP` and
 * `maxTokens`; `topK`, `minP` and `repetitionPenalty` are extensions of vLLM, llama.cpp, Ollama and OpenRouter).
 *
 * @example
 * ```ts
 * import type * as Sampling from "sluice/Sampling"
 *
 * const sampling: Sampling.Sampling = { temperature: 0.2, maxTokens: 512, seed: 7 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Sampling = typeof Sampling.Type

/**
 * The schema of {@link Sampling} (engine definitions are validated with it).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as Sampling from "sluice/Sampling"
 *
 * Schema.is(Sampling.Sampling)({ temperature: 0 }) // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Sampling = Schema.Struct({
  temperature: Schema.optional(Schema.NonNegative),
  topP: Schema.optional(Schema.Number.pipe(Schema.between(0, 1))),
  maxTokens: Schema.optional(Schema.Int.pipe(Schema.positive())),
  seed: Schema.optional(Schema.Int),
  stop: Schema.optional(Schema.Union(Schema.String, Schema.Array(Schema.String))),
  topK: Schema.optional(Schema.NonNegativeInt),
  minP: Schema.optional(Schema.Number.pipe(Schema.between(0, 1))),
  frequencyPenalty: Schema.optional(Schema.Number),
  presencePenalty: Schema.optional(Schema.Number),
  repetitionPenalty: Schema.optional(Schema.Number)
})

/**
 * The sampling settings for model calls made by the current fiber.
 *
 * @example
 * ```ts
 * import { LanguageModel } from "@effect/ai"
 * import { Effect } from "effect"
 * import * as Sampling from "sluice/Sampling"
 *
 * const cold = Effect.locally(LanguageModel.generateText({ prompt: "Hi" }), Sampling.currentSampling, { temperature: 0 })
 * ```
 *
 * @since 0.1.0
 * @category references
 */
export const currentSampling: FiberRef.FiberRef<Sampling | undefined> = FiberRef.unsafeMake<Sampling | undefined>(
  undefined
)

/**
 * Runs an Effect with sampling settings for the model calls it makes. For a `Stream`, wrap its run:
 * `Stream.unwrapScoped(Effect.as(Effect.locallyScoped(Sampling.currentSampling, sampling), stream))`.
 *
 * @example
 * ```ts
 * import { LanguageModel } from "@effect/ai"
 * import * as Sampling from "sluice/Sampling"
 *
 * const deterministic = LanguageModel.generateText({ prompt: "Name a colour" }).pipe(
 *   Sampling.withSampling({ temperature: 0, seed: 7 })
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withSampling: {
  (sampling: Sampling | undefined): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, sampling: Sampling | undefined): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, sampling: Sampling | undefined): Effect.Effect<A, E, R> =>
    Effect.locally(self, currentSampling, sampling)
)

/**
 * The sampling settings set for the current fiber, if any.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Sampling from "sluice/Sampling"
 *
 * const program = Effect.map(Sampling.current, (sampling) => sampling?.temperature)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const current: Effect.Effect<Sampling | undefined> = FiberRef.get(currentSampling)

/**
 * Lays `override` over `defaults`, field by field (a field set to `undefined` in `override` keeps the default).
 *
 * @example
 * ```ts
 * import * as Sampling from "sluice/Sampling"
 *
 * Sampling.merge({ temperature: 0.7, maxTokens: 512 }, { temperature: 0 }) // { temperature: 0, maxTokens: 512 }
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const merge = (defaults: Sampling | undefined, override: Sampling | undefined): Sampling | undefined => {
  if (override === undefined) return defaults
  const out: Record<string, unknown> = { ...defaults }
  for (const [key, value] of Object.entries(override)) if (value !== undefined) out[key] = value
  return out as Sampling
}
