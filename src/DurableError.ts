/**
 * The error of a durable run (`Durable`): the store (SQLite or PostgreSQL) failed, a chunk of the run failed on a
 * runner, the run is unknown to the store, or it was killed.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/DurableError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Why a durable run failed:
 *
 * - `Store`: a query on the store failed (the database is down, unreachable, or refused the query);
 * - `ChunkFailed`: a chunk of the run failed on a runner (its engines could not start, the runner resolves the
 *   chain's engines differently from the submitter, …);
 * - `UnknownRun`: no run with this id in the store;
 * - `Killed`: the run was killed (`Durable.kill`); submitting it again resumes it.
 *
 * @example
 * ```ts
 * import type * as DurableError from "sluice/DurableError"
 *
 * const reason: DurableError.Reason = "UnknownRun"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Reason = typeof Reason.Type

/**
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as DurableError from "sluice/DurableError"
 *
 * const isReason = Schema.is(DurableError.Reason)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Reason = Schema.Literal("Store", "ChunkFailed", "UnknownRun", "Killed")

/**
 * A durable run's failure: its `reason`, the run id and a description (see {@link Reason}).
 *
 * @example
 * ```ts
 * import { DurableError } from "sluice/DurableError"
 *
 * const error = new DurableError({ reason: "UnknownRun", runId: "run-1", description: "no such run in the store" })
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class DurableError extends Schema.TaggedError<DurableError>("sluice/DurableError")("DurableError", {
  reason: Reason,
  runId: Schema.optional(Schema.String),
  description: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `${this.runId === undefined ? "" : `${this.runId}: `}${this.reason} - ${this.description}`
  }
}

/**
 * @example
 * ```ts
 * import { isDurableError } from "sluice/DurableError"
 *
 * const check = (u: unknown) => isDurableError(u) && u.reason === "Killed"
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isDurableError = (u: unknown): u is DurableError => Predicate.hasProperty(u, TypeId)
