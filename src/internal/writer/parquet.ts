/**
 * Parquet copies of a step's JSONL files.
 *
 * @internal
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { SchemaElement } from "hyparquet"
import type { Writer as ByteSink } from "hyparquet-writer"
import { WriterError } from "../../WriterError.js"
import { fileName, ioError, join, parsedLines } from "./lines.js"

type Kind = "null" | "boolean" | "int32" | "int64" | "double" | "string" | "json"

const kindOf = (value: unknown): Kind => {
  switch (typeof value) {
    case "boolean":
      return "boolean"
    case "string":
      return "string"
    case "number":
      return Number.isInteger(value)
        ? (value >= -2147483648 && value <= 2147483647 ? "int32" : Number.isSafeInteger(value) ? "int64" : "double")
        : "double"
    default:
      return value === null || value === undefined ? "null" : "json"
  }
}

const numeric: ReadonlyArray<Kind> = ["int32", "int64", "double"]

const merge = (a: Kind, b: Kind): Kind => {
  if (a === b || b === "null") return a
  if (a === "null") return b
  if (numeric.includes(a) && numeric.includes(b)) return numeric[Math.max(numeric.indexOf(a), numeric.indexOf(b))]!
  return "json"
}

const basicType = {
  null: "STRING",
  boolean: "BOOLEAN",
  int32: "INT32",
  int64: "INT64",
  double: "DOUBLE",
  string: "STRING",
  json: "JSON"
} as const

const columnValue = (kind: Kind, value: unknown): unknown =>
  value === undefined || value === null ? null : kind === "int64" ? BigInt(value as number) : value

/** Writes `NNN.parquet` from `NNN.jsonl`: one pass to type the columns, one to write row groups. */
/** @internal */
export const toParquet = (
  fs: FileSystem.FileSystem,
  dir: string,
  index: number,
  rowGroupSize: number
): Effect.Effect<void, WriterError> =>
  Effect.gen(function*() {
    const source = join(dir, fileName(index))
    const target = join(dir, fileName(index, "parquet"))
    const temp = `${target}.tmp`
    const records = parsedLines(fs, source)
    const kinds = new Map<string, Kind>()
    yield* Stream.runForEachChunk(records, (chunk) =>
      Effect.sync(() => {
        for (const record of chunk) {
          if (typeof record !== "object" || record === null) continue
          for (const [name, value] of Object.entries(record)) {
            kinds.set(name, merge(kinds.get(name) ?? "null", kindOf(value)))
          }
        }
      }))
    if (kinds.size === 0) return
    const { ByteWriter, ParquetWriter, schemaFromColumnData } = yield* Effect.promise(() => import("hyparquet-writer"))
    const columns = [...kinds]
    const parquetError = (e: unknown) =>
      new WriterError({ reason: "Parquet", path: target, description: e instanceof Error ? e.message : String(e) })
    const schema: Array<SchemaElement> = schemaFromColumnData({
      columnData: columns.map(([name, kind]) => ({ name, data: [], type: basicType[kind], nullable: true }))
    })
    const writer: ByteSink & { index: number } = new ByteWriter()
    const chunks: Array<Uint8Array> = []
    writer.flush = () => {
      chunks.push(new Uint8Array(writer.buffer.slice(0, writer.index)))
      writer.index = 0
    }
    writer.finish = writer.flush
    const parquet = yield* Effect.try({ try: () => new ParquetWriter({ writer, schema }), catch: parquetError })
    yield* Effect.scoped(Effect.gen(function*() {
      const file = yield* fs.open(temp, { flag: "w" }).pipe(Effect.mapError(ioError(temp)))
      const drain = Effect.suspend(() => {
        const pending = chunks.splice(0, chunks.length)
        return Effect.forEach(pending, (bytes) => file.writeAll(bytes), { discard: true })
      }).pipe(Effect.mapError(ioError(temp)))
      const flushGroup = (group: ReadonlyArray<unknown>) =>
        Effect.try({
          try: () =>
            parquet.write({
              columnData: columns.map(([name, kind]) => ({
                name,
                data: group.map((record) => columnValue(kind, (record as Record<string, unknown>)[name]))
              })),
              rowGroupSize: group.length
            }),
          catch: parquetError
        }).pipe(Effect.zipRight(drain))
      let group: Array<unknown> = []
      yield* Stream.runForEachChunk(records, (chunk) =>
        Effect.suspend(() => {
          const full: Array<ReadonlyArray<unknown>> = []
          for (const record of chunk) {
            if (typeof record !== "object" || record === null) continue
            group.push(record)
            if (group.length === rowGroupSize) {
              full.push(group)
              group = []
            }
          }
          return Effect.forEach(full, flushGroup, { discard: true })
        }))
      if (group.length > 0) yield* flushGroup(group)
      yield* Effect.try({ try: () => parquet.finish(), catch: parquetError })
      yield* drain
    }))
    yield* fs.rename(temp, target).pipe(Effect.mapError(ioError(target)))
  })
