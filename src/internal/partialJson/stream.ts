/**
 * The channel behind `PartialJson.parseStream`.
 *
 * @internal
 */
import type * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import type { PartialJsonError } from "../../PartialJsonError.js"
import type { ParserImpl } from "./parser.js"

type StreamChannel<E> = Channel.Channel<
  Chunk.Chunk<unknown>,
  Chunk.Chunk<string>,
  E | PartialJsonError,
  E,
  unknown,
  unknown
>

/**
 * The slots (elements, keys) the snapshots of one output chunk may copy before it is written. Snapshots held
 * together in one chunk outlive the young generation of the heap, and copying them out of it costs far more than
 * taking them: small output chunks keep every snapshot short-lived unless the consumer keeps it.
 */
const OUTPUT_CHUNK_SLOTS = 4096

/** @internal */
export const streamChannel = <E>(parser: ParserImpl): StreamChannel<E> => {
  let emitted = 0
  const due = (last: boolean) =>
    parser.version !== emitted && parser.value !== undefined && (last || parser.snapshotDue())
  const feed = (input: Chunk.Chunk<string>, from: number): StreamChannel<E> => {
    const out: Array<unknown> = []
    let slots = 0
    const n = input.length
    for (let i = from; i < n; i++) {
      parser.feed(Chunk.unsafeGet(input, i))
      if (parser.strict && parser.error !== undefined) {
        return Channel.zipRight(write(out), Channel.fail(parser.error))
      }
      if (due(false)) {
        emitted = parser.version
        out.push(parser.snapshot())
        slots += parser.spineCost + 1
        if (slots >= OUTPUT_CHUNK_SLOTS && i + 1 < n) {
          return Channel.zipRight(write(out), Channel.suspend(() => feed(input, i + 1)))
        }
      }
    }
    return out.length === 0 ? loop : Channel.zipRight(write(out), loop)
  }
  const loop: StreamChannel<E> = Channel.readWithCause({
    onInput: (input: Chunk.Chunk<string>) => feed(input, 0),
    onFailure: (cause: Cause.Cause<E>) => Channel.failCause(cause),
    onDone: () =>
      Channel.suspend(() => {
        parser.end()
        if (!due(true)) return Channel.void
        emitted = parser.version
        return Channel.write(Chunk.of(parser.snapshot()))
      })
  })
  return loop
}

const write = (out: Array<unknown>): Channel.Channel<Chunk.Chunk<unknown>> =>
  out.length === 0 ? Channel.void : Channel.write(Chunk.unsafeFromArray(out))
