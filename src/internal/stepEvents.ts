/**
 * The small helpers every runnable uses to turn a failure into events: the error's tag and message, and the
 * `StepError` event of a failed step (`Node`, `Graph`).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as EngineError from "../EngineError.js"
import * as Event from "../Event.js"
import { describe } from "./describe.js"

/** The tag of an error for events: its `_tag` when it has one. */
export const errorTag = (error: unknown): string =>
  Predicate.hasProperty(error, "_tag") && typeof error._tag === "string"
    ? error._tag
    : error instanceof Error
    ? error.name
    : "Error"

/** A readable message for an error. */
export const errorMessage = (error: unknown): string =>
  Predicate.hasProperty(error, "message") && typeof error.message === "string" && error.message.length > 0
    ? error.message
    : describe(error)

/** The `StepError` event of a step that failed with `cause` (a defect is not retryable). */
export const stepError = (origin: Event.Origin, cause: Cause.Cause<unknown>): Event.Event => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    return Event.make("StepError", origin, {
      error: errorTag(error),
      message: errorMessage(error),
      retryable: EngineError.isRetryable(error)
    })
  }
  return Event.make("StepError", origin, { error: "Defect", message: Cause.pretty(cause), retryable: false })
}

/** The `Retry` event of an attempt that failed with `error` and is tried again after `delayMs`. */
export const retry = (
  origin: Event.Origin,
  retry: { readonly attempt: number; readonly delayMs: number; readonly error: unknown }
): Event.Event =>
  Event.make("Retry", origin, {
    attempt: retry.attempt,
    error: errorTag(retry.error),
    message: errorMessage(retry.error),
    delayMs: retry.delayMs
  })
