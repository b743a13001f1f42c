import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Stream, TestClock } from "effect"
import * as Pipeline from "../src/Pipeline.js"

/** Fails with "hang" when `effect` has not completed after `ms` real milliseconds, without waiting for it to stop. */
const within = (ms: number) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(Effect.disconnect, Effect.timeoutFail({ duration: ms, onTimeout: () => "hang" as const }))

const withTime = <A, E, R>(effect: Effect.Effect<A, E, R>, ms: number) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    yield* TestClock.adjust(ms)
    return yield* Fiber.join(fiber)
  })

describe("Pipeline fidelity: laziness and early stop", () => {
  it.live("stopping events() early over an endless source ends the run (no hang)", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>({ name: "endless" }).map("id", (n) => Effect.succeed(n))
      const events = yield* p.events(Stream.iterate(0, (n) => n + 1), { bufferSize: 2 }).pipe(
        Stream.take(3),
        Stream.runCollect,
        within(2_000)
      )
      assert.strictEqual(Chunk.size(events), 3)
      assert.strictEqual(Chunk.unsafeGet(events, 0)._tag, "RunStart")
    }))

  it.live("stopping events() early over a slow async source ends the run (no hang)", () =>
    Effect.gen(function*() {
      async function* slow() {
        for (let i = 0;; i++) {
          await new Promise((resolve) => setTimeout(resolve, 1))
          yield i
        }
      }
      const p = Pipeline.start<number>().map("id", (n) => Effect.succeed(n))
      const count = yield* p.events(slow(), { bufferSize: 1 }).pipe(
        Stream.mapEffect((event) => Effect.as(Effect.sleep(2), event)),
        Stream.take(5),
        Stream.runCount,
        within(2_000)
      )
      assert.strictEqual(count, 5)
    }))

  it.effect("a synchronous generator is read lazily and closed when the run stops", () =>
    Effect.gen(function*() {
      let pulled = 0
      let closed = false
      function* numbers() {
        try {
          for (let i = 0;; i++) {
            pulled++
            yield i
          }
        } finally {
          closed = true
        }
      }
      const p = Pipeline.start<number>().map("id", (n) => Effect.succeed(n)).take("first", 2)
      assert.deepStrictEqual(yield* p.executeToArray(numbers()), [0, 1])
      assert.isAtMost(pulled, 3)
      assert.isTrue(closed)
    }))

  it.effect("take(3) over a generator with concurrency pulls at most take + concurrency + bufferSize", () =>
    Effect.gen(function*() {
      let pulled = 0
      function* numbers() {
        for (let i = 0; i < 100_000; i++) {
          pulled++
          yield i
        }
      }
      const p = Pipeline.start<number>()
        .map("slow", (n) => Effect.as(Effect.sleep(10), n), { concurrency: 4 })
        .take("first", 3)
      assert.deepStrictEqual(yield* withTime(p.executeToArray(numbers()), 1_000), [0, 1, 2])
      assert.isAtMost(pulled, 3 + 4 + 1)
    }))

  it.effect("a throwing generator fails the run with InputFailed", () =>
    Effect.gen(function*() {
      function* broken() {
        yield 1
        throw new Error("disk gone")
      }
      const error = yield* Effect.flip(Pipeline.start<number>().executeToArray(broken()))
      assert.strictEqual(error.reason, "InputFailed")
    }))
})

describe("Pipeline fidelity: add", () => {
  it.effect("add may return a generator, read lazily (the design's 'discover' step) and closed on take", () =>
    Effect.gen(function*() {
      let searched = 0
      let closed = false
      const p = Pipeline.start<string>()
        .add("search", function*({ input: _ }) {
          try {
            for (let i = 0; i < 1_000; i++) {
              searched++
              yield `result ${i}`
            }
          } finally {
            closed = true
          }
        })
        .take("top", 10)
        .map("rerank", (s) => Effect.succeed(s.toUpperCase()))
        .take("best", 3)
      assert.deepStrictEqual(yield* p.executeToArray(["query"]), ["RESULT 0", "RESULT 1", "RESULT 2"])
      assert.isAtMost(searched, 11)
      assert.isTrue(closed)
    }))
})
