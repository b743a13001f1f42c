/**
 * The rolling writer of one step: settings, crash recovery, rolling and sealing files, and their copies.
 *
 * @internal
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type * as Writer from "../../Writer.js"
import { WriterError } from "../../WriterError.js"
import { toCsv } from "./csv.js"
import { countLines, fileName, ioError, join, LineBuffer, listIndexes, truncateTornLine } from "./lines.js"
import { toParquet } from "./parquet.js"

/** A copy of each complete JSONL file in another format: its extension and how to write it. @internal */
export interface Copy {
  readonly extension: "parquet" | "csv"
  readonly write: (fs: FileSystem.FileSystem, dir: string, index: number) => Effect.Effect<void, WriterError>
}

/** @internal */
export interface Settings {
  readonly maxRows: number
  readonly maxBytes: number
  readonly copies: ReadonlyArray<Copy>
  readonly fsync: boolean
}

/** @internal */
export const resolveOptions = (options: Writer.Options): Settings => {
  const copies: Array<Copy> = []
  if (options.parquet !== undefined && options.parquet !== false) {
    const rowGroupSize = Math.max(1, (options.parquet === true ? undefined : options.parquet.rowGroupSize) ?? 10_000)
    copies.push({ extension: "parquet", write: (fs, dir, index) => toParquet(fs, dir, index, rowGroupSize) })
  }
  if (options.csv === true) copies.push({ extension: "csv", write: toCsv })
  return {
    maxRows: Math.max(1, options.maxRows ?? 100_000),
    maxBytes: Math.max(1, options.maxBytes ?? 64 * 1024 * 1024),
    copies,
    fsync: options.fsync ?? false
  }
}

/** The file being written: its index, and the records and bytes in it. @internal */
export interface Current {
  readonly index: number
  readonly rows: number
  readonly bytes: number
}

/**
 * Cleans a step folder after a crash and tells where to go on writing: the last file is resumed unless it is full
 * or has its copies (it was sealed); the copies a crash left missing are written.
 *
 * @internal
 */
export const recover = (
  fs: FileSystem.FileSystem,
  dir: string,
  settings: Settings
): Effect.Effect<Current, WriterError> =>
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
    const exists = (index: number, copy: Copy) =>
      fs.exists(join(dir, fileName(index, copy.extension))).pipe(Effect.mapError(ioError(dir)))
    let sealed = false
    for (const copy of settings.copies) sealed = sealed || (yield* exists(last, copy))
    const resume = !sealed && rows < settings.maxRows && bytes < settings.maxBytes
    for (const index of indexes) {
      if (resume && index === last) continue
      for (const copy of settings.copies) {
        if (!(yield* exists(index, copy))) yield* copy.write(fs, dir, index)
      }
    }
    return resume ? { index: last, rows, bytes } : { index: last + 1, rows: 0, bytes: 0 }
  })

/**
 * A step's writer over its folder `dir`, from the recovered position: files are opened in `scope` as needed,
 * `lock` serialises writes and seals.
 *
 * @internal
 */
export class StepWriter {
  private readonly buffer = new LineBuffer()
  private open: { readonly file: FileSystem.File; readonly scope: Scope.CloseableScope } | undefined = undefined
  private rows = 0
  private files = 0

  constructor(
    private readonly fs: FileSystem.FileSystem,
    private readonly scope: Scope.Scope,
    private readonly dir: string,
    private readonly settings: Settings,
    private current: Current
  ) {}

  stats(): Writer.Stats {
    return { file: this.current.index, fileRows: this.current.rows, rows: this.rows, files: this.files }
  }

  private pathOf(index: number): string {
    return join(this.dir, fileName(index))
  }

  private readonly ensureOpen: Effect.Effect<FileSystem.File, WriterError> = Effect.suspend(() => {
    if (this.open !== undefined) return Effect.succeed(this.open.file)
    return Effect.gen(this, function*() {
      const child = yield* Scope.fork(this.scope, ExecutionStrategy.sequential)
      const path = this.pathOf(this.current.index)
      const file = yield* this.fs.open(path, { flag: "a" }).pipe(
        Scope.extend(child),
        Effect.tapError(() => Scope.close(child, Exit.void)),
        Effect.mapError(ioError(path))
      )
      if (this.current.rows === 0) this.files++
      this.open = { file, scope: child }
      return file
    })
  })

  private readonly close: Effect.Effect<void, WriterError> = Effect.suspend(() => {
    const handle = this.open
    this.open = undefined
    if (handle === undefined) return Effect.void
    const sync = this.settings.fsync
      ? handle.file.sync.pipe(Effect.mapError(ioError(this.pathOf(this.current.index))))
      : Effect.void
    return sync.pipe(Effect.ensuring(Scope.close(handle.scope, Exit.void)))
  })

  /** Completes the current file: closes it, writes its copies; the next write opens the next file. */
  readonly seal: Effect.Effect<void, WriterError> = Effect.gen(this, function*() {
    yield* this.close
    if (this.current.rows > 0) {
      for (const copy of this.settings.copies) yield* copy.write(this.fs, this.dir, this.current.index)
      this.current = { index: this.current.index + 1, rows: 0, bytes: 0 }
    }
  })

  /** Writes a batch whole: encoded first, then complete lines per file, rolling files at their limits. */
  write(records: Iterable<unknown>): Effect.Effect<void, WriterError> {
    return Effect.gen(this, function*() {
      const count = this.buffer.encode(records)
      if (typeof count !== "number") {
        const path = this.pathOf(this.current.index)
        return yield* new WriterError({ reason: "Encode", path, description: count.message })
      }
      let i = 0
      while (i < count) {
        const j = this.fits(i, count)
        if (j > i) yield* this.append(i, j)
        i = j
        if (i < count) yield* this.seal
      }
      if (this.settings.fsync && this.open !== undefined) {
        yield* this.open.file.sync.pipe(Effect.mapError(ioError(this.pathOf(this.current.index))))
      }
    })
  }

  /** The end of the run of encoded records from `i` that fits in the current file. */
  private fits(i: number, count: number): number {
    let j = i
    let rows = this.current.rows
    let bytes = this.current.bytes
    while (j < count) {
      const size = this.buffer.size(j)
      if (rows > 0 && (rows + 1 > this.settings.maxRows || bytes + size > this.settings.maxBytes)) break
      rows++
      bytes += size
      j++
    }
    return j
  }

  /** Appends encoded records `[i, j)` to the current file, in one uninterruptible write. */
  private append(i: number, j: number): Effect.Effect<void, WriterError> {
    return Effect.gen(this, function*() {
      const file = yield* this.ensureOpen
      yield* file.writeAll(this.buffer.slice(i, j)).pipe(
        Effect.mapError(ioError(this.pathOf(this.current.index))),
        Effect.uninterruptible
      )
      let bytes = this.current.bytes
      for (let k = i; k < j; k++) bytes += this.buffer.size(k)
      this.current = { index: this.current.index, rows: this.current.rows + j - i, bytes }
      this.rows += j - i
    })
  }
}
