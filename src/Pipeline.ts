/**
 * The streaming pipeline builder: a typed, thin layer over `Stream` for item-wise AI pipelines.
 *
 * ```ts
 * const p = Pipeline.start<Doc>()
 *   .map("read", (doc) => readFile(doc.path), { concurrency: 10, errorStrategy: "SKIP_FAILED" })
 *   .flatMap("chunks", (text) => splitIntoChunks(text))
 *   .filter("long", (chunk) => chunk.length > 20)
 *   .batch("batches", 50)
 *   .map("embed", (batch) => embed(batch), { concurrency: 4, retry: { maxAttempts: 3 } })
 * ```
 *
 * - Every step has an id; ids are tracked in the type (a duplicate id does not compile), and values materialised
 *   by {@link Pipeline.checkpoint} are typed on `state.accumulated`.
 * - Item-wise steps (`map`, `flatMap`, `filter`) run on sluice's concurrency core (see `Concurrency`): a fixed set
 *   of worker fibers, a bounded window of items in flight, ordered or unordered output.
 * - Each item-wise step has an error strategy (`FAIL_FAST`, `SKIP_FAILED`, `COLLECT_ERRORS`, `SPLIT_ERRORS`) and
 *   an optional retry policy; every item error is a {@link PipelineError.PipelineError} naming the step, the item
 *   index, its input, whether it is retryable, the cause and the trace/span ids.
 * - Every run records per-step metadata (counts, errors, retries, throughput, p50/p95/p99 durations from a
 *   bounded reservoir) as data ({@link Pipeline.metadata}) and as Effect `Metric`s ({@link metrics}), and can be
 *   observed as a stream of {@link Event.Event}s ({@link Pipeline.events}).
 *
 * A batch-mode pipeline over whole arrays ({@link startBatch}) sits alongside, with adapters both ways
 * ({@link toStreaming}, {@link toBatch}).
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type * as Metric from "effect/Metric"
import type * as Option from "effect/Option"
import type { Pipeable } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Event from "./Event.js"
import * as Batch from "./internal/pipeline/batch.js"
import * as Builder from "./internal/pipeline/builder.js"
import * as Definition from "./internal/pipeline/definition.js"
import * as Recorder from "./internal/pipeline/recorder.js"
import type * as Node from "./Node.js"
import type { PipelineError } from "./PipelineError.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Builder.TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

// =============================================================================
// models
// =============================================================================

/**
 * What a failed item does to the run:
 *
 * - `FAIL_FAST` (default): the run fails with the item's {@link PipelineError.PipelineError};
 * - `SKIP_FAILED`: the item is dropped (counted in the metadata, reported as a `StepError` event);
 * - `COLLECT_ERRORS`: the item is dropped and its error kept in the metadata (`errors`);
 * - `SPLIT_ERRORS`: the item is dropped from the output and its error goes to the second stream of
 *   {@link Pipeline.executeSplit} (or the `Left`s of {@link Pipeline.executeEither}); with the other ways of running
 *   it behaves like `COLLECT_ERRORS`.
 *
 * @since 0.1.0
 * @category models
 */
export type ErrorStrategy = "FAIL_FAST" | "SKIP_FAILED" | "COLLECT_ERRORS" | "SPLIT_ERRORS"

/**
 * A retry policy: `maxAttempts` counts the first attempt; `backoff` is the base of an exponential backoff (default
 * 100 milliseconds, doubling) or a `Schedule` of delays; `retryable` lists the error tags worth retrying or decides
 * per error (by default the one rule of `EngineError.isRetryable`: transient engine failures and errors flagged
 * `isRetryable`). The delay is never shorter than the server's retry-after.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryOptions<E = unknown> {
  readonly maxAttempts: number
  readonly backoff?: Duration.DurationInput | Schedule.Schedule<unknown, E> | undefined
  readonly retryable?: ReadonlyArray<string> | ((error: E) => boolean) | undefined
}

/**
 * A retry policy: a `Schedule` fed with the errors (retrying what `EngineError.isRetryable` accepts), or
 * {@link RetryOptions}.
 *
 * @since 0.1.0
 * @category models
 */
export type Retry<E = unknown> = Schedule.Schedule<unknown, E> | RetryOptions<E>

/**
 * Options of the item-wise steps (`map`, `flatMap`, `filter`).
 *
 * - `concurrency` (default 1) and `ordered` (default `true`): see `Concurrency.Options`;
 * - `bufferSize` (default 0): how many items beyond `concurrency` the step may start before the earlier ones are
 *   passed on. A step holds at most `concurrency + bufferSize` items it has pulled and not passed on, so with the
 *   default, `concurrency: 10` means at most 10 items of the step in memory; raise `bufferSize` to keep workers busy
 *   while a slow item holds up the ordered output, or under a bursty consumer;
 * - `errorStrategy` (default `FAIL_FAST`) and `retry` (default none).
 *
 * @since 0.1.0
 * @category models
 */
export interface ItemOptions<E = unknown> {
  readonly concurrency?: number | undefined
  readonly ordered?: boolean | undefined
  readonly bufferSize?: number | undefined
  readonly errorStrategy?: ErrorStrategy | undefined
  readonly retry?: Retry<E> | undefined
}

/**
 * Read access to the snapshots of earlier steps: those of {@link Pipeline.checkpoint} steps, and the outputs of
 * {@link Pipeline.add} steps under the `checkpoints` policy (see {@link StartOptions}).
 *
 * - `accumulated[id]` is the snapshot once complete: a checkpoint's is there for every later step (a checkpoint is
 *   a barrier); an `add` step's is `undefined` until that step has passed on its last output;
 * - `hasSnapshot(id)` says whether `accumulated[id]` is complete;
 * - `materialize(id)` gives the complete snapshot, running the step (and the steps before it) to their end if they
 *   have not got there yet: a whole-stream step may materialise an earlier step before it reads its own input (the
 *   items pulled are kept and still flow on). It fails with the run's error if an earlier step fails, and with an
 *   `InvalidDefinition` error for an `add` step that keeps no snapshot (`checkpoints: "never"`);
 * - `stream(id)` streams the snapshot once `materialize(id)` has it.
 *
 * @since 0.1.0
 * @category models
 */
export interface State<Acc> {
  readonly accumulated: Readonly<Acc>
  readonly hasSnapshot: (id: keyof Acc & string) => boolean
  readonly stream: <K extends keyof Acc & string>(id: K) => Stream.Stream<ElementOf<Acc[K]>, PipelineError>
  readonly materialize: <K extends keyof Acc & string>(id: K) => Effect.Effect<NonNullable<Acc[K]>, PipelineError>
}

/**
 * What a step's function receives besides its input: the step id, the run id, the typed state and the pipeline's
 * context value.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepContext<Acc, C> {
  readonly step: string
  readonly runId: string
  readonly state: State<Acc>
  readonly context: C
}

/**
 * What an item-wise step's function receives with the item: its index in the step's input, and the
 * {@link StepContext}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ItemContext<Acc, C> extends StepContext<Acc, C> {
  readonly index: number
}

/**
 * The argument of a whole-stream step ({@link Pipeline.add}): the input stream and the {@link StepContext}.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamContext<O, E, Acc, C> extends StepContext<Acc, C> {
  readonly input: Stream.Stream<O, PipelineError<E>>
}

/**
 * A group emitted by {@link Pipeline.groupBy}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Group<K, A> {
  readonly key: K
  readonly items: ReadonlyArray<A>
}

/**
 * What a pipeline runs over: a `Stream`, an `Iterable` or an `AsyncIterable`.
 *
 * @since 0.1.0
 * @category models
 */
export type Inputs<A, E = never, R = never> = Stream.Stream<A, E, R> | Iterable<A> | AsyncIterable<A>

/**
 * Options of a run: its id (one is made when omitted) and the context value the steps receive (when the pipeline
 * has no {@link Pipeline.withContext} source; a pipeline started with a context type needs one or the other).
 *
 * @since 0.1.0
 * @category models
 */
export interface ExecuteOptions<C = unknown> {
  readonly runId?: string | undefined
  readonly context?: C | undefined
}

/**
 * The kinds of steps.
 *
 * @since 0.1.0
 * @category models
 */
export type StepKind =
  | "add"
  | "map"
  | "flatMap"
  | "filter"
  | "batch"
  | "unbatch"
  | "take"
  | "skip"
  | "checkpoint"
  | "window"
  | "groupBy"
  | "merge"
  | "join"
  | "addBatch"
  | "step"
  | "pipeline"

/**
 * The statistics of one step in one run. Durations are per item (item-wise steps only), in milliseconds on Effect's
 * `Clock`, from a bounded reservoir of sampled items; `durationMs` spans the step's first item to its last, and
 * `throughput` is `items / durationMs` per second.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepMetadata {
  readonly step: string
  readonly kind: StepKind
  readonly items: number
  readonly outputs: number
  readonly errors: number
  readonly retries: number
  readonly durationMs: number
  readonly throughput: number
  readonly samples: number
  readonly p50: number | undefined
  readonly p95: number | undefined
  readonly p99: number | undefined
}

/**
 * The metadata of a run: its status, duration, per-step statistics and the errors collected by
 * `COLLECT_ERRORS` steps (at most `maxCollectedErrors` of them; `errorCount` counts them all).
 *
 * @since 0.1.0
 * @category models
 */
export interface Metadata {
  readonly pipeline: string
  readonly runId: string | undefined
  readonly status: "idle" | "running" | "success" | "failure" | "interrupted"
  readonly durationMs: number
  readonly steps: ReadonlyArray<StepMetadata>
  readonly errors: ReadonlyArray<PipelineError>
  readonly errorCount: number
}

/**
 * Options of {@link start}: the pipeline's name (the first segment of its event paths and its metric label); the
 * checkpoint policy, `checkpoints`: `"always"` (the default) keeps the outputs of every {@link Pipeline.add} step
 * as a snapshot in `state.accumulated` (memory grows with those outputs; the step stays lazy: it is not a barrier),
 * `"never"` keeps none (`add`'s `checkpoint` option decides per step, and {@link Pipeline.checkpoint} steps always
 * keep theirs); and how metadata is recorded: `sampleRate` (share of items whose duration is measured, default 1), `reservoirSize`
 * (durations kept for the percentiles, default 1024) and `maxCollectedErrors` (default 1000).
 *
 * @since 0.1.0
 * @category models
 */
export interface StartOptions {
  readonly name?: string | undefined
  readonly checkpoints?: "always" | "never" | undefined
  readonly sampleRate?: number | undefined
  readonly reservoirSize?: number | undefined
  readonly maxCollectedErrors?: number | undefined
}

/**
 * A step id, or a readable compile error when the id is already used.
 *
 * @since 0.1.0
 * @category utility types
 */
export type StepId<K extends string, Ids extends string> = [K] extends [Ids] ? `Duplicate step id "${K}"` : K

/**
 * The element type of a checkpointed snapshot.
 *
 * @since 0.1.0
 * @category utility types
 */
export type ElementOf<A> = A extends ReadonlyArray<infer X> ? X : never

type Checkpointed<Acc, K extends string, O> = {
  readonly [k in keyof Acc | K]: k extends K ? ReadonlyArray<O> : Acc[k & keyof Acc]
}

type Recorded<Acc, K extends string, O> = {
  readonly [k in keyof Acc | K]: k extends K ? ReadonlyArray<O> | undefined : Acc[k & keyof Acc]
}

type Flattened<O> = O extends Iterable<infer X> ? X : never

/**
 * A streaming pipeline from `I` to `O`. `E` is the union of its steps' error types (runs fail with a
 * {@link PipelineError.PipelineError} whose `cause` has that type), `R` its requirements, `Ids` the step ids used so
 * far, `Acc` the checkpointed snapshots and `C` the context value its steps receive.
 *
 * @since 0.1.0
 * @category models
 */
export interface Pipeline<I, O, E = never, R = never, Ids extends string = never, Acc = {}, C = void> extends Pipeable {
  readonly [TypeId]: TypeId
  readonly name: string
  /** The steps, in order. */
  readonly steps: ReadonlyArray<{ readonly id: string; readonly kind: StepKind }>

  /**
   * A whole-stream step: `f` receives the input stream (and the step context) and returns the output: a stream, or
   * an iterable or async iterable (a generator), read lazily, one item per pull, and closed when the run stops.
   * Its outputs are kept as the snapshot `state.accumulated[id]` under the `checkpoints` policy (or the
   * `checkpoint` option). `retry` re-runs the step's output from the start when it fails (the outputs already
   * passed on are skipped, as with `flatMap`), so it suits steps whose output is the same when run again.
   */
  add<K extends string, O2, E2 = never, R2 = never>(
    id: StepId<K, Ids>,
    f: (args: StreamContext<O, E, Acc, C>) => Inputs<O2, E2, R2>,
    options?: { readonly checkpoint?: boolean | undefined; readonly retry?: Retry<E2> | undefined } | undefined
  ): Pipeline<I, O2, E | Exclude<E2, PipelineError<any>>, R | R2, Ids | K, Recorded<Acc, K, O2>, C>

  /** Runs an effect (or a `Node`) for every item. */
  map<K extends string, O2, E2 = never, R2 = never>(
    id: StepId<K, Ids>,
    f: ((item: O, ctx: ItemContext<Acc, C>) => Effect.Effect<O2, E2, R2>) | Node.Node<O, O2, E2, R2>,
    options?: ItemOptions<E2> | undefined
  ): Pipeline<I, O2, E | E2, R | R2, Ids | K, Acc, C>

  /**
   * Expands every item into a stream or an iterable, consumed lazily (an endless one works with a later `take`).
   * With `concurrency: n`, up to `n` items expand at once: ordered (the default), the first item's elements flow on
   * as they come while each later item buffers up to `bufferSize` (default 16) chunks of elements; unordered,
   * the elements of all items are interleaved as they come.
   */
  flatMap<K extends string, O2, E2 = never, R2 = never>(
    id: StepId<K, Ids>,
    f: (item: O, ctx: ItemContext<Acc, C>) => Stream.Stream<O2, E2, R2> | Iterable<O2>,
    options?: ItemOptions<E2> | undefined
  ): Pipeline<I, O2, E | E2, R | R2, Ids | K, Acc, C>

  /** Keeps the items for which the predicate (a boolean or an effect of one) holds. */
  filter<K extends string, O2 extends O>(
    id: StepId<K, Ids>,
    refinement: (item: O, ctx: ItemContext<Acc, C>) => item is O2,
    options?: ItemOptions<never> | undefined
  ): Pipeline<I, O2, E, R, Ids | K, Acc, C>
  filter<K extends string, E2 = never, R2 = never>(
    id: StepId<K, Ids>,
    predicate: (item: O, ctx: ItemContext<Acc, C>) => boolean | Effect.Effect<boolean, E2, R2>,
    options?: ItemOptions<E2> | undefined
  ): Pipeline<I, O, E | E2, R | R2, Ids | K, Acc, C>

  /** Groups items into arrays of `size` (the last one may be shorter); with `within`, a batch is also emitted
   * when that much time has passed since its first item. */
  batch<K extends string>(
    id: StepId<K, Ids>,
    size: number,
    options?: { readonly within?: Duration.DurationInput | undefined } | undefined
  ): Pipeline<I, ReadonlyArray<O>, E, R, Ids | K, Acc, C>

  /** Flattens iterable items (the inverse of `batch`). */
  unbatch<K extends string>(id: StepId<K, Ids>): Pipeline<I, Flattened<O>, E, R, Ids | K, Acc, C>

  /** Passes on the first `n` items and stops pulling upstream. */
  take<K extends string>(id: StepId<K, Ids>, n: number): Pipeline<I, O, E, R, Ids | K, Acc, C>

  /** Drops the first `n` items. */
  skip<K extends string>(id: StepId<K, Ids>, n: number): Pipeline<I, O, E, R, Ids | K, Acc, C>

  /**
   * Materialises every item that reaches this point into `state.accumulated[id]` before passing them on (a
   * barrier: later steps start once upstream is exhausted, and memory holds the whole snapshot).
   */
  checkpoint<K extends string>(id: StepId<K, Ids>): Pipeline<I, O, E, R, Ids | K, Checkpointed<Acc, K, O>, C>

  /** Emits windows of `size` consecutive items, every `slide` items (default `size`: tumbling windows). */
  window<K extends string>(
    id: StepId<K, Ids>,
    size: number,
    options?: { readonly slide?: number | undefined } | undefined
  ): Pipeline<I, ReadonlyArray<O>, E, R, Ids | K, Acc, C>

  /** Groups items by a key: a group is emitted when it holds `size` items (if set), and every group at the end. */
  groupBy<K extends string, G>(
    id: StepId<K, Ids>,
    by: (item: O) => G,
    options?: { readonly size?: number | undefined } | undefined
  ): Pipeline<I, Group<G, O>, E, R, Ids | K, Acc, C>

  /** Merges another source into the stream, interleaving items as they come. */
  merge<K extends string, O2, E2 = never, R2 = never>(
    id: StepId<K, Ids>,
    other: Inputs<O2, E2, R2> | ((ctx: StepContext<Acc, C>) => Inputs<O2, E2, R2>)
  ): Pipeline<I, O | O2, E | E2, R | R2, Ids | K, Acc, C>

  /**
   * Joins every item with the items of another source that have the same join key: `inner` (default) emits a pair
   * per match and drops unmatched items, `left` also emits `[item, undefined]` for them. Both sides are read as they
   * come (a symmetric hash join), so pairs are emitted as soon as both halves have arrived, even when the other
   * source never ends; it holds the other source's items, and this side's items until the other source ends (an
   * unmatched item of a `left` join is emitted then, or at once if it arrives after).
   */
  join<K extends string, B, J, E2 = never, R2 = never>(
    id: StepId<K, Ids>,
    other: Inputs<B, E2, R2>,
    options: { readonly left: (item: O) => J; readonly right: (item: B) => J; readonly mode?: "inner" | undefined }
  ): Pipeline<I, readonly [O, B], E | E2, R | R2, Ids | K, Acc, C>
  join<K extends string, B, J, E2 = never, R2 = never>(
    id: StepId<K, Ids>,
    other: Inputs<B, E2, R2>,
    options: { readonly left: (item: O) => J; readonly right: (item: B) => J; readonly mode: "left" }
  ): Pipeline<I, readonly [O, B | undefined], E | E2, R | R2, Ids | K, Acc, C>

  /**
   * A step over arrays inside a streaming pipeline: `f` gets batches of `size` items (the whole stream when `size`
   * is omitted) and its results are passed on one by one.
   */
  addBatch<K extends string, O2, E2 = never, R2 = never>(
    id: StepId<K, Ids>,
    f: (items: ReadonlyArray<O>, ctx: StepContext<Acc, C>) => Effect.Effect<Iterable<O2>, E2, R2>,
    options?: { readonly size?: number | undefined } | undefined
  ): Pipeline<I, O2, E | E2, R | R2, Ids | K, Acc, C>

  /** Takes the context value the steps receive from an effect (e.g. a service Tag) at the start of each run. */
  withContext<C2, E2 = never, R2 = never>(
    context: Effect.Effect<C2, E2, R2>
  ): Pipeline<I, O, E | E2, R | R2, Ids, Acc, C2>

  /** Runs the pipeline over `inputs`, streaming its outputs. */
  execute<EIn = never, RIn = never>(
    inputs: Inputs<I, EIn, RIn>,
    options?: ExecuteOptions<C> | undefined
  ): Stream.Stream<O, PipelineError<E | EIn>, R | RIn>

  /** Runs the pipeline and collects its outputs. */
  executeToArray<EIn = never, RIn = never>(
    inputs: Inputs<I, EIn, RIn>,
    options?: ExecuteOptions<C> | undefined
  ): Effect.Effect<Array<O>, PipelineError<E | EIn>, R | RIn>

  /** Runs the pipeline and folds its outputs. */
  executeReduce<T, EIn = never, RIn = never>(
    inputs: Inputs<I, EIn, RIn>,
    reducer: (accumulator: T, item: O) => T,
    initial: T,
    options?: ExecuteOptions<C> | undefined
  ): Effect.Effect<T, PipelineError<E | EIn>, R | RIn>

  /** Runs the pipeline, streaming its outputs as `Right`s and the items failed in `SPLIT_ERRORS` steps as `Left`s. */
  executeEither<EIn = never, RIn = never>(
    inputs: Inputs<I, EIn, RIn>,
    options?: ExecuteOptions<C> | undefined
  ): Stream.Stream<Either.Either<O, PipelineError<E>>, PipelineError<E | EIn>, R | RIn>

  /**
   * Runs the pipeline as two streams: the outputs, and the items failed in `SPLIT_ERRORS` steps (with their inputs
   * and causes). Consume both concurrently: each buffers up to `bufferSize` (default 64) elements.
   */
  executeSplit<EIn = never, RIn = never>(
    inputs: Inputs<I, EIn, RIn>,
    options?: (ExecuteOptions<C> & { readonly bufferSize?: number | undefined }) | undefined
  ): Effect.Effect<
    readonly [
      outputs: Stream.Stream<O, PipelineError<E | EIn>>,
      errors: Stream.Stream<PipelineError<E>, PipelineError<E | EIn>>
    ],
    never,
    Scope.Scope | R | RIn
  >

  /**
   * Runs the pipeline and streams its events: `RunStart`; per item and item-wise step `StepStart`, `StepEnd` (with
   * the output of `map` steps), `StepError` and `Retry` (at path `[pipeline, step, item]`); the events of `Node`s run
   * by `map` steps (at `[pipeline, step, item, node]`); `StepStart`/`StepEnd` of whole-stream steps; `RunEnd`.
   * The stream fails with the run's error after `RunEnd`.
   */
  events<EIn = never, RIn = never>(
    inputs: Inputs<I, EIn, RIn>,
    options?: (ExecuteOptions<C> & { readonly bufferSize?: number | undefined }) | undefined
  ): Stream.Stream<Event.Event, PipelineError<E | EIn>, R | RIn>

  /**
   * The metadata of the run of this pipeline value that started last (live while it runs). With runs that overlap,
   * use {@link Pipeline.metadataOf} with each run's id.
   */
  readonly metadata: Effect.Effect<Metadata>

  /**
   * The metadata of one run, by its id (the `runId` option of a run, or the `runId` of its events): live while it
   * runs, kept after it ends (the last 64 finished runs of this pipeline value).
   */
  metadataOf(runId: string): Effect.Effect<Option.Option<Metadata>>
}

/**
 * Type helpers for pipelines.
 *
 * @since 0.1.0
 */
export declare namespace Pipeline {
  /**
   * @since 0.1.0
   * @category utility types
   */
  export type Any = Pipeline<any, any, any, any, any, any, any>
  /**
   * @since 0.1.0
   * @category utility types
   */
  export type Input<P> = P extends Pipeline<infer I, any, any, any, any, any, any> ? I : never
  /**
   * @since 0.1.0
   * @category utility types
   */
  export type Output<P> = P extends Pipeline<any, infer O, any, any, any, any, any> ? O : never
  /**
   * @since 0.1.0
   * @category utility types
   */
  export type Error<P> = P extends Pipeline<any, any, infer E, any, any, any, any> ? E : never
  /**
   * @since 0.1.0
   * @category utility types
   */
  export type Context<P> = P extends Pipeline<any, any, any, infer R, any, any, any> ? R : never
  /**
   * @since 0.1.0
   * @category utility types
   */
  export type Ids<P> = P extends Pipeline<any, any, any, any, infer K, any, any> ? K : never
  /**
   * @since 0.1.0
   * @category utility types
   */
  export type Accumulated<P> = P extends Pipeline<any, any, any, any, any, infer A, any> ? A : never
}

// =============================================================================
// metrics
// =============================================================================

/**
 * The Effect `Metric`s every run updates, labelled with `pipeline` and `step`: items started, items passed on,
 * failed items, retries, and a summary (p50/p95/p99 over the last 10 minutes) of sampled item durations in
 * milliseconds (the summary's window follows the wall clock, as Effect's summaries do).
 *
 * @example
 * ```ts
 * import { Effect, Metric, MetricLabel } from "effect"
 * import * as Pipeline from "sluice/Pipeline"
 *
 * const read = Metric.value(
 *   Pipeline.metrics.items.pipe(Metric.taggedWithLabels([MetricLabel.make("pipeline", "docs"), MetricLabel.make("step", "read")]))
 * )
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics: {
  readonly items: Metric.Metric.Counter<number>
  readonly outputs: Metric.Metric.Counter<number>
  readonly errors: Metric.Metric.Counter<number>
  readonly retries: Metric.Metric.Counter<number>
  readonly duration: Metric.Metric.Summary<number>
} = Recorder.metrics

// =============================================================================
// constructors
// =============================================================================

/**
 * Starts a pipeline over inputs of type `I`. `C` is the type of the context value the steps receive (from
 * `execute`'s `context` option or from {@link Pipeline.withContext}).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Pipeline from "sluice/Pipeline"
 *
 * const lengths = Pipeline.start<string>({ name: "lengths" })
 *   .map("length", (s) => Effect.succeed(s.length))
 *   .filter("long", (n) => n > 3)
 * const program = lengths.executeToArray(["a", "abcd", "abcdef"]) // Effect<Array<number>, PipelineError>
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = <I, C = void>(options?: StartOptions | undefined): Pipeline<I, I, never, never, never, {}, C> =>
  Builder.makePipeline(Definition.normalizeStart(options), [], undefined)

/**
 * @example
 * ```ts
 * import * as Pipeline from "sluice/Pipeline"
 *
 * Pipeline.isPipeline(Pipeline.start<number>()) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isPipeline = (u: unknown): u is Pipeline<unknown, unknown, unknown, unknown, string, unknown, unknown> =>
  Predicate.hasProperty(u, TypeId)

// =============================================================================
// batch mode
// =============================================================================

/**
 * @since 0.1.0
 * @category type ids
 */
export const BatchTypeId: unique symbol = Batch.BatchTypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type BatchTypeId = typeof BatchTypeId

/**
 * A batch-mode pipeline: every step receives the whole array of the previous step's outputs. Like the streaming
 * pipeline, every step's output is kept in `state.accumulated[id]` (complete as soon as the step is done), `map`
 * has error strategies and retry, `step` has retry, and each run records its metadata.
 *
 * @since 0.1.0
 * @category models
 */
export interface BatchPipeline<I, O, E = never, R = never, Ids extends string = never, C = void, Acc = {}>
  extends Pipeable
{
  readonly [BatchTypeId]: BatchTypeId
  readonly name: string
  readonly steps: ReadonlyArray<{ readonly id: string; readonly kind: string }>

  /** A step over the whole array; `retry` runs it again when it fails with an error worth retrying. */
  step<K extends string, O2, E2 = never, R2 = never>(
    id: StepId<K, Ids>,
    f: (items: ReadonlyArray<O>, ctx: StepContext<Acc, C>) => Effect.Effect<ReadonlyArray<O2>, E2, R2>,
    options?: { readonly retry?: Retry<E2> | undefined } | undefined
  ): BatchPipeline<I, O2, E | E2, R | R2, Ids | K, C, Checkpointed<Acc, K, O2>>

  /**
   * Runs an effect for every item, `concurrency` at a time (default 1), keeping the order, with an error strategy
   * (`SPLIT_ERRORS` behaves as `COLLECT_ERRORS`: the errors are in the metadata) and retry, as in the streaming
   * pipeline.
   */
  map<K extends string, O2, E2 = never, R2 = never>(
    id: StepId<K, Ids>,
    f: (item: O, ctx: ItemContext<Acc, C>) => Effect.Effect<O2, E2, R2>,
    options?: ItemOptions<E2> | undefined
  ): BatchPipeline<I, O2, E | E2, R | R2, Ids | K, C, Checkpointed<Acc, K, O2>>

  /** Keeps the items for which the predicate holds. */
  filter<K extends string>(
    id: StepId<K, Ids>,
    predicate: (item: O, index: number) => boolean
  ): BatchPipeline<I, O, E, R, Ids | K, C, Checkpointed<Acc, K, O>>

  /** A step-level adapter: runs a stream transformation over the array. */
  stream<K extends string, O2, E2 = never, R2 = never>(
    id: StepId<K, Ids>,
    f: (input: Stream.Stream<O>) => Stream.Stream<O2, E2, R2>
  ): BatchPipeline<I, O2, E | E2, R | R2, Ids | K, C, Checkpointed<Acc, K, O2>>

  /** Runs the pipeline over the inputs. */
  run(inputs: Iterable<I>, options?: ExecuteOptions<C> | undefined): Effect.Effect<Array<O>, PipelineError<E>, R>

  /** The metadata of the run that started last (see {@link Pipeline.metadata}). */
  readonly metadata: Effect.Effect<Metadata>

  /** The metadata of one run, by its id (see {@link Pipeline.metadataOf}). */
  metadataOf(runId: string): Effect.Effect<Option.Option<Metadata>>
}

/**
 * Starts a batch-mode pipeline over arrays of `I`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Pipeline from "sluice/Pipeline"
 *
 * const dedupe = Pipeline.startBatch<string>({ name: "dedupe" })
 *   .step("unique", (items) => Effect.succeed([...new Set(items)]))
 *   .map("upper", (s) => Effect.succeed(s.toUpperCase()), { concurrency: 4 })
 * const program = dedupe.run(["a", "b", "a"]) // Effect<Array<string>, PipelineError>
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const startBatch = <I, C = void>(
  options?: Omit<StartOptions, "checkpoints"> | undefined
): BatchPipeline<I, I, never, never, never, C> =>
  Batch.makeBatch({ ...Definition.normalizeStart(options), name: options?.name ?? "batch" }, [])

/**
 * Adapts a batch-mode pipeline into a streaming one (a single whole-stream step that collects the input, runs the
 * batch pipeline and streams its outputs).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Pipeline from "sluice/Pipeline"
 *
 * const sort = Pipeline.startBatch<number>().step("sort", (xs) => Effect.succeed([...xs].sort((a, b) => a - b)))
 * const streaming = Pipeline.toStreaming(sort).take("first", 2)
 * ```
 *
 * @since 0.1.0
 * @category conversions
 */
export const toStreaming = <I, O, E, R, Ids extends string, C, Acc>(
  self: BatchPipeline<I, O, E, R, Ids, C, Acc>
): Pipeline<I, O, E, R, Ids, {}, C> => Batch.toStreaming(self as any)

/**
 * Adapts a streaming pipeline into a batch-mode one (its `run` is the streaming pipeline's `executeToArray`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Pipeline from "sluice/Pipeline"
 *
 * const doubled = Pipeline.start<number>().map("double", (n) => Effect.succeed(n * 2))
 * const batch = Pipeline.toBatch(doubled).step("sum", (xs) => Effect.succeed([xs.reduce((a, b) => a + b, 0)]))
 * ```
 *
 * @since 0.1.0
 * @category conversions
 */
export const toBatch = <I, O, E, R, Ids extends string, Acc, C>(
  self: Pipeline<I, O, E, R, Ids, Acc, C>
): BatchPipeline<I, O, E, R, Ids, C> => Batch.fromPipeline(self as any)
