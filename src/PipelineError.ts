/**
 * The error of a `Pipeline` run: an item that failed in a step, a step that failed as a whole, an input source that
 * failed, or a pipeline built with invalid options.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import { describe } from "./internal/describe.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/PipelineError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Why a `PipelineError` was raised: see {@link PipelineError}.
 *
 * @example
 * ```ts
 * import type * as PipelineError from "sluice/PipelineError"
 *
 * const reason: PipelineError.Reason = "ItemFailed"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Reason = typeof Reason.Type

/**
 * The schema of {@link Reason}.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as PipelineError from "sluice/PipelineError"
 *
 * Schema.is(PipelineError.Reason)("ItemFailed") // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Reason = Schema.Literal("ItemFailed", "ItemDefect", "StepFailed", "InputFailed", "InvalidDefinition")

/**
 * A pipeline failed, or one of its items did:
 *
 * - `ItemFailed`: the step's function failed for the item at index `item` (its input is kept in `input`, the error
 *   in `cause`) after `attempts` attempts;
 * - `ItemDefect`: the step's function died (threw) for that item;
 * - `StepFailed`: a whole-stream step (`add`, `merge`, `join`) failed;
 * - `InputFailed`: the input source (an async iterable, a stream) failed;
 * - `InvalidDefinition`: the pipeline was built with invalid options (a non-positive concurrency or batch size, a
 *   duplicate step id), reported when it runs.
 *
 * `traceId` and `spanId` name the span the step ran in (each run has a `Pipeline.execute` span). The type parameter
 * is the type of `cause` for `ItemFailed` and `StepFailed`.
 *
 * @example
 * ```ts
 * import { PipelineError } from "sluice/PipelineError"
 *
 * const error = new PipelineError({
 *   pipeline: "docs",
 *   step: "summarise",
 *   reason: "ItemFailed",
 *   item: 3,
 *   attempts: 1,
 *   retryable: true,
 *   cause: new Error("rate limited")
 * })
 * error.message // "docs/summarise: item 3 failed after 1 attempt: rate limited"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class PipelineError<out E = unknown> extends Schema.TaggedError<PipelineError>("sluice/PipelineError")(
  "PipelineError",
  {
    pipeline: Schema.String,
    step: Schema.String,
    reason: Reason,
    item: Schema.optional(Schema.Number),
    input: Schema.optional(Schema.Unknown),
    attempts: Schema.optional(Schema.Number),
    retryable: Schema.optionalWith(Schema.Boolean, { default: () => false }),
    description: Schema.optional(Schema.String),
    cause: Schema.optional(Schema.Defect),
    traceId: Schema.optional(Schema.String),
    spanId: Schema.optional(Schema.String)
  }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * The error the step failed with (`ItemFailed`, `StepFailed`), the defect (`ItemDefect`), or what the input
   * source failed with (`InputFailed`).
   *
   * @since 0.1.0
   */
  declare readonly cause: E | undefined

  /**
   * Whether the underlying error is worth retrying (its own `isRetryable`, or `true` for errors without one).
   * Defects and invalid definitions are never retryable.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return this.retryable
  }

  /**
   * @since 0.1.0
   */
  override get message(): string {
    const where = `${this.pipeline}/${this.step}`
    const what = this.description ?? describe(this.cause)
    switch (this.reason) {
      case "ItemFailed":
      case "ItemDefect": {
        const attempts = this.attempts ?? 1
        const verb = this.reason === "ItemFailed" ? "failed" : "died"
        return `${where}: item ${this.item ?? "?"} ${verb} after ${attempts} attempt${
          attempts === 1 ? "" : "s"
        }: ${what}`
      }
      case "StepFailed":
        return `${where}: step failed: ${what}`
      case "InputFailed":
        return `${where}: input failed: ${what}`
      case "InvalidDefinition":
        return `${where}: invalid definition: ${what}`
    }
  }
}

/**
 * @example
 * ```ts
 * import { PipelineError, isPipelineError } from "sluice/PipelineError"
 *
 * isPipelineError(new PipelineError({ pipeline: "p", step: "s", reason: "StepFailed" })) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isPipelineError = (u: unknown): u is PipelineError => Predicate.hasProperty(u, TypeId)
