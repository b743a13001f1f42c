import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Dataset from "../../src/Dataset.js"
import { DatasetError } from "../../src/DatasetError.js"
import { collect, failure, rows, tempDir, trackedLayer, type Tracker, writeText } from "./helpers.js"

it.layer(NodeFileSystem.layer)("Dataset: JSONL and JSON arrays", (it) => {
  describe("JSONL", () => {
    it.scoped("streams objects with ids from the index, lines, and skips blank lines", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeText(`${dir}/a.jsonl`, "\uFEFF{\"t\":\"é\"}\r\n\n  \n{\"t\":\"b\"}\n{\"t\":\"c\"}")
        for (const chunkSize of [3, 7, 1 << 16]) {
          const items = yield* collect(`${dir}/a.jsonl`, { chunkSize })
          assert.deepStrictEqual(items, [
            { _tag: "Row", id: "0", index: 0, line: 1, data: { t: "é" } },
            { _tag: "Row", id: "1", index: 1, line: 4, data: { t: "b" } },
            { _tag: "Row", id: "2", index: 2, line: 5, data: { t: "c" } }
          ])
        }
      }))

    it.scoped("turns bad lines into Malformed items with their line and goes on", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeText(`${dir}/a.jsonl`, "{\"a\":1}\n{\"a\": \n42\n[1]\n{\"a\":2}\n")
        const items = yield* collect(`${dir}/a.jsonl`)
        assert.strictEqual(items.length, 5)
        assert.deepStrictEqual(items[0], { _tag: "Row", id: "0", index: 0, line: 1, data: { a: 1 } })
        const bad = items.filter(Dataset.isMalformed)
        assert.deepStrictEqual(bad.map((b) => [b.index, b.line, b.raw, b.file]), [
          [1, 2, "{\"a\": ", `${dir}/a.jsonl`],
          [2, 3, "42", `${dir}/a.jsonl`],
          [3, 4, "[1]", `${dir}/a.jsonl`]
        ])
        assert.include(bad[1]!.message, "expected a JSON object, got number")
        assert.include(bad[2]!.message, "got an array")
        assert.deepStrictEqual(items[4], { _tag: "Row", id: "4", index: 4, line: 5, data: { a: 2 } })
      }))

    it.scoped("strict mode fails at the first bad line, after the rows before it", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeText(`${dir}/a.jsonl`, "{\"a\":1}\n{\"a\":2}\n{oops}\n{\"a\":3}\n")
        const { error, seen } = yield* failure(`${dir}/a.jsonl`, { strict: true })
        assert.deepStrictEqual(rows(seen).map((r) => r.data), [{ a: 1 }, { a: 2 }])
        assert.instanceOf(error, DatasetError)
        assert.strictEqual(error.reason, "Malformed")
        assert.strictEqual(error.line, 3)
        assert.strictEqual(error.raw, "{oops}")
        assert.include(error.message, `${dir}/a.jsonl:3: Malformed`)
      }))

    it.scoped("a line longer than maxLineLength is malformed and reading resumes after it", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeText(`${dir}/a.jsonl`, `{"a":1}\n{"long":"${"x".repeat(500)}"}\n{"a":2}\n`)
        const items = yield* collect(`${dir}/a.jsonl`, { maxLineLength: 100, chunkSize: 64 })
        assert.deepStrictEqual(items.map((i) => [i._tag, i.line]), [["Row", 1], ["Malformed", 2], ["Row", 3]])
      }))

    it.scoped("ids come from the key column; a row without it is malformed", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeText(
          `${dir}/a.jsonl`,
          "{\"sku\":\"x1\",\"t\":1}\n{\"sku\":7,\"t\":2}\n{\"t\":3}\n{\"sku\":{},\"t\":4}\n"
        )
        const items = yield* collect(`${dir}/a.jsonl`, { key: "sku", columns: ["t"] })
        assert.deepStrictEqual(rows(items).map((r) => [r.id, r.data]), [["x1", { t: 1 }], ["7", { t: 2 }]])
        assert.deepStrictEqual(
          items.filter(Dataset.isMalformed).map((m) => [m.line, m.message]),
          [[3, "the row has no key \"sku\""], [4, "the key \"sku\" is not a string or a number"]]
        )
      }))

    it.scoped("limit stops reading and closes the file", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const text = Array.from({ length: 10_000 }, (_, i) => JSON.stringify({ i })).join("\n")
        yield* writeText(`${dir}/a.jsonl`, text)
        const tracker: Tracker = { opened: 0, closed: 0 }
        const items = yield* collect(`${dir}/a.jsonl`, { limit: 3, chunkSize: 256 }).pipe(
          Effect.provide(trackedLayer(tracker, { streams: true }))
        )
        assert.deepStrictEqual(rows(items).map((r) => r.data), [{ i: 0 }, { i: 1 }, { i: 2 }])
        assert.strictEqual(tracker.opened, 1)
        assert.strictEqual(tracker.closed, 1)
        assert.deepStrictEqual(yield* collect(`${dir}/a.jsonl`, { limit: 0 }), [])
      }))
  })

  describe("JSON arrays", () => {
    it.scoped("streams the elements of a top-level array incrementally", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeText(`${dir}/a.json`, " [ {\"t\": \"a\", \"n\": [1, {\"x\": 2}]}, 5, {\"t\": \"ü\"} ]\n")
        for (const chunkSize of [2, 1 << 16]) {
          const items = yield* collect(`${dir}/a.json`, { chunkSize })
          assert.deepStrictEqual(items, [
            { _tag: "Row", id: "0", index: 0, data: { t: "a", n: [1, { x: 2 }] } },
            {
              _tag: "Malformed",
              index: 1,
              file: `${dir}/a.json`,
              raw: "5",
              message: "expected a JSON object, got number"
            },
            { _tag: "Row", id: "2", index: 2, data: { t: "ü" } }
          ])
        }
      }))

    it.scoped("a broken array fails with Malformed after the elements before the break", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeText(`${dir}/a.json`, "[{\"a\":1},{\"a\":2},{\"a\": }]")
        const { error, seen } = yield* failure(`${dir}/a.json`, { chunkSize: 4 })
        assert.deepStrictEqual(rows(seen).map((r) => r.data), [{ a: 1 }, { a: 2 }])
        assert.strictEqual(error.reason, "Malformed")
        assert.strictEqual(error.path, `${dir}/a.json`)
        yield* writeText(`${dir}/b.json`, "[{\"a\":1},{\"a\":2}")
        const truncated = yield* failure(`${dir}/b.json`)
        assert.strictEqual(truncated.seen.length, 2)
        assert.strictEqual(truncated.error.reason, "Malformed")
      }))

    it.scoped("a .json file of objects per line is read as JSONL; a non-array with format json fails", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeText(`${dir}/lines.json`, "{\"a\":1}\n{\"a\":2}\n")
        assert.deepStrictEqual(yield* Dataset.sources(`${dir}/lines.json`), [{
          path: `${dir}/lines.json`,
          format: "jsonl"
        }])
        assert.deepStrictEqual(rows(yield* collect(`${dir}/lines.json`)).map((r) => r.line), [1, 2])
        const { error } = yield* failure(`${dir}/lines.json`, { format: "json" })
        assert.strictEqual(error.reason, "Malformed")
        assert.include(error.description, "array of objects")
      }))
  })
})
