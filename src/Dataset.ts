/**
 * Datasets in: a `Stream` of rows from a JSONL file, a JSON array, a CSV/TSV file, a Parquet file, an Arrow IPC
 * stream (`.arrow`, as `datasets.save_to_disk` writes it) or a local Hugging Face `datasets` folder, read in
 * constant memory with backpressure.
 *
 * - Every row gets an `id` (the value of the `key` column, or the row index) and its 0-based `index` in the
 *   dataset (malformed rows take an index too, so ids by index are stable when a bad line is fixed); JSONL and CSV
 *   rows also carry their 1-based `line`.
 * - A malformed JSONL line or CSV record is not fatal: it becomes a {@link Malformed} item in the stream, and the
 *   rows after it follow. With `strict: true` the stream fails with a {@link DatasetError} instead, after the rows
 *   before it. A JSON array that is not valid JSON always fails (the rest of it cannot be parsed).
 * - JSON arrays are parsed incrementally (`@streamparser/json`), CSV by `csv-parse`, Parquet one row group at a
 *   time (`hyparquet`), Arrow one record batch at a time (`apache-arrow`); both libraries load on first use.
 * - `columns` keeps only the named fields (Parquet and Arrow read only those columns); `limit` stops reading after
 *   that many items, closing the file.
 *
 * Needs the `FileSystem` service from `@effect/platform` (`NodeContext.layer` or `NodeFileSystem.layer`).
 *
 * @since 0.1.0
 */
import type { PlatformError } from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import { JSONParser } from "@streamparser/json"
import type * as Arrow from "apache-arrow"
import { parse as csvParse } from "csv-parse/stream"
import type * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { AsyncBuffer, ColumnData } from "hyparquet"
import { DatasetError } from "./DatasetError.js"

/**
 * The input formats: `jsonl` (one JSON object per line), `json` (a top-level array of objects), `csv`, `tsv`,
 * `parquet`, `arrow` (an Arrow IPC stream, e.g. a `data-00000-of-00001.arrow` written by `save_to_disk`) and
 * `huggingface` (a local `datasets` folder: `save_to_disk` output, or a Hub snapshot with parquet files).
 *
 * @example
 * ```ts
 * import type * as Dataset from "sluice/Dataset"
 *
 * const format: Dataset.Format = "parquet"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Format = "jsonl" | "json" | "csv" | "tsv" | "parquet" | "arrow" | "huggingface"

/**
 * How to read a dataset:
 *
 * - `format`: overrides the format told by the extension (a folder is `huggingface`; `.json` is sniffed: `[` starts
 *   an array, anything else is JSONL);
 * - `columns`: the fields to keep in `data` (an unknown one is an `UnknownColumn` error where the file has a
 *   header or a schema: CSV, Parquet, Arrow);
 * - `key`: the field holding each row's id (default: the row index); a row without it is {@link Malformed};
 * - `limit`: the number of items (rows and malformed rows) to read;
 * - `strict`: fail on the first malformed row instead of emitting a {@link Malformed} item;
 * - `split`: the split of a Hugging Face folder (default `train` when there is one, else all files);
 * - `delimiter`, `cast`: CSV options (`cast: true` turns numbers and booleans into numbers and booleans; by default
 *   every field is a string);
 * - `chunkSize`: bytes per read (default 128 KiB); `maxLineLength`: the longest JSONL line accepted, in characters
 *   (default 16 Mi), a longer one is malformed.
 *
 * @example
 * ```ts
 * import type * as Dataset from "sluice/Dataset"
 *
 * const options: Dataset.Options = { columns: ["title", "body"], key: "sku", limit: 1000 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly format?: Format | undefined
  readonly columns?: ReadonlyArray<string> | undefined
  readonly key?: string | undefined
  readonly limit?: number | undefined
  readonly strict?: boolean | undefined
  readonly split?: string | undefined
  readonly delimiter?: string | undefined
  readonly cast?: boolean | undefined
  readonly chunkSize?: number | undefined
  readonly maxLineLength?: number | undefined
}

/**
 * One row of a dataset: its `id` (from the key column, else the index as a string), its 0-based `index` in the
 * whole dataset, its 1-based `line` (JSONL: the line; CSV: the line where the record ends) and its fields.
 *
 * @example
 * ```ts
 * import * as Dataset from "sluice/Dataset"
 *
 * const row: Dataset.Row = { _tag: "Row", id: "7", index: 7, line: 8, data: { title: "Kettle" } }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const Row = Schema.TaggedStruct("Row", {
  id: Schema.String,
  index: Schema.Number,
  line: Schema.optional(Schema.Number),
  data: Schema.Record({ key: Schema.String, value: Schema.Unknown })
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Row extends Schema.Schema.Type<typeof Row> {}

/**
 * A row that could not be read: a JSONL line that is not a JSON object, a CSV record with the wrong number of
 * fields or a broken quote, a JSON array element that is not an object, or a row without its key. `file` and
 * `line` (when known) locate it, `raw` is its text (at most 64 KiB) and `message` says what is wrong.
 *
 * @example
 * ```ts
 * import * as Dataset from "sluice/Dataset"
 *
 * const bad: Dataset.Malformed = {
 *   _tag: "Malformed",
 *   index: 2,
 *   file: "items.jsonl",
 *   line: 3,
 *   raw: "{\"title\": ",
 *   message: "Unexpected end of JSON input"
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const Malformed = Schema.TaggedStruct("Malformed", {
  index: Schema.Number,
  file: Schema.String,
  line: Schema.optional(Schema.Number),
  raw: Schema.String,
  message: Schema.String
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Malformed extends Schema.Schema.Type<typeof Malformed> {}

/**
 * What a dataset stream emits: a {@link Row} or a {@link Malformed} row.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as Dataset from "sluice/Dataset"
 *
 * const encode = Schema.encodeSync(Dataset.Item) // to write malformed rows to an errors file
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const Item = Schema.Union(Row, Malformed)

/**
 * @since 0.1.0
 * @category models
 */
export type Item = Row | Malformed

/**
 * One file to read and its format, as {@link sources} resolves a path.
 *
 * @example
 * ```ts
 * import type * as Dataset from "sluice/Dataset"
 *
 * const source: Dataset.Source = { path: "squad/train/data-00000-of-00001.arrow", format: "arrow" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Source {
  readonly path: string
  readonly format: Exclude<Format, "huggingface">
}

/**
 * Tells whether an item is a {@link Row}.
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import * as Dataset from "sluice/Dataset"
 *
 * const rows = Dataset.stream("items.jsonl").pipe(Stream.filter(Dataset.isRow))
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isRow = (item: Item): item is Row => item._tag === "Row"

/**
 * Tells whether an item is a {@link Malformed} row.
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import * as Dataset from "sluice/Dataset"
 *
 * const bad = Dataset.stream("items.jsonl").pipe(Stream.filter(Dataset.isMalformed))
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isMalformed = (item: Item): item is Malformed => item._tag === "Malformed"

/**
 * Resolves a path into the files to read, in order, with their formats: a file is itself (its format from
 * `options.format` or its extension, `.json` sniffed); a folder is a Hugging Face `datasets` folder:
 *
 * - `dataset_dict.json` (a `DatasetDict` saved with `save_to_disk`): the `split` sub-folder (default `train`, else
 *   the first split);
 * - `state.json` (a `Dataset` saved with `save_to_disk`): its `.arrow` files, in order;
 * - otherwise the data files under it (`.parquet`, else `.arrow`, else `.jsonl`, else `.csv`), restricted to the
 *   split (a folder named after it, or files named `<split>-…`, `<split>_…`, `<split>.…`), by default `train` when
 *   there is one.
 *
 * Fails with `NotFound` when the path does not exist or holds no data file, `UnknownFormat` when the extension is
 * unknown.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Dataset from "sluice/Dataset"
 *
 * const files = Dataset.sources("hub/squad", { split: "validation" }) // [{ path: "hub/squad/data/validation-….parquet", format: "parquet" }]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const sources = (
  path: string,
  options?: Pick<Options, "format" | "split"> | undefined
): Effect.Effect<ReadonlyArray<Source>, DatasetError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const info = yield* fs.stat(path).pipe(Effect.mapError((e) => fromPlatformError(path, e)))
    const format = options?.format
    if (info.type === "Directory") {
      if (format !== undefined && format !== "huggingface") {
        return yield* new DatasetError({
          reason: "UnknownFormat",
          path,
          description: `a folder is read as a Hugging Face datasets folder, not as ${format}`
        })
      }
      return yield* resolveFolder(fs, path, options?.split)
    }
    if (format === "huggingface") {
      return yield* new DatasetError({
        reason: "UnknownFormat",
        path,
        description: "a Hugging Face datasets input must be a folder"
      })
    }
    return [{ path, format: format ?? (yield* formatOf(fs, path)) }]
  }).pipe(Effect.withSpan("Dataset.sources", { attributes: { path } }))

/**
 * Streams the items of a dataset (see the module description): rows, and malformed rows unless `strict` is set.
 * Files are opened when the stream starts and closed when it ends, fails or is interrupted.
 *
 * @example
 * ```ts
 * import { NodeContext } from "@effect/platform-node"
 * import { Effect, Stream } from "effect"
 * import * as Dataset from "sluice/Dataset"
 *
 * const program = Dataset.stream("data/products.csv", { columns: ["title"], key: "sku", limit: 100 }).pipe(
 *   Stream.runForEach((item) =>
 *     item._tag === "Row"
 *       ? Effect.log(item.id, item.data.title)
 *       : Effect.logWarning(`${item.file}:${item.line}: ${item.message}`)
 *   ),
 *   Effect.provide(NodeContext.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const stream = (
  path: string,
  options?: Options | undefined
): Stream.Stream<Item, DatasetError, FileSystem.FileSystem> =>
  Stream.unwrap(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const files = yield* sources(path, options)
    const settings = resolveOptions(options)
    if (settings.limit !== undefined && settings.limit <= 0) return Stream.empty
    const items = Stream.suspend(() => {
      const state: State = { index: 0 }
      return Stream.flatMap(
        Stream.fromIterable(files),
        (source) => Stream.pipeThroughChannel(read(fs, source, settings), itemize(source.path, state, settings))
      )
    })
    return settings.limit === undefined ? items : Stream.take(items, settings.limit)
  })).pipe(Stream.withSpan("Dataset.stream", { attributes: { path } }))

/**
 * Counts the items {@link stream} would emit with the same options (rows and malformed rows, at most `limit`),
 * cheaply where the format allows: Parquet from its metadata, Arrow from its batch lengths, JSONL by counting its
 * non-blank lines (without parsing them); JSON arrays and CSV are parsed. Useful for a progress total.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Dataset from "sluice/Dataset"
 *
 * const total = Dataset.count("data/products.parquet", { limit: 10_000 }) // Effect<number>
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const count = (
  path: string,
  options?: Options | undefined
): Effect.Effect<number, DatasetError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const files = yield* sources(path, options)
    const settings = resolveOptions(options)
    const limit = settings.limit ?? Infinity
    let total = 0
    for (const source of files) {
      if (total >= limit) break
      total += yield* countSource(fs, source, settings)
    }
    return Math.max(0, Math.min(total, limit))
  }).pipe(Effect.withSpan("Dataset.count", { attributes: { path } }))

// =============================================================================
// options and items
// =============================================================================

interface Settings {
  readonly columns: ReadonlyArray<string> | undefined
  readonly key: string | undefined
  readonly limit: number | undefined
  readonly strict: boolean
  readonly delimiter: string | undefined
  readonly cast: boolean
  readonly chunkSize: number
  readonly maxLineLength: number
}

const resolveOptions = (options: Options | undefined): Settings => ({
  columns: options?.columns,
  key: options?.key,
  limit: options?.limit,
  strict: options?.strict ?? false,
  delimiter: options?.delimiter,
  cast: options?.cast ?? false,
  chunkSize: options?.chunkSize ?? 128 * 1024,
  maxLineLength: options?.maxLineLength ?? 16 * 1024 * 1024
})

/** The columns a reader must produce: the selected ones and the key. */
const wanted = (settings: Settings): ReadonlyArray<string> | undefined =>
  settings.columns === undefined
    ? undefined
    : settings.key === undefined || settings.columns.includes(settings.key)
    ? settings.columns
    : [...settings.columns, settings.key]

interface RawRow {
  readonly _tag: "Row"
  readonly line: number | undefined
  readonly data: Record<string, unknown>
}

interface RawBad {
  readonly _tag: "Malformed"
  readonly line: number | undefined
  readonly raw: string
  readonly message: string
}

type Raw = RawRow | RawBad

interface State {
  index: number
}

const maxRaw = 64 * 1024

const clip = (text: string): string => text.length > maxRaw ? text.slice(0, maxRaw) : text

const bad = (line: number | undefined, raw: string, message: string): RawBad => ({
  _tag: "Malformed",
  line,
  raw: clip(raw),
  message
})

const rowOf = (raw: RawRow, index: number, settings: Settings): Row | string => {
  let id: string
  if (settings.key === undefined) {
    id = String(index)
  } else {
    const value = raw.data[settings.key]
    if (typeof value === "string") id = value
    else if (typeof value === "number" || typeof value === "bigint") id = String(value)
    else if (value === undefined || value === null) return `the row has no key "${settings.key}"`
    else return `the key "${settings.key}" is not a string or a number`
  }
  const data = settings.columns === undefined ? raw.data : pick(raw.data, settings.columns)
  return raw.line === undefined ? { _tag: "Row", id, index, data } : { _tag: "Row", id, index, line: raw.line, data }
}

const pick = (data: Record<string, unknown>, columns: ReadonlyArray<string>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const column of columns) {
    if (column in data) out[column] = data[column]
  }
  return out
}

const malformedOf = (file: string, index: number, line: number | undefined, raw: string, message: string) =>
  line === undefined
    ? { _tag: "Malformed" as const, index, file, raw, message }
    : { _tag: "Malformed" as const, index, file, line, raw, message }

type ItemChannel = Channel.Channel<Chunk.Chunk<Item>, Chunk.Chunk<Raw>, DatasetError, DatasetError, unknown, unknown>

const itemize = (file: string, state: State, settings: Settings): ItemChannel => {
  const loop: ItemChannel = Channel.readWithCause({
    onInput: (input: Chunk.Chunk<Raw>) => {
      const raws = Chunk.toReadonlyArray(input)
      const out: Array<Item> = []
      for (let i = 0; i < raws.length; i++) {
        const raw = raws[i]!
        const index = state.index++
        let item: Item
        if (raw._tag === "Row") {
          const row = rowOf(raw, index, settings)
          item = typeof row === "string" ? malformedOf(file, index, raw.line, clip(safeStringify(raw.data)), row) : row
        } else {
          item = malformedOf(file, index, raw.line, raw.raw, raw.message)
        }
        if (item._tag === "Malformed" && settings.strict) {
          const error = new DatasetError({
            reason: "Malformed",
            path: file,
            ...(item.line === undefined ? {} : { line: item.line }),
            raw: item.raw,
            description: item.message
          })
          return out.length === 0
            ? Channel.fail(error)
            : Channel.zipRight(Channel.write(Chunk.unsafeFromArray(out)), Channel.fail(error))
        }
        out.push(item)
      }
      return out.length === 0 ? loop : Channel.zipRight(Channel.write(Chunk.unsafeFromArray(out)), loop)
    },
    onFailure: (cause: Cause.Cause<DatasetError>) => Channel.failCause(cause),
    onDone: () => Channel.void
  })
  return loop
}

const safeStringify = (value: unknown): string => {
  const text = JSON.stringify(value, (_, v) => typeof v === "bigint" ? String(v) : v)
  return text ?? String(value)
}

// =============================================================================
// formats
// =============================================================================

const extensions: ReadonlyArray<readonly [string, Exclude<Format, "huggingface">]> = [
  [".jsonl", "jsonl"],
  [".ndjson", "jsonl"],
  [".json", "json"],
  [".csv", "csv"],
  [".tsv", "tsv"],
  [".parquet", "parquet"],
  [".arrow", "arrow"]
]

const extensionFormat = (path: string): Exclude<Format, "huggingface"> | undefined => {
  const lower = path.toLowerCase()
  for (const [extension, format] of extensions) {
    if (lower.endsWith(extension)) return format
  }
  return undefined
}

const formatOf = (
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

const LEFT_BRACKET = 0x5b

/** The first byte that is not whitespace or a UTF-8 byte-order mark, or -1. */
const firstSignificant = (bytes: Uint8Array): number => {
  let i = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0
  for (; i < bytes.length; i++) {
    const b = bytes[i]!
    if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return b
  }
  return -1
}

const fromPlatformError = (path: string, error: PlatformError): DatasetError =>
  error._tag === "SystemError" && error.reason === "NotFound"
    ? new DatasetError({ reason: "NotFound", path, description: "no such file or directory" })
    : new DatasetError({ reason: "ReadFailed", path, description: error.message, cause: error })

const read = (fs: FileSystem.FileSystem, source: Source, settings: Settings): Stream.Stream<Raw, DatasetError> => {
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

const bytesOf = (fs: FileSystem.FileSystem, path: string, settings: Settings) =>
  fs.stream(path, { chunkSize: settings.chunkSize }).pipe(Stream.mapError((e) => fromPlatformError(path, e)))

const countSource = (
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

/** Counts the lines holding something other than spaces, tabs and a carriage return, as the JSONL reader sees them. */
class LineCounter {
  private lines = 0
  private content = false
  private start = true

  feed(bytes: Uint8Array): void {
    let i = 0
    if (this.start && bytes.length > 0) {
      this.start = false
      if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3
    }
    for (; i < bytes.length; i++) {
      const b = bytes[i]!
      if (b === 0x0a) {
        if (this.content) this.lines++
        this.content = false
      } else if (!this.content && b !== 0x20 && b !== 0x09 && b !== 0x0d) {
        this.content = true
      }
    }
  }

  end(): number {
    return this.lines + (this.content ? 1 : 0)
  }
}

// -----------------------------------------------------------------------------
// JSONL and JSON arrays: synchronous incremental parsers over byte chunks
// -----------------------------------------------------------------------------

interface ByteParser {
  readonly feed: (bytes: Uint8Array, out: Array<Raw>) => void
  readonly end: (out: Array<Raw>) => void
  readonly error: DatasetError | undefined
}

type ByteChannel = Channel.Channel<
  Chunk.Chunk<Raw>,
  Chunk.Chunk<Uint8Array>,
  DatasetError,
  DatasetError,
  unknown,
  unknown
>

const parseBytes = (
  fs: FileSystem.FileSystem,
  path: string,
  settings: Settings,
  make: () => ByteParser
): Stream.Stream<Raw, DatasetError> =>
  Stream.suspend(() => Stream.pipeThroughChannel(bytesOf(fs, path, settings), byteChannel(make())))

const emitRaws = (out: Array<Raw>, next: ByteChannel): ByteChannel =>
  out.length === 0 ? next : Channel.zipRight(Channel.write(Chunk.unsafeFromArray(out)), next)

const byteChannel = (parser: ByteParser): ByteChannel => {
  const loop: ByteChannel = Channel.readWithCause({
    onInput: (input: Chunk.Chunk<Uint8Array>) => {
      const out: Array<Raw> = []
      for (const bytes of input) {
        parser.feed(bytes, out)
        if (parser.error !== undefined) break
      }
      return emitRaws(out, parser.error === undefined ? loop : Channel.fail(parser.error))
    },
    onFailure: (cause: Cause.Cause<DatasetError>) => Channel.failCause(cause),
    onDone: () => {
      const out: Array<Raw> = []
      parser.end(out)
      return emitRaws(out, parser.error === undefined ? Channel.void : Channel.fail(parser.error))
    }
  })
  return loop
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const kindOf = (value: unknown): string => value === null ? "null" : Array.isArray(value) ? "an array" : typeof value

class JsonlParser implements ByteParser {
  readonly error = undefined
  private readonly decoder = new TextDecoder("utf-8")
  private carry = ""
  private line = 0
  private skipping = false

  constructor(private readonly maxLineLength: number) {}

  feed(bytes: Uint8Array, out: Array<Raw>): void {
    this.push(this.decoder.decode(bytes, { stream: true }), out)
  }

  end(out: Array<Raw>): void {
    this.push(this.decoder.decode(), out)
    if (this.carry.length > 0 || this.skipping) this.handle(this.carry, out)
    this.carry = ""
  }

  private push(text: string, out: Array<Raw>): void {
    let nl = text.indexOf("\n")
    if (nl === -1) {
      this.append(text, out)
      return
    }
    this.handle(this.skipping ? "" : this.carry + text.slice(0, nl), out)
    let start = nl + 1
    while ((nl = text.indexOf("\n", start)) !== -1) {
      this.handle(text.slice(start, nl), out)
      start = nl + 1
    }
    this.carry = ""
    this.append(text.slice(start), out)
  }

  private append(text: string, out: Array<Raw>): void {
    if (this.skipping) return
    this.carry = this.carry.length === 0 ? text : this.carry + text
    if (this.carry.length > this.maxLineLength) {
      out.push(
        bad(this.line + 1, this.carry.slice(0, 1024), `the line is longer than ${this.maxLineLength} characters`)
      )
      this.carry = ""
      this.skipping = true
    }
  }

  private handle(text: string, out: Array<Raw>): void {
    this.line++
    if (this.skipping) {
      this.skipping = false
      return
    }
    const line = text.charCodeAt(text.length - 1) === 13 ? text.slice(0, -1) : text
    if (isBlank(line)) return
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch (e) {
      out.push(bad(this.line, line, (e as Error).message))
      return
    }
    if (isRecord(value)) out.push({ _tag: "Row", line: this.line, data: value })
    else out.push(bad(this.line, line, `expected a JSON object, got ${kindOf(value)}`))
  }
}

const isBlank = (text: string): boolean => {
  if (text.length === 0) return true
  const c = text.charCodeAt(0)
  return (c === 32 || c === 9) && text.trim().length === 0
}

class JsonArrayParser implements ByteParser {
  error: DatasetError | undefined = undefined
  private readonly parser = new JSONParser({ paths: ["$.*"], keepStack: false })
  private started = false
  private pending: Array<Raw> = []

  constructor(private readonly path: string) {
    this.parser.onValue = ({ value }) => {
      this.pending.push(
        isRecord(value)
          ? { _tag: "Row", line: undefined, data: value }
          : bad(undefined, safeStringify(value), `expected a JSON object, got ${kindOf(value)}`)
      )
    }
    this.parser.onError = (e) => {
      this.fail(e.message)
    }
  }

  private fail(description: string): void {
    if (this.error === undefined) this.error = new DatasetError({ reason: "Malformed", path: this.path, description })
  }

  feed(bytes: Uint8Array, out: Array<Raw>): void {
    if (!this.started) {
      const first = firstSignificant(bytes)
      if (first === -1) return
      this.started = true
      if (first !== LEFT_BRACKET) {
        this.fail("a JSON dataset must be an array of objects; use JSONL for one object per line")
        return
      }
    }
    this.parser.write(bytes)
    this.drain(out)
  }

  end(out: Array<Raw>): void {
    if (!this.started) return
    if (this.error === undefined && !this.parser.isEnded) this.parser.end()
    this.drain(out)
  }

  private drain(out: Array<Raw>): void {
    for (const raw of this.pending) out.push(raw)
    this.pending = []
  }
}

// -----------------------------------------------------------------------------
// CSV
// -----------------------------------------------------------------------------

interface CsvRecord {
  readonly record: Record<string, unknown>
  readonly info: { readonly lines: number }
}

interface Skip {
  readonly line: number | undefined
  readonly raw: string
  readonly message: string
}

const readCsv = (fs: FileSystem.FileSystem, source: Source, settings: Settings): Stream.Stream<Raw, DatasetError> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const bytes = yield* scopedReadable(bytesOf(fs, source.path, settings))
    const skips: Array<Skip> = []
    let header: ReadonlyArray<string> | undefined
    const parser = csvParse({
      columns: (names: Array<string>) => {
        header = names
        return names
      },
      delimiter: settings.delimiter ?? (source.format === "tsv" ? "\t" : ","),
      cast: settings.cast ? castField : false,
      info: true,
      raw: true,
      bom: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
      on_skip: (error, raw) => {
        const text = raw ?? ""
        skips.push({
          line: typeof error?.lines === "number" ? error.lines : undefined,
          raw: text.endsWith("\r\n") ? text.slice(0, -2) : text.endsWith("\n") ? text.slice(0, -1) : text,
          message: error?.message ?? "malformed CSV record"
        })
        return undefined
      }
    })
    const flush = (before: number): Array<Raw> => {
      const out: Array<Raw> = []
      while (skips.length > 0 && (skips[0]!.line ?? 0) < before) {
        const skip = skips.shift()!
        out.push(bad(skip.line, skip.raw, skip.message))
      }
      return out
    }
    let checked = false
    const records = Stream.fromReadableStream<CsvRecord, DatasetError>({
      evaluate: () => bytes.pipeThrough(parser),
      onError: (e) =>
        Predicate.isTagged(e, "DatasetError")
          ? (e as DatasetError)
          : new DatasetError({ reason: "Malformed", path: source.path, description: String(e), cause: e })
    }).pipe(
      Stream.mapEffect((record) => {
        if (!checked) {
          checked = true
          const missing = unknownColumns(wanted(settings), header ?? [])
          if (missing !== undefined) return Effect.fail(unknownColumn(source.path, missing, header ?? []))
        }
        const out = flush(record.info.lines)
        out.push({ _tag: "Row", line: record.info.lines, data: record.record })
        return Effect.succeed(out)
      }),
      Stream.mapConcat((out) => out)
    )
    return Stream.concat(records, Stream.suspend(() => Stream.fromIterable(flush(Infinity))))
  }))

const NUMBER = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/

/** `cast: true` for CSV: numbers and booleans (`true`, `false`) become numbers and booleans, headers stay text. */
const castField = (value: string, context: { readonly header: boolean }): unknown =>
  context.header
    ? value
    : value === "true"
    ? true
    : value === "false"
    ? false
    : NUMBER.test(value)
    ? Number(value)
    : value

/**
 * A `ReadableStream` pulling from a stream whose resources (the file) belong to the current scope, so they are
 * released when the scope closes, not when the web stream gets around to cancelling its source.
 */
const scopedReadable = <A, E>(stream: Stream.Stream<A, E>) =>
  Effect.gen(function*() {
    const pull = yield* Stream.toPull(stream)
    const runtime = yield* Effect.runtime<never>()
    return new ReadableStream<A>({
      pull: (controller) =>
        Runtime.runPromise(runtime)(pull.pipe(
          Effect.match({
            onFailure: Option.match({
              onNone: () => controller.close(),
              onSome: (error) => controller.error(error)
            }),
            onSuccess: (chunk) => {
              for (const item of chunk) controller.enqueue(item)
            }
          })
        ))
    }, { highWaterMark: 0 })
  })

const unknownColumns = (
  columns: ReadonlyArray<string> | undefined,
  available: ReadonlyArray<string>
): string | undefined => columns?.find((column) => !available.includes(column))

const unknownColumn = (path: string, column: string, available: ReadonlyArray<string>) =>
  new DatasetError({
    reason: "UnknownColumn",
    path,
    description: `no column "${column}" (columns: ${available.join(", ")})`
  })

// -----------------------------------------------------------------------------
// Parquet
// -----------------------------------------------------------------------------

const openParquet = (fs: FileSystem.FileSystem, path: string) =>
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

const readParquet = (fs: FileSystem.FileSystem, path: string, settings: Settings): Stream.Stream<Raw, DatasetError> =>
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

const parquetSlice = 4096

/** Reads a column's value at an absolute row from the column chunks of a row group. */
const columnReader = (chunks: ReadonlyArray<ColumnData>) => (row: number): unknown => {
  for (const chunk of chunks) {
    if (row >= chunk.rowStart && row < chunk.rowEnd) return chunk.columnData[row - chunk.rowStart]
  }
  return null
}

const readRange = (file: FileSystem.File, start: number, end: number) =>
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
const normalize = (value: unknown): unknown => {
  if (typeof value === "bigint") {
    return value >= Number.MIN_SAFE_INTEGER && value <= Number.MAX_SAFE_INTEGER ? Number(value) : String(value)
  }
  if (typeof value !== "object" || value === null || value instanceof Date || value instanceof Uint8Array) return value
  if (Array.isArray(value)) return value.map(normalize)
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<unknown>, normalize)
  return normalizeRecord(value as Record<string, unknown>)
}

const normalizeRecord = (record: Record<string, unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const key in record) out[key] = normalize(record[key])
  return out
}

// -----------------------------------------------------------------------------
// Arrow IPC streams
// -----------------------------------------------------------------------------

type ArrowModule = typeof Arrow

/** Opens an Arrow IPC stream: its reader (record batches, read on demand) and the columns to read. */
const readArrowBatches = (fs: FileSystem.FileSystem, path: string, settings: Settings) =>
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

const readArrow = (fs: FileSystem.FileSystem, path: string, settings: Settings): Stream.Stream<Raw, DatasetError> =>
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

const isDatasetErrorLike = (e: unknown): e is DatasetError => e instanceof DatasetError

const arrowValue = (arrow: ArrowModule, value: unknown): unknown => {
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

// -----------------------------------------------------------------------------
// Hugging Face folders
// -----------------------------------------------------------------------------

const join = (dir: string, name: string): string => dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`

const DatasetDict = Schema.parseJson(Schema.Struct({ splits: Schema.Array(Schema.String) }))
const DatasetState = Schema.parseJson(
  Schema.Struct({ _data_files: Schema.Array(Schema.Struct({ filename: Schema.String })) })
)

const readJsonFile = <A, I>(
  fs: FileSystem.FileSystem,
  path: string,
  schema: Schema.Schema<A, I>
): Effect.Effect<A, DatasetError> =>
  fs.readFileString(path).pipe(
    Effect.mapError((e) => fromPlatformError(path, e)),
    Effect.flatMap((text) =>
      Schema.decodeUnknown(schema as Schema.Schema<A, unknown>)(text).pipe(
        Effect.mapError((e) => new DatasetError({ reason: "InvalidFile", path, description: e.message }))
      )
    )
  )

const dataExtensions: ReadonlyArray<ReadonlyArray<string>> = [
  [".parquet"],
  [".arrow"],
  [".jsonl", ".ndjson"],
  [".csv", ".tsv"]
]

const resolveFolder = (
  fs: FileSystem.FileSystem,
  dir: string,
  split: string | undefined
): Effect.Effect<ReadonlyArray<Source>, DatasetError> =>
  Effect.gen(function*() {
    const exists = (path: string) => fs.exists(path).pipe(Effect.mapError((e) => fromPlatformError(path, e)))
    const dictPath = join(dir, "dataset_dict.json")
    if (yield* exists(dictPath)) {
      const { splits } = yield* readJsonFile(fs, dictPath, DatasetDict)
      const chosen = split ?? (splits.includes("train") ? "train" : splits[0])
      if (chosen === undefined || !splits.includes(chosen)) {
        return yield* new DatasetError({
          reason: "NotFound",
          path: dir,
          description: `no split "${chosen ?? ""}" (splits: ${splits.join(", ")})`
        })
      }
      return yield* resolveFolder(fs, join(dir, chosen), undefined)
    }
    const statePath = join(dir, "state.json")
    if (yield* exists(statePath)) {
      const state = yield* readJsonFile(fs, statePath, DatasetState)
      return state._data_files.map((file) => ({ path: join(dir, file.filename), format: "arrow" as const }))
    }
    const entries = yield* fs.readDirectory(dir, { recursive: true }).pipe(
      Effect.mapError((e) => fromPlatformError(dir, e))
    )
    const visible = entries.filter((entry) => !entry.split("/").some((part) => part.startsWith(".")))
    for (const group of dataExtensions) {
      const files = visible.filter((entry) => group.some((ext) => entry.toLowerCase().endsWith(ext))).sort(natural)
      if (files.length === 0) continue
      const inSplit = (name: string) => files.filter((file) => belongsTo(file, name))
      const chosen = split !== undefined ? inSplit(split) : inSplit("train").length > 0 ? inSplit("train") : files
      if (chosen.length === 0) {
        return yield* new DatasetError({
          reason: "NotFound",
          path: dir,
          description: `no ${group[0]} file for split "${split}" (files: ${files.slice(0, 10).join(", ")})`
        })
      }
      return chosen.map((file) => ({ path: join(dir, file), format: extensionFormat(file)! }))
    }
    return yield* new DatasetError({
      reason: "NotFound",
      path: dir,
      description: "no data file (.parquet, .arrow, .jsonl, .csv) in the folder"
    })
  })

const belongsTo = (file: string, split: string): boolean => {
  const parts = file.split("/")
  const base = parts[parts.length - 1]!
  if (parts.slice(0, -1).includes(split)) return true
  if (!base.startsWith(split)) return false
  const next = base.charAt(split.length)
  return next === "-" || next === "_" || next === "."
}

const natural = (a: string, b: string): number => a.localeCompare(b, "en", { numeric: true })
