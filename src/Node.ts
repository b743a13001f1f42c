/**
 * The unit of work: a streaming-native step.
 *
 * A `Node<I, O, E, R>` turns an input `I` into a stream of progress {@link Event.Event}s that ends with its output
 * `O`. {@link stream} is the primary interface; {@link run} consumes that same stream and returns the output, so the
 * two can never disagree. Failures are typed (`E`), requirements come through `R`, and interrupting the consumer
 * interrupts the node and runs its finalizers.
 *
 * Every node streams `StepStart` first and `StepEnd` (holding its output) last at its own path, `StepError` when it
 * fails, and in between whatever its body emits (tokens, partial fields, tool calls, retrieval items, heartbeats).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import type * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as Event from "./Event.js"
import { describe } from "./internal/describe.js"
import * as Retry from "./internal/retry.js"
import * as StepEvents from "./internal/stepEvents.js"
import { unwrap } from "./internal/unwrap.js"
import { NodeError } from "./NodeError.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/Node")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Where a node runs: the run it belongs to and its own path.
 *
 * @since 0.1.0
 * @category models
 */
export interface Context {
  readonly runId: string
  readonly path: ReadonlyArray<string>
}

/**
 * The final value of a node's body.
 *
 * @since 0.1.0
 * @category models
 */
export interface Output<out O> {
  readonly _tag: "Output"
  readonly value: O
  readonly usage?: Event.Usage | undefined
}

/**
 * What a node's body streams: progress events, then exactly one {@link Output}.
 *
 * @since 0.1.0
 * @category models
 */
export type Emission<O> = Event.Event | Output<O>

/**
 * A streaming unit of work from `I` to `O`, failing with `E`, requiring `R`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Node<in I, out O, out E = never, out R = never> extends Pipeable {
  readonly [TypeId]: {
    readonly _I: (_: I) => void
    readonly _O: (_: never) => O
    readonly _E: (_: never) => E
    readonly _R: (_: never) => R
  }
  readonly name: string
  readonly body: (input: I, context: Context) => Stream.Stream<Emission<O>, E, R>
  readonly observers: ReadonlyArray<(event: Event.Event) => Effect.Effect<void, never, R>>
  /**
   * Set for nodes whose whole work is one `Effect` (no progress events): {@link run} runs it directly when nobody
   * observes the node, since their stream is only `StepStart` and `StepEnd` around this same value.
   */
  readonly effect?: ((input: I) => Effect.Effect<O, E, R>) | undefined
}

/**
 * Type helpers for nodes.
 *
 * @since 0.1.0
 */
export declare namespace Node {
  /**
   * @since 0.1.0
   * @category utility types
   */
  export type Any = Node<any, any, any, any> | Node<never, any, any, any>
  /**
   * @since 0.1.0
   * @category utility types
   */
  export type Input<N> = N extends Node<infer I, infer _O, infer _E, infer _R> ? I : never
  /**
   * @since 0.1.0
   * @category utility types
   */
  export type Output<N> = N extends Node<infer _I, infer O, infer _E, infer _R> ? O : never
  /**
   * @since 0.1.0
   * @category utility types
   */
  export type Error<N> = N extends Node<infer _I, infer _O, infer E, infer _R> ? E : never
  /**
   * @since 0.1.0
   * @category utility types
   */
  export type Context<N> = N extends Node<infer _I, infer _O, infer _E, infer R> ? R : never
}

const Proto = {
  [TypeId]: {
    _I: (_: unknown) => {},
    _O: (_: never) => _,
    _E: (_: never) => _,
    _R: (_: never) => _
  },
  pipe() {
    return pipeArguments(this, arguments)
  }
}

/**
 * @example
 * ```ts
 * import * as Node from "sluice/Node"
 *
 * Node.isNode(Node.fromFunction("upper", (s: string) => s.toUpperCase())) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isNode = (u: unknown): u is Node<unknown, unknown, unknown, unknown> => Predicate.hasProperty(u, TypeId)

const makeNode = <I, O, E, R>(
  name: string,
  body: (input: I, context: Context) => Stream.Stream<Emission<O>, E, R>,
  observers: ReadonlyArray<(event: Event.Event) => Effect.Effect<void, never, R>> = [],
  effect?: ((input: I) => Effect.Effect<O, E, R>) | undefined
): Node<I, O, E, R> => {
  const self = Object.create(Proto)
  self.name = name
  self.body = body
  self.observers = observers
  self.effect = effect
  return self
}

const fromEffectBody = <I, O, E, R>(f: (input: I) => Effect.Effect<O, E, R>) => (input: I) =>
  Stream.fromEffect(Effect.map(f(input), (value) => output(value)))

// =============================================================================
// constructors
// =============================================================================

/**
 * Wraps a value as the final emission of a body.
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import * as Node from "sluice/Node"
 *
 * const constant = Node.make("constant", () => Stream.make(Node.output(42)))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const output = <O>(value: O, usage?: Event.Usage | undefined): Output<O> =>
  usage === undefined ? { _tag: "Output", value } : { _tag: "Output", value, usage }

/**
 * Builds a node from a body that streams events and ends with one {@link output}. The body receives the node's
 * {@link Context} so it can stamp the events it makes with {@link Event.make}.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import * as Event from "sluice/Event"
 * import * as Node from "sluice/Node"
 *
 * const greet = Node.make("greet", (name: string, ctx) =>
 *   Stream.concat(
 *     Stream.fromEffect(Effect.map(Event.now, (timestamp) => Event.make("Token", { ...ctx, timestamp }, { text: "hi" }))),
 *     Stream.make(Node.output(`hi ${name}`))
 *   ))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <I, O, E = never, R = never>(
  name: string,
  body: (input: I, context: Context) => Stream.Stream<Emission<O>, E, R>
): Node<I, O, E, R> => makeNode(name, body)

/**
 * A node whose work is one `Effect`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Node from "sluice/Node"
 *
 * const double = Node.fromEffect("double", (n: number) => Effect.succeed(n * 2))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromEffect = <I, O, E = never, R = never>(
  name: string,
  f: (input: I) => Effect.Effect<O, E, R>
): Node<I, O, E, R> => makeNode(name, fromEffectBody(f), [], f)

/**
 * A node whose work is a plain function.
 *
 * @example
 * ```ts
 * import * as Node from "sluice/Node"
 *
 * const upper = Node.fromFunction("upper", (s: string) => s.toUpperCase())
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromFunction = <I, O>(name: string, f: (input: I) => O): Node<I, O> =>
  makeNode(name, (input) => Stream.sync(() => output(f(input))), [], (input) => Effect.sync(() => f(input)))

/**
 * A node that streams text: each element of the stream becomes a `Token` event, and the output is the whole text.
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import * as Node from "sluice/Node"
 *
 * const spell = Node.fromStream("spell", (word: string) => Stream.fromIterable(word.split("")))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromStream = <I, E = never, R = never>(
  name: string,
  f: (input: I) => Stream.Stream<string, E, R>
): Node<I, string, E, R> => makeNode(name, (input, context) => textBody(f(input), context))

/**
 * A node that streams text from an async generator (or any `AsyncIterable`). The `AbortSignal` is aborted when the
 * node is interrupted; an exception thrown by the generator becomes a `NodeError` with reason `Exception`.
 *
 * @example
 * ```ts
 * import * as Node from "sluice/Node"
 *
 * const words = Node.fromAsyncGenerator("words", async function*(text: string) {
 *   for (const word of text.split(" ")) yield word + " "
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromAsyncGenerator = <I>(
  name: string,
  f: (input: I, signal: AbortSignal) => AsyncIterable<string>
): Node<I, string, NodeError> =>
  makeNode(name, (input, context) =>
    textBody(
      Stream.unwrapScoped(
        Effect.map(
          Effect.acquireRelease(
            Effect.sync(() => new AbortController()),
            (controller) => Effect.sync(() => controller.abort())
          ),
          (controller) =>
            Stream.fromAsyncIterable(
              f(input, controller.signal),
              (cause) =>
                new NodeError({
                  node: name,
                  reason: "Exception",
                  description: describe(cause),
                  cause
                })
            )
        )
      ),
      context
    ))

// =============================================================================
// running
// =============================================================================

/**
 * Options for running a node: the run id (one is made when omitted) and the path of the parent, under which the
 * node's own name is appended.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  readonly runId?: string | undefined
  readonly parent?: ReadonlyArray<string> | undefined
}

/**
 * Makes a fresh run id.
 *
 * @example
 * ```ts
 * import * as Node from "sluice/Node"
 *
 * const program = Node.makeRunId
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeRunId: Effect.Effect<string> = Effect.sync(() => globalThis.crypto.randomUUID())

/**
 * Streams a node's events for one input: `StepStart`, what the body emits, then `StepEnd` with the output (or
 * `StepError` before the failure). The data-first overload comes first so that an `undefined` input is never taken
 * for the options.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import * as Node from "sluice/Node"
 *
 * const upper = Node.fromFunction("upper", (s: string) => s.toUpperCase())
 * const events = Stream.runCollect(Node.stream(upper, "hi"))
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const stream: {
  <I, O, E, R>(self: Node<I, O, E, R>, input: I, options?: RunOptions | undefined): Stream.Stream<Event.Event, E, R>
  <I>(input: I, options?: RunOptions | undefined): <O, E, R>(self: Node<I, O, E, R>) => Stream.Stream<Event.Event, E, R>
} = dual(
  (args) => isNode(args[0]),
  <I, O, E, R>(
    self: Node<I, O, E, R>,
    input: I,
    options?: RunOptions | undefined
  ): Stream.Stream<Event.Event, E, R> => {
    const path = options?.parent === undefined ? [self.name] : [...options.parent, self.name]
    const observed = (runId: string): Stream.Stream<Event.Event, E, R> => {
      const events = streamIn(self, input, { runId, path })
      if (self.observers.length === 0) return events
      return Stream.tap(events, (event) => Effect.forEach(self.observers, (observe) => observe(event)))
    }
    return options?.runId === undefined ? unwrap(Effect.map(makeRunId, observed)) : observed(options.runId)
  }
)

/**
 * Streams a node's events at an exact context (run id and full path). Composition layers (Graph, Pipeline) use it to
 * run a node as one of their steps.
 *
 * @example
 * ```ts
 * import * as Node from "sluice/Node"
 *
 * const upper = Node.fromFunction("upper", (s: string) => s.toUpperCase())
 * const events = Node.streamIn(upper, "hi", { runId: "r1", path: ["graph", "upper"] })
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const streamIn = <I, O, E, R>(
  self: Node<I, O, E, R>,
  input: I,
  context: Context
): Stream.Stream<Event.Event, E, R> =>
  self.effect !== undefined ?
    effectEvents(self.effect, input, context) :
    unwrap(Effect.clockWith((clock) =>
      Effect.sync(() => {
        const origin = () => ({ runId: context.runId, path: context.path, timestamp: clock.unsafeCurrentTimeMillis() })
        const start = clock.unsafeCurrentTimeMillis()
        let result: Option.Option<Output<O>> = Option.none()
        const events = Stream.mapChunks(self.body(input, context), (chunk) => {
          let outputs = 0
          for (const emission of chunk) if (emission._tag === "Output") outputs++
          if (outputs === 0) return chunk as Chunk.Chunk<Event.Event>
          return Chunk.filterMap(chunk, (emission) => {
            if (emission._tag !== "Output") return Option.some(emission)
            result = Option.some(emission)
            return Option.none()
          })
        })
        return Stream.make(Event.make("StepStart", origin(), { input: Event.preview(input) })).pipe(
          Stream.concat(events),
          Stream.concat(Stream.suspend(() =>
            Option.match(result, {
              onNone: () => Stream.die(new Error(`node "${self.name}" ended without an output`)),
              onSome: ({ usage, value }) => {
                const end = origin()
                const durationMs = end.timestamp - start
                return Stream.make(
                  Event.make(
                    "StepEnd",
                    end,
                    usage ? { durationMs, output: value, usage } : { durationMs, output: value }
                  )
                )
              }
            })
          )),
          Stream.catchAllCause((cause) =>
            Cause.isInterruptedOnly(cause)
              ? Stream.failCause(cause)
              : Stream.concat(Stream.make(StepEvents.stepError(origin(), cause)), Stream.failCause(cause))
          )
        )
      })
    ))

/**
 * Runs a node for one input and returns its output, by consuming {@link stream}. A node whose whole work is one
 * `Effect` (from {@link fromEffect} or {@link fromFunction}, possibly renamed, mapped or given a timeout) and that
 * nobody observes runs that `Effect` directly: its stream would only wrap the same value in `StepStart`/`StepEnd`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Node from "sluice/Node"
 *
 * const upper = Node.fromFunction("upper", (s: string) => s.toUpperCase())
 * const program = Node.run(upper, "hi") // Effect<string>
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const run: {
  <I, O, E, R>(self: Node<I, O, E, R>, input: I, options?: RunOptions | undefined): Effect.Effect<O, E, R>
  <I>(input: I, options?: RunOptions | undefined): <O, E, R>(self: Node<I, O, E, R>) => Effect.Effect<O, E, R>
} = dual(
  (args) => isNode(args[0]),
  <I, O, E, R>(self: Node<I, O, E, R>, input: I, options?: RunOptions | undefined): Effect.Effect<O, E, R> =>
    self.effect !== undefined && self.observers.length === 0 ? self.effect(input) : Effect.flatMap(
      finalResult(stream(self, input, options)),
      Option.match({
        onNone: () => Effect.dieMessage(`node "${self.name}" streamed no StepEnd`),
        onSome: (value) => Effect.succeed(value as O)
      })
    )
)

// =============================================================================
// combinators
// =============================================================================

/**
 * Options for {@link retry}: a `Schedule` fed with the errors, and which errors are worth retrying (by default the one
 * rule of `EngineError.isRetryable`: transient engine failures and errors flagged `isRetryable`; others only when
 * `while` says so). The delay is never shorter than the server's retry-after.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryOptions<E, R2> {
  readonly schedule: Schedule.Schedule<unknown, E, R2>
  readonly while?: ((error: E) => boolean) | undefined
}

/**
 * Retries a node on failure following a `Schedule`. Before each new attempt it emits a `Retry` event (attempt
 * number, error, delay): consumers discard what the failed attempt streamed.
 *
 * @example
 * ```ts
 * import { Schedule } from "effect"
 * import * as Node from "sluice/Node"
 *
 * declare const flaky: Node.Node<string, string, Error>
 * const robust = flaky.pipe(Node.retry({ schedule: Schedule.exponential("100 millis").pipe(Schedule.compose(Schedule.recurs(3))) }))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const retry: {
  <E, R2>(
    options: RetryOptions<E, R2> | Schedule.Schedule<unknown, E, R2>
  ): <I, O, R>(self: Node<I, O, E, R>) => Node<I, O, E, R | R2>
  <I, O, E, R, R2>(
    self: Node<I, O, E, R>,
    options: RetryOptions<E, R2> | Schedule.Schedule<unknown, E, R2>
  ): Node<I, O, E, R | R2>
} = dual(
  2,
  <I, O, E, R, R2>(
    self: Node<I, O, E, R>,
    options: RetryOptions<E, R2> | Schedule.Schedule<unknown, E, R2>
  ): Node<I, O, E, R | R2> => {
    const policy: Retry.Policy<E, R2> = "schedule" in options
      ? options as RetryOptions<E, R2>
      : { schedule: options }
    return makeNode(self.name, (input, context) =>
      Retry.stream(
        () => self.body(input, context),
        policy,
        (failed) =>
          Stream.fromEffect(
            Effect.map(Clock.currentTimeMillis, (timestamp) => StepEvents.retry({ ...context, timestamp }, failed))
          )
      ), self.observers)
  }
)

/**
 * Fails a node with a `NodeError` (reason `Timeout`) when it has not finished within `duration`. Put it inside
 * {@link retry} to limit each attempt, outside to limit them all.
 *
 * @example
 * ```ts
 * import * as Node from "sluice/Node"
 *
 * declare const slow: Node.Node<string, string>
 * const bounded = slow.pipe(Node.timeout("30 seconds"))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const timeout: {
  (duration: Duration.DurationInput): <I, O, E, R>(self: Node<I, O, E, R>) => Node<I, O, E | NodeError, R>
  <I, O, E, R>(self: Node<I, O, E, R>, duration: Duration.DurationInput): Node<I, O, E | NodeError, R>
} = dual(
  2,
  <I, O, E, R>(self: Node<I, O, E, R>, duration: Duration.DurationInput): Node<I, O, E | NodeError, R> =>
    makeNode(
      self.name,
      (input, context) =>
        Stream.interruptWhen(
          self.body(input, context),
          Effect.zipRight(
            Effect.sleep(duration),
            Effect.fail(timeoutError(self.name, duration))
          )
        ),
      self.observers,
      self.effect &&
        ((input) =>
          Effect.timeoutFail(self.effect!(input), { duration, onTimeout: () => timeoutError(self.name, duration) }))
    )
)

const timeoutError = (node: string, duration: Duration.DurationInput) =>
  new NodeError({ node, reason: "Timeout", description: `after ${format(duration)}` })

/**
 * Emits a `Heartbeat` event whenever the node has produced nothing for `interval`, so a consumer can tell a slow
 * model from a dead one.
 *
 * @example
 * ```ts
 * import * as Node from "sluice/Node"
 *
 * declare const slow: Node.Node<string, string>
 * const alive = slow.pipe(Node.heartbeat("5 seconds"))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const heartbeat: {
  (interval: Duration.DurationInput): <I, O, E, R>(self: Node<I, O, E, R>) => Node<I, O, E, R>
  <I, O, E, R>(self: Node<I, O, E, R>, interval: Duration.DurationInput): Node<I, O, E, R>
} = dual(
  2,
  <I, O, E, R>(self: Node<I, O, E, R>, interval: Duration.DurationInput): Node<I, O, E, R> =>
    makeNode<I, O, E, R>(self.name, (input, context) =>
      Stream.unwrap(Effect.clockWith((clock) =>
        Effect.sync(() => {
          const intervalMs = toMillis(interval)
          let last = clock.unsafeCurrentTimeMillis()
          const body = Stream.mapChunks(self.body(input, context), (chunk) => {
            last = clock.unsafeCurrentTimeMillis()
            return chunk
          })
          const beats = Stream.repeatEffect(Effect.suspend((): Effect.Effect<Option.Option<Emission<O>>> => {
            const wait = last + intervalMs - clock.unsafeCurrentTimeMillis()
            if (wait > 0) return Effect.as(Effect.sleep(wait), Option.none<Emission<O>>())
            const timestamp = clock.unsafeCurrentTimeMillis()
            const idleMs = timestamp - last
            last = timestamp
            return Effect.succeed(Option.some<Emission<O>>(
              Event.make("Heartbeat", { ...context, timestamp }, {
                idleMs,
                message: `${self.name} is still running: no output for ${idleMs} ms`
              })
            ))
          })).pipe(Stream.filterMap((beat) => beat))
          return Stream.merge(body, beats, { haltStrategy: "left" })
        })
      )), self.observers)
)

/**
 * Falls back to another node when this one fails. Before this node has streamed any content (tokens, reasoning,
 * partial fields, tool calls) the switch is invisible; after, a `Retry` event tells consumers to discard what it
 * streamed.
 *
 * @example
 * ```ts
 * import * as Node from "sluice/Node"
 *
 * declare const primary: Node.Node<string, string, Error>
 * declare const backup: Node.Node<string, string>
 * const safe = primary.pipe(Node.fallback(backup))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const fallback: {
  <I2, O2, E2, R2>(that: Node<I2, O2, E2, R2>): <I, O, E, R>(self: Node<I, O, E, R>) => Node<I & I2, O | O2, E2, R | R2>
  <I, O, E, R, I2, O2, E2, R2>(self: Node<I, O, E, R>, that: Node<I2, O2, E2, R2>): Node<I & I2, O | O2, E2, R | R2>
} = dual(
  2,
  <I, O, E, R, I2, O2, E2, R2>(self: Node<I, O, E, R>, that: Node<I2, O2, E2, R2>): Node<I & I2, O | O2, E2, R | R2> =>
    makeNode<I & I2, O | O2, E2, R | R2>(self.name, (input, context) =>
      Stream.suspend(() => {
        let streamed = false
        const primary = Stream.mapChunks(self.body(input, context), (chunk) => {
          if (!streamed) { for (const emission of chunk) if (isContent(emission)) streamed = true }
          return chunk
        })
        return Stream.catchAll(primary, (error) => {
          if (!streamed) return that.body(input, context)
          return Stream.concat(
            Stream.fromEffect(Effect.map(Clock.currentTimeMillis, (timestamp) =>
              StepEvents.retry({ ...context, timestamp }, { attempt: 1, delayMs: 0, error }))),
            that.body(input, context)
          )
        })
      }), [...self.observers, ...that.observers])
)

/**
 * Calls `f` with every event the node streams, its own `StepStart`/`StepEnd`/`StepError` included (e.g. to log or
 * to record metrics). Observers run in order, in the consumer's fiber.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Node from "sluice/Node"
 *
 * declare const node: Node.Node<string, string>
 * const logged = node.pipe(Node.observe((event) => Effect.logDebug(event._tag, event.path)))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const observe: {
  <R2>(
    f: (event: Event.Event) => Effect.Effect<void, never, R2>
  ): <I, O, E, R>(self: Node<I, O, E, R>) => Node<I, O, E, R | R2>
  <I, O, E, R, R2>(
    self: Node<I, O, E, R>,
    f: (event: Event.Event) => Effect.Effect<void, never, R2>
  ): Node<I, O, E, R | R2>
} = dual(
  2,
  <I, O, E, R, R2>(
    self: Node<I, O, E, R>,
    f: (event: Event.Event) => Effect.Effect<void, never, R2>
  ): Node<I, O, E, R | R2> => makeNode<I, O, E, R | R2>(self.name, self.body, [...self.observers, f])
)

/**
 * Renames the node: its events are tagged with the new name as the last segment of their path.
 *
 * @example
 * ```ts
 * import * as Node from "sluice/Node"
 *
 * const upper = Node.fromFunction("upper", (s: string) => s.toUpperCase()).pipe(Node.withPath("shout"))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withPath: {
  (name: string): <I, O, E, R>(self: Node<I, O, E, R>) => Node<I, O, E, R>
  <I, O, E, R>(self: Node<I, O, E, R>, name: string): Node<I, O, E, R>
} = dual(
  2,
  <I, O, E, R>(self: Node<I, O, E, R>, name: string): Node<I, O, E, R> =>
    makeNode(name, self.body, self.observers, self.effect)
)

/**
 * Transforms a node's output.
 *
 * @example
 * ```ts
 * import * as Node from "sluice/Node"
 *
 * const length = Node.fromFunction("upper", (s: string) => s.toUpperCase()).pipe(Node.map((s) => s.length))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const map: {
  <O, O2>(f: (output: O) => O2): <I, E, R>(self: Node<I, O, E, R>) => Node<I, O2, E, R>
  <I, O, E, R, O2>(self: Node<I, O, E, R>, f: (output: O) => O2): Node<I, O2, E, R>
} = dual(
  2,
  <I, O, E, R, O2>(self: Node<I, O, E, R>, f: (output: O) => O2): Node<I, O2, E, R> =>
    makeNode(
      self.name,
      (input, context) =>
        Stream.map(self.body(input, context), (emission) =>
          emission._tag === "Output" ? output(f(emission.value), emission.usage) : emission),
      self.observers,
      self.effect && ((input) =>
        Effect.map(self.effect!(input), f))
    )
)

// =============================================================================
// event helpers
// =============================================================================

/**
 * The text of the `Token` events of a stream.
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import * as Node from "sluice/Node"
 *
 * const spell = Node.fromStream("spell", (word: string) => Stream.fromIterable(word.split("")))
 * const letters = Node.tokens(Node.stream(spell, "abc")) // Stream<string>
 * ```
 *
 * @since 0.1.0
 * @category helpers
 */
export const tokens = <E, R>(self: Stream.Stream<Event.Event, E, R>): Stream.Stream<string, E, R> =>
  Stream.mapChunks(
    self,
    (chunk) => Chunk.filterMap(chunk, (e) => e._tag === "Token" ? Option.some(e.text) : Option.none())
  )

/**
 * The partial values of the `PartialFields` events of a stream.
 *
 * @example
 * ```ts
 * import * as Node from "sluice/Node"
 *
 * declare const events: import("effect").Stream.Stream<import("sluice/Event").Event>
 * const partials = Node.fields(events)
 * ```
 *
 * @since 0.1.0
 * @category helpers
 */
export const fields = <E, R>(self: Stream.Stream<Event.Event, E, R>): Stream.Stream<unknown, E, R> =>
  Stream.mapChunks(
    self,
    (chunk) => Chunk.filterMap(chunk, (e) => e._tag === "PartialFields" ? Option.some(e.value) : Option.none())
  )

/**
 * Collects the text of the `Token` events of a stream, dropping what an attempt streamed before a `Retry` event at
 * or above its path.
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import * as Node from "sluice/Node"
 *
 * const spell = Node.fromStream("spell", (word: string) => Stream.fromIterable(word.split("")))
 * const text = Node.collectText(Node.stream(spell, "abc")) // Effect<"abc">
 * ```
 *
 * @since 0.1.0
 * @category helpers
 */
export const collectText = <E, R>(self: Stream.Stream<Event.Event, E, R>): Effect.Effect<string, E, R> =>
  Effect.suspend(() => {
    let texts: Array<string> = []
    let paths: Array<ReadonlyArray<string>> = []
    return Effect.as(
      Stream.runForEachChunk(self, (chunk) =>
        Effect.sync(() => {
          for (const event of chunk) {
            if (event._tag === "Token") {
              texts.push(event.text)
              paths.push(event.path)
            } else if (event._tag === "Retry") {
              const keep = paths.map((path) => !Event.startsWith(path, event.path))
              texts = texts.filter((_, i) => keep[i])
              paths = paths.filter((_, i) => keep[i])
            }
          }
        })),
      Effect.sync(() => texts.join(""))
    ).pipe(Effect.flatten)
  })

/**
 * The output carried by the last `StepEnd` event of a stream: for a node's stream, the node's output. Given the node
 * whose stream it is, the result is typed with the node's output type.
 *
 * @example
 * ```ts
 * import * as Node from "sluice/Node"
 *
 * const upper = Node.fromFunction("upper", (s: string) => s.toUpperCase())
 * const result = Node.finalResult(Node.stream(upper, "hi"), upper) // Effect<Option<string>>
 * const untyped = Node.finalResult(Node.stream(upper, "hi")) // Effect<Option<unknown>>
 * ```
 *
 * @since 0.1.0
 * @category helpers
 */
export const finalResult: {
  <E, R, O>(self: Stream.Stream<Event.Event, E, R>, node: Node<any, O, any, any>): Effect.Effect<Option.Option<O>, E, R>
  <E, R>(self: Stream.Stream<Event.Event, E, R>): Effect.Effect<Option.Option<unknown>, E, R>
} = <E, R>(
  self: Stream.Stream<Event.Event, E, R>,
  _node?: Node<any, unknown, any, any>
): Effect.Effect<Option.Option<unknown>, E, R> =>
  Effect.suspend(() => {
    let result: Option.Option<unknown> = Option.none()
    return Effect.zipRight(
      Stream.runForEachChunk(self, (chunk) =>
        Effect.sync(() => {
          for (const event of chunk) if (event._tag === "StepEnd") result = Option.some(event.output)
        })),
      Effect.sync(() => result)
    )
  })

/**
 * The tag of an error for events: its `_tag` when it has one.
 *
 * @example
 * ```ts
 * import * as Node from "sluice/Node"
 *
 * Node.errorTag({ _tag: "Boom" }) // "Boom"
 * ```
 *
 * @since 0.1.0
 * @category helpers
 */
export const errorTag: (error: unknown) => string = StepEvents.errorTag

/**
 * A readable message for an error.
 *
 * @example
 * ```ts
 * import * as Node from "sluice/Node"
 *
 * Node.errorMessage(new Error("boom")) // "boom"
 * ```
 *
 * @since 0.1.0
 * @category helpers
 */
export const errorMessage: (error: unknown) => string = StepEvents.errorMessage

// =============================================================================
// internal
// =============================================================================

/**
 * The events of a node whose whole work is one `Effect`: `StepStart`, then `StepEnd` with its value (or `StepError`
 * before the failure), as one channel: no stream combinator per event.
 */
const effectEvents = <I, O, E, R>(
  effect: (input: I) => Effect.Effect<O, E, R>,
  input: I,
  context: Context
): Stream.Stream<Event.Event, E, R> =>
  Stream.fromChannel(Channel.unwrap(Effect.clockWith((clock) => {
    const { path, runId } = context
    const start = clock.unsafeCurrentTimeMillis()
    const started = Event.make("StepStart", { runId, path, timestamp: start }, { input: Event.preview(input) })
    return Effect.succeed(Channel.zipRight(
      Channel.write(Chunk.of(started)),
      Channel.unwrap(Effect.matchCause(Effect.suspend(() => effect(input)), {
        onSuccess: (value) => {
          const timestamp = clock.unsafeCurrentTimeMillis()
          return Channel.write(Chunk.of<Event.Event>(
            Event.make("StepEnd", { runId, path, timestamp }, { durationMs: timestamp - start, output: value })
          ))
        },
        onFailure: (cause) =>
          Cause.isInterruptedOnly(cause)
            ? Channel.failCause(cause)
            : Channel.zipRight(
              Channel.write(Chunk.of(
                StepEvents.stepError({ runId, path, timestamp: clock.unsafeCurrentTimeMillis() }, cause)
              )),
              Channel.failCause(cause)
            )
      }))
    ))
  })))

const textBody = <E, R>(
  texts: Stream.Stream<string, E, R>,
  context: Context
): Stream.Stream<Emission<string>, E, R> =>
  Stream.unwrap(Effect.clockWith((clock) =>
    Effect.sync(() => {
      const parts: Array<string> = []
      const { path, runId } = context
      return Stream.concat(
        Stream.mapChunks(texts, (chunk) => {
          const timestamp = clock.unsafeCurrentTimeMillis()
          return Chunk.map(chunk, (text): Emission<string> => {
            parts.push(text)
            return { _tag: "Token", runId, path, timestamp, text }
          })
        }),
        Stream.sync(() => output(parts.join("")))
      )
    })
  ))

const isContent = (emission: Emission<unknown>): boolean => {
  switch (emission._tag) {
    case "Token":
    case "Reasoning":
    case "PartialFields":
    case "ToolCall":
    case "ToolArgProgress":
      return true
    default:
      return false
  }
}

const toMillis = (duration: Duration.DurationInput): number => Duration.toMillis(Duration.decode(duration))

const format = (duration: Duration.DurationInput): string => Duration.format(Duration.decode(duration))
