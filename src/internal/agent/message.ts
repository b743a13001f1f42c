/**
 * One assistant message as it streams: the parts of a model reply accumulated into an `AssistantMessage` (with
 * `MessageUpdate` events on the way), and the conversation turned back into a `Prompt` for the next model call.
 */
import * as AiError from "@effect/ai/AiError"
import * as Prompt from "@effect/ai/Prompt"
import * as Chunk from "effect/Chunk"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import type * as AgentEvent from "../../AgentEvent.js"
import * as Event from "../../Event.js"
import * as Node from "../../Node.js"
import type { State } from "./state.js"

/** The fields of `@effect/ai` stream parts (decoded or encoded) the agent reads. */
export interface RawPart {
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
export class TurnBuilder {
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
    readonly turn: number
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
export const toPrompt = (state: State): Prompt.Prompt => {
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

export const stopReason = (reason: string | undefined): AgentEvent.StopReason => {
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
 * the decoding `ParseError` holds the chunk of encoded parts, read here so that the unknown call gets an error
 * result (or is reported) instead of failing the prompt.
 */
export const unknownToolParts = (
  error: unknown,
  known: { readonly has: (name: string) => boolean }
): ReadonlyArray<RawPart> | undefined => {
  if (!AiError.isAiError(error) || error._tag !== "MalformedOutput" || !ParseResult.isParseError(error.cause)) {
    return undefined
  }
  const actual = error.cause.issue.actual
  const parts = Chunk.isChunk(actual) ? Chunk.toReadonlyArray(actual) : Array.isArray(actual) ? actual : undefined
  if (parts === undefined) return undefined
  const unknownCall = parts.some((part) =>
    Predicate.isRecord(part) && part.type === "tool-call" && typeof part.name === "string" && !known.has(part.name)
  )
  return unknownCall ? parts as ReadonlyArray<RawPart> : undefined
}
