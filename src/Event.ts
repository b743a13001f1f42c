/**
 * The single progress vocabulary of sluice.
 *
 * Everything runnable (Node, Graph, Pipeline, Chain, Agent) streams `Event`s. Every event carries the `runId` of the
 * run that produced it, a `path` naming its source (e.g. `["translate", "fr", "llm"]`) and a `timestamp` in epoch
 * milliseconds read from Effect's `Clock` (so `TestClock` controls it in tests).
 *
 * Events are plain, immutable objects described by `Schema`, so they serialise to JSON and back (SSE, logs, run
 * artefacts) with {@link encodeJson} / {@link decodeJson}. Values carried inside events (`output`, `value`, `params`,
 * `item`) are `unknown` and must be JSON-compatible to survive a round trip.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

const base = {
  runId: Schema.String,
  path: Schema.Array(Schema.String),
  timestamp: Schema.Number
}

/**
 * A run started.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RunStart = Schema.TaggedStruct("RunStart", {
  ...base,
  name: Schema.String
})

/**
 * A run ended, successfully, with a failure or by interruption; `cause` says why a failed run failed, in one line.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RunEnd = Schema.TaggedStruct("RunEnd", {
  ...base,
  status: Schema.Literal("success", "failure", "interrupted"),
  durationMs: Schema.Number,
  cause: Schema.optional(Schema.String)
})

/**
 * Tokens a model call consumed, when the engine reports them.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Usage = Schema.Struct({
  inputTokens: Schema.optional(Schema.Number),
  outputTokens: Schema.optional(Schema.Number),
  totalTokens: Schema.optional(Schema.Number)
})

/**
 * Tokens a model call consumed.
 *
 * @since 0.1.0
 * @category models
 */
export type Usage = typeof Usage.Type

/**
 * Reads an engine's token counts (e.g. `@effect/ai`'s `Response.Usage`, whose fields may be `undefined`) as a
 * {@link Usage}, keeping only the counts that are known.
 *
 * @example
 * ```ts
 * import * as Event from "sluice/Event"
 *
 * Event.toUsage({ inputTokens: 12, outputTokens: undefined, totalTokens: 12 }) // { inputTokens: 12, totalTokens: 12 }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const toUsage = (usage: {
  readonly inputTokens?: number | undefined
  readonly outputTokens?: number | undefined
  readonly totalTokens?: number | undefined
}): Usage => {
  const out: { inputTokens?: number; outputTokens?: number; totalTokens?: number } = {}
  if (usage.inputTokens !== undefined) out.inputTokens = usage.inputTokens
  if (usage.outputTokens !== undefined) out.outputTokens = usage.outputTokens
  if (usage.totalTokens !== undefined) out.totalTokens = usage.totalTokens
  return out
}

/**
 * Adds two token counts, field by field; a count known on one side only is kept.
 *
 * @example
 * ```ts
 * import * as Event from "sluice/Event"
 *
 * Event.addUsage({ inputTokens: 1, outputTokens: 2 }, { inputTokens: 3 }) // { inputTokens: 4, outputTokens: 2 }
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const addUsage = (a: Usage | undefined, b: Usage | undefined): Usage | undefined => {
  if (a === undefined) return b
  if (b === undefined) return a
  const add = (x: number | undefined, y: number | undefined) => x === undefined ? y : y === undefined ? x : x + y
  return toUsage({
    inputTokens: add(a.inputTokens, b.inputTokens),
    outputTokens: add(a.outputTokens, b.outputTokens),
    totalTokens: add(a.totalTokens, b.totalTokens)
  })
}

/**
 * A step (a node, a graph step, a pipeline step for one item) started. `item` is the item index in item-wise
 * composition (Pipeline, Chain); `input` a short preview of the step's input (see {@link preview}).
 *
 * @since 0.1.0
 * @category schemas
 */
export const StepStart = Schema.TaggedStruct("StepStart", {
  ...base,
  item: Schema.optional(Schema.Number),
  input: Schema.optional(Schema.String)
})

/**
 * A step finished. `output` holds the step's result when the step produces one, `usage` the model tokens it used.
 *
 * @since 0.1.0
 * @category schemas
 */
export const StepEnd = Schema.TaggedStruct("StepEnd", {
  ...base,
  durationMs: Schema.Number,
  item: Schema.optional(Schema.Number),
  output: Schema.optional(Schema.Unknown),
  usage: Schema.optional(Usage)
})

/**
 * A step failed. `error` is the tagged error's `_tag` (or `"Defect"` / `"Interrupted"`), `message` a readable text.
 *
 * @since 0.1.0
 * @category schemas
 */
export const StepError = Schema.TaggedStruct("StepError", {
  ...base,
  error: Schema.String,
  message: Schema.String,
  retryable: Schema.Boolean,
  item: Schema.optional(Schema.Number)
})

/**
 * A text delta produced by a model or a token-streaming step.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Token = Schema.TaggedStruct("Token", {
  ...base,
  text: Schema.String
})

/**
 * A reasoning ("thinking") delta produced by a model.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Reasoning = Schema.TaggedStruct("Reasoning", {
  ...base,
  text: Schema.String
})

/**
 * The partial value of a structured output as it streams. `complete` lists the dotted paths of the fields whose
 * values are complete (e.g. `"items.0.name"`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const PartialFields = Schema.TaggedStruct("PartialFields", {
  ...base,
  value: Schema.Unknown,
  complete: Schema.Array(Schema.String)
})

/**
 * A model asked for a tool call, with its complete parameters.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolCall = Schema.TaggedStruct("ToolCall", {
  ...base,
  id: Schema.String,
  name: Schema.String,
  params: Schema.Unknown
})

/**
 * A fragment of a tool call's arguments arrived. `params` is the best-effort parse of the arguments so far.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolArgProgress = Schema.TaggedStruct("ToolArgProgress", {
  ...base,
  id: Schema.String,
  name: Schema.String,
  delta: Schema.String,
  params: Schema.Unknown
})

/**
 * A tool call finished, successfully or not.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolResult = Schema.TaggedStruct("ToolResult", {
  ...base,
  id: Schema.String,
  name: Schema.String,
  result: Schema.Unknown,
  isFailure: Schema.Boolean
})

/**
 * A retriever found an item. `index` is its position in the result list.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RetrievalItem = Schema.TaggedStruct("RetrievalItem", {
  ...base,
  index: Schema.Number,
  item: Schema.Unknown,
  score: Schema.optional(Schema.Number)
})

/**
 * Something went wrong that does not stop the run (a skipped item, a malformed chunk that was ignored).
 * `recoverable` says whether the run can still produce a complete result despite it (a skipped item: no).
 *
 * @since 0.1.0
 * @category schemas
 */
export const NonFatalError = Schema.TaggedStruct("NonFatalError", {
  ...base,
  error: Schema.String,
  message: Schema.String,
  recoverable: Schema.optional(Schema.Boolean)
})

/**
 * A step is alive but has produced nothing for `idleMs` milliseconds; `message` says so in words.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Heartbeat = Schema.TaggedStruct("Heartbeat", {
  ...base,
  idleMs: Schema.Number,
  message: Schema.optional(Schema.String)
})

/**
 * Attempt `attempt` (1-based) of a step failed and the step is tried again after `delayMs`. Consumers discard what
 * the failed attempt streamed (its tokens, partial fields) at this path.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Retry = Schema.TaggedStruct("Retry", {
  ...base,
  attempt: Schema.Number,
  error: Schema.String,
  message: Schema.String,
  delayMs: Schema.Number
})

/**
 * The schema of every event.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Event = Schema.Union(
  RunStart,
  RunEnd,
  StepStart,
  StepEnd,
  StepError,
  Token,
  Reasoning,
  PartialFields,
  ToolCall,
  ToolArgProgress,
  ToolResult,
  RetrievalItem,
  NonFatalError,
  Heartbeat,
  Retry
)

/**
 * Any sluice event.
 *
 * @since 0.1.0
 * @category models
 */
export type Event = typeof Event.Type

/**
 * The event tags.
 *
 * @since 0.1.0
 * @category models
 */
export type Tag = Event["_tag"]

/**
 * The event with the given tag.
 *
 * @since 0.1.0
 * @category models
 */
export type Of<T extends Tag> = Extract<Event, { readonly _tag: T }>

/**
 * A guard for one kind of event.
 *
 * @example
 * ```ts
 * import * as Event from "sluice/Event"
 *
 * const isToken = Event.is("Token")
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const is = <T extends Tag>(tag: T) => (event: Event): event is Of<T> => event._tag === tag

/**
 * Where and when an event happened: the fields every event carries.
 *
 * @since 0.1.0
 * @category models
 */
export interface Origin {
  readonly runId: string
  readonly path: ReadonlyArray<string>
  readonly timestamp: number
}

/**
 * Builds an event from its tag, its origin and its own fields.
 *
 * @example
 * ```ts
 * import * as Event from "sluice/Event"
 *
 * const token = Event.make("Token", { runId: "r1", path: ["llm"], timestamp: 0 }, { text: "Hello" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <T extends Tag>(
  tag: T,
  origin: Origin,
  fields: Omit<Of<T>, "_tag" | keyof Origin>
): Of<T> => ({ _tag: tag, runId: origin.runId, path: origin.path, timestamp: origin.timestamp, ...fields }) as Of<T>

const EventFromJson = Schema.parseJson(Event)

/**
 * Encodes an event as one line of JSON.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Event from "sluice/Event"
 *
 * const line = Event.encodeJson(Event.make("Token", { runId: "r1", path: ["llm"], timestamp: 0 }, { text: "Hi" }))
 * ```
 *
 * @since 0.1.0
 * @category codecs
 */
export const encodeJson: (event: Event) => Effect.Effect<string, ParseResult.ParseError> = Schema.encode(EventFromJson)

/**
 * Decodes an event from JSON text, failing with a `ParseError` that names the offending field.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Event from "sluice/Event"
 *
 * const program = Event.decodeJson(`{"_tag":"Heartbeat","runId":"r","path":[],"timestamp":0,"idleMs":5}`)
 * ```
 *
 * @since 0.1.0
 * @category codecs
 */
export const decodeJson: (json: string) => Effect.Effect<Event, ParseResult.ParseError> = Schema.decode(
  EventFromJson
)

/**
 * Tells whether `path` starts with `prefix`.
 *
 * @example
 * ```ts
 * import * as Event from "sluice/Event"
 *
 * Event.startsWith(["a", "b"], ["a"]) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const startsWith = (path: ReadonlyArray<string>, prefix: ReadonlyArray<string>): boolean => {
  if (prefix.length > path.length) return false
  for (let i = 0; i < prefix.length; i++) if (path[i] !== prefix[i]) return false
  return true
}

/**
 * Tells whether two paths are equal.
 *
 * @example
 * ```ts
 * import * as Event from "sluice/Event"
 *
 * Event.samePath(["a"], ["a"]) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const samePath = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): boolean =>
  a.length === b.length && startsWith(a, b)

/**
 * Reads the current time from Effect's `Clock`, in epoch milliseconds.
 *
 * @example
 * ```ts
 * import * as Event from "sluice/Event"
 *
 * const program = Event.now
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const now: Effect.Effect<number> = Effect.clockWith((clock) => clock.currentTimeMillis)

/**
 * A short, one-line preview of a value for events and logs (`StepStart`'s `input`): strings as they are, other
 * values as JSON (or `String(value)` when they have none), cut to `max` characters (default 200) with an ellipsis.
 *
 * @example
 * ```ts
 * import * as Event from "sluice/Event"
 *
 * Event.preview({ id: 1, text: "hello" }) // '{"id":1,"text":"hello"}'
 * Event.preview("x".repeat(300), 10) // "xxxxxxxxx…"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const preview = (value: unknown, max = 200): string => {
  let text: string
  if (typeof value === "string") {
    text = value
  } else {
    const json = Either.try(() => JSON.stringify(value))
    text = Either.isRight(json) && json.right !== undefined ? json.right : String(value)
  }
  text = (text.length > 2 * max ? text.slice(0, 2 * max) : text).replace(/\s+/g, " ")
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`
}
