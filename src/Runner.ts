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
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as Chain from "./Chain.js"
import type * as Dataset from "./Dataset.js"
import type * as Event from "./Event.js"
import { inspect as internalInspect } from "./internal/runner/inspect.js"
import { loadChain as internalLoadChain } from "./internal/runner/loadChain.js"
import * as Run from "./internal/runner/run.js"
import type { RunnerError } from "./RunnerError.js"

// =============================================================================
// models
// =============================================================================

/**
 * Options of a run:
 *
 * - `input`: a dataset path (see `Dataset.stream`), or an `Iterable` / `Stream` of records; `format`, `columns`,
 *   `key`, `limit`, `strict`, `split`: as in `Dataset.Options` (`key` also names the id field of records given in
 *   code; `split` picks the split of a Hugging Face folder);
 * - `output`: the run folder;
 * - `runId`, `concurrency` (items in flight, default 16), `engines` (engine names by step id), `engineConcurrency`,
 *   `retry`, `engineRetry`, `retryDelayMs`: `Chain.RunOptions`;
 * - `rollRows` (default 100,000) and `rollBytes` (default 64 MiB): when output files roll; `parquet`: also write
 *   Parquet copies; `csv`: also write CSV copies (see `Writer.Options`); `fsync`: flush every batch to the disk;
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
export interface Options extends Chain.RunOptions {
  readonly input: string | Chain.Inputs<unknown>
  readonly output: string
  readonly format?: Dataset.Format | undefined
  readonly columns?: ReadonlyArray<string> | undefined
  readonly key?: string | undefined
  readonly limit?: number | undefined
  readonly strict?: boolean | undefined
  readonly split?: string | undefined
  readonly rollRows?: number | undefined
  readonly rollBytes?: number | undefined
  readonly parquet?: boolean | undefined
  readonly csv?: boolean | undefined
  readonly fsync?: boolean | undefined
  readonly count?: boolean | undefined
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
): Stream.Stream<Event.Event, RunnerError, FileSystem.FileSystem> => Run.stream(chain, options, { forward: true })

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
    const onSummary = (s: Summary) => {
      summary = s
    }
    return Stream.runDrain(Run.stream(chain, options, { forward: false, onSummary })).pipe(
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
  internalInspect(dir).pipe(Effect.withSpan("Runner.inspect", { attributes: { dir } }))

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
  internalLoadChain(spec).pipe(Effect.withSpan("Runner.loadChain", { attributes: { spec } }))
