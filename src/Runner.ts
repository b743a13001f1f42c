/**
 * The batch runner: a `Chain` over a dataset, in constant memory, with run artefacts and resume.
 *
 * ```ts
 * const summary = yield* Runner.run(chain, { input: "products.jsonl", output: "out", concurrency: 64 })
 * ```
 *
 * - **Input**: any `Dataset` source (JSONL, JSON arrays, CSV/TSV, Parquet, Arrow, a Hugging Face `datasets` folder)
 *   with `columns`, `key` (the row id; default the row index), `limit`, or an `Iterable`/`Stream` of records. Rows
 *   stream through the chain with at most `concurrency` items in flight.
 * - **Artefacts** in the `output` folder:
 *   - `graph.json`: the chain (`Chain.toGraphJson`: steps, engines, prompts, schemas as JSON Schema, configuration
 *     hashes) and the run (id, input, options, how each engine resolved, status);
 *   - `<step>/000.jsonl`, `001.jsonl`, …: each step's outputs, one record `{ "_id": <row id>, ...output }` per item
 *     (a non-object output, or one with its own `_id`, is written as `{ "_id", "_value" }`), rolled every
 *     `rollRows` records, with `.parquet` copies when `parquet` is set;
 *   - `flattened/`: one row per finished item joining its input and every step's output
 *     (`{ _id, _index, _status, "chain_input.title": …, "extract.brand": … }`; `_status` is `complete` or
 *     `filtered`, with `_filteredBy`), written as items finish;
 *   - `errors/`: one record per failed item or malformed row: `_id`, `index`, `step` (`input` for a malformed row),
 *     `error`, `message`, `retryable`, `attempt` (1 the first time this item failed at this step, 2 on the next
 *     run, …), `tries` (calls in this run), `input`, and `file`/`line` for malformed rows; an item that finishes in a
 *     later run resolves its error records (`inspect` and `metrics.json` count only the open ones);
 *   - `metrics.json`: the figures across every invocation into the folder (items done, filtered, failed and
 *     resolved, time spent, per step counts, latency and tokens: see {@link Cumulative}), and under `invocations`
 *     each invocation's own (status, cause, items, steps); rewritten every few seconds and at the end.
 * - **Status**: `graph.json`, `metrics.json` and the `RunEnd` event say how the run ended (`success`, `failure` with
 *   its `cause`, `interrupted`). A run whose items keep failing for one run-wide cause stops early: see
 *   `stopAfterFailures`.
 * - **Resume**: running again into the same folder skips the items already in `flattened/` and reuses the step
 *   outputs already written for unfinished items. A step whose configuration hash changed (its prompt, schemas,
 *   engine, a pure step's code, or a step it depends on) is run again: its folder, those of the steps after it and
 *   `flattened/` move to `.stale/<run id>/`, and every item is finished again from that step on (the outputs of the
 *   unchanged steps are read back, so that case holds them in memory). Records are written whole, and an item's
 *   flattened row only after its step outputs, so a run killed at any point loses at most the items in flight, and
 *   resuming writes every item exactly once. A run stopped gracefully (its consumer stops, or the process gets
 *   `SIGTERM` / `sluice kill`) takes no more rows, abandons the items in flight and writes every item already
 *   finished before it ends as `interrupted`.
 * - **Bad input**: a malformed row becomes an error record (with its line) and a `NonFatalError` event, and the run
 *   goes on (`strict: true` stops it instead); an item that does not match a step's input schema fails alone
 *   (`ChainError` `InvalidInput`).
 * - **Engines**: see `Chain.resolveEngines` (the `EngineRegistry` when provided, else the `LanguageModel` in context).
 *
 * {@link stream} streams the run's events; {@link run} consumes it and returns a {@link Summary}.
 *
 * @since 0.1.0
 */
import type { PlatformError } from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Chain from "./Chain.js"
import { type ChainError, isChainError } from "./ChainError.js"
import * as Dataset from "./Dataset.js"
import type { DatasetError } from "./DatasetError.js"
import type * as Event from "./Event.js"
import { importModule } from "./internal/importModule.js"
import * as Totals from "./internal/runner/cumulative.js"
import * as FailFast from "./internal/runner/failFast.js"
import * as Records from "./internal/runRecords.js"
import * as Node from "./Node.js"
import * as RunnerErrorModule from "./RunnerError.js"
import { RunnerError } from "./RunnerError.js"
import * as Writer from "./Writer.js"
import type { WriterError } from "./WriterError.js"

// =============================================================================
// models
// =============================================================================

/**
 * Options of a run:
 *
 * - `input`: a dataset path (see `Dataset.stream`), or an `Iterable` / `Stream` of records; `format`, `columns`,
 *   `key`, `limit`, `strict`: as in `Dataset.Options` (`key` also names the id field of records given in code);
 * - `output`: the run folder;
 * - `concurrency` (items in flight, default 16), `engines` (engine names by step id), `engineConcurrency`, `retry`,
 *   `engineRetry`, `retryDelayMs`: see `Chain.RunOptions`;
 * - `rollRows` (default 100,000) and `rollBytes` (default 64 MiB): when output files roll; `parquet`: also write
 *   Parquet copies; `fsync`: flush every batch to the disk;
 * - `count`: count the input first for `Summary.total` and `Plan.total` (default `true` for paths);
 * - `metricsIntervalMs`: how often `metrics.json` is rewritten during the run (default 5000);
 * - `stopAfterFailures` (default 10): the run stops early, failing with `RunnerError` `RunFailed` (status `failure`
 *   and the cause in `graph.json`, `metrics.json` and `RunEnd`), when this many items in a row (no item finishing
 *   in between) fail with one run-wide cause: a refused connection, an unknown host, refused credentials (HTTP
 *   401/403), an unknown model, a missing key column. Any other failure repeated the same way (same step, error and
 *   message, numbers aside) stops it after 5× as many (at least 50), so a flaky engine never stops a long run. `0`
 *   never stops. Everything written stays, and running again after the fix resumes;
 * - `onStart`: called with the {@link Plan} before the first row; `onEvent`: called with every event.
 *
 * @example
 * ```ts
 * import type * as Runner from "sluice/Runner"
 *
 * const options: Runner.Options = { input: "data/products.jsonl", output: "out/products", concurrency: 64, key: "sku" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly input: string | Chain.Inputs<unknown>
  readonly output: string
  readonly format?: Dataset.Format | undefined
  readonly columns?: ReadonlyArray<string> | undefined
  readonly key?: string | undefined
  readonly limit?: number | undefined
  readonly strict?: boolean | undefined
  readonly concurrency?: number | undefined
  readonly engines?: Readonly<Record<string, string>> | undefined
  readonly engineConcurrency?: Readonly<Record<string, number>> | undefined
  readonly retry?: number | undefined
  readonly engineRetry?: Readonly<Record<string, number>> | undefined
  readonly retryDelayMs?: number | undefined
  readonly rollRows?: number | undefined
  readonly rollBytes?: number | undefined
  readonly parquet?: boolean | undefined
  readonly fsync?: boolean | undefined
  readonly count?: boolean | undefined
  readonly runId?: string | undefined
  readonly metricsIntervalMs?: number | undefined
  readonly stopAfterFailures?: number | undefined
  readonly onStart?: ((plan: Plan) => Effect.Effect<void>) | undefined
  readonly onEvent?: ((event: Event.Event) => Effect.Effect<void>) | undefined
}

/**
 * What a run is about to do, known before the first row: its id, the number of input items (`total`, when
 * counted), the items already complete (`resumed`), the steps run again because their configuration changed
 * (`invalidated`), and how each LLM step's engine resolved (`registry:<name>` or `context`).
 *
 * @example
 * ```ts
 * import type * as Runner from "sluice/Runner"
 *
 * const remaining = (plan: Runner.Plan) => plan.total === undefined ? undefined : plan.total - plan.resumed
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Plan {
  readonly runId: string
  readonly chain: string
  readonly output: string
  readonly total: number | undefined
  readonly resumed: number
  readonly invalidated: ReadonlyArray<string>
  readonly steps: ReadonlyArray<string>
  readonly engines: Readonly<Record<string, string>>
}

/**
 * Latency percentiles of a step, in milliseconds (from a bounded reservoir of samples).
 *
 * @example
 * ```ts
 * import type * as Runner from "sluice/Runner"
 *
 * const slow = (latency: Runner.Latency) => latency.p95 > 2000
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Latency {
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly mean: number
  readonly max: number
}

/**
 * The figures of one step in a run: items `done` (with an output), `filtered`, `errors`, `retries`, latency and the
 * tokens its engine reported.
 *
 * @example
 * ```ts
 * import type * as Runner from "sluice/Runner"
 *
 * const errorRate = (s: Runner.StepStats) => s.errors / Math.max(1, s.done + s.errors)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StepStats {
  readonly done: number
  readonly filtered: number
  readonly errors: number
  readonly retries: number
  readonly latencyMs: Latency
  readonly tokens: { readonly input: number; readonly output: number; readonly total: number }
}

/**
 * The figures of a run folder across every invocation into it (the first run and each resume): items `done` and
 * `filtered`, `failed` (items with an error and no finished row yet), `resolved` (items that failed once and finished
 * since: their error records no longer count), the time spent, the number of `invocations`, and per step
 * {@link StepStats} (counts and tokens summed; latency percentiles averaged, weighted by items).
 *
 * @example
 * ```ts
 * import type * as Runner from "sluice/Runner"
 *
 * const open = (c: Runner.Cumulative) => `${c.failed} open errors (${c.resolved} resolved) over ${c.invocations} runs`
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Cumulative {
  readonly done: number
  readonly filtered: number
  readonly failed: number
  readonly resolved: number
  readonly durationMs: number
  readonly invocations: number
  readonly steps: Readonly<Record<string, StepStats>>
}

/**
 * The outcome of a run: items `done` (complete) and `filtered` in this invocation, `resumed` (already complete,
 * skipped), `failed` (failed items and malformed rows), `total` input items when counted, per step
 * {@link StepStats}, and the figures across every invocation into the folder (`cumulative`).
 *
 * @example
 * ```ts
 * import type * as Runner from "sluice/Runner"
 *
 * const line = (s: Runner.Summary) => `${s.done} done, ${s.resumed} resumed, ${s.failed} failed in ${s.output}`
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Summary {
  readonly runId: string
  readonly chain: string
  readonly output: string
  readonly status: "success" | "failure" | "interrupted"
  readonly total: number | undefined
  readonly done: number
  readonly filtered: number
  readonly resumed: number
  readonly failed: number
  readonly malformed: number
  readonly durationMs: number
  readonly invalidated: ReadonlyArray<string>
  readonly steps: Readonly<Record<string, StepStats>>
  readonly cumulative: Cumulative
}

/**
 * An error record as written to `errors/`.
 *
 * @example
 * ```ts
 * import type * as Runner from "sluice/Runner"
 *
 * const where = (e: Runner.ErrorRecord) => e.line === undefined ? e.step : `${e.file}:${e.line}`
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorRecord {
  readonly _id: string | undefined
  readonly index: number
  readonly step: string
  readonly error: string
  readonly message: string
  readonly retryable: boolean
  readonly attempt: number
  readonly tries: number
  readonly input: unknown
  readonly file?: string | undefined
  readonly line?: number | undefined
  readonly runId: string
  readonly timestamp: number
}

/**
 * What {@link inspect} reads from a run folder: the chain and run metadata from `graph.json` (with the `cause` of a
 * failed run), `metrics.json` when present, record and file counts per step and for `flattened/`, and the errors
 * still open: items whose latest error record has no finished row since (`total`, counts by step and by error tag,
 * the last few records), and how many items failed once and finished since (`resolved`).
 *
 * @example
 * ```ts
 * import type * as Runner from "sluice/Runner"
 *
 * const failed = (i: Runner.Inspection) => i.errors.total
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Inspection {
  readonly dir: string
  readonly chain: string
  readonly runId: string | undefined
  readonly status: string | undefined
  readonly cause: string | undefined
  readonly graph: unknown
  readonly metrics: unknown
  readonly steps: Readonly<Record<string, { readonly records: number; readonly files: number }>>
  readonly flattened: { readonly records: number; readonly files: number }
  readonly errors: {
    readonly total: number
    readonly resolved: number
    readonly byStep: Readonly<Record<string, number>>
    readonly byError: Readonly<Record<string, number>>
    readonly last: ReadonlyArray<ErrorRecord>
  }
}

// =============================================================================
// running
// =============================================================================

/**
 * Streams the events of a run (see the module description): `RunStart`, `NonFatalError` for each malformed row,
 * per item and step `StepStart` / `StepEnd` / `StepError` (`item` = the row index, `path` = `[chain, step]`),
 * `Retry`, then `RunEnd`. Artefacts are written as the stream runs; interrupting it (e.g. `Stream.take`) stops the
 * run, and running again resumes it.
 *
 * @example
 * ```ts
 * import { NodeContext } from "@effect/platform-node"
 * import { Effect, Stream } from "effect"
 * import type * as Chain from "sluice/Chain"
 * import * as DryRun from "sluice/engines/DryRun"
 * import * as Runner from "sluice/Runner"
 *
 * declare const chain: Chain.Chain
 * const program = Runner.stream(chain, { input: "data.jsonl", output: "out" }).pipe(
 *   Stream.filter((event) => event._tag === "StepError"),
 *   Stream.runForEach((event) => Effect.logWarning(event)),
 *   Effect.provide([DryRun.layer(), NodeContext.layer])
 * )
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const stream = (
  chain: Chain.Chain,
  options: Options
): Stream.Stream<Event.Event, RunnerError, FileSystem.FileSystem> => streamWith(chain, options, undefined)

/**
 * Runs a chain over a dataset (see the module description) and returns its {@link Summary}, by consuming
 * {@link stream}. Use `onEvent` to follow progress.
 *
 * @example
 * ```ts
 * import { NodeContext } from "@effect/platform-node"
 * import { Console, Effect } from "effect"
 * import type * as Chain from "sluice/Chain"
 * import * as DryRun from "sluice/engines/DryRun"
 * import * as Runner from "sluice/Runner"
 *
 * declare const chain: Chain.Chain
 * const program = Runner.run(chain, { input: "data.jsonl", output: "out", concurrency: 32 }).pipe(
 *   Effect.tap((s) => Console.log(`${s.done} done, ${s.failed} failed`)),
 *   Effect.provide([DryRun.layer(), NodeContext.layer])
 * )
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const run = (
  chain: Chain.Chain,
  options: Options
): Effect.Effect<Summary, RunnerError, FileSystem.FileSystem> =>
  Effect.suspend(() => {
    let summary: Summary | undefined
    return Stream.runDrain(streamWith(chain, options, (s) => {
      summary = s
    })).pipe(
      Effect.flatMap(() =>
        summary === undefined ? Effect.dieMessage("the run ended without a summary") : Effect.succeed(summary)
      )
    )
  }).pipe(Effect.withSpan("Runner.run", { attributes: { chain: chain.name, output: options.output } }))

/**
 * Reads a run folder: `graph.json` (required: a folder without one is `InvalidRun`), `metrics.json`, and counts of
 * the records written per step, in `flattened/` and in `errors/` (see {@link Inspection}).
 *
 * @example
 * ```ts
 * import { NodeContext } from "@effect/platform-node"
 * import { Console, Effect } from "effect"
 * import * as Runner from "sluice/Runner"
 *
 * const program = Runner.inspect("out/products").pipe(
 *   Effect.tap((i) => Console.log(`${i.flattened.records} items, ${i.errors.total} errors`)),
 *   Effect.provide(NodeContext.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const inspect = (dir: string): Effect.Effect<Inspection, RunnerError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const graphPath = join(dir, "graph.json")
    if (!(yield* fs.exists(graphPath).pipe(Effect.orElseSucceed(() => false)))) {
      return yield* new RunnerError({
        reason: "InvalidRun",
        path: dir,
        description: "no graph.json: not a run folder (or the run never started)"
      })
    }
    const graph = yield* readJson(fs, graphPath)
    const metricsPath = join(dir, "metrics.json")
    const metrics = (yield* fs.exists(metricsPath).pipe(Effect.orElseSucceed(() => false)))
      ? yield* readJson(fs, metricsPath)
      : undefined
    const hashes = Predicate.hasProperty(graph, "hashes") && typeof graph.hashes === "object" && graph.hashes !== null
      ? Object.keys(graph.hashes)
      : []
    const steps: Record<string, { records: number; files: number }> = {}
    for (const step of hashes) steps[step] = yield* countRecords(dir, step)
    // the latest error record of each item (by id, or `#index` for a malformed row), in the order written
    const latest = new Map<string, ErrorRecord>()
    yield* Writer.read({ dir, step: "errors" }).pipe(
      Stream.runForEach((record) =>
        Effect.sync(() => {
          const r = record as ErrorRecord
          const item = r._id ?? `#${r.index}`
          latest.delete(item)
          latest.set(item, r)
        })
      ),
      Effect.mapError(outputError)
    )
    const errorCount = latest.size
    let records = 0
    const files = yield* Writer.files({ dir, step: "flattened" }).pipe(Effect.mapError(outputError))
    yield* Writer.read({ dir, step: "flattened" }).pipe(
      Stream.runForEachChunk((chunk) =>
        Effect.sync(() => {
          records += chunk.length
          if (latest.size === 0) return
          for (const row of chunk) {
            if (row === null || typeof row !== "object") continue
            const r = row as Record<string, unknown>
            if (typeof r._id === "string") latest.delete(r._id)
            if (typeof r._index === "number") latest.delete(`#${r._index}`)
          }
        })
      ),
      Effect.mapError(outputError)
    )
    const flattened = { records, files: files.length }
    const byStep: Record<string, number> = {}
    const byError: Record<string, number> = {}
    for (const r of latest.values()) {
      byStep[r.step] = (byStep[r.step] ?? 0) + 1
      byError[r.error] = (byError[r.error] ?? 0) + 1
    }
    const last = [...latest.values()].slice(-10)
    const total = latest.size
    const run = Predicate.hasProperty(graph, "run") && typeof graph.run === "object" && graph.run !== null
      ? graph.run as Record<string, unknown>
      : {}
    return {
      dir,
      chain: Predicate.hasProperty(graph, "name") ? String(graph.name) : "",
      runId: typeof run.runId === "string" ? run.runId : undefined,
      status: typeof run.status === "string" ? run.status : undefined,
      cause: typeof run.cause === "string" ? run.cause : undefined,
      graph,
      metrics,
      steps,
      flattened,
      errors: { total, resolved: errorCount - total, byStep, byError, last }
    }
  }).pipe(Effect.withSpan("Runner.inspect", { attributes: { dir } }))

/**
 * Loads a chain from a module: `"path/to/module.ts:exportName"` (the path is resolved from the working directory;
 * without `:exportName`, the `default` export or the module's only exported chain). A TypeScript module that Node
 * cannot load by itself is loaded through `tsx`, an optional peer dependency (`ModuleNotFound` names it when it is
 * not installed); JavaScript modules need nothing. Fails with `ModuleNotFound`, `ExportNotFound` (listing the
 * chains the module exports), `NotAChain`, or `Chain` (the `ChainError` in `cause`) when the chain is built wrong.
 *
 * @example
 * ```ts
 * import { NodeContext } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import * as Runner from "sluice/Runner"
 *
 * const chain = Runner.loadChain("examples/chains/products.ts:chain").pipe(Effect.provide(NodeContext.layer))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const loadChain = (
  spec: string
): Effect.Effect<Chain.Chain, RunnerError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const colon = spec.lastIndexOf(":")
    const hasExport = colon > 1 && !spec.slice(colon + 1).includes("/") && !spec.slice(colon + 1).includes("\\")
    const file = hasExport ? spec.slice(0, colon) : spec
    const name = hasExport ? spec.slice(colon + 1) : undefined
    const absolute = path.resolve(file)
    if (!(yield* fs.exists(absolute).pipe(Effect.orElseSucceed(() => false)))) {
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
    const chains = Object.keys(mod).filter((key) => Chain.isChain(mod[key]))
    let chosen: string | undefined = name
    if (chosen === undefined) {
      chosen = Chain.isChain(mod.default) ? "default" : chains.length === 1 ? chains[0] : undefined
      if (chosen === undefined) {
        return yield* new RunnerError({
          reason: "ExportNotFound",
          path: file,
          description: chains.length === 0
            ? "the module exports no chain"
            : `the module exports several chains, name one as ${file}:<export> (chains exported: ${chains.join(", ")})`
        })
      }
    }
    if (!Object.hasOwn(mod, chosen)) {
      return yield* new RunnerError({
        reason: "ExportNotFound",
        path: file,
        description: `no export "${chosen}" (chains exported: ${chains.length === 0 ? "none" : chains.join(", ")})`
      })
    }
    const value = mod[chosen]
    if (!Chain.isChain(value)) {
      return yield* new RunnerError({
        reason: "NotAChain",
        path: file,
        description: `the export "${chosen}" is a ${
          value === null ? "null" : typeof value
        }, not a Chain (make it with Chain.make)`
      })
    }
    return yield* Chain.check(value).pipe(
      Effect.mapError((cause) => RunnerErrorModule.fromChainError(cause, { path: file }))
    )
  }).pipe(Effect.withSpan("Runner.loadChain", { attributes: { spec } }))

// =============================================================================
// internal: the run
// =============================================================================

const join = (dir: string, name: string): string => dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`

const outputError = (cause: WriterError): RunnerError =>
  new RunnerError({ reason: "Output", path: cause.path, description: cause.message, cause })

const inputError = (cause: DatasetError): RunnerError =>
  new RunnerError({ reason: "Input", path: cause.path, description: cause.message, cause })

const readJson = (fs: FileSystem.FileSystem, path: string): Effect.Effect<unknown, RunnerError> =>
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

const countRecords = (dir: string, step: string) =>
  Effect.gen(function*() {
    const files = yield* Writer.files({ dir, step })
    let records = 0
    yield* Stream.runForEachChunk(Writer.read({ dir, step }), (chunk) =>
      Effect.sync(() => {
        records += chunk.length
      }))
    return { records, files: files.length }
  }).pipe(Effect.mapError(outputError))

const streamWith = (
  chain: Chain.Chain,
  options: Options,
  onSummary: ((summary: Summary) => void) | undefined
): Stream.Stream<Event.Event, RunnerError, FileSystem.FileSystem> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = options.output
    yield* Chain.check(chain).pipe(
      Effect.mapError((cause) => RunnerErrorModule.fromChainError(cause))
    )
    const runId = options.runId ?? (yield* Node.makeRunId)
    const startedAt = yield* Clock.currentTimeMillis
    const resolved = yield* Chain.resolveEngines(chain, options.engines).pipe(
      Effect.mapError((cause) => RunnerErrorModule.fromChainError(cause))
    )
    const allSteps = Chain.flatSteps(chain)
    const ids = allSteps.map((s) => s.id)
    const hashes = Chain.hashes(chain, (step) => Chain.engineKey(resolved.get(step.id)))
    const io = <A>(effect: Effect.Effect<A, PlatformError>, path: string) =>
      Effect.mapError(effect, (cause) => new RunnerError({ reason: "Output", path, description: cause.message, cause }))
    yield* io(fs.makeDirectory(dir, { recursive: true }), dir)

    // ---- resume: what changed since the last run into this folder
    const graphPath = join(dir, "graph.json")
    const previous = (yield* io(fs.exists(graphPath), graphPath)) ? yield* readJson(fs, graphPath) : undefined
    const previousHashes: Record<string, unknown> =
      Predicate.hasProperty(previous, "hashes") && typeof previous.hashes === "object" && previous.hashes !== null
        ? previous.hashes as Record<string, unknown>
        : {}
    const invalidated = previous === undefined ? [] : ids.filter((id) => previousHashes[id] !== hashes[id])
    const structural = previous !== undefined &&
      (invalidated.length > 0 || Object.keys(previousHashes).some((id) => !ids.includes(id)))
    if (structural) {
      const stale = join(join(dir, ".stale"), `${startedAt}-${runId.slice(0, 8)}`)
      yield* io(fs.makeDirectory(stale, { recursive: true }), stale)
      const removed = Object.keys(previousHashes).filter((id) => !ids.includes(id))
      for (const name of [...invalidated, ...removed, "flattened"]) {
        const from = join(dir, name)
        if (yield* io(fs.exists(from), from)) yield* io(fs.rename(from, join(stale, name)), from)
      }
    }
    const engines: Record<string, string> = {}
    for (const [step, engine] of resolved) {
      engines[step] = engine.source === "registry"
        ? `registry:${engine.name}`
        : engine.name === undefined
        ? "context"
        : `context (asked for "${engine.name}")`
    }
    const description = Chain.toGraphJson(
      chain,
      options.engines === undefined ? undefined : { engines: options.engines }
    )
    const graph = {
      ...description,
      hashes,
      run: {
        runId,
        previousRunId: Predicate.hasProperty(previous, "run") && Predicate.hasProperty(previous.run, "runId")
          ? previous.run.runId
          : undefined,
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

    // ---- resume: what is already done
    const done = yield* Writer.completedIds({ dir, step: "flattened", key: "_id" }).pipe(Effect.mapError(outputError))
    const partial = new Map<string, Record<string, unknown>>()
    for (const id of ids) {
      yield* Writer.read({ dir, step: id }).pipe(
        Stream.runForEachChunk((chunk) =>
          Effect.sync(() => {
            for (const record of chunk) {
              if (record === null || typeof record !== "object") continue
              const rowId = (record as Record<string, unknown>)._id
              if (typeof rowId !== "string" || done.has(rowId)) continue
              let entry = partial.get(rowId)
              if (entry === undefined) {
                entry = {}
                partial.set(rowId, entry)
              }
              entry[id] = Records.fromStepRecord(record as Record<string, unknown>)
            }
          })
        ),
        Effect.mapError(outputError)
      )
    }
    const attempts = new Map<string, number>()
    // the items with an error record and no finished row yet (by id, or `#index` for a malformed row)
    const unresolved = new Set<string>()
    let resolvedCount = 0
    const resolve = (key: string): void => {
      if (unresolved.delete(key)) resolvedCount++
    }
    yield* Writer.read({ dir, step: "errors" }).pipe(
      Stream.runForEachChunk((chunk) =>
        Effect.sync(() => {
          for (const record of chunk) {
            const r = record as Partial<ErrorRecord>
            const item = r._id ?? `#${r.index}`
            const key = `${item}\u0000${r.step}`
            attempts.set(key, Math.max(attempts.get(key) ?? 0, typeof r.attempt === "number" ? r.attempt : 1))
            unresolved.add(item)
          }
        })
      ),
      Effect.mapError(outputError)
    )
    for (const item of unresolved) if (done.has(item)) resolve(item)
    const metricsPath = join(dir, "metrics.json")
    const previousMetrics = previous !== undefined && (yield* io(fs.exists(metricsPath), metricsPath))
      ? yield* Effect.orElseSucceed(readJson(fs, metricsPath), () => undefined)
      : undefined
    const base = Totals.fromMetrics(previousMetrics, (step) => !invalidated.includes(step))
    const baseFiltered = Math.min(base.filtered, done.size)
    const attemptOf = (id: string, step: string): number => {
      const key = `${id}\u0000${step}`
      const n = (attempts.get(key) ?? 0) + 1
      attempts.set(key, n)
      return n
    }

    // ---- input
    const datasetOptions: Dataset.Options = {
      format: options.format,
      columns: options.columns,
      key: options.key,
      limit: options.limit,
      strict: options.strict
    }
    const total = typeof options.input === "string" && options.count !== false
      ? yield* Dataset.count(options.input, datasetOptions).pipe(Effect.mapError(inputError))
      : undefined
    const items: Stream.Stream<Dataset.Item, RunnerError, FileSystem.FileSystem> = typeof options.input === "string"
      ? Stream.mapError(Dataset.stream(options.input, datasetOptions), inputError)
      : Records.recordsOf(options.input, options.key, options.limit)

    // ---- writers
    const writerOptions = (step: string): Writer.Options => ({
      dir,
      step,
      maxRows: options.rollRows,
      maxBytes: options.rollBytes,
      parquet: options.parquet,
      fsync: options.fsync
    })
    // the writers (and the files they open later) live in a scope of their own, closed only after the run's fiber
    // has stopped and sealed them
    const writerScope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    const open = (step: string) =>
      Writer.make(writerOptions(step)).pipe(Scope.extend(writerScope), Effect.mapError(outputError))
    const writers = new Map<string, Writer.Writer>()
    for (const id of ids) writers.set(id, yield* open(id))
    const flatWriter = yield* open("flattened")
    const errorWriter = yield* open("errors")

    // ---- counters and metrics
    const counters = new Map(ids.map((id) => [id, Records.newCounter()]))
    const counts = { done: 0, filtered: 0, resumed: 0, failed: 0, malformed: 0 }
    const record = Records.counting(counters)
    const summaryOf = (status: Summary["status"], now: number): Summary => {
      const steps: Record<string, StepStats> = {}
      for (const [id, c] of counters) steps[id] = Records.statsOf(c)
      return {
        runId,
        chain: chain.name,
        output: dir,
        status,
        total,
        done: counts.done,
        filtered: counts.filtered,
        resumed: counts.resumed,
        failed: counts.failed,
        malformed: counts.malformed,
        durationMs: now - startedAt,
        invalidated,
        steps,
        cumulative: {
          done: done.size - baseFiltered + counts.done,
          filtered: baseFiltered + counts.filtered,
          failed: unresolved.size,
          resolved: resolvedCount,
          durationMs: base.durationMs + now - startedAt,
          invocations: base.invocations.length + 1,
          steps: Totals.addSteps(base.steps, steps)
        }
      }
    }
    const writeMetrics = (status: Summary["status"] | "running", cause?: string | undefined) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const summary = summaryOf(status === "running" ? "success" : status, now)
        const total = summary.cumulative
        const invocation = {
          runId,
          status,
          ...(cause === undefined ? {} : { cause }),
          startedAt: new Date(startedAt).toISOString(),
          updatedAt: new Date(now).toISOString(),
          durationMs: summary.durationMs,
          items: {
            done: summary.done,
            filtered: summary.filtered,
            resumed: summary.resumed,
            failed: summary.failed,
            malformed: summary.malformed
          },
          steps: summary.steps
        }
        return Writer.writeJsonAtomic(metricsPath, {
          runId,
          chain: chain.name,
          status,
          cause,
          startedAt: base.startedAt ?? invocation.startedAt,
          updatedAt: invocation.updatedAt,
          durationMs: total.durationMs,
          items: {
            total: summary.total,
            done: total.done,
            filtered: total.filtered,
            failed: total.failed,
            resolved: total.resolved,
            malformed: counts.malformed
          },
          steps: total.steps,
          invocations: [...base.invocations, invocation].slice(-Totals.maxInvocations)
        }).pipe(Effect.mapError(outputError))
      })

    // ---- events
    const mailbox = yield* Mailbox.make<Event.Event, RunnerError>(4096)
    const userEvent = options.onEvent
    // set when the run's scope closes before the run ended (its consumer stopped, or the process is stopping): the
    // run then stops taking rows, abandons the items in flight and writes every item already finished
    let stopping = false
    const stopSignal = yield* Deferred.make<void>()
    const offer = (event: Event.Event): Effect.Effect<void> =>
      mailbox.unsafeOffer(event) || stopping ? Effect.void : Effect.asVoid(mailbox.offer(event))
    const onEvent = (event: Event.Event): Effect.Effect<void> => {
      record(event)
      return userEvent === undefined
        ? offer(event)
        : Effect.zipRight(userEvent(event), Effect.suspend(() => offer(event)))
    }
    const origin = (timestamp: number): Event.Origin => ({ runId, path: [chain.name], timestamp })

    const plan: Plan = {
      runId,
      chain: chain.name,
      output: dir,
      total,
      resumed: done.size,
      invalidated,
      steps: ids,
      engines
    }
    if (options.onStart !== undefined) yield* options.onStart(plan)
    // recorded from the start, so that an invocation killed before the first rewrite still counts
    yield* writeMetrics("running")

    // ---- the pipeline: rows -> chain -> artefacts
    const clock = yield* Effect.clock
    const threshold = options.stopAfterFailures ?? FailFast.defaultThreshold
    const inputFailures = FailFast.make(threshold)
    const itemFailures = FailFast.make(threshold)
    let stopCause: string | undefined
    const stopped = (step: string, cause: string) => {
      stopCause = cause
      return new RunnerError({
        reason: "RunFailed",
        step,
        description: `${cause} (fix the cause and run the same command again to resume)`
      })
    }
    const inputs = Stream.mapChunksEffect(items, (chunk) =>
      Effect.gen(function*() {
        const out: Array<Chain.Input> = []
        const bad: Array<ErrorRecord> = []
        const events: Array<Event.Event> = []
        let stop: string | undefined
        for (const item of chunk) {
          if (item._tag === "Malformed") {
            unresolved.add(`#${item.index}`)
            stop ??= inputFailures.fail({ step: "input", error: "Malformed", message: item.message })
            counts.malformed++
            counts.failed++
            const id = `#${item.index}`
            const timestamp = clock.unsafeCurrentTimeMillis()
            bad.push({
              _id: undefined,
              index: item.index,
              step: "input",
              error: "Malformed",
              message: item.message,
              retryable: false,
              attempt: attemptOf(id, "input"),
              tries: 1,
              input: item.raw,
              file: item.file,
              line: item.line,
              runId,
              timestamp
            })
            events.push({
              _tag: "NonFatalError",
              ...origin(timestamp),
              error: "Malformed",
              message: `${item.file}${item.line === undefined ? "" : `:${item.line}`}: ${item.message}`
            })
            continue
          }
          inputFailures.succeed()
          if (done.has(item.id)) {
            counts.resumed++
            if (unresolved.size > 0) resolve(`#${item.index}`)
            continue
          }
          out.push({ id: item.id, index: item.index, data: item.data, done: partial.get(item.id) })
        }
        if (bad.length > 0) yield* Effect.mapError(errorWriter.write(bad), outputError)
        for (const event of events) yield* onEvent(event)
        if (stop !== undefined) return yield* stopped("input", stop)
        return Chunk.unsafeFromArray(out)
      }))
    const order = new Map(ids.map((id, i) => [id, i]))
    const results = Stream.mapError(
      Chain.execute(chain, inputs, {
        runId,
        concurrency: options.concurrency,
        engines: options.engines,
        engineConcurrency: options.engineConcurrency,
        retry: options.retry,
        engineRetry: options.engineRetry,
        retryDelayMs: options.retryDelayMs,
        resolved,
        onEvent,
        stop: Deferred.await(stopSignal)
      }),
      (e) => isChainError(e) ? chainToRunner(e) : e
    )
    const persist = Stream.runForEachChunk(results, (chunk) =>
      Effect.gen(function*() {
        const byStep = new Map<string, Array<unknown>>()
        const flat: Array<unknown> = []
        const errors: Array<ErrorRecord> = []
        let stop: { readonly step: string; readonly cause: string } | undefined
        for (const r of chunk) {
          for (const id of r.computed) {
            let records = byStep.get(id)
            if (records === undefined) {
              records = []
              byStep.set(id, records)
            }
            records.push(Records.stepRecord(r.id, r.outputs[id]))
          }
          if (r.status === "failed") {
            unresolved.add(r.id)
            counts.failed++
            const f = r.failure!
            if (stop === undefined) {
              const cause = itemFailures.fail(f)
              if (cause !== undefined) stop = { step: f.step, cause }
            }
            errors.push({
              _id: r.id,
              index: r.index,
              step: f.step,
              error: f.error,
              message: f.message,
              retryable: f.retryable,
              attempt: attemptOf(r.id, f.step),
              tries: f.tries,
              input: r.input,
              runId,
              timestamp: clock.unsafeCurrentTimeMillis()
            })
            continue
          }
          itemFailures.succeed()
          if (unresolved.size > 0) {
            resolve(r.id)
            resolve(`#${r.index}`)
          }
          if (r.status === "complete") counts.done++
          else counts.filtered++
          flat.push(Records.flatRow(r, order))
        }
        for (const [id, records] of byStep) yield* writers.get(id)!.write(records)
        if (errors.length > 0) yield* errorWriter.write(errors)
        if (flat.length > 0) yield* flatWriter.write(flat)
        if (stop !== undefined) return yield* stopped(stop.step, stop.cause)
      }).pipe(Effect.catchTag("WriterError", (e) => Effect.fail(outputError(e)))))

    const finish = (exit: Exit.Exit<void, RunnerError>) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const status: Summary["status"] = Exit.isSuccess(exit)
          ? stopping ? "interrupted" : "success"
          : Exit.isInterrupted(exit)
          ? "interrupted"
          : "failure"
        const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
        const cause = stopCause !== undefined
          ? stopCause
          : Option.isSome(failure)
          ? FailFast.firstLine(failure.value.message)
          : status === "failure" && Exit.isFailure(exit)
          ? FailFast.firstLine(Cause.pretty(exit.cause))
          : undefined
        let final: Exit.Exit<void, RunnerError> = exit
        const sealed = yield* Effect.exit(Effect.all([
          Effect.forEach([...writers.values(), flatWriter, errorWriter], (w) => w.seal, { discard: true }).pipe(
            Effect.mapError(outputError)
          ),
          writeMetrics(status, cause),
          writeGraph(status, { endedAt: new Date(now).toISOString(), cause })
        ], { discard: true }))
        if (Exit.isSuccess(final) && Exit.isFailure(sealed)) final = sealed
        const summary = summaryOf(status, now)
        onSummary?.(summary)
        const end: Event.Event = {
          _tag: "RunEnd",
          ...origin(now),
          status,
          durationMs: now - startedAt,
          ...(cause === undefined ? {} : { cause })
        }
        if (userEvent !== undefined) yield* userEvent(end)
        // interrupted: the consumer may be gone, so never wait for room in the mailbox
        if (status === "interrupted") mailbox.unsafeOffer(end)
        else yield* mailbox.offer(end)
        yield* mailbox.done(final)
      })

    yield* onEvent({ _tag: "RunStart", ...origin(startedAt), name: chain.name })
    const every = Duration.millis(Math.max(100, options.metricsIntervalMs ?? 5000))
    const ticker = yield* writeMetrics("running").pipe(
      Effect.uninterruptible,
      Effect.ignore,
      Effect.repeat(Schedule.spaced(every)),
      Effect.delay(every),
      Effect.forkScoped
    )
    const running = yield* persist.pipe(
      Effect.onExit((exit) => Effect.zipRight(Fiber.interrupt(ticker), finish(exit))),
      Effect.forkScoped
    )
    // runs before the scope interrupts the run's fiber: a graceful stop first, so no finished item is lost
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        stopping = true
        return Deferred.succeed(stopSignal, undefined)
      }).pipe(Effect.zipRight(Fiber.await(running)), Effect.timeout(gracefulStop), Effect.ignore)
    )
    return Mailbox.toStream(mailbox)
  }))

/** How long a stopping run may take to write its finished items before it is interrupted. */
const gracefulStop = Duration.seconds(30)

const chainToRunner = (cause: ChainError): RunnerError => RunnerErrorModule.fromChainError(cause)
