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
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { DatasetError } from "./DatasetError.js"
import { countSource, formatOf, read } from "./internal/dataset/formats.js"
import { resolveFolder } from "./internal/dataset/huggingface.js"
import { fromPlatformError, itemize, resolveOptions, type State } from "./internal/dataset/items.js"

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
