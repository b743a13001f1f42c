/**
 * Which reader reads a file, and counting without parsing.
 *
 * @internal
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { Format, Source } from "../../Dataset.js"
import { DatasetError } from "../../DatasetError.js"
import { readArrow, readArrowBatches } from "./arrow.js"
import { readCsv } from "./csv.js"
import { bytesOf, firstSignificant, fromPlatformError, LEFT_BRACKET, type Raw, type Settings } from "./items.js"
import { JsonArrayParser, JsonlParser, LineCounter, parseBytes } from "./jsonl.js"
import { openParquet, readParquet } from "./parquet.js"

export const extensions: ReadonlyArray<readonly [string, Exclude<Format, "huggingface">]> = [
  [".jsonl", "jsonl"],
  [".ndjson", "jsonl"],
  [".json", "json"],
  [".csv", "csv"],
  [".tsv", "tsv"],
  [".parquet", "parquet"],
  [".arrow", "arrow"]
]

export const extensionFormat = (path: string): Exclude<Format, "huggingface"> | undefined => {
  const lower = path.toLowerCase()
  for (const [extension, format] of extensions) {
    if (lower.endsWith(extension)) return format
  }
  return undefined
}

export const formatOf = (
  fs: FileSystem.FileSystem,
  path: string
): Effect.Effect<Exclude<Format, "huggingface">, DatasetError> => {
  const format = extensionFormat(path)
  if (format === undefined) {
    return Effect.fail(
      new DatasetError({
        reason: "UnknownFormat",
        path,
        description: `cannot tell the format from the extension (known: ${
          extensions.map(([e]) => e).join(", ")
        }); pass a format`
      })
    )
  }
  if (format !== "json") return Effect.succeed(format)
  return Effect.scoped(Effect.gen(function*() {
    const file = yield* fs.open(path)
    const head = yield* file.readAlloc(4096)
    return firstSignificant(Option.getOrElse(head, () => new Uint8Array(0))) === LEFT_BRACKET ? "json" : "jsonl"
  })).pipe(Effect.mapError((e) => fromPlatformError(path, e)))
}

export const read = (
  fs: FileSystem.FileSystem,
  source: Source,
  settings: Settings
): Stream.Stream<Raw, DatasetError> => {
  switch (source.format) {
    case "jsonl":
      return parseBytes(fs, source.path, settings, () => new JsonlParser(settings.maxLineLength))
    case "json":
      return parseBytes(fs, source.path, settings, () => new JsonArrayParser(source.path))
    case "csv":
    case "tsv":
      return readCsv(fs, source, settings)
    case "parquet":
      return readParquet(fs, source.path, settings)
    case "arrow":
      return readArrow(fs, source.path, settings)
  }
}

export const countSource = (
  fs: FileSystem.FileSystem,
  source: Source,
  settings: Settings
): Effect.Effect<number, DatasetError> => {
  switch (source.format) {
    case "jsonl":
      return Stream.runFold(bytesOf(fs, source.path, settings), new LineCounter(), (counter, bytes) => {
        counter.feed(bytes)
        return counter
      }).pipe(Effect.map((counter) => counter.end()))
    case "parquet":
      return Effect.scoped(Effect.gen(function*() {
        const { metadata } = yield* openParquet(fs, source.path)
        return Number(metadata.num_rows)
      }))
    case "arrow":
      return readArrowBatches(fs, source.path, settings).pipe(
        Effect.map(({ batches }) => batches),
        Stream.unwrapScoped,
        Stream.runFold(0, (n, batch) => n + batch.numRows)
      )
    default:
      return Stream.runCount(read(fs, source, settings))
  }
}
