/**
 * Retriever nodes: nodes that find items for a query and stream each one as a `RetrievalItem` event as soon as it is
 * found, returning the whole list at the end.
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as Event from "./Event.js"
import * as Node from "./Node.js"

/**
 * Options of a retriever: how to read an item's relevance score, when items have one.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<A> {
  readonly score?: ((item: A) => number | undefined) | undefined
}

/**
 * A retriever over a stream of items: each item is streamed as a `RetrievalItem` event as it arrives.
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import * as Retriever from "sluice/Retriever"
 *
 * const docs = ["effect streams", "typed errors", "layers"]
 * const search = Retriever.make("search", (query: string) =>
 *   Stream.fromIterable(docs.filter((doc) => doc.includes(query))))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <Q, A, E = never, R = never>(
  name: string,
  f: (query: Q) => Stream.Stream<A, E, R>,
  options?: Options<A> | undefined
): Node.Node<Q, Array<A>, E, R> =>
  Node.make(name, (query, context) =>
    Stream.unwrap(Effect.clockWith((clock) =>
      Effect.sync(() => {
        const items: Array<A> = []
        const found = Stream.mapChunks(f(query), (chunk) => {
          const timestamp = clock.unsafeCurrentTimeMillis()
          return Chunk.map(chunk, (item): Node.Emission<Array<A>> => {
            const index = items.push(item) - 1
            const score = options?.score?.(item)
            const event: Event.Of<"RetrievalItem"> = score === undefined
              ? { _tag: "RetrievalItem", runId: context.runId, path: context.path, timestamp, index, item }
              : { _tag: "RetrievalItem", runId: context.runId, path: context.path, timestamp, index, item, score }
            return event
          })
        })
        return Stream.concat(found, Stream.sync(() => Node.output(items)))
      })
    )))

/**
 * A retriever whose search is one `Effect` returning all items at once; they are streamed as `RetrievalItem`
 * events when it completes.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Retriever from "sluice/Retriever"
 *
 * const lookup = Retriever.fromEffect("lookup", (id: number) => Effect.succeed([{ id, title: "Doc" }]))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromEffect = <Q, A, E = never, R = never>(
  name: string,
  f: (query: Q) => Effect.Effect<Iterable<A>, E, R>,
  options?: Options<A> | undefined
): Node.Node<Q, Array<A>, E, R> =>
  make(name, (query: Q) => Stream.flatMap(Stream.fromEffect(f(query)), Stream.fromIterable), options)
