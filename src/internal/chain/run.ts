/**
 * Running a chain: `execute` streams items through the plan's segments (lines of steps per item with bounded
 * concurrency, batch steps per chunk) and emits one result per item; `stream` turns a run into the stream of its
 * events; `collect` gathers the events into one output per input.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Mailbox from "effect/Mailbox"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as Chain from "../../Chain.js"
import type { ChainError } from "../../ChainError.js"
import * as Concurrency from "../../Concurrency.js"
import type * as Event from "../../Event.js"
import * as Node from "../../Node.js"
import * as Inputs from "../inputs.js"
import * as Retry from "../retry.js"
import { runBatch } from "./batch.js"
import { resolveEngines } from "./engines.js"
import { type Context, type ItemState, makeItem, runSegment, toResult } from "./item.js"
import { planOf } from "./plan.js"

/** See `Chain.execute`. */
export const execute = <E, R>(
  self: Chain.Chain,
  inputs: Stream.Stream<Chain.Input, E, R>,
  options?: Chain.ExecuteOptions | undefined
): Stream.Stream<Chain.Result, E | ChainError, R> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const plan = yield* planOf(self)
    const ctx = yield* makeContext(self, options)
    const concurrency = Math.max(1, Math.floor(options?.concurrency ?? 16))
    const stop = options?.stop
    let items: Stream.Stream<ItemState, E, R> = Stream.map(
      stop === undefined ? inputs : Stream.interruptWhen(inputs, stop),
      makeItem
    )
    for (const segment of plan.segments) {
      items = segment._tag === "Line"
        ? Concurrency.mapEffect(items, (item) => runSegment(segment.line, item, ctx), {
          concurrency,
          ordered: false,
          stop
        })
        : Stream.mapChunksEffect(
          Stream.rechunk(items, segment.step.step._tag === "ApplyStep" ? segment.step.step.batchSize : 64),
          (chunk) => runBatch(segment.step, chunk, ctx)
        )
    }
    return Stream.map(items, (item) => toResult(item, plan))
  }))

const makeContext = Effect.fnUntraced(function*(self: Chain.Chain, options: Chain.ExecuteOptions | undefined) {
  const resolved = options?.resolved ?? (yield* resolveEngines(self, options?.engines))
  const runId = options?.runId ?? (yield* Node.makeRunId)
  const clock = yield* Effect.clock
  const limits = new Map<string, Effect.Semaphore>()
  for (const [name, n] of Object.entries(options?.engineConcurrency ?? {})) {
    limits.set(name, yield* Effect.makeSemaphore(Math.max(1, Math.floor(n))))
  }
  const ctx: Context = {
    chain: self.name,
    runId,
    clock,
    emit: options?.onEvent,
    engines: resolved,
    limits,
    retry: Math.max(0, options?.retry ?? Retry.defaultTimes),
    engineRetry: options?.engineRetry ?? {},
    retryDelayMs: Math.max(0, options?.retryDelayMs ?? 500),
    policies: new Map()
  }
  return ctx
})

/** See `Chain.stream`. */
export const stream = <E, R>(
  self: Chain.Chain,
  inputs: Chain.Inputs<unknown, E, R>,
  options?: Chain.RunOptions | undefined
): Stream.Stream<Event.Event, E | ChainError, R> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const runId = options?.runId ?? (yield* Node.makeRunId)
    const mailbox = yield* Mailbox.make<Event.Event, E | ChainError>(1024)
    const start = yield* Clock.currentTimeMillis
    const origin = (timestamp: number): Event.Origin => ({ runId, path: [self.name], timestamp })
    yield* mailbox.offer({ _tag: "RunStart", ...origin(start), name: self.name })
    let index = 0
    const items = Stream.map(
      Inputs.toStream(inputs, (e) => e as E),
      (data): Chain.Input => ({ id: String(index), index: index++, data })
    )
    const onEvent = (event: Event.Event): Effect.Effect<void> =>
      mailbox.unsafeOffer(event) ? Effect.void : Effect.asVoid(mailbox.offer(event))
    yield* execute(self, items, { ...options, runId, onEvent }).pipe(
      Stream.runDrain,
      Effect.onExit((exit) =>
        Effect.gen(function*() {
          const end = yield* Clock.currentTimeMillis
          const status = Exit.isSuccess(exit) ? "success" : Exit.isInterrupted(exit) ? "interrupted" : "failure"
          const event: Event.Event = { _tag: "RunEnd", ...origin(end), status, durationMs: end - start }
          // interrupted: the consumer may be gone, so never wait for room in the mailbox
          if (status === "interrupted") mailbox.unsafeOffer(event)
          else yield* mailbox.offer(event)
          yield* mailbox.done(Exit.asVoid(exit))
        })
      ),
      Effect.forkScoped
    )
    return Mailbox.toStream(mailbox)
  }))

interface Entry {
  readonly outputs: Record<string, unknown>
  failure?: { readonly step: string; readonly error: string; readonly message: string }
}

/** See `Chain.run`: the events of {@link stream} gathered by item, in input order. */
export const collect = <O, E, R>(
  self: Chain.Chain<any, O>,
  inputs: Chain.Inputs<unknown, E, R>,
  options?: Chain.RunOptions | undefined
): Effect.Effect<Array<Chain.Output<O>>, E | ChainError, R> =>
  Effect.gen(function*() {
    const plan = yield* planOf(self)
    const byItem = new Map<number, Entry>()
    yield* Stream.runForEach(stream(self, inputs, options), (event) => Effect.sync(() => record(byItem, event)))
    const last = plan.last
    const decode = last?.step.output === undefined ? undefined : Schema.decodeUnknownEither(last.step.output)
    const indexes = [...byItem.keys()].sort((a, b) => a - b)
    return indexes.map((index): Chain.Output<O> => {
      const e = byItem.get(index)!
      const final = last === undefined ? undefined : e.outputs[last.step.id]
      const status = e.failure !== undefined ? "failed" : final !== undefined ? "complete" : "filtered"
      let output: O | undefined = undefined
      if (status === "complete") {
        const decoded = decode === undefined ? undefined : decode(final)
        output = (decoded !== undefined && Either.isRight(decoded) ? decoded.right : final) as O
      }
      return { index, status, output, outputs: e.outputs, failure: e.failure }
    })
  })

const record = (byItem: Map<number, Entry>, event: Event.Event): void => {
  if (event._tag !== "StepStart" && event._tag !== "StepEnd" && event._tag !== "StepError") return
  if (event.item === undefined) return
  let e = byItem.get(event.item)
  if (e === undefined) {
    e = { outputs: {} }
    byItem.set(event.item, e)
  }
  const step = event.path[event.path.length - 1]!
  if (event._tag === "StepEnd" && event.output !== undefined) e.outputs[step] = event.output
  else if (event._tag === "StepError") e.failure = { step, error: event.error, message: event.message }
}
