import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import * as Unwrap from "../src/internal/unwrap.js"

/** What a consumer sees of a stream: its elements by chunk and how it ended, plus the finalizer log. */
const observe = <A, E>(stream: Stream.Stream<A, E>, log: Array<string>, take?: number) =>
  (take === undefined ? stream : Stream.take(stream, take)).pipe(
    Stream.chunks,
    Stream.map(Chunk.toReadonlyArray),
    Stream.runCollect,
    Effect.map(Chunk.toReadonlyArray),
    Effect.exit,
    Effect.map((exit) => ({ exit, log: [...log] }))
  )

const inner = (log: Array<string>, fail: boolean) =>
  Stream.fromChunks(Chunk.make(1, 2), Chunk.make(3)).pipe(
    Stream.concat(fail ? Stream.fail("inner") : Stream.empty),
    Stream.ensuring(Effect.sync(() => log.push("inner end")))
  )

describe("unwrap", () => {
  it.effect("unwrap: the same chunks, failures and finalization as Stream.unwrap", () =>
    Effect.gen(function*() {
      for (
        const [failEffect, failInner, take] of [[false, false, undefined], [false, true, undefined], [
          true,
          false,
          undefined
        ], [false, false, 1]] as const
      ) {
        const make = (unwrap: typeof Stream.unwrap, log: Array<string>) =>
          unwrap(failEffect ? Effect.fail("effect") : Effect.sync(() => inner(log, failInner)))
        const expectedLog: Array<string> = []
        const actualLog: Array<string> = []
        const expected = yield* observe(make(Stream.unwrap, expectedLog), expectedLog, take)
        const actual = yield* observe(make(Unwrap.unwrap, actualLog), actualLog, take)
        assert.deepStrictEqual(actual, expected)
      }
    }))
})
