/**
 * The one error family of sluice's HTTP engines, and its bridge to `@effect/ai`'s `AiError`.
 *
 * An engine is an `@effect/ai` `LanguageModel`, so what reaches the caller is an `AiError`. The engine's own
 * {@link EngineError} travels inside it:
 *
 * - an HTTP status error (429, 401, 400, 500, …) is an `AiError.HttpResponseError` (`reason: "StatusCode"`) with the
 *   response's status, headers and body, and a message naming the reason and the server's message: {@link fromAiError}
 *   reads the reason, the server's message and the retry-after from them, so it also works for engines sluice did
 *   not write (e.g. `@effect/ai-openai`);
 * - an error the server sent inside a stream is an `AiError.HttpResponseError` too, with the status its code names
 *   (500 when it names none) and the error event as its body;
 * - a transport failure or a timeout (connection refused, connection dropped mid-stream, no response in time) is an
 *   `AiError.HttpRequestError` (`reason: "Transport"`) whose `cause` is the `EngineError`;
 * - a malformed stream chunk is an `AiError.MalformedOutput` whose `cause` is the `EngineError` holding the raw line.
 *
 * {@link retrySchedule} retries what is worth retrying, waiting at least as long as the server's retry-after.
 *
 * @since 0.1.0
 */
import * as AiError from "@effect/ai/AiError"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/EngineError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Why an engine call failed.
 *
 * - `Transport`: the connection failed, or dropped before the stream ended (retryable);
 * - `Timeout`: no response, or no chunk, within the configured time (retryable);
 * - `RateLimited`: HTTP 429, with the server's `retryAfter` when it sent one (retryable);
 * - `Unauthorized`: HTTP 401 or 403 (bad or missing API key);
 * - `BadRequest`: another HTTP 4xx (unknown model, invalid schema, …), with the server's message;
 * - `ServerError`: HTTP 5xx, or an unexpected status (retryable);
 * - `MalformedStream`: a stream chunk that is not valid JSON, with the raw line.
 *
 * @example
 * ```ts
 * import * as EngineError from "sluice/EngineError"
 *
 * const reason: EngineError.Reason = "RateLimited"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Reason = typeof Reason.Type

/**
 * The schema of {@link Reason}.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as EngineError from "sluice/EngineError"
 *
 * Schema.is(EngineError.Reason)("Timeout") // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Reason = Schema.Literal(
  "Transport",
  "Timeout",
  "RateLimited",
  "Unauthorized",
  "BadRequest",
  "ServerError",
  "MalformedStream"
)

/**
 * An engine call failed. `engine` names the engine (e.g. `"OpenAiCompat"`), `status` is the HTTP status when there
 * was one, `description` the server's message (or what went wrong), `retryAfter` the delay the server asked for,
 * and `raw` the raw line of a malformed stream chunk.
 *
 * @example
 * ```ts
 * import { Duration } from "effect"
 * import { EngineError } from "sluice/EngineError"
 *
 * const error = new EngineError({
 *   engine: "OpenAiCompat",
 *   reason: "RateLimited",
 *   status: 429,
 *   retryAfter: Duration.seconds(2)
 * })
 * error.isRetryable // true
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class EngineError extends Schema.TaggedError<EngineError>("sluice/EngineError")("EngineError", {
  engine: Schema.String,
  reason: Reason,
  status: Schema.optional(Schema.Number),
  description: Schema.optional(Schema.String),
  retryAfter: Schema.optional(Schema.DurationFromMillis),
  raw: Schema.optional(Schema.String),
  cause: Schema.optional(Schema.Defect)
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * Transport failures, timeouts, rate limits and server errors may pass on a later attempt; the others will not.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return this.reason === "Transport" || this.reason === "Timeout" || this.reason === "RateLimited" ||
      this.reason === "ServerError"
  }

  /**
   * @since 0.1.0
   */
  override get message(): string {
    const status = this.status === undefined ? "" : ` (HTTP ${this.status})`
    const description = this.description === undefined ? "" : `: ${this.description}`
    const retry = this.retryAfter === undefined ? "" : `, retry after ${Duration.format(this.retryAfter)}`
    const raw = this.raw === undefined ? "" : `, raw chunk: ${truncate(this.raw, 200)}`
    return `${this.engine}: ${this.reason}${status}${description}${retry}${raw}`
  }
}

/**
 * Tells whether a value is an {@link EngineError}.
 *
 * @example
 * ```ts
 * import * as EngineError from "sluice/EngineError"
 *
 * EngineError.isEngineError(new EngineError.EngineError({ engine: "x", reason: "Timeout" })) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isEngineError = (u: unknown): u is EngineError => Predicate.hasProperty(u, TypeId)

/**
 * Classifies an HTTP error response: the reason from the status, the server's message from the body (OpenAI's
 * `{ error: { message } }`, Ollama's `{ error }`, vLLM's `{ message }`, FastAPI's `{ detail }`, or the text itself),
 * the retry-after from `retry-after-ms`, `retry-after` (seconds, or an HTTP date taken relative to the response's
 * `date` header).
 *
 * @example
 * ```ts
 * import * as EngineError from "sluice/EngineError"
 *
 * const error = EngineError.fromResponse("OpenAiCompat", {
 *   status: 429,
 *   headers: { "retry-after": "3" },
 *   body: "{\"error\":{\"message\":\"Slow down\"}}"
 * })
 * // reason "RateLimited", description "Slow down", retryAfter 3 seconds
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromResponse = (engine: string, response: {
  readonly status: number
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body?: string | undefined
}): EngineError => {
  const status = response.status
  const reason: Reason = status === 429
    ? "RateLimited"
    : status === 401 || status === 403
    ? "Unauthorized"
    : status === 408
    ? "Timeout"
    : status >= 400 && status < 500
    ? "BadRequest"
    : "ServerError"
  const description = serverMessage(response.body)
  const retryAfter = parseRetryAfter(response.headers)
  return new EngineError({
    engine,
    reason,
    status,
    ...(description === undefined ? {} : { description }),
    ...(Option.isSome(retryAfter) ? { retryAfter: retryAfter.value } : {})
  })
}

/**
 * Reads the {@link EngineError} out of an `AiError`: the one an engine of sluice put in its `cause`, or one
 * classified from an HTTP status error or a transport error of any `@effect/ai` provider. `None` for other errors
 * (a malformed request, a response that failed schema decoding, …).
 *
 * @example
 * ```ts
 * import { LanguageModel } from "@effect/ai"
 * import { Effect, Option } from "effect"
 * import * as EngineError from "sluice/EngineError"
 *
 * const program = LanguageModel.generateText({ prompt: "hi" }).pipe(
 *   Effect.tapError((error) =>
 *     Option.match(EngineError.fromAiError(error), {
 *       onNone: () => Effect.void,
 *       onSome: (engineError) => Effect.logWarning(engineError.reason, engineError.retryAfter)
 *     })
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromAiError = (error: AiError.AiError): Option.Option<EngineError> => {
  const cause = "cause" in error ? error.cause : undefined
  if (isEngineError(cause)) return Option.some(cause)
  switch (error._tag) {
    case "HttpResponseError": {
      if (error.reason === "StatusCode") {
        return Option.some(fromResponse(error.module, {
          status: error.response.status,
          headers: error.response.headers,
          body: error.body
        }))
      }
      return error.reason === "Decode"
        ? Option.some(
          new EngineError({
            engine: error.module,
            reason: "Transport",
            status: error.response.status,
            description: error.description ?? "the response body could not be read",
            cause
          })
        )
        : Option.none()
    }
    case "HttpRequestError": {
      return error.reason === "Transport"
        ? Option.some(
          new EngineError({
            engine: error.module,
            reason: "Transport",
            description: error.description ?? `${error.request.method} ${error.request.url} failed`,
            cause
          })
        )
        : Option.none()
    }
    default:
      return Option.none()
  }
}

/**
 * Reads an {@link EngineError} out of any value: an `EngineError` itself, or an `AiError` (see {@link fromAiError}).
 *
 * @example
 * ```ts
 * import * as EngineError from "sluice/EngineError"
 *
 * EngineError.fromUnknown(new Error("boom")) // Option.none()
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromUnknown = (u: unknown): Option.Option<EngineError> =>
  isEngineError(u) ? Option.some(u) : AiError.isAiError(u) ? fromAiError(u) : Option.none()

/**
 * Tells whether an error is worth retrying: an `EngineError` (or an `AiError` carrying one) by its reason; any other
 * value by its own `isRetryable` property when it has one, else not.
 *
 * @example
 * ```ts
 * import * as EngineError from "sluice/EngineError"
 *
 * EngineError.isRetryable(new EngineError.EngineError({ engine: "x", reason: "BadRequest" })) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isRetryable = (u: unknown): boolean => {
  const error = fromUnknown(u)
  if (Option.isSome(error)) return error.value.isRetryable
  return Predicate.hasProperty(u, "isRetryable") && u.isRetryable === true
}

/**
 * The delay the server asked for before the next attempt, when the error carries one.
 *
 * @example
 * ```ts
 * import { Duration } from "effect"
 * import * as EngineError from "sluice/EngineError"
 *
 * const error = new EngineError.EngineError({ engine: "x", reason: "RateLimited", retryAfter: Duration.seconds(1) })
 * EngineError.retryAfter(error) // Option.some(Duration.seconds(1))
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const retryAfter = (u: unknown): Option.Option<Duration.Duration> =>
  Option.flatMap(fromUnknown(u), (error) => Option.fromNullable(error.retryAfter))

/**
 * Options of {@link retrySchedule}.
 *
 * - `times`: the most retries (default 3);
 * - `base`: the first backoff delay (default 500 ms), doubled at each retry (`factor`, default 2), jittered unless
 *   `jitter: false`, and capped at `maxDelay` (default 30 s);
 * - `maxRetryAfter`: the longest server retry-after honoured (default 60 s): a server asking for more stops the
 *   retries at once rather than holding the caller.
 *
 * @example
 * ```ts
 * import type * as EngineError from "sluice/EngineError"
 *
 * const options: EngineError.RetryOptions = { times: 5, base: "1 second" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryOptions {
  readonly times?: number | undefined
  readonly base?: Duration.DurationInput | undefined
  readonly factor?: number | undefined
  readonly maxDelay?: Duration.DurationInput | undefined
  readonly maxRetryAfter?: Duration.DurationInput | undefined
  readonly jitter?: boolean | undefined
}

/**
 * A retry `Schedule` for engine calls, fed with the errors: it retries only retryable errors (see
 * {@link isRetryable}), with exponential backoff, and waits at least the server's retry-after. Its output is the
 * delay before the next attempt. Works with `Effect.retry`, `Stream.retry` and `Node.retry`.
 *
 * @example
 * ```ts
 * import { LanguageModel } from "@effect/ai"
 * import { Effect } from "effect"
 * import * as EngineError from "sluice/EngineError"
 *
 * const program = LanguageModel.generateText({ prompt: "hi" }).pipe(
 *   Effect.retry(EngineError.retrySchedule({ times: 4 }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const retrySchedule = (options?: RetryOptions | undefined): Schedule.Schedule<Duration.Duration, unknown> => {
  const times = options?.times ?? 3
  const maxDelay = Duration.decode(options?.maxDelay ?? "30 seconds")
  const maxRetryAfter = Duration.decode(options?.maxRetryAfter ?? "60 seconds")
  const backoff = Schedule.exponential(options?.base ?? "500 millis", options?.factor ?? 2)
  const jittered = options?.jitter === false ? backoff : Schedule.jittered(backoff)
  return Schedule.identity<unknown>().pipe(
    Schedule.intersect(jittered),
    Schedule.intersect(Schedule.recurs(times)),
    Schedule.whileInput((error: unknown) =>
      isRetryable(error) &&
      Option.match(retryAfter(error), {
        onNone: () => true,
        onSome: (delay) => Duration.lessThanOrEqualTo(delay, maxRetryAfter)
      })
    ),
    Schedule.modifyDelay(([[error]], delay) => {
      const capped = Duration.min(delay, maxDelay)
      return Option.match(retryAfter(error), {
        onNone: () => capped,
        onSome: (server) => Duration.max(capped, server)
      })
    }),
    Schedule.delays
  )
}

/**
 * Wraps an {@link EngineError} into the `AiError` an engine fails with (see the module documentation).
 *
 * @example
 * ```ts
 * import { HttpClientRequest } from "@effect/platform"
 * import * as EngineError from "sluice/EngineError"
 *
 * const error = new EngineError.EngineError({ engine: "OpenAiCompat", reason: "Transport" })
 * const aiError = EngineError.toAiError(error, {
 *   method: "streamText",
 *   request: HttpClientRequest.post("http://localhost:8000/v1/chat/completions")
 * })
 * aiError._tag // "HttpRequestError"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const toAiError = (error: EngineError, context: {
  readonly method: string
  readonly request: {
    readonly method: string
    readonly url: string
    readonly headers: Readonly<Record<string, string>>
  }
  readonly response?: {
    readonly status: number
    readonly headers: Readonly<Record<string, string>>
    readonly body?: string | undefined
  } | undefined
}): AiError.AiError => {
  const request = {
    method: context.request.method as typeof AiError.HttpRequestDetails.Type["method"],
    url: context.request.url,
    urlParams: [],
    hash: Option.none(),
    headers: redact(context.request.headers)
  }
  if (error.status !== undefined && error.reason !== "Transport" && error.reason !== "MalformedStream") {
    const response = context.response ?? { status: error.status, headers: {} }
    return new AiError.HttpResponseError(
      {
        module: error.engine,
        method: context.method,
        reason: "StatusCode",
        request,
        response: { status: response.status, headers: redact(response.headers) },
        ...(response.body === undefined ? {} : { body: response.body }),
        description: error.message,
        // not a field of the schema: it keeps the EngineError for `fromAiError`, as the other shapes do
        cause: error
      } as ConstructorParameters<typeof AiError.HttpResponseError>[0],
      { disableValidation: true }
    )
  }
  if (error.reason === "MalformedStream") {
    return new AiError.MalformedOutput({
      module: error.engine,
      method: context.method,
      description: error.message,
      cause: error
    }, { disableValidation: true })
  }
  return new AiError.HttpRequestError({
    module: error.engine,
    method: context.method,
    reason: "Transport",
    request,
    description: error.message,
    cause: error
  }, { disableValidation: true })
}

// =============================================================================
// internal
// =============================================================================

const truncate = (text: string, max: number): string => text.length > max ? `${text.slice(0, max)}…` : text

const SENSITIVE = new Set(["authorization", "x-api-key", "api-key", "cookie", "set-cookie", "proxy-authorization"])

const redact = (headers: Readonly<Record<string, string>>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const key in headers) out[key] = SENSITIVE.has(key.toLowerCase()) ? "<redacted>" : headers[key]!
  return out
}

const serverMessage = (body: string | undefined): string | undefined => {
  if (body === undefined) return undefined
  const text = body.trim()
  if (text.length === 0) return undefined
  const parsed = Schema.decodeUnknownOption(Schema.parseJson())(text)
  if (Option.isSome(parsed)) {
    const json = parsed.value
    const candidates = [
      Predicate.hasProperty(json, "error") && Predicate.hasProperty(json.error, "message")
        ? json.error.message
        : undefined,
      Predicate.hasProperty(json, "error") ? json.error : undefined,
      Predicate.hasProperty(json, "message") ? json.message : undefined,
      Predicate.hasProperty(json, "detail") ? json.detail : undefined
    ]
    for (const candidate of candidates) {
      if (typeof candidate === "string" && candidate.length > 0) return truncate(candidate, 2000)
    }
  }
  return truncate(text, 2000)
}

const header = (headers: Readonly<Record<string, string | undefined>>, name: string): string | undefined => {
  const direct = headers[name]
  if (direct !== undefined) return direct
  for (const key in headers) if (key.toLowerCase() === name) return headers[key]
  return undefined
}

const parseRetryAfter = (headers: Readonly<Record<string, string | undefined>>): Option.Option<Duration.Duration> => {
  const ms = header(headers, "retry-after-ms")
  if (ms !== undefined && /^\s*\d+(\.\d+)?\s*$/.test(ms)) return Option.some(Duration.millis(Number(ms)))
  const value = header(headers, "retry-after")
  if (value === undefined) return Option.none()
  if (/^\s*\d+(\.\d+)?\s*$/.test(value)) return Option.some(Duration.millis(Number(value) * 1000))
  const at = Date.parse(value)
  const date = header(headers, "date")
  const now = date === undefined ? Number.NaN : Date.parse(date)
  return Number.isNaN(at) || Number.isNaN(now) ? Option.none() : Option.some(Duration.millis(Math.max(0, at - now)))
}
