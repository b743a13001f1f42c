/**
 * Step graphs over shared, typed state: "your code is the graph".
 *
 * A graph is built with {@link make} and `.step(id, options, body)`. A body is an `Effect` (which may return
 * {@link next} to route dynamically, or {@link end} to stop its branch), a `Stream` of text (each element becomes a
 * `Token` event), another graph over the same state (a nested graph: its steps' paths nest under the step), or a sluice
 * `Node` bound to the state with {@link node}. Steps are wired with `to` (static edges, a list fans out) and by the
 * {@link next} their bodies return. The targets of `next` are part of the graph's type, so routing to a step that does
 * not exist is a compile error, and so is a step nothing leads to (no `to`, `routes`, `next` or entry names it);
 * nothing needs declaring twice. A step may also list its `next` targets in `routes`: they are then drawn dashed by
 * {@link toMermaid}, and count as edges for the barriers (see below).
 *
 * **State.** Bodies read and update the state through a typed service: `yield* graph.state` (or
 * `yield* Graph.state<State>()`) gives a {@link StateHandle}. Each update is atomic: `update`, `modify` and `patch`
 * see the latest state, including what parallel branches wrote before them. `patch` writes only the given fields
 * (last write wins per field) unless the field has a reducer declared in {@link Options} (`reducers`), in which case
 * the reducer combines the current and the written value. A `get` followed by a `set` is not atomic across branches.
 * State values are treated as immutable.
 *
 * **Context.** Services come from Layers, as everywhere in Effect: provide them to {@link run} or {@link stream}. A
 * graph may also declare an `onStartup` hook (a scoped resource acquired when the run starts; its value is read
 * with `yield* graph.context`) and `onShutdown` hooks (run in reverse order when the run ends, on success, failure
 * and interruption, with the run's `Exit`).
 *
 * **Execution.** The entry step runs first: the one chosen with `.entry(id)`, else the only step no `to` or `routes`
 * edge reaches, else the first step declared (when no edge reaches it and some step may route with `next`). When a
 * step finishes, its successors are its `to` targets, or the targets of the {@link Next} it returned, or none after
 * {@link end}. Ready steps run concurrently, at most `concurrency` at once. A step that several steps name in `to`
 * or `routes` is a barrier: it runs once, after every such predecessor that is still running, queued, or could still
 * be reached by running work has finished (predecessors that were routed away are not waited for). A barrier knows
 * the work that may reach a predecessor through `next` when the target is a step no `to` or `routes` edge reaches
 * (any step returning `next` may lead there) or when the `next` is declared in `routes`; declare it when it leads to
 * a step an edge also reaches and on into a barrier.
 * Cycles are allowed; a run stops with a `GraphError` (`MaxStepsExceeded`) after `maxSteps` step activations.
 *
 * **Per step.** One activation is `retry(schedule, middleware(timeout(body)))`: middleware sees every attempt
 * (timeouts included), registered middleware runs outermost first (`use(a).use(b)` runs `a` around `b` around the
 * body), and a `Retry` event precedes every new attempt.
 *
 * **Events.** {@link stream} emits `RunStart`, then `StepStart` at the graph's path, then for every step activation
 * `StepStart`, its `Token`s / `Retry`s / nested events, and `StepEnd` (or `StepError`) at `[...graphPath, step]`,
 * then `StepEnd` at the graph's path holding the final state, then `RunEnd`. {@link run} consumes that stream and
 * returns the final state, so the two cannot disagree.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Exit from "effect/Exit"
import { dual } from "effect/Function"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Types from "effect/Types"
import * as Event from "./Event.js"
import type { GraphError } from "./GraphError.js"
import { compile, type GraphImpl, type StepDefinition } from "./internal/graph/compile.js"
import * as Render from "./internal/graph/render.js"
import { execute } from "./internal/graph/scheduler.js"
import { contextAccessor, makeHandle, StateTag } from "./internal/graph/state.js"
import type { Runtime } from "./internal/graph/step.js"
import * as Node from "./Node.js"
import type { NodeError } from "./NodeError.js"

// =============================================================================
// type ids
// =============================================================================

/**
 * @example
 * ```ts
 * import * as Graph from "sluice/Graph"
 *
 * const isGraph = (u: object) => Graph.TypeId in u
 * ```
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/Graph")

/**
 * @example
 * ```ts
 * import * as Graph from "sluice/Graph"
 *
 * const isGraph = (u: object) => Graph.TypeId in u
 * ```
 *
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

// =============================================================================
// models
// =============================================================================

/**
 * A routing decision returned by a step body: run these steps next instead of the step's `to` targets.
 *
 * @example
 * ```ts
 * import * as Graph from "sluice/Graph"
 *
 * const route: Graph.Next<"review"> = Graph.next("review")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Next<out T extends string> {
  readonly _tag: "Next"
  readonly targets: ReadonlyArray<T>
}

/**
 * A routing decision returned by a step body: this branch stops here.
 *
 * @example
 * ```ts
 * import * as Graph from "sluice/Graph"
 *
 * const stop: Graph.End = Graph.end
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface End {
  readonly _tag: "End"
}

/**
 * What an effect body may return: nothing (follow `to`), a {@link Next} or {@link End}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Graph from "sluice/Graph"
 *
 * const decide: Effect.Effect<Graph.Route<"a" | "b">> = Effect.succeed(Graph.next("a"))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Route<T extends string = string> = void | undefined | Next<T> | End

/**
 * The handle on a run's state. Every call is atomic; see the module documentation for how parallel branches'
 * updates combine.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Graph from "sluice/Graph"
 *
 * const bump = Effect.gen(function*() {
 *   const state: Graph.StateHandle<{ count: number }> = yield* Graph.state<{ count: number }>()
 *   yield* state.update((s) => ({ count: s.count + 1 }))
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StateHandle<in out S> {
  /** The current state. */
  readonly get: Effect.Effect<S>
  /** Replaces the state. */
  readonly set: (state: S) => Effect.Effect<void>
  /** Replaces the state by a function of the current state. */
  readonly update: (f: (state: S) => S) => Effect.Effect<void>
  /** Replaces the state by a function of the current state and returns a value computed with it. */
  readonly modify: <A>(f: (state: S) => readonly [A, S]) => Effect.Effect<A>
  /** Writes the given fields: last write wins per field, or the field's reducer combines the values. */
  readonly patch: (fields: Partial<S>) => Effect.Effect<void>
  /** Reads the current state synchronously. */
  readonly unsafeGet: () => S
}

declare const StateServiceId: unique symbol
declare const ContextServiceId: unique symbol

/**
 * The service through which step bodies reach the state of type `S` (the requirement {@link state} adds).
 *
 * @example
 * ```ts
 * import type { Effect } from "effect"
 * import type * as Graph from "sluice/Graph"
 *
 * type NeedsState = Effect.Effect<void, never, Graph.StateService<{ count: number }>>
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export interface StateService<in out S> {
  readonly [StateServiceId]: Types.Invariant<S>
}

/**
 * The service through which step bodies reach the value of the graph's `onStartup` hook (the requirement
 * {@link context} adds).
 *
 * @example
 * ```ts
 * import type { Effect } from "effect"
 * import type * as Graph from "sluice/Graph"
 *
 * type NeedsDb = Effect.Effect<void, never, Graph.ContextService<{ url: string }>>
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export interface ContextService<in out C> {
  readonly [ContextServiceId]: Types.Invariant<C>
}

/**
 * What middleware knows about the step attempt it wraps.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Graph from "sluice/Graph"
 *
 * const tagged = Graph.middleware((step, info: Graph.StepInfo) =>
 *   Effect.annotateLogs(step, { step: info.path.join("/"), attempt: info.attempt }))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StepInfo {
  /** The graph's name. */
  readonly graph: string
  /** The step's id. */
  readonly step: string
  readonly runId: string
  readonly path: ReadonlyArray<string>
  /** 1-based attempt number (above 1 when the step is retried). */
  readonly attempt: number
}

declare const StepResultId: unique symbol
declare const StepFailureId: unique symbol
declare const StepRequirementsId: unique symbol

/**
 * The result of a step attempt as middleware sees it: opaque, so middleware can pass it on but not make one up.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Graph from "sluice/Graph"
 *
 * const passThrough = Graph.middleware((step) => Effect.map(step, (result: Graph.StepResult) => result))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StepResult {
  readonly [StepResultId]: typeof StepResultId
}

/**
 * The errors of a step attempt as middleware sees them (opaque: inspect them with `Node.errorTag` and friends).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Graph from "sluice/Graph"
 * import * as Node from "sluice/Node"
 *
 * const logErrors = Graph.middleware((step, info) =>
 *   Effect.tapError(step, (error: Graph.StepFailure) => Effect.logWarning(`${info.step}: ${Node.errorTag(error)}`)))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StepFailure {
  readonly [StepFailureId]: typeof StepFailureId
}

/**
 * The requirements of a step attempt as middleware sees them (opaque).
 *
 * @example
 * ```ts
 * import type { Effect } from "effect"
 * import type * as Graph from "sluice/Graph"
 *
 * type Attempt = Effect.Effect<Graph.StepResult, Graph.StepFailure, Graph.StepRequirements>
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StepRequirements {
  readonly [StepRequirementsId]: typeof StepRequirementsId
}

/**
 * Wraps every step attempt of a graph: it receives the attempt and returns an effect that runs it (once, several
 * times, or decorated). The attempt's result, errors and requirements are opaque, so middleware cannot change them;
 * what it adds of its own (errors `E`, services `R`) is inferred and added to the graph's types.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Graph from "sluice/Graph"
 *
 * const logging: Graph.Middleware = (step, info) =>
 *   Effect.zipRight(Effect.logDebug(`entering ${info.step}`), step)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Middleware<out E = never, out R = never> {
  (
    step: Effect.Effect<StepResult, StepFailure, StepRequirements>,
    info: StepInfo
  ): Effect.Effect<StepResult, StepFailure | E, StepRequirements | R>
}

/**
 * Retry settings for a step: a `Schedule` fed with the errors, and which errors are worth retrying (by default the one
 * rule of `EngineError.isRetryable`: transient engine failures and errors flagged `isRetryable`). The delay is never
 * shorter than the server's retry-after.
 *
 * @example
 * ```ts
 * import { Schedule } from "effect"
 * import type * as Graph from "sluice/Graph"
 *
 * const retry: Graph.RetryOptions<{ readonly status: number }, never> = {
 *   schedule: Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(3))),
 *   while: (error) => error.status >= 500
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryOptions<in E, out R> {
  readonly schedule: Schedule.Schedule<unknown, E, R>
  readonly while?: ((error: E) => boolean) | undefined
}

/**
 * The options of one step.
 *
 * @example
 * ```ts
 * import { Effect, Schedule } from "effect"
 * import * as Graph from "sluice/Graph"
 *
 * const graph = Graph.make<{}>()
 *   .step("fetch", { to: ["parse"], retry: Schedule.recurs(2), timeout: "10 seconds" }, Effect.void)
 *   .step("parse", Effect.void)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StepOptions<
  To extends string = string,
  Routes extends string = string,
  E = unknown,
  RR = never,
  Tm extends Duration.DurationInput | undefined = Duration.DurationInput | undefined
> {
  /** The next step(s). A list fans out: the targets run concurrently. */
  readonly to?: To | ReadonlyArray<To> | undefined
  /**
   * The steps this step may route to with {@link next}. Optional (the types already know them): declared, they are
   * drawn dashed and count as edges, so a barrier waits for them.
   */
  readonly routes?: ReadonlyArray<Routes> | undefined
  /** Retries the step (each attempt) following a schedule. */
  readonly retry?: Schedule.Schedule<unknown, E, RR> | RetryOptions<E, RR> | undefined
  /** Fails an attempt with a `NodeError` (reason `Timeout`) when it takes longer. */
  readonly timeout?: Tm
}

/**
 * The options of a graph.
 *
 * @example
 * ```ts
 * import * as Graph from "sluice/Graph"
 *
 * interface State { readonly log: ReadonlyArray<string> }
 * const graph = Graph.make<State>({
 *   name: "agent",
 *   concurrency: 4,
 *   maxSteps: 50,
 *   reducers: { log: (current, update) => [...current, ...update] }
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<S> {
  /** The graph's name: the last segment of its events' path. Default `"graph"`. */
  readonly name?: string | undefined
  /** How many steps may run at once. Default 16. */
  readonly concurrency?: number | undefined
  /** How many step activations a run may start before failing with `MaxStepsExceeded`. Default 1,000. */
  readonly maxSteps?: number | undefined
  /** Per-field reducers used by {@link StateHandle.patch}. */
  readonly reducers?: { readonly [K in keyof S]?: ((current: S[K], update: S[K]) => S[K]) | undefined } | undefined
  /** How many events may wait for the consumer before steps are slowed down. Default 512. */
  readonly bufferSize?: number | undefined
}

/**
 * The kind of a step's body.
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import * as Graph from "sluice/Graph"
 *
 * const kinds: ReadonlyArray<Graph.StepKind> = Graph.steps(Graph.make<{}>().step("say", Stream.make("hi")))
 *   .map((step) => step.kind) // ["stream"]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type StepKind = "effect" | "stream" | "graph" | "node"

/**
 * A step as declared, for introspection.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Graph from "sluice/Graph"
 *
 * const [first]: ReadonlyArray<Graph.StepDescription> = Graph.steps(Graph.make<{}>().step("only", Effect.void))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StepDescription {
  readonly id: string
  readonly kind: StepKind
  readonly to: ReadonlyArray<string>
  readonly routes: ReadonlyArray<string>
  readonly retry: boolean
  readonly timeout: Option.Option<Duration.Duration>
  /** The name of the nested graph or node, for `graph` and `node` steps. */
  readonly inner: Option.Option<string>
}

/**
 * A body that runs a sluice `Node` as a step: its input is read from the state, its output written back. Built with
 * {@link node}.
 *
 * @example
 * ```ts
 * import * as Graph from "sluice/Graph"
 * import * as Node from "sluice/Node"
 *
 * const body: Graph.NodeBody<{ text: string }> = Graph.node(Node.fromFunction("len", (s: string) => s.length), {
 *   input: (state: { text: string }) => state.text
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface NodeBody<in out S, out E = never, out R = never> {
  readonly _tag: "NodeBody"
  readonly node: Node.Node<any, any, E, R>
  readonly input: (state: S) => unknown
  readonly output: ((output: any, state: S) => S) | undefined
}

/**
 * A graph over state `S`, whose `onStartup` hook provides a `C`, with steps identified by `N`, referring to step ids `T`,
 * failing with `E` and requiring `R`. It is also its own builder: every method returns a new graph.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Graph from "sluice/Graph"
 *
 * const graph: Graph.Graph<{ n: number }, void, "a" | "b", "b"> = Graph.make<{ n: number }>()
 *   .step("a", { to: "b" }, Effect.void)
 *   .step("b", Effect.void)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Graph<
  in out S,
  in out C = void,
  out N extends string = never,
  out T extends string = never,
  out E = never,
  out R = never
> extends Pipeable {
  readonly [TypeId]: {
    readonly _S: Types.Invariant<S>
    readonly _C: Types.Invariant<C>
    readonly _N: Types.Covariant<N>
    readonly _T: Types.Covariant<T>
    readonly _E: Types.Covariant<E>
    readonly _R: Types.Covariant<R>
  }
  readonly name: string
  readonly options: Options<S>
  /** The state handle, for step bodies: `const state = yield* graph.state`. */
  readonly state: Effect.Effect<StateHandle<S>, never, StateService<S>>
  /** The value of the `onStartup` hook, for step bodies: `const db = yield* graph.context`. */
  readonly context: Effect.Effect<C, never, ContextService<C>>

  /**
   * Adds a step. The body is an `Effect` returning nothing, {@link next} or {@link end}; a `Stream` of text tokens;
   * a graph over the same state; or a {@link node}.
   */
  step<const Id extends string, B extends Body.Any<S>>(
    id: Id & Graph.Fresh<Id, N>,
    body: B
  ): Graph<S, C, N | Id, T | Body.Targets<B>, E | Body.Error<B>, R | Body.Requirements<B, S, C>>
  step<
    const Id extends string,
    B extends Body.Any<S>,
    const To extends string = never,
    const Routes extends string = never,
    RR = never,
    Tm extends Duration.DurationInput | undefined = undefined
  >(
    id: Id & Graph.Fresh<Id, N>,
    options: StepOptions<To, Routes, Body.Error<B>, RR, Tm>,
    body: B
  ): Graph<
    S,
    C,
    N | Id,
    T | To | Routes | Body.Targets<B>,
    E | Body.Error<B> | ([Tm] extends [undefined] ? never : NodeError),
    R | Body.Requirements<B, S, C> | RR
  >

  /** Adds middleware around every step attempt. The first added is the outermost. */
  use<E2 = never, R2 = never>(
    middleware: Middleware<E2, R2>
  ): Graph<S, C, N, T, E | Exclude<E2, StepFailure>, R | Exclude<R2, StepRequirements>>

  /**
   * Sets the startup hook: a scoped resource acquired when a run starts (after the state is available) and released
   * when it ends. Its value is what {@link Graph.context} reads.
   */
  onStartup<E2, R2>(
    acquire: Effect.Effect<C, E2, R2>
  ): Graph<S, C, N, T, E | E2, R | Exclude<R2, Scope.Scope | StateService<S>>>

  /** Adds a shutdown hook, run when a run ends (success, failure or interruption) with the startup value. */
  onShutdown<R2 = never>(
    release: (context: C, exit: Exit.Exit<unknown, unknown>) => Effect.Effect<void, never, R2>
  ): Graph<S, C, N, T, E, R | Exclude<R2, StateService<S>>>

  /**
   * Chooses the entry step (needed when every step has a predecessor, or when the entry is not the only step without
   * one and not the first step declared).
   */
  entry<const Id extends N>(id: Id): Graph<S, C, N, T, E, R>
}

type IsUnion<U, A = U> = U extends unknown ? [A] extends [U] ? false : true : never

/**
 * Type helpers for graphs.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Graph from "sluice/Graph"
 *
 * const graph = Graph.make<{ n: number }>().step("a", Effect.void)
 * type Ids = Graph.Graph.Steps<typeof graph> // "a"
 * ```
 *
 * @since 0.1.0
 * @category utility types
 */
export declare namespace Graph {
  /**
   * @since 0.1.0
   * @category utility types
   */
  export type Any = Graph<any, any, any, any, any, any>
  /**
   * Rejects a step id already used in the graph.
   *
   * @since 0.1.0
   * @category utility types
   */
  export type Fresh<Id extends string, N extends string> = string extends Id ? unknown
    : string extends N ? unknown
    : [Id] extends [N] ? "duplicate step id"
    : unknown
  /**
   * Resolves to `unknown` when every step id the graph refers to (in `to`, `routes` and the bodies' {@link next})
   * is defined and at most one step has no predecessor, and otherwise to an object type naming the unknown steps, or
   * the steps nothing leads to (so that passing the graph is a compile error that names them).
   *
   * @since 0.1.0
   * @category utility types
   */
  export type Valid<N extends string, T extends string> = string extends T ? unknown
    : [Exclude<T, N>] extends [never] ?
      true extends IsUnion<Exclude<N, T>> ? { readonly "steps nothing leads to": Exclude<N, T> } : unknown
    : { readonly "unknown step": Exclude<T, N> }
  /**
   * @since 0.1.0
   * @category utility types
   */
  export type State<G> = G extends Graph<infer S, infer _C, infer _N, infer _T, infer _E, infer _R> ? S : never
  /**
   * @since 0.1.0
   * @category utility types
   */
  export type Error<G> = G extends Graph<infer _S, infer _C, infer _N, infer _T, infer E, infer _R> ? E : never
  /**
   * @since 0.1.0
   * @category utility types
   */
  export type Context<G> = G extends Graph<infer _S, infer _C, infer _N, infer _T, infer _E, infer R> ? R : never
  /**
   * @since 0.1.0
   * @category utility types
   */
  export type Steps<G> = G extends Graph<infer _S, infer _C, infer N, infer _T, infer _E, infer _R> ? N : never
}

/**
 * Type helpers for step bodies.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type * as Graph from "sluice/Graph"
 *
 * type Errors = Graph.Body.Error<Effect.Effect<void, "boom">> // "boom"
 * ```
 *
 * @since 0.1.0
 * @category utility types
 */
export declare namespace Body {
  /**
   * Any body of a step over state `S`.
   *
   * @since 0.1.0
   * @category utility types
   */
  export type Any<S> =
    | Effect.Effect<Route<string>, any, any>
    | Stream.Stream<string, any, any>
    | Graph<S, any, any, any, any, any>
    | NodeBody<S, any, any>
  /**
   * The step ids a body may route to.
   *
   * @since 0.1.0
   * @category utility types
   */
  export type Targets<B> = B extends Effect.Effect<infer A, infer _E, infer _R> ? NextTargets<A> : never
  /**
   * @since 0.1.0
   * @category utility types
   */
  export type NextTargets<A> = A extends Next<infer T> ? T : never
  /**
   * The errors of a body.
   *
   * @since 0.1.0
   * @category utility types
   */
  export type Error<B> = B extends Graph<infer _S, infer _C, infer _N, infer _T, infer E, infer _R> ? E | GraphError
    : B extends NodeBody<infer _S, infer E, infer _R> ? E
    : B extends Stream.Stream<infer _A, infer E, infer _R> ? E
    : B extends Effect.Effect<infer _A, infer E, infer _R> ? E
    : never
  /**
   * The requirements a body adds to its graph (the graph provides the state and context services itself).
   *
   * @since 0.1.0
   * @category utility types
   */
  export type Requirements<B, S, C> = Exclude<
    B extends Graph<infer _S, infer _C, infer _N, infer _T, infer _E, infer R> ? R
      : B extends NodeBody<infer _S, infer _E, infer R> ? R
      : B extends Stream.Stream<infer _A, infer _E, infer R> ? R
      : B extends Effect.Effect<infer _A, infer _E, infer R> ? R
      : never,
    StateService<S> | ContextService<C>
  >
}

// =============================================================================
// constructors
// =============================================================================

const Proto = {
  [TypeId]: {
    _S: (_: unknown) => _,
    _C: (_: unknown) => _,
    _N: (_: never) => _,
    _T: (_: never) => _,
    _E: (_: never) => _,
    _R: (_: never) => _
  },
  state: StateTag,
  context: contextAccessor,
  pipe() {
    return pipeArguments(this, arguments)
  },
  step(this: GraphImpl, id: string, optionsOrBody: unknown, maybeBody?: unknown) {
    const hasOptions = arguments.length >= 3
    const options = (hasOptions ? optionsOrBody : {}) as StepOptions<string, string, unknown, unknown>
    const body = hasOptions ? maybeBody : optionsOrBody
    const retry = options.retry === undefined
      ? undefined
      : "schedule" in options.retry
      ? options.retry as RetryOptions<unknown, unknown>
      : { schedule: options.retry as Schedule.Schedule<unknown, unknown, unknown> }
    const definition: StepDefinition = {
      id,
      kind: kindOf(body),
      body,
      to: options.to === undefined ? [] : typeof options.to === "string" ? [options.to] : [...options.to],
      routes: options.routes === undefined ? [] : [...options.routes],
      retry,
      timeout: options.timeout === undefined ? undefined : Duration.decode(options.timeout)
    }
    return makeGraph({ ...this, definitions: [...this.definitions, definition] })
  },
  use(this: GraphImpl, middleware: Middleware<unknown, unknown>) {
    return makeGraph({ ...this, middleware: [...this.middleware, middleware] })
  },
  onStartup(this: GraphImpl, acquire: Effect.Effect<unknown, unknown, unknown>) {
    return makeGraph({ ...this, startup: acquire })
  },
  onShutdown(this: GraphImpl, release: (context: unknown, exit: Exit.Exit<unknown, unknown>) => Effect.Effect<void>) {
    return makeGraph({ ...this, shutdown: [...this.shutdown, release] })
  },
  entry(this: GraphImpl, id: string) {
    return makeGraph({ ...this, entryStep: id })
  }
}

const makeGraph = (impl: GraphImpl): any => Object.assign(Object.create(Proto), impl)

const kindOf = (body: unknown): StepKind =>
  isGraph(body)
    ? "graph"
    : Predicate.hasProperty(body, "_tag") && body._tag === "NodeBody"
    ? "node"
    : Predicate.hasProperty(body, Stream.StreamTypeId)
    ? "stream"
    : "effect"

/**
 * @example
 * ```ts
 * import * as Graph from "sluice/Graph"
 *
 * Graph.isGraph(Graph.make<{ n: number }>()) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isGraph = (u: unknown): u is Graph<unknown, unknown, string, string, unknown, unknown> =>
  Predicate.hasProperty(u, TypeId)

/**
 * Starts a graph over state `S` whose `onStartup` hook (if any) provides a `C`.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import * as Graph from "sluice/Graph"
 *
 * interface State { readonly message: string }
 * const pipe = Graph.make<State>({ name: "hello" })
 * const graph = pipe
 *   .step("greet", { to: "respond" }, Effect.flatMap(pipe.state, (state) => state.set({ message: "Hello" })))
 *   .step("respond", Stream.unwrap(Effect.map(pipe.state, (state) =>
 *     Stream.make(`${state.unsafeGet().message}, World!`))))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <S, C = void>(options?: Options<S> | undefined): Graph<S, C> =>
  makeGraph({
    name: options?.name ?? "graph",
    options: options ?? {},
    definitions: [],
    middleware: [],
    startup: undefined,
    shutdown: [],
    entryStep: undefined
  })

/**
 * Routes to other steps instead of the step's `to` targets. A list fans out.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Graph from "sluice/Graph"
 *
 * const decide = Effect.succeed(Math.random() > 0.5 ? Graph.next("positive") : Graph.next(["log", "negative"]))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const next = <const T extends string>(targets: T | ReadonlyArray<T>): Next<T> => ({
  _tag: "Next",
  targets: typeof targets === "string" ? [targets] : targets
})

/**
 * Stops the current branch: no successor runs.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Graph from "sluice/Graph"
 *
 * const stop = Effect.succeed(Graph.end)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const end: End = { _tag: "End" }

/**
 * The state handle of the running graph over state `S` (prefer `graph.state`, which knows `S`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Graph from "sluice/Graph"
 *
 * const bump = Effect.flatMap(Graph.state<{ count: number }>(), (state) =>
 *   state.update((s) => ({ count: s.count + 1 })))
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const state = <S>(): Effect.Effect<StateHandle<S>, never, StateService<S>> => StateTag

/**
 * The value of the running graph's `onStartup` hook (prefer `graph.context`, which knows `C`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Graph from "sluice/Graph"
 *
 * const url = Effect.map(Graph.context<{ url: string }>(), (ctx) => ctx.url)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const context = <C>(): Effect.Effect<C, never, ContextService<C>> => contextAccessor

/**
 * A step body that runs a sluice `Node`: `input` reads its input from the state, `output` (optional) writes its
 * output back. The node's events nest under the step: `[...stepPath, node.name]`.
 *
 * @example
 * ```ts
 * import * as Graph from "sluice/Graph"
 * import * as Node from "sluice/Node"
 *
 * interface State { readonly text: string }
 * const upper = Node.fromFunction("upper", (s: string) => s.toUpperCase())
 * const graph = Graph.make<State>().step("shout", Graph.node(upper, {
 *   input: (state: State) => state.text,
 *   output: (text, state) => ({ ...state, text })
 * }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const node = <S, I, O, E, R>(
  node: Node.Node<I, O, E, R>,
  options: {
    readonly input: (state: S) => I
    readonly output?: ((output: O, state: S) => S) | undefined
  }
): NodeBody<S, E, R> => ({ _tag: "NodeBody", node, input: options.input, output: options.output })

/**
 * Builds middleware. Its type is generic over the wrapped step, so `f` can only observe or decorate it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Graph from "sluice/Graph"
 *
 * const timing = Graph.middleware((step, info) =>
 *   Effect.withLogSpan(Effect.tap(step, () => Effect.logDebug(`${info.step} done`)), info.step))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const middleware = <E = never, R = never>(
  f: Middleware<E, R>
): Middleware<Exclude<E, StepFailure>, Exclude<R, StepRequirements>> => f as any

// =============================================================================
// validation
// =============================================================================

/**
 * Checks a graph: it fails with a `GraphError` naming the steps when there is no entry step (or several candidates),
 * a duplicate step id, an unknown target in `to` / `routes` / `entry`, a step unreachable from the entry (through
 * `to` and `routes` edges, and the `next` of any step that may return one), or an
 * invalid option. Nested graphs are checked too. Running a graph performs the same checks.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Graph from "sluice/Graph"
 *
 * const graph = Graph.make<{}>().step("a", { to: "b" }, Effect.void).step("b", Effect.void)
 * const checked = Graph.validate(graph) // Effect<typeof graph, GraphError>
 * ```
 *
 * @since 0.1.0
 * @category validation
 */
export const validate = <S, C, N extends string, T extends string, E, R>(
  self: Graph<S, C, N, T, E, R> & Graph.Valid<N, T>
): Effect.Effect<Graph<S, C, N, T, E, R>, GraphError> =>
  Effect.suspend(() => Either.match(compile(self as any), { onLeft: Effect.fail, onRight: () => Effect.succeed(self) }))

/**
 * The steps of a graph as declared, in declaration order.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Graph from "sluice/Graph"
 *
 * const graph = Graph.make<{}>().step("a", { to: "b" }, Effect.void).step("b", Effect.void)
 * Graph.steps(graph).map((step) => `${step.id} -> ${step.to.join(",")}`)
 * ```
 *
 * @since 0.1.0
 * @category introspection
 */
export const steps = (self: Graph.Any): ReadonlyArray<StepDescription> =>
  (self as unknown as GraphImpl).definitions.map((d) => ({
    id: d.id,
    kind: d.kind,
    to: d.to,
    routes: d.routes,
    retry: d.retry !== undefined,
    timeout: Option.fromNullable(d.timeout),
    inner: d.kind === "graph"
      ? Option.some((d.body as GraphImpl).name)
      : d.kind === "node"
      ? Option.some((d.body as NodeBody<unknown>).node.name)
      : Option.none()
  }))

// =============================================================================
// running
// =============================================================================

/**
 * The graph as a sluice `Node` from initial state to final state, so it composes with the rest of sluice (a
 * `Pipeline` step, a `Node` combinator, another graph's {@link node} step). Its events are the graph's step
 * events; `Node.stream` adds `StepStart` / `StepEnd` at the graph's own path.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Graph from "sluice/Graph"
 * import * as Node from "sluice/Node"
 *
 * const graph = Graph.make<{ n: number }>({ name: "inc" })
 * const inc = graph.step("inc", Effect.flatMap(graph.state, (s) => s.update(({ n }) => ({ n: n + 1 }))))
 * const program = Node.run(Graph.toNode(inc), { n: 1 }) // Effect<{ n: number }, GraphError>
 * ```
 *
 * @since 0.1.0
 * @category conversions
 */
export const toNode = <S, C, N extends string, T extends string, E, R>(
  self: Graph<S, C, N, T, E, R> & Graph.Valid<N, T>
): Node.Node<S, S, E | GraphError, R> =>
  Node.make(self.name, (initial: S, ctx) => {
    const impl = self as unknown as GraphImpl
    return Stream.unwrapScoped(Effect.gen(function*() {
      const compiled = yield* Either.match(compile(impl), { onLeft: Effect.fail, onRight: Effect.succeed })
      const mailbox = yield* Mailbox.make<Node.Emission<S>, unknown>(compiled.bufferSize)
      const handle = makeHandle(initial, compiled.reducers)
      const runtime: Runtime = {
        runId: ctx.runId,
        prefix: ctx.path,
        handle,
        tryEmit: (event) => mailbox.unsafeOffer(event),
        emit: (event) => mailbox.offer(event),
        emitAll: (events) => mailbox.offerAll(events)
      }
      yield* execute(compiled, runtime).pipe(
        Effect.zipRight(Effect.suspend(() => mailbox.offer(Node.output(handle.unsafeGet())))),
        Mailbox.into(mailbox),
        Effect.forkScoped
      )
      return Mailbox.toStream(mailbox)
    })) as Stream.Stream<Node.Emission<S>, E | GraphError, R>
  })

/**
 * Streams a run of the graph from an initial state: `RunStart`, the graph's `StepStart`, every step's events, the
 * graph's `StepEnd` (its `output` is the final state) or `StepError`, and `RunEnd`. Interrupting the consumer
 * interrupts every running step and runs the shutdown hooks.
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import * as Graph from "sluice/Graph"
 *
 * const graph = Graph.make<{ lang: string }>({ name: "hello" }).step("say", Stream.make("Hello", ", World!"))
 * const tokens = Graph.stream(graph, { lang: "en" }).pipe(Stream.filter((e) => e._tag === "Token"))
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const stream: {
  <S>(
    state: S,
    options?: Node.RunOptions | undefined
  ): <C, N extends string, T extends string, E, R>(
    self: Graph<S, C, N, T, E, R> & Graph.Valid<N, T>
  ) => Stream.Stream<Event.Event, E | GraphError, R>
  <S, C, N extends string, T extends string, E, R>(
    self: Graph<S, C, N, T, E, R> & Graph.Valid<N, T>,
    state: NoInfer<S>,
    options?: Node.RunOptions | undefined
  ): Stream.Stream<Event.Event, E | GraphError, R>
} = dual(
  (args) => isGraph(args[0]),
  <S, E, R>(
    self: Graph<S, any, any, any, E, R>,
    initial: S,
    options?: Node.RunOptions | undefined
  ): Stream.Stream<Event.Event, E | GraphError, R> =>
    Stream.unwrap(Effect.gen(function*() {
      const runId = options?.runId ?? (yield* Node.makeRunId)
      const path = [...(options?.parent ?? []), self.name]
      const start = yield* Event.now
      const runEnd = (status: "success" | "failure" | "interrupted") =>
        Stream.fromEffect(Effect.map(Event.now, (timestamp) =>
          Event.make("RunEnd", { runId, path, timestamp }, { status, durationMs: timestamp - start })))
      return Stream.make(Event.make("RunStart", { runId, path, timestamp: start }, { name: self.name })).pipe(
        Stream.concat(
          Stream.catchAllCause(
            Stream.concat(Node.streamIn(toNode(self), initial, { runId, path }), runEnd("success")),
            (cause) =>
              Stream.concat(runEnd(Cause.isInterruptedOnly(cause) ? "interrupted" : "failure"), Stream.failCause(cause))
          )
        )
      )
    }))
)

/**
 * Runs the graph from an initial state and returns the final state, by consuming {@link stream}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Graph from "sluice/Graph"
 *
 * const graph = Graph.make<{ n: number }>()
 * const double = graph.step("double", Effect.flatMap(graph.state, (s) => s.update(({ n }) => ({ n: n * 2 }))))
 * const program = Graph.run(double, { n: 21 }) // Effect<{ n: number }, GraphError>
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const run: {
  <S>(
    state: S,
    options?: Node.RunOptions | undefined
  ): <C, N extends string, T extends string, E, R>(
    self: Graph<S, C, N, T, E, R> & Graph.Valid<N, T>
  ) => Effect.Effect<S, E | GraphError, R>
  <S, C, N extends string, T extends string, E, R>(
    self: Graph<S, C, N, T, E, R> & Graph.Valid<N, T>,
    state: NoInfer<S>,
    options?: Node.RunOptions | undefined
  ): Effect.Effect<S, E | GraphError, R>
} = dual(
  (args) => isGraph(args[0]),
  <S, E, R>(
    self: Graph<S, any, any, any, E, R>,
    initial: S,
    options?: Node.RunOptions | undefined
  ): Effect.Effect<S, E | GraphError, R> =>
    Effect.flatMap(
      Node.finalResult(stream(self, initial, options)),
      Option.match({
        onNone: () => Effect.dieMessage(`graph "${self.name}" streamed no final state`),
        onSome: (value) => Effect.succeed(value as S)
      })
    ).pipe(Effect.withSpan("Graph.run", { attributes: { graph: self.name } }))
)

// =============================================================================
// rendering
// =============================================================================

/**
 * Draws the graph as a Mermaid flowchart: `to` edges solid, declared `routes` dashed, streaming steps marked ⚡,
 * nested graphs and nodes as subroutines.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Graph from "sluice/Graph"
 *
 * const graph = Graph.make<{}>().step("a", { to: "b" }, Effect.void).step("b", Effect.void)
 * const diagram = Graph.toMermaid(graph)
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const toMermaid = (self: Graph.Any): string => Render.toMermaid(self as unknown as GraphImpl)

/**
 * Draws the graph as a plain-text tree from its entry step: `to` edges as `──`, declared `routes` as `┄┄`, streaming
 * steps marked ⚡, nested graphs and nodes named in brackets; a step already drawn is marked `(see above)` instead
 * of being expanded again (barriers, cycles).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Graph from "sluice/Graph"
 *
 * const graph = Graph.make<{}>({ name: "g" }).step("a", { to: "b" }, Effect.void).step("b", Effect.void)
 * Graph.toTree(graph) // "g\n└── a\n    └── b\n"
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const toTree = (self: Graph.Any): string => Render.toTree(self as unknown as GraphImpl)
