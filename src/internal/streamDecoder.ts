/**
 * Runs a synchronous, incremental decoder (NDJSON lines, SSE events) over a stream of bytes or text: one step per
 * incoming chunk, the values it completes leaving as one chunk, the decoder's first error failing the stream after
 * them.
 */
import type * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Stream from "effect/Stream"

/** A decoder: `push` appends the values a piece completes; `finish` (if any) those of the rest at the end. */
export interface Decoder<A, Err> {
  readonly error: Err | undefined
  push(piece: Uint8Array | string, out: Array<A>): void
  finish?(out: Array<A>): void
}

/** The stream decoded by a fresh decoder from `make`. */
export const decode = <A, Err, E, R>(
  self: Stream.Stream<Uint8Array | string, E, R>,
  make: () => Decoder<A, Err>
): Stream.Stream<A, E | Err, R> => Stream.suspend(() => Stream.pipeThroughChannel(self, channel<A, Err, E>(make())))

type DecodeChannel<A, Err, E> = Channel.Channel<
  Chunk.Chunk<A>,
  Chunk.Chunk<Uint8Array | string>,
  E | Err,
  E,
  unknown,
  unknown
>

const channel = <A, Err, E>(decoder: Decoder<A, Err>): DecodeChannel<A, Err, E> => {
  const emit = (out: Array<A>, next: DecodeChannel<A, Err, E>): DecodeChannel<A, Err, E> =>
    out.length === 0 ? next : Channel.zipRight(Channel.write(Chunk.unsafeFromArray(out)), next)
  const loop: DecodeChannel<A, Err, E> = Channel.readWithCause({
    onInput: (input: Chunk.Chunk<Uint8Array | string>) => {
      const pieces = Chunk.toReadonlyArray(input)
      const out: Array<A> = []
      for (let i = 0; i < pieces.length && decoder.error === undefined; i++) decoder.push(pieces[i]!, out)
      return emit(out, decoder.error === undefined ? loop : Channel.fail(decoder.error))
    },
    onFailure: (cause: Cause.Cause<E>) => Channel.failCause(cause),
    onDone: () => {
      const out: Array<A> = []
      decoder.finish?.(out)
      return emit(out, decoder.error === undefined ? Channel.void : Channel.fail(decoder.error))
    }
  })
  return loop
}
