/**
 * The OpenAI-compatible Chat Completions engine: a `LanguageModel` that streams `POST {baseUrl}/chat/completions`
 * (`stream: true`) over `@effect/platform`'s `HttpClient`. It speaks to OpenAI, vLLM, Ollama's `/v1`, OpenRouter,
 * llama.cpp's server, LM Studio and any other server of that dialect ({@link presets}).
 *
 * The stream is decoded per network chunk, not per token: the bytes go through sluice's incremental SSE parser
 * (`Sse.makeParser`), each event is `JSON.parse`d once, the deltas of one block in one network chunk are joined
 * into one part (`coalesceDeltas`), and the chunk's parts leave as one `Chunk`.
 *
 * - Text (`delta.content`) and thinking (`delta.reasoning_content`, or `delta.reasoning`) stream as
 *   `text-*` / `reasoning-*` parts; content sent as an array of parts (Mistral's thinking models) streams its `text`
 *   parts as text and its `thinking` parts as thinking.
 * - Tool calls are assembled by `index` (arguments in fragments, several calls in parallel, an index starting at 1,
 *   a later delta with an empty `name` that must not overwrite the name): `tool-params-start/delta/end` stream as the
 *   arguments arrive, and one `tool-call` per call (arguments parsed as JSON) follows when the stream ends.
 * - A refusal (`delta.refusal`) is not text: it ends the reply with finish reason `content-filter`, and its text is
 *   in the `finish` part's metadata, under `openaiCompat.refusal`.
 * - Finish reasons map to `@effect/ai`'s; the final usage chunk (`stream_options.include_usage`) gives the usage,
 *   with reasoning and cached-input tokens when the server reports them.
 * - Only the first choice (`index` 0) is read: other choices' text and finish reasons are ignored. A finish reason
 *   ends nothing: what arrives after it, until `[DONE]`, is decoded too (tool calls split over finishing chunks).
 * - The response metadata (id, model, time) comes from the first chunk that names the response, not from a
 *   placeholder with an empty id and model (Azure's prompt-filter chunk).
 *
 * Structured output: when the call asks for a JSON value (`generateObject`, or `StructuredOutput.withFormat` around
 * `streamText`), its schema goes through the channel set by `structuredOutput`: `"json_schema"` (OpenAI's
 * `response_format`, `strict`), `"vllm"` (vLLM's `structured_outputs: { json }`), `"guided_json"` (vLLM before
 * 0.10.2), `"json_object"` (plain JSON mode, schema in the system prompt) or `"prompt"` (schema in the system prompt
 * only).
 *
 * Errors are `AiError`s carrying an `EngineError` (see `EngineError.fromAiError`): HTTP errors by status, a dropped
 * connection or a stream that ends before the model finished as a retryable `Transport` error, a chunk that is not
 * JSON as `MalformedStream` (or skipped, with `malformedChunks: "skip"`). An error sent inside the stream fails the
 * call with the server's message and the reason its code names (an `AiError.HttpResponseError` with that status;
 * 500 when it names none), in each shape servers send one: an `error` object (also beside `choices`, as OpenRouter
 * sends it), an `event: error`, an SSE field named `error` (llama.cpp's server) or an unwrapped `{"object":"error"}`
 * (vLLM before 0.6). `generateText` runs the same streaming request and folds its parts.
 *
 * @since 0.1.0
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as Config_ from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { ChatDecoder } from "../internal/chatCompletions.js"
import * as Http from "../internal/engineHttp.js"
import * as Structured from "../internal/structured.js"
import * as SamplingModule from "../Sampling.js"
import * as StructuredOutput from "../StructuredOutput.js"

/**
 * How a requested JSON schema reaches the backend (see the module documentation).
 *
 * @example
 * ```ts
 * import type * as OpenAiCompat from "sluice/engines/OpenAiCompat"
 *
 * const mode: OpenAiCompat.StructuredOutputMode = "vllm"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type StructuredOutputMode = "json_schema" | "vllm" | "guided_json" | "json_object" | "prompt"

/**
 * The engine's configuration.
 *
 * - `baseUrl`: the API root, e.g. `http://localhost:8000/v1` (the engine appends `/chat/completions`);
 * - `model`: the model id on the server; `apiKey` (sent as a bearer token); `headers` (extra headers, e.g. OpenRouter's);
 * - `sampling`: defaults sent with every request (a call's `Sampling.withSampling` settings override them); `maxTokensField`: `"max_tokens"` (default) or
 *   `"max_completion_tokens"` (OpenAI's reasoning models);
 * - `structuredOutput` (default `"json_schema"`) and `strict` (default `true`);
 * - `streamUsage`: ask for the final usage chunk (`stream_options.include_usage`, default `true`);
 * - `timeout`: the longest wait for the response headers; `idleTimeout`: the longest gap between two chunks of the
 *   body (both fail with a retryable `Timeout`; none by default);
 * - `malformedChunks`: `"fail"` (default) or `"skip"` a chunk that is not valid JSON;
 * - `invalidToolCalls`: `"fail"` (default: `MalformedStream`) or `"pass"` a call to a tool the request did not offer,
 *   or one whose arguments are not JSON (then passed as the raw text): an `Agent` answers those with an error
 *   result the model can read and correct;
 * - `coalesceDeltas`: the text (or reasoning) deltas that arrive in one network chunk leave as one part (default
 *   `true`: the same text at the same time, with the per-part costs of `LanguageModel` paid once per chunk rather
 *   than once per token); `false` gives one part per server event;
 * - `extraBody`: fields merged into every request body (server-specific knobs);
 * - `engine`: the engine name in errors (default `"OpenAiCompat"`).
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import type * as OpenAiCompat from "sluice/engines/OpenAiCompat"
 *
 * const config: OpenAiCompat.Config = {
 *   baseUrl: "http://localhost:8000/v1",
 *   model: "Qwen/Qwen3-8B",
 *   apiKey: Redacted.make("token-abc"),
 *   sampling: { temperature: 0 },
 *   structuredOutput: "vllm"
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Config {
  readonly baseUrl: string
  readonly model: string
  readonly apiKey?: Redacted.Redacted | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly sampling?: SamplingModule.Sampling | undefined
  readonly maxTokensField?: "max_tokens" | "max_completion_tokens" | undefined
  readonly structuredOutput?: StructuredOutputMode | undefined
  readonly strict?: boolean | undefined
  readonly streamUsage?: boolean | undefined
  readonly timeout?: Duration.DurationInput | undefined
  readonly idleTimeout?: Duration.DurationInput | undefined
  readonly malformedChunks?: "fail" | "skip" | undefined
  readonly invalidToolCalls?: "fail" | "pass" | undefined
  readonly coalesceDeltas?: boolean | undefined
  readonly extraBody?: Readonly<Record<string, unknown>> | undefined
  readonly engine?: string | undefined
}

/**
 * Builds the engine's `LanguageModel` service over the `HttpClient` in context.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as OpenAiCompat from "sluice/engines/OpenAiCompat"
 *
 * const service = OpenAiCompat.make({ baseUrl: "http://localhost:11434/v1", model: "llama3.2" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (config: Config): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> =>
  Effect.flatMap(HttpClient.HttpClient, (client) => {
    const skipMalformed = config.malformedChunks === "skip"
    const coalesce = config.coalesceDeltas !== false
    const passInvalidToolCalls = config.invalidToolCalls === "pass"
    return Http.makeService(client, {
      engine: config.engine ?? "OpenAiCompat",
      url: `${Http.trimUrl(config.baseUrl)}/chat/completions`,
      accept: "text/event-stream",
      headers: config.headers,
      apiKey: config.apiKey,
      timeout: config.timeout,
      idleTimeout: config.idleTimeout,
      encode: (options, format, sampling) => encodeRequest(config, options, format, sampling),
      decoder: (context, toolNames) =>
        new ChatDecoder(context, toolNames, skipMalformed, coalesce, passInvalidToolCalls)
    })
  })

/**
 * The engine as a `LanguageModel` Layer (it needs an `HttpClient`, e.g. `NodeHttpClient.layerUndici` or
 * `FetchHttpClient.layer`).
 *
 * @example
 * ```ts
 * import { FetchHttpClient } from "@effect/platform"
 * import { Effect, Layer } from "effect"
 * import * as OpenAiCompat from "sluice/engines/OpenAiCompat"
 * import * as Llm from "sluice/Llm"
 * import * as Node from "sluice/Node"
 *
 * const Engine = OpenAiCompat.layer(OpenAiCompat.presets.vllm({ model: "Qwen/Qwen3-8B" })).pipe(
 *   Layer.provide(FetchHttpClient.layer)
 * )
 * const program = Node.run(Llm.text({ prompt: (s: string) => s }), "Hello").pipe(Effect.provide(Engine))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: Config): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> =>
  Layer.effect(LanguageModel.LanguageModel, make(config))

/**
 * The configuration of {@link layerConfig}: the base URL and the model may come from `Config`, the API key does
 * (e.g. `Config.redacted("OPENAI_API_KEY")`).
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import type * as OpenAiCompat from "sluice/engines/OpenAiCompat"
 *
 * const config: OpenAiCompat.ConfigFrom = {
 *   baseUrl: Config.string("VLLM_URL"),
 *   model: "Qwen/Qwen3-8B",
 *   apiKey: Config.redacted("VLLM_API_KEY")
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ConfigFrom extends Omit<Config, "baseUrl" | "model" | "apiKey"> {
  readonly baseUrl: string | Config_.Config<string>
  readonly model: string | Config_.Config<string>
  readonly apiKey?: Config_.Config<Redacted.Redacted | undefined> | Redacted.Redacted | undefined
}

/**
 * The engine as a Layer whose base URL, model and API key are read from `Config` (environment variables by default).
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import * as OpenAiCompat from "sluice/engines/OpenAiCompat"
 *
 * const Engine = OpenAiCompat.layerConfig({
 *   ...OpenAiCompat.presets.openai({ model: "gpt-4.1-mini" }),
 *   apiKey: Config.redacted("OPENAI_API_KEY")
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: ConfigFrom
): Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.effect(
    LanguageModel.LanguageModel,
    Effect.flatMap(Http.readConfig(config), ({ apiKey, baseUrl, model }) => make({ ...config, baseUrl, model, apiKey }))
  )

/**
 * Options of a preset: any field of {@link Config}, with the model required.
 *
 * @example
 * ```ts
 * import type * as OpenAiCompat from "sluice/engines/OpenAiCompat"
 *
 * const options: OpenAiCompat.PresetOptions = { model: "llama3.2", sampling: { temperature: 0.7 } }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface PresetOptions extends Omit<Partial<Config>, "model"> {
  readonly model: string
}

/**
 * Configurations for the common servers, with their default local addresses (override `baseUrl` as needed):
 *
 * - `openai`: `https://api.openai.com/v1`, `max_completion_tokens`, strict JSON schema;
 * - `vllm`: `http://localhost:8000/v1`, vLLM's `structured_outputs` field;
 * - `ollama`: Ollama's OpenAI-compatible API at `http://localhost:11434/v1` (see also the native `Ollama` engine);
 * - `openrouter`: `https://openrouter.ai/api/v1`, with the `HTTP-Referer` and `X-Title` headers OpenRouter uses to
 *   attribute an app (`referer`, `title`);
 * - `llamacpp`: llama.cpp's `llama-server` at `http://localhost:8080/v1`;
 * - `lmstudio`: LM Studio at `http://localhost:1234/v1`.
 *
 * @example
 * ```ts
 * import * as OpenAiCompat from "sluice/engines/OpenAiCompat"
 *
 * const config = OpenAiCompat.presets.openrouter({
 *   model: "meta-llama/llama-3.3-70b-instruct",
 *   referer: "https://example.com",
 *   title: "My app"
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const presets: {
  readonly openai: (options: PresetOptions) => Config
  readonly vllm: (options: PresetOptions) => Config
  readonly ollama: (options: PresetOptions) => Config
  readonly openrouter: (
    options: PresetOptions & { readonly referer?: string | undefined; readonly title?: string | undefined }
  ) => Config
  readonly llamacpp: (options: PresetOptions) => Config
  readonly lmstudio: (options: PresetOptions) => Config
} = {
  openai: (options) => ({
    baseUrl: "https://api.openai.com/v1",
    maxTokensField: "max_completion_tokens",
    structuredOutput: "json_schema",
    engine: "openai",
    ...options
  }),
  vllm: (options) => ({ baseUrl: "http://localhost:8000/v1", structuredOutput: "vllm", engine: "vllm", ...options }),
  ollama: (options) => ({
    baseUrl: "http://localhost:11434/v1",
    structuredOutput: "json_schema",
    engine: "ollama",
    ...options
  }),
  openrouter: ({ referer, title, ...options }) => ({
    baseUrl: "https://openrouter.ai/api/v1",
    structuredOutput: "json_schema",
    engine: "openrouter",
    ...options,
    headers: {
      ...(referer === undefined ? {} : { "HTTP-Referer": referer }),
      ...(title === undefined ? {} : { "X-Title": title }),
      ...options.headers
    }
  }),
  llamacpp: (options) => ({
    baseUrl: "http://localhost:8080/v1",
    structuredOutput: "json_schema",
    engine: "llamacpp",
    ...options
  }),
  lmstudio: (options) => ({
    baseUrl: "http://localhost:1234/v1",
    structuredOutput: "json_schema",
    engine: "lmstudio",
    ...options
  })
}

/**
 * The JSON body the engine sends for a call (with `stream: true`), or a description of why the prompt cannot be
 * encoded. Exposed for tests and for debugging what reaches a server.
 *
 * @example
 * ```ts
 * import { Prompt } from "@effect/ai"
 * import { Option } from "effect"
 * import * as OpenAiCompat from "sluice/engines/OpenAiCompat"
 *
 * const body = OpenAiCompat.encodeRequest(
 *   { baseUrl: "http://localhost:8000/v1", model: "m" },
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
  const messages = encodeMessages(options.prompt)
  if (Either.isLeft(messages)) return Either.left(messages.left)
  const body: Record<string, unknown> = { model: config.model, messages: messages.right, stream: true }
  if (config.streamUsage !== false) body.stream_options = { include_usage: true }
  const merged = SamplingModule.merge(config.sampling, sampling)
  if (merged !== undefined) {
    setDefined(body, "temperature", merged.temperature)
    setDefined(body, "top_p", merged.topP)
    setDefined(body, config.maxTokensField ?? "max_tokens", merged.maxTokens)
    setDefined(body, "seed", merged.seed)
    setDefined(body, "stop", typeof merged.stop === "string" ? [merged.stop] : merged.stop)
    setDefined(body, "frequency_penalty", merged.frequencyPenalty)
    setDefined(body, "presence_penalty", merged.presencePenalty)
    setDefined(body, "top_k", merged.topK)
    setDefined(body, "min_p", merged.minP)
    setDefined(body, "repetition_penalty", merged.repetitionPenalty)
  }
  const tools = Http.functionTools(options.tools)
  if (tools.length > 0) {
    body.tools = tools
    const choice = options.toolChoice
    body.tool_choice = typeof choice === "string"
      ? choice
      : "tool" in choice
      ? { type: "function", function: { name: choice.tool } }
      : choice.mode ?? "auto"
  }
  if (Option.isSome(format)) {
    const schema = Structured.jsonSchemaOf(format.value.schema)
    switch (config.structuredOutput ?? "json_schema") {
      case "json_schema": {
        const strict = config.strict ?? true
        body.response_format = {
          type: "json_schema",
          json_schema: {
            name: schemaName(format.value.objectName),
            schema: strict ? Structured.jsonSchemaOf(format.value.schema, strict) : schema,
            strict
          }
        }
        break
      }
      case "vllm": {
        body.structured_outputs = { json: schema }
        break
      }
      case "guided_json": {
        body.guided_json = schema
        break
      }
      case "json_object": {
        body.response_format = { type: "json_object" }
        body.messages = Http.withInstruction(messages.right, StructuredOutput.instruction(format.value))
        break
      }
      case "prompt": {
        body.messages = Http.withInstruction(messages.right, StructuredOutput.instruction(format.value))
        break
      }
    }
  }
  return Either.right(config.extraBody === undefined ? body : { ...body, ...config.extraBody })
}

// =============================================================================
// internal: request encoding
// =============================================================================

type Message = Http.Message

const setDefined = (body: Record<string, unknown>, key: string, value: unknown): void => {
  if (value !== undefined) body[key] = value
}

const schemaName = (name: string): string => {
  const cleaned = name.replace(/[^a-zA-Z0-9_-]/g, "_").slice(0, 64)
  return cleaned.length === 0 ? "output" : cleaned
}

const fileUrl = (part: Prompt.FilePart): string =>
  part.data instanceof URL
    ? part.data.href
    : typeof part.data === "string"
    ? part.data.startsWith("data:") || /^https?:\/\//.test(part.data)
      ? part.data
      : `data:${part.mediaType};base64,${part.data}`
    : `data:${part.mediaType};base64,${Encoding.encodeBase64(part.data)}`

const encodeFile = (part: Prompt.FilePart): Either.Either<Message, string> => {
  if (part.mediaType.startsWith("image/")) {
    return Either.right({ type: "image_url", image_url: { url: fileUrl(part) } })
  }
  if (part.data instanceof URL) {
    return Either.left(`a file of type ${part.mediaType} can only be sent inline, not by URL`)
  }
  return Either.right({ type: "file", file: { filename: part.fileName ?? "file", file_data: fileUrl(part) } })
}

const encodeMessages = (prompt: Prompt.Prompt): Either.Either<Array<Message>, string> =>
  Http.encodePrompt<Message>(prompt, {
    system: (message, out) => {
      out.push({ role: "system", content: message.content })
    },
    user: (message, out) => {
      if (message.content.every((part) => part.type === "text")) {
        out.push({ role: "user", content: message.content.map((part) => part.text).join("") })
        return
      }
      const content: Array<Message> = []
      for (const part of message.content) {
        if (part.type === "text") content.push({ type: "text", text: part.text })
        else {
          const file = encodeFile(part)
          if (Either.isLeft(file)) return file.left
          content.push(file.right)
        }
      }
      out.push({ role: "user", content })
    },
    assistant: (message, out) => {
      let text = ""
      const toolCalls: Array<Message> = []
      for (const part of message.content) {
        if (part.type === "text") text += part.text
        else if (part.type === "tool-call" && !part.providerExecuted) {
          toolCalls.push({
            id: part.id,
            type: "function",
            function: { name: part.name, arguments: JSON.stringify(part.params ?? {}) }
          })
        }
      }
      out.push({
        role: "assistant",
        content: text.length === 0 && toolCalls.length > 0 ? null : text,
        ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {})
      })
    },
    tool: (message, out) => {
      for (const part of message.content) {
        out.push({ role: "tool", tool_call_id: part.id, content: Http.stringify(part.result) })
      }
    }
  })
