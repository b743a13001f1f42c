/**
 * The OpenAI Responses API engine (`POST {baseUrl}/responses`): a thin wrapper of `@effect/ai-openai`, configured
 * like sluice's other engines (`baseUrl`, `apiKey`, `model`, `sampling`, `headers`).
 *
 * What the wrapper adds to `@effect/ai-openai`:
 *
 * - sampling defaults mapped to the Responses API (`temperature`, `top_p`, `max_output_tokens`; the API has no
 *   `seed`, `stop` or penalties, so those fields are not sent), with a call's own sampling (`Sampling.withSampling`)
 *   laid over them;
 * - the structured-output channel of sluice: a schema requested with `StructuredOutput.withFormat` around
 *   `streamText` (which `@effect/ai-openai` does not know about) is sent as `text.format: { type: "json_schema" }`,
 *   the way `generateObject` sends its own;
 * - extra headers.
 *
 * Everything else is `@effect/ai-openai`'s behaviour: errors are `AiError`s that `EngineError.fromAiError`
 * classifies (status errors by status and retry-after, a dropped connection as `Transport`), and stream events it
 * cannot decode (malformed JSON, unknown event types, events without the `sequence_number` the API always sends)
 * are skipped rather than failing the stream. The wrapper adds one check: a stream that ends without a `finish`
 * part (no decodable `response.completed`) fails with a retryable `Transport` `EngineError`, as in `OpenAiCompat`.
 *
 * The wrapper also gives its errors sluice's `EngineError` (see `EngineError.fromAiError`), so that their message
 * names the reason and the server's message: an HTTP status error by its status and retry-after, a transport error
 * with what failed, and an `error` event or a `response.failed` event in the stream (which `@effect/ai-openai` turns
 * into an error part, or an ordinary finish) by the reason its code names.
 *
 * @since 0.1.0
 */
import type * as OpenAiClient from "@effect/ai-openai/OpenAiClient"
import type * as OpenAiLanguageModel from "@effect/ai-openai/OpenAiLanguageModel"
import type * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Chunk from "effect/Chunk"
import type * as Config_ from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as EngineError from "../EngineError.js"
import { describe } from "../internal/describe.js"
import * as Http from "../internal/engineHttp.js"
import * as Structured from "../internal/structured.js"
import * as SamplingModule from "../Sampling.js"
import * as Sse from "../Sse.js"
import * as StructuredOutput from "../StructuredOutput.js"

/**
 * The engine's configuration: `baseUrl` (default `https://api.openai.com/v1`), `model`, `apiKey`, `sampling`,
 * `headers`, `organizationId` / `projectId`, `strict` (strict JSON schemas, default `true`; set `false` when tool or
 * output schemas have optional fields), `engine` (the engine name in errors, default `"OpenAiResponses"`) and `config`
 * for any other field of `@effect/ai-openai`'s configuration.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import type * as OpenAiResponses from "sluice/engines/OpenAiResponses"
 *
 * const config: OpenAiResponses.Config = {
 *   model: "gpt-4.1-mini",
 *   apiKey: Redacted.make("sk-…"),
 *   sampling: { temperature: 0 }
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Config {
  readonly baseUrl?: string | undefined
  readonly model: string
  readonly apiKey?: Redacted.Redacted | undefined
  readonly sampling?: SamplingModule.Sampling | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly organizationId?: Redacted.Redacted | undefined
  readonly projectId?: Redacted.Redacted | undefined
  readonly strict?: boolean | undefined
  readonly engine?: string | undefined
  readonly config?: Omit<OpenAiLanguageModel.Config.Service, "model"> | undefined
}

/**
 * The engine as a `LanguageModel` Layer (it needs an `HttpClient`).
 *
 * @example
 * ```ts
 * import { FetchHttpClient } from "@effect/platform"
 * import { Layer, Redacted } from "effect"
 * import * as OpenAiResponses from "sluice/engines/OpenAiResponses"
 *
 * const Engine = OpenAiResponses.layer({ model: "gpt-4.1-mini", apiKey: Redacted.make("sk-…") }).pipe(
 *   Layer.provide(FetchHttpClient.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: Config): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> =>
  Layer.effect(LanguageModel.LanguageModel, make(config)).pipe(Layer.provide(clientLayer(config)))

/**
 * Builds the engine's `LanguageModel` service over an `OpenAiClient` in context (see {@link layer} for the usual
 * way in).
 *
 * @example
 * ```ts
 * import * as OpenAiResponses from "sluice/engines/OpenAiResponses"
 *
 * const service = OpenAiResponses.make({ model: "gpt-4.1-mini" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  config: Config
): Effect.Effect<LanguageModel.Service, never, OpenAiClient.OpenAiClient> =>
  Effect.flatMap(
    Effect.promise(() => import("@effect/ai-openai/OpenAiLanguageModel")),
    (OpenAiLanguageModel) => OpenAiLanguageModel.make({ model: config.model, config: modelConfig(config) })
  ).pipe(Effect.map((service) => {
    const url = `${Http.trimUrl(config.baseUrl ?? "https://api.openai.com/v1")}/responses`
    const engine = config.engine ?? "OpenAiResponses"
    const streamText = (options: Parameters<LanguageModel.Service["streamText"]>[0]) =>
      Stream.suspend(() => {
        let finished = false
        let error: AiError.AiError | undefined = undefined
        return service.streamText(options).pipe(
          Stream.mapError(withReason(engine)),
          Stream.takeUntil((part) => part.type === "error"),
          Stream.mapChunks((parts) => {
            if (!finished) finished = Chunk.some(parts, (part) => part.type === "finish")
            const last = Chunk.last(parts)
            if (Option.isNone(last) || last.value.type !== "error") return parts
            error = streamError(engine, url, last.value.error)
            return Chunk.dropRight(parts, 1)
          }),
          Stream.concat(
            Stream.suspend(() =>
              error !== undefined ? Stream.fail(error) : finished ? Stream.empty : Stream.fail(truncated(engine, url))
            )
          )
        )
      })
    const generateText = (options: Parameters<LanguageModel.Service["generateText"]>[0]) =>
      Effect.mapError(service.generateText(options), withReason(engine))
    return {
      ...service,
      generateText: generateText as LanguageModel.Service["generateText"],
      streamText: streamText as LanguageModel.Service["streamText"]
    }
  }))

/**
 * The configuration of {@link layerConfig}: as {@link Config}, with the base URL, the model and the API key read
 * from `Config`.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import type * as OpenAiResponses from "sluice/engines/OpenAiResponses"
 *
 * const config: OpenAiResponses.ConfigFrom = { model: "gpt-4.1-mini", apiKey: Config.redacted("OPENAI_API_KEY") }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ConfigFrom extends Omit<Config, "baseUrl" | "model" | "apiKey"> {
  readonly baseUrl?: string | Config_.Config<string> | undefined
  readonly model: string | Config_.Config<string>
  readonly apiKey?: Config_.Config<Redacted.Redacted | undefined> | Redacted.Redacted | undefined
}

/**
 * The engine as a Layer whose base URL, model and API key come from `Config`.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import * as OpenAiResponses from "sluice/engines/OpenAiResponses"
 *
 * const Engine = OpenAiResponses.layerConfig({ model: "gpt-4.1-mini", apiKey: Config.redacted("OPENAI_API_KEY") })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: ConfigFrom
): Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.unwrapEffect(
    Effect.map(
      Http.readConfig({ baseUrl: config.baseUrl, model: config.model, apiKey: config.apiKey }),
      ({ apiKey, baseUrl, model }) => layer({ ...config, baseUrl, model, apiKey })
    )
  )

// =============================================================================
// internal
// =============================================================================

// `@effect/ai-openai` (large generated schemas) loads when the engine is built, not when sluice is imported
const clientLayer = (config: Config): Layer.Layer<OpenAiClient.OpenAiClient, never, HttpClient.HttpClient> =>
  Layer.unwrapEffect(
    Effect.map(Effect.promise(() => import("@effect/ai-openai/OpenAiClient")), (OpenAiClient) =>
      OpenAiClient.layer({
        apiUrl: Http.trimUrl(config.baseUrl ?? "https://api.openai.com/v1"),
        apiKey: config.apiKey,
        organizationId: config.organizationId,
        projectId: config.projectId,
        transformClient: (client) => {
          const withHeaders = config.headers === undefined
            ? client
            : HttpClient.mapRequest(client, HttpClientRequest.setHeaders(config.headers))
          const url = `${Http.trimUrl(config.baseUrl ?? "https://api.openai.com/v1")}/responses`
          return HttpClient.mapRequestEffect(withHeaders, perCall(config.strict ?? true)).pipe(
            HttpClient.transformResponse(Effect.map(failOnResponseFailed(config.engine ?? "OpenAiResponses", url)))
          )
        }
      }))
  )

const truncated = (engine: string, url: string): AiError.AiError =>
  EngineError.toAiError(
    new EngineError.EngineError({
      engine,
      reason: "Transport",
      description: "the stream ended before response.completed"
    }),
    { method: "streamText", request: { method: "POST", url, headers: {} } }
  )

/**
 * The errors of `@effect/ai-openai` with sluice's `EngineError` inside, so that their message names the reason and
 * the server's message (an HTTP status error), or what failed (a transport error, which it reports without a
 * description).
 */
const withReason = (engine: string) => (error: AiError.AiError): AiError.AiError => {
  if ("cause" in error && EngineError.isEngineError(error.cause)) return error
  if (error._tag === "HttpResponseError" && error.reason === "StatusCode") {
    const response = { status: error.response.status, headers: error.response.headers, body: error.body }
    return EngineError.toAiError(EngineError.fromResponse(engine, response), {
      method: error.method,
      request: error.request,
      response
    })
  }
  if (error._tag === "HttpRequestError" && error.reason === "Transport") {
    const description = `${error.request.method} ${error.request.url}: ${describe(error.cause ?? error)}`
    return EngineError.toAiError(
      new EngineError.EngineError({ engine, reason: "Transport", description, cause: error.cause }),
      { method: error.method, request: error.request }
    )
  }
  return error
}

/**
 * A streamed response whose `response.failed` event fails its body with the error the event carries (its reason from
 * its code, its message kept): `@effect/ai-openai` reads that event as an ordinary finish.
 */
const failOnResponseFailed = (engine: string, url: string) =>
(
  response: HttpClientResponse.HttpClientResponse
): HttpClientResponse.HttpClientResponse => {
  if (!(response.headers["content-type"] ?? "").includes("text/event-stream")) return response
  const stream = Stream.suspend(() => {
    const parser = Sse.makeParser()
    return Stream.mapChunksEffect(response.stream, (chunk) => {
      for (const bytes of chunk) {
        for (const event of parser.feed(bytes)) {
          if (!event.data.includes("response.failed")) continue
          const json = Http.tryParse(event.data) as { readonly type?: unknown; readonly response?: { error?: unknown } }
          if (typeof json === "object" && json !== null && json.type === "response.failed") {
            return Effect.fail(streamError(engine, url, json.response?.error ?? json))
          }
        }
      }
      return Effect.succeed(chunk)
    })
  })
  return Object.create(response, { stream: { get: () => stream } })
}

/** An `error` event of the stream (`{ code, message }`): its reason from its code, its message kept. */
const streamError = (engine: string, url: string, event: unknown): AiError.AiError =>
  Http.streamError(
    {
      engine,
      method: "streamText",
      request: HttpClientRequest.post(url)
    },
    event,
    JSON.stringify(event)
  )

const modelConfig = (config: Config): Omit<OpenAiLanguageModel.Config.Service, "model"> => ({
  ...(config.sampling?.temperature === undefined ? {} : { temperature: config.sampling.temperature }),
  ...(config.sampling?.topP === undefined ? {} : { top_p: config.sampling.topP }),
  ...(config.sampling?.maxTokens === undefined ? {} : { max_output_tokens: config.sampling.maxTokens }),
  ...(config.strict === undefined ? {} : { strict: config.strict }),
  ...config.config
})

const decoder = new TextDecoder()

/**
 * Lays the call's settings over the request body `@effect/ai-openai` built: the per-call sampling
 * (`Sampling.withSampling`) over the configured defaults, and the format requested with `StructuredOutput.withFormat`
 * when the request asks for plain text.
 */
const perCall = (strict: boolean) =>
(
  request: HttpClientRequest.HttpClientRequest
): Effect.Effect<HttpClientRequest.HttpClientRequest> =>
  Effect.map(Effect.zip(StructuredOutput.current, SamplingModule.current), ([format, sampling]) => {
    const withSampling = sampling !== undefined &&
      (sampling.temperature !== undefined || sampling.topP !== undefined || sampling.maxTokens !== undefined)
    if (
      (Option.isNone(format) && !withSampling) || request.body._tag !== "Uint8Array" ||
      !request.url.endsWith("/responses")
    ) {
      return request
    }
    const body = Http.tryParse(decoder.decode(request.body.body))
    if (typeof body !== "object" || body === null) return request
    const out: Record<string, unknown> = { ...body }
    if (sampling !== undefined) {
      if (sampling.temperature !== undefined) out.temperature = sampling.temperature
      if (sampling.topP !== undefined) out.top_p = sampling.topP
      if (sampling.maxTokens !== undefined) out.max_output_tokens = sampling.maxTokens
    }
    const text = (body as { readonly text?: { readonly format?: { readonly type?: string } } }).text
    if (Option.isSome(format) && (text?.format === undefined || text.format.type === "text")) {
      out.text = {
        ...text,
        format: {
          type: "json_schema",
          name: format.value.objectName.replace(/[^a-zA-Z0-9_-]/g, "_").slice(0, 64) || "output",
          schema: Structured.jsonSchemaOf(format.value.schema, strict),
          strict
        }
      }
    }
    return HttpClientRequest.setBody(request, HttpBody.unsafeJson(out))
  })
