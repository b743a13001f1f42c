/**
 * Loading a chain from a module spec (`path/to/module.ts:exportName`).
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import * as Chain from "../../Chain.js"
import * as RunnerErrorModule from "../../RunnerError.js"
import { RunnerError } from "../../RunnerError.js"
import { importModule } from "../importModule.js"
import { exists } from "./files.js"

export const loadChain = (
  spec: string
): Effect.Effect<Chain.Chain, RunnerError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const { file, name } = parseSpec(spec)
    const absolute = path.resolve(file)
    if (!(yield* exists(fs, absolute))) {
      return yield* new RunnerError({ reason: "ModuleNotFound", path: file, description: "no such file" })
    }
    const url = yield* path.toFileUrl(absolute).pipe(
      Effect.mapError((cause) =>
        new RunnerError({ reason: "ModuleNotFound", path: file, description: cause.message, cause })
      )
    )
    const mod = yield* importModule(url.href).pipe(
      Effect.mapError(({ cause, description }) =>
        new RunnerError({ reason: "ModuleNotFound", path: file, description, cause })
      )
    )
    const value = yield* chosenExport(mod, file, name)
    return yield* Chain.check(value).pipe(
      Effect.mapError((cause) => RunnerErrorModule.fromChainError(cause, { path: file }))
    )
  })

/** `file:export` (an export name has no path separator; a drive letter's colon is not one). */
const parseSpec = (spec: string): { readonly file: string; readonly name: string | undefined } => {
  const colon = spec.lastIndexOf(":")
  const hasExport = colon > 1 && !spec.slice(colon + 1).includes("/") && !spec.slice(colon + 1).includes("\\")
  return hasExport ? { file: spec.slice(0, colon), name: spec.slice(colon + 1) } : { file: spec, name: undefined }
}

/** The export named, else the `default` export or the module's only exported chain. */
const chosenExport = (
  mod: Record<string, unknown>,
  file: string,
  name: string | undefined
): Effect.Effect<Chain.Chain, RunnerError> => {
  const chains = Object.keys(mod).filter((key) => Chain.isChain(mod[key]))
  const listed = chains.length === 0 ? "none" : chains.join(", ")
  const chosen = name ?? (Chain.isChain(mod.default) ? "default" : chains.length === 1 ? chains[0] : undefined)
  if (chosen === undefined) {
    return new RunnerError({
      reason: "ExportNotFound",
      path: file,
      description: chains.length === 0
        ? "the module exports no chain"
        : `the module exports several chains, name one as ${file}:<export> (chains exported: ${listed})`
    })
  }
  if (!Object.hasOwn(mod, chosen)) {
    return new RunnerError({
      reason: "ExportNotFound",
      path: file,
      description: `no export "${chosen}" (chains exported: ${listed})`
    })
  }
  const value = mod[chosen]
  if (!Chain.isChain(value)) {
    return new RunnerError({
      reason: "NotAChain",
      path: file,
      description: `the export "${chosen}" is a ${
        value === null ? "null" : typeof value
      }, not a Chain (make it with Chain.make)`
    })
  }
  return Effect.succeed(value)
}
