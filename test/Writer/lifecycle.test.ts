import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Stream } from "effect"
import * as Writer from "../../src/Writer.js"
import { jsonLines, listDir, readText, tempDir, trackedLayer, type Tracker } from "./helpers.js"

it.layer(NodeFileSystem.layer)("Writer: scope and atomic files", (it) => {
  describe("scope", () => {
    it.scoped("failure and success close every file too", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const tracker: Tracker = { opened: 0, closed: 0 }
        const failed = yield* Stream.range(0, 99).pipe(
          Stream.map((n): unknown => n === 70 ? { id: "x", n: 1n } : { id: String(n) }),
          Stream.rechunk(10),
          Stream.run(Writer.sink({ dir, step: "s", maxRows: 30 })),
          Effect.provide(trackedLayer(tracker)),
          Effect.exit
        )
        assert.isTrue(Exit.isFailure(failed))
        assert.strictEqual(tracker.opened, 3)
        assert.strictEqual(tracker.closed, 3)
        yield* Stream.range(0, 99).pipe(
          Stream.map((n) => ({ id: String(n) })),
          Stream.run(Writer.sink({ dir, step: "t", maxRows: 30 })),
          Effect.provide(trackedLayer(tracker))
        )
        assert.strictEqual(tracker.closed, tracker.opened)
      }))
  })

  describe("writeJsonAtomic", () => {
    it.scoped("writes and replaces a JSON file, leaving no temporary file", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* Writer.writeJsonAtomic(`${dir}/metrics.json`, { rows: 1 })
        yield* Writer.writeJsonAtomic(`${dir}/metrics.json`, { rows: 2, steps: ["a"] })
        assert.deepStrictEqual(JSON.parse(yield* readText(`${dir}/metrics.json`)), { rows: 2, steps: ["a"] })
        assert.deepStrictEqual(yield* listDir(dir), ["metrics.json"])
      }))

    it.scoped("a value that is not JSON fails with Encode and keeps the old file", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* Writer.writeJsonAtomic(`${dir}/graph.json`, { ok: true })
        const error = yield* Writer.writeJsonAtomic(`${dir}/graph.json`, { n: 1n }).pipe(Effect.flip)
        assert.strictEqual(error.reason, "Encode")
        assert.strictEqual(error.path, `${dir}/graph.json`)
        assert.deepStrictEqual(JSON.parse(yield* readText(`${dir}/graph.json`)), { ok: true })
        const missing = yield* Writer.writeJsonAtomic(`${dir}/no/such/dir/x.json`, {}).pipe(Effect.flip)
        assert.strictEqual(missing.reason, "Io")
        assert.isTrue(missing.isRetryable)
      }))
  })
})

describe("Writer (live clock)", () => {
  it.live("interruption closes every file, and leaves only complete lines", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const tracker: Tracker = { opened: 0, closed: 0 }
      const fiber = yield* Stream.iterate(0, (n) => n + 1).pipe(
        Stream.map((n) => ({ id: String(n), text: "lorem ipsum ".repeat(5) })),
        Stream.rechunk(50),
        Stream.run(Writer.sink({ dir, step: "s", maxRows: 200 })),
        Effect.provide(trackedLayer(tracker)),
        Effect.fork
      )
      for (let i = 0; i < 500 && tracker.opened < 3; i++) yield* Effect.sleep("5 millis")
      yield* Fiber.interrupt(fiber)
      assert.isAtLeast(tracker.opened, 3)
      assert.strictEqual(tracker.closed, tracker.opened)
      const ids = yield* Writer.completedIds({ dir, step: "s" })
      assert.isAtLeast(ids.size, 400)
      for (const name of yield* listDir(`${dir}/s`)) jsonLines(yield* readText(`${dir}/s/${name}`))
    }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer)))
})
