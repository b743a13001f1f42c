/**
 * Property tests over random JSON documents (effect/FastCheck): prefixes never fail, complete documents equal
 * `JSON.parse`, chunking never matters, completed values never change.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, FastCheck as fc } from "effect"
import * as PartialJson from "../../src/PartialJson.js"
import { same } from "./helpers.js"

/** Random documents: any JSON value (strings over all code points), compact or indented. */
const documents = fc
  .tuple(fc.jsonValue({ maxDepth: 4, stringUnit: "binary" }), fc.constantFrom(undefined, 2, "\t"))
  .map(([value, indent]) => JSON.stringify(value, null, indent))

/** A document and cut points splitting it into chunks. */
const chunked = documents.chain((text) =>
  fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, text.length - 1) }), { maxLength: 12 }).map((cuts) => {
    const points = [0, ...cuts.filter((c) => c < text.length).sort((a, b) => a - b), text.length]
    const chunks: Array<string> = []
    for (let i = 1; i < points.length; i++) chunks.push(text.slice(points[i - 1], points[i]))
    return { text, chunks }
  })
)

const valueAt = (value: unknown, path: PartialJson.Path): unknown =>
  path.reduce<any>((node, key) => (node === null || typeof node !== "object" ? undefined : node[key]), value)

const property = <A>(arbitrary: fc.Arbitrary<A>, predicate: (a: A) => boolean, numRuns = 150) =>
  Effect.sync(() => fc.assert(fc.property(arbitrary, predicate), { numRuns }))

describe("PartialJson properties", () => {
  it.effect("every prefix parses without throwing (lenient), and strict mode rejects no prefix", () =>
    property(documents, (text) => {
      for (let i = 0; i <= text.length; i++) {
        const prefix = text.slice(0, i)
        PartialJson.parse(prefix)
        PartialJson.parse(prefix, { partialStrings: false, partialNumbers: false })
        if (Either.isLeft(PartialJson.parseStrict(prefix))) return false
      }
      return true
    }))

  it.effect("a complete document parses to exactly JSON.parse's value, in every mode", () =>
    property(documents, (text) => {
      const expected = JSON.parse(text)
      const strict = PartialJson.parseStrict(text)
      const parser = PartialJson.make({ strict: true, partialStrings: false, partialNumbers: false })
      parser.feed(text)
      return same(PartialJson.parse(text), expected) &&
        Either.isRight(strict) && same(strict.right, expected) &&
        same(parser.end(), expected) && parser.done && parser.error === undefined
    }, 300))

  it.effect("any chunking gives the one-shot value after every chunk and JSON.parse's value at the end", () =>
    property(chunked, ({ chunks, text }) => {
      const parser = PartialJson.make()
      let prefix = ""
      for (const chunk of chunks) {
        parser.feed(chunk)
        prefix += chunk
        const oneShot = PartialJson.make()
        oneShot.feed(prefix)
        if (!same(parser.snapshot(), oneShot.value)) return false
      }
      return same(parser.end(), JSON.parse(text)) && parser.done
    }, 300))

  it.effect("a completed value never changes afterwards and stays complete", () =>
    property(chunked, ({ chunks, text }) => {
      const completed: Array<{ path: PartialJson.Path; value: unknown }> = []
      const parser = PartialJson.make({
        onComplete: (path, value) => completed.push({ path, value: structuredClone(value) })
      })
      for (const chunk of chunks) {
        parser.feed(chunk)
        for (const { path, value } of completed) {
          if (!parser.isComplete(path) || !same(valueAt(parser.value, path), value)) return false
        }
      }
      parser.end()
      const final = JSON.parse(text)
      return completed.length > 0 && same(completed[completed.length - 1]!.value, final) &&
        completed.every(({ path, value }) => same(valueAt(final, path), value))
    }))

  it.effect("without partial strings and numbers, every scalar shown is final", () =>
    property(chunked, ({ chunks, text }) => {
      const final = JSON.parse(text)
      const parser = PartialJson.make({ partialStrings: false, partialNumbers: false })
      const scalarsAreFinal = (value: unknown, path: Array<string | number>): boolean => {
        if (value === undefined) return path.length === 0
        if (Array.isArray(value)) return value.every((v, i) => scalarsAreFinal(v, [...path, i]))
        if (value !== null && typeof value === "object") {
          return Object.entries(value).every(([k, v]) => scalarsAreFinal(v, [...path, k]))
        }
        // a partial literal is completed as soon as it starts: the one scalar that may show early, correctly
        return same(valueAt(final, path), value)
      }
      for (const chunk of chunks) {
        parser.feed(chunk)
        if (!scalarsAreFinal(parser.value, [])) return false
      }
      return true
    }))

  it.effect("the parser's counters follow the input", () =>
    property(chunked, ({ chunks, text }) => {
      const parser = PartialJson.make()
      let versions = 0
      let previous = -1
      for (const chunk of chunks) {
        parser.feed(chunk)
        if (parser.version < previous) return false
        if (parser.version !== previous) versions++
        previous = parser.version
      }
      return parser.offset === text.length && versions <= chunks.length
    }))
})

describe("PartialJson properties (sanity)", () => {
  it("the generators produce nested, escaped documents", () => {
    const samples = fc.sample(documents, { numRuns: 200, seed: 1 })
    assert.isTrue(samples.some((text) => text.includes("\\u")))
    assert.isTrue(samples.some((text) => text.includes("[{") || text.includes("{\"")))
  })
})
