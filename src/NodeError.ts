/**
 * Errors raised by sluice's node machinery itself (not by the work a node does).
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/NodeError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Why a `NodeError` was raised: see {@link NodeError}.
 *
 * @example
 * ```ts
 * import type * as NodeError from "sluice/NodeError"
 *
 * const reason: NodeError.Reason = "Timeout"
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
 * import * as NodeError from "sluice/NodeError"
 *
 * Schema.is(NodeError.Reason)("Timeout") // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Reason = Schema.Literal("Timeout", "Exception", "InvalidInput")

/**
 * A node failed for a reason of its own:
 *
 * - `Timeout`: it did not finish within its time limit;
 * - `Exception`: foreign code (an async generator, a promise) threw;
 * - `InvalidInput`: its input did not match its input schema.
 *
 * @example
 * ```ts
 * import { NodeError } from "sluice/NodeError"
 *
 * const error = new NodeError({ node: "summarise", reason: "Timeout", description: "after 30 seconds" })
 * error.isRetryable // true
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class NodeError extends Schema.TaggedError<NodeError>("sluice/NodeError")("NodeError", {
  node: Schema.String,
  reason: Reason,
  description: Schema.optional(Schema.String),
  cause: Schema.optional(Schema.Defect)
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * Timeouts and exceptions may pass on a second attempt; invalid input never does.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return this.reason !== "InvalidInput"
  }

  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `${this.node}: ${this.reason}${this.description ? ` - ${this.description}` : ""}`
  }
}

/**
 * @example
 * ```ts
 * import { NodeError, isNodeError } from "sluice/NodeError"
 *
 * isNodeError(new NodeError({ node: "n", reason: "Timeout" })) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isNodeError = (u: unknown): u is NodeError => Predicate.hasProperty(u, TypeId)
