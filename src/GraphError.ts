/**
 * Errors raised by the graph machinery itself: an invalid graph found when it is built, or a run that went out of
 * bounds. Failures of the work a step does keep their own types.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * @example
 * ```ts
 * import { GraphError, TypeId } from "sluice/GraphError"
 *
 * TypeId in new GraphError({ graph: "g", reason: "NoEntry", steps: [] }) // true
 * ```
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/GraphError")

/**
 * @example
 * ```ts
 * import type { TypeId } from "sluice/GraphError"
 *
 * type Branded = { readonly [K in TypeId]: TypeId }
 * ```
 *
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Why a `GraphError` was raised: see {@link GraphError}.
 *
 * @example
 * ```ts
 * import type * as GraphError from "sluice/GraphError"
 *
 * const reason: GraphError.Reason = "NoEntry"
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
 * import * as GraphError from "sluice/GraphError"
 *
 * Schema.is(GraphError.Reason)("NoEntry") // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Reason = Schema.Literal(
  "NoEntry",
  "AmbiguousEntry",
  "DuplicateStep",
  "UnknownTarget",
  "Unreachable",
  "InvalidOption",
  "MaxStepsExceeded"
)

/**
 * Why a graph is invalid or its run was stopped:
 *
 * - `NoEntry`: the graph has no steps, or every step has a predecessor and no entry was chosen;
 * - `AmbiguousEntry`: several steps have no predecessor, no entry was chosen, and the first step declared has a
 *   predecessor or no step can route with `Graph.next` (`steps` holds their ids);
 * - `DuplicateStep`: two steps share an id;
 * - `UnknownTarget`: a step's `to`, `routes`, the entry or a `Graph.next` names a step that does not exist (`steps`
 *   holds the source step, then the unknown ids);
 * - `Unreachable`: steps no path from the entry reaches, through `to` and `routes` edges or the `Graph.next` of a
 *   step whose body may return one;
 * - `InvalidOption`: `concurrency`, `maxSteps` or `bufferSize` is not a positive integer;
 * - `MaxStepsExceeded`: a run started more step activations than `maxSteps` allows (`steps` holds the id of the step that
 *   would have run).
 *
 * @example
 * ```ts
 * import { GraphError } from "sluice/GraphError"
 *
 * const error = new GraphError({ graph: "search", reason: "UnknownTarget", steps: ["greet", "respnd"] })
 * error.message // graph "search": UnknownTarget (greet, respnd)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class GraphError extends Schema.TaggedError<GraphError>("sluice/GraphError")("GraphError", {
  graph: Schema.String,
  reason: Reason,
  steps: Schema.Array(Schema.String),
  description: Schema.optional(Schema.String)
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * A graph error is about the graph's structure or bounds: trying again changes nothing.
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
    const steps = this.steps.length > 0 ? ` (${this.steps.join(", ")})` : ""
    return `graph "${this.graph}": ${this.reason}${steps}${this.description ? ` - ${this.description}` : ""}`
  }
}

/**
 * @example
 * ```ts
 * import { GraphError, isGraphError } from "sluice/GraphError"
 *
 * isGraphError(new GraphError({ graph: "g", reason: "NoEntry", steps: [] })) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isGraphError = (u: unknown): u is GraphError => Predicate.hasProperty(u, TypeId)
