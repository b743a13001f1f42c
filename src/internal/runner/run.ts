/**
 * A run: the folder prepared ({@link Prepare.prepare}), what earlier runs finished read back ({@link Resume.load}),
 * the input rows through the chain into the artefacts ({@link Inputs.admit}, {@link Artefacts.persist}),
 * `metrics.json` rewritten every few seconds, and the run's events ({@link Events.make}). When the consumer's scope
 * closes before the run ended (it stopped early, or the process is stopping), the run stops gracefully: it takes no
 * more rows, abandons the items in flight and writes every item already finished before it ends as `interrupted`.
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as Chain from "../../Chain.js"
import { isChainError } from "../../ChainError.js"
import type * as Dataset from "../../Dataset.js"
import type * as Event from "../../Event.js"
import type { Options, Summary } from "../../Runner.js"
import * as RunnerErrorModule from "../../RunnerError.js"
import { RunnerError } from "../../RunnerError.js"
import * as Artefacts from "./artefacts.js"
import * as Events from "./events.js"
import * as FailFast from "./failFast.js"
import * as Inputs from "./inputs.js"
import * as Metrics from "./metrics.js"
import * as Prepare from "./plan.js"
import * as Resume from "./resume.js"

/** How long a stopping run may take to write its finished items before it is interrupted. */
const gracefulStop = Duration.seconds(30)

/**
 * The events of a run (see the module description). With `forward: false` the stream carries only `RunEnd`;
 * `onSummary` gets the run's summary as it ends.
 */
export const stream = (
  chain: Chain.Chain,
  options: Options,
  run: { readonly forward: boolean; readonly onSummary?: ((summary: Summary) => void) | undefined }
): Stream.Stream<Event.Event, RunnerError, FileSystem.FileSystem> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const prepared = yield* Prepare.prepare(chain, options)
    const { dir, ids, runId, startedAt } = prepared
    const resume = yield* Resume.load(dir, ids, prepared)
    const { items, total } = yield* Inputs.source(options)
    const artefacts = yield* Artefacts.open(dir, ids, options)
    const figures = Metrics.figures({ ...prepared, chain: chain.name, total, resume })
    const events = yield* Events.make({
      runId,
      chain: chain.name,
      forward: run.forward,
      record: figures.record,
      onEvent: options.onEvent
    })
    if (options.onStart !== undefined) {
      yield* options.onStart({
        runId,
        chain: chain.name,
        output: dir,
        total,
        resumed: resume.done.size,
        invalidated: prepared.invalidated,
        steps: ids,
        engines: prepared.engines
      })
    }
    // recorded from the start, so that an invocation killed before the first rewrite still counts
    yield* figures.write("running")
    yield* events.emit({ _tag: "RunStart", ...events.origin(startedAt), name: chain.name })
    const every = Duration.millis(Math.max(100, options.metricsIntervalMs ?? 5000))
    const ticker = yield* figures.write("running").pipe(
      Effect.uninterruptible,
      Effect.ignore,
      Effect.repeat(Schedule.spaced(every)),
      Effect.delay(every),
      Effect.forkScoped
    )
    const parts: Parts = { prepared, resume, items, artefacts, figures, events, failed: { cause: undefined } }
    const running = yield* pipeline(chain, options, parts).pipe(
      Effect.onExit((exit) =>
        Effect.zipRight(Fiber.interrupt(ticker), finish(exit, { ...parts, onSummary: run.onSummary }))
      ),
      Effect.forkScoped
    )
    // runs before the scope interrupts the run's fiber: a graceful stop first, so no finished item is lost
    yield* Effect.addFinalizer(() =>
      events.stop.pipe(Effect.zipRight(Fiber.await(running)), Effect.timeout(gracefulStop), Effect.ignore)
    )
    return events.stream
  }))

interface Parts {
  readonly prepared: Prepare.Prepared
  readonly resume: Resume.Resume
  readonly items: Stream.Stream<Dataset.Item, RunnerError, FileSystem.FileSystem>
  readonly artefacts: Artefacts.Artefacts
  readonly figures: Metrics.Figures
  readonly events: Events.Events
  /** Why the run stopped early, set with the `RunFailed` error that stops it. */
  readonly failed: { cause: string | undefined }
}

/** Rows → chain → artefacts. */
const pipeline = (
  chain: Chain.Chain,
  options: Options,
  { artefacts, events, failed, figures, items, prepared, resume }: Parts
): Effect.Effect<void, RunnerError, FileSystem.FileSystem> =>
  Effect.clockWith((clock) => {
    const { runId } = prepared
    const threshold = options.stopAfterFailures ?? FailFast.defaultThreshold
    const stopped = (step: string, cause: string) => {
      failed.cause = cause
      return new RunnerError({
        reason: "RunFailed",
        step,
        description: `${cause} (fix the cause and run the same command again to resume)`
      })
    }
    const inputs = Inputs.admit(items, {
      runId,
      clock,
      resume,
      counts: figures.counts,
      failures: FailFast.make(threshold),
      errors: artefacts.errors,
      emit: events.emit,
      origin: events.origin,
      stopped
    })
    const results = Stream.mapError(
      Chain.execute(chain, inputs, {
        runId,
        concurrency: options.concurrency,
        engines: options.engines,
        engineConcurrency: options.engineConcurrency,
        retry: options.retry,
        engineRetry: options.engineRetry,
        retryDelayMs: options.retryDelayMs,
        resolved: prepared.resolved,
        onEvent: events.emit,
        stop: events.stopped
      }),
      (e) => isChainError(e) ? RunnerErrorModule.fromChainError(e) : e
    )
    return Artefacts.persist(results, artefacts, {
      runId,
      clock,
      ledger: resume.ledger,
      counts: figures.counts,
      failures: FailFast.make(threshold),
      order: new Map(prepared.ids.map((id, i) => [id, i])),
      stopped
    })
  })

/** Seals the artefacts, writes the run's status into `metrics.json` and `graph.json`, and ends the events. */
const finish = (
  exit: Exit.Exit<void, RunnerError>,
  { artefacts, events, failed, figures, onSummary, prepared }: Parts & {
    readonly onSummary: ((summary: Summary) => void) | undefined
  }
) =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const status: Summary["status"] = Exit.isSuccess(exit)
      ? events.stopping() ? "interrupted" : "success"
      : Exit.isInterrupted(exit)
      ? "interrupted"
      : "failure"
    const cause = failed.cause ?? causeOf(exit)
    const sealed = yield* Effect.exit(Effect.all([
      artefacts.seal,
      figures.write(status, cause),
      prepared.writeGraph(status, { endedAt: new Date(now).toISOString(), cause })
    ], { discard: true }))
    onSummary?.(figures.summary(status, now))
    const end: Event.Event = {
      _tag: "RunEnd",
      ...events.origin(now),
      status,
      durationMs: now - prepared.startedAt,
      ...(cause === undefined ? {} : { cause })
    }
    yield* events.end(end, Exit.isSuccess(exit) && Exit.isFailure(sealed) ? sealed : exit)
  })

/** The one-line cause of a failed run (`undefined` for a success or an interruption). */
const causeOf = (exit: Exit.Exit<void, RunnerError>): string | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) return FailFast.firstLine(failure.value.message)
  return Exit.isInterrupted(exit) ? undefined : FailFast.firstLine(Cause.pretty(exit.cause))
}
