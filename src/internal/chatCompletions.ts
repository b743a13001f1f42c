/**
 * The hot path of the Chat Completions engine: SSE bytes in, `@effect/ai` stream parts out, one call per network
 * chunk. Plain synchronous code (see `OpenAiCompat` for the behaviour it implements).
 */
import type * as AiError from "@effect/ai/AiError"
import type * as Response from "@effect/ai/Response"
import * as Sse from "../Sse.js"
import * as Http from "./engineHttp.js"

type Part = Response.StreamPartEncoded

interface ToolState {
  readonly index: number
  id: string
  name: string
  args: string
  started: boolean
}

const FINISH: Record<string, Response.FinishReason> = {
  stop: "stop",
  end_turn: "stop",
  eos: "stop",
  length: "length",
  max_tokens: "length",
  tool_calls: "tool-calls",
  function_call: "tool-calls",
  tool_use: "tool-calls",
  content_filter: "content-filter",
  error: "error"
}

const isObject = (u: unknown): u is Record<string, any> => typeof u === "object" && u !== null

/**
 * The per-stream decoding state. Plain synchronous code: it runs once per network chunk, for every SSE event in it.
 *
 * Only choice 0 is read; a finish reason is recorded, not acted on: everything up to `[DONE]` (or the end of the
 * body) is decoded, and the tool calls are closed then. Errors are read in every shape servers send them: an `error`
 * object (also beside `choices`, as OpenRouter does), an `event: error`, an SSE field named `error` (llama.cpp's
 * server) and an unwrapped `{"object":"error"}` (older vLLM).
 */
export class ChatDecoder implements Http.ChunkDecoder {
  readonly parser: Sse.Parser
  error: AiError.AiError | undefined = undefined
  private readonly tools = new Map<number, ToolState>()
  private metadata = false
  private finishReason: string | undefined = undefined
  private done = false
  private refusal = ""
  private usage: Record<string, any> | undefined = undefined

  readonly deltas: Http.Deltas

  constructor(
    readonly context: Http.CallContext,
    readonly toolNames: ReadonlySet<string>,
    readonly skipMalformed: boolean,
    coalesce: boolean,
    readonly passInvalidToolCalls = false
  ) {
    this.deltas = new Http.Deltas(coalesce)
    this.parser = Sse.makeParser({
      onField: (name, value) => {
        if (name === "error" && this.error === undefined) {
          const json = Http.tryParse(value)
          this.error = Http.streamError(this.context, json === Http.Malformed ? value : json, value)
        }
      }
    })
  }

  feed(bytes: Uint8Array, out: Array<Part>): void {
    const events = this.parser.feed(bytes)
    for (let i = 0; i < events.length && this.error === undefined; i++) {
      const event = events[i]!
      const data = event.data
      if (data === "[DONE]") {
        this.done = true
        continue
      }
      const json = Http.tryParse(data)
      if (json === Http.Malformed) {
        if (event.event === "error") this.error = Http.streamError(this.context, data, data)
        else if (!this.skipMalformed) {
          this.error = Http.malformed(this.context, data, "a stream chunk is not valid JSON")
        }
        continue
      }
      if (!isObject(json)) continue
      const error = json.error ?? undefined
      if (error !== undefined || event.event === "error" || json.object === "error") {
        this.error = Http.streamError(this.context, error ?? json, data)
      } else {
        this.chunk(json, out)
      }
    }
    if (this.parser.error !== undefined && this.error === undefined) {
      this.error = Http.malformed(this.context, "", this.parser.error.message)
    }
    this.deltas.flush(out)
  }

  end(out: Array<Part>): void {
    if (this.error !== undefined) return
    if (this.finishReason === undefined && !this.done) {
      this.error = Http.truncated(this.context)
      return
    }
    this.finish(out)
    if (this.error !== undefined) return
    const usage = this.usage
    const details = usage?.completion_tokens_details
    const cached = usage?.prompt_tokens_details?.cached_tokens
    let reason: Response.FinishReason = this.finishReason === undefined
      ? this.tools.size > 0 ? "tool-calls" : "unknown"
      : FINISH[this.finishReason] ?? "other"
    if (this.refusal.length > 0) reason = "content-filter"
    this.deltas.push(out, {
      type: "finish",
      reason,
      usage: {
        inputTokens: numberOr(usage?.prompt_tokens),
        outputTokens: numberOr(usage?.completion_tokens),
        totalTokens: numberOr(usage?.total_tokens),
        ...(typeof details?.reasoning_tokens === "number" ? { reasoningTokens: details.reasoning_tokens } : {}),
        ...(typeof cached === "number" ? { cachedInputTokens: cached } : {})
      },
      ...(this.refusal.length > 0 ? { metadata: { openaiCompat: { refusal: this.refusal } } } : {})
    })
  }

  private chunk(json: Record<string, any>, out: Array<Part>): void {
    // a placeholder first chunk (Azure's prompt-filter results: empty id and model) does not name the response
    if (!this.metadata && (nonEmpty(json.id) || nonEmpty(json.model))) {
      this.metadata = true
      const timestamp = Http.isoFromSeconds(json.created)
      this.deltas.push(out, {
        type: "response-metadata",
        ...(nonEmpty(json.id) ? { id: json.id } : {}),
        ...(nonEmpty(json.model) ? { modelId: json.model } : {}),
        ...(timestamp === undefined ? {} : { timestamp })
      })
    }
    if (isObject(json.usage)) this.usage = json.usage
    const choices = json.choices
    if (!Array.isArray(choices)) return
    for (let i = 0; i < choices.length; i++) {
      const choice = choices[i]
      if (isObject(choice) && (choice.index === 0 || choice.index === undefined)) this.choice(choice, out)
    }
  }

  private choice(choice: Record<string, any>, out: Array<Part>): void {
    const delta = isObject(choice.delta) ? choice.delta : isObject(choice.message) ? choice.message : undefined
    if (delta !== undefined) {
      const reasoning = typeof delta.reasoning_content === "string" ? delta.reasoning_content : delta.reasoning
      if (typeof reasoning === "string" && reasoning.length > 0) {
        this.deltas.reasoningDelta(out, reasoning)
      }
      const content = delta.content
      if (typeof content === "string") {
        if (content.length > 0) this.deltas.textDelta(out, content)
      } else if (Array.isArray(content)) {
        this.contentParts(content, out)
      }
      if (typeof delta.refusal === "string") this.refusal += delta.refusal
      if (Array.isArray(delta.tool_calls)) this.toolDeltas(delta.tool_calls, out)
    }
    const finish = choice.finish_reason
    if (typeof finish === "string" && finish.length > 0) this.finishReason = finish
  }

  /** Content as an array of parts (Mistral's thinking models): `text` parts and `thinking` parts. */
  private contentParts(parts: ReadonlyArray<unknown>, out: Array<Part>): void {
    for (const part of parts) {
      if (typeof part === "string") {
        if (part.length > 0) this.deltas.textDelta(out, part)
      } else if (isObject(part)) {
        if (part.type === "text" && typeof part.text === "string" && part.text.length > 0) {
          this.deltas.textDelta(out, part.text)
        } else if (part.type === "thinking") {
          const thinking = Array.isArray(part.thinking) ? part.thinking : [part.thinking]
          for (const t of thinking) {
            const text = typeof t === "string" ? t : isObject(t) && typeof t.text === "string" ? t.text : ""
            if (text.length > 0) this.deltas.reasoningDelta(out, text)
          }
        }
      }
    }
  }

  private toolDeltas(calls: ReadonlyArray<unknown>, out: Array<Part>): void {
    for (let i = 0; i < calls.length; i++) {
      const call = calls[i]
      if (!isObject(call)) continue
      const index = typeof call.index === "number" ? call.index : i
      const fn = isObject(call.function) ? call.function : undefined
      let tool = this.tools.get(index)
      if (tool === undefined) {
        this.deltas.closeText(out)
        this.deltas.closeReasoning(out)
        tool = {
          index,
          id: typeof call.id === "string" && call.id.length > 0 ? call.id : `call_${index}`,
          name: "",
          args: "",
          started: false
        }
        this.tools.set(index, tool)
      } else if (typeof call.id === "string" && call.id.length > 0 && !tool.started) {
        tool.id = call.id
      }
      if (tool.name.length === 0 && typeof fn?.name === "string" && fn.name.length > 0) tool.name = fn.name
      const args = fn?.arguments
      const fragment = typeof args === "string" ? args : isObject(args) ? JSON.stringify(args) : ""
      if (!tool.started && tool.name.length > 0) {
        tool.started = true
        this.deltas.push(out, { type: "tool-params-start", id: tool.id, name: tool.name })
        if (tool.args.length > 0) this.deltas.push(out, { type: "tool-params-delta", id: tool.id, delta: tool.args })
      }
      if (fragment.length > 0) {
        tool.args += fragment
        if (tool.started) this.deltas.push(out, { type: "tool-params-delta", id: tool.id, delta: fragment })
      }
    }
  }

  private finish(out: Array<Part>): void {
    this.deltas.closeReasoning(out)
    this.deltas.closeText(out)
    const tools = [...this.tools.values()].sort((a, b) => a.index - b.index)
    for (const tool of tools) {
      if (!tool.started) {
        tool.started = true
        this.deltas.push(out, { type: "tool-params-start", id: tool.id, name: tool.name })
        if (tool.args.length > 0) this.deltas.push(out, { type: "tool-params-delta", id: tool.id, delta: tool.args })
      }
      this.deltas.push(out, { type: "tool-params-end", id: tool.id })
      const text = tool.args.trim()
      const params = text.length === 0 ? {} : Http.tryParse(text)
      if (this.passInvalidToolCalls) {
        const passed = params === Http.Malformed ? tool.args : params
        this.deltas.push(out, { type: "tool-call", id: tool.id, name: tool.name, params: passed })
        continue
      }
      if (!this.toolNames.has(tool.name)) {
        this.error = Http.malformed(
          this.context,
          tool.args,
          `the model called the tool "${tool.name}", which the request did not offer`
        )
        return
      }
      if (params === Http.Malformed) {
        this.error = Http.malformed(
          this.context,
          tool.args,
          `the arguments of tool call ${tool.id} (${tool.name}) are not valid JSON`
        )
        return
      }
      this.deltas.push(out, { type: "tool-call", id: tool.id, name: tool.name, params })
    }
  }
}

const numberOr = (u: unknown): number | undefined => (typeof u === "number" ? u : undefined)

const nonEmpty = (u: unknown): u is string => typeof u === "string" && u.length > 0
