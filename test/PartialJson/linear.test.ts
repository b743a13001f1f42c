import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import * as PartialJson from "../../src/PartialJson.js"

const document = (n: number): string =>
  JSON.stringify({ items: Array.from({ length: n }, (_, id) => ({ id, name: `item ${id}`, tags: ["a", "b"] })) })

const chunks = (text: string, size: number): Array<string> => {
  const out: Array<string> = []
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size))
  return out
}

describe("PartialJson.parseStream cost", () => {
  it.effect("a long list in 64-byte chunks: the snapshots copy O(document) slots, not O(chunks × items)", () =>
    Effect.gen(function*() {
      const text = document(4_000)
      const seen = new Map<number, string>()
      let n = 0
      const values = yield* Stream.fromIterable(chunks(text, 64)).pipe(
        PartialJson.parseStream(),
        Stream.tap((value) => Effect.sync(() => n++ % 16 === 0 && seen.set(n - 1, JSON.stringify(value)))),
        Stream.runCollect
      )
      const emitted = Chunk.toReadonlyArray(values) as ReadonlyArray<{ readonly items?: ReadonlyArray<unknown> }>
      const copied = emitted.reduce((sum, value) => sum + (value.items?.length ?? 0), 0)
      assert.isAtMost(copied, 5 * text.length)
      assert.isAbove(emitted.length, 50)
      assert.deepStrictEqual(emitted[emitted.length - 1], JSON.parse(text))
      // every emitted value is still what it was when emitted: a consumer may keep it
      for (const [i, json] of seen) assert.strictEqual(JSON.stringify(emitted[i]), json)
    }))

  it.effect("small documents are still emitted after every chunk that changes them", () =>
    Effect.gen(function*() {
      const values = yield* Stream.make("{\"a\": \"x", "y\"", ", \"b\": [1", ", 2", "]}").pipe(
        PartialJson.parseStream(),
        Stream.runCollect
      )
      assert.deepStrictEqual(Chunk.toReadonlyArray(values), [
        { a: "x" },
        { a: "xy" },
        { a: "xy", b: [1] },
        { a: "xy", b: [1, 2] }
      ])
    }))

  it.effect("a long list is emitted in several small chunks, not one chunk per input chunk", () =>
    Effect.gen(function*() {
      const text = document(2_000)
      const sizes = yield* Stream.fromIterable(chunks(text, 64)).pipe(
        PartialJson.parseStream(),
        Stream.chunks,
        Stream.map(Chunk.size),
        Stream.runCollect
      )
      assert.isAbove(Chunk.size(sizes), 10)
    }))

  it.effect("strict mode emits the values before a malformation, then fails with it", () =>
    Effect.gen(function*() {
      const seen: Array<unknown> = []
      const error = yield* Stream.make("[1", ", 2", ", 3,]").pipe(
        PartialJson.parseStream({ strict: true }),
        Stream.runForEach((value) => Effect.sync(() => seen.push(value))),
        Effect.flip
      )
      assert.deepStrictEqual(seen, [[1], [1, 2]])
      assert.strictEqual(error.reason, "TrailingComma")
    }))

  it("a parser's snapshots are due after every chunk while the open containers are small", () => {
    const parser = PartialJson.make()
    parser.feed("{\"a\": [1")
    assert.isTrue(parser.snapshotDue())
    parser.snapshot()
    parser.feed(", 2")
    assert.isTrue(parser.snapshotDue())
  })
})
