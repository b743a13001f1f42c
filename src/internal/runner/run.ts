/**
 * A run: the folder prepared ({@link Plan.prepare}), what earlier runs finished read back ({@link Resume.load}), the
 * input rows through the chain into the artefacts, `metrics.json` rewritten every few seconds, and the run's events
 * streamed to the consumer through a bounded mailbox. When the consumer's scope closes before the run ended (it
 * stopped early, or the process is stopping), the run stops gracefully: it takes no more rows, abandons the items in
 * flight and writes every item already finished before it ends as `interrupted`.
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as Chain from "../../Chain.js"
import { isChainError } from "../../ChainError.js"
import type * as Event from "../../Event.js"
import type { Options, Plan, Summary } from "../../Runner.js"
import * as RunnerErrorModule from "../../RunnerError.js"
import { RunnerError } from "../../RunnerError.js"
import * as Writer from "../../Writer.js"
import * as Artefacts from "./artefacts.js"
import * as Totals from "./cumulative.js"
import * as FailFast from "./failFast.js"
import { join, outputError } from "./files.js"
import * as Inputs from "./inputs.js"
import * as Metrics from "./metrics.js"
import * as Prepare from "./plan.js"
import * as Resume from "./resume.js"

/** How long a stopping run may take to write its finished items before it is interrupted. */
const gracefulStop = Duration.seconds(30)

/** The events of a run (see the module description); `onSummary` gets its summary as it ends. */
export const stream = (
  chain: Chain.Chain,
  options: Options,
  onSummary: ((summary: Summary) => void) | undefined
): Stream.Stream<Event.Event, RunnerError, FileSystem.FileSystem> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const prepared = yield* Prepare.prepare(chain, options)
    const { dir, ids, runId, startedAt } = prepared
    const resume = yield* Resume.load(dir, ids, prepared)
    const { total, items } = yield* Inputs.source(options)
    const artefacts = yield* Artefacts.open(dir, ids, options)

    // ---- figures
    const counters = new Map(ids.map((id) => [id, Metrics.newCounter()]))
    const counts = Metrics.newCounts()
    const record = Metrics.counting(counters)
    const summaryOf = (status: Summary["status"], now: number): Summary => {
      const steps = Metrics.stepsOf(counters)
      return {
        runId,
        chain: chain.name,
        output: dir,
        status,
        total,
        ...counts,
        durationMs: now - startedAt,
        invalidated: prepared.invalidated,
        steps,
        cumulative: {
          done: resume.done.size - resume.baseFiltered + counts.done,
          filtered: resume.baseFiltered + counts.filtered,
          failed: resume.ledger.openCount(),
          resolved: resume.ledger.resolvedCount(),
          durationMs: resume.base.durationMs + now - startedAt,
          invocations: resume.base.invocations.length + 1,
          steps: Totals.addSteps(resume.base.steps, steps)
        }
      }
    }
    const metricsPath = join(dir, "metrics.json")
    const writeMetrics = (status: Summary["status"] | "running", cause?: string | undefined) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Writer.writeJsonAtomic(
          metricsPath,
          Metrics.document(summaryOf(status === "running" ? "success" : status, now), {
            status,
            cause,
            startedAt,
            now,
            base: resume.base
          })
        ).pipe(Effect.mapError(outputError)))

    // ---- events
    const mailbox = yield* Mailbox.make<Event.Event, RunnerError>(4096)
    const userEvent = options.onEvent
    // set when the run's scope closes before the run ended (see the module description)
    let stopping = false
    const stopSignal = yield* Deferred.make<void>()
    const offer = (event: Event.Event): Effect.Effect<void> =>
      mailbox.unsafeOffer(event) || stopping ? Effect.void : Effect.asVoid(mailbox.offer(event))
    const emit = (event: Event.Event): Effect.Effect<void> => {
      record(event)
      return userEvent === undefined
        ? offer(event)
        : Effect.zipRight(userEvent(event), Effect.suspend(() => offer(event)))
    }
    const origin = (timestamp: number): Event.Origin => ({ runId, path: [chain.name], timestamp })

    const plan: Plan = {
      runId,
      chain: chain.name,
      output: dir,
      total,
      resumed: resume.done.size,
      invalidated: prepared.invalidated,
      steps: ids,
      engines: prepared.engines
    }
    if (options.onStart !== undefined) yield* options.onStart(plan)
    // recorded from the start, so that an invocation killed before the first rewrite still counts
    yield* writeMetrics("running")

    // ---- the pipeline: rows -> chain -> artefacts
    const clock = yield* Effect.clock
    const threshold = options.stopAfterFailures ?? FailFast.defaultThreshold
    let stopCause: string | undefined
    const stopped = (step: string, cause: string) => {
      stopCause = cause
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
      counts,
      failures: FailFast.make(threshold),
      errors: artefacts.errors,
      emit,
      origin,
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
        onEvent: emit,
        stop: Deferred.await(stopSignal)
      }),
      (e) => isChainError(e) ? RunnerErrorModule.fromChainError(e) : e
    )
    const persist = Artefacts.persist(results, artefacts, {
      runId,
      clock,
      ledger: resume.ledger,
      counts,
      failures: FailFast.make(threshold),
      order: new Map(ids.map((id, i) => [id, i])),
      stopped
    })

    const finish = (exit: Exit.Exit<void, RunnerError>) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const status: Summary["status"] = Exit.isSuccess(exit)
          ? stopping ? "interrupted" : "success"
          : Exit.isInterrupted(exit)
          ? "interrupted"
          : "failure"
        const cause = stopCause ?? causeOf(exit)
        const sealed = yield* Effect.exit(Effect.all([
          artefacts.seal,
          writeMetrics(status, cause),
          prepared.writeGraph(status, { endedAt: new Date(now).toISOString(), cause })
        ], { discard: true }))
        onSummary?.(summaryOf(status, now))
        const end: Event.Event = {
          _tag: "RunEnd",
          ...origin(now),
          status,
          durationMs: now - startedAt,
          ...(cause === undefined ? {} : { cause })
        }
        if (userEvent !== undefined) yield* userEvent(end)
        // interrupted: the consumer may be gone, so never wait for room in the mailbox
        if (status === "interrupted") mailbox.unsafeOffer(end)
        else yield* mailbox.offer(end)
        yield* mailbox.done(Exit.isSuccess(exit) && Exit.isFailure(sealed) ? sealed : exit)
      })

    yield* emit({ _tag: "RunStart", ...origin(startedAt), name: chain.name })
    const every = Duration.millis(Math.max(100, options.metricsIntervalMs ?? 5000))
    const ticker = yield* writeMetrics("running").pipe(
      Effect.uninterruptible,
      Effect.ignore,
      Effect.repeat(Schedule.spaced(every)),
      Effect.delay(every),
      Effect.forkScoped
    )
    const running = yield* persist.pipe(
      Effect.onExit((exit) => Effect.zipRight(Fiber.interrupt(ticker), finish(exit))),
      Effect.forkScoped
    )
    // runs before the scope interrupts the run's fiber: a graceful stop first, so no finished item is lost
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        stopping = true
        return Deferred.succeed(stopSignal, undefined)
      }).pipe(Effect.zipRight(Fiber.await(running)), Effect.timeout(gracefulStop), Effect.ignore)
    )
    return Mailbox.toStream(mailbox)
  }))

/** The one-line cause of a failed run (`undefined` for a success or an interruption). */
const causeOf = (exit: Exit.Exit<void, RunnerError>): string | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) return FailFast.firstLine(failure.value.message)
  return Exit.isInterrupted(exit) ? undefined : FailFast.firstLine(Cause.pretty(exit.cause))
}
