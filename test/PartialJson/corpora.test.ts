/**
 * Every row of the third-party partial-JSON corpora in test/fixtures/partial-json (see its README for sources and
 * licenses). Rows whose source documents different semantics from ours are listed in `DIVERGENCES` with the
 * reason; each file's test asserts that exactly the listed rows diverge, and that all others pass.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Either, FastCheck as fc, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as zlib from "node:zlib"
import { afterAll } from "vitest"
import * as PartialJson from "../../src/PartialJson.js"
import { same } from "./helpers.js"

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "partial-json")

type Row = Record<string, any>

const readRows = (file: string): ReadonlyArray<Row> => {
  const raw = fs.readFileSync(path.join(dir, file))
  const text = file.endsWith(".gz") ? zlib.gunzipSync(raw).toString("utf8") : raw.toString("utf8")
  return text.split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line) as Row)
}

/** Decodes the corpora's special encodings: `{"$number": "-0"}` and friends, `{"$undefined": true}`. */
const decode = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(decode)
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>
    if (typeof record.$number === "string" && Object.keys(record).length === 1) return Number(record.$number)
    if (record.$undefined === true && Object.keys(record).length === 1) return undefined
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(record)) {
      Object.defineProperty(out, key, {
        value: decode(record[key]),
        enumerable: true,
        writable: true,
        configurable: true
      })
    }
    return out
  }
  return value
}

const strictValue = (input: string, options?: Omit<PartialJson.Options, "strict">) =>
  Either.getOrUndefined(PartialJson.parseStrict(input, options))
const strictThrows = (input: string) => Either.isLeft(PartialJson.parseStrict(input))

/** Emissions of `parseStream` over the chunks (each a snapshot, emitted only when the value changed). */
const emissions = (chunks: ReadonlyArray<string>) =>
  Stream.fromIterable(chunks).pipe(PartialJson.parseStream(), Stream.runCollect, Effect.map(Chunk.toReadonlyArray))

/** Applies an RFC 6902 patch made of the `add`/`replace` operations langchainjs' diff mode emits. */
const applyPatch = (value: unknown, ops: ReadonlyArray<{ op: string; path: string; value: unknown }>): unknown => {
  let root = structuredClone(value)
  for (const op of ops) {
    if (op.op !== "add" && op.op !== "replace") throw new Error(`unsupported op ${op.op}`)
    if (op.path === "") {
      root = structuredClone(op.value)
      continue
    }
    const keys = op.path.slice(1).split("/").map((k) => k.replace(/~1/g, "/").replace(/~0/g, "~"))
    let node: any = root
    for (const key of keys.slice(0, -1)) node = node[Array.isArray(node) ? Number(key) : key]
    const last = keys[keys.length - 1]!
    if (Array.isArray(node)) {
      if (last === "-") node.push(structuredClone(op.value))
      else if (op.op === "add") node.splice(Number(last), 0, structuredClone(op.value))
      else node[Number(last)] = structuredClone(op.value)
    } else {
      node[last] = structuredClone(op.value)
    }
  }
  return root
}

const counts: Array<{ file: string; rows: number; passed: number; divergences: number }> = []

afterAll(() => {
  console.log(
    "\nPartialJson corpora (passed / expected divergences):\n" +
      counts.map((c) => `  ${c.file}: ${c.rows} rows, ${c.passed} passed, ${c.divergences} expected divergences`)
        .join("\n")
  )
})

/**
 * Runs every row of `file` through `check` (true = matches our semantics) and asserts that exactly the rows listed
 * in `divergences` (row index → reason) do not match.
 */
const corpus = (
  file: string,
  check: (row: Row, index: number) => boolean | Effect.Effect<boolean, unknown>,
  divergences: Readonly<Record<number, string>>
) =>
  it.effect(file, () =>
    Effect.gen(function*() {
      const rows = readRows(file)
      const failing: Array<number> = []
      for (let index = 0; index < rows.length; index++) {
        const result = check(rows[index]!, index)
        const ok = typeof result === "boolean" ? result : yield* result
        if (!ok) failing.push(index)
      }
      const expected = Object.keys(divergences).map(Number)
      const unexpected = failing.filter((i) => !expected.includes(i))
      const fixed = expected.filter((i) => !failing.includes(i))
      assert.deepStrictEqual(
        { unexpected: unexpected.map((i) => ({ index: i, row: rows[i] })), fixed },
        { unexpected: [], fixed: [] },
        `${file}: rows diverging without being listed, or listed but passing`
      )
      counts.push({ file, rows: rows.length, passed: rows.length - failing.length, divergences: failing.length })
    }))

describe("PartialJson corpora", () => {
  corpus("vercel-ai-fixjson.jsonl", (row) => {
    const value = PartialJson.parse(row.input)
    return row.outcome === "no-value" ? value === undefined : same(value, decode(row.expected))
  }, {
    16: "`12.e` → fixJson trims to 12; no JSON number continues `12.` with `e` (a digit must follow the dot), so it " +
      "is malformed, not truncated, and there is no value"
  })

  corpus("langchainjs-strict-partial-json.jsonl", (row) => {
    if (row.outcome === "throws") return strictThrows(row.input)
    const expected = decode(row.expected)
    // strictParsePartialJson's value rows must hold in strict mode and in lenient mode alike
    return same(strictValue(row.input), expected) && same(PartialJson.parse(row.input), expected)
  }, {
    5: "`[-` → langchainjs reads a lone `-` as -0; a lone minus is no number yet for us (vercel: no value)",
    23: "`\"15\\u` → langchainjs keeps a partial \\u escape literally without its backslash (`15u`); we drop it",
    24: "`\"15\\u00` → langchainjs keeps the partial escape as `15u00`; we drop it (vercel, jiter)",
    25: "`\"15\\u00f` → langchainjs keeps the partial escape as `15u00f`; we drop it (vercel, jiter)",
    31:
      "`\"hello\\` → langchainjs keeps a dangling backslash as a literal `\\`; we drop it (vercel, jiter, langchain py)",
    38: "`\"\\u00f8\\` → same dangling-backslash quirk as row 31",
    44: "`-` → langchainjs reads a lone minus as -0; we have no value yet (vercel: no value)",
    338: "kitchen sink `\"long\": \"very ` → langchainjs trims the whole input, which also trims the end of an " +
      "unterminated string (`very`); we keep the string as received (`very `)",
    343: "kitchen sink `\"long\": \"very long ` → same input-trimming quirk as row 338"
  })

  it("langchainjs must-throw rows: all 106 fail in strict mode with a typed error and an offset", () => {
    const rows = readRows("langchainjs-strict-partial-json.jsonl").filter((row) => row.outcome === "throws")
    assert.strictEqual(rows.length, 106)
    for (const row of rows) {
      const result = PartialJson.parseStrict(row.input)
      assert.isTrue(Either.isLeft(result), row.input)
      if (Either.isLeft(result)) {
        assert.strictEqual(result.left._tag, "PartialJsonError")
        assert.isTrue(result.left.offset >= 0 && result.left.offset <= row.input.length, row.input)
      }
    }
  })

  corpus("langchainjs-streamed-json.jsonl", (row) =>
    Effect.gen(function*() {
      const got = yield* emissions(row.chunks)
      const whole = PartialJson.parse(row.chunks.join(""))
      if (row.expected_final !== undefined) {
        return got.length > 0 && same(got[got.length - 1], row.expected_final) && same(whole, row.expected_final)
      }
      if (row.mode === "diff") {
        // langchainjs emits JSON-Patch diffs between successive values: rebuild the values they describe
        let value: unknown = undefined
        const values = (row.expected_emissions as Array<any>).map((ops) => (value = applyPatch(value, ops)))
        return same(got, values)
      }
      return same(got, row.expected_emissions) && same(whole, got[got.length - 1])
    }), {})

  corpus("langchain-py-parse-partial-json.jsonl", (row) => same(PartialJson.parse(row.input), row.expected), {})

  corpus(
    "langchain-py-streamed-json.jsonl",
    (row) => Effect.map(emissions(row.chunks), (got) => same(got, row.expected_emissions)),
    {}
  )

  corpus("promplate-partial-json.jsonl", (row) => {
    const options = { partialStrings: (row.allow_mask & 1) !== 0, partialNumbers: (row.allow_mask & 2) !== 0 }
    if (row.outcome === "throws" && row.error === "MalformedJSON") return strictThrows(row.input)
    const value = PartialJson.parse(row.input, options)
    // PartialJSON: "incomplete and partial not allowed for that type" ↔ no value yet
    return row.outcome === "throws" ? value === undefined : same(value, decode(row.expected))
  }, {
    5: "`[` with only STR allowed → PartialJSON; we have no per-type flag for partial arrays (always shown)",
    6: "`[\"` with only STR allowed: partial arrays are always shown here",
    7: "`[\"\"` with only STR allowed: partial arrays are always shown here",
    8: "`[\"\",` with only STR allowed: partial arrays are always shown here",
    11: "`{` with only STR allowed → PartialJSON; we have no per-type flag for partial objects (always shown)",
    12: "`{\"` with only STR allowed: partial objects are always shown here",
    13: "`{\"\"` with only STR allowed: partial objects are always shown here",
    14: "`{\"\":` with only STR allowed: partial objects are always shown here",
    15: "`{\"\":\"` with only STR allowed: partial objects are always shown here",
    16: "`{\"\":\"\"` with only STR allowed: partial objects are always shown here",
    18: "`n` with NULL disallowed → MalformedJSON; partial literals are always completed here",
    20: "`t` with BOOL disallowed → MalformedJSON; partial literals are always completed here",
    22: "`f` with BOOL disallowed → MalformedJSON; partial literals are always completed here",
    23: "`I` → Infinity: NaN and Infinity are not JSON (RFC 8259); we do not read them",
    25: "`-I` → -Infinity: not JSON; we do not read it",
    27: "`N` → NaN: not JSON; we do not read it"
  })

  corpus("openai-node-partial-json.jsonl", (row) => {
    // openai-node's vendored parser drops numbers that may still grow: partialNumbers: false
    const options = { partialNumbers: false }
    if (row.outcome === "property" && row.property === "complete") {
      // "for any valid JSON text, the value equals JSON.parse's"
      fc.assert(
        fc.property(fc.json(), (text) => same(PartialJson.parse(text, options), JSON.parse(text))),
        { numRuns: 200 }
      )
      return true
    }
    if (row.outcome === "property") {
      // "every prefix of any valid JSON text parses (only numbers may fail)": we never fail on a prefix at all
      fc.assert(
        fc.property(fc.json(), (text) => {
          for (let i = 0; i <= text.length; i++) {
            if (Either.isLeft(PartialJson.parseStrict(text.slice(0, i), options))) return false
          }
          return true
        }),
        { numRuns: 100 }
      )
      return true
    }
    return same(PartialJson.parse(row.input, options), decode(row.expected))
  }, {})

  corpus("best-effort-json-parser.jsonl", (row) => {
    if (typeof row.input !== "string") return false
    return same(PartialJson.parse(row.input), decode(row.expected))
  }, {
    6: "`-` → best-effort reads a lone minus as -0; we have no value yet (vercel: no value)",
    7: "`1.2.3.4` → best-effort returns the text as a string; for us it is a malformed number (no value)",
    ...Object.fromEntries(
      [45, 46, 47, 48, 54, 55, 56, 57, 64, 67, 69, 73, 74].map((i) => [
        i,
        "a partial key or a key without a value: best-effort keeps the key with the value `undefined`, we drop it"
      ])
    ),
    91: "`'str'`: single-quoted strings are not JSON; we do not read them",
    92: "`'{...}'`: single-quoted string; we skip the quote as prose and read the object inside",
    93: "`str`: a bare word is prose, not a JSON value (no value)",
    94: "`[a,b,c]`: unquoted strings are not JSON; a bracket whose first token is not JSON is prose to us (no value)",
    95: "backtick-quoted strings are not JSON; we do not read them",
    96: "backtick-quoted strings are not JSON; the bracket before the first one is prose to us (no value)",
    98: "`{ 'int' : 42 }`: single-quoted keys are not JSON; the brace is prose to us (no value)",
    99: "`{ int : 42 }`: unquoted keys are not JSON; the brace is prose to us (no value)",
    100: "empty input → best-effort returns \"\"; there is no value yet",
    101: "the input is JS `undefined`, not text: not applicable to a text parser",
    102: "the input is JS `null`, not text: not applicable to a text parser",
    120:
      "`<!-- -->` HTML comments are not JSON (we accept only // and /* */ in lenient mode); we stop with `[\"line 1\"]`"
  })

  corpus("jiter-partial.jsonl", (row) => {
    const input: string = typeof row.input === "string"
      ? row.input
      // bytes as a streaming UTF-8 decoder hands them over: a truncated sequence is held back, invalid bytes → U+FFFD
      : new TextDecoder().decode(Buffer.from(row.input_bytes_hex, "hex"), { stream: true })
    if (row.mode === "off") {
      // jiter without partial mode is plain JSON: truncated input is an error. Ours: no error, not done.
      const parser = PartialJson.make({ strict: true })
      parser.feed(input)
      parser.end()
      return row.outcome === "throws" ? parser.error === undefined && !parser.done : parser.done
    }
    const options = { partialStrings: row.mode !== "on" }
    if (row.outcome === "streaming-api") {
      // iterator API: next_str() reads "foo", then stepping the array hits EOF. Ours: ["foo"], array not complete
      const parser = PartialJson.make({ strict: true, ...options })
      return same(parser.feed(input), ["foo"]) && parser.isComplete([]) === false
    }
    if (row.outcome === "throws") return Either.isLeft(PartialJson.parseStrict(input, options))
    return same(strictValue(input, options), decode(row.expected))
  }, {
    14: "invalid UTF-8 bytes: jiter parses bytes and rejects them; we parse text, and the UTF-8 decoder in front of " +
      "us already turned the bad byte into U+FFFD (`\"abc\uFFFD`)",
    16: "invalid UTF-8 bytes in the middle of a string: same as row 14 (`\"abc\uFFFDdef`)"
  })

  corpus("jiter-partial-prefix-types.jsonl.gz", (row) => {
    const result = PartialJson.parseStrict(row.input, { partialStrings: row.mode === "trailing-strings" })
    if (Either.isLeft(result)) return false
    const value = result.right
    return row.expected_type === "array"
      ? Array.isArray(value)
      : value !== null && typeof value === "object" && !Array.isArray(value)
  }, {})
})
