/**
 * StructuredOutput: golden JSON Schemas (plain and OpenAI-strict) checked against sample values with Ajv, the
 * strict-to-schema mapping, the confirmation of a requested format, and the incremental decoder (raw and validated
 * partials, typed errors).
 */
import { LanguageModel } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import { Ajv } from "ajv"
import { Effect, Either, FastCheck as fc, Option, Schema, Stream } from "effect"
import * as StructuredOutput from "../src/StructuredOutput.js"
import { StructuredOutputError } from "../src/StructuredOutputError.js"
import * as ScriptedEngine from "../src/testing/ScriptedEngine.js"

// =============================================================================
// schemas under test
// =============================================================================

const Address = Schema.Struct({ city: Schema.String, zip: Schema.optional(Schema.String) }).annotations({
  identifier: "Address"
})

const Person = Schema.Struct({
  name: Schema.String,
  age: Schema.optional(Schema.Number),
  nickname: Schema.optional(Schema.NullOr(Schema.String)),
  address: Schema.suspend(() => Address)
})

interface Category {
  readonly name: string
  readonly children: ReadonlyArray<Category>
}
const Category: Schema.Schema<Category> = Schema.Struct({
  name: Schema.String,
  children: Schema.Array(Schema.suspend(() => Category))
}).annotations({ identifier: "Category" })

const Shape = Schema.Union(
  Schema.TaggedStruct("circle", { radius: Schema.Number }),
  Schema.TaggedStruct("square", { side: Schema.Number, label: Schema.optional(Schema.String) })
)

const Mixed = Schema.Struct({
  priority: Schema.Literal("low", "high"),
  answer: Schema.Literal(42),
  scores: Schema.Record({ key: Schema.String, value: Schema.Number }),
  pair: Schema.Tuple(Schema.String, Schema.Boolean),
  id: Schema.Union(Schema.String, Schema.Number),
  count: Schema.Number.pipe(Schema.int(), Schema.between(1, 5))
})

const golden: ReadonlyArray<{
  readonly name: string
  readonly schema: Schema.Schema.Any
  readonly plain: unknown
  readonly strict: unknown
  readonly valid: ReadonlyArray<unknown>
  readonly invalid: ReadonlyArray<unknown>
}> = [
  {
    name: "optional fields and a non-recursive identified schema (inlined)",
    schema: Person,
    plain: {
      type: "object",
      required: ["name", "address"],
      properties: {
        name: { type: "string" },
        age: { type: "number" },
        nickname: { anyOf: [{ type: "string" }, { type: "null" }] },
        address: {
          type: "object",
          required: ["city"],
          properties: { city: { type: "string" }, zip: { type: "string" } },
          additionalProperties: false
        }
      },
      additionalProperties: false
    },
    strict: {
      type: "object",
      required: ["name", "age", "nickname", "address"],
      properties: {
        name: { type: "string" },
        age: { anyOf: [{ type: "number" }, { type: "null" }] },
        nickname: { anyOf: [{ type: "string" }, { type: "null" }] },
        address: {
          type: "object",
          required: ["city", "zip"],
          properties: { city: { type: "string" }, zip: { anyOf: [{ type: "string" }, { type: "null" }] } },
          additionalProperties: false
        }
      },
      additionalProperties: false
    },
    // an optional field that accepts null stays as it is in strict mode: its null comes back as null, not absent
    valid: [
      { name: "Ada", nickname: null, address: { city: "London" } },
      { name: "Ada", age: 36, nickname: "A", address: { city: "L", zip: "N1" } }
    ],
    invalid: [{ name: "Ada" }, { name: 1, address: { city: "L" } }, { name: "Ada", age: "36", address: { city: "L" } }]
  },
  {
    name: "a recursive schema keeps its $defs",
    schema: Schema.Struct({ root: Category }),
    plain: {
      type: "object",
      required: ["root"],
      properties: {
        root: {
          type: "object",
          required: ["name", "children"],
          properties: { name: { type: "string" }, children: { type: "array", items: { $ref: "#/$defs/Category" } } },
          additionalProperties: false
        }
      },
      additionalProperties: false,
      $defs: {
        Category: {
          type: "object",
          required: ["name", "children"],
          properties: { name: { type: "string" }, children: { type: "array", items: { $ref: "#/$defs/Category" } } },
          additionalProperties: false
        }
      }
    },
    strict: "same",
    valid: [{ root: { name: "a", children: [{ name: "b", children: [] }] } }],
    invalid: [{ root: { name: "a", children: [{ name: "b" }] } }]
  },
  {
    name: "a tagged union",
    schema: Shape,
    plain: {
      anyOf: [
        {
          type: "object",
          required: ["_tag", "radius"],
          properties: { _tag: { type: "string", enum: ["circle"] }, radius: { type: "number" } },
          additionalProperties: false
        },
        {
          type: "object",
          required: ["_tag", "side"],
          properties: {
            _tag: { type: "string", enum: ["square"] },
            side: { type: "number" },
            label: { type: "string" }
          },
          additionalProperties: false
        }
      ]
    },
    strict: {
      anyOf: [
        {
          type: "object",
          required: ["_tag", "radius"],
          properties: { _tag: { type: "string", enum: ["circle"] }, radius: { type: "number" } },
          additionalProperties: false
        },
        {
          type: "object",
          required: ["_tag", "side", "label"],
          properties: {
            _tag: { type: "string", enum: ["square"] },
            side: { type: "number" },
            label: { anyOf: [{ type: "string" }, { type: "null" }] }
          },
          additionalProperties: false
        }
      ]
    },
    valid: [{ _tag: "circle", radius: 1 }, { _tag: "square", side: 2 }],
    invalid: [{ _tag: "circle", side: 1 }, { _tag: "triangle" }]
  },
  {
    name: "literals, a record, a tuple, a union of primitives, a refined integer",
    schema: Mixed,
    plain: {
      type: "object",
      required: ["priority", "answer", "scores", "pair", "id", "count"],
      properties: {
        priority: { type: "string", enum: ["low", "high"] },
        answer: { type: "number", enum: [42] },
        scores: { type: "object", required: [], properties: {}, additionalProperties: { type: "number" } },
        pair: { type: "array", minItems: 2, items: [{ type: "string" }, { type: "boolean" }], additionalItems: false },
        id: { anyOf: [{ type: "string" }, { type: "number" }] },
        count: {
          type: "integer",
          description: "a number between 1 and 5",
          title: "between(1, 5)",
          minimum: 1,
          maximum: 5
        }
      },
      additionalProperties: false
    },
    strict: "same",
    valid: [{ priority: "low", answer: 42, scores: { a: 1 }, pair: ["x", true], id: 3, count: 2 }],
    invalid: [
      { priority: "mid", answer: 42, scores: {}, pair: ["x", true], id: 3, count: 2 },
      { priority: "low", answer: 42, scores: { a: "1" }, pair: ["x", true], id: 3, count: 2 },
      { priority: "low", answer: 42, scores: {}, pair: ["x", true], id: 3, count: 2.5 }
    ]
  },
  {
    name: "unknown values drop Effect's internal markers",
    schema: Schema.Struct({ data: Schema.Unknown, kind: Schema.Enums({ A: "a", B: "b" }) }),
    plain: {
      type: "object",
      required: ["data", "kind"],
      properties: {
        data: { title: "unknown" },
        kind: { anyOf: [{ type: "string", title: "A", enum: ["a"] }, { type: "string", title: "B", enum: ["b"] }] }
      },
      additionalProperties: false
    },
    strict: "same",
    valid: [{ data: [1, { x: null }], kind: "b" }],
    invalid: [{ data: 1, kind: "c" }]
  }
]

/** Replaces every `null` of an optional field by absence, as a strict-mode model would write it. */
const toStrictValue = (schema: Schema.Schema.Any, value: unknown): unknown => {
  const json = StructuredOutput.jsonSchema(schema, { strict: true }) as any
  const fill = (node: any, v: any): any => {
    if (node?.$ref) return v
    if (node?.anyOf) {
      for (const member of node.anyOf) {
        if (member.type === "object" && v !== null && typeof v === "object" && !Array.isArray(v)) {
          const tag = member.properties?._tag?.enum?.[0]
          if (tag === undefined || tag === v._tag) return fill(member, v)
        }
      }
      return v
    }
    if (node?.type === "object" && node.properties && v !== null && typeof v === "object") {
      const out: any = { ...v }
      for (const key of Object.keys(node.properties)) {
        out[key] = key in v ? fill(node.properties[key], v[key]) : null
      }
      return out
    }
    if (node?.type === "array" && Array.isArray(v) && node.items && !Array.isArray(node.items)) {
      return v.map((item) => fill(node.items, item))
    }
    return v
  }
  return fill(json, value)
}

describe("StructuredOutput.jsonSchema", () => {
  for (const { invalid, name, plain, schema, strict, valid } of golden) {
    it.effect(`golden: ${name}`, () =>
      Effect.sync(() => {
        const json = StructuredOutput.jsonSchema(schema)
        const strictJson = StructuredOutput.jsonSchema(schema, { strict: true })
        assert.deepStrictEqual(json, plain as any)
        assert.deepStrictEqual(strictJson, (strict === "same" ? plain : strict) as any)
        const ajv = new Ajv({ strict: false })
        const check = ajv.compile(json)
        const checkStrict = ajv.compile(strictJson)
        const is = Schema.is(schema as Schema.Schema<unknown, unknown>)
        const decode = Schema.decodeUnknownEither(schema as Schema.Schema<unknown, unknown>)
        for (const value of valid) {
          assert.isTrue(check(value), `${JSON.stringify(value)} should match: ${ajv.errorsText(check.errors)}`)
          const strictValue = toStrictValue(schema, value)
          assert.isTrue(checkStrict(strictValue), `strict ${JSON.stringify(strictValue)}: ${ajv.errorsText()}`)
          const back = StructuredOutput.fromStrict(schema, strictValue)
          assert.isTrue(Either.isRight(decode(back)), `fromStrict(${JSON.stringify(strictValue)})`)
          assert.deepStrictEqual(back, value)
        }
        for (const value of invalid) {
          assert.isFalse(check(value), `${JSON.stringify(value)} should not match the JSON Schema`)
          assert.isFalse(is(value), `${JSON.stringify(value)} should not match the Schema`)
        }
      }))
  }

  it.effect("a schema whose only recursion goes through a suspended identified schema inlines it", () =>
    Effect.sync(() => {
      const Leaf = Schema.Struct({ x: Schema.Number }).annotations({ identifier: "Leaf" })
      const json = StructuredOutput.jsonSchema(Schema.Struct({ a: Schema.suspend(() => Leaf), b: Leaf }))
      assert.notProperty(json, "$defs")
      assert.notInclude(JSON.stringify(json), "$ref")
    }))
})

describe("StructuredOutput.fromStrict", () => {
  it.effect("drops the nulls of optional fields that do not accept null, keeps the others, copies only on change", () =>
    Effect.sync(() => {
      const value = { name: "Ada", age: null, nickname: null, address: { city: "L", zip: null } }
      assert.deepStrictEqual(StructuredOutput.fromStrict(Person, value), {
        name: "Ada",
        nickname: null,
        address: { city: "L" }
      })
      const untouched = { name: "Ada", address: { city: "L" } }
      assert.strictEqual(StructuredOutput.fromStrict(Person, untouched), untouched)
      const list = [{ _tag: "square", side: 1, label: null }, { _tag: "circle", radius: 2 }]
      assert.deepStrictEqual(StructuredOutput.fromStrict(Schema.Array(Shape), list), [
        { _tag: "square", side: 1 },
        { _tag: "circle", radius: 2 }
      ])
    }))
})

describe("StructuredOutput channel", () => {
  it.effect("withFormat sets the format for the call, and an engine reading it with requested confirms it", () =>
    Effect.gen(function*() {
      const format = { objectName: "person", schema: Person }
      assert.isFalse(StructuredOutput.isConfirmed(format))
      yield* LanguageModel.streamText({ prompt: "Who?" }).pipe(StructuredOutput.withFormat(format), Stream.runDrain)
      const [request] = yield* ScriptedEngine.requests
      assert.strictEqual(Option.getOrThrow(request!.format), format)
      assert.isTrue(StructuredOutput.isConfirmed(format))
    }).pipe(Effect.provide(ScriptedEngine.layer({ replies: [{ object: { name: "Ada", address: { city: "L" } } }] }))))
})

// =============================================================================
// the decoder
// =============================================================================

const Item = Schema.Struct({ name: Schema.String.pipe(Schema.minLength(2)), price: Schema.Number })
const Order = Schema.Struct({
  id: Schema.String,
  items: Schema.Array(Item),
  meta: Schema.optional(Schema.Struct({ note: Schema.String })),
  total: Schema.Number
})

const feedAll = <A>(decoder: StructuredOutput.Decoder<A>, chunks: ReadonlyArray<string>) => {
  const partials: Array<StructuredOutput.Partial> = []
  for (const chunk of chunks) if (decoder.feed(chunk)) partials.push(decoder.partial())
  return partials
}

const getPath = (value: unknown, path: string): unknown =>
  path === "" ? value : path.split(".").reduce<any>((node, key) => node?.[key], value)

/** A document and cut points splitting it into chunks. */
const chunkings = (text: string) =>
  fc.uniqueArray(fc.integer({ min: 1, max: text.length - 1 }), { maxLength: 40 }).map((cuts) => {
    const points = [0, ...cuts.sort((a, b) => a - b), text.length]
    return points.slice(1).map((end, i) => text.slice(points[i], end))
  })

describe("StructuredOutput.makeDecoder", () => {
  it.effect("validated partials show only complete, valid values, and a value shown never changes", () =>
    Effect.sync(() => {
      const document = JSON.stringify(
        {
          id: "o-\u00e9\"1",
          items: [{ name: "ab", price: 12.5 }, { name: "x", price: 1 }, { name: "cd", price: -3e2 }],
          meta: { note: "tab\there" },
          total: 1e1
        },
        null,
        1
      )
      fc.assert(
        fc.property(chunkings(document), (chunks) => {
          const decoder = StructuredOutput.makeDecoder(Order, { partial: "validated" })
          const partials = feedAll(decoder, chunks)
          const seen = new Map<string, string>()
          for (const { complete, value } of partials) {
            for (const path of complete) {
              const now = JSON.stringify(getPath(value, path))
              const before = seen.get(path)
              if (before !== undefined && before !== now) return false
              seen.set(path, now)
            }
            for (const [path, json] of seen) {
              if (JSON.stringify(getPath(value, path)) !== json) return false
            }
            const name1 = getPath(value, "items.1.name")
            if (name1 !== undefined) return false
          }
          const result = decoder.finish({ attempt: 1 })
          return Either.isLeft(result) && result.left.reason === "SchemaMismatch"
        }),
        { numRuns: 200 }
      )
    }))

  it.effect("arrays of objects report each element as it completes", () =>
    Effect.sync(() => {
      const text =
        "{\"id\": \"o1\", \"items\": [{\"name\": \"ab\", \"price\": 1}, {\"name\": \"cd\", \"price\": 2}], \"total\": 3}"
      const decoder = StructuredOutput.makeDecoder(Order, { partial: "validated" })
      const partials = feedAll(decoder, text.split(/(?<=[,}\]])/))
      assert.deepStrictEqual(partials.map((p) => p.complete), [
        ["id"],
        ["id", "items.0.name"],
        ["id", "items.0"],
        ["id", "items.0", "items.1.name"],
        ["id", "items.0", "items.1"],
        ["id", "items"],
        [""]
      ])
      assert.deepStrictEqual(partials[2]!.value, { id: "o1", items: [{ name: "ab", price: 1 }] })
      assert.deepStrictEqual(
        decoder.finish({ attempt: 1 }),
        Either.right({ id: "o1", items: [{ name: "ab", price: 1 }, { name: "cd", price: 2 }], total: 3 })
      )
    }))

  it.effect("validated mode hides extra keys, strict nulls and invalid values; raw mode shows them as parsed", () =>
    Effect.sync(() => {
      const text = "{\"id\": 7, \"extra\": true, \"meta\": null, \"items\": [], \"total\": 1}"
      const validated = StructuredOutput.makeDecoder(Order, { partial: "validated" })
      validated.feed(text)
      assert.deepStrictEqual(validated.partial(), { value: { items: [], total: 1 }, complete: ["items", "total"] })
      const raw = StructuredOutput.makeDecoder(Order)
      raw.feed(text.slice(0, -1))
      assert.deepStrictEqual(raw.partial(), {
        value: { id: 7, extra: true, meta: null, items: [], total: 1 },
        complete: ["id", "extra", "meta", "items"]
      })
      const result = validated.finish({ attempt: 2 })
      assert.isTrue(Either.isLeft(result))
      const error = Either.getLeft(result).pipe(Option.getOrThrow)
      assert.strictEqual(error.reason, "SchemaMismatch")
      assert.strictEqual(error.attempt, 2)
      assert.deepStrictEqual(error.issues, [{ path: ["id"], message: "Expected string, actual 7" }])
      assert.strictEqual(error.text, text)
    }))

  it.effect("a duplicated key does not change a value already shown (the final decode takes the last, as JSON does)", () =>
    Effect.sync(() => {
      const decoder = StructuredOutput.makeDecoder(Schema.Struct({ a: Schema.Number }), { partial: "validated" })
      assert.isTrue(decoder.feed("{\"a\": 1,"))
      assert.isFalse(decoder.feed(" \"a\": 2,"))
      assert.deepStrictEqual(decoder.partial(), { value: { a: 1 }, complete: ["a"] })
      decoder.feed("}")
      assert.deepStrictEqual(decoder.finish({ attempt: 1 }), Either.right({ a: 2 }))
    }))

  it.effect("a root number completes only at the end, and then the decoder says it changed", () =>
    Effect.sync(() => {
      const decoder = StructuredOutput.makeDecoder(Schema.Number, { partial: "validated" })
      assert.isFalse(decoder.feed("12"))
      assert.deepStrictEqual(decoder.finish({ attempt: 1 }), Either.right(12))
      assert.isTrue(decoder.changed)
      assert.deepStrictEqual(decoder.partial(), { value: 12, complete: [""] })
    }))

  it.effect("fails with InvalidJson for prose, malformed JSON and a truncated reply", () =>
    Effect.gen(function*() {
      const prose = yield* Effect.flip(StructuredOutput.decode(Order, "I cannot help with that."))
      assert.strictEqual(prose.reason, "InvalidJson")
      assert.deepStrictEqual(prose.issues, [{ path: [], message: "the reply holds no JSON value" }])
      const malformed = yield* Effect.flip(StructuredOutput.decode(Order, "{\"id\": \"a\" \"total\": 1}"))
      assert.strictEqual(malformed.reason, "InvalidJson")
      assert.include(malformed.issues[0]!.message, "malformed JSON: UnexpectedCharacter at offset 11")
      const decoder = StructuredOutput.makeDecoder(Order, { objectName: "order" })
      decoder.feed("{\"id\": \"a\", \"items\": [")
      const truncated = Either.getLeft(decoder.finish({ attempt: 3, finishReason: "length" })).pipe(Option.getOrThrow)
      assert.instanceOf(truncated, StructuredOutputError)
      assert.strictEqual(truncated.finishReason, "length")
      assert.strictEqual(
        truncated.message,
        "order: InvalidJson (attempt 3) - the JSON value is cut short at offset 22 (the model hit its token limit)"
      )
      assert.isFalse(truncated.isRetryable)
    }))

  it.effect("decode reads a fenced reply and maps a strict reply back before decoding", () =>
    Effect.gen(function*() {
      const value = yield* StructuredOutput.decode(
        Person,
        "Here you go:\n```json\n{\"name\": \"Ada\", \"age\": null, \"nickname\": null, \"address\": {\"city\": \"L\", \"zip\": null}}\n```"
      )
      assert.deepStrictEqual(value, { name: "Ada", nickname: null, address: { city: "L" } })
    }))

  it.effect("walks unions, records, tuples, transformations and recursive schemas for validated partials", () =>
    Effect.sync(() => {
      const Doc = Schema.Struct({
        shape: Shape,
        scores: Schema.Record({ key: Schema.String, value: Schema.Number }),
        pair: Schema.Tuple(Schema.String, Schema.NumberFromString),
        tree: Category,
        when: Schema.optionalWith(Schema.String, { default: () => "now" })
      })
      const text = JSON.stringify({
        shape: { _tag: "square", side: 2 },
        scores: { a: 1, b: "no" },
        pair: ["p", "12"],
        tree: { name: "r", children: [{ name: "c", children: [] }] }
      })
      const decoder = StructuredOutput.makeDecoder(Doc, { partial: "validated" })
      const partials = feedAll(decoder, text.split(""))
      const last = partials.at(-1)!
      assert.deepStrictEqual(last.value, {
        shape: { _tag: "square", side: 2 },
        scores: { a: 1 },
        pair: ["p", "12"],
        tree: { name: "r", children: [{ name: "c", children: [] }] }
      })
      assert.deepStrictEqual(last.complete, ["shape", "scores.a", "pair", "tree"])
      const error = Either.getLeft(decoder.finish({ attempt: 1 })).pipe(Option.getOrThrow)
      assert.deepStrictEqual(error.issues.map((issue) => issue.path), [["scores", "b"]])
    }))
})
