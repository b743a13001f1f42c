/**
 * One run of a pipeline: its state (the snapshots of `add` and `checkpoint` steps, shared through {@link Tap}s), its
 * step recorders, the errors it collects, and the stream helpers every step uses to count and report.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import * as EngineError from "../../EngineError.js"
import * as Event from "../../Event.js"
import type { ItemContext, Metadata, State, StepContext, StepKind } from "../../Pipeline.js"
import { isPipelineError, PipelineError } from "../../PipelineError.js"
import type { AnyStream, Settings } from "./definition.js"
import { StepRecorder } from "./recorder.js"

export class Run {
  readonly checkpoints: Record<string, ReadonlyArray<unknown>> = {}
  readonly taps = new Map<string, Tap>()
  readonly recorders: Array<StepRecorder>
  readonly collected: Array<PipelineError> = []
  collectedTotal = 0
  readonly split: Array<PipelineError> | undefined
  status: Metadata["status"] = "running"
  endedAt: number | undefined = undefined
  readonly state: State<any>

  constructor(
    readonly settings: Settings,
    readonly defs: ReadonlyArray<{ readonly id: string; readonly kind: StepKind }>,
    readonly runId: string,
    readonly context: unknown,
    readonly clock: Clock.Clock,
    readonly emit: ((event: Event.Event) => Effect.Effect<unknown>) | undefined,
    readonly traceId: string | undefined,
    readonly spanId: string | undefined,
    splitting: boolean,
    readonly startedAt: number,
    readonly scope: Scope.Scope,
    /** The run's `Pipeline.execute` span, given to the code of the steps (see {@link inSpan}). */
    readonly span: Tracer.AnySpan | undefined = undefined
  ) {
    this.split = splitting ? [] : undefined
    this.recorders = defs.map((def) => new StepRecorder(settings, def, clock))
    const materialize = (id: string): Effect.Effect<ReadonlyArray<unknown>, PipelineError> =>
      Effect.suspend(() => {
        if (Object.hasOwn(this.checkpoints, id)) return Effect.succeed(this.checkpoints[id]!)
        const tap = this.taps.get(id)
        return tap !== undefined ? tap.complete : Effect.fail(
          new PipelineError({
            pipeline: settings.name,
            step: id,
            reason: "InvalidDefinition",
            description: `step "${id}" keeps no snapshot (checkpoints: "never"; use add's checkpoint option)`
          })
        )
      })
    this.state = {
      accumulated: this.checkpoints,
      hasSnapshot: (id) => Object.hasOwn(this.checkpoints, id),
      stream: (id) => Stream.flattenIterables(Stream.fromEffect(materialize(id))) as any,
      materialize: materialize as any
    }
  }

  /**
   * Makes `output` the snapshot `id`: its items are recorded as they are pulled, and `state.materialize(id)` may
   * pull the rest ahead of the steps after it. A `barrier` passes nothing on before the snapshot is complete.
   */
  tap(id: string, output: AnyStream, barrier: boolean): AnyStream {
    const tap = new Tap(id, output, this, barrier)
    this.taps.set(id, tap)
    return tap.stream
  }

  now(): number {
    return this.clock.unsafeCurrentTimeMillis()
  }

  origin(path: ReadonlyArray<string>): Event.Origin {
    return { runId: this.runId, path, timestamp: this.now() }
  }

  collect(error: PipelineError): void {
    this.collectedTotal++
    if (this.collected.length < this.settings.maxCollectedErrors) this.collected.push(error)
  }
}

/**
 * A step's output shared by the steps after it and by `state.materialize`: one pull at a time (a semaphore), each
 * chunk recorded; what `materialize` pulls ahead waits in `pending` for the steps after it (unless a barrier).
 */
export class Tap {
  private pull: Effect.Effect<Chunk.Chunk<unknown>, Option.Option<PipelineError>, any> | undefined = undefined
  private readonly recorded: Array<unknown> = []
  private pending: Array<unknown> = []
  private end: Exit.Exit<void, PipelineError> | undefined = undefined
  private readonly lock = Effect.unsafeMakeSemaphore(1)

  constructor(
    readonly id: string,
    readonly upstream: AnyStream,
    readonly run: Run,
    readonly barrier: boolean
  ) {}

  /** Pulls one chunk (`undefined` at the end), recording it. Runs under the lock. */
  private readonly next: Effect.Effect<Chunk.Chunk<unknown> | undefined, PipelineError, any> = Effect.suspend(() => {
    if (this.end !== undefined) return Effect.as(this.end, undefined)
    const pull: Effect.Effect<Chunk.Chunk<unknown>, Option.Option<PipelineError>, any> = this.pull ?? Effect.flatten(
      Effect.map(
        Scope.extend(Stream.toPull(this.upstream), this.run.scope),
        (pull) => (this.pull = pull)
      )
    )
    return Effect.matchCauseEffect(pull, {
      onSuccess: (chunk): Effect.Effect<Chunk.Chunk<unknown> | undefined> => {
        for (const item of chunk) this.recorded.push(item)
        return Effect.succeed(chunk)
      },
      onFailure: (cause): Effect.Effect<Chunk.Chunk<unknown> | undefined, PipelineError> => {
        const failure = Cause.flipCauseOption(cause)
        if (Option.isNone(failure)) {
          this.end = Exit.void
          this.run.checkpoints[this.id] = this.recorded
          return Effect.succeed(undefined)
        }
        if (!Cause.isInterruptedOnly(failure.value)) this.end = Exit.failCause(failure.value)
        return Effect.failCause(failure.value)
      }
    })
  })

  /** The complete snapshot: pulls to the end what the steps after have not pulled yet. */
  readonly complete: Effect.Effect<ReadonlyArray<unknown>, PipelineError> = this.lock.withPermits(1)(
    Effect.suspend(() => {
      const loop: Effect.Effect<ReadonlyArray<unknown>, PipelineError, any> = Effect.flatMap(this.next, (chunk) => {
        if (chunk === undefined) return Effect.succeed(this.recorded)
        if (!this.barrier) { for (const item of chunk) this.pending.push(item) }
        return loop
      })
      return loop
    })
  ) as Effect.Effect<ReadonlyArray<unknown>, PipelineError>

  readonly stream: AnyStream = Stream.suspend(() =>
    this.barrier
      ? Stream.flatMap(Stream.fromEffect(this.complete), (items) => Stream.fromIterable(items))
      : Stream.repeatEffectChunkOption(
        this.lock.withPermits(1)(Effect.suspend(() => {
          if (this.pending.length > 0) {
            const items = this.pending
            this.pending = []
            return Effect.succeed(Chunk.unsafeFromArray(items))
          }
          return Effect.matchEffect(this.next, {
            onFailure: (error) => Effect.fail(Option.some(error)),
            onSuccess: (chunk) => chunk === undefined ? Effect.fail(Option.none()) : Effect.succeed(chunk)
          })
        }))
      )
  )
}

export const snapshot = (name: string, run: Run | undefined): Metadata => {
  if (run === undefined) {
    return { pipeline: name, runId: undefined, status: "idle", durationMs: 0, steps: [], errors: [], errorCount: 0 }
  }
  return {
    pipeline: name,
    runId: run.runId,
    status: run.status,
    durationMs: (run.endedAt ?? run.now()) - run.startedAt,
    steps: run.recorders.map((recorder) => recorder.metadata()),
    errors: [...run.collected],
    errorCount: run.collectedTotal
  }
}

/** How many finished runs `metadataOf` still knows (runs in progress are always known). */
const keptRuns = 64

export const remember = (runs: Map<string, Run>, run: Run): void => {
  runs.delete(run.runId)
  runs.set(run.runId, run)
  if (runs.size <= keptRuns) return
  for (const [id, old] of runs) {
    if (runs.size <= keptRuns) break
    if (old.endedAt !== undefined) runs.delete(id)
  }
}

/**
 * Runs a stream of the steps' code (an input, an `add` step's stream, the stream of a `flatMap` item, the other
 * side of a `merge` or `join`) under the run's span. The span is given to the code that needs it, rather than to the
 * run's whole stream: a span given to a stream is provided again to every effect the stream runs, once per chunk.
 */
export const inSpan = <A, E, R>(run: Run, stream: Stream.Stream<A, E, R>): Stream.Stream<A, E, R> =>
  run.span === undefined ? stream : Stream.provideService(stream, Tracer.ParentSpan, run.span) as Stream.Stream<A, E, R>

export const stepContext = (run: Run, recorder: StepRecorder): StepContext<any, any> => ({
  step: recorder.id,
  runId: run.runId,
  state: run.state,
  context: run.context
})

export const countIn = <A, E, R>(input: Stream.Stream<A, E, R>, recorder: StepRecorder): Stream.Stream<A, E, R> =>
  Stream.mapChunks(input, (chunk) => {
    recorder.started(chunk.length)
    recorder.flush()
    return chunk
  })

export const countOut = <A, E, R>(output: Stream.Stream<A, E, R>, recorder: StepRecorder): Stream.Stream<A, E, R> =>
  Stream.mapChunks(output, (chunk) => {
    recorder.passed(chunk.length)
    recorder.touch(recorder.clock.unsafeCurrentTimeMillis())
    recorder.flush()
    return chunk
  })

export const toStepError = (run: Run, recorder: StepRecorder, cause: unknown): PipelineError =>
  isPipelineError(cause) ? cause : new PipelineError({
    pipeline: run.settings.name,
    step: recorder.id,
    reason: "StepFailed",
    retryable: EngineError.isRetryable(cause),
    cause: Cause.originalError(cause),
    traceId: run.traceId,
    spanId: run.spanId
  })

export const withStepEvents = (output: AnyStream, run: Run, recorder: StepRecorder): AnyStream =>
  Stream.suspend(() => {
    const emit = run.emit!
    const start = run.now()
    return Stream.concat(
      Stream.drain(Stream.fromEffect(emit(Event.make("StepStart", run.origin(recorder.path), {})))),
      Stream.concat(
        output,
        Stream.drain(Stream.fromEffect(Effect.suspend(() => {
          const origin = run.origin(recorder.path)
          return emit(Event.make("StepEnd", origin, { durationMs: origin.timestamp - start }))
        })))
      )
    )
  })

export const itemContext = (run: Run, recorder: StepRecorder, index: number): ItemContext<any, any> => ({
  index,
  step: recorder.id,
  runId: run.runId,
  state: run.state,
  context: run.context
})
