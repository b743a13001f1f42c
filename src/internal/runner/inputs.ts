/**
 * A run's input: the dataset (or records given in code) as items, and the stage that turns them into the chain's
 * inputs: a malformed row becomes an error record and a `NonFatalError` event, an item finished by an earlier run is
 * skipped, and an unfinished one carries the step outputs already written for it.
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Chunk from "effect/Chunk"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as Chain from "../../Chain.js"
import * as Dataset from "../../Dataset.js"
import type * as Event from "../../Event.js"
import type { ErrorRecord, Options } from "../../Runner.js"
import type { RunnerError } from "../../RunnerError.js"
import type * as Writer from "../../Writer.js"
import type * as FailFast from "./failFast.js"
import { inputError, outputError } from "./files.js"
import type * as Metrics from "./metrics.js"
import * as Records from "./records.js"
import type { Resume } from "./resume.js"

/** The input items, and their number when counted first (`count`, default for paths). */
export const source = (options: Options): Effect.Effect<
  {
    readonly total: number | undefined
    readonly items: Stream.Stream<Dataset.Item, RunnerError, FileSystem.FileSystem>
  },
  RunnerError,
  FileSystem.FileSystem
> =>
  Effect.gen(function*() {
    if (typeof options.input !== "string") {
      return { total: undefined, items: Records.recordsOf(options.input, options.key, options.limit) }
    }
    const reading = datasetOptions(options)
    const total = options.count !== false
      ? yield* Dataset.count(options.input, reading).pipe(Effect.mapError(inputError))
      : undefined
    return { total, items: Stream.mapError(Dataset.stream(options.input, reading), inputError) }
  })

/** What {@link admit} reads and updates. */
export interface Context {
  readonly runId: string
  readonly clock: Clock.Clock
  readonly resume: Resume
  readonly counts: Metrics.Counts
  readonly failures: FailFast.Detector
  readonly errors: Writer.Writer
  readonly emit: (event: Event.Event) => Effect.Effect<void>
  readonly origin: (timestamp: number) => Event.Origin
  /** The error that stops the run for a run-wide cause. */
  readonly stopped: (step: string, cause: string) => RunnerError
}

/** The chain's inputs from the input items (see the module description). */
export const admit = <R>(
  items: Stream.Stream<Dataset.Item, RunnerError, R>,
  ctx: Context
): Stream.Stream<Chain.Input, RunnerError, R> =>
  Stream.mapChunksEffect(items, (chunk) => {
    const counts = ctx.counts
    const ledger = ctx.resume.ledger
    const out: Array<Chain.Input> = []
    let bad: Array<ErrorRecord> | undefined
    let events: Array<Event.Event> | undefined
    let stop: string | undefined
    for (const item of chunk) {
      if (item._tag === "Malformed") {
        const id = `#${item.index}`
        ledger.open(id)
        stop ??= ctx.failures.fail({ step: "input", error: "Malformed", message: item.message })
        counts.malformed++
        counts.failed++
        const timestamp = ctx.clock.unsafeCurrentTimeMillis()
        ;(bad ??= []).push(Records.malformedRecord(item, ctx.runId, ledger.attemptOf(id, "input"), timestamp))
        ;(events ??= []).push({
          _tag: "NonFatalError",
          ...ctx.origin(timestamp),
          error: "Malformed",
          message: `${item.file}${item.line === undefined ? "" : `:${item.line}`}: ${item.message}`
        })
        continue
      }
      ctx.failures.succeed()
      if (ctx.resume.done.has(item.id)) {
        counts.resumed++
        if (ledger.hasOpen()) ledger.resolve(`#${item.index}`)
        continue
      }
      out.push({ id: item.id, index: item.index, data: item.data, done: ctx.resume.partial.get(item.id) })
    }
    if (bad === undefined && stop === undefined) return Effect.succeed(Chunk.unsafeFromArray(out))
    return Effect.gen(function*() {
      if (bad !== undefined) yield* Effect.mapError(ctx.errors.write(bad), outputError)
      for (const event of events ?? []) yield* ctx.emit(event)
      if (stop !== undefined) return yield* ctx.stopped("input", stop)
      return Chunk.unsafeFromArray(out)
    })
  })

/** The dataset reader's options among a run's options (Runner's or Durable's). */
export const datasetOptions = (options: Dataset.Options): Dataset.Options => ({
  format: options.format,
  columns: options.columns,
  key: options.key,
  limit: options.limit,
  strict: options.strict,
  split: options.split
})
