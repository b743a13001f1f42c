import * as FileSystem from "@effect/platform/FileSystem"
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import { parquetMetadata, parquetReadObjects } from "hyparquet"
import * as Writer from "../../src/Writer.js"
import { tempDirectory } from "../support/trackedFileSystem.js"

export { readText, trackedLayer, type Tracker, writeText } from "../support/trackedFileSystem.js"

export const tempDir = tempDirectory("sluice-writer-")

export const listDir = (path: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readDirectory(path)).pipe(Effect.map((names) => names.sort()))

export const exists = (path: string) => Effect.flatMap(FileSystem.FileSystem, (fs) => fs.exists(path))

export const jsonLines = (text: string) => {
  assert.isTrue(text.length === 0 || text.endsWith("\n"), "every line is complete")
  return text.split("\n").filter((line) => line.length > 0).map((line) => JSON.parse(line))
}

export const records = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ id: String(from + i), n: from + i }))

/** Writes batches through a writer opened in its own scope (closed at the end, as after a run). */
export const writeBatches = (options: Writer.Options, batches: ReadonlyArray<ReadonlyArray<unknown>>, seal = false) =>
  Effect.scoped(Effect.gen(function*() {
    const writer = yield* Writer.make(options)
    for (const batch of batches) yield* writer.write(batch)
    if (seal) yield* writer.seal
    return yield* writer.stats
  }))

export const readParquet = (path: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const bytes = yield* fs.readFile(path)
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
    const rows = yield* Effect.promise(() => parquetReadObjects({ file: buffer }))
    return { rows, metadata: parquetMetadata(buffer) }
  })
