import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Dataset from "../../src/Dataset.js"
import { DatasetError } from "../../src/DatasetError.js"
import {
  arrowRows,
  arrowStream,
  collect,
  failure,
  parquetFile,
  rows,
  tempDir,
  writeBytes,
  writeText
} from "./helpers.js"

it.layer(NodeFileSystem.layer)("Dataset: count and paths", (it) => {
  describe("count", () => {
    it.scoped("counts what stream would emit, cheaply per format, up to the limit", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeText(`${dir}/a.jsonl`, "\uFEFF{\"a\":1}\r\n\n \t\r\n{bad\n{\"a\":2}")
        assert.strictEqual(
          yield* Dataset.count(`${dir}/a.jsonl`, { chunkSize: 3 }),
          (yield* collect(`${dir}/a.jsonl`)).length
        )
        assert.strictEqual(yield* Dataset.count(`${dir}/a.jsonl`), 3)
        assert.strictEqual(yield* Dataset.count(`${dir}/a.jsonl`, { limit: 2 }), 2)
        yield* writeBytes(`${dir}/p.parquet`, parquetFile(2))
        assert.strictEqual(yield* Dataset.count(`${dir}/p.parquet`), 5)
        yield* writeBytes(`${dir}/d.arrow`, arrowStream([arrowRows(0, 3), arrowRows(3, 4)]))
        assert.strictEqual(yield* Dataset.count(`${dir}/d.arrow`), 7)
        yield* writeText(`${dir}/p.csv`, "a,b\n1,2\n3\n4,5\n")
        assert.strictEqual(yield* Dataset.count(`${dir}/p.csv`), 3)
        yield* writeText(`${dir}/j.json`, "[{\"a\":1},2,{\"a\":3}]")
        assert.strictEqual(yield* Dataset.count(`${dir}/j.json`), 3)
        const missing = yield* Dataset.count(`${dir}/none.parquet`).pipe(Effect.flip)
        assert.strictEqual(missing.reason, "NotFound")
      }))
  })

  describe("bad paths", () => {
    it.scoped("a missing file is a NotFound error naming the path", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const { error, seen } = yield* failure(`${dir}/nope.jsonl`)
        assert.strictEqual(seen.length, 0)
        assert.instanceOf(error, DatasetError)
        assert.strictEqual(error.reason, "NotFound")
        assert.strictEqual(error.message, `${dir}/nope.jsonl: NotFound - no such file or directory`)
        assert.isFalse(error.isRetryable)
      }))

    it.scoped("an unknown extension asks for a format, which then applies", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeText(`${dir}/data.txt`, "{\"a\":1}\n")
        const { error } = yield* failure(`${dir}/data.txt`)
        assert.strictEqual(error.reason, "UnknownFormat")
        assert.include(error.description, ".jsonl")
        assert.deepStrictEqual(rows(yield* collect(`${dir}/data.txt`, { format: "jsonl" })).map((r) => r.data), [{
          a: 1
        }])
        assert.strictEqual((yield* failure(dir, { format: "csv" })).error.reason, "UnknownFormat")
      }))
  })
})
