/**
 * One item through a line of steps: its state, each step's attempt (decode the input, call the engine or the pure
 * function, encode the output), retries, and the `StepStart` / `StepEnd` / `StepError` / `Retry` events.
 *
 * A step's outcome is its JSON output, or `Filtered` (a pure step dropped the item) or `Failed` (the item failed:
 * `item.failure` says why). Failures are recorded on the item, never in the error channel: an item failing does not
 * fail the run.
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import type * as Chain from "../../Chain.js"
import { ChainError } from "../../ChainError.js"
import * as EngineError from "../../EngineError.js"
import type * as Event from "../../Event.js"
import * as Node from "../../Node.js"
import * as Eager from "../eager.js"
import { textPrompt } from "../prompt.js"
import * as Retry from "../retry.js"
import * as Structured from "../structured.js"
import type { Plan, PlanNode, PlanStep } from "./plan.js"

/** What every step of a run shares. */
export interface Context {
  readonly chain: string
  readonly runId: string
  readonly clock: Clock.Clock
  readonly emit: ((event: Event.Event) => Effect.Effect<void>) | undefined
  readonly engines: ReadonlyMap<string, Chain.ResolvedEngine>
  readonly limits: ReadonlyMap<string, Effect.Semaphore>
  readonly retry: number
  readonly engineRetry: Readonly<Record<string, number>>
  readonly retryDelayMs: number
  /** The retry policy of each LLM step that retries, built once per run. */
  readonly policies: Map<string, Retry.Policy>
}

/** An item in flight: its outputs so far (by step id and alias), the value the next step gets, its status. */
export interface ItemState {
  readonly id: string
  readonly index: number
  readonly row: unknown
  readonly outputs: Record<string, unknown>
  readonly done: Readonly<Record<string, unknown>> | undefined
  readonly computed: Array<string>
  current: unknown
  status: "running" | "complete" | "filtered" | "failed"
  filteredBy: string | undefined
  failure: Chain.Failure | undefined
}

export const makeItem = (input: Chain.Input): ItemState => ({
  id: input.id,
  index: input.index,
  row: input.data,
  outputs: { chain_input: input.data },
  done: input.done,
  computed: [],
  current: input.data,
  status: "running",
  filteredBy: undefined,
  failure: undefined
})

export const toResult = (item: ItemState, plan: Plan): Chain.Result => {
  if (item.status === "running") item.status = "complete"
  const { chain_input: _, ...outputs } = item.outputs
  return {
    id: item.id,
    index: item.index,
    input: item.row,
    status: item.status as Chain.Result["status"],
    outputs,
    computed: item.computed,
    output: item.status === "complete" && plan.last !== undefined ? item.outputs[plan.last.step.id] : undefined,
    filteredBy: item.filteredBy,
    failure: item.failure
  }
}

interface StepValue {
  readonly value: unknown
  readonly usage: Event.Usage | undefined
}

export const Filtered: unique symbol = Symbol.for("sluice/Chain/Filtered")
export const Failed: unique symbol = Symbol.for("sluice/Chain/Failed")
type Stop = typeof Filtered | typeof Failed

/** Runs an item through a line of steps (a segment between batch steps) and records how it ended. */
export const runSegment = (line: ReadonlyArray<PlanNode>, item: ItemState, ctx: Context): Effect.Effect<ItemState> =>
  item.status !== "running" ? Exit.succeed(item) : Eager.map(runLine(line, 0, item.current, item, ctx), (out) => {
    if (out === Filtered) {
      if (item.status === "running") item.status = "filtered"
    } else if (out === Failed) {
      item.status = "failed"
    } else {
      item.current = out
    }
    return item
  })

/** Runs the steps of a line from position `from` (each step's value is the next one's input). */
const runLine = (
  line: ReadonlyArray<PlanNode>,
  from: number,
  input: unknown,
  item: ItemState,
  ctx: Context
): Effect.Effect<unknown | Stop> => {
  let current = input
  for (let i = from; i < line.length && current !== Filtered && current !== Failed; i++) {
    const node = line[i]!
    const result = node._tag === "Step"
      ? runStep(node, current, item, ctx)
      : runBranches(node.branches, current, item, ctx)
    if (!Eager.isSuccess(result)) return Eager.flatMap(result, (value) => runLine(line, i + 1, value, item, ctx))
    current = result.value
  }
  return Exit.succeed(current)
}

/** Runs the branches of a line concurrently; the line goes on with the same value unless one failed. */
const runBranches = (
  branches: ReadonlyArray<{ readonly alias: string | undefined; readonly line: ReadonlyArray<PlanNode> }>,
  current: unknown,
  item: ItemState,
  ctx: Context
): Effect.Effect<unknown | Stop> =>
  Effect.map(
    Effect.forEach(branches, (b) => runLine(b.line, 0, current, item, ctx), { concurrency: "unbounded" }),
    (results) => {
      if (item.status === "failed" || results.some((r) => r === Failed)) return Failed
      branches.forEach((b, j) => {
        const r = results[j]
        if (b.alias !== undefined && r !== Filtered) item.outputs[b.alias] = r
      })
      return current
    }
  )

export const origin = (ctx: Context, step: string): Event.Origin => ({
  runId: ctx.runId,
  path: [ctx.chain, step],
  timestamp: ctx.clock.unsafeCurrentTimeMillis()
})

export const emit = (ctx: Context, event: Event.Event): Effect.Effect<void> =>
  ctx.emit === undefined ? Effect.void : ctx.emit(event)

const runStep = (node: PlanStep, input: unknown, item: ItemState, ctx: Context): Effect.Effect<unknown | Stop> => {
  const step = node.step
  if (item.done !== undefined && Object.hasOwn(item.done, step.id)) {
    const value = item.done[step.id]
    item.outputs[step.id] = value
    return Exit.succeed(value)
  }
  const start = origin(ctx, step.id)
  const started = emit(ctx, { _tag: "StepStart", ...start, item: item.index })
  return Eager.isSuccess(started)
    ? tryStep(node, input, item, ctx, start)
    : Effect.flatMap(started, () => tryStep(node, input, item, ctx, start))
}

/**
 * A started step's tries. The first runs at once, so a step that never waits is a complete effect (see eager.ts);
 * the retries of an LLM step follow its policy.
 */
const tryStep = (
  node: PlanStep,
  input: unknown,
  item: ItemState,
  ctx: Context,
  start: Event.Origin
): Effect.Effect<unknown | Stop> => {
  const step = node.step
  const tries = { count: 0 }
  const first = attempt(node, input, item, ctx, tries)
  const policy = step._tag === "LlmStep" ? policyOf(step, ctx) : undefined
  if (Eager.isComplete(first) && (policy === undefined || Exit.isSuccess(first))) {
    return Exit.isSuccess(first)
      ? stepEnded(node, start, first.value, item, ctx)
      : stepFailed(node, first.cause, tries.count, item, ctx)
  }
  let tried = false
  const once = Effect.suspend(() => tried ? attempt(node, input, item, ctx, tries) : (tried = true, first))
  const run = policy === undefined ? first : Retry.effect(once, policy, ({ attempt, delayMs, error }) =>
    emit(ctx, {
      _tag: "Retry",
      ...origin(ctx, step.id),
      attempt,
      error: Node.errorTag(error),
      message: Node.errorMessage(error),
      delayMs
    }))
  return Effect.matchCauseEffect(run, {
    onSuccess: (result) => stepEnded(node, start, result, item, ctx),
    onFailure: (cause) => stepFailed(node, cause, tries.count, item, ctx)
  })
}

/** One try of a step: decode its input, then run the pure function or call the engine. */
const attempt = (
  node: PlanStep,
  input: unknown,
  item: ItemState,
  ctx: Context,
  tries: { count: number }
): Effect.Effect<StepValue | Stop, unknown> => {
  tries.count++
  const step = node.step
  const decoded = node.decode === undefined ? Either.right(input) : node.decode(input)
  if (Either.isLeft(decoded)) return Exit.fail(invalidInput(ctx, step.id, item.index, decoded.left))
  if (step._tag === "LlmStep") return callLlm(node, decoded.right, item, ctx)
  const value = applyOne(node, step, decoded.right, item, ctx)
  return Either.isLeft(value)
    ? Exit.fail(value.left)
    : Exit.succeed(value.right === Filtered ? Filtered : { value: value.right, usage: undefined })
}

/** The retry policy of an LLM step, or `undefined` when it does not retry (see {@link retriesOf}). */
const policyOf = (step: Chain.LlmStep, ctx: Context): Retry.Policy | undefined => {
  const cached = ctx.policies.get(step.id)
  if (cached !== undefined) return cached
  const retries = retriesOf(step, ctx)
  if (retries <= 0) return undefined
  const policy: Retry.Policy = {
    schedule: EngineError.retrySchedule({ times: retries, base: ctx.retryDelayMs }),
    while: (error) => Retry.isRetryable(error) && !isChainError(error)
  }
  ctx.policies.set(step.id, policy)
  return policy
}

const stepEnded = (
  node: PlanStep,
  start: Event.Origin,
  result: StepValue | Stop,
  item: ItemState,
  ctx: Context
): Effect.Effect<unknown | Stop> => {
  const step = node.step
  if (result === Failed) return Exit.succeed(Failed)
  const { path, runId } = start
  const timestamp = ctx.clock.unsafeCurrentTimeMillis()
  const durationMs = timestamp - start.timestamp
  if (result === Filtered) {
    item.filteredBy = step.id
    return Eager.as(emit(ctx, { _tag: "StepEnd", runId, path, timestamp, durationMs, item: item.index }), Filtered)
  }
  const output = result.value
  item.outputs[step.id] = output
  item.computed.push(step.id)
  const event: Event.Event = result.usage === undefined
    ? { _tag: "StepEnd", runId, path, timestamp, durationMs, item: item.index, output }
    : { _tag: "StepEnd", runId, path, timestamp, durationMs, item: item.index, output, usage: result.usage }
  return Eager.as(emit(ctx, event), output)
}

const stepFailed = (
  node: PlanStep,
  cause: Cause.Cause<unknown>,
  tries: number,
  item: ItemState,
  ctx: Context
): Effect.Effect<Stop> => {
  if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
  const step = node.step
  const failure = Cause.failureOption(cause)
  const error = Option.isSome(failure) ? failure.value : Cause.squash(cause)
  const tag = Option.isSome(failure) ? Node.errorTag(error) : "Defect"
  const message = Option.isSome(failure) ? Node.errorMessage(error) : Cause.pretty(cause)
  const retryable = Option.isSome(failure) ? Retry.isRetryable(error) : false
  item.status = "failed"
  item.failure = { step: step.id, error: tag, message, retryable, tries, cause: error }
  return Eager.as(
    emit(ctx, { _tag: "StepError", ...origin(ctx, step.id), error: tag, message, retryable, item: item.index }),
    Failed
  )
}

/** The retries of an LLM step: its own, else its engine's (`engineRetry`), else the run's (default 2). */
const retriesOf = (step: Chain.LlmStep, ctx: Context): number => {
  if (step.retry >= 0) return step.retry
  const engine = ctx.engines.get(step.id)?.name
  const byEngine = engine === undefined ? undefined : ctx.engineRetry[engine]
  return byEngine === undefined ? ctx.retry : Math.max(0, Math.floor(byEngine))
}

const isChainError = (error: unknown): boolean => Predicate.hasProperty(error, "_tag") && error._tag === "ChainError"

const applyOne = (
  node: PlanStep,
  step: Chain.ApplyStep,
  input: unknown,
  item: ItemState,
  ctx: Context
): Either.Either<unknown | typeof Filtered, ChainError> => {
  const results = Either.try({
    try: () => step.fn([input], [{ id: item.id, index: item.index, vars: item.outputs }]),
    catch: (cause) =>
      new ChainError({
        chain: ctx.chain,
        step: step.id,
        reason: "ApplyFailed",
        item: item.index,
        description: Node.errorMessage(cause),
        cause
      })
  })
  if (Either.isLeft(results)) return results
  const list = results.right
  if (Array.isArray(list) && list.length === 0) return Either.right(Filtered)
  if (!Array.isArray(list) || list.length !== 1) {
    return Either.left(
      new ChainError({
        chain: ctx.chain,
        step: step.id,
        reason: "InvalidOutput",
        item: item.index,
        description: badBatch(1, list)
      })
    )
  }
  return encodeOutput(node, list[0], item, ctx)
}

/** What is wrong with the results of a batch step over `inputs` inputs. */
export const badBatch = (inputs: number, results: unknown): string =>
  `a batch step must return one result per input, or a subset of its inputs in order (${inputs} ${
    inputs === 1 ? "input" : "inputs"
  }, got ${Array.isArray(results) ? `${results.length} results` : typeof results})`

const encodeOutput = (
  node: PlanStep,
  value: unknown,
  item: ItemState,
  ctx: Context
): Either.Either<unknown | typeof Filtered, ChainError> => {
  if (value === undefined) return Either.right(Filtered)
  if (node.encode === undefined) return Either.right(value)
  const encoded = node.encode(value)
  return Either.isRight(encoded)
    ? Either.right(encoded.right)
    : Either.left(invalidOutput(ctx, node.step.id, item.index, encoded.left))
}

const callLlm = (
  node: PlanStep,
  input: unknown,
  item: ItemState,
  ctx: Context
): Effect.Effect<StepValue, unknown> => {
  const engine = ctx.engines.get(node.step.id)
  if (engine === undefined) {
    return Exit.fail(
      new ChainError({
        chain: ctx.chain,
        step: node.step.id,
        reason: "NoEngine",
        description: "the step's engine was not resolved"
      })
    )
  }
  const limit = engine.name === undefined ? undefined : ctx.limits.get(engine.name)
  const call = limit === undefined
    ? generate(node, input, item, ctx, engine)
    : limit.withPermits(1)(Effect.suspend(() => generate(node, input, item, ctx, engine)))
  return Eager.flatMap(call, ({ usage, value }) => {
    const encoded = encodeOutput(node, value, item, ctx)
    return Either.isLeft(encoded) ? Exit.fail(encoded.left) : Exit.succeed({ value: encoded.right, usage })
  })
}

/** The structured engine call of an LLM step (its prompt rendered for the item). */
const generate = (
  node: PlanStep,
  input: unknown,
  item: ItemState,
  ctx: Context,
  engine: Chain.ResolvedEngine
) => {
  const plan = node.llm!
  const step = node.step as Chain.LlmStep
  const vars = { input, item }
  const user = plan.prompt(vars)
  const prompt = textPrompt(user, plan.system === undefined ? undefined : plan.system(vars))
  return Structured.generate(engine.service, {
    schema: step.output,
    format: plan.format,
    prompt,
    guided: "auto",
    repairs: step.repair,
    sampling: step.sampling,
    onRepair: (attempt, error) =>
      emit(ctx, {
        _tag: "Retry",
        ...origin(ctx, step.id),
        attempt: attempt.call,
        error: error._tag,
        message: error.message,
        delayMs: 0
      })
  })
}

/** The per-item error of an input that does not match a step's input schema. */
export const invalidInput = (ctx: Context, step: string, item: number, error: ParseResult.ParseError): ChainError =>
  new ChainError({
    chain: ctx.chain,
    step,
    reason: "InvalidInput",
    item,
    description: ParseResult.TreeFormatter.formatErrorSync(error),
    cause: error
  })

/** The per-item error of an output that its step's output schema cannot encode. */
export const invalidOutput = (ctx: Context, step: string, item: number, error: ParseResult.ParseError): ChainError =>
  new ChainError({
    chain: ctx.chain,
    step,
    reason: "InvalidOutput",
    item,
    description: ParseResult.TreeFormatter.formatErrorSync(error),
    cause: error
  })
