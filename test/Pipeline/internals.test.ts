import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Either, Stream } from "effect"
import * as Input from "../../src/internal/inputs.js"
import { quantile, Reservoir } from "../../src/internal/reservoir.js"

describe("reservoir", () => {
  it("keeps every value while under capacity: exact nearest-rank quantiles", () => {
    const reservoir = new Reservoir(100)
    for (let i = 100; i >= 1; i--) reservoir.add(i)
    const sorted = reservoir.sorted()
    assert.strictEqual(reservoir.seen, 100)
    assert.strictEqual(quantile(sorted, 0.5), 50)
    assert.strictEqual(quantile(sorted, 0.95), 95)
    assert.strictEqual(quantile(sorted, 0.99), 99)
    assert.strictEqual(quantile(sorted, 1), 100)
    assert.isUndefined(quantile([], 0.5))
  })

  it("holds at most capacity values, a uniform sample of all seen, the same for the same seed", () => {
    const a = new Reservoir(1000)
    const b = new Reservoir(1000)
    for (let i = 0; i < 100_000; i++) {
      a.add(i)
      b.add(i)
    }
    assert.strictEqual(a.values.length, 1000)
    assert.strictEqual(a.seen, 100_000)
    assert.deepStrictEqual(a.values, b.values)
    const median = quantile(a.sorted(), 0.5)!
    assert.isTrue(median > 45_000 && median < 55_000, `median ${median}`)
  })
})

describe("inputs", () => {
  it.effect("an iterable that is not an array is read one item per pull and closed when the stream stops", () =>
    Effect.gen(function*() {
      let read = 0
      let closed = false
      function* numbers() {
        try {
          for (let i = 0;; i++) {
            read++
            yield i
          }
        } finally {
          closed = true
        }
      }
      const taken = yield* Stream.runCollect(Stream.take(Input.toStream(numbers()), 3))
      assert.deepStrictEqual(Chunk.toArray(taken), [0, 1, 2])
      assert.strictEqual(read, 3)
      assert.isTrue(closed)
    }))

  it.effect("arrays, async iterables and streams are streams of their items; what an iterator throws fails it", () =>
    Effect.gen(function*() {
      async function* letters() {
        yield "a"
        yield "b"
      }
      const all = (inputs: Input.Inputs<string>) => Effect.map(Stream.runCollect(Input.toStream(inputs)), Chunk.toArray)
      assert.deepStrictEqual(yield* all(["x", "y"]), ["x", "y"])
      assert.deepStrictEqual(yield* all(letters()), ["a", "b"])
      assert.deepStrictEqual(yield* all(Stream.make("s")), ["s"])
      const throwing: Iterable<string> = {
        [Symbol.iterator]: () => ({
          next: () => {
            throw new Error("boom")
          }
        })
      }
      const failed = yield* Effect.either(Stream.runDrain(Input.toStream(throwing, (cause) => `failed: ${cause}`)))
      assert.deepStrictEqual(failed, Either.left("failed: Error: boom"))
    }))
})
