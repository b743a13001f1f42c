/**
 * Reading a run folder back: `graph.json`, `metrics.json`, record counts per step and in `flattened/`, and the errors
 * still open (items whose latest error record has no finished row since).
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { ErrorRecord, Inspection } from "../../Runner.js"
import { RunnerError } from "../../RunnerError.js"
import * as Writer from "../../Writer.js"
import { exists, join, objectField, outputError, readJson } from "./files.js"

export const inspect = (dir: string): Effect.Effect<Inspection, RunnerError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const graphPath = join(dir, "graph.json")
    if (!(yield* exists(fs, graphPath))) {
      return yield* new RunnerError({
        reason: "InvalidRun",
        path: dir,
        description: "no graph.json: not a run folder (or the run never started)"
      })
    }
    const graph = yield* readJson(fs, graphPath)
    const metricsPath = join(dir, "metrics.json")
    const metrics = (yield* exists(fs, metricsPath)) ? yield* readJson(fs, metricsPath) : undefined
    const steps: Record<string, { records: number; files: number }> = {}
    for (const step of Object.keys(objectField(graph, "hashes") ?? {})) steps[step] = yield* countRecords(dir, step)
    const latest = yield* latestErrors(dir)
    const errorCount = latest.size
    const flattened = yield* countRecords(dir, "flattened", (row) => {
      if (latest.size === 0 || row === null || typeof row !== "object") return
      const r = row as Record<string, unknown>
      if (typeof r._id === "string") latest.delete(r._id)
      if (typeof r._index === "number") latest.delete(`#${r._index}`)
    })
    const byStep: Record<string, number> = {}
    const byError: Record<string, number> = {}
    for (const r of latest.values()) {
      byStep[r.step] = (byStep[r.step] ?? 0) + 1
      byError[r.error] = (byError[r.error] ?? 0) + 1
    }
    const last = [...latest.values()].slice(-10)
    const total = latest.size
    const run = objectField(graph, "run") ?? {}
    return {
      dir,
      chain: graph !== null && typeof graph === "object" && "name" in graph ? String(graph.name) : "",
      runId: typeof run.runId === "string" ? run.runId : undefined,
      status: typeof run.status === "string" ? run.status : undefined,
      cause: typeof run.cause === "string" ? run.cause : undefined,
      graph,
      metrics,
      steps,
      flattened,
      errors: { total, resolved: errorCount - total, byStep, byError, last }
    }
  })

/** The latest error record of each item (by id, or `#index` for a malformed row), in the order written. */
const latestErrors = (dir: string) =>
  Effect.suspend(() => {
    const latest = new Map<string, ErrorRecord>()
    return Writer.read({ dir, step: "errors" }).pipe(
      Stream.runForEach((record) =>
        Effect.sync(() => {
          const r = record as ErrorRecord
          const item = r._id ?? `#${r.index}`
          latest.delete(item)
          latest.set(item, r)
        })
      ),
      Effect.mapError(outputError),
      Effect.as(latest)
    )
  })

/** The records and files of a step's folder; `each` sees every record. */
const countRecords = (dir: string, step: string, each?: (record: unknown) => void) =>
  Effect.gen(function*() {
    const files = yield* Writer.files({ dir, step })
    let records = 0
    yield* Stream.runForEachChunk(Writer.read({ dir, step }), (chunk) =>
      Effect.sync(() => {
        records += chunk.length
        if (each !== undefined) { for (const record of chunk) each(record) }
      }))
    return { records, files: files.length }
  }).pipe(Effect.mapError(outputError))
