/**
 * The error of a batch run (`Runner`): the chain, the input, the output folder, an engine, or the module holding the
 * chain.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type { ChainError } from "./ChainError.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/RunnerError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Why a run failed:
 *
 * - `Chain`: the chain is built wrong or a step's engine cannot be found or started: `cause` is the `ChainError`
 *   as the chain raised it (its `reason` says which: `UnknownField`, `NoEngine`, `EngineFailed`, …), see
 *   {@link fromChainError};
 * - `Input`: the input cannot be read (a missing file, an unknown format or column; in strict mode a malformed
 *   row); `cause` holds the `DatasetError`;
 * - `Output`: the output folder cannot be written or its files are corrupt (`cause` holds the `WriterError`);
 * - `InvalidRun`: `inspect` found no run in the folder, or its `graph.json` / `metrics.json` is not valid;
 * - `ModuleNotFound`: `loadChain` could not import the module (`path`);
 * - `ExportNotFound`: the module has no export of that name (`description` lists the chains it exports);
 * - `NotAChain`: the export is not a `Chain`;
 * - `RunFailed`: the run stopped early because its items kept failing for one run-wide cause (a refused connection,
 *   refused credentials, an unknown model, a missing key column, every item failing the same way: see
 *   `Runner.Options.stopAfterFailures`); `description` says the cause in one line. What was written stays, and running
 *   again after the fix resumes.
 *
 * @example
 * ```ts
 * import * as RunnerError from "sluice/RunnerError"
 *
 * const reason: RunnerError.Reason = "ExportNotFound"
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
 * import * as RunnerError from "sluice/RunnerError"
 *
 * Schema.is(RunnerError.Reason)("Input") // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Reason = Schema.Literal(
  "Chain",
  "Input",
  "Output",
  "InvalidRun",
  "ModuleNotFound",
  "ExportNotFound",
  "NotAChain",
  "RunFailed"
)

/**
 * A run failed (see {@link Reason}); `path` names the file or folder involved, `step` the step.
 *
 * @example
 * ```ts
 * import { RunnerError } from "sluice/RunnerError"
 *
 * const error = new RunnerError({
 *   reason: "ExportNotFound",
 *   path: "examples/chains/products.ts",
 *   description: "no export \"chian\" (chains exported: chain)"
 * })
 * error.message // examples/chains/products.ts: ExportNotFound - no export "chian" (chains exported: chain)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class RunnerError extends Schema.TaggedError<RunnerError>("sluice/RunnerError")("RunnerError", {
  reason: Reason,
  path: Schema.optional(Schema.String),
  step: Schema.optional(Schema.String),
  description: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * A failed read or write, or an engine that failed to start, may pass; the rest stays wrong until fixed.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return Predicate.hasProperty(this.cause, "isRetryable") && this.cause.isRetryable === true
  }

  /**
   * @since 0.1.0
   */
  override get message(): string {
    const where = this.path ?? this.step
    return `${where === undefined ? "" : `${where}: `}${this.reason} - ${this.description}`
  }
}

/**
 * Tells whether a value is a {@link RunnerError}.
 *
 * @example
 * ```ts
 * import { isRunnerError, RunnerError } from "sluice/RunnerError"
 *
 * isRunnerError(new RunnerError({ reason: "InvalidRun", path: "out", description: "no graph.json" })) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isRunnerError = (u: unknown): u is RunnerError => Predicate.hasProperty(u, TypeId)

/**
 * The `RunnerError` of a `ChainError`: reason `Chain`, the chain error kept as it is in `cause`, its step and message.
 *
 * @example
 * ```ts
 * import { ChainError } from "sluice/ChainError"
 * import * as RunnerError from "sluice/RunnerError"
 *
 * const error = RunnerError.fromChainError(
 *   new ChainError({ chain: "c", step: "a", reason: "NoEngine", description: "no engine \"gpt\"" })
 * )
 * error.reason // "Chain"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromChainError = (cause: ChainError, options?: { readonly path?: string | undefined }): RunnerError =>
  new RunnerError({
    reason: "Chain",
    ...(options?.path === undefined ? {} : { path: options.path }),
    ...(cause.step === undefined ? {} : { step: cause.step }),
    description: cause.message,
    cause
  })
