import { NodeFileSystem } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import * as Writer from "../../src/Writer.js"
import { WriterError } from "../../src/WriterError.js"
import { jsonLines, listDir, readText, records, tempDir, writeBatches, writeText } from "./helpers.js"

it.layer(NodeFileSystem.layer)("Writer: rolling and resume", (it) => {
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
})
