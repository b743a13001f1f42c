import * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

/**
 * The prompt of a user text, after a system text when one is given: what `Prompt.make` builds from the same
 * messages, without its object spreads and its Schema decode of the messages (a cost per LLM call).
 */
export const textPrompt = (user: string, system?: string | undefined): Prompt.Prompt => {
  const message: Prompt.UserMessage = {
    content: [{ text: user, [Prompt.PartTypeId]: Prompt.PartTypeId, type: "text", options: {} }],
    [Prompt.MessageTypeId]: Prompt.MessageTypeId,
    role: "user",
    options: {}
  }
  if (system === undefined) return Prompt.fromMessages([message])
  return Prompt.fromMessages([
    { content: system, [Prompt.MessageTypeId]: Prompt.MessageTypeId, role: "system", options: {} },
    message
  ])
}

/** The text of a prompt, message by message, as `role: text` lines. */
export const promptText = (prompt: Prompt.Prompt): string => {
  const lines: Array<string> = []
  for (const message of prompt.content) {
    if (message.role === "system") {
      lines.push(`system: ${message.content}`)
      continue
    }
    const texts: Array<string> = []
    for (const part of message.content) {
      if (part.type === "text" || part.type === "reasoning") texts.push(part.text)
      else if (part.type === "tool-call") texts.push(`${part.name}(${JSON.stringify(part.params)})`)
      else if (part.type === "tool-result") texts.push(`${part.name} -> ${JSON.stringify(part.result)}`)
    }
    lines.push(`${message.role}: ${texts.join("")}`)
  }
  return lines.join("\n")
}

/** The text of the last user message of a prompt. */
export const lastUserText = (prompt: Prompt.Prompt): string => {
  for (let i = prompt.content.length - 1; i >= 0; i--) {
    const message = prompt.content[i]!
    if (message.role !== "user") continue
    return message.content.map((part) => (part.type === "text" ? part.text : "")).join("")
  }
  return ""
}

/** The role of the last message of a prompt. */
export const lastRole = (prompt: Prompt.Prompt): string | undefined => prompt.content.at(-1)?.role

/** 32-bit FNV-1a hash of a string. */
export const hash = (text: string, seed = 0): number => {
  let h = (0x811c9dc5 ^ seed) >>> 0
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

/** A small deterministic PRNG (mulberry32) returning floats in [0, 1). */
export const prng = (seed: number): () => number => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Splits text into streaming tokens of about `size` characters, keeping words whole where possible. */
export const chunkText = (text: string, size: number): Array<string> => {
  if (size <= 0 || text.length <= size) return text.length === 0 ? [] : [text]
  const out: Array<string> = []
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size))
  return out
}

/** The stream parts of a complete reply: reasoning, text, tool calls, then `finish`. */
export const replyParts = (reply: {
  readonly reasoning?: ReadonlyArray<string> | undefined
  readonly text?: ReadonlyArray<string> | undefined
  readonly toolCalls?:
    | ReadonlyArray<{ readonly id: string; readonly name: string; readonly params: unknown }>
    | undefined
  readonly finishReason: Response.FinishReason
  readonly usage: { readonly inputTokens: number; readonly outputTokens: number }
}): Array<Response.StreamPartEncoded> => {
  const parts: Array<Response.StreamPartEncoded> = []
  if (reply.reasoning && reply.reasoning.length > 0) {
    parts.push({ type: "reasoning-start", id: "reasoning-0" })
    for (const delta of reply.reasoning) parts.push({ type: "reasoning-delta", id: "reasoning-0", delta })
    parts.push({ type: "reasoning-end", id: "reasoning-0" })
  }
  if (reply.text && reply.text.length > 0) {
    parts.push({ type: "text-start", id: "text-0" })
    for (const delta of reply.text) parts.push({ type: "text-delta", id: "text-0", delta })
    parts.push({ type: "text-end", id: "text-0" })
  }
  for (const call of reply.toolCalls ?? []) {
    const json = JSON.stringify(call.params)
    parts.push({ type: "tool-params-start", id: call.id, name: call.name })
    parts.push({ type: "tool-params-delta", id: call.id, delta: json })
    parts.push({ type: "tool-params-end", id: call.id })
    parts.push({ type: "tool-call", id: call.id, name: call.name, params: call.params })
  }
  parts.push(finishPart(reply))
  return parts
}

const finishPart = (reply: Parameters<typeof replyParts>[0]): Response.FinishPartEncoded => ({
  type: "finish",
  reason: reply.finishReason,
  usage: {
    inputTokens: reply.usage.inputTokens,
    outputTokens: reply.usage.outputTokens,
    totalTokens: reply.usage.inputTokens + reply.usage.outputTokens
  }
})

/** The non-streaming parts of a complete reply. */
export const replyContent = (reply: Parameters<typeof replyParts>[0]): Array<Response.PartEncoded> => {
  const parts: Array<Response.PartEncoded> = []
  if (reply.reasoning && reply.reasoning.length > 0) parts.push({ type: "reasoning", text: reply.reasoning.join("") })
  if (reply.text && reply.text.length > 0) parts.push({ type: "text", text: reply.text.join("") })
  for (const call of reply.toolCalls ?? []) {
    parts.push({ type: "tool-call", id: call.id, name: call.name, params: call.params })
  }
  parts.push(finishPart(reply))
  return parts
}

/** Streams the parts of a complete reply, each text or reasoning delta after `tokenDelay` when one is set. */
export const streamReply = (
  reply: Parameters<typeof replyParts>[0],
  tokenDelay: Duration.DurationInput | undefined
): Stream.Stream<Response.StreamPartEncoded> => {
  const parts = Stream.fromIterable(replyParts(reply))
  return tokenDelay === undefined ?
    parts :
    Stream.mapEffect(
      parts,
      (part): Effect.Effect<Response.StreamPartEncoded> =>
        part.type === "text-delta" || part.type === "reasoning-delta"
          ? Effect.as(Effect.sleep(tokenDelay), part)
          : Effect.succeed(part)
    )
}
