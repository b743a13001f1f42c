import { NodeFileSystem } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import * as Dataset from "../../src/Dataset.js"
import type * as Writer from "../../src/Writer.js"
import { exists, listDir, readParquet, readText, records, tempDir, writeBatches, writeText } from "./helpers.js"

it.layer(NodeFileSystem.layer)("Writer: copies", (it) => {
  describe("Parquet", () => {
    it.scoped("each complete file gets a typed Parquet copy with row groups", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const rows = Array.from({ length: 15 }, (_, i) => ({
          id: `r${i}`,
          small: i,
          big: i === 3 ? 2 ** 40 : i,
          ratio: i / 2,
          ok: i % 2 === 0,
          tags: i % 3 === 0 ? ["a", "b"] : [],
          mixed: i % 2 === 0 ? "text" : { k: i },
          ...(i === 4 ? { rare: "only here" } : {})
        }))
        const stats = yield* writeBatches({ dir, step: "s", maxRows: 10, parquet: { rowGroupSize: 4 } }, [rows], true)
        assert.deepStrictEqual(stats, { file: 2, fileRows: 0, rows: 15, files: 2 })
        assert.deepStrictEqual(yield* listDir(`${dir}/s`), ["000.jsonl", "000.parquet", "001.jsonl", "001.parquet"])
        const first = yield* readParquet(`${dir}/s/000.parquet`)
        assert.deepStrictEqual(first.metadata.row_groups.map((g) => g.num_rows), [4n, 4n, 2n])
        assert.deepStrictEqual(
          first.metadata.schema.slice(1).map((e) => [e.name, e.type, e.converted_type]),
          [
            ["id", "BYTE_ARRAY", "UTF8"],
            ["small", "INT32", undefined],
            ["big", "INT64", undefined],
            ["ratio", "DOUBLE", undefined],
            ["ok", "BOOLEAN", undefined],
            ["tags", "BYTE_ARRAY", "JSON"],
            ["mixed", "BYTE_ARRAY", "JSON"],
            ["rare", "BYTE_ARRAY", "UTF8"]
          ]
        )
        assert.deepStrictEqual(first.rows[3], {
          id: "r3",
          small: 3,
          big: 2n ** 40n,
          ratio: 1.5,
          ok: false,
          tags: ["a", "b"],
          mixed: { k: 3 },
          rare: null
        })
        assert.strictEqual(first.rows[4]!.rare, "only here")
        assert.strictEqual(first.rows[4]!.mixed, "text")
        const second = yield* readParquet(`${dir}/s/001.parquet`)
        assert.deepStrictEqual(second.rows.map((r) => r.id), ["r10", "r11", "r12", "r13", "r14"])
      }))

    it.scoped("reopening writes the copies a crash left missing and removes temporary files", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const options = { dir, step: "s", maxRows: 10, parquet: true } as const
        yield* writeBatches(options, [records(0, 14)])
        assert.deepStrictEqual(yield* listDir(`${dir}/s`), ["000.jsonl", "000.parquet", "001.jsonl"])
        yield* Effect.flatMap(FileSystem.FileSystem, (fs) => fs.remove(`${dir}/s/000.parquet`))
        yield* writeText(`${dir}/s/000.parquet.tmp`, "half a parquet file")
        yield* writeBatches(options, [records(14, 1)], true)
        assert.deepStrictEqual(yield* listDir(`${dir}/s`), ["000.jsonl", "000.parquet", "001.jsonl", "001.parquet"])
        assert.deepStrictEqual((yield* readParquet(`${dir}/s/000.parquet`)).rows.map((r) => r.n), [
          0,
          1,
          2,
          3,
          4,
          5,
          6,
          7,
          8,
          9
        ])
        assert.deepStrictEqual((yield* readParquet(`${dir}/s/001.parquet`)).rows.map((r) => r.n), [10, 11, 12, 13, 14])
        yield* writeBatches(options, [records(15, 1)])
        assert.isTrue(yield* exists(`${dir}/s/002.jsonl`), "a sealed file is not appended to")
      }))
  })

  describe("CSV", () => {
    it.scoped("each complete file gets a CSV copy: header of every field, RFC 4180 quoting, nested values as JSON", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeBatches({ dir, step: "s", maxRows: 2, csv: true }, [[
          { id: "1", text: "plain", n: 1.5, ok: true },
          { id: "2", text: "a, \"b\"\nc", tags: ["x", "y"], meta: { k: 1 }, none: null },
          { id: "3", text: " padded " }
        ]], true)
        assert.deepStrictEqual(yield* listDir(`${dir}/s`), ["000.csv", "000.jsonl", "001.csv", "001.jsonl"])
        assert.strictEqual(
          yield* readText(`${dir}/s/000.csv`),
          "id,text,n,ok,tags,meta,none\r\n" +
            "1,plain,1.5,true,,,\r\n" +
            "2,\"a, \"\"b\"\"\nc\",,,\"[\"\"x\"\",\"\"y\"\"]\",\"{\"\"k\"\":1}\",\r\n"
        )
        assert.strictEqual(yield* readText(`${dir}/s/001.csv`), "id,text\r\n3,\" padded \"\r\n")
      }))

    it.scoped("round trip: Dataset reads the CSV copy back as the records (cast for numbers and booleans)", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const written = [
          { id: "a", title: "Kettle, \"steel\"", price: 19.5, stock: 3, ok: true, note: "two\nlines" },
          { id: "b", title: "Lamp", price: 12, stock: 0, ok: false, note: "" }
        ]
        yield* writeBatches({ dir, step: "s", csv: true }, [written], true)
        const items = yield* Stream.runCollect(Dataset.stream(`${dir}/s/000.csv`, { key: "id", cast: true }))
        const rows = Chunk.toReadonlyArray(items).filter(Dataset.isRow)
        assert.deepStrictEqual(rows.map((row) => row.id), ["a", "b"])
        assert.deepStrictEqual(rows.map((row) => ({ id: row.id, ...row.data })), written)
      }))

    it.scoped("reopening writes the CSV copies a crash left missing; a sealed file is not appended to", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const options: Writer.Options = { dir, step: "s", maxRows: 10, csv: true }
        yield* writeBatches(options, [records(0, 12)], true)
        yield* Effect.flatMap(FileSystem.FileSystem, (fs) => fs.remove(`${dir}/s/000.csv`))
        yield* writeBatches(options, [records(12, 1)])
        assert.include(yield* readText(`${dir}/s/000.csv`), "9,9\r\n")
        assert.isTrue(yield* exists(`${dir}/s/002.jsonl`), "a sealed file is not appended to")
      }))
  })
})
