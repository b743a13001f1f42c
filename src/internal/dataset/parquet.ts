/**
 * Parquet through hyparquet, one row group at a time.
 *
 * @internal
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import * as Stream from "effect/Stream"
import type { AsyncBuffer, ColumnData } from "hyparquet"
import { DatasetError } from "../../DatasetError.js"
import { fromPlatformError, type Raw, type Settings, unknownColumn, unknownColumns, wanted } from "./items.js"

export const openParquet = (fs: FileSystem.FileSystem, path: string) =>
  Effect.gen(function*() {
    const hyparquet = yield* Effect.promise(() => import("hyparquet"))
    const file = yield* fs.open(path).pipe(Effect.mapError((e) => fromPlatformError(path, e)))
    const size = Number((yield* file.stat.pipe(Effect.mapError((e) => fromPlatformError(path, e)))).size)
    const runtime = yield* Effect.runtime<never>()
    const lock = yield* Effect.makeSemaphore(1)
    const buffer: AsyncBuffer = {
      byteLength: size,
      slice: (start, end) => Runtime.runPromise(runtime)(lock.withPermits(1)(readRange(file, start, end ?? size)))
    }
    const decodeFailure = (e: unknown) =>
      Runtime.isFiberFailure(e)
        ? new DatasetError({ reason: "ReadFailed", path, description: String(e), cause: e })
        : new DatasetError({ reason: "InvalidFile", path, description: (e as Error)?.message ?? String(e), cause: e })
    const metadata = yield* Effect.tryPromise({
      try: () => hyparquet.parquetMetadataAsync(buffer),
      catch: decodeFailure
    })
    return { buffer, metadata, decodeFailure, hyparquet }
  })

export const readParquet = (
  fs: FileSystem.FileSystem,
  path: string,
  settings: Settings
): Stream.Stream<Raw, DatasetError> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const { buffer, decodeFailure, hyparquet, metadata } = yield* openParquet(fs, path)
    const available = hyparquet.parquetSchema(metadata).children.map((child) => child.element.name)
    const columns = wanted(settings)
    const missing = unknownColumns(columns, available)
    if (missing !== undefined) return yield* unknownColumn(path, missing, available)
    const groups: Array<readonly [number, number]> = []
    let start = 0
    for (const group of metadata.row_groups) {
      const rows = Number(group.num_rows)
      if (rows > 0) groups.push([start, start + rows])
      start += rows
    }
    const names = columns ?? available
    const readGroup = ([rowStart, rowEnd]: readonly [number, number]) =>
      Effect.tryPromise({
        try: async () => {
          const chunks = new Map<string, Array<ColumnData>>()
          await hyparquet.parquetRead({
            file: buffer,
            metadata,
            rowStart,
            rowEnd,
            ...(columns === undefined ? {} : { columns: [...columns] }),
            onChunk: (chunk) => {
              const list = chunks.get(chunk.columnName)
              if (list === undefined) chunks.set(chunk.columnName, [chunk])
              else list.push(chunk)
            }
          })
          return { rowStart, rowEnd, chunks }
        },
        catch: decodeFailure
      })
    // a row group is decoded column by column (compact arrays); its rows are built a slice at a time
    return Stream.fromIterable(groups).pipe(
      Stream.mapEffect(readGroup),
      Stream.flatMap(({ chunks, rowEnd, rowStart }) => {
        const slices: Array<readonly [number, number]> = []
        for (let at = rowStart; at < rowEnd; at += parquetSlice) slices.push([at, Math.min(rowEnd, at + parquetSlice)])
        return Stream.fromIterable(slices).pipe(
          Stream.rechunk(1),
          Stream.mapConcatChunk(([from, to]) => {
            const out: Array<Raw> = new Array(to - from)
            const readers = names.map((name) => columnReader(chunks.get(name) ?? []))
            for (let row = from; row < to; row++) {
              const data: Record<string, unknown> = {}
              for (let c = 0; c < names.length; c++) data[names[c]!] = normalize(readers[c]!(row))
              out[row - from] = { _tag: "Row", line: undefined, data }
            }
            return Chunk.unsafeFromArray(out)
          })
        )
      })
    )
  }))

export const parquetSlice = 4096

/** Reads a column's value at an absolute row from the column chunks of a row group. */
export const columnReader = (chunks: ReadonlyArray<ColumnData>) => (row: number): unknown => {
  for (const chunk of chunks) {
    if (row >= chunk.rowStart && row < chunk.rowEnd) return chunk.columnData[row - chunk.rowStart]
  }
  return null
}

export const readRange = (file: FileSystem.File, start: number, end: number) =>
  Effect.gen(function*() {
    const buffer = new Uint8Array(Math.max(0, end - start))
    yield* file.seek(start, "start")
    let at = 0
    while (at < buffer.length) {
      const n = Number(yield* file.read(buffer.subarray(at)))
      if (n === 0) break
      at += n
    }
    return buffer.buffer as ArrayBuffer
  })

/** Makes decoded values JSON-friendly: 64-bit integers become numbers (or strings when not exact), typed arrays arrays. */
export const normalize = (value: unknown): unknown => {
  if (typeof value === "bigint") {
    return value >= Number.MIN_SAFE_INTEGER && value <= Number.MAX_SAFE_INTEGER ? Number(value) : String(value)
  }
  if (typeof value !== "object" || value === null || value instanceof Date || value instanceof Uint8Array) return value
  if (Array.isArray(value)) return value.map(normalize)
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<unknown>, normalize)
  return normalizeRecord(value as Record<string, unknown>)
}

export const normalizeRecord = (record: Record<string, unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const key in record) out[key] = normalize(record[key])
  return out
}
