/**
 * The error of a structured output that could not be decoded: the model's reply was not JSON, or its JSON did not
 * match the output `Schema`. It carries the raw text and the issues, path by path, so that a caller can log them,
 * show them, or feed them back to the model (`Llm.object({ repair: n })` does).
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * Marks a `StructuredOutputError`.
 *
 * @example
 * ```ts
 * import { StructuredOutputError, TypeId } from "sluice/StructuredOutputError"
 *
 * const error = new StructuredOutputError({ objectName: "o", reason: "InvalidJson", text: "", issues: [], attempt: 1 })
 * TypeId in error // true
 * ```
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/StructuredOutputError")

/**
 * @example
 * ```ts
 * import { TypeId } from "sluice/StructuredOutputError"
 *
 * const id: TypeId = TypeId
 * ```
 *
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * One problem found in a reply: where (object keys and array indices from the root; `[]` is the whole reply) and
 * what.
 *
 * @example
 * ```ts
 * import { Issue } from "sluice/StructuredOutputError"
 *
 * const issue: typeof Issue.Type = { path: ["items", 0, "price"], message: "Expected number, actual \"12\"" }
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Issue = Schema.Struct({
  path: Schema.Array(Schema.Union(Schema.String, Schema.Number)),
  message: Schema.String
})

/**
 * One problem found in a reply.
 *
 * @example
 * ```ts
 * import type { Issue } from "sluice/StructuredOutputError"
 *
 * const issue: Issue = { path: [], message: "the reply holds no JSON value" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Issue = typeof Issue.Type

/**
 * Why a `StructuredOutputError` was raised: see {@link StructuredOutputError}.
 *
 * @example
 * ```ts
 * import type * as StructuredOutputError from "sluice/StructuredOutputError"
 *
 * const reason: StructuredOutputError.Reason = "InvalidJson"
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
 * import * as StructuredOutputError from "sluice/StructuredOutputError"
 *
 * Schema.is(StructuredOutputError.Reason)("InvalidJson") // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Reason = Schema.Literal("InvalidJson", "SchemaMismatch")

/**
 * A structured reply could not be decoded.
 *
 * - `InvalidJson`: the reply holds no JSON value, a malformed one, or one cut short (see `finishReason`: `"length"`
 *   means the model hit its token limit);
 * - `SchemaMismatch`: the reply is JSON but does not match the output schema.
 *
 * `text` is the raw reply, `issues` the problems found (path and message), `attempt` the 1-based attempt that
 * produced the reply.
 *
 * @example
 * ```ts
 * import { StructuredOutputError } from "sluice/StructuredOutputError"
 *
 * const error = new StructuredOutputError({
 *   objectName: "ticket",
 *   reason: "SchemaMismatch",
 *   text: "{\"priority\": \"urgent\"}",
 *   issues: [{ path: ["priority"], message: "Expected \"low\" | \"high\", actual \"urgent\"" }],
 *   attempt: 1
 * })
 * error.message // "ticket: SchemaMismatch (attempt 1) - at priority: Expected \"low\" | \"high\", actual \"urgent\""
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class StructuredOutputError
  extends Schema.TaggedError<StructuredOutputError>("sluice/StructuredOutputError")("StructuredOutputError", {
    objectName: Schema.String,
    reason: Reason,
    text: Schema.String,
    issues: Schema.Array(Issue),
    attempt: Schema.Number,
    finishReason: Schema.optional(Schema.String),
    cause: Schema.optional(Schema.Defect)
  })
{
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * Asking the same question again rarely fixes a reply: use `Llm.object({ repair: n })`, which feeds the issues
   * back to the model, rather than a retry.
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
    const shown = this.issues.slice(0, 5).map(formatIssue).join("; ")
    const more = this.issues.length > 5 ? `; and ${this.issues.length - 5} more` : ""
    return `${this.objectName}: ${this.reason} (attempt ${this.attempt})${shown ? ` - ${shown}${more}` : ""}`
  }
}

/**
 * @example
 * ```ts
 * import { isStructuredOutputError, StructuredOutputError } from "sluice/StructuredOutputError"
 *
 * isStructuredOutputError(
 *   new StructuredOutputError({ objectName: "o", reason: "InvalidJson", text: "", issues: [], attempt: 1 })
 * ) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isStructuredOutputError = (u: unknown): u is StructuredOutputError => Predicate.hasProperty(u, TypeId)

/**
 * An issue as one line: `at items.0.price: Expected number, actual "12"` (no `at` for the root).
 *
 * @example
 * ```ts
 * import { formatIssue } from "sluice/StructuredOutputError"
 *
 * formatIssue({ path: ["items", 0], message: "is missing" }) // "at items.0: is missing"
 * ```
 *
 * @since 0.1.0
 * @category helpers
 */
export const formatIssue = (issue: Issue): string =>
  issue.path.length === 0 ? issue.message : `at ${issue.path.join(".")}: ${issue.message}`
