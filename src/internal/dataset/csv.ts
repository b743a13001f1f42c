/**
 * CSV and TSV through csv-parse.
 *
 * @internal
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import { parse as csvParse } from "csv-parse/stream"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Runtime from "effect/Runtime"
import * as Stream from "effect/Stream"
import type { Source } from "../../Dataset.js"
import { DatasetError } from "../../DatasetError.js"
import { bad, bytesOf, type Raw, type Settings, unknownColumn, unknownColumns, wanted } from "./items.js"

export interface CsvRecord {
  readonly record: Record<string, unknown>
  readonly info: { readonly lines: number }
}

export interface Skip {
  readonly line: number | undefined
  readonly raw: string
  readonly message: string
}

export const readCsv = (
  fs: FileSystem.FileSystem,
  source: Source,
  settings: Settings
): Stream.Stream<Raw, DatasetError> =>
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

export const NUMBER = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/

/** `cast: true` for CSV: numbers and booleans (`true`, `false`) become numbers and booleans, headers stay text. */
export const castField = (value: string, context: { readonly header: boolean }): unknown =>
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
export const scopedReadable = <A, E>(stream: Stream.Stream<A, E>) =>
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
