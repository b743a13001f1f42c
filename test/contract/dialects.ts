/**
 * Scripted replies in each HTTP dialect (Chat Completions SSE, Ollama NDJSON, Responses SSE or JSON), built from one
 * abstract reply, and the expectations of the recorded transcripts (from their `.meta.json`).
 */
import * as fs from "node:fs"
import * as ScriptedServer from "../../src/testing/ScriptedServer.js"

export interface ToolCall {
  readonly id: string
  readonly name: string
  readonly params: unknown
}

/** An abstract reply: text (streamed in `tokens`), tool calls, or both. */
export interface Reply {
  readonly text?: string | undefined
  readonly reasoning?: string | undefined
  readonly toolCalls?: ReadonlyArray<ToolCall> | undefined
}

export type Dialect = "openai-chat" | "ollama" | "openai-responses"

/** Splits text into small tokens (3 characters), as a server streams them. */
export const tokens = (text: string, size = 3): Array<string> => {
  const out: Array<string> = []
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size))
  return out
}

/** Splits a string into `n` fragments of roughly equal size (for tool-call arguments). */
const fragments = (text: string, n: number): Array<string> => {
  const size = Math.max(1, Math.ceil(text.length / n))
  return tokens(text, size)
}

// -----------------------------------------------------------------------------
// Chat Completions
// -----------------------------------------------------------------------------

const chunk = (delta: unknown, finish: string | null = null) => ({
  id: "chatcmpl-scripted",
  object: "chat.completion.chunk",
  created: 1_700_000_000,
  model: "scripted",
  choices: [{ index: 0, delta, finish_reason: finish }]
})

export const openAiChatEvents = (reply: Reply): Array<unknown> => {
  const events: Array<unknown> = [chunk({ role: "assistant", content: "" })]
  for (const t of tokens(reply.reasoning ?? "")) events.push(chunk({ reasoning_content: t }))
  for (const t of tokens(reply.text ?? "")) events.push(chunk({ content: t }))
  const calls = reply.toolCalls ?? []
  // parallel calls, interleaved: each call's header, then the argument fragments of all calls in turn
  calls.forEach((call, index) =>
    events.push(chunk({
      tool_calls: [{ index, id: call.id, type: "function", function: { name: call.name, arguments: "" } }]
    }))
  )
  const args = calls.map((call) => fragments(JSON.stringify(call.params), 4))
  for (let f = 0; f < 4; f++) {
    calls.forEach((_, index) => {
      const fragment = args[index]![f]
      if (fragment !== undefined) {
        events.push(chunk({ tool_calls: [{ index, function: { name: "", arguments: fragment } }] }))
      }
    })
  }
  events.push(chunk({}, calls.length > 0 ? "tool_calls" : "stop"))
  events.push({
    id: "chatcmpl-scripted",
    object: "chat.completion.chunk",
    created: 1_700_000_000,
    model: "scripted",
    choices: [],
    usage: { prompt_tokens: 11, completion_tokens: 22, total_tokens: 33 }
  })
  return events
}

// -----------------------------------------------------------------------------
// Ollama
// -----------------------------------------------------------------------------

export const ollamaLines = (reply: Reply): Array<unknown> => {
  const line = (message: Record<string, unknown>) => ({
    model: "scripted",
    created_at: "2025-01-01T00:00:00Z",
    message: { role: "assistant", content: "", ...message },
    done: false
  })
  const lines: Array<unknown> = []
  for (const t of tokens(reply.reasoning ?? "")) lines.push(line({ thinking: t }))
  for (const t of tokens(reply.text ?? "")) lines.push(line({ content: t }))
  const calls = reply.toolCalls ?? []
  if (calls.length > 0) {
    lines.push(line({ tool_calls: calls.map((call) => ({ function: { name: call.name, arguments: call.params } })) }))
  }
  lines.push({
    model: "scripted",
    created_at: "2025-01-01T00:00:01Z",
    message: { role: "assistant", content: "" },
    done: true,
    done_reason: "stop",
    prompt_eval_count: 11,
    eval_count: 22
  })
  return lines
}

// -----------------------------------------------------------------------------
// Responses
// -----------------------------------------------------------------------------

const responseObject = (status: string, output: Array<unknown>, usage: unknown) => ({
  id: "resp_scripted",
  object: "response",
  created_at: 1_700_000_000,
  status,
  background: false,
  error: null,
  incomplete_details: null,
  instructions: null,
  max_output_tokens: null,
  max_tool_calls: null,
  model: "scripted",
  output,
  parallel_tool_calls: true,
  previous_response_id: null,
  reasoning: { effort: null, summary: null },
  service_tier: "default",
  store: true,
  temperature: 1,
  text: { format: { type: "text" }, verbosity: "medium" },
  tool_choice: "auto",
  tools: [],
  top_logprobs: 0,
  top_p: 1,
  truncation: "disabled",
  usage,
  user: null,
  metadata: {}
})

const USAGE = {
  input_tokens: 11,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: 22,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: 33
}

const outputItems = (reply: Reply): Array<Record<string, unknown>> => {
  const items: Array<Record<string, unknown>> = []
  if (reply.text !== undefined) {
    items.push({
      id: "msg_scripted",
      type: "message",
      status: "completed",
      role: "assistant",
      content: [{ type: "output_text", text: reply.text, annotations: [], logprobs: [] }]
    })
  }
  ;(reply.toolCalls ?? []).forEach((call, i) =>
    items.push({
      id: `fc_${i}`,
      type: "function_call",
      call_id: call.id,
      name: call.name,
      arguments: JSON.stringify(call.params),
      status: "completed"
    })
  )
  return items
}

/** The non-streaming Responses API reply (for `generateText`). */
export const responsesJson = (reply: Reply): unknown => responseObject("completed", outputItems(reply), USAGE)

export const responsesEvents = (reply: Reply): Array<Record<string, unknown>> => {
  let seq = 0
  const events: Array<Record<string, unknown>> = []
  const push = (event: Record<string, unknown>) => events.push({ ...event, sequence_number: seq++ })
  push({ type: "response.created", response: responseObject("in_progress", [], null) })
  push({ type: "response.in_progress", response: responseObject("in_progress", [], null) })
  const items = outputItems(reply)
  items.forEach((item, output_index) => {
    if (item.type === "message") {
      const text = reply.text ?? ""
      push({
        type: "response.output_item.added",
        output_index,
        item: { id: item.id, type: "message", status: "in_progress", role: "assistant", content: [] }
      })
      const part = { type: "output_text", annotations: [], logprobs: [], text: "" }
      const ids = { item_id: item.id, output_index, content_index: 0 }
      push({ type: "response.content_part.added", ...ids, part })
      for (const delta of tokens(text)) push({ type: "response.output_text.delta", ...ids, delta, logprobs: [] })
      push({ type: "response.output_text.done", ...ids, text, logprobs: [] })
      push({ type: "response.content_part.done", ...ids, part: { ...part, text } })
      push({ type: "response.output_item.done", output_index, item })
    } else {
      push({
        type: "response.output_item.added",
        output_index,
        item: { ...item, arguments: "", status: "in_progress" }
      })
      for (const delta of fragments(item.arguments as string, 3)) {
        push({ type: "response.function_call_arguments.delta", item_id: item.id, output_index, delta })
      }
      push({
        type: "response.function_call_arguments.done",
        item_id: item.id,
        output_index,
        arguments: item.arguments
      })
      push({ type: "response.output_item.done", output_index, item })
    }
  })
  push({ type: "response.completed", response: responseObject("completed", items, USAGE) })
  return events
}

/** A ScriptedServer reply for an abstract reply in a dialect (Responses: JSON for non-streaming requests). */
export const serve = (
  dialect: Dialect,
  reply: Reply,
  options?: Omit<ScriptedServer.Reply, "body"> | undefined
): ScriptedServer.Reply | ((request: ScriptedServer.Request) => ScriptedServer.Reply) => {
  switch (dialect) {
    case "openai-chat":
      return ScriptedServer.sse(openAiChatEvents(reply), options)
    case "ollama":
      return ScriptedServer.ndjson(ollamaLines(reply), options)
    case "openai-responses":
      return (request) =>
        (request.body as { stream?: boolean } | undefined)?.stream === true
          ? ScriptedServer.sse(responsesEvents(reply), { ...options, done: false })
          : { status: 200, headers: { "content-type": "application/json" }, body: JSON.stringify(responsesJson(reply)) }
  }
}

/** The reply of a dialect's server to one request. */
export const replyTo = (
  dialect: Dialect,
  reply: Reply,
  request: ScriptedServer.Request,
  options?: Omit<ScriptedServer.Reply, "body"> | undefined
): ScriptedServer.Reply => {
  const served = serve(dialect, reply, options)
  return typeof served === "function" ? served(request) : served
}

// -----------------------------------------------------------------------------
// Transcripts
// -----------------------------------------------------------------------------

export const transcriptsDir = "test/fixtures/transcripts"

export interface Expected {
  readonly text: string
  readonly reasoning: string
  readonly toolCalls: ReadonlyArray<{ readonly name: string; readonly params: unknown }>
  readonly finish: string | undefined
  readonly refusal?: string | undefined
}

export interface Transcript {
  readonly file: string
  readonly dialect: Dialect
  readonly expected: Expected
  /** The transcript's body when the test serves a normalised copy rather than the file. */
  readonly body?: string | undefined
  /** What replaying it must give: the expected reply, or a typed failure (after the parts before it). */
  readonly outcome: "reply" | "failure"
  readonly note?: string | undefined
}

const meta = (file: string): any => JSON.parse(fs.readFileSync(`${transcriptsDir}/${file}.meta.json`, "utf8"))

const finishOf = (reason: unknown, toolCalls: number, refusal: string | undefined): string | undefined => {
  if (refusal !== undefined && refusal.length > 0) return "content-filter"
  if (toolCalls > 0) return "tool-calls"
  if (reason === "stop" || reason === null) return "stop"
  if (reason === "tool_calls") return "tool-calls"
  return reason === undefined ? undefined : String(reason)
}

export const chatTranscript = (file: string): Transcript => {
  const e = meta(file).expected
  const toolCalls = (e.tool_calls ?? []).map((call: any) => ({ name: call.name, params: call.arguments_parsed }))
  return {
    file,
    dialect: "openai-chat",
    outcome: "reply",
    expected: {
      text: e.text,
      reasoning: e.reasoning ?? "",
      toolCalls,
      finish: finishOf(e.finish_reason, toolCalls.length, e.refusal),
      refusal: e.refusal
    }
  }
}

export const ollamaTranscript = (file: string): Transcript => {
  const e = meta(file).expected
  const toolCalls = (e.tool_calls ?? []).map((call: any) => ({
    name: call.function.name,
    params: call.function.arguments
  }))
  return {
    file,
    dialect: "ollama",
    outcome: "reply",
    expected: {
      text: e.text,
      reasoning: e.thinking ?? "",
      toolCalls,
      finish: finishOf(e.final.done_reason, toolCalls.length, undefined)
    }
  }
}

/** Adds the `sequence_number` the real API always sends to events that lack it (hand-shaped fixtures). */
export const withSequenceNumbers = (body: string): string => {
  let n = 0
  return body.split("\n").map((line) => {
    if (!line.startsWith("data: ")) return line
    n++
    const data = line.slice(6)
    if (!data.startsWith("{") || data.includes("\"sequence_number\"")) return line
    return `data: {"sequence_number":${n - 1},${data.slice(1)}`
  }).join("\n")
}

export const responsesTranscripts = (): Array<Transcript> => {
  const expected = (file: string): Expected => {
    const e = meta(file).expected
    return {
      text: e.output_text,
      reasoning: "",
      toolCalls: [],
      finish: e.final_status === "completed" ? "stop" : undefined
    }
  }
  const read = (file: string) => fs.readFileSync(`${transcriptsDir}/${file}`, "utf8")
  const web = "openai-responses.web-search-then-text.vercel.sse"
  const custom = "openai-responses.custom-tool-input-delta.vercel.sse"
  const parallel = "openai-responses.parallel-tool-call-wrapper.vercel.sse"
  const parallelArgs = JSON.parse(meta(parallel).expected.streamed_tool_arguments_by_item.fc_parallel)
  return [
    {
      file: web,
      dialect: "openai-responses",
      outcome: "failure",
      expected: expected(web),
      note: "@effect/ai-openai 0.41's WebSearch tool schema lacks the recorded `find_in_page` action"
    },
    {
      file: `${web} (find_in_page read as find)`,
      body: read(web).replaceAll("\"find_in_page\"", "\"find\""),
      dialect: "openai-responses",
      outcome: "reply",
      expected: expected(web)
    },
    {
      file: custom,
      dialect: "openai-responses",
      outcome: "failure",
      expected: expected(custom),
      note: "hand-shaped events without `sequence_number` are all skipped: no response.completed"
    },
    {
      file: `${custom} (with sequence numbers)`,
      body: withSequenceNumbers(read(custom)),
      dialect: "openai-responses",
      outcome: "reply",
      expected: { ...expected(custom), finish: "stop" },
      note: "@effect/ai-openai 0.41 ignores custom_tool_call items: no tool call surfaces"
    },
    {
      file: `${parallel} (with sequence numbers)`,
      body: withSequenceNumbers(read(parallel)),
      dialect: "openai-responses",
      outcome: "failure",
      expected: { ...expected(parallel), toolCalls: [{ name: "parallel", params: parallelArgs }] },
      note: "2 malformed events are skipped (one is response.completed): the tool call streams, then a typed failure"
    }
  ]
}
