/**
 * Dataset rows from raw records: settings, ids, malformed rows, column checks.
 *
 * @internal
 */
import type { PlatformError } from "@effect/platform/Error"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Stream from "effect/Stream"
import type { Item, Options, Row } from "../../Dataset.js"
import { DatasetError } from "../../DatasetError.js"

export interface Settings {
  readonly columns: ReadonlyArray<string> | undefined
  readonly key: string | undefined
  readonly limit: number | undefined
  readonly strict: boolean
  readonly delimiter: string | undefined
  readonly cast: boolean
  readonly chunkSize: number
  readonly maxLineLength: number
}

export const resolveOptions = (options: Options | undefined): Settings => ({
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
export const wanted = (settings: Settings): ReadonlyArray<string> | undefined =>
  settings.columns === undefined
    ? undefined
    : settings.key === undefined || settings.columns.includes(settings.key)
    ? settings.columns
    : [...settings.columns, settings.key]

export interface RawRow {
  readonly _tag: "Row"
  readonly line: number | undefined
  readonly data: Record<string, unknown>
}

export interface RawBad {
  readonly _tag: "Malformed"
  readonly line: number | undefined
  readonly raw: string
  readonly message: string
}

export type Raw = RawRow | RawBad

export interface State {
  index: number
}

export const maxRaw = 64 * 1024

export const clip = (text: string): string => text.length > maxRaw ? text.slice(0, maxRaw) : text

export const bad = (line: number | undefined, raw: string, message: string): RawBad => ({
  _tag: "Malformed",
  line,
  raw: clip(raw),
  message
})

export const rowOf = (raw: RawRow, index: number, settings: Settings): Row | string => {
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

export const pick = (data: Record<string, unknown>, columns: ReadonlyArray<string>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const column of columns) {
    if (column in data) out[column] = data[column]
  }
  return out
}

export const malformedOf = (file: string, index: number, line: number | undefined, raw: string, message: string) =>
  line === undefined
    ? { _tag: "Malformed" as const, index, file, raw, message }
    : { _tag: "Malformed" as const, index, file, line, raw, message }

export type ItemChannel = Channel.Channel<
  Chunk.Chunk<Item>,
  Chunk.Chunk<Raw>,
  DatasetError,
  DatasetError,
  unknown,
  unknown
>

export const itemize = (file: string, state: State, settings: Settings): ItemChannel => {
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

export const safeStringify = (value: unknown): string => {
  const text = JSON.stringify(value, (_, v) => typeof v === "bigint" ? String(v) : v)
  return text ?? String(value)
}

export const unknownColumns = (
  columns: ReadonlyArray<string> | undefined,
  available: ReadonlyArray<string>
): string | undefined => columns?.find((column) => !available.includes(column))

export const unknownColumn = (path: string, column: string, available: ReadonlyArray<string>) =>
  new DatasetError({
    reason: "UnknownColumn",
    path,
    description: `no column "${column}" (columns: ${available.join(", ")})`
  })

export const LEFT_BRACKET = 0x5b

/** The first byte that is not whitespace or a UTF-8 byte-order mark, or -1. */
export const firstSignificant = (bytes: Uint8Array): number => {
  let i = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0
  for (; i < bytes.length; i++) {
    const b = bytes[i]!
    if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return b
  }
  return -1
}

export const fromPlatformError = (path: string, error: PlatformError): DatasetError =>
  error._tag === "SystemError" && error.reason === "NotFound"
    ? new DatasetError({ reason: "NotFound", path, description: "no such file or directory" })
    : new DatasetError({ reason: "ReadFailed", path, description: error.message, cause: error })

export const bytesOf = (fs: FileSystem.FileSystem, path: string, settings: Settings) =>
  fs.stream(path, { chunkSize: settings.chunkSize }).pipe(Stream.mapError((e) => fromPlatformError(path, e)))
