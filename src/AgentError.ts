/**
 * Errors raised by the agent machinery itself (model failures stay `AiError`s).
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/AgentError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Why an `AgentError` was raised: see {@link AgentError}.
 *
 * @example
 * ```ts
 * import type * as AgentError from "sluice/AgentError"
 *
 * const reason: AgentError.Reason = "MaxTurnsExceeded"
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
 * import * as AgentError from "sluice/AgentError"
 *
 * Schema.is(AgentError.Reason)("MaxTurnsExceeded") // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Reason = Schema.Literal("MaxTurnsExceeded", "Aborted", "InvalidState", "Persistence")

/**
 * An agent failed for a reason of its own:
 *
 * - `MaxTurnsExceeded`: the model still asked for tools after `maxTurns` model calls (with `onMaxTurns: "fail"`);
 * - `Aborted`: the prompt was aborted with `Agent.abort` (reported by `promptText` and by the agent's node);
 * - `InvalidState`: a saved or restored state does not match the `Agent.State` schema;
 * - `Persistence`: the `KeyValueStore` holding the agent's state failed.
 *
 * @example
 * ```ts
 * import { AgentError } from "sluice/AgentError"
 *
 * const error = new AgentError({ session: "s1", reason: "MaxTurnsExceeded", description: "after 8 turns" })
 * error.isRetryable // false
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class AgentError extends Schema.TaggedError<AgentError>("sluice/AgentError")("AgentError", {
  session: Schema.String,
  reason: Reason,
  description: Schema.optional(Schema.String),
  cause: Schema.optional(Schema.Defect)
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * Only a persistence failure (a store that was briefly unavailable) may pass on a second attempt.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return this.reason === "Persistence"
  }

  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `agent ${this.session}: ${this.reason}${this.description ? ` - ${this.description}` : ""}`
  }
}

/**
 * @example
 * ```ts
 * import { AgentError, isAgentError } from "sluice/AgentError"
 *
 * isAgentError(new AgentError({ session: "s1", reason: "Aborted" })) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isAgentError = (u: unknown): u is AgentError => Predicate.hasProperty(u, TypeId)
