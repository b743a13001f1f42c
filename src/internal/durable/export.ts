/**
 * The end of a durable run on the submitter's side: its {@link summarize summary} from the store's counts and the
 * chunks' counters, and the run folder {@link exportRun written} from the store's records.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Chain from "../../Chain.js"
import type { Options } from "../../Durable.js"
import type { DurableError } from "../../DurableError.js"
import type * as Runner from "../../Runner.js"
import { RunnerError } from "../../RunnerError.js"
import * as Writer from "../../Writer.js"
import * as Totals from "../runner/cumulative.js"
import * as Metrics from "../runner/metrics.js"
import * as Records from "../runner/records.js"
import * as Store from "./store.js"
import { storeError } from "./store.js"
import type { Stats } from "./workflows.js"

/** A durable run's summary: the rows finished (all attempts), the error records, the chunks' counters. */
export const summarize = (run: {
  readonly runId: string
  readonly chain: string
  readonly output: string
  readonly status: Runner.Summary["status"]
  readonly ids: ReadonlyArray<string>
  readonly stats: Stats
  readonly finished: { readonly complete: number; readonly filtered: number }
  readonly errorCounts: Readonly<Record<string, number>>
  readonly total: number
  readonly resumed: number
  readonly startedAt: number
  readonly firstStartedAt: number
  readonly attempt: number
  readonly now: number
}): Runner.Summary => {
  const failed = Object.values(run.errorCounts).reduce((a, b) => a + b, 0)
  const steps: Record<string, Runner.StepStats> = {}
  for (const id of run.ids) {
    const c = run.stats[id]
    steps[id] = Metrics.statsOf(c === undefined ? Metrics.newCounter() : { ...c, samples: [...c.samples] })
  }
  return {
    runId: run.runId,
    chain: run.chain,
    output: run.output,
    status: run.status,
    total: run.total,
    done: Math.max(0, run.finished.complete - run.resumed),
    filtered: run.finished.filtered,
    resumed: run.resumed,
    failed,
    malformed: run.errorCounts.input ?? 0,
    durationMs: run.now - run.startedAt,
    invalidated: [],
    steps,
    cumulative: {
      done: run.finished.complete,
      filtered: run.finished.filtered,
      failed,
      resolved: 0,
      durationMs: run.now - run.firstStartedAt,
      invocations: run.attempt,
      steps
    }
  }
}

const join = (dir: string, name: string): string => dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`

/** Writes the run folder from the store: each kind's records in input order, then metrics and graph. */
export const exportRun = (
  chain: Chain.Chain,
  options: Options,
  summary: Runner.Summary,
  meta: {
    readonly hashes: Readonly<Record<string, string>>
    readonly flatHash: string
    readonly startedAt: number
    readonly workflow: string
    readonly store: string
    readonly attempt: number
    readonly chunkSize: number
    readonly chunksInFlight: number
    readonly engines: Readonly<Record<string, string>>
  }
): Effect.Effect<void, RunnerError | DurableError, FileSystem.FileSystem | SqlClient.SqlClient> =>
  Effect.scoped(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = options.output
    const io = (path: string) => (cause: { readonly message: string }) =>
      new RunnerError({ reason: "Output", path, description: cause.message, cause })
    yield* fs.makeDirectory(dir, { recursive: true }).pipe(Effect.mapError(io(dir)))
    const ids = Object.keys(meta.hashes)
    const kinds: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
      ...ids.map((id) => [id, [meta.hashes[id]!]] as const),
      ["flattened", [meta.flatHash]],
      ["errors", [...Object.values(meta.hashes), "input"]]
    ]
    const page = 5000
    for (const [kind, hashes] of kinds) {
      const path = join(dir, kind)
      yield* fs.remove(path, { recursive: true }).pipe(Effect.ignore)
      const writer = yield* Writer.make({
        dir,
        step: kind,
        maxRows: options.rollRows,
        maxBytes: options.rollBytes,
        parquet: options.parquet,
        csv: options.csv,
        fsync: options.fsync
      }).pipe(Effect.mapError(io(path)))
      for (let from = 0; from < Math.max(1, summary.total ?? 0); from += page) {
        const records = yield* Store.records(summary.runId, kind, hashes, from, from + page).pipe(
          Effect.mapError(storeError(summary.runId))
        )
        if (records.length > 0) yield* writer.write(records.map((r) => r.record)).pipe(Effect.mapError(io(path)))
      }
      yield* writer.seal.pipe(Effect.mapError(io(path)))
    }
    const now = yield* Clock.currentTimeMillis
    yield* Writer.writeJsonAtomic(
      join(dir, "metrics.json"),
      Metrics.document(summary, { status: summary.status, startedAt: meta.startedAt, now, base: Totals.empty })
    ).pipe(Effect.mapError(io(dir)))
    const description = Chain.toGraphJson(
      chain,
      options.engines === undefined ? undefined : { engines: options.engines }
    )
    yield* Writer.writeJsonAtomic(join(dir, "graph.json"), {
      ...description,
      hashes: meta.hashes,
      run: {
        runId: summary.runId,
        startedAt: new Date(meta.startedAt).toISOString(),
        endedAt: new Date(now).toISOString(),
        input: typeof options.input === "string" ? options.input : "(records given in code)",
        output: dir,
        options: Records.recordedOptions(options),
        engines: meta.engines,
        invalidated: [],
        status: summary.status,
        durable: {
          store: meta.store,
          workflow: meta.workflow,
          attempt: meta.attempt,
          chunkSize: meta.chunkSize,
          chunksInFlight: meta.chunksInFlight
        }
      }
    }).pipe(Effect.mapError(io(dir)))
  }))
