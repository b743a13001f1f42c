/**
 * An agent: a conversation with a model that can call tools, run as a multi-turn loop.
 *
 * {@link make} builds an agent (a stateful, scoped object) from a system prompt, a model (any `LanguageModel`: the
 * one in context or a Layer), and tools defined with `@effect/ai`'s `Tool`/`Toolkit` (parameters as `Schema`) with
 * their handlers. {@link prompt} adds a user message and streams {@link AgentEvent.AgentEvent}s while the loop runs:
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
 * to load on {@link make} and save after every turn). Prompts on one agent run one at a time.
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
import * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import * as Arbitrary from "effect/Arbitrary"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import type * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { AgentError } from "./AgentError.js"
import * as AgentEvent from "./AgentEvent.js"
import * as EngineError from "./EngineError.js"
import * as EngineRegistry from "./EngineRegistry.js"
import type { EngineRegistryError } from "./EngineRegistryError.js"
import * as Event from "./Event.js"
import * as Retry from "./internal/retry.js"
import * as Node from "./Node.js"
import * as PartialJson from "./PartialJson.js"

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
  /** The names of the agent's tools. */
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
export const State = Schema.Struct({
  sessionId: Schema.String,
  systemPrompt: Schema.String,
  model: Schema.optional(Schema.String),
  tools: Schema.Array(Schema.String),
  messages: Schema.Array(AgentEvent.Message)
})

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
export const StateFromJson = Schema.parseJson(State)

// =============================================================================
// internal model
// =============================================================================

interface ToolEntry {
  readonly tool: Tool.Any
  readonly execute: (params: unknown, context: ToolContext) => Effect.Effect<Outcome>
}

interface Outcome {
  readonly result: unknown
  readonly isError: boolean
}

interface Internal extends Agent {
  readonly state: Ref.Ref<State>
  readonly model: Ref.Ref<LanguageModel.Service>
  readonly wire: Toolkit.Any
  readonly entries: ReadonlyMap<string, ToolEntry>
  readonly pubsub: PubSub.PubSub<AgentEvent.AgentEvent>
  readonly lock: Effect.Semaphore
  readonly current: Ref.Ref<Option.Option<Deferred.Deferred<void>>>
  readonly scope: Scope.Scope
  readonly store: Option.Option<KeyValueStore.KeyValueStore>
  readonly storeKey: string
  readonly maxTurns: number
  readonly onMaxTurns: "fail" | "stop"
  readonly stopWhen: ((context: StopContext) => boolean | Effect.Effect<boolean>) | undefined
  readonly toolConcurrency: number | "unbounded"
  readonly bufferSize: number
  readonly retry: number
}

const Proto = {
  [TypeId]: TypeId,
  pipe() {
    return pipeArguments(this, arguments)
  }
}

const internal = (agent: Agent): Internal => agent as Internal

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
 * Builds an agent. It lives as long as the enclosing scope: closing it ends subscriptions and stops a running
 * prompt.
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
    const model: LanguageModel.Service = options.engine === undefined
      ? yield* LanguageModel.LanguageModel
      : typeof options.engine === "string"
      ? yield* Scope.extend(EngineRegistry.get(options.engine), scope)
      : Context.get(
        yield* Layer.buildWithScope(options.engine as Layer.Layer<LanguageModel.LanguageModel>, scope),
        LanguageModel.LanguageModel
      )
    const tools = options.tools === undefined ? {} : options.tools.tools as Record<string, Tool.Any>
    const entries = new Map<string, ToolEntry>()
    if (options.tools !== undefined) {
      if (options.handlers === undefined) {
        const withHandler = yield* (options.tools as unknown as Effect.Effect<Toolkit.WithHandler<any>>)
        for (const tool of Object.values(tools)) {
          if (!Tool.isProviderDefined(tool)) entries.set(tool.name, toolkitEntry(tool, withHandler))
        }
      } else {
        const context = yield* Effect.context<never>()
        const handlers = options.handlers as Record<string, Handler<Tool.Any, never>>
        for (const tool of Object.values(tools)) {
          const handler = handlers[tool.name]
          if (handler !== undefined) entries.set(tool.name, handlerEntry(tool, handler, context))
        }
      }
    }
    const sessionId = options.sessionId ?? (yield* Effect.sync(() => globalThis.crypto.randomUUID()))
    const modelName = options.modelName ?? (typeof options.engine === "string" ? options.engine : undefined)
    const initial: State = {
      sessionId,
      systemPrompt: options.system ?? "",
      ...(modelName === undefined ? {} : { model: modelName }),
      tools: Object.keys(tools),
      messages: []
    }
    const pubsub = yield* PubSub.unbounded<AgentEvent.AgentEvent>(
      options.replay !== undefined && options.replay > 0 ? { replay: options.replay } : undefined
    )
    yield* Scope.addFinalizer(scope, PubSub.shutdown(pubsub))
    const store = options.persist === true
      ? Option.some(yield* KeyValueStore.KeyValueStore)
      : Option.none<KeyValueStore.KeyValueStore>()
    const self: Internal = Object.assign(Object.create(Proto), {
      tools: Object.keys(tools),
      state: yield* Ref.make(initial),
      model: yield* Ref.make(model),
      wire: Toolkit.make(...Object.values(tools).map(wireTool)),
      entries,
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
    if (Option.isSome(store)) yield* loadFrom(self, store.value, sessionId)
    return self as Agent
  })

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
    Stream.unwrapScoped(Effect.gen(function*() {
      const agent = internal(self)
      yield* Effect.uninterruptibleMask((restore) =>
        Effect.zipRight(restore(agent.lock.take(1)), Effect.addFinalizer(() => agent.lock.release(1)))
      )
      const signal = yield* Deferred.make<void>()
      yield* Effect.acquireRelease(
        Ref.set(agent.current, Option.some(signal)),
        () => Ref.set(agent.current, Option.none())
      )
      const mailbox = yield* Mailbox.make<AgentEvent.AgentEvent, AgentError | AiError.AiError>(agent.bufferSize)
      const run = new Run((yield* Ref.get(agent.state)).sessionId, yield* Effect.clock)
      const emit = (events: ReadonlyArray<AgentEvent.AgentEvent>): Effect.Effect<void> =>
        events.length === 0 ? Effect.void : Effect.zipRight(
          PubSub.publishAll(agent.pubsub, events),
          mailbox.offerAll(events)
        )
      const body = loop(agent, run, text, emit).pipe(Effect.onInterrupt(() => abortRun(agent, run)))
      const driver = Effect.gen(function*() {
        const fiber = yield* Effect.fork(body)
        yield* Effect.addFinalizer(() => Fiber.interrupt(fiber))
        const aborted = yield* Effect.raceFirst(
          Effect.as(Fiber.await(fiber), false),
          Effect.as(Deferred.await(signal), true)
        )
        if (aborted) {
          yield* Fiber.interrupt(fiber)
          yield* mailbox.offerAll(run.abortEvents)
          yield* mailbox.end
          return
        }
        const exit = yield* Fiber.await(fiber)
        yield* mailbox.done(Exit.asVoid(exit))
      }).pipe(Effect.scoped)
      yield* Effect.forkScoped(driver)
      return Mailbox.toStream(mailbox)
    }))
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
} = dual(2, (self: Agent, state: State): Effect.Effect<void, AgentError> =>
  Effect.flatMap(
    Effect.mapError(
      Schema.validate(State, { errors: "all" })(state),
      (error) => invalidState(state.sessionId, error)
    ),
    (valid) => withLock(self, setState(internal(self), valid))
  ))

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
 * Replaces the model for the next model calls, and its name in the state.
 *
 * @example
 * ```ts
 * import { LanguageModel } from "@effect/ai"
 * import { Effect } from "effect"
 * import * as Agent from "sluice/Agent"
 * import * as DryRun from "sluice/engines/DryRun"
 *
 * declare const agent: Agent.Agent
 * const program = Effect.flatMap(DryRun.make(), (model) => Agent.setModel(agent, model, "dry-run"))
 * ```
 *
 * @since 0.1.0
 * @category state
 */
export const setModel = (self: Agent, model: LanguageModel.Service, name?: string | undefined): Effect.Effect<void> =>
  Effect.zipRight(
    Ref.set(internal(self).model, model),
    Ref.update(internal(self).state, (state) => {
      const { model: _, ...rest } = state
      return name === undefined ? rest : { ...rest, model: name }
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
  Effect.flatMap(KeyValueStore.KeyValueStore, (store) => saveTo(internal(self), store))

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
    Effect.flatMap(KeyValueStore.KeyValueStore, (store) => withLock(self, loadFrom(internal(self), store, sessionId)))
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
): Stream.Stream<Node.Emission<string>, AgentError | AiError.AiError> =>
  Stream.suspend(() => {
    const mapper = new EventMapper(context, false)
    return Stream.mapChunksEffect(prompt(self, input), (chunk) => {
      const out: Array<Node.Emission<string>> = []
      for (const event of chunk) {
        if (event._tag === "AgentEnd") {
          if (event.reason === "aborted") {
            return Effect.fail(new AgentError({ session: event.sessionId, reason: "Aborted" }))
          }
          if (event.reason !== "error") out.push(Node.output(event.text, event.usage))
        } else {
          mapper.map(event, out as Array<Event.Event>)
        }
      }
      return Effect.succeed(Chunk.unsafeFromArray(out))
    })
  })

// =============================================================================
// internal: tools
// =============================================================================

/**
 * The tool as offered to the model: same name, description and JSON Schema, but parameters that decode anything,
 * so that `@effect/ai` passes invalid parameters through and the agent can answer them with an error result.
 * The `arbitrary` annotation keeps engines that generate parameters from the schema (the dry-run engine) working.
 */
const wireTool = (tool: Tool.Any): Tool.Any => {
  if (Tool.isProviderDefined(tool)) return tool
  const params = tool.parametersSchema as unknown as Schema.Schema<unknown, unknown>
  const encode = Schema.encodeSync(params)
  const lenient = Schema.Unknown.annotations({
    jsonSchema: Tool.getJsonSchemaFromSchemaAst(params.ast),
    arbitrary: () => () => Arbitrary.make(params).map((value) => encode(value))
  })
  return (tool as unknown as Tool.Tool<string, any>).setParameters(lenient as any) as unknown as Tool.Any
}

const handlerEntry = (
  tool: Tool.Any,
  handler: Handler<Tool.Any, never>,
  context: Context.Context<never>
): ToolEntry => {
  const decode = Schema.decodeUnknown(tool.parametersSchema as unknown as Schema.Schema<unknown, unknown>, {
    errors: "all"
  })
  const encodeSuccess = Schema.encodeUnknown(tool.successSchema as Schema.Schema<unknown, unknown>)
  const failure = failureEncoder(tool)
  return {
    tool,
    execute: (params, toolContext) =>
      Effect.matchEffect(decode(params), {
        onFailure: (error) =>
          Effect.succeed(errorOutcome(
            `invalid parameters for tool "${tool.name}": ${ParseResult.TreeFormatter.formatErrorSync(error)}`
          )),
        onSuccess: (decoded) =>
          handler(decoded as never, toolContext).pipe(
            Effect.provide(context),
            Effect.matchCauseEffect({
              onSuccess: (value) =>
                Effect.match(encodeSuccess(value), {
                  onFailure: (error) =>
                    errorOutcome(
                      `tool "${tool.name}" returned a value that does not match its success schema: ${
                        ParseResult.TreeFormatter.formatErrorSync(error)
                      }`
                    ),
                  onSuccess: (result): Outcome => ({ result, isError: false })
                }),
              onFailure: (cause) => {
                if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
                const error = Cause.failureOption(cause)
                return Option.isSome(error) ? failure(error.value) : Effect.succeed(defectOutcome(tool.name, cause))
              }
            })
          )
      })
  }
}

const toolkitEntry = (tool: Tool.Any, toolkit: Toolkit.WithHandler<any>): ToolEntry => {
  const failure = failureEncoder(tool)
  return {
    tool,
    execute: (params) =>
      toolkit.handle(tool.name, params as never).pipe(
        Effect.matchCauseEffect({
          onSuccess: ({ encodedResult, isFailure }) =>
            Effect.succeed<Outcome>({ result: encodedResult, isError: isFailure }),
          onFailure: (cause) => {
            if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
            const error = Cause.failureOption(cause)
            return Option.isSome(error) ? failure(error.value) : Effect.succeed(defectOutcome(tool.name, cause))
          }
        })
      ) as Effect.Effect<Outcome>
  }
}

/** Turns a handler's failure into an error result: encoded with the tool's failure schema when it matches. */
const failureEncoder = (tool: Tool.Any): (error: unknown) => Effect.Effect<Outcome> => {
  const schema = tool.failureSchema as Schema.Schema<unknown, unknown>
  if (schema.ast._tag === "NeverKeyword") return (error) => Effect.succeed(failureOutcome(tool.name, error))
  const is = Schema.is(schema)
  const encode = Schema.encodeUnknown(schema)
  return (error) =>
    is(error)
      ? Effect.match(encode(error), {
        onFailure: () => failureOutcome(tool.name, error),
        onSuccess: (result): Outcome => ({ result, isError: true })
      })
      : Effect.succeed(failureOutcome(tool.name, error))
}

const errorOutcome = (text: string): Outcome => ({ result: `Error: ${text}`, isError: true })

const failureOutcome = (name: string, error: unknown): Outcome =>
  errorOutcome(
    AiError.isAiError(error) && error._tag === "MalformedOutput" && error.description !== undefined
      ? error.description
      : `tool "${name}" failed: ${describe(error)}`
  )

const defectOutcome = (name: string, cause: Cause.Cause<unknown>): Outcome =>
  errorOutcome(`tool "${name}" crashed: ${describe(Cause.squash(cause))}`)

const describe = (error: unknown): string => {
  const message = Node.errorMessage(error)
  const tag = Node.errorTag(error)
  return tag === "Error" || message.startsWith(tag) ? message : `${tag}: ${message}`
}

// =============================================================================
// internal: the loop
// =============================================================================

/** The progress of one prompt, read by the abort handler. */
class Run {
  turn = 0
  partial: TurnBuilder | undefined = undefined
  message: AgentEvent.AssistantMessage | undefined = undefined
  pending: PendingTools | undefined = undefined
  turnOpen = false
  lastText = ""
  usage: Event.Usage | undefined = undefined
  ended = false
  abortEvents: Array<AgentEvent.AgentEvent> = []
  constructor(readonly sessionId: string, readonly clock: Clock.Clock) {}
  now(): number {
    return this.clock.unsafeCurrentTimeMillis()
  }
}

interface PendingTools {
  readonly calls: ReadonlyArray<typeof AgentEvent.ToolCallContent.Type>
  readonly results: Array<AgentEvent.ToolResultMessage | undefined>
  readonly started: Array<number | undefined>
}

type Emit = (events: ReadonlyArray<AgentEvent.AgentEvent>) => Effect.Effect<void>

const loop = (
  agent: Internal,
  run: Run,
  text: string,
  emit: Emit
): Effect.Effect<void, AgentError | AiError.AiError> =>
  Effect.gen(function*() {
    const sessionId = run.sessionId
    const user: AgentEvent.UserMessage = { _tag: "UserMessage", text, timestamp: run.now() }
    yield* append(agent, [user])
    yield* emit([
      { _tag: "AgentStart", sessionId, timestamp: user.timestamp },
      { _tag: "MessageStart", sessionId, timestamp: user.timestamp, message: user },
      { _tag: "MessageEnd", sessionId, timestamp: user.timestamp, message: user }
    ])
    while (true) {
      run.turn++
      run.turnOpen = true
      yield* emit([{ _tag: "TurnStart", sessionId, timestamp: run.now(), turn: run.turn }])
      const message = yield* modelTurn(agent, run, emit)
      const calls = AgentEvent.toolCallsOf(message)
      const toolResults = calls.length === 0 ? [] : yield* executeTools(agent, run, calls, emit)
      run.turnOpen = false
      run.message = undefined
      yield* emit([{ _tag: "TurnEnd", sessionId, timestamp: run.now(), turn: run.turn, message, toolResults }])
      yield* autoSave(agent)
      if (calls.length === 0) return yield* finish(run, emit, "stop")
      if (agent.stopWhen !== undefined) {
        const { messages } = yield* Ref.get(agent.state)
        const verdict = agent.stopWhen({ turn: run.turn, message, toolResults, messages })
        if (Effect.isEffect(verdict) ? yield* verdict : verdict) return yield* finish(run, emit, "stopCondition")
      }
      if (run.turn >= agent.maxTurns) {
        if (agent.onMaxTurns === "stop") return yield* finish(run, emit, "maxTurns")
        return yield* new AgentError({
          session: sessionId,
          reason: "MaxTurnsExceeded",
          description: `the model still asked for tools after ${agent.maxTurns} turns`
        })
      }
    }
  }).pipe(
    Effect.tapErrorCause((cause) => {
      if (Cause.isInterruptedOnly(cause) || run.ended) return Effect.void
      run.ended = true
      const error = Cause.squash(cause)
      const end: AgentEvent.AgentEvent = {
        _tag: "AgentEnd",
        sessionId: run.sessionId,
        timestamp: run.now(),
        reason: "error",
        text: run.lastText,
        turns: run.turn,
        ...(run.usage === undefined ? {} : { usage: run.usage }),
        error: { tag: Node.errorTag(error), message: Node.errorMessage(error), retryable: Retry.isRetryable(error) }
      }
      return Effect.zipRight(emit([end]), Effect.ignore(autoSave(agent)))
    })
  )

const finish = (run: Run, emit: Emit, reason: AgentEvent.EndReason): Effect.Effect<void> => {
  run.ended = true
  return emit([{
    _tag: "AgentEnd",
    sessionId: run.sessionId,
    timestamp: run.now(),
    reason,
    text: run.lastText,
    turns: run.turn,
    ...(run.usage === undefined ? {} : { usage: run.usage })
  }])
}

const modelTurn = (
  agent: Internal,
  run: Run,
  emit: Emit
): Effect.Effect<AgentEvent.AssistantMessage, AiError.AiError | AgentError> =>
  Effect.gen(function*() {
    const builder = new TurnBuilder(run.sessionId, run.turn, agent.entries)
    run.partial = builder
    const started: AgentEvent.AssistantMessage = {
      _tag: "AssistantMessage",
      content: [],
      stopReason: "stop",
      timestamp: run.now()
    }
    yield* emit([{ _tag: "MessageStart", sessionId: run.sessionId, timestamp: started.timestamp, message: started }])
    const current = yield* Ref.get(agent.state)
    const model = yield* Ref.get(agent.model)
    let anyPart = false
    const call = () =>
      Stream.mapChunks(
        model.streamText({
          prompt: toPrompt(current),
          toolkit: agent.wire as Toolkit.Toolkit<{}>,
          disableToolCallResolution: true
        }) as Stream.Stream<unknown, AiError.AiError>,
        (chunk) => {
          if (chunk.length > 0) anyPart = true
          return chunk
        }
      )
    const parts = agent.retry === 0 ? call() : Retry.stream(call, {
      schedule: EngineError.retrySchedule({ times: agent.retry }),
      while: (error) => !anyPart && Retry.isRetryable(error)
    }, ({ attempt, delayMs, error }) =>
      Stream.drain(Stream.fromEffect(emit([{
        _tag: "Retry",
        sessionId: run.sessionId,
        timestamp: run.now(),
        turn: run.turn,
        attempt,
        error: Node.errorTag(error),
        message: Node.errorMessage(error),
        delayMs
      }]))))
    const streamed = yield* Stream.runForEachChunk(parts, (chunk) => {
      const out: Array<AgentEvent.AgentEvent> = []
      builder.feed(chunk as Iterable<RawPart>, run.now(), out)
      return emit(out)
    }).pipe(
      Effect.catchAll((error) => {
        const raw = unknownToolParts(error, agent.entries)
        if (raw === undefined) return Effect.fail(error)
        const out: Array<AgentEvent.AgentEvent> = []
        builder.feed(raw, run.now(), out)
        builder.finishReason ??= "tool-calls"
        return emit(out)
      }),
      Effect.either
    )
    run.partial = undefined
    const failed = streamed._tag === "Left" ? streamed.left : undefined
    const message = builder.message(
      failed === undefined ? stopReason(builder.finishReason) : "error",
      run.now(),
      failed === undefined ? undefined : Node.errorMessage(failed)
    )
    run.message = message
    run.lastText = AgentEvent.textOf(message)
    run.usage = Event.addUsage(run.usage, message.usage)
    yield* append(agent, [message])
    yield* emit([{ _tag: "MessageEnd", sessionId: run.sessionId, timestamp: run.now(), message }])
    if (failed !== undefined) return yield* Effect.fail(failed)
    return message
  })

const executeTools = (
  agent: Internal,
  run: Run,
  calls: ReadonlyArray<typeof AgentEvent.ToolCallContent.Type>,
  emit: Emit
): Effect.Effect<ReadonlyArray<AgentEvent.ToolResultMessage>> =>
  Effect.gen(function*() {
    const sessionId = run.sessionId
    const turn = run.turn
    const pending: PendingTools = { calls, results: calls.map(() => undefined), started: calls.map(() => undefined) }
    run.pending = pending
    yield* Effect.forEach(calls, (call, i) =>
      Effect.gen(function*() {
        const start = run.now()
        pending.started[i] = start
        yield* emit([{
          _tag: "ToolExecutionStart",
          sessionId,
          timestamp: start,
          turn,
          toolCallId: call.id,
          toolName: call.name,
          params: call.params
        }])
        const entry = agent.entries.get(call.name)
        const outcome = entry === undefined
          ? errorOutcome(
            `unknown tool "${call.name}"; the available tools are: ${[...agent.entries.keys()].join(", ")}`
          )
          : yield* entry.execute(call.params, {
            toolCallId: call.id,
            toolName: call.name,
            update: (progress) =>
              emit([{
                _tag: "ToolExecutionUpdate",
                sessionId,
                timestamp: run.now(),
                turn,
                toolCallId: call.id,
                toolName: call.name,
                progress
              }])
          })
        const end = run.now()
        pending.results[i] = {
          _tag: "ToolResultMessage",
          toolCallId: call.id,
          toolName: call.name,
          result: outcome.result,
          isError: outcome.isError,
          timestamp: end
        }
        yield* emit([{
          _tag: "ToolExecutionEnd",
          sessionId,
          timestamp: end,
          turn,
          toolCallId: call.id,
          toolName: call.name,
          result: outcome.result,
          isError: outcome.isError,
          durationMs: end - start
        }])
      }), { concurrency: agent.toolConcurrency, discard: true })
    const results = pending.results as ReadonlyArray<AgentEvent.ToolResultMessage>
    run.pending = undefined
    yield* append(agent, results)
    yield* emit(results.flatMap((message): Array<AgentEvent.AgentEvent> => [
      { _tag: "MessageStart", sessionId, timestamp: message.timestamp, message },
      { _tag: "MessageEnd", sessionId, timestamp: message.timestamp, message }
    ]))
    return results
  })

/**
 * Runs when a prompt is interrupted: records what the turn had produced (the partial assistant message as aborted,
 * error results for the tool calls that did not finish), publishes the closing events to subscribers and keeps
 * them for the prompt's own stream (see `prompt`).
 */
const abortRun = (agent: Internal, run: Run): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (run.ended) return Effect.void
    run.ended = true
    const sessionId = run.sessionId
    const now = run.now()
    const events: Array<AgentEvent.AgentEvent> = []
    const messages: Array<AgentEvent.Message> = []
    let toolResults: Array<AgentEvent.ToolResultMessage> = []
    if (run.partial !== undefined) {
      const message = run.partial.message("aborted", now, undefined)
      run.partial = undefined
      run.message = message
      run.lastText = AgentEvent.textOf(message)
      run.usage = Event.addUsage(run.usage, message.usage)
      messages.push(message)
      events.push({ _tag: "MessageEnd", sessionId, timestamp: now, message })
    } else if (run.pending !== undefined) {
      const pending = run.pending
      run.pending = undefined
      toolResults = pending.calls.map((call, i) => {
        const done = pending.results[i]
        if (done !== undefined) return done
        const result = "Error: the tool call was aborted"
        const started = pending.started[i]
        if (started !== undefined) {
          events.push({
            _tag: "ToolExecutionEnd",
            sessionId,
            timestamp: now,
            turn: run.turn,
            toolCallId: call.id,
            toolName: call.name,
            result,
            isError: true,
            durationMs: now - started
          })
        }
        return {
          _tag: "ToolResultMessage",
          toolCallId: call.id,
          toolName: call.name,
          result,
          isError: true,
          timestamp: now
        }
      })
      messages.push(...toolResults)
      for (const message of toolResults) {
        events.push({ _tag: "MessageStart", sessionId, timestamp: now, message })
        events.push({ _tag: "MessageEnd", sessionId, timestamp: now, message })
      }
    }
    if (run.turnOpen && run.message !== undefined) {
      events.push({ _tag: "TurnEnd", sessionId, timestamp: now, turn: run.turn, message: run.message, toolResults })
    }
    events.push({
      _tag: "AgentEnd",
      sessionId,
      timestamp: now,
      reason: "aborted",
      text: run.lastText,
      turns: run.turn,
      ...(run.usage === undefined ? {} : { usage: run.usage })
    })
    run.abortEvents = events
    return append(agent, messages).pipe(
      Effect.zipRight(PubSub.publishAll(agent.pubsub, events)),
      Effect.zipRight(Effect.ignore(autoSave(agent)))
    )
  })

const append = (agent: Internal, messages: ReadonlyArray<AgentEvent.Message>): Effect.Effect<void> =>
  messages.length === 0
    ? Effect.void
    : Ref.update(agent.state, (state) => ({ ...state, messages: [...state.messages, ...messages] }))

const stopReason = (reason: string | undefined): AgentEvent.StopReason => {
  switch (reason) {
    case "stop":
    case undefined:
      return "stop"
    case "tool-calls":
      return "toolCalls"
    case "length":
      return "length"
    case "content-filter":
      return "contentFilter"
    case "error":
      return "error"
    default:
      return "other"
  }
}

/**
 * The raw parts of a reply that `@effect/ai` could not decode because it calls a tool the agent does not have:
 * the decoding `ParseError` holds the chunk of encoded parts, which the agent reads itself so that the unknown
 * call gets an error result instead of failing the prompt.
 */
const unknownToolParts = (
  error: unknown,
  entries: ReadonlyMap<string, ToolEntry>
): ReadonlyArray<RawPart> | undefined => {
  if (!AiError.isAiError(error) || error._tag !== "MalformedOutput" || !ParseResult.isParseError(error.cause)) {
    return undefined
  }
  const actual = error.cause.issue.actual
  const parts = Chunk.isChunk(actual) ? Chunk.toReadonlyArray(actual) : Array.isArray(actual) ? actual : undefined
  if (parts === undefined) return undefined
  const unknownCall = parts.some((part) =>
    Predicate.isRecord(part) && part.type === "tool-call" && typeof part.name === "string" && !entries.has(part.name)
  )
  return unknownCall ? parts as ReadonlyArray<RawPart> : undefined
}

// =============================================================================
// internal: assistant messages
// =============================================================================

/** The fields of `@effect/ai` stream parts (decoded or encoded) the agent reads. */
interface RawPart {
  readonly type: string
  readonly id?: string
  readonly delta?: string
  readonly text?: string
  readonly name?: string
  readonly params?: unknown
  readonly providerExecuted?: boolean
  readonly reason?: string
  readonly usage?: {
    readonly inputTokens?: number | undefined
    readonly outputTokens?: number | undefined
    readonly totalTokens?: number | undefined
  }
  readonly error?: unknown
  readonly modelId?: string | Option.Option<unknown>
}

type Block =
  | { readonly _tag: "Text" | "Thinking"; readonly pieces: Array<string> }
  | { readonly _tag: "ToolCall"; readonly id: string; readonly name: string; readonly params: unknown }

/** Accumulates one assistant message from stream parts, writing `MessageUpdate` events. Plain synchronous code. */
class TurnBuilder {
  private readonly blocks: Array<Block> = []
  private readonly open = new Map<string, Block & { readonly pieces: Array<string> }>()
  private readonly toolNames = new Map<string, string>()
  private readonly providerCalls = new Set<string>()
  finishReason: string | undefined = undefined
  private usage: Event.Usage | undefined = undefined
  private model: string | undefined = undefined
  private errors: Array<string> = []

  constructor(
    readonly sessionId: string,
    readonly turn: number,
    readonly entries: ReadonlyMap<string, ToolEntry>
  ) {}

  feed(parts: Iterable<RawPart>, timestamp: number, out: Array<AgentEvent.AgentEvent>): void {
    for (const part of parts) {
      switch (part.type) {
        case "text-delta":
        case "reasoning-delta": {
          const text = part.delta ?? ""
          if (text.length === 0) break
          const tag = part.type === "text-delta" ? "Text" : "Thinking"
          this.piece(tag, `${tag}:${part.id ?? ""}`, text)
          this.update(timestamp, out, tag === "Text" ? { _tag: "TextDelta", text } : { _tag: "ThinkingDelta", text })
          break
        }
        case "text-end":
        case "reasoning-end": {
          this.open.delete(`${part.type === "text-end" ? "Text" : "Thinking"}:${part.id ?? ""}`)
          break
        }
        case "text":
        case "reasoning": {
          const text = part.text ?? ""
          if (text.length === 0) break
          const tag = part.type === "text" ? "Text" : "Thinking"
          this.blocks.push({ _tag: tag, pieces: [text] })
          this.update(timestamp, out, tag === "Text" ? { _tag: "TextDelta", text } : { _tag: "ThinkingDelta", text })
          break
        }
        case "tool-params-start": {
          const id = part.id ?? ""
          const name = part.name ?? ""
          this.toolNames.set(id, name)
          this.update(timestamp, out, { _tag: "ToolCallStart", id, name })
          break
        }
        case "tool-params-delta": {
          const id = part.id ?? ""
          const delta = part.delta ?? ""
          if (delta.length > 0) {
            this.update(timestamp, out, { _tag: "ToolCallDelta", id, name: this.toolNames.get(id) ?? "", delta })
          }
          break
        }
        case "tool-call": {
          const id = part.id ?? ""
          const name = part.name ?? ""
          if (part.providerExecuted === true) this.providerCalls.add(id)
          this.blocks.push({ _tag: "ToolCall", id, name, params: part.params })
          this.update(timestamp, out, { _tag: "ToolCallEnd", id, name, params: part.params })
          break
        }
        case "finish": {
          this.finishReason = part.reason
          if (part.usage !== undefined) this.usage = Event.toUsage(part.usage)
          break
        }
        case "response-metadata": {
          const modelId = part.modelId
          if (typeof modelId === "string") this.model = modelId
          else if (Option.isOption(modelId) && Option.isSome(modelId)) this.model = String(modelId.value)
          break
        }
        case "error": {
          this.errors.push(Node.errorMessage(part.error))
          break
        }
      }
    }
  }

  message(
    stopReason: AgentEvent.StopReason,
    timestamp: number,
    errorMessage: string | undefined
  ): AgentEvent.AssistantMessage {
    const content: Array<AgentEvent.AssistantContent> = []
    for (const block of this.blocks) {
      if (block._tag === "ToolCall") {
        if (!this.providerCalls.has(block.id)) content.push(block)
      } else {
        content.push({ _tag: block._tag, text: block.pieces.join("") })
      }
    }
    const errors = errorMessage === undefined ? this.errors : [...this.errors, errorMessage]
    return {
      _tag: "AssistantMessage",
      content,
      stopReason,
      ...(this.usage === undefined ? {} : { usage: this.usage }),
      ...(this.model === undefined ? {} : { model: this.model }),
      ...(errors.length === 0 ? {} : { errorMessage: errors.join("; ") }),
      timestamp
    }
  }

  private piece(tag: "Text" | "Thinking", key: string, text: string): void {
    let block = this.open.get(key)
    if (block === undefined) {
      block = { _tag: tag, pieces: [] }
      this.open.set(key, block)
      this.blocks.push(block)
    }
    block.pieces.push(text)
  }

  private update(timestamp: number, out: Array<AgentEvent.AgentEvent>, delta: AgentEvent.Delta): void {
    out.push({ _tag: "MessageUpdate", sessionId: this.sessionId, timestamp, turn: this.turn, delta })
  }
}

/**
 * The prompt for the next model call. Tool calls without a result (those of an aborted message) are left out, and
 * so are results without their call, so that providers always see matched pairs.
 */
const toPrompt = (state: State): Prompt.Prompt => {
  const answered = new Set<string>()
  for (const message of state.messages) if (message._tag === "ToolResultMessage") answered.add(message.toolCallId)
  const called = new Set<string>()
  const out: Array<Prompt.Message> = []
  if (state.systemPrompt.length > 0) out.push(Prompt.makeMessage("system", { content: state.systemPrompt }))
  let results: Array<Prompt.ToolResultPart> = []
  const flush = () => {
    if (results.length > 0) out.push(Prompt.makeMessage("tool", { content: results }))
    results = []
  }
  for (const message of state.messages) {
    if (message._tag !== "ToolResultMessage") flush()
    switch (message._tag) {
      case "UserMessage": {
        out.push(Prompt.makeMessage("user", { content: [Prompt.makePart("text", { text: message.text })] }))
        break
      }
      case "AssistantMessage": {
        const parts: Array<Prompt.AssistantMessagePart> = []
        for (const content of message.content) {
          if (content._tag === "Text") {
            if (content.text.length > 0) parts.push(Prompt.makePart("text", { text: content.text }))
          } else if (content._tag === "Thinking") {
            if (content.text.length > 0) parts.push(Prompt.makePart("reasoning", { text: content.text }))
          } else if (answered.has(content.id)) {
            called.add(content.id)
            parts.push(Prompt.makePart("tool-call", {
              id: content.id,
              name: content.name,
              params: content.params,
              providerExecuted: false
            }))
          }
        }
        if (parts.length > 0) out.push(Prompt.makeMessage("assistant", { content: parts }))
        break
      }
      case "ToolResultMessage": {
        if (called.has(message.toolCallId)) {
          results.push(Prompt.makePart("tool-result", {
            id: message.toolCallId,
            name: message.toolName,
            result: message.result,
            isFailure: message.isError,
            providerExecuted: false
          }))
        }
        break
      }
    }
  }
  flush()
  return Prompt.fromMessages(out)
}

// =============================================================================
// internal: state and persistence
// =============================================================================

const withLock = <A, E, R>(self: Agent, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  internal(self).lock.withPermits(1)(effect)

const setState = (agent: Internal, state: State): Effect.Effect<void> =>
  Ref.update(agent.state, (current) => {
    const { model: _, ...rest } = current
    return {
      ...rest,
      ...(state.model === undefined ? {} : { model: state.model }),
      sessionId: state.sessionId,
      systemPrompt: state.systemPrompt,
      messages: state.messages
    }
  })

const invalidState = (session: string, error: ParseResult.ParseError): AgentError =>
  new AgentError({
    session,
    reason: "InvalidState",
    description: ParseResult.TreeFormatter.formatErrorSync(error),
    cause: error
  })

const persistence = (session: string, cause: unknown): AgentError =>
  new AgentError({ session, reason: "Persistence", description: Node.errorMessage(cause), cause })

const encodeState = Schema.encode(StateFromJson)
const decodeState = Schema.decode(StateFromJson, { errors: "all" })

const saveTo = (agent: Internal, store: KeyValueStore.KeyValueStore): Effect.Effect<void, AgentError> =>
  Effect.flatMap(Ref.get(agent.state), (state) =>
    encodeState(state).pipe(
      Effect.mapError((error) => invalidState(state.sessionId, error)),
      Effect.flatMap((json) =>
        Effect.mapError(
          store.set(agent.storeKey + state.sessionId, json),
          (error) => persistence(state.sessionId, error)
        )
      )
    ))

const loadFrom = (
  agent: Internal,
  store: KeyValueStore.KeyValueStore,
  sessionId: string
): Effect.Effect<boolean, AgentError> =>
  Effect.flatMap(
    Effect.mapError(store.get(agent.storeKey + sessionId), (error) => persistence(sessionId, error)),
    Option.match({
      onNone: () => Effect.succeed(false),
      onSome: (json) =>
        decodeState(json).pipe(
          Effect.mapError((error) => invalidState(sessionId, error)),
          Effect.flatMap((state) => setState(agent, state)),
          Effect.as(true)
        )
    })
  )

const autoSave = (agent: Internal): Effect.Effect<void, AgentError> =>
  Option.match(agent.store, { onNone: () => Effect.void, onSome: (store) => saveTo(agent, store) })

// =============================================================================
// internal: shared events
// =============================================================================

/** Maps agent events onto the shared vocabulary; keeps the turn, tool paths, start times and argument parsers. */
class EventMapper {
  private turnPath: ReadonlyArray<string>
  private readonly starts = new Map<string, number>()
  private readonly toolPaths = new Map<string, ReadonlyArray<string>>()
  private readonly parsers = new Map<string, PartialJson.Parser>()

  constructor(readonly context: Node.Context, readonly ends: boolean) {
    this.turnPath = context.path
  }

  map(event: AgentEvent.AgentEvent, out: Array<Event.Event>): void {
    const runId = this.context.runId
    const timestamp = event.timestamp
    switch (event._tag) {
      case "AgentStart": {
        this.starts.set("", timestamp)
        if (this.ends) out.push({ _tag: "StepStart", runId, path: this.context.path, timestamp })
        break
      }
      case "AgentEnd": {
        if (!this.ends) break
        const path = this.context.path
        if (event.reason === "error" || event.reason === "aborted") {
          out.push({
            _tag: "StepError",
            runId,
            path,
            timestamp,
            error: event.error?.tag ?? "Aborted",
            message: event.error?.message ?? "the prompt was aborted",
            retryable: event.error?.retryable ?? false
          })
        } else {
          out.push({
            _tag: "StepEnd",
            runId,
            path,
            timestamp,
            durationMs: timestamp - (this.starts.get("") ?? timestamp),
            output: event.text,
            ...(event.usage === undefined ? {} : { usage: event.usage })
          })
        }
        break
      }
      case "TurnStart": {
        this.turnPath = [...this.context.path, `turn-${event.turn}`]
        this.starts.set("turn", timestamp)
        out.push({ _tag: "StepStart", runId, path: this.turnPath, timestamp })
        break
      }
      case "TurnEnd": {
        out.push({
          _tag: "StepEnd",
          runId,
          path: this.turnPath,
          timestamp,
          durationMs: timestamp - (this.starts.get("turn") ?? timestamp),
          output: AgentEvent.textOf(event.message),
          ...(event.message.usage === undefined ? {} : { usage: event.message.usage })
        })
        this.parsers.clear()
        this.toolPaths.clear()
        break
      }
      case "MessageUpdate": {
        const path = this.turnPath
        const delta = event.delta
        switch (delta._tag) {
          case "TextDelta": {
            out.push({ _tag: "Token", runId, path, timestamp, text: delta.text })
            break
          }
          case "ThinkingDelta": {
            out.push({ _tag: "Reasoning", runId, path, timestamp, text: delta.text })
            break
          }
          case "ToolCallDelta": {
            let parser = this.parsers.get(delta.id)
            if (parser === undefined) {
              parser = PartialJson.make()
              this.parsers.set(delta.id, parser)
            }
            parser.feed(delta.delta)
            out.push({
              _tag: "ToolArgProgress",
              runId,
              path,
              timestamp,
              id: delta.id,
              name: delta.name,
              delta: delta.delta,
              params: parser.snapshot() ?? null
            })
            break
          }
          case "ToolCallEnd": {
            out.push({ _tag: "ToolCall", runId, path, timestamp, id: delta.id, name: delta.name, params: delta.params })
            break
          }
        }
        break
      }
      case "ToolExecutionStart": {
        const path = [...this.turnPath, `${event.toolName}:${event.toolCallId}`]
        this.toolPaths.set(event.toolCallId, path)
        out.push({ _tag: "StepStart", runId, path, timestamp })
        break
      }
      case "ToolExecutionUpdate": {
        const path = this.toolPaths.get(event.toolCallId) ??
          [...this.turnPath, `${event.toolName}:${event.toolCallId}`]
        out.push({ _tag: "PartialFields", runId, path, timestamp, value: event.progress, complete: [] })
        break
      }
      case "ToolExecutionEnd": {
        const path = this.toolPaths.get(event.toolCallId) ??
          [...this.turnPath, `${event.toolName}:${event.toolCallId}`]
        out.push({
          _tag: "ToolResult",
          runId,
          path: this.turnPath,
          timestamp,
          id: event.toolCallId,
          name: event.toolName,
          result: event.result,
          isFailure: event.isError
        })
        out.push({ _tag: "StepEnd", runId, path, timestamp, durationMs: event.durationMs, output: event.result })
        break
      }
      case "Retry": {
        out.push({
          _tag: "Retry",
          runId,
          path: this.turnPath,
          timestamp,
          attempt: event.attempt,
          error: event.error,
          message: event.message,
          delayMs: event.delayMs
        })
        break
      }
      case "MessageStart":
      case "MessageEnd":
        break
    }
  }
}
