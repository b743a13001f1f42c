/**
 * A run's figures: per-step counters fed by the run's events (counts, a reservoir of latency samples, tokens), the
 * item counts of one invocation, and the `metrics.json` document both runners write.
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Event from "../../Event.js"
import type { StepStats, Summary } from "../../Runner.js"
import type { RunnerError } from "../../RunnerError.js"
import * as Writer from "../../Writer.js"
import * as Reservoir from "../reservoir.js"
import * as Totals from "./cumulative.js"
import { join, outputError } from "./files.js"
import type { Resume } from "./resume.js"

/** The live figures of one step. */
export interface StepCounter {
  done: number
  filtered: number
  errors: number
  retries: number
  samples: Array<number>
  seen: number
  sum: number
  max: number
  input: number
  output: number
  total: number
}

/** The latency samples kept per step (the reservoir's default). */
export const RESERVOIR = Reservoir.defaultCapacity

export const newCounter = (): StepCounter => ({
  done: 0,
  filtered: 0,
  errors: 0,
  retries: 0,
  samples: [],
  seen: 0,
  sum: 0,
  max: 0,
  input: 0,
  output: 0,
  total: 0
})

export const statsOf = (c: StepCounter): StepStats => {
  const sorted = [...c.samples].sort((a, b) => a - b)
  return {
    done: c.done,
    filtered: c.filtered,
    errors: c.errors,
    retries: c.retries,
    latencyMs: {
      p50: Reservoir.quantile(sorted, 0.5) ?? 0,
      p95: Reservoir.quantile(sorted, 0.95) ?? 0,
      p99: Reservoir.quantile(sorted, 0.99) ?? 0,
      mean: c.seen === 0 ? 0 : c.sum / c.seen,
      max: c.max
    },
    tokens: { input: c.input, output: c.output, total: c.total }
  }
}

/**
 * Counts a run's step events into fresh per-step counters, the latency samples of each in a reservoir (the counter's
 * `samples` are the reservoir's values).
 */
export const counting = (counters: ReadonlyMap<string, StepCounter>) => {
  const reservoirs = new Map<StepCounter, Reservoir.Reservoir>()
  for (const c of counters.values()) {
    const reservoir = new Reservoir.Reservoir(RESERVOIR)
    c.samples = reservoir.values
    reservoirs.set(c, reservoir)
  }
  return (event: Event.Event): void => {
    if (event._tag !== "StepEnd" && event._tag !== "StepError" && event._tag !== "Retry") return
    const c = counters.get(event.path[event.path.length - 1]!)
    if (c === undefined) return
    if (event._tag === "StepError") c.errors++
    else if (event._tag === "Retry") c.retries++
    else {
      if (event.output === undefined) c.filtered++
      else c.done++
      const ms = event.durationMs
      c.seen++
      c.sum += ms
      if (ms > c.max) c.max = ms
      reservoirs.get(c)!.add(ms)
      if (event.usage !== undefined) {
        c.input += event.usage.inputTokens ?? 0
        c.output += event.usage.outputTokens ?? 0
        c.total += event.usage.totalTokens ?? (event.usage.inputTokens ?? 0) + (event.usage.outputTokens ?? 0)
      }
    }
  }
}

/** The item counts of one invocation. */
export interface Counts {
  done: number
  filtered: number
  resumed: number
  failed: number
  malformed: number
}

export const newCounts = (): Counts => ({ done: 0, filtered: 0, resumed: 0, failed: 0, malformed: 0 })

/** Per-step figures of the counters, by step id. */
export const stepsOf = (counters: ReadonlyMap<string, StepCounter>): Record<string, StepStats> => {
  const steps: Record<string, StepStats> = {}
  for (const [id, c] of counters) steps[id] = statsOf(c)
  return steps
}

/**
 * The `metrics.json` document: the figures across every invocation into the folder at the top level (from
 * `summary.cumulative`), and each invocation's own under `invocations` (the previous ones from `base`, then this one).
 */
export const document = (
  summary: Summary,
  options: {
    readonly status: Summary["status"] | "running"
    readonly cause?: string | undefined
    readonly startedAt: number
    readonly now: number
    readonly base: Totals.Base
  }
) => {
  const total = summary.cumulative
  const startedAt = new Date(options.startedAt).toISOString()
  const updatedAt = new Date(options.now).toISOString()
  const invocation = {
    runId: summary.runId,
    status: options.status,
    ...(options.cause === undefined ? {} : { cause: options.cause }),
    startedAt,
    updatedAt,
    durationMs: summary.durationMs,
    items: {
      done: summary.done,
      filtered: summary.filtered,
      resumed: summary.resumed,
      failed: summary.failed,
      malformed: summary.malformed
    },
    steps: summary.steps
  }
  return {
    runId: summary.runId,
    chain: summary.chain,
    status: options.status,
    cause: options.cause,
    startedAt: options.base.startedAt ?? startedAt,
    updatedAt,
    durationMs: total.durationMs,
    items: {
      total: summary.total,
      done: total.done,
      filtered: total.filtered,
      failed: total.failed,
      resolved: total.resolved,
      malformed: summary.malformed
    },
    steps: total.steps,
    invocations: [...options.base.invocations, invocation].slice(-Totals.maxInvocations)
  }
}

/** The figures of a run: live counters, its {@link Summary} at any time, and `metrics.json`. */
export interface Figures {
  readonly counts: Counts
  /** Counts an event into its step's counter. */
  readonly record: (event: Event.Event) => void
  readonly summary: (status: Summary["status"], now: number) => Summary
  /** Rewrites `metrics.json`. */
  readonly write: (
    status: Summary["status"] | "running",
    cause?: string | undefined
  ) => Effect.Effect<void, RunnerError, FileSystem.FileSystem>
}

export const figures = (run: {
  readonly runId: string
  readonly chain: string
  readonly dir: string
  readonly total: number | undefined
  readonly startedAt: number
  readonly ids: ReadonlyArray<string>
  readonly invalidated: ReadonlyArray<string>
  readonly resume: Resume
}): Figures => {
  const counters = new Map(run.ids.map((id) => [id, newCounter()]))
  const counts = newCounts()
  const { base, baseFiltered, done, ledger } = run.resume
  const summary = (status: Summary["status"], now: number): Summary => {
    const steps = stepsOf(counters)
    return {
      runId: run.runId,
      chain: run.chain,
      output: run.dir,
      status,
      total: run.total,
      ...counts,
      durationMs: now - run.startedAt,
      invalidated: run.invalidated,
      steps,
      cumulative: {
        done: done.size - baseFiltered + counts.done,
        filtered: baseFiltered + counts.filtered,
        failed: ledger.openCount(),
        resolved: ledger.resolvedCount(),
        durationMs: base.durationMs + now - run.startedAt,
        invocations: base.invocations.length + 1,
        steps: Totals.addSteps(base.steps, steps)
      }
    }
  }
  const path = join(run.dir, "metrics.json")
  return {
    counts,
    record: counting(counters),
    summary,
    write: (status, cause) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Writer.writeJsonAtomic(
          path,
          document(summary(status === "running" ? "success" : status, now), {
            status,
            cause,
            startedAt: run.startedAt,
            now,
            base
          })
        ).pipe(Effect.mapError(outputError)))
  }
}
