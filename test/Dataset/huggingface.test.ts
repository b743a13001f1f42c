import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Dataset from "../../src/Dataset.js"
import {
  arrowRows,
  arrowStream,
  collect,
  failure,
  mkdir,
  parquetFile,
  rows,
  saveToDisk,
  tempDir,
  writeBytes,
  writeText
} from "./helpers.js"

it.layer(NodeFileSystem.layer)("Dataset: Hugging Face folders", (it) => {
  describe("Hugging Face folders", () => {
    it.scoped("a save_to_disk DatasetDict: the train split by default, another by name", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeText(`${dir}/dataset_dict.json`, JSON.stringify({ splits: ["train", "test"] }))
        yield* saveToDisk(dir, "train", [arrowRows(0, 4)])
        yield* saveToDisk(dir, "test", [arrowRows(100, 2)])
        assert.deepStrictEqual(yield* Dataset.sources(dir), [
          { path: `${dir}/train/data-00000-of-00001.arrow`, format: "arrow" }
        ])
        assert.deepStrictEqual(rows(yield* collect(dir, { key: "id" })).map((r) => r.id), ["r0", "r1", "r2", "r3"])
        assert.deepStrictEqual(rows(yield* collect(dir, { key: "id", split: "test" })).map((r) => r.id), [
          "r100",
          "r101"
        ])
        const { error } = yield* failure(dir, { split: "validation" })
        assert.strictEqual(error.reason, "NotFound")
        assert.include(error.description, "splits: train, test")
      }))

    it.scoped("a single saved Dataset (state.json) reads its arrow files in order", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* mkdir(`${dir}/ds`)
        yield* writeBytes(`${dir}/ds/data-00000-of-00002.arrow`, arrowStream([arrowRows(0, 2)]))
        yield* writeBytes(`${dir}/ds/data-00001-of-00002.arrow`, arrowStream([arrowRows(2, 2)]))
        yield* writeText(
          `${dir}/ds/state.json`,
          JSON.stringify({
            _data_files: [{ filename: "data-00000-of-00002.arrow" }, { filename: "data-00001-of-00002.arrow" }]
          })
        )
        const items = yield* collect(`${dir}/ds`, { key: "id" })
        assert.deepStrictEqual(rows(items).map((r) => [r.id, r.index]), [["r0", 0], ["r1", 1], ["r2", 2], ["r3", 3]])
      }))

    it.scoped("a Hub snapshot: parquet shards of the split, with indexes running across files", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* mkdir(`${dir}/data`)
        yield* mkdir(`${dir}/.cache`)
        yield* writeBytes(`${dir}/data/train-00000-of-00002.parquet`, parquetFile(2))
        yield* writeBytes(`${dir}/data/train-00001-of-00002.parquet`, parquetFile(5))
        yield* writeBytes(`${dir}/data/test-00000-of-00001.parquet`, parquetFile(5))
        yield* writeBytes(`${dir}/.cache/train-x.parquet`, parquetFile(5))
        const train = yield* collect(dir, { columns: ["sku"] })
        assert.strictEqual(train.length, 10)
        assert.deepStrictEqual(train.map((i) => i.index), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
        assert.deepStrictEqual(rows(train)[5]!.data, { sku: "a1" })
        assert.strictEqual((yield* collect(dir, { split: "test" })).length, 5)
        assert.strictEqual((yield* failure(dir, { split: "dev" })).error.reason, "NotFound")
      }))

    it.scoped("an empty folder names what it looked for", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeText(`${dir}/README.md`, "# nothing")
        const { error } = yield* failure(dir)
        assert.strictEqual(error.reason, "NotFound")
        assert.include(error.message, "no data file")
      }))
  })
})
