/**
 * The error `PartialJson` reports for malformed (not merely truncated) JSON text.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * Marks a `PartialJsonError`.
 *
 * @example
 * ```ts
 * import { PartialJsonError, TypeId } from "sluice/PartialJsonError"
 *
 * TypeId in new PartialJsonError({ reason: "InvalidNumber", offset: 0 }) // true
 * ```
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/PartialJsonError")

/**
 * @example
 * ```ts
 * import { TypeId } from "sluice/PartialJsonError"
 *
 * const id: TypeId = TypeId
 * ```
 *
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Why a `PartialJsonError` was raised: see {@link PartialJsonError}.
 *
 * @example
 * ```ts
 * import type * as PartialJsonError from "sluice/PartialJsonError"
 *
 * const reason: PartialJsonError.Reason = "UnexpectedCharacter"
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
 * import * as PartialJsonError from "sluice/PartialJsonError"
 *
 * Schema.is(PartialJsonError.Reason)("UnexpectedCharacter") // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Reason = Schema.Literal(
  "UnexpectedCharacter",
  "InvalidNumber",
  "InvalidLiteral",
  "InvalidEscape",
  "ControlCharacter",
  "MismatchedBracket",
  "TrailingComma",
  "TrailingContent"
)

/**
 * The JSON text is malformed at `offset` (a UTF-16 index into the whole text fed so far). A prefix of valid JSON
 * never produces this error: truncation is not malformation.
 *
 * - `UnexpectedCharacter`: a character that cannot appear there (a comment in strict mode, `{a: 1}`, `[1 2]`, …);
 * - `InvalidNumber`: `+1`, `.5`, `01`, `1.2.3`, `1e2e3`, `12abc`;
 * - `InvalidLiteral`: `nul1`, `trux`;
 * - `InvalidEscape`: `"\x"`, `"\u12G3"`;
 * - `ControlCharacter`: a raw control character (U+0000 to U+001F) inside a string (strict mode);
 * - `MismatchedBracket`: `[1}`, `{"a": 1]`;
 * - `TrailingComma`: `[1,]`, `{"a": 1,}` (strict mode);
 * - `TrailingContent`: anything but whitespace after the root value (strict mode without `extract`).
 *
 * @example
 * ```ts
 * import { PartialJsonError } from "sluice/PartialJsonError"
 *
 * const error = new PartialJsonError({ reason: "TrailingComma", offset: 3, description: "\"]\" after \",\"" })
 * error.message // "TrailingComma at offset 3: \"]\" after \",\""
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class PartialJsonError extends Schema.TaggedError<PartialJsonError>("sluice/PartialJsonError")(
  "PartialJsonError",
  {
    reason: Reason,
    offset: Schema.Number,
    description: Schema.optional(Schema.String)
  }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * Malformed text stays malformed: parsing it again cannot succeed.
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
    return `${this.reason} at offset ${this.offset}${this.description ? `: ${this.description}` : ""}`
  }
}

/**
 * @example
 * ```ts
 * import { PartialJsonError, isPartialJsonError } from "sluice/PartialJsonError"
 *
 * isPartialJsonError(new PartialJsonError({ reason: "InvalidNumber", offset: 0 })) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isPartialJsonError = (u: unknown): u is PartialJsonError => Predicate.hasProperty(u, TypeId)
