/**
 * A durable run's progress as the store records it: the records written since the last look become per step
 * `StepEnd` events (without outputs) and `StepError` / `NonFatalError` events for new error records.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Event from "../../Event.js"
import * as Store from "./store.js"

/** The error records of a run by step (`input` for malformed rows). */
export const errorsByStep = (runId: string, stepOfHash: ReadonlyMap<string, string>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ readonly hash: string; readonly n: number | string }>`
        SELECT hash, COUNT(*) AS n FROM sluice_records WHERE run_id = ${runId} AND kind = 'errors' GROUP BY hash`,
      (rows) => {
        const out: Record<string, number> = {}
        for (const row of rows) {
          const step = row.hash === "input" ? "input" : stepOfHash.get(row.hash)
          if (step !== undefined) out[step] = (out[step] ?? 0) + Number(row.n)
        }
        return out
      }
    )).pipe(Effect.orElseSucceed((): Record<string, number> => ({})))

/** An effect that emits the events for the records written since it last ran (started from `baseline`). */
export const follower = (options: {
  readonly runId: string
  readonly chain: string
  readonly ids: ReadonlyArray<string>
  readonly kindHashes: Readonly<Record<string, string>>
  readonly stepOfHash: ReadonlyMap<string, string>
  readonly baseline: Readonly<Record<string, number>>
  readonly emit: (event: Event.Event) => Effect.Effect<void>
}): Effect.Effect<Effect.Effect<void, never, SqlClient.SqlClient>, never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const { baseline, chain, emit, ids, kindHashes, runId, stepOfHash } = options
    const origin = (timestamp: number) => ({ runId, timestamp })
    const seen: Record<string, number> = { ...baseline }
    let errorsSeen = yield* errorsByStep(runId, stepOfHash)
    return Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const counts = yield* Store.counts(runId, kindHashes)
      for (const id of ids) {
        const delta = (counts[id] ?? 0) - (seen[id] ?? 0)
        seen[id] = counts[id] ?? 0
        for (let i = 0; i < delta; i++) {
          yield* emit({ _tag: "StepEnd", ...origin(now), path: [chain, id], durationMs: 0 })
        }
      }
      if ((counts.errors ?? 0) !== (seen.errors ?? 0)) {
        seen.errors = counts.errors ?? 0
        const byStep = yield* errorsByStep(runId, stepOfHash)
        for (const [step, n] of Object.entries(byStep)) {
          for (let i = errorsSeen[step] ?? 0; i < n; i++) {
            yield* emit(
              step === "input"
                ? {
                  _tag: "NonFatalError",
                  ...origin(now),
                  path: [chain],
                  error: "Malformed",
                  message: "malformed row"
                }
                : {
                  _tag: "StepError",
                  ...origin(now),
                  path: [chain, step],
                  error: "ItemFailed",
                  message: "see errors/",
                  retryable: false
                }
            )
          }
        }
        errorsSeen = byStep
      }
    }).pipe(Effect.ignore)
  })
