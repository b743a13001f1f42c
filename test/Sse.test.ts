/**
 * Conformance of the SSE decoder against the third-party corpora in `test/fixtures/sse/` (copied from
 * shared/corpora/sse with their `.source.json` sidecars), each case run with its own chunking, with one byte per
 * chunk and with seeded random chunkings, through the pure parser and through the `Stream` transforms.
 *
 * How each file's expectations map onto this API:
 *
 * - launchdarkly, WPT, server-sent-stream (EventSource level): `{ type, id, data }` is `{ event, id ?? "", data }`
 *   with the default `idScope: "stream"` (our `id` is `undefined` where an EventSource's `lastEventId` is `""`).
 *   `expected_comments` are compared with `onComment`, `expected_retries` with `onRetry`.
 * - eventsource-parser (parser level): `idScope: "block"`; `event: null` means our `"message"`; `id: null` our
 *   `undefined`. `expected_onId` is the sequence of changes of `parser.lastEventId` seen after each feed (the
 *   library calls `onId` when a block with a valid `id` field ends). `config.maxBufferSize` is passed on and
 *   `onComment` is passed only when the upstream test supplied it (it decides whether an unterminated comment is
 *   buffered). `ops` are replayed (`feed`, `reset`) and compared feed by feed. Its `unknown-field` and
 *   `invalid-retry` errors are diagnostics of that library: WHATWG ignores such lines, and so do we (the events
 *   show they were ignored); only `max-buffer-size-exceeded` maps onto our `error` (`SseError`). Its chunks spell a
 *   raw byte-order mark as the binary string "\u00ef\u00bb\u00bf"; we feed those three bytes (EF BB BF).
 * - openai-node documents its own semantics (data-less blocks are yielded): each row where we differ is listed in
 *   `openAiNodeDivergences` with the reason, and asserted to differ exactly so.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Either, Stream } from "effect"
import * as fs from "node:fs"
import * as Sse from "../src/Sse.js"
import { concat, perByte, randomSplit, transcripts } from "./support/bytes.js"

const fixture = (name: string): URL => new URL(`./fixtures/${name}`, import.meta.url)
const readRows = (file: string): Array<Row> =>
  fs.readFileSync(fixture(`sse/${file}`), "utf8").split("\n").filter((line) => line.length > 0).map((line) =>
    JSON.parse(line) as Row
  )

interface Row {
  readonly test: string
  readonly chunks: ReadonlyArray<string> | null
  readonly chunks_hex?: ReadonlyArray<string>
  readonly expected_events?: ReadonlyArray<Record<string, string | null>>
  readonly expected_messages?: ReadonlyArray<{ readonly event: string | null; readonly data: string }>
  readonly expected_comments?: ReadonlyArray<string>
  readonly expected_retries?: ReadonlyArray<number>
  readonly expected_errors?: ReadonlyArray<{ readonly errorType: string }>
  readonly expected_onId?: ReadonlyArray<string>
  readonly ops?: ReadonlyArray<Op>
  readonly config?: { readonly maxBufferSize?: number; readonly callbacks_provided?: ReadonlyArray<string> }
}

type Op =
  | { readonly type: "feed"; readonly chunk: string }
  | { readonly type: "reset"; readonly consume: boolean }
  | { readonly type: "event"; readonly id: string | null; readonly event: string | null; readonly data: string }
  | { readonly type: "comment"; readonly value: string }
  | { readonly type: "retry"; readonly value: number }
  | { readonly type: "error"; readonly errorType: string }

const encoder = new TextEncoder()
const RAW_BOM = "\u00ef\u00bb\u00bf"
const fromHex = (hex: string): Uint8Array => Uint8Array.from(hex.match(/../g) ?? [], (byte) => parseInt(byte, 16))
const textOf = (chunk: string): string => chunk.split(RAW_BOM).join("\ufeff")
const bytesOf = (chunk: string): Uint8Array => encoder.encode(textOf(chunk))
const rowBytes = (row: Row): Array<Uint8Array> =>
  row.chunks_hex ? row.chunks_hex.map(fromHex) : row.chunks!.map(bytesOf)

interface Run {
  readonly events: ReadonlyArray<Sse.Event>
  readonly comments: ReadonlyArray<string>
  readonly retries: ReadonlyArray<number>
  readonly idChanges: ReadonlyArray<string | undefined>
  readonly errors: number
}

/** Feeds chunks (and `null` for a reset) through one parser and records everything it reports. */
const runParser = (
  chunks: ReadonlyArray<Uint8Array | string | null>,
  options: {
    readonly idScope?: "stream" | "block" | undefined
    readonly maxBufferSize?: number | undefined
    readonly comments?: boolean | undefined
  }
): Run => {
  const comments: Array<string> = []
  const retries: Array<number> = []
  const idChanges: Array<string | undefined> = []
  const events: Array<Sse.Event> = []
  let errors = 0
  const parser = Sse.makeParser({
    ...options,
    onComment: options.comments === false ? undefined : (text) => comments.push(text),
    onRetry: (millis) => retries.push(millis)
  })
  let id: string | undefined = undefined
  for (const chunk of chunks) {
    if (chunk === null) {
      parser.reset()
      continue
    }
    const failed = parser.error !== undefined
    events.push(...parser.feed(chunk))
    if (!failed && parser.error !== undefined) errors++
    if (parser.lastEventId !== id) idChanges.push(id = parser.lastEventId)
  }
  events.push(...parser.end())
  return { events, comments, retries, idChanges, errors }
}

const collect = <E>(stream: Stream.Stream<Sse.Event, E>) =>
  Stream.runCollect(stream).pipe(Effect.map(Chunk.toReadonlyArray))

// -----------------------------------------------------------------------------
// EventSource-level corpora: launchdarkly, WPT, server-sent-stream
// -----------------------------------------------------------------------------

const eventSourceView = (events: ReadonlyArray<Sse.Event>) =>
  events.map((e) => ({ type: e.event, id: e.id ?? "", data: e.data }))

const eventSourceCase = (file: string, row: Row) =>
  Effect.gen(function*() {
    const chunks = rowBytes(row)
    const expected = row.expected_events!
    const splits: Array<[string, Array<Uint8Array>]> = [
      ["as given", chunks],
      ["one byte per chunk", perByte(chunks)],
      ["random split 1", randomSplit(chunks, 1)],
      ["random split 2", randomSplit(chunks, 2)]
    ]
    for (const [label, split] of splits) {
      const run = runParser(split, {})
      assert.deepStrictEqual(eventSourceView(run.events), expected, `${file} ${row.test} (${label})`)
      if (row.expected_comments !== undefined) {
        assert.deepStrictEqual(run.comments, row.expected_comments, `comments (${label})`)
      }
      if (row.expected_retries !== undefined) {
        assert.deepStrictEqual(run.retries, row.expected_retries, `retries (${label})`)
      }
      assert.strictEqual(run.errors, 0)
    }
    // the Stream transforms, one network chunk per Stream chunk
    const viaStream = yield* collect(Stream.fromIterable(chunks).pipe(Stream.rechunk(1), Sse.decode))
    assert.deepStrictEqual(eventSourceView(viaStream), expected, "Sse.decode")
    const viaBytes = yield* collect(Sse.decode(Stream.fromIterable(perByte(chunks))))
    assert.deepStrictEqual(eventSourceView(viaBytes), expected, "Sse.decode, one byte per chunk")
    if (row.chunks !== null) {
      const texts = row.chunks.map(textOf)
      const viaText = yield* collect(Stream.fromIterable(texts).pipe(Stream.rechunk(1), Sse.decodeText))
      assert.deepStrictEqual(eventSourceView(viaText), expected, "Sse.decodeText")
      const perChar = texts.join("").split("")
      assert.deepStrictEqual(eventSourceView(runParser(perChar, {}).events), expected, "text, one unit per chunk")
    }
  })

for (
  const file of ["launchdarkly-sse-contract.jsonl", "wpt-eventsource-format.jsonl", "server-sent-stream.jsonl"]
) {
  describe(file, () => {
    for (const row of readRows(file)) {
      it.effect(row.test, () => eventSourceCase(file, row))
    }
  })
}

// -----------------------------------------------------------------------------
// eventsource-parser (parser level)
// -----------------------------------------------------------------------------

const parserView = (events: ReadonlyArray<Sse.Event>) =>
  events.map((e) => ({ id: e.id ?? null, event: e.event, data: e.data }))
const expectedParserView = (events: ReadonlyArray<Record<string, string | null>>) =>
  events.map((e) => ({ id: e["id"] ?? null, event: e["event"] ?? "message", data: e["data"] }))

/** What one feed (or reset) produced, in the shape of the upstream `ops` between two feeds. */
interface Step {
  readonly events: Array<unknown>
  readonly comments: Array<string>
  readonly retries: Array<number>
  overflows: number
}
const emptyStep = (): Step => ({ events: [], comments: [], retries: [], overflows: 0 })

/** Groups the upstream ops by the feed that produced them, keeping only what WHATWG defines (see the header). */
const expectedSteps = (ops: ReadonlyArray<Op>): Array<Step> => {
  const steps: Array<Step> = []
  for (const op of ops) {
    if (op.type === "feed" || op.type === "reset") steps.push(emptyStep())
    const step = steps[steps.length - 1]!
    if (op.type === "event") step.events.push({ id: op.id, event: op.event ?? "message", data: op.data })
    if (op.type === "comment") step.comments.push(op.value)
    if (op.type === "retry") step.retries.push(op.value)
    if (op.type === "error" && op.errorType === "max-buffer-size-exceeded") step.overflows++
  }
  return steps
}

const actualSteps = (row: Row, comments: boolean): Array<Step> => {
  let step = emptyStep()
  const parser = Sse.makeParser({
    idScope: "block",
    maxBufferSize: row.config?.maxBufferSize,
    onComment: comments ? (text) => step.comments.push(text) : undefined,
    onRetry: (millis) => step.retries.push(millis)
  })
  const steps: Array<Step> = []
  for (const op of row.ops!) {
    if (op.type === "feed") {
      steps.push(step = emptyStep())
      const failed = parser.error !== undefined
      step.events.push(...parserView(parser.feed(bytesOf(op.chunk))))
      if (!failed && parser.error !== undefined) step.overflows++
    } else if (op.type === "reset") {
      steps.push(step = emptyStep())
      parser.reset()
    }
  }
  return steps
}

/**
 * eventsource-parser's buffer limit counts what waits between two feeds, so it depends on the chunking: in this row a
 * `data: hello` line fed whole fits in 8 characters of buffer, but fed one byte at a time it does not (it has to be
 * buffered, and `data: hel` is 9 characters). Ours behaves the same; the one-byte and random-split runs therefore
 * overflow again after the reset and dispatch nothing.
 */
const chunkingDependentRows: Record<string, { readonly eventsPerByte: number; readonly errorsPerByte: number }> = {
  "maxBufferSize: feed throws after overflow, until reset": { eventsPerByte: 0, errorsPerByte: 2 }
}

const eventsourceParserCase = (row: Row) =>
  Effect.gen(function*() {
    const callbacks = row.config?.callbacks_provided ?? []
    const comments = callbacks.includes("onComment") || row.expected_comments !== undefined
    const options = { idScope: "block" as const, maxBufferSize: row.config?.maxBufferSize, comments }
    const expected = expectedParserView(row.expected_events ?? [])
    const overflows = (row.expected_errors ?? []).filter((e) => e.errorType === "max-buffer-size-exceeded").length
    for (const error of row.expected_errors ?? []) {
      assert.include(["unknown-field", "invalid-retry", "max-buffer-size-exceeded"], error.errorType)
    }
    if (row.ops !== undefined) {
      assert.deepStrictEqual(actualSteps(row, comments), expectedSteps(row.ops), "feed by feed")
    }
    const chunks: Array<Uint8Array | null> = row.ops !== undefined
      ? row.ops.flatMap((op) => op.type === "feed" ? [bytesOf(op.chunk)] : op.type === "reset" ? [null] : [])
      : rowBytes(row)
    const bytes = (split: (c: ReadonlyArray<Uint8Array>) => Array<Uint8Array>) =>
      chunks.flatMap((c) => c === null ? [null] : split([c]))
    const splits: Array<[string, Array<Uint8Array | null>]> = [
      ["as given", chunks],
      ["one byte per chunk", bytes(perByte)],
      ["random split", bytes((c) => randomSplit(c, 3))]
    ]
    for (const [label, split] of splits) {
      const run = runParser(split, options)
      const exception = label === "as given" ? undefined : chunkingDependentRows[row.test]
      if (exception !== undefined) {
        assert.strictEqual(run.events.length, exception.eventsPerByte)
        assert.strictEqual(run.errors, exception.errorsPerByte)
        continue
      }
      assert.deepStrictEqual(parserView(run.events), expected, `${row.test} (${label})`)
      assert.strictEqual(run.errors, overflows, `overflows (${label})`)
      if (comments) assert.deepStrictEqual(run.comments, row.expected_comments ?? [], `comments (${label})`)
      if (row.expected_retries !== undefined) {
        assert.deepStrictEqual(run.retries, row.expected_retries, `retries (${label})`)
      }
      if (row.expected_onId !== undefined) {
        assert.deepStrictEqual(run.idChanges, row.expected_onId, `ids (${label})`)
      }
    }
    if (row.ops === undefined && row.config?.maxBufferSize === undefined) {
      const viaStream = yield* collect(
        Stream.fromIterable(chunks as Array<Uint8Array>).pipe(Stream.rechunk(1), Sse.decodeWith({ idScope: "block" }))
      )
      assert.deepStrictEqual(parserView(viaStream), expected, "Sse.decode")
      const texts = row.chunks!.map(textOf)
      const viaText = yield* collect(Sse.decodeTextWith(Stream.fromIterable(texts), { idScope: "block" }))
      assert.deepStrictEqual(parserView(viaText), expected, "Sse.decodeText")
    }
  })

describe("eventsource-parser.jsonl", () => {
  for (const row of readRows("eventsource-parser.jsonl")) {
    it.effect(row.test, () => eventsourceParserCase(row))
  }
})

// -----------------------------------------------------------------------------
// openai-node: its own semantics, divergences recorded
// -----------------------------------------------------------------------------

/**
 * openai-node's `_iterSSEMessages` yields every block, also those without a `data` field. WHATWG dispatches a block
 * only when its data buffer is not empty, so these blocks produce no event here. Nothing is lost for the engines:
 * OpenAI sends no data-less blocks, and a block's `event` alone carries no payload.
 */
const openAiNodeDivergences: Record<string, { readonly ours: ReadonlyArray<unknown>; readonly reason: string }> = {
  "event without data": { ours: [], reason: "WHATWG: a block with an empty data buffer is not dispatched" },
  "multiple events": { ours: [], reason: "WHATWG: blocks with an empty data buffer are not dispatched" }
}

describe("openai-node-sse-decoder.jsonl", () => {
  for (const row of readRows("openai-node-sse-decoder.jsonl")) {
    it.effect(row.test, () =>
      Effect.gen(function*() {
        const chunks = rowBytes(row)
        const expected = row.expected_messages!.map((m) => ({ event: m.event ?? "message", data: m.data }))
        const divergence = openAiNodeDivergences[row.test]
        for (const split of [chunks, perByte(chunks), randomSplit(chunks, 4)]) {
          const ours = runParser(split, {}).events.map((e) => ({ event: e.event, data: e.data }))
          if (divergence === undefined) {
            assert.deepStrictEqual(ours, expected)
          } else {
            assert.deepStrictEqual(ours, divergence.ours, divergence.reason)
            assert.notDeepEqual(ours, expected)
          }
        }
        const viaStream = yield* collect(Stream.fromIterable(chunks).pipe(Stream.rechunk(1), Sse.decode))
        assert.deepStrictEqual(viaStream.map((e) => ({ event: e.event, data: e.data })), divergence?.ours ?? expected)
      }))
  }
})

// -----------------------------------------------------------------------------
// recorded LLM transcripts
// -----------------------------------------------------------------------------

interface TranscriptMeta {
  readonly expected: {
    readonly chunks?: number
    readonly events?: number
    readonly text?: string
    readonly unparseable_event_indexes?: ReadonlyArray<number>
  }
}

describe("transcripts", () => {
  const recorded = transcripts<TranscriptMeta>(fixture("transcripts/"), (file) => file.endsWith(".sse"))
  it("every .sse transcript is in the fixtures", () => {
    assert.strictEqual(recorded.files.length, 16)
    assert.isTrue(recorded.sidecarsPresent())
  })
  for (const file of recorded.files) {
    it.effect(file, () =>
      Effect.gen(function*() {
        const { body, meta } = recorded.read(file)
        const networkChunks = randomSplit([body], 5).reduce<Array<Uint8Array>>((acc, piece, i) => {
          if (i % 300 === 0) acc.push(piece)
          else acc[acc.length - 1] = concat([acc[acc.length - 1]!, piece])
          return acc
        }, [])
        const events = yield* collect(Stream.fromIterable(networkChunks).pipe(Stream.rechunk(1), Sse.decode))
        assert.deepStrictEqual(runParser(perByte([body]), {}).events, events, "one byte per chunk")
        const payloads = events.filter((e) => e.data !== "[DONE]")
        const unparseable = payloads.flatMap((e, i) => Either.isLeft(Either.try(() => JSON.parse(e.data))) ? [i] : [])
        assert.deepStrictEqual(unparseable, meta.expected.unparseable_event_indexes ?? [])
        assert.strictEqual(payloads.length, meta.expected.chunks ?? meta.expected.events)
        if (meta.expected.text !== undefined && file.startsWith("openai-")) {
          const text = payloads.map((e) =>
            (JSON.parse(e.data) as { choices?: Array<{ delta?: { content?: string | null } }> }).choices?.[0]?.delta
              ?.content ?? ""
          ).join("")
          assert.strictEqual(text, meta.expected.text)
        }
      }))
  }
})

// -----------------------------------------------------------------------------
// the API itself
// -----------------------------------------------------------------------------

const bytes = (...chunks: ReadonlyArray<string>) => Stream.fromIterable(chunks.map((c) => encoder.encode(c)))

describe("Sse", () => {
  it.effect("onField reads the fields the standard does not know (llama.cpp's `error:`), split anywhere", () =>
    Effect.sync(() => {
      const text = "error: {\"code\":400}\n\ndata: [DONE]\n\nx-unknown\n\n"
      for (const size of [1, 3, text.length]) {
        const fields: Array<readonly [string, string]> = []
        const parser = Sse.makeParser({ onField: (name, value) => fields.push([name, value]) })
        const events = []
        for (let i = 0; i < text.length; i += size) events.push(...parser.feed(text.slice(i, i + size)))
        assert.deepStrictEqual(fields, [["error", "{\"code\":400}"], ["x-unknown", ""]])
        assert.deepStrictEqual(events.map((e) => e.data), ["[DONE]"])
      }
    }))

  it.effect("decode keeps one output chunk per input chunk", () =>
    Effect.gen(function*() {
      const chunks = yield* bytes("data: 1\n\ndata: 2\n\n", "data: 3\n\ndata: 4\n\nda", "ta: 5\n\n").pipe(
        Stream.rechunk(1),
        Sse.decode,
        Stream.chunks,
        Stream.map(Chunk.size),
        Stream.runCollect
      )
      assert.deepStrictEqual(Chunk.toReadonlyArray(chunks), [2, 2, 1])
    }))

  it.effect("decodeWith and decodeTextWith take options data-first and data-last", () =>
    Effect.gen(function*() {
      const input = "id: 1\ndata: a\n\ndata: b\n\n"
      const streamIds = yield* collect(Sse.decodeWith(bytes(input), {}))
      const blockIds = yield* collect(bytes(input).pipe(Sse.decodeWith({ idScope: "block" })))
      const textIds = yield* collect(Sse.decodeTextWith(Stream.make(input), { idScope: "block" }))
      assert.deepStrictEqual(streamIds.map((e) => e.id), ["1", "1"])
      assert.deepStrictEqual(blockIds.map((e) => e.id), ["1", undefined])
      assert.deepStrictEqual(textIds.map((e) => e.id), ["1", undefined])
    }))

  it.effect("an event carries the retry of its own block", () =>
    Effect.gen(function*() {
      const events = yield* collect(bytes("retry: 1500\ndata: a\n\ndata: b\n\nretry: x\ndata: c\n\n").pipe(Sse.decode))
      assert.deepStrictEqual(events, [
        { event: "message", data: "a", id: undefined, retry: 1500 },
        { event: "message", data: "b", id: undefined },
        { event: "message", data: "c", id: undefined }
      ])
    }))

  it.effect("a line longer than maxBufferSize fails with SseError after the events before it", () =>
    Effect.gen(function*() {
      const result = yield* bytes("data: ok\n\n", "data: " + "x".repeat(40), "x".repeat(40)).pipe(
        Stream.rechunk(1),
        Sse.decodeWith({ maxBufferSize: 64 }),
        Stream.either,
        Stream.runCollect
      )
      const [first, second] = Chunk.toReadonlyArray(result)
      assert.deepStrictEqual(first, Either.right({ event: "message", data: "ok", id: undefined }))
      assert.isTrue(second !== undefined && Either.isLeft(second))
      const error = Either.isLeft(second!) ? second.left : undefined
      assert.isTrue(Sse.isSseError(error))
      assert.strictEqual(error?.reason, "BufferOverflow")
      assert.strictEqual(error?.maxBufferSize, 64)
      assert.isFalse(error?.isRetryable)
      assert.match(error?.message ?? "", /64 characters/)
    }))

  it.effect("a block's data growing beyond maxBufferSize fails with SseError", () =>
    Effect.gen(function*() {
      const error = yield* bytes(...Array.from({ length: 10 }, () => "data: 0123456789\n")).pipe(
        Sse.decodeWith({ maxBufferSize: 100 }),
        Stream.runDrain,
        Effect.flip
      )
      assert.strictEqual(error._tag, "SseError")
    }))

  it.effect("garbage without line breaks is skipped, not buffered", () =>
    Effect.gen(function*() {
      const html = "<html><body>" + "Bad gateway ".repeat(10_000)
      const events = yield* collect(
        bytes(...html.match(/.{1,1000}/g)!, "\ndata: after\n\n").pipe(Sse.decodeWith({ maxBufferSize: 1024 }))
      )
      assert.deepStrictEqual(events, [{ event: "message", data: "after", id: undefined }])
      const comments = yield* collect(
        bytes(":" + "x".repeat(5000), "\ndata: y\n\n").pipe(
          Stream.rechunk(1),
          Sse.decodeWith({ maxBufferSize: 1024 })
        )
      )
      assert.deepStrictEqual(comments.map((e) => e.data), ["y"])
    }))

  it.effect("upstream failures pass through with their type", () =>
    Effect.gen(function*() {
      const result = yield* Stream.concat(bytes("data: a\n\n"), Stream.fail("boom" as const)).pipe(
        Sse.decode,
        Stream.either,
        Stream.runCollect
      )
      const expected: Array<Either.Either<Sse.Event, Sse.SseError | "boom">> = [
        Either.right({ event: "message", data: "a", id: undefined }),
        Either.left("boom" as const)
      ]
      assert.deepStrictEqual(Chunk.toReadonlyArray(result), expected)
    }))

  it.effect("feed after an overflow is ignored until end(); end() starts a new connection", () =>
    Effect.sync(() => {
      const parser = Sse.makeParser({ maxBufferSize: 8 })
      assert.deepStrictEqual(parser.feed("data: 123456789"), [])
      assert.strictEqual(parser.error?.reason, "BufferOverflow")
      assert.deepStrictEqual(parser.feed("\n\ndata: x\n\n"), [])
      assert.deepStrictEqual(parser.end(), [])
      assert.strictEqual(parser.error, undefined)
      assert.deepStrictEqual(parser.feed("data: x\n\n").map((e) => e.data), ["x"])
    }))

  it.effect("end() keeps lastEventId and retry, strips a new BOM and discards the open block; reset() forgets", () =>
    Effect.sync(() => {
      const parser = Sse.makeParser()
      const bom = Uint8Array.of(0xef, 0xbb, 0xbf)
      assert.deepStrictEqual(
        parser.feed(concat([bom, encoder.encode("id: 7\nretry: 10\ndata: a\n\nid: 8\ndata: b")])),
        [
          { event: "message", data: "a", id: "7", retry: 10 }
        ]
      )
      assert.deepStrictEqual(parser.end(), [])
      assert.strictEqual(parser.lastEventId, "7")
      assert.strictEqual(parser.retry, 10)
      assert.deepStrictEqual(parser.feed(concat([bom, encoder.encode("data: c\n\n")])), [
        { event: "message", data: "c", id: "7" }
      ])
      parser.reset()
      assert.strictEqual(parser.lastEventId, undefined)
      assert.strictEqual(parser.retry, undefined)
      assert.deepStrictEqual(parser.feed("data: d\n\n"), [{ event: "message", data: "d", id: undefined }])
    }))

  it.effect("a multibyte character split across chunks at the end of the stream is dropped with its line", () =>
    Effect.gen(function*() {
      const euro = encoder.encode("€")
      const events = yield* collect(
        Stream.make(encoder.encode("data: a\n\ndata: "), euro.subarray(0, 2)).pipe(Sse.decode)
      )
      assert.deepStrictEqual(events.map((e) => e.data), ["a"])
    }))
})
