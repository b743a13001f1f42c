/**
 * One step activation as the scheduler runs it: `retry(schedule, middleware(timeout(body)))`, where the body is an
 * effect, a stream of tokens, a nested graph or a node, and its events go to the run's buffer.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Event from "../../Event.js"
import type { NodeBody, StateHandle, StepFailure, StepInfo, StepRequirements, StepResult } from "../../Graph.js"
import * as Node from "../../Node.js"
import { NodeError } from "../../NodeError.js"
import * as Retry from "../retry.js"
import type { Compiled, CompiledStep } from "./compile.js"

/** What a running graph shares with its steps: where events go, the state, the run's id and path. */
export interface Runtime {
  readonly runId: string
  readonly prefix: ReadonlyArray<string>
  readonly handle: StateHandle<any>
  /** Hands an event to the consumer without waiting; `false` when the buffer is full (then use `emit`). */
  readonly tryEmit: (event: Event.Event) => boolean
  readonly emit: (event: Event.Event) => Effect.Effect<unknown>
  readonly emitAll: (events: Iterable<Event.Event>) => Effect.Effect<unknown>
}

/** Emits `event`, then runs `next`: without an extra effect when the buffer has room. */
export const emitThen = <A, E, R>(
  runtime: Runtime,
  event: Event.Event,
  next: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => runtime.tryEmit(event) ? next : Effect.zipRight(runtime.emit(event), next)

/** The output a step's `StepEnd` carries (the text of a token step, the output of a node step). */
export class StepOutput {
  constructor(readonly value: unknown) {}
}

/** Runs a nested graph within the run (the scheduler's own entry point). */
export type RunNested = (graph: Compiled, runtime: Runtime) => Effect.Effect<void, unknown, unknown>

/** One activation of `step`: every attempt is the body under its timeout, wrapped by the middleware; then retry. */
export const attempts = (
  graph: Compiled,
  step: CompiledStep,
  runtime: Runtime,
  path: ReadonlyArray<string>,
  runNested: RunNested
): Effect.Effect<unknown, unknown, unknown> => {
  const definition = step.definition
  const body = bodyEffect(step, runtime, path, runNested)
  const timed = definition.timeout === undefined ? body : Effect.timeoutFail(body, {
    duration: definition.timeout,
    onTimeout: () =>
      new NodeError({
        node: step.id,
        reason: "Timeout",
        description: `after ${Duration.format(definition.timeout!)}`
      })
  })
  const middleware = graph.middleware
  const attempt = (n: number): Effect.Effect<unknown, unknown, unknown> => {
    if (middleware.length === 0) return timed
    const info: StepInfo = { graph: graph.name, step: step.id, runId: runtime.runId, path, attempt: n }
    let wrapped = timed
    for (let k = middleware.length - 1; k >= 0; k--) {
      wrapped = middleware[k]!(wrapped as Effect.Effect<StepResult, StepFailure, StepRequirements>, info)
    }
    return wrapped
  }
  const retry = definition.retry
  if (retry === undefined) return attempt(1)
  return Effect.suspend(() => {
    let n = 0
    return Retry.effect(
      Effect.suspend(() => attempt(++n)),
      retry,
      ({ attempt, delayMs, error }) =>
        Effect.flatMap(
          Clock.currentTimeMillis,
          (timestamp) =>
            runtime.emit(Event.make("Retry", { runId: runtime.runId, path, timestamp }, {
              attempt,
              error: Node.errorTag(error),
              message: Node.errorMessage(error),
              delayMs
            }))
        )
    )
  })
}

const bodyEffect = (
  step: CompiledStep,
  runtime: Runtime,
  path: ReadonlyArray<string>,
  runNested: RunNested
): Effect.Effect<unknown, unknown, unknown> => {
  const definition = step.definition
  switch (definition.kind) {
    case "effect":
      return definition.body as Effect.Effect<unknown, unknown, unknown>
    case "stream":
      return tokens(definition.body as Stream.Stream<string, unknown, unknown>, runtime, path)
    case "graph":
      return runNested(step.inner!, { ...runtime, prefix: path })
    case "node":
      return nodeBody(definition.body as NodeBody<unknown>, runtime, path)
  }
}

/** A token step: every element is a `Token` event; the step's output is the whole text. */
const tokens = (
  body: Stream.Stream<string, unknown, unknown>,
  runtime: Runtime,
  path: ReadonlyArray<string>
): Effect.Effect<StepOutput, unknown, unknown> =>
  Effect.clockWith((clock) =>
    Effect.suspend(() => {
      const parts: Array<string> = []
      const { runId } = runtime
      return Effect.as(
        Stream.runForEachChunk(body, (chunk) => {
          const timestamp = clock.unsafeCurrentTimeMillis()
          const events: Array<Event.Event> = []
          for (const text of chunk) {
            parts.push(text)
            events.push({ _tag: "Token", runId, path, timestamp, text })
          }
          return runtime.emitAll(events)
        }),
        Effect.sync(() => new StepOutput(parts.join("")))
      ).pipe(Effect.flatten)
    })
  )

/** A node step: the node's events nest under the step; its output is written back with `output`, if given. */
const nodeBody = (
  body: NodeBody<unknown>,
  runtime: Runtime,
  path: ReadonlyArray<string>
): Effect.Effect<StepOutput, unknown, unknown> => {
  const nodePath = [...path, body.node.name]
  return Effect.suspend(() => {
    let result: Option.Option<unknown> = Option.none()
    const events = Node.streamIn(body.node, body.input(runtime.handle.unsafeGet()), {
      runId: runtime.runId,
      path: nodePath
    })
    return Stream.runForEachChunk(events, (chunk) => {
      for (const event of chunk) {
        if (event._tag === "StepEnd" && Event.samePath(event.path, nodePath)) result = Option.some(event.output)
      }
      return runtime.emitAll(chunk)
    }).pipe(
      Effect.zipRight(Effect.suspend(() => {
        if (Option.isNone(result)) return Effect.dieMessage(`node "${body.node.name}" streamed no StepEnd`)
        const value = result.value
        const output = body.output
        if (output === undefined) return Effect.succeed(new StepOutput(value))
        return Effect.as(runtime.handle.update((s) => output(value, s)), new StepOutput(value))
      }))
    )
  })
}
