import * as FileSystem from "@effect/platform/FileSystem"
import { Field, Int32, Int64, List, RecordBatchStreamWriter, Struct, Table, Utf8, vectorFromArray } from "apache-arrow"
import { Chunk, Effect, Stream } from "effect"
import { parquetWriteBuffer } from "hyparquet-writer"
import * as Dataset from "../../src/Dataset.js"
import { tempDirectory, writeText } from "../support/trackedFileSystem.js"

export { readText, trackedLayer, type Tracker, writeText } from "../support/trackedFileSystem.js"

export const tempDir = tempDirectory("sluice-dataset-")

export const writeBytes = (path: string, bytes: Uint8Array) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.writeFile(path, bytes))

export const mkdir = (path: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeDirectory(path, { recursive: true }))

export const collect = (path: string, options?: Dataset.Options) =>
  Stream.runCollect(Dataset.stream(path, options)).pipe(Effect.map(Chunk.toReadonlyArray))

export const rows = (items: ReadonlyArray<Dataset.Item>) => items.filter(Dataset.isRow)

/** Runs a stream to its failure, returning the items before it and the error. */
export const failure = (path: string, options?: Dataset.Options) =>
  Effect.gen(function*() {
    const seen: Array<Dataset.Item> = []
    const error = yield* Dataset.stream(path, options).pipe(
      Stream.runForEach((item) => Effect.sync(() => seen.push(item))),
      Effect.flip
    )
    return { seen, error }
  })

export const parquetFile = (rowGroupSize: number) =>
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

export const arrowTable = (
  rows: ReadonlyArray<{ id: string; n: bigint; tags: Array<string>; dims: { w: number } | null }>
) =>
  new Table({
    id: vectorFromArray(rows.map((r) => r.id), new Utf8()),
    n: vectorFromArray(rows.map((r) => r.n), new Int64()),
    tags: vectorFromArray(rows.map((r) => r.tags), new List(new Field("item", new Utf8(), true))),
    dims: vectorFromArray(rows.map((r) => r.dims), new Struct([new Field("w", new Int32(), true)]))
  })

/** An Arrow IPC stream with one record batch per group, as `datasets.save_to_disk` writes them. */
export const arrowStream = (
  groups: ReadonlyArray<ReadonlyArray<{ id: string; n: bigint; tags: Array<string>; dims: { w: number } | null }>>
) => {
  const writer = new RecordBatchStreamWriter()
  for (const group of groups) {
    for (const batch of arrowTable(group).batches) writer.write(batch)
  }
  writer.finish()
  return writer.toUint8Array(true)
}

export const arrowRows = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({
    id: `r${from + i}`,
    n: BigInt(from + i),
    tags: i % 2 === 0 ? ["even"] : [],
    dims: i % 3 === 0 ? null : { w: from + i }
  }))

export const saveToDisk = (dir: string, split: string, groups: Parameters<typeof arrowStream>[0]) =>
  Effect.gen(function*() {
    yield* mkdir(`${dir}/${split}`)
    yield* writeBytes(`${dir}/${split}/data-00000-of-00001.arrow`, arrowStream(groups))
    yield* writeText(
      `${dir}/${split}/state.json`,
      JSON.stringify({ _data_files: [{ filename: "data-00000-of-00001.arrow" }], _fingerprint: "x", _split: null })
    )
    yield* writeText(`${dir}/${split}/dataset_info.json`, JSON.stringify({ features: {} }))
  })
