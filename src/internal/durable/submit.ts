/**
 * The start and the end of a durable run on the submitter's side: the run's row in the store (a new run, or the
 * attempt an earlier submission continues or starts again), its input staged once, and what a failed run becomes.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Chain from "../../Chain.js"
import type { Options } from "../../Durable.js"
import { DurableError } from "../../DurableError.js"
import type * as Runner from "../../Runner.js"
import * as Retry from "../retry.js"
import * as Export from "./export.js"
import * as Progress from "./progress.js"
import * as Store from "./store.js"
import { storeError } from "./store.js"
import type { ChunkFailed, Settings, Stats } from "./workflows.js"

/** The run's sizes from its options: whole numbers, at least 1. */
export interface Sizes {
  readonly chunkSize: number
  readonly chunksInFlight: number
  readonly concurrency: number
}

const atLeastOne = (n: number) => Math.max(1, Math.floor(n))

/** The run's sizes (defaults: chunks of 1000, 4 in flight, 16 items at once). */
export const sizesOf = (options: Options): Sizes => ({
  chunkSize: atLeastOne(options.chunkSize ?? 1000),
  chunksInFlight: atLeastOne(options.chunksInFlight ?? 4),
  concurrency: atLeastOne(options.concurrency ?? 16)
})

/** What the run's row records of its settings (`info`), read back by `status` and the run folder. */
const infoOf = (options: Options, sizes: Sizes, hashes: Readonly<Record<string, string>>, flatHash: string) => ({
  input: typeof options.input === "string" ? options.input : "(records given in code)",
  output: options.output,
  ...sizes,
  hashes,
  flatHash,
  options: {
    format: options.format,
    columns: options.columns,
    key: options.key,
    limit: options.limit,
    strict: options.strict ?? false,
    engines: options.engines,
    engineConcurrency: options.engineConcurrency,
    retry: options.retry ?? Retry.defaultTimes,
    engineRetry: options.engineRetry
  }
})

/** A submitted run as the store holds it. */
export interface Registered {
  /** The row an earlier submission left, if any. */
  readonly existing: Store.RunRow | undefined
  /** The attempt this submission runs: the same as before, or the next one after a kill, a failure or a new version. */
  readonly attempt: number
  /** The number of input items. */
  readonly total: number
}

/**
 * Writes the run's row (keeping a completed run complete) and stages its input unless an earlier submission did:
 * `stage` stages it and returns the number of input items.
 */
export const register = <E, R>(run: {
  readonly runId: string
  readonly chain: Chain.Chain
  readonly workflow: string
  readonly options: Options
  readonly sizes: Sizes
  readonly hashes: Readonly<Record<string, string>>
  readonly flatHash: string
  readonly startedAt: number
  readonly stage: Effect.Effect<number, E, R>
}): Effect.Effect<Registered, E | DurableError, R | SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const orStore = storeError(run.runId)
    const existing = yield* Store.getRun(run.runId).pipe(Effect.mapError(orStore))
    const sameVersion = existing !== undefined && existing.workflow === run.workflow
    const attempt = existing === undefined
      ? 1
      : sameVersion && existing.status !== "killed" && existing.status !== "failed"
      ? existing.attempt
      : existing.attempt + 1
    const info = infoOf(run.options, run.sizes, run.hashes, run.flatHash)
    let total = existing?.total ?? 0
    const row = (staged: boolean): Store.RunRow => ({
      runId: run.runId,
      chain: run.chain.name,
      workflow: run.workflow,
      attempt,
      status: existing !== undefined && sameVersion && existing.status === "complete" ? "complete" : "running",
      total,
      staged,
      submittedAt: existing?.submittedAt ?? run.startedAt,
      updatedAt: run.startedAt,
      info
    })
    yield* Store.putRun(row(existing?.staged ?? false)).pipe(Effect.mapError(orStore))
    if (existing?.staged !== true) {
      total = yield* run.stage
      yield* Store.putRun(row(true)).pipe(Effect.mapError(orStore))
    }
    return { existing, attempt, total }
  })

/**
 * What a run whose workflow failed fails with: `Killed` or `ChunkFailed` (a failed attempt is marked so, and the
 * next submission starts a new attempt reusing every stored row); interruption and defects pass through.
 */
export const failed = (
  runId: string,
  cause: Cause.Cause<ChunkFailed>,
  now: number
): Effect.Effect<never, DurableError, SqlClient.SqlClient> => {
  const error = Cause.failureOption(cause)
  if (error._tag === "None") return Cause.isInterruptedOnly(cause) ? Effect.interrupt : Effect.die(Cause.squash(cause))
  const { chunk, killed, message } = error.value
  return Effect.zipRight(
    killed ? Effect.void : Effect.ignore(Store.setStatus(runId, "failed", now, true)),
    new DurableError({
      reason: killed ? "Killed" : "ChunkFailed",
      runId,
      description: killed ? "the run was killed (submit it again to resume)" : `chunk ${chunk}: ${message}`
    })
  )
}

/** The settings every chunk of the run gets: engines, retries, the step hashes, its share of the concurrency. */
export const settingsOf = (
  options: Options,
  sizes: Sizes,
  hashes: Readonly<Record<string, string>>,
  flatHash: string
): typeof Settings.Type => ({
  concurrency: Math.max(1, Math.ceil(sizes.concurrency / sizes.chunksInFlight)),
  engines: options.engines ?? null,
  engineConcurrency: options.engineConcurrency ?? null,
  retry: options.retry ?? Retry.defaultTimes,
  engineRetry: options.engineRetry ?? null,
  retryDelayMs: options.retryDelayMs ?? null,
  hashes,
  flatHash
})

/** The run's status from its workflow's exit: a kill is an interruption, any other failure a failure. */
export const statusOf = (exit: Exit.Exit<unknown, ChunkFailed>): Runner.Summary["status"] => {
  if (Exit.isSuccess(exit)) return "success"
  const failure = Cause.failureOption(exit.cause)
  return failure._tag === "Some" && failure.value.killed ? "interrupted" : "failure"
}

/** Summarizes a finished run from the store's counts and writes its run folder; returns the summary and its time. */
export const conclude = (run: {
  readonly chain: Chain.Chain
  readonly options: Options
  readonly runId: string
  readonly status: Runner.Summary["status"]
  readonly ids: ReadonlyArray<string>
  readonly stats: Stats
  readonly hashes: Readonly<Record<string, string>>
  readonly flatHash: string
  readonly stepOfHash: ReadonlyMap<string, string>
  readonly total: number
  readonly resumed: number
  readonly startedAt: number
  readonly firstStartedAt: number
  readonly attempt: number
  readonly workflow: string
  readonly store: string
  readonly sizes: Sizes
  readonly engines: Readonly<Record<string, string>>
}) =>
  Effect.gen(function*() {
    const finished = yield* Store.finished(run.runId, run.flatHash).pipe(Effect.mapError(storeError(run.runId)))
    const errorCounts = yield* Progress.errorsByStep(run.runId, run.stepOfHash)
    const now = yield* Clock.currentTimeMillis
    const summary = Export.summarize({
      runId: run.runId,
      chain: run.chain.name,
      output: run.options.output,
      status: run.status,
      ids: run.ids,
      stats: run.stats,
      finished,
      errorCounts,
      total: run.total,
      resumed: run.resumed,
      startedAt: run.startedAt,
      firstStartedAt: run.firstStartedAt,
      attempt: run.attempt,
      now
    })
    yield* Export.exportRun(run.chain, run.options, summary, {
      hashes: run.hashes,
      flatHash: run.flatHash,
      startedAt: run.startedAt,
      workflow: run.workflow,
      store: run.store,
      attempt: run.attempt,
      chunkSize: run.sizes.chunkSize,
      chunksInFlight: run.sizes.chunksInFlight,
      engines: run.engines
    })
    return { now, summary }
  })
