import { NodeFileSystem } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Field, Int32, Int64, List, RecordBatchStreamWriter, Struct, Table, Utf8, vectorFromArray } from "apache-arrow"
import { Chunk, Effect, Layer, Stream } from "effect"
import { parquetWriteBuffer } from "hyparquet-writer"
import * as Dataset from "../src/Dataset.js"
import { DatasetError } from "../src/DatasetError.js"

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

/** Counts files opened and closed (open and stream) so tests can see that every file is closed. */
interface Tracker {
  opened: number
  closed: number
}

const trackedLayer = (tracker: Tracker) =>
  Layer.effect(
    FileSystem.FileSystem,
    Effect.map(FileSystem.FileSystem, (fs): FileSystem.FileSystem => ({
      ...fs,
      open: (path, options) =>
        fs.open(path, options).pipe(
          Effect.tap(() => Effect.sync(() => tracker.opened++)),
          Effect.tap(() => Effect.addFinalizer(() => Effect.sync(() => tracker.closed++)))
        ),
      stream: (path, options) =>
        Stream.unwrapScoped(
          Effect.acquireRelease(
            Effect.sync(() => tracker.opened++),
            () => Effect.sync(() => tracker.closed++)
          ).pipe(Effect.as(fs.stream(path, options)))
        )
    }))
  ).pipe(Layer.provide(NodeFileSystem.layer))

const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "sluice-dataset-" }))

const writeText = (path: string, text: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.writeFileString(path, text))

const writeBytes = (path: string, bytes: Uint8Array) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.writeFile(path, bytes))

const mkdir = (path: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeDirectory(path, { recursive: true }))

const collect = (path: string, options?: Dataset.Options) =>
  Stream.runCollect(Dataset.stream(path, options)).pipe(Effect.map(Chunk.toReadonlyArray))

const rows = (items: ReadonlyArray<Dataset.Item>) => items.filter(Dataset.isRow)

/** Runs a stream to its failure, returning the items before it and the error. */
const failure = (path: string, options?: Dataset.Options) =>
  Effect.gen(function*() {
    const seen: Array<Dataset.Item> = []
    const error = yield* Dataset.stream(path, options).pipe(
      Stream.runForEach((item) => Effect.sync(() => seen.push(item))),
      Effect.flip
    )
    return { seen, error }
  })

const parquetFile = (rowGroupSize: number) =>
  new Uint8Array(parquetWriteBuffer({
    columnData: [
      { name: "sku", data: ["a1", "b2", "c3", "d4", "e5"], type: "STRING" },
      { name: "title", data: ["Kettle", "Toaster", "Lamp", "Chair", "Desk"], type: "STRING" },
      { name: "price", data: [19.5, 25, 12.25, 80, 150], type: "DOUBLE" },
      { name: "stock", data: [3n, 0n, 2n ** 40n, 7n, 1n], type: "INT64" },
      { name: "meta", data: [{ tags: ["kitchen"] }, null, { tags: [] }, { tags: ["office"] }, null], type: "JSON" }
    ],
    rowGroupSize
  }))

const arrowTable = (rows: ReadonlyArray<{ id: string; n: bigint; tags: Array<string>; dims: { w: number } | null }>) =>
  new Table({
    id: vectorFromArray(rows.map((r) => r.id), new Utf8()),
    n: vectorFromArray(rows.map((r) => r.n), new Int64()),
    tags: vectorFromArray(rows.map((r) => r.tags), new List(new Field("item", new Utf8(), true))),
    dims: vectorFromArray(rows.map((r) => r.dims), new Struct([new Field("w", new Int32(), true)]))
  })

/** An Arrow IPC stream with one record batch per group, as `datasets.save_to_disk` writes them. */
const arrowStream = (
  groups: ReadonlyArray<ReadonlyArray<{ id: string; n: bigint; tags: Array<string>; dims: { w: number } | null }>>
) => {
  const writer = new RecordBatchStreamWriter()
  for (const group of groups) {
    for (const batch of arrowTable(group).batches) writer.write(batch)
  }
  writer.finish()
  return writer.toUint8Array(true)
}

const arrowRows = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({
    id: `r${from + i}`,
    n: BigInt(from + i),
    tags: i % 2 === 0 ? ["even"] : [],
    dims: i % 3 === 0 ? null : { w: from + i }
  }))

const saveToDisk = (dir: string, split: string, groups: Parameters<typeof arrowStream>[0]) =>
  Effect.gen(function*() {
    yield* mkdir(`${dir}/${split}`)
    yield* writeBytes(`${dir}/${split}/data-00000-of-00001.arrow`, arrowStream(groups))
    yield* writeText(
      `${dir}/${split}/state.json`,
      JSON.stringify({ _data_files: [{ filename: "data-00000-of-00001.arrow" }], _fingerprint: "x", _split: null })
    )
    yield* writeText(`${dir}/${split}/dataset_info.json`, JSON.stringify({ features: {} }))
  })

// ---------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------

it.layer(NodeFileSystem.layer)("Dataset", (it) => {
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
          Effect.provide(trackedLayer(tracker))
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

  describe("CSV", () => {
    it.scoped("reads records by header with line numbers, quoted fields and malformed records", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeText(
          `${dir}/p.csv`,
          "sku,title,price\na1,Kettle,19.5\nb2,\"Toaster, 2 slots\",25\nc3,\"Lamp\nwith shade\",12\nd4,Chair\ne5,Desk,150,extra\n\nf6,Shelf,30\n"
        )
        const items = yield* collect(`${dir}/p.csv`, { key: "sku" })
        assert.deepStrictEqual(rows(items).map((r) => [r.id, r.index, r.line, r.data]), [
          ["a1", 0, 2, { sku: "a1", title: "Kettle", price: "19.5" }],
          ["b2", 1, 3, { sku: "b2", title: "Toaster, 2 slots", price: "25" }],
          ["c3", 2, 5, { sku: "c3", title: "Lamp\nwith shade", price: "12" }],
          ["f6", 5, 9, { sku: "f6", title: "Shelf", price: "30" }]
        ])
        const bad = items.filter(Dataset.isMalformed)
        assert.deepStrictEqual(bad.map((b) => [b.index, b.line, b.raw]), [[3, 6, "d4,Chair"], [
          4,
          7,
          "e5,Desk,150,extra"
        ]])
        assert.include(bad[0]!.message, "Invalid Record Length")
        assert.deepStrictEqual(items.map((i) => i.index), [0, 1, 2, 3, 4, 5])
      }))

    it.scoped("strict mode fails on the first malformed record", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeText(`${dir}/p.csv`, "a,b\n1,2\n3\n4,5\n")
        const { error, seen } = yield* failure(`${dir}/p.csv`, { strict: true })
        assert.deepStrictEqual(rows(seen).map((r) => r.data), [{ a: "1", b: "2" }])
        assert.strictEqual(error.reason, "Malformed")
        assert.strictEqual(error.line, 3)
        assert.strictEqual(error.raw, "3")
      }))

    it.scoped("limit stops the parser and closes the file", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeText(`${dir}/p.csv`, "n\n" + Array.from({ length: 20_000 }, (_, i) => String(i)).join("\n"))
        const tracker: Tracker = { opened: 0, closed: 0 }
        const items = yield* collect(`${dir}/p.csv`, { limit: 2, chunkSize: 1024 }).pipe(
          Effect.provide(trackedLayer(tracker))
        )
        assert.deepStrictEqual(rows(items).map((r) => r.data), [{ n: "0" }, { n: "1" }])
        assert.strictEqual(tracker.opened, 1)
        assert.strictEqual(tracker.closed, 1)
      }))

    it.scoped("TSV, casting, column selection and unknown columns", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeText(`${dir}/p.tsv`, "id\tn\tok\tnote\nx\t1.5\ttrue\thi\ny\t2\tfalse\tthere\n")
        const items = yield* collect(`${dir}/p.tsv`, { cast: true, columns: ["n", "ok"], key: "id" })
        assert.deepStrictEqual(rows(items).map((r) => [r.id, r.data]), [["x", { n: 1.5, ok: "true" }], ["y", {
          n: 2,
          ok: "false"
        }]])
        const { error } = yield* failure(`${dir}/p.tsv`, { columns: ["n", "nope"] })
        assert.strictEqual(error.reason, "UnknownColumn")
        assert.include(error.message, "no column \"nope\" (columns: id, n, ok, note)")
      }))
  })

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
          Effect.provide(trackedLayer(tracker))
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
          Effect.provide(trackedLayer(tracker))
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
