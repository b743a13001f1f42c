/**
 * Any sluice runnable over HTTP, on `@effect/platform`'s `HttpRouter` and `HttpServer`.
 *
 * Mount runnables as {@link Route}s ({@link node}, {@link llm}, {@link graph}, {@link pipeline}, {@link chain},
 * {@link agent}) and serve them with {@link layer} over any `HttpServer` (e.g. `NodeHttpServer.layer`):
 *
 * - `POST /runs/<name>`: the JSON body is decoded with the runnable's input schema (400 with every schema issue
 *   when it does not match), then the run streams its `Event`s as Server-Sent Events (one `data:` block per event,
 *   encoded with `Event.encodeJson`, `id:` counting from 1), and ends with an `event: result` block
 *   (`{ runId, output }`) or an `event: error` block (`{ runId, error: { _tag, message, retryable, …fields } }`,
 *   the typed error's own fields). The `x-sluice-run-id` header carries the run id. A client that disconnects
 *   interrupts the run: its finalizers run.
 * - `POST /v1/chat/completions` and `GET /v1/models`: agents and LLM nodes as OpenAI-compatible models (the
 *   `model` field names the route), streaming (`stream: true`, with `stream_options.include_usage`) or not, so the
 *   official `openai` client, any OpenAI-compatible SDK and sluice's own `OpenAiCompat` engine can use them.
 *   An agent gets a fresh conversation per request (from its `make` effect) holding the client's history; its own
 *   tools run on the server. `tools` the client sends are offered to the model too: a call to one ends the answer
 *   with `tool_calls` (`finish_reason: "tool_calls"`) for the client to run and send back as `tool` messages.
 *   `response_format` (`json_schema`, `json_object`) goes to the model's structured-output channel. Both reach the
 *   model when the agent uses the `LanguageModel` in context (an agent built with its own model ignores them). An
 *   LLM node answers the last user message.
 * - `GET /runs` lists the routes with their input JSON Schemas; `GET /health` answers `{ "status": "ok" }`.
 *
 * Errors are JSON bodies in OpenAI's shape, `{ "error": { message, type, code, param } }`: 400 bad input or
 * malformed JSON (`code: "invalid_json"`; schema failures add `issues: [{ path, message }]`), 401 a missing or
 * wrong bearer token, 404 an unknown route or model, 413 a body over `maxBodyBytes`, 429 a route at its
 * concurrency limit (with `retry-after`), 503 while shutting down. Once a stream has started, a failure is its last
 * block (`event: error` for runs, a `data: { "error": … }` chunk for chat completions).
 *
 * {@link Options}: the bearer token (a `Redacted`, by default read from `Config` as `SLUICE_SERVE_TOKEN`; no token,
 * no auth), the body limit (1 MiB), the per-route concurrency (64), CORS (off), and the shutdown grace: closing the
 * Layer refuses new requests (503), waits for the in-flight runs up to `shutdownTimeout` (30 s), then stops them.
 * Serve binds nothing itself: give the `HttpServer` its host; the CLI binds `127.0.0.1` unless told otherwise.
 *
 * @since 0.1.0
 */
import type * as AiError from "@effect/ai/AiError"
import type * as LanguageModel from "@effect/ai/LanguageModel"
import type * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Agent from "./Agent.js"
import type { AgentError } from "./AgentError.js"
import * as Chain from "./Chain.js"
import type { ChainError } from "./ChainError.js"
import type * as Event from "./Event.js"
import * as Graph from "./Graph.js"
import type { GraphError } from "./GraphError.js"
import * as App from "./internal/serve/app.js"
import * as Chat from "./internal/serve/chat.js"
import * as Http from "./internal/serve/http.js"
import * as internal from "./internal/serve/route.js"
import * as Node from "./Node.js"
import type * as Pipeline from "./Pipeline.js"

// =============================================================================
// models
// =============================================================================

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = internal.TypeId as any

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A runnable mounted under a name, requiring `R` to run.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as Node from "sluice/Node"
 * import * as Serve from "sluice/Serve"
 *
 * const route: Serve.Route = Serve.node(Node.fromFunction("upper", (s: string) => s.toUpperCase()), {
 *   input: Schema.String
 * })
 * console.log(route.name, route.kind) // "upper" "node"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Route<out R = never> {
  readonly [TypeId]: TypeId
  readonly name: string
  readonly kind: "node" | "llm" | "graph" | "pipeline" | "chain" | "agent"
  /** The most runs of this route at once (the server's default when undefined). */
  readonly concurrency: number | undefined
  /** @internal */
  readonly _R?: (_: never) => R
}

/**
 * Type helpers for routes.
 *
 * @since 0.1.0
 */
export declare namespace Route {
  /**
   * @since 0.1.0
   * @category utility types
   */
  export type Context<T> = T extends Route<infer R> ? R : never
}

/**
 * What every route constructor accepts: the route's name (by default the runnable's) and its concurrency limit.
 *
 * @example
 * ```ts
 * import type * as Serve from "sluice/Serve"
 *
 * const options: Serve.RouteOptions = { name: "summarise", concurrency: 8 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RouteOptions {
  readonly name?: string | undefined
  readonly concurrency?: number | undefined
}

/**
 * Options of the server:
 *
 * - `token`: the bearer token clients must send (`Authorization: Bearer <token>`): a `Redacted`, or a `Config`
 *   of an optional one; by default `SLUICE_SERVE_TOKEN` from `Config`, and no auth when it is not set;
 * - `maxBodyBytes` (default 1 MiB): larger bodies get 413;
 * - `concurrency` (default 64): runs at once per route (a route's own `concurrency` wins); past it, 429 with
 *   `retry-after: <retryAfterSeconds>` (default 1);
 * - `cors` (default `false`): `true` for permissive CORS, or `HttpMiddleware.cors` options;
 * - `shutdownTimeout` (default 30 seconds): how long closing the Layer waits for in-flight runs before stopping
 *   them.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import type * as Serve from "sluice/Serve"
 *
 * const options: Serve.Options = { token: Redacted.make("s3cret"), maxBodyBytes: 65_536, concurrency: 16 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly token?: Redacted.Redacted | Config.Config<Option.Option<Redacted.Redacted>> | undefined
  readonly maxBodyBytes?: number | undefined
  readonly concurrency?: number | undefined
  readonly retryAfterSeconds?: number | undefined
  readonly cors?: boolean | Parameters<typeof HttpMiddleware.cors>[0] | undefined
  readonly shutdownTimeout?: number | `${number} ${"millis" | "seconds"}` | undefined
}

// =============================================================================
// constructors
// =============================================================================

const makeRoute = <R>(fields: internal.RouteImpl<R>): Route<R> =>
  ({ [TypeId]: TypeId, ...fields }) as unknown as Route<R>

/** A route whose run streams the events of a runnable named `root` and answers with the root's output. */
const eventsRoute = <I, E, R>(
  kind: "node" | "llm" | "graph",
  root: string,
  options: RouteOptions | undefined,
  input: Schema.Schema<I, any>,
  events: (input: I, runId: string) => Stream.Stream<Event.Event, E, R>,
  chat: internal.RouteImpl<R>["chat"]
): Route<R> =>
  makeRoute({
    name: options?.name ?? root,
    kind,
    concurrency: options?.concurrency,
    input,
    run: (input: I, context) => rootOutput(events(input, context.runId), context, root),
    chat
  })

/** Runs the events through the route's context; the result is the output of the root step. */
const rootOutput = <E, R>(events: Stream.Stream<Event.Event, E, R>, context: internal.RunContext, root: string) =>
  Effect.suspend(() => {
    let output: unknown = undefined
    return Stream.runForEach(events, (event) => {
      if (event._tag === "StepEnd" && event.path.length === 1 && event.path[0] === root) output = event.output
      return context.emit(event)
    }).pipe(Effect.map(() => output))
  })

/**
 * Mounts a node. The body is decoded with `input`; the result is the node's output.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as Node from "sluice/Node"
 * import * as Serve from "sluice/Serve"
 *
 * const upper = Serve.node(Node.fromFunction("upper", (s: string) => s.toUpperCase()), { input: Schema.String })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const node = <I, O, E, R>(
  self: Node.Node<I, O, E, R>,
  options: RouteOptions & { readonly input: Schema.Schema<I, any> }
): Route<R> =>
  eventsRoute(
    "node",
    self.name,
    options,
    options.input,
    (input, runId) => Node.stream(self, input, { runId }),
    undefined
  )

/**
 * Mounts an LLM node (`Node<string, string>`, e.g. `Llm.text`): as a run (the body is the input text) and as an
 * OpenAI-compatible model that answers the last user message, streaming its tokens.
 *
 * @example
 * ```ts
 * import * as Llm from "sluice/Llm"
 * import * as Serve from "sluice/Serve"
 *
 * const summarise = Serve.llm(Llm.text({ name: "summarise", prompt: (text: string) => `Summarise: ${text}` }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const llm = <E, R>(self: Node.Node<string, string, E, R>, options?: RouteOptions | undefined): Route<R> =>
  eventsRoute(
    "llm",
    self.name,
    options,
    Schema.String,
    (input, runId) => Node.stream(self, input, { runId }),
    Chat.nodeChat(self)
  )

/**
 * Mounts a graph. The body is the initial state, decoded with `input`; the result is the final state.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as Graph from "sluice/Graph"
 * import * as Node from "sluice/Node"
 * import * as Serve from "sluice/Serve"
 *
 * const State = Schema.Struct({ text: Schema.String })
 * const upper = Node.fromFunction("upper", (s: string) => s.toUpperCase())
 * const shout = Graph.make<typeof State.Type>({ name: "shout" }).step("shout", Graph.node(upper, {
 *   input: (state: typeof State.Type) => state.text,
 *   output: (text) => ({ text })
 * }))
 * const route = Serve.graph(shout, { input: State })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const graph = <S, C, N extends string, T extends string, E, R>(
  self: Graph.Graph<S, C, N, T, E, R> & Graph.Graph.Valid<N, T>,
  options: RouteOptions & { readonly input: Schema.Schema<S, any> }
): Route<R> =>
  eventsRoute(
    "graph",
    self.name,
    options,
    options.input,
    (input, runId) => Graph.stream(self, input, { runId }) as Stream.Stream<Event.Event, E | GraphError, R>,
    undefined
  )

/**
 * Mounts a pipeline. The body is an array of inputs, each decoded with `input`; the run streams the pipeline's
 * events (`Pipeline.events`), and its result is the number of events.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import * as Pipeline from "sluice/Pipeline"
 * import * as Serve from "sluice/Serve"
 *
 * const doubled = Pipeline.start<number>().map("double", (n) => Effect.succeed(n * 2))
 * const route = Serve.pipeline(doubled, { name: "doubled", input: Schema.Number })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const pipeline = <I, O, E, R, Keys extends string, Acc, C>(
  self: Pipeline.Pipeline<I, O, E, R, Keys, Acc, C>,
  options: RouteOptions & { readonly name: string; readonly input: Schema.Schema<I, any> }
): Route<Exclude<R, Scope.Scope>> =>
  makeRoute({
    name: options.name,
    kind: "pipeline",
    concurrency: options.concurrency,
    input: Schema.Array(options.input),
    run: (inputs: ReadonlyArray<I>, context) =>
      Effect.suspend(() => {
        let count = 0
        return Stream.runForEach(
          self.events(inputs, { runId: context.runId }) as Stream.Stream<Event.Event, unknown, R>,
          (event) => {
            count++
            return context.emit(event)
          }
        ).pipe(Effect.as({ events: count }), Effect.scoped)
      }),
    chat: undefined
  }) as Route<Exclude<R, Scope.Scope>>

/**
 * Mounts a chain. The body is one record or an array of records; each item is checked by the chain's own input
 * schema (an invalid item fails alone). The result lists one entry per item, in input order: `index`, `status`,
 * `output` and `failure`.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as Chain from "sluice/Chain"
 * import * as Serve from "sluice/Serve"
 *
 * const chain = Chain.make({
 *   name: "tag",
 *   steps: [Chain.llm({ id: "tag", input: Schema.Struct({ text: Schema.String }), output: Schema.Struct({ tag: Schema.String }), prompt: "Tag: {{text}}" })]
 * })
 * const route = Serve.chain(chain, { concurrency: 4 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const chain = <I, O>(
  self: Chain.Chain<I, O>,
  options?: RouteOptions & { readonly run?: Chain.RunOptions | undefined } | undefined
): Route<LanguageModel.LanguageModel> =>
  makeRoute({
    name: options?.name ?? self.name,
    kind: "chain",
    concurrency: options?.concurrency,
    input: Schema.Union(Schema.Array(Schema.Object), Schema.Object),
    run: (body: object | ReadonlyArray<object>, context) => {
      const rows = Array.isArray(body) ? body : [body]
      const inputs = Stream.fromIterable(rows.map((data, index) => ({ id: String(index), index, data })))
      return Chain.execute(self, inputs, { ...options?.run, runId: context.runId, onEvent: context.emit }).pipe(
        Stream.runCollect,
        Effect.map((results) =>
          [...results].sort((a, b) => a.index - b.index).map((result) => ({
            index: result.index,
            status: result.status,
            output: result.output,
            failure: result.failure
          }))
        )
      ) as Effect.Effect<unknown, ChainError, LanguageModel.LanguageModel>
    },
    chat: undefined
  })

/**
 * Mounts an agent: `make` builds a fresh agent for every request (in the request's scope), so conversations never
 * mix. As a run, the body is the user message (a string, or `{ "prompt": string }`), the events are the agent's
 * mapped with `Agent.toEvents`, and the result is the final text. As an OpenAI-compatible model, see the module
 * documentation.
 *
 * @example
 * ```ts
 * import * as Agent from "sluice/Agent"
 * import * as Serve from "sluice/Serve"
 *
 * const assistant = Serve.agent("assistant", Agent.make({ system: "You are terse." }), { concurrency: 16 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const agent = <E, R>(
  name: string,
  make: Effect.Effect<Agent.Agent, E, R>,
  options?: { readonly concurrency?: number | undefined } | undefined
): Route<Exclude<R, Scope.Scope>> =>
  makeRoute<any>({
    name,
    kind: "agent",
    concurrency: options?.concurrency,
    input: Schema.Union(
      Schema.String,
      Schema.transform(Schema.Struct({ prompt: Schema.String }), Schema.String, {
        strict: true,
        decode: (body) => body.prompt,
        encode: (prompt) => ({ prompt })
      })
    ),
    run: (prompt: string, context) =>
      Effect.scoped(Effect.flatMap(make, (self) =>
        rootOutput(
          Node.stream(Agent.toNode(self, { name }), prompt, { runId: context.runId }) as Stream.Stream<
            Event.Event,
            AgentError | AiError.AiError
          >,
          context,
          name
        ))),
    chat: Chat.agentChat(make)
  })

// =============================================================================
// serving
// =============================================================================

const settingsOf = (options: Options | undefined): Effect.Effect<App.Settings, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    const token = options?.token === undefined
      ? yield* Config.option(Config.redacted("SLUICE_SERVE_TOKEN"))
      : Redacted.isRedacted(options.token)
      ? Option.some(options.token)
      : yield* options.token
    return {
      token,
      maxBodyBytes: options?.maxBodyBytes ?? 1024 * 1024,
      concurrency: Math.max(1, options?.concurrency ?? 64),
      retryAfterSeconds: options?.retryAfterSeconds ?? 1,
      cors: options?.cors ?? false
    }
  })

const routeImpls = <R>(routes: ReadonlyArray<Route<R>>): ReadonlyArray<internal.RouteImpl<R>> => {
  const seen = new Set<string>()
  for (const route of routes) {
    if (seen.has(route.name)) throw new Error(`Serve: two routes are named "${route.name}"`)
    seen.add(route.name)
  }
  return routes as unknown as ReadonlyArray<internal.RouteImpl<R>>
}

/**
 * The routes as an `HttpApp`, without a server: for tests (`HttpApp.toWebHandler`) or to mount inside another
 * router. Shutdown draining is the {@link layer}'s.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import * as Node from "sluice/Node"
 * import * as Serve from "sluice/Serve"
 *
 * const program = Serve.app([
 *   Serve.node(Node.fromFunction("upper", (s: string) => s.toUpperCase()), { input: Schema.String })
 * ])
 * ```
 *
 * @since 0.1.0
 * @category serving
 */
export const app = <Routes extends ReadonlyArray<Route<any>>>(
  routes: Routes,
  options?: Options | undefined
): Effect.Effect<HttpApp.Default<never, Route.Context<Routes[number]>>, ConfigError.ConfigError> =>
  Effect.map(
    settingsOf(options),
    (settings) => App.make(routeImpls(routes), settings, new Http.Drain()) as any
  )

/**
 * Serves the routes on the `HttpServer` in context. Closing the Layer drains: new requests get 503, in-flight runs
 * get `shutdownTimeout` to finish, then they are stopped.
 *
 * @example
 * ```ts
 * import { NodeHttpServer } from "@effect/platform-node"
 * import { Layer, Schema } from "effect"
 * import { createServer } from "node:http"
 * import * as Node from "sluice/Node"
 * import * as Serve from "sluice/Serve"
 *
 * const upper = Serve.node(Node.fromFunction("upper", (s: string) => s.toUpperCase()), { input: Schema.String })
 * const server = Serve.layer([upper]).pipe(
 *   Layer.provide(NodeHttpServer.layer(createServer, { port: 8080, host: "127.0.0.1" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category serving
 */
export const layer = <Routes extends ReadonlyArray<Route<any>>>(
  routes: Routes,
  options?: Options | undefined
): Layer.Layer<never, ConfigError.ConfigError, HttpServer.HttpServer | Route.Context<Routes[number]>> =>
  Layer.scopedDiscard(Effect.gen(function*() {
    const settings = yield* settingsOf(options)
    const drain = new Http.Drain()
    const httpApp = App.make(routeImpls(routes), settings, drain)
    const server = yield* HttpServer.HttpServer
    yield* server.serve(httpApp as any)
    yield* Effect.addFinalizer(() => drain.close(options?.shutdownTimeout ?? "30 seconds"))
  })) as any

/**
 * One line per route, for printing: method, path and what it is.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as Node from "sluice/Node"
 * import * as Serve from "sluice/Serve"
 *
 * const lines = Serve.describe([Serve.node(Node.fromFunction("upper", (s: string) => s.toUpperCase()), { input: Schema.String })])
 * // ["POST /runs/upper  (node)"]
 * ```
 *
 * @since 0.1.0
 * @category serving
 */
export const describe = (routes: ReadonlyArray<Route<any>>): ReadonlyArray<string> => {
  const lines = routes.map((route) => `POST /runs/${route.name}  (${route.kind})`)
  const models = routes.filter((route) => route.kind === "agent" || route.kind === "llm")
  if (models.length > 0) {
    lines.push(
      `POST /v1/chat/completions  (models: ${models.map((route) => route.name).join(", ")})`,
      "GET  /v1/models"
    )
  }
  return lines
}

/**
 * Whether a value is a {@link Route}.
 *
 * @example
 * ```ts
 * import * as Serve from "sluice/Serve"
 *
 * Serve.isRoute({}) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isRoute = (u: unknown): u is Route<unknown> =>
  typeof u === "object" && u !== null && (u as Record<PropertyKey, unknown>)[TypeId] === TypeId
