/**
 * CSV copies of a step's JSONL files (RFC 4180).
 *
 * @internal
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { fileName, ioError, join, parsedLines } from "./lines.js"

/**
 * One CSV field (RFC 4180): strings as they are, numbers and booleans as JSON writes them, `null` and missing
 * fields empty, objects and arrays as JSON text; quoted (with `""` for `"`) when it holds a quote, a comma or a
 * line break, or starts or ends with a space.
 *
 * @internal
 */
export const csvField = (value: unknown): string => {
  const text = value === null || value === undefined
    ? ""
    : typeof value === "string"
    ? value
    : typeof value === "object"
    ? JSON.stringify(value)
    : String(value)
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll("\"", "\"\"")}"` : text
}

const NEEDS_QUOTES = /["\r\n,]|^\s|\s$/

/** @internal */
export const csvRecord = (columns: ReadonlyArray<string>, record: Record<string, unknown>): string => {
  let line = ""
  for (let i = 0; i < columns.length; i++) line += (i === 0 ? "" : ",") + csvField(record[columns[i]!])
  return line + "\r\n"
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * Writes `NNN.csv` from `NNN.jsonl`: one pass collects the columns (the records' top-level fields, in the order
 * they first appear), one writes the header and the rows. Written to a temporary file, then renamed.
 *
 * @internal
 */
export const toCsv = (fs: FileSystem.FileSystem, dir: string, index: number) =>
  Effect.gen(function*() {
    const records = parsedLines(fs, join(dir, fileName(index)))
    const target = join(dir, fileName(index, "csv"))
    const temp = `${target}.tmp`
    const columns = new Set<string>()
    yield* Stream.runForEachChunk(records, (chunk) =>
      Effect.sync(() => {
        for (const record of chunk) {
          if (isRecord(record)) { for (const name of Object.keys(record)) columns.add(name) }
        }
      }))
    if (columns.size === 0) return
    const header = [...columns]
    const encoder = new TextEncoder()
    yield* Effect.scoped(Effect.gen(function*() {
      const file = yield* fs.open(temp, { flag: "w" }).pipe(Effect.mapError(ioError(temp)))
      yield* file.writeAll(encoder.encode(header.map(csvField).join(",") + "\r\n")).pipe(Effect.mapError(ioError(temp)))
      yield* Stream.runForEachChunk(records, (chunk) => {
        let text = ""
        for (const record of chunk) if (isRecord(record)) text += csvRecord(header, record)
        return text === "" ? Effect.void : file.writeAll(encoder.encode(text)).pipe(Effect.mapError(ioError(temp)))
      })
    }))
    yield* fs.rename(temp, target).pipe(Effect.mapError(ioError(target)))
  })
