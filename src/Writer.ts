/**
 * Outputs out: rolling JSONL files per step, optional Parquet copies, a scanner of what is already written (for
 * resume) and an atomic JSON file writer (for `graph.json`, `metrics.json`).
 *
 * - A step writes `<dir>/<step>/000.jsonl`, `001.jsonl`, …: a file is rolled when the next record would take it past
 *   `maxRows` records or `maxBytes` bytes (a single record larger than `maxBytes` gets a file of its own).
 * - Records are written whole: a batch is encoded first (a record that is not JSON fails the batch before anything
 *   is written), then written with one uninterruptible `write` of complete lines per file. A crash can only tear
 *   the last line of the last file: {@link make} truncates such a line when it reopens the step, and {@link scan}
 *   ignores it.
 * - Reopening a step resumes: new records are appended to the last file while it is under its limits.
 * - With `parquet`, each JSONL file gets a `NNN.parquet` copy when it is complete (rolled or sealed): columns are
 *   the records' top-level fields, typed from their values (booleans, 32/64-bit integers, doubles, strings; objects,
 *   arrays and mixed columns as JSON), rows batched into row groups. The copy is written to a temporary file and
 *   renamed, and a reopened step writes the copies a crash left missing. JSONL stays the source of truth.
 * - With `csv`, each complete JSONL file gets a `NNN.csv` copy the same way (RFC 4180: a header row of the records'
 *   top-level fields in the order they first appear, CRLF line ends, fields quoted when they hold a quote, a comma
 *   or a line break; `null` and missing fields empty, objects and arrays as JSON text). `Dataset.stream` reads it
 *   back (with `cast: true` for numbers and booleans).
 * - Files are scoped: they are closed when the writer's scope closes, whether the run succeeded, failed or was
 *   interrupted.
 *
 * Needs the `FileSystem` service from `@effect/platform`.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import type * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import * as lines from "./internal/writer/lines.js"
import * as step from "./internal/writer/step.js"
import { WriterError } from "./WriterError.js"

/**
 * Where and how to write one step's records:
 *
 * - `dir`, `step`: files go to `<dir>/<step>/`;
 * - `maxRows` (default 100,000) and `maxBytes` (default 64 MiB): the limits at which a file is rolled;
 * - `parquet`: also write a `NNN.parquet` copy of each complete file (`rowGroupSize` rows per row group, default
 *   10,000);
 * - `csv`: also write a `NNN.csv` copy of each complete file;
 * - `fsync`: flush every batch to the disk (`fsync`) before `write` returns: survives a power cut, not only a
 *   crashed process, at a cost per batch;
 * - `key`: the id field of the records, for {@link scan} (default `"id"`).
 *
 * @example
 * ```ts
 * import type * as Writer from "sluice/Writer"
 *
 * const options: Writer.Options = { dir: "out", step: "summarize", maxRows: 10_000, parquet: true, csv: true }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly dir: string
  readonly step: string
  readonly maxRows?: number | undefined
  readonly maxBytes?: number | undefined
  readonly parquet?: boolean | { readonly rowGroupSize?: number | undefined } | undefined
  readonly csv?: boolean | undefined
  readonly fsync?: boolean | undefined
}

/**
 * What a writer has done: the index of the file it writes to (or will open next), the records in that file, and
 * the records and files written through this writer.
 *
 * @example
 * ```ts
 * import type * as Writer from "sluice/Writer"
 *
 * const stats: Writer.Stats = { file: 2, fileRows: 150, rows: 20_150, files: 3 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly file: number
  readonly fileRows: number
  readonly rows: number
  readonly files: number
}

/**
 * A rolling writer for one step (see the module description):
 *
 * - `write(records)`: writes a batch, whole;
 * - `seal`: completes the current file (closes it, writes its Parquet copy); the next `write` opens a new file.
 *   Call it when the step is done, so that its last file gets its Parquet copy now rather than when the step is
 *   reopened;
 * - `stats`: see {@link Stats};
 * - `path`: the step's folder.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Writer from "sluice/Writer"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const writer = yield* Writer.make({ dir: "out", step: "summarize" })
 *   yield* writer.write([{ id: "1", summary: "…" }, { id: "2", summary: "…" }])
 *   yield* writer.seal
 * }))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Writer {
  readonly path: string
  readonly write: (records: Iterable<unknown>) => Effect.Effect<void, WriterError>
  readonly seal: Effect.Effect<void, WriterError>
  readonly stats: Effect.Effect<Stats>
}

/**
 * The name of the `index`-th file of a step: `000.jsonl`, `001.jsonl`, … (`1000.jsonl` after `999.jsonl`), or of
 * its Parquet or CSV copy.
 *
 * @example
 * ```ts
 * import * as Writer from "sluice/Writer"
 *
 * Writer.fileName(12) // "012.jsonl"
 * Writer.fileName(12, "csv") // "012.csv"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fileName: (index: number, extension?: "jsonl" | "parquet" | "csv") => string = lines.fileName

/**
 * Opens a step for writing in the writer's scope, resuming what is there: a torn last line is truncated, new
 * records go to the last file while it is under its limits, and missing Parquet and CSV copies are written.
 *
 * @example
 * ```ts
 * import { NodeContext } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import * as Writer from "sluice/Writer"
 *
 * const program = Effect.gen(function*() {
 *   const writer = yield* Writer.make({ dir: "out", step: "translate", maxRows: 1000 })
 *   yield* writer.write([{ id: "a", fr: "bonjour" }])
 * }).pipe(Effect.scoped, Effect.provide(NodeContext.layer))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<Writer, WriterError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const scope = yield* Effect.scope
    const settings = step.resolveOptions(options)
    const dir = lines.join(options.dir, options.step)
    yield* fs.makeDirectory(dir, { recursive: true }).pipe(Effect.mapError(lines.ioError(dir)))
    const writer = new step.StepWriter(fs, scope, dir, settings, yield* step.recover(fs, dir, settings))
    const lock = yield* Effect.makeSemaphore(1)
    return {
      path: dir,
      write: (records: Iterable<unknown>) => lock.withPermits(1)(writer.write(records)),
      seal: lock.withPermits(1)(writer.seal),
      stats: Effect.sync(() => writer.stats())
    }
  }).pipe(Effect.withSpan("Writer.make", { attributes: { dir: options.dir, step: options.step } }))

/**
 * A sink that writes every chunk it receives as one batch, and seals the step when the stream ends.
 *
 * @example
 * ```ts
 * import { NodeContext } from "@effect/platform-node"
 * import { Effect, Stream } from "effect"
 * import * as Writer from "sluice/Writer"
 *
 * const program = Stream.range(1, 100_000).pipe(
 *   Stream.map((n) => ({ id: String(n), square: n * n })),
 *   Stream.run(Writer.sink({ dir: "out", step: "squares", maxRows: 10_000 })),
 *   Effect.provide(NodeContext.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const sink = (options: Options): Sink.Sink<void, unknown, never, WriterError, FileSystem.FileSystem> =>
  Sink.unwrapScoped(
    Effect.map(
      make(options),
      (writer) =>
        Sink.forEachChunk((chunk: Chunk.Chunk<unknown>) => writer.write(chunk)).pipe(
          Sink.mapEffect(() => writer.seal)
        )
    )
  )

/**
 * The JSONL files of a step, in order (an empty list when the step has none).
 *
 * @example
 * ```ts
 * import * as Writer from "sluice/Writer"
 *
 * const files = Writer.files({ dir: "out", step: "summarize" }) // ["out/summarize/000.jsonl", …]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const files = (
  options: Pick<Options, "dir" | "step">
): Effect.Effect<ReadonlyArray<string>, WriterError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = lines.join(options.dir, options.step)
    const indexes = yield* lines.listIndexes(fs, dir)
    return indexes.map((index) => lines.join(dir, fileName(index)))
  })

/**
 * Streams the records already written for a step, file by file, in order: one file is read at a time in chunks,
 * so memory stays constant. A torn last line (a crash mid-write) is skipped; any other line that is not JSON fails
 * with `Corrupt`.
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import * as Writer from "sluice/Writer"
 *
 * const summaries = Writer.read({ dir: "out", step: "summarize" }).pipe(Stream.take(10))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const read = (
  options: Pick<Options, "dir" | "step">
): Stream.Stream<unknown, WriterError, FileSystem.FileSystem> =>
  Stream.unwrap(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const paths = yield* files(options)
    return Stream.flatMap(Stream.fromIterable(paths), (path) => lines.parsedLines(fs, path))
  }))

/**
 * Streams the ids of the records already written for a step (the `key` field, default `"id"`; records without
 * one are skipped), for resume: see {@link read} for how files are read.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import * as Writer from "sluice/Writer"
 *
 * const done = Writer.scan({ dir: "out", step: "summarize" }).pipe(
 *   Stream.runFold(new Set<string>(), (set, id) => set.add(id))
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const scan = (
  options: Pick<Options, "dir" | "step"> & { readonly key?: string | undefined }
): Stream.Stream<string, WriterError, FileSystem.FileSystem> => {
  const key = options.key ?? "id"
  return read(options).pipe(
    Stream.mapChunks((records) =>
      Chunk.filterMap(records, (record) => {
        if (typeof record !== "object" || record === null) return Option.none()
        const id = (record as Record<string, unknown>)[key]
        return typeof id === "string"
          ? Option.some(id)
          : typeof id === "number"
          ? Option.some(String(id))
          : Option.none()
      })
    )
  )
}

/**
 * The set of ids already written for a step (see {@link scan}).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Writer from "sluice/Writer"
 *
 * const program = Effect.gen(function*() {
 *   const done = yield* Writer.completedIds({ dir: "out", step: "summarize" })
 *   return done.has("42")
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const completedIds = (
  options: Pick<Options, "dir" | "step"> & { readonly key?: string | undefined }
): Effect.Effect<ReadonlySet<string>, WriterError, FileSystem.FileSystem> =>
  Effect.suspend(() => {
    const ids = new Set<string>()
    return scan(options).pipe(
      Stream.runForEachChunk((chunk) =>
        Effect.sync(() => {
          for (const id of chunk) ids.add(id)
        })
      ),
      Effect.as(ids)
    )
  })

/**
 * Writes a value as a JSON file atomically: to a temporary file next to it, flushed to the disk, then renamed over
 * the target, so a reader sees the old file or the new one, never half of one. Fails with `Encode` when the value
 * is not JSON.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Writer from "sluice/Writer"
 *
 * const program = Writer.writeJsonAtomic("out/metrics.json", { rows: 1000, errors: 2 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const writeJsonAtomic = (
  path: string,
  value: unknown,
  options?: { readonly space?: number | undefined } | undefined
): Effect.Effect<void, WriterError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = lines.stringify(value, options?.space ?? 2)
    if (typeof text !== "string") {
      return yield* new WriterError({ reason: "Encode", path, description: text.message })
    }
    const temp = `${path}.${(yield* Random.nextIntBetween(0, 2 ** 31)).toString(36)}.tmp`
    const bytes = new TextEncoder().encode(`${text}\n`)
    yield* Effect.scoped(Effect.gen(function*() {
      const file = yield* fs.open(temp, { flag: "w" })
      yield* file.writeAll(bytes)
      yield* file.sync
    })).pipe(
      Effect.zipRight(fs.rename(temp, path)),
      Effect.tapError(() => fs.remove(temp).pipe(Effect.ignore)),
      Effect.mapError(lines.ioError(path))
    )
  }).pipe(Effect.withSpan("Writer.writeJsonAtomic", { attributes: { path } }))
