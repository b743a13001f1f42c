/**
 * The OpenAI-compatible Chat Completions face of agents and LLM nodes: the request schema, the parts a served model
 * streams, how an agent answers a conversation, and the `chat.completion` / `chat.completion.chunk` wire shapes.
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import type * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Agent from "../../Agent.js"
import type * as AgentEvent from "../../AgentEvent.js"
import type * as Event from "../../Event.js"
import * as Node from "../../Node.js"
import * as StructuredOutput from "../../StructuredOutput.js"
import * as Sse from "./sse.js"

// =============================================================================
// request
// =============================================================================

/** A field a client may omit or send as `null`. */
const nullable = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

const JsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown })

const TextPart = Schema.Struct({ type: Schema.Literal("text"), text: Schema.String })
const Content = Schema.Union(
  Schema.String,
  Schema.Array(Schema.Union(TextPart, Schema.Struct({ type: Schema.String })))
)

const ToolCallWire = Schema.Struct({
  id: Schema.String,
  type: Schema.optional(Schema.Literal("function")),
  function: Schema.Struct({ name: Schema.String, arguments: Schema.String })
})

const Message = Schema.Union(
  Schema.Struct({ role: Schema.Literal("system", "developer"), content: Content }),
  Schema.Struct({ role: Schema.Literal("user"), content: Content }),
  Schema.Struct({
    role: Schema.Literal("assistant"),
    content: nullable(Content),
    tool_calls: nullable(Schema.Array(ToolCallWire))
  }),
  Schema.Struct({ role: Schema.Literal("tool"), tool_call_id: Schema.String, content: Content })
)

const FunctionTool = Schema.Struct({
  type: Schema.Literal("function"),
  function: Schema.Struct({
    name: Schema.String,
    description: nullable(Schema.String),
    parameters: nullable(JsonObject),
    strict: nullable(Schema.Boolean)
  })
})

const ResponseFormat = Schema.Union(
  Schema.Struct({ type: Schema.Literal("text") }),
  Schema.Struct({ type: Schema.Literal("json_object") }),
  Schema.Struct({
    type: Schema.Literal("json_schema"),
    json_schema: Schema.Struct({
      name: Schema.String,
      description: nullable(Schema.String),
      schema: nullable(JsonObject),
      strict: nullable(Schema.Boolean)
    })
  })
)

export const Request = Schema.Struct({
  model: Schema.String,
  messages: Schema.NonEmptyArray(Message),
  stream: nullable(Schema.Boolean),
  stream_options: nullable(Schema.Struct({ include_usage: nullable(Schema.Boolean) })),
  tools: nullable(Schema.Array(FunctionTool)),
  response_format: nullable(ResponseFormat)
})

export type Request = typeof Request.Type
type Message = typeof Message.Type

const textOf = (content: typeof Content.Type | null | undefined): string =>
  content === null || content === undefined
    ? ""
    : typeof content === "string"
    ? content
    : content.map((part) => ("text" in part && typeof part.text === "string" ? part.text : "")).join("")

/** The text of the last user message: what a served LLM node gets as its input. */
export const lastUserText = (request: Request): string => {
  for (let i = request.messages.length - 1; i >= 0; i--) {
    const message = request.messages[i]!
    if (message.role === "user") return textOf(message.content)
  }
  return ""
}

// =============================================================================
// parts
// =============================================================================

export interface ToolCall {
  readonly id: string
  readonly name: string
  readonly arguments: string
}

export type FinishReason = "stop" | "tool_calls" | "length"

export type Part =
  | { readonly _tag: "Text"; readonly text: string }
  | { readonly _tag: "ToolCalls"; readonly calls: ReadonlyArray<ToolCall> }
  | { readonly _tag: "Finish"; readonly reason: FinishReason; readonly usage: Event.Usage | undefined }

// =============================================================================
// LLM nodes
// =============================================================================

/** A `Node<string, string>` answering the last user message; its tokens stream as text. */
export const nodeChat =
  <E, R>(node: Node.Node<string, string, E, R>) => (request: Request): Stream.Stream<Part, E, R> =>
    Stream.suspend(() => {
      let usage: Event.Usage | undefined
      const root = node.name
      return Node.stream(node, lastUserText(request)).pipe(
        Stream.mapConcat((event): Array<Part> => {
          if (event._tag === "Token") return [{ _tag: "Text", text: event.text }]
          if (event._tag === "StepEnd" && event.path.length === 1 && event.path[0] === root) usage = event.usage
          return []
        }),
        Stream.concat(Stream.sync((): Part => ({ _tag: "Finish", reason: "stop", usage })))
      )
    })

// =============================================================================
// agents
// =============================================================================

/** A tool the client defined: offered to the model with the client's JSON Schema; the client runs it. */
const clientTool = (tool: typeof FunctionTool.Type): Tool.Any =>
  (Tool.make(tool.function.name, {
    description: tool.function.description ?? undefined
  }) as unknown as Tool.Tool<string, any>).setParameters(
    Schema.Unknown.annotations({
      jsonSchema: tool.function.parameters ?? { type: "object", properties: {} }
    }) as any
  ) as unknown as Tool.Any

const responseFormat = (request: Request): StructuredOutput.Format | undefined => {
  const format = request.response_format
  if (format === null || format === undefined || format.type === "text") return undefined
  if (format.type === "json_object") {
    return { objectName: "response", schema: Schema.Unknown.annotations({ jsonSchema: { type: "object" } }) }
  }
  return {
    objectName: format.json_schema.name,
    schema: Schema.Unknown.annotations({ jsonSchema: format.json_schema.schema ?? { type: "object" } })
  }
}

/** Drops user messages whose text is empty: the agent's placeholder prompt when a conversation ends in tool results. */
const dropEmptyUser = (prompt: Prompt.Prompt): Prompt.Prompt =>
  Prompt.fromMessages(
    prompt.content.filter((message) =>
      !(message.role === "user" && message.content.every((part) => part.type === "text" && part.text.length === 0))
    )
  )

/** The model as the served agent sees it: with the client's tools added and the requested structured output. */
const wrapModel = (
  model: LanguageModel.Service,
  tools: ReadonlyArray<Tool.Any>,
  format: StructuredOutput.Format | undefined
): LanguageModel.Service => {
  const adapt = (options: any) => {
    const prompt = dropEmptyUser(Prompt.make(options.prompt))
    if (tools.length === 0) return { ...options, prompt }
    const own = options.toolkit === undefined ? [] : Object.values((options.toolkit as Toolkit.Any).tools)
    return { ...options, prompt, toolkit: Toolkit.make(...(own as Array<Tool.Any>), ...tools) }
  }
  return {
    ...model,
    generateText: (options: any) => model.generateText(adapt(options)),
    streamText: (options: any) => {
      const parts = model.streamText(adapt(options))
      return format === undefined ? parts : StructuredOutput.withFormat(parts, format)
    }
  } as LanguageModel.Service
}

const parseArguments = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/**
 * The conversation as the agent's messages: the system prompt (if the client sent one), the history, and the text
 * to prompt with (the last user message; `""` when the conversation ends with tool results, so the agent continues).
 */
const toAgentMessages = (messages: ReadonlyArray<Message>, now: number) => {
  let system: string | undefined
  const names = new Map<string, string>()
  const history: Array<AgentEvent.Message> = []
  for (const message of messages) {
    switch (message.role) {
      case "system":
      case "developer": {
        system = system === undefined ? textOf(message.content) : `${system}\n\n${textOf(message.content)}`
        break
      }
      case "user": {
        history.push({ _tag: "UserMessage", text: textOf(message.content), timestamp: now })
        break
      }
      case "assistant": {
        const content: Array<AgentEvent.AssistantContent> = []
        const text = textOf(message.content)
        if (text.length > 0) content.push({ _tag: "Text", text })
        for (const call of message.tool_calls ?? []) {
          names.set(call.id, call.function.name)
          content.push({
            _tag: "ToolCall",
            id: call.id,
            name: call.function.name,
            params: parseArguments(call.function.arguments)
          })
        }
        history.push({
          _tag: "AssistantMessage",
          content,
          stopReason: content.some((c) => c._tag === "ToolCall") ? "toolCalls" : "stop",
          timestamp: now
        })
        break
      }
      case "tool": {
        const result = textOf(message.content)
        history.push({
          _tag: "ToolResultMessage",
          toolCallId: message.tool_call_id,
          toolName: names.get(message.tool_call_id) ?? "tool",
          result: parseArguments(result),
          isError: false,
          timestamp: now
        })
        break
      }
    }
  }
  const last = history[history.length - 1]
  if (last !== undefined && last._tag === "UserMessage") {
    history.pop()
    return { system, history, text: last.text }
  }
  return { system, history, text: "" }
}

/**
 * An agent answering a conversation: a fresh agent per request (from `make`), given the client's history, prompted
 * with the last user message. Its text deltas stream as text (every turn's); its own tools run on the server. When
 * the model calls a tool the client defined, the answer ends with those calls (`finish_reason: "tool_calls"`) for
 * the client to run and send back.
 */
export const agentChat = <E, R>(make: Effect.Effect<Agent.Agent, E, R>) =>
(
  request: Request
): Stream.Stream<Part, unknown, Exclude<R, Scope.Scope>> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const tools = (request.tools ?? []).map(clientTool)
    const clientNames = new Set(tools.map((tool) => tool.name))
    const format = responseFormat(request)
    const model = yield* Effect.serviceOption(LanguageModel.LanguageModel)
    const agent = yield* (Option.isSome(model)
      ? Effect.provideService(make, LanguageModel.LanguageModel, wrapModel(model.value, tools, format))
      : make)
    const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
    const { history, system, text } = toAgentMessages(request.messages, now)
    if (system !== undefined) yield* Agent.setSystemPrompt(agent, system)
    const state = yield* Agent.state(agent)
    yield* Agent.restore(agent, {
      ...state,
      ...(system === undefined ? {} : { systemPrompt: system }),
      messages: history
    })
    let done = false
    return Agent.prompt(agent, text).pipe(
      Stream.mapChunks((events) => {
        const out: Array<Part> = []
        for (const event of events) {
          if (done) break
          if (event._tag === "MessageUpdate" && event.delta._tag === "TextDelta") {
            out.push({ _tag: "Text", text: event.delta.text })
          } else if (event._tag === "MessageEnd" && event.message._tag === "AssistantMessage") {
            const calls = event.message.content.flatMap((content) =>
              content._tag === "ToolCall" && clientNames.has(content.name)
                ? [{ id: content.id, name: content.name, arguments: Sse.safeJson(content.params) }]
                : []
            )
            if (calls.length > 0) {
              done = true
              out.push({ _tag: "ToolCalls", calls }, {
                _tag: "Finish",
                reason: "tool_calls",
                usage: event.message.usage
              })
            }
          } else if (event._tag === "AgentEnd") {
            done = true
            out.push({ _tag: "Finish", reason: event.reason === "maxTurns" ? "length" : "stop", usage: event.usage })
          }
        }
        return Chunk.unsafeFromArray(out)
      }),
      Stream.takeUntil((part) => part._tag === "Finish")
    )
  })) as any

// =============================================================================
// wire
// =============================================================================

const usageOf = (usage: Event.Usage | undefined) => {
  if (usage === undefined) return undefined
  const prompt = usage.inputTokens ?? 0
  const completion = usage.outputTokens ?? 0
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: usage.totalTokens ?? prompt + completion
  }
}

const wireCalls = (calls: ReadonlyArray<ToolCall>) =>
  calls.map((call) => ({ id: call.id, type: "function", function: { name: call.name, arguments: call.arguments } }))

/** The whole answer as one `chat.completion` object. */
export const completion = <E, R>(
  parts: Stream.Stream<Part, E, R>,
  meta: { readonly id: string; readonly model: string; readonly created: number }
) =>
  Effect.map(
    Stream.runFold(
      parts,
      {
        text: "",
        calls: [] as Array<ToolCall>,
        reason: "stop" as FinishReason,
        usage: undefined as Event.Usage | undefined
      },
      (acc, part) => {
        if (part._tag === "Text") acc.text += part.text
        else if (part._tag === "ToolCalls") acc.calls.push(...part.calls)
        else {
          acc.reason = part.reason
          acc.usage = part.usage
        }
        return acc
      }
    ),
    (acc) => ({
      id: meta.id,
      object: "chat.completion",
      created: meta.created,
      model: meta.model,
      choices: [{
        index: 0,
        message: {
          role: "assistant",
          content: acc.calls.length > 0 && acc.text.length === 0 ? null : acc.text,
          refusal: null,
          ...(acc.calls.length > 0 ? { tool_calls: wireCalls(acc.calls) } : {})
        },
        logprobs: null,
        finish_reason: acc.reason
      }],
      usage: usageOf(acc.usage) ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }
    })
  )

/** The OpenAI-shaped `error` block of an answer stopped by the server's shutdown. */
export const stopped = (message: string): Uint8Array =>
  Sse.frame(Sse.safeJson({ error: { message, type: "server_error", code: "shutting_down", param: null } }))

/** The answer as `chat.completion.chunk` SSE blocks, ending with `[DONE]`; a failure becomes an `error` block. */
export const chunks = <E, R>(
  parts: Stream.Stream<Part, E, R>,
  meta: { readonly id: string; readonly model: string; readonly created: number },
  includeUsage: boolean,
  onError: (cause: Cause.Cause<unknown>) => Record<string, unknown>
): Stream.Stream<Uint8Array, never, R> => {
  const block = (delta: Record<string, unknown>, finish: FinishReason | null, extra?: Record<string, unknown>) =>
    Sse.frame(Sse.safeJson({
      id: meta.id,
      object: "chat.completion.chunk",
      created: meta.created,
      model: meta.model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...extra
    }))
  return Stream.make(block({ role: "assistant", content: "" }, null)).pipe(
    // the text of one stream chunk goes out as one delta: one block and one socket write per chunk, not per token
    Stream.concat(Stream.mapChunks(parts, (chunk): Chunk.Chunk<Uint8Array> => {
      const out: Array<Uint8Array> = []
      let text = ""
      const flush = () => {
        if (text.length > 0) out.push(block({ content: text }, null))
        text = ""
      }
      for (const part of chunk) {
        if (part._tag === "Text") {
          text += part.text
          continue
        }
        flush()
        if (part._tag === "ToolCalls") {
          out.push(block({ tool_calls: wireCalls(part.calls).map((call, index) => ({ index, ...call })) }, null))
          continue
        }
        out.push(block({}, part.reason))
        if (includeUsage) {
          out.push(Sse.frame(Sse.safeJson({
            id: meta.id,
            object: "chat.completion.chunk",
            created: meta.created,
            model: meta.model,
            choices: [],
            usage: usageOf(part.usage) ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }
          })))
        }
      }
      flush()
      return Sse.join(Chunk.unsafeFromArray(out))
    })),
    Stream.concat(Stream.make(Sse.frame("[DONE]"))),
    Stream.catchAllCause((cause) => Stream.make(Sse.frame(Sse.safeJson({ error: onError(cause) }))))
  )
}
