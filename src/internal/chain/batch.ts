/**
 * A batch step (`Chain.apply(…, { batch: true })`) over a chunk of items: one call of its function for the items
 * still running, their results aligned with their inputs (`alignBatch`), each item's output encoded and its events
 * emitted.
 */
import type * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Chain from "../../Chain.js"
import { ChainError } from "../../ChainError.js"
import * as Node from "../../Node.js"
import { badBatch, type Context, emit, invalidInput, invalidOutput, type ItemState, origin } from "./item.js"
import type { PlanStep } from "./plan.js"

/** Runs a batch step over the items of a chunk that are still running. */
export const runBatch = (
  node: PlanStep,
  chunk: Chunk.Chunk<ItemState>,
  ctx: Context
): Effect.Effect<Chunk.Chunk<ItemState>> =>
  Effect.suspend(() => {
    const step = node.step as Chain.ApplyStep
    const effects: Array<Effect.Effect<void>> = []
    const done = () => Effect.as(Effect.all(effects, { discard: true }), chunk)
    const { inputs, pending } = decodeInputs(node, chunk, ctx, effects)
    if (pending.length === 0) return done()
    const start = ctx.clock.unsafeCurrentTimeMillis()
    const results = Either.try({
      try: () => step.fn(inputs, pending.map((item) => ({ id: item.id, index: item.index, vars: item.outputs }))),
      catch: (cause) => cause
    })
    const duration = ctx.clock.unsafeCurrentTimeMillis() - start
    const aligned = Either.isRight(results) && Array.isArray(results.right)
      ? alignBatch(inputs, results.right as ReadonlyArray<unknown>)
      : undefined
    if (aligned === undefined) {
      for (const item of pending) {
        const error = new ChainError({
          chain: ctx.chain,
          step: step.id,
          reason: Either.isLeft(results) ? "ApplyFailed" : "InvalidOutput",
          item: item.index,
          description: Either.isLeft(results)
            ? Node.errorMessage(results.left)
            : badBatch(pending.length, results.right),
          ...(Either.isLeft(results) ? { cause: results.left } : {})
        })
        fail(item, step.id, error, ctx, effects)
      }
      return done()
    }
    pending.forEach((item, i) => settle(node, item, aligned[i], duration, ctx, effects))
    return done()
  })

/** The decoded inputs of the items still running (the others are skipped: done in an earlier run, or failed). */
const decodeInputs = (
  node: PlanStep,
  chunk: Chunk.Chunk<ItemState>,
  ctx: Context,
  effects: Array<Effect.Effect<void>>
): { readonly inputs: Array<unknown>; readonly pending: Array<ItemState> } => {
  const step = node.step
  const pending: Array<ItemState> = []
  const inputs: Array<unknown> = []
  for (const item of chunk) {
    if (item.status !== "running") continue
    if (item.done !== undefined && Object.hasOwn(item.done, step.id)) {
      item.outputs[step.id] = item.done[step.id]
      item.current = item.done[step.id]
      continue
    }
    effects.push(emit(ctx, { _tag: "StepStart", ...origin(ctx, step.id), item: item.index }))
    const decoded = node.decode === undefined ? Either.right(item.current) : node.decode(item.current)
    if (Either.isLeft(decoded)) {
      fail(item, step.id, invalidInput(ctx, step.id, item.index, decoded.left), ctx, effects)
      continue
    }
    pending.push(item)
    inputs.push(decoded.right)
  }
  return { inputs, pending }
}

/** One item's result of a batch: filtered (`undefined`), or its output encoded. */
const settle = (
  node: PlanStep,
  item: ItemState,
  value: unknown,
  duration: number,
  ctx: Context,
  effects: Array<Effect.Effect<void>>
): void => {
  const id = node.step.id
  if (value === undefined) {
    item.status = "filtered"
    item.filteredBy = id
    effects.push(emit(ctx, { _tag: "StepEnd", ...origin(ctx, id), durationMs: duration, item: item.index }))
    return
  }
  const encoded = node.encode === undefined ? Either.right(value) : node.encode(value)
  if (Either.isLeft(encoded)) return fail(item, id, invalidOutput(ctx, id, item.index, encoded.left), ctx, effects)
  item.outputs[id] = encoded.right
  item.current = encoded.right
  item.computed.push(id)
  effects.push(
    emit(ctx, { _tag: "StepEnd", ...origin(ctx, id), durationMs: duration, item: item.index, output: encoded.right })
  )
}

/**
 * The result of each input of a batch: one result per input (by position), or, for a shorter list, the inputs it
 * kept (the very values given, in order: Chainette's list-in/list-out filters), the others dropped. `undefined` when
 * the list is neither.
 */
export const alignBatch = (
  inputs: ReadonlyArray<unknown>,
  results: ReadonlyArray<unknown>
): ReadonlyArray<unknown> | undefined => {
  if (results.length === inputs.length) return results
  if (results.length > inputs.length) return undefined
  const aligned: Array<unknown> = new Array(inputs.length).fill(undefined)
  let next = 0
  for (const result of results) {
    while (next < inputs.length && inputs[next] !== result) next++
    if (next === inputs.length) return undefined
    aligned[next++] = result
  }
  return aligned
}

const fail = (
  item: ItemState,
  step: string,
  error: ChainError,
  ctx: Context,
  effects: Array<Effect.Effect<void>>
): void => {
  item.status = "failed"
  item.failure = { step, error: error._tag, message: error.message, retryable: false, tries: 1, cause: error }
  effects.push(
    emit(ctx, {
      _tag: "StepError",
      ...origin(ctx, step),
      error: error._tag,
      message: error.message,
      retryable: false,
      item: item.index
    })
  )
}
