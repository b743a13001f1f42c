import { assert, describe, it } from "@effect/vitest"
import Ajv from "ajv"
import { Effect, Schema } from "effect"
import { Category, Flag } from "../../bench/chain.child.js"
import { Headline as QuickHeadline } from "../../examples/chains/products.js"
import { Attr, RawDesc } from "../../examples/chains/products.js"
import * as DryRun from "../../src/engines/DryRun.js"

class Person extends Schema.Class<Person>("Person")({
  name: Schema.String,
  email: Schema.String.pipe(Schema.pattern(/^[^@\s]+@[^@\s]+\.[a-z]+$/)),
  age: Schema.Int.pipe(Schema.between(0, 120))
}) {}

interface Tree {
  readonly value: number
  readonly children: ReadonlyArray<Tree>
}
const Tree: Schema.Schema<Tree> = Schema.Struct({
  value: Schema.Number,
  children: Schema.Array(Schema.suspend((): Schema.Schema<Tree> => Tree))
})

type Expr = { readonly op: "num"; readonly n: number } | { readonly op: "add"; readonly l: Expr; readonly r: Expr }
const Expr: Schema.Schema<Expr> = Schema.Union(
  Schema.Struct({ op: Schema.Literal("num"), n: Schema.Int }),
  Schema.Struct({
    op: Schema.Literal("add"),
    l: Schema.suspend((): Schema.Schema<Expr> => Expr),
    r: Schema.suspend((): Schema.Schema<Expr> => Expr)
  })
)

enum Color {
  Red = "red",
  Green = "green"
}

const schemas: Record<string, Schema.Schema<any, any>> = {
  attr: Attr,
  rawDesc: RawDesc,
  headline: QuickHeadline,
  category: Category,
  flag: Flag,
  answer: Schema.Struct({ answer: Schema.String, confidence: Schema.Number.pipe(Schema.between(0, 1)) }),
  bounds: Schema.Struct({
    positive: Schema.Number.pipe(Schema.positive()),
    negative: Schema.Number.pipe(Schema.negative()),
    open: Schema.Number.pipe(Schema.greaterThan(0.5), Schema.lessThan(0.51)),
    far: Schema.Number.pipe(Schema.greaterThanOrEqualTo(1e6)),
    int: Schema.Int.pipe(Schema.between(-3, 3)),
    multiple: Schema.Number.pipe(Schema.multipleOf(0.25), Schema.between(1, 2)),
    price_eur: Schema.Number.pipe(Schema.lessThan(3)),
    count: Schema.NonNegativeInt,
    score: Schema.Number.pipe(Schema.between(0, 10))
  }),
  strings: Schema.Struct({
    id: Schema.UUID,
    ulid: Schema.ULID,
    short: Schema.String.pipe(Schema.maxLength(3)),
    long: Schema.String.pipe(Schema.minLength(60)),
    exact: Schema.String.pipe(Schema.length(8)),
    nonEmpty: Schema.NonEmptyTrimmedString,
    lower: Schema.Lowercased,
    upper: Schema.Uppercased,
    code: Schema.String.pipe(Schema.pattern(/^[A-Z]{3}-\d{4}(-[a-z]+)?$/)),
    starts: Schema.String.pipe(Schema.startsWith("sku_")),
    ends: Schema.String.pipe(Schema.endsWith(".pdf")),
    includes: Schema.String.pipe(Schema.includes("@"))
  }),
  transforms: Schema.Struct({
    n: Schema.NumberFromString,
    created_at: Schema.Date,
    trimmed: Schema.Trim,
    maybe: Schema.optional(Schema.Option(Schema.String)),
    big: Schema.BigInt,
    person: Person,
    renamed: Schema.optionalWith(Schema.String, { default: () => "x" }).pipe(Schema.fromKey("renamed_key"))
  }),
  literals: Schema.Struct({
    label: Schema.Literal("positive", "negative", "neutral"),
    level: Schema.Literal(1, 2, 3),
    color: Schema.Enums(Color),
    nothing: Schema.Null,
    maybe: Schema.NullOr(Schema.String),
    tagged: Schema.Union(
      Schema.TaggedStruct("circle", { radius: Schema.Number.pipe(Schema.positive()) }),
      Schema.TaggedStruct("square", { side: Schema.Number })
    )
  }),
  collections: Schema.Struct({
    tags: Schema.Array(Schema.String).pipe(Schema.minItems(2), Schema.maxItems(4)),
    pair: Schema.Tuple(Schema.String, Schema.Number),
    nonEmpty: Schema.NonEmptyArray(Schema.Int),
    counts: Schema.Record({ key: Schema.String, value: Schema.Int }),
    rest: Schema.Tuple([Schema.String], Schema.Boolean, Schema.Number)
  }),
  recursive: Schema.Struct({ tree: Tree, expr: Expr }),
  filtered: Schema.Struct({ a: Schema.Number, b: Schema.Number }).pipe(Schema.filter((s) => s.a <= s.b)),
  oddFilter: Schema.String.pipe(Schema.filter((s) => s.length % 7 === 3)),
  template: Schema.TemplateLiteral("id-", Schema.Number),
  unknown: Schema.Struct({ data: Schema.Unknown, any: Schema.Any, object: Schema.Object }),
  annotated: Schema.Struct({
    city: Schema.String.annotations({ examples: ["Paris", "Rome"] }),
    mode: Schema.String.annotations({ default: "fast" }),
    bad: Schema.Number.pipe(Schema.positive()).annotations({ examples: [-1] }),
    x: Schema.String.annotations({ description: "the customer's email address" })
  })
}

const roundTrip = (schema: Schema.Schema<any, any>, value: unknown) => {
  const json = JSON.stringify(Schema.encodeSync(schema)(value))
  return Schema.decodeUnknownEither(schema)(JSON.parse(json))
}

describe("DryRun.generate", () => {
  for (const [name, schema] of Object.entries(schemas)) {
    it.effect(`values are valid and survive JSON, deterministically: ${name}`, () =>
      Effect.sync(() => {
        for (let seed = 0; seed < 300; seed++) {
          const value = DryRun.generate(schema, seed * 7919)
          const decoded = roundTrip(schema, value)
          assert.isTrue(decoded._tag === "Right", `seed ${seed}: ${JSON.stringify(Schema.encodeSync(schema)(value))}`)
          assert.deepStrictEqual(DryRun.generate(schema, seed * 7919), value)
        }
      }))
  }

  it.effect("values look like data: names, prices, scores and sentences", () =>
    Effect.sync(() => {
      const Listing = Schema.Struct({
        brand: Schema.String,
        model: Schema.String,
        price_eur: Schema.Number,
        quantity: Schema.Int,
        confidence: Schema.Number,
        email: Schema.String,
        website: Schema.String,
        summary: Schema.String,
        city: Schema.String,
        created_at: Schema.String
      })
      const brands = new Set<string>()
      for (let seed = 0; seed < 200; seed++) {
        const v = DryRun.generate(Listing, seed)
        brands.add(v.brand)
        assert.match(v.brand, /^[A-Z][a-z]+$/)
        assert.match(v.model, /^[A-Z][a-z]+ \d+$/)
        assert.isAbove(v.price_eur, 0)
        assert.strictEqual(Math.round(v.price_eur * 100) / 100, v.price_eur)
        assert.isTrue(Number.isInteger(v.quantity) && v.quantity >= 0 && v.quantity <= 100)
        assert.isTrue(v.confidence >= 0 && v.confidence <= 1)
        assert.match(v.email, /^[a-z]+\.[a-z]+@example\.com$/)
        assert.match(v.website, /^https:\/\//)
        assert.match(v.summary, /^[A-Z][a-z ]+\.$/)
        assert.match(v.city, /^[A-Z][a-z]+$/)
        assert.match(v.created_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/)
      }
      assert.isAbove(brands.size, 8)
    }))

  it.effect("annotations: examples and defaults are used, invalid examples ignored, descriptions hint", () =>
    Effect.sync(() => {
      const cities = new Set<string>()
      for (let seed = 0; seed < 50; seed++) {
        const v = DryRun.generate(schemas.annotated!, seed) as { city: string; mode: string; bad: number; x: string }
        cities.add(v.city)
        assert.strictEqual(v.mode, "fast")
        assert.isAbove(v.bad, 0)
        assert.match(v.x, /@example\.com$/)
      }
      assert.deepStrictEqual([...cities].sort(), ["Paris", "Rome"])
    }))

  it.effect("a Schema.Unknown annotated with a JSON Schema gets a value of that JSON Schema", () =>
    Effect.sync(() => {
      const jsonSchema = {
        type: "object",
        properties: {
          title: { type: "string", maxLength: 20 },
          price: { type: "number", exclusiveMinimum: 0 },
          rating: { type: "integer", minimum: 1, maximum: 5 },
          tags: { type: "array", items: { type: "string" }, minItems: 1, maxItems: 3 },
          status: { enum: ["open", "closed"] },
          contact: { $ref: "#/$defs/Contact" },
          note: { anyOf: [{ type: "string", format: "date" }, { type: "null" }] }
        },
        required: ["title", "price", "rating", "tags", "status", "contact", "note"],
        additionalProperties: false,
        $defs: {
          Contact: {
            type: "object",
            properties: { email: { type: "string", format: "email" }, site: { type: "string", format: "uri" } },
            required: ["email", "site"]
          }
        }
      }
      const validate = new Ajv.default({ strict: false, validateFormats: false }).compile(jsonSchema)
      const schema = Schema.Unknown.annotations({ jsonSchema })
      for (let seed = 0; seed < 200; seed++) {
        const value = DryRun.generate(schema, seed)
        assert.isTrue(validate(value), `seed ${seed}: ${JSON.stringify(value)} ${JSON.stringify(validate.errors)}`)
        const v = value as { contact: { email: string }; note: string | null }
        assert.match(v.contact.email, /@example\.com$/)
        if (v.note !== null) assert.match(v.note, /^\d{4}-\d{2}-\d{2}$/)
      }
    }))
})
