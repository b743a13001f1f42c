import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"

// The design's five examples (examples/pipeline/), run as they are, checked for what the design says they do.
describe("examples/pipeline", () => {
  it.live("01 basic streaming: results stream through map and filter steps", () =>
    Effect.gen(function*() {
      const { main } = yield* Effect.promise(() => import("../examples/pipeline/01_basic_streaming.js"))
      const { metadata, summaries } = yield* main
      assert.strictEqual(metadata.status, "success")
      assert.strictEqual(metadata.steps.find((s) => s.step === "non-empty")!.outputs, 5)
      assert.strictEqual(summaries.length, metadata.steps.at(-1)!.outputs)
    }))

  it.live("02 file processing: unreadable entries are collected, rate limits retried, chunks embedded", () =>
    Effect.gen(function*() {
      const { main } = yield* Effect.promise(() => import("../examples/pipeline/02_file_embeddings.js"))
      const { metadata, total } = yield* main
      assert.strictEqual(metadata.status, "success")
      assert.isAbove(total, 0)
      assert.isAbove(metadata.steps.find((s) => s.step === "embed")!.retries, 0)
      assert.isAbove(metadata.errorCount, 0)
    }))

  it.live("03 early termination: about 10 hits are produced of 1,000, at most 10 reranked, 3 kept", () =>
    Effect.gen(function*() {
      const { main } = yield* Effect.promise(() => import("../examples/pipeline/03_early_termination.js"))
      const { produced, reranked, results } = yield* main
      assert.strictEqual(results.length, 3)
      assert.isAtMost(reranked, 10)
      assert.isAtMost(produced, 11)
    }))

  it.live("04 pagination: take stops the page fetches", () =>
    Effect.gen(function*() {
      const { main } = yield* Effect.promise(() => import("../examples/pipeline/04_pagination.js"))
      const { items, pagesFetched } = yield* main
      assert.strictEqual(items, 25)
      assert.isBelow(pagesFetched, 15)
    }))

  it.live("05 real-time: an endless feed is filtered and stopped after 10 alerts, failures skipped", () =>
    Effect.gen(function*() {
      const { main } = yield* Effect.promise(() => import("../examples/pipeline/05_realtime_filtering.js"))
      const { alerts, metadata } = yield* main
      assert.strictEqual(alerts, 10)
      assert.strictEqual(metadata.status, "success")
    }))
})
