/**
 * Durable and distributed runs: the same `Chain` and the same `Runner.Options` as `Runner.run`, run as a workflow
 * of `@effect/workflow` on `@effect/cluster`, so that a run survives the loss of the process (or of any of several
 * runner processes) running it. The backend is one Layer:
 *
 * - {@link layerMemory}: the in-memory workflow engine (tests; not durable);
 * - {@link layerSqlite}: one process, durable on a SQLite file (SQLite is single-process: one process only may
 *   open the file);
 * - {@link layerPostgres}: N runner processes (on N machines) sharing PostgreSQL, talking over TCP; a process
 *   without `runner` is a client only (it submits and follows runs).
 *
 * **Mapping.** A run is a workflow named `sluice/<chain>@<hash>` (the hash covers the chain's configuration: a
 * changed prompt is a new workflow version) whose execution id derives from the run id. The submitter stages the
 * input rows in the store (so runners need neither the input file nor records given in code), then the run splits
 * them into chunks of `chunkSize` rows, each a child workflow (chunks spread over runners by shard), at most
 * `chunksInFlight` at once. A chunk is one activity: today's streaming `Chain.execute` over its rows with
 * `concurrency / chunksInFlight` items in flight. A replay costs O(chunks).
 *
 * **Exactly-once outputs.** An activity in flight at a crash runs again, so every output is written to the store
 * with `INSERT … ON CONFLICT DO NOTHING` keyed by (run, step, row id, step configuration hash); a chunk run again
 * skips its rows already finished and reuses the step outputs already stored. When the run completes, the
 * submitter exports the store's records to the run folder: `graph.json`, `<step>/NNN.jsonl`, `flattened/`,
 * `errors/` and `metrics.json` as `Runner.run` writes them, each row exactly once, readable by `Runner.inspect`.
 * The outputs live in the store's database (the `sluice_records` table) until {@link prune} removes them.
 *
 * **Run ids.** `options.runId`, or one derived from the chain's name and the output folder: submitting the same
 * run again attaches to it (and resumes it after a crash or a {@link kill}).
 *
 * @since 0.1.0
 */
import * as ClusterWorkflowEngine from "@effect/cluster/ClusterWorkflowEngine"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import type * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SingleRunner from "@effect/cluster/SingleRunner"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as SqlClient from "@effect/sql/SqlClient"
import type { WorkflowEngine } from "@effect/workflow/WorkflowEngine"
import * as WorkflowEngineModule from "@effect/workflow/WorkflowEngine"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import { resolve } from "node:path"
import * as Chain from "./Chain.js"
import type { ChainError } from "./ChainError.js"
import * as Dataset from "./Dataset.js"
import { DurableError } from "./DurableError.js"
import * as Progress from "./internal/durable/progress.js"
import * as Store from "./internal/durable/store.js"
import { storeError } from "./internal/durable/store.js"
import * as Submit from "./internal/durable/submit.js"
import * as Workflows from "./internal/durable/workflows.js"
import * as Inputs from "./internal/runner/inputs.js"
import * as Records from "./internal/runner/records.js"
import type * as Runner from "./Runner.js"
import { fromChainError, RunnerError } from "./RunnerError.js"

// =============================================================================
// models
// =============================================================================

/**
 * Options of a durable run: `Runner.Options`, plus
 *
 * - `chunkSize`: rows per chunk (default 1,000);
 * - `chunksInFlight`: chunks running at once over all runners (default 4); each runs `concurrency /
 *   chunksInFlight` items at once, so `concurrency` stays the run's total;
 * - `progressIntervalMs`: how often the submitter reads the run's progress from the store (default 500).
 *
 * `fsync` and `metricsIntervalMs` apply to the export only.
 *
 * @example
 * ```ts
 * import type * as Durable from "sluice/Durable"
 *
 * const options: Durable.Options = { input: "data.jsonl", output: "out", concurrency: 64, chunkSize: 500 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Runner.Options {
  readonly chunkSize?: number | undefined
  readonly chunksInFlight?: number | undefined
  readonly progressIntervalMs?: number | undefined
}

/**
 * Which backend runs durable runs: a description of the `store`, and whether this process runs the work itself
 * (`local`) or only submits it to runner processes.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Durable from "sluice/Durable"
 *
 * const where = Effect.map(Durable.Backend, (backend) => backend.local ? "here" : "on the runners")
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class Backend extends Context.Tag("sluice/Durable/Backend")<Backend, {
  readonly store: string
  readonly local: boolean
}>() {}

/**
 * What a durable run's backend needs: the workflow engine, the store's SQL client and the {@link Backend}.
 *
 * @example
 * ```ts
 * import type { Layer } from "effect"
 * import type * as Durable from "sluice/Durable"
 *
 * type Backend = Layer.Layer<Durable.Services>
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Services = WorkflowEngine | SqlClient.SqlClient | Backend

/**
 * A run as the store knows it: status (`running`, `complete`, `failed`, `killed`), attempt (submissions after a kill), input
 * rows, records per step, flattened rows and errors so far.
 *
 * @example
 * ```ts
 * import type * as Durable from "sluice/Durable"
 *
 * const progress = (s: Durable.Status) => `${s.flattened + s.errors}/${s.total}`
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Status {
  readonly runId: string
  readonly chain: string
  readonly workflow: string
  readonly status: string
  readonly attempt: number
  readonly total: number
  readonly output: string | undefined
  readonly steps: Readonly<Record<string, number>>
  readonly flattened: number
  readonly errors: number
  readonly submittedAt: number
  readonly updatedAt: number
}

// =============================================================================
// layers
// =============================================================================

// the SQL clients (and the cluster's socket transport) load when a layer needs them, so importing the module is cheap
const sqlite = (filename: string) =>
  Layer.unwrapEffect(Effect.map(
    Effect.promise(() => import("@effect/sql-sqlite-node/SqliteClient")),
    (SqliteClient) => SqliteClient.layer({ filename })
  ))

const postgres = (url: string) =>
  Layer.unwrapEffect(Effect.map(
    Effect.promise(() => import("@effect/sql-pg/PgClient")),
    (PgClient) => PgClient.layer({ url: Redacted.make(url), applicationName: "sluice" })
  ))

/**
 * The in-memory backend: `WorkflowEngine.layerMemory` and an in-memory SQLite store. Runs go through the same
 * workflows as the durable backends, in this process, and are lost with it (tests and development).
 *
 * @example
 * ```ts
 * import { NodeContext } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import type * as Chain from "sluice/Chain"
 * import * as Durable from "sluice/Durable"
 * import * as DryRun from "sluice/engines/DryRun"
 *
 * declare const chain: Chain.Chain
 * const program = Durable.run(chain, { input: "data.jsonl", output: "out" }).pipe(
 *   Effect.provide([Durable.layerMemory, DryRun.layer(), NodeContext.layer])
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<Services> = Layer.mergeAll(
  WorkflowEngineModule.layerMemory,
  Layer.orDie(sqlite(":memory:")),
  Layer.succeed(Backend, { store: "memory", local: true })
)

/**
 * One durable process on a SQLite file: the cluster's single runner, its messages and the run's records in
 * `filename`. Killed at any point, the process resumes its runs when it starts again (on the next submission of
 * the run, or any `Durable.run` that registers the chain). One process only may use the file.
 *
 * @example
 * ```ts
 * import { NodeContext } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import type * as Chain from "sluice/Chain"
 * import * as Durable from "sluice/Durable"
 * import * as DryRun from "sluice/engines/DryRun"
 *
 * declare const chain: Chain.Chain
 * const program = Durable.run(chain, { input: "data.jsonl", output: "out" }).pipe(
 *   Effect.provide([Durable.layerSqlite({ filename: "runs.db" }), DryRun.layer(), NodeContext.layer])
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSqlite = (options: { readonly filename: string }): Layer.Layer<Services, DurableError> =>
  ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(SingleRunner.layer({
      runnerStorage: "memory",
      shardingConfig: { entityMessagePollInterval: "200 millis", entityReplyPollInterval: "50 millis" }
    })),
    Layer.provideMerge(sqlite(options.filename)),
    Layer.merge(Layer.succeed(Backend, { store: `sqlite:${options.filename}`, local: true })),
    Layer.mapError((cause) =>
      new DurableError({ reason: "Store", description: `cannot open ${options.filename}: ${String(cause)}`, cause })
    )
  )

/**
 * N processes sharing PostgreSQL (`url`, e.g. `postgres://user@host:5432/db`). With `runner`, this process is a
 * runner listening on `runner.host:runner.port` (other runners reach it there: use an address they can reach);
 * without it, a client that submits runs to the runners. Shards (and so runs and chunks) fail over to the other
 * runners when a runner dies, after its shard locks expire (`shardLockExpiration`, here 10 s by default).
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import * as Durable from "sluice/Durable"
 * import * as DryRun from "sluice/engines/DryRun"
 *
 * // a runner process
 * const runner = Durable.serve([]).pipe(
 *   Layer.provide(Durable.layerPostgres({ url: "postgres://localhost/sluice", runner: { host: "10.0.0.5", port: 34431 } })),
 *   Layer.provide(DryRun.layer())
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerPostgres = (options: {
  readonly url: string
  readonly runner?: { readonly host: string; readonly port: number } | undefined
  readonly shardingConfig?: Partial<ShardingConfig.ShardingConfig["Type"]> | undefined
}): Layer.Layer<Services, DurableError> => {
  const shardingConfig: Partial<ShardingConfig.ShardingConfig["Type"]> = {
    shardLockRefreshInterval: "2 seconds",
    shardLockExpiration: "10 seconds",
    entityMessagePollInterval: "500 millis",
    entityReplyPollInterval: "500 millis",
    ...options.shardingConfig,
    runnerAddress: options.runner === undefined
      ? Option.none()
      : Option.some(RunnerAddress.make(options.runner.host, options.runner.port))
  }
  const cluster = Store.retryMigrationRace(Layer.unwrapEffect(Effect.map(
    Effect.promise(() => import("@effect/platform-node/NodeClusterSocket")),
    (NodeClusterSocket) =>
      options.runner === undefined
        ? NodeClusterSocket.layer({ storage: "sql", clientOnly: true, shardingConfig })
        : NodeClusterSocket.layer({ storage: "sql", shardingConfig })
  )))
  return ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(cluster),
    Layer.provideMerge(postgres(options.url)),
    Layer.merge(Layer.succeed(Backend, { store: redactUrl(options.url), local: options.runner !== undefined })),
    Layer.mapError((cause) =>
      new DurableError({
        reason: "Store",
        description: `PostgreSQL ${redactUrl(options.url)}: ${String(cause)}`,
        cause
      })
    )
  )
}

/**
 * Registers chains with the backend for the life of the layer: a runner process serves the chains it was given
 * (every runner must serve the chains its runs use, with the same configuration). `maxChunks` bounds the chunks
 * this process runs at once.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import type * as Chain from "sluice/Chain"
 * import * as Durable from "sluice/Durable"
 * import * as DryRun from "sluice/engines/DryRun"
 *
 * declare const chain: Chain.Chain
 * const runner = Durable.serve([chain]).pipe(
 *   Layer.provide(Durable.layerPostgres({ url: "postgres://localhost/sluice", runner: { host: "127.0.0.1", port: 34431 } })),
 *   Layer.provide(DryRun.layer())
 * )
 * // Layer.launch(runner) runs until interrupted; shutting down hands its shards to the other runners
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const serve = (
  chains: ReadonlyArray<Chain.Chain>,
  options?: { readonly maxChunks?: number | undefined } | undefined
): Layer.Layer<never, DurableError | RunnerError, Services> =>
  Layer.scopedDiscard(Effect.gen(function*() {
    yield* Store.migrate.pipe(Effect.mapError(storeError(undefined)))
    const permits = options?.maxChunks === undefined
      ? undefined
      : yield* Effect.makeSemaphore(Math.max(1, Math.floor(options.maxChunks)))
    for (const chain of chains) {
      yield* Chain.check(chain).pipe(Effect.mapError(invalidChain))
      yield* Workflows.register(chain, Workflows.make(chain, versionOf(chain)), permits)
    }
  }))

/**
 * The store's SQL client alone, for {@link status}, {@link kill} and {@link prune} from a process that neither
 * runs nor submits: `store` is a PostgreSQL URL (`postgres://…`) or a SQLite file.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Durable from "sluice/Durable"
 *
 * const program = Durable.status("run-1").pipe(Effect.provide(Durable.layerSql("postgres://localhost/sluice")))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql = (store: string): Layer.Layer<SqlClient.SqlClient, DurableError> =>
  (/^postgres(ql)?:\/\//.test(store)
    ? Layer.mapError(
      postgres(store),
      (cause) =>
        new DurableError({ reason: "Store", description: `PostgreSQL ${redactUrl(store)}: ${cause.message}`, cause })
    )
    : Layer.mapError(
      sqlite(store.replace(/^sqlite:/, "")),
      (cause) => new DurableError({ reason: "Store", description: `cannot open ${store}: ${String(cause)}`, cause })
    )).pipe(Layer.map((context) => Context.make(SqlClient.SqlClient, Context.get(context, SqlClient.SqlClient))))

// =============================================================================
// running
// =============================================================================

/**
 * Runs a chain durably on the backend in context (see the module description) and returns the same `Summary` as
 * `Runner.run`, after exporting the run's records into `options.output`. `onStart` and `onEvent` see the run's
 * progress as the store records it (per step `StepEnd` / `StepError` events, without outputs). When the backend
 * is local, this process runs the work; otherwise runner processes do, and this one follows.
 *
 * @example
 * ```ts
 * import { NodeContext } from "@effect/platform-node"
 * import { Console, Effect } from "effect"
 * import type * as Chain from "sluice/Chain"
 * import * as Durable from "sluice/Durable"
 * import * as DryRun from "sluice/engines/DryRun"
 *
 * declare const chain: Chain.Chain
 * const program = Durable.run(chain, { input: "data.jsonl", output: "out", concurrency: 64 }).pipe(
 *   Effect.tap((s) => Console.log(`${s.done} done, ${s.failed} failed`)),
 *   Effect.provide([Durable.layerSqlite({ filename: "runs.db" }), DryRun.layer(), NodeContext.layer])
 * )
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const run = (
  chain: Chain.Chain,
  options: Options
): Effect.Effect<Runner.Summary, RunnerError | DurableError, FileSystem.FileSystem | Services> =>
  Effect.scoped(Effect.gen(function*() {
    const { backend, flatHash, hashes, ids, resolved, runId, startedAt, workflows } = yield* prepare(chain, options)
    const orStore = storeError(runId)

    // ---- the run's row, and its input staged once
    const sizes = Submit.sizesOf(options)
    const { attempt, existing, total } = yield* Submit.register({
      runId,
      chain,
      workflow: workflows.name,
      options,
      sizes,
      hashes,
      flatHash,
      startedAt,
      stage: stage(runId, options)
    })

    // ---- progress from the store
    const kindHashes: Record<string, string> = { ...hashes, flattened: flatHash }
    const stepOfHash = new Map(Object.entries(hashes).map(([step, hash]) => [hash, step]))
    const baseline = yield* Store.counts(runId, kindHashes).pipe(Effect.mapError(orStore))
    const resumed = baseline.flattened ?? 0
    const engines = Object.fromEntries([...resolved].map(([step, e]) => [step, Chain.engineKey(e) ?? "context"]))
    const plan: Runner.Plan = {
      runId,
      chain: chain.name,
      output: options.output,
      total,
      resumed,
      invalidated: [],
      steps: ids,
      engines
    }
    if (options.onStart !== undefined) yield* options.onStart(plan)
    const emit = options.onEvent ?? (() => Effect.void)
    const origin = (timestamp: number) => ({ runId, timestamp })
    yield* emit({ _tag: "RunStart", ...origin(startedAt), path: [chain.name], name: chain.name })
    const follow = yield* Progress.follower({ runId, chain: chain.name, ids, kindHashes, stepOfHash, baseline, emit })
    const follower = yield* follow.pipe(
      Effect.repeat(Schedule.spaced(Duration.millis(Math.max(50, options.progressIntervalMs ?? 500)))),
      Effect.forkScoped
    )

    // ---- the run
    const exit = yield* workflows.run.execute({
      runId,
      attempt,
      total,
      chunkSize: sizes.chunkSize,
      chunksInFlight: sizes.chunksInFlight,
      settings: Submit.settingsOf(options, sizes, hashes, flatHash)
    }).pipe(Effect.exit)
    yield* Fiber.interrupt(follower)
    yield* follow
    const stats = exit._tag === "Success" ? exit.value : {}
    const status = Submit.statusOf(exit)

    // ---- export, summary
    const { now, summary } = yield* Submit.conclude({
      chain,
      options,
      runId,
      status,
      ids,
      stats,
      hashes,
      flatHash,
      stepOfHash,
      total,
      resumed,
      startedAt,
      firstStartedAt: existing?.submittedAt ?? startedAt,
      attempt,
      workflow: workflows.name,
      store: backend.store,
      sizes,
      engines
    })
    yield* emit({ _tag: "RunEnd", ...origin(now), path: [chain.name], status, durationMs: now - startedAt })
    if (exit._tag === "Failure") return yield* Submit.failed(runId, exit.cause, now)
    return summary
  })).pipe(Effect.withSpan("Durable.run", { attributes: { chain: chain.name, output: options.output } }))

/**
 * Reads a run's status from the store (any process can: a client, a runner, another machine).
 *
 * @example
 * ```ts
 * import { Console, Effect } from "effect"
 * import * as Durable from "sluice/Durable"
 *
 * const program = Durable.status("run-1").pipe(Effect.tap((s) => Console.log(s.status)))
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const status = (runId: string): Effect.Effect<Status, DurableError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    yield* Store.migrate
    const run = yield* Store.getRun(runId)
    if (run === undefined) {
      return yield* new DurableError({ reason: "UnknownRun", runId, description: "no such run in the store" })
    }
    const hashes = (run.info.hashes ?? {}) as Record<string, string>
    const counts = yield* Store.counts(runId, { ...hashes, flattened: String(run.info.flatHash) })
    const steps: Record<string, number> = {}
    for (const id of Object.keys(hashes)) steps[id] = counts[id] ?? 0
    return {
      runId,
      chain: run.chain,
      workflow: run.workflow,
      status: run.status,
      attempt: run.attempt,
      total: run.total,
      output: typeof run.info.output === "string" ? run.info.output : undefined,
      steps,
      flattened: counts.flattened ?? 0,
      errors: counts.errors ?? 0,
      submittedAt: run.submittedAt,
      updatedAt: run.updatedAt
    }
  }).pipe(Effect.catchTag("SqlError", (e) => Effect.fail(storeError(runId)(e))))

/**
 * Kills a run from any process: its chunks stop within about a second wherever they run (the items in flight are
 * lost, everything written stays), and its submitter returns `DurableError` `Killed`. Submitting the run again
 * resumes it. Fails with `UnknownRun` when the store has no such run.
 *
 * @example
 * ```ts
 * import * as Durable from "sluice/Durable"
 *
 * const program = Durable.kill("run-1")
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const kill = (runId: string): Effect.Effect<void, DurableError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    yield* Store.migrate
    const run = yield* Store.getRun(runId)
    if (run === undefined) {
      return yield* new DurableError({ reason: "UnknownRun", runId, description: "no such run in the store" })
    }
    yield* Store.setStatus(runId, "killed", yield* Clock.currentTimeMillis)
  }).pipe(Effect.catchTag("SqlError", (e) => Effect.fail(storeError(runId)(e))))

/**
 * Retention: deletes the runs finished (`complete`, `failed` or `killed`) more than `olderThan` ago: their workflow
 * messages and replies (the engine never prunes them), staged inputs and stored records. Export a run (by
 * submitting it again) before pruning it if its folder is gone. Returns the runs and engine messages deleted.
 *
 * @example
 * ```ts
 * import * as Durable from "sluice/Durable"
 *
 * const program = Durable.prune({ olderThan: "7 days" })
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const prune = (options: {
  readonly olderThan: Duration.DurationInput
}): Effect.Effect<{ readonly runs: number; readonly messages: number }, DurableError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    yield* Store.migrate
    const now = yield* Clock.currentTimeMillis
    const limit = now - Duration.toMillis(options.olderThan)
    let runs = 0
    let messages = 0
    for (const run of yield* Store.listRuns) {
      if (run.status === "running" || run.updatedAt > limit) continue
      const chunkSize = typeof run.info.chunkSize === "number" ? run.info.chunkSize : 1000
      for (let attempt = 1; attempt <= run.attempt; attempt++) {
        const executions = yield* Workflows.executionIds(
          run.workflow,
          run.runId,
          attempt,
          Workflows.chunkCount(run.total, chunkSize)
        )
        messages += yield* Store.deleteExecutions(executions).pipe(
          Effect.catchTag("SqlError", () => Effect.succeed(0))
        )
      }
      yield* Store.deleteRun(run.runId)
      runs++
    }
    return { runs, messages }
  }).pipe(Effect.catchTag("SqlError", (e) => Effect.fail(storeError(undefined)(e))))

// =============================================================================
// internal
// =============================================================================

const digest = (text: string): string => createHash("sha256").update(text).digest("hex")

/** The chain's version: its steps' configuration hashes, engines left out (the runners resolve their own). */
const versionOf = (chain: Chain.Chain): string =>
  digest(JSON.stringify(Chain.hashes(chain, () => undefined))).slice(0, 12)

const redactUrl = (url: string): string => url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@")

const invalidChain = (cause: ChainError): RunnerError => fromChainError(cause)

/** Checks the chain, resolves its engines and hashes, and makes sure the store and (locally) the workflows exist. */
const prepare = (chain: Chain.Chain, options: Options) =>
  Effect.gen(function*() {
    yield* Chain.check(chain).pipe(Effect.mapError(invalidChain))
    const backend = yield* Backend
    const startedAt = yield* Clock.currentTimeMillis
    const resolved = yield* Chain.resolveEngines(chain, options.engines).pipe(
      Effect.mapError((cause) => fromChainError(cause))
    )
    const ids = Chain.flatSteps(chain).map((step) => step.id)
    const hashes = Chain.hashes(chain, (step) => Chain.engineKey(resolved.get(step.id)))
    const flatHash = digest(JSON.stringify(hashes))
    const workflows = Workflows.make(chain, versionOf(chain))
    const runId = options.runId ?? `run-${digest(`${chain.name}\u0000${resolve(options.output)}`).slice(0, 16)}`
    yield* Store.migrate.pipe(Effect.mapError(storeError(runId)))
    if (backend.local) yield* Workflows.register(chain, workflows)
    return { backend, flatHash, hashes, ids, resolved, runId, startedAt, workflows }
  })

/** Stages the input rows (idempotent); malformed rows become error records. Returns the number of input items. */
const stage = (
  runId: string,
  options: Options
): Effect.Effect<number, RunnerError | DurableError, FileSystem.FileSystem | SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const items: Stream.Stream<Dataset.Item, RunnerError, FileSystem.FileSystem> = typeof options.input === "string"
      ? Stream.mapError(
        Dataset.stream(options.input, Inputs.datasetOptions(options)),
        (cause) => new RunnerError({ reason: "Input", path: cause.path, description: cause.message, cause })
      )
      : Records.recordsOf(options.input, options.key, options.limit)
    let total = 0
    const clock = yield* Effect.clock
    yield* items.pipe(
      Stream.grouped(1000),
      Stream.runForEach((chunk) => {
        const rows: Array<Store.InputRow> = []
        const bad: Array<Store.StoredRecord> = []
        for (const item of chunk) {
          total = Math.max(total, item.index + 1)
          if (item._tag === "Row") rows.push({ idx: item.index, rowId: item.id, data: item.data })
          else {
            const record = Records.malformedRecord(item, runId, 1, clock.unsafeCurrentTimeMillis())
            bad.push({ kind: "errors", rowId: `#${item.index}`, hash: "input", idx: item.index, record })
          }
        }
        return Effect.zipRight(Store.putInputs(runId, rows), Store.putRecords(runId, bad)).pipe(
          Effect.mapError(storeError(runId))
        )
      })
    )
    return total
  })
