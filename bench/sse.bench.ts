/**
 * SSE decoding throughput: 100,000 chat-completions events (about 9.6 MiB, split into 1–4 KB byte chunks as a
 * network would deliver them) parsed to token strings, decoder + `JSON.parse` + a trivial consumer, by:
 *
 * - the floor: a hand-written streaming `TextDecoder` + `split("\n")` + `JSON.parse` of `data: ` lines (the minimal
 *   thing, which ignores everything else of the SSE format);
 * - `Sse.makeParser()` (the pure incremental parser an engine can run per chunk) + `JSON.parse`;
 * - `Sse.decode` as a `Stream` transform, one network chunk per `Stream` chunk, then `JSON.parse` per output chunk;
 * - `Sse.makeParser()` inside one `Stream.mapChunks` that also does the `JSON.parse` (the engines' hot path);
 * - `eventsource-parser` 3.1.1 `createParser().feed()` behind a streaming `TextDecoder`;
 * - Effect's `Stream.decodeText` + `Stream.splitLines`, then a filter and `JSON.parse` per line.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { createParser } from "eventsource-parser"
import * as Sse from "../src/Sse.js"
import type { Suite } from "./harness.js"
import { type Completion, dataLines, deltaText, networkChunks } from "./support/chatStream.js"

const EVENTS = 100_000

const makeBody = (): Uint8Array => {
  const parts: Array<string> = []
  for (let i = 0; i < EVENTS; i++) {
    const chunk = {
      id: `chatcmpl-${(1_000_000 + i).toString(36)}`,
      model: "gpt-4o",
      choices: [{ index: 0, delta: { content: ` tok${i % 1000}` } }]
    }
    parts.push(`data: ${JSON.stringify(chunk)}\n\n`)
  }
  parts.push("data: [DONE]\n\n")
  return new TextEncoder().encode(parts.join(""))
}

const body = makeBody()
const chunks = networkChunks(body)
const networkStream = Stream.fromChunks(...chunks.map((c) => Chunk.of(c)))

/** The consumer: counts tokens and their characters (so that no work can be optimised away). */
class Sink {
  tokens = 0
  chars = 0
  data(data: string): void {
    const token = deltaText(data)
    if (token !== undefined) {
      this.tokens++
      this.chars += token.length
    }
  }
  check(): Sink {
    if (this.tokens !== EVENTS) throw new Error(`expected ${EVENTS} tokens, got ${this.tokens}`)
    return this
  }
}

const floor = (): Sink => {
  const sink = new Sink()
  const feed = dataLines((data) => sink.data(data))
  for (const chunk of chunks) feed(chunk)
  return sink.check()
}

const sseParser = (): Sink => {
  const sink = new Sink()
  const parser = Sse.makeParser()
  for (const chunk of chunks) {
    for (const event of parser.feed(chunk)) sink.data(event.data)
  }
  parser.end()
  return sink.check()
}

const sseStream = (): Promise<Sink> => {
  const sink = new Sink()
  return networkStream.pipe(
    Sse.decode,
    Stream.runForEachChunk((events) =>
      Effect.sync(() => {
        for (const event of Chunk.toReadonlyArray(events)) sink.data(event.data)
      })
    ),
    Effect.as(sink),
    Effect.runPromise
  ).then((s) => s.check())
}

/** The engines' hot path: the pure parser and the per-event work in one `Stream.mapChunks` step per network chunk. */
const sseParserInStream = (): Promise<Sink> => {
  const sink = new Sink()
  return Stream.suspend(() => {
    const parser = Sse.makeParser()
    return networkStream.pipe(
      Stream.mapChunks((bytes) => {
        const tokens: Array<string> = []
        for (const chunk of Chunk.toReadonlyArray(bytes)) {
          for (const event of parser.feed(chunk)) {
            if (event.data === "[DONE]") continue
            const token = (JSON.parse(event.data) as Completion).choices[0]?.delta.content
            if (token !== undefined) tokens.push(token)
          }
        }
        return Chunk.unsafeFromArray(tokens)
      })
    )
  }).pipe(
    Stream.runForEachChunk((tokens) =>
      Effect.sync(() => {
        for (const token of Chunk.toReadonlyArray(tokens)) {
          sink.tokens++
          sink.chars += token.length
        }
      })
    ),
    Effect.as(sink),
    Effect.runPromise
  ).then((s) => s.check())
}

const eventsourceParser = (): Sink => {
  const sink = new Sink()
  const parser = createParser({ onEvent: (event) => sink.data(event.data) })
  const decoder = new TextDecoder()
  for (const chunk of chunks) parser.feed(decoder.decode(chunk, { stream: true }))
  return sink.check()
}

const effectSplitLines = (): Promise<Sink> => {
  const sink = new Sink()
  return networkStream.pipe(
    Stream.decodeText(),
    Stream.splitLines,
    Stream.filter((line) => line.startsWith("data: ")),
    Stream.runForEachChunk((lines) =>
      Effect.sync(() => {
        for (const line of Chunk.toReadonlyArray(lines)) sink.data(line.slice(6))
      })
    ),
    Effect.as(sink),
    Effect.runPromise
  ).then((s) => s.check())
}

const FLOOR = "floor: TextDecoder + split lines + JSON.parse"
const PARSER = "Sse.makeParser().feed + JSON.parse"
const STREAM = "Sse.decode (Stream) + JSON.parse"
const MAPCHUNKS = "Sse.makeParser in Stream.mapChunks + JSON.parse"
const ESP = "eventsource-parser 3.1.1 feed + JSON.parse"
const EFFECT = "Effect decodeText + splitLines + JSON.parse"

const suite: Suite = {
  name: "sse",
  description: `${EVENTS.toLocaleString("en-US")} chat-completions SSE events, ${
    (body.length / 1024 / 1024).toFixed(1)
  } MiB in ${chunks.length.toLocaleString("en-US")} chunks of 1–4 KB, parsed to token strings`,
  units: { count: EVENTS, label: "token" },
  rounds: 7,
  variants: [
    { name: FLOOR, run: floor },
    { name: PARSER, run: sseParser, baseline: FLOOR },
    { name: STREAM, run: sseStream, baseline: FLOOR },
    { name: MAPCHUNKS, run: sseParserInStream, baseline: FLOOR },
    { name: ESP, run: eventsourceParser, baseline: FLOOR },
    { name: EFFECT, run: effectSplitLines, baseline: FLOOR }
  ],
  summary: (medians) => {
    const floorMs = medians.get(FLOOR)!
    const share = (name: string) => `${((floorMs / medians.get(name)!) * 100).toFixed(0)}%`
    return [
      "",
      `Tokens/s as a share of the floor's: Sse parser ${share(PARSER)}, Sse.decode stream ${share(STREAM)}, ` +
      `parser in mapChunks ${share(MAPCHUNKS)}, eventsource-parser ${share(ESP)}, Effect splitLines ${share(EFFECT)}.`,
      `Target (issue 4, end to end through OpenAiCompat): >= 50% of the floor; the decoder alone here: Sse.decode at ${
        share(STREAM)
      } ${floorMs / medians.get(STREAM)! >= 0.5 ? "meets" : "MISSES"} it.`
    ]
  }
}

export default suite
