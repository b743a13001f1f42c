import { NodeFileSystem } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import { Effect, Layer, Stream } from "effect"

/** Counts the files opened and closed, so that tests can see that every file is closed. */
export interface Tracker {
  opened: number
  closed: number
}

/** A Node `FileSystem` that counts the files it opens (`open`, and with `streams` also `stream`) and closes. */
export const trackedLayer = (tracker: Tracker, options?: { readonly streams?: boolean }) =>
  Layer.effect(
    FileSystem.FileSystem,
    Effect.map(FileSystem.FileSystem, (fs): FileSystem.FileSystem => ({
      ...fs,
      open: (path, openOptions) =>
        fs.open(path, openOptions).pipe(
          Effect.tap(() => Effect.sync(() => tracker.opened++)),
          Effect.tap(() => Effect.addFinalizer(() => Effect.sync(() => tracker.closed++)))
        ),
      stream: options?.streams === true
        ? (path, streamOptions) =>
          Stream.unwrapScoped(
            Effect.acquireRelease(
              Effect.sync(() => tracker.opened++),
              () => Effect.sync(() => tracker.closed++)
            ).pipe(Effect.as(fs.stream(path, streamOptions)))
          )
        : fs.stream
    }))
  ).pipe(Layer.provide(NodeFileSystem.layer))

/** A temporary folder removed when the scope closes. */
export const tempDirectory = (prefix: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix }))

export const readText = (path: string) => Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(path))

export const writeText = (path: string, text: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.writeFileString(path, text))
