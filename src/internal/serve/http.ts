/**
 * The HTTP plumbing shared by `Serve` and Studio: OpenAI-shaped error bodies, bearer-token checks, body reading
 * under a size limit, per-route admission (429 with `retry-after`), and the in-flight tracker that drains on
 * shutdown.
 */
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

/** An error answered as `{ "error": { message, type, code, param, issues? } }`, the shape OpenAI clients read. */
export class HttpFailure {
  readonly _tag = "HttpFailure"
  constructor(
    readonly status: number,
    readonly type: string,
    readonly code: string,
    readonly message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {}
  ) {}
}

export const errorBody = (failure: HttpFailure) => ({
  error: { message: failure.message, type: failure.type, code: failure.code, param: null, ...failure.extra }
})

export const respond = (failure: HttpFailure): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(errorBody(failure), { status: failure.status, headers: failure.headers })

export const badRequest = (message: string, extra?: Record<string, unknown>) =>
  new HttpFailure(400, "invalid_request_error", "invalid_request", message, extra)

export const notFound = (message: string, code = "not_found") =>
  new HttpFailure(404, "invalid_request_error", code, message)

/** Compares a presented token with the expected one in time independent of where they differ. */
const sameToken = (presented: string, expected: string): boolean => {
  let diff = presented.length ^ expected.length
  for (let i = 0; i < expected.length; i++) {
    diff |= presented.charCodeAt(i % Math.max(1, presented.length)) ^ expected.charCodeAt(i)
  }
  return diff === 0
}

/** Fails with 401 unless the request carries `Authorization: Bearer <token>` (no check when `token` is none). */
export const authorize = (
  request: HttpServerRequest.HttpServerRequest,
  token: Option.Option<Redacted.Redacted>
): Effect.Effect<void, HttpFailure> => {
  if (Option.isNone(token)) return Effect.void
  const header = request.headers["authorization"] ?? ""
  const match = /^Bearer\s+(.+)$/i.exec(header)
  if (match !== null && sameToken(match[1]!.trim(), Redacted.value(token.value))) return Effect.void
  return Effect.fail(
    new HttpFailure(
      401,
      "invalid_request_error",
      "invalid_api_key",
      match === null ? "missing bearer token (Authorization: Bearer <token>)" : "invalid bearer token",
      {},
      { "www-authenticate": "Bearer" }
    )
  )
}

const tooLarge = (limit: number) =>
  new HttpFailure(413, "invalid_request_error", "request_too_large", `the request body is larger than ${limit} bytes`)

/** Reads the body as JSON: 413 past `limit` bytes, 400 for malformed JSON. */
export const readJson = (
  request: HttpServerRequest.HttpServerRequest,
  limit: number
): Effect.Effect<unknown, HttpFailure> =>
  Effect.gen(function*() {
    const declared = Number(request.headers["content-length"] ?? "NaN")
    if (Number.isFinite(declared) && declared > limit) return yield* Effect.fail(tooLarge(limit))
    const text = yield* request.text.pipe(
      HttpIncomingMessage.withMaxBodySize(Option.some(limit)),
      Effect.mapError((error) =>
        String(error.cause).includes("maxBytes")
          ? tooLarge(limit)
          : badRequest(`the request body could not be read: ${error.message}`)
      )
    )
    if (text.length === 0) return yield* Effect.fail(badRequest("the request body is empty; send JSON"))
    return yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (error) =>
        new HttpFailure(
          400,
          "invalid_request_error",
          "invalid_json",
          `the request body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`
        )
    })
  })

/** Decodes a value with a schema: 400 with every issue (`issues: [{ path, message }]`). */
export const decode = <A, I>(
  schema: Schema.Schema<A, I>,
  value: unknown,
  what: string
): Effect.Effect<A, HttpFailure> =>
  Effect.mapError(
    Schema.decodeUnknown(schema, { errors: "all" })(value),
    (error) =>
      badRequest(`${what} does not match the schema:\n${ParseResult.TreeFormatter.formatErrorSync(error)}`, {
        issues: ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => ({
          path: issue.path.map(String),
          message: issue.message
        }))
      })
  )

/** Admission to a route: at most `limit` requests at once, the rest get 429 with `retry-after`. */
export class Gate {
  active = 0
  constructor(readonly limit: number, readonly retryAfterSeconds: number) {}
  enter(): Effect.Effect<void, HttpFailure> {
    return Effect.suspend(() => {
      if (this.active >= this.limit) {
        return Effect.fail(
          new HttpFailure(
            429,
            "rate_limit_error",
            "concurrency_limit",
            `too many requests in flight on this route (limit ${this.limit}); retry later`,
            {},
            { "retry-after": String(this.retryAfterSeconds) }
          )
        )
      }
      this.active++
      return Effect.void
    })
  }
  leave(): Effect.Effect<void> {
    return Effect.sync(() => {
      this.active--
    })
  }
}

/** An admitted request: `release` when it is answered; `stop` is done when shutdown gives up waiting for it. */
export interface Ticket {
  readonly release: Effect.Effect<void>
  readonly stop: Deferred.Deferred<void>
}

/** The requests in flight, so that shutdown can refuse new ones, wait for the running ones, then stop them. */
export class Drain {
  readonly tickets = new Set<Ticket>()
  closing = false
  private idle: Deferred.Deferred<void> | undefined
  enter(): Effect.Effect<Ticket, HttpFailure> {
    return Effect.suspend(() => {
      if (this.closing) {
        return Effect.fail(
          new HttpFailure(503, "server_error", "shutting_down", "the server is shutting down", {}, {
            "retry-after": "1",
            connection: "close"
          })
        )
      }
      const stop = Deferred.unsafeMake<void>(FiberId.none)
      let released = false
      const ticket: Ticket = {
        stop,
        release: Effect.suspend(() => {
          if (released) return Effect.void
          released = true
          this.tickets.delete(ticket)
          return this.tickets.size === 0 && this.idle !== undefined
            ? Deferred.succeed(this.idle, undefined)
            : Effect.void
        })
      }
      this.tickets.add(ticket)
      return Effect.succeed(ticket)
    })
  }
  /** Refuses new requests, waits up to `timeout` for the running ones to finish, then stops those still running. */
  close(timeout: Duration.DurationInput): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.closing = true
      if (this.tickets.size === 0) return Effect.void
      const idle = Deferred.unsafeMake<void>(FiberId.none)
      this.idle = idle
      // a finalizer runs uninterruptibly: the wait must be interruptible for the timeout to end it
      return Deferred.await(idle).pipe(
        Effect.interruptible,
        Effect.timeout(timeout),
        Effect.catchAll(() =>
          Effect.forEach([...this.tickets], (ticket) => Deferred.succeed(ticket.stop, undefined), { discard: true })
        )
      )
    })
  }
}
