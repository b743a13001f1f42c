/**
 * Hugging Face datasets folders: which files a split is.
 *
 * @internal
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { Source } from "../../Dataset.js"
import { DatasetError } from "../../DatasetError.js"
import { extensionFormat } from "./formats.js"
import { fromPlatformError } from "./items.js"

export const join = (dir: string, name: string): string => dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`

export const DatasetDict = Schema.parseJson(Schema.Struct({ splits: Schema.Array(Schema.String) }))
export const DatasetState = Schema.parseJson(
  Schema.Struct({ _data_files: Schema.Array(Schema.Struct({ filename: Schema.String })) })
)

export const readJsonFile = <A, I>(
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

export const dataExtensions: ReadonlyArray<ReadonlyArray<string>> = [
  [".parquet"],
  [".arrow"],
  [".jsonl", ".ndjson"],
  [".csv", ".tsv"]
]

export const resolveFolder = (
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

export const belongsTo = (file: string, split: string): boolean => {
  const parts = file.split("/")
  const base = parts[parts.length - 1]!
  if (parts.slice(0, -1).includes(split)) return true
  if (!base.startsWith(split)) return false
  const next = base.charAt(split.length)
  return next === "-" || next === "_" || next === "."
}

export const natural = (a: string, b: string): number => a.localeCompare(b, "en", { numeric: true })
