/**
 * Small helpers over a run folder: paths, JSON files, and the errors a run's input and output map to.
 */
import type { PlatformError } from "@effect/platform/Error"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { DatasetError } from "../../DatasetError.js"
import * as Node from "../../Node.js"
import { RunnerError } from "../../RunnerError.js"
import type { WriterError } from "../../WriterError.js"

export const join = (dir: string, name: string): string => dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`

export const outputError = (cause: WriterError): RunnerError =>
  new RunnerError({ reason: "Output", path: cause.path, description: cause.message, cause })

export const inputError = (cause: DatasetError): RunnerError =>
  new RunnerError({ reason: "Input", path: cause.path, description: cause.message, cause })

/** A file-system call on the run folder, its failure an `Output` error naming `path`. */
export const io = <A>(effect: Effect.Effect<A, PlatformError>, path: string): Effect.Effect<A, RunnerError> =>
  Effect.mapError(effect, (cause) => new RunnerError({ reason: "Output", path, description: cause.message, cause }))

export const exists = (fs: FileSystem.FileSystem, path: string): Effect.Effect<boolean> =>
  Effect.orElseSucceed(fs.exists(path), () => false)

/** Reads a JSON file of a run folder; a missing or invalid file is `InvalidRun`. */
export const readJson = (fs: FileSystem.FileSystem, path: string): Effect.Effect<unknown, RunnerError> =>
  Effect.flatMap(
    fs.readFileString(path).pipe(
      Effect.mapError((cause) => new RunnerError({ reason: "InvalidRun", path, description: cause.message, cause }))
    ),
    (text) =>
      Either.try({ try: () => JSON.parse(text) as unknown, catch: (cause) => cause }).pipe(
        Either.mapLeft((cause) =>
          new RunnerError({
            reason: "InvalidRun",
            path,
            description: `not valid JSON: ${Node.errorMessage(cause)}`,
            cause
          })
        )
      )
  )

/** A JSON object's field as an object (or `undefined`). */
export const objectField = (value: unknown, key: string): Record<string, unknown> | undefined => {
  if (value === null || typeof value !== "object") return undefined
  const field = (value as Record<string, unknown>)[key]
  return field !== null && typeof field === "object" && !Array.isArray(field)
    ? field as Record<string, unknown>
    : undefined
}
