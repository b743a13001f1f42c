/**
 * `Stream.unwrap` as a single channel. Effect's flattens a stream of one stream, which costs a step of the
 * flattening per chunk that passes (about 0.4 µs of CPU a chunk); here the effect runs and the stream's channel takes
 * over, its chunks passing through without a step of their own. Same elements, errors, finalization and interruption.
 *
 * (Not done for `Stream.unwrapScoped`: when the stream fails, Effect's closes the scope before the stream's own
 * finalizers run, and a single channel would close it after them.)
 */
import * as Channel from "effect/Channel"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

/** `Stream.unwrap`: the stream the effect makes. */
export const unwrap = <A, E2, R2, E, R>(
  effect: Effect.Effect<Stream.Stream<A, E2, R2>, E, R>
): Stream.Stream<A, E | E2, R | R2> => Stream.fromChannel(Channel.unwrap(Effect.map(effect, Stream.toChannel)))
