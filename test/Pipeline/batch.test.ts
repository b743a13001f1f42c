import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as Pipeline from "../../src/Pipeline.js"
import { Fatal } from "./helpers.js"

describe("Pipeline batch mode", () => {
  it.effect("runs steps over whole arrays, with map, filter and stream steps", () =>
    Effect.gen(function*() {
      const p = Pipeline.startBatch<number>({ name: "b" })
        .step("dedupe", (xs) => Effect.succeed([...new Set(xs)]))
        .map("square", (n, { index }) => Effect.succeed(n * n + index), { concurrency: 3 })
        .filter("small", (n) => n < 15)
        .stream("reverse", (s) => Stream.map(s, (n) => -n))
      assert.deepStrictEqual(yield* p.run([1, 2, 2, 3, 4]), [-1, -5, -11])
      assert.deepStrictEqual(p.steps.map((s) => s.id), ["dedupe", "square", "small", "reverse"])
    }))

  it.effect("wraps step failures in a PipelineError naming the step", () =>
    Effect.gen(function*() {
      const p = Pipeline.startBatch<number>({ name: "b" }).step("boom", () => Effect.fail(new Fatal({ n: 0 })))
      const error = yield* Effect.flip(p.run([1]))
      assert.deepStrictEqual([error.pipeline, error.step, error.reason], ["b", "boom", "StepFailed"])
    }))

  it.effect("adapts both ways: toStreaming and toBatch", () =>
    Effect.gen(function*() {
      const sort = Pipeline.startBatch<number>({ name: "sorter" }).step("sort", (xs) =>
        Effect.succeed([...xs].sort((a, b) => a - b)))
      const streaming = Pipeline.toStreaming(sort).take("lowest", 2)
      assert.deepStrictEqual(yield* streaming.executeToArray([5, 1, 4, 2]), [1, 2])

      const doubling = Pipeline.start<number>({ name: "doubler" }).map("double", (n) =>
        Effect.succeed(n * 2))
      const batch = Pipeline.toBatch(doubling).step("sum", (xs) => Effect.succeed([xs.reduce((a, b) => a + b, 0)]))
      assert.deepStrictEqual(yield* batch.run([1, 2, 3]), [12])
    }))
})
