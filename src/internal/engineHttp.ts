/**
 * Shared plumbing of sluice's engines (OpenAiCompat, Ollama, OpenAiResponses and, for prompts and folding, LlamaCpp):
 * encoding a prompt and its tools, executing a request with typed errors, the response body as a stream with
 * transport errors mapped, and folding stream parts into `generateText` content.
 */
import type * as AiError from "@effect/ai/AiError"
import * as AiErrors from "@effect/ai/AiError"
import type * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import * as Tool from "@effect/ai/Tool"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as EngineError from "../EngineError.js"
import * as Sampling from "../Sampling.js"
import * as StructuredOutput from "../StructuredOutput.js"
import { describe } from "./describe.js"
import * as Engine from "./languageModel.js"
import * as StreamParts from "./streamParts.js"

// =============================================================================
// request encoding
// =============================================================================

/**
 * How a backend writes each role's prompt messages: an encoder appends to `out` the messages it makes of one, or
 * returns why the message cannot be sent.
 */
export type MessageEncoder<M> = {
  readonly [Role in Prompt.Message["role"]]: (
    message: Extract<Prompt.Message, { readonly role: Role }>,
    out: Array<M>
  ) => string | void
}

/** A prompt as a backend's messages, or why it cannot be encoded. */
export const encodePrompt = <M>(prompt: Prompt.Prompt, encoder: MessageEncoder<M>): Either.Either<Array<M>, string> => {
  const out: Array<M> = []
  for (const message of prompt.content) {
    const error = (encoder[message.role] as (message: Prompt.Message, out: Array<M>) => string | void)(message, out)
    if (error !== undefined) return Either.left(error)
  }
  return Either.right(out)
}

/** A JSON message with a `role` and (as most are) a `content`. */
export type Message = Record<string, unknown>

/** The messages with an instruction added to the leading system message (or as a new one). */
export const withInstruction = (messages: ReadonlyArray<Message>, instruction: string): Array<Message> => {
  const first = messages[0]
  if (first !== undefined && first.role === "system" && typeof first.content === "string") {
    return [{ ...first, content: `${first.content}\n\n${instruction}` }, ...messages.slice(1)]
  }
  return [{ role: "system", content: instruction }, ...messages]
}

/** The user-defined tools as Chat Completions (and Ollama) `function` tools. */
export const functionTools = (tools: LanguageModel.ProviderOptions["tools"]): Array<Message> =>
  tools.filter((tool) => !Tool.isProviderDefined(tool)).map((tool) => ({
    type: "function",
    function: {
      name: tool.name,
      ...(tool.description === undefined ? {} : { description: tool.description }),
      parameters: Tool.getJsonSchemaFromSchemaAst(tool.parametersSchema.ast)
    }
  }))

/** A tool result as message text. */
export const stringify = (value: unknown): string => typeof value === "string" ? value : JSON.stringify(value ?? null)

/** The fields of an engine's configuration that `layerConfig` may take from `Config`. */
export interface ConfigFields<Url extends string | undefined> {
  readonly baseUrl: Url | Config.Config<string>
  readonly model: string | Config.Config<string>
  readonly apiKey?: Config.Config<Redacted.Redacted | undefined> | Redacted.Redacted | undefined
}

/** Reads the base URL, the model and the API key of a configuration, each given as a value or a `Config`. */
export const readConfig = <Url extends string | undefined>(
  config: ConfigFields<Url>
): Effect.Effect<
  { readonly baseUrl: Url; readonly model: string; readonly apiKey: Redacted.Redacted | undefined },
  ConfigError.ConfigError
> =>
  Effect.all({
    baseUrl: (Config.isConfig(config.baseUrl) ? config.baseUrl : Effect.succeed(config.baseUrl)) as Effect.Effect<
      Url,
      ConfigError.ConfigError
    >,
    model: Config.isConfig(config.model) ? config.model : Effect.succeed(config.model),
    apiKey: Config.isConfig(config.apiKey) ? config.apiKey : Effect.succeed(config.apiKey)
  })

// =============================================================================
// calls
// =============================================================================

/** What an engine call needs to build its errors. */
export interface CallContext {
  readonly engine: string
  readonly method: string
  readonly request: HttpClientRequest.HttpClientRequest
}

const requestInfo = (request: HttpClientRequest.HttpClientRequest) => ({
  method: request.method,
  url: request.url,
  headers: request.headers as Readonly<Record<string, string>>
})

/** Fails with the `AiError` wrapping an `EngineError`. */
export const fail = (context: CallContext, error: EngineError.EngineError, response?: {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body?: string | undefined
}): AiError.AiError =>
  EngineError.toAiError(error, { method: context.method, request: requestInfo(context.request), response })

/** Executes a request: a non-2xx status, a transport failure or a timeout fails with a typed `AiError`. */
export const execute = (
  client: HttpClient.HttpClient,
  context: CallContext,
  timeout: Duration.Duration | undefined
): Effect.Effect<HttpClientResponse.HttpClientResponse, AiError.AiError> => {
  const sent = Effect.catchAll(
    client.execute(context.request),
    (error: HttpClientError.HttpClientError): Effect.Effect<never, AiError.AiError> =>
      Effect.fail(
        error._tag === "RequestError" && error.reason !== "Transport"
          ? EngineError.toAiError(
            new EngineError.EngineError({
              engine: context.engine,
              reason: "BadRequest",
              description: `${error.reason}: ${error.description ?? error.message}`,
              cause: error
            }),
            { method: context.method, request: requestInfo(context.request) }
          )
          : fail(
            context,
            new EngineError.EngineError({
              engine: context.engine,
              reason: "Transport",
              description: `${context.request.method} ${context.request.url}: ${describe(error)}`,
              cause: error
            })
          )
      )
  )
  const timed = timeout === undefined ? sent : Effect.timeoutFail(sent, {
    duration: timeout,
    onTimeout: () =>
      fail(
        context,
        new EngineError.EngineError({
          engine: context.engine,
          reason: "Timeout",
          description: `no response from ${context.request.url} within ${Duration.format(timeout)}`
        })
      )
  })
  return Effect.flatMap(
    timed,
    (response) =>
      response.status >= 200 && response.status < 300 ? Effect.succeed(response) : statusError(context, response)
  )
}

const statusError = (
  context: CallContext,
  response: HttpClientResponse.HttpClientResponse
): Effect.Effect<never, AiError.AiError> =>
  Effect.flatMap(
    Effect.orElseSucceed(Effect.timeout(response.text, "10 seconds"), () => ""),
    (body) => {
      const headers = response.headers as Readonly<Record<string, string>>
      const error = EngineError.fromResponse(context.engine, { status: response.status, headers, body })
      return Effect.fail(fail(context, error, { status: response.status, headers, body }))
    }
  )

/**
 * The parts of a streaming response: its body through a decoder, one step per network chunk. A failure while
 * reading the body (a dropped connection) is a `Transport` error, no chunk within `idleTimeout` a `Timeout`. With
 * `plain`, the parts leave decoded as `LanguageModel.streamText` decodes them (see `streamParts.ts`), in the same step.
 */
export const decodeBody: {
  (
    response: HttpClientResponse.HttpClientResponse,
    context: CallContext,
    idleTimeout: Duration.Duration | undefined,
    decoder: ChunkDecoder,
    plain?: false
  ): Stream.Stream<Response.StreamPartEncoded, AiError.AiError>
  (
    response: HttpClientResponse.HttpClientResponse,
    context: CallContext,
    idleTimeout: Duration.Duration | undefined,
    decoder: ChunkDecoder,
    plain: true
  ): Stream.Stream<Response.StreamPart<{}>, AiError.AiError>
} = (
  response: HttpClientResponse.HttpClientResponse,
  context: CallContext,
  idleTimeout: Duration.Duration | undefined,
  decoder: ChunkDecoder,
  plain?: boolean
): Stream.Stream<any, AiError.AiError> => {
  const transport = (error: unknown) => transportError(context, response, error)
  const bytes: Stream.Stream<Uint8Array, unknown> = idleTimeout === undefined ? response.stream : Stream.timeoutFail(
    response.stream,
    () =>
      fail(
        context,
        new EngineError.EngineError({
          engine: context.engine,
          reason: "Timeout",
          description: `no data from ${context.request.url} for ${Duration.format(idleTimeout)}`
        })
      ),
    idleTimeout
  )
  return plain === true
    ? Stream.pipeThroughChannel(bytes, decodePlainWith(decoder, transport))
    : Stream.pipeThroughChannel(bytes, decodeWith(decoder, transport))
}

/** The failure of a response whose body could not be read to the end (a dropped connection). */
const transportError = (
  context: CallContext,
  response: HttpClientResponse.HttpClientResponse,
  error: unknown
): AiError.AiError =>
  AiErrors.isAiError(error) ? error : fail(
    context,
    new EngineError.EngineError({
      engine: context.engine,
      reason: "Transport",
      status: response.status,
      description: `the connection failed while streaming the response: ${describe(error)}`,
      cause: error
    })
  )

const isRecord = (u: unknown): u is Record<string, any> => typeof u === "object" && u !== null

/**
 * The HTTP status an error sent inside a stream stands for: its numeric `code` (or `status`), else what its string
 * `code` or `type` names (`rate_limit_exceeded`, `invalid_api_key`, `invalid_request_error`, …), else 500.
 */
const streamStatus = (error: unknown): number => {
  if (!isRecord(error)) return 500
  for (const key of ["code", "status", "status_code"]) {
    const code = Number(error[key])
    if (Number.isInteger(code) && code >= 400 && code < 600) return code
  }
  const name = `${typeof error.code === "string" ? error.code : ""} ${typeof error.type === "string" ? error.type : ""}`
  if (/rate_limit|too_many_requests|quota/i.test(name)) return 429
  if (/invalid_api_key|authentication|unauthori[sz]ed|permission/i.test(name)) return 401
  if (/invalid_request|context_length|bad_request|not_found|invalid_prompt/i.test(name)) return 400
  return 500
}

/** The failure for an error the server sent inside the stream: its reason from its code, its message kept. */
export const streamError = (context: CallContext, error: unknown, raw: string): AiError.AiError => {
  const message = isRecord(error) && typeof error.message === "string"
    ? error.message
    : typeof error === "string"
    ? error
    : JSON.stringify(error)
  const status = streamStatus(error)
  const { reason } = EngineError.fromResponse(context.engine, { status, headers: {} })
  return fail(
    context,
    new EngineError.EngineError({
      engine: context.engine,
      reason,
      status,
      description: `error in the stream: ${message}`
    }),
    { status, headers: {}, body: raw }
  )
}

/** The error for a stream that ended before the model finished. */
export const truncated = (context: CallContext): AiError.AiError =>
  fail(
    context,
    new EngineError.EngineError({
      engine: context.engine,
      reason: "Transport",
      description: "the stream ended before the model finished"
    })
  )

/** The error for a chunk that is not valid JSON. */
export const malformed = (context: CallContext, raw: string, description: string): AiError.AiError =>
  fail(context, new EngineError.EngineError({ engine: context.engine, reason: "MalformedStream", description, raw }))

/** Folds the stream parts of a reply, as they come, into the content `generateText` returns. */
class Collector {
  readonly content: Array<Response.PartEncoded> = []
  private readonly texts = new Map<string, { readonly kind: "text" | "reasoning"; text: string }>()

  add(parts: Iterable<Response.StreamPartEncoded>): void {
    for (const part of parts) {
      switch (part.type) {
        case "text-start":
        case "reasoning-start": {
          this.texts.set(part.id, { kind: part.type === "text-start" ? "text" : "reasoning", text: "" })
          break
        }
        case "text-delta":
        case "reasoning-delta": {
          const open = this.texts.get(part.id)
          if (open !== undefined) open.text += part.delta
          break
        }
        case "text-end":
        case "reasoning-end": {
          const open = this.texts.get(part.id)
          this.texts.delete(part.id)
          if (open !== undefined && open.text.length > 0) this.content.push({ type: open.kind, text: open.text })
          break
        }
        case "tool-params-start":
        case "tool-params-delta":
        case "tool-params-end":
          break
        default:
          this.content.push(part as Response.PartEncoded)
      }
    }
  }
}

/** Folds the stream parts of a reply into the content `generateText` returns. */
export const collect = <E, R>(
  parts: Stream.Stream<Response.StreamPartEncoded, E, R>
): Effect.Effect<Array<Response.PartEncoded>, E, R> =>
  Effect.suspend(() => {
    const collector = new Collector()
    return Effect.as(
      Stream.runForEachChunk(parts, (chunk) => Effect.sync(() => collector.add(chunk))),
      collector.content
    )
  })

/** Reads an optional duration. */
export const duration = (input: Duration.DurationInput | undefined): Duration.Duration | undefined =>
  input === undefined ? undefined : Duration.decode(input)

/** A base URL without its trailing slashes. */
export const trimUrl = (url: string): string => url.replace(/\/+$/, "")

/** The ISO timestamp of a Unix time in seconds, if it is one. */
export const isoFromSeconds = (seconds: unknown): string | undefined =>
  typeof seconds === "number" && Number.isFinite(seconds) && seconds > 0
    ? new Date(seconds * 1000).toISOString()
    : undefined

/** The error for a prompt the engine cannot encode for its backend. */
export const malformedInput = (engine: string, method: string, description: string): AiError.AiError =>
  new AiErrors.MalformedInput({ module: engine, method, description })

/** A per-stream decoder of response bytes into stream parts: plain synchronous code, run once per network chunk. */
export interface ChunkDecoder {
  readonly error: AiError.AiError | undefined
  feed(bytes: Uint8Array, out: Array<Response.StreamPartEncoded>): void
  end(out: Array<Response.StreamPartEncoded>): void
}

type DecodeChannel<A> = Channel.Channel<
  Chunk.Chunk<A>,
  Chunk.Chunk<Uint8Array>,
  AiError.AiError,
  unknown,
  unknown,
  unknown
>

type Emit<A> = (out: Array<Response.StreamPartEncoded>, next: DecodeChannel<A>) => DecodeChannel<A>

const emit: Emit<Response.StreamPartEncoded> = (out, next) =>
  out.length === 0 ? next : Channel.zipRight(Channel.write(Chunk.unsafeFromArray(out)), next)

const emitPlain: Emit<Response.StreamPart<{}>> = (out, next) => {
  if (out.length === 0) return next
  const parts = StreamParts.decodeChunkParts(Chunk.unsafeFromArray(out))
  return Chunk.isChunk(parts)
    ? Channel.zipRight(Channel.write(parts), next)
    : Channel.flatMap(Channel.fromEffect(parts), (decoded) => Channel.zipRight(Channel.write(decoded), next))
}

const decodeChannel = <A>(
  decoder: ChunkDecoder,
  mapError: (error: unknown) => AiError.AiError,
  emit: Emit<A>
): DecodeChannel<A> => {
  const loop: DecodeChannel<A> = Channel.readWithCause({
    onInput: (input: Chunk.Chunk<Uint8Array>) => {
      const out: Array<Response.StreamPartEncoded> = []
      const pieces = Chunk.toReadonlyArray(input)
      for (let i = 0; i < pieces.length && decoder.error === undefined; i++) decoder.feed(pieces[i]!, out)
      return emit(out, decoder.error === undefined ? loop : Channel.fail(decoder.error))
    },
    onFailure: (cause: Cause.Cause<unknown>) => Channel.failCause(Cause.map(cause, mapError)),
    onDone: () => {
      const out: Array<Response.StreamPartEncoded> = []
      decoder.end(out)
      return emit(out, decoder.error === undefined ? Channel.void : Channel.fail(decoder.error))
    }
  })
  return loop
}

/**
 * The channel that runs a decoder over a response body: one step per network chunk, its parts as one `Chunk`;
 * upstream failures are mapped with `mapError` in the same step.
 */
export const decodeWith = (
  decoder: ChunkDecoder,
  mapError: (error: unknown) => AiError.AiError
): DecodeChannel<Response.StreamPartEncoded> => decodeChannel(decoder, mapError, emit)

/** {@link decodeWith}, each chunk of parts decoded as `LanguageModel.streamText` decodes it (`StreamParts.decodeChunk`). */
export const decodePlainWith = (
  decoder: ChunkDecoder,
  mapError: (error: unknown) => AiError.AiError
): DecodeChannel<Response.StreamPart<{}>> => decodeChannel(decoder, mapError, emitPlain)

/** Returned by {@link tryParse} for text that is not JSON. */
export const Malformed: unique symbol = Symbol.for("sluice/internal/engineHttp/Malformed")

/** `JSON.parse` without throwing: the value, or {@link Malformed}. The one `try` of the engines' hot path. */
export const tryParse = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return Malformed
  }
}

/**
 * Coalesces the text (or reasoning) deltas of one block that arrive in the same network chunk into one part: the
 * consumer sees the same text at the same time, and every per-part cost downstream (building the decoded part, a
 * node's event) is paid once per chunk rather than once per token. With `coalesce: false`, every delta leaves as its
 * own part.
 */
export class Deltas {
  private id: string | undefined = undefined
  private type: "text-delta" | "reasoning-delta" = "text-delta"
  private text = ""
  private blocks = 0
  private textId: string | undefined = undefined
  private reasoningId: string | undefined = undefined

  constructor(readonly coalesce: boolean) {}

  /** A text delta: opens a text block (closing an open reasoning block) when none is open. */
  textDelta(out: Array<Response.StreamPartEncoded>, delta: string): void {
    if (this.textId === undefined) {
      this.closeReasoning(out)
      this.textId = `text-${this.blocks++}`
      this.push(out, { type: "text-start", id: this.textId })
    }
    this.delta(out, "text-delta", this.textId, delta)
  }

  /** A reasoning delta: opens a reasoning block (closing an open text block) when none is open. */
  reasoningDelta(out: Array<Response.StreamPartEncoded>, delta: string): void {
    if (this.reasoningId === undefined) {
      this.closeText(out)
      this.reasoningId = `reasoning-${this.blocks++}`
      this.push(out, { type: "reasoning-start", id: this.reasoningId })
    }
    this.delta(out, "reasoning-delta", this.reasoningId, delta)
  }

  closeText(out: Array<Response.StreamPartEncoded>): void {
    if (this.textId !== undefined) {
      this.push(out, { type: "text-end", id: this.textId })
      this.textId = undefined
    }
  }

  closeReasoning(out: Array<Response.StreamPartEncoded>): void {
    if (this.reasoningId !== undefined) {
      this.push(out, { type: "reasoning-end", id: this.reasoningId })
      this.reasoningId = undefined
    }
  }

  delta(out: Array<Response.StreamPartEncoded>, type: "text-delta" | "reasoning-delta", id: string, delta: string) {
    if (!this.coalesce) {
      out.push({ type, id, delta })
    } else if (this.id === id) {
      this.text += delta
    } else {
      this.flush(out)
      this.id = id
      this.type = type
      this.text = delta
    }
  }

  /** Pushes a part after the pending delta. */
  push(out: Array<Response.StreamPartEncoded>, part: Response.StreamPartEncoded): void {
    this.flush(out)
    out.push(part)
  }

  flush(out: Array<Response.StreamPartEncoded>): void {
    if (this.id !== undefined) {
      out.push({ type: this.type, id: this.id, delta: this.text })
      this.id = undefined
      this.text = ""
    }
  }
}

/** How a JSON-over-HTTP streaming engine talks to its server. */
export interface ServiceOptions {
  readonly engine: string
  readonly url: string
  readonly accept: string
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly apiKey?: Redacted.Redacted | undefined
  readonly timeout?: Duration.DurationInput | undefined
  readonly idleTimeout?: Duration.DurationInput | undefined
  /** The request body for a call, or why it cannot be sent. */
  readonly encode: (
    options: LanguageModel.ProviderOptions,
    format: Option.Option<StructuredOutput.Format>,
    sampling: Sampling.Sampling | undefined
  ) => Either.Either<unknown, string>
  /** A fresh decoder of the response body for one call. */
  readonly decoder: (context: CallContext, toolNames: ReadonlySet<string>) => ChunkDecoder
}

/**
 * A `LanguageModel` over one streaming POST per call: the body encoded with the requested structured output and the
 * per-call sampling (`Sampling.withSampling`); `streamText` decodes the response chunk by chunk, `generateText` and
 * the lower-level reply read it whole and decode it at once (the same parts and errors), or fold the stream when an
 * idle timeout must watch the gaps between chunks.
 */
export const makeService = (
  client: HttpClient.HttpClient,
  options: ServiceOptions
): Effect.Effect<LanguageModel.Service> => {
  const timeout = duration(options.timeout)
  const idleTimeout = duration(options.idleTimeout)
  /** Sends a call with its structured output `format` and `sampling`; `body` reads the response. */
  const send = <A>(
    call: LanguageModel.ProviderOptions,
    method: string,
    format: Option.Option<StructuredOutput.Format>,
    sampling: Sampling.Sampling | undefined,
    body: (response: HttpClientResponse.HttpClientResponse, context: CallContext, decoder: ChunkDecoder) => A
  ): Effect.Effect<A, AiError.AiError> => {
    const encoded = options.encode(call, format, sampling)
    if (Either.isLeft(encoded)) return Effect.fail(malformedInput(options.engine, method, encoded.left))
    const request = HttpClientRequest.post(options.url).pipe(
      HttpClientRequest.setHeaders({ accept: options.accept, ...options.headers }),
      options.apiKey === undefined ? (r) => r : HttpClientRequest.bearerToken(options.apiKey),
      HttpClientRequest.bodyUnsafeJson(encoded.right)
    )
    const context: CallContext = { engine: options.engine, method, request }
    const toolNames = call.tools.length === 0 ? noTools : new Set(call.tools.map((tool) => tool.name))
    return Effect.map(
      execute(client, context, timeout),
      (response) => body(response, context, options.decoder(context, toolNames))
    )
  }
  /** Sends a call with the format and sampling set around it (`LanguageModel`'s calls). */
  const open = <A>(
    call: LanguageModel.ProviderOptions,
    method: string,
    body: (response: HttpClientResponse.HttpClientResponse, context: CallContext, decoder: ChunkDecoder) => A
  ): Effect.Effect<A, AiError.AiError> =>
    Effect.flatMap(
      Effect.zip(StructuredOutput.requested(call), Sampling.current),
      ([format, sampling]) => send(call, method, format, sampling, body)
    )
  const stream = (call: LanguageModel.ProviderOptions, method: string) =>
    Stream.unwrap(
      open(call, method, (response, context, decoder) => decodeBody(response, context, idleTimeout, decoder))
    )
  /** A reply's content: without an idle timeout the body is read whole and decoded in one step, no stream. */
  const content = (response: HttpClientResponse.HttpClientResponse, context: CallContext, decoder: ChunkDecoder) =>
    idleTimeout === undefined
      ? readWhole(response, context, decoder)
      : collect(decodeBody(response, context, idleTimeout, decoder))
  // the lower-level contract (see languageModel.ts): the format and sampling come with the call
  const reply = (call: Engine.Call): Effect.Effect<Engine.Reply, AiError.AiError> =>
    Effect.flatMap(
      Effect.flatten(
        send(Engine.providerOptions(call.prompt, call.format), "generateText", call.format, call.sampling, content)
      ),
      Engine.fromContent
    )
  const params = {
    generateText: (call: LanguageModel.ProviderOptions) => Effect.flatten(open(call, "generateText", content)),
    streamText: (call: LanguageModel.ProviderOptions) => stream(call, "streamText")
  }
  // streamText without a toolkit: the same call, its parts decoded in the body's channel
  const plain = (call: LanguageModel.ProviderOptions) =>
    open(call, "streamText", (response, context, decoder) => decodeBody(response, context, idleTimeout, decoder, true))
  return Effect.flatMap(Engine.make(params, reply), (service) => StreamParts.withPlainParts(service, params, plain))
}

const noTools: ReadonlySet<string> = new Set()

/** A reply's body read to the end, then decoded at once: the content of the parts {@link decodeBody} gives, same errors. */
const readWhole = (
  response: HttpClientResponse.HttpClientResponse,
  context: CallContext,
  decoder: ChunkDecoder
): Effect.Effect<Array<Response.PartEncoded>, AiError.AiError> =>
  Effect.flatMap(
    Effect.mapError(response.arrayBuffer, (error) => transportError(context, response, error)),
    (body) => {
      const parts: Array<Response.StreamPartEncoded> = []
      decoder.feed(new Uint8Array(body), parts)
      if (decoder.error === undefined) decoder.end(parts)
      if (decoder.error !== undefined) return Effect.fail(decoder.error)
      const collector = new Collector()
      collector.add(parts)
      return Effect.succeed(collector.content)
    }
  )
