/**
 * The batch-mode pipeline: every step receives the whole array of the previous step's outputs; the steps run one
 * after the other, each output kept as a snapshot, with the same run records as the streaming pipeline.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as EngineError from "../../EngineError.js"
import * as Node from "../../Node.js"
import type {
  BatchTypeId as BatchTypeIdType,
  ExecuteOptions,
  ItemContext,
  ItemOptions,
  Pipeline,
  Retry,
  StepContext,
  StepKind
} from "../../Pipeline.js"
import { isPipelineError, PipelineError } from "../../PipelineError.js"
import * as Pool from "../pool.js"
import * as RetryModule from "../retry.js"
import { CommonProto, makePipeline } from "./builder.js"
import {
  checkItemOptions,
  checkRetry,
  type Common,
  firstProblem,
  makeRuns,
  normalizeStart,
  type Settings,
  type StepDef
} from "./definition.js"
import { statusOf } from "./execute.js"
import { itemStep, poolOptions } from "./item.js"
import type { StepRecorder } from "./recorder.js"
import { retryPolicy } from "./retry.js"
import { countIn, countOut, remember, Run, stepContext } from "./run.js"

export const BatchTypeId: BatchTypeIdType = Symbol.for("sluice/Pipeline/Batch") as BatchTypeIdType

export interface BatchStep {
  readonly id: string
  readonly kind: StepKind
  readonly invalid?: string | undefined
  readonly run: (
    items: ReadonlyArray<unknown>,
    run: Run,
    recorder: StepRecorder
  ) => Effect.Effect<ReadonlyArray<unknown>, unknown, unknown>
}

export interface BatchImpl extends Common {
  readonly defs: ReadonlyArray<BatchStep>
}

const BatchProto = Object.assign(Object.create(CommonProto), {
  [BatchTypeId]: BatchTypeId,
  step(
    this: BatchImpl,
    id: string,
    f: (items: ReadonlyArray<unknown>, ctx: StepContext<unknown, unknown>) => Effect.Effect<ReadonlyArray<unknown>>,
    options?: { readonly retry?: Retry<unknown> | undefined }
  ) {
    return appendBatch(this, {
      id,
      kind: "step",
      invalid: checkRetry(options?.retry),
      run: (items, run, recorder) => {
        recorder.started(items.length)
        const once = Effect.suspend(() => f(items, stepContext(run, recorder)))
        const retry = retryPolicy(options?.retry)
        return retry === undefined ? once : RetryModule.effect(once, retry, () => Effect.sync(() => recorder.retried()))
      }
    })
  },
  map(
    this: BatchImpl,
    id: string,
    f: (item: unknown, ctx: ItemContext<unknown, unknown>) => Effect.Effect<unknown>,
    options?: ItemOptions<unknown>
  ) {
    return appendBatch(this, {
      id,
      kind: "map",
      invalid: checkItemOptions(options),
      run: (items, run, recorder) =>
        Effect.map(
          Stream.runCollect(
            Pool.run(Stream.fromIterable(items), itemStep(run, recorder, f, options, true), poolOptions(options, run))
          ),
          Chunk.toReadonlyArray
        )
    })
  },
  filter(this: BatchImpl, id: string, predicate: (item: unknown, index: number) => boolean) {
    return appendBatch(this, {
      id,
      kind: "filter",
      run: (items, _run, recorder) =>
        Effect.sync(() => {
          recorder.started(items.length)
          return items.filter(predicate)
        })
    })
  },
  stream(this: BatchImpl, id: string, f: (input: Stream.Stream<unknown>) => Stream.Stream<unknown, unknown, unknown>) {
    return appendBatch(this, {
      id,
      kind: "add",
      run: (items, _run, recorder) => {
        recorder.started(items.length)
        return Effect.map(Stream.runCollect(Stream.suspend(() => f(Stream.fromIterable(items)))), Chunk.toArray)
      }
    })
  },
  run(this: BatchImpl, inputs: Iterable<unknown>, options?: ExecuteOptions<unknown>) {
    return runBatch(this, Array.from(inputs), options).pipe(
      Effect.withSpan("Pipeline.run", { attributes: { pipeline: this.settings.name } })
    )
  }
})

export const makeBatch = (settings: Settings, defs: ReadonlyArray<BatchStep>): any => {
  const self = Object.create(BatchProto)
  self.settings = settings
  self.defs = defs
  self.runs = makeRuns()
  return self
}

const appendBatch = (self: BatchImpl, step: BatchStep): any => makeBatch(self.settings, [...self.defs, step])

/** Runs the steps of a batch pipeline one after the other, recording each output and the run's metadata. */
export const runBatch = (
  self: BatchImpl,
  inputs: ReadonlyArray<unknown>,
  options: ExecuteOptions<unknown> | undefined
): Effect.Effect<ReadonlyArray<unknown>, PipelineError, any> =>
  Effect.scoped(Effect.gen(function*() {
    const { settings } = self
    const problem = firstProblem(settings, self.defs)
    if (problem !== undefined) {
      return yield* new PipelineError({ pipeline: settings.name, reason: "InvalidDefinition", ...problem })
    }
    const runId = options?.runId ?? (yield* Node.makeRunId)
    const clock = yield* Effect.clock
    const run = new Run(
      settings,
      self.defs,
      runId,
      options?.context,
      clock,
      undefined,
      undefined,
      undefined,
      false,
      clock.unsafeCurrentTimeMillis(),
      yield* Effect.scope
    )
    self.runs.current = run
    remember(self.runs.byId, run)
    const body = Effect.suspend(() => {
      let items: ReadonlyArray<unknown> = inputs
      return Effect.as(
        Effect.forEach(self.defs, (step, i) =>
          Effect.map(runStep(run, step, run.recorders[i]!, items), (out) => {
            items = out
          }), { discard: true }),
        Effect.sync(() => items)
      ).pipe(Effect.flatten)
    })
    return yield* Effect.onExit(body, (exit) =>
      Effect.sync(() => {
        run.endedAt = run.now()
        run.status = statusOf(exit)
      }))
  }))

const runStep = (
  run: Run,
  step: BatchStep,
  recorder: StepRecorder,
  items: ReadonlyArray<unknown>
): Effect.Effect<ReadonlyArray<unknown>, PipelineError, unknown> =>
  Effect.map(
    Effect.catchAllCause(step.run(items, run, recorder), (cause) => {
      if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
      const failure = Cause.failureOption(cause)
      if (Option.isSome(failure) && isPipelineError(failure.value)) return Effect.fail(failure.value)
      recorder.failed(run.now())
      return Effect.fail(
        new PipelineError({
          pipeline: run.settings.name,
          step: step.id,
          reason: "StepFailed",
          retryable: Option.isSome(failure) ? EngineError.isRetryable(failure.value) : false,
          cause: Option.isSome(failure) ? Cause.originalError(failure.value) : Cause.squash(cause)
        })
      )
    }),
    (out) => {
      if (step.kind !== "map") recorder.passed(out.length)
      recorder.touch(run.now())
      recorder.flush()
      run.checkpoints[step.id] = out
      return out
    }
  )

/** A streaming pipeline of one whole-stream step that collects its input and runs the batch pipeline over it. */
export const toStreaming = (self: BatchImpl): any => {
  const def: StepDef = {
    id: self.settings.name,
    kind: "add",
    invalid: undefined,
    build: (input, run, recorder) =>
      Stream.unwrap(
        Effect.flatMap(Stream.runCollect(countIn(input, recorder)), (chunk) =>
          Effect.map(
            runBatch(self, Chunk.toReadonlyArray(chunk), { runId: run.runId, context: run.context }),
            (out) => countOut(Stream.fromIterable(out), recorder)
          ))
      )
  }
  return makePipeline({ ...normalizeStart(undefined), name: self.settings.name }, [def], undefined)
}

/** A batch-mode pipeline of one step that runs the streaming pipeline over the array. */
export const fromPipeline = (self: Pipeline.Any): any =>
  makeBatch({ ...normalizeStart(undefined), name: self.name }, [{
    id: self.name,
    kind: "pipeline",
    run: (items, run) => self.executeToArray(items, { runId: run.runId, context: run.context })
  }])
