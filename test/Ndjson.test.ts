import { assert, describe, it } from "@effect/vitest"
import { Chunk, Data, Effect, Either, Stream } from "effect"
import * as Ndjson from "../src/Ndjson.js"
import { concat, perByte, randomSplit, transcripts } from "./support/bytes.js"

const encoder = new TextEncoder()
const dir = new URL("./fixtures/transcripts/", import.meta.url)
const collect = <E>(stream: Stream.Stream<unknown, E>) =>
  Stream.runCollect(stream).pipe(Effect.map(Chunk.toReadonlyArray))
const bytes = (...chunks: ReadonlyArray<string>) =>
  Stream.fromIterable(chunks.map((c) => encoder.encode(c))).pipe(Stream.rechunk(1))

interface OllamaChunk {
  readonly response?: string
  readonly thinking?: string
  readonly message?: { readonly content?: string; readonly tool_calls?: ReadonlyArray<unknown> }
  readonly done?: boolean
  readonly done_reason?: string
  readonly eval_count?: number
  readonly prompt_eval_count?: number
  readonly total_duration?: number
}

interface Meta {
  readonly expected: {
    readonly lines: number
    readonly text: string
    readonly thinking?: string
    readonly tool_calls?: ReadonlyArray<unknown>
    readonly final: {
      readonly done_reason: string | null
      readonly eval_count: number
      readonly prompt_eval_count: number
      readonly total_duration: number
    }
  }
}

/** What the Ollama engine will compute from the values: the transcript's `expected` block. */
const summarise = (values: ReadonlyArray<unknown>): unknown => {
  const chunks = values as ReadonlyArray<OllamaChunk>
  const final = chunks[chunks.length - 1]!
  const thinking = chunks.map((c) => c.thinking ?? "").join("")
  const toolCalls = chunks.flatMap((c) => c.message?.tool_calls ?? [])
  return {
    lines: chunks.length,
    text: chunks.map((c) => c.message?.content ?? c.response ?? "").join(""),
    ...(thinking === "" ? {} : { thinking }),
    ...(toolCalls.length === 0 ? {} : { tool_calls: toolCalls }),
    final: {
      done_reason: final.done_reason ?? null,
      eval_count: final.eval_count,
      prompt_eval_count: final.prompt_eval_count,
      total_duration: final.total_duration
    }
  }
}

describe("Ollama transcripts", () => {
  const recorded = transcripts<Meta>(dir, (file) => file.startsWith("ollama.") && file.endsWith(".ndjson"))

  it("all four are in the fixtures with their sidecars", () => {
    assert.strictEqual(recorded.files.length, 4)
    assert.isTrue(recorded.sidecarsPresent())
  })

  for (const file of recorded.files) {
    it.effect(file, () =>
      Effect.gen(function*() {
        const { body, meta } = recorded.read(file)
        const text = new TextDecoder().decode(body)
        const variants: Array<[string, Uint8Array]> = [
          ["as recorded", body],
          ["CRLF", encoder.encode(text.replaceAll("\n", "\r\n"))],
          ["blank lines", encoder.encode("\n" + text.replaceAll("\n", "\n\n  \n\t\n"))],
          ["no final LF", encoder.encode(text.trimEnd())],
          ["leading BOM", concat([Uint8Array.of(0xef, 0xbb, 0xbf), body])]
        ]
        for (const [label, variant] of variants) {
          const splits = [[variant], perByte([variant]), randomSplit([variant], 7, 64)]
          for (const split of splits) {
            const values = yield* collect(Stream.fromIterable(split).pipe(Stream.rechunk(1), Ndjson.decode))
            assert.deepStrictEqual(summarise(values), meta.expected, `${file} (${label}, ${split.length} chunks)`)
          }
        }
        const viaText = yield* collect(Stream.fromIterable(text.split("")).pipe(Ndjson.decodeText))
        assert.deepStrictEqual(summarise(viaText), meta.expected, "text, one character per chunk")
      }))
  }
})

class MalformedStream extends Data.TaggedError("MalformedStream")<{ readonly raw: string }> {}

describe("Ndjson", () => {
  it.effect("a malformed line fails with NdjsonError after the values before it", () =>
    Effect.gen(function*() {
      const result = yield* bytes("{\"a\":1}\n\n{\"a\":", "2}\n{bad json}\r\n{\"a\":3}\n").pipe(
        Ndjson.decode,
        Stream.either,
        Stream.runCollect
      )
      const items = Chunk.toReadonlyArray(result)
      assert.deepStrictEqual(items.slice(0, 2), [Either.right({ a: 1 }), Either.right({ a: 2 })])
      assert.strictEqual(items.length, 3)
      const error = Either.isLeft(items[2]!) ? items[2].left : undefined
      assert.isTrue(Ndjson.isNdjsonError(error))
      assert.strictEqual(error?.reason, "MalformedLine")
      assert.strictEqual(error?.line, "{bad json}")
      assert.strictEqual(error?.lineNumber, 4)
      assert.isFalse(error?.isRetryable)
      assert.match(error?.message ?? "", /^NDJSON line 4 is not JSON \(.+\): \{bad json\}$/)
    }))

  it.effect("an engine maps the typed error to its own and never crashes", () =>
    Effect.gen(function*() {
      const error = yield* bytes("{\"response\":\"Hi\"}\n{\"response\":\"th").pipe(
        Ndjson.decode,
        Stream.catchTag("NdjsonError", (e) => Stream.fail(new MalformedStream({ raw: e.line }))),
        Stream.runDrain,
        Effect.flip
      )
      assert.deepStrictEqual(error, new MalformedStream({ raw: "{\"response\":\"th" }))
    }))

  it.effect("a line longer than maxLineLength fails with LineTooLong, buffered or not", () =>
    Effect.gen(function*() {
      const long = "\"" + "x".repeat(100) + "\""
      const buffered = yield* bytes("1\n" + long.slice(0, 60), long.slice(60) + "\n").pipe(
        Ndjson.decodeWith({ maxLineLength: 64 }),
        Stream.runDrain,
        Effect.flip
      )
      const whole = yield* bytes("1\n" + long + "\n").pipe(
        Ndjson.decodeWith({ maxLineLength: 64 }),
        Stream.runDrain,
        Effect.flip
      )
      for (const error of [buffered, whole]) {
        assert.strictEqual(error.reason, "LineTooLong")
        assert.strictEqual(error.lineNumber, 2)
        assert.match(error.message, /line 2 is too long \(more than 64 characters\)/)
      }
      const fits = yield* collect(
        bytes(long.slice(0, 30), long.slice(30) + "\r\n").pipe(
          Ndjson.decodeWith({ maxLineLength: 102 })
        )
      )
      assert.deepStrictEqual(fits, ["x".repeat(100)])
    }))

  it.effect("keeps one output chunk per input chunk", () =>
    Effect.gen(function*() {
      const sizes = yield* bytes("1\n2\n", "3\n4\n5", "\n").pipe(
        Ndjson.decode,
        Stream.chunks,
        Stream.map(Chunk.size),
        Stream.runCollect
      )
      assert.deepStrictEqual(Chunk.toReadonlyArray(sizes), [2, 2, 1])
    }))

  it.effect("multibyte characters split across byte chunks, scalars and nested values", () =>
    Effect.gen(function*() {
      const input = encoder.encode("{\"t\":\"€豆腐 😶‍🌫️\"}\n[1,{\"b\":null}]\n\"s\"\n42\ntrue\nnull\n")
      const values = yield* collect(Stream.fromIterable(perByte([input])).pipe(Ndjson.decode))
      assert.deepStrictEqual(values, [{ t: "€豆腐 😶‍🌫️" }, [1, { b: null }], "s", 42, true, null])
    }))

  it.effect("upstream failures pass through with their type", () =>
    Effect.gen(function*() {
      const error = yield* Stream.concat(bytes("1\n"), Stream.fail("boom" as const)).pipe(
        Ndjson.decode,
        Stream.runDrain,
        Effect.flip
      )
      assert.strictEqual(error, "boom")
    }))

  it.effect("the parser: feed, end, error state", () =>
    Effect.sync(() => {
      const parser = Ndjson.makeParser()
      assert.deepStrictEqual(parser.feed("\ufeff{\"a\":1}\n{\"a\""), [{ a: 1 }])
      assert.deepStrictEqual(parser.feed(":2}"), [])
      assert.strictEqual(parser.lineNumber, 1)
      assert.deepStrictEqual(parser.end(), [{ a: 2 }])
      assert.strictEqual(parser.lineNumber, 0)
      assert.deepStrictEqual(parser.feed("1\nnope\n3\n"), [1])
      assert.strictEqual(parser.error?.lineNumber, 2)
      assert.deepStrictEqual(parser.feed("4\n"), [])
      assert.deepStrictEqual(parser.end(), [])
      assert.strictEqual(parser.error, undefined)
      assert.deepStrictEqual(parser.feed("5\n"), [5])
    }))

  it.effect("a second byte-order mark is not stripped", () =>
    Effect.gen(function*() {
      const error = yield* Stream.make("\ufeff\ufeff1\n").pipe(Ndjson.decodeText, Stream.runDrain, Effect.flip)
      assert.strictEqual(error.reason, "MalformedLine")
      assert.strictEqual(error.line, "\ufeff1")
    }))
})
