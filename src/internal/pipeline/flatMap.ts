/**
 * `flatMap`: each item's stream (or iterable) is consumed lazily, one item at a time or `concurrency` at once
 * (ordered through per-item bounded queues, or interleaved), with the step's retry policy, error strategy,
 * statistics and events.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Predicate from "effect/Predicate"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as Take from "effect/Take"
import * as Event from "../../Event.js"
import type { ErrorStrategy, ItemOptions } from "../../Pipeline.js"
import type { PipelineError } from "../../PipelineError.js"
import * as Input from "../inputs.js"
import * as RetryModule from "../retry.js"
import * as StepEvents from "../stepEvents.js"
import type { AnyStream, Call } from "./definition.js"
import { applyStrategy, itemError, itemErrorEvent, itemStartEvent } from "./item.js"
import type { StepRecorder } from "./recorder.js"
import { retryPolicy } from "./retry.js"
import { inSpan, itemContext, type Run } from "./run.js"

type Expand = (item: unknown, index: number) => AnyStream

export const flatMap = (
  input: AnyStream,
  run: Run,
  recorder: StepRecorder,
  call: Call,
  options: ItemOptions<any> | undefined
): AnyStream =>
  Stream.suspend(() => {
    const concurrency = options?.concurrency ?? 1
    let counter = 0
    const expand = expansion(run, recorder, call, options)
    if (concurrency <= 1) return Stream.flatMap(input, (item) => expand(item, counter++))
    const bufferSize = Math.max(1, options?.bufferSize ?? 16)
    if (options?.ordered === false) {
      return Stream.flatMap(input, (item) => expand(item, counter++), { concurrency, bufferSize })
    }
    return ordered(input, (item) => expand(item, counter++), concurrency, bufferSize)
  })

/**
 * Up to `concurrency` items run at once, each into its own bounded queue of `capacity` chunks; the queues are read in
 * input order, so the first item's elements flow on as they come while the next ones fill their queues.
 */
const ordered = (
  input: AnyStream,
  expand: (item: unknown) => AnyStream,
  concurrency: number,
  capacity: number
): AnyStream =>
  Stream.unwrapScoped(Effect.map(Effect.makeSemaphore(concurrency), (permits) =>
    input.pipe(
      Stream.mapEffect((item) =>
        Effect.gen(function*() {
          const items = expand(item)
          yield* permits.take(1)
          const queue = yield* Queue.bounded<Take.Take<unknown, PipelineError>>(capacity)
          yield* Stream.runForEachChunk(items, (chunk) => Queue.offer(queue, Take.chunk(chunk))).pipe(
            Effect.exit,
            Effect.flatMap((exit) => Queue.offer(queue, Exit.isSuccess(exit) ? Take.end : Take.failCause(exit.cause))),
            Effect.ensuring(permits.release(1)),
            Effect.forkScoped
          )
          return queue
        })
      ),
      Stream.buffer({ capacity: concurrency }),
      Stream.flatMap((queue) => Stream.flattenTake(Stream.fromQueue(queue)))
    )))

/**
 * The result of a `flatMap` function as a stream: a stream as it is (under the run's span), an array in chunks, an
 * iterable lazily.
 */
const toStream = (run: Run, result: unknown): Stream.Stream<unknown, unknown, unknown> =>
  Predicate.hasProperty(result, Stream.StreamTypeId)
    ? inSpan(run, result as Stream.Stream<unknown, unknown, unknown>)
    : Array.isArray(result)
    ? Stream.fromIterable(result)
    : Input.fromLazyIterable(result as Iterable<unknown>)

/**
 * The stream of one item: its elements as they come, with the step's retry policy (a retry re-runs the item's
 * stream and skips the elements already passed on), error strategy, statistics and events.
 */
const expansion = (run: Run, recorder: StepRecorder, call: Call, options: ItemOptions<any> | undefined): Expand => {
  const strategy = options?.errorStrategy ?? "FAIL_FAST"
  const retry = retryPolicy(options?.retry)
  return (item, index) =>
    Stream.suspend(() => {
      const start = run.now()
      recorder.started(1)
      const t0 = recorder.sampled(index) ? start : -1
      let attempts = 1
      const tries = retried(run, recorder, call, retry, item, index, (attempt) => {
        attempts = attempt
      })
      const body = Stream.concat(
        Stream.catchAllCause(
          tries,
          (cause) =>
            Cause.isInterruptedOnly(cause)
              ? Stream.failCause(cause)
              : gaveUp(run, recorder, strategy, itemError(run, recorder, item, index, cause, attempts), index)
        ),
        Stream.drain(Stream.fromEffect(Effect.suspend(() => finished(run, recorder, start, t0, index))))
      )
      return run.emit === undefined
        ? body
        : Stream.concat(Stream.drain(Stream.fromEffect(run.emit(itemStartEvent(run, recorder, item, index)))), body)
    })
}

/** The item's stream under the retry policy; `onRetry` learns the number of the attempt about to start. */
const retried = (
  run: Run,
  recorder: StepRecorder,
  call: Call,
  retry: RetryModule.Policy | undefined,
  item: unknown,
  index: number,
  onRetry: (attempt: number) => void
): AnyStream => {
  const ctx = itemContext(run, recorder, index)
  let passed = 0
  const once = (): AnyStream => {
    const result = Either.try(() => call(item, ctx))
    const source = Either.isRight(result) ? toStream(run, result.right) : Stream.die(result.left)
    const already = passed
    const fresh = already > 0 ? Stream.drop(source, already) : source
    return Stream.mapChunks(fresh, (chunk) => {
      passed += chunk.length
      recorder.passed(chunk.length)
      return chunk
    }) as AnyStream
  }
  if (retry === undefined) return once()
  return RetryModule.stream(once, retry, (failed) => {
    onRetry(failed.attempt + 1)
    recorder.retried()
    return run.emit === undefined
      ? Stream.empty
      : Stream.drain(
        Stream.fromEffect(run.emit(StepEvents.retry(run.origin([...recorder.path, String(index)]), failed)))
      )
  }) as AnyStream
}

const gaveUp = (
  run: Run,
  recorder: StepRecorder,
  strategy: ErrorStrategy,
  error: PipelineError,
  index: number
): AnyStream => {
  const outcome = applyStrategy(run, recorder, strategy, error)
  const rest: AnyStream = Exit.isFailure(outcome) ? Stream.failCause(outcome.cause) : Stream.empty
  if (run.emit === undefined) return rest
  return Stream.concat(Stream.drain(Stream.fromEffect(run.emit(itemErrorEvent(run, recorder, error, index)))), rest)
}

const finished = (
  run: Run,
  recorder: StepRecorder,
  start: number,
  t0: number,
  index: number
): Effect.Effect<unknown> => {
  const now = run.now()
  if (t0 >= 0) recorder.record(now - t0, now)
  recorder.touch(now)
  recorder.flush()
  if (run.emit === undefined) return Effect.void
  const origin = run.origin(recorder.path)
  return run.emit(Event.make("StepEnd", origin, { durationMs: origin.timestamp - start, item: index }))
}
