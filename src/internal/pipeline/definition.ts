/**
 * What a pipeline is made of before it runs: its settings, its step definitions and their checks.
 *
 * @internal
 */
import * as Schedule from "effect/Schedule"
import type * as Stream from "effect/Stream"
import type { ItemContext, ItemOptions, Retry, StartOptions, StepKind } from "../../Pipeline.js"
import type { PipelineError } from "../../PipelineError.js"
import type { StepRecorder } from "./recorder.js"
import type { Run } from "./run.js"

export interface Settings {
  readonly name: string
  readonly checkpoints: "always" | "never"
  readonly sampleRate: number
  readonly reservoirSize: number
  readonly maxCollectedErrors: number
  readonly invalid: string | undefined
}

export type AnyStream = Stream.Stream<unknown, PipelineError, any>

/** A streaming step: `build` turns the stream of the step before into this step's output, for one run. */
export interface StepDef {
  readonly id: string
  readonly kind: StepKind
  readonly invalid: string | undefined
  readonly build: (input: AnyStream, run: Run, recorder: StepRecorder) => AnyStream
}

/** The runs of one pipeline value: the one that started last, and the runs by id (see `remember`). */
export interface Runs {
  current: Run | undefined
  readonly byId: Map<string, Run>
}

export const makeRuns = (): Runs => ({ current: undefined, byId: new Map() })

/** What the streaming and the batch-mode pipelines share: settings, steps (`id`, `kind`) and runs. */
export interface Common {
  readonly settings: Settings
  readonly defs: ReadonlyArray<{ readonly id: string; readonly kind: StepKind }>
  readonly runs: Runs
}

export interface PipelineImpl extends Common {
  readonly defs: ReadonlyArray<StepDef>
  readonly contextSource: unknown
}

/** A step's function as the machinery calls it. */
export type Call = (item: unknown, ctx: ItemContext<any, any>) => any

export const normalizeStart = (options: StartOptions | undefined): Settings => {
  const name = options?.name ?? "pipeline"
  const checkpoints = options?.checkpoints ?? "always"
  const sampleRate = options?.sampleRate ?? 1
  const reservoirSize = options?.reservoirSize ?? 1024
  const maxCollectedErrors = options?.maxCollectedErrors ?? 1000
  const invalid = checkpoints !== "always" && checkpoints !== "never"
    ? `checkpoints must be "always" or "never", got ${JSON.stringify(checkpoints)}`
    : !(sampleRate >= 0 && sampleRate <= 1)
    ? `sampleRate must be between 0 and 1, got ${sampleRate}`
    : !isPositiveInteger(reservoirSize)
    ? `reservoirSize must be a positive integer, got ${reservoirSize}`
    : !(Number.isInteger(maxCollectedErrors) && maxCollectedErrors >= 0)
    ? `maxCollectedErrors must be a non-negative integer, got ${maxCollectedErrors}`
    : undefined
  return { name, checkpoints, sampleRate, reservoirSize, maxCollectedErrors, invalid }
}

export const isPositiveInteger = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 1

export const isCount = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 0

/** What is wrong with a retry option, if anything. */
export const checkRetry = (retry: Retry<any> | undefined): string | undefined =>
  retry !== undefined && !Schedule.isSchedule(retry) && !isPositiveInteger(retry.maxAttempts)
    ? `retry.maxAttempts must be a positive integer, got ${retry.maxAttempts}`
    : undefined

const strategies: ReadonlyArray<string> = ["FAIL_FAST", "SKIP_FAILED", "COLLECT_ERRORS", "SPLIT_ERRORS"]

/** What is wrong with the options of an item-wise step, if anything. */
export const checkItemOptions = (options: ItemOptions<any> | undefined): string | undefined => {
  if (options === undefined) return undefined
  if (options.concurrency !== undefined && !isPositiveInteger(options.concurrency)) {
    return `concurrency must be a positive integer, got ${options.concurrency}`
  }
  if (options.bufferSize !== undefined && !isCount(options.bufferSize)) {
    return `bufferSize must be a non-negative integer, got ${options.bufferSize}`
  }
  if (options.errorStrategy !== undefined && !strategies.includes(options.errorStrategy)) {
    return `unknown errorStrategy ${JSON.stringify(options.errorStrategy)}`
  }
  return checkRetry(options.retry)
}

/** The first problem of a definition (its settings, then its steps in order), with the step it names. */
export const firstProblem = (
  settings: Settings,
  defs: ReadonlyArray<{ readonly id: string; readonly invalid?: string | undefined }>
): { readonly step: string; readonly description: string } | undefined => {
  if (settings.invalid !== undefined) return { step: "start", description: settings.invalid }
  const ids = new Set<string>()
  for (const def of defs) {
    const description = typeof def.id !== "string" || def.id.length === 0
      ? `step ids must be non-empty strings, got ${JSON.stringify(def.id)}`
      : ids.has(def.id)
      ? `duplicate step id "${def.id}"`
      : def.invalid
    if (description !== undefined) return { step: def.id, description }
    ids.add(def.id)
  }
  return undefined
}
