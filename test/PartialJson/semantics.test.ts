import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Either, Exit, Stream } from "effect"
import * as PartialJson from "../../src/PartialJson.js"
import { isPartialJsonError, PartialJsonError } from "../../src/PartialJsonError.js"

/** Feeds `chunks` to a fresh parser and returns it. */
const fed = (chunks: ReadonlyArray<string>, options?: PartialJson.Options) => {
  const parser = PartialJson.make(options)
  for (const chunk of chunks) parser.feed(chunk)
  return parser
}

/** The error `parseStrict` reports, as `[reason, offset]`. */
const strictError = (text: string) => {
  const result = PartialJson.parseStrict(text)
  return Either.isLeft(result) ? [result.left.reason, result.left.offset] : undefined
}

describe("PartialJson.parse: truncation semantics", () => {
  it("keeps truncated strings, or drops them with their key (partialStrings: false)", () => {
    assert.deepStrictEqual(PartialJson.parse("\"abc"), "abc")
    assert.deepStrictEqual(PartialJson.parse("{\"a\": \"x\", \"b\": \"fo"), { a: "x", b: "fo" })
    assert.deepStrictEqual(PartialJson.parse("{\"a\": \"x\", \"b\": \"fo", { partialStrings: false }), { a: "x" })
    assert.deepStrictEqual(PartialJson.parse("[\"x\", \"fo", { partialStrings: false }), ["x"])
    assert.strictEqual(PartialJson.parse("\"abc", { partialStrings: false }), undefined)
  })

  it("keeps the longest valid prefix of a truncated number, or drops it (partialNumbers: false)", () => {
    const cases: ReadonlyArray<readonly [string, unknown]> = [
      ["12.", 12],
      ["-", undefined],
      ["2.5e", 2.5],
      ["2.5e-", 2.5],
      ["-1e+", -1],
      ["-0", -0],
      ["[1, -", [1]],
      ["{\"a\": 12.", { a: 12 }]
    ]
    for (const [text, expected] of cases) assert.deepStrictEqual(PartialJson.parse(text), expected, text)
    assert.isTrue(Object.is(PartialJson.parse("-0"), -0))
    assert.deepStrictEqual(PartialJson.parse("[2, 3, 4", { partialNumbers: false }), [2, 3])
    assert.deepStrictEqual(PartialJson.parse("{\"a\": 1, \"b\": 2", { partialNumbers: false }), { a: 1 })
    // the whole text is the whole input: a root number is complete
    assert.strictEqual(PartialJson.parse("42", { partialNumbers: false }), 42)
  })

  it("completes partial literals", () => {
    assert.strictEqual(PartialJson.parse("t"), true)
    assert.strictEqual(PartialJson.parse("fals"), false)
    assert.strictEqual(PartialJson.parse("nul"), null)
    assert.deepStrictEqual(PartialJson.parse("[tr"), [true])
  })

  it("drops partial keys and keys without a value", () => {
    for (const text of ["{\"ke", "{\"key\"", "{\"key\":", "{\"key\": ", "{\"key\": -"]) {
      assert.deepStrictEqual(PartialJson.parse(text), {}, text)
    }
    assert.deepStrictEqual(PartialJson.parse("{\"a\": 1, \"b"), { a: 1 })
  })

  it("drops dangling backslashes and partial \\u escapes, decodes complete ones", () => {
    assert.strictEqual(PartialJson.parse("\"abc\\"), "abc")
    assert.strictEqual(PartialJson.parse("\"abc\\u00"), "abc")
    assert.strictEqual(PartialJson.parse("\"abc\\u00e9"), "abcé")
    assert.strictEqual(
      PartialJson.parse("\"\\ud83c\\udf89 \\\"q\\\" \\\\ \\/ \\b\\f\\n\\r\\t\""),
      "🎉 \"q\" \\ / \b\f\n\r\t"
    )
    // the same escapes cut at every position by chunk boundaries
    const text = "\"a\\u00e9\\n\\\"b\\\\\""
    for (let i = 0; i <= text.length; i++) {
      assert.strictEqual(fed([text.slice(0, i), text.slice(i)]).value, "aé\n\"b\\", `split at ${i}`)
    }
  })

  it("ignores trailing commas and closes open containers", () => {
    assert.deepStrictEqual(PartialJson.parse("[1, "), [1])
    assert.deepStrictEqual(PartialJson.parse("{\"a\": 1, "), { a: 1 })
    assert.deepStrictEqual(PartialJson.parse("[1, 2,]"), [1, 2])
    assert.deepStrictEqual(PartialJson.parse("{\"a\": [{\"b\": [1,],},]}"), { a: [{ b: [1] }] })
    assert.deepStrictEqual(PartialJson.parse("{\"a\": [{\"b\": [{"), { a: [{ b: [{}] }] })
  })

  it("accepts comments and raw control characters in lenient mode", () => {
    assert.deepStrictEqual(PartialJson.parse("{\"a\": 1, // one\n /* two */ \"b\": [2 /* */]}"), { a: 1, b: [2] })
    assert.deepStrictEqual(PartialJson.parse("{\"text\": \"line 1\nline 2\t\\\"x\\\"\"}"), {
      text: "line 1\nline 2\t\"x\""
    })
  })

  it("stops at malformed input in lenient mode, keeping the value so far and the error", () => {
    const parser = fed(["{\"a\": 1, \"b\": [true, ", "x, 3]}"])
    assert.deepStrictEqual(parser.value, { a: 1, b: [true] })
    assert.strictEqual(parser.error?.reason, "UnexpectedCharacter")
    assert.strictEqual(parser.error?.offset, 21)
    assert.isFalse(parser.done)
    assert.deepStrictEqual(parser.feed("more"), { a: 1, b: [true] })
  })

  it("keeps own __proto__ keys without touching prototypes, and takes the last duplicate", () => {
    const value = PartialJson.parse("{\"__proto__\": {\"polluted\": true}, \"a\": 1, \"a\": 2}") as Record<
      string,
      any
    >
    assert.isTrue(Object.hasOwn(value, "__proto__"))
    assert.strictEqual(Object.getPrototypeOf(value), Object.prototype)
    assert.strictEqual(({} as any).polluted, undefined)
    assert.deepStrictEqual(Object.keys(value), ["__proto__", "a"])
    assert.strictEqual(value.a, 2)
  })
})

describe("PartialJson: text around the document", () => {
  it("skips prose and Markdown fences, even one character per chunk", () => {
    const text = "Sure! Here it is:\n\n```json\n{\"answer\": [1, 2], \"ok\": true}\n```\nAnything else?"
    assert.deepStrictEqual(PartialJson.parse(text), { answer: [1, 2], ok: true })
    const parser = fed(text.split(""))
    assert.deepStrictEqual(parser.value, { answer: [1, 2], ok: true })
    assert.isTrue(parser.done)
    assert.deepStrictEqual(PartialJson.parse("```\n[1]\n```\n```json\n[2]\n```"), [1])
    assert.deepStrictEqual(PartialJson.parse("```json {\"a\": 1}```"), { a: 1 })
    assert.deepStrictEqual(PartialJson.parse("  [1] trailing [2]"), [1])
  })

  it("drops a leading word that only looked like a literal", () => {
    const parser = PartialJson.make()
    assert.strictEqual(parser.feed("t"), true)
    assert.deepStrictEqual(parser.feed("he answer is {\"x\": 1}"), { x: 1 })
    assert.deepStrictEqual(PartialJson.parse("nothing to see: [1]"), [1])
    assert.deepStrictEqual(PartialJson.parse("- item {\"a\": 1}"), { a: 1 })
    assert.deepStrictEqual(PartialJson.parse("1. First, {\"a\": 1}"), { a: 1 })
  })

  it("drops a bracket in prose whose first token is not JSON", () => {
    const text = "The results [see below] use {name} keys:\n```json\n{\"a\": [1]}\n```"
    assert.deepStrictEqual(PartialJson.parse(text), { a: [1] })
    const values = new Set(text.split("").map((_, i) => JSON.stringify(fed(text.slice(0, i + 1).split("")).value)))
    assert.deepStrictEqual([...values], [undefined, "[]", "{}", "{\"a\":[]}", "{\"a\":[1]}"])
    // once the document has content, a malformation stops the parser as usual
    const parser = fed(["{\"a\": x}"])
    assert.deepStrictEqual(parser.value, {})
    assert.strictEqual(parser.error?.reason, "UnexpectedCharacter")
  })

  it("reads only the JSON in strict mode unless extract is set", () => {
    assert.deepStrictEqual(strictError("Sure: {\"a\": 1}"), ["UnexpectedCharacter", 0])
    assert.deepStrictEqual(
      Either.getOrUndefined(PartialJson.parseStrict("Sure: ```json\n{\"a\": 1}\n```", { extract: true })),
      { a: 1 }
    )
    assert.deepStrictEqual(strictError("```json\n{\"a\": 1,}\n```"), ["UnexpectedCharacter", 0])
    const parser = fed(["```json\n{\"a\": 1,}\n```"], { strict: true, extract: true })
    assert.strictEqual(parser.error?.reason, "TrailingComma")
    assert.strictEqual(parser.error?.offset, 16)
  })
})

describe("PartialJson strict mode", () => {
  it("reports malformed input with its reason and offset", () => {
    const cases: ReadonlyArray<readonly [string, string, number]> = [
      ["[1,]", "TrailingComma", 3],
      ["{\"a\": 1,}", "TrailingComma", 8],
      ["[1}", "MismatchedBracket", 2],
      ["{\"a\": [}]", "MismatchedBracket", 7],
      ["01", "InvalidNumber", 1],
      ["1.2.3", "InvalidNumber", 3],
      ["+1", "InvalidNumber", 0],
      ["12abc", "InvalidNumber", 2],
      ["nul1", "InvalidLiteral", 3],
      ["\"a\\x\"", "InvalidEscape", 3],
      ["\"\\u12G4\"", "InvalidEscape", 5],
      ["\"a\nb\"", "ControlCharacter", 2],
      ["{a: 1}", "UnexpectedCharacter", 1],
      ["{\"a\" 1}", "UnexpectedCharacter", 5],
      ["[1 2]", "UnexpectedCharacter", 3],
      ["// c\n1", "UnexpectedCharacter", 0],
      ["1 2", "TrailingContent", 2],
      ["{\"a\": 1} x", "TrailingContent", 9]
    ]
    for (const [text, reason, offset] of cases) assert.deepStrictEqual(strictError(text), [reason, offset], text)
  })

  it("never rejects truncation", () => {
    const text = "{\"a\": [1, -2.5e+3, \"x\\u00e9\\n\", true, null, {\"b\": false}], \"c\": {}}"
    for (let i = 0; i <= text.length; i++) {
      assert.isTrue(Either.isRight(PartialJson.parseStrict(text.slice(0, i))), text.slice(0, i))
    }
  })

  it("counts offsets across chunks, and stops at the first error", () => {
    const parser = fed(["[1, 2", ", 3", "]]"], { strict: true })
    assert.deepStrictEqual(parser.value, [1, 2, 3])
    assert.isTrue(isPartialJsonError(parser.error))
    assert.strictEqual(parser.error?.reason, "TrailingContent")
    assert.strictEqual(parser.error?.offset, 9)
    assert.strictEqual(parser.offset, 10)
  })

  it("PartialJsonError is a typed, non-retryable error with a readable message", () => {
    const error = new PartialJsonError({ reason: "InvalidNumber", offset: 4, description: "\"x\" after \"1\"" })
    assert.strictEqual(error.message, "InvalidNumber at offset 4: \"x\" after \"1\"")
    assert.isFalse(error.isRetryable)
    assert.strictEqual(error._tag, "PartialJsonError")
    assert.isTrue(isPartialJsonError(error))
    assert.isFalse(isPartialJsonError(new Error("x")))
  })
})

describe("PartialJson.make: the incremental parser", () => {
  it("returns the live value, mutated in place", () => {
    const parser = PartialJson.make()
    assert.strictEqual(parser.feed(""), undefined)
    const first = parser.feed("{\"items\": [{\"name\": \"A")
    assert.deepStrictEqual(first, { items: [{ name: "A" }] })
    const second = parser.feed("da\"}, {\"name\": \"Bo")
    assert.strictEqual(second, first)
    assert.deepStrictEqual(first, { items: [{ name: "Ada" }, { name: "Bo" }] })
  })

  it("completes a root number only when something follows it or at end()", () => {
    const parser = PartialJson.make()
    assert.strictEqual(parser.feed("12"), 12)
    assert.isFalse(parser.done)
    assert.strictEqual(parser.feed("3"), 123)
    assert.strictEqual(parser.end(), 123)
    assert.isTrue(parser.done)
    const conservative = PartialJson.make({ partialNumbers: false })
    assert.strictEqual(conservative.feed("12"), undefined)
    assert.strictEqual(conservative.end(), 12)
    assert.isTrue(fed(["12 "]).done)
  })

  it("reports completed values, innermost first, with their paths", () => {
    const completed: Array<[PartialJson.Path, unknown]> = []
    const parser = PartialJson.make({ onComplete: (path, value) => completed.push([path, value]) })
    parser.feed("{\"items\": [{\"name\": \"a\", \"n\": 1")
    assert.deepStrictEqual(completed, [[["items", 0, "name"], "a"]])
    parser.feed("}, \"b\"], \"done\": tr")
    parser.feed("ue}")
    assert.deepStrictEqual(completed.map(([path]) => path), [
      ["items", 0, "name"],
      ["items", 0, "n"],
      ["items", 0],
      ["items", 1],
      ["items"],
      ["done"],
      []
    ])
    assert.deepStrictEqual(completed[2]![1], { name: "a", n: 1 })
    assert.isTrue(parser.done)
  })

  it("isComplete tells which values are final", () => {
    const parser = PartialJson.make()
    parser.feed("{\"a\": \"x\", \"b\": [1, {\"c\": 2")
    assert.isTrue(parser.isComplete(["a"]))
    assert.isFalse(parser.isComplete(["b"]))
    assert.isTrue(parser.isComplete(["b", 0]))
    assert.isFalse(parser.isComplete(["b", 1]))
    assert.isFalse(parser.isComplete(["b", 1, "c"]))
    assert.isFalse(parser.isComplete(["missing"]))
    assert.isFalse(parser.isComplete([]))
    parser.feed("}")
    assert.isTrue(parser.isComplete(["b", 1, "c"]))
    assert.isTrue(parser.isComplete(["b", 1]))
    assert.isFalse(parser.isComplete(["b"]))
    parser.feed("], \"d\": \"y")
    assert.isTrue(parser.isComplete(["b"]))
    assert.isFalse(parser.isComplete(["d"]))
    parser.feed("\"}")
    assert.isTrue(parser.isComplete([]))
    assert.isFalse(PartialJson.make().isComplete([]))
  })

  it("snapshot is independent of later feeds and shares completed subtrees", () => {
    const parser = PartialJson.make()
    parser.feed("{\"done\": {\"x\": 1}, \"open\": [1, {\"y\": \"a")
    const snapshot = parser.snapshot() as any
    parser.feed("bc\"}, 3], \"z\": 0}")
    assert.deepStrictEqual(snapshot, { done: { x: 1 }, open: [1, { y: "a" }] })
    const live = parser.value as any
    assert.strictEqual(snapshot.done, live.done)
    assert.notStrictEqual(snapshot.open, live.open)
    assert.strictEqual(parser.snapshot(), live)
  })

  it("version changes exactly when the visible value changes", () => {
    const parser = PartialJson.make()
    const versions: Array<number> = []
    for (const chunk of ["", "{", " ", "\"ke", "y\"", ": ", "\"", "v", "\"", ", ", "\"n\": 1", "2.", "5", "}"]) {
      parser.feed(chunk)
      versions.push(parser.version)
    }
    // changes: {} · key: "" · key: "v" · n: 1 · n: 12 · n: 12.5 (whitespace, partial keys and closings change nothing)
    assert.deepStrictEqual(versions, [0, 1, 1, 1, 1, 1, 2, 3, 3, 3, 4, 5, 6, 6])
  })

  it("gives the same values whatever the chunking", () => {
    const text = "```json\n{\"a\": [1, 2.5e3, \"x\\u00e9\\\"y\", true, null], \"b\": {\"c\": -0.5}}\n```"
    const expected = { a: [1, 2500, "xé\"y", true, null], b: { c: -0.5 } }
    for (let size = 1; size <= text.length; size++) {
      const chunks: Array<string> = []
      for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size))
      assert.deepStrictEqual(fed(chunks).value, expected, `chunks of ${size}`)
    }
  })
})

describe("PartialJson.parseStream", () => {
  it.effect("emits a snapshot after each chunk that changed the value", () =>
    Effect.gen(function*() {
      const values = yield* Stream.make("{\"a\": \"x", "y\"", ", \"b\": [1", "]}", " ").pipe(
        PartialJson.parseStream(),
        Stream.runCollect
      )
      assert.deepStrictEqual(Chunk.toReadonlyArray(values), [{ a: "x" }, { a: "xy" }, { a: "xy", b: [1] }])
    }))

  it.effect("data-first form, and end of input completes a root number", () =>
    Effect.gen(function*() {
      const values = yield* Stream.runCollect(
        PartialJson.parseStream(Stream.make("1", "2"), { partialNumbers: false })
      )
      assert.deepStrictEqual(Chunk.toReadonlyArray(values), [12])
    }))

  it.effect("fails with the PartialJsonError in strict mode", () =>
    Effect.gen(function*() {
      const exit = yield* Stream.make("[1, ", "2,]").pipe(
        PartialJson.parseStream({ strict: true }),
        Stream.runCollect,
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Stream.make("[1, ", "2,]").pipe(
        PartialJson.parseStream({ strict: true }),
        Stream.runDrain,
        Effect.flip
      )
      assert.strictEqual(error.reason, "TrailingComma")
      assert.strictEqual(error.offset, 6)
    }))

  it.effect("never fails in lenient mode and each run gets a fresh parser", () =>
    Effect.gen(function*() {
      const stream = Stream.make("[1, ", "2,]", " junk").pipe(PartialJson.parseStream())
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Stream.runCollect(stream)), [[1], [1, 2]])
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Stream.runCollect(stream)), [[1], [1, 2]])
    }))
})
