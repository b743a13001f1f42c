import { LanguageModel, Tool, Toolkit } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Either, Fiber, Option, Schema, Stream, TestClock } from "effect"
import * as DryRun from "../../src/engines/DryRun.js"
import * as Llm from "../../src/Llm.js"
import * as Node from "../../src/Node.js"
import * as StructuredOutput from "../../src/StructuredOutput.js"

const Address = Schema.Struct({ city: Schema.String, zip: Schema.optional(Schema.String) })
const schemas = {
  flat: Schema.Struct({ name: Schema.String, age: Schema.Number, ok: Schema.Boolean }),
  optional: Schema.Struct({ title: Schema.String, subtitle: Schema.optional(Schema.String) }),
  arrays: Schema.Struct({ tags: Schema.Array(Schema.String), scores: Schema.Array(Schema.Number) }),
  nested: Schema.Struct({
    person: Schema.Struct({ name: Schema.String, address: Address }),
    friends: Schema.Array(Address)
  }),
  unions: Schema.Struct({
    value: Schema.Union(
      Schema.String,
      Schema.Number,
      Schema.Struct({ kind: Schema.Literal("box"), size: Schema.Number })
    )
  }),
  literals: Schema.Struct({ label: Schema.Literal("positive", "negative", "neutral"), level: Schema.Literal(1, 2, 3) }),
  refined: Schema.Struct({ id: Schema.String.pipe(Schema.minLength(3)), n: Schema.Int.pipe(Schema.between(1, 10)) }),
  records: Schema.Struct({ counts: Schema.Record({ key: Schema.String, value: Schema.Number }) }),
  tagged: Schema.Struct({
    shape: Schema.Union(
      Schema.TaggedStruct("circle", { radius: Schema.Number }),
      Schema.TaggedStruct("square", { side: Schema.Number })
    )
  })
} as const

describe("DryRun", () => {
  for (const [name, schema] of Object.entries(schemas)) {
    it.effect(`structured output decodes with its schema and is deterministic: ${name}`, () =>
      Effect.gen(function*() {
        const s = schema as unknown as Schema.Schema<Record<string, unknown>, Record<string, unknown>>
        const ask = (prompt: string, seed?: number) =>
          LanguageModel.generateObject({ prompt, schema: s }).pipe(
            Effect.map((r) => r.value),
            Effect.provide(DryRun.layer(seed === undefined ? {} : { seed }))
          )
        const a = yield* ask("describe it")
        assert.isTrue(Schema.is(s)(a))
        assert.deepStrictEqual(yield* ask("describe it"), a)
        // streamed with a format: the JSON text decodes to the same value
        const text = yield* Node.run(Llm.text({ prompt: () => "describe it" }), undefined).pipe(
          Effect.locally(StructuredOutput.currentFormat, Option.some({ objectName: "x", schema: s })),
          Effect.provide(DryRun.layer())
        )
        assert.deepStrictEqual(Schema.decodeUnknownSync(s)(JSON.parse(text)), a)
      }))
  }

  it.effect("generated values survive JSON: no NaN or Infinity for plain numbers", () =>
    Effect.sync(() => {
      // the raw arbitrary gives a non-finite number for about 1 seed in 130; 2,000 seeds catch it
      const Measures = Schema.Struct({ x: Schema.Number, ys: Schema.Array(Schema.Number) })
      for (let seed = 0; seed < 2000; seed++) {
        const value = DryRun.generate(Measures, seed)
        assert.isTrue(Number.isFinite(value.x), `seed ${seed}`)
        for (const y of value.ys) assert.isTrue(Number.isFinite(y), `seed ${seed}`)
        assert.isTrue(Schema.is(Measures)(Schema.decodeUnknownSync(Measures)(JSON.parse(JSON.stringify(value)))))
      }
    }))

  it.effect("different prompts or seeds give different values", () =>
    Effect.gen(function*() {
      const ask = (prompt: string, seed: number) =>
        LanguageModel.generateObject({ prompt, schema: schemas.nested }).pipe(
          Effect.map((r) => JSON.stringify(r.value)),
          Effect.provide(DryRun.layer({ seed }))
        )
      const values = new Set([yield* ask("a", 0), yield* ask("b", 0), yield* ask("a", 1), yield* ask("c", 2)])
      assert.isAbove(values.size, 2)
    }))

  it.effect("text is a stable function of the prompt and streams in tokens", () =>
    Effect.gen(function*() {
      const node = Llm.text({ prompt: (s: string) => `Summarise ${s}` })
      const run = (input: string) => Node.run(node, input).pipe(Effect.provide(DryRun.layer()))
      const a = yield* run("the report")
      assert.strictEqual(yield* run("the report"), a)
      assert.notStrictEqual(yield* run("another report"), a)
      assert.include(a, "Summarise the report")
      const tokens = yield* Stream.runCollect(Node.tokens(Node.stream(node, "the report"))).pipe(
        Effect.provide(DryRun.layer({ tokenSize: 5 }))
      )
      assert.isAbove(tokens.length, 5)
      assert.strictEqual(Chunk.join(tokens, ""), a)
    }))

  it.effect("latency and tokensPerSecond run on the Clock", () =>
    Effect.gen(function*() {
      const node = Llm.text({ prompt: (s: string) => s })
      const fiber = yield* Effect.fork(
        Node.run(node, "hi").pipe(Effect.provide(DryRun.layer({ latency: "2 seconds", tokensPerSecond: 10, words: 3 })))
      )
      yield* TestClock.adjust("2 seconds")
      assert.isNull(yield* Fiber.poll(fiber).pipe(Effect.map((o) => (o._tag === "Some" ? "done" : null))))
      yield* TestClock.adjust("10 seconds")
      assert.include(yield* Fiber.join(fiber), "[dry-run]")
    }))

  it.effect("failureRate fails a deterministic share of calls with a typed AiError", () =>
    Effect.gen(function*() {
      const results = yield* Effect.forEach(
        Array.from({ length: 200 }, (_, i) => i),
        (i) => Effect.either(LanguageModel.generateText({ prompt: `p${i}` }))
      ).pipe(Effect.provide(DryRun.layer({ failureRate: 0.3 })))
      const failures = results.filter(Either.isLeft)
      assert.isAbove(failures.length, 30)
      assert.isBelow(failures.length, 90)
      assert.strictEqual(failures[0]!.left._tag, "UnknownError")
      assert.include(failures[0]!.left.message, "simulated failure")
    }))

  it.effect("with tools it calls one with schema-valid parameters, then answers in text", () =>
    Effect.gen(function*() {
      const GetWeather = Tool.make("GetWeather", {
        parameters: { city: Schema.String, days: Schema.Int.pipe(Schema.between(1, 7)) },
        success: Schema.Struct({ tempC: Schema.Number })
      })
      const tools = Toolkit.make(GetWeather)
      const first = yield* LanguageModel.generateText({ prompt: "Weather?", toolkit: tools }).pipe(
        Effect.provide(tools.toLayer({ GetWeather: ({ days }) => Effect.succeed({ tempC: days }) })),
        Effect.provide(DryRun.layer())
      )
      assert.strictEqual(first.toolCalls.length, 1)
      assert.strictEqual(first.toolCalls[0]!.name, "GetWeather")
      assert.strictEqual(first.toolResults.length, 1)
      assert.strictEqual(first.finishReason, "tool-calls")
    }))
})
