/**
 * The error `Writer` reports: the file system failed, a record cannot be written as JSON, an output file holds a
 * line that is not JSON, or a Parquet file could not be written.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/WriterError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Why a `WriterError` was raised: see {@link WriterError}.
 *
 * @example
 * ```ts
 * import type * as WriterError from "sluice/WriterError"
 *
 * const reason: WriterError.Reason = "Io"
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
 * import * as WriterError from "sluice/WriterError"
 *
 * Schema.is(WriterError.Reason)("Io") // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Reason = Schema.Literal("Io", "Encode", "Corrupt", "Parquet")

/**
 * Why writing or scanning outputs failed:
 *
 * - `Io`: the file system failed on `path` (full disk, permissions, a file removed under the writer);
 * - `Encode`: a record cannot be written as JSON (a `bigint`, a cycle, `undefined`); nothing of its batch is
 *   written;
 * - `Corrupt`: a complete line of an output file is not JSON (`line` locates it); a torn last line is not
 *   corruption, it is dropped;
 * - `Parquet`: the Parquet writer failed.
 *
 * @example
 * ```ts
 * import { WriterError } from "sluice/WriterError"
 *
 * const error = new WriterError({ reason: "Corrupt", path: "out/summarize/001.jsonl", line: 12, description: "not JSON" })
 * error.message // out/summarize/001.jsonl:12: Corrupt - not JSON
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class WriterError extends Schema.TaggedError<WriterError>("sluice/WriterError")("WriterError", {
  reason: Reason,
  path: Schema.String,
  line: Schema.optional(Schema.Number),
  description: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * A file-system failure may pass (a disk freed, a lock released); bad records and corrupt files stay so.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return this.reason === "Io"
  }

  /**
   * @since 0.1.0
   */
  override get message(): string {
    const where = this.line === undefined ? this.path : `${this.path}:${this.line}`
    return `${where}: ${this.reason} - ${this.description}`
  }
}

/**
 * Tells whether a value is a {@link WriterError}.
 *
 * @example
 * ```ts
 * import { WriterError, isWriterError } from "sluice/WriterError"
 *
 * isWriterError(new WriterError({ reason: "Io", path: "out", description: "EACCES" })) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isWriterError = (u: unknown): u is WriterError => Predicate.hasProperty(u, TypeId)
