/**
 * Preparing a run folder: the chain checked, its engines resolved, its steps' configuration hashes compared with
 * those of the previous run into the folder (a changed step and those after it are run again: their folders and
 * `flattened/` move to `.stale/<run id>/`), and `graph.json` written.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Chain from "../../Chain.js"
import * as Node from "../../Node.js"
import type { Options } from "../../Runner.js"
import * as RunnerErrorModule from "../../RunnerError.js"
import type { RunnerError } from "../../RunnerError.js"
import * as Writer from "../../Writer.js"
import { io, join, objectField, outputError, readJson } from "./files.js"
import * as Records from "./records.js"

/** A prepared run folder. */
export interface Prepared {
  readonly runId: string
  readonly startedAt: number
  readonly dir: string
  readonly ids: ReadonlyArray<string>
  readonly resolved: ReadonlyMap<string, Chain.ResolvedEngine>
  /** How each LLM step's engine resolved, by step id (`registry:<name>`, `context`). */
  readonly engines: Readonly<Record<string, string>>
  /** The steps run again because their configuration changed since the previous run into the folder. */
  readonly invalidated: ReadonlyArray<string>
  /** Whether a run wrote into the folder before. */
  readonly resumed: boolean
  /** Rewrites `graph.json` with the run's status (and e.g. `endedAt`, `cause`). */
  readonly writeGraph: (
    status: string,
    extra: Record<string, unknown>
  ) => Effect.Effect<void, RunnerError, FileSystem.FileSystem>
}

export const prepare = (
  chain: Chain.Chain,
  options: Options
): Effect.Effect<Prepared, RunnerError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = options.output
    yield* Chain.check(chain).pipe(Effect.mapError((cause) => RunnerErrorModule.fromChainError(cause)))
    const runId = options.runId ?? (yield* Node.makeRunId)
    const startedAt = yield* Clock.currentTimeMillis
    const resolved = yield* Chain.resolveEngines(chain, options.engines).pipe(
      Effect.mapError((cause) => RunnerErrorModule.fromChainError(cause))
    )
    const ids = Chain.flatSteps(chain).map((s) => s.id)
    const hashes = Chain.hashes(chain, (step) => Chain.engineKey(resolved.get(step.id)))
    yield* io(fs.makeDirectory(dir, { recursive: true }), dir)

    const graphPath = join(dir, "graph.json")
    const previous = (yield* io(fs.exists(graphPath), graphPath)) ? yield* readJson(fs, graphPath) : undefined
    const previousHashes = objectField(previous, "hashes") ?? {}
    const invalidated = previous === undefined ? [] : ids.filter((id) => previousHashes[id] !== hashes[id])
    const removed = Object.keys(previousHashes).filter((id) => !ids.includes(id))
    if (invalidated.length > 0 || removed.length > 0) {
      yield* moveStale(fs, dir, join(join(dir, ".stale"), `${startedAt}-${runId.slice(0, 8)}`), [
        ...invalidated,
        ...removed,
        "flattened"
      ])
    }
    const engines = engineLabels(resolved)
    const graph = {
      ...Chain.toGraphJson(chain, options.engines === undefined ? undefined : { engines: options.engines }),
      hashes,
      run: {
        runId,
        previousRunId: objectField(previous, "run")?.runId,
        startedAt: new Date(startedAt).toISOString(),
        input: typeof options.input === "string" ? options.input : "(records given in code)",
        output: dir,
        options: Records.recordedOptions(options),
        engines,
        invalidated,
        status: "running"
      }
    }
    const writeGraph = (status: string, extra: Record<string, unknown>) =>
      Writer.writeJsonAtomic(graphPath, { ...graph, run: { ...graph.run, status, ...extra } }).pipe(
        Effect.mapError(outputError)
      )
    yield* writeGraph("running", {})
    return { runId, startedAt, dir, ids, resolved, engines, invalidated, resumed: previous !== undefined, writeGraph }
  })

/** Moves the folders of the steps run again (and `flattened/`) out of the way, into `stale`. */
const moveStale = (fs: FileSystem.FileSystem, dir: string, stale: string, names: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    yield* io(fs.makeDirectory(stale, { recursive: true }), stale)
    for (const name of names) {
      const from = join(dir, name)
      if (yield* io(fs.exists(from), from)) yield* io(fs.rename(from, join(stale, name)), from)
    }
  })

const engineLabels = (resolved: ReadonlyMap<string, Chain.ResolvedEngine>): Record<string, string> => {
  const engines: Record<string, string> = {}
  for (const [step, engine] of resolved) {
    engines[step] = engine.source === "registry"
      ? `registry:${engine.name}`
      : engine.name === undefined
      ? "context"
      : `context (asked for "${engine.name}")`
  }
  return engines
}
