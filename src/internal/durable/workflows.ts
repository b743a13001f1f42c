/**
 * A chain as two workflows: the run (`sluice/<chain>@<hash>`) plans the staged input into chunks and executes one
 * child workflow per chunk (`…/chunk`, at most `chunksInFlight` at once); a chunk runs one activity that streams its
 * rows through `Chain.execute` and writes every output idempotently to the store. The run's body is deterministic
 * (its only inputs are the payload and the children's replies), so a replay costs O(chunks).
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Activity from "@effect/workflow/Activity"
import * as Workflow from "@effect/workflow/Workflow"
import { WorkflowEngine } from "@effect/workflow/WorkflowEngine"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Chain from "../../Chain.js"
import * as Metrics from "../runner/metrics.js"
import * as Records from "../runner/records.js"
import * as Store from "./store.js"

/** What every chunk needs to run its rows as the submitter asked. */
export const Settings = Schema.Struct({
  concurrency: Schema.Number,
  engines: Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.String })),
  engineConcurrency: Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.Number })),
  retry: Schema.Number,
  engineRetry: Schema.optional(Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.Number }))),
  retryDelayMs: Schema.NullOr(Schema.Number),
  hashes: Schema.Record({ key: Schema.String, value: Schema.String }),
  flatHash: Schema.String
})

/** The settings of a run. */
export interface Settings extends Schema.Schema.Type<typeof Settings> {}

/** A step's counters as a chunk reports them (latency samples subsampled). */
export const Counter = Schema.Struct({
  done: Schema.Number,
  filtered: Schema.Number,
  errors: Schema.Number,
  retries: Schema.Number,
  seen: Schema.Number,
  sum: Schema.Number,
  max: Schema.Number,
  input: Schema.Number,
  output: Schema.Number,
  total: Schema.Number,
  samples: Schema.Array(Schema.Number)
})

/** Per-step counters of a chunk or of a whole run. */
export const Stats = Schema.Record({ key: Schema.String, value: Counter })

/** Per-step counters. */
export type Stats = typeof Stats.Type

/** A chunk that could not run (not a failed item: those are recorded in `errors`). */
export class ChunkFailed extends Schema.TaggedError<ChunkFailed>("sluice/ChunkFailed")("ChunkFailed", {
  runId: Schema.String,
  chunk: Schema.Number,
  killed: Schema.Boolean,
  message: Schema.String
}) {}

const SAMPLES_PER_CHUNK = 256

/** The two workflows of one chain version. */
export const make = (chain: Chain.Chain, chainHash: string) => {
  const name = `sluice/${chain.name}@${chainHash}`
  const run = Workflow.make({
    name,
    payload: {
      runId: Schema.String,
      attempt: Schema.Number,
      total: Schema.Number,
      chunkSize: Schema.Number,
      chunksInFlight: Schema.Number,
      settings: Settings
    },
    success: Stats,
    error: ChunkFailed,
    idempotencyKey: (p) => `${p.runId}#${p.attempt}`
  })
  const chunk = Workflow.make({
    name: `${name}/chunk`,
    payload: {
      runId: Schema.String,
      attempt: Schema.Number,
      chunk: Schema.Number,
      from: Schema.Number,
      to: Schema.Number,
      settings: Settings
    },
    success: Stats,
    error: ChunkFailed,
    idempotencyKey: (p) => `${p.runId}#${p.attempt}/${p.chunk}`
  })
  return { name, run, chunk } as const
}

/** The workflows of a chain version. */
export type Workflows = ReturnType<typeof make>

/** The execution ids of a run attempt and of its chunks (for retention). */
export const executionIds = (
  name: string,
  runId: string,
  attempt: number,
  chunks: number
): Effect.Effect<ReadonlyArray<string>> => {
  const key = Workflow.make({ name, payload: { key: Schema.String }, idempotencyKey: (p) => p.key })
  const child = Workflow.make({ name: `${name}/chunk`, payload: { key: Schema.String }, idempotencyKey: (p) => p.key })
  return Effect.all([
    key.executionId({ key: `${runId}#${attempt}` }),
    ...Array.from({ length: chunks }, (_, i) => child.executionId({ key: `${runId}#${attempt}/${i}` }))
  ])
}

/** A workflow of a given name, for interrupting an execution without the chain at hand. */
export const byName = (name: string) =>
  Workflow.make({ name, payload: { key: Schema.String }, idempotencyKey: (p) => p.key })

export const chunkCount = (total: number, chunkSize: number): number => Math.ceil(total / chunkSize)

/**
 * Registers the chain's workflows with the engine for the life of the scope. The handlers run with the services
 * of the registering fiber (the store's `SqlClient`, the `EngineRegistry` or `LanguageModel` for the chain's LLM
 * steps) under those the engine provides.
 */
export const register = (
  chain: Chain.Chain,
  workflows: Workflows,
  permits?: Effect.Semaphore | undefined
): Effect.Effect<void, never, Scope.Scope | WorkflowEngine | SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const engine = yield* WorkflowEngine
    const captured = Context.omit(Scope.Scope)(yield* Effect.context<never>())
    const withCaptured = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.mapInputContext(
        effect as Effect.Effect<A, E>,
        (current: Context.Context<never>) => Context.merge(captured, current)
      ) as Effect.Effect<A, E, Exclude<R, SqlClient.SqlClient>>
    yield* engine.register(workflows.run, (p) =>
      Effect.gen(function*() {
        const chunks = chunkCount(p.total, p.chunkSize)
        const stats = yield* Effect.forEach(
          Array.from({ length: chunks }, (_, i) => i),
          (i) =>
            workflows.chunk.execute({
              runId: p.runId,
              attempt: p.attempt,
              chunk: i,
              from: i * p.chunkSize,
              to: Math.min(p.total, (i + 1) * p.chunkSize),
              settings: p.settings
            }),
          { concurrency: Math.max(1, p.chunksInFlight) }
        )
        yield* Activity.make({
          name: "finish",
          execute: withCaptured(Effect.orDie(Effect.flatMap(
            Effect.clockWith((clock) => clock.currentTimeMillis),
            (now) => Store.setStatus(p.runId, "complete", now)
          )))
        })
        return merge(stats)
      }))
    yield* engine.register(workflows.chunk, (p) =>
      Activity.make({
        name: "rows",
        success: Stats,
        error: ChunkFailed,
        execute: withCaptured(permits === undefined ? chunkRows(chain, p) : permits.withPermits(1)(chunkRows(chain, p)))
      }))
  })

const watchKill = (runId: string, chunk: number) =>
  Store.statusOf(runId).pipe(
    Effect.orElseSucceed(() => "running"),
    Effect.repeat({ schedule: Schedule.spaced("1 second"), until: (status) => status === "killed" }),
    Effect.zipRight(Effect.fail(new ChunkFailed({ runId, chunk, killed: true, message: "the run was killed" })))
  )

/** A chunk's rows through the chain, outputs written to the store; rows already finished are skipped. */
const chunkRows = (
  chain: Chain.Chain,
  p: {
    readonly runId: string
    readonly chunk: number
    readonly from: number
    readonly to: number
    readonly settings: Settings
  }
): Effect.Effect<Stats, ChunkFailed, SqlClient.SqlClient> => {
  const failed = (message: string) => new ChunkFailed({ runId: p.runId, chunk: p.chunk, killed: false, message })
  const s = p.settings
  const work = Effect.gen(function*() {
    if ((yield* Store.statusOf(p.runId)) === "killed") {
      return yield* new ChunkFailed({ runId: p.runId, chunk: p.chunk, killed: true, message: "the run was killed" })
    }
    const resolved = yield* Chain.resolveEngines(chain, s.engines ?? undefined).pipe(
      Effect.mapError((e) => failed(e.message))
    )
    const hashes = Chain.hashes(chain, (step) => Chain.engineKey(resolved.get(step.id)))
    for (const [step, hash] of Object.entries(s.hashes)) {
      if (hashes[step] !== hash) {
        return yield* failed(
          `step ${step}: this runner's configuration differs from the submitter's (its engines resolve differently, ` +
            `or it loaded another version of the chain)`
        )
      }
    }
    const ids = Chain.flatSteps(chain).map((step) => step.id)
    const order = new Map(ids.map((id, i) => [id, i]))
    const rows = yield* Store.inputs(p.runId, p.from, p.to)
    const done = new Set((yield* Store.records(p.runId, "flattened", [s.flatHash], p.from, p.to)).map((r) => r.rowId))
    const partial = new Map<string, Record<string, unknown>>()
    for (const id of ids) {
      for (const r of yield* Store.records(p.runId, id, [s.hashes[id]!], p.from, p.to)) {
        if (done.has(r.rowId)) continue
        let entry = partial.get(r.rowId)
        if (entry === undefined) {
          entry = {}
          partial.set(r.rowId, entry)
        }
        entry[id] = Records.fromStepRecord(r.record as Record<string, unknown>)
      }
    }
    const inputs: Array<Chain.Input> = []
    for (const row of rows) {
      if (!done.has(row.rowId)) {
        inputs.push({ id: row.rowId, index: row.idx, data: row.data, done: partial.get(row.rowId) })
      }
    }
    const counters = new Map(ids.map((id) => [id, Metrics.newCounter()]))
    const count = Metrics.counting(counters)
    const clock = yield* Effect.clock
    yield* Chain.execute(chain, Stream.fromIterable(inputs), {
      runId: p.runId,
      concurrency: s.concurrency,
      engines: s.engines ?? undefined,
      engineConcurrency: s.engineConcurrency ?? undefined,
      retry: s.retry,
      engineRetry: s.engineRetry ?? undefined,
      retryDelayMs: s.retryDelayMs ?? undefined,
      resolved,
      onEvent: (event) => Effect.sync(() => count(event))
    }).pipe(
      Stream.groupedWithin(512, "200 millis"),
      Stream.runForEach((results) => {
        const out: Array<Store.StoredRecord> = []
        for (const r of results) {
          for (const id of r.computed) {
            out.push({
              kind: id,
              rowId: r.id,
              hash: s.hashes[id]!,
              idx: r.index,
              record: Records.stepRecord(r.id, r.outputs[id])
            })
          }
          if (r.status === "failed") {
            const record = Records.failedRecord(r, p.runId, 1, clock.unsafeCurrentTimeMillis())
            out.push({ kind: "errors", rowId: r.id, hash: s.hashes[record.step] ?? record.step, idx: r.index, record })
          } else {
            out.push({
              kind: "flattened",
              rowId: r.id,
              hash: s.flatHash,
              idx: r.index,
              record: Records.flatRow(r, order)
            })
          }
        }
        return Store.putRecords(p.runId, out)
      }),
      Effect.mapError((e) => (e instanceof ChunkFailed ? e : failed(`the store failed: ${e.message}`)))
    )
    return toStats(counters)
  }).pipe(
    Effect.scoped,
    Effect.catchTag("SqlError", (e) => Effect.fail(failed(`the store failed: ${e.message}`)))
  )
  return Effect.raceFirst(work, watchKill(p.runId, p.chunk))
}

const subsample = (samples: ReadonlyArray<number>, n: number): ReadonlyArray<number> => {
  if (samples.length <= n) return samples
  const out: Array<number> = []
  for (let i = 0; i < n; i++) out.push(samples[Math.floor((i * samples.length) / n)]!)
  return out
}

const toStats = (counters: ReadonlyMap<string, Metrics.StepCounter>): Stats => {
  const out: Record<string, typeof Counter.Type> = {}
  for (const [id, c] of counters) out[id] = { ...c, samples: subsample(c.samples, SAMPLES_PER_CHUNK) }
  return out
}

/** Sums per-step counters (samples concatenated, then subsampled to the runner's reservoir size). */
export const merge = (all: ReadonlyArray<Stats>): Stats => {
  const out: Record<string, Metrics.StepCounter> = {}
  for (const stats of all) {
    for (const [id, c] of Object.entries(stats)) {
      const m = out[id] ??= Metrics.newCounter()
      m.done += c.done
      m.filtered += c.filtered
      m.errors += c.errors
      m.retries += c.retries
      m.seen += c.seen
      m.sum += c.sum
      m.max = Math.max(m.max, c.max)
      m.input += c.input
      m.output += c.output
      m.total += c.total
      m.samples.push(...c.samples)
    }
  }
  const result: Record<string, typeof Counter.Type> = {}
  for (const [id, c] of Object.entries(out)) result[id] = { ...c, samples: subsample(c.samples, Metrics.RESERVOIR) }
  return result
}
