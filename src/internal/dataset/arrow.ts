/**
 * Arrow IPC streams through apache-arrow, one record batch at a time.
 *
 * @internal
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Arrow from "apache-arrow"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Stream from "effect/Stream"
import { DatasetError } from "../../DatasetError.js"
import { scopedReadable } from "./csv.js"
import { bytesOf, type Raw, type Settings, unknownColumn, unknownColumns, wanted } from "./items.js"
import { normalize } from "./parquet.js"

export type ArrowModule = typeof Arrow

/** Opens an Arrow IPC stream: its reader (record batches, read on demand) and the columns to read. */
export const readArrowBatches = (fs: FileSystem.FileSystem, path: string, settings: Settings) =>
  Effect.gen(function*() {
    const arrow: ArrowModule = yield* Effect.promise(() => import("apache-arrow"))
    const invalid = (e: unknown) =>
      isDatasetErrorLike(e)
        ? e
        : new DatasetError({ reason: "InvalidFile", path, description: (e as Error)?.message ?? String(e), cause: e })
    const bytes = yield* scopedReadable(bytesOf(fs, path, settings))
    const reader = yield* Effect.tryPromise({
      try: async () => {
        const reader = await arrow.RecordBatchReader.from(bytes)
        await reader.open()
        return reader
      },
      catch: invalid
    })
    const available = reader.schema.fields.map((field) => field.name)
    const columns = wanted(settings)
    const missing = unknownColumns(columns, available)
    if (missing !== undefined) return yield* unknownColumn(path, missing, available)
    return { batches: Stream.fromAsyncIterable(reader, invalid), arrow, names: columns ?? available }
  })

export const readArrow = (
  fs: FileSystem.FileSystem,
  path: string,
  settings: Settings
): Stream.Stream<Raw, DatasetError> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const { arrow, batches, names } = yield* readArrowBatches(fs, path, settings)
    return batches.pipe(
      Stream.mapConcatChunk((batch) => {
        const vectors = names.map((name) => batch.getChild(name))
        const out: Array<Raw> = new Array(batch.numRows)
        for (let i = 0; i < batch.numRows; i++) {
          const data: Record<string, unknown> = {}
          for (let c = 0; c < names.length; c++) data[names[c]!] = arrowValue(arrow, vectors[c]?.get(i))
          out[i] = { _tag: "Row", line: undefined, data }
        }
        return Chunk.unsafeFromArray(out)
      })
    )
  }))

export const isDatasetErrorLike = (e: unknown): e is DatasetError => e instanceof DatasetError

export const arrowValue = (arrow: ArrowModule, value: unknown): unknown => {
  if (typeof value !== "object" || value === null) return normalize(value)
  if (value instanceof arrow.Vector) {
    return Array.from(value.toArray() as ArrayLike<unknown>, (v) => arrowValue(arrow, v))
  }
  if (value instanceof Date || value instanceof Uint8Array) return value
  if (ArrayBuffer.isView(value)) return normalize(value)
  if (Array.isArray(value)) return value.map((v) => arrowValue(arrow, v))
  const json = Predicate.hasProperty(value, "toJSON") && typeof value.toJSON === "function"
    ? (value.toJSON() as Record<string, unknown>)
    : (value as Record<string, unknown>)
  const out: Record<string, unknown> = {}
  for (const key in json) out[key] = arrowValue(arrow, json[key])
  return out
}
