/**
 * Retry policies of pipeline steps: the public `Retry` option as the one retry mechanism's `Policy`, and the retry
 * of a whole-stream step's output.
 *
 * @internal
 */
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type { Retry, RetryOptions } from "../../Pipeline.js"
import { isPipelineError } from "../../PipelineError.js"
import * as RetryModule from "../retry.js"
import * as StepEvents from "../stepEvents.js"
import type { StepRecorder } from "./recorder.js"
import type { Run } from "./run.js"

export const retryPolicy = (retry: Retry<any> | undefined): RetryModule.Policy | undefined => {
  if (retry === undefined) return undefined
  if (Schedule.isSchedule(retry)) return { schedule: retry as Schedule.Schedule<unknown, unknown> }
  const options = retry as RetryOptions<unknown>
  const backoff = options.backoff === undefined
    ? Schedule.exponential("100 millis", 2)
    : Schedule.isSchedule(options.backoff)
    ? options.backoff as Schedule.Schedule<unknown, unknown>
    : Schedule.exponential(options.backoff, 2)
  const tags = options.retryable
  return {
    schedule: Schedule.intersect(backoff, Schedule.recurs(options.maxAttempts - 1)),
    while: tags === undefined || typeof tags === "function"
      ? tags
      : (error) => tags.includes(StepEvents.errorTag(error)) || (hasCode(error) && tags.includes(String(error.code)))
  }
}

/** Whether an error carries a `code` (`ETIMEDOUT`, `RATE_LIMIT`, an HTTP status), as Node.js errors do. */
const hasCode = (error: unknown): error is { readonly code: string | number } =>
  Predicate.hasProperty(error, "code") && (typeof error.code === "string" || typeof error.code === "number")

/**
 * Runs a whole-stream step's output and, when it fails with an error the policy retries (never an earlier step's
 * `PipelineError`), runs it again after the policy's delay, skipping the outputs already passed on.
 */
export const retryStream = (
  source: () => Stream.Stream<unknown, unknown, any>,
  retry: RetryModule.Policy,
  run: Run,
  recorder: StepRecorder
): Stream.Stream<unknown, unknown, any> =>
  Stream.suspend(() => {
    let passed = 0
    const retryable = retry.while ?? RetryModule.isRetryable
    return RetryModule.stream(
      () => {
        const already = passed
        const fresh = already > 0 ? Stream.drop(Stream.suspend(source), already) : Stream.suspend(source)
        return Stream.mapChunks(fresh, (chunk) => {
          passed += chunk.length
          return chunk
        })
      },
      { schedule: retry.schedule, while: (error) => !isPipelineError(error) && retryable(error) },
      (failed) => {
        recorder.retried()
        return run.emit === undefined
          ? Stream.empty
          : Stream.drain(Stream.fromEffect(run.emit(StepEvents.retry(run.origin(recorder.path), failed))))
      }
    )
  })
