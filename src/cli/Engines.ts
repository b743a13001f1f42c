/**
 * The engines of a `sluice` command: the `EngineRegistry` of an `engines.yml` (`--engines`), or, without one, a
 * registry holding a single `dry-run` engine named `default`; in both cases the registry's default engine is also
 * the `LanguageModel` in context (steps whose engine the registry does not know run on it).
 *
 * @since 0.1.0
 */
import type * as LanguageModel from "@effect/ai/LanguageModel"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as EngineRegistry from "../EngineRegistry.js"
import type { EngineRegistryError } from "../EngineRegistryError.js"
import { CliError } from "./CliError.js"

/**
 * The name of the engine the CLI provides when no engines file is given.
 *
 * @example
 * ```ts
 * import * as Engines from "sluice/cli/Engines"
 *
 * Engines.defaultName // "default"
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultName = "default"

/**
 * The registry of `file` (an `engines.yml` or JSON file), or the built-in `dry-run` registry when `file` is
 * `undefined`, with its default engine as the `LanguageModel`. A missing file is a `CliError` (`NotFound`) naming
 * it; an invalid one an `EngineRegistryError` naming its file, line and field.
 *
 * @example
 * ```ts
 * import { NodeFileSystem } from "@effect/platform-node"
 * import { Layer } from "effect"
 * import * as Engines from "sluice/cli/Engines"
 *
 * const engines = Engines.layer("examples/engines.yml").pipe(Layer.provide(NodeFileSystem.layer))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  file: string | undefined
): Layer.Layer<
  EngineRegistry.EngineRegistry | LanguageModel.LanguageModel,
  EngineRegistryError | CliError,
  FileSystem.FileSystem
> => {
  const registry = file === undefined
    ? EngineRegistry.layer({ engines: [{ name: defaultName, backend: "dry-run" }], default: defaultName })
    : Layer.unwrapEffect(Effect.as(requireFile(file, "engines file"), EngineRegistry.layerFile(file)))
  return Layer.provideMerge(EngineRegistry.layerDefault, registry).pipe(Layer.provide(NodeHttpClient.layerUndici))
}

/**
 * Fails with a `CliError` (`NotFound`) naming `path` when there is no file or folder at `path`.
 *
 * @example
 * ```ts
 * import * as Engines from "sluice/cli/Engines"
 *
 * const check = Engines.requireFile("data.jsonl", "input")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const requireFile = (path: string, what: string): Effect.Effect<void, CliError, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.exists(path)).pipe(
    Effect.orElseSucceed(() => false),
    Effect.flatMap((exists) =>
      exists ? Effect.void : Effect.fail(new CliError({ reason: "NotFound", path, description: `${what} not found` }))
    )
  )
