/**
 * The errors of a `Chain`: a chain built wrong (reported before anything runs), an item that does not match a
 * step's input schema, a pure step that threw or returned something unusable, or an engine that cannot be found.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/ChainError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Why a chain failed.
 *
 * Found when the chain is built (`Chain.check`), so a run fails with them before reading any row:
 *
 * - `Empty`: the chain, a branch group or a branch has no step;
 * - `InvalidId`: a step id or branch alias is not a plain name (letters, digits, `_` and `-`), or is reserved
 *   (`chain_input`, `flattened`, `errors`);
 * - `DuplicateId`: two steps (or a step and a branch alias) share an id;
 * - `InvalidTemplate`: a prompt template is malformed (an unclosed `{{`, an invalid path);
 * - `UnknownField`: a template reads a field (`field`) that the step's input schema, or the output schema of the
 *   step or branch alias it names, does not have.
 *
 * Found while running, per item (the item fails, the run goes on):
 *
 * - `IncompatibleInput`: a step's input schema cannot decode the previous step's output schema (found when the chain
 *   is built: a required field the previous step never outputs, kinds that cannot meet);
 * - `InvalidInput`: the item does not match the step's input schema (`description` lists the issues);
 * - `InvalidOutput`: a step's output cannot be encoded with its output schema, or a batch step returned the wrong
 *   number of results;
 * - `ApplyFailed`: a pure step threw (the exception is in `cause`).
 *
 * Found when a run starts:
 *
 * - `NoEngine`: an LLM step has no engine: no `EngineRegistry` engine of its name and no `LanguageModel` in context;
 * - `EngineFailed`: the `EngineRegistry` could not start the step's engine (`cause`).
 *
 * @example
 * ```ts
 * import * as ChainError from "sluice/ChainError"
 *
 * const reason: ChainError.Reason = "UnknownField"
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
 * import * as ChainError from "sluice/ChainError"
 *
 * Schema.is(ChainError.Reason)("InvalidInput") // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Reason = Schema.Literal(
  "Empty",
  "InvalidId",
  "DuplicateId",
  "InvalidTemplate",
  "UnknownField",
  "IncompatibleInput",
  "InvalidInput",
  "InvalidOutput",
  "ApplyFailed",
  "NoEngine",
  "EngineFailed"
)

/**
 * A chain failed (see {@link Reason}). `chain` names the chain, `step` the step, `field` the template field,
 * `item` the index of the item (per-item errors).
 *
 * @example
 * ```ts
 * import { ChainError } from "sluice/ChainError"
 *
 * const error = new ChainError({
 *   chain: "products",
 *   step: "fr",
 *   reason: "UnknownField",
 *   field: "brnd",
 *   description: "the input schema has no field \"brnd\" (fields: brand, model, price_eur)"
 * })
 * error.message // products/fr: UnknownField {{brnd}} - the input schema has no field "brnd" (fields: brand, model, price_eur)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class ChainError extends Schema.TaggedError<ChainError>("sluice/ChainError")("ChainError", {
  chain: Schema.String,
  step: Schema.optional(Schema.String),
  reason: Reason,
  field: Schema.optional(Schema.String),
  item: Schema.optional(Schema.Number),
  description: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * Only an engine that failed to start may start when tried again; a chain built wrong or bad input stays so.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return this.reason === "EngineFailed"
  }

  /**
   * @since 0.1.0
   */
  override get message(): string {
    const where = this.step === undefined ? this.chain : `${this.chain}/${this.step}`
    const field = this.field === undefined ? "" : ` {{${this.field}}}`
    const item = this.item === undefined ? "" : ` (item ${this.item})`
    return `${where}: ${this.reason}${field}${item} - ${this.description}`
  }
}

/**
 * Tells whether a value is a {@link ChainError}.
 *
 * @example
 * ```ts
 * import { ChainError, isChainError } from "sluice/ChainError"
 *
 * isChainError(new ChainError({ chain: "c", reason: "Empty", description: "no step" })) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isChainError = (u: unknown): u is ChainError => Predicate.hasProperty(u, TypeId)
