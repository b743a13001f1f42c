/**
 * An agent: a conversation with a model that can call tools, run as a multi-turn loop.
 *
 * {@link make} builds an agent (a stateful, scoped object) from a system prompt, a model (a registry engine by name,
 * any `LanguageModel` Layer, or the one in context), and tools defined with `@effect/ai`'s `Tool`/`Toolkit`
 * (parameters as a `Schema`, or as a raw JSON Schema with {@link jsonSchemaTool}) with their handlers. {@link prompt} adds a user message and streams {@link AgentEvent.AgentEvent}s while the loop runs:
 *
 * 1. stream the model's reply (text, thinking and tool-call argument deltas become `MessageUpdate` events);
 * 2. run the tool calls it asked for, in parallel (at most `toolConcurrency` at once); a handler may report progress
 *    (`ToolExecutionUpdate`) through the `update` function it receives;
 * 3. feed the results back and call the model again, until it answers without tool calls, `maxTurns` model calls
 *    were made (`onMaxTurns`: fail with `AgentError` `MaxTurnsExceeded`, or stop), or `stopWhen` holds.
 *
 * A tool that fails, a tool name the agent does not have, and parameters that do not match the tool's schema all
 * become error results sent back to the model (`isError: true`), never a failure of the prompt. A model failure
 * (`AiError`) fails the prompt after recording the partial assistant message (stop reason `error`).
 *
 * **Abort.** Interrupting a prompt (the consumer stops reading its stream, the fiber is interrupted, or
 * {@link abort} is called) stops the model stream and the running tools. The partial assistant message is recorded
 * with stop reason `aborted`, unfinished tool calls get error results (so the conversation stays valid for the next
 * prompt), and subscribers see `AgentEnd` with reason `aborted`. After {@link abort} the prompt's stream ends
 * normally with that `AgentEnd`; {@link promptText} fails with `AgentError` `Aborted`.
 *
 * **Subscription.** {@link subscribe} calls a listener with every event of every prompt, in order, in a fiber of
 * its own (it returns the effect that unsubscribes); {@link events} gives the same as a `Stream`. Both are backed
 * by a `PubSub`, subscribed at once when the call returns. **A late subscriber does not see the events published
 * before it subscribed**: joining during a turn, it gets the rest of that turn (e.g. the remaining text deltas, the
 * `MessageEnd` with the whole message) but not its `TurnStart`; read {@link state} for what came before, or pass
 * `replay: n` to {@link make} to hand the last `n` events to every new subscriber. Subscribers never slow the agent
 * down (their buffer is unbounded); the prompt's own stream has real backpressure.
 *
 * **State.** The conversation ({@link State}: session id, system prompt, model name, tool names, messages) can be
 * read ({@link state}), reset ({@link reset}), serialised with the {@link State} schema and restored
 * ({@link restore}), and saved to / loaded from a `KeyValueStore` ({@link save}, {@link load}, or `persist: true`
 * to load on {@link make} and save after every turn). Prompts on one agent run one at a time. The system prompt
 * ({@link setSystemPrompt}), the model ({@link setModel}, by engine name or built) and the tools ({@link setTools})
 * can be replaced between prompts or during one: they apply from the next model call.
 *
 * **As a Node.** {@link toNode} makes an agent a `Node<string, string>` usable as a Graph or Pipeline step; its
 * events map onto the shared `Event` vocabulary with {@link toEvents}:
 *
 * | agent event | shared event (path) |
 * |---|---|
 * | `AgentStart` / `AgentEnd` | `StepStart` / `StepEnd` with the final text, or `StepError` (`path`) |
 * | `TurnStart` / `TurnEnd` | `StepStart` / `StepEnd` with the turn's text and usage (`[...path, "turn-N"]`) |
 * | text / thinking delta | `Token` / `Reasoning` (turn path) |
 * | tool-call argument delta / end | `ToolArgProgress` (with the partial parameters) / `ToolCall` (turn path) |
 * | `ToolExecutionStart` | `StepStart` (`[...turnPath, "name:callId"]`) |
 * | `ToolExecutionUpdate` | `PartialFields` with the progress value (tool path) |
 * | `ToolExecutionEnd` | `ToolResult` (turn path) and `StepEnd` with the result (tool path) |
 * | `MessageStart` / `MessageEnd`, tool-call start | nothing |
 *
 * @since 0.1.0
 */
import type * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Tool from "@effect/ai/Tool"
import type * as Toolkit from "@effect/ai/Toolkit"
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { AgentError } from "./AgentError.js"
import type * as AgentEvent from "./AgentEvent.js"
import * as EngineRegistry from "./EngineRegistry.js"
import type { EngineRegistryError } from "./EngineRegistryError.js"
import type * as Event from "./Event.js"
import { type Internal, internal, withLock } from "./internal/agent/core.js"
import { EventMapper, toEmissions } from "./internal/agent/events.js"
import * as JsonSchema from "./internal/agent/jsonSchema.js"
import * as Loop from "./internal/agent/loop.js"
import * as AgentState from "./internal/agent/state.js"
import * as Tools from "./internal/agent/tools.js"
import * as Retry from "./internal/retry.js"
import * as Node from "./Node.js"

// =============================================================================
// type ids
// =============================================================================

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/Agent")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

// =============================================================================
// models
// =============================================================================

/**
 * An agent: a conversation, a model, tools, and the loop that connects them. Build one with {@link make}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Agent from "sluice/Agent"
 *
 * declare const agent: Agent.Agent
 * const names: ReadonlyArray<string> = agent.tools
 * const answer = Agent.promptText(agent, "Hello")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Agent extends Pipeable {
  readonly [TypeId]: TypeId
  /** The names of the agent's tools (as {@link setTools} last set them). */
  readonly tools: ReadonlyArray<string>
}

/**
 * What a tool handler receives besides its parameters: the call's id and tool name, and `update` to report
 * progress (each call streams a `ToolExecutionUpdate` event with the value, which must be JSON-compatible).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type * as Agent from "sluice/Agent"
 *
 * const work = (context: Agent.ToolContext) =>
 *   Effect.zipRight(context.update({ step: "fetching", call: context.toolCallId }), Effect.succeed(42))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolContext {
  readonly toolCallId: string
  readonly toolName: string
  readonly update: (progress: unknown) => Effect.Effect<void>
}

/**
 * A tool handler: an Effect from the tool's decoded parameters to a value of its success schema. Any failure
 * becomes an error result for the model: a failure matching the tool's failure schema is sent encoded, any other
 * failure or defect as an error text.
 *
 * @example
 * ```ts
 * import { Tool } from "@effect/ai"
 * import { Effect, Schema } from "effect"
 * import type * as Agent from "sluice/Agent"
 *
 * const Weather = Tool.make("weather", { parameters: { city: Schema.String }, success: Schema.Number })
 * const weather: Agent.Handler<typeof Weather> = ({ city }, { update }) =>
 *   Effect.as(update(`looking up ${city}`), city.length)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Handler<T extends Tool.Any, R = never> = (
  params: Tool.Parameters<T>,
  context: ToolContext
) => Effect.Effect<Tool.Success<T>, unknown, R>

/**
 * One handler per tool of a toolkit (provider-defined tools that need none excepted).
 *
 * @example
 * ```ts
 * import { Tool, Toolkit } from "@effect/ai"
 * import { Effect, Schema } from "effect"
 * import type * as Agent from "sluice/Agent"
 *
 * const Kit = Toolkit.make(Tool.make("echo", { parameters: { text: Schema.String }, success: Schema.String }))
 * const handlers: Agent.Handlers<Toolkit.Tools<typeof Kit>> = { echo: ({ text }) => Effect.succeed(text) }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Handlers<Tools extends Record<string, Tool.Any>> = {
  readonly [Name in keyof Tools as Tool.RequiresHandler<Tools[Name]> extends true ? Name : never]: Handler<
    Tools[Name],
    any
  >
}

/**
 * What {@link Options.stopWhen} looks at after every turn: the turn number (from 1), its assistant message and tool
 * results, and the whole conversation so far.
 *
 * @example
 * ```ts
 * import type * as Agent from "sluice/Agent"
 *
 * const afterSearch = (context: Agent.StopContext) => context.toolResults.some((r) => r.toolName === "search")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StopContext {
  readonly turn: number
  readonly message: AgentEvent.AssistantMessage
  readonly toolResults: ReadonlyArray<AgentEvent.ToolResultMessage>
  readonly messages: ReadonlyArray<AgentEvent.Message>
}

/**
 * The options of {@link make}.
 *
 * - `system`: the system prompt; `sessionId`: the conversation's id (a random UUID when omitted);
 * - `engine`: the name of an engine of the `EngineRegistry` in context (held while the agent lives), or a
 *   `LanguageModel` Layer built once for the agent (the `LanguageModel` in context when omitted); `modelName`: the
 *   model's name recorded in the state (by default the engine name);
 * - `tools`: a `Toolkit`; `handlers`: its handlers (see {@link Handler}); when omitted, the toolkit's handlers come
 *   from context (a `toolkit.toLayer(...)` Layer, without progress updates);
 * - `maxTurns` (default 10): the most model calls per prompt; `onMaxTurns` (default `"fail"`): fail with
 *   `AgentError` `MaxTurnsExceeded` or `"stop"` with `AgentEnd` reason `maxTurns` when the model still wants tools;
 *   the tool calls of the last turn run either way, so the conversation stays valid;
 * - `stopWhen`: checked after every turn; when it holds the prompt ends (reason `stopCondition`);
 * - `toolConcurrency` (default 4): tool calls run at once;
 * - `persist`: load the saved state of `sessionId` from the `KeyValueStore` in context, and save after every turn;
 *   `storeKey` (default `"sluice/agent/"`): the key prefix;
 * - `replay` (default 0): events handed to each new subscriber; `bufferSize` (default 256): events a prompt's
 *   stream buffers ahead of its consumer;
 * - `retry` (default 2; 0 switches it off): retries of a model call that failed with a transient error (429, 5xx,
 *   transport, timeout) before it streamed anything, with jittered exponential backoff and the server's
 *   retry-after, each announced by a `Retry` event.
 *
 * @example
 * ```ts
 * import type * as Agent from "sluice/Agent"
 *
 * const options: Agent.Options<{}, undefined, undefined> = {
 *   system: "You are terse.",
 *   maxTurns: 4,
 *   onMaxTurns: "stop",
 *   toolConcurrency: 2
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<Tools extends Record<string, Tool.Any>, M, P> {
  readonly system?: string | undefined
  readonly sessionId?: string | undefined
  readonly engine?: M
  readonly modelName?: string | undefined
  readonly tools?: Toolkit.Toolkit<Tools> | undefined
  readonly maxTurns?: number | undefined
  readonly onMaxTurns?: "fail" | "stop" | undefined
  readonly stopWhen?: ((context: StopContext) => boolean | Effect.Effect<boolean>) | undefined
  readonly toolConcurrency?: number | "unbounded" | undefined
  readonly persist?: P
  readonly storeKey?: string | undefined
  readonly replay?: number | undefined
  readonly bufferSize?: number | undefined
  readonly retry?: number | undefined
}

/**
 * What {@link make} requires from context: the model (unless given as a Layer, then that Layer's requirements),
 * the handlers' requirements (`Handlers`: those of the given handlers, or the toolkit's handler services), and a
 * `KeyValueStore` with `persist: true`.
 *
 * @example
 * ```ts
 * import type { LanguageModel } from "@effect/ai"
 * import type * as Agent from "sluice/Agent"
 *
 * type Needs = Agent.MakeContext<never, undefined, undefined> // LanguageModel.LanguageModel
 * ```
 *
 * @since 0.1.0
 * @category utility types
 */
export type MakeContext<Handlers, M, P> =
  | (M extends string ? EngineRegistry.EngineRegistry
    : M extends Layer.Layer<infer _A, infer _E, infer R> ? R
    : LanguageModel.LanguageModel)
  | Handlers
  | (P extends true ? KeyValueStore.KeyValueStore : never)

/**
 * How {@link make} can fail: getting the engine from the registry or building the model Layer, or loading a
 * persisted state.
 *
 * @example
 * ```ts
 * import type * as Agent from "sluice/Agent"
 *
 * type Fails = Agent.MakeError<undefined, true> // AgentError
 * ```
 *
 * @since 0.1.0
 * @category utility types
 */
export type MakeError<M, P> =
  | (M extends string ? EngineRegistryError : M extends Layer.Layer<infer _A, infer E, infer _R> ? E : never)
  | (P extends true ? AgentError : never)

/**
 * The requirements of a set of handlers.
 *
 * @example
 * ```ts
 * import type { Effect } from "effect"
 * import type * as Agent from "sluice/Agent"
 *
 * type R = Agent.HandlerContext<{ readonly a: () => Effect.Effect<number, never, "Db"> }> // "Db"
 * ```
 *
 * @since 0.1.0
 * @category utility types
 */
export type HandlerContext<H> = {
  [K in keyof H]: H[K] extends (...args: ReadonlyArray<any>) => Effect.Effect<any, any, infer R> ? R : never
}[keyof H]

/**
 * The state of an agent: what is serialised and restored.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as Agent from "sluice/Agent"
 *
 * const state = Schema.decodeUnknownSync(Agent.State)({
 *   sessionId: "s1",
 *   systemPrompt: "",
 *   tools: [],
 *   messages: [{ _tag: "UserMessage", text: "Hi", timestamp: 0 }]
 * })
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const State = AgentState.State

/**
 * The state of an agent.
 *
 * @example
 * ```ts
 * import type * as Agent from "sluice/Agent"
 *
 * const empty: Agent.State = { sessionId: "s1", systemPrompt: "", tools: [], messages: [] }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type State = typeof State.Type

/**
 * The state as JSON text.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import * as Agent from "sluice/Agent"
 *
 * declare const agent: Agent.Agent
 * const json = Effect.flatMap(Agent.state(agent), Schema.encode(Agent.StateFromJson))
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const StateFromJson = AgentState.StateFromJson

/**
 * The TypeScript type of the values a JSON Schema describes, read from a schema written as a literal (`as const`,
 * or passed straight to {@link jsonSchemaTool}): `type` (one or several), `enum`, `const`, `properties` with
 * `required`, and `items`. Whatever it cannot read is `unknown`. These are exactly the keywords the agent checks
 * the model's arguments against, so the type holds for the values a handler receives.
 *
 * @example
 * ```ts
 * import type * as Agent from "sluice/Agent"
 *
 * const Sum = {
 *   type: "object",
 *   properties: { a: { type: "number" }, b: { type: "number" }, note: { type: "string" } },
 *   required: ["a", "b"]
 * } as const
 * type Params = Agent.JsonSchemaType<typeof Sum> // { readonly a: number; readonly b: number; readonly note?: string }
 * ```
 *
 * @since 0.1.0
 * @category utility types
 */
export type JsonSchemaType<S> = S extends { readonly const: infer C } ? C
  : S extends { readonly enum: ReadonlyArray<infer E> } ? E
  : S extends { readonly type: infer T } ? OfTypes<T extends ReadonlyArray<infer U> ? U : T, S>
  : unknown

type OfTypes<T, S> = T extends "string" ? string
  : T extends "number" | "integer" ? number
  : T extends "boolean" ? boolean
  : T extends "null" ? null
  : T extends "array" ?
    ReadonlyArray<S extends { readonly items: infer I extends object } ? JsonSchemaType<I> : unknown>
  : T extends "object" ? OfObject<S>
  : unknown

type OfObject<S> = S extends { readonly properties: infer P extends object } ? Simplify<
    & { readonly [K in keyof P as K extends RequiredKeys<S> ? K : never]: JsonSchemaType<P[K]> }
    & { readonly [K in keyof P as K extends RequiredKeys<S> ? never : K]?: JsonSchemaType<P[K]> }
  >
  : { readonly [key: string]: unknown }

type RequiredKeys<S> = S extends { readonly required: ReadonlyArray<infer K> } ? K : never

type Simplify<A> = { [K in keyof A]: A[K] } extends infer B ? B : never

/**
 * The parameters a {@link jsonSchemaTool} is called with: {@link JsonSchemaType} of its schema, or any JSON object
 * when the schema is not a literal.
 *
 * @example
 * ```ts
 * import type * as Agent from "sluice/Agent"
 *
 * type Any = Agent.JsonSchemaParams<Record<string, unknown>> // { readonly [key: string]: unknown }
 * ```
 *
 * @since 0.1.0
 * @category utility types
 */
export type JsonSchemaParams<S> = unknown extends JsonSchemaType<S> ? { readonly [key: string]: unknown }
  : JsonSchemaType<S>

/**
 * The parameters schema of a {@link jsonSchemaTool}: the model sees the JSON Schema verbatim; decoding checks the
 * arguments against it (see {@link JsonSchemaType}) and fails with the list of problems.
 *
 * @example
 * ```ts
 * import type * as Agent from "sluice/Agent"
 *
 * declare const parameters: Agent.JsonSchemaParameters<{ readonly city: string }>
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface JsonSchemaParameters<A> extends Schema.Schema<A, unknown> {
  readonly fields: {}
  readonly make: (params: A) => A
}

/**
 * A tool whose parameters are a JSON Schema (as TinyAgent and most provider SDKs write them) rather than an Effect
 * `Schema`. The model is offered the schema verbatim. The arguments the model sends are checked against its `type`,
 * `enum`, `const`, `properties`, `required`, `additionalProperties` and `items` before the handler runs (other
 * keywords are the model's guidance only); arguments that do not conform go back to the model as an error result.
 * The handler's parameters are typed from the schema when it is a literal (see {@link JsonSchemaType}). Its result
 * can be any JSON-compatible value.
 *
 * @example
 * ```ts
 * import { Toolkit } from "@effect/ai"
 * import { Effect } from "effect"
 * import * as Agent from "sluice/Agent"
 *
 * const Sum = Agent.jsonSchemaTool("sum", {
 *   description: "Add two numbers",
 *   parameters: {
 *     type: "object",
 *     properties: { a: { type: "number" }, b: { type: "number" } },
 *     required: ["a", "b"]
 *   }
 * })
 *
 * const program = Effect.gen(function*() {
 *   const agent = yield* Agent.make({})
 *   yield* Agent.setTools(agent, Toolkit.make(Sum), { sum: ({ a, b }) => Effect.succeed(a + b) })
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const jsonSchemaTool = <
  const Name extends string,
  const S extends { readonly [keyword: string]: unknown }
>(
  name: Name,
  options: { readonly description?: string | undefined; readonly parameters: S }
): Tool.Tool<Name, {
  readonly parameters: JsonSchemaParameters<JsonSchemaParams<S>>
  readonly success: typeof Schema.Unknown
  readonly failure: typeof Schema.Never
  readonly failureMode: "error"
}> =>
  Tool.make(name, {
    ...(options.description === undefined ? {} : { description: options.description }),
    success: Schema.Unknown
  }).setParameters(
    JsonSchema.parameters(options.parameters) as unknown as JsonSchemaParameters<JsonSchemaParams<S>>
  )

// =============================================================================
// guards
// =============================================================================

const Proto = {
  [TypeId]: TypeId,
  get tools(): ReadonlyArray<string> {
    return (this as unknown as Internal).toolSet.names
  },
  pipe() {
    return pipeArguments(this, arguments)
  }
}

/**
 * @example
 * ```ts
 * import * as Agent from "sluice/Agent"
 *
 * Agent.isAgent({}) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isAgent = (u: unknown): u is Agent => Predicate.hasProperty(u, TypeId)

// =============================================================================
// constructors
// =============================================================================

/**
 * Builds an agent. It lives as long as the enclosing scope: closing it ends subscriptions, stops a running prompt
 * and releases its registry engine.
 *
 * @example
 * ```ts
 * import { Tool, Toolkit } from "@effect/ai"
 * import { Effect, Schema } from "effect"
 * import * as Agent from "sluice/Agent"
 * import * as DryRun from "sluice/engines/DryRun"
 *
 * const Weather = Tool.make("weather", {
 *   description: "Current temperature in a city",
 *   parameters: { city: Schema.String },
 *   success: Schema.Struct({ celsius: Schema.Number })
 * })
 *
 * const program = Effect.gen(function*() {
 *   const agent = yield* Agent.make({
 *     system: "You answer weather questions.",
 *     tools: Toolkit.make(Weather),
 *     handlers: { weather: ({ city }) => Effect.succeed({ celsius: city.length }) }
 *   })
 *   return yield* Agent.promptText(agent, "How warm is it in Oslo?")
 * }).pipe(Effect.scoped, Effect.provide(DryRun.layer()))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: {
  <
    Tools extends Record<string, Tool.Any>,
    H extends Handlers<Tools>,
    M extends string | Layer.Layer<LanguageModel.LanguageModel, any, any> | undefined = undefined,
    P extends boolean | undefined = undefined
  >(
    options: Options<Tools, M, P> & { readonly tools: Toolkit.Toolkit<Tools>; readonly handlers: H }
  ): Effect.Effect<Agent, MakeError<M, P>, Scope.Scope | MakeContext<HandlerContext<H>, M, P>>
  <
    Tools extends Record<string, Tool.Any> = {},
    M extends string | Layer.Layer<LanguageModel.LanguageModel, any, any> | undefined = undefined,
    P extends boolean | undefined = undefined
  >(
    options: Options<Tools, M, P> & { readonly handlers?: undefined }
  ): Effect.Effect<Agent, MakeError<M, P>, Scope.Scope | MakeContext<Tool.HandlersFor<Tools>, M, P>>
} = (options: Options<Record<string, Tool.Any>, unknown, unknown> & { readonly handlers?: unknown }): Effect.Effect<
  Agent,
  unknown,
  unknown
> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const engine = typeof options.engine === "string" ? yield* acquireEngine(scope, options.engine) : undefined
    const model: LanguageModel.Service = engine !== undefined
      ? engine.model
      : options.engine === undefined
      ? yield* LanguageModel.LanguageModel
      : Context.get(
        yield* Layer.buildWithScope(options.engine as Layer.Layer<LanguageModel.LanguageModel>, scope),
        LanguageModel.LanguageModel
      )
    const toolSet = yield* Tools.make(options.tools, options.handlers as Handlers<{}> | undefined)
    const sessionId = options.sessionId ?? (yield* Effect.sync(() => globalThis.crypto.randomUUID()))
    const modelName = options.modelName ?? (typeof options.engine === "string" ? options.engine : undefined)
    const pubsub = yield* PubSub.unbounded<AgentEvent.AgentEvent>(
      options.replay !== undefined && options.replay > 0 ? { replay: options.replay } : undefined
    )
    yield* Scope.addFinalizer(scope, PubSub.shutdown(pubsub))
    const store = options.persist === true
      ? Option.some(yield* KeyValueStore.KeyValueStore)
      : Option.none<KeyValueStore.KeyValueStore>()
    const self: Internal = Object.assign(Object.create(Proto), {
      state: yield* Ref.make<State>({
        sessionId,
        systemPrompt: options.system ?? "",
        ...(modelName === undefined ? {} : { model: modelName }),
        tools: toolSet.names,
        messages: []
      }),
      model: yield* Ref.make(model),
      engineScope: engine?.scope,
      toolSet,
      pubsub,
      lock: yield* Effect.makeSemaphore(1),
      current: yield* Ref.make(Option.none<Deferred.Deferred<void>>()),
      scope,
      store,
      storeKey: options.storeKey ?? "sluice/agent/",
      maxTurns: Math.max(1, options.maxTurns ?? 10),
      onMaxTurns: options.onMaxTurns ?? "fail",
      stopWhen: options.stopWhen,
      toolConcurrency: options.toolConcurrency ?? 4,
      bufferSize: Math.max(1, options.bufferSize ?? 256),
      retry: Math.max(0, Math.floor(options.retry ?? Retry.defaultTimes))
    })
    if (Option.isSome(store)) yield* AgentState.loadFrom(self, store.value, sessionId)
    return self as Agent
  })

/** Gets a registry engine in a scope of its own (under the agent's), so that replacing the model releases it. */
const acquireEngine = (
  scope: Scope.Scope,
  engine: string
): Effect.Effect<
  { readonly model: LanguageModel.Service; readonly scope: Scope.CloseableScope },
  EngineRegistryError,
  EngineRegistry.EngineRegistry
> =>
  Effect.flatMap(
    Scope.fork(scope, ExecutionStrategy.sequential),
    (child) => Effect.map(Scope.extend(EngineRegistry.get(engine), child), (model) => ({ model, scope: child }))
  )

// =============================================================================
// running
// =============================================================================

/**
 * Adds a user message and runs the loop, streaming the agent's events (see the module documentation for their
 * order). The stream ends after `AgentEnd`; it fails with the model's `AiError` or an `AgentError`
 * (`MaxTurnsExceeded`, `Persistence`) after an `AgentEnd` with reason `error`. Stopping the stream early aborts the
 * prompt. Prompts on one agent run one at a time: a second one waits for the first to end.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import * as Agent from "sluice/Agent"
 *
 * declare const agent: Agent.Agent
 * const printed = Agent.prompt(agent, "Hello").pipe(
 *   Stream.runForEach((event) => {
 *     if (event._tag !== "MessageUpdate" || event.delta._tag !== "TextDelta") return Effect.void
 *     const text = event.delta.text
 *     return Effect.sync(() => process.stdout.write(text))
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const prompt: {
  (text: string): (self: Agent) => Stream.Stream<AgentEvent.AgentEvent, AgentError | AiError.AiError>
  (self: Agent, text: string): Stream.Stream<AgentEvent.AgentEvent, AgentError | AiError.AiError>
} = dual(
  2,
  (self: Agent, text: string): Stream.Stream<AgentEvent.AgentEvent, AgentError | AiError.AiError> =>
    Loop.prompt(internal(self), text)
)

/**
 * Adds a user message, runs the loop and returns the text of the last assistant message. Fails with `AgentError`
 * `Aborted` when the prompt is aborted with {@link abort}.
 *
 * @example
 * ```ts
 * import * as Agent from "sluice/Agent"
 *
 * declare const agent: Agent.Agent
 * const answer = Agent.promptText(agent, "What is the weather in Oslo?") // Effect<string, …>
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const promptText: {
  (text: string): (self: Agent) => Effect.Effect<string, AgentError | AiError.AiError>
  (self: Agent, text: string): Effect.Effect<string, AgentError | AiError.AiError>
} = dual(
  2,
  (self: Agent, text: string): Effect.Effect<string, AgentError | AiError.AiError> =>
    Effect.flatMap(
      Stream.runFold(
        prompt(self, text),
        undefined as AgentEvent.Of<"AgentEnd"> | undefined,
        (last, event) => event._tag === "AgentEnd" ? event : last
      ),
      (end) =>
        end === undefined || end.reason === "aborted"
          ? Effect.fail(new AgentError({ session: end?.sessionId ?? "", reason: "Aborted" }))
          : Effect.succeed(end.text)
    )
)

/**
 * Aborts the running prompt, if any: its model stream and tools are interrupted, the partial assistant message is
 * recorded as aborted, and its stream ends with `AgentEnd` (reason `aborted`). Returns whether a prompt was running.
 *
 * @example
 * ```ts
 * import * as Agent from "sluice/Agent"
 *
 * declare const agent: Agent.Agent
 * const stop = Agent.abort(agent) // Effect<boolean>
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const abort = (self: Agent): Effect.Effect<boolean> =>
  Effect.flatMap(Ref.get(internal(self).current), (current) =>
    Option.match(current, {
      onNone: () => Effect.succeed(false),
      onSome: (signal) => Effect.as(Deferred.succeed(signal, undefined), true)
    }))

// =============================================================================
// subscription
// =============================================================================

/**
 * Calls `listener` with every event of every prompt of the agent, in order, from now on (see the module
 * documentation about late subscribers). The listener runs in a fiber of its own; a listener that fails or dies on
 * an event is logged and keeps receiving. Returns the effect that unsubscribes.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Agent from "sluice/Agent"
 *
 * declare const agent: Agent.Agent
 * const program = Effect.gen(function*() {
 *   const unsubscribe = yield* Agent.subscribe(agent, (event) => Effect.log(event._tag))
 *   yield* Agent.promptText(agent, "Hi")
 *   yield* unsubscribe
 * })
 * ```
 *
 * @since 0.1.0
 * @category subscription
 */
export const subscribe: {
  (
    listener: (event: AgentEvent.AgentEvent) => Effect.Effect<void> | void
  ): (self: Agent) => Effect.Effect<Effect.Effect<void>>
  (
    self: Agent,
    listener: (event: AgentEvent.AgentEvent) => Effect.Effect<void> | void
  ): Effect.Effect<Effect.Effect<void>>
} = dual(
  2,
  (
    self: Agent,
    listener: (event: AgentEvent.AgentEvent) => Effect.Effect<void> | void
  ): Effect.Effect<Effect.Effect<void>> =>
    Effect.gen(function*() {
      const agent = internal(self)
      const scope = yield* Scope.make()
      const dequeue = yield* Scope.extend(PubSub.subscribe(agent.pubsub), scope)
      const deliver = (event: AgentEvent.AgentEvent) =>
        Effect.suspend(() => {
          const result = listener(event)
          return Effect.isEffect(result) ? result : Effect.void
        }).pipe(
          Effect.catchAllCause((cause) =>
            Cause.isInterruptedOnly(cause) ? Effect.failCause(cause) : Effect.logWarning("Agent listener failed", cause)
          )
        )
      const fiber = yield* Effect.forkIn(
        Effect.forever(Effect.flatMap(Queue.takeBetween(dequeue, 1, 256), (events) => Effect.forEach(events, deliver))),
        agent.scope
      )
      return Effect.zipRight(Fiber.interrupt(fiber), Scope.close(scope, Exit.void))
    })
)

/**
 * The agent's events as a `Stream`, subscribed when this effect runs (not when the stream starts), for the
 * lifetime of the scope. The stream does not end by itself between prompts: take what you need (e.g. with
 * `Stream.takeUntil` on `AgentEnd`).
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import * as Agent from "sluice/Agent"
 *
 * declare const agent: Agent.Agent
 * const program = Effect.gen(function*() {
 *   const events = yield* Agent.events(agent)
 *   const ends = events.pipe(Stream.filter((event) => event._tag === "AgentEnd"))
 * })
 * ```
 *
 * @since 0.1.0
 * @category subscription
 */
export const events = (self: Agent): Effect.Effect<Stream.Stream<AgentEvent.AgentEvent>, never, Scope.Scope> =>
  Stream.fromPubSub(internal(self).pubsub, { scoped: true })

// =============================================================================
// state
// =============================================================================

/**
 * The agent's current state.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Agent from "sluice/Agent"
 *
 * declare const agent: Agent.Agent
 * const messages = Effect.map(Agent.state(agent), (state) => state.messages)
 * ```
 *
 * @since 0.1.0
 * @category state
 */
export const state = (self: Agent): Effect.Effect<State> => Ref.get(internal(self).state)

/**
 * Clears the conversation (the messages), keeping the system prompt, model and tools; `sessionId` starts a new
 * session. Waits for a running prompt to end.
 *
 * @example
 * ```ts
 * import * as Agent from "sluice/Agent"
 *
 * declare const agent: Agent.Agent
 * const fresh = Agent.reset(agent, { sessionId: "next" })
 * ```
 *
 * @since 0.1.0
 * @category state
 */
export const reset = (
  self: Agent,
  options?: { readonly sessionId?: string | undefined } | undefined
): Effect.Effect<void> =>
  withLock(
    self,
    Ref.update(internal(self).state, (state) => ({
      ...state,
      sessionId: options?.sessionId ?? state.sessionId,
      messages: []
    }))
  )

/**
 * Restores a state: session id, system prompt, model name and messages (the agent keeps its own tools and model;
 * the state's tool names are informational). The state is validated with the {@link State} schema first. Waits
 * for a running prompt to end.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import * as Agent from "sluice/Agent"
 *
 * declare const agent: Agent.Agent
 * declare const json: string
 * const program = Effect.flatMap(Schema.decode(Agent.StateFromJson)(json), (state) => Agent.restore(agent, state))
 * ```
 *
 * @since 0.1.0
 * @category state
 */
export const restore: {
  (state: State): (self: Agent) => Effect.Effect<void, AgentError>
  (self: Agent, state: State): Effect.Effect<void, AgentError>
} = dual(
  2,
  (self: Agent, state: State): Effect.Effect<void, AgentError> =>
    Effect.flatMap(AgentState.validate(state), (valid) => withLock(self, AgentState.setState(internal(self), valid)))
)

/**
 * Replaces the system prompt for the next model calls.
 *
 * @example
 * ```ts
 * import * as Agent from "sluice/Agent"
 *
 * declare const agent: Agent.Agent
 * const terse = Agent.setSystemPrompt(agent, "Answer in one word.")
 * ```
 *
 * @since 0.1.0
 * @category state
 */
export const setSystemPrompt: {
  (system: string): (self: Agent) => Effect.Effect<void>
  (self: Agent, system: string): Effect.Effect<void>
} = dual(
  2,
  (self: Agent, system: string): Effect.Effect<void> =>
    Ref.update(internal(self).state, (state) => ({ ...state, systemPrompt: system }))
)

/**
 * Replaces the model for the next model calls, and its name in the state: a registry engine by name (got from the
 * `EngineRegistry` in context, held while the agent lives, as with `make`'s `engine` option; its name is recorded),
 * or a built `LanguageModel` with an optional name. A registry engine the agent held before is released once no
 * prompt is running.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Agent from "sluice/Agent"
 * import * as DryRun from "sluice/engines/DryRun"
 *
 * declare const agent: Agent.Agent
 * const byName = Agent.setModel(agent, "fast") // Effect<void, EngineRegistryError, EngineRegistry>
 * const built = Effect.flatMap(DryRun.make(), (model) => Agent.setModel(agent, model, "dry-run"))
 * ```
 *
 * @since 0.1.0
 * @category state
 */
export const setModel: {
  (engine: string): (self: Agent) => Effect.Effect<void, EngineRegistryError, EngineRegistry.EngineRegistry>
  (model: LanguageModel.Service, name?: string | undefined): (self: Agent) => Effect.Effect<void>
  (self: Agent, engine: string): Effect.Effect<void, EngineRegistryError, EngineRegistry.EngineRegistry>
  (self: Agent, model: LanguageModel.Service, name?: string | undefined): Effect.Effect<void>
} = dual(
  (args) => isAgent(args[0]),
  (
    self: Agent,
    model: string | LanguageModel.Service,
    name?: string | undefined
  ): Effect.Effect<void, EngineRegistryError, EngineRegistry.EngineRegistry> => {
    const agent = internal(self)
    if (typeof model !== "string") return swapModel(agent, model, name, undefined)
    return Effect.flatMap(
      acquireEngine(agent.scope, model),
      (engine) => swapModel(agent, engine.model, name ?? model, engine.scope)
    )
  }
)

const swapModel = (
  agent: Internal,
  model: LanguageModel.Service,
  name: string | undefined,
  engineScope: Scope.CloseableScope | undefined
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const previous = agent.engineScope
    agent.engineScope = engineScope
    yield* Ref.set(agent.model, model)
    yield* AgentState.setModelName(agent, name)
    if (previous === undefined) return
    const release = Scope.close(previous, Exit.void)
    const released = yield* agent.lock.withPermitsIfAvailable(1)(release)
    if (Option.isNone(released)) yield* Effect.forkIn(withLock(agent, release), agent.scope)
  })

/**
 * Replaces the agent's tools (TinyAgent's `set_tools`) from the next turn on: a `Toolkit` (tools made with
 * `Tool.make` or {@link jsonSchemaTool}) and one handler per tool (see {@link Handler}); without handlers, the
 * toolkit's handlers come from context (a `toolkit.toLayer(...)` Layer). The handlers run in the context this
 * effect runs in. `Toolkit.empty` removes every tool. A turn that is running keeps the tools it offered the model.
 *
 * @example
 * ```ts
 * import { Tool, Toolkit } from "@effect/ai"
 * import { Effect, Schema } from "effect"
 * import * as Agent from "sluice/Agent"
 *
 * const Echo = Tool.make("echo", { parameters: { text: Schema.String }, success: Schema.String })
 *
 * declare const agent: Agent.Agent
 * const program = Agent.setTools(agent, Toolkit.make(Echo), { echo: ({ text }) => Effect.succeed(text) })
 * ```
 *
 * @since 0.1.0
 * @category state
 */
export const setTools: {
  <Tools extends Record<string, Tool.Any>, H extends Handlers<Tools>>(
    tools: Toolkit.Toolkit<Tools>,
    handlers: H
  ): (self: Agent) => Effect.Effect<void, never, HandlerContext<H>>
  <Tools extends Record<string, Tool.Any>>(
    tools: Toolkit.Toolkit<Tools>
  ): (self: Agent) => Effect.Effect<void, never, Tool.HandlersFor<Tools>>
  <Tools extends Record<string, Tool.Any>, H extends Handlers<Tools>>(
    self: Agent,
    tools: Toolkit.Toolkit<Tools>,
    handlers: H
  ): Effect.Effect<void, never, HandlerContext<H>>
  <Tools extends Record<string, Tool.Any>>(
    self: Agent,
    tools: Toolkit.Toolkit<Tools>
  ): Effect.Effect<void, never, Tool.HandlersFor<Tools>>
} = dual(
  (args) => isAgent(args[0]),
  (self: Agent, tools: Toolkit.Any, handlers?: Handlers<{}> | undefined): Effect.Effect<void, never, any> =>
    Effect.flatMap(Tools.make(tools, handlers), (toolSet) => {
      const agent = internal(self)
      agent.toolSet = toolSet
      return Ref.update(agent.state, (state) => ({ ...state, tools: toolSet.names }))
    })
)

// =============================================================================
// persistence
// =============================================================================

/**
 * Saves the agent's state in the `KeyValueStore` in context, under `storeKey + sessionId`.
 *
 * @example
 * ```ts
 * import { KeyValueStore } from "@effect/platform"
 * import { Effect } from "effect"
 * import * as Agent from "sluice/Agent"
 *
 * declare const agent: Agent.Agent
 * const program = Agent.save(agent).pipe(Effect.provide(KeyValueStore.layerMemory))
 * ```
 *
 * @since 0.1.0
 * @category persistence
 */
export const save = (self: Agent): Effect.Effect<void, AgentError, KeyValueStore.KeyValueStore> =>
  Effect.flatMap(KeyValueStore.KeyValueStore, (store) => AgentState.saveTo(internal(self), store))

/**
 * Loads the state saved for `sessionId` from the `KeyValueStore` in context and restores it. Returns `false`
 * (changing nothing) when there is none; fails with `AgentError` `InvalidState` when the saved text does not decode.
 *
 * @example
 * ```ts
 * import { KeyValueStore } from "@effect/platform"
 * import { Effect } from "effect"
 * import * as Agent from "sluice/Agent"
 *
 * declare const agent: Agent.Agent
 * const found = Agent.load(agent, "session-1").pipe(Effect.provide(KeyValueStore.layerMemory))
 * ```
 *
 * @since 0.1.0
 * @category persistence
 */
export const load: {
  (sessionId: string): (self: Agent) => Effect.Effect<boolean, AgentError, KeyValueStore.KeyValueStore>
  (self: Agent, sessionId: string): Effect.Effect<boolean, AgentError, KeyValueStore.KeyValueStore>
} = dual(
  2,
  (self: Agent, sessionId: string): Effect.Effect<boolean, AgentError, KeyValueStore.KeyValueStore> =>
    Effect.flatMap(
      KeyValueStore.KeyValueStore,
      (store) => withLock(self, AgentState.loadFrom(internal(self), store, sessionId))
    )
)

// =============================================================================
// nodes and events
// =============================================================================

/**
 * Maps a stream of agent events onto the shared `Event` vocabulary at a run id and path (see the table in the
 * module documentation).
 *
 * @example
 * ```ts
 * import * as Agent from "sluice/Agent"
 *
 * declare const agent: Agent.Agent
 * const events = Agent.prompt(agent, "Hi").pipe(Agent.toEvents({ runId: "r1", path: ["assistant"] }))
 * ```
 *
 * @since 0.1.0
 * @category nodes
 */
export const toEvents: {
  (context: Node.Context): <E, R>(self: Stream.Stream<AgentEvent.AgentEvent, E, R>) => Stream.Stream<Event.Event, E, R>
  <E, R>(self: Stream.Stream<AgentEvent.AgentEvent, E, R>, context: Node.Context): Stream.Stream<Event.Event, E, R>
} = dual(
  2,
  <E, R>(self: Stream.Stream<AgentEvent.AgentEvent, E, R>, context: Node.Context): Stream.Stream<Event.Event, E, R> =>
    Stream.suspend(() => {
      const mapper = new EventMapper(context, true)
      return Stream.mapChunks(self, (chunk) => {
        const out: Array<Event.Event> = []
        for (const event of chunk) mapper.map(event, out)
        return Chunk.unsafeFromArray(out)
      })
    })
)

/**
 * The agent as a `Node` from a user message to the text of the last assistant message: every run is one
 * {@link prompt} on the agent's conversation, and its events are mapped with {@link toEvents} under the node's
 * path. The `StepEnd` carries the usage summed over the turns. An aborted prompt fails the node with `AgentError`
 * `Aborted`.
 *
 * @example
 * ```ts
 * import * as Agent from "sluice/Agent"
 * import * as Graph from "sluice/Graph"
 *
 * declare const agent: Agent.Agent
 * interface State { readonly question: string; readonly answer: string }
 * const graph = Graph.make<State>().step("ask", Graph.node(Agent.toNode(agent, { name: "assistant" }), {
 *   input: (state: State) => state.question,
 *   output: (answer, state) => ({ ...state, answer })
 * }))
 * ```
 *
 * @since 0.1.0
 * @category nodes
 */
export const toNode = (
  self: Agent,
  options?: { readonly name?: string | undefined } | undefined
): Node.Node<string, string, AgentError | AiError.AiError> =>
  Node.make(options?.name ?? "agent", (input: string, context) => nodeBody(self, input, context))

/**
 * A `Node` that builds a fresh agent for every input (from `agent`, e.g. an `Agent.make(...)` effect, in a scope of
 * its own) and prompts it once: independent conversations, so a Pipeline can run many at once. Events and output
 * as in {@link toNode}.
 *
 * @example
 * ```ts
 * import * as Agent from "sluice/Agent"
 *
 * const summarise = Agent.node("summarise", Agent.make({ system: "Summarise the text in one sentence." }))
 * ```
 *
 * @since 0.1.0
 * @category nodes
 */
export const node = <E, R>(
  name: string,
  agent: Effect.Effect<Agent, E, R>
): Node.Node<string, string, E | AgentError | AiError.AiError, Exclude<R, Scope.Scope>> =>
  Node.make(
    name,
    (input: string, context) => Stream.unwrapScoped(Effect.map(agent, (self) => nodeBody(self, input, context)))
  )

const nodeBody = (
  self: Agent,
  input: string,
  context: Node.Context
): Stream.Stream<Node.Emission<string>, AgentError | AiError.AiError> => toEmissions(prompt(self, input), context)
