/**
 * Item-wise steps (`map`, `filter`) on the concurrency core: a step's function wrapped with the statistics, the
 * retry policy, the error strategy and, when the run is observed, the per-item events.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as EngineError from "../../EngineError.js"
import * as Event from "../../Event.js"
import * as Node from "../../Node.js"
import type { ErrorStrategy, ItemContext, ItemOptions } from "../../Pipeline.js"
import { PipelineError } from "../../PipelineError.js"
import * as Pool from "../pool.js"
import * as RetryModule from "../retry.js"
import * as StepEvents from "../stepEvents.js"
import type { Call } from "./definition.js"
import type { StepRecorder } from "./recorder.js"
import { retryPolicy } from "./retry.js"
import { itemContext, type Run } from "./run.js"

/** Makes a step's function for a run (a `Node`'s function streams the node's events into the run's). */
export type MakeCall = (run: Run, recorder: StepRecorder) => Call

export const exitSkip: Exit.Exit<Pool.Skip> = Exit.succeed(Pool.Skip)

/**
 * With more than one worker, a step holds at most `concurrency + bufferSize` items (default `bufferSize` 0: exactly
 * `concurrency`). With one, items are handled as they are pulled and `bufferSize` only caps how many outputs of
 * already-complete effects go out in one chunk (at least 64, so trivial steps stay fast).
 */
export const poolOptions = (options: ItemOptions<any> | undefined, run: Run): Pool.Options => {
  const concurrency = options?.concurrency ?? 1
  return {
    concurrency,
    ordered: options?.ordered ?? true,
    bufferSize: concurrency > 1 ? options?.bufferSize ?? 0 : Math.max(options?.bufferSize ?? 0, sequentialChunk),
    span: run.span
  }
}

const sequentialChunk = 64

/** The error of one item that failed (or died) after `attempts` attempts at a step. */
export const itemError = (
  run: Run,
  recorder: StepRecorder,
  item: unknown,
  index: number,
  cause: Cause.Cause<unknown>,
  attempts: number
): PipelineError => {
  const failure = Cause.failureOption(cause)
  const typed = Option.isSome(failure)
  return new PipelineError({
    pipeline: run.settings.name,
    step: recorder.id,
    reason: typed ? "ItemFailed" : "ItemDefect",
    item: index,
    input: item,
    attempts,
    retryable: typed ? EngineError.isRetryable(failure.value) : false,
    cause: typed ? Cause.originalError(failure.value) : Cause.squash(cause),
    traceId: run.traceId,
    spanId: run.spanId
  })
}

/** The `StepError` event of an item that failed. */
export const itemErrorEvent = (run: Run, recorder: StepRecorder, error: PipelineError, index: number): Event.Event =>
  Event.make("StepError", run.origin(recorder.path), {
    error: StepEvents.errorTag(error.cause),
    message: error.message,
    retryable: error.retryable,
    item: index
  })

/** The `StepStart` event of an item. */
export const itemStartEvent = (run: Run, recorder: StepRecorder, item: unknown, index: number): Event.Event =>
  Event.make("StepStart", run.origin(recorder.path), { item: index, input: Event.preview(item) })

/**
 * What a failed item does to the run under the step's error strategy: fails it (`FAIL_FAST`), or drops the item,
 * keeping its error in the metadata (`COLLECT_ERRORS`) or for the error stream (`SPLIT_ERRORS`).
 */
export const applyStrategy = (
  run: Run,
  recorder: StepRecorder,
  strategy: ErrorStrategy,
  error: PipelineError
): Exit.Exit<Pool.Skip, PipelineError> => {
  recorder.failed(run.now())
  switch (strategy) {
    case "FAIL_FAST":
      return Exit.fail(error)
    case "SKIP_FAILED":
      return exitSkip
    case "COLLECT_ERRORS":
      run.collect(error)
      return exitSkip
    case "SPLIT_ERRORS":
      if (run.split !== undefined) run.split.push(error)
      else run.collect(error)
      return exitSkip
  }
}

/** Calls a step's function; what it throws is a defect of the item. */
export const invoke = (
  call: Call,
  item: unknown,
  ctx: ItemContext<any, any>
): Effect.Effect<unknown, unknown, unknown> => {
  const result = Either.try(() => call(item, ctx))
  return Either.isRight(result) ? result.right : Exit.die(result.left)
}

/**
 * Wraps a step's function for the concurrency core. Without events and retries, a function whose effect is already
 * complete stays on the core's synchronous path.
 */
export const itemStep = (
  run: Run,
  recorder: StepRecorder,
  call: Call,
  options: ItemOptions<any> | undefined,
  isMap: boolean
): Pool.Step<unknown, unknown, PipelineError, unknown> => {
  const strategy = options?.errorStrategy ?? "FAIL_FAST"
  const retry = retryPolicy(options?.retry)
  if (run.emit === undefined && retry === undefined) return plainStep(run, recorder, call, strategy)
  return {
    start: (item, index) => observedItem(run, recorder, call, strategy, retry, isMap, item, index),
    succeed: (value) => value,
    fail: Exit.failCause
  }
}

const plainStep = (
  run: Run,
  recorder: StepRecorder,
  call: Call,
  strategy: ErrorStrategy
): Pool.Step<unknown, unknown, PipelineError, unknown> => ({
  start: (item, index, slot) => {
    recorder.started(1)
    // Reading the clock costs about as much as a trivial item: items whose effect is already complete are timed one
    // in 64; the others from when their effect starts running.
    const sampled = recorder.sampled(index)
    slot.t0 = sampled && (index & 63) === 0 ? run.now() : -1
    const effect = invoke(call, item, itemContext(run, recorder, index))
    slot.async = !Exit.isExit(effect)
    if (slot.async && sampled && slot.t0 < 0) slot.t0 = run.now()
    return effect
  },
  succeed: (value, _item, _index, slot) => {
    completed(run, recorder, value, slot.t0)
    return value
  },
  fail: (cause, item, index) =>
    Cause.isInterruptedOnly(cause)
      ? Exit.failCause(cause)
      : applyStrategy(run, recorder, strategy, itemError(run, recorder, item, index, cause, 1))
})

const completed = (run: Run, recorder: StepRecorder, value: unknown, t0: number): void => {
  if (t0 >= 0) {
    const now = run.now()
    recorder.record(now - t0, now)
  }
  if (value !== Pool.Skip) recorder.passed(1)
}

/** One item with the retry policy and, when the run is observed, its `StepStart`, `Retry`, `StepEnd`/`StepError`. */
const observedItem = (
  run: Run,
  recorder: StepRecorder,
  call: Call,
  strategy: ErrorStrategy,
  retry: RetryModule.Policy | undefined,
  isMap: boolean,
  item: unknown,
  index: number
): Effect.Effect<unknown, PipelineError, unknown> =>
  Effect.suspend(() => {
    const emit = run.emit
    const start = run.now()
    recorder.started(1)
    const t0 = recorder.sampled(index) ? start : -1
    let attempts = 1
    const once = invoke(call, item, itemContext(run, recorder, index))
    const tries = retry === undefined ? once : RetryModule.effect(once, retry, (failed) => {
      attempts = failed.attempt + 1
      recorder.retried()
      return emit === undefined
        ? Effect.void
        : emit(StepEvents.retry(run.origin([...recorder.path, String(index)]), failed))
    })
    const body = Effect.matchCauseEffect(tries, {
      onSuccess: (value): Effect.Effect<unknown> => {
        completed(run, recorder, value, t0)
        recorder.flush()
        if (emit === undefined) return Exit.succeed(value)
        const origin = run.origin(recorder.path)
        const durationMs = origin.timestamp - start
        const fields = isMap ? { durationMs, item: index, output: value } : { durationMs, item: index }
        return Effect.as(emit(Event.make("StepEnd", origin, fields)), value)
      },
      onFailure: (cause): Effect.Effect<unknown, PipelineError> => {
        if (Cause.isInterruptedOnly(cause)) return Exit.failCause(cause as Cause.Cause<never>)
        const error = itemError(run, recorder, item, index, cause, attempts)
        if (emit === undefined) return applyStrategy(run, recorder, strategy, error)
        return Effect.zipRight(
          emit(itemErrorEvent(run, recorder, error, index)),
          applyStrategy(run, recorder, strategy, error)
        )
      }
    })
    return emit === undefined ? body : Effect.zipRight(emit(itemStartEvent(run, recorder, item, index)), body)
  })

/**
 * The function of a `map` step given a `Node`: the node's output, with its events streamed into the run's (at
 * `[pipeline, step, item, node]`) when the run is observed. Unobserved, an effect node runs its effect directly.
 */
export const nodeCall = (node: Node.Node<unknown, unknown, unknown, unknown>): MakeCall => (run, recorder) => {
  if (run.emit === undefined && node.effect !== undefined) return node.effect
  return (item, ctx) => {
    const path = [...recorder.path, String(ctx.index), node.name]
    const events = Node.streamIn(node, item, { runId: run.runId, path })
    const emit = run.emit
    if (emit === undefined) {
      return Effect.flatMap(Node.finalResult(events), (result) => outputOf(node, result))
    }
    return Effect.suspend(() => {
      let output: Option.Option<unknown> = Option.none()
      return Effect.zipRight(
        Stream.runForEach(events, (event) => {
          if (event._tag === "StepEnd" && Event.samePath(event.path, path)) output = Option.some(event.output)
          return emit(event)
        }),
        Effect.suspend(() => outputOf(node, output))
      )
    })
  }
}

const outputOf = (node: Node.Node.Any, output: Option.Option<unknown>): Effect.Effect<unknown> =>
  Option.isSome(output)
    ? Effect.succeed(output.value)
    : Effect.dieMessage(`node "${node.name}" ended without an output`)
