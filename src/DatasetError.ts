/**
 * The error `Dataset` reports when an input cannot be read: a missing file, an unknown format or column, a file
 * that is not what its extension says, or (in strict mode) a malformed row.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/DatasetError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Why a `DatasetError` was raised: see {@link DatasetError}.
 *
 * @example
 * ```ts
 * import type * as DatasetError from "sluice/DatasetError"
 *
 * const reason: DatasetError.Reason = "NotFound"
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
 * import * as DatasetError from "sluice/DatasetError"
 *
 * Schema.is(DatasetError.Reason)("NotFound") // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Reason = Schema.Literal(
  "NotFound",
  "UnknownFormat",
  "UnknownColumn",
  "Malformed",
  "InvalidFile",
  "ReadFailed"
)

/**
 * Why a dataset could not be read:
 *
 * - `NotFound`: the path does not exist, or a Hugging Face folder holds no data file (or not the asked split);
 * - `UnknownFormat`: the format cannot be told from the extension and none was given;
 * - `UnknownColumn`: a selected column or the key column is not in the file's header or schema;
 * - `Malformed`: a row is not valid (strict mode), or a JSON array is broken (always: the rest cannot be parsed);
 *   `line` and `raw` locate it when known;
 * - `InvalidFile`: a Parquet or Arrow file that cannot be decoded;
 * - `ReadFailed`: the file system failed while reading.
 *
 * @example
 * ```ts
 * import { DatasetError } from "sluice/DatasetError"
 *
 * const error = new DatasetError({
 *   reason: "Malformed",
 *   path: "data/items.jsonl",
 *   line: 3,
 *   raw: "{\"title\": ",
 *   description: "Unexpected end of JSON input"
 * })
 * error.message // data/items.jsonl:3: Malformed - Unexpected end of JSON input: {"title":
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class DatasetError extends Schema.TaggedError<DatasetError>("sluice/DatasetError")("DatasetError", {
  reason: Reason,
  path: Schema.String,
  line: Schema.optional(Schema.Number),
  raw: Schema.optional(Schema.String),
  description: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * Only a failed read may succeed when tried again; bad input stays bad.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return this.reason === "ReadFailed"
  }

  /**
   * @since 0.1.0
   */
  override get message(): string {
    const where = this.line === undefined ? this.path : `${this.path}:${this.line}`
    const raw = this.raw === undefined ? "" : `: ${this.raw.length > 200 ? `${this.raw.slice(0, 200)}…` : this.raw}`
    return `${where}: ${this.reason} - ${this.description}${raw}`
  }
}

/**
 * Tells whether a value is a {@link DatasetError}.
 *
 * @example
 * ```ts
 * import { DatasetError, isDatasetError } from "sluice/DatasetError"
 *
 * isDatasetError(new DatasetError({ reason: "NotFound", path: "x.jsonl", description: "no such file" })) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isDatasetError = (u: unknown): u is DatasetError => Predicate.hasProperty(u, TypeId)
