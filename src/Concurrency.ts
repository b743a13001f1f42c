/**
 * Bounded concurrency over streams that runs at the speed of the work, not of the runtime.
 *
 * Effect's `Stream.mapEffect(f, { concurrency })` forks a fiber per element and hands every result over through a
 * `Deferred` and a queue; on latency-bound work it reaches 66% of the ideal throughput at concurrency 64 and 18% at
 * 256 (see `bench/pipeline.bench.ts`). {@link mapEffect} instead runs a fixed set of long-lived worker fibers:
 *
 * - workers take elements straight from the current upstream chunk and put results in a ring buffer (ordered) or a
 *   ready list (unordered); the consumer takes every ready result as one chunk, woken once per macrotask, or at
 *   once when a full window holds up the workers;
 * - at most `concurrency + bufferSize` elements are started and not yet emitted, so a slow consumer (or a `take`
 *   downstream) stops upstream work;
 * - an element whose effect is already complete (`Effect.succeed(x)`, `Effect.fail(e)` of a primitive) costs no
 *   fiber work at all, and with `concurrency: 1` the whole loop runs in the consumer's fiber, emitting fast elements
 *   in chunks and slow ones as soon as they complete;
 * - interrupting the consumer interrupts every element in flight and runs their finalizers.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Stream from "effect/Stream"
import * as Pool from "./internal/pool.js"

/** A `dual` combinator over a stream that runs the pool step made from its function. */
const combinator = (
  toStep: (f: (a: any, index: number) => Effect.Effect<any, any, any>) => Pool.Step<any, any, any, any>
): any =>
  dual(
    (args) => Predicate.hasProperty(args[0], Stream.StreamTypeId),
    (
      self: Stream.Stream<any, any, any>,
      f: (a: any, index: number) => Effect.Effect<any, any, any>,
      options?: Options
    ) => run(self, toStep(f), options)
  )

/**
 * Options of the concurrent combinators.
 *
 * - `concurrency`: the number of worker fibers (a positive integer, default 1);
 * - `ordered`: emit results in input order (default `true`) or as they complete;
 * - `bufferSize`: how many elements beyond `concurrency` may be started and not yet emitted (default 64); with
 *   `concurrency: 1` it is the largest chunk of fast results emitted at once;
 * - `stop`: once it completes, no more elements are taken, the elements in flight are interrupted and dropped, and
 *   the stream ends after emitting the results already complete (a graceful stop; with `ordered`, those after the
 *   first dropped element are dropped too).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly concurrency?: number | undefined
  readonly ordered?: boolean | undefined
  readonly bufferSize?: number | undefined
  readonly stop?: Effect.Effect<void> | undefined
}

/**
 * The default number of elements, beyond `concurrency`, that may be in flight.
 *
 * @example
 * ```ts
 * import * as Concurrency from "sluice/Concurrency"
 *
 * const inFlight = 16 + Concurrency.defaultBufferSize // at most 80 elements started and not yet emitted
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBufferSize = 64

/**
 * Runs an effect for every element of a stream with a pool of long-lived workers (see the module note). The
 * function also receives the element's index. The stream fails with the first failure of any element; a
 * non-positive or fractional `concurrency` or `bufferSize` is a defect (`IllegalArgumentException`).
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import * as Concurrency from "sluice/Concurrency"
 *
 * const fetchAll = Stream.range(1, 100).pipe(
 *   Concurrency.mapEffect((id) => Effect.as(Effect.sleep("20 millis"), `doc ${id}`), { concurrency: 16 })
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const mapEffect: {
  <A, B, E2, R2>(
    f: (a: A, index: number) => Effect.Effect<B, E2, R2>,
    options?: Options | undefined
  ): <E, R>(self: Stream.Stream<A, E, R>) => Stream.Stream<B, E | E2, R | R2>
  <A, E, R, B, E2, R2>(
    self: Stream.Stream<A, E, R>,
    f: (a: A, index: number) => Effect.Effect<B, E2, R2>,
    options?: Options | undefined
  ): Stream.Stream<B, E | E2, R | R2>
} = combinator(Pool.fromFunction)

/**
 * Like {@link mapEffect}, keeping only the `Some` results.
 *
 * @example
 * ```ts
 * import { Effect, Option, Stream } from "effect"
 * import * as Concurrency from "sluice/Concurrency"
 *
 * const even = Stream.range(1, 10).pipe(
 *   Concurrency.filterMapEffect((n) => Effect.succeed(n % 2 === 0 ? Option.some(n) : Option.none()), {
 *     concurrency: 4
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const filterMapEffect: {
  <A, B, E2, R2>(
    f: (a: A, index: number) => Effect.Effect<Option.Option<B>, E2, R2>,
    options?: Options | undefined
  ): <E, R>(self: Stream.Stream<A, E, R>) => Stream.Stream<B, E | E2, R | R2>
  <A, E, R, B, E2, R2>(
    self: Stream.Stream<A, E, R>,
    f: (a: A, index: number) => Effect.Effect<Option.Option<B>, E2, R2>,
    options?: Options | undefined
  ): Stream.Stream<B, E | E2, R | R2>
} = combinator((f) => ({ start: f, succeed: someOrSkip, fail: Exit.failCause }))

/**
 * Runs an effect for every element of an iterable with a pool of long-lived workers and collects the results (in
 * input order unless `ordered: false`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Concurrency from "sluice/Concurrency"
 *
 * const lengths = Concurrency.forEach(["a", "bb", "ccc"], (s) => Effect.succeed(s.length), { concurrency: 2 })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const forEach = <A, B, E, R>(
  items: Iterable<A>,
  f: (a: A, index: number) => Effect.Effect<B, E, R>,
  options?: Options | undefined
): Effect.Effect<Array<B>, E, R> =>
  Effect.map(Stream.runCollect(run(Stream.fromIterable(items), Pool.fromFunction(f), options)), Chunk.toArray)

// =============================================================================
// internal
// =============================================================================

const someOrSkip = <B>(o: Option.Option<B>): B | Pool.Skip => Option.isSome(o) ? o.value : Pool.Skip

const run = <A, E, R, B, E2, R2>(
  self: Stream.Stream<A, E, R>,
  f: Pool.Step<A, B, E2, R2>,
  options: Options | undefined
): Stream.Stream<B, E | E2, R | R2> => {
  const concurrency = options?.concurrency ?? 1
  const bufferSize = options?.bufferSize ?? defaultBufferSize
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    return Stream.die(new Cause.IllegalArgumentException(`concurrency must be a positive integer, got ${concurrency}`))
  }
  if (!Number.isInteger(bufferSize) || bufferSize < 1) {
    return Stream.die(new Cause.IllegalArgumentException(`bufferSize must be a positive integer, got ${bufferSize}`))
  }
  return Pool.run(self, f, { concurrency, ordered: options?.ordered ?? true, bufferSize, stop: options?.stop })
}
