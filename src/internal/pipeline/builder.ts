/**
 * The pipeline values: a prototype holding the builder methods (each appends a step definition to a new value) and
 * the ways of running, shared with the batch-mode pipeline where they are the same (name, steps, metadata).
 *
 * @internal
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { pipeArguments } from "effect/Pipeable"
import type * as Pipeline from "../../Pipeline.js"
import type {
  ExecuteOptions,
  Inputs,
  ItemOptions,
  Metadata,
  Retry,
  StepContext,
  StepKind,
  StreamContext
} from "../../Pipeline.js"
import {
  type Call,
  checkItemOptions,
  checkRetry,
  type Common,
  isCount,
  isPositiveInteger,
  makeRuns,
  type PipelineImpl,
  type Settings,
  type StepDef
} from "./definition.js"
import * as Execute from "./execute.js"
import { snapshot } from "./run.js"
import * as Steps from "./steps.js"

export const TypeId: Pipeline.TypeId = Symbol.for("sluice/Pipeline") as Pipeline.TypeId

/** What every pipeline value has: its name, its steps and the metadata of its runs. */
export const CommonProto = {
  pipe() {
    return pipeArguments(this, arguments)
  },
  get name(): string {
    return (this as unknown as Common).settings.name
  },
  get steps(): ReadonlyArray<{ readonly id: string; readonly kind: StepKind }> {
    return (this as unknown as Common).defs.map(({ id, kind }) => ({ id, kind }))
  },
  get metadata(): Effect.Effect<Metadata> {
    const self = this as unknown as Common
    return Effect.sync(() => snapshot(self.settings.name, self.runs.current))
  },
  metadataOf(this: Common, runId: string): Effect.Effect<Option.Option<Metadata>> {
    return Effect.sync(() => {
      const run = this.runs.byId.get(runId)
      return run === undefined ? Option.none() : Option.some(snapshot(this.settings.name, run))
    })
  }
}

type AnyInputs = Inputs<unknown, unknown, unknown>
type RunOptions = ExecuteOptions<unknown> & { readonly bufferSize?: number | undefined }

const Proto = Object.assign(Object.create(CommonProto), {
  [TypeId]: TypeId,
  add(
    this: PipelineImpl,
    id: string,
    f: (args: StreamContext<unknown, unknown, unknown, unknown>) => AnyInputs,
    options?: { readonly checkpoint?: boolean | undefined; readonly retry?: Retry<unknown> | undefined }
  ) {
    return append(this, id, "add", checkRetry(options?.retry), Steps.add(id, f, options))
  },
  map(this: PipelineImpl, id: string, f: unknown, options?: ItemOptions<any>) {
    return append(this, id, "map", checkItemOptions(options), Steps.map(f, options))
  },
  flatMap(this: PipelineImpl, id: string, f: Call, options?: ItemOptions<any>) {
    return append(
      this,
      id,
      "flatMap",
      checkItemOptions(options),
      (input, run, recorder) => Steps.flatMap(input, run, recorder, f, options)
    )
  },
  filter(this: PipelineImpl, id: string, predicate: Call, options?: ItemOptions<any>) {
    return append(this, id, "filter", checkItemOptions(options), Steps.filter(predicate, options))
  },
  batch(this: PipelineImpl, id: string, size: number, options?: { readonly within?: Duration.DurationInput }) {
    const invalid = !isPositiveInteger(size) ? `batch size must be a positive integer, got ${size}` : undefined
    return append(this, id, "batch", invalid, Steps.batch(size, options?.within))
  },
  unbatch(this: PipelineImpl, id: string) {
    return append(this, id, "unbatch", undefined, Steps.unbatch)
  },
  take(this: PipelineImpl, id: string, n: number) {
    const invalid = !isCount(n) ? `take count must be a non-negative integer, got ${n}` : undefined
    return append(this, id, "take", invalid, Steps.take(n))
  },
  skip(this: PipelineImpl, id: string, n: number) {
    const invalid = !isCount(n) ? `skip count must be a non-negative integer, got ${n}` : undefined
    return append(this, id, "skip", invalid, Steps.skip(n))
  },
  checkpoint(this: PipelineImpl, id: string) {
    return append(this, id, "checkpoint", undefined, Steps.checkpoint(id))
  },
  window(this: PipelineImpl, id: string, size: number, options?: { readonly slide?: number }) {
    const slide = options?.slide ?? size
    const invalid = !isPositiveInteger(size)
      ? `window size must be a positive integer, got ${size}`
      : !isPositiveInteger(slide)
      ? `window slide must be a positive integer, got ${slide}`
      : undefined
    return append(this, id, "window", invalid, Steps.window(size, slide))
  },
  groupBy(this: PipelineImpl, id: string, by: (item: unknown) => unknown, options?: { readonly size?: number }) {
    const size = options?.size
    const invalid = size !== undefined && !isPositiveInteger(size)
      ? `group size must be a positive integer, got ${size}`
      : undefined
    return append(this, id, "groupBy", invalid, Steps.groupBy(by, size))
  },
  merge(this: PipelineImpl, id: string, other: unknown) {
    return append(this, id, "merge", undefined, Steps.merge(other))
  },
  join(this: PipelineImpl, id: string, other: AnyInputs, options: Steps.JoinOptions) {
    return append(this, id, "join", undefined, Steps.join(other, options))
  },
  addBatch(
    this: PipelineImpl,
    id: string,
    f: (items: ReadonlyArray<unknown>, ctx: StepContext<unknown, unknown>) => Effect.Effect<Iterable<unknown>>,
    options?: { readonly size?: number }
  ) {
    const size = options?.size
    const invalid = size !== undefined && !isPositiveInteger(size)
      ? `batch size must be a positive integer, got ${size}`
      : undefined
    return append(this, id, "addBatch", invalid, Steps.addBatch(f, size))
  },
  withContext(this: PipelineImpl, context: Effect.Effect<unknown, unknown, unknown>) {
    return makePipeline(this.settings, this.defs, context)
  },
  execute(this: PipelineImpl, inputs: AnyInputs, options?: ExecuteOptions<unknown>) {
    return Execute.execute(this, inputs, options, undefined, false)
  },
  executeToArray(this: PipelineImpl, inputs: AnyInputs, options?: ExecuteOptions<unknown>) {
    return Execute.executeToArray(this, inputs, options)
  },
  executeReduce(
    this: PipelineImpl,
    inputs: AnyInputs,
    reducer: (accumulator: unknown, item: unknown) => unknown,
    initial: unknown,
    options?: ExecuteOptions<unknown>
  ) {
    return Execute.executeReduce(this, inputs, reducer, initial, options)
  },
  executeEither(this: PipelineImpl, inputs: AnyInputs, options?: ExecuteOptions<unknown>) {
    return Execute.execute(this, inputs, options, undefined, true)
  },
  executeSplit(this: PipelineImpl, inputs: AnyInputs, options?: RunOptions) {
    return Execute.executeSplit(this, inputs, options)
  },
  events(this: PipelineImpl, inputs: AnyInputs, options?: RunOptions) {
    return Execute.events(this, inputs, options)
  }
})

export const makePipeline = (
  settings: Settings,
  defs: ReadonlyArray<StepDef>,
  contextSource: Effect.Effect<unknown, unknown, unknown> | undefined
): any => {
  const self = Object.create(Proto)
  self.settings = settings
  self.defs = defs
  self.contextSource = contextSource
  self.runs = makeRuns()
  return self
}

/** A new pipeline value with one more step (a definition that is invalid fails its runs, naming the step). */
const append = (
  self: PipelineImpl,
  id: string,
  kind: StepKind,
  invalid: string | undefined,
  build: StepDef["build"]
): any => makePipeline(self.settings, [...self.defs, { id, kind, invalid, build }], self.contextSource as any)
