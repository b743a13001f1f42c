/**
 * A run's output files and the stage that writes the chain's results into them: each step's outputs
 * (`<step>/NNN.jsonl`), one error record per failed item (`errors/`) and one flattened row per finished item
 * (`flattened/`, written after the item's step outputs, so that a finished row always has its outputs on disk).
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Chain from "../../Chain.js"
import type { ErrorRecord, Options } from "../../Runner.js"
import type { RunnerError } from "../../RunnerError.js"
import * as Writer from "../../Writer.js"
import type * as FailFast from "./failFast.js"
import { outputError } from "./files.js"
import type * as Metrics from "./metrics.js"
import * as Records from "./records.js"
import type { Ledger } from "./resume.js"

/** The writers of a run folder. */
export interface Artefacts {
  readonly steps: ReadonlyMap<string, Writer.Writer>
  readonly flattened: Writer.Writer
  readonly errors: Writer.Writer
  /** Completes every writer's current file. */
  readonly seal: Effect.Effect<void, RunnerError>
}

/**
 * Opens the writers of the steps `ids`, `flattened/` and `errors/`. They (and the files they open later) live in a
 * scope of their own, closed only after the enclosing scope's other finalizers (e.g. the run's fiber, which seals
 * them) have run.
 */
export const open = (
  dir: string,
  ids: ReadonlyArray<string>,
  options: Options
): Effect.Effect<Artefacts, RunnerError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    const make = (step: string) =>
      Writer.make({
        dir,
        step,
        maxRows: options.rollRows,
        maxBytes: options.rollBytes,
        parquet: options.parquet,
        csv: options.csv,
        fsync: options.fsync
      }).pipe(Scope.extend(scope), Effect.mapError(outputError))
    const steps = new Map<string, Writer.Writer>()
    for (const id of ids) steps.set(id, yield* make(id))
    const flattened = yield* make("flattened")
    const errors = yield* make("errors")
    const all = [...steps.values(), flattened, errors]
    return {
      steps,
      flattened,
      errors,
      seal: Effect.forEach(all, (w) => w.seal, { discard: true }).pipe(Effect.mapError(outputError))
    }
  })

/** What {@link persist} reads and updates. */
export interface Context {
  readonly runId: string
  readonly clock: Clock.Clock
  readonly ledger: Ledger
  readonly counts: Metrics.Counts
  readonly failures: FailFast.Detector
  /** Step ids in chain order. */
  readonly order: ReadonlyMap<string, number>
  /** The error that stops the run for a run-wide cause. */
  readonly stopped: (step: string, cause: string) => RunnerError
}

/** Writes every result of the chain into the artefacts, one batch per writer and chunk of results. */
export const persist = <R>(
  results: Stream.Stream<Chain.Result, RunnerError, R>,
  artefacts: Artefacts,
  ctx: Context
): Effect.Effect<void, RunnerError, R> =>
  Stream.runForEachChunk(results, (chunk) => {
    const { counts, ledger } = ctx
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
        const f = r.failure!
        ledger.open(r.id)
        counts.failed++
        if (stop === undefined) {
          const cause = ctx.failures.fail(f)
          if (cause !== undefined) stop = { step: f.step, cause }
        }
        errors.push(
          Records.failedRecord(r, ctx.runId, ledger.attemptOf(r.id, f.step), ctx.clock.unsafeCurrentTimeMillis())
        )
        continue
      }
      ctx.failures.succeed()
      if (ledger.hasOpen()) {
        ledger.resolve(r.id)
        ledger.resolve(`#${r.index}`)
      }
      if (r.status === "complete") counts.done++
      else counts.filtered++
      flat.push(Records.flatRow(r, ctx.order))
    }
    return Effect.gen(function*() {
      for (const [id, records] of byStep) yield* artefacts.steps.get(id)!.write(records)
      if (errors.length > 0) yield* artefacts.errors.write(errors)
      if (flat.length > 0) yield* artefacts.flattened.write(flat)
      if (stop !== undefined) return yield* ctx.stopped(stop.step, stop.cause)
    }).pipe(Effect.catchTag("WriterError", (e) => Effect.fail(outputError(e))))
  })
