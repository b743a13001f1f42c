import { AiError, LanguageModel, Response, Toolkit } from "@effect/ai"
import { HttpClient, HttpClientResponse } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import type { Context, Exit, Option, ParseResult } from "effect"
import { Chunk, Effect, Layer, Schema, Stream, Tracer } from "effect"
import * as OpenAiCompat from "../../src/engines/OpenAiCompat.js"
import * as StreamParts from "../../src/internal/streamParts.js"

type Encoded = Response.StreamPartEncoded

const schemaDecode = Schema.decode(Schema.ChunkFromSelf(Response.StreamPart(Toolkit.empty)))

const decoded = (chunk: ReadonlyArray<unknown>) =>
  Stream.fromChunk(Chunk.unsafeFromArray(chunk as Array<Encoded>)).pipe(
    StreamParts.decodeStream,
    Stream.runCollect,
    Effect.map(Chunk.toReadonlyArray),
    Effect.either
  )

const bySchema = (chunk: ReadonlyArray<unknown>) =>
  schemaDecode(Chunk.unsafeFromArray(chunk as Array<Encoded>)).pipe(Effect.map(Chunk.toReadonlyArray), Effect.either)

const assertSameParts = (actual: ReadonlyArray<unknown>, expected: ReadonlyArray<unknown>) => {
  assert.deepStrictEqual(actual, expected)
  // same fields in the same order (what a consumer spreading or serialising a part sees)
  assert.deepStrictEqual(
    actual.map((part) => Reflect.ownKeys(part as object)),
    expected.map((part) => Reflect.ownKeys(part as object))
  )
}

const chunks: ReadonlyArray<ReadonlyArray<unknown>> = [
  [{ type: "text-start", id: "t" }, { type: "text-delta", id: "t", delta: "Hel" }, {
    type: "text-delta",
    id: "t",
    delta: "lo"
  }],
  [{ type: "reasoning-start", id: "r" }, { type: "reasoning-delta", id: "r", delta: "hm" }, {
    type: "reasoning-end",
    id: "r"
  }],
  [{ type: "tool-params-delta", id: "c", delta: "{\"a\"" }, { type: "tool-params-end", id: "c" }, {
    type: "text-end",
    id: "t"
  }],
  [{ type: "text-delta", id: "t", delta: "x", metadata: undefined }],
  [{ type: "text-delta", id: "t", delta: "x", extra: 1 }],
  [{ type: "text-delta", id: "t", delta: "" }],
  []
]

const unusual: ReadonlyArray<ReadonlyArray<unknown>> = [
  [{ type: "text-delta", id: "t", delta: "x", metadata: { p: { a: 1 } } }],
  [{ type: "text-delta", id: "t", delta: "x" }, { type: "response-metadata", id: "a", modelId: "m" }],
  [{ type: "finish", reason: "stop", usage: { inputTokens: 1 } }],
  [{ type: "tool-params-start", id: "c", name: "weather" }],
  [{ type: "text-delta", id: 1, delta: "x" }],
  [{ type: "text-delta", id: "t", delta: 1 }],
  [{ type: "text-delta", id: "t" }],
  [{ type: "text-start", id: "t", metadata: null }],
  [{ type: "no-such-part", id: "t" }],
  [{ type: "text-delta", id: "t", delta: "a" }, null],
  ["text"]
]

/** An engine's provider functions whose stream is the given chunks, then the given failure if any. */
const params = (parts: ReadonlyArray<ReadonlyArray<unknown>>, failure?: AiError.AiError) => ({
  generateText: () => Effect.succeed([]),
  streamText: () => {
    // one Stream chunk per scripted chunk
    const chunked = Stream.fromIterable(parts.map((chunk) => Chunk.unsafeFromArray(chunk as Array<Encoded>))).pipe(
      Stream.flattenChunks
    )
    return failure === undefined ? chunked : Stream.concat(chunked, Stream.fail(failure))
  }
})

const run = (service: LanguageModel.Service) =>
  service.streamText({ prompt: "Go" }).pipe(
    Stream.runCollect,
    Effect.map(Chunk.toReadonlyArray),
    Effect.either
  )

/** The stream of the service `LanguageModel.make` builds, and of the same with plain parts. */
const both = (parts: ReadonlyArray<ReadonlyArray<unknown>>, failure?: AiError.AiError) =>
  Effect.gen(function*() {
    const upstream = yield* LanguageModel.make(params(parts, failure))
    const plain = yield* StreamParts.withPlainParts(
      yield* LanguageModel.make(params(parts, failure)),
      params(parts, failure)
    )
    return { expected: yield* run(upstream), actual: yield* run(plain) }
  })

describe("streamParts", () => {
  it.effect("plain chunks decode to the parts Response.StreamPart's schema makes, field for field", () =>
    Effect.gen(function*() {
      for (const chunk of chunks) {
        assert.isDefined(StreamParts.plainParts(Chunk.unsafeFromArray(chunk as Array<Encoded>)))
        const actual = yield* decoded(chunk)
        const expected = yield* bySchema(chunk)
        assert.isTrue(actual._tag === "Right" && expected._tag === "Right")
        if (actual._tag === "Right" && expected._tag === "Right") assertSameParts(actual.right, expected.right)
      }
    }))

  it.effect("any other chunk goes through the schema: the same parts, or its ParseError as MalformedOutput", () =>
    Effect.gen(function*() {
      for (const chunk of unusual) {
        assert.isUndefined(StreamParts.plainParts(Chunk.unsafeFromArray(chunk as Array<Encoded>)))
        const actual = yield* decoded(chunk)
        const expected = yield* bySchema(chunk)
        assert.strictEqual(actual._tag, expected._tag)
        if (actual._tag === "Right" && expected._tag === "Right") assertSameParts(actual.right, expected.right)
        if (actual._tag === "Left" && expected._tag === "Left") {
          const error = actual.left as AiError.MalformedOutput
          assert.strictEqual(error._tag, "MalformedOutput")
          assert.strictEqual(error.module, "LanguageModel")
          assert.strictEqual(error.method, "streamText")
          assert.strictEqual((error.cause as ParseResult.ParseError).message, expected.left.message)
        }
      }
    }))

  it.effect("a service's streamText gives what LanguageModel.make's gives: parts, MalformedOutput, engine errors", () =>
    Effect.gen(function*() {
      const engineError = new AiError.UnknownError({ module: "Engine", method: "streamText", description: "boom" })
      const cases: ReadonlyArray<readonly [ReadonlyArray<ReadonlyArray<unknown>>, AiError.AiError?]> = [
        [[...chunks, ...unusual.slice(0, 4), [{ type: "text-end", id: "t" }]]],
        [[chunks[0]!, unusual[4]!, chunks[1]!]],
        [[chunks[0]!, unusual[8]!]],
        [[chunks[0]!, chunks[1]!], engineError],
        [[], engineError]
      ]
      for (const [parts, failure] of cases) {
        const { actual, expected } = yield* both(parts, failure)
        assert.strictEqual(actual._tag, expected._tag)
        if (actual._tag === "Right" && expected._tag === "Right") assertSameParts(actual.right, expected.right)
        if (actual._tag === "Left" && expected._tag === "Left") {
          assert.strictEqual(actual.left._tag, expected.left._tag)
          assert.strictEqual(actual.left.message, expected.left.message)
          if (failure === undefined) assert.strictEqual(actual.left._tag, "MalformedOutput")
          else assert.strictEqual(actual.left, failure)
        }
      }
    }))

  it.effect("the LanguageModel.streamText span ends with the stream, as LanguageModel.make's does, also when cut short", () =>
    Effect.gen(function*() {
      const parts = [chunks[0]!, chunks[1]!]
      const spans = (service: LanguageModel.Service, take: number | undefined) =>
        Effect.gen(function*() {
          const ended: Array<string> = []
          const tracer = Tracer.make({
            span: (name, parent, context, links, startTime, kind, options) =>
              new RecordingSpan(name, parent, context, links, startTime, kind, options, ended),
            context: (f) => f()
          })
          const stream = service.streamText({ prompt: "Go" })
          yield* (take === undefined ? stream : Stream.take(stream, take)).pipe(
            Stream.runDrain,
            Effect.withTracer(tracer)
          )
          return ended
        })
      for (const take of [undefined, 1]) {
        const upstream = yield* LanguageModel.make(params(parts))
        const plain = yield* StreamParts.withPlainParts(yield* LanguageModel.make(params(parts)), params(parts))
        const expected = yield* spans(upstream, take)
        assert.deepStrictEqual(yield* spans(plain, take), expected)
        assert.include(expected, "LanguageModel.streamText")
      }
    }))
})

class RecordingSpan implements Tracer.Span {
  readonly _tag = "Span"
  readonly spanId = "s"
  readonly traceId = "t"
  readonly sampled = true
  status: Tracer.SpanStatus
  readonly attributes = new Map<string, unknown>()
  constructor(
    readonly name: string,
    readonly parent: Option.Option<Tracer.AnySpan>,
    readonly context: Context.Context<never>,
    readonly links: ReadonlyArray<Tracer.SpanLink>,
    startTime: bigint,
    readonly kind: Tracer.SpanKind,
    _options: unknown,
    private readonly ended: Array<string>
  ) {
    this.status = { _tag: "Started", startTime }
  }
  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>) {
    this.status = { _tag: "Ended", startTime: (this.status as any).startTime, endTime, exit }
    this.ended.push(this.name)
  }
  attribute(key: string, value: unknown) {
    this.attributes.set(key, value)
  }
  event() {}
  addLinks() {}
}

// -----------------------------------------------------------------------------
// OpenAiCompat: the plain path (no toolkit) against the schema path (an empty toolkit)
// -----------------------------------------------------------------------------

const sse = (events: ReadonlyArray<unknown>) =>
  events.map((event) => `data: ${typeof event === "string" ? event : JSON.stringify(event)}\n\n`).join("")

const chunk = (delta: unknown, finish: string | null = null) => ({
  id: "c1",
  created: 1_700_000_000,
  model: "m",
  choices: [{ index: 0, delta, finish_reason: finish }]
})

/** OpenAiCompat over an in-process client answering `body`, cut into pieces of `size` bytes. */
const inProcess = (body: string, size = 7) => {
  const bytes = new TextEncoder().encode(body)
  const pieces: Array<Uint8Array> = []
  for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.subarray(at, at + size))
  return OpenAiCompat.layer({ baseUrl: "http://in-process/v1", model: "m", coalesceDeltas: false }).pipe(
    Layer.provide(Layer.succeed(
      HttpClient.HttpClient,
      HttpClient.make((request) =>
        Effect.sync(() =>
          Object.create(
            HttpClientResponse.fromWeb(
              request,
              new globalThis.Response(null, { status: 200, headers: { "content-type": "text/event-stream" } })
            ),
            {
              stream: {
                get: () => Stream.fromIterable(pieces.map((piece) => Chunk.of(piece))).pipe(Stream.flattenChunks)
              }
            }
          ) as HttpClientResponse.HttpClientResponse
        )
      )
    ))
  )
}

const collect = (stream: Stream.Stream<unknown, unknown, LanguageModel.LanguageModel>, body: string) =>
  stream.pipe(Stream.runCollect, Effect.map(Chunk.toReadonlyArray), Effect.either, Effect.provide(inProcess(body)))

describe("OpenAiCompat streamText: plain parts", () => {
  const bodies = [
    sse([
      chunk({ role: "assistant", content: "" }),
      chunk({ reasoning_content: "think" }),
      chunk({ content: "Hel" }),
      chunk({ content: "lo" }),
      chunk({ tool_calls: [{ index: 0, id: "c", function: { name: "weather", arguments: "{\"a\"" } }] }),
      chunk({}, "stop"),
      "[DONE]"
    ]),
    sse([chunk({ content: "a" }), "{not json", chunk({ content: "b" }), "[DONE]"]),
    sse([chunk({ content: "a" }), { error: { message: "overloaded", code: 503 } }]),
    sse([chunk({ content: "a" }), chunk({ content: "b" })]),
    sse([chunk({ content: "a" }), chunk({ refusal: "no" }), chunk({}, "stop"), "[DONE]"])
  ]

  it.effect("gives the parts and the errors of LanguageModel's schema path", () =>
    Effect.gen(function*() {
      for (const body of bodies) {
        const actual = yield* collect(LanguageModel.streamText({ prompt: "Go" }), body)
        const expected = yield* collect(LanguageModel.streamText({ prompt: "Go", toolkit: Toolkit.empty }), body)
        assert.strictEqual(actual._tag, expected._tag)
        if (actual._tag === "Right" && expected._tag === "Right") assertSameParts(actual.right, expected.right)
        if (actual._tag === "Left" && expected._tag === "Left") {
          const [a, e] = [actual.left as AiError.AiError, expected.left as AiError.AiError]
          assert.strictEqual(a._tag, e._tag)
          assert.strictEqual(a.message, e.message)
        }
      }
    }))
})
