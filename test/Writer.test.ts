import { NodeFileSystem } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, Layer, Stream } from "effect"
import { parquetMetadata, parquetReadObjects } from "hyparquet"
import * as Writer from "../src/Writer.js"
import { WriterError } from "../src/WriterError.js"

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

interface Tracker {
  opened: number
  closed: number
}

/** Counts the files the writer opens and closes. */
const trackedLayer = (tracker: Tracker) =>
  Layer.effect(
    FileSystem.FileSystem,
    Effect.map(FileSystem.FileSystem, (fs): FileSystem.FileSystem => ({
      ...fs,
      open: (path, options) =>
        fs.open(path, options).pipe(
          Effect.tap(() => Effect.sync(() => tracker.opened++)),
          Effect.tap(() => Effect.addFinalizer(() => Effect.sync(() => tracker.closed++)))
        )
    }))
  ).pipe(Layer.provide(NodeFileSystem.layer))

const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "sluice-writer-" }))

const readText = (path: string) => Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(path))

const writeText = (path: string, text: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.writeFileString(path, text))

const listDir = (path: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readDirectory(path)).pipe(Effect.map((names) => names.sort()))

const exists = (path: string) => Effect.flatMap(FileSystem.FileSystem, (fs) => fs.exists(path))

const jsonLines = (text: string) => {
  assert.isTrue(text.length === 0 || text.endsWith("\n"), "every line is complete")
  return text.split("\n").filter((line) => line.length > 0).map((line) => JSON.parse(line))
}

const records = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ id: String(from + i), n: from + i }))

/** Writes batches through a writer opened in its own scope (closed at the end, as after a run). */
const writeBatches = (options: Writer.Options, batches: ReadonlyArray<ReadonlyArray<unknown>>, seal = false) =>
  Effect.scoped(Effect.gen(function*() {
    const writer = yield* Writer.make(options)
    for (const batch of batches) yield* writer.write(batch)
    if (seal) yield* writer.seal
    return yield* writer.stats
  }))

const readParquet = (path: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const bytes = yield* fs.readFile(path)
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
    const rows = yield* Effect.promise(() => parquetReadObjects({ file: buffer }))
    return { rows, metadata: parquetMetadata(buffer) }
  })

// ---------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------

it.layer(NodeFileSystem.layer)("Writer", (it) => {
  describe("rolling JSONL", () => {
    it.scoped("rolls at the row limit, keeping order, across batches", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const stats = yield* writeBatches({ dir, step: "s", maxRows: 10 }, [
          records(0, 7),
          records(7, 7),
          records(14, 7),
          records(21, 4)
        ])
        assert.deepStrictEqual(stats, { file: 2, fileRows: 5, rows: 25, files: 3 })
        assert.deepStrictEqual(yield* listDir(`${dir}/s`), ["000.jsonl", "001.jsonl", "002.jsonl"])
        const all = []
        for (const [name, count] of [["000", 10], ["001", 10], ["002", 5]] as const) {
          const lines = jsonLines(yield* readText(`${dir}/s/${name}.jsonl`))
          assert.strictEqual(lines.length, count)
          all.push(...lines)
        }
        assert.deepStrictEqual(all, records(0, 25))
        assert.deepStrictEqual(yield* Writer.files({ dir, step: "s" }), [
          `${dir}/s/000.jsonl`,
          `${dir}/s/001.jsonl`,
          `${dir}/s/002.jsonl`
        ])
      }))

    it.scoped("rolls at the byte limit; a record larger than the limit gets a file of its own", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const big = { id: "big", text: "x".repeat(300) }
        yield* writeBatches({ dir, step: "s", maxBytes: 100 }, [[...records(0, 6), big, ...records(6, 2)]])
        const names = yield* listDir(`${dir}/s`)
        const sizes: Array<number> = []
        const all = []
        for (const name of names) {
          const text = yield* readText(`${dir}/s/${name}`)
          sizes.push(new TextEncoder().encode(text).length)
          all.push(...jsonLines(text))
        }
        assert.deepStrictEqual(all, [...records(0, 6), big, ...records(6, 2)])
        for (let i = 0; i < names.length; i++) {
          const lines = jsonLines(yield* readText(`${dir}/s/${names[i]}`))
          assert.isTrue(sizes[i]! <= 100 || lines.length === 1, `${names[i]} holds ${sizes[i]} bytes`)
        }
        assert.isAbove(names.length, 2)
      }))

    it.scoped("a record that is not JSON fails the batch before anything of it is written", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const error = yield* writeBatches({ dir, step: "s" }, [records(0, 2), [{ id: "a" }, { id: "b", n: 1n }]]).pipe(
          Effect.flip
        )
        assert.instanceOf(error, WriterError)
        assert.strictEqual(error.reason, "Encode")
        assert.include(error.description, "record 1 of the batch")
        assert.deepStrictEqual(jsonLines(yield* readText(`${dir}/s/000.jsonl`)), records(0, 2))
      }))

    it.scoped("sink writes every chunk and seals the step", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* Stream.range(0, 999).pipe(
          Stream.map((n) => ({ id: String(n), n })),
          Stream.rechunk(64),
          Stream.run(Writer.sink({ dir, step: "squares", maxRows: 400 }))
        )
        assert.deepStrictEqual(yield* listDir(`${dir}/squares`), ["000.jsonl", "001.jsonl", "002.jsonl"])
        const ids = yield* Writer.completedIds({ dir, step: "squares" })
        assert.strictEqual(ids.size, 1000)
      }))
  })

  describe("resume", () => {
    it.scoped("reopening truncates a torn last line and appends after the last complete one", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const good = records(0, 3).map((r) => JSON.stringify(r)).join("\n") + "\n"
        yield* Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeDirectory(`${dir}/s`))
        yield* writeText(`${dir}/s/000.jsonl`, `${good}{"id":"3","n":`)
        assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Stream.runCollect(Writer.scan({ dir, step: "s" }))), [
          "0",
          "1",
          "2"
        ])
        const stats = yield* writeBatches({ dir, step: "s", maxRows: 5 }, [records(3, 4)])
        assert.deepStrictEqual(stats, { file: 1, fileRows: 2, rows: 4, files: 1 })
        assert.deepStrictEqual(jsonLines(yield* readText(`${dir}/s/000.jsonl`)), records(0, 5))
        assert.deepStrictEqual(jsonLines(yield* readText(`${dir}/s/001.jsonl`)), records(5, 2))
      }))

    it.scoped("a torn file without any complete line is emptied and reused", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeDirectory(`${dir}/s`))
        yield* writeText(`${dir}/s/000.jsonl`, "{\"id\":\"0\"")
        yield* writeBatches({ dir, step: "s" }, [records(0, 1)])
        assert.deepStrictEqual(jsonLines(yield* readText(`${dir}/s/000.jsonl`)), records(0, 1))
      }))

    it.scoped("a full last file is left alone: new records start the next file", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeBatches({ dir, step: "s", maxRows: 4 }, [records(0, 8)])
        yield* writeBatches({ dir, step: "s", maxRows: 4 }, [records(8, 1)])
        assert.deepStrictEqual(yield* listDir(`${dir}/s`), ["000.jsonl", "001.jsonl", "002.jsonl"])
        assert.deepStrictEqual(jsonLines(yield* readText(`${dir}/s/002.jsonl`)), records(8, 1))
      }))

    it.scoped("scan streams the ids of every file, and read the records; a missing step has none", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeBatches({ dir, step: "s", maxRows: 3 }, [[...records(0, 5), { n: 99 }, { key: 7 }]])
        const ids = yield* Stream.runCollect(Writer.scan({ dir, step: "s" }))
        assert.deepStrictEqual(Chunk.toReadonlyArray(ids), ["0", "1", "2", "3", "4"])
        const keyed = yield* Writer.completedIds({ dir, step: "s", key: "key" })
        assert.deepStrictEqual([...keyed], ["7"])
        const all = yield* Stream.runCollect(Writer.read({ dir, step: "s" }))
        assert.strictEqual(Chunk.size(all), 7)
        assert.strictEqual((yield* Writer.completedIds({ dir, step: "other" })).size, 0)
      }))

    it.scoped("a corrupt line in the middle of a file fails with its line number", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeDirectory(`${dir}/s`))
        yield* writeText(`${dir}/s/000.jsonl`, "{\"id\":\"0\"}\n{\"id\":\n{\"id\":\"2\"}\n")
        const error = yield* Stream.runDrain(Writer.scan({ dir, step: "s" })).pipe(Effect.flip)
        assert.strictEqual(error.reason, "Corrupt")
        assert.strictEqual(error.line, 2)
        assert.include(error.message, `${dir}/s/000.jsonl:2: Corrupt`)
      }))
  })

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
