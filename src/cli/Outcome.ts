/**
 * How a `sluice` command ended, as an exit code and at most one line for stderr (see `CliError.exitCode` for the
 * codes).
 *
 * @since 0.1.0
 */
import * as ValidationError from "@effect/cli/ValidationError"
import * as Cause from "effect/Cause"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import { isChainError } from "../ChainError.js"
import { isDatasetError } from "../DatasetError.js"
import { isDurableError } from "../DurableError.js"
import { isEngineRegistryError } from "../EngineRegistryError.js"
import { isRunnerError } from "../RunnerError.js"
import { isWriterError } from "../WriterError.js"
import { exitCode, isCliError } from "./CliError.js"

/**
 * An exit code and the one line to print on stderr (none when the command already said everything, e.g. a usage
 * error `@effect/cli` printed, or an interruption).
 *
 * @example
 * ```ts
 * import type * as Outcome from "sluice/cli/Outcome"
 *
 * const outcome: Outcome.Outcome = { code: 2, message: "data.jsonl: input not found" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Outcome {
  readonly code: number
  readonly message: string | undefined
}

/**
 * The outcome of a command that failed with `cause`: `130` for an interruption, the code of the first failure
 * (see `CliError.exitCode`), `3` for a defect. The message is the error's first line.
 *
 * @example
 * ```ts
 * import { Cause } from "effect"
 * import * as Outcome from "sluice/cli/Outcome"
 * import { CliError } from "sluice/cli/CliError"
 *
 * Outcome.fromCause(Cause.fail(new CliError({ reason: "NotFound", path: "x.jsonl", description: "input not found" })))
 * // { code: 2, message: "x.jsonl: input not found" }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromCause = (cause: Cause.Cause<unknown>): Outcome => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) return fromError(failure.value)
  const defect = Cause.dieOption(cause)
  if (Option.isSome(defect)) return { code: exitCode.failure, message: `internal error: ${firstLine(defect.value)}` }
  if (Cause.isInterrupted(cause)) return { code: exitCode.interrupted, message: undefined }
  return { code: exitCode.failure, message: firstLine(Cause.pretty(cause)) }
}

/**
 * The outcome of a command that failed with `error` (see {@link fromCause}).
 *
 * @example
 * ```ts
 * import * as Outcome from "sluice/cli/Outcome"
 * import { RunnerError } from "sluice/RunnerError"
 *
 * Outcome.fromError(new RunnerError({ reason: "ModuleNotFound", path: "x.ts", description: "cannot import it" }))
 * // { code: 2, message: "x.ts: ModuleNotFound - cannot import it" }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromError = (error: unknown): Outcome => {
  if (ValidationError.isValidationError(error)) return { code: exitCode.badInput, message: undefined }
  return { code: codeOf(error), message: firstLine(error) }
}

// =============================================================================
// internal
// =============================================================================

const codeOf = (error: unknown): number => {
  if (isCliError(error)) {
    return error.reason === "ItemsFailed"
      ? exitCode.itemsFailed
      : error.reason === "KillFailed"
      ? exitCode.failure
      : exitCode.badInput
  }
  if (isRunnerError(error)) {
    if (error.reason === "Output" || error.reason === "RunFailed") return exitCode.failure
    if (error.cause !== undefined && error.cause !== error) {
      const inner = codeOf(error.cause)
      if (inner === exitCode.failure && error.reason === "Chain") return inner
    }
    return exitCode.badInput
  }
  if (isEngineRegistryError(error)) return error.reason === "StartFailed" ? exitCode.failure : exitCode.badInput
  if (isChainError(error)) return error.reason === "EngineFailed" ? exitCode.failure : exitCode.badInput
  if (isDatasetError(error)) return exitCode.badInput
  if (isDurableError(error)) {
    return error.reason === "Killed"
      ? exitCode.interrupted
      : error.reason === "UnknownRun"
      ? exitCode.badInput
      : exitCode.failure
  }
  if (isWriterError(error)) return exitCode.failure
  return exitCode.failure
}

const firstLine = (error: unknown): string => {
  const text = Predicate.hasProperty(error, "message") && typeof error.message === "string" && error.message !== ""
    ? error.message
    : String(error)
  return (text.split("\n", 1)[0] ?? "").trim()
}
