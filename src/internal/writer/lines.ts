/**
 * The JSONL files of a step: names, encoding, crash recovery and line-by-line reading.
 *
 * @internal
 */
import type { PlatformError } from "@effect/platform/Error"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { WriterError } from "../../WriterError.js"

/** @internal */
export const fileName = (index: number, extension: "jsonl" | "parquet" | "csv" = "jsonl"): string =>
  `${String(index).padStart(3, "0")}.${extension}`

/** @internal */
export const join = (dir: string, name: string): string => dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`

/** @internal */
export const ioError = (path: string) => (error: PlatformError): WriterError =>
  new WriterError({ reason: "Io", path, description: error.message, cause: error })

/** @internal */
export const stringify = (value: unknown, space?: number): string | Error => {
  let text: string | undefined
  try {
    text = JSON.stringify(value, undefined, space)
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e))
  }
  return text === undefined ? new Error(`${typeof value} is not JSON`) : text
}

/** Encodes batches of records as JSONL into one reusable buffer, remembering where each line ends. */
/** @internal */
export class LineBuffer {
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

/** @internal */
export const NEWLINE = 10

/** @internal */
export const listIndexes = (fs: FileSystem.FileSystem, dir: string): Effect.Effect<Array<number>, WriterError> =>
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

/** Truncates the file after its last line break (a line a crash cut short); returns the new size. */
/** @internal */
export const truncateTornLine = (fs: FileSystem.FileSystem, path: string): Effect.Effect<number, WriterError> =>
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

/** @internal */
export const countLines = (fs: FileSystem.FileSystem, path: string): Effect.Effect<number, WriterError> =>
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

/** @internal */
export interface Line {
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
/** @internal */
export const lines = (fs: FileSystem.FileSystem, path: string): Stream.Stream<Line, WriterError> =>
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

/** @internal */
export const parsedLines = (fs: FileSystem.FileSystem, path: string): Stream.Stream<unknown, WriterError> =>
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
