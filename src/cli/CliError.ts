/**
 * The errors of the `sluice` command line itself (the library's errors, `RunnerError`, `EngineRegistryError`, …
 * pass through as they are), and the exit code of every way a command can end ({@link exitCode}).
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/cli/CliError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Why a command failed:
 *
 * - `Usage`: an option's value is wrong (e.g. `--engine` without `step=name`, a negative `--concurrency`);
 * - `NotFound`: a file or folder named on the command line does not exist (`path`);
 * - `Busy`: another `sluice run` (process `pid`) is writing into the output folder;
 * - `NotRunning`: `sluice kill` found no live run writing into the folder;
 * - `ItemsFailed`: the run finished, but some items failed (`failed`; they are in the run's `errors` file);
 * - `KillFailed`: the run did not stop within the time allowed.
 *
 * @example
 * ```ts
 * import * as CliError from "sluice/cli/CliError"
 *
 * const reason: CliError.Reason = "NotFound"
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
 * import * as CliError from "sluice/cli/CliError"
 *
 * Schema.is(CliError.Reason)("Busy") // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Reason = Schema.Literal("Usage", "NotFound", "Busy", "NotRunning", "ItemsFailed", "KillFailed")

/**
 * A command failed (see {@link Reason}); `message` is the one line the CLI prints.
 *
 * @example
 * ```ts
 * import { CliError } from "sluice/cli/CliError"
 *
 * const error = new CliError({ reason: "NotFound", path: "data.jsonl", description: "input not found" })
 * error.message // data.jsonl: input not found
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class CliError extends Schema.TaggedError<CliError>("sluice/cli/CliError")("CliError", {
  reason: Reason,
  description: Schema.String,
  path: Schema.optional(Schema.String),
  pid: Schema.optional(Schema.Number),
  failed: Schema.optional(Schema.Number)
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * A busy folder or a slow stop may pass; the rest needs a different command line.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return this.reason === "Busy" || this.reason === "KillFailed"
  }

  /**
   * @since 0.1.0
   */
  override get message(): string {
    return this.path === undefined ? this.description : `${this.path}: ${this.description}`
  }
}

/**
 * Tells whether a value is a {@link CliError}.
 *
 * @example
 * ```ts
 * import { CliError, isCliError } from "sluice/cli/CliError"
 *
 * isCliError(new CliError({ reason: "Usage", description: "--engine expects step=name" })) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isCliError = (u: unknown): u is CliError => Predicate.hasProperty(u, TypeId)

/**
 * The exit codes of `sluice`:
 *
 * - `0` success;
 * - `1` the run finished, but some items failed (see the run's `errors` file; re-running retries them);
 * - `2` usage or bad input, reported before anything runs or as soon as it is found: a wrong option, an unknown
 *   module or export, a missing input or engines file, an invalid `engines.yml`, an unknown engine, an unreadable
 *   input (and, with `--strict`, a malformed row), a folder another run is writing into;
 * - `3` the run stopped on a failure of its own: the output folder cannot be written, an engine failed to start,
 *   a defect;
 * - `130` interrupted (Ctrl-C, `SIGTERM`, `sluice kill`): files were closed, and running the same command again
 *   resumes.
 *
 * @example
 * ```ts
 * import * as CliError from "sluice/cli/CliError"
 *
 * process.exitCode = CliError.exitCode.itemsFailed
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const exitCode = {
  success: 0,
  itemsFailed: 1,
  badInput: 2,
  failure: 3,
  interrupted: 130
} as const
