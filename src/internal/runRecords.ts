/**
 * Run records shared by the in-process runner and the durable runner: a step's output record, the flattened row,
 * per-step counters with a latency reservoir, and code-given inputs as dataset items.
 */
import * as Either from "effect/Either"
import * as Predicate from "effect/Predicate"
import * as Stream from "effect/Stream"
import type * as Chain from "../Chain.js"
import type * as Dataset from "../Dataset.js"
import type * as Event from "../Event.js"
import * as Node from "../Node.js"
import type { Options, StepStats } from "../Runner.js"
import { RunnerError } from "../RunnerError.js"
import * as Retry from "./retry.js"

/** A step's output as written: `{ _id, ...fields }`, or `{ _id, _value }` for values that are not plain objects. */
export const stepRecord = (id: string, value: unknown): Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value) && !Object.hasOwn(value, "_id")
    ? { _id: id, ...value as Record<string, unknown> }
    : { _id: id, _value: value }

export const fromStepRecord = (record: Record<string, unknown>): unknown => {
  if (Object.hasOwn(record, "_value")) {
    let keys = 0
    for (const _ in record) keys++
    if (keys === 2) return record._value
  }
  const { _id: _, ...value } = record
  return value
}

export const flatten = (out: Record<string, unknown>, prefix: string, value: unknown): void => {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const key in value as Record<string, unknown>) {
      out[`${prefix}.${key}`] = (value as Record<string, unknown>)[key]
    }
  } else if (value !== undefined) {
    out[prefix] = value
  }
}

/** An item's flattened row: its input and every step's output (steps in chain order, given by `order`). */
export const flatRow = (r: Chain.Result, order: ReadonlyMap<string, number>): Record<string, unknown> => {
  const row: Record<string, unknown> = { _id: r.id, _index: r.index, _status: r.status }
  if (r.filteredBy !== undefined) row._filteredBy = r.filteredBy
  flatten(row, "chain_input", r.input)
  const present = Object.keys(r.outputs).filter((id) => order.has(id)).sort((a, b) => order.get(a)! - order.get(b)!)
  for (const id of present) flatten(row, id, r.outputs[id])
  return row
}

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

export const RESERVOIR = 4096

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

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!

export const statsOf = (c: StepCounter): StepStats => {
  const sorted = [...c.samples].sort((a, b) => a - b)
  return {
    done: c.done,
    filtered: c.filtered,
    errors: c.errors,
    retries: c.retries,
    latencyMs: {
      p50: percentile(sorted, 50),
      p95: percentile(sorted, 95),
      p99: percentile(sorted, 99),
      mean: c.seen === 0 ? 0 : c.sum / c.seen,
      max: c.max
    },
    tokens: { input: c.input, output: c.output, total: c.total }
  }
}

/** Counts a run's step events into per-step counters (a reservoir of latency samples per step). */
export const counting = (counters: ReadonlyMap<string, StepCounter>) => {
  let random = 0x2545f491
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
      if (c.samples.length < RESERVOIR) c.samples.push(ms)
      else {
        random = (Math.imul(random, 1664525) + 1013904223) >>> 0
        const slot = random % c.seen
        if (slot < RESERVOIR) c.samples[slot] = ms
      }
      if (event.usage !== undefined) {
        c.input += event.usage.inputTokens ?? 0
        c.output += event.usage.outputTokens ?? 0
        c.total += event.usage.totalTokens ?? (event.usage.inputTokens ?? 0) + (event.usage.outputTokens ?? 0)
      }
    }
  }
}

/** Records given in code as dataset items (`key` names the id field; a record without it is malformed). */
export const recordsOf = (
  input: Chain.Inputs<unknown>,
  key: string | undefined,
  limit: number | undefined
): Stream.Stream<Dataset.Item, RunnerError> => {
  const source: Stream.Stream<unknown, unknown> = Predicate.hasProperty(input, Stream.StreamTypeId)
    ? input as Stream.Stream<unknown>
    : Symbol.asyncIterator in (input as object)
    ? Stream.fromAsyncIterable(input as AsyncIterable<unknown>, (e) => e)
    : Stream.fromIterable(input as Iterable<unknown>)
  let index = 0
  const items = Stream.map(
    Stream.mapError(
      source,
      (cause) =>
        new RunnerError({ reason: "Input", description: `the input failed: ${Node.errorMessage(cause)}`, cause })
    ),
    (data): Dataset.Item => {
      const i = index++
      const raw = key !== undefined && data !== null && typeof data === "object"
        ? (data as Record<string, unknown>)[key]
        : undefined
      if (key !== undefined && (typeof raw !== "string" && typeof raw !== "number")) {
        return {
          _tag: "Malformed",
          index: i,
          file: "(input)",
          raw: Either.getOrElse(Either.try(() => JSON.stringify(data) ?? ""), () => String(data)),
          message: `the record has no "${key}" field`
        }
      }
      return {
        _tag: "Row",
        id: raw === undefined ? String(i) : String(raw),
        index: i,
        data: (data ?? {}) as Record<string, unknown>
      }
    }
  )
  return limit === undefined ? items : Stream.take(items, limit)
}

/** The run options `graph.json` records, defaults filled in, the same for the in-process and the durable runner. */
export const recordedOptions = (options: Options) => ({
  format: options.format,
  columns: options.columns,
  key: options.key,
  limit: options.limit,
  strict: options.strict ?? false,
  concurrency: options.concurrency ?? 16,
  engines: options.engines,
  engineConcurrency: options.engineConcurrency,
  retry: options.retry ?? Retry.defaultTimes,
  rollRows: options.rollRows ?? 100_000,
  parquet: options.parquet ?? false
})
