import { Chunk, Data, Effect, Fiber, Stream, TestClock } from "effect"
import type * as Pipeline from "../../src/Pipeline.js"

export class Transient extends Data.TaggedError("Transient")<{ readonly n: number }> {
  get isRetryable() {
    return true
  }
}
export class Fatal extends Data.TaggedError("Fatal")<{ readonly n: number }> {
  get isRetryable() {
    return false
  }
}

/** Runs `effect` in a fiber, advances the test clock by `ms`, and joins it. */
export const withTime = <A, E, R>(effect: Effect.Effect<A, E, R>, ms: number) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    yield* TestClock.adjust(ms)
    return yield* Fiber.join(fiber)
  })

export const collect = <A, E, R>(stream: Stream.Stream<A, E, R>) => Effect.map(Stream.runCollect(stream), Chunk.toArray)

/** Forgets the ids used so far, to test the run-time duplicate-id check. */
export const unchecked = (p: Pipeline.Pipeline<number, number, never, never, string>) =>
  p as unknown as Pipeline.Pipeline<number, number>
