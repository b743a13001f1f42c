/**
 * The vocabulary of an agent: the messages of its conversation and the events it streams while it works.
 *
 * Both are described by `Schema`, so a conversation and an event log serialise to JSON and back. Values inside them
 * (tool parameters, tool results, progress updates) are the JSON-compatible encoded forms.
 *
 * **Messages.** A conversation is a list of {@link Message}s: a {@link UserMessage}, then for every model call an
 * {@link AssistantMessage} (text, thinking and tool calls, with why it stopped), and a {@link ToolResultMessage} per
 * tool call it asked for.
 *
 * **Events**, in the order one prompt streams them:
 *
 * ```text
 * AgentStart
 *   MessageStart/MessageEnd (the user message)
 *   TurnStart                                  one turn = one model call + the tools it asked for
 *     MessageStart (assistant) MessageUpdate* MessageEnd
 *     ToolExecutionStart ToolExecutionUpdate* ToolExecutionEnd      per tool call, in parallel
 *     MessageStart/MessageEnd (each tool result, in call order)
 *   TurnEnd
 *   … more turns …
 * AgentEnd
 * ```
 *
 * `MessageUpdate` carries one {@link Delta}: a text or thinking delta, or the start, an argument fragment or the end
 * of a tool call. Deltas are never accumulated in events: the whole message comes with `MessageEnd`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Event from "./Event.js"

// =============================================================================
// messages
// =============================================================================

/**
 * A message from the user.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isUserMessage = Schema.is(AgentEvent.UserMessage)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const UserMessage = Schema.TaggedStruct("UserMessage", {
  text: Schema.String,
  timestamp: Schema.Number
})

/**
 * A message from the user.
 *
 * @example
 * ```ts
 * import type * as AgentEvent from "sluice/AgentEvent"
 *
 * declare const value: AgentEvent.UserMessage
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type UserMessage = typeof UserMessage.Type

/**
 * Text the model wrote.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isTextContent = Schema.is(AgentEvent.TextContent)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const TextContent = Schema.TaggedStruct("Text", { text: Schema.String })

/**
 * Reasoning ("thinking") the model streamed.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isThinkingContent = Schema.is(AgentEvent.ThinkingContent)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const ThinkingContent = Schema.TaggedStruct("Thinking", { text: Schema.String })

/**
 * A tool call the model asked for, with its parameters as the model sent them.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isToolCallContent = Schema.is(AgentEvent.ToolCallContent)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolCallContent = Schema.TaggedStruct("ToolCall", {
  id: Schema.String,
  name: Schema.String,
  params: Schema.Unknown
})

/**
 * A tool call the model asked for.
 *
 * @example
 * ```ts
 * import type * as AgentEvent from "sluice/AgentEvent"
 *
 * const call: AgentEvent.ToolCallContent = { _tag: "ToolCall", id: "c1", name: "sum", params: { a: 1, b: 2 } }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ToolCallContent = typeof ToolCallContent.Type

/**
 * One piece of an assistant message.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isAssistantContent = Schema.is(AgentEvent.AssistantContent)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const AssistantContent = Schema.Union(TextContent, ThinkingContent, ToolCallContent)

/**
 * One piece of an assistant message.
 *
 * @example
 * ```ts
 * import type * as AgentEvent from "sluice/AgentEvent"
 *
 * declare const value: AgentEvent.AssistantContent
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type AssistantContent = typeof AssistantContent.Type

/**
 * Why an assistant message ended: the model stopped (`stop`), asked for tools (`toolCalls`), hit its token limit
 * (`length`), was filtered (`contentFilter`), failed (`error`, see `errorMessage`), or the prompt was aborted while it
 * streamed (`aborted`: the message holds what arrived before).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isStopReason = Schema.is(AgentEvent.StopReason)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const StopReason = Schema.Literal("stop", "toolCalls", "length", "contentFilter", "error", "aborted", "other")

/**
 * Why an assistant message ended.
 *
 * @example
 * ```ts
 * import type * as AgentEvent from "sluice/AgentEvent"
 *
 * declare const value: AgentEvent.StopReason
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type StopReason = typeof StopReason.Type

/**
 * A message from the model: its text, thinking and tool calls in the order they streamed.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isAssistantMessage = Schema.is(AgentEvent.AssistantMessage)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const AssistantMessage = Schema.TaggedStruct("AssistantMessage", {
  content: Schema.Array(AssistantContent),
  stopReason: StopReason,
  usage: Schema.optional(Event.Usage),
  model: Schema.optional(Schema.String),
  errorMessage: Schema.optional(Schema.String),
  timestamp: Schema.Number
})

/**
 * A message from the model.
 *
 * @example
 * ```ts
 * import type * as AgentEvent from "sluice/AgentEvent"
 *
 * declare const value: AgentEvent.AssistantMessage
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type AssistantMessage = typeof AssistantMessage.Type

/**
 * The result of one tool call, as sent back to the model. `result` is the tool's encoded success (or its encoded
 * failure, or an error text) and `isError` tells which.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isToolResultMessage = Schema.is(AgentEvent.ToolResultMessage)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolResultMessage = Schema.TaggedStruct("ToolResultMessage", {
  toolCallId: Schema.String,
  toolName: Schema.String,
  result: Schema.Unknown,
  isError: Schema.Boolean,
  timestamp: Schema.Number
})

/**
 * The result of one tool call.
 *
 * @example
 * ```ts
 * import type * as AgentEvent from "sluice/AgentEvent"
 *
 * declare const value: AgentEvent.ToolResultMessage
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ToolResultMessage = typeof ToolResultMessage.Type

/**
 * Any message of a conversation.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isMessage = Schema.is(AgentEvent.Message)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Message = Schema.Union(UserMessage, AssistantMessage, ToolResultMessage)

/**
 * Any message of a conversation.
 *
 * @example
 * ```ts
 * import type * as AgentEvent from "sluice/AgentEvent"
 *
 * declare const value: AgentEvent.Message
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Message = typeof Message.Type

// =============================================================================
// deltas
// =============================================================================

/**
 * A text delta of the assistant message.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isTextDelta = Schema.is(AgentEvent.TextDelta)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const TextDelta = Schema.TaggedStruct("TextDelta", { text: Schema.String })

/**
 * A thinking delta of the assistant message.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isThinkingDelta = Schema.is(AgentEvent.ThinkingDelta)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const ThinkingDelta = Schema.TaggedStruct("ThinkingDelta", { text: Schema.String })

/**
 * The model started a tool call.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isToolCallStart = Schema.is(AgentEvent.ToolCallStart)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolCallStart = Schema.TaggedStruct("ToolCallStart", { id: Schema.String, name: Schema.String })

/**
 * A fragment of a tool call's arguments (JSON text) arrived.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isToolCallDelta = Schema.is(AgentEvent.ToolCallDelta)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolCallDelta = Schema.TaggedStruct("ToolCallDelta", {
  id: Schema.String,
  name: Schema.String,
  delta: Schema.String
})

/**
 * A tool call is complete, with its parsed parameters.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isToolCallEnd = Schema.is(AgentEvent.ToolCallEnd)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolCallEnd = Schema.TaggedStruct("ToolCallEnd", {
  id: Schema.String,
  name: Schema.String,
  params: Schema.Unknown
})

/**
 * What a `MessageUpdate` carries.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isDelta = Schema.is(AgentEvent.Delta)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Delta = Schema.Union(TextDelta, ThinkingDelta, ToolCallStart, ToolCallDelta, ToolCallEnd)

/**
 * What a `MessageUpdate` carries.
 *
 * @example
 * ```ts
 * import type * as AgentEvent from "sluice/AgentEvent"
 *
 * declare const value: AgentEvent.Delta
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Delta = typeof Delta.Type

// =============================================================================
// events
// =============================================================================

const base = {
  sessionId: Schema.String,
  timestamp: Schema.Number
}

/**
 * A prompt started.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isAgentStart = Schema.is(AgentEvent.AgentStart)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const AgentStart = Schema.TaggedStruct("AgentStart", { ...base })

/**
 * Why a prompt ended: the model answered without tool calls (`stop`), `maxTurns` was reached (`maxTurns`), the
 * custom stop condition held (`stopCondition`), it was aborted (`aborted`), or it failed (`error`).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isEndReason = Schema.is(AgentEvent.EndReason)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const EndReason = Schema.Literal("stop", "maxTurns", "stopCondition", "aborted", "error")

/**
 * Why a prompt ended.
 *
 * @example
 * ```ts
 * import type * as AgentEvent from "sluice/AgentEvent"
 *
 * declare const value: AgentEvent.EndReason
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type EndReason = typeof EndReason.Type

/**
 * The failure that ended a prompt: the error's tag, message and whether it is worth retrying.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isFailure = Schema.is(AgentEvent.Failure)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Failure = Schema.Struct({
  tag: Schema.String,
  message: Schema.String,
  retryable: Schema.Boolean
})

/**
 * The failure that ended a prompt.
 *
 * @example
 * ```ts
 * import type * as AgentEvent from "sluice/AgentEvent"
 *
 * const failure: AgentEvent.Failure = { tag: "RateLimited", message: "429", retryable: true }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Failure = typeof Failure.Type

/**
 * A prompt ended. `text` is the text of the last assistant message, `turns` the number of model calls, `usage` their
 * summed token usage, and `error` the failure when `reason` is `error`.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isAgentEnd = Schema.is(AgentEvent.AgentEnd)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const AgentEnd = Schema.TaggedStruct("AgentEnd", {
  ...base,
  reason: EndReason,
  text: Schema.String,
  turns: Schema.Number,
  usage: Schema.optional(Event.Usage),
  error: Schema.optional(Failure)
})

/**
 * A turn (one model call and the tools it asked for) started. Turns are numbered from 1 within a prompt.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isTurnStart = Schema.is(AgentEvent.TurnStart)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const TurnStart = Schema.TaggedStruct("TurnStart", { ...base, turn: Schema.Number })

/**
 * A turn ended, with the assistant message and the results of its tool calls.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isTurnEnd = Schema.is(AgentEvent.TurnEnd)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const TurnEnd = Schema.TaggedStruct("TurnEnd", {
  ...base,
  turn: Schema.Number,
  message: AssistantMessage,
  toolResults: Schema.Array(ToolResultMessage)
})

/**
 * A message started: the user's, the assistant's (empty, filled by `MessageUpdate`s), or a tool result.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isMessageStart = Schema.is(AgentEvent.MessageStart)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const MessageStart = Schema.TaggedStruct("MessageStart", { ...base, message: Message })

/**
 * The assistant message grew by one delta.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isMessageUpdate = Schema.is(AgentEvent.MessageUpdate)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const MessageUpdate = Schema.TaggedStruct("MessageUpdate", { ...base, turn: Schema.Number, delta: Delta })

/**
 * A message is complete.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isMessageEnd = Schema.is(AgentEvent.MessageEnd)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const MessageEnd = Schema.TaggedStruct("MessageEnd", { ...base, message: Message })

/**
 * A tool call started running, with its parameters as the model sent them.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isToolExecutionStart = Schema.is(AgentEvent.ToolExecutionStart)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolExecutionStart = Schema.TaggedStruct("ToolExecutionStart", {
  ...base,
  turn: Schema.Number,
  toolCallId: Schema.String,
  toolName: Schema.String,
  params: Schema.Unknown
})

/**
 * A running tool reported progress.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isToolExecutionUpdate = Schema.is(AgentEvent.ToolExecutionUpdate)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolExecutionUpdate = Schema.TaggedStruct("ToolExecutionUpdate", {
  ...base,
  turn: Schema.Number,
  toolCallId: Schema.String,
  toolName: Schema.String,
  progress: Schema.Unknown
})

/**
 * A tool call finished: its encoded result, whether it is an error, and how long it ran.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isToolExecutionEnd = Schema.is(AgentEvent.ToolExecutionEnd)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolExecutionEnd = Schema.TaggedStruct("ToolExecutionEnd", {
  ...base,
  turn: Schema.Number,
  toolCallId: Schema.String,
  toolName: Schema.String,
  result: Schema.Unknown,
  isError: Schema.Boolean,
  durationMs: Schema.Number
})

/**
 * A model call failed with a transient error (429, 5xx, transport, timeout) before it streamed anything, and is
 * tried again after `delayMs` (never sooner than the server's retry-after). `attempt` numbers the failed call from 1.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isRetry = Schema.is(AgentEvent.Retry)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Retry = Schema.TaggedStruct("Retry", {
  ...base,
  turn: Schema.Number,
  attempt: Schema.Number,
  error: Schema.String,
  message: Schema.String,
  delayMs: Schema.Number
})

/**
 * The schema of every agent event.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isAgentEvent = Schema.is(AgentEvent.AgentEvent)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const AgentEvent = Schema.Union(
  AgentStart,
  AgentEnd,
  TurnStart,
  TurnEnd,
  MessageStart,
  MessageUpdate,
  MessageEnd,
  ToolExecutionStart,
  ToolExecutionUpdate,
  ToolExecutionEnd,
  Retry
)

/**
 * Any agent event.
 *
 * @example
 * ```ts
 * import type * as AgentEvent from "sluice/AgentEvent"
 *
 * declare const value: AgentEvent.AgentEvent
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type AgentEvent = typeof AgentEvent.Type

/**
 * The agent event tags.
 *
 * @example
 * ```ts
 * import type * as AgentEvent from "sluice/AgentEvent"
 *
 * declare const value: AgentEvent.Tag
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Tag = AgentEvent["_tag"]

/**
 * The agent event with the given tag.
 *
 * @example
 * ```ts
 * import type * as AgentEvent from "sluice/AgentEvent"
 *
 * declare const value: AgentEvent.Of<"AgentEnd">
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Of<T extends Tag> = Extract<AgentEvent, { readonly _tag: T }>

/**
 * A guard for one kind of agent event.
 *
 * @example
 * ```ts
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const isEnd = AgentEvent.is("AgentEnd")
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const is = <T extends Tag>(tag: T) => (event: AgentEvent): event is Of<T> => event._tag === tag

/**
 * The text of an assistant message (its text pieces joined).
 *
 * @example
 * ```ts
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const text = AgentEvent.textOf({
 *   _tag: "AssistantMessage",
 *   content: [{ _tag: "Text", text: "Hello" }],
 *   stopReason: "stop",
 *   timestamp: 0
 * }) // "Hello"
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const textOf = (message: AssistantMessage): string => {
  let text = ""
  for (const content of message.content) if (content._tag === "Text") text += content.text
  return text
}

/**
 * The tool calls of an assistant message.
 *
 * @example
 * ```ts
 * import * as AgentEvent from "sluice/AgentEvent"
 *
 * const calls = AgentEvent.toolCallsOf({
 *   _tag: "AssistantMessage",
 *   content: [{ _tag: "ToolCall", id: "c1", name: "weather", params: { city: "Oslo" } }],
 *   stopReason: "toolCalls",
 *   timestamp: 0
 * })
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const toolCallsOf = (message: AssistantMessage): ReadonlyArray<ToolCallContent> =>
  message.content.filter((content): content is ToolCallContent => content._tag === "ToolCall")
