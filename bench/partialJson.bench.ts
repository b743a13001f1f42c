/**
 * PartialJson: feeding a JSON document in 64-byte chunks (the value is available after every chunk) against one
 * `JSON.parse` of the whole document, at 1 MB and 4 MB, and against the npm `partial-json` package, which re-parses
 * every prefix (quadratic), on a capped 64 KB document.
 *
 * Targets (issue 5): 64-byte feeding ≤ 5× one `JSON.parse`, and the 4 MB time ≤ 4.5× the 1 MB time.
 */
import { Effect, Stream } from "effect"
import { parse as partialJsonParse } from "partial-json"
import * as PartialJson from "../src/PartialJson.js"
import type { Suite } from "./harness.js"

const CHUNK = 64

/** A deterministic document shaped like structured LLM output: records with text, numbers, flags, nesting. */
const makeDocument = (bytes: number): string => {
  let seed = 20261121
  const random = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed / 0x7fffffff
  }
  const words = [
    "the",
    "model",
    "returns",
    "structured",
    "output",
    "with",
    "fields",
    "naïve",
    "café",
    "\"quoted\"",
    "line\nbreak",
    "tab\there",
    "values",
    "streaming",
    "tokens",
    "parser"
  ]
  const text = (n: number) => Array.from({ length: n }, () => words[Math.floor(random() * words.length)]).join(" ")
  const items: Array<unknown> = []
  let size = 0
  while (size < bytes) {
    const item = {
      id: items.length,
      title: text(4),
      summary: text(14),
      score: Math.round(random() * 1e6) / 100,
      confidence: random(),
      approved: random() > 0.5,
      tags: [text(1), text(1), text(1)],
      source: {
        url: `https://example.com/doc/${items.length}`,
        page: random() > 0.7 ? null : Math.floor(random() * 300)
      }
    }
    size += JSON.stringify(item, null, 2).length + 4
    items.push(item)
  }
  return JSON.stringify({ items, count: items.length }, null, 2)
}

/** 64-character chunks as a network decoder hands them over: separate flat strings, not views into `doc`. */
const chunksOf = (doc: string): ReadonlyArray<string> => {
  const chunks: Array<string> = []
  for (let i = 0; i < doc.length; i += CHUNK) chunks.push(Buffer.from(doc.slice(i, i + CHUNK), "utf8").toString("utf8"))
  return chunks
}

const feedAll = (chunks: ReadonlyArray<string>): unknown => {
  const parser = PartialJson.make()
  let value: unknown
  for (const chunk of chunks) value = parser.feed(chunk)
  parser.end()
  return value
}

const check = (doc: string, chunks: ReadonlyArray<string>) => {
  if (JSON.stringify(feedAll(chunks)) !== JSON.stringify(JSON.parse(doc))) {
    throw new Error("PartialJson disagrees with JSON.parse on the benchmark document")
  }
}

const sizeLabel = (doc: string) => `${(doc.length / 1024 / 1024).toFixed(2)} M chars`
const ratio = (a: number | undefined, b: number | undefined) => a === undefined || b === undefined ? NaN : a / b
const verdict = (value: number, target: number) =>
  `${value.toFixed(2)}× (target ≤ ${target}×: ${value <= target ? "met" : "MISSED"})`

const feedMedians = new Map<number, number>()
const jsonMedians = new Map<number, number>()
let oneMbLength = 1

const sizeSuite = (mb: number): Suite => {
  const doc = makeDocument(mb * 1024 * 1024)
  const chunks = chunksOf(doc)
  check(doc, chunks)
  return {
    name: `PartialJson: ${mb} MB document in ${CHUNK}-byte chunks`,
    description: `${sizeLabel(doc)} of pretty-printed records, ${chunks.length} chunks (separate strings, as a ` +
      `decoder yields them); the current value is up to date (updated in place) after every chunk`,
    units: { count: doc.length / 1024 / 1024, label: "MB" },
    rounds: 15,
    variants: [
      { name: "JSON.parse (whole document, once)", run: () => JSON.parse(doc) },
      {
        name: `PartialJson.make().feed × ${chunks.length}`,
        run: () => feedAll(chunks),
        baseline: "JSON.parse (whole document, once)"
      },
      {
        name: "PartialJson.parse (whole document, once)",
        run: () => PartialJson.parse(doc),
        baseline: "JSON.parse (whole document, once)"
      }
    ],
    summary: (medians) => {
      const feed = medians.get(`PartialJson.make().feed × ${chunks.length}`)!
      feedMedians.set(mb, feed)
      const lines = [
        `target: 64-byte feeding vs one JSON.parse = ${
          verdict(ratio(feed, medians.get("JSON.parse (whole document, once)")), 5)
        }`
      ]
      const json = medians.get("JSON.parse (whole document, once)")!
      jsonMedians.set(mb, json)
      const one = feedMedians.get(1)
      const jsonOne = jsonMedians.get(1)
      if (mb === 4 && one !== undefined && jsonOne !== undefined) {
        lines.push(
          `target: linear, 4 MB feeding time / 1 MB feeding time = ${verdict(feed / one, 4.5)}`,
          `  (the size ratio is ${(doc.length / oneMbLength).toFixed(2)}×; JSON.parse's own 4 MB / 1 MB time in this ` +
            `run: ${(json / jsonOne).toFixed(2)}×)`
        )
      } else {
        oneMbLength = doc.length
      }
      return lines
    }
  }
}

const quadraticSuite = (): Suite => {
  const doc = makeDocument(64 * 1024)
  const chunks = chunksOf(doc)
  check(doc, chunks)
  const prefixes = chunks.map((_, i) => doc.slice(0, Math.min(doc.length, (i + 1) * CHUNK)))
  const reparse = () => {
    let value: unknown
    for (const prefix of prefixes) {
      try {
        value = partialJsonParse(prefix)
      } catch {
        // partial-json throws on some prefixes (e.g. a lone "-"); the previous value stands
      }
    }
    return value
  }
  return {
    name: `PartialJson vs partial-json (npm 0.1.7): 64 KB document in ${CHUNK}-byte chunks`,
    description:
      `${doc.length} chars, ${chunks.length} chunks. partial-json has no incremental API: it re-parses every ` +
      `prefix, so its cost grows with the square of the size; the document is capped at 64 KB so that it finishes`,
    rounds: 3,
    variants: [
      { name: "PartialJson.make().feed per chunk", run: () => feedAll(chunks) },
      { name: "partial-json parse(prefix) per chunk", run: reparse, baseline: "PartialJson.make().feed per chunk" }
    ],
    summary: (medians) => {
      const reparseMs = medians.get("partial-json parse(prefix) per chunk")!
      const scale = (1024 * 1024) / doc.length
      return [
        `partial-json at 1 MB would take about ${(reparseMs * scale * scale / 1000).toFixed(0)} s ` +
        `(quadratic extrapolation ×${(scale * scale).toFixed(0)}); PartialJson at 1 MB: ` +
        `${(feedMedians.get(1) ?? NaN).toFixed(1)} ms (measured above)`
      ]
    }
  }
}

/** Runs `PartialJson.parseStream` over the chunks and returns the last value emitted. */
const parseStreamAll = (chunks: ReadonlyArray<string>): Promise<unknown> =>
  Effect.runPromise(Stream.runLast(PartialJson.parseStream(Stream.fromIterable(chunks))))

const streamMedians = new Map<number, number>()

/**
 * Issue 13: `parseStream` over a `{ items: [...] }` document (about 0.7 MB, then 4×) in 64-byte chunks, emitting
 * immutable snapshots. Targets: 4× the document ≤ 4.5× the time, and ≤ 10× one `JSON.parse` of the whole.
 */
const streamSuite = (scale: number): Suite => {
  const doc = makeDocument(scale * 0.68 * 1024 * 1024)
  const chunks = chunksOf(doc)
  check(doc, chunks)
  const json = "JSON.parse (whole document, once)"
  const stream = `PartialJson.parseStream, ${chunks.length} chunks`
  return {
    name: `PartialJson.parseStream: ${scale}× document (${sizeLabel(doc)}) in ${CHUNK}-byte chunks`,
    description: "a Stream of 64-character strings through parseStream to its last value; every value emitted is " +
      "an independent snapshot a consumer may keep",
    units: { count: doc.length / 1024 / 1024, label: "MB" },
    rounds: 5,
    variants: [
      { name: json, run: () => JSON.parse(doc) },
      { name: stream, run: () => parseStreamAll(chunks), baseline: json }
    ],
    summary: (medians) => {
      const ms = medians.get(stream)!
      streamMedians.set(scale, ms)
      const lines = [`target: parseStream vs one JSON.parse = ${verdict(ratio(ms, medians.get(json)), 10)}`]
      const one = streamMedians.get(1)
      if (scale === 4 && one !== undefined) lines.push(`target: 4× document time / 1× time = ${verdict(ms / one, 4.5)}`)
      return lines
    }
  }
}

export default [sizeSuite(1), sizeSuite(4), quadraticSuite(), streamSuite(1), streamSuite(4)]
