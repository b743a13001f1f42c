/**
 * The error of a template that cannot be parsed.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * @example
 * ```ts
 * import { TemplateError, TypeId } from "sluice/TemplateError"
 *
 * TypeId in new TemplateError({ text: "{{", offset: 0, description: "unclosed {{" }) // true
 * ```
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/TemplateError")

/**
 * @example
 * ```ts
 * import type { TypeId } from "sluice/TemplateError"
 *
 * type Branded = { readonly [K in TypeId]: TypeId }
 * ```
 *
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Why a `TemplateError` was raised: see {@link TemplateError}.
 *
 * @example
 * ```ts
 * import type * as TemplateError from "sluice/TemplateError"
 *
 * const reason: TemplateError.Reason = "Malformed"
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
 * import * as TemplateError from "sluice/TemplateError"
 *
 * Schema.is(TemplateError.Reason)("Malformed") // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Reason = Schema.Literal("Malformed")

/**
 * A template that cannot be parsed (`Malformed`: an unclosed `{{`, an empty or invalid path): `description` says
 * what is wrong and `offset` where (0-based, in characters).
 *
 * @example
 * ```ts
 * import { TemplateError } from "sluice/TemplateError"
 *
 * const error = new TemplateError({ text: "Hi {{name", offset: 3, description: "unclosed {{" })
 * error.message // "template at 3: unclosed {{ in \"Hi {{name\""
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class TemplateError extends Schema.TaggedError<TemplateError>("sluice/TemplateError")("TemplateError", {
  text: Schema.String,
  offset: Schema.Number,
  description: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * @since 0.1.0
   */
  readonly reason: Reason = "Malformed"

  /**
   * A malformed template stays malformed.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return false
  }

  /**
   * @since 0.1.0
   */
  override get message(): string {
    const text = this.text.length > 80 ? `${this.text.slice(0, 80)}…` : this.text
    return `template at ${this.offset}: ${this.description} in ${JSON.stringify(text)}`
  }
}

/**
 * @example
 * ```ts
 * import { TemplateError, isTemplateError } from "sluice/TemplateError"
 *
 * isTemplateError(new TemplateError({ text: "{{", offset: 0, description: "unclosed {{" })) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isTemplateError = (u: unknown): u is TemplateError => Predicate.hasProperty(u, TypeId)
