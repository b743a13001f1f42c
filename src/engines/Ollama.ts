/**
 * The native Ollama engine: a `LanguageModel` that streams `POST {baseUrl}/api/chat` as newline-delimited JSON over
 * `@effect/platform`'s `HttpClient` (Ollama's OpenAI-compatible `/v1` is served by `OpenAiCompat.presets.ollama`).
 *
 * - `message.content` streams as `text-*` parts, `message.thinking` as `reasoning-*` parts (ask for thinking with
 *   `think: true`, or `"low" | "medium" | "high"` for the models that take a level).
 * - Tool calls arrive whole, with their `arguments` as a JSON object: each becomes `tool-params-start/delta/end` and
 *   a `tool-call` at once (Ollama gives no call ids, so the engine numbers them `call_<n>` unless one is sent).
 * - The final object (`done: true`) gives the finish reason (`done_reason`; `tool-calls` when the reply called
 *   tools) and the usage (`prompt_eval_count`, `eval_count`).
 * - Lines shaped like `/api/generate`'s (`response`, `thinking` at the top level) are read too.
 * - Structured output: the requested JSON schema goes in `format` (`structuredOutput: "format"`, the default), or
 *   `format: "json"` with the schema in the system prompt (`"json"`), or the system prompt only (`"prompt"`).
 *
 * Errors are `AiError`s carrying an `EngineError`, as for `OpenAiCompat`: HTTP errors by status (Ollama's
 * `{ "error": "…" }` message kept), a dropped connection or a stream that ends before `done` as `Transport`, a line
 * that is not JSON as `MalformedStream` with the raw line, an `{ "error": … }` line mid-stream as `ServerError` (an
 * `AiError.HttpResponseError` with status 500 and the server's message).
 *
 * @since 0.1.0
 */
import type * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Http from "../internal/engineHttp.js"
import * as Structured from "../internal/structured.js"
import * as Ndjson from "../Ndjson.js"
import * as SamplingModule from "../Sampling.js"
import * as StructuredOutput from "../StructuredOutput.js"

/**
 * The engine's configuration.
 *
 * - `baseUrl`: the server (default `http://localhost:11434`); `model`: the model id on the server;
 * - `options`: Ollama's model options, sent as is (`num_ctx`, `temperature`, …); `sampling`: the portable subset;
 * - `think`: ask for thinking (`true`/`false`, or a level); `keepAlive`: how long the model stays loaded;
 * - `structuredOutput`: `"format"` (default), `"json"` or `"prompt"`;
 * - `coalesceDeltas`: join the deltas of one block that arrive in one network chunk (default `true`, as in
 *   `OpenAiCompat`);
 * - `apiKey` (a bearer token, for hosted Ollama) and `headers`;
 * - `timeout`, `idleTimeout`: as in `OpenAiCompat` (a retryable `Timeout`); `engine`: the engine name in errors.
 *
 * @example
 * ```ts
 * import type * as Ollama from "sluice/engines/Ollama"
 *
 * const config: Ollama.Config = { model: "qwen3:8b", think: true, options: { num_ctx: 8192 } }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Config {
  readonly baseUrl?: string | undefined
  readonly model: string
  readonly options?: Readonly<Record<string, unknown>> | undefined
  readonly sampling?: SamplingModule.Sampling | undefined
  readonly think?: boolean | "low" | "medium" | "high" | undefined
  readonly keepAlive?: string | number | undefined
  readonly structuredOutput?: "format" | "json" | "prompt" | undefined
  readonly coalesceDeltas?: boolean | undefined
  readonly apiKey?: Redacted.Redacted | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly timeout?: Duration.DurationInput | undefined
  readonly idleTimeout?: Duration.DurationInput | undefined
  readonly engine?: string | undefined
}

/**
 * Builds the engine's `LanguageModel` service over the `HttpClient` in context.
 *
 * @example
 * ```ts
 * import * as Ollama from "sluice/engines/Ollama"
 *
 * const service = Ollama.make({ model: "llama3.2" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (config: Config): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> =>
  Effect.flatMap(HttpClient.HttpClient, (client) =>
    Http.makeService(client, {
      engine: config.engine ?? "Ollama",
      url: `${Http.trimUrl(config.baseUrl ?? "http://localhost:11434")}/api/chat`,
      accept: "application/x-ndjson",
      headers: config.headers,
      apiKey: config.apiKey,
      timeout: config.timeout,
      idleTimeout: config.idleTimeout,
      encode: (options, format, sampling) => encodeRequest(config, options, format, sampling),
      decoder: (context, toolNames) => new Decoder(context, toolNames, config.coalesceDeltas !== false)
    }))

/**
 * The engine as a `LanguageModel` Layer (it needs an `HttpClient`).
 *
 * @example
 * ```ts
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Layer } from "effect"
 * import * as Ollama from "sluice/engines/Ollama"
 *
 * const Engine = Ollama.layer({ model: "qwen3:8b", think: true }).pipe(Layer.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: Config): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> =>
  Layer.effect(LanguageModel.LanguageModel, make(config))

/**
 * The JSON body the engine sends to `/api/chat` for a call, or a description of why the prompt cannot be encoded.
 *
 * @example
 * ```ts
 * import { Prompt } from "@effect/ai"
 * import { Option } from "effect"
 * import * as Ollama from "sluice/engines/Ollama"
 *
 * const body = Ollama.encodeRequest(
 *   { model: "llama3.2" },
 *   { prompt: Prompt.make("Hi"), tools: [], toolChoice: "auto" },
 *   Option.none()
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const encodeRequest = (
  config: Config,
  options: Pick<LanguageModel.ProviderOptions, "prompt" | "tools" | "toolChoice">,
  format: Option.Option<StructuredOutput.Format>,
  sampling?: SamplingModule.Sampling | undefined
): Either.Either<Record<string, unknown>, string> => {
  const encoded = encodeMessages(options.prompt)
  if (Either.isLeft(encoded)) return Either.left(encoded.left)
  let messages = encoded.right
  const body: Record<string, unknown> = { model: config.model, messages, stream: true }
  const modelOptions = { ...samplingOptions(SamplingModule.merge(config.sampling, sampling)), ...config.options }
  if (Object.keys(modelOptions).length > 0) body.options = modelOptions
  if (config.think !== undefined) body.think = config.think
  if (config.keepAlive !== undefined) body.keep_alive = config.keepAlive
  const tools = Http.functionTools(options.tools)
  if (tools.length > 0 && options.toolChoice !== "none") body.tools = tools
  if (Option.isSome(format)) {
    const schema = Structured.jsonSchemaOf(format.value.schema)
    const mode = config.structuredOutput ?? "format"
    if (mode === "format") body.format = schema
    else {
      if (mode === "json") body.format = "json"
      messages = Http.withInstruction(messages, StructuredOutput.instruction(format.value))
      body.messages = messages
    }
  }
  return Either.right(body)
}

// =============================================================================
// internal: request encoding
// =============================================================================

type Message = Http.Message

const samplingOptions = (sampling: SamplingModule.Sampling | undefined): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  if (sampling === undefined) return out
  const set = (key: string, value: unknown) => {
    if (value !== undefined) out[key] = value
  }
  set("temperature", sampling.temperature)
  set("top_p", sampling.topP)
  set("top_k", sampling.topK)
  set("min_p", sampling.minP)
  set("num_predict", sampling.maxTokens)
  set("seed", sampling.seed)
  set("stop", typeof sampling.stop === "string" ? [sampling.stop] : sampling.stop)
  set("repeat_penalty", sampling.repetitionPenalty)
  set("frequency_penalty", sampling.frequencyPenalty)
  set("presence_penalty", sampling.presencePenalty)
  return out
}

const image = (part: Prompt.FilePart): Either.Either<string, string> => {
  if (!part.mediaType.startsWith("image/")) {
    return Either.left(`Ollama accepts images only, not files of type ${part.mediaType}`)
  }
  if (part.data instanceof URL) return Either.left("Ollama needs images inline (base64), not by URL")
  if (typeof part.data !== "string") return Either.right(Encoding.encodeBase64(part.data))
  const comma = part.data.startsWith("data:") ? part.data.indexOf(",") : -1
  if (/^https?:\/\//.test(part.data)) return Either.left("Ollama needs images inline (base64), not by URL")
  return Either.right(comma === -1 ? part.data : part.data.slice(comma + 1))
}

const encodeMessages = (prompt: Prompt.Prompt): Either.Either<Array<Message>, string> =>
  Http.encodePrompt<Message>(prompt, {
    system: (message, out) => {
      out.push({ role: "system", content: message.content })
    },
    user: (message, out) => {
      let content = ""
      const images: Array<string> = []
      for (const part of message.content) {
        if (part.type === "text") content += part.text
        else {
          const data = image(part)
          if (Either.isLeft(data)) return data.left
          images.push(data.right)
        }
      }
      out.push({ role: "user", content, ...(images.length > 0 ? { images } : {}) })
    },
    assistant: (message, out) => {
      let content = ""
      let thinking = ""
      const toolCalls: Array<Message> = []
      for (const part of message.content) {
        if (part.type === "text") content += part.text
        else if (part.type === "reasoning") thinking += part.text
        else if (part.type === "tool-call" && !part.providerExecuted) {
          toolCalls.push({ function: { name: part.name, arguments: part.params ?? {} } })
        }
      }
      out.push({
        role: "assistant",
        content,
        ...(thinking.length > 0 ? { thinking } : {}),
        ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {})
      })
    },
    tool: (message, out) => {
      for (const part of message.content) {
        out.push({ role: "tool", tool_name: part.name, content: Http.stringify(part.result) })
      }
    }
  })

// =============================================================================
// internal: stream decoding
// =============================================================================

type Part = Response.StreamPartEncoded

const isObject = (u: unknown): u is Record<string, any> => typeof u === "object" && u !== null

const numberOr = (u: unknown): number | undefined => (typeof u === "number" ? u : undefined)

class Decoder implements Http.ChunkDecoder {
  readonly parser = Ndjson.makeParser()
  error: AiError.AiError | undefined = undefined
  private calls = 0
  private metadata = false
  private done = false
  private finish: Part | undefined = undefined

  readonly deltas: Http.Deltas

  constructor(readonly context: Http.CallContext, readonly toolNames: ReadonlySet<string>, coalesce: boolean) {
    this.deltas = new Http.Deltas(coalesce)
  }

  feed(bytes: Uint8Array, out: Array<Part>): void {
    this.lines(this.parser.feed(bytes), out)
    this.deltas.flush(out)
  }

  end(out: Array<Part>): void {
    if (this.error !== undefined) return
    this.lines(this.parser.end(), out)
    this.deltas.flush(out)
    if (this.error !== undefined) return
    if (!this.done || this.finish === undefined) {
      this.error = Http.truncated(this.context)
      return
    }
    this.deltas.push(out, this.finish)
  }

  private lines(values: ReadonlyArray<unknown>, out: Array<Part>): void {
    for (let i = 0; i < values.length && this.error === undefined; i++) {
      const value = values[i]
      if (isObject(value)) this.line(value, out)
    }
    const error = this.parser.error
    if (error !== undefined && this.error === undefined) {
      this.error = Http.malformed(this.context, error.line, error.message)
    }
  }

  private line(json: Record<string, any>, out: Array<Part>): void {
    if (this.done) return
    if (json.error !== undefined && json.error !== null) {
      this.error = Http.streamError(this.context, json.error, JSON.stringify(json))
      return
    }
    if (!this.metadata) {
      this.metadata = true
      this.deltas.push(out, {
        type: "response-metadata",
        ...(typeof json.model === "string" ? { modelId: json.model } : {}),
        ...(typeof json.created_at === "string" && !Number.isNaN(Date.parse(json.created_at))
          ? { timestamp: new Date(json.created_at).toISOString() }
          : {})
      })
    }
    const message = isObject(json.message) ? json.message : json
    const thinking = message.thinking
    if (typeof thinking === "string" && thinking.length > 0) {
      this.deltas.reasoningDelta(out, thinking)
    }
    const content = isObject(json.message) ? message.content : json.response
    if (typeof content === "string" && content.length > 0) {
      this.deltas.textDelta(out, content)
    }
    if (Array.isArray(message.tool_calls)) {
      for (const call of message.tool_calls) {
        if (this.error !== undefined) return
        if (isObject(call)) this.toolCall(call, out)
      }
    }
    if (json.done === true) {
      this.done = true
      this.deltas.closeReasoning(out)
      this.deltas.closeText(out)
      const inputTokens = numberOr(json.prompt_eval_count)
      const outputTokens = numberOr(json.eval_count)
      const reason: Response.FinishReason = this.calls > 0
        ? "tool-calls"
        : json.done_reason === "length"
        ? "length"
        : json.done_reason === "stop" || json.done_reason === undefined || json.done_reason === null
        ? "stop"
        : "other"
      this.finish = {
        type: "finish",
        reason,
        usage: {
          inputTokens,
          outputTokens,
          totalTokens: inputTokens === undefined && outputTokens === undefined
            ? undefined
            : (inputTokens ?? 0) + (outputTokens ?? 0)
        }
      }
    }
  }

  private toolCall(call: Record<string, any>, out: Array<Part>): void {
    const fn = isObject(call.function) ? call.function : call
    const name = typeof fn.name === "string" ? fn.name : ""
    const id = typeof call.id === "string" && call.id.length > 0 ? call.id : `call_${this.calls}`
    this.calls++
    let params: unknown = fn.arguments ?? {}
    const raw = typeof params === "string" ? params : JSON.stringify(params)
    if (typeof params === "string") {
      const parsed = Http.tryParse(params)
      if (parsed === Http.Malformed) {
        this.error = Http.malformed(this.context, raw, `the arguments of tool call ${id} (${name}) are not valid JSON`)
        return
      }
      params = parsed
    }
    this.deltas.closeReasoning(out)
    this.deltas.closeText(out)
    this.deltas.push(out, { type: "tool-params-start", id, name })
    this.deltas.push(out, { type: "tool-params-delta", id, delta: raw })
    this.deltas.push(out, { type: "tool-params-end", id })
    if (!this.toolNames.has(name)) {
      this.error = Http.malformed(
        this.context,
        raw,
        `the model called the tool "${name}", which the request did not offer`
      )
      return
    }
    this.deltas.push(out, { type: "tool-call", id, name, params })
  }
}
