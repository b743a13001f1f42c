/**
 * Running a pipeline: `execute` builds a run's stream from its step definitions; `events` runs it in the
 * background and streams its events; the other ways of running are built on `execute`.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as Take from "effect/Take"
import type * as Tracer from "effect/Tracer"
import * as Concurrency from "../../Concurrency.js"
import * as Event from "../../Event.js"
import * as Node from "../../Node.js"
import type { ExecuteOptions, Inputs } from "../../Pipeline.js"
import { PipelineError } from "../../PipelineError.js"
import * as Input from "../inputs.js"
import { type AnyStream, firstProblem, type PipelineImpl } from "./definition.js"
import { inSpan, remember, Run } from "./run.js"

export type Emit = (event: Event.Event) => Effect.Effect<unknown>

/** A run's status from how it ended. */
export const statusOf = (exit: Exit.Exit<unknown, unknown>): "success" | "failure" | "interrupted" =>
  Exit.isSuccess(exit) ? "success" : Cause.isInterruptedOnly(exit.cause) ? "interrupted" : "failure"

/**
 * The stream of one run: opens its `Pipeline.execute` span, checks the definition, makes the run (id, context,
 * clock), then chains every step's `build` over the inputs. With `splitting`, outputs are `Right`s and the items
 * failed in `SPLIT_ERRORS` steps `Left`s.
 */
export const execute = (
  self: PipelineImpl,
  inputs: Inputs<unknown, unknown, unknown>,
  options: ExecuteOptions<unknown> | undefined,
  emit: Emit | undefined,
  splitting: boolean
): Stream.Stream<any, PipelineError, any> => {
  const { settings } = self
  return Stream.unwrapScoped(Effect.gen(function*() {
    const span = yield* Effect.makeSpanScoped("Pipeline.execute", { attributes: { pipeline: settings.name } })
    const problem = firstProblem(settings, self.defs)
    if (problem !== undefined) {
      return Stream.fail(new PipelineError({ pipeline: settings.name, reason: "InvalidDefinition", ...problem }))
    }
    const run = yield* Effect.withParentSpan(makeRun(self, options, emit, splitting, span), span)
    let output: AnyStream = Stream.mapError(
      inSpan(run, Input.toStream(inputs)),
      (cause) =>
        new PipelineError({
          pipeline: settings.name,
          step: "input",
          reason: "InputFailed",
          cause: Cause.originalError(cause)
        })
    )
    self.defs.forEach((def, i) => {
      output = def.build(output, run, run.recorders[i]!)
    })
    if (run.split !== undefined) output = withSplit(output, run.split)
    return Stream.ensuringWith(output, (exit) =>
      Effect.sync(() => {
        run.endedAt = run.now()
        for (const recorder of run.recorders) recorder.flush()
        run.status = statusOf(exit)
      }))
  }))
}

const makeRun = Effect.fnUntraced(function*(
  self: PipelineImpl,
  options: ExecuteOptions<unknown> | undefined,
  emit: Emit | undefined,
  splitting: boolean,
  span: Tracer.Span
) {
  const { settings } = self
  const runId = options?.runId ?? (yield* Node.makeRunId)
  const context = self.contextSource === undefined
    ? options?.context
    : yield* Effect.mapError(
      self.contextSource as Effect.Effect<unknown, unknown>,
      (cause) =>
        new PipelineError({
          pipeline: settings.name,
          step: "context",
          reason: "StepFailed",
          cause: Cause.originalError(cause)
        })
    )
  const clock = yield* Effect.clock
  const run = new Run(
    settings,
    self.defs,
    runId,
    context,
    clock,
    emit,
    span.traceId,
    span.spanId,
    splitting,
    clock.unsafeCurrentTimeMillis(),
    yield* Effect.scope,
    span
  )
  self.runs.current = run
  remember(self.runs.byId, run)
  return run
})

const withSplit = (output: AnyStream, split: Array<PipelineError>): AnyStream => {
  const lefts = () => Chunk.unsafeFromArray(split.splice(0, split.length).map((e) => Either.left(e)))
  return Stream.concat(
    Stream.mapChunks(output, (chunk) => {
      const rights = Chunk.map(chunk, (a) => Either.right(a))
      return split.length === 0 ? rights : Chunk.appendAll(lefts(), rights)
    }),
    Stream.suspend(() => Stream.fromChunk(lefts()))
  )
}

export const executeToArray = (
  self: PipelineImpl,
  inputs: Inputs<unknown, unknown, unknown>,
  options: ExecuteOptions<unknown> | undefined
) => Effect.map(Stream.runCollect(execute(self, inputs, options, undefined, false)), Chunk.toArray)

export const executeReduce = (
  self: PipelineImpl,
  inputs: Inputs<unknown, unknown, unknown>,
  reducer: (accumulator: unknown, item: unknown) => unknown,
  initial: unknown,
  options: ExecuteOptions<unknown> | undefined
) =>
  Effect.suspend(() => {
    let accumulator = initial
    return Effect.as(
      Stream.runForEachChunk(execute(self, inputs, options, undefined, false), (chunk) =>
        Effect.sync(() => {
          for (const item of chunk) accumulator = reducer(accumulator, item)
        })),
      Effect.sync(() => accumulator)
    ).pipe(Effect.flatten)
  })

export const executeSplit = (
  self: PipelineImpl,
  inputs: Inputs<unknown, unknown, unknown>,
  options: (ExecuteOptions<unknown> & { readonly bufferSize?: number | undefined }) | undefined
) =>
  Effect.map(
    Stream.partitionEither(
      execute(self, inputs, options, undefined, true) as Stream.Stream<
        Either.Either<unknown, PipelineError>,
        PipelineError
      >,
      Effect.succeed,
      { bufferSize: options?.bufferSize ?? Concurrency.defaultBufferSize }
    ),
    ([errors, outputs]) => [outputs, errors] as const
  )

/**
 * Runs the pipeline in the background and streams its events through a bounded queue: `RunStart`, the steps'
 * events, `RunEnd`, then the run's failure if it failed.
 */
export const events = (
  self: PipelineImpl,
  inputs: Inputs<unknown, unknown, unknown>,
  options: (ExecuteOptions<unknown> & { readonly bufferSize?: number | undefined }) | undefined
): Stream.Stream<Event.Event, PipelineError, any> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const queue = yield* Queue.bounded<Take.Take<Event.Event, PipelineError>>(
      options?.bufferSize ?? Concurrency.defaultBufferSize
    )
    const emit = (event: Event.Event) => Queue.offer(queue, Take.of(event))
    const runId = options?.runId ?? (yield* Node.makeRunId)
    const origin = (timestamp: number): Event.Origin => ({ runId, path: [self.settings.name], timestamp })
    const started = yield* Event.now
    yield* emit(Event.make("RunStart", origin(started), { name: self.settings.name }))
    yield* Stream.runDrain(execute(self, inputs, { ...options, runId }, emit, false)).pipe(
      Effect.onExit((exit) =>
        Effect.flatMap(Event.now, (ended) =>
          Effect.zipRight(
            emit(Event.make("RunEnd", origin(ended), { status: statusOf(exit), durationMs: ended - started })),
            Queue.offer(queue, Exit.isSuccess(exit) ? Take.end : Take.failCause(exit.cause))
          ))
      ),
      Effect.forkScoped
    )
    // Finalizers run in reverse order: the queue is shut down before the run is interrupted, so that a consumer that
    // stopped early (a `take`) never leaves the run's last events blocked on a full queue nobody reads.
    yield* Effect.addFinalizer(() => Queue.shutdown(queue))
    return Stream.flattenTake(Stream.fromQueue(queue))
  }))
