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
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import type * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Take from "effect/Take"
import * as Concurrency from "./Concurrency.js"
import * as EngineError from "./EngineError.js"
import * as Event from "./Event.js"
import * as Input from "./internal/inputs.js"
import * as Pool from "./internal/pool.js"
import { quantile, Reservoir } from "./internal/reservoir.js"
import * as RetryModule from "./internal/retry.js"
import * as Node from "./Node.js"
import { isPipelineError, PipelineError } from "./PipelineError.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/Pipeline")

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
export const metrics = {
  items: Metric.counter("sluice_pipeline_items", {
    description: "Items started by a pipeline step",
    incremental: true
  }),
  outputs: Metric.counter("sluice_pipeline_outputs", {
    description: "Items passed on by a pipeline step",
    incremental: true
  }),
  errors: Metric.counter("sluice_pipeline_errors", {
    description: "Items failed in a pipeline step",
    incremental: true
  }),
  retries: Metric.counter("sluice_pipeline_retries", {
    description: "Item retries in a pipeline step",
    incremental: true
  }),
  duration: Metric.summary({
    name: "sluice_pipeline_item_duration_ms",
    description: "Duration of sampled items of a pipeline step, in milliseconds",
    maxAge: "10 minutes",
    maxSize: 1024,
    error: 0.01,
    quantiles: [0.5, 0.95, 0.99]
  })
} as const

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
  makePipeline(normalizeStart(options), [], undefined)

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
export const BatchTypeId: unique symbol = Symbol.for("sluice/Pipeline/Batch")

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
  makeBatch({ ...normalizeStart(options), name: options?.name ?? "batch" }, [], { current: undefined, runs: new Map() })

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
): Pipeline<I, O, E, R, Ids, {}, C> => {
  const impl = self as unknown as BatchImpl
  const def: StepDef = {
    id: impl.settings.name,
    kind: "add",
    invalid: impl.invalid,
    build: (input, run, stats) =>
      Stream.unwrap(
        Effect.flatMap(Stream.runCollect(countIn(input, stats)), (chunk) =>
          Effect.map(
            runBatch(impl, Chunk.toReadonlyArray(chunk), { runId: run.runId, context: run.context }),
            (out) => countOut(Stream.fromIterable(out), stats)
          ))
      )
  }
  return makePipeline({ ...normalizeStart(undefined), name: impl.settings.name }, [def], undefined) as any
}

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
): BatchPipeline<I, O, E, R, Ids, C> =>
  makeBatch({ ...normalizeStart(undefined), name: self.name }, [{
    id: self.name,
    kind: "pipeline",
    run: (items, run) =>
      self.executeToArray(items as ReadonlyArray<I>, { runId: run.runId, context: run.context as C }) as Effect.Effect<
        Array<unknown>,
        PipelineError,
        any
      >
  }], { current: undefined, runs: new Map() })

// =============================================================================
// internal: definitions
// =============================================================================

interface Settings {
  readonly name: string
  readonly checkpoints: "always" | "never"
  readonly sampleRate: number
  readonly reservoirSize: number
  readonly maxCollectedErrors: number
  readonly invalid: string | undefined
}

interface StepDef {
  readonly id: string
  readonly kind: StepKind
  readonly invalid: string | undefined
  readonly build: (input: AnyStream, run: Run, stats: StepRecorder) => AnyStream
}

type AnyStream = Stream.Stream<unknown, PipelineError, any>

interface PipelineImpl {
  readonly settings: Settings
  readonly defs: ReadonlyArray<StepDef>
  readonly contextSource: Effect.Effect<unknown, unknown, unknown> | undefined
  readonly cell: { current: Run | undefined; readonly runs: Map<string, Run> }
}

const normalizeStart = (options: StartOptions | undefined): Settings => {
  const name = options?.name ?? "pipeline"
  const checkpoints = options?.checkpoints ?? "always"
  const sampleRate = options?.sampleRate ?? 1
  const reservoirSize = options?.reservoirSize ?? 1024
  const maxCollectedErrors = options?.maxCollectedErrors ?? 1000
  const invalid = checkpoints !== "always" && checkpoints !== "never"
    ? `checkpoints must be "always" or "never", got ${JSON.stringify(checkpoints)}`
    : !(sampleRate >= 0 && sampleRate <= 1)
    ? `sampleRate must be between 0 and 1, got ${sampleRate}`
    : !isPositiveInteger(reservoirSize)
    ? `reservoirSize must be a positive integer, got ${reservoirSize}`
    : !(Number.isInteger(maxCollectedErrors) && maxCollectedErrors >= 0)
    ? `maxCollectedErrors must be a non-negative integer, got ${maxCollectedErrors}`
    : undefined
  return { name, checkpoints, sampleRate, reservoirSize, maxCollectedErrors, invalid }
}

const isPositiveInteger = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 1
const isCount = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 0

const checkItemOptions = (options: ItemOptions<any> | undefined): string | undefined => {
  if (options === undefined) return undefined
  if (options.concurrency !== undefined && !isPositiveInteger(options.concurrency)) {
    return `concurrency must be a positive integer, got ${options.concurrency}`
  }
  if (options.bufferSize !== undefined && !isCount(options.bufferSize)) {
    return `bufferSize must be a non-negative integer, got ${options.bufferSize}`
  }
  if (
    options.errorStrategy !== undefined &&
    !["FAIL_FAST", "SKIP_FAILED", "COLLECT_ERRORS", "SPLIT_ERRORS"].includes(options.errorStrategy)
  ) {
    return `unknown errorStrategy ${JSON.stringify(options.errorStrategy)}`
  }
  const retry = options.retry
  if (retry !== undefined && !Schedule.isSchedule(retry) && !isPositiveInteger(retry.maxAttempts)) {
    return `retry.maxAttempts must be a positive integer, got ${retry.maxAttempts}`
  }
  return undefined
}

const Proto = {
  [TypeId]: TypeId,
  pipe() {
    return pipeArguments(this, arguments)
  },
  get name(): string {
    return (this as unknown as PipelineImpl).settings.name
  },
  get steps() {
    return (this as unknown as PipelineImpl).defs.map(({ id, kind }) => ({ id, kind }))
  },
  get metadata(): Effect.Effect<Metadata> {
    const self = this as unknown as PipelineImpl
    return Effect.sync(() => snapshot(self.settings.name, self.cell.current))
  },
  metadataOf(this: PipelineImpl, runId: string): Effect.Effect<Option.Option<Metadata>> {
    return Effect.sync(() => {
      const run = this.cell.runs.get(runId)
      return run === undefined ? Option.none() : Option.some(snapshot(this.settings.name, run))
    })
  },
  add(
    this: PipelineImpl,
    id: string,
    f: (args: StreamContext<unknown, unknown, unknown, unknown>) => Inputs<unknown, unknown, unknown>,
    options?: { readonly checkpoint?: boolean | undefined; readonly retry?: Retry<unknown> | undefined }
  ) {
    const retry = options?.retry
    const invalid = retry !== undefined && !Schedule.isSchedule(retry) && !isPositiveInteger(retry.maxAttempts)
      ? `retry.maxAttempts must be a positive integer, got ${retry.maxAttempts}`
      : undefined
    return append(this, id, "add", invalid, (input, run, stats) => {
      const output = Stream.suspend(() => {
        const source = () =>
          Input.toStream(f({
            input: countIn(input, stats) as Stream.Stream<unknown, PipelineError>,
            ...stepContext(run, stats)
          }))
        const retried = retry === undefined
          ? Stream.suspend(source)
          : retryStream(source, retryPolicy(retry)!, run, stats)
        const wrapped = countOut(Stream.mapError(retried, (e) => toStepError(run, stats, e)), stats)
        return run.emit === undefined ? wrapped : withStepEvents(wrapped, run, stats)
      })
      const record = options?.checkpoint ?? run.settings.checkpoints === "always"
      return record ? run.tap(id, output, false) : output
    })
  },
  map(this: PipelineImpl, id: string, f: unknown, options?: ItemOptions<any>) {
    const call: MakeCall = Node.isNode(f)
      ? nodeCall(f as Node.Node<unknown, unknown, unknown, unknown>)
      : () => f as Call
    return append(
      this,
      id,
      "map",
      checkItemOptions(options),
      (input, run, stats) =>
        Pool.run(input, itemStep(run, stats, call(run, stats), options, true), poolOptions(options))
    )
  },
  flatMap(this: PipelineImpl, id: string, f: Call, options?: ItemOptions<any>) {
    return append(
      this,
      id,
      "flatMap",
      checkItemOptions(options),
      (input, run, stats) => lazyFlatMap(input, run, stats, f, options)
    )
  },
  filter(this: PipelineImpl, id: string, predicate: Call, options?: ItemOptions<any>) {
    const call: Call = (item, ctx) => {
      const result = predicate(item, ctx) as boolean | Effect.Effect<boolean, unknown, unknown>
      if (typeof result === "boolean") return result ? Exit.succeed(item) : exitSkip
      return Effect.map(result, (keep) => keep ? item : Pool.Skip)
    }
    return append(
      this,
      id,
      "filter",
      checkItemOptions(options),
      (input, run, stats) => Pool.run(input, itemStep(run, stats, call, options, false), poolOptions(options))
    )
  },
  batch(this: PipelineImpl, id: string, size: number, options?: { readonly within?: Duration.DurationInput }) {
    const invalid = !isPositiveInteger(size) ? `batch size must be a positive integer, got ${size}` : undefined
    return append(this, id, "batch", invalid, (input, _run, stats) => {
      const grouped = options?.within === undefined
        ? Stream.grouped(countIn(input, stats), size)
        : Stream.groupedWithin(countIn(input, stats), size, options.within)
      return countOut(Stream.map(grouped, Chunk.toReadonlyArray), stats)
    })
  },
  unbatch(this: PipelineImpl, id: string) {
    return append(
      this,
      id,
      "unbatch",
      undefined,
      (input, _run, stats) =>
        countOut(
          Stream.flattenIterables(countIn(input, stats) as Stream.Stream<Iterable<unknown>, PipelineError>),
          stats
        )
    )
  },
  take(this: PipelineImpl, id: string, n: number) {
    const invalid = !isCount(n) ? `take count must be a non-negative integer, got ${n}` : undefined
    return append(
      this,
      id,
      "take",
      invalid,
      (input, _run, stats) => countOut(Stream.take(countIn(input, stats), n), stats)
    )
  },
  skip(this: PipelineImpl, id: string, n: number) {
    const invalid = !isCount(n) ? `skip count must be a non-negative integer, got ${n}` : undefined
    return append(
      this,
      id,
      "skip",
      invalid,
      (input, _run, stats) => countOut(Stream.drop(countIn(input, stats), n), stats)
    )
  },
  checkpoint(this: PipelineImpl, id: string) {
    return append(
      this,
      id,
      "checkpoint",
      undefined,
      (input, run, stats) => countOut(run.tap(id, countIn(input, stats), true), stats)
    )
  },
  window(this: PipelineImpl, id: string, size: number, options?: { readonly slide?: number }) {
    const slide = options?.slide ?? size
    const invalid = !isPositiveInteger(size)
      ? `window size must be a positive integer, got ${size}`
      : !isPositiveInteger(slide)
      ? `window slide must be a positive integer, got ${slide}`
      : undefined
    return append(
      this,
      id,
      "window",
      invalid,
      (input, _run, stats) =>
        countOut(Stream.map(Stream.slidingSize(countIn(input, stats), size, slide), Chunk.toReadonlyArray), stats)
    )
  },
  groupBy(this: PipelineImpl, id: string, by: (item: unknown) => unknown, options?: { readonly size?: number }) {
    const size = options?.size
    const invalid = size !== undefined && !isPositiveInteger(size)
      ? `group size must be a positive integer, got ${size}`
      : undefined
    return append(this, id, "groupBy", invalid, (input, _run, stats) =>
      Stream.suspend(() => {
        const groups = new Map<unknown, Array<unknown>>()
        const full = Stream.mapChunks(countIn(input, stats), (chunk) => {
          const out: Array<Group<unknown, unknown>> = []
          for (const item of chunk) {
            const k = by(item)
            let items = groups.get(k)
            if (items === undefined) {
              items = []
              groups.set(k, items)
            }
            items.push(item)
            if (size !== undefined && items.length >= size) {
              groups.delete(k)
              out.push({ key: k, items })
            }
          }
          return Chunk.unsafeFromArray(out)
        })
        const rest = Stream.suspend(() =>
          Stream.fromIterable(Array.from(groups, ([k, items]): Group<unknown, unknown> => ({ key: k, items })))
        )
        return countOut(Stream.concat(full, rest), stats)
      }))
  },
  merge(this: PipelineImpl, id: string, other: unknown) {
    return append(this, id, "merge", undefined, (input, run, stats) =>
      Stream.suspend(() => {
        const source = typeof other === "function"
          ? (other as (ctx: StepContext<unknown, unknown>) => Inputs<unknown, unknown, unknown>)(
            stepContext(run, stats)
          )
          : other as Inputs<unknown, unknown, unknown>
        const right = Stream.mapError(Input.toStream(source), (e) => toStepError(run, stats, e))
        return countOut(Stream.merge(countIn(input, stats), right), stats)
      }))
  },
  join(
    this: PipelineImpl,
    id: string,
    other: Inputs<unknown, unknown, unknown>,
    options: {
      readonly left: (item: unknown) => unknown
      readonly right: (item: unknown) => unknown
      readonly mode?: "inner" | "left"
    }
  ) {
    return append(this, id, "join", undefined, (input, run, stats) =>
      Stream.suspend(() => {
        // A symmetric hash join: both sides are read as they come. Left items are kept (to meet right items still
        // to come) only until the right side ends; from then on they stream through the complete right table.
        const rights = new Map<unknown, Array<unknown>>()
        const lefts = new Map<unknown, Array<{ readonly item: unknown; matched: boolean }>>()
        let rightDone = false
        const leftMode = options.mode === "left"
        type Side = { readonly side: 0; readonly item: unknown } | { readonly side: 1; readonly item: unknown } | {
          readonly side: 2
        }
        const right: Stream.Stream<Side, PipelineError, unknown> = Stream.concat(
          Stream.map(
            Stream.mapError(Input.toStream(other), (e) => toStepError(run, stats, e)),
            (item): Side => ({ side: 1, item })
          ),
          Stream.succeed<Side>({ side: 2 })
        )
        const left = Stream.map(countIn(input, stats), (item): Side => ({ side: 0, item }))
        const joined = Stream.mapConcat(
          Stream.merge(left, right),
          (event): ReadonlyArray<readonly [unknown, unknown]> => {
            if (event.side === 0) {
              const k = options.left(event.item)
              const matches = rights.get(k)
              const out = matches === undefined ? [] : matches.map((row) => [event.item, row] as const)
              if (rightDone) return out.length === 0 && leftMode ? [[event.item, undefined]] : out
              const waiting = lefts.get(k)
              const entry = { item: event.item, matched: out.length > 0 }
              if (waiting === undefined) lefts.set(k, [entry])
              else waiting.push(entry)
              return out
            }
            if (event.side === 1) {
              const k = options.right(event.item)
              const rows = rights.get(k)
              if (rows === undefined) rights.set(k, [event.item])
              else rows.push(event.item)
              const waiting = lefts.get(k)
              if (waiting === undefined) return []
              return waiting.map((entry) => {
                entry.matched = true
                return [entry.item, event.item] as const
              })
            }
            rightDone = true
            const unmatched: Array<readonly [unknown, unknown]> = []
            if (leftMode) {
              for (const entries of lefts.values()) {
                for (const entry of entries) if (!entry.matched) unmatched.push([entry.item, undefined])
              }
            }
            lefts.clear()
            return unmatched
          }
        )
        return countOut(joined, stats)
      }))
  },
  addBatch(
    this: PipelineImpl,
    id: string,
    f: (items: ReadonlyArray<unknown>, ctx: StepContext<unknown, unknown>) => Effect.Effect<Iterable<unknown>>,
    options?: { readonly size?: number }
  ) {
    const size = options?.size
    const invalid = size !== undefined && !isPositiveInteger(size)
      ? `batch size must be a positive integer, got ${size}`
      : undefined
    return append(this, id, "addBatch", invalid, (input, run, stats) => {
      const ctx = stepContext(run, stats)
      const apply = (items: ReadonlyArray<unknown>) =>
        Effect.mapError(Effect.suspend(() => f(items, ctx)), (e) => toStepError(run, stats, e))
      const counted = countIn(input, stats)
      const out = size === undefined
        ? Stream.flattenIterables(Stream.fromEffect(
          Effect.flatMap(Stream.runCollect(counted), (chunk) => apply(Chunk.toReadonlyArray(chunk)))
        ))
        : Stream.flattenIterables(
          Stream.mapEffect(Stream.grouped(counted, size), (chunk) => apply(Chunk.toReadonlyArray(chunk)))
        )
      return countOut(out, stats)
    })
  },
  withContext(this: PipelineImpl, context: Effect.Effect<unknown, unknown, unknown>) {
    return makePipeline(this.settings, this.defs, context)
  },
  execute(this: PipelineImpl, inputs: Inputs<unknown, unknown, unknown>, options?: ExecuteOptions<unknown>) {
    return execute(this, inputs, options, undefined, false)
  },
  executeToArray(this: PipelineImpl, inputs: Inputs<unknown, unknown, unknown>, options?: ExecuteOptions<unknown>) {
    return Effect.map(Stream.runCollect(execute(this, inputs, options, undefined, false)), Chunk.toArray)
  },
  executeReduce(
    this: PipelineImpl,
    inputs: Inputs<unknown, unknown, unknown>,
    reducer: (accumulator: unknown, item: unknown) => unknown,
    initial: unknown,
    options?: ExecuteOptions<unknown>
  ) {
    return Effect.suspend(() => {
      let accumulator = initial
      return Effect.as(
        Stream.runForEachChunk(execute(this, inputs, options, undefined, false), (chunk) =>
          Effect.sync(() => {
            for (const item of chunk) accumulator = reducer(accumulator, item)
          })),
        Effect.sync(() => accumulator)
      ).pipe(Effect.flatten)
    })
  },
  executeEither(this: PipelineImpl, inputs: Inputs<unknown, unknown, unknown>, options?: ExecuteOptions<unknown>) {
    return execute(this, inputs, options, undefined, true)
  },
  executeSplit(
    this: PipelineImpl,
    inputs: Inputs<unknown, unknown, unknown>,
    options?: ExecuteOptions<unknown> & { readonly bufferSize?: number }
  ) {
    return Effect.map(
      Stream.partitionEither(
        execute(this, inputs, options, undefined, true) as Stream.Stream<
          Either.Either<unknown, PipelineError>,
          PipelineError
        >,
        Effect.succeed,
        { bufferSize: options?.bufferSize ?? Concurrency.defaultBufferSize }
      ),
      ([errors, outputs]) => [outputs, errors] as const
    )
  },
  events(
    this: PipelineImpl,
    inputs: Inputs<unknown, unknown, unknown>,
    options?: ExecuteOptions<unknown> & { readonly bufferSize?: number }
  ) {
    return events(this, inputs, options)
  }
}

const events = (
  self: PipelineImpl,
  inputs: Inputs<unknown, unknown, unknown>,
  options: (ExecuteOptions<unknown> & { readonly bufferSize?: number }) | undefined
) =>
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
        Effect.flatMap(Event.now, (ended) => {
          const status = Exit.isSuccess(exit)
            ? "success"
            : Cause.isInterruptedOnly(exit.cause)
            ? "interrupted"
            : "failure"
          return Effect.zipRight(
            emit(Event.make("RunEnd", origin(ended), { status, durationMs: ended - started })),
            Queue.offer(
              queue,
              Exit.isSuccess(exit) ? Take.end : Take.failCause(exit.cause as Cause.Cause<PipelineError>)
            )
          )
        })
      ),
      Effect.forkScoped
    )
    // Finalizers run in reverse order: the queue is shut down before the run is interrupted, so that a consumer that
    // stopped early (a `take`) never leaves the run's last events blocked on a full queue nobody reads.
    yield* Effect.addFinalizer(() => Queue.shutdown(queue))
    return Stream.flattenTake(Stream.fromQueue(queue))
  }))

const makePipeline = (
  settings: Settings,
  defs: ReadonlyArray<StepDef>,
  contextSource: Effect.Effect<unknown, unknown, unknown> | undefined
): any => {
  const self = Object.create(Proto)
  self.settings = settings
  self.defs = defs
  self.contextSource = contextSource
  self.cell = { current: undefined, runs: new Map() }
  return self
}

const append = (
  self: PipelineImpl,
  id: string,
  kind: StepKind,
  invalid: string | undefined,
  build: StepDef["build"]
): any => {
  const duplicate = self.defs.some((def) => def.id === id)
  const problem = typeof id !== "string" || id.length === 0
    ? `step ids must be non-empty strings, got ${JSON.stringify(id)}`
    : duplicate
    ? `duplicate step id "${id}"`
    : invalid
  return makePipeline(self.settings, [...self.defs, { id, kind, invalid: problem, build }], self.contextSource)
}

// =============================================================================
// internal: runs
// =============================================================================

type Call = (item: unknown, ctx: ItemContext<any, any>) => any
type MakeCall = (run: Run, stats: StepRecorder) => Call

class Run {
  readonly checkpoints: Record<string, ReadonlyArray<unknown>> = {}
  readonly taps = new Map<string, Tap>()
  readonly stats: Array<StepRecorder>
  readonly collected: Array<PipelineError> = []
  collectedTotal = 0
  readonly split: Array<PipelineError> | undefined
  status: Metadata["status"] = "running"
  endedAt: number | undefined = undefined
  readonly state: State<any>

  constructor(
    readonly settings: Settings,
    readonly defs: ReadonlyArray<StepDef>,
    readonly runId: string,
    readonly context: unknown,
    readonly clock: Clock.Clock,
    readonly emit: ((event: Event.Event) => Effect.Effect<unknown>) | undefined,
    readonly traceId: string | undefined,
    readonly spanId: string | undefined,
    splitting: boolean,
    readonly startedAt: number,
    readonly scope: Scope.Scope
  ) {
    this.split = splitting ? [] : undefined
    this.stats = defs.map((def) => new StepRecorder(settings, def, clock))
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
class Tap {
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

class StepRecorder {
  readonly id: string
  readonly kind: StepKind
  readonly path: ReadonlyArray<string>
  readonly labels: ReadonlyArray<MetricLabel.MetricLabel>
  items = 0
  outputs = 0
  errors = 0
  retries = 0
  firstAt = -1
  lastAt = -1
  /**
   * Counts not yet added to the `Metric` counters: flushed every 256 items, when a timed item completes a second or
   * more after the last flush, after each chunk of a whole-stream step and at the end of the run.
   */
  pendingItems = 0
  flushedAt = -1
  pendingOutputs = 0
  readonly reservoir: Reservoir
  readonly rate: number

  constructor(settings: Settings, def: StepDef, readonly clock: Clock.Clock) {
    this.id = def.id
    this.kind = def.kind
    this.path = [settings.name, def.id]
    this.labels = [MetricLabel.make("pipeline", settings.name), MetricLabel.make("step", def.id)]
    this.reservoir = new Reservoir(settings.reservoirSize)
    this.rate = settings.sampleRate
  }

  /** Whether the duration of the item at `index` is measured (per `sampleRate`). */
  sampled(index: number): boolean {
    const rate = this.rate
    return rate >= 1 || (rate > 0 && Math.floor((index + 1) * rate) > Math.floor(index * rate))
  }

  started(n: number): void {
    this.items += n
    this.pendingItems += n
    if (this.firstAt < 0) this.firstAt = this.clock.unsafeCurrentTimeMillis()
    if (this.pendingItems >= 256) this.flush()
  }

  passed(n: number): void {
    this.outputs += n
    this.pendingOutputs += n
    if (this.pendingOutputs >= 256) this.flush()
  }

  /** Records the time of the step's latest activity. */
  touch(now: number): void {
    if (now > this.lastAt) this.lastAt = now
  }

  record(durationMs: number, now: number): void {
    this.touch(now)
    this.reservoir.add(durationMs)
    metrics.duration.unsafeUpdate(durationMs, this.labels)
    if (now - this.flushedAt >= 1000) this.flush()
  }

  failed(now: number): void {
    this.errors++
    this.touch(now)
    metrics.errors.unsafeUpdate(1, this.labels)
  }

  retried(): void {
    this.retries++
    metrics.retries.unsafeUpdate(1, this.labels)
  }

  flush(): void {
    this.flushedAt = this.lastAt
    if (this.pendingItems > 0) {
      metrics.items.unsafeUpdate(this.pendingItems, this.labels)
      this.pendingItems = 0
    }
    if (this.pendingOutputs > 0) {
      metrics.outputs.unsafeUpdate(this.pendingOutputs, this.labels)
      this.pendingOutputs = 0
    }
  }

  metadata(): StepMetadata {
    const durationMs = this.firstAt < 0 || this.lastAt < 0 ? 0 : Math.max(0, this.lastAt - this.firstAt)
    const sorted = this.reservoir.sorted()
    return {
      step: this.id,
      kind: this.kind,
      items: this.items,
      outputs: this.outputs,
      errors: this.errors,
      retries: this.retries,
      durationMs,
      throughput: durationMs > 0 ? (this.items * 1000) / durationMs : 0,
      samples: this.reservoir.seen,
      p50: quantile(sorted, 0.5),
      p95: quantile(sorted, 0.95),
      p99: quantile(sorted, 0.99)
    }
  }
}

const snapshot = (name: string, run: Run | undefined): Metadata => {
  if (run === undefined) {
    return { pipeline: name, runId: undefined, status: "idle", durationMs: 0, steps: [], errors: [], errorCount: 0 }
  }
  return {
    pipeline: name,
    runId: run.runId,
    status: run.status,
    durationMs: (run.endedAt ?? run.now()) - run.startedAt,
    steps: run.stats.map((stats) => stats.metadata()),
    errors: [...run.collected],
    errorCount: run.collectedTotal
  }
}

const execute = (
  self: PipelineImpl,
  inputs: Inputs<unknown, unknown, unknown>,
  options: ExecuteOptions<unknown> | undefined,
  emit: ((event: Event.Event) => Effect.Effect<unknown>) | undefined,
  splitting: boolean
): any => {
  const { settings } = self
  const stream: Stream.Stream<unknown, PipelineError, unknown> = Stream.unwrapScoped(Effect.gen(function*() {
    const invalid = settings.invalid !== undefined
      ? { step: "start", description: settings.invalid }
      : self.defs.find((def) => def.invalid !== undefined)
    if (invalid !== undefined) {
      const description = "description" in invalid ? invalid.description : (invalid as StepDef).invalid
      return Stream.fail(
        new PipelineError({
          pipeline: settings.name,
          step: "step" in invalid ? invalid.step : (invalid as StepDef).id,
          reason: "InvalidDefinition",
          description
        })
      )
    }
    const runId = options?.runId ?? (yield* Node.makeRunId)
    const context = self.contextSource === undefined
      ? options?.context
      : yield* Effect.mapError(
        self.contextSource,
        (cause) =>
          new PipelineError({
            pipeline: settings.name,
            step: "context",
            reason: "StepFailed",
            cause: Cause.originalError(cause)
          })
      )
    const span = yield* Effect.option(Effect.currentSpan)
    const clock = yield* Effect.clock
    const run = new Run(
      settings,
      self.defs,
      runId,
      context,
      clock,
      emit,
      Option.isSome(span) ? span.value.traceId : undefined,
      Option.isSome(span) ? span.value.spanId : undefined,
      splitting,
      clock.unsafeCurrentTimeMillis(),
      yield* Effect.scope
    )
    self.cell.current = run
    remember(self.cell.runs, run)
    let output: AnyStream = Stream.mapError(
      Input.toStream(inputs),
      (cause) =>
        new PipelineError({
          pipeline: settings.name,
          step: "input",
          reason: "InputFailed",
          cause: Cause.originalError(cause)
        })
    )
    self.defs.forEach((def, i) => {
      output = def.build(output, run, run.stats[i]!)
    })
    if (run.split !== undefined) output = withSplit(output, run.split)
    return Stream.ensuringWith(output, (exit) =>
      Effect.sync(() => {
        run.endedAt = run.now()
        for (const stats of run.stats) stats.flush()
        run.status = Exit.isSuccess(exit)
          ? "success"
          : Cause.isInterruptedOnly(exit.cause)
          ? "interrupted"
          : "failure"
      }))
  }))
  return Stream.withSpan(stream, "Pipeline.execute", { attributes: { pipeline: settings.name } })
}

/** How many finished runs `metadataOf` still knows (runs in progress are always known). */
const keptRuns = 64

const remember = (runs: Map<string, Run>, run: Run): void => {
  runs.delete(run.runId)
  runs.set(run.runId, run)
  if (runs.size <= keptRuns) return
  for (const [id, old] of runs) {
    if (runs.size <= keptRuns) break
    if (old.endedAt !== undefined) runs.delete(id)
  }
}

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

const stepContext = (run: Run, stats: StepRecorder): StepContext<any, any> => ({
  step: stats.id,
  runId: run.runId,
  state: run.state,
  context: run.context
})

const countIn = <A, E, R>(input: Stream.Stream<A, E, R>, stats: StepRecorder): Stream.Stream<A, E, R> =>
  Stream.mapChunks(input, (chunk) => {
    stats.started(chunk.length)
    stats.flush()
    return chunk
  })

const countOut = <A, E, R>(output: Stream.Stream<A, E, R>, stats: StepRecorder): Stream.Stream<A, E, R> =>
  Stream.mapChunks(output, (chunk) => {
    stats.passed(chunk.length)
    stats.touch(stats.clock.unsafeCurrentTimeMillis())
    stats.flush()
    return chunk
  })

const toStepError = (run: Run, stats: StepRecorder, cause: unknown): PipelineError =>
  isPipelineError(cause) ? cause : new PipelineError({
    pipeline: run.settings.name,
    step: stats.id,
    reason: "StepFailed",
    retryable: EngineError.isRetryable(cause),
    cause: Cause.originalError(cause),
    traceId: run.traceId,
    spanId: run.spanId
  })

const withStepEvents = (output: AnyStream, run: Run, stats: StepRecorder): AnyStream =>
  Stream.suspend(() => {
    const emit = run.emit!
    const start = run.now()
    return Stream.concat(
      Stream.drain(Stream.fromEffect(emit(Event.make("StepStart", run.origin(stats.path), {})))),
      Stream.concat(
        output,
        Stream.drain(Stream.fromEffect(Effect.suspend(() => {
          const origin = run.origin(stats.path)
          return emit(Event.make("StepEnd", origin, { durationMs: origin.timestamp - start }))
        })))
      )
    )
  })

/**
 * With more than one worker, a step holds at most `concurrency + bufferSize` items (default `bufferSize` 0: exactly
 * `concurrency`). With one, items are handled as they are pulled and `bufferSize` only caps how many outputs of
 * already-complete effects go out in one chunk (at least 64, so trivial steps stay fast).
 */
const poolOptions = (options: ItemOptions<any> | undefined): Pool.Options => {
  const concurrency = options?.concurrency ?? 1
  return {
    concurrency,
    ordered: options?.ordered ?? true,
    bufferSize: concurrency > 1 ? options?.bufferSize ?? 0 : Math.max(options?.bufferSize ?? 0, sequentialChunk)
  }
}

const sequentialChunk = 64

const exitSkip: Exit.Exit<Pool.Skip> = Exit.succeed(Pool.Skip)

const toStream = (result: unknown): Stream.Stream<unknown, unknown, unknown> =>
  Predicate.hasProperty(result, Stream.StreamTypeId)
    ? result as Stream.Stream<unknown, unknown, unknown>
    : Array.isArray(result)
    ? Stream.fromIterable(result)
    : Input.fromLazyIterable(result as Iterable<unknown>)

// =============================================================================
// internal: item-wise steps
// =============================================================================

const retryPolicy = (retry: Retry<any> | undefined): RetryModule.Policy | undefined => {
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
      : (error) => tags.includes(Node.errorTag(error)) || (hasCode(error) && tags.includes(String(error.code)))
  }
}

/** Whether an error carries a `code` (`ETIMEDOUT`, `RATE_LIMIT`, an HTTP status), as Node.js errors do. */
const hasCode = (error: unknown): error is { readonly code: string | number } =>
  Predicate.hasProperty(error, "code") && (typeof error.code === "string" || typeof error.code === "number")

/**
 * Runs a whole-stream step's output and, when it fails with an error the policy retries (never an earlier step's
 * `PipelineError`), runs it again after the policy's delay, skipping the outputs already passed on.
 */
const retryStream = (
  source: () => Stream.Stream<unknown, unknown, any>,
  retry: RetryModule.Policy,
  run: Run,
  stats: StepRecorder
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
      ({ attempt, delayMs, error }) => {
        stats.retried()
        return run.emit === undefined ? Stream.empty : Stream.drain(Stream.fromEffect(run.emit(Event.make(
          "Retry",
          run.origin(stats.path),
          { attempt, error: Node.errorTag(error), message: Node.errorMessage(error), delayMs }
        ))))
      }
    )
  })

/** The error of one item that failed (or died) after `attempts` attempts at a step. */
const itemError = (
  run: Run,
  stats: StepRecorder,
  item: unknown,
  index: number,
  cause: Cause.Cause<unknown>,
  attempts: number
): PipelineError => {
  const failure = Cause.failureOption(cause)
  const typed = Option.isSome(failure)
  return new PipelineError({
    pipeline: run.settings.name,
    step: stats.id,
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

const itemContext = (run: Run, stats: StepRecorder, index: number): ItemContext<any, any> => ({
  index,
  step: stats.id,
  runId: run.runId,
  state: run.state,
  context: run.context
})

const invoke = (call: Call, item: unknown, ctx: ItemContext<any, any>): Effect.Effect<unknown, unknown, unknown> => {
  const result = Either.try(() => call(item, ctx))
  return Either.isRight(result) ? result.right : Exit.die(result.left)
}

/**
 * Wraps a step's function for the concurrency core: counts, samples durations, applies the retry policy and the
 * error strategy, and emits the per-item events when the run is observed. Without events and retries, a function
 * whose effect is already complete stays on the core's synchronous path.
 */
const itemStep = (
  run: Run,
  stats: StepRecorder,
  call: Call,
  options: ItemOptions<any> | undefined,
  isMap: boolean
): Pool.Step<unknown, unknown, PipelineError, unknown> => {
  const strategy = options?.errorStrategy ?? "FAIL_FAST"
  const retry = retryPolicy(options?.retry)
  const emit = run.emit

  const completed = (value: unknown, t0: number): void => {
    if (t0 >= 0) {
      const now = run.now()
      stats.record(now - t0, now)
    }
    if (value !== Pool.Skip) stats.passed(1)
  }

  const toError = (item: unknown, index: number, cause: Cause.Cause<unknown>, attempts: number): PipelineError =>
    itemError(run, stats, item, index, cause, attempts)

  const failed = (error: PipelineError): Exit.Exit<Pool.Skip, PipelineError> => {
    stats.failed(run.now())
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

  if (emit === undefined && retry === undefined) {
    return {
      start: (item, index, slot) => {
        stats.started(1)
        // Reading the clock costs about as much as a trivial item: items whose effect is already complete are
        // timed one in 64; the others from when their effect starts running.
        const sampled = stats.sampled(index)
        slot.t0 = sampled && (index & 63) === 0 ? run.now() : -1
        const effect = invoke(call, item, itemContext(run, stats, index))
        slot.async = !Exit.isExit(effect)
        if (slot.async && sampled && slot.t0 < 0) slot.t0 = run.now()
        return effect
      },
      succeed: (value, _item, _index, slot) => {
        completed(value, slot.t0)
        return value
      },
      fail: (cause, item, index) =>
        Cause.isInterruptedOnly(cause) ? Exit.failCause(cause) : failed(toError(item, index, cause, 1))
    }
  }

  return {
    start: (item, index) => slow(item, index),
    succeed: (value) => value,
    fail: Exit.failCause
  }

  function slow(item: unknown, index: number): Effect.Effect<unknown, PipelineError, unknown> {
    return Effect.suspend(() => {
      const start = run.now()
      stats.started(1)
      const t0 = stats.sampled(index) ? start : -1
      const ctx = itemContext(run, stats, index)
      let attempts = 1
      const once = invoke(call, item, ctx)
      const tries = retry === undefined ? once : RetryModule.effect(once, retry, ({ attempt, delayMs, error }) => {
        attempts = attempt + 1
        stats.retried()
        return emit === undefined ? Effect.void : emit(Event.make(
          "Retry",
          run.origin([...stats.path, String(index)]),
          { attempt, error: Node.errorTag(error), message: Node.errorMessage(error), delayMs }
        ))
      })
      const attempt = (): Effect.Effect<unknown, PipelineError, unknown> =>
        Effect.matchCauseEffect(tries, {
          onSuccess: (value) => {
            completed(value, t0)
            stats.flush()
            if (emit === undefined) return Exit.succeed(value)
            const origin = run.origin(stats.path)
            const fields = isMap
              ? { durationMs: origin.timestamp - start, item: index, output: value }
              : { durationMs: origin.timestamp - start, item: index }
            return Effect.as(emit(Event.make("StepEnd", origin, fields)), value)
          },
          onFailure: (cause): Effect.Effect<unknown, PipelineError, unknown> =>
            Cause.isInterruptedOnly(cause) ? Exit.failCause(cause as Cause.Cause<never>) : giveUp(cause, attempts)
        })
      const giveUp = (cause: Cause.Cause<unknown>, attempts: number): Effect.Effect<unknown, PipelineError> => {
        const error = toError(item, index, cause, attempts)
        if (emit === undefined) {
          return failed(error)
        }
        return Effect.zipRight(
          emit(Event.make("StepError", run.origin(stats.path), {
            error: Node.errorTag(error.cause),
            message: error.message,
            retryable: error.retryable,
            item: index
          })),
          failed(error)
        )
      }
      const body = attempt()
      return emit === undefined
        ? body
        : Effect.zipRight(
          emit(Event.make("StepStart", run.origin(stats.path), { item: index, input: Event.preview(item) })),
          body
        )
    })
  }
}

const nodeCall = (node: Node.Node<unknown, unknown, unknown, unknown>): MakeCall => (run, stats) => (item, ctx) => {
  const path = [...stats.path, String(ctx.index), node.name]
  const events = Node.streamIn(node, item, { runId: run.runId, path })
  const emit = run.emit
  if (emit === undefined) {
    return Effect.flatMap(
      Node.finalResult(events),
      (result) =>
        Option.isSome(result)
          ? Effect.succeed(result.value)
          : Effect.dieMessage(`node "${node.name}" ended without an output`)
    )
  }
  return Effect.suspend(() => {
    let output: Option.Option<unknown> = Option.none()
    return Effect.zipRight(
      Stream.runForEach(events, (event) => {
        if (event._tag === "StepEnd" && Event.samePath(event.path, path)) output = Option.some(event.output)
        return emit(event)
      }),
      Effect.suspend(() =>
        Option.isSome(output)
          ? Effect.succeed(output.value)
          : Effect.dieMessage(`node "${node.name}" ended without an output`)
      )
    )
  })
}

/**
 * `flatMap`: each item's stream is consumed lazily, one item at a time or `concurrency` at once (ordered through
 * per-item bounded queues, or interleaved).
 */
const lazyFlatMap = (
  input: AnyStream,
  run: Run,
  stats: StepRecorder,
  call: Call,
  options: ItemOptions<any> | undefined
): AnyStream =>
  Stream.suspend(() => {
    const concurrency = options?.concurrency ?? 1
    let counter = 0
    const expand = itemExpansion(run, stats, call, options)
    if (concurrency <= 1) return Stream.flatMap(input, (item) => expand(item, counter++))
    if (options?.ordered === false) {
      return Stream.flatMap(input, (item) => expand(item, counter++), {
        concurrency,
        bufferSize: Math.max(1, options?.bufferSize ?? 16)
      })
    }
    // Ordered: up to `concurrency` items run at once, each into its own bounded queue; the queues are read in
    // input order, so the first item's elements flow on as they come while the next ones fill their queues.
    const capacity = Math.max(1, options?.bufferSize ?? 16)
    return Stream.unwrapScoped(Effect.map(Effect.makeSemaphore(concurrency), (permits) =>
      input.pipe(
        Stream.mapEffect((item) =>
          Effect.gen(function*() {
            const index = counter++
            yield* permits.take(1)
            const queue = yield* Queue.bounded<Take.Take<unknown, PipelineError>>(capacity)
            yield* Stream.runForEachChunk(expand(item, index), (chunk) => Queue.offer(queue, Take.chunk(chunk))).pipe(
              Effect.exit,
              Effect.flatMap((exit) =>
                Queue.offer(queue, Exit.isSuccess(exit) ? Take.end : Take.failCause(exit.cause))
              ),
              Effect.ensuring(permits.release(1)),
              Effect.forkScoped
            )
            return queue
          })
        ),
        Stream.buffer({ capacity: concurrency }),
        Stream.flatMap((queue) => Stream.flattenTake(Stream.fromQueue(queue)))
      )))
  })

/**
 * The stream of one item of a `flatMap` step: its elements as they come, with the step's retry policy (a retry
 * re-runs the item's stream and skips the elements already passed on), error strategy, statistics and events.
 */
const itemExpansion = (
  run: Run,
  stats: StepRecorder,
  call: Call,
  options: ItemOptions<any> | undefined
): (item: unknown, index: number) => AnyStream => {
  const strategy = options?.errorStrategy ?? "FAIL_FAST"
  const retry = retryPolicy(options?.retry)
  const emit = run.emit
  return (item, index) =>
    Stream.suspend(() => {
      const start = run.now()
      stats.started(1)
      const t0 = stats.sampled(index) ? start : -1
      const ctx = itemContext(run, stats, index)
      let passed = 0
      const giveUp = (cause: Cause.Cause<unknown>, attempts: number): AnyStream => {
        const error = itemError(run, stats, item, index, cause, attempts)
        stats.failed(run.now())
        const outcome: AnyStream = strategy === "FAIL_FAST"
          ? Stream.fail(error)
          : Stream.sync(() => {
            if (strategy === "COLLECT_ERRORS" || (strategy === "SPLIT_ERRORS" && run.split === undefined)) {
              run.collect(error)
            } else if (strategy === "SPLIT_ERRORS") {
              run.split!.push(error)
            }
          }).pipe(Stream.drain)
        if (emit === undefined) return outcome
        return Stream.concat(
          Stream.drain(Stream.fromEffect(emit(Event.make("StepError", run.origin(stats.path), {
            error: Node.errorTag(error.cause),
            message: error.message,
            retryable: error.retryable,
            item: index
          })))),
          outcome
        )
      }
      let attempts = 1
      const once = (): AnyStream => {
        const result = Either.try(() => call(item, ctx))
        const source = Either.isRight(result) ? toStream(result.right) : Stream.die(result.left)
        const already = passed
        const fresh = already > 0 ? Stream.drop(source, already) : source
        return Stream.mapChunks(fresh, (chunk) => {
          passed += chunk.length
          stats.passed(chunk.length)
          return chunk
        }) as AnyStream
      }
      const tries: AnyStream = retry === undefined ? once() : RetryModule.stream(
        once,
        retry,
        ({ attempt, delayMs, error }) => {
          attempts = attempt + 1
          stats.retried()
          return emit === undefined ? Stream.empty : Stream.drain(Stream.fromEffect(emit(Event.make(
            "Retry",
            run.origin([...stats.path, String(index)]),
            { attempt, error: Node.errorTag(error), message: Node.errorMessage(error), delayMs }
          ))))
        }
      )
      const attempt = (): AnyStream =>
        Stream.catchAllCause(
          tries,
          (cause) => Cause.isInterruptedOnly(cause) ? Stream.failCause(cause) : giveUp(cause, attempts)
        )
      const finish = Stream.drain(Stream.fromEffect(Effect.suspend(() => {
        const now = run.now()
        if (t0 >= 0) {
          stats.record(now - t0, now)
        }
        stats.touch(now)
        stats.flush()
        if (emit === undefined) {
          return Effect.void
        }
        const origin = run.origin(stats.path)
        return emit(Event.make("StepEnd", origin, { durationMs: origin.timestamp - start, item: index }))
      })))
      const body = Stream.concat(attempt(), finish)
      return emit === undefined
        ? body
        : Stream.concat(
          Stream.drain(
            Stream.fromEffect(
              emit(Event.make("StepStart", run.origin(stats.path), { item: index, input: Event.preview(item) }))
            )
          ),
          body
        )
    })
}

// =============================================================================
// internal: batch mode
// =============================================================================

interface BatchStep {
  readonly id: string
  readonly kind: StepKind
  readonly invalid?: string | undefined
  readonly run: (items: ReadonlyArray<unknown>, run: Run, stats: StepRecorder) => Effect.Effect<
    ReadonlyArray<unknown>,
    unknown,
    unknown
  >
}

interface BatchImpl {
  readonly settings: Settings
  readonly batchSteps: ReadonlyArray<BatchStep>
  readonly invalid: string | undefined
  readonly cell: PipelineImpl["cell"]
}

const BatchProto = {
  [BatchTypeId]: BatchTypeId,
  pipe() {
    return pipeArguments(this, arguments)
  },
  get name(): string {
    return (this as unknown as BatchImpl).settings.name
  },
  get steps() {
    return (this as unknown as BatchImpl).batchSteps.map(({ id, kind }) => ({ id, kind }))
  },
  get metadata(): Effect.Effect<Metadata> {
    const self = this as unknown as BatchImpl
    return Effect.sync(() => snapshot(self.settings.name, self.cell.current))
  },
  metadataOf(this: BatchImpl, runId: string): Effect.Effect<Option.Option<Metadata>> {
    return Effect.sync(() => {
      const run = this.cell.runs.get(runId)
      return run === undefined ? Option.none() : Option.some(snapshot(this.settings.name, run))
    })
  },
  step(
    this: BatchImpl,
    id: string,
    f: (items: ReadonlyArray<unknown>, ctx: StepContext<unknown, unknown>) => Effect.Effect<ReadonlyArray<unknown>>,
    options?: { readonly retry?: Retry<unknown> | undefined }
  ) {
    const retry = retryPolicy(options?.retry)
    return appendBatch(this, {
      id,
      kind: "step",
      invalid: checkItemOptions(options),
      run: (items, run, stats) => {
        stats.started(items.length)
        const once = Effect.suspend(() => f(items, stepContext(run, stats)))
        return retry === undefined ? once : RetryModule.effect(once, retry, () => Effect.sync(() => stats.retried()))
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
      run: (items, run, stats) =>
        Effect.map(
          Stream.runCollect(
            Pool.run(Stream.fromIterable(items), itemStep(run, stats, f, options, true), poolOptions(options))
          ),
          Chunk.toReadonlyArray
        )
    })
  },
  filter(this: BatchImpl, id: string, predicate: (item: unknown, index: number) => boolean) {
    return appendBatch(this, {
      id,
      kind: "filter",
      run: (items, _run, stats) =>
        Effect.sync(() => {
          stats.started(items.length)
          return items.filter(predicate)
        })
    })
  },
  stream(
    this: BatchImpl,
    id: string,
    f: (input: Stream.Stream<unknown>) => Stream.Stream<unknown, unknown, unknown>
  ) {
    return appendBatch(this, {
      id,
      kind: "add",
      run: (items, _run, stats) => {
        stats.started(items.length)
        return Effect.map(Stream.runCollect(Stream.suspend(() => f(Stream.fromIterable(items)))), Chunk.toArray)
      }
    })
  },
  run(this: BatchImpl, inputs: Iterable<unknown>, options?: ExecuteOptions<unknown>) {
    return runBatch(this, Array.from(inputs), options).pipe(
      Effect.withSpan("Pipeline.run", { attributes: { pipeline: this.settings.name } })
    )
  }
}

/** Runs the steps of a batch pipeline one after the other, recording each output and the run's metadata. */
const runBatch = (
  self: BatchImpl,
  inputs: ReadonlyArray<unknown>,
  options: ExecuteOptions<unknown> | undefined
): Effect.Effect<ReadonlyArray<unknown>, PipelineError, any> =>
  Effect.scoped(Effect.gen(function*() {
    const { settings } = self
    if (self.invalid !== undefined) {
      const [step, description] = self.invalid.split("\u0000") as [string, string]
      return yield* new PipelineError({ pipeline: settings.name, step, reason: "InvalidDefinition", description })
    }
    const runId = options?.runId ?? (yield* Node.makeRunId)
    const clock = yield* Effect.clock
    const defs = self.batchSteps.map((step): StepDef => ({
      id: step.id,
      kind: step.kind,
      invalid: undefined,
      build: (input) => input
    }))
    const run = new Run(
      settings,
      defs,
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
    self.cell.current = run
    remember(self.cell.runs, run)
    let items: ReadonlyArray<unknown> = inputs
    const body = Effect.gen(function*() {
      for (let i = 0; i < self.batchSteps.length; i++) {
        const step = self.batchSteps[i]!
        const stats = run.stats[i]!
        items = yield* Effect.catchAllCause(step.run(items, run, stats), (cause) => {
          if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
          const failure = Cause.failureOption(cause)
          if (Option.isSome(failure) && isPipelineError(failure.value)) return Effect.fail(failure.value)
          stats.failed(run.now())
          return Effect.fail(
            new PipelineError({
              pipeline: settings.name,
              step: step.id,
              reason: "StepFailed",
              retryable: Option.isSome(failure) ? EngineError.isRetryable(failure.value) : false,
              cause: Option.isSome(failure) ? Cause.originalError(failure.value) : Cause.squash(cause)
            })
          )
        })
        if (step.kind !== "map") stats.passed(items.length)
        stats.touch(run.now())
        stats.flush()
        run.checkpoints[step.id] = items
      }
      return items
    })
    return yield* body.pipe(Effect.onExit((exit) =>
      Effect.sync(() => {
        run.endedAt = run.now()
        run.status = Exit.isSuccess(exit)
          ? "success"
          : Cause.isInterruptedOnly(exit.cause)
          ? "interrupted"
          : "failure"
      })
    ))
  }))

const makeBatch = (settings: Settings, batchSteps: ReadonlyArray<BatchStep>, cell: PipelineImpl["cell"]): any => {
  const self = Object.create(BatchProto)
  self.settings = settings
  self.batchSteps = batchSteps
  self.cell = cell
  const keys = new Set<string>()
  let invalid: string | undefined = settings.invalid === undefined ? undefined : `start\u0000${settings.invalid}`
  for (const step of batchSteps) {
    if (invalid !== undefined) break
    if (keys.has(step.id)) invalid = `${step.id}\u0000duplicate step id "${step.id}"`
    else if (step.invalid !== undefined) invalid = `${step.id}\u0000${step.invalid}`
    keys.add(step.id)
  }
  self.invalid = invalid
  return self
}

const appendBatch = (self: BatchImpl, step: BatchStep): any =>
  makeBatch(self.settings, [...self.batchSteps, step], { current: undefined, runs: new Map() })
