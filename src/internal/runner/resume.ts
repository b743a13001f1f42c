/**
 * Resuming a run folder: the items already finished (their ids in `flattened/`: skipped), the step outputs already
 * written for unfinished items (reused), the error ledger (how often each item failed at each step, which items have
 * an error record and no finished row yet) and the cumulative figures of the previous invocations.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { ErrorRecord } from "../../Runner.js"
import type { RunnerError } from "../../RunnerError.js"
import * as Writer from "../../Writer.js"
import * as Totals from "./cumulative.js"
import { io, join, outputError, readJson } from "./files.js"
import * as Records from "./records.js"

/** The items with an error record: attempts by item and step, and those still open (no finished row since). */
export interface Ledger {
  /** The attempt number of this failure of an item (`id`, or `#index` for a malformed row) at a step. */
  readonly attemptOf: (item: string, step: string) => number
  /** Records a failed item (`id`, or `#index`) as open. */
  readonly open: (item: string) => void
  /** Records a finished item (`id`, or `#index`): its error records, if any, are resolved. */
  readonly resolve: (item: string) => void
  /** Whether any item is open (so that finishing items need no look-up otherwise). */
  readonly hasOpen: () => boolean
  readonly openCount: () => number
  readonly resolvedCount: () => number
}

/** What a run into the folder starts from. */
export interface Resume {
  /** The ids of the items finished by earlier runs. */
  readonly done: ReadonlySet<string>
  /** The step outputs already written for unfinished items, by row id and step id. */
  readonly partial: ReadonlyMap<string, Record<string, unknown>>
  readonly ledger: Ledger
  /** The cumulative figures of the earlier invocations. */
  readonly base: Totals.Base
  /** Items filtered by earlier invocations (at most the finished ones). */
  readonly baseFiltered: number
}

export const load = (
  dir: string,
  ids: ReadonlyArray<string>,
  options: { readonly resumed: boolean; readonly invalidated: ReadonlyArray<string> }
): Effect.Effect<Resume, RunnerError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const done = yield* Writer.completedIds({ dir, step: "flattened", key: "_id" }).pipe(Effect.mapError(outputError))
    const partial = yield* partialOutputs(dir, ids, done)
    const ledger = yield* readLedger(dir, done)
    const metricsPath = join(dir, "metrics.json")
    const previousMetrics = options.resumed && (yield* io(fs.exists(metricsPath), metricsPath))
      ? yield* Effect.orElseSucceed(readJson(fs, metricsPath), () => undefined)
      : undefined
    const base = Totals.fromMetrics(previousMetrics, (step) => !options.invalidated.includes(step))
    return { done, partial, ledger, base, baseFiltered: Math.min(base.filtered, done.size) }
  })

/** The step outputs written for items not finished yet. */
const partialOutputs = (dir: string, ids: ReadonlyArray<string>, done: ReadonlySet<string>) =>
  Effect.gen(function*() {
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
    return partial
  })

/** Reads `errors/` into a ledger (the items finished since their error records resolved). */
const readLedger = (
  dir: string,
  done: ReadonlySet<string>
): Effect.Effect<Ledger, RunnerError, FileSystem.FileSystem> => {
  const attempts = new Map<string, number>()
  const unresolved = new Set<string>()
  let resolved = 0
  const ledger: Ledger = {
    attemptOf: (item, step) => {
      const key = `${item}\u0000${step}`
      const n = (attempts.get(key) ?? 0) + 1
      attempts.set(key, n)
      return n
    },
    open: (item) => {
      unresolved.add(item)
    },
    resolve: (item) => {
      if (unresolved.delete(item)) resolved++
    },
    hasOpen: () => unresolved.size > 0,
    openCount: () => unresolved.size,
    resolvedCount: () => resolved
  }
  return Writer.read({ dir, step: "errors" }).pipe(
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
    Effect.mapError(outputError),
    Effect.map(() => {
      for (const item of unresolved) if (done.has(item)) ledger.resolve(item)
      return ledger
    })
  )
}
