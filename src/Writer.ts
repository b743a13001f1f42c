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
 * - Files are scoped: they are closed when the writer's scope closes, whether the run succeeded, failed or was
 *   interrupted.
 *
 * Needs the `FileSystem` service from `@effect/platform`.
 *
 * @since 0.1.0
 */
import type { PlatformError } from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import type * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import type { SchemaElement } from "hyparquet"
import type { Writer as ByteSink } from "hyparquet-writer"
import { WriterError } from "./WriterError.js"

/**
 * Where and how to write one step's records:
 *
 * - `dir`, `step`: files go to `<dir>/<step>/`;
 * - `maxRows` (default 100,000) and `maxBytes` (default 64 MiB): the limits at which a file is rolled;
 * - `parquet`: also write a `NNN.parquet` copy of each complete file (`rowGroupSize` rows per row group, default
 *   10,000);
 * - `fsync`: flush every batch to the disk (`fsync`) before `write` returns: survives a power cut, not only a
 *   crashed process, at a cost per batch;
 * - `key`: the id field of the records, for {@link scan} (default `"id"`).
 *
 * @example
 * ```ts
 * import type * as Writer from "sluice/Writer"
 *
 * const options: Writer.Options = { dir: "out", step: "summarize", maxRows: 10_000, parquet: true }
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
 * The name of the `index`-th file of a step: `000.jsonl`, `001.jsonl`, … (`1000.jsonl` after `999.jsonl`).
 *
 * @example
 * ```ts
 * import * as Writer from "sluice/Writer"
 *
 * Writer.fileName(12) // "012.jsonl"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fileName = (index: number, extension: "jsonl" | "parquet" = "jsonl"): string =>
  `${String(index).padStart(3, "0")}.${extension}`

/**
 * Opens a step for writing in the writer's scope, resuming what is there: a torn last line is truncated, new
 * records go to the last file while it is under its limits, and missing Parquet copies are written.
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
    const settings = resolveOptions(options)
    const dir = join(options.dir, options.step)
    yield* fs.makeDirectory(dir, { recursive: true }).pipe(Effect.mapError(ioError(dir)))
    const recovered = yield* recover(fs, dir, settings)
    const lock = yield* Effect.makeSemaphore(1)
    const buffer = new LineBuffer()
    let current: Current = recovered
    let open: { readonly file: FileSystem.File; readonly scope: Scope.CloseableScope } | undefined
    let rows = 0
    let files = 0

    const pathOf = (index: number) => join(dir, fileName(index))

    const ensureOpen = Effect.gen(function*() {
      if (open !== undefined) return open.file
      const child = yield* Scope.fork(scope, ExecutionStrategy.sequential)
      const path = pathOf(current.index)
      const file = yield* fs.open(path, { flag: "a" }).pipe(
        Scope.extend(child),
        Effect.tapError(() => Scope.close(child, Exit.void)),
        Effect.mapError(ioError(path))
      )
      if (current.rows === 0) files++
      open = { file, scope: child }
      return file
    })

    const close = Effect.suspend(() => {
      const handle = open
      open = undefined
      if (handle === undefined) return Effect.void
      return (settings.fsync ? handle.file.sync.pipe(Effect.mapError(ioError(pathOf(current.index)))) : Effect.void)
        .pipe(Effect.ensuring(Scope.close(handle.scope, Exit.void)))
    })

    const sealUnsafe = Effect.gen(function*() {
      yield* close
      if (current.rows > 0) {
        if (settings.parquet !== undefined) yield* toParquet(fs, dir, current.index, settings.parquet.rowGroupSize)
        current = { index: current.index + 1, rows: 0, bytes: 0 }
      }
    })

    const write = (records: Iterable<unknown>) =>
      lock.withPermits(1)(Effect.gen(function*() {
        const count = buffer.encode(records)
        if (typeof count !== "number") {
          return yield* new WriterError({ reason: "Encode", path: pathOf(current.index), description: count.message })
        }
        let i = 0
        while (i < count) {
          let j = i
          let fileRows = current.rows
          let fileBytes = current.bytes
          while (j < count) {
            const size = buffer.size(j)
            if (fileRows > 0 && (fileRows + 1 > settings.maxRows || fileBytes + size > settings.maxBytes)) break
            fileRows++
            fileBytes += size
            j++
          }
          if (j > i) {
            const file = yield* ensureOpen
            yield* file.writeAll(buffer.slice(i, j)).pipe(
              Effect.mapError(ioError(pathOf(current.index))),
              Effect.uninterruptible
            )
            current = { index: current.index, rows: fileRows, bytes: fileBytes }
            rows += j - i
            i = j
          }
          if (i < count) yield* sealUnsafe
        }
        if (settings.fsync && open !== undefined) {
          yield* open.file.sync.pipe(Effect.mapError(ioError(pathOf(current.index))))
        }
      }))

    return {
      path: dir,
      write,
      seal: lock.withPermits(1)(sealUnsafe),
      stats: Effect.sync(() => ({ file: current.index, fileRows: current.rows, rows, files }))
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
    const dir = join(options.dir, options.step)
    const indexes = yield* listIndexes(fs, dir)
    return indexes.map((index) => join(dir, fileName(index)))
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
    return Stream.flatMap(Stream.fromIterable(paths), (path) => parsedLines(fs, path))
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
    const text = stringify(value, options?.space ?? 2)
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
      Effect.mapError(ioError(path))
    )
  }).pipe(Effect.withSpan("Writer.writeJsonAtomic", { attributes: { path } }))

// =============================================================================
// internals
// =============================================================================

interface Settings {
  readonly maxRows: number
  readonly maxBytes: number
  readonly parquet: { readonly rowGroupSize: number } | undefined
  readonly fsync: boolean
}

const resolveOptions = (options: Options): Settings => ({
  maxRows: Math.max(1, options.maxRows ?? 100_000),
  maxBytes: Math.max(1, options.maxBytes ?? 64 * 1024 * 1024),
  parquet: options.parquet === undefined || options.parquet === false
    ? undefined
    : { rowGroupSize: Math.max(1, (options.parquet === true ? undefined : options.parquet.rowGroupSize) ?? 10_000) },
  fsync: options.fsync ?? false
})

interface Current {
  readonly index: number
  readonly rows: number
  readonly bytes: number
}

const join = (dir: string, name: string): string => dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`

const ioError = (path: string) => (error: PlatformError): WriterError =>
  new WriterError({ reason: "Io", path, description: error.message, cause: error })

const stringify = (value: unknown, space?: number): string | Error => {
  let text: string | undefined
  try {
    text = JSON.stringify(value, undefined, space)
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e))
  }
  return text === undefined ? new Error(`${typeof value} is not JSON`) : text
}

/** Encodes batches of records as JSONL into one reusable buffer, remembering where each line ends. */
class LineBuffer {
  private bytes = new Uint8Array(64 * 1024)
  private ends: Array<number> = []
  private readonly encoder = new TextEncoder()

  encode(records: Iterable<unknown>): number | Error {
    let at = 0
    let count = 0
    for (const record of records) {
      const text = stringify(record)
      if (typeof text !== "string") return new Error(`record ${count} of the batch: ${text.message}`)
      const need = at + text.length * 3 + 1
      if (need > this.bytes.length) {
        const grown = new Uint8Array(Math.max(need, this.bytes.length * 2))
        grown.set(this.bytes.subarray(0, at))
        this.bytes = grown
      }
      at += this.encoder.encodeInto(text, this.bytes.subarray(at)).written
      this.bytes[at++] = NEWLINE
      this.ends[count++] = at
    }
    return count
  }

  size(i: number): number {
    return this.ends[i]! - (i === 0 ? 0 : this.ends[i - 1]!)
  }

  slice(from: number, to: number): Uint8Array {
    return this.bytes.subarray(from === 0 ? 0 : this.ends[from - 1]!, this.ends[to - 1]!)
  }
}

const NEWLINE = 10

const listIndexes = (fs: FileSystem.FileSystem, dir: string): Effect.Effect<Array<number>, WriterError> =>
  Effect.gen(function*() {
    if (!(yield* fs.exists(dir).pipe(Effect.mapError(ioError(dir))))) return []
    const names = yield* fs.readDirectory(dir).pipe(Effect.mapError(ioError(dir)))
    const indexes: Array<number> = []
    for (const name of names) {
      const match = /^(\d+)\.jsonl$/.exec(name)
      if (match !== null) indexes.push(Number(match[1]))
    }
    return indexes.sort((a, b) => a - b)
  })

/** Cleans a step folder after a crash and tells where to go on writing. */
const recover = (fs: FileSystem.FileSystem, dir: string, settings: Settings): Effect.Effect<Current, WriterError> =>
  Effect.gen(function*() {
    const names = yield* fs.readDirectory(dir).pipe(Effect.mapError(ioError(dir)))
    for (const name of names) {
      if (name.endsWith(".tmp")) yield* fs.remove(join(dir, name)).pipe(Effect.mapError(ioError(join(dir, name))))
    }
    const indexes = yield* listIndexes(fs, dir)
    const last = indexes[indexes.length - 1]
    if (last === undefined) return { index: 0, rows: 0, bytes: 0 }
    const path = join(dir, fileName(last))
    const bytes = yield* truncateTornLine(fs, path)
    const rows = yield* countLines(fs, path)
    const sealed = settings.parquet !== undefined &&
      (yield* fs.exists(join(dir, fileName(last, "parquet"))).pipe(Effect.mapError(ioError(dir))))
    const resume = !sealed && rows < settings.maxRows && bytes < settings.maxBytes
    if (settings.parquet !== undefined) {
      for (const index of indexes) {
        if (resume && index === last) continue
        const exists = yield* fs.exists(join(dir, fileName(index, "parquet"))).pipe(Effect.mapError(ioError(dir)))
        if (!exists) yield* toParquet(fs, dir, index, settings.parquet.rowGroupSize)
      }
    }
    return resume ? { index: last, rows, bytes } : { index: last + 1, rows: 0, bytes: 0 }
  })

/** Truncates the file after its last line break (a line a crash cut short); returns the new size. */
const truncateTornLine = (fs: FileSystem.FileSystem, path: string): Effect.Effect<number, WriterError> =>
  Effect.scoped(Effect.gen(function*() {
    const file = yield* fs.open(path, { flag: "r" })
    const size = Number((yield* file.stat).size)
    const block = new Uint8Array(64 * 1024)
    let end = size
    while (end > 0) {
      const start = Math.max(0, end - block.length)
      const view = block.subarray(0, end - start)
      yield* file.seek(start, "start")
      let at = 0
      while (at < view.length) {
        const n = Number(yield* file.read(view.subarray(at)))
        if (n === 0) break
        at += n
      }
      const nl = view.lastIndexOf(NEWLINE)
      if (nl !== -1) {
        end = start + nl + 1
        break
      }
      end = start
    }
    if (end < size) yield* fs.truncate(path, end)
    return end
  })).pipe(Effect.mapError(ioError(path)))

const countLines = (fs: FileSystem.FileSystem, path: string): Effect.Effect<number, WriterError> =>
  fs.stream(path, { chunkSize: 256 * 1024 }).pipe(
    Stream.runFold(0, (n, bytes) => {
      let count = n
      let at = bytes.indexOf(NEWLINE)
      while (at !== -1) {
        count++
        at = bytes.indexOf(NEWLINE, at + 1)
      }
      return count
    }),
    Effect.mapError(ioError(path))
  )

interface Line {
  readonly text: string
  readonly line: number
}

type LineChannel = Channel.Channel<
  Chunk.Chunk<Line>,
  Chunk.Chunk<Uint8Array>,
  WriterError,
  WriterError,
  unknown,
  unknown
>

/** The complete lines of a file (a last line without its line break is torn, and dropped). */
const lines = (fs: FileSystem.FileSystem, path: string): Stream.Stream<Line, WriterError> =>
  Stream.suspend(() => {
    const decoder = new TextDecoder("utf-8")
    let carry = ""
    let number = 0
    const loop: LineChannel = Channel.readWithCause({
      onInput: (input: Chunk.Chunk<Uint8Array>) => {
        const out: Array<Line> = []
        for (const bytes of input) {
          const text = decoder.decode(bytes, { stream: true })
          let start = 0
          let nl = text.indexOf("\n")
          while (nl !== -1) {
            const line = start === 0 && carry.length > 0 ? carry + text.slice(0, nl) : text.slice(start, nl)
            if (start === 0) carry = ""
            out.push({ text: line, line: ++number })
            start = nl + 1
            nl = text.indexOf("\n", start)
          }
          carry = start === 0 ? carry + text : text.slice(start)
        }
        return out.length === 0 ? loop : Channel.zipRight(Channel.write(Chunk.unsafeFromArray(out)), loop)
      },
      onFailure: (cause: Cause.Cause<WriterError>) => Channel.failCause(cause),
      onDone: () => Channel.void
    })
    return Stream.pipeThroughChannel(
      fs.stream(path, { chunkSize: 256 * 1024 }).pipe(Stream.mapError(ioError(path))),
      loop
    )
  })

const parsedLines = (fs: FileSystem.FileSystem, path: string): Stream.Stream<unknown, WriterError> =>
  lines(fs, path).pipe(
    Stream.mapChunksEffect((chunk) => {
      const out: Array<unknown> = []
      for (const { line, text } of chunk) {
        if (text.length === 0) continue
        const value = parseJson(text)
        if (value instanceof ParseFailure) {
          return Effect.fail(new WriterError({ reason: "Corrupt", path, line, description: value.message }))
        }
        out.push(value)
      }
      return Effect.succeed(Chunk.unsafeFromArray(out))
    })
  )

class ParseFailure {
  constructor(readonly message: string) {}
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch (e) {
    return new ParseFailure(e instanceof Error ? e.message : String(e))
  }
}

// -----------------------------------------------------------------------------
// Parquet copies
// -----------------------------------------------------------------------------

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
const toParquet = (
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
