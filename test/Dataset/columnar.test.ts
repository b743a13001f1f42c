import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import { parquetWriteBuffer } from "hyparquet-writer"
import * as Dataset from "../../src/Dataset.js"
import {
  arrowRows,
  arrowStream,
  collect,
  failure,
  parquetFile,
  rows,
  tempDir,
  trackedLayer,
  type Tracker,
  writeBytes,
  writeText
} from "./helpers.js"

it.layer(NodeFileSystem.layer)("Dataset: Parquet and Arrow", (it) => {
  describe("Parquet", () => {
    it.scoped("reads every row group, with 64-bit integers as numbers and JSON columns decoded", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeBytes(`${dir}/p.parquet`, parquetFile(2))
        const items = yield* collect(`${dir}/p.parquet`, { key: "sku" })
        assert.deepStrictEqual(rows(items).map((r) => r.id), ["a1", "b2", "c3", "d4", "e5"])
        assert.deepStrictEqual(items[0], {
          _tag: "Row",
          id: "a1",
          index: 0,
          data: { sku: "a1", title: "Kettle", price: 19.5, stock: 3, meta: { tags: ["kitchen"] } }
        })
        assert.strictEqual(rows(items)[2]!.data.stock, 2 ** 40)
        assert.strictEqual(rows(items)[1]!.data.meta, null)
      }))

    it.scoped("selects columns, keeps the key out of data unless selected, and honours limit", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeBytes(`${dir}/p.parquet`, parquetFile(2))
        const tracker: Tracker = { opened: 0, closed: 0 }
        const items = yield* collect(`${dir}/p.parquet`, { key: "sku", columns: ["title"], limit: 3 }).pipe(
          Effect.provide(trackedLayer(tracker, { streams: true }))
        )
        assert.deepStrictEqual(rows(items).map((r) => [r.id, r.data]), [
          ["a1", { title: "Kettle" }],
          ["b2", { title: "Toaster" }],
          ["c3", { title: "Lamp" }]
        ])
        assert.strictEqual(tracker.opened, tracker.closed)
        const { error } = yield* failure(`${dir}/p.parquet`, { columns: ["title", "colour"] })
        assert.strictEqual(error.reason, "UnknownColumn")
        assert.include(error.description, "colour")
      }))

    it.scoped("a large row group is decoded once and emitted in slices", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const n = 10_000
        yield* writeBytes(
          `${dir}/big.parquet`,
          new Uint8Array(parquetWriteBuffer({
            columnData: [
              { name: "i", data: Array.from({ length: n }, (_, i) => i), type: "INT32" },
              { name: "s", data: Array.from({ length: n }, (_, i) => `s${i}`), type: "STRING" }
            ],
            rowGroupSize: n
          }))
        )
        const chunks = yield* Dataset.stream(`${dir}/big.parquet`).pipe(
          Stream.chunks,
          Stream.map(Chunk.toReadonlyArray),
          Stream.runCollect,
          Effect.map(Chunk.toReadonlyArray)
        )
        const all = chunks.flat().filter(Dataset.isRow)
        assert.strictEqual(all.length, n)
        assert.deepStrictEqual(all[n - 1]!.data, { i: n - 1, s: `s${n - 1}` })
        assert.isTrue(all.every((row, i) => row.index === i && row.data.i === i))
        assert.isAtMost(Math.max(...chunks.map((c) => c.length)), 4096)
      }))

    it.scoped("a file that is not Parquet fails with InvalidFile", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeText(`${dir}/bad.parquet`, "this is not parquet at all")
        const { error } = yield* failure(`${dir}/bad.parquet`)
        assert.strictEqual(error.reason, "InvalidFile")
        assert.strictEqual(error.path, `${dir}/bad.parquet`)
      }))
  })

  describe("Arrow", () => {
    it.scoped("reads record batches of an IPC stream, lists and structs as plain values", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeBytes(`${dir}/d.arrow`, arrowStream([arrowRows(0, 3), arrowRows(3, 2)]))
        const items = yield* collect(`${dir}/d.arrow`, { key: "id", chunkSize: 64 })
        assert.deepStrictEqual(rows(items).map((r) => r.id), ["r0", "r1", "r2", "r3", "r4"])
        assert.deepStrictEqual(rows(items).map((r) => r.index), [0, 1, 2, 3, 4])
        assert.deepStrictEqual(items[0], {
          _tag: "Row",
          id: "r0",
          index: 0,
          data: { id: "r0", n: 0, tags: ["even"], dims: null }
        })
        assert.deepStrictEqual(rows(items)[4]!.data, { id: "r4", n: 4, tags: [], dims: { w: 4 } })
      }))

    it.scoped("selects columns, rejects unknown ones, and closes the file when limited", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeBytes(`${dir}/d.arrow`, arrowStream([arrowRows(0, 50), arrowRows(50, 50)]))
        const tracker: Tracker = { opened: 0, closed: 0 }
        const items = yield* collect(`${dir}/d.arrow`, { columns: ["tags"], limit: 2, chunkSize: 128 }).pipe(
          Effect.provide(trackedLayer(tracker, { streams: true }))
        )
        assert.deepStrictEqual(rows(items).map((r) => [r.id, r.data]), [["0", { tags: ["even"] }], ["1", { tags: [] }]])
        assert.strictEqual(tracker.opened, 1)
        assert.strictEqual(tracker.closed, 1)
        const { error } = yield* failure(`${dir}/d.arrow`, { columns: ["nope"] })
        assert.strictEqual(error.reason, "UnknownColumn")
        yield* writeText(`${dir}/bad.arrow`, "not arrow")
        assert.strictEqual((yield* failure(`${dir}/bad.arrow`)).error.reason, "InvalidFile")
      }))
  })
})
