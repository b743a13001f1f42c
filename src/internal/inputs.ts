/**
 * What runnables read from: a `Stream`, an `Iterable` or an `AsyncIterable`, turned into a `Stream` in one place.
 *
 * A synchronous iterable that is not an array (a generator, a lazy sequence) is read one item per pull, so nothing is
 * read ahead of what the consumer asks for, and is closed (`return()`, which runs a generator's `finally`) when the
 * stream ends or is interrupted; a throwing iterator fails the stream with what it threw. Arrays, already in memory,
 * are read in chunks. An async iterable fails the stream with what it threw (mapped by `onError`).
 *
 * @internal
 */
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Predicate from "effect/Predicate"
import * as Stream from "effect/Stream"

export type Inputs<A, E = never, R = never> = Stream.Stream<A, E, R> | Iterable<A> | AsyncIterable<A>

/** The stream of `inputs`; what an iterable throws goes through `onError` (by default it is the error as is). */
export const toStream: {
  <A, E2, E = never, R = never>(inputs: Inputs<A, E, R>, onError: (cause: unknown) => E2): Stream.Stream<A, E | E2, R>
  <A, E = never, R = never>(inputs: Inputs<A, E, R>): Stream.Stream<A, unknown, R>
} = <A, E, R>(
  inputs: Inputs<A, E, R>,
  onError: (cause: unknown) => unknown = identity
): Stream.Stream<A, unknown, R> => {
  if (Predicate.hasProperty(inputs, Stream.StreamTypeId)) return inputs as Stream.Stream<A, E, R>
  if (Predicate.hasProperty(inputs, Symbol.asyncIterator)) {
    return Stream.fromAsyncIterable(inputs as AsyncIterable<A>, onError)
  }
  return Array.isArray(inputs)
    ? Stream.fromIterable(inputs as ReadonlyArray<A>)
    : fromLazyIterable(inputs as Iterable<A>, onError)
}

const identity = (u: unknown): unknown => u

/** A synchronous iterable read one item per pull and closed when the stream ends (see the module note). */
export const fromLazyIterable = <A, E = unknown>(
  iterable: Iterable<A>,
  onError: (cause: unknown) => E = identity as (cause: unknown) => E
): Stream.Stream<A, E> =>
  Stream.unwrapScoped(Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => iterable[Symbol.iterator]()),
      (iterator) => Effect.sync(() => iterator.return?.())
    ),
    (iterator) => {
      const loop: Channel.Channel<Chunk.Chunk<A>, unknown, E, unknown, unknown, unknown> = Channel.suspend(() => {
        const next = Either.try(() => iterator.next())
        if (Either.isLeft(next)) return Channel.fail(onError(next.left))
        return next.right.done ? Channel.void : Channel.zipRight(Channel.write(Chunk.of(next.right.value)), loop)
      })
      return Stream.fromChannel(loop)
    }
  ))
