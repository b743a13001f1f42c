/**
 * What each kind of step does to the stream of the step before it, for one run: the `build` functions of the step
 * definitions.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import * as Node from "../../Node.js"
import type { Group, Inputs, ItemOptions, Retry, StepContext, StreamContext } from "../../Pipeline.js"
import type { PipelineError } from "../../PipelineError.js"
import * as Input from "../inputs.js"
import * as Pool from "../pool.js"
import type { Call, StepDef } from "./definition.js"
import { exitSkip, itemStep, type MakeCall, nodeCall, poolOptions } from "./item.js"
import { retryPolicy, retryStream } from "./retry.js"
import { countIn, countOut, inSpan, stepContext, toStepError, withStepEvents } from "./run.js"

type Build = StepDef["build"]

export const add = (
  id: string,
  f: (args: StreamContext<unknown, unknown, unknown, unknown>) => Inputs<unknown, unknown, unknown>,
  options: { readonly checkpoint?: boolean | undefined; readonly retry?: Retry<unknown> | undefined } | undefined
): Build =>
(input, run, recorder) => {
  const policy = retryPolicy(options?.retry)
  const output = Stream.suspend(() => {
    const source = () =>
      inSpan(
        run,
        Input.toStream(
          f({ input: countIn(input, recorder) as Stream.Stream<unknown, PipelineError>, ...stepContext(run, recorder) })
        )
      )
    const retried = policy === undefined ? Stream.suspend(source) : retryStream(source, policy, run, recorder)
    const wrapped = countOut(Stream.mapError(retried, (e) => toStepError(run, recorder, e)), recorder)
    return run.emit === undefined ? wrapped : withStepEvents(wrapped, run, recorder)
  })
  const record = options?.checkpoint ?? run.settings.checkpoints === "always"
  return record ? run.tap(id, output, false) : output
}

export const map = (f: unknown, options: ItemOptions<any> | undefined): Build => {
  const call: MakeCall = Node.isNode(f) ? nodeCall(f as Node.Node<unknown, unknown, unknown, unknown>) : () => f as Call
  return (input, run, recorder) =>
    Pool.run(input, itemStep(run, recorder, call(run, recorder), options, true), poolOptions(options, run))
}

export const filter = (predicate: Call, options: ItemOptions<any> | undefined): Build => {
  const call: Call = (item, ctx) => {
    const result = predicate(item, ctx) as boolean | Effect.Effect<boolean, unknown, unknown>
    if (typeof result === "boolean") return result ? Exit.succeed(item) : exitSkip
    return Effect.map(result, (keep) => keep ? item : Pool.Skip)
  }
  return (input, run, recorder) =>
    Pool.run(input, itemStep(run, recorder, call, options, false), poolOptions(options, run))
}

export const batch = (size: number, within: Duration.DurationInput | undefined): Build => (input, _run, recorder) => {
  const grouped = within === undefined
    ? Stream.grouped(countIn(input, recorder), size)
    : Stream.groupedWithin(countIn(input, recorder), size, within)
  return countOut(Stream.map(grouped, Chunk.toReadonlyArray), recorder)
}

export const unbatch: Build = (input, _run, recorder) =>
  countOut(
    Stream.flattenIterables(countIn(input, recorder) as Stream.Stream<Iterable<unknown>, PipelineError>),
    recorder
  )

export const take = (n: number): Build => (input, _run, recorder) =>
  countOut(Stream.take(countIn(input, recorder), n), recorder)

export const skip = (n: number): Build => (input, _run, recorder) =>
  countOut(Stream.drop(countIn(input, recorder), n), recorder)

export const checkpoint = (id: string): Build => (input, run, recorder) =>
  countOut(run.tap(id, countIn(input, recorder), true), recorder)

export const window = (size: number, slide: number): Build => (input, _run, recorder) =>
  countOut(Stream.map(Stream.slidingSize(countIn(input, recorder), size, slide), Chunk.toReadonlyArray), recorder)

export const groupBy = (by: (item: unknown) => unknown, size: number | undefined): Build => (input, _run, recorder) =>
  Stream.suspend(() => {
    const groups = new Map<unknown, Array<unknown>>()
    const full = Stream.mapChunks(countIn(input, recorder), (chunk) => {
      const out: Array<Group<unknown, unknown>> = []
      for (const item of chunk) {
        const key = by(item)
        let items = groups.get(key)
        if (items === undefined) {
          items = []
          groups.set(key, items)
        }
        items.push(item)
        if (size !== undefined && items.length >= size) {
          groups.delete(key)
          out.push({ key, items })
        }
      }
      return Chunk.unsafeFromArray(out)
    })
    const rest = Stream.suspend(() =>
      Stream.fromIterable(Array.from(groups, ([key, items]): Group<unknown, unknown> => ({ key, items })))
    )
    return countOut(Stream.concat(full, rest), recorder)
  })

export const merge = (other: unknown): Build => (input, run, recorder) =>
  Stream.suspend(() => {
    const source = typeof other === "function"
      ? (other as (ctx: StepContext<unknown, unknown>) => Inputs<unknown, unknown, unknown>)(stepContext(run, recorder))
      : other as Inputs<unknown, unknown, unknown>
    const right = Stream.mapError(inSpan(run, Input.toStream(source)), (e) => toStepError(run, recorder, e))
    return countOut(Stream.merge(countIn(input, recorder), right), recorder)
  })

export interface JoinOptions {
  readonly left: (item: unknown) => unknown
  readonly right: (item: unknown) => unknown
  readonly mode?: "inner" | "left" | undefined
}

type Side = { readonly side: 0; readonly item: unknown } | { readonly side: 1; readonly item: unknown } | {
  readonly side: 2
}

/**
 * A symmetric hash join: both sides are read as they come. Left items are kept (to meet right items still to come)
 * only until the right side ends; from then on they stream through the complete right table.
 */
export const join = (other: Inputs<unknown, unknown, unknown>, options: JoinOptions): Build => (input, run, recorder) =>
  Stream.suspend(() => {
    const table = new JoinTable(options)
    const right: Stream.Stream<Side, PipelineError, unknown> = Stream.concat(
      Stream.map(
        Stream.mapError(inSpan(run, Input.toStream(other)), (e) => toStepError(run, recorder, e)),
        (item): Side => ({ side: 1, item })
      ),
      Stream.succeed<Side>({ side: 2 })
    )
    const left = Stream.map(countIn(input, recorder), (item): Side => ({ side: 0, item }))
    return countOut(Stream.mapConcat(Stream.merge(left, right), (event) => table.next(event)), recorder)
  })

class JoinTable {
  private readonly rights = new Map<unknown, Array<unknown>>()
  private readonly lefts = new Map<unknown, Array<{ readonly item: unknown; matched: boolean }>>()
  private rightDone = false
  private readonly leftMode: boolean

  constructor(readonly options: JoinOptions) {
    this.leftMode = options.mode === "left"
  }

  next(event: Side): ReadonlyArray<readonly [unknown, unknown]> {
    switch (event.side) {
      case 0:
        return this.fromLeft(event.item)
      case 1:
        return this.fromRight(event.item)
      case 2:
        return this.rightEnded()
    }
  }

  private fromLeft(item: unknown): ReadonlyArray<readonly [unknown, unknown]> {
    const key = this.options.left(item)
    const matches = this.rights.get(key)
    const out = matches === undefined ? [] : matches.map((row) => [item, row] as const)
    if (this.rightDone) return out.length === 0 && this.leftMode ? [[item, undefined]] : out
    const waiting = this.lefts.get(key)
    const entry = { item, matched: out.length > 0 }
    if (waiting === undefined) this.lefts.set(key, [entry])
    else waiting.push(entry)
    return out
  }

  private fromRight(item: unknown): ReadonlyArray<readonly [unknown, unknown]> {
    const key = this.options.right(item)
    const rows = this.rights.get(key)
    if (rows === undefined) this.rights.set(key, [item])
    else rows.push(item)
    const waiting = this.lefts.get(key)
    if (waiting === undefined) return []
    return waiting.map((entry) => {
      entry.matched = true
      return [entry.item, item] as const
    })
  }

  private rightEnded(): ReadonlyArray<readonly [unknown, unknown]> {
    this.rightDone = true
    const unmatched: Array<readonly [unknown, unknown]> = []
    if (this.leftMode) {
      for (const entries of this.lefts.values()) {
        for (const entry of entries) if (!entry.matched) unmatched.push([entry.item, undefined])
      }
    }
    this.lefts.clear()
    return unmatched
  }
}

export const addBatch = (
  f: (items: ReadonlyArray<unknown>, ctx: StepContext<unknown, unknown>) => Effect.Effect<Iterable<unknown>>,
  size: number | undefined
): Build =>
(input, run, recorder) => {
  const ctx = stepContext(run, recorder)
  const apply = (items: ReadonlyArray<unknown>) => {
    const applied = Effect.mapError(Effect.suspend(() => f(items, ctx)), (e) => toStepError(run, recorder, e))
    return run.span === undefined ? applied : Effect.withParentSpan(applied, run.span)
  }
  const counted = countIn(input, recorder)
  const out = size === undefined
    ? Stream.flattenIterables(Stream.fromEffect(
      Effect.flatMap(Stream.runCollect(counted), (chunk) => apply(Chunk.toReadonlyArray(chunk)))
    ))
    : Stream.flattenIterables(
      Stream.mapEffect(Stream.grouped(counted, size), (chunk) => apply(Chunk.toReadonlyArray(chunk)))
    )
  return countOut(out, recorder)
}

export { flatMap } from "./flatMap.js"
