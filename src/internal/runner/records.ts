/**
 * The records of a run folder, shared by the in-process runner and the durable runner: a step's output record, the
 * flattened row, error records, code-given inputs as dataset items, and the options `graph.json` records.
 */
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import type * as Chain from "../../Chain.js"
import type * as Dataset from "../../Dataset.js"
import * as Node from "../../Node.js"
import type { ErrorRecord, Options } from "../../Runner.js"
import { RunnerError } from "../../RunnerError.js"
import * as Inputs from "../inputs.js"
import * as Retry from "../retry.js"

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

/** The flattened column names by prefix and key, made once (a new string per row would be hashed per row). */
const columns = new Map<string, Map<string, string>>()

const column = (prefix: string, key: string): string => {
  let byKey = columns.get(prefix)
  if (byKey === undefined) {
    byKey = new Map()
    columns.set(prefix, byKey)
  }
  let name = byKey.get(key)
  if (name === undefined) {
    name = `${prefix}.${key}`
    if (byKey.size < 4096) byKey.set(key, name)
  }
  return name
}

export const flatten = (out: Record<string, unknown>, prefix: string, value: unknown): void => {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const key in value as Record<string, unknown>) {
      out[column(prefix, key)] = (value as Record<string, unknown>)[key]
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

/** The error record of an item that failed at a step. */
export const failedRecord = (
  r: Chain.Result,
  runId: string,
  attempt: number,
  timestamp: number
): ErrorRecord => {
  const f = r.failure!
  return {
    _id: r.id,
    index: r.index,
    step: f.step,
    error: f.error,
    message: f.message,
    retryable: f.retryable,
    attempt,
    tries: f.tries,
    input: r.input,
    runId,
    timestamp
  }
}

/** The error record of a malformed input row (step `input`). */
export const malformedRecord = (
  item: Dataset.Malformed,
  runId: string,
  attempt: number,
  timestamp: number
): ErrorRecord => ({
  _id: undefined,
  index: item.index,
  step: "input",
  error: "Malformed",
  message: item.message,
  retryable: false,
  attempt,
  tries: 1,
  input: item.raw,
  file: item.file,
  line: item.line,
  runId,
  timestamp
})

/** Records given in code as dataset items (`key` names the id field; a record without it is malformed). */
export const recordsOf = (
  input: Chain.Inputs<unknown>,
  key: string | undefined,
  limit: number | undefined
): Stream.Stream<Dataset.Item, RunnerError> => {
  const source = Inputs.toStream(input)
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
  split: options.split,
  columns: options.columns,
  key: options.key,
  limit: options.limit,
  strict: options.strict ?? false,
  concurrency: options.concurrency ?? 16,
  engines: options.engines,
  engineConcurrency: options.engineConcurrency,
  retry: options.retry ?? Retry.defaultTimes,
  rollRows: options.rollRows ?? 100_000,
  parquet: options.parquet ?? false,
  csv: options.csv ?? false
})
