import { AiError } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option, Schema, TestClock } from "effect"
import * as EngineError from "../src/EngineError.js"

const request = { method: "POST", url: "http://localhost/v1/chat/completions", headers: { authorization: "Bearer sk" } }

describe("EngineError", () => {
  it.effect("classifies HTTP statuses", () =>
    Effect.sync(() => {
      const cases: ReadonlyArray<readonly [number, EngineError.Reason, boolean]> = [
        [429, "RateLimited", true],
        [401, "Unauthorized", false],
        [403, "Unauthorized", false],
        [408, "Timeout", true],
        [400, "BadRequest", false],
        [404, "BadRequest", false],
        [422, "BadRequest", false],
        [500, "ServerError", true],
        [502, "ServerError", true],
        [503, "ServerError", true],
        [529, "ServerError", true],
        [302, "ServerError", true]
      ]
      for (const [status, reason, retryable] of cases) {
        const error = EngineError.fromResponse("e", { status, headers: {} })
        assert.strictEqual(error.reason, reason, `HTTP ${status}`)
        assert.strictEqual(error.isRetryable, retryable, `HTTP ${status}`)
        assert.strictEqual(error.status, status)
      }
    }))

  it.effect("reads the server's message from each body shape", () =>
    Effect.sync(() => {
      const message = (body: string) => EngineError.fromResponse("e", { status: 400, headers: {}, body }).description
      assert.strictEqual(
        message("{\"error\":{\"message\":\"bad schema\",\"type\":\"invalid_request_error\"}}"),
        "bad schema"
      )
      assert.strictEqual(message("{\"error\":\"model not found\"}"), "model not found")
      assert.strictEqual(message("{\"object\":\"error\",\"message\":\"too long\",\"code\":400}"), "too long")
      assert.strictEqual(message("{\"detail\":\"Not Found\"}"), "Not Found")
      assert.strictEqual(message("plain text\n"), "plain text")
      assert.isUndefined(message("   "))
      assert.strictEqual(message("x".repeat(5000))!.length, 2001)
    }))

  it.effect("reads retry-after in seconds, in milliseconds, or as an HTTP date", () =>
    Effect.sync(() => {
      const after = (headers: Record<string, string>) =>
        EngineError.fromResponse("e", { status: 429, headers }).retryAfter
      assert.deepStrictEqual(after({ "retry-after": "3" }), Duration.seconds(3))
      assert.deepStrictEqual(after({ "Retry-After": "1.5" }), Duration.millis(1500))
      assert.deepStrictEqual(after({ "retry-after-ms": "250", "retry-after": "9" }), Duration.millis(250))
      assert.deepStrictEqual(
        after({ "retry-after": "Wed, 21 Oct 2015 07:28:30 GMT", date: "Wed, 21 Oct 2015 07:28:00 GMT" }),
        Duration.seconds(30)
      )
      assert.isUndefined(after({ "retry-after": "Wed, 21 Oct 2015 07:28:30 GMT" }))
      assert.isUndefined(after({ "retry-after": "soon" }))
      assert.isUndefined(after({}))
    }))

  it.effect("travels inside the AiError an engine fails with, and comes back out", () =>
    Effect.sync(() => {
      const status = EngineError.fromResponse("OpenAiCompat", {
        status: 429,
        headers: { "retry-after": "2" },
        body: "{\"error\":{\"message\":\"slow down\"}}"
      })
      const response = EngineError.toAiError(status, {
        method: "streamText",
        request,
        response: { status: 429, headers: { "retry-after": "2" }, body: "{\"error\":{\"message\":\"slow down\"}}" }
      })
      assert.strictEqual(response._tag, "HttpResponseError")
      if (response._tag === "HttpResponseError") {
        assert.strictEqual(response.request.headers.authorization, "<redacted>")
      }
      const back = Option.getOrThrow(EngineError.fromAiError(response))
      assert.deepStrictEqual([back.reason, back.description, back.retryAfter], [
        "RateLimited",
        "slow down",
        Duration.seconds(2)
      ])

      const transport = new EngineError.EngineError({ engine: "Ollama", reason: "Transport", description: "reset" })
      const wrapped = EngineError.toAiError(transport, { method: "streamText", request })
      assert.strictEqual(wrapped._tag, "HttpRequestError")
      assert.strictEqual(Option.getOrThrow(EngineError.fromAiError(wrapped)), transport)

      const malformed = new EngineError.EngineError({ engine: "Ollama", reason: "MalformedStream", raw: "{oops" })
      const output = EngineError.toAiError(malformed, { method: "streamText", request })
      assert.strictEqual(output._tag, "MalformedOutput")
      assert.strictEqual(Option.getOrThrow(EngineError.fromAiError(output)).raw, "{oops")
    }))

  it.effect("classifies AiErrors of other providers, and leaves the others alone", () =>
    Effect.sync(() => {
      const details = { method: "POST" as const, url: "u", urlParams: [], hash: Option.none(), headers: {} }
      const foreign = new AiError.HttpResponseError({
        module: "OpenAiClient",
        method: "streamRequest",
        reason: "StatusCode",
        request: details,
        response: { status: 401, headers: {} },
        body: "{\"error\":{\"message\":\"Incorrect API key\"}}"
      })
      const found = Option.getOrThrow(EngineError.fromAiError(foreign))
      assert.deepStrictEqual([found.reason, found.engine, found.description], [
        "Unauthorized",
        "OpenAiClient",
        "Incorrect API key"
      ])
      const dropped = new AiError.HttpResponseError({
        module: "OpenAiClient",
        method: "streamRequest",
        reason: "Decode",
        request: details,
        response: { status: 200, headers: {} }
      })
      assert.strictEqual(Option.getOrThrow(EngineError.fromAiError(dropped)).reason, "Transport")
      const refused = new AiError.HttpRequestError({
        module: "OpenAiClient",
        method: "streamRequest",
        reason: "Transport",
        request: details
      })
      assert.strictEqual(Option.getOrThrow(EngineError.fromAiError(refused)).reason, "Transport")
      const invalidUrl = new AiError.HttpRequestError({
        module: "m",
        method: "x",
        reason: "InvalidUrl",
        request: details
      })
      assert.isTrue(Option.isNone(EngineError.fromAiError(invalidUrl)))
      assert.isTrue(Option.isNone(EngineError.fromAiError(new AiError.MalformedOutput({ module: "m", method: "x" }))))
      assert.isFalse(EngineError.isRetryable(new AiError.MalformedOutput({ module: "m", method: "x" })))
      assert.isFalse(EngineError.isRetryable(new Error("boom")))
      assert.isTrue(EngineError.isRetryable({ isRetryable: true }))
    }))

  it.effect("has a readable message and a serialisable schema", () =>
    Effect.gen(function*() {
      const error = new EngineError.EngineError({
        engine: "vllm",
        reason: "RateLimited",
        status: 429,
        description: "slow down",
        retryAfter: Duration.seconds(2)
      })
      assert.strictEqual(error.message, "vllm: RateLimited (HTTP 429): slow down, retry after 2s")
      const encoded = yield* Schema.encode(EngineError.EngineError)(error)
      assert.strictEqual((encoded as any).retryAfter, 2000)
      const decoded = yield* Schema.decodeUnknown(EngineError.EngineError)(JSON.parse(JSON.stringify(encoded)))
      assert.deepStrictEqual(decoded.retryAfter, Duration.seconds(2))
      assert.isTrue(EngineError.isEngineError(decoded))
    }))
})

describe("EngineError.retrySchedule", () => {
  const flaky = (errors: ReadonlyArray<unknown>) => {
    let calls = 0
    const effect = Effect.suspend(() => {
      const error = errors[calls++]
      return error === undefined ? Effect.succeed(calls) : Effect.fail(error)
    })
    return { effect, calls: () => calls }
  }
  const rateLimited = (seconds: number) =>
    new EngineError.EngineError({ engine: "e", reason: "RateLimited", retryAfter: Duration.seconds(seconds) })

  it.effect("waits at least the server's retry-after", () =>
    Effect.gen(function*() {
      const { calls, effect } = flaky([rateLimited(5)])
      const fiber = yield* Effect.fork(Effect.retry(effect, EngineError.retrySchedule({ base: "10 millis" })))
      yield* TestClock.adjust("4 seconds")
      assert.strictEqual(calls(), 1)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(fiber), 2)
    }))

  it.effect("backs off exponentially on retryable errors, up to the number of retries", () =>
    Effect.gen(function*() {
      const server = new EngineError.EngineError({ engine: "e", reason: "ServerError" })
      const { calls, effect } = flaky([server, server, server, server])
      const fiber = yield* Effect.fork(
        Effect.retry(effect, EngineError.retrySchedule({ times: 3, base: "100 millis", jitter: false }))
      )
      yield* TestClock.adjust("100 millis")
      assert.strictEqual(calls(), 2)
      yield* TestClock.adjust("200 millis")
      assert.strictEqual(calls(), 3)
      yield* TestClock.adjust("400 millis")
      const error = yield* Fiber.join(fiber).pipe(Effect.flip)
      assert.strictEqual(calls(), 4)
      assert.strictEqual(error, server)
    }))

  it.effect("does not retry what is not retryable, nor a retry-after beyond the limit", () =>
    Effect.gen(function*() {
      const unauthorized = flaky([new EngineError.EngineError({ engine: "e", reason: "Unauthorized" })])
      yield* Effect.flip(Effect.retry(unauthorized.effect, EngineError.retrySchedule()))
      assert.strictEqual(unauthorized.calls(), 1)
      const tooLong = flaky([rateLimited(3600)])
      yield* Effect.flip(Effect.retry(tooLong.effect, EngineError.retrySchedule({ maxRetryAfter: "1 minute" })))
      assert.strictEqual(tooLong.calls(), 1)
    }))
})
